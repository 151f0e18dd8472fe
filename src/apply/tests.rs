//! Refusals of `preflight`, one per reason, and the approval rules: digests, dates, signers,
//! four eyes.

use std::path::{Path, PathBuf};

use chrono::{Duration, TimeZone, Utc};

use super::*;
use crate::error::Refusal;
use crate::plan::approval::Signed;
use crate::plan::{items_digest, MissingRole, FORMAT, VERSION};
use crate::trust::{self, PLAN_NAMESPACE};

const A1: &str = "a1a1a1a1-0000-4000-8000-000000000001";
const A2: &str = "a2a2a2a2-0000-4000-8000-000000000002";
const A3: &str = "a3a3a3a3-0000-4000-8000-000000000003";

fn unapproved() -> Plan {
    let created = Utc.with_ymd_and_hms(2026, 11, 29, 8, 0, 0).unwrap();
    let items: Vec<PlanItem> = [A1, A2, A3]
        .iter()
        .map(|id| PlanItem {
            kind: crate::plan::ItemKind::Reprocess,
            request_id: None,
            item_id: None,
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
                cause: None,
            }],
            reason: String::new(),
            unexplained: None,
            action: crate::plan::Action::Reprocess,
            actions: Vec::new(),
        })
        .collect();
    Plan {
        format: FORMAT.into(),
        version: VERSION,
        tenant_id: "t1".into(),
        tenant_name: None,
        created,
        expires: created + Duration::days(7),
        snapshot_taken_at: created,
        snapshot_source: "test".into(),
        run: "20261129T080000Z".into(),
        findings_digest: "sha256:x".into(),
        items_digest: items_digest(&items),
        items,
        approvals: Vec::new(),
        revocations: Vec::new(),
    }
}

fn plan(approved: &[&str]) -> Plan {
    let mut plan = unapproved();
    if !approved.is_empty() {
        let created = plan.created;
        plan.approve(
            "Ada",
            None,
            approved.iter().map(|s| s.to_string()).collect(),
            Default::default(),
            "test".into(),
            created,
            None,
        )
        .unwrap();
    }
    plan
}

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 30, 8, 0, 0).unwrap()
}

fn ids(approved: &Approved) -> Vec<String> {
    approved
        .items
        .iter()
        .map(|i| i.assignment_id.clone())
        .collect()
}

#[test]
fn an_approved_plan_passes_with_its_approved_items() {
    let plan = plan(&[A1, A3]);
    let approved = preflight(&plan, "T1", now(), 25, 10, None, 1).unwrap();
    assert_eq!(ids(&approved), [A1, A3]);
}

fn refusal(plan: &Plan, tenant: &str, at: DateTime<Utc>, max: usize) -> Refusal {
    match preflight(plan, tenant, at, max, 10, None, 1) {
        Err(refusal) => refusal,
        Ok(_) => panic!("expected a refusal"),
    }
}

#[test]
fn refusals() {
    assert_eq!(refusal(&plan(&[]), "t1", now(), 25), Refusal::NotApproved);
    let approved = plan(&[A1]);
    assert!(matches!(
        refusal(&approved, "t2", now(), 25),
        Refusal::WrongTenant { plan, .. } if plan == "t1"
    ));
    assert!(matches!(
        refusal(&approved, "t1", now() + Duration::days(30), 25),
        Refusal::Expired { .. }
    ));
    let mut tampered = plan(&[A1]);
    tampered.items[0].user_id = "someone-else".into();
    assert!(matches!(
        refusal(&tampered, "t1", now(), 25),
        Refusal::Tampered { .. }
    ));
    let many = plan(&[A1, A2, A3]);
    assert_eq!(
        refusal(&many, "t1", now(), 2),
        Refusal::TooManyItems {
            approved: 3,
            max: 2
        }
    );
}

/// Forgeries of the old format, each refused now.
#[test]
fn forged_approvals_are_refused() {
    // An item added after approval, with the items digest recomputed: the plan digest (over
    // everything) no longer matches the approval's.
    let mut grown = plan(&[A1]);
    grown.items.push(grown.items[0].clone());
    grown.items[3].assignment_id = "a4a4a4a4-0000-4000-8000-000000000004".into();
    grown.items_digest = items_digest(&grown.items);
    assert!(matches!(
        refusal(&grown, "t1", now(), 25),
        Refusal::ApprovalForAnotherPlan { .. }
    ));
    // An expired plan revived by editing `expires`.
    let mut revived = plan(&[A1]);
    revived.expires = now() + Duration::days(30);
    assert!(matches!(
        refusal(&revived, "t1", now(), 25),
        Refusal::ApprovalForAnotherPlan { .. }
    ));
    // An approval copied from another run's plan with the same items.
    let mut other = unapproved();
    other.run = "20261122T080000Z".into();
    let mut copied = plan(&[]);
    let created = other.created;
    other
        .approve(
            "Ada",
            None,
            vec![A1.into()],
            Default::default(),
            "test".into(),
            created,
            None,
        )
        .unwrap();
    copied.approvals = other.approvals.clone();
    assert!(matches!(
        refusal(&copied, "t1", now(), 25),
        Refusal::ApprovalForAnotherPlan { .. }
    ));
    // A hand-written approval: empty approver; dated in 2099.
    let mut empty = plan(&[A1]);
    empty.approvals[0].approver = " ".into();
    assert!(matches!(
        refusal(&empty, "t1", now(), 25),
        Refusal::ApprovalInvalid { .. }
    ));
    let mut future = plan(&[A1]);
    future.approvals[0].approved_at = Utc.with_ymd_and_hms(2099, 1, 1, 0, 0, 0).unwrap();
    assert!(matches!(
        refusal(&future, "t1", now(), 25),
        Refusal::ApprovalInvalid { .. }
    ));
    // A duplicated approved id.
    let mut twice = plan(&[A1]);
    twice.approvals[0].items.push(A1.into());
    assert!(matches!(
        refusal(&twice, "t1", now(), 25),
        Refusal::ApprovalInvalid { .. }
    ));
}

