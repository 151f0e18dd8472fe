//! Telling people after an audit: mail through Graph `sendMail`, a Teams Workflows webhook
//! (an Adaptive Card), or a generic HTTPS webhook (the run's summary JSON, optionally signed
//! with HMAC-SHA256). Which runs each target hears about is its `on` rule.
//!
//! Webhook URLs carry their own credential (a signature in the query), so they are read from
//! the environment only, and a message names the variable, never the URL: request errors are
//! stripped of their URL before they are formatted.

pub mod message;

use std::time::Duration;

use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;

use crate::graph::GraphClient;

pub use message::RunSummary;

/// Graph takes attachments up to this size in the `sendMail` request itself (reference
/// §12: 3 MB; larger ones need an upload session, so the mail links to the run instead).
pub const INLINE_ATTACHMENT_LIMIT: usize = 3 * 1024 * 1024;
/// The header of a webhook's HMAC-SHA256 signature: `sha256=<hex of the body's MAC>`.
pub const SIGNATURE_HEADER: &str = "X-Entra-Drift-Signature";
pub const DEFAULT_TEAMS_VARIABLE: &str = "ENTRA_DRIFT_TEAMS_WEBHOOK_URL";
pub const DEFAULT_WEBHOOK_VARIABLE: &str = "ENTRA_DRIFT_WEBHOOK_URL";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Mail,
    Teams,
    Webhook,
}

impl Kind {
    pub const CHOICES: [(&'static str, Kind, &'static str); 3] = [
        ("mail", Kind::Mail, "mail through Graph sendMail"),
        (
            "teams",
            Kind::Teams,
            "a Teams Workflows webhook (Adaptive Card)",
        ),
        (
            "webhook",
            Kind::Webhook,
            "an HTTPS POST of the summary JSON",
        ),
    ];

    pub fn name(self) -> &'static str {
        match self {
            Kind::Mail => "mail",
            Kind::Teams => "teams",
            Kind::Webhook => "webhook",
        }
    }
}

/// Which runs a target hears about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum When {
    Always,
    /// Findings that no exception covers.
    Drift,
    /// Findings that were not in the previous run.
    New,
}

impl When {
    pub const CHOICES: [(&'static str, When, &'static str); 3] = [
        ("always", When::Always, "after every run"),
        (
            "drift",
            When::Drift,
            "when findings no exception covers exist",
        ),
        (
            "new",
            When::New,
            "when findings are new since the previous run",
        ),
    ];
}

/// One `[[notify]]` table (or `--notify`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub kind: Kind,
    pub on: When,
    /// `mail`: the mailbox it is sent as.
    pub from: Option<String>,
    /// `mail`: recipients.
    pub to: Vec<String>,
    /// `teams`, `webhook`: the variable holding the URL.
    pub url_env: Option<String>,
    /// `webhook`: the variable holding the HMAC secret (no signature without it).
    pub secret_env: Option<String>,
}

impl Target {
    /// Checks what each kind needs; the message says which key is wrong.
    pub fn check(&self) -> Result<(), String> {
        let address = |a: &str| {
            let a = a.trim();
            a.len() > 2 && a.contains('@') && !a.contains(char::is_whitespace)
        };
        match self.kind {
            Kind::Mail => {
                match &self.from {
                    Some(from) if address(from) => {}
                    _ => return Err("mail needs `from`, the mailbox it is sent as".into()),
                }
                if self.to.is_empty() {
                    return Err("mail needs `to`, at least one recipient".into());
                }
                if let Some(bad) = self.to.iter().find(|a| !address(a)) {
                    return Err(format!("{} is not a mail address", shown(bad)));
                }
                if self.url_env.is_some() || self.secret_env.is_some() {
                    return Err("mail takes `from` and `to`, not `url_env` or `secret_env`".into());
                }
            }
            Kind::Teams | Kind::Webhook => {
                if self.from.is_some() || !self.to.is_empty() {
                    return Err(format!(
                        "{} takes `url_env`, not `from` or `to`",
                        self.kind.name()
                    ));
                }
                if self.kind == Kind::Teams && self.secret_env.is_some() {
                    return Err(
                        "teams takes no `secret_env` (the URL carries its signature)".into(),
                    );
                }
                for name in [&self.url_env, &self.secret_env].into_iter().flatten() {
                    if name.is_empty()
                        || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                    {
                        return Err(format!(
                            "{} is not an environment variable name",
                            shown(name)
                        ));
                    }
                }
            }
        }
        Ok(())
    }

