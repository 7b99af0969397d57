//! `flakehunt window`: map a race window from outside the program by sweeping the delay of one
//! script step (by default: a SIGINT sent some time after start), spending a second half of the
//! runs where the failure rate changes, and reporting rate against the measured delay. The
//! sweep is one campaign whose two parts are its phases.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::Args;

use crate::analysis::hunt::Budget;
use crate::analysis::window::design::{Design, PHASES};
use crate::analysis::window::{map_window, measured_delay, SweepSample, WindowMap};
use crate::campaign::CampaignResult;
use crate::campaign::{launch_steered, prepare, Prepared, Steering};
use crate::cli::report::AfterReport;
use crate::cli::run::{exit_status, RunArgs};
use crate::cli::{EXIT_FAILURES, EXIT_OK, EXIT_RUNTIME};
use crate::record::FinishedRun;
use crate::report;
use crate::report::window::{Phase, WindowView};
use crate::runner::{Flow, Plan, RunPlan};
use crate::spec::script::{Script, Step};
use crate::spec::{Part, Sweep};
use crate::store::report::Subject;
use crate::store::Store;

/// Arguments of `flakehunt window`.
#[derive(Debug, Clone, Args)]
#[command(after_help = WINDOW_HELP)]
pub struct WindowArgs {
    /// The delay to sweep: `sleep MIN..MAX` (e.g. `sleep 0us..20ms`). It replaces the first
    /// `sleep` step of the script; with no script, runs get `sleep`, then `signal SIGINT`.
    #[arg(long, value_name = "SPEC")]
    pub sweep: String,
    /// Number of delays tried, from MIN to MAX.
    #[arg(long = "points", alias = "steps", value_name = "N", default_value_t = 40, value_parser = parse_points)]
    pub points: usize,
    /// Space the delays geometrically instead of evenly.
    #[arg(long)]
    pub log: bool,
    /// Runs per delay (half spread evenly, half where the rate changes).
    #[arg(
        long = "runs-per-point",
        alias = "runs-per-step",
        value_name = "N",
        default_value_t = 20,
        conflicts_with = "budget"
    )]
    pub runs_per_point: u64,
    /// Budget of the sweep instead of --runs-per-point, as for hunt and bisect: a duration
    /// (`5m`, half on each phase) or a number of runs (`2000`, shared by the delays).
    #[arg(long, value_name = "DUR|N", value_parser = parse_window_budget)]
    pub budget: Option<Budget>,
    /// Runner options, script and command, as for `flakehunt run`.
    #[command(flatten)]
    pub run: RunArgs,
}

/// How window's limits combine, and examples, at the end of its `--help`.
const WINDOW_HELP: &str = "Limits: the sweep makes --points x --runs-per-point runs (half spread \
evenly over the delays, half where the failure rate changes); --budget N shares N runs between the \
delays instead, --budget DUR spends a time. run's \
stop rules -n, --duration and --max-failures do not apply.

Examples:
  flakehunt window --sweep 'sleep 0us..20ms' -- ./server_test
  flakehunt window --sweep 'sleep 0us..5ms' --points 20 --log --budget 5m \\
      --step 'wait-output ready' --step 'sleep 1ms' --step 'signal SIGTERM' -- ./server
  flakehunt window --sweep 'sleep 0us..2ms' --json --go-test ./srv --go-run TestShutdown";

fn parse_window_budget(text: &str) -> Result<Budget> {
    crate::cli::parse_budget(text)
}

