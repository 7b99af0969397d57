//! Flake-aware bisection: find the commit that introduced a rare failure. Commits are checked
//! out in worktrees under a cache directory and built once ([`workspace`]); each probe is a
//! normal campaign at one commit ([`probe`]); the posterior over the culprit lives in
//! [`crate::analysis::bisect`]; every probe is recorded in the history so a rerun resumes.

pub mod git;
pub mod probe;
pub mod workspace;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};

use crate::analysis::bisect::{
    settled_leader, BisectReport, Candidate, CommitInfo, CommitReport, Decision, Policy,
    ProbeRecord, ProbeSignature, RatePrior, Search, Status, Strategy, TargetRecord,
};
use crate::analysis::hunt::Budget;
use crate::bisect::git::{short, Repo};
use crate::bisect::probe::{run_probe, ProbeError, ProbePlan, ProbeRun, StopOn, Target};
use crate::bisect::workspace::{Built, Workspace};
use crate::campaign::{prepare, CampaignRequest};
use crate::store::bisect::{
    create_bisection, find_bisection, record_probe, set_status, set_target, NewBisection,
};
use crate::store::Store;
use crate::target::TargetRequest;

/// Candidates kept with each probe and shown in reports.
const CANDIDATES_SHOWN: usize = 5;

/// A second probe runs beside the first only where a run gains at least this share of the
/// information a run at the best commit would.
const SIDE_PROBE_SHARE: f64 = 0.5;

/// Without `--budget`, the search gives up after this many runs at the bad commit without one
/// failure of the target (with `--rate auto`).
pub const NO_FAILURE_CAP: u64 = 100_000;

/// With `--rate R` and no `--budget`, it gives up after this many times 1/R runs there: a true
/// rate R fails that long with a chance of e^-20.
pub const NO_FAILURE_CAP_RATES: f64 = 20.0;

/// The warning comes once this share of the cap is spent without a failure.
const NO_FAILURE_WARNING_SHARE: u64 = 10;

/// An error after probes began (a full disk, a history that cannot be written): what was done
/// is recorded, and rerunning the same command resumes it.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct AfterStart(pub String);

/// What a user asked the bisection to do.
#[derive(Debug, Clone)]
pub struct BisectRequest {
    /// A directory inside the repository.
    pub dir: PathBuf,
    /// The good revision.
    pub good: String,
    /// The bad revision.
    pub bad: String,
    /// Build command, run by `sh -c` in each commit's worktree.
    pub build: Option<String>,
    /// Stop when one commit's posterior reaches this.
    pub confidence: f64,
    /// The failure rate (None: measure it at the bad commit first).
    pub rate: Option<f64>,
    /// Failures at the bad commit measured first (rate auto, or to choose the target).
    pub measure_failures: u64,
    /// `--signature ID|REGEX` (None: the most common signature at the bad commit).
    pub signature: Option<String>,
    /// Search along the first-parent path.
    pub first_parent: bool,
    /// Stop after this much (None: until the confidence is reached).
    pub budget: Option<Budget>,
    /// Runs in flight in all.
    pub jobs: usize,
    /// Commits touching files matching these globs get `prior_weight` in the prior.
    pub prior_globs: Vec<String>,
    /// Prior weight of those commits relative to the others.
    pub prior_weight: f64,
    /// Where probes go.
    pub strategy: Strategy,
    /// Where worktrees, builds and (by default) probes' output go.
    pub cache_dir: PathBuf,
    /// Keep worktrees after the search concluded.
    pub keep_worktrees: bool,
    /// Start over instead of resuming a recorded search of the same command.
    pub fresh: bool,
    /// The command and the options of each probe's campaign; its `cwd`, if any, is relative to
    /// each commit's worktree.
    pub campaign: CampaignRequest,
}

/// What the loop needs that does not change.
struct Driver<'a> {
    request: &'a BisectRequest,
    workspace: &'a Workspace,
    db: &'a Path,
    out_base: PathBuf,
    interrupted: &'a AtomicBool,
}

/// How a probe thread ended.
enum Outcome {
    Ran(ProbeRun),
    Untestable(String),
    /// Interrupted before any run (during the build): nothing to record.
    Interrupted,
}

/// The failure mode searched for: how to match it and how to show it.
#[derive(Debug, Clone)]
struct TargetSpec {
    matcher: Target,
    record: TargetRecord,
}

