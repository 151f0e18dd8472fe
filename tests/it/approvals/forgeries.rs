//! Forged plans, approvals, runs and journals refused; sealed runs and their chain.

use super::*;

#[test]
fn approvals_forged_plans_approvals_and_runs_are_refused() {
    let fake = Fake::start("contoso-core", |_| {});
    let out = tempfile::tempdir().unwrap();
    let keys = tempfile::tempdir().unwrap();
    let run = audit(&fake, out.path());
    let other_run = audit(&fake, out.path());
    assert_ne!(run, other_run);
    let plan = run.join("plan.json");
    let other_plan = other_run.join("plan.json");
    let tenant_dir = run.parent().unwrap().to_path_buf();
    let ada = keygen(keys.path(), "ada", "ed25519", "");
    let allowed = allowed_signers(keys.path(), "allowed_signers", &[(ADA, &ada, PLAN_NS)]);
    let policy = ["--allowed-signers", s(&allowed)];
    ok(&approve(&plan, ADA, &["--sign-key", s(&ada)]));
    ok(&approve(&other_plan, ADA, &["--sign-key", s(&ada)]));
    let original = fs::read_to_string(&plan).unwrap();
    let manifest = fs::read(run.join("manifest.json")).unwrap();
    let index = fs::read(tenant_dir.join("index.csv")).unwrap();
    let restore = || {
        fs::write(&plan, &original).unwrap();
        fs::write(run.join("manifest.json"), &manifest).unwrap();
        fs::write(tenant_dir.join("index.csv"), &index).unwrap();
    };
    // The untouched plan would be applied (dry run: nothing is sent).
    ok(&apply(
        &fake,
        &plan,
        &["--dry-run", "--allowed-signers", s(&allowed)],
    ));

    // An item added after the approval, its items digest recomputed.
    let mut forged = read_plan(&plan);
    let mut extra = forged.items[0].clone();
    extra.assignment_id = "3f1e7c2a-5b6d-4e8f-9a0b-1c2d3e4f5a6b".into();
    forged.items.push(extra);
    forged.items_digest = items_digest(&forged.items);
    forged.approvals[0]
        .items
        .push("3f1e7c2a-5b6d-4e8f-9a0b-1c2d3e4f5a6b".into());
    write_plan(&plan, &forged);
    refused(&apply(&fake, &plan, &policy), "not committed by its run");
    // Even with the run's manifest and index rewritten to commit it, the signed approval was
    // given for another plan digest.
    recommit(&run, &forged);
    refused(&apply(&fake, &plan, &policy), "it belongs to another plan");
    refused(&apply(&fake, &plan, &[]), "it belongs to another plan");
    restore();

    // `expires` edited, with and without the run's commitment forged to match.
    let mut forged = read_plan(&plan);
    forged.expires += chrono::Duration::days(365);
    write_plan(&plan, &forged);
    refused(&apply(&fake, &plan, &policy), "not committed by its run");
    recommit(&run, &forged);
    refused(&apply(&fake, &plan, &policy), "it belongs to another plan");
    restore();

    // An approval copied from another run's plan of the same tenant and the same items.
    let copied = read_plan(&other_plan).approvals[0].clone();
    assert_eq!(copied.items, read_plan(&plan).approvals[0].items);
    let mut forged = read_plan(&plan);
    forged.approvals = vec![copied];
    write_plan(&plan, &forged);
    let output = apply(&fake, &plan, &policy);
    refused(&output, "it belongs to another plan");
    refused(&output, &expected_plan_digest(&other_plan));
    restore();

    // Hand-written approvals: no approver; dated 2099.
    let genuine: Approval = read_plan(&plan).approvals[0].clone();
    let handmade = |change: &dyn Fn(&mut Approval)| {
        let mut forged = read_plan(&plan);
        let mut approval = genuine.clone();
        change(&mut approval);
        forged.approvals.push(approval);
        write_plan(&plan, &forged);
    };
    handmade(&|a| {
        a.approver = " ".into();
        a.signature = None;
        a.key = None;
    });
    refused(&apply(&fake, &plan, &policy), "it names no approver");
    refused(&apply(&fake, &plan, &[]), "it names no approver");
    restore();
    handmade(&|a| a.approved_at = "2099-01-01T00:00:00Z".parse().unwrap());
    refused(&apply(&fake, &plan, &policy), "outside the plan's life");
    refused(&apply(&fake, &plan, &[]), "outside the plan's life");
    restore();

    // A duplicate item, both digests recomputed (and the run's commitment too).
    let mut forged = read_plan(&plan);
    let twin = forged.items[1].clone();
    forged.items.push(twin);
    forged.items_digest = items_digest(&forged.items);
    write_plan(&plan, &forged);
    recommit(&run, &forged);
    let number = format!("item {} repeats assignment", forged.items.len());
    refused(&apply(&fake, &plan, &policy), &number);
    restore();

    // A run whose manifest.json is gone never committed its plan.
    fs::rename(
        other_run.join("manifest.json"),
        keys.path().join("manifest.json"),
    )
    .unwrap();
    let output = apply(&fake, &other_plan, &policy);
    refused(&output, "not committed by its run");
    refused(&output, "cannot be read");
    fs::rename(
        keys.path().join("manifest.json"),
        other_run.join("manifest.json"),
    )
    .unwrap();

    // The run missing from index.csv.
    let run_name = name(&run);
    edit_index(&tenant_dir, |headers, rows| {
        let col = headers.iter().position(|h| h == "run").unwrap();
        rows.retain(|r| r[col] != run_name);
    });
    let output = apply(&fake, &plan, &policy);
    refused(&output, "not committed by its run");
    refused(&output, "does not list the run");
    restore();

    // Two applies at once: the plan's lock, held (an OS file lock) by this test's process.
    let items = read_plan(&plan).items_digest;
    let lock = run
        .parent()
        .unwrap()
        .join(entra_drift::lock::plan_lock_name(&items));
    let holder = serde_json::json!({
        "pid": std::process::id(),
        "host": host_name(),
        "started": chrono::Utc::now().to_rfc3339(),
        "tool": "x",
    });
    fs::write(&lock, serde_json::to_string_pretty(&holder).unwrap()).unwrap();
    let held = fs::File::open(&lock).unwrap();
    held.lock().unwrap();
    let output = apply(&fake, &plan, &policy);
    refused(&output, "another run holds");
    refused(&output, &format!("pid {}", std::process::id()));
    assert!(lock.is_file(), "the holder's lock is left alone");
    drop(held);
    fs::remove_file(&lock).unwrap();

    assert!(
        reprocess_counts(&fake).is_empty(),
        "no forged plan was applied"
    );
    assert!(!run.join("plan.journal.jsonl").exists());

    // A plan copied out of its folder is refused; named with --run, it is the run's plan.
    let elsewhere = out.path().join("elsewhere");
    fs::create_dir(&elsewhere).unwrap();
    let copy = elsewhere.join("plan.json");
    fs::copy(&plan, &copy).unwrap();
    let output = apply(&fake, &copy, &policy);
    refused(&output, "not committed by its run");
    refused(&output, "its folder is `elsewhere`");
    // Named with another run, it is still not committed.
    let output = apply(
        &fake,
        &copy,
        &["--run", s(&other_run), "--allowed-signers", s(&allowed)],
    );
    refused(&output, "not committed by its run");
    ok(&apply(
        &fake,
        &copy,
        &["--run", s(&run), "--allowed-signers", s(&allowed)],
    ));
    let counts = reprocess_counts(&fake);
    assert_eq!(counts.len(), 4, "{counts:?}");
    assert!(counts.values().all(|&n| n == 1), "{counts:?}");
    assert!(elsewhere.join("plan.journal.jsonl").is_file());
}

