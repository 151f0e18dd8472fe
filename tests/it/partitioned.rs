//! Reading assignments at scale (issue 15): the partitioned read returns exactly the chain's
//! assignments, and reads are paced to the resource-unit budget before Graph throttles them.

use std::path::{Path, PathBuf};

use polars::prelude::*;

use crate::common::generate_small;
use crate::support::fake_graph::{rows, run_dir, truth_rows, Fake, SECRET};

/// A stored live snapshot: its assignments (sorted by id) and its manifest's `graph` object.
fn stored(dir: &Path) -> (DataFrame, serde_json::Value) {
    let (snapshot, _) = entra_drift::snapshot::store::read(dir).expect("a stored snapshot");
    let assignments = snapshot
        .tables
        .assignments
        .sort(["assignment_id"], SortMultipleOptions::default())
        .unwrap();
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("snapshot.json")).unwrap()).unwrap();
    (assignments, manifest["graph"].clone())
}

fn snapshot_with(fake: &Fake, out: &Path, extra: &[&str]) -> PathBuf {
    let mut args = vec!["snapshot", "--out", out.to_str().unwrap()];
    args.extend_from_slice(extra);
    run_dir(&fake.run(&args, SECRET))
}

/// `audit <extra> --out OUT` against the fake: the run folder.
fn audit_with(fake: &Fake, out: &Path, extra: &[&str]) -> PathBuf {
    let mut args = vec!["audit"];
    args.extend_from_slice(extra);
    args.extend_from_slice(&["--out", out.to_str().unwrap()]);
    run_dir(&fake.run(&args, SECRET))
}

/// The `graph` object of a live audit's stored snapshot.
fn graph_of(run: &Path) -> serde_json::Value {
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(run.join("snapshot").join("snapshot.json")).unwrap())
            .unwrap();
    manifest["graph"].clone()
}

fn small_tenant(dir: &Path) -> PathBuf {
    let tenant = dir.join("tenant");
    generate_small(&tenant, "15");
    tenant
}

#[test]
fn the_partitioned_read_returns_exactly_the_chain_s_assignments() {
    let work = tempfile::tempdir().unwrap();
    let tenant = small_tenant(work.path());
    // Short pages, so that both the chain and the larger packages' partitions page, and the
    // package list too: partitions are read while it still pages.
    let fake = Fake::start(tenant.to_str().unwrap(), |config| {
        config.assignment_page_size = 7;
        config.page_size = 7;
    });
    let chain = snapshot_with(
        &fake,
        &work.path().join("chain"),
        &["--assignment-read", "chain"],
    );
    let before = fake.server().stats();
    let partitioned = snapshot_with(
        &fake,
        &work.path().join("partitioned"),
        &["--assignment-read", "partitioned"],
    );
    let after = fake.server().stats();

    let (chain_rows, chain_graph) = stored(&chain);
    let (partitioned_rows, partitioned_graph) = stored(&partitioned);
    assert!(chain_rows.height() > 1_000, "{}", chain_rows.height());
    assert!(
        chain_rows.equals_missing(&partitioned_rows),
        "the two reads differ:\n{chain_rows}\n{partitioned_rows}"
    );
    assert_eq!(chain_graph["assignment_read"], "chain (--assignment-read)");
    assert_eq!(
        partitioned_graph["assignment_read"],
        "partitioned (--assignment-read)"
    );
    // One filtered list per package, 20 to a `$batch`.
    let packages = std::fs::read_to_string(tenant.join("accessPackages.json")).unwrap();
    let packages = serde_json::from_str::<serde_json::Value>(&packages).unwrap();
    let count = packages["value"]
        .as_array()
        .or(packages.as_array())
        .map(Vec::len)
        .unwrap() as u64;
    assert!(
        after.batch_inner_requests - before.batch_inner_requests >= count,
        "{count} packages, {} inner requests",
        after.batch_inner_requests - before.batch_inner_requests
    );

    // And the audit of the partitioned read is the generator's ground truth, exactly.
    let run = audit_with(
        &fake,
        &work.path().join("audit"),
        &["--assignment-read", "partitioned"],
    );
    assert_eq!(
        truth_rows(&run.join("findings.csv")),
        truth_rows(&tenant.join("ground-truth.csv"))
    );
}

#[test]
fn auto_keeps_the_chain_for_a_small_tenant() {
    let work = tempfile::tempdir().unwrap();
    let tenant = small_tenant(work.path());
    let fake = Fake::start(tenant.to_str().unwrap(), |_| {});
    let (_, graph) = stored(&snapshot_with(&fake, &work.path().join("out"), &[]));
    let how = graph["assignment_read"].as_str().unwrap();
    assert!(how.starts_with("chain"), "{how}");
}

