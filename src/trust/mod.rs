//! Trust layer: SSH signatures over plans and evidence, and the allowed_signers policy that says whose signatures count.
//!
//! Signatures are OpenSSH `sshsig` (what `ssh-keygen -Y sign` and git's SSH signing produce), so operators can
//! sign and verify with stock OpenSSH and keep their keys in ssh-agent or on hardware tokens. Trust decisions
//! use an `allowed_signers` file in the same format git and `ssh-keygen -Y verify` read.

mod agent;
pub mod allowed_signers;
pub mod sshsig;

use std::path::PathBuf;

use chrono::{DateTime, Utc};

pub use allowed_signers::{entry_line, AllowedSigners, Verified};
pub use sshsig::{
    fingerprint, is_public_key_file, read_public_key, sign_with_agent, sign_with_agent_socket,
    sign_with_key_file, verify,
};

/// Re-exported so callers can name the signer key type without depending on `ssh-key` themselves.
pub use ssh_key::PublicKey;

/// Namespace for signatures over change plans. Distinct namespaces stop a signature made for one purpose
/// from being replayed as another (sshsig binds the namespace into the signed data).
pub const PLAN_NAMESPACE: &str = "entra-drift-plan";

/// Namespace for signatures over evidence bundles.
pub const EVIDENCE_NAMESPACE: &str = "entra-drift-evidence";

/// Environment variable the CLI reads a private-key passphrase from; named in [`TrustError::KeyEncrypted`].
pub const PASSPHRASE_ENV: &str = "ENTRA_DRIFT_KEY_PASSPHRASE";

/// Everything that can go wrong while signing, verifying or applying an allowed_signers policy.
///
/// No variant carries a passphrase or private key material, so `Display` and `Debug` are safe to log.
#[derive(Debug, thiserror::Error)]
pub enum TrustError {
    /// A key, signature or policy file that is not a regular file of a sane size.
    #[error(transparent)]
    Input(#[from] entra_model::InputError),

    #[error("cannot read {}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("{}: not a usable OpenSSH private key: {reason}", path.display())]
    PrivateKeyInvalid { path: PathBuf, reason: String },

    #[error(
        "{}: private key is encrypted; set {PASSPHRASE_ENV} to its passphrase, \
         or load it with ssh-add and pass the .pub file to sign via ssh-agent",
        path.display()
    )]
    KeyEncrypted { path: PathBuf },

    #[error("{}: wrong passphrase for encrypted private key (check {PASSPHRASE_ENV})", path.display())]
    WrongPassphrase { path: PathBuf },

    #[error("{}: not an OpenSSH public key: {reason}", path.display())]
    PublicKeyInvalid { path: PathBuf, reason: String },

    #[error("unsupported key type {algorithm}: {reason}")]
    UnsupportedKeyType { algorithm: String, reason: String },

    #[error("signature namespace must not be empty")]
    EmptyNamespace,

    #[error("signing with key {fingerprint} failed: {reason}")]
    SigningFailed { fingerprint: String, reason: String },

    #[error("cannot use ssh-agent: {reason}")]
    AgentUnavailable { reason: String },

    #[error("key {fingerprint} from {} is not loaded in ssh-agent; add it with ssh-add", path.display())]
    KeyNotInAgent { path: PathBuf, fingerprint: String },

    #[error(
        "ssh-agent refused to sign with key {fingerprint} \
         (confirmation denied, hardware key not touched, or agent locked)"
    )]
    AgentRefused { fingerprint: String },

    #[error("ssh-agent protocol error: {reason}")]
    AgentProtocol { reason: String },

    #[error("malformed SSH signature: {reason}")]
    SignatureMalformed { reason: String },

    #[error("signature was made for namespace \"{found}\", expected \"{expected}\"")]
    NamespaceMismatch { expected: String, found: String },

    #[error("signature by key {fingerprint} does not match the signed content")]
    BadSignature { fingerprint: String },

    #[error("{}:{line}: {reason}", path.display())]
    AllowedSignersSyntax {
        path: PathBuf,
        line: usize,
        reason: String,
    },

    #[error(
        "{}:{line}: cert-authority entries are not supported; list the signer's own public key instead",
        path.display()
    )]
    CertAuthorityUnsupported { path: PathBuf, line: usize },

    #[error("key {fingerprint} is not listed for principal \"{principal}\" in {}", path.display())]
    KeyNotAllowed {
        path: PathBuf,
        principal: String,
        fingerprint: String,
    },

    #[error(
        "{}:{line}: key {fingerprint} may sign as \"{principal}\" but not in namespace \"{namespace}\"",
        path.display()
    )]
    NamespaceNotAllowed {
        path: PathBuf,
        line: usize,
        principal: String,
        fingerprint: String,
        namespace: String,
    },

    #[error(
        "{}:{line}: key {fingerprint} for \"{principal}\" is not valid at {at} (valid-after {}, valid-before {})",
        path.display(),
        fmt_bound(valid_after),
        fmt_bound(valid_before)
    )]
    OutsideValidity {
        path: PathBuf,
        line: usize,
        principal: String,
        fingerprint: String,
        at: DateTime<Utc>,
        valid_after: Option<DateTime<Utc>>,
        valid_before: Option<DateTime<Utc>>,
    },
}

fn fmt_bound(bound: &Option<DateTime<Utc>>) -> String {
    match bound {
        Some(t) => t.to_rfc3339(),
        None => "unset".to_string(),
    }
}
