//! The directory audit log of the fake Graph server (`GET /v1.0/auditLogs/directoryAudits`,
//! graph-api.md §9): which paths name it, checking and ordering the recorded events, the
//! `$filter` grammar it accepts and matching events against it, and its page size. Pure.
//!
//! The filter grammar: clauses `activityDateTime eq|ge|gt|le|lt <RFC 3339 time, unquoted>`,
//! `activityDisplayName eq '<text>'` and `startswith(activityDisplayName,'<text>')`, combined
//! with `and` / `or` and parentheses, `and` binding tighter than `or`. Property names and
//! operators are case-insensitive, and so are the text comparisons (as Graph's are in
//! practice); `''` inside a quoted value is a quote. Times compare as instants.

use std::cmp::{Ordering, Reverse};

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::query::percent_decode;

/// The list's path below `/v1.0/`, as Graph documents it.
pub const PATH: &str = "auditLogs/directoryAudits";

/// Page size when `$top` is absent.
pub const DEFAULT_TOP: usize = 100;

/// The largest page `$top` can ask for; larger values are capped, not refused (clients
/// commonly send 999 or 1000 and Graph's own maximum is undocumented).
pub const MAX_TOP: usize = 1000;

/// Parentheses nest at most this deep: the parser recurses, and a hostile filter must not
/// exhaust the stack.
const MAX_DEPTH: usize = 32;

/// Whether `path` (below `/v1.0/`, no query) is below `auditLogs/`: the logs and reports APIs,
/// which have their own request limit instead of the directory's resource-unit budget.
pub fn is_audit_log_path(path: &str) -> bool {
    path.trim_start_matches('/')
        .split('/')
        .next()
        .is_some_and(|first| percent_decode(first).eq_ignore_ascii_case("auditLogs"))
}

/// The instant an event happened, when its `activityDateTime` is an RFC 3339 time.
pub fn activity_time(event: &Value) -> Option<DateTime<Utc>> {
    let text = event.get("activityDateTime")?.as_str()?;
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|at| at.with_timezone(&Utc))
}

/// Checks the recorded events (each an object with a string `id` and an RFC 3339
/// `activityDateTime`, since serving them needs both) and orders them as Graph serves them:
/// newest first, events of the same instant by `id`. The file's own order is not trusted.
pub fn check_and_sort(events: &mut [Value]) -> Result<(), String> {
    for (i, event) in events.iter().enumerate() {
        if event.get("id").and_then(Value::as_str).is_none() {
            return Err(format!("item {} of `value` has no string `id`", i + 1));
        }
        if activity_time(event).is_none() {
            return Err(format!(
                "item {} of `value` has no `activityDateTime` in RFC 3339 form (e.g. 2018-01-09T21:20:02.7215374Z)",
                i + 1
            ));
        }
    }
    // Times parsed once per event, not once per comparison: a generated log is large.
    events.sort_by_cached_key(|event| {
        let id = event.get("id").and_then(Value::as_str).map(str::to_owned);
        (Reverse(activity_time(event)), id)
    });
    Ok(())
}

/// The page size of one request: `$top` (at least 1; above [`MAX_TOP`] capped to it) or
/// [`DEFAULT_TOP`], and never more than the server's `max_page_size`.
pub fn page_size(top: Option<u64>, max_page_size: Option<usize>) -> Result<usize, String> {
    let asked = match top {
        None => DEFAULT_TOP,
        Some(0) => {
            return Err("Invalid page size specified: '0'. $top must be at least 1.".into());
        }
        Some(top) => usize::try_from(top).unwrap_or(usize::MAX).min(MAX_TOP),
    };
    Ok(asked.min(max_page_size.unwrap_or(usize::MAX)))
}

/// How `activityDateTime` is compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Comparison {
    Eq,
    Ge,
    Gt,
    Le,
    Lt,
}

