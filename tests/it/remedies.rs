//! Remedies that respect intent, end to end against fake-graph: contoso with its audit log is
//! audited; the defaults follow the causes; a reviewer decides in the workbook; a signed
//! approval; apply with all four actions (removals behind --allow-remove and their cap);
//! verify; and the next audit shows each finding gone, excepted, or — for `decide` — still there.

use std::path::Path;

use serde_json::Value;

use crate::causes::{tenant_with_log_at, NOW};
use crate::common::read_csv;
use crate::support::fake_graph::{run_dir, Fake, SECRET};
use crate::support::ssh::{keygen, public_line};

/// The finding removed by a person (megan): `decide` by default; the reviewer ends it.
const BY_PERSON: &str = "751bd151-dce2-45c2-9469-052950416704";
/// Removed by entitlement management itself: `reprocess` by default.
const BY_EM: &str = "7979899d-6aae-4e8b-bbe6-2f8d1163c77b";
/// Removed by the sync engine: `reprocess` by default; the reviewer accepts it instead.
const BY_SYNC: &str = "cb47596f-82e5-48d4-8d36-40971f438d74";
/// No event (before the window): `reprocess` by default; not approved.
const NO_EVENT: &str = "f49b8764-e61f-493b-b541-c0cca7b7cc0e";
/// Access without assignment: a member added by a person, an app role added by a script
/// (both removed), and an owner nobody decides on.
const MEMBER_USER: &str = "cb9d98f8-879f-4cad-a534-e7834cb4e33e";
const APP_USER: &str = "1ec56e4e-db27-482e-a874-09ee943158b8";
const OWNER_USER: &str = "58860163-4c6a-46b4-bd67-fc78201b7762";

fn plan_json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn stderr(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).to_string()
}

/// The item of an assignment, or of the access of a user (access without assignment).
fn item<'p>(plan: &'p Value, id: &str) -> &'p Value {
    plan["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["assignment_id"] == id || (i["assignment_id"] == "" && i["user_id"] == id))
        .unwrap_or_else(|| panic!("no plan item for {id}"))
}

fn key(item: &Value) -> String {
    item.get("item_id")
        .unwrap_or(&item["assignment_id"])
        .as_str()
        .unwrap()
        .to_string()
}

/// The reviewer's Plan sheet: approve, action and reason per row, in the plan's order.
fn reviewed_sheet(path: &Path, plan: &Value, digest: &str, decide: &[(&str, &str, &str)]) {
    let mut workbook = rust_xlsxwriter::Workbook::new();
    let sheet = workbook.add_worksheet().set_name("Plan").unwrap();
    for (column, header) in [
        "approve",
        "action",
        "accept_reason",
        "item_id",
        "plan_digest",
    ]
    .iter()
    .enumerate()
    {
        sheet.write_string(0, column as u16, *header).unwrap();
    }
    for (row, entry) in plan["items"].as_array().unwrap().iter().enumerate() {
        let row = row as u32 + 1;
        let id = key(entry);
        let chosen = decide.iter().find(|(who, _, _)| {
            entry["assignment_id"] == *who
                || (entry["assignment_id"] == "" && entry["user_id"] == *who)
        });
        let (approve, action, reason) = match chosen {
            Some((_, action, reason)) => ("Yes", *action, *reason),
            None => ("No", entry["action"].as_str().unwrap_or("reprocess"), ""),
        };
        sheet.write_string(row, 0, approve).unwrap();
        sheet.write_string(row, 1, action).unwrap();
        sheet.write_string(row, 2, reason).unwrap();
        sheet.write_string(row, 3, &id).unwrap();
        sheet.write_string(row, 4, digest).unwrap();
    }
    workbook.save(path).unwrap();
}

