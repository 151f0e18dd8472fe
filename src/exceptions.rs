//! The exceptions register: accepted drift, each with a reason, an approver and an expiry date.
//! Owns reading the register (CSV or TOML, errors at the file's line). Deciding which
//! exception covers a finding on a given day is `audit::exceptions`' job, marking the findings
//! `audit::annotate`'s.
//!
//! An exception names what it covers with any of `assignment_id`, `access_package_id`,
//! `user_id`, `resource_type`, `resource_id`, `role` and `category`; every field given must
//! match (ids case-insensitively). It must name an assignment, a package or a resource: a
//! blanket exception for one user is refused. The four shapes the register is meant for:
//!
//! | covers | fields |
//! |---|---|
//! | one assignment | `assignment_id` |
//! | one user's resource role | `user_id`, `resource_id`, `role` |
//! | a whole package | `access_package_id` |
//! | a whole resource | `resource_id` |
//!
//! An exception applies through the end of its `expires` day (UTC); from the next day it is
//! expired: reported, shown beside the findings it used to cover, and no longer applied.

use std::collections::HashSet;
use std::path::Path;

use chrono::NaiveDate;
use serde::Deserialize;
use toml::Spanned;

pub use crate::audit::exceptions::{Exception, FindingKey, Match, Matcher, Register, Rule};
use crate::audit::CATEGORIES;
use crate::error::{Error, Result};

/// Columns a CSV register may have (`reason`, `approver`, `expires` are required).
pub const CSV_COLUMNS: [&str; 12] = [
    "id",
    "assignment_id",
    "access_package_id",
    "user_id",
    "resource_type",
    "resource_id",
    "role",
    "category",
    "reason",
    "approver",
    "expires",
    "ticket",
];
const REQUIRED_CSV_COLUMNS: [&str; 3] = ["reason", "approver", "expires"];
const RESOURCE_TYPES: [&str; 5] = [
    "group",
    "application",
    "sharepoint_site",
    "directory_role",
    "other",
];

fn at(text: &str, path: &Path, span: &std::ops::Range<usize>, message: String) -> Error {
    Error::Input(entra_model::InputError::at(text, path, span.start, message))
}

/// Reads a register: `.toml` as TOML, anything else as CSV.
pub fn read(path: &Path) -> Result<Register> {
    let text = entra_model::input::read_text(path)?;
    let is_toml = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("toml"));
    let exceptions = if is_toml {
        parse_toml(&text, path)?
    } else {
        parse_csv(&text, path)?
    };
    Ok(Register {
        path: path.to_path_buf(),
        exceptions,
    })
}

