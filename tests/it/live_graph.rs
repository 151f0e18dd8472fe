//! The live snapshot against the local fake Graph (HTTPS on loopback, real azure_identity
//! credentials): same findings as the offline audit of the same directory — also under
//! throttling and faults, where the only allowed differences are `unverifiable` rows.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Output;

use assert_cmd::Command;
use fake_graph::{FakeConfig, Faults};
use serde_json::json;

use crate::support::fake_graph::*;

fn offline(tenant: &str) -> BTreeSet<Row> {
    rows(&fixture("../tests/expected").join(format!("{tenant}.csv")))
}

fn live_audit(fake: &Fake, out: &Path) -> PathBuf {
    run_dir(&fake.run(&["-q", "audit", "--out", out.to_str().unwrap()], SECRET))
}

#[test]
fn live_audit_equals_offline_audit_for_every_fixture() {
    for tenant in [
        "contoso-core",
        "edge-no-objectid",
        "edge-mixed-case",
        "edge-deleted-resources",
        "edge-nested-only",
        "edge-clean",
    ] {
        let fake = Fake::start(tenant, |config| {
            // Small pages so that paging is exercised on every list.
            config.page_size = 2;
            config.assignment_page_size = 3;
        });
        let out = tempfile::tempdir().unwrap();
        let dir = live_audit(&fake, out.path());
        assert_eq!(
            rows(&dir.join("findings.csv")),
            offline(tenant),
            "tenant {tenant}"
        );
        let stats = fake.server().stats();
        assert!(stats.batch_inner_requests > 0 || tenant == "edge-clean" || stats.requests > 0);
    }
}

#[test]
fn the_stored_snapshot_reaudits_to_the_same_findings_and_records_the_reads() {
    let fake = Fake::start("contoso-core", |_| {});
    let out = tempfile::tempdir().unwrap();
    let dir = live_audit(&fake, out.path());
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("snapshot/snapshot.json")).unwrap())
            .unwrap();
    let graph = &manifest["graph"];
    assert!(graph["requests"].as_u64().unwrap() > 3, "{graph}");
    assert!(
        graph["batched_requests"].as_u64().unwrap() > 0,
        "per-resource reads are batched: {graph}"
    );
    assert_eq!(
        graph["resource_units"].as_u64(),
        Some(fake.server().stats().resource_units),
        "units counted from x-ms-resource-unit"
    );
    let statuses: BTreeSet<&str> = manifest["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["status"].as_str().unwrap())
        .collect();
    assert!(
        // The SharePoint site role: unreadable, since SharePoint refuses a secret's token.
        statuses.contains("complete")
            && statuses.contains("not_found")
            && statuses.contains("unreadable"),
        "{statuses:?}"
    );

    let again = Command::cargo_bin("entra-drift")
        .unwrap()
        .args(["-q", "audit", "--snapshot"])
        .arg(dir.join("snapshot"))
        .args(["--out", out.path().to_str().unwrap()])
        .output()
        .unwrap();
    let reaudit = run_dir(&again);
    assert_eq!(
        std::fs::read(reaudit.join("findings.csv")).unwrap(),
        std::fs::read(dir.join("findings.csv")).unwrap()
    );

    // A table changed after the snapshot was taken is refused.
    let holdings = dir.join("snapshot/holdings.parquet");
    let mut bytes = std::fs::read(&holdings).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    std::fs::write(&holdings, bytes).unwrap();
    let tampered = Command::cargo_bin("entra-drift")
        .unwrap()
        .args(["-q", "audit", "--snapshot"])
        .arg(dir.join("snapshot"))
        .args(["--out", out.path().to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(tampered.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&tampered.stderr).contains("holdings.parquet"));
}

#[test]
fn throttled_reads_are_retried_to_the_same_findings() {
    let fake = Fake::start("contoso-core", |config| {
        config.throttle_ru = Some(12);
        config.throttle_window_ms = 400;
        config.page_size = 3;
    });
    let out = tempfile::tempdir().unwrap();
    // A budget far above the real one: pacing never waits and never learns, so the fake's
    // budget bites and the retries of 429s are what is tested (pacing has tests of its own in
    // partitioned.rs).
    let dir = run_dir(&fake.run(
        &[
            "-q",
            "audit",
            "--ru-budget",
            "1000000",
            "--out",
            out.path().to_str().unwrap(),
        ],
        SECRET,
    ));
    assert_eq!(rows(&dir.join("findings.csv")), offline("contoso-core"));
    let stats = fake.server().stats();
    assert!(
        stats.throttled > 0,
        "the budget must have bitten: {stats:?}"
    );
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("snapshot/snapshot.json")).unwrap())
            .unwrap();
    assert_eq!(
        manifest["graph"]["throttled"].as_u64(),
        Some(stats.throttled)
    );
    assert!(manifest["graph"]["throttle_wait_ms"].as_u64().unwrap() > 0);
}

