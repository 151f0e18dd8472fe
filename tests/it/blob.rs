//! Run folders on Azure Blob Storage (issue 14), against the real emulator (Azurite over
//! HTTPS with OAuth) and the fake Graph's token endpoint: two weekly audits straight into a
//! container give the same history as a local `--out`, the evidence verifies there (and a
//! tampered blob does not), a plan read from a blob URL is approved and applied, run files are
//! never overwritten, the lock is a lease, and retention keeps what storage refuses to delete.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Output;

use crate::common::*;
use crate::support::azurite::Azurite;
use crate::support::fake_graph::{Fake, CLIENT_ID, SECRET};
use crate::support::scheduled::{audit_ok, CONTOSO_ID, WEEKS};

const CONTAINER: &str = "runs";

struct Setup {
    fake: Fake,
    azurite: Azurite,
    /// Both self-signed certificates: the one trust file the binary gets.
    trust: PathBuf,
    _dir: tempfile::TempDir,
}

fn setup(tenant: &str) -> Setup {
    let fake = Fake::start(tenant, |_| {});
    let azurite = Azurite::start();
    let dir = tempfile::tempdir().unwrap();
    let trust = dir.path().join("trust.pem");
    std::fs::write(
        &trust,
        format!("{}\n{}", fake.server().ca_pem, azurite.cert_pem),
    )
    .unwrap();
    azurite.create_container(&fake.runtime, CONTAINER, CONTOSO_ID);
    Setup {
        fake,
        azurite,
        trust,
        _dir: dir,
    }
}

impl Setup {
    fn out(&self) -> String {
        format!("{}/{CONTAINER}/weekly", self.azurite.account_url)
    }

    /// `entra-drift ARGS --tenant .. --graph-url .. --authority-host ..` at `now`.
    fn run(&self, args: &[&str], now: &str) -> Output {
        self.fake
            .command(args, SECRET)
            .env("SSL_CERT_FILE", &self.trust)
            .env("ENTRA_DRIFT_NOW", now)
            .output()
            .unwrap()
    }

    /// A command without Graph flags (plan approve, evidence verify): the identity from the
    /// environment, as a workstation or a job would have it.
    fn run_env(&self, args: &[&str]) -> Output {
        self.run_env_at(args, WEEKS[1])
    }

    fn run_env_at(&self, args: &[&str], now: &str) -> Output {
        self.fake
            .signed_in(&self.trust)
            .args(args)
            .env("AZURE_TENANT_ID", &self.fake.server().tenant_id)
            .env("ENTRA_DRIFT_NOW", now)
            .output()
            .unwrap()
    }

    fn audit(&self, tenant_dir: &Path, now: &str, extra: &[&str]) -> Output {
        let out = self.out();
        let mut args = vec![
            "-q",
            "audit",
            "--tenant-dir",
            tenant_dir.to_str().unwrap(),
            "--out",
            &out,
        ];
        args.extend_from_slice(extra);
        // An offline audit has no --tenant: the identity signs in to the audited tenant.
        self.run_env_at(&args, now)
    }

    fn blob(&self, name: &str) -> Vec<u8> {
        self.azurite
            .get(&self.fake.runtime, CONTAINER, name, CONTOSO_ID)
    }

    /// Acquires an infinite lease on a blob, or breaks it at once, as another client would.
    fn lease(&self, name: &str, action: &str) {
        let headers: &[(&str, &str)] = match action {
            "acquire" => &[
                ("x-ms-lease-action", "acquire"),
                ("x-ms-lease-duration", "-1"),
            ],
            _ => &[
                ("x-ms-lease-action", "break"),
                ("x-ms-lease-break-period", "0"),
            ],
        };
        let target = format!("{CONTAINER}/{name}?comp=lease");
        let (status, body) = self.azurite.request(
            &self.fake.runtime,
            "PUT",
            &target,
            headers,
            Vec::new(),
            CONTOSO_ID,
        );
        let wanted = if action == "acquire" { 201 } else { 202 };
        assert_eq!(
            status,
            wanted,
            "{action} {name}: {}",
            String::from_utf8_lossy(&body)
        );
    }

