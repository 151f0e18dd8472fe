//! Unit tests of `allowed_signers`.

use super::*;
use chrono::Duration;
use ssh_key::{HashAlg, LineEnding, PrivateKey};

fn path() -> &'static Path {
    Path::new("/etc/entra-drift/allowed_signers")
}

fn keypair() -> PrivateKey {
    let mut rng = ssh_key::rand_core::OsRng;
    PrivateKey::random(&mut rng, Algorithm::Ed25519).expect("keygen")
}

fn openssh(key: &PrivateKey) -> String {
    key.public_key().to_openssh().expect("encode")
}

fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s)
        .expect("rfc3339")
        .with_timezone(&Utc)
}

fn now() -> DateTime<Utc> {
    t("2025-06-01T12:00:00Z")
}

#[test]
fn glob_matching() {
    for (pattern, text, expected) in [
        ("*", "", true),
        ("*", "anything", true),
        ("a?c", "abc", true),
        ("a?c", "ac", false),
        ("*@example.com", "alice@example.com", true),
        ("*@example.com", "alice@example.org", false),
        ("alice@*", "alice@x", true),
        ("a*b*c", "aXbYbZc", true),
        ("a*b*c", "aXbYbZ", false),
        ("Alice", "alice", false),
        ("é?", "éx", true),
        ("**a", "bbba", true),
    ] {
        assert_eq!(glob_match(pattern, text), expected, "{pattern} vs {text}");
    }
    // Pathological pattern stays fast.
    let long = "a".repeat(2000);
    assert!(!glob_match(&format!("{}b", "*a".repeat(200)), &long));
}

#[test]
fn pattern_list_negation_vetoes() {
    let list = PatternList::parse("*@example.com,!mallory@example.com").expect("parse");
    assert!(list.matches("alice@example.com"));
    assert!(!list.matches("mallory@example.com"));
    assert!(!list.matches("bob@other.com"));
    assert!(PatternList::parse("a,,b").is_err());
    assert!(PatternList::parse("a,").is_err());
}

#[test]
fn valid_lines_table() {
    let key = keypair();
    let k = openssh(&key);
    let table: Vec<(String, &str, Option<&str>, bool)> = vec![
        // (line, principal, namespace, allowed at now())
        (
            format!("alice@example.com {k}"),
            "alice@example.com",
            Some("x"),
            true,
        ),
        (
            format!("alice@example.com {k} trailing comment with spaces"),
            "alice@example.com",
            None,
            true,
        ),
        (
            format!("  \talice@example.com\t{k}"),
            "alice@example.com",
            None,
            true,
        ),
        (
            format!("alice@example.com,bob@example.com {k}"),
            "bob@example.com",
            None,
            true,
        ),
        (
            format!("*@example.com {k}"),
            "carol@example.com",
            None,
            true,
        ),
        (
            format!("*@example.com {k}"),
            "carol@example.org",
            None,
            false,
        ),
        (
            format!("user?@example.com {k}"),
            "user1@example.com",
            None,
            true,
        ),
        (
            format!("\"quoted@example.com\" {k}"),
            "quoted@example.com",
            None,
            true,
        ),
        (
            format!("a@x namespaces=\"entra-drift-plan\" {k}"),
            "a@x",
            Some("entra-drift-plan"),
            true,
        ),
        (
            format!("a@x namespaces=\"entra-drift-plan\" {k}"),
            "a@x",
            Some("entra-drift-evidence"),
            false,
        ),
        (
            format!("a@x namespaces=\"entra-drift-*,git\" {k}"),
            "a@x",
            Some("entra-drift-evidence"),
            true,
        ),
        (
            format!("a@x namespaces=\"entra-drift-*,!entra-drift-plan\" {k}"),
            "a@x",
            Some("entra-drift-plan"),
            false,
        ),
        (
            format!("a@x NAMESPACES=\"file\" {k}"),
            "a@x",
            Some("file"),
            true,
        ),
        (
            format!("a@x namespaces=file {k}"),
            "a@x",
            Some("file"),
            true,
        ),
        (
            format!("a@x valid-after=\"20250101\" {k}"),
            "a@x",
            None,
            true,
        ),
        (
            format!("a@x valid-after=20250101Z,valid-before=20250601120000Z {k}"),
            "a@x",
            None,
            true,
        ),
        (
            format!("a@x valid-before=\"202506011159Z\" {k}"),
            "a@x",
            None,
            false,
        ),
        (
            format!("a@x valid-after=\"20250601120001UTC\" {k}"),
            "a@x",
            None,
            false,
        ),
        (
            format!(
                "a@x namespaces=\"with \\\"quote\\\" and space\",valid-after=\"20200101Z\" {k}"
            ),
            "a@x",
            Some("with \"quote\" and space"),
            true,
        ),
    ];
    for (line, principal, namespace, expected) in table {
        let text = format!("# comment\n\n{line}\n");
        let signers =
            AllowedSigners::parse(path(), &text).unwrap_or_else(|e| panic!("{line}: {e}"));
        assert_eq!(signers.len(), 1);
        let ns = namespace.unwrap_or("entra-drift-plan");
        let got = signers.check(principal, key.public_key(), ns, now());
        assert_eq!(
            got.is_ok(),
            expected,
            "{line} as {principal} in {ns}: {got:?}"
        );
    }
}