#[test]
fn a_failed_partition_fails_the_read_instead_of_dropping_its_assignments() {
    let work = tempfile::tempdir().unwrap();
    let tenant = small_tenant(work.path());
    // The second page of any assignment list fails for good: only the packages with more
    // than 7 delivered assignments are hit, so a lost partition would go unnoticed in counts.
    let faults = serde_json::json!({"server_errors": [{
        "path": "identityGovernance/entitlementManagement/assignments", "status": 400, "page": 2
    }]});
    let fake = Fake::start(tenant.to_str().unwrap(), move |config| {
        config.faults = Some(serde_json::from_value(faults).unwrap());
        config.assignment_page_size = 7;
    });
    let out = work.path().join("out");
    let output = fake.run(
        &[
            "audit",
            "--assignment-read",
            "partitioned",
            "--out",
            out.to_str().unwrap(),
        ],
        SECRET,
    );
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("assignments"), "{stderr}");
    assert!(
        !out.exists() || std::fs::read_dir(&out).unwrap().next().is_none(),
        "nothing is written"
    );
}

/// A budget of 60 RU per 2 s on fake-graph and on the client's window alike: the small
/// tenant's read (over 100 RU) outgrows it, and its largest batch (20 reads of 2 RU) fits it.
const BUDGET: u64 = 60;
const WINDOW_MS: &str = "2000";

fn paced_fake(tenant: &Path) -> Fake {
    Fake::start(tenant.to_str().unwrap(), |config| {
        config.throttle_ru = Some(BUDGET);
        config.throttle_window_ms = 2_000;
    })
}

#[test]
fn a_given_budget_paces_reads_so_that_nothing_is_throttled() {
    let work = tempfile::tempdir().unwrap();
    let tenant = small_tenant(work.path());
    let offline = run_dir(
        &crate::common::entra_drift()
            .args(["-q", "audit", "--tenant-dir"])
            .arg(&tenant)
            .arg("--out")
            .arg(work.path().join("offline"))
            .output()
            .unwrap(),
    );
    let fake = paced_fake(&tenant);
    let run = audit_with(
        &fake,
        &work.path().join("out"),
        &[
            "--ru-budget",
            &BUDGET.to_string(),
            "--ru-window-ms",
            WINDOW_MS,
            "--assignment-read",
            "partitioned",
        ],
    );
    let stats = fake.server().stats();
    assert!(
        stats.resource_units > BUDGET * 3 / 2,
        "the read must outgrow the budget to test pacing: {stats:?}"
    );
    assert_eq!(stats.throttled, 0, "{stats:?}");
    let graph = &graph_of(&run);
    assert_eq!(graph["throttled"], 0);
    assert!(graph["paced_wait_ms"].as_u64().unwrap() > 0, "{graph}");
    assert_eq!(graph["ru_budget"], BUDGET);
    assert_eq!(
        rows(&run.join("findings.csv")),
        rows(&offline.join("findings.csv"))
    );
}

#[test]
fn the_budget_is_learned_from_graph_s_warning_header_and_throttling_is_counted_right() {
    let work = tempfile::tempdir().unwrap();
    let tenant = small_tenant(work.path());
    let fake = paced_fake(&tenant);
    let run = audit_with(
        &fake,
        &work.path().join("out"),
        &[
            "--ru-window-ms",
            WINDOW_MS,
            // One request in flight: here a batch is a third of the budget, while at Graph's
            // scale the requests in flight are a few percent of it.
            "--concurrency",
            "1",
            "--assignment-read",
            "partitioned",
        ],
    );
    let stats = fake.server().stats();
    let graph = &graph_of(&run);
    assert!(graph["throttle_warnings"].as_u64().unwrap() > 0, "{graph}");
    let learned = graph["ru_budget"].as_u64().expect("a learned budget");
    // Never above the real budget (each estimate is a lower bound), and not far below it.
    assert!(
        (BUDGET / 2..=BUDGET * 105 / 100).contains(&learned),
        "learned {learned} RU for a budget of {BUDGET}"
    );
    // Whatever was throttled before the budget was known is counted as the server counted it.
    assert_eq!(
        graph["throttled"].as_u64(),
        Some(stats.throttled),
        "{graph}"
    );
    // Only before the first warning can a request be throttled: with one in flight, that is
    // at most the parts of one batch.
    assert!(
        stats.throttled <= 20,
        "pacing, not throttling: {} throttled; {graph}",
        stats.throttled
    );
    assert_eq!(
        truth_rows(&run.join("findings.csv")),
        truth_rows(&tenant.join("ground-truth.csv"))
    );
}
