//! End-to-end tests of `entra-drift audit --tenant-dir`: the run folder, findings.csv,
//! drift.xlsx, plan.json, exit codes, bad input and stdout/stderr discipline.
//!
//! Expectations come from `tests/expected/` (hand-written) and the fixture JSON, never from
//! the code under test.

use std::collections::BTreeSet;
use std::path::Path;

use calamine::Reader;

use crate::common::*;
use crate::support::audit_helpers::*;

// ---------------------------------------------------------------------------------------------
// 1. findings.csv equals the expectations
// ---------------------------------------------------------------------------------------------

#[test]
fn findings_csv_header_has_required_then_review_columns() {
    let run = audit(CONTOSO, &[]);
    let bytes = std::fs::read(run.findings_csv()).expect("reading findings.csv");
    let required_prefix = format!("{},", REQUIRED_COLUMNS.join(","));
    assert!(
        bytes.starts_with(required_prefix.as_bytes()),
        "findings.csv must start with exactly `{required_prefix}` (no BOM, no other column first), got {:?}",
        String::from_utf8_lossy(&bytes[..bytes.len().min(120)])
    );
    let table = read_findings(&run);
    assert_eq!(&table.header[..7], REQUIRED_COLUMNS);
    for column in REVIEW_COLUMNS {
        assert!(
            table.header.iter().any(|c| c == column),
            "findings.csv lacks column `{column}`: {:?}",
            table.header
        );
    }
    let distinct: BTreeSet<&String> = table.header.iter().collect();
    assert_eq!(
        distinct.len(),
        table.header.len(),
        "duplicate column names in {:?}",
        table.header
    );
}

#[test]
fn contoso_findings_match_expected() {
    if let Some(difference) = findings_difference(CONTOSO) {
        panic!("{difference}");
    }
    // Cross-check the hand-written file against its notes, so a silently edited expectation
    // file cannot make this test pass vacuously.
    let expected = read_expected(CONTOSO);
    let counts: Vec<usize> = CATEGORY_SHEETS
        .iter()
        .map(|(category, _)| expected.rows_where("category", category).len())
        .collect();
    assert_eq!(counts, [6, 1, 2, 2, 3], "contoso-core-notes.md: 6/1/2/2/3");
}

#[test]
fn edge_tenant_findings_match_expected() {
    let edges = edge_tenants();
    for known in [
        "edge-clean",
        "edge-deleted-resources",
        "edge-mixed-case",
        "edge-nested-only",
        "edge-no-objectid",
    ] {
        assert!(
            edges.iter().any(|e| e == known),
            "fixtures/{known} is missing"
        );
    }
    let differences: Vec<String> = edges
        .iter()
        .filter_map(|tenant| {
            assert!(
                expected_file(&format!("{tenant}.csv")).is_file(),
                "fixtures/{tenant} has no tests/expected/{tenant}.csv"
            );
            findings_difference(tenant)
        })
        .collect();
    assert!(differences.is_empty(), "{}", differences.join("\n"));
}

// ---------------------------------------------------------------------------------------------
// 5. Exit codes
// ---------------------------------------------------------------------------------------------

#[test]
fn drift_with_detailed_exitcode_exits_2() {
    let run = audit(CONTOSO, &["--detailed-exitcode"]);
    assert_eq!(run.code, 2);
    // The reports are still written.
    assert_eq!(read_findings(&run).rows.len(), 14);
    assert!(run.plan_json().is_file() && run.drift_xlsx().is_file());
}

#[test]
fn drift_without_detailed_exitcode_exits_0() {
    assert_eq!(audit(CONTOSO, &[]).code, 0);
}

