//! "Approvals you can trust", end to end with the real binary, the real OpenSSH tools and the
//! fake Graph: signatures made by `ssh-keygen` accepted by `plan approve` and `apply`, ours
//! accepted by `ssh-keygen -Y verify`, four eyes, forged plans, approvals, runs and journals
//! refused, and sealed runs checked by `evidence verify`.
//!
//! Expectations are computed here with sha2/serde_json and the OpenSSH tools, not with the
//! product's own digest functions (except `items_digest`, which a forger would reuse too).

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::support::fake_graph::{Fake, SECRET};
use crate::support::ssh::{self, keygen, pub_path, public_line, ssh_keygen, ssh_verify, Agent};
use entra_drift::plan::approval::Approval;
use entra_drift::plan::{items_digest, Plan};
use sha2::{Digest, Sha256};

mod forgeries;
mod signing;

const PLAN_NS: &str = "entra-drift-plan";

const EVIDENCE_NS: &str = "entra-drift-evidence";

const ADA: &str = "ada@contoso.example";

const BOB: &str = "bob@contoso.example";

// ---------------------------------------------------------------------------------------------
// Helpers

/// The binary with nothing from the environment that could change its behaviour.
fn entra_command(args: &[&str]) -> Command {
    let mut command = Command::new(assert_cmd::cargo::cargo_bin("entra-drift"));
    for (key, _) in std::env::vars() {
        if key.starts_with("ENTRA_DRIFT_")
            || key.starts_with("AZURE_")
            || key == "SSH_AUTH_SOCK"
            || key == "RUST_LOG"
        {
            command.env_remove(key);
        }
    }
    command.args(args).stdin(std::process::Stdio::null());
    command
}

fn entra(args: &[&str]) -> Output {
    entra_command(args).output().unwrap()
}

fn entra_env(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = entra_command(args);
    for (key, value) in env {
        command.env(key, value);
    }
    command.output().unwrap()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[track_caller]
fn ok(output: &Output) {
    assert!(
        output.status.success(),
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        output.status.code(),
        stdout(output),
        stderr(output)
    );
}

/// Exit 1 with `needle` in stderr.
#[track_caller]
fn refused(output: &Output, needle: &str) {
    assert_eq!(
        output.status.code(),
        Some(1),
        "expected a refusal containing {needle:?}\nstdout:\n{}\nstderr:\n{}",
        stdout(output),
        stderr(output)
    );
    assert!(
        stderr(output).contains(needle),
        "wanted {needle:?} in:\n{}",
        stderr(output)
    );
    assert!(!stderr(output).contains("panicked"), "{}", stderr(output));
}

fn s(path: &Path) -> &str {
    path.to_str().unwrap()
}

fn sha(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

fn audit(fake: &Fake, out: &Path) -> PathBuf {
    crate::support::fake_graph::run_dir(&fake.run(&["-q", "audit", "--out", s(out)], SECRET))
}

fn apply(fake: &Fake, plan: &Path, extra: &[&str]) -> Output {
    let mut args = vec!["apply", s(plan)];
    args.extend_from_slice(extra);
    fake.run(&args, SECRET)
}

fn approve(plan: &Path, approver: &str, extra: &[&str]) -> Output {
    let mut args = vec!["plan", "approve", s(plan), "--approver", approver];
    args.extend_from_slice(&["--ticket", "CHG-1234"]);
    args.extend_from_slice(extra);
    entra(&args)
}

/// What `plan digest PLAN EXTRA...` prints: the statement an approver signs.
fn statement(plan: &Path, extra: &[&str]) -> String {
    let mut args = vec!["plan", "digest", s(plan)];
    args.extend_from_slice(extra);
    let output = entra(&args);
    ok(&output);
    stdout(&output)
}

/// The plan's assignment items (each access without assignment is an item too, on `decide`).
fn item_ids(plan: &Path) -> Vec<String> {
    read_plan(plan)
        .items
        .iter()
        .filter(|i| i.item_id.is_none())
        .map(|i| i.assignment_id.clone())
        .collect()
}

fn read_plan(path: &Path) -> Plan {
    serde_json::from_str(&fs::read_to_string(path).unwrap()).unwrap()
}

fn write_plan(path: &Path, plan: &Plan) {
    fs::write(path, serde_json::to_string_pretty(plan).unwrap() + "\n").unwrap();
}

/// The plan digest, computed here as documented: canonical JSON (sorted keys, no whitespace)
/// of the plan without `approvals`.
fn expected_plan_digest(plan: &Path) -> String {
    let mut value: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(plan).unwrap()).unwrap();
    value.as_object_mut().unwrap().remove("approvals");
    fn canonical(value: &serde_json::Value, out: &mut String) {
        match value {
            serde_json::Value::Object(map) => {
                let mut keys: Vec<&String> = map.keys().collect();
                keys.sort();
                out.push('{');
                for (i, key) in keys.into_iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(&serde_json::to_string(key).unwrap());
                    out.push(':');
                    canonical(&map[key], out);
                }
                out.push('}');
            }
            serde_json::Value::Array(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    canonical(item, out);
                }
                out.push(']');
            }
            scalar => out.push_str(&serde_json::to_string(scalar).unwrap()),
        }
    }
    let mut text = String::new();
    canonical(&value, &mut text);
    sha(text.as_bytes())
}

