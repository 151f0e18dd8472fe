//! End-to-end tests of `entra-drift audit --tenant-dir`: the run folder, findings.csv,
//! drift.xlsx, plan.json, exit codes, bad input and stdout/stderr discipline.
//!
//! Expectations come from `tests/expected/` (hand-written) and the fixture JSON, never from
//! the code under test.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use calamine::{Data, Reader};
use chrono::{DateTime, Duration, FixedOffset};
use sha2::{Digest, Sha256};

use common::*;

const CONTOSO: &str = "contoso";
/// The contoso user whose displayName is `=HYPERLINK(...)` (contoso-notes.md, finding #3).
const FORMULA_USER: &str = "284e3a3c-fb91-48bf-bad1-74c3685d7d3a";
/// Non-ASCII display names of users that appear in contoso's findings, written with escapes
/// so that the test source cannot be silently re-normalised.
const NON_ASCII_USERS: [(&str, &str); 3] = [
    (
        "be10e992-16ff-4101-8c4a-9892df3e618d",
        "Zo\u{eb} \u{c5}ngstr\u{f6}m",
    ),
    (
        "b5e005aa-d08a-4774-8849-0fd560fca3cd",
        "S\u{f8}ren \u{d8}deg\u{e5}rd",
    ),
    ("cb9d98f8-879f-4cad-a534-e7834cb4e33e", "\u{674e}\u{96f7}"),
];
/// Engineering – Platform (with an en dash), a group in contoso's findings.
const EN_DASH_GROUP: (&str, &str) = (
    "1b01d039-c9d2-4b04-9e79-991f6b93bfe4",
    "Engineering \u{2013} Platform",
);
const WORKBOOK_SHEETS: [&str; 7] = [
    "Summary",
    "Missing access",
    "Resource not found",
    "Unverifiable",
    "Not delivered",
    "Access without assignment",
    "Plan",
];

// ---------------------------------------------------------------------------------------------
// Small local helpers
// ---------------------------------------------------------------------------------------------

/// Expected key rows of one category.
fn expected_rows_of(expected: &Table, category: &str) -> Vec<Vec<String>> {
    expected
        .rows_where("category", category)
        .into_iter()
        .map(|row| project(row, &KEY_COLUMNS))
        .collect()
}

fn tenant_id_of(tenant: &str) -> String {
    fixture_json(tenant, "tenant.json")["id"]
        .as_str()
        .expect("tenant.json id")
        .to_ascii_lowercase()
}

fn parse_time(value: &serde_json::Value, what: &str) -> DateTime<FixedOffset> {
    let text = value
        .as_str()
        .unwrap_or_else(|| panic!("plan `{what}` is not a string: {value}"));
    DateTime::parse_from_rfc3339(text).unwrap_or_else(|e| panic!("plan `{what}` {text:?}: {e}"))
}

fn read_plan(run: &AuditRun) -> serde_json::Value {
    let text = std::fs::read_to_string(run.plan_json()).expect("reading plan.json");
    serde_json::from_str(&text).expect("plan.json is JSON")
}

/// All `line N` numbers an error text mentions.
fn line_numbers(text: &str) -> Vec<usize> {
    text.match_indices("line ")
        .filter_map(|(at, _)| {
            let digits: String = text[at + 5..]
                .chars()
                .take_while(char::is_ascii_digit)
                .collect();
            digits.parse().ok()
        })
        .collect()
}

/// Checks that findings.csv of `tenant` holds exactly the expected rows; returns a description
/// of the difference, if any.
fn findings_difference(tenant: &str) -> Option<String> {
    let run = audit(tenant, &[]);
    let actual = sorted(read_findings(&run).project(&KEY_COLUMNS));
    let expected = sorted(read_expected(tenant).project(&KEY_COLUMNS));
    if actual == expected {
        return None;
    }
    let missing: Vec<_> = expected.iter().filter(|r| !actual.contains(r)).collect();
    let extra: Vec<_> = actual.iter().filter(|r| !expected.contains(r)).collect();
    Some(format!(
        "{tenant}: {} rows, expected {}\n  missing: {missing:#?}\n  unexpected: {extra:#?}",
        actual.len(),
        expected.len()
    ))
}

