//! Graph request routing of the fake server, shared by direct requests and `$batch` inner
//! requests: throttling (the directory RU budget with its `x-ms-throttle-*` headers, and the
//! audit log's per-client request limit), faults, the endpoints themselves, paging, and
//! `x-ms-resource-unit`.

mod items;
pub mod mail;
mod remedies;
mod writes;

use items::*;
use remedies::GroupLink;
use writes::refused_write;

use std::collections::HashMap;

use serde_json::{json, Map, Value};

use super::audit_log::{self, is_audit_log_path, AuditFilter};
use super::faults::{BodyFault, PreFault};
use super::query::{
    expand_names, parse_assignment_filter, parse_request_filter, parse_role_filter, percent_decode,
    select_names, AssignmentClause, ODataQuery, PageCursor, RoleClause,
};
use super::shared::{Settings, Shared};
use super::state::{lock, Counters, Data};
use super::throttle::{
    format_retry_after, resource_units, retry_after_seconds, throttle_scope, Admission,
    INFORMATION_HEADER, LIMIT_PERCENTAGE_HEADER, SCOPE_HEADER,
};
use entra_model::model::AccessPackageAssignment;

/// One answer before it becomes HTTP (direct) or a `$batch` inner response.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    /// `None`: an empty body.
    pub body: Option<Value>,
    /// A fault to apply to the body on its way out.
    pub body_fault: Option<BodyFault>,
}

impl Reply {
    pub fn json(status: u16, body: Value) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            body: Some(body),
            body_fault: None,
        }
    }

    pub fn empty(status: u16) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            body: None,
            body_fault: None,
        }
    }

    /// Graph's error shape: `{"error": {"code": ..., "message": ...}}`.
    pub fn error(status: u16, code: &str, message: impl Into<String>) -> Reply {
        Reply::json(
            status,
            json!({"error": {"code": code, "message": message.into()}}),
        )
    }

    pub fn unauthenticated() -> Reply {
        Reply::error(
            401,
            "InvalidAuthenticationToken",
            "Access token is empty or invalid.",
        )
    }
}

fn status_code_name(status: u16) -> &'static str {
    match status {
        400 => "BadRequest",
        401 => "InvalidAuthenticationToken",
        403 => "Authorization_RequestDenied",
        404 => "Request_ResourceNotFound",
        409 => "Conflict",
        429 => "TooManyRequests",
        500 => "InternalServerError",
        502 => "BadGateway",
        503 => "ServiceUnavailable",
        504 => "GatewayTimeout",
        _ => "UnknownError",
    }
}

/// Splits `path?query` (relative to `/v1.0/`, a leading `/` allowed).
pub fn split_target(target: &str) -> (&str, &str) {
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    (path.trim_start_matches('/'), query)
}

/// The RU cost of a request; an unparsable query costs as if it were absent.
pub fn cost_of(path: &str, raw_query: &str) -> u64 {
    match ODataQuery::parse(raw_query) {
        Ok(q) => resource_units(path, q.select, q.expand, q.top),
        Err(_) => resource_units(path, false, false, None),
    }
}

/// Stamps `x-ms-resource-unit` on a reply and counts it. Every answer to a Graph request,
/// direct or inner (a `$batch` envelope aside), passes here exactly once, so the counters of
/// what answers carry live here too.
pub fn charge(shared: &Shared, mut reply: Reply, cost: u64) -> Reply {
    reply.headers.push(("x-ms-resource-unit", cost.to_string()));
    Counters::add(&shared.counters.resource_units, cost);
    if reply.status == 429 {
        Counters::add(&shared.counters.throttled, 1);
    }
    if reply
        .headers
        .iter()
        .any(|(name, _)| *name == LIMIT_PERCENTAGE_HEADER)
    {
        Counters::add(&shared.counters.throttle_warnings, 1);
    }
    reply
}

