//! The fake token endpoint's checks (`POST /{tenant}/oauth2/v2.0/token`, client credentials)
//! and bearer-token extraction. Secrets and assertions are compared, never logged or echoed.

use std::collections::HashMap;

use serde_json::{json, Value};

pub const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// What the token endpoint accepts.
#[derive(Debug, Clone, Copy)]
pub struct ClientRules<'a> {
    pub tenant_id: &'a str,
    /// `None`: any client id.
    pub client_id: Option<&'a str>,
    /// `None`: any secret.
    pub client_secret: Option<&'a str>,
}

/// A rejected token request: status and the AAD-shaped JSON body.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenError {
    pub status: u16,
    pub body: Value,
}

fn aad_error(status: u16, error: &str, code: u32, description: &str) -> TokenError {
    TokenError {
        status,
        body: json!({
            "error": error,
            "error_description": format!("AADSTS{code}: {description}"),
            "error_codes": [code],
        }),
    }
}

fn invalid_client() -> TokenError {
    aad_error(
        401,
        "invalid_client",
        7000215,
        "Invalid client secret provided.",
    )
}

fn missing(parameter: &str) -> TokenError {
    aad_error(
        400,
        "invalid_request",
        900144,
        &format!("The request body must contain the following parameter: '{parameter}'."),
    )
}

/// Checks a client-credentials request. `form` is the decoded form body.
pub fn check_token_request(
    rules: ClientRules<'_>,
    path_tenant: &str,
    form: &HashMap<String, String>,
) -> Result<(), TokenError> {
    if !path_tenant.eq_ignore_ascii_case(rules.tenant_id) {
        return Err(aad_error(
            400,
            "invalid_request",
            90002,
            "Tenant not found.",
        ));
    }
    let field = |name: &str| form.get(name).map(String::as_str).filter(|v| !v.is_empty());
    match field("grant_type") {
        None => return Err(missing("grant_type")),
        Some("client_credentials") => {}
        Some(_) => {
            return Err(aad_error(
                400,
                "unsupported_grant_type",
                70003,
                "The app requested an unsupported grant type.",
            ))
        }
    }
    let Some(client_id) = field("client_id") else {
        return Err(missing("client_id"));
    };
    if field("scope").is_none() {
        return Err(missing("scope"));
    }
    if rules
        .client_id
        .is_some_and(|expected| !expected.eq_ignore_ascii_case(client_id))
    {
        return Err(invalid_client());
    }
    match (field("client_secret"), field("client_assertion")) {
        (Some(secret), None) => match rules.client_secret {
            Some(expected) if !constant_time_eq(secret.as_bytes(), expected.as_bytes()) => {
                Err(invalid_client())
            }
            _ => Ok(()),
        },
        (None, Some(assertion)) => {
            if field("client_assertion_type") != Some(JWT_BEARER) {
                return Err(aad_error(
                    400,
                    "invalid_request",
                    7000211,
                    "The client_assertion_type is not supported.",
                ));
            }
            if assertion_names_client(assertion, client_id) {
                Ok(())
            } else {
                Err(invalid_client())
            }
        }
        (Some(_), Some(_)) => Err(aad_error(
            400,
            "invalid_request",
            7000222,
            "Only one of 'client_secret' and 'client_assertion' may be sent.",
        )),
        (None, None) => Err(aad_error(
            401,
            "invalid_client",
            7000218,
            "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
        )),
    }
}

