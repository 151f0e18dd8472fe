//! `entra-drift snapshot`: read a tenant (live, or a tenant directory) and store its tables.

use chrono::Utc;

use super::remote::Remote;
use super::{connect, Outcome};
use crate::cli::SnapshotArgs;
use crate::config::Config;
use crate::error::Result;
use crate::output::Printer;
use crate::report::create_run_dir;
use crate::settings::{self, Given, SnapshotSource};
use crate::snapshot::store::{self, StoreExtras};

pub fn run(
    args: &SnapshotArgs,
    given: &Given,
    config: Option<&Config>,
    printer: &Printer,
) -> Result<Outcome> {
    let settings = settings::resolve_snapshot(args, given, config)?;
    let (snapshot, extras) = match &settings.source {
        SnapshotSource::TenantDir(dir) => {
            let started = Utc::now();
            let snapshot = crate::snapshot::tenant_dir::read_with(dir, &settings.log)?;
            let extras = StoreExtras {
                started,
                finished: Utc::now(),
                graph: None,
                resources: Vec::new(),
            };
            (snapshot, extras)
        }
        SnapshotSource::Live => {
            let progress = connect::progress(printer);
            let read = connect::read_live(
                &settings.graph,
                &settings.read,
                &progress,
                None,
                settings.log,
            )?;
            printer.status(format_args!(
                "Stages: {}",
                crate::progress::describe(&progress.finished())
            ));
            read.into_stored()
        }
    };
    // Blob Storage: written into a staging folder, then published create-only.
    let mut remote = crate::blob::BlobLocation::parse(&settings.out.to_string_lossy())
        .map_err(crate::error::Error::settings)?
        .map(|location| Remote::open(location, &settings.graph, Some(&snapshot.info.tenant_id)))
        .transpose()?;
    let root = remote
        .as_ref()
        .map_or_else(|| settings.out.clone(), |r| r.root().to_path_buf());
    let run_dir = create_run_dir(&root, &snapshot.info.tenant_id, Utc::now())?;
    let graph = extras.graph.clone();
    let mut manifest = store::write(&run_dir, &snapshot, extras)?;
    let mut shown_dir = run_dir.display().to_string();
    if let Some(remote) = remote.as_mut() {
        let relative = run_dir.strip_prefix(remote.root()).unwrap_or(&run_dir);
        remote.publish_new(relative)?;
        manifest = std::path::PathBuf::from(remote.url_of(&manifest));
        shown_dir = remote.url_of(&run_dir);
    }
    let tables = &snapshot.tables;
    printer.status(format_args!(
        "Snapshot of tenant {}: {} packages, {} assignments, {} users, {} holdings, {} resources",
        snapshot.info.tenant_id,
        tables.packages.height(),
        tables.assignments.height(),
        tables.users.height(),
        tables.holdings.height(),
        tables.resource_status.height()
    ));
    if let Some(graph) = graph {
        printer.status(format_args!(
            "Graph: {} requests ({} batched), {} resource units, {} throttled, {:.1}s waited",
            graph.requests,
            graph.batched_requests,
            graph.resource_units,
            graph.throttled,
            graph.throttle_wait_ms as f64 / 1000.0
        ));
    }
    printer.status(format_args!("Wrote {}", manifest.display()));
    printer.data(shown_dir)?;
    Ok(Outcome::Clean)
}
