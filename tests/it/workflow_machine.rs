//! The approve → apply → verify → evidence workflow as one state machine (issue 24): generated
//! sequences of signed and unsigned approvals of every action (ids in any case), revocations,
//! applies (killed at any point, two at once, with fake-graph failing writes), verify,
//! evidence verify and tampering with the approvals' ids, run against the real binary and
//! fake-graph, with the invariants checked after every step:
//!
//! - each Graph write happens at most once per item, and only for an (item, action) that
//!   enough distinct allowed approvers signed when an apply ran;
//! - the register holds one exception per accepted item, each one signed for;
//! - verify reports what the journal and Graph say;
//! - the journal always reads back, whatever was killed;
//! - the run's evidence stays intact, and the views' "in plan" is the plan's.
//!
//! `proptest-state-machine` generates and shrinks the sequences. The budget is fixed for CI
//! (`ENTRA_DRIFT_MACHINE_CASES` cases, default 12, from a fixed seed, so a failure reproduces);
//! raise it on demand.

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed};
use proptest_state_machine::{prop_state_machine, ReferenceStateMachine, StateMachineTest};

use crate::common::read_csv;
use crate::support::workflow::*;

fn cases() -> u32 {
    std::env::var("ENTRA_DRIFT_MACHINE_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(12)
}

/// The plan items of the contoso tenant with its log, by what they are.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum Item {
    ByPerson,
    ByEm,
    BySync,
    NoEvent,
    Member,
    App,
    Owner,
}

const ITEMS: [Item; 7] = [
    Item::ByPerson,
    Item::ByEm,
    Item::BySync,
    Item::NoEvent,
    Item::Member,
    Item::App,
    Item::Owner,
];

