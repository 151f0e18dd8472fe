//! The directory audit log (`auditLogs/directoryAudits`): filters, order, paging, its own
//! request limit, faults, and the optional `directoryAudits.json`.

use super::*;

const AUDITS: &str = "auditLogs/directoryAudits";

/// `(id, activityDisplayName, activityDateTime)`, in no particular order (the server sorts).
const EVENTS: [(&str, &str, &str); 7] = [
    (
        "Directory_e3",
        "Remove member from group",
        "2026-11-02T06:30:00.1234567Z",
    ),
    (
        "Directory_e1",
        "Add member to group",
        "2026-11-02T04:59:59.9999999Z",
    ),
    (
        "Directory_e7",
        "Remove member from group",
        "2026-11-02T09:00:00.5Z",
    ),
    (
        "Directory_e5",
        "Update user",
        "2026-11-02T07:00:00.0000000Z",
    ),
    (
        "Directory_e2",
        "Add member to group",
        "2026-11-02T05:00:00.0000000Z",
    ),
    ("Directory_e6", "Add owner to group", "2026-11-02T08:00:00Z"),
    (
        "Directory_e4",
        "Add app role assignment grant to user",
        "2026-11-02T07:00:00Z",
    ),
];

/// Newest first; e4 and e5 happened at the same instant and go by id.
const NEWEST_FIRST: [&str; 7] = [
    "Directory_e7",
    "Directory_e6",
    "Directory_e4",
    "Directory_e5",
    "Directory_e3",
    "Directory_e2",
    "Directory_e1",
];

/// contoso's top-level files plus a `directoryAudits.json` written here. Removed on drop.
struct AuditTenant {
    root: PathBuf,
}

impl AuditTenant {
    fn new(name: &str) -> AuditTenant {
        let events: Vec<Value> = EVENTS
            .iter()
            .map(|(id, activity, time)| {
                json!({
                    "id": id,
                    "category": "GroupManagement",
                    "correlationId": "dbcb74c9-7b30-4cc2-8202-c98f3bfdf469",
                    "result": "success",
                    "activityDisplayName": activity,
                    "activityDateTime": time,
                    "loggedByService": "Core Directory",
                    "operationType": "Assign",
                    "initiatedBy": {"user": null, "app": {"appId": null, "displayName": "ADIbizaUX"}},
                    "targetResources": [],
                    "additionalDetails": [],
                })
            })
            .collect();
        AuditTenant::with_file(name, &json!({ "value": events }).to_string())
    }

