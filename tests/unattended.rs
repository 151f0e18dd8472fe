//! Scheduled, unattended audits (issue 5): history and trends across runs, the exceptions
//! register, the configuration file, retention and the per-tenant lock. Every test runs the
//! real binary in a temporary `--out`, with the clock fixed by `ENTRA_DRIFT_NOW`, and reads the
//! reports back with `csv` and `calamine`.
//!
//! Expectations come from `tests/expected/trend-*.csv` (see `trend-notes.md`) and from the
//! contoso notes, never from the code under test.

mod common;
#[path = "support/fake_graph.rs"]
mod support;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use calamine::{Data, Reader};
use common::*;

const CONTOSO_ID: &str = "a27b43c7-0a4f-4c67-a4d9-b08c482f4357";
/// The three weekly runs of `fixtures/trend` (trend-notes.md).
const WEEKS: [&str; 3] = [
    "2026-11-01T06:00:00Z",
    "2026-11-08T06:00:00Z",
    "2026-11-15T06:00:00Z",
];
const HISTORY_COLUMNS: [&str; 10] = [
    "category",
    "assignment_id",
    "access_package_id",
    "user_id",
    "resource_type",
    "resource_id",
    "role",
    "first_seen",
    "days_open",
    "status",
];

/// `entra-drift ARGS` with the clock fixed at `now` and no configuration from the environment.
fn entra_drift_at(now: &str) -> assert_cmd::Command {
    let mut command = entra_drift();
    command
        .env("ENTRA_DRIFT_NOW", now)
        .env_remove("ENTRA_DRIFT_CONFIG");
    command
}

fn run(command: &mut assert_cmd::Command) -> Output {
    let output = command.output().expect("running entra-drift");
    Output {
        code: output.status.code(),
        stdout: String::from_utf8(output.stdout).expect("stdout is UTF-8"),
        stderr: String::from_utf8(output.stderr).expect("stderr is UTF-8"),
    }
}

/// `audit --tenant-dir TENANT --out OUT EXTRA...` at `now`; returns the output.
fn audit_at(tenant: &Path, out: &Path, now: &str, extra: &[&str]) -> Output {
    run(entra_drift_at(now)
        .arg("audit")
        .arg("--tenant-dir")
        .arg(tenant)
        .arg("--out")
        .arg(out)
        .args(extra))
}

/// Like [`audit_at`] but requires success and returns the run folder.
fn audit_ok(tenant: &Path, out: &Path, now: &str, extra: &[&str]) -> PathBuf {
    run_dir_of(&audit_at(tenant, out, now, extra), out)
}

fn tenant_folder(out: &Path) -> PathBuf {
    out.join(CONTOSO_ID)
}

/// The three trend runs into `out`; returns their run folders.
fn trend_runs(out: &Path, extra: &[&str]) -> Vec<PathBuf> {
    (0..3)
        .map(|i| {
            audit_ok(
                &fixture(&format!("trend/run{}", i + 1)),
                out,
                WEEKS[i],
                extra,
            )
        })
        .collect()
}

fn name_of(dir: &Path) -> String {
    dir.file_name().unwrap().to_string_lossy().into_owned()
}

/// A Summary-sheet fact (label in column A, value in column B).
fn fact(grid: &[Vec<Data>], label: &str) -> String {
    grid.iter()
        .map(|row| row_texts(row))
        .find(|row| row.first().map(String::as_str) == Some(label))
        .and_then(|row| row.get(1).cloned())
        .unwrap_or_else(|| panic!("Summary has no `{label}` fact"))
}

// ---------------------------------------------------------------------------------------------
// History and trends
// ---------------------------------------------------------------------------------------------

#[test]
fn trend_across_three_runs_gives_first_seen_status_and_resolved_in_csv() {
    let out = tempfile::tempdir().unwrap();
    let runs = trend_runs(out.path(), &[]);
    for (index, run) in runs.iter().enumerate() {
        let name = format!("trend-run{}.csv", index + 1);
        let expected = read_csv(&expected_file(&name));
        let actual = read_csv(&run.join("findings.csv"));
        assert_eq!(
            sorted(actual.project(&HISTORY_COLUMNS)),
            sorted(expected.project(&HISTORY_COLUMNS)),
            "{name}"
        );
        // The history columns come after every column that existed before them.
        let at = |column: &str| actual.header.iter().position(|c| c == column).unwrap();
        assert!(at("plan_skip_reason") < at("first_seen"));
        assert_eq!(&actual.header[..7], REQUIRED_COLUMNS);
    }

    assert!(
        !runs[0].join("resolved.csv").exists(),
        "a first run has nothing to resolve"
    );
    let expected = read_csv(&expected_file("trend-resolved.csv"));
    let columns = [
        "category",
        "assignment_id",
        "access_package_id",
        "user_id",
        "resource_type",
        "resource_id",
        "role",
        "first_seen",
        "last_seen",
        "resolved_on",
        "days_open",
    ];
    for (index, label) in [(1, "run2"), (2, "run3")] {
        let actual = read_csv(&runs[index].join("resolved.csv"));
        let wanted: Vec<Vec<String>> = expected
            .rows_where("run", label)
            .into_iter()
            .map(|row| project(row, &columns))
            .collect();
        assert_eq!(actual.project(&columns), wanted, "resolved.csv of {label}");
    }
    // Names survive for resolved findings (the finding itself is gone from the snapshot).
    let resolved = read_csv(&runs[2].join("resolved.csv"));
    assert_eq!(resolved.rows[0]["user_display_name"], "\u{674e}\u{96f7}");
}

