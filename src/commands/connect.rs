//! Turns the Graph flags and `AZURE_*` variables into a connected [`GraphClient`].

use std::time::Duration;

use crate::cli::GraphArgs;
use crate::error::{Error, Result};
use crate::graph::{self, Authenticator, CredentialSettings, GraphClient, RetryPolicy};
use crate::output::Printer;
use crate::progress::Progress;
use crate::snapshot::live;

/// Set (to anything) to read Graph as a naive client would: every read its own request, and
/// group members one group at a time. For the benchmarks' comparison only.
pub const NAIVE_CLIENT_VARIABLE: &str = "ENTRA_DRIFT_NAIVE_CLIENT";

pub struct Connection {
    pub client: GraphClient,
    /// SharePoint REST (site roles), sharing the client's HTTP stack and credential.
    pub sharepoint: graph::sharepoint::SharePointClient,
    pub tenant_id: String,
    pub graph_root: String,
}

/// `env_prefix` selects another identity's variables (`APPLY_AZURE_CLIENT_SECRET`, ...).
pub fn connect(args: &GraphArgs, env_prefix: &str) -> Result<Connection> {
    let tenant_id = args
        .tenant
        .clone()
        .ok_or_else(|| Error::settings("no tenant: pass --tenant <TENANT_ID>"))?;
    let settings = credential_settings(args, env_prefix, tenant_id.clone())?;
    let graph_root = settings.graph_root.clone();
    tracing::info!(credential = ?settings.resolved_kind(), graph = %graph_root, "connecting to Microsoft Graph");
    let http = graph::build_http_client()?;
    let auth = Authenticator::new(settings, http.clone())?;
    let retry = RetryPolicy {
        base_delay: Duration::from_millis(args.retry_base_ms),
        max_total_wait: Duration::from_secs(args.max_retry_wait),
        ..RetryPolicy::default()
    };
    let mut client = GraphClient::new(http, &graph_root, auth, retry, args.concurrency)?
        .with_unit_budget(
            args.ru_budget,
            Duration::from_millis(args.ru_window_ms.max(1)),
        );
    // Benchmark-only: the naive comparison client (guide: docs/src/benchmarks.md).
    if std::env::var_os(NAIVE_CLIENT_VARIABLE).is_some() {
        tracing::warn!(
            "{NAIVE_CLIENT_VARIABLE} is set: no $batch, no group delta (benchmark comparison only)"
        );
        client = client.without_batching();
    }
    let sharepoint = graph::sharepoint::SharePointClient::new(
        &client,
        sharepoint_override(args)?,
        args.concurrency,
        args.sharepoint_budget,
    );
    Ok(Connection {
        client,
        sharepoint,
        tenant_id,
        graph_root,
    })
}

/// The credential settings the Graph flags and `<env_prefix>AZURE_*` name, for `tenant_id`.
pub fn credential_settings(
    args: &GraphArgs,
    env_prefix: &str,
    tenant_id: String,
) -> Result<CredentialSettings> {
    let authority_host = args
        .authority_host
        .clone()
        .or_else(|| {
            std::env::var("AZURE_AUTHORITY_HOST")
                .ok()
                .filter(|v| !v.is_empty())
        })
        .unwrap_or_else(|| args.cloud.authority_host().to_string());
    let graph_root = args
        .graph_url
        .clone()
        .unwrap_or_else(|| args.cloud.graph_root().to_string())
        .trim_end_matches('/')
        .to_string();
    for (what, url) in [
        (
            "the sign-in authority (--authority-host, AZURE_AUTHORITY_HOST)",
            &authority_host,
        ),
        ("the Graph root (--graph-url)", &graph_root),
    ] {
        graph::endpoint::check_root(what, url).map_err(Error::settings)?;
    }
    Ok(CredentialSettings::from_env(
        env_prefix,
        args.credential,
        tenant_id,
        args.client_id.clone(),
        authority_host,
        graph_root,
    ))
}

/// `--sharepoint-url` (or its variable or key), checked: https, loopback or a SharePoint domain.
pub fn sharepoint_override(graph: &GraphArgs) -> Result<Option<url::Url>> {
    graph
        .sharepoint_url
        .as_deref()
        .map(graph::sharepoint::check_override)
        .transpose()
        .map_err(Error::settings)
}

/// A multi-threaded runtime for the commands that talk to Graph.
pub fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(Error::Runtime)
}

/// Progress for a command, as the printer says (`-q`, `--progress-interval`).
pub fn progress(printer: &Printer) -> Progress {
    Progress::new(printer.is_quiet(), printer.progress_interval())
}

/// A live snapshot from Microsoft Graph (`audit` and `snapshot`).
pub fn read_live(
    graph: &GraphArgs,
    read: &crate::cli::ReadArgs,
    progress: &Progress,
    expected: Option<(u64, u64)>,
    log: crate::snapshot::LogRequest,
) -> Result<live::LiveSnapshot> {
    let connection = connect(graph, "")?;
    runtime()?.block_on(live::read(
        &connection.client,
        &connection.tenant_id,
        &connection.graph_root,
        &live::ReadOptions {
            expand_limit: read.expand_limit,
            assignment_read: read.assignment_read,
            expected,
            log,
            tenant_name: graph.tenant_name.clone(),
            sharepoint_url: sharepoint_override(graph)?,
            sharepoint_budget: graph.sharepoint_budget,
        },
        progress,
    ))
}
