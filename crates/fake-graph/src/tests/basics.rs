//! Paging, batching, filters, reprocess, faults, tokens and throttling.

use super::*;

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

    // Owners the tenant directory did not record: refused, never served as an empty list.
    let unrecorded = client
        .get(
            &format!("groups/{}/owners", "6606f3cc-f3ee-407b-a88f-d11608648942"),
            &token,
        )
        .await;
    assert_eq!(unrecorded.status, 403);
    assert!(
        unrecorded.text.contains("not recorded"),
        "{}",
        unrecorded.text
    );
    units += unrecorded.units();

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
