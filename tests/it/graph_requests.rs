//! Every request the tool sends is one Graph describes (issue 25): the requests fake-graph
//! received during audit and snapshot (with the audit log and the tenant's name), apply of
//! every action,
//! verify and a mail notification are each resolved through Microsoft Graph's published v1.0
//! metadata (`fixtures/graph/graph-v1.0-metadata.xml`, msgraph-metadata's clean v1.0 CSDL):
//! entity sets, keys, navigation properties, casts, bound actions, and the properties of
//! `$select`, `$expand`, `$filter` and `$orderby`. And the objects fake-graph serves carry only
//! properties their types have. A shape the metadata does not describe fails, naming it.

use std::path::Path;
use std::sync::OnceLock;

use serde_json::Value;

use crate::support::csdl::Metadata;
use crate::support::fake_graph::{run_dir, Fake, SECRET};
use crate::support::workflow::*;

fn metadata() -> &'static Metadata {
    static METADATA: OnceLock<Metadata> = OnceLock::new();
    METADATA.get_or_init(|| {
        let path =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/graph/graph-v1.0-metadata.xml");
        Metadata::parse(&std::fs::read_to_string(&path).unwrap()).unwrap()
    })
}

/// Every request fake-graph received that the metadata does not describe.
fn unresolved(requests: &[(String, String)]) -> Vec<String> {
    let mut problems: Vec<String> = requests
        .iter()
        .filter_map(|(method, target)| {
            let target = if target.starts_with('/') {
                target.clone()
            } else {
                format!("/{target}")
            };
            metadata()
                .check(method, &target)
                .err()
                .map(|problem| format!("{method} {target}: {problem}"))
        })
        .collect();
    problems.sort();
    problems.dedup();
    problems
}

fn sent(requests: &[(String, String)], method: &str, needle: &str) -> bool {
    requests
        .iter()
        .any(|(m, target)| m == method && target.contains(needle))
}

#[test]
fn every_request_of_audit_apply_verify_and_notify_is_valid_per_graphs_metadata() {
    // contoso with its log: a live audit (tenant name, audit log, resources), approvals of every
    // remedy, apply, verify, and an audit that mails its result.
    let flow = Workflow::start(|_| {});
    let member = flow.key(MEMBER_USER);
    let app = flow.key(APP_USER);
    for (id, action) in [
        (BY_EM, "reprocess"),
        (BY_PERSON, "remove_assignment"),
        (member.as_str(), "remove_access"),
        (app.as_str(), "remove_access"),
    ] {
        ok(&flow.approve(ADA, &["--only", id, "--action", action]));
    }
    ok(&flow.approve(
        ADA,
        &["--only", BY_SYNC, "--action", "accept", "--reason", "kept"],
    ));
    ok(&flow.apply(&["--allow-remove"]));
    ok(&flow.verify(&[]));
    let output = flow.audit_output(&[
        "--notify",
        "kind=mail,on=always,from=adele.vance@contoso.example,to=iam@contoso.example",
    ]);
    assert!(
        matches!(output.status.code(), Some(0 | 2)),
        "{}",
        stderr(&output)
    );
    let requests = flow.fake.server().requests();
    for (method, needle) in [
        ("GET", "organization"),
        ("GET", "auditLogs/directoryAudits"),
        ("POST", "$batch"),
        ("POST", "/reprocess"),
        ("POST", "assignmentRequests"),
        ("DELETE", "/$ref"),
        ("DELETE", "appRoleAssignedTo/"),
        ("POST", "/sendMail"),
    ] {
        assert!(
            sent(&requests, method, needle),
            "no {method} …{needle}… was sent"
        );
    }
    let problems = unresolved(&requests);
    assert!(
        problems.is_empty(),
        "requests Graph's metadata does not describe:\n{}",
        problems.join("\n")
    );

    // A generated tenant: directory roles, failed deliveries retried through their requests.
    let work = tempfile::tempdir().unwrap();
    let tenant = work.path().join("tenant");
    crate::common::generate_small(&tenant, "31");
    let fake = Fake::start(tenant.to_str().unwrap(), |_| {});
    let out = work.path().join("out");
    let run = run_dir(&fake.run(&["-q", "audit", "--out", s(&out)], SECRET));
    // `snapshot` reads as `audit` does, and stores what it read.
    let stored = fake.run(
        &["-q", "snapshot", "--out", s(&work.path().join("snapshot"))],
        SECRET,
    );
    ok(&stored);
    let plan = run.join("plan.json");
    ok(&crate::common::entra_drift()
        .args(["plan", "approve", s(&plan), "--approver", "ada"])
        .output()
        .unwrap());
    let applied = fake.run(&["apply", s(&plan), "--max-items", "1000"], SECRET);
    assert!(
        matches!(applied.status.code(), Some(0 | 1)),
        "{}",
        stderr(&applied)
    );
    ok(&fake.run(&["verify", s(&plan)], SECRET));
    let requests = fake.server().requests();
    for needle in [
        "roleManagement/directory/roleAssignments",
        "roleEligibilitySchedules",
    ] {
        assert!(sent(&requests, "GET", needle), "no GET …{needle}… was sent");
    }
    assert!(
        sent(&requests, "POST", "assignmentRequests/") && sent(&requests, "POST", "/reprocess"),
        "a failed delivery was retried"
    );
    let problems = unresolved(&requests);
    assert!(
        problems.is_empty(),
        "requests Graph's metadata does not describe:\n{}",
        problems.join("\n")
    );
}

