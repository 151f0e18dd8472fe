//! The seams between approve, apply, verify and evidence (issue 24): each test reproduces one
//! defect found by trying the whole workflow as an adversary and as a new user would.

use crate::common::read_csv;
use crate::support::workflow::*;

fn stats(flow: &Workflow) -> fake_graph::FakeStats {
    flow.fake.server().stats()
}

fn writes(flow: &Workflow) -> u64 {
    let stats = stats(flow);
    stats.reprocess.values().sum::<u64>()
        + stats.request_reprocess.values().sum::<u64>()
        + stats.admin_removes
        + stats.member_removals
        + stats.owner_removals
        + stats.app_role_removals
}

/// Upper-cases every id an approval names (items and the keys of its choices).
fn shout(plan: &std::path::Path) {
    let mut json = plan_at(plan);
    for approval in json["approvals"].as_array_mut().unwrap() {
        let items: Vec<serde_json::Value> = approval["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|id| id.as_str().unwrap().to_ascii_uppercase().into())
            .collect();
        approval["items"] = items.into();
        if let Some(choices) = approval.get("choices").and_then(|c| c.as_object()).cloned() {
            let upper: serde_json::Map<String, serde_json::Value> = choices
                .into_iter()
                .map(|(k, v)| (k.to_ascii_uppercase(), v))
                .collect();
            approval["choices"] = upper.into();
        }
    }
    write_plan(plan, &json);
}

#[test]
fn a_signed_choice_runs_as_signed_whatever_the_case_of_its_ids() {
    let flow = Workflow::start(|_| {});
    for who in [ADA, BOB] {
        ok(&flow.approve(who, &["--only", BY_PERSON, "--action", "remove_assignment"]));
        ok(&flow.approve(
            who,
            &[
                "--only",
                BY_SYNC,
                "--action",
                "accept",
                "--reason",
                "the sync engine restores it",
            ],
        ));
    }
    shout(&flow.plan);
    ok(&flow.apply(&["--allow-remove", "--min-approvers", "2"]));
    let stats = stats(&flow);
    assert_eq!(stats.admin_removes, 1, "the signed remove_assignment ran");
    assert!(
        stats.reprocess.is_empty(),
        "nothing was reprocessed instead: {:?}",
        stats.reprocess
    );
    let register = read_csv(&flow.register);
    assert_eq!(register.rows.len(), 1, "the signed accept ran");
    assert_eq!(register.rows[0]["assignment_id"], BY_SYNC);

    // Two choices for one item that differ only in case: refused, naming the approval.
    let mut json = plan_at(&flow.plan);
    let choices = json["approvals"][0]["choices"].as_object().unwrap().clone();
    let (key, value) = choices.iter().next().unwrap();
    let mut value = value.clone();
    value["action"] = "reprocess".into();
    json["approvals"][0]["choices"][key.to_ascii_lowercase()] = value;
    write_plan(&flow.plan, &json);
    let twice = flow.apply(&["--allow-remove", "--min-approvers", "2"]);
    refused(&twice, "more than once");
    assert!(stderr(&twice).contains(ADA), "{}", stderr(&twice));
}

#[test]
fn plans_with_access_items_resume_and_retry() {
    let flow = Workflow::start(|_| {});
    let member = flow.key(MEMBER_USER);
    let owner = flow.key(OWNER_USER);
    ok(&flow.approve(ADA, &["--only", &member, "--action", "remove_access"]));
    ok(&flow.approve(
        ADA,
        &[
            "--only",
            &owner,
            "--action",
            "accept",
            "--reason",
            "the team lead owns the group",
        ],
    ));
    ok(&flow.apply(&["--allow-remove"]));
    let after_first = writes(&flow);
    assert_eq!(stats(&flow).member_removals, 1);
    // The same command again (crash recovery's instruction), and with --recheck-journal.
    let again = flow.apply(&["--allow-remove"]);
    ok(&again);
    let results = read_csv(&flow.run.join("apply-results.csv"));
    let outcome = |id: &str| {
        results
            .rows
            .iter()
            .find(|r| r["item_id"] == id)
            .map(|r| r["outcome"].clone())
            .unwrap_or_else(|| panic!("no result for {id}: {:?}", results.rows))
    };
    assert_eq!(outcome(&member), "removed");
    assert_eq!(outcome(&owner), "accepted");
    let rechecked = flow.apply(&["--allow-remove", "--recheck-journal"]);
    ok(&rechecked);
    assert_eq!(writes(&flow), after_first, "nothing sent twice");
    assert_eq!(
        read_csv(&flow.register).rows.len(),
        1,
        "the exception is recorded once"
    );
}