/// An exception to add to the register (an `accept` applied): the fields it covers, by name of
/// the register's columns, and who, why and until when.
#[derive(Debug, Clone)]
pub struct NewException {
    pub id: String,
    /// `(column, value)` of what it covers, e.g. `("assignment_id", "...")`.
    pub covers: Vec<(&'static str, String)>,
    pub reason: String,
    pub approver: String,
    pub expires: NaiveDate,
    pub ticket: String,
}

/// Appends an exception to the register at `path` (created, as CSV with every column, when it
/// does not exist). The register with the new entry is parsed before it is written, so a
/// register is never left unreadable; an id already in it is refused by that parse.
pub fn append(path: &Path, new: &NewException) -> Result<()> {
    let existing = if std::fs::symlink_metadata(path).is_ok() {
        Some(entra_model::input::read_text(path)?)
    } else {
        None
    };
    let is_toml = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("toml"));
    let mut fields: Vec<(&str, String)> = vec![("id", new.id.clone())];
    fields.extend(new.covers.iter().cloned());
    fields.extend([
        ("reason", new.reason.clone()),
        ("approver", new.approver.clone()),
        ("expires", new.expires.to_string()),
        ("ticket", new.ticket.clone()),
    ]);
    let text = if is_toml {
        let mut text = existing.unwrap_or_default();
        if !text.is_empty() && !text.ends_with('\n') {
            text.push('\n');
        }
        text.push_str("\n[[exception]]\n");
        for (name, value) in &fields {
            if value.is_empty() {
                continue;
            }
            let value = if *name == "expires" {
                value.clone()
            } else {
                toml::Value::String(value.clone()).to_string()
            };
            text.push_str(&format!("{name} = {value}\n"));
        }
        text
    } else {
        let (mut text, header) = match existing {
            Some(text) if !text.trim().is_empty() => {
                let first = text.lines().next().unwrap_or("");
                let header: Vec<String> = first
                    .trim_start_matches('\u{feff}')
                    .split(',')
                    .map(|h| h.trim().trim_matches('"').to_ascii_lowercase())
                    .collect();
                (text, header)
            }
            _ => {
                let header: Vec<String> = CSV_COLUMNS.iter().map(|c| c.to_string()).collect();
                (header.join(",") + "\n", header)
            }
        };
        for (name, value) in &fields {
            // An id and a ticket are optional columns: a register without them gets neither.
            let optional = matches!(*name, "id" | "ticket");
            if !optional && !value.is_empty() && !header.iter().any(|h| h == name) {
                return Err(Error::inconsistent(
                    format!("`{}` line 1", path.display()),
                    format!(
                        "the register has no `{name}` column, which the accepted finding needs"
                    ),
                ));
            }
        }
        let row: Vec<String> = header
            .iter()
            .map(|h| {
                fields
                    .iter()
                    .find(|(name, _)| name == h)
                    .map(|(_, v)| v.clone())
                    .unwrap_or_default()
            })
            .collect();
        let mut writer = csv::WriterBuilder::new().from_writer(Vec::new());
        writer
            .write_record(&row)
            .map_err(|e| Error::inconsistent(path.display().to_string(), e.to_string()))?;
        let line = writer
            .into_inner()
            .map_err(|e| Error::inconsistent(path.display().to_string(), e.to_string()))?;
        if !text.ends_with('\n') {
            text.push('\n');
        }
        text.push_str(&String::from_utf8_lossy(&line));
        text
    };
    if is_toml {
        parse_toml(&text, path)?;
    } else {
        parse_csv(&text, path)?;
    }
    crate::files::write_durable(path, text.as_bytes())
}

/// The rule an exception of these `(field, value)` pairs has once read back (values trimmed and
/// lower-cased as the register reader does): what an apply compares with an exception found
/// under its id.
pub fn rule_of(covers: &[(&str, String)]) -> Rule {
    let field = |name: &str| {
        covers
            .iter()
            .find(|(field, _)| *field == name)
            .map(|(_, value)| value.trim().to_lowercase())
            .filter(|value| !value.is_empty())
    };
    Rule {
        assignment_id: field("assignment_id"),
        access_package_id: field("access_package_id"),
        user_id: field("user_id"),
        resource_type: field("resource_type"),
        resource_id: field("resource_id"),
        role: field("role"),
        category: field("category"),
    }
}

/// The fields of one exception as written, before checking.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Fields {
    id: Option<String>,
    assignment_id: Option<String>,
    access_package_id: Option<String>,
    user_id: Option<String>,
    resource_type: Option<String>,
    resource_id: Option<String>,
    role: Option<String>,
    category: Option<String>,
    reason: Option<String>,
    approver: Option<String>,
    /// A TOML date (`2026-12-31`) or a string holding one.
    expires: Option<toml::Value>,
    ticket: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TomlRegister {
    #[serde(default)]
    exception: Vec<Spanned<Fields>>,
}

