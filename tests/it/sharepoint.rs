//! SharePoint site roles from a recorded tenant directory (`sharepoint/`): held, missing, not
//! found or unverifiable with the reason — never a guess — and the same from a stored
//! snapshot; a malformed recording is an error naming the file and the site.

use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use crate::common::{copy_tree, fixture, read_csv};
use crate::support::scheduled::{audit_at, entra_drift_at, run};

const NOW: &str = "2026-11-30T12:00:00Z";
const SITE: &str = "https://contoso.sharepoint.com/sites/SalesEnablement";
const MEGAN: &str = "ca88b895-6bc8-4fa3-a7b6-f3e23d07ce4e";
const LIDIA: &str = "cef0e8ad-cf4d-4cbc-9101-54c5e7efb2d4";
const PATTI: &str = "e56877c0-86e1-4409-bba4-72f043b83ae3";

fn user(id: i64, kind: i64, upn: Option<&str>, object_id: Option<&str>) -> Value {
    json!({"Id": id, "LoginName": format!("i:0#.f|membership|{}", upn.unwrap_or("x")),
           "Title": format!("user {id}"), "PrincipalType": kind, "UserPrincipalName": upn,
           "AadObjectId": object_id.map(|id| json!({"NameId": id, "NameIdIssuer": "urn:federation:microsoftonline"}))})
}

/// contoso-core (whose Sales Enablement package delivers site role 4 to Megan and Lidia) with
/// `sites` as `sharepoint/sites.json` and `users` as group 4's users (when given).
fn tenant(root: &Path, sites: Option<Value>, users: Option<Value>) -> PathBuf {
    let dir = root.join("tenant");
    copy_tree(&fixture("contoso-core"), &dir);
    if let Some(sites) = sites {
        std::fs::create_dir_all(dir.join("sharepoint")).unwrap();
        std::fs::write(dir.join("sharepoint/sites.json"), sites.to_string()).unwrap();
    }
    if let Some(users) = users {
        let group = dir.join("sharepoint/sales/groups/4");
        std::fs::create_dir_all(&group).unwrap();
        std::fs::write(group.join("users.json"), users.to_string()).unwrap();
    }
    dir
}

fn sites(visible: bool) -> Value {
    json!({"value": [{"url": format!("{SITE}/"), "key": "sales", "groups": [
        {"Id": 4, "Title": "Sales Enablement Visitors", "OnlyAllowMembersViewMembership": !visible,
         "CanCurrentUserViewMembership": visible}]}]})
}

/// `(category, user id, reason)` of the site-role findings of an audit of `tenant`.
fn site_rows(tenant: &Path, out: &Path) -> Vec<(String, String, String)> {
    let output = audit_at(tenant, out, NOW, &[]);
    assert_eq!(output.code, Some(0), "{}", output.stderr);
    rows_of(Path::new(output.stdout.trim()))
}

fn rows_of(run: &Path) -> Vec<(String, String, String)> {
    let mut rows: Vec<_> = read_csv(&run.join("findings.csv"))
        .rows
        .into_iter()
        .filter(|r| r["resource_type"] == "sharepoint_site")
        .map(|r| {
            assert_eq!(
                r["resource_id"], SITE,
                "the site, without its trailing slash"
            );
            (
                r["category"].clone(),
                r["user_id"].clone(),
                r["reason"].clone(),
            )
        })
        .collect();
    rows.sort();
    rows
}

fn row(category: &str, user: &str, reason: &str) -> (String, String, String) {
    (category.into(), user.into(), reason.into())
}

