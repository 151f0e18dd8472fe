//! Fault injection for the fake Graph server: the `faults.json` format and the counters that
//! decide, request by request, whether a fault fires.
//!
//! # The faults file
//!
//! One JSON object; every key is optional and an unknown key is an error (so a typo cannot
//! silently disable a fault). The server reads `--faults FILE`, or else `<tenant dir>/faults.json`
//! when it exists.
//!
//! ```json
//! {
//!   "forbidden":        ["groups/<id>/members"],
//!   "not_found":        ["servicePrincipals/<id>/appRoleAssignedTo"],
//!   "server_errors":    [{"path": "groups/<id>/owners", "status": 503, "count": 2, "page": 1, "retry_after": 0.1}],
//!   "drop_connection":  [{"path": "users", "page": 2, "count": 1}],
//!   "truncate_body":    [{"path": "identityGovernance/entitlementManagement/assignments", "page": 1, "count": 1}],
//!   "next_link_loop":   ["groups/<id>/members"],
//!   "foreign_next_link": {"origin": "http://127.0.0.1:9", "paths": ["users", "groups/delta"]},
//!   "expire_token_after": 5,
//!   "fail_writes_after":  3,
//!   "fail_writes_status": 503
//! }
//! ```
//!
//! **Paths** are relative to `/v1.0/`, without a query and without a leading `/`, and are
//! compared case-insensitively (so ids in any case match). A path names exactly one resource:
//! `groups/<id>/members` matches the member list of that group, not `groups/<id>`. Faults apply
//! alike to direct requests and to requests inside a `$batch`. The directory role and request
//! lists are `roleManagement/directory/roleAssignments`,
//! `roleManagement/directory/roleEligibilitySchedules` and
//! `identityGovernance/entitlementManagement/assignmentRequests` (a single request is
//! `…/assignmentRequests/<id>`, its retry `…/assignmentRequests/<id>/reprocess`). The directory
//! audit log is `auditLogs/directoryAudits` (any case): e.g. `"forbidden":
//! ["auditLogs/directoryAudits"]` answers `403` `Authorization_RequestDenied` as a tenant
//! without `AuditLog.Read.All` would, and `server_errors` / `drop_connection` / `truncate_body`
//! with a `page` hit that page of its nextLinks.
//!
//! **Pages** are 1-based: page 1 is the request without `$skiptoken`, page 2 the first
//! nextLink, and so on. A request that is not a list is page 1. Omitting `page` matches every page.
//!
//! **count** is how many times the fault fires in the server's lifetime; `-1` (the default)
//! means always. Each firing uses one.
//!
//! `path`, `page` and `count` are the fields of `server_errors`, `drop_connection` and
//! `truncate_body` entries (only `path` is required); `status` and `retry_after` belong to
//! `server_errors` alone. `foreign_next_link` is an object: `origin` (required; a URL with a
//! host and nothing after it, e.g. `http://127.0.0.1:9`) and `paths` (optional; absent: every
//! list, `[]`: none). The file is read once, at startup. In the library,
//! `FakeConfig::faults = None` means "the tenant directory's faults.json if any" and
//! `Some(Faults::default())` means no faults at all.
//!
//! | key | effect |
//! |---|---|
//! | `forbidden` | `403` `Authorization_RequestDenied`, always |
//! | `not_found` | `404` `Request_ResourceNotFound`, always |
//! | `server_errors` | answers `status` (default `503`) with a Graph error body, and `Retry-After: <retry_after>` when given (seconds, may be fractional) |
//! | `drop_connection` | on a `200`: the status and headers are sent, then the body stream fails half-way and the connection is aborted. Inside a `$batch`, the whole `$batch` reply is dropped that way |
//! | `truncate_body` | on a `200`: the JSON body is cut in half (invalid JSON). Inside a `$batch`, the inner `body` becomes a JSON string holding the cut text |
//! | `next_link_loop` | every page of that list, the last included, carries an `@odata.nextLink` to the list's first page |
//! | `foreign_next_link` | a hostile server: the links a client follows (`@odata.nextLink`, `resourceRoleScopes@odata.nextLink`, the `groups/delta` `@odata.deltaLink`) start with `origin` instead of the fake's own `https://127.0.0.1:PORT`; the rest of the link is unchanged, so it still works when followed at the fake's origin. A link is rewritten when its request's path or the path it points to is in `paths` |
//! | `expire_token_after` | after N authenticated Graph requests (a `$batch` counts once), every token issued so far is rejected with `401`; tokens issued later work |
//! | `sharepoint_forbidden` | SharePoint site URLs whose REST calls answer `403` (no grant on the site) |
//! | `sharepoint_throttle` | `{"count": N, "retry_after": S}`: the first N SharePoint requests answer `429` with `Retry-After: S` and `RateLimit-Limit`/`-Remaining`/`-Reset` |
//! | `fail_writes_after` | after N successful writes of any kind together — assignment and assignment request reprocess (`202`), `adminRemove` assignment requests (`201`), group member / owner `$ref` deletes and app role assignment deletes (`204`) — every further write answers `fail_writes_status` (default `503`) and changes nothing |
//!
//! Order of checks for one request: authentication, throttling (reads only: the RU budget, or
//! for the audit log its request limit), `forbidden`, `not_found`, `server_errors`, the
//! handler, then `drop_connection` / `truncate_body` (which fire only on a `200`; a
//! non-matching status does not use up a count). Path faults apply to
//! every method, writes included (e.g. `"forbidden": ["groups/<id>/members/<id>/$ref"]`). Every
//! write checks `fail_writes_after` first, before its own `404` / `400` checks (for a request
//! reprocess: its state, then the 14-day window against the fake's clock, `FakeConfig::now`;
//! for an `adminRemove`: its body, then the assignment and its state).

