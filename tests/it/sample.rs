//! The bundled sample (`fixtures/contoso`, its configuration, exceptions register and last
//! week's committed run): the README's first command shows causes, a retry, a directory role,
//! an exception and a trend, and the committed history is what the code writes today.

use std::path::{Path, PathBuf};

use crate::common::{copy_tree, fixture, project_root, read_csv};
use crate::support::scheduled::{entra_drift_at, run, tenant_folder, CONTOSO_ID};

/// The sample's recording time (`recordedAt` of fixtures/contoso/tenant.json).
const RECORDED: &str = "2026-11-30T12:00:00Z";
const LAST_WEEK: &str = "2026-11-23T12:00:00Z";
const LAST_WEEK_RUN: &str = "20261123T120000Z";

fn committed_history() -> PathBuf {
    project_root().join("reports").join(CONTOSO_ID)
}

/// `out` holding the committed history only: last week's run and its row of `index.csv`
/// (running the README's first command in the clone appends its own run to both).
fn seed_history(out: &Path) {
    let tenant = out.join(CONTOSO_ID);
    let committed = committed_history();
    copy_tree(&committed.join(LAST_WEEK_RUN), &tenant.join(LAST_WEEK_RUN));
    let index = std::fs::read_to_string(committed.join("index.csv")).unwrap();
    let mut lines = index.lines();
    let header = lines.next().unwrap();
    let row = lines
        .find(|line| line.starts_with(&format!("{LAST_WEEK_RUN},")))
        .expect("the committed run is in index.csv");
    std::fs::write(tenant.join("index.csv"), format!("{header}\n{row}\n")).unwrap();
}

/// The README's first command, with its output root in `out` (seeded with the committed history).
fn first_audit(out: &Path, now: &str) -> (PathBuf, String) {
    seed_history(out);
    let output = run(entra_drift_at(now)
        .current_dir(project_root())
        .args(["audit", "--config", "fixtures/contoso.toml", "--out"])
        .arg(out));
    assert_eq!(output.code, Some(0), "{}", output.stderr);
    (PathBuf::from(output.stdout.trim()), output.stderr)
}

/// One line per finding: what a reviewer reads first.
fn digest(run: &Path) -> String {
    let table = read_csv(&run.join("findings.csv"));
    let mut lines: Vec<String> = table
        .rows
        .iter()
        .map(|r| {
            [
                "category",
                "user_display_name",
                "resource_type",
                "resource_name",
                "status",
                "days_open",
                "in_plan",
                "plan_skip_reason",
                "cause",
                "cause_actor",
                "cause_time",
                "exception",
            ]
            .iter()
            .map(|c| r.get(*c).cloned().unwrap_or_default())
            .collect::<Vec<_>>()
            .join(" | ")
        })
        .collect();
    lines.sort();
    lines.join("\n")
}

#[test]
fn the_samples_first_audit_shows_causes_a_retry_a_role_an_exception_and_a_trend() {
    let out = tempfile::tempdir().unwrap();
    // A week after the recording: days open count from last week's run to today.
    let (run, stderr) = first_audit(out.path(), "2026-12-07T08:00:00Z");
    assert!(
        stderr.contains("Since 20261123T120000Z: 3 new, 14 persisting, 1 resolved"),
        "{stderr}"
    );
    assert!(
        stderr.contains("Audit log: read from 2026-10-31T12:00:00Z to 2026-11-30T12:00:00Z"),
        "the log window ends at the recording, not at the read: {stderr}"
    );
    insta::assert_snapshot!("sample_findings", digest(&run));

    let resolved = read_csv(&run.join("resolved.csv"));
    let names: Vec<&str> = resolved
        .rows
        .iter()
        .map(|r| r["user_display_name"].as_str())
        .collect();
    assert_eq!(names, ["Adele Vance"], "Adele's membership came back");
    let index = read_csv(&tenant_folder(out.path()).join("index.csv"));
    assert_eq!(index.rows.len(), 2, "the trend has two weeks");
    let plan: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("plan.json")).unwrap()).unwrap();
    let retries: Vec<&str> = plan["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["kind"] == "request_reprocess")
        .map(|i| i["assignment_id"].as_str().unwrap())
        .collect();
    assert_eq!(
        retries,
        ["ea0332c6-aa29-4409-84c0-182660ca9382"],
        "Joni's failed delivery is retried through its latest request"
    );
}

#[test]
fn a_recorded_tenant_reads_as_of_its_recording_whenever_it_is_audited() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (early, _) = first_audit(a.path(), "2026-12-01T00:00:00Z");
    let (late, _) = first_audit(b.path(), "2027-06-01T00:00:00Z");
    let columns = |run: &Path| {
        let table = read_csv(&run.join("findings.csv"));
        table
            .rows
            .iter()
            .map(|r| {
                let mut row = r.clone();
                // Only the age depends on the day of the read: when the tool first saw a
                // finding, and for how long it has been open.
                row.remove("days_open");
                row.remove("first_seen");
                let mut cells: Vec<_> = row.into_iter().collect();
                cells.sort();
                cells
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(columns(&early), columns(&late));
}

#[test]
fn the_committed_history_is_what_the_code_writes() {
    let out = tempfile::tempdir().unwrap();
    let output = run(entra_drift_at(LAST_WEEK)
        .current_dir(project_root())
        .args(["-q", "audit", "--tenant-dir", "fixtures/contoso-last-week"])
        .args(["--exceptions", "fixtures/contoso-exceptions.toml", "--out"])
        .arg(out.path()));
    assert_eq!(output.code, Some(0), "{}", output.stderr);
    let written = PathBuf::from(output.stdout.trim());
    let committed = committed_history().join(LAST_WEEK_RUN);
    for file in ["findings.csv", "exceptions.csv", "summary.md"] {
        assert_eq!(
            std::fs::read_to_string(written.join(file)).unwrap(),
            std::fs::read_to_string(committed.join(file)).unwrap(),
            "reports/{CONTOSO_ID}/20261123T120000Z/{file} is stale: run reports/sample-history.sh"
        );
    }
}

#[test]
fn a_recording_time_that_is_not_rfc_3339_is_an_error_naming_tenant_json() {
    let dir = tempfile::tempdir().unwrap();
    let tenant = dir.path().join("t");
    copy_tree(&fixture("contoso"), &tenant);
    let path = tenant.join("tenant.json");
    let mut info: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    info["recordedAt"] = serde_json::json!("last Monday");
    std::fs::write(&path, info.to_string()).unwrap();
    let output = run(entra_drift_at(RECORDED)
        .args(["audit", "--tenant-dir"])
        .arg(&tenant)
        .arg("--out")
        .arg(dir.path().join("out")));
    assert_eq!(output.code, Some(1), "{}", output.stderr);
    assert!(
        output.stderr.contains("tenant.json") && output.stderr.contains("recordedAt"),
        "{}",
        output.stderr
    );
    assert!(!dir.path().join("out").exists(), "nothing is written");
}
