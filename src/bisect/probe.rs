//! One probe: a batch of runs at one commit, run as a normal campaign (signatures, stop rules,
//! history) inside that commit's worktree. A sink watches the runs so the batch ends at the
//! first failure of the target signature, or at an exit 125 (the commit cannot be tested).

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::path::Path;
use std::rc::Rc;
use std::time::Duration;

use anyhow::{anyhow, Result};
use regex::Regex;

use crate::analysis::bisect::{settled_leader, ProbeSignature};
use crate::analysis::summary::Tally;
use crate::bisect::workspace::UNTESTABLE_EXIT;
use crate::campaign::{launch, prepare, CampaignRequest};
use crate::record::{FinishedRun, Signature, Termination, Verdict};
use crate::sink::progress::ProgressMode;
use crate::sink::Sink;

/// Which failures count as evidence.
#[derive(Debug, Clone)]
pub enum Target {
    /// Signatures whose id starts with this (4 to 12 hex digits).
    Id(String),
    /// Signatures whose text matches.
    Pattern(Regex),
}

impl Target {
    /// `--signature ID|REGEX`: hex digits (4 to 12) name an id or its prefix, anything else is a
    /// regex over the signature's text.
    pub fn parse(text: &str) -> Result<Target> {
        let is_id = (4..=12).contains(&text.len()) && text.chars().all(|c| c.is_ascii_hexdigit());
        if is_id {
            return Ok(Target::Id(text.to_ascii_lowercase()));
        }
        Regex::new(text).map(Target::Pattern).map_err(|error| {
            anyhow!(
                "invalid --signature regex '{text}': {}",
                crate::text::regex_reason(&error)
            )
        })
    }

    /// Whether a failure with this signature is the one searched for.
    pub fn matches(&self, id: &str, text: &str) -> bool {
        match self {
            Target::Id(prefix) => id.starts_with(prefix.as_str()),
            Target::Pattern(regex) => regex.is_match(text),
        }
    }
}

/// When a probe's campaign should stop early.
#[derive(Debug, Clone)]
pub enum StopOn {
    /// At the first failure of the target.
    Target(Target),
    /// Once one signature leads clearly with this many failures (see
    /// [`settled_leader`]), counting `seen` from earlier probes (while the target is still to
    /// be chosen at the bad commit).
    AnyReaches {
        /// Failures wanted.
        count: u64,
        /// Failures per signature id from earlier probes at the same commit.
        seen: BTreeMap<String, u64>,
    },
}

/// What a probe asks for.
#[derive(Debug, Clone)]
pub struct ProbePlan {
    /// Index of the commit on the path.
    pub commit: usize,
    /// Runs wanted.
    pub runs: u64,
    /// Runs in parallel.
    pub jobs: usize,
    /// Time left in the budget.
    pub time_left: Option<Duration>,
    /// Early stop.
    pub stop: StopOn,
    /// Runs at this commit in earlier probes (`FLAKEHUNT_COMMIT_RUNS`).
    pub runs_before: u64,
}

/// What a probe's campaign did.
#[derive(Debug, Clone, Default)]
pub struct ProbeRun {
    /// Its campaign id.
    pub campaign: String,
    /// Runs finished.
    pub runs: u64,
    /// Runs that passed.
    pub passes: u64,
    /// Failures by signature.
    pub signatures: Vec<ProbeSignature>,
    /// A run exited 125: the commit cannot be tested.
    pub untestable: bool,
    /// The campaign was interrupted.
    pub interrupted: bool,
    /// A run could not be started.
    pub spawn_error: Option<String>,
    /// Output or history could not be written.
    pub runtime_error: Option<String>,
    /// The test target was built (not found in the build cache) for this probe.
    pub built_target: bool,
}

#[derive(Debug, Default)]
struct Watch {
    stop: bool,
    untestable: bool,
    counts: BTreeMap<String, u64>,
}

/// The sink that ends a probe early.
struct ProbeSink {
    stop_on: StopOn,
    watch: Rc<RefCell<Watch>>,
}

