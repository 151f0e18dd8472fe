//! The RU budget's headers: `x-ms-throttle-limit-percentage` above 0.8 of the budget (direct
//! and inside `$batch`), `x-ms-throttle-scope` on its `429`s, and the `throttle_warnings`
//! count.

use super::*;

const PERCENTAGE: &str = "x-ms-throttle-limit-percentage";
const SCOPE: &str = "x-ms-throttle-scope";

fn header<'a>(answer: &'a Answer, name: &str) -> Option<&'a str> {
    answer.headers.get(name).map(|v| v.to_str().unwrap())
}

/// An inner `$batch` response's header, by its exact name (the fake spells them lower-case).
fn inner_header<'a>(response: &'a Value, name: &str) -> Option<&'a str> {
    response["headers"].get(name).and_then(Value::as_str)
}

/// The inner responses of a batch, in the order of their ids (the fake answers reversed).
fn by_id(reply: &Answer) -> Vec<Value> {
    assert_eq!(reply.status, 200, "{}", reply.text);
    let mut responses = reply.json()["responses"].as_array().unwrap().clone();
    responses.sort_by_key(|r| r["id"].as_str().unwrap().to_string());
    responses
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limit_percentage_above_four_fifths_of_the_budget_and_on_its_429s() {
    let mut config = config();
    config.throttle_ru = Some(10);
    // Nothing leaves the window during the test.
    config.throttle_window_ms = 600_000;
    let fake = start(config).await.unwrap();
    let client = Client::new(&fake);
    let token = client.token().await;
    let group = format!("groups/{GROUP}");

    // 1 RU each: 0.1 … 0.7 of the budget, no header.
    for n in 1..=7 {
        let reply = client.get(&group, &token).await;
        assert_eq!((reply.status, reply.units()), (200, 1));
        assert_eq!(header(&reply, PERCENTAGE), None, "request {n}");
        assert_eq!(header(&reply, SCOPE), None);
    }
    // Inside a batch: the 8th leaves exactly 0.8 spent (no header), the 9th 0.9.
    let batch = json!({"requests": [
        {"id": "1", "method": "GET", "url": group},
        {"id": "2", "method": "GET", "url": group},
    ]});
    let reply = client.post("$batch", &token, Some(batch)).await;
    assert_eq!(
        header(&reply, PERCENTAGE),
        None,
        "the envelope spends nothing"
    );
    let inner = by_id(&reply);
    assert_eq!(inner[0]["status"], 200);
    assert_eq!(inner_header(&inner[0], PERCENTAGE), None, "exactly 0.8");
    assert_eq!(inner[1]["status"], 200);
    assert_eq!(inner_header(&inner[1], PERCENTAGE), Some("0.90"));

    let full = client.get(&group, &token).await;
    assert_eq!(full.status, 200);
    assert_eq!(header(&full, PERCENTAGE), Some("1.00"));

    let refused = client.get(&group, &token).await;
    assert_eq!(refused.status, 429, "{}", refused.text);
    assert!(refused.headers.contains_key("retry-after"));
    assert_eq!(
        header(&refused, PERCENTAGE),
        Some("1.10"),
        "10 spent + 1 asked"
    );
    assert_eq!(
        header(&refused, SCOPE),
        Some(format!("Tenant_Application/Read/app-1/{}", fake.tenant_id).as_str())
    );
    assert_eq!(
        header(&refused, "x-ms-throttle-information"),
        Some("ResourceUnitLimitExceeded")
    );

    // Inner 429s carry them too; a write spends nothing and reports nothing; members (3 RU)
    // would bring 1.3.
    let batch = json!({"requests": [
        {"id": "1", "method": "GET", "url": format!("groups/{GROUP}/members")},
        {"id": "2", "method": "POST",
         "url": format!("identityGovernance/entitlementManagement/assignments/{DRIFTED}/reprocess")},
    ]});
    let inner = by_id(&client.post("$batch", &token, Some(batch)).await);
    assert_eq!(inner[0]["status"], 429);
    assert_eq!(inner_header(&inner[0], PERCENTAGE), Some("1.30"));
    assert_eq!(
        inner_header(&inner[0], SCOPE),
        Some(format!("Tenant_Application/Read/app-1/{}", fake.tenant_id).as_str())
    );
    assert!(inner_header(&inner[0], "Retry-After").is_some());
    assert_eq!(inner[1]["status"], 202);
    assert_eq!(inner_header(&inner[1], PERCENTAGE), None);
    assert_eq!(inner_header(&inner[1], SCOPE), None);

    let stats = client.stats().await;
    assert_eq!(stats["throttle_warnings"], 4, "{stats}");
    assert_eq!(stats["throttled"], 2);
    assert_eq!(fake.stats().throttle_warnings, 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limit_percentage_is_capped_and_absent_without_a_budget() {
    let mut config = config();
    config.throttle_ru = Some(2);
    config.throttle_window_ms = 600_000;
    let fake = start(config).await.unwrap();
    let client = Client::new(&fake);
    let token = client.token().await;
    let members = format!("groups/{GROUP}/members");
    // 3 RU into an empty window of 2: admitted, 1.5 of the budget.
    let over = client.get(&members, &token).await;
    assert_eq!(over.status, 200);
    assert_eq!(header(&over, PERCENTAGE), Some("1.50"));
    let refused = client.get(&members, &token).await;
    assert_eq!(refused.status, 429);
    assert_eq!(header(&refused, PERCENTAGE), Some("1.80"), "3, capped");
    // The audit log has its own limit: no RU, no header.
    let audits = client.get("auditLogs/directoryAudits", &token).await;
    assert_eq!(audits.status, 200, "{}", audits.text);
    assert_eq!(header(&audits, PERCENTAGE), None);
    assert_eq!(fake.stats().throttle_warnings, 2);
    fake.shutdown().await;

    let fake = start(super::config()).await.unwrap();
    let client = Client::new(&fake);
    let token = client.token().await;
    for _ in 0..5 {
        let reply = client.get(&members, &token).await;
        assert_eq!(reply.status, 200);
        assert_eq!(
            header(&reply, PERCENTAGE),
            None,
            "no budget, no share of it"
        );
    }
    assert_eq!(fake.stats().throttle_warnings, 0);
}
