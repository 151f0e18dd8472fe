//! Signing with the keys people already have: an OpenSSH private key file (its passphrase
//! from ENTRA_DRIFT_KEY_PASSPHRASE, or asked for on the terminal), or — for a `.pub` file —
//! the matching key in the running ssh-agent (hardware keys).

use std::io::IsTerminal;
use std::path::Path;

use crate::error::{Error, Result};
use crate::trust::{self, TrustError};

/// An armored OpenSSH signature of `message` in `namespace`.
pub fn sign(key: &Path, namespace: &str, message: &[u8]) -> Result<String> {
    if trust::is_public_key_file(key) {
        return Ok(trust::sign_with_agent(key, namespace, message)?);
    }
    let passphrase = std::env::var(trust::PASSPHRASE_ENV)
        .ok()
        .map(zeroize::Zeroizing::new);
    match trust::sign_with_key_file(
        key,
        passphrase.as_deref().map(String::as_str),
        namespace,
        message,
    ) {
        Err(TrustError::KeyEncrypted { .. }) if std::io::stdin().is_terminal() => {
            let typed = zeroize::Zeroizing::new(
                rpassword::prompt_password(format!("Passphrase for {}: ", key.display()))
                    .map_err(|e| Error::io("the terminal", e))?,
            );
            Ok(trust::sign_with_key_file(
                key,
                Some(&typed),
                namespace,
                message,
            )?)
        }
        other => Ok(other?),
    }
}
