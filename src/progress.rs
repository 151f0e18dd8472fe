//! Progress of a long run, stage by stage: on a terminal one live line per stage (indicatif,
//! through the printer's bar area so log lines never tear it); elsewhere (cron, CI,
//! containers) a log line per running stage every interval and one when a stage ends, with
//! the same figures as structured fields (`--log-format json`). Each finished stage keeps a
//! one-line summary with its duration, and the run's summary lists every stage.
//!
//! A stage counts items (and pages) itself; the Graph figures — requests, resource units,
//! throttled waits — are the client's totals at the time of the line, since stages read side
//! by side through one client.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

use crate::graph::{GraphClient, StatsReport};
use crate::output;

pub use crate::output::DEFAULT_PROGRESS_INTERVAL_SECONDS as DEFAULT_INTERVAL_SECONDS;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Live lines on a terminal.
    Bars,
    /// Periodic log lines (not a terminal).
    Lines,
    /// Nothing (`-q`, tests, library use).
    Hidden,
}

/// The progress of one command: its stages, in the order they started.
#[derive(Clone)]
pub struct Progress {
    inner: Arc<Inner>,
}

struct Inner {
    mode: Mode,
    interval: Duration,
    graph: Mutex<Option<GraphClient>>,
    finished: Mutex<Vec<StageSummary>>,
    stop: Arc<AtomicBool>,
    /// Every stage started, with its live line on a terminal.
    stages: Mutex<Vec<(Arc<Counter>, Option<ProgressBar>)>>,
}

/// A finished stage, for the run's summary and `index.csv`.
#[derive(Debug, Clone, PartialEq)]
pub struct StageSummary {
    pub name: String,
    pub items: u64,
    pub seconds: f64,
}

/// What a stage has done so far. Cheap to update from many tasks at once.
#[derive(Debug)]
pub struct Counter {
    name: String,
    started: Instant,
    items: AtomicU64,
    pages: AtomicU64,
    /// 0: not known.
    total: AtomicU64,
    /// The total is an estimate (from the package list, or the previous run): said as `~N`,
    /// and dropped once the count passes it.
    estimated: AtomicBool,
    /// A word on top of the counts (`3 reprocessed, 1 skipped`).
    note: Mutex<String>,
    done: AtomicBool,
}

impl Counter {
    fn new(name: &str, total: Option<u64>) -> Counter {
        Counter {
            name: name.to_string(),
            started: Instant::now(),
            items: AtomicU64::new(0),
            pages: AtomicU64::new(0),
            total: AtomicU64::new(total.unwrap_or(0)),
            estimated: AtomicBool::new(false),
            note: Mutex::new(String::new()),
            done: AtomicBool::new(false),
        }
    }

    /// One page of `items` read.
    pub fn page(&self, items: u64) {
        self.pages.fetch_add(1, Ordering::Relaxed);
        self.items.fetch_add(items, Ordering::Relaxed);
    }

    pub fn add(&self, items: u64) {
        self.items.fetch_add(items, Ordering::Relaxed);
    }

    pub fn set_total(&self, total: u64) {
        self.total.store(total, Ordering::Relaxed);
    }

    /// An estimated total: the line says `of ~N` and a time left until the count reaches it.
    pub fn set_estimate(&self, total: u64) {
        self.total.store(total, Ordering::Relaxed);
        self.estimated.store(true, Ordering::Relaxed);
    }

    pub fn set_note(&self, note: String) {
        *self.note.lock().unwrap_or_else(|p| p.into_inner()) = note;
    }

    pub fn items(&self) -> u64 {
        self.items.load(Ordering::Relaxed)
    }

