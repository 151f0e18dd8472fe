//! SharePoint REST for site roles (Graph has no API for a classic site's groups): one site
//! group's record and its users, with a token for the site's own SharePoint origin from the
//! same credential. The token goes only to that origin (or to `--sharepoint-url`, an override
//! for a local fake, accepted only on loopback or a SharePoint domain), over https; links in
//! answers elsewhere are refused. SharePoint's own limits: `429`/`503` with `Retry-After` or
//! `RateLimit-Reset`, waited out within the same bound as Graph's; a decorated `User-Agent`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tokio::sync::Semaphore;

use super::auth::{Authenticator, CredentialKind};
use super::error::{GraphError, GraphErrorKind};
use super::retry::{self, RetryPolicy};
use super::GraphClient;
use entra_model::model::{SiteGroup, SiteUser};

/// SharePoint Online's domains (commercial, GCC High, DoD, China, Germany).
const SHAREPOINT_DOMAINS: [&str; 5] = [
    ".sharepoint.com",
    ".sharepoint.us",
    ".sharepoint-mil.us",
    ".sharepoint.cn",
    ".sharepoint.de",
];

/// The `$select` of a group's users: `AadObjectId` is returned only when selected.
pub const USER_SELECT: &str = "Id,LoginName,Title,PrincipalType,UserPrincipalName,AadObjectId";
/// A SharePoint group holds at most 5,000 users; pages beyond this many are a loop.
const MAX_PAGES: usize = 100;
/// SharePoint throttles undecorated traffic first (`NONISV|Company|App/version`).
const USER_AGENT: &str = concat!("NONISV|entra-drift|entra-drift/", env!("CARGO_PKG_VERSION"));

/// SharePoint resource units per minute by default: the smallest documented tier (a tenant of
/// up to 1,000 licences), so that a guess never throttles a small tenant.
pub const DEFAULT_BUDGET: u64 = 1_250;
/// What one REST call costs, as SharePoint documents it (about 2 units).
const UNITS_PER_CALL: u64 = 2;
const BUDGET_WINDOW: Duration = Duration::from_secs(60);

/// Why site roles cannot be read with a client secret: SharePoint refuses such app-only tokens.
pub const SECRET_REFUSED: &str =
    "SharePoint refuses app-only tokens obtained with a client secret: \
    sign in with a certificate (AZURE_CLIENT_CERTIFICATE_PATH), workload identity or a managed \
    identity to check site roles";

/// Whether `host` is SharePoint Online's.
pub fn is_sharepoint_host(host: &str) -> bool {
    let host = host.to_ascii_lowercase();
    SHAREPOINT_DOMAINS
        .iter()
        .any(|domain| host.ends_with(domain))
}

/// Checks `--sharepoint-url`: an https origin on loopback (a local fake) or a SharePoint domain.
pub fn check_override(text: &str) -> Result<url::Url, String> {
    let url = super::endpoint::check_root("the SharePoint origin (--sharepoint-url)", text)?;
    let host = url.host_str().unwrap_or_default();
    let loopback = matches!(host, "127.0.0.1" | "localhost" | "[::1]" | "::1");
    if !loopback && !is_sharepoint_host(host) {
        return Err(format!(
            "the SharePoint origin (--sharepoint-url) `{host}` is neither loopback nor a SharePoint Online domain: a token for SharePoint goes nowhere else"
        ));
    }
    Ok(url)
}

/// A site's REST base URL and the token scope for it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Site {
    /// `https://contoso.sharepoint.com/sites/Sales` (or the override's origin + the path).
    base: url::Url,
    /// `https://contoso.sharepoint.com/.default`: the site's own origin, whatever the override.
    scope: String,
}

