//! Scheduled audits (issue 5): the exceptions register.
//!
//! Every test runs the real binary in a temporary `--out`, with the clock fixed by
//! `ENTRA_DRIFT_NOW`, and reads the reports back with `csv` and `calamine`; expectations come
//! from `tests/expected/trend-*.csv` (see `trend-notes.md`) and the contoso notes.

use std::collections::HashMap;

use crate::common::*;
use crate::support::scheduled::*;
use calamine::Reader;

// ---------------------------------------------------------------------------------------------
// Exceptions
// ---------------------------------------------------------------------------------------------

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

#[test]
fn exceptions_mark_findings_keep_them_out_of_the_plan_and_report_expired_ones() {
    let out = tempfile::tempdir().unwrap();
    let register = write_register(out.path(), "exceptions.csv", REGISTER_CSV);
    let output = audit_at(
        &fixture("contoso-core"),
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
    let expected_plan = read_expected("contoso-core");
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
    assert_eq!(sheet.rows[4]["State"], "expired");
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
        let run = audit_ok(&fixture("contoso-core"), reports.path(), now, &flags);
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
            &fixture("contoso-core"),
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
    for row in read_expected("contoso-core").rows_where("category", "access_without_assignment") {
        text.push_str(&format!(
            ",{},{},{},accepted,CISO,2027-01-01\n",
            row["user_id"], row["resource_id"], row["role"]
        ));
    }
    let register = write_register(out.path(), "all.csv", &text);
    let output = audit_at(
        &fixture("contoso-core"),
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
        &fixture("contoso-core"),
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