impl Comparison {
    fn parse(word: &str) -> Option<Comparison> {
        Some(match word.to_ascii_lowercase().as_str() {
            "eq" => Comparison::Eq,
            "ge" => Comparison::Ge,
            "gt" => Comparison::Gt,
            "le" => Comparison::Le,
            "lt" => Comparison::Lt,
            _ => return None,
        })
    }

    fn holds(self, ordering: Ordering) -> bool {
        match self {
            Comparison::Eq => ordering == Ordering::Equal,
            Comparison::Ge => ordering != Ordering::Less,
            Comparison::Gt => ordering == Ordering::Greater,
            Comparison::Le => ordering != Ordering::Greater,
            Comparison::Lt => ordering == Ordering::Less,
        }
    }
}

/// A parsed audit log `$filter`.
#[derive(Debug, Clone, PartialEq)]
pub enum AuditFilter {
    /// At least one holds.
    Or(Vec<AuditFilter>),
    /// All hold.
    And(Vec<AuditFilter>),
    /// `activityDateTime <comparison> <time>`: the event's instant compared with the time.
    ActivityDateTime(Comparison, DateTime<Utc>),
    /// `activityDisplayName eq '…'`; kept lower-cased (the comparison ignores case).
    ActivityIs(String),
    /// `startswith(activityDisplayName,'…')`; kept lower-cased.
    ActivityStartsWith(String),
}

impl AuditFilter {
    /// Parses a decoded `$filter` value. Errors are Graph-style messages starting with
    /// `Invalid filter clause:`.
    pub fn parse(text: &str) -> Result<AuditFilter, String> {
        let tokens = tokenize(text).map_err(invalid)?;
        let mut parser = Parser { tokens, at: 0 };
        let filter = parser.or_expr(0).map_err(invalid)?;
        match parser.peek() {
            None => Ok(filter),
            Some(token) => Err(invalid(format!(
                "unexpected {token} after a complete filter"
            ))),
        }
    }

    /// Whether a recorded event satisfies the filter. An event without the property a clause
    /// asks about does not satisfy that clause.
    pub fn matches(&self, event: &Value) -> bool {
        let activity = || {
            event
                .get("activityDisplayName")
                .and_then(Value::as_str)
                .map(str::to_lowercase)
        };
        match self {
            AuditFilter::Or(terms) => terms.iter().any(|t| t.matches(event)),
            AuditFilter::And(terms) => terms.iter().all(|t| t.matches(event)),
            AuditFilter::ActivityDateTime(comparison, at) => {
                activity_time(event).is_some_and(|time| comparison.holds(time.cmp(at)))
            }
            AuditFilter::ActivityIs(name) => activity().is_some_and(|a| a == *name),
            AuditFilter::ActivityStartsWith(prefix) => {
                activity().is_some_and(|a| a.starts_with(prefix.as_str()))
            }
        }
    }
}

fn invalid(message: String) -> String {
    format!("Invalid filter clause: {message}")
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Open,
    Close,
    Comma,
    /// A quoted string, unescaped.
    Text(String),
    /// Anything else up to a space, parenthesis, comma or quote: names, operators, times.
    Word(String),
}

impl std::fmt::Display for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Token::Open => f.write_str("`(`"),
            Token::Close => f.write_str("`)`"),
            Token::Comma => f.write_str("`,`"),
            Token::Text(text) => write!(f, "the string '{}'", text.replace('\'', "''")),
            Token::Word(word) => write!(f, "`{word}`"),
        }
    }
}

