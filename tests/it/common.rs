//! Helpers shared by the CLI integration tests: run the real binary in a fresh `--out`, read
//! the files of its run folder, and read the hand-written expectations in `tests/expected/`.
//!
//! Nothing here computes an expectation with the code under test: expected rows come from
//! `tests/expected/*.csv` and the fixture JSON files, read with `csv` and `serde_json` only.

// Each integration test binary compiles this module on its own and uses a different subset.
#![allow(dead_code)]

use std::collections::HashMap;
use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};

use assert_cmd::Command;
use calamine::{open_workbook, Data, Reader, Xlsx};
use tempfile::TempDir;

/// The contract's required columns (`findings.md`), in their required order.
pub const REQUIRED_COLUMNS: [&str; 7] = [
    "category",
    "assignment_id",
    "access_package_id",
    "user_id",
    "resource_type",
    "resource_id",
    "role",
];

/// The columns of `tests/expected/<tenant>.csv`.
pub const KEY_COLUMNS: [&str; 8] = [
    "category",
    "assignment_id",
    "access_package_id",
    "user_id",
    "resource_type",
    "resource_id",
    "role",
    "in_plan",
];

/// Reviewer columns every findings table must also carry.
pub const REVIEW_COLUMNS: [&str; 10] = [
    "user_display_name",
    "user_principal_name",
    "user_enabled",
    "access_package_name",
    "resource_name",
    "role_name",
    "assignment_state",
    "detail",
    "in_plan",
    "plan_skip_reason",
];

/// Category value → its findings sheet, in report order.
pub const CATEGORY_SHEETS: [(&str, &str); 5] = [
    ("missing_access", "Missing access"),
    ("resource_not_found", "Resource not found"),
    ("unverifiable", "Unverifiable"),
    ("not_delivered", "Not delivered"),
    ("access_without_assignment", "Access without assignment"),
];

pub fn project_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `fixtures/<name>` (name may contain a slash, e.g. `bad/malformed-json`).
pub fn fixture(name: &str) -> PathBuf {
    project_root().join("fixtures").join(name)
}

/// `tests/expected/<name>`.
pub fn expected_file(name: &str) -> PathBuf {
    project_root().join("tests").join("expected").join(name)
}

/// The names of every `fixtures/edge-*` tenant, sorted.
pub fn edge_tenants() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(project_root().join("fixtures"))
        .expect("listing fixtures/")
        .map(|entry| entry.expect("fixtures/ entry"))
        .filter(|entry| entry.path().is_dir())
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with("edge-"))
        .collect();
    names.sort();
    names
}

/// The binary, with no `RUST_LOG` from the environment leaking into stderr.
pub fn entra_drift() -> Command {
    let mut command = Command::cargo_bin("entra-drift").expect("the entra-drift binary is built");
    command.env_remove("RUST_LOG");
    command
}

