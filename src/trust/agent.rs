//! Minimal ssh-agent client: list identities and request one signature over a Unix socket.
//!
//! Hand-written instead of using a crate (e.g. `ssh-agent-client-rs`): we need exactly two requests of the
//! protocol (draft-miller-ssh-agent), this keeps the dependency graph at `ssh-key` alone, and it lets us put a
//! bound on every socket read and on the size of every answer, so a wedged or hostile agent cannot hang or
//! exhaust the CLI.

use std::io::{ErrorKind, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use super::TrustError;

const SSH_AGENT_FAILURE: u8 = 5;
const SSH2_AGENTC_REQUEST_IDENTITIES: u8 = 11;
const SSH2_AGENT_IDENTITIES_ANSWER: u8 = 12;
const SSH2_AGENTC_SIGN_REQUEST: u8 = 13;
const SSH2_AGENT_SIGN_RESPONSE: u8 = 14;
// Some agents answer with these instead of SSH_AGENT_FAILURE; OpenSSH's client treats them as failure too.
const SSH_AGENT_EXTENSION_FAILURE: u8 = 28;
const SSH_COM_AGENT2_FAILURE: u8 = 102;

/// Asks for an `rsa-sha2-512` signature; without it the agent would produce SHA-1 `ssh-rsa`, which sshsig rejects.
pub(crate) const SSH_AGENT_RSA_SHA2_512: u32 = 4;

/// OpenSSH's own limit (AGENT_MAX_LEN); anything larger is not a real agent answer.
const MAX_MESSAGE_LEN: usize = 256 * 1024;

pub(crate) struct AgentClient {
    stream: UnixStream,
    timeout: Duration,
}

impl AgentClient {
    pub(crate) fn connect(socket: &Path, timeout: Duration) -> Result<Self, TrustError> {
        let stream = UnixStream::connect(socket).map_err(|e| TrustError::AgentUnavailable {
            reason: format!("cannot connect to {}: {e}", socket.display()),
        })?;
        let set = |r: std::io::Result<()>| {
            r.map_err(|e| TrustError::AgentUnavailable {
                reason: format!("cannot set socket timeout on {}: {e}", socket.display()),
            })
        };
        set(stream.set_read_timeout(Some(timeout)))?;
        set(stream.set_write_timeout(Some(timeout)))?;
        Ok(Self { stream, timeout })
    }

    /// Key blobs (SSH wire encoding of the public keys) the agent holds, certificates included.
    pub(crate) fn identities(&mut self) -> Result<Vec<Vec<u8>>, TrustError> {
        let answer = self.request(&[SSH2_AGENTC_REQUEST_IDENTITIES])?;
        let (&kind, mut body) = answer
            .split_first()
            .ok_or_else(|| protocol("empty answer"))?;
        if is_failure(kind) {
            return Err(protocol("agent refused to list its keys"));
        }
        if kind != SSH2_AGENT_IDENTITIES_ANSWER {
            return Err(protocol(&format!(
                "unexpected answer type {kind} to identity request"
            )));
        }
        let count = read_u32(&mut body)?;
        let mut keys = Vec::new();
        for _ in 0..count {
            let blob = read_string(&mut body)?;
            let _comment = read_string(&mut body)?;
            keys.push(blob.to_vec());
        }
        Ok(keys)
    }

    /// `Ok(None)` means the agent declined (e.g. confirmation denied, token not touched).
    pub(crate) fn sign(
        &mut self,
        key_blob: &[u8],
        data: &[u8],
        flags: u32,
    ) -> Result<Option<Vec<u8>>, TrustError> {
        let mut msg = Vec::with_capacity(1 + 4 + key_blob.len() + 4 + data.len() + 4);
        msg.push(SSH2_AGENTC_SIGN_REQUEST);
        put_string(&mut msg, key_blob)?;
        put_string(&mut msg, data)?;
        msg.extend_from_slice(&flags.to_be_bytes());
        let answer = self.request(&msg)?;
        let (&kind, mut body) = answer
            .split_first()
            .ok_or_else(|| protocol("empty answer"))?;
        if is_failure(kind) {
            return Ok(None);
        }
        if kind != SSH2_AGENT_SIGN_RESPONSE {
            return Err(protocol(&format!(
                "unexpected answer type {kind} to sign request"
            )));
        }
        let signature = read_string(&mut body)?;
        Ok(Some(signature.to_vec()))
    }

    fn request(&mut self, payload: &[u8]) -> Result<Vec<u8>, TrustError> {
        let mut framed = Vec::with_capacity(4 + payload.len());
        put_string(&mut framed, payload)?;
        self.stream
            .write_all(&framed)
            .map_err(|e| self.io_error("sending request", &e))?;

        let mut len = [0u8; 4];
        self.stream
            .read_exact(&mut len)
            .map_err(|e| self.io_error("reading answer length", &e))?;
        let len = u32::from_be_bytes(len) as usize;
        if len == 0 || len > MAX_MESSAGE_LEN {
            return Err(protocol(&format!("answer length {len} out of range")));
        }
        let mut answer = vec![0u8; len];
        self.stream
            .read_exact(&mut answer)
            .map_err(|e| self.io_error("reading answer", &e))?;
        Ok(answer)
    }

    fn io_error(&self, doing: &str, e: &std::io::Error) -> TrustError {
        let reason = match e.kind() {
            ErrorKind::WouldBlock | ErrorKind::TimedOut => format!(
                "no answer within {} s while {doing} (hardware key waiting for a touch?)",
                self.timeout.as_secs()
            ),
            ErrorKind::UnexpectedEof => format!("agent closed the connection while {doing}"),
            _ => format!("{doing}: {e}"),
        };
        TrustError::AgentProtocol { reason }
    }
}

fn is_failure(kind: u8) -> bool {
    matches!(
        kind,
        SSH_AGENT_FAILURE | SSH_AGENT_EXTENSION_FAILURE | SSH_COM_AGENT2_FAILURE
    )
}

fn protocol(reason: &str) -> TrustError {
    TrustError::AgentProtocol {
        reason: reason.to_string(),
    }
}

fn put_string(out: &mut Vec<u8>, bytes: &[u8]) -> Result<(), TrustError> {
    let len = u32::try_from(bytes.len()).map_err(|_| protocol("request too large"))?;
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(bytes);
    Ok(())
}

fn read_u32(input: &mut &[u8]) -> Result<u32, TrustError> {
    let (head, rest) = input
        .split_first_chunk::<4>()
        .ok_or_else(|| protocol("truncated answer"))?;
    *input = rest;
    Ok(u32::from_be_bytes(*head))
}

fn read_string<'a>(input: &mut &'a [u8]) -> Result<&'a [u8], TrustError> {
    let len = read_u32(input)? as usize;
    if len > input.len() {
        return Err(protocol("truncated answer"));
    }
    let (value, rest) = input.split_at(len);
    *input = rest;
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_string_rejects_lengths_past_the_end() {
        let mut input: &[u8] = &[0, 0, 0, 9, 1, 2];
        assert!(matches!(
            read_string(&mut input),
            Err(TrustError::AgentProtocol { .. })
        ));
        let mut input: &[u8] = &[0, 0];
        assert!(read_u32(&mut input).is_err());
    }

    #[test]
    fn read_string_splits_values() {
        let mut input: &[u8] = &[0, 0, 0, 2, 7, 8, 0, 0, 0, 0];
        assert_eq!(read_string(&mut input).ok(), Some(&[7u8, 8][..]));
        assert_eq!(read_string(&mut input).ok(), Some(&[][..]));
        assert!(input.is_empty());
    }
}