use std::path::Path;

use serde::Deserialize;

fn always() -> i64 {
    -1
}

fn default_error_status() -> u16 {
    503
}

/// The faults file. See the module documentation for the meaning of each field.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Faults {
    #[serde(default)]
    pub forbidden: Vec<String>,
    #[serde(default)]
    pub not_found: Vec<String>,
    #[serde(default)]
    pub server_errors: Vec<ServerErrorFault>,
    #[serde(default)]
    pub drop_connection: Vec<PageFault>,
    #[serde(default)]
    pub truncate_body: Vec<PageFault>,
    #[serde(default)]
    pub next_link_loop: Vec<String>,
    #[serde(default)]
    pub foreign_next_link: Option<ForeignNextLink>,
    #[serde(default)]
    pub expire_token_after: Option<u64>,
    #[serde(default)]
    pub fail_writes_after: Option<u64>,
    #[serde(default)]
    pub fail_writes_status: Option<u16>,
    /// SharePoint site URLs whose REST answers `403` (an app without a grant on the site).
    #[serde(default)]
    pub sharepoint_forbidden: Vec<String>,
    /// SharePoint's own throttling: the first `count` SharePoint requests answer `429` with
    /// `Retry-After` and the `RateLimit-*` headers.
    #[serde(default)]
    pub sharepoint_throttle: Option<SharePointThrottle>,
}

/// `sharepoint_throttle`: how many SharePoint requests are throttled, and the wait asked.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SharePointThrottle {
    pub count: i64,
    #[serde(default = "one_second")]
    pub retry_after: u64,
}

fn one_second() -> u64 {
    1
}

/// A status answered instead of the real response.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerErrorFault {
    pub path: String,
    #[serde(default = "default_error_status")]
    pub status: u16,
    #[serde(default = "always")]
    pub count: i64,
    #[serde(default)]
    pub page: Option<u32>,
    /// Seconds for a `Retry-After` header; none when absent.
    #[serde(default)]
    pub retry_after: Option<f64>,
}

/// A fault on the body of a `200` answer to one page of a path.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PageFault {
    pub path: String,
    #[serde(default)]
    pub page: Option<u32>,
    #[serde(default = "always")]
    pub count: i64,
}

/// Links that point at another server (`origin`), on the lists of `paths` (absent: every list).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ForeignNextLink {
    pub origin: String,
    #[serde(default)]
    pub paths: Option<Vec<String>>,
}

