//! The fake's remedy writes (graph-api.md §13): ending an assignment with an `adminRemove`
//! assignment request, and removing a direct group member, a group owner or an app role
//! assignment. Each really changes the served state, so a later read shows it.

use super::*;

use crate::access::same_id;
use crate::state::{random_guid, timestamp};

/// The request types `POST …/assignmentRequests` accepts (compared case-insensitively).
const SUPPORTED_REQUEST_TYPES: [&str; 1] = ["adminRemove"];

/// States of an assignment an `adminRemove` may end: those where entitlement management
/// delivered, is delivering or tried to deliver access. An `expired` assignment (or any
/// other state) has nothing left to remove.
const REMOVABLE_STATES: [&str; 4] = [
    "delivered",
    "partiallyDelivered",
    "deliveryFailed",
    "delivering",
];

/// The assignment id of an `adminRemove` request body
/// (`{"requestType": "adminRemove", "assignment": {"id": "…"}}`), or why it is refused
/// (every refusal is a `400`).
pub(super) fn parse_remove_request(body: &[u8]) -> Result<String, String> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err("The request body is empty: an assignment request needs a JSON object with requestType and assignment.".into());
    }
    let body: Value = serde_json::from_slice(body)
        .map_err(|e| format!("Invalid JSON in the request body: {e}"))?;
    if !body.is_object() {
        return Err("The request body must be a JSON object.".into());
    }
    let supported = SUPPORTED_REQUEST_TYPES.join(", ");
    let request_type = match body.get("requestType") {
        Some(Value::String(text)) => text.as_str(),
        None | Some(Value::Null) => {
            return Err(format!(
                "The request has no requestType; fake-graph supports: {supported}."
            ))
        }
        Some(other) => {
            return Err(format!(
                "requestType must be a string, not {other}; fake-graph supports: {supported}."
            ))
        }
    };
    if !SUPPORTED_REQUEST_TYPES
        .iter()
        .any(|t| t.eq_ignore_ascii_case(request_type))
    {
        return Err(format!(
            "Request type '{request_type}' is not supported; fake-graph supports: {supported}."
        ));
    }
    match body.pointer("/assignment/id").and_then(Value::as_str) {
        Some(id) if !id.trim().is_empty() => Ok(id.to_string()),
        _ => Err("An adminRemove request needs the assignment to remove: {\"assignment\": {\"id\": \"…\"}}.".into()),
    }
}

fn removable(state: &str) -> bool {
    REMOVABLE_STATES
        .iter()
        .any(|s| s.eq_ignore_ascii_case(state))
}

/// `POST …/assignmentRequests` with `requestType` `adminRemove`. Checks, in order:
/// `fail_writes_after`, the body (`400`), the assignment (`404` `ResourceNotFound`), its state
/// (`400` unless [`REMOVABLE_STATES`]). Then, at once (Graph moves the request on
/// asynchronously; the fake completes it before answering): takes away the access the
/// assignment's package grants its target ([`Data::revoke_access`], which keeps what another
/// holding assignment of the same target grants), sets the assignment's `state` `expired`,
/// `status` `Expired` and `expiredDateTime` to the fake's clock, and stores the new request
/// (`state` `delivered`; its `assignment` the expired assignment, served with
/// `$expand=assignment`) in the assignment requests. Answers `201` with the request, its
/// `assignment` reduced to the id.
pub(super) fn admin_remove(shared: &Shared, body: &[u8]) -> Reply {
    let mut data = lock(&shared.data);
    if let Some(refused) = refused_write(&shared.settings, &data) {
        return refused;
    }
    let id = match parse_remove_request(body) {
        Ok(id) => id,
        Err(message) => return Reply::error(400, "BadRequest", message),
    };
    let (stored, assignment) = match super::writes::stored_assignment(&data, &id) {
        Ok(found) => found,
        Err(reply) => return reply,
    };
    let state = assignment.state.clone().unwrap_or_default();
    if !removable(&state) {
        return Reply::error(
            400,
            "BadRequest",
            format!(
                "Assignment '{}' is in state '{state}'; only assignments in {} can be removed.",
                assignment.id,
                REMOVABLE_STATES.join(", ")
            ),
        );
    }
    let now = timestamp(data.now());
    let removed = data.revoke_access(&assignment);
    let mut expired = stored;
    if let Value::Object(object) = &mut expired {
        object.insert("state".into(), json!("expired"));
        object.insert("status".into(), json!("Expired"));
        object.insert("expiredDateTime".into(), json!(now));
    }
    data.assignments.update(&id, |slot| *slot = expired.clone());
    let request_id = random_guid();
    let request = json!({
        "id": request_id,
        "requestType": "adminRemove",
        "state": "delivered",
        "status": "Delivered",
        "createdDateTime": now,
        "assignment": {"id": assignment.id},
    });
    let mut kept = request.clone();
    kept["assignment"] = expired;
    data.assignment_requests.push(kept);
    data.admin_removes += 1;
    data.write_successes += 1;
    tracing::debug!(assignment = %assignment.id, request = %request_id, removed, "adminRemove");
    let mut reply = request;
    reply["@odata.context"] = json!(format!(
        "{}/v1.0/$metadata#{REQUESTS}/$entity",
        shared.base_url
    ));
    Reply::json(201, reply)
}

