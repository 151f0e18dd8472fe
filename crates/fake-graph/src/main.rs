//! `fake-graph`: a local fake of Microsoft Graph over HTTPS (the `fake_graph` library).
//! Parses arguments, logs to stderr, and runs the server until SIGTERM/SIGINT.

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;
use tracing_subscriber::EnvFilter;

use fake_graph::{install_crypto_provider, run, FakeArgs};

#[tokio::main]
async fn main() -> ExitCode {
    let args = FakeArgs::parse();
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("fake_graph=info,warn"));
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(filter)
        .with_target(false)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    install_crypto_provider();
    match run(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("fake-graph: {error}");
            ExitCode::from(1)
        }
    }
}
