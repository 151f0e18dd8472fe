//! Long runs say where they are (issue 18): live lines with rising counts on a terminal (a
//! real pseudo-terminal through `script`), periodic plain or JSON lines elsewhere, items of N
//! for apply and verify, and stage durations in the summary and `index.csv`.

use std::path::Path;
use std::process::Command;

use crate::support::fake_graph::*;

/// A fake that pages assignments 20 at a time with latency: a read of a few seconds.
fn slow_fake(tenant: &Path) -> Fake {
    Fake::start(tenant.to_str().unwrap(), |config| {
        config.latency_ms = 40;
        config.assignment_page_size = 20;
    })
}

fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', "'\\''"))
}

#[test]
fn a_terminal_shows_rising_counts_while_assignments_are_read() {
    let work = tempfile::tempdir().unwrap();
    let tenant = work.path().join("tenant");
    crate::common::generate_small(&tenant, "8");
    let fake = slow_fake(&tenant);
    let out = work.path().join("out");
    let command = fake.command(&["audit", "--out", out.to_str().unwrap()], SECRET);
    let line: Vec<String> = std::iter::once(command.get_program())
        .chain(command.get_args())
        .map(|a| shell_quote(&a.to_string_lossy()))
        .collect();
    let typescript = work.path().join("typescript");
    // `script` runs the command in a new pseudo-terminal and records what it draws.
    let mut script = Command::new("script");
    script
        .args(["-qfec", &line.join(" ")])
        .arg(&typescript)
        .env_clear();
    for (key, value) in command.get_envs() {
        if let Some(value) = value {
            script.env(key, value);
        }
    }
    script.env("PATH", std::env::var_os("PATH").unwrap_or_default());
    // A real terminal says what it is; without TERM the drawing library stays silent.
    script.env("TERM", "xterm-256color");
    let status = script.output().unwrap();
    assert!(
        status.status.success(),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );
    let screen = String::from_utf8_lossy(&std::fs::read(&typescript).unwrap()).into_owned();
    let counts: Vec<u64> = screen
        .match_indices("assignments: ")
        .filter_map(|(at, found)| {
            screen[at + found.len()..]
                .split(|c: char| !c.is_ascii_digit())
                .next()
                .and_then(|n| n.parse().ok())
        })
        .collect();
    let mut distinct = counts.clone();
    distinct.dedup();
    assert!(
        distinct.len() >= 3,
        "the assignment count rises on screen: {distinct:?}"
    );
    assert!(
        distinct.windows(2).all(|w| w[0] <= w[1]),
        "counts only rise: {distinct:?}"
    );
    for stage in [
        "sign-in",
        "packages",
        "assignments",
        "users",
        "governed resources",
        "audit",
        "reports",
        "evidence",
    ] {
        assert!(
            screen.contains(&format!("✓ {stage}: ")),
            "{stage} keeps a summary line"
        );
    }
    assert!(
        screen.contains("Stages: sign-in "),
        "the summary lists the stages"
    );
    let last_stage = screen.rfind("✓ evidence: ").unwrap();
    let summary = screen.rfind("Audited tenant").expect("the summary");
    assert!(
        last_stage < summary,
        "the finished stages print before the summary, not after it"
    );
}

#[test]
fn without_a_terminal_running_stages_log_lines_plain_or_json() {
    let work = tempfile::tempdir().unwrap();
    let tenant = work.path().join("tenant");
    crate::common::generate_small(&tenant, "8");
    let fake = slow_fake(&tenant);
    let out = work.path().join("out");
    let plain = fake.run(
        &[
            "audit",
            "--out",
            out.to_str().unwrap(),
            "--progress-interval",
            "1",
        ],
        SECRET,
    );
    let stderr = String::from_utf8_lossy(&plain.stderr);
    assert!(plain.status.success(), "{stderr}");
    let assignment_lines = stderr
        .lines()
        .filter(|l| l.contains(" INFO assignments: "))
        .count();
    assert!(
        assignment_lines >= 2,
        "periodic lines and the final one:\n{stderr}"
    );
    // The first read of the tenant: once the package list is in, a total is estimated from it.
    assert!(
        stderr
            .lines()
            .any(|l| l.contains(" INFO assignments: ") && l.contains(" of ~")),
        "an estimated total on the first run:\n{stderr}"
    );
    assert!(!stderr.contains('\u{1b}'), "no control characters in a log");

    // The index records the stages and the Graph figures; the next run estimates from it.
    let tenant_dir = std::fs::read_dir(&out)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let mut index = csv::Reader::from_path(tenant_dir.join("index.csv")).unwrap();
    let headers = index.headers().unwrap().clone();
    let row = index.records().next().unwrap().unwrap();
    let get = |name: &str| row[headers.iter().position(|h| h == name).unwrap()].to_string();
    assert!(get("stages").starts_with("sign-in "), "{}", get("stages"));
    assert!(get("stages").contains("assignments "));
    assert!(get("requests").parse::<u64>().unwrap() > 0);
    assert!(get("assignments").parse::<u64>().unwrap() > 0);

    let json = fake.run(
        &[
            "--log-format",
            "json",
            "audit",
            "--out",
            out.to_str().unwrap(),
            "--progress-interval",
            "1",
        ],
        SECRET,
    );
    let stderr = String::from_utf8_lossy(&json.stderr);
    assert!(json.status.success(), "{stderr}");
    let events: Vec<serde_json::Value> = stderr
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .filter(|v: &serde_json::Value| v["fields"]["stage"] == "assignments")
        .collect();
    assert!(!events.is_empty(), "{stderr}");
    let last = events.last().unwrap();
    assert!(last["fields"]["items"].as_u64().unwrap() > 0, "{last}");
    assert!(last["fields"]["requests"].as_u64().unwrap() > 0, "{last}");
    assert!(
        last["fields"]["total"].as_u64().is_some(),
        "the second run knows the total from the index: {last}"
    );
}

#[test]
fn apply_and_verify_report_items_of_n() {
    let fake = Fake::start("contoso-core", |_| {});
    let out = tempfile::tempdir().unwrap();
    let run = run_dir(&fake.run(
        &["-q", "audit", "--out", out.path().to_str().unwrap()],
        SECRET,
    ));
    let plan = run.join("plan.json");
    let approve = assert_cmd::Command::cargo_bin("entra-drift")
        .unwrap()
        .args(["plan", "approve"])
        .arg(&plan)
        .args(["--approver", "ada"])
        .output()
        .unwrap();
    assert!(approve.status.success());
    let apply = fake.run(&["apply", plan.to_str().unwrap()], SECRET);
    let stderr = String::from_utf8_lossy(&apply.stderr);
    assert!(apply.status.success(), "{stderr}");
    assert!(
        stderr.contains("apply: 4 of 4 items · 4 reprocessed, 0 skipped, 0 failed"),
        "{stderr}"
    );
    let verify = fake.run(&["verify", plan.to_str().unwrap()], SECRET);
    let stderr = String::from_utf8_lossy(&verify.stderr);
    assert!(verify.status.success(), "{stderr}");
    // Verify reports every plan item, the access items on `decide` too.
    assert!(stderr.contains("verify: 7 of 7 items"), "{stderr}");
}