#[test]
fn index_csv_lists_every_run_with_its_counts() {
    let out = tempfile::tempdir().unwrap();
    let runs = trend_runs(out.path(), &[]);
    let index = read_csv(&tenant_folder(out.path()).join("index.csv"));
    let columns = [
        "run",
        "generated_at",
        "missing_access",
        "resource_not_found",
        "unverifiable",
        "not_delivered",
        "access_without_assignment",
        "findings",
        "new",
        "resolved",
        "pruned_at",
    ];
    let names: Vec<String> = runs.iter().map(|r| name_of(r)).collect();
    let wanted: Vec<Vec<String>> = [
        (
            &names[0],
            WEEKS[0],
            ["6", "1", "2", "2", "3"],
            "14",
            "14",
            "0",
        ),
        (
            &names[1],
            WEEKS[1],
            ["6", "1", "2", "2", "3"],
            "14",
            "1",
            "1",
        ),
        (
            &names[2],
            WEEKS[2],
            ["6", "1", "2", "3", "2"],
            "14",
            "1",
            "1",
        ),
    ]
    .iter()
    .map(|(run, at, counts, total, new, resolved)| {
        let mut row = vec![run.to_string(), at.to_string()];
        row.extend(counts.iter().map(|c| c.to_string()));
        row.extend([
            total.to_string(),
            new.to_string(),
            resolved.to_string(),
            String::new(),
        ]);
        row
    })
    .collect();
    assert_eq!(index.project(&columns), wanted);
    for row in &index.rows {
        assert!(row["manifest_sha256"].starts_with("sha256:"), "{row:?}");
    }
}

#[test]
fn trend_across_three_runs_in_excel_summary_category_and_resolved_sheets() {
    let out = tempfile::tempdir().unwrap();
    let runs = trend_runs(out.path(), &[]);
    let mut workbook = open_xlsx(&runs[2].join("drift.xlsx"));
    assert_eq!(
        workbook.sheet_names(),
        [
            "Summary",
            "Missing access",
            "Resource not found",
            "Unverifiable",
            "Not delivered",
            "Access without assignment",
            "Resolved",
            "Plan",
        ]
    );

    let grid = sheet_grid(&mut workbook, "Summary");
    assert_eq!(fact(&grid, "Previous run"), name_of(&runs[1]));
    assert_eq!(fact(&grid, "New findings"), "1");
    assert_eq!(fact(&grid, "Persisting findings"), "13");
    assert_eq!(fact(&grid, "Resolved since previous run"), "1");
    let heading = grid
        .iter()
        .position(|row| row_texts(row).first().map(String::as_str) == Some("Trend over past runs"))
        .expect("Summary has a trend table");
    assert_eq!(
        row_texts(&grid[heading + 1]),
        [
            "run (UTC)",
            "missing_access",
            "resource_not_found",
            "unverifiable",
            "not_delivered",
            "access_without_assignment",
            "total",
            "new",
            "resolved",
            "excepted",
        ]
    );
    let wanted: [(&str, [f64; 9]); 3] = [
        (
            "2026-11-01 06:00",
            [6.0, 1.0, 2.0, 2.0, 3.0, 14.0, 14.0, 0.0, 0.0],
        ),
        (
            "2026-11-08 06:00",
            [6.0, 1.0, 2.0, 2.0, 3.0, 14.0, 1.0, 1.0, 0.0],
        ),
        (
            "2026-11-15 06:00",
            [6.0, 1.0, 2.0, 3.0, 2.0, 14.0, 1.0, 1.0, 0.0],
        ),
    ];
    for (offset, (label, numbers)) in wanted.iter().enumerate() {
        let row = &grid[heading + 2 + offset];
        assert_eq!(cell_text(&row[0]), *label);
        let actual: Vec<Data> = row[1..10].to_vec();
        let expected: Vec<Data> = numbers.iter().map(|n| Data::Float(*n)).collect();
        assert_eq!(actual, expected, "trend row {label}");
    }
    // The line chart: a second chart part beside the category bar chart.
    let bytes = std::fs::read(runs[2].join("drift.xlsx")).unwrap();
    let has = |name: &str| bytes.windows(name.len()).any(|w| w == name.as_bytes());
    assert!(
        has("xl/charts/chart1.xml") && has("xl/charts/chart2.xml"),
        "two charts"
    );

    // Category sheets carry the same history columns as the CSV.
    let csv = read_csv(&runs[2].join("findings.csv"));
    let sheet = read_findings_sheet(&mut workbook, "Not delivered");
    assert_eq!(sheet.header, csv.header);
    let mut rows: Vec<Vec<String>> = sheet
        .rows
        .iter()
        .map(|r| project(r, &HISTORY_COLUMNS))
        .collect();
    rows.sort();
    let wanted: Vec<Vec<String>> = sorted(
        read_csv(&expected_file("trend-run3.csv"))
            .rows_where("category", "not_delivered")
            .into_iter()
            .map(|r| project(r, &HISTORY_COLUMNS))
            .collect(),
    );
    assert_eq!(rows, wanted);
    let days = sheet.header.iter().position(|c| c == "days_open").unwrap();
    assert!(
        sheet
            .cells
            .iter()
            .all(|row| matches!(row[days], Data::Float(_))),
        "days_open is a number"
    );

    let resolved = read_findings_sheet(&mut workbook, "Resolved");
    assert_eq!(resolved.rows.len(), 1);
    assert_eq!(
        resolved.rows[0]["user_id"],
        "cb9d98f8-879f-4cad-a534-e7834cb4e33e"
    );
    assert_eq!(resolved.rows[0]["resolved_on"], "2026-11-15");
    assert_eq!(resolved.rows[0]["days_open"], "14");
}