/// Answers one authenticated Graph request of `client` (its client id). `target` is
/// `path?query` below `/v1.0/`; `body` the request body as sent (empty: none), which only
/// the writes that take one read.
pub fn dispatch(shared: &Shared, client: &str, method: &str, target: &str, body: &[u8]) -> Reply {
    crate::state::lock(&shared.request_log).push((method.to_string(), target.to_string()));
    let (path, raw_query) = split_target(target);
    let cost = cost_of(path, raw_query);
    let request = Request {
        client,
        method,
        path,
        raw_query,
        body,
    };
    let reply = answer(shared, &request, cost);
    charge(shared, reply, cost)
}

/// One Graph request as [`dispatch`] received it.
struct Request<'a> {
    client: &'a str,
    method: &'a str,
    path: &'a str,
    raw_query: &'a str,
    body: &'a [u8],
}

fn answer(shared: &Shared, request: &Request<'_>, cost: u64) -> Reply {
    let Request {
        client,
        method,
        path,
        raw_query,
        ..
    } = *request;
    let query = match ODataQuery::parse(raw_query) {
        Ok(query) => query,
        Err(message) => return Reply::error(400, "BadRequest", message),
    };
    let cursor = match query.skiptoken.as_deref() {
        None => PageCursor::FIRST,
        Some(token) => match PageCursor::decode(token) {
            Some(cursor) => cursor,
            None => return Reply::error(400, "BadRequest", "Invalid $skiptoken."),
        },
    };
    let audit_log = is_audit_log_path(path);
    if audit_log {
        Counters::add(&shared.counters.audit_log_requests, 1);
    }
    if method == "GET" && audit_log {
        if let Some(limit) = &shared.reports {
            let now = shared.started.elapsed();
            if let Admission::Throttled { retry_after } = lock(limit).admit(client, now) {
                Counters::add(&shared.counters.audit_log_throttled, 1);
                let mut reply = Reply::error(
                    429,
                    "TooManyRequests",
                    "Too many requests: the application's request limit for the audit log and reports APIs is reached.",
                );
                reply
                    .headers
                    .push(("Retry-After", retry_after_seconds(retry_after).to_string()));
                return reply;
            }
        }
    }
    // Only reads spend the RU budget, so only they report how much of it is used: writes
    // have their own limits, which the fake does not emulate.
    let mut limit_percentage = None;
    if method == "GET" && !audit_log {
        if let Some(window) = &shared.throttle {
            let now = shared.started.elapsed();
            let mut window = lock(window);
            let admission = window.try_spend(now, cost);
            limit_percentage = window.limit_percentage(now, cost, admission);
            drop(window);
            if let Admission::Throttled { retry_after } = admission {
                let mut reply = Reply::error(
                    429,
                    "TooManyRequests",
                    "Too many requests: the application's resource unit budget for this tenant is spent.",
                );
                reply
                    .headers
                    .push(("Retry-After", format_retry_after(retry_after)));
                reply
                    .headers
                    .push((SCOPE_HEADER, throttle_scope(client, &shared.tenant_id)));
                reply
                    .headers
                    .push((INFORMATION_HEADER, "ResourceUnitLimitExceeded".into()));
                reply.headers.extend(
                    limit_percentage.map(|percentage| (LIMIT_PERCENTAGE_HEADER, percentage)),
                );
                return reply;
            }
        }
    }
    let mut reply = serve(shared, request, &query, cursor);
    reply
        .headers
        .extend(limit_percentage.map(|percentage| (LIMIT_PERCENTAGE_HEADER, percentage)));
    reply
}

