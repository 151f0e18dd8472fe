//! Item-level helpers of the fake's answers: matching filters, `$expand` handling, error
//! replies for unknown objects.

use super::*;

/// Percent-encodes a path segment (all but RFC 3986 unreserved characters), so that a link to
/// a stored id routes back to it whatever the id holds.
pub(super) fn encode_segment(segment: &str) -> String {
    let mut encoded = String::with_capacity(segment.len());
    for byte in segment.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            encoded.push(byte as char);
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    encoded
}

pub(super) fn not_found(id: &str) -> Reply {
    Reply::error(
        404,
        "Request_ResourceNotFound",
        format!("Resource '{id}' does not exist or one of its queried reference-property objects are not present."),
    )
}

pub(super) fn em_not_found(id: &str) -> Reply {
    Reply::error(
        404,
        "ResourceNotFound",
        format!("The requested resource '{id}' was not found."),
    )
}

pub(super) fn str_at<'v>(item: &'v Value, pointer: &str) -> Option<&'v str> {
    item.pointer(pointer).and_then(Value::as_str)
}

pub(super) fn assignment_matches(item: &Value, clauses: &[AssignmentClause]) -> bool {
    let same = |pointer: &str, wanted: &str| {
        str_at(item, pointer).is_some_and(|v| v.eq_ignore_ascii_case(wanted))
    };
    clauses.iter().all(|clause| match clause {
        AssignmentClause::State(v) => same("/state", v),
        AssignmentClause::AccessPackageId(v) => same("/accessPackage/id", v),
        AssignmentClause::TargetObjectId(v) => same("/target/objectId", v),
    })
}

pub(super) fn role_matches(item: &Value, clauses: &[RoleClause]) -> bool {
    let same =
        |key: &str, wanted: &str| str_at(item, key).is_some_and(|v| v.eq_ignore_ascii_case(wanted));
    clauses.iter().all(|clause| match clause {
        RoleClause::RoleDefinitionId(v) => same("/roleDefinitionId", v),
        RoleClause::PrincipalId(v) => same("/principalId", v),
    })
}

/// The navigation properties `$expand` names, each checked against those `allowed`
/// (case-insensitive); the names are returned lower-cased.
pub(super) fn expansions(
    query: &ODataQuery,
    allowed: &[&str],
    on: &str,
) -> Result<Vec<String>, Reply> {
    let names = query
        .expand_text
        .as_deref()
        .map(expand_names)
        .unwrap_or_default();
    for name in &names {
        if !allowed.iter().any(|a| a.eq_ignore_ascii_case(name)) {
            return Err(Reply::error(
                400,
                "BadRequest",
                format!(
                    "Could not find a property named '{name}' to expand on '{on}' (fake-graph expands {}).",
                    allowed.join(", ")
                ),
            ));
        }
    }
    Ok(names)
}

/// The `value` array of a list reply, to adjust the items of the page.
pub(super) fn page_items(reply: &mut Reply) -> &mut [Value] {
    match reply.body.as_mut().and_then(|b| b.get_mut("value")) {
        Some(Value::Array(items)) => items,
        _ => &mut [],
    }
}

/// Serves `principal` on a role assignment or schedule when expanded (the stored one if the
/// file holds it, else the user, group or service principal of `principalId` with its
/// `@odata.type`, or `null` when the directory has no such object), and never otherwise.
pub(super) fn set_principal(data: &Data, item: &mut Value, expand: bool) {
    let Value::Object(object) = item else {
        return;
    };
    if !expand {
        object.remove("principal");
        return;
    }
    if object.get("principal").is_some_and(Value::is_object) {
        return;
    }
    let id = object
        .get("principalId")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let found = [
        ("#microsoft.graph.user", data.users.get(id)),
        ("#microsoft.graph.group", data.groups.get(id)),
        (
            "#microsoft.graph.servicePrincipal",
            data.service_principals.get(id),
        ),
    ]
    .into_iter()
    .find_map(|(kind, object)| Some((kind, object?)));
    let principal = match found {
        Some((kind, Value::Object(stored))) => {
            let mut principal = Map::new();
            principal.insert("@odata.type".into(), json!(kind));
            for (key, value) in stored {
                if key != "@odata.type" {
                    principal.insert(key.clone(), value.clone());
                }
            }
            Value::Object(principal)
        }
        _ => Value::Null,
    };
    object.insert("principal".into(), principal);
}