/// Group 1b01d039… holds four `missing_access` rows in contoso; application de04b46d… one
/// `missing_access` and one `access_without_assignment`.
const GROUP: &str = "1b01d039-c9d2-4b04-9e79-991f6b93bfe4";
const APP: &str = "de04b46d-fab4-48fd-9ec3-1eb67c11a4e6";

/// The issue's rule: a fault may turn rows on the affected resources into `unverifiable`,
/// nothing else; never a wrong `missing_access` or `access_without_assignment`.
fn assert_only_unverifiable_differences(
    live: &BTreeSet<Row>,
    offline: &BTreeSet<Row>,
    affected: &[&str],
) {
    for row in live.difference(offline) {
        assert_eq!(
            row[0], "unverifiable",
            "a live row the offline audit does not have: {row:?}"
        );
        assert!(affected.contains(&row[5].as_str()), "{row:?}");
    }
    for row in offline.difference(live) {
        assert!(
            affected.contains(&row[5].as_str()),
            "lost a finding on an unaffected resource: {row:?}"
        );
    }
}

fn with_faults(faults: serde_json::Value) -> impl FnOnce(&mut FakeConfig) {
    move |config: &mut FakeConfig| {
        config.faults = Some(serde_json::from_value::<Faults>(faults).unwrap())
    }
}

#[test]
fn each_fault_changes_nothing_but_verifiability() {
    let offline = offline("contoso-core");
    // Group members come through `groups/delta` first and through `groups/{id}/members`
    // when a delta round fails: a fault on a group's members hits both paths.
    let members = format!("groups/{GROUP}/members");
    let delta = "groups/delta".to_string();
    let assigned = format!("servicePrincipals/{APP}/appRoleAssignedTo");
    let cases = [
        ("forbidden", json!({"forbidden": [members, delta]}), true),
        (
            "always 503",
            json!({"server_errors": [{"path": assigned, "status": 503, "count": -1}]}),
            true,
        ),
        (
            "a 5xx burst",
            json!({"server_errors": [{"path": delta, "status": 503, "count": 2}, {"path": members, "status": 503, "count": 2}]}),
            false,
        ),
        (
            "a 504 with Retry-After",
            json!({"server_errors": [{"path": delta, "status": 504, "count": 1, "retry_after": 0.1}]}),
            false,
        ),
        (
            "a dropped connection",
            json!({"drop_connection": [{"path": delta, "page": 1, "count": 1}]}),
            false,
        ),
        (
            "a dropped connection on the direct read",
            json!({"drop_connection": [{"path": members, "page": 1, "count": 1}], "forbidden": [delta]}),
            false,
        ),
        (
            "a truncated body",
            json!({"truncate_body": [{"path": assigned, "page": 1, "count": -1}]}),
            true,
        ),
        (
            "a nextLink loop",
            json!({"next_link_loop": [members, delta]}),
            true,
        ),
        ("an expired token", json!({"expire_token_after": 4}), false),
    ];
    for (name, faults, degrades) in cases {
        let fake = Fake::start("contoso-core", with_faults(faults));
        let out = tempfile::tempdir().unwrap();
        let output = fake.run(
            &["-q", "audit", "--out", out.path().to_str().unwrap()],
            SECRET,
        );
        let live = rows(&run_dir(&output).join("findings.csv"));
        if degrades {
            assert_ne!(
                live, offline,
                "{name}: the fault should have made something unverifiable"
            );
        } else {
            assert_eq!(
                live, offline,
                "{name}: retries should have hidden the fault"
            );
        }
        assert_only_unverifiable_differences(&live, &offline, &[GROUP, APP]);
    }
}

#[test]
fn a_404_marks_the_resource_not_found_never_missing() {
    let fake = Fake::start(
        "contoso-core",
        with_faults(json!({"not_found": [format!("groups/{GROUP}/members"), "groups/delta"]})),
    );
    let out = tempfile::tempdir().unwrap();
    let live = rows(
        &run_dir(&fake.run(
            &["-q", "audit", "--out", out.path().to_str().unwrap()],
            SECRET,
        ))
        .join("findings.csv"),
    );
    let on_group: Vec<&Row> = live.iter().filter(|r| r[5] == GROUP).collect();
    assert!(!on_group.is_empty());
    assert!(
        on_group.iter().all(|r| r[0] == "resource_not_found"),
        "{on_group:?}"
    );
}