/// A client assertion is accepted when its JWT payload (the second, base64url part) has
/// `iss` and `sub` both equal to the client id. THE SIGNATURE IS NOT CHECKED: this is a test
/// fake, and checking it would need the app's certificate; only the shape is verified.
fn assertion_names_client(assertion: &str, client_id: &str) -> bool {
    let mut parts = assertion.split('.');
    let (Some(_header), Some(payload), Some(_signature)) =
        (parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    let Some(bytes) = base64url_decode(payload) else {
        return false;
    };
    let Ok(claims) = serde_json::from_slice::<Value>(&bytes) else {
        return false;
    };
    let claim = |name: &str| claims.get(name).and_then(Value::as_str);
    let is_client = |v: Option<&str>| v.is_some_and(|v| v.eq_ignore_ascii_case(client_id));
    is_client(claim("iss")) && is_client(claim("sub"))
}

/// Whether a token request's scope is Blob Storage's audience.
pub fn is_storage_scope(scope: &str) -> bool {
    scope.split_whitespace().any(|s| {
        s.to_ascii_lowercase()
            .starts_with("https://storage.azure.com")
    })
}

/// A JWT-shaped storage token: `aud` storage, `iss` the tenant's v1 issuer, valid an hour.
/// The signature is a placeholder: Azurite's basic OAuth checks claims, not signatures.
pub fn storage_token(tenant_id: &str, client_id: &str) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default();
    let header = serde_json::json!({"alg": "RS256", "typ": "JWT"});
    let claims = serde_json::json!({
        "aud": "https://storage.azure.com",
        "iss": format!("https://sts.windows.net/{tenant_id}/"),
        "iat": now.saturating_sub(60),
        "nbf": now.saturating_sub(60),
        "exp": now + 3600,
        "appid": client_id,
        "oid": client_id,
        "sub": client_id,
        "tid": tenant_id,
    });
    format!(
        "{}.{}.{}",
        base64url_encode(header.to_string().as_bytes()),
        base64url_encode(claims.to_string().as_bytes()),
        base64url_encode(b"fake-graph: not signed")
    )
}