impl Faults {
    /// Parses a faults file, naming it and the position on failure.
    pub fn read(path: &Path) -> Result<Faults, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("faults file `{}`: {e}", path.display()))?;
        Faults::parse(&text).map_err(|e| format!("faults file `{}`: {e}", path.display()))
    }

    pub fn parse(text: &str) -> Result<Faults, String> {
        let faults: Faults = serde_json::from_str(text).map_err(|e| e.to_string())?;
        faults.validate()?;
        Ok(faults)
    }

    fn validate(&self) -> Result<(), String> {
        let counts = self
            .server_errors
            .iter()
            .map(|f| (&f.path, f.count, f.page))
            .chain(
                self.drop_connection
                    .iter()
                    .map(|f| (&f.path, f.count, f.page)),
            )
            .chain(
                self.truncate_body
                    .iter()
                    .map(|f| (&f.path, f.count, f.page)),
            );
        for (path, count, page) in counts {
            if count < -1 {
                return Err(format!(
                    "`{path}`: count must be -1 (always) or at least 0, not {count}"
                ));
            }
            if page == Some(0) {
                return Err(format!("`{path}`: pages are numbered from 1"));
            }
        }
        for fault in &self.server_errors {
            if !(400..=599).contains(&fault.status) {
                return Err(format!(
                    "`{}`: status {} is not an error status",
                    fault.path, fault.status
                ));
            }
            if fault.retry_after.is_some_and(|s| !s.is_finite() || s < 0.0) {
                return Err(format!(
                    "`{}`: retry_after must be a number of seconds ≥ 0",
                    fault.path
                ));
            }
        }
        if let Some(foreign) = &self.foreign_next_link {
            check_origin(&foreign.origin)?;
        }
        if let Some(status) = self.fail_writes_status {
            if !(400..=599).contains(&status) {
                return Err(format!(
                    "fail_writes_status {status} is not an error status"
                ));
            }
        }
        Ok(())
    }
}

/// An origin must be a URL with a host and nothing after it: a path there would make every
/// rewritten link point somewhere other than "the same link on another server".
fn check_origin(origin: &str) -> Result<(), String> {
    let invalid = |why: &str| Err(format!("foreign_next_link origin `{origin}`: {why}"));
    let url = match url::Url::parse(origin) {
        Ok(url) => url,
        Err(e) => return invalid(&e.to_string()),
    };
    if !url.has_host() {
        return invalid("it has no host");
    }
    if !matches!(url.path(), "" | "/") || url.query().is_some() || url.fragment().is_some() {
        return invalid("only a scheme, a host and a port are allowed");
    }
    Ok(())
}

/// `foreign_next_link` as the server applies it (paths normalised). Immutable: no counts.
#[derive(Debug, Clone, PartialEq)]
pub struct ForeignLinks {
    /// Without a trailing `/`, so that `{origin}/v1.0/...` is the link.
    origin: String,
    /// `None`: every list.
    paths: Option<Vec<String>>,
}

impl ForeignLinks {
    pub fn new(fault: &ForeignNextLink) -> Self {
        ForeignLinks {
            origin: fault.origin.trim_end_matches('/').to_string(),
            paths: fault
                .paths
                .as_ref()
                .map(|paths| paths.iter().map(|p| normalize_path(p)).collect()),
        }
    }

    /// The origin for a link found in the answer to `request_path` and pointing at
    /// `link_path`, when this fault rewrites it. Either path may name the list: a test can aim
    /// at a package list (its expanded scopes' links) or at the scope collection itself.
    pub fn origin_for(&self, request_path: &str, link_path: &str) -> Option<&str> {
        let listed = match &self.paths {
            None => true,
            Some(paths) => {
                let (request, link) = (normalize_path(request_path), normalize_path(link_path));
                paths.iter().any(|p| *p == request || *p == link)
            }
        };
        listed.then_some(self.origin.as_str())
    }
}

/// Normalises a path for comparison: no query, no surrounding `/`, lower case.
pub fn normalize_path(path: &str) -> String {
    let path = path.split('?').next().unwrap_or_default();
    path.trim_matches('/').to_ascii_lowercase()
}

/// What the fault table says before the handler runs.
#[derive(Debug, Clone, PartialEq)]
pub enum PreFault {
    Forbidden,
    NotFound,
    ServerError {
        status: u16,
        retry_after: Option<f64>,
    },
}

/// What happens to a `200` body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyFault {
    Drop,
    Truncate,
}

/// The faults with their remaining counts; lives behind the server's lock.
#[derive(Debug, Default)]
pub struct FaultState {
    forbidden: Vec<String>,
    not_found: Vec<String>,
    server_errors: Vec<(String, ServerErrorFault)>,
    drop_connection: Vec<(String, PageFault)>,
    truncate_body: Vec<(String, PageFault)>,
    next_link_loop: Vec<String>,
    pub expire_token_after: Option<u64>,
    pub fail_writes_after: Option<u64>,
    pub fail_writes_status: u16,
    /// Lower-cased site URLs without a trailing `/`.
    pub sharepoint_forbidden: Vec<String>,
    pub sharepoint_throttle: Option<SharePointThrottle>,
}