/// Checks drift.xlsx of `tenant` against the expected rows and the CSV header.
fn check_workbook(tenant: &str) {
    let run = audit(tenant, &[]);
    let csv = read_findings(&run);
    let expected = read_expected(tenant);
    let mut workbook = open_xlsx(&run.drift_xlsx());
    assert_eq!(
        workbook.sheet_names(),
        WORKBOOK_SHEETS,
        "{tenant}: sheet names or their order"
    );
    for (category, sheet_name) in CATEGORY_SHEETS {
        let sheet = read_findings_sheet(&mut workbook, sheet_name);
        assert_eq!(
            sheet.header, csv.header,
            "{tenant}: header of sheet `{sheet_name}` differs from the CSV header"
        );
        let wanted = sorted(expected_rows_of(&expected, category));
        assert_eq!(
            sheet.rows.len(),
            wanted.len(),
            "{tenant}: data rows of sheet `{sheet_name}`"
        );
        let actual = sorted(
            sheet
                .rows
                .iter()
                .map(|row| project(row, &KEY_COLUMNS))
                .collect(),
        );
        assert_eq!(actual, wanted, "{tenant}: rows of sheet `{sheet_name}`");
    }
}

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
    assert_eq!(counts, [6, 1, 2, 2, 3], "contoso-notes.md: 6/1/2/2/3");
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
// 2. Formula injection, non-ASCII text, encoding
// ---------------------------------------------------------------------------------------------

#[test]
fn csv_neutralises_a_display_name_that_starts_with_equals() {
    let original = display_name_in(CONTOSO, "users.json", FORMULA_USER);
    assert!(
        original.starts_with('='),
        "fixture changed: {original:?} should start with `=`"
    );
    let run = audit(CONTOSO, &[]);
    let table = read_findings(&run);
    let rows = table.rows_where("user_id", FORMULA_USER);
    assert_eq!(rows.len(), 1, "the formula user has one finding");
    assert_eq!(rows[0]["user_display_name"], format!("'{original}"));
    // No cell of the file may start a formula: everything of that shape is quoted.
    for row in &table.rows {
        for (column, cell) in row {
            assert!(
                !cell.starts_with(['=', '+', '-', '@', '\t', '\r']),
                "findings.csv cell `{column}` = {cell:?} would be read as a formula"
            );
        }
    }
}

#[test]
fn xlsx_keeps_a_display_name_that_starts_with_equals_as_plain_text() {
    let original = display_name_in(CONTOSO, "users.json", FORMULA_USER);
    let run = audit(CONTOSO, &[]);
    let mut workbook = open_xlsx(&run.drift_xlsx());
    let sheet = read_findings_sheet(&mut workbook, "Missing access");
    let user_column = sheet
        .header
        .iter()
        .position(|c| c == "user_display_name")
        .expect("user_display_name column");
    let index = sheet
        .rows
        .iter()
        .position(|row| row["user_id"] == FORMULA_USER)
        .expect("the formula user is on the Missing access sheet");
    assert_eq!(
        sheet.cells[index][user_column],
        Data::String(original.clone()),
        "the Excel cell must be the exact displayName, as a string"
    );
    assert!(
        sheet.rows[index]["detail"].starts_with(&original),
        "the Excel detail keeps the name unquoted: {:?}",
        sheet.rows[index]["detail"]
    );
    // Data row `index` is Excel row `index + 1` (row 0 is the header).
    let formulas = workbook
        .worksheet_formula("Missing access")
        .expect("reading formulas");
    let at = ((index + 1) as u32, user_column as u32);
    assert!(
        formulas.get_value(at).is_none_or(String::is_empty),
        "the cell holds a formula: {:?}",
        formulas.get_value(at)
    );
    // And no sheet holds a formula anywhere.
    for name in workbook.sheet_names() {
        let formulas = workbook.worksheet_formula(&name).expect("reading formulas");
        let found: Vec<&String> = formulas.used_cells().map(|(_, _, f)| f).collect();
        assert!(
            found.iter().all(|f| f.is_empty()),
            "sheet `{name}` has formulas: {found:?}"
        );
    }
}

