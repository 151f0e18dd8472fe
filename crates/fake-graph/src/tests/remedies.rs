//! The remedy writes over HTTPS: `adminRemove` assignment requests, group member / owner
//! `$ref` deletes, app role assignment deletes by listed id, and `fail_writes_after` on them.

use super::*;

use crate::state::derived_assignment_id;

const ASSIGNMENTS: &str = "identityGovernance/entitlementManagement/assignments";
const REQUESTS: &str = "identityGovernance/entitlementManagement/assignmentRequests";
/// Adele's Finance Analysts assignment: member of GROUP, app role 8fb69c55… on SP.
const ADELE_FINANCE: &str = "3b280e9f-a116-499a-bebc-fb9ccae627b7";
/// User 20645f6d… holds Engineering Platform Access (500a7c1a…, member of OTHER_GROUP) and
/// Engineering On-Call (9c71ab1e…, members of OTHER_GROUP and ON_CALL_GROUP), both delivered.
const TWICE_USER: &str = "20645f6d-b9fa-4950-b2ef-3c8d0cb8315d";
const ON_CALL: &str = "9c71ab1e-6874-4a89-a9d5-a8605b475efe";
const ON_CALL_GROUP: &str = "1b5df1f5-6e4a-442d-ad3e-dd7e569ce737";
/// Pradeep Gupta, an owner of GROUP.
const OWNER: &str = "4319c7f8-63fa-4372-88b3-2947373328eb";
const NO_SUCH: &str = "00000000-0000-4000-8000-00000000dead";

fn remove_body(assignment: &str) -> Value {
    json!({"requestType": "adminRemove", "assignment": {"id": assignment}})
}

impl Client {
    async fn delete(&self, url: &str, token: &str) -> Answer {
        self.send(reqwest::Method::DELETE, url, token, None)
            .await
            .unwrap()
    }

    /// A POST whose body is sent as is (not necessarily JSON).
    async fn post_raw(&self, url: &str, token: &str, body: &str) -> Answer {
        let response = self
            .http
            .post(format!("{}/v1.0/{url}", self.url))
            .bearer_auth(token)
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        answer(response).await
    }
}

/// The `id`s (or, with `key`, another string field) of every item of a list.
async fn listed(client: &Client, token: &str, url: &str, key: &str) -> Vec<String> {
    let (items, _) = follow(client, token, url).await;
    items
        .iter()
        .map(|item| item[key].as_str().unwrap_or("-").to_ascii_lowercase())
        .collect()
}

fn members(group: &str) -> String {
    format!("groups/{group}/members?$top=999")
}