#[test]
fn a_failed_core_list_fails_the_run_clearly_and_writes_nothing() {
    let fake = Fake::start(
        "contoso-core",
        with_faults(json!({"forbidden": ["identityGovernance/entitlementManagement/assignments"]})),
    );
    let out = tempfile::tempdir().unwrap();
    let output = fake.run(&["audit", "--out", out.path().to_str().unwrap()], SECRET);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("assignments") && stderr.contains("403"),
        "{stderr}"
    );
    assert!(
        std::fs::read_dir(out.path()).unwrap().next().is_none(),
        "no run folder for a failed read"
    );
}

#[test]
fn wrong_credentials_fail_clearly_without_leaking_the_secret() {
    let fake = Fake::start("contoso-core", |_| {});
    let out = tempfile::tempdir().unwrap();
    let wrong = "wrong-secret-Value~42";
    let output = fake.run(
        &["-vvv", "audit", "--out", out.path().to_str().unwrap()],
        wrong,
    );
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("AADSTS7000215") || stderr.contains("authentication"),
        "{stderr}"
    );
    assert!(!stderr.contains(wrong) && !String::from_utf8_lossy(&output.stdout).contains(wrong));
    assert!(!stderr.contains("panicked"), "{stderr}");
}

/// Every byte written, printed or logged, searched for the secret and the bearer token shape.
#[test]
fn no_secret_or_token_in_any_output_log_or_file() {
    let fake = Fake::start(
        "contoso-core",
        with_faults(json!({"expire_token_after": 3})),
    );
    let out = tempfile::tempdir().unwrap();
    let output = fake.run(
        &[
            "-vvv",
            "--log-format",
            "json",
            "audit",
            "--out",
            out.path().to_str().unwrap(),
        ],
        SECRET,
    );
    let dir = run_dir(&output);
    let mut texts = vec![output.stdout.clone(), output.stderr.clone()];
    for entry in walk(out.path()) {
        texts.push(std::fs::read(entry).unwrap());
    }
    assert!(dir.join("snapshot/snapshot.json").exists());
    for text in texts {
        let text = String::from_utf8_lossy(&text);
        assert!(!text.contains(SECRET), "the client secret leaked");
        assert!(
            !text.to_ascii_lowercase().contains("bearer "),
            "a bearer token leaked"
        );
        assert!(
            !text.contains("client_secret="),
            "a token request body leaked"
        );
    }
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}

/// Runs a live audit with only the given credential variables set (no secret).
fn audit_with_env(fake: &Fake, credential: &str, env: &[(&str, &Path)]) -> Output {
    let out = tempfile::tempdir().unwrap();
    let mut command = fake.command(
        &[
            "-q",
            "audit",
            "--credential",
            credential,
            "--out",
            out.path().to_str().unwrap(),
        ],
        "",
    );
    command.env_remove("AZURE_CLIENT_SECRET");
    for (key, value) in env {
        command.env(key, value);
    }
    command.output().unwrap()
}