// ---------------------------------------------------------------------------------------------
// 5. The journal

#[test]
fn approvals_journal_edits_are_refused_and_recheck_journal_distrusts_it() {
    let fake = Fake::start("contoso-core", |_| {});
    let out = tempfile::tempdir().unwrap();
    let run = audit(&fake, out.path());
    let plan = run.join("plan.json");
    let ids = item_ids(&plan);
    let never_sent = ids[3].clone();
    ok(&approve(&plan, ADA, &["--exclude", &never_sent]));
    ok(&apply(&fake, &plan, &[]));
    assert_eq!(reprocess_counts(&fake).len(), 3);

    // The chain as documented: every line names the plan and links to the line before it.
    let digest = expected_plan_digest(&plan);
    let path = run.join("plan.journal.jsonl");
    let original = fs::read_to_string(&path).unwrap();
    let lines: Vec<&str> = original.lines().collect();
    let mut prev = digest.clone();
    for (number, line) in lines.iter().enumerate() {
        let entry: serde_json::Value = serde_json::from_str(line).unwrap();
        assert_eq!(entry["plan"], digest.as_str(), "line {}", number + 1);
        assert_eq!(entry["prev"], prev.as_str(), "line {}", number + 1);
        prev = sha(line.as_bytes());
    }
    let first: serde_json::Value = serde_json::from_str(lines[0]).unwrap();
    assert_eq!(first["event"], "run");
    assert!(!original.contains(&never_sent));

    let write = |lines: &[&str]| fs::write(&path, lines.join("\n") + "\n").unwrap();
    let refused_at = |line: usize, problem: &str| {
        let output = apply(&fake, &plan, &[]);
        refused(&output, &format!("line {line}: {problem}"));
        refused(&output, "plan.journal.jsonl");
    };

    // A line inserted (a copy of line 3 after it).
    let mut inserted = lines.clone();
    inserted.insert(3, lines[2]);
    write(&inserted);
    refused_at(4, "does not link to the line before it");

    // A line edited: line 2's detail changed, so line 3 no longer links to it.
    let mut entry: serde_json::Value = serde_json::from_str(lines[1]).unwrap();
    entry["detail"] = "edited".into();
    let edited_line = serde_json::to_string(&entry).unwrap();
    let mut edited = lines.clone();
    edited[1] = &edited_line;
    write(&edited);
    refused_at(3, "does not link to the line before it");

    // The run line deleted.
    write(&lines[1..]);
    refused_at(1, "does not link to the line before it");
    assert_eq!(reprocess_counts(&fake).len(), 3, "nothing was sent");

    // A journal copied from another plan (the next audit's, of the same tenant).
    let other_run = audit(&fake, out.path());
    let other_plan = other_run.join("plan.json");
    ok(&approve(&other_plan, ADA, &[]));
    fs::write(other_run.join("plan.journal.jsonl"), &original).unwrap();
    let output = apply(&fake, &other_plan, &[]);
    refused(&output, "line 1: belongs to plan");
    refused(&output, &digest);

    // A forged but correctly chained `reprocessed` line for the item that was never sent.
    let forged = serde_json::json!({
        "at": chrono::Utc::now().to_rfc3339(),
        "event": "reprocessed",
        "assignment_id": never_sent,
        "detail": "202 Accepted",
        "plan": digest,
        "prev": sha(lines.last().unwrap().as_bytes()),
    });
    let mut chained = lines.clone();
    let forged_line = serde_json::to_string(&forged).unwrap();
    chained.push(&forged_line);
    write(&chained);
    ok(&approve(&plan, BOB, &["--only", &never_sent]));
    // A plain apply trusts the journal: the item counts as done and is not sent.
    ok(&apply(&fake, &plan, &[]));
    assert_eq!(reprocess_counts(&fake).get(&never_sent), None);
    let outcome = results(&run);
    assert_eq!(outcome[&never_sent].0, "reprocessed");
    assert!(
        outcome[&never_sent].1.contains("(earlier run)"),
        "{:?}",
        outcome[&never_sent]
    );
    // --recheck-journal re-checks every approved item live: the forged one is still missing
    // its access and is reprocessed; the others are restored and not sent again.
    ok(&apply(&fake, &plan, &["--recheck-journal"]));
    let counts = reprocess_counts(&fake);
    assert_eq!(counts.get(&never_sent), Some(&1), "{counts:?}");
    assert_eq!(counts.len(), 4);
    assert!(counts.values().all(|&n| n == 1), "{counts:?}");
    let outcome = results(&run);
    assert_eq!(outcome[&never_sent].0, "reprocessed");
    assert!(!outcome[&never_sent].1.contains("earlier run"));
    for id in &ids[..3] {
        assert_eq!(outcome[id].0, "skipped", "{:?}", outcome[id]);
    }
}