fn reprocess_counts(fake: &Fake) -> BTreeMap<String, u64> {
    fake.server()
        .stats()
        .reprocess
        .into_iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), v))
        .collect()
}

/// `apply-results.csv` of a plan folder: assignment id → (outcome, reason).
fn results(dir: &Path) -> BTreeMap<String, (String, String)> {
    let mut reader = csv::Reader::from_path(dir.join("apply-results.csv")).unwrap();
    let headers = reader.headers().unwrap().clone();
    let col = |n: &str| headers.iter().position(|h| h == n).unwrap();
    let (id, outcome, reason) = (col("item_id"), col("outcome"), col("reason"));
    reader
        .records()
        .map(|r| {
            let r = r.unwrap();
            (
                r[id].to_string(),
                (r[outcome].to_string(), r[reason].to_string()),
            )
        })
        .collect()
}

/// An allowed_signers file (git's format) of `(principals, key, namespace)` lines.
fn allowed_signers(dir: &Path, name: &str, lines: &[(&str, &Path, &str)]) -> PathBuf {
    let text: String = lines
        .iter()
        .map(|(principals, key, namespace)| {
            format!(
                "{principals} namespaces=\"{namespace}\" {}\n",
                public_line(key)
            )
        })
        .collect();
    let path = dir.join(name);
    fs::write(&path, text).unwrap();
    path
}

/// The armored signature in a text that may also hold ssh-keygen's chatter.
fn armored(text: &str) -> String {
    let begin = text
        .find("-----BEGIN SSH SIGNATURE-----")
        .unwrap_or_else(|| panic!("no signature in {text}"));
    let end_marker = "-----END SSH SIGNATURE-----";
    let end = text[begin..].find(end_marker).unwrap() + begin + end_marker.len();
    format!("{}\n", &text[begin..end])
}

/// `ssh-keygen -Y sign -n entra-drift-plan -f KEY < message`, the signature written to a file.
fn ssh_keygen_sign(key: &Path, message: &str, dir: &Path, name: &str) -> PathBuf {
    let message_path = dir.join(format!("{name}.msg"));
    fs::write(&message_path, message).unwrap();
    let mut command = Command::new("ssh-keygen");
    command.args(["-Y", "sign", "-n", PLAN_NS, "-f"]).arg(key);
    let out = ssh::run(command, Some(&message_path));
    assert!(out.success, "ssh-keygen -Y sign: {}", out.output);
    let sig = dir.join(format!("{name}.sig"));
    fs::write(&sig, armored(&out.output)).unwrap();
    sig
}

/// The fingerprint `ssh-keygen -l` prints for a key.
fn ssh_fingerprint(key: &Path) -> String {
    let out = ssh_keygen(&["-l", "-E", "sha256", "-f", s(&pub_path(key))]);
    assert!(out.success, "{}", out.output);
    out.output.split_whitespace().nth(1).unwrap().to_string()
}

/// Rewrites index.csv of a tenant folder, by column name.
fn edit_index(tenant_dir: &Path, change: impl FnOnce(&[String], &mut Vec<Vec<String>>)) {
    let path = tenant_dir.join("index.csv");
    let mut reader = csv::Reader::from_path(&path).unwrap();
    let headers: Vec<String> = reader.headers().unwrap().iter().map(String::from).collect();
    let mut rows: Vec<Vec<String>> = reader
        .records()
        .map(|r| r.unwrap().iter().map(String::from).collect())
        .collect();
    change(&headers, &mut rows);
    let mut writer = csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_path(&path)
        .unwrap();
    writer.write_record(&headers).unwrap();
    for row in rows {
        writer.write_record(&row).unwrap();
    }
    writer.flush().unwrap();
}

fn set_cell(headers: &[String], rows: &mut [Vec<String>], run: &str, column: &str, value: &str) {
    let run_col = headers.iter().position(|h| h == "run").unwrap();
    let col = headers.iter().position(|h| h == column).unwrap();
    let row = rows
        .iter_mut()
        .find(|r| r[run_col] == run)
        .unwrap_or_else(|| panic!("{run} not in index.csv"));
    row[col] = value.to_string();
}

fn name(dir: &Path) -> String {
    dir.file_name().unwrap().to_string_lossy().into_owned()
}

