//! Real Graph shapes (issue 25): enum members this tool does not know, read offline and live.

use serde_json::{json, Value};

use crate::common::{copy_tree, entra_drift, fixture, read_csv};
use crate::support::fake_graph::{run_dir, Fake, SECRET};

const UNKNOWN_STATE: &str = "7979899d-6aae-4e8b-bbe6-2f8d1163c77b";
const FAILED: &str = "15c167de-7798-422a-a21b-ff901f34536e";
const PACKAGE: &str = "b35dd7ff-3853-4b39-ba9a-0f7417cf706b";

fn edit(path: &std::path::Path, change: impl FnOnce(&mut Value)) {
    let mut value: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    change(&mut value);
    std::fs::write(path, serde_json::to_string_pretty(&value).unwrap()).unwrap();
}

/// contoso with an assignment in a state Graph added since (`unknownFutureValue`, status
/// `AutoAssignmentInGracePeriod`), a failed delivery whose latest request has a request type
/// and state this tool does not know, and a package role of an unknown origin system.
fn tenant_with_unknown_members(root: &std::path::Path) {
    copy_tree(&fixture("contoso-core"), root);
    edit(&root.join("assignments.json"), |value| {
        for assignment in value["value"].as_array_mut().unwrap() {
            if assignment["id"] == UNKNOWN_STATE {
                assignment["state"] = "unknownFutureValue".into();
                assignment["status"] = "AutoAssignmentInGracePeriod".into();
            }
        }
    });
    std::fs::write(
        root.join("assignmentRequests.json"),
        json!({"value": [{
            "id": "0b6a9d0e-3c3c-4f0e-9a55-6b1b7d1f2e01",
            "requestType": "approverRemove",
            "state": "unknownFutureValue",
            "status": "SomethingNew",
            "createdDateTime": "2026-11-30T10:00:00Z",
            "completedDateTime": "2026-11-30T10:05:00Z",
            "assignment": {"id": FAILED}
        }]})
        .to_string(),
    )
    .unwrap();
    edit(&root.join("accessPackages.json"), |value| {
        let package = value["value"]
            .as_array_mut()
            .unwrap()
            .iter_mut()
            .find(|p| p["id"] == PACKAGE)
            .unwrap();
        let scopes = package["resourceRoleScopes"].as_array_mut().unwrap();
        let mut team = scopes[0].clone();
        team["id"] = "team-role_team-scope".into();
        team["role"]["originSystem"] = "AadTeam".into();
        team["role"]["originId"] = "Member".into();
        team["scope"]["originSystem"] = "AadTeam".into();
        team["scope"]["originId"] = "team-19a1".into();
        scopes.push(team);
    });
}

fn check(run: &std::path::Path, stderr: &str, offline: bool) -> Vec<String> {
    let findings = read_csv(&run.join("findings.csv"));
    assert!(
        findings
            .rows
            .iter()
            .all(|r| r["assignment_id"] != UNKNOWN_STATE),
        "an unknown state is never delivered, never a failed delivery"
    );
    let failed = findings
        .rows
        .iter()
        .find(|r| r["assignment_id"] == FAILED)
        .expect("the failed delivery is still a finding");
    assert_eq!(
        failed["in_plan"], "no",
        "an unknown request state is not retried: {failed:?}"
    );
    let team: Vec<_> = findings
        .rows
        .iter()
        .filter(|r| r["resource_id"] == "team-19a1")
        .collect();
    assert!(
        !team.is_empty(),
        "the unknown origin system's role is shown"
    );
    assert!(
        team.iter()
            .all(|r| r["category"] == "unverifiable" && r["resource_type"] == "other"),
        "{team:?}"
    );
    // Offline every assignment is read, and one in an unknown state is named; a live read lists
    // assignments by the states Graph documents, so it never sees one.
    assert_eq!(
        stderr.contains("unknownFutureValue") && stderr.contains("never treated as delivered"),
        offline,
        "{stderr}"
    );
    let plan: Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("plan.json")).unwrap()).unwrap();
    assert!(plan["items"]
        .as_array()
        .unwrap()
        .iter()
        .all(|i| i["assignment_id"] != UNKNOWN_STATE));
    let mut keys: Vec<String> = findings
        .rows
        .iter()
        .map(|r| {
            format!(
                "{} {} {} {} {} {}",
                r["category"],
                r["assignment_id"],
                r["user_id"],
                r["resource_id"],
                r["role"],
                r["in_plan"]
            )
        })
        .collect();
    keys.sort();
    keys
}

