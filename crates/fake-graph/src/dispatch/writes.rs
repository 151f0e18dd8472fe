//! The fake's reprocess writes (assignment and assignment request), which really redeliver
//! access, and the `fail_writes_after` refusal every write shares.

use super::*;

/// The `fail_writes_after` fault: once that many writes of any kind have succeeded
/// ([`Data::write_successes`]), every write answers `fail_writes_status` and changes nothing.
/// Checked first, before a write looks at its body, ids or states.
pub(super) fn refused_write(settings: &Settings, data: &Data) -> Option<Reply> {
    let limit = settings.fail_writes_after?;
    if data.write_successes < limit {
        return None;
    }
    let status = settings.fail_writes_status;
    Some(Reply::error(
        status,
        status_code_name(status),
        "Injected write failure (fake-graph fail_writes_after).",
    ))
}

/// An assignment as stored (raw) and parsed; `404` when unknown, `500` when the stored object
/// does not parse.
pub(super) fn stored_assignment(
    data: &Data,
    id: &str,
) -> Result<(Value, AccessPackageAssignment), Reply> {
    let Some(raw) = data.assignments.get(id) else {
        return Err(em_not_found(id));
    };
    match serde_json::from_value(raw.clone()) {
        Ok(assignment) => Ok((raw.clone(), assignment)),
        Err(e) => Err(Reply::error(
            500,
            "InternalServerError",
            format!("stored assignment `{id}` is malformed: {e}"),
        )),
    }
}

/// `POST …/assignments/{id}/reprocess`: re-enforces a delivered assignment (see
/// [`Data::restore_access`]) and answers `202` with no body.
pub(super) fn reprocess(shared: &Shared, id: &str) -> Reply {
    let mut data = lock(&shared.data);
    if let Some(refused) = refused_write(&shared.settings, &data) {
        return refused;
    }
    let (_, assignment) = match stored_assignment(&data, id) {
        Ok(found) => found,
        Err(reply) => return reply,
    };
    let state = assignment.state.clone().unwrap_or_default();
    if !state.eq_ignore_ascii_case("delivered") {
        return Reply::error(
            400,
            "BadRequest",
            format!("Assignment '{id}' is in state '{state}'; only delivered assignments can be reprocessed."),
        );
    }
    let added = data.restore_access(&assignment);
    data.write_successes += 1;
    *data
        .reprocess_counts
        .entry(assignment.id.clone())
        .or_default() += 1;
    tracing::debug!(assignment = %assignment.id, added, "reprocess");
    Reply::empty(202)
}

/// The time a request completed: `completedDateTime` (or the older `completedDate`).
fn completed_at(request: &Value) -> Option<&str> {
    str_at(request, "/completedDateTime").or_else(|| str_at(request, "/completedDate"))
}

/// How long after completion a request may still be reprocessed.
const REQUEST_REPROCESS_DAYS: i64 = 14;

/// Sets `state` (and `status` when present) of a stored object to delivered.
fn mark_delivered(item: &mut Value) {
    if let Value::Object(object) = item {
        object.insert("state".into(), json!("delivered"));
        if object.contains_key("status") {
            object.insert("status".into(), json!("Delivered"));
        }
    }
}

/// `POST …/assignmentRequests/{id}/reprocess`: retries the delivery of a request in
/// `deliveryFailed` or `partiallyDelivered` that completed within 14 days of the fake's clock.
/// On success (`202`, no body) the request becomes `delivered`, its assignment (by
/// `assignment.id`, in assignments.json) becomes `delivered` / `Delivered`, and the
/// assignment's access is restored as an assignment reprocess does ([`Data::restore_access`]).
pub(super) fn reprocess_request(shared: &Shared, id: &str) -> Reply {
    let mut data = lock(&shared.data);
    if let Some(refused) = refused_write(&shared.settings, &data) {
        return refused;
    }
    let now = data.now();
    let Some(request) = data.assignment_requests.get(id) else {
        return em_not_found(id);
    };
    let request_id = str_at(request, "/id").unwrap_or(id).to_string();
    let state = str_at(request, "/state").unwrap_or_default();
    if !["deliveryFailed", "partiallyDelivered"]
        .iter()
        .any(|s| s.eq_ignore_ascii_case(state))
    {
        return Reply::error(
            400,
            "BadRequest",
            format!("Assignment request '{request_id}' is in state '{state}'; only requests in deliveryFailed or partiallyDelivered can be reprocessed."),
        );
    }
    let Some(completed) = completed_at(request) else {
        return Reply::error(
            400,
            "BadRequest",
            format!("Assignment request '{request_id}' has no completedDateTime; only requests completed within {REQUEST_REPROCESS_DAYS} days can be reprocessed."),
        );
    };
    let completed = match chrono::DateTime::parse_from_rfc3339(completed) {
        Ok(at) => at.with_timezone(&chrono::Utc),
        Err(e) => {
            return Reply::error(
                500,
                "InternalServerError",
                format!("stored assignment request `{request_id}` has an invalid completedDateTime `{completed}`: {e}"),
            )
        }
    };
    if now - completed > chrono::Duration::days(REQUEST_REPROCESS_DAYS) {
        return Reply::error(
            400,
            "BadRequest",
            format!("Assignment request '{request_id}' completed at {completed_text}, more than {REQUEST_REPROCESS_DAYS} days ago; only requests completed within {REQUEST_REPROCESS_DAYS} days can be reprocessed.",
                completed_text = crate::state::timestamp(completed)),
        );
    }
    let assignment_id = str_at(request, "/assignment/id").map(str::to_string);
    // The assignment as it will be, parsed before anything changes.
    let assignment = match assignment_id
        .as_deref()
        .and_then(|a| data.assignments.get(a))
    {
        None => None,
        Some(stored) => {
            let mut delivered = stored.clone();
            mark_delivered(&mut delivered);
            if let Value::Object(object) = &mut delivered {
                object.insert("status".into(), json!("Delivered"));
            }
            match serde_json::from_value::<AccessPackageAssignment>(delivered.clone()) {
                Ok(parsed) => Some((delivered, parsed)),
                Err(e) => {
                    return Reply::error(
                        500,
                        "InternalServerError",
                        format!(
                            "stored assignment `{}` is malformed: {e}",
                            assignment_id.unwrap_or_default()
                        ),
                    )
                }
            }
        }
    };
    if let Some(request) = data.assignment_requests.get_mut(id) {
        mark_delivered(request);
        if let Some(embedded) = request.get_mut("assignment") {
            if embedded.get("state").is_some() {
                mark_delivered(embedded);
            }
        }
    }
    let mut added = 0;
    match assignment {
        Some((delivered, parsed)) => {
            data.assignments
                .update(&parsed.id, |stored| *stored = delivered);
            added = data.restore_access(&parsed);
        }
        None => {
            tracing::debug!(request = %request_id, assignment = ?assignment_id, "request reprocess: no assignment in assignments.json to redeliver")
        }
    }
    data.write_successes += 1;
    *data
        .request_reprocess_counts
        .entry(request_id.clone())
        .or_default() += 1;
    tracing::debug!(request = %request_id, assignment = ?assignment_id, added, "request reprocess");
    Reply::empty(202)
}
