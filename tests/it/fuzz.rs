//! Property tests over every input the tool reads (issue 10): tenant-directory JSON, stored
//! snapshots, plans, journals, configuration files, exception registers and approval
//! workbooks, damaged at random. The readers must return `Ok` or `Err` — never panic — and
//! the binary must exit 0, 1 or 2 (never 101 for a panic or 134 for an abort).
//!
//! The budget is fixed and small so that CI stays fast: `ENTRA_DRIFT_FUZZ_CASES` cases per
//! reader (default 48) from a fixed seed, so a failure reproduces.

use std::path::{Path, PathBuf};

use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};

use crate::common::*;

fn cases() -> u32 {
    std::env::var("ENTRA_DRIFT_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(48)
}

fn runner(cases: u32) -> TestRunner {
    TestRunner::new_with_rng(
        Config {
            cases,
            failure_persistence: None,
            ..Config::default()
        },
        TestRng::deterministic_rng(RngAlgorithm::ChaCha),
    )
}

/// One damage to a byte string: flipped bytes, a cut, or inserted JSON/CSV punctuation.
#[derive(Debug, Clone)]
enum Damage {
    Flip { at: usize, byte: u8 },
    Cut { at: usize },
    Insert { at: usize, text: &'static str },
}

fn damage() -> impl Strategy<Value = Vec<Damage>> {
    let one = prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(at, byte)| Damage::Flip { at, byte }),
        any::<usize>().prop_map(|at| Damage::Cut { at }),
        (
            any::<usize>(),
            prop::sample::select(vec![
                "{",
                "}",
                "[",
                "]",
                "\"",
                ",",
                ":",
                "null",
                "\\u0000",
                "-1e999",
                "\u{feff}",
                "\n",
                "\"id\":null",
                "99999999999999999999",
                "'",
                "../",
            ])
        )
            .prop_map(|(at, text)| Damage::Insert { at, text }),
    ];
    prop::collection::vec(one, 1..4)
}

fn apply(bytes: &[u8], damages: &[Damage]) -> Vec<u8> {
    let mut bytes = bytes.to_vec();
    for damage in damages {
        let len = bytes.len().max(1);
        match damage {
            Damage::Flip { at, byte } => {
                if !bytes.is_empty() {
                    let at = at % len;
                    bytes[at] = *byte;
                }
            }
            Damage::Cut { at } => bytes.truncate(at % len),
            Damage::Insert { at, text } => {
                let at = at % (bytes.len() + 1);
                bytes.splice(at..at, text.bytes());
            }
        }
    }
    bytes
}

/// A JSON document with one value replaced by another of any type.
fn json_damage() -> impl Strategy<Value = (usize, serde_json::Value)> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<i64>().prop_map(serde_json::Value::from),
        any::<bool>().prop_map(serde_json::Value::from),
        "[a-z0-9'/ .-]{0,40}".prop_map(serde_json::Value::from),
        Just(serde_json::json!([])),
        Just(serde_json::json!({})),
        Just(serde_json::Value::from("x".repeat(40_000))),
    ];
    (any::<usize>(), leaf)
}

fn replace_nth(value: &mut serde_json::Value, n: &mut usize, with: &serde_json::Value) -> bool {
    if *n == 0 {
        *value = with.clone();
        return true;
    }
    *n -= 1;
    match value {
        serde_json::Value::Array(items) => items.iter_mut().any(|v| replace_nth(v, n, with)),
        serde_json::Value::Object(map) => map.values_mut().any(|v| replace_nth(v, n, with)),
        _ => false,
    }
}

fn count_values(value: &serde_json::Value) -> usize {
    1 + match value {
        serde_json::Value::Array(items) => items.iter().map(count_values).sum(),
        serde_json::Value::Object(map) => map.values().map(count_values).sum(),
        _ => 0,
    }
}

const TENANT_FILES: [&str; 5] = [
    "accessPackages.json",
    "assignments.json",
    "users.json",
    "groups.json",
    "servicePrincipals.json",
];

/// Reads and audits a tenant directory in-process: Ok or Err, never a panic.
fn audit_in_process(dir: &Path) {
    if let Ok(snapshot) = entra_drift::snapshot::tenant_dir::read(dir) {
        let _ = entra_drift::audit::audit(&snapshot.tables);
    }
}