    fn names(&self, prefix: &str) -> Vec<String> {
        self.azurite
            .list(&self.fake.runtime, CONTAINER, prefix, CONTOSO_ID)
    }
}

#[track_caller]
fn ok(output: &Output) -> String {
    assert!(
        output.status.success(),
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout.clone()).unwrap()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn index_rows(bytes: &[u8]) -> Vec<BTreeMap<String, String>> {
    let mut reader = csv::Reader::from_reader(bytes);
    let header = reader.headers().unwrap().clone();
    reader
        .records()
        .map(|r| {
            let r = r.unwrap();
            header
                .iter()
                .zip(r.iter())
                .map(|(h, v)| (h.to_string(), v.to_string()))
                .collect()
        })
        .collect()
}

#[test]
fn blob_storage_runs_keep_history_and_evidence_and_apply_a_plan_read_from_a_blob_url() {
    let s = setup("trend/run2");
    let tenant = format!("weekly/{CONTOSO_ID}");

    // Two weekly audits straight into the container ...
    let first = ok(&s.audit(&fixture("trend/run1"), WEEKS[0], &[]));
    let second = ok(&s.audit(&fixture("trend/run2"), WEEKS[1], &[]));
    let run1 = format!("{}/{CONTOSO_ID}/20261101T060000Z", s.out());
    let run2 = format!("{}/{CONTOSO_ID}/20261108T060000Z", s.out());
    assert_eq!(first.trim(), run1);
    assert_eq!(second.trim(), run2);

    // ... are the same history as the same audits into a local folder.
    let local = tempfile::tempdir().unwrap();
    let local1 = audit_ok(&fixture("trend/run1"), local.path(), WEEKS[0], &[]);
    let local2 = audit_ok(&fixture("trend/run2"), local.path(), WEEKS[1], &[]);
    for (run, folder, file) in [
        ("20261101T060000Z", &local1, "findings.csv"),
        ("20261108T060000Z", &local2, "findings.csv"),
        ("20261108T060000Z", &local2, "resolved.csv"),
    ] {
        assert_eq!(
            s.blob(&format!("{tenant}/{run}/{file}")),
            std::fs::read(folder.join(file)).unwrap(),
            "{run}/{file}"
        );
    }
    let remote_index = index_rows(&s.blob(&format!("{tenant}/index.csv")));
    let local_index =
        index_rows(&std::fs::read(local1.parent().unwrap().join("index.csv")).unwrap());
    let counts = |rows: &[BTreeMap<String, String>]| -> Vec<Vec<String>> {
        rows.iter()
            .map(|r| {
                [
                    "run",
                    "findings",
                    "new",
                    "persisting",
                    "resolved",
                    "manifest_sha256",
                ]
                .iter()
                .map(|c| r[*c].clone())
                .collect()
            })
            .collect()
    };
    let remote_counts = counts(&remote_index);
    assert_eq!(remote_counts.len(), 2);
    // The manifests differ only if the files do: the digests match the local run's.
    assert_eq!(remote_counts, counts(&local_index));
    assert_ne!(
        remote_index[1]["resolved"], "0",
        "trend/run2 resolves findings"
    );

    // Only run files and the index: no lock left in a run folder.
    let names = s.names(&format!("{tenant}/"));
    assert!(names.contains(&format!("{tenant}/20261108T060000Z/manifest.json")));
    assert!(names.contains(&format!("{tenant}/20261108T060000Z/report.html")));
    assert!(
        names.iter().all(|n| !n.ends_with("T060000Z/.lock")),
        "{names:?}"
    );

    // A crashed run's uncommitted upload is never overwritten: the next run takes another name.
    let orphan = format!("{tenant}/20261115T060000Z/findings.csv");
    s.azurite.put(
        &s.fake.runtime,
        CONTAINER,
        &orphan,
        b"left by a crash".to_vec(),
        CONTOSO_ID,
    );
    // (Its plan, the one applied below, must outlive the fixed clock: plans expire.)
    let third = ok(&s.audit(
        &fixture("trend/run2"),
        WEEKS[2],
        &["--plan-expiry-days", "90"],
    ));
    assert!(third.trim().ends_with("/20261115T060000Z-1"), "{third}");
    assert_eq!(s.blob(&orphan), b"left by a crash");
    assert_eq!(index_rows(&s.blob(&format!("{tenant}/index.csv"))).len(), 3);

    // The evidence verifies in Blob Storage.
    let tenant_url = format!("{}/{CONTOSO_ID}", s.out());
    let verified = s.run_env(&["evidence", "verify", &tenant_url]);
    ok(&verified);
    assert!(
        stderr(&verified).contains("3 run(s) verified: intact"),
        "{}",
        stderr(&verified)
    );

    // A plan read from a blob URL: approved and applied there, its results written beside it.
    let run3 = format!("{}/{CONTOSO_ID}/20261115T060000Z-1", s.out());
    let plan_url = format!("{run3}/plan.json");
    ok(&s.run_env(&[
        "plan",
        "approve",
        &plan_url,
        "--approver",
        "ada@contoso.example",
    ]));
    let plan: serde_json::Value =
        serde_json::from_slice(&s.blob(&format!("{tenant}/20261115T060000Z-1/plan.json"))).unwrap();
    assert_eq!(plan["approvals"].as_array().unwrap().len(), 1);
    let applied = s.run(&["apply", &plan_url], WEEKS[1]);
    let results = ok(&applied);
    // The journal's blob followed the apply: every call it made is recorded there.
    let journal =
        String::from_utf8(s.blob(&format!("{tenant}/20261115T060000Z-1/plan.journal.jsonl")))
            .unwrap();
    assert!(
        journal.lines().count() >= 3 && journal.ends_with('\n'),
        "{journal}"
    );
    assert!(
        journal.contains("\"sending\"") || journal.contains("sending"),
        "{journal}"
    );
    assert!(
        results.contains(&format!("{run3}/apply-results.csv")),
        "{results}"
    );
    let reprocessed: u64 = s.fake.server().stats().reprocess.values().sum();
    assert!(reprocessed > 0, "the approved items were reprocessed");
    let results_csv = s.blob(&format!("{tenant}/20261115T060000Z-1/apply-results.csv"));
    assert!(String::from_utf8(results_csv)
        .unwrap()
        .contains("reprocessed"));
    let verify = s.run(&["verify", &plan_url], WEEKS[1]);
    assert!(ok(&verify).contains(&format!("{run3}/verify-results.csv")));

    // Approvals and results are additions the evidence allows; a rewritten finding is not.
    ok(&s.run_env(&["evidence", "verify", &tenant_url]));
    // A run URL is checked against its tenant's index, as a local run folder is: a copy of a
    // run under a name the index does not list is reported.
    let run1_name = format!("{tenant}/20261101T060000Z");
    ok(&s.run_env(&["evidence", "verify", &run1]));
    for name in s.names(&format!("{run1_name}/")) {
        let copy = name.replace("20261101T060000Z", "20261101T070000Z");
        s.azurite
            .put(&s.fake.runtime, CONTAINER, &copy, s.blob(&name), CONTOSO_ID);
    }
    let copied = s.run_env(&[
        "evidence",
        "verify",
        &format!("{}/{CONTOSO_ID}/20261101T070000Z", s.out()),
    ]);
    assert_eq!(copied.status.code(), Some(1), "{}", stderr(&copied));
    let problems = String::from_utf8_lossy(&copied.stdout).into_owned();
    assert!(
        problems.contains(&format!("{tenant_url}/index.csv"))
            && !problems.contains("entra-drift-stage"),
        "{problems}"
    );
    let name = format!("{tenant}/20261101T060000Z/findings.csv");
    let mut bytes = s.blob(&name);
    bytes.extend_from_slice(b"\r\n");
    s.azurite
        .put(&s.fake.runtime, CONTAINER, &name, bytes, CONTOSO_ID);
    let broken = s.run_env(&["evidence", "verify", &tenant_url]);
    assert_eq!(broken.status.code(), Some(1), "{}", stderr(&broken));
    let problems = String::from_utf8_lossy(&broken.stdout).into_owned();
    assert!(
        problems.contains("20261101T060000Z") && problems.contains("findings.csv"),
        "{problems}"
    );
}

#[test]
fn blob_storage_lock_is_a_lease_and_retention_marks_what_storage_keeps() {
    let s = setup("contoso-core");
    let tenant = format!("weekly/{CONTOSO_ID}");
    ok(&s.audit(&fixture("trend/run1"), WEEKS[0], &["--keep", "1"]));

    // Another holder of the tenant's lease: the run is refused and writes nothing.
    let lock = format!("{tenant}/.lock");
    s.lease(&lock, "acquire");
    let refused = s.audit(&fixture("trend/run2"), WEEKS[1], &["--keep", "1"]);
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        stderr(&refused).contains("another run holds its lease"),
        "{}",
        stderr(&refused)
    );
    assert_eq!(index_rows(&s.blob(&format!("{tenant}/index.csv"))).len(), 1);
    s.lease(&lock, "break");

    // A blob the service will not delete (here: leased; on WORM storage: a retention policy).
    s.lease(
        &format!("{tenant}/20261101T060000Z/manifest.json"),
        "acquire",
    );
    // A run whose plan is being applied (its lease held) is left for a later run.
    let run_lock = format!("{tenant}/20261101T060000Z/.lock");
    s.azurite.put(
        &s.fake.runtime,
        CONTAINER,
        &run_lock,
        b"lock".to_vec(),
        CONTOSO_ID,
    );
    s.lease(&run_lock, "acquire");
    let busy = s.audit(&fixture("trend/run1"), WEEKS[1], &["--keep", "1"]);
    ok(&busy);
    assert!(stderr(&busy).contains("is in use"), "{}", stderr(&busy));
    let rows = index_rows(&s.blob(&format!("{tenant}/index.csv")));
    assert!(rows[0]["pruned_at"].is_empty(), "{rows:?}");
    s.lease(&run_lock, "break");

    let second = s.audit(&fixture("trend/run2"), WEEKS[2], &["--keep", "1"]);
    ok(&second);
    assert!(
        stderr(&second).contains("marked pruned, those not deleted"),
        "{}",
        stderr(&second)
    );
    let rows = index_rows(&s.blob(&format!("{tenant}/index.csv")));
    assert_eq!(rows.len(), 3);
    // Both older runs are pruned; the first kept the one blob the service would not delete.
    assert!(!rows[0]["pruned_at"].is_empty() && !rows[1]["pruned_at"].is_empty());
    assert!(
        rows[0]["retention"].starts_with("1 of 7 blobs"),
        "{:?}",
        rows[0]
    );
    assert!(
        rows[0]["retention"].contains("LeaseIdMissing"),
        "{:?}",
        rows[0]
    );
    assert!(rows[1]["retention"].is_empty(), "{:?}", rows[1]);
    assert!(rows[2]["pruned_at"].is_empty());
    let left = s.names(&format!("{tenant}/20261101T060000Z/"));
    assert_eq!(left, [format!("{tenant}/20261101T060000Z/manifest.json")]);
}

