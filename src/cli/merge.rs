//! `flakehunt merge`: fold campaign bundles (the shards of one campaign, run on other
//! machines) into the history as one campaign, and print its summary.

use std::path::{Path, PathBuf};

use anyhow::Result;
use clap::Args;

use crate::bundle::{arms, export, merge, read};
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

/// The `--export` sink of a campaign about to run, labelled with the hunt arm it runs, if
/// any; checked before anything runs.
pub fn export_sink(
    prepared: &crate::campaign::Prepared,
    campaign_runs: Option<u64>,
    path: &Path,
    hunt_arm: Option<crate::bundle::HuntArm>,
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
    let mut header = export::header(prepared, campaign_runs);
    header.hunt_arm = hunt_arm;
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
    if bundles
        .iter()
        .any(|bundle| bundle.header.hunt_arm.is_some())
    {
        return merge_arms(bundles, &args, db);
    }
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
    show_merged(&plan, &merged, args.json)
}

/// Print a merged campaign's summary; the exit status: runtime error when shards are missing,
/// else failures or success (shared with `dispatch`, which merges the same way).
pub fn show_merged(plan: &merge::MergePlan, merged: &merge::Merged, json: bool) -> Result<i32> {
    let rendered = if json {
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

/// Merge the arms of a split hunt: each arm's bundle becomes a campaign of its own, and the
/// arms are compared in the hunt's table. 1 when an arm failed, 3 when an arm is missing.
fn merge_arms(bundles: Vec<read::Bundle>, args: &MergeArgs, db: &Path) -> Result<i32> {
    let mut set = arms::plan(bundles)?;
    for warning in &set.warnings {
        eprintln!("flakehunt: warning: {warning}");
    }
    let total = set.arms.len();
    let missing = set.missing();
    // Every arm is checked before any is recorded: a refused arm leaves the history as it was.
    let mut plans = Vec::new();
    for bundle in set.bundles.iter_mut().map(Option::take) {
        let plan = match bundle {
            Some(bundle) => {
                let seconds = bundle.end.elapsed_s;
                let plan = merge::plan(vec![bundle])?;
                merge::check_not_merged(&plan, db)?;
                Some((plan, seconds))
            }
            None => None,
        };
        plans.push(plan);
    }
    let mut counts = Vec::new();
    for (k, plan) in plans.iter().enumerate() {
        let arm = format!("{}/{total} ({})", k + 1, set.arms[k]);
        let (runs, failures, seconds) = match plan {
            Some((plan, seconds)) => {
                let out = args
                    .out
                    .as_ref()
                    .map(|dir| dir.join(format!("arm-{}", k + 1)));
                let (runs, failures) = record_arm(&arm, plan, db, out.as_deref())?;
                (runs, failures, *seconds)
            }
            None => (0, 0, 0.0),
        };
        counts.push(arms::ArmCount {
            arm: set.arms[k].clone(),
            runs,
            failures,
            seconds,
            signatures: Default::default(),
        });
    }
    for arm in &missing {
        eprintln!("flakehunt: warning: missing {arm}: its row is empty");
    }
    let results = arms::results(&counts);
    let rendered = if args.json {
        let value = serde_json::json!({"hunt": set.hunt, "arms": results, "missing": missing});
        serde_json::to_string(&value)? + "\n"
    } else {
        format!(
            "hunt {}\n{}",
            set.hunt,
            crate::report::hunt::table(&results)
        )
    };
    crate::cli::print_stdout(&rendered)?;
    Ok(if !missing.is_empty() {
        EXIT_RUNTIME
    } else if counts.iter().any(|count| count.failures > 0) {
        EXIT_FAILURES
    } else {
        EXIT_OK
    })
}

/// Record one arm's bundle as a campaign; its runs and failures.
fn record_arm(
    arm: &str,
    plan: &merge::MergePlan,
    db: &Path,
    out: Option<&Path>,
) -> Result<(u64, u64)> {
    for warning in &plan.warnings {
        eprintln!("flakehunt: warning: arm {arm}: {warning}");
    }
    let merged = merge::write(plan, db, out)?;
    for note in &merged.notes {
        eprintln!("flakehunt: {note}");
    }
    eprintln!(
        "flakehunt: arm {arm}: {} run(s) merged into campaign {}",
        plan.runs.len(),
        merged.campaign
    );
    Ok((merged.summary.runs, merged.summary.failures))
}
