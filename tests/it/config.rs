//! Scheduled audits (issue 5): the configuration file and scope.
//!
//! Every test runs the real binary in a temporary `--out`, with the clock fixed by
//! `ENTRA_DRIFT_NOW`, and reads the reports back with `csv` and `calamine`; expectations come
//! from `tests/expected/trend-*.csv` (see `trend-notes.md`) and the contoso notes.

use std::path::Path;

use crate::common::*;
use crate::support::scheduled::*;

// ---------------------------------------------------------------------------------------------
// Configuration file
// ---------------------------------------------------------------------------------------------

fn config_check(file: &Path) -> Output {
    run(entra_drift_at("2026-12-01T00:00:00Z")
        .args(["config", "check"])
        .arg(file))
}

#[test]
fn config_check_accepts_a_valid_file_and_its_register() {
    let dir = tempfile::tempdir().unwrap();
    write_register(dir.path(), "exceptions.csv", REGISTER_CSV);
    let file = write_register(
        dir.path(),
        "entra-drift.toml",
        &format!(
            "tenant_dir = {:?}\nout = \"reports\"\nexceptions = \"exceptions.csv\"\nkeep = 12\nplan_expiry_days = 5\n\n[scope]\nexclude_packages = [\"Project Falcon (legacy)\"]\n",
            fixture("contoso-core").display().to_string()
        ),
    );
    let output = config_check(&file);
    assert_eq!(output.code, Some(0), "{}", output.stderr);
    assert!(output.stderr.contains("is valid"), "{}", output.stderr);
    assert!(
        output.stderr.contains("5 in") && output.stderr.contains("1 expired (EX-EXPIRED)"),
        "{}",
        output.stderr
    );
}

#[test]
fn config_errors_point_at_the_file_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let cases: [(&str, &str, &str); 7] = [
        ("out = \"r\"\n\nkepe = 3\n", "line 3, column 1", "kepe"),
        ("keep = 0\n", "line 1, column 8", "from 1 to 100000"),
        (
            "plan_expiry_days = \"a week\"\n",
            "line 1, column 20",
            "expected a whole number",
        ),
        ("cloud = \"mars\"\n", "line 1, column 9", "global"),
        (
            "[scope]\ninclude_catalog = [\"x\"]\n",
            "line 2, column 1",
            "include_catalog",
        ),
        (
            "tenant = \"t\"\nclient_secret = \"s\"\n",
            "line 2, column 1",
            "AZURE_CLIENT_SECRET",
        ),
        ("out = \"r\"\nkeep = [\n", "line 2", ""),
    ];
    for (index, (text, position, words)) in cases.iter().enumerate() {
        let file = write_register(dir.path(), &format!("case{index}.toml"), text);
        let output = config_check(&file);
        assert_eq!(output.code, Some(1), "{text:?}");
        let wanted = format!("`{}` {position}", file.display());
        assert!(
            output.stderr.contains(&wanted),
            "{text:?}: wanted {wanted:?} in\n{}",
            output.stderr
        );
        assert!(
            output.stderr.contains(words),
            "{text:?}: wanted {words:?} in\n{}",
            output.stderr
        );
        assert!(!output.stderr.contains("panicked"));
    }
    // The register the file names is checked too, at its own line.
    write_register(
        dir.path(),
        "register.csv",
        "assignment_id,reason,approver,expires\na,r,,2026-12-01\n",
    );
    let file = write_register(
        dir.path(),
        "with-register.toml",
        "exceptions = \"register.csv\"\n",
    );
    let output = config_check(&file);
    assert_eq!(output.code, Some(1));
    assert!(
        output.stderr.contains("register.csv` line 2") && output.stderr.contains("no approver"),
        "{}",
        output.stderr
    );
    // A source that does not exist.
    let file = write_register(dir.path(), "missing.toml", "tenant_dir = \"no/such/dir\"\n");
    let output = config_check(&file);
    assert_eq!(output.code, Some(1));
    assert!(
        output.stderr.contains("tenant_dir") && output.stderr.contains("no/such/dir"),
        "{}",
        output.stderr
    );
}

