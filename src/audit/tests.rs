//! Unit tests of the audit joins on small hand-built tenants.

use serde_json::json;

use super::*;
use crate::model::{
    AccessPackage, AccessPackageAssignment, AppRoleAssignment, DirectoryObject, User,
};
use crate::snapshot::read_status;
use crate::snapshot::roles::{
    APPLICATION, APP_ROLE_ASSIGNED_TO, GROUP, MEMBERS, OWNERS, SHAREPOINT_SITE,
};
use crate::snapshot::SnapshotBuilder;

fn package(id: &str, roles: &[(&str, &str, &str)]) -> AccessPackage {
    let scopes: Vec<_> = roles
        .iter()
        .map(|(system, role, scope)| {
            json!({"role": {"originSystem": system, "originId": role, "displayName": role},
                   "scope": {"originSystem": system, "originId": scope, "displayName": format!("name of {scope}")}})
        })
        .collect();
    serde_json::from_value(
        json!({"id": id, "displayName": format!("Package {id}"), "resourceRoleScopes": scopes}),
    )
    .unwrap()
}

fn assignment(
    id: &str,
    package: &str,
    target: Option<&str>,
    state: &str,
) -> AccessPackageAssignment {
    serde_json::from_value(json!({"id": id, "state": state,
        "target": {"objectId": target, "displayName": "T"}, "accessPackage": {"id": package}}))
    .unwrap()
}

fn user(id: &str, enabled: bool) -> User {
    serde_json::from_value(
        json!({"id": id, "displayName": format!("User {id}"), "accountEnabled": enabled}),
    )
    .unwrap()
}

fn members(ids: &[(&str, Option<&str>)]) -> Vec<DirectoryObject> {
    ids.iter()
        .map(|(id, t)| DirectoryObject {
            id: id.to_string(),
            odata_type: t.map(str::to_string),
        })
        .collect()
}

const USER: Option<&str> = Some("#microsoft.graph.user");

/// A tenant: package p1 delivers member+owner of g1 and app role r1 of sp1; p2 delivers a
/// SharePoint role; p3 delivers member of deleted group g9.
fn base() -> SnapshotBuilder {
    let mut b = SnapshotBuilder::new();
    b.add_package(
        &package(
            "p1",
            &[
                ("AadGroup", "Member_g1", "g1"),
                ("AadGroup", "Owner_g1", "g1"),
                ("AadApplication", "r1", "sp1"),
            ],
        ),
        "t",
    )
    .unwrap();
    b.add_package(
        &package("p2", &[("SharePointOnline", "4", "https://x/sites/a")]),
        "t",
    )
    .unwrap();
    b.add_package(&package("p3", &[("AadGroup", "Member_g9", "g9")]), "t")
        .unwrap();
    for (id, enabled) in [("u1", true), ("u2", true), ("u3", false), ("u4", true)] {
        b.add_user(&user(id, enabled), "t").unwrap();
    }
    b
}

fn complete(b: &mut SnapshotBuilder) {
    b.set_resource_status(
        (GROUP, "g1".into(), MEMBERS.into()),
        read_status::COMPLETE,
        "",
        Some("Group one".into()),
    );
    b.set_resource_status(
        (GROUP, "g1".into(), OWNERS.into()),
        read_status::COMPLETE,
        "",
        None,
    );
    b.set_resource_status(
        (APPLICATION, "sp1".into(), APP_ROLE_ASSIGNED_TO.into()),
        read_status::COMPLETE,
        "",
        None,
    );
    b.set_resource_status(
        (GROUP, "g9".into(), MEMBERS.into()),
        read_status::NOT_FOUND,
        "404",
        None,
    );
    b.set_resource_status(
        (SHAREPOINT_SITE, "https://x/sites/a".into(), "".into()),
        read_status::UNSUPPORTED,
        "sharepoint",
        None,
    );
}

fn rows(findings: &DataFrame) -> Vec<String> {
    let cols: Vec<Vec<Option<String>>> = col::REQUIRED
        .iter()
        .chain([col::IN_PLAN].iter())
        .map(|name| {
            findings
                .column(name)
                .unwrap()
                .str()
                .unwrap()
                .iter()
                .map(|v| v.map(str::to_string))
                .collect()
        })
        .collect();
    (0..findings.height())
        .map(|i| {
            cols.iter()
                .map(|c| c[i].clone().unwrap_or_default())
                .collect::<Vec<_>>()
                .join(",")
        })
        .collect()
}

fn app_role(principal: &str, role: &str, kind: &str) -> AppRoleAssignment {
    serde_json::from_value(
        json!({"appRoleId": role, "principalId": principal, "principalType": kind}),
    )
    .unwrap()
}

