//! `flakehunt hunt`: find the perturbation that reproduces a failure fastest. The bandit in
//! [`crate::analysis::hunt`] picks the arm for each batch; each batch runs as a campaign of its
//! own; [`crate::report::hunt`] shows the progress and the outcome.

use std::io::Write;
use std::path::Path;
use std::time::Instant;

use anyhow::{bail, Result};
use clap::Args;

use crate::analysis::hunt::{
    Bandit, Batch, BatchResult, Budget, HuntOutcome, Next, Policy, SignatureCount, PLAIN,
};
use crate::campaign::{launch, prepare};
use crate::cli::report::AfterReport;
use crate::cli::run::RunArgs;
use crate::cli::{EXIT_FAILURES, EXIT_OK};
use crate::report;
use crate::shake::{noise, online_cpus, Shake};
use crate::sink::progress::ProgressMode;
use crate::store::hunt::{record_hunt, HuntCampaign};
use crate::store::report::{load_unrecorded_hunt, HuntRecord, Subject};
use crate::store::Store;

/// Arguments of `flakehunt hunt`.
#[derive(Debug, Clone, Args)]
pub struct HuntArgs {
    /// Budget: a duration (`10m`) or a number of runs (`5000`).
    #[arg(long, value_name = "DUR|N", default_value = "10m")]
    pub budget: String,
    /// Stop once one arm has this many failures.
    #[arg(long, value_name = "K", default_value_t = 3)]
    pub failures: u64,
    /// Arms to try, separated by `;` (`plain;pin=one-core;cpu-load=2`) [default: a built-in set].
    #[arg(long, value_name = "LIST")]
    pub arms: Option<String>,
    /// Runs per batch given to the chosen arm [default: 10 per job].
    #[arg(long, value_name = "N")]
    pub batch: Option<u64>,
    /// Runner options and the command, as for `flakehunt run`.
    #[command(flatten)]
    pub run: RunArgs,
}

/// Plain first (the baseline for speedups), then shakes that commonly expose races.
fn default_arms() -> Vec<String> {
    let cpus = online_cpus().len();
    let mut arms = vec![
        PLAIN.to_string(),
        "pin=one-core".to_string(),
        format!("cpu-load={cpus}"),
        "pin=one-core,cpu-load=1".to_string(),
        format!("nice=19,cpu-load={cpus}"),
        format!("sched=idle,cpu-load={cpus}"),
        "jitter=1ms".to_string(),
        format!("mem-load=1,cpu-load={}", cpus.saturating_sub(1).max(1)),
    ];
    if noise::available() {
        arms.push("noise=0.05".into());
        arms.push("pin=one-core,noise=0.05".into());
    }
    arms
}

fn parse_budget(text: &str) -> Result<Budget> {
    if let Ok(runs) = text.trim().parse::<u64>() {
        if runs == 0 {
            bail!("--budget must be more than 0 runs");
        }
        return Ok(Budget::Runs(runs));
    }
    let duration = humantime::parse_duration(text.trim()).map_err(|error| {
        anyhow::anyhow!("--budget '{text}' is neither a number of runs nor a duration ({error})")
    })?;
    if duration.is_zero() {
        bail!("--budget must be longer than 0");
    }
    Ok(Budget::Time(duration))
}

/// Check the arguments and build the bandit, before anything runs.
fn bandit(args: &HuntArgs) -> Result<Bandit> {
    let budget = parse_budget(&args.budget)?;
    if args.failures == 0 {
        bail!("--failures must be at least 1");
    }
    if args.run.runs.is_some() || args.run.duration.is_some() || args.run.max_failures.is_some() {
        bail!("hunt decides how many runs each arm gets; use --budget and --failures instead of -n/--duration/--max-failures");
    }
    if args.run.shake.is_some() {
        bail!("hunt tries shakes itself; list them with --arms instead of --shake");
    }
    let arms: Vec<String> = match &args.arms {
        Some(list) => list
            .split(';')
            .map(|a| a.trim().to_string())
            .filter(|a| !a.is_empty())
            .collect(),
        None => default_arms(),
    };
    if arms.is_empty() {
        bail!("--arms lists no arm");
    }
    for text in arms.iter().filter(|text| *text != PLAIN) {
        Shake::parse(text)?;
    }
    let jobs = args
        .run
        .jobs
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let batch = args.batch.unwrap_or(10 * jobs as u64).max(1);
    let policy = Policy {
        failures: args.failures,
        budget,
        batch,
    };
    Ok(Bandit::new(arms, policy)?)
}

