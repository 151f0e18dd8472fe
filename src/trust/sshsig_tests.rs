//! Unit tests of `sshsig`.

use super::*;
use std::fs;
use std::io::Write as _;
use std::os::unix::net::UnixListener;

const MSG: &[u8] = b"plan: remove 3 assignments\n";

fn ed25519_key() -> PrivateKey {
    let mut rng = ssh_key::rand_core::OsRng;
    PrivateKey::random(&mut rng, Algorithm::Ed25519).expect("keygen")
}

fn write_key(dir: &Path, name: &str, key: &PrivateKey) -> std::path::PathBuf {
    let path = dir.join(name);
    fs::write(
        &path,
        key.to_openssh(LineEnding::LF).expect("encode").as_bytes(),
    )
    .expect("write");
    let pub_path = dir.join(format!("{name}.pub"));
    fs::write(
        &pub_path,
        key.public_key().to_openssh().expect("encode pub"),
    )
    .expect("write pub");
    path
}

#[test]
fn sign_then_verify_round_trip_returns_signer() {
    let dir = tempfile::tempdir().expect("tempdir");
    let key = ed25519_key();
    let path = write_key(dir.path(), "id", &key);
    let sig = sign_with_key_file(&path, None, crate::trust::PLAN_NAMESPACE, MSG).expect("sign");
    assert!(sig.starts_with(ARMOR_BEGIN));
    let signer = verify(&sig, crate::trust::PLAN_NAMESPACE, MSG).expect("verify");
    assert_eq!(signer.key_data(), key.public_key().key_data());
    assert_eq!(fingerprint(&signer), fingerprint(key.public_key()));
}

#[test]
fn verify_distinguishes_failures() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = write_key(dir.path(), "id", &ed25519_key());
    let sig = sign_with_key_file(&path, None, "entra-drift-plan", MSG).expect("sign");

    assert!(matches!(
        verify(&sig, "entra-drift-plan", b"other"),
        Err(TrustError::BadSignature { .. })
    ));
    assert!(matches!(
        verify(&sig, "entra-drift-evidence", MSG),
        Err(TrustError::NamespaceMismatch { .. })
    ));
    assert!(matches!(
        verify(&sig, "", MSG),
        Err(TrustError::EmptyNamespace)
    ));
    for garbage in [
        "",
        "hello",
        "-----BEGIN SSH SIGNATURE-----\n-----END SSH SIGNATURE-----",
        "-----BEGIN SSH SIGNATURE-----\nAAAA\n-----END SSH SIGNATURE-----",
        "-----BEGIN SSH SIGNATURE-----\n!!!!\n-----END SSH SIGNATURE-----",
        "-----BEGIN SSH SIGNATURE-----\nU1NIU0lH\n-----END SSH SIGNATURE-----",
    ] {
        assert!(
            matches!(
                verify(garbage, "entra-drift-plan", MSG),
                Err(TrustError::SignatureMalformed { .. })
            ),
            "{garbage:?}"
        );
    }
}

#[test]
fn verify_accepts_crlf_and_rewrapped_armor() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = write_key(dir.path(), "id", &ed25519_key());
    let sig = sign_with_key_file(&path, None, "ns", MSG).expect("sign");
    let crlf = sig.replace('\n', "\r\n");
    verify(&crlf, "ns", MSG).expect("crlf");
    let body: String = sig
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect::<String>();
    let rewrapped = format!(
        "\u{feff}  {ARMOR_BEGIN}\n{}\n{}\n{ARMOR_END}\n\n",
        &body[..50],
        &body[50..]
    );
    verify(&rewrapped, "ns", MSG).expect("rewrapped");
}

#[test]
fn every_single_byte_flip_of_a_signature_is_rejected_without_panic() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = write_key(dir.path(), "id", &ed25519_key());
    let sig = sign_with_key_file(&path, None, "ns", MSG).expect("sign");
    let bytes = sig.as_bytes();
    for i in 0..bytes.len() {
        for replacement in [b'A', b'/', b'\n', 0xff] {
            if bytes[i] == replacement {
                continue;
            }
            let mut mutated = bytes.to_vec();
            mutated[i] = replacement;
            let text = String::from_utf8_lossy(&mutated);
            if verify(&text, "ns", MSG).is_ok() {
                // Only whitespace-equivalent edits of the armor may still verify.
                assert!(
                    replacement == b'\n' || bytes[i] == b'\n',
                    "flip at {i} to {replacement} verified:\n{sig}\n{text}"
                );
            }
        }
    }
    // Truncations must fail cleanly too.
    for cut in 0..sig.len() {
        let _ = verify(&sig[..cut], "ns", MSG);
    }
}

