//! The README's recipes for third parties, run as written with stock tools: the plan digest
//! recomputed with `jq` and `sha256sum`, and a run's seal checked with `sha256sum` and
//! `ssh-keygen -Y verify`.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::*;
use crate::support::ssh::{keygen, public_line};

fn sh(script: &str, dir: &Path) -> String {
    let output = Command::new("sh")
        .arg("-c")
        .arg(script)
        .current_dir(dir)
        .output()
        .expect("running sh");
    assert!(
        output.status.success(),
        "{script}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

fn sealed_run(out: &Path, key: &Path) -> PathBuf {
    let output = entra_drift()
        .args(["-q", "audit", "--tenant-dir"])
        .arg(fixture("contoso-core"))
        .arg("--out")
        .arg(out)
        .arg("--sign-key")
        .arg(key)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    PathBuf::from(String::from_utf8(output.stdout).unwrap().trim())
}

#[test]
fn the_plan_digest_recipe_with_jq_gives_the_same_digest() {
    let work = tempfile::tempdir().unwrap();
    let key = keygen(work.path(), "audit", "ed25519", "");
    let run = sealed_run(&work.path().join("out"), &key);
    let ours = entra_drift()
        .args(["plan", "digest"])
        .arg(run.join("plan.json"))
        .output()
        .unwrap();
    // The first line is the digest (the items left on `decide` make an `only:` line follow).
    let ours = String::from_utf8(ours.stdout).unwrap();
    let ours = format!("{}\n", ours.lines().next().unwrap());
    let theirs = sh(RECIPE, &run);
    assert_eq!(ours, theirs);

    // Names with every character jq escapes differently from serde_json (DEL), every control
    // character and some that neither escapes, in a plan that was approved and revoked.
    let path = run.join("plan.json");
    let mut plan: entra_drift::plan::Plan =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let controls: String = (0u8..0x20).map(char::from).collect();
    plan.items[0].user_display_name = format!("a\u{7f}b{controls}\u{2028}é😀\"\\/");
    plan.items_digest = entra_drift::plan::items_digest(&plan.items);
    let now = plan.created;
    plan.approve(
        "ada",
        None,
        vec![plan.items[0].key().to_string()],
        Default::default(),
        "test".into(),
        now,
        None,
    )
    .unwrap();
    plan.revoke("ada", Some("CHG-1".into()), now).unwrap();
    plan.write(&path).unwrap();
    let ours = entra_drift()
        .args(["plan", "digest"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        ours.status.success(),
        "{}",
        String::from_utf8_lossy(&ours.stderr)
    );
    let ours = String::from_utf8(ours.stdout).unwrap();
    let ours = format!("{}\n", ours.lines().next().unwrap());
    assert_eq!(
        ours,
        sh(RECIPE, &run),
        "the README's recipe, for every input"
    );
}

#[test]
fn the_readme_states_the_recipe_that_is_tested() {
    let readme = include_str!("../../README.md");
    assert!(
        readme.contains("jq -cjS 'del(.approvals, .revocations)' plan.json | sha256sum"),
        "the README's plan digest recipe is the one tested here"
    );
}

/// The README's recipe for the plan digest.
const RECIPE: &str = "printf 'sha256:%s\\n' \"$(jq -cjS 'del(.approvals, .revocations)' plan.json | sha256sum | cut -d' ' -f1)\"";

#[test]
fn the_seal_recipe_with_sha256sum_and_ssh_keygen_verifies() {
    let work = tempfile::tempdir().unwrap();
    let key = keygen(work.path(), "audit", "ed25519", "");
    let run = sealed_run(&work.path().join("out"), &key);
    let allowed = work.path().join("allowed_signers");
    std::fs::write(
        &allowed,
        format!(
            "audit-bot@contoso.example namespaces=\"entra-drift-evidence\" {}\n",
            public_line(&key)
        ),
    )
    .unwrap();
    let script = format!(
        "sha256sum manifest.json | sed 's/^/sha256:/; s/ .*//' | ssh-keygen -Y verify -f {} -I audit-bot@contoso.example -n entra-drift-evidence -s manifest.sig",
        allowed.display()
    );
    let said = sh(&script, &run);
    assert!(
        said.contains("Good \"entra-drift-evidence\" signature"),
        "{said}"
    );
}
