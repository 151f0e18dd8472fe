//! Throttling arithmetic of the fake Graph server: the resource-unit (RU) cost of a request
//! (graph-api.md §6) and a sliding-window RU budget. Pure: time is passed in, never read.

use std::collections::VecDeque;
use std::time::Duration;

/// The shortest `Retry-After` the fake ever sends.
pub const MIN_RETRY_AFTER: Duration = Duration::from_millis(50);

/// The RU cost of a Graph request, from its path below `/v1.0/` (no query, no leading `/`)
/// and the names of its query parameters.
///
/// `groups/{id}/members` 3, `groups/{id}/transitiveMembers` 5, `…/appRoleAssignedTo` and
/// `…/appRoleAssignments` 2, the `users` list 2, anything else 1; then `$select` −1,
/// `$expand` +1, `$top` below 20 −1; never below 1. Entitlement management (assignments,
/// packages, assignment requests and their reprocess) and `roleManagement/directory/…` paths
/// are "anything else": 1 before the query's adjustments.
pub fn resource_units(path: &str, select: bool, expand: bool, top: Option<u64>) -> u64 {
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

/// `Retry-After` as fractional seconds, rounded up to the hundredth so that a client waiting
/// exactly that long finds the budget free: `"0.35"`. Never below [`MIN_RETRY_AFTER`].
pub fn format_retry_after(wait: Duration) -> String {
    let wait = wait.max(MIN_RETRY_AFTER);
    let hundredths = wait.as_micros().div_ceil(10_000);
    format!("{}.{:02}", hundredths / 100, hundredths % 100)
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
    fn retry_after_text() {
        assert_eq!(format_retry_after(ms(350)), "0.35");
        assert_eq!(format_retry_after(ms(1)), "0.05");
        assert_eq!(format_retry_after(Duration::from_micros(351_001)), "0.36");
        assert_eq!(format_retry_after(ms(2000)), "2.00");
        assert_eq!(format_retry_after(ms(12_340)), "12.34");
    }
}
