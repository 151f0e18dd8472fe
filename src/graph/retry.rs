//! When to retry a Graph request and how long to wait: pure functions, tested as tables.

use std::time::Duration;

use chrono::{DateTime, Utc};
use rand::Rng;

/// Statuses Graph documents as transient: throttled, unavailable, gateway timeout.
pub fn is_retryable_status(status: u16) -> bool {
    matches!(status, 429 | 503 | 504)
}

/// How long one request may spend waiting between retries, by default (`--max-retry-wait`).
pub const DEFAULT_MAX_RETRY_WAIT_SECONDS: u64 = 300;

#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Attempts in all, the first included.
    pub max_attempts: u32,
    /// First backoff when Graph gives no `Retry-After`; doubles per attempt.
    pub base_delay: Duration,
    /// No single wait is longer than this.
    pub max_delay: Duration,
    /// A request gives up once its waits would exceed this in total.
    pub max_total_wait: Duration,
}

impl Default for RetryPolicy {
    /// As Microsoft's SDKs (Kiota's RetryHandler) but with more attempts: a weekly audit that
    /// waits out throttling beats one that fails.
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 8,
            base_delay: Duration::from_secs(2),
            max_delay: Duration::from_secs(180),
            max_total_wait: Duration::from_secs(DEFAULT_MAX_RETRY_WAIT_SECONDS),
        }
    }
}

impl RetryPolicy {
    /// The wait before attempt `attempt + 1` (attempt counts from 1), or `None` to give up.
    pub fn next_wait(
        &self,
        attempt: u32,
        retry_after: Option<Duration>,
        waited: Duration,
    ) -> Option<Duration> {
        if attempt >= self.max_attempts {
            return None;
        }
        let wait = match retry_after {
            Some(wait) => wait.min(self.max_delay),
            None => self.backoff(attempt),
        };
        (waited + wait <= self.max_total_wait).then_some(wait)
    }

    /// Exponential backoff with "equal jitter": half fixed, half random, so that concurrent
    /// requests throttled together do not come back together.
    fn backoff(&self, attempt: u32) -> Duration {
        let exponent = attempt.saturating_sub(1).min(16);
        let ceiling = self
            .base_delay
            .saturating_mul(1 << exponent)
            .min(self.max_delay);
        let half = ceiling / 2;
        let jitter = rand::rng().random_range(0..=half.as_millis() as u64);
        half + Duration::from_millis(jitter)
    }
}

/// Parses `Retry-After`: delta-seconds (Graph may send fractions) or an HTTP date.
pub fn parse_retry_after(value: &str, now: DateTime<Utc>) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<f64>() {
        return (seconds.is_finite() && seconds >= 0.0)
            .then(|| Duration::from_secs_f64(seconds.min(86_400.0)));
    }
    let date = DateTime::parse_from_rfc2822(value)
        .ok()?
        .with_timezone(&Utc);
    Some((date - now).to_std().unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-29T08:49:37Z")
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn retry_after_forms() {
        let cases = [
            ("5", Some(Duration::from_secs(5))),
            ("0.25", Some(Duration::from_millis(250))),
            (" 2 ", Some(Duration::from_secs(2))),
            (
                "Sun, 29 Nov 2026 08:49:47 GMT",
                Some(Duration::from_secs(10)),
            ),
            ("Sun, 29 Nov 2026 08:49:30 GMT", Some(Duration::ZERO)),
            ("-1", None),
            ("soon", None),
            ("NaN", None),
        ];
        for (text, expected) in cases {
            assert_eq!(parse_retry_after(text, now()), expected, "{text}");
        }
    }

    #[test]
    fn statuses() {
        for status in [429, 503, 504] {
            assert!(is_retryable_status(status));
        }
        for status in [200, 400, 401, 403, 404, 500, 502] {
            assert!(!is_retryable_status(status));
        }
    }

    #[test]
    fn waits_are_capped_by_attempts_and_total() {
        let policy = RetryPolicy {
            max_attempts: 3,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(1),
            max_total_wait: Duration::from_secs(3),
        };
        let hinted = Some(Duration::from_secs(10));
        assert_eq!(
            policy.next_wait(1, hinted, Duration::ZERO),
            Some(Duration::from_secs(1)),
            "capped at max_delay"
        );
        assert_eq!(
            policy.next_wait(3, None, Duration::ZERO),
            None,
            "out of attempts"
        );
        assert_eq!(
            policy.next_wait(1, hinted, Duration::from_millis(2500)),
            None,
            "out of total wait"
        );
        for attempt in 1..3 {
            let wait = policy.next_wait(attempt, None, Duration::ZERO).unwrap();
            let ceiling = Duration::from_millis(100 << (attempt - 1));
            assert!(
                wait >= ceiling / 2 && wait <= ceiling,
                "{attempt}: {wait:?}"
            );
        }
    }
}