/// The answer of a request the limits admitted: faults first, then the endpoint.
fn serve(shared: &Shared, request: &Request<'_>, query: &ODataQuery, cursor: PageCursor) -> Reply {
    let Request {
        method, path, body, ..
    } = *request;
    let pre_fault = lock(&shared.faults).before(path, cursor.page);
    match pre_fault {
        Some(PreFault::Forbidden) => {
            return Reply::error(
                403,
                "Authorization_RequestDenied",
                "Insufficient privileges to complete the operation.",
            )
        }
        Some(PreFault::NotFound) => {
            return Reply::error(
                404,
                "Request_ResourceNotFound",
                format!("Resource '{path}' does not exist."),
            )
        }
        Some(PreFault::ServerError {
            status,
            retry_after,
        }) => {
            let mut reply = Reply::error(
                status,
                status_code_name(status),
                "Injected server error (fake-graph faults).",
            );
            if let Some(seconds) = retry_after {
                reply.headers.push(("Retry-After", format!("{seconds}")));
            }
            return reply;
        }
        None => {}
    }
    let route = match Route::parse(method, path) {
        Ok(route) => route,
        Err(reply) => return reply,
    };
    let loops = lock(&shared.faults).loops_next_link(path);
    let list = ListRequest {
        shared,
        path,
        query,
        cursor,
        loops,
    };
    let mut reply = handle(shared, route, &list, body);
    if reply.status == 200 {
        reply.body_fault = lock(&shared.faults).on_body(path, cursor.page);
    }
    reply
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Route {
    Read(Read),
    Reprocess(String),
    /// `assignmentRequests/{id}/reprocess`
    RequestReprocess(String),
    /// `POST …/assignmentRequests` (an `adminRemove` request).
    CreateRequest,
    /// `POST users/{id or UPN}/sendMail` (recorded in the outbox).
    SendMail(String),
    /// `DELETE groups/{group}/members/{object}/$ref` and `…/owners/{object}/$ref`.
    RemoveFromGroup {
        link: GroupLink,
        group: String,
        object: String,
    },
    /// `DELETE servicePrincipals/{sp}/appRoleAssignedTo/{id}`
    RemoveAppRoleAssignment {
        service_principal: String,
        id: String,
    },
}

/// The GET endpoints.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Read {
    /// `organization`: the tenant's one organization object.
    Organization,
    Assignments,
    Assignment(String),
    Packages,
    Package(String),
    /// `accessPackages/{id}/resourceRoleScopes`: where a capped expansion continues.
    PackageScopes(String),
    Users,
    User(String),
    Groups,
    /// `groups/delta?$select=members&$filter=id eq '…' or …` (initial round, members only).
    GroupsDelta,
    Group(String),
    Members(String),
    Owners(String),
    ServicePrincipals,
    ServicePrincipal(String),
    AssignedTo(String),
    /// `roleManagement/directory/roleAssignments`
    RoleAssignments,
    /// `roleManagement/directory/roleEligibilitySchedules`
    RoleEligibilitySchedules,
    /// `identityGovernance/entitlementManagement/assignmentRequests`
    Requests,
    Request(String),
    /// `auditLogs/directoryAudits` (segments in any case)
    DirectoryAudits,
}