#[test]
fn site_roles_are_held_missing_or_not_found_and_otherwise_unverifiable_with_the_reason() {
    let work = tempfile::tempdir().unwrap();
    let case = |name: &str, sites: Option<Value>, users: Option<Value>| {
        let root = work.path().join(name);
        let dir = tenant(&root, sites, users);
        site_rows(&dir, &root.join("out"))
    };
    let unverifiable = |reason: &str| {
        vec![
            row("unverifiable", MEGAN, reason),
            row("unverifiable", LIDIA, reason),
        ]
    };

    assert_eq!(
        case("unrecorded", None, None),
        unverifiable("unreadable: SharePoint was not recorded in the tenant directory (sharepoint/sites.json)")
    );
    let no_site = json!({"value": []});
    let not_found = case("no-site", Some(no_site), None);
    assert!(
        not_found.iter().all(|r| r.0 == "resource_not_found"),
        "{not_found:?}"
    );
    let hidden = case("hidden", Some(sites(false)), Some(json!({"value": []})));
    assert!(
        hidden
            .iter()
            .all(|r| r.0 == "unverifiable" && r.2.contains("visible only to its members")),
        "hidden membership is never emptiness: {hidden:?}"
    );
    let unread = case("unread", Some(sites(true)), None);
    assert!(
        unread
            .iter()
            .all(|r| r.0 == "unverifiable" && r.2.contains("groups/4/users.json not recorded")),
        "{unread:?}"
    );
    let stranger = json!({"value": [user(3, 1, None, None), user(4, 1, Some("megan.bowen@contoso.example"), Some(MEGAN))]});
    let unmatched = case("unmatched", Some(sites(true)), Some(stranger));
    assert!(
        unmatched
            .iter()
            .all(|r| r.0 == "unverifiable" && r.2.contains("cannot be matched")),
        "an entry that could be the target makes no missing access: {unmatched:?}"
    );

    // Read completely: Megan by her object id, Patti by her UPN (no object id), a group claim
    // and "Everyone except external users" not direct; Lidia is missing.
    let users = json!({"value": [
        user(11, 1, Some("megan.bowen@contoso.example"), Some(&MEGAN.to_uppercase())),
        user(17, 1, Some("Patti.Fernandez@contoso.example"), None),
        {"Id": 9, "LoginName": "c:0-.f|rolemanager|spo-grid-all-users/a27b43c7-0a4f-4c67-a4d9-b08c482f4357",
         "Title": "Everyone except external users", "PrincipalType": 4},
        {"Id": 7, "LoginName": "c:0o.c|federateddirectoryclaimprovider|1b01d039-c9d2-4b04-9e79-991f6b93bfe4",
         "Title": "Engineering", "PrincipalType": 4, "UserPrincipalName": null}
    ]});
    assert_eq!(
        case("complete", Some(sites(true)), Some(users)),
        vec![
            row("access_without_assignment", PATTI, "no_assignment"),
            row(
                "missing_access",
                LIDIA,
                "not_held (1 site user without an Entra object id matched by UPN)"
            ),
        ]
    );
}

#[test]
fn a_group_that_hides_its_members_is_never_read_as_complete_when_the_recording_says_nothing_more() {
    // A recording that keeps the group's `OnlyAllowMembersViewMembership` but not whether the
    // recorder could see the members: the users it lists may be only what was visible.
    let work = tempfile::tempdir().unwrap();
    let sites = json!({"value": [{"url": SITE, "key": "sales", "groups": [
        {"Id": 4, "Title": "Sales Enablement Visitors", "OnlyAllowMembersViewMembership": true}]}]});
    let users = json!({"value": [user(11, 1, Some("megan.bowen@contoso.example"), Some(MEGAN))]});
    let dir = tenant(work.path(), Some(sites), Some(users));
    let rows = site_rows(&dir, &work.path().join("out"));
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert!(
        rows.iter()
            .all(|r| r.0 == "unverifiable" && r.2.contains("visible only to its members")),
        "no missing access for Lidia from a list that may hide her: {rows:?}"
    );
}

