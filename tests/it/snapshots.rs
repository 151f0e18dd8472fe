//! Snapshot tests (insta) of what people and scripts read: `--help`, the stderr summary of an
//! audit, the stderr of a closed pipe, and the plan and manifest JSON schemas. Volatile values
//! (temporary paths, times, digests) are filtered. Review changes with `cargo insta review`.

use std::process::Stdio;

use crate::common::*;

/// Run folders and times vary per run; everything else must not.
fn filters(out: &str) -> Vec<(String, String)> {
    vec![
        (regex_escape(out), "[OUT]".into()),
        (r"\d{8}T\d{6}Z(-\d+)?".into(), "[RUN]".into()),
        (
            r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})".into(),
            "[TIME]".into(),
        ),
        (r"sha256:[0-9a-f]{64}".into(), "[SHA256]".into()),
        (r"\d+\.\d s".into(), "[SECONDS]".into()),
        (
            regex_escape(&project_root().display().to_string()),
            "[ROOT]".into(),
        ),
    ]
}

fn regex_escape(text: &str) -> String {
    text.chars()
        .map(|c| {
            if "\\.+*?()|[]{}^$#&-~".contains(c) {
                format!("\\{c}")
            } else {
                c.to_string()
            }
        })
        .collect()
}

fn with_filters(out: &str, check: impl FnOnce()) {
    let filters = filters(out);
    let pairs: Vec<(&str, &str)> = filters
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    let mut settings = insta::Settings::clone_current();
    for (pattern, replacement) in pairs {
        settings.add_filter(pattern, replacement);
    }
    settings.bind(check);
}

fn help(args: &[&str]) -> String {
    let output = entra_drift().args(args).output().unwrap();
    assert!(output.status.success());
    String::from_utf8(output.stdout).unwrap()
}

#[test]
fn help_texts() {
    insta::assert_snapshot!("help", help(&["--help"]));
    insta::assert_snapshot!("audit_help", help(&["audit", "--help"]));
    insta::assert_snapshot!("apply_help", help(&["apply", "--help"]));
}

/// A usage error's stderr (exit 1, never clap's 2, which means drift).
fn usage_error(args: &[&str]) -> String {
    let output = entra_drift().args(args).output().unwrap();
    assert_eq!(output.status.code(), Some(1), "{args:?}");
    String::from_utf8(output.stderr).unwrap()
}

#[test]
fn a_command_typed_under_another_names_the_line_that_works() {
    insta::assert_snapshot!(
        "misplaced_apply",
        usage_error(&["plan", "apply", "run/plan.json", "--dry-run"])
    );
    // A typo within the right command keeps clap's own suggestion.
    insta::assert_snapshot!("mistyped_approve", usage_error(&["plan", "aprove", "x"]));
}

#[test]
fn audit_summary_on_stderr() {
    let run = audit("contoso-core", &[]);
    let out = run.out.path().display().to_string();
    with_filters(&out, || {
        insta::assert_snapshot!("contoso_summary", run.stderr);
        insta::assert_snapshot!("contoso_stdout", run.stdout);
    });
}

#[test]
fn plan_schema() {
    let run = audit("contoso-core", &[]);
    let plan: serde_json::Value =
        serde_json::from_slice(&std::fs::read(run.plan_json()).unwrap()).unwrap();
    let out = run.out.path().display().to_string();
    with_filters(&out, || {
        insta::assert_json_snapshot!("contoso_plan", plan, {
            ".created" => "[TIME]",
            ".expires" => "[TIME]",
            ".snapshot_taken_at" => "[TIME]",
            ".snapshot_source" => "[SOURCE]",
        });
    });
}

#[test]
fn manifest_schema() {
    let run = audit("contoso-core", &[]);
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(run.run_dir.join("manifest.json")).unwrap()).unwrap();
    let out = run.out.path().display().to_string();
    with_filters(&out, || {
        insta::assert_json_snapshot!("contoso_manifest", manifest, {
            ".created" => "[TIME]",
            ".run" => "[RUN]",
            ".tool" => "[TOOL]",
            ".files[].sha256" => "[SHA256]",
            ".files[].bytes" => "[BYTES]",
        });
    });
}

/// Runs the binary with a stdout pipe whose reader is already gone.
fn with_closed_stdout(args: &[String]) -> std::process::Output {
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_entra-drift"))
        .args(args)
        .current_dir(project_root())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    child.wait_with_output().unwrap()
}

/// `| head` closes stdout early: every command that writes data treats that as success
/// (before: a panic, exit 101).
#[test]
fn a_closed_pipe_is_success() {
    let out = tempfile::tempdir().unwrap();
    let out_arg = out.path().display().to_string();
    let audit = with_closed_stdout(&[
        "audit".into(),
        "--tenant-dir".into(),
        "fixtures/contoso-core".into(),
        "--out".into(),
        out_arg.clone(),
    ]);
    let stderr = String::from_utf8_lossy(&audit.stderr);
    assert_eq!(audit.status.code(), Some(0), "{stderr}");
    // A changed report gives `evidence verify` problems to print on stdout.
    let tenant = std::fs::read_dir(out.path())
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let run = std::fs::read_dir(&tenant)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.is_dir())
        .unwrap();
    std::fs::write(run.join("findings.csv"), "edited\n").unwrap();
    let verify = with_closed_stdout(&["evidence".into(), "verify".into(), out_arg]);
    let stderr = String::from_utf8_lossy(&verify.stderr);
    assert_eq!(verify.status.code(), Some(1), "problems found: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

/// Issue 26: shell completions and a man page from the same clap definition, and `--version`
/// naming the commit.
#[test]
fn completions_man_page_and_version_come_from_the_cli_itself() {
    let run = |args: &[&str]| {
        let output = crate::common::entra_drift().args(args).output().unwrap();
        assert!(
            output.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap()
    };
    let bash = run(&["completions", "bash"]);
    for word in [
        "audit",
        "apply",
        "evidence",
        "--allowed-signers",
        "--sealed-since",
        "--revoke",
    ] {
        assert!(bash.contains(word), "the bash completion knows {word}");
    }
    assert!(run(&["completions", "zsh"]).contains("#compdef entra-drift"));
    let man = run(&["man"]);
    assert!(
        man.contains(".TH entra-drift 1"),
        "{}",
        &man[..200.min(man.len())]
    );
    assert!(man.contains("audit") && man.contains("apply"));
    let version = run(&["--version"]);
    let commit = version
        .trim()
        .strip_prefix(&format!("entra-drift {} (", env!("CARGO_PKG_VERSION")))
        .and_then(|rest| rest.strip_suffix(')'))
        .unwrap_or_else(|| panic!("{version}"));
    assert!(
        commit == "unknown"
            || (commit.len() == 12 && commit.bytes().all(|b| b.is_ascii_hexdigit())),
        "{version}"
    );
}
