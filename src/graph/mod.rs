//! The Microsoft Graph client: the only code that speaks HTTP to Graph. Paging, JSON
//! batching, bounded concurrency, throttle-aware retry, token refresh, and request counting.

pub mod auth;
mod batch;
pub mod endpoint;
pub mod error;
pub mod pace;
pub mod paths;
pub mod retry;
pub mod sharepoint;
pub mod transport;

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use reqwest::header::HeaderMap;
use reqwest::Method;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;
use tokio::sync::Semaphore;

pub use auth::{choose, Authenticator, Cloud, CredentialKind, CredentialSettings};
pub use error::{GraphError, GraphErrorKind};
pub use retry::RetryPolicy;

/// Requests in flight at once, by default. Graph throttles per app and tenant on resource
/// units, not connections, and reads are paced to the budget (`pace::UnitPace`): enough in
/// flight to keep a partitioned read budget-bound rather than latency-bound at a real tenant's
/// 150 ms (4 measured 115 s for the `large` partitioned read there, 8 measured 77 s).
pub const DEFAULT_CONCURRENCY: usize = 8;
/// Graph's limit of requests in one `$batch`.
pub const BATCH_SIZE: usize = 20;
pub use paths::PAGE_SIZE;
/// Pages one list may have before we stop trusting its nextLinks (10 million members at 999).
const MAX_PAGES: usize = 20_000;

