//! The one clock of a command: the real UTC time, or — for tests only — the instant that
//! `ENTRA_DRIFT_NOW` fixes. Dates that drive behaviour (exception expiry, `first_seen`,
//! `days_open`, lock age, the run folder's name) all come from here, so a test can walk a
//! tenant through several weeks in a few seconds.

use chrono::{DateTime, Utc};

use crate::error::{Error, Result};

/// Test-only: an RFC 3339 instant (`2026-12-01T00:00:00Z`) that replaces the real clock.
pub const NOW_VARIABLE: &str = "ENTRA_DRIFT_NOW";

/// The current instant, read once per command and passed down.
pub fn now() -> Result<DateTime<Utc>> {
    match std::env::var(NOW_VARIABLE) {
        Ok(text) if !text.trim().is_empty() => {
            let fixed = parse(&text)?;
            // Loud on purpose: a production scheduler must never run with a frozen clock.
            tracing::warn!(now = %fixed.to_rfc3339(), "{NOW_VARIABLE} is set: the clock is fixed (test-only)");
            Ok(fixed)
        }
        _ => Ok(Utc::now()),
    }
}

fn parse(text: &str) -> Result<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text.trim())
        .map(|at| at.with_timezone(&Utc))
        .map_err(|e| {
            Error::settings(format!(
                "{NOW_VARIABLE}=`{text}` is not an RFC 3339 instant ({e})\nhint: e.g. 2026-12-01T00:00:00Z; this variable is for tests only"
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_rfc3339_and_refuses_other_text() {
        let at = parse("2026-12-01T01:02:03+01:00").unwrap();
        assert_eq!(at.to_rfc3339(), "2026-12-01T00:02:03+00:00");
        let error = parse("next tuesday").unwrap_err().to_string();
        assert!(error.contains(NOW_VARIABLE), "{error}");
    }
}