/// The search's evolving state, rebuilt from the probes.
struct State {
    path: Vec<CommitInfo>,
    index: HashMap<String, usize>,
    weights: Vec<f64>,
    rate: RatePrior,
    policy: Policy,
    probes: Vec<ProbeRecord>,
    target: Option<TargetSpec>,
    /// Runs at the bad commit without a failure after which the search gives up (None: a
    /// `--budget` bounds it instead).
    no_failure_cap: Option<u64>,
    /// The warning that the bad commit has not failed was given.
    warned: bool,
    /// The search gave up at the cap.
    gave_up: bool,
}

impl State {
    fn search(&self) -> Result<Search> {
        let mut search = Search::new(
            self.path.len(),
            Some(self.weights.clone()),
            self.rate,
            self.policy,
        )?;
        for probe in &self.probes {
            let Some(&ix) = self.index.get(&probe.commit) else {
                continue;
            };
            if probe.untestable.is_some() {
                search.mark_untestable(ix);
            } else if let Some(target) = &self.target {
                search.record(ix, target_failures(probe, &target.matcher), probe.passes);
            }
        }
        Ok(search)
    }

    /// With no `--signature`: the most common signature at the bad commit, once it has
    /// failed `measure_failures` times.
    fn choose_target(&mut self) -> Option<TargetRecord> {
        let bad = &self.path[self.path.len() - 1].hash;
        let mut counts: BTreeMap<&str, (u64, usize, &str)> = BTreeMap::new();
        for (seq, probe) in self.probes.iter().enumerate() {
            if &probe.commit != bad {
                continue;
            }
            for signature in probe.signatures.iter().filter(|s| !s.ignored) {
                let entry = counts
                    .entry(&signature.id)
                    .or_insert((0, seq, &signature.text));
                entry.0 += signature.count;
            }
        }
        // In order of first appearance, so that ties go to the failure seen first.
        let mut order: Vec<(&str, (u64, usize, &str))> = counts.into_iter().collect();
        order.sort_by_key(|(_, (_, seq, _))| *seq);
        let totals: Vec<u64> = order.iter().map(|(_, (count, _, _))| *count).collect();
        let chosen = settled_leader(&totals, self.policy.measure_failures)?;
        let (id, (_, _, text)) = order[chosen];
        Some(TargetRecord {
            id: id.to_string(),
            text: text.to_string(),
        })
    }

    /// Fill in each probe's failures of the target, once it is known.
    fn count_targets(&mut self) {
        if let Some(target) = &self.target {
            for probe in &mut self.probes {
                probe.target_failures = target_failures(probe, &target.matcher);
            }
        }
    }

    /// Failures at the bad commit that count: of the target once it is known, else of any
    /// signature (not ignored).
    fn failures_at_bad(&self) -> u64 {
        let bad = &self.path[self.path.len() - 1].hash;
        self.probes
            .iter()
            .filter(|p| &p.commit == bad)
            .flat_map(|p| &p.signatures)
            .filter(|s| !s.ignored)
            .filter(|s| {
                self.target
                    .as_ref()
                    .is_none_or(|t| t.matcher.matches(&s.id, &s.text))
            })
            .map(|s| s.count)
            .sum()
    }

    /// Runs left at the bad commit before the search gives up on seeing it fail (None: no cap,
    /// or it has failed). Warns once, at a tenth of the cap, with what to do.
    fn no_failure_runs_left(&mut self, request: &BisectRequest) -> Option<u64> {
        let cap = self.no_failure_cap?;
        if self.failures_at_bad() > 0 {
            return None;
        }
        let bad = self.path.len() - 1;
        let runs = self.runs_at(bad);
        if !self.warned && runs >= cap / NO_FAILURE_WARNING_SHARE {
            self.warned = true;
            eprintln!("{}", self.no_failure_warning(request, runs, cap));
        }
        Some(cap.saturating_sub(runs))
    }

    fn no_failure_warning(&self, request: &BisectRequest, runs: u64, cap: u64) -> String {
        let bad = &self.path[self.path.len() - 1].hash;
        let others: u64 = self
            .probes
            .iter()
            .filter(|p| &p.commit == bad)
            .flat_map(|p| &p.signatures)
            .filter(|s| !s.ignored)
            .map(|s| s.count)
            .sum();
        let what = match &request.signature {
            Some(signature) => format!("failed with --signature '{signature}'"),
            None => "failed".to_string(),
        };
        let mut text = format!(
            "flakehunt: warning: the bad commit {} has not {what} in {} runs; with no --budget \
             the search gives up after {} runs there without a failure.",
            short(bad),
            crate::report::format::thousands(runs),
            crate::report::format::thousands(cap)
        );
        if request.signature.is_some() {
            text.push_str(&format!(
                " It failed {} time(s) in other ways so far: check that --signature matches \
                 a failure the bad commit shows (`flakehunt show` on a probe's campaign lists \
                 them).",
                crate::report::format::thousands(others)
            ));
        }
        text.push_str(
            " If the failure is rarer than that, give --rate R (e.g. 1/50000) or --budget \
             (e.g. 500000 or 8h); check that --bad names a commit that fails.",
        );
        text
    }