#[test]
fn two_users_with_one_upn_are_an_error_naming_both_never_a_match_to_either() {
    // Patti has no object id in the site group: matched by UPN, which a second user shares.
    let work = tempfile::tempdir().unwrap();
    let users = json!({"value": [user(17, 1, Some("patti.fernandez@contoso.example"), None)]});
    let dir = tenant(work.path(), Some(sites(true)), Some(users));
    let path = dir.join("users.json");
    let mut all: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let twin = "0d2a7c5e-1f3b-4c8d-9e6f-7a8b9c0d1e2f";
    all["value"].as_array_mut().unwrap().push(json!({
        "id": twin, "displayName": "Patti's twin", "userPrincipalName": "PATTI.Fernandez@contoso.example",
        "accountEnabled": true}));
    std::fs::write(&path, all.to_string()).unwrap();
    let output = audit_at(&dir, &work.path().join("out"), NOW, &[]);
    assert_eq!(output.code, Some(1), "{}", output.stderr);
    for named in ["users.json", twin, PATTI, "PATTI.Fernandez@contoso.example"] {
        assert!(
            output.stderr.contains(named),
            "names {named}: {}",
            output.stderr
        );
    }
    assert!(output.stdout.is_empty() && !output.stderr.contains("panicked"));
}

#[test]
fn a_site_two_packages_spell_differently_is_one_resource() {
    // Finance Analysts names the Sales Enablement site in lower case: one site, one group, so
    // Megan and Lidia (delivered it through Sales Enablement) hold it with an assignment that
    // explains it, and each finding names the site once.
    let work = tempfile::tempdir().unwrap();
    let users = json!({"value": [
        user(11, 1, Some("megan.bowen@contoso.example"), Some(MEGAN)),
        user(12, 1, Some("lidia.holloway@contoso.example"), Some(LIDIA)),
    ]});
    let dir = tenant(work.path(), Some(sites(true)), Some(users));
    let path = dir.join("accessPackages.json");
    let mut packages: Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let finance = packages["value"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|p| p["displayName"] == "Finance Analysts")
        .unwrap();
    finance["resourceRoleScopes"]
        .as_array_mut()
        .unwrap()
        .push(json!({
        "id": "finance-site",
        "role": {"id": "r-site-4", "displayName": "Sales Enablement Visitors",
                 "originSystem": "SharePointOnline", "originId": "4"},
        "scope": {"id": "s-site", "displayName": "Root", "isRootScope": true,
                  "originSystem": "SharePointOnline",
                  "originId": "https://contoso.sharepoint.com/sites/salesenablement"}}));
    std::fs::write(&path, packages.to_string()).unwrap();

    let output = audit_at(&dir, &work.path().join("out"), NOW, &[]);
    assert_eq!(output.code, Some(0), "{}", output.stderr);
    let findings = read_csv(&Path::new(output.stdout.trim()).join("findings.csv")).rows;
    let site: Vec<_> = findings
        .iter()
        .filter(|r| r["resource_type"] == "sharepoint_site")
        .collect();
    assert!(!site.is_empty());
    let ids: std::collections::BTreeSet<&str> =
        site.iter().map(|r| r["resource_id"].as_str()).collect();
    assert_eq!(ids, [SITE].into(), "one spelling of the site");
    let unexplained: Vec<_> = site
        .iter()
        .filter(|r| r["category"] == "access_without_assignment")
        .map(|r| r["user_id"].as_str())
        .collect();
    assert!(
        unexplained.is_empty(),
        "Sales Enablement explains the site role of {unexplained:?}"
    );
    let mut keys: Vec<_> = site
        .iter()
        .map(|r| {
            (
                r["category"].as_str(),
                r["assignment_id"].as_str(),
                r["user_id"].as_str(),
            )
        })
        .collect();
    let all = keys.len();
    keys.sort();
    keys.dedup();
    assert_eq!(keys.len(), all, "no finding twice");
}

#[test]
fn a_stored_snapshot_carries_the_site_roles() {
    let work = tempfile::tempdir().unwrap();
    let offline = site_rows(&fixture("contoso"), &work.path().join("offline"));
    assert!(
        offline.iter().any(|r| r.0 == "missing_access"),
        "the sample's site drift: {offline:?}"
    );
    let stored = run(entra_drift_at(NOW)
        .args(["-q", "snapshot", "--tenant-dir"])
        .arg(fixture("contoso"))
        .arg("--out")
        .arg(work.path().join("snap")));
    assert_eq!(stored.code, Some(0), "{}", stored.stderr);
    let output = run(entra_drift_at(NOW)
        .args(["-q", "audit", "--snapshot", stored.stdout.trim(), "--out"])
        .arg(work.path().join("again")));
    assert_eq!(output.code, Some(0), "{}", output.stderr);
    assert_eq!(rows_of(Path::new(output.stdout.trim())), offline);
}