    /// The tenant with `text` as its `directoryAudits.json`.
    fn with_file(name: &str, text: &str) -> AuditTenant {
        let root =
            std::env::temp_dir().join(format!("fake-graph-audits-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(&root).unwrap();
        for entry in std::fs::read_dir(contoso()).unwrap() {
            let path = entry.unwrap().path();
            if path.is_file() {
                std::fs::copy(&path, root.join(path.file_name().unwrap())).unwrap();
            }
        }
        std::fs::write(root.join("directoryAudits.json"), text).unwrap();
        AuditTenant { root }
    }

    /// No reports limit: these tests make more than 5 requests in 10 s.
    fn config(&self) -> FakeConfig {
        let mut config = config();
        config.tenant_dir = self.root.clone();
        config.reports_limit = None;
        config
    }
}

impl Drop for AuditTenant {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

/// The ids of one page's events.
fn page_ids(page: &Answer) -> Vec<String> {
    assert_eq!(page.status, 200, "{}", page.text);
    ids(page.json()["value"].as_array().unwrap())
}

async fn token_for(client: &Client, client_id: &str) -> String {
    let form = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("client_id", client_id)
        .append_pair("scope", "https://graph.microsoft.com/.default")
        .append_pair("grant_type", "client_credentials")
        .append_pair("client_secret", SECRET)
        .finish();
    let response = client
        .http
        .post(format!(
            "{}/{}/oauth2/v2.0/token",
            client.url, client.tenant
        ))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form)
        .send()
        .await
        .unwrap();
    let reply = answer(response).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    reply.json()["access_token"].as_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_log_filters_by_time_and_activity_newest_first() {
    let tenant = AuditTenant::new("filters");
    let fake = start(tenant.config()).await.unwrap();
    let client = Client::new(&fake);
    let token = client.token().await;

    let all = client.get(AUDITS, &token).await;
    assert_eq!(page_ids(&all), NEWEST_FIRST);
    let body = all.json();
    assert!(body["@odata.context"]
        .as_str()
        .unwrap()
        .ends_with("/v1.0/$metadata#auditLogs/directoryAudits"));
    assert!(body.get("@odata.nextLink").is_none());
    assert_eq!(
        body["value"][0]["initiatedBy"]["app"]["displayName"],
        "ADIbizaUX"
    );
    assert_eq!(all.units(), 0, "the audit log spends no resource units");

    // A window [05:00, 09:00] and three activities: e1 is a tick too early, e7 half a second
    // too late, e5 and e6 are other activities.
    let window =
        "activityDateTime ge 2026-11-02T05:00:00Z and activityDateTime le 2026-11-02T09:00:00Z";
    let activities = "activityDisplayName eq 'add member to group' or activityDisplayName eq 'Remove member from group' or startswith(activityDisplayName,'Add app role')";
    let filtered = client
        .get(
            &format!("{AUDITS}?$filter={window} and ({activities})"),
            &token,
        )
        .await;
    assert_eq!(
        page_ids(&filtered),
        ["Directory_e4", "Directory_e3", "Directory_e2"]
    );
    let exact = client
        .get(
            &format!("{AUDITS}?$filter=activityDateTime eq 2026-11-02T07:00:00.0000000Z"),
            &token,
        )
        .await;
    assert_eq!(page_ids(&exact), ["Directory_e4", "Directory_e5"]);

    // `+` is a space in a query; names compare case-insensitively.
    let plus = client
        .get(
            &format!("{AUDITS}?$filter=activityDisplayName+eq+'add+OWNER+to+group'"),
            &token,
        )
        .await;
    assert_eq!(page_ids(&plus), ["Directory_e6"]);

    // `and` binds tighter: e7 matches the left of the `or` (it fails the right's time).
    let precedence = client
        .get(
            &format!("{AUDITS}?$filter=activityDateTime gt 2026-11-02T08:30:00Z or activityDisplayName eq 'Add owner to group' and activityDateTime lt 2026-11-02T08:00:00Z"),
            &token,
        )
        .await;
    assert_eq!(page_ids(&precedence), ["Directory_e7"]);

    let lower = client
        .get(
            "auditlogs/directoryaudits?$filter=startswith(activityDisplayName,'remove')",
            &token,
        )
        .await;
    assert_eq!(page_ids(&lower), ["Directory_e7", "Directory_e3"]);

    let batch = json!({"requests": [
        {"id": "1", "method": "GET", "url": format!("/{AUDITS}?$filter=activityDisplayName eq 'Update user'")},
    ]});
    let reply = client.post("$batch", &token, Some(batch)).await.json();
    assert_eq!(reply["responses"][0]["status"], 200);
    assert_eq!(
        ids(reply["responses"][0]["body"]["value"].as_array().unwrap()),
        ["Directory_e5"]
    );

    let stats = client.stats().await;
    assert_eq!(stats["audit_log_requests"], 7);
    assert_eq!(stats["audit_log_throttled"], 0);
    assert_eq!(stats["resource_units"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_log_pages_every_event_exactly_once() {
    let tenant = AuditTenant::new("paging");
    let mut config = tenant.config();
    config.max_page_size = Some(3);
    // The server's page size is for the other lists; the audit log defaults to 100.
    config.page_size = 1;
    let fake = start(config).await.unwrap();
    let client = Client::new(&fake);
    let token = client.token().await;

    let (events, links) = follow(&client, &token, &format!("{AUDITS}?$top=2")).await;
    assert_eq!(ids(&events), NEWEST_FIRST, "all, once each, newest first");
    assert_eq!(links.len(), 3, "{links:?}");
    for link in &links {
        assert!(
            link.starts_with(&format!("{}/v1.0/{AUDITS}?$top=2&$skiptoken=", fake.url)),
            "{link}"
        );
    }

    let filter = "startswith(activityDisplayName,'Add')";
    let (added, links) = follow(
        &client,
        &token,
        &format!("{AUDITS}?$filter={filter}&$top=1"),
    )
    .await;
    assert_eq!(
        ids(&added),
        [
            "Directory_e6",
            "Directory_e4",
            "Directory_e2",
            "Directory_e1"
        ]
    );
    assert_eq!(links.len(), 3);
    assert!(links.iter().all(|l| l.contains("$filter=")), "{links:?}");

    // Above the server's max page size (and above 1000): capped, not refused.
    for top in ["", "?$top=1000", "?$top=5000"] {
        let page = client.get(&format!("{AUDITS}{top}"), &token).await;
        assert_eq!(page_ids(&page), NEWEST_FIRST[..3], "{top}");
        assert!(page.json()["@odata.nextLink"].is_string());
    }
    let zero = client.get(&format!("{AUDITS}?$top=0"), &token).await;
    assert_eq!(zero.status, 400, "{}", zero.text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_log_has_its_own_request_limit_per_client() {
    let tenant = AuditTenant::new("limit");
    let mut config = tenant.config();
    config.reports_limit = FakeConfig::new(&tenant.root).reports_limit;
    assert_eq!(config.reports_limit, Some(crate::ReportsLimit::DEFAULT));
    config.client_id = None;
    // A directory budget of 2 RU: the audit log must not touch it.
    config.throttle_ru = Some(2);
    config.throttle_window_ms = 60_000;
    let fake = start(config).await.unwrap();
    let client = Client::new(&fake);
    let token = client.token().await;

    for i in 0..5 {
        let page = client.get(AUDITS, &token).await;
        assert_eq!(page.status, 200, "request {}: {}", i + 1, page.text);
    }
    let throttled = client.get(&format!("{AUDITS}?$top=1"), &token).await;
    assert_eq!(throttled.status, 429, "{}", throttled.text);
    assert_eq!(throttled.json()["error"]["code"], "TooManyRequests");
    let wait: u64 = throttled.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .expect("whole seconds");
    assert!((1..=10).contains(&wait), "{wait}");
    assert_eq!(throttled.units(), 0);

    let batch = json!({"requests": [{"id": "1", "method": "GET", "url": AUDITS}]});
    let reply = client.post("$batch", &token, Some(batch)).await.json();
    let inner = &reply["responses"][0];
    assert_eq!(inner["status"], 429, "{inner}");
    assert!(
        inner["headers"]["Retry-After"]
            .as_str()
            .unwrap()
            .parse::<u64>()
            .unwrap()
            >= 1
    );

    // Another app has its own window.
    let other = token_for(&client, "app-2").await;
    assert_eq!(client.get(AUDITS, &other).await.status, 200);

    // The directory budget is whole: two 1-RU reads pass, the third is over it.
    for _ in 0..2 {
        assert_eq!(
            client.get(&format!("groups/{GROUP}"), &token).await.status,
            200
        );
    }
    assert_eq!(
        client.get(&format!("groups/{GROUP}"), &token).await.status,
        429
    );

    let stats = fake.stats();
    assert_eq!(stats.audit_log_requests, 5 + 1 + 1 + 1);
    assert_eq!(stats.audit_log_throttled, 2);
    assert_eq!(stats.throttled, 3, "429s of both kinds");
    assert_eq!(stats.resource_units, 3, "the three group reads only");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_log_refuses_bad_filters_and_writes() {
    let tenant = AuditTenant::new("refusals");
    let fake = start(tenant.config()).await.unwrap();
    let client = Client::new(&fake);
    let token = client.token().await;

    for bad in [
        "category eq 'GroupManagement'",
        "activityDateTime ge '2026-11-02T05:00:00Z'",
        "activityDateTime ge 2026-11-02",
        "activityDisplayName ne 'Update user'",
        "(activityDisplayName eq 'Update user'",
        "activityDisplayName eq 'Update user' and",
    ] {
        let refused = client.get(&format!("{AUDITS}?$filter={bad}"), &token).await;
        assert_eq!(refused.status, 400, "{bad}: {}", refused.text);
        let error = refused.json()["error"].clone();
        assert_eq!(error["code"], "BadRequest", "{bad}");
        assert!(
            error["message"]
                .as_str()
                .unwrap()
                .starts_with("Invalid filter clause: "),
            "{bad}: {error}"
        );
    }
    for method in [
        reqwest::Method::POST,
        reqwest::Method::PATCH,
        reqwest::Method::DELETE,
    ] {
        let refused = client
            .send(method.clone(), AUDITS, &token, Some(json!({})))
            .await
            .unwrap();
        assert_eq!(refused.status, 405, "{method}");
    }
    assert_eq!(
        client
            .get(&format!("{AUDITS}/Directory_e1"), &token)
            .await
            .status,
        400,
        "single events are not served"
    );
    assert_eq!(page_ids(&client.get(AUDITS, &token).await), NEWEST_FIRST);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_log_honours_faults() {
    let tenant = AuditTenant::new("faults");
    let mut config = tenant.config();
    config.faults = Some(Faults::parse(r#"{"forbidden": ["auditLogs/directoryAudits"]}"#).unwrap());
    let fake = start(config).await.unwrap();
    let client = Client::new(&fake);
    let token = client.token().await;
    for path in [
        AUDITS,
        "auditlogs/directoryaudits",
        "AUDITLOGS/DIRECTORYAUDITS?$top=1",
    ] {
        let forbidden = client.get(path, &token).await;
        assert_eq!(forbidden.status, 403, "{path}");
        assert_eq!(
            forbidden.json()["error"]["code"],
            "Authorization_RequestDenied"
        );
    }
    fake.shutdown().await;

    let mut config = tenant.config();
    config.faults = Some(
        Faults::parse(
            r#"{"server_errors": [{"path": "auditlogs/directoryaudits", "page": 2, "status": 503, "count": 1}],
                "truncate_body": [{"path": "auditLogs/directoryAudits", "page": 3, "count": 1}]}"#,
        )
        .unwrap(),
    );
    let fake = start(config).await.unwrap();
    let client = Client::new(&fake);
    let token = client.token().await;
    let first = client.get(&format!("{AUDITS}?$top=3"), &token).await;
    let second_link = first.json()["@odata.nextLink"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(client.get(&second_link, &token).await.status, 503, "page 2");
    let second = client.get(&second_link, &token).await;
    assert_eq!(page_ids(&second), NEWEST_FIRST[3..6], "count 1");
    let third_link = second.json()["@odata.nextLink"]
        .as_str()
        .unwrap()
        .to_string();
    let truncated = client.get(&third_link, &token).await;
    assert_eq!(truncated.status, 200);
    assert!(
        serde_json::from_str::<Value>(&truncated.text).is_err(),
        "page 3 cut"
    );
    assert_eq!(
        page_ids(&client.get(&third_link, &token).await),
        NEWEST_FIRST[6..]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_log_file_is_optional_and_checked() {
    // contoso records no audit log: an empty list, not an error.
    let fake = start(config()).await.unwrap();
    let client = Client::new(&fake);
    let token = client.token().await;
    let empty = client.get(AUDITS, &token).await;
    assert_eq!(page_ids(&empty), Vec::<String>::new());
    fake.shutdown().await;

    let broken = AuditTenant::with_file("broken", r#"{"value": [{"id": "x",]}"#);
    let error = start(broken.config()).await.err().expect("malformed file");
    assert!(error.contains("directoryAudits.json"), "{error}");
    let untimed = AuditTenant::with_file(
        "untimed",
        r#"{"value": [{"id": "a", "activityDateTime": "2026-11-02T05:00:00Z"}, {"id": "b", "activityDateTime": "last Tuesday"}]}"#,
    );
    let error = start(untimed.config()).await.err().expect("bad time");
    // Whichever check refuses it (the tenant directory's or the fake's), the file is named.
    assert!(error.contains("directoryAudits.json"), "{error}");
}

#[test]
fn reports_limit_flags() {
    use clap::Parser;
    use std::time::Duration;
    let parse = |extra: &[&str]| {
        let mut args = vec!["fake-graph", "--tenant-dir", "x"];
        args.extend_from_slice(extra);
        crate::FakeArgs::try_parse_from(args).map(|a| a.to_config().unwrap().reports_limit)
    };
    assert_eq!(parse(&[]).unwrap(), Some(crate::ReportsLimit::DEFAULT));
    assert_eq!(
        parse(&["--reports-limit", "2/1"]).unwrap(),
        Some(crate::ReportsLimit {
            requests: 2,
            window: Duration::from_secs(1)
        })
    );
    assert_eq!(parse(&["--no-reports-limit"]).unwrap(), None);
    for bad in [
        &["--reports-limit", "0/10"][..],
        &["--reports-limit", "5"],
        &["--reports-limit", "5/10", "--no-reports-limit"],
    ] {
        assert!(parse(bad).is_err(), "{bad:?}");
    }
}