    fn runs_at(&self, ix: usize) -> u64 {
        let hash = &self.path[ix].hash;
        self.probes
            .iter()
            .filter(|p| &p.commit == hash)
            .map(|p| p.runs)
            .sum()
    }
}

fn target_failures(probe: &ProbeRecord, target: &Target) -> u64 {
    probe
        .signatures
        .iter()
        .filter(|s| !s.ignored && target.matches(&s.id, &s.text))
        .map(|s| s.count)
        .sum()
}

/// Probe prior weights: commits touching files that match the globs weigh more.
fn prior_weights(repo: &Repo, path: &[CommitInfo], request: &BisectRequest) -> Result<Vec<f64>> {
    let mut weights = vec![1.0; path.len()];
    if request.prior_globs.is_empty() {
        return Ok(weights);
    }
    let good = &path[0].hash;
    let bad = &path[path.len() - 1].hash;
    let touching = repo.touching(good, bad, &request.prior_globs, request.first_parent)?;
    if touching.is_empty() {
        eprintln!(
            "flakehunt: warning: no commit between good and bad touches {}; the prior stays uniform",
            request.prior_globs.join(", ")
        );
    }
    for (weight, commit) in weights.iter_mut().zip(path).skip(1) {
        if touching.contains(&commit.hash) {
            *weight = request.prior_weight;
        }
    }
    Ok(weights)
}

/// The options that define a search: the same ones find it again to resume.
fn spec_json(request: &BisectRequest, repo: &Repo, good: &str, bad: &str) -> serde_json::Value {
    let campaign = &request.campaign;
    let lossy = |items: &[std::ffi::OsString]| -> Vec<String> {
        items
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect()
    };
    let env: Vec<String> = campaign
        .env
        .iter()
        .map(|(k, v)| format!("{}={}", k.to_string_lossy(), v.to_string_lossy()))
        .collect();
    serde_json::json!({
        "repo": repo.common_dir.display().to_string(),
        "good": good,
        "bad": bad,
        "first_parent": request.first_parent,
        "command": lossy(&campaign.command),
        "target": campaign.target.as_ref().map(target_json),
        "suite": campaign.suite.map(|kind| kind.as_str()),
        "build": request.build,
        "signature": request.signature,
        "cwd": campaign.cwd.as_ref().map(|c| c.display().to_string()),
        "env": env,
        "timeout_s": campaign.timeout.limit.as_secs_f64(),
        "fail_if": campaign.fail_if,
        "ignore": campaign.ignore,
        "steps": campaign.steps,
        "script": campaign.script.as_ref().map(|s| s.display().to_string()),
        "shake": campaign.shake,
    })
}

/// A test target as part of what identifies a search.
fn target_json(target: &TargetRequest) -> serde_json::Value {
    match target {
        TargetRequest::Cargo {
            name,
            package,
            features,
        } => serde_json::json!({"cargo": name, "package": package, "features": features}),
        TargetRequest::Go {
            package,
            name,
            race,
        } => serde_json::json!({"go": package, "run": name, "race": race}),
        TargetRequest::Pytest { node_id } => serde_json::json!({"pytest": node_id}),
        TargetRequest::Auto { name } => serde_json::json!({"test": name}),
    }
}

/// Register SIGINT, SIGTERM and SIGHUP as a flag for the whole search (campaigns add their
/// own handling on top); unregistered on drop.
struct InterruptFlag {
    flag: Arc<AtomicBool>,
    ids: Vec<signal_hook::SigId>,
}

impl InterruptFlag {
    fn register() -> Result<InterruptFlag> {
        let flag = Arc::new(AtomicBool::new(false));
        let mut ids = Vec::new();
        for signal in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
            ids.push(
                signal_hook::flag::register(signal, Arc::clone(&flag))
                    .context("could not install the Ctrl-C handler")?,
            );
        }
        Ok(InterruptFlag { flag, ids })
    }
}

impl Drop for InterruptFlag {
    fn drop(&mut self) {
        for id in self.ids.drain(..) {
            signal_hook::low_level::unregister(id);
        }
    }
}

