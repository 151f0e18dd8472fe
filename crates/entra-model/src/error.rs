//! Errors of reading an input file: each names the file and position, or the object, so a
//! scheduler's log says what to fix.

use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum InputError {
    /// A file could not be read (the cause is the error's source, printed once by the caller).
    #[error("`{path}`")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A file is not valid JSON / TOML / CSV, or an object in it lacks a required property.
    #[error("`{path}` line {line}, column {column}: {message}")]
    Syntax {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
    /// The input parses but is not consistent (duplicate ids, dangling references).
    #[error("{origin}: {message}")]
    Inconsistent { origin: String, message: String },
    /// A directory was expected.
    #[error("`{path}` does not exist or is not a directory")]
    NotADirectory { path: PathBuf },
    /// Only regular files are read: a FIFO would hang the run, a device would never end.
    #[error("`{path}` is a {kind}, not a regular file")]
    NotARegularFile { path: PathBuf, kind: &'static str },
    /// A file larger than what the tool reads for its kind (a file that never ends, a
    /// decompression bomb, the wrong file).
    #[error("`{path}` is larger than {max} bytes, more than such a file can be")]
    TooLarge { path: PathBuf, max: u64 },
    /// A run file (journal, results, lock, plan) that is a symbolic link: the tool writes
    /// and reads run files only where they are, never through a link.
    #[error("`{path}` is a symbolic link; run files are never links (remove it)")]
    Link { path: PathBuf },
    /// A symbolic link inside a tenant directory points outside it.
    #[error("`{path}` is a link that leaves `{root}`")]
    OutsideDirectory { path: PathBuf, root: PathBuf },
    /// An id that would go into a Graph URL or filter is not of the expected form.
    #[error("{origin}: {what} `{id}` is not a valid id ({reason})")]
    BadId {
        origin: String,
        what: &'static str,
        id: String,
        reason: &'static str,
    },
}

impl InputError {
    pub fn io(path: impl AsRef<Path>, source: std::io::Error) -> Self {
        InputError::Io {
            path: path.as_ref().to_path_buf(),
            source,
        }
    }

    pub fn json(path: impl AsRef<Path>, error: &serde_json::Error) -> Self {
        InputError::Syntax {
            path: path.as_ref().to_path_buf(),
            line: error.line(),
            column: error.column(),
            message: strip_position(&error.to_string()),
        }
    }

    /// An error at a byte offset of `text`, as line and column (both 1-based, columns in
    /// characters): for parsers that report spans (TOML, CSV).
    pub fn at(text: &str, path: &Path, offset: usize, message: String) -> Self {
        let (line, column) = line_and_column(text, offset);
        InputError::Syntax {
            path: path.to_path_buf(),
            line,
            column,
            message,
        }
    }

    pub fn inconsistent(origin: impl Into<String>, message: impl Into<String>) -> Self {
        InputError::Inconsistent {
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

/// The error and its causes on one line, `a: b: c`, for callers that print an error as text.
/// A cause whose text the line already holds (wrappers that repeat their source, as HTTP
/// clients do) is not repeated.
pub fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// 1-based line and column (in characters) of a byte offset; offsets past the end clamp.
pub fn line_and_column(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map(|i| i + 1).unwrap_or(0);
    let column = text[line_start..offset].chars().count() + 1;
    (line, column)
}