/// Installs the ring crypto provider for rustls (reqwest is built without one). Idempotent.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Builds the one HTTP client every Graph and token request goes through. Trusts the system
/// roots; `SSL_CERT_FILE` replaces them (as for the fake Graph server's test certificate).
pub fn build_http_client() -> Result<reqwest::Client, GraphError> {
    install_crypto_provider();
    reqwest::Client::builder()
        .user_agent(concat!("entra-drift/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(Duration::from_secs(20))
        .timeout(Duration::from_secs(120))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| GraphError::new(GraphErrorKind::Transport, "client", e.to_string()))
}

/// Told each page's items as they arrive.
type OnItems<'a> = &'a (dyn Fn(&[Value]) + Sync);

/// What the client did, for the manifest and the benchmarks.
#[derive(Debug, Default)]
pub struct Stats {
    pub requests: AtomicU64,
    /// Inner requests of `$batch` calls (each costs resource units on its own).
    pub batched_requests: AtomicU64,
    pub resource_units: AtomicU64,
    pub throttled: AtomicU64,
    pub throttle_wait_ms: AtomicU64,
    pub retries: AtomicU64,
    pub token_renewals: AtomicU64,
}

/// What a request reserves of the resource-unit budget before it leaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cost {
    /// Writes: Graph limits them separately (apply paces them itself).
    Unpaced,
    /// One read: reserves its documented price; its answer settles the difference.
    Read,
    /// A `$batch` of reads: reserves their documented prices; the inner answers settle them.
    Batch(u64),
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct StatsReport {
    pub requests: u64,
    pub batched_requests: u64,
    pub resource_units: u64,
    pub throttled: u64,
    pub throttle_wait_ms: u64,
    pub retries: u64,
    pub token_renewals: u64,
    /// Answers that carried `x-ms-throttle-limit-percentage` (over 0.8 of the budget).
    #[serde(default)]
    pub throttle_warnings: u64,
    /// Time requests waited for room in the resource-unit budget (pacing, not throttling).
    #[serde(default)]
    pub paced_wait_ms: u64,
    /// The resource-unit budget per 10 s the client paced to: given (`--ru-budget`) or
    /// learned from Graph's headers; absent when neither.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ru_budget: Option<u64>,
    /// How the delivered assignments were read (`chain` or `partitioned`) and why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assignment_read: Option<String>,
}

impl Stats {
    pub fn report(&self) -> StatsReport {
        let get = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        StatsReport {
            requests: get(&self.requests),
            batched_requests: get(&self.batched_requests),
            resource_units: get(&self.resource_units),
            throttled: get(&self.throttled),
            throttle_wait_ms: get(&self.throttle_wait_ms),
            retries: get(&self.retries),
            token_renewals: get(&self.token_renewals),
            ..StatsReport::default()
        }
    }

    fn add(counter: &AtomicU64, value: u64) {
        counter.fetch_add(value, Ordering::Relaxed);
    }
}

/// One answer, body read in full.
#[derive(Debug)]
struct Answer {
    status: u16,
    headers: HeaderMap,
    body: bytes::Bytes,
}

#[derive(Clone)]
pub struct GraphClient {
    http: reqwest::Client,
    /// `https://graph.microsoft.com/v1.0`
    base: String,
    /// The Graph root's scheme, host and port: the only origin links are followed to.
    origin: url::Url,
    auth: Arc<Authenticator>,
    stats: Arc<Stats>,
    retry: RetryPolicy,
    permits: Arc<Semaphore>,
    concurrency: usize,
    units: Arc<pace::UnitPace>,
    /// `false` for the naive comparison client of the benchmarks: one request per read.
    batching: bool,
    /// Mean seconds per request so far (sum of microseconds, answers): what a nextLink chain
    /// costs per page, for choosing how to read assignments.
    latency: Arc<(AtomicU64, AtomicU64)>,
}

impl GraphClient {
    pub fn new(
        http: reqwest::Client,
        graph_root: &str,
        auth: Authenticator,
        retry: RetryPolicy,
        concurrency: usize,
    ) -> Result<Self, GraphError> {
        let concurrency = concurrency.max(1);
        let origin = endpoint::check_root("the Graph root", graph_root)
            .map_err(|message| GraphError::new(GraphErrorKind::Transport, "client", message))?;
        Ok(GraphClient {
            http,
            origin,
            base: format!("{}/v1.0", graph_root.trim_end_matches('/')),
            auth: Arc::new(auth),
            stats: Arc::new(Stats::default()),
            retry,
            permits: Arc::new(Semaphore::new(concurrency)),
            concurrency,
            units: Arc::new(pace::UnitPace::new(None)),
            batching: true,
            latency: Arc::default(),
        })
    }

    /// Turns `$batch` off (every read a request of its own): the benchmarks' naive client.
    pub fn without_batching(mut self) -> Self {
        self.batching = false;
        self
    }

    /// Paces reads to this many resource units per 10 s (`--ru-budget`) instead of the
    /// budget learned from Graph's headers.
    pub fn with_unit_budget(mut self, budget: Option<u64>, window: Duration) -> Self {
        self.units = Arc::new(pace::UnitPace::with_window(budget, window));
        self
    }

    pub fn stats(&self) -> StatsReport {
        let pacing = self.units.report();
        StatsReport {
            throttle_warnings: pacing.warnings,
            paced_wait_ms: pacing.waited.as_millis() as u64,
            ru_budget: pacing.budget.map(|b| b.round() as u64),
            ..self.stats.report()
        }
    }

    pub fn concurrency(&self) -> usize {
        self.concurrency
    }

    /// What a SharePoint client shares with this one: the one HTTP client (its trust and
    /// TLS), the credential, and the retry bounds.
    pub(crate) fn shared_parts(&self) -> (reqwest::Client, Arc<Authenticator>, RetryPolicy) {
        (self.http.clone(), self.auth.clone(), self.retry.clone())
    }

    /// The mean time a request took from sending to its whole answer, once one has.
    pub fn mean_latency(&self) -> Option<Duration> {
        let micros = self.latency.0.load(Ordering::Relaxed);
        let answers = self.latency.1.load(Ordering::Relaxed);
        (answers > 0).then(|| Duration::from_micros(micros / answers))
    }

    /// The resource-unit budget pacing uses: given (`--ru-budget`) or learned; `None` before.
    pub fn unit_budget(&self) -> Option<f64> {
        self.units.report().budget
    }

    pub fn batching(&self) -> bool {
        self.batching
    }

    /// The absolute URL of a path relative to `/v1.0/`.
    pub fn url(&self, relative: &str) -> String {
        format!("{}/{}", self.base, relative.trim_start_matches('/'))
    }

    /// A link from a response (`@odata.nextLink`, `@odata.deltaLink`, a property's nextLink) is
    /// followed only on the Graph root's own scheme, host and port: the bearer token goes
    /// nowhere else.
    pub fn check_link(&self, request: &str, link: &str) -> Result<(), GraphError> {
        let refuse = |what: String| {
            GraphError::new(
                GraphErrorKind::ForeignLink,
                format!("GET {}", self.relative(request)),
                what,
            )
        };
        let parsed =
            url::Url::parse(link).map_err(|e| refuse(format!("a link that is not a URL ({e})")))?;
        if !endpoint::same_origin(&self.origin, &parsed) {
            return Err(refuse(format!(
                "a link to `{}://{}{}`, not the Graph root `{}`",
                parsed.scheme(),
                parsed.host_str().unwrap_or("?"),
                parsed.port().map(|p| format!(":{p}")).unwrap_or_default(),
                self.origin.as_str().trim_end_matches('/')
            )));
        }
        Ok(())
    }

    /// The path and query of a URL below the Graph root, for messages and `$batch`.
    pub fn relative<'a>(&self, url: &'a str) -> &'a str {
        url.strip_prefix(&self.base)
            .unwrap_or(url)
            .trim_start_matches('/')
    }

    /// Sends one request, retrying transient failures and renewing the token once on `401`.
    /// Returns the final answer whatever its status; transport failures after retries (or at
    /// once, for permanent ones) are errors.
    async fn execute(
        &self,
        method: Method,
        url: &str,
        body: Option<&Value>,
        cost: Cost,
    ) -> Result<Answer, GraphError> {
        let request_name = format!("{method} {}", self.relative(url));
        // Every Graph request goes to the Graph root's own https origin (checked when the
        // client was built): a bearer token never travels in clear text or elsewhere. (The
        // client is not https-only as a whole: a managed identity endpoint is local http.)
        self.check_link(url, url)?;
        let mut attempts = Attempts::new(self);
        let mut renewed = false;
        loop {
            let attempt = attempts.next();
            let token = self.auth.token().await?;
            let reserved = match cost {
                Cost::Unpaced => 0,
                Cost::Read => pace::expected_units(self.relative(url)),
                Cost::Batch(units) => units,
            };
            let reservation = match reserved {
                0 => None,
                units => Some(self.units.wait(units).await),
            };
            let sent = {
                // The semaphore lives as long as the client and is never closed.
                let _permit = self.permits.acquire().await.ok();
                let mut request = self
                    .http
                    .request(method.clone(), url)
                    .bearer_auth(token.secret())
                    .header("Retry-Attempt", (attempt - 1).to_string())
                    // Evolvable enums' newer members by name rather than as
                    // `unknownFutureValue` (entra_model::enums keeps what it does not know).
                    .header("Prefer", PREFER);
                if let Some(body) = body {
                    request = request.json(body);
                }
                Stats::add(&self.stats.requests, 1);
                let sent_at = std::time::Instant::now();
                let answer = match request.send().await {
                    Ok(response) => {
                        let status = response.status().as_u16();
                        let headers = response.headers().clone();
                        // A body cut off mid-way is a transport failure, retried like one.
                        response.bytes().await.map(|body| Answer {
                            status,
                            headers,
                            body,
                        })
                    }
                    Err(error) => Err(error),
                };
                if answer.is_ok() {
                    let micros = sent_at.elapsed().as_micros() as u64;
                    Stats::add(&self.latency.0, micros);
                    Stats::add(&self.latency.1, 1);
                }
                answer
            };
            match sent {
                Ok(answer) => {
                    let units = header_number(&answer.headers, "x-ms-resource-unit");
                    if let Some(units) = units {
                        Stats::add(&self.stats.resource_units, units);
                    }
                    match (cost, reservation) {
                        // The inner answers settle a batch; one refused as a whole spent nothing.
                        (Cost::Batch(_), Some(reservation)) => {
                            if (200..300).contains(&answer.status) {
                                reservation.hand_over();
                            } else {
                                reservation.settle(Some(0), None);
                            }
                        }
                        (_, Some(reservation)) => {
                            let share = answer
                                .headers
                                .get("x-ms-throttle-limit-percentage")
                                .and_then(|v| v.to_str().ok())
                                .and_then(pace::parse_share);
                            // A throttled read spent nothing, whatever it is stamped.
                            let spent = if answer.status == 429 { Some(0) } else { units };
                            reservation.settle(spent, share);
                        }
                        (_, None) => {}
                    }
                    if answer.status == 429 && cost != Cost::Unpaced {
                        self.units.throttled(std::time::Instant::now());
                    }
                    if answer.status == 401 && !renewed {
                        renewed = true;
                        Stats::add(&self.stats.token_renewals, 1);
                        tracing::info!(request = %request_name, "401 from Graph: renewing the token once");
                        self.auth.renew().await?;
                        continue;
                    }
                    if retry::is_retryable_status(answer.status) {
                        let hint = answer
                            .headers
                            .get("retry-after")
                            .and_then(|v| v.to_str().ok())
                            .and_then(|v| retry::parse_retry_after(v, chrono::Utc::now()));
                        if answer.status == 429 {
                            Stats::add(&self.stats.throttled, 1);
                        }
                        tracing::debug!(request = %request_name, status = answer.status, "transient status");
                        if attempts.wait_again(hint).await {
                            continue;
                        }
                        tracing::warn!(request = %request_name, status = answer.status, "{}", attempts.gave_up());
                    }
                    return Ok(answer);
                }
                Err(error) => {
                    // No answer: whether the server counted it is unknown; kept as spent.
                    drop(reservation);
                    // Graph URLs carry no credentials (tokens are headers): safe to show.
                    let message = entra_model::error::chain(&error);
                    if let Some(hint) = transport::permanent_hint(&error) {
                        return Err(GraphError::new(
                            GraphErrorKind::Unreachable(hint),
                            request_name,
                            message,
                        ));
                    }
                    tracing::debug!(request = %request_name, error = %message, "transport error");
                    if attempts.wait_again(None).await {
                        continue;
                    }
                    return Err(GraphError::new(
                        GraphErrorKind::Transport,
                        request_name,
                        format!("{message} ({})", attempts.gave_up()),
                    ));
                }
            }
        }
    }

    /// GET one JSON object; a non-2xx status is an error carrying Graph's message.
    pub async fn get_json(&self, url: &str) -> Result<Value, GraphError> {
        let answer = self.execute(Method::GET, url, None, Cost::Read).await?;
        decode(self.relative(url), answer)
    }

    /// POST with no body (actions such as reprocess); returns the 2xx status.
    pub async fn post_action(&self, url: &str) -> Result<u16, GraphError> {
        let answer = self.execute(Method::POST, url, None, Cost::Unpaced).await?;
        let request = format!("POST {}", self.relative(url));
        if (200..300).contains(&answer.status) {
            Ok(answer.status)
        } else {
            Err(status_error(&request, answer.status, &answer.body))
        }
    }

    /// POST a JSON body (e.g. an assignment request); returns the 2xx answer's body (or null).
    pub async fn post_json(&self, url: &str, body: &Value) -> Result<Value, GraphError> {
        let answer = self
            .execute(Method::POST, url, Some(body), Cost::Unpaced)
            .await?;
        let request = format!("POST {}", self.relative(url));
        if (200..300).contains(&answer.status) {
            Ok(serde_json::from_slice(&answer.body).unwrap_or(Value::Null))
        } else {
            Err(status_error(&request, answer.status, &answer.body))
        }
    }

    /// DELETE (a member `$ref`, an app role assignment); returns the 2xx status.
    pub async fn delete(&self, url: &str) -> Result<u16, GraphError> {
        let answer = self
            .execute(Method::DELETE, url, None, Cost::Unpaced)
            .await?;
        let request = format!("DELETE {}", self.relative(url));
        if (200..300).contains(&answer.status) {
            Ok(answer.status)
        } else {
            Err(status_error(&request, answer.status, &answer.body))
        }
    }

    /// Every item of a collection, following `@odata.nextLink` verbatim until it is absent.
    pub async fn list(&self, url: &str) -> Result<Vec<Value>, GraphError> {
        self.list_with(url, &|_| {}).await
    }

    /// [`GraphClient::list`], telling `on_page` how many items each page held (progress).
    pub async fn list_with(
        &self,
        url: &str,
        on_page: &(dyn Fn(usize) + Sync),
    ) -> Result<Vec<Value>, GraphError> {
        let first = self.get_json(url).await?;
        self.list_rest(url, first, on_page).await
    }

    /// [`GraphClient::list_with`] for an API with a request limit of its own: every page
    /// request waits for `pace` first.
    pub async fn list_paced(
        &self,
        url: &str,
        on_page: &(dyn Fn(usize) + Sync),
        pace: &pace::Pace,
    ) -> Result<Vec<Value>, GraphError> {
        pace.wait().await;
        let first = self.get_json(url).await?;
        self.list_pages(url, first, on_page, Some(pace), None).await
    }

    /// [`GraphClient::list_with`], handing `on_items` each page's items as it arrives (so that
    /// work on them can start before the list ends).
    pub async fn list_streaming(
        &self,
        url: &str,
        on_page: &(dyn Fn(usize) + Sync),
        on_items: &(dyn Fn(&[Value]) + Sync),
    ) -> Result<Vec<Value>, GraphError> {
        let first = self.get_json(url).await?;
        self.list_pages(url, first, on_page, None, Some(on_items))
            .await
    }

    /// Obtains the first token (a run's sign-in stage; later requests reuse it).
    pub async fn sign_in(&self) -> Result<(), GraphError> {
        self.auth.token().await.map(|_| ())
    }

    /// Typed [`GraphClient::list`]; an item that does not fit `T` is a decode error naming it.
    pub async fn list_as<T: DeserializeOwned>(&self, url: &str) -> Result<Vec<T>, GraphError> {
        let items = self.list(url).await?;
        items
            .into_iter()
            .map(|item| {
                serde_json::from_value(item).map_err(|e| {
                    GraphError::new(
                        GraphErrorKind::Decode,
                        format!("GET {}", self.relative(url)),
                        e.to_string(),
                    )
                })
            })
            .collect()
    }

    /// Continues a collection from its first page (read directly or inside a batch).
    async fn list_rest(
        &self,
        url: &str,
        first: Value,
        on_page: &(dyn Fn(usize) + Sync),
    ) -> Result<Vec<Value>, GraphError> {
        self.list_pages(url, first, on_page, None, None).await
    }

    async fn list_pages(
        &self,
        url: &str,
        first: Value,
        on_page: &(dyn Fn(usize) + Sync),
        pace: Option<&pace::Pace>,
        on_items: Option<OnItems<'_>>,
    ) -> Result<Vec<Value>, GraphError> {
        let mut seen = HashSet::from([url.to_string()]);
        let mut page = first;
        let mut items = Vec::new();
        for _ in 0..MAX_PAGES {
            let (values, next) = split_page(self.relative(url), page)?;
            on_page(values.len());
            if let Some(on_items) = on_items {
                on_items(&values);
            }
            items.extend(values);
            let Some(next) = next else {
                return Ok(items);
            };
            self.check_link(url, &next)?;
            if !seen.insert(next.clone()) {
                return Err(GraphError::new(
                    GraphErrorKind::NextLinkLoop,
                    format!("GET {}", self.relative(url)),
                    format!("nextLink `{}` was already read", self.relative(&next)),
                ));
            }
            if let Some(pace) = pace {
                pace.wait().await;
            }
            page = self.get_json(&next).await?;
        }
        Err(GraphError::new(
            GraphErrorKind::NextLinkLoop,
            format!("GET {}", self.relative(url)),
            format!("more than {MAX_PAGES} pages"),
        ))
    }

    /// Reads many collections (paths relative to `/v1.0/`): first pages through `$batch`,
    /// further pages directly. Each collection succeeds or fails on its own, in input order.
    pub async fn list_many(&self, paths: &[String]) -> Vec<Result<Vec<Value>, GraphError>> {
        self.list_many_with(paths, &|_| {}).await
    }

    /// [`GraphClient::list_many`], telling `on_page` how many items each page held.
    pub async fn list_many_with(
        &self,
        paths: &[String],
        on_page: &(dyn Fn(usize) + Sync),
    ) -> Vec<Result<Vec<Value>, GraphError>> {
        use futures_util::StreamExt;
        if !self.batching {
            let reads = paths
                .iter()
                .map(|path| async move { self.list_with(&self.url(path), on_page).await });
            return futures_util::stream::iter(reads)
                .buffered(self.concurrency)
                .collect()
                .await;
        }
        let first_pages = self.batch_get(paths).await;
        let work = paths
            .iter()
            .zip(first_pages)
            .map(|(path, first)| async move {
                let url = self.url(path);
                self.list_rest(&url, first?, on_page).await
            });
        futures_util::stream::iter(work)
            .buffered(self.concurrency * BATCH_SIZE)
            .collect()
            .await
    }
}