#[test]
fn a_malformed_sharepoint_recording_is_an_error_naming_the_file_and_the_site() {
    let work = tempfile::tempdir().unwrap();
    let cases: [(&str, Value, &str); 5] = [
        (
            "path",
            json!({"value": [{"url": SITE, "key": "../../etc", "groups": []}]}),
            "not a plain folder name",
        ),
        (
            "twice",
            json!({"value": [{"url": SITE, "key": "a", "groups": []},
                              {"url": SITE.to_lowercase(), "key": "b", "groups": []}]}),
            "duplicate site url",
        ),
        (
            "spaced",
            json!({"value": [{"url": format!("{SITE} "), "key": "a", "groups": []},
                              {"url": format!("{SITE}/"), "key": "b", "groups": []}]}),
            "duplicate site url",
        ),
        (
            "http",
            json!({"value": [{"url": "http://contoso.sharepoint.com/sites/x", "key": "a"}]}),
            "not an https:// URL",
        ),
        (
            "groups",
            json!({"value": [{"url": SITE, "key": "a", "groups": [{"Id": 4}, {"Id": 4}]}]}),
            "duplicate group id 4",
        ),
    ];
    for (name, sites, expected) in cases {
        let root = work.path().join(name);
        let dir = tenant(&root, Some(sites), None);
        let output = run(entra_drift_at(NOW)
            .args(["audit", "--tenant-dir"])
            .arg(&dir)
            .arg("--out")
            .arg(root.join("out")));
        assert_eq!(output.code, Some(1), "{name}: {}", output.stderr);
        assert!(
            output.stderr.contains("sites.json") && output.stderr.contains(expected),
            "{name}: {}",
            output.stderr
        );
        assert!(!root.join("out").exists(), "{name}: nothing is written");
    }
    // A users file that is not SharePoint's shape names its own path and line.
    let root = work.path().join("users");
    let dir = tenant(&root, Some(sites(true)), Some(json!({"value": {"Id": 1}})));
    let output = run(entra_drift_at(NOW)
        .args(["audit", "--tenant-dir"])
        .arg(&dir)
        .arg("--out")
        .arg(root.join("out")));
    assert_eq!(output.code, Some(1));
    assert!(
        output.stderr.contains("groups/4/users.json") && output.stderr.contains("line 1"),
        "{}",
        output.stderr
    );
}

// ---- Live: SharePoint REST through fake-graph's own SharePoint origin ----

use crate::support::fake_graph::{app_certificate as certificate, run_dir, Fake, SECRET};

/// A live audit of the fake's tenant, signed in with `pfx` (or the secret when `None`), with
/// SharePoint REST sent to the fake's SharePoint origin.
fn live_audit(fake: &Fake, pfx: Option<&Path>, out: &Path) -> std::process::Output {
    let server = fake.server();
    let mut command = fake.command(
        &[
            "audit",
            "--sharepoint-url",
            &server.sharepoint_url,
            "--out",
            out.to_str().unwrap(),
        ],
        SECRET,
    );
    command.env("ENTRA_DRIFT_NOW", NOW);
    if let Some(pfx) = pfx {
        command
            .env_remove("AZURE_CLIENT_SECRET")
            .env("AZURE_CLIENT_CERTIFICATE_PATH", pfx);
    }
    command.output().unwrap()
}

