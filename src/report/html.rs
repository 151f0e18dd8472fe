//! `report.html`: one self-contained page per run for people who will not open Excel — the
//! run's facts, category counts, charts, who caused drift, and the findings table (filter,
//! search, sort) — rendered from a minijinja template with HTML auto-escaping.

use std::collections::HashMap;
use std::path::Path;

use chrono::{DateTime, NaiveDate, Utc};
use polars::prelude::DataFrame;
use serde::Serialize;

use super::charts;
use super::words;
use super::xlsx_history::TrendPoint;
use super::StringRows;
use crate::audit::annotate::ExceptionRow;
use crate::audit::col;
use crate::audit::summary::Summary;
use crate::error::{Error, Result};
use crate::snapshot::SnapshotInfo;

pub const REPORT_HTML: &str = "report.html";
/// Findings embedded in the page; beyond it the page says how many are left out and points to
/// the CSV (50,000 rows keep the page under 5 MB and quick to open).
pub const MAX_HTML_ROWS: usize = 50_000;
/// Exceptions that expire within this many days are listed.
pub const EXPIRING_DAYS: i64 = 14;

const TEMPLATE: &str = include_str!("templates/report.html");

/// The table's columns, human ones first, with their share of the table's width; the ids
/// (every contract column is there) are hidden until a reviewer shows them, so that the table
/// fits a 1,366 px screen. The `detail` sentence and the cause's time stay in the CSV and the
/// workbook: a sentence per row would take most of the page's bytes.
pub const COLUMNS: [(&str, u32); 20] = [
    (col::CATEGORY, 9),
    (col::STATUS, 7),
    (col::USER_NAME, 9),
    (col::USER_UPN, 11),
    (col::USER_ENABLED, 6),
    (col::PACKAGE_NAME, 9),
    (col::RESOURCE_NAME, 9),
    (col::ROLE_NAME, 7),
    (col::REASON, 8),
    (col::DAYS_OPEN, 6),
    (col::IN_PLAN, 6),
    (col::SKIP_REASON, 11),
    (col::CAUSE, 9),
    (col::CAUSE_ACTOR, 9),
    (col::ASSIGNMENT_ID, 12),
    (col::PACKAGE_ID, 12),
    (col::USER_ID, 12),
    (col::RESOURCE_TYPE, 8),
    (col::RESOURCE_ID, 12),
    (col::ROLE, 10),
];

/// Columns shown only on request: the ids and whether the account is enabled.
fn hidden_by_default(key: &str) -> bool {
    key.ends_with("_id") || matches!(key, col::ROLE | col::RESOURCE_TYPE | col::USER_ENABLED)
}

/// What the page shows beyond the findings themselves.
pub struct ViewInput<'a> {
    pub info: &'a SnapshotInfo,
    pub run: &'a str,
    pub previous_run: Option<&'a str>,
    pub generated_at: DateTime<Utc>,
    pub audit_log: String,
    pub findings: &'a DataFrame,
    pub summary: &'a Summary,
    pub trend: &'a [TrendPoint],
    /// The plan's items and how many of them wait on `decide`; `None`: no plan written.
    pub plan_items: Option<(usize, usize)>,
    /// Findings of the previous run that this run no longer has.
    pub resolved: &'a [crate::audit::annotate::Resolved],
    pub exceptions: Option<&'a [ExceptionRow]>,
    /// Findings embedded in the page ([`MAX_HTML_ROWS`]; tests lower it).
    pub max_rows: usize,
    /// Who the findings and plan items wait for ([`words::waiting`]).
    pub waiting: Vec<words::Waiting>,
}

#[derive(Serialize)]
struct CategoryView {
    name: &'static str,
    label: String,
    findings: usize,
    new: usize,
    persisting: usize,
    resolved: usize,
    excepted: usize,
    in_plan: usize,
}

#[derive(Serialize)]
struct ColumnView {
    key: &'static str,
    label: &'static str,
    meaning: &'static str,
    weight: u32,
    hidden: bool,
}

#[derive(Serialize)]
struct TermsView {
    title: &'static str,
    column: &'static str,
    values: Vec<(&'static str, &'static str)>,
}

#[derive(Serialize)]
struct WaitingView {
    whom: &'static str,
    count: usize,
    next: &'static str,
}

#[derive(Serialize)]
struct ActorView {
    actor: String,
    kind: String,
    findings: usize,
}

#[derive(Serialize)]
struct ExpiringView {
    id: String,
    expires: String,
    owner: String,
}

