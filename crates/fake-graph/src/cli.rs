//! The `fake-graph` command line: its arguments, and running the server until SIGTERM/SIGINT
//! after printing the one ready line on stdout.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;

use chrono::{DateTime, Utc};
use clap::Parser;

use super::{start, FakeConfig, Faults, ReportsLimit};

/// A local fake of Microsoft Graph serving a tenant directory over HTTPS on 127.0.0.1.
///
/// When ready it prints one line on stdout,
/// `{"url":"https://127.0.0.1:PORT","ca":"<path or null>","sharepoint":"https://127.0.0.1:PORT2"}`,
/// and runs until SIGTERM or SIGINT. Logs go to stderr.
#[derive(Debug, Clone, Parser)]
#[command(name = "fake-graph", version)]
pub struct FakeArgs {
    /// The tenant directory to serve.
    #[arg(long)]
    pub tenant_dir: PathBuf,
    /// Address to listen on (127.0.0.1 only; port 0 picks a free one).
    #[arg(long, default_value = "127.0.0.1:0")]
    pub addr: SocketAddr,
    /// Write the self-signed certificate (PEM) here, for clients to trust.
    #[arg(long)]
    pub ca_out: Option<PathBuf>,
    /// Accept only this client id at the token endpoint (default: any).
    #[arg(long)]
    pub client_id: Option<String>,
    /// Environment variable holding the only accepted client secret (unset: any secret).
    #[arg(long, default_value = "FAKE_GRAPH_CLIENT_SECRET")]
    pub client_secret_env: String,
    /// Sleep this long once per HTTP request.
    #[arg(long, default_value_t = 0)]
    pub latency_ms: u64,
    /// Resource-unit budget per window (default: no throttling). Above 0.8 of it, answers
    /// to reads carry `x-ms-throttle-limit-percentage` (the share used) as Graph's do.
    #[arg(long)]
    pub throttle_ru: Option<u64>,
    /// Length of the sliding throttle window.
    #[arg(long, default_value_t = 10_000)]
    pub throttle_window_ms: u64,
    /// Page size of lists when `$top` is absent.
    #[arg(long, default_value_t = 100)]
    pub page_size: usize,
    /// Page size of the assignments list (which ignores `$top`).
    #[arg(long, default_value_t = 100)]
    pub assignment_page_size: usize,

    /// The most items any page holds, whatever `$top` asks (Graph treats `$top` as a hint).
    #[arg(long)]
    pub max_page_size: Option<usize>,
    /// Serve at most N `resourceRoleScopes` per access package (list and single GET), like
    /// Graph's cap on expanded collections (default: all).
    #[arg(long, value_name = "N")]
    pub expand_cap: Option<usize>,
    /// With --expand-cap: give a capped package a `resourceRoleScopes@odata.nextLink` to the
    /// rest (default: the rest is silently dropped).
    #[arg(long, requires = "expand_cap")]
    pub expand_next_link: bool,
    /// Faults file (default: TENANT_DIR/faults.json if present). Format: see
    /// crates/fake-graph/src/faults.rs.
    #[arg(long)]
    pub faults: Option<PathBuf>,
    /// The fake's clock, fixed at this RFC 3339 time (e.g. 2025-06-15T12:00:00Z): what the
    /// 14-day window of assignment request reprocess is measured against (default: real UTC now).
    #[arg(long, value_name = "RFC3339", value_parser = parse_now)]
    pub now: Option<DateTime<Utc>>,
    /// The audit log's own request limit per client id (`auditLogs/directoryAudits`, a
    /// logs/reports API: it spends no resource units): N GETs per SECONDS-second sliding
    /// window, both whole numbers ≥ 1; over it, 429 with a whole-second Retry-After. Graph's
    /// published limit is the default.
    #[arg(long, value_name = "N/SECONDS", default_value = "5/10", value_parser = ReportsLimit::parse)]
    pub reports_limit: ReportsLimit,
    /// No audit log request limit at all.
    #[arg(long, conflicts_with = "reports_limit")]
    pub no_reports_limit: bool,
    /// Start the server in the background and print shell `export` lines to `eval`: the
    /// Graph root and sign-in authority (ENTRA_DRIFT_GRAPH_URL, AZURE_AUTHORITY_HOST), the
    /// certificate to trust (SSL_CERT_FILE), the tenant, a client id and a fresh secret the
    /// fake accepts, and FAKE_GRAPH_PID to stop it with `kill`.
    #[arg(long)]
    pub detach: bool,
    /// With --detach: where the server logs (default: a file beside its certificate).
    #[arg(long, requires = "detach", value_name = "FILE")]
    pub log: Option<PathBuf>,
    /// Internal (--detach): write the ready line to this file instead of stdout.
    #[arg(long, hide = true, value_name = "FILE")]
    pub ready_file: Option<PathBuf>,
}

