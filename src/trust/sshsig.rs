//! OpenSSH `sshsig` signatures: create them from a key file or via ssh-agent, verify them, name keys by fingerprint.
//!
//! Output is byte-compatible with `ssh-keygen -Y sign` (armored `SSH SIGNATURE`, sha512 message hash), so
//! `ssh-keygen -Y verify` and git accept what we produce and we accept what they produce.

use std::io::Read;
use std::path::Path;
use std::time::Duration;

use ssh_key::private::{KeypairData, RsaKeypair};
use ssh_key::{
    Algorithm, EcdsaCurve, HashAlg, LineEnding, PrivateKey, PublicKey, Signature, SshSig,
};
use zeroize::Zeroizing;

use super::agent::{AgentClient, SSH_AGENT_RSA_SHA2_512};
use super::TrustError;

/// Same as ssh-keygen's default, and the stronger of the two hashes sshsig allows.
const HASH: HashAlg = HashAlg::Sha512;

/// Long enough for a person to touch a hardware key or answer an ssh-askpass confirmation, short enough that
/// a wedged agent does not hang an unattended run forever.
const AGENT_TIMEOUT: Duration = Duration::from_secs(120);

/// Same floor as ssh-key and current OpenSSH guidance; smaller RSA keys are factorable in practice.
const MIN_RSA_BITS: usize = 2048;

/// Key and public-key files are tiny; the cap keeps a mistaken path (a log, a device) from being slurped.
const MAX_KEY_FILE_LEN: u64 = 1024 * 1024;

/// Wrap width of `ssh-keygen -Y sign` output, and the only width `SshSig::from_pem` accepts.
const ARMOR_WIDTH: usize = 70;
const ARMOR_BEGIN: &str = "-----BEGIN SSH SIGNATURE-----";
const ARMOR_END: &str = "-----END SSH SIGNATURE-----";

/// Signs `message` with an OpenSSH private key file and returns the armored signature.
///
/// Encrypted keys need `passphrase`; without one the error is [`TrustError::KeyEncrypted`].
pub fn sign_with_key_file(
    key_path: &Path,
    passphrase: Option<&str>,
    namespace: &str,
    message: &[u8],
) -> Result<String, TrustError> {
    check_namespace(namespace)?;
    let text = read_small_text(key_path)?;
    let key = PrivateKey::from_openssh(text.trim_start_matches('\u{feff}')).map_err(|e| {
        let reason = if PublicKey::from_openssh(text.trim()).is_ok() {
            "this is a public key; to sign with the matching private key held in ssh-agent, \
             pass it as the agent key instead"
                .to_string()
        } else if text.contains("-----BEGIN RSA PRIVATE KEY-----")
            || text.contains("-----BEGIN EC PRIVATE KEY-----")
            || text.contains("-----BEGIN PRIVATE KEY-----")
        {
            "legacy PEM format; convert it with `ssh-keygen -p -f <file>` (rewrites it in OpenSSH format)"
                .to_string()
        } else {
            e.to_string()
        };
        TrustError::PrivateKeyInvalid {
            path: key_path.to_path_buf(),
            reason,
        }
    })?;
    drop(text);
    ensure_supported(&key.algorithm(), Usage::KeyFile)?;

    let key = if key.is_encrypted() {
        let passphrase = passphrase.ok_or_else(|| TrustError::KeyEncrypted {
            path: key_path.to_path_buf(),
        })?;
        key.decrypt(passphrase).map_err(|e| match e {
            ssh_key::Error::Crypto => TrustError::WrongPassphrase {
                path: key_path.to_path_buf(),
            },
            other => TrustError::PrivateKeyInvalid {
                path: key_path.to_path_buf(),
                reason: format!("cannot decrypt: {other}"),
            },
        })?
    } else {
        key
    };

    let signer = fingerprint(key.public_key());
    let failed = |reason: String| TrustError::SigningFailed {
        fingerprint: signer.clone(),
        reason,
    };
    let armored = match key.key_data() {
        KeypairData::Rsa(keypair) => {
            let data =
                SshSig::signed_data(namespace, HASH, message).map_err(|e| failed(e.to_string()))?;
            let raw = sign_rsa(keypair, &data).map_err(failed)?;
            SshSig::new(key.public_key().key_data().clone(), namespace, HASH, raw)
        }
        _ => key.sign(namespace, HASH, message),
    }
    .and_then(|sig| sig.to_pem(LineEnding::LF))
    .map_err(|e| failed(e.to_string()))?;
    // Verifying our own output catches a key file whose public half does not match its private half, and
    // faulty RSA-CRT computations that would otherwise leak the private key in the published signature.
    verify(&armored, namespace, message)
        .map_err(|e| failed(format!("produced signature does not verify: {e}")))?;
    Ok(armored)
}

