//! `flakehunt merge`: fold campaign bundles (the shards of one campaign, run on other
//! machines) into the history as one campaign, and print its summary.

use std::path::{Path, PathBuf};

use anyhow::Result;
use clap::Args;

use crate::bundle::{export, merge, read};
use crate::cli::{EXIT_FAILURES, EXIT_OK, EXIT_RUNTIME};

/// Arguments of `flakehunt merge`.
#[derive(Debug, Clone, Args)]
#[command(after_help = "Examples:\n  \
    flakehunt merge shards/*.fhb\n  \
    flakehunt merge --out merged/ --json a.fhb b.fhb")]
pub struct MergeArgs {
    /// Bundles written by `flakehunt run --export` (the shards of one campaign).
    #[arg(required = true, value_name = "BUNDLE")]
    pub bundles: Vec<PathBuf>,

    /// Directory for the failures' output [default: ./flakehunt-out/<campaign-id>].
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,

    /// Print the merged summary as one JSON object on stdout.
    #[arg(long)]
    pub json: bool,
}

/// The `--export` sink of a campaign about to run; checked before anything runs.
pub fn export_sink(
    prepared: &crate::campaign::Prepared,
    campaign_runs: Option<u64>,
    path: &Path,
) -> Result<Box<dyn crate::sink::Sink>> {
    export::check_path(path)?;
    let outputs = &prepared.outputs;
    for (other, what) in [
        (outputs.history.as_deref(), "the history database"),
        (outputs.events.as_deref(), "the --events log"),
    ] {
        if other.is_some_and(|other| export::same_path(other, path)) {
            anyhow::bail!(
                "--export {} is {what}: the bundle would overwrite it (choose another file)",
                path.display()
            );
        }
    }
    let header = export::header(prepared, campaign_runs);
    Ok(Box::new(export::BundleSink::create(path, &header)?))
}

/// `flakehunt merge`: 0 merged without failures, 1 with failures, 3 when shards are missing
/// or were interrupted (what is there is merged), 2 when nothing could be merged.
pub fn execute(args: MergeArgs, db: &Path) -> Result<i32> {
    let bundles = args
        .bundles
        .iter()
        .map(|path| read::read(path))
        .collect::<Result<Vec<_>>>()?;
    let plan = merge::plan(bundles)?;
    for warning in &plan.warnings {
        eprintln!("flakehunt: warning: {warning}");
    }
    let merged = merge::write(&plan, db, args.out.as_deref())?;
    for note in &merged.notes {
        eprintln!("flakehunt: {note}");
    }
    eprintln!(
        "flakehunt: merged {} bundle(s), {} run(s), into campaign {}",
        plan.merged.len(),
        plan.runs.len(),
        merged.campaign
    );
    for missing in merge::missing_indices(&plan) {
        eprintln!("flakehunt: warning: missing {missing}; the rate covers only the runs merged");
    }
    let rendered = if args.json {
        crate::report::summary::json(&merged.summary)? + "\n"
    } else {
        crate::report::summary::text(&merged.summary)
    };
    crate::cli::print_stdout(&rendered)?;
    Ok(if plan.incomplete() {
        EXIT_RUNTIME
    } else if merged.summary.failures > 0 {
        EXIT_FAILURES
    } else {
        EXIT_OK
    })
}