#[test]
fn runs_on_one_day_are_one_observation_and_the_next_day_persists() {
    let out = tempfile::tempdir().unwrap();
    let contoso = fixture("contoso");
    let first = audit_ok(&contoso, out.path(), "2026-11-01T06:00:00Z", &[]);
    let second = audit_ok(&contoso, out.path(), "2026-11-01T18:00:00Z", &[]);
    let bytes = |dir: &Path| std::fs::read(dir.join("findings.csv")).unwrap();
    assert!(
        bytes(&first) == bytes(&second),
        "same-day re-runs give identical findings.csv"
    );
    assert!(read_csv(&second.join("resolved.csv")).rows.is_empty());
    let next = audit_ok(&contoso, out.path(), "2026-11-02T06:00:00Z", &[]);
    let table = read_csv(&next.join("findings.csv"));
    assert_eq!(table.rows.len(), 14);
    for row in &table.rows {
        assert_eq!(
            (
                row["status"].as_str(),
                row["first_seen"].as_str(),
                row["days_open"].as_str()
            ),
            ("persisting", "2026-11-01", "1")
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Exceptions
// ---------------------------------------------------------------------------------------------

/// One exception of each shape on contoso, and one that expires on 2026-11-30.
const REGISTER_CSV: &str = "\
id,assignment_id,access_package_id,user_id,resource_type,resource_id,role,category,reason,approver,expires,ticket
EX-ASSIGN,7979899d-6aae-4e8b-bbe6-2f8d1163c77b,,,,,,,expense role being redesigned,CFO,2026-12-31,CHG-1
EX-USER,,,CB9D98F8-879F-4CAD-A534-E7834CB4E33E,group,15f02b30-b055-4983-ba88-8d6ab2e2d0dc,member,,auditor needs read access,CISO,2026-12-31,
EX-PACKAGE,,b52f6070-dcef-4e9b-a029-1bbcabfd9e9b,,,,,,legacy package being retired,IAM lead,2026-12-31,
EX-RESOURCE,,,,,https://contoso.sharepoint.com/sites/SalesEnablement,,,site checked by hand each quarter,IT,2026-12-31,
EX-EXPIRED,751bd151-dce2-45c2-9469-052950416704,,,,,,,temporary,CISO,2026-11-30,
";

/// The same register as TOML.
const REGISTER_TOML: &str = r#"
[[exception]]
id = "EX-ASSIGN"
assignment_id = "7979899d-6aae-4e8b-bbe6-2f8d1163c77b"
reason = "expense role being redesigned"
approver = "CFO"
expires = 2026-12-31
ticket = "CHG-1"

[[exception]]
id = "EX-USER"
user_id = "cb9d98f8-879f-4cad-a534-e7834cb4e33e"
resource_type = "group"
resource_id = "15f02b30-b055-4983-ba88-8d6ab2e2d0dc"
role = "member"
reason = "auditor needs read access"
approver = "CISO"
expires = 2026-12-31

[[exception]]
id = "EX-PACKAGE"
access_package_id = "b52f6070-dcef-4e9b-a029-1bbcabfd9e9b"
reason = "legacy package being retired"
approver = "IAM lead"
expires = "2026-12-31"

[[exception]]
id = "EX-RESOURCE"
resource_id = "https://contoso.sharepoint.com/sites/SalesEnablement"
reason = "site checked by hand each quarter"
approver = "IT"
expires = 2026-12-31

[[exception]]
id = "EX-EXPIRED"
assignment_id = "751bd151-dce2-45c2-9469-052950416704"
reason = "temporary"
approver = "CISO"
expires = 2026-11-30
"#;

/// Which exception (and state) each contoso finding must carry once EX-EXPIRED has expired,
/// keyed by assignment id (or user id for access without assignment).
fn expected_exceptions() -> HashMap<&'static str, (&'static str, &'static str)> {
    HashMap::from([
        (
            "7979899d-6aae-4e8b-bbe6-2f8d1163c77b",
            ("EX-ASSIGN", "active"),
        ),
        (
            "cb9d98f8-879f-4cad-a534-e7834cb4e33e",
            ("EX-USER", "active"),
        ),
        (
            "3fb5b6a2-ca8e-4e72-a3b3-407cd925b00b",
            ("EX-PACKAGE", "active"),
        ),
        (
            "c4c8bf06-6718-4636-9a84-9f4b8c097e2b",
            ("EX-RESOURCE", "active"),
        ),
        (
            "b7c519d6-5a14-451d-b707-86802d05402f",
            ("EX-RESOURCE", "active"),
        ),
        (
            "751bd151-dce2-45c2-9469-052950416704",
            ("EX-EXPIRED", "expired"),
        ),
    ])
}

fn key_of(row: &HashMap<String, String>) -> String {
    if row["assignment_id"].is_empty() {
        row["user_id"].clone()
    } else {
        row["assignment_id"].clone()
    }
}

fn write_register(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn plan_assignments(run: &Path) -> Vec<String> {
    let plan: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("plan.json")).unwrap()).unwrap();
    plan["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item["assignment_id"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn exceptions_mark_findings_keep_them_out_of_the_plan_and_report_expired_ones() {
    let out = tempfile::tempdir().unwrap();
    let register = write_register(out.path(), "exceptions.csv", REGISTER_CSV);
    let output = audit_at(
        &fixture("contoso"),
        &out.path().join("reports"),
        "2026-12-01T00:00:00Z",
        &[
            "--exceptions",
            register.to_str().unwrap(),
            "--detailed-exitcode",
        ],
    );
    assert_eq!(
        output.code,
        Some(2),
        "non-excepted findings remain: {}",
        output.stderr
    );
    let run = run_dir_of(&output, &out.path().join("reports"));
    assert!(
        output.stderr.contains("EX-EXPIRED") && output.stderr.contains("expired"),
        "{}",
        output.stderr
    );

    let findings = read_csv(&run.join("findings.csv"));
    assert_eq!(findings.rows.len(), 14, "excepted findings stay visible");
    let wanted = expected_exceptions();
    let expected_plan = read_expected("contoso");
    for row in &findings.rows {
        let key = key_of(row);
        let (id, state) = wanted.get(key.as_str()).copied().unwrap_or(("", ""));
        assert_eq!(
            (row["exception"].as_str(), row["exception_state"].as_str()),
            (id, state),
            "{key}"
        );
        let was_in_plan = expected_plan
            .rows
            .iter()
            .find(|e| project(e, &REQUIRED_COLUMNS) == project(row, &REQUIRED_COLUMNS))
            .map(|e| e["in_plan"].clone())
            .unwrap();
        if state == "active" {
            assert_eq!(row["in_plan"], "no", "{key}");
            assert!(
                row["plan_skip_reason"].starts_with(&format!("excepted: {id}")),
                "{row:?}"
            );
        } else {
            assert_eq!(
                row["in_plan"], was_in_plan,
                "an expired exception no longer applies: {key}"
            );
        }
    }
    // contoso's plan is 7979899d, cb47596f, 751bd151, f49b8764; EX-ASSIGN takes out the first.
    let mut plan = plan_assignments(&run);
    plan.sort();
    assert_eq!(
        plan,
        [
            "751bd151-dce2-45c2-9469-052950416704",
            "cb47596f-82e5-48d4-8d36-40971f438d74",
            "f49b8764-e61f-493b-b541-c0cca7b7cc0e",
        ]
    );

    let register_report = read_csv(&run.join("exceptions.csv"));
    let states: Vec<Vec<String>> =
        register_report.project(&["id", "state", "findings", "days_left"]);
    let expect = |id: &str, state: &str, findings: &str, days: &str| {
        vec![
            id.to_string(),
            state.to_string(),
            findings.to_string(),
            days.to_string(),
        ]
    };
    assert_eq!(
        states,
        [
            expect("EX-ASSIGN", "active", "1", "30"),
            expect("EX-USER", "active", "1", "30"),
            expect("EX-PACKAGE", "active", "1", "30"),
            expect("EX-RESOURCE", "active", "2", "30"),
            expect("EX-EXPIRED", "expired", "1", "-1"),
        ]
    );

    let mut workbook = open_xlsx(&run.join("drift.xlsx"));
    assert_eq!(
        workbook.sheet_names().last().map(String::as_str),
        Some("Plan")
    );
    assert!(workbook.sheet_names().contains(&"Exceptions".to_string()));
    let sheet = read_findings_sheet(&mut workbook, "Exceptions");
    assert_eq!(sheet.rows.len(), 5);
    assert_eq!(sheet.rows[4]["state"], "expired");
    let missing = read_findings_sheet(&mut workbook, "Missing access");
    let row = missing
        .rows
        .iter()
        .find(|r| r["assignment_id"] == "7979899d-6aae-4e8b-bbe6-2f8d1163c77b")
        .unwrap();
    assert_eq!(
        (row["exception"].as_str(), row["in_plan"].as_str()),
        ("EX-ASSIGN", "no")
    );
    let grid = sheet_grid(&mut workbook, "Summary");
    assert_eq!(fact(&grid, "Excepted findings"), "5");
    assert_eq!(fact(&grid, "Expired exceptions"), "1");
}

#[test]
fn an_exception_applies_through_its_expiry_day_and_not_the_day_after() {
    let out = tempfile::tempdir().unwrap();
    let register = write_register(out.path(), "exceptions.csv", REGISTER_CSV);
    let flags = ["--exceptions", register.to_str().unwrap()];
    let state_of_751 = |now: &str| {
        let reports = tempfile::tempdir().unwrap();
        let run = audit_ok(&fixture("contoso"), reports.path(), now, &flags);
        let findings = read_csv(&run.join("findings.csv"));
        let row = findings
            .rows
            .iter()
            .find(|r| r["assignment_id"] == "751bd151-dce2-45c2-9469-052950416704")
            .unwrap()
            .clone();
        (
            row["exception_state"].clone(),
            row["in_plan"].clone(),
            plan_assignments(&run).len(),
        )
    };
    assert_eq!(
        state_of_751("2026-11-30T23:59:59Z"),
        ("active".into(), "no".into(), 2)
    );
    assert_eq!(
        state_of_751("2026-12-01T00:00:00Z"),
        ("expired".into(), "yes".into(), 3)
    );
}

#[test]
fn a_toml_register_gives_the_same_marks_as_the_csv_one() {
    let out = tempfile::tempdir().unwrap();
    let columns = [
        "category",
        "assignment_id",
        "user_id",
        "resource_id",
        "role",
        "in_plan",
        "exception",
        "exception_state",
    ];
    let marks = |name: &str, text: &str| {
        let register = write_register(out.path(), name, text);
        let reports = out.path().join(name.replace('.', "-"));
        let run = audit_ok(
            &fixture("contoso"),
            &reports,
            "2026-12-01T00:00:00Z",
            &["--exceptions", register.to_str().unwrap()],
        );
        read_csv(&run.join("findings.csv")).project(&columns)
    };
    assert_eq!(
        marks("exceptions.toml", REGISTER_TOML),
        marks("exceptions.csv", REGISTER_CSV)
    );
}

#[test]
fn excepting_every_finding_exits_0_with_detailed_exitcode() {
    let out = tempfile::tempdir().unwrap();
    // Every contoso package and every user of an access_without_assignment row.
    let mut text =
        String::from("access_package_id,user_id,resource_id,role,reason,approver,expires\n");
    for package in [
        "b35dd7ff-3853-4b39-ba9a-0f7417cf706b",
        "cad47fb8-9341-4025-a607-af7e15a6023e",
        "0c4e27b1-a043-4ae3-a1e4-bcd7959ed0cf",
        "b52f6070-dcef-4e9b-a029-1bbcabfd9e9b",
        "6daebe06-604a-4ace-a795-c08635270e51",
    ] {
        text.push_str(&format!("{package},,,,accepted,CISO,2027-01-01\n"));
    }
    for row in read_expected("contoso").rows_where("category", "access_without_assignment") {
        text.push_str(&format!(
            ",{},{},{},accepted,CISO,2027-01-01\n",
            row["user_id"], row["resource_id"], row["role"]
        ));
    }
    let register = write_register(out.path(), "all.csv", &text);
    let output = audit_at(
        &fixture("contoso"),
        &out.path().join("reports"),
        "2026-12-01T00:00:00Z",
        &[
            "--exceptions",
            register.to_str().unwrap(),
            "--detailed-exitcode",
        ],
    );
    assert_eq!(
        output.code,
        Some(0),
        "only accepted drift remains: {}",
        output.stderr
    );
}

#[test]
fn a_bad_register_fails_naming_its_line_and_writes_nothing() {
    let out = tempfile::tempdir().unwrap();
    let text = "id,assignment_id,reason,approver,expires\nEX-1,a,r,CISO,2026-12-31\nEX-2,b,r,CISO,31/12/2026\n";
    let register = write_register(out.path(), "bad.csv", text);
    let reports = out.path().join("reports");
    let output = audit_at(
        &fixture("contoso"),
        &reports,
        "2026-12-01T00:00:00Z",
        &["--exceptions", register.to_str().unwrap()],
    );
    assert_eq!(output.code, Some(1));
    assert!(
        output
            .stderr
            .contains(&format!("`{}` line 3", register.display())),
        "{}",
        output.stderr
    );
    assert!(output.stderr.contains("31/12/2026"), "{}", output.stderr);
    assert!(!reports.exists(), "nothing written");
}

// ---------------------------------------------------------------------------------------------
// Configuration file
// ---------------------------------------------------------------------------------------------

fn config_check(file: &Path) -> Output {
    run(entra_drift_at("2026-12-01T00:00:00Z")
        .args(["config", "check"])
        .arg(file))
}

#[test]
fn config_check_accepts_a_valid_file_and_its_register() {
    let dir = tempfile::tempdir().unwrap();
    write_register(dir.path(), "exceptions.csv", REGISTER_CSV);
    let file = write_register(
        dir.path(),
        "entra-drift.toml",
        &format!(
            "tenant_dir = {:?}\nout = \"reports\"\nexceptions = \"exceptions.csv\"\nkeep = 12\nplan_expiry_days = 5\n\n[scope]\nexclude_packages = [\"Project Falcon (legacy)\"]\n",
            fixture("contoso").display().to_string()
        ),
    );
    let output = config_check(&file);
    assert_eq!(output.code, Some(0), "{}", output.stderr);
    assert!(output.stderr.contains("is valid"), "{}", output.stderr);
    assert!(
        output.stderr.contains("5 in") && output.stderr.contains("1 expired (EX-EXPIRED)"),
        "{}",
        output.stderr
    );
}

#[test]
fn config_errors_point_at_the_file_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let cases: [(&str, &str, &str); 7] = [
        ("out = \"r\"\n\nkepe = 3\n", "line 3, column 1", "kepe"),
        ("keep = 0\n", "line 1, column 8", "from 1 to 100000"),
        (
            "plan_expiry_days = \"a week\"\n",
            "line 1, column 20",
            "expected a whole number",
        ),
        ("cloud = \"mars\"\n", "line 1, column 9", "global"),
        (
            "[scope]\ninclude_catalog = [\"x\"]\n",
            "line 2, column 1",
            "include_catalog",
        ),
        (
            "tenant = \"t\"\nclient_secret = \"s\"\n",
            "line 2, column 1",
            "AZURE_CLIENT_SECRET",
        ),
        ("out = \"r\"\nkeep = [\n", "line 2", ""),
    ];
    for (index, (text, position, words)) in cases.iter().enumerate() {
        let file = write_register(dir.path(), &format!("case{index}.toml"), text);
        let output = config_check(&file);
        assert_eq!(output.code, Some(1), "{text:?}");
        let wanted = format!("`{}` {position}", file.display());
        assert!(
            output.stderr.contains(&wanted),
            "{text:?}: wanted {wanted:?} in\n{}",
            output.stderr
        );
        assert!(
            output.stderr.contains(words),
            "{text:?}: wanted {words:?} in\n{}",
            output.stderr
        );
        assert!(!output.stderr.contains("panicked"));
    }
    // The register the file names is checked too, at its own line.
    write_register(
        dir.path(),
        "register.csv",
        "assignment_id,reason,approver,expires\na,r,,2026-12-01\n",
    );
    let file = write_register(
        dir.path(),
        "with-register.toml",
        "exceptions = \"register.csv\"\n",
    );
    let output = config_check(&file);
    assert_eq!(output.code, Some(1));
    assert!(
        output.stderr.contains("register.csv` line 2") && output.stderr.contains("no approver"),
        "{}",
        output.stderr
    );
    // A source that does not exist.
    let file = write_register(dir.path(), "missing.toml", "tenant_dir = \"no/such/dir\"\n");
    let output = config_check(&file);
    assert_eq!(output.code, Some(1));
    assert!(
        output.stderr.contains("tenant_dir") && output.stderr.contains("no/such/dir"),
        "{}",
        output.stderr
    );
}

#[test]
fn audit_reads_the_config_file_and_flags_override_it() {
    let dir = tempfile::tempdir().unwrap();
    write_register(dir.path(), "exceptions.csv", REGISTER_CSV);
    let file = write_register(
        dir.path(),
        "entra-drift.toml",
        &format!(
            "tenant_dir = {:?}\nout = \"reports\"\nexceptions = \"exceptions.csv\"\nplan_expiry_days = 3\ndetailed_exitcode = true\n",
            fixture("contoso").display().to_string()
        ),
    );
    // Relative paths in the file are relative to the file, not to the working directory.
    let elsewhere = tempfile::tempdir().unwrap();
    let output = run(entra_drift_at("2026-12-01T00:00:00Z")
        .current_dir(elsewhere.path())
        .arg("--config")
        .arg(&file)
        .arg("audit"));
    assert_eq!(
        output.code,
        Some(2),
        "detailed_exitcode from the file: {}",
        output.stderr
    );
    let run_dir = run_dir_of(&output, &dir.path().join("reports"));
    let plan: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run_dir.join("plan.json")).unwrap()).unwrap();
    assert_eq!(
        plan["expires"], "2026-12-04T00:00:00Z",
        "plan_expiry_days from the file"
    );
    assert!(
        run_dir.join("exceptions.csv").is_file(),
        "the file's register is applied"
    );

    // The environment variable names the file as well; flags override its values.
    let other = dir.path().join("other");
    let output = run(entra_drift_at("2026-12-01T00:00:00Z")
        .env("ENTRA_DRIFT_CONFIG", &file)
        .args(["audit", "--plan-expiry-days", "7", "--out"])
        .arg(&other));
    let run_dir = run_dir_of(&output, &other);
    let plan: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run_dir.join("plan.json")).unwrap()).unwrap();
    assert_eq!(
        plan["expires"], "2026-12-08T00:00:00Z",
        "the flag wins over the file"
    );
}

