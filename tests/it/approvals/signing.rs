//! Signatures made and checked with the real ssh-keygen and ssh-agent; four eyes.

use super::*;

// ---------------------------------------------------------------------------------------------
// 1. ssh-keygen → entra-drift

#[test]
fn approvals_ssh_keygen_signatures_are_accepted_by_approve_and_apply() {
    let fake = Fake::start("contoso-core", |_| {});
    let out = tempfile::tempdir().unwrap();
    let keys = tempfile::tempdir().unwrap();
    let run = audit(&fake, out.path());
    let plan = run.join("plan.json");
    let ids = item_ids(&plan);
    assert_eq!(ids.len(), 4);
    let ada = keygen(keys.path(), "ada", "ed25519", "");
    let allowed = allowed_signers(keys.path(), "allowed_signers", &[(ADA, &ada, PLAN_NS)]);

    // The statement, recomputed here from the plan's bytes.
    let digest = expected_plan_digest(&plan);
    // "All" is every item with an action: the access items on `decide` are left out.
    let all = statement(&plan, &[]);
    let mut every = ids.clone();
    every.sort();
    assert_eq!(all, format!("{digest}\nonly: {}\n", every.join(",")));
    let mut chosen = [ids[2].clone(), ids[0].clone()];
    let only = statement(
        &plan,
        &["--only", &ids[2].to_ascii_uppercase(), "--only", &ids[0]],
    );
    chosen.sort();
    assert_eq!(only, format!("{digest}\nonly: {}\n", chosen.join(",")));
    assert_eq!(
        statement(&plan, &["--exclude", &ids[1], "--exclude", &ids[3]]),
        only,
        "the same selection by exclusion is the same statement"
    );

    // First a selection: ssh-keygen signs `plan digest --only`, approve attaches it.
    let only_sig = ssh_keygen_sign(&ada, &only, keys.path(), "only");
    let all_sig = ssh_keygen_sign(&ada, &all, keys.path(), "all");
    // A signature over another selection is refused on the spot, and nothing is recorded.
    let wrong = approve(
        &plan,
        ADA,
        &[
            "--only",
            &ids[2],
            "--only",
            &ids[0],
            "--signature",
            s(&all_sig),
        ],
    );
    refused(&wrong, "does not match the signed content");
    assert!(read_plan(&plan).approvals.is_empty());

    ok(&approve(
        &plan,
        ADA,
        &[
            "--only",
            &ids[2],
            "--only",
            &ids[0],
            "--signature",
            s(&only_sig),
            "--allowed-signers",
            s(&allowed),
        ],
    ));
    let approval = &read_plan(&plan).approvals[0];
    assert_eq!(approval.plan_digest, digest);
    assert_eq!(
        approval.key.as_deref(),
        Some(ssh_fingerprint(&ada).as_str())
    );
    assert_eq!(
        approval.signature.as_deref(),
        Some(fs::read_to_string(&only_sig).unwrap().as_str())
    );

    let applied = apply(&fake, &plan, &["--allowed-signers", s(&allowed)]);
    ok(&applied);
    let counts = reprocess_counts(&fake);
    assert_eq!(
        counts,
        BTreeMap::from([(ids[0].clone(), 1), (ids[2].clone(), 1)]),
        "only the signed selection is reprocessed"
    );
    let outcome = results(&run);
    assert_eq!(outcome[&ids[1]].0, "not_approved");
    assert_eq!(outcome[&ids[3]].0, "not_approved");

    // Then every item: ssh-keygen signs `plan digest`, a second approval is added.
    ok(&approve(&plan, ADA, &["--signature", s(&all_sig)]));
    assert_eq!(read_plan(&plan).approvals.len(), 2);
    ok(&apply(&fake, &plan, &["--allowed-signers", s(&allowed)]));
    let counts = reprocess_counts(&fake);
    assert_eq!(counts.len(), 4, "{counts:?}");
    assert!(
        counts.values().all(|&n| n == 1),
        "each item once: {counts:?}"
    );
    let outcome = results(&run);
    assert!(
        ids.iter().all(|id| outcome[id].0 == "reprocessed"),
        "{outcome:?}"
    );
}

