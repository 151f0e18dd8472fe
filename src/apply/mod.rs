//! Applying an approved reprocess plan against Graph, safely and resumably: refuse what must
//! not run, re-check each item live, reprocess with bounded concurrency, journal every outcome.

pub mod checks;
pub mod journal;
pub mod results;

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use futures_util::StreamExt;

use crate::error::{Error, Refusal, Result};
use crate::graph::{paths, GraphClient};
use crate::plan::approval::{self, Decision};
use crate::plan::{Action, ItemKind, Plan, PlanItem};
use crate::progress::{Progress, Stage};
use crate::trust::AllowedSigners;
use checks::Verdict;
use journal::{Event, Journal};

/// Items one run may reprocess unless `--max-items` raises it: a plan much larger than a
/// reviewer can read is more likely a mistake than a decision.
pub const DEFAULT_MAX_ITEMS: usize = 25;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Reprocessed,
    /// An assignment ended (`remove_assignment`) or an access removed (`remove_access`).
    Removed,
    /// An exception recorded in the register (`accept`).
    Accepted,
    Skipped,
    Failed,
    /// `--dry-run`: every check passed; this is what would be reprocessed.
    WouldReprocess,
    /// `--dry-run`: every check passed; this is what would be removed.
    WouldRemove,
    /// `--dry-run`: this is what would be accepted.
    WouldAccept,
    NotApproved,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Reprocessed => "reprocessed",
            Outcome::Removed => "removed",
            Outcome::Accepted => "accepted",
            Outcome::Skipped => "skipped",
            Outcome::Failed => "failed",
            Outcome::WouldReprocess => "would_reprocess",
            Outcome::WouldRemove => "would_remove",
            Outcome::WouldAccept => "would_accept",
            Outcome::NotApproved => "not_approved",
        }
    }
}

/// Removals one run may make unless `--max-removals` raises it: each one takes access away.
pub const DEFAULT_MAX_REMOVALS: usize = 10;
/// Graph's write limit per app and tenant (graph-api.md §6): 3,000 requests per 2.5 minutes.
pub const WRITE_LIMIT: (usize, std::time::Duration) = (3_000, std::time::Duration::from_secs(150));

/// Records an accepted finding in the exceptions register (the run's caller owns the register):
/// given the item and the reason, returns what was recorded.
pub type Accepter<'a> = &'a (dyn Fn(&PlanItem, &str) -> Result<String> + Sync);

#[derive(Debug, Clone)]
pub struct ItemResult {
    pub item: PlanItem,
    /// The action applied (the approvals' choice, else the item's default).
    pub action: crate::plan::Action,
    pub outcome: Outcome,
    pub reason: String,
    pub at: Option<DateTime<Utc>>,
}

/// What apply may do: the items approved by enough distinct approvers, and who approved what.
#[derive(Debug)]
pub struct Approved<'a> {
    pub items: Vec<&'a PlanItem>,
    pub decision: Decision,
}

/// Everything that must be true before anything is read or written. Pure, so every refusal
/// is tested directly.
#[allow(clippy::too_many_arguments)] // the limits apply checks, each its own flag
pub fn preflight<'a>(
    plan: &'a Plan,
    tenant_id: &str,
    now: DateTime<Utc>,
    max_items: usize,
    max_removals: usize,
    allowed: Option<&AllowedSigners>,
    min_approvers: usize,
) -> std::result::Result<Approved<'a>, Refusal> {
    if !plan.tenant_id.eq_ignore_ascii_case(tenant_id) {
        return Err(Refusal::WrongTenant {
            plan: plan.tenant_id.clone(),
            given: tenant_id.to_string(),
        });
    }
    if now >= plan.expires {
        return Err(Refusal::Expired {
            expires: plan.expires,
            created: plan.created,
        });
    }
    plan.check_integrity()?;
    let decision = approval::decide(plan, allowed, min_approvers, now)?;
    let items: Vec<&PlanItem> = plan
        .items
        .iter()
        .filter(|item| decision.is_approved(item.key()))
        .collect();
    if items.is_empty() {
        return Err(Refusal::NotEnoughApprovers {
            min: decision.min_approvers,
        });
    }
    if items.len() > max_items {
        return Err(Refusal::TooManyItems {
            approved: items.len(),
            max: max_items,
        });
    }
    let removals = items
        .iter()
        .filter(|item| decision.action_for(item).removes())
        .count();
    if removals > max_removals {
        return Err(Refusal::TooManyRemovals {
            approved: removals,
            max: max_removals,
        });
    }
    Ok(Approved { items, decision })
}