#[test]
fn unknown_enum_members_never_break_a_read_offline_or_live() {
    let work = tempfile::tempdir().unwrap();
    let tenant = work.path().join("tenant");
    tenant_with_unknown_members(&tenant);
    let output = entra_drift()
        .args(["audit", "--tenant-dir"])
        .arg(&tenant)
        .arg("--out")
        .arg(work.path().join("offline"))
        .env("ENTRA_DRIFT_NOW", "2026-12-01T00:00:00Z")
        .output()
        .unwrap();
    let offline = check(
        &run_dir(&output),
        &String::from_utf8_lossy(&output.stderr),
        true,
    );

    let fake = Fake::start(tenant.to_str().unwrap(), |_| {});
    let output = fake
        .command(
            &["audit", "--out", work.path().join("live").to_str().unwrap()],
            SECRET,
        )
        .env("ENTRA_DRIFT_NOW", "2026-12-01T00:00:00Z")
        .output()
        .unwrap();
    let live = check(
        &run_dir(&output),
        &String::from_utf8_lossy(&output.stderr),
        false,
    );
    assert_eq!(
        offline, live,
        "an unknown state: the same findings live and offline"
    );
}

/// Issue 25, defect 4: a live audit said `Audited tenant ? (…)`, titled the dashboard with the
/// GUID and `plan show` said "(unnamed tenant)".
#[test]
fn a_live_audit_names_the_tenant_or_says_why_not() {
    let work = tempfile::tempdir().unwrap();
    let audit = |fake: &Fake, out: &str, config: Option<&std::path::Path>| {
        let mut command = fake.command(
            &["audit", "--out", work.path().join(out).to_str().unwrap()],
            SECRET,
        );
        if let Some(config) = config {
            command.arg("--config").arg(config);
        }
        command.output().unwrap()
    };
    let fake = Fake::start("contoso-core", |_| {});
    let output = audit(&fake, "named", None);
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    let run = run_dir(&output);
    let tenant = &fake.server().tenant_id;
    assert!(
        stderr.contains(&format!("Audited tenant Contoso Ltd (demo) ({tenant})")),
        "{stderr}"
    );
    let html = std::fs::read_to_string(run.join("report.html")).unwrap();
    assert!(
        html.contains("<title>entra-drift — Contoso Ltd (demo)"),
        "the dashboard's title"
    );
    let show = entra_drift()
        .args(["plan", "show"])
        .arg(run.join("plan.json"))
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&show.stdout).starts_with("Reprocess plan for Contoso Ltd (demo)")
    );

    // Without Organization.Read.All: said once, and never a `?`.
    let refused = Fake::start("contoso-core", |config| {
        config.faults =
            Some(serde_json::from_value(json!({"forbidden": ["organization"]})).unwrap());
    });
    let output = audit(&refused, "unnamed", None);
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    run_dir(&output);
    assert!(stderr.contains("Organization.Read.All"), "{stderr}");
    assert!(
        stderr.contains(&format!("Audited tenant {tenant} from")),
        "{stderr}"
    );
    assert!(!stderr.contains("tenant ?"), "{stderr}");
    // The configuration names it instead.
    let config = work.path().join("entra-drift.toml");
    std::fs::write(&config, "tenant_name = \"Contoso (from the config)\"\n").unwrap();
    let output = audit(&refused, "configured", Some(&config));
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    run_dir(&output);
    assert!(
        stderr.contains(&format!(
            "Audited tenant Contoso (from the config) ({tenant})"
        )),
        "{stderr}"
    );
}

/// Issue 25, defect 3: a file missing from a tenant directory was read as an empty collection
/// (`users.json` removed: exit 0 and a smaller plan; one governed group's `members.json` removed:
/// 11 `missing_access` instead of 6, false drift from a partial recording).
#[test]
fn absence_is_not_emptiness_offline_or_live() {
    const ENGINEERING: &str = "1b01d039-c9d2-4b04-9e79-991f6b93bfe4";
    let work = tempfile::tempdir().unwrap();
    // A core collection missing: an error naming it.
    for core in ["users.json", "groups.json", "servicePrincipals.json"] {
        let tenant = work.path().join(format!("without-{core}"));
        copy_tree(&fixture("contoso-core"), &tenant);
        std::fs::remove_file(tenant.join(core)).unwrap();
        let output = entra_drift()
            .args(["audit", "--tenant-dir"])
            .arg(&tenant)
            .arg("--out")
            .arg(work.path().join("out"))
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{core}: {stderr}");
        assert!(
            stderr.contains(core) && stderr.contains("is missing"),
            "{stderr}"
        );
    }
    // A governed group's members not recorded: its member roles are unverifiable, saying so.
    let tenant = work.path().join("partial");
    copy_tree(&fixture("contoso-core"), &tenant);
    let members = tenant.join("groups").join(ENGINEERING).join("members.json");
    assert!(members.exists(), "the fixture records the group's members");
    std::fs::remove_file(&members).unwrap();
    let complete = entra_drift()
        .args(["audit", "--tenant-dir"])
        .arg(fixture("contoso-core"))
        .arg("--out")
        .arg(work.path().join("complete"))
        .output()
        .unwrap();
    let complete = read_csv(&run_dir(&complete).join("findings.csv"));
    let check = |run: &std::path::Path| {
        let findings = read_csv(&run.join("findings.csv"));
        let missing = |table: &crate::common::Table| {
            table
                .rows
                .iter()
                .filter(|r| r["category"] == "missing_access")
                .filter(|r| r["resource_id"] != ENGINEERING)
                .count()
        };
        assert_eq!(
            missing(&findings),
            missing(&complete),
            "no false drift elsewhere"
        );
        let engineering: Vec<_> = findings
            .rows
            .iter()
            .filter(|r| r["resource_id"] == ENGINEERING && r["role"] == "member")
            .collect();
        assert!(!engineering.is_empty());
        for row in engineering {
            assert_eq!(row["category"], "unverifiable", "{row:?}");
        }
    };
    let offline = entra_drift()
        .args(["audit", "--tenant-dir"])
        .arg(&tenant)
        .arg("--out")
        .arg(work.path().join("offline"))
        .output()
        .unwrap();
    let run = run_dir(&offline);
    check(&run);
    let reason = read_csv(&run.join("findings.csv"))
        .rows
        .into_iter()
        .find(|r| r["resource_id"] == ENGINEERING)
        .unwrap();
    assert!(
        reason["reason"].contains("not recorded") || reason["detail"].contains("not recorded"),
        "{reason:?}"
    );
    // fake-graph serves the same directory: the same answer live.
    let fake = Fake::start(tenant.to_str().unwrap(), |_| {});
    let live = fake.run(
        &[
            "-q",
            "audit",
            "--out",
            work.path().join("live").to_str().unwrap(),
        ],
        SECRET,
    );
    check(&run_dir(&live));
}

