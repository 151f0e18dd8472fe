//! Interoperability with stock OpenSSH: our signatures verify with `ssh-keygen -Y verify`, theirs with ours.

use std::fs;
use std::path::Path;

use crate::support::ssh::{keygen, pub_path, public_line, ssh_keygen, ssh_verify, Agent};
use chrono::{DateTime, Utc};
use entra_drift::trust::{
    self, sign_with_agent_socket, sign_with_key_file, verify, AllowedSigners, TrustError,
    EVIDENCE_NAMESPACE, PLAN_NAMESPACE,
};

const MSG: &[u8] = b"{\"plan\":\"remove stale assignments\",\"count\":3}\n";
const KINDS: [&str; 4] = ["ed25519", "ecdsa-p256", "ecdsa-p384", "rsa"];

fn now() -> DateTime<Utc> {
    Utc::now()
}

fn policy(dir: &Path, text: &str) -> AllowedSigners {
    let path = dir.join("allowed_signers");
    fs::write(&path, text).expect("write allowed_signers");
    AllowedSigners::load(&path).expect("load allowed_signers")
}

#[test]
fn our_signatures_verify_with_ssh_keygen() {
    let dir = tempfile::tempdir().expect("tempdir");
    for kind in KINDS {
        let key = keygen(dir.path(), kind, kind, "");
        let sig = sign_with_key_file(&key, None, PLAN_NAMESPACE, MSG)
            .unwrap_or_else(|e| panic!("{kind}: {e}"));
        let allowed = format!(
            "signer@example.com namespaces=\"{PLAN_NAMESPACE}\" {}\n",
            public_line(&key)
        );
        let ok = ssh_verify(
            dir.path(),
            &allowed,
            "signer@example.com",
            PLAN_NAMESPACE,
            &sig,
            MSG,
            None,
        );
        assert!(
            ok.success,
            "{kind}: ssh-keygen rejected our signature: {}",
            ok.output
        );
        assert!(
            ok.output.contains("Good \"entra-drift-plan\" signature"),
            "{}",
            ok.output
        );

        // Sanity check that ssh-keygen is really checking: tampering must fail there too.
        let bad = ssh_verify(
            dir.path(),
            &allowed,
            "signer@example.com",
            PLAN_NAMESPACE,
            &sig,
            b"x",
            None,
        );
        assert!(
            !bad.success,
            "{kind}: ssh-keygen accepted a tampered message"
        );
    }
}

#[test]
fn encrypted_key_signature_verifies_with_ssh_keygen() {
    let dir = tempfile::tempdir().expect("tempdir");
    let key = keygen(dir.path(), "enc", "ed25519", "s3cret pass");
    assert!(matches!(
        sign_with_key_file(&key, None, PLAN_NAMESPACE, MSG),
        Err(TrustError::KeyEncrypted { .. })
    ));
    assert!(matches!(
        sign_with_key_file(&key, Some("nope"), PLAN_NAMESPACE, MSG),
        Err(TrustError::WrongPassphrase { .. })
    ));
    let sig = sign_with_key_file(&key, Some("s3cret pass"), PLAN_NAMESPACE, MSG).expect("sign");
    let allowed = format!("ops@example.com {}\n", public_line(&key));
    let ok = ssh_verify(
        dir.path(),
        &allowed,
        "ops@example.com",
        PLAN_NAMESPACE,
        &sig,
        MSG,
        None,
    );
    assert!(ok.success, "{}", ok.output);
}