/// RSA signing is done here rather than by `PrivateKey::sign` because ssh-key 0.6.7 builds the RSA key from
/// primes (p, p) instead of (p, q) (RustCrypto/SSH#217, fixed only in 0.7); rsa >= 0.9.7 rejects that key,
/// so every RSA signature failed ("cryptographic error", RustCrypto/SSH#387).
fn sign_rsa(keypair: &RsaKeypair, data: &[u8]) -> Result<Signature, String> {
    use rsa::signature::{RandomizedSigner, SignatureEncoding};
    use rsa::traits::PublicKeyParts;

    let int = |m: &ssh_key::Mpint| {
        m.as_positive_bytes()
            .map(rsa::BigUint::from_bytes_be)
            .ok_or_else(|| "RSA key has a negative component".to_string())
    };
    let private = rsa::RsaPrivateKey::from_components(
        int(&keypair.public.n)?,
        int(&keypair.public.e)?,
        int(&keypair.private.d)?,
        vec![int(&keypair.private.p)?, int(&keypair.private.q)?],
    )
    .map_err(|e| format!("inconsistent RSA key: {e}"))?;
    if private.size() * 8 < MIN_RSA_BITS {
        return Err(format!(
            "RSA key has {} bits; at least {MIN_RSA_BITS} are required",
            private.size() * 8
        ));
    }
    // The randomized signer blinds the private-key operation against timing side channels.
    let signature = rsa::pkcs1v15::SigningKey::<rsa::sha2::Sha512>::new(private)
        .try_sign_with_rng(&mut rsa::rand_core::OsRng, data)
        .map_err(|e| e.to_string())?;
    Signature::new(
        Algorithm::Rsa {
            hash: Some(HashAlg::Sha512),
        },
        signature.to_vec(),
    )
    .map_err(|e| e.to_string())
}

/// Signs via the ssh-agent at `$SSH_AUTH_SOCK`, using the agent key that matches `public_key_path`.
///
/// This is how keys that never leave the agent or a hardware token (FIDO `sk-ssh-ed25519`, PIV) sign.
pub fn sign_with_agent(
    public_key_path: &Path,
    namespace: &str,
    message: &[u8],
) -> Result<String, TrustError> {
    let socket = std::env::var_os("SSH_AUTH_SOCK")
        .filter(|s| !s.is_empty())
        .ok_or_else(|| TrustError::AgentUnavailable {
            reason: "SSH_AUTH_SOCK is not set (no ssh-agent running in this session?)".to_string(),
        })?;
    sign_with_agent_socket(Path::new(&socket), public_key_path, namespace, message)
}

/// [`sign_with_agent`] with an explicit agent socket instead of `$SSH_AUTH_SOCK`.
pub fn sign_with_agent_socket(
    socket: &Path,
    public_key_path: &Path,
    namespace: &str,
    message: &[u8],
) -> Result<String, TrustError> {
    agent_sign(socket, AGENT_TIMEOUT, public_key_path, namespace, message)
}

