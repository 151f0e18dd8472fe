//! Paces requests to an API with a request-count limit of its own (the reports API behind the
//! audit log allows 5 requests per 10 s per app and tenant): a request waits for a free slot
//! instead of being throttled and retried.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// At most `limit` requests start in any `window`.
#[derive(Debug)]
pub struct Pace {
    limit: usize,
    window: Duration,
    starts: Mutex<VecDeque<Instant>>,
}

/// The reports API's documented limit (graph-api.md §9).
pub const REPORTS_LIMIT: (usize, Duration) = (5, Duration::from_secs(10));

impl Pace {
    pub fn new(limit: usize, window: Duration) -> Pace {
        Pace {
            limit: limit.max(1),
            window,
            starts: Mutex::new(VecDeque::new()),
        }
    }

    /// The reports API's limit with a second of margin: the server counts requests as they
    /// arrive, and a first request that waited for its connection arrives later than it left.
    pub fn reports() -> Pace {
        Pace::new(REPORTS_LIMIT.0, REPORTS_LIMIT.1 + Duration::from_secs(1))
    }

    /// How long a request starting at `now` must wait; `None` takes the slot.
    fn reserve(&self, now: Instant) -> Option<Duration> {
        let mut starts = self.starts.lock().unwrap_or_else(|e| e.into_inner());
        while starts
            .front()
            .is_some_and(|first| now.duration_since(*first) >= self.window)
        {
            starts.pop_front();
        }
        if starts.len() < self.limit {
            starts.push_back(now);
            return None;
        }
        starts
            .front()
            .map(|first| self.window.saturating_sub(now.duration_since(*first)))
    }

    /// Waits until a request may start, and counts it.
    pub async fn wait(&self) {
        while let Some(delay) = self.reserve(Instant::now()) {
            tokio::time::sleep(delay.max(Duration::from_millis(1))).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sixth_request_in_a_window_waits_for_the_first_to_leave_it() {
        let pace = Pace::new(5, Duration::from_secs(10));
        let t0 = Instant::now();
        for i in 0..5 {
            assert_eq!(pace.reserve(t0 + Duration::from_secs(i)), None);
        }
        assert_eq!(
            pace.reserve(t0 + Duration::from_secs(6)),
            Some(Duration::from_secs(4))
        );
        assert_eq!(pace.reserve(t0 + Duration::from_secs(10)), None);
        assert_eq!(
            pace.reserve(t0 + Duration::from_secs(10)),
            Some(Duration::from_secs(1))
        );
    }
}