#[test]
fn clean_tenant_exits_0_with_and_without_detailed_exitcode() {
    for extra in [&[][..], &["--detailed-exitcode"][..]] {
        let run = audit("edge-clean", extra);
        assert_eq!(run.code, 0, "edge-clean with {extra:?}");
        let table = read_findings(&run);
        assert!(
            table.rows.is_empty(),
            "edge-clean has findings: {:?}",
            table.rows
        );
        assert_eq!(&table.header[..7], REQUIRED_COLUMNS);
        let plan = read_plan(&run);
        assert_eq!(plan["items"].as_array().map(Vec::len), Some(0));
    }
}

#[test]
fn usage_errors_exit_1_not_the_drift_code_2() {
    // `--help` says: 0 success; 1 error; 2 drift found (only with --detailed-exitcode).
    // A scheduler must not read a mistyped command line as "drift found".
    let out = tempfile::tempdir().expect("temporary --out");
    let cases: [&[&str]; 3] = [
        &["--plan-expiry-days", "0"],
        &["--no-such-option"],
        &["--plan-expiry-days", "seven"],
    ];
    let mut wrong = Vec::new();
    for extra in cases {
        let output = run_audit_raw(&fixture(CONTOSO), out.path(), extra);
        if output.code != Some(1) {
            wrong.push(format!("{extra:?} exited {:?}", output.code));
        }
        assert!(!output.stderr.contains("panicked"), "{}", output.stderr);
    }
    assert!(
        list_tree(out.path()).is_empty(),
        "a usage error wrote files"
    );
    assert!(
        wrong.is_empty(),
        "usage errors must exit 1: {}",
        wrong.join("; ")
    );
}

// ---------------------------------------------------------------------------------------------
// 6. Bad input
// ---------------------------------------------------------------------------------------------

/// Runs a tenant that must be refused: exit 1, every text of `must_name` in stderr, no panic,
/// nothing on stdout, nothing written under `--out`. Returns stderr.
fn refused(tenant_dir: &Path, must_name: &[String]) -> String {
    let out = tempfile::tempdir().expect("temporary --out");
    let output = run_audit_raw(tenant_dir, out.path(), &[]);
    assert_eq!(
        output.code,
        Some(1),
        "{tenant_dir:?} must exit 1; stderr:\n{}",
        output.stderr
    );
    assert!(
        !output.stderr.contains("panicked"),
        "{tenant_dir:?} panicked:\n{}",
        output.stderr
    );
    for text in must_name {
        assert!(
            output.stderr.contains(text.as_str()),
            "{tenant_dir:?}: stderr does not name {text:?}:\n{}",
            output.stderr
        );
    }
    assert!(
        output.stdout.is_empty(),
        "{tenant_dir:?}: stdout must stay empty, got {:?}",
        output.stdout
    );
    let written = list_tree(out.path());
    assert!(
        written.is_empty(),
        "{tenant_dir:?}: wrote under --out: {written:?}"
    );
    output.stderr
}

fn file_of(tenant: &str, file: &str) -> String {
    fixture(tenant).join(file).display().to_string()
}

#[test]
fn bad_malformed_json_names_the_file_and_line_9() {
    let tenant = "bad/malformed-json";
    let stderr = refused(&fixture(tenant), &[file_of(tenant, "assignments.json")]);
    assert!(
        line_numbers(&stderr).contains(&9),
        "the error must point at line 9:\n{stderr}"
    );
}

#[test]
fn bad_missing_field_names_the_file_the_line_and_id() {
    let tenant = "bad/missing-field";
    let stderr = refused(
        &fixture(tenant),
        &[file_of(tenant, "assignments.json"), "`id`".to_string()],
    );
    let lines = line_numbers(&stderr);
    assert!(
        lines.iter().any(|line| (33..=60).contains(line)),
        "the error must point into value[1], lines 33-60, got {lines:?}:\n{stderr}"
    );
}

#[test]
fn bad_not_an_object_names_users_json_and_line_3() {
    let tenant = "bad/not-an-object";
    let stderr = refused(&fixture(tenant), &[file_of(tenant, "users.json")]);
    assert!(
        line_numbers(&stderr).contains(&3),
        "the error must point at line 3 (`value`):\n{stderr}"
    );
}