/// Check the request, set up (or find) the search, run probes until the posterior reaches the
/// confidence, the budget is spent or an interrupt arrives, and report. `on_probe` sees each
/// probe as it is recorded (resumed ones first, with `true`).
pub fn run(
    request: &BisectRequest,
    db: &Path,
    on_probe: &mut dyn FnMut(&ProbeRecord, &[CommitInfo], bool),
) -> Result<BisectReport> {
    let started = Instant::now();
    if !(request.confidence > 0.0 && request.confidence < 1.0) {
        bail!("--confidence must be between 0 and 1 (exclusive), e.g. 0.99");
    }
    if request.jobs == 0 {
        bail!("--jobs must be at least 1");
    }
    if let Some(dir) = &request.campaign.cwd {
        if dir.is_absolute() {
            bail!("--cwd must be relative: it is resolved inside each commit's worktree");
        }
    }
    let explicit_target = request
        .signature
        .as_deref()
        .map(Target::parse)
        .transpose()?;
    let rate = match request.rate {
        Some(rate) => RatePrior::around(rate).map_err(|e| anyhow!("--rate: {e}"))?,
        None => RatePrior::unknown(),
    };
    let repo = Repo::discover(&request.dir)?;
    let good = repo.resolve(&request.good).context("--good")?;
    let bad = repo.resolve(&request.bad).context("--bad")?;
    let path = repo.path(&good, &bad, request.first_parent)?;
    let weights = prior_weights(&repo, &path, request)?;
    let policy = Policy {
        confidence: request.confidence,
        // Even a given rate is checked by one failure at the bad commit: without it, clean
        // runs alone would end up blaming the bad commit for a failure never seen there.
        measure_failures: if request.rate.is_none() {
            request.measure_failures
        } else {
            1
        },
        strategy: request.strategy,
    };
    Search::new(path.len(), Some(weights.clone()), rate, policy)?;
    let workspace = Workspace::open(&repo, &request.cache_dir)?;
    let mut store = Store::open(db)?;

    let spec = spec_json(request, &repo, &good, &bad);
    let key = format!(
        "{:016x}",
        xxhash_rust::xxh3::xxh3_64(spec.to_string().as_bytes())
    );
    let existing = if request.fresh {
        None
    } else {
        find_bisection(&store, &key)?
    };
    let (bisection, probes, stored_target) = match existing {
        Some(found) => (found.id, found.probes, found.target),
        None => {
            let path_json = serde_json::to_value(&path).context("encode the commits")?;
            let new = NewBisection {
                key: &key,
                repo: &repo.toplevel.display().to_string(),
                good: &good,
                bad: &bad,
                spec: &spec,
                path: &path_json,
            };
            (create_bisection(&mut store, &new)?, Vec::new(), None)
        }
    };
    let target = match (&explicit_target, stored_target) {
        (Some(matcher), _) => Some(TargetSpec {
            matcher: matcher.clone(),
            record: TargetRecord {
                id: String::new(),
                text: request.signature.clone().unwrap_or_default(),
            },
        }),
        (None, Some(record)) => Some(TargetSpec {
            matcher: Target::Id(record.id.clone()),
            record,
        }),
        (None, None) => None,
    };
    let resumed = probes.len();
    let index = path
        .iter()
        .enumerate()
        .map(|(i, c)| (c.hash.clone(), i))
        .collect();
    let no_failure_cap = match (request.budget, request.rate) {
        (Some(_), _) => None,
        (None, Some(rate)) => Some((NO_FAILURE_CAP_RATES / rate).ceil() as u64),
        (None, None) => Some(NO_FAILURE_CAP),
    };
    let mut state = State {
        path,
        index,
        weights,
        rate,
        policy,
        probes,
        target,
        no_failure_cap,
        warned: false,
        gave_up: false,
    };
    state.count_targets();
    for probe in &state.probes {
        on_probe(probe, &state.path, true);
    }

    let interrupts = InterruptFlag::register()?;
    let out_base = match &request.campaign.out {
        Some(dir) => std::path::absolute(dir).unwrap_or_else(|_| dir.clone()),
        None => workspace.root().join("out"),
    };
    let context = Driver {
        request,
        workspace: &workspace,
        db,
        out_base,
        interrupted: &interrupts.flag,
    };
    // A search that already concluded only reports again: nothing to check out or build.
    let concluded = state.target.is_some() && state.search()?.decision().is_final();
    if !concluded {
        preflight(&context, &state)?;
    }
    let budget_spent = drive(&context, &mut state, &mut store, bisection, on_probe)
        .map_err(|error| AfterStart(format!("{error:#}")))?;
    let interrupted = interrupts.flag.load(Ordering::Relaxed);
    drop(interrupts);

    let report = report(
        &state,
        bisection,
        resumed,
        &workspace,
        started,
        interrupted,
        budget_spent,
    )?;
    let result = serde_json::to_value(&report).context("encode the report")?;
    set_status(&mut store, bisection, report.status.as_str(), &result)?;
    let mut report = report;
    if report.decision.is_final() && !request.keep_worktrees {
        let hashes: Vec<String> = state.path.iter().map(|c| c.hash.clone()).collect();
        workspace.remove(&hashes)?;
        report.worktrees = None;
    }
    Ok(report)
}