#[derive(Serialize)]
struct Context {
    title: String,
    tenant_name: String,
    tenant_id: String,
    taken_at: String,
    generated_at: String,
    source: String,
    run: String,
    previous_run: String,
    audit_log: String,
    plan_items: String,
    total: usize,
    categories: Vec<CategoryView>,
    resolved: usize,
    causes: Vec<ActorView>,
    exceptions_expiring: Vec<ExpiringView>,
    chart_categories_svg: String,
    chart_trend_svg: String,
    chart_top_svg: String,
    chart_resources_svg: String,
    columns: Vec<ColumnView>,
    waiting: Vec<WaitingView>,
    glossary: Vec<TermsView>,
    rows_json: String,
    shown: usize,
    total_rows: usize,
    csv_name: &'static str,
    admin_links: bool,
}

/// Renders the page into `path`.
pub fn write_html(path: &Path, input: &ViewInput) -> Result<()> {
    let page = render(input).map_err(|message| Error::Render {
        path: path.to_path_buf(),
        message,
    })?;
    crate::files::write_durable(path, page.as_bytes())
}

/// The page as text.
pub fn render(input: &ViewInput) -> std::result::Result<String, String> {
    let context = context(input).map_err(|e| e.to_string())?;
    let mut env = minijinja::Environment::new();
    // `.html` names switch on auto-escaping: every value is escaped unless marked safe.
    env.add_template("report.html", TEMPLATE)
        .map_err(|e| e.to_string())?;
    let template = env.get_template("report.html").map_err(|e| e.to_string())?;
    template.render(&context).map_err(|e| e.to_string())
}

fn context(input: &ViewInput) -> Result<Context> {
    let info = input.info;
    let time = |t: &DateTime<Utc>| t.format("%Y-%m-%d %H:%M:%S UTC").to_string();
    let names: Vec<&str> = crate::audit::CATEGORY_TITLES.to_vec();
    let chart = |drawn: std::result::Result<Option<String>, String>| {
        drawn
            .map(Option::unwrap_or_default)
            .map_err(|message| Error::Render {
                path: REPORT_HTML.into(),
                message,
            })
    };
    let chart_categories_svg = chart(charts::categories(input.summary).map(Some))?;
    let chart_trend_svg = chart(charts::trend(input.trend, &names))?;
    let chart_top_svg = chart(charts::top_packages(input.summary))?;
    let chart_resources_svg = chart(charts::top_resources(input.summary))?;

    let (rows_json, shown) = rows_json(input.findings, input.max_rows)?;
    let statuses = status_counts(input.findings)?;
    let categories = input
        .summary
        .categories
        .iter()
        .map(|count| {
            let by = statuses.get(count.category).copied().unwrap_or_default();
            CategoryView {
                name: count.category,
                label: crate::audit::CATEGORIES
                    .iter()
                    .position(|c| *c == count.category)
                    .map_or_else(
                        || count.category.replace('_', " "),
                        |i| crate::audit::CATEGORY_TITLES[i].to_string(),
                    ),
                findings: count.findings,
                new: by.0,
                persisting: by.1,
                resolved: input
                    .resolved
                    .iter()
                    .filter(|r| r.key[0] == count.category)
                    .count(),
                excepted: by.2,
                in_plan: count.in_plan,
            }
        })
        .collect();
    let today = input.generated_at.date_naive();
    let exceptions_expiring = input
        .exceptions
        .unwrap_or_default()
        .iter()
        .filter(|e| expiring(e.expires, e.state, today))
        .map(|e| ExpiringView {
            id: e.id.clone(),
            expires: e.expires.to_string(),
            owner: e.approver.clone(),
        })
        .collect();
    let tenant_name = info.tenant_name.clone().unwrap_or_default();
    Ok(Context {
        title: if tenant_name.is_empty() {
            format!("entra-drift — {}", info.tenant_id)
        } else {
            format!("entra-drift — {tenant_name} ({})", info.tenant_id)
        },
        tenant_name,
        tenant_id: info.tenant_id.clone(),
        taken_at: time(&info.taken_at),
        generated_at: time(&input.generated_at),
        source: info.source.clone(),
        run: input.run.to_string(),
        previous_run: input.previous_run.unwrap_or_default().to_string(),
        audit_log: input.audit_log.clone(),
        plan_items: input.plan_items.map(plan_line).unwrap_or_default(),
        total: input.summary.total,
        categories,
        resolved: input.resolved.len(),
        causes: input
            .summary
            .actors
            .iter()
            .map(|a| ActorView {
                actor: a.actor.clone(),
                kind: a.kind.clone(),
                findings: a.findings,
            })
            .collect(),
        exceptions_expiring,
        chart_categories_svg,
        chart_trend_svg,
        chart_top_svg,
        chart_resources_svg,
        columns: COLUMNS
            .iter()
            .map(|(key, weight)| {
                let (label, meaning) = words::column(key);
                ColumnView {
                    key,
                    label,
                    meaning,
                    weight: *weight,
                    hidden: hidden_by_default(key),
                }
            })
            .collect(),
        waiting: input
            .waiting
            .iter()
            .map(|w| WaitingView {
                whom: w.whom,
                count: w.count,
                next: w.next,
            })
            .collect(),
        glossary: words::glossary()
            .into_iter()
            .map(|t| TermsView {
                title: t.title,
                column: match words::heading(t.column) {
                    "action" => "Action (plan)",
                    heading => heading,
                },
                values: t.values,
            })
            .collect(),
        rows_json,
        shown,
        total_rows: input.findings.height(),
        csv_name: super::FINDINGS_CSV,
        admin_links: true,
    })
}