#[test]
fn approvals_sealed_runs_verify_and_rewritten_or_unsealed_runs_do_not() {
    let keys = tempfile::tempdir().unwrap();
    let sealer = keygen(keys.path(), "sealer", "ed25519", "");
    let ada = keygen(keys.path(), "ada", "ed25519", "");
    let allowed = allowed_signers(
        keys.path(),
        "allowed_signers",
        &[
            ("audits@contoso.example", &sealer, EVIDENCE_NS),
            (ADA, &ada, PLAN_NS),
        ],
    );
    let fingerprint = ssh_fingerprint(&sealer);

    // Two sealed runs verify, each named with its sealer.
    let out = tempfile::tempdir().unwrap();
    let tenant = history(out.path(), &[Some(&sealer), Some(&sealer)]);
    let output = evidence_verify(out.path(), Some(&allowed));
    ok(&output);
    assert!(stdout(&output).is_empty(), "{}", stdout(&output));
    for run in &RUNS[..2] {
        let line = format!("sealed: {run}: by audits@contoso.example ({fingerprint})");
        assert!(
            stderr(&output).contains(&line),
            "{line} in:\n{}",
            stderr(&output)
        );
    }
    // The seal is an ordinary sshsig: ssh-keygen checks it over "<manifest digest>\n".
    for run in &RUNS[..2] {
        let manifest = fs::read(tenant.join(run).join("manifest.json")).unwrap();
        let seal = fs::read_to_string(tenant.join(run).join("manifest.sig")).unwrap();
        let message = format!("{}\n", sha(&manifest));
        let verdict = ssh_verify(
            keys.path(),
            &fs::read_to_string(&allowed).unwrap(),
            "audits@contoso.example",
            EVIDENCE_NS,
            &seal,
            message.as_bytes(),
            None,
        );
        assert!(verdict.success, "{run}: {}", verdict.output);
    }

    // Rewriting the first run's findings and every digest that records them (its manifest,
    // index.csv, the second run's link and its index row): the chain holds, the seals do not.
    let findings = fs::read_to_string(tenant.join(RUNS[0]).join("findings.csv")).unwrap();
    let rewritten = findings.replacen("missing_access", "resource_not_found", 1);
    assert_ne!(findings, rewritten);
    rewrite_history(&tenant, 0, &rewritten);
    for policy in [Some(allowed.as_path()), None] {
        let problems = problem_lines(&evidence_verify(&tenant, policy));
        assert!(
            problems.iter().any(|l| l.starts_with(&format!(
                "{}: signature: manifest.sig does not verify",
                RUNS[0]
            ))),
            "{problems:?}"
        );
        assert!(
            problems.iter().all(|l| l.contains(": signature: ")),
            "only the seals give the rewrite away: {problems:?}"
        );
    }

    // A third run without --sign-key after sealed ones: the policy requires every run sealed;
    // without one, the history's own continuity rule still catches it.
    let out = tempfile::tempdir().unwrap();
    let tenant = history(out.path(), &[Some(&sealer), Some(&sealer), None]);
    let problems = problem_lines(&evidence_verify(&tenant, Some(&allowed)));
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(
        problems[0].starts_with(&format!(
            "{}: signature: not sealed (no manifest.sig), though --allowed-signers requires every run to be",
            RUNS[2]
        )),
        "{problems:?}"
    );
    let problems = problem_lines(&evidence_verify(&tenant, None));
    assert_eq!(
        problems,
        [format!(
            "{}: signature: not sealed (no manifest.sig), though an earlier run of this tenant is",
            RUNS[2]
        )]
    );

    // Approvals added to a sealed run's plan are notes, with who signed them; an approval whose
    // signature does not hold for its approver is a problem.
    let out = tempfile::tempdir().unwrap();
    let run = offline_audit(out.path(), &["--sign-key", s(&sealer)], None);
    let plan = run.join("plan.json");
    ok(&approve(&plan, ADA, &["--sign-key", s(&ada)]));
    ok(&approve(&plan, BOB, &[]));
    let output = evidence_verify(out.path(), Some(&allowed));
    ok(&output);
    let note = format!(
        "approvals added after the audit: {ADA} (signed by {ADA} ({})); {BOB} (unsigned)",
        ssh_fingerprint(&ada)
    );
    assert!(
        stderr(&output).contains(&note),
        "{note} in:\n{}",
        stderr(&output)
    );
    let mut forged = read_plan(&plan);
    let mut renamed = forged.approvals[0].clone();
    renamed.approver = BOB.into();
    forged.approvals.push(renamed);
    write_plan(&plan, &forged);
    let problems = problem_lines(&evidence_verify(out.path(), Some(&allowed)));
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(
        problems[0].contains(": signature: plan.json: approvals")
            && problems[0].contains("SIGNATURE DOES NOT VERIFY"),
        "{problems:?}"
    );

    // A run sealed by a key the policy allows only for approving plans.
    let out = tempfile::tempdir().unwrap();
    let tenant = history(out.path(), &[Some(&ada)]);
    let problems = problem_lines(&evidence_verify(&tenant, Some(&allowed)));
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(
        problems[0].starts_with(&format!(
            "{}: signature: sealed by key {}, which",
            RUNS[0],
            ssh_fingerprint(&ada)
        )) && problems[0].contains("does not allow for entra-drift-evidence"),
        "{problems:?}"
    );
}