fn tokenize(text: &str) -> Result<Vec<Token>, String> {
    let mut tokens = Vec::new();
    let mut chars = text.chars().peekable();
    while let Some(&c) = chars.peek() {
        match c {
            _ if c.is_whitespace() => {
                chars.next();
            }
            '(' | ')' | ',' => {
                chars.next();
                tokens.push(match c {
                    '(' => Token::Open,
                    ')' => Token::Close,
                    _ => Token::Comma,
                });
            }
            '\'' => {
                chars.next();
                let mut value = String::new();
                loop {
                    match chars.next() {
                        None => return Err("unterminated string".into()),
                        Some('\'') if chars.peek() == Some(&'\'') => {
                            chars.next();
                            value.push('\'');
                        }
                        Some('\'') => break,
                        Some(other) => value.push(other),
                    }
                }
                tokens.push(Token::Text(value));
            }
            _ => {
                let mut word = String::new();
                while let Some(&c) = chars.peek() {
                    if c.is_whitespace() || matches!(c, '(' | ')' | ',' | '\'') {
                        break;
                    }
                    word.push(c);
                    chars.next();
                }
                tokens.push(Token::Word(word));
            }
        }
    }
    Ok(tokens)
}

/// Recursive descent over the tokens: `or` of `and`s of primaries.
struct Parser {
    tokens: Vec<Token>,
    at: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at)
    }

    fn next(&mut self) -> Option<Token> {
        let token = self.tokens.get(self.at).cloned();
        if token.is_some() {
            self.at += 1;
        }
        token
    }

    fn eat_word(&mut self, keyword: &str) -> bool {
        match self.peek() {
            Some(Token::Word(word)) if word.eq_ignore_ascii_case(keyword) => {
                self.at += 1;
                true
            }
            _ => false,
        }
    }

    fn expect(&mut self, wanted: Token, context: &str) -> Result<(), String> {
        match self.next() {
            Some(token) if token == wanted => Ok(()),
            Some(token) => Err(format!("expected {wanted} {context}, found {token}")),
            None => Err(format!("expected {wanted} {context}, found the end")),
        }
    }

    fn or_expr(&mut self, depth: usize) -> Result<AuditFilter, String> {
        let mut terms = vec![self.and_expr(depth)?];
        while self.eat_word("or") {
            terms.push(self.and_expr(depth)?);
        }
        Ok(join(terms, AuditFilter::Or))
    }

    fn and_expr(&mut self, depth: usize) -> Result<AuditFilter, String> {
        let mut terms = vec![self.primary(depth)?];
        while self.eat_word("and") {
            terms.push(self.primary(depth)?);
        }
        Ok(join(terms, AuditFilter::And))
    }

    fn primary(&mut self, depth: usize) -> Result<AuditFilter, String> {
        match self.next() {
            Some(Token::Open) => {
                if depth >= MAX_DEPTH {
                    return Err(format!("parentheses nest deeper than {MAX_DEPTH}"));
                }
                let inner = self.or_expr(depth + 1)?;
                self.expect(Token::Close, "to close a parenthesis")?;
                Ok(inner)
            }
            Some(Token::Word(word)) if word.eq_ignore_ascii_case("startswith") => {
                self.starts_with()
            }
            Some(Token::Word(property)) => self.comparison(&property),
            Some(token) => Err(format!("expected a property or `(`, found {token}")),
            None => Err("expected a property or `(`, found the end".into()),
        }
    }

    /// `startswith(activityDisplayName,'…')`, after the function name.
    fn starts_with(&mut self) -> Result<AuditFilter, String> {
        self.expect(Token::Open, "after `startswith`")?;
        match self.next() {
            Some(Token::Word(property)) if property.eq_ignore_ascii_case("activityDisplayName") => {
            }
            Some(token) => {
                return Err(format!(
                    "startswith is supported on activityDisplayName only, not on {token}"
                ))
            }
            None => return Err("expected activityDisplayName, found the end".into()),
        }
        self.expect(Token::Comma, "after the property in startswith")?;
        let prefix = match self.next() {
            Some(Token::Text(text)) => text,
            Some(token) => return Err(format!("startswith takes a quoted string, found {token}")),
            None => return Err("startswith takes a quoted string, found the end".into()),
        };
        self.expect(Token::Close, "to close startswith")?;
        Ok(AuditFilter::ActivityStartsWith(prefix.to_lowercase()))
    }

    /// `<property> <operator> <value>`, after the property.
    fn comparison(&mut self, property: &str) -> Result<AuditFilter, String> {
        let operator = match self.next() {
            Some(Token::Word(word)) => word,
            Some(token) => {
                return Err(format!(
                    "expected an operator after `{property}`, found {token}"
                ))
            }
            None => return Err(format!("expected an operator after `{property}`")),
        };
        if property.eq_ignore_ascii_case("activityDateTime") {
            let Some(comparison) = Comparison::parse(&operator) else {
                return Err(format!(
                    "operator `{operator}` is not supported on activityDateTime (eq, ge, gt, le, lt are)"
                ));
            };
            return match self.next() {
                Some(Token::Word(time)) => match DateTime::parse_from_rfc3339(&time) {
                    Ok(at) => Ok(AuditFilter::ActivityDateTime(
                        comparison,
                        at.with_timezone(&Utc),
                    )),
                    Err(e) => Err(format!(
                        "`{time}` is not an RFC 3339 date and time like 2026-11-02T05:00:00Z ({e})"
                    )),
                },
                Some(Token::Text(_)) => Err(
                    "activityDateTime takes an unquoted date and time like 2026-11-02T05:00:00Z"
                        .into(),
                ),
                Some(token) => Err(format!(
                    "expected a date and time after `activityDateTime {operator}`, found {token}"
                )),
                None => Err(format!(
                    "expected a date and time after `activityDateTime {operator}`"
                )),
            };
        }
        if property.eq_ignore_ascii_case("activityDisplayName") {
            if !operator.eq_ignore_ascii_case("eq") {
                return Err(format!(
                    "operator `{operator}` is not supported on activityDisplayName (eq and startswith are)"
                ));
            }
            return match self.next() {
                Some(Token::Text(name)) => Ok(AuditFilter::ActivityIs(name.to_lowercase())),
                Some(token) => Err(format!(
                    "activityDisplayName eq takes a quoted string, found {token}"
                )),
                None => Err("activityDisplayName eq takes a quoted string".into()),
            };
        }
        Err(format!(
            "filtering on `{property}` is not supported (fake-graph filters directoryAudits on activityDateTime and activityDisplayName)"
        ))
    }
}

