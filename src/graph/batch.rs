//! JSON batching: up to 20 GETs per `POST /$batch`. The batch's own `200` says nothing about
//! its parts: each inner response is judged, and throttled ones are retried, on its own.

use std::time::Duration;

use futures_util::StreamExt;
use reqwest::Method;
use serde::Deserialize;
use serde_json::{json, Value};

use super::{
    pace, retry, status_error, Attempts, Cost, GraphClient, GraphError, GraphErrorKind, Stats,
    BATCH_SIZE,
};

#[derive(Debug, Deserialize)]
struct BatchReply {
    responses: Vec<InnerResponse>,
}

#[derive(Debug, Deserialize)]
struct InnerResponse {
    id: String,
    status: u16,
    #[serde(default)]
    headers: serde_json::Map<String, Value>,
    #[serde(default)]
    body: Value,
}

impl InnerResponse {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .and_then(|(_, value)| value.as_str())
    }
}

impl GraphClient {
    /// GETs each path (relative to `/v1.0/`) through `$batch`; results in input order.
    pub async fn batch_get(&self, paths: &[String]) -> Vec<Result<Value, GraphError>> {
        let chunks = paths
            .chunks(BATCH_SIZE)
            .map(|chunk| self.batch_chunk(chunk));
        futures_util::stream::iter(chunks)
            .buffered(self.concurrency())
            .flat_map(futures_util::stream::iter)
            .collect()
            .await
    }

    async fn batch_chunk(&self, paths: &[String]) -> Vec<Result<Value, GraphError>> {
        let mut results: Vec<Option<Result<Value, GraphError>>> = vec![None; paths.len()];
        let mut pending: Vec<usize> = (0..paths.len()).collect();
        let mut attempts = Attempts::new(self);
        while !pending.is_empty() {
            attempts.next();
            // What the parts are documented to cost: reserved when the batch leaves, settled by
            // the inner answers.
            let reserved: u64 = pending
                .iter()
                .map(|&i| pace::expected_units(&paths[i]))
                .sum();
            let reply = match self.send_batch(paths, &pending, reserved).await {
                Ok(reply) => reply,
                Err(error) => {
                    for &i in &pending {
                        results[i] = Some(Err(error.clone()));
                    }
                    break;
                }
            };
            let (mut retry_later, hint) =
                self.judge(paths, &pending, reserved, reply, &mut results);
            if retry_later.is_empty() || !attempts.wait_again(hint).await {
                // The last error of each part stays as its result.
                break;
            }
            retry_later.sort_unstable();
            pending = retry_later;
        }
        results
            .into_iter()
            .map(|result| {
                result.unwrap_or_else(|| {
                    Err(GraphError::new(
                        GraphErrorKind::Transport,
                        "POST $batch",
                        "no answer",
                    ))
                })
            })
            .collect()
    }

    /// One `POST $batch` of the pending parts (its own transport retries included).
    async fn send_batch(
        &self,
        paths: &[String],
        pending: &[usize],
        reserved: u64,
    ) -> Result<BatchReply, GraphError> {
        let requests: Vec<Value> = pending
            .iter()
            // Spaces (in `$filter`) must be encoded inside a batch's relative URL.
            .map(|&i| json!({"id": i.to_string(), "method": "GET", "url": format!("/{}", paths[i].replace(' ', "%20")), "headers": {"Prefer": super::PREFER}}))
            .collect();
        Stats::add(&self.stats.batched_requests, pending.len() as u64);
        let answer = self
            .execute(
                Method::POST,
                &self.url("$batch"),
                Some(&json!({ "requests": requests })),
                Cost::Batch(reserved),
            )
            .await?;
        if !(200..300).contains(&answer.status) {
            return Err(status_error("POST $batch", answer.status, &answer.body));
        }
        serde_json::from_slice::<BatchReply>(&answer.body)
            .map_err(|e| GraphError::new(GraphErrorKind::Decode, "POST $batch", e.to_string()))
    }

    /// Records each inner answer; returns the parts to retry (throttled, unavailable, or left
    /// out of the reply) and the longest `Retry-After` among them.
    fn judge(
        &self,
        paths: &[String],
        pending: &[usize],
        reserved: u64,
        reply: BatchReply,
        results: &mut [Option<Result<Value, GraphError>>],
    ) -> (Vec<usize>, Option<Duration>) {
        let mut retry_later = Vec::new();
        let mut hint: Option<Duration> = None;
        let mut answered = vec![false; paths.len()];
        // The inner answers settle what the batch reserved.
        let (mut units_seen, mut share, mut throttled) = (0u64, None::<f64>, false);
        for inner in reply.responses {
            let Some(i) = inner
                .id
                .parse::<usize>()
                .ok()
                .filter(|i| pending.contains(i))
            else {
                continue;
            };
            answered[i] = true;
            if let Some(units) = inner
                .header("x-ms-resource-unit")
                .and_then(|v| v.trim().parse::<u64>().ok())
            {
                Stats::add(&self.stats.resource_units, units);
                // A throttled part spent nothing of the budget, whatever it is stamped.
                if inner.status != 429 {
                    units_seen += units;
                }
            }
            if let Some(value) = inner
                .header("x-ms-throttle-limit-percentage")
                .and_then(pace::parse_share)
            {
                share = Some(share.map_or(value, |s: f64| s.max(value)));
            }
            throttled |= inner.status == 429;
            if (200..300).contains(&inner.status) {
                results[i] = Some(Ok(inner.body));
                continue;
            }
            let request = format!("GET {}", paths[i]);
            if retry::is_retryable_status(inner.status) {
                if inner.status == 429 {
                    Stats::add(&self.stats.throttled, 1);
                }
                let after = inner
                    .header("retry-after")
                    .and_then(|v| retry::parse_retry_after(v, chrono::Utc::now()));
                hint = hint.max(after);
                retry_later.push(i);
            }
            results[i] = Some(Err(status_error(
                &request,
                inner.status,
                inner.body.to_string().as_bytes(),
            )));
        }
        let now = std::time::Instant::now();
        self.units.settle(now, reserved, Some(units_seen), share);
        if throttled {
            self.units.throttled(now);
        }
        // A part the reply left out is retried like a transient failure.
        for &i in pending {
            if !answered[i] {
                results[i] = Some(Err(GraphError::new(
                    GraphErrorKind::Transport,
                    format!("GET {}", paths[i]),
                    "missing from the $batch reply",
                )));
                retry_later.push(i);
            }
        }
        (retry_later, hint)
    }
}