    fn figures(&self, graph: Option<&StatsReport>) -> Figures {
        let mut total = self.total.load(Ordering::Relaxed);
        let items = self.items();
        let estimated = self.estimated.load(Ordering::Relaxed);
        if estimated && items > total {
            // Past the estimate: it was wrong, and says nothing more.
            total = 0;
        }
        let elapsed = self.started.elapsed();
        let left = (total > 0 && items > 0 && items < total).then(|| {
            let rate = items as f64 / elapsed.as_secs_f64().max(0.001);
            Duration::from_secs_f64((total - items) as f64 / rate)
        });
        Figures {
            items,
            total: (total > 0).then_some(total),
            estimated,
            pages: self.pages.load(Ordering::Relaxed),
            graph: graph.cloned(),
            elapsed,
            left,
            note: self.note.lock().unwrap_or_else(|p| p.into_inner()).clone(),
            show_graph: true,
        }
    }
}

/// One line's figures.
struct Figures {
    items: u64,
    total: Option<u64>,
    estimated: bool,
    pages: u64,
    graph: Option<StatsReport>,
    elapsed: Duration,
    left: Option<Duration>,
    note: String,
    /// Whether the line repeats the Graph counters: while a stage runs, yes; once it is done,
    /// the run's summary says them once.
    show_graph: bool,
}

impl Figures {
    fn line(&self, name: &str) -> String {
        let unit = unit_of(name);
        let mut parts = Vec::new();
        if !unit.is_empty() {
            parts.push(match self.total {
                Some(total) => format!(
                    "{} of {}{total} {}",
                    self.items,
                    if self.estimated { "~" } else { "" },
                    plural(unit, total)
                ),
                None => format!("{} {}", self.items, plural(unit, self.items)),
            });
        }
        if !self.note.is_empty() {
            parts.push(self.note.clone());
        }
        if self.pages > 0 {
            parts.push(format!("{} {}", self.pages, plural("page", self.pages)));
        }
        if let Some(graph) = self.graph.as_ref().filter(|_| self.show_graph) {
            parts.push(format!(
                "Graph {} requests, {} RU, {} throttled ({:.1} s)",
                graph.requests,
                graph.resource_units,
                graph.throttled,
                graph.throttle_wait_ms as f64 / 1000.0
            ));
        }
        parts.push(seconds(self.elapsed));
        if let Some(left) = self.left {
            parts.push(format!("~{} left", seconds(left)));
        }
        format!("{name}: {}", parts.join(" · "))
    }

    fn log(&self, name: &str, event: &str) {
        if !output::json_logs() {
            // Plain text: the line says it all.
            tracing::info!(target: "entra_drift::progress", "{}", self.line(name));
            return;
        }
        let graph = self.graph.clone().unwrap_or_default();
        tracing::info!(
            target: "entra_drift::progress",
            stage = name,
            event,
            items = self.items,
            total = self.total,
            total_estimated = self.estimated,
            pages = self.pages,
            requests = graph.requests,
            resource_units = graph.resource_units,
            throttled = graph.throttled,
            throttle_wait_ms = graph.throttle_wait_ms,
            elapsed_ms = self.elapsed.as_millis() as u64,
            left_s = self.left.map(|l| l.as_secs()),
            note = %self.note,
            "{}",
            self.line(name)
        );
    }
}

/// What a stage counts, so that every number carries its unit ("25611 assignments", not
/// "25611").
fn unit_of(stage: &str) -> &'static str {
    match stage {
        "assignments" => "assignment",
        "users" => "user",
        "packages" => "package",
        "governed resources" => "resource",
        "audit log" => "event",
        "assignment requests" => "request",
        "tenant directory" | "stored snapshot" => "assignment",
        "audit" | "reports" => "finding",
        "evidence" => "file",
        "apply" | "verify" => "item",
        // Nothing to count: the stage is its duration.
        "sign-in" => "",
        _ => "item",
    }
}

fn plural(unit: &str, count: u64) -> String {
    if count == 1 {
        unit.to_string()
    } else {
        format!("{unit}s")
    }
}

fn seconds(duration: Duration) -> String {
    let secs = duration.as_secs_f64();
    if secs < 60.0 {
        format!("{secs:.1} s")
    } else {
        format!("{}m{:02}s", (secs / 60.0) as u64, secs as u64 % 60)
    }
}