/// Replaces run `at`'s findings.csv and recomputes every digest that records it — its
/// manifest, the next run's link, and both rows of index.csv — as someone rewriting history
/// with write access to the folder (and no audit key) would.
fn rewrite_history(tenant: &Path, at: usize, findings: &str) {
    let rewrite_manifest = |path: &Path, change: &dyn Fn(&mut serde_json::Value)| -> String {
        let mut manifest: serde_json::Value =
            serde_json::from_str(&fs::read_to_string(path).unwrap()).unwrap();
        change(&mut manifest);
        let text = serde_json::to_string_pretty(&manifest).unwrap() + "\n";
        fs::write(path, &text).unwrap();
        sha(text.as_bytes())
    };
    let run = tenant.join(RUNS[at]);
    fs::write(run.join("findings.csv"), findings).unwrap();
    let digest = rewrite_manifest(&run.join("manifest.json"), &|m| {
        for file in m["files"].as_array_mut().unwrap() {
            if file["path"] == "findings.csv" {
                file["sha256"] = sha(findings.as_bytes()).into();
                file["bytes"] = findings.len().into();
            }
        }
    });
    edit_index(tenant, |headers, rows| {
        set_cell(headers, rows, RUNS[at], "manifest_sha256", &digest)
    });
    if let Some(next) = RUNS.get(at + 1).filter(|next| tenant.join(next).is_dir()) {
        let linked = rewrite_manifest(&tenant.join(next).join("manifest.json"), &|m| {
            m["previous"]["manifest_sha256"] = digest.clone().into();
        });
        edit_index(tenant, |headers, rows| {
            set_cell(headers, rows, next, "manifest_sha256", &linked)
        });
    }
}