/// Issue 25, defect 2: live, assignment requests were read filtered to failed states, so a
/// failed delivery whose latest request is in another state said `request_not_found` or
/// `request_too_old` live and `request_state: …` offline, and a retry of an older failed
/// request could be planned although a newer request exists. One tenant, audited both ways:
/// every column equal.
#[test]
fn live_and_offline_audits_of_one_tenant_agree_on_every_column() {
    let work = tempfile::tempdir().unwrap();
    let tenant = work.path().join("tenant");
    crate::common::generate_small(&tenant, "31");
    // A newer, denied request for a failed delivery that its older failed request could retry.
    let path = tenant.join("assignmentRequests.json");
    let mut requests: Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let list = requests["value"].as_array_mut().unwrap();
    let failed = list
        .iter()
        .find(|r| r["state"] == "deliveryFailed")
        .expect("the generator records failed requests")
        .clone();
    let mut newer = failed.clone();
    newer["id"] = "7d3c1a52-9e4b-4c8a-b0a7-3f1e2d5c6b90".into();
    newer["state"] = "denied".into();
    newer["requestType"] = "adminAdd".into();
    let completed =
        chrono::DateTime::parse_from_rfc3339(failed["completedDateTime"].as_str().unwrap())
            .unwrap()
            + chrono::Duration::hours(1);
    newer["completedDateTime"] = completed.to_rfc3339().into();
    newer["createdDateTime"] = completed.to_rfc3339().into();
    list.push(newer);
    std::fs::write(&path, requests.to_string()).unwrap();
    let assignment = failed["assignment"]["id"].as_str().unwrap().to_string();

    let now = "2026-12-01T00:00:00Z";
    let offline = entra_drift()
        .args(["-q", "audit", "--tenant-dir"])
        .arg(&tenant)
        .arg("--out")
        .arg(work.path().join("offline"))
        .env("ENTRA_DRIFT_NOW", now)
        .output()
        .unwrap();
    let fake = Fake::start(tenant.to_str().unwrap(), |_| {});
    // A certificate: SharePoint refuses a secret's token, and the site groups are compared too.
    let pfx = crate::support::fake_graph::app_certificate(work.path());
    let live = fake
        .command_with_certificate(
            &[
                "-q",
                "audit",
                "--out",
                work.path().join("live").to_str().unwrap(),
            ],
            &pfx,
        )
        .env("ENTRA_DRIFT_NOW", now)
        .output()
        .unwrap();
    // Every column of every row.
    let table = |output: &std::process::Output| {
        let run = run_dir(output);
        let table = read_csv(&run.join("findings.csv"));
        let mut rows: Vec<Vec<String>> = table
            .rows
            .iter()
            .map(|row| {
                crate::common::project(
                    row,
                    &table.header.iter().map(String::as_str).collect::<Vec<_>>(),
                )
            })
            .collect();
        rows.sort();
        (table.header.clone(), rows, table)
    };
    let (offline_header, offline_rows, offline) = table(&offline);
    let (live_header, live_rows, _) = table(&live);
    assert_eq!(offline_header, live_header, "the same columns");
    assert!(
        offline_rows.iter().any(|r| {
            r.contains(&"sharepoint_site".to_string()) && r.contains(&"missing_access".to_string())
        }),
        "the generated tenant has site drift"
    );
    for (a, b) in offline_rows.iter().zip(&live_rows) {
        assert_eq!(a, b, "offline and live differ");
    }
    assert_eq!(offline_rows.len(), live_rows.len());
    let row = offline
        .rows
        .iter()
        .find(|r| r["assignment_id"] == assignment)
        .unwrap();
    assert_eq!(
        row["in_plan"], "no",
        "the latest request was denied: {row:?}"
    );
    assert!(row["plan_skip_reason"].contains("denied"), "{row:?}");
}