/// Checks every property of `object` (and of the objects inside it) against `type_name`.
fn check_object(type_name: &str, object: &Value, at: &str, problems: &mut Vec<String>) {
    let Value::Object(map) = object else {
        return;
    };
    // A directory object's `@odata.type` names its derived type.
    let type_name = map
        .get("@odata.type")
        .and_then(Value::as_str)
        .map(|t| t.trim_start_matches('#').to_string())
        .unwrap_or_else(|| type_name.to_string());
    for (key, value) in map {
        if key.starts_with('@') || key.contains("@odata") {
            continue;
        }
        // Spellings Microsoft's own samples show that the metadata does not (graph-api.md §9:
        // a target's `Type`); the tool reads them, so the fixtures keep one each.
        let observed = [("microsoft.graph.targetResource", "Type")];
        if observed.contains(&(type_name.as_str(), key.as_str())) {
            continue;
        }
        if !metadata().has_property(&type_name, key) {
            problems.push(format!("{at}: `{key}` is not a property of {type_name}"));
            continue;
        }
        let nested = match value {
            Value::Object(_) => vec![value],
            Value::Array(items) => items.iter().filter(|i| i.is_object()).collect(),
            _ => continue,
        };
        if nested.is_empty() {
            continue;
        }
        match metadata().property_type(&type_name, key) {
            Some(inner) => {
                for item in nested {
                    check_object(&inner, item, &format!("{at}.{key}"), problems);
                }
            }
            None => problems.push(format!("{at}: the type of {type_name}.{key} is unknown")),
        }
    }
}

#[test]
fn the_objects_fake_graph_serves_carry_only_properties_of_their_types() {
    let work = tempfile::tempdir().unwrap();
    let tenant = work.path().join("tenant");
    crate::causes::tenant_with_log(&tenant, false);
    let generated = work.path().join("generated");
    crate::common::generate_small(&generated, "31");
    let collections = [
        ("accessPackages.json", "microsoft.graph.accessPackage"),
        (
            "assignments.json",
            "microsoft.graph.accessPackageAssignment",
        ),
        ("users.json", "microsoft.graph.user"),
        ("groups.json", "microsoft.graph.group"),
        ("servicePrincipals.json", "microsoft.graph.servicePrincipal"),
        ("directoryAudits.json", "microsoft.graph.directoryAudit"),
        (
            "roleAssignments.json",
            "microsoft.graph.unifiedRoleAssignment",
        ),
        (
            "roleEligibilitySchedules.json",
            "microsoft.graph.unifiedRoleEligibilitySchedule",
        ),
        (
            "assignmentRequests.json",
            "microsoft.graph.accessPackageAssignmentRequest",
        ),
    ];
    let mut problems = Vec::new();
    for root in [&tenant, &generated] {
        for (file, type_name) in collections {
            let path = root.join(file);
            let Ok(text) = std::fs::read_to_string(&path) else {
                continue;
            };
            let value: Value = serde_json::from_str(&text).unwrap();
            for (index, object) in value["value"].as_array().unwrap().iter().enumerate() {
                check_object(
                    type_name,
                    object,
                    &format!("{file}[{index}]"),
                    &mut problems,
                );
            }
        }
        for (folder, file, type_name) in [
            ("groups", "members.json", "microsoft.graph.directoryObject"),
            ("groups", "owners.json", "microsoft.graph.directoryObject"),
            (
                "servicePrincipals",
                "appRoleAssignedTo.json",
                "microsoft.graph.appRoleAssignment",
            ),
        ] {
            let Ok(entries) = std::fs::read_dir(root.join(folder)) else {
                continue;
            };
            for entry in entries.flatten() {
                let Ok(text) = std::fs::read_to_string(entry.path().join(file)) else {
                    continue;
                };
                let value: Value = serde_json::from_str(&text).unwrap();
                for (index, object) in value["value"].as_array().unwrap().iter().enumerate() {
                    let at = format!("{folder}/…/{file}[{index}]");
                    check_object(type_name, object, &at, &mut problems);
                }
            }
        }
    }
    problems.sort();
    problems.dedup();
    assert!(
        problems.is_empty(),
        "properties Graph's metadata does not have:\n{}",
        problems.join("\n")
    );
}