#[test]
fn four_actions_chosen_by_reviewers_go_round_the_whole_loop() {
    let work = tempfile::tempdir().unwrap();
    let tenant = work.path().join("tenant");
    // Audited "now" (plans expire): the log's times move with the clock.
    let now = chrono::Utc::now();
    let shift = now - chrono::DateTime::parse_from_rfc3339(NOW).unwrap().to_utc();
    let shift = chrono::Duration::days(shift.num_days().max(0));
    let audit_now = (chrono::DateTime::parse_from_rfc3339(NOW).unwrap() + shift).to_rfc3339();
    tenant_with_log_at(&tenant, false, shift);
    let fake = Fake::start(tenant.to_str().unwrap(), |_| {});
    let out = work.path().join("out");
    let audit = || {
        let output = fake
            .command(&["-q", "audit", "--out", out.to_str().unwrap()], SECRET)
            .env("ENTRA_DRIFT_NOW", &audit_now)
            .args([
                "--exceptions",
                work.path().join("register.csv").to_str().unwrap(),
            ])
            .output()
            .unwrap();
        assert!(
            output.status.code().is_some_and(|c| c == 0 || c == 2),
            "{}",
            stderr(&output)
        );
        run_dir(&output)
    };
    std::fs::write(
        work.path().join("register.csv"),
        "id,assignment_id,access_package_id,user_id,resource_type,resource_id,role,category,reason,approver,expires,ticket\n",
    )
    .unwrap();
    let run = audit();
    let plan_path = run.join("plan.json");
    let plan = plan_json(&plan_path);

    // The defaults follow the cause.
    assert_eq!(item(&plan, BY_PERSON)["action"], "decide");
    let reason = item(&plan, BY_PERSON)["reason"].as_str().unwrap();
    assert!(
        reason.contains("removed by megan@contoso.example (user)")
            && reason.contains("reprocessing would undo it"),
        "{reason}"
    );
    for id in [BY_EM, BY_SYNC, NO_EVENT] {
        assert!(
            item(&plan, id).get("action").is_none(),
            "{id}: reprocess (the default)"
        );
    }
    for user in [MEMBER_USER, APP_USER, OWNER_USER] {
        assert_eq!(item(&plan, user)["action"], "decide", "{user}");
        assert_eq!(
            item(&plan, user)["actions"],
            serde_json::json!(["remove_access", "accept", "decide"])
        );
    }

    // The reviewer decides in the workbook; the approver signs what the workbook says.
    let digest = {
        let output = crate::common::entra_drift()
            .args(["plan", "digest"])
            .arg(&plan_path)
            .output()
            .unwrap();
        String::from_utf8(output.stdout)
            .unwrap()
            .lines()
            .next()
            .unwrap()
            .to_string()
    };
    let reviewed = run.join("reviewed.xlsx");
    reviewed_sheet(
        &reviewed,
        &plan,
        &digest,
        &[
            (BY_PERSON, "remove_assignment", ""),
            (BY_EM, "reprocess", ""),
            (BY_SYNC, "accept", "the sync engine restores it on Monday"),
            (MEMBER_USER, "remove_access", ""),
            (APP_USER, "remove_access", ""),
        ],
    );
    let keys = tempfile::tempdir().unwrap();
    let ada = keygen(keys.path(), "ada", "ed25519", "");
    let allowed = keys.path().join("allowed_signers");
    std::fs::write(
        &allowed,
        format!(
            "ada@contoso.example namespaces=\"entra-drift-plan\" {}\n",
            public_line(&ada)
        ),
    )
    .unwrap();
    let approve = crate::common::entra_drift()
        .args(["plan", "approve"])
        .arg(&plan_path)
        .args(["--approver", "ada@contoso.example", "--from-xlsx"])
        .arg(&reviewed)
        .arg("--sign-key")
        .arg(&ada)
        .arg("--exceptions")
        .arg(work.path().join("register.csv"))
        .output()
        .unwrap();
    assert!(approve.status.success(), "{}", stderr(&approve));
    let approval = &plan_json(&plan_path)["approvals"][0];
    assert_eq!(approval["items"].as_array().unwrap().len(), 5);
    assert_eq!(
        approval["choices"][BY_PERSON]["action"], "remove_assignment",
        "the chosen action is recorded (and signed)"
    );
    assert_eq!(
        approval["choices"][BY_SYNC]["reason"],
        "the sync engine restores it on Monday"
    );

    let apply = |extra: &[&str]| {
        let mut args = vec![
            "apply",
            plan_path.to_str().unwrap(),
            "--allowed-signers",
            allowed.to_str().unwrap(),
            "--exceptions",
        ];
        let register = work.path().join("register.csv");
        let register = register.to_str().unwrap().to_string();
        args.push(&register);
        args.extend_from_slice(extra);
        fake.run(&args, SECRET)
    };
    // A signed choice cannot be changed afterwards: the signature covers it.
    let mut forged = plan_json(&plan_path);
    forged["approvals"][0]["choices"][BY_PERSON]["action"] = "reprocess".into();
    let original = std::fs::read(&plan_path).unwrap();
    std::fs::write(&plan_path, serde_json::to_string_pretty(&forged).unwrap()).unwrap();
    let refused = apply(&["--dry-run"]);
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        stderr(&refused).contains("does not verify"),
        "{}",
        stderr(&refused)
    );
    std::fs::write(&plan_path, original).unwrap();

    // Removals need their own flag: without it a dry run says they would be skipped.
    let dry = apply(&["--dry-run"]);
    assert!(dry.status.success(), "{}", stderr(&dry));
    let dry = read_csv(&run.join("apply-dry-run.csv"));
    let removal = dry
        .rows
        .iter()
        .find(|r| r["assignment_id"] == BY_PERSON)
        .unwrap();
    assert_eq!(removal["outcome"], "skipped");
    assert!(removal["reason"].contains("--allow-remove"), "{removal:?}");
    // ... and their own cap.
    let capped = apply(&["--allow-remove", "--max-removals", "2"]);
    assert_eq!(capped.status.code(), Some(1));
    assert!(
        stderr(&capped).contains("--max-removals 2"),
        "{}",
        stderr(&capped)
    );
    assert_eq!(fake.server().stats().admin_removes, 0, "nothing sent");

    let applied = apply(&["--allow-remove"]);
    assert!(applied.status.success(), "{}", stderr(&applied));
    let results = read_csv(&run.join("apply-results.csv"));
    let outcome = |who: &str| {
        results
            .rows
            .iter()
            .find(|r| {
                r["assignment_id"] == who || (r["assignment_id"].is_empty() && r["user_id"] == who)
            })
            .map(|r| (r["outcome"].clone(), r["action"].clone()))
            .unwrap()
    };
    assert_eq!(
        outcome(BY_PERSON),
        ("removed".into(), "remove_assignment".into())
    );
    assert_eq!(outcome(BY_EM), ("reprocessed".into(), "reprocess".into()));
    assert_eq!(outcome(BY_SYNC), ("accepted".into(), "accept".into()));
    assert_eq!(
        outcome(MEMBER_USER),
        ("removed".into(), "remove_access".into())
    );
    assert_eq!(
        outcome(APP_USER),
        ("removed".into(), "remove_access".into())
    );
    assert_eq!(outcome(NO_EVENT).0, "not_approved");
    assert_eq!(
        outcome(OWNER_USER).0,
        "not_approved",
        "decide is never applied"
    );
    let stats = fake.server().stats();
    assert_eq!(
        (
            stats.admin_removes,
            stats.member_removals,
            stats.app_role_removals,
            stats.owner_removals
        ),
        (1, 1, 1, 0)
    );
    let register = read_csv(&work.path().join("register.csv"));
    assert_eq!(register.rows.len(), 1);
    assert_eq!(register.rows[0]["assignment_id"], BY_SYNC);
    assert_eq!(
        register.rows[0]["reason"],
        "the sync engine restores it on Monday"
    );
    assert_eq!(register.rows[0]["approver"], "ada@contoso.example");

    let verified = fake.run(
        &[
            "verify",
            plan_path.to_str().unwrap(),
            "--allowed-signers",
            allowed.to_str().unwrap(),
        ],
        SECRET,
    );
    assert!(verified.status.success(), "{}", stderr(&verified));
    let verify = read_csv(&run.join("verify-results.csv"));
    let status = |who: &str| {
        verify
            .rows
            .iter()
            .find(|r| {
                r["assignment_id"] == who
                    || r["user_id"] == who && r["assignment_id"].starts_with("access-")
            })
            .map(|r| r["status"].clone())
            .unwrap()
    };
    assert_eq!(status(BY_PERSON), "removed");
    assert_eq!(status(BY_EM), "restored");
    assert_eq!(status(BY_SYNC), "accepted");
    assert_eq!(status(MEMBER_USER), "removed");
    assert_eq!(status(APP_USER), "removed");
    assert_eq!(status(OWNER_USER), "still_present");

    // The next audit: each finding gone, excepted, or still there.
    let next = audit();
    let findings = read_csv(&next.join("findings.csv"));
    let finding = |who: &str| {
        findings
            .rows
            .iter()
            .find(|r| {
                r["assignment_id"] == who || (r["assignment_id"].is_empty() && r["user_id"] == who)
            })
            .cloned()
    };
    assert!(
        finding(BY_PERSON).is_none(),
        "the ended assignment is no finding"
    );
    assert!(finding(BY_EM).is_none(), "restored");
    assert_eq!(
        finding(BY_SYNC).unwrap()["exception_state"],
        "active",
        "excepted"
    );
    assert!(finding(MEMBER_USER).is_none(), "removed");
    assert!(finding(APP_USER).is_none(), "removed");
    assert!(finding(OWNER_USER).is_some(), "left on decide: still there");
    assert!(finding(NO_EVENT).is_some(), "not approved: still there");
}

