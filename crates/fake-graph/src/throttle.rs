//! Throttling arithmetic of the fake Graph server: the resource-unit (RU) cost of a request
//! (graph-api.md §6), a sliding-window RU budget and the headers Graph reports it with
//! (`x-ms-throttle-limit-percentage`, `x-ms-throttle-scope`), and the audit log's own
//! per-client request limit (graph-api.md §9). Pure: time is passed in, never read.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use super::audit_log::is_audit_log_path;

/// The shortest `Retry-After` the fake ever sends.
pub const MIN_RETRY_AFTER: Duration = Duration::from_millis(50);

/// The RU cost of a Graph request, from its path below `/v1.0/` (no query, no leading `/`)
/// and the names of its query parameters.
///
/// `groups/{id}/members` 3, `groups/{id}/transitiveMembers` 5, `…/appRoleAssignedTo` and
/// `…/appRoleAssignments` 2, the `users` list 2, anything else 1; then `$select` −1,
/// `$expand` +1, `$top` below 20 −1; never below 1. Entitlement management (assignments,
/// packages, assignment requests and their reprocess) and `roleManagement/directory/…` paths
/// are "anything else": 1 before the query's adjustments, and so are the remedy writes
/// (`…/members/{id}/$ref`, `…/appRoleAssignedTo/{id}`). Writes are charged (the header and
/// the stats) but never spend the RU budget.
///
/// The audit log (`auditLogs/…`) costs 0: the logs and reports APIs are outside the directory
/// budget and limited per request instead ([`ReportsWindows`]).
pub fn resource_units(path: &str, select: bool, expand: bool, top: Option<u64>) -> u64 {
    if is_audit_log_path(path) {
        return 0;
    }
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let base: i64 = match segments.as_slice() {
        ["groups", _, "members"] => 3,
        ["groups", _, "transitiveMembers"] => 5,
        [.., "appRoleAssignedTo"] | [.., "appRoleAssignments"] if segments.len() >= 3 => 2,
        ["users"] => 2,
        _ => 1,
    };
    let mut cost = base;
    if select {
        cost -= 1;
    }
    if expand {
        cost += 1;
    }
    if top.is_some_and(|top| top < 20) {
        cost -= 1;
    }
    cost.max(1) as u64
}

/// What the budget says about one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Admitted; its cost is now spent.
    Admitted,
    /// Over budget: nothing was spent; the budget allows the request again after this long.
    Throttled { retry_after: Duration },
}

/// A budget of `budget` RU per sliding `window`. Times are offsets from any fixed origin
/// (the server uses its start instant; tests use a fake clock).
#[derive(Debug, Clone)]
pub struct SlidingWindow {
    budget: u64,
    window: Duration,
    /// (time spent, cost), oldest first.
    spent: VecDeque<(Duration, u64)>,
    total: u64,
}

impl SlidingWindow {
    pub fn new(budget: u64, window: Duration) -> Self {
        SlidingWindow {
            budget,
            window,
            spent: VecDeque::new(),
            total: 0,
        }
    }

    /// RU spent within the window ending at `now`.
    pub fn spent(&mut self, now: Duration) -> u64 {
        self.expire(now);
        self.total
    }

    /// Spends `cost` at `now` if the window can take it, else says when it could. A request
    /// that costs more than the whole budget is admitted only into an empty window (otherwise
    /// it could never pass).
    pub fn try_spend(&mut self, now: Duration, cost: u64) -> Admission {
        self.expire(now);
        let fits = |total: u64| total == 0 || total + cost <= self.budget;
        if fits(self.total) {
            self.total += cost;
            self.spent.push_back((now, cost));
            return Admission::Admitted;
        }
        // Walk the entries oldest first until enough of the budget has freed.
        let mut remaining = self.total;
        for &(at, entry_cost) in &self.spent {
            remaining -= entry_cost;
            if fits(remaining) {
                let frees_at = at + self.window;
                let wait = frees_at.saturating_sub(now).max(MIN_RETRY_AFTER);
                return Admission::Throttled { retry_after: wait };
            }
        }
        // Unreachable in practice (an empty window always fits); wait a whole window.
        Admission::Throttled {
            retry_after: self.window.max(MIN_RETRY_AFTER),
        }
    }

