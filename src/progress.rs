//! Progress on stderr: indicatif bars when stderr is a terminal, log lines otherwise (cron
//! and CI logs get no control characters).

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

use crate::graph::StatsReport;

pub struct Progress {
    bars: bool,
}

impl Progress {
    pub fn new(quiet: bool) -> Self {
        Progress {
            bars: !quiet && std::io::stderr().is_terminal(),
        }
    }

    /// No output at all (tests, library use).
    pub fn hidden() -> Self {
        Progress { bars: false }
    }

    pub fn step(&self, what: &str) -> Step {
        let bar = self.bars.then(|| {
            let bar = ProgressBar::new_spinner();
            bar.set_style(
                ProgressStyle::with_template("{spinner} {prefix}: {msg}").expect("static template"),
            );
            bar.set_prefix(what.to_string());
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        });
        Step { bar }
    }

    pub fn bar(&self, what: &str, length: u64) -> Bar {
        let bar = self.bars.then(|| {
            let bar = ProgressBar::new(length);
            bar.set_style(
                ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} {msg}")
                    .expect("static template")
                    .progress_chars("=> "),
            );
            bar.set_prefix(what.to_string());
            bar
        });
        Bar {
            bar,
            what: what.to_string(),
            length,
            done: 0,
        }
    }
}

pub struct Step {
    bar: Option<ProgressBar>,
}

impl Step {
    pub fn message(&self, message: String) {
        if let Some(bar) = &self.bar {
            bar.set_message(message);
        }
    }

    pub fn finish(self, message: String) {
        match self.bar {
            Some(bar) => bar.finish_with_message(message),
            None => tracing::info!("read {message}"),
        }
    }
}

pub struct Bar {
    bar: Option<ProgressBar>,
    what: String,
    length: u64,
    done: u64,
}

impl Bar {
    pub fn advance(&mut self, by: u64, stats: &StatsReport) {
        self.done += by;
        let message = format!(
            "requests {} · throttled {} · waited {:.1}s",
            stats.requests,
            stats.throttled,
            stats.throttle_wait_ms as f64 / 1000.0
        );
        match &self.bar {
            Some(bar) => {
                bar.inc(by);
                bar.set_message(message);
            }
            None => tracing::info!("{} {}/{}: {message}", self.what, self.done, self.length),
        }
    }

    pub fn finish(self, message: String) {
        match self.bar {
            Some(bar) => bar.finish_with_message(message),
            None => tracing::info!("read {message}"),
        }
    }
}
