//! How the delivered assignments are read, the largest list of a live snapshot: one
//! `@odata.nextLink` chain (each page waits for the one before, so its time is pages ×
//! latency) or partitioned by access package (each package's list its own short chain, 20 to a
//! `$batch`, side by side, so its time is bounded by the resource-unit budget) — and the choice
//! between them from the package list, the previous run's counts and the latency seen.

use std::time::Duration;

use serde_json::Value;

use crate::graph::{paths, GraphClient, GraphError, GraphErrorKind, BATCH_SIZE};

/// `--assignment-read`, config `assignment_read`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AssignmentRead {
    Auto,
    Chain,
    Partitioned,
}

impl AssignmentRead {
    pub const CHOICES: [(&'static str, AssignmentRead, &'static str); 3] = [
        (
            "auto",
            AssignmentRead::Auto,
            "partitioned when that is estimated faster and the chain would take 5 s or more",
        ),
        (
            "chain",
            AssignmentRead::Chain,
            "one nextLink chain (fewest resource units)",
        ),
        (
            "partitioned",
            AssignmentRead::Partitioned,
            "one filtered list per access package, 20 to a $batch",
        ),
    ];
}

/// Items per page of the assignments list. Graph documents no page size for it (and ignores
/// `$top`); 100 is what it is observed to serve **[inferred]**. Used only to estimate.
pub const OBSERVED_PAGE_ITEMS: u64 = 100;
/// Delivered assignments per package assumed when no previous run tells: Entra's default
/// quota's ratio (300,000 assignments over 20,000 packages).
pub const ASSUMED_PER_PACKAGE: u64 = 15;
/// A chain estimated shorter than this is read as a chain: partitioning costs a resource unit
/// per package, which a short read does not win back.
pub const MIN_CHAIN_SECONDS: f64 = 5.0;
/// Latency assumed before any answer was timed.
const ASSUMED_LATENCY: Duration = Duration::from_millis(100);

/// Graph's resource-unit budget per 10 s by tenant size (graph-api.md §6).
pub fn documented_budget(users: Option<u64>) -> f64 {
    match users {
        Some(users) if users > 500 => 8_000.0,
        Some(users) if users >= 50 => 5_000.0,
        // Unknown: the smallest, so that an estimate never counts on room it may not have.
        _ => 3_500.0,
    }
}

/// The inputs and the outcome of the choice, logged and kept in the manifest.
#[derive(Debug, Clone, PartialEq)]
pub struct Choice {
    pub partitioned: bool,
    pub packages: u64,
    /// Delivered assignments expected (previous run, else the quota's ratio).
    pub expected: u64,
    pub latency: Duration,
    /// Resource units per 10 s the estimate assumed.
    pub budget: f64,
    pub chain_seconds: f64,
    pub partitioned_seconds: f64,
    /// `--assignment-read chain|partitioned` rather than estimates.
    pub forced: bool,
}

impl Choice {
    pub fn name(&self) -> &'static str {
        if self.partitioned {
            "partitioned"
        } else {
            "chain"
        }
    }

    /// One line for the manifest (`graph.assignment_read`) and the log.
    pub fn describe(&self) -> String {
        if self.forced {
            return format!("{} (--assignment-read)", self.name());
        }
        format!(
            "{}: {} packages, ~{} delivered assignments, {} ms per request, {:.0} RU/10 s → chain ~{:.1} s, partitioned ~{:.1} s",
            self.name(),
            self.packages,
            self.expected,
            self.latency.as_millis(),
            self.budget,
            self.chain_seconds,
            self.partitioned_seconds
        )
    }
}

/// Decides how to read: `how` unless `auto`; then partitioned when the chain would take at
/// least [`MIN_CHAIN_SECONDS`] and the partitioned read is estimated faster.
///
/// Chain: pages × latency. Partitioned: one unit per package plus one per further page, at the
/// budget's rate, or rounds of `concurrency` batches × latency, whichever is longer.
pub fn choose(
    how: AssignmentRead,
    packages: u64,
    expected: Option<u64>,
    latency: Option<Duration>,
    budget: f64,
    concurrency: usize,
) -> Choice {
    let expected = expected.unwrap_or(packages * ASSUMED_PER_PACKAGE);
    let latency = latency.unwrap_or(ASSUMED_LATENCY);
    let pages = expected.div_ceil(OBSERVED_PAGE_ITEMS).max(1);
    let chain_seconds = pages as f64 * latency.as_secs_f64();
    let units = (packages + pages) as f64;
    let rounds = packages.div_ceil(BATCH_SIZE as u64 * concurrency.max(1) as u64);
    let partitioned_seconds =
        (units / (budget.max(1.0) / 10.0)).max(rounds as f64 * latency.as_secs_f64());
    let (partitioned, forced) = match how {
        AssignmentRead::Chain => (false, true),
        AssignmentRead::Partitioned => (true, true),
        AssignmentRead::Auto => (
            packages > 0
                && chain_seconds >= MIN_CHAIN_SECONDS
                && partitioned_seconds < chain_seconds,
            false,
        ),
    };
    Choice {
        partitioned,
        packages,
        expected,
        latency,
        budget,
        chain_seconds,
        partitioned_seconds,
        forced,
    }
}

