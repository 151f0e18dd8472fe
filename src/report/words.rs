//! The words the views use: a heading for every findings column, one sentence for every value
//! a reviewer meets (category, status, cause, action, ...), and who each open finding waits
//! for. The CSV keeps the contract's names; the workbook and the page speak these words and
//! define the codes they still show.

use polars::prelude::DataFrame;

use crate::audit::annotate::{EXCEPTION_ACTIVE, EXCEPTION_EXPIRED, STATUS_NEW, STATUS_PERSISTING};
use crate::audit::causes::{BEFORE_LOG_WINDOW, LOG_UNREADABLE, NOT_IN_LOG, OUTSIDE_DIRECTORY_LOG};
use crate::audit::rows::StringRows;
use crate::audit::{col, CATEGORIES, CATEGORY_TITLES, UNVERIFIABLE};
use crate::error::Result;
use crate::plan::remedy::Action;
use crate::plan::Plan;
use crate::snapshot::events::{ADDED, DELETED, REMOVED};
use crate::snapshot::read_status::NOT_FOUND_REASON;

/// A findings column's heading in the workbook and on the page, and what it holds.
pub fn column(name: &str) -> (&'static str, &'static str) {
    match name {
        col::CATEGORY => ("Category", "Which of the five kinds of finding this is (below)."),
        col::ASSIGNMENT_ID => ("Assignment id", "The access package assignment's id in Entra."),
        col::PACKAGE_ID => ("Access package id", "The access package's id in Entra."),
        col::USER_ID => ("User id", "The user's object id in Entra."),
        col::RESOURCE_TYPE => (
            "Resource type",
            "group, application, directory_role or sharepoint_site.",
        ),
        col::RESOURCE_ID => (
            "Resource id",
            "The group's or service principal's object id, the role's definition id, or the site's address.",
        ),
        col::ROLE => (
            "Role id",
            "member or owner for a group, the app role's id, eligible or active for a directory role, the site group's number.",
        ),
        col::USER_NAME => ("User", "The user's display name."),
        col::USER_UPN => ("Sign-in name", "The user's user principal name (UPN)."),
        col::USER_ENABLED => (
            "Account enabled",
            "yes or no: whether the user can sign in; unknown when the directory did not say.",
        ),
        col::PACKAGE_NAME => ("Access package", "The access package's display name."),
        col::RESOURCE_NAME => (
            "Resource",
            "The group's, application's, directory role's or site's own name.",
        ),
        col::ROLE_NAME => ("Role", "The role on the resource, as the package names it."),
        col::STATE => (
            "Assignment state",
            "The assignment's state in entitlement management (delivered, partiallydelivered, deliveryfailed, ...).",
        ),
        col::REASON => (
            "Reason code",
            "A short code for what the audit saw: not_held, not in the directory, unreadable: 403 ...",
        ),
        col::DETAIL => ("What is wrong", "The finding in one sentence."),
        col::IN_PLAN => (
            "In plan",
            "yes when the Plan sheet holds an item for the finding; no, and the Plan note says why.",
        ),
        col::SKIP_REASON => (
            "Plan note",
            "Why the finding is not in the plan, or what its plan item waits for.",
        ),
        col::FIRST_SEEN => ("First seen", "The date of the first run that found it."),
        col::DAYS_OPEN => ("Days open", "Days since it was first seen."),
        col::STATUS => ("Status", "new or persisting (below)."),
        col::EXCEPTION => ("Exception", "The register's exception that covers it, if any."),
        col::EXCEPTION_STATE => ("Exception state", "active or expired (below)."),
        col::CAUSE => ("Cause", "What the audit log says happened (below)."),
        col::CAUSE_TIME => ("Cause time (UTC)", "When the audit log's event happened."),
        col::CAUSE_ACTOR => (
            "Caused by",
            "The person (sign-in name) or the application that made the change.",
        ),
        col::CAUSE_ACTOR_ID => ("Caused by (id)", "The actor's object id."),
        col::CAUSE_ACTOR_KIND => ("Kind of actor", "user, application, entitlement_management or sync (below)."),
        col::CAUSE_ACTIVITY => ("Audit log activity", "The event's activity name in the audit log."),
        col::CAUSE_CORRELATION_ID => (
            "Audit log correlation id",
            "Finds the event in the Entra admin center's audit log.",
        ),
        _ => ("", ""),
    }
}