/// A number of delays; a script step given here by mistake (the old spelling `--steps` sounds
/// like `--step`) is pointed at `--step`.
fn parse_points(text: &str) -> Result<usize, String> {
    text.trim().parse::<usize>().map_err(|_| {
        if Script::from_steps(&[text.to_string()]).is_ok() {
            format!(
                "'{text}' is not a number of delays; a script step goes in --step (singular), \
                 e.g. --step '{text}'"
            )
        } else {
            format!("'{text}' is not a number of delays; write e.g. --points 40")
        }
    })
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
    crate::cli::run::refuse_scale_out(&args.run, "window")?;
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
        runs_per_point(&args),
    );
    let (prepared, step) = prepare_sweep(&args, &run_args, &design, db)?;
    let mut sweeper = Sweeper::new(design, step, time_budget(&args).map(|b| b / PHASES as u32));
    if !run_args.json {
        sweeper.announce(1, (min, max), time_budget(&args).is_none());
    }
    let result = launch_steered(&prepared, Vec::new(), Some(&mut sweeper))?;
    let mut status = sweep_status(&result);
    let campaigns = vec![result.summary.campaign.clone()];
    let map = map_window(&sweeper.samples, &sweeper.design.points);
    // What ran is shown even when it cannot be recorded.
    let saved = match args.run.no_history {
        true => Ok(()),
        false => save_map(db, &campaigns, &args.sweep, &map),
    };
    let subject = campaigns.first().cloned().map(Subject::Window);
    let view = WindowView {
        sweep: args.sweep,
        campaigns,
        runs: sweeper.samples.len(),
        map,
    };
    let rendered = if run_args.json {
        format!("{}\n", report::window::json(&view))
    } else {
        report::window::text(&view)
    };
    crate::cli::print_stdout(&rendered)?;
    if let Err(error) = saved {
        eprintln!("flakehunt: error: the window map was not recorded: {error:#}");
        status = EXIT_RUNTIME;
    }
    Ok(match (&after, subject) {
        (Some(after), Some(subject)) => after.finish(|after| after.write(&subject, None), status),
        _ => status,
    })
}

/// Record the window map in the history.
fn save_map(db: &Path, campaigns: &[String], sweep: &str, map: &WindowMap) -> Result<()> {
    let mut store = Store::open(db)?;
    crate::store::window::save(&mut store, campaigns, sweep, map)
}

/// The sweep's exit status: failures are what it maps, not an error; an interrupt, a run that
/// could not start or a runtime error still count.
fn sweep_status(result: &CampaignResult) -> i32 {
    match exit_status(result) {
        EXIT_FAILURES => EXIT_OK,
        status => status,
    }
}

/// Labels of the sweep's parts: the even first phase, then the refined one.
const PART_LABELS: [&str; PHASES] = ["even", "refine"];

/// Steers the sweep's one campaign: each run's delay, the first phase spread evenly, the
/// second placed where the first saw the failure rate change (after every first-phase run is
/// in), and one sample per finished run.
struct Sweeper {
    design: Design,
    /// Index of the swept sleep step.
    step: usize,
    /// Length of a phase when a time budget ends it (None: the design's run count does).
    phase_time: Option<Duration>,
    /// Delays of the first phase's runs, by run index.
    first: Vec<Duration>,
    /// Runs given to the first phase (indices `0..first_runs`), and how many of them finished.
    first_runs: u64,
    first_finished: u64,
    /// Delays of the second phase's runs (by index minus `first_runs`), once it began.
    second: Option<Vec<Duration>>,
    started: Option<Instant>,
    samples: Vec<SweepSample>,
    /// Phase lines waiting to be shown, and what they need.
    messages: Vec<String>,
    announce: Option<((Duration, Duration), bool)>,
}

impl Sweeper {
    fn new(design: Design, step: usize, phase_time: Option<Duration>) -> Sweeper {
        Sweeper {
            first: design.delays(None),
            design,
            step,
            phase_time,
            first_runs: 0,
            first_finished: 0,
            second: None,
            started: None,
            samples: Vec::new(),
            messages: Vec::new(),
            announce: None,
        }
    }

    /// Queue the line announcing phase `number` (and, from then on, the next phase's too).
    fn announce(&mut self, number: usize, range: (Duration, Duration), counted: bool) {
        self.announce = Some((range, counted));
        let phase = Phase {
            number,
            of: PHASES,
            runs: counted.then_some(self.design.runs_per_phase),
            delays: self.design.points.len(),
            from: range.0,
            to: range.1,
        };
        self.messages.push(report::window::phase_line(&phase));
    }

    fn first_phase_over(&self, started: Instant) -> bool {
        match self.phase_time {
            Some(length) => started.elapsed() >= length,
            None => self.first_runs >= self.first.len() as u64,
        }
    }

    /// The delay planned for run `index`, if it was given one.
    fn delay_of(&self, index: u64) -> Option<Duration> {
        if index < self.first_runs {
            return self.first.get(index as usize).copied();
        }
        let second = self.second.as_ref()?;
        second.get((index - self.first_runs) as usize).copied()
    }
}