/// One term stands alone; several are joined.
fn join(mut terms: Vec<AuditFilter>, joined: fn(Vec<AuditFilter>) -> AuditFilter) -> AuditFilter {
    if terms.len() == 1 {
        if let Some(term) = terms.pop() {
            return term;
        }
    }
    joined(terms)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use AuditFilter::*;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    }

    fn event(id: &str, activity: &str, time: &str) -> Value {
        json!({"id": id, "activityDisplayName": activity, "activityDateTime": time})
    }

    #[test]
    fn and_binds_tighter_than_or_and_parentheses_override() {
        let a = "activityDisplayName eq 'a'";
        let b = "activityDisplayName eq 'b'";
        let c = "activityDateTime lt 2026-01-01T00:00:00Z";
        let lt = ActivityDateTime(Comparison::Lt, at("2026-01-01T00:00:00Z"));
        assert_eq!(
            AuditFilter::parse(&format!("{a} or {b} and {c}")).unwrap(),
            Or(vec![
                ActivityIs("a".into()),
                And(vec![ActivityIs("b".into()), lt.clone()])
            ])
        );
        assert_eq!(
            AuditFilter::parse(&format!("({a} OR {b}) AND {c}")).unwrap(),
            And(vec![
                Or(vec![ActivityIs("a".into()), ActivityIs("b".into())]),
                lt.clone()
            ])
        );
        assert_eq!(
            AuditFilter::parse(&format!("{c} and {a} and {b} or (({a}))")).unwrap(),
            Or(vec![
                And(vec![lt, ActivityIs("a".into()), ActivityIs("b".into())]),
                ActivityIs("a".into())
            ])
        );
        // The same event: `a` matches the first form, not the second.
        let late_a = event("1", "A", "2026-06-01T00:00:00Z");
        assert!(AuditFilter::parse(&format!("{a} or {b} and {c}"))
            .unwrap()
            .matches(&late_a));
        assert!(!AuditFilter::parse(&format!("({a} or {b}) and {c}"))
            .unwrap()
            .matches(&late_a));
    }

    #[test]
    fn quotes_functions_and_case() {
        assert_eq!(
            AuditFilter::parse("activityDisplayName eq 'O''Brien''s ''group'''").unwrap(),
            ActivityIs("o'brien's 'group'".into())
        );
        assert_eq!(
            AuditFilter::parse("activitydisplayname EQ ''").unwrap(),
            ActivityIs(String::new())
        );
        assert_eq!(
            AuditFilter::parse(" startswith ( ActivityDisplayName , 'Add (x), y' ) ").unwrap(),
            ActivityStartsWith("add (x), y".into())
        );
        let member = event("1", "Add member to group", "2026-06-01T00:00:00Z");
        for matching in [
            "activityDisplayName eq 'add MEMBER to group'",
            "startswith(activityDisplayName,'ADD ')",
            "startswith(activityDisplayName,'')",
        ] {
            assert!(
                AuditFilter::parse(matching).unwrap().matches(&member),
                "{matching}"
            );
        }
        for other in [
            "activityDisplayName eq 'Add member'",
            "startswith(activityDisplayName,'member')",
        ] {
            assert!(
                !AuditFilter::parse(other).unwrap().matches(&member),
                "{other}"
            );
        }
        assert!(!AuditFilter::parse("activityDisplayName eq 'x'")
            .unwrap()
            .matches(&json!({"id": "1"})));
    }

    #[test]
    fn times_compare_as_instants() {
        // 7 fractional digits, as Graph records them.
        let recorded = event("1", "x", "2018-01-09T21:20:02.7215374Z");
        let holds = |filter: &str| AuditFilter::parse(filter).unwrap().matches(&recorded);
        assert!(holds("activityDateTime eq 2018-01-09T21:20:02.7215374Z"));
        assert!(holds(
            "activityDateTime eq 2018-01-09T23:20:02.72153740+02:00"
        ));
        assert!(holds("activityDateTime gt 2018-01-09T21:20:02Z"));
        assert!(holds("activityDateTime ge 2018-01-09T21:20:02.7215374Z"));
        assert!(holds("activityDateTime le 2018-01-09T21:20:02.7215374Z"));
        assert!(holds("activityDateTime lt 2018-01-09T21:20:02.7215375Z"));
        assert!(!holds("activityDateTime lt 2018-01-09T21:20:02.7215374Z"));
        assert!(!holds("activityDateTime gt 2018-01-09T21:20:02.7215374Z"));
        assert!(!holds("activityDateTime eq 2018-01-09T21:20:02Z"));
        // Ahead of UTC: 22:00+02:00 is 20:00Z, before the event.
        assert!(holds("activityDateTime gt 2018-01-09T22:00:00+02:00"));
        assert!(holds(
            "activityDateTime ge 2018-01-09T00:00:00Z and activityDateTime lt 2018-01-10T00:00:00Z"
        ));
        assert!(
            !AuditFilter::parse("activityDateTime ge 2000-01-01T00:00:00Z")
                .unwrap()
                .matches(&json!({"id": "1", "activityDateTime": "yesterday"}))
        );
    }

    #[test]
    fn errors_are_graph_style_messages() {
        for bad in [
            "",
            "   ",
            "category eq 'UserManagement'",
            "initiatedBy/user/id eq 'x'",
            "activityDisplayName ne 'x'",
            "activityDisplayName eq x",
            "activityDisplayName eq",
            "activityDisplayName eq 'unterminated",
            "activityDateTime ge '2026-11-02T05:00:00Z'",
            "activityDateTime ge 2026-11-02",
            "activityDateTime ge 2026-11-02T05:00:00",
            "activityDateTime ge yesterday",
            "activityDateTime ne 2026-11-02T05:00:00Z",
            "activityDateTime ge",
            "(activityDisplayName eq 'x'",
            "activityDisplayName eq 'x')",
            "activityDisplayName eq 'x' and",
            "activityDisplayName eq 'x' or or activityDisplayName eq 'y'",
            "activityDisplayName eq 'x' activityDisplayName eq 'y'",
            "activityDisplayName eq 'x' xor activityDisplayName eq 'y'",
            "not activityDisplayName eq 'x'",
            "startswith(category,'x')",
            "startswith(activityDisplayName,x)",
            "startswith(activityDisplayName 'x')",
            "startswith(activityDisplayName,'x'",
            "startswith activityDisplayName",
            "endswith(activityDisplayName,'x')",
            "()",
            ",",
            "'x' eq activityDisplayName",
        ] {
            let error = AuditFilter::parse(bad).expect_err(bad);
            assert!(
                error.starts_with("Invalid filter clause: "),
                "{bad:?}: {error}"
            );
        }
        let deep = format!(
            "{}activityDisplayName eq 'x'{}",
            "(".repeat(MAX_DEPTH + 1),
            ")".repeat(MAX_DEPTH + 1)
        );
        assert!(AuditFilter::parse(&deep)
            .unwrap_err()
            .contains("nest deeper"));
        let fine = format!(
            "{}activityDisplayName eq 'x'{}",
            "(".repeat(MAX_DEPTH),
            ")".repeat(MAX_DEPTH)
        );
        assert_eq!(AuditFilter::parse(&fine).unwrap(), ActivityIs("x".into()));
        assert!(AuditFilter::parse("category eq 'x'")
            .unwrap_err()
            .contains("`category`"));
    }

    #[test]
    fn events_are_checked_and_served_newest_first() {
        let mut events = vec![
            event("b", "x", "2026-11-02T05:00:00Z"),
            event("c", "x", "2026-11-02T07:00:00.0000001Z"),
            event("a", "x", "2026-11-02T05:00:00.0000000Z"),
            event("d", "x", "2026-11-02T08:00:00+02:00"),
        ];
        check_and_sort(&mut events).unwrap();
        let ids: Vec<&str> = events.iter().map(|e| e["id"].as_str().unwrap()).collect();
        assert_eq!(ids, ["c", "d", "a", "b"], "06:00Z is d; a and b tie");
        let mut no_time = vec![json!({"id": "x", "activityDateTime": "2026-11-02"})];
        assert!(check_and_sort(&mut no_time)
            .unwrap_err()
            .contains("item 1 of `value` has no `activityDateTime`"));
        let mut no_id = vec![event("a", "x", "2026-11-02T05:00:00Z"), json!([1])];
        assert!(check_and_sort(&mut no_id)
            .unwrap_err()
            .contains("item 2 of `value` has no string `id`"));
    }

    #[test]
    fn page_sizes() {
        assert_eq!(page_size(None, None), Ok(DEFAULT_TOP));
        assert_eq!(page_size(None, Some(7)), Ok(7));
        assert_eq!(page_size(Some(2), None), Ok(2));
        assert_eq!(page_size(Some(999), None), Ok(999));
        assert_eq!(page_size(Some(1000), None), Ok(1000));
        assert_eq!(page_size(Some(5000), None), Ok(MAX_TOP));
        assert_eq!(page_size(Some(u64::MAX), None), Ok(MAX_TOP));
        assert_eq!(page_size(Some(5000), Some(50)), Ok(50));
        assert_eq!(page_size(Some(20), Some(50)), Ok(20));
        assert!(page_size(Some(0), None).is_err());
    }

    #[test]
    fn audit_log_paths() {
        for path in [
            PATH,
            "auditlogs/directoryaudits",
            "/AUDITLOGS/directoryAudits/",
            "auditLogs",
            "audit%4Cogs/signIns",
        ] {
            assert!(is_audit_log_path(path), "{path}");
        }
        for path in ["users", "", "reports/x", "groups/auditLogs"] {
            assert!(!is_audit_log_path(path), "{path}");
        }
    }
}
