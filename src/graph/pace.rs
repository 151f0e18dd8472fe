//! Paces requests before Graph throttles them: [`Pace`] for an API with a request-count limit
//! of its own (the reports API behind the audit log allows 5 requests per 10 s per app and
//! tenant), [`UnitPace`] for the directory's resource-unit budget, learned from the
//! `x-ms-resource-unit` and `x-ms-throttle-limit-percentage` headers Graph sends. A request
//! waits for room instead of being throttled and retried.

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

/// The directory's budget window (graph-api.md §6: RU per 10 s per app and tenant).
pub const UNIT_WINDOW: Duration = Duration::from_secs(10);
/// The share of the budget the client lets itself spend in any window. Graph warns from 0.8
/// (`x-ms-throttle-limit-percentage`); staying under 0.9 leaves room for the requests in
/// flight (at most `concurrency` batches of 20) and for other clients' clocks.
pub const UNIT_TARGET: f64 = 0.9;

/// Paces requests to the resource-unit budget of the identity and access service.
///
/// A request reserves its expected cost while it is in flight; its answer turns the
/// reservation into what `x-ms-resource-unit` says it cost, kept in a sliding window from the
/// moment of the answer (later than the server counted it, so the window never forgets a unit
/// before the server does). The budget is `--ru-budget` when given; otherwise it is learned
/// from `x-ms-throttle-limit-percentage` p (Graph sends it above 0.8 of the budget): the units
/// answered within the window, over p, are at most the budget (the server may also have
/// counted requests still in flight), so the largest such estimate is the budget's best safe
/// value. Until then nothing waits. Once a budget is known, a request waits while the window
/// and the requests in flight hold [`UNIT_TARGET`] of it.
#[derive(Debug)]
pub struct UnitPace {
    window: Duration,
    state: Mutex<UnitState>,
}

#[derive(Debug, Default)]
struct UnitState {
    /// Given (`--ru-budget`) or learned; `None` until either.
    budget: Option<f64>,
    configured: bool,
    /// (answered at, units), oldest first.
    entries: VecDeque<(Instant, u64)>,
    /// Units answered within the window.
    total: u64,
    /// Units reserved by requests not answered yet.
    in_flight: u64,
    /// Answers that carried `x-ms-throttle-limit-percentage`.
    warnings: u64,
    waited: Duration,
}

/// Units reserved by a request in flight. Settled by its answer; a request dropped before one
/// (a read abandoned mid-way) leaves it counted as spent, so the budget never loses track.
#[must_use]
pub struct Reservation<'a> {
    pace: &'a UnitPace,
    units: u64,
    open: bool,
}

impl Reservation<'_> {
    /// The answer came: see [`UnitPace::settle`].
    pub fn settle(mut self, units: Option<u64>, share: Option<f64>) {
        self.open = false;
        self.pace.settle(Instant::now(), self.units, units, share);
    }

    /// Someone else settles it (a `$batch`'s inner answers, one by one).
    pub fn hand_over(mut self) {
        self.open = false;
    }
}

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        if self.open {
            self.pace.settle(Instant::now(), self.units, None, None);
        }
    }
}

/// What pacing did, for the manifest.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct UnitReport {
    /// The budget in use at the end (given or learned), in RU per window.
    pub budget: Option<f64>,
    pub warnings: u64,
    pub waited: Duration,
}

/// How long to look again when the requests in flight alone fill the budget.
const IN_FLIGHT_RECHECK: Duration = Duration::from_millis(20);

impl UnitPace {
    /// `budget`: RU per [`UNIT_WINDOW`] when known (`--ru-budget`), else learned.
    pub fn new(budget: Option<u64>) -> UnitPace {
        UnitPace::with_window(budget, UNIT_WINDOW)
    }

