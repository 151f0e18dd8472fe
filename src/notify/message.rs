//! What a notification says: the run's summary, and its three renderings (the `sendMail`
//! request with an HTML body, the Teams Adaptive Card, the webhook's JSON).

use std::path::PathBuf;

use base64ct::Encoding;
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{json, Value};

/// One run, as people are told about it.
#[derive(Debug, Clone, Serialize)]
pub struct RunSummary {
    pub tenant_id: String,
    pub tenant_name: Option<String>,
    pub run: String,
    /// Where the run is: its Blob Storage URL or its local folder.
    pub location: String,
    /// `report.html` of the run, when the run is at a URL.
    pub report_url: Option<String>,
    pub generated_at: DateTime<Utc>,
    pub previous_run: Option<String>,
    pub total: usize,
    pub new: usize,
    pub persisting: usize,
    pub resolved: usize,
    pub excepted: usize,
    /// Findings per category, in report order.
    pub categories: Vec<(String, usize)>,
    /// The local copy of `drift.xlsx`, attached to mail when small enough.
    #[serde(skip)]
    pub workbook: Option<PathBuf>,
}

impl RunSummary {
    fn tenant(&self) -> String {
        match &self.tenant_name {
            Some(name) => format!("{name} ({})", self.tenant_id),
            None => self.tenant_id.clone(),
        }
    }

    fn headline(&self) -> String {
        format!(
            "entra-drift: {} finding(s), {} new, {} resolved in {}",
            self.total,
            self.new,
            self.resolved,
            self.tenant_name.as_deref().unwrap_or(&self.tenant_id)
        )
    }

    #[cfg(test)]
    pub fn example() -> RunSummary {
        RunSummary {
            tenant_id: "a27b43c7-0a4f-4c67-a4d9-b08c482f4357".into(),
            tenant_name: Some("Contoso <Test>".into()),
            run: "20261201T060000Z".into(),
            location: "https://contoso.blob.core.windows.net/runs/t/20261201T060000Z".into(),
            report_url: Some(
                "https://contoso.blob.core.windows.net/runs/t/20261201T060000Z/report.html".into(),
            ),
            generated_at: "2026-12-01T06:00:00Z".parse().unwrap(),
            previous_run: Some("20261124T060000Z".into()),
            total: 5,
            new: 2,
            persisting: 3,
            resolved: 1,
            excepted: 1,
            categories: vec![("missing_access".into(), 4), ("not_delivered".into(), 1)],
            workbook: None,
        }
    }
}

const MAIL_TEMPLATE: &str = r#"<!DOCTYPE html>
<html><body style="font-family: Segoe UI, sans-serif">
<h2>Access drift in {{ tenant }}</h2>
<p>Run <b>{{ s.run }}</b> at {{ s.generated_at }}{% if s.previous_run %}, compared with {{ s.previous_run }}{% endif %}.</p>
<table cellpadding="4" style="border-collapse: collapse">
<tr><td>Findings</td><td align="right"><b>{{ s.total }}</b></td></tr>
<tr><td>New since the previous run</td><td align="right">{{ s.new }}</td></tr>
<tr><td>Persisting</td><td align="right">{{ s.persisting }}</td></tr>
<tr><td>Resolved</td><td align="right">{{ s.resolved }}</td></tr>
<tr><td>Excepted</td><td align="right">{{ s.excepted }}</td></tr>
{% for c in s.categories %}<tr><td>&nbsp;&nbsp;{{ c[0] }}</td><td align="right">{{ c[1] }}</td></tr>
{% endfor %}</table>
<p>The run: {% if linked %}<a href="{{ s.location }}">{{ s.location }}</a>{% else %}<code>{{ s.location }}</code>{% endif %}{% if s.report_url %} (<a href="{{ s.report_url }}">report.html</a>){% endif %}</p>
<p>{% if attached %}The workbook for review (drift.xlsx) is attached.{% else %}The workbook (drift.xlsx) is in the run's folder.{% endif %}</p>
</body></html>
"#;

/// The HTML body (auto-escaped: tenant and package names come from the tenant).
pub fn mail_html(summary: &RunSummary, attached: bool) -> String {
    let mut env = minijinja::Environment::new();
    env.add_template("mail.html", MAIL_TEMPLATE)
        .expect("the mail template parses");
    env.get_template("mail.html")
        .and_then(|t| {
            t.render(minijinja::context! {
                s => summary,
                tenant => summary.tenant(),
                attached => attached,
                linked => summary.location.starts_with("https://"),
            })
        })
        .unwrap_or_else(|e| format!("<p>{}</p>", e.to_string().replace('<', "&lt;")))
}