#[test]
fn blob_storage_holds_the_register_and_stored_snapshots_too() {
    let s = setup("contoso-core");
    let register = "config/exceptions.csv";
    s.azurite.put(
        &s.fake.runtime,
        CONTAINER,
        register,
        crate::support::scheduled::REGISTER_CSV.as_bytes().to_vec(),
        CONTOSO_ID,
    );
    let register_url = format!("{}/{CONTAINER}/{register}", s.azurite.account_url);

    // The register at a URL: read through the same identity, named by its URL.
    let run = ok(&s.audit(
        &fixture("contoso-core"),
        "2026-11-20T06:00:00Z",
        &["--exceptions", &register_url],
    ));
    let tenant = format!("weekly/{CONTOSO_ID}");
    let rows = index_rows(&s.blob(&format!("{tenant}/index.csv")));
    assert_ne!(rows[0]["excepted"], "0", "{rows:?}");
    let name = run.trim().rsplit('/').next().unwrap();
    let exceptions = s.blob(&format!("{tenant}/{name}/exceptions.csv"));
    assert!(String::from_utf8(exceptions).unwrap().contains("EX-ASSIGN"));
    let summary = String::from_utf8(s.blob(&format!("{tenant}/{name}/summary.md"))).unwrap();
    assert!(!summary.contains("entra-drift-stage"), "{summary}");

    // A bad register at a URL fails the run, naming the blob and the line.
    s.azurite.put(
        &s.fake.runtime,
        CONTAINER,
        "config/bad.csv",
        b"id,assignment_id,reason\nX,not-a-guid,\"unclosed\n".to_vec(),
        CONTOSO_ID,
    );
    let bad_url = format!("{}/{CONTAINER}/config/bad.csv", s.azurite.account_url);
    let bad = s.audit(
        &fixture("contoso-core"),
        "2026-11-21T06:00:00Z",
        &["--exceptions", &bad_url],
    );
    assert_eq!(bad.status.code(), Some(1));
    assert!(stderr(&bad).contains(&bad_url), "{}", stderr(&bad));
    assert!(
        !stderr(&bad).contains("entra-drift-stage"),
        "{}",
        stderr(&bad)
    );

    // A stored snapshot written to Blob Storage, and audited from there.
    let out = s.out();
    let stored = ok(&s.run_env(&[
        "-q",
        "snapshot",
        "--tenant-dir",
        fixture("contoso-core").to_str().unwrap(),
        "--out",
        &out,
    ]));
    assert!(
        stored.trim().starts_with(&format!("{out}/{CONTOSO_ID}/")),
        "{stored}"
    );
    let from_blob = tempfile::tempdir().unwrap();
    let audited = s.run_env(&[
        "-q",
        "audit",
        "--snapshot",
        stored.trim(),
        "--out",
        from_blob.path().to_str().unwrap(),
    ]);
    let local_run = PathBuf::from(ok(&audited).trim());
    let direct = tempfile::tempdir().unwrap();
    let direct_run = audit_ok(&fixture("contoso-core"), direct.path(), WEEKS[1], &[]);
    let keys = |dir: &Path| {
        let mut rows = read_csv(&dir.join("findings.csv")).project(&REQUIRED_COLUMNS);
        rows.sort();
        rows
    };
    assert_eq!(keys(&local_run), keys(&direct_run));
}