#[test]
fn bad_lines_name_the_line() {
    let k = openssh(&keypair());
    let cases: Vec<(String, &str)> = vec![
        (k.clone(), "principals field is missing"),
        ("alice@example.com".to_string(), "missing public key"),
        (
            "alice@example.com ssh-ed25519".to_string(),
            "without base64",
        ),
        (
            "alice@example.com ssh-ed25519 AAAAnotakey".to_string(),
            "invalid ssh-ed25519",
        ),
        (
            format!("a@x bogus=\"1\" {k}"),
            "unsupported option \"bogus\"",
        ),
        (format!("a@x no-touch-required {k}"), "unsupported option"),
        (
            format!("a@x namespaces=\"a\",namespaces=\"b\" {k}"),
            "more than once",
        ),
        (format!("a@x namespaces=\"a {k}"), "unterminated quote"),
        (format!("a@x namespaces=\"\" {k}"), "empty entry"),
        (format!("a@x namespaces=\"a\", {k}"), "end with a comma"),
        (format!("a@x namespaces=\"a\"x {k}"), "unexpected text"),
        (format!("a@x namespaces {k}"), "needs a value"),
        (format!("a@x valid-after=\"2025\" {k}"), "valid-after"),
        (
            format!("a@x valid-after=\"20251301\" {k}"),
            "not a valid date",
        ),
        (
            format!("a@x valid-before=\"20250230Z\" {k}"),
            "not a valid date",
        ),
        (
            format!("a@x valid-before=\"2025010112\" {k}"),
            "valid-before",
        ),
        (
            format!("a@x valid-after=20250102Z,valid-before=20250101Z {k}"),
            "not later",
        ),
        (
            "a@x namespaces=\"x\" ".to_string(),
            "missing public key after options",
        ),
        (
            "\"a@x ssh-ed25519 AAAA".to_string(),
            "unterminated quote in principals",
        ),
        (format!("a@x,,b {k}"), "empty entry"),
        (format!("\u{feff}a@x {k}"), "byte order mark"),
        (
            "a@x ssh-ed25519-cert-v01@openssh.com AAAA".to_string(),
            "certificates are not supported",
        ),
    ];
    for (bad, expected) in cases {
        let text = format!("# header\nok@x {k}\n\n{bad}\n");
        match AllowedSigners::parse(path(), &text) {
            Err(e @ TrustError::AllowedSignersSyntax { line: 4, .. }) => {
                let shown = e.to_string();
                assert!(
                    shown.starts_with("/etc/entra-drift/allowed_signers:4: "),
                    "{shown}"
                );
                assert!(shown.contains(expected), "{bad}: {shown}");
            }
            other => panic!("{bad}: expected syntax error on line 4, got {other:?}"),
        }
    }
}

#[test]
fn cert_authority_is_refused_with_line() {
    let k = openssh(&keypair());
    let text = format!("a@x {k}\n*@example.com cert-authority {k}\n");
    match AllowedSigners::parse(path(), &text) {
        Err(e @ TrustError::CertAuthorityUnsupported { line: 2, .. }) => {
            assert!(e.to_string().contains(":2: cert-authority"), "{e}");
        }
        other => panic!("{other:?}"),
    }
    let text = format!("a@x namespaces=\"git\",Cert-Authority {k}\n");
    assert!(matches!(
        AllowedSigners::parse(path(), &text),
        Err(TrustError::CertAuthorityUnsupported { line: 1, .. })
    ));
}

#[test]
fn bom_crlf_and_blank_files() {
    let key = keypair();
    let k = openssh(&key);
    let text = format!("\u{feff}# team keys\r\n\r\nalice@x {k}\r\n");
    let signers = AllowedSigners::parse(path(), &text).expect("parse");
    assert_eq!(signers.len(), 1);
    signers
        .check("alice@x", key.public_key(), "ns", now())
        .expect("allowed");
    let empty = AllowedSigners::parse(path(), "\u{feff}").expect("empty");
    assert!(empty.is_empty());
    // A BOM anywhere but the start is not whitespace.
    assert!(AllowedSigners::parse(path(), &format!("# x\n\u{feff}alice@x {k}\n")).is_err());
}

