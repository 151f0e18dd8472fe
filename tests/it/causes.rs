//! Why access drifted: contoso with a recorded audit log whose events are written here by hand,
//! each expected cause stated beside it. Offline, from a stored snapshot, and live through
//! fake-graph the causes are the same; a refused log degrades to `log_unreadable`.

use std::path::Path;

use serde_json::{json, Value};

use crate::common::{copy_tree, entra_drift, fixture, open_xlsx, read_csv, row_texts, sheet_grid};
use crate::support::fake_graph::{run_dir, Fake, SECRET};

/// The audit's clock: the log window is 2026-10-31T12:00Z .. 2026-11-30T12:00Z.
pub(crate) const NOW: &str = "2026-11-30T12:00:00Z";

const GROUP_SALES: &str = "1b01d039-c9d2-4b04-9e79-991f6b93bfe4";
const GROUP_FINANCE: &str = "15f02b30-b055-4983-ba88-8d6ab2e2d0dc";
const GROUP_DELETED: &str = "7223a244-fd1d-4a44-b4ce-35b196f2d8d8";
const APP: &str = "de04b46d-fab4-48fd-9ec3-1eb67c11a4e6";
const EM: &str = "Azure AD Identity Governance - User Management";

fn person(upn: &str) -> Value {
    json!({"user": {"id": "0f0b85e6-fe8a-4097-bc16-1c1f6fd1e615", "displayName": null,
                    "userPrincipalName": upn, "ipAddress": "192.0.2.1"}, "app": null})
}

fn app(name: &str) -> Value {
    json!({"user": null, "app": {"appId": null, "displayName": name,
           "servicePrincipalId": "8f35f4e9-5c91-42db-a1f7-d77ada4cc0a2"}})
}

/// A membership event in the observed shape (group id in the User target's properties).
fn membership(id: &str, activity: &str, at: &str, by: Value, group: &str, user: &str) -> Value {
    let removal = activity.starts_with("Remove");
    let value = json!(format!("\"{group}\""));
    let (old, new) = if removal {
        (value, Value::Null)
    } else {
        (Value::Null, value)
    };
    json!({
        "id": id, "category": "GroupManagement", "correlationId": format!("corr-{id}"),
        "result": "success", "activityDisplayName": activity, "activityDateTime": at,
        "loggedByService": "Core Directory", "initiatedBy": by,
        "targetResources": [
            {"id": user, "type": "User", "modifiedProperties": [
                {"displayName": "Group.ObjectID", "oldValue": old, "newValue": new}]},
            {"id": "not-a-guid", "type": "Group", "modifiedProperties": []}
        ]
    })
}

fn app_role(id: &str, activity: &str, at: &str, by: Value, role: &str, user: &str) -> Value {
    let quoted = |v: &str| json!(format!("\"{v}\""));
    let removal = activity.starts_with("Remove");
    let property = |name: &str, v: &str| {
        if removal {
            json!({"displayName": name, "oldValue": quoted(v), "newValue": null})
        } else {
            json!({"displayName": name, "oldValue": null, "newValue": quoted(v)})
        }
    };
    json!({
        "id": id, "correlationId": format!("corr-{id}"), "result": "success",
        "activityDisplayName": activity, "activityDateTime": at, "initiatedBy": by,
        "targetResources": [{"id": APP, "type": "ServicePrincipal", "modifiedProperties": [
            property("AppRole.Id", role), property("User.ObjectID", user)]}]
    })
}

/// Contoso plus its audit log; one assignment started inside the window. `unreadable` adds an
/// event with no readable time (which fake-graph, filtering by time, refuses to serve).
pub(crate) fn tenant_with_log(root: &Path, unreadable: bool) {
    tenant_with_log_at(root, unreadable, chrono::Duration::zero());
}

