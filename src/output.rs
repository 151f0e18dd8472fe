//! The one module that writes to the terminal: data on stdout, everything else (summaries,
//! warnings, errors, log lines) on stderr through one [`Printer`]. The rest of the crate may
//! not print (clippy's `print_stdout`/`print_stderr` are denied outside this module).
//!
//! A closed pipe is success: `entra-drift ... | head` stops reading early, and the command
//! still finishes its work and exits 0. A closed or broken stderr never aborts a run either.

use std::fmt::Display;
use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget};

use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::EnvFilter;

use crate::error::{Error, Result};

/// Set once stdout's reader has gone: later data is dropped instead of failing the command.
static STDOUT_CLOSED: AtomicBool = AtomicBool::new(false);

/// How log lines are written on stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    #[default]
    Text,
    /// One JSON object per line, for log collectors.
    Json,
}

/// Log lines are JSON objects (`--log-format json`): progress adds its figures as fields.
static JSON_LOGS: AtomicBool = AtomicBool::new(false);

pub fn json_logs() -> bool {
    JSON_LOGS.load(Ordering::Relaxed)
}

/// The live progress lines, when a command shows any: every other stderr write goes through
/// it so that a log line never tears a line being redrawn.
static BARS: OnceLock<MultiProgress> = OnceLock::new();

/// The live lines added so far, to settle them once they are all finished.
static LIVE: std::sync::Mutex<Vec<ProgressBar>> = std::sync::Mutex::new(Vec::new());

/// Adds a live line to the terminal's progress area.
pub fn add_bar(bar: ProgressBar) -> ProgressBar {
    let bar = BARS
        .get_or_init(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr()))
        .add(bar);
    LIVE.lock()
        .unwrap_or_else(|p| p.into_inner())
        .push(bar.clone());
    bar
}

/// Once every live line is finished, prints their `✓` lines as ordinary text and empties the
/// live area: what comes after (the summary) then reads below the stages, not above them.
fn settle_bars(bars: &MultiProgress) {
    let mut live = LIVE.lock().unwrap_or_else(|p| p.into_inner());
    if live.is_empty() || !live.iter().all(ProgressBar::is_finished) {
        return;
    }
    for bar in live.drain(..) {
        let line = bar.message();
        bars.remove(&bar);
        if !line.is_empty() {
            let _ = bars.println(line);
        }
    }
    let _ = bars.clear();
}

pub fn stderr_is_terminal() -> bool {
    std::io::stderr().is_terminal()
}

/// How often a running stage logs its line when stderr is not a terminal, by default.
pub const DEFAULT_PROGRESS_INTERVAL_SECONDS: u64 = 10;

/// Writes data to stdout and the human side of a command to stderr.
#[derive(Debug, Clone, Copy)]
pub struct Printer {
    quiet: bool,
    /// How often a long stage logs its progress when stderr is not a terminal.
    progress_interval: Duration,
}

impl Default for Printer {
    fn default() -> Self {
        Printer::new(false)
    }
}

impl Printer {
    /// `quiet`: only errors and alerts on stderr (`-q`).
    pub fn new(quiet: bool) -> Self {
        Printer {
            quiet,
            progress_interval: Duration::from_secs(DEFAULT_PROGRESS_INTERVAL_SECONDS),
        }
    }

    pub fn with_progress_interval(mut self, interval: Duration) -> Self {
        self.progress_interval = interval;
        self
    }

    pub fn is_quiet(&self) -> bool {
        self.quiet
    }

    pub fn progress_interval(&self) -> Duration {
        self.progress_interval
    }

    /// One line of data on stdout (`-q` does not silence data: scripts read it).
    pub fn data(&self, line: impl Display) -> Result<()> {
        self.data_text(&format!("{line}\n"))
    }

    /// Text on stdout, as given.
    pub fn data_text(&self, text: &str) -> Result<()> {
        if STDOUT_CLOSED.load(Ordering::Relaxed) {
            return Ok(());
        }
        let mut stdout = std::io::stdout().lock();
        match stdout
            .write_all(text.as_bytes())
            .and_then(|()| stdout.flush())
        {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {
                STDOUT_CLOSED.store(true, Ordering::Relaxed);
                Ok(())
            }
            Err(e) => Err(Error::io("standard output", e)),
        }
    }