impl FaultState {
    /// Whether this SharePoint request is throttled (uses one count).
    pub fn sharepoint_throttled(&mut self) -> Option<u64> {
        let throttle = self.sharepoint_throttle.as_mut()?;
        fire(&mut throttle.count).then_some(throttle.retry_after)
    }
}

/// Uses one firing of a counted fault; `false` when it is used up.
fn fire(count: &mut i64) -> bool {
    match *count {
        -1 => true,
        0 => false,
        _ => {
            *count -= 1;
            true
        }
    }
}

fn page_matches(wanted: Option<u32>, page: u32) -> bool {
    wanted.is_none_or(|wanted| wanted == page)
}

impl FaultState {
    pub fn new(faults: &Faults) -> Self {
        let norm = |paths: &[String]| paths.iter().map(|p| normalize_path(p)).collect();
        FaultState {
            forbidden: norm(&faults.forbidden),
            not_found: norm(&faults.not_found),
            server_errors: faults
                .server_errors
                .iter()
                .map(|f| (normalize_path(&f.path), f.clone()))
                .collect(),
            drop_connection: faults
                .drop_connection
                .iter()
                .map(|f| (normalize_path(&f.path), f.clone()))
                .collect(),
            truncate_body: faults
                .truncate_body
                .iter()
                .map(|f| (normalize_path(&f.path), f.clone()))
                .collect(),
            next_link_loop: norm(&faults.next_link_loop),
            expire_token_after: faults.expire_token_after,
            fail_writes_after: faults.fail_writes_after,
            fail_writes_status: faults.fail_writes_status.unwrap_or(503),
            sharepoint_forbidden: faults
                .sharepoint_forbidden
                .iter()
                .map(|url| url.trim_end_matches('/').to_ascii_lowercase())
                .collect(),
            sharepoint_throttle: faults.sharepoint_throttle.clone(),
        }
    }

    /// The fault that replaces the handler for this request, if any (uses up a count).
    pub fn before(&mut self, path: &str, page: u32) -> Option<PreFault> {
        let path = normalize_path(path);
        if self.forbidden.contains(&path) {
            return Some(PreFault::Forbidden);
        }
        if self.not_found.contains(&path) {
            return Some(PreFault::NotFound);
        }
        for (fault_path, fault) in &mut self.server_errors {
            if *fault_path == path && page_matches(fault.page, page) && fire(&mut fault.count) {
                return Some(PreFault::ServerError {
                    status: fault.status,
                    retry_after: fault.retry_after,
                });
            }
        }
        None
    }

    /// The fault on the `200` body of this request, if any (uses up a count).
    pub fn on_body(&mut self, path: &str, page: u32) -> Option<BodyFault> {
        let path = normalize_path(path);
        for (fault_path, fault) in &mut self.drop_connection {
            if *fault_path == path && page_matches(fault.page, page) && fire(&mut fault.count) {
                return Some(BodyFault::Drop);
            }
        }
        for (fault_path, fault) in &mut self.truncate_body {
            if *fault_path == path && page_matches(fault.page, page) && fire(&mut fault.count) {
                return Some(BodyFault::Truncate);
            }
        }
        None
    }

    pub fn loops_next_link(&self, path: &str) -> bool {
        self.next_link_loop.contains(&normalize_path(path))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn full_file_parses() {
        let text = r#"{"forbidden": ["groups/G1/members"],
            "not_found": ["servicePrincipals/s1/appRoleAssignedTo"],
            "server_errors": [{"path": "/groups/g2/owners", "status": 504, "count": 2}, {"path": "users"}],
            "drop_connection": [{"path": "users", "page": 2, "count": 1}],
            "truncate_body": [{"path": "users", "page": 1}],
            "next_link_loop": ["groups/g3/members"],
            "foreign_next_link": {"origin": "http://127.0.0.1:9", "paths": ["users"]},
            "expire_token_after": 5, "fail_writes_after": 3, "fail_writes_status": 500}"#;
        let faults = Faults::parse(text).unwrap();
        assert_eq!(faults.server_errors[0].status, 504);
        assert_eq!(faults.server_errors[1].status, 503);
        assert_eq!(faults.server_errors[1].count, -1);
        assert_eq!(faults.truncate_body[0].count, -1);
        assert_eq!(faults.expire_token_after, Some(5));
        assert_eq!(faults.fail_writes_status, Some(500));
        assert_eq!(
            faults.foreign_next_link,
            Some(ForeignNextLink {
                origin: "http://127.0.0.1:9".into(),
                paths: Some(vec!["users".into()]),
            })
        );
        assert_eq!(Faults::parse("{}").unwrap(), Faults::default());
    }