/// `{"value": [...], "@odata.nextLink": "..."}` → items and the next link.
fn split_page(request: &str, page: Value) -> Result<(Vec<Value>, Option<String>), GraphError> {
    let Value::Object(mut object) = page else {
        return Err(GraphError::new(
            GraphErrorKind::Decode,
            format!("GET {request}"),
            "a page is not a JSON object",
        ));
    };
    let next = match object.remove("@odata.nextLink") {
        Some(Value::String(link)) => Some(link),
        Some(Value::Null) | None => None,
        Some(_) => {
            return Err(GraphError::new(
                GraphErrorKind::Decode,
                format!("GET {request}"),
                "@odata.nextLink is not a string",
            ))
        }
    };
    match object.remove("value") {
        Some(Value::Array(values)) => Ok((values, next)),
        _ => Err(GraphError::new(
            GraphErrorKind::Decode,
            format!("GET {request}"),
            "a page has no `value` array",
        )),
    }
}

fn decode(relative: &str, answer: Answer) -> Result<Value, GraphError> {
    let request = format!("GET {relative}");
    if !(200..300).contains(&answer.status) {
        return Err(status_error(&request, answer.status, &answer.body));
    }
    serde_json::from_slice(&answer.body)
        .map_err(|e| GraphError::new(GraphErrorKind::Decode, request, e.to_string()))
}