/// A column's heading, or its own name where it has none.
pub fn heading(name: &str) -> &str {
    match column(name).0 {
        "" => name,
        words => words,
    }
}

/// One group of defined values: its title, the column that shows them, and each value with
/// its sentence.
pub struct Terms {
    pub title: &'static str,
    pub column: &'static str,
    pub values: Vec<(&'static str, &'static str)>,
}

/// Every value a reviewer meets in a findings column or on the Plan sheet, defined.
pub fn glossary() -> Vec<Terms> {
    let categories = CATEGORIES
        .iter()
        .zip(CATEGORY_TITLES)
        .map(|(code, _)| (*code, category(code)))
        .collect();
    vec![
        Terms {
            title: "Categories",
            column: col::CATEGORY,
            values: categories,
        },
        Terms {
            title: "Reason codes",
            column: col::REASON,
            values: vec![
                (
                    "not_held",
                    "The resource was read completely and the user is not among its holders (the brackets say how holders were matched).",
                ),
                (
                    NOT_FOUND_REASON,
                    "The group, application or site does not exist (Graph answered 404, or a recording lacks it).",
                ),
                (
                    "unreadable: ...",
                    "The read was refused or failed; the words after the colon say how (a 403 names the missing permission).",
                ),
                (
                    "target_has_no_object_id",
                    "The package names a resource without an object id, so there is nothing to read.",
                ),
                (
                    "deliveryfailed, partiallydelivered",
                    "The assignment's own state (Not delivered findings).",
                ),
                (
                    "no_assignment",
                    "No delivered, delivering or partially delivered assignment of the user grants the role.",
                ),
            ],
        },
        Terms {
            title: "Status",
            column: col::STATUS,
            values: vec![
                (STATUS_NEW, "Found for the first time in this run."),
                (
                    STATUS_PERSISTING,
                    "Also found by the previous run; Days open counts from the first run that found it.",
                ),
                (
                    "resolved",
                    "(Resolved sheet) Found by the previous run and no longer found by this one.",
                ),
            ],
        },
        Terms {
            title: "Exception state",
            column: col::EXCEPTION_STATE,
            values: vec![
                (
                    EXCEPTION_ACTIVE,
                    "An exception in the register covers the finding until it expires: it is reported, not planned.",
                ),
                (
                    EXCEPTION_EXPIRED,
                    "An exception covered the finding but has expired: the finding is planned again.",
                ),
            ],
        },
        Terms {
            title: "Causes",
            column: col::CAUSE,
            values: vec![
                (REMOVED, "The audit log shows who removed the access, and when."),
                (ADDED, "The audit log shows who added the access, and when."),
                (DELETED, "The audit log shows who deleted the resource, and when."),
                (
                    NOT_IN_LOG,
                    "No event, although the log covers the finding's whole life: the change did not go through the directory.",
                ),
                (
                    BEFORE_LOG_WINDOW,
                    "No event, and the change may be older than the audit log reaches back.",
                ),
                (
                    LOG_UNREADABLE,
                    "The audit log was not read (refused or failed), so no cause is known.",
                ),
                (
                    OUTSIDE_DIRECTORY_LOG,
                    "A SharePoint site role: it changes in SharePoint's own audit log, which the directory log does not show.",
                ),
                ("(empty)", "No cause applies: the finding is not about a change of access."),
            ],
        },
        Terms {
            title: "Kinds of actor",
            column: col::CAUSE_ACTOR_KIND,
            values: vec![
                ("user", "A person, in the admin center or with their own tools."),
                ("application", "A script or tool signed in as an application."),
                (
                    "entitlement_management",
                    "Entitlement management itself (for example an expiry or a policy).",
                ),
                ("sync", "Directory synchronisation (Entra Connect)."),
            ],
        },
        Terms {
            title: "Actions (Plan sheet)",
            column: "action",
            values: Action::ALL.iter().map(|a| (a.as_str(), action(*a))).collect(),
        },
    ]
}

/// A category in one sentence.
pub fn category(code: &str) -> &'static str {
    match code {
        crate::audit::MISSING_ACCESS => {
            "The assignment shows Delivered, but the user does not hold a role its package delivers (a group membership or ownership, an app role, a directory role or a SharePoint site role)."
        }
        crate::audit::RESOURCE_NOT_FOUND => {
            "The package delivers a role on a group, application or site that no longer exists, so reprocessing cannot restore it."
        }
        UNVERIFIABLE => {
            "The role could not be checked (the read was refused, failed or not recorded): nothing is claimed until it can be read."
        }
        crate::audit::NOT_DELIVERED => {
            "Entitlement management itself reports the delivery as failed or only partially done."
        }
        crate::audit::ACCESS_WITHOUT_ASSIGNMENT => {
            "The user holds a role that a package delivers, but none of their assignments grants it."
        }
        _ => "",
    }
}