/// What one process run gave back.
#[derive(Debug)]
pub struct Output {
    /// `None` when killed by a signal.
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `entra-drift audit --tenant-dir TENANT --out OUT EXTRA...` and returns what it gave,
/// whatever the exit code.
pub fn run_audit_raw(tenant_dir: &Path, out: &Path, extra: &[&str]) -> Output {
    let output = entra_drift()
        .arg("audit")
        .arg("--tenant-dir")
        .arg(tenant_dir)
        .arg("--out")
        .arg(out)
        .args(extra)
        .output()
        .expect("running entra-drift");
    Output {
        code: output.status.code(),
        stdout: String::from_utf8(output.stdout).expect("stdout is UTF-8"),
        stderr: String::from_utf8(output.stderr).expect("stderr is UTF-8"),
    }
}

/// A successful audit run in its own temporary `--out`.
#[derive(Debug)]
pub struct AuditRun {
    /// Kept alive so that the run folder outlives the test's reads.
    pub out: TempDir,
    pub run_dir: PathBuf,
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl AuditRun {
    pub fn findings_csv(&self) -> PathBuf {
        self.run_dir.join("findings.csv")
    }

    pub fn drift_xlsx(&self) -> PathBuf {
        self.run_dir.join("drift.xlsx")
    }

    pub fn plan_json(&self) -> PathBuf {
        self.run_dir.join("plan.json")
    }
}

/// Runs the audit of `fixtures/<tenant>` into a fresh temporary `--out`; panics (with the
/// process's stderr) unless it exits 0 or 2. The run folder is what stdout names.
pub fn audit(tenant: &str, extra: &[&str]) -> AuditRun {
    let out = tempfile::tempdir().expect("temporary --out");
    let output = run_audit_raw(&fixture(tenant), out.path(), extra);
    let run_dir = run_dir_of(&output, out.path());
    AuditRun {
        out,
        run_dir,
        code: output.code.expect("exit code"),
        stdout: output.stdout,
        stderr: output.stderr,
    }
}

/// Parses the run folder from a successful run's stdout (exactly one line) and checks that it
/// is a folder under `out`.
pub fn run_dir_of(output: &Output, out: &Path) -> PathBuf {
    assert!(
        matches!(output.code, Some(0) | Some(2)),
        "audit failed with {:?}\nstdout:\n{}\nstderr:\n{}",
        output.code,
        output.stdout,
        output.stderr
    );
    let line = output
        .stdout
        .strip_suffix('\n')
        .unwrap_or_else(|| panic!("stdout does not end with a newline: {:?}", output.stdout));
    assert!(
        !line.is_empty() && !line.contains('\n') && !line.contains('\r'),
        "stdout must be exactly one line (the run folder), got {:?}",
        output.stdout
    );
    let run_dir = PathBuf::from(line);
    assert!(
        run_dir.is_dir(),
        "stdout names {run_dir:?}, which is not a folder"
    );
    assert!(
        run_dir.starts_with(out),
        "run folder {run_dir:?} is not under --out {out:?}"
    );
    run_dir
}

/// A CSV file: its header and its rows keyed by column name.
#[derive(Debug)]
pub struct Table {
    pub header: Vec<String>,
    pub rows: Vec<HashMap<String, String>>,
}

impl Table {
    /// Each row's values of `columns` (panics on a missing column), in file order.
    pub fn project(&self, columns: &[&str]) -> Vec<Vec<String>> {
        self.rows.iter().map(|row| project(row, columns)).collect()
    }

