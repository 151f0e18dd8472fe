//! The `entra-drift` binary: parse arguments, set up logging, run, and map the result to an
//! exit code. This is the only place that decides exit codes.
#![deny(clippy::print_stdout, clippy::print_stderr)]

use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches};

use entra_drift::cli::Cli;
use entra_drift::commands::{self, Outcome};
use entra_drift::output::{self, Printer};
use entra_drift::settings::Given;

/// mimalloc rather than the system allocator: polars' many worker threads each grow an arena
/// of glibc's malloc and keep what they freed, which alone put the `xl` audit ~15 % over its
/// 4 GiB goal (guide: docs/src/benchmarks.md); mimalloc returns freed pages and is faster at this too.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Transparent huge pages off for this process. An audit allocates and frees several GiB of
/// short-lived columns: with huge pages every first touch zeroes 2 MiB, and mimalloc's purges of
/// freed memory split them again. That cost the `xl` audit ~3.5 s of its ~23 s and ~300 MB
/// (guide: docs/src/benchmarks.md). mimalloc's `no_thp` feature stops it asking for them; this
/// also covers hosts whose THP setting is `always`, where the kernel would use them unasked.
/// Returns whether they are off (logged at `-vv`).
#[cfg(target_os = "linux")]
fn without_transparent_huge_pages() -> bool {
    // SAFETY: PR_SET_THP_DISABLE and PR_GET_THP_DISABLE take integers only and touch no memory
    // of ours. A refusal (an old kernel, a seccomp filter) keeps the kernel's default, which is
    // only slower.
    unsafe {
        libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
        libc::prctl(libc::PR_GET_THP_DISABLE, 0, 0, 0, 0) == 1
    }
}

#[cfg(not(target_os = "linux"))]
fn without_transparent_huge_pages() -> bool {
    false
}

fn main() -> ExitCode {
    let huge_pages_off = without_transparent_huge_pages();
    // clap exits 2 on a usage error, which is our "drift found" code: map it to 1.
    // The matches are kept beside the parsed flags: settings need to know which flags were
    // given, so that a configuration file value is not overridden by a flag's default.
    let parsed = Cli::command()
        .try_get_matches()
        .and_then(|matches| Cli::from_arg_matches(&matches).map(|cli| (cli, matches)));
    let (cli, matches) = match parsed {
        Ok(parsed) => parsed,
        Err(mut error) => {
            let code = if error.use_stderr() { 1 } else { 0 };
            if error.kind() == clap::error::ErrorKind::InvalidSubcommand {
                let args: Vec<String> = std::env::args().collect();
                if let Some(tip) = entra_drift::cli::misplaced_command(&args) {
                    // Instead of clap's "similar subcommand" (`approve` for `apply`).
                    error.insert(
                        clap::error::ContextKind::Suggested,
                        clap::error::ContextValue::StyledStrs(vec![tip.into()]),
                    );
                }
            }
            let _ = error.print();
            return ExitCode::from(code);
        }
    };
    output::init_logging(cli.verbose, cli.quiet, cli.log_format.into());
    tracing::debug!(off = huge_pages_off, "transparent huge pages");
    entra_drift::graph::install_crypto_provider();
    let printer = Printer::new(cli.quiet)
        .with_progress_interval(std::time::Duration::from_secs(cli.progress_interval));
    let given = matches
        .subcommand()
        .map(|(_, sub)| Given::from_matches(sub))
        .unwrap_or_default();
    match commands::run(&cli, &given, &printer) {
        Ok(Outcome::Clean) => ExitCode::SUCCESS,
        Ok(Outcome::Drift { detailed_exitcode }) => {
            if detailed_exitcode {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            }
        }
        Ok(Outcome::ItemsFailed | Outcome::CheckFailed) => ExitCode::from(1),
        Ok(Outcome::Interrupted) => ExitCode::from(130),
        Ok(Outcome::NotifyFailed) => ExitCode::from(3),
        Err(error) => {
            printer.error(&error);
            ExitCode::from(1)
        }
    }
}