impl Item {
    fn who(self) -> &'static str {
        match self {
            Item::ByPerson => BY_PERSON,
            Item::ByEm => BY_EM,
            Item::BySync => BY_SYNC,
            Item::NoEvent => NO_EVENT,
            Item::Member => MEMBER_USER,
            Item::App => APP_USER,
            Item::Owner => OWNER_USER,
        }
    }

    fn is_access(self) -> bool {
        matches!(self, Item::Member | Item::App | Item::Owner)
    }

    /// The actions a reviewer may choose (never `decide`).
    fn choices(self) -> Vec<Act> {
        if self.is_access() {
            vec![Act::RemoveAccess, Act::Accept]
        } else {
            vec![Act::Reprocess, Act::RemoveAssignment, Act::Accept]
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum Act {
    Reprocess,
    RemoveAssignment,
    RemoveAccess,
    Accept,
}

impl Act {
    fn name(self) -> &'static str {
        match self {
            Act::Reprocess => "reprocess",
            Act::RemoveAssignment => "remove_assignment",
            Act::RemoveAccess => "remove_access",
            Act::Accept => "accept",
        }
    }

    fn removes(self) -> bool {
        matches!(self, Act::RemoveAssignment | Act::RemoveAccess)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Who {
    Ada,
    Bob,
    /// Unsigned, as an old hint suggested: refused by the policy until revoked.
    Mallory,
}

impl Who {
    fn name(self) -> &'static str {
        match self {
            Who::Ada => ADA,
            Who::Bob => BOB,
            Who::Mallory => "mallory",
        }
    }
}

#[derive(Clone, Debug)]
enum Step {
    Approve {
        who: Who,
        item: Item,
        action: Act,
        /// The id as typed, upper-cased.
        shout: bool,
    },
    Revoke {
        who: Who,
    },
    Apply {
        allow_remove: bool,
        recheck: bool,
        /// SIGKILL once the journal has grown by this many lines.
        kill_after: Option<usize>,
    },
    /// Two applies at once.
    ApplyTwice,
    Verify,
    EvidenceVerify,
    /// Every id the approvals name, upper-cased in plan.json.
    ShoutApprovals,
    /// The plan copied to another folder and applied as the run's (`--run`): refused once the
    /// run's own journal holds the plan.
    ApplyCopy,
    /// A journal line's detail edited: every later apply and verify is refused.
    TamperJournal,
}

#[derive(Clone, Debug)]
struct Model {
    min_approvers: usize,
    fail_writes_after: Option<u64>,
    approvals: Vec<(Who, Item, Act)>,
    /// (item, action) pairs some apply was allowed to carry out.
    authorised: BTreeSet<(Item, Act)>,
    /// An apply of the run's plan got past its checks: its journal is the plan's.
    claimed: bool,
    journal_tampered: bool,
}

impl Model {
    /// What an apply may carry out now: nothing while an unsigned approval is in the plan;
    /// else each item whose signed approvers agree on one action and are enough.
    fn decision(&self, allow_remove: bool) -> BTreeSet<(Item, Act)> {
        if self
            .approvals
            .iter()
            .any(|(who, _, _)| *who == Who::Mallory)
        {
            return BTreeSet::new();
        }
        let mut by_item: BTreeMap<Item, (BTreeSet<Who>, BTreeSet<Act>)> = BTreeMap::new();
        for (who, item, action) in &self.approvals {
            let entry = by_item.entry(*item).or_default();
            entry.0.insert(*who);
            entry.1.insert(*action);
        }
        by_item
            .into_iter()
            .filter(|(_, (who, actions))| who.len() >= self.min_approvers && actions.len() == 1)
            .map(|(item, (_, actions))| (item, *actions.iter().next().unwrap()))
            .filter(|(_, action)| allow_remove || !action.removes())
            .collect()
    }
}

struct Reference;

impl ReferenceStateMachine for Reference {
    type State = Model;
    type Transition = Step;

    fn init_state() -> BoxedStrategy<Model> {
        (
            prop_oneof![2 => Just(1usize), 1 => Just(2usize)],
            prop_oneof![3 => Just(None), 1 => (1u64..4).prop_map(Some)],
        )
            .prop_map(|(min_approvers, fail_writes_after)| Model {
                min_approvers,
                fail_writes_after,
                approvals: Vec::new(),
                authorised: BTreeSet::new(),
                claimed: false,
                journal_tampered: false,
            })
            .boxed()
    }

    fn transitions(_: &Model) -> BoxedStrategy<Step> {
        let approve = (
            prop_oneof![3 => Just(Who::Ada), 3 => Just(Who::Bob), 1 => Just(Who::Mallory)],
            proptest::sample::select(ITEMS.to_vec()),
            any::<prop::sample::Index>(),
            any::<bool>(),
        )
            .prop_map(|(who, item, pick, shout)| {
                let choices = item.choices();
                Step::Approve {
                    who,
                    item,
                    action: choices[pick.index(choices.len())],
                    shout,
                }
            });
        prop_oneof![
            6 => approve,
            1 => prop_oneof![Just(Who::Ada), Just(Who::Bob), Just(Who::Mallory)]
                .prop_map(|who| Step::Revoke { who }),
            4 => (any::<bool>(), prop::bool::weighted(0.2), prop::option::weighted(0.3, 1usize..5))
                .prop_map(|(allow_remove, recheck, kill_after)| Step::Apply {
                    allow_remove,
                    recheck,
                    kill_after,
                }),
            1 => Just(Step::ApplyTwice),
            2 => Just(Step::Verify),
            1 => Just(Step::EvidenceVerify),
            2 => Just(Step::ShoutApprovals),
            1 => Just(Step::ApplyCopy),
            1 => Just(Step::TamperJournal),
        ]
        .boxed()
    }

    fn preconditions(state: &Model, step: &Step) -> bool {
        match step {
            // A copy's outcome is known once the run's journal holds the plan.
            Step::ApplyCopy => state.claimed && !state.journal_tampered,
            // Tampering with a journal needs one.
            Step::TamperJournal => state.claimed && !state.journal_tampered,
            _ => true,
        }
    }

    fn apply(mut state: Model, step: &Step) -> Model {
        match step {
            Step::Approve {
                who, item, action, ..
            } => state.approvals.push((*who, *item, *action)),
            Step::Revoke { who } => state.approvals.retain(|(w, _, _)| w != who),
            Step::Apply { allow_remove, .. } => {
                if !state.journal_tampered {
                    state.claimed |= !state.decision(true).is_empty();
                    let now = state.decision(*allow_remove);
                    state.authorised.extend(now);
                }
            }
            Step::ApplyTwice => {
                if !state.journal_tampered {
                    state.claimed |= !state.decision(true).is_empty();
                    let now = state.decision(true);
                    state.authorised.extend(now);
                }
            }
            Step::TamperJournal => state.journal_tampered = true,
            Step::Verify | Step::EvidenceVerify | Step::ShoutApprovals | Step::ApplyCopy => {}
        }
        state
    }
}

struct Machine {
    flow: Workflow,
    keys: BTreeMap<Item, String>,
}

impl Machine {
    fn journal(&self) -> std::path::PathBuf {
        self.flow.run.join("plan.journal.jsonl")
    }

    fn journal_lines(&self) -> usize {
        std::fs::read_to_string(self.journal())
            .map(|t| t.lines().count())
            .unwrap_or(0)
    }

    fn apply_args(&self, model: &Model, allow_remove: bool, recheck: bool) -> Vec<String> {
        let mut args = vec![
            "--min-approvers".to_string(),
            model.min_approvers.to_string(),
            "--concurrency".into(),
            "1".into(),
        ];
        if allow_remove {
            args.push("--allow-remove".into());
        }
        if recheck {
            args.push("--recheck-journal".into());
        }
        args
    }

    /// The journal's last event per item, read as a third party would: JSON lines.
    fn journal_events(&self) -> BTreeMap<String, String> {
        let mut last = BTreeMap::new();
        for line in std::fs::read_to_string(self.journal())
            .unwrap_or_default()
            .lines()
        {
            let Ok(entry) = serde_json::from_str::<serde_json::Value>(line) else {
                continue; // a torn last line of a killed run
            };
            if entry["event"] != "run" {
                last.insert(
                    entry["assignment_id"]
                        .as_str()
                        .unwrap()
                        .to_ascii_lowercase(),
                    entry["event"].as_str().unwrap().to_string(),
                );
            }
        }
        last
    }

    fn item_of(&self, id: &str) -> Item {
        *self
            .keys
            .iter()
            .find(|(_, key)| key.eq_ignore_ascii_case(id))
            .unwrap_or_else(|| panic!("no item {id}"))
            .0
    }
}

fn code_is_an_outcome(output: &std::process::Output, what: &str) {
    let text = stderr(output);
    assert!(!text.contains("panicked"), "{what}: {text}");
    assert!(
        matches!(output.status.code(), Some(0 | 1)),
        "{what}: exit {:?}: {text}",
        output.status.code()
    );
}

impl StateMachineTest for Machine {
    type SystemUnderTest = Machine;
    type Reference = Reference;

    fn init_test(model: &Model) -> Machine {
        let fail = model.fail_writes_after;
        let flow = Workflow::start(|config| {
            config.latency_ms = 15;
            if let Some(after) = fail {
                config.faults = Some(
                    serde_json::from_value(serde_json::json!({
                        "fail_writes_after": after, "fail_writes_status": 500
                    }))
                    .unwrap(),
                );
            }
        });
        let keys = ITEMS
            .iter()
            .map(|item| (*item, flow.key(item.who())))
            .collect();
        let machine = Machine { flow, keys };
        // The views' "in plan" is the plan's: every item's findings are in it, and only those.
        let findings = read_csv(&machine.flow.run.join("findings.csv"));
        let planned: BTreeSet<String> = machine
            .keys
            .values()
            .map(|k| k.to_ascii_lowercase())
            .collect();
        let plan = machine.flow.plan_json();
        assert_eq!(plan["items"].as_array().unwrap().len(), planned.len());
        for row in &findings.rows {
            let key = crate::common::finding_item_id_of(row);
            assert_eq!(
                row["in_plan"] == "yes",
                planned.contains(&key),
                "in_plan of {row:?}"
            );
        }
        machine
    }

    fn apply(machine: Machine, model: &Model, step: Step) -> Machine {
        let flow = &machine.flow;
        match step {
            Step::Approve {
                who,
                item,
                action,
                shout,
            } => {
                let mut id = machine.keys[&item].clone();
                if shout {
                    id = id.to_ascii_uppercase();
                }
                let mut args = vec!["--only", id.as_str(), "--action", action.name()];
                if action == Act::Accept {
                    args.extend(["--reason", "accepted by the state machine"]);
                }
                let output = if who == Who::Mallory {
                    let mut command = crate::common::entra_drift();
                    command
                        .args(["plan", "approve", s(&flow.plan), "--approver", who.name()])
                        .args(["--exceptions", s(&flow.register)])
                        .args(&args);
                    command.output().unwrap()
                } else {
                    flow.approve(who.name(), &args)
                };
                ok(&output);
            }
            Step::Revoke { who } => {
                let output = crate::common::entra_drift()
                    .args([
                        "plan",
                        "approve",
                        s(&flow.plan),
                        "--approver",
                        who.name(),
                        "--revoke",
                    ])
                    .output()
                    .unwrap();
                code_is_an_outcome(&output, "revoke");
            }
            Step::Apply {
                allow_remove,
                recheck,
                kill_after,
            } => {
                let args = machine.apply_args(model, allow_remove, recheck);
                let args: Vec<&str> = args.iter().map(String::as_str).collect();
                match kill_after {
                    None => {
                        let output = flow.apply(&args);
                        code_is_an_outcome(&output, "apply");
                        if model.journal_tampered {
                            refused(&output, "does not link to the line before it");
                        } else {
                            check_settled(&machine, model, allow_remove, &output);
                        }
                    }
                    Some(lines) => {
                        let before = machine.journal_lines();
                        let mut child = flow
                            .apply_command(&flow.plan, &args)
                            .stdout(std::process::Stdio::null())
                            .stderr(std::process::Stdio::null())
                            .spawn()
                            .unwrap();
                        let deadline =
                            std::time::Instant::now() + std::time::Duration::from_secs(60);
                        loop {
                            if child.try_wait().unwrap().is_some() {
                                break;
                            }
                            if machine.journal_lines() >= before + lines {
                                child.kill().unwrap(); // SIGKILL, mid-run
                                break;
                            }
                            assert!(std::time::Instant::now() < deadline, "apply hung");
                            std::thread::sleep(std::time::Duration::from_millis(2));
                        }
                        child.wait().unwrap();
                    }
                }
            }
            Step::ApplyTwice => {
                let args = machine.apply_args(model, true, false);
                let args: Vec<&str> = args.iter().map(String::as_str).collect();
                let children: Vec<_> = (0..2)
                    .map(|_| {
                        flow.apply_command(&flow.plan, &args)
                            .stdout(std::process::Stdio::null())
                            .stderr(std::process::Stdio::piped())
                            .spawn()
                            .unwrap()
                    })
                    .collect();
                let mut outputs = Vec::new();
                for child in children {
                    let output = child.wait_with_output().unwrap();
                    code_is_an_outcome(&output, "apply twice");
                    outputs.push(output);
                }
                if let Some(output) = outputs.iter().find(|o| o.status.success()) {
                    assert!(!model.journal_tampered, "an apply ran on an edited journal");
                    check_settled(&machine, model, true, output);
                }
            }
            Step::Verify => {
                let output = flow.verify(&[
                    "--min-approvers",
                    &model.min_approvers.to_string(),
                    "--exceptions",
                    s(&flow.register),
                ]);
                code_is_an_outcome(&output, "verify");
                if model.journal_tampered {
                    refused(&output, "does not link to the line before it");
                } else if output.status.success() {
                    check_verify(&machine);
                }
            }
            Step::EvidenceVerify => {
                let output = crate::common::entra_drift()
                    .args(["evidence", "verify", s(&flow.run)])
                    .output()
                    .unwrap();
                ok(&output);
            }
            Step::ApplyCopy => {
                let copy = flow.work.path().join("copy");
                std::fs::create_dir_all(&copy).unwrap();
                std::fs::copy(&flow.plan, copy.join("plan.json")).unwrap();
                let args = machine.apply_args(model, true, false);
                let mut args: Vec<&str> = args.iter().map(String::as_str).collect();
                args.extend(["--run", s(&flow.run)]);
                let output = flow.apply_plan(&copy.join("plan.json"), &args);
                if model.decision(true).is_empty() {
                    // Refused before the journal is looked at: nothing approved to apply.
                    refused(&output, "");
                } else {
                    refused(&output, "this plan is applied from");
                }
            }
            Step::TamperJournal => {
                let journal = machine.journal();
                let text = std::fs::read_to_string(&journal).unwrap();
                let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
                let last = lines.len() - 1;
                let mut entry: serde_json::Value = serde_json::from_str(&lines[0]).unwrap();
                entry["detail"] = "approved by nobody".into();
                lines[0] = serde_json::to_string(&entry).unwrap();
                let _ = last;
                std::fs::write(&journal, lines.join("\n") + "\n").unwrap();
            }
            Step::ShoutApprovals => {
                // Rewriting a plan without approvals would only reformat it: evidence verify
                // rightly calls that an edit.
                if !flow.plan_json()["approvals"].as_array().unwrap().is_empty() {
                    shout_approvals(&flow.plan);
                }
            }
        }
        machine
    }

    fn check_invariants(machine: &Machine, model: &Model) {
        let stats = machine.flow.fake.server().stats();
        let allowed = |item: Item, action: Act| model.authorised.contains(&(item, action));
        // Each write at most once, and only what was signed for.
        for (assignment, count) in &stats.reprocess {
            assert_eq!(*count, 1, "{assignment} reprocessed {count} times");
            let item = machine.item_of(assignment);
            assert!(
                allowed(item, Act::Reprocess),
                "{item:?} reprocessed without approval"
            );
        }
        assert!(stats.request_reprocess.is_empty());
        let count = |pick: &dyn Fn(Item) -> bool, action: Act| {
            ITEMS
                .iter()
                .filter(|i| pick(**i) && allowed(**i, action))
                .count() as u64
        };
        assert!(
            stats.admin_removes <= count(&|i| !i.is_access(), Act::RemoveAssignment),
            "ended assignments: {} for {:?}",
            stats.admin_removes,
            model.authorised
        );
        assert!(stats.member_removals <= count(&|i| i == Item::Member, Act::RemoveAccess));
        assert!(stats.app_role_removals <= count(&|i| i == Item::App, Act::RemoveAccess));
        assert!(stats.owner_removals <= count(&|i| i == Item::Owner, Act::RemoveAccess));
        // One exception per accepted item, each signed for.
        let register = read_csv(&machine.flow.register);
        let mut ids = BTreeSet::new();
        for row in &register.rows {
            assert!(
                ids.insert(row["id"].clone()),
                "exception {} twice",
                row["id"]
            );
            let item = if row["assignment_id"].is_empty() {
                *ITEMS
                    .iter()
                    .find(|i| i.is_access() && i.who() == row["user_id"])
                    .unwrap()
            } else {
                machine.item_of(&row["assignment_id"])
            };
            assert!(
                allowed(item, Act::Accept),
                "{item:?} accepted without approval"
            );
        }
        // The journal always reads back (a killed run leaves at most a torn last line), unless
        // the test edited it.
        let plan = entra_drift::plan::Plan::read(&machine.flow.plan).unwrap();
        let read = entra_drift::apply::journal::read(&machine.journal(), &plan.digest());
        match (read, model.journal_tampered) {
            (Err(error), false) => panic!("the journal does not read back: {error}"),
            (Ok(_), true) => panic!("an edited journal reads back"),
            _ => {}
        }
    }
}

/// What was signed is what runs, the other way round: after an apply that was not killed and
/// met no failing write, every item the approvals allow has its outcome in the journal.
fn check_settled(
    machine: &Machine,
    model: &Model,
    allow_remove: bool,
    output: &std::process::Output,
) {
    if model.fail_writes_after.is_some() {
        return;
    }
    let due = model.decision(allow_remove);
    if due.is_empty() {
        return;
    }
    assert!(
        output.status.success(),
        "apply of {due:?} failed: {}",
        stderr(output)
    );
    let events = machine.journal_events();
    for (item, action) in due {
        let event = events
            .get(&machine.keys[&item].to_ascii_lowercase())
            .map(String::as_str);
        assert!(
            matches!(
                event,
                Some("reprocessed" | "removed" | "accepted" | "skipped")
            ),
            "{item:?} approved for {action:?} has no outcome ({event:?}): {}",
            stderr(output)
        );
    }
}

/// verify's report equals the journal and Graph's state.
fn check_verify(machine: &Machine) {
    let events = machine.journal_events();
    let rows = read_csv(&machine.flow.run.join("verify-results.csv"));
    for row in &rows.rows {
        let id = row["assignment_id"].to_ascii_lowercase();
        let applied = events.get(&id).cloned().unwrap_or_default();
        assert_eq!(
            row["applied"], applied,
            "verify's `applied` is the journal's: {row:?}"
        );
        let status = row["status"].as_str();
        match (applied.as_str(), row["action"].as_str()) {
            ("reprocessed", "reprocess") => assert_eq!(status, "restored", "{row:?}"),
            ("removed", "remove_assignment" | "remove_access") => {
                assert_eq!(status, "removed", "{row:?}")
            }
            ("accepted", "accept") if row["approved"] == "yes" => {
                assert_eq!(status, "accepted", "{row:?}")
            }
            _ => {}
        }
        if status == "accepted" {
            assert_eq!(
                applied, "accepted",
                "an acceptance verify reports happened: {row:?}"
            );
        }
    }
}

prop_state_machine! {
    #![proptest_config(Config {
        cases: cases(),
        max_shrink_iters: 64,
        failure_persistence: None,
        rng_seed: RngSeed::Fixed(24),
        .. Config::default()
    })]

    #[test]
    fn the_approval_workflow_holds_its_invariants_after_every_step(sequential 1..20 => Machine);
}
