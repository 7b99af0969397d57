//! `flakehunt hunt`: find the perturbation that reproduces a failure fastest. The hunt is one
//! campaign whose parts are its arms; [`crate::shake::detect`] tells which runtime knobs can
//! reach the program, the bandit in [`crate::analysis::hunt`] picks each batch's arm between
//! runs, and [`crate::report::hunt`] shows the progress and the outcome.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use clap::Args;

use crate::analysis::hunt::{
    ArmId, Bandit, BatchSize, Budget, HuntOutcome, Phase, Policy, RunOutcome, PLAIN,
};
use crate::campaign::{launch_steered, prepare, Steering};
use crate::cli::report::AfterReport;
use crate::cli::run::{exit_status, RunArgs};
use crate::record::FinishedRun;
use crate::report;
use crate::report::hunt::{Detected, HuntView};
use crate::runner::{Flow, Plan, RunPlan};
use crate::shake::detect::{detect, Detection};
use crate::shake::knobs::{default_arms, unreachable_knobs};
use crate::shake::{noise, online_cpus, Shake};
use crate::sink::progress::ProgressMode;
use crate::spec::Part;
use crate::store::hunt::{record_hunt, HuntCampaign};
use crate::store::report::{load_unrecorded_hunt, HuntRecord, Subject};
use crate::store::Store;

/// How often the hunt says where it is when nothing else happens.
const STATUS_EVERY: Duration = Duration::from_secs(5);

/// Wall time a batch of automatically sized runs aims at: long enough that switching arms
/// costs little, short enough that the bandit can change its mind often.
const BATCH_SPAN: Duration = Duration::from_millis(250);

/// Arguments of `flakehunt hunt`.
#[derive(Debug, Clone, Args)]
#[command(after_help = HUNT_HELP)]
// Hunt picks the shakes itself (--arms); a --shake is refused with that said.
#[command(mut_arg("shake", |arg| arg.hide(true)))]
pub struct HuntArgs {
    /// Budget of the whole hunt, confirmation included: a duration (`10m`) or a number of runs
    /// (`5000`).
    #[arg(long, value_name = "DUR|N", default_value = "10m")]
    pub budget: String,
    /// The search ends once the arms have this many failures in all (or when the budget is
    /// spent, whichever comes first).
    #[arg(long, value_name = "K", default_value_t = 3)]
    pub failures: u64,
    /// Arms to try, separated by `;` (`plain;pin=one-core;cpu-load=2`) [default: a set chosen
    /// for the program's runtime].
    #[arg(long, value_name = "LIST")]
    pub arms: Option<String>,
    /// Runs per batch given to the chosen arm [default: about 250 ms of the arm's runs].
    #[arg(long, value_name = "N")]
    pub batch: Option<u64>,
    /// Share of the budget spent measuring the winner against plain once the search is over
    /// (never longer than the search took); 0 skips it.
    #[arg(long, value_name = "SHARE", default_value_t = crate::analysis::hunt::CONFIRM_SHARE)]
    pub confirm: f64,
    /// Runner options and the command, as for `flakehunt run`.
    #[command(flatten)]
    pub run: RunArgs,
}

/// How hunt's limits combine, and examples, at the end of its `--help`.
const HUNT_HELP: &str = "Limits: the search ends at --failures K failures over all arms or \
when --budget is spent, whichever comes first; the confirmation then measures the winner \
against plain with at most --confirm of the budget. run's -n, --duration and --max-failures \
are not hunt's: write --budget N (runs), --budget DUR (time) and --failures K instead.

Examples:
  flakehunt hunt --budget 10m -- ./my_test
  flakehunt hunt --budget 5000 --failures 5 --arms 'plain;pin=one-core;cpu-load=2' -- ./my_test
  flakehunt hunt --cargo-test pool::tests::keeps_order && flakehunt run -n 1000 --shake best \\
      --cargo-test pool::tests::keeps_order";

/// Check the arguments that need no campaign, before anything runs.
fn policy(args: &HuntArgs) -> Result<Policy> {
    let budget = crate::cli::parse_budget(&args.budget)?;
    if args.failures == 0 {
        bail!("--failures must be at least 1");
    }
    if args.run.runs.is_some() || args.run.duration.is_some() || args.run.max_failures.is_some() {
        bail!("hunt decides how many runs each arm gets; use --budget and --failures instead of -n/--duration/--max-failures");
    }
    if args.run.shake.is_some() {
        bail!("hunt tries shakes itself; list them with --arms instead of --shake");
    }
    if !(0.0..1.0).contains(&args.confirm) {
        bail!("--confirm must be a share of the budget, at least 0 and below 1 (e.g. 0.2)");
    }
    let batch = match args.batch {
        Some(0) => bail!("--batch must be at least 1"),
        Some(runs) => BatchSize::Fixed(runs),
        None => BatchSize::Span {
            span: BATCH_SPAN,
            min: 2,
        },
    };
    let mut policy = Policy::new(args.failures, budget, batch);
    policy.confirm = args.confirm;
    Ok(policy)
}