/// [`tenant_with_log`] with every time of the log (and the changed start) moved by `shift`: a
/// test whose plan must not expire audits at `NOW + shift` for a `shift` up to today.
pub(crate) fn tenant_with_log_at(root: &Path, unreadable: bool, shift: chrono::Duration) {
    copy_tree(&fixture("contoso-core"), root);
    let moved = |text: &str| -> String {
        let at = chrono::DateTime::parse_from_rfc3339(text).unwrap() + shift;
        at.to_utc()
            .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
    };
    let path = root.join("assignments.json");
    let mut assignments: Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    for assignment in assignments["value"].as_array_mut().unwrap() {
        if assignment["id"] == "f69b60a5-730e-423d-955d-f88996e3b774" {
            assignment["schedule"]["startDateTime"] = json!(moved("2026-11-20T00:00:00Z"));
        }
    }
    std::fs::write(&path, serde_json::to_string_pretty(&assignments).unwrap()).unwrap();

    let mut failed = membership(
        "e02",
        "Remove member from group",
        "2026-11-21T09:00:00Z",
        app("offboarding-script"),
        GROUP_SALES,
        "284e3a3c-fb91-48bf-bad1-74c3685d7d3a",
    );
    failed["result"] = json!("failure");
    let mut owner_removal = json!({
        // The reference sample's shape: `Type`, the group as its own target.
        "id": "e05", "result": "success", "activityDisplayName": "Remove owner from group",
        "activityDateTime": "2026-11-15T08:30:00.1234567Z", "initiatedBy": app("Microsoft Entra Connect Sync"),
        "targetResources": [
            {"id": GROUP_FINANCE, "Type": "Group", "modifiedProperties": []},
            {"id": "b5e005aa-d08a-4774-8849-0fd560fca3cd", "Type": "User", "modifiedProperties": []}
        ]
    });
    owner_removal["correlationId"] = json!("corr-e05");
    let events = json!({"value": [
        // 751bd151: removed by a person; a later failed attempt changes nothing.
        membership("e01", "Remove member from group", "2026-11-20T10:00:00Z",
                   person("megan@contoso.example"), GROUP_SALES,
                   "284e3a3c-fb91-48bf-bad1-74c3685d7d3a"),
        failed,
        // 399a8a72: removed twice; the latest removal (a script) is the cause.
        membership("e03", "Remove member from group", "2026-11-10T10:00:00Z", app(EM),
                   GROUP_SALES, "d14fc3ef-8d05-4c1b-8b44-a9fd247855c2"),
        membership("e04", "Remove member from group", "2026-11-25T10:00:00Z",
                   app("offboarding-script"), GROUP_SALES, "d14fc3ef-8d05-4c1b-8b44-a9fd247855c2"),
        // cb47596f: owner removed by the sync engine.
        owner_removal,
        // 7979899d: app role removed by entitlement management itself.
        app_role("e06", "Remove app role assignment from user", "2026-11-12T07:00:00Z", app(EM),
                 "8fb69c55-9790-4800-a904-65ad91ce2fc7", "be10e992-16ff-4101-8c4a-9892df3e618d"),
        // f49b8764: its removal is older than the window (the file holds it; the log would not).
        membership("e07", "Remove member from group", "2026-10-01T10:00:00Z",
                   person("megan@contoso.example"), GROUP_SALES,
                   "cf0184e3-973d-4bcd-9304-1f4586389975"),
        // f69b60a5: a removal before the assignment started (undone by the delivery).
        membership("e08", "Remove member from group", "2026-11-19T10:00:00Z",
                   person("megan@contoso.example"), GROUP_SALES,
                   "2e7c5bf7-fdd1-43c8-a4d2-3bb4579211b9"),
        // The deleted group.
        {"id": "e09", "correlationId": "corr-e09", "activityDisplayName": "Delete group",
         "activityDateTime": "2026-11-05T16:00:00Z", "initiatedBy": person("adele@contoso.example"),
         "targetResources": [{"id": GROUP_DELETED, "type": "Group"}]},
        // Access without assignment: added by a person, and an app role by a script.
        membership("e10", "Add member to group", "2026-11-12T11:00:00Z",
                   person("adele@contoso.example"), GROUP_FINANCE,
                   "cb9d98f8-879f-4cad-a534-e7834cb4e33e"),
        app_role("e11", "Add app role assignment grant to user", "2026-11-13T11:00:00Z",
                 app("provisioning-script"), "ed557526-fa51-4b9d-9894-b2d7ef47501d",
                 "1ec56e4e-db27-482e-a874-09ee943158b8"),
        // Noise: another activity, and an event with no readable time.
        {"id": "e12", "activityDisplayName": "Update user", "activityDateTime": "2026-11-14T11:00:00Z"}
    ]});
    let mut events = events;
    if unreadable {
        events["value"].as_array_mut().unwrap().push(json!(
            {"id": "e13", "activityDisplayName": "Remove member from group", "activityDateTime": "soon"}
        ));
    }
    for event in events["value"].as_array_mut().unwrap() {
        if let Some(at) = event["activityDateTime"].as_str() {
            if chrono::DateTime::parse_from_rfc3339(at).is_ok() {
                event["activityDateTime"] = json!(moved(at));
            }
        }
    }
    std::fs::write(
        root.join("directoryAudits.json"),
        serde_json::to_string_pretty(&events).unwrap(),
    )
    .unwrap();
}

