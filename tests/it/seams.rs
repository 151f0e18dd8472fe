//! The seams between approve, apply, verify and evidence (issue 24): each test reproduces one
//! defect found by trying the whole workflow as an adversary and as a new user would.

use crate::common::read_csv;
use crate::support::workflow::*;

fn stats(flow: &Workflow) -> fake_graph::FakeStats {
    flow.fake.server().stats()
}

fn writes(flow: &Workflow) -> u64 {
    let stats = stats(flow);
    stats.reprocess.values().sum::<u64>()
        + stats.request_reprocess.values().sum::<u64>()
        + stats.admin_removes
        + stats.member_removals
        + stats.owner_removals
        + stats.app_role_removals
}

#[test]
fn a_signed_choice_runs_as_signed_whatever_the_case_of_its_ids() {
    let flow = Workflow::start(|_| {});
    for who in [ADA, BOB] {
        ok(&flow.approve(who, &["--only", BY_PERSON, "--action", "remove_assignment"]));
        ok(&flow.approve(
            who,
            &[
                "--only",
                BY_SYNC,
                "--action",
                "accept",
                "--reason",
                "the sync engine restores it",
            ],
        ));
    }
    shout_approvals(&flow.plan);
    ok(&flow.apply(&["--allow-remove", "--min-approvers", "2"]));
    let stats = stats(&flow);
    assert_eq!(stats.admin_removes, 1, "the signed remove_assignment ran");
    assert!(
        stats.reprocess.is_empty(),
        "nothing was reprocessed instead: {:?}",
        stats.reprocess
    );
    let register = read_csv(&flow.register);
    assert_eq!(register.rows.len(), 1, "the signed accept ran");
    assert_eq!(register.rows[0]["assignment_id"], BY_SYNC);

    // Two choices for one item that differ only in case: refused, naming the approval.
    let mut json = plan_at(&flow.plan);
    let choices = json["approvals"][0]["choices"].as_object().unwrap().clone();
    let (key, value) = choices.iter().next().unwrap();
    let mut value = value.clone();
    value["action"] = "reprocess".into();
    json["approvals"][0]["choices"][key.to_ascii_lowercase()] = value;
    write_plan(&flow.plan, &json);
    let twice = flow.apply(&["--allow-remove", "--min-approvers", "2"]);
    refused(&twice, "more than once");
    assert!(stderr(&twice).contains(ADA), "{}", stderr(&twice));
}

#[test]
fn plans_with_access_items_resume_and_retry() {
    let flow = Workflow::start(|_| {});
    let member = flow.key(MEMBER_USER);
    let owner = flow.key(OWNER_USER);
    ok(&flow.approve(ADA, &["--only", &member, "--action", "remove_access"]));
    ok(&flow.approve(
        ADA,
        &[
            "--only",
            &owner,
            "--action",
            "accept",
            "--reason",
            "the team lead owns the group",
        ],
    ));
    ok(&flow.apply(&["--allow-remove"]));
    let after_first = writes(&flow);
    assert_eq!(stats(&flow).member_removals, 1);
    // The same command again (crash recovery's instruction), and with --recheck-journal.
    let again = flow.apply(&["--allow-remove"]);
    ok(&again);
    let results = read_csv(&flow.run.join("apply-results.csv"));
    let outcome = |id: &str| {
        results
            .rows
            .iter()
            .find(|r| r["item_id"] == id)
            .map(|r| r["outcome"].clone())
            .unwrap_or_else(|| panic!("no result for {id}: {:?}", results.rows))
    };
    assert_eq!(outcome(&member), "removed");
    assert_eq!(outcome(&owner), "accepted");
    let rechecked = flow.apply(&["--allow-remove", "--recheck-journal"]);
    ok(&rechecked);
    assert_eq!(writes(&flow), after_first, "nothing sent twice");
    assert_eq!(
        read_csv(&flow.register).rows.len(),
        1,
        "the exception is recorded once"
    );
}