#[test]
fn audit_with_a_bad_config_fails_naming_the_line_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let file = write_register(
        dir.path(),
        "entra-drift.toml",
        "out = \"reports\"\nretention = 4\n",
    );
    let output = run(entra_drift_at("2026-12-01T00:00:00Z")
        .arg("--config")
        .arg(&file)
        .args(["audit", "--tenant-dir"])
        .arg(fixture("contoso")));
    assert_eq!(output.code, Some(1));
    assert!(
        output
            .stderr
            .contains(&format!("`{}` line 2, column 1", file.display())),
        "{}",
        output.stderr
    );
    assert!(output.stdout.is_empty());
    assert!(!dir.path().join("reports").exists());
}

#[test]
fn audit_without_any_source_is_a_usage_error() {
    let out = tempfile::tempdir().unwrap();
    let output = run(entra_drift_at("2026-12-01T00:00:00Z")
        .args(["audit", "--out"])
        .arg(out.path()));
    assert_eq!(output.code, Some(1));
    assert!(output.stderr.contains("--tenant-dir"), "{}", output.stderr);
    assert!(list_tree(out.path()).is_empty());
}

#[test]
fn scope_from_the_file_or_flags_limits_findings_and_plan() {
    let dir = tempfile::tempdir().unwrap();
    // Finance (contoso-notes.md): A02, A03, A12 and the three access-without-assignment rows.
    let file = write_register(
        dir.path(),
        "entra-drift.toml",
        "[scope]\ninclude_catalogs = [\"7bc8d763-a519-4280-84b0-9e59fdfc4071\"]\n",
    );
    let out = dir.path().join("reports");
    let output = run(entra_drift_at("2026-12-01T00:00:00Z")
        .arg("--config")
        .arg(&file)
        .args(["audit", "--tenant-dir"])
        .arg(fixture("contoso"))
        .arg("--out")
        .arg(&out));
    let run_dir = run_dir_of(&output, &out);
    let findings = read_csv(&run_dir.join("findings.csv"));
    let mut assignments: Vec<String> = findings
        .rows
        .iter()
        .map(|r| r["assignment_id"].chars().take(8).collect())
        .collect();
    assignments.sort();
    assert_eq!(
        assignments,
        ["", "", "", "15c167de", "7979899d", "cb47596f"]
    );
    let mut plan = plan_assignments(&run_dir);
    plan.sort();
    assert_eq!(
        plan,
        [
            "7979899d-6aae-4e8b-bbe6-2f8d1163c77b",
            "cb47596f-82e5-48d4-8d36-40971f438d74",
        ]
    );
    let mut workbook = open_xlsx(&run_dir.join("drift.xlsx"));
    let grid = sheet_grid(&mut workbook, "Summary");
    assert!(fact(&grid, "Scope").contains("7bc8d763"));

    // A flag replaces the file's list of the same kind.
    let output = run(entra_drift_at("2026-12-01T00:00:00Z")
        .arg("--config")
        .arg(&file)
        .args([
            "audit",
            "--include-catalog",
            "ad0b0f15-bc86-401f-8193-2aae70106e2d",
            "--tenant-dir",
        ])
        .arg(fixture("contoso"))
        .arg("--out")
        .arg(&out));
    let run_dir = run_dir_of(&output, &out);
    let findings = read_csv(&run_dir.join("findings.csv"));
    assert!(findings.rows.iter().all(|r| [
        "0c4e27b1-a043-4ae3-a1e4-bcd7959ed0cf",
        "b52f6070-dcef-4e9b-a029-1bbcabfd9e9b"
    ]
    .contains(&r["access_package_id"].as_str())));
    assert_eq!(
        findings.rows.len(),
        5,
        "Engineering: four missing_access and the deleted group"
    );
}