#[test]
fn approvals_sign_key_signatures_verify_with_ssh_keygen() {
    let out = tempfile::tempdir().unwrap();
    let keys = tempfile::tempdir().unwrap();
    let run = offline_audit(out.path(), &[], None);
    let plan = run.join("plan.json");
    let ids = item_ids(&plan);

    for kind in ["ed25519", "ecdsa-p256", "rsa"] {
        let key = keygen(keys.path(), kind, kind, "");
        let principal = format!("{kind}@contoso.example");
        ok(&approve(&plan, &principal, &["--sign-key", s(&key)]));
        assert_ssh_keygen_accepts(keys.path(), &plan, &key, &principal, &[]);
        // A selection: the signature covers `plan digest --only ID`.
        ok(&approve(
            &plan,
            &principal,
            &["--only", &ids[1], "--sign-key", s(&key)],
        ));
        assert_ssh_keygen_accepts(keys.path(), &plan, &key, &principal, &["--only", &ids[1]]);
    }

    // An encrypted key: refused without (or with a wrong) passphrase, signs with it.
    let locked = keygen(keys.path(), "locked", "ed25519", "correct horse battery");
    let before = read_plan(&plan).approvals.len();
    let args = [
        "plan",
        "approve",
        s(&plan),
        "--approver",
        "locked@contoso.example",
        "--sign-key",
        s(&locked),
    ];
    refused(&entra(&args), "ENTRA_DRIFT_KEY_PASSPHRASE");
    refused(
        &entra_env(&args, &[("ENTRA_DRIFT_KEY_PASSPHRASE", "wrong")]),
        "wrong passphrase",
    );
    assert_eq!(read_plan(&plan).approvals.len(), before, "nothing recorded");
    let signed = entra_env(
        &args,
        &[("ENTRA_DRIFT_KEY_PASSPHRASE", "correct horse battery")],
    );
    ok(&signed);
    assert!(
        !stderr(&signed).contains("correct horse"),
        "{}",
        stderr(&signed)
    );
    assert_ssh_keygen_accepts(keys.path(), &plan, &locked, "locked@contoso.example", &[]);

    // Through a real ssh-agent: `--sign-key key.pub` signs with the agent's key.
    let agent_dir = tempfile::tempdir().unwrap();
    let agent = Agent::start(agent_dir.path(), "/bin/false");
    let held = keygen(keys.path(), "held", "ecdsa-p256", "");
    agent.add(&held, &[]);
    // Only the agent holds the private key now.
    fs::remove_file(&held).unwrap();
    let socket = agent.socket.to_str().unwrap().to_string();
    let through_agent = entra_env(
        &[
            "plan",
            "approve",
            s(&plan),
            "--approver",
            "agent@contoso.example",
            "--only",
            &ids[3],
            "--sign-key",
            s(&pub_path(&held)),
        ],
        &[("SSH_AUTH_SOCK", &socket)],
    );
    ok(&through_agent);
    assert_ssh_keygen_accepts(
        keys.path(),
        &plan,
        &held,
        "agent@contoso.example",
        &["--only", &ids[3]],
    );
    // A .pub whose key the agent does not hold.
    let absent = keygen(keys.path(), "absent", "ed25519", "");
    refused(
        &entra_env(
            &[
                "plan",
                "approve",
                s(&plan),
                "--approver",
                "agent@contoso.example",
                "--sign-key",
                s(&pub_path(&absent)),
            ],
            &[("SSH_AUTH_SOCK", &socket)],
        ),
        "not loaded in ssh-agent",
    );
}

// ---------------------------------------------------------------------------------------------
// 3. Four eyes

