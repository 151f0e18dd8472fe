//! Test harness for driving the real OpenSSH binaries (ssh-keygen, ssh-agent, ssh-add) with bounded waits.
#![allow(dead_code)]

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

/// Generous for a loaded 2-core CI box; a hung OpenSSH tool fails the test instead of the whole run.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(60);

pub struct Outcome {
    pub success: bool,
    pub output: String,
}

/// Runs `cmd` with stdin from `stdin` (or /dev/null), output captured to a file (no pipe deadlocks), killed
/// after COMMAND_TIMEOUT. Prompts are impossible: no tty, no askpass.
pub fn run(mut cmd: Command, stdin: Option<&Path>) -> Outcome {
    let scratch = tempfile::tempdir().expect("scratch dir");
    let out_path = scratch.path().join("out");
    let out = File::create(&out_path).expect("output file");
    cmd.stdout(out.try_clone().expect("dup"))
        .stderr(out)
        .stdin(match stdin {
            Some(p) => Stdio::from(File::open(p).expect("stdin file")),
            None => Stdio::null(),
        })
        .env_remove("DISPLAY")
        .env_remove("SSH_ASKPASS")
        .env("SSH_ASKPASS_REQUIRE", "never");
    let described = format!("{cmd:?}");
    let mut child = cmd.spawn().unwrap_or_else(|e| {
        panic!("cannot start {described}: {e} (apt-get install openssh-client)")
    });
    let deadline = Instant::now() + COMMAND_TIMEOUT;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{described} did not finish within {COMMAND_TIMEOUT:?}");
        }
        sleep(Duration::from_millis(20));
    };
    Outcome {
        success: status.success(),
        output: fs::read_to_string(&out_path).unwrap_or_default(),
    }
}

pub fn ssh_keygen(args: &[&str]) -> Outcome {
    let mut cmd = Command::new("ssh-keygen");
    cmd.args(args);
    run(cmd, None)
}

/// Generates a key with ssh-keygen; returns the private key path (public key is `<path>.pub`).
pub fn keygen(dir: &Path, name: &str, kind: &str, passphrase: &str) -> PathBuf {
    let path = dir.join(name);
    let (t, bits) = match kind {
        "ed25519" => ("ed25519", None),
        "ecdsa-p256" => ("ecdsa", Some("256")),
        "ecdsa-p384" => ("ecdsa", Some("384")),
        "rsa" => ("rsa", Some("3072")),
        "rsa-1024" => ("rsa", Some("1024")),
        other => panic!("unknown key kind {other}"),
    };
    let path_s = path.to_str().expect("utf8 path");
    let mut args = vec!["-q", "-t", t, "-N", passphrase, "-C", name, "-f", path_s];
    if let Some(b) = bits {
        args.extend(["-b", b]);
    }
    let out = ssh_keygen(&args);
    assert!(out.success, "ssh-keygen failed: {}", out.output);
    path
}

pub fn pub_path(key: &Path) -> PathBuf {
    let mut s = key.as_os_str().to_owned();
    s.push(".pub");
    PathBuf::from(s)
}

pub fn public_line(key: &Path) -> String {
    fs::read_to_string(pub_path(key))
        .expect("read .pub")
        .trim()
        .to_string()
}

/// `ssh-keygen -Y verify` of `sig` over `msg`; `verify_time` is `YYYYMMDDHHMMSSZ` or None for now.
pub fn ssh_verify(
    dir: &Path,
    allowed: &str,
    principal: &str,
    namespace: &str,
    sig: &str,
    msg: &[u8],
    verify_time: Option<&str>,
) -> Outcome {
    let scratch = tempfile::tempdir_in(dir).expect("scratch");
    let allowed_path = scratch.path().join("allowed_signers");
    let sig_path = scratch.path().join("msg.sig");
    let msg_path = scratch.path().join("msg");
    fs::write(&allowed_path, allowed).expect("write allowed");
    fs::write(&sig_path, sig).expect("write sig");
    fs::write(&msg_path, msg).expect("write msg");
    let mut cmd = Command::new("ssh-keygen");
    cmd.args(["-Y", "verify", "-f"])
        .arg(&allowed_path)
        .args(["-I", principal, "-n", namespace, "-s"])
        .arg(&sig_path);
    if let Some(t) = verify_time {
        cmd.args(["-O", &format!("verify-time={t}")]);
    }
    run(cmd, Some(&msg_path))
}

/// A private ssh-agent on its own socket, killed (and reaped) when dropped, even if the test panics.
pub struct Agent {
    child: Child,
    pub socket: PathBuf,
}

impl Agent {
    /// `askpass` is what the agent runs to confirm use of keys added with `ssh-add -c`.
    pub fn start(dir: &Path, askpass: &str) -> Agent {
        let socket = dir.join("agent.sock");
        let child = Command::new("ssh-agent")
            .arg("-D")
            .arg("-a")
            .arg(&socket)
            .env("SSH_ASKPASS", askpass)
            .env("SSH_ASKPASS_REQUIRE", "force")
            .env("DISPLAY", ":0")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start ssh-agent (apt-get install openssh-client)");
        let agent = Agent { child, socket };
        let deadline = Instant::now() + Duration::from_secs(10);
        while !agent.socket.exists() {
            assert!(Instant::now() < deadline, "ssh-agent socket never appeared");
            sleep(Duration::from_millis(20));
        }
        agent
    }

    pub fn add(&self, key: &Path, extra: &[&str]) {
        let mut cmd = Command::new("ssh-add");
        cmd.args(extra).arg(key).env("SSH_AUTH_SOCK", &self.socket);
        let out = run(cmd, None);
        assert!(out.success, "ssh-add failed: {}", out.output);
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