/// `(assignment or user, cause, actor, kind)` per explained finding, as stated above.
fn expected() -> Vec<[&'static str; 4]> {
    let mut rows = vec![
        [
            "751bd151-dce2-45c2-9469-052950416704",
            "removed",
            "megan@contoso.example",
            "user",
        ],
        [
            "399a8a72-48bd-411f-9a3b-2ab6b749676b",
            "removed",
            "offboarding-script",
            "application",
        ],
        [
            "cb47596f-82e5-48d4-8d36-40971f438d74",
            "removed",
            "Microsoft Entra Connect Sync",
            "sync",
        ],
        [
            "7979899d-6aae-4e8b-bbe6-2f8d1163c77b",
            "removed",
            EM,
            "entitlement_management",
        ],
        [
            "f49b8764-e61f-493b-b541-c0cca7b7cc0e",
            "before_log_window",
            "",
            "",
        ],
        ["f69b60a5-730e-423d-955d-f88996e3b774", "not_in_log", "", ""],
        [
            "3fb5b6a2-ca8e-4e72-a3b3-407cd925b00b",
            "deleted",
            "adele@contoso.example",
            "user",
        ],
        [
            "cb9d98f8-879f-4cad-a534-e7834cb4e33e",
            "added",
            "adele@contoso.example",
            "user",
        ],
        [
            "58860163-4c6a-46b4-bd67-fc78201b7762",
            "before_log_window",
            "",
            "",
        ],
        [
            "1ec56e4e-db27-482e-a874-09ee943158b8",
            "added",
            "provisioning-script",
            "application",
        ],
        // No cause applies: SharePoint sites and failed deliveries.
        ["c4c8bf06-6718-4636-9a84-9f4b8c097e2b", "", "", ""],
        ["b7c519d6-5a14-451d-b707-86802d05402f", "", "", ""],
        ["15c167de-7798-422a-a21b-ff901f34536e", "", "", ""],
        ["ea0332c6-aa29-4409-84c0-182660ca9382", "", "", ""],
    ];
    rows.sort();
    rows
}

/// The causes of a run, keyed like [`expected`].
fn causes(run: &Path) -> Vec<[String; 4]> {
    let table = read_csv(&run.join("findings.csv"));
    let mut rows: Vec<[String; 4]> = table
        .rows
        .iter()
        .map(|row| {
            let key = if row["assignment_id"].is_empty() {
                row["user_id"].clone()
            } else {
                row["assignment_id"].clone()
            };
            [
                key,
                row["cause"].clone(),
                row["cause_actor"].clone(),
                row["cause_actor_kind"].clone(),
            ]
        })
        .collect();
    rows.sort();
    rows
}

fn as_strings(rows: Vec<[&str; 4]>) -> Vec<[String; 4]> {
    rows.into_iter().map(|r| r.map(str::to_string)).collect()
}