/// The delivered assignments of each package in `package_ids`, read side by side: first pages
/// 20 to a `$batch`, further pages directly. Complete or an error: a package whose list fails
/// fails the read, and an item of another package (a filter Graph did not apply) is refused.
pub async fn read_partitioned(
    client: &GraphClient,
    package_ids: &[&str],
    on_page: &(dyn Fn(usize) + Sync),
) -> Result<Vec<Value>, GraphError> {
    let partition_paths: Vec<String> = package_ids
        .iter()
        .map(|id| paths::delivered_assignments_of_package(id))
        .collect();
    let lists = client.list_many_with(&partition_paths, on_page).await;
    let read: Vec<Partition> = package_ids
        .iter()
        .map(|id| id.to_string())
        .zip(lists)
        .collect();
    gather(read)
}

/// One partition: its package id, and its list as read.
type Partition = (String, Result<Vec<Value>, GraphError>);

/// Every partition's items, once each is known complete and of its own package.
fn gather(read: Vec<Partition>) -> Result<Vec<Value>, GraphError> {
    let mut items = Vec::new();
    for (id, list) in read {
        let list = list?;
        if let Some(stray) = list.iter().find(|item| !of_package(item, &id)) {
            return Err(GraphError::new(
                GraphErrorKind::Decode,
                format!("GET {}", paths::delivered_assignments_of_package(&id)),
                format!(
                    "assignment `{}` of another access package in a list filtered by package `{id}`",
                    stray.get("id").and_then(Value::as_str).unwrap_or("?")
                ),
            ));
        }
        items.extend(list);
    }
    Ok(items)
}

/// Starts the partitioned read while the package list is still paging: each page of packages
/// is offered to [`Streamer::page`], which decides (with what is known so far: the packages
/// listed, the latency) whether to go partitioned; from then on every package's id goes to
/// [`read_streamed`]. The chain started beside the package list is aborted at that moment.
pub struct Streamer {
    how: AssignmentRead,
    expected: Option<u64>,
    fallback_budget: f64,
    ids: std::sync::Mutex<Vec<String>>,
    sender: std::sync::Mutex<Option<tokio::sync::mpsc::UnboundedSender<String>>>,
    choice: std::sync::Mutex<Option<Choice>>,
    /// The chain ended on its own: nothing is partitioned unless that was asked for.
    chain_done: std::sync::atomic::AtomicBool,
    abort_chain: futures_util::future::AbortHandle,
}

impl Streamer {
    /// `expected`: the previous run's assignment count; `fallback_budget`: the budget to assume
    /// until one is given or learned.
    pub fn new(
        how: AssignmentRead,
        expected: Option<u64>,
        fallback_budget: f64,
        abort_chain: futures_util::future::AbortHandle,
    ) -> (Streamer, tokio::sync::mpsc::UnboundedReceiver<String>) {
        let (sender, receiver) = tokio::sync::mpsc::unbounded_channel();
        let streamer = Streamer {
            how,
            expected,
            fallback_budget,
            ids: std::sync::Mutex::new(Vec::new()),
            sender: std::sync::Mutex::new(Some(sender)),
            choice: std::sync::Mutex::new(None),
            chain_done: std::sync::atomic::AtomicBool::new(false),
            abort_chain,
        };
        (streamer, receiver)
    }

    /// A page of the package list arrived.
    pub fn page(&self, client: &GraphClient, items: &[Value]) {
        let new: Vec<String> = items
            .iter()
            .filter_map(|item| item.get("id").and_then(Value::as_str))
            .map(str::to_string)
            .collect();
        let mut ids = self.ids.lock().unwrap_or_else(|e| e.into_inner());
        ids.extend(new.iter().cloned());
        let mut choice = self.choice.lock().unwrap_or_else(|e| e.into_inner());
        let sender = self.sender.lock().unwrap_or_else(|e| e.into_inner());
        let Some(sender) = sender.as_ref() else {
            return;
        };
        if choice.is_some() {
            for id in new {
                let _ = sender.send(id);
            }
            return;
        }
        let chain_done = self.chain_done.load(std::sync::atomic::Ordering::Relaxed);
        if chain_done && self.how != AssignmentRead::Partitioned {
            return;
        }
        let estimate = self.estimate(client, ids.len() as u64);
        if estimate.partitioned {
            self.abort_chain.abort();
            for id in ids.iter() {
                let _ = sender.send(id.clone());
            }
            *choice = Some(estimate);
        }
    }