    /// The variable that holds the URL (`teams`, `webhook`).
    pub fn url_variable(&self) -> &str {
        match (&self.url_env, self.kind) {
            (Some(name), _) => name,
            (None, Kind::Teams) => DEFAULT_TEAMS_VARIABLE,
            (None, _) => DEFAULT_WEBHOOK_VARIABLE,
        }
    }

    /// How the target is named in messages: never the URL.
    pub fn label(&self) -> String {
        match self.kind {
            Kind::Mail => format!("mail to {}", self.to.join(", ")),
            kind => format!("{} (${})", kind.name(), self.url_variable()),
        }
    }

    /// Parses `--notify kind=teams,on=drift,url_env=NAME` (mail: `from=...,to=a@x;b@y`).
    pub fn parse_flag(text: &str) -> Result<Target, String> {
        let mut kind = None;
        let mut target = Target {
            kind: Kind::Teams,
            on: When::Always,
            from: None,
            to: Vec::new(),
            url_env: None,
            secret_env: None,
        };
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (key, value) = part
                .split_once('=')
                .ok_or("each part is key=value (kind, on, from, to, url_env, secret_env)")?;
            let value = value.trim().to_string();
            match key.trim() {
                "kind" => {
                    kind = Some(
                        choose(&Kind::CHOICES, &value)
                            .ok_or_else(|| format!("kind {}: expected mail, teams or webhook", shown(&value)))?,
                    )
                }
                "on" => {
                    target.on = choose(&When::CHOICES, &value)
                        .ok_or_else(|| format!("on {}: expected always, drift or new", shown(&value)))?
                }
                "from" => target.from = Some(value),
                "to" => {
                    target.to = value
                        .split(';')
                        .map(|a| a.trim().to_string())
                        .filter(|a| !a.is_empty())
                        .collect()
                }
                "url_env" => target.url_env = Some(value),
                "secret_env" => target.secret_env = Some(value),
                "url" => {
                    return Err("webhook URLs are secrets: put the URL in an environment variable and name it with url_env=NAME".into())
                }
                other => {
                    return Err(format!(
                        "unknown key {} (kind, on, from, to, url_env, secret_env)",
                        shown(other)
                    ));
                }
            }
        }
        target.kind = kind.ok_or("name the kind: kind=mail, kind=teams or kind=webhook")?;
        target.check()?;
        Ok(target)
    }

    /// Whether this run is one the target hears about.
    pub fn due(&self, summary: &RunSummary) -> bool {
        match self.on {
            When::Always => true,
            When::Drift => summary.total > summary.excepted,
            When::New => summary.new > 0,
        }
    }
}

/// A value quoted in a message only when it looks like a name or an address: anything else
/// may be a pasted URL or secret, and is not repeated.
fn shown(value: &str) -> String {
    let plain = value.len() <= 80
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '@' | '+'));
    if plain {
        format!("`{value}`")
    } else {
        "(not shown: it may be a URL or a secret)".into()
    }
}

fn choose<T: Copy>(choices: &[(&'static str, T, &'static str)], name: &str) -> Option<T> {
    crate::graph::auth::choose(choices, name)
}

/// What one target's delivery came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub label: String,
    pub kind: Kind,
    /// `Ok(what was done)` or `Err(why not)`; neither holds a URL or a secret.
    pub result: Result<String, String>,
}

