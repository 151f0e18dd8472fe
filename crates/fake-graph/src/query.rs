//! OData query handling of the fake Graph server: the query options it understands, the
//! `$filter` grammar of the assignments list, and opaque `$skiptoken` paging tokens. Pure.

/// The OData options of one request. Unknown parameters are kept for nextLinks and ignored.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ODataQuery {
    pub filter: Option<String>,
    pub top: Option<u64>,
    pub select: bool,
    pub expand: bool,
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
                "$select" => query.select = true,
                "$expand" => query.expand = true,
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
    fn query_options() {
        let q = ODataQuery::parse(
            "$filter=state%20eq%20'Delivered'&$top=5&$select=id&$skiptoken=abc&x=1",
        )
        .unwrap();
        assert_eq!(q.filter.as_deref(), Some("state eq 'Delivered'"));
        assert_eq!(q.top, Some(5));
        assert!(q.select && !q.expand);
        assert_eq!(q.skiptoken.as_deref(), Some("abc"));
        assert_eq!(
            q.raw_without_skiptoken,
            "$filter=state%20eq%20'Delivered'&$top=5&$select=id&x=1"
        );
        let q = ODataQuery::parse("%24expand=target&$filter=state+eq+'x'").unwrap();
        assert!(q.expand);
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
