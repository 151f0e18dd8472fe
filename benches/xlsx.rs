//! Excel writing benchmark: a findings table with ROWS `missing_access` rows (default
//! 1,100,000: past Excel's sheet limit, so it continues on a second sheet) written through the
//! real report writer. Prints `rows,seconds` on stdout; run it under `/usr/bin/time -v` (as
//! benches/run.py does) for peak memory.
//!
//! `cargo bench --bench xlsx -- 1100000`

use std::time::Instant;

use chrono::Utc;
use entra_drift::audit::{col, summary};
use entra_drift::report::{write_workbook, WorkbookInput, EXCEL_MAX_ROWS};
use entra_drift::snapshot::SnapshotInfo;
use polars::prelude::*;

fn main() {
    let rows: usize = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with('-'))
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_100_000);
    let findings = frame(rows);
    let summary = summary::summarise(&findings).expect("summary");
    let info = SnapshotInfo {
        tenant_id: "00000000-0000-4000-8000-000000000001".into(),
        tenant_name: Some("Benchmark".into()),
        taken_at: Utc::now(),
        source: "benches/xlsx.rs".into(),
    };
    // Resident memory with the findings table built, before writing: the writer's own cost
    // is the peak minus this.
    let before = status_mib("VmRSS");
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("drift.xlsx");
    let waiting = entra_drift::report::words::waiting(&findings, None).expect("waiting");
    let started = Instant::now();
    write_workbook(
        &path,
        &WorkbookInput {
            run: "test-run".to_string(),
            info: &info,
            generated_at: Utc::now(),
            findings: &findings,
            summary: &summary,
            plan: None,
            max_data_rows: EXCEL_MAX_ROWS - 1,
            rows: None,
            waiting: &waiting,
        },
    )
    .expect("workbook written");
    let seconds = started.elapsed().as_secs_f64();
    let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    let peak = status_mib("VmHWM");
    println!("{rows},{seconds:.3},{size},{before:.1},{peak:.1}");
}

/// A findings frame shaped like the audit's, every row a distinct missing access.
fn frame(rows: usize) -> DataFrame {
    let text = |prefix: &str| -> Column {
        Column::new(
            prefix.into(),
            (0..rows)
                .map(|i| format!("{prefix}-{i:08}"))
                .collect::<Vec<_>>(),
        )
    };
    let constant = |name: &str, value: &str| Column::new(name.into(), vec![value; rows]);
    let columns: Vec<Column> = col::ALL
        .iter()
        .map(|name| match *name {
            col::CATEGORY => constant(name, "missing_access"),
            col::RESOURCE_TYPE => constant(name, "group"),
            col::ROLE => constant(name, "member"),
            col::IN_PLAN => constant(name, "yes"),
            col::USER_ENABLED => constant(name, "yes"),
            col::STATE => constant(name, "delivered"),
            col::REASON => constant(name, "not_held"),
            col::SKIP_REASON => constant(name, ""),
            col::DETAIL => constant(
                name,
                "User lacks member of group Finance, which package Finance access delivers",
            ),
            other => text(other),
        })
        .collect();
    DataFrame::new(rows, columns).expect("frame")
}

/// A memory figure of this process from /proc/self/status, in MiB (0 where unavailable).
fn status_mib(field: &str) -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|text| {
            text.lines()
                .find(|line| line.starts_with(field))
                .and_then(|line| line.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map_or(0.0, |kib| kib / 1024.0)
}