#[test]
fn bad_duplicate_id_names_the_file_and_the_id() {
    let tenant = "bad/duplicate-id";
    refused(
        &fixture(tenant),
        &[
            file_of(tenant, "assignments.json"),
            "59b70113-8995-40eb-952a-5ad667f7891a".to_string(),
        ],
    );
}

#[test]
fn bad_unknown_package_names_the_assignment_and_the_package() {
    let tenant = "bad/unknown-package";
    refused(
        &fixture(tenant),
        &[
            file_of(tenant, "assignments.json"),
            "d702b7a0-d1fb-4f7a-8d3f-eeb02cf28387".to_string(),
            "c7e914e3-704a-46fb-bb59-c04b19424b6a".to_string(),
        ],
    );
}

#[test]
fn bad_members_of_unknown_group_names_the_group() {
    let tenant = "bad/members-of-unknown-group";
    refused(
        &fixture(tenant),
        &[file_of(
            tenant,
            "groups/26388257-42b7-429d-b012-b0ab4c040f5c",
        )],
    );
}

#[test]
fn every_bad_fixture_has_a_test() {
    let mut names: Vec<String> = std::fs::read_dir(fixture("bad"))
        .expect("listing fixtures/bad")
        .map(|entry| {
            entry
                .expect("entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "duplicate-id",
            "malformed-json",
            "members-of-unknown-group",
            "missing-field",
            "not-an-object",
            "unknown-package",
        ],
        "a new bad fixture needs its own test above"
    );
}

#[test]
fn nonexistent_tenant_dir_is_an_error_naming_it() {
    let root = tempfile::tempdir().expect("temporary folder");
    let missing = root.path().join("no-such-tenant");
    refused(&missing, &[missing.display().to_string()]);
}

#[test]
fn missing_assignments_file_is_an_error_naming_it() {
    let root = tempfile::tempdir().expect("temporary folder");
    let tenant = root.path().join("tenant");
    copy_tree(&fixture("edge-deleted-resources"), &tenant);
    // Unbroken, the copy audits fine: the error below can only come from the removal.
    let out = tempfile::tempdir().expect("temporary --out");
    let output = run_audit_raw(&tenant, out.path(), &[]);
    assert_eq!(output.code, Some(0), "{}", output.stderr);

    let file = tenant.join("assignments.json");
    std::fs::remove_file(&file).expect("removing assignments.json");
    refused(&tenant, &[file.display().to_string()]);
}

// ---------------------------------------------------------------------------------------------
// 7. Determinism
// ---------------------------------------------------------------------------------------------

#[test]
fn two_runs_give_identical_findings_and_plan_items() {
    let out = tempfile::tempdir().expect("temporary --out");
    let first = run_audit_raw(&fixture(CONTOSO), out.path(), &[]);
    let first_dir = run_dir_of(&first, out.path());
    let second = run_audit_raw(&fixture(CONTOSO), out.path(), &[]);
    let second_dir = run_dir_of(&second, out.path());
    assert_ne!(
        first_dir, second_dir,
        "a second run must not reuse the folder"
    );

    let csv = |dir: &Path| std::fs::read(dir.join("findings.csv")).expect("findings.csv");
    assert!(csv(&first_dir) == csv(&second_dir), "findings.csv differs");

    let plan = |dir: &Path| -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(dir.join("plan.json")).expect("plan.json"))
            .expect("plan.json is JSON")
    };
    let (a, b) = (plan(&first_dir), plan(&second_dir));
    assert_eq!(a["items"], b["items"]);
    assert_eq!(a["items_digest"], b["items_digest"]);
    assert_eq!(a["findings_digest"], b["findings_digest"]);
    // The first run's folder is intact.
    assert!(first_dir.join("drift.xlsx").is_file() && first_dir.join("plan.json").is_file());
}

