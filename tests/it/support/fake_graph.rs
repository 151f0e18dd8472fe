//! Test harness: a fake Graph (in-process, HTTPS on loopback) and the real `entra-drift`
//! binary pointed at it with real credentials.
#![allow(dead_code)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Output;

use fake_graph::{start, FakeConfig, Faults, RunningFake};
use tempfile::TempDir;

pub const CLIENT_ID: &str = "5f1c2d3e-0000-4000-8000-00000000c1d1";
pub const SECRET: &str = "s3cret-Value~that-must-never-leak";

pub type Row = [String; 8];

/// A fake Graph serving one tenant directory, with its own runtime.
pub struct Fake {
    pub runtime: tokio::runtime::Runtime,
    pub server: Option<RunningFake>,
    pub ca_file: PathBuf,
    pub _dir: TempDir,
}

impl Fake {
    pub fn start(tenant: &str, configure: impl FnOnce(&mut FakeConfig)) -> Fake {
        entra_drift::graph::install_crypto_provider();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let mut config = FakeConfig::new(fixture(tenant));
        config.client_id = Some(CLIENT_ID.into());
        config.client_secret = Some(SECRET.into());
        config.faults = Some(Faults::default());
        configure(&mut config);
        let server = runtime.block_on(start(config)).expect("fake graph starts");
        let dir = tempfile::tempdir().unwrap();
        let ca_file = dir.path().join("fake-ca.pem");
        std::fs::write(&ca_file, &server.ca_pem).unwrap();
        Fake {
            runtime,
            server: Some(server),
            ca_file,
            _dir: dir,
        }
    }

    pub fn server(&self) -> &RunningFake {
        self.server.as_ref().unwrap()
    }

    /// `entra-drift <args> --tenant ... --graph-url ... --authority-host ...` with the secret
    /// in the environment and the fake's certificate trusted.
    pub fn command(&self, args: &[&str], secret: &str) -> std::process::Command {
        let server = self.server();
        let mut command = hermetic();
        command
            .args(args)
            .args([
                "--tenant",
                &server.tenant_id,
                "--graph-url",
                &server.url,
                "--authority-host",
                &server.url,
            ])
            .args(["--retry-base-ms", "20"])
            .env("SSL_CERT_FILE", &self.ca_file)
            .env("AZURE_CLIENT_ID", CLIENT_ID)
            .env("AZURE_CLIENT_SECRET", secret);
        command
    }

    /// `entra-drift` with no Graph flags, signed in through the environment as a job or a
    /// workstation is: `AZURE_AUTHORITY_HOST` at the fake, the test app's id and secret, and
    /// `trust` (a PEM bundle) as the only certificates trusted.
    pub fn signed_in(&self, trust: &Path) -> std::process::Command {
        let server = self.server();
        let mut command = hermetic();
        command
            .env("SSL_CERT_FILE", trust)
            .env("AZURE_AUTHORITY_HOST", &server.url)
            .env("AZURE_CLIENT_ID", CLIENT_ID)
            .env("AZURE_CLIENT_SECRET", SECRET);
        command
    }

    /// Runs `entra-drift ARGS` against the fake. With the test app's own secret it signs in
    /// with the app's certificate instead (SharePoint refuses a secret's token, and generated
    /// tenants have site roles); any other secret is sent as given.
    pub fn run(&self, args: &[&str], secret: &str) -> Output {
        let mut command = if secret == SECRET {
            self.command_with_certificate(args, &shared_certificate())
        } else {
            self.command(args, secret)
        };
        command.output().unwrap()
    }
}

/// One app certificate for the whole test process (RSA key generation is slow), made under
/// Cargo's temporary folder for integration tests; written to a unique folder and renamed
/// into place, so concurrent test processes never see half a file.
pub fn shared_certificate() -> PathBuf {
    static CERTIFICATE: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    CERTIFICATE
        .get_or_init(|| {
            let root = Path::new(env!("CARGO_TARGET_TMPDIR")).join("app-certificate");
            let pfx = root.join("app.pfx");
            if !pfx.exists() {
                std::fs::create_dir_all(&root).unwrap();
                let staging = tempfile::tempdir_in(&root).unwrap();
                let made = app_certificate(staging.path());
                let _ = std::fs::rename(made, &pfx);
            }
            pfx
        })
        .clone()
}

impl Drop for Fake {
    fn drop(&mut self) {
        if let Some(server) = self.server.take() {
            self.runtime.block_on(server.shutdown());
        }
    }
}