impl Route {
    /// Path segments compare case-sensitively; ids are kept as sent.
    fn parse(method: &str, path: &str) -> Result<Route, Reply> {
        let decoded: Vec<String> = path
            .trim_end_matches('/')
            .split('/')
            .map(percent_decode)
            .collect();
        let segments: Vec<&str> = decoded.iter().map(String::as_str).collect();
        let id = |s: &str| s.to_string();
        let read = match segments.as_slice() {
            ["identityGovernance", "entitlementManagement", "assignments", a, "reprocess"] => {
                return match method {
                    "POST" => Ok(Route::Reprocess(id(a))),
                    _ => Err(method_not_allowed()),
                };
            }
            ["identityGovernance", "entitlementManagement", "assignmentRequests", r, "reprocess"] =>
            {
                return match method {
                    "POST" => Ok(Route::RequestReprocess(id(r))),
                    _ => Err(method_not_allowed()),
                };
            }
            ["identityGovernance", "entitlementManagement", "assignmentRequests"] => {
                return match method {
                    "GET" => Ok(Route::Read(Read::Requests)),
                    "POST" => Ok(Route::CreateRequest),
                    _ => Err(method_not_allowed()),
                };
            }
            ["groups", g, list @ ("members" | "owners"), o, "$ref"] => {
                let link = if *list == "members" {
                    GroupLink::Member
                } else {
                    GroupLink::Owner
                };
                return match method {
                    "DELETE" => Ok(Route::RemoveFromGroup {
                        link,
                        group: id(g),
                        object: id(o),
                    }),
                    _ => Err(method_not_allowed()),
                };
            }
            ["users", u, "sendMail"] => {
                return match method {
                    "POST" => Ok(Route::SendMail(id(u))),
                    _ => Err(method_not_allowed()),
                };
            }
            ["servicePrincipals", s, "appRoleAssignedTo", a] => {
                return match method {
                    "DELETE" => Ok(Route::RemoveAppRoleAssignment {
                        service_principal: id(s),
                        id: id(a),
                    }),
                    _ => Err(method_not_allowed()),
                };
            }
            ["identityGovernance", "entitlementManagement", "assignmentRequests", r] => {
                Read::Request(id(r))
            }
            [logs, audits]
                if logs.eq_ignore_ascii_case("auditLogs")
                    && audits.eq_ignore_ascii_case("directoryAudits") =>
            {
                Read::DirectoryAudits
            }
            ["roleManagement", "directory", "roleAssignments"] => Read::RoleAssignments,
            ["roleManagement", "directory", "roleEligibilitySchedules"] => {
                Read::RoleEligibilitySchedules
            }
            ["identityGovernance", "entitlementManagement", "assignments"] => Read::Assignments,
            ["identityGovernance", "entitlementManagement", "assignments", a] => {
                Read::Assignment(id(a))
            }
            ["identityGovernance", "entitlementManagement", "accessPackages"] => Read::Packages,
            ["identityGovernance", "entitlementManagement", "accessPackages", p] => {
                Read::Package(id(p))
            }
            ["identityGovernance", "entitlementManagement", "accessPackages", p, "resourceRoleScopes"] => {
                Read::PackageScopes(id(p))
            }
            ["organization"] => Read::Organization,
            ["users"] => Read::Users,
            ["users", u] => Read::User(id(u)),
            ["groups"] => Read::Groups,
            ["groups", "delta"] => Read::GroupsDelta,
            ["groups", g] => Read::Group(id(g)),
            ["groups", g, "members"] => Read::Members(id(g)),
            ["groups", g, "owners"] => Read::Owners(id(g)),
            ["servicePrincipals"] => Read::ServicePrincipals,
            ["servicePrincipals", s] => Read::ServicePrincipal(id(s)),
            ["servicePrincipals", s, "appRoleAssignedTo"] => Read::AssignedTo(id(s)),
            _ => {
                let segment = segments
                    .iter()
                    .rev()
                    .find(|s| !s.is_empty())
                    .copied()
                    .unwrap_or_default();
                return Err(Reply::error(
                    400,
                    "BadRequest",
                    format!("Resource not found for the segment '{segment}'."),
                ));
            }
        };
        match method {
            "GET" => Ok(Route::Read(read)),
            _ => Err(method_not_allowed()),
        }
    }
}

fn method_not_allowed() -> Reply {
    Reply::error(
        405,
        "Request_BadRequest",
        "Specified HTTP method is not allowed for the request target.",
    )
}

const PACKAGES: &str = "identityGovernance/entitlementManagement/accessPackages";
const REQUESTS: &str = "identityGovernance/entitlementManagement/assignmentRequests";
const ROLE_ASSIGNMENTS: &str = "roleManagement/directory/roleAssignments";
const ROLE_ELIGIBILITY: &str = "roleManagement/directory/roleEligibilitySchedules";
/// Navigation properties of an assignment request a stored object may hold; each is served
/// only when `$expand` names it.
const REQUEST_NAVIGATION: [&str; 3] = ["assignment", "accessPackage", "requestor"];

/// The parts of a request a list answer needs.
struct ListRequest<'a> {
    shared: &'a Shared,
    path: &'a str,
    query: &'a ODataQuery,
    cursor: PageCursor,
    loops: bool,
}

