//! A local fake of Microsoft Graph (HTTPS on 127.0.0.1) serving a tenant directory, for
//! tests, demos and benchmarks: token endpoint, the read endpoints the audit uses, reprocess,
//! the remedy writes (`adminRemove`, member / owner / app role assignment removal), `$batch`,
//! paging, resource-unit throttling and injected faults ([`faults`]).
//!
//! Library use (tests): [`start`] a [`FakeConfig`], talk to [`RunningFake::url`] trusting
//! [`RunningFake::ca_pem`], read [`RunningFake::stats`], then [`RunningFake::shutdown`] (or drop it).
//! Binary use: `fake-graph` parses [`cli::FakeArgs`] and calls [`cli::run`].
//!
//! # Endpoints
//!
//! Below `/v1.0/` (paths relative to it), alike directly and inside `$batch`; lists page with
//! `$top` (1–999, else the page size) and opaque `$skiptoken` nextLinks; `$select` is ignored
//! except on assignments; an unknown id is `404`. Entitlement management errors use code `ResourceNotFound`, directory
//! objects `Request_ResourceNotFound`.
//!
//! - `identityGovernance/entitlementManagement/assignments` (`$filter` on `state`,
//!   `accessPackage/id`, `target/objectId` joined with `and`, in any order; own page size,
//!   ignores `$top`), `…/assignments/{id}`, `POST …/assignments/{id}/reprocess` (delivered
//!   assignments only). A filter naming `accessPackage/id` is served from an index of the
//!   assignments by package ([`state::Assignments`]), kept up to date by the writes, so that
//!   a client reading tens of thousands of packages one by one (20 per `$batch`) does not
//!   make the fake scan every assignment per request; the pages hold the same items in the
//!   same order as the scan would (their `$skiptoken` counts within the package). `$select`
//!   (list and single assignment) keeps the named top-level properties, the navigation
//!   properties `$expand` names (stored `target` / `accessPackage` are served whole, nested
//!   options ignored) and annotations; without it everything stored is served, whatever
//!   `$expand` says.
//! - `…/accessPackages`, `…/accessPackages/{id}`, `…/accessPackages/{id}/resourceRoleScopes`.
//! - `users`, `users/{id or UPN}`, `groups`, `groups/{id}`, `groups/{id}/members`,
//!   `groups/{id}/owners`, `groups/delta` (`$filter=id eq '…' or …`), `servicePrincipals`,
//!   `servicePrincipals/{id}`, `servicePrincipals/{id}/appRoleAssignedTo`.
//! - `roleManagement/directory/roleAssignments` and `roleManagement/directory/roleEligibilitySchedules`
//!   (optional `roleAssignments.json` / `roleEligibilitySchedules.json`; absent: empty lists).
//!   `$filter`: `roleDefinitionId eq '<id>'`, `principalId eq '<id>'`, or both joined with `and`
//!   (ids case-insensitive; `or` is refused). `$expand=principal` embeds the principal: the one
//!   stored on the item if the file has it, else the user, group or service principal of
//!   `principalId` as recorded with its `@odata.type` (`#microsoft.graph.user`, …), or `null`
//!   when the directory has no such object; without `$expand` a stored `principal` is not served.
//!   Eligibility schedules are served as recorded (`memberType` `Direct` / `Group` included).
//! - `identityGovernance/entitlementManagement/assignmentRequests` and `…/assignmentRequests/{id}`
//!   (optional `assignmentRequests.json`, requests stored with `assignment` expanded).
//!   `$filter`: `state eq '<state>'`, or several joined with `or` (values case-insensitive).
//!   `$expand=assignment` (nested options such as `($expand=target)` are accepted) serves the
//!   stored `assignment`; without it, `assignment` (and `accessPackage`, `requestor`) is removed.
//!   On both kinds of list, a `$filter` or `$expand` outside these forms is `400`.
//! - `auditLogs/directoryAudits` (segments in any case; optional `directoryAudits.json`,
//!   absent: an empty log), served newest first (`activityDateTime` descending, ties by `id`).
//!   `$filter`: `activityDateTime eq|ge|gt|le|lt <RFC 3339 time, unquoted>`,
//!   `activityDisplayName eq '<text>'`, `startswith(activityDisplayName,'<text>')`, combined
//!   with `and`, `or` (`and` binds tighter) and parentheses; text compares case-insensitively;
//!   anything else is `400` `BadRequest` "Invalid filter clause: …" (grammar in [`audit_log`]).
//!   `$top`: default 100, above 1000 capped to 1000, and never above `max_page_size`
//!   (`page_size` does not apply). GET only (other methods `405`).
//! - `POST …/assignmentRequests/{id}/reprocess`: `202` (no body) for a request in
//!   `deliveryFailed` or `partiallyDelivered` (case-insensitive) whose `completedDateTime`
//!   (or older `completedDate`) is at most 14 days before the fake's clock ([`FakeConfig::now`]);
//!   otherwise `400` `BadRequest` saying why, `404` for an unknown request. On success the
//!   request's `state` becomes `delivered` (`status` `Delivered`), its assignment in
//!   assignments.json (by `assignment.id`) becomes `delivered` / `Delivered`, and that
//!   assignment's access is restored as an assignment reprocess does.
//!
//! A reprocess of either kind restores access with [`state::Data::restore_access`]: group
//! members/owners, app role assignments, and directory roles (role `originSystem`
//! `DirectoryRole`, scope `originId` = role definition id: role `originId` `Eligible` adds a
//! tenant-wide (`directoryScopeId` `/`) eligibility schedule with `memberType` `Direct`, any other
//! (`Active`) a tenant-wide role assignment), each only when missing. Successes are counted per
//! id in [`FakeStats::reprocess`] and [`FakeStats::request_reprocess`] (`GET /_fake/stats`).
//!
//! # Remedy writes
//!
//! Each takes effect before it answers, so a later read shows it (Graph's own may lag).
//!
//! - `POST …/assignmentRequests` with `{"requestType": "adminRemove", "assignment": {"id":
//!   "<assignment id>"}}` (`requestType` case-insensitive; `$batch` inner bodies work too):
//!   `201` with `{"@odata.context", "id": <new GUID>, "requestType": "adminRemove", "state":
//!   "delivered", "status": "Delivered", "createdDateTime": <the fake's clock, RFC 3339>,
//!   "assignment": {"id": <the assignment id as stored>}}`. Another `requestType`, malformed
//!   JSON or no `assignment.id` is `400` `BadRequest`; an unknown assignment `404`
//!   `ResourceNotFound`; an assignment not in `delivered`, `partiallyDelivered`,
//!   `deliveryFailed` or `delivering` (e.g. `expired`) `400`. The assignment becomes `state`
//!   `expired`, `status` `Expired` (with `expiredDateTime`); the group memberships, ownerships
//!   and app role assignments its package grants the target (`target.objectId`) are removed
//!   ([`state::Data::revoke_access`]), except those another assignment of the same target in
//!   `delivered` or `partiallyDelivered` also grants; directory roles are left as they are. The
//!   request is stored with the assignment requests (its `assignment`, the expired one, served
//!   with `$expand=assignment`).
//! - `DELETE groups/{id}/members/{id}/$ref` and `DELETE groups/{id}/owners/{id}/$ref`: `204`
//!   and the direct member (owner) is gone; `404` `Request_ResourceNotFound` for an unknown group
//!   or an object that is not a direct member (owner). A group's last owner is removed too
//!   (Graph may refuse that; the fake does not emulate it).
//! - `DELETE servicePrincipals/{id}/appRoleAssignedTo/{id}`: `204` and the assignment (by its
//!   listed `id`) is gone; `404` `Request_ResourceNotFound` otherwise. Every listed app role
//!   assignment has an `id`: one recorded without a string `id` gets
//!   [`state::derived_assignment_id`] when the tenant directory is loaded.
//! - Other methods on these paths are `405`. Ids compare case-insensitively.
//!
//! Every write (reprocess of either kind and the remedies) counts toward one counter of
//! successful writes, which the `fail_writes_after` fault reads; writes are charged resource
//! units but never throttled. [`FakeStats::admin_removes`], [`FakeStats::member_removals`],
//! [`FakeStats::owner_removals`] and [`FakeStats::app_role_removals`] count the successful
//! remedies.
//!
//! Every request is charged resource units by [`throttle::resource_units`]: these
//! entitlement management and `roleManagement/directory` paths cost 1, then `$select` −1,
//! `$expand` +1, `$top` below 20 −1, never below 1 (inside `$batch` too).
//!
//! With an RU budget ([`FakeConfig::throttle_ru`]), reads are admitted against it in a sliding
//! window, and the answers tell the client how close it is, as Graph's identity and access
//! service does: once a read leaves more than 0.8 of the budget spent, its answer (direct,
//! or an inner `$batch` answer's `headers`) carries `x-ms-throttle-limit-percentage`, the share
//! spent as a ratio with two decimals rounded up and capped at 1.8 (`0.85`, not `85`). A `429`
//! of the budget carries it too (the share the refused read would have brought, so above 1),
//! with `Retry-After`, `x-ms-throttle-scope: Tenant_Application/Read/<client id>/<tenant id>`
//! and `x-ms-throttle-information: ResourceUnitLimitExceeded`. Writes and the audit log,
//! which the budget does not limit, never carry them. [`FakeStats::throttle_warnings`] counts
//! the answers that carried the percentage.
//!
//! The audit log (`auditLogs/…`) is a logs/reports API: it costs 0 RU, never meets the RU
//! budget, and has its own limit instead, [`FakeConfig::reports_limit`] (default 5 requests
//! per 10 s per client id, counted on GETs, `$batch` inner ones included): over it, `429`
//! `TooManyRequests` with `Retry-After` in whole seconds (≥ 1) until the oldest request leaves
//! the window. [`FakeStats::audit_log_requests`] and [`FakeStats::audit_log_throttled`] count
//! them (the 429s are in `throttled` too).
//!
//! The clock: [`FakeConfig::now`] (`--now RFC3339` on the command line) fixes the time the
//! 14-day window is measured against and the creation time of grants reprocess adds; unset,
//! it is the real UTC time.