/// The body of `POST /users/{sender}/sendMail` (reference §12).
pub fn mail_request(summary: &RunSummary, to: &[String], attachment: Option<&[u8]>) -> Value {
    let recipients: Vec<Value> = to
        .iter()
        .map(|address| json!({"emailAddress": {"address": address}}))
        .collect();
    let mut message = json!({
        "subject": summary.headline(),
        "body": {"contentType": "HTML", "content": mail_html(summary, attachment.is_some())},
        "toRecipients": recipients,
    });
    if let Some(bytes) = attachment {
        message["attachments"] = json!([{
            "@odata.type": "#microsoft.graph.fileAttachment",
            "name": "drift.xlsx",
            "contentType": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            "contentBytes": base64ct::Base64::encode_string(bytes),
        }]);
    }
    json!({"message": message, "saveToSentItems": false})
}

/// The Workflows webhook payload: one Adaptive Card (schema 1.4; Teams takes up to 1.5).
pub fn teams_card(summary: &RunSummary) -> Value {
    let mut facts = vec![
        json!({"title": "Findings", "value": summary.total.to_string()}),
        json!({"title": "New", "value": summary.new.to_string()}),
        json!({"title": "Resolved", "value": summary.resolved.to_string()}),
        json!({"title": "Excepted", "value": summary.excepted.to_string()}),
    ];
    for (category, count) in &summary.categories {
        facts.push(json!({"title": category, "value": count.to_string()}));
    }
    let mut card = json!({
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "body": [
            {"type": "TextBlock", "size": "Medium", "weight": "Bolder", "wrap": true,
             "text": format!("Access drift in {}", summary.tenant())},
            {"type": "TextBlock", "wrap": true, "isSubtle": true,
             "text": format!("Run {} at {}", summary.run, summary.generated_at.to_rfc3339())},
            {"type": "FactSet", "facts": facts},
            {"type": "TextBlock", "wrap": true, "text": format!("Run: {}", summary.location)},
        ],
    });
    let link = summary.report_url.as_deref().or_else(|| {
        summary
            .location
            .starts_with("https://")
            .then_some(summary.location.as_str())
    });
    if let Some(url) = link {
        card["actions"] = json!([{"type": "Action.OpenUrl", "title": "Open the run", "url": url}]);
    }
    json!({
        "type": "message",
        "attachments": [{
            "contentType": "application/vnd.microsoft.card.adaptive",
            "contentUrl": null,
            "content": card,
        }],
    })
}

/// The generic webhook's body: the summary as JSON, with a format tag receivers can check.
pub fn summary_json(summary: &RunSummary) -> Value {
    let mut value = serde_json::to_value(summary).unwrap_or(Value::Null);
    if let Value::Object(map) = &mut value {
        map.insert("format".into(), json!("entra-drift/run-summary"));
        map.insert("version".into(), json!(1));
        map.insert("text".into(), json!(summary.headline()));
        let categories: serde_json::Map<String, Value> = summary
            .categories
            .iter()
            .map(|(name, count)| (name.clone(), json!(count)))
            .collect();
        map.insert("categories".into(), Value::Object(categories));
    }
    value
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mail_escapes_names_and_attaches_the_workbook() {
        let summary = RunSummary::example();
        let request = mail_request(&summary, &["a@contoso.com".into()], Some(b"PK\x03\x04"));
        let html = request["message"]["body"]["content"].as_str().unwrap();
        assert!(html.contains("Contoso &lt;Test&gt;"), "{html}");
        assert!(!html.contains("Contoso <Test>"));
        assert!(html.contains("is attached"));
        assert!(html.contains("<a href="), "{html}");
        let attachment = &request["message"]["attachments"][0];
        assert_eq!(attachment["name"], "drift.xlsx");
        assert_eq!(attachment["contentBytes"], "UEsDBA==");
        assert_eq!(
            request["message"]["toRecipients"][0]["emailAddress"]["address"],
            "a@contoso.com"
        );
        let plain = mail_request(&summary, &["a@contoso.com".into()], None);
        assert!(plain["message"].get("attachments").is_none());
    }

    #[test]
    fn card_has_the_counts_and_a_link() {
        let payload = teams_card(&RunSummary::example());
        assert_eq!(payload["type"], "message");
        let content = &payload["attachments"][0]["content"];
        assert_eq!(content["type"], "AdaptiveCard");
        let facts = content["body"][2]["facts"].as_array().unwrap();
        assert_eq!(facts[1], json!({"title": "New", "value": "2"}));
        assert!(content["actions"][0]["url"]
            .as_str()
            .unwrap()
            .ends_with("report.html"));
        assert!(serde_json::to_vec(&payload).unwrap().len() < 28 * 1024);
    }

    #[test]
    fn webhook_json_is_tagged() {
        let value = summary_json(&RunSummary::example());
        assert_eq!(value["format"], "entra-drift/run-summary");
        assert_eq!(value["categories"]["missing_access"], 4);
        assert!(value.get("workbook").is_none());
    }
}