#[test]
fn audit_reads_the_config_file_and_flags_override_it() {
    let dir = tempfile::tempdir().unwrap();
    write_register(dir.path(), "exceptions.csv", REGISTER_CSV);
    let file = write_register(
        dir.path(),
        "entra-drift.toml",
        &format!(
            "tenant_dir = {:?}\nout = \"reports\"\nexceptions = \"exceptions.csv\"\nplan_expiry_days = 3\ndetailed_exitcode = true\n",
            fixture("contoso-core").display().to_string()
        ),
    );
    // Relative paths in the file are relative to the file, not to the working directory.
    let elsewhere = tempfile::tempdir().unwrap();
    let output = run(entra_drift_at("2026-12-01T00:00:00Z")
        .current_dir(elsewhere.path())
        .arg("--config")
        .arg(&file)
        .arg("audit"));
    assert_eq!(
        output.code,
        Some(2),
        "detailed_exitcode from the file: {}",
        output.stderr
    );
    let run_dir = run_dir_of(&output, &dir.path().join("reports"));
    let plan: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run_dir.join("plan.json")).unwrap()).unwrap();
    assert_eq!(
        plan["expires"], "2026-12-04T00:00:00Z",
        "plan_expiry_days from the file"
    );
    assert!(
        run_dir.join("exceptions.csv").is_file(),
        "the file's register is applied"
    );

    // The environment variable names the file as well; flags override its values.
    let other = dir.path().join("other");
    let output = run(entra_drift_at("2026-12-01T00:00:00Z")
        .env("ENTRA_DRIFT_CONFIG", &file)
        .args(["audit", "--plan-expiry-days", "7", "--out"])
        .arg(&other));
    let run_dir = run_dir_of(&output, &other);
    let plan: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run_dir.join("plan.json")).unwrap()).unwrap();
    assert_eq!(
        plan["expires"], "2026-12-08T00:00:00Z",
        "the flag wins over the file"
    );
}

#[test]
fn audit_with_a_bad_config_fails_naming_the_line_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let file = write_register(
        dir.path(),
        "entra-drift.toml",
        "out = \"reports\"\nretention = 4\n",
    );
    let output = run(entra_drift_at("2026-12-01T00:00:00Z")
        .arg("--config")
        .arg(&file)
        .args(["audit", "--tenant-dir"])
        .arg(fixture("contoso-core")));
    assert_eq!(output.code, Some(1));
    assert!(
        output
            .stderr
            .contains(&format!("`{}` line 2, column 1", file.display())),
        "{}",
        output.stderr
    );
    assert!(output.stdout.is_empty());
    assert!(!dir.path().join("reports").exists());
}

#[test]
fn audit_without_any_source_is_a_usage_error() {
    let out = tempfile::tempdir().unwrap();
    let output = run(entra_drift_at("2026-12-01T00:00:00Z")
        .args(["audit", "--out"])
        .arg(out.path()));
    assert_eq!(output.code, Some(1));
    assert!(output.stderr.contains("--tenant-dir"), "{}", output.stderr);
    assert!(list_tree(out.path()).is_empty());
}

#[test]
fn scope_from_the_file_or_flags_limits_findings_and_plan() {
    let dir = tempfile::tempdir().unwrap();
    // Finance (contoso-core-notes.md): A02, A03, A12 and the three access-without-assignment rows.
    let file = write_register(
        dir.path(),
        "entra-drift.toml",
        "[scope]\ninclude_catalogs = [\"7bc8d763-a519-4280-84b0-9e59fdfc4071\"]\n",
    );
    let out = dir.path().join("reports");
    let output = run(entra_drift_at("2026-12-01T00:00:00Z")
        .arg("--config")
        .arg(&file)
        .args(["audit", "--tenant-dir"])
        .arg(fixture("contoso-core"))
        .arg("--out")
        .arg(&out));
    let run_dir = run_dir_of(&output, &out);
    let findings = read_csv(&run_dir.join("findings.csv"));
    let mut assignments: Vec<String> = findings
        .rows
        .iter()
        .map(|r| r["assignment_id"].chars().take(8).collect())
        .collect();
    assignments.sort();
    assert_eq!(
        assignments,
        ["", "", "", "15c167de", "7979899d", "cb47596f"]
    );
    let mut plan = plan_assignments(&run_dir);
    plan.sort();
    assert_eq!(
        plan,
        [
            "7979899d-6aae-4e8b-bbe6-2f8d1163c77b",
            "cb47596f-82e5-48d4-8d36-40971f438d74",
        ]
    );
    let mut workbook = open_xlsx(&run_dir.join("drift.xlsx"));
    let grid = sheet_grid(&mut workbook, "Summary");
    assert!(fact(&grid, "Scope").contains("7bc8d763"));

    // A flag replaces the file's list of the same kind.
    let output = run(entra_drift_at("2026-12-01T00:00:00Z")
        .arg("--config")
        .arg(&file)
        .args([
            "audit",
            "--include-catalog",
            "ad0b0f15-bc86-401f-8193-2aae70106e2d",
            "--tenant-dir",
        ])
        .arg(fixture("contoso-core"))
        .arg("--out")
        .arg(&out));
    let run_dir = run_dir_of(&output, &out);
    let findings = read_csv(&run_dir.join("findings.csv"));
    assert!(findings.rows.iter().all(|r| [
        "0c4e27b1-a043-4ae3-a1e4-bcd7959ed0cf",
        "b52f6070-dcef-4e9b-a029-1bbcabfd9e9b"
    ]
    .contains(&r["access_package_id"].as_str())));
    assert_eq!(
        findings.rows.len(),
        5,
        "Engineering: four missing_access and the deleted group"
    );
}