/// Keeps only the navigation properties of an assignment request that `$expand` names.
pub(super) fn trim_request(item: &mut Value, expanded: &[String]) {
    if let Value::Object(object) = item {
        for name in REQUEST_NAVIGATION {
            if !expanded.iter().any(|e| e.eq_ignore_ascii_case(name)) {
                object.remove(name);
            }
        }
    }
}

/// A directory role list: `$filter` on `roleDefinitionId` / `principalId`, `$expand=principal`.
pub(super) fn role_list(
    data: &Data,
    settings: &Settings,
    list: &ListRequest<'_>,
    path: &str,
    items: &[Value],
) -> Result<Reply, Reply> {
    let clauses = match &list.query.filter {
        None => Vec::new(),
        Some(text) => parse_role_filter(text).map_err(|m| Reply::error(400, "BadRequest", m))?,
    };
    let expand = !expansions(list.query, &["principal"], path)?.is_empty();
    let size = list.page_size(settings.page_size)?;
    let context = if expand {
        format!("{path}(principal())")
    } else {
        path.to_string()
    };
    let mut reply = list.page(&context, items, size, |item| role_matches(item, &clauses));
    for item in page_items(&mut reply) {
        set_principal(data, item, expand);
    }
    Ok(reply)
}

/// What `$select` keeps of an item: the top-level properties it names, the navigation
/// properties `$expand` names (Graph serves those alongside the selection), and annotations
/// (`@odata.type`, or `target@odata.context` of a property kept). No `$select`, an empty one
/// or `*`: everything. Names compare case-insensitively.
pub(super) struct Selection {
    selected: Vec<String>,
    expanded: Vec<String>,
}

impl Selection {
    pub(super) fn of(query: &ODataQuery) -> Selection {
        Selection {
            selected: query
                .select_text
                .as_deref()
                .map(select_names)
                .unwrap_or_default(),
            expanded: query
                .expand_text
                .as_deref()
                .map(expand_names)
                .unwrap_or_default(),
        }
    }

    fn selects_all(&self) -> bool {
        self.selected.is_empty() || self.selected.iter().any(|name| name == "*")
    }

    pub(super) fn apply(&self, item: &mut Value) {
        if self.selects_all() {
            return;
        }
        if let Value::Object(object) = item {
            object.retain(|key, _| self.keeps(key));
        }
    }

    fn keeps(&self, key: &str) -> bool {
        let property = match key.split_once('@') {
            Some(("", _)) => return true,
            Some((property, _)) => property,
            None => key,
        };
        self.selected
            .iter()
            .chain(&self.expanded)
            .any(|name| name.eq_ignore_ascii_case(property))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selection_keeps_selected_expanded_and_annotations() {
        let item = json!({
            "@odata.type": "#microsoft.graph.accessPackageAssignment",
            "id": "a1",
            "state": "delivered",
            "status": "Delivered",
            "schedule": {"startDateTime": "2024-01-01T00:00:00Z"},
            "target": {"objectId": "u1", "displayName": "Ann"},
            "target@odata.context": "t",
            "accessPackage": {"id": "p1"},
            "schedule@odata.context": "s",
        });
        let selected = |raw: &str| {
            let mut item = item.clone();
            Selection::of(&ODataQuery::parse(raw).unwrap()).apply(&mut item);
            item
        };
        assert_eq!(
            selected("$select=ID,state&$expand=Target,assignmentPolicy"),
            json!({
                "@odata.type": "#microsoft.graph.accessPackageAssignment",
                "id": "a1",
                "state": "delivered",
                "target": {"objectId": "u1", "displayName": "Ann"},
                "target@odata.context": "t",
            })
        );
        assert_eq!(
            selected("$select=id&$expand=target($select=objectId),accessPackage")
                .as_object()
                .unwrap()
                .keys()
                .map(String::as_str)
                .collect::<std::collections::BTreeSet<_>>(),
            [
                "@odata.type",
                "accessPackage",
                "id",
                "target",
                "target@odata.context"
            ]
            .into()
        );
        // Nested options are not applied: the stored navigation property is served whole.
        assert_eq!(
            selected("$select=id&$expand=target($select=objectId)")["target"],
            item["target"]
        );
        for everything in [
            "",
            "$expand=target",
            "$select=",
            "$select=*",
            "$select=id,*",
        ] {
            assert_eq!(selected(everything), item, "{everything:?}");
        }
    }
}
