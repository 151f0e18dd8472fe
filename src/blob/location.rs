//! Which `--out` values name Blob Storage, and how a location maps to blob names and URLs.
//!
//! Accepted: `https://<account>.blob.core.windows.net/<container>[/<prefix>]` and the same on
//! the sovereign clouds' blob endpoints; and the emulator's path style
//! `https://127.0.0.1:<port>/<account>/<container>[/<prefix>]` (a loopback address or
//! `localhost`, as Azurite serves accounts).

use url::Url;

/// The blob endpoints' host suffixes, global first.
pub const BLOB_SUFFIXES: [&str; 3] = [
    ".blob.core.windows.net",
    ".blob.core.usgovcloudapi.net",
    ".blob.core.chinacloudapi.cn",
];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobLocation {
    /// `https://host[:port]` (virtual-host style) or `https://host:port/<account>` (path style),
    /// without a trailing slash.
    service: String,
    pub container: String,
    /// Blob-name prefix inside the container, `/`-separated, without leading or trailing `/`;
    /// empty for the container's root.
    pub prefix: String,
}

/// A URL as errors may show it: without its query (cut by the caller) and with any user name
/// and password replaced by `***`, so that a password is never repeated.
fn redacted(url: &str) -> String {
    let Some(start) = url.find("://") else {
        return url.to_string();
    };
    let rest = &url[start + 3..];
    // A password may hold an unencoded `/`: any `@` means userinfo may be there, and nothing
    // before the last one is shown.
    match rest.rfind('@') {
        Some(at) => format!("{}://***@{}", &url[..start], &rest[at + 1..]),
        None => url.to_string(),
    }
}

impl BlobLocation {
    /// `Ok(None)` when `text` is not a URL at all (a local path); an error when it is a URL
    /// that is not a usable Blob Storage location. The error never repeats a query string.
    pub fn parse(text: &str) -> Result<Option<BlobLocation>, String> {
        let lower = text.to_ascii_lowercase();
        if !lower.starts_with("https://") && !lower.starts_with("http://") {
            return Ok(None);
        }
        // Userinfo first (a password may hold `?` or `#`), then the query.
        let redacted_text = redacted(text);
        let shown = redacted_text
            .split(['?', '#'])
            .next()
            .unwrap_or_default()
            .to_string();
        let url = Url::parse(text).map_err(|e| format!("`{shown}` is not a valid URL: {e}"))?;
        if url.scheme() != "https" {
            return Err(format!(
                "`{shown}`: Blob Storage is reached over https only"
            ));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(format!(
                "`{shown}`: remove the query: a SAS token is a secret and is not accepted; grant the identity Storage Blob Data Contributor on the container instead"
            ));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(format!(
                "`{shown}`: a URL with a user name or password is not accepted"
            ));
        }
        let host = url.host_str().unwrap_or_default().to_ascii_lowercase();
        let port = url.port().map(|p| format!(":{p}")).unwrap_or_default();
        let mut segments = Vec::new();
        for raw in url
            .path_segments()
            .into_iter()
            .flatten()
            .filter(|s| !s.is_empty())
        {
            let segment = percent_encoding::percent_decode_str(raw)
                .decode_utf8()
                .map_err(|_| format!("`{shown}`: the path is not UTF-8"))?
                .into_owned();
            // An encoded `/` would hide a path separator from the checks below.
            if segment.contains(['/', '\\']) || segment == "." || segment == ".." {
                return Err(format!(
                    "`{shown}`: a path segment may not be, or encode, `.`, `..`, `/` or `\\`"
                ));
            }
            segments.push(segment);
        }
        // Path style is the emulator's: on this machine only, so that a token for Blob Storage
        // (good for every account the identity can reach) never goes to another address.
        let path_style = match url.host() {
            Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
            Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
            Some(url::Host::Domain(_)) => host == "localhost",
            None => false,
        };
        let service = if BLOB_SUFFIXES.iter().any(|s| host.ends_with(s)) {
            format!("https://{host}{port}")
        } else if path_style {
            if segments.is_empty() {
                return Err(format!("`{shown}`: name the account after the address (`https://127.0.0.1:10000/<account>/<container>`)"));
            }
            let account = segments.remove(0);
            format!("https://{host}{port}/{account}")
        } else {
            return Err(format!(
                "`{shown}` is not a Blob Storage URL: expected https://<account>.blob.core.windows.net/<container>[/<prefix>] (or a sovereign cloud's blob endpoint)"
            ));
        };
        if segments.is_empty() {
            return Err(format!(
                "`{shown}`: name the container (`{service}/<container>`)"
            ));
        }
        let container = segments.remove(0);
        check_container(&container).map_err(|problem| format!("`{shown}`: {problem}"))?;
        if segments.iter().any(|s| s == "." || s == "..") {
            return Err(format!(
                "`{shown}`: `.` and `..` are not allowed in the prefix"
            ));
        }
        Ok(Some(BlobLocation {
            service,
            container,
            prefix: segments.join("/"),
        }))
    }

    pub fn container_url(&self) -> Url {
        Url::parse(&format!("{}/{}", self.service, self.container))
            .expect("a parsed location makes a valid URL")
    }

    /// The full blob name of `relative` (a `/`-separated path below the prefix).
    pub fn name(&self, relative: &str) -> String {
        let relative = relative.trim_start_matches('/');
        match (self.prefix.is_empty(), relative.is_empty()) {
            (true, _) => relative.to_string(),
            (false, true) => self.prefix.clone(),
            (false, false) => format!("{}/{relative}", self.prefix),
        }
    }

