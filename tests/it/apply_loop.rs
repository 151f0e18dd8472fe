//! Issue 4 end to end against the fake Graph: audit → approve (CLI and workbook) → apply →
//! verify, the refusals, crash and resume, healed items, throttled writes.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Output;

use crate::support::fake_graph::*;
use assert_cmd::Command;
use fake_graph::Faults;
use serde_json::{json, Value};

/// The four assignments contoso's plan holds (hand-checked in tests/expected/contoso-core.csv).
const PLAN_ITEMS: [&str; 4] = [
    "7979899d-6aae-4e8b-bbe6-2f8d1163c77b",
    "cb47596f-82e5-48d4-8d36-40971f438d74",
    "751bd151-dce2-45c2-9469-052950416704",
    "f49b8764-e61f-493b-b541-c0cca7b7cc0e",
];

fn audit(fake: &Fake, out: &Path) -> PathBuf {
    run_dir(&fake.run(&["-q", "audit", "--out", out.to_str().unwrap()], SECRET))
}

fn entra(args: &[&str]) -> Output {
    Command::cargo_bin("entra-drift")
        .unwrap()
        .args(args)
        .output()
        .unwrap()
}

fn approve(plan: &Path, extra: &[&str]) -> Output {
    let mut args = vec![
        "plan",
        "approve",
        plan.to_str().unwrap(),
        "--approver",
        "Ada Admin",
        "--ticket",
        "CHG-42",
    ];
    args.extend_from_slice(extra);
    entra(&args)
}

fn apply(fake: &Fake, plan: &Path, extra: &[&str]) -> Output {
    let mut args = vec!["apply", plan.to_str().unwrap()];
    args.extend_from_slice(extra);
    fake.run(&args, SECRET)
}

fn plan_json(plan: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(plan).unwrap()).unwrap()
}

fn results(dir: &Path, file: &str) -> BTreeMap<String, (String, String)> {
    let mut reader = csv::Reader::from_path(dir.join(file)).unwrap();
    let headers = reader.headers().unwrap().clone();
    let col = |n: &str| headers.iter().position(|h| h == n).unwrap();
    let (id, outcome, reason) = (
        col("assignment_id"),
        col(if file.starts_with("verify") {
            "status"
        } else {
            "outcome"
        }),
        col(if file.starts_with("verify") {
            "roles"
        } else {
            "reason"
        }),
    );
    reader
        .records()
        .map(|r| {
            let r = r.unwrap();
            (
                r[id].to_string(),
                (r[outcome].to_string(), r[reason].to_string()),
            )
        })
        .collect()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).to_string()
}

fn reprocess_counts(fake: &Fake) -> BTreeMap<String, u64> {
    fake.server()
        .stats()
        .reprocess
        .into_iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), v))
        .collect()
}

