//! The `allowed_signers` trust policy (format of `man ssh-keygen`, ALLOWED SIGNERS): parsing and decisions.
//!
//! Semantics follow OpenSSH's sshsig.c so a file behaves the same for us, git and `ssh-keygen -Y verify`:
//! principals and namespaces are pattern-lists (`*`, `?`, `!negation`), a line grants access only if principal,
//! key, namespace and validity window all match, and times without `Z`/`UTC` are local time. Deliberate
//! differences, all stricter: the whole file must parse (OpenSSH skips lines after the one it needs), and
//! `cert-authority` lines are refused because this tool does not verify certificate signatures.

use std::path::{Path, PathBuf};
use std::str::FromStr;

use chrono::{DateTime, Local, NaiveDate, TimeZone, Utc};
use ssh_key::{Algorithm, PublicKey};

use super::sshsig::{fingerprint, verify};
use super::TrustError;

/// Outcome of [`AllowedSigners::verify_for`]: the signature is valid and its key may sign as `principal`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    pub principal: String,
    /// `SHA256:…` fingerprint of the signing key.
    pub fingerprint: String,
}

/// A parsed allowed_signers file.
#[derive(Debug, Clone)]
pub struct AllowedSigners {
    path: PathBuf,
    entries: Vec<Entry>,
}

#[derive(Debug, Clone)]
struct Entry {
    line: usize,
    principals: PatternList,
    key: PublicKey,
    namespaces: Option<PatternList>,
    valid_after: Option<DateTime<Utc>>,
    valid_before: Option<DateTime<Utc>>,
}

/// OpenSSH pattern-list: comma-separated globs, `!` negates; a negated hit vetoes any positive hit.
#[derive(Debug, Clone)]
struct PatternList(Vec<(bool, String)>);

impl PatternList {
    fn parse(text: &str) -> Result<Self, String> {
        let mut items = Vec::new();
        for item in text.split(',') {
            let (negated, pattern) = match item.strip_prefix('!') {
                Some(rest) => (true, rest),
                None => (false, item),
            };
            if pattern.is_empty() {
                return Err(format!("empty entry in list \"{text}\""));
            }
            items.push((negated, pattern.to_string()));
        }
        Ok(Self(items))
    }

    fn matches(&self, candidate: &str) -> bool {
        let mut positive = false;
        for (negated, pattern) in &self.0 {
            if glob_match(pattern, candidate) {
                if *negated {
                    return false;
                }
                positive = true;
            }
        }
        positive
    }

    fn positives(&self) -> impl Iterator<Item = &str> {
        self.0
            .iter()
            .filter(|(neg, _)| !neg)
            .map(|(_, p)| p.as_str())
    }
}