fn run(args: &[&str]) -> std::process::Output {
    let output = entra_drift()
        .args(args)
        .env("ENTRA_DRIFT_NOW", NOW)
        .output()
        .unwrap();
    assert!(
        matches!(output.status.code(), Some(0) | Some(2)),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

#[test]
fn every_finding_is_explained_offline_and_from_a_stored_snapshot() {
    let work = tempfile::tempdir().unwrap();
    let tenant = work.path().join("tenant");
    tenant_with_log(&tenant, true);
    let out = work.path().join("out");
    let tenant_arg = tenant.to_str().unwrap();
    let output = run(&[
        "audit",
        "--tenant-dir",
        tenant_arg,
        "--out",
        out.to_str().unwrap(),
    ]);
    let offline = run_dir(&output);
    assert_eq!(causes(&offline), as_strings(expected()));

    // The other cause columns of one finding, exactly.
    let table = read_csv(&offline.join("findings.csv"));
    let row = table.rows_where("assignment_id", "399a8a72-48bd-411f-9a3b-2ab6b749676b")[0];
    assert_eq!(row["cause_time"], "2026-11-25T10:00:00Z");
    assert_eq!(row["cause_activity"], "Remove member from group");
    assert_eq!(row["cause_correlation_id"], "corr-e04");
    assert_eq!(
        row["cause_actor_id"],
        "8f35f4e9-5c91-42db-a1f7-d77ada4cc0a2"
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("Audit log: read from 2026-10-31T12:00:00Z to 2026-11-30T12:00:00Z"),
        "{stderr}"
    );
    assert!(stderr.contains("no readable activityDateTime"), "{stderr}");

    // The plan carries the cause of each missing role.
    let plan: Value =
        serde_json::from_str(&std::fs::read_to_string(offline.join("plan.json")).unwrap()).unwrap();
    let item = plan["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["assignment_id"] == "751bd151-dce2-45c2-9469-052950416704")
        .unwrap();
    assert_eq!(
        item["missing_roles"][0]["cause"],
        "removed by megan@contoso.example (user) on 2026-11-20T10:00:00Z"
    );

    // The Summary sheet says who caused drift.
    let mut workbook = open_xlsx(&offline.join("drift.xlsx"));
    let grid: Vec<Vec<String>> = sheet_grid(&mut workbook, "Summary")
        .iter()
        .map(|r| row_texts(r))
        .collect();
    let at = grid
        .iter()
        .position(|r| r.first().map(String::as_str) == Some("Who caused drift"))
        .expect("a Who caused drift table");
    assert_eq!(grid[at + 1][..3], ["Actor", "Findings", "Kind of actor"]);
    assert_eq!(
        grid[at + 2][..3],
        ["adele@contoso.example", "2", "user"],
        "most findings first"
    );

    // A stored snapshot keeps the events and the window: the same causes.
    let stored = work.path().join("snapshot");
    run(&[
        "snapshot",
        "--tenant-dir",
        tenant_arg,
        "--out",
        stored.to_str().unwrap(),
    ]);
    let snapshot_dir = std::fs::read_dir(&stored)
        .unwrap()
        .flatten()
        .flat_map(|tenant| std::fs::read_dir(tenant.path()).unwrap().flatten())
        .map(|e| e.path())
        .find(|p| p.join("snapshot.json").is_file())
        .expect("a stored snapshot");
    let output = run(&[
        "audit",
        "--snapshot",
        snapshot_dir.to_str().unwrap(),
        "--out",
        work.path().join("out2").to_str().unwrap(),
    ]);
    assert_eq!(causes(&run_dir(&output)), as_strings(expected()));

    // --no-causes: the log is not used; the columns stay, empty.
    let output = run(&[
        "audit",
        "--tenant-dir",
        tenant_arg,
        "--no-causes",
        "--out",
        work.path().join("out3").to_str().unwrap(),
    ]);
    assert!(causes(&run_dir(&output)).iter().all(|r| r[1].is_empty()));
}

#[test]
fn a_tenant_directory_without_a_log_says_so_for_every_explainable_finding() {
    let out = tempfile::tempdir().unwrap();
    let output = run(&[
        "audit",
        "--tenant-dir",
        fixture("contoso-core").to_str().unwrap(),
        "--out",
        out.path().to_str().unwrap(),
    ]);
    let rows = causes(&run_dir(&output));
    for row in &rows {
        let explainable = !row[1].is_empty();
        assert!(!explainable || row[1] == "log_unreadable", "{row:?}");
    }
    assert_eq!(rows.iter().filter(|r| r[1] == "log_unreadable").count(), 10);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("Audit log: not read: directoryAudits.json not recorded"),
        "{stderr}"
    );
}

#[test]
fn live_causes_equal_the_offline_ones_and_a_refused_log_degrades() {
    let work = tempfile::tempdir().unwrap();
    let tenant = work.path().join("tenant");
    tenant_with_log(&tenant, false);
    let fake = Fake::start(tenant.to_str().unwrap(), |_| {});
    let out = work.path().join("out");
    let output = fake
        .command(&["audit", "--out", out.to_str().unwrap()], SECRET)
        .env("ENTRA_DRIFT_NOW", NOW)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(causes(&run_dir(&output)), as_strings(expected()));
    let stats = fake.server().stats();
    assert!(stats.audit_log_requests >= 1);
    assert_eq!(
        stats.audit_log_throttled, 0,
        "the read is paced, not throttled"
    );
    drop(fake);

    let faults = json!({"forbidden": ["auditLogs/directoryAudits"]});
    let fake = Fake::start(tenant.to_str().unwrap(), move |config| {
        config.faults = Some(serde_json::from_value(faults).unwrap());
    });
    let output = fake
        .command(
            &["audit", "--out", work.path().join("out2").to_str().unwrap()],
            SECRET,
        )
        .env("ENTRA_DRIFT_NOW", NOW)
        .output()
        .unwrap();
    assert!(output.status.success(), "the audit still runs");
    let rows = causes(&run_dir(&output));
    let explainable: Vec<_> = rows.iter().filter(|r| !r[1].is_empty()).collect();
    assert_eq!(explainable.len(), 10);
    assert!(
        explainable.iter().all(|r| r[1] == "log_unreadable"),
        "{rows:?}"
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("AuditLog.Read.All"), "{stderr}");
    assert!(!stderr.contains(SECRET));
}

#[test]
fn a_malformed_audit_log_file_is_an_error_naming_it_never_an_empty_log() {
    let work = tempfile::tempdir().unwrap();
    let tenant = work.path().join("tenant");
    tenant_with_log(&tenant, false);
    // Not an array, then broken JSON: both name the file and where.
    for (text, needle) in [
        ("{\"value\": {\"id\": \"e1\"}}", "directoryAudits.json"),
        ("{\"value\": [ {\"id\": \"e1\",, } ]}", "line 1"),
    ] {
        std::fs::write(tenant.join("directoryAudits.json"), text).unwrap();
        let output = entra_drift()
            .args(["audit", "--tenant-dir"])
            .arg(&tenant)
            .arg("--out")
            .arg(work.path().join("out"))
            .env("ENTRA_DRIFT_NOW", NOW)
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(1));
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains("directoryAudits.json") && stderr.contains(needle),
            "{stderr}"
        );
        assert!(!work.path().join("out").exists(), "nothing written");
    }
}

