//! Shared by the scheduled-audit tests (history, exceptions, configuration, unattended runs):
//! the binary with a fixed clock, the trend fixtures, and small readers of the run folders.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use calamine::Data;

use crate::common::*;

pub const CONTOSO_ID: &str = "a27b43c7-0a4f-4c67-a4d9-b08c482f4357";
/// The three weekly runs of `fixtures/trend` (trend-notes.md).
pub const WEEKS: [&str; 3] = [
    "2026-11-01T06:00:00Z",
    "2026-11-08T06:00:00Z",
    "2026-11-15T06:00:00Z",
];
pub const HISTORY_COLUMNS: [&str; 10] = [
    "category",
    "assignment_id",
    "access_package_id",
    "user_id",
    "resource_type",
    "resource_id",
    "role",
    "first_seen",
    "days_open",
    "status",
];

/// `entra-drift ARGS` with the clock fixed at `now` and no configuration from the environment.
pub fn entra_drift_at(now: &str) -> assert_cmd::Command {
    let mut command = entra_drift();
    command
        .env("ENTRA_DRIFT_NOW", now)
        .env_remove("ENTRA_DRIFT_CONFIG");
    command
}

pub fn run(command: &mut assert_cmd::Command) -> Output {
    let output = command.output().expect("running entra-drift");
    Output {
        code: output.status.code(),
        stdout: String::from_utf8(output.stdout).expect("stdout is UTF-8"),
        stderr: String::from_utf8(output.stderr).expect("stderr is UTF-8"),
    }
}

/// `audit --tenant-dir TENANT --out OUT EXTRA...` at `now`; returns the output.
pub fn audit_at(tenant: &Path, out: &Path, now: &str, extra: &[&str]) -> Output {
    run(entra_drift_at(now)
        .arg("audit")
        .arg("--tenant-dir")
        .arg(tenant)
        .arg("--out")
        .arg(out)
        .args(extra))
}

/// Like [`audit_at`] but requires success and returns the run folder.
pub fn audit_ok(tenant: &Path, out: &Path, now: &str, extra: &[&str]) -> PathBuf {
    run_dir_of(&audit_at(tenant, out, now, extra), out)
}

pub fn tenant_folder(out: &Path) -> PathBuf {
    out.join(CONTOSO_ID)
}

/// The three trend runs into `out`; returns their run folders.
pub fn trend_runs(out: &Path, extra: &[&str]) -> Vec<PathBuf> {
    (0..3)
        .map(|i| {
            audit_ok(
                &fixture(&format!("trend/run{}", i + 1)),
                out,
                WEEKS[i],
                extra,
            )
        })
        .collect()
}

pub fn name_of(dir: &Path) -> String {
    dir.file_name().unwrap().to_string_lossy().into_owned()
}

/// A Summary-sheet fact (label in column A, value in column B).
pub fn fact(grid: &[Vec<Data>], label: &str) -> String {
    grid.iter()
        .map(|row| row_texts(row))
        .find(|row| row.first().map(String::as_str) == Some(label))
        .and_then(|row| row.get(1).cloned())
        .unwrap_or_else(|| panic!("Summary has no `{label}` fact"))
}

/// One exception of each shape on contoso, and one that expires on 2026-11-30.
pub const REGISTER_CSV: &str = "\
id,assignment_id,access_package_id,user_id,resource_type,resource_id,role,category,reason,approver,expires,ticket
EX-ASSIGN,7979899d-6aae-4e8b-bbe6-2f8d1163c77b,,,,,,,expense role being redesigned,CFO,2026-12-31,CHG-1
EX-USER,,,CB9D98F8-879F-4CAD-A534-E7834CB4E33E,group,15f02b30-b055-4983-ba88-8d6ab2e2d0dc,member,,auditor needs read access,CISO,2026-12-31,
EX-PACKAGE,,b52f6070-dcef-4e9b-a029-1bbcabfd9e9b,,,,,,legacy package being retired,IAM lead,2026-12-31,
EX-RESOURCE,,,,,https://contoso.sharepoint.com/sites/SalesEnablement,,,site checked by hand each quarter,IT,2026-12-31,
EX-EXPIRED,751bd151-dce2-45c2-9469-052950416704,,,,,,,temporary,CISO,2026-11-30,
";

pub fn write_register(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

pub fn plan_assignments(run: &Path) -> Vec<String> {
    let plan: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("plan.json")).unwrap()).unwrap();
    // Assignment items only: each access without assignment is an item of its own.
    plan["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|item| item.get("item_id").is_none())
        .map(|item| item["assignment_id"].as_str().unwrap().to_string())
        .collect()
}
