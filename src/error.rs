//! The library's error type. Every variant names the file, line or object it is about, so a
//! scheduler's log says what to fix; `main` alone turns these into exit codes.

use std::path::{Path, PathBuf};

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file could not be read or written.
    #[error("`{path}`: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A JSON file is not valid JSON, or an object in it lacks a required property.
    #[error("`{path}` line {line}, column {column}: {message}")]
    Json {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
    /// The input parses but is not a consistent tenant (duplicate ids, dangling references).
    #[error("{origin}: {message}")]
    Inconsistent { origin: String, message: String },
    /// A plan file is unusable as given.
    #[error("plan `{path}`: {message}")]
    Plan { path: PathBuf, message: String },
    /// The user asked for something that cannot be done as asked.
    #[error("{0}")]
    Usage(String),
    /// A dataframe operation failed; `context` says which step.
    #[error("{context}: {source}")]
    Frame {
        context: &'static str,
        #[source]
        source: polars::error::PolarsError,
    },
    /// Writing the Excel report failed.
    #[error("writing `{path}`: {source}")]
    Xlsx {
        path: PathBuf,
        #[source]
        source: rust_xlsxwriter::XlsxError,
    },
    /// Microsoft Graph could not be read or written.
    #[error(transparent)]
    Graph(#[from] crate::graph::GraphError),
    /// Writing a CSV report failed.
    #[error("writing `{path}`: {source}")]
    Csv {
        path: PathBuf,
        #[source]
        source: csv::Error,
    },
}

impl Error {
    pub fn io(path: impl AsRef<Path>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.as_ref().to_path_buf(),
            source,
        }
    }

    pub fn json(path: impl AsRef<Path>, error: &serde_json::Error) -> Self {
        Error::Json {
            path: path.as_ref().to_path_buf(),
            line: error.line(),
            column: error.column(),
            message: strip_position(&error.to_string()),
        }
    }

    pub fn inconsistent(origin: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Inconsistent {
            origin: origin.into(),
            message: message.into(),
        }
    }
}

/// serde_json appends " at line L column C" to its messages; we print the position first.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(index) => message[..index].to_string(),
        None => message.to_string(),
    }
}

/// Adds the step name to a polars error.
pub trait FrameContext<T> {
    fn frame(self, context: &'static str) -> Result<T>;
}

impl<T> FrameContext<T> for std::result::Result<T, polars::error::PolarsError> {
    fn frame(self, context: &'static str) -> Result<T> {
        self.map_err(|source| Error::Frame { context, source })
    }
}