/// Issue 24, defect 2: a rewritten history whose every seal was deleted passed `evidence verify
/// --allowed-signers`, because the history itself said nothing was ever sealed.
#[test]
fn approvals_a_rewritten_history_without_seals_fails_the_verifiers_policy() {
    let keys = tempfile::tempdir().unwrap();
    let sealer = keygen(keys.path(), "sealer", "ed25519", "");
    let allowed = allowed_signers(
        keys.path(),
        "allowed_signers",
        &[("audits@contoso.example", &sealer, EVIDENCE_NS)],
    );
    let out = tempfile::tempdir().unwrap();
    let tenant = history(out.path(), &[Some(&sealer), Some(&sealer), Some(&sealer)]);
    // Drop a finding of the second run, recompute every digest that records it, and delete
    // every seal.
    let findings = fs::read_to_string(tenant.join(RUNS[1]).join("findings.csv")).unwrap();
    let mut lines: Vec<&str> = findings.split_inclusive('\n').collect();
    lines.remove(1);
    rewrite_history(&tenant, 1, &lines.concat());
    for run in RUNS {
        fs::remove_file(tenant.join(run).join("manifest.sig")).unwrap();
    }
    // The verifier's policy: every run must be sealed.
    let problems = problem_lines(&evidence_verify(&tenant, Some(&allowed)));
    assert_eq!(problems.len(), 3, "{problems:?}");
    assert!(
        problems
            .iter()
            .all(|p| p.contains(": signature: not sealed (no manifest.sig)")),
        "{problems:?}"
    );
    // An unkeyed chain proves only that the files agree with each other: without a policy,
    // the consistent rewrite passes (the README says so).
    ok(&evidence_verify(&tenant, None));
    // Where sealing began is the verifier's to say: --sealed-since exempts earlier runs only.
    let since = entra(&[
        "evidence",
        "verify",
        s(&tenant),
        "--allowed-signers",
        s(&allowed),
        "--sealed-since",
        RUNS[1],
    ]);
    let problems = problem_lines(&since);
    assert_eq!(problems.len(), 2, "{problems:?}");
    assert!(
        problems.iter().all(|p| !p.starts_with(RUNS[0])),
        "{problems:?}"
    );
    let out = tempfile::tempdir().unwrap();
    let tenant = history(out.path(), &[None, Some(&sealer), Some(&sealer)]);
    ok(&entra(&[
        "evidence",
        "verify",
        s(&tenant),
        "--allowed-signers",
        s(&allowed),
        "--sealed-since",
        RUNS[1],
    ]));
    problem_lines(&evidence_verify(&tenant, Some(&allowed)));
    // The named run must be one the index lists: a run name that merely sorts late exempts
    // nothing.
    let missing = entra(&[
        "evidence",
        "verify",
        s(&tenant),
        "--allowed-signers",
        s(&allowed),
        "--sealed-since",
        "20991231T000000Z",
    ]);
    let problems = problem_lines(&missing);
    assert!(
        problems.iter().any(|p| p.contains("does not list")),
        "{problems:?}"
    );
    assert!(
        problems
            .iter()
            .any(|p| p.starts_with(RUNS[0]) && p.contains("not sealed")),
        "{problems:?}"
    );
}