#[test]
fn verify_reports_an_acceptance_only_when_the_journal_and_the_register_hold_it() {
    let flow = Workflow::start(|_| {});
    ok(&flow.approve(
        ADA,
        &[
            "--only",
            BY_SYNC,
            "--action",
            "accept",
            "--reason",
            "the sync engine restores it",
        ],
    ));
    for who in [ADA, BOB] {
        ok(&flow.approve(who, &["--only", BY_EM]));
    }
    // Four eyes: the acceptance (one approver) is not applied; the reprocess is.
    ok(&flow.apply(&["--min-approvers", "2"]));
    assert!(read_csv(&flow.register).rows.is_empty());
    let status = |extra: &[&str]| {
        ok(&flow.verify(extra));
        let rows = read_csv(&flow.run.join("verify-results.csv"));
        let row = rows
            .rows
            .iter()
            .find(|r| r["assignment_id"] == BY_SYNC)
            .unwrap()
            .clone();
        (row["status"].clone(), row["applied"].clone())
    };
    // Counted with one approver, it is approved, but nothing was recorded.
    assert_eq!(status(&[]).0, "not_accepted");
    assert_eq!(
        status(&["--exceptions", s(&flow.register)]).0,
        "not_accepted"
    );
    // Applied with one approver, it is recorded; verify finds it in the register.
    ok(&flow.apply(&[]));
    assert_eq!(
        status(&["--exceptions", s(&flow.register)]),
        ("accepted".into(), "accepted".into())
    );
    // A register that lost the exception says so.
    std::fs::write(&flow.register, REGISTER_HEADER).unwrap();
    assert_eq!(
        status(&["--exceptions", s(&flow.register)]).0,
        "not_recorded"
    );
}

#[test]
fn an_approved_accept_without_a_register_is_refused_before_anything_runs() {
    let flow = Workflow::start(|_| {});
    ok(&flow.approve(
        ADA,
        &[
            "--only",
            BY_SYNC,
            "--action",
            "accept",
            "--reason",
            "the sync engine restores it",
        ],
    ));
    ok(&flow.approve(ADA, &["--only", BY_EM]));
    let output = flow
        .fake
        .command(
            &[
                "apply",
                s(&flow.plan),
                "--allowed-signers",
                s(&flow.allowed),
            ],
            crate::support::fake_graph::SECRET,
        )
        .output()
        .unwrap();
    refused(&output, "no exceptions register is configured");
    assert_eq!(writes(&flow), 0, "nothing was sent");
}