#[test]
fn damaged_tenant_directories_never_panic() {
    let work = tempfile::tempdir().unwrap();
    let dir = work.path().join("t");
    copy_dir(&fixture("contoso-core"), &dir);
    let originals: Vec<Vec<u8>> = TENANT_FILES
        .iter()
        .map(|f| std::fs::read(dir.join(f)).unwrap())
        .collect();
    let strategy = (0..TENANT_FILES.len(), damage(), json_damage());
    runner(cases())
        .run(&strategy, |(file, bytes_damage, (nth, with))| {
            for (name, original) in TENANT_FILES.iter().zip(&originals) {
                std::fs::write(dir.join(name), original).unwrap();
            }
            // Structure-aware: one value of the file replaced by a value of any type.
            let mut value: serde_json::Value = serde_json::from_slice(&originals[file]).unwrap();
            let mut n = nth % count_values(&value);
            replace_nth(&mut value, &mut n, &with);
            std::fs::write(dir.join(TENANT_FILES[file]), value.to_string()).unwrap();
            audit_in_process(&dir);
            // Byte-level: the same file damaged as bytes.
            std::fs::write(
                dir.join(TENANT_FILES[file]),
                apply(&originals[file], &bytes_damage),
            )
            .unwrap();
            audit_in_process(&dir);
            Ok(())
        })
        .unwrap();
}

/// The binary on damaged tenants: exit 0, 1 or 2 only (a smaller budget: each is a process).
#[test]
fn the_binary_exits_0_1_or_2_on_damaged_tenants() {
    let work = tempfile::tempdir().unwrap();
    let dir = work.path().join("t");
    copy_dir(&fixture("contoso-core"), &dir);
    let originals: Vec<Vec<u8>> = TENANT_FILES
        .iter()
        .map(|f| std::fs::read(dir.join(f)).unwrap())
        .collect();
    let out = work.path().join("out");
    runner((cases() / 4).max(4))
        .run(&(0..TENANT_FILES.len(), damage()), |(file, damages)| {
            for (name, original) in TENANT_FILES.iter().zip(&originals) {
                std::fs::write(dir.join(name), original).unwrap();
            }
            std::fs::write(
                dir.join(TENANT_FILES[file]),
                apply(&originals[file], &damages),
            )
            .unwrap();
            let output = run_audit_raw(&dir, &out, &["-q"]);
            prop_assert!(
                matches!(output.code, Some(0..=2)),
                "exit {:?}: {}",
                output.code,
                output.stderr
            );
            Ok(())
        })
        .unwrap();
}

fn stored_snapshot(work: &Path) -> PathBuf {
    let output = entra_drift()
        .args(["-q", "snapshot", "--tenant-dir"])
        .arg(fixture("contoso-core"))
        .arg("--out")
        .arg(work)
        .output()
        .unwrap();
    assert!(output.status.success());
    PathBuf::from(String::from_utf8(output.stdout).unwrap().trim())
}

#[test]
fn damaged_stored_snapshots_never_panic() {
    let work = tempfile::tempdir().unwrap();
    let dir = stored_snapshot(work.path());
    let manifest_path = dir.join("snapshot.json");
    let manifest = std::fs::read_to_string(&manifest_path).unwrap();
    let tables = [
        "packages.parquet",
        "package_roles.parquet",
        "assignments.parquet",
        "users.parquet",
        "holdings.parquet",
        "resource_status.parquet",
    ];
    let originals: Vec<Vec<u8>> = tables
        .iter()
        .map(|t| std::fs::read(dir.join(t)).unwrap())
        .collect();
    runner(cases())
        .run(&(0..tables.len(), damage()), |(table, damages)| {
            for (name, original) in tables.iter().zip(&originals) {
                std::fs::write(dir.join(name), original).unwrap();
            }
            // The digest is recomputed: only the decoder and the checks stand in the way.
            let bytes = apply(&originals[table], &damages);
            let mut value: serde_json::Value = serde_json::from_str(&manifest).unwrap();
            value["tables"][tables[table]] =
                serde_json::Value::from(entra_drift::files::digest(&bytes));
            std::fs::write(&manifest_path, value.to_string()).unwrap();
            std::fs::write(dir.join(tables[table]), bytes).unwrap();
            if let Ok((snapshot, _)) = entra_drift::snapshot::store::read(&dir) {
                let _ = entra_drift::audit::audit(&snapshot.tables);
            }
            Ok(())
        })
        .unwrap();
}

