//! Inputs as admins and attackers produce them (issue 10): byte-order marks, FIFOs, links out
//! of the tenant directory, ids that would reach other endpoints, corrupt stored snapshots,
//! oversized workbooks and values, and URLs with credentials. Each fails on the old code: a
//! panic or abort, a hang, a silent acceptance, or a whole run lost to one value.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::common::*;

/// A copy of `fixtures/<name>` to damage.
fn copy_fixture(name: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join(name);
    copy_dir(&fixture(name), &target);
    (dir, target)
}

fn json_files(dir: &Path, found: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            json_files(&path, found);
        } else if path.extension().is_some_and(|e| e == "json") {
            found.push(path);
        }
    }
}

fn run(args: &[&str]) -> Output {
    let output = entra_drift().args(args).output().unwrap();
    Output {
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

fn assert_clean_failure(output: &Output, needle: &str) {
    assert_eq!(output.code, Some(1), "stderr: {}", output.stderr);
    assert!(
        output.stderr.contains(needle),
        "stderr should mention {needle:?}:\n{}",
        output.stderr
    );
    assert!(!output.stderr.contains("panicked"), "{}", output.stderr);
}

#[test]
fn a_byte_order_mark_in_every_input_file_is_accepted() {
    let (_keep, tenant) = copy_fixture("contoso-core");
    let mut files = Vec::new();
    json_files(&tenant, &mut files);
    for file in &files {
        let mut bytes = b"\xEF\xBB\xBF".to_vec();
        bytes.extend(std::fs::read(file).unwrap());
        std::fs::write(file, bytes).unwrap();
    }
    let config = tenant.join("entra-drift.toml");
    std::fs::write(&config, "\u{feff}plan = true\n").unwrap();
    let register = tenant.join("exceptions.csv");
    std::fs::write(
        &register,
        "\u{feff}id,assignment_id,reason,approver,expires\nX1,3b280e9f-a116-499a-bebc-fb9ccae627b7,r,a,2099-01-01\n",
    )
    .unwrap();
    let out = tempfile::tempdir().unwrap();
    let with_bom = run_audit_raw(
        &tenant,
        out.path(),
        &[
            "--config",
            config.to_str().unwrap(),
            "--exceptions",
            register.to_str().unwrap(),
        ],
    );
    let run_dir = run_dir_of(&with_bom, out.path());
    let plain = audit("contoso-core", &[]);
    let findings = |path: PathBuf| {
        let text = std::fs::read_to_string(path).unwrap();
        text.lines().count()
    };
    assert_eq!(
        findings(run_dir.join("findings.csv")),
        findings(plain.findings_csv())
    );
}

#[cfg(unix)]
#[test]
fn a_fifo_in_the_tenant_directory_is_an_error_not_a_hang() {
    let (_keep, tenant) = copy_fixture("contoso-core");
    let groups = tenant.join("groups.json");
    std::fs::remove_file(&groups).unwrap();
    let status = std::process::Command::new("mkfifo")
        .arg(&groups)
        .status()
        .unwrap();
    assert!(status.success());
    let out = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let output = run_audit_raw(&tenant, out.path(), &[]);
    assert!(started.elapsed() < Duration::from_secs(20));
    assert_clean_failure(&output, "is a FIFO, not a regular file");
}

#[cfg(unix)]
#[test]
fn a_link_out_of_the_tenant_directory_is_an_error() {
    let (keep, tenant) = copy_fixture("contoso-core");
    let outside = keep.path().join("elsewhere.json");
    std::fs::rename(tenant.join("users.json"), &outside).unwrap();
    std::os::unix::fs::symlink(&outside, tenant.join("users.json")).unwrap();
    let out = tempfile::tempdir().unwrap();
    let output = run_audit_raw(&tenant, out.path(), &[]);
    assert_clean_failure(&output, "is a link that leaves");
}

/// An audit reads the member and owner lists of the groups some package governs, as a live
/// read does, and only those: a broken list of an ungoverned group is never parsed, while one of
/// a governed group stops the run naming its file. fake-graph, which serves every list, still
/// reads (and refuses) them all.
#[test]
fn only_governed_lists_are_read_and_a_broken_one_is_named() {
    let (_keep, tenant) = copy_fixture("contoso-core");
    // Not in any package's scopes.
    let ungoverned = tenant.join("groups/6606f3cc-f3ee-407b-a88f-d11608648942/members.json");
    std::fs::write(&ungoverned, b"{\"value\": [").unwrap();
    let out = tempfile::tempdir().unwrap();
    let output = run_audit_raw(&tenant, out.path(), &[]);
    assert_eq!(output.code, Some(0), "{}", output.stderr);
    let served = entra_model::tenant_dir::TenantDir::read(&tenant);
    assert!(
        entra_model::error::chain(&served.unwrap_err()).contains("members.json"),
        "the whole directory, read for serving, refuses it"
    );

    let governed = tenant.join("groups/1b01d039-c9d2-4b04-9e79-991f6b93bfe4/members.json");
    std::fs::write(&governed, b"{\"value\": [").unwrap();
    std::fs::write(&ungoverned, b"{\"value\": []}").unwrap();
    let output = run_audit_raw(&tenant, out.path(), &[]);
    assert_clean_failure(&output, "1b01d039-c9d2-4b04-9e79-991f6b93bfe4/members.json");
}

#[test]
fn a_non_guid_id_in_a_tenant_directory_is_refused_naming_the_file() {
    let (_keep, tenant) = copy_fixture("contoso-core");
    let path = tenant.join("assignments.json");
    let text = std::fs::read_to_string(&path).unwrap().replacen(
        "3b280e9f-a116-499a-bebc-fb9ccae627b7",
        "../../users/3b280e9f-a116-499a-bebc-fb9ccae627b7",
        1,
    );
    std::fs::write(&path, text).unwrap();
    let out = tempfile::tempdir().unwrap();
    let output = run_audit_raw(&tenant, out.path(), &[]);
    assert_clean_failure(&output, "assignments.json: assignment id `../../users/");
}

/// A plan item whose id walks to another endpoint, with both digests recomputed so that the
/// integrity check passes: refused as an id, before any approval or Graph call.
#[test]
fn a_plan_id_that_leaves_its_path_is_refused() {
    let run = audit("contoso-core", &[]);
    let text = std::fs::read_to_string(run.plan_json()).unwrap();
    let mut plan: entra_drift::plan::Plan = serde_json::from_str(&text).unwrap();
    plan.items[0].assignment_id = "../../users/284e3a3c-fb91-48bf-bad1-74c3685d7d3a".to_string();
    plan.items_digest = entra_drift::plan::items_digest(&plan.items);
    std::fs::write(
        run.plan_json(),
        serde_json::to_string_pretty(&plan).unwrap(),
    )
    .unwrap();
    let plan_path = run.plan_json();
    let output = run_args(&[
        "plan",
        "approve",
        plan_path.to_str().unwrap(),
        "--approver",
        "alice",
    ]);
    assert_clean_failure(&output, "item 1: assignment id `../../users/");
}

fn run_args(args: &[&str]) -> Output {
    run(args)
}

fn store_snapshot() -> (tempfile::TempDir, PathBuf) {
    let out = tempfile::tempdir().unwrap();
    let output = entra_drift()
        .args(["snapshot", "--tenant-dir", "fixtures/contoso-core", "--out"])
        .arg(out.path())
        .current_dir(project_root())
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let dir = PathBuf::from(String::from_utf8(output.stdout).unwrap().trim());
    (out, dir)
}

/// Rewrites one table of a stored snapshot and its digest in `snapshot.json`.
fn replace_table(dir: &Path, file: &str, bytes: Vec<u8>) {
    std::fs::write(dir.join(file), &bytes).unwrap();
    let manifest_path = dir.join("snapshot.json");
    let mut manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&manifest_path).unwrap()).unwrap();
    manifest["tables"][file] = serde_json::Value::String(entra_drift::files::digest(&bytes));
    std::fs::write(
        &manifest_path,
        serde_json::to_string_pretty(&manifest).unwrap(),
    )
    .unwrap();
}

