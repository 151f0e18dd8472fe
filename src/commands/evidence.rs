//! `entra-drift evidence verify DIR`: problems on stdout (one line each, for scripts), notes
//! and the verdict on stderr; exit 1 when anything does not verify.

use std::path::Path;

use super::Outcome;
use crate::error::Result;
use crate::evidence::verify;
use crate::output::Printer;
use crate::trust::AllowedSigners;

pub fn verify(
    dir: &Path,
    allowed_signers: Option<&Path>,
    sealed_since: Option<&str>,
    printer: &Printer,
) -> Result<Outcome> {
    if let Some(since) = sealed_since {
        if crate::history::run_time(since).is_none() {
            return Err(crate::error::Error::settings(format!(
                "--sealed-since `{since}` is not a run folder name (a UTC timestamp like 20261101T060000Z)"
            )));
        }
    }
    let policy = allowed_signers.map(AllowedSigners::load).transpose()?;
    // A URL: every blob below it is staged and verified as the same folder would be locally.
    let staged = super::staged::stage_folder(dir, &super::staged::environment_graph_args()?, None)?;
    let local = staged.as_ref().map_or(dir, |s| s.path.as_path());
    let result = verify::verify(local, policy, sealed_since)
        .map_err(|e| super::staged::named(staged.as_ref(), e))?;
    // Problems name the blobs, not the staging folder they were checked in.
    let shown = |text: &str| match &staged {
        Some(staged) => staged.rename(text),
        None => text.to_string(),
    };
    for problem in &result.problems {
        printer.data(format_args!(
            "{}: {}: {}",
            problem.run,
            problem.kind.label(),
            shown(&problem.detail)
        ))?;
    }
    if !printer.is_quiet() {
        for note in &result.notes {
            printer.status(format_args!("note: {}: {}", note.run, shown(&note.detail)));
        }
        for (run, signer) in &result.seals {
            printer.status(format_args!("sealed: {run}: by {signer}"));
        }
        if staged.is_some() {
            printer.status(format_args!("verified in Blob Storage: {}", dir.display()));
        }
        let runs = result.checked.len();
        if result.is_intact() {
            printer.status(format_args!("{runs} run(s) verified: intact"));
        } else {
            printer.status(format_args!(
                "{runs} run(s) checked: {} problem(s) found",
                result.problems.len()
            ));
        }
    }
    Ok(if result.is_intact() {
        Outcome::Clean
    } else {
        Outcome::CheckFailed
    })
}
