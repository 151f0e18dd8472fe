//! Scheduled audits (issue 5): history and trends across runs.
//!
//! Every test runs the real binary in a temporary `--out`, with the clock fixed by
//! `ENTRA_DRIFT_NOW`, and reads the reports back with `csv` and `calamine`; expectations come
//! from `tests/expected/trend-*.csv` (see `trend-notes.md`) and the contoso notes.

use std::path::Path;

use crate::common::*;
use crate::support::scheduled::*;
use calamine::{Data, Reader};

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
            "Read me",
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
            "Missing access",
            "Resource not found",
            "Unverifiable",
            "Not delivered",
            "Access without assignment",
            "Total",
            "New",
            "Resolved",
            "Excepted",
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
    assert_eq!(
        sheet.header,
        crate::support::audit_helpers::sheet_header_for(&csv.header)
    );
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
    assert_eq!(resolved.rows[0]["Resolved on"], "2026-11-15");
    assert_eq!(resolved.rows[0]["days_open"], "14");
}

#[test]
fn runs_on_one_day_are_one_observation_and_the_next_day_persists() {
    let out = tempfile::tempdir().unwrap();
    let contoso = fixture("contoso-core");
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
