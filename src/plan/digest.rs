//! The plan's digests: over its items, over the findings they were made of, and over the
//! whole plan as canonical JSON (what approvals sign, and what `jq` recomputes).

use polars::prelude::DataFrame;

use super::Plan;
use super::PlanItem;
use crate::audit::col;
use crate::audit::rows::StringRows;
use crate::error::Result;

/// Digest over the items' canonical JSON (field order is the struct's, so it is stable).
pub fn items_digest(items: &[PlanItem]) -> String {
    let mut digester = crate::files::Digester::default();
    // Serialising plain strings and vectors cannot fail, nor can writing to a hash.
    serde_json::to_writer(&mut digester, items).expect("plan items serialise");
    digester.finish()
}

/// Digest over the findings' required columns, one `\x1f`-separated line per finding, in the
/// findings' (deterministic) order: stable across report cosmetics.
pub fn findings_digest(findings: &DataFrame) -> Result<String> {
    let rows = StringRows::new(findings, &col::REQUIRED)?;
    let mut hasher = crate::files::Digester::default();
    for row in rows.iter() {
        for (index, cell) in row.iter().enumerate() {
            if index > 0 {
                hasher.update(b"\x1f");
            }
            hasher.update(cell.as_bytes());
        }
        hasher.update(b"\n");
    }
    Ok(hasher.finish())
}

impl Plan {
    /// The plan digest: `sha256:` over the plan without its approvals and revocations, as
    /// canonical JSON (object keys sorted by code point, no whitespace, strings escaped as jq
    /// escapes them). It covers the format, version, tenant, times, snapshot, run, findings
    /// digest and items; a third party recomputes it with
    /// `jq -cjS 'del(.approvals, .revocations)' plan.json | sha256sum`.
    pub fn digest(&self) -> String {
        // A struct of strings, numbers and dates always serialises.
        let mut value = serde_json::to_value(self).unwrap_or_default();
        if let serde_json::Value::Object(map) = &mut value {
            map.remove("approvals");
            map.remove("revocations");
        }
        // Straight into the hash: a large plan's canonical text is hundreds of MB.
        let mut digester = crate::files::Digester::default();
        write_canonical(&value, &mut digester);
        digester.finish()
    }
}

/// Canonical JSON: object keys sorted by code point, no whitespace, strings escaped as both
/// serde_json and jq escape them (`"`, `\\`, the short escapes, other controls as `\u00xx`),
/// and DEL as `\u007f`, which jq escapes and serde_json does not.
fn write_canonical(value: &serde_json::Value, out: &mut impl std::io::Write) {
    // Writing to memory or to a hash cannot fail; nothing else is written to.
    let put = |out: &mut dyn std::io::Write, bytes: &[u8]| {
        out.write_all(bytes)
            .expect("canonical JSON is written to memory");
    };
    match value {
        serde_json::Value::Object(map) => {
            put(out, b"{");
            // serde_json's map is sorted already (no `preserve_order`); sorted here all the
            // same, so that a dependency turning that feature on cannot change a digest.
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort_unstable();
            for (index, key) in keys.into_iter().enumerate() {
                if index > 0 {
                    put(out, b",");
                }
                write_canonical_str(key, out);
                put(out, b":");
                write_canonical(&map[key], out);
            }
            put(out, b"}");
        }
        serde_json::Value::Array(items) => {
            put(out, b"[");
            for (index, item) in items.iter().enumerate() {
                if index > 0 {
                    put(out, b",");
                }
                write_canonical(item, out);
            }
            put(out, b"]");
        }
        serde_json::Value::String(text) => write_canonical_str(text, out),
        scalar => serde_json::to_writer(out, scalar).expect("a JSON scalar serialises"),
    }
}

/// A string of [`write_canonical`]: serde_json's escaping, with DEL escaped as jq does.
fn write_canonical_str(text: &str, out: &mut impl std::io::Write) {
    if !text.contains('\u{7f}') {
        serde_json::to_writer(out, text).expect("a string serialises");
        return;
    }
    let escaped = serde_json::to_vec(text).expect("a string serialises");
    for piece in escaped.split_inclusive(|byte| *byte == 0x7f) {
        let result = match piece.split_last() {
            Some((0x7f, before)) => out
                .write_all(before)
                .and_then(|()| out.write_all(b"\\u007f")),
            _ => out.write_all(piece),
        };
        result.expect("canonical JSON is written to memory");
    }
}

#[cfg(test)]
mod digest_tests {
    use super::*;

    #[test]
    fn canonical_json_sorts_keys_at_every_level() {
        let value = serde_json::json!({"b": [{"z": 1, "a": "é\n"}], "a": null});
        let mut out = Vec::new();
        write_canonical(&value, &mut out);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            r#"{"a":null,"b":[{"a":"é\n","z":1}]}"#
        );
        let mut out = Vec::new();
        write_canonical(&serde_json::json!({"k": "a\u{7f}\u{1}\u{2028}"}), &mut out);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "{\"k\":\"a\\u007f\\u0001\u{2028}\"}"
        );
    }
}
