//! The library's error type. Every variant names the file, line or object it is about, so a
//! scheduler's log says what to fix; callers branch on the variants, and `main` alone turns
//! them into exit codes.
//!
//! A message never embeds its `#[source]`: the printer writes the cause chain once
//! (`output::render_error`).

use std::path::{Path, PathBuf};

pub use entra_model::InputError;

use crate::graph::GraphError;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An input file is unreadable, malformed or inconsistent.
    #[error(transparent)]
    Input(#[from] InputError),
    /// A file or folder could not be written (or read outside the input readers).
    #[error("`{path}`")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A dataframe operation failed; `context` says which step.
    #[error("{context}")]
    Frame {
        context: &'static str,
        #[source]
        source: polars::error::PolarsError,
    },
    /// Writing the Excel report failed.
    #[error("writing `{path}`")]
    Xlsx {
        path: PathBuf,
        #[source]
        source: rust_xlsxwriter::XlsxError,
    },
    /// Writing a CSV report failed.
    #[error("writing `{path}`")]
    Csv {
        path: PathBuf,
        #[source]
        source: csv::Error,
    },
    /// Microsoft Graph could not be read or written.
    #[error(transparent)]
    Graph(#[from] GraphError),
    /// A Blob Storage location could not be read or written (the message names the blob).
    #[error(transparent)]
    Blob(#[from] crate::blob::BlobError),
    /// A key, a signature or an allowed_signers file could not be used.
    #[error(transparent)]
    Trust(#[from] crate::trust::TrustError),
    /// A list the whole audit depends on could not be read: no audit is made from part of it.
    #[error("reading {what} from Microsoft Graph failed, so no audit was made")]
    GraphRead {
        what: String,
        #[source]
        source: GraphError,
    },
    /// Another run holds the lock (the message names the holder).
    #[error("another run holds `{path}`: {holder}\nhint: {hint}")]
    LockHeld {
        path: PathBuf,
        holder: String,
        hint: String,
    },
    /// A plan, an approval or a journal was refused; the reason says which check failed.
    #[error("plan `{path}`: {reason}")]
    Refused { path: PathBuf, reason: Refusal },
    /// The flags and configuration together do not say what to do.
    #[error("{message}")]
    Settings { message: String },
    /// A folder is not what the command works on (not a run folder, not an `--out` root).
    #[error("`{path}` {problem}")]
    NotARunFolder { path: PathBuf, problem: String },
    /// The async runtime could not start.
    #[error("starting the async runtime")]
    Runtime(#[source] std::io::Error),
    /// A size the tool is built for was exceeded.
    #[error("{0}")]
    Capacity(String),
    /// A report view (HTML, chart, Markdown) could not be rendered.
    #[error("rendering `{path}`: {message}")]
    Render { path: PathBuf, message: String },
}

impl Error {
    pub fn io(path: impl AsRef<Path>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.as_ref().to_path_buf(),
            source,
        }
    }

    pub fn json(path: impl AsRef<Path>, error: &serde_json::Error) -> Self {
        Error::Input(InputError::json(path, error))
    }

    pub fn inconsistent(origin: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Input(InputError::inconsistent(origin, message))
    }

    pub fn settings(message: impl Into<String>) -> Self {
        Error::Settings {
            message: message.into(),
        }
    }

    pub fn refused(path: impl AsRef<Path>, reason: Refusal) -> Self {
        Error::Refused {
            path: path.as_ref().to_path_buf(),
            reason,
        }
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

/// Why a plan, its approval or its journal was refused. Each says what failed and, where a
/// person can do something about it, how to go on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("is not an entra-drift reprocess plan (format `{format}`, expected `{expected}`)")]
    NotAPlan {
        format: String,
        expected: &'static str,
    },
    #[error("has format version {version}, which this entra-drift ({tool}) does not understand (it reads {understood})\nhint: audit again with this version to get a plan it can apply")]
    UnknownVersion {
        version: String,
        tool: &'static str,
        understood: String,
    },
    #[error("is malformed: {message}")]
    Malformed { message: String },
    #[error("its items do not match their digest ({recorded} recorded, {computed} computed): the plan was edited after the audit\nhint: audit again for a fresh plan; never edit plan items by hand")]
    Tampered { recorded: String, computed: String },
    #[error(
        "its approval was given for other items (digest differs)\nhint: approve the plan again"
    )]
    ApprovalForOtherItems,
    #[error("the plan is for tenant {plan}, not {given}\nhint: apply it with --tenant {plan}, using that tenant's write identity")]
    WrongTenant { plan: String, given: String },
    #[error("the plan expired at {expires} (created {created}); access may have changed since\nhint: audit again and approve the new plan")]
    Expired {
        expires: chrono::DateTime<chrono::Utc>,
        created: chrono::DateTime<chrono::Utc>,
    },
    #[error("the plan is not approved\nhint: review it (`entra-drift plan show PLAN`), then approve it signed: `entra-drift plan approve PLAN --approver NAME --sign-key KEY` (an unsigned approval is refused wherever --allowed-signers is set; `plan approve --revoke` takes an approval back)")]
    NotApproved,
    #[error("no item has the {min} distinct approver(s) required\nhint: each approver adds an approval with `entra-drift plan approve PLAN --approver ID --sign-key KEY`")]
    NotEnoughApprovers { min: usize },
    #[error("{approved} items are approved, more than --max-items {max}\nhint: --max-items is a safety limit: approve fewer items per apply (`plan approve --only ID`), or have the plan reviewed again if this many changes are intended")]
    TooManyItems { approved: usize, max: usize },
    #[error("`{id}` is not an item of this plan")]
    UnknownItem { id: String },
    #[error("item `{id}` cannot take `{action}`; its choices are {allowed}")]
    ActionNotAllowed {
        id: String,
        action: String,
        allowed: String,
    },
    #[error("item `{id}` is left on `decide`: approve it with an action (--action, or the workbook's `action` column)")]
    Undecided { id: String },
    #[error("item `{id}`: `accept` needs a one-line reason (--reason, or the workbook's `accept_reason` column)")]
    AcceptNeedsReason { id: String },
    #[error("{approved} approved items remove access, more than --max-removals {max}\nhint: --max-removals is a safety limit: approve fewer removals per apply, or have the plan reviewed again if this many removals are intended")]
    TooManyRemovals { approved: usize, max: usize },
    #[error("an approver name is required")]
    NoApprover,
    #[error("no item is approved: nothing would be applied")]
    NothingApproved,
    #[error("item {number} repeats assignment `{id}`: a plan lists each assignment once")]
    DuplicateItem { id: String, number: usize },
    #[error("the approval by `{approver}` was given for plan digest {recorded}, not this plan's {actual}: it belongs to another plan\nhint: approve this plan (`entra-drift plan approve`)")]
    ApprovalForAnotherPlan {
        approver: String,
        recorded: String,
        actual: String,
    },
    #[error("the approval by `{approver}` is not valid: {problem}")]
    ApprovalInvalid { approver: String, problem: String },
    #[error("the approval by `{approver}` is not signed, and --allowed-signers requires signed approvals\nhint: approve with --sign-key KEY or --signature FILE")]
    Unsigned { approver: String },
    #[error("the approval by `{approver}` does not verify: {detail}")]
    BadSignature { approver: String, detail: String },
    #[error("--min-approvers {min} needs --allowed-signers: without signatures, anyone can write a second name")]
    FourEyesNeedsSignatures { min: usize },
    #[error("the plan is not committed by its run `{run}`: {problem}\nhint: apply plans only from the run folder the audit finished (or name it with --run DIR)")]
    NotCommitted { run: String, problem: String },
    #[error("journal `{path}` line {line}: {problem}\nhint: inspect the journal; `apply --recheck-journal` re-checks every item live instead of trusting it")]
    Journal {
        path: String,
        line: usize,
        problem: String,
    },
    /// Another copy of the plan's run folder under the same `--out` holds the plan's journal.
    #[error("this plan is applied from `{journal}` (its journal is there): a second journal would let items be sent twice\nhint: run apply on the plan.json beside that journal")]
    AppliedElsewhere { journal: String },
    /// An approved `accept` needs a register to record the exception in.
    #[error("{count} approved item(s) are to be accepted, but no exceptions register is configured\nhint: name the register with --exceptions FILE (or `exceptions` in the configuration file); nothing was changed")]
    AcceptNeedsRegister { count: usize },
    #[error("the plan has no approval by `{approver}` to revoke")]
    NothingToRevoke { approver: String },
    /// The approval workbook is unreadable or belongs to another plan.
    #[error("{message}")]
    Workbook { message: String },
}
