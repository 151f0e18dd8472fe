//! In-process tests of the fake Graph server over real HTTPS (reqwest trusting its CA).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use reqwest::header::HeaderMap;
use serde_json::{json, Value};

use super::{start, FakeConfig, Faults, RunningFake};

const GROUP: &str = "15f02b30-b055-4983-ba88-8d6ab2e2d0dc";
const OTHER_GROUP: &str = "1b01d039-c9d2-4b04-9e79-991f6b93bfe4";
const SP: &str = "de04b46d-fab4-48fd-9ec3-1eb67c11a4e6";
const ADELE: &str = "94db7a08-d8e3-49ea-a571-f2e8f55015b0";
/// Delivered, but its target 284e3a3c… is missing from OTHER_GROUP's members.
const DRIFTED: &str = "751bd151-dce2-45c2-9469-052950416704";
const DRIFTED_USER: &str = "284e3a3c-fb91-48bf-bad1-74c3685d7d3a";
const EXPIRED: &str = "83b30056-2bb5-43ae-83b3-c31f50ae1419";
const SECRET: &str = "s3cret-value";

fn contoso() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/contoso")
}

fn file_ids(relative: &str) -> Vec<String> {
    let text = std::fs::read_to_string(contoso().join(relative)).unwrap();
    let body: Value = serde_json::from_str(&text).unwrap();
    body["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap().to_string())
        .collect()
}

struct Client {
    http: reqwest::Client,
    url: String,
    tenant: String,
}

struct Answer {
    status: u16,
    headers: HeaderMap,
    text: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("{e}: {}", self.text))
    }

    fn units(&self) -> u64 {
        self.headers["x-ms-resource-unit"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap()
    }
}

impl Client {
    fn new(fake: &RunningFake) -> Client {
        let ca = reqwest::Certificate::from_pem(fake.ca_pem.as_bytes()).unwrap();
        Client {
            http: reqwest::Client::builder()
                .tls_certs_only([ca])
                .build()
                .unwrap(),
            url: fake.url.clone(),
            tenant: fake.tenant_id.clone(),
        }
    }

    async fn token_request(&self, tenant: &str, secret: &str) -> Answer {
        let form = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("client_id", "app-1")
            .append_pair("scope", "https://graph.microsoft.com/.default")
            .append_pair("grant_type", "client_credentials")
            .append_pair("client_secret", secret)
            .finish();
        let response = self
            .http
            .post(format!("{}/{tenant}/oauth2/v2.0/token", self.url))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form)
            .send()
            .await
            .unwrap();
        answer(response).await
    }

    async fn token(&self) -> String {
        let reply = self.token_request(&self.tenant, SECRET).await;
        assert_eq!(reply.status, 200, "{}", reply.text);
        let body = reply.json();
        assert_eq!(body["expires_in"], 3599);
        body["access_token"].as_str().unwrap().to_string()
    }

    async fn send(
        &self,
        method: reqwest::Method,
        url: &str,
        token: &str,
        body: Option<Value>,
    ) -> Result<Answer, reqwest::Error> {
        let url = if url.starts_with("https://") {
            url.to_string()
        } else {
            format!("{}/v1.0/{url}", self.url)
        };
        let mut request = self.http.request(method, url).bearer_auth(token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await?;
        Ok(Answer {
            status,
            headers,
            text,
        })
    }

    async fn get(&self, url: &str, token: &str) -> Answer {
        self.send(reqwest::Method::GET, url, token, None)
            .await
            .unwrap()
    }

    async fn post(&self, url: &str, token: &str, body: Option<Value>) -> Answer {
        self.send(reqwest::Method::POST, url, token, body)
            .await
            .unwrap()
    }

    async fn stats(&self) -> Value {
        let response = self
            .http
            .get(format!("{}/_fake/stats", self.url))
            .send()
            .await
            .unwrap();
        response.json().await.unwrap()
    }
}

async fn answer(response: reqwest::Response) -> Answer {
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    Answer {
        status,
        headers,
        text: response.text().await.unwrap(),
    }
}