#[test]
fn every_category_from_one_tenant() {
    let mut b = base();
    b.add_assignment(&assignment("a1", "p1", Some("u1"), "Delivered"), "t")
        .unwrap();
    b.add_assignment(&assignment("a2", "p1", Some("u2"), "delivered"), "t")
        .unwrap();
    b.add_assignment(&assignment("a3", "p1", Some("u3"), "delivered"), "t")
        .unwrap();
    b.add_assignment(&assignment("a4", "p2", Some("u1"), "delivered"), "t")
        .unwrap();
    b.add_assignment(&assignment("a5", "p3", Some("u1"), "delivered"), "t")
        .unwrap();
    b.add_assignment(
        &assignment("a6", "p1", Some("u4"), "partiallyDelivered"),
        "t",
    )
    .unwrap();
    b.add_assignment(&assignment("a7", "p1", None, "deliveryFailed"), "t")
        .unwrap();
    // u1 holds everything; u2 lacks ownership; u3 (disabled) lacks the app role.
    b.add_group_principals(
        "g1",
        "member",
        &members(&[
            ("u1", USER),
            ("u2", USER),
            ("u3", USER),
            ("u5", USER),
            ("grp", Some("#microsoft.graph.group")),
        ]),
    );
    b.add_group_principals("g1", "owner", &members(&[("u1", USER), ("u3", USER)]));
    b.add_app_role_assignments(
        "sp1",
        &[
            app_role("u1", "r1", "User"),
            app_role("u2", "r1", "User"),
            app_role("u4", "r1", "User"),
        ],
    );
    complete(&mut b);
    let findings = audit(&b.finish().unwrap()).unwrap();
    assert_eq!(
        rows(&findings),
        vec![
            "missing_access,a2,p1,u2,group,g1,owner,yes",
            "missing_access,a3,p1,u3,application,sp1,r1,no",
            "resource_not_found,a5,p3,u1,group,g9,member,no",
            "unverifiable,a4,p2,u1,sharepoint_site,https://x/sites/a,4,no",
            "not_delivered,a6,p1,u4,,,,no",
            "not_delivered,a7,p1,,,,,no",
            // u5 holds membership with no assignment; the nested group does not count; u4's
            // partially delivered assignment explains its app role.
            "access_without_assignment,,,u5,group,g1,member,no",
        ]
    );
    let skip: Vec<_> = findings
        .column(col::SKIP_REASON)
        .unwrap()
        .str()
        .unwrap()
        .iter()
        .map(|v| v.unwrap().to_string())
        .collect();
    assert_eq!(skip[1], SKIP_DISABLED);
    let names: Vec<_> = findings
        .column(col::RESOURCE_NAME)
        .unwrap()
        .str()
        .unwrap()
        .iter()
        .map(|v| v.map(str::to_string))
        .collect();
    assert_eq!(
        names[0].as_deref(),
        Some("Group one"),
        "directory name wins over the scope's"
    );
}

#[test]
fn a_partial_read_is_never_missing_access() {
    let mut b = base();
    b.add_assignment(&assignment("a1", "p1", Some("u1"), "delivered"), "t")
        .unwrap();
    b.add_group_principals("g1", "member", &members(&[("u9", USER)]));
    b.set_resource_status(
        (GROUP, "g1".into(), MEMBERS.into()),
        read_status::UNREADABLE,
        "403 Forbidden",
        None,
    );
    // owners and the application are never reported on: not read at all.
    let findings = audit(&b.finish().unwrap()).unwrap();
    let rows = rows(&findings);
    assert!(
        rows.iter().all(|r| r.starts_with("unverifiable")),
        "{rows:?}"
    );
    assert_eq!(rows.len(), 3);
    let reasons: Vec<_> = findings
        .column(col::REASON)
        .unwrap()
        .str()
        .unwrap()
        .iter()
        .map(|v| v.unwrap().to_string())
        .collect();
    assert!(
        reasons.contains(&"unreadable: 403 Forbidden".to_string()),
        "{reasons:?}"
    );
    assert!(reasons.contains(&"not_read".to_string()), "{reasons:?}");
}

#[test]
fn no_object_id_is_unverifiable_for_every_role() {
    let mut b = base();
    b.add_assignment(&assignment("a1", "p1", None, "delivered"), "t")
        .unwrap();
    complete(&mut b);
    let rows = rows(&audit(&b.finish().unwrap()).unwrap());
    assert_eq!(rows.len(), 3);
    assert!(
        rows.iter().all(|r| r.starts_with("unverifiable,a1,p1,,")),
        "{rows:?}"
    );
}

