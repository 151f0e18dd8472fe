//! Capped expanded collections, the per-package scope collection and foreign links.

use super::*;

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
        // The core collections are required; the ones this test does not need are recorded empty.
        for core in ["users.json", "groups.json", "servicePrincipals.json"] {
            std::fs::write(root.join(core), r#"{"value": []}"#).unwrap();
        }
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
