//! Test harness: the real Azure Storage emulator (Azurite, from npm), started per test over
//! HTTPS with basic OAuth, so the product's bearer-token path is the one exercised. Its
//! certificate is made by fake-graph's generator; tokens come from fake-graph's token endpoint
//! (JWT-shaped, storage audience), exactly as the product asks for them.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

/// The emulator's one account.
pub const ACCOUNT: &str = "devstoreaccount1";

pub struct Azurite {
    child: Child,
    /// `https://127.0.0.1:PORT/devstoreaccount1`
    pub account_url: String,
    /// Azurite's certificate (PEM).
    pub cert_pem: String,
    dir: TempDir,
}

/// `bash tests/run` installs Azurite into `.ci/azurite/node_modules`; `AZURITE_BLOB` may name
/// another `azurite-blob`.
fn binary() -> PathBuf {
    if let Some(path) = std::env::var_os("AZURITE_BLOB") {
        return PathBuf::from(path);
    }
    let local = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join(".ci/azurite/node_modules/.bin/azurite-blob");
    if local.exists() {
        return local;
    }
    panic!(
        "the Blob Storage tests need Azurite: `npm ci --prefix .ci/azurite` (`bash tests/run` does it), or set AZURITE_BLOB"
    );
}

impl Azurite {
    pub fn start() -> Azurite {
        let dir = tempfile::tempdir().unwrap();
        let (cert_pem, key_pem) = fake_graph::server::certificate_pair().unwrap();
        let cert = dir.path().join("cert.pem");
        let key = dir.path().join("key.pem");
        std::fs::write(&cert, &cert_pem).unwrap();
        std::fs::write(&key, &key_pem).unwrap();
        let mut child = Command::new(binary())
            .args(["--blobHost", "127.0.0.1", "--blobPort", "0"])
            .args(["--oauth", "basic", "--loose", "--skipApiVersionCheck"])
            .arg("--cert")
            .arg(&cert)
            .arg("--key")
            .arg(&key)
            .arg("--location")
            .arg(dir.path().join("data"))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting azurite-blob");
        let stdout = child.stdout.take().unwrap();
        let (sender, receiver) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(at) = line.find("listens on https://") {
                    let _ = sender.send(line[at + "listens on ".len()..].trim().to_string());
                }
            }
        });
        let deadline = Instant::now() + Duration::from_secs(60);
        let base = loop {
            if let Ok(url) = receiver.recv_timeout(Duration::from_millis(200)) {
                break url;
            }
            if let Ok(Some(status)) = child.try_wait() {
                panic!("azurite-blob exited at start: {status}");
            }
            assert!(
                Instant::now() < deadline,
                "azurite-blob did not start in 60 s"
            );
        };
        Azurite {
            child,
            account_url: format!("{}/{ACCOUNT}", base.trim_end_matches('/')),
            cert_pem,
            dir,
        }
    }

    /// The test's own request to the account (`path` below the account URL), with a storage
    /// token of `tenant`: returns the status and body.
    pub fn request(
        &self,
        runtime: &tokio::runtime::Runtime,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Vec<u8>,
        tenant: &str,
    ) -> (u16, Vec<u8>) {
        entra_drift::graph::install_crypto_provider();
        let client = reqwest::Client::builder()
            .tls_certs_only([reqwest::Certificate::from_pem(self.cert_pem.as_bytes()).unwrap()])
            .build()
            .unwrap();
        let token = fake_graph::auth::storage_token(tenant, "test");
        let url = format!("{}/{path}", self.account_url);
        runtime.block_on(async {
            let mut request = client
                .request(method.parse().unwrap(), &url)
                .bearer_auth(token)
                .header("x-ms-version", "2025-01-05")
                .body(body);
            for (name, value) in headers {
                request = request.header(*name, *value);
            }
            let answer = request.send().await.unwrap();
            let status = answer.status().as_u16();
            (status, answer.bytes().await.unwrap().to_vec())
        })
    }

    /// Creates a container (Storage Blob Data Contributor's users get one made for them).
    pub fn create_container(&self, runtime: &tokio::runtime::Runtime, name: &str, tenant: &str) {
        let (status, body) = self.request(
            runtime,
            "PUT",
            &format!("{name}?restype=container"),
            &[],
            Vec::new(),
            tenant,
        );
        assert_eq!(status, 201, "{}", String::from_utf8_lossy(&body));
    }

    /// The names of the container's blobs below `prefix`.
    pub fn list(
        &self,
        runtime: &tokio::runtime::Runtime,
        container: &str,
        prefix: &str,
        tenant: &str,
    ) -> Vec<String> {
        let (status, body) = self.request(
            runtime,
            "GET",
            &format!("{container}?restype=container&comp=list&prefix={prefix}"),
            &[],
            Vec::new(),
            tenant,
        );
        assert_eq!(status, 200);
        let text = String::from_utf8(body).unwrap();
        text.split("<Name>")
            .skip(1)
            .filter_map(|part| part.split("</Name>").next())
            .map(str::to_string)
            .collect()
    }

    /// A blob's bytes.
    pub fn get(
        &self,
        runtime: &tokio::runtime::Runtime,
        container: &str,
        name: &str,
        tenant: &str,
    ) -> Vec<u8> {
        let (status, body) = self.request(
            runtime,
            "GET",
            &format!("{container}/{name}"),
            &[],
            Vec::new(),
            tenant,
        );
        assert_eq!(status, 200, "{container}/{name}");
        body
    }

    /// Overwrites a blob (as someone tampering with the evidence would).
    pub fn put(
        &self,
        runtime: &tokio::runtime::Runtime,
        container: &str,
        name: &str,
        bytes: Vec<u8>,
        tenant: &str,
    ) {
        let (status, body) = self.request(
            runtime,
            "PUT",
            &format!("{container}/{name}"),
            &[("x-ms-blob-type", "BlockBlob")],
            bytes,
            tenant,
        );
        assert_eq!(status, 201, "{}", String::from_utf8_lossy(&body));
    }
}

impl Drop for Azurite {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