    /// Rows whose `column` equals `value`.
    pub fn rows_where(&self, column: &str, value: &str) -> Vec<&HashMap<String, String>> {
        self.rows
            .iter()
            .filter(|row| row.get(column).map(String::as_str) == Some(value))
            .collect()
    }
}

pub fn project(row: &HashMap<String, String>, columns: &[&str]) -> Vec<String> {
    columns
        .iter()
        .map(|column| {
            row.get(*column)
                .unwrap_or_else(|| panic!("row has no column `{column}`: {row:?}"))
                .clone()
        })
        .collect()
}

/// Reads a CSV file with a header row into a [`Table`].
pub fn read_csv(path: &Path) -> Table {
    let mut reader = csv::Reader::from_path(path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    let header: Vec<String> = reader
        .headers()
        .unwrap_or_else(|e| panic!("{path:?} header: {e}"))
        .iter()
        .map(str::to_string)
        .collect();
    let rows = reader
        .records()
        .map(|record| {
            let record = record.unwrap_or_else(|e| panic!("{path:?}: {e}"));
            assert_eq!(
                record.len(),
                header.len(),
                "{path:?}: a row's width differs from the header's"
            );
            header
                .iter()
                .cloned()
                .zip(record.iter().map(str::to_string))
                .collect()
        })
        .collect();
    Table { header, rows }
}

/// `findings.csv` of a run as rows keyed by column name.
pub fn read_findings(run: &AuditRun) -> Table {
    read_csv(&run.findings_csv())
}

/// `tests/expected/<tenant>.csv`.
pub fn read_expected(tenant: &str) -> Table {
    let table = read_csv(&expected_file(&format!("{tenant}.csv")));
    assert_eq!(
        table.header, KEY_COLUMNS,
        "tests/expected/{tenant}.csv has unexpected columns"
    );
    table
}

/// Sorted key rows: comparing two of these compares multisets.
pub fn sorted(mut rows: Vec<Vec<String>>) -> Vec<Vec<String>> {
    rows.sort();
    rows
}

/// Opens an `.xlsx` file with calamine.
pub fn open_xlsx(path: &Path) -> Xlsx<BufReader<File>> {
    open_workbook(path).unwrap_or_else(|e| panic!("opening {path:?}: {e}"))
}

/// A worksheet as a grid indexed from A1 (leading empty rows and columns kept).
pub fn sheet_grid(workbook: &mut Xlsx<BufReader<File>>, name: &str) -> Vec<Vec<Data>> {
    let range = workbook
        .worksheet_range(name)
        .unwrap_or_else(|e| panic!("reading sheet `{name}`: {e}"));
    let Some((first_row, first_column)) = range.start() else {
        return Vec::new();
    };
    let mut grid = vec![Vec::new(); first_row as usize];
    for row in range.rows() {
        let mut cells = vec![Data::Empty; first_column as usize];
        cells.extend(row.iter().cloned());
        grid.push(cells);
    }
    grid
}

/// A cell as text: strings as they are, empty as "", numbers in their shortest form.
pub fn cell_text(cell: &Data) -> String {
    match cell {
        Data::Empty => String::new(),
        Data::String(text) => text.clone(),
        other => other.to_string(),
    }
}

/// A row's texts with trailing empty cells dropped.
pub fn row_texts(row: &[Data]) -> Vec<String> {
    let mut texts: Vec<String> = row.iter().map(cell_text).collect();
    while texts.last().is_some_and(String::is_empty) {
        texts.pop();
    }
    texts
}

/// A findings sheet: its header row and its non-empty data rows keyed by header.
#[derive(Debug)]
pub struct Sheet {
    pub header: Vec<String>,
    pub rows: Vec<HashMap<String, String>>,
    /// The raw cells of the data rows, in the same order as `rows`.
    pub cells: Vec<Vec<Data>>,
}

/// The column a workbook heading stands for (`User` is `user_display_name`, `Approve` is
/// `approve`); any other heading as it is.
pub fn column_of_heading(heading: &str) -> String {
    use entra_drift::plan::approval::{self, plan_heading};
    let plan = [
        approval::APPROVE_COLUMN,
        approval::ACTION_COLUMN,
        approval::REASON_COLUMN,
        approval::ITEM_COLUMN,
        approval::ASSIGNMENT_COLUMN,
        approval::DIGEST_COLUMN,
    ];
    entra_drift::audit::col::ALL
        .iter()
        .find(|c| entra_drift::report::words::heading(c) == heading)
        .or_else(|| plan.iter().find(|c| plan_heading(c) == heading))
        .map_or_else(|| heading.to_string(), |c| c.to_string())
}

/// A findings or Plan sheet keyed by column name: the workbook's headings are words, mapped
/// back to the names the CSV and plan.json use.
pub fn read_findings_sheet(workbook: &mut Xlsx<BufReader<File>>, name: &str) -> Sheet {
    let grid = sheet_grid(workbook, name);
    assert!(!grid.is_empty(), "sheet `{name}` has no header row");
    let header: Vec<String> = row_texts(&grid[0])
        .iter()
        .map(|h| column_of_heading(h))
        .collect();
    let mut rows = Vec::new();
    let mut cells = Vec::new();
    for row in &grid[1..] {
        if row.iter().all(|cell| cell_text(cell).is_empty()) {
            continue;
        }
        let mut keyed = HashMap::new();
        for (index, column) in header.iter().enumerate() {
            keyed.insert(
                column.clone(),
                row.get(index).map(cell_text).unwrap_or_default(),
            );
        }
        rows.push(keyed);
        cells.push(row.clone());
    }
    Sheet {
        header,
        rows,
        cells,
    }
}

/// Reads a fixture JSON file with serde_json.
pub fn fixture_json(tenant: &str, file: &str) -> serde_json::Value {
    let path = fixture(tenant).join(file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path:?}: {e}"))
}

/// `displayName` of the object with `id` in a fixture collection file.
pub fn display_name_in(tenant: &str, file: &str, id: &str) -> String {
    let value = fixture_json(tenant, file);
    value["value"]
        .as_array()
        .unwrap_or_else(|| panic!("{tenant}/{file} has no value array"))
        .iter()
        .find(|object| object["id"].as_str() == Some(id))
        .and_then(|object| object["displayName"].as_str())
        .unwrap_or_else(|| panic!("{tenant}/{file}: no displayName for `{id}`"))
        .to_string()
}

/// Copies a directory tree (for variations of a fixture in a temporary folder).
pub fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap_or_else(|e| panic!("{to:?}: {e}"));
    for entry in std::fs::read_dir(from).unwrap_or_else(|e| panic!("{from:?}: {e}")) {
        let entry = entry.expect("directory entry");
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target)
                .unwrap_or_else(|e| panic!("copying {:?}: {e}", entry.path()));
        }
    }
}