/// The arms to try, as campaign parts, and the lines that say what was chosen and why.
fn choose_arms(args: &HuntArgs, detection: &Detection) -> Result<(Vec<Part>, String)> {
    let (texts, mut notes) = match &args.arms {
        Some(list) => {
            let texts: Vec<String> = list
                .split(';')
                .map(|arm| arm.trim().to_string())
                .filter(|arm| !arm.is_empty())
                .collect();
            if texts.is_empty() {
                bail!("--arms lists no arm");
            }
            (texts, Vec::new())
        }
        None => {
            let found = default_arms(online_cpus().len(), detection, noise::available());
            (found.arms, found.skipped)
        }
    };
    let mut parts = Vec::new();
    for text in &texts {
        if text == PLAIN {
            parts.push(Part {
                label: text.clone(),
                shake: None,
            });
            continue;
        }
        let mut shake = Shake::parse(text).map_err(|error| {
            anyhow::anyhow!(
                "--arms: arm '{text}', item {} '{}': {}",
                error.position,
                error.item,
                error.message
            )
        })?;
        for warning in shake.preflight() {
            eprintln!("flakehunt: warning: arm {text}: {warning}");
        }
        let unreachable = unreachable_knobs(&shake, detection.reach());
        if !unreachable.is_empty() {
            eprintln!(
                "flakehunt: warning: arm {text}: {} cannot reach {} ({}); kept because it was listed",
                unreachable.join(", "),
                detection.runtime,
                detection.basis
            );
        }
        if shake.is_plain() {
            notes.push(format!("{text}: nothing of it can apply here"));
            continue;
        }
        parts.push(Part {
            label: text.clone(),
            shake: Some(Arc::new(shake)),
        });
    }
    if !parts.iter().any(|part| part.label == PLAIN) {
        notes.push("speedups: there is no plain arm to measure them against".into());
    }
    let labels: Vec<String> = parts.iter().map(|part| part.label.clone()).collect();
    let detected = args.arms.is_none().then(|| detected_view(detection));
    let preamble = report::hunt::preamble(detected.as_ref(), &notes, &labels);
    Ok((parts, preamble))
}

fn detected_view(detection: &Detection) -> Detected {
    Detected {
        program: detection.program.display().to_string(),
        runtime: detection.runtime.to_string(),
        basis: detection.basis.clone(),
    }
}

/// Steers the hunt's campaign: each run's arm from the bandit's batches, each finished run's
/// outcome and cost back to it, and the campaign's end once the bandit has learnt enough.
struct Hunter {
    bandit: Bandit,
    labels: Vec<String>,
    target: u64,
    /// Runs in parallel: a run's slot time over this is what it cost the hunt.
    jobs: f64,
    started: Option<Instant>,
    /// The current batch's arm and the runs still to hand out.
    batch: Option<(ArmId, u64)>,
    /// When each run in flight was handed out.
    handed_out: HashMap<u64, Instant>,
    /// Lines for the user (none with `--quiet`), and when the last one was said.
    messages: Vec<String>,
    talk: bool,
    last_said: Option<Instant>,
}

impl Hunter {
    fn spent(&self) -> Duration {
        self.started.map(|at| at.elapsed()).unwrap_or_default()
    }

    fn say(&mut self, line: String) {
        if self.talk {
            self.messages.push(line);
            self.last_said = Some(Instant::now());
        }
    }

    /// A status line when the hunt has said nothing for a while.
    fn status_if_quiet(&mut self) {
        if self.last_said.is_some_and(|at| at.elapsed() < STATUS_EVERY) {
            return;
        }
        if self.last_said.is_none() {
            self.last_said = Some(Instant::now());
            return;
        }
        let leader = self
            .bandit
            .arms()
            .iter()
            .filter(|arm| arm.failures > 0)
            .max_by_key(|arm| arm.failures)
            .map(|arm| (arm.shake.as_str(), arm.failures));
        let line = report::hunt::status_line(self.spent(), self.bandit.total_runs(), leader);
        self.say(line);
    }
}

impl Steering for Hunter {
    fn plan(&mut self, index: u64) -> Plan {
        let now = Instant::now();
        self.started.get_or_insert(now);
        let (arm, left) = match self.batch {
            Some((arm, left)) if left > 0 => (arm, left),
            _ => match self.bandit.next_batch() {
                Some(batch) => (batch.arm, batch.runs),
                None => return Plan::Wait,
            },
        };
        self.batch = Some((arm, left - 1));
        self.handed_out.insert(index, now);
        self.status_if_quiet();
        Plan::Run(RunPlan {
            part: arm,
            delay: None,
        })
    }