/// `*` = any run, `?` = any one character, everything else literal (OpenSSH match_pattern, case-sensitive).
/// Iterative with single-star backtracking, so hostile patterns cost O(pattern × text), not exponential time.
fn glob_match(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0usize, 0usize);
    let mut backtrack: Option<(usize, usize)> = None;
    while ti < t.len() {
        match p.get(pi) {
            Some('*') => {
                backtrack = Some((pi, ti));
                pi += 1;
            }
            Some(&c) if c == '?' || c == t[ti] => {
                pi += 1;
                ti += 1;
            }
            _ => match backtrack {
                Some((star, start)) => {
                    pi = star + 1;
                    ti = start + 1;
                    backtrack = Some((star, start + 1));
                }
                None => return false,
            },
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

/// One allowed_signers line for `principal`'s `key`, limited to `namespace` and, when given, to
/// signatures made before the UTC day `valid_before` (`YYYYMMDD`). The principal must be one
/// plain name: in that field OpenSSH reads commas as a list, `*` and `?` as globs and `!` as a
/// negation, so such a name would allow someone else.
pub fn entry_line(
    principal: &str,
    key: &PublicKey,
    namespace: &str,
    valid_before: Option<&str>,
) -> Result<String, String> {
    if principal.is_empty()
        || principal.starts_with('#')
        || principal
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || ",*?!\"'".contains(c))
    {
        return Err(format!(
            "principal `{}` must be one plain name (no spaces, commas, quotes, `*`, `?` or `!`), as approvals name the approver",
            principal.escape_debug()
        ));
    }
    let mut options = format!("namespaces=\"{namespace}\"");
    if let Some(day) = valid_before {
        let well_formed = day.len() == 8 && day.bytes().all(|b| b.is_ascii_digit());
        if !well_formed || chrono::NaiveDate::parse_from_str(day, "%Y%m%d").is_err() {
            return Err(format!(
                "--valid-before `{}` is not a day written YYYYMMDD",
                day.escape_debug()
            ));
        }
        options.push_str(&format!(",valid-before=\"{day}\""));
    }
    let mut bare = key.clone();
    bare.set_comment("");
    let key_text = bare
        .to_openssh()
        .map_err(|e| format!("cannot write the key: {e}"))?;
    Ok(format!("{principal} {options} {}", key_text.trim_end()))
}

impl AllowedSigners {
    /// The line that already allows `principal` to sign with `key` in `namespace` (whatever
    /// its validity period), if any.
    pub fn line_allowing(
        &self,
        principal: &str,
        key: &PublicKey,
        namespace: &str,
    ) -> Option<usize> {
        self.entries
            .iter()
            .find(|entry| {
                entry.key.key_data() == key.key_data()
                    && entry.principals.matches(principal)
                    && entry
                        .namespaces
                        .as_ref()
                        .is_none_or(|names| names.matches(namespace))
            })
            .map(|entry| entry.line)
    }
}

/// An allowed_signers file of more than this is no policy a person keeps (ten thousand keys
/// fit in a few megabytes).
const MAX_ALLOWED_SIGNERS_BYTES: u64 = 16 << 20;

impl AllowedSigners {
    /// Reads and parses `path`.
    pub fn load(path: &Path) -> Result<Self, TrustError> {
        let bytes = entra_model::input::read_bytes_max(path, MAX_ALLOWED_SIGNERS_BYTES)?;
        let text = String::from_utf8(bytes).map_err(|e| {
            let line = 1 + e.as_bytes()[..e.utf8_error().valid_up_to()]
                .iter()
                .filter(|&&b| b == b'\n')
                .count();
            TrustError::AllowedSignersSyntax {
                path: path.to_path_buf(),
                line,
                reason: "not valid UTF-8".to_string(),
            }
        })?;
        Self::parse(path, &text)
    }

    /// Parses allowed_signers text; `path` is used only to name the source in errors.
    pub fn parse(path: &Path, text: &str) -> Result<Self, TrustError> {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let mut entries = Vec::new();
        for (index, raw) in text.split('\n').enumerate() {
            let line = index + 1;
            let raw = raw.strip_suffix('\r').unwrap_or(raw);
            match parse_line(raw) {
                Ok(Some((principals, options, key))) => entries.push(Entry {
                    line,
                    principals,
                    key,
                    namespaces: options.namespaces,
                    valid_after: options.valid_after,
                    valid_before: options.valid_before,
                }),
                Ok(None) => {}
                Err(LineError::CertAuthority) => {
                    return Err(TrustError::CertAuthorityUnsupported {
                        path: path.to_path_buf(),
                        line,
                    })
                }
                Err(LineError::Syntax(reason)) => {
                    return Err(TrustError::AllowedSignersSyntax {
                        path: path.to_path_buf(),
                        line,
                        reason,
                    })
                }
            }
        }
        Ok(Self {
            path: path.to_path_buf(),
            entries,
        })
    }

    /// The file this policy came from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Number of key lines (comments and blank lines excluded).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Decides whether `key` may sign as `principal` in `namespace` at time `at`.
    ///
    /// When no line grants it, the refusal names the closest miss: a line for this principal and key that
    /// failed only on time, else one that failed on namespace, else "not listed".
    pub fn check(
        &self,
        principal: &str,
        key: &PublicKey,
        namespace: &str,
        at: DateTime<Utc>,
    ) -> Result<(), TrustError> {
        let mut wrong_namespace: Option<&Entry> = None;
        let mut wrong_time: Option<&Entry> = None;
        // An empty principal would match a bare `*` line; nobody means that, so it matches nothing.
        if !principal.is_empty() {
            for entry in self.entries_for_key(key) {
                if !entry.principals.matches(principal) {
                    continue;
                }
                if !entry.namespace_allows(namespace) {
                    wrong_namespace.get_or_insert(entry);
                } else if !entry.valid_at(at) {
                    wrong_time.get_or_insert(entry);
                } else {
                    return Ok(());
                }
            }
        }
        let fingerprint = fingerprint(key);
        if let Some(entry) = wrong_time {
            return Err(TrustError::OutsideValidity {
                path: self.path.clone(),
                line: entry.line,
                principal: principal.to_string(),
                fingerprint,
                at,
                valid_after: entry.valid_after,
                valid_before: entry.valid_before,
            });
        }
        if let Some(entry) = wrong_namespace {
            return Err(TrustError::NamespaceNotAllowed {
                path: self.path.clone(),
                line: entry.line,
                principal: principal.to_string(),
                fingerprint,
                namespace: namespace.to_string(),
            });
        }
        Err(TrustError::KeyNotAllowed {
            path: self.path.clone(),
            principal: principal.to_string(),
            fingerprint,
        })
    }

    /// Principal patterns `key` may sign as in `namespace` at `at`, in file order without duplicates
    /// (like `ssh-keygen -Y find-principals`; entries may be wildcards such as `*@example.com`).
    pub fn principals_for(
        &self,
        key: &PublicKey,
        namespace: &str,
        at: DateTime<Utc>,
    ) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for entry in self.entries_for_key(key) {
            if !entry.namespace_allows(namespace) || !entry.valid_at(at) {
                continue;
            }
            for principal in entry.principals.positives() {
                if !out.iter().any(|p| p == principal) {
                    out.push(principal.to_string());
                }
            }
        }
        out
    }

    /// Verifies the signature cryptographically, then applies this policy to its key.
    pub fn verify_for(
        &self,
        principal: &str,
        signature_armored: &str,
        namespace: &str,
        message: &[u8],
        at: DateTime<Utc>,
    ) -> Result<Verified, TrustError> {
        let key = verify(signature_armored, namespace, message)?;
        self.check(principal, &key, namespace, at)?;
        Ok(Verified {
            principal: principal.to_string(),
            fingerprint: fingerprint(&key),
        })
    }

    fn entries_for_key<'a>(&'a self, key: &'a PublicKey) -> impl Iterator<Item = &'a Entry> + 'a {
        // Comments are not part of a key's identity; compare only the key material.
        self.entries
            .iter()
            .filter(move |e| e.key.key_data() == key.key_data())
    }
}

