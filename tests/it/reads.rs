//! Reads that cannot be fooled, live against fake-graph (issue 10): expanded collections read
//! to completion, links followed only on the Graph origin (the token stays home), permanent
//! transport failures fail in seconds.

use std::collections::BTreeSet;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::support::fake_graph::*;
use assert_cmd::Command;
use fake_graph::{FakeConfig, Faults};

fn findings(output: &std::process::Output) -> BTreeSet<Row> {
    rows(&run_dir(output).join("findings.csv"))
}

fn stderr(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// The largest package of a generated tenant (id, number of scopes).
fn largest_package(tenant: &Path) -> (String, usize) {
    let packages: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(tenant.join("accessPackages.json")).unwrap())
            .unwrap();
    packages["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["id"].as_str().unwrap().to_string(),
                p["resourceRoleScopes"].as_array().unwrap().len(),
            )
        })
        .max_by_key(|(_, n)| *n)
        .unwrap()
}

#[test]
fn capped_expansions_with_a_next_link_are_read_to_completion() {
    let work = tempfile::tempdir().unwrap();
    let tenant = work.path().join("tenant");
    crate::common::generate_small(&tenant, "21");
    assert!(
        largest_package(&tenant).1 > 2,
        "some package has more than two roles"
    );
    let truth = rows(&tenant.join("ground-truth.csv"));
    let fake = Fake::start(tenant.to_str().unwrap(), |config| {
        config.expand_cap = Some(2);
        config.expand_next_link = true;
    });
    let out = work.path().join("out");
    let output = fake.run(&["-q", "audit", "--out", out.to_str().unwrap()], SECRET);
    assert_eq!(findings(&output), truth);
    // The stored snapshot of that read re-audits to the same findings.
    let snapshot = run_dir(&output).join("snapshot");
    let again = Command::cargo_bin("entra-drift")
        .unwrap()
        .args(["-q", "audit", "--snapshot"])
        .arg(&snapshot)
        .arg("--out")
        .arg(work.path().join("again"))
        .output()
        .unwrap();
    assert_eq!(findings(&again), truth);
}

#[test]
fn capped_expansions_without_a_next_link_are_re_read_at_the_known_limit() {
    let work = tempfile::tempdir().unwrap();
    let tenant = work.path().join("tenant");
    crate::common::generate_small(&tenant, "22");
    let truth = rows(&tenant.join("ground-truth.csv"));
    let fake = Fake::start(tenant.to_str().unwrap(), |config| {
        config.expand_cap = Some(2);
        config.expand_next_link = false;
    });
    let out = work.path().join("out");
    let output = fake.run(
        &[
            "-q",
            "audit",
            "--out",
            out.to_str().unwrap(),
            "--expand-limit",
            "2",
        ],
        SECRET,
    );
    assert_eq!(findings(&output), truth);
}

#[test]
fn a_package_whose_scopes_cannot_be_read_is_unverifiable_never_truncated() {
    let work = tempfile::tempdir().unwrap();
    let tenant = work.path().join("tenant");
    crate::common::generate_small(&tenant, "23");
    let (package, _) = largest_package(&tenant);
    let truth = rows(&tenant.join("ground-truth.csv"));
    let path = format!(
        "identityGovernance/entitlementManagement/accessPackages/{package}/resourceRoleScopes"
    );
    let fake = Fake::start(tenant.to_str().unwrap(), |config: &mut FakeConfig| {
        config.expand_cap = Some(2);
        config.expand_next_link = true;
        config.faults = Some(
            serde_json::from_value::<Faults>(serde_json::json!({ "forbidden": [path] })).unwrap(),
        );
    });
    let out = work.path().join("out");
    let output = fake.run(&["-q", "audit", "--out", out.to_str().unwrap()], SECRET);
    let found = findings(&output);
    // Every difference concerns that package, and none is a finding the truth lacks except
    // the package's unverifiable rows (no resource named).
    for row in found.difference(&truth) {
        assert_eq!(row[0], "unverifiable", "{row:?}");
        assert_eq!(row[2], package, "{row:?}");
        assert_eq!(row[4], "", "the row names no resource: {row:?}");
    }
    for row in truth.difference(&found) {
        // Findings of the package's users that can no longer be judged.
        assert!(
            row[2] == package || row[0] == "access_without_assignment",
            "{row:?}"
        );
    }
    assert!(
        found
            .iter()
            .any(|r| r[0] == "unverifiable" && r[2] == package && r[4].is_empty()),
        "the package's delivered assignments are unverifiable"
    );
    let csv = std::fs::read_to_string(run_dir(&output).join("findings.csv")).unwrap();
    assert!(
        csv.contains("resource role scopes failed"),
        "the reason is given"
    );
}

/// A loopback listener that counts connections: nothing may ever reach it.
struct Recorder {
    port: u16,
    connections: Arc<AtomicUsize>,
}

impl Recorder {
    fn start() -> Recorder {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let connections = Arc::new(AtomicUsize::new(0));
        let counted = connections.clone();
        std::thread::spawn(move || {
            let deadline = Instant::now() + Duration::from_secs(120);
            while Instant::now() < deadline {
                match listener.accept() {
                    Ok(_) => {
                        counted.fetch_add(1, Ordering::SeqCst);
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(20)),
                }
            }
        });
        Recorder { port, connections }
    }