#[test]
fn approvals_a_run_pruned_out_of_order_breaks_the_chain() {
    let out = tempfile::tempdir().unwrap();
    let tenant = history(out.path(), &[None, None, None]);
    let pruned_at = "2026-11-16T06:00:00Z";

    // The middle run marked pruned and deleted while the oldest is kept.
    let middle = out.path().join("middle");
    fs::rename(tenant.join(RUNS[1]), &middle).unwrap();
    let index = fs::read(tenant.join("index.csv")).unwrap();
    edit_index(&tenant, |headers, rows| {
        set_cell(headers, rows, RUNS[1], "pruned_at", pruned_at)
    });
    let problems = problem_lines(&evidence_verify(&tenant, None));
    assert_eq!(
        problems,
        [format!(
            "{}: broken chain: marked pruned, but an older run is kept: retention prunes only the oldest runs",
            RUNS[1]
        )]
    );

    // The same done to the oldest run is what retention does: intact.
    fs::rename(&middle, tenant.join(RUNS[1])).unwrap();
    fs::write(tenant.join("index.csv"), &index).unwrap();
    fs::remove_dir_all(tenant.join(RUNS[0])).unwrap();
    edit_index(&tenant, |headers, rows| {
        set_cell(headers, rows, RUNS[0], "pruned_at", pruned_at)
    });
    let output = evidence_verify(&tenant, None);
    ok(&output);
    assert!(
        stderr(&output).contains(&format!(
            "previous run `{}` was pruned by retention",
            RUNS[0]
        )),
        "{}",
        stderr(&output)
    );
}
