//! SharePoint REST for the sites a tenant directory records (`sharepoint/`), at the fake's
//! second origin: a site group (`{site}/_api/web/sitegroups/GetById(n)`) and its users
//! (`.../users`, paged with `$top` and `odata.nextLink`; `AadObjectId` only when `$select`ed),
//! in SharePoint's `odata=nometadata` shape. As SharePoint does, it accepts only a token asked
//! for its own audience (`https://<tenant>.sharepoint.com/.default`) and obtained with a client
//! assertion (a certificate): a client secret's token is refused ("Unsupported app only
//! token."). Faults: `sharepoint_forbidden` (403), `sharepoint_throttle` (429 with
//! `Retry-After` and `RateLimit-*`), and a group whose membership is hidden
//! (`CanCurrentUserViewMembership: false`) answers its users with 403, as SharePoint does. A
//! directory that recorded no SharePoint answers every site with 403 (not recorded), never 404.

use axum::http::header;
use axum::http::request::Parts;
use serde_json::{json, Value};

use crate::dispatch::Reply;
use crate::shared::Shared;
use crate::state::{lock, Counters};

/// The users of a group when `$top` is absent (SharePoint's own default page is 100).
const DEFAULT_TOP: usize = 100;

fn sp_error(status: u16, code: &str, message: &str) -> Reply {
    Reply::json(
        status,
        json!({"odata.error": {"code": code, "message": {"lang": "en-US", "value": message}}}),
    )
}

/// What a SharePoint path asks for.
enum Asked {
    /// `/_api/web/sitegroups`: every group of the site.
    Groups,
    /// `/_api/web/sitegroups/GetById(<n>)` (or `sitegroups(<n>)`), and whether its `/users`.
    Group(u32, bool),
    /// `POST .../sitegroups/GetById(<n>)/users/removeById(<site user id>)`.
    Remove(u32, i64),
}

/// The site path and what `/sites/<name>/_api/web/...` asks for.
fn parse_request(path: &str) -> Option<(String, Asked)> {
    let (site, api) = path.split_once("/_api/web/")?;
    if api.eq_ignore_ascii_case("sitegroups") {
        return Some((site.to_ascii_lowercase(), Asked::Groups));
    }
    let lower = api.to_ascii_lowercase();
    if let Some((group_part, user)) = lower.split_once("/users/removebyid(") {
        let group = group_part
            .strip_prefix("sitegroups/getbyid(")
            .or_else(|| group_part.strip_prefix("sitegroups("))?
            .strip_suffix(')')?
            .parse()
            .ok()?;
        let user = user.strip_suffix(')')?.parse().ok()?;
        return Some((site.to_ascii_lowercase(), Asked::Remove(group, user)));
    }
    let (site, group, users) = parse(path)?;
    Some((site, Asked::Group(group, users)))
}

/// The site path and group of `/sites/<name>/_api/web/sitegroups/GetById(<n>)[/users]` (also
/// `sitegroups(<n>)`), and whether the users were asked for.
fn parse(path: &str) -> Option<(String, u32, bool)> {
    let (site, api) = path.split_once("/_api/web/")?;
    let lower = api.to_ascii_lowercase();
    let rest = lower
        .strip_prefix("sitegroups/getbyid(")
        .or_else(|| lower.strip_prefix("sitegroups("))?;
    let (number, tail) = rest.split_once(')')?;
    let users = match tail {
        "" => false,
        "/users" => true,
        _ => return None,
    };
    Some((site.to_ascii_lowercase(), number.parse().ok()?, users))
}