/// A status error with Graph's own `error.code: error.message`, when the body has one.
pub(crate) fn status_error(request: &str, status: u16, body: &[u8]) -> GraphError {
    GraphError::new(GraphErrorKind::Status(status), request, graph_message(body))
}

fn graph_message(body: &[u8]) -> String {
    let parsed: Option<Value> = serde_json::from_slice(body).ok();
    let error = parsed.as_ref().and_then(|v| v.get("error"));
    let code = error.and_then(|e| e.get("code")).and_then(Value::as_str);
    let message = error.and_then(|e| e.get("message")).and_then(Value::as_str);
    match (code, message) {
        (Some(code), Some(message)) => format!("{code}: {message}"),
        (Some(code), None) => code.to_string(),
        (None, Some(message)) => message.to_string(),
        (None, None) => "no error details".to_string(),
    }
}

/// Sent with every Graph request, and inside every `$batch` request.
pub const PREFER: &str = "include-unknown-enum-members";

fn header_number(headers: &HeaderMap, name: &str) -> Option<u64> {
    headers.get(name)?.to_str().ok()?.trim().parse().ok()
}

/// The retry state of one request, direct or `$batch`: one loop's bookkeeping shared by both,
/// so that both wait, count and give up the same way.
struct Attempts<'a> {
    client: &'a GraphClient,
    attempt: u32,
    waited: Duration,
}