    /// The [`LIMIT_PERCENTAGE_HEADER`] value for a request that [`SlidingWindow::try_spend`]
    /// just answered at `now` with `admission`: the share of the budget the window holds with
    /// it (admitted), or would have held (throttled: above 1, since it did not fit).
    pub fn limit_percentage(
        &mut self,
        now: Duration,
        cost: u64,
        admission: Admission,
    ) -> Option<String> {
        let spent = self.spent(now);
        let used = match admission {
            Admission::Admitted => spent,
            Admission::Throttled { .. } => spent.saturating_add(cost),
        };
        limit_percentage(used, self.budget)
    }

    fn expire(&mut self, now: Duration) {
        while let Some(&(at, cost)) = self.spent.front() {
            if at + self.window <= now {
                self.total -= cost;
                self.spent.pop_front();
            } else {
                break;
            }
        }
    }
}

/// Sent by Graph only once an application has used more than 0.8 of its budget: the share used, "from 0.8 to 1.8" (a ratio, despite the name).
pub const LIMIT_PERCENTAGE_HEADER: &str = "x-ms-throttle-limit-percentage";
/// On a throttled answer: which limit, `<Scope>/<Limit>/<ApplicationId>/<TenantId>`.
pub const SCOPE_HEADER: &str = "x-ms-throttle-scope";
/// On a throttled answer: why, for diagnostics.
pub const INFORMATION_HEADER: &str = "x-ms-throttle-information";
/// The share of the budget above which answers carry [`LIMIT_PERCENTAGE_HEADER`], in tenths
/// (Graph's 0.8).
pub const WARNING_SHARE_TENTHS: u64 = 8;
/// The largest value [`LIMIT_PERCENTAGE_HEADER`] takes, in hundredths (1.8).
pub const MAX_LIMIT_HUNDREDTHS: u64 = 180;

/// The [`LIMIT_PERCENTAGE_HEADER`] value for `used` RU of a `budget`: `None` unless `used` is
/// more than [`WARNING_SHARE_TENTHS`] tenths of it, else the share with two decimals, capped at 1.8.
///
/// Rounded *up* to the hundredth: a client that learns the budget as (RU it spent) / share
/// then never learns more than the real budget, and a value is never `0.80` when Graph says
/// it is sent only above 0.8. Integer arithmetic, so that exactly 0.8 never warns.
pub fn limit_percentage(used: u64, budget: u64) -> Option<String> {
    let (used, budget) = (u128::from(used), u128::from(budget));
    if used * 10 <= budget * u128::from(WARNING_SHARE_TENTHS) {
        return None;
    }
    let hundredths = if budget == 0 {
        u128::from(MAX_LIMIT_HUNDREDTHS)
    } else {
        (used * 100)
            .div_ceil(budget)
            .min(u128::from(MAX_LIMIT_HUNDREDTHS))
    };
    Some(format!("{}.{:02}", hundredths / 100, hundredths % 100))
}

/// The [`SCOPE_HEADER`] value of a `429` from the RU budget: the budget is per application
/// and tenant, for reads (writes are never throttled by it).
pub fn throttle_scope(client: &str, tenant: &str) -> String {
    format!("Tenant_Application/Read/{client}/{tenant}")
}

/// `Retry-After` as fractional seconds, rounded up to the hundredth so that a client waiting
/// exactly that long finds the budget free: `"0.35"`. Never below [`MIN_RETRY_AFTER`].
pub fn format_retry_after(wait: Duration) -> String {
    let wait = wait.max(MIN_RETRY_AFTER);
    let hundredths = wait.as_micros().div_ceil(10_000);
    format!("{}.{:02}", hundredths / 100, hundredths % 100)
}

/// The logs and reports APIs' own limit: `requests` per sliding `window` per client (app),
/// counted in requests, not resource units (graph-api.md §9: 5 per 10 s).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReportsLimit {
    pub requests: u64,
    pub window: Duration,
}