impl Entry {
    fn namespace_allows(&self, namespace: &str) -> bool {
        self.namespaces
            .as_ref()
            .is_none_or(|list| list.matches(namespace))
    }

    /// Both bounds inclusive, as in OpenSSH.
    fn valid_at(&self, at: DateTime<Utc>) -> bool {
        self.valid_after.is_none_or(|after| at >= after)
            && self.valid_before.is_none_or(|before| at <= before)
    }
}

enum LineError {
    CertAuthority,
    Syntax(String),
}

impl From<String> for LineError {
    fn from(reason: String) -> Self {
        LineError::Syntax(reason)
    }
}

#[derive(Default)]
struct Options {
    namespaces: Option<PatternList>,
    valid_after: Option<DateTime<Utc>>,
    valid_before: Option<DateTime<Utc>>,
}

fn is_blank(c: char) -> bool {
    c == ' ' || c == '\t'
}

/// `principals [options] keytype base64 [comment]`; `Ok(None)` for blank and comment lines.
fn parse_line(raw: &str) -> Result<Option<(PatternList, Options, PublicKey)>, LineError> {
    let line = raw.trim_start_matches(is_blank);
    if line.is_empty() || line.starts_with('#') {
        return Ok(None);
    }
    // Typically two files concatenated with `cat`; left alone it would silently become part of a principal.
    if line.contains('\u{feff}') {
        return Err("byte order mark (U+FEFF) not at the start of the file"
            .to_string()
            .into());
    }

    let (principals_text, rest) = split_principals(line)?;
    if looks_like_key_type(principals_text) && !principals_text.contains('@') {
        return Err(format!(
            "line starts with key type \"{principals_text}\"; the principals field is missing"
        )
        .into());
    }
    let principals = PatternList::parse(principals_text).map_err(|e| format!("principals: {e}"))?;

    let rest = rest.trim_start_matches(is_blank);
    let (first, after_first) = split_options_token(rest)?;
    if first.is_empty() {
        return Err("missing public key after principals".to_string().into());
    }
    // OpenSSH tries the field as a key first and only then as options; key type names never contain
    // `=` or quotes, so "is it a known algorithm name" draws the same line.
    let (options, key_text) = if looks_like_key_type(first) {
        (Options::default(), rest)
    } else {
        let options = parse_options(first)?;
        let key_text = after_first.trim_start_matches(is_blank);
        if key_text.is_empty() {
            return Err("missing public key after options".to_string().into());
        }
        (options, key_text)
    };
    Ok(Some((principals, options, parse_key(key_text)?)))
}