#[test]
fn ssh_keygen_signatures_verify_with_ours_and_refusals_are_precise() {
    let dir = tempfile::tempdir().expect("tempdir");
    for kind in KINDS {
        let key = keygen(dir.path(), kind, kind, "");
        let msg_path = dir.path().join(format!("{kind}.msg"));
        fs::write(&msg_path, MSG).expect("write msg");
        let out = ssh_keygen(&[
            "-Y",
            "sign",
            "-n",
            PLAN_NAMESPACE,
            "-f",
            key.to_str().expect("utf8"),
            msg_path.to_str().expect("utf8"),
        ]);
        assert!(out.success, "{kind}: ssh-keygen -Y sign: {}", out.output);
        let sig = fs::read_to_string(dir.path().join(format!("{kind}.msg.sig"))).expect("sig");

        let signer = verify(&sig, PLAN_NAMESPACE, MSG).expect("verify");
        let expected = trust::read_public_key(&pub_path(&key)).expect("pub");
        assert_eq!(signer.key_data(), expected.key_data(), "{kind}");

        // Fingerprint must be what `ssh-keygen -l` prints.
        let listed = ssh_keygen(&[
            "-l",
            "-E",
            "sha256",
            "-f",
            pub_path(&key).to_str().expect("utf8"),
        ]);
        assert!(
            listed.output.contains(&trust::fingerprint(&signer)),
            "{kind}: {} vs {}",
            listed.output,
            trust::fingerprint(&signer)
        );

        let line = public_line(&key);
        let signers = policy(
            dir.path(),
            &format!(
                "alice@example.com namespaces=\"{PLAN_NAMESPACE}\" {line}\n\
                 evidence-only@example.com namespaces=\"{EVIDENCE_NAMESPACE}\" {line}\n\
                 retired@example.com valid-before=\"20200101Z\" {line}\n"
            ),
        );
        let ok = signers
            .verify_for("alice@example.com", &sig, PLAN_NAMESPACE, MSG, now())
            .expect("verify_for");
        assert_eq!(ok.fingerprint, trust::fingerprint(&expected));

        assert!(matches!(
            signers.verify_for(
                "alice@example.com",
                &sig,
                PLAN_NAMESPACE,
                b"tampered",
                now()
            ),
            Err(TrustError::BadSignature { .. })
        ));
        assert!(matches!(
            signers.verify_for("alice@example.com", &sig, EVIDENCE_NAMESPACE, MSG, now()),
            Err(TrustError::NamespaceMismatch { .. })
        ));
        assert!(matches!(
            signers.verify_for("bob@example.com", &sig, PLAN_NAMESPACE, MSG, now()),
            Err(TrustError::KeyNotAllowed { .. })
        ));
        assert!(matches!(
            signers.verify_for(
                "evidence-only@example.com",
                &sig,
                PLAN_NAMESPACE,
                MSG,
                now()
            ),
            Err(TrustError::NamespaceNotAllowed { line: 2, .. })
        ));
        assert!(matches!(
            signers.verify_for("retired@example.com", &sig, PLAN_NAMESPACE, MSG, now()),
            Err(TrustError::OutsideValidity { line: 3, .. })
        ));
        assert_eq!(
            signers.principals_for(&signer, PLAN_NAMESPACE, now()),
            vec!["alice@example.com"]
        );
    }
}

/// The same allowed_signers lines must lead to the same decision in ssh-keygen and in our check.
#[test]
fn policy_decisions_match_ssh_keygen() {
    let dir = tempfile::tempdir().expect("tempdir");
    let key = keygen(dir.path(), "k", "ed25519", "");
    let k = public_line(&key);
    let sig = sign_with_key_file(&key, None, PLAN_NAMESPACE, MSG).expect("sign");
    let at = "20250601120000Z";
    let at_utc: DateTime<Utc> = "2025-06-01T12:00:00Z".parse().expect("time");

    let lines = [
        format!("alice@example.com {k}"),
        format!("*@example.com {k}"),
        format!("*@example.com,!alice@example.com {k}"),
        format!("al?ce@example.com {k}"),
        format!("\"alice@example.com\" {k}"),
        format!("bob@example.com,alice@example.com {k} a comment"),
        format!("alice@example.com namespaces=\"entra-drift-*\" {k}"),
        format!("alice@example.com namespaces=\"git,file\" {k}"),
        format!("alice@example.com namespaces=\"*,!entra-drift-plan\" {k}"),
        format!("alice@example.com valid-after=\"20250601120000Z\" {k}"),
        format!("alice@example.com valid-after=\"20250601120001Z\" {k}"),
        format!("alice@example.com valid-before=\"20250601120000Z\" {k}"),
        format!("alice@example.com valid-before=\"202506011159Z\" {k}"),
        format!("alice@example.com VALID-AFTER=\"20250101Z\",namespaces=\"entra-drift-plan\" {k}"),
        format!("alice@example.com valid-after=\"20250101\" {k}"),
    ];
    for line in &lines {
        for principal in ["alice@example.com", "mallory@example.org"] {
            let text = format!("# policy\n{line}\n");
            let theirs = ssh_verify(
                dir.path(),
                &text,
                principal,
                PLAN_NAMESPACE,
                &sig,
                MSG,
                Some(at),
            );
            let signers = policy(dir.path(), &text);
            let ours = signers.verify_for(principal, &sig, PLAN_NAMESPACE, MSG, at_utc);
            assert_eq!(
                ours.is_ok(),
                theirs.success,
                "disagreement on `{line}` as {principal}: ours {ours:?}, ssh-keygen: {}",
                theirs.output
            );
        }
    }
}