#[test]
fn a_corrupt_stored_table_with_a_matching_digest_is_an_error_naming_it() {
    let (_out, dir) = store_snapshot();
    let mut bytes = std::fs::read(dir.join("assignments.parquet")).unwrap();
    // Damage the column data in the middle, keeping the magic bytes and the footer.
    let middle = bytes.len() / 2;
    for byte in &mut bytes[middle - 40..middle + 40] {
        *byte ^= 0x5A;
    }
    replace_table(&dir, "assignments.parquet", bytes);
    let output = run(&[
        "audit",
        "--snapshot",
        dir.to_str().unwrap(),
        "--out",
        dir.parent().unwrap().to_str().unwrap(),
    ]);
    assert_eq!(output.code, Some(1), "{}", output.stderr);
    assert!(
        output.stderr.contains("assignments.parquet"),
        "{}",
        output.stderr
    );
    assert!(!output.stderr.contains("panicked"), "{}", output.stderr);
}

#[test]
fn a_stored_snapshot_with_duplicate_ids_is_refused() {
    let (_out, dir) = store_snapshot();
    let (snapshot, _) = entra_drift::snapshot::store::read(&dir).unwrap();
    let mut users = snapshot.tables.users.clone();
    let first = users.head(Some(1));
    users.vstack_mut(&first).unwrap();
    let mut bytes = Vec::new();
    polars::prelude::ParquetWriter::new(&mut bytes)
        .finish(&mut users)
        .unwrap();
    replace_table(&dir, "users.parquet", bytes);
    let output = run(&[
        "audit",
        "--snapshot",
        dir.to_str().unwrap(),
        "--out",
        dir.parent().unwrap().to_str().unwrap(),
    ]);
    assert_clean_failure(&output, "appears twice");
    assert!(
        output.stderr.contains("users.parquet row"),
        "{}",
        output.stderr
    );
}