impl<'a> Attempts<'a> {
    fn new(client: &'a GraphClient) -> Self {
        Attempts {
            client,
            attempt: 0,
            waited: Duration::ZERO,
        }
    }

    /// Starts the next attempt; returns its number (from 1).
    fn next(&mut self) -> u32 {
        self.attempt += 1;
        self.attempt
    }

    /// After a transient failure: waits (honouring Graph's `Retry-After`) and returns `true`
    /// when the policy allows another attempt, `false` to give up.
    async fn wait_again(&mut self, retry_after: Option<Duration>) -> bool {
        let Some(wait) = self
            .client
            .retry
            .next_wait(self.attempt, retry_after, self.waited)
        else {
            return false;
        };
        let stats = &self.client.stats;
        Stats::add(&stats.retries, 1);
        Stats::add(&stats.throttle_wait_ms, wait.as_millis() as u64);
        tokio::time::sleep(wait).await;
        self.waited += wait;
        true
    }

    /// What the last failure was preceded by, for its message.
    fn gave_up(&self) -> String {
        format!(
            "gave up after {} attempt(s) and {:.1} s of waiting; the limits are {} attempts and {} s (--max-retry-wait)",
            self.attempt,
            self.waited.as_secs_f64(),
            self.client.retry.max_attempts,
            self.client.retry.max_total_wait.as_secs()
        )
    }
}
