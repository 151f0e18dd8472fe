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

fn item_ids(plan: &Path) -> Vec<String> {
    read_plan(plan)
        .items
        .iter()
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
    let (id, outcome, reason) = (col("assignment_id"), col("outcome"), col("reason"));
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
// 1. ssh-keygen → entra-drift

#[test]
fn approvals_ssh_keygen_signatures_are_accepted_by_approve_and_apply() {
    let fake = Fake::start("contoso", |_| {});
    let out = tempfile::tempdir().unwrap();
    let keys = tempfile::tempdir().unwrap();
    let run = audit(&fake, out.path());
    let plan = run.join("plan.json");
    let ids = item_ids(&plan);
    assert_eq!(ids.len(), 4);
    let ada = keygen(keys.path(), "ada", "ed25519", "");
    let allowed = allowed_signers(keys.path(), "allowed_signers", &[(ADA, &ada, PLAN_NS)]);

    // The statement, recomputed here from the plan's bytes.
    let digest = expected_plan_digest(&plan);
    let all = statement(&plan, &[]);
    assert_eq!(all, format!("{digest}\n"));
    let mut chosen = [ids[2].clone(), ids[0].clone()];
    let only = statement(
        &plan,
        &["--only", &ids[2].to_ascii_uppercase(), "--only", &ids[0]],
    );
    chosen.sort();
    assert_eq!(only, format!("{digest}\nonly: {}\n", chosen.join(",")));
    assert_eq!(
        statement(&plan, &["--exclude", &ids[1], "--exclude", &ids[3]]),
        only,
        "the same selection by exclusion is the same statement"
    );

    // First a selection: ssh-keygen signs `plan digest --only`, approve attaches it.
    let only_sig = ssh_keygen_sign(&ada, &only, keys.path(), "only");
    let all_sig = ssh_keygen_sign(&ada, &all, keys.path(), "all");
    // A signature over another selection is refused on the spot, and nothing is recorded.
    let wrong = approve(
        &plan,
        ADA,
        &[
            "--only",
            &ids[2],
            "--only",
            &ids[0],
            "--signature",
            s(&all_sig),
        ],
    );
    refused(&wrong, "does not match the signed content");
    assert!(read_plan(&plan).approvals.is_empty());

    ok(&approve(
        &plan,
        ADA,
        &[
            "--only",
            &ids[2],
            "--only",
            &ids[0],
            "--signature",
            s(&only_sig),
            "--allowed-signers",
            s(&allowed),
        ],
    ));
    let approval = &read_plan(&plan).approvals[0];
    assert_eq!(approval.plan_digest, digest);
    assert_eq!(
        approval.key.as_deref(),
        Some(ssh_fingerprint(&ada).as_str())
    );
    assert_eq!(
        approval.signature.as_deref(),
        Some(fs::read_to_string(&only_sig).unwrap().as_str())
    );

    let applied = apply(&fake, &plan, &["--allowed-signers", s(&allowed)]);
    ok(&applied);
    let counts = reprocess_counts(&fake);
    assert_eq!(
        counts,
        BTreeMap::from([(ids[0].clone(), 1), (ids[2].clone(), 1)]),
        "only the signed selection is reprocessed"
    );
    let outcome = results(&run);
    assert_eq!(outcome[&ids[1]].0, "not_approved");
    assert_eq!(outcome[&ids[3]].0, "not_approved");

    // Then every item: ssh-keygen signs `plan digest`, a second approval is added.
    ok(&approve(&plan, ADA, &["--signature", s(&all_sig)]));
    assert_eq!(read_plan(&plan).approvals.len(), 2);
    ok(&apply(&fake, &plan, &["--allowed-signers", s(&allowed)]));
    let counts = reprocess_counts(&fake);
    assert_eq!(counts.len(), 4, "{counts:?}");
    assert!(
        counts.values().all(|&n| n == 1),
        "each item once: {counts:?}"
    );
    assert!(results(&run).values().all(|(o, _)| o == "reprocessed"));
}

// ---------------------------------------------------------------------------------------------
// 2. entra-drift → ssh-keygen

fn offline_audit(out: &Path, extra: &[&str], now: Option<&str>) -> PathBuf {
    let mut args = vec!["-q", "audit", "--tenant-dir"];
    let fixture = crate::common::fixture("contoso");
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

#[test]
fn approvals_sign_key_signatures_verify_with_ssh_keygen() {
    let out = tempfile::tempdir().unwrap();
    let keys = tempfile::tempdir().unwrap();
    let run = offline_audit(out.path(), &[], None);
    let plan = run.join("plan.json");
    let ids = item_ids(&plan);

    for kind in ["ed25519", "ecdsa-p256", "rsa"] {
        let key = keygen(keys.path(), kind, kind, "");
        let principal = format!("{kind}@contoso.example");
        ok(&approve(&plan, &principal, &["--sign-key", s(&key)]));
        assert_ssh_keygen_accepts(keys.path(), &plan, &key, &principal, &[]);
        // A selection: the signature covers `plan digest --only ID`.
        ok(&approve(
            &plan,
            &principal,
            &["--only", &ids[1], "--sign-key", s(&key)],
        ));
        assert_ssh_keygen_accepts(keys.path(), &plan, &key, &principal, &["--only", &ids[1]]);
    }

    // An encrypted key: refused without (or with a wrong) passphrase, signs with it.
    let locked = keygen(keys.path(), "locked", "ed25519", "correct horse battery");
    let before = read_plan(&plan).approvals.len();
    let args = [
        "plan",
        "approve",
        s(&plan),
        "--approver",
        "locked@contoso.example",
        "--sign-key",
        s(&locked),
    ];
    refused(&entra(&args), "ENTRA_DRIFT_KEY_PASSPHRASE");
    refused(
        &entra_env(&args, &[("ENTRA_DRIFT_KEY_PASSPHRASE", "wrong")]),
        "wrong passphrase",
    );
    assert_eq!(read_plan(&plan).approvals.len(), before, "nothing recorded");
    let signed = entra_env(
        &args,
        &[("ENTRA_DRIFT_KEY_PASSPHRASE", "correct horse battery")],
    );
    ok(&signed);
    assert!(
        !stderr(&signed).contains("correct horse"),
        "{}",
        stderr(&signed)
    );
    assert_ssh_keygen_accepts(keys.path(), &plan, &locked, "locked@contoso.example", &[]);

    // Through a real ssh-agent: `--sign-key key.pub` signs with the agent's key.
    let agent_dir = tempfile::tempdir().unwrap();
    let agent = Agent::start(agent_dir.path(), "/bin/false");
    let held = keygen(keys.path(), "held", "ecdsa-p256", "");
    agent.add(&held, &[]);
    // Only the agent holds the private key now.
    fs::remove_file(&held).unwrap();
    let socket = agent.socket.to_str().unwrap().to_string();
    let through_agent = entra_env(
        &[
            "plan",
            "approve",
            s(&plan),
            "--approver",
            "agent@contoso.example",
            "--only",
            &ids[3],
            "--sign-key",
            s(&pub_path(&held)),
        ],
        &[("SSH_AUTH_SOCK", &socket)],
    );
    ok(&through_agent);
    assert_ssh_keygen_accepts(
        keys.path(),
        &plan,
        &held,
        "agent@contoso.example",
        &["--only", &ids[3]],
    );
    // A .pub whose key the agent does not hold.
    let absent = keygen(keys.path(), "absent", "ed25519", "");
    refused(
        &entra_env(
            &[
                "plan",
                "approve",
                s(&plan),
                "--approver",
                "agent@contoso.example",
                "--sign-key",
                s(&pub_path(&absent)),
            ],
            &[("SSH_AUTH_SOCK", &socket)],
        ),
        "not loaded in ssh-agent",
    );
}

// ---------------------------------------------------------------------------------------------
// 3. Four eyes

#[test]
fn approvals_four_eyes_needs_two_people_with_their_own_keys() {
    let fake = Fake::start("contoso", |_| {});
    let out = tempfile::tempdir().unwrap();
    let keys = tempfile::tempdir().unwrap();
    let run = audit(&fake, out.path());
    let plan = run.join("plan.json");
    let ids = item_ids(&plan);

    // ~/.config/entra-drift/allowed_signers, as a README would show it:
    //   ada@contoso.example namespaces="entra-drift-plan" ssh-ed25519 AAAA... ada
    //   bob@contoso.example namespaces="entra-drift-plan" ssh-ed25519 AAAA... bob
    // (ada has a second key, on her laptop).
    let ada = keygen(keys.path(), "ada", "ed25519", "");
    let ada_laptop = keygen(keys.path(), "ada-laptop", "ecdsa-p256", "");
    let bob = keygen(keys.path(), "bob", "ed25519", "");
    let mallory = keygen(keys.path(), "mallory", "ed25519", "");
    let allowed = allowed_signers(
        keys.path(),
        "allowed_signers",
        &[
            (ADA, &ada, PLAN_NS),
            (BOB, &bob, PLAN_NS),
            (ADA, &ada_laptop, PLAN_NS),
        ],
    );
    let policy = ["--allowed-signers", s(&allowed)];
    let four_eyes = ["--allowed-signers", s(&allowed), "--min-approvers", "2"];

    // $ entra-drift plan approve PLAN --approver ada@contoso.example --sign-key ~/.ssh/ada
    ok(&approve(
        &plan,
        ADA,
        &["--sign-key", s(&ada), "--allowed-signers", s(&allowed)],
    ));

    // One approval is not enough; four eyes without a policy is refused outright.
    refused(
        &apply(&fake, &plan, &["--min-approvers", "2"]),
        "--min-approvers 2 needs --allowed-signers",
    );
    refused(
        &apply(&fake, &plan, &four_eyes),
        "no item has the 2 distinct approver(s) required",
    );
    // The same person approving again (same key, then her other key) still counts once.
    ok(&approve(&plan, ADA, &["--sign-key", s(&ada)]));
    ok(&approve(&plan, ADA, &["--sign-key", s(&ada_laptop)]));
    refused(
        &apply(&fake, &plan, &four_eyes),
        "no item has the 2 distinct approver(s) required",
    );
    let three_by_ada = fs::read_to_string(&plan).unwrap();

    // A key not listed for the claimed approver: mallory's (listed for nobody), and ada's
    // (listed, but for ada) claiming to be bob. `plan approve --allowed-signers` refuses it at
    // once; without it the approval is recorded, and apply refuses the plan.
    for (key, who) in [(&mallory, "mallory's key"), (&ada, "ada's key")] {
        let checked = approve(
            &plan,
            BOB,
            &["--sign-key", s(key), "--allowed-signers", s(&allowed)],
        );
        refused(
            &checked,
            "is not listed for principal \"bob@contoso.example\"",
        );
        assert_eq!(fs::read_to_string(&plan).unwrap(), three_by_ada, "{who}");
        ok(&approve(&plan, BOB, &["--sign-key", s(key)]));
        for args in [&policy[..], &four_eyes[..]] {
            let output = apply(&fake, &plan, args);
            refused(
                &output,
                "the approval by `bob@contoso.example` does not verify",
            );
            refused(
                &output,
                "is not listed for principal \"bob@contoso.example\"",
            );
        }
        fs::write(&plan, &three_by_ada).unwrap();
    }

    // An unsigned approval is refused when --allowed-signers is given.
    ok(&approve(&plan, BOB, &[]));
    refused(
        &apply(&fake, &plan, &policy),
        "the approval by `bob@contoso.example` is not signed",
    );
    refused(
        &apply(&fake, &plan, &four_eyes),
        "the approval by `bob@contoso.example` is not signed",
    );
    fs::write(&plan, &three_by_ada).unwrap();
    assert!(
        reprocess_counts(&fake).is_empty(),
        "nothing refused was sent"
    );

    // $ entra-drift plan approve PLAN --approver bob@contoso.example --sign-key ~/.ssh/bob
    // Bob approves two of the four items: only those have two pairs of eyes.
    ok(&approve(
        &plan,
        BOB,
        &["--only", &ids[0], "--only", &ids[1], "--sign-key", s(&bob)],
    ));
    // $ entra-drift apply PLAN --allowed-signers allowed_signers --min-approvers 2
    ok(&apply(&fake, &plan, &four_eyes));
    assert_eq!(
        reprocess_counts(&fake),
        BTreeMap::from([(ids[0].clone(), 1), (ids[1].clone(), 1)])
    );
    let outcome = results(&run);
    for id in &ids[2..] {
        assert_eq!(outcome[id].0, "not_approved");
        assert!(
            outcome[id]
                .1
                .contains("approved by 1 of the 2 required (ada@contoso.example)"),
            "{:?}",
            outcome[id]
        );
    }
    let journal = fs::read_to_string(run.join("plan.journal.jsonl")).unwrap();
    assert!(
        journal.contains("approved by ada@contoso.example, bob@contoso.example"),
        "{journal}"
    );

    // Bob approves the rest: every item is reprocessed, each once.
    ok(&approve(
        &plan,
        BOB,
        &[
            "--exclude",
            &ids[0],
            "--exclude",
            &ids[1],
            "--sign-key",
            s(&bob),
        ],
    ));
    ok(&apply(&fake, &plan, &four_eyes));
    let counts = reprocess_counts(&fake);
    assert_eq!(counts.len(), 4, "{counts:?}");
    assert!(counts.values().all(|&n| n == 1), "{counts:?}");
}

/// One key that the policy lets sign as several principals (a wildcard line, or a shared key)
/// is still one pair of eyes.
#[test]
fn approvals_one_key_is_one_approver_even_when_allowed_for_several_principals() {
    let fake = Fake::start("contoso", |_| {});
    let out = tempfile::tempdir().unwrap();
    let keys = tempfile::tempdir().unwrap();
    let run = audit(&fake, out.path());
    let plan = run.join("plan.json");
    let shared = keygen(keys.path(), "shared", "ed25519", "");
    let bob = keygen(keys.path(), "bob", "ed25519", "");
    // git's documentation shows wildcard principals; here one key may sign as anyone at
    // contoso, and bob also has his own key.
    let allowed = allowed_signers(
        keys.path(),
        "allowed_signers",
        &[
            ("*@contoso.example", &shared, PLAN_NS),
            (BOB, &bob, PLAN_NS),
        ],
    );
    let four_eyes = ["--allowed-signers", s(&allowed), "--min-approvers", "2"];
    ok(&approve(
        &plan,
        ADA,
        &["--sign-key", s(&shared), "--allowed-signers", s(&allowed)],
    ));
    ok(&approve(
        &plan,
        BOB,
        &["--sign-key", s(&shared), "--allowed-signers", s(&allowed)],
    ));
    refused(
        &apply(&fake, &plan, &four_eyes),
        "no item has the 2 distinct approver(s) required",
    );
    assert!(reprocess_counts(&fake).is_empty(), "one key approved twice");
    // Bob with his own key is the second pair of eyes.
    ok(&approve(&plan, BOB, &["--sign-key", s(&bob)]));
    ok(&apply(&fake, &plan, &four_eyes));
    assert_eq!(reprocess_counts(&fake).len(), 4);
}

// ---------------------------------------------------------------------------------------------
// 4. Forgeries refused at the CLI

/// `hostname`, as the lock file records it.
fn host_name() -> String {
    let out = Command::new("hostname").output().unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

#[test]
fn approvals_forged_plans_approvals_and_runs_are_refused() {
    let fake = Fake::start("contoso", |_| {});
    let out = tempfile::tempdir().unwrap();
    let keys = tempfile::tempdir().unwrap();
    let run = audit(&fake, out.path());
    let other_run = audit(&fake, out.path());
    assert_ne!(run, other_run);
    let plan = run.join("plan.json");
    let other_plan = other_run.join("plan.json");
    let tenant_dir = run.parent().unwrap().to_path_buf();
    let ada = keygen(keys.path(), "ada", "ed25519", "");
    let allowed = allowed_signers(keys.path(), "allowed_signers", &[(ADA, &ada, PLAN_NS)]);
    let policy = ["--allowed-signers", s(&allowed)];
    ok(&approve(&plan, ADA, &["--sign-key", s(&ada)]));
    ok(&approve(&other_plan, ADA, &["--sign-key", s(&ada)]));
    let original = fs::read_to_string(&plan).unwrap();
    let manifest = fs::read(run.join("manifest.json")).unwrap();
    let index = fs::read(tenant_dir.join("index.csv")).unwrap();
    let restore = || {
        fs::write(&plan, &original).unwrap();
        fs::write(run.join("manifest.json"), &manifest).unwrap();
        fs::write(tenant_dir.join("index.csv"), &index).unwrap();
    };
    // The untouched plan would be applied (dry run: nothing is sent).
    ok(&apply(
        &fake,
        &plan,
        &["--dry-run", "--allowed-signers", s(&allowed)],
    ));

    // An item added after the approval, its items digest recomputed.
    let mut forged = read_plan(&plan);
    let mut extra = forged.items[0].clone();
    extra.assignment_id = "3f1e7c2a-5b6d-4e8f-9a0b-1c2d3e4f5a6b".into();
    forged.items.push(extra);
    forged.items_digest = items_digest(&forged.items);
    forged.approvals[0]
        .items
        .push("3f1e7c2a-5b6d-4e8f-9a0b-1c2d3e4f5a6b".into());
    write_plan(&plan, &forged);
    refused(&apply(&fake, &plan, &policy), "not committed by its run");
    // Even with the run's manifest and index rewritten to commit it, the signed approval was
    // given for another plan digest.
    recommit(&run, &forged);
    refused(&apply(&fake, &plan, &policy), "it belongs to another plan");
    refused(&apply(&fake, &plan, &[]), "it belongs to another plan");
    restore();

    // `expires` edited, with and without the run's commitment forged to match.
    let mut forged = read_plan(&plan);
    forged.expires += chrono::Duration::days(365);
    write_plan(&plan, &forged);
    refused(&apply(&fake, &plan, &policy), "not committed by its run");
    recommit(&run, &forged);
    refused(&apply(&fake, &plan, &policy), "it belongs to another plan");
    restore();

    // An approval copied from another run's plan of the same tenant and the same items.
    let copied = read_plan(&other_plan).approvals[0].clone();
    assert_eq!(copied.items, read_plan(&plan).approvals[0].items);
    let mut forged = read_plan(&plan);
    forged.approvals = vec![copied];
    write_plan(&plan, &forged);
    let output = apply(&fake, &plan, &policy);
    refused(&output, "it belongs to another plan");
    refused(&output, &expected_plan_digest(&other_plan));
    restore();

    // Hand-written approvals: no approver; dated 2099.
    let genuine: Approval = read_plan(&plan).approvals[0].clone();
    let handmade = |change: &dyn Fn(&mut Approval)| {
        let mut forged = read_plan(&plan);
        let mut approval = genuine.clone();
        change(&mut approval);
        forged.approvals.push(approval);
        write_plan(&plan, &forged);
    };
    handmade(&|a| {
        a.approver = " ".into();
        a.signature = None;
        a.key = None;
    });
    refused(&apply(&fake, &plan, &policy), "it names no approver");
    refused(&apply(&fake, &plan, &[]), "it names no approver");
    restore();
    handmade(&|a| a.approved_at = "2099-01-01T00:00:00Z".parse().unwrap());
    refused(&apply(&fake, &plan, &policy), "outside the plan's life");
    refused(&apply(&fake, &plan, &[]), "outside the plan's life");
    restore();

    // A duplicate item, both digests recomputed (and the run's commitment too).
    let mut forged = read_plan(&plan);
    let twin = forged.items[1].clone();
    forged.items.push(twin);
    forged.items_digest = items_digest(&forged.items);
    write_plan(&plan, &forged);
    recommit(&run, &forged);
    refused(&apply(&fake, &plan, &policy), "item 5 repeats assignment");
    restore();

    // A run whose manifest.json is gone never committed its plan.
    fs::rename(
        other_run.join("manifest.json"),
        keys.path().join("manifest.json"),
    )
    .unwrap();
    let output = apply(&fake, &other_plan, &policy);
    refused(&output, "not committed by its run");
    refused(&output, "cannot be read");
    fs::rename(
        keys.path().join("manifest.json"),
        other_run.join("manifest.json"),
    )
    .unwrap();

    // The run missing from index.csv.
    let run_name = name(&run);
    edit_index(&tenant_dir, |headers, rows| {
        let col = headers.iter().position(|h| h == "run").unwrap();
        rows.retain(|r| r[col] != run_name);
    });
    let output = apply(&fake, &plan, &policy);
    refused(&output, "not committed by its run");
    refused(&output, "does not list the run");
    restore();

    // Two applies at once: a live lock (this test's process, on this host) in the plan folder.
    let lock = run.join(".lock");
    let holder = serde_json::json!({
        "pid": std::process::id(),
        "host": host_name(),
        "started": chrono::Utc::now().to_rfc3339(),
        "tool": "x",
    });
    fs::write(&lock, serde_json::to_string_pretty(&holder).unwrap()).unwrap();
    let output = apply(&fake, &plan, &policy);
    refused(&output, "another run holds");
    refused(&output, &format!("pid {}", std::process::id()));
    assert!(lock.is_file(), "the holder's lock is left alone");
    fs::remove_file(&lock).unwrap();

    assert!(
        reprocess_counts(&fake).is_empty(),
        "no forged plan was applied"
    );
    assert!(!run.join("plan.journal.jsonl").exists());

    // A plan copied out of its folder is refused; named with --run, it is the run's plan.
    let elsewhere = out.path().join("elsewhere");
    fs::create_dir(&elsewhere).unwrap();
    let copy = elsewhere.join("plan.json");
    fs::copy(&plan, &copy).unwrap();
    let output = apply(&fake, &copy, &policy);
    refused(&output, "not committed by its run");
    refused(&output, "its folder is `elsewhere`");
    // Named with another run, it is still not committed.
    let output = apply(
        &fake,
        &copy,
        &["--run", s(&other_run), "--allowed-signers", s(&allowed)],
    );
    refused(&output, "not committed by its run");
    ok(&apply(
        &fake,
        &copy,
        &["--run", s(&run), "--allowed-signers", s(&allowed)],
    ));
    let counts = reprocess_counts(&fake);
    assert_eq!(counts.len(), 4, "{counts:?}");
    assert!(counts.values().all(|&n| n == 1), "{counts:?}");
    assert!(elsewhere.join("plan.journal.jsonl").is_file());
}

// ---------------------------------------------------------------------------------------------
// 5. The journal

#[test]
fn approvals_journal_edits_are_refused_and_recheck_journal_distrusts_it() {
    let fake = Fake::start("contoso", |_| {});
    let out = tempfile::tempdir().unwrap();
    let run = audit(&fake, out.path());
    let plan = run.join("plan.json");
    let ids = item_ids(&plan);
    let never_sent = ids[3].clone();
    ok(&approve(&plan, ADA, &["--exclude", &never_sent]));
    ok(&apply(&fake, &plan, &[]));
    assert_eq!(reprocess_counts(&fake).len(), 3);

    // The chain as documented: every line names the plan and links to the line before it.
    let digest = expected_plan_digest(&plan);
    let path = run.join("plan.journal.jsonl");
    let original = fs::read_to_string(&path).unwrap();
    let lines: Vec<&str> = original.lines().collect();
    let mut prev = digest.clone();
    for (number, line) in lines.iter().enumerate() {
        let entry: serde_json::Value = serde_json::from_str(line).unwrap();
        assert_eq!(entry["plan"], digest.as_str(), "line {}", number + 1);
        assert_eq!(entry["prev"], prev.as_str(), "line {}", number + 1);
        prev = sha(line.as_bytes());
    }
    let first: serde_json::Value = serde_json::from_str(lines[0]).unwrap();
    assert_eq!(first["event"], "run");
    assert!(!original.contains(&never_sent));

    let write = |lines: &[&str]| fs::write(&path, lines.join("\n") + "\n").unwrap();
    let refused_at = |line: usize, problem: &str| {
        let output = apply(&fake, &plan, &[]);
        refused(&output, &format!("line {line}: {problem}"));
        refused(&output, "plan.journal.jsonl");
    };

    // A line inserted (a copy of line 3 after it).
    let mut inserted = lines.clone();
    inserted.insert(3, lines[2]);
    write(&inserted);
    refused_at(4, "does not link to the line before it");

    // A line edited: line 2's detail changed, so line 3 no longer links to it.
    let mut entry: serde_json::Value = serde_json::from_str(lines[1]).unwrap();
    entry["detail"] = "edited".into();
    let edited_line = serde_json::to_string(&entry).unwrap();
    let mut edited = lines.clone();
    edited[1] = &edited_line;
    write(&edited);
    refused_at(3, "does not link to the line before it");

    // The run line deleted.
    write(&lines[1..]);
    refused_at(1, "does not link to the line before it");
    assert_eq!(reprocess_counts(&fake).len(), 3, "nothing was sent");

    // A journal copied from another plan (the next audit's, of the same tenant).
    let other_run = audit(&fake, out.path());
    let other_plan = other_run.join("plan.json");
    ok(&approve(&other_plan, ADA, &[]));
    fs::write(other_run.join("plan.journal.jsonl"), &original).unwrap();
    let output = apply(&fake, &other_plan, &[]);
    refused(&output, "line 1: belongs to plan");
    refused(&output, &digest);

    // A forged but correctly chained `reprocessed` line for the item that was never sent.
    let forged = serde_json::json!({
        "at": chrono::Utc::now().to_rfc3339(),
        "event": "reprocessed",
        "assignment_id": never_sent,
        "detail": "202 Accepted",
        "plan": digest,
        "prev": sha(lines.last().unwrap().as_bytes()),
    });
    let mut chained = lines.clone();
    let forged_line = serde_json::to_string(&forged).unwrap();
    chained.push(&forged_line);
    write(&chained);
    ok(&approve(&plan, BOB, &["--only", &never_sent]));
    // A plain apply trusts the journal: the item counts as done and is not sent.
    ok(&apply(&fake, &plan, &[]));
    assert_eq!(reprocess_counts(&fake).get(&never_sent), None);
    let outcome = results(&run);
    assert_eq!(outcome[&never_sent].0, "reprocessed");
    assert!(
        outcome[&never_sent].1.contains("(earlier run)"),
        "{:?}",
        outcome[&never_sent]
    );
    // --recheck-journal re-checks every approved item live: the forged one is still missing
    // its access and is reprocessed; the others are restored and not sent again.
    ok(&apply(&fake, &plan, &["--recheck-journal"]));
    let counts = reprocess_counts(&fake);
    assert_eq!(counts.get(&never_sent), Some(&1), "{counts:?}");
    assert_eq!(counts.len(), 4);
    assert!(counts.values().all(|&n| n == 1), "{counts:?}");
    let outcome = results(&run);
    assert_eq!(outcome[&never_sent].0, "reprocessed");
    assert!(!outcome[&never_sent].1.contains("earlier run"));
    for id in &ids[..3] {
        assert_eq!(outcome[id].0, "skipped", "{:?}", outcome[id]);
    }
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

#[test]
fn approvals_sealed_runs_verify_and_rewritten_or_unsealed_runs_do_not() {
    let keys = tempfile::tempdir().unwrap();
    let sealer = keygen(keys.path(), "sealer", "ed25519", "");
    let ada = keygen(keys.path(), "ada", "ed25519", "");
    let allowed = allowed_signers(
        keys.path(),
        "allowed_signers",
        &[
            ("audits@contoso.example", &sealer, EVIDENCE_NS),
            (ADA, &ada, PLAN_NS),
        ],
    );
    let fingerprint = ssh_fingerprint(&sealer);

    // Two sealed runs verify, each named with its sealer.
    let out = tempfile::tempdir().unwrap();
    let tenant = history(out.path(), &[Some(&sealer), Some(&sealer)]);
    let output = evidence_verify(out.path(), Some(&allowed));
    ok(&output);
    assert!(stdout(&output).is_empty(), "{}", stdout(&output));
    for run in &RUNS[..2] {
        let line = format!("sealed: {run}: by audits@contoso.example ({fingerprint})");
        assert!(
            stderr(&output).contains(&line),
            "{line} in:\n{}",
            stderr(&output)
        );
    }
    // The seal is an ordinary sshsig: ssh-keygen checks it over "<manifest digest>\n".
    for run in &RUNS[..2] {
        let manifest = fs::read(tenant.join(run).join("manifest.json")).unwrap();
        let seal = fs::read_to_string(tenant.join(run).join("manifest.sig")).unwrap();
        let message = format!("{}\n", sha(&manifest));
        let verdict = ssh_verify(
            keys.path(),
            &fs::read_to_string(&allowed).unwrap(),
            "audits@contoso.example",
            EVIDENCE_NS,
            &seal,
            message.as_bytes(),
            None,
        );
        assert!(verdict.success, "{run}: {}", verdict.output);
    }

    // Rewriting the first run's findings and every digest that records them (its manifest,
    // index.csv, the second run's link and its index row): the chain holds, the seals do not.
    let first = tenant.join(RUNS[0]);
    let second = tenant.join(RUNS[1]);
    let findings = fs::read_to_string(first.join("findings.csv")).unwrap();
    let rewritten = findings.replacen("missing_access", "resource_not_found", 1);
    assert_ne!(findings, rewritten);
    fs::write(first.join("findings.csv"), &rewritten).unwrap();
    let rewrite_manifest = |path: &Path, change: &dyn Fn(&mut serde_json::Value)| -> String {
        let mut manifest: serde_json::Value =
            serde_json::from_str(&fs::read_to_string(path).unwrap()).unwrap();
        change(&mut manifest);
        let text = serde_json::to_string_pretty(&manifest).unwrap() + "\n";
        fs::write(path, &text).unwrap();
        sha(text.as_bytes())
    };
    let first_digest = rewrite_manifest(&first.join("manifest.json"), &|m| {
        for file in m["files"].as_array_mut().unwrap() {
            if file["path"] == "findings.csv" {
                file["sha256"] = sha(rewritten.as_bytes()).into();
                file["bytes"] = rewritten.len().into();
            }
        }
    });
    let second_digest = rewrite_manifest(&second.join("manifest.json"), &|m| {
        m["previous"]["manifest_sha256"] = first_digest.clone().into();
    });
    edit_index(&tenant, |headers, rows| {
        set_cell(headers, rows, RUNS[0], "manifest_sha256", &first_digest);
        set_cell(headers, rows, RUNS[1], "manifest_sha256", &second_digest);
    });
    for policy in [Some(allowed.as_path()), None] {
        let problems = problem_lines(&evidence_verify(&tenant, policy));
        assert!(
            problems.iter().any(|l| l.starts_with(&format!(
                "{}: signature: manifest.sig does not verify",
                RUNS[0]
            ))),
            "{problems:?}"
        );
        assert!(
            problems.iter().all(|l| l.contains(": signature: ")),
            "only the seals give the rewrite away: {problems:?}"
        );
    }

    // A third run without --sign-key after sealed ones.
    let out = tempfile::tempdir().unwrap();
    let tenant = history(out.path(), &[Some(&sealer), Some(&sealer), None]);
    let problems = problem_lines(&evidence_verify(&tenant, Some(&allowed)));
    assert_eq!(
        problems,
        [format!(
            "{}: signature: not sealed (no manifest.sig), though an earlier run of this tenant is",
            RUNS[2]
        )]
    );

    // Approvals added to a sealed run's plan are notes, with who signed them; an approval whose
    // signature does not hold for its approver is a problem.
    let out = tempfile::tempdir().unwrap();
    let run = offline_audit(out.path(), &["--sign-key", s(&sealer)], None);
    let plan = run.join("plan.json");
    ok(&approve(&plan, ADA, &["--sign-key", s(&ada)]));
    ok(&approve(&plan, BOB, &[]));
    let output = evidence_verify(out.path(), Some(&allowed));
    ok(&output);
    let note = format!(
        "approvals added after the audit: {ADA} (signed by {ADA} ({})); {BOB} (unsigned)",
        ssh_fingerprint(&ada)
    );
    assert!(
        stderr(&output).contains(&note),
        "{note} in:\n{}",
        stderr(&output)
    );
    let mut forged = read_plan(&plan);
    let mut renamed = forged.approvals[0].clone();
    renamed.approver = BOB.into();
    forged.approvals.push(renamed);
    write_plan(&plan, &forged);
    let problems = problem_lines(&evidence_verify(out.path(), Some(&allowed)));
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(
        problems[0].contains(": signature: plan.json: approvals")
            && problems[0].contains("SIGNATURE DOES NOT VERIFY"),
        "{problems:?}"
    );

    // A run sealed by a key the policy allows only for approving plans.
    let out = tempfile::tempdir().unwrap();
    let tenant = history(out.path(), &[Some(&ada)]);
    let problems = problem_lines(&evidence_verify(&tenant, Some(&allowed)));
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(
        problems[0].starts_with(&format!(
            "{}: signature: sealed by key {}, which",
            RUNS[0],
            ssh_fingerprint(&ada)
        )) && problems[0].contains("does not allow for entra-drift-evidence"),
        "{problems:?}"
    );
}

#[test]
fn approvals_a_run_pruned_out_of_order_breaks_the_chain() {
    let out = tempfile::tempdir().unwrap();
    let tenant = history(out.path(), &[None, None, None]);
    let pruned_at = "2026-11-16T06:00:00Z";

    // The middle run marked pruned and deleted while the oldest is kept.
    let middle = out.path().join("middle");
    fs::rename(tenant.join(RUNS[1]), &middle).unwrap();
    let index = fs::read(tenant.join("index.csv")).unwrap();
    edit_index(&tenant, |headers, rows| {
        set_cell(headers, rows, RUNS[1], "pruned_at", pruned_at)
    });
    let problems = problem_lines(&evidence_verify(&tenant, None));
    assert_eq!(
        problems,
        [format!(
            "{}: broken chain: marked pruned, but an older run is kept: retention prunes only the oldest runs",
            RUNS[1]
        )]
    );

    // The same done to the oldest run is what retention does: intact.
    fs::rename(&middle, tenant.join(RUNS[1])).unwrap();
    fs::write(tenant.join("index.csv"), &index).unwrap();
    fs::remove_dir_all(tenant.join(RUNS[0])).unwrap();
    edit_index(&tenant, |headers, rows| {
        set_cell(headers, rows, RUNS[0], "pruned_at", pruned_at)
    });
    let output = evidence_verify(&tenant, None);
    ok(&output);
    assert!(
        stderr(&output).contains(&format!(
            "previous run `{}` was pruned by retention",
            RUNS[0]
        )),
        "{}",
        stderr(&output)
    );
}