#[test]
fn non_ascii_names_survive_byte_exact_in_csv_and_xlsx() {
    let run = audit(CONTOSO, &[]);
    let bytes = std::fs::read(run.findings_csv()).expect("reading findings.csv");
    let table = read_findings(&run);
    let mut workbook = open_xlsx(&run.drift_xlsx());
    let mut sheet_rows = Vec::new();
    for (_, name) in CATEGORY_SHEETS {
        sheet_rows.extend(read_findings_sheet(&mut workbook, name).rows);
    }
    for (user_id, name) in NON_ASCII_USERS {
        assert_eq!(
            display_name_in(CONTOSO, "users.json", user_id),
            name,
            "fixture users.json changed"
        );
        assert!(
            bytes
                .windows(name.len())
                .any(|window| window == name.as_bytes()),
            "findings.csv lacks the UTF-8 bytes of {name:?}"
        );
        let rows = table.rows_where("user_id", user_id);
        assert!(!rows.is_empty(), "{name} has no finding");
        for row in rows {
            assert_eq!(row["user_display_name"], name, "CSV display name");
        }
        let in_sheets: Vec<_> = sheet_rows
            .iter()
            .filter(|row| row["user_id"] == user_id)
            .collect();
        assert!(!in_sheets.is_empty(), "{name} is on no findings sheet");
        for row in in_sheets {
            assert_eq!(row["user_display_name"], name, "Excel display name");
        }
    }
    let (group_id, group_name) = EN_DASH_GROUP;
    assert_eq!(
        display_name_in(CONTOSO, "groups.json", group_id),
        group_name
    );
    let csv_rows = table.rows_where("resource_id", group_id);
    assert!(!csv_rows.is_empty());
    for row in csv_rows {
        assert_eq!(row["resource_name"], group_name, "CSV resource name");
    }
    for row in sheet_rows
        .iter()
        .filter(|row| row["resource_id"] == group_id)
    {
        assert_eq!(row["resource_name"], group_name, "Excel resource name");
    }
}

#[test]
fn csv_is_utf8_with_crlf_line_ends() {
    let run = audit(CONTOSO, &[]);
    let bytes = std::fs::read(run.findings_csv()).expect("reading findings.csv");
    let text = String::from_utf8(bytes.clone()).expect("findings.csv is valid UTF-8");
    assert!(text.ends_with("\r\n"), "the last line ends with CRLF");
    for (at, byte) in bytes.iter().enumerate() {
        if *byte == b'\n' {
            assert!(
                at > 0 && bytes[at - 1] == b'\r',
                "a bare LF at byte {at} of findings.csv"
            );
        }
    }
    // No field holds a line break here, so lines = header + one per expected finding.
    let lines = text.matches("\r\n").count();
    assert_eq!(lines, 1 + read_expected(CONTOSO).rows.len());
}

// ---------------------------------------------------------------------------------------------
// 3. drift.xlsx
// ---------------------------------------------------------------------------------------------

#[test]
fn workbook_category_sheets_match_expected_for_every_tenant() {
    check_workbook(CONTOSO);
    for tenant in edge_tenants() {
        check_workbook(&tenant);
    }
}

#[test]
fn summary_sheet_names_the_tenant_and_counts_each_category() {
    let run = audit(CONTOSO, &[]);
    let expected = read_expected(CONTOSO);
    let mut workbook = open_xlsx(&run.drift_xlsx());
    let grid = sheet_grid(&mut workbook, "Summary");
    let texts: Vec<Vec<String>> = grid.iter().map(|row| row_texts(row)).collect();
    let value_of = |label: &str| -> String {
        texts
            .iter()
            .find(|row| row.first().map(String::as_str) == Some(label))
            .and_then(|row| row.get(1).cloned())
            .unwrap_or_else(|| panic!("Summary has no `{label}` row: {texts:#?}"))
    };
    assert_eq!(value_of("Tenant id"), tenant_id_of(CONTOSO));
    assert_eq!(value_of("Findings"), expected.rows.len().to_string());
    for (category, sheet) in CATEGORY_SHEETS {
        let rows = expected.rows_where("category", category);
        let in_plan = rows.iter().filter(|row| row["in_plan"] == "yes").count();
        let index = texts
            .iter()
            .position(|row| row.first().map(String::as_str) == Some(category))
            .unwrap_or_else(|| panic!("Summary has no row for `{category}`"));
        let row = &grid[index];
        assert_eq!(
            row.get(1),
            Some(&Data::Float(rows.len() as f64)),
            "Summary findings count of `{category}`"
        );
        assert_eq!(
            row.get(2),
            Some(&Data::Float(in_plan as f64)),
            "Summary in-plan count of `{category}`"
        );
        assert_eq!(
            texts[index].get(3).map(String::as_str),
            Some(sheet),
            "Summary sheet link of `{category}`"
        );
    }
}

