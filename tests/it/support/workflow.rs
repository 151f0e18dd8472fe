//! The approve → apply → verify → evidence workflow as one object, for the tests of its seams:
//! the contoso tenant with its audit log behind fake-graph, audited once (a plan with every
//! item kind), two SSH keys allowed for plans and evidence, and an exceptions register.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Output;

use fake_graph::FakeConfig;
use serde_json::Value;

use crate::support::fake_graph::{run_dir, Fake, SECRET};
use crate::support::ssh::{keygen, public_line};

/// The finding removed by a person (megan): `decide`; may be ended (`remove_assignment`).
pub const BY_PERSON: &str = "751bd151-dce2-45c2-9469-052950416704";
/// Removed by entitlement management itself: `reprocess` by default.
pub const BY_EM: &str = "7979899d-6aae-4e8b-bbe6-2f8d1163c77b";
/// Removed by the sync engine: `reprocess` by default; may be accepted.
pub const BY_SYNC: &str = "cb47596f-82e5-48d4-8d36-40971f438d74";
/// No event in the log: `reprocess` by default.
pub const NO_EVENT: &str = "f49b8764-e61f-493b-b541-c0cca7b7cc0e";
/// Access without assignment, by user: a group member, an app role, a group owner.
pub const MEMBER_USER: &str = "cb9d98f8-879f-4cad-a534-e7834cb4e33e";
pub const APP_USER: &str = "1ec56e4e-db27-482e-a874-09ee943158b8";
pub const OWNER_USER: &str = "58860163-4c6a-46b4-bd67-fc78201b7762";

pub const ADA: &str = "ada@contoso.example";
pub const BOB: &str = "bob@contoso.example";

pub struct Workflow {
    pub work: tempfile::TempDir,
    pub fake: Fake,
    pub out: PathBuf,
    pub run: PathBuf,
    pub plan: PathBuf,
    pub register: PathBuf,
    pub allowed: PathBuf,
    pub ada: PathBuf,
    pub bob: PathBuf,
    audit_now: String,
}

pub const REGISTER_HEADER: &str = "id,assignment_id,access_package_id,user_id,resource_type,resource_id,role,category,reason,approver,expires,ticket\n";

impl Workflow {
    /// Audits the tenant once (with the register), so `plan` holds every item kind.
    pub fn start(configure: impl FnOnce(&mut FakeConfig)) -> Workflow {
        let work = tempfile::tempdir().unwrap();
        let tenant = work.path().join("tenant");
        // Audited "now" (plans expire): the log's times move with the clock.
        let base = chrono::DateTime::parse_from_rfc3339(crate::causes::NOW).unwrap();
        let shift = chrono::Utc::now() - base.to_utc();
        let shift = chrono::Duration::days(shift.num_days().max(0));
        let audit_now = (base + shift).to_rfc3339();
        crate::causes::tenant_with_log_at(&tenant, false, shift);
        let fake = Fake::start(tenant.to_str().unwrap(), configure);
        let out = work.path().join("out");
        let register = work.path().join("register.csv");
        std::fs::write(&register, REGISTER_HEADER).unwrap();
        let keys = work.path().join("keys");
        std::fs::create_dir(&keys).unwrap();
        let ada = keygen(&keys, "ada", "ed25519", "");
        let bob = keygen(&keys, "bob", "ed25519", "");
        let allowed = keys.join("allowed_signers");
        std::fs::write(
            &allowed,
            format!(
                "{ADA} namespaces=\"entra-drift-plan,entra-drift-evidence\" {}\n{BOB} namespaces=\"entra-drift-plan\" {}\n",
                public_line(&ada),
                public_line(&bob)
            ),
        )
        .unwrap();
        let mut workflow = Workflow {
            work,
            fake,
            out,
            run: PathBuf::new(),
            plan: PathBuf::new(),
            register,
            allowed,
            ada,
            bob,
            audit_now,
        };
        workflow.run = workflow.audit(&[]);
        workflow.plan = workflow.run.join("plan.json");
        workflow
    }

    /// One more audit of the tenant into `out`; its run folder.
    pub fn audit(&self, extra: &[&str]) -> PathBuf {
        let output = self.audit_output(extra);
        assert!(
            output.status.code().is_some_and(|c| c == 0 || c == 2),
            "{}",
            stderr(&output)
        );
        run_dir(&output)
    }