    pub fn with_window(budget: Option<u64>, window: Duration) -> UnitPace {
        UnitPace {
            window,
            state: Mutex::new(UnitState {
                budget: budget.map(|b| b.max(1) as f64),
                configured: budget.is_some(),
                ..UnitState::default()
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, UnitState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn expire(&self, state: &mut UnitState, now: Instant) {
        while let Some(&(at, units)) = state.entries.front() {
            if now.duration_since(at) >= self.window {
                state.total -= units;
                state.entries.pop_front();
            } else {
                break;
            }
        }
    }

    /// How long a request expected to cost `cost` must wait at `now`; `None` reserves it.
    fn reserve(&self, now: Instant, cost: u64) -> Option<Duration> {
        let mut state = self.lock();
        self.expire(&mut state, now);
        if let Some(budget) = state.budget {
            let room = (budget * UNIT_TARGET).floor() as u64;
            let used = state.total + state.in_flight;
            // A request that does not fit even an empty window goes when nothing else is
            // counted, rather than waiting forever.
            if used > 0 && used + cost > room {
                if state.in_flight + cost > room {
                    return Some(IN_FLIGHT_RECHECK);
                }
                let mut remaining = state.total;
                for &(at, units) in &state.entries {
                    remaining -= units;
                    if remaining + state.in_flight + cost <= room {
                        let frees = (at + self.window).saturating_duration_since(now);
                        return Some(frees.max(Duration::from_millis(1)));
                    }
                }
                return Some(IN_FLIGHT_RECHECK);
            }
        }
        state.in_flight += cost;
        None
    }

    /// Waits until a request expected to cost `cost` fits the budget, and reserves it.
    pub async fn wait(&self, cost: u64) -> Reservation<'_> {
        let started = Instant::now();
        let mut waited = false;
        while let Some(delay) = self.reserve(Instant::now(), cost) {
            waited = true;
            tokio::time::sleep(delay).await;
        }
        if waited {
            self.lock().waited += started.elapsed();
        }
        Reservation {
            pace: self,
            units: cost,
            open: true,
        }
    }

    /// The answer to a request that reserved `reserved`: it cost `units` (`None`: Graph did
    /// not say, or no answer came — the reservation is kept as spent) and may carry the share
    /// of the budget spent (`x-ms-throttle-limit-percentage`).
    pub fn settle(&self, now: Instant, reserved: u64, units: Option<u64>, share: Option<f64>) {
        let mut state = self.lock();
        self.expire(&mut state, now);
        state.in_flight = state.in_flight.saturating_sub(reserved);
        let units = units.unwrap_or(reserved);
        if units > 0 {
            state.entries.push_back((now, units));
            state.total += units;
        }
        if let Some(share) = share.filter(|s| s.is_finite() && *s > 0.0) {
            state.warnings += 1;
            if !state.configured && state.total > 0 {
                let estimate = state.total as f64 / share;
                state.budget = Some(state.budget.map_or(estimate, |b| b.max(estimate)));
            }
        }
    }

    /// A 429 from the budget: the units answered and in flight are more than it allows.
    pub fn throttled(&self, now: Instant) {
        let mut state = self.lock();
        self.expire(&mut state, now);
        let bound = (state.total + state.in_flight) as f64;
        if !state.configured && bound > 0.0 {
            state.budget = Some(state.budget.map_or(bound, |b| b.min(bound)));
        }
    }

    pub fn report(&self) -> UnitReport {
        let state = self.lock();
        UnitReport {
            budget: state.budget,
            warnings: state.warnings,
            waited: state.waited,
        }
    }
}

/// What Graph documents a read to cost (graph-api.md §6), from its path and query relative to
/// `/v1.0/`: reserved before it leaves, so that requests in flight are counted at their price.
/// The answer's `x-ms-resource-unit` settles any difference.
pub fn expected_units(relative: &str) -> u64 {
    let (path, query) = relative.split_once('?').unwrap_or((relative, ""));
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let mut cost: i64 = match segments.as_slice() {
        ["groups", _, "members"] => 3,
        ["groups", _, "transitiveMembers"] => 5,
        [_, _, "appRoleAssignedTo" | "appRoleAssignments"] => 2,
        ["users"] => 2,
        _ => 1,
    };
    let has = |name: &str| {
        query
            .split('&')
            .any(|pair| pair.split('=').next() == Some(name))
    };
    if has("$select") {
        cost -= 1;
    }
    if has("$expand") {
        cost += 1;
    }
    let top = query
        .split('&')
        .find_map(|pair| pair.strip_prefix("$top="))
        .and_then(|v| v.parse::<u64>().ok());
    if top.is_some_and(|top| top < 20) {
        cost -= 1;
    }
    cost.max(1) as u64
}

/// `x-ms-throttle-limit-percentage` as a share of the budget. Graph documents a value "from
/// 0.8 to 1.8" that "is a percentage of the use of the limit": read as a ratio; a value above
/// 2 can only be a percentage written out (85 for 0.85) and is read as one **[inferred]**.
pub fn parse_share(value: &str) -> Option<f64> {
    let number: f64 = value.trim().trim_end_matches('%').trim().parse().ok()?;
    if !number.is_finite() || number <= 0.0 {
        return None;
    }
    Some(if number > 2.0 { number / 100.0 } else { number })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reserves and answers `n` requests of one unit at `at`.
    fn spend(pace: &UnitPace, at: Instant, n: u64) {
        for _ in 0..n {
            assert_eq!(pace.reserve(at, 1), None);
            pace.settle(at, 1, Some(1), None);
        }
    }

    #[test]
    fn nothing_waits_until_a_budget_is_known() {
        let pace = UnitPace::new(None);
        let t0 = Instant::now();
        spend(&pace, t0, 10_000);
        assert_eq!(pace.reserve(t0, 5), None);
    }

    #[test]
    fn a_given_budget_keeps_the_window_under_its_target_share() {
        let pace = UnitPace::with_window(Some(100), Duration::from_secs(10));
        let t0 = Instant::now();
        spend(&pace, t0, 1);
        spend(&pace, t0 + Duration::from_millis(1), 89);
        // 90 of 100 spent: the next waits until the first answer leaves the window.
        let wait = pace.reserve(t0 + Duration::from_secs(1), 1).unwrap();
        assert_eq!(wait, Duration::from_secs(9));
        assert_eq!(pace.reserve(t0 + Duration::from_secs(10), 1), None);
    }

    #[test]
    fn requests_in_flight_count_against_the_budget() {
        let pace = UnitPace::with_window(Some(100), Duration::from_secs(10));
        let t0 = Instant::now();
        for _ in 0..9 {
            assert_eq!(pace.reserve(t0, 10), None);
        }
        assert_eq!(pace.reserve(t0, 10), Some(IN_FLIGHT_RECHECK));
        // An answer that cost nothing (a batch's outer reply) gives its reservation back.
        pace.settle(t0, 10, Some(0), None);
        assert_eq!(pace.reserve(t0, 10), None);
        // One that got no answer is kept as spent.
        let pace = UnitPace::with_window(Some(100), Duration::from_secs(10));
        assert_eq!(pace.reserve(t0, 90), None);
        pace.settle(t0, 90, None, None);
        assert!(pace.reserve(t0, 1).is_some());
    }

    #[test]
    fn the_warning_header_teaches_the_budget() {
        let pace = UnitPace::with_window(None, Duration::from_secs(10));
        let t0 = Instant::now();
        spend(&pace, t0, 84);
        assert_eq!(pace.reserve(t0, 1), None);
        // The server says the 85 units answered are 0.85 of the budget: 100.
        pace.settle(t0, 1, Some(1), Some(0.85));
        let report = pace.report();
        assert_eq!(report.budget, Some(100.0));
        assert_eq!(report.warnings, 1);
        spend(&pace, t0, 5);
        assert!(
            pace.reserve(t0, 1).is_some(),
            "90 % of the learned budget is the limit"
        );
    }

    #[test]
    fn the_largest_estimate_is_kept_since_each_can_only_be_low() {
        let pace = UnitPace::with_window(None, Duration::from_secs(10));
        let t0 = Instant::now();
        // 40 units still in flight when 60 answered units are said to be 0.8: the server had
        // counted some of those 40, so 75 is low.
        for _ in 0..40 {
            assert_eq!(pace.reserve(t0, 1), None);
        }
        spend(&pace, t0, 59);
        assert_eq!(pace.reserve(t0, 1), None);
        pace.settle(t0, 1, Some(1), Some(0.8));
        assert_eq!(pace.report().budget, Some(75.0));
        for _ in 0..40 {
            pace.settle(t0, 1, Some(1), None);
        }
        // All 100 answered, 1.0 of the budget: 100.
        pace.settle(t0, 0, Some(0), Some(1.0));
        assert_eq!(pace.report().budget, Some(100.0));
    }

    #[test]
    fn a_429_caps_a_learned_budget_at_what_was_spent() {
        let pace = UnitPace::with_window(None, Duration::from_secs(10));
        let t0 = Instant::now();
        spend(&pace, t0, 50);
        assert_eq!(pace.reserve(t0, 10), None);
        pace.throttled(t0);
        assert_eq!(pace.report().budget, Some(60.0));
        // A given budget is not second-guessed.
        let given = UnitPace::with_window(Some(1000), Duration::from_secs(10));
        spend(&given, t0, 50);
        given.throttled(t0);
        assert_eq!(given.report().budget, Some(1000.0));
    }

    #[test]
    fn reads_are_reserved_at_their_documented_price() {
        assert_eq!(expected_units("groups/g1/members?$select=id&$top=999"), 2);
        assert_eq!(expected_units("groups/g1/transitiveMembers"), 5);
        assert_eq!(
            expected_units("servicePrincipals/s/appRoleAssignedTo?$top=999"),
            2
        );
        assert_eq!(expected_units("users?$select=id,displayName&$top=999"), 1);
        assert_eq!(
            expected_units("identityGovernance/entitlementManagement/assignments?$filter=state eq 'Delivered'&$expand=target,accessPackage"),
            2
        );
        assert_eq!(
            expected_units(&crate::graph::paths::delivered_assignments_of_package("p")),
            1
        );
        assert_eq!(expected_units("users?$top=5&$select=id"), 1);
    }

    #[test]
    fn the_share_header_is_read_as_a_ratio_or_a_written_out_percentage() {
        assert_eq!(parse_share("0.85"), Some(0.85));
        assert_eq!(parse_share(" 1.2 "), Some(1.2));
        assert_eq!(parse_share("85"), Some(0.85));
        assert_eq!(parse_share("85%"), Some(0.85));
        assert_eq!(parse_share("abc"), None);
        assert_eq!(parse_share("0"), None);
        assert_eq!(parse_share("NaN"), None);
    }

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