/// Run one batch as a quiet campaign of its own; returns its result and the campaign's id.
fn run_batch(
    args: &HuntArgs,
    db: &Path,
    shake: &str,
    batch: &Batch,
) -> Result<(BatchResult, String)> {
    let mut run_args = args.run.clone();
    run_args.shake = (shake != PLAIN).then(|| shake.to_string());
    run_args.runs = Some(batch.runs);
    run_args.duration = batch.time_left;
    run_args.max_failures = Some(batch.max_failures);
    let mut prepared = prepare(&run_args.request(), db)?;
    prepared.nest_out_dir(args.run.out.as_deref());
    prepared.outputs.progress = ProgressMode::Quiet;
    let started = Instant::now();
    let summary = launch(&prepared, Vec::new())?.summary;
    let campaign = summary.campaign.clone();
    let result = BatchResult {
        runs: summary.runs,
        failures: summary.failures,
        elapsed: started.elapsed(),
        signatures: summary
            .signatures
            .into_iter()
            .filter(|signature| !signature.ignored)
            .map(|signature| SignatureCount {
                id: signature.id,
                text: signature.text,
                count: signature.count,
            })
            .collect(),
        interrupted: summary.interrupted,
    };
    Ok((result, campaign))
}

/// Remember the hunt's best arm for `--shake best` and the campaigns it ran (nothing to
/// remember when no arm failed); returns the recorded hunt's id.
fn remember(
    args: &HuntArgs,
    db: &Path,
    outcome: &HuntOutcome,
    campaigns: &[HuntCampaign],
) -> Result<Option<i64>> {
    let Some(best) = &outcome.best else {
        return Ok(None);
    };
    if args.run.no_history {
        return Ok(None);
    }
    let mut store = Store::open(db)?;
    let command: Vec<String> = args
        .run
        .command
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    record_hunt(&mut store, &command, best, &outcome.arms, campaigns).map(Some)
}

/// `flakehunt hunt`.
pub fn execute(mut args: HuntArgs, db: &Path) -> Result<i32> {
    let mut bandit = bandit(&args)?;
    let after = AfterReport::prepare(args.run.report.as_deref(), &mut args.run.no_history, db)?;
    let db = after.as_ref().map_or(db, |after| after.db());
    let json = args.run.json;
    let started = Instant::now();
    let mut campaigns: Vec<HuntCampaign> = Vec::new();
    while let Next::Run(batch) = bandit.next(started.elapsed()) {
        let shake = bandit.arms()[batch.arm].shake.clone();
        let (result, campaign) = run_batch(&args, db, &shake, &batch)?;
        campaigns.push((campaign, shake));
        let tally = bandit.record(batch.arm, result);
        if !json {
            eprint!("{}", report::hunt::progress(tally));
        }
    }
    let outcome = bandit.outcome();
    let recorded = remember(&args, db, &outcome, &campaigns)?;
    let rendered = if json {
        let mut line = report::hunt::json(&outcome, started.elapsed())?;
        line.push('\n');
        line
    } else {
        report::hunt::text(&outcome)
    };
    // A closed stdout (e.g. piped into `head`) must not turn a finished hunt into an error.
    let _ = std::io::stdout().lock().write_all(rendered.as_bytes());
    let status = if outcome.best.is_some() {
        EXIT_FAILURES
    } else {
        EXIT_OK
    };
    Ok(match &after {
        Some(after) => after.finish(
            |after| write_report(after, &args, &outcome, recorded, &campaigns),
            status,
        ),
        None => status,
    })
}

/// The hunt's report: from the history when it was recorded, else from its outcome and the
/// campaigns it ran.
fn write_report(
    after: &AfterReport,
    args: &HuntArgs,
    outcome: &HuntOutcome,
    recorded: Option<i64>,
    campaigns: &[HuntCampaign],
) -> Result<()> {
    if let Some(id) = recorded {
        return after.write(&Subject::Hunt(id), None);
    }
    let hunt = HuntRecord {
        id: 0,
        created_at: crate::store::now_rfc3339(),
        command: args
            .run
            .command
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect(),
        best: outcome.best.clone(),
        arms: outcome.arms.clone(),
    };
    let store = Store::open_existing(after.db())?;
    after.write_data(&load_unrecorded_hunt(&store, hunt, campaigns)?)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn budgets_parse() {
        assert!(matches!(parse_budget("500"), Ok(Budget::Runs(500))));
        assert!(
            matches!(parse_budget("10m"), Ok(Budget::Time(d)) if d == Duration::from_secs(600))
        );
        assert!(parse_budget("0").is_err());
        assert!(parse_budget("soon").is_err());
    }
}