#[test]
fn agent_signatures_verify_with_ssh_keygen() {
    let dir = tempfile::tempdir().expect("tempdir");
    let agent = Agent::start(dir.path(), "/bin/false");
    let mut allowed = String::new();
    for kind in KINDS {
        let key = keygen(dir.path(), kind, kind, "");
        agent.add(&key, &[]);
        allowed.push_str(&format!("agent-user@example.com {}\n", public_line(&key)));
    }
    for kind in KINDS {
        let public = pub_path(&dir.path().join(kind));
        assert!(trust::is_public_key_file(&public));
        assert!(!trust::is_public_key_file(&dir.path().join(kind)));
        let sig = sign_with_agent_socket(&agent.socket, &public, PLAN_NAMESPACE, MSG)
            .unwrap_or_else(|e| panic!("{kind}: {e}"));
        let ok = ssh_verify(
            dir.path(),
            &allowed,
            "agent-user@example.com",
            PLAN_NAMESPACE,
            &sig,
            MSG,
            None,
        );
        assert!(ok.success, "{kind}: {}", ok.output);
        let signers = policy(dir.path(), &allowed);
        signers
            .verify_for("agent-user@example.com", &sig, PLAN_NAMESPACE, MSG, now())
            .expect("ours");
    }

    let absent = keygen(dir.path(), "absent", "ed25519", "");
    assert!(matches!(
        sign_with_agent_socket(&agent.socket, &pub_path(&absent), PLAN_NAMESPACE, MSG),
        Err(TrustError::KeyNotInAgent { .. })
    ));
}

#[test]
fn agent_refusal_is_reported() {
    let dir = tempfile::tempdir().expect("tempdir");
    // `ssh-add -c` makes the agent ask for confirmation through askpass; /bin/false says no.
    let agent = Agent::start(dir.path(), "/bin/false");
    let key = keygen(dir.path(), "confirm", "ed25519", "");
    agent.add(&key, &["-c"]);
    match sign_with_agent_socket(&agent.socket, &pub_path(&key), PLAN_NAMESPACE, MSG) {
        Err(TrustError::AgentRefused { fingerprint }) => {
            assert!(fingerprint.starts_with("SHA256:"))
        }
        other => panic!("expected AgentRefused, got {other:?}"),
    }
}

#[test]
fn dead_agent_socket_is_unavailable() {
    let dir = tempfile::tempdir().expect("tempdir");
    let key = keygen(dir.path(), "k", "ed25519", "");
    let socket = {
        let agent = Agent::start(dir.path(), "/bin/false");
        agent.socket.clone()
    };
    assert!(matches!(
        sign_with_agent_socket(&socket, &pub_path(&key), PLAN_NAMESPACE, MSG),
        Err(TrustError::AgentUnavailable { .. })
    ));
}

