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
use crate::plan::{ItemKind, Plan, PlanItem};
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
    Skipped,
    Failed,
    /// `--dry-run`: every check passed; this is what would be reprocessed.
    WouldReprocess,
    NotApproved,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Reprocessed => "reprocessed",
            Outcome::Skipped => "skipped",
            Outcome::Failed => "failed",
            Outcome::WouldReprocess => "would_reprocess",
            Outcome::NotApproved => "not_approved",
        }
    }
}

#[derive(Debug, Clone)]
pub struct ItemResult {
    pub item: PlanItem,
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
pub fn preflight<'a>(
    plan: &'a Plan,
    tenant_id: &str,
    now: DateTime<Utc>,
    max_items: usize,
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
        .filter(|item| decision.is_approved(&item.assignment_id))
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
    Ok(Approved { items, decision })
}

pub struct ApplyRun<'a> {
    pub client: &'a GraphClient,
    pub plan: &'a Plan,
    pub plan_path: &'a Path,
    pub approved: Approved<'a>,
    pub dry_run: bool,
    /// Trust no settled outcome of the journal: re-check every approved item live.
    pub recheck_journal: bool,
    pub progress: &'a Progress,
    /// Set by Ctrl-C: no new item starts; the ones in flight finish and are journaled.
    pub stop: Arc<AtomicBool>,
}

/// This run's outcome per assignment id.
type Outcomes = HashMap<String, (Outcome, String)>;

/// The apply stage's note: what happened to the items so far.
fn tally(outcomes: &Outcomes) -> String {
    let count = |wanted: Outcome| outcomes.values().filter(|(o, _)| *o == wanted).count();
    format!(
        "{} reprocessed, {} skipped, {} failed",
        count(Outcome::Reprocessed),
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
                        last.get(&item.assignment_id).map(|e| e.event),
                        Some(Event::Reprocessed | Event::Skipped)
                    )
            })
            .collect();
        if self.recheck_journal {
            for item in &pending {
                last.remove(&item.assignment_id);
            }
        }
        let in_doubt: Vec<String> = pending
            .iter()
            .filter(|item| last.get(&item.assignment_id).map(|e| e.event) == Some(Event::Sending))
            .map(|item| item.assignment_id.clone())
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
        let holdings = checks::read_holdings(self.client, pending).await;
        let mut to_send = Vec::new();
        let mut outcomes = Outcomes::new();
        for item in pending {
            let was_in_doubt = in_doubt.contains(&item.assignment_id);
            let verdict = match item.kind {
                ItemKind::Reprocess => checks::judge(item, &current, &holdings),
                ItemKind::RequestReprocess => checks::judge_request(item, &current, Utc::now()),
            };
            let (outcome, reason) = match verdict {
                Verdict::Reprocess if self.dry_run => {
                    (Outcome::WouldReprocess, "every check passed".to_string())
                }
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
                lock(journal).record(event, &item.assignment_id, &reason)?;
            }
            outcomes.insert(item.assignment_id.clone(), (outcome, reason));
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
        let sends = to_send.into_iter().map(|item| async move {
            if self.stop.load(Ordering::SeqCst) {
                return Ok((
                    item.assignment_id.clone(),
                    Outcome::Failed,
                    "not sent: the run was interrupted".to_string(),
                ));
            }
            lock(journal).record(Event::Sending, &item.assignment_id, "")?;
            let path = match (item.kind, &item.request_id) {
                (ItemKind::RequestReprocess, Some(request)) => paths::request_reprocess(request),
                _ => paths::reprocess(&item.assignment_id),
            };
            let url = self.client.url(&path);
            let (event, outcome, reason) = match self.client.post_action(&url).await {
                Ok(status) => (
                    Event::Reprocessed,
                    Outcome::Reprocessed,
                    format!("{status} Accepted"),
                ),
                Err(error) => (Event::Failed, Outcome::Failed, error.reason()),
            };
            lock(journal).record(event, &item.assignment_id, &reason)?;
            let sent = sent_so_far.fetch_add(1, Ordering::Relaxed) + 1;
            stage.counter().add(1);
            stage
                .counter()
                .set_note(format!("{checked}, {sent} sent this run"));
            Ok::<_, Error>((item.assignment_id.clone(), outcome, reason))
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
                let approved = decision.is_approved(&item.assignment_id);
                let (outcome, reason, at) =
                    if let Some((outcome, reason)) = outcomes.remove(&item.assignment_id) {
                        (outcome, reason, Some(now))
                    } else if let Some(entry) = last.remove(&item.assignment_id) {
                        let outcome = match entry.event {
                            Event::Reprocessed => Outcome::Reprocessed,
                            Event::Skipped => Outcome::Skipped,
                            _ => Outcome::Failed,
                        };
                        (
                            outcome,
                            format!("{} (earlier run)", entry.detail),
                            Some(entry.at),
                        )
                    } else if approved {
                        (Outcome::Failed, "not attempted".to_string(), None)
                    } else {
                        let by = decision.approvers(&item.assignment_id);
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
                    outcome,
                    reason,
                    at,
                }
            })
            .collect()
    }
}

impl ApplyRun<'_> {
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