impl ReportsLimit {
    /// Graph's published limit, and the fake's default.
    pub const DEFAULT: ReportsLimit = ReportsLimit {
        requests: 5,
        window: Duration::from_secs(10),
    };

    /// Parses `N/SECONDS`, both whole numbers of at least 1: `5/10`.
    pub fn parse(text: &str) -> Result<ReportsLimit, String> {
        let usage = "expected N/SECONDS with both whole numbers of at least 1, e.g. 5/10 (to turn the limit off, --no-reports-limit)";
        let (requests, seconds) = text
            .split_once('/')
            .ok_or_else(|| format!("`{text}`: {usage}"))?;
        let number = |part: &str| part.trim().parse::<u64>().ok().filter(|&n| n >= 1);
        match (number(requests), number(seconds)) {
            (Some(requests), Some(seconds)) => Ok(ReportsLimit {
                requests,
                window: Duration::from_secs(seconds),
            }),
            _ => Err(format!("`{text}`: {usage}")),
        }
    }

    pub fn check(&self) -> Result<(), String> {
        if self.requests == 0 || self.window.is_zero() {
            return Err(
                "the reports limit needs at least 1 request per window of at least 1 s".into(),
            );
        }
        Ok(())
    }
}

impl std::fmt::Display for ReportsLimit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.requests, self.window.as_secs_f64())
    }
}

/// One [`ReportsLimit`] window per client id (compared case-insensitively): one app's
/// requests never throttle another's.
#[derive(Debug, Clone)]
pub struct ReportsWindows {
    limit: ReportsLimit,
    windows: HashMap<String, SlidingWindow>,
}

impl ReportsWindows {
    pub fn new(limit: ReportsLimit) -> Self {
        ReportsWindows {
            limit,
            windows: HashMap::new(),
        }
    }

    /// Counts one request of `client` at `now` if its window has room, else says when it
    /// will (nothing is counted then).
    pub fn admit(&mut self, client: &str, now: Duration) -> Admission {
        let limit = self.limit;
        self.windows
            .entry(client.to_ascii_lowercase())
            .or_insert_with(|| SlidingWindow::new(limit.requests, limit.window))
            .try_spend(now, 1)
    }
}

