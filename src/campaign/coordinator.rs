//! The campaign coordinator: drives the runner, and for each finished run computes its
//! signature, archives its output, tallies it and feeds the sinks; at the end it summarises.

use std::path::PathBuf;
use std::time::SystemTime;

use anyhow::{bail, Context, Result};

use crate::analysis::per_test::TestTally;

use crate::analysis::signature::signature_with_stacks;
use crate::analysis::summary::{Summary, SummaryContext, Tally};
use crate::record::{FinishedRun, RunRecord, Verdict};
use crate::runner::spawn::CommandTemplate;
use crate::runner::{self, Flow, Notice, Observer, Plan, Progress, RunnerOptions, StopReason};
use crate::sink::archive::Archive;
use crate::sink::Sink;
use crate::spec::CampaignSpec;
use crate::target::suite::PerTest;

/// Steers a campaign of several parts run by run (a hunt's bandit, a window's phases): which
/// part, and which swept delay, each run gets, and when the campaign has learnt enough.
pub trait Steering {
    /// What run `index` is to be; asked when a slot is free.
    fn plan(&mut self, index: u64) -> Plan;
    /// A run finished (archived and tallied); [`Flow::Stop`] ends the campaign, cancelling
    /// the runs in flight.
    fn finished(&mut self, run: &FinishedRun) -> Flow;
    /// Lines for the user, taken after every call (shown like the runner's notices).
    fn messages(&mut self) -> Vec<String> {
        Vec::new()
    }
}

/// Options of a campaign that do not change what is run.
pub struct CampaignOptions<'a> {
    /// Sinks besides the archive (progress, event log...).
    pub sinks: Vec<Box<dyn Sink>>,
    /// The flakehunt binary, started as the guard process (None: no guard).
    pub guard_exe: Option<PathBuf>,
    /// Who picks each run's part, if the campaign has several.
    pub steering: Option<&'a mut dyn Steering>,
}

/// What a finished campaign hands back.
#[derive(Debug)]
pub struct CampaignResult {
    /// The summary, also written to `summary.json` in the output directory.
    pub summary: Summary,
    /// Set when a run could not be started (the campaign stopped early).
    pub spawn_error: Option<String>,
    /// Set when output, the event log, the history or the summary could not be written (a full
    /// disk, an I/O error): the campaign stopped early, its counts are still honest.
    pub runtime_error: Option<String>,
}

/// Run a campaign to its end and summarise it.
pub fn run_campaign(
    spec: &CampaignSpec,
    template: &CommandTemplate,
    options: CampaignOptions<'_>,
) -> Result<CampaignResult> {
    if spec.jobs == 0 {
        bail!("--jobs must be at least 1");
    }
    let spill_dir = crate::campaign::launch::prepare_out_dir(&spec.out_dir)?;
    let command: Vec<String> = spec
        .command
        .iter()
        .map(|arg| arg.to_string_lossy().into_owned())
        .collect();
    let started_at = SystemTime::now();
    let mut coordinator = Coordinator {
        archive: Archive::new(
            spec.out_dir.clone(),
            spec.id.clone(),
            command.clone(),
            spec.keep_passing,
        )
        .with_shake(spec.shake.as_ref().map(|shake| shake.to_string()))
        .with_parts(
            spec.parts
                .iter()
                .map(|part| {
                    let shake = part.shake.as_ref().map(|shake| shake.to_string());
                    (part.label.clone(), shake)
                })
                .collect(),
        ),
        healthy: vec![true; options.sinks.len()],
        sinks: options.sinks,
        steering: options.steering,
        tally: Tally::new(),
        error: None,
        kept: Vec::new(),
        per_test: spec.per_test.clone(),
        tests: TestTally::new(),
    };
    if let Some(dir) = crate::campaign::per_test::junit_dir(spec.per_test.as_ref()) {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let runner_options = RunnerOptions {
        guard_exe: options.guard_exe,
        spill_dir: spill_dir.clone(),
        tick: std::time::Duration::from_millis(200),
    };
    let outcome = runner::execute(spec, template, &runner_options, &mut coordinator)?;
    // Empty after a clean campaign; leftovers are output that could not be archived.
    let _ = std::fs::remove_dir_all(&spill_dir);
    if let Some(dir) = crate::campaign::per_test::junit_dir(spec.per_test.as_ref()) {
        let _ = std::fs::remove_dir_all(dir);
    }
    let mut runtime_error = match (coordinator.error.take(), &outcome.stop_reason) {
        (Some(error), _) => Some(format!("{error:#}")),
        (None, StopReason::IoError(error)) => Some(error.clone()),
        (None, _) => None,
    };
    let stop_reason = match &runtime_error {
        Some(error) => StopReason::IoError(error.clone()).describe(),
        None => outcome.stop_reason.describe(),
    };
    let still_kept = coordinator
        .kept
        .iter()
        .copied()
        .filter(|pid| crate::os::process::is_alive(*pid))
        .collect();
    let mut summary = coordinator.tally.summary(SummaryContext {
        campaign: spec.id.clone(),
        command,
        started_at: humantime::format_rfc3339_seconds(started_at).to_string(),
        elapsed: outcome.elapsed,
        stop_reason,
        interrupted: outcome.stop_reason == StopReason::Interrupted,
        cancelled: outcome.cancelled,
        out_dir: spec.out_dir.clone(),
        still_kept,
    });
    summary.target.clone_from(&spec.target);
    summary.tests = coordinator.tests.rows();
    for sink in &mut coordinator.sinks {
        if let Err(error) = sink.finished(&summary) {
            runtime_error.get_or_insert_with(|| format!("{error:#}"));
        }
    }
    let summary_path = spec.out_dir.join("summary.json");
    let json = serde_json::to_vec_pretty(&summary).context("could not encode the summary")?;
    if let Err(error) = std::fs::write(&summary_path, json) {
        runtime_error
            .get_or_insert_with(|| format!("could not write {}: {error}", summary_path.display()));
    }
    let spawn_error = match outcome.stop_reason {
        StopReason::SpawnFailed(error) => Some(error),
        _ => None,
    };
    Ok(CampaignResult {
        summary,
        spawn_error,
        runtime_error,
    })
}

struct Coordinator<'a> {
    steering: Option<&'a mut dyn Steering>,
    archive: Archive,
    sinks: Vec<Box<dyn Sink>>,
    /// Per sink: false once it failed; it then only gets the final summary.
    healthy: Vec<bool>,
    tally: Tally,
    /// First runtime error (archive or sink); stops the campaign and becomes its stop reason.
    error: Option<anyhow::Error>,
    kept: Vec<u32>,
    /// How runs are read test by test, if they are.
    per_test: Option<PerTest>,
    /// Per-test results so far.
    tests: TestTally,
}

