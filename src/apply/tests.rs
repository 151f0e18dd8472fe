//! Refusals of `preflight`, one per reason.

use chrono::{Duration, TimeZone, Utc};

use super::*;
use crate::error::Refusal;
use crate::plan::{items_digest, MissingRole, FORMAT, VERSION};

fn plan(approved: &[&str]) -> Plan {
    let created = Utc.with_ymd_and_hms(2026, 11, 29, 8, 0, 0).unwrap();
    let items: Vec<PlanItem> = ["a1", "a2", "a3"]
        .iter()
        .map(|id| PlanItem {
            assignment_id: id.to_string(),
            access_package_id: "p".into(),
            access_package_name: "P".into(),
            user_id: format!("u-{id}"),
            user_display_name: "U".into(),
            user_principal_name: "u@x".into(),
            missing_roles: vec![MissingRole {
                resource_type: "group".into(),
                resource_id: "g".into(),
                role: "member".into(),
                resource_name: String::new(),
                role_name: String::new(),
            }],
            reason: String::new(),
        })
        .collect();
    let mut plan = Plan {
        format: FORMAT.into(),
        version: VERSION,
        tenant_id: "t1".into(),
        tenant_name: None,
        created,
        expires: created + Duration::days(7),
        snapshot_taken_at: created,
        snapshot_source: "test".into(),
        findings_digest: "sha256:x".into(),
        items_digest: items_digest(&items),
        items,
        approval: None,
    };
    if !approved.is_empty() {
        plan.approve(
            "Ada",
            None,
            approved.iter().map(|s| s.to_string()).collect(),
            "test".into(),
            created,
        )
        .unwrap();
    }
    plan
}

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 30, 8, 0, 0).unwrap()
}

#[test]
fn an_approved_plan_passes_with_its_approved_items() {
    let plan = plan(&["a1", "a3"]);
    let items = preflight(&plan, "T1", now(), 25).unwrap();
    assert_eq!(
        items
            .iter()
            .map(|i| i.assignment_id.as_str())
            .collect::<Vec<_>>(),
        ["a1", "a3"]
    );
}

#[test]
fn refusals() {
    let unapproved = plan(&[]);
    assert_eq!(
        preflight(&unapproved, "t1", now(), 25).unwrap_err(),
        Refusal::NotApproved
    );
    let approved = plan(&["a1"]);
    assert!(matches!(
        preflight(&approved, "t2", now(), 25).unwrap_err(),
        Refusal::WrongTenant { plan, .. } if plan == "t1"
    ));
    let later = now() + Duration::days(30);
    assert!(matches!(
        preflight(&approved, "t1", later, 25).unwrap_err(),
        Refusal::Expired { .. }
    ));
    let mut tampered = plan(&["a1"]);
    tampered.items[0].user_id = "someone-else".into();
    assert!(matches!(
        preflight(&tampered, "t1", now(), 25).unwrap_err(),
        Refusal::Tampered { .. }
    ));
    let many = plan(&["a1", "a2", "a3"]);
    assert_eq!(
        preflight(&many, "t1", now(), 2).unwrap_err(),
        Refusal::TooManyItems {
            approved: 3,
            max: 2
        }
    );
}