pub mod access;
pub mod audit_log;
pub mod auth;
pub mod batch;
pub mod cli;
pub mod dispatch;
pub mod faults;
pub mod query;
pub mod receiver;
pub mod server;
pub mod shared;
pub mod sharepoint;
pub mod state;
#[cfg(test)]
mod tests;
pub mod throttle;

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::net::TcpListener;
use tokio::sync::oneshot;

pub use cli::{run, FakeArgs};
pub use faults::Faults;
pub use state::FakeStats;
pub use throttle::ReportsLimit;

use server::TlsListener;
use shared::{Settings, Shared};
use state::{Counters, Data, Tokens};

/// Name of the faults file read from the tenant directory when no faults are given.
pub const FAULTS_FILE: &str = "faults.json";

/// Every option of the fake server. Holds the client secret: its `Debug` redacts it.
#[derive(Clone)]
pub struct FakeConfig {
    pub tenant_dir: PathBuf,
    /// Must be on 127.0.0.1; port 0 picks a free port.
    pub addr: SocketAddr,
    /// Where to write the certificate's PEM (what clients must trust).
    pub ca_out: Option<PathBuf>,
    /// `None`: any client id is accepted.
    pub client_id: Option<String>,
    /// `None`: any client secret is accepted.
    pub client_secret: Option<String>,
    /// Sleep once per HTTP request (a `$batch` envelope once, not per inner request).
    pub latency_ms: u64,
    /// RU budget per window; `None`: no throttling (and no `x-ms-throttle-*` headers).
    pub throttle_ru: Option<u64>,
    pub throttle_window_ms: u64,
    /// Page size of lists when `$top` is absent.
    pub page_size: usize,
    /// The most items any page holds, whatever `$top` asks (Graph treats `$top` as a hint);
    /// `None`: `$top` is honoured.
    pub max_page_size: Option<usize>,
    /// Page size of the assignments list (which ignores `$top`).
    pub assignment_page_size: usize,
    /// At most this many `resourceRoleScopes` in every access package served (list and single
    /// GET), like Graph's cap on expanded collections; `None`: all of them.
    pub expand_cap: Option<usize>,
    /// With `expand_cap`: a package that lost scopes carries `resourceRoleScopes@odata.nextLink`
    /// to the rest (the per-package collection). Without it the rest is silently dropped, as
    /// Graph documents for `$expand` on directory objects.
    pub expand_next_link: bool,
    /// `None`: `<tenant_dir>/faults.json` if it exists, else no faults.
    /// `Some(Faults::default())`: no faults whatever the directory holds.
    pub faults: Option<Faults>,
    /// The fake's clock, fixed: what the 14-day window of an assignment request reprocess is
    /// measured against, and the time stamped on grants that reprocess adds. `None`: the real
    /// UTC time.
    pub now: Option<chrono::DateTime<chrono::Utc>>,
    /// The audit log's own request limit per client id (the logs/reports APIs' limit, in
    /// requests rather than resource units). Default [`ReportsLimit::DEFAULT`], 5 per 10 s;
    /// `None`: unlimited.
    pub reports_limit: Option<ReportsLimit>,
}

