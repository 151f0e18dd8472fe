//! The consistency checks a stored snapshot's tables pass before they are audited — the same
//! promises the builder keeps for tenant directories and live reads: the columns have their
//! types, ids are present, unique where they are keys, GUIDs where they go into Graph URLs,
//! and every reference resolves. Errors name the file and the row.

use std::collections::HashSet;
use std::path::Path;

use polars::prelude::*;

use super::{col, roles, Tables};
use crate::error::{Error, Result};
use entra_model::ids::is_guid;

/// Checks every table against the empty tables' schema, then the ids and references.
pub fn check(tables: &Tables, dir: &Path) -> Result<()> {
    let empty = Tables::empty()?;
    for (name, frame, reference) in [
        ("packages", &tables.packages, &empty.packages),
        ("package_roles", &tables.package_roles, &empty.package_roles),
        ("assignments", &tables.assignments, &empty.assignments),
        ("users", &tables.users, &empty.users),
        ("holdings", &tables.holdings, &empty.holdings),
        (
            "resource_status",
            &tables.resource_status,
            &empty.resource_status,
        ),
    ] {
        let at = || dir.join(format!("{name}.parquet")).display().to_string();
        for field in reference.schema().iter_fields() {
            let found = frame.column(field.name()).map_err(|_| {
                Error::inconsistent(at(), format!("has no `{}` column", field.name()))
            })?;
            if found.dtype() != field.dtype() {
                return Err(Error::inconsistent(
                    at(),
                    format!(
                        "column `{}` is {}, not {}",
                        field.name(),
                        found.dtype(),
                        field.dtype()
                    ),
                ));
            }
        }
    }
    let file = |name: &str| dir.join(format!("{name}.parquet")).display().to_string();
    let packages = ids(
        &tables.packages,
        col::PACKAGE_ID,
        &file("packages"),
        Key::Unique,
    )?;
    ids(&tables.users, col::USER_ID, &file("users"), Key::Unique)?;
    ids(
        &tables.assignments,
        col::ASSIGNMENT_ID,
        &file("assignments"),
        Key::Unique,
    )?;
    ids(
        &tables.assignments,
        col::TARGET_ID,
        &file("assignments"),
        Key::OptionalGuid,
    )?;
    references(
        &tables.assignments,
        &packages,
        &file("assignments"),
        "an access package the snapshot does not contain",
    )?;
    references(
        &tables.package_roles,
        &packages,
        &file("package_roles"),
        "an access package the snapshot does not contain",
    )?;
    resource_ids(&tables.package_roles, &file("package_roles"))?;
    resource_ids(&tables.resource_status, &file("resource_status"))?;
    ids(
        &tables.holdings,
        col::PRINCIPAL_ID,
        &file("holdings"),
        Key::Present,
    )?;
    Ok(())
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Key {
    /// Present, a GUID, unique.
    Unique,
    /// A GUID where present.
    OptionalGuid,
    /// Present (any form).
    Present,
}

fn strings<'a>(frame: &'a DataFrame, name: &str, at: &str) -> Result<&'a StringChunked> {
    frame
        .column(name)
        .and_then(|c| c.str())
        .map_err(|e| Error::inconsistent(at.to_string(), format!("column `{name}`: {e}")))
}

fn ids(frame: &DataFrame, name: &str, at: &str, key: Key) -> Result<HashSet<String>> {
    let mut seen = HashSet::new();
    for (row, value) in strings(frame, name, at)?.iter().enumerate() {
        let problem = match value {
            None if key == Key::OptionalGuid => None,
            None => Some("is empty".to_string()),
            Some(id) if key != Key::Present && !is_guid(id) => {
                Some(format!("`{}` is not a GUID", shorten(id)))
            }
            Some(id) if key == Key::Unique && !seen.insert(id.to_ascii_lowercase()) => {
                Some(format!("`{id}` appears twice"))
            }
            Some(_) => None,
        };
        if let Some(problem) = problem {
            return Err(Error::inconsistent(
                format!("{at} row {}", row + 1),
                format!("`{name}` {problem}"),
            ));
        }
    }
    Ok(seen)
}

fn references(frame: &DataFrame, packages: &HashSet<String>, at: &str, what: &str) -> Result<()> {
    for (row, value) in strings(frame, col::PACKAGE_ID, at)?.iter().enumerate() {
        if !value.is_some_and(|id| packages.contains(&id.to_ascii_lowercase())) {
            return Err(Error::inconsistent(
                format!("{at} row {}", row + 1),
                format!(
                    "`{}` `{}` names {what}",
                    col::PACKAGE_ID,
                    value.unwrap_or("(empty)")
                ),
            ));
        }
    }
    Ok(())
}

/// Group, application and package ids go into Graph URLs: GUIDs only.
fn resource_ids(frame: &DataFrame, at: &str) -> Result<()> {
    let types = strings(frame, col::RESOURCE_TYPE, at)?;
    let ids = strings(frame, col::RESOURCE_ID, at)?;
    for (row, (kind, id)) in types.iter().zip(ids.iter()).enumerate() {
        let must_be_guid = matches!(
            kind,
            Some(roles::GROUP) | Some(roles::APPLICATION) | Some(roles::ACCESS_PACKAGE)
        );
        let bad = match id {
            None => true,
            Some(id) => must_be_guid && !is_guid(id),
        };
        if bad {
            return Err(Error::inconsistent(
                format!("{at} row {}", row + 1),
                format!(
                    "`{}` `{}` is not a valid id for a {}",
                    col::RESOURCE_ID,
                    shorten(id.unwrap_or("(empty)")),
                    kind.unwrap_or("resource")
                ),
            ));
        }
    }
    Ok(())
}

fn shorten(text: &str) -> String {
    text.chars().take(80).collect()
}