    fn finished(&mut self, run: &FinishedRun) -> Flow {
        let record = &run.record;
        let slot = match self.handed_out.remove(&record.index) {
            Some(at) => at.elapsed(),
            None => record.duration,
        };
        let failed = record.verdict.is_failure();
        let signature = run
            .signature
            .as_ref()
            .filter(|_| failed)
            .map(|s| (s.id.clone(), s.text.clone()));
        let outcome = RunOutcome {
            failed,
            signature,
            cost: slot.div_f64(self.jobs),
        };
        let arm = record.part.min(self.labels.len().saturating_sub(1));
        let spent = self.spent();
        let before = self.bandit.phase();
        let after = self.bandit.record(arm, outcome, spent);
        if failed && before == Phase::Search {
            let failures = self.bandit.arms().iter().map(|a| a.failures).sum();
            let line = report::hunt::failure_line(&self.labels[arm], failures, self.target, spent);
            self.say(line);
        }
        if let (Phase::Search, Some(end)) = (before, self.bandit.search_end()) {
            let confirming = matches!(after, Phase::Confirm { .. });
            let winner = &self.labels[end.arm];
            let line = report::hunt::search_over_line(winner, self.target, spent, confirming);
            self.say(line);
        }
        if after == Phase::Done {
            Flow::Stop
        } else {
            Flow::Continue
        }
    }

    fn messages(&mut self) -> Vec<String> {
        std::mem::take(&mut self.messages)
    }
}

/// Remember the hunt's best arm for `--shake best` and the campaign it ran as (nothing to
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
    crate::cli::run::refuse_scale_out(&args.run, "hunt")?;
    let mut policy = policy(&args)?;
    let after = AfterReport::prepare(args.run.report.as_deref(), &mut args.run.no_history, db)?;
    let db = after.as_ref().map_or(db, |after| after.db());
    let mut run_args = args.run.clone();
    match policy.budget {
        Budget::Runs(runs) => run_args.runs = Some(runs),
        Budget::Time(limit) => run_args.duration = Some(limit),
    }
    let mut prepared = prepare(&run_args.request(), db)?;
    if let BatchSize::Span { min, .. } = &mut policy.batch {
        // A couple of runs per job, so that every slot takes part in each batch.
        *min = 2 * prepared.spec.jobs as u64;
    }
    let detection = detect(&prepared.template.program, &prepared.template.args);
    let (parts, preamble) = choose_arms(&args, &detection)?;
    let labels: Vec<String> = parts.iter().map(|part| part.label.clone()).collect();
    let detected = args.arms.is_none().then(|| detected_view(&detection));
    let mut hunter = Hunter {
        bandit: Bandit::new(labels.clone(), policy)?,
        labels: labels.clone(),
        target: policy.failures,
        jobs: prepared.spec.jobs as f64,
        started: None,
        batch: None,
        handed_out: HashMap::new(),
        messages: Vec::new(),
        talk: !args.run.quiet,
        last_said: None,
    };
    prepared.spec.parts = parts;
    // The hunt says what matters itself: a line per failure of the search, a status now and
    // then, rather than a line per failed run.
    prepared.outputs.progress = ProgressMode::Quiet;
    if !args.run.quiet {
        eprint!("{preamble}");
    }
    let started = Instant::now();
    let result = launch_steered(&prepared, Vec::new(), Some(&mut hunter))?;
    let outcome = hunter.bandit.outcome(result.summary.interrupted);
    let campaign = result.summary.campaign.clone();
    // One campaign of every arm: the report shows it with the arms it ran.
    let campaigns = [(campaign.clone(), labels.join("; "))];
    let recorded = remember(&args, db, &outcome, &campaigns)?;
    let view = HuntView {
        outcome,
        campaign,
        elapsed: started.elapsed(),
        target: policy.failures,
        detected,
    };
    let status = exit_status(&result);
    print_view(&view, args.run.json)?;
    Ok(match &after {
        Some(after) => after.finish(
            |after| write_report(after, &args, &view.outcome, recorded, &campaigns),
            status,
        ),
        None => status,
    })
}

/// Print the hunt's outcome, as text or JSON.
fn print_view(view: &HuntView, json: bool) -> Result<()> {
    let rendered = if json {
        report::hunt::json(view)? + "\n"
    } else {
        report::hunt::text(view)
    };
    crate::cli::print_stdout(&rendered)
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
    use super::*;

    #[test]
    fn budgets_parse() {
        assert!(matches!(
            crate::cli::parse_budget("500"),
            Ok(Budget::Runs(500))
        ));
        assert!(
            matches!(crate::cli::parse_budget("10m"), Ok(Budget::Time(d)) if d == Duration::from_secs(600))
        );
        assert!(crate::cli::parse_budget("0").is_err());
        assert!(crate::cli::parse_budget("0s").is_err());
        assert!(crate::cli::parse_budget("soon").is_err());
    }
}
