//! Directory roles and assignment requests, with the clock fixed.

use super::*;

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
        // The core collections are required; the ones this test does not need are recorded empty.
        for core in ["users.json", "groups.json", "servicePrincipals.json"] {
            std::fs::write(root.join(core), r#"{"value": []}"#).unwrap();
        }
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