fn assigned_to(sp: &str) -> String {
    format!("servicePrincipals/{sp}/appRoleAssignedTo?$top=999")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_remove_ends_the_assignment_and_takes_its_access() {
    let fake = start(config()).await.unwrap();
    let client = Client::new(&fake);
    let token = client.token().await;
    let delivered = format!("{ASSIGNMENTS}?$filter=state eq 'Delivered'");
    assert!(listed(&client, &token, &delivered, "id")
        .await
        .contains(&ADELE_FINANCE.to_string()));
    assert!(listed(&client, &token, &members(GROUP), "id")
        .await
        .contains(&ADELE.to_string()));
    assert!(listed(&client, &token, &assigned_to(SP), "principalId")
        .await
        .contains(&ADELE.to_string()));

    let created = client
        .post(
            REQUESTS,
            &token,
            Some(json!({"requestType": "AdminRemove", "assignment": {"id": ADELE_FINANCE.to_uppercase()}})),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    assert_eq!(created.units(), 1);
    let request = created.json();
    let request_id = request["id"].as_str().unwrap().to_string();
    assert!(entra_model::ids::is_guid(&request_id), "{request_id}");
    assert_eq!(request["requestType"], "adminRemove");
    assert_eq!(
        (request["state"].clone(), request["status"].clone()),
        (json!("delivered"), json!("Delivered"))
    );
    assert_eq!(
        request["assignment"],
        json!({"id": ADELE_FINANCE}),
        "the id as stored"
    );
    let created_at = request["createdDateTime"].as_str().unwrap();
    assert!(chrono::DateTime::parse_from_rfc3339(created_at).is_ok());
    assert!(request["@odata.context"]
        .as_str()
        .unwrap()
        .ends_with(&format!("$metadata#{REQUESTS}/$entity")));

    // The assignment is expired, so a delivered-only list no longer has it.
    assert!(!listed(&client, &token, &delivered, "id")
        .await
        .contains(&ADELE_FINANCE.to_string()));
    let assignment = client
        .get(&format!("{ASSIGNMENTS}/{ADELE_FINANCE}"), &token)
        .await
        .json();
    assert_eq!(
        (assignment["state"].clone(), assignment["status"].clone()),
        (json!("expired"), json!("Expired"))
    );
    assert_eq!(assignment["expiredDateTime"], json!(created_at));
    // Its access is gone from the collection reads.
    assert!(!listed(&client, &token, &members(GROUP), "id")
        .await
        .contains(&ADELE.to_string()));
    assert!(!listed(&client, &token, &assigned_to(SP), "principalId")
        .await
        .contains(&ADELE.to_string()));

    // The request is listed and can be read back, its assignment (expanded) expired.
    assert!(listed(&client, &token, REQUESTS, "id")
        .await
        .contains(&request_id));
    let stored = client
        .get(
            &format!(
                "{REQUESTS}/{}?$expand=assignment",
                request_id.to_uppercase()
            ),
            &token,
        )
        .await;
    assert_eq!(stored.status, 200, "{}", stored.text);
    let stored = stored.json();
    assert_eq!(stored["requestType"], "adminRemove");
    assert_eq!(stored["createdDateTime"], json!(created_at));
    assert_eq!(stored["assignment"]["id"], ADELE_FINANCE);
    assert_eq!(stored["assignment"]["state"], "expired");
    let (delivered_requests, _) = follow(
        &client,
        &token,
        &format!("{REQUESTS}?$filter=state eq 'Delivered'"),
    )
    .await;
    assert!(ids(&delivered_requests).contains(&request_id));

    // A group another delivered assignment of the same user grants stays; the rest goes.
    // Sent inside $batch, whose inner body is passed on.
    assert!(listed(&client, &token, &members(OTHER_GROUP), "id")
        .await
        .contains(&TWICE_USER.to_string()));
    let batch = json!({"requests": [{"id": "1", "method": "POST", "url": format!("/{REQUESTS}"),
        "headers": {"Content-Type": "application/json"}, "body": remove_body(ON_CALL)}]});
    let reply = client.post("$batch", &token, Some(batch)).await.json();
    let inner = &reply["responses"][0];
    assert_eq!(inner["status"], 201, "{inner}");
    assert_eq!(inner["body"]["assignment"]["id"], ON_CALL);
    assert!(!listed(&client, &token, &members(ON_CALL_GROUP), "id")
        .await
        .contains(&TWICE_USER.to_string()));
    assert!(
        listed(&client, &token, &members(OTHER_GROUP), "id")
            .await
            .contains(&TWICE_USER.to_string()),
        "still granted by Engineering Platform Access"
    );

    // Ended once: a second adminRemove finds it expired.
    let again = client
        .post(REQUESTS, &token, Some(remove_body(ADELE_FINANCE)))
        .await;
    assert_eq!(again.status, 400, "{}", again.text);
    assert!(again.json()["error"]["message"]
        .as_str()
        .unwrap()
        .contains("'expired'"));

    let stats = fake.stats();
    assert_eq!(stats.admin_removes, 2);
    assert_eq!(
        (
            stats.member_removals,
            stats.owner_removals,
            stats.app_role_removals
        ),
        (0, 0, 0),
        "the access an adminRemove takes away is not counted as DELETE calls"
    );
    assert_eq!(client.stats().await["admin_removes"], 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_remove_refuses_bad_requests() {
    let fake = start(config()).await.unwrap();
    let client = Client::new(&fake);
    let token = client.token().await;

    let add = client
        .post(
            REQUESTS,
            &token,
            Some(json!({"requestType": "adminAdd", "assignment": {"id": ADELE_FINANCE}})),
        )
        .await;
    assert_eq!(add.status, 400, "{}", add.text);
    let error = add.json()["error"].clone();
    assert_eq!(error["code"], "BadRequest");
    let message = error["message"].as_str().unwrap();
    assert!(
        message.contains("'adminAdd'") && message.contains("adminRemove"),
        "{message}"
    );
    for body in [
        "{\"requestType\": \"adminRemove\", ",
        "",
        "{\"requestType\": \"adminRemove\"}",
        "{\"requestType\": \"adminRemove\", \"assignment\": {}}",
    ] {
        let refused = client.post_raw(REQUESTS, &token, body).await;
        assert_eq!(refused.status, 400, "{body}: {}", refused.text);
        assert_eq!(refused.json()["error"]["code"], "BadRequest");
    }
    let unknown = client
        .post(REQUESTS, &token, Some(remove_body(NO_SUCH)))
        .await;
    assert_eq!(unknown.status, 404, "{}", unknown.text);
    assert_eq!(unknown.json()["error"]["code"], "ResourceNotFound");
    let expired = client
        .post(REQUESTS, &token, Some(remove_body(EXPIRED)))
        .await;
    assert_eq!(expired.status, 400, "{}", expired.text);
    let other_method = client
        .send(
            reqwest::Method::PATCH,
            REQUESTS,
            &token,
            Some(remove_body(ADELE_FINANCE)),
        )
        .await
        .unwrap();
    assert_eq!(other_method.status, 405);
    assert_eq!(client.get(REQUESTS, &token).await.status, 200);

    // Nothing changed.
    let assignment = client
        .get(&format!("{ASSIGNMENTS}/{ADELE_FINANCE}"), &token)
        .await
        .json();
    assert_eq!(assignment["state"], "delivered");
    assert!(listed(&client, &token, &members(GROUP), "id")
        .await
        .contains(&ADELE.to_string()));
    assert_eq!(
        listed(&client, &token, REQUESTS, "id").await,
        Vec::<String>::new()
    );
    assert_eq!(fake.stats().admin_removes, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_ref_deletes_remove_members_and_owners() {
    let mut config = config();
    // Writes are not RU-throttled: a spent budget does not stop them.
    config.throttle_ru = Some(5);
    config.throttle_window_ms = 60_000;
    let fake = start(config).await.unwrap();
    let client = Client::new(&fake);
    let token = client.token().await;
    let members_before = file_ids(&format!("groups/{GROUP}/members.json"));
    assert!(members_before.contains(&ADELE.to_string()));

    let removed = client
        .delete(
            &format!("groups/{}/members/{}/$ref", GROUP.to_uppercase(), ADELE),
            &token,
        )
        .await;
    assert_eq!(removed.status, 204, "{}", removed.text);
    assert!(removed.text.is_empty());
    let repeat = client
        .delete(&format!("groups/{GROUP}/members/{ADELE}/%24ref"), &token)
        .await;
    assert_eq!(repeat.status, 404, "{}", repeat.text);
    assert_eq!(repeat.json()["error"]["code"], "Request_ResourceNotFound");

    let removed = client
        .delete(
            &format!("groups/{GROUP}/owners/{}/$ref", OWNER.to_uppercase()),
            &token,
        )
        .await;
    assert_eq!(removed.status, 204, "{}", removed.text);
    let repeat = client
        .delete(&format!("groups/{GROUP}/owners/{OWNER}/$ref"), &token)
        .await;
    assert_eq!(repeat.status, 404);

    for (url, why) in [
        (
            format!("groups/{NO_SUCH}/members/{ADELE}/$ref"),
            "no such group",
        ),
        (
            format!("groups/{OTHER_GROUP}/members/{ADELE}/$ref"),
            "not a member",
        ),
        (
            format!("groups/{GROUP}/owners/{ADELE}/$ref"),
            "a member, not an owner",
        ),
    ] {
        assert_eq!(client.delete(&url, &token).await.status, 404, "{why}");
    }
    for (method, url) in [
        (
            reqwest::Method::GET,
            format!("groups/{GROUP}/members/{OWNER}/$ref"),
        ),
        (
            reqwest::Method::POST,
            format!("groups/{GROUP}/owners/{OWNER}/$ref"),
        ),
        (reqwest::Method::DELETE, format!("groups/{GROUP}/members")),
        (reqwest::Method::POST, format!("groups/{GROUP}/members")),
    ] {
        let reply = client
            .send(method.clone(), &url, &token, None)
            .await
            .unwrap();
        assert_eq!(reply.status, 405, "{method} {url}: {}", reply.text);
    }

    let stats = fake.stats();
    assert_eq!((stats.member_removals, stats.owner_removals), (1, 1));
    assert_eq!(stats.throttled, 0);

    // The reads show the removals. They spend the rest of the budget (GET …/$ref above 1,
    // members 3, owners 1), yet a write still goes through.
    let members = client.get(&members(GROUP), &token).await;
    assert_eq!(members.status, 200, "{}", members.text);
    let expected: Vec<String> = members_before
        .iter()
        .filter(|id| *id != ADELE)
        .cloned()
        .collect();
    assert_eq!(ids(members.json()["value"].as_array().unwrap()), expected);
    let owners = client.get(&format!("groups/{GROUP}/owners"), &token).await;
    assert_eq!(owners.status, 200, "{}", owners.text);
    let owners = ids(owners.json()["value"].as_array().unwrap());
    assert_eq!(owners.len(), 2);
    assert!(!owners.contains(&OWNER.to_string()));
    assert_eq!(
        client.get(&format!("groups/{GROUP}"), &token).await.status,
        429,
        "budget spent"
    );
    let write = client
        .delete(
            &format!("groups/{ON_CALL_GROUP}/members/{TWICE_USER}/$ref"),
            &token,
        )
        .await;
    assert_eq!(write.status, 204, "{}", write.text);
    assert_eq!(fake.stats().member_removals, 2);
}

/// Copies a tenant directory (files and folders, recursively).
fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// Contoso with the ids of SP's app role assignments left out (as a recording or generator
/// might). Removed on drop.
struct NoIdsTenant {
    root: PathBuf,
}

impl NoIdsTenant {
    fn new(name: &str) -> NoIdsTenant {
        let root =
            std::env::temp_dir().join(format!("fake-graph-remedies-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        copy_dir(&contoso(), &root);
        let file = root.join(format!("servicePrincipals/{SP}/appRoleAssignedTo.json"));
        let mut body: Value =
            serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
        for item in body["value"].as_array_mut().unwrap() {
            item.as_object_mut().unwrap().remove("id");
        }
        std::fs::write(&file, body.to_string()).unwrap();
        NoIdsTenant { root }
    }
}

impl Drop for NoIdsTenant {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn app_role_assignments_are_deleted_by_listed_id() {
    let fake = start(config()).await.unwrap();
    let client = Client::new(&fake);
    let token = client.token().await;
    let (items, _) = follow(&client, &token, &assigned_to(SP)).await;
    assert_eq!(
        ids(&items),
        file_ids(&format!("servicePrincipals/{SP}/appRoleAssignedTo.json")),
        "recorded ids are served as they are"
    );
    let adele = items.iter().find(|i| i["principalId"] == ADELE).unwrap();
    let id = adele["id"].as_str().unwrap().to_string();

    let url = format!(
        "servicePrincipals/{}/appRoleAssignedTo/{id}",
        SP.to_uppercase()
    );
    let removed = client.delete(&url, &token).await;
    assert_eq!(removed.status, 204, "{}", removed.text);
    assert!(removed.text.is_empty());
    let (after, _) = follow(&client, &token, &assigned_to(SP)).await;
    assert_eq!(after.len(), items.len() - 1);
    assert!(!ids(&after).contains(&id));
    assert!(after.iter().all(|i| i["principalId"] != ADELE));
    let repeat = client.delete(&url, &token).await;
    assert_eq!(repeat.status, 404);
    assert_eq!(repeat.json()["error"]["code"], "Request_ResourceNotFound");
    let other = ids(&after)[0].clone();
    assert_eq!(
        client
            .delete(
                &format!("servicePrincipals/{NO_SUCH}/appRoleAssignedTo/{other}"),
                &token
            )
            .await
            .status,
        404,
        "no such service principal"
    );
    for method in [reqwest::Method::GET, reqwest::Method::PATCH] {
        let reply = client
            .send(
                method.clone(),
                &format!("servicePrincipals/{SP}/appRoleAssignedTo/{other}"),
                &token,
                None,
            )
            .await
            .unwrap();
        assert_eq!(reply.status, 405, "{method}: {}", reply.text);
    }
    assert_eq!(fake.stats().app_role_removals, 1);
    assert_eq!(client.stats().await["app_role_removals"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn app_role_assignments_without_ids_get_stable_ones() {
    let tenant = NoIdsTenant::new("derived");
    let serve = || {
        let mut config = FakeConfig::new(&tenant.root);
        config.faults = Some(Faults::default());
        config
    };
    let fake = start(serve()).await.unwrap();
    let client = Client::new(&fake);
    let token = client.token().await;
    let (items, _) = follow(&client, &token, &assigned_to(SP)).await;
    assert_eq!(items.len(), 11);
    for (position, item) in items.iter().enumerate() {
        let expected = derived_assignment_id(
            SP,
            item["principalId"].as_str().unwrap(),
            item["appRoleId"].as_str().unwrap(),
            position,
        );
        assert_eq!(item["id"], json!(expected));
    }
    // Another server on the same directory serves the same ids.
    let again = start(serve()).await.unwrap();
    let other = Client::new(&again);
    let other_token = other.token().await;
    let (same, _) = follow(&other, &other_token, &assigned_to(SP)).await;
    assert_eq!(ids(&same), ids(&items));

    let id = ids(&items)[3].clone();
    let removed = client
        .delete(
            &format!("servicePrincipals/{SP}/appRoleAssignedTo/{id}"),
            &token,
        )
        .await;
    assert_eq!(removed.status, 204, "{}", removed.text);
    let (after, _) = follow(&client, &token, &assigned_to(SP)).await;
    assert_eq!(after.len(), 10);
    assert!(!ids(&after).contains(&id));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remedies_share_the_fail_writes_after_counter() {
    let mut config = config();
    config.faults =
        Some(Faults::parse(r#"{"fail_writes_after": 2, "fail_writes_status": 500}"#).unwrap());
    let fake = start(config).await.unwrap();
    let client = Client::new(&fake);
    let token = client.token().await;

    // Two writes of different kinds succeed...
    let reprocess = client
        .post(&format!("{ASSIGNMENTS}/{DRIFTED}/reprocess"), &token, None)
        .await;
    assert_eq!(reprocess.status, 202, "{}", reprocess.text);
    let member = client
        .delete(&format!("groups/{GROUP}/members/{ADELE}/$ref"), &token)
        .await;
    assert_eq!(member.status, 204, "{}", member.text);

    // ...then every write fails first, before its own checks, and changes nothing.
    let (items, _) = follow(&client, &token, &assigned_to(SP)).await;
    let app_role = ids(&items)[0].clone();
    for (method, url, body) in [
        (
            reqwest::Method::POST,
            REQUESTS.to_string(),
            Some(remove_body(ADELE_FINANCE)),
        ),
        (
            reqwest::Method::POST,
            REQUESTS.to_string(),
            Some(remove_body(NO_SUCH)),
        ),
        (
            reqwest::Method::DELETE,
            format!("groups/{GROUP}/owners/{OWNER}/$ref"),
            None,
        ),
        (
            reqwest::Method::DELETE,
            format!("servicePrincipals/{SP}/appRoleAssignedTo/{app_role}"),
            None,
        ),
        (
            reqwest::Method::POST,
            format!("{ASSIGNMENTS}/{DRIFTED}/reprocess"),
            None,
        ),
    ] {
        let reply = client
            .send(method.clone(), &url, &token, body)
            .await
            .unwrap();
        assert_eq!(reply.status, 500, "{method} {url}: {}", reply.text);
        assert_eq!(reply.json()["error"]["code"], "InternalServerError");
    }
    let batch = json!({"requests": [{"id": "1", "method": "DELETE",
        "url": format!("groups/{GROUP}/owners/{OWNER}/$ref")}]});
    let inner = client.post("$batch", &token, Some(batch)).await.json();
    assert_eq!(inner["responses"][0]["status"], 500);

    let assignment = client
        .get(&format!("{ASSIGNMENTS}/{ADELE_FINANCE}"), &token)
        .await
        .json();
    assert_eq!(assignment["state"], "delivered");
    assert!(
        listed(&client, &token, &format!("groups/{GROUP}/owners"), "id")
            .await
            .contains(&OWNER.to_string())
    );
    assert_eq!(follow(&client, &token, &assigned_to(SP)).await.0, items);
    let stats = fake.stats();
    assert_eq!(stats.reprocess.get(DRIFTED), Some(&1));
    assert_eq!(
        (
            stats.admin_removes,
            stats.member_removals,
            stats.owner_removals,
            stats.app_role_removals
        ),
        (0, 1, 0, 0)
    );
}