#[test]
fn approvals_four_eyes_needs_two_people_with_their_own_keys() {
    let fake = Fake::start("contoso-core", |_| {});
    let out = tempfile::tempdir().unwrap();
    let keys = tempfile::tempdir().unwrap();
    let run = audit(&fake, out.path());
    let plan = run.join("plan.json");
    let ids = item_ids(&plan);

    // ~/.config/entra-drift/allowed_signers, as a README would show it:
    //   ada@contoso.example namespaces="entra-drift-plan" ssh-ed25519 AAAA... ada
    //   bob@contoso.example namespaces="entra-drift-plan" ssh-ed25519 AAAA... bob
    // (ada has a second key, on her laptop).
    let ada = keygen(keys.path(), "ada", "ed25519", "");
    let ada_laptop = keygen(keys.path(), "ada-laptop", "ecdsa-p256", "");
    let bob = keygen(keys.path(), "bob", "ed25519", "");
    let mallory = keygen(keys.path(), "mallory", "ed25519", "");
    let allowed = allowed_signers(
        keys.path(),
        "allowed_signers",
        &[
            (ADA, &ada, PLAN_NS),
            (BOB, &bob, PLAN_NS),
            (ADA, &ada_laptop, PLAN_NS),
        ],
    );
    let policy = ["--allowed-signers", s(&allowed)];
    let four_eyes = ["--allowed-signers", s(&allowed), "--min-approvers", "2"];

    // $ entra-drift plan approve PLAN --approver ada@contoso.example --sign-key ~/.ssh/ada
    ok(&approve(
        &plan,
        ADA,
        &["--sign-key", s(&ada), "--allowed-signers", s(&allowed)],
    ));

    // One approval is not enough; four eyes without a policy is refused outright.
    refused(
        &apply(&fake, &plan, &["--min-approvers", "2"]),
        "--min-approvers 2 needs --allowed-signers",
    );
    refused(
        &apply(&fake, &plan, &four_eyes),
        "no item has the 2 distinct approver(s) required",
    );
    // The same person approving again (same key, then her other key) still counts once.
    ok(&approve(&plan, ADA, &["--sign-key", s(&ada)]));
    ok(&approve(&plan, ADA, &["--sign-key", s(&ada_laptop)]));
    refused(
        &apply(&fake, &plan, &four_eyes),
        "no item has the 2 distinct approver(s) required",
    );
    let three_by_ada = fs::read_to_string(&plan).unwrap();

    // A key not listed for the claimed approver: mallory's (listed for nobody), and ada's
    // (listed, but for ada) claiming to be bob. `plan approve --allowed-signers` refuses it at
    // once; without it the approval is recorded, and apply refuses the plan.
    for (key, who) in [(&mallory, "mallory's key"), (&ada, "ada's key")] {
        let checked = approve(
            &plan,
            BOB,
            &["--sign-key", s(key), "--allowed-signers", s(&allowed)],
        );
        refused(
            &checked,
            "is not listed for principal \"bob@contoso.example\"",
        );
        assert_eq!(fs::read_to_string(&plan).unwrap(), three_by_ada, "{who}");
        ok(&approve(&plan, BOB, &["--sign-key", s(key)]));
        for args in [&policy[..], &four_eyes[..]] {
            let output = apply(&fake, &plan, args);
            refused(
                &output,
                "the approval by `bob@contoso.example` does not verify",
            );
            refused(
                &output,
                "is not listed for principal \"bob@contoso.example\"",
            );
        }
        fs::write(&plan, &three_by_ada).unwrap();
    }

    // An unsigned approval is refused when --allowed-signers is given.
    ok(&approve(&plan, BOB, &[]));
    refused(
        &apply(&fake, &plan, &policy),
        "the approval by `bob@contoso.example` is not signed",
    );
    refused(
        &apply(&fake, &plan, &four_eyes),
        "the approval by `bob@contoso.example` is not signed",
    );
    fs::write(&plan, &three_by_ada).unwrap();
    assert!(
        reprocess_counts(&fake).is_empty(),
        "nothing refused was sent"
    );

    // $ entra-drift plan approve PLAN --approver bob@contoso.example --sign-key ~/.ssh/bob
    // Bob approves two of the four items: only those have two pairs of eyes.
    ok(&approve(
        &plan,
        BOB,
        &["--only", &ids[0], "--only", &ids[1], "--sign-key", s(&bob)],
    ));
    // $ entra-drift apply PLAN --allowed-signers allowed_signers --min-approvers 2
    ok(&apply(&fake, &plan, &four_eyes));
    assert_eq!(
        reprocess_counts(&fake),
        BTreeMap::from([(ids[0].clone(), 1), (ids[1].clone(), 1)])
    );
    let outcome = results(&run);
    for id in &ids[2..] {
        assert_eq!(outcome[id].0, "not_approved");
        assert!(
            outcome[id]
                .1
                .contains("approved by 1 of the 2 required (ada@contoso.example)"),
            "{:?}",
            outcome[id]
        );
    }
    let journal = fs::read_to_string(run.join("plan.journal.jsonl")).unwrap();
    assert!(
        journal.contains("approved by ada@contoso.example, bob@contoso.example"),
        "{journal}"
    );

    // Bob approves the rest: every item is reprocessed, each once.
    ok(&approve(
        &plan,
        BOB,
        &[
            "--exclude",
            &ids[0],
            "--exclude",
            &ids[1],
            "--sign-key",
            s(&bob),
        ],
    ));
    ok(&apply(&fake, &plan, &four_eyes));
    let counts = reprocess_counts(&fake);
    assert_eq!(counts.len(), 4, "{counts:?}");
    assert!(counts.values().all(|&n| n == 1), "{counts:?}");
}

/// One key that the policy lets sign as several principals (a wildcard line, or a shared key)
/// is still one pair of eyes.
#[test]
fn approvals_one_key_is_one_approver_even_when_allowed_for_several_principals() {
    let fake = Fake::start("contoso-core", |_| {});
    let out = tempfile::tempdir().unwrap();
    let keys = tempfile::tempdir().unwrap();
    let run = audit(&fake, out.path());
    let plan = run.join("plan.json");
    let shared = keygen(keys.path(), "shared", "ed25519", "");
    let bob = keygen(keys.path(), "bob", "ed25519", "");
    // git's documentation shows wildcard principals; here one key may sign as anyone at
    // contoso, and bob also has his own key.
    let allowed = allowed_signers(
        keys.path(),
        "allowed_signers",
        &[
            ("*@contoso.example", &shared, PLAN_NS),
            (BOB, &bob, PLAN_NS),
        ],
    );
    let four_eyes = ["--allowed-signers", s(&allowed), "--min-approvers", "2"];
    ok(&approve(
        &plan,
        ADA,
        &["--sign-key", s(&shared), "--allowed-signers", s(&allowed)],
    ));
    ok(&approve(
        &plan,
        BOB,
        &["--sign-key", s(&shared), "--allowed-signers", s(&allowed)],
    ));
    refused(
        &apply(&fake, &plan, &four_eyes),
        "no item has the 2 distinct approver(s) required",
    );
    assert!(reprocess_counts(&fake).is_empty(), "one key approved twice");
    // Bob with his own key is the second pair of eyes.
    ok(&approve(&plan, BOB, &["--sign-key", s(&bob)]));
    ok(&apply(&fake, &plan, &four_eyes));
    assert_eq!(reprocess_counts(&fake).len(), 4);
}