#[test]
fn short_rsa_keys_are_refused_both_ways() {
    let dir = tempfile::tempdir().expect("tempdir");
    let key = keygen(dir.path(), "weak", "rsa-1024", "");
    match sign_with_key_file(&key, None, PLAN_NAMESPACE, MSG) {
        Err(TrustError::SigningFailed { reason, .. })
        | Err(TrustError::PrivateKeyInvalid { reason, .. }) => {
            assert!(reason.contains("2048"), "{reason}")
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    let msg_path = dir.path().join("m");
    fs::write(&msg_path, MSG).expect("write");
    let out = ssh_keygen(&[
        "-Y",
        "sign",
        "-n",
        PLAN_NAMESPACE,
        "-f",
        key.to_str().expect("utf8"),
        msg_path.to_str().expect("utf8"),
    ]);
    assert!(out.success, "{}", out.output);
    let sig = fs::read_to_string(dir.path().join("m.sig")).expect("sig");
    assert!(matches!(
        verify(&sig, PLAN_NAMESPACE, MSG),
        Err(TrustError::UnsupportedKeyType { .. })
    ));
}

/// FIDO tokens are emulated (no hardware in CI): a security key signs
/// sha256(application) || flags || counter || sha256(data) with its inner key, and ssh-keygen checks the
/// result in software, so its verdict shows our handling of the sk formats matches OpenSSH's.
mod fido {
    use super::*;
    use std::io::{Read, Write};
    use std::os::unix::net::UnixListener;
    use std::time::Duration;

    use base64ct::{Base64, Encoding};
    use signature::Signer;
    use ssh_key::public::{Ed25519PublicKey, KeyData, SkEcdsaSha2NistP256, SkEd25519};
    use ssh_key::sha2::{Digest, Sha256};
    use ssh_key::{Algorithm, HashAlg, PrivateKey, PublicKey, SshSig};

    const APPLICATION: &str = "ssh:";
    /// User-presence flag set, counter 42.
    const FLAGS_COUNTER: [u8; 5] = [0x01, 0, 0, 0, 42];

    fn ssh_string(bytes: &[u8]) -> Vec<u8> {
        let mut out = u32::try_from(bytes.len())
            .expect("len")
            .to_be_bytes()
            .to_vec();
        out.extend_from_slice(bytes);
        out
    }

    fn token_input(data: &[u8]) -> Vec<u8> {
        let mut input = Sha256::digest(APPLICATION.as_bytes()).to_vec();
        input.extend_from_slice(&FLAGS_COUNTER);
        input.extend_from_slice(&Sha256::digest(data));
        input
    }

    /// An ssh-agent holding one emulated sk-ssh-ed25519 key; serves one connection, bounded by timeouts.
    fn emulated_agent(dir: &Path, inner: PrivateKey, sk_blob: Vec<u8>) -> std::path::PathBuf {
        let sock = dir.join("fido-agent.sock");
        let listener = UnixListener::bind(&sock).expect("bind");
        std::thread::spawn(move || {
            let Ok((mut stream, _)) = listener.accept() else {
                return;
            };
            let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
            let ssh_key::private::KeypairData::Ed25519(keypair) = inner.key_data() else {
                return;
            };
            loop {
                let mut len = [0u8; 4];
                if stream.read_exact(&mut len).is_err() {
                    return;
                }
                let mut req = vec![0u8; u32::from_be_bytes(len) as usize];
                if stream.read_exact(&mut req).is_err() {
                    return;
                }
                let answer = match req.first() {
                    Some(11) => {
                        let mut a = vec![12u8, 0, 0, 0, 1];
                        a.extend(ssh_string(&sk_blob));
                        a.extend(ssh_string(b"emulated token"));
                        a
                    }
                    Some(13) => {
                        // byte 13 | string key | string data | u32 flags
                        let key_len =
                            u32::from_be_bytes(req[1..5].try_into().expect("len")) as usize;
                        let data_at = 5 + key_len;
                        let data_len =
                            u32::from_be_bytes(req[data_at..data_at + 4].try_into().expect("len"))
                                as usize;
                        let data = &req[data_at + 4..data_at + 4 + data_len];
                        let raw: ssh_key::Signature =
                            keypair.try_sign(&token_input(data)).expect("sign");
                        let mut sig = ssh_string(b"sk-ssh-ed25519@openssh.com");
                        sig.extend(ssh_string(raw.as_bytes()));
                        sig.extend_from_slice(&FLAGS_COUNTER);
                        let mut a = vec![14u8];
                        a.extend(ssh_string(&sig));
                        a
                    }
                    _ => vec![5u8],
                };
                if stream.write_all(&ssh_string(&answer)).is_err() {
                    return;
                }
            }
        });
        sock
    }

    #[test]
    fn sk_ed25519_via_agent_verifies_with_ssh_keygen() {
        let dir = tempfile::tempdir().expect("tempdir");
        let inner =
            PrivateKey::random(&mut ssh_key::rand_core::OsRng, Algorithm::Ed25519).expect("keygen");
        let KeyData::Ed25519(ed) = inner.public_key().key_data() else {
            panic!("not ed25519")
        };
        let sk = PublicKey::from(KeyData::SkEd25519(SkEd25519::new(
            Ed25519PublicKey(ed.0),
            APPLICATION,
        )));
        let pub_file = dir.path().join("id_ed25519_sk.pub");
        fs::write(&pub_file, sk.to_openssh().expect("openssh")).expect("write");
        let sock = emulated_agent(dir.path(), inner, sk.to_bytes().expect("blob"));

        let sig = sign_with_agent_socket(&sock, &pub_file, PLAN_NAMESPACE, MSG).expect("sign");
        let allowed = format!("token@example.com {}\n", sk.to_openssh().expect("openssh"));
        let ok = ssh_verify(
            dir.path(),
            &allowed,
            "token@example.com",
            PLAN_NAMESPACE,
            &sig,
            MSG,
            None,
        );
        assert!(ok.success, "ssh-keygen: {}", ok.output);
        let signers = policy(dir.path(), &allowed);
        signers
            .verify_for("token@example.com", &sig, PLAN_NAMESPACE, MSG, now())
            .expect("ours");
    }

    /// What `ssh-keygen -Y sign` with an ecdsa-sk token writes, built by hand.
    #[test]
    fn sk_ecdsa_signature_verifies_with_ours_and_ssh_keygen() {
        use p256::ecdsa::{Signature as P256Signature, SigningKey};

        let dir = tempfile::tempdir().expect("tempdir");
        let signing = SigningKey::random(&mut p256::elliptic_curve::rand_core::OsRng);
        let point = signing.verifying_key().to_encoded_point(false);
        let sk = PublicKey::from(KeyData::SkEcdsaSha2NistP256(SkEcdsaSha2NistP256::new(
            point,
            APPLICATION,
        )));

        let data = SshSig::signed_data(PLAN_NAMESPACE, HashAlg::Sha512, MSG).expect("data");
        let ecdsa: P256Signature = signing.sign(&token_input(&data));
        let mpint = |bytes: &[u8]| {
            let trimmed: Vec<u8> = bytes.iter().copied().skip_while(|&b| b == 0).collect();
            let mut v = Vec::new();
            if trimmed.first().is_some_and(|&b| b & 0x80 != 0) {
                v.push(0);
            }
            v.extend(trimmed);
            ssh_string(&v)
        };
        let (r, s) = ecdsa.split_bytes();
        let mut rs = mpint(&r);
        rs.extend(mpint(&s));
        let mut sig_blob = ssh_string(b"sk-ecdsa-sha2-nistp256@openssh.com");
        sig_blob.extend(ssh_string(&rs));
        sig_blob.extend_from_slice(&FLAGS_COUNTER);

        let mut blob = b"SSHSIG".to_vec();
        blob.extend_from_slice(&1u32.to_be_bytes());
        blob.extend(ssh_string(&sk.to_bytes().expect("key blob")));
        blob.extend(ssh_string(PLAN_NAMESPACE.as_bytes()));
        blob.extend(ssh_string(b""));
        blob.extend(ssh_string(b"sha512"));
        blob.extend(ssh_string(&sig_blob));
        let body = Base64::encode_string(&blob);
        let lines: Vec<&str> = body
            .as_bytes()
            .chunks(70)
            .map(|c| std::str::from_utf8(c).expect("ascii"))
            .collect();
        let armored = format!(
            "-----BEGIN SSH SIGNATURE-----\n{}\n-----END SSH SIGNATURE-----\n",
            lines.join("\n")
        );

        let allowed = format!("token@example.com {}\n", sk.to_openssh().expect("openssh"));
        let theirs = ssh_verify(
            dir.path(),
            &allowed,
            "token@example.com",
            PLAN_NAMESPACE,
            &armored,
            MSG,
            None,
        );
        assert!(theirs.success, "ssh-keygen: {}", theirs.output);
        let signer = verify(&armored, PLAN_NAMESPACE, MSG).expect("ours");
        assert_eq!(signer.algorithm(), Algorithm::SkEcdsaSha2NistP256);
        assert!(matches!(
            verify(&armored, PLAN_NAMESPACE, b"tampered"),
            Err(TrustError::BadSignature { .. })
        ));

        // Signing through the agent with such a key is refused up front rather than emitting a bad signature.
        let pub_file = dir.path().join("id_ecdsa_sk.pub");
        fs::write(&pub_file, sk.to_openssh().expect("openssh")).expect("write");
        assert!(matches!(
            sign_with_agent_socket(
                &dir.path().join("none.sock"),
                &pub_file,
                PLAN_NAMESPACE,
                MSG
            ),
            Err(TrustError::UnsupportedKeyType { .. })
        ));
    }
}

/// `signers add` writes, from each kind of `.pub` file, the line `ssh-keygen -Y verify` and
/// `apply` both accept; adding it twice changes nothing, and a principal that OpenSSH would
/// read as a pattern is refused.
#[test]
fn signers_add_writes_lines_that_openssh_and_apply_accept() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("allowed_signers");
    let add = |principal: &str, key: &Path, extra: &[&str]| {
        crate::support::scheduled::run(
            crate::common::entra_drift()
                .args(["signers", "add", "--principal", principal, "--key"])
                .arg(key)
                .arg("--file")
                .arg(&file)
                .args(extra),
        )
    };
    for kind in KINDS {
        let key = keygen(dir.path(), kind, kind, "");
        let principal = format!("{kind}@contoso.example");
        let added = add(&principal, &pub_path(&key), &[]);
        assert_eq!(added.code, Some(0), "{kind}: {}", added.stderr);
        assert!(added.stdout.starts_with(&principal), "{}", added.stdout);
        let again = add(&principal, &pub_path(&key), &[]);
        assert_eq!(again.code, Some(0));
        assert!(again.stderr.contains("nothing changed"), "{}", again.stderr);

        let sig = sign_with_key_file(&key, None, PLAN_NAMESPACE, MSG).unwrap();
        let text = fs::read_to_string(&file).unwrap();
        let ok = ssh_verify(
            dir.path(),
            &text,
            &principal,
            PLAN_NAMESPACE,
            &sig,
            MSG,
            None,
        );
        assert!(ok.success, "{kind}: {}", ok.output);
        let verified = AllowedSigners::load(&file).unwrap().verify_for(
            &principal,
            &sig,
            PLAN_NAMESPACE,
            MSG,
            now(),
        );
        assert!(verified.is_ok(), "{kind}: {verified:?}");
        // Only for plans: an evidence seal by the same key is not allowed by that line.
        let seal = sign_with_key_file(&key, None, EVIDENCE_NAMESPACE, MSG).unwrap();
        let refused = ssh_verify(
            dir.path(),
            &text,
            &principal,
            EVIDENCE_NAMESPACE,
            &seal,
            MSG,
            None,
        );
        assert!(!refused.success, "{kind}: the namespace is limited");
    }
    let lines = fs::read_to_string(&file).unwrap().lines().count();
    assert_eq!(lines, KINDS.len(), "one line per key, none twice");

    let key = pub_path(&keygen(dir.path(), "mallory", "ed25519", ""));
    for principal in [
        "*@contoso.example",
        "a@x,b@x",
        "ada @x",
        "!ada@x",
        "\"ada\"",
    ] {
        let refused = add(principal, &key, &[]);
        assert_eq!(refused.code, Some(1), "{principal}");
        assert!(
            refused.stderr.contains("one plain name"),
            "{}",
            refused.stderr
        );
    }
    let bad_day = add(
        "ada@contoso.example",
        &key,
        &["--valid-before", "2027-06-30"],
    );
    assert_eq!(bad_day.code, Some(1));
    assert!(bad_day.stderr.contains("YYYYMMDD"), "{}", bad_day.stderr);
    let not_a_key = add(
        "ada@contoso.example",
        &dir.path().join("allowed_signers"),
        &[],
    );
    assert_eq!(not_a_key.code, Some(1));
    assert!(
        not_a_key.stderr.contains("not an OpenSSH public key"),
        "{}",
        not_a_key.stderr
    );
    assert_eq!(
        fs::read_to_string(&file).unwrap().lines().count(),
        KINDS.len(),
        "a refused addition writes nothing"
    );

    let dated = add("ada@contoso.example", &key, &["--valid-before", "20270630"]);
    assert_eq!(dated.code, Some(0), "{}", dated.stderr);
    assert!(
        dated.stdout.contains("valid-before=\"20270630\""),
        "{}",
        dated.stdout
    );
}
