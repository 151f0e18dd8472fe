//! Marks the audited findings with what a run knows beyond its snapshot: when each finding was
//! first seen (from the previous run), and which exception covers it. Pure: the previous run
//! and the register are read by `history` and `exceptions`; this only joins them on the
//! contract's seven key columns and adds columns after the existing ones.
//!
//! History is kept by UTC day: a finding is `new` on the day it was first seen and
//! `persisting` from the next day on. Several runs on one day are one observation, so
//! re-running an audit the same day gives the same `findings.csv` byte for byte.

use std::collections::HashMap;

use chrono::NaiveDate;
use polars::prelude::*;

use super::col;
use super::exceptions::{FindingKey, Matcher, Register};
use super::rows::StringRows;
use crate::error::{FrameContext, Result};

pub const STATUS_NEW: &str = "new";
pub const STATUS_PERSISTING: &str = "persisting";
pub const EXCEPTION_ACTIVE: &str = "active";
pub const EXCEPTION_EXPIRED: &str = "expired";
/// `plan_skip_reason` of an excepted finding starts with this.
pub const SKIP_EXCEPTED: &str = "excepted:";

/// A finding's identity across runs: the contract's seven columns.
pub type Key = [String; 7];

/// Reviewer names kept for a resolved finding (the finding itself is gone from the snapshot).
pub const NAME_COLUMNS: [&str; 5] = [
    col::USER_NAME,
    col::USER_UPN,
    col::PACKAGE_NAME,
    col::RESOURCE_NAME,
    col::ROLE_NAME,
];

/// One finding of the previous run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreviousRow {
    pub key: Key,
    pub first_seen: NaiveDate,
    pub names: [String; 5],
}

/// The previous run of the same tenant: its folder name, day and findings.
#[derive(Debug, Clone)]
pub struct Previous {
    pub run: String,
    pub date: NaiveDate,
    pub rows: Vec<PreviousRow>,
    index: HashMap<Key, usize>,
}

impl Previous {
    pub fn new(run: String, date: NaiveDate, rows: Vec<PreviousRow>) -> Self {
        let index = rows
            .iter()
            .enumerate()
            .map(|(i, row)| (row.key.clone(), i))
            .collect();
        Previous {
            run,
            date,
            rows,
            index,
        }
    }

    fn get(&self, key: &Key) -> Option<&PreviousRow> {
        self.index.get(key).map(|&i| &self.rows[i])
    }
}

/// A finding of the previous run that this run no longer has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    pub key: Key,
    pub names: [String; 5],
    pub first_seen: NaiveDate,
    pub last_seen: NaiveDate,
    pub resolved_on: NaiveDate,
    pub days_open: i64,
}

/// Counts of one exception's use in this run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ExceptionUse {
    /// Findings it covers today.
    pub applied: usize,
    /// Findings it would cover had it not expired.
    pub expired_matches: usize,
}

#[derive(Debug)]
pub struct Annotated {
    pub findings: DataFrame,
    /// In the previous run's order; empty without a previous run.
    pub resolved: Vec<Resolved>,
    pub new: usize,
    pub persisting: usize,
    pub excepted: usize,
    /// One entry per register exception, in register order.
    pub exception_use: Vec<ExceptionUse>,
}