#[test]
fn blob_storage_index_commit_merges_a_concurrent_writer_and_retries() {
    use entra_drift::blob::BlobLocation;
    use entra_drift::commands::remote::Remote;
    use entra_drift::graph::{Cloud, CredentialKind, CredentialSettings};

    let s = setup("contoso-core");
    ok(&s.audit(&fixture("trend/run1"), WEEKS[0], &[]));
    let tenant = format!("weekly/{CONTOSO_ID}");

    let server = s.fake.server();
    let settings = CredentialSettings {
        kind: CredentialKind::Secret,
        tenant_id: server.tenant_id.clone(),
        client_id: Some(CLIENT_ID.into()),
        client_secret: Some(SECRET.to_string().into()),
        certificate_path: None,
        certificate_password: None,
        federated_token_file: None,
        authority_host: server.url.clone(),
        graph_root: Cloud::Global.graph_root().into(),
        managed_identity_available: false,
        env_prefix: String::new(),
    };
    let http = reqwest::Client::builder()
        .tls_certs_only([
            reqwest::Certificate::from_pem(server.ca_pem.as_bytes()).unwrap(),
            reqwest::Certificate::from_pem(s.azurite.cert_pem.as_bytes()).unwrap(),
        ])
        .build()
        .unwrap();
    let location = BlobLocation::parse(&s.out()).unwrap().unwrap();
    let mut remote = Remote::with(location, &settings, &http).unwrap();
    assert!(remote.fetch(&format!("{CONTOSO_ID}/index.csv")).unwrap());
    let staged = remote.root().join(CONTOSO_ID);

    // Our run's row, added to the staged copy ...
    let mut ours = entra_drift::history::RunIndex::read(&staged).unwrap();
    let mut row = ours.records[0].clone();
    row.run = "20261108T060000Z".into();
    ours.records.push(row.clone());
    ours.write().unwrap();

    // ... while another writer commits a row of its own to the blob.
    let text = String::from_utf8(s.blob(&format!("{tenant}/index.csv"))).unwrap();
    let first_row = text.lines().nth(1).unwrap();
    let theirs = format!(
        "{text}{}\r\n",
        first_row.replacen("20261101T060000Z", "20261101T070000Z", 1)
    );
    s.azurite.put(
        &s.fake.runtime,
        CONTAINER,
        &format!("{tenant}/index.csv"),
        theirs.into_bytes(),
        CONTOSO_ID,
    );

    // The conditional write loses, merges, and wins: both rows are there, and the first.
    remote.commit_index(CONTOSO_ID, &[row]).unwrap();
    let runs: Vec<String> = index_rows(&s.blob(&format!("{tenant}/index.csv")))
        .into_iter()
        .map(|r| r["run"].clone())
        .collect();
    assert_eq!(
        runs,
        ["20261101T060000Z", "20261101T070000Z", "20261108T060000Z"]
    );
}