/// Before anything is recorded: the bad commit must check out, build and start the command.
fn preflight(context: &Driver<'_>, state: &State) -> Result<()> {
    let bad = &state.path[state.path.len() - 1].hash;
    let dir = context.workspace.checkout(bad)?;
    match context.workspace.build(
        bad,
        &dir,
        context.request.build.as_deref(),
        context.interrupted,
    )? {
        None => bail!("interrupted while building the bad commit"),
        Some(Built::Untestable { reason }) => {
            bail!("the bad commit {} cannot be tested: {reason}", short(bad))
        }
        Some(Built::Ready) => {}
    }
    let mut request = context.request.campaign.clone();
    request.cwd = Some(match &request.cwd {
        Some(relative) => dir.join(relative),
        None => dir.clone(),
    });
    request.record_history = false;
    let prepared = crate::target::with_build_env(&context.workspace.target_env(bad), || {
        prepare(&request, context.db)
    });
    let what = if request.target.is_some() {
        "the test target cannot be used"
    } else {
        "the command cannot start"
    };
    let prepared = match prepared {
        Err(_) if context.interrupted.load(Ordering::Relaxed) => {
            bail!("interrupted while preparing the bad commit")
        }
        other => other.with_context(|| format!("{what} at the bad commit {}", short(bad)))?,
    };
    if prepared
        .spec
        .target
        .as_ref()
        .and_then(|target| target.build.as_ref())
        .is_some_and(|build| !build.cached)
    {
        context.workspace.count_target_build(bad);
    }
    Ok(())
}

/// A probe in flight.
struct InFlight {
    commit: usize,
    runs: u64,
    jobs: usize,
}

/// Run probes until the search is over; returns whether the budget ran out.
fn drive(
    context: &Driver<'_>,
    state: &mut State,
    store: &mut Store,
    bisection: i64,
    on_probe: &mut dyn FnMut(&ProbeRecord, &[CommitInfo], bool),
) -> Result<bool> {
    let started = Instant::now();
    let mut runs_now = 0u64;
    let mut budget_spent = false;
    let mut fatal: Option<anyhow::Error> = None;
    std::thread::scope(|scope| -> Result<()> {
        let (sender, receiver) = mpsc::channel::<(usize, Result<Outcome>)>();
        let mut in_flight: Vec<InFlight> = Vec::new();
        loop {
            let stopping = fatal.is_some() || context.interrupted.load(Ordering::Relaxed);
            if !stopping {
                loop {
                    let (runs_left, time_left) =
                        budget_left(context.request.budget, runs_now, &in_flight, started);
                    if runs_left == Some(0) || time_left.is_some_and(|t| t.is_zero()) {
                        budget_spent = true;
                        break;
                    }
                    let Some(plan) = plan_next(context, state, &in_flight, runs_left, time_left)?
                    else {
                        break;
                    };
                    in_flight.push(InFlight {
                        commit: plan.commit,
                        runs: plan.runs,
                        jobs: plan.jobs,
                    });
                    let hash = state.path[plan.commit].hash.clone();
                    let sender = sender.clone();
                    scope.spawn(move || {
                        let outcome = execute(context, &hash, &plan);
                        let _ = sender.send((plan.commit, outcome));
                    });
                }
            }
            if in_flight.is_empty() {
                return Ok(());
            }
            let (commit, outcome) = receiver
                .recv()
                .map_err(|_| anyhow!("a probe thread ended without a word"))?;
            if let Some(at) = in_flight.iter().position(|p| p.commit == commit) {
                in_flight.remove(at);
            }
            match outcome {
                Ok(outcome) => {
                    let (probe, error) = match outcome {
                        Outcome::Interrupted => continue,
                        Outcome::Untestable(reason) => {
                            (untestable_probe(state, commit, reason), None)
                        }
                        Outcome::Ran(run) => probe_of_run(state, commit, run, context.interrupted),
                    };
                    runs_now += probe.runs;
                    let probe = finish_probe(state, store, bisection, probe)?;
                    on_probe(&probe, &state.path, false);
                    if let Some(error) = error {
                        fatal.get_or_insert(error);
                    }
                }
                Err(error) => {
                    fatal.get_or_insert(error);
                }
            }
        }
    })?;
    match fatal {
        Some(error) => Err(error),
        None => Ok(budget_spent || state.gave_up),
    }
}