impl ProbeSink {
    fn observe(&self, signature: &Signature) {
        let mut watch = self.watch.borrow_mut();
        match &self.stop_on {
            StopOn::Target(target) => {
                if target.matches(&signature.id, &signature.text) {
                    watch.stop = true;
                }
            }
            StopOn::AnyReaches { count, seen } => {
                *watch.counts.entry(signature.id.clone()).or_insert(0) += 1;
                let mut totals = seen.clone();
                for (id, now) in &watch.counts {
                    *totals.entry(id.clone()).or_insert(0) += now;
                }
                let totals: Vec<u64> = totals.into_values().collect();
                if settled_leader(&totals, *count).is_some() {
                    watch.stop = true;
                }
            }
        }
    }
}

impl Sink for ProbeSink {
    fn run_finished(&mut self, run: &FinishedRun, _tally: &Tally) -> Result<()> {
        if run.record.termination
            == (Termination::Exited {
                code: UNTESTABLE_EXIT,
            })
        {
            let mut watch = self.watch.borrow_mut();
            watch.untestable = true;
            watch.stop = true;
            return Ok(());
        }
        if matches!(run.record.verdict, Verdict::Fail(_)) {
            if let Some(signature) = &run.signature {
                self.observe(signature);
            }
        }
        Ok(())
    }

    fn wants_stop(&self) -> bool {
        self.watch.borrow().stop
    }
}

/// Why a probe could not run its command at a commit.
#[derive(Debug)]
pub enum ProbeError {
    /// The command cannot start there (missing program, bad working directory...).
    Setup(anyhow::Error),
    /// Anything else (the history, the output directory).
    Other(anyhow::Error),
}

/// Run `plan` as a campaign in `worktree`, with `base` giving every option but the stop rules,
/// the working directory and the parallelism.
pub fn run_probe(
    base: &CampaignRequest,
    relative_cwd: Option<&Path>,
    worktree: &Path,
    hash: &str,
    out_base: &Path,
    db: &Path,
    plan: &ProbePlan,
) -> Result<ProbeRun, ProbeError> {
    let mut request = base.clone();
    // The commit and the runs it already had, so a seeded test can continue its sequence.
    request.env.push(("FLAKEHUNT_COMMIT".into(), hash.into()));
    request.env.push((
        "FLAKEHUNT_COMMIT_RUNS".into(),
        plan.runs_before.to_string().into(),
    ));
    request.cwd = Some(match relative_cwd {
        Some(dir) => worktree.join(dir),
        None => worktree.to_path_buf(),
    });
    request.jobs = Some(plan.jobs.max(1));
    request.stop.runs = Some(plan.runs.max(1));
    request.stop.duration = plan.time_left;
    request.stop.max_failures = None;
    request.progress = ProgressMode::Quiet;
    request.record_history = true;
    let mut prepared = prepare(&request, db).map_err(ProbeError::Setup)?;
    prepared.nest_out_dir(Some(out_base));
    let watch = Rc::new(RefCell::new(Watch::default()));
    let sink = ProbeSink {
        stop_on: plan.stop.clone(),
        watch: Rc::clone(&watch),
    };
    let built_target = prepared
        .spec
        .target
        .as_ref()
        .and_then(|target| target.build.as_ref())
        .is_some_and(|build| !build.cached);
    let result = launch(&prepared, vec![Box::new(sink)]).map_err(ProbeError::Other)?;
    let summary = result.summary;
    let untestable = watch.borrow().untestable;
    Ok(ProbeRun {
        campaign: summary.campaign,
        runs: summary.runs,
        passes: summary.passes,
        signatures: summary
            .signatures
            .into_iter()
            .map(|s| ProbeSignature {
                id: s.id,
                text: s.text,
                count: s.count,
                ignored: s.ignored,
            })
            .collect(),
        untestable,
        interrupted: summary.interrupted,
        spawn_error: result.spawn_error,
        runtime_error: result.runtime_error,
        built_target,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_targets_are_ids_or_regexes() {
        let id = Target::parse("0a1B2c").expect("id");
        assert!(id.matches("0a1b2c3d4e5f", "exit 1: anything"));
        assert!(!id.matches("ffffff000000", "exit 1: 0a1b2c"));
        let pattern = Target::parse("timeout|deadline").expect("regex");
        assert!(pattern.matches("ffffff000000", "exit 1: deadline exceeded"));
        assert!(!pattern.matches("ffffff000000", "exit 1: boom"));
        assert!(Target::parse("(unclosed").is_err());
        // Too short to be an id: a regex.
        assert!(matches!(Target::parse("abc"), Ok(Target::Pattern(_))));
    }
}