impl ListRequest<'_> {
    /// Page size from `$top` (1–999) or the default.
    fn page_size(&self, default: usize) -> Result<usize, Reply> {
        // Graph treats `$top` as a hint: a page may hold fewer items than asked.
        let cap = self.shared.settings.max_page_size.unwrap_or(usize::MAX);
        match self.query.top {
            None => Ok(default.min(cap)),
            Some(top @ 1..=999) => Ok((top as usize).min(cap)),
            Some(top) => Err(Reply::error(
                400,
                "Request_BadRequest",
                format!(
                    "Invalid page size specified: '{top}'. Must be between 1 and 999 inclusive."
                ),
            )),
        }
    }

    fn no_filter(&self) -> Result<(), Reply> {
        match &self.query.filter {
            None => Ok(()),
            Some(_) => Err(Reply::error(
                400,
                "Request_UnsupportedQuery",
                "Unsupported query: fake-graph supports $filter only on assignments, groups/delta, directory roles, assignment requests and the directory audit log.",
            )),
        }
    }

    /// The `scheme://host:port` of a link to `link_path` in this answer: the fake's own, or
    /// the `foreign_next_link` fault's.
    fn origin(&self, link_path: &str) -> &str {
        self.shared
            .settings
            .foreign_links
            .as_ref()
            .and_then(|foreign| foreign.origin_for(self.path, link_path))
            .unwrap_or(&self.shared.base_url)
    }

    fn link(&self, cursor: Option<PageCursor>) -> String {
        let base = format!("{}/v1.0/{}", self.origin(self.path), self.path);
        let raw = &self.query.raw_without_skiptoken;
        match (cursor, raw.is_empty()) {
            (None, true) => base,
            (None, false) => format!("{base}?{raw}"),
            (Some(c), true) => format!("{base}?$skiptoken={}", c.encode()),
            (Some(c), false) => format!("{base}?{raw}&$skiptoken={}", c.encode()),
        }
    }

    /// One page of `items` (those `keep` accepts), starting at the cursor.
    fn page(
        &self,
        context: &str,
        items: &[Value],
        page_size: usize,
        keep: impl Fn(&Value) -> bool,
    ) -> Reply {
        let entries = items.iter().enumerate().skip(self.cursor.index);
        self.page_from(context, entries, page_size, keep)
    }

    /// One page of the items of `items` at `positions` (those `keep` accepts), starting at the
    /// cursor, which counts `positions` rather than `items`: a listing whose nextLinks keep
    /// the query (and so the same `positions`) pages through the subset alone.
    fn page_of(
        &self,
        context: &str,
        items: &[Value],
        positions: &[usize],
        page_size: usize,
        keep: impl Fn(&Value) -> bool,
    ) -> Reply {
        let entries = positions
            .iter()
            .enumerate()
            .skip(self.cursor.index)
            .filter_map(|(index, &position)| Some((index, items.get(position)?)));
        self.page_from(context, entries, page_size, keep)
    }

    /// One page of `entries` (cursor index, item) from the cursor on, those `keep` accepts;
    /// the nextLink resumes at the first accepted entry left out.
    fn page_from<'v>(
        &self,
        context: &str,
        entries: impl Iterator<Item = (usize, &'v Value)>,
        page_size: usize,
        keep: impl Fn(&Value) -> bool,
    ) -> Reply {
        let mut value = Vec::new();
        let mut next = None;
        for (index, item) in entries {
            if !keep(item) {
                continue;
            }
            if value.len() == page_size {
                next = Some(PageCursor {
                    page: self.cursor.page + 1,
                    index,
                });
                break;
            }
            value.push(item.clone());
        }
        let mut body = Map::new();
        body.insert(
            "@odata.context".into(),
            json!(format!("{}/v1.0/$metadata#{context}", self.shared.base_url)),
        );
        body.insert("value".into(), Value::Array(value));
        if self.loops {
            body.insert("@odata.nextLink".into(), json!(self.link(None)));
        } else if let Some(next) = next {
            body.insert("@odata.nextLink".into(), json!(self.link(Some(next))));
        }
        Reply::json(200, Value::Object(body))
    }

    /// Applies `expand_cap` to the `resourceRoleScopes` of one served access package, and with
    /// `expand_next_link` links the rest: page 2 of the per-package collection, resuming at the
    /// first scope left out (the same cursor a normal page would carry).
    fn cap_scopes(&self, package: &mut Value) {
        let settings = &self.shared.settings;
        let Some(cap) = settings.expand_cap else {
            return;
        };
        let Value::Object(object) = package else {
            return;
        };
        match object.get_mut("resourceRoleScopes") {
            Some(Value::Array(scopes)) if scopes.len() > cap => scopes.truncate(cap),
            _ => return,
        }
        if !settings.expand_next_link {
            return;
        }
        let Some(id) = object.get("id").and_then(Value::as_str) else {
            return;
        };
        let path = format!("{PACKAGES}/{}/resourceRoleScopes", encode_segment(id));
        let cursor = PageCursor {
            page: 2,
            index: cap,
        };
        let link = format!(
            "{}/v1.0/{path}?$expand=role,scope&$skiptoken={}",
            self.origin(&path),
            cursor.encode()
        );
        object.insert("resourceRoleScopes@odata.nextLink".into(), json!(link));
    }

    fn entity(&self, context: &str, item: &Value) -> Reply {
        let mut item = item.clone();
        if let Value::Object(object) = &mut item {
            let context = format!("{}/v1.0/$metadata#{context}/$entity", self.shared.base_url);
            object.insert("@odata.context".into(), json!(context));
        }
        Reply::json(200, item)
    }
}

