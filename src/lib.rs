//! entra-drift: finds and fixes access drift in Microsoft Entra ID entitlement management.
//!
//! The pipeline: a source (tenant directory or Graph) → [`snapshot`] tables → [`audit`]
//! findings → [`report`] files and a reprocess [`plan`].

pub mod audit;
pub mod error;
pub mod model;
pub mod snapshot;
pub mod tenant_dir;

pub use error::{Error, Result};
pub mod apply;
pub mod cli;
pub mod clock;
pub mod commands;
pub mod config;
pub mod evidence;
pub mod exceptions;
pub mod fake;
pub mod generate;
pub mod graph;
pub mod history;
pub mod lock;
pub mod plan;
pub mod progress;
pub mod report;
pub mod settings;
