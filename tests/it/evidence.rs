//! `entra-drift evidence verify` against every kind of tampering: an edited, missing or extra
//! file; an edited, missing or moved manifest; a deleted run; a run missing from the index; a
//! link to a changed previous manifest. And what is not tampering: an untouched chain, a run
//! pruned by retention, an approval added by `plan approve`, apply's later files.
//!
//! Each case tampers with its own copy of one three-run history (`fixtures/trend`).

use std::path::{Path, PathBuf};

use crate::common::*;

const TENANT: &str = "a27b43c7-0a4f-4c67-a4d9-b08c482f4357";
const WEEKS: [&str; 3] = [
    "2026-11-01T06:00:00Z",
    "2026-11-08T06:00:00Z",
    "2026-11-15T06:00:00Z",
];
const RUNS: [&str; 3] = ["20261101T060000Z", "20261108T060000Z", "20261115T060000Z"];

fn entra_drift_clean() -> assert_cmd::Command {
    let mut command = entra_drift();
    command
        .env_remove("ENTRA_DRIFT_CONFIG")
        .env_remove("ENTRA_DRIFT_NOW");
    command
}

/// The three runs in a fresh `--out`; returns it and the tenant folder. (Each test tampers
/// with its own history; three offline audits take well under a second.)
fn copy() -> (tempfile::TempDir, PathBuf) {
    let out = tempfile::tempdir().unwrap();
    for (index, now) in WEEKS.iter().enumerate() {
        let output = entra_drift_clean()
            .env("ENTRA_DRIFT_NOW", now)
            .args(["-q", "audit", "--tenant-dir"])
            .arg(fixture(&format!("trend/run{}", index + 1)))
            .arg("--out")
            .arg(out.path())
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let tenant = out.path().join(TENANT);
    (out, tenant)
}

fn verify(dir: &Path) -> Output {
    let output = entra_drift_clean()
        .args(["evidence", "verify"])
        .arg(dir)
        .output()
        .unwrap();
    Output {
        code: output.status.code(),
        stdout: String::from_utf8(output.stdout).unwrap(),
        stderr: String::from_utf8(output.stderr).unwrap(),
    }
}

/// Verification fails, and stdout has a line starting with each `run: kind: detail`.
fn assert_detected(dir: &Path, wanted: &[(&str, &str, &str)]) -> Output {
    let output = verify(dir);
    assert_eq!(
        output.code,
        Some(1),
        "tampering must exit 1:\n{}\n{}",
        output.stdout,
        output.stderr
    );
    for (run, kind, detail) in wanted {
        let prefix = format!("{run}: {kind}: {detail}");
        assert!(
            output.stdout.lines().any(|line| line.starts_with(&prefix)),
            "wanted a line starting with {prefix:?} in:\n{}",
            output.stdout
        );
    }
    assert!(!output.stderr.contains("panicked"));
    output
}

fn edit_json(path: &Path, change: impl FnOnce(&mut serde_json::Value)) {
    let mut value: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    change(&mut value);
    std::fs::write(path, serde_json::to_string_pretty(&value).unwrap() + "\n").unwrap();
}

#[test]
fn an_untouched_chain_verifies_from_the_tenant_folder_the_out_root_and_each_run() {
    let (root, tenant) = copy();
    for dir in [
        tenant.clone(),
        root.path().to_path_buf(),
        tenant.join(RUNS[2]),
        tenant.join(RUNS[0]),
    ] {
        let output = verify(&dir);
        assert_eq!(
            output.code,
            Some(0),
            "{dir:?}:\n{}\n{}",
            output.stdout,
            output.stderr
        );
        assert!(output.stdout.is_empty());
        assert!(output.stderr.contains("intact"), "{}", output.stderr);
    }
    let manifest: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(tenant.join(RUNS[1]).join("manifest.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(manifest["format"], "entra-drift/evidence-manifest");
    assert_eq!(manifest["previous"]["run"], RUNS[0]);
    let files: Vec<&str> = manifest["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap())
        .collect();
    assert_eq!(
        files,
        [
            "drift.xlsx",
            "findings.csv",
            "plan.json",
            "report.html",
            "resolved.csv",
            "summary.md"
        ],
        "every file but the manifest"
    );
}

#[test]
fn an_edited_file_is_detected() {
    let (_root, tenant) = copy();
    let csv = tenant.join(RUNS[1]).join("findings.csv");
    let text = std::fs::read_to_string(&csv)
        .unwrap()
        .replace("persisting", "new");
    std::fs::write(&csv, text).unwrap();
    assert_detected(
        &tenant,
        &[(RUNS[1], "edited", "findings.csv (recorded sha256:")],
    );
}

#[test]
fn a_missing_file_is_detected() {
    let (_root, tenant) = copy();
    std::fs::remove_file(tenant.join(RUNS[2]).join("drift.xlsx")).unwrap();
    assert_detected(&tenant, &[(RUNS[2], "missing", "drift.xlsx")]);
}

#[test]
fn an_extra_file_is_detected_also_in_a_subfolder() {
    let (_root, tenant) = copy();
    std::fs::write(tenant.join(RUNS[0]).join("notes.txt"), "added later").unwrap();
    std::fs::create_dir(tenant.join(RUNS[2]).join("snapshot")).unwrap();
    std::fs::write(tenant.join(RUNS[2]).join("snapshot/users.parquet"), "x").unwrap();
    assert_detected(
        &tenant,
        &[
            (RUNS[0], "extra", "notes.txt"),
            (RUNS[2], "extra", "snapshot/users.parquet"),
        ],
    );
}

#[test]
fn a_manifest_edited_to_hide_an_edit_breaks_the_chain() {
    let (_root, tenant) = copy();
    // Edit a file of the middle run, then "fix" its manifest to match: the index and the next
    // run's link still hold the original manifest's digest.
    let run = tenant.join(RUNS[1]);
    std::fs::write(run.join("findings.csv"), "category\r\n").unwrap();
    let (_, digest) = entra_drift::evidence::file_digest(&run.join("findings.csv")).unwrap();
    edit_json(&run.join("manifest.json"), |manifest| {
        for file in manifest["files"].as_array_mut().unwrap() {
            if file["path"] == "findings.csv" {
                file["sha256"] = digest.clone().into();
                file["bytes"] = 10.into();
            }
        }
    });
    assert_detected(
        &tenant,
        &[
            (RUNS[1], "broken chain", "manifest.json is sha256:"),
            (
                RUNS[2],
                "broken chain",
                &format!("the previous run `{}`'s manifest.json changed", RUNS[1]),
            ),
        ],
    );
    // Checking only the last run still sees its broken link.
    assert_detected(
        &tenant.join(RUNS[2]),
        &[(RUNS[2], "broken chain", "the previous run")],
    );
}

#[test]
fn an_edited_manifest_of_the_latest_run_disagrees_with_the_index() {
    let (_root, tenant) = copy();
    edit_json(&tenant.join(RUNS[2]).join("manifest.json"), |manifest| {
        manifest["files"]
            .as_array_mut()
            .unwrap()
            .retain(|f| f["path"] != "resolved.csv");
    });
    assert_detected(
        &tenant,
        &[
            (RUNS[2], "broken chain", "manifest.json is sha256:"),
            (RUNS[2], "extra", "resolved.csv"),
        ],
    );
}

#[test]
fn a_missing_manifest_is_detected() {
    let (_root, tenant) = copy();
    std::fs::remove_file(tenant.join(RUNS[0]).join("manifest.json")).unwrap();
    assert_detected(
        &tenant,
        &[
            (RUNS[0], "manifest", ""),
            (
                RUNS[1],
                "broken chain",
                &format!("the previous run `{}` has lost its manifest.json", RUNS[0]),
            ),
        ],
    );
    // The run folder itself is still recognised (index.csv lists it).
    assert_detected(&tenant.join(RUNS[0]), &[(RUNS[0], "manifest", "")]);
}

#[test]
fn a_deleted_run_breaks_the_chain() {
    let (_root, tenant) = copy();
    std::fs::remove_dir_all(tenant.join(RUNS[1])).unwrap();
    assert_detected(
        &tenant,
        &[
            (RUNS[1], "broken chain", "the run folder"),
            (
                RUNS[2],
                "broken chain",
                &format!("the previous run `{}` is gone", RUNS[1]),
            ),
        ],
    );
}

#[test]
fn a_run_removed_from_the_index_is_unrecorded_and_breaks_the_order() {
    let (_root, tenant) = copy();
    let index = tenant.join("index.csv");
    let text = std::fs::read_to_string(&index).unwrap();
    let kept: Vec<&str> = text
        .split("\r\n")
        .filter(|line| !line.starts_with(RUNS[1]))
        .collect();
    std::fs::write(&index, kept.join("\r\n")).unwrap();
    assert_detected(
        &tenant,
        &[
            (RUNS[1], "unrecorded run", ""),
            (
                RUNS[2],
                "broken chain",
                &format!(
                    "the manifest links to `{}`, but index.csv lists `{}`",
                    RUNS[1], RUNS[0]
                ),
            ),
        ],
    );
}

#[test]
fn a_run_copied_under_another_name_is_detected() {
    let (_root, tenant) = copy();
    let fake = tenant.join("20261122T060000Z");
    copy_tree(&tenant.join(RUNS[2]), &fake);
    assert_detected(&tenant, &[("20261122T060000Z", "unrecorded run", "")]);
    assert_detected(
        &fake,
        &[("20261122T060000Z", "manifest", "the manifest is run")],
    );
}

#[test]
fn a_run_pruned_by_retention_is_a_note_not_a_break() {
    let out = tempfile::tempdir().unwrap();
    for (index, now) in WEEKS.iter().enumerate() {
        let output = entra_drift_clean()
            .env("ENTRA_DRIFT_NOW", now)
            .args(["-q", "audit", "--keep", "2", "--tenant-dir"])
            .arg(fixture(&format!("trend/run{}", index + 1)))
            .arg("--out")
            .arg(out.path())
            .output()
            .unwrap();
        assert!(output.status.success());
    }
    let tenant = out.path().join(TENANT);
    assert!(!tenant.join(RUNS[0]).exists());
    let output = verify(&tenant);
    assert_eq!(output.code, Some(0), "{}\n{}", output.stdout, output.stderr);
    assert!(
        output.stderr.contains(&format!(
            "previous run `{}` was pruned by retention",
            RUNS[0]
        )),
        "{}",
        output.stderr
    );
}

#[test]
fn an_approval_and_apply_outputs_are_later_additions_but_edited_items_are_not() {
    // A plan that has not expired: the real clock.
    let out = tempfile::tempdir().unwrap();
    let output = entra_drift_clean()
        .args(["-q", "audit", "--tenant-dir"])
        .arg(fixture("contoso-core"))
        .arg("--out")
        .arg(out.path())
        .output()
        .unwrap();
    let run = PathBuf::from(String::from_utf8(output.stdout).unwrap().trim());
    let approve = entra_drift_clean()
        .args(["plan", "approve", "--approver", "Dana Auditor"])
        .arg(run.join("plan.json"))
        .output()
        .unwrap();
    assert!(
        approve.status.success(),
        "{}",
        String::from_utf8_lossy(&approve.stderr)
    );
    std::fs::write(run.join("plan.journal.jsonl"), "{}\n").unwrap();
    let output = verify(&run);
    assert_eq!(output.code, Some(0), "{}\n{}", output.stdout, output.stderr);
    assert!(
        output
            .stderr
            .contains("approvals added after the audit: Dana Auditor (unsigned)"),
        "{}",
        output.stderr
    );
    assert!(
        output
            .stderr
            .contains("plan.journal.jsonl: written after the audit"),
        "{}",
        output.stderr
    );

    edit_json(&run.join("plan.json"), |plan| {
        plan["items"][0]["reason"] = "edited".into();
    });
    assert_detected(
        &run,
        &[(
            &run.file_name().unwrap().to_string_lossy(),
            "edited",
            "plan.json",
        )],
    );
}

#[test]
fn a_folder_that_is_not_an_audit_output_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let output = verify(dir.path());
    assert_eq!(output.code, Some(1));
    assert!(
        output.stderr.contains("not a run folder"),
        "{}",
        output.stderr
    );
}