fn parse_toml(text: &str, path: &Path) -> Result<Vec<Exception>> {
    let register: TomlRegister = toml::from_str(text).map_err(|error| {
        let span = error.span().unwrap_or(0..0);
        at(text, path, &span, error.message().trim_end().to_string())
    })?;
    let mut exceptions = Vec::new();
    let mut ids = HashSet::new();
    for entry in register.exception {
        let span = entry.span();
        let (line, _) = entra_model::error::line_and_column(text, span.start);
        let fields = entry.into_inner();
        let expires = match &fields.expires {
            None => None,
            Some(toml::Value::String(text)) => Some(text.clone()),
            Some(toml::Value::Datetime(date)) => Some(date.to_string()),
            Some(other) => Some(other.to_string()),
        };
        let exception = build(fields, expires, path, line)
            .and_then(|e| unique(e, &mut ids))
            .map_err(|message| at(text, path, &span, message))?;
        exceptions.push(exception);
    }
    Ok(exceptions)
}

fn parse_csv(text: &str, path: &Path) -> Result<Vec<Exception>> {
    let origin = |line: u64| format!("`{}` line {line}", path.display());
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let header: Vec<String> = reader
        .headers()
        .map_err(|e| Error::inconsistent(origin(1), e.to_string()))?
        .iter()
        .map(|h| h.trim_start_matches('\u{feff}').to_ascii_lowercase())
        .collect();
    for name in &header {
        if !CSV_COLUMNS.contains(&name.as_str()) {
            return Err(Error::inconsistent(
                origin(1),
                format!(
                    "unknown column `{name}`; the columns are: {}",
                    CSV_COLUMNS.join(", ")
                ),
            ));
        }
    }
    for required in REQUIRED_CSV_COLUMNS {
        if !header.iter().any(|h| h == required) {
            return Err(Error::inconsistent(
                origin(1),
                format!("the required column `{required}` is missing"),
            ));
        }
    }
    let mut exceptions = Vec::new();
    let mut ids = HashSet::new();
    for record in reader.records() {
        let record = record.map_err(|e| {
            let line = e.position().map(|p| p.line()).unwrap_or(0);
            Error::inconsistent(origin(line), e.to_string())
        })?;
        let line = record.position().map(|p| p.line()).unwrap_or(0);
        if record.iter().all(str::is_empty) {
            continue;
        }
        let get = |name: &str| -> Option<String> {
            header
                .iter()
                .position(|h| h == name)
                .and_then(|i| record.get(i))
                .map(str::to_string)
        };
        let fields = Fields {
            id: get("id"),
            assignment_id: get("assignment_id"),
            access_package_id: get("access_package_id"),
            user_id: get("user_id"),
            resource_type: get("resource_type"),
            resource_id: get("resource_id"),
            role: get("role"),
            category: get("category"),
            reason: get("reason"),
            approver: get("approver"),
            expires: None,
            ticket: get("ticket"),
        };
        let expires = get("expires");
        let exception = build(fields, expires, path, line as usize)
            .and_then(|e| unique(e, &mut ids))
            .map_err(|message| Error::inconsistent(origin(line), message))?;
        exceptions.push(exception);
    }
    Ok(exceptions)
}

fn unique(exception: Exception, ids: &mut HashSet<String>) -> Result<Exception, String> {
    if !ids.insert(exception.id.to_lowercase()) {
        return Err(format!(
            "exception id `{}` is used twice; ids must be unique",
            exception.id
        ));
    }
    Ok(exception)
}