pub struct SharePointClient {
    http: reqwest::Client,
    auth: Arc<Authenticator>,
    retry: RetryPolicy,
    origin_override: Option<url::Url>,
    permits: Semaphore,
    requests: AtomicU64,
    throttled: AtomicU64,
    /// Units per minute, and the current window's start and units spent.
    budget: u64,
    window: tokio::sync::Mutex<(tokio::time::Instant, u64)>,
}

impl SharePointClient {
    pub fn new(
        graph: &GraphClient,
        origin_override: Option<url::Url>,
        concurrency: usize,
        budget: u64,
    ) -> Self {
        let (http, auth, retry) = graph.shared_parts();
        SharePointClient {
            http,
            auth,
            retry,
            origin_override,
            permits: Semaphore::new(concurrency.max(1)),
            requests: AtomicU64::new(0),
            throttled: AtomicU64::new(0),
            budget: budget.max(UNITS_PER_CALL),
            window: tokio::sync::Mutex::new((tokio::time::Instant::now(), 0)),
        }
    }

    /// Waits until one more call fits the per-minute budget (a fixed window: SharePoint's
    /// limit is per minute), then spends it.
    async fn pace(&self) {
        let mut window = self.window.lock().await;
        let now = tokio::time::Instant::now();
        if let Some(next) = reserve(&mut window, now, self.budget) {
            tracing::info!(
                wait_ms = next.duration_since(now).as_millis() as u64,
                budget = self.budget,
                "SharePoint budget of the minute spent; waiting"
            );
            tokio::time::sleep_until(next).await;
        }
    }