#[test]
fn the_whole_loop_restores_every_approved_item() {
    let fake = Fake::start("contoso-core", |_| {});
    let out = tempfile::tempdir().unwrap();
    let run = audit(&fake, out.path());
    let plan = run.join("plan.json");
    // The assignment items (the plan also lists each access without assignment, on `decide`).
    let items: Vec<String> = plan_json(&plan)["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i.get("item_id").is_none())
        .map(|i| i["assignment_id"].as_str().unwrap().to_string())
        .collect();
    let mut expected = PLAN_ITEMS.map(String::from).to_vec();
    expected.sort();
    let mut sorted = items.clone();
    sorted.sort();
    assert_eq!(sorted, expected);

    let show = entra(&["plan", "show", plan.to_str().unwrap()]);
    assert!(show.status.success());
    let text = String::from_utf8_lossy(&show.stdout);
    assert!(
        text.contains("Not approved: 7 items") && text.contains(PLAN_ITEMS[0]),
        "{text}"
    );

    // Approve all but one; the excluded one must stay untouched.
    let excluded = PLAN_ITEMS[3];
    assert!(approve(&plan, &["--exclude", excluded]).status.success());
    let approval = &plan_json(&plan)["approvals"][0];
    assert_eq!(approval["approver"], "Ada Admin");
    assert_eq!(approval["ticket"], "CHG-42");
    assert_eq!(approval["items"].as_array().unwrap().len(), 3);

    let dry = apply(&fake, &plan, &["--dry-run"]);
    assert!(dry.status.success(), "{}", stderr(&dry));
    assert!(
        reprocess_counts(&fake).is_empty(),
        "a dry run writes nothing"
    );
    let dry_results = results(&run, "apply-dry-run.csv");
    assert_eq!(
        dry_results
            .values()
            .filter(|(o, _)| o == "would_reprocess")
            .count(),
        3
    );

    let applied = apply(&fake, &plan, &[]);
    assert!(applied.status.success(), "{}", stderr(&applied));
    let outcome = results(&run, "apply-results.csv");
    for id in &PLAN_ITEMS[..3] {
        assert_eq!(outcome[*id].0, "reprocessed", "{id}: {:?}", outcome[*id]);
    }
    assert_eq!(outcome[excluded].0, "not_approved");
    assert!(run.join("apply-results.xlsx").exists());
    let counts = reprocess_counts(&fake);
    assert_eq!(counts.len(), 3);
    assert!(counts.values().all(|&n| n == 1), "{counts:?}");

    let verified = fake.run(&["verify", plan.to_str().unwrap()], SECRET);
    assert!(verified.status.success(), "{}", stderr(&verified));
    let verify = results(&run, "verify-results.csv");
    for id in &PLAN_ITEMS[..3] {
        assert_eq!(verify[*id].0, "restored", "{:?}", verify[*id]);
    }
    assert_eq!(verify[excluded].0, "still_missing");

    // A fresh audit shows no missing access for the approved items, and still the excluded one.
    let fresh = rows(&audit(&fake, out.path()).join("findings.csv"));
    let missing: Vec<&str> = fresh
        .iter()
        .filter(|r| r[0] == "missing_access")
        .map(|r| r[1].as_str())
        .collect();
    for id in &PLAN_ITEMS[..3] {
        assert!(!missing.contains(id), "{id} still missing after apply");
    }
    assert!(missing.contains(&excluded));

    // Running the same apply again changes nothing: every item is settled in the journal.
    let again = apply(&fake, &plan, &[]);
    assert!(again.status.success(), "{}", stderr(&again));
    assert!(reprocess_counts(&fake).values().all(|&n| n == 1));
}

#[test]
fn approval_from_the_workbook_and_a_foreign_workbook_refused() {
    let fake = Fake::start("contoso-core", |_| {});
    let out = tempfile::tempdir().unwrap();
    let run = audit(&fake, out.path());
    let plan = run.join("plan.json");
    let items = plan_json(&plan)["items"].clone();
    let ids: Vec<&str> = items
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            i.get("item_id")
                .unwrap_or(&i["assignment_id"])
                .as_str()
                .unwrap()
        })
        .collect();

    // The reviewer's copy: the Plan sheet with Yes on the first and third rows.
    let reviewed = run.join("reviewed.xlsx");
    let digest = plan_digest(&plan);
    let mut yes = vec![false; ids.len()];
    yes[0] = true;
    yes[2] = true;
    write_plan_sheet(&reviewed, &ids, &yes, &digest);
    let output = approve(&plan, &["--from-xlsx", reviewed.to_str().unwrap()]);
    assert!(output.status.success(), "{}", stderr(&output));
    let approved: Vec<String> = plan_json(&plan)["approvals"][0]["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    assert_eq!(approved, vec![ids[0].to_string(), ids[2].to_string()]);

    // The workbook the audit wrote: every row defaults to No, so nothing is approved.
    let untouched = approve(
        &plan,
        &["--from-xlsx", run.join("drift.xlsx").to_str().unwrap()],
    );
    assert_eq!(untouched.status.code(), Some(1));
    assert!(
        stderr(&untouched).contains("no item is approved"),
        "{}",
        stderr(&untouched)
    );

    // Another plan's rows are refused.
    let foreign = run.join("foreign.xlsx");
    let mut other = ids.clone();
    other.swap(0, 1);
    write_plan_sheet(&foreign, &other, &vec![true; other.len()], &digest);
    let refused = approve(&plan, &["--from-xlsx", foreign.to_str().unwrap()]);
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        stderr(&refused).contains("not this plan's workbook"),
        "{}",
        stderr(&refused)
    );

    // Another run's workbook with the very same assignment ids: refused by its plan digest.
    let other_run = run.join("other-run.xlsx");
    let other_digest = format!("sha256:{}", "0".repeat(64));
    write_plan_sheet(&other_run, &ids, &vec![true; ids.len()], &other_digest);
    let refused = approve(&plan, &["--from-xlsx", other_run.to_str().unwrap()]);
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        stderr(&refused).contains("another run's workbook"),
        "{}",
        stderr(&refused)
    );
}