/// Answers one SharePoint request.
pub fn handle(shared: &Shared, parts: &Parts) -> Reply {
    let path = parts.uri.path();
    let query = parts.uri.query().unwrap_or_default();
    let target = match query {
        "" => path.to_string(),
        q => format!("{path}?{q}"),
    };
    let token = parts
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let grant = token.and_then(|t| {
        let mut tokens = lock(&shared.tokens);
        tokens.authenticate(t)?;
        tokens.grant(t)
    });
    let sites = lock(&shared.data).sharepoint.clone();
    let site = parse_request(path).and_then(|(site_path, asked)| {
        let recorded = sites.as_ref()?.sites.iter().find(|s| {
            s.url
                .to_ascii_lowercase()
                .trim_end_matches('/')
                .ends_with(&site_path)
        })?;
        Some((recorded.clone(), asked))
    });
    let audience = site.as_ref().map(|(s, _)| {
        let url = s.url.to_ascii_lowercase();
        let origin_end = url[8..].find('/').map_or(url.len(), |i| i + 8);
        format!("{}/.default", &url[..origin_end])
    });
    let authorized = matches!((&grant, &audience), (Some((scope, _)), Some(a)) if scope.split_whitespace().any(|s| s == a));
    lock(&shared.sharepoint_log).push((parts.method.to_string(), target.clone(), authorized));
    Counters::add(&shared.counters.sharepoint_requests, 1);

    if let Some(wait) = lock(&shared.faults).sharepoint_throttled() {
        Counters::add(&shared.counters.sharepoint_throttled, 1);
        let mut reply = sp_error(
            429,
            "-2147024860, Microsoft.SharePoint.SPQueryThrottledException",
            "The request has been throttled.",
        );
        reply.headers.push(("Retry-After", wait.to_string()));
        reply.headers.push(("RateLimit-Limit", "1250".into()));
        reply.headers.push(("RateLimit-Remaining", "0".into()));
        reply.headers.push(("RateLimit-Reset", wait.to_string()));
        return reply;
    }
    if sites.is_none() {
        // Absence is not emptiness: a directory that recorded no SharePoint cannot say a site
        // does not exist.
        return sp_error(
            403,
            "-2147024891, System.UnauthorizedAccessException",
            "Access denied (SharePoint not recorded in the tenant directory).",
        );
    }
    let Some((site, asked)) = site else {
        return sp_error(
            404,
            "-2130575338, System.IO.FileNotFoundException",
            "File Not Found.",
        );
    };
    match &grant {
        None => {
            return sp_error(
                401,
                "-2147024891, System.UnauthorizedAccessException",
                "Invalid JWT token.",
            )
        }
        Some((_, false)) if authorized => {
            return sp_error(
                401,
                "-2147024891, System.UnauthorizedAccessException",
                "Unsupported app only token.",
            );
        }
        Some(_) if !authorized => {
            return sp_error(
                401,
                "-2147024891, System.UnauthorizedAccessException",
                "Invalid audience Uri.",
            );
        }
        Some(_) => {}
    }
    let writes = matches!(asked, Asked::Remove(..));
    if (parts.method == axum::http::Method::POST) != writes
        || (!writes && parts.method != axum::http::Method::GET)
    {
        return sp_error(
            405,
            "-1, Microsoft.SharePoint.Client.InvalidClientQueryException",
            "The fake serves GET, and POST for removeById.",
        );
    }
    let site_key = site.url.trim_end_matches('/').to_ascii_lowercase();
    if lock(&shared.faults)
        .sharepoint_forbidden
        .contains(&site_key)
    {
        return sp_error(403, "-2147024891, System.UnauthorizedAccessException", "Access denied. You do not have permission to perform this action or access this resource.");
    }
    let (group, users) = match asked {
        Asked::Groups => {
            let groups: Vec<Value> = site
                .groups
                .iter()
                .map(|g| {
                    let mut body = serde_json::to_value(g).unwrap_or(Value::Null);
                    body["CanCurrentUserViewMembership"] = json!(g.members_visible());
                    body
                })
                .collect();
            return Reply::json(200, json!({ "value": groups }));
        }
        Asked::Group(group, users) => (group, users),
        Asked::Remove(group, site_user) => {
            let mut data = lock(&shared.data);
            let removed = data
                .sharepoint
                .as_mut()
                .and_then(|sp| sp.users.get_mut(&(site.key.clone(), group)))
                .map(|users| {
                    let before = users.len();
                    users.retain(|u| u.id != Some(site_user));
                    before - users.len()
                })
                .unwrap_or(0);
            if removed == 0 {
                return sp_error(
                    404,
                    "-2146232832, Microsoft.SharePoint.SPException",
                    "User cannot be found.",
                );
            }
            data.site_user_removals += 1;
            return Reply::json(200, json!({}));
        }
    };
    let Some(record) = site.groups.iter().find(|g| g.id == group) else {
        return sp_error(
            404,
            "-2146232832, Microsoft.SharePoint.SPException",
            "Group cannot be found.",
        );
    };
    if !users {
        let mut body = serde_json::to_value(record).unwrap_or(Value::Null);
        body["PrincipalType"] = json!(8);
        body["CanCurrentUserViewMembership"] = json!(record.members_visible());
        return Reply::json(200, body);
    }
    if !record.members_visible() {
        return sp_error(403, "-2147024891, System.UnauthorizedAccessException", "Access denied. You do not have permission to perform this action or access this resource.");
    }
    let recorded = sites
        .as_ref()
        .and_then(|sp| sp.users.get(&(site.key.clone(), group)));
    let Some(all) = recorded else {
        // Absence is not emptiness: a group the directory did not record cannot be listed.
        return sp_error(
            403,
            "-2147024891, System.UnauthorizedAccessException",
            "Access denied (not recorded in the tenant directory).",
        );
    };
    let params: Vec<(String, String)> = url::form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect();
    let param = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
    };
    let top = param("$top")
        .and_then(|t| t.parse::<usize>().ok())
        .unwrap_or(DEFAULT_TOP)
        .clamp(1, 5000)
        .min(shared.settings.max_page_size.unwrap_or(usize::MAX));
    let skip = param("$skiptoken")
        .and_then(|t| t.parse::<usize>().ok())
        .unwrap_or(0);
    let selected = param("$select").map(|s| s.to_ascii_lowercase());
    let page: Vec<Value> = all
        .iter()
        .skip(skip)
        .take(top)
        .map(|user| {
            let mut value = serde_json::to_value(user).unwrap_or(Value::Null);
            // SharePoint returns AadObjectId only when it is selected.
            if !selected
                .as_deref()
                .is_some_and(|s| s.contains("aadobjectid"))
            {
                if let Some(object) = value.as_object_mut() {
                    object.remove("AadObjectId");
                }
            }
            value
        })
        .collect();
    let mut body = json!({ "value": page });
    if skip + top < all.len() {
        let mut next: Vec<(String, String)> = params
            .into_iter()
            .filter(|(k, _)| !k.eq_ignore_ascii_case("$skiptoken"))
            .collect();
        next.push(("$skiptoken".into(), (skip + top).to_string()));
        let query: String = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(next)
            .finish();
        body["odata.nextLink"] = json!(format!("{}{path}?{query}", shared.sharepoint_url));
    }
    Reply::json(200, body)
}

#[cfg(test)]
mod parse_tests {
    #[test]
    fn both_spellings_of_a_site_group_are_read() {
        assert_eq!(
            super::parse("/sites/Sales/_api/web/sitegroups/GetById(4)/users"),
            Some(("/sites/sales".into(), 4, true))
        );
        assert_eq!(
            super::parse("/sites/Sales/_api/web/sitegroups(4)"),
            Some(("/sites/sales".into(), 4, false))
        );
        assert_eq!(super::parse("/sites/Sales/_api/web/lists"), None);
    }
}