    /// A line of the human summary or progress on stderr; nothing under `-q`.
    pub fn status(&self, line: impl Display) {
        if !self.quiet {
            write_stderr(&format!("{line}\n"));
        }
    }

    /// A line that must be seen even under `-q` (an interruption, failed items).
    pub fn alert(&self, line: impl Display) {
        write_stderr(&format!("{line}\n"));
    }

    /// An error with its causes, once each, and its hints last.
    pub fn error(&self, error: &dyn std::error::Error) {
        write_stderr(&render_error(error));
    }
}

fn write_stderr(text: &str) {
    // Nothing sensible can be done when stderr itself is gone; the exit code still tells.
    let write = || {
        let _ = std::io::stderr().lock().write_all(text.as_bytes());
    };
    match BARS.get() {
        Some(bars) => {
            settle_bars(bars);
            bars.suspend(write)
        }
        None => write(),
    }
}

/// `error: <message>: <cause>: <cause>` on one line, then every `hint:` line of the chain.
pub fn render_error(error: &dyn std::error::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut hints: Vec<String> = Vec::new();
    let mut current: Option<&dyn std::error::Error> = Some(error);
    while let Some(error) = current {
        let text = error.to_string();
        let mut lines = text.split('\n');
        let head = lines.next().unwrap_or_default().trim_end().to_string();
        for line in lines {
            if let Some(hint) = line.strip_prefix("hint: ") {
                hints.push(hint.to_string());
            } else if !line.trim().is_empty() {
                parts.push(line.trim().to_string());
            }
        }
        // A transparent wrapper repeats its source's text: print it once.
        if !head.is_empty() && parts.last() != Some(&head) {
            parts.push(head);
        }
        current = error.source();
    }
    let mut out = format!("error: {}\n", parts.join(": "));
    for hint in hints {
        out.push_str(&format!("hint: {hint}\n"));
    }
    out
}

/// Log lines go to stderr (never failing on a closed one); `RUST_LOG` overrides the
/// verbosity flags.
pub fn init_logging(verbose: u8, quiet: bool, format: LogFormat) {
    let level = match (quiet, verbose) {
        (true, _) => "error",
        (false, 0) => "warn",
        (false, 1) => "info",
        (false, 2) => "debug",
        (false, _) => "trace",
    };
    let filter = EnvFilter::try_from_default_env()
        // rustls logs each failed handshake itself; the error it causes is reported once, here.
        // Progress lines (not a terminal) are info, shown unless `-q`.
        .unwrap_or_else(|_| {
            let progress = if quiet { "error" } else { "info" };
            EnvFilter::new(format!(
                "entra_drift={level},entra_drift::progress={progress},rustls=off,warn"
            ))
        });
    // Colours only on a terminal: cron mail, journald and CI logs get plain text.
    let builder = tracing_subscriber::fmt()
        .with_writer(StderrWriter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_env_filter(filter)
        .with_target(false);
    JSON_LOGS.store(format == LogFormat::Json, Ordering::Relaxed);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}

/// stderr for the log subscriber, swallowing write errors like [`Printer`] does.
struct StderrWriter;

struct StderrHandle;

impl Write for StderrHandle {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        write_stderr(&String::from_utf8_lossy(buf));
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        let _ = std::io::stderr().flush();
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for StderrWriter {
    type Writer = StderrHandle;

    fn make_writer(&'a self) -> Self::Writer {
        StderrHandle
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::InputError;

    #[test]
    fn a_cause_is_printed_once_and_hints_come_last() {
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "No such file");
        let error = Error::Input(InputError::io("x/tenant.json", io));
        assert_eq!(
            render_error(&error),
            "error: `x/tenant.json`: No such file\n"
        );
        let refused = Error::refused("p.json", crate::error::Refusal::NotApproved);
        assert_eq!(
            render_error(&refused),
            "error: plan `p.json`: the plan is not approved\nhint: review it (`entra-drift plan show PLAN`), then approve it signed: `entra-drift plan approve PLAN --approver NAME --sign-key KEY` (an unsigned approval is refused wherever --allowed-signers is set; `plan approve --revoke` takes an approval back)\n"
        );
    }
}