#[test]
fn refusals_are_distinct_and_prefer_the_closest_miss() {
    let key = keypair();
    let other = keypair();
    let k = openssh(&key);
    let text = format!(
        "alice@x namespaces=\"entra-drift-evidence\" {k}\n\
         alice@x namespaces=\"entra-drift-plan\",valid-before=\"20250101Z\" {k}\n\
         bob@x {k}\n"
    );
    let signers = AllowedSigners::parse(path(), &text).expect("parse");
    let pk = key.public_key();

    match signers.check("alice@x", pk, "entra-drift-plan", now()) {
        Err(TrustError::OutsideValidity { line: 2, .. }) => {}
        other => panic!("{other:?}"),
    }
    match signers.check("alice@x", pk, "git", now()) {
        Err(TrustError::NamespaceNotAllowed { line: 1, .. }) => {}
        other => panic!("{other:?}"),
    }
    signers
        .check("alice@x", pk, "entra-drift-plan", t("2024-12-31T23:59:59Z"))
        .expect("inside window");
    signers
        .check("alice@x", pk, "entra-drift-plan", t("2025-01-01T00:00:00Z"))
        .expect("valid-before is inclusive");
    match signers.check("carol@x", pk, "entra-drift-plan", now()) {
        Err(TrustError::KeyNotAllowed { principal, .. }) => assert_eq!(principal, "carol@x"),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        signers.check("bob@x", other.public_key(), "entra-drift-plan", now()),
        Err(TrustError::KeyNotAllowed { .. })
    ));
    assert!(matches!(
        signers.check("", pk, "entra-drift-plan", now()),
        Err(TrustError::KeyNotAllowed { .. })
    ));
    // A comment differing from the file's must not matter.
    let mut renamed = pk.clone();
    renamed.set_comment("laptop");
    signers.check("bob@x", &renamed, "x", now()).expect("bob");
}

#[test]
fn principals_for_lists_who_a_key_may_be() {
    let key = keypair();
    let k = openssh(&key);
    let text = format!(
        "alice@x,*@ops.example.com,!eve@ops.example.com {k}\n\
         deploy@x namespaces=\"entra-drift-plan\" {k}\n\
         old@x valid-before=\"20200101Z\" {k}\n\
         alice@x {k}\n\
         someone@x {}\n",
        openssh(&keypair())
    );
    let signers = AllowedSigners::parse(path(), &text).expect("parse");
    assert_eq!(
        signers.principals_for(key.public_key(), "entra-drift-plan", now()),
        vec!["alice@x", "*@ops.example.com", "deploy@x"]
    );
    assert_eq!(
        signers.principals_for(key.public_key(), "entra-drift-evidence", now()),
        vec!["alice@x", "*@ops.example.com"]
    );
    assert!(signers
        .principals_for(keypair().public_key(), "entra-drift-plan", now())
        .is_empty());
}

#[test]
fn local_time_without_suffix_follows_the_local_zone() {
    let naive = NaiveDate::from_ymd_opt(2025, 3, 4)
        .and_then(|d| d.and_hms_opt(5, 6, 7))
        .expect("date");
    let expected = Local
        .from_local_datetime(&naive)
        .earliest()
        .expect("local")
        .with_timezone(&Utc);
    assert_eq!(parse_time("20250304050607").ok(), Some(expected));
    assert_eq!(
        parse_time("202503040506z").ok(),
        Some(t("2025-03-04T05:06:00Z"))
    );
    assert!(parse_time("19700101Z").is_err());
    assert!(parse_time("2025030405060Z").is_err());
    assert!(parse_time("+0250304").is_err());
}

#[test]
fn verify_for_combines_signature_and_policy() {
    let dir = tempfile::tempdir().expect("tempdir");
    let key = keypair();
    let key_path = dir.path().join("id");
    std::fs::write(
        &key_path,
        key.to_openssh(LineEnding::LF).expect("enc").as_bytes(),
    )
    .expect("write");
    let msg = b"evidence bundle";
    let sig = crate::trust::sign_with_key_file(&key_path, None, "entra-drift-evidence", msg)
        .expect("sign");
    let text = format!("auditor@x {}\n", openssh(&key));
    let signers = AllowedSigners::parse(path(), &text).expect("parse");

    let ok = signers
        .verify_for("auditor@x", &sig, "entra-drift-evidence", msg, now())
        .expect("verified");
    assert_eq!(ok.principal, "auditor@x");
    assert_eq!(
        ok.fingerprint,
        key.public_key().fingerprint(HashAlg::Sha256).to_string()
    );
    assert!(matches!(
        signers.verify_for("auditor@x", &sig, "entra-drift-evidence", b"x", now()),
        Err(TrustError::BadSignature { .. })
    ));
    assert!(matches!(
        signers.verify_for("other@x", &sig, "entra-drift-evidence", msg, now()),
        Err(TrustError::KeyNotAllowed { .. })
    ));
    let later = now() + Duration::days(1);
    signers
        .verify_for("auditor@x", &sig, "entra-drift-evidence", msg, later)
        .expect("no window set");
}

#[test]
fn parse_never_panics_on_odd_input() {
    let k = openssh(&keypair());
    let seeds = [
        format!("a@x namespaces=\"x\",valid-after=\"20250101\" {k} c"),
        "\"\" \"\"".to_string(),
        "a \"".to_string(),
        "a \\\"b\\\"".to_string(),
    ];
    for seed in seeds {
        for cut in 0..=seed.len() {
            if let Some(prefix) = seed.get(..cut) {
                let _ = AllowedSigners::parse(path(), prefix);
            }
        }
    }
}