fn parse_now(text: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(text)
        .map(|at| at.with_timezone(&Utc))
        .map_err(|e| format!("not an RFC 3339 time like 2025-06-15T12:00:00Z: {e}"))
}

impl FakeArgs {
    /// The server configuration; reads the secret's variable and the faults file.
    pub fn to_config(&self) -> Result<FakeConfig, String> {
        let mut config = FakeConfig::new(&self.tenant_dir);
        config.addr = self.addr;
        config.ca_out = self.ca_out.clone();
        config.client_id = self.client_id.clone();
        config.client_secret = std::env::var(&self.client_secret_env)
            .ok()
            .filter(|s| !s.is_empty());
        if config.client_secret.is_none() {
            tracing::warn!(variable = %self.client_secret_env, "no client secret set: any secret is accepted");
        }
        config.latency_ms = self.latency_ms;
        config.throttle_ru = self.throttle_ru;
        config.throttle_window_ms = self.throttle_window_ms;
        config.page_size = self.page_size;
        config.assignment_page_size = self.assignment_page_size;
        config.max_page_size = self.max_page_size;
        config.expand_cap = self.expand_cap;
        config.expand_next_link = self.expand_next_link;
        config.now = self.now;
        config.reports_limit = (!self.no_reports_limit).then_some(self.reports_limit);
        config.faults = match &self.faults {
            Some(path) => Some(Faults::read(path)?),
            None => None,
        };
        Ok(config)
    }
}

/// Starts the server, prints the ready line, and serves until SIGTERM or SIGINT.
pub async fn run(args: FakeArgs) -> Result<(), String> {
    if args.detach {
        let exports = detach(&args)?;
        let mut stdout = std::io::stdout().lock();
        return write!(stdout, "{exports}")
            .and_then(|()| stdout.flush())
            .map_err(|e| format!("writing the environment: {e}"));
    }
    let config = args.to_config()?;
    let ca = config.ca_out.as_ref().map(|p| p.display().to_string());
    let fake = start(config).await?;
    // Written by hand to keep the key order `url`, `ca` (serde_json sorts object keys).
    let line = format!(
        r#"{{"url":{},"ca":{},"sharepoint":{}}}"#,
        serde_json::Value::from(fake.url.as_str()),
        ca.map_or(serde_json::Value::Null, serde_json::Value::from),
        serde_json::Value::from(fake.sharepoint_url.as_str())
    );
    match &args.ready_file {
        // Whole or absent: the parent polls for the file, so it appears by a rename.
        Some(path) => {
            let partial = path.with_extension("partial");
            std::fs::write(&partial, format!("{line}\n"))
                .and_then(|()| std::fs::rename(&partial, path))
                .map_err(|e| format!("writing the ready file {}: {e}", path.display()))?;
        }
        None => {
            let mut stdout = std::io::stdout().lock();
            writeln!(stdout, "{line}")
                .and_then(|()| stdout.flush())
                .map_err(|e| format!("writing the ready line: {e}"))?;
        }
    }
    wait_for_signal().await?;
    tracing::info!("stopping");
    fake.shutdown().await;
    tracing::debug!("stopped");
    Ok(())
}

#[cfg(unix)]
async fn wait_for_signal() -> Result<(), String> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut terminate =
        signal(SignalKind::terminate()).map_err(|e| format!("SIGTERM handler: {e}"))?;
    let mut interrupt =
        signal(SignalKind::interrupt()).map_err(|e| format!("SIGINT handler: {e}"))?;
    tokio::select! {
        _ = terminate.recv() => {}
        _ = interrupt.recv() => {}
    }
    Ok(())
}

#[cfg(not(unix))]
async fn wait_for_signal() -> Result<(), String> {
    tokio::signal::ctrl_c()
        .await
        .map_err(|e| format!("Ctrl-C handler: {e}"))
}

/// How long a detached server may take to load its tenant and listen.
const DETACH_READY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(120);