    /// `Some(reason)` when the credential cannot read SharePoint at all (a client secret).
    pub fn refused_credential(&self) -> Option<&'static str> {
        (self.auth.kind() == CredentialKind::Secret).then_some(SECRET_REFUSED)
    }

    /// `(requests, throttled answers)` so far.
    pub fn counts(&self) -> (u64, u64) {
        (
            self.requests.load(Ordering::Relaxed),
            self.throttled.load(Ordering::Relaxed),
        )
    }

    fn site(&self, site_url: &str) -> Result<Site, GraphError> {
        let fail = |message: String| GraphError::new(GraphErrorKind::Transport, site_url, message);
        let parsed = url::Url::parse(site_url)
            .map_err(|e| fail(format!("the site URL is not a URL ({e})")))?;
        let host = parsed.host_str().unwrap_or_default();
        if parsed.scheme() != "https" || !is_sharepoint_host(host) {
            return Err(fail(
                "not a SharePoint Online site URL (https://<tenant>.sharepoint.com/...)".into(),
            ));
        }
        let scope = format!("https://{}/.default", host.to_ascii_lowercase());
        let mut base = parsed.clone();
        if let Some(origin) = &self.origin_override {
            base = origin.clone();
            base.set_path(parsed.path());
        }
        base.set_query(None);
        base.set_fragment(None);
        let path = base.path().trim_end_matches('/').to_string();
        base.set_path(&path);
        Ok(Site { base, scope })
    }

    /// Every group of the site (the site must exist).
    pub async fn groups(&self, site_url: &str) -> Result<Vec<SiteGroup>, GraphError> {
        let site = self.site(site_url)?;
        let url = format!(
            "{}/_api/web/sitegroups?$select=Id,Title,OnlyAllowMembersViewMembership,CanCurrentUserViewMembership",
            site.base
        );
        let page = self.get(&site, &url).await?;
        let items = page
            .get("value")
            .and_then(Value::as_array)
            .ok_or_else(|| GraphError::new(GraphErrorKind::Decode, &url, "no `value`"))?;
        items
            .iter()
            .map(|item| {
                serde_json::from_value(item.clone()).map_err(|e| {
                    GraphError::new(
                        GraphErrorKind::Decode,
                        &url,
                        format!("a site group of an unexpected shape ({e})"),
                    )
                })
            })
            .collect()
    }

    /// The token scope a site's calls use (`https://<host>/.default`).
    pub fn scope_of(&self, site_url: &str) -> Result<String, GraphError> {
        Ok(self.site(site_url)?.scope)
    }

    /// Obtains a token for the site's origin (the probe's first step).
    pub async fn sign_in(&self, site_url: &str) -> Result<(), GraphError> {
        let site = self.site(site_url)?;
        self.auth.token_for(&site.scope).await.map(|_| ())
    }

    /// What an audit, apply and verify need of a site group: its record (`None`: no such
    /// group) and, unless its members are hidden from this app, its users. A client secret
    /// reads nothing (an `Auth` error saying why): SharePoint would refuse its token.
    pub async fn read_group(
        &self,
        site_url: &str,
        group: u32,
    ) -> Result<(Option<SiteGroup>, Option<Vec<SiteUser>>), GraphError> {
        if let Some(reason) = self.refused_credential() {
            return Err(GraphError::new(GraphErrorKind::Auth, "SharePoint", reason));
        }
        match self.group(site_url, group).await? {
            Some(record) if !record.members_visible() => Ok((Some(record), None)),
            Some(record) => {
                let users = self.users(site_url, group).await?;
                Ok((Some(record), Some(users)))
            }
            None => Ok((None, None)),
        }
    }

    /// The site group's record (`None`: no such group, or no such site).
    pub async fn group(&self, site_url: &str, group: u32) -> Result<Option<SiteGroup>, GraphError> {
        let site = self.site(site_url)?;
        let url = format!("{}/_api/web/sitegroups/GetById({group})", site.base);
        match self.get(&site, &url).await {
            Ok(value) => serde_json::from_value(value).map(Some).map_err(|e| {
                GraphError::new(
                    GraphErrorKind::Decode,
                    &url,
                    format!("a site group of an unexpected shape ({e})"),
                )
            }),
            Err(error) if error.status() == Some(404) => Ok(None),
            Err(error) => Err(error),
        }
    }

    /// Every user of the site group, following SharePoint's next links on the same origin.
    pub async fn users(&self, site_url: &str, group: u32) -> Result<Vec<SiteUser>, GraphError> {
        let site = self.site(site_url)?;
        let mut url = format!(
            "{}/_api/web/sitegroups/GetById({group})/users?$select={USER_SELECT}&$top=5000",
            site.base
        );
        let mut users = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for _ in 0..MAX_PAGES {
            if !seen.insert(url.clone()) {
                return Err(GraphError::new(
                    GraphErrorKind::NextLinkLoop,
                    &url,
                    "a page already read",
                ));
            }
            let page = self.get(&site, &url).await?;
            let items = page
                .get("value")
                .or_else(|| page.pointer("/d/results"))
                .and_then(Value::as_array)
                .ok_or_else(|| {
                    GraphError::new(GraphErrorKind::Decode, &url, "a page without `value`")
                })?;
            for item in items {
                users.push(serde_json::from_value(item.clone()).map_err(|e| {
                    GraphError::new(
                        GraphErrorKind::Decode,
                        &url,
                        format!("a user of an unexpected shape ({e})"),
                    )
                })?);
            }
            let next = ["odata.nextLink", "@odata.nextLink"]
                .iter()
                .find_map(|key| page.get(*key))
                .or_else(|| page.pointer("/d/__next"))
                .and_then(Value::as_str);
            match next {
                None => return Ok(users),
                Some(link) => {
                    check_same_origin(&site.base, &url, link)?;
                    url = link.to_string();
                }
            }
        }
        Err(GraphError::new(
            GraphErrorKind::NextLinkLoop,
            &url,
            "more pages than a site group can hold",
        ))
    }

    /// Removes site user `site_user` (its site-local id) from the group: a write, which needs
    /// the SharePoint API's write permission on the site.
    pub async fn remove_user(
        &self,
        site_url: &str,
        group: u32,
        site_user: i64,
    ) -> Result<(), GraphError> {
        let site = self.site(site_url)?;
        let url = format!(
            "{}/_api/web/sitegroups/GetById({group})/users/removeById({site_user})",
            site.base
        );
        self.send(&site, reqwest::Method::POST, &url)
            .await
            .map(|_| ())
    }

    /// One GET with SharePoint's headers, retrying `429`/`503` as SharePoint asks.
    async fn get(&self, site: &Site, url: &str) -> Result<Value, GraphError> {
        self.send(site, reqwest::Method::GET, url).await
    }

    /// One request with SharePoint's headers, retrying `429`/`503` as SharePoint asks; the
    /// JSON answer (`null` for an empty one).
    async fn send(
        &self,
        site: &Site,
        method: reqwest::Method,
        url: &str,
    ) -> Result<Value, GraphError> {
        let request_name = format!("{method} {url}");
        check_same_origin(&site.base, url, url)?;
        let mut waited = Duration::ZERO;
        let mut attempt = 1;
        loop {
            let token = self.auth.token_for(&site.scope).await?;
            self.pace().await;
            let sent = {
                let _permit = self.permits.acquire().await.ok();
                self.requests.fetch_add(1, Ordering::Relaxed);
                self.http
                    .request(method.clone(), url)
                    .bearer_auth(token.secret())
                    .header("Accept", "application/json;odata=nometadata")
                    .header("User-Agent", USER_AGENT)
                    .send()
                    .await
            };
            let response = match sent {
                Ok(response) => response,
                Err(error) => match self.retry.next_wait(attempt, None, waited) {
                    Some(wait) if !error.is_builder() => {
                        tokio::time::sleep(wait).await;
                        waited += wait;
                        attempt += 1;
                        continue;
                    }
                    _ => {
                        return Err(GraphError::new(
                            GraphErrorKind::Transport,
                            request_name,
                            error.to_string(),
                        ))
                    }
                },
            };
            let status = response.status().as_u16();
            let headers = response.headers().clone();
            let body = response.bytes().await.map_err(|e| {
                GraphError::new(GraphErrorKind::Transport, &request_name, e.to_string())
            })?;
            if matches!(status, 429 | 503) {
                self.throttled.fetch_add(1, Ordering::Relaxed);
                // The larger of Retry-After and RateLimit-Reset, as SharePoint documents.
                let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
                let after = header("retry-after")
                    .and_then(|v| retry::parse_retry_after(v, chrono::Utc::now()));
                let reset = header("ratelimit-reset")
                    .and_then(|v| v.trim().parse::<u64>().ok())
                    .map(Duration::from_secs);
                let asked = after.max(reset);
                if let Some(wait) = self.retry.next_wait(attempt, asked, waited) {
                    tracing::info!(
                        status,
                        wait_ms = wait.as_millis() as u64,
                        "SharePoint throttled; waiting"
                    );
                    tokio::time::sleep(wait).await;
                    waited += wait;
                    attempt += 1;
                    continue;
                }
            }
            if !(200..300).contains(&status) {
                let message = serde_json::from_slice::<Value>(&body)
                    .ok()
                    .and_then(|v| {
                        v.pointer("/odata.error/message/value")
                            .or_else(|| v.pointer("/error/message/value"))
                            .or_else(|| v.pointer("/error_description"))
                            .and_then(Value::as_str)
                            .map(str::to_string)
                    })
                    .unwrap_or_default();
                return Err(GraphError::new(
                    GraphErrorKind::Status(status),
                    request_name,
                    message,
                ));
            }
            if body.is_empty() {
                return Ok(Value::Null);
            }
            return serde_json::from_slice(&body).map_err(|e| {
                GraphError::new(
                    GraphErrorKind::Decode,
                    request_name,
                    format!("not JSON ({e})"),
                )
            });
        }
    }
}

