//! `entra-drift snapshot`: read a tenant (live, or a tenant directory) and store its tables.

use chrono::Utc;

use super::{audit::read_live, Outcome};
use crate::cli::SnapshotArgs;
use crate::error::Result;
use crate::report::create_run_dir;
use crate::snapshot::store::{self, StoreExtras};
use crate::tenant_dir::TenantDir;

pub fn run(args: &SnapshotArgs, quiet: bool) -> Result<Outcome> {
    let (snapshot, extras) = match &args.tenant_dir {
        Some(dir) => {
            let started = Utc::now();
            let snapshot = TenantDir::read(dir)?.to_snapshot()?;
            let extras = StoreExtras {
                started,
                finished: Utc::now(),
                graph: None,
                resources: Vec::new(),
            };
            (snapshot, extras)
        }
        None => read_live(&args.graph, quiet)?.into_stored(),
    };
    let run_dir = create_run_dir(&args.output.out, &snapshot.info.tenant_id, Utc::now())?;
    let graph = extras.graph.clone();
    let manifest = store::write(&run_dir, &snapshot, extras)?;
    if !quiet {
        let tables = &snapshot.tables;
        eprintln!(
            "Snapshot of tenant {}: {} packages, {} assignments, {} users, {} holdings, {} resources",
            snapshot.info.tenant_id,
            tables.packages.height(),
            tables.assignments.height(),
            tables.users.height(),
            tables.holdings.height(),
            tables.resource_status.height()
        );
        if let Some(graph) = graph {
            eprintln!(
                "Graph: {} requests ({} batched), {} resource units, {} throttled, {:.1}s waited",
                graph.requests,
                graph.batched_requests,
                graph.resource_units,
                graph.throttled,
                graph.throttle_wait_ms as f64 / 1000.0
            );
        }
        eprintln!("Wrote {}", manifest.display());
    }
    println!("{}", run_dir.display());
    Ok(Outcome::Clean)
}
