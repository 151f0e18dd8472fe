//! The id rules: which ids are GUIDs, and how any id is made safe for a URL path or an OData
//! string literal. Every id that reaches a Graph URL is checked where it enters the tool
//! (Graph responses, tenant directories, stored snapshots, plans, journals, registers).

use crate::enums::OriginSystem;
use crate::error::InputError;
use crate::model::{AccessPackage, AccessPackageAssignment};

/// `true` for the 8-4-4-4-12 hexadecimal form Entra uses for directory objects, access
/// packages and assignments.
pub fn is_guid(id: &str) -> bool {
    guid_value(id).is_some()
}

/// The 128 bits of a GUID-form id, either case (`None` for anything [`is_guid`] refuses): two
/// ids have the same value exactly when they are the same GUID. Large tables compare and sort
/// these instead of 36-character strings.
pub fn guid_value(id: &str) -> Option<u128> {
    let bytes = id.as_bytes();
    if bytes.len() != 36 {
        return None;
    }
    let mut bits: u128 = 0;
    for (at, &byte) in bytes.iter().enumerate() {
        if matches!(at, 8 | 13 | 18 | 23) {
            if byte != b'-' {
                return None;
            }
            continue;
        }
        let nibble = HEX[usize::from(byte)];
        if nibble > 0xf {
            return None;
        }
        bits = (bits << 4) | u128::from(nibble);
    }
    Some(bits)
}

/// Each byte's value as a hexadecimal digit; 0xff for a byte that is none.
const HEX: [u8; 256] = {
    let mut table = [0xffu8; 256];
    let mut digit = 0;
    while digit < 10 {
        table[b'0' as usize + digit] = digit as u8;
        digit += 1;
    }
    let mut letter = 0;
    while letter < 6 {
        table[b'a' as usize + letter] = 10 + letter as u8;
        table[b'A' as usize + letter] = 10 + letter as u8;
        letter += 1;
    }
    table
};

/// Checks a GUID-form id; `origin` names where it came from (file, object, Graph path).
pub fn check_guid(id: &str, what: &'static str, origin: &str) -> Result<(), InputError> {
    if is_guid(id) {
        Ok(())
    } else {
        Err(InputError::BadId {
            origin: origin.to_string(),
            what,
            id: shorten(id),
            reason: "expected a GUID like 00000000-0000-0000-0000-000000000000",
        })
    }
}

/// Checks an id that is not a GUID by contract (an app role assignment id, a scope's origin
/// id) but will still stand in a URL path: no separators, quotes, controls or dot segments.
pub fn check_segment(id: &str, what: &'static str, origin: &str) -> Result<(), InputError> {
    let bad = id.is_empty()
        || id == "."
        || id == ".."
        || id.len() > 512
        || id
            .chars()
            .any(|c| c.is_control() || c.is_whitespace() || "/\\?#%'\"&".contains(c));
    if bad {
        Err(InputError::BadId {
            origin: origin.to_string(),
            what,
            id: shorten(id),
            reason: "it holds characters that cannot stand in a URL path",
        })
    } else {
        Ok(())
    }
}

/// Percent-encodes one URL path segment (RFC 3986 unreserved characters pass), so that even
/// an id that slipped past the checks cannot change the path it is put in.
pub fn encode_segment(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len());
    for byte in segment.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                out.push(byte as char)
            }
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

/// An OData string literal: quotes doubled, as the OData ABNF requires.
pub fn odata_literal(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}

/// Error messages show at most 80 characters of a hostile id.
fn shorten(id: &str) -> String {
    if id.chars().count() <= 80 {
        id.to_string()
    } else {
        let head: String = id.chars().take(80).collect();
        format!("{head}…")
    }
}

/// The ids of an access package that reach Graph: its own, and the group or service principal
/// each of its group and application roles is scoped to.
pub fn check_package(package: &AccessPackage, origin: &str) -> Result<(), InputError> {
    check_guid(&package.id, "access package id", origin)?;
    let at = || format!("{origin}: access package `{}`", package.id);
    for scope in package.resource_role_scopes.iter().flatten() {
        let Some(resource) = &scope.scope else {
            continue;
        };
        let system = OriginSystem::parse(resource.origin_system.as_deref().unwrap_or_default());
        if matches!(
            system,
            OriginSystem::AadGroup | OriginSystem::AadApplication
        ) {
            if let Some(id) = &resource.origin_id {
                check_guid(id, "resource id (scope originId)", &at())?;
            }
        }
    }
    Ok(())
}

/// An assignment's own id, its package's and its target's object id (where present).
pub fn check_assignment(
    assignment: &AccessPackageAssignment,
    origin: &str,
) -> Result<(), InputError> {
    check_guid(&assignment.id, "assignment id", origin)?;
    let at = || format!("{origin}: assignment `{}`", assignment.id);
    if let Some(id) = assignment
        .access_package
        .as_ref()
        .and_then(|p| p.id.as_deref())
    {
        check_guid(id, "access package id", &at())?;
    }
    if let Some(id) = assignment
        .target
        .as_ref()
        .and_then(|t| t.object_id.as_deref())
    {
        check_guid(id, "target objectId", &at())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guids() {
        assert!(is_guid("3b280e9f-a116-499a-bebc-fb9ccae627b7"));
        assert!(is_guid("3B280E9F-A116-499A-BEBC-FB9CCAE627B7"));
        for bad in [
            "",
            "../../users/3b280e9f-a116-499a-bebc-fb9ccae627b7",
            "3b280e9f-a116-499a-bebc-fb9ccae627b",
            "3b280e9f-a116-499a-bebc-fb9ccae627b7'",
            "3b280e9fxa116-499a-bebc-fb9ccae627b7",
            "g b280e9f-a116-499a-bebc-fb9ccae627b",
            "3b280e9f-a116-499a-bebc-fb9ccae627b\u{e9}",
        ] {
            assert!(!is_guid(bad), "{bad}");
            assert_eq!(guid_value(bad), None, "{bad}");
        }
        // The value is the GUID's, whatever its case; different GUIDs never share one.
        let lower = guid_value("3b280e9f-a116-499a-bebc-fb9ccae627b7");
        assert_eq!(lower, Some(0x3b280e9f_a116_499a_bebc_fb9ccae627b7));
        assert_eq!(guid_value("3B280E9F-A116-499A-BEBC-FB9CCAE627B7"), lower);
        assert_ne!(guid_value("3b280e9f-a116-499a-bebc-fb9ccae627b8"), lower);
        assert_eq!(
            guid_value("ffffffff-ffff-ffff-ffff-ffffffffffff"),
            Some(u128::MAX)
        );
        let error = check_guid("../x", "assignment id", "plan.json item 3").unwrap_err();
        assert_eq!(
            error.to_string(),
            "plan.json item 3: assignment id `../x` is not a valid id (expected a GUID like \
             00000000-0000-0000-0000-000000000000)"
        );
    }

    #[test]
    fn segments_and_literals() {
        check_segment("41W1zT6z1U-kJxf62svfp1HFE8pMZhxDun-ThPczmJE", "id", "x").unwrap();
        for bad in ["..", "a/b", "a'b", "a b", "a?b", "a#b", "a%2Fb", ""] {
            assert!(check_segment(bad, "id", "x").is_err(), "{bad}");
        }
        assert_eq!(encode_segment("../a b"), "..%2Fa%20b");
        assert_eq!(odata_literal("it's"), "'it''s'");
    }
}