#[test]
fn live_site_roles_equal_the_offline_ones_and_the_token_stays_on_its_origin() {
    let work = tempfile::tempdir().unwrap();
    let pfx = certificate(work.path());
    let offline = site_rows(&fixture("contoso"), &work.path().join("offline"));
    // Paged one user at a time, and throttled twice: the same findings.
    let fake = Fake::start(
        crate::common::fixture("contoso").to_str().unwrap(),
        |config| {
            config.max_page_size = Some(1);
            config.faults = Some(
                serde_json::from_value(
                    json!({"sharepoint_throttle": {"count": 2, "retry_after": 1}}),
                )
                .unwrap(),
            );
        },
    );
    let output = live_audit(&fake, Some(&pfx), &work.path().join("live"));
    let live_run = run_dir(&output);
    assert_eq!(rows_of(&live_run), offline, "live equals offline");
    let stats = fake.server().stats();
    assert_eq!(stats.sharepoint_throttled, 2, "{stats:?}");
    let requests = fake.server().sharepoint_requests();
    assert!(
        requests.iter().all(|(_, _, authorized)| *authorized),
        "every SharePoint request carried a token for the site's SharePoint audience: {requests:?}"
    );
    assert!(
        requests
            .iter()
            .any(|(_, path, _)| path.contains("skiptoken=")),
        "the users were paged: {requests:?}"
    );
    assert!(
        requests
            .iter()
            .any(|(_, path, _)| path.contains("AadObjectId")),
        "AadObjectId is selected: {requests:?}"
    );
    assert!(
        fake.server()
            .requests()
            .iter()
            .all(|(_, path)| !path.contains("_api")),
        "SharePoint calls never go to Graph's origin"
    );
    // The snapshot the live audit stored re-audits to the same site roles.
    let again = run(entra_drift_at(NOW)
        .args(["-q", "audit", "--snapshot"])
        .arg(live_run.join("snapshot"))
        .arg("--out")
        .arg(work.path().join("again")));
    assert_eq!(again.code, Some(0), "{}", again.stderr);
    assert_eq!(rows_of(Path::new(again.stdout.trim())), offline);
}

#[test]
fn a_client_secret_never_calls_sharepoint_and_says_to_use_a_certificate() {
    let work = tempfile::tempdir().unwrap();
    let fake = Fake::start(crate::common::fixture("contoso").to_str().unwrap(), |_| {});
    let output = live_audit(&fake, None, &work.path().join("live"));
    let stderr = String::from_utf8_lossy(&output.stderr).to_string();
    let rows = rows_of(&run_dir(&output));
    assert!(!rows.is_empty());
    for (category, _, reason) in &rows {
        assert_eq!(category, "unverifiable");
        assert!(reason.contains("certificate"), "{reason}");
    }
    assert!(
        stderr.contains("SharePoint refuses app-only tokens"),
        "{stderr}"
    );
    assert!(
        fake.server().sharepoint_requests().is_empty(),
        "no SharePoint call with a secret"
    );
    assert!(!stderr.contains(SECRET), "the secret is never printed");
}

#[test]
fn refused_and_hidden_site_groups_are_unverifiable_with_what_to_grant() {
    let work = tempfile::tempdir().unwrap();
    let pfx = certificate(work.path());
    let tenant = work.path().join("tenant");
    copy_tree(&fixture("contoso"), &tenant);
    let fake = Fake::start(tenant.to_str().unwrap(), |config| {
        config.faults =
            Some(serde_json::from_value(json!({"sharepoint_forbidden": [SITE]})).unwrap());
    });
    let rows = rows_of(&run_dir(&live_audit(
        &fake,
        Some(&pfx),
        &work.path().join("a"),
    )));
    assert!(
        rows.iter()
            .all(|r| r.0 == "unverifiable" && r.2.contains("Sites.Read.All")),
        "{rows:?}"
    );

    let sites = tenant.join("sharepoint/sites.json");
    let text = std::fs::read_to_string(&sites).unwrap().replace(
        "\"CanCurrentUserViewMembership\": true",
        "\"CanCurrentUserViewMembership\": false",
    );
    std::fs::write(&sites, text).unwrap();
    let fake = Fake::start(tenant.to_str().unwrap(), |_| {});
    let rows = rows_of(&run_dir(&live_audit(
        &fake,
        Some(&pfx),
        &work.path().join("b"),
    )));
    assert!(
        rows.iter()
            .all(|r| r.0 == "unverifiable" && r.2.contains("visible only to its members")),
        "{rows:?}"
    );

    // Recorded without whether the recorder could see the members, of a group that shows them
    // only to its members: hidden live as offline.
    let text = std::fs::read_to_string(&sites)
        .unwrap()
        .replace(
            "\"OnlyAllowMembersViewMembership\": false,\n          \"CanCurrentUserViewMembership\": false",
            "\"OnlyAllowMembersViewMembership\": true",
        );
    assert!(
        !text.contains("CanCurrentUserViewMembership\": false"),
        "{text}"
    );
    std::fs::write(&sites, text).unwrap();
    let fake = Fake::start(tenant.to_str().unwrap(), |_| {});
    let live = rows_of(&run_dir(&live_audit(
        &fake,
        Some(&pfx),
        &work.path().join("c"),
    )));
    let offline = site_rows(&tenant, &work.path().join("d"));
    assert!(
        live.iter()
            .all(|r| r.0 == "unverifiable" && r.2.contains("visible only to its members")),
        "{live:?}"
    );
    assert_eq!(live, offline);
}