pub(crate) fn agent_sign(
    socket: &Path,
    timeout: Duration,
    public_key_path: &Path,
    namespace: &str,
    message: &[u8],
) -> Result<String, TrustError> {
    check_namespace(namespace)?;
    let key = read_public_key(public_key_path)?;
    let algorithm = key.algorithm();
    ensure_supported(&algorithm, Usage::Agent)?;
    ensure_strong_enough(&key)?;
    let signer = fingerprint(&key);
    let blob = key.to_bytes().map_err(|e| TrustError::PublicKeyInvalid {
        path: public_key_path.to_path_buf(),
        reason: e.to_string(),
    })?;
    let signed_data =
        SshSig::signed_data(namespace, HASH, message).map_err(|e| TrustError::SigningFailed {
            fingerprint: signer.clone(),
            reason: e.to_string(),
        })?;

    let mut agent = AgentClient::connect(socket, timeout)?;
    // Listing first turns "key not loaded" into its own error instead of an anonymous agent failure.
    if !agent.identities()?.contains(&blob) {
        return Err(TrustError::KeyNotInAgent {
            path: public_key_path.to_path_buf(),
            fingerprint: signer,
        });
    }
    let flags = if matches!(algorithm, Algorithm::Rsa { .. }) {
        SSH_AGENT_RSA_SHA2_512
    } else {
        0
    };
    let sig_blob =
        agent
            .sign(&blob, &signed_data, flags)?
            .ok_or_else(|| TrustError::AgentRefused {
                fingerprint: signer.clone(),
            })?;
    let signature =
        Signature::try_from(sig_blob.as_slice()).map_err(|e| TrustError::AgentProtocol {
            reason: format!(
                "agent answered with an unusable signature for {signer} \
                 (SHA-1 ssh-rsa or malformed): {e}"
            ),
        })?;
    let armored = SshSig::new(key.key_data().clone(), namespace, HASH, signature)
        .and_then(|s| s.to_pem(LineEnding::LF))
        .map_err(|e| TrustError::SigningFailed {
            fingerprint: signer.clone(),
            reason: e.to_string(),
        })?;
    // The agent is outside our trust boundary; never hand out a signature we would not accept ourselves.
    verify(&armored, namespace, message).map_err(|e| TrustError::AgentProtocol {
        reason: format!("agent signature for {signer} does not verify: {e}"),
    })?;
    Ok(armored)
}

/// True when `path` holds a single OpenSSH public key (`ssh-ed25519 AAAA… comment`), i.e. the caller should
/// sign via ssh-agent rather than read a private key from it.
pub fn is_public_key_file(path: &Path) -> bool {
    read_small_text(path)
        .map(|text| parse_public_key_text(&text).is_ok())
        .unwrap_or(false)
}

/// Reads an OpenSSH public key file (one line, as written by ssh-keygen to `*.pub`).
pub fn read_public_key(path: &Path) -> Result<PublicKey, TrustError> {
    let text = read_small_text(path)?;
    parse_public_key_text(&text).map_err(|reason| TrustError::PublicKeyInvalid {
        path: path.to_path_buf(),
        reason,
    })
}