#[test]
fn no_plan_writes_neither_plan_json_nor_plan_sheet() {
    let run = audit(CONTOSO, &["--no-plan"]);
    assert!(run.findings_csv().is_file());
    assert!(!run.plan_json().exists(), "--no-plan still wrote plan.json");
    let mut workbook = open_xlsx(&run.drift_xlsx());
    assert_eq!(workbook.sheet_names(), WORKBOOK_SHEETS[..6]);
    // The findings themselves do not depend on the plan.
    let actual = sorted(read_findings(&run).project(&KEY_COLUMNS));
    assert_eq!(actual, sorted(read_expected(CONTOSO).project(&KEY_COLUMNS)));
    let sheet = read_findings_sheet(&mut workbook, "Missing access");
    assert_eq!(sheet.rows.len(), 6);
}

// ---------------------------------------------------------------------------------------------
// 4. plan.json
// ---------------------------------------------------------------------------------------------

#[test]
fn plan_json_header_tenant_and_default_expiry() {
    let run = audit(CONTOSO, &[]);
    let plan = read_plan(&run);
    assert_eq!(plan["format"], "entra-drift/reprocess-plan");
    assert_eq!(plan["version"], 1);
    let tenant_id = plan["tenant_id"].as_str().expect("tenant_id");
    assert_eq!(tenant_id, tenant_id_of(CONTOSO));
    assert_eq!(tenant_id, tenant_id.to_ascii_lowercase());
    // The run folder is <out>/<tenant id>/<timestamp>.
    assert_eq!(
        run.run_dir.parent().and_then(Path::file_name),
        Some(std::ffi::OsStr::new(tenant_id))
    );
    let created = parse_time(&plan["created"], "created");
    let expires = parse_time(&plan["expires"], "expires");
    assert_eq!(expires - created, Duration::days(7));
    for digest in ["items_digest", "findings_digest"] {
        let text = plan[digest].as_str().expect(digest);
        let hex = text.strip_prefix("sha256:").expect("sha256: prefix");
        assert!(
            hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()),
            "{digest} {text:?}"
        );
    }
}

#[test]
fn plan_expiry_days_sets_the_expiry() {
    let run = audit(CONTOSO, &["--plan-expiry-days", "3"]);
    let plan = read_plan(&run);
    let created = parse_time(&plan["created"], "created");
    let expires = parse_time(&plan["expires"], "expires");
    assert_eq!(expires - created, Duration::days(3));
}

#[test]
fn plan_items_are_the_expected_in_plan_rows_per_assignment() {
    let run = audit(CONTOSO, &[]);
    let plan = read_plan(&run);
    let expected = read_expected(CONTOSO);

    type Roles = BTreeSet<(String, String, String)>;
    let mut wanted: BTreeMap<String, (String, String, Roles)> = BTreeMap::new();
    for row in expected.rows_where("in_plan", "yes") {
        assert_eq!(
            row["category"], "missing_access",
            "only missing access is planned"
        );
        let entry = wanted
            .entry(row["assignment_id"].clone())
            .or_insert_with(|| {
                (
                    row["access_package_id"].clone(),
                    row["user_id"].clone(),
                    Roles::new(),
                )
            });
        entry.2.insert((
            row["resource_type"].clone(),
            row["resource_id"].clone(),
            row["role"].clone(),
        ));
    }
    assert_eq!(
        wanted.len(),
        4,
        "contoso-notes.md: four planned assignments"
    );

    let items = plan["items"].as_array().expect("items array");
    let mut actual: BTreeMap<String, (String, String, Roles)> = BTreeMap::new();
    for item in items {
        let text = |key: &str| item[key].as_str().unwrap_or_default().to_string();
        let roles: Vec<(String, String, String)> = item["missing_roles"]
            .as_array()
            .expect("missing_roles array")
            .iter()
            .map(|role| {
                let text = |key: &str| role[key].as_str().unwrap_or_default().to_string();
                (text("resource_type"), text("resource_id"), text("role"))
            })
            .collect();
        let role_set: Roles = roles.iter().cloned().collect();
        assert_eq!(role_set.len(), roles.len(), "a role listed twice: {item}");
        let previous = actual.insert(
            text("assignment_id"),
            (text("access_package_id"), text("user_id"), role_set),
        );
        assert!(
            previous.is_none(),
            "two plan items for one assignment: {item}"
        );
    }
    assert_eq!(actual, wanted);
}

