//! The generator's tenants against their ground truth: the audit must find exactly the drift
//! that was injected — offline, from a stored snapshot, and live through fake-graph.

use std::path::Path;

use crate::support::fake_graph::*;
use assert_cmd::Command;

fn generate(out: &Path, seed: &str, format: &str) {
    let output = Command::cargo_bin("entra-drift")
        .unwrap()
        .args([
            "-q", "generate", "--size", "small", "--seed", seed, "--format", format, "--out",
        ])
        .arg(out)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

fn audit(source: &[&str], out: &Path) -> std::collections::BTreeSet<TruthRow> {
    let output = Command::cargo_bin("entra-drift")
        .unwrap()
        .args(["-q", "audit"])
        .args(source)
        .arg("--out")
        .arg(out)
        .output()
        .unwrap();
    truth_rows(&run_dir(&output).join("findings.csv"))
}

#[test]
fn the_audit_of_a_small_tenant_equals_its_ground_truth() {
    let work = tempfile::tempdir().unwrap();
    let tenant = work.path().join("tenant");
    generate(&tenant, "11", "tenant-dir");
    let truth = truth_rows(&tenant.join("ground-truth.csv"));
    let categories: std::collections::BTreeSet<&str> =
        truth.iter().map(|r| r[0].as_str()).collect();
    assert_eq!(
        categories.len(),
        5,
        "every category is injected: {categories:?}"
    );
    assert!(
        truth
            .iter()
            .any(|r| r[0] == "missing_access" && r[7] == "no"),
        "a disabled user's missing access"
    );
    let found = audit(
        &["--tenant-dir", tenant.to_str().unwrap()],
        &work.path().join("out"),
    );
    assert_eq!(found, truth);

    let snapshot = work.path().join("snapshot");
    generate(&snapshot, "11", "snapshot");
    assert_eq!(
        truth_rows(&snapshot.join("ground-truth.csv")),
        truth,
        "the same seed gives the same tenant"
    );
    assert_eq!(
        audit(
            &["--snapshot", snapshot.to_str().unwrap()],
            &work.path().join("out")
        ),
        truth
    );

    let other = work.path().join("other");
    generate(&other, "12", "tenant-dir");
    assert_ne!(
        truth_rows(&other.join("ground-truth.csv")),
        truth,
        "another seed, another tenant"
    );
}

#[test]
fn a_generated_tenant_served_by_fake_graph_audits_to_its_ground_truth() {
    let work = tempfile::tempdir().unwrap();
    let tenant = work.path().join("tenant");
    generate(&tenant, "5", "tenant-dir");
    // Graph throttled to a budget, SharePoint throttling twice, pages of at most 20.
    let fake = Fake::start(tenant.to_str().unwrap(), |config| {
        config.throttle_ru = Some(400);
        config.max_page_size = Some(20);
        config.faults = Some(
            serde_json::from_value(
                serde_json::json!({"sharepoint_throttle": {"count": 2, "retry_after": 1}}),
            )
            .unwrap(),
        );
    });
    let out = work.path().join("out");
    // A certificate: SharePoint refuses a secret's token, and the site roles are part of the
    // ground truth.
    let pfx = crate::support::fake_graph::app_certificate(work.path());
    let output = fake
        .command_with_certificate(&["-q", "audit", "--out", out.to_str().unwrap()], &pfx)
        .output()
        .unwrap();
    assert_eq!(
        truth_rows(&run_dir(&output).join("findings.csv")),
        truth_rows(&tenant.join("ground-truth.csv"))
    );
    let stats = fake.server().stats();
    assert_eq!(stats.sharepoint_throttled, 2, "{stats:?}");
    assert!(
        fake.server()
            .sharepoint_requests()
            .iter()
            .any(|(_, path, _)| path.contains("skiptoken")),
        "site groups were paged"
    );
    let truth = truth_rows(&tenant.join("ground-truth.csv"));
    assert!(
        truth
            .iter()
            .any(|r| r[0] == "missing_access" && r[4] == "sharepoint_site"),
        "site drift is injected"
    );
}

#[test]
fn generate_refuses_a_folder_that_is_not_empty() {
    let work = tempfile::tempdir().unwrap();
    std::fs::write(work.path().join("keep.txt"), "x").unwrap();
    let output = Command::cargo_bin("entra-drift")
        .unwrap()
        .args(["generate", "--size", "small", "--out"])
        .arg(work.path())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(work.path().join("keep.txt").exists());
}
