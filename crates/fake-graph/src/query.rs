//! OData query handling of the fake Graph server: the query options it understands, the
//! `$filter` grammars of the assignments, role and assignment request lists, `$expand` names,
//! and opaque `$skiptoken` paging tokens. Pure.

/// The OData options of one request. Unknown parameters are kept for nextLinks and ignored.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ODataQuery {
    pub filter: Option<String>,
    pub top: Option<u64>,
    pub select: bool,
    /// The decoded `$select` value, when given.
    pub select_text: Option<String>,
    pub expand: bool,
    /// The decoded `$expand` value, when given.
    pub expand_text: Option<String>,
    pub skiptoken: Option<String>,
    /// The raw (still encoded) query without `$skiptoken`, to rebuild nextLinks from.
    pub raw_without_skiptoken: String,
}

impl ODataQuery {
    /// Parses a raw query string (the part after `?`). A `$top` that is not a number is an error.
    pub fn parse(raw: &str) -> Result<ODataQuery, String> {
        let mut query = ODataQuery::default();
        let mut kept = Vec::new();
        for part in raw.split('&').filter(|p| !p.is_empty()) {
            let (key, value) = part.split_once('=').unwrap_or((part, ""));
            let key = decode_component(key);
            let value = decode_component(value);
            match key.as_str() {
                "$skiptoken" => {
                    query.skiptoken = Some(value);
                    continue;
                }
                "$filter" => query.filter = Some(value),
                "$top" => {
                    let top = value
                        .trim()
                        .parse::<u64>()
                        .map_err(|_| format!("Invalid value '{value}' for $top."))?;
                    query.top = Some(top);
                }
                "$select" => {
                    query.select = true;
                    query.select_text = Some(value);
                }
                "$expand" => {
                    query.expand = true;
                    query.expand_text = Some(value);
                }
                _ => {}
            }
            kept.push(part);
        }
        query.raw_without_skiptoken = kept.join("&");
        Ok(query)
    }
}