#[test]
fn one_plan_is_applied_by_one_process_and_one_journal() {
    let flow = Workflow::start(|config| config.latency_ms = 40);
    ok(&flow.approve(ADA, &[]));
    let approved = flow.plan_json()["approvals"][0]["items"]
        .as_array()
        .unwrap()
        .len() as u64;
    // A copy of the plan elsewhere, applied as the run's plan (--run), and a stale lock of a
    // dead run.
    let elsewhere = flow.work.path().join("elsewhere");
    std::fs::create_dir(&elsewhere).unwrap();
    std::fs::copy(&flow.plan, elsewhere.join("plan.json")).unwrap();
    let copy = elsewhere.join("plan.json");
    let tenant = flow.run.parent().unwrap();
    let items_digest = flow.plan_json()["items_digest"]
        .as_str()
        .unwrap()
        .to_string();
    let lock = tenant.join(entra_drift::lock::plan_lock_name(&items_digest));
    std::fs::write(
        &lock,
        serde_json::json!({"pid": u32::MAX - 3, "host": entra_drift::lock::host_name(),
            "started": "2026-01-01T00:00:00Z", "tool": "entra-drift 0.0.0"})
        .to_string(),
    )
    .unwrap();
    // Ten applies at once, from both copies.
    let children: Vec<_> = (0..10)
        .map(|n| {
            let (plan, extra) = if n % 2 == 0 {
                (flow.plan.clone(), vec![])
            } else {
                (copy.clone(), vec!["--run", s(&flow.run)])
            };
            flow.apply_command(&plan, &extra)
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let outputs: Vec<_> = children
        .into_iter()
        .map(|c| c.wait_with_output().unwrap())
        .collect();
    let succeeded = outputs.iter().filter(|o| o.status.success()).count();
    assert!(succeeded >= 1);
    for output in outputs.iter().filter(|o| !o.status.success()) {
        let text = String::from_utf8_lossy(&output.stderr);
        assert!(
            text.contains("an apply of this plan") || text.contains("this plan is applied from"),
            "{text}"
        );
    }
    let stats = stats(&flow);
    assert!(
        stats.reprocess.values().all(|&n| n == 1),
        "every item sent once: {:?}",
        stats.reprocess
    );
    assert_eq!(writes(&flow), approved);
    // The copy cannot take over the plan while the first journal exists.
    let journal_of = |plan: &std::path::Path| plan.with_file_name("plan.journal.jsonl");
    let original_first = journal_of(&flow.plan).exists();
    assert_ne!(
        original_first,
        journal_of(&copy).exists(),
        "exactly one journal for the plan"
    );
    let run = ["--run", s(&flow.run)];
    let (first, first_extra, second, second_extra): (_, &[&str], _, &[&str]) = if original_first {
        (flow.plan.clone(), &[], copy.clone(), &run)
    } else {
        (copy.clone(), &run, flow.plan.clone(), &[])
    };
    refused(
        &flow.apply_plan(&second, second_extra),
        "this plan is applied from",
    );
    ok(&flow.apply_plan(&first, first_extra));
    assert_eq!(writes(&flow), approved, "nothing sent twice");
}

#[test]
fn an_approval_can_be_revoked_and_hints_never_weaken_a_limit() {
    let flow = Workflow::start(|_| {});
    // An unapplied plan's hint asks for a signed approval.
    let unapproved = flow.apply(&[]);
    refused(&unapproved, "--sign-key");
    // Unsigned, as an older hint said: the policy refuses the whole plan...
    let unsigned = crate::common::entra_drift()
        .args(["plan", "approve", s(&flow.plan), "--approver", "mallory"])
        .output()
        .unwrap();
    ok(&unsigned);
    ok(&flow.approve(ADA, &[]));
    refused(&flow.apply(&["--dry-run"]), "is not signed");
    // ... until that approval is revoked, which the plan records.
    let revoke = crate::common::entra_drift()
        .args([
            "plan",
            "approve",
            s(&flow.plan),
            "--approver",
            "MALLORY",
            "--revoke",
        ])
        .args(["--ticket", "CHG-9"])
        .output()
        .unwrap();
    ok(&revoke);
    let plan = flow.plan_json();
    assert_eq!(plan["approvals"].as_array().unwrap().len(), 1);
    assert_eq!(plan["revocations"][0]["approver"], "MALLORY");
    assert_eq!(plan["revocations"][0]["ticket"], "CHG-9");
    assert_eq!(
        plan["revocations"][0]["removed"].as_array().unwrap().len(),
        1
    );
    ok(&flow.apply(&["--dry-run"]));
    // The revoked approval pasted back from an older copy of the plan stays revoked.
    let mut pasted = flow.plan_json();
    let revoked_at = plan["revocations"][0]["removed"][0]["approved_at"].clone();
    let mut back = pasted["approvals"][0].clone();
    back["approver"] = "mallory".into();
    back["approved_at"] = revoked_at;
    back.as_object_mut().unwrap().remove("signature");
    back.as_object_mut().unwrap().remove("key");
    pasted["approvals"].as_array_mut().unwrap().push(back);
    let kept = std::fs::read(&flow.plan).unwrap();
    write_plan(&flow.plan, &pasted);
    refused(&flow.apply(&["--dry-run"]), "was revoked");
    std::fs::write(&flow.plan, kept).unwrap();
    // Nothing to revoke: said so.
    let again = crate::common::entra_drift()
        .args([
            "plan",
            "approve",
            s(&flow.plan),
            "--approver",
            "mallory",
            "--revoke",
        ])
        .output()
        .unwrap();
    refused(&again, "no approval by `mallory`");
    // Approvals and revocations are what plan approve adds: the run's evidence holds, and says
    // who revoked.
    let evidence = crate::common::entra_drift()
        .args(["evidence", "verify", s(&flow.run)])
        .output()
        .unwrap();
    ok(&evidence);
    assert!(
        stderr(&evidence).contains("1 approval(s) by MALLORY revoked"),
        "{}",
        stderr(&evidence)
    );
    // A limit's refusal does not suggest raising it.
    let capped = flow.apply(&["--max-items", "1"]);
    refused(&capped, "--max-items is a safety limit");
    assert!(!stderr(&capped).contains("raise"), "{}", stderr(&capped));
    assert_eq!(writes(&flow), 0);
}

/// Issue 24, defect 6: stderr and plan.json said "7 items, 3 waiting for a reviewer" while
/// findings.csv marked those 3 `in_plan=no` and every view showed "In plan 0" for them.
#[test]
fn every_view_counts_in_plan_as_plan_json_does() {
    let out = tempfile::tempdir().unwrap();
    let output = crate::common::entra_drift()
        .args(["audit", "--tenant-dir"])
        .arg(crate::support::fake_graph::fixture("contoso-core"))
        .arg("--out")
        .arg(out.path())
        .output()
        .unwrap();
    ok(&output);
    let run = std::path::PathBuf::from(String::from_utf8(output.stdout.clone()).unwrap().trim());
    let plan = plan_at(&run.join("plan.json"));
    let items = plan["items"].as_array().unwrap();
    let waiting = items.iter().filter(|i| i["action"] == "decide").count();
    assert!(waiting > 0, "the sample has items waiting for a reviewer");
    assert!(
        stderr(&output).contains(&format!(
            "Plan: {} item(s), {waiting} waiting for a reviewer",
            items.len()
        )),
        "{}",
        stderr(&output)
    );
    // findings.csv: a finding is in the plan exactly when an item covers it.
    let findings = read_csv(&run.join("findings.csv"));
    let covered: std::collections::BTreeSet<String> = items
        .iter()
        .map(|i| {
            i.get("item_id")
                .unwrap_or(&i["assignment_id"])
                .as_str()
                .unwrap()
                .to_ascii_lowercase()
        })
        .collect();
    let mut in_plan: std::collections::BTreeMap<String, usize> = Default::default();
    let mut keys_in_plan = std::collections::BTreeSet::new();
    for row in &findings.rows {
        let key = crate::common::finding_item_id_of(row);
        let yes = row["in_plan"] == "yes";
        if yes {
            *in_plan.entry(row["category"].clone()).or_default() += 1;
            keys_in_plan.insert(key.clone());
            assert!(
                covered.contains(&key),
                "in_plan=yes without an item: {row:?}"
            );
        }
        let item = items.iter().find(|i| {
            i.get("item_id")
                .unwrap_or(&i["assignment_id"])
                .as_str()
                .unwrap()
                .eq_ignore_ascii_case(&key)
        });
        if let Some(item) = item {
            if item["action"] == "decide" {
                assert!(
                    row["plan_skip_reason"].contains("waiting for a reviewer"),
                    "{row:?}"
                );
            }
        }
    }
    assert_eq!(
        keys_in_plan, covered,
        "every item covers a finding in the plan"
    );
    // summary.md and the Summary sheet show the same per-category counts.
    let summary = std::fs::read_to_string(run.join("summary.md")).unwrap();
    let mut workbook = crate::common::open_xlsx(&run.join("drift.xlsx"));
    let grid = crate::common::sheet_grid(&mut workbook, "Summary");
    for (category, title) in entra_drift::audit::CATEGORIES
        .into_iter()
        .zip(entra_drift::audit::CATEGORY_TITLES)
    {
        let count = in_plan.get(category).copied().unwrap_or(0);
        let escaped = category.replace('_', "\\_");
        let line = summary
            .lines()
            .find(|l| l.starts_with(&format!("| {escaped} |")))
            .unwrap_or_else(|| panic!("{category} in summary.md"));
        assert!(line.ends_with(&format!("| {count} |")), "{line} vs {count}");
        let row = grid
            .iter()
            .map(|r| crate::common::row_texts(r))
            .find(|r| r.first().is_some_and(|c| c == title))
            .unwrap_or_else(|| panic!("{title} on the Summary sheet"));
        assert_eq!(row[2], count.to_string(), "{category}: {row:?}");
    }
}

/// Runs a command that must end by itself within `seconds` (a hang fails the test, and the
/// process is killed).
fn bounded(mut command: std::process::Command, seconds: u64) -> std::process::Output {
    let mut child = command
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(seconds);
    loop {
        if child.try_wait().unwrap().is_some() {
            return child.wait_with_output().unwrap();
        }
        if std::time::Instant::now() > deadline {
            child.kill().unwrap();
            let output = child.wait_with_output().unwrap();
            panic!("hung: {}", stderr(&output));
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// The binary as a plain `std::process::Command`.
fn binary() -> std::process::Command {
    let mut command = std::process::Command::new(assert_cmd::cargo::cargo_bin("entra-drift"));
    command.env_remove("RUST_LOG");
    command
}

fn mkfifo(path: &std::path::Path) {
    let status = std::process::Command::new("mkfifo")
        .arg(path)
        .status()
        .unwrap();
    assert!(status.success());
}

/// Issue 24, defect 8: FIFOs, devices and dangling links where the tool reads or writes its
/// files hung it, ate memory or sent the journal elsewhere.
#[test]
fn fifos_devices_and_links_never_hang_or_redirect() {
    let flow = Workflow::start(|_| {});
    ok(&flow.approve(ADA, &["--only", BY_EM]));
    let fifo = flow.work.path().join("fifo");
    mkfifo(&fifo);
    let apply_with_signers = |signers: &std::path::Path| {
        let command = flow.fake.command(
            &[
                "apply",
                s(&flow.plan),
                "--allowed-signers",
                s(signers),
                "--exceptions",
                s(&flow.register),
            ],
            crate::support::fake_graph::SECRET,
        );
        bounded(command, 30)
    };
    let output = apply_with_signers(&fifo);
    refused(&output, "FIFO");
    let output = apply_with_signers(std::path::Path::new("/dev/zero"));
    refused(&output, "device");
    // A FIFO as the signing key.
    let mut approve = binary();
    approve
        .args([
            "plan",
            "approve",
            s(&flow.plan),
            "--approver",
            ADA,
            "--sign-key",
        ])
        .arg(&fifo);
    refused(&bounded(approve, 30), "FIFO");
    // A FIFO, then a dangling link, as the journal.
    let journal = flow.run.join("plan.journal.jsonl");
    mkfifo(&journal);
    refused(&bounded(flow.apply_command(&flow.plan, &[]), 30), "FIFO");
    std::fs::remove_file(&journal).unwrap();
    let elsewhere = flow.work.path().join("elsewhere.jsonl");
    std::os::unix::fs::symlink(&elsewhere, &journal).unwrap();
    refused(
        &bounded(flow.apply_command(&flow.plan, &[]), 30),
        "symbolic link",
    );
    assert!(!elsewhere.exists(), "nothing written through the link");
    assert_eq!(writes(&flow), 0);
    std::fs::remove_file(&journal).unwrap();
    // Links planted where apply writes its results are replaced, never followed.
    let targets: Vec<_> = ["apply-results.csv", "apply-results.xlsx"]
        .iter()
        .map(|name| {
            let target = flow.work.path().join(format!("target-{name}"));
            std::fs::write(&target, "keep").unwrap();
            std::os::unix::fs::symlink(&target, flow.run.join(name)).unwrap();
            target
        })
        .collect();
    ok(&bounded(flow.apply_command(&flow.plan, &[]), 60));
    for target in &targets {
        assert_eq!(std::fs::read_to_string(target).unwrap(), "keep");
    }
    assert!(
        !std::fs::symlink_metadata(flow.run.join("apply-results.csv"))
            .unwrap()
            .file_type()
            .is_symlink()
    );
    // A FIFO as the run's manifest: evidence verify ends, naming it.
    let manifest = flow.run.join("manifest.json");
    std::fs::rename(&manifest, flow.work.path().join("manifest.json")).unwrap();
    mkfifo(&manifest);
    let mut verify = binary();
    verify.args(["evidence", "verify", s(&flow.run)]);
    let output = bounded(verify, 30);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert!(stderr(&output).contains("FIFO"), "{}", stderr(&output));
    std::fs::remove_file(&manifest).unwrap();
    std::fs::rename(flow.work.path().join("manifest.json"), &manifest).unwrap();
    // A FIFO as the tenant's index, then as the previous run's findings: the next audit ends
    // with an error naming it, and never compares with an older run instead.
    let tenant = flow.run.parent().unwrap();
    let index = tenant.join("index.csv");
    let kept = flow.work.path().join("index.csv");
    std::fs::rename(&index, &kept).unwrap();
    mkfifo(&index);
    let mut audit = flow.fake.command(
        &["-q", "audit", "--out", s(&flow.out)],
        crate::support::fake_graph::SECRET,
    );
    audit.env("ENTRA_DRIFT_NOW", chrono::Utc::now().to_rfc3339());
    let output = bounded(audit, 60);
    refused(&output, "index.csv");
    std::fs::remove_file(&index).unwrap();
    std::fs::rename(&kept, &index).unwrap();
    let findings = flow.run.join("findings.csv");
    std::fs::remove_file(&findings).unwrap();
    mkfifo(&findings);
    let mut audit = flow.fake.command(
        &["-q", "audit", "--out", s(&flow.out)],
        crate::support::fake_graph::SECRET,
    );
    audit.env("ENTRA_DRIFT_NOW", chrono::Utc::now().to_rfc3339());
    let output = bounded(audit, 60);
    refused(&output, "findings.csv");
    assert!(stderr(&output).contains("FIFO"), "{}", stderr(&output));
}

/// A reviewed workbook: the Plan sheet with every row `No`, written by rust_xlsxwriter, then
/// `extra` spliced into the sheet's XML and `shared` (if any) as the shared strings.
fn tampered_workbook(
    path: &std::path::Path,
    plan: &serde_json::Value,
    digest: &str,
    extra: &str,
    shared: Option<Vec<u8>>,
    shout_sheet_name: bool,
) {
    let plain = path.with_extension("plain.xlsx");
    let mut workbook = rust_xlsxwriter::Workbook::new();
    let sheet = workbook.add_worksheet().set_name("Plan").unwrap();
    for (column, header) in ["approve", "item_id", "plan_digest"].iter().enumerate() {
        sheet.write_string(0, column as u16, *header).unwrap();
    }
    for (row, item) in plan["items"].as_array().unwrap().iter().enumerate() {
        let row = row as u32 + 1;
        let id = item.get("item_id").unwrap_or(&item["assignment_id"]);
        sheet.write_string(row, 0, "No").unwrap();
        sheet.write_string(row, 1, id.as_str().unwrap()).unwrap();
        sheet.write_string(row, 2, digest).unwrap();
    }
    workbook.save(&plain).unwrap();
    let mut archive = zip::ZipArchive::new(std::fs::File::open(&plain).unwrap()).unwrap();
    let mut writer = zip::ZipWriter::new(std::fs::File::create(path).unwrap());
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for index in 0..archive.len() {
        let mut part = archive.by_index(index).unwrap();
        let name = part.name().unwrap().into_owned();
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut part, &mut bytes).unwrap();
        if name == "xl/worksheets/sheet1.xml" {
            let text = String::from_utf8(bytes).unwrap();
            bytes = text
                .replace("</sheetData>", &format!("{extra}</sheetData>"))
                .into_bytes();
        }
        if name == "xl/sharedStrings.xml" {
            if let Some(shared) = &shared {
                bytes = shared.clone();
            }
        }
        // A sheet stored under another spelling of its name, which calamine still finds.
        let name = if shout_sheet_name && name == "xl/worksheets/sheet1.xml" {
            name.to_ascii_uppercase()
        } else {
            name
        };
        writer.start_file(name, options).unwrap();
        std::io::Write::write_all(&mut writer, &bytes).unwrap();
    }
    writer.finish().unwrap();
}

#[test]
fn workbook_references_wrapping_rows_and_inflating_parts_are_refused() {
    let flow = Workflow::start(|_| {});
    let plan = flow.plan_json();
    let digest = {
        let output = crate::common::entra_drift()
            .args(["plan", "digest", s(&flow.plan)])
            .output()
            .unwrap();
        String::from_utf8(output.stdout)
            .unwrap()
            .lines()
            .next()
            .unwrap()
            .to_string()
    };
    let approve_from = |workbook: &std::path::Path| {
        crate::common::entra_drift()
            .args([
                "plan",
                "approve",
                s(&flow.plan),
                "--approver",
                ADA,
                "--from-xlsx",
            ])
            .arg(workbook)
            .output()
            .unwrap()
    };
    // Row 4294967298 wraps to row 2 in 32 bits: "Yes" there approved row 2, which shows "No".
    let wrapping = flow.work.path().join("wrapping.xlsx");
    tampered_workbook(
        &wrapping,
        &plan,
        &digest,
        r#"<row r="4294967298"><c r="A4294967298" t="inlineStr"><is><t>Yes</t></is></c></row>"#,
        None,
        false,
    );
    let output = approve_from(&wrapping);
    refused(&output, "4294967298");
    assert!(
        stderr(&output).contains("outside Excel's grid"),
        "{}",
        stderr(&output)
    );
    // The same under a sheet name in other case (calamine resolves parts case-insensitively).
    let renamed = flow.work.path().join("renamed.xlsx");
    tampered_workbook(
        &renamed,
        &plan,
        &digest,
        r#"<row r="4294967298"><c r="A4294967298" t="inlineStr"><is><t>Yes</t></is></c></row>"#,
        None,
        true,
    );
    refused(&approve_from(&renamed), "4294967298");
    // A cell written twice: one row, two answers.
    let twice = flow.work.path().join("twice.xlsx");
    tampered_workbook(
        &twice,
        &plan,
        &digest,
        r#"<row r="2"><c r="A2" t="inlineStr"><is><t>Yes</t></is></c></row>"#,
        None,
        false,
    );
    refused(&approve_from(&twice), "twice");
    // Shared strings that inflate from a few hundred kilobytes to 200 MB.
    let mut shared = br#"<?xml version="1.0" encoding="UTF-8"?><sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><si><t>"#.to_vec();
    shared.resize(shared.len() + (200 << 20), b' ');
    shared.extend_from_slice(b"</t></si></sst>");
    let inflating = flow.work.path().join("inflating.xlsx");
    tampered_workbook(&inflating, &plan, &digest, "", Some(shared), false);
    assert!(std::fs::metadata(&inflating).unwrap().len() < 2 << 20);
    let output = approve_from(&inflating);
    refused(&output, "inflates to more than");
    assert!(
        plan_at(&flow.plan)["approvals"]
            .as_array()
            .unwrap()
            .is_empty(),
        "nothing approved"
    );
}

/// A Blob Storage URL with a password is refused without repeating it, by every command that
/// takes a location.
#[test]
fn urls_with_a_password_are_refused_without_repeating_it() {
    let url = "https://admin:hunter2@contoso.blob.core.windows.net/audits";
    let work = tempfile::tempdir().unwrap();
    let config = work.path().join("entra-drift.toml");
    std::fs::write(&config, format!("out = \"{url}\"\n")).unwrap();
    let contoso = crate::support::fake_graph::fixture("contoso-core");
    let plan_url = format!("{url}/t/r/plan.json");
    let runs: Vec<Vec<String>> = vec![
        vec![
            "audit".into(),
            "--tenant-dir".into(),
            s(&contoso).into(),
            "--out".into(),
            url.into(),
        ],
        vec![
            "audit".into(),
            "--tenant-dir".into(),
            s(&contoso).into(),
            "--out".into(),
            s(work.path()).into(),
            "--exceptions".into(),
            format!("{url}/register.csv"),
        ],
        vec![
            "--config".into(),
            s(&config).into(),
            "audit".into(),
            "--tenant-dir".into(),
            s(&contoso).into(),
        ],
        vec!["config".into(), "check".into(), s(&config).into()],
        vec!["evidence".into(), "verify".into(), url.into()],
        vec![
            "plan".into(),
            "approve".into(),
            plan_url.clone(),
            "--approver".into(),
            "x".into(),
        ],
        vec![
            "apply".into(),
            plan_url.clone(),
            "--tenant".into(),
            "a27b43c7-0a4f-4c67-a4d9-b08c482f4357".into(),
        ],
        vec!["verify".into(), plan_url.clone()],
    ];
    for args in runs {
        let output = crate::common::entra_drift()
            .args(&args)
            .env_remove("AZURE_CLIENT_SECRET")
            .output()
            .unwrap();
        let all = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            stderr(&output)
        );
        assert_ne!(output.status.code(), Some(0), "{args:?}: {all}");
        assert!(
            !all.contains("hunter2"),
            "{args:?} repeated the password: {all}"
        );
        assert!(!all.contains("panicked"), "{args:?}: {all}");
    }
}

/// Found by the state machine: an item an apply was killed while sending, whose approval was
/// then revoked, was reported `failed` by every later apply (exit 1 for ever).
#[test]
fn an_interrupted_item_no_longer_approved_is_not_a_failure() {
    // Each request takes 200 ms: a kill at `sending` lands before the outcome is recorded.
    let flow = Workflow::start(|config| config.latency_ms = 200);
    let person = flow.key(BY_PERSON);
    ok(&flow.approve(BOB, &["--only", &person, "--action", "reprocess"]));
    let mut child = flow
        .apply_command(&flow.plan, &["--concurrency", "1"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let journal = flow.run.join("plan.journal.jsonl");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let text = std::fs::read_to_string(&journal).unwrap_or_default();
        if child.try_wait().unwrap().is_some() || text.contains("\"sending\"") {
            child.kill().ok();
            break;
        }
        assert!(std::time::Instant::now() < deadline, "apply hung");
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    child.wait().unwrap();
    let journal_text = std::fs::read_to_string(&journal).unwrap();
    let last = journal_text
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .rfind(|e| e["assignment_id"] == person)
        .expect("the item was being sent");
    assert_eq!(
        last["event"], "sending",
        "killed while sending: {journal_text}"
    );
    let app = flow.key(APP_USER);
    ok(&flow.approve(
        ADA,
        &["--only", &app, "--action", "accept", "--reason", "kept"],
    ));
    ok(&crate::common::entra_drift()
        .args([
            "plan",
            "approve",
            s(&flow.plan),
            "--approver",
            BOB,
            "--revoke",
        ])
        .output()
        .unwrap());
    ok(&flow.apply(&[]));
    let results = read_csv(&flow.run.join("apply-results.csv"));
    let row = results
        .rows
        .iter()
        .find(|r| r["item_id"] == person)
        .unwrap();
    assert_eq!(row["outcome"], "not_approved", "{row:?}");
    assert!(row["reason"].contains("no longer approved"), "{row:?}");
}
