//! Remedies: the closed set of actions a plan item can take, which of them fit which finding,
//! and the default each finding gets from its cause (guide: docs/src/reviewer/plan.md). A removal a person
//! made on purpose is not undone by default: that item waits for a reviewer (`decide`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::audit::{ACCESS_WITHOUT_ASSIGNMENT, MISSING_ACCESS};

/// What applying an item does.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Restore what the package promises (`reprocess` of the assignment or its request).
    #[default]
    Reprocess,
    /// End the assignment so entitlement management matches reality (`adminRemove`).
    RemoveAssignment,
    /// Take away access no assignment explains (member, owner or app role removed).
    RemoveAccess,
    /// Record an exception instead of acting: next audits mark the finding excepted.
    Accept,
    /// No action until a reviewer chooses one; never applied.
    Decide,
}

impl Action {
    pub const ALL: [Action; 5] = [
        Action::Reprocess,
        Action::RemoveAssignment,
        Action::RemoveAccess,
        Action::Accept,
        Action::Decide,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Action::Reprocess => "reprocess",
            Action::RemoveAssignment => "remove_assignment",
            Action::RemoveAccess => "remove_access",
            Action::Accept => "accept",
            Action::Decide => "decide",
        }
    }

    pub fn parse(text: &str) -> Option<Action> {
        Action::ALL
            .into_iter()
            .find(|a| a.as_str().eq_ignore_ascii_case(text.trim()))
    }

    /// Removes something from the tenant: needs `--allow-remove` and counts against
    /// `--max-removals`.
    pub fn removes(self) -> bool {
        matches!(self, Action::RemoveAssignment | Action::RemoveAccess)
    }

    pub fn is_reprocess(&self) -> bool {
        *self == Action::Reprocess
    }
}

impl std::fmt::Display for Action {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The actions that fit a category (in the order a drop-down offers them).
pub fn allowed(category: &str) -> &'static [Action] {
    match category {
        MISSING_ACCESS => &[
            Action::Reprocess,
            Action::RemoveAssignment,
            Action::Accept,
            Action::Decide,
        ],
        ACCESS_WITHOUT_ASSIGNMENT => &[Action::RemoveAccess, Action::Accept, Action::Decide],
        _ => &[Action::Reprocess],
    }
}

/// Who caused a finding, as the defaults are keyed: an actor kind of the audit log
/// (`user`, `application`, `entitlement_management`, `sync`), or `no_event` when the log names
/// nobody (not in the log, before its window, unreadable, not read).
pub const NO_EVENT: &str = "no_event";
pub const CAUSE_KEYS: [&str; 5] = [
    "user",
    "application",
    "entitlement_management",
    "sync",
    NO_EVENT,
];

/// Default action per category and cause (`[remedies]` in the configuration file).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Remedies {
    /// `(category, cause key)` → action.
    table: BTreeMap<(String, String), Action>,
}

impl Default for Remedies {
    /// Entitlement management's own removals and a sync engine's are drift to undo; a person's
    /// or a script's removal may be a decision (an incident, an offboarding): a reviewer
    /// decides. Access nobody's assignment explains always waits for a reviewer.
    fn default() -> Self {
        let mut table = BTreeMap::new();
        for (cause, action) in [
            ("user", Action::Decide),
            ("application", Action::Decide),
            ("entitlement_management", Action::Reprocess),
            ("sync", Action::Reprocess),
            (NO_EVENT, Action::Reprocess),
        ] {
            table.insert((MISSING_ACCESS.to_string(), cause.to_string()), action);
            table.insert(
                (ACCESS_WITHOUT_ASSIGNMENT.to_string(), cause.to_string()),
                Action::Decide,
            );
        }
        Remedies { table }
    }
}

impl Remedies {
    /// Sets one default; the action must fit the category and the cause key be known.
    pub fn set(&mut self, category: &str, cause: &str, action: Action) -> Result<(), String> {
        if ![MISSING_ACCESS, ACCESS_WITHOUT_ASSIGNMENT].contains(&category) {
            return Err(format!(
                "`{category}` has no remedies to choose: use {MISSING_ACCESS} or {ACCESS_WITHOUT_ASSIGNMENT}"
            ));
        }
        if !CAUSE_KEYS.contains(&cause) {
            return Err(format!(
                "`{cause}` is not a cause: use one of {}",
                CAUSE_KEYS.join(", ")
            ));
        }
        if !allowed(category).contains(&action) {
            return Err(format!(
                "`{action}` does not fit {category}: use one of {}",
                names(allowed(category))
            ));
        }
        self.table
            .insert((category.to_string(), cause.to_string()), action);
        Ok(())
    }

    /// The default for a finding of `category` whose cause's actor kind is `kind` (empty when
    /// the log names nobody).
    pub fn default_for(&self, category: &str, kind: &str) -> Action {
        let cause = if CAUSE_KEYS.contains(&kind) && !kind.is_empty() {
            kind
        } else {
            NO_EVENT
        };
        self.table
            .get(&(category.to_string(), cause.to_string()))
            .copied()
            .unwrap_or(Action::Reprocess)
    }

    /// Every default, for the guide's table and `config check`.
    pub fn entries(&self) -> impl Iterator<Item = (&str, &str, Action)> {
        self.table
            .iter()
            .map(|((category, cause), action)| (category.as_str(), cause.as_str(), *action))
    }
}

/// `a, b or c`.
pub fn names(actions: &[Action]) -> String {
    let names: Vec<&str> = actions.iter().map(|a| a.as_str()).collect();
    names.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_follow_the_cause() {
        let remedies = Remedies::default();
        assert_eq!(remedies.default_for(MISSING_ACCESS, "user"), Action::Decide);
        assert_eq!(
            remedies.default_for(MISSING_ACCESS, "entitlement_management"),
            Action::Reprocess
        );
        assert_eq!(
            remedies.default_for(MISSING_ACCESS, "sync"),
            Action::Reprocess
        );
        assert_eq!(remedies.default_for(MISSING_ACCESS, ""), Action::Reprocess);
        assert_eq!(
            remedies.default_for(ACCESS_WITHOUT_ASSIGNMENT, "user"),
            Action::Decide
        );
    }

    #[test]
    fn only_fitting_actions_can_be_defaults() {
        let mut remedies = Remedies::default();
        assert!(remedies
            .set(MISSING_ACCESS, "user", Action::RemoveAccess)
            .unwrap_err()
            .contains("does not fit"));
        assert!(remedies
            .set("unverifiable", "user", Action::Accept)
            .is_err());
        assert!(remedies
            .set(MISSING_ACCESS, "robot", Action::Accept)
            .is_err());
        remedies
            .set(MISSING_ACCESS, "user", Action::RemoveAssignment)
            .unwrap();
        assert_eq!(
            remedies.default_for(MISSING_ACCESS, "user"),
            Action::RemoveAssignment
        );
        assert_eq!(Action::parse("Remove_Access"), Some(Action::RemoveAccess));
    }
}