impl Steering for Sweeper {
    fn plan(&mut self, index: u64) -> Plan {
        let started = *self.started.get_or_insert_with(Instant::now);
        if self.second.is_none() {
            if !self.first_phase_over(started) {
                self.first_runs += 1;
                let delay = self.first.get(index as usize).copied();
                return Plan::Run(RunPlan { part: 0, delay });
            }
            // The refinement needs every first-phase result.
            if self.first_finished < self.first_runs {
                return Plan::Wait;
            }
            let map = map_window(&self.samples, &self.design.points);
            self.second = Some(self.design.delays(Some(&map)));
            if let Some((range, counted)) = self.announce {
                self.announce(2, range, counted);
            }
        }
        let delay = self.delay_of(index);
        Plan::Run(RunPlan { part: 1, delay })
    }

    fn finished(&mut self, run: &FinishedRun) -> Flow {
        let record = &run.record;
        if record.part == 0 {
            self.first_finished += 1;
        }
        if let Some(requested) = self.delay_of(record.index) {
            let requested_s = requested.as_secs_f64();
            self.samples.push(SweepSample {
                requested_s,
                achieved_s: measured_delay(&record.script_events, self.step, requested_s),
                failed: record.verdict.is_failure(),
            });
        }
        Flow::Continue
    }

    fn messages(&mut self) -> Vec<String> {
        std::mem::take(&mut self.messages)
    }
}

/// Runs per delay: `--runs-per-point`, or `--budget N` shared between the delays; None when a
/// time budget ends each phase instead.
fn runs_per_point(args: &WindowArgs) -> Option<u64> {
    match args.budget {
        None => Some(args.runs_per_point),
        Some(Budget::Runs(runs)) => Some(runs / args.points as u64),
        Some(Budget::Time(_)) => None,
    }
}

/// The time `--budget DUR` gives the sweep.
fn time_budget(args: &WindowArgs) -> Option<Duration> {
    match args.budget {
        Some(Budget::Time(time)) => Some(time),
        _ => None,
    }
}

/// Reject flags window cannot honour, before anything runs.
fn check(args: &WindowArgs) -> Result<()> {
    if args.points < 2 || args.points > 1000 {
        bail!("--points must be between 2 and 1000");
    }
    // `--step 40` is the number of delays under the name `--steps` used to have.
    if let Some(count) = args
        .run
        .steps
        .iter()
        .find(|step| step.trim().parse::<u64>().is_ok())
    {
        bail!(
            "--step {count}: a script step, not a count; the number of delays is --points {}",
            count.trim()
        );
    }
    if let Some(Budget::Runs(runs)) = args.budget {
        if runs < 2 * args.points as u64 {
            bail!(
                "--budget {runs} leaves fewer than 2 runs for each of the {} delays; give at \
                 least {} runs, or fewer --points",
                args.points,
                2 * args.points
            );
        }
    }
    if args.runs_per_point < 2 {
        bail!("--runs-per-point must be at least 2");
    }
    if args.run.runs.is_some() || args.run.duration.is_some() || args.run.max_failures.is_some() {
        bail!("window decides how many runs it needs; use --points, --runs-per-point or --budget instead of -n/--duration/--max-failures");
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

/// The sweep's one campaign, of two parts (the phases), and the index of its swept step.
fn prepare_sweep(
    args: &WindowArgs,
    run_args: &RunArgs,
    design: &Design,
    db: &Path,
) -> Result<(Prepared, usize)> {
    let mut sweep_args = run_args.clone();
    match time_budget(args) {
        Some(budget) => sweep_args.duration = Some(budget),
        None => sweep_args.runs = Some(design.runs_per_phase * PHASES as u64),
    }
    let mut prepared = prepare(&sweep_args.request(), db)?;
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
    prepared.spec.sweep = Some(Sweep { step });
    let shake = prepared.spec.shake.clone();
    prepared.spec.parts = PART_LABELS
        .iter()
        .map(|label| Part {
            label: label.to_string(),
            shake: shake.clone(),
        })
        .collect();
    Ok((prepared, step))
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
