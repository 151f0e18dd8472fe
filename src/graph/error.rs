//! Errors of the Graph client, with what a person can do about them.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GraphErrorKind {
    /// Graph answered with this status (after retries, for retryable ones).
    Status(u16),
    /// No usable answer: connection refused or dropped, timeout, TLS failure.
    Transport,
    /// The answer was not the JSON we expected (a truncated body, say).
    Decode,
    /// `@odata.nextLink` pointed back at a page already read.
    NextLinkLoop,
    /// No token could be obtained, or Graph refused a fresh one.
    Auth,
    /// A failure that will not heal by retrying (TLS verification, DNS, refused connection);
    /// the hint says what to check.
    Unreachable(&'static str),
    /// A link in a response points away from the Graph root: not followed, so the token
    /// never leaves for another origin.
    ForeignLink,
}

#[derive(Debug, Clone)]
pub struct GraphError {
    pub kind: GraphErrorKind,
    /// The request, without host (paths carry no secrets; tokens are headers).
    pub request: String,
    pub message: String,
}

impl GraphError {
    pub fn new(
        kind: GraphErrorKind,
        request: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        GraphError {
            kind,
            request: request.into(),
            message: message.into(),
        }
    }

    pub fn status(&self) -> Option<u16> {
        match self.kind {
            GraphErrorKind::Status(status) => Some(status),
            _ => None,
        }
    }

    /// A short reason for the `read_reason` column.
    pub fn reason(&self) -> String {
        match &self.kind {
            GraphErrorKind::Status(403) => format!("403 forbidden: {}", self.message),
            GraphErrorKind::Status(status) => format!("HTTP {status}: {}", self.message),
            GraphErrorKind::Transport => format!("transport error: {}", self.message),
            GraphErrorKind::Decode => format!("unreadable response: {}", self.message),
            GraphErrorKind::NextLinkLoop => {
                "nextLink loop: Graph returned a page already read".to_string()
            }
            GraphErrorKind::Auth => format!("authentication: {}", self.message),
            GraphErrorKind::Unreachable(_) => format!("unreachable: {}", self.message),
            GraphErrorKind::ForeignLink => format!("refused link: {}", self.message),
        }
    }

    fn hint(&self) -> Option<&'static str> {
        match self.kind {
            GraphErrorKind::Unreachable(hint) => Some(hint),
            GraphErrorKind::ForeignLink => Some("a nextLink or deltaLink must stay on the Graph root's scheme, host and port; a proxy or gateway that rewrites links must be fixed"),
            GraphErrorKind::Status(401) | GraphErrorKind::Auth => {
                Some("check the tenant, client id and credential; see `entra-drift audit --help`")
            }
            GraphErrorKind::Status(403) => Some(
                "grant the app EntitlementManagement.Read.All, GroupMember.Read.All, Application.Read.All and User.Read.All (guide: 'Auditing a live tenant', permissions per command)",
            ),
            GraphErrorKind::Status(429) | GraphErrorKind::Status(503) | GraphErrorKind::Status(504) => {
                Some("Graph kept throttling or was unavailable; run again later or lower --concurrency")
            }
            _ => None,
        }
    }
}

impl fmt::Display for GraphError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Graph request `{}` failed: {}",
            self.request,
            self.reason()
        )?;
        if let Some(hint) = self.hint() {
            write!(f, "\nhint: {hint}")?;
        }
        Ok(())
    }
}

impl std::error::Error for GraphError {}