    pub fn audit_output(&self, extra: &[&str]) -> Output {
        self.fake
            .command(&["-q", "audit", "--out", s(&self.out)], SECRET)
            .env("ENTRA_DRIFT_NOW", &self.audit_now)
            .args(["--exceptions", s(&self.register)])
            .args(extra)
            .output()
            .unwrap()
    }

    pub fn plan_json(&self) -> Value {
        plan_at(&self.plan)
    }

    /// The id of the item of an assignment, or of a user's access without assignment.
    pub fn key(&self, who: &str) -> String {
        let plan = self.plan_json();
        let item = plan["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| {
                i["assignment_id"] == who || (i["assignment_id"] == "" && i["user_id"] == who)
            })
            .unwrap_or_else(|| panic!("no plan item for {who}"))
            .clone();
        item.get("item_id")
            .unwrap_or(&item["assignment_id"])
            .as_str()
            .unwrap()
            .to_string()
    }

    /// `plan approve` by `who` (ADA or BOB), signed with their key.
    pub fn approve(&self, who: &str, extra: &[&str]) -> Output {
        self.approve_plan(&self.plan, who, extra)
    }

    pub fn approve_plan(&self, plan: &Path, who: &str, extra: &[&str]) -> Output {
        let key = if who == ADA { &self.ada } else { &self.bob };
        crate::common::entra_drift()
            .args(["plan", "approve"])
            .arg(plan)
            .args(["--approver", who, "--sign-key"])
            .arg(key)
            .arg("--exceptions")
            .arg(&self.register)
            .args(extra)
            .output()
            .unwrap()
    }

    /// `apply` of the plan with the policy and the register.
    pub fn apply(&self, extra: &[&str]) -> Output {
        self.apply_plan(&self.plan, extra)
    }

    pub fn apply_plan(&self, plan: &Path, extra: &[&str]) -> Output {
        self.apply_command(plan, extra).output().unwrap()
    }

    pub fn apply_command(&self, plan: &Path, extra: &[&str]) -> std::process::Command {
        let mut args = vec![
            "apply",
            s(plan),
            "--allowed-signers",
            s(&self.allowed),
            "--exceptions",
            s(&self.register),
        ];
        args.extend_from_slice(extra);
        self.fake.command(&args, SECRET)
    }

    pub fn verify(&self, extra: &[&str]) -> Output {
        let mut args = vec![
            "verify",
            s(&self.plan),
            "--allowed-signers",
            s(&self.allowed),
        ];
        args.extend_from_slice(extra);
        self.fake.run(&args, SECRET)
    }
}

pub fn plan_at(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// Upper-cases every id the plan's approvals name (their items and the keys of their choices),
/// as someone editing plan.json could: what was signed must still be what runs.
pub fn shout_approvals(path: &Path) {
    let mut plan = plan_at(path);
    for approval in plan["approvals"].as_array_mut().unwrap() {
        let items: Vec<Value> = approval["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|id| id.as_str().unwrap().to_ascii_uppercase().into())
            .collect();
        approval["items"] = items.into();
        if let Some(choices) = approval.get("choices").and_then(|c| c.as_object()).cloned() {
            approval["choices"] = choices
                .into_iter()
                .map(|(k, v)| (k.to_ascii_uppercase(), v))
                .collect::<serde_json::Map<_, _>>()
                .into();
        }
    }
    write_plan(path, &plan);
}

pub fn write_plan(path: &Path, plan: &Value) {
    std::fs::write(path, serde_json::to_string_pretty(plan).unwrap()).unwrap();
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

pub fn s(path: &Path) -> &str {
    path.to_str().unwrap()
}

#[track_caller]
pub fn ok(output: &Output) {
    assert!(
        output.status.success(),
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        stderr(output)
    );
}

/// Exit 1 with `needle` in stderr, and no panic.
#[track_caller]
pub fn refused(output: &Output, needle: &str) {
    assert_eq!(
        output.status.code(),
        Some(1),
        "expected a refusal containing {needle:?}\nstderr:\n{}",
        stderr(output)
    );
    assert!(
        stderr(output).contains(needle),
        "wanted {needle:?} in:\n{}",
        stderr(output)
    );
    assert!(!stderr(output).contains("panicked"), "{}", stderr(output));
}