impl std::fmt::Debug for FakeConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeConfig")
            .field("tenant_dir", &self.tenant_dir)
            .field("addr", &self.addr)
            .field("ca_out", &self.ca_out)
            .field("client_id", &self.client_id)
            .field(
                "client_secret",
                &self.client_secret.as_ref().map(|_| "[redacted]"),
            )
            .field("latency_ms", &self.latency_ms)
            .field("throttle_ru", &self.throttle_ru)
            .field("throttle_window_ms", &self.throttle_window_ms)
            .field("page_size", &self.page_size)
            .field("max_page_size", &self.max_page_size)
            .field("assignment_page_size", &self.assignment_page_size)
            .field("expand_cap", &self.expand_cap)
            .field("expand_next_link", &self.expand_next_link)
            .field("faults", &self.faults)
            .field("now", &self.now)
            .field("reports_limit", &self.reports_limit)
            .finish()
    }
}

impl FakeConfig {
    /// The defaults of the `fake-graph` binary for a tenant directory.
    pub fn new(tenant_dir: impl Into<PathBuf>) -> Self {
        FakeConfig {
            tenant_dir: tenant_dir.into(),
            addr: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            ca_out: None,
            client_id: None,
            client_secret: None,
            latency_ms: 0,
            throttle_ru: None,
            throttle_window_ms: 10_000,
            page_size: 100,
            max_page_size: None,
            assignment_page_size: 100,
            expand_cap: None,
            expand_next_link: false,
            faults: None,
            now: None,
            reports_limit: Some(ReportsLimit::DEFAULT),
        }
    }