fn config() -> FakeConfig {
    let mut config = FakeConfig::new(contoso());
    config.client_id = Some("APP-1".into());
    config.client_secret = Some(SECRET.into());
    config
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serves_pages_batches_and_stats_over_https() {
    let fake = start(config()).await.unwrap();
    assert!(fake.url.starts_with("https://127.0.0.1:"));
    let client = Client::new(&fake);

    let refused = client.token_request(&client.tenant, "wrong-guess").await;
    assert_eq!(refused.status, 401);
    assert_eq!(refused.json()["error"], "invalid_client");
    assert!(!refused.text.contains("wrong-guess"));
    let unknown_tenant = client.token_request("contoso.example", SECRET).await;
    assert_eq!(unknown_tenant.status, 400);
    assert_eq!(unknown_tenant.json()["error_codes"], json!([90002]));

    let anonymous = client.get("users", "not-a-token").await;
    assert_eq!(anonymous.status, 401);
    assert_eq!(
        anonymous.json()["error"]["code"],
        "InvalidAuthenticationToken"
    );
    let token = client.token().await;

    // Members one by one, following nextLinks verbatim.
    let mut url = format!("groups/{}/members?$select=id&$top=1", GROUP.to_uppercase());
    let mut seen = Vec::new();
    let mut units = anonymous.units();
    let mut pages = 0;
    loop {
        let page = client.get(&url, &token).await;
        pages += 1;
        assert_eq!(page.status, 200, "{}", page.text);
        assert_eq!(page.units(), 1, "members 3, $select -1, $top<20 -1");
        units += page.units();
        let body = page.json();
        assert!(body["@odata.context"]
            .as_str()
            .unwrap()
            .ends_with("$metadata#directoryObjects"));
        let value = body["value"].as_array().unwrap();
        assert_eq!(value.len(), 1);
        seen.push(value[0]["id"].as_str().unwrap().to_string());
        match body.get("@odata.nextLink").and_then(Value::as_str) {
            Some(next) => {
                assert!(
                    next.starts_with(&format!("{}/v1.0/groups/", fake.url)),
                    "{next}"
                );
                assert!(next.contains("$select=id&$top=1&$skiptoken="), "{next}");
                url = next.to_string();
            }
            None => break,
        }
    }
    assert_eq!(seen, file_ids(&format!("groups/{GROUP}/members.json")));

    let empty = client
        .get(
            &format!("groups/{}/owners", "6606f3cc-f3ee-407b-a88f-d11608648942"),
            &token,
        )
        .await;
    assert_eq!(empty.json()["value"], json!([]));
    units += empty.units();

    let batch = json!({"requests": [
        {"id": "a", "method": "GET", "url": format!("/users/{ADELE}")},
        {"id": "b", "method": "GET", "url": "groups/00000000-0000-0000-0000-000000000000/members"},
        {"id": "c", "method": "GET", "url": format!("/servicePrincipals/{SP}/appRoleAssignedTo?$top=999")},
    ]});
    let reply = client.post("$batch", &token, Some(batch)).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.units(), 0, "the envelope costs nothing");
    let body = reply.json();
    let responses = body["responses"].as_array().unwrap();
    let ids: Vec<&str> = responses
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["c", "b", "a"], "reversed");
    assert_eq!(responses[2]["status"], 200);
    assert_eq!(responses[2]["body"]["id"], ADELE);
    assert_eq!(responses[1]["status"], 404);
    assert_eq!(
        responses[1]["body"]["error"]["code"],
        "Request_ResourceNotFound"
    );
    assert_eq!(
        responses[0]["body"]["value"].as_array().unwrap().len(),
        file_ids(&format!("servicePrincipals/{SP}/appRoleAssignedTo.json")).len()
    );
    let inner_units: Vec<u64> = responses
        .iter()
        .map(|r| {
            r["headers"]["x-ms-resource-unit"]
                .as_str()
                .unwrap()
                .parse()
                .unwrap()
        })
        .collect();
    assert_eq!(inner_units, [2, 3, 1]);
    units += inner_units.iter().sum::<u64>();

    let invalid = client.post("$batch", &token, Some(json!({"requests": (0..21).map(|i| json!({"id": i.to_string(), "method": "GET", "url": "users"})).collect::<Vec<_>>()}))).await;
    assert_eq!(invalid.status, 400);
    let duplicate = client
        .post("$batch", &token, Some(json!({"requests": [{"id": "1", "method": "GET", "url": "users"}, {"id": "1", "method": "GET", "url": "groups"}]})))
        .await;
    assert_eq!(duplicate.status, 400);

    let stats = client.stats().await;
    assert_eq!(stats["requests"], json!(1 + pages + 1 + 3));
    assert_eq!(stats["batch_inner_requests"], 3);
    assert_eq!(stats["tokens_issued"], 1);
    assert_eq!(stats["throttled"], 0);
    assert_eq!(stats["resource_units"], json!(units));
    assert_eq!(stats["reprocess"], json!({}));
    fake.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filters_reprocess_and_write_failures() {
    let mut config = config();
    config.faults =
        Some(Faults::parse(r#"{"fail_writes_after": 1, "fail_writes_status": 503}"#).unwrap());
    config.assignment_page_size = 2;
    let fake = start(config).await.unwrap();
    let client = Client::new(&fake);
    let token = client.token().await;
    let assignments = "identityGovernance/entitlementManagement/assignments";

    let mut url = format!("{assignments}?$filter=state%20eq%20'Delivered'&$expand=target&$top=1");
    let mut delivered = 0;
    loop {
        let page = client.get(&url, &token).await.json();
        let value = page["value"].as_array().unwrap();
        assert!(
            value.len() <= 2,
            "assignments ignore $top and use their own page size"
        );
        assert!(value.iter().all(|a| a["state"]
            .as_str()
            .unwrap()
            .eq_ignore_ascii_case("delivered")));
        delivered += value.len();
        match page.get("@odata.nextLink").and_then(Value::as_str) {
            Some(next) => url = next.to_string(),
            None => break,
        }
    }
    assert_eq!(
        delivered, 22,
        "19 'delivered' and 3 'Delivered' in the fixture"
    );
    let one = client
        .get(
            &format!(
                "{assignments}?$filter=target/objectid eq '{}' and accessPackage/id eq 'nope'",
                DRIFTED_USER.to_uppercase()
            ),
            &token,
        )
        .await;
    assert_eq!(one.json()["value"], json!([]));
    let bad = client
        .get(
            &format!("{assignments}?$filter=status eq 'Delivered'"),
            &token,
        )
        .await;
    assert_eq!(bad.status, 400);

    let members = format!("groups/{OTHER_GROUP}/members?$top=999");
    let before = client.get(&members, &token).await.json();
    assert!(!before.to_string().contains(DRIFTED_USER));
    assert_eq!(
        client
            .post(&format!("{assignments}/{EXPIRED}/reprocess"), &token, None)
            .await
            .status,
        400
    );
    assert_eq!(
        client
            .post(&format!("{assignments}/nope/reprocess"), &token, None)
            .await
            .status,
        404
    );
    let accepted = client
        .post(
            &format!("{assignments}/{}/reprocess", DRIFTED.to_uppercase()),
            &token,
            None,
        )
        .await;
    assert_eq!(accepted.status, 202);
    assert!(accepted.text.is_empty());
    let after = client.get(&members, &token).await.json();
    let added = after["value"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(
        added,
        json!({"@odata.type": "#microsoft.graph.user", "id": DRIFTED_USER})
    );
    let failed = client
        .post(&format!("{assignments}/{DRIFTED}/reprocess"), &token, None)
        .await;
    assert_eq!(failed.status, 503, "fail_writes_after 1");
    assert_eq!(client.stats().await["reprocess"], json!({ DRIFTED: 1 }));
    assert_eq!(fake.stats().reprocess.get(DRIFTED), Some(&1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn injected_faults() {
    let owners = format!("groups/{GROUP}/owners");
    let faults = json!({
        "forbidden": [owners],
        "not_found": [format!("servicePrincipals/{SP}/appRoleAssignedTo")],
        "server_errors": [{"path": "users", "status": 504, "count": 1, "retry_after": 0.25}],
        "truncate_body": [{"path": format!("users/{ADELE}"), "count": 2}],
        "drop_connection": [{"path": format!("groups/{GROUP}/members"), "page": 2, "count": 1},
                            {"path": format!("groups/{OTHER_GROUP}"), "count": 1}],
        "next_link_loop": [format!("groups/{OTHER_GROUP}/members")],
    });
    let mut config = config();
    config.faults = Some(Faults::parse(&faults.to_string()).unwrap());
    let fake = start(config).await.unwrap();
    let client = Client::new(&fake);
    let token = client.token().await;

    let forbidden = client
        .get(&format!("groups/{}/owners", GROUP.to_uppercase()), &token)
        .await;
    assert_eq!(
        (forbidden.status, forbidden.json()["error"]["code"].clone()),
        (403, json!("Authorization_RequestDenied"))
    );
    assert_eq!(
        client
            .get(&format!("servicePrincipals/{SP}/appRoleAssignedTo"), &token)
            .await
            .status,
        404
    );
    let unavailable = client.get("users", &token).await;
    assert_eq!(unavailable.status, 504);
    assert_eq!(unavailable.headers["retry-after"], "0.25");
    assert_eq!(client.get("users", &token).await.status, 200, "count 1");

    let truncated = client.get(&format!("users/{ADELE}"), &token).await;
    assert_eq!(truncated.status, 200);
    assert!(serde_json::from_str::<Value>(&truncated.text).is_err());
    let batch =
        json!({"requests": [{"id": "1", "method": "GET", "url": format!("users/{ADELE}")}]});
    let inner = client
        .post("$batch", &token, Some(batch.clone()))
        .await
        .json();
    let cut = inner["responses"][0]["body"].as_str().unwrap();
    assert!(cut.starts_with('{') && serde_json::from_str::<Value>(cut).is_err());
    let healed = client.post("$batch", &token, Some(batch)).await.json();
    assert_eq!(healed["responses"][0]["body"]["id"], ADELE);

    let first = client
        .get(&format!("groups/{GROUP}/members?$top=1"), &token)
        .await
        .json();
    let next = first["@odata.nextLink"].as_str().unwrap().to_string();
    assert!(
        client
            .send(reqwest::Method::GET, &next, &token, None)
            .await
            .is_err(),
        "page 2 dropped"
    );
    assert_eq!(client.get(&next, &token).await.status, 200, "count 1");

    let dropped_batch = json!({"requests": [
        {"id": "1", "method": "GET", "url": "users?$top=1"},
        {"id": "2", "method": "GET", "url": format!("groups/{OTHER_GROUP}")},
    ]});
    assert!(client
        .send(reqwest::Method::POST, "$batch", &token, Some(dropped_batch))
        .await
        .is_err());

    let looped = client
        .get(&format!("groups/{OTHER_GROUP}/members?$top=999"), &token)
        .await
        .json();
    assert_eq!(
        looped["@odata.nextLink"],
        json!(format!(
            "{}/v1.0/groups/{OTHER_GROUP}/members?$top=999",
            fake.url
        ))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_expire_and_budget_throttles() {
    let mut config = config();
    config.faults = Some(Faults::parse(r#"{"expire_token_after": 2}"#).unwrap());
    config.throttle_ru = Some(4);
    config.throttle_window_ms = 1500;
    config.latency_ms = 30;
    let fake = start(config).await.unwrap();
    let client = Client::new(&fake);

    let old = client.token().await;
    let started = Instant::now();
    assert_eq!(
        client.get(&format!("groups/{GROUP}"), &old).await.status,
        200
    );
    assert!(started.elapsed() >= Duration::from_millis(30), "latency");
    assert_eq!(
        client.get(&format!("groups/{GROUP}"), &old).await.status,
        200
    );
    assert_eq!(
        client.get(&format!("groups/{GROUP}"), &old).await.status,
        401,
        "expired after 2"
    );
    let new = client.token().await;

    // 2 RU spent; members cost 3 > 4 - 2.
    let throttled = client.get(&format!("groups/{GROUP}/members"), &new).await;
    assert_eq!(throttled.status, 429, "{}", throttled.text);
    assert_eq!(throttled.json()["error"]["code"], "TooManyRequests");
    let wait: f64 = throttled.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((0.05..=1.5).contains(&wait), "{wait}");
    tokio::time::sleep(Duration::from_secs_f64(wait)).await;
    let retried = client.get(&format!("groups/{GROUP}/members"), &new).await;
    assert_eq!(retried.status, 200, "{}", retried.text);
    // Writes are not throttled.
    let write = client
        .post(
            &format!("identityGovernance/entitlementManagement/assignments/{DRIFTED}/reprocess"),
            &new,
            None,
        )
        .await;
    assert_eq!(write.status, 202);
    let stats = client.stats().await;
    assert_eq!(stats["throttled"], 1);
    assert_eq!(stats["tokens_issued"], 2);
    assert_eq!(stats["resource_units"], json!(1 + 1 + 1 + 3 + 3 + 1));
}

const PACKAGES: &str = "identityGovernance/entitlementManagement/accessPackages";
/// Finance Analysts: two resource role scopes in contoso.
const PACKAGE: &str = "b35dd7ff-3853-4b39-ba9a-0f7417cf706b";
/// The package of [`WideTenant`] with [`WIDE_SCOPES`] scopes, and one with a single scope.
const WIDE: &str = "9d2c0f7e-5a1b-4c3d-8e9f-000000000001";
const NARROW: &str = "9d2c0f7e-5a1b-4c3d-8e9f-000000000002";
const WIDE_SCOPES: usize = 7;

/// The scopes of a package as recorded in the tenant directory (uncapped).
fn recorded_scopes(root: &Path, package: &str) -> Vec<Value> {
    let text = std::fs::read_to_string(root.join("accessPackages.json")).unwrap();
    let body: Value = serde_json::from_str(&text).unwrap();
    body["value"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == package)
        .unwrap()["resourceRoleScopes"]
        .as_array()
        .unwrap()
        .clone()
}

/// A minimal tenant directory whose package [`WIDE`] has more scopes than any contoso package
/// (two at most), so that a continuation spans several pages. Removed on drop.
struct WideTenant {
    root: PathBuf,
}

impl WideTenant {
    fn new(name: &str) -> WideTenant {
        let root =
            std::env::temp_dir().join(format!("fake-graph-test-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(&root).unwrap();
        std::fs::copy(contoso().join("tenant.json"), root.join("tenant.json")).unwrap();
        // Ids must be GUIDs (the tenant directory is validated); the last block tells them apart.
        let guid = |kind: u32, i: usize| format!("00000000-0000-4000-800{kind}-{i:012}");
        let scope = |i: usize| {
            let (role, scope, group) = (guid(1, i), guid(2, i), guid(3, i));
            json!({
                "id": format!("{role}_{scope}"),
                "role": {"id": role, "originSystem": "AadGroup", "originId": format!("Member_{group}")},
                "scope": {"id": scope, "originSystem": "AadGroup", "originId": group},
            })
        };
        let packages = json!({"value": [
            {"id": WIDE, "displayName": "Wide", "resourceRoleScopes": (0..WIDE_SCOPES).map(scope).collect::<Vec<_>>()},
            {"id": NARROW, "displayName": "Narrow", "resourceRoleScopes": [scope(100)]},
        ]});
        std::fs::write(root.join("accessPackages.json"), packages.to_string()).unwrap();
        std::fs::write(root.join("assignments.json"), r#"{"value": []}"#).unwrap();
        WideTenant { root }
    }
}

impl Drop for WideTenant {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

fn ids(items: &[Value]) -> Vec<String> {
    items
        .iter()
        .map(|item| item["id"].as_str().unwrap().to_string())
        .collect()
}

/// Every item of a list from `url` on, following nextLinks; also the nextLinks seen.
async fn follow(client: &Client, token: &str, url: &str) -> (Vec<Value>, Vec<String>) {
    let (mut items, mut links) = (Vec::new(), Vec::new());
    let mut url = url.to_string();
    loop {
        let page = client.get(&url, token).await;
        assert_eq!(page.status, 200, "{url}: {}", page.text);
        let body = page.json();
        items.extend(body["value"].as_array().unwrap().iter().cloned());
        match body.get("@odata.nextLink").and_then(Value::as_str) {
            Some(next) => {
                links.push(next.to_string());
                url = next.to_string();
            }
            None => return (items, links),
        }
    }
}

/// The keys of an object that name a nextLink.
fn link_keys(object: &Value) -> Vec<&str> {
    object
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .filter(|k| k.ends_with("@odata.nextLink"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn capped_expansion_without_next_link_drops_the_rest() {
    let mut config = config();
    config.expand_cap = Some(1);
    let fake = start(config).await.unwrap();
    let client = Client::new(&fake);
    let token = client.token().await;

    let expanded = format!("{PACKAGES}?$expand=resourceRoleScopes($expand=role,scope)");
    let (packages, _) = follow(&client, &token, &expanded).await;
    assert_eq!(ids(&packages), file_ids("accessPackages.json"));
    let mut capped = 0;
    for package in &packages {
        let id = package["id"].as_str().unwrap();
        let recorded = recorded_scopes(&contoso(), id);
        let scopes = package["resourceRoleScopes"].as_array().unwrap();
        assert_eq!(scopes[..], recorded[..recorded.len().min(1)], "{id}");
        assert_eq!(link_keys(package), Vec::<&str>::new(), "{id}: no link");
        capped += usize::from(recorded.len() > 1);
    }
    assert!(capped >= 2, "the fixture has packages the cap shortens");

    let single = client
        .get(
            &format!("{PACKAGES}/{PACKAGE}?$expand=resourceRoleScopes($expand=role,scope)"),
            &token,
        )
        .await
        .json();
    assert_eq!(single["resourceRoleScopes"].as_array().unwrap().len(), 1);
    assert_eq!(link_keys(&single), Vec::<&str>::new());
    // The per-package collection still has them all.
    let (scopes, _) = follow(
        &client,
        &token,
        &format!("{PACKAGES}/{PACKAGE}/resourceRoleScopes"),
    )
    .await;
    assert_eq!(scopes, recorded_scopes(&contoso(), PACKAGE));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn capped_expansion_links_the_rest_of_the_scopes() {
    let tenant = WideTenant::new("next-link");
    let mut config = FakeConfig::new(&tenant.root);
    config.expand_cap = Some(3);
    config.expand_next_link = true;
    config.page_size = 2;
    let fake = start(config).await.unwrap();
    let client = Client::new(&fake);
    let token = client.token().await;
    let recorded = recorded_scopes(&tenant.root, WIDE);
    assert_eq!(recorded.len(), WIDE_SCOPES);
    let expected_link = format!(
        "{}/v1.0/{PACKAGES}/{WIDE}/resourceRoleScopes?$expand=role,scope&$skiptoken={}",
        fake.url,
        crate::query::PageCursor { page: 2, index: 3 }.encode()
    );

    let list = client
        .get(
            &format!("{PACKAGES}?$expand=resourceRoleScopes($expand=role,scope)"),
            &token,
        )
        .await
        .json();
    let packages = list["value"].as_array().unwrap();
    assert_eq!(ids(packages), [WIDE, NARROW]);
    assert_eq!(
        packages[0]["resourceRoleScopes"].as_array().unwrap()[..],
        recorded[..3]
    );
    assert_eq!(
        packages[0]["resourceRoleScopes@odata.nextLink"],
        json!(expected_link)
    );
    assert_eq!(
        packages[1]["resourceRoleScopes"].as_array().unwrap().len(),
        1
    );
    assert_eq!(
        link_keys(&packages[1]),
        Vec::<&str>::new(),
        "not over the cap"
    );

    let single = client
        .get(
            &format!("{PACKAGES}/{WIDE}?$expand=resourceRoleScopes($expand=role,scope)"),
            &token,
        )
        .await
        .json();
    assert_eq!(
        single["resourceRoleScopes"],
        packages[0]["resourceRoleScopes"]
    );
    assert_eq!(
        single["resourceRoleScopes@odata.nextLink"],
        json!(expected_link)
    );

    // The link continues right after the first 3, two per page, keeping `$expand`.
    let (rest, links) = follow(&client, &token, &expected_link).await;
    assert_eq!(rest[..], recorded[3..]);
    assert_eq!(links.len(), 1, "4 scopes at 2 a page");
    assert!(
        links[0].starts_with(&format!(
            "{}/v1.0/{PACKAGES}/{WIDE}/resourceRoleScopes?$expand=role,scope&$skiptoken=",
            fake.url
        )),
        "{}",
        links[0]
    );
    let mut union = single["resourceRoleScopes"].as_array().unwrap().clone();
    union.extend(rest);
    assert_eq!(union, recorded);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_package_scope_collection() {
    let tenant = WideTenant::new("collection");
    let fake = start(FakeConfig::new(&tenant.root)).await.unwrap();
    let client = Client::new(&fake);
    let token = client.token().await;
    let recorded = recorded_scopes(&tenant.root, WIDE);
    let collection = format!("{PACKAGES}/{WIDE}/resourceRoleScopes");

    let whole = client
        .get(&format!("{collection}?$expand=role,scope"), &token)
        .await;
    assert_eq!(whole.status, 200);
    let body = whole.json();
    assert_eq!(body["value"], json!(recorded));
    assert!(body.get("@odata.nextLink").is_none());
    assert!(body["@odata.context"].as_str().unwrap().ends_with(&format!(
        "$metadata#{PACKAGES}('{WIDE}')/resourceRoleScopes(role(),scope())"
    )));
    assert_eq!(whole.units(), 2, "1, $expand +1");

    let (paged, links) = follow(&client, &token, &format!("{collection}?$top=2")).await;
    assert_eq!(paged, recorded);
    assert_eq!(links.len(), 3, "7 scopes, 2 a page");
    assert!(links
        .iter()
        .all(|l| l.contains("resourceRoleScopes?$top=2&$skiptoken=")));

    let missing = client
        .get(&format!("{PACKAGES}/nope/resourceRoleScopes"), &token)
        .await;
    assert_eq!(missing.status, 404);
    assert_eq!(missing.json()["error"]["code"], "ResourceNotFound");
    assert_eq!(missing.units(), 1);

    let batch = json!({"requests": [
        {"id": "1", "method": "GET", "url": format!("/{collection}?$top=5")},
        {"id": "2", "method": "GET", "url": format!("{PACKAGES}/nope/resourceRoleScopes")},
    ]});
    let reply = client.post("$batch", &token, Some(batch)).await.json();
    let responses = reply["responses"].as_array().unwrap();
    let by_id = |id: &str| responses.iter().find(|r| r["id"] == id).unwrap().clone();
    let first = by_id("1");
    assert_eq!(first["status"], 200);
    assert_eq!(
        first["body"]["value"].as_array().unwrap()[..],
        recorded[..5]
    );
    assert_eq!(first["headers"]["x-ms-resource-unit"], "1");
    let next = first["body"]["@odata.nextLink"].as_str().unwrap();
    let (rest, _) = follow(&client, &token, next).await;
    assert_eq!(rest[..], recorded[5..]);
    let second = by_id("2");
    assert_eq!(second["status"], 404);
    assert_eq!(second["body"]["error"]["code"], "ResourceNotFound");

    let stats = client.stats().await;
    assert_eq!(stats["batch_inner_requests"], 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scope_collection_honours_path_faults() {
    let scopes = format!("{PACKAGES}/{PACKAGE}/resourceRoleScopes");
    let other = "cad47fb8-9341-4025-a607-af7e15a6023e";
    let faults = json!({
        "forbidden": [format!("{PACKAGES}/{other}/resourceRoleScopes")],
        "server_errors": [{"path": scopes.to_uppercase(), "status": 503, "count": 1}],
        "truncate_body": [{"path": scopes, "page": 2, "count": 1}],
    });
    let mut config = config();
    config.faults = Some(Faults::parse(&faults.to_string()).unwrap());
    let fake = start(config).await.unwrap();
    let client = Client::new(&fake);
    let token = client.token().await;

    let forbidden = client
        .get(&format!("{PACKAGES}/{other}/resourceRoleScopes"), &token)
        .await;
    assert_eq!(forbidden.status, 403);
    let batch =
        json!({"requests": [{"id": "1", "method": "GET", "url": format!("{scopes}?$top=1")}]});
    let inner = client.post("$batch", &token, Some(batch)).await.json();
    assert_eq!(inner["responses"][0]["status"], 503, "in $batch too");
    let first = client.get(&format!("{scopes}?$top=1"), &token).await;
    assert_eq!(first.status, 200, "count 1");
    let next = first.json()["@odata.nextLink"]
        .as_str()
        .unwrap()
        .to_string();
    let cut = client.get(&next, &token).await;
    assert!(
        serde_json::from_str::<Value>(&cut.text).is_err(),
        "page 2 truncated"
    );
    let healed = client.get(&next, &token).await.json();
    assert_eq!(healed["value"][0], recorded_scopes(&contoso(), PACKAGE)[1]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn foreign_next_links_point_elsewhere() {
    const FOREIGN: &str = "http://127.0.0.1:9";
    let faults = json!({"foreign_next_link": {
        "origin": FOREIGN,
        "paths": ["users", "groups/delta", PACKAGES],
    }});
    let mut listed = config();
    listed.faults = Some(Faults::parse(&faults.to_string()).unwrap());
    listed.page_size = 2;
    listed.expand_cap = Some(1);
    listed.expand_next_link = true;
    let fake = start(listed).await.unwrap();
    let client = Client::new(&fake);
    let token = client.token().await;
    // What a client must not do, but a test can: put the fake's origin back.
    let home = |link: &str| {
        let rest = link
            .strip_prefix(FOREIGN)
            .unwrap_or_else(|| panic!("not foreign: {link}"));
        format!("{}{rest}", fake.url)
    };

    let users = client.get("users?$select=id", &token).await.json();
    let next = users["@odata.nextLink"].as_str().unwrap();
    assert!(
        next.starts_with(&format!("{FOREIGN}/v1.0/users?$select=id&$skiptoken=")),
        "{next}"
    );
    let page2 = client.get(&home(next), &token).await.json();
    assert_eq!(
        ids(page2["value"].as_array().unwrap()),
        file_ids("users.json")[2..4]
    );
    assert!(page2["@odata.nextLink"]
        .as_str()
        .unwrap()
        .starts_with(FOREIGN));

    let groups = client.get("groups", &token).await.json();
    let own = groups["@odata.nextLink"].as_str().unwrap();
    assert!(
        own.starts_with(&format!("{}/v1.0/groups?", fake.url)),
        "groups not listed: {own}"
    );

    let group_ids = file_ids("groups.json");
    let filter = group_ids[..3]
        .iter()
        .map(|id| format!("id eq '{id}'"))
        .collect::<Vec<_>>()
        .join(" or ");
    let delta = client
        .get(
            &format!("groups/delta?$select=members&$filter={filter}"),
            &token,
        )
        .await
        .json();
    let next = delta["@odata.nextLink"].as_str().unwrap();
    assert!(
        next.starts_with(&format!("{FOREIGN}/v1.0/groups/delta?")),
        "{next}"
    );
    let last = client.get(&home(next), &token).await.json();
    let delta_link = last["@odata.deltaLink"].as_str().unwrap();
    assert_eq!(
        delta_link,
        format!("{FOREIGN}/v1.0/groups/delta?$deltatoken=fake-3")
    );

    let packages = client.get(PACKAGES, &token).await.json();
    assert!(packages["@odata.nextLink"]
        .as_str()
        .unwrap()
        .starts_with(&format!("{FOREIGN}/v1.0/{PACKAGES}?")));
    assert_eq!(packages["value"][0]["id"], PACKAGE);
    let scopes_link = packages["value"][0]["resourceRoleScopes@odata.nextLink"]
        .as_str()
        .unwrap();
    assert!(
        scopes_link.starts_with(&format!(
            "{FOREIGN}/v1.0/{PACKAGES}/{PACKAGE}/resourceRoleScopes?$expand=role,scope&$skiptoken="
        )),
        "{scopes_link}"
    );
    let (rest, _) = follow(&client, &token, &home(scopes_link)).await;
    assert_eq!(rest[..], recorded_scopes(&contoso(), PACKAGE)[1..]);
    // Neither `accessPackages/{id}` nor its scope collection is listed: the fake's own origin.
    let single = client
        .get(&format!("{PACKAGES}/{PACKAGE}"), &token)
        .await
        .json();
    let own = single["resourceRoleScopes@odata.nextLink"]
        .as_str()
        .unwrap();
    assert!(own.starts_with(&format!("{}/v1.0/", fake.url)), "{own}");
    fake.shutdown().await;

    // Without `paths`, every list; a trailing `/` on the origin is not doubled.
    let mut every = config();
    every.faults = Some(
        Faults::parse(r#"{"foreign_next_link": {"origin": "https://graph.evil.example:8443/"}}"#)
            .unwrap(),
    );
    every.page_size = 2;
    let fake = start(every).await.unwrap();
    let client = Client::new(&fake);
    let token = client.token().await;
    for list in ["groups", "servicePrincipals", PACKAGES] {
        let body = client.get(&format!("{list}?$top=1"), &token).await.json();
        assert_eq!(
            body["@odata.nextLink"].as_str().unwrap(),
            format!(
                "https://graph.evil.example:8443/v1.0/{list}?$top=1&$skiptoken={}",
                crate::query::PageCursor { page: 2, index: 1 }.encode()
            )
        );
    }
}

// Directory roles and assignment requests: a small tenant of GUID ids, clock fixed at NOW.

const REQUESTS: &str = "identityGovernance/entitlementManagement/assignmentRequests";
const ASSIGNMENTS: &str = "identityGovernance/entitlementManagement/assignments";
const ROLE_ASSIGNMENTS: &str = "roleManagement/directory/roleAssignments";
const ROLE_ELIGIBILITY: &str = "roleManagement/directory/roleEligibilitySchedules";
const NOW: &str = "2025-06-15T12:00:00Z";
/// Target of the request that reprocess redelivers: in no group, holding no role.
const USER_A: &str = "a0000000-0000-4000-8000-000000000001";
const USER_B: &str = "a0000000-0000-4000-8000-000000000002";
/// Already holds everything the package delivers.
const USER_C: &str = "a0000000-0000-4000-8000-000000000003";
const NOBODY: &str = "99999999-9999-4999-8999-999999999999";
const ROLE_GROUP: &str = "b0000000-0000-4000-8000-000000000001";
const ROLE_PACKAGE: &str = "c0000000-0000-4000-8000-000000000001";
const ASSIGN_A: &str = "d0000000-0000-4000-8000-000000000001";
const ASSIGN_B: &str = "d0000000-0000-4000-8000-000000000002";
const ASSIGN_C: &str = "d0000000-0000-4000-8000-000000000003";
/// Role definitions: delivered eligible, delivered active, and one no package delivers.
const ELIGIBLE_ROLE: &str = "e0000000-0000-4000-8000-000000000001";
const ACTIVE_ROLE: &str = "e0000000-0000-4000-8000-000000000002";
const OTHER_ROLE: &str = "e0000000-0000-4000-8000-000000000003";
/// deliveryFailed 2 days before NOW (assignment ASSIGN_A).
const REQ_OK: &str = "f0000000-0000-4000-8000-000000000001";
/// partiallyDelivered 20 days before NOW (assignment ASSIGN_B).
const REQ_OLD: &str = "f0000000-0000-4000-8000-000000000002";
/// delivered (assignment ASSIGN_C).
const REQ_DONE: &str = "f0000000-0000-4000-8000-000000000003";
const REQ_DENIED: &str = "f0000000-0000-4000-8000-000000000004";
/// PartiallyDelivered a day before NOW, in the older `completedDate` spelling.
const REQ_PARTIAL: &str = "f0000000-0000-4000-8000-000000000005";

/// A tenant directory with a package delivering a group and two directory roles, role
/// assignments, eligibility schedules and assignment requests. Removed on drop.
struct RolesTenant {
    root: PathBuf,
}

impl RolesTenant {
    fn new(name: &str) -> RolesTenant {
        let root =
            std::env::temp_dir().join(format!("fake-graph-roles-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(root.join("groups").join(ROLE_GROUP)).unwrap();
        std::fs::copy(contoso().join("tenant.json"), root.join("tenant.json")).unwrap();
        let write = |name: &str, value: Value| {
            std::fs::write(root.join(name), json!({ "value": value }).to_string()).unwrap()
        };
        let user = |id: &str, name: &str| json!({"id": id, "displayName": name, "userPrincipalName": format!("{}@roles.example", name.to_lowercase()), "accountEnabled": true, "userType": "Member"});
        write(
            "users.json",
            json!([
                user(USER_A, "Ann"),
                user(USER_B, "Bob"),
                user(USER_C, "Cat")
            ]),
        );
        write(
            "groups.json",
            json!([{"id": ROLE_GROUP, "displayName": "Role holders"}]),
        );
        write(
            &format!("groups/{ROLE_GROUP}/members.json"),
            json!([{"@odata.type": "#microsoft.graph.user", "id": USER_C}]),
        );
        let directory_role = |role: &str, definition: &str| {
            json!({
                "id": format!("{definition}_{role}"),
                "role": {"originId": role, "displayName": format!("{role} Member"), "originSystem": "DirectoryRole"},
                "scope": {"originId": definition, "originSystem": "DirectoryRole", "isRootScope": true, "displayName": "Root"},
            })
        };
        write(
            "accessPackages.json",
            json!([{"id": ROLE_PACKAGE, "displayName": "Admins", "resourceRoleScopes": [
                {"id": "s1",
                 "role": {"originId": format!("Member_{ROLE_GROUP}"), "originSystem": "AadGroup"},
                 "scope": {"originId": ROLE_GROUP, "originSystem": "AadGroup"}},
                directory_role("Eligible", ELIGIBLE_ROLE),
                directory_role("active", ACTIVE_ROLE),
            ]}]),
        );
        let assignment = |id: &str, user: &str, state: &str, status: &str| {
            json!({"id": id, "state": state, "status": status,
                   "target": {"objectId": user}, "accessPackage": {"id": ROLE_PACKAGE}})
        };
        write(
            "assignments.json",
            json!([
                assignment(ASSIGN_A, USER_A, "deliveryFailed", "DeliveryFailed"),
                assignment(ASSIGN_B, USER_B, "partiallyDelivered", "PartiallyDelivered"),
                assignment(ASSIGN_C, USER_C, "delivered", "Delivered"),
            ]),
        );
        let role_assignment = |n: u32, principal: &str, role: &str| {
            json!({"id": format!("lAPpYvVpN0KRkAEhdxReE-{n}"), "principalId": principal,
                   "resourceScope": "/", "directoryScopeId": "/", "roleDefinitionId": role})
        };
        let mut stored = role_assignment(5, USER_B, ACTIVE_ROLE);
        stored["principal"] =
            json!({"@odata.type": "#microsoft.graph.user", "id": USER_B, "displayName": "Stored"});
        write(
            "roleAssignments.json",
            json!([
                role_assignment(1, USER_C, ACTIVE_ROLE),
                role_assignment(2, ROLE_GROUP, ACTIVE_ROLE),
                role_assignment(3, USER_C, OTHER_ROLE),
                role_assignment(4, NOBODY, ACTIVE_ROLE),
                stored,
            ]),
        );
        let schedule = |n: u32, principal: &str, role: &str, member_type: &str| {
            json!({"id": format!("77f71919-62f3-4d0c-9f88-00000000000{n}"), "principalId": principal,
                   "roleDefinitionId": role, "directoryScopeId": "/", "status": "Provisioned",
                   "memberType": member_type})
        };
        write(
            "roleEligibilitySchedules.json",
            json!([
                schedule(1, USER_C, ELIGIBLE_ROLE, "Direct"),
                schedule(2, USER_B, ELIGIBLE_ROLE, "Group"),
                schedule(3, USER_C, OTHER_ROLE, "Direct"),
            ]),
        );
        let request = |id: &str, state: &str, status: &str, completed: &str, assignment: &str| {
            json!({"id": id, "requestType": "adminAdd", "state": state, "status": status,
                   "createdDateTime": "2025-05-01T08:00:00Z", "completedDateTime": completed,
                   "assignment": {"id": assignment, "state": "deliveryFailed"}})
        };
        let mut partial = request(
            REQ_PARTIAL,
            "PartiallyDelivered",
            "PartiallyDelivered",
            "",
            ASSIGN_B,
        );
        let object = partial.as_object_mut().unwrap();
        object.remove("completedDateTime");
        object.insert("completedDate".into(), json!("2025-06-14T12:00:00Z"));
        write(
            "assignmentRequests.json",
            json!([
                request(
                    REQ_OK,
                    "deliveryFailed",
                    "DeliveryFailed",
                    "2025-06-13T12:00:00Z",
                    ASSIGN_A
                ),
                request(
                    REQ_OLD,
                    "partiallyDelivered",
                    "PartiallyDelivered",
                    "2025-05-26T12:00:00Z",
                    ASSIGN_B
                ),
                request(
                    REQ_DONE,
                    "delivered",
                    "Delivered",
                    "2025-06-14T09:00:00Z",
                    ASSIGN_C
                ),
                request(
                    REQ_DENIED,
                    "denied",
                    "Denied",
                    "2025-06-14T09:00:00Z",
                    ASSIGN_C
                ),
                partial,
            ]),
        );
        RolesTenant { root }
    }

    fn config(&self) -> FakeConfig {
        let mut config = FakeConfig::new(&self.root);
        config.now = Some(NOW.parse().unwrap());
        config
    }
}

impl Drop for RolesTenant {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

fn field(items: &[Value], key: &str) -> Vec<String> {
    items
        .iter()
        .map(|item| item[key].as_str().unwrap_or("-").to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn directory_role_lists_filter_page_and_expand() {
    let tenant = RolesTenant::new("lists");
    let fake = start(tenant.config()).await.unwrap();
    let client = Client::new(&fake);
    let token = client.token().await;
    let ra = |n: u32| format!("lAPpYvVpN0KRkAEhdxReE-{n}");

    let all = client.get(ROLE_ASSIGNMENTS, &token).await;
    assert_eq!(all.status, 200, "{}", all.text);
    assert_eq!(all.units(), 1);
    let body = all.json();
    assert!(body["@odata.context"]
        .as_str()
        .unwrap()
        .ends_with("$metadata#roleManagement/directory/roleAssignments"));
    let items = body["value"].as_array().unwrap();
    assert_eq!(ids(items), (1..=5).map(ra).collect::<Vec<_>>());
    assert!(
        items.iter().all(|item| item.get("principal").is_none()),
        "a stored principal is served only when expanded"
    );

    let (active, links) = follow(
        &client,
        &token,
        &format!(
            "{ROLE_ASSIGNMENTS}?$filter=roleDefinitionId eq '{}'&$select=id&$top=2",
            ACTIVE_ROLE.to_uppercase()
        ),
    )
    .await;
    assert_eq!(ids(&active), [ra(1), ra(2), ra(4), ra(5)]);
    assert_eq!(links.len(), 1, "4 at 2 a page");
    assert!(
        links[0].contains("$select=id&$top=2&$skiptoken="),
        "{}",
        links[0]
    );
    assert_eq!(active[0]["directoryScopeId"], "/", "$select is ignored");
    let (of_cat, _) = follow(
        &client,
        &token,
        &format!("{ROLE_ASSIGNMENTS}?$filter=principalId eq '{USER_C}'"),
    )
    .await;
    assert_eq!(ids(&of_cat), [ra(1), ra(3)]);
    let (both, _) = follow(
        &client,
        &token,
        &format!("{ROLE_ASSIGNMENTS}?$filter=principalId eq '{USER_C}' and roleDefinitionId eq '{OTHER_ROLE}'"),
    )
    .await;
    assert_eq!(ids(&both), [ra(3)]);

    let expanded = client
        .get(
            &format!(
                "{ROLE_ASSIGNMENTS}?$filter=roleDefinitionId eq '{ACTIVE_ROLE}'&$expand=principal"
            ),
            &token,
        )
        .await;
    assert_eq!(expanded.units(), 2, "1, $expand +1");
    let body = expanded.json();
    assert!(body["@odata.context"]
        .as_str()
        .unwrap()
        .ends_with("roleAssignments(principal())"));
    let principals: Vec<Value> = body["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item["principal"].clone())
        .collect();
    assert_eq!(principals[0]["@odata.type"], "#microsoft.graph.user");
    assert_eq!(principals[0]["id"], USER_C);
    assert_eq!(principals[0]["displayName"], "Cat");
    assert_eq!(principals[1]["@odata.type"], "#microsoft.graph.group");
    assert_eq!(principals[1]["id"], ROLE_GROUP);
    assert_eq!(principals[2], Value::Null, "no such directory object");
    assert_eq!(principals[3]["displayName"], "Stored", "as recorded");

    for bad in [
        format!("{ROLE_ASSIGNMENTS}?$filter=roleDefinitionId eq 'a' or roleDefinitionId eq 'b'"),
        format!("{ROLE_ASSIGNMENTS}?$filter=directoryScopeId eq '/'"),
        format!("{ROLE_ASSIGNMENTS}?$expand=roleDefinition"),
        format!("{ROLE_ELIGIBILITY}?$top=0"),
    ] {
        let reply = client.get(&bad, &token).await;
        assert_eq!(reply.status, 400, "{bad}: {}", reply.text);
    }

    let (eligible, _) = follow(
        &client,
        &token,
        &format!("{ROLE_ELIGIBILITY}?$filter=roleDefinitionId eq '{ELIGIBLE_ROLE}'&$top=1"),
    )
    .await;
    assert_eq!(field(&eligible, "principalId"), [USER_C, USER_B]);
    assert_eq!(
        field(&eligible, "memberType"),
        ["Direct", "Group"],
        "as recorded"
    );
    let (mine, links) = follow(
        &client,
        &token,
        &format!("{ROLE_ELIGIBILITY}?$filter=principalId eq '{USER_C}' and roleDefinitionId eq '{ELIGIBLE_ROLE}'"),
    )
    .await;
    assert_eq!((mine.len(), links.len()), (1, 0));
    let with_principal = client
        .get(
            &format!("{ROLE_ELIGIBILITY}?$filter=principalId eq '{USER_B}'&$expand=principal"),
            &token,
        )
        .await
        .json();
    assert_eq!(with_principal["value"][0]["principal"]["id"], USER_B);

    // The same GETs inside $batch, each with its own cost.
    let batch = json!({"requests": [
        {"id": "1", "method": "GET", "url": format!("/{ROLE_ASSIGNMENTS}?$filter=roleDefinitionId eq '{ACTIVE_ROLE}'&$top=3")},
        {"id": "2", "method": "GET", "url": format!("{ROLE_ASSIGNMENTS}?$filter=principalId eq '{USER_C}'&$expand=principal")},
        {"id": "3", "method": "GET", "url": format!("{ROLE_ELIGIBILITY}?$filter=roleDefinitionId eq '{ELIGIBLE_ROLE}'")},
    ]});
    let reply = client.post("$batch", &token, Some(batch)).await.json();
    let responses = reply["responses"].as_array().unwrap();
    let by_id = |id: &str| responses.iter().find(|r| r["id"] == id).unwrap().clone();
    let first = by_id("1");
    assert_eq!(first["status"], 200);
    assert_eq!(
        ids(first["body"]["value"].as_array().unwrap()),
        [ra(1), ra(2), ra(4)]
    );
    assert_eq!(first["headers"]["x-ms-resource-unit"], "1");
    let (rest, _) = follow(
        &client,
        &token,
        first["body"]["@odata.nextLink"].as_str().unwrap(),
    )
    .await;
    assert_eq!(ids(&rest), [ra(5)]);
    let second = by_id("2");
    assert_eq!(second["headers"]["x-ms-resource-unit"], "2");
    assert_eq!(second["body"]["value"][0]["principal"]["id"], USER_C);
    let third = by_id("3");
    assert_eq!(third["body"]["value"].as_array().unwrap().len(), 2);
    assert_eq!(third["headers"]["x-ms-resource-unit"], "1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn assignment_requests_filter_page_and_expand() {
    let tenant = RolesTenant::new("requests");
    let fake = start(tenant.config()).await.unwrap();
    let client = Client::new(&fake);
    let token = client.token().await;

    let (all, links) = follow(&client, &token, &format!("{REQUESTS}?$top=2")).await;
    assert_eq!(
        ids(&all),
        [REQ_OK, REQ_OLD, REQ_DONE, REQ_DENIED, REQ_PARTIAL]
    );
    assert_eq!(links.len(), 2);
    assert!(all.iter().all(|r| r.get("assignment").is_none()));
    assert_eq!(all[0]["completedDateTime"], "2025-06-13T12:00:00Z");
    assert_eq!(all[0]["requestType"], "adminAdd");

    let (failed, _) = follow(
        &client,
        &token,
        &format!(
            "{REQUESTS}?$filter=state eq 'DELIVERYFAILED' or state eq 'partiallydelivered'&$expand=assignment($expand=target)&$top=1"
        ),
    )
    .await;
    assert_eq!(ids(&failed), [REQ_OK, REQ_OLD, REQ_PARTIAL]);
    assert_eq!(
        failed
            .iter()
            .map(|r| r["assignment"]["id"].as_str().unwrap())
            .collect::<Vec<_>>(),
        [ASSIGN_A, ASSIGN_B, ASSIGN_B]
    );
    let (denied, _) = follow(
        &client,
        &token,
        &format!("{REQUESTS}?$filter=state eq 'Denied'"),
    )
    .await;
    assert_eq!(ids(&denied), [REQ_DENIED]);
    for bad in [
        format!("{REQUESTS}?$filter=state eq 'a' and state eq 'b'"),
        format!("{REQUESTS}?$filter=requestType eq 'adminAdd'"),
        format!("{REQUESTS}?$expand=schedule"),
    ] {
        let reply = client.get(&bad, &token).await;
        assert_eq!(reply.status, 400, "{bad}: {}", reply.text);
    }

    let single = client
        .get(&format!("{REQUESTS}/{}", REQ_OK.to_uppercase()), &token)
        .await;
    assert_eq!(single.status, 200);
    assert_eq!(single.units(), 1);
    let body = single.json();
    assert_eq!(body["id"], REQ_OK);
    assert!(body.get("assignment").is_none());
    let expanded = client
        .get(&format!("{REQUESTS}/{REQ_OK}?$expand=assignment"), &token)
        .await
        .json();
    assert_eq!(expanded["assignment"]["id"], ASSIGN_A);
    let missing = client
        .get(
            &format!("{REQUESTS}/00000000-0000-4000-8000-00000000dead"),
            &token,
        )
        .await;
    assert_eq!(missing.status, 404);
    assert_eq!(missing.json()["error"]["code"], "ResourceNotFound");

    let batch = json!({"requests": [
        {"id": "list", "method": "GET", "url": format!("{REQUESTS}?$filter=state eq 'delivered'")},
        {"id": "one", "method": "GET", "url": format!("/{REQUESTS}/{REQ_DONE}?$expand=assignment")},
        {"id": "gone", "method": "GET", "url": format!("{REQUESTS}/00000000-0000-4000-8000-00000000dead")},
    ]});
    let reply = client.post("$batch", &token, Some(batch)).await.json();
    let responses = reply["responses"].as_array().unwrap();
    let by_id = |id: &str| responses.iter().find(|r| r["id"] == id).unwrap().clone();
    assert_eq!(
        ids(by_id("list")["body"]["value"].as_array().unwrap()),
        [REQ_DONE]
    );
    assert_eq!(by_id("list")["headers"]["x-ms-resource-unit"], "1");
    assert_eq!(by_id("one")["body"]["assignment"]["id"], ASSIGN_C);
    assert_eq!(by_id("one")["headers"]["x-ms-resource-unit"], "2");
    assert_eq!(by_id("gone")["status"], 404);
    assert_eq!(by_id("gone")["body"]["error"]["code"], "ResourceNotFound");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_reprocess_redelivers_within_fourteen_days() {
    let tenant = RolesTenant::new("reprocess");
    let mut config = tenant.config();
    config.faults = Some(Faults::parse(r#"{"fail_writes_after": 1}"#).unwrap());
    let fake = start(config).await.unwrap();
    let client = Client::new(&fake);
    let token = client.token().await;
    let reprocess = |id: &str| format!("{REQUESTS}/{id}/reprocess");

    let too_old = client.post(&reprocess(REQ_OLD), &token, None).await;
    assert_eq!(too_old.status, 400, "{}", too_old.text);
    assert_eq!(too_old.units(), 1);
    let error = too_old.json()["error"].clone();
    assert_eq!(error["code"], "BadRequest");
    assert!(
        error["message"].as_str().unwrap().contains("14 days"),
        "{error}"
    );
    let delivered = client.post(&reprocess(REQ_DONE), &token, None).await;
    assert_eq!(delivered.status, 400);
    let message = delivered.json()["error"]["message"].clone();
    assert!(
        message.as_str().unwrap().contains("'delivered'"),
        "{message}"
    );
    let unknown = client
        .post(
            &reprocess("00000000-0000-4000-8000-00000000dead"),
            &token,
            None,
        )
        .await;
    assert_eq!(unknown.status, 404);
    assert_eq!(unknown.json()["error"]["code"], "ResourceNotFound");
    assert_eq!(client.get(&reprocess(REQ_OK), &token).await.status, 405);

    let members = format!("groups/{ROLE_GROUP}/members");
    let before = client.get(&members, &token).await.json();
    assert!(!before.to_string().contains(USER_A));
    let accepted = client
        .post(&reprocess(&REQ_OK.to_uppercase()), &token, None)
        .await;
    assert_eq!(accepted.status, 202, "{}", accepted.text);
    assert!(accepted.text.is_empty());

    let request = client
        .get(&format!("{REQUESTS}/{REQ_OK}?$expand=assignment"), &token)
        .await
        .json();
    assert_eq!(request["state"], "delivered");
    assert_eq!(request["status"], "Delivered");
    assert_eq!(request["assignment"]["state"], "delivered");
    let assignment = client
        .get(&format!("{ASSIGNMENTS}/{ASSIGN_A}"), &token)
        .await
        .json();
    assert_eq!(
        (assignment["state"].clone(), assignment["status"].clone()),
        (json!("delivered"), json!("Delivered"))
    );
    let after = client.get(&members, &token).await.json();
    assert_eq!(
        after["value"].as_array().unwrap().last().unwrap(),
        &json!({"@odata.type": "#microsoft.graph.user", "id": USER_A})
    );
    let eligible = client
        .get(
            &format!("{ROLE_ELIGIBILITY}?$filter=principalId eq '{USER_A}'"),
            &token,
        )
        .await
        .json();
    let schedules = eligible["value"].as_array().unwrap();
    assert_eq!(schedules.len(), 1);
    assert_eq!(schedules[0]["roleDefinitionId"], ELIGIBLE_ROLE);
    assert_eq!(schedules[0]["directoryScopeId"], "/");
    assert_eq!(schedules[0]["memberType"], "Direct");
    assert_eq!(schedules[0]["createdDateTime"], NOW, "the fake's clock");
    assert!(entra_model::ids::is_guid(
        schedules[0]["id"].as_str().unwrap()
    ));
    let active = client
        .get(
            &format!("{ROLE_ASSIGNMENTS}?$filter=principalId eq '{USER_A}'&$expand=principal"),
            &token,
        )
        .await
        .json();
    let roles = active["value"].as_array().unwrap();
    assert_eq!(roles.len(), 1);
    assert_eq!(roles[0]["roleDefinitionId"], ACTIVE_ROLE);
    assert_eq!(roles[0]["directoryScopeId"], "/");
    assert_eq!(roles[0]["principal"]["displayName"], "Ann");

    let again = client.post(&reprocess(REQ_OK), &token, None).await;
    assert_eq!(again.status, 503, "fail_writes_after 1 comes first");
    let batch = json!({"requests": [{"id": "1", "method": "POST", "url": reprocess(REQ_PARTIAL)}]});
    let inner = client.post("$batch", &token, Some(batch)).await.json();
    assert_eq!(inner["responses"][0]["status"], 503);

    let stats = client.stats().await;
    assert_eq!(stats["request_reprocess"], json!({ REQ_OK: 1 }));
    assert_eq!(stats["reprocess"], json!({}));
    assert_eq!(fake.stats().request_reprocess.get(REQ_OK), Some(&1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_reprocess_accepts_the_older_spelling_and_skips_what_is_held() {
    let tenant = RolesTenant::new("held");
    let fake = start(tenant.config()).await.unwrap();
    let client = Client::new(&fake);
    let token = client.token().await;

    // REQ_PARTIAL: `completedDate`, a day old; its assignment's user B is eligible only
    // through a group (memberType Group), so a direct schedule is added.
    let accepted = client
        .post(&format!("{REQUESTS}/{REQ_PARTIAL}/reprocess"), &token, None)
        .await;
    assert_eq!(accepted.status, 202, "{}", accepted.text);
    let eligible = client
        .get(
            &format!("{ROLE_ELIGIBILITY}?$filter=principalId eq '{USER_B}'"),
            &token,
        )
        .await
        .json();
    assert_eq!(
        field(eligible["value"].as_array().unwrap(), "memberType"),
        ["Group", "Direct"]
    );
    let active = client
        .get(
            &format!("{ROLE_ASSIGNMENTS}?$filter=principalId eq '{USER_B}'"),
            &token,
        )
        .await
        .json();
    assert_eq!(
        active["value"].as_array().unwrap().len(),
        1,
        "already active"
    );
    let assignment = client
        .get(&format!("{ASSIGNMENTS}/{ASSIGN_B}"), &token)
        .await
        .json();
    assert_eq!(assignment["state"], "delivered");

    // An assignment reprocess of user C (who holds everything) adds nothing.
    let before = client.get(ROLE_ASSIGNMENTS, &token).await.json();
    let reprocessed = client
        .post(&format!("{ASSIGNMENTS}/{ASSIGN_C}/reprocess"), &token, None)
        .await;
    assert_eq!(reprocessed.status, 202);
    assert_eq!(client.get(ROLE_ASSIGNMENTS, &token).await.json(), before);
    let stats = fake.stats();
    assert_eq!(stats.request_reprocess.get(REQ_PARTIAL), Some(&1));
    assert_eq!(stats.reprocess.get(ASSIGN_C), Some(&1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn role_and_request_paths_honour_faults() {
    let tenant = RolesTenant::new("faults");
    let mut config = tenant.config();
    let faults = json!({
        "forbidden": [ROLE_ASSIGNMENTS],
        "server_errors": [{"path": ROLE_ELIGIBILITY.to_uppercase(), "status": 503, "count": 1}],
        "not_found": [REQUESTS],
    });
    config.faults = Some(Faults::parse(&faults.to_string()).unwrap());
    let fake = start(config).await.unwrap();
    let client = Client::new(&fake);
    let token = client.token().await;

    let forbidden = client
        .get(
            &format!("{ROLE_ASSIGNMENTS}?$filter=roleDefinitionId eq '{ACTIVE_ROLE}'"),
            &token,
        )
        .await;
    assert_eq!(forbidden.status, 403);
    assert_eq!(
        forbidden.json()["error"]["code"],
        "Authorization_RequestDenied"
    );
    assert_eq!(forbidden.units(), 1);
    let batch = json!({"requests": [
        {"id": "1", "method": "GET", "url": format!("{ROLE_ASSIGNMENTS}?$expand=principal")},
        {"id": "2", "method": "GET", "url": ROLE_ELIGIBILITY},
        {"id": "3", "method": "GET", "url": format!("{REQUESTS}?$filter=state eq 'deliveryFailed'")},
        {"id": "4", "method": "GET", "url": format!("{REQUESTS}/{REQ_OK}")},
    ]});
    let reply = client.post("$batch", &token, Some(batch)).await.json();
    let responses = reply["responses"].as_array().unwrap();
    let status = |id: &str| responses.iter().find(|r| r["id"] == id).unwrap()["status"].clone();
    assert_eq!(
        [status("1"), status("2"), status("3"), status("4")],
        [json!(403), json!(503), json!(404), json!(200)],
        "a path names one resource: the single request is not the list"
    );
    assert_eq!(
        client.get(ROLE_ELIGIBILITY, &token).await.status,
        200,
        "count 1"
    );
}

#[test]
fn now_flag_sets_the_clock() {
    use clap::Parser;
    let args = crate::FakeArgs::try_parse_from([
        "fake-graph",
        "--tenant-dir",
        "x",
        "--now",
        "2025-06-15T14:00:00+02:00",
    ])
    .unwrap();
    let config = args.to_config().unwrap();
    assert_eq!(config.now, Some(NOW.parse().unwrap()));
    let unset = crate::FakeArgs::try_parse_from(["fake-graph", "--tenant-dir", "x"]).unwrap();
    assert_eq!(unset.to_config().unwrap().now, None);
    assert!(crate::FakeArgs::try_parse_from([
        "fake-graph",
        "--tenant-dir",
        "x",
        "--now",
        "yesterday"
    ])
    .is_err());
}
