//! Which exception of the register covers a finding on a given day: the pure matching that
//! the audit's annotation uses (reading the register file is the `exceptions` module's job).

use std::collections::HashMap;
use std::path::PathBuf;

use chrono::NaiveDate;

/// What an exception covers. `None` matches anything; values are lower-cased.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rule {
    pub assignment_id: Option<String>,
    pub access_package_id: Option<String>,
    pub user_id: Option<String>,
    pub resource_type: Option<String>,
    pub resource_id: Option<String>,
    pub role: Option<String>,
    pub category: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exception {
    pub id: String,
    /// The line it was read from, as `` `file` line N ``.
    pub origin: String,
    pub rule: Rule,
    pub reason: String,
    pub approver: String,
    pub ticket: Option<String>,
    /// The last day (UTC) on which it applies.
    pub expires: NaiveDate,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Register {
    pub path: PathBuf,
    pub exceptions: Vec<Exception>,
}

/// A finding's contract columns, as the findings table holds them.
#[derive(Debug, Clone, Copy)]
pub struct FindingKey<'a> {
    pub category: &'a str,
    pub assignment_id: &'a str,
    pub access_package_id: &'a str,
    pub user_id: &'a str,
    pub resource_type: &'a str,
    pub resource_id: &'a str,
    pub role: &'a str,
}

impl Rule {
    pub fn matches(&self, key: &FindingKey) -> bool {
        let field = |wanted: &Option<String>, actual: &str| match wanted {
            None => true,
            Some(wanted) => wanted.eq_ignore_ascii_case(actual),
        };
        field(&self.category, key.category)
            && field(&self.assignment_id, key.assignment_id)
            && field(&self.access_package_id, key.access_package_id)
            && field(&self.user_id, key.user_id)
            && field(&self.resource_type, key.resource_type)
            && field(&self.resource_id, key.resource_id)
            && field(&self.role, key.role)
    }

    /// `assignment 7979…, role member`: for reports.
    pub fn describe(&self) -> String {
        let parts: Vec<String> = [
            ("category", &self.category),
            ("assignment", &self.assignment_id),
            ("package", &self.access_package_id),
            ("user", &self.user_id),
            ("resource type", &self.resource_type),
            ("resource", &self.resource_id),
            ("role", &self.role),
        ]
        .into_iter()
        .filter_map(|(label, value)| value.as_ref().map(|v| format!("{label} {v}")))
        .collect();
        parts.join(", ")
    }
}

impl Exception {
    /// Applies on `today` when `today` is on or before the expiry date.
    pub fn is_active(&self, today: NaiveDate) -> bool {
        today <= self.expires
    }

    /// Days from `today` to the expiry date (negative once expired).
    pub fn days_left(&self, today: NaiveDate) -> i64 {
        (self.expires - today).num_days()
    }
}

/// Which exception covers a finding, and whether it still applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Match {
    /// Index into the register's exceptions.
    pub index: usize,
    pub active: bool,
}

/// Finds the covering exception of many findings quickly: every exception names an
/// assignment, package or resource, so it is indexed under one of them.
pub struct Matcher<'r> {
    exceptions: &'r [Exception],
    today: NaiveDate,
    by_assignment: HashMap<String, Vec<usize>>,
    by_package: HashMap<String, Vec<usize>>,
    by_resource: HashMap<String, Vec<usize>>,
}

impl<'r> Matcher<'r> {
    pub fn new(register: &'r Register, today: NaiveDate) -> Self {
        let mut matcher = Matcher {
            exceptions: &register.exceptions,
            today,
            by_assignment: HashMap::new(),
            by_package: HashMap::new(),
            by_resource: HashMap::new(),
        };
        for (index, exception) in register.exceptions.iter().enumerate() {
            let rule = &exception.rule;
            let (map, key) = if let Some(id) = &rule.assignment_id {
                (&mut matcher.by_assignment, id)
            } else if let Some(id) = &rule.access_package_id {
                (&mut matcher.by_package, id)
            } else if let Some(id) = &rule.resource_id {
                (&mut matcher.by_resource, id)
            } else {
                // `validate` refuses such rules; an unindexed rule could never match.
                continue;
            };
            map.entry(key.clone()).or_default().push(index);
        }
        matcher
    }

    /// The first active exception (in register order) covering the finding; else the first
    /// expired one, so that the report can say what no longer applies.
    pub fn find(&self, key: &FindingKey) -> Option<Match> {
        let mut candidates: Vec<usize> = Vec::new();
        for (map, id) in [
            (&self.by_assignment, key.assignment_id),
            (&self.by_package, key.access_package_id),
            (&self.by_resource, key.resource_id),
        ] {
            if id.is_empty() {
                continue;
            }
            if let Some(found) = map.get(&id.to_lowercase()) {
                candidates.extend(found);
            }
        }
        candidates.sort_unstable();
        candidates.dedup();
        let matching = candidates
            .into_iter()
            .filter(|&index| self.exceptions[index].rule.matches(key));
        let mut expired = None;
        for index in matching {
            if self.exceptions[index].is_active(self.today) {
                return Some(Match {
                    index,
                    active: true,
                });
            }
            expired.get_or_insert(Match {
                index,
                active: false,
            });
        }
        expired
    }
}