fn base64url_encode(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::with_capacity(bytes.len() * 4 / 3 + 3);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..=chunk.len() {
            out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

/// Decodes base64url, with or without `=` padding.
pub fn base64url_decode(text: &str) -> Option<Vec<u8>> {
    let text = text.trim_end_matches('=');
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let mut buffer = 0u32;
    let mut bits = 0;
    for c in text.bytes() {
        let value = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'-' | b'+' => 62,
            b'_' | b'/' => 63,
            _ => return None,
        };
        buffer = (buffer << 6) | u32::from(value);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((buffer >> bits) as u8);
            buffer &= (1 << bits) - 1;
        }
    }
    // A single leftover character cannot encode a byte.
    (bits < 6).then_some(out)
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The token of an `Authorization: Bearer <token>` header value.
pub fn bearer_token(header: Option<&str>) -> Option<&str> {
    let header = header?.trim();
    let (scheme, token) = header.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    const TENANT: &str = "a27b43c7-0a4f-4c67-a4d9-b08c482f4357";

    fn form(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn b64(text: &str) -> String {
        const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let bytes = text.as_bytes();
        let mut out = String::new();
        for chunk in bytes.chunks(3) {
            let n = chunk
                .iter()
                .enumerate()
                .fold(0u32, |n, (i, &b)| n | (u32::from(b) << (16 - 8 * i)));
            for i in 0..=chunk.len() {
                out.push(A[((n >> (18 - 6 * i)) & 63) as usize] as char);
            }
        }
        out
    }

    #[test]
    fn storage_tokens_carry_the_storage_audience() {
        assert!(is_storage_scope("https://storage.azure.com/.default"));
        assert!(!is_storage_scope("https://graph.microsoft.com/.default"));
        let token = storage_token("t-1", "app-1");
        let parts: Vec<&str> = token.split('.').collect();
        assert_eq!(parts.len(), 3);
        let claims: serde_json::Value =
            serde_json::from_slice(&base64url_decode(parts[1]).unwrap()).unwrap();
        assert_eq!(claims["aud"], "https://storage.azure.com");
        assert_eq!(claims["iss"], "https://sts.windows.net/t-1/");
        for text in ["", "a", "ab", "abc", "abcd"] {
            assert_eq!(
                base64url_decode(&base64url_encode(text.as_bytes())).unwrap(),
                text.as_bytes()
            );
        }
    }

    #[test]
    fn base64url_round_trip() {
        for text in ["", "a", "ab", "abc", "abcd", r#"{"iss":"x","sub":"x"}"#] {
            assert_eq!(
                base64url_decode(&b64(text)).unwrap(),
                text.as_bytes(),
                "{text}"
            );
        }
        assert!(base64url_decode("a").is_none());
        assert!(base64url_decode("a*b").is_none());
    }

    #[test]
    fn token_requests() {
        let rules = ClientRules {
            tenant_id: TENANT,
            client_id: Some("app-1"),
            client_secret: Some("s3cret"),
        };
        let ok = form(&[
            ("client_id", "APP-1"),
            ("scope", "https://graph.microsoft.com/.default"),
            ("grant_type", "client_credentials"),
            ("client_secret", "s3cret"),
        ]);
        assert!(check_token_request(rules, &TENANT.to_uppercase(), &ok).is_ok());
        let error = check_token_request(rules, "other", &ok).unwrap_err();
        assert_eq!(
            (error.status, error.body["error_codes"][0].as_u64()),
            (400, Some(90002))
        );

        let mut wrong = ok.clone();
        wrong.insert("client_secret".into(), "guess".into());
        let error = check_token_request(rules, TENANT, &wrong).unwrap_err();
        assert_eq!(error.status, 401);
        assert_eq!(error.body["error"], "invalid_client");
        assert!(
            !error.body.to_string().contains("guess"),
            "never echo the secret"
        );
        let mut other_client = ok.clone();
        other_client.insert("client_id".into(), "app-2".into());
        assert_eq!(
            check_token_request(rules, TENANT, &other_client)
                .unwrap_err()
                .status,
            401
        );

        let assertion = |claims: &str| format!("{}.{}.sig", b64(r#"{"alg":"RS256"}"#), b64(claims));
        let mut jwt = ok.clone();
        jwt.remove("client_secret");
        jwt.insert("client_assertion_type".into(), JWT_BEARER.into());
        jwt.insert(
            "client_assertion".into(),
            assertion(r#"{"iss":"app-1","sub":"app-1","aud":"x"}"#),
        );
        assert!(check_token_request(rules, TENANT, &jwt).is_ok());
        jwt.insert(
            "client_assertion".into(),
            assertion(r#"{"iss":"app-1","sub":"app-9"}"#),
        );
        assert_eq!(
            check_token_request(rules, TENANT, &jwt).unwrap_err().status,
            401
        );
        jwt.insert("client_assertion".into(), "not-a-jwt".into());
        assert_eq!(
            check_token_request(rules, TENANT, &jwt).unwrap_err().status,
            401
        );

        let open = ClientRules {
            tenant_id: TENANT,
            client_id: None,
            client_secret: None,
        };
        let mut anyone = ok.clone();
        anyone.insert("client_id".into(), "whoever".into());
        anyone.insert("client_secret".into(), "anything".into());
        assert!(check_token_request(open, TENANT, &anyone).is_ok());
        let mut no_scope = ok.clone();
        no_scope.remove("scope");
        assert_eq!(
            check_token_request(rules, TENANT, &no_scope)
                .unwrap_err()
                .status,
            400
        );
        let mut bad_grant = ok.clone();
        bad_grant.insert("grant_type".into(), "password".into());
        assert_eq!(
            check_token_request(rules, TENANT, &bad_grant)
                .unwrap_err()
                .body["error"],
            "unsupported_grant_type"
        );
    }

    #[test]
    fn bearer_header() {
        assert_eq!(bearer_token(Some("Bearer abc")), Some("abc"));
        assert_eq!(bearer_token(Some("bearer  abc ")), Some("abc"));
        assert_eq!(bearer_token(Some("Basic abc")), None);
        assert_eq!(bearer_token(Some("Bearer ")), None);
        assert_eq!(bearer_token(None), None);
    }
}