impl Delivery {
    /// `teams: sent` / `mail: failed (...)`, for `index.csv`.
    pub fn describe(&self) -> String {
        match &self.result {
            Ok(done) => format!("{}: {done}", self.kind.name()),
            Err(problem) => format!("{}: failed ({problem})", self.kind.name()),
        }
    }
}

/// Sends to every due target; never fails as a whole (each target's outcome is returned).
/// `graph` is needed only by mail targets.
pub async fn deliver(
    targets: &[Target],
    summary: &RunSummary,
    graph: Option<&GraphClient>,
    http: &reqwest::Client,
) -> Vec<Delivery> {
    let mut deliveries = Vec::new();
    for target in targets.iter().filter(|t| t.due(summary)) {
        let result = match target.kind {
            Kind::Mail => match graph {
                Some(graph) => send_mail(graph, target, summary).await,
                None => Err("no Graph connection for mail".to_string()),
            },
            Kind::Teams => {
                let body = message::teams_card(summary);
                post(http, target, &body, None).await
            }
            Kind::Webhook => {
                let body = message::summary_json(summary);
                post(http, target, &body, target.secret_env.as_deref()).await
            }
        };
        deliveries.push(Delivery {
            label: target.label(),
            kind: target.kind,
            result,
        });
    }
    deliveries
}

async fn send_mail(
    graph: &GraphClient,
    target: &Target,
    summary: &RunSummary,
) -> Result<String, String> {
    let from = target.from.as_deref().unwrap_or_default();
    let attachment = attachment(summary.workbook.as_deref(), INLINE_ATTACHMENT_LIMIT)?;
    let attached = attachment.is_some();
    let body = message::mail_request(summary, &target.to, attachment.as_deref());
    let url = graph.url(&format!(
        "/users/{}/sendMail",
        url::form_urlencoded::byte_serialize(from.as_bytes()).collect::<String>()
    ));
    graph
        .post_json(&url, &body)
        .await
        .map(|_| {
            if attached {
                "sent, drift.xlsx attached".to_string()
            } else {
                "sent, linked to the run".to_string()
            }
        })
        .map_err(|e| e.to_string())
}

/// The workbook's bytes when they fit in the `sendMail` request (`limit`); `None` when there
/// is none or it is too large (the mail then says where it is).
fn attachment(workbook: Option<&std::path::Path>, limit: usize) -> Result<Option<Vec<u8>>, String> {
    let Some(path) = workbook else {
        return Ok(None);
    };
    match std::fs::read(path) {
        Ok(bytes) if bytes.len() <= limit => Ok(Some(bytes)),
        Ok(bytes) => {
            tracing::info!(
                bytes = bytes.len(),
                limit,
                "drift.xlsx is over Graph's inline attachment limit; the mail links to the run instead"
            );
            Ok(None)
        }
        Err(error) => Err(format!("reading {}: {error}", path.display())),
    }
}

/// POSTs JSON to the URL in the target's variable; with `secret_variable`, signs the body.
async fn post(
    http: &reqwest::Client,
    target: &Target,
    body: &Value,
    secret_variable: Option<&str>,
) -> Result<String, String> {
    let variable = target.url_variable();
    let url = std::env::var(variable)
        .ok()
        .filter(|v| !v.trim().is_empty())
        .ok_or_else(|| format!("${variable} is not set"))?;
    let parsed = url::Url::parse(url.trim()).map_err(|_| format!("${variable} is not a URL"))?;
    if parsed.scheme() != "https" {
        return Err(format!("${variable} is not an https URL"));
    }
    let bytes = serde_json::to_vec(body).map_err(|e| e.to_string())?;
    let mut request = http
        .post(parsed)
        .header("content-type", "application/json")
        .timeout(Duration::from_secs(30));
    if let Some(secret_variable) = secret_variable {
        let secret = std::env::var(secret_variable)
            .ok()
            .filter(|v| !v.is_empty())
            .ok_or_else(|| format!("${secret_variable} (the HMAC secret) is not set"))?;
        request = request.header(SIGNATURE_HEADER, sign(secret.as_bytes(), &bytes));
    }
    let answer = request
        .body(bytes)
        .send()
        .await
        // The URL is the secret: reqwest's message would include it.
        .map_err(|e| format!("{}", e.without_url()))?;
    let status = answer.status();
    if status.is_success() {
        Ok(format!("sent ({})", status.as_u16()))
    } else {
        Err(format!("the endpoint answered {}", status.as_u16()))
    }
}