/// Checks `signature_armored` over `message` in `namespace` and returns the key that made it.
///
/// This proves only who signed; whether that key is trusted is [`super::AllowedSigners`]'s decision.
pub fn verify(
    signature_armored: &str,
    namespace: &str,
    message: &[u8],
) -> Result<PublicKey, TrustError> {
    check_namespace(namespace)?;
    let pem = normalize_armor(signature_armored)?;
    let sig = SshSig::from_pem(&pem).map_err(|e| TrustError::SignatureMalformed {
        reason: e.to_string(),
    })?;
    // ssh-key 0.6 does not check the length prefixes around the key and signature blobs, so altered bytes
    // can still decode to the same valid signature. Requiring the canonical encoding keeps one signature =
    // one byte string, which matters to anyone who hashes or de-duplicates signatures.
    // Exception: ssh-key 0.6.7 re-encodes sk-ecdsa signatures wrongly (flags/counter inside the string), so
    // for those the comparison would reject valid signatures; they keep ssh-key's (and OpenSSH's) leniency.
    let reencoded = sig.to_pem(LineEnding::LF).ok();
    if sig.algorithm() != Algorithm::SkEcdsaSha2NistP256
        && reencoded.as_deref() != Some(pem.as_str())
    {
        return Err(TrustError::SignatureMalformed {
            reason: "non-canonical encoding (altered length fields or trailing data)".to_string(),
        });
    }
    // ssh-key (like OpenSSH) accepts any version up to 1; version is not signed, so pinning it removes a
    // way to alter a valid signature's bytes without invalidating it.
    if sig.version() != SshSig::VERSION {
        return Err(TrustError::SignatureMalformed {
            reason: format!("unsupported sshsig version {}", sig.version()),
        });
    }
    if sig.namespace() != namespace {
        return Err(TrustError::NamespaceMismatch {
            expected: namespace.to_string(),
            found: sig.namespace().to_string(),
        });
    }
    let key = PublicKey::from(sig.public_key().clone());
    ensure_supported(&key.algorithm(), Usage::Verify)?;
    ensure_strong_enough(&key)?;
    // OpenSSH refuses SHA-1 RSA in sshsig; ssh-key's decoder already cannot represent it, this keeps it so.
    if let Algorithm::Rsa { hash: None } = sig.signature().algorithm() {
        return Err(TrustError::SignatureMalformed {
            reason: "ssh-rsa (SHA-1) signatures are not accepted".to_string(),
        });
    }
    key.verify(namespace, message, &sig)
        .map_err(|_| TrustError::BadSignature {
            fingerprint: fingerprint(&key),
        })?;
    Ok(key)
}

