//! entra-drift: finds and fixes access drift in Microsoft Entra ID entitlement management.
//!
//! The pipeline: a source (tenant directory, stored snapshot or Graph) → [`snapshot`] tables →
//! [`audit`] findings → [`plan`] → [`report`] files → run-folder state ([`history`],
//! [`exceptions`], [`lock`], [`evidence`]) → [`commands`]. Modules are listed here bottom-up,
//! one layer per paragraph: each imports only layers above it in this list (`.ci/layers.py`
//! fails the build on a back-edge).
#![deny(clippy::print_stdout, clippy::print_stderr)]

/// The Graph serde models, shared with the fake Graph server (crate `entra-model`).
pub use entra_model::model;

pub mod graph;
pub mod trust;

pub mod blob;

pub mod error;

pub mod threads;

pub mod clock;
pub mod files;
pub mod output;

pub mod progress;

pub mod snapshot;

pub mod audit;

pub mod plan;

pub mod report;

pub mod apply;

pub mod lock;

pub mod exceptions;

pub mod history;

pub mod evidence;

pub mod notify;

pub mod config;

pub mod generate;

pub mod cli;

pub mod settings;

pub mod commands;

pub use error::{Error, Result};