pub struct ApplyRun<'a> {
    pub client: &'a GraphClient,
    /// SharePoint REST, for re-checking site roles.
    pub sharepoint: &'a crate::graph::sharepoint::SharePointClient,
    pub plan: &'a Plan,
    pub plan_path: &'a Path,
    pub approved: Approved<'a>,
    pub dry_run: bool,
    /// Trust no settled outcome of the journal: re-check every approved item live.
    pub recheck_journal: bool,
    pub progress: &'a Progress,
    /// Set by Ctrl-C: no new item starts; the ones in flight finish and are journaled.
    pub stop: Arc<AtomicBool>,
    /// `--allow-remove`: without it, approved removals are skipped, saying so.
    pub allow_remove: bool,
    /// Records `accept` items in the exceptions register.
    pub accept: Accepter<'a>,
    /// Told after every journal line (a plan in Blob Storage keeps its journal's blob current).
    pub journal_observer: Option<journal::Observer>,
}

/// This run's outcome per assignment id.
type Outcomes = HashMap<String, (Outcome, String)>;

/// The apply stage's note: what happened to the items so far.
fn tally(outcomes: &Outcomes) -> String {
    let count = |wanted: Outcome| outcomes.values().filter(|(o, _)| *o == wanted).count();
    let mut note = format!("{} reprocessed", count(Outcome::Reprocessed));
    for (outcome, name) in [
        (Outcome::Removed, "removed"),
        (Outcome::Accepted, "accepted"),
    ] {
        if count(outcome) > 0 {
            note += &format!(", {} {name}", count(outcome));
        }
    }
    format!(
        "{note}, {} skipped, {} failed",
        count(Outcome::Skipped),
        count(Outcome::Failed)
    )
}