/// `SHA256:<base64>` fingerprint, as `ssh-keygen -l` prints it.
pub fn fingerprint(key: &PublicKey) -> String {
    key.fingerprint(HashAlg::Sha256).to_string()
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Usage {
    KeyFile,
    Agent,
    Verify,
}

fn check_namespace(namespace: &str) -> Result<(), TrustError> {
    if namespace.is_empty() {
        return Err(TrustError::EmptyNamespace);
    }
    Ok(())
}

/// Which key types each path can handle. FIDO keys sign only inside a token (so never from a key file), and
/// sk-ecdsa cannot be produced via the agent either, because ssh-key 0.6.7 encodes its signatures wrongly.
fn ensure_supported(algorithm: &Algorithm, usage: Usage) -> Result<(), TrustError> {
    let unsupported = |reason: &str| {
        Err(TrustError::UnsupportedKeyType {
            algorithm: algorithm.to_string(),
            reason: reason.to_string(),
        })
    };
    match algorithm {
        Algorithm::Ed25519 | Algorithm::Rsa { .. } => Ok(()),
        Algorithm::Ecdsa {
            curve: EcdsaCurve::NistP256 | EcdsaCurve::NistP384,
        } => Ok(()),
        Algorithm::SkEd25519 | Algorithm::SkEcdsaSha2NistP256 if usage == Usage::KeyFile => {
            unsupported("FIDO keys sign only inside the token; load the key into ssh-agent and sign via the agent")
        }
        Algorithm::SkEcdsaSha2NistP256 if usage == Usage::Agent => unsupported(
            "signing with sk-ecdsa keys is not supported yet (verifying is); use an sk-ssh-ed25519 key",
        ),
        Algorithm::SkEd25519 | Algorithm::SkEcdsaSha2NistP256 => Ok(()),
        _ => unsupported("use ed25519, ecdsa-sha2-nistp256/384, rsa or sk-ssh-ed25519 keys"),
    }
}

/// Without this a short RSA key would surface as a baffling "bad signature" (ssh-key refuses to verify with it).
fn ensure_strong_enough(key: &PublicKey) -> Result<(), TrustError> {
    if let ssh_key::public::KeyData::Rsa(rsa_key) = key.key_data() {
        let bits = rsa_key.n.as_positive_bytes().map_or(0, |b| b.len() * 8);
        if bits < MIN_RSA_BITS {
            return Err(TrustError::UnsupportedKeyType {
                algorithm: key.algorithm().to_string(),
                reason: format!("RSA key has {bits} bits; at least {MIN_RSA_BITS} are required"),
            });
        }
    }
    Ok(())
}

fn parse_public_key_text(text: &str) -> Result<PublicKey, String> {
    let line = text.trim_start_matches('\u{feff}').trim();
    if line.is_empty() {
        return Err("file is empty".to_string());
    }
    if line.lines().count() != 1 {
        return Err("expected exactly one line (`<type> <base64> [comment]`)".to_string());
    }
    PublicKey::from_openssh(line).map_err(|e| e.to_string())
}

/// Zeroizing because for unencrypted private keys the text *is* the secret; ssh-key wipes its own copies,
/// this wipes ours.
fn read_small_text(path: &Path) -> Result<Zeroizing<String>, TrustError> {
    let io_err = |source| TrustError::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = entra_model::input::open_input(path, MAX_KEY_FILE_LEN)?;
    // Sized up front so read_to_end never reallocates, which would leave unwiped copies behind.
    let size_hint = file.metadata().map_or(0, |m| m.len()).min(MAX_KEY_FILE_LEN);
    let mut bytes = Zeroizing::new(Vec::with_capacity(
        usize::try_from(size_hint).unwrap_or(0) + 1,
    ));
    file.take(MAX_KEY_FILE_LEN + 1)
        .read_to_end(&mut bytes)
        .map_err(io_err)?;
    if bytes.len() as u64 > MAX_KEY_FILE_LEN {
        return Err(io_err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "file is too large to be an SSH key",
        )));
    }
    let bytes = std::mem::take(&mut *bytes);
    String::from_utf8(bytes).map(Zeroizing::new).map_err(|e| {
        drop(Zeroizing::new(e.into_bytes()));
        io_err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "file is not UTF-8 text, so not an OpenSSH key",
        ))
    })
}

/// Re-wraps the armor to the exact layout `SshSig::from_pem` insists on, so signatures that went through
/// Windows line endings, mail clients or re-wrapping still parse, the way `ssh-keygen -Y verify` accepts them.
fn normalize_armor(text: &str) -> Result<String, TrustError> {
    let malformed = |reason: &str| TrustError::SignatureMalformed {
        reason: reason.to_string(),
    };
    let text = text.trim_start_matches('\u{feff}').trim();
    let body = text
        .strip_prefix(ARMOR_BEGIN)
        .ok_or_else(|| malformed("does not start with -----BEGIN SSH SIGNATURE-----"))?
        .strip_suffix(ARMOR_END)
        .ok_or_else(|| malformed("does not end with -----END SSH SIGNATURE-----"))?;
    let base64: String = body.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    if base64.is_empty() {
        return Err(malformed("no data between the armor lines"));
    }
    if !base64
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'='))
    {
        return Err(malformed("armor body is not base64"));
    }
    let mut out = String::with_capacity(base64.len() + base64.len() / ARMOR_WIDTH + 64);
    out.push_str(ARMOR_BEGIN);
    out.push('\n');
    // The body is ASCII (checked above), so byte chunks are valid UTF-8 boundaries.
    for chunk in base64.as_bytes().chunks(ARMOR_WIDTH) {
        out.push_str(&String::from_utf8_lossy(chunk));
        out.push('\n');
    }
    out.push_str(ARMOR_END);
    out.push('\n');
    Ok(out)
}

#[cfg(test)]
#[path = "sshsig_tests.rs"]
mod tests;