/// What a forger who can write the run folder does after editing plan.json: record the plan
/// (without approvals) in manifest.json and the manifest's new digest in index.csv.
fn recommit(run: &Path, plan: &Plan) {
    let mut plain = plan.clone();
    plain.approvals.clear();
    let committed = serde_json::to_string_pretty(&plain).unwrap() + "\n";
    let manifest_path = run.join("manifest.json");
    let mut manifest: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(&manifest_path).unwrap()).unwrap();
    for file in manifest["files"].as_array_mut().unwrap() {
        if file["path"] == "plan.json" {
            file["sha256"] = sha(committed.as_bytes()).into();
            file["bytes"] = committed.len().into();
        }
    }
    let text = serde_json::to_string_pretty(&manifest).unwrap() + "\n";
    fs::write(&manifest_path, &text).unwrap();
    let run_name = name(run);
    edit_index(run.parent().unwrap(), |headers, rows| {
        set_cell(
            headers,
            rows,
            &run_name,
            "manifest_sha256",
            &sha(text.as_bytes()),
        )
    });
}

// ---------------------------------------------------------------------------------------------
// 2. entra-drift → ssh-keygen

fn offline_audit(out: &Path, extra: &[&str], now: Option<&str>) -> PathBuf {
    let mut args = vec!["-q", "audit", "--tenant-dir"];
    let fixture = crate::common::fixture("contoso-core");
    args.push(s(&fixture));
    args.extend_from_slice(&["--out", s(out)]);
    args.extend_from_slice(extra);
    let output = match now {
        Some(now) => entra_env(&args, &[("ENTRA_DRIFT_NOW", now)]),
        None => entra(&args),
    };
    ok(&output);
    PathBuf::from(stdout(&output).trim())
}

/// The last approval's signature verifies with `ssh-keygen -Y verify` over `plan digest`.
#[track_caller]
fn assert_ssh_keygen_accepts(
    dir: &Path,
    plan: &Path,
    key: &Path,
    principal: &str,
    digest: &[&str],
) {
    let approval = read_plan(plan).approvals.last().cloned().unwrap();
    assert_eq!(approval.approver, principal);
    let signature = approval.signature.expect("a signed approval");
    let message = statement(plan, digest);
    let allowed = format!(
        "{principal} namespaces=\"{PLAN_NS}\" {}\n",
        public_line(key)
    );
    let verdict = ssh_verify(
        dir,
        &allowed,
        principal,
        PLAN_NS,
        &signature,
        message.as_bytes(),
        None,
    );
    assert!(
        verdict.success,
        "ssh-keygen rejected it: {}",
        verdict.output
    );
    assert!(
        verdict
            .output
            .contains(&format!("Good \"{PLAN_NS}\" signature for {principal}")),
        "{}",
        verdict.output
    );
    assert_eq!(approval.key, Some(ssh_fingerprint(key)));
    // ssh-keygen is really checking: the same signature over the other statement fails.
    let other = if digest.is_empty() {
        format!("{}only: x\n", message)
    } else {
        statement(plan, &[])
    };
    let bad = ssh_verify(
        dir,
        &allowed,
        principal,
        PLAN_NS,
        &signature,
        other.as_bytes(),
        None,
    );
    assert!(
        !bad.success,
        "ssh-keygen accepted a signature over another statement"
    );
}

// ---------------------------------------------------------------------------------------------
// 4. Forgeries refused at the CLI

/// `hostname`, as the lock file records it.
fn host_name() -> String {
    let out = Command::new("hostname").output().unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

// ---------------------------------------------------------------------------------------------
// 6. Sealed runs

const WEEKS: [&str; 3] = [
    "2026-11-01T06:00:00Z",
    "2026-11-08T06:00:00Z",
    "2026-11-15T06:00:00Z",
];

const RUNS: [&str; 3] = ["20261101T060000Z", "20261108T060000Z", "20261115T060000Z"];

/// Weekly offline audits of contoso into `out`, sealed with `keys[i]` when given; returns the
/// tenant folder.
fn history(out: &Path, keys: &[Option<&Path>]) -> PathBuf {
    let mut run = PathBuf::new();
    for (week, key) in keys.iter().enumerate() {
        let extra: Vec<&str> = match key {
            Some(key) => vec!["--sign-key", s(key)],
            None => vec![],
        };
        run = offline_audit(out, &extra, Some(WEEKS[week]));
        assert_eq!(name(&run), RUNS[week]);
        assert_eq!(run.join("manifest.sig").is_file(), key.is_some());
    }
    run.parent().unwrap().to_path_buf()
}

fn evidence_verify(dir: &Path, allowed: Option<&Path>) -> Output {
    let mut args = vec!["evidence", "verify", s(dir)];
    if let Some(allowed) = allowed {
        args.extend(["--allowed-signers", s(allowed)]);
    }
    entra(&args)
}

#[track_caller]
fn problem_lines(output: &Output) -> Vec<String> {
    assert_eq!(
        output.status.code(),
        Some(1),
        "verify must fail:\n{}\n{}",
        stdout(output),
        stderr(output)
    );
    stdout(output).lines().map(String::from).collect()
}