/// `entra-drift plan digest PLAN`: the first line of what an approver signs.
fn plan_digest(plan: &Path) -> String {
    let output = entra(&["plan", "digest", plan.to_str().unwrap()]);
    assert!(output.status.success(), "{}", stderr(&output));
    String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .next()
        .unwrap()
        .to_string()
}

fn write_plan_sheet(path: &Path, ids: &[&str], yes: &[bool], digest: &str) {
    let mut workbook = rust_xlsxwriter::Workbook::new();
    let sheet = workbook.add_worksheet().set_name("Plan").unwrap();
    sheet.write_string(0, 0, "approve").unwrap();
    sheet.write_string(0, 1, "assignment_id").unwrap();
    sheet.write_string(0, 2, "plan_digest").unwrap();
    for (row, (id, yes)) in ids.iter().zip(yes).enumerate() {
        sheet
            .write_string(row as u32 + 1, 0, if *yes { "Yes" } else { "No" })
            .unwrap();
        sheet.write_string(row as u32 + 1, 1, *id).unwrap();
        sheet.write_string(row as u32 + 1, 2, digest).unwrap();
    }
    workbook.save(path).unwrap();
}

#[test]
fn the_plan_sheet_has_a_protected_yes_no_approve_column() {
    let out = tempfile::tempdir().unwrap();
    let output = entra(&[
        "-q",
        "audit",
        "--tenant-dir",
        fixture("contoso-core").to_str().unwrap(),
        "--out",
        out.path().to_str().unwrap(),
    ]);
    let run = run_dir(&output);
    // xlsx is a zip of XML parts: the Plan sheet (the last) carries protection and a list validation.
    let file = std::fs::File::open(run.join("drift.xlsx")).unwrap();
    let mut archive = zip::ZipArchive::new(file).unwrap();
    let mut sheets: Vec<String> = archive
        .file_names()
        .filter_map(|n| n.ok().map(|n| n.to_string()))
        .filter(|n| n.starts_with("xl/worksheets/sheet"))
        .collect();
    sheets.sort_by_key(|n| {
        n.trim_start_matches("xl/worksheets/sheet")
            .trim_end_matches(".xml")
            .parse::<u32>()
            .unwrap()
    });
    let mut xml = String::new();
    std::io::Read::read_to_string(
        &mut archive.by_name(sheets.last().unwrap()).unwrap(),
        &mut xml,
    )
    .unwrap();
    assert!(
        xml.contains("<sheetProtection"),
        "the Plan sheet is protected"
    );
    assert!(
        xml.contains(r#"type="list""#) && xml.contains("Yes,No"),
        "a Yes/No drop-down"
    );
}

#[test]
fn refusals_say_why_and_what_to_do() {
    let fake = Fake::start("contoso-core", |_| {});
    let out = tempfile::tempdir().unwrap();
    let run = audit(&fake, out.path());
    let plan = run.join("plan.json");

    let unapproved = apply(&fake, &plan, &[]);
    assert_eq!(unapproved.status.code(), Some(1));
    assert!(
        stderr(&unapproved).contains("not approved")
            && stderr(&unapproved).contains("plan approve"),
        "{}",
        stderr(&unapproved)
    );

    assert!(approve(&plan, &[]).status.success());
    let original = std::fs::read_to_string(&plan).unwrap();

    let too_many = apply(&fake, &plan, &["--max-items", "2"]);
    assert_eq!(too_many.status.code(), Some(1));
    assert!(
        stderr(&too_many).contains("--max-items"),
        "{}",
        stderr(&too_many)
    );

    let other_tenant = entra(&[
        "apply",
        plan.to_str().unwrap(),
        "--tenant",
        "00000000-0000-4000-8000-000000000000",
    ]);
    assert_eq!(other_tenant.status.code(), Some(1));
    assert!(
        stderr(&other_tenant).contains("for tenant"),
        "{}",
        stderr(&other_tenant)
    );

    let edit = |change: &dyn Fn(&mut Value)| {
        let mut value: Value = serde_json::from_str(&original).unwrap();
        change(&mut value);
        std::fs::write(&plan, serde_json::to_string_pretty(&value).unwrap()).unwrap();
    };
    edit(&|v| v["items"][0]["user_id"] = json!("00000000-0000-4000-8000-0000000000ff"));
    let tampered = apply(&fake, &plan, &[]);
    assert_eq!(tampered.status.code(), Some(1));
    assert!(
        stderr(&tampered).contains("digest"),
        "{}",
        stderr(&tampered)
    );

    // An edited expiry: the run's manifest no longer commits this plan.
    edit(&|v| v["expires"] = json!("2020-01-01T00:00:00Z"));
    let expired = apply(&fake, &plan, &[]);
    assert_eq!(expired.status.code(), Some(1));
    assert!(
        stderr(&expired).contains("not committed by its run"),
        "{}",
        stderr(&expired)
    );

    edit(&|v| v["version"] = json!(99));
    let future = apply(&fake, &plan, &[]);
    assert_eq!(future.status.code(), Some(1));
    assert!(
        stderr(&future).contains("version 99"),
        "{}",
        stderr(&future)
    );

    assert!(
        reprocess_counts(&fake).is_empty(),
        "no refused plan wrote anything"
    );
    assert!(!run.join("plan.journal.jsonl").exists());
}

#[test]
fn an_apply_killed_half_way_resumes_and_reprocesses_each_item_once() {
    let fake = Fake::start("contoso-core", |config| config.latency_ms = 250);
    let out = tempfile::tempdir().unwrap();
    let run = audit(&fake, out.path());
    let plan = run.join("plan.json");
    assert!(approve(&plan, &[]).status.success());
    let journal = run.join("plan.journal.jsonl");

    let mut child = fake
        .command(
            &["-q", "apply", plan.to_str().unwrap(), "--concurrency", "1"],
            SECRET,
        )
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let done = std::fs::read_to_string(&journal)
            .unwrap_or_default()
            .matches("\"reprocessed\"")
            .count();
        if done >= 1 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "apply never reprocessed anything"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    child.kill().unwrap(); // SIGKILL: no chance to clean up.
    child.wait().unwrap();
    let before = reprocess_counts(&fake);
    assert!(before.len() < 4, "killed before the end: {before:?}");

    let resumed = apply(&fake, &plan, &["--concurrency", "1"]);
    assert!(resumed.status.success(), "{}", stderr(&resumed));
    let counts = reprocess_counts(&fake);
    assert_eq!(counts.len(), 4, "{counts:?}");
    assert!(
        counts.values().all(|&n| n == 1),
        "each item exactly once: {counts:?}"
    );
    let outcome = results(&run, "apply-results.csv");
    assert!(
        PLAN_ITEMS.iter().all(|id| outcome[*id].0 == "reprocessed"),
        "{outcome:?}"
    );
}

#[test]
fn failed_writes_are_reported_and_retried_by_the_next_run() {
    let failing = Fake::start("contoso-core", |config| {
        config.faults = Some(
            serde_json::from_value::<Faults>(
                json!({"fail_writes_after": 2, "fail_writes_status": 500}),
            )
            .unwrap(),
        );
    });
    let out = tempfile::tempdir().unwrap();
    let run = audit(&failing, out.path());
    let plan = run.join("plan.json");
    assert!(approve(&plan, &[]).status.success());
    let first = apply(&failing, &plan, &["--concurrency", "1"]);
    assert_eq!(
        first.status.code(),
        Some(1),
        "a failed item makes the run fail"
    );
    assert!(
        stderr(&first).contains("2 item(s) failed"),
        "{}",
        stderr(&first)
    );
    let first_counts = reprocess_counts(&failing);
    assert_eq!(first_counts.len(), 2);
    drop(failing);

    // The service recovers (a fresh fake of the same tenant): only the failed items are sent.
    let healthy = Fake::start("contoso-core", |_| {});
    let second = apply(&healthy, &plan, &["--concurrency", "1"]);
    assert!(second.status.success(), "{}", stderr(&second));
    let second_counts = reprocess_counts(&healthy);
    assert_eq!(second_counts.len(), 2);
    for id in PLAN_ITEMS {
        assert_eq!(
            first_counts.get(id).unwrap_or(&0) + second_counts.get(id).unwrap_or(&0),
            1,
            "{id}"
        );
    }
}

#[test]
fn items_healed_since_the_audit_are_skipped() {
    let fake = Fake::start("contoso-core", |_| {});
    let out = tempfile::tempdir().unwrap();
    let first = audit(&fake, out.path()).join("plan.json");
    let second = audit(&fake, out.path()).join("plan.json");
    assert!(approve(&first, &[]).status.success());
    assert!(approve(&second, &[]).status.success());
    assert!(apply(&fake, &first, &[]).status.success());
    let output = apply(&fake, &second, &[]);
    assert!(output.status.success(), "{}", stderr(&output));
    let outcome = results(second.parent().unwrap(), "apply-results.csv");
    for id in PLAN_ITEMS {
        assert_eq!(outcome[id].0, "skipped", "{:?}", outcome[id]);
        assert!(outcome[id].1.contains("restored"), "{:?}", outcome[id]);
    }
    assert!(reprocess_counts(&fake).values().all(|&n| n == 1));
}

#[test]
fn throttled_writes_are_retried() {
    let path = format!(
        "identityGovernance/entitlementManagement/assignments/{}/reprocess",
        PLAN_ITEMS[0]
    );
    let fake = Fake::start("contoso-core", |config| {
        config.faults = Some(serde_json::from_value::<Faults>(json!({"server_errors": [{"path": path, "status": 429, "count": 2, "retry_after": 0.1}]})).unwrap());
    });
    let out = tempfile::tempdir().unwrap();
    let plan = audit(&fake, out.path()).join("plan.json");
    assert!(approve(&plan, &[]).status.success());
    let output = apply(&fake, &plan, &[]);
    assert!(output.status.success(), "{}", stderr(&output));
    let counts = reprocess_counts(&fake);
    assert_eq!(counts.get(PLAN_ITEMS[0]), Some(&1), "{counts:?}");
    assert!(fake.server().stats().throttled >= 2);
}

#[test]
fn ctrl_c_stops_after_the_calls_in_flight() {
    let fake = Fake::start("contoso-core", |config| config.latency_ms = 300);
    let out = tempfile::tempdir().unwrap();
    let run = audit(&fake, out.path());
    let plan = run.join("plan.json");
    assert!(approve(&plan, &[]).status.success());
    let journal = run.join("plan.journal.jsonl");
    let child = fake
        .command(
            &["-q", "apply", plan.to_str().unwrap(), "--concurrency", "1"],
            SECRET,
        )
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !std::fs::read_to_string(&journal)
        .unwrap_or_default()
        .contains("\"sending\"")
    {
        assert!(
            std::time::Instant::now() < deadline,
            "apply never started sending"
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let status = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let output = child.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(130), "{}", stderr(&output));
    // The call in flight finished and was journaled; nothing was left in doubt.
    let text = std::fs::read_to_string(&journal).unwrap();
    let sending = text.matches("\"sending\"").count();
    let settled = text.matches("\"reprocessed\"").count() + text.matches("\"failed\"").count();
    assert_eq!(sending, settled, "{text}");
    assert!(reprocess_counts(&fake).len() < 4, "stopped before the end");
    // And the same command finishes the rest, each item once.
    assert!(apply(&fake, &plan, &["--concurrency", "1"])
        .status
        .success());
    let counts = reprocess_counts(&fake);
    assert_eq!(counts.len(), 4);
    assert!(counts.values().all(|&n| n == 1), "{counts:?}");
}
