//! The integration tests: one binary (so polars links once), one module per concern. Each
//! runs the real `entra-drift` binary against fixtures or the fake Graph server on loopback
//! and reads its reports back.

mod common;
mod support {
    pub mod audit_helpers;
    pub mod azurite;
    pub mod csdl;
    pub mod fake_graph;
    pub mod scheduled;
    pub mod ssh;
    pub mod workflow;
}

mod apply_loop;
mod approvals;
mod audit_cli;
mod audit_reports;
mod blob;
mod causes;
mod config;
mod deploy;
mod docs;
mod evidence;
mod exceptions;
mod failed_deliveries;
mod fuzz;
mod generate;
mod graph_requests;
mod graph_shapes;
mod history;
mod hostile_input;
mod layers;
mod live_graph;
mod notify;
mod partitioned;
mod progress;
mod reads;
mod recipes;
mod remedies;
mod sample;
mod seams;
mod sharepoint;
mod snapshots;
mod ssh_interop;
mod unattended;
mod views;
mod walkthrough;
mod workflow_machine;
