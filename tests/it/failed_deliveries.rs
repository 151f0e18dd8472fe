//! Fewer blind spots (issue 16): directory roles verified like groups and applications, and
//! failed deliveries retried through their assignment requests — the whole loop against the
//! fake Graph, from a generated tenant with ground truth.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::support::fake_graph::*;
use assert_cmd::Command;
use fake_graph::{FakeConfig, Faults};

fn kinds(plan: &Path) -> BTreeMap<String, usize> {
    let value: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(plan).unwrap()).unwrap();
    let mut kinds = BTreeMap::new();
    for item in value["items"].as_array().unwrap() {
        let kind = item["kind"].as_str().unwrap_or("reprocess").to_string();
        // Approving "everything" applies the items whose action is set (not `decide`): a
        // removal a person made waits for a reviewer, and so does access without assignment.
        let action = item["action"].as_str().unwrap_or("reprocess");
        if action == "decide" {
            *kinds.entry("decide".into()).or_default() += 1;
            continue;
        }
        *kinds.entry(kind).or_default() += 1;
    }
    kinds
}

#[test]
fn directory_roles_and_failed_deliveries_go_round_the_whole_loop() {
    let work = tempfile::tempdir().unwrap();
    let tenant = work.path().join("tenant");
    crate::common::generate_small(&tenant, "31");
    let truth = rows(&tenant.join("ground-truth.csv"));
    assert!(
        truth.iter().any(|r| r[4] == "directory_role"),
        "directory role drift injected"
    );
    assert!(
        truth
            .iter()
            .any(|r| r[0] == "not_delivered" && r[7] == "yes"),
        "retryable failed deliveries injected"
    );
    assert!(
        truth
            .iter()
            .any(|r| r[0] == "not_delivered" && r[7] == "no"),
        "too old or missing requests injected"
    );
    let fake = Fake::start(tenant.to_str().unwrap(), |_| {});
    let out = work.path().join("out");
    let audit = fake.run(&["-q", "audit", "--out", out.to_str().unwrap()], SECRET);
    let run: PathBuf = run_dir(&audit);
    assert_eq!(
        rows(&run.join("findings.csv")),
        truth,
        "live equals ground truth"
    );
    let findings = crate::common::read_csv(&run.join("findings.csv")).rows;
    for row in findings
        .iter()
        .filter(|r| r["category"] == "not_delivered" && r["in_plan"] == "no")
    {
        let why = &row["plan_skip_reason"];
        assert!(
            why == "request_too_old" || why == "request_not_found",
            "{why}"
        );
    }

    let plan = run.join("plan.json");
    let kinds = kinds(&plan);
    assert!(
        kinds["request_reprocess"] > 0 && kinds["reprocess"] > 0,
        "{kinds:?}"
    );
    let approve = Command::cargo_bin("entra-drift")
        .unwrap()
        .args(["plan", "approve"])
        .arg(&plan)
        .args(["--approver", "ada"])
        .output()
        .unwrap();
    assert!(
        approve.status.success(),
        "{}",
        String::from_utf8_lossy(&approve.stderr)
    );
    let apply = fake.run(
        &["apply", plan.to_str().unwrap(), "--max-items", "1000"],
        SECRET,
    );
    let stderr = String::from_utf8_lossy(&apply.stderr);
    assert!(apply.status.success(), "{stderr}");
    let stats = fake.server().stats();
    assert_eq!(
        stats.request_reprocess.values().sum::<u64>() as usize,
        kinds["request_reprocess"],
        "every failed delivery in the plan was retried once"
    );
    assert_eq!(
        stats.reprocess.values().sum::<u64>() as usize,
        kinds["reprocess"],
        "every delivered assignment in the plan was reprocessed once"
    );
    let verify = fake.run(&["verify", plan.to_str().unwrap()], SECRET);
    assert!(
        verify.status.success(),
        "{}",
        String::from_utf8_lossy(&verify.stderr)
    );
    // The approved items (those left on `decide` were not approved, and stay as they were).
    let verified: Vec<_> = crate::common::read_csv(&run.join("verify-results.csv"))
        .rows
        .into_iter()
        .filter(|r| r["approved"] == "yes")
        .collect();
    assert!(!verified.is_empty());
    assert!(
        verified.iter().all(|r| r["status"] == "restored"),
        "{:?}",
        verified
            .iter()
            .filter(|r| r["status"] != "restored")
            .take(3)
            .collect::<Vec<_>>()
    );

    // The next audit: what was repaired is gone, what was not planned is still there.
    let again = fake.run(&["-q", "audit", "--out", out.to_str().unwrap()], SECRET);
    let after = rows(&run_dir(&again).join("findings.csv"));
    let value: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&plan).unwrap()).unwrap();
    let undecided: Vec<&str> = value["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["action"] == "decide")
        .filter_map(|i| i["assignment_id"].as_str())
        .collect();
    assert!(
        !after.iter().any(|r| r[0] == "missing_access"
            && r[7] == "yes"
            && !undecided.contains(&r[1].as_str())),
        "no missing access left to plan but the removals a reviewer must decide on"
    );
    assert!(
        !after
            .iter()
            .any(|r| r[0] == "not_delivered" && r[7] == "yes"),
        "no failed delivery left to retry"
    );
    assert!(
        after.iter().any(|r| r[0] == "not_delivered"),
        "too old ones remain"
    );
}