    /// The URL people see for a full blob name.
    pub fn url_of_name(&self, name: &str) -> String {
        if name.is_empty() {
            format!("{}/{}", self.service, self.container)
        } else {
            format!("{}/{}/{name}", self.service, self.container)
        }
    }

    /// The URL of `relative` below this location.
    pub fn url_of(&self, relative: &str) -> String {
        self.url_of_name(&self.name(relative))
    }

    /// The location one level down (`relative` joined to the prefix).
    pub fn join(&self, relative: &str) -> BlobLocation {
        BlobLocation {
            prefix: self.name(relative),
            ..self.clone()
        }
    }

    /// The location without the last segment of its prefix, and that segment.
    pub fn split_last(&self) -> (BlobLocation, String) {
        match self.prefix.rsplit_once('/') {
            Some((parent, last)) => (
                BlobLocation {
                    prefix: parent.to_string(),
                    ..self.clone()
                },
                last.to_string(),
            ),
            None => (
                BlobLocation {
                    prefix: String::new(),
                    ..self.clone()
                },
                self.prefix.clone(),
            ),
        }
    }
}

impl std::fmt::Display for BlobLocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.url_of_name(&self.prefix))
    }
}

/// Container names: 3–63 lower-case letters, digits and single hyphens, starting and ending
/// with a letter or digit.
fn check_container(name: &str) -> Result<(), String> {
    let ok = (3..=63).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !name.starts_with('-')
        && !name.ends_with('-')
        && !name.contains("--");
    if ok {
        Ok(())
    } else {
        Err(format!("`{name}` is not a valid container name (3-63 lower-case letters, digits and single hyphens)"))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_password_in_a_url_is_never_repeated() {
        for text in [
            "https://user:hunter2@acct.blob.core.windows.net/c",
            "https://user:hunter2@acct.blob.core.windows.net/c?sig=x",
            "http://user:hunter2@acct.blob.core.windows.net/c",
            "https://:hunter2@127.0.0.1:10000/devstoreaccount1/c",
            "https://user:hunter2@[::1/c",
            "https://u:hun/ter2@acct.blob.core.windows.net/c",
            "https://u:hun?ter2@acct.blob.core.windows.net/c",
            "https://u:hun#ter2@acct.blob.core.windows.net/c",
        ] {
            let error = BlobLocation::parse(text).unwrap_err();
            assert!(!error.contains("hun") && !error.contains("ter2"), "{error}");
        }
    }

    use super::*;

    fn parse(text: &str) -> BlobLocation {
        BlobLocation::parse(text).unwrap().unwrap()
    }

    #[test]
    fn virtual_host_and_sovereign_endpoints() {
        let at = parse("https://contoso.blob.core.windows.net/entra-drift/weekly/");
        assert_eq!(at.container, "entra-drift");
        assert_eq!(at.prefix, "weekly");
        assert_eq!(
            at.container_url().as_str(),
            "https://contoso.blob.core.windows.net/entra-drift"
        );
        assert_eq!(
            at.url_of("t/index.csv"),
            "https://contoso.blob.core.windows.net/entra-drift/weekly/t/index.csv"
        );
        let gov = parse("https://acct.blob.core.usgovcloudapi.net/runs");
        assert_eq!(gov.prefix, "");
        assert_eq!(gov.name("t/index.csv"), "t/index.csv");
        assert!(
            BlobLocation::parse("https://a.blob.core.chinacloudapi.cn/runs")
                .unwrap()
                .is_some()
        );
    }

    #[test]
    fn emulator_path_style() {
        let at = parse("https://127.0.0.1:10000/devstoreaccount1/runs/a/b");
        assert_eq!(at.container, "runs");
        assert_eq!(at.prefix, "a/b");
        assert_eq!(
            at.container_url().as_str(),
            "https://127.0.0.1:10000/devstoreaccount1/runs"
        );
        let (parent, last) = at.split_last();
        assert_eq!((parent.prefix.as_str(), last.as_str()), ("a", "b"));
        assert_eq!(
            at.to_string(),
            "https://127.0.0.1:10000/devstoreaccount1/runs/a/b"
        );
    }

    #[test]
    fn local_paths_are_not_urls() {
        assert_eq!(BlobLocation::parse("reports").unwrap(), None);
        assert_eq!(BlobLocation::parse("/var/lib/x").unwrap(), None);
    }

    #[test]
    fn refusals_name_the_problem_and_never_the_query() {
        let sas = "https://contoso.blob.core.windows.net/runs?sv=2024&sig=SECRETSIG";
        let error = BlobLocation::parse(sas).unwrap_err();
        assert!(error.contains("SAS"), "{error}");
        assert!(!error.contains("SECRETSIG"), "{error}");
        for (text, needle) in [
            ("http://contoso.blob.core.windows.net/runs", "https only"),
            ("https://example.com/runs", "not a Blob Storage URL"),
            (
                "https://contoso.blob.core.windows.net/",
                "name the container",
            ),
            (
                "https://contoso.blob.core.windows.net/Runs",
                "not a valid container",
            ),
            ("https://127.0.0.1:10000/", "name the account"),
            ("https://10.0.0.5:10000/acct/runs", "not a Blob Storage URL"),
            (
                "https://contoso.blob.core.windows.net/runs/x%2F..%2Fy",
                "may not be, or encode",
            ),
            // `..` is resolved by URL parsing before the container is read.
            (
                "https://contoso.blob.core.windows.net/runs/../x",
                "not a valid container",
            ),
        ] {
            let error = BlobLocation::parse(text).unwrap_err();
            assert!(error.contains(needle), "{text}: {error}");
        }
    }
}
