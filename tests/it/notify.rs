//! Notifications after an audit (issue 14): mail through the fake Graph's `sendMail` (its
//! outbox is read back: recipients, subject, HTML body, the attached workbook's bytes), a
//! Teams Workflows card and an HMAC-signed webhook received by local HTTPS receivers; the
//! `on` rules; a failed notification recorded in `index.csv`, exit 3 only with
//! `notify_required`; webhook URLs and secrets nowhere in output or files.

use std::path::{Path, PathBuf};
use std::process::Output;

use fake_graph::receiver::Receiver;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::common::*;
use crate::support::fake_graph::Fake;
use crate::support::scheduled::{CONTOSO_ID, WEEKS};

/// What the webhook URLs carry after the path: a stand-in for the signature a real one has.
const URL_SECRET: &str = "sig=Very-Secret-Signature";
const HMAC_SECRET: &str = "hmac-Secret-Value-42";
const SENDER: &str = "adele.vance@contoso.example";

struct Setup {
    fake: Fake,
    teams: Receiver,
    hook: Receiver,
    trust: PathBuf,
    out: tempfile::TempDir,
}

fn setup() -> Setup {
    let fake = Fake::start("trend/run1", |_| {});
    let teams = fake.runtime.block_on(Receiver::start(202)).unwrap();
    let hook = fake.runtime.block_on(Receiver::start(200)).unwrap();
    let out = tempfile::tempdir().unwrap();
    let trust = out.path().join("trust.pem");
    std::fs::write(
        &trust,
        format!(
            "{}\n{}\n{}",
            fake.server().ca_pem,
            teams.ca_pem,
            hook.ca_pem
        ),
    )
    .unwrap();
    Setup {
        fake,
        teams,
        hook,
        trust,
        out,
    }
}

impl Setup {
    fn reports(&self) -> PathBuf {
        self.out.path().join("reports")
    }

    fn audit(&self, tenant: &str, now: &str, extra: &[&str]) -> Output {
        let server = self.fake.server();
        let mut command = self.fake.signed_in(&self.trust);
        command
            .args(["audit", "--tenant-dir"])
            .arg(fixture(tenant))
            .arg("--out")
            .arg(self.reports())
            .args(["--graph-url", &server.url])
            .args(extra)
            .env("ENTRA_DRIFT_NOW", now)
            .env(
                "ENTRA_DRIFT_TEAMS_WEBHOOK_URL",
                format!("{}/workflows/teams?{URL_SECRET}", self.teams.url),
            )
            .env(
                "ITSM_HOOK",
                format!("{}/itsm/hook?{URL_SECRET}", self.hook.url),
            )
            .env("ITSM_HMAC", HMAC_SECRET);
        command.output().unwrap()
    }

    fn index(&self) -> Table {
        read_csv(&self.reports().join(CONTOSO_ID).join("index.csv"))
    }
}

const MAIL: &str = "kind=mail,on=always,from=adele.vance@contoso.example,to=iam@contoso.example;audit@contoso.example";
const TEAMS: &str = "kind=teams,on=drift";
const HOOK: &str = "kind=webhook,on=new,url_env=ITSM_HOOK,secret_env=ITSM_HMAC";

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn run_dir(output: &Output) -> PathBuf {
    assert!(
        output.status.success(),
        "exit {:?}\n{}",
        output.status.code(),
        stderr(output)
    );
    PathBuf::from(String::from_utf8(output.stdout.clone()).unwrap().trim())
}

/// No file under `dir` and no output line holds the webhook URLs' secret or the HMAC key.
fn assert_no_secret(dir: &Path, outputs: &[&Output]) {
    for output in outputs {
        let text = format!(
            "{}{}",
            stderr(output),
            String::from_utf8_lossy(&output.stdout)
        );
        assert!(
            !text.contains(URL_SECRET) && !text.contains(HMAC_SECRET),
            "{text}"
        );
        assert!(!text.contains("/workflows/teams"), "{text}");
    }
    for file in list_tree(dir) {
        let bytes = std::fs::read(dir.join(&file)).unwrap_or_default();
        let text = String::from_utf8_lossy(&bytes);
        assert!(
            !text.contains(URL_SECRET) && !text.contains(HMAC_SECRET),
            "{}",
            file.display()
        );
    }
}