/// The two `$ref` lists of a group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum GroupLink {
    Member,
    Owner,
}

/// `DELETE groups/{group}/members/{object}/$ref` or `…/owners/{object}/$ref`: removes the
/// object from the group's direct members (owners) and answers `204`; `404`
/// `Request_ResourceNotFound` when the group does not exist or the object is not a direct
/// member (owner). After `fail_writes_after` writes, the fault's status instead.
///
/// Graph may refuse to remove a group's last owner (graph-api.md §13); the fake does not
/// emulate that and removes the last owner like any other, so a client cannot rely on the fake
/// to catch it.
pub(super) fn remove_from_group(
    shared: &Shared,
    link: GroupLink,
    group: &str,
    object: &str,
) -> Reply {
    let mut data = lock(&shared.data);
    if let Some(refused) = refused_write(&shared.settings, &data) {
        return refused;
    }
    if !data.groups.contains(group) {
        return not_found(group);
    }
    let lists = match link {
        GroupLink::Member => &mut data.members,
        GroupLink::Owner => &mut data.owners,
    };
    let removed = lists
        .get_mut(&group.to_ascii_lowercase())
        .map(|entries| {
            let before = entries.len();
            entries.retain(|entry| !same_id(entry.get("id"), object));
            before - entries.len()
        })
        .unwrap_or_default();
    if removed == 0 {
        return not_found(object);
    }
    match link {
        GroupLink::Member => data.member_removals += 1,
        GroupLink::Owner => data.owner_removals += 1,
    }
    data.write_successes += 1;
    tracing::debug!(group, object, ?link, "removed from group");
    Reply::empty(204)
}

/// `DELETE servicePrincipals/{sp}/appRoleAssignedTo/{id}`: removes the app role assignment
/// whose `id` is `id` (as listed by `appRoleAssignedTo`; every stored item has one, see
/// [`crate::state::derived_assignment_id`]) and answers `204`; `404`
/// `Request_ResourceNotFound` when the service principal or the assignment does not exist.
/// Ids compare case-insensitively like every id of the fake (Graph's base64url ids are
/// case-sensitive, but two differing only in case do not occur in practice).
pub(super) fn remove_app_role_assignment(shared: &Shared, sp: &str, id: &str) -> Reply {
    let mut data = lock(&shared.data);
    if let Some(refused) = refused_write(&shared.settings, &data) {
        return refused;
    }
    if !data.service_principals.contains(sp) {
        return not_found(sp);
    }
    let removed = data
        .app_role_assigned_to
        .get_mut(&sp.to_ascii_lowercase())
        .map(|entries| {
            let before = entries.len();
            entries.retain(|entry| !same_id(entry.get("id"), id));
            before - entries.len()
        })
        .unwrap_or_default();
    if removed == 0 {
        return not_found(id);
    }
    data.app_role_removals += 1;
    data.write_successes += 1;
    tracing::debug!(service_principal = sp, id, "app role assignment removed");
    Reply::empty(204)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remove_request_bodies() {
        let ok = br#"{"requestType": "ADMINREMOVE", "assignment": {"id": "a-1"}}"#;
        assert_eq!(parse_remove_request(ok), Ok("a-1".to_string()));
        let refused = |body: &str| parse_remove_request(body.as_bytes()).unwrap_err();
        assert!(refused("").contains("empty"));
        assert!(refused("{not json").contains("Invalid JSON"));
        assert!(refused("[1]").contains("JSON object"));
        let add = refused(r#"{"requestType": "adminAdd", "assignment": {"id": "a"}}"#);
        assert!(
            add.contains("'adminAdd'") && add.contains("supports: adminRemove"),
            "{add}"
        );
        assert!(refused(r#"{"assignment": {"id": "a"}}"#).contains("no requestType"));
        assert!(refused(r#"{"requestType": 3}"#).contains("must be a string"));
        for body in [
            r#"{"requestType": "adminRemove"}"#,
            r#"{"requestType": "adminRemove", "assignment": {}}"#,
            r#"{"requestType": "adminRemove", "assignment": {"id": 7}}"#,
            r#"{"requestType": "adminRemove", "assignment": {"id": " "}}"#,
        ] {
            assert!(refused(body).contains("assignment to remove"), "{body}");
        }
    }

    #[test]
    fn removable_states() {
        for state in [
            "delivered",
            "Delivered",
            "partiallydelivered",
            "deliveryFailed",
            "delivering",
        ] {
            assert!(removable(state), "{state}");
        }
        for state in ["expired", "", "unknownFutureValue", "pendingApproval"] {
            assert!(!removable(state), "{state}");
        }
    }
}