/// `7 item(s), 3 waiting for a reviewer (decide)`: what the plan holds, for every view.
pub fn plan_line((items, undecided): (usize, usize)) -> String {
    if undecided == 0 {
        format!("{items} item(s)")
    } else {
        format!("{items} item(s), {undecided} waiting for a reviewer (decide)")
    }
}

/// An active exception that ends within [`EXPIRING_DAYS`].
pub fn expiring(expires: NaiveDate, state: &str, today: NaiveDate) -> bool {
    state == "active" && (expires - today).num_days() <= EXPIRING_DAYS
}

/// `(new, persisting, excepted)` per category.
fn status_counts(findings: &DataFrame) -> Result<HashMap<String, (usize, usize, usize)>> {
    let wanted = [col::CATEGORY, col::STATUS, col::EXCEPTION_STATE];
    let mut counts: HashMap<String, (usize, usize, usize)> = HashMap::new();
    if wanted.iter().any(|c| findings.column(c).is_err()) {
        return Ok(counts);
    }
    let rows = StringRows::new(findings, &wanted)?;
    for row in rows.iter() {
        let entry = counts.entry(row[0].to_string()).or_default();
        match row[1] {
            "new" => entry.0 += 1,
            "persisting" => entry.1 += 1,
            _ => {}
        }
        if row[2] == "active" {
            entry.2 += 1;
        }
    }
    Ok(counts)
}

/// The first [`MAX_HTML_ROWS`] findings in [`COLUMNS`] order, compactly: per column a
/// dictionary of its distinct values (GUIDs as 22 base64url characters after `~`; a value that
/// starts with `~` gets a second one) and one
/// fixed-width base64url index per row, so that 30,000 findings stay well under 5 MB. The page
/// decodes it back into rows. Made safe to sit inside `<script type="application/json">`.
fn rows_json(findings: &DataFrame, max_rows: usize) -> Result<(String, usize)> {
    let present: Vec<&str> = COLUMNS
        .iter()
        .map(|(key, _)| *key)
        .filter(|key| findings.column(key).is_ok())
        .collect();
    let rows = StringRows::new(findings, &present)?;
    let shown = rows.len().min(max_rows);
    let mut columns = Vec::with_capacity(COLUMNS.len());
    for (key, _) in COLUMNS {
        let at = present.iter().position(|p| *p == key);
        let mut dict: Vec<String> = Vec::new();
        let mut index: HashMap<&str, usize> = HashMap::new();
        let mut cells: Vec<usize> = Vec::with_capacity(shown);
        for row in rows.iter().take(shown) {
            let value = at.map_or("", |i| row[i]);
            let next = index.len();
            let i = *index.entry(value).or_insert_with(|| {
                dict.push(match compact_guid(value) {
                    Some(packed) => packed,
                    // `~` marks a packed GUID: a value of its own that starts with one gets two.
                    None if value.starts_with('~') => format!("~{value}"),
                    None => value.to_string(),
                });
                next
            });
            cells.push(i);
        }
        let width = digits(dict.len());
        let mut encoded = String::with_capacity(cells.len() * width);
        for cell in cells {
            push_base64(&mut encoded, cell, width);
        }
        columns.push(serde_json::json!({"dict": dict, "width": width, "cells": encoded}));
    }
    let json = serde_json::json!({"n": shown, "columns": columns}).to_string();
    Ok((script_safe(&json), shown))
}

const BASE64URL: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// Base64url digits needed for indices below `n` (at least one).
fn digits(n: usize) -> usize {
    let mut width = 1;
    while n > 64usize.pow(width as u32) {
        width += 1;
    }
    width
}