/// Adds `first_seen, days_open, status, exception, exception_state`; excepted findings get
/// `in_plan = no` and a `plan_skip_reason` starting with `excepted:`.
pub fn annotate(
    findings: DataFrame,
    previous: Option<&Previous>,
    register: Option<&Register>,
    today: NaiveDate,
) -> Result<Annotated> {
    let height = findings.height();
    let rows = StringRows::new(
        &findings,
        &[
            col::CATEGORY,
            col::ASSIGNMENT_ID,
            col::PACKAGE_ID,
            col::USER_ID,
            col::RESOURCE_TYPE,
            col::RESOURCE_ID,
            col::ROLE,
            col::IN_PLAN,
            col::SKIP_REASON,
        ],
    )?;
    let matcher = register.map(|r| Matcher::new(r, today));
    let mut exception_use =
        vec![ExceptionUse::default(); register.map_or(0, |r| r.exceptions.len())];
    // Only a previous run is compared by key: without one, no key is made.
    let mut seen_keys: HashMap<Key, ()> = match previous {
        Some(_) => HashMap::with_capacity(height),
        None => HashMap::new(),
    };
    let today_text = today.format("%Y-%m-%d").to_string();

    let mut first_seen = Vec::with_capacity(height);
    let mut days_open = Vec::with_capacity(height);
    let mut status = Vec::with_capacity(height);
    let mut exception = Vec::with_capacity(height);
    let mut exception_state = Vec::with_capacity(height);
    let mut in_plan = Vec::with_capacity(height);
    let mut skip = Vec::with_capacity(height);
    let (mut new, mut persisting, mut excepted) = (0, 0, 0);

    for row in rows.iter() {
        let key: Option<Key> = previous.map(|_| std::array::from_fn(|i| row[i].to_string()));
        let first = previous
            .zip(key.as_ref())
            .and_then(|(p, key)| p.get(key))
            .map(|p| p.first_seen)
            .unwrap_or(today)
            .min(today);
        let is_new = first == today;
        if is_new {
            new += 1;
            first_seen.push(today_text.clone());
            days_open.push("0".to_string());
        } else {
            persisting += 1;
            first_seen.push(first.format("%Y-%m-%d").to_string());
            days_open.push((today - first).num_days().to_string());
        }
        status.push(if is_new {
            STATUS_NEW
        } else {
            STATUS_PERSISTING
        });

        let found = matcher.as_ref().and_then(|m| {
            m.find(&FindingKey {
                category: row[0],
                assignment_id: row[1],
                access_package_id: row[2],
                user_id: row[3],
                resource_type: row[4],
                resource_id: row[5],
                role: row[6],
            })
        });
        match (found, register) {
            (Some(found), Some(register)) => {
                let covering = &register.exceptions[found.index];
                exception.push(covering.id.clone());
                if found.active {
                    exception_use[found.index].applied += 1;
                    excepted += 1;
                    exception_state.push(EXCEPTION_ACTIVE);
                    in_plan.push("no".to_string());
                    skip.push(format!(
                        "{SKIP_EXCEPTED} {} ({}; approved by {}; until {})",
                        covering.id, covering.reason, covering.approver, covering.expires
                    ));
                } else {
                    exception_use[found.index].expired_matches += 1;
                    exception_state.push(EXCEPTION_EXPIRED);
                    in_plan.push(row[7].to_string());
                    skip.push(row[8].to_string());
                }
            }
            _ => {
                exception.push(String::new());
                exception_state.push("");
                in_plan.push(row[7].to_string());
                skip.push(row[8].to_string());
            }
        }
        if let Some(key) = key {
            seen_keys.insert(key, ());
        }
    }

    let resolved = previous
        .map(|p| {
            p.rows
                .iter()
                .filter(|row| !seen_keys.contains_key(&row.key))
                .map(|row| Resolved {
                    key: row.key.clone(),
                    names: row.names.clone(),
                    first_seen: row.first_seen,
                    last_seen: p.date,
                    resolved_on: today,
                    days_open: (today - row.first_seen).num_days().max(0),
                })
                .collect()
        })
        .unwrap_or_default();

    let mut findings = findings;
    for column in [
        Column::new(col::IN_PLAN.into(), in_plan),
        Column::new(col::SKIP_REASON.into(), skip),
        Column::new(col::FIRST_SEEN.into(), first_seen),
        Column::new(col::DAYS_OPEN.into(), days_open),
        Column::new(col::STATUS.into(), status),
        Column::new(col::EXCEPTION.into(), exception),
        Column::new(col::EXCEPTION_STATE.into(), exception_state),
    ] {
        // Replaces a same-named column in place, so existing columns keep their position.
        findings.with_column(column).frame("annotating findings")?;
    }
    Ok(Annotated {
        findings,
        resolved,
        new,
        persisting,
        excepted,
        exception_use,
    })
}