#[test]
fn the_sharepoint_origin_override_is_loopback_or_sharepoint_only() {
    let work = tempfile::tempdir().unwrap();
    let fake = Fake::start(crate::common::fixture("contoso").to_str().unwrap(), |_| {});
    let output = fake
        .command(
            &[
                "-q",
                "audit",
                "--sharepoint-url",
                "https://collector.example",
                "--out",
                work.path().to_str().unwrap(),
            ],
            SECRET,
        )
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("neither loopback nor a SharePoint Online domain"),
        "{stderr}"
    );
    assert!(
        fake.server().requests().is_empty(),
        "refused before anything is read"
    );
}

/// The loop for a site role: the live audit plans Lidia's reprocess, apply re-reads the site
/// group through SharePoint (its UPN-only entry looked up in the directory) before writing,
/// the fake's reprocess puts her back in the group, and verify re-reads it: restored.
#[test]
fn a_missing_site_role_goes_round_apply_and_verify() {
    const LIDIA_ASSIGNMENT: &str = "c4c8bf06-6718-4636-9a84-9f4b8c097e2b";
    let work = tempfile::tempdir().unwrap();
    let pfx = certificate(work.path());
    let fake = Fake::start(crate::common::fixture("contoso").to_str().unwrap(), |_| {});
    let audit = live_audit(&fake, Some(&pfx), &work.path().join("out"));
    let plan = run_dir(&audit).join("plan.json");
    let with_certificate = |args: &[&str]| {
        let server = fake.server();
        let mut command = fake.command(args, SECRET);
        command
            .args(["--sharepoint-url", &server.sharepoint_url])
            .env("ENTRA_DRIFT_NOW", NOW)
            .env_remove("AZURE_CLIENT_SECRET")
            .env("AZURE_CLIENT_CERTIFICATE_PATH", &pfx);
        let output = command.output().unwrap();
        (
            output.status.code(),
            String::from_utf8_lossy(&output.stdout).to_string(),
            String::from_utf8_lossy(&output.stderr).to_string(),
        )
    };
    let approve = run(crate::common::entra_drift()
        .args(["plan", "approve"])
        .arg(&plan)
        .args([
            "--approver",
            "ada@contoso.example",
            "--only",
            LIDIA_ASSIGNMENT,
        ]));
    assert_eq!(approve.code, Some(0), "{}", approve.stderr);

    let plan_arg = plan.to_str().unwrap();
    let (code, _, stderr) = with_certificate(&["apply", plan_arg]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stderr.contains("1 reprocessed"), "{stderr}");
    assert_eq!(
        fake.server().stats().reprocess.get(LIDIA_ASSIGNMENT),
        Some(&1),
        "one reprocess"
    );
    let (code, _, stderr) = with_certificate(&["verify", plan_arg]);
    assert_eq!(code, Some(0), "{stderr}");
    let results = read_csv(&run_dir(&audit).join("verify-results.csv"));
    let lidia = results
        .rows
        .iter()
        .find(|r| r["assignment_id"] == LIDIA_ASSIGNMENT)
        .expect("Lidia's item is verified");
    assert_eq!(lidia["status"], "restored", "{lidia:?}");
}