#[test]
fn encrypted_key_needs_the_right_passphrase() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut rng = ssh_key::rand_core::OsRng;
    let key = ed25519_key()
        .encrypt(&mut rng, "correct horse")
        .expect("encrypt");
    let path = write_key(dir.path(), "id", &key);
    match sign_with_key_file(&path, None, "ns", MSG) {
        Err(e @ TrustError::KeyEncrypted { .. }) => {
            assert!(e.to_string().contains("ENTRA_DRIFT_KEY_PASSPHRASE"));
        }
        other => panic!("expected KeyEncrypted, got {other:?}"),
    }
    match sign_with_key_file(&path, Some("wrong"), "ns", MSG) {
        Err(e @ TrustError::WrongPassphrase { .. }) => {
            let shown = format!("{e} {e:?}");
            assert!(!shown.contains("wrong\""), "passphrase leaked: {shown}");
        }
        other => panic!("expected WrongPassphrase, got {other:?}"),
    }
    let sig = sign_with_key_file(&path, Some("correct horse"), "ns", MSG).expect("sign");
    verify(&sig, "ns", MSG).expect("verify");
}

#[test]
fn key_file_errors_are_specific() {
    let dir = tempfile::tempdir().expect("tempdir");
    let key_path = write_key(dir.path(), "id", &ed25519_key());
    let pub_path = dir.path().join("id.pub");

    assert!(is_public_key_file(&pub_path));
    assert!(!is_public_key_file(&key_path));
    assert!(!is_public_key_file(&dir.path().join("missing")));
    assert!(read_public_key(&pub_path).is_ok());

    match sign_with_key_file(&pub_path, None, "ns", MSG) {
        Err(TrustError::PrivateKeyInvalid { reason, .. }) => {
            assert!(reason.contains("public key"), "{reason}")
        }
        other => panic!("unexpected {other:?}"),
    }
    let legacy = dir.path().join("legacy");
    fs::write(
        &legacy,
        "-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----\n",
    )
    .expect("write");
    match sign_with_key_file(&legacy, None, "ns", MSG) {
        Err(TrustError::PrivateKeyInvalid { reason, .. }) => {
            assert!(reason.contains("ssh-keygen -p"), "{reason}")
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(matches!(
        sign_with_key_file(&dir.path().join("missing"), None, "ns", MSG),
        Err(TrustError::Input(entra_model::InputError::Io { .. }))
    ));
    assert!(matches!(
        sign_with_key_file(&key_path, None, "", MSG),
        Err(TrustError::EmptyNamespace)
    ));
    let binary = dir.path().join("binary");
    fs::write(&binary, [0xffu8, 0xfe, 0x00]).expect("write");
    assert!(matches!(
        read_public_key(&binary),
        Err(TrustError::Io { .. })
    ));
}

/// A scripted agent: answers each request in order with the given raw payloads, then hangs up.
fn fake_agent(
    dir: &Path,
    answers: Vec<Vec<u8>>,
) -> (std::path::PathBuf, std::thread::JoinHandle<()>) {
    let sock = dir.join("agent.sock");
    let listener = UnixListener::bind(&sock).expect("bind");
    let handle = std::thread::spawn(move || {
        let Ok((mut stream, _)) = listener.accept() else {
            return;
        };
        let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
        for answer in answers {
            let mut len = [0u8; 4];
            if stream.read_exact(&mut len).is_err() {
                return;
            }
            let mut req = vec![0u8; u32::from_be_bytes(len) as usize];
            if stream.read_exact(&mut req).is_err() {
                return;
            }
            let mut out = (answer.len() as u32).to_be_bytes().to_vec();
            out.extend_from_slice(&answer);
            if stream.write_all(&out).is_err() {
                return;
            }
        }
    });
    (sock, handle)
}

fn ssh_string(bytes: &[u8]) -> Vec<u8> {
    let mut out = (bytes.len() as u32).to_be_bytes().to_vec();
    out.extend_from_slice(bytes);
    out
}

fn identities_answer(blobs: &[Vec<u8>]) -> Vec<u8> {
    let mut out = vec![SSH2_IDENTITIES_ANSWER];
    out.extend_from_slice(&(blobs.len() as u32).to_be_bytes());
    for blob in blobs {
        out.extend(ssh_string(blob));
        out.extend(ssh_string(b"comment"));
    }
    out
}

const SSH2_IDENTITIES_ANSWER: u8 = 12;

#[test]
fn agent_failures_map_to_distinct_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let key = ed25519_key();
    write_key(dir.path(), "id", &key);
    let pub_path = dir.path().join("id.pub");
    let blob = key.public_key().to_bytes().expect("blob");
    let short = Duration::from_secs(5);

    assert!(matches!(
        agent_sign(&dir.path().join("nope.sock"), short, &pub_path, "ns", MSG),
        Err(TrustError::AgentUnavailable { .. })
    ));

    let (sock, h) = fake_agent(dir.path(), vec![identities_answer(&[])]);
    assert!(matches!(
        agent_sign(&sock, short, &pub_path, "ns", MSG),
        Err(TrustError::KeyNotInAgent { .. })
    ));
    h.join().expect("join");
    fs::remove_file(&sock).expect("rm");

    let (sock, h) = fake_agent(
        dir.path(),
        vec![identities_answer(std::slice::from_ref(&blob)), vec![5]],
    );
    assert!(matches!(
        agent_sign(&sock, short, &pub_path, "ns", MSG),
        Err(TrustError::AgentRefused { .. })
    ));
    h.join().expect("join");
    fs::remove_file(&sock).expect("rm");

    // A signature by a different key must never be passed off as the requested key's.
    let other = ed25519_key();
    let forged = other.sign("ns", HASH, MSG).expect("sign");
    let forged_blob: Vec<u8> = forged.signature().clone().try_into().expect("enc");
    let mut resp = vec![14u8];
    resp.extend(ssh_string(&forged_blob));
    let (sock, h) = fake_agent(
        dir.path(),
        vec![identities_answer(std::slice::from_ref(&blob)), resp],
    );
    assert!(matches!(
        agent_sign(&sock, short, &pub_path, "ns", MSG),
        Err(TrustError::AgentProtocol { .. })
    ));
    h.join().expect("join");
    fs::remove_file(&sock).expect("rm");

    let (sock, h) = fake_agent(dir.path(), vec![vec![99, 1, 2]]);
    assert!(matches!(
        agent_sign(&sock, short, &pub_path, "ns", MSG),
        Err(TrustError::AgentProtocol { .. })
    ));
    h.join().expect("join");
    fs::remove_file(&sock).expect("rm");

    // An agent that never answers must not hang us past the timeout.
    let sock = dir.path().join("silent.sock");
    let listener = UnixListener::bind(&sock).expect("bind");
    let started = std::time::Instant::now();
    let res = agent_sign(&sock, Duration::from_millis(300), &pub_path, "ns", MSG);
    assert!(
        matches!(res, Err(TrustError::AgentProtocol { .. })),
        "{res:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(5));
    drop(listener);
}

/// FIDO keys cannot be exercised without hardware, so emulate the token: an ed25519 key signs
/// sha256(application) || flags || counter || sha256(data), exactly what a security key does.
#[test]
fn agent_sk_ed25519_signature_verifies() {
    use signature::Signer;
    use ssh_key::public::{Ed25519PublicKey, KeyData, SkEd25519};
    use ssh_key::sha2::{Digest, Sha256};

    let dir = tempfile::tempdir().expect("tempdir");
    let inner = ed25519_key();
    let ed_pub = match inner.public_key().key_data() {
        KeyData::Ed25519(k) => *k,
        _ => unreachable!(),
    };
    let sk_pub = PublicKey::from(KeyData::SkEd25519(SkEd25519::new(
        Ed25519PublicKey(ed_pub.0),
        "ssh:".to_string(),
    )));
    let pub_path = dir.path().join("sk.pub");
    fs::write(&pub_path, sk_pub.to_openssh().expect("enc")).expect("write");
    let blob = sk_pub.to_bytes().expect("blob");

    let signed_data = SshSig::signed_data("ns", HASH, MSG).expect("data");
    let flags_counter = [0x01u8, 0, 0, 0, 7];
    let mut token_input = Sha256::digest(b"ssh:").to_vec();
    token_input.extend_from_slice(&flags_counter);
    token_input.extend_from_slice(&Sha256::digest(&signed_data));
    let keypair = match inner.key_data() {
        ssh_key::private::KeypairData::Ed25519(k) => k.clone(),
        _ => unreachable!(),
    };
    let raw: Signature = keypair.try_sign(&token_input).expect("sign");
    let mut sig_blob = ssh_string(b"sk-ssh-ed25519@openssh.com");
    sig_blob.extend(ssh_string(raw.as_bytes()));
    sig_blob.extend_from_slice(&flags_counter);
    let mut resp = vec![14u8];
    resp.extend(ssh_string(&sig_blob));

    let (sock, h) = fake_agent(dir.path(), vec![identities_answer(&[blob]), resp]);
    let armored = agent_sign(&sock, Duration::from_secs(5), &pub_path, "ns", MSG).expect("sign");
    h.join().expect("join");
    let signer = verify(&armored, "ns", MSG).expect("verify");
    assert_eq!(signer.algorithm(), Algorithm::SkEd25519);
    assert!(matches!(
        verify(&armored, "ns", b"tampered"),
        Err(TrustError::BadSignature { .. })
    ));
}
