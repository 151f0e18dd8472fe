//! `entra-drift generate`: a synthetic tenant and its ground truth, for tests and benchmarks.

use chrono::Utc;

use super::Outcome;
use crate::cli::{GenerateArgs, GenerateFormat};
use crate::error::{Error, Result};
use crate::generate::{generate, write_truth, Profile};
use crate::output::Printer;
use crate::snapshot::store::{self, StoreExtras};

pub const TRUTH_FILE: &str = "ground-truth.csv";

pub fn run(args: &GenerateArgs, printer: &Printer) -> Result<Outcome> {
    let profile = Profile::named(&args.size)
        .ok_or_else(|| Error::settings(format!("unknown size `{}`", args.size)))?;
    if args.out.exists()
        && std::fs::read_dir(&args.out)
            .map_err(|e| Error::io(&args.out, e))?
            .next()
            .is_some()
    {
        return Err(Error::settings(format!(
            "`{}` is not empty; choose a new folder",
            args.out.display()
        )));
    }
    let started = Utc::now();
    let generated = generate(
        &profile,
        args.seed,
        matches!(args.format, GenerateFormat::TenantDir),
    );
    match args.format {
        GenerateFormat::TenantDir => generated.tenant.write(&args.out)?,
        GenerateFormat::Snapshot => {
            let mut snapshot = crate::snapshot::tenant_dir::to_snapshot(&generated.tenant)?;
            snapshot.info.source = format!("generated {} tenant, seed {}", args.size, args.seed);
            store::write(
                &args.out,
                &snapshot,
                StoreExtras {
                    started,
                    finished: Utc::now(),
                    graph: None,
                    resources: Vec::new(),
                },
            )?;
        }
    }
    let truth_path = args.out.join(TRUTH_FILE);
    write_truth(&truth_path, &generated.truth)?;
    if !printer.is_quiet() {
        let memberships: usize = generated
            .tenant
            .members
            .values()
            .map(Vec::len)
            .sum::<usize>()
            + generated
                .tenant
                .owners
                .values()
                .map(Vec::len)
                .sum::<usize>()
            + generated
                .tenant
                .app_role_assigned_to
                .values()
                .map(Vec::len)
                .sum::<usize>();
        printer.status(format_args!(
            "Generated {} tenant (seed {}): {} users, {} packages, {} assignments, {} memberships, {} expected findings",
            args.size,
            args.seed,
            generated.tenant.users.len(),
            generated.tenant.packages.len(),
            generated.tenant.assignments.len(),
            memberships,
            generated.truth.len()
        ));
        printer.status(format_args!(
            "Wrote {} and {}",
            args.out.display(),
            truth_path.display()
        ));
    }
    printer.data(format_args!("{}", args.out.display()))?;
    Ok(Outcome::Clean)
}
