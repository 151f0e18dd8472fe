//! Applying an approved reprocess plan against Graph, safely and resumably: refuse what must
//! not run, re-check each item live, reprocess with bounded concurrency, journal every outcome.

pub mod checks;
pub mod journal;
pub mod results;

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use futures_util::StreamExt;

use crate::error::{Error, Refusal, Result};
use crate::graph::{paths, GraphClient};
use crate::plan::{Plan, PlanItem};
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

/// Everything that must be true before anything is read or written. Pure, so every refusal
/// is tested directly.
pub fn preflight<'a>(
    plan: &'a Plan,
    tenant_id: &str,
    now: DateTime<Utc>,
    max_items: usize,
) -> std::result::Result<Vec<&'a PlanItem>, Refusal> {
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
    let approval = plan.approval.as_ref().ok_or(Refusal::NotApproved)?;
    let approved: Vec<&PlanItem> = plan
        .items
        .iter()
        .filter(|item| approval.approved.contains(&item.assignment_id))
        .collect();
    if approved.len() != approval.approved.len() {
        return Err(Refusal::ApprovedUnknownItems);
    }
    if approved.len() > max_items {
        return Err(Refusal::TooManyItems {
            approved: approved.len(),
            max: max_items,
        });
    }
    Ok(approved)
}

pub struct ApplyRun<'a> {
    pub client: &'a GraphClient,
    pub plan: &'a Plan,
    pub plan_path: &'a Path,
    pub approved: Vec<&'a PlanItem>,
    pub dry_run: bool,
    /// Set by Ctrl-C: no new item starts; the ones in flight finish and are journaled.
    pub stop: Arc<AtomicBool>,
}

impl ApplyRun<'_> {
    pub async fn run(self) -> Result<Vec<ItemResult>> {
        let digest = self.plan.items_digest.clone();
        let (journal, entries) = if self.dry_run {
            (None, Vec::new())
        } else {
            let (mut journal, entries) =
                Journal::open(&journal::path_for(self.plan_path), &digest)?;
            journal.record(Event::Run, "", &digest)?;
            (Some(journal), entries)
        };
        let mut last = journal::last_events(&entries);
        let journal = journal.map(Mutex::new);

        // Items already settled by an earlier run are not touched again.
        let pending: Vec<&PlanItem> = self
            .approved
            .iter()
            .copied()
            .filter(|item| {
                !matches!(
                    last.get(&item.assignment_id).map(|e| e.event),
                    Some(Event::Reprocessed | Event::Skipped)
                )
            })
            .collect();
        let in_doubt: Vec<&str> = pending
            .iter()
            .filter(|item| last.get(&item.assignment_id).map(|e| e.event) == Some(Event::Sending))
            .map(|item| item.assignment_id.as_str())
            .collect();
        if !in_doubt.is_empty() {
            tracing::warn!(items = in_doubt.len(), "an earlier run was interrupted while sending; re-checking those items before anything is sent again");
        }

        let current = checks::read_current(self.client, &pending).await;
        let holdings = checks::read_holdings(self.client, &pending).await;
        let mut to_send = Vec::new();
        let mut outcomes: HashMap<String, (Outcome, String)> = HashMap::new();
        for item in &pending {
            let was_in_doubt = in_doubt.contains(&item.assignment_id.as_str());
            let (outcome, reason) = match checks::judge(item, &current, &holdings) {
                Verdict::Reprocess if self.dry_run => {
                    (Outcome::WouldReprocess, "every check passed".to_string())
                }
                Verdict::Reprocess => {
                    to_send.push(*item);
                    continue;
                }
                // The interrupted run's request did land: record it as the outcome it was.
                Verdict::Skip(reason) if was_in_doubt && reason.contains("restored") => (
                    Outcome::Reprocessed,
                    "access restored: the request of an interrupted run took effect".to_string(),
                ),
                Verdict::Skip(reason) => (Outcome::Skipped, reason),
                Verdict::Unchecked(reason) => (Outcome::Failed, format!("not sent: {reason}")),
            };
            if let Some(journal) = &journal {
                let event = match outcome {
                    Outcome::Reprocessed => Event::Reprocessed,
                    Outcome::Skipped => Event::Skipped,
                    _ => Event::Failed,
                };
                lock(journal).record(event, &item.assignment_id, &reason)?;
            }
            outcomes.insert(item.assignment_id.clone(), (outcome, reason));
        }

        let sends = to_send.into_iter().map(|item| {
            let journal = &journal;
            let stop = &self.stop;
            async move {
                if stop.load(Ordering::SeqCst) {
                    return Ok((
                        item.assignment_id.clone(),
                        Outcome::Failed,
                        "not sent: the run was interrupted".to_string(),
                    ));
                }
                let journal = journal.as_ref().expect("writes only outside dry runs");
                lock(journal).record(Event::Sending, &item.assignment_id, "")?;
                let url = self.client.url(&paths::reprocess(&item.assignment_id));
                let (event, outcome, reason) = match self.client.post_action(&url).await {
                    Ok(status) => (
                        Event::Reprocessed,
                        Outcome::Reprocessed,
                        format!("{status} Accepted"),
                    ),
                    Err(error) => (Event::Failed, Outcome::Failed, error.reason()),
                };
                lock(journal).record(event, &item.assignment_id, &reason)?;
                Ok::<_, Error>((item.assignment_id.clone(), outcome, reason))
            }
        });
        let sent: Vec<Result<(String, Outcome, String)>> = futures_util::stream::iter(sends)
            .buffer_unordered(self.client.concurrency())
            .collect()
            .await;
        for result in sent {
            let (id, outcome, reason) = result?;
            outcomes.insert(id, (outcome, reason));
        }

        // Report every plan item: this run's outcome, else an earlier run's, else why not.
        let now = Utc::now();
        let approval = self.plan.approval.as_ref();
        Ok(self
            .plan
            .items
            .iter()
            .map(|item| {
                let approved = approval.is_some_and(|a| a.approved.contains(&item.assignment_id));
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
                        (Outcome::NotApproved, "not approved".to_string(), None)
                    };
                ItemResult {
                    item: item.clone(),
                    outcome,
                    reason,
                    at,
                }
            })
            .collect())
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