fn looks_like_key_type(token: &str) -> bool {
    !token.contains(['=', '"', ',']) && Algorithm::from_str(token).is_ok()
}

/// The principals field may be double-quoted (no escapes, as in OpenSSH's strdelimw).
fn split_principals(line: &str) -> Result<(&str, &str), String> {
    if let Some(quoted) = line.strip_prefix('"') {
        let end = quoted
            .find('"')
            .ok_or_else(|| "unterminated quote in principals".to_string())?;
        let (value, rest) = (&quoted[..end], &quoted[end + 1..]);
        if !rest.is_empty() && !rest.starts_with(is_blank) {
            return Err("unexpected text after quoted principals".to_string());
        }
        if value.is_empty() {
            return Err("empty principals".to_string());
        }
        return Ok((value, rest));
    }
    let end = line.find(is_blank).unwrap_or(line.len());
    let (value, rest) = line.split_at(end);
    if rest.trim_start_matches(is_blank).is_empty() {
        return Err("missing public key after principals".to_string());
    }
    Ok((value, rest))
}

/// Splits off the next field, where blanks inside double quotes do not end it (options may quote values).
fn split_options_token(text: &str) -> Result<(&str, &str), String> {
    let mut in_quotes = false;
    let mut escaped = false;
    for (i, c) in text.char_indices() {
        if escaped {
            escaped = false;
            continue;
        }
        match c {
            '\\' if in_quotes => escaped = true,
            '"' => in_quotes = !in_quotes,
            c if is_blank(c) && !in_quotes => return Ok((&text[..i], &text[i..])),
            _ => {}
        }
    }
    if in_quotes {
        return Err("unterminated quote in options".to_string());
    }
    Ok((text, ""))
}

fn parse_options(text: &str) -> Result<Options, LineError> {
    let mut parsed = Options::default();
    let mut rest = text;
    loop {
        let name_end = rest.find(['=', ',']).unwrap_or(rest.len());
        let name = rest[..name_end].to_ascii_lowercase();
        rest = &rest[name_end..];
        match name.as_str() {
            "cert-authority" => return Err(LineError::CertAuthority),
            "namespaces" | "valid-after" | "valid-before" => {
                let after_eq = rest
                    .strip_prefix('=')
                    .ok_or_else(|| format!("option \"{name}\" needs a value"))?;
                let (value, remaining) = take_option_value(after_eq)?;
                rest = remaining;
                apply_option(&name, &value, &mut parsed)?;
            }
            "" => return Err("empty option".to_string().into()),
            other => return Err(format!("unsupported option \"{other}\"").into()),
        }
        match rest.strip_prefix(',') {
            None if rest.is_empty() => break,
            None => return Err(format!("unexpected text \"{rest}\" after option").into()),
            Some("") => return Err("options end with a comma".to_string().into()),
            Some(next) => rest = next,
        }
    }
    if let (Some(after), Some(before)) = (parsed.valid_after, parsed.valid_before) {
        if before <= after {
            return Err("valid-before is not later than valid-after"
                .to_string()
                .into());
        }
    }
    Ok(parsed)
}