/// Decodes a `application/x-www-form-urlencoded` component (`+` is a space).
pub fn decode_component(text: &str) -> String {
    url::form_urlencoded::parse(format!("k={text}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

/// Decodes `%XX` escapes of a path segment (`+` stays a plus).
pub fn percent_decode(segment: &str) -> String {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let (Some(hi), Some(lo)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push((hi * 16 + lo) as u8);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// One clause of the assignments `$filter`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AssignmentClause {
    /// `state eq 'Delivered'`: compared case-insensitively with the stored state.
    State(String),
    /// `accessPackage/id eq '<id>'`
    AccessPackageId(String),
    /// `target/objectId eq '<id>'`
    TargetObjectId(String),
}

/// Parses `<property> eq '<value>' [and …]` for the properties the assignments list supports.
/// Property names and `eq`/`and` are case-insensitive; `''` inside a value is a quote.
pub fn parse_assignment_filter(text: &str) -> Result<Vec<AssignmentClause>, String> {
    let mut rest = text.trim_start();
    let mut clauses = Vec::new();
    loop {
        let (property, after) = take_word(rest);
        rest = after;
        let (op, after) = take_word(rest);
        rest = after;
        if !op.eq_ignore_ascii_case("eq") {
            return Err(format!(
                "Invalid filter clause: expected `eq` after `{property}`."
            ));
        }
        let (value, after) = take_quoted(rest)?;
        rest = after.trim_start();
        let clause = match property.to_ascii_lowercase().as_str() {
            "state" => AssignmentClause::State(value),
            "accesspackage/id" => AssignmentClause::AccessPackageId(value),
            "target/objectid" => AssignmentClause::TargetObjectId(value),
            "" => return Err("Invalid filter clause: a property name is missing.".into()),
            _ => {
                return Err(format!(
                    "Invalid filter clause: filtering on `{property}` is not supported."
                ))
            }
        };
        clauses.push(clause);
        if rest.is_empty() {
            return Ok(clauses);
        }
        let (joiner, after) = take_word(rest);
        if !joiner.eq_ignore_ascii_case("and") {
            return Err(format!(
                "Invalid filter clause: unsupported operator `{joiner}`."
            ));
        }
        rest = after;
    }
}

/// How the clauses of an [`parse_eq_filter`] filter are joined.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Joiner {
    And,
    Or,
}

/// A parsed [`parse_eq_filter`] filter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EqFilter {
    /// `(property as written, value)`
    pub clauses: Vec<(String, String)>,
    /// `None` for a single clause.
    pub joiner: Option<Joiner>,
}

/// Parses `<property> eq '<value>'` clauses joined all with `and` or all with `or` (mixing
/// them is an error). `eq`/`and`/`or` are case-insensitive; `''` inside a
/// value is a quote.
pub fn parse_eq_filter(text: &str) -> Result<EqFilter, String> {
    let mut rest = text.trim_start();
    let mut clauses = Vec::new();
    let mut joined = None;
    loop {
        let (property, after) = take_word(rest);
        if property.is_empty() {
            return Err("Invalid filter clause: a property name is missing.".into());
        }
        rest = after;
        let (op, after) = take_word(rest);
        rest = after;
        if !op.eq_ignore_ascii_case("eq") {
            return Err(format!(
                "Invalid filter clause: expected `eq` after `{property}`."
            ));
        }
        let (value, after) = take_quoted(rest)?;
        rest = after.trim_start();
        clauses.push((property.to_string(), value));
        if rest.is_empty() {
            return Ok(EqFilter {
                clauses,
                joiner: joined,
            });
        }
        let (word, after) = take_word(rest);
        let joiner = if word.eq_ignore_ascii_case("and") {
            Joiner::And
        } else if word.eq_ignore_ascii_case("or") {
            Joiner::Or
        } else {
            return Err(format!(
                "Invalid filter clause: unsupported operator `{word}`."
            ));
        };
        if joined.is_some_and(|j| j != joiner) {
            return Err("Invalid filter clause: `and` and `or` cannot be mixed here.".into());
        }
        joined = Some(joiner);
        rest = after;
    }
}

/// A clause of the `roleAssignments` / `roleEligibilitySchedules` `$filter`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RoleClause {
    RoleDefinitionId(String),
    PrincipalId(String),
}

/// `roleDefinitionId eq '<id>'`, `principalId eq '<id>'`, or both joined with `and`
/// (property names case-insensitive).
pub fn parse_role_filter(text: &str) -> Result<Vec<RoleClause>, String> {
    let EqFilter { clauses, joiner } = parse_eq_filter(text)?;
    if joiner == Some(Joiner::Or) {
        return Err("Invalid filter clause: only `and` joins clauses on directory roles.".into());
    }
    clauses
        .into_iter()
        .map(
            |(property, value)| match property.to_ascii_lowercase().as_str() {
                "roledefinitionid" => Ok(RoleClause::RoleDefinitionId(value)),
                "principalid" => Ok(RoleClause::PrincipalId(value)),
                _ => Err(format!(
                    "Invalid filter clause: filtering on `{property}` is not supported."
                )),
            },
        )
        .collect()
}

/// `state eq '<state>'`, or several joined with `or`: the states asked for (compared
/// case-insensitively by the caller).
pub fn parse_request_filter(text: &str) -> Result<Vec<String>, String> {
    let EqFilter { clauses, joiner } = parse_eq_filter(text)?;
    if joiner == Some(Joiner::And) {
        return Err("Invalid filter clause: only `or` joins state clauses.".into());
    }
    clauses
        .into_iter()
        .map(|(property, value)| {
            if property.eq_ignore_ascii_case("state") {
                Ok(value)
            } else {
                Err(format!(
                    "Invalid filter clause: filtering on `{property}` is not supported."
                ))
            }
        })
        .collect()
}

/// The navigation properties named by an `$expand` value, lower-cased, without their nested
/// options: `assignment($expand=target),accessPackage` → `["assignment", "accesspackage"]`.
pub fn expand_names(text: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut depth = 0usize;
    let mut current = String::new();
    for c in text.chars() {
        match c {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                names.push(current.trim().to_ascii_lowercase());
                current.clear();
            }
            _ if depth == 0 => current.push(c),
            _ => {}
        }
    }
    names.push(current.trim().to_ascii_lowercase());
    names.retain(|n| !n.is_empty());
    names
}