/// A failed SharePoint call in a reader's words: what to grant or change.
pub fn failure_reason(error: &GraphError) -> String {
    match error.status() {
        Some(403) => format!(
            "{}; grant the app the SharePoint API's Sites.Read.All, or Sites.Selected with a read grant on the site",
            error.reason()
        ),
        Some(401) if error.reason().contains("Unsupported app only token") => {
            SECRET_REFUSED.to_string()
        }
        _ => match error.kind {
            GraphErrorKind::Auth => error.message.clone(),
            _ => error.reason(),
        },
    }
}

/// Spends one call of a per-minute `budget` in `window` (its start and units spent): `None`
/// when it fits now, else the instant the next window opens (the call is counted in it).
fn reserve(
    window: &mut (tokio::time::Instant, u64),
    now: tokio::time::Instant,
    budget: u64,
) -> Option<tokio::time::Instant> {
    if now.duration_since(window.0) >= BUDGET_WINDOW {
        *window = (now, 0);
    }
    let wait = if window.1 + UNITS_PER_CALL > budget {
        let next = window.0 + BUDGET_WINDOW;
        *window = (next, 0);
        Some(next)
    } else {
        None
    };
    window.1 += UNITS_PER_CALL;
    wait
}

/// A link is followed only on the site's SharePoint origin: the token goes nowhere else.
fn check_same_origin(base: &url::Url, request: &str, link: &str) -> Result<(), GraphError> {
    let refuse =
        |what: String| GraphError::new(GraphErrorKind::ForeignLink, format!("GET {request}"), what);
    let parsed =
        url::Url::parse(link).map_err(|e| refuse(format!("a link that is not a URL ({e})")))?;
    if !super::endpoint::same_origin(base, &parsed) || parsed.scheme() != "https" {
        return Err(refuse(format!(
            "a link to `{}://{}`, not the SharePoint origin `{}://{}`",
            parsed.scheme(),
            parsed.host_str().unwrap_or("?"),
            base.scheme(),
            base.host_str().unwrap_or("?")
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_override_is_loopback_or_a_sharepoint_domain_and_https() {
        assert!(check_override("https://127.0.0.1:8443").is_ok());
        assert!(check_override("https://contoso.sharepoint.com").is_ok());
        assert!(check_override("https://contoso.sharepoint.us").is_ok());
        let elsewhere = check_override("https://evil.example").unwrap_err();
        assert!(elsewhere.contains("nowhere else"), "{elsewhere}");
        assert!(check_override("http://127.0.0.1:8443").is_err());
        assert!(check_override("https://u:p@127.0.0.1").is_err());
    }

    #[test]
    fn calls_beyond_the_minute_s_budget_wait_for_the_next_minute() {
        let start = tokio::time::Instant::now();
        let mut window = (start, 0);
        // 6 units a minute: three calls fit, the fourth waits for the next minute.
        for _ in 0..3 {
            assert_eq!(reserve(&mut window, start, 6), None);
        }
        let next = reserve(&mut window, start + Duration::from_secs(10), 6);
        assert_eq!(next, Some(start + BUDGET_WINDOW));
        assert_eq!(
            window,
            (start + BUDGET_WINDOW, 2),
            "the waiting call counts in its minute"
        );
        // A minute later the window is fresh again.
        let later = start + Duration::from_secs(130);
        assert_eq!(reserve(&mut window, later, 6), None);
        assert_eq!(window, (later, 2));
    }

    #[test]
    fn links_off_the_sharepoint_origin_are_refused() {
        let base = url::Url::parse("https://contoso.sharepoint.com/sites/a").unwrap();
        assert!(check_same_origin(
            &base,
            "r",
            "https://contoso.sharepoint.com/sites/a/_api/x?p=2"
        )
        .is_ok());
        assert!(check_same_origin(&base, "r", "https://evil.example/sites/a").is_err());
        assert!(check_same_origin(&base, "r", "http://contoso.sharepoint.com/sites/a").is_err());
        assert!(check_same_origin(&base, "r", "https://contoso.sharepoint.com:8443/x").is_err());
    }
}