impl ApplyRun<'_> {
    /// Opens the journal, settles what it already records, re-checks the rest live, sends
    /// what still needs it, and reports every plan item.
    pub async fn run(self) -> Result<Vec<ItemResult>> {
        let (journal, entries) = if self.dry_run {
            (None, Vec::new())
        } else {
            let (mut journal, entries) =
                Journal::open(&journal::path_for(self.plan_path), &self.plan.digest())?;
            journal.observe(self.journal_observer.clone());
            journal.record(Event::Run, "", &self.approvers_line())?;
            (Some(journal), entries)
        };
        let mut last = journal::last_events(&entries);
        let journal = journal.map(Mutex::new);
        let (pending, in_doubt) = self.pending(&mut last);
        self.progress.watch(self.client);
        let stage = self
            .progress
            .stage("apply", Some(self.approved.items.len() as u64));
        // Items settled by earlier runs count as done.
        stage
            .counter()
            .add((self.approved.items.len() - pending.len()) as u64);
        let (to_send, mut outcomes) = self.recheck(&pending, &in_doubt, journal.as_ref()).await?;
        stage.counter().add(outcomes.len() as u64);
        stage.counter().set_note(tally(&outcomes));
        if let Some(journal) = &journal {
            outcomes.extend(self.send(to_send, journal, &stage, &outcomes).await?);
        }
        stage.counter().set_note(tally(&outcomes));
        stage.finish();
        Ok(self.report(outcomes, last))
    }

    /// The approved items still to handle — all of them when the journal is not to be
    /// trusted — and those an interrupted run left `sending`.
    fn pending(&self, last: &mut HashMap<String, journal::Entry>) -> (Vec<&PlanItem>, Vec<String>) {
        let pending: Vec<&PlanItem> = self
            .approved
            .items
            .iter()
            .copied()
            .filter(|item| {
                self.recheck_journal
                    || !matches!(
                        last.get(&item.id()).map(|e| e.event),
                        Some(
                            Event::Reprocessed | Event::Skipped | Event::Removed | Event::Accepted
                        )
                    )
            })
            .collect();
        if self.recheck_journal {
            for item in &pending {
                last.remove(&item.id());
            }
        }
        let in_doubt: Vec<String> = pending
            .iter()
            .filter(|item| last.get(&item.id()).map(|e| e.event) == Some(Event::Sending))
            .map(|item| item.id())
            .collect();
        if !in_doubt.is_empty() {
            tracing::warn!(items = in_doubt.len(), "an earlier run was interrupted while sending; re-checking those items before anything is sent again");
        }
        (pending, in_doubt)
    }

    /// The live re-check of each pending item: what to send, and the outcome of the rest.
    async fn recheck<'p>(
        &self,
        pending: &[&'p PlanItem],
        in_doubt: &[String],
        journal: Option<&Mutex<Journal>>,
    ) -> Result<(Vec<&'p PlanItem>, Outcomes)> {
        let current = checks::read_current(self.client, pending).await;
        let holdings = checks::read_holdings(self.client, self.sharepoint, pending).await;
        let removing_access: Vec<&PlanItem> = pending
            .iter()
            .copied()
            .filter(|item| self.action_of(item) == Action::RemoveAccess)
            .collect();
        let explanations = checks::read_explanations(self.client, &removing_access).await;
        let mut to_send = Vec::new();
        let mut outcomes = Outcomes::new();
        for item in pending {
            let was_in_doubt = in_doubt.contains(&item.id());
            let action = self.action_of(item);
            let verdict = match action {
                _ if action.removes() && !self.allow_remove => Verdict::Skip(format!(
                    "`{action}` was approved, but removals need --allow-remove"
                )),
                Action::Reprocess => match item.kind {
                    ItemKind::Reprocess => checks::judge(item, &current, &holdings),
                    ItemKind::RequestReprocess => checks::judge_request(item, &current, Utc::now()),
                },
                Action::RemoveAssignment => checks::judge_removal(item, &current),
                Action::RemoveAccess => checks::judge_access(item, &holdings, &explanations),
                Action::Accept => Verdict::Reprocess,
                Action::Decide => {
                    Verdict::Skip("left on `decide`: no action was chosen".to_string())
                }
            };
            let would = match action {
                Action::RemoveAssignment | Action::RemoveAccess => Outcome::WouldRemove,
                Action::Accept => Outcome::WouldAccept,
                _ => Outcome::WouldReprocess,
            };
            let (outcome, reason) = match verdict {
                Verdict::Reprocess if self.dry_run => (would, "every check passed".to_string()),
                Verdict::Reprocess => {
                    to_send.push(*item);
                    continue;
                }
                // The interrupted run's request did land: record it as the outcome it was.
                Verdict::Restored if was_in_doubt => (
                    Outcome::Reprocessed,
                    "access restored: the request of an interrupted run took effect".to_string(),
                ),
                Verdict::Restored => (
                    Outcome::Skipped,
                    "the access was restored since the audit".to_string(),
                ),
                Verdict::Skip(reason) => (Outcome::Skipped, reason),
                Verdict::Unchecked(reason) => (Outcome::Failed, format!("not sent: {reason}")),
            };
            if let Some(journal) = journal {
                let event = match outcome {
                    Outcome::Reprocessed => Event::Reprocessed,
                    Outcome::Skipped => Event::Skipped,
                    _ => Event::Failed,
                };
                lock(journal).record(event, &item.id(), &reason)?;
            }
            outcomes.insert(item.id(), (outcome, reason));
        }
        Ok((to_send, outcomes))
    }

    /// Reprocesses each item, journalled before and after the call, with bounded concurrency;
    /// after Ctrl-C no new call starts.
    async fn send(
        &self,
        to_send: Vec<&PlanItem>,
        journal: &Mutex<Journal>,
        stage: &Stage,
        checked: &Outcomes,
    ) -> Result<Outcomes> {
        let sent_so_far = &AtomicUsize::new(0);
        // The checked items' tally is fixed while sending: count it once.
        let checked = &tally(checked);
        let pace = &crate::graph::pace::Pace::new(WRITE_LIMIT.0, WRITE_LIMIT.1);
        let sends = to_send.into_iter().map(|item| async move {
            let key = item.id();
            if self.stop.load(Ordering::SeqCst) {
                return Ok((
                    key,
                    Outcome::Failed,
                    "not sent: the run was interrupted".to_string(),
                ));
            }
            lock(journal).record(Event::Sending, &key, "")?;
            let (event, outcome, reason) = match self.action_of(item) {
                Action::Accept => {
                    let reason = self
                        .approved
                        .decision
                        .reasons
                        .get(&key)
                        .cloned()
                        .unwrap_or_default();
                    match (self.accept)(item, &reason) {
                        Ok(recorded) => (Event::Accepted, Outcome::Accepted, recorded),
                        Err(error) => (Event::Failed, Outcome::Failed, error.to_string()),
                    }
                }
                action => {
                    pace.wait().await;
                    match self.write(item, action).await {
                        Ok((removed, reason)) => (
                            if removed {
                                Event::Removed
                            } else {
                                Event::Reprocessed
                            },
                            if removed {
                                Outcome::Removed
                            } else {
                                Outcome::Reprocessed
                            },
                            reason,
                        ),
                        Err(error) => (Event::Failed, Outcome::Failed, error.reason()),
                    }
                }
            };
            lock(journal).record(event, &key, &reason)?;
            let sent = sent_so_far.fetch_add(1, Ordering::Relaxed) + 1;
            stage.counter().add(1);
            stage
                .counter()
                .set_note(format!("{checked}, {sent} sent this run"));
            Ok::<_, Error>((key, outcome, reason))
        });
        let sent: Vec<Result<(String, Outcome, String)>> = futures_util::stream::iter(sends)
            .buffer_unordered(self.client.concurrency())
            .collect()
            .await;
        let mut outcomes = Outcomes::new();
        for result in sent {
            let (id, outcome, reason) = result?;
            outcomes.insert(id, (outcome, reason));
        }
        Ok(outcomes)
    }

    /// Every plan item: this run's outcome, else an earlier run's, else why not.
    fn report(
        &self,
        mut outcomes: Outcomes,
        mut last: HashMap<String, journal::Entry>,
    ) -> Vec<ItemResult> {
        let now = Utc::now();
        let decision = &self.approved.decision;
        self.plan
            .items
            .iter()
            .map(|item| {
                let approved = decision.is_approved(item.key());
                let (outcome, reason, at) = if let Some((outcome, reason)) =
                    outcomes.remove(&item.id())
                {
                    (outcome, reason, Some(now))
                } else if let Some(entry) = last.remove(&item.id()) {
                    let outcome = match entry.event {
                        Event::Reprocessed => Outcome::Reprocessed,
                        Event::Removed => Outcome::Removed,
                        Event::Accepted => Outcome::Accepted,
                        Event::Skipped => Outcome::Skipped,
                        // An earlier attempt that failed or was cut off, of an item no longer
                        // approved: nothing this run could do; not a failure of this run.
                        _ if !approved => Outcome::NotApproved,
                        _ => Outcome::Failed,
                    };
                    let detail = match entry.event {
                        Event::Sending => "an earlier run was interrupted while sending it".to_string(),
                        _ => format!("{} (earlier run)", entry.detail),
                    };
                    let detail = if outcome == Outcome::NotApproved {
                        format!("{detail}; it is no longer approved, so it was not re-checked: `verify` shows its state")
                    } else {
                        detail
                    };
                    (outcome, detail, Some(entry.at))
                } else if approved {
                    (Outcome::Failed, "not attempted".to_string(), None)
                } else if decision.conflicts.contains(&item.id()) {
                    (
                        Outcome::NotApproved,
                        "its approvers chose different actions: approve it again with one"
                            .to_string(),
                        None,
                    )
                } else if item.action == Action::Decide && decision.approvers(item.key()).is_empty()
                {
                    (
                        Outcome::NotApproved,
                        "left on `decide`: no action until a reviewer chooses one".to_string(),
                        None,
                    )
                } else {
                    let by = decision.approvers(item.key());
                    (
                        Outcome::NotApproved,
                        format!(
                            "approved by {} of the {} required{}",
                            by.len(),
                            decision.min_approvers,
                            if by.is_empty() {
                                String::new()
                            } else {
                                format!(" ({})", by.join(", "))
                            }
                        ),
                        None,
                    )
                };
                ItemResult {
                    item: item.clone(),
                    action: self.action_of(item),
                    outcome,
                    reason,
                    at,
                }
            })
            .collect()
    }
}