/// `value` as `width` base64url digits, most significant first.
fn push_base64(out: &mut String, value: usize, width: usize) {
    for place in (0..width).rev() {
        let digit = (value / 64usize.pow(place as u32)) % 64;
        out.push(BASE64URL[digit] as char);
    }
}

/// A lower-case GUID as `~` and its 16 bytes in base64url (22 characters instead of 36).
fn compact_guid(value: &str) -> Option<String> {
    if value.len() != 36 || !entra_model::ids::is_guid(value) || value != value.to_ascii_lowercase()
    {
        return None;
    }
    let hex: String = value.chars().filter(|c| *c != '-').collect();
    let bytes: Vec<u8> = (0..16)
        .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16))
        .collect::<std::result::Result<_, _>>()
        .ok()?;
    let mut out = String::from("~");
    let mut bits: u32 = 0;
    let mut count = 0;
    for byte in bytes {
        bits = (bits << 8) | u32::from(byte);
        count += 8;
        while count >= 6 {
            count -= 6;
            out.push(BASE64URL[((bits >> count) & 63) as usize] as char);
        }
    }
    if count > 0 {
        out.push(BASE64URL[((bits << (6 - count)) & 63) as usize] as char);
    }
    Some(out)
}

/// JSON with the characters that could end a script element or start markup escaped as
/// `\uXXXX` (still the same JSON value).
pub fn script_safe(json: &str) -> String {
    let mut out = String::with_capacity(json.len());
    for c in json.chars() {
        match c {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_in_a_script_element_cannot_close_it() {
        let json = serde_json::to_string(&vec!["</script><script>alert(1)</script>&"]).unwrap();
        let safe = script_safe(&json);
        assert!(!safe.contains('<') && !safe.contains('>') && !safe.contains('&'));
        let back: Vec<String> = serde_json::from_str(&safe).unwrap();
        assert_eq!(back[0], "</script><script>alert(1)</script>&");
    }

    #[test]
    fn indices_and_guids_encode_compactly() {
        assert_eq!(digits(1), 1);
        assert_eq!(digits(64), 1);
        assert_eq!(digits(65), 2);
        let mut out = String::new();
        push_base64(&mut out, 65, 2);
        assert_eq!(out, "BB");
        let guid = compact_guid("00000000-0000-0000-0000-0000000000ff").unwrap();
        assert_eq!(guid.len(), 23);
        assert_eq!(
            guid, "~AAAAAAAAAAAAAAAAAAAA_w",
            "as base64url without padding"
        );
        assert!(compact_guid("not-a-guid").is_none());
        assert!(
            compact_guid("ABCDEF00-0000-0000-0000-000000000000").is_none(),
            "case kept"
        );
    }

    #[test]
    fn a_page_past_its_row_limit_says_how_many_are_left_to_the_csv() {
        let tables = crate::snapshot::SnapshotBuilder::new().finish().unwrap();
        let empty = crate::audit::audit(&tables).unwrap();
        // Three rows of the audit's columns, all null: enough to count and embed.
        let columns: Vec<polars::prelude::Column> = empty
            .columns()
            .iter()
            .map(|c| polars::prelude::Column::full_null(c.name().clone(), 3, c.dtype()))
            .collect();
        let findings = DataFrame::new_infer_height(columns).unwrap();
        let summary = crate::audit::summary::summarise(&findings).unwrap();
        let info = SnapshotInfo {
            tenant_id: "t".into(),
            tenant_name: Some("Contoso <Ltd>".into()),
            taken_at: Utc::now(),
            source: "test".into(),
        };
        let input = ViewInput {
            info: &info,
            run: "20261130T120000Z",
            previous_run: None,
            generated_at: Utc::now(),
            audit_log: "not read".into(),
            findings: &findings,
            summary: &summary,
            trend: &[],
            plan_items: Some((0, 0)),
            resolved: &[],
            exceptions: None,
            max_rows: 2,
            waiting: Vec::new(),
        };
        let page = render(&input).unwrap();
        assert!(
            page.contains("Showing the first 2 of 3 findings"),
            "{}",
            &page[page.find("Showing").unwrap_or(0)..][..200.min(page.len())]
        );
        assert!(page.contains("Contoso &lt;Ltd&gt;"), "values are escaped");
        assert!(!page.contains("Contoso <Ltd>"));
    }

    #[test]
    fn exceptions_expiring_within_fourteen_days() {
        let today = NaiveDate::from_ymd_opt(2026, 12, 1).unwrap();
        let day = |d| NaiveDate::from_ymd_opt(2026, 12, d).unwrap();
        assert!(expiring(day(15), "active", today));
        assert!(!expiring(day(16), "active", today));
        assert!(!expiring(day(2), "expired", today));
    }
}