fn budget_left(
    budget: Option<Budget>,
    runs_now: u64,
    in_flight: &[InFlight],
    started: Instant,
) -> (Option<u64>, Option<Duration>) {
    match budget {
        None => (None, None),
        Some(Budget::Runs(total)) => {
            let planned: u64 = in_flight.iter().map(|p| p.runs).sum();
            (Some(total.saturating_sub(runs_now + planned)), None)
        }
        Some(Budget::Time(total)) => (None, Some(total.saturating_sub(started.elapsed()))),
    }
}

/// The next probe to start, if one should start now.
fn plan_next(
    context: &Driver<'_>,
    state: &mut State,
    in_flight: &[InFlight],
    runs_left: Option<u64>,
    time_left: Option<Duration>,
) -> Result<Option<ProbePlan>> {
    let jobs = context.request.jobs;
    let used: usize = in_flight.iter().map(|p| p.jobs).sum();
    if used >= jobs {
        return Ok(None);
    }
    let runs_left = match state.no_failure_runs_left(context.request) {
        Some(0) => {
            state.gave_up = true;
            return Ok(None);
        }
        Some(left) => Some(left.min(runs_left.unwrap_or(u64::MAX))),
        None => runs_left,
    };
    let cap = |runs: u64| runs.clamp(1, runs_left.unwrap_or(u64::MAX));
    if state.target.is_none() {
        if let Some(record) = state.choose_target() {
            state.target = Some(TargetSpec {
                matcher: Target::Id(record.id.clone()),
                record,
            });
        }
    }
    let bad = state.path.len() - 1;
    let Some(target) = state.target.clone() else {
        // Measure at the bad commit until its most common failure mode has failed enough.
        if !in_flight.is_empty() {
            return Ok(None);
        }
        let mut seen = BTreeMap::new();
        for probe in state
            .probes
            .iter()
            .filter(|p| p.commit == state.path[bad].hash)
        {
            for signature in probe.signatures.iter().filter(|s| !s.ignored) {
                *seen.entry(signature.id.clone()).or_insert(0) += signature.count;
            }
        }
        let runs = state.runs_at(bad).max(4 * jobs as u64);
        return Ok(Some(ProbePlan {
            commit: bad,
            runs: cap(runs),
            jobs,
            time_left,
            stop: StopOn::AnyReaches {
                count: state.policy.measure_failures.max(1),
                seen,
            },
            runs_before: state.runs_at(bad),
        }));
    };
    let search = state.search()?;
    let busy: Vec<usize> = in_flight.iter().map(|p| p.commit).collect();
    let Some(probe) = search.next_probe(&busy, runs_left) else {
        return Ok(None);
    };
    let bits = search.information();
    let best_bits = (0..bits.len())
        .filter(|&j| !search.is_untestable(j))
        .map(|j| bits[j])
        .fold(0.0, f64::max);
    let side_probe = |p: &crate::analysis::bisect::Probe| {
        !p.measuring && p.bits_per_run >= SIDE_PROBE_SHARE * best_bits
    };
    let share = if jobs < 2 {
        jobs
    } else if in_flight.is_empty() {
        // Split only if a second commit is worth probing beside this one.
        let second = search.next_probe(&[probe.commit], runs_left);
        if !probe.measuring && second.as_ref().is_some_and(side_probe) {
            jobs.div_ceil(2)
        } else {
            jobs
        }
    } else if side_probe(&probe) {
        jobs - used
    } else {
        return Ok(None);
    };
    Ok(Some(ProbePlan {
        commit: probe.commit,
        runs: cap(probe.runs.max(share as u64)),
        jobs: share,
        time_left,
        stop: StopOn::Target(target.matcher),
        runs_before: state.runs_at(probe.commit),
    }))
}