// ---------------------------------------------------------------------------------------------
// Retention
// ---------------------------------------------------------------------------------------------

#[test]
fn keep_prunes_the_oldest_runs_records_them_and_leaves_other_folders_alone() {
    let out = tempfile::tempdir().unwrap();
    let tenant = tenant_folder(out.path());
    std::fs::create_dir_all(tenant.join("20261001T000000Z")).unwrap();
    std::fs::write(tenant.join("20261001T000000Z").join("snapshot.json"), "{}").unwrap();
    let runs = trend_runs(out.path(), &["--keep", "2"]);
    assert!(!runs[0].exists(), "the oldest run is pruned");
    assert!(runs[1].is_dir() && runs[2].is_dir());
    assert!(
        tenant.join("20261001T000000Z/snapshot.json").is_file(),
        "not an indexed run: kept"
    );
    let index = read_csv(&tenant.join("index.csv"));
    let pruned: Vec<&str> = index.rows.iter().map(|r| r["pruned_at"].as_str()).collect();
    assert_eq!(pruned, ["2026-11-15T06:00:00Z", "", ""]);
    // History still compares with the newest kept run, and the trend keeps all three runs.
    let mut workbook = open_xlsx(&runs[2].join("drift.xlsx"));
    let grid = sheet_grid(&mut workbook, "Summary");
    let texts: Vec<String> = grid
        .iter()
        .map(|r| row_texts(r).first().cloned().unwrap_or_default())
        .collect();
    assert!(
        texts.iter().any(|t| t == "2026-11-01 06:00"),
        "pruned runs stay in the trend"
    );
}