#[test]
fn blob_storage_locations_are_checked_before_anything_runs() {
    let out = tempfile::tempdir().unwrap();
    for (url, needle) in [
        (
            "https://contoso.blob.core.windows.net/runs?sv=2024&sig=SECRETSIG",
            "a SAS token is a secret",
        ),
        ("http://contoso.blob.core.windows.net/runs", "https only"),
        ("https://example.com/runs", "not a Blob Storage URL"),
    ] {
        let output = entra_drift()
            .args(["audit", "--tenant-dir"])
            .arg(fixture("contoso-core"))
            .args(["--out", url])
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(1), "{url}");
        let text = stderr(&output);
        assert!(text.contains(needle), "{url}: {text}");
        assert!(!text.contains("SECRETSIG"), "{text}");
        assert!(std::fs::read_dir(out.path()).unwrap().next().is_none());
    }
    let config = out.path().join("entra-drift.toml");
    std::fs::write(
        &config,
        "out = \"https://contoso.blob.core.windows.net/Bad_Name\"\n",
    )
    .unwrap();
    let output = entra_drift()
        .args(["config", "check"])
        .arg(&config)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr(&output).contains("line 1"), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("not a valid container name"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn blob_storage_takes_a_live_audit_with_its_snapshot_and_history() {
    let s = setup("contoso-core");
    let out = s.out();
    let first = ok(&s.run(&["-q", "audit", "--out", &out], WEEKS[0]));
    let second = s.run(&["audit", "--out", &out], WEEKS[1]);
    let second_url = ok(&second);
    assert!(
        second_url.trim().ends_with("/20261108T060000Z"),
        "{second_url}"
    );
    // The run's summary names blobs, not the staging folder.
    let text = stderr(&second);
    assert!(
        text.contains(&format!("{}/manifest.json", second_url.trim())),
        "{text}"
    );
    assert!(!text.contains("entra-drift-stage"), "{text}");
    assert!(
        text.contains(&format!(
            "Since {}",
            first.trim().rsplit('/').next().unwrap()
        )),
        "{text}"
    );

    let tenant = format!("weekly/{CONTOSO_ID}");
    let rows = index_rows(&s.blob(&format!("{tenant}/index.csv")));
    assert_eq!(rows.len(), 2);
    // A live run stores its snapshot with it, and the index counts what the next run expects.
    assert!(!rows[1]["assignments"].is_empty() && rows[1]["assignments"] != "0");
    assert_eq!(rows[1]["new"], "0");
    let names = s.names(&format!("{tenant}/20261108T060000Z/snapshot/"));
    assert!(names.iter().any(|n| n.ends_with(".parquet")), "{names:?}");
    ok(&s.run_env(&["evidence", "verify", &out]));
}