/// Check out, build and probe one commit (in a probe thread).
fn execute(context: &Driver<'_>, hash: &str, plan: &ProbePlan) -> Result<Outcome> {
    let workspace = context.workspace;
    let dir = workspace.checkout(hash)?;
    match workspace.build(
        hash,
        &dir,
        context.request.build.as_deref(),
        context.interrupted,
    )? {
        None => return Ok(Outcome::Interrupted),
        Some(Built::Untestable { reason }) => return Ok(Outcome::Untestable(reason)),
        Some(Built::Ready) => {}
    }
    if context.interrupted.load(Ordering::Relaxed) {
        return Ok(Outcome::Interrupted);
    }
    let relative = context.request.campaign.cwd.as_deref();
    let probed = crate::target::with_build_env(&workspace.target_env(hash), || {
        run_probe(
            &context.request.campaign,
            relative,
            &dir,
            hash,
            &context.out_base,
            context.db,
            plan,
        )
    });
    match probed {
        Ok(run) => {
            if run.built_target {
                workspace.count_target_build(hash);
            }
            Ok(Outcome::Ran(run))
        }
        // A toolchain stopped by the interrupt is no sign that the commit cannot be tested.
        Err(ProbeError::Setup(_)) if context.interrupted.load(Ordering::Relaxed) => {
            Ok(Outcome::Interrupted)
        }
        Err(ProbeError::Setup(error)) => {
            Ok(Outcome::Untestable(cannot_start(context, hash, &error)))
        }
        Err(ProbeError::Other(error)) => Err(error),
    }
}

/// Why the command cannot start at `hash`, in a line. A test target's error (a build failure,
/// a test not yet written) quotes the toolchain at length: that goes to a log named here.
fn cannot_start(context: &Driver<'_>, hash: &str, error: &anyhow::Error) -> String {
    if context.request.campaign.target.is_none() {
        return format!("the command cannot start there: {error:#}");
    }
    let first = error.to_string();
    let first = first
        .lines()
        .next()
        .unwrap_or_default()
        .trim_end_matches(':');
    let log = context.workspace.target_log(hash);
    match std::fs::write(&log, format!("{error:#}\n")) {
        Ok(()) => format!("test target: {first} (log: {})", log.display()),
        Err(_) => format!("test target: {error:#}"),
    }
}

fn untestable_probe(state: &State, commit: usize, reason: String) -> ProbeRecord {
    ProbeRecord {
        seq: state.probes.len() as u64,
        commit: state.path[commit].hash.clone(),
        campaign: None,
        runs: 0,
        passes: 0,
        signatures: Vec::new(),
        target_failures: 0,
        untestable: Some(reason),
        posterior: Vec::new(),
    }
}

/// The record of a probe that ran, and the error that must end the search, if any.
fn probe_of_run(
    state: &State,
    commit: usize,
    run: ProbeRun,
    interrupted: &AtomicBool,
) -> (ProbeRecord, Option<anyhow::Error>) {
    if run.interrupted {
        interrupted.store(true, Ordering::Relaxed);
    }
    let untestable = if run.untestable {
        Some(format!(
            "a run exited {} (untestable)",
            workspace::UNTESTABLE_EXIT
        ))
    } else if run.runs == 0 {
        run.spawn_error
            .as_ref()
            .map(|error| format!("the command could not start: {error}"))
    } else {
        None
    };
    let error = run
        .runtime_error
        .as_ref()
        .map(|error| anyhow!("probe at {}: {error}", short(&state.path[commit].hash)));
    let record = ProbeRecord {
        seq: state.probes.len() as u64,
        commit: state.path[commit].hash.clone(),
        campaign: Some(run.campaign),
        runs: run.runs,
        passes: run.passes,
        signatures: run.signatures,
        target_failures: 0,
        untestable,
        posterior: Vec::new(),
    };
    (record, error)
}

/// Add the probe to the state, compute the posterior after it, and record it.
fn finish_probe(
    state: &mut State,
    store: &mut Store,
    bisection: i64,
    mut probe: ProbeRecord,
) -> Result<ProbeRecord> {
    probe.seq = state.probes.len() as u64;
    state.probes.push(probe.clone());
    if state.target.is_none() {
        if let Some(record) = state.choose_target() {
            set_target(store, bisection, &record)?;
            state.target = Some(TargetSpec {
                matcher: Target::Id(record.id.clone()),
                record,
            });
        }
    }
    state.count_targets();
    probe.target_failures = state.probes[state.probes.len() - 1].target_failures;
    if state.target.is_some() {
        probe.posterior = top_candidates(&state.path, &state.search()?.posterior());
    }
    if let Some(last) = state.probes.last_mut() {
        last.posterior = probe.posterior.clone();
    }
    record_probe(store, bisection, &probe)?;
    Ok(probe)
}