#[test]
fn notifications_reach_mail_teams_and_a_signed_webhook_and_are_recorded() {
    let s = setup();
    let output = s.audit(
        "trend/run1",
        WEEKS[0],
        &["--notify", MAIL, "--notify", TEAMS, "--notify", HOOK],
    );
    let run = run_dir(&output);
    let findings = read_csv(&run.join("findings.csv")).rows.len();
    assert!(findings > 0);

    // Mail: through Graph, as the configured mailbox, to both recipients, workbook attached.
    let mail = s.fake.server().sent_mail();
    assert_eq!(mail.len(), 1, "{}", stderr(&output));
    let mail = &mail[0];
    assert_eq!(mail.sender, SENDER);
    assert_eq!(mail.to, ["iam@contoso.example", "audit@contoso.example"]);
    assert!(
        mail.subject.starts_with(&format!(
            "entra-drift: {findings} finding(s), {findings} new"
        )),
        "{}",
        mail.subject
    );
    assert_eq!(mail.content_type, "HTML");
    // The HTML body names the tenant and the run (minijinja escapes `/` in the path).
    assert!(
        mail.body.contains("Access drift in Contoso Ltd (demo)"),
        "{}",
        mail.body
    );
    assert!(
        mail.body.contains("<code>") && mail.body.contains("20261101T060000Z</code>"),
        "{}",
        mail.body
    );
    assert_eq!(mail.attachments.len(), 1);
    assert_eq!(mail.attachments[0].name, "drift.xlsx");
    assert_eq!(
        mail.attachments[0].bytes,
        std::fs::read(run.join("drift.xlsx")).unwrap()
    );

    // Teams: one Adaptive Card with the counts.
    let posts = s.teams.posts();
    assert_eq!(posts.len(), 1);
    assert_eq!(posts[0].target, format!("/workflows/teams?{URL_SECRET}"));
    let card: serde_json::Value = serde_json::from_slice(&posts[0].body).unwrap();
    assert_eq!(card["type"], "message");
    let attachment = &card["attachments"][0];
    assert_eq!(
        attachment["contentType"],
        "application/vnd.microsoft.card.adaptive"
    );
    let facts = attachment["content"]["body"][2]["facts"]
        .as_array()
        .unwrap();
    assert_eq!(facts[0]["title"], "Findings");
    assert_eq!(facts[0]["value"], findings.to_string());

    // Webhook: the summary JSON, signed with HMAC-SHA256 of the exact body.
    let posts = s.hook.posts();
    assert_eq!(posts.len(), 1);
    let mut mac = Hmac::<Sha256>::new_from_slice(HMAC_SECRET.as_bytes()).unwrap();
    mac.update(&posts[0].body);
    let expected = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
    assert_eq!(
        posts[0].header("x-entra-drift-signature"),
        Some(expected.as_str())
    );
    let summary: serde_json::Value = serde_json::from_slice(&posts[0].body).unwrap();
    assert_eq!(summary["format"], "entra-drift/run-summary");
    assert_eq!(summary["total"], findings);
    assert_eq!(summary["tenant_id"], CONTOSO_ID);

    // Recorded in the run's index row.
    let index = s.index();
    let recorded = &index.rows[0]["notifications"];
    assert_eq!(
        recorded,
        "mail: sent, drift.xlsx attached; teams: sent (202); webhook: sent (200)"
    );
    assert_no_secret(s.out.path(), &[&output]);
}

#[test]
fn notification_rules_failures_and_notify_required() {
    let s = setup();
    run_dir(&s.audit("trend/run1", WEEKS[0], &[]));
    // The same tenant a week later: nothing new, so `on = "new"` stays silent.
    let quiet = s.audit(
        "trend/run1",
        WEEKS[1],
        &["--notify", HOOK, "--notify", TEAMS],
    );
    run_dir(&quiet);
    assert!(s.hook.posts().is_empty(), "{}", stderr(&quiet));
    assert_eq!(s.teams.posts().len(), 1);

    // A failing endpoint: reported, recorded, the run intact; exit 0 by default ...
    s.teams.answer_with(500);
    // (At the most verbose logging, which must not show the URL either.)
    let failed = s.audit("trend/run1", WEEKS[2], &["-vvv", "--notify", TEAMS]);
    let run = run_dir(&failed);
    assert!(run.join("manifest.json").is_file());
    assert!(
        stderr(&failed).contains("Notification to teams ($ENTRA_DRIFT_TEAMS_WEBHOOK_URL) failed: the endpoint answered 500"),
        "{}",
        stderr(&failed)
    );
    let index = s.index();
    assert_eq!(index.rows.len(), 3);
    assert_eq!(
        index.rows[2]["notifications"],
        "teams: failed (the endpoint answered 500)"
    );

    // ... and 3 with notify_required (from the configuration file), the run still committed.
    let config = s.out.path().join("entra-drift.toml");
    std::fs::write(
        &config,
        "notify_required = true\n\n[[notify]]\nkind = \"teams\"\non = \"always\"\n",
    )
    .unwrap();
    let required = s.audit(
        "trend/run1",
        "2026-11-22T06:00:00Z",
        &["--config", config.to_str().unwrap()],
    );
    assert_eq!(required.status.code(), Some(3), "{}", stderr(&required));
    assert_eq!(s.index().rows.len(), 4);
    let missing_variable = s.audit(
        "trend/run1",
        "2026-11-29T06:00:00Z",
        &["--notify", "kind=webhook,url_env=NOT_SET_ANYWHERE"],
    );
    run_dir(&missing_variable);
    assert!(stderr(&missing_variable).contains("$NOT_SET_ANYWHERE is not set"));
    assert_no_secret(
        s.out.path(),
        &[&quiet, &failed, &required, &missing_variable],
    );
}

#[test]
fn webhook_urls_are_refused_in_flags_and_configuration() {
    let s = setup();
    let flag = s.audit(
        "trend/run1",
        WEEKS[0],
        &["--notify", "kind=teams,url=https://example.invalid/x?sig=1"],
    );
    assert_eq!(flag.status.code(), Some(1));
    assert!(
        stderr(&flag).contains("webhook URLs are secrets"),
        "{}",
        stderr(&flag)
    );
    assert!(!stderr(&flag).contains("sig=1"), "{}", stderr(&flag));
    let config = s.out.path().join("bad.toml");
    std::fs::write(
        &config,
        "[[notify]]\nkind = \"teams\"\nurl = \"https://example.invalid/x\"\n",
    )
    .unwrap();
    let file = s.audit(
        "trend/run1",
        WEEKS[0],
        &["--config", config.to_str().unwrap()],
    );
    assert_eq!(file.status.code(), Some(1));
    assert!(
        stderr(&file).contains("line 3") && stderr(&file).contains("a webhook URL is a secret"),
        "{}",
        stderr(&file)
    );
}
