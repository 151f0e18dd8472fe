//! `POST /v1.0/$batch` of the fake Graph server: validates the envelope, runs each inner
//! request through the shared dispatch, and answers the inner responses in reversed order.

use std::collections::HashSet;

use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::dispatch::{charge, cost_of, dispatch, split_target, Reply};
use super::faults::BodyFault;
use super::shared::Shared;
use super::state::Counters;

/// Graph's limit of requests per `$batch`.
pub const MAX_REQUESTS: usize = 20;

#[derive(Debug, Deserialize)]
struct Envelope {
    requests: Vec<InnerRequest>,
}

#[derive(Debug, Deserialize)]
struct InnerRequest {
    id: String,
    method: String,
    url: String,
    /// A JSON body (the `adminRemove` request's), passed on as its JSON text. `headers` and
    /// `dependsOn` are accepted and ignored (serde skips unknown keys).
    #[serde(default)]
    body: Option<Value>,
}

/// Answers a `$batch` envelope (already authenticated). The envelope costs nothing
/// (`x-ms-resource-unit: 0`); each inner response carries its own cost. If an inner request
/// hits `drop_connection`, the envelope's reply is marked to be dropped. `client` is the
/// caller's client id (inner requests share its limits).
pub fn handle(shared: &Shared, client: &str, body: &[u8]) -> Reply {
    let envelope: Envelope = match serde_json::from_slice(body) {
        Ok(envelope) => envelope,
        Err(e) => {
            return envelope_reply(Reply::error(
                400,
                "BadRequest",
                format!("Invalid batch payload: {e}"),
            ))
        }
    };
    if envelope.requests.len() > MAX_REQUESTS {
        return envelope_reply(Reply::error(
            400,
            "BadRequest",
            format!("The number of batch requests exceeds the limit of {MAX_REQUESTS}."),
        ));
    }
    let mut ids = HashSet::new();
    for request in &envelope.requests {
        if !ids.insert(request.id.as_str()) {
            return envelope_reply(Reply::error(
                400,
                "BadRequest",
                format!(
                    "Batch request ids must be unique: '{}' appears twice.",
                    request.id
                ),
            ));
        }
    }
    Counters::add(
        &shared.counters.batch_inner_requests,
        envelope.requests.len() as u64,
    );

    let mut dropped = false;
    let mut responses = Vec::with_capacity(envelope.requests.len());
    for request in &envelope.requests {
        let reply = inner(shared, client, request);
        dropped |= reply.body_fault == Some(BodyFault::Drop);
        responses.push(inner_json(&request.id, reply));
    }
    responses.reverse();
    let mut reply = envelope_reply(Reply::json(200, json!({ "responses": responses })));
    if dropped {
        reply.body_fault = Some(BodyFault::Drop);
    }
    reply
}

fn envelope_reply(mut reply: Reply) -> Reply {
    reply.headers.push(("x-ms-resource-unit", "0".into()));
    reply
}

fn inner(shared: &Shared, client: &str, request: &InnerRequest) -> Reply {
    let method = request.method.to_ascii_uppercase();
    let (path, query) = split_target(&request.url);
    let refuse = |message: &str| {
        charge(
            shared,
            Reply::error(400, "BadRequest", message),
            cost_of(path, query),
        )
    };
    if request.url.contains("://") {
        return refuse("Inner request URLs must be relative to the version root.");
    }
    if path.trim_end_matches('/').eq_ignore_ascii_case("$batch") {
        return refuse("A $batch request cannot contain another $batch.");
    }
    let body = request
        .body
        .as_ref()
        .map(|body| body.to_string().into_bytes())
        .unwrap_or_default();
    dispatch(shared, client, &method, &request.url, &body)
}

/// `{"id", "status", "headers", "body"}`; a truncated body becomes a JSON string of the cut text.
fn inner_json(id: &str, reply: Reply) -> Value {
    let mut headers = Map::new();
    if reply.body.is_some() {
        headers.insert("Content-Type".into(), json!("application/json"));
    }
    for (name, value) in &reply.headers {
        headers.insert((*name).to_string(), json!(value));
    }
    let mut object = Map::new();
    object.insert("id".into(), json!(id));
    object.insert("status".into(), json!(reply.status));
    object.insert("headers".into(), Value::Object(headers));
    if let Some(body) = reply.body {
        let body = match reply.body_fault {
            Some(BodyFault::Truncate) => Value::String(truncated_text(&body)),
            _ => body,
        };
        object.insert("body".into(), body);
    }
    Value::Object(object)
}

/// The first half of a body's JSON text (cut on a character boundary).
pub fn truncated_text(body: &Value) -> String {
    let text = body.to_string();
    let mut cut = text.len() / 2;
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    text[..cut].to_string()
}