#[test]
fn certificate_credential_signs_in_with_a_pkcs12_file() {
    let fake = Fake::start("edge-clean", |_| {});
    let dir = tempfile::tempdir().unwrap();
    let pfx = crate::support::fake_graph::app_certificate(dir.path());
    // The certificate alone (PEM), which is not a PKCS#12 file.
    let cert = dir.path().join("cert.pem");
    // `auto` picks the certificate when no secret is set.
    let output = audit_with_env(&fake, "auto", &[("AZURE_CLIENT_CERTIFICATE_PATH", &pfx)]);
    run_dir(&output);
    assert!(fake.server().stats().tokens_issued >= 1);
    // A file that is not PKCS#12 is a clear error naming it.
    let output = audit_with_env(
        &fake,
        "certificate",
        &[("AZURE_CLIENT_CERTIFICATE_PATH", &cert)],
    );
    assert_eq!(output.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("cert.pem"),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn workload_identity_exchanges_the_federated_token() {
    use base64_url as b64;
    let fake = Fake::start("edge-clean", |_| {});
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("federated-token");
    let payload = json!({"iss": CLIENT_ID, "sub": CLIENT_ID, "aud": "api://AzureADTokenExchange"})
        .to_string();
    let jwt = format!(
        "{}.{}.{}",
        b64::encode(r#"{"alg":"RS256","typ":"JWT"}"#),
        b64::encode(&payload),
        b64::encode("signature")
    );
    std::fs::write(&token_file, jwt).unwrap();
    let output = audit_with_env(
        &fake,
        "auto",
        &[("AZURE_FEDERATED_TOKEN_FILE", &token_file)],
    );
    run_dir(&output);
    assert!(fake.server().stats().tokens_issued >= 1);
}

/// Base64url without padding, for the test JWT.
mod base64_url {
    pub fn encode(text: &str) -> String {
        const ALPHABET: &[u8; 64] =
            b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let bytes = text.as_bytes();
        let mut out = String::new();
        for chunk in bytes.chunks(3) {
            let n = chunk
                .iter()
                .enumerate()
                .fold(0u32, |acc, (i, b)| acc | (u32::from(*b) << (16 - 8 * i)));
            for i in 0..=chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            }
        }
        out
    }
}

#[test]
fn the_fake_graph_binary_serves_a_demo_audit() {
    use std::io::{BufRead, BufReader};
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    let mut child = std::process::Command::new(fake_graph_binary())
        .args(["--tenant-dir"])
        .arg(fixture("contoso-core"))
        .args(["--ca-out"])
        .arg(&ca)
        .args(["--client-id", CLIENT_ID, "--latency-ms", "5"])
        .env("FAKE_GRAPH_CLIENT_SECRET", SECRET)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let ready: serde_json::Value = serde_json::from_str(&line).unwrap();
    let url = ready["url"].as_str().unwrap().to_string();
    let tenant: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fixture("contoso/tenant.json")).unwrap())
            .unwrap();
    let out = tempfile::tempdir().unwrap();
    let output = Command::cargo_bin("entra-drift")
        .unwrap()
        .args(["-q", "audit", "--out"])
        .arg(out.path())
        .args([
            "--tenant",
            tenant["id"].as_str().unwrap(),
            "--graph-url",
            &url,
            "--authority-host",
            &url,
        ])
        .env("SSL_CERT_FILE", &ca)
        .env("AZURE_CLIENT_ID", CLIENT_ID)
        .env("AZURE_CLIENT_SECRET", SECRET)
        .env_remove("AZURE_CLIENT_CERTIFICATE_PATH")
        .env_remove("AZURE_FEDERATED_TOKEN_FILE")
        .output()
        .unwrap();
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(
        rows(&run_dir(&output).join("findings.csv")),
        offline("contoso-core")
    );
}

#[test]
fn group_delta_reads_members_for_fewer_resource_units_than_direct_reads() {
    let units = |naive: bool| {
        let fake = Fake::start("contoso-core", |_| {});
        let out = tempfile::tempdir().unwrap();
        let mut command = fake.command(
            &["-q", "audit", "--out", out.path().to_str().unwrap()],
            SECRET,
        );
        if naive {
            command.env("ENTRA_DRIFT_NAIVE_CLIENT", "1");
        }
        let dir = run_dir(&command.output().unwrap());
        assert_eq!(
            rows(&dir.join("findings.csv")),
            offline("contoso-core"),
            "naive: {naive}"
        );
        fake.server().stats()
    };
    let smart = units(false);
    let naive = units(true);
    assert!(
        smart.resource_units < naive.resource_units,
        "delta {smart:?} vs direct {naive:?}"
    );
    assert!(
        smart.requests < naive.requests,
        "batching {smart:?} vs one request per read {naive:?}"
    );
    assert_eq!(naive.batch_inner_requests, 0);
}