/// The binary with nothing from the environment that would change what it does.
fn hermetic() -> std::process::Command {
    let mut command = std::process::Command::new(assert_cmd::cargo::cargo_bin("entra-drift"));
    for (key, _) in std::env::vars() {
        if key.starts_with("AZURE_")
            || key.starts_with("APPLY_AZURE_")
            || key.starts_with("ENTRA_DRIFT_")
            || key == "RUST_LOG"
        {
            command.env_remove(key);
        }
    }
    command
}

pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(name)
}

pub fn rows(path: &Path) -> BTreeSet<Row> {
    columns_of(path, KEY)
}

/// The contract's columns, `in_plan`, `cause` and `cause_actor`: what the generator's ground
/// truth records.
pub type TruthRow = [String; 10];

pub fn truth_rows(path: &Path) -> BTreeSet<TruthRow> {
    let mut columns = [""; 10];
    columns[..8].copy_from_slice(&KEY);
    columns[8] = "cause";
    columns[9] = "cause_actor";
    columns_of(path, columns)
}

const KEY: [&str; 8] = [
    "category",
    "assignment_id",
    "access_package_id",
    "user_id",
    "resource_type",
    "resource_id",
    "role",
    "in_plan",
];

fn columns_of<const N: usize>(path: &Path, names: [&str; N]) -> BTreeSet<[String; N]> {
    let mut reader =
        csv::Reader::from_path(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let headers = reader.headers().unwrap().clone();
    let index = |name: &str| {
        headers
            .iter()
            .position(|h| h == name)
            .unwrap_or_else(|| panic!("{}: no column `{name}`", path.display()))
    };
    let columns = names.map(index);
    reader
        .records()
        .map(|r| {
            let r = r.unwrap();
            columns.map(|c| r[c].to_string())
        })
        .collect()
}

pub fn run_dir(output: &Output) -> PathBuf {
    assert!(
        output.status.success(),
        "exit {:?}\nstderr:\n{}",
        output.status.code(),
        String::from_utf8_lossy(&output.stderr)
    );
    PathBuf::from(String::from_utf8(output.stdout.clone()).unwrap().trim())
}

/// The `fake-graph` binary beside the `entra-drift` one, built first when a plain
/// `cargo test` has not built it yet (it belongs to another package of the workspace).
pub fn fake_graph_binary() -> PathBuf {
    let dir = Path::new(env!("CARGO_BIN_EXE_entra-drift"))
        .parent()
        .expect("the binary's folder")
        .to_path_buf();
    let binary = dir.join(format!("fake-graph{}", std::env::consts::EXE_SUFFIX));
    if !binary.exists() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = std::process::Command::new(cargo)
            .args(["build", "-p", "fake-graph", "--bin", "fake-graph"])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()
            .expect("running cargo build -p fake-graph");
        assert!(status.success(), "cargo build -p fake-graph failed");
    }
    binary
}

/// A PKCS#12 app certificate made with the real `openssl` (SharePoint accepts app-only tokens
/// from certificates only; fake-graph checks the assertion's shape, not its signature).
pub fn app_certificate(dir: &Path) -> PathBuf {
    let (key, cert, pfx) = (
        dir.join("key.pem"),
        dir.join("cert.pem"),
        dir.join("app.pfx"),
    );
    let key_arg = key.to_str().unwrap();
    let cert_arg = cert.to_str().unwrap();
    let pfx_arg = pfx.to_str().unwrap();
    for args in [
        vec![
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            key_arg,
            "-out",
            cert_arg,
            "-days",
            "2",
            "-subj",
            "/CN=entra-drift-test",
        ],
        vec![
            "pkcs12", "-export", "-inkey", key_arg, "-in", cert_arg, "-out", pfx_arg, "-passout",
            "pass:",
        ],
    ] {
        let output = std::process::Command::new("openssl")
            .args(&args)
            .output()
            .expect("the openssl CLI (installed by `bash tests/run`)");
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    pfx
}

impl Fake {
    /// [`Fake::command`] signed in with the app certificate `pfx` instead of the secret, and
    /// SharePoint REST sent to the fake's SharePoint origin.
    pub fn command_with_certificate(&self, args: &[&str], pfx: &Path) -> std::process::Command {
        let mut command = self.command(args, SECRET);
        command
            .args(["--sharepoint-url", &self.server().sharepoint_url])
            .env_remove("AZURE_CLIENT_SECRET")
            .env("AZURE_CLIENT_CERTIFICATE_PATH", pfx);
        command
    }
}