#[test]
fn expired_assignments_neither_expect_nor_explain() {
    let mut b = base();
    b.add_assignment(&assignment("a1", "p1", Some("u1"), "expired"), "t")
        .unwrap();
    b.add_assignment(&assignment("a2", "p1", Some("u2"), "delivering"), "t")
        .unwrap();
    b.add_assignment(&assignment("a3", "p1", Some("u3"), "someFutureState"), "t")
        .unwrap();
    b.add_group_principals("g1", "member", &members(&[("u1", USER), ("u2", USER)]));
    complete(&mut b);
    assert_eq!(
        rows(&audit(&b.finish().unwrap()).unwrap()),
        vec!["access_without_assignment,,,u1,group,g1,member,no"]
    );
}

#[test]
fn untyped_members_count_as_users_only_when_known_users() {
    let mut b = base();
    b.add_group_principals(
        "g1",
        "member",
        &members(&[("u1", None), ("x-unknown", None)]),
    );
    b.add_app_role_assignments("sp1", &[app_role("svc", "r1", "ServicePrincipal")]);
    complete(&mut b);
    assert_eq!(
        rows(&audit(&b.finish().unwrap()).unwrap()),
        vec!["access_without_assignment,,,u1,group,g1,member,no"]
    );
}

#[test]
fn membership_on_another_role_or_resource_does_not_satisfy() {
    let mut b = base();
    b.add_assignment(&assignment("a1", "p1", Some("u1"), "delivered"), "t")
        .unwrap();
    // Owner but not member; app role r2 instead of r1.
    b.add_group_principals("g1", "owner", &members(&[("u1", USER)]));
    b.add_app_role_assignments("sp1", &[app_role("u1", "r2", "User")]);
    complete(&mut b);
    assert_eq!(
        rows(&audit(&b.finish().unwrap()).unwrap()),
        vec![
            "missing_access,a1,p1,u1,application,sp1,r1,yes",
            "missing_access,a1,p1,u1,group,g1,member,yes",
        ]
    );
}

#[test]
fn empty_tenant_gives_empty_typed_findings() {
    let findings = audit(&SnapshotBuilder::new().finish().unwrap()).unwrap();
    assert_eq!(findings.height(), 0);
    // The audit alone gives every column but the annotations of history and exceptions,
    // and the internal request id of not_delivered plan items.
    assert_eq!(
        findings.get_column_names().len(),
        col::ALL.len() - col::ANNOTATIONS.len() + 1
    );
    let expected: Vec<&str> = col::ALL
        .iter()
        .copied()
        .filter(|c| !col::ANNOTATIONS.contains(c))
        .collect();
    assert_eq!(col::present(&findings), expected);
}

/// The audit's state lists say what `AssignmentState`'s rules say.
#[test]
fn state_lists_follow_the_assignment_state_rules() {
    use entra_model::enums::AssignmentState;
    for known in AssignmentState::KNOWN {
        let state = AssignmentState::parse(known);
        let lower = known.to_ascii_lowercase();
        assert_eq!(
            state.explains_access(),
            super::EXPLAINING_STATES.contains(&lower.as_str()),
            "{known}"
        );
        assert_eq!(
            state.is_failed_delivery(),
            super::NOT_DELIVERED_STATES.contains(&lower.as_str()),
            "{known}"
        );
        assert_eq!(state.is_delivered(), lower == super::DELIVERED, "{known}");
    }
}

/// Two packages spelling one site two ways govern one resource, spelled the same way whichever
/// package is read first.
#[test]
fn a_site_spelled_two_ways_is_one_resource_in_either_order() {
    let spellings = ["https://x/sites/Sales", "https://x/sites/sales"];
    for order in [[0, 1], [1, 0]] {
        let mut b = SnapshotBuilder::new();
        for (n, at) in order.into_iter().enumerate() {
            b.add_package(
                &package(
                    &format!("p{n}"),
                    &[("SharePointOnline", "4", spellings[at])],
                ),
                "t",
            )
            .unwrap();
        }
        let governed: Vec<String> = b
            .governed_resources()
            .into_iter()
            .map(|((_, id, _), _)| id)
            .collect();
        assert_eq!(governed, ["https://x/sites/Sales"], "order {order:?}");
        let tables = b.finish().unwrap();
        let ids = tables
            .package_roles
            .column(s::RESOURCE_ID)
            .unwrap()
            .str()
            .unwrap()
            .iter()
            .map(|id| id.unwrap_or_default().to_string())
            .collect::<Vec<_>>();
        assert_eq!(ids, ["https://x/sites/Sales"; 2], "order {order:?}");

        // One package listing the site both ways has the role once.
        let mut b = SnapshotBuilder::new();
        let both: Vec<_> = order
            .iter()
            .map(|&at| ("SharePointOnline", "4", spellings[at]))
            .collect();
        b.add_package(&package("p", &both), "t").unwrap();
        let tables = b.finish().unwrap();
        assert_eq!(tables.package_roles.height(), 1, "order {order:?}");
    }
}