impl Coordinator<'_> {
    /// Classify, archive and tally one run, then feed the sinks and the steering. A sink that
    /// fails (a full disk under the event log or the history) is dropped and the campaign
    /// stops; every run that finished is still counted, so the summary stays unbiased.
    fn handle(&mut self, mut record: RunRecord) -> Flow {
        let mut tests = crate::campaign::per_test::read_tests(self.per_test.as_ref(), &mut record);
        let signature = (record.verdict != Verdict::Pass).then(|| {
            signature_with_stacks(
                &record.outcome_label(),
                record.stacks.as_ref(),
                record.digest.telling_line.as_deref(),
                &record.digest.tail_lines,
            )
        });
        if let crate::record::Termination::TimedOutKept { pid } = record.termination {
            self.kept.push(pid);
        }
        let saved = match self.archive.save(&mut record, signature.as_ref()) {
            Ok(saved) => saved,
            Err(error) => {
                self.fail(error);
                None
            }
        };
        crate::campaign::per_test::single_outcome(
            self.per_test.as_ref(),
            &record,
            signature.as_ref(),
            &mut tests,
        );
        self.tests.add(record.index, &tests);
        let run = FinishedRun {
            record,
            signature,
            saved,
            tests,
        };
        self.tally.add(&run);
        for (sink, healthy) in self.sinks.iter_mut().zip(&mut self.healthy) {
            if *healthy {
                if let Err(error) = sink.run_finished(&run, &self.tally) {
                    *healthy = false;
                    self.error.get_or_insert(error);
                }
            }
        }
        let flow = match self.steering.as_deref_mut() {
            Some(steering) => steering.finished(&run),
            None => Flow::Continue,
        };
        self.relay_messages();
        flow
    }

    /// Pass the steering's lines to the sinks, as notices.
    fn relay_messages(&mut self) {
        let Some(steering) = self.steering.as_deref_mut() else {
            return;
        };
        for line in steering.messages() {
            let notice = Notice::Info(line);
            for sink in &mut self.sinks {
                sink.notice(&notice);
            }
        }
    }

    /// Remember the first runtime error; it becomes the campaign's stop reason.
    fn fail(&mut self, error: anyhow::Error) {
        self.error.get_or_insert(error);
    }
}

impl Observer for Coordinator<'_> {
    fn run_finished(&mut self, record: RunRecord, _progress: &Progress) -> Flow {
        let flow = self.handle(record);
        if self.error.is_some() || self.sinks.iter().any(|sink| sink.wants_stop()) {
            Flow::Stop
        } else {
            flow
        }
    }

    fn plan_run(&mut self, index: u64) -> Plan {
        let plan = match self.steering.as_deref_mut() {
            Some(steering) => steering.plan(index),
            None => Plan::Run(runner::RunPlan::default()),
        };
        self.relay_messages();
        plan
    }

    fn tick(&mut self, progress: &Progress) {
        for (sink, _) in self
            .sinks
            .iter_mut()
            .zip(&self.healthy)
            .filter(|(_, ok)| **ok)
        {
            sink.tick(progress, &self.tally);
        }
    }

    fn notice(&mut self, notice: Notice) {
        for sink in &mut self.sinks {
            sink.notice(&notice);
        }
    }
}