#[test]
fn a_log_that_refuses_the_combined_filter_is_read_one_activity_at_a_time() {
    let work = tempfile::tempdir().unwrap();
    let tenant = work.path().join("tenant");
    tenant_with_log(&tenant, false);
    // The first request (the activities joined with `or`) is answered 400, as a Graph that
    // does not take `or` there would.
    let faults = json!({"server_errors": [
        {"path": "auditLogs/directoryAudits", "status": 400, "count": 1}
    ]});
    let fake = Fake::start(tenant.to_str().unwrap(), move |config| {
        config.faults = Some(serde_json::from_value(faults).unwrap());
    });
    let output = fake
        .command(
            &["audit", "--out", work.path().join("out").to_str().unwrap()],
            SECRET,
        )
        .env("ENTRA_DRIFT_NOW", NOW)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(causes(&run_dir(&output)), as_strings(expected()));
    let stats = fake.server().stats();
    // One refused, then one per activity, paced: none throttled.
    assert_eq!(
        stats.audit_log_requests,
        1 + entra_drift::snapshot::events::ACTIVITIES.len() as u64,
        "{stats:?}"
    );
    assert_eq!(stats.audit_log_throttled, 0);
}

/// Issue 25, defect 1: a deleted enterprise app is logged as `Remove service principal` (there
/// is no `Delete service principal`), and a permanent group deletion as `Hard Delete group`;
/// the causes of `resource_not_found` on them said `before_log_window`.
#[test]
fn deleted_enterprise_apps_and_hard_deleted_groups_are_explained() {
    const APP: &str = "de04b46d-fab4-48fd-9ec3-1eb67c11a4e6";
    let work = tempfile::tempdir().unwrap();
    let tenant = work.path().join("tenant");
    tenant_with_log(&tenant, false);
    // The enterprise app is deleted: gone from servicePrincipals.json, with its data.
    let path = tenant.join("servicePrincipals.json");
    let mut principals: Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    principals["value"]
        .as_array_mut()
        .unwrap()
        .retain(|sp| sp["id"] != APP);
    std::fs::write(&path, principals.to_string()).unwrap();
    let _ = std::fs::remove_dir_all(tenant.join("servicePrincipals").join(APP));
    let path = tenant.join("directoryAudits.json");
    let mut log: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let events = log["value"].as_array_mut().unwrap();
    for event in events.iter_mut() {
        if event["activityDisplayName"] == "Delete group" {
            event["activityDisplayName"] = "Hard Delete group".into();
        }
    }
    events.insert(
        0,
        json!({"id": "e20", "correlationId": "corr-e20", "activityDisplayName": "Remove service principal",
               "activityDateTime": "2026-11-06T16:00:00Z", "result": "success",
               "initiatedBy": person("adele@contoso.example"),
               "targetResources": [{"id": APP, "type": "ServicePrincipal", "displayName": "Expenses"}]}),
    );
    std::fs::write(&path, log.to_string()).unwrap();
    let out = work.path().join("out");
    let output = run(&[
        "audit",
        "--tenant-dir",
        tenant.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    let findings = read_csv(&run_dir(&output).join("findings.csv"));
    let gone: Vec<_> = findings
        .rows
        .iter()
        .filter(|r| r["category"] == "resource_not_found")
        .collect();
    assert!(gone.iter().any(|r| r["resource_id"] == APP), "{gone:?}");
    for row in gone {
        assert_eq!(
            (row["cause"].as_str(), row["cause_actor"].as_str()),
            ("deleted", "adele@contoso.example"),
            "{row:?}"
        );
        assert!(
            ["Remove service principal", "Hard Delete group"]
                .contains(&row["cause_activity"].as_str()),
            "{row:?}"
        );
    }
}