struct Key {
    private: PathBuf,
    public_line: String,
}

fn key(dir: &Path, name: &str) -> Key {
    let private =
        ssh_key::PrivateKey::random(&mut ssh_key::rand_core::OsRng, ssh_key::Algorithm::Ed25519)
            .unwrap();
    let path = dir.join(name);
    private
        .write_openssh_file(&path, ssh_key::LineEnding::LF)
        .unwrap();
    Key {
        private: path,
        public_line: private.public_key().to_openssh().unwrap(),
    }
}

fn approve_signed(plan: &mut Plan, approver: &str, key: &Key, items: &[&str]) {
    let items: Vec<String> = items.iter().map(|s| s.to_string()).collect();
    let statement = plan.statement(&items);
    let signature =
        trust::sign_with_key_file(&key.private, None, PLAN_NAMESPACE, statement.as_bytes())
            .unwrap();
    let public = trust::verify(&signature, PLAN_NAMESPACE, statement.as_bytes()).unwrap();
    let created = plan.created;
    plan.approve(
        approver,
        None,
        items,
        Default::default(),
        "test".into(),
        created,
        Some(Signed {
            signature,
            fingerprint: trust::fingerprint(&public),
        }),
    )
    .unwrap();
}

#[test]
fn signed_approvals_and_four_eyes() {
    let dir = tempfile::tempdir().unwrap();
    let (ada, bob, eve) = (
        key(dir.path(), "ada"),
        key(dir.path(), "bob"),
        key(dir.path(), "eve"),
    );
    let text = format!(
        "ada@contoso.example {}\nbob@contoso.example {}\n",
        ada.public_line, bob.public_line
    );
    let path = dir.path().join("allowed_signers");
    let allowed = trust::AllowedSigners::parse(&path, &text).unwrap();
    fn check<'p>(
        plan: &'p Plan,
        allowed: &trust::AllowedSigners,
        min: usize,
    ) -> std::result::Result<Approved<'p>, Refusal> {
        preflight(plan, "t1", now(), 25, 10, Some(allowed), min)
    }

    // Unsigned approvals are refused once a policy is configured.
    assert!(matches!(
        check(&plan(&[A1]), &allowed, 1).err(),
        Some(Refusal::Unsigned { .. })
    ));
    // A key not allowed for the approver it claims.
    let mut forged = unapproved();
    approve_signed(&mut forged, "ada@contoso.example", &eve, &[A1]);
    assert!(matches!(
        check(&forged, &allowed, 1).err(),
        Some(Refusal::BadSignature { .. })
    ));
    // A signature over another selection (the approval's items edited after signing).
    let mut edited = unapproved();
    approve_signed(&mut edited, "ada@contoso.example", &ada, &[A1]);
    edited.approvals[0].items.push(A2.into());
    assert!(matches!(
        check(&edited, &allowed, 1).err(),
        Some(Refusal::BadSignature { detail, .. }) if detail.contains("another plan digest or another selection")
    ));

    // Four eyes: one approver twice is still one; two distinct allowed approvers suffice.
    let mut once = unapproved();
    approve_signed(&mut once, "ada@contoso.example", &ada, &[A1, A2, A3]);
    approve_signed(&mut once, "ada@contoso.example", &ada, &[A1]);
    assert!(matches!(
        check(&once, &allowed, 2).err(),
        Some(Refusal::NotEnoughApprovers { min: 2 })
    ));
    let mut twice = once.clone();
    approve_signed(&mut twice, "bob@contoso.example", &bob, &[A1, A3]);
    let approved = check(&twice, &allowed, 2).unwrap();
    assert_eq!(ids(&approved), [A1, A3], "A2 has one approver of two");
    assert_eq!(
        approved.decision.approvers(A1),
        ["ada@contoso.example", "bob@contoso.example"]
    );
    // Four eyes without signatures is refused outright.
    assert!(matches!(
        preflight(&twice, "t1", now(), 25, 10, None, 2).err(),
        Some(Refusal::FourEyesNeedsSignatures { min: 2 })
    ));
}