impl Progress {
    /// Live lines on a terminal, periodic log lines elsewhere, nothing under `-q`.
    pub fn new(quiet: bool, interval: Duration) -> Self {
        let mode = if quiet {
            Mode::Hidden
        } else if output::stderr_is_terminal() {
            Mode::Bars
        } else {
            Mode::Lines
        };
        Self::with_mode(mode, interval)
    }

    /// No output at all (tests, library use).
    pub fn hidden() -> Self {
        Self::with_mode(Mode::Hidden, Duration::from_secs(DEFAULT_INTERVAL_SECONDS))
    }

    fn with_mode(mode: Mode, interval: Duration) -> Self {
        let progress = Progress {
            inner: Arc::new(Inner {
                mode,
                interval,
                graph: Mutex::new(None),
                finished: Mutex::new(Vec::new()),
                stop: Arc::new(AtomicBool::new(false)),
                stages: Mutex::new(Vec::new()),
            }),
        };
        if mode != Mode::Hidden {
            progress.spawn_ticker();
        }
        progress
    }

    /// The client whose Graph figures the lines show.
    pub fn watch(&self, client: &GraphClient) {
        *self.inner.graph.lock().unwrap_or_else(|p| p.into_inner()) = Some(client.clone());
    }

    fn graph(&self) -> Option<StatsReport> {
        self.inner
            .graph
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .map(GraphClient::stats)
    }