/// Checks one exception's fields. Empty cells count as absent.
fn build(
    fields: Fields,
    expires: Option<String>,
    path: &Path,
    line: usize,
) -> Result<Exception, String> {
    let clean = |value: Option<String>| {
        value
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    };
    let id = clean(fields.id).unwrap_or_else(|| {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        format!("{name}:{line}")
    });
    let lower = |value: Option<String>| clean(value).map(|v| v.to_lowercase());
    let rule = Rule {
        assignment_id: lower(fields.assignment_id),
        access_package_id: lower(fields.access_package_id),
        user_id: lower(fields.user_id),
        resource_type: lower(fields.resource_type),
        resource_id: lower(fields.resource_id),
        role: lower(fields.role),
        category: lower(fields.category),
    };
    let named = format!("exception `{id}`");
    // Register ids are only compared, never sent to Graph; they must still be plain ids (a
    // SharePoint site URL is a resource id too, so not every one is a GUID).
    for (what, value) in [
        ("assignment_id", &rule.assignment_id),
        ("access_package_id", &rule.access_package_id),
        ("user_id", &rule.user_id),
    ] {
        if let Some(value) = value {
            entra_model::ids::check_segment(value, "id", &named)
                .map_err(|_| format!("{named}: `{what}` `{value}` is not a plain id"))?;
        }
    }
    if rule.assignment_id.is_none()
        && rule.access_package_id.is_none()
        && rule.resource_id.is_none()
    {
        return Err(format!(
            "{named} covers nothing specific: name an assignment_id, an access_package_id or a resource_id\nhint: for one user's access, give user_id with resource_id and role"
        ));
    }
    if rule.role.is_some() && rule.resource_id.is_none() {
        return Err(format!(
            "{named} gives a role without its resource_id (role ids are per resource)"
        ));
    }
    if let Some(category) = &rule.category {
        if !CATEGORIES.contains(&category.as_str()) {
            return Err(format!(
                "{named}: category `{category}` is not one of: {}",
                CATEGORIES.join(", ")
            ));
        }
    }
    if let Some(kind) = &rule.resource_type {
        if !RESOURCE_TYPES.contains(&kind.as_str()) {
            return Err(format!(
                "{named}: resource_type `{kind}` is not one of: {}",
                RESOURCE_TYPES.join(", ")
            ));
        }
    }
    let reason = clean(fields.reason).ok_or(format!("{named} has no reason"))?;
    let approver = clean(fields.approver).ok_or(format!("{named} has no approver"))?;
    let expires_text = clean(expires).ok_or(format!(
        "{named} has no expiry date (expires = YYYY-MM-DD); exceptions never last forever"
    ))?;
    let expires = NaiveDate::parse_from_str(&expires_text, "%Y-%m-%d")
        .map_err(|_| format!("{named}: expires `{expires_text}` is not a date (YYYY-MM-DD)"))?;
    Ok(Exception {
        id,
        origin: format!("`{}` line {line}", path.display()),
        rule,
        reason,
        approver,
        ticket: clean(fields.ticket),
        expires,
    })
}

#[cfg(test)]
mod append_tests {
    use super::*;

    fn accepted(id: &str) -> NewException {
        NewException {
            id: id.into(),
            covers: vec![
                ("assignment_id", "a1".into()),
                ("category", "missing_access".into()),
            ],
            reason: "removed on purpose, during the incident".into(),
            approver: "ada@contoso.example".into(),
            expires: NaiveDate::from_ymd_opt(2027, 3, 1).unwrap(),
            ticket: String::new(),
        }
    }