#[test]
fn damaged_plans_journals_configs_and_registers_never_panic() {
    let run = audit("contoso-core", &[]);
    let plan_text = std::fs::read(run.plan_json()).unwrap();
    let work = tempfile::tempdir().unwrap();
    let plan = work.path().join("plan.json");
    let journal = work.path().join("plan.journal.jsonl");
    let config = work.path().join("entra-drift.toml");
    let csv = work.path().join("exceptions.csv");
    let toml = work.path().join("exceptions.toml");
    let journal_text = b"{\"at\":\"2026-12-01T00:00:00Z\",\"event\":\"run\",\"assignment_id\":\"\",\"detail\":\"sha256:00\"}\n{\"at\":\"2026-12-01T00:00:01Z\",\"event\":\"reprocessed\",\"assignment_id\":\"751bd151-dce2-45c2-9469-052950416704\",\"detail\":\"202\"}\n".to_vec();
    let config_text = b"tenant_dir = \"fixtures/contoso-core\"\nout = \"reports\"\nkeep = 5\nconcurrency = 4\n[scope]\ninclude_packages = [\"x\"]\n".to_vec();
    let csv_text = b"id,assignment_id,reason,approver,expires\nX1,751bd151-dce2-45c2-9469-052950416704,r,a,2099-01-01\n".to_vec();
    let toml_text = b"[[exception]]\nid = \"X\"\nresource_id = \"g\"\nreason = \"r\"\napprover = \"a\"\nexpires = 2099-01-01\n".to_vec();
    runner(cases())
        .run(&(damage(), json_damage()), |(damages, (nth, with))| {
            let mut value: serde_json::Value = serde_json::from_slice(&plan_text).unwrap();
            let mut n = nth % count_values(&value);
            replace_nth(&mut value, &mut n, &with);
            std::fs::write(&plan, value.to_string()).unwrap();
            let _ = entra_drift::plan::Plan::read(&plan);
            std::fs::write(&plan, apply(&plan_text, &damages)).unwrap();
            let _ = entra_drift::plan::Plan::read(&plan);
            std::fs::write(&journal, apply(&journal_text, &damages)).unwrap();
            let _ = entra_drift::apply::journal::Journal::open(&journal, "sha256:00");
            std::fs::write(&config, apply(&config_text, &damages)).unwrap();
            let _ = entra_drift::config::read(&config);
            std::fs::write(&csv, apply(&csv_text, &damages)).unwrap();
            let _ = entra_drift::exceptions::read(&csv);
            std::fs::write(&toml, apply(&toml_text, &damages)).unwrap();
            let _ = entra_drift::exceptions::read(&toml);
            Ok(())
        })
        .unwrap();
}

#[test]
fn damaged_approval_workbooks_never_panic() {
    let run = audit("contoso-core", &[]);
    let plan = entra_drift::plan::Plan::read(&run.plan_json()).unwrap();
    let original = std::fs::read(run.drift_xlsx()).unwrap();
    let work = tempfile::tempdir().unwrap();
    let workbook = work.path().join("drift.xlsx");
    let cells = prop::collection::vec((0u32..2_000_000, 0u16..16_384, "[A-Za-z0-9 -]{0,12}"), 0..6);
    runner(cases())
        .run(&(damage(), cells), |(damages, cells)| {
            std::fs::write(&workbook, apply(&original, &damages)).unwrap();
            let _ = entra_drift::plan::approval::approved_in_workbook(&plan, &workbook);
            // A well-formed workbook with cells anywhere on the Plan sheet.
            let mut book = rust_xlsxwriter::Workbook::new();
            let sheet = book.add_worksheet();
            sheet.set_name("Plan").unwrap();
            sheet.write_string(0, 0, "approve").unwrap();
            sheet.write_string(0, 1, "assignment_id").unwrap();
            for (row, column, text) in &cells {
                let _ = sheet.write_string((*row).min(1_048_575), *column, text);
            }
            book.save(&workbook).unwrap();
            let _ = entra_drift::plan::approval::approved_in_workbook(&plan, &workbook);
            Ok(())
        })
        .unwrap();
}
