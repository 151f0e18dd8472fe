//! Approval of a plan: who approved which items, when, under which ticket. Approval never
//! changes the items; it is bound to their digest.

use std::collections::HashSet;
use std::path::Path;

use calamine::{open_workbook, Data, Xlsx};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::Plan;
use crate::error::{Error, Refusal, Result};

/// Name of the Plan sheet and of its approval column in `drift.xlsx`.
pub const PLAN_SHEET: &str = "Plan";
pub const APPROVE_COLUMN: &str = "approve";
pub const ASSIGNMENT_COLUMN: &str = "assignment_id";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Approval {
    pub approver: String,
    #[serde(default)]
    pub ticket: Option<String>,
    pub approved_at: DateTime<Utc>,
    /// The items this approval was given for.
    pub items_digest: String,
    /// Assignment ids approved for reprocessing; the others are not to be touched.
    pub approved: Vec<String>,
    /// `command line`, or the workbook it was read from.
    pub source: String,
}

/// What to approve: everything, or a selection.
#[derive(Debug, Default)]
pub struct Selection {
    pub only: Vec<String>,
    pub exclude: Vec<String>,
}

impl Plan {
    /// Records an approval of the selected items (all by default).
    pub fn approve(
        &mut self,
        approver: &str,
        ticket: Option<String>,
        approved: Vec<String>,
        source: String,
        now: DateTime<Utc>,
    ) -> std::result::Result<(), Refusal> {
        let approver = approver.trim();
        if approver.is_empty() {
            return Err(Refusal::NoApprover);
        }
        if now >= self.expires {
            return Err(Refusal::Expired {
                expires: self.expires,
                created: self.created,
            });
        }
        if approved.is_empty() {
            return Err(Refusal::NothingApproved);
        }
        self.approval = Some(Approval {
            approver: approver.to_string(),
            ticket,
            approved_at: now,
            items_digest: self.items_digest.clone(),
            approved,
            source,
        });
        Ok(())
    }

    /// Assignment ids selected by `--only` / `--exclude`, in plan order. Unknown ids are errors.
    pub fn select(&self, selection: &Selection) -> std::result::Result<Vec<String>, Refusal> {
        let known: HashSet<&str> = self
            .items
            .iter()
            .map(|i| i.assignment_id.as_str())
            .collect();
        for id in selection.only.iter().chain(&selection.exclude) {
            if !known.contains(id.to_ascii_lowercase().as_str()) {
                return Err(Refusal::UnknownItem { id: id.clone() });
            }
        }
        let only: HashSet<String> = selection
            .only
            .iter()
            .map(|s| s.to_ascii_lowercase())
            .collect();
        let exclude: HashSet<String> = selection
            .exclude
            .iter()
            .map(|s| s.to_ascii_lowercase())
            .collect();
        Ok(self
            .items
            .iter()
            .map(|item| item.assignment_id.clone())
            .filter(|id| (only.is_empty() || only.contains(id)) && !exclude.contains(id))
            .collect())
    }
}

/// Reads the Approve column of the Plan sheet. The sheet's rows must be exactly the plan's
/// items in order, or the workbook belongs to another plan and is refused.
///
/// The sheet is streamed cell by cell into a grid of the plan's size: a workbook claiming a
/// huge sheet (one value in `XFD1048576`) is refused instead of allocated.
pub fn approved_in_workbook(plan: &Plan, path: &Path) -> Result<Vec<String>> {
    let refuse = |message: String| Error::refused(path, Refusal::Workbook { message });
    entra_model::input::check_regular_file(path)?;
    let mut workbook: Xlsx<_> =
        open_workbook(path).map_err(|e| refuse(format!("cannot be read as a workbook: {e}")))?;
    let grid = read_grid(&mut workbook, plan.items.len() + 1).map_err(refuse)?;
    let mut rows = grid.iter();
    let header: Vec<String> = rows.next().cloned().unwrap_or_default();
    let column = |name: &str| {
        header
            .iter()
            .position(|h| h == name)
            .ok_or_else(|| refuse(format!("sheet `{PLAN_SHEET}` has no `{name}` column")))
    };
    let approve = column(APPROVE_COLUMN)?;
    let assignment = column(ASSIGNMENT_COLUMN)?;
    let rows: Vec<&Vec<String>> = rows.filter(|r| r.iter().any(|c| !c.is_empty())).collect();
    if rows.len() != plan.items.len() {
        return Err(refuse(format!(
            "sheet `{PLAN_SHEET}` has {} item rows but the plan has {} items: it is not this plan's workbook",
            rows.len(),
            plan.items.len()
        )));
    }
    let mut approved = Vec::new();
    for (index, (row, item)) in rows.iter().zip(&plan.items).enumerate() {
        let cell = |column: usize| row.get(column).cloned().unwrap_or_default();
        let id = cell(assignment);
        if !id.eq_ignore_ascii_case(&item.assignment_id) {
            return Err(refuse(format!(
                "sheet `{PLAN_SHEET}` row {} names assignment `{id}` where the plan has `{}`: it is not this plan's workbook",
                index + 2,
                item.assignment_id
            )));
        }
        match cell(approve).to_ascii_lowercase().as_str() {
            "yes" => approved.push(item.assignment_id.clone()),
            "no" | "" => {}
            other => {
                return Err(refuse(format!(
                "sheet `{PLAN_SHEET}` row {} has `{other}` in `{APPROVE_COLUMN}`; use Yes or No",
                index + 2
            )))
            }
        }
    }
    Ok(approved)
}

/// Columns a Plan sheet may use; cells to the right (a reviewer's notes) are ignored.
const MAX_COLUMNS: usize = 64;

/// The Plan sheet's first `rows` rows as text, streamed; a value below them is an error.
fn read_grid(
    workbook: &mut Xlsx<std::io::BufReader<std::fs::File>>,
    rows: usize,
) -> std::result::Result<Vec<Vec<String>>, String> {
    let mut reader = workbook
        .worksheet_cells_reader(PLAN_SHEET)
        .map_err(|e| format!("has no readable `{PLAN_SHEET}` sheet: {e}"))?;
    let mut grid = vec![Vec::<String>::new(); rows];
    loop {
        let cell = reader
            .next_cell()
            .map_err(|e| format!("sheet `{PLAN_SHEET}` cannot be read: {e}"))?;
        let Some(cell) = cell else { break };
        let (row, column) = cell.get_position();
        let (row, column) = (row as usize, column as usize);
        let text = cell_text(&Data::from(cell.get_value().clone()));
        if text.is_empty() {
            continue;
        }
        let Some(line) = grid.get_mut(row) else {
            return Err(format!(
                "sheet `{PLAN_SHEET}` has a value at row {}, below the plan's {} item rows: it is not this plan's workbook",
                row + 1,
                rows - 1
            ));
        };
        if column >= MAX_COLUMNS {
            continue;
        }
        if line.len() <= column {
            line.resize(column + 1, String::new());
        }
        line[column] = text;
    }
    Ok(grid)
}

fn cell_text(cell: &Data) -> String {
    match cell {
        Data::String(s) => s.trim().to_string(),
        Data::Empty => String::new(),
        other => other.to_string(),
    }
}