fn handle(shared: &Shared, route: Route, list: &ListRequest<'_>, body: &[u8]) -> Reply {
    match route {
        Route::Reprocess(id) => writes::reprocess(shared, &id),
        Route::RequestReprocess(id) => writes::reprocess_request(shared, &id),
        Route::CreateRequest => remedies::admin_remove(shared, body),
        Route::SendMail(user) => mail::send_mail(shared, &user, body),
        Route::RemoveFromGroup {
            link,
            group,
            object,
        } => remedies::remove_from_group(shared, link, &group, &object),
        Route::RemoveAppRoleAssignment {
            service_principal,
            id,
        } => remedies::remove_app_role_assignment(shared, &service_principal, &id),
        Route::Read(read_route) => {
            let data = lock(&shared.data);
            read(&data, &shared.settings, read_route, list).unwrap_or_else(|reply| reply)
        }
    }
}

fn read(
    data: &Data,
    settings: &Settings,
    route: Read,
    list: &ListRequest<'_>,
) -> Result<Reply, Reply> {
    const ASSIGNMENTS: &str = "identityGovernance/entitlementManagement/assignments";
    let entity =
        |context: &str, item: Option<&Value>, missing: fn(&str) -> Reply, id: &str| match item {
            Some(item) => Ok(list.entity(context, item)),
            None => Err(missing(id)),
        };
    let whole = |context: &str, items: &[Value]| -> Result<Reply, Reply> {
        list.no_filter()?;
        let size = list.page_size(settings.page_size)?;
        Ok(list.page(context, items, size, |_| true))
    };
    match route {
        Read::Assignments => {
            let clauses = match &list.query.filter {
                None => Vec::new(),
                Some(text) => {
                    parse_assignment_filter(text).map_err(|m| Reply::error(400, "BadRequest", m))?
                }
            };
            let items = &data.assignments.items;
            let size = settings.assignment_page_size;
            let keep = |item: &Value| assignment_matches(item, &clauses);
            // Assignments ignore $top: their page size is the server's. With a package named,
            // only its assignments are looked at (the other clauses still apply): the same
            // items in the same order as a scan of them all, without the scan.
            let package = clauses.iter().find_map(|clause| match clause {
                AssignmentClause::AccessPackageId(id) => Some(id),
                _ => None,
            });
            let mut reply = match package {
                Some(package) => {
                    let positions = data.assignments.of_package(package);
                    list.page_of(ASSIGNMENTS, items, positions, size, keep)
                }
                None => list.page(ASSIGNMENTS, items, size, keep),
            };
            let selection = Selection::of(list.query);
            for item in page_items(&mut reply) {
                selection.apply(item);
            }
            Ok(reply)
        }
        Read::Assignment(id) => {
            let mut reply = entity(ASSIGNMENTS, data.assignments.get(&id), em_not_found, &id)?;
            if let Some(item) = reply.body.as_mut() {
                Selection::of(list.query).apply(item);
            }
            Ok(reply)
        }
        Read::Packages => {
            let mut reply = whole(PACKAGES, &data.packages.items)?;
            if let Some(Value::Array(packages)) =
                reply.body.as_mut().and_then(|b| b.get_mut("value"))
            {
                packages
                    .iter_mut()
                    .for_each(|package| list.cap_scopes(package));
            }
            Ok(reply)
        }
        Read::Package(id) => {
            let mut reply = entity(PACKAGES, data.packages.get(&id), em_not_found, &id)?;
            if let Some(package) = reply.body.as_mut() {
                list.cap_scopes(package);
            }
            Ok(reply)
        }
        Read::PackageScopes(id) => {
            let Some(package) = data.packages.get(&id) else {
                return Err(em_not_found(&id));
            };
            // Stored scopes are already expanded (role and scope), so `$expand` changes nothing.
            let scopes = package
                .get("resourceRoleScopes")
                .and_then(Value::as_array)
                .map(Vec::as_slice)
                .unwrap_or_default();
            whole(
                &format!("{PACKAGES}('{id}')/resourceRoleScopes(role(),scope())"),
                scopes,
            )
        }
        Read::Organization => whole("organization", &data.organization.items),
        Read::Users => whole("users", &data.users.items),
        Read::User(id) => entity("users", data.user(&id), not_found, &id),
        Read::Groups => whole("groups", &data.groups.items),
        Read::GroupsDelta => {
            let ids = match &list.query.filter {
                Some(text) => parse_id_filter(text)
                    .map_err(|m| Reply::error(400, "Request_UnsupportedQuery", m))?,
                None => {
                    return Err(Reply::error(
                        400,
                        "Request_UnsupportedQuery",
                        "fake-graph needs $filter=id eq '…' on groups/delta",
                    ))
                }
            };
            // One entry per group per chunk of members: a large group spans entries (and pages),
            // as Graph's delta does; the client merges them.
            let mut entries = Vec::new();
            // A group whose members were not recorded is left out: the client reads it on its
            // own and is refused (`not_recorded`), never told it is empty.
            for id in ids.iter().filter(|id| {
                data.groups.contains(id) && data.members.contains_key(&id.to_ascii_lowercase())
            }) {
                let members = sub_items(&data.members, id);
                let chunks: Vec<&[Value]> = if members.is_empty() {
                    vec![&[]]
                } else {
                    members.chunks(DELTA_MEMBERS_PER_ENTRY).collect()
                };
                for chunk in chunks {
                    entries.push(json!({"id": id, "members@delta": chunk}));
                }
            }
            let size = list.page_size(settings.page_size)?;
            let mut reply = list.page("groups", &entries, size, |_| true);
            // The last page carries a deltaLink (for the next round) instead of a nextLink.
            if let Some(Value::Object(body)) = reply.body.as_mut() {
                if !body.contains_key("@odata.nextLink") {
                    let link = format!(
                        "{}/v1.0/groups/delta?$deltatoken=fake-{}",
                        list.origin("groups/delta"),
                        entries.len()
                    );
                    body.insert("@odata.deltaLink".into(), json!(link));
                }
            }
            Ok(reply)
        }
        Read::Group(id) => entity("groups", data.groups.get(&id), not_found, &id),
        Read::Members(id) | Read::Owners(id) if !data.groups.contains(&id) => Err(not_found(&id)),
        Read::Members(id) if !data.members.contains_key(&id.to_ascii_lowercase()) => {
            Err(not_recorded(&id, "members"))
        }
        Read::Owners(id) if !data.owners.contains_key(&id.to_ascii_lowercase()) => {
            Err(not_recorded(&id, "owners"))
        }
        Read::Members(id) => whole("directoryObjects", sub_items(&data.members, &id)),
        Read::Owners(id) => whole("directoryObjects", sub_items(&data.owners, &id)),
        Read::ServicePrincipals => whole("servicePrincipals", &data.service_principals.items),
        Read::ServicePrincipal(id) => entity(
            "servicePrincipals",
            data.service_principals.get(&id),
            not_found,
            &id,
        ),
        Read::AssignedTo(id) if !data.service_principals.contains(&id) => Err(not_found(&id)),
        Read::AssignedTo(id)
            if !data
                .app_role_assigned_to
                .contains_key(&id.to_ascii_lowercase()) =>
        {
            Err(not_recorded(&id, "appRoleAssignedTo"))
        }
        Read::AssignedTo(id) => whole(
            &format!("servicePrincipals('{id}')/appRoleAssignedTo"),
            sub_items(&data.app_role_assigned_to, &id),
        ),
        Read::RoleAssignments => role_list(
            data,
            settings,
            list,
            ROLE_ASSIGNMENTS,
            &data.role_assignments.items,
        ),
        Read::RoleEligibilitySchedules => role_list(
            data,
            settings,
            list,
            ROLE_ELIGIBILITY,
            &data.role_eligibility_schedules.items,
        ),
        Read::DirectoryAudits => {
            let filter = match &list.query.filter {
                None => None,
                Some(text) => {
                    Some(AuditFilter::parse(text).map_err(|m| Reply::error(400, "BadRequest", m))?)
                }
            };
            // Not the server's page size: the audit log has Graph's own default and cap.
            let size = audit_log::page_size(list.query.top, settings.max_page_size)
                .map_err(|m| Reply::error(400, "Request_BadRequest", m))?;
            Ok(
                list.page(audit_log::PATH, &data.directory_audits, size, |event| {
                    filter.as_ref().is_none_or(|f| f.matches(event))
                }),
            )
        }
        Read::Requests => {
            let states = match &list.query.filter {
                None => None,
                Some(text) => Some(
                    parse_request_filter(text).map_err(|m| Reply::error(400, "BadRequest", m))?,
                ),
            };
            let expanded = expansions(list.query, &REQUEST_NAVIGATION, REQUESTS)?;
            let size = list.page_size(settings.page_size)?;
            let mut reply = list.page(REQUESTS, &data.assignment_requests.items, size, |item| {
                states.as_ref().is_none_or(|states| {
                    str_at(item, "/state")
                        .is_some_and(|s| states.iter().any(|w| w.eq_ignore_ascii_case(s)))
                })
            });
            for item in page_items(&mut reply) {
                trim_request(item, &expanded);
            }
            Ok(reply)
        }
        Read::Request(id) => {
            let expanded = expansions(list.query, &REQUEST_NAVIGATION, REQUESTS)?;
            let mut reply = entity(
                REQUESTS,
                data.assignment_requests.get(&id),
                em_not_found,
                &id,
            )?;
            if let Some(item) = reply.body.as_mut() {
                trim_request(item, &expanded);
            }
            Ok(reply)
        }
    }
}