/// The properties a `$select` value names, lower-cased: `id, State` → `["id", "state"]`.
pub fn select_names(text: &str) -> Vec<String> {
    text.split(',')
        .map(|name| name.trim().to_ascii_lowercase())
        .filter(|name| !name.is_empty())
        .collect()
}

fn take_word(text: &str) -> (&str, &str) {
    let text = text.trim_start();
    let end = text.find(char::is_whitespace).unwrap_or(text.len());
    (&text[..end], text[end..].trim_start())
}

fn take_quoted(text: &str) -> Result<(String, &str), String> {
    let Some(body) = text.strip_prefix('\'') else {
        return Err("Invalid filter clause: a value must be a quoted string.".into());
    };
    let mut value = String::new();
    let mut chars = body.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if c == '\'' {
            if chars.peek().is_some_and(|&(_, next)| next == '\'') {
                chars.next();
                value.push('\'');
                continue;
            }
            return Ok((value, &body[i + 1..]));
        }
        value.push(c);
    }
    Err("Invalid filter clause: unterminated string.".into())
}

/// Where a page starts: its 1-based number and the position in the stored collection at
/// which to resume scanning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageCursor {
    pub page: u32,
    pub index: usize,
}

impl PageCursor {
    pub const FIRST: PageCursor = PageCursor { page: 1, index: 0 };

    /// An opaque token: `fg` and the hex of `<page>:<index>`.
    pub fn encode(self) -> String {
        let plain = format!("{}:{}", self.page, self.index);
        let mut token = String::from("fg");
        for byte in plain.bytes() {
            token.push_str(&format!("{byte:02x}"));
        }
        token
    }