/// `sha256=<hex>` of HMAC-SHA256(secret, body): what a receiver recomputes to trust the body.
pub fn sign(secret: &[u8], body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes a key of any size");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_parse_and_check() {
        let teams = Target::parse_flag("kind=teams,on=drift").unwrap();
        assert_eq!(teams.on, When::Drift);
        assert_eq!(teams.url_variable(), DEFAULT_TEAMS_VARIABLE);
        assert_eq!(teams.label(), "teams ($ENTRA_DRIFT_TEAMS_WEBHOOK_URL)");
        let mail = Target::parse_flag(
            "kind=mail, on=new, from=audit@contoso.com, to=a@contoso.com;b@contoso.com",
        )
        .unwrap();
        assert_eq!(mail.to, ["a@contoso.com", "b@contoso.com"]);
        for (text, needle) in [
            ("on=drift", "name the kind"),
            ("kind=pager", "expected mail"),
            ("kind=teams,url=https://x", "secrets"),
            ("kind=mail,to=a@b.c", "from"),
            ("kind=mail,from=a@b.c", "to"),
            ("kind=mail,from=a@b.c,to=nobody", "not a mail address"),
            (
                "kind=webhook,url_env=BAD-NAME",
                "`BAD-NAME` is not an environment variable",
            ),
            ("kind=webhook,url_env=https://x/y?SECRET", "not shown"),
            ("kind=webhook,secret_env=s3cr3t/SECRET==", "not shown"),
            ("kind=mail,from=a@b.c,to=https://SECRET", "not shown"),
            ("kind=https://x/SECRET", "not shown"),
            ("kind=teams,secret_env=X", "no `secret_env`"),
            ("kind=teams,colour=red", "unknown key `colour`"),
            ("kind=teams,https://x/y?sig=SECRET", "not shown"),
            ("https://x/y", "key=value"),
        ] {
            let error = Target::parse_flag(text).unwrap_err();
            assert!(error.contains(needle), "{text}: {error}");
            assert!(
                !error.contains("SECRET") && !error.contains("https"),
                "{error}"
            );
        }
    }

    #[test]
    fn rules_pick_runs() {
        let mut summary = RunSummary::example();
        let target = |on| Target {
            on,
            ..Target::parse_flag("kind=teams").unwrap()
        };
        summary.total = 3;
        summary.excepted = 3;
        summary.new = 0;
        assert!(target(When::Always).due(&summary));
        assert!(!target(When::Drift).due(&summary));
        assert!(!target(When::New).due(&summary));
        summary.excepted = 1;
        assert!(target(When::Drift).due(&summary));
        summary.new = 1;
        assert!(target(When::New).due(&summary));
    }

    #[test]
    fn the_workbook_is_attached_only_under_the_limit() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("drift.xlsx");
        std::fs::write(&path, vec![7u8; 100]).unwrap();
        assert_eq!(attachment(Some(&path), 100).unwrap().unwrap().len(), 100);
        assert_eq!(attachment(Some(&path), 99).unwrap(), None);
        assert_eq!(attachment(None, 99).unwrap(), None);
        let missing = attachment(Some(&dir.path().join("gone.xlsx")), 99).unwrap_err();
        assert!(missing.contains("gone.xlsx"), "{missing}");
        assert_eq!(INLINE_ATTACHMENT_LIMIT, 3 * 1024 * 1024);
    }

    #[test]
    fn signature_matches_rfc_4231_case_2() {
        // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
        assert_eq!(
            sign(b"Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