// ---------------------------------------------------------------------------------------------
// The per-tenant lock
// ---------------------------------------------------------------------------------------------

fn write_lock(tenant: &Path, pid: u32, host: &str, started: &str) -> PathBuf {
    std::fs::create_dir_all(tenant).unwrap();
    let path = tenant.join(".lock");
    let holder = serde_json::json!({"pid": pid, "host": host, "started": started, "tool": "entra-drift test"});
    std::fs::write(&path, holder.to_string()).unwrap();
    path
}

fn runs_in(tenant: &Path) -> usize {
    std::fs::read_dir(tenant)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter(|e| e.path().is_dir())
                .count()
        })
        .unwrap_or(0)
}

#[test]
fn a_lock_held_by_a_live_process_refuses_a_second_run() {
    let out = tempfile::tempdir().unwrap();
    let tenant = tenant_folder(out.path());
    // This test process is alive on this host: exactly what a running audit looks like.
    let lock = write_lock(
        &tenant,
        std::process::id(),
        &entra_drift::lock::host_name(),
        "2026-12-01T00:00:00Z",
    );
    let before = std::fs::read(&lock).unwrap();
    let output = audit_at(&fixture("contoso"), out.path(), "2026-12-01T01:00:00Z", &[]);
    assert_eq!(output.code, Some(1));
    assert!(
        output
            .stderr
            .contains("another audit of this tenant is running"),
        "{}",
        output.stderr
    );
    assert!(
        output.stderr.contains(&std::process::id().to_string()),
        "names the holder"
    );
    assert!(output.stdout.is_empty());
    assert_eq!(runs_in(&tenant), 0, "no run folder");
    assert_eq!(
        std::fs::read(&lock).unwrap(),
        before,
        "another run's lock is left as it was"
    );
}