fn top_candidates(path: &[CommitInfo], posterior: &[f64]) -> Vec<Candidate> {
    let mut order: Vec<usize> = (0..posterior.len()).collect();
    order.sort_by(|a, b| posterior[*b].total_cmp(&posterior[*a]).then(b.cmp(a)));
    order
        .into_iter()
        .take(CANDIDATES_SHOWN)
        .filter(|&k| posterior[k] > 0.0)
        .map(|k| Candidate {
            commit: path[k].hash.clone(),
            probability: posterior[k],
        })
        .collect()
}

/// Everything the views show.
fn report(
    state: &State,
    bisection: i64,
    resumed: usize,
    workspace: &Workspace,
    started: Instant,
    interrupted: bool,
    budget_spent: bool,
) -> Result<BisectReport> {
    let search = state.search()?;
    let known = state.target.is_some();
    let decision = if known {
        search.decision()
    } else {
        Decision::Searching {
            best: state.path.len() - 1,
            probability: 0.0,
        }
    };
    let status = match decision {
        Decision::Culprit { .. } => Status::Culprit,
        Decision::Ambiguous { .. } => Status::Ambiguous,
        Decision::Predates { .. } => Status::Predates,
        Decision::Searching { .. } if interrupted && !budget_spent => Status::Interrupted,
        Decision::Searching { .. } => Status::BudgetSpent,
    };
    let posterior = search.posterior();
    let mut commits: Vec<CommitReport> = state
        .path
        .iter()
        .enumerate()
        .map(|(k, info)| CommitReport {
            info: info.clone(),
            runs: 0,
            failures: 0,
            clean: 0,
            other: 0,
            untestable: None,
            posterior: if known { posterior[k] } else { 0.0 },
        })
        .collect();
    let mut others: BTreeMap<String, ProbeSignature> = BTreeMap::new();
    for probe in &state.probes {
        let Some(&k) = state.index.get(&probe.commit) else {
            continue;
        };
        let commit = &mut commits[k];
        commit.runs += probe.runs;
        commit.clean += probe.passes;
        if let Some(reason) = &probe.untestable {
            commit.untestable = Some(reason.clone());
        }
        for signature in &probe.signatures {
            let is_target = state.target.as_ref().is_some_and(|t| {
                !signature.ignored && t.matcher.matches(&signature.id, &signature.text)
            });
            if is_target {
                commit.failures += signature.count;
            } else {
                commit.other += signature.count;
                others
                    .entry(signature.id.clone())
                    .and_modify(|s| s.count += signature.count)
                    .or_insert_with(|| signature.clone());
            }
        }
    }
    let mut other_failures: Vec<ProbeSignature> = others.into_values().collect();
    other_failures.sort_by(|a, b| b.count.cmp(&a.count).then(a.id.cmp(&b.id)));
    let target = state
        .target
        .as_ref()
        .map(|t| described_target(t, &state.probes));
    let runs = state.probes.iter().map(|p| p.runs).sum();
    let runs_before: u64 = state.probes[..resumed].iter().map(|p| p.runs).sum();
    Ok(BisectReport {
        bisection,
        status,
        decision,
        confidence: state.policy.confidence,
        target,
        candidates: if known {
            top_candidates(&state.path, &posterior)
        } else {
            Vec::new()
        },
        commits,
        trail: state.probes.clone(),
        resumed_probes: resumed,
        runs,
        runs_now: runs - runs_before,
        builds: workspace.builds(),
        rate: known.then(|| search.rate_estimate()),
        runs_to_confirm: if known {
            search.runs_to_confirm()
        } else {
            None
        },
        other_failures,
        elapsed_s: started.elapsed().as_secs_f64(),
        worktrees: Some(workspace.root().display().to_string()),
    })
}

/// A target as shown: a chosen signature as it is, a `--signature` with the first signature it
/// matched.
fn described_target(target: &TargetSpec, probes: &[ProbeRecord]) -> TargetRecord {
    if !target.record.id.is_empty() {
        return target.record.clone();
    }
    probes
        .iter()
        .flat_map(|p| &p.signatures)
        .find(|s| !s.ignored && target.matcher.matches(&s.id, &s.text))
        .map(|s| TargetRecord {
            id: s.id.clone(),
            text: s.text.clone(),
        })
        .unwrap_or_else(|| target.record.clone())
}
