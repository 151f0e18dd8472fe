//! `entra-drift evidence verify DIR`: problems on stdout (one line each, for scripts), notes
//! and the verdict on stderr; exit 1 when anything does not verify.

use std::path::Path;

use super::Outcome;
use crate::error::Result;
use crate::evidence::verify;

pub fn verify(dir: &Path, quiet: bool) -> Result<Outcome> {
    let result = verify::verify(dir)?;
    for problem in &result.problems {
        println!(
            "{}: {}: {}",
            problem.run,
            problem.kind.label(),
            problem.detail
        );
    }
    if !quiet {
        for note in &result.notes {
            eprintln!("note: {}: {}", note.run, note.detail);
        }
        let runs = result.checked.len();
        if result.is_intact() {
            eprintln!("{runs} run(s) verified: intact");
        } else {
            eprintln!(
                "{runs} run(s) checked: {} problem(s) found",
                result.problems.len()
            );
        }
    }
    Ok(if result.is_intact() {
        Outcome::Clean
    } else {
        Outcome::CheckFailed
    })
}