/// The Azure CLI credential runs `az account get-access-token`; a stand-in `az` on PATH gets
/// a real token from the fake's token endpoint, as `az` would from Entra.
#[test]
fn azure_cli_credential_uses_the_signed_in_cli() {
    use std::os::unix::fs::PermissionsExt;
    let fake = Fake::start("edge-clean", |_| {});
    let server = fake.server();
    let bin = tempfile::tempdir().unwrap();
    let calls = bin.path().join("calls.txt");
    let script = format!(
        r#"#!/bin/sh
echo "$@" >> '{calls}'
token=$(curl -s --cacert '{ca}' -d client_id={client} -d client_secret='{secret}' -d grant_type=client_credentials \
  -d scope=https://graph/.default '{url}/{tenant}/oauth2/v2.0/token' | sed 's/.*"access_token":"\([^"]*\)".*/\1/')
echo "{{\"accessToken\": \"$token\", \"expires_on\": $(( $(date +%s) + 3600 )), \"tokenType\": \"Bearer\"}}"
"#,
        calls = calls.display(),
        ca = fake.ca_file.display(),
        client = CLIENT_ID,
        secret = SECRET,
        url = server.url,
        tenant = server.tenant_id,
    );
    let az = bin.path().join("az");
    std::fs::write(&az, script).unwrap();
    std::fs::set_permissions(&az, std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!(
        "{}:{}",
        bin.path().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = tempfile::tempdir().unwrap();
    let output = fake
        .command(
            &[
                "-q",
                "audit",
                "--credential",
                "azure-cli",
                "--out",
                out.path().to_str().unwrap(),
            ],
            "",
        )
        .env_remove("AZURE_CLIENT_SECRET")
        .env("PATH", path)
        .output()
        .unwrap();
    run_dir(&output);
    let calls = std::fs::read_to_string(&calls).unwrap();
    assert!(calls.contains("account get-access-token"), "{calls}");
    assert!(
        calls.contains(&format!("--tenant {}", server.tenant_id)),
        "{calls}"
    );
}

/// A token from the fake's token endpoint, fetched as a stand-in identity service would.
fn token_from_fake(fake: &Fake) -> String {
    let server = fake.server();
    let output = std::process::Command::new("curl")
        .args(["-s", "--cacert"])
        .arg(&fake.ca_file)
        .args([
            "-d",
            &format!("client_id={CLIENT_ID}"),
            "-d",
            &format!("client_secret={SECRET}"),
        ])
        .args([
            "-d",
            "grant_type=client_credentials",
            "-d",
            "scope=https://graph/.default",
        ])
        .arg(format!(
            "{}/{}/oauth2/v2.0/token",
            server.url, server.tenant_id
        ))
        .output()
        .unwrap();
    let reply: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    reply["access_token"].as_str().unwrap().to_string()
}

/// Managed identity through the App Service endpoint (`IDENTITY_ENDPOINT`, `IDENTITY_HEADER`):
/// a loopback stand-in checks the header and hands out a token the fake issued.
#[test]
fn managed_identity_credential_uses_the_host_identity_endpoint() {
    use std::io::{BufRead, BufReader, Write};
    let fake = Fake::start("edge-clean", |_| {});
    let token = token_from_fake(&fake);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = std::thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut head = Vec::new();
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            if line == "\r\n" || line.is_empty() {
                break;
            }
            head.push(line.trim_end().to_string());
        }
        let expires = chrono::Utc::now().timestamp() + 3600;
        let body = format!(
            r#"{{"access_token":"{token}","expires_on":"{expires}","token_type":"Bearer","resource":"x"}}"#
        );
        let mut stream = stream;
        write!(stream, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len()).unwrap();
        head
    });
    let endpoint = format!("http://127.0.0.1:{port}/msi/token");
    let out = tempfile::tempdir().unwrap();
    let output = fake
        .command(
            &[
                "-q",
                "audit",
                "--credential",
                "auto",
                "--out",
                out.path().to_str().unwrap(),
            ],
            "",
        )
        .env_remove("AZURE_CLIENT_SECRET")
        .env_remove("AZURE_CLIENT_ID")
        .env("IDENTITY_ENDPOINT", &endpoint)
        .env("IDENTITY_HEADER", "host-secret-header")
        .output()
        .unwrap();
    run_dir(&output);
    let head = seen.join().unwrap();
    assert!(head[0].starts_with("GET /msi/token?"), "{head:?}");
    assert!(head[0].contains("resource="), "{head:?}");
    assert!(
        head.iter()
            .any(|h| h.eq_ignore_ascii_case("x-identity-header: host-secret-header")),
        "{head:?}"
    );
}

/// With no credential configured, `auto` falls through to the Azure CLI; when that fails too,
/// the error says what was tried, in order, and what to set — not only "az not found".
#[test]
fn a_sign_in_with_nothing_configured_says_what_was_tried_and_what_to_set() {
    let fake = Fake::start("edge-clean", |_| {});
    let empty_path = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let output = fake
        .command(&["-q", "audit", "--out", out.path().to_str().unwrap()], "")
        .env_remove("AZURE_CLIENT_SECRET")
        .env_remove("AZURE_CLIENT_CERTIFICATE_PATH")
        .env_remove("AZURE_FEDERATED_TOKEN_FILE")
        .env_remove("IDENTITY_ENDPOINT")
        .env_remove("MSI_ENDPOINT")
        .env("PATH", empty_path.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    for expected in [
        "no credential is configured",
        "AZURE_CLIENT_SECRET unset",
        "AZURE_CLIENT_CERTIFICATE_PATH unset",
        "AZURE_FEDERATED_TOKEN_FILE unset",
        "IDENTITY_ENDPOINT unset",
        "az login",
        "--credential",
    ] {
        assert!(stderr.contains(expected), "{expected}: {stderr}");
    }
}