    #[test]
    fn appends_to_csv_and_toml_registers_and_refuses_a_repeated_id() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["register.csv", "register.toml"] {
            let path = dir.path().join(name);
            append(&path, &accepted("x1")).unwrap();
            append(&path, &accepted("x2")).unwrap();
            let register = read(&path).unwrap();
            assert_eq!(register.exceptions.len(), 2, "{name}");
            let before = std::fs::read(&path).unwrap();
            assert!(
                append(&path, &accepted("x1")).is_err(),
                "{name}: duplicate id"
            );
            assert_eq!(
                std::fs::read(&path).unwrap(),
                before,
                "{name}: left as it was"
            );
        }
    }

    #[test]
    fn a_register_without_a_needed_column_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("register.csv");
        std::fs::write(&path, "user_id,resource_id,reason,approver,expires\n").unwrap();
        let error = append(&path, &accepted("x1")).unwrap_err().to_string();
        assert!(error.contains("assignment_id"), "{error}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(text: &str) -> NaiveDate {
        NaiveDate::parse_from_str(text, "%Y-%m-%d").unwrap()
    }

    fn key<'a>(
        category: &'a str,
        assignment: &'a str,
        package: &'a str,
        user: &'a str,
        resource: &'a str,
        role: &'a str,
    ) -> FindingKey<'a> {
        FindingKey {
            category,
            assignment_id: assignment,
            access_package_id: package,
            user_id: user,
            resource_type: "group",
            resource_id: resource,
            role,
        }
    }

    const CSV: &str =
        "id,assignment_id,access_package_id,user_id,resource_id,role,reason,approver,expires\n\
        EX-A,A1,,,,,break-glass account,CISO,2026-12-31\n\
        EX-U,,,U2,G1,member,contractor until project end,Head of Eng,2026-11-30\n\
        EX-P,,P3,,,,package being retired,IAM lead,2026-12-15\n\
        EX-R,,,,HTTPS://Site/A,,site migrating,IT,2027-01-31\n";

    fn register() -> Register {
        Register {
            path: "exceptions.csv".into(),
            exceptions: parse_csv(CSV, Path::new("exceptions.csv")).unwrap(),
        }
    }

    #[test]
    fn each_shape_matches_what_it_names_and_nothing_else() {
        let register = register();
        let matcher = Matcher::new(&register, date("2026-11-01"));
        let id = |k: FindingKey| {
            matcher
                .find(&k)
                .map(|m| register.exceptions[m.index].id.clone())
        };
        // One assignment, any of its roles.
        assert_eq!(
            id(key("missing_access", "a1", "P9", "U1", "G1", "owner")),
            Some("EX-A".into())
        );
        // One user's role on one resource, whichever assignment (or none).
        assert_eq!(
            id(key(
                "access_without_assignment",
                "",
                "",
                "u2",
                "g1",
                "member"
            )),
            Some("EX-U".into())
        );
        assert_eq!(
            id(key(
                "access_without_assignment",
                "",
                "",
                "u2",
                "g1",
                "owner"
            )),
            None
        );
        assert_eq!(
            id(key(
                "access_without_assignment",
                "",
                "",
                "u3",
                "g1",
                "member"
            )),
            None
        );
        // A whole package, a whole resource (ids compare case-insensitively).
        assert_eq!(
            id(key("not_delivered", "A7", "p3", "U7", "", "")),
            Some("EX-P".into())
        );
        assert_eq!(
            id(key("unverifiable", "A8", "P8", "U8", "https://site/a", "4")),
            Some("EX-R".into())
        );
        assert_eq!(
            id(key("missing_access", "A9", "P9", "U9", "G9", "member")),
            None
        );
    }

    #[test]
    fn an_exception_applies_through_its_expiry_day_and_not_after() {
        let register = register();
        let finding = key("access_without_assignment", "", "", "U2", "G1", "member");
        let on = |day: &str| Matcher::new(&register, date(day)).find(&finding);
        assert_eq!(
            on("2026-11-30"),
            Some(Match {
                index: 1,
                active: true
            })
        );
        assert_eq!(
            on("2026-12-01"),
            Some(Match {
                index: 1,
                active: false
            })
        );
        assert_eq!(register.exceptions[1].days_left(date("2026-11-28")), 2);
    }

    #[test]
    fn an_active_exception_wins_over_an_earlier_expired_one() {
        let text = "id,assignment_id,reason,approver,expires\nOLD,A1,r,a,2026-01-01\nNEW,A1,r,a,2027-01-01\n";
        let register = Register {
            path: "x.csv".into(),
            exceptions: parse_csv(text, Path::new("x.csv")).unwrap(),
        };
        let found = Matcher::new(&register, date("2026-06-01")).find(&key(
            "missing_access",
            "A1",
            "",
            "",
            "",
            "",
        ));
        assert_eq!(
            found,
            Some(Match {
                index: 1,
                active: true
            })
        );
    }

    #[test]
    fn category_narrows_a_rule() {
        let text =
            "assignment_id,category,reason,approver,expires\nA1,not_delivered,r,a,2027-01-01\n";
        let register = Register {
            path: "x.csv".into(),
            exceptions: parse_csv(text, Path::new("x.csv")).unwrap(),
        };
        let matcher = Matcher::new(&register, date("2026-06-01"));
        assert!(matcher
            .find(&key("not_delivered", "A1", "", "", "", ""))
            .is_some());
        assert!(matcher
            .find(&key("missing_access", "A1", "", "", "g", "member"))
            .is_none());
        assert_eq!(
            register.exceptions[0].id, "x.csv:2",
            "a default id names the line"
        );
    }

    #[test]
    fn toml_registers_read_dates_and_strings() {
        let text = r#"
[[exception]]
id = "EX-1"
assignment_id = "A1"
reason = "r"
approver = "a"
expires = 2026-12-31

[[exception]]
id = "EX-2"
resource_id = "G1"
user_id = "U1"
role = "member"
reason = "r"
approver = "a"
expires = "2027-01-31"
ticket = "CHG-1"
"#;
        let exceptions = parse_toml(text, Path::new("x.toml")).unwrap();
        assert_eq!(exceptions.len(), 2);
        assert_eq!(exceptions[0].expires, date("2026-12-31"));
        assert_eq!(exceptions[1].ticket.as_deref(), Some("CHG-1"));
        assert_eq!(exceptions[1].origin, "`x.toml` line 9");
    }

    fn csv_error(text: &str) -> String {
        parse_csv(text, Path::new("x.csv")).unwrap_err().to_string()
    }

    #[test]
    fn bad_csv_rows_are_refused_naming_the_line() {
        let head = "id,assignment_id,user_id,resource_id,role,category,reason,approver,expires\n";
        let cases = [
            ("E1,A1,,,,,r,a,2026-13-01\n", "is not a date"),
            ("E1,A1,,,,,r,a,\n", "no expiry date"),
            ("E1,A1,,,,,,a,2026-12-01\n", "no reason"),
            ("E1,A1,,,,,r,,2026-12-01\n", "no approver"),
            ("E1,,U1,,,,r,a,2026-12-01\n", "covers nothing specific"),
            (
                "E1,A1,,,member,,r,a,2026-12-01\n",
                "without its resource_id",
            ),
            ("E1,A1,,,,missing,r,a,2026-12-01\n", "category `missing`"),
        ];
        for (row, wanted) in cases {
            let message = csv_error(&format!("{head}E0,A0,,,,,r,a,2026-12-01\n{row}"));
            assert!(
                message.contains("line 3") && message.contains(wanted),
                "{row}: {message}"
            );
        }
        let message = csv_error(&format!(
            "{head}E1,A1,,,,,r,a,2026-12-01\nE1,A2,,,,,r,a,2026-12-01\n"
        ));
        assert!(
            message.contains("line 3") && message.contains("twice"),
            "{message}"
        );
    }

    #[test]
    fn unknown_or_missing_csv_columns_are_refused() {
        assert!(csv_error("assignment_id,reason,approver,expires,owner\n")
            .contains("unknown column `owner`"));
        assert!(csv_error("assignment_id,reason,expires\n").contains("`approver` is missing"));
    }

    #[test]
    fn bad_toml_entries_point_at_their_line() {
        let text = "[[exception]]\nassignment_id = \"A1\"\nreason = \"r\"\napprover = \"a\"\nexpires = 2026-12-01\n\n[[exception]]\nassignment_id = \"A2\"\nreason = \"r\"\napprover = \"a\"\n";
        let message = parse_toml(text, Path::new("x.toml"))
            .unwrap_err()
            .to_string();
        assert!(
            message.contains("line 7") && message.contains("no expiry date"),
            "{message}"
        );
        let message = parse_toml("[[exception]]\nassignment = \"A1\"\n", Path::new("x.toml"))
            .unwrap_err()
            .to_string();
        assert!(
            message.contains("line 2") && message.contains("assignment"),
            "{message}"
        );
    }
}