    #[test]
    fn unknown_or_invalid_fields_are_rejected() {
        let error = Faults::parse(r#"{"forbiden": []}"#).unwrap_err();
        assert!(error.contains("unknown field `forbiden`"), "{error}");
        let error =
            Faults::parse(r#"{"drop_connection": [{"path": "users", "pages": 2}]}"#).unwrap_err();
        assert!(error.contains("unknown field `pages`"), "{error}");
        assert!(Faults::parse(r#"{"server_errors": [{"path": "x", "status": 200}]}"#).is_err());
        assert!(Faults::parse(r#"{"truncate_body": [{"path": "x", "count": -2}]}"#).is_err());
        assert!(Faults::parse(r#"{"truncate_body": [{"path": "x", "page": 0}]}"#).is_err());
        assert!(Faults::parse(r#"{"forbidden": "groups/x/members"}"#).is_err());
        let error = Faults::parse(r#"{"foreign_next_link": {"origin": "http://x", "path": []}}"#)
            .unwrap_err();
        assert!(error.contains("unknown field `path`"), "{error}");
        assert!(Faults::parse(r#"{"foreign_next_link": {"paths": ["users"]}}"#).is_err());
        for origin in [
            "127.0.0.1:9",
            "not a url",
            "http://x/v1.0",
            "http://x?a=1",
            "data:x",
        ] {
            let text = json!({"foreign_next_link": {"origin": origin}}).to_string();
            let error = Faults::parse(&text).unwrap_err();
            assert!(
                error.contains("foreign_next_link origin"),
                "{origin}: {error}"
            );
        }
    }

    #[test]
    fn counts_pages_and_case() {
        let faults = Faults::parse(
            r#"{"forbidden": ["groups/AB/members"],
                "server_errors": [{"path": "groups/x/owners", "count": 2}],
                "drop_connection": [{"path": "users", "page": 2, "count": 1}],
                "truncate_body": [{"path": "users", "page": 1, "count": -1}],
                "next_link_loop": ["Groups/Q/Members"]}"#,
        )
        .unwrap();
        let mut state = FaultState::new(&faults);
        assert_eq!(
            state.before("groups/ab/members", 3),
            Some(PreFault::Forbidden)
        );
        assert_eq!(state.before("groups/ab", 1), None);
        let error = Some(PreFault::ServerError {
            status: 503,
            retry_after: None,
        });
        assert_eq!(state.before("groups/X/owners", 1), error);
        assert_eq!(state.before("/groups/x/owners", 1), error);
        assert_eq!(state.before("groups/x/owners", 1), None, "count used up");
        assert_eq!(state.on_body("users", 1), Some(BodyFault::Truncate));
        assert_eq!(
            state.on_body("users", 1),
            Some(BodyFault::Truncate),
            "always"
        );
        assert_eq!(state.on_body("users", 2), Some(BodyFault::Drop));
        assert_eq!(state.on_body("users", 2), None);
        assert!(state.loops_next_link("groups/q/members"));
        assert!(!state.loops_next_link("groups/q/owners"));
    }

    #[test]
    fn foreign_links_match_the_request_or_the_linked_path() {
        let all = ForeignLinks::new(&ForeignNextLink {
            origin: "https://evil.example:8443/".into(),
            paths: None,
        });
        assert_eq!(
            all.origin_for("anything", "at/all"),
            Some("https://evil.example:8443")
        );
        let some = ForeignLinks::new(&ForeignNextLink {
            origin: "http://127.0.0.1:9".into(),
            paths: Some(vec!["Users".into(), "/a/P1/scopes".into()]),
        });
        assert_eq!(
            some.origin_for("users", "users"),
            Some("http://127.0.0.1:9")
        );
        assert_eq!(
            some.origin_for("a", "a/p1/scopes"),
            Some("http://127.0.0.1:9")
        );
        assert_eq!(some.origin_for("groups", "groups"), None);
        let none = ForeignLinks::new(&ForeignNextLink {
            origin: "http://127.0.0.1:9".into(),
            paths: Some(Vec::new()),
        });
        assert_eq!(none.origin_for("users", "users"), None);
    }
}