/// The workbook's large sheets are written on two threads: the same findings and plan must
/// still make the same file, byte for byte (a run's manifest records its digest).
#[test]
fn the_same_findings_and_plan_make_the_same_workbook() {
    use entra_drift::report::{write_workbook, WorkbookInput};

    let snapshot =
        entra_drift::snapshot::tenant_dir::read(&fixture(CONTOSO)).expect("reading contoso");
    let findings = entra_drift::audit::audit(&snapshot.tables).expect("audit");
    let summary = entra_drift::audit::summary::summarise(&findings).expect("summary");
    let now = chrono::DateTime::parse_from_rfc3339("2026-11-01T06:00:00Z")
        .unwrap()
        .to_utc();
    let plan = entra_drift::plan::Plan::new(
        &snapshot.info,
        &findings,
        "test-run",
        now,
        14,
        &entra_drift::plan::Remedies::default(),
    )
    .expect("plan");
    assert!(!plan.items.is_empty());
    let waiting = entra_drift::report::words::waiting(&findings, Some(&plan)).expect("waiting");
    let dir = tempfile::tempdir().expect("temporary folder");
    let write = |name: &str| {
        let path = dir.path().join(name);
        write_workbook(
            &path,
            &WorkbookInput {
                run: "test-run".to_string(),
                info: &snapshot.info,
                generated_at: now,
                findings: &findings,
                summary: &summary,
                plan: Some(&plan),
                max_data_rows: 4,
                rows: None,
                waiting: &waiting,
            },
        )
        .expect("writing the workbook");
        std::fs::read(path).expect("reading the workbook")
    };
    let first = write("0.xlsx");
    for attempt in 1..8 {
        assert!(
            write(&format!("{attempt}.xlsx")) == first,
            "attempt {attempt} wrote a different workbook"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// 8. Excel sheet splitting (library call with a tiny row limit)
// ---------------------------------------------------------------------------------------------

#[test]
fn categories_continue_on_numbered_sheets_past_the_row_limit() {
    use entra_drift::report::{write_workbook, WorkbookInput};

    const MAX: usize = 2;
    let snapshot =
        entra_drift::snapshot::tenant_dir::read(&fixture(CONTOSO)).expect("reading contoso");
    let findings = entra_drift::audit::audit(&snapshot.tables).expect("audit");
    let summary = entra_drift::audit::summary::summarise(&findings).expect("summary");
    let dir = tempfile::tempdir().expect("temporary folder");
    let path = dir.path().join("split.xlsx");
    let waiting = entra_drift::report::words::waiting(&findings, None).expect("waiting");
    write_workbook(
        &path,
        &WorkbookInput {
            run: "test-run".to_string(),
            info: &snapshot.info,
            generated_at: chrono::Utc::now(),
            findings: &findings,
            summary: &summary,
            plan: None,
            max_data_rows: MAX,
            rows: None,
            waiting: &waiting,
        },
    )
    .expect("writing the workbook");

    // Audited without a plan: no access without assignment is in one.
    let mut expected = read_expected(CONTOSO);
    for row in expected.rows.iter_mut() {
        if row["category"] == "access_without_assignment" {
            row.insert("in_plan".into(), "no".into());
        }
    }
    // The sheet layout follows from the expected counts alone: ceil(count / MAX) parts, at
    // least one, the first unnumbered.
    let mut wanted_sheets = vec!["Summary".to_string(), "Read me".to_string()];
    let mut parts_of = Vec::new();
    for (category, base) in CATEGORY_SHEETS {
        let count = expected.rows_where("category", category).len();
        let parts = count.div_ceil(MAX).max(1);
        let names: Vec<String> = (1..=parts)
            .map(|part| {
                if part == 1 {
                    base.to_string()
                } else {
                    format!("{base} ({part})")
                }
            })
            .collect();
        wanted_sheets.extend(names.iter().cloned());
        parts_of.push((category, count, names));
    }
    assert!(wanted_sheets.contains(&"Missing access (3)".to_string()));

    let mut workbook = open_xlsx(&path);
    assert_eq!(workbook.sheet_names(), wanted_sheets);
    for (category, count, names) in parts_of {
        let mut seen = Vec::new();
        for (index, name) in names.iter().enumerate() {
            let sheet = read_findings_sheet(&mut workbook, name);
            for column in REQUIRED_COLUMNS {
                assert!(
                    sheet.header.iter().any(|h| h == column),
                    "{column} on `{name}`"
                );
            }
            let full = (index + 1) * MAX <= count;
            let rows_here = if full { MAX } else { count - index * MAX };
            assert_eq!(sheet.rows.len(), rows_here, "data rows of `{name}`");
            seen.extend(sheet.rows.iter().map(|row| project(row, &KEY_COLUMNS)));
        }
        assert_eq!(
            sorted(seen),
            sorted(expected_rows_of(&expected, category)),
            "`{category}` across {names:?}: every finding exactly once"
        );
    }

    // The Summary points at every part.
    let grid = sheet_grid(&mut workbook, "Summary");
    let missing_row = grid
        .iter()
        .map(|row| row_texts(row))
        .find(|row| row.first().map(String::as_str) == Some("Missing access"))
        .expect("Summary row for Missing access");
    assert_eq!(
        missing_row.get(3).map(String::as_str),
        Some("Missing access, Missing access (2), Missing access (3)")
    );
}

// ---------------------------------------------------------------------------------------------
// 9. stdout / stderr
// ---------------------------------------------------------------------------------------------

#[test]
fn stdout_is_only_the_run_folder_and_the_summary_is_on_stderr() {
    let run = audit(CONTOSO, &[]);
    // `audit` already checked: one line, a folder under --out.
    assert_eq!(run.stdout, format!("{}\n", run.run_dir.display()));
    let expected = read_expected(CONTOSO);
    let lines: Vec<Vec<&str>> = run
        .stderr
        .lines()
        .map(|line| line.split_whitespace().collect())
        .collect();
    for (category, _) in CATEGORY_SHEETS {
        let count = expected.rows_where("category", category).len().to_string();
        assert!(
            lines.contains(&vec![category, count.as_str()]),
            "stderr lacks `{category} {count}`:\n{}",
            run.stderr
        );
        assert!(!run.stdout.contains(category));
    }
    let total = expected.rows.len().to_string();
    assert!(
        lines.contains(&vec!["total", total.as_str()]),
        "stderr lacks the total:\n{}",
        run.stderr
    );
    for file in [run.findings_csv(), run.drift_xlsx(), run.plan_json()] {
        assert!(file.is_file(), "{file:?} was not written");
        assert!(
            run.stderr.contains(&file.display().to_string()),
            "stderr does not list {file:?}:\n{}",
            run.stderr
        );
    }
}

#[test]
fn quiet_keeps_stderr_empty_and_stdout_the_run_folder() {
    let run = audit(CONTOSO, &["-q"]);
    assert_eq!(run.code, 0);
    assert_eq!(run.stderr, "", "-q must leave stderr empty");
    assert_eq!(run.stdout, format!("{}\n", run.run_dir.display()));
    assert_eq!(read_findings(&run).rows.len(), 14);
    assert!(run.plan_json().is_file() && run.drift_xlsx().is_file());
}

/// The process runs without transparent huge pages (they cost the large audits seconds of
/// zeroing: docs/src/design.md, the allocator), and says so at `-vv`.
#[cfg(target_os = "linux")]
#[test]
fn the_process_runs_without_transparent_huge_pages() {
    let output = entra_drift().args(["-vv", "man"]).output().unwrap();
    assert!(output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    let line = stderr
        .lines()
        .find(|line| line.contains("transparent huge pages"))
        .unwrap_or_else(|| panic!("no line on huge pages: {stderr}"));
    assert!(line.contains("off=true"), "{line}");
}