/// `Retry-After` in whole seconds, rounded up so that a client waiting that long finds room,
/// and at least 1 (the reports APIs answer in whole seconds).
pub fn retry_after_seconds(wait: Duration) -> u64 {
    wait.as_nanos().div_ceil(1_000_000_000).max(1) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn cost_table() {
        let cases: &[(&str, bool, bool, Option<u64>, u64)] = &[
            ("groups/g1/members", false, false, None, 3),
            ("groups/g1/members", true, false, Some(999), 2),
            ("groups/g1/members", true, false, Some(5), 1),
            ("groups/g1/transitiveMembers", false, false, None, 5),
            ("groups/g1/transitiveMembers", false, true, None, 6),
            (
                "servicePrincipals/s/appRoleAssignedTo",
                false,
                false,
                None,
                2,
            ),
            (
                "servicePrincipals/s/appRoleAssignments",
                false,
                false,
                Some(1),
                1,
            ),
            ("users/u/appRoleAssignments", true, false, None, 1),
            ("users", false, false, None, 2),
            ("users", true, false, Some(19), 1),
            ("users", false, false, Some(20), 2),
            ("users/u1", false, false, None, 1),
            ("groups/g1", true, false, Some(1), 1),
            ("groups/g1/owners", false, false, None, 1),
            (
                "identityGovernance/entitlementManagement/assignments",
                false,
                true,
                None,
                2,
            ),
            (
                "identityGovernance/entitlementManagement/accessPackages/p",
                false,
                true,
                None,
                2,
            ),
            ("/groups/g1/members/", false, false, None, 3),
            (
                "roleManagement/directory/roleAssignments",
                false,
                false,
                None,
                1,
            ),
            (
                "roleManagement/directory/roleAssignments",
                true,
                true,
                None,
                1,
            ),
            (
                "roleManagement/directory/roleAssignments",
                false,
                true,
                None,
                2,
            ),
            (
                "roleManagement/directory/roleEligibilitySchedules",
                false,
                false,
                Some(999),
                1,
            ),
            (
                "identityGovernance/entitlementManagement/assignmentRequests",
                false,
                false,
                None,
                1,
            ),
            (
                "identityGovernance/entitlementManagement/assignmentRequests/r/reprocess",
                false,
                false,
                None,
                1,
            ),
            ("auditLogs/directoryAudits", false, false, None, 0),
            ("auditlogs/directoryaudits", true, true, Some(5), 0),
        ];
        for &(path, select, expand, top, expected) in cases {
            assert_eq!(
                resource_units(path, select, expand, top),
                expected,
                "{path} select={select} expand={expand} top={top:?}"
            );
        }
    }

    #[test]
    fn window_admits_until_budget_then_frees_oldest_first() {
        let mut w = SlidingWindow::new(10, ms(1000));
        assert_eq!(w.try_spend(ms(0), 4), Admission::Admitted);
        assert_eq!(w.try_spend(ms(300), 3), Admission::Admitted);
        assert_eq!(w.try_spend(ms(600), 3), Admission::Admitted);
        assert_eq!(w.spent(ms(600)), 10);
        // Needs 2: the first entry (4 RU at t=0) frees at t=1000.
        assert_eq!(
            w.try_spend(ms(650), 2),
            Admission::Throttled {
                retry_after: ms(350)
            }
        );
        // A throttled request spends nothing.
        assert_eq!(w.spent(ms(650)), 10);
        // Needs 6: the first two entries must go; the second frees at t=1300.
        assert_eq!(
            w.try_spend(ms(700), 6),
            Admission::Throttled {
                retry_after: ms(600)
            }
        );
        assert_eq!(w.try_spend(ms(1000), 2), Admission::Admitted);
        assert_eq!(w.spent(ms(1000)), 8);
        assert_eq!(w.spent(ms(1600)), 2);
        assert_eq!(w.spent(ms(2000)), 0);
    }

    #[test]
    fn retry_after_has_a_floor_and_oversized_requests_need_an_empty_window() {
        let mut w = SlidingWindow::new(5, ms(100));
        assert_eq!(w.try_spend(ms(0), 5), Admission::Admitted);
        assert_eq!(
            w.try_spend(ms(99), 1),
            Admission::Throttled {
                retry_after: MIN_RETRY_AFTER
            }
        );
        // Costs more than the budget: admitted once the window is empty, not before.
        assert_eq!(
            w.try_spend(ms(50), 7),
            Admission::Throttled {
                retry_after: ms(50)
            }
        );
        assert_eq!(w.try_spend(ms(100), 7), Admission::Admitted);
        assert_eq!(w.spent(ms(100)), 7);
    }

    #[test]
    fn limit_percentage_only_above_four_fifths_rounded_up_and_capped() {
        let cases: &[(u64, u64, Option<&str>)] = &[
            (0, 10, None),
            (8, 10, None),
            (80, 100, None),
            (800, 1000, None),
            (801, 1000, Some("0.81")),
            (81, 100, Some("0.81")),
            (9, 10, Some("0.90")),
            (5, 6, Some("0.84")),
            (10, 10, Some("1.00")),
            (11, 10, Some("1.10")),
            (18, 10, Some("1.80")),
            (19, 10, Some("1.80")),
            (u64::MAX, 3, Some("1.80")),
            (u64::MAX, u64::MAX, Some("1.00")),
            (0, 0, None),
            (1, 0, Some("1.80")),
        ];
        for &(used, budget, expected) in cases {
            assert_eq!(
                limit_percentage(used, budget).as_deref(),
                expected,
                "{used}/{budget}"
            );
        }
    }

    #[test]
    fn window_reports_the_share_after_admitting_and_what_a_refused_request_would_bring() {
        let mut w = SlidingWindow::new(10, ms(1000));
        let mut spend = |at: u64, cost: u64| {
            let admission = w.try_spend(ms(at), cost);
            (admission, w.limit_percentage(ms(at), cost, admission))
        };
        assert_eq!(spend(0, 8), (Admission::Admitted, None), "exactly 0.8");
        assert_eq!(spend(1, 1), (Admission::Admitted, Some("0.90".into())));
        let (admission, percentage) = spend(2, 2);
        assert!(matches!(admission, Admission::Throttled { .. }));
        assert_eq!(percentage.as_deref(), Some("1.10"), "9 spent + 2 asked");
        assert_eq!(spend(3, 1), (Admission::Admitted, Some("1.00".into())));
        // The 8 RU of t=0 leave the window at t=1000: 1 + 1 + 1 of 10.
        assert_eq!(spend(1000, 1), (Admission::Admitted, None));

        // A request costing more than the budget enters an empty window: over 1 when admitted.
        let mut small = SlidingWindow::new(2, ms(1000));
        let admission = small.try_spend(ms(0), 3);
        assert_eq!(admission, Admission::Admitted);
        assert_eq!(
            small.limit_percentage(ms(0), 3, admission).as_deref(),
            Some("1.50")
        );
        let admission = small.try_spend(ms(1), 3);
        assert_eq!(
            small.limit_percentage(ms(1), 3, admission).as_deref(),
            Some("1.80"),
            "6 of 2, capped"
        );
        assert_eq!(
            throttle_scope("app-1", "tenant-1"),
            "Tenant_Application/Read/app-1/tenant-1"
        );
    }

    #[test]
    fn retry_after_text() {
        assert_eq!(format_retry_after(ms(350)), "0.35");
        assert_eq!(format_retry_after(ms(1)), "0.05");
        assert_eq!(format_retry_after(Duration::from_micros(351_001)), "0.36");
        assert_eq!(format_retry_after(ms(2000)), "2.00");
        assert_eq!(format_retry_after(ms(12_340)), "12.34");
    }

    #[test]
    fn reports_limit_counts_requests_per_client() {
        let s = Duration::from_secs;
        let mut windows = ReportsWindows::new(ReportsLimit::DEFAULT);
        for i in 0..5 {
            assert_eq!(
                windows.admit("App-1", s(i)),
                Admission::Admitted,
                "request {i}"
            );
        }
        // The 6th inside 10 s waits for the first to leave the window (t=10 s).
        assert_eq!(
            windows.admit("app-1", ms(5500)),
            Admission::Throttled {
                retry_after: ms(4500)
            }
        );
        assert_eq!(windows.admit("app-2", ms(5500)), Admission::Admitted);
        assert_eq!(windows.admit("APP-1", s(10)), Admission::Admitted);
        assert_eq!(
            windows.admit("app-1", s(10)),
            Admission::Throttled { retry_after: s(1) }
        );
        assert_eq!(windows.admit("app-1", s(11)), Admission::Admitted);
    }

    #[test]
    fn reports_limit_parses_and_rounds_retry_after_up() {
        assert_eq!(ReportsLimit::parse("5/10"), Ok(ReportsLimit::DEFAULT));
        assert_eq!(
            ReportsLimit::parse(" 1 / 1 "),
            Ok(ReportsLimit {
                requests: 1,
                window: Duration::from_secs(1)
            })
        );
        for bad in [
            "", "5", "5/", "/10", "0/10", "5/0", "5/1.5", "-1/10", "a/b", "5/10/2",
        ] {
            assert!(ReportsLimit::parse(bad).is_err(), "{bad:?}");
        }
        assert_eq!(ReportsLimit::DEFAULT.to_string(), "5/10");
        assert!(ReportsLimit::DEFAULT.check().is_ok());
        assert!(ReportsLimit {
            requests: 0,
            window: Duration::from_secs(1)
        }
        .check()
        .is_err());
        assert_eq!(retry_after_seconds(ms(4500)), 5);
        assert_eq!(retry_after_seconds(ms(1)), 1);
        assert_eq!(retry_after_seconds(Duration::ZERO), 1);
        assert_eq!(retry_after_seconds(ms(10_000)), 10);
        assert_eq!(
            retry_after_seconds(Duration::from_nanos(10_000_000_001)),
            11
        );
    }
}