    /// [`choose`] for `packages` listed, with what the client has measured and learned so far.
    pub fn estimate(&self, client: &GraphClient, packages: u64) -> Choice {
        choose(
            self.how,
            packages,
            self.expected,
            client.mean_latency(),
            client.unit_budget().unwrap_or(self.fallback_budget),
            client.concurrency(),
        )
    }

    /// The chain ended before the package list did.
    pub fn chain_ended(&self) {
        self.chain_done
            .store(true, std::sync::atomic::Ordering::Relaxed);
    }

    /// The package list ended (or failed): no more ids.
    pub fn close(&self) {
        self.sender.lock().unwrap_or_else(|e| e.into_inner()).take();
    }

    /// The choice made while the list paged, if one was.
    pub fn committed(&self) -> Option<Choice> {
        self.choice
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

/// Reads the partitions whose ids the [`Streamer`] sends, 20 to a `$batch` as they come,
/// within the client's concurrency; ends when the package list has. Complete or an error, as
/// [`read_partitioned`].
pub async fn read_streamed(
    client: &GraphClient,
    receiver: tokio::sync::mpsc::UnboundedReceiver<String>,
    on_page: &(dyn Fn(usize) + Sync),
) -> Result<Vec<Value>, GraphError> {
    use futures_util::StreamExt;
    let ids = futures_util::stream::unfold(receiver, |mut receiver| async move {
        receiver.recv().await.map(|id| (id, receiver))
    });
    let chunks: Vec<Vec<Partition>> = ids
        .ready_chunks(BATCH_SIZE)
        .map(|chunk| async move {
            let partition_paths: Vec<String> = chunk
                .iter()
                .map(|id| paths::delivered_assignments_of_package(id))
                .collect();
            let lists = client.list_many_with(&partition_paths, on_page).await;
            chunk.into_iter().zip(lists).collect()
        })
        .buffered(client.concurrency())
        .collect()
        .await;
    gather(chunks.into_iter().flatten().collect())
}

/// Whether an assignment names `package_id` as its package (case-insensitive, as ids are).
/// One without a package is let through: the snapshot refuses it with its own message.
fn of_package(item: &Value, package_id: &str) -> bool {
    match item.pointer("/accessPackage/id").and_then(Value::as_str) {
        Some(id) => id.eq_ignore_ascii_case(package_id),
        None => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS50: Option<Duration> = Some(Duration::from_millis(50));

    #[test]
    fn a_small_tenant_keeps_the_chain() {
        // The sample sizes: 60 packages, 2,000 assignments: a chain of 20 pages, 1 s.
        let choice = choose(AssignmentRead::Auto, 60, Some(2_000), MS50, 8_000.0, 4);
        assert!(!choice.partitioned, "{}", choice.describe());
        // Without a previous run too.
        assert!(!choose(AssignmentRead::Auto, 60, None, MS50, 3_500.0, 4).partitioned);
    }

    #[test]
    fn the_quota_is_partitioned_even_at_the_smallest_budget() {
        let choice = choose(AssignmentRead::Auto, 20_000, None, MS50, 3_500.0, 4);
        assert!(choice.partitioned, "{}", choice.describe());
        assert_eq!(choice.expected, 300_000);
        assert!((choice.chain_seconds - 150.0).abs() < 1e-6);
        // 20,000 + 3,000 units at 350 per second.
        assert!((choice.partitioned_seconds - 23_000.0 / 350.0).abs() < 1e-6);
    }

    #[test]
    fn a_long_chain_that_the_budget_would_not_beat_stays_a_chain() {
        // Many packages with few assignments each: partitioning costs more than it saves.
        let choice = choose(
            AssignmentRead::Auto,
            100_000,
            Some(12_000),
            MS50,
            3_500.0,
            4,
        );
        assert!(!choice.partitioned, "{}", choice.describe());
    }

    #[test]
    fn a_forced_choice_is_kept_and_said() {
        let choice = choose(AssignmentRead::Partitioned, 60, None, MS50, 8_000.0, 4);
        assert!(choice.partitioned);
        assert_eq!(choice.describe(), "partitioned (--assignment-read)");
        assert!(!choose(AssignmentRead::Chain, 20_000, None, MS50, 8_000.0, 4).partitioned);
    }

    #[test]
    fn the_documented_budget_follows_the_tenant_size() {
        assert_eq!(documented_budget(None), 3_500.0);
        assert_eq!(documented_budget(Some(10)), 3_500.0);
        assert_eq!(documented_budget(Some(50)), 5_000.0);
        assert_eq!(documented_budget(Some(501)), 8_000.0);
    }

    #[test]
    fn an_item_of_another_package_is_recognised() {
        let item = serde_json::json!({"id": "a", "accessPackage": {"id": "P1"}});
        assert!(of_package(&item, "p1"));
        assert!(!of_package(&item, "p2"));
        assert!(of_package(&serde_json::json!({"id": "a"}), "p2"));
    }
}