/// One exception as the run saw it, for the Exceptions sheet and `exceptions.csv`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExceptionRow {
    pub id: String,
    pub covers: String,
    pub reason: String,
    pub approver: String,
    pub ticket: String,
    pub expires: NaiveDate,
    /// `active` or `expired`.
    pub state: &'static str,
    /// Days until expiry (negative: days since).
    pub days_left: i64,
    /// Findings it covered (active) or would have covered (expired).
    pub findings: usize,
    pub origin: String,
}

/// The register in its order, each exception with its state today and its use in this run.
pub fn exception_rows(
    register: &Register,
    uses: &[ExceptionUse],
    today: NaiveDate,
) -> Vec<ExceptionRow> {
    register
        .exceptions
        .iter()
        .zip(
            uses.iter()
                .copied()
                .chain(std::iter::repeat(ExceptionUse::default())),
        )
        .map(|(exception, used)| ExceptionRow {
            id: exception.id.clone(),
            covers: exception.rule.describe(),
            reason: exception.reason.clone(),
            approver: exception.approver.clone(),
            ticket: exception.ticket.clone().unwrap_or_default(),
            expires: exception.expires,
            state: if exception.is_active(today) {
                EXCEPTION_ACTIVE
            } else {
                EXCEPTION_EXPIRED
            },
            days_left: exception.days_left(today),
            findings: used.applied + used.expired_matches,
            origin: exception.origin.clone(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::exceptions::{Exception, Rule};

    fn day(text: &str) -> NaiveDate {
        NaiveDate::parse_from_str(text, "%Y-%m-%d").unwrap()
    }

    /// Findings with the columns `annotate` reads: `(assignment, user, role, in_plan)`.
    fn findings(rows: &[(&'static str, &'static str, &'static str, &'static str)]) -> DataFrame {
        type Row = (&'static str, &'static str, &'static str, &'static str);
        let column = |name: &str, values: Vec<&str>| Column::new(name.into(), values);
        let pick = |f: fn(&Row) -> &'static str| rows.iter().map(f).collect::<Vec<&str>>();
        let n = rows.len();
        DataFrame::new(
            n,
            vec![
                column(col::CATEGORY, vec!["missing_access"; n]),
                column(col::ASSIGNMENT_ID, pick(|r| r.0)),
                column(col::PACKAGE_ID, vec!["p"; n]),
                column(col::USER_ID, pick(|r| r.1)),
                column(col::RESOURCE_TYPE, vec!["group"; n]),
                column(col::RESOURCE_ID, vec!["g"; n]),
                column(col::ROLE, pick(|r| r.2)),
                column(col::IN_PLAN, pick(|r| r.3)),
                column(col::SKIP_REASON, vec![""; n]),
            ],
        )
        .unwrap()
    }

    fn key(assignment: &str, user: &str, role: &str) -> Key {
        ["missing_access", assignment, "p", user, "group", "g", role].map(str::to_string)
    }

    fn text(frame: &DataFrame, name: &str) -> Vec<String> {
        StringRows::new(frame, &[name])
            .unwrap()
            .iter()
            .map(|row| row[0].to_string())
            .collect()
    }

    #[test]
    fn first_seen_carries_over_and_gone_findings_are_resolved() {
        let previous = Previous::new(
            "20261101T060000Z".into(),
            day("2026-11-01"),
            vec![
                PreviousRow {
                    key: key("a1", "u1", "member"),
                    first_seen: day("2026-10-25"),
                    names: Default::default(),
                },
                PreviousRow {
                    key: key("a2", "u2", "member"),
                    first_seen: day("2026-11-01"),
                    names: Default::default(),
                },
            ],
        );
        let frame = findings(&[("a1", "u1", "member", "yes"), ("a3", "u3", "owner", "yes")]);
        let annotated = annotate(frame, Some(&previous), None, day("2026-11-08")).unwrap();
        assert_eq!(
            text(&annotated.findings, col::FIRST_SEEN),
            ["2026-10-25", "2026-11-08"]
        );
        assert_eq!(text(&annotated.findings, col::DAYS_OPEN), ["14", "0"]);
        assert_eq!(
            text(&annotated.findings, col::STATUS),
            ["persisting", "new"]
        );
        assert_eq!((annotated.new, annotated.persisting), (1, 1));
        assert_eq!(annotated.resolved.len(), 1);
        let resolved = &annotated.resolved[0];
        assert_eq!(resolved.key, key("a2", "u2", "member"));
        assert_eq!(
            (resolved.last_seen, resolved.resolved_on, resolved.days_open),
            (day("2026-11-01"), day("2026-11-08"), 7)
        );
    }

    #[test]
    fn a_finding_first_seen_today_is_new_in_every_run_of_the_day() {
        let previous = Previous::new(
            "20261108T060000Z".into(),
            day("2026-11-08"),
            vec![PreviousRow {
                key: key("a1", "u1", "member"),
                first_seen: day("2026-11-08"),
                names: Default::default(),
            }],
        );
        let frame = findings(&[("a1", "u1", "member", "yes")]);
        let annotated = annotate(frame, Some(&previous), None, day("2026-11-08")).unwrap();
        assert_eq!(text(&annotated.findings, col::STATUS), ["new"]);
        assert!(annotated.resolved.is_empty());
    }

    #[test]
    fn active_exceptions_take_findings_out_of_the_plan_and_expired_ones_do_not() {
        let exception = |id: &str, assignment: &str, expires: &str| Exception {
            id: id.into(),
            origin: "`x.csv` line 2".into(),
            rule: Rule {
                assignment_id: Some(assignment.into()),
                ..Rule::default()
            },
            reason: "accepted".into(),
            approver: "CISO".into(),
            ticket: None,
            expires: day(expires),
        };
        let register = Register {
            path: "x.csv".into(),
            exceptions: vec![
                exception("EX-1", "a1", "2026-12-31"),
                exception("EX-2", "a2", "2026-11-30"),
            ],
        };
        let frame = findings(&[
            ("a1", "u1", "member", "yes"),
            ("a2", "u2", "member", "yes"),
            ("a3", "u3", "member", "yes"),
        ]);
        let annotated = annotate(frame, None, Some(&register), day("2026-12-01")).unwrap();
        let frame = &annotated.findings;
        assert_eq!(text(frame, col::EXCEPTION), ["EX-1", "EX-2", ""]);
        assert_eq!(text(frame, col::EXCEPTION_STATE), ["active", "expired", ""]);
        assert_eq!(text(frame, col::IN_PLAN), ["no", "yes", "yes"]);
        assert_eq!(
            text(frame, col::SKIP_REASON)[0],
            "excepted: EX-1 (accepted; approved by CISO; until 2026-12-31)"
        );
        assert_eq!(annotated.excepted, 1);
        let rows = exception_rows(&register, &annotated.exception_use, day("2026-12-01"));
        assert_eq!(
            (rows[0].state, rows[0].findings, rows[0].days_left),
            ("active", 1, 30)
        );
        assert_eq!(
            (rows[1].state, rows[1].findings, rows[1].days_left),
            ("expired", 1, -1)
        );
        // Columns keep their order: the annotations come last.
        let names: Vec<String> = frame
            .get_column_names()
            .iter()
            .map(|n| n.to_string())
            .collect();
        assert_eq!(names[7], col::IN_PLAN);
        assert_eq!(&names[names.len() - 5..], col::ANNOTATIONS);
    }
}
