//! `POST users/{id or UPN}/sendMail`: checked as Graph would (a known mailbox, a message with
//! recipients; file attachments with base64 `contentBytes` under the 3 MB inline limit) and
//! recorded in an outbox the tests read ([`crate::RunningFake::sent_mail`]). `202`, no body.

use serde_json::Value;

use super::Reply;
use crate::auth::base64url_decode;
use crate::shared::Shared;
use crate::state::lock;
pub use crate::state::{Attachment, SentMail};

/// Graph's limit for attachments sent inside the `sendMail` request (reference §12).
pub const INLINE_LIMIT: usize = 3 * 1024 * 1024;

pub fn send_mail(shared: &Shared, sender: &str, body: &[u8]) -> Reply {
    if lock(&shared.data).user(sender).is_none() {
        return Reply::error(
            404,
            "ErrorInvalidUser",
            format!("The requested user '{sender}' is invalid."),
        );
    }
    match parse(sender, body) {
        Ok(mail) => {
            lock(&shared.outbox).push(mail);
            Reply::empty(202)
        }
        Err(message) => Reply::error(400, "ErrorInvalidRequest", message),
    }
}

fn parse(sender: &str, body: &[u8]) -> Result<SentMail, String> {
    let request: Value =
        serde_json::from_slice(body).map_err(|e| format!("The request body is not JSON: {e}"))?;
    let message = request
        .get("message")
        .filter(|m| m.is_object())
        .ok_or("Missing property 'message'.")?;
    let text = |value: &Value, key: &str| value.get(key).and_then(Value::as_str).map(String::from);
    let to: Vec<String> = message
        .get("toRecipients")
        .and_then(Value::as_array)
        .map(|list| {
            list.iter()
                .filter_map(|r| r.get("emailAddress").and_then(|e| text(e, "address")))
                .collect()
        })
        .unwrap_or_default();
    if to.is_empty() {
        return Err("At least one recipient is required.".into());
    }
    let mut attachments = Vec::new();
    for item in message
        .get("attachments")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if text(item, "@odata.type").as_deref() != Some("#microsoft.graph.fileAttachment") {
            return Err("Only file attachments are supported by this fake.".into());
        }
        let encoded = text(item, "contentBytes").ok_or("Missing contentBytes.")?;
        let bytes = base64_decode(&encoded).ok_or("contentBytes is not base64.")?;
        if bytes.len() > INLINE_LIMIT {
            return Err(
                "The attachment is over the 3 MB limit of one request: use an upload session."
                    .into(),
            );
        }
        attachments.push(Attachment {
            name: text(item, "name").unwrap_or_default(),
            content_type: text(item, "contentType").unwrap_or_default(),
            bytes,
        });
    }
    let content = message.get("body");
    Ok(SentMail {
        sender: sender.to_string(),
        subject: text(message, "subject").unwrap_or_default(),
        to,
        content_type: content
            .and_then(|c| text(c, "contentType"))
            .unwrap_or_else(|| "Text".into()),
        body: content.and_then(|c| text(c, "content")).unwrap_or_default(),
        attachments,
    })
}

/// Standard base64 (with padding), through the base64url decoder.
fn base64_decode(text: &str) -> Option<Vec<u8>> {
    let url: String = text
        .trim_end_matches('=')
        .chars()
        .map(|c| match c {
            '+' => '-',
            '/' => '_',
            c => c,
        })
        .collect();
    base64url_decode(&url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_reference_example() {
        let body = br##"{"message": {"subject": "Meet for lunch?",
            "body": {"contentType": "Text", "content": "The new cafeteria is open."},
            "toRecipients": [{"emailAddress": {"address": "meganb@contoso.com"}}],
            "attachments": [{"@odata.type": "#microsoft.graph.fileAttachment",
                "name": "attachment.txt", "contentType": "text/plain",
                "contentBytes": "SGVsbG8gV29ybGQh"}]}}"##;
        let mail = parse("a@b", body).unwrap();
        assert_eq!(mail.to, ["meganb@contoso.com"]);
        assert_eq!(mail.attachments[0].bytes, b"Hello World!");
        assert!(parse("a@b", br#"{"message": {"toRecipients": []}}"#).is_err());
        assert!(parse("a@b", b"{}").is_err());
    }
}
