//! Counts for the Summary sheet and the stderr summary: findings per category, and where
//! missing access concentrates.

use std::collections::HashMap;

use polars::prelude::DataFrame;

use super::rows::StringRows;
use super::{col, CATEGORIES, MISSING_ACCESS};
use crate::error::Result;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CategoryCount {
    pub category: &'static str,
    pub findings: usize,
    pub in_plan: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ranked {
    pub id: String,
    pub label: String,
    pub missing: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    pub categories: Vec<CategoryCount>,
    pub total: usize,
    pub top_packages: Vec<Ranked>,
    pub top_resources: Vec<Ranked>,
    /// Findings per `cause` value (non-empty causes only), most first.
    pub causes: Vec<(String, usize)>,
    /// Findings per kind of actor that caused them (user, application, ...), most first.
    pub actor_kinds: Vec<(String, usize)>,
    /// Who caused drift: the actors of `removed`, `added` and `deleted` findings, most first.
    pub actors: Vec<ActorCount>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActorCount {
    pub actor: String,
    pub kind: String,
    pub findings: usize,
}

pub const TOP: usize = 10;

pub fn summarise(findings: &DataFrame) -> Result<Summary> {
    let rows = StringRows::new(
        findings,
        &[
            col::CATEGORY,
            col::IN_PLAN,
            col::PACKAGE_ID,
            col::PACKAGE_NAME,
            col::RESOURCE_TYPE,
            col::RESOURCE_ID,
            col::RESOURCE_NAME,
        ],
    )?;
    let mut counts: HashMap<&str, (usize, usize)> = HashMap::new();
    let mut packages: HashMap<String, (String, usize)> = HashMap::new();
    let mut resources: HashMap<String, (String, usize)> = HashMap::new();
    for row in rows.iter() {
        let entry = counts.entry(row[0]).or_default();
        entry.0 += 1;
        if row[1] == "yes" {
            entry.1 += 1;
        }
        if row[0] == MISSING_ACCESS {
            let label = if row[3].is_empty() { row[2] } else { row[3] };
            packages
                .entry(row[2].to_string())
                .or_insert((label.to_string(), 0))
                .1 += 1;
            let label = if row[6].is_empty() { row[5] } else { row[6] };
            resources
                .entry(format!("{} {}", row[4], row[5]))
                .or_insert((format!("{} ({})", label, row[4]), 0))
                .1 += 1;
        }
    }
    let (causes, actor_kinds, actors) = who_caused(findings)?;
    let categories = CATEGORIES
        .iter()
        .map(|category| {
            let (findings, in_plan) = counts.get(category).copied().unwrap_or_default();
            CategoryCount {
                category,
                findings,
                in_plan,
            }
        })
        .collect();
    Ok(Summary {
        categories,
        total: rows.len(),
        top_packages: top(packages),
        top_resources: top(resources),
        causes,
        actor_kinds,
        actors,
    })
}

type Counted = Vec<(String, usize)>;

/// Counts of causes, of actor kinds, and the top actors (findings without cause columns,
/// from runs before causes existed, count nothing).
fn who_caused(findings: &DataFrame) -> Result<(Counted, Counted, Vec<ActorCount>)> {
    if findings.column(col::CAUSE).is_err() {
        return Ok(Default::default());
    }
    let rows = StringRows::new(
        findings,
        &[col::CAUSE, col::CAUSE_ACTOR, col::CAUSE_ACTOR_KIND],
    )?;
    let mut causes: HashMap<&str, usize> = HashMap::new();
    let mut kinds: HashMap<&str, usize> = HashMap::new();
    let mut actors: HashMap<(&str, &str), usize> = HashMap::new();
    for row in rows.iter() {
        if row[0].is_empty() {
            continue;
        }
        *causes.entry(row[0]).or_default() += 1;
        if !row[2].is_empty() {
            *kinds.entry(row[2]).or_default() += 1;
            *actors.entry((row[1], row[2])).or_default() += 1;
        }
    }
    let most_first = |counts: HashMap<&str, usize>| -> Counted {
        let mut list: Counted = counts
            .into_iter()
            .map(|(k, n)| (k.to_string(), n))
            .collect();
        list.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        fold_the_rest(list)
    };
    let mut actors: Vec<ActorCount> = actors
        .into_iter()
        .map(|((actor, kind), findings)| ActorCount {
            actor: actor.to_string(),
            kind: kind.to_string(),
            findings,
        })
        .collect();
    actors.sort_by(|a, b| {
        b.findings
            .cmp(&a.findings)
            .then_with(|| a.actor.cmp(&b.actor))
            .then_with(|| a.kind.cmp(&b.kind))
    });
    actors.truncate(TOP);
    Ok((most_first(causes), most_first(kinds), actors))
}

/// Causes and kinds of actor are a handful of words the audit writes; findings from elsewhere
/// (or a future cause) could hold any number. Past [`LISTED`], the rest are counted in one
/// entry, so that a list stays a list (and the Summary sheet within Excel's rows).
pub const LISTED: usize = 20;

fn fold_the_rest(mut list: Counted) -> Counted {
    if list.len() > LISTED {
        let rest = list.split_off(LISTED - 1);
        let findings = rest.iter().map(|(_, n)| n).sum();
        list.push((format!("({} others)", rest.len()), findings));
    }
    list
}

/// Most missing first; ties by id so the order is stable.
fn top(counts: HashMap<String, (String, usize)>) -> Vec<Ranked> {
    let mut ranked: Vec<Ranked> = counts
        .into_iter()
        .map(|(id, (label, missing))| Ranked { id, label, missing })
        .collect();
    ranked.sort_by(|a, b| b.missing.cmp(&a.missing).then_with(|| a.id.cmp(&b.id)));
    ranked.truncate(TOP);
    ranked
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_list_of_causes_ends_in_one_entry_counting_the_rest() {
        let list = |n: usize| -> Counted { (0..n).map(|i| (format!("cause {i}"), 1)).collect() };
        assert_eq!(fold_the_rest(list(LISTED)), list(LISTED));
        let folded = fold_the_rest(list(1_100_000));
        assert_eq!(folded.len(), LISTED);
        assert_eq!(folded[..LISTED - 1], list(LISTED - 1)[..]);
        let others = 1_100_000 - (LISTED - 1);
        assert_eq!(folded[LISTED - 1], (format!("({others} others)"), others));
        let total: usize = folded.iter().map(|(_, n)| n).sum();
        assert_eq!(total, 1_100_000, "every finding is still counted");
    }
}
