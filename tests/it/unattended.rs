//! Scheduled audits (issue 5): retention, the per-tenant lock, and logs without a terminal.
//!
//! Every test runs the real binary in a temporary `--out`, with the clock fixed by
//! `ENTRA_DRIFT_NOW`, and reads the reports back with `csv` and `calamine`; expectations come
//! from `tests/expected/trend-*.csv` (see `trend-notes.md`) and the contoso notes.

use std::path::{Path, PathBuf};

use crate::common::*;
use crate::support::scheduled::*;

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
    // This test process, on this host, holding the lock: exactly what a running audit is.
    let lock = write_lock(
        &tenant,
        std::process::id(),
        &entra_drift::lock::host_name(),
        "2026-12-01T00:00:00Z",
    );
    let before = std::fs::read(&lock).unwrap();
    // A running audit holds the file's OS lock for as long as it runs.
    let held = std::fs::File::open(&lock).unwrap();
    held.lock().unwrap();
    let output = audit_at(
        &fixture("contoso-core"),
        out.path(),
        "2026-12-01T01:00:00Z",
        &[],
    );
    drop(held);
    assert_eq!(output.code, Some(1));
    assert!(
        output.stderr.contains("an audit of this tenant"),
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
    let output = audit_at(
        &fixture("contoso-core"),
        out.path(),
        "2026-12-01T01:00:00Z",
        &[],
    );
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
        &fixture("contoso-core"),
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
        &fixture("contoso-core"),
        out.path(),
        "2026-12-01T07:00:00Z",
        &["--lock-max-age-hours", "6"],
    );
    run_dir_of(&taken, out.path());
    assert!(taken.stderr.contains("stale lock"), "{}", taken.stderr);
}

#[test]
fn overlapping_live_runs_of_one_tenant_cannot_both_run() {
    let fake =
        crate::support::fake_graph::Fake::start("contoso-core", |config| config.latency_ms = 250);
    let out = tempfile::tempdir().unwrap();
    let tenant = out
        .path()
        .join(fake.server().tenant_id.to_ascii_lowercase());
    let first = fake
        .command(
            &["audit", "--out", out.path().to_str().unwrap()],
            crate::support::fake_graph::SECRET,
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
            crate::support::fake_graph::SECRET,
        )
        .output()
        .unwrap();
    let first = first.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert_eq!(second.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("an audit of this tenant"), "{stderr}");
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
    let output = audit_at(
        &fixture("contoso-core"),
        out.path(),
        "2026-12-01T00:00:00Z",
        &[],
    );
    assert!(
        output.stderr.contains("ENTRA_DRIFT_NOW"),
        "{}",
        output.stderr
    );
    assert!(!output.stderr.contains('\u{1b}'), "{:?}", output.stderr);
    let json = run(entra_drift_at("2026-12-01T00:00:00Z")
        .args(["-q", "--log-format", "json", "audit", "--tenant-dir"])
        .arg(fixture("contoso-core"))
        .arg("--out")
        .arg(out.path()));
    assert_eq!(json.code, Some(0));
    assert!(json.stderr.is_empty(), "-q: errors only: {}", json.stderr);
}