    fn check(&self) -> Result<(), String> {
        if self.addr.ip() != std::net::IpAddr::V4(Ipv4Addr::LOCALHOST) {
            return Err(format!(
                "fake-graph listens on 127.0.0.1 only, not {}",
                self.addr.ip()
            ));
        }
        for (name, size) in [
            ("page size", self.page_size),
            ("assignment page size", self.assignment_page_size),
        ] {
            if size == 0 {
                return Err(format!("the {name} must be at least 1"));
            }
        }
        if self.throttle_ru.is_some() && self.throttle_window_ms == 0 {
            return Err("the throttle window must be at least 1 ms".into());
        }
        if let Some(limit) = &self.reports_limit {
            limit.check()?;
        }
        Ok(())
    }
}

/// A fake server running on the current tokio runtime. Dropping it stops the server.
pub struct RunningFake {
    /// `https://127.0.0.1:PORT` (Graph lives below `/v1.0`, tokens at `/{tenant}/oauth2/v2.0/token`).
    pub url: String,
    /// `https://127.0.0.1:PORT2`: SharePoint REST (`/sites/<name>/_api/...`), its own origin.
    pub sharepoint_url: String,
    /// The self-signed certificate to trust (PEM).
    pub ca_pem: String,
    pub addr: SocketAddr,
    /// The tenant id the token endpoint expects.
    pub tenant_id: String,
    shared: Arc<Shared>,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl RunningFake {
    /// Every SharePoint request, `(method, path?query, authorized)`, in order.
    pub fn sharepoint_requests(&self) -> Vec<(String, String, bool)> {
        state::lock(&self.shared.sharepoint_log).clone()
    }

    /// What `GET /_fake/stats` would answer, read directly.
    pub fn stats(&self) -> FakeStats {
        self.shared.stats()
    }

    /// Every Graph request the fake received, `(method, path?query below /v1.0/)`, in order:
    /// `$batch` envelopes and their inner requests alike.
    pub fn requests(&self) -> Vec<(String, String)> {
        state::lock(&self.shared.request_log).clone()
    }

    /// Every `sendMail` the fake accepted, in order.
    pub fn sent_mail(&self) -> Vec<dispatch::mail::SentMail> {
        state::lock(&self.shared.outbox).clone()
    }

    /// Stops accepting, lets requests in flight finish (at most 5 s), and returns.
    pub async fn shutdown(mut self) {
        if let Some(signal) = self.shutdown.take() {
            let _ = signal.send(());
        }
        if let Some(task) = self.task.take() {
            if tokio::time::timeout(Duration::from_secs(5), task)
                .await
                .is_err()
            {
                tracing::warn!("fake-graph: connections still open after 5 s; stopping anyway");
            }
        }
    }
}

impl Drop for RunningFake {
    fn drop(&mut self) {
        if let Some(signal) = self.shutdown.take() {
            let _ = signal.send(());
        }
    }
}

/// Loads the tenant directory and faults, generates the certificate, writes it to `ca_out`,
/// binds, and serves in a background task. Errors name the file or option at fault.
pub async fn start(config: FakeConfig) -> Result<RunningFake, String> {
    install_crypto_provider();
    config.check()?;
    let dir = config.tenant_dir.clone();
    let mut data = tokio::task::spawn_blocking(move || Data::load(&dir))
        .await
        .map_err(|e| format!("loading the tenant directory: {e}"))??;
    data.clock = config.now;
    let faults = match config.faults.clone() {
        Some(faults) => faults,
        None => {
            let path = config.tenant_dir.join(FAULTS_FILE);
            if path.is_file() {
                Faults::read(&path)?
            } else {
                Faults::default()
            }
        }
    };
    let (ca_pem, tls) = server::make_certificate()?;
    if let Some(path) = &config.ca_out {
        std::fs::write(path, &ca_pem)
            .map_err(|e| format!("writing the certificate to `{}`: {e}", path.display()))?;
    }
    let tcp = TcpListener::bind(config.addr)
        .await
        .map_err(|e| format!("binding {}: {e}", config.addr))?;
    let addr = tcp
        .local_addr()
        .map_err(|e| format!("listening address: {e}"))?;
    let url = format!("https://127.0.0.1:{}", addr.port());
    // SharePoint REST on a second port: an origin of its own, as a tenant's SharePoint is.
    let sharepoint_tcp = TcpListener::bind((config.addr.ip(), 0))
        .await
        .map_err(|e| format!("binding a port for SharePoint: {e}"))?;
    let sharepoint_addr = sharepoint_tcp
        .local_addr()
        .map_err(|e| format!("listening address: {e}"))?;
    let sharepoint_url = format!("https://127.0.0.1:{}", sharepoint_addr.port());
    let sharepoint_listener = TlsListener::new(sharepoint_tcp, tls.clone())
        .map_err(|e| format!("listening on {sharepoint_addr}: {e}"))?;
    let listener = TlsListener::new(tcp, tls).map_err(|e| format!("listening on {addr}: {e}"))?;

    let tenant_id = data.tenant_id.clone();
    let fault_state = faults::FaultState::new(&faults);
    let shared = Arc::new(Shared {
        base_url: url.clone(),
        sharepoint_url: sharepoint_url.clone(),
        sharepoint_log: std::sync::Mutex::new(Vec::new()),
        tenant_id: tenant_id.clone(),
        settings: Settings {
            page_size: config.page_size,
            max_page_size: config.max_page_size,
            assignment_page_size: config.assignment_page_size,
            expand_cap: config.expand_cap,
            expand_next_link: config.expand_next_link,
            foreign_links: faults
                .foreign_next_link
                .as_ref()
                .map(faults::ForeignLinks::new),
            latency: Duration::from_millis(config.latency_ms),
            client_id: config.client_id.clone(),
            client_secret: config.client_secret.clone(),
            fail_writes_after: faults.fail_writes_after,
            fail_writes_status: fault_state.fail_writes_status,
        },
        started: Instant::now(),
        data: Mutex::new(data),
        tokens: Mutex::new(Tokens::new(faults.expire_token_after)),
        faults: Mutex::new(fault_state),
        throttle: config.throttle_ru.map(|budget| {
            Mutex::new(throttle::SlidingWindow::new(
                budget,
                Duration::from_millis(config.throttle_window_ms),
            ))
        }),
        reports: config
            .reports_limit
            .map(|limit| Mutex::new(throttle::ReportsWindows::new(limit))),
        counters: Counters::default(),
        outbox: std::sync::Mutex::new(Vec::new()),
        request_log: std::sync::Mutex::new(Vec::new()),
    });

    let (signal, stop) = oneshot::channel::<()>();
    let app = server::router(shared.clone());
    let sharepoint_app = server::router(shared.clone());
    let task = tokio::spawn(async move {
        // A dropped sender stops the server too.
        let stopped = async move {
            let _ = stop.await;
        };
        let sharepoint = tokio::spawn(async move {
            if let Err(error) = axum::serve(sharepoint_listener, sharepoint_app).await {
                tracing::error!(%error, "fake-graph SharePoint server failed");
            }
        });
        if let Err(error) = axum::serve(listener, app)
            .with_graceful_shutdown(stopped)
            .await
        {
            tracing::error!(%error, "fake-graph server failed");
        }
        sharepoint.abort();
    });
    tracing::info!(%url, tenant = %tenant_id, "fake-graph listening");
    Ok(RunningFake {
        url,
        sharepoint_url,
        ca_pem,
        addr,
        tenant_id,
        shared,
        shutdown: Some(signal),
        task: Some(task),
    })
}

/// Installs the ring crypto provider for rustls (built without a default one). Idempotent.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}