    /// Starts a stage; `total` when it is known (or estimated from the previous run).
    pub fn stage(&self, name: &str, total: Option<u64>) -> Stage {
        let counter = Arc::new(Counter::new(name, total));
        let bar = (self.inner.mode == Mode::Bars).then(|| {
            let bar = output::add_bar(ProgressBar::new_spinner());
            bar.set_style(
                ProgressStyle::with_template("{spinner} {msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            bar.enable_steady_tick(Duration::from_millis(100));
            bar
        });
        self.inner
            .stages
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push((counter.clone(), bar.clone()));
        let stage = Stage {
            progress: self.clone(),
            counter,
            bar,
        };
        stage.refresh();
        stage
    }

    /// Every finished stage, in the order it finished.
    pub fn finished(&self) -> Vec<StageSummary> {
        self.inner
            .finished
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Redraws the live lines four times a second on a terminal; elsewhere logs a line per
    /// running stage every interval. Stops when the progress is dropped.
    fn spawn_ticker(&self) {
        let weak = Arc::downgrade(&self.inner);
        let stop = self.inner.stop.clone();
        let (mode, interval) = (self.inner.mode, self.inner.interval);
        std::thread::spawn(move || {
            let step = match mode {
                Mode::Bars => Duration::from_millis(250),
                _ => Duration::from_millis(100).min(interval),
            };
            let mut since = Duration::ZERO;
            loop {
                std::thread::sleep(step);
                if stop.load(Ordering::Relaxed) {
                    return;
                }
                since += step;
                if mode == Mode::Lines && since < interval {
                    continue;
                }
                since = Duration::ZERO;
                let Some(inner) = weak.upgrade() else { return };
                let progress = Progress { inner };
                let graph = progress.graph();
                let running: Vec<(Arc<Counter>, Option<ProgressBar>)> = progress
                    .inner
                    .stages
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .iter()
                    .filter(|(c, _)| !c.done.load(Ordering::Relaxed))
                    .cloned()
                    .collect();
                for (counter, bar) in running {
                    let figures = counter.figures(graph.as_ref());
                    match bar {
                        Some(bar) => bar.set_message(figures.line(&counter.name)),
                        None => figures.log(&counter.name, "running"),
                    }
                }
            }
        });
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// A running stage; finish it to keep its summary line.
pub struct Stage {
    progress: Progress,
    counter: Arc<Counter>,
    bar: Option<ProgressBar>,
}

impl Stage {
    pub fn counter(&self) -> &Arc<Counter> {
        &self.counter
    }

    /// Redraws the live line (terminal mode); cheap enough to call per page.
    pub fn refresh(&self) {
        if let Some(bar) = &self.bar {
            let graph = self.progress.graph();
            bar.set_message(
                self.counter
                    .figures(graph.as_ref())
                    .line(&self.counter.name),
            );
        }
    }

    /// Ends the stage: its line stays as a one-line summary with its duration.
    pub fn finish(self) {
        self.counter.done.store(true, Ordering::Relaxed);
        let graph = self.progress.graph();
        let mut figures = self.counter.figures(graph.as_ref());
        figures.left = None;
        figures.show_graph = false;
        if let Some(total) = figures.total {
            // An estimate (the previous run's count) is not the truth once the stage is done.
            if total != figures.items {
                figures.total = None;
            }
        }
        match &self.bar {
            Some(bar) => bar.finish_with_message(format!("✓ {}", figures.line(&self.counter.name))),
            None if self.progress.inner.mode == Mode::Lines => {
                figures.log(&self.counter.name, "done")
            }
            None => {}
        }
        self.progress
            .inner
            .finished
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(StageSummary {
                name: self.counter.name.clone(),
                items: figures.items,
                seconds: figures.elapsed.as_secs_f64(),
            });
    }
}

impl Drop for Stage {
    fn drop(&mut self) {
        // A stage dropped without `finish` (an error) leaves no spinner behind.
        self.counter.done.store(true, Ordering::Relaxed);
        if let Some(bar) = &self.bar {
            if !bar.is_finished() {
                bar.finish_and_clear();
            }
        }
    }
}

/// `name 1.2 s, name 3.4 s, ...`: the stages of a run for its summary and `index.csv`.
pub fn describe(stages: &[StageSummary]) -> String {
    stages
        .iter()
        .map(|s| format!("{} {:.1} s", s.name, s.seconds))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_shows_counts_totals_rates_and_time_left() {
        let counter = Counter::new("assignments", Some(1000));
        counter.page(250);
        let graph = StatsReport {
            requests: 7,
            resource_units: 9,
            throttled: 1,
            throttle_wait_ms: 1500,
            ..StatsReport::default()
        };
        let line = counter.figures(Some(&graph)).line("assignments");
        assert!(line.starts_with("assignments: 250 of 1000 assignments · 1 page · Graph 7 requests, 9 RU, 1 throttled (1.5 s) · "), "{line}");
        // Done, a stage leaves the Graph counters to the run's summary.
        let mut done = counter.figures(Some(&graph));
        done.show_graph = false;
        assert!(!done.line("assignments").contains("Graph"), "{line}");
        assert!(Counter::new("sign-in", None)
            .figures(None)
            .line("sign-in")
            .starts_with("sign-in: 0.0 s"));
        assert!(line.contains(" left"), "{line}");
    }

    #[test]
    fn an_estimated_total_is_said_as_such_and_dropped_once_passed() {
        let counter = Counter::new("assignments", None);
        counter.set_estimate(300);
        counter.page(100);
        let line = counter.figures(None).line("assignments");
        assert!(
            line.starts_with("assignments: 100 of ~300 assignments · 1 page"),
            "{line}"
        );
        assert!(line.contains(" left"), "{line}");
        counter.page(201);
        let line = counter.figures(None).line("assignments");
        assert!(
            line.starts_with("assignments: 301 assignments · 2 pages"),
            "{line}"
        );
        assert!(!line.contains(" left"), "{line}");
    }

    #[test]
    fn hidden_progress_records_finished_stages() {
        let progress = Progress::hidden();
        let stage = progress.stage("packages", None);
        stage.counter().page(3);
        stage.finish();
        let finished = progress.finished();
        assert_eq!(finished.len(), 1);
        assert_eq!(finished[0].items, 3);
        assert_eq!(describe(&finished[..0]), "");
    }
}
