//! `flakehunt window`: map a race window from outside the program by sweeping the delay of one
//! script step (by default: a SIGINT sent some time after start), spending a second half of the
//! runs where the failure rate changes, and reporting rate against the measured delay.

use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::Args;

use crate::analysis::window::design::{Design, PHASES};
use crate::analysis::window::{map_window, SweepSample, WindowMap};
use crate::campaign::{launch, prepare, Prepared};
use crate::cli::report::AfterReport;
use crate::cli::run::RunArgs;
use crate::cli::EXIT_OK;
use crate::report;
use crate::report::window::{Phase, WindowView};
use crate::sink::window::{SampleSink, Samples};
use crate::spec::script::{Script, Step};
use crate::spec::Sweep;
use crate::store::report::Subject;
use crate::store::Store;

/// Arguments of `flakehunt window`.
#[derive(Debug, Clone, Args)]
pub struct WindowArgs {
    /// The delay to sweep: `sleep MIN..MAX` (e.g. `sleep 0us..20ms`). It replaces the first
    /// `sleep` step of the script; with no script, runs get `sleep`, then `signal SIGINT`.
    #[arg(long, value_name = "SPEC")]
    pub sweep: String,
    /// Number of delays tried.
    #[arg(long = "steps", value_name = "N", default_value_t = 40)]
    pub points: usize,
    /// Space the delays geometrically instead of evenly.
    #[arg(long)]
    pub log: bool,
    /// Runs per delay (half spread evenly, half where the rate changes).
    #[arg(
        long,
        value_name = "N",
        default_value_t = 20,
        conflicts_with = "budget"
    )]
    pub runs_per_step: u64,
    /// Spend this much time instead of a fixed number of runs.
    #[arg(long, value_name = "DUR", value_parser = crate::cli::run::parse_duration)]
    pub budget: Option<Duration>,
    /// Runner options, script and command, as for `flakehunt run`.
    #[command(flatten)]
    pub run: RunArgs,
}

fn parse_sweep(text: &str) -> Result<(Duration, Duration)> {
    let script = Script::from_steps(&[text.to_string()])
        .map_err(|error| anyhow::anyhow!("--sweep: {}", error.message))?;
    match script.steps.first() {
        Some(Step::Sleep { min, max }) if min < max => Ok((*min, *max)),
        _ => bail!("--sweep takes a range of delays like 'sleep 0us..20ms'"),
    }
}

/// `flakehunt window`.
pub fn execute(mut args: WindowArgs, db: &Path) -> Result<i32> {
    let (min, max) = parse_sweep(&args.sweep)?;
    check(&args)?;
    let after = AfterReport::prepare(args.run.report.as_deref(), &mut args.run.no_history, db)?;
    let db = after.as_ref().map_or(db, |after| after.db());
    let run_args = sweep_run_args(&args);
    let design = Design::new(
        min.as_secs_f64(),
        max.as_secs_f64(),
        args.points,
        args.log,
        args.budget.is_none().then_some(args.runs_per_step),
    );
    let (campaigns, samples) = run_phases(&args, &run_args, &design, (min, max), db)?;
    let map = map_window(&samples, &design.points);
    if !args.run.no_history {
        let mut store = Store::open(db)?;
        crate::store::window::save(&mut store, &campaigns, &args.sweep, &map)?;
    }
    let subject = campaigns.first().cloned().map(Subject::Window);
    let view = WindowView {
        sweep: args.sweep,
        campaigns,
        runs: samples.len(),
        map,
    };
    let mut out = std::io::stdout().lock();
    let _ = if run_args.json {
        writeln!(out, "{}", report::window::json(&view))
    } else {
        write!(out, "{}", report::window::text(&view))
    };
    Ok(match (&after, subject) {
        (Some(after), Some(subject)) => after.finish(|after| after.write(&subject, None), EXIT_OK),
        _ => EXIT_OK,
    })
}

/// Run the phases of `design`, each refining on the samples of those before; stops early if
/// one is interrupted. Returns the campaigns that ran and every run's sample.
fn run_phases(
    args: &WindowArgs,
    run_args: &RunArgs,
    design: &Design,
    (min, max): (Duration, Duration),
    db: &Path,
) -> Result<(Vec<String>, Vec<SweepSample>)> {
    let samples = Samples::default();
    let mut campaigns = Vec::new();
    let mut earlier: Option<WindowMap> = None;
    for number in 1..=PHASES {
        let delays = Arc::new(design.delays(earlier.as_ref()));
        let (prepared, sweep) = prepare_phase(args, run_args, delays, db)?;
        if !run_args.json {
            let phase = Phase {
                number,
                of: PHASES,
                runs: args.budget.is_none().then_some(design.runs_per_phase),
                delays: design.points.len(),
                from: min,
                to: max,
            };
            eprintln!("{}", report::window::phase_line(&phase));
        }
        let collector = Box::new(SampleSink::new(&sweep, samples.clone()));
        let result = launch(&prepared, vec![collector])?;
        campaigns.push(result.summary.campaign.clone());
        if result.summary.interrupted {
            break;
        }
        earlier = Some(map_window(&samples.borrow(), &design.points));
    }
    Ok((campaigns, samples.take()))
}

/// Reject flags window cannot honour, before anything runs.
fn check(args: &WindowArgs) -> Result<()> {
    if args.points < 2 || args.points > 1000 {
        bail!("--steps must be between 2 and 1000");
    }
    if args.runs_per_step < 2 {
        bail!("--runs-per-step must be at least 2");
    }
    if args.run.runs.is_some() || args.run.duration.is_some() || args.run.max_failures.is_some() {
        bail!("window decides how many runs it needs; use --runs-per-step or --budget instead of -n/--duration/--max-failures");
    }
    Ok(())
}

/// The runner options of every phase: with no script given, sleep the swept delay and send
/// SIGINT.
fn sweep_run_args(args: &WindowArgs) -> RunArgs {
    let mut run_args = args.run.clone();
    if run_args.steps.is_empty() && run_args.script.is_none() {
        run_args.steps = vec![
            format!(
                "sleep {}",
                args.sweep.trim().trim_start_matches("sleep").trim()
            ),
            "signal SIGINT".into(),
        ];
    }
    run_args
}

/// One phase's campaign, its first sleep step swept over `delays` (one per run).
fn prepare_phase(
    args: &WindowArgs,
    run_args: &RunArgs,
    delays: Arc<Vec<Duration>>,
    db: &Path,
) -> Result<(Prepared, Sweep)> {
    let mut phase_args = run_args.clone();
    match args.budget {
        Some(budget) => phase_args.duration = Some(budget / PHASES as u32),
        None => phase_args.runs = Some(delays.len() as u64),
    }
    let mut prepared = prepare(&phase_args.request(), db)?;
    prepared.nest_out_dir(args.run.out.as_deref());
    let script = prepared
        .spec
        .script
        .as_ref()
        .context("window needs a script with a sleep step")?;
    let step = script
        .steps
        .iter()
        .position(|step| matches!(step, Step::Sleep { .. }))
        .context("the script has no sleep step to sweep; add one, e.g. --step 'sleep 0..5ms'")?;
    let sweep = Sweep { step, delays };
    prepared.spec.sweep = Some(sweep.clone());
    Ok((prepared, sweep))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sweep_specs() {
        assert_eq!(
            parse_sweep("sleep 0us..20ms").expect("ok"),
            (Duration::ZERO, Duration::from_millis(20))
        );
        assert!(parse_sweep("sleep 5ms").is_err());
        assert!(parse_sweep("signal INT").is_err());
    }
}
