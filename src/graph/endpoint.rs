//! The rule for the URLs a token is sent to or obtained from (the Graph root, the sign-in
//! authority), wherever they come from — flags, the configuration file or the environment:
//! https only, a host, and no user name or password (which would end up in logs, manifests,
//! plans and the index).

/// Checks a root URL; the error says what is wrong without repeating a password.
pub fn check_root(what: &str, text: &str) -> Result<url::Url, String> {
    let parsed = url::Url::parse(text.trim()).map_err(|e| format!("{what} is not a URL ({e})"))?;
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(format!(
            "{what} must not carry a user name or password (`https://user:…@host`): credentials come from the AZURE_* variables only"
        ));
    }
    if parsed.scheme() != "https" {
        return Err(format!(
            "{what} `{}` must be an https:// URL",
            redacted(&parsed)
        ));
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err(format!("{what} `{}` has no host", redacted(&parsed)));
    }
    if parsed.query().is_some() || parsed.fragment().is_some() {
        return Err(format!(
            "{what} `{}` must not have a query or fragment",
            redacted(&parsed)
        ));
    }
    Ok(parsed)
}

/// Whether `link` stays on `origin`'s scheme, host and port and carries no user name or
/// password: the one rule for every link a token may follow (Graph's and SharePoint's).
pub fn same_origin(origin: &url::Url, link: &url::Url) -> bool {
    let key = |u: &url::Url| {
        (
            u.scheme().to_string(),
            u.host_str().map(str::to_ascii_lowercase),
            u.port_or_known_default(),
        )
    };
    key(origin) == key(link) && link.username().is_empty() && link.password().is_none()
}

fn redacted(url: &url::Url) -> String {
    let mut shown = url.clone();
    let _ = shown.set_password(None);
    let _ = shown.set_username("");
    shown.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn userinfo_plain_http_and_queries_are_refused() {
        let error = check_root("--graph-url", "https://user:hunter2@graph.example").unwrap_err();
        assert!(error.contains("user name or password"), "{error}");
        assert!(!error.contains("hunter2"), "{error}");
        assert!(check_root("--graph-url", "http://graph.example")
            .unwrap_err()
            .contains("https://"));
        assert!(check_root("x", "https://graph.example/?a=b").is_err());
        assert!(check_root("x", "not a url").is_err());
        let ok = check_root("x", "https://127.0.0.1:8443").unwrap();
        assert_eq!(ok.port(), Some(8443));
    }
}