impl ApplyRun<'_> {
    /// The action to apply: what the approvals chose, else the item's default.
    fn action_of(&self, item: &PlanItem) -> Action {
        self.approved.decision.action_for(item)
    }

    /// The Graph write of one item; `Ok((removed, detail))`.
    async fn write(
        &self,
        item: &PlanItem,
        action: Action,
    ) -> std::result::Result<(bool, String), crate::graph::GraphError> {
        match action {
            Action::RemoveAssignment => {
                let body = serde_json::json!({
                    "requestType": "adminRemove",
                    "assignment": {"id": item.assignment_id},
                });
                let url = self.client.url(&paths::assignment_requests());
                let request = self.client.post_json(&url, &body).await?;
                let id = request.get("id").and_then(|v| v.as_str()).unwrap_or("?");
                Ok((true, format!("assignment ended: adminRemove request {id}")))
            }
            Action::RemoveAccess => self.remove_access(item).await,
            _ => {
                let path = match (item.kind, &item.request_id) {
                    (ItemKind::RequestReprocess, Some(request)) => {
                        paths::request_reprocess(request)
                    }
                    _ => paths::reprocess(&item.assignment_id),
                };
                let status = self.client.post_action(&self.client.url(&path)).await?;
                Ok((false, format!("{status} Accepted")))
            }
        }
    }

    /// Removes a group membership or ownership (`$ref`), or an app role assignment (found by
    /// principal and role among the service principal's assignments, which carry its id).
    async fn remove_access(
        &self,
        item: &PlanItem,
    ) -> std::result::Result<(bool, String), crate::graph::GraphError> {
        let Some(role) = &item.unexplained else {
            return Ok((false, "the item names no access".into()));
        };
        if role.resource_type == crate::snapshot::roles::SHAREPOINT_SITE {
            return checks::remove_site_user(self.client, self.sharepoint, role, &item.user_id)
                .await;
        }
        if role.resource_type == crate::snapshot::roles::GROUP {
            let collection = if role.role == "owner" {
                "owners"
            } else {
                "members"
            };
            let path = paths::group_reference(&role.resource_id, collection, &item.user_id);
            let status = self.client.delete(&self.client.url(&path)).await?;
            return Ok((
                true,
                format!("{status}: removed from the group's {collection}"),
            ));
        }
        let list = self
            .client
            .list(
                &self
                    .client
                    .url(&paths::app_role_assignments_with_ids(&role.resource_id)),
            )
            .await?;
        let found = list.iter().find(|a| {
            let text = |name: &str| a.get(name).and_then(|v| v.as_str()).unwrap_or("");
            text("principalId").eq_ignore_ascii_case(&item.user_id)
                && text("appRoleId").eq_ignore_ascii_case(&role.role)
        });
        let Some(id) = found.and_then(|a| a.get("id")).and_then(|v| v.as_str()) else {
            return Ok((false, "the app role assignment is gone already".into()));
        };
        let path = paths::app_role_assigned(&role.resource_id, id);
        let status = self.client.delete(&self.client.url(&path)).await?;
        Ok((true, format!("{status}: app role assignment {id} removed")))
    }

    /// The journal's run line: who approved, so the journal names its approvers.
    fn approvers_line(&self) -> String {
        let mut principals: Vec<&str> = self
            .approved
            .decision
            .by_item
            .values()
            .flat_map(|a| a.principals.iter().map(String::as_str))
            .collect();
        principals.sort_unstable();
        principals.dedup();
        format!("approved by {}", principals.join(", "))
    }
}

fn lock(journal: &Mutex<Journal>) -> std::sync::MutexGuard<'_, Journal> {
    // A poisoned lock means a thread panicked mid-record; the journal file itself is still
    // append-only and whole lines only, so carrying on is safe.
    journal
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests;