#[test]
fn a_forbidden_directory_role_read_stays_unverifiable_naming_the_permission() {
    let work = tempfile::tempdir().unwrap();
    let tenant = work.path().join("tenant");
    crate::common::generate_small(&tenant, "32");
    let fake = Fake::start(tenant.to_str().unwrap(), |config: &mut FakeConfig| {
        config.faults = Some(
            serde_json::from_value::<Faults>(serde_json::json!({
                "forbidden": ["roleManagement/directory/roleAssignments", "roleManagement/directory/roleEligibilitySchedules"]
            }))
            .unwrap(),
        );
    });
    let out = work.path().join("out");
    let audit = fake.run(&["-q", "audit", "--out", out.to_str().unwrap()], SECRET);
    let run = run_dir(&audit);
    let findings = crate::common::read_csv(&run.join("findings.csv")).rows;
    let roles: Vec<_> = findings
        .iter()
        .filter(|r| {
            r["resource_type"] == "directory_role" && r["reason"] != "target_has_no_object_id"
        })
        .collect();
    assert!(!roles.is_empty());
    for row in roles {
        assert_eq!(row["category"], "unverifiable", "{row:?}");
        assert!(
            row["reason"].contains("RoleManagement.Read.Directory"),
            "{row:?}"
        );
    }
}

#[test]
fn a_version_1_stored_snapshot_is_still_read() {
    let work = tempfile::tempdir().unwrap();
    let tenant = work.path().join("tenant");
    crate::common::generate_small(&tenant, "33");
    let snapshot = Command::cargo_bin("entra-drift")
        .unwrap()
        .args(["-q", "snapshot", "--tenant-dir"])
        .arg(&tenant)
        .arg("--out")
        .arg(work.path().join("snap"))
        .output()
        .unwrap();
    let dir = PathBuf::from(String::from_utf8(snapshot.stdout).unwrap().trim());
    // As version 1 wrote it: no requests table.
    let manifest_path = dir.join("snapshot.json");
    let mut manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&manifest_path).unwrap()).unwrap();
    manifest["version"] = 1.into();
    manifest["tables"]
        .as_object_mut()
        .unwrap()
        .remove("requests.parquet");
    manifest.as_object_mut().unwrap().remove("requests_unread");
    std::fs::write(&manifest_path, manifest.to_string()).unwrap();
    std::fs::remove_file(dir.join("requests.parquet")).unwrap();
    let audit = Command::cargo_bin("entra-drift")
        .unwrap()
        .args(["-q", "audit", "--snapshot"])
        .arg(&dir)
        .arg("--out")
        .arg(work.path().join("out"))
        .output()
        .unwrap();
    let run = run_dir(&audit);
    let findings = crate::common::read_csv(&run.join("findings.csv")).rows;
    let failed: Vec<_> = findings
        .iter()
        .filter(|r| r["category"] == "not_delivered")
        .collect();
    assert!(!failed.is_empty());
    for row in failed {
        assert_eq!(row["in_plan"], "no");
        assert!(row["plan_skip_reason"].contains("version-1"), "{row:?}");
    }
}