/// Quoted values may contain commas and `\"`; unquoted ones run to the next comma.
fn take_option_value(text: &str) -> Result<(String, &str), String> {
    let Some(quoted) = text.strip_prefix('"') else {
        let end = text.find(',').unwrap_or(text.len());
        return Ok((text[..end].to_string(), &text[end..]));
    };
    let mut value = String::new();
    let mut chars = quoted.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' if quoted[i + 1..].starts_with('"') => {
                value.push('"');
                chars.next();
            }
            '"' => return Ok((value, &quoted[i + 1..])),
            _ => value.push(c),
        }
    }
    Err("unterminated quote in option value".to_string())
}

fn apply_option(name: &str, value: &str, parsed: &mut Options) -> Result<(), String> {
    let duplicate = || format!("option \"{name}\" given more than once");
    match name {
        "namespaces" => {
            if parsed.namespaces.is_some() {
                return Err(duplicate());
            }
            let list = PatternList::parse(value).map_err(|e| format!("namespaces: {e}"))?;
            parsed.namespaces = Some(list);
        }
        "valid-after" => {
            if parsed.valid_after.is_some() {
                return Err(duplicate());
            }
            parsed.valid_after = Some(parse_time(value).map_err(|e| format!("valid-after: {e}"))?);
        }
        _ => {
            if parsed.valid_before.is_some() {
                return Err(duplicate());
            }
            parsed.valid_before =
                Some(parse_time(value).map_err(|e| format!("valid-before: {e}"))?);
        }
    }
    Ok(())
}

/// `YYYYMMDD[Z]`, `YYYYMMDDHHMM[Z]` or `YYYYMMDDHHMMSS[Z]`; `Z` or `UTC` (any case) means UTC, otherwise the
/// machine's local time zone, as OpenSSH's parse_absolute_time does.
fn parse_time(value: &str) -> Result<DateTime<Utc>, String> {
    let bad = || format!("\"{value}\" is not YYYYMMDD[HHMM[SS]][Z]");
    let lower = value.to_ascii_lowercase();
    let (digits, utc) = if let Some(d) = lower.strip_suffix("utc") {
        (d, true)
    } else if let Some(d) = lower.strip_suffix('z') {
        (d, true)
    } else {
        (lower.as_str(), false)
    };
    if !matches!(digits.len(), 8 | 12 | 14) || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let num = |range: std::ops::Range<usize>| -> Result<u32, String> {
        digits
            .get(range)
            .unwrap_or("")
            .parse::<u32>()
            .map_err(|_| bad())
    };
    let year = i32::try_from(num(0..4)?).map_err(|_| bad())?;
    let (hour, minute, second) = match digits.len() {
        8 => (0, 0, 0),
        12 => (num(8..10)?, num(10..12)?, 0),
        _ => (num(8..10)?, num(10..12)?, num(12..14)?),
    };
    let naive = NaiveDate::from_ymd_opt(year, num(4..6)?, num(6..8)?)
        .and_then(|d| d.and_hms_opt(hour, minute, second))
        .ok_or_else(|| format!("\"{value}\" is not a valid date and time"))?;
    let instant = if utc {
        Utc.from_utc_datetime(&naive)
    } else {
        Local
            .from_local_datetime(&naive)
            .earliest()
            .ok_or_else(|| format!("\"{value}\" does not exist in the local time zone"))?
            .with_timezone(&Utc)
    };
    if instant.timestamp() <= 0 {
        return Err(format!("\"{value}\" is not after 1970"));
    }
    Ok(instant)
}

/// `keytype base64 [comment]`; the comment may contain blanks and is ignored.
fn parse_key(text: &str) -> Result<PublicKey, String> {
    let mut fields = text.split(is_blank).filter(|f| !f.is_empty());
    let key_type = fields.next().unwrap_or("");
    let base64 = fields
        .next()
        .ok_or_else(|| format!("key type \"{key_type}\" without base64 key data"))?;
    if key_type.ends_with("-cert-v01@openssh.com") {
        return Err("certificates are not supported; list the plain public key".to_string());
    }
    PublicKey::from_openssh(&format!("{key_type} {base64}"))
        .map_err(|e| format!("invalid {key_type} public key: {e}"))
}

#[cfg(test)]
#[path = "allowed_signers_tests.rs"]
mod tests;