#[test]
fn a_stale_lock_of_a_killed_run_is_taken_over_with_a_warning() {
    let out = tempfile::tempdir().unwrap();
    let tenant = tenant_folder(out.path());
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let dead = child.id();
    child.wait().unwrap();
    let lock = write_lock(
        &tenant,
        dead,
        &entra_drift::lock::host_name(),
        "2026-12-01T00:00:00Z",
    );
    let output = audit_at(&fixture("contoso"), out.path(), "2026-12-01T01:00:00Z", &[]);
    run_dir_of(&output, out.path());
    assert!(output.stderr.contains("stale lock"), "{}", output.stderr);
    assert!(!lock.exists(), "the lock is released after the run");
}

#[test]
fn another_hosts_lock_is_obeyed_until_it_is_older_than_the_max_age() {
    let out = tempfile::tempdir().unwrap();
    let tenant = tenant_folder(out.path());
    write_lock(
        &tenant,
        4_000_000,
        "some-other-host",
        "2026-12-01T00:00:00Z",
    );
    let refused = audit_at(
        &fixture("contoso"),
        out.path(),
        "2026-12-01T05:00:00Z",
        &["--lock-max-age-hours", "6"],
    );
    assert_eq!(refused.code, Some(1), "{}", refused.stderr);
    assert!(
        refused.stderr.contains("some-other-host"),
        "{}",
        refused.stderr
    );
    let taken = audit_at(
        &fixture("contoso"),
        out.path(),
        "2026-12-01T07:00:00Z",
        &["--lock-max-age-hours", "6"],
    );
    run_dir_of(&taken, out.path());
    assert!(taken.stderr.contains("stale lock"), "{}", taken.stderr);
}