#[test]
fn the_cli_chooses_actions_within_each_items_choices_and_the_config_sets_defaults() {
    let work = tempfile::tempdir().unwrap();
    let tenant = work.path().join("tenant");
    crate::causes::tenant_with_log(&tenant, false);
    // Entitlement management's removals are ended, not reprocessed, in this tenant.
    let config = work.path().join("entra-drift.toml");
    std::fs::write(
        &config,
        "[remedies.missing_access]\nentitlement_management = \"remove_assignment\"\n",
    )
    .unwrap();
    let out = work.path().join("out");
    let output = crate::common::entra_drift()
        .args(["-q", "--config"])
        .arg(&config)
        .args(["audit", "--tenant-dir"])
        .arg(&tenant)
        .arg("--out")
        .arg(&out)
        .env("ENTRA_DRIFT_NOW", NOW)
        .output()
        .unwrap();
    let run = run_dir(&output);
    let plan_path = run.join("plan.json");
    let plan = plan_json(&plan_path);
    assert_eq!(item(&plan, BY_EM)["action"], "remove_assignment");

    let approve = |extra: &[&str]| {
        crate::common::entra_drift()
            .args(["plan", "approve"])
            .arg(&plan_path)
            .args(["--approver", "ada@contoso.example"])
            .args(extra)
            .output()
            .unwrap()
    };
    let access = key(item(&plan, OWNER_USER));
    // `accept` without a reason, an action an item cannot take, `decide` left open: refused.
    let no_reason = approve(&["--only", &access, "--action", "accept"]);
    assert_eq!(no_reason.status.code(), Some(1));
    assert!(
        stderr(&no_reason).contains("needs a one-line reason"),
        "{}",
        stderr(&no_reason)
    );
    let wrong = approve(&["--only", BY_EM, "--action", "remove_access"]);
    assert_eq!(wrong.status.code(), Some(1));
    assert!(
        stderr(&wrong).contains("cannot take `remove_access`"),
        "{}",
        stderr(&wrong)
    );
    let open = approve(&["--only", &access]);
    assert_eq!(open.status.code(), Some(1));
    assert!(
        stderr(&open).contains("left on `decide`"),
        "{}",
        stderr(&open)
    );
    assert!(plan_json(&plan_path)["approvals"]
        .as_array()
        .unwrap()
        .is_empty());

    // An accept with no register to record it in is refused when it is approved.
    let no_register = approve(&[
        "--only",
        &access,
        "--action",
        "accept",
        "--reason",
        "the team lead owns the group",
    ]);
    assert_eq!(no_register.status.code(), Some(1));
    assert!(
        stderr(&no_register).contains("no exceptions register is configured"),
        "{}",
        stderr(&no_register)
    );
    let register = work.path().join("register.csv");
    let accepted = approve(&[
        "--only",
        &access,
        "--action",
        "accept",
        "--reason",
        "the team lead owns the group",
        "--exceptions",
        register.to_str().unwrap(),
    ]);
    assert!(accepted.status.success(), "{}", stderr(&accepted));
    let approval = &plan_json(&plan_path)["approvals"][0];
    assert_eq!(approval["choices"][&access]["action"], "accept");

    // A bad [remedies] entry points at its line.
    std::fs::write(
        &config,
        "[remedies.missing_access]\nuser = \"remove_access\"\n",
    )
    .unwrap();
    let checked = crate::common::entra_drift()
        .args(["config", "check"])
        .arg(&config)
        .output()
        .unwrap();
    assert_eq!(checked.status.code(), Some(1));
    let message = stderr(&checked);
    assert!(
        message.contains("line 2") && message.contains("does not fit"),
        "{message}"
    );
}
