//! The audit's scope: which catalogs and packages a run reports on. Applied to the findings
//! after the joins, never to the snapshot tables, because an out-of-scope assignment still
//! explains the access it grants (filtering it out first would invent
//! `access_without_assignment` rows).

use std::collections::HashSet;

use polars::prelude::*;

use super::col;
use super::rows::StringRows;
use crate::error::{FrameContext, Result};
use crate::snapshot::{col as s, Tables};

/// Catalog ids and package ids (or exact display names) to include or exclude. A package is
/// in scope when nothing is included, or its catalog or itself is included; and then neither
/// its catalog nor itself is excluded.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scope {
    pub include_catalogs: Vec<String>,
    pub exclude_catalogs: Vec<String>,
    pub include_packages: Vec<String>,
    pub exclude_packages: Vec<String>,
}

impl Scope {
    pub fn is_everything(&self) -> bool {
        self.include_catalogs.is_empty()
            && self.exclude_catalogs.is_empty()
            && self.include_packages.is_empty()
            && self.exclude_packages.is_empty()
    }
}

/// What scoping did, for the log.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ScopeReport {
    pub packages_in_scope: usize,
    pub packages_total: usize,
    pub findings_dropped: usize,
    /// Scope entries that name no catalog or package of the tenant (most likely typos).
    pub unknown: Vec<String>,
}

/// Keeps the findings of in-scope packages, and the `access_without_assignment` rows whose role
/// an in-scope package delivers.
pub fn apply(
    findings: DataFrame,
    tables: &Tables,
    scope: &Scope,
) -> Result<(DataFrame, ScopeReport)> {
    if scope.is_everything() {
        return Ok((findings, ScopeReport::default()));
    }
    let lower = |values: &[String]| -> HashSet<String> {
        values.iter().map(|v| v.trim().to_lowercase()).collect()
    };
    let (include_catalogs, exclude_catalogs) = (
        lower(&scope.include_catalogs),
        lower(&scope.exclude_catalogs),
    );
    let (include_packages, exclude_packages) = (
        lower(&scope.include_packages),
        lower(&scope.exclude_packages),
    );
    let includes_anything = !include_catalogs.is_empty() || !include_packages.is_empty();

    let packages = StringRows::new(
        &tables.packages,
        &[s::PACKAGE_ID, s::PACKAGE_NAME, s::CATALOG_ID],
    )?;
    let mut seen: HashSet<String> = HashSet::new();
    let mut in_scope: HashSet<String> = HashSet::new();
    for row in packages.iter() {
        let (id, name, catalog) = (
            row[0].to_lowercase(),
            row[1].to_lowercase(),
            row[2].to_lowercase(),
        );
        let named =
            |set: &HashSet<String>| set.contains(&id) || (!name.is_empty() && set.contains(&name));
        let included =
            !includes_anything || include_catalogs.contains(&catalog) || named(&include_packages);
        let excluded = exclude_catalogs.contains(&catalog) || named(&exclude_packages);
        seen.extend([id.clone(), name.clone(), catalog]);
        if included && !excluded {
            in_scope.insert(id);
        }
    }
    let mut unknown: Vec<String> = [
        &scope.include_catalogs,
        &scope.exclude_catalogs,
        &scope.include_packages,
        &scope.exclude_packages,
    ]
    .into_iter()
    .flatten()
    .filter(|entry| !seen.contains(&entry.trim().to_lowercase()))
    .cloned()
    .collect();
    unknown.sort();
    unknown.dedup();

    // Roles delivered by in-scope packages, for the rows that have no package.
    let roles = StringRows::new(
        &tables.package_roles,
        &[s::PACKAGE_ID, s::RESOURCE_TYPE, s::RESOURCE_ID, s::ROLE],
    )?;
    let scoped_roles: HashSet<(String, String, String)> = roles
        .iter()
        .filter(|row| in_scope.contains(row[0]))
        .map(|row| (row[1].to_string(), row[2].to_string(), row[3].to_string()))
        .collect();

    let rows = StringRows::new(
        &findings,
        &[
            col::PACKAGE_ID,
            col::RESOURCE_TYPE,
            col::RESOURCE_ID,
            col::ROLE,
        ],
    )?;
    let keep: Vec<bool> = rows
        .iter()
        .map(|row| {
            if row[0].is_empty() {
                scoped_roles.contains(&(row[1].to_string(), row[2].to_string(), row[3].to_string()))
            } else {
                in_scope.contains(row[0])
            }
        })
        .collect();
    let dropped = keep.iter().filter(|k| !**k).count();
    let mask = BooleanChunked::from_slice("in_scope".into(), &keep);
    let kept = findings.filter(&mask).frame("applying the scope")?;
    Ok((
        kept,
        ScopeReport {
            packages_in_scope: in_scope.len(),
            packages_total: packages.len(),
            findings_dropped: dropped,
            unknown,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    const FINANCE_CATALOG: &str = "7bc8d763-a519-4280-84b0-9e59fdfc4071";

    /// contoso's findings (contoso-core-notes.md) after the scope, as `(category, assignment or user)`.
    fn scoped(scope: Scope) -> (Vec<(String, String)>, ScopeReport) {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/contoso-core");
        let snapshot = crate::snapshot::tenant_dir::read(&dir).unwrap();
        let findings = crate::audit::audit(&snapshot.tables).unwrap();
        let (kept, report) = apply(findings, &snapshot.tables, &scope).unwrap();
        let rows =
            StringRows::new(&kept, &[col::CATEGORY, col::ASSIGNMENT_ID, col::USER_ID]).unwrap();
        let keys = rows
            .iter()
            .map(|r| {
                let who = if r[1].is_empty() { r[2] } else { r[1] };
                (r[0].to_string(), who[..8].to_string())
            })
            .collect();
        (keys, report)
    }

    #[test]
    fn everything_is_in_scope_by_default() {
        let (rows, report) = scoped(Scope::default());
        assert_eq!(rows.len(), 14);
        assert_eq!(report, ScopeReport::default());
    }

    #[test]
    fn a_catalog_keeps_its_packages_and_the_access_they_deliver() {
        let (rows, report) = scoped(Scope {
            include_catalogs: vec![FINANCE_CATALOG.to_uppercase()],
            ..Scope::default()
        });
        let keys: Vec<(&str, &str)> = rows.iter().map(|(c, w)| (c.as_str(), w.as_str())).collect();
        // Finance Analysts and Finance Team Leads: A02, A03, A12, and all three access
        // without assignment rows (group 15f02b30 and app de04b46d are Finance's).
        assert_eq!(
            keys,
            [
                ("missing_access", "7979899d"),
                ("missing_access", "cb47596f"),
                ("not_delivered", "15c167de"),
                ("access_without_assignment", "1ec56e4e"),
                ("access_without_assignment", "58860163"),
                ("access_without_assignment", "cb9d98f8"),
            ]
        );
        assert_eq!((report.packages_in_scope, report.packages_total), (2, 6));
        assert_eq!(report.findings_dropped, 8);
    }

    #[test]
    fn a_package_is_excluded_by_name_and_unknown_entries_are_reported() {
        let (rows, report) = scoped(Scope {
            exclude_packages: vec!["Project Falcon (legacy)".into(), "No Such Package".into()],
            ..Scope::default()
        });
        assert_eq!(rows.len(), 13);
        assert!(!rows
            .iter()
            .any(|(category, _)| category == "resource_not_found"));
        assert_eq!(report.unknown, ["No Such Package"]);
    }
}