/// Members listed in one `members@delta` entry before the group continues in another.
const DELTA_MEMBERS_PER_ENTRY: usize = 500;

/// `id eq 'a' or id eq 'b'` → the ids; Graph allows at most 50.
fn parse_id_filter(text: &str) -> Result<Vec<String>, String> {
    let ids: Vec<String> = text
        .split(" or ")
        .map(|clause| {
            let clause = clause.trim();
            clause
                .strip_prefix("id eq '")
                .and_then(|rest| rest.strip_suffix('\''))
                .map(|id| id.to_ascii_lowercase())
                .ok_or_else(|| {
                    format!("unsupported filter clause `{clause}`: only id eq '…' joined with or")
                })
        })
        .collect::<Result<_, _>>()?;
    if ids.len() > 50 {
        return Err(format!(
            "{} ids in one filter: at most 50 are allowed",
            ids.len()
        ));
    }
    Ok(ids)
}

/// The stored sub-collection of a resource (lower-cased id); none is an empty list.
/// A resource whose collection the tenant directory did not record (absence is not emptiness):
/// refused, as Graph refuses a read the app may not make, so the client reports it unreadable.
fn not_recorded(id: &str, what: &str) -> Reply {
    Reply::error(
        403,
        "Authorization_RequestDenied",
        format!("fake-graph: the {what} of `{id}` were not recorded in the tenant directory."),
    )
}

fn sub_items<'d>(map: &'d HashMap<String, Vec<Value>>, id: &str) -> &'d [Value] {
    map.get(&id.to_ascii_lowercase())
        .map(Vec::as_slice)
        .unwrap_or_default()
}