    fn count(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
}

/// Lists page every 2 items (Graph treats `$top` as a hint) and their nextLinks point at
/// `origin`.
fn foreign(origin: &str, paths: Option<&[&str]>) -> impl FnOnce(&mut FakeConfig) {
    let mut fault = serde_json::json!({ "origin": origin });
    if let Some(paths) = paths {
        fault["paths"] = serde_json::json!(paths);
    }
    let faults = serde_json::json!({ "foreign_next_link": fault });
    move |config: &mut FakeConfig| {
        config.page_size = 2;
        config.max_page_size = Some(2);
        config.assignment_page_size = 2;
        config.faults = Some(serde_json::from_value::<Faults>(faults).unwrap());
    }
}

#[test]
fn a_next_link_to_another_origin_is_refused_and_the_token_stays_home() {
    for scheme in ["http", "https"] {
        let recorder = Recorder::start();
        let origin = format!("{scheme}://127.0.0.1:{}", recorder.port);
        let fake = Fake::start(
            "contoso-core",
            foreign(
                &origin,
                Some(&["identityGovernance/entitlementManagement/assignments"]),
            ),
        );
        let out = tempfile::tempdir().unwrap();
        let output = fake.run(&["audit", "--out", out.path().to_str().unwrap()], SECRET);
        let stderr = stderr(&output);
        assert_eq!(output.status.code(), Some(1), "{stderr}");
        assert!(
            stderr.contains("reading assignments from Microsoft Graph failed"),
            "{stderr}"
        );
        assert!(
            stderr.contains(&format!(
                "a link to `{scheme}://127.0.0.1:{}`",
                recorder.port
            )),
            "{stderr}"
        );
        assert_eq!(recorder.count(), 0, "nothing reached the other origin");
    }
}

/// `apply` and `verify` re-read holdings through lists too: a foreign link there never gets
/// the write identity's token either.
#[test]
fn apply_and_verify_never_follow_a_foreign_link() {
    let recorder = Recorder::start();
    let origin = format!("http://127.0.0.1:{}", recorder.port);
    let plain = Fake::start("contoso-core", |_| {});
    let out = tempfile::tempdir().unwrap();
    let run = run_dir(&plain.run(
        &["-q", "audit", "--out", out.path().to_str().unwrap()],
        SECRET,
    ));
    drop(plain);
    let plan: PathBuf = run.join("plan.json");
    let approve = Command::cargo_bin("entra-drift")
        .unwrap()
        .args(["plan", "approve"])
        .arg(&plan)
        .args(["--approver", "ada"])
        .output()
        .unwrap();
    assert!(approve.status.success(), "{}", stderr(&approve));
    let fake = Fake::start("contoso-core", foreign(&origin, None));
    let apply = fake.run(&["apply", plan.to_str().unwrap()], SECRET);
    let verify = fake.run(&["verify", plan.to_str().unwrap()], SECRET);
    for output in [&apply, &verify] {
        assert!(!stderr(output).contains("panicked"), "{}", stderr(output));
    }
    assert_eq!(recorder.count(), 0, "nothing reached the other origin");
    assert_eq!(
        fake.server().stats().reprocess.values().sum::<u64>(),
        0,
        "an item whose holdings could not be read completely is not reprocessed"
    );
}

#[test]
fn a_certificate_that_does_not_verify_fails_in_seconds_with_a_hint() {
    let fake = Fake::start("contoso-core", |_| {});
    // A CA that did not sign the fake's certificate.
    let other = Fake::start("contoso-core", |_| {});
    let out = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let output = fake
        .command(&["audit", "--out", out.path().to_str().unwrap()], SECRET)
        .env("SSL_CERT_FILE", &other.ca_file)
        .output()
        .unwrap();
    let elapsed = started.elapsed();
    let stderr = stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        elapsed < Duration::from_secs(30),
        "took {elapsed:?}: {stderr}"
    );
    assert!(stderr.contains("SSL_CERT_FILE"), "{stderr}");
    assert_eq!(
        stderr.matches("error:").count(),
        1,
        "one clear line: {stderr}"
    );
}

#[test]
fn a_refused_connection_fails_in_seconds() {
    let closed = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("https://127.0.0.1:{closed}");
    let out = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let output = Command::cargo_bin("entra-drift")
        .unwrap()
        .args(["audit", "--out", out.path().to_str().unwrap()])
        .args(["--tenant", "a27b43c7-0a4f-4c67-a4d9-b08c482f4357"])
        .args([
            "--graph-url",
            &url,
            "--authority-host",
            &url,
            "--credential",
            "secret",
        ])
        .env("AZURE_CLIENT_ID", CLIENT_ID)
        .env("AZURE_CLIENT_SECRET", SECRET)
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    let stderr = stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(started.elapsed() < Duration::from_secs(30), "{stderr}");
    assert!(
        stderr.contains("nothing accepts connections there"),
        "{stderr}"
    );
}