/// `check sharepoint` says, before an audit relies on it, what the credential can read of a
/// site: with a certificate every group and how its users match; with a secret, why not.
#[test]
fn check_sharepoint_reports_what_the_credential_can_read() {
    let work = tempfile::tempdir().unwrap();
    let pfx = certificate(work.path());
    let fake = Fake::start(crate::common::fixture("contoso").to_str().unwrap(), |_| {});
    let output = fake
        .command_with_certificate(&["check", "sharepoint", SITE], &pfx)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    insta::assert_snapshot!(
        "check_sharepoint",
        stdout.replace(&fake.server().url, "[GRAPH]")
    );

    let secret = fake
        .command(
            &[
                "check",
                "sharepoint",
                SITE,
                "--sharepoint-url",
                &fake.server().sharepoint_url,
            ],
            SECRET,
        )
        .output()
        .unwrap();
    assert_eq!(secret.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&secret.stdout);
    assert!(
        stdout.contains("credential: client secret: SharePoint refuses app-only tokens"),
        "{stdout}"
    );
    assert!(
        fake.server().sharepoint_requests().len() >= 3,
        "the certificate's probe called"
    );
}

/// `remove_access` for a site user nobody's assignment explains: approved, applied only with
/// --allow-remove, found in the group by UPN (SharePoint gives Patti no object id), removed
/// through `removeById`, and verified gone.
#[test]
fn a_site_user_without_an_assignment_is_removed_only_when_allowed() {
    let work = tempfile::tempdir().unwrap();
    let pfx = certificate(work.path());
    let fake = Fake::start(crate::common::fixture("contoso").to_str().unwrap(), |_| {});
    let audit = live_audit(&fake, Some(&pfx), &work.path().join("out"));
    let plan = run_dir(&audit).join("plan.json");
    let parsed: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&plan).unwrap()).unwrap();
    let item = parsed["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["unexplained"]["resource_type"] == "sharepoint_site")
        .expect("Patti's site access is a plan item");
    assert_eq!(item["user_id"], PATTI);
    assert!(
        item["actions"]
            .as_array()
            .unwrap()
            .contains(&json!("remove_access")),
        "{item}"
    );
    let id = item["item_id"].as_str().unwrap().to_string();
    let approve = run(crate::common::entra_drift()
        .args(["plan", "approve"])
        .arg(&plan)
        .args(["--approver", "ada@contoso.example", "--only", &id])
        .args(["--action", "remove_access"]));
    assert_eq!(approve.code, Some(0), "{}", approve.stderr);

    let with_certificate = |extra: &[&str]| {
        let mut args = vec![];
        args.extend_from_slice(extra);
        let output = fake.command_with_certificate(&args, &pfx).output().unwrap();
        (
            output.status.code(),
            String::from_utf8_lossy(&output.stderr).to_string(),
        )
    };
    let plan_arg = plan.to_str().unwrap();
    let (code, stderr) = with_certificate(&["apply", plan_arg, "--dry-run"]);
    assert_eq!(code, Some(0), "{stderr}");
    let dry = std::fs::read_to_string(run_dir(&audit).join("apply-dry-run.csv")).unwrap();
    assert!(dry.contains("--allow-remove"), "{dry}");
    assert_eq!(
        fake.server().stats().site_user_removals,
        0,
        "not without --allow-remove"
    );
    let (code, stderr) = with_certificate(&["apply", plan_arg, "--allow-remove"]);
    assert_eq!(code, Some(0), "{stderr}");
    let results = std::fs::read_to_string(run_dir(&audit).join("apply-results.csv")).unwrap();
    assert_eq!(
        fake.server().stats().site_user_removals,
        1,
        "{stderr}\n{results}"
    );
    assert!(
        fake.server()
            .sharepoint_requests()
            .iter()
            .any(|(method, path, _)| method == "POST" && path.contains("removeById(17)")),
        "Patti's site user id is 17"
    );
    let (code, stderr) = with_certificate(&["verify", plan_arg]);
    assert_eq!(code, Some(0), "{stderr}");
    let results = read_csv(&run_dir(&audit).join("verify-results.csv"));
    let row = results
        .rows
        .iter()
        .find(|r| r["user_id"] == PATTI)
        .expect("the removal is verified");
    assert_eq!(row["status"], "removed", "{row:?}");
}
