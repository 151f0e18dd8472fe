//! Assignments read one access package at a time (`$filter=accessPackage/id eq '…'`), served
//! from the per-package index: the same items, in the same order, as the filtered scan of all
//! assignments, across page boundaries, in `$batch`, after writes, and with `$select`.

use std::collections::BTreeSet;

use super::*;

const ASSIGNMENTS: &str = "identityGovernance/entitlementManagement/assignments";
const PACKAGE_COUNT: usize = 6;
/// The last package has no assignment at all.
const EMPTY_PACKAGE: usize = PACKAGE_COUNT - 1;
const ASSIGNMENT_COUNT: usize = 97;
const STATES: [&str; 7] = [
    "delivered",
    "expired",
    "Delivered",
    "delivering",
    "DELIVERED",
    "partiallyDelivered",
    "deliveryFailed",
];

fn package_id(p: usize) -> String {
    format!("0a000000-0000-4000-8000-{p:012}")
}

/// A tenant directory of [`ASSIGNMENT_COUNT`] assignments spread unevenly over the packages
/// (runs of a package, then interleaving), with mixed-case states and package ids and a few
/// assignments of no package. Removed on drop.
struct PackagesTenant {
    root: PathBuf,
}

impl PackagesTenant {
    fn new(name: &str) -> PackagesTenant {
        let root =
            std::env::temp_dir().join(format!("fake-graph-packages-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(&root).unwrap();
        std::fs::copy(contoso().join("tenant.json"), root.join("tenant.json")).unwrap();
        // The core collections are required; the ones this test does not need are recorded empty.
        for core in ["users.json", "groups.json", "servicePrincipals.json"] {
            std::fs::write(root.join(core), r#"{"value": []}"#).unwrap();
        }
        let packages: Vec<Value> = (0..PACKAGE_COUNT)
            .map(|p| json!({"id": package_id(p), "displayName": format!("Package {p}")}))
            .collect();
        let assignments: Vec<Value> = (0..ASSIGNMENT_COUNT)
            .map(|i| {
                let mut assignment = json!({
                    "id": format!("0b000000-0000-4000-8000-{i:012}"),
                    "state": STATES[(i * 5 + i / 7) % STATES.len()],
                    "target": {"objectId": format!("0c000000-0000-4000-8000-{:012}", i % 40)},
                });
                if i % 11 != 4 {
                    let p = if i < 30 {
                        i / 10
                    } else {
                        (i * 7 + i / 3) % EMPTY_PACKAGE
                    };
                    let id = package_id(p);
                    let id = if i % 3 == 0 { id.to_uppercase() } else { id };
                    assignment["accessPackage"] =
                        json!({"id": id, "displayName": format!("Package {p}")});
                }
                assignment
            })
            .collect();
        for (file, value) in [
            ("accessPackages.json", packages),
            ("assignments.json", assignments),
        ] {
            std::fs::write(root.join(file), json!({ "value": value }).to_string()).unwrap();
        }
        PackagesTenant { root }
    }
}

impl Drop for PackagesTenant {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

/// Every page of a list from `url` on, following nextLinks.
async fn pages(client: &Client, token: &str, url: &str) -> Vec<Vec<Value>> {
    let mut pages = Vec::new();
    let mut url = url.to_string();
    loop {
        let page = client.get(&url, token).await;
        assert_eq!(page.status, 200, "{url}: {}", page.text);
        let body = page.json();
        pages.push(body["value"].as_array().unwrap().clone());
        match body.get("@odata.nextLink").and_then(Value::as_str) {
            Some(next) => url = next.to_string(),
            None => return pages,
        }
    }
}

fn in_package(assignment: &Value, package: &str) -> bool {
    assignment["accessPackage"]["id"]
        .as_str()
        .is_some_and(|id| id.eq_ignore_ascii_case(package))
}

/// The ways a client may spell the per-package read of `package`: clause order, property
/// and value case, encoding, `$select`.
fn package_urls(package: &str) -> [String; 3] {
    [
        format!("{ASSIGNMENTS}?$filter=accessPackage/id eq '{package}' and state eq 'Delivered'&$expand=target,accessPackage"),
        format!(
            "{ASSIGNMENTS}?$expand=target,accessPackage&$filter=STATE%20eq%20'delivered'%20and%20accesspackage/ID%20eq%20'{}'",
            package.to_uppercase()
        ),
        format!("{ASSIGNMENTS}?$filter=state eq 'Delivered' and accessPackage/id eq '{package}'"),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_package_reads_equal_the_filtered_scan_item_for_item() {
    let tenant = PackagesTenant::new("scan");
    for page_size in [1, 2, 3, 7, 100] {
        let mut config = FakeConfig::new(&tenant.root);
        config.assignment_page_size = page_size;
        let fake = start(config).await.unwrap();
        let client = Client::new(&fake);
        let token = client.token().await;

        let scanned: Vec<Value> = pages(
            &client,
            &token,
            &format!("{ASSIGNMENTS}?$filter=state eq 'Delivered'&$expand=target,accessPackage"),
        )
        .await
        .concat();
        assert!(scanned.len() > 30, "{}", scanned.len());
        let mut union = Vec::new();
        let mut packages: Vec<String> = (0..PACKAGE_COUNT).map(package_id).collect();
        packages.push("0a000000-0000-4000-8000-0000000000ff".into());
        for package in &packages {
            let expected: Vec<Value> = scanned
                .iter()
                .filter(|a| in_package(a, package))
                .cloned()
                .collect();
            for url in package_urls(package) {
                let read = pages(&client, &token, &url).await;
                // Full pages but the last, and no empty page after a full one.
                let wanted_pages = expected.len().div_ceil(page_size).max(1);
                assert_eq!(read.len(), wanted_pages, "page size {page_size}: {url}");
                for (n, page) in read.iter().enumerate() {
                    let full = n + 1 < read.len();
                    assert!(
                        if full {
                            page.len() == page_size
                        } else {
                            page.len() <= page_size
                        },
                        "page size {page_size}, page {n}: {} items: {url}",
                        page.len()
                    );
                }
                assert_eq!(read.concat(), expected, "page size {page_size}: {url}");
            }
            union.extend(expected);
        }
        assert_eq!(packages.len(), PACKAGE_COUNT + 1);
        // Every delivered assignment with a package is in exactly one package's read.
        let with_package: Vec<&Value> = scanned
            .iter()
            .filter(|a| a["accessPackage"]["id"].is_string())
            .collect();
        assert!(with_package.len() < scanned.len(), "some have no package");
        assert_eq!(union.len(), with_package.len());
        let union_ids: BTreeSet<&str> = union.iter().map(|a| a["id"].as_str().unwrap()).collect();
        let scanned_ids: BTreeSet<&str> = with_package
            .iter()
            .map(|a| a["id"].as_str().unwrap())
            .collect();
        assert_eq!(union_ids, scanned_ids);

        // As the client sends them: 20 per `$batch`, each inner answer the first page.
        let requests: Vec<Value> = (0..20)
            .map(|i| {
                let package = &packages[i % packages.len()];
                json!({"id": i.to_string(), "method": "GET", "url": package_urls(package)[i % 3]})
            })
            .collect();
        let reply = client
            .post("$batch", &token, Some(json!({ "requests": requests })))
            .await;
        assert_eq!(reply.status, 200, "{}", reply.text);
        for response in reply.json()["responses"].as_array().unwrap() {
            let i: usize = response["id"].as_str().unwrap().parse().unwrap();
            let package = &packages[i % packages.len()];
            assert_eq!(response["status"], 200, "{response}");
            let all = scanned.iter().filter(|a| in_package(a, package));
            let first: Vec<Value> = all.clone().take(page_size).cloned().collect();
            assert_eq!(response["body"]["value"], json!(first), "request {i}");
            assert_eq!(
                response["body"]["@odata.nextLink"].is_string(),
                all.count() > page_size,
                "request {i}"
            );
        }
        fake.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_package_reads_see_writes() {
    /// Finance Analysts, and Adele's delivered assignment to it.
    const FINANCE: &str = "b35dd7ff-3853-4b39-ba9a-0f7417cf706b";
    const ADELE_FINANCE: &str = "3b280e9f-a116-499a-bebc-fb9ccae627b7";
    let mut config = config();
    config.assignment_page_size = 2;
    let fake = start(config).await.unwrap();
    let client = Client::new(&fake);
    let token = client.token().await;
    let by_state = |state: &str| {
        (
            format!("{ASSIGNMENTS}?$filter=state eq '{state}'"),
            format!("{ASSIGNMENTS}?$filter=accessPackage/id eq '{FINANCE}' and state eq '{state}'"),
        )
    };
    let check = |scan: Vec<Value>, read: Vec<Value>| {
        let expected: Vec<Value> = scan
            .into_iter()
            .filter(|a| in_package(a, FINANCE))
            .collect();
        assert_eq!(read, expected);
        ids(&read)
    };
    let (scan, read) = by_state("Delivered");
    let before = check(
        pages(&client, &token, &scan).await.concat(),
        pages(&client, &token, &read).await.concat(),
    );
    assert!(before.contains(&ADELE_FINANCE.to_string()), "{before:?}");
    assert!(before.len() > 2, "spans pages");

    let removed = client
        .post(
            "identityGovernance/entitlementManagement/assignmentRequests",
            &token,
            Some(json!({"requestType": "adminRemove", "assignment": {"id": ADELE_FINANCE}})),
        )
        .await;
    assert_eq!(removed.status, 201, "{}", removed.text);

    let after = check(
        pages(&client, &token, &scan).await.concat(),
        pages(&client, &token, &read).await.concat(),
    );
    let mut expected = before.clone();
    expected.retain(|id| id != ADELE_FINANCE);
    assert_eq!(after, expected);
    let (scan, read) = by_state("Expired");
    let expired = check(
        pages(&client, &token, &scan).await.concat(),
        pages(&client, &token, &read).await.concat(),
    );
    assert!(expired.contains(&ADELE_FINANCE.to_string()), "{expired:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn select_on_assignments_keeps_selected_and_expanded_properties() {
    let mut config = config();
    config.assignment_page_size = 4;
    let fake = start(config).await.unwrap();
    let client = Client::new(&fake);
    let token = client.token().await;
    let filter = "$filter=state eq 'Delivered'";
    let whole = pages(&client, &token, &format!("{ASSIGNMENTS}?{filter}"))
        .await
        .concat();
    let url = format!("{ASSIGNMENTS}?{filter}&$select=id,State&$expand=target,accessPackage");
    let first = client.get(&url, &token).await;
    assert_eq!(first.units(), 1, "1, $select -1, $expand +1");
    let next = first.json()["@odata.nextLink"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(next.contains("$select=id,State"), "{next}");
    let selected = pages(&client, &token, &url).await.concat();
    assert_eq!(ids(&selected), ids(&whole));
    for (item, stored) in selected.iter().zip(&whole) {
        let keys: BTreeSet<&str> = item
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(
            keys,
            BTreeSet::from(["accessPackage", "id", "state", "target"])
        );
        for key in keys {
            assert_eq!(item[key], stored[key], "{key}");
        }
    }

    // Without `$expand`, only what is selected; per package too.
    let package = whole[0]["accessPackage"]["id"].as_str().unwrap();
    let narrow = pages(
        &client,
        &token,
        &format!("{ASSIGNMENTS}?$select=id&$filter=accessPackage/id eq '{package}'"),
    )
    .await
    .concat();
    assert!(!narrow.is_empty());
    assert!(narrow
        .iter()
        .all(|a| a.as_object().unwrap().len() == 1 && a["id"].is_string()));

    // The client's per-package read: the scan's items of the package, cut to the selection.
    let client_url = format!("{ASSIGNMENTS}?$filter=accessPackage/id eq '{package}' and state eq 'Delivered'&$expand=target,accessPackage&$select=id,state,status,expiredDateTime,schedule");
    let kept = [
        "id",
        "state",
        "status",
        "expiredDateTime",
        "schedule",
        "target",
        "accessPackage",
    ];
    let expected: Vec<Value> = whole
        .iter()
        .filter(|a| in_package(a, package))
        .map(|a| {
            let mut a = a.clone();
            a.as_object_mut()
                .unwrap()
                .retain(|k, _| kept.contains(&k.as_str()));
            a
        })
        .collect();
    assert!(expected.len() > 4, "spans pages");
    assert!(expected.iter().all(|a| a.get("schedule").is_some()));
    assert_eq!(pages(&client, &token, &client_url).await.concat(), expected);

    // A single assignment too, keeping its `@odata.context`.
    let id = whole[0]["id"].as_str().unwrap();
    let single = client
        .get(&format!("{ASSIGNMENTS}/{id}?$select=state,status"), &token)
        .await
        .json();
    let keys: BTreeSet<&str> = single
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(keys, BTreeSet::from(["@odata.context", "state", "status"]));
}