/// An action in one sentence.
pub fn action(action: Action) -> &'static str {
    match action {
        Action::Reprocess => {
            "Entitlement management re-applies what the package promises: the missing role, or the failed delivery."
        }
        Action::RemoveAssignment => {
            "Ends the assignment, so that entitlement management matches what the user really holds."
        }
        Action::RemoveAccess => "Takes away the access that no assignment explains.",
        Action::Accept => {
            "Records an exception in the register instead of acting; later audits report the finding as excepted."
        }
        Action::Decide => "Nothing is done until a reviewer chooses one of the other actions.",
    }
}

/// Who an open finding or plan item waits for, how many wait, and what they do next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Waiting {
    pub whom: &'static str,
    pub count: usize,
    pub next: &'static str,
}

/// Who the run's findings and plan items wait for, in the order the work flows.
pub fn waiting(findings: &DataFrame, plan: Option<&Plan>) -> Result<Vec<Waiting>> {
    let present = col::present(findings);
    let wanted: Vec<&str> = [col::CATEGORY, col::IN_PLAN, col::EXCEPTION_STATE]
        .into_iter()
        .filter(|c| present.contains(c))
        .collect();
    let rows = StringRows::new(findings, &wanted)?;
    let at = |name: &str| wanted.iter().position(|c| *c == name);
    let (in_plan, excepted) = (at(col::IN_PLAN), at(col::EXCEPTION_STATE));
    let (mut unverifiable, mut by_hand, mut covered) = (0, 0, 0);
    for row in rows.iter() {
        let cell = |at: Option<usize>| at.map_or("", |i| row[i]);
        if cell(excepted) == EXCEPTION_ACTIVE {
            covered += 1;
        } else if row[0] == UNVERIFIABLE {
            unverifiable += 1;
        } else if cell(in_plan) != "yes" {
            by_hand += 1;
        }
    }
    let (mut decide, mut approve, mut apply) = (0, 0, 0);
    if let Some(plan) = plan {
        for item in &plan.items {
            if plan.approvals_of(item).next().is_some() {
                apply += 1;
            } else if item.action == Action::Decide {
                decide += 1;
            } else {
                approve += 1;
            }
        }
    }
    Ok(vec![
        Waiting {
            whom: "A reviewer",
            count: decide,
            next: "Choose an action for each Plan item on decide (Action column); until then apply skips it.",
        },
        Waiting {
            whom: "The approvers",
            count: approve,
            next: "Set Approve to Yes on the Plan items they agree with, then sign: entra-drift plan approve.",
        },
        Waiting {
            whom: "An administrator",
            count: apply,
            next: "Apply the signed plan (entra-drift apply), then check it took (entra-drift verify).",
        },
        Waiting {
            whom: "The operator",
            count: unverifiable,
            next: "Grant the read each Unverifiable finding's reason names, then audit again.",
        },
        Waiting {
            whom: "The resource's owner",
            count: by_hand,
            next: "Findings the tool cannot remedy (their Plan note says why): handle them by hand.",
        },
        Waiting {
            whom: "No one (excepted)",
            count: covered,
            next: "An active exception covers these until it expires.",
        },
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_column_has_a_heading_and_a_meaning() {
        for name in col::ALL {
            let (heading, meaning) = column(name);
            assert!(!heading.is_empty() && !meaning.is_empty(), "{name}");
            assert!(!heading.contains('_'), "{name}: {heading}");
        }
        let headings: std::collections::BTreeSet<_> = col::ALL.iter().map(|c| heading(c)).collect();
        assert_eq!(headings.len(), col::ALL.len(), "headings are distinct");
    }

    #[test]
    fn every_category_and_action_is_defined() {
        for code in CATEGORIES {
            assert!(category(code).ends_with('.'), "{code}");
        }
        let glossary = glossary();
        let actions = glossary.iter().find(|t| t.column == "action").unwrap();
        assert_eq!(actions.values.len(), Action::ALL.len());
        for terms in &glossary {
            for (value, sentence) in &terms.values {
                assert!(sentence.ends_with('.'), "{value}: {sentence}");
            }
        }
    }
}