#[test]
fn overlapping_live_runs_of_one_tenant_cannot_both_run() {
    let fake = support::Fake::start("contoso", |config| config.latency_ms = 250);
    let out = tempfile::tempdir().unwrap();
    let tenant = out
        .path()
        .join(fake.server().tenant_id.to_ascii_lowercase());
    let first = fake
        .command(
            &["audit", "--out", out.path().to_str().unwrap()],
            support::SECRET,
        )
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Wait for the first run to hold the lock (it holds it for the whole slow live read).
    let lock = tenant.join(".lock");
    let started = std::time::Instant::now();
    while !lock.exists() {
        assert!(
            started.elapsed().as_secs() < 30,
            "the first run never took the lock"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let second = fake
        .command(
            &["audit", "--out", out.path().to_str().unwrap()],
            support::SECRET,
        )
        .output()
        .unwrap();
    let first = first.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert_eq!(second.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("another audit of this tenant is running"),
        "{stderr}"
    );
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let index = read_csv(&tenant.join("index.csv"));
    assert_eq!(index.rows.len(), 1, "exactly one run finished");
    assert!(!lock.exists());
}

#[test]
fn logs_without_a_terminal_have_no_control_characters() {
    let out = tempfile::tempdir().unwrap();
    // ENTRA_DRIFT_NOW makes the run log a warning.
    let output = audit_at(&fixture("contoso"), out.path(), "2026-12-01T00:00:00Z", &[]);
    assert!(
        output.stderr.contains("ENTRA_DRIFT_NOW"),
        "{}",
        output.stderr
    );
    assert!(!output.stderr.contains('\u{1b}'), "{:?}", output.stderr);
    let json = run(entra_drift_at("2026-12-01T00:00:00Z")
        .args(["-q", "--log-format", "json", "audit", "--tenant-dir"])
        .arg(fixture("contoso"))
        .arg("--out")
        .arg(out.path()));
    assert_eq!(json.code, Some(0));
    assert!(json.stderr.is_empty(), "-q: errors only: {}", json.stderr);
}