    pub fn decode(token: &str) -> Option<PageCursor> {
        let hex = token.strip_prefix("fg")?;
        if hex.len() % 2 != 0 || hex.len() > 80 {
            return None;
        }
        let bytes: Option<Vec<u8>> = (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
            .collect();
        let plain = String::from_utf8(bytes?).ok()?;
        let (page, index) = plain.split_once(':')?;
        let page: u32 = page.parse().ok()?;
        (page >= 2).then_some(())?;
        Some(PageCursor {
            page,
            index: index.parse().ok()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use AssignmentClause::*;

    #[test]
    fn filters() {
        assert_eq!(
            parse_assignment_filter("state eq 'Delivered'").unwrap(),
            vec![State("Delivered".into())]
        );
        assert_eq!(
            parse_assignment_filter(
                " accessPackage/id eq 'P1' and TARGET/OBJECTID eq 'u1'  AND state Eq 'delivered' "
            )
            .unwrap(),
            vec![
                AccessPackageId("P1".into()),
                TargetObjectId("u1".into()),
                State("delivered".into())
            ]
        );
        assert_eq!(
            parse_assignment_filter("target/objectId eq 'o''brien'").unwrap(),
            vec![TargetObjectId("o'brien".into())]
        );
        for bad in [
            "",
            "state ne 'Delivered'",
            "state eq Delivered",
            "state eq 'Delivered",
            "status eq 'Delivered'",
            "state eq 'Delivered' or state eq 'expired'",
            "state eq 'Delivered' and",
            "startswith(state, 'D')",
        ] {
            assert!(parse_assignment_filter(bad).is_err(), "{bad:?} should fail");
        }
    }

    #[test]
    fn role_and_request_filters() {
        use RoleClause::*;
        assert_eq!(
            parse_role_filter("roleDefinitionId eq 'R1'").unwrap(),
            vec![RoleDefinitionId("R1".into())]
        );
        assert_eq!(
            parse_role_filter("principalid EQ 'p' AND roleDefinitionId eq 'r'").unwrap(),
            vec![PrincipalId("p".into()), RoleDefinitionId("r".into())]
        );
        for bad in [
            "",
            "roleDefinitionId eq 'a' or roleDefinitionId eq 'b'",
            "directoryScopeId eq '/'",
            "roleDefinitionId ne 'a'",
            "roleDefinitionId eq 'a' and",
        ] {
            assert!(parse_role_filter(bad).is_err(), "{bad:?} should fail");
        }
        assert_eq!(
            parse_request_filter("state eq 'deliveryFailed' or State eq 'PartiallyDelivered'")
                .unwrap(),
            ["deliveryFailed", "PartiallyDelivered"]
        );
        assert_eq!(
            parse_request_filter("state eq 'denied'").unwrap(),
            ["denied"]
        );
        for bad in [
            "state eq 'a' and state eq 'b'",
            "state eq 'a' or state eq 'b' and state eq 'c'",
            "requestType eq 'userAdd'",
            "state eq a",
        ] {
            assert!(parse_request_filter(bad).is_err(), "{bad:?} should fail");
        }
    }

    #[test]
    fn expand_name_lists() {
        assert_eq!(expand_names("principal"), ["principal"]);
        assert_eq!(
            expand_names(" assignment($expand=target,accessPackage) , Requestor"),
            ["assignment", "requestor"]
        );
        assert!(expand_names("").is_empty());
        assert_eq!(
            select_names(" id,State , ,target"),
            ["id", "state", "target"]
        );
        assert!(select_names("").is_empty());
    }

    #[test]
    fn query_options() {
        let q = ODataQuery::parse(
            "$filter=state%20eq%20'Delivered'&$top=5&$select=id&$skiptoken=abc&x=1",
        )
        .unwrap();
        assert_eq!(q.filter.as_deref(), Some("state eq 'Delivered'"));
        assert_eq!(q.top, Some(5));
        assert!(q.select && !q.expand);
        assert_eq!(q.select_text.as_deref(), Some("id"));
        assert_eq!(q.skiptoken.as_deref(), Some("abc"));
        assert_eq!(
            q.raw_without_skiptoken,
            "$filter=state%20eq%20'Delivered'&$top=5&$select=id&x=1"
        );
        let q = ODataQuery::parse("%24expand=target&$filter=state+eq+'x'").unwrap();
        assert!(q.expand);
        assert_eq!(q.expand_text.as_deref(), Some("target"));
        assert_eq!(q.filter.as_deref(), Some("state eq 'x'"));
        assert!(ODataQuery::parse("$top=ten").is_err());
        assert_eq!(ODataQuery::parse("").unwrap(), ODataQuery::default());
    }

    #[test]
    fn page_tokens_round_trip_and_reject_garbage() {
        let cursor = PageCursor {
            page: 7,
            index: 12345,
        };
        let token = cursor.encode();
        assert!(token.starts_with("fg") && token.chars().all(|c| c.is_ascii_alphanumeric()));
        assert_eq!(PageCursor::decode(&token), Some(cursor));
        for bad in [
            "",
            "fg",
            "fg3",
            "xx373a31",
            "fgzz",
            &PageCursor { page: 1, index: 0 }.encode(),
        ] {
            assert_eq!(PageCursor::decode(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn path_segments_decode() {
        assert_eq!(percent_decode("a%40b.example"), "a@b.example");
        assert_eq!(percent_decode("%24batch"), "$batch");
        assert_eq!(percent_decode("50%"), "50%");
        assert_eq!(percent_decode("x%2"), "x%2");
        assert_eq!(percent_decode("a+b"), "a+b");
    }
}
