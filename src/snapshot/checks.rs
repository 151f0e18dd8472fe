//! The consistency checks a stored snapshot's tables pass before they are audited — the same
//! promises the builder keeps for tenant directories and live reads: the columns have their
//! types, ids are present, unique where they are keys, GUIDs where they go into Graph URLs,
//! and every reference resolves. Errors name the file and the row.

use std::path::Path;

use polars::prelude::*;

use super::{col, roles, Tables};
use crate::error::{Error, Result};
use entra_model::ids::{guid_value, is_guid};

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
    ids(
        &tables.packages,
        col::PACKAGE_ID,
        &file("packages"),
        Key::Unique,
    )?;
    let packages = guid_values(&tables.packages, col::PACKAGE_ID, &file("packages"))?;
    // The users on a second core: the two largest tables' checks take the same time.
    let (rest, users) = crate::threads::both(
        || -> Result<()> {
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
            )
        },
        || ids(&tables.users, col::USER_ID, &file("users"), Key::Unique),
    );
    // The users' problem first, whichever ended first: what checking the users before the
    // rest, one after another, would report.
    users?;
    rest
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

fn ids(frame: &DataFrame, name: &str, at: &str, key: Key) -> Result<()> {
    let column = strings(frame, name, at)?;
    let problem_at = |row: usize, problem: String| {
        Error::inconsistent(
            format!("{at} row {}", row + 1),
            format!("`{name}` {problem}"),
        )
    };
    let mut values = Vec::with_capacity(if key == Key::Unique { column.len() } else { 0 });
    for (row, value) in column.iter().enumerate() {
        match value {
            None if key == Key::OptionalGuid => {}
            None => return Err(problem_at(row, "is empty".to_string())),
            Some(_) if key == Key::Present => {}
            Some(id) => match guid_value(id) {
                None => {
                    return Err(problem_at(row, format!("`{}` is not a GUID", shorten(id))));
                }
                Some(value) if key == Key::Unique => values.push(value),
                Some(_) => {}
            },
        }
    }
    if key != Key::Unique {
        return Ok(());
    }
    // Sorted, a repeated id is next to itself: far cheaper than a set of millions of ids.
    // Only when there is one is the column read again for the row an error names.
    values.sort_unstable();
    let repeated: PlHashSet<u128> = values
        .windows(2)
        .filter(|pair| pair[0] == pair[1])
        .map(|pair| pair[0])
        .collect();
    if repeated.is_empty() {
        return Ok(());
    }
    let mut seen = PlHashSet::default();
    for (row, id) in column.iter().enumerate() {
        let Some(id) = id else { continue };
        let Some(value) = guid_value(id).filter(|v| repeated.contains(v)) else {
            continue;
        };
        if !seen.insert(value) {
            return Err(problem_at(row, format!("`{id}` appears twice")));
        }
    }
    Ok(())
}

/// The GUID values of a column [`ids`] has checked.
fn guid_values(frame: &DataFrame, name: &str, at: &str) -> Result<PlHashSet<u128>> {
    Ok(strings(frame, name, at)?
        .iter()
        .filter_map(|id| id.and_then(guid_value))
        .collect())
}

fn references(frame: &DataFrame, packages: &PlHashSet<u128>, at: &str, what: &str) -> Result<()> {
    for (row, value) in strings(frame, col::PACKAGE_ID, at)?.iter().enumerate() {
        if !value
            .and_then(guid_value)
            .is_some_and(|id| packages.contains(&id))
        {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(values: &[Option<&str>]) -> DataFrame {
        DataFrame::new(
            values.len(),
            vec![Column::new("id".into(), values.to_vec())],
        )
        .unwrap()
    }

    const A: &str = "3b280e9f-a116-499a-bebc-fb9ccae627b7";
    const B: &str = "0f8fad5b-d9cb-469f-a165-70867728950e";

    #[test]
    fn a_repeated_id_is_named_at_its_second_row_whatever_its_case() {
        let upper = A.to_ascii_uppercase();
        let ids_of = |values: &[Option<&str>]| ids(&frame(values), "id", "t", Key::Unique);
        assert!(ids_of(&[Some(A), Some(B)]).is_ok());
        let error = ids_of(&[Some(B), Some(A), Some(B), Some(&upper)]).unwrap_err();
        assert_eq!(
            error.to_string(),
            Error::inconsistent("t row 3", format!("`id` `{B}` appears twice")).to_string()
        );
        let error = ids_of(&[Some(A), Some(B), Some(&upper)]).unwrap_err();
        assert!(error.to_string().contains("t row 3"), "{error}");
        let error = ids_of(&[Some(A), None]).unwrap_err();
        assert!(error.to_string().contains("t row 2"), "{error}");
        let error = ids_of(&[Some(A), Some("not-a-guid")]).unwrap_err();
        assert!(error.to_string().contains("is not a GUID"), "{error}");
        assert!(ids(&frame(&[Some(A), None]), "id", "t", Key::OptionalGuid).is_ok());
        assert!(ids(&frame(&[Some("x"), Some("x")]), "id", "t", Key::Present).is_ok());
    }

    #[test]
    fn a_reference_matches_its_package_whatever_its_case() {
        let packages: PlHashSet<u128> = [guid_value(A).unwrap()].into_iter().collect();
        let upper = A.to_ascii_uppercase();
        let mut refs = frame(&[Some(&upper), Some(A)]);
        refs.rename("id", col::PACKAGE_ID.into()).unwrap();
        assert!(references(&refs, &packages, "t", "a package").is_ok());
        let mut refs = frame(&[Some(A), Some(B)]);
        refs.rename("id", col::PACKAGE_ID.into()).unwrap();
        let error = references(&refs, &packages, "t", "a package").unwrap_err();
        assert!(error.to_string().contains("t row 2"), "{error}");
    }
}