#[test]
fn plan_items_digest_is_over_the_items_as_written() {
    let run = audit(CONTOSO, &[]);
    let text = std::fs::read_to_string(run.plan_json()).expect("reading plan.json");
    let plan: serde_json::Value = serde_json::from_str(&text).expect("plan.json is JSON");
    let stated = plan["items_digest"].as_str().expect("items_digest");

    // Independently of the library: sha256 of the compact `items` text in file order.
    let items_text = compact_top_level_value(&text, "items");
    assert!(items_text.starts_with('[') && items_text.ends_with(']'));
    let recomputed = format!(
        "sha256:{}",
        hex::encode(Sha256::digest(items_text.as_bytes()))
    );
    assert_eq!(stated, recomputed, "items_digest over the items as written");

    // Through the library's own types, as `apply` would check it.
    let items: Vec<entra_drift::plan::PlanItem> =
        serde_json::from_value(plan["items"].clone()).expect("items deserialise as PlanItem");
    assert_eq!(stated, entra_drift::plan::items_digest(&items));

    // A changed item must change the digest.
    let mut changed = items.clone();
    changed[0].missing_roles.pop();
    assert_ne!(stated, entra_drift::plan::items_digest(&changed));
}

#[test]
fn plan_sheet_lists_the_plan_assignments() {
    let run = audit(CONTOSO, &[]);
    let plan = read_plan(&run);
    let from_json: BTreeSet<String> = plan["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|item| item["assignment_id"].as_str().expect("id").to_string())
        .collect();
    let from_expected: BTreeSet<String> = read_expected(CONTOSO)
        .rows_where("in_plan", "yes")
        .into_iter()
        .map(|row| row["assignment_id"].clone())
        .collect();
    assert_eq!(from_json, from_expected);

    let mut workbook = open_xlsx(&run.drift_xlsx());
    let grid = sheet_grid(&mut workbook, "Plan");
    let header = row_texts(&grid[0]);
    let column = header
        .iter()
        .position(|c| c == "assignment_id")
        .expect("Plan sheet assignment_id column");
    let in_sheet: Vec<String> = grid[1..]
        .iter()
        .map(|row| row.get(column).map(cell_text).unwrap_or_default())
        .filter(|id| !id.is_empty())
        .collect();
    assert_eq!(in_sheet.len(), from_json.len(), "one Plan row per item");
    assert_eq!(in_sheet.into_iter().collect::<BTreeSet<_>>(), from_json);
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

// ---------------------------------------------------------------------------------------------
// 8. Excel sheet splitting (library call with a tiny row limit)
// ---------------------------------------------------------------------------------------------

#[test]
fn categories_continue_on_numbered_sheets_past_the_row_limit() {
    use entra_drift::report::{write_workbook, WorkbookInput};
    use entra_drift::tenant_dir::TenantDir;

    const MAX: usize = 2;
    let snapshot = TenantDir::read(&fixture(CONTOSO))
        .expect("reading contoso")
        .to_snapshot()
        .expect("contoso snapshot");
    let findings = entra_drift::audit::audit(&snapshot.tables).expect("audit");
    let summary = entra_drift::audit::summary::summarise(&findings).expect("summary");
    let dir = tempfile::tempdir().expect("temporary folder");
    let path = dir.path().join("split.xlsx");
    write_workbook(
        &path,
        &WorkbookInput {
            info: &snapshot.info,
            generated_at: chrono::Utc::now(),
            findings: &findings,
            summary: &summary,
            plan: None,
            max_data_rows: MAX,
        },
    )
    .expect("writing the workbook");

    let expected = read_expected(CONTOSO);
    // The sheet layout follows from the expected counts alone: ceil(count / MAX) parts, at
    // least one, the first unnumbered.
    let mut wanted_sheets = vec!["Summary".to_string()];
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
            assert_eq!(&sheet.header[..7], REQUIRED_COLUMNS, "header of `{name}`");
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
        .find(|row| row.first().map(String::as_str) == Some("missing_access"))
        .expect("Summary row for missing_access");
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
