//! What the handlers share: the fake's settings and its state behind locks. Apart from the
//! HTTPS front (`server`) so that the handlers (`dispatch`, `batch`) and the front both
//! depend on it, not on each other.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::faults::{FaultState, ForeignLinks};
use super::state::{lock, Counters, Data, FakeStats, Tokens};
use super::throttle::{ReportsWindows, SlidingWindow};

/// The options the handlers consult. Holds the client secret: no `Debug`.
pub struct Settings {
    pub page_size: usize,
    pub assignment_page_size: usize,
    pub max_page_size: Option<usize>,
    /// At most this many `resourceRoleScopes` in a served access package.
    pub expand_cap: Option<usize>,
    /// A capped package carries `resourceRoleScopes@odata.nextLink` to the rest.
    pub expand_next_link: bool,
    /// The `foreign_next_link` fault (no counts, so it lives here rather than behind a lock).
    pub foreign_links: Option<ForeignLinks>,
    pub latency: Duration,
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    pub fail_writes_after: Option<u64>,
    pub fail_writes_status: u16,
}

/// Everything the handlers share. A lock is never held across an `await`, and never while
/// another is held (so lock order cannot deadlock).
pub struct Shared {
    /// `https://127.0.0.1:PORT`
    pub base_url: String,
    /// `https://127.0.0.1:PORT2`: SharePoint REST, an origin of its own.
    pub sharepoint_url: String,
    /// Every SharePoint request received, `(method, path?query, authorized)`, in order.
    pub sharepoint_log: Mutex<Vec<(String, String, bool)>>,
    pub tenant_id: String,
    pub settings: Settings,
    pub started: Instant,
    pub data: Mutex<Data>,
    pub tokens: Mutex<Tokens>,
    pub faults: Mutex<FaultState>,
    pub throttle: Option<Mutex<SlidingWindow>>,
    /// The audit log's per-client request limit; `None`: unlimited.
    pub reports: Option<Mutex<ReportsWindows>>,
    pub counters: Counters,
    /// Every `sendMail` accepted, in order.
    pub outbox: Mutex<Vec<super::state::SentMail>>,
    /// Every Graph request received, `(method, path?query below /v1.0/)`, a `$batch` envelope
    /// and each of its inner requests included: what a test checks against Graph's metadata.
    pub request_log: Mutex<Vec<(String, String)>>,
}

impl Shared {
    pub fn stats(&self) -> FakeStats {
        let c = &self.counters;
        let data = lock(&self.data);
        FakeStats {
            requests: Counters::get(&c.requests),
            batch_inner_requests: Counters::get(&c.batch_inner_requests),
            resource_units: Counters::get(&c.resource_units),
            throttled: Counters::get(&c.throttled),
            tokens_issued: Counters::get(&c.tokens_issued),
            sharepoint_requests: Counters::get(&c.sharepoint_requests),
            sharepoint_throttled: Counters::get(&c.sharepoint_throttled),
            reprocess: data.reprocess_counts.clone(),
            request_reprocess: data.request_reprocess_counts.clone(),
            audit_log_requests: Counters::get(&c.audit_log_requests),
            audit_log_throttled: Counters::get(&c.audit_log_throttled),
            admin_removes: data.admin_removes,
            member_removals: data.member_removals,
            owner_removals: data.owner_removals,
            app_role_removals: data.app_role_removals,
            site_user_removals: data.site_user_removals,
            throttle_warnings: Counters::get(&c.throttle_warnings),
        }
    }
}