/// `--detach`: starts this same program without `--detach`, in its own process group (a
/// Ctrl-C at the terminal does not stop it) with no handle on our stdout (so `eval "$(…)"`
/// returns), waits for its ready file, and returns the `export` lines for a shell.
fn detach(args: &FakeArgs) -> Result<String, String> {
    let tenant = tenant_id(&args.tenant_dir)?;
    let folder = std::env::temp_dir().join(format!("fake-graph-{}", std::process::id()));
    std::fs::create_dir_all(&folder).map_err(|e| format!("creating {}: {e}", folder.display()))?;
    let ca = args.ca_out.clone().unwrap_or_else(|| folder.join("ca.pem"));
    let log = args
        .log
        .clone()
        .unwrap_or_else(|| folder.join("fake-graph.log"));
    let ready = folder.join("ready.json");
    let _ = std::fs::remove_file(&ready);
    let client_id = args
        .client_id
        .clone()
        .unwrap_or_else(|| "fake-graph-client".to_string());
    // A fresh secret per start unless the caller chose one: it is only this fake's.
    let secret = std::env::var(&args.client_secret_env)
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| {
            use rand::Rng;
            let bytes: [u8; 16] = rand::rng().random();
            bytes.iter().map(|b| format!("{b:02x}")).collect()
        });

    let mut forwarded: Vec<std::ffi::OsString> = Vec::new();
    let mut original = std::env::args_os().skip(1);
    while let Some(arg) = original.next() {
        let text = arg.to_string_lossy();
        if text == "--detach"
            || text.starts_with("--log=")
            || text.starts_with("--ca-out=")
            || text.starts_with("--client-id=")
        {
            continue;
        }
        if text == "--log" || text == "--ca-out" || text == "--client-id" {
            original.next();
            continue;
        }
        forwarded.push(arg);
    }
    let log_file = std::fs::File::create(&log)
        .map_err(|e| format!("creating the log {}: {e}", log.display()))?;
    let program =
        std::env::current_exe().map_err(|e| format!("finding this program's path: {e}"))?;
    let mut command = std::process::Command::new(program);
    command
        .args(forwarded)
        .arg("--ca-out")
        .arg(&ca)
        .arg("--client-id")
        .arg(&client_id)
        .arg("--ready-file")
        .arg(&ready)
        .env(&args.client_secret_env, &secret)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(log_file);
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt;
        command.process_group(0);
    }
    let mut child = command
        .spawn()
        .map_err(|e| format!("starting the server: {e}"))?;
    let started = std::time::Instant::now();
    let line = loop {
        if let Ok(text) = std::fs::read_to_string(&ready) {
            break text;
        }
        if let Ok(Some(status)) = child.try_wait() {
            let tail = std::fs::read_to_string(&log).unwrap_or_default();
            let tail: Vec<&str> = tail.lines().rev().take(5).collect();
            return Err(format!(
                "the server exited ({status}) before it was ready; its log {} ends:\n{}",
                log.display(),
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            ));
        }
        if started.elapsed() > DETACH_READY_TIMEOUT {
            let _ = child.kill();
            return Err(format!(
                "the server was not ready after {} s; see {}",
                DETACH_READY_TIMEOUT.as_secs(),
                log.display()
            ));
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    let ready: serde_json::Value = serde_json::from_str(line.trim())
        .map_err(|e| format!("reading the ready file {}: {e}", ready.display()))?;
    let url = ready["url"].as_str().ok_or("the ready file has no url")?;
    let sharepoint = ready["sharepoint"]
        .as_str()
        .ok_or("the ready file has no SharePoint url")?;
    Ok(exports(&[
        ("ENTRA_DRIFT_GRAPH_URL", url),
        ("AZURE_AUTHORITY_HOST", url),
        ("ENTRA_DRIFT_SHAREPOINT_URL", sharepoint),
        ("SSL_CERT_FILE", &ca.display().to_string()),
        ("AZURE_TENANT_ID", &tenant),
        ("AZURE_CLIENT_ID", &client_id),
        ("AZURE_CLIENT_SECRET", &secret),
        ("FAKE_GRAPH_PID", &child.id().to_string()),
        ("FAKE_GRAPH_LOG", &log.display().to_string()),
    ]))
}

/// The tenant id of the directory served, for the `export` lines.
fn tenant_id(tenant_dir: &std::path::Path) -> Result<String, String> {
    let path = tenant_dir.join(entra_model::tenant_dir::TENANT_FILE);
    let text =
        std::fs::read_to_string(&path).map_err(|e| format!("reading {}: {e}", path.display()))?;
    let info: entra_model::model::TenantInfo =
        serde_json::from_str(&text).map_err(|e| format!("reading {}: {e}", path.display()))?;
    Ok(info.id)
}

/// `export NAME='value'` lines, single-quoted for any POSIX shell.
fn exports(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(name, value)| format!("export {name}='{}'\n", value.replace('\'', r"'\''")))
        .collect()
}

#[cfg(test)]
mod detach_tests {
    #[test]
    fn exports_quote_every_value_for_a_posix_shell() {
        assert_eq!(
            super::exports(&[("A", "x y"), ("B", "it's")]),
            "export A='x y'\nexport B='it'\\''s'\n"
        );
    }
}