/// Everything under `dir`, recursively (for "nothing was written" checks).
pub fn list_tree(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries {
            let path = entry.expect("directory entry").path();
            if path.is_dir() {
                found.extend(list_tree(&path));
            }
            found.push(path);
        }
    }
    found.sort();
    found
}

/// The text of the value of top-level key `key` in a JSON object text, with the whitespace
/// between tokens removed and everything else (key order, string escapes) kept as written.
/// This is what a reviewer with `sha256sum` would hash; it does not go through any JSON model.
pub fn compact_top_level_value(json: &str, key: &str) -> String {
    let compact = compact_json(json);
    let bytes = compact.as_bytes();
    let wanted = format!("\"{key}\":");
    let mut depth = 0usize;
    let mut index = 0usize;
    while index < bytes.len() {
        match bytes[index] {
            b'"' => {
                let end = string_end(bytes, index);
                if depth == 1 && compact[index..].starts_with(&wanted) {
                    let start = index + wanted.len();
                    return compact[start..value_end(bytes, start)].to_string();
                }
                index = end;
                continue;
            }
            b'{' | b'[' => depth += 1,
            b'}' | b']' => depth -= 1,
            _ => {}
        }
        index += 1;
    }
    panic!("no top-level key `{key}`");
}

/// Removes insignificant whitespace from JSON text, leaving strings untouched.
pub fn compact_json(json: &str) -> String {
    let mut out = String::with_capacity(json.len());
    let mut in_string = false;
    let mut escaped = false;
    for c in json.chars() {
        if in_string {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
        } else if c == '"' {
            in_string = true;
            out.push(c);
        } else if !matches!(c, ' ' | '\t' | '\n' | '\r') {
            out.push(c);
        }
    }
    out
}

/// Index just past the string starting at `start` (a `"`).
fn string_end(bytes: &[u8], start: usize) -> usize {
    let mut index = start + 1;
    while index < bytes.len() {
        match bytes[index] {
            b'\\' => index += 2,
            b'"' => return index + 1,
            _ => index += 1,
        }
    }
    panic!("unterminated JSON string");
}

/// Index just past the (compact) JSON value starting at `start`.
fn value_end(bytes: &[u8], start: usize) -> usize {
    let mut depth = 0usize;
    let mut index = start;
    while index < bytes.len() {
        match bytes[index] {
            b'"' => {
                index = string_end(bytes, index);
                if depth == 0 {
                    return index;
                }
                continue;
            }
            b'{' | b'[' => depth += 1,
            b'}' | b']' => {
                if depth == 0 {
                    return index;
                }
                depth -= 1;
                if depth == 0 {
                    return index + 1;
                }
            }
            b',' if depth == 0 => return index,
            _ => {}
        }
        index += 1;
    }
    bytes.len()
}

/// A copy of a folder tree (fixtures to damage, sources to check).
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// `entra-drift generate --size small --seed SEED --out OUT` (a tenant directory).
pub fn generate_small(out: &Path, seed: &str) {
    let output = entra_drift()
        .args(["-q", "generate", "--size", "small", "--seed", seed, "--out"])
        .arg(out)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The plan item a `findings.csv` row belongs to, as the product computes it
/// (`plan::finding_item_id`).
pub fn finding_item_id_of(row: &HashMap<String, String>) -> String {
    entra_drift::plan::finding_item_id(
        &row["category"],
        &row["assignment_id"],
        &row["resource_type"],
        &row["resource_id"],
        &row["role"],
        &row["user_id"],
    )
}