#[test]
fn a_workbook_claiming_the_whole_sheet_is_refused_without_allocating_it() {
    let run = audit("contoso-core", &[]);
    let workbook_path = run.run_dir.join("foreign.xlsx");
    let mut workbook = rust_xlsxwriter::Workbook::new();
    let sheet = workbook.add_worksheet();
    sheet.set_name("Plan").unwrap();
    sheet.write_string(0, 0, "approve").unwrap();
    sheet.write_string(0, 1, "assignment_id").unwrap();
    sheet.write_string(1_048_575, 16_383, "x").unwrap();
    workbook.save(&workbook_path).unwrap();
    let plan_path = run.plan_json();
    let started = Instant::now();
    let output = run_args(&[
        "plan",
        "approve",
        plan_path.to_str().unwrap(),
        "--approver",
        "alice",
        "--from-xlsx",
        workbook_path.to_str().unwrap(),
    ]);
    assert!(started.elapsed() < Duration::from_secs(20));
    assert_clean_failure(&output, "has a value at row 1048576, below the plan's");
}

#[test]
fn an_oversized_display_name_is_cut_in_the_workbook_and_whole_in_the_csv() {
    let (_keep, tenant) = copy_fixture("contoso-core");
    let path = tenant.join("users.json");
    let long = "L".repeat(40_000);
    let mut users: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    // A user with a missing_access finding (contoso-core-notes.md).
    for user in users["value"].as_array_mut().unwrap() {
        if user["id"] == "284e3a3c-fb91-48bf-bad1-74c3685d7d3a" {
            user["displayName"] = serde_json::Value::String(long.clone());
        }
    }
    std::fs::write(&path, serde_json::to_string(&users).unwrap()).unwrap();
    let out = tempfile::tempdir().unwrap();
    let output = run_audit_raw(&tenant, out.path(), &[]);
    let run_dir = run_dir_of(&output, out.path());
    assert!(run_dir.join("manifest.json").is_file(), "the run committed");
    let csv = std::fs::read_to_string(run_dir.join("findings.csv")).unwrap();
    assert!(csv.contains(&long), "the CSV keeps the whole value");
    let cells = read_all_cells(&run_dir.join("drift.xlsx"));
    let cut = cells
        .iter()
        .find(|cell| cell.starts_with("LLLL"))
        .expect("the long name is in the workbook");
    assert_eq!(cut.chars().count(), 32_767);
    assert!(
        cut.ends_with("full value in findings.csv]"),
        "{}",
        &cut[cut.len() - 80..]
    );
}

fn read_all_cells(path: &Path) -> Vec<String> {
    use calamine::Reader;
    let mut workbook: calamine::Xlsx<_> = calamine::open_workbook(path).unwrap();
    let mut cells = Vec::new();
    for name in workbook.sheet_names() {
        let range = workbook.worksheet_range(&name).unwrap();
        for row in range.rows() {
            for cell in row {
                cells.push(cell.to_string());
            }
        }
    }
    cells
}

#[test]
fn urls_with_credentials_are_refused_from_flags_files_and_the_environment() {
    let output = run(&[
        "audit",
        "--tenant",
        "a27b43c7-0a4f-4c67-a4d9-b08c482f4357",
        "--graph-url",
        "https://user:hunter2@graph.example",
    ]);
    assert_clean_failure(&output, "must not carry a user name or password");
    assert!(!output.stderr.contains("hunter2"));
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("entra-drift.toml");
    std::fs::write(
        &config,
        "graph_url = \"https://user:hunter2@graph.example\"\n",
    )
    .unwrap();
    let output = run(&["config", "check", config.to_str().unwrap()]);
    assert_clean_failure(&output, "line 1, column 13");
    assert!(!output.stderr.contains("hunter2"));
    let output = entra_drift()
        .args([
            "audit",
            "--tenant",
            "a27b43c7-0a4f-4c67-a4d9-b08c482f4357",
            "--credential",
            "secret",
        ])
        .env("AZURE_AUTHORITY_HOST", "https://user:hunter2@login.example")
        .env("AZURE_CLIENT_ID", "x")
        .env("AZURE_CLIENT_SECRET", "y")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("must not carry a user name or password"),
        "{stderr}"
    );
    assert!(!stderr.contains("hunter2"), "{stderr}");
}
