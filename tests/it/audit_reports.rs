//! The offline audit's reports read back: formula injection and text in CSV and Excel, the
//! workbook's sheets, and plan.json (issue 2).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use calamine::{Data, Reader};
use chrono::Duration;
use sha2::{Digest, Sha256};

use crate::common::*;
use crate::support::audit_helpers::*;

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
            .position(|row| row.first().map(String::as_str) == Some(sheet))
            .unwrap_or_else(|| panic!("Summary has no row for `{sheet}`"));
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
    assert_eq!(workbook.sheet_names(), WORKBOOK_SHEETS[..7]);
    // The findings themselves do not depend on the plan; without one, no access without
    // assignment is in a plan.
    let actual = sorted(read_findings(&run).project(&KEY_COLUMNS));
    let mut expected = read_expected(CONTOSO);
    for row in expected.rows.iter_mut() {
        if row["category"] == "access_without_assignment" {
            row.insert("in_plan".into(), "no".into());
        }
    }
    assert_eq!(actual, sorted(expected.project(&KEY_COLUMNS)));
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
    assert_eq!(plan["version"], 4);
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
        // Access without assignment has items of its own (by `item_id`).
        if row["category"] == "access_without_assignment" {
            continue;
        }
        assert_eq!(
            row["category"], "missing_access",
            "only missing access is planned by assignment"
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
        "contoso-core-notes.md: four planned assignments"
    );

    let items = plan["items"].as_array().expect("items array");
    let mut actual: BTreeMap<String, (String, String, Roles)> = BTreeMap::new();
    // Each access without assignment is an item of its own (no assignment; a reviewer decides).
    let (access, items): (Vec<_>, Vec<_>) = items.iter().partition(|i| i.get("item_id").is_some());
    let unexplained = read_expected(CONTOSO)
        .rows_where("category", "access_without_assignment")
        .len();
    assert_eq!(
        access.len(),
        unexplained,
        "one item per access without assignment"
    );
    for item in &access {
        assert_eq!(item["action"], "decide", "{item}");
        assert_eq!(item["assignment_id"], "", "{item}");
    }
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
        .filter(|item| item.get("item_id").is_none())
        .map(|item| item["assignment_id"].as_str().expect("id").to_string())
        .collect();
    let from_expected: BTreeSet<String> = read_expected(CONTOSO)
        .rows_where("in_plan", "yes")
        .into_iter()
        .filter(|row| row["category"] != "access_without_assignment")
        .map(|row| row["assignment_id"].clone())
        .collect();
    assert_eq!(from_json, from_expected);

    let mut workbook = open_xlsx(&run.drift_xlsx());
    let grid = sheet_grid(&mut workbook, "Plan");
    let header = row_texts(&grid[0]);
    let column = header
        .iter()
        .position(|c| c == "Assignment id")
        .expect("Plan sheet Assignment id column");
    let in_sheet: Vec<String> = grid[1..]
        .iter()
        .map(|row| row.get(column).map(cell_text).unwrap_or_default())
        .filter(|id| !id.is_empty())
        .collect();
    assert_eq!(
        in_sheet.len(),
        from_json.len(),
        "one Plan row per assignment item"
    );
    assert_eq!(in_sheet.into_iter().collect::<BTreeSet<_>>(), from_json);
}
