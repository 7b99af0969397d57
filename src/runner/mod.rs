//! The runner: spawns runs in parallel, times them, captures their output, enforces timeouts and
//! stop rules, and hands each finished run to an [`Observer`] as a [`RunRecord`].
//!
//! One thread drives everything through a `poll(2)` loop over each run's output pipes and pidfd
//! plus an interrupt pipe, so no run's state is shared between threads and a Ctrl-C is handled
//! like any other event. Every run leads its own process group; anything that ends a run ends the
//! whole group.

pub mod capture;
pub mod guard;
pub mod interrupt;
pub mod script;
pub mod spawn;

use std::ffi::{OsStr, OsString};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, Result};
use rustix::process::{waitid, WaitId, WaitIdOptions};

use crate::diagnose::{self, Diagnoser};
use crate::os::process::{signal_group, signal_process};
use crate::record::stacks::Stacks;
use crate::record::{FailureKind, OutputDigest, RunRecord, Stream, Termination, Verdict};
use crate::shake::freeze::FreezeSchedule;
use crate::shake::{Freeze, ShakeRuntime};
use crate::spec::script::{Script, SignalTarget};
use crate::spec::{CampaignSpec, OnTimeout, OutputRules};
use capture::Capture;
use guard::Guard;
use interrupt::Interrupts;
use script::{ExitSeen, ScriptIo, ScriptRun, ScriptState};
use spawn::{CommandTemplate, RunSetup, Spawner};

/// How long output pipes may stay open after a run's process group is gone before flakehunt
/// stops waiting for them (a process that left the group still holds them).
const LEAK_GRACE: Duration = Duration::from_millis(250);
/// Reads per pipe per wake-up, so one flooding run cannot starve the others.
const READS_PER_WAKE: usize = 16;
/// Longest wait for a run's stacks before the run goes on without them (the reading thread
/// bounds itself well below this).
const STACKS_LIMIT: Duration = Duration::from_secs(60);

/// Settings of the runner that are not part of the campaign's meaning.
#[derive(Debug, Clone)]
pub struct RunnerOptions {
    /// The flakehunt binary to start as the guard process; None runs without one (tests).
    pub guard_exe: Option<PathBuf>,
    /// Directory for output that outgrows memory (same filesystem as the output directory).
    pub spill_dir: PathBuf,
    /// How often [`Observer::tick`] is called.
    pub tick: Duration,
}

/// What the observer wants after a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    /// Keep going.
    Continue,
    /// Stop launching runs and cancel those in flight.
    Stop,
}

/// What one run is to be: the part of the campaign it belongs to, and the delay of the swept
/// script step (`flakehunt window`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RunPlan {
    /// Index into the campaign's parts ([`CampaignSpec::part_list`]).
    pub part: usize,
    /// Delay of the spec's swept sleep step; None keeps the step's own range.
    pub delay: Option<Duration>,
}

/// The observer's answer when a slot is free.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plan {
    /// Start a run like this.
    Run(RunPlan),
    /// Start nothing now; ask again when a run finishes or at the next tick.
    Wait,
}

/// Why a campaign stopped.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum StopReason {
    /// All `--runs` finished.
    RunsDone,
    /// The `--duration` budget ran out.
    Duration,
    /// `--max-failures` was reached.
    MaxFailures,
    /// SIGINT, SIGTERM or SIGHUP.
    Interrupted,
    /// The observer asked to stop.
    Observer,
    /// A run could not be started.
    SpawnFailed(String),
    /// A run's output could not be saved (a full disk, an I/O error): the campaign stopped and
    /// runs in flight were cancelled, so the counts stay unbiased.
    IoError(String),
}

impl StopReason {
    /// Human phrase for summaries.
    pub fn describe(&self) -> String {
        match self {
            StopReason::RunsDone => "all runs finished".into(),
            StopReason::Duration => "duration reached".into(),
            StopReason::MaxFailures => "max failures reached".into(),
            StopReason::Interrupted => "interrupted".into(),
            StopReason::Observer => "stop condition met".into(),
            StopReason::SpawnFailed(error) => format!("a run could not be started: {error}"),
            StopReason::IoError(error) => format!("stopped: I/O error ({error})"),
        }
    }
}

/// A snapshot of the campaign for progress display.
#[derive(Debug, Clone, Copy)]
pub struct Progress {
    /// Time since the campaign started.
    pub elapsed: Duration,
    /// Runs finished with a record.
    pub finished: u64,
    /// Runs in flight.
    pub active: usize,
}

/// Something worth telling the user while the campaign runs.
#[derive(Debug, Clone)]
pub enum Notice {
    /// A timed-out run was left running for a debugger.
    KeptRunning {
        /// Run index.
        index: u64,
        /// Pid to attach to.
        pid: u32,
    },
    /// The campaign stops; in-flight runs are being cancelled.
    Stopping(StopReason),
    /// Only kept runs remain; the campaign waits for them to exit.
    WaitingForKept {
        /// Their pids.
        pids: Vec<u32>,
    },
    /// Something the user should fix to get everything the campaign offers (said once).
    Warning(String),
    /// A line from whoever steers the campaign (a hunt's or a window's progress).
    Info(String),
}

/// Receives the runner's events. Implemented by the campaign coordinator.
pub trait Observer {
    /// A run finished; its record is handed over.
    fn run_finished(&mut self, record: RunRecord, progress: &Progress) -> Flow;
    /// Called periodically.
    fn tick(&mut self, progress: &Progress);
    /// Something to tell the user.
    fn notice(&mut self, notice: Notice);
    /// What run `index` is to be; asked once per run when a slot is free. By default every run
    /// is part 0 as specified.
    fn plan_run(&mut self, _index: u64) -> Plan {
        Plan::Run(RunPlan::default())
    }
}

/// What the runner reports when the campaign is over.
#[derive(Debug, Clone)]
pub struct RunnerOutcome {
    /// Runs killed because the campaign stopped (no record).
    pub cancelled: u64,
    /// Why it stopped.
    pub stop_reason: StopReason,
    /// Wall time of the campaign.
    pub elapsed: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    /// A live run that will produce a record.
    Running,
    /// Killed because the campaign stopped; output discarded, no record.
    Cancelled,
    /// Timed out and left running; its record was already produced.
    Kept,
}

#[derive(Debug, Clone, Copy)]
struct Exit {
    status: ExitStatus,
    at: Instant,
}

#[derive(Debug, Clone, Copy)]
enum ExitStatus {
    Code(i32),
    Signal { signal: i32, core_dumped: bool },
}

#[derive(Debug)]
struct Slot {
    index: u64,
    pid: u32,
    role: Role,
    pidfd: Option<OwnedFd>,
    pipes: [Option<OwnedFd>; 2],
    capture: Option<Capture>,
    started: Instant,
    started_at: SystemTime,
    /// Time limit of a running slot.
    deadline: Option<Instant>,
    /// When the grace period after the timeout signal ends.
    kill_at: Option<Instant>,
    /// Timeout signal sent, and whether SIGKILL followed.
    timed_out: Option<(i32, bool)>,
    exit: Option<Exit>,
    leaked_pipes: bool,
    /// Write end of the run's stdin, when a script talks to it.
    stdin: Option<OwnedFd>,
    /// The run's progress through the campaign's script.
    script: Option<ScriptRun>,
    /// When the script must be advanced next (a sleep or a step's time limit).
    script_wake: Option<Instant>,
    /// Why the script failed the run.
    script_failure: Option<String>,
    /// Seed of a shaken run.
    seed: Option<u64>,
    /// Its stacks (hang) or backtrace (crash), once read.
    stacks: Option<Stacks>,
    /// Since when its stacks are being read; the run is not done before they are.
    diagnosing: Option<Instant>,
    /// What its time limit does once its stacks are read.
    after_stacks: Option<OnTimeout>,
    /// The campaign part the run belongs to.
    part: usize,
    /// Its freeze schedule (`--shake freeze`), while it may still be frozen.
    freeze: Option<Freezing>,
    /// Time it spent frozen.
    paused: Duration,
}

/// A run's place in its freeze schedule.
#[derive(Debug)]
struct Freezing {
    schedule: FreezeSchedule,
    /// When the next freeze begins or, while frozen, when this one ends.
    next: Instant,
    /// Length of the next freeze.
    length: Duration,
    /// Since when the group is stopped, while it is.
    since: Option<Instant>,
}

impl Freezing {
    fn new(freeze: Freeze, seed: u64, started: Instant) -> Freezing {
        let mut schedule = FreezeSchedule::new(freeze, seed);
        let (gap, length) = schedule.next_freeze();
        Freezing {
            schedule,
            next: started + gap,
            length,
            since: None,
        }
    }
}

impl Slot {
    fn done(&self) -> bool {
        self.exit.is_some() && self.pipes.iter().all(Option::is_none) && self.diagnosing.is_none()
    }

    fn next_deadline(&self) -> Option<Instant> {
        let drain = self.exit.map(|exit| exit.at + LEAK_GRACE);
        let stacks_limit = self.diagnosing.map(|since| since + STACKS_LIMIT);
        let freeze = self.freeze.as_ref().map(|freezing| freezing.next);
        [
            self.deadline,
            self.kill_at,
            drain,
            self.script_wake,
            stacks_limit,
            freeze,
        ]
        .into_iter()
        .flatten()
        .min()
    }
}

/// Which descriptor of which slot a poll entry stands for.
#[derive(Debug, Clone, Copy)]
enum Source {
    Interrupt,
    Stacks,
    Pipe(usize, usize),
    Exit(usize),
}

/// Execute a campaign until a stop rule, the observer or an interrupt ends it.
pub fn execute(
    spec: &CampaignSpec,
    template: &CommandTemplate,
    options: &RunnerOptions,
    observer: &mut dyn Observer,
) -> Result<RunnerOutcome> {
    let mut interrupts = Interrupts::register().context("could not install the Ctrl-C handler")?;
    let mut guard = match &options.guard_exe {
        Some(exe) => Some(
            Guard::start(exe, Some(&options.spill_dir))
                .with_context(|| format!("could not start the guard process {}", exe.display()))?,
        ),
        None => None,
    };
    let (diagnoser, python_base) = if spec.stacks {
        start_diagnoser(spec, template, options)
    } else {
        (None, None)
    };
    let shakes: Vec<_> = spec
        .part_list()
        .into_iter()
        .map(|part| part.shake.filter(|shake| !shake.is_plain()))
        .collect();
    let mut runtime = None;
    let mut template = if diagnoser.is_some() {
        // PYTHONPATH becomes a per-run variable: the Python hook goes first on it.
        python_per_run(template)
    } else {
        template.clone()
    };
    if shakes.iter().any(Option::is_some) {
        let inherited = |key: &OsStr| inherited_value(&template, key);
        let started = ShakeRuntime::start(
            &shakes,
            options.guard_exe.as_deref(),
            &options.spill_dir,
            &spec.id,
            &inherited,
        )?;
        for key in started.per_run_keys() {
            if !template.per_run_keys.contains(&key) {
                template.per_run_keys.push(key);
            }
        }
        runtime = Some(started);
    }
    if let (Some(runtime), 1) = (runtime.as_mut(), shakes.len()) {
        // A campaign of one part starts its load generators before anything runs, so that a
        // failure to start them is reported up front.
        for pid in runtime.activate(0)? {
            if let Some(guard) = guard.as_mut() {
                guard.watch(pid);
            }
        }
    }
    let spawner = Spawner::new(&template).context("could not prepare the command")?;
    if spec.script.is_some() {
        // The default 50 us timer slack would blur the delays a script asks for.
        // SAFETY: prctl on the calling thread only.
        unsafe {
            libc::prctl(libc::PR_SET_TIMERSLACK, 1 as libc::c_ulong, 0, 0, 0);
        }
    }
    let mut engine = Engine {
        spec,
        spawner,
        options,
        start: Instant::now(),
        slots: Vec::with_capacity(spec.jobs),
        launched: 0,
        finished: 0,
        failures: 0,
        cancelled: 0,
        stop: None,
        read_buffer: vec![0u8; 64 * 1024],
        poll_fds: Vec::new(),
        sources: Vec::new(),
        waiting_notice_sent: false,
        campaign_seed: xxhash_rust::xxh3::xxh3_64(spec.id.as_bytes()),
        parts: shakes.len(),
        runtime,
        pending: Vec::new(),
        held: None,
        io_error: None,
        diagnoser,
        python_base,
        warnings: Vec::new(),
    };
    let result = engine.run(&mut interrupts, guard.as_mut(), observer);
    if result.is_err() {
        engine.abandon(guard.as_mut());
    }
    if let Some(guard) = guard {
        guard.stop();
    }
    result
}

struct Engine<'a> {
    spec: &'a CampaignSpec,
    spawner: Spawner,
    options: &'a RunnerOptions,
    start: Instant,
    slots: Vec<Slot>,
    launched: u64,
    finished: u64,
    failures: u64,
    cancelled: u64,
    stop: Option<StopReason>,
    read_buffer: Vec<u8>,
    poll_fds: Vec<libc::pollfd>,
    sources: Vec<Source>,
    waiting_notice_sent: bool,
    /// Seeds each run's draws (script sleep ranges, shake): mixed with the run index.
    campaign_seed: u64,
    /// Number of parts in the campaign.
    parts: usize,
    /// Campaign-wide side of the parts' shakes (loads, preload library), if any shakes.
    runtime: Option<ShakeRuntime>,
    /// Runs whose start is delayed by `--shake jitter`: (index, seed, plan, start time).
    pending: Vec<(u64, u64, RunPlan, Instant)>,
    /// A planned run waiting for runs of a part with other load generators to finish.
    held: Option<(u64, u64, RunPlan)>,
    /// The first error saving a run's output, not yet acted upon.
    io_error: Option<String>,
    /// Reads stacks of hung and crashed runs (None with `--no-stacks`).
    diagnoser: Option<Diagnoser>,
    /// The `PYTHONPATH` runs would have without the Python hook.
    python_base: Option<std::ffi::OsString>,
    /// Warnings not yet handed to the observer.
    warnings: Vec<String>,
}

/// Start reading stacks for the campaign, or say why not (the campaign goes on without).
fn start_diagnoser(
    spec: &CampaignSpec,
    template: &CommandTemplate,
    options: &RunnerOptions,
) -> (Option<Diagnoser>, Option<std::ffi::OsString>) {
    let cwd = spec
        .cwd
        .clone()
        .or_else(|| std::env::current_dir().ok())
        .unwrap_or_else(|| PathBuf::from("."));
    let work = options.spill_dir.join(".stacks");
    match Diagnoser::start(&work, &cwd, spec.timeout.signal) {
        Ok(diagnoser) => {
            let base = template
                .env
                .iter()
                .rev()
                .find(|(key, _)| key == "PYTHONPATH")
                .map(|(_, value)| value.clone())
                .or_else(|| std::env::var_os("PYTHONPATH"));
            (Some(diagnoser), base)
        }
        Err(error) => {
            eprintln!(
                "flakehunt: warning: no stacks of hung or crashed runs: cannot prepare {}: {error}",
                work.display()
            );
            (None, None)
        }
    }
}

/// The template with `PYTHONPATH` set run by run instead of shared.
fn python_per_run(template: &CommandTemplate) -> CommandTemplate {
    let mut template = template.clone();
    template.env.retain(|(key, _)| key != "PYTHONPATH");
    template.per_run_keys.push("PYTHONPATH".into());
    template
}

impl Engine<'_> {
    fn run(
        &mut self,
        interrupts: &mut Interrupts,
        mut guard: Option<&mut Guard>,
        observer: &mut dyn Observer,
    ) -> Result<RunnerOutcome> {
        let duration_end = self.spec.stop.duration.map(|budget| self.start + budget);
        let mut next_tick = self.start + self.options.tick;
        loop {
            let now = Instant::now();
            if self.stop.is_none() {
                if duration_end.is_some_and(|end| now >= end) {
                    self.begin_stop(StopReason::Duration, observer);
                } else if self
                    .spec
                    .stop
                    .max_failures
                    .is_some_and(|max| self.failures >= max)
                {
                    self.begin_stop(StopReason::MaxFailures, observer);
                }
            }
            self.launch(guard.as_deref_mut(), observer);
            // Runs waiting for a jittered start or for their load count as running.
            let running = self.slots.iter().filter(|s| s.role != Role::Kept).count()
                + self.pending.len()
                + usize::from(self.held.is_some());
            let more_to_launch = self.stop.is_none() && self.may_launch_more();
            if running == 0 && !more_to_launch {
                if self.slots.is_empty() {
                    break;
                }
                if !self.waiting_notice_sent {
                    self.waiting_notice_sent = true;
                    let pids = self.slots.iter().map(|slot| slot.pid).collect();
                    observer.notice(Notice::WaitingForKept { pids });
                }
            }

            let mut wake = next_tick;
            if let (None, Some(end)) = (&self.stop, duration_end) {
                wake = wake.min(end);
            }
            for slot in &self.slots {
                if let Some(at) = slot.next_deadline() {
                    wake = wake.min(at);
                }
            }
            for &(_, _, _, at) in &self.pending {
                wake = wake.min(at);
            }
            self.poll(interrupts, wake)?;
            let now = Instant::now();

            if interrupts.check() && self.stop != Some(StopReason::Interrupted) {
                self.begin_stop(StopReason::Interrupted, observer);
            }
            self.handle_ready()?;
            self.collect_stacks(now, observer);
            self.drive_freezes(now);
            self.enforce_deadlines(now, observer)?;
            self.complete(guard.as_deref_mut(), observer)?;
            self.flush_warnings(observer);
            if let Some(error) = self.io_error.take() {
                self.stop_for_io_error(error, observer);
            }
            if now >= next_tick {
                observer.tick(&self.progress());
                while next_tick <= now {
                    next_tick += self.options.tick;
                }
            }
        }
        let stop_reason = self.stop.clone().unwrap_or(StopReason::RunsDone);
        Ok(RunnerOutcome {
            cancelled: self.cancelled,
            stop_reason,
            elapsed: self.start.elapsed(),
        })
    }

    fn may_launch_more(&self) -> bool {
        self.spec.stop.runs.is_none_or(|runs| self.launched < runs)
    }

    fn progress(&self) -> Progress {
        Progress {
            elapsed: self.start.elapsed(),
            finished: self.finished,
            active: self
                .slots
                .iter()
                .filter(|s| s.role == Role::Running)
                .count(),
        }
    }

    fn launch(&mut self, mut guard: Option<&mut Guard>, observer: &mut dyn Observer) {
        let now = Instant::now();
        // Delayed starts (jitter) whose time has come go first.
        let mut due = Vec::new();
        self.pending.retain(|&(index, seed, plan, at)| {
            if at <= now {
                due.push((index, seed, plan));
                false
            } else {
                true
            }
        });
        for (index, seed, plan) in due {
            if self.stop.is_some() {
                self.cancelled += 1;
                continue;
            }
            self.start_run(index, seed, plan, guard.as_deref_mut(), observer);
        }
        if let Some((index, seed, plan)) = self.held {
            if self.stop.is_some() || !self.may_start(plan.part) {
                return;
            }
            self.held = None;
            self.begin(index, seed, plan, guard.as_deref_mut(), observer);
        }
        while self.stop.is_none() && self.may_launch_more() {
            let running = self
                .slots
                .iter()
                .filter(|s| s.role == Role::Running)
                .count();
            if running + self.pending.len() >= self.spec.jobs {
                break;
            }
            // A shard's runs keep their campaign-wide numbering (`stop.runs` counts its own).
            let index = self
                .spec
                .shard
                .map_or(self.launched, |shard| shard.run_index(self.launched));
            let plan = match observer.plan_run(index) {
                Plan::Run(plan) if plan.part < self.parts => plan,
                // A part the campaign does not have is the observer's bug: run it as part 0
                // rather than lose the run.
                Plan::Run(plan) => RunPlan { part: 0, ..plan },
                Plan::Wait => break,
            };
            self.launched += 1;
            let seed = crate::shake::run_seed(self.campaign_seed, index, self.spec.seed);
            if !self.may_start(plan.part) {
                self.held = Some((index, seed, plan));
                break;
            }
            self.begin(index, seed, plan, guard.as_deref_mut(), observer);
        }
    }

    /// Whether a run of `part` may start now. Runs of parts with different load generators
    /// never overlap: one part's load would perturb the other's runs, and its tally would lie.
    fn may_start(&self, part: usize) -> bool {
        let Some(runtime) = &self.runtime else {
            return true;
        };
        let load = runtime.load_of(part);
        self.slots
            .iter()
            .filter(|slot| slot.role == Role::Running)
            .all(|slot| runtime.load_of(slot.part) == load)
            && self
                .pending
                .iter()
                .all(|&(_, _, plan, _)| runtime.load_of(plan.part) == load)
    }

    /// Switch the load generators to the run's part, then start it (after its jitter delay).
    fn begin(
        &mut self,
        index: u64,
        seed: u64,
        plan: RunPlan,
        mut guard: Option<&mut Guard>,
        observer: &mut dyn Observer,
    ) {
        let mut delay = None;
        if let Some(runtime) = self.runtime.as_mut() {
            match runtime.activate(plan.part) {
                Ok(started) => {
                    if let Some(guard) = guard.as_deref_mut() {
                        for pid in started {
                            guard.watch(pid);
                        }
                    }
                }
                Err(error) => {
                    let reason = format!("run {index}: {error:#}");
                    self.begin_stop(StopReason::SpawnFailed(reason), observer);
                    return;
                }
            }
            delay = runtime
                .start_delay(plan.part, seed)
                .filter(|delay| !delay.is_zero());
        }
        match delay {
            Some(delay) => self
                .pending
                .push((index, seed, plan, Instant::now() + delay)),
            None => self.start_run(index, seed, plan, guard, observer),
        }
    }

    fn start_run(
        &mut self,
        index: u64,
        seed: u64,
        plan: RunPlan,
        guard: Option<&mut Guard>,
        observer: &mut dyn Observer,
    ) {
        let script = self.spec.script.as_deref();
        let stdin_pipe = script.is_some_and(Script::uses_stdin);
        let setup = match &self.runtime {
            Some(runtime) => {
                let (env, placement) = runtime.run_setup(plan.part, index, seed);
                RunSetup {
                    stdin_pipe,
                    env,
                    placement,
                    core_limit: None,
                }
            }
            None => RunSetup {
                stdin_pipe,
                ..RunSetup::default()
            },
        };
        let mut setup = setup;
        if let Some(diagnoser) = &self.diagnoser {
            setup.core_limit = diagnoser.core_limit();
            let before = match setup.env.iter().position(|(key, _)| key == "PYTHONPATH") {
                // `--shake py-switch` puts its own directory first, ahead of the PYTHONPATH
                // flakehunt inherited; the run's own (`--env`) one belongs behind it instead.
                Some(at) => {
                    let shaken = setup.env.remove(at).1;
                    let bytes = std::os::unix::ffi::OsStrExt::as_bytes(shaken.as_os_str());
                    let mut parts = bytes.splitn(2, |&b| b == b':');
                    let first = parts.next().unwrap_or_default();
                    let mut path =
                        <std::ffi::OsStr as std::os::unix::ffi::OsStrExt>::from_bytes(first)
                            .to_os_string();
                    if let Some(base) = self.python_base.as_ref().filter(|b| !b.is_empty()) {
                        path.push(":");
                        path.push(base);
                    }
                    Some(path)
                }
                None => self.python_base.clone(),
            };
            if let Some(path) = diagnoser.python_path(before.as_deref()) {
                setup.env.push(("PYTHONPATH".into(), path));
            }
        }
        let shaken = self
            .runtime
            .as_ref()
            .is_some_and(|runtime| runtime.is_shaken(plan.part));
        let freeze = self
            .runtime
            .as_ref()
            .and_then(|runtime| runtime.freeze(plan.part));
        let child = match self.spawner.spawn(index, &setup) {
            Ok(child) => child,
            Err(error) => {
                let reason = format!("run {index}: {error}");
                self.begin_stop(StopReason::SpawnFailed(reason), observer);
                return;
            }
        };
        {
            if let Some(guard) = guard {
                guard.watch(child.pid);
            }
            let spill_base = self.options.spill_dir.join(format!("run-{index}"));
            let mut capture = Capture::new(self.spec.memory_per_run, spill_base);
            if script.is_some() {
                capture = capture.with_line_log();
            }
            self.slots.push(Slot {
                index,
                pid: child.pid,
                role: Role::Running,
                pidfd: Some(child.pidfd),
                pipes: [Some(child.stdout), Some(child.stderr)],
                capture: Some(capture),
                started: child.started,
                started_at: child.started_at,
                deadline: Some(child.started + self.spec.timeout.limit),
                kill_at: None,
                timed_out: None,
                exit: None,
                leaked_pipes: false,
                stdin: child.stdin,
                script: script.map(|_| {
                    let run = ScriptRun::new(child.started, self.campaign_seed ^ index);
                    match (&self.spec.sweep, plan.delay) {
                        (Some(sweep), Some(delay)) => run.with_fixed_sleep(sweep.step, delay),
                        _ => run,
                    }
                }),
                script_wake: None,
                script_failure: None,
                seed: shaken.then_some(seed),
                stacks: None,
                diagnosing: None,
                after_stacks: None,
                part: plan.part,
                freeze: freeze.map(|freeze| Freezing::new(freeze, seed, child.started)),
                paused: Duration::ZERO,
            });
            let slot_index = self.slots.len() - 1;
            self.drive_script(slot_index, None);
        }
    }

    /// Advance a run's script as far as it goes now; on a failed step, kill the run.
    fn drive_script(&mut self, slot_index: usize, exit: Option<ExitSeen>) {
        let Some(script) = self.spec.script.as_deref() else {
            return;
        };
        let slot = &mut self.slots[slot_index];
        if slot.role != Role::Running || slot.script_failure.is_some() {
            return;
        }
        let Slot {
            script: Some(run),
            capture: Some(capture),
            stdin,
            pid,
            ..
        } = slot
        else {
            return;
        };
        if run.finished(script) {
            return;
        }
        let Some(lines) = capture.line_log() else {
            return;
        };
        let mut io = SlotIo { pid: *pid, stdin };
        let state = run.advance(script, &mut io, lines, Instant::now(), exit);
        let state = match (state, exit) {
            // The process is gone and its output drained: a step still waiting never completes.
            (ScriptState::Waiting(_), Some(seen)) => match run.abandon(script, seen) {
                Some(reason) => ScriptState::Failed(reason),
                None => ScriptState::Done,
            },
            (state, _) => state,
        };
        match state {
            ScriptState::Waiting(wake) => slot.script_wake = wake,
            ScriptState::Done => slot.script_wake = None,
            ScriptState::Failed(reason) => {
                slot.script_wake = None;
                slot.script_failure = Some(reason);
                if slot.exit.is_none() {
                    slot.deadline = None;
                    signal_group(slot.pid, libc::SIGKILL);
                }
            }
        }
    }

    /// Stop launching; cancel runs in flight (runs already timed out or exited still report).
    fn begin_stop(&mut self, reason: StopReason, observer: &mut dyn Observer) {
        // Runs still waiting for a jittered start or for their load never begin.
        self.cancelled += self.pending.len() as u64 + u64::from(self.held.is_some());
        self.pending.clear();
        self.held = None;
        // A run that already ended is not cancelled: collect its exit so it is reported.
        for slot_index in 0..self.slots.len() {
            if self.slots[slot_index].exit.is_none() {
                // Errors surface again in the main loop's own reap.
                let _ = self.reap(slot_index, false);
            }
        }
        let interrupted = reason == StopReason::Interrupted;
        if self.stop.is_none() || interrupted {
            observer.notice(Notice::Stopping(reason.clone()));
        }
        self.stop = Some(reason);
        let now = Instant::now();
        for slot in &mut self.slots {
            if interrupted && slot.diagnosing.take().is_some() {
                // Ctrl-C does not wait for a debugger; the reading's result is dropped.
                slot.after_stacks = None;
            }
            match slot.role {
                Role::Running if slot.exit.is_none() && slot.timed_out.is_none() => {
                    slot.role = Role::Cancelled;
                    slot.deadline = None;
                    signal_group(slot.pid, libc::SIGKILL);
                }
                Role::Running if slot.exit.is_none() => {
                    // Already a timeout failure: cut its grace period short but keep the record.
                    slot.kill_at = Some(now);
                }
                Role::Kept if interrupted => {
                    slot.role = Role::Cancelled;
                    signal_group(slot.pid, libc::SIGKILL);
                }
                _ => {}
            }
        }
    }

    fn poll(&mut self, interrupts: &Interrupts, wake: Instant) -> Result<()> {
        self.poll_fds.clear();
        self.sources.clear();
        let readable = libc::POLLIN;
        self.poll_fds.push(libc::pollfd {
            fd: interrupts.fd().as_raw_fd(),
            events: readable,
            revents: 0,
        });
        self.sources.push(Source::Interrupt);
        if let Some(diagnoser) = &self.diagnoser {
            self.poll_fds.push(libc::pollfd {
                fd: diagnoser.wake_fd().as_raw_fd(),
                events: readable,
                revents: 0,
            });
            self.sources.push(Source::Stacks);
        }
        for (slot_index, slot) in self.slots.iter().enumerate() {
            for (pipe_index, pipe) in slot.pipes.iter().enumerate() {
                if let Some(fd) = pipe {
                    self.poll_fds.push(libc::pollfd {
                        fd: fd.as_raw_fd(),
                        events: readable,
                        revents: 0,
                    });
                    self.sources.push(Source::Pipe(slot_index, pipe_index));
                }
            }
            if let Some(pidfd) = &slot.pidfd {
                self.poll_fds.push(libc::pollfd {
                    fd: pidfd.as_raw_fd(),
                    events: readable,
                    revents: 0,
                });
                self.sources.push(Source::Exit(slot_index));
            }
        }
        let wait = wake.saturating_duration_since(Instant::now());
        // ppoll takes nanoseconds: script sleeps and signal delays need better than poll's ms.
        let timeout = libc::timespec {
            tv_sec: wait.as_secs().min(i32::MAX as u64) as libc::time_t,
            tv_nsec: wait.subsec_nanos() as libc::c_long,
        };
        // SAFETY: poll_fds is a valid array of pollfd of the given length; no signal mask.
        let ready = unsafe {
            libc::ppoll(
                self.poll_fds.as_mut_ptr(),
                self.poll_fds.len() as libc::nfds_t,
                &timeout,
                std::ptr::null(),
            )
        };
        if ready < 0 {
            let error = std::io::Error::last_os_error();
            if error.kind() != std::io::ErrorKind::Interrupted {
                return Err(error).context("poll failed");
            }
        }
        Ok(())
    }

    fn handle_ready(&mut self) -> Result<()> {
        for entry in 0..self.poll_fds.len() {
            let revents = self.poll_fds[entry].revents;
            if revents == 0 {
                continue;
            }
            match self.sources[entry] {
                Source::Interrupt | Source::Stacks => {}
                Source::Pipe(slot_index, pipe_index) => {
                    self.read_pipe(slot_index, pipe_index)?;
                    self.drive_script(slot_index, None);
                }
                Source::Exit(slot_index) => self.reap(slot_index, true)?,
            }
        }
        Ok(())
    }

    fn read_pipe(&mut self, slot_index: usize, pipe_index: usize) -> Result<()> {
        let rules: &OutputRules = &self.spec.output_rules;
        let slot = &mut self.slots[slot_index];
        let stream = if pipe_index == 0 {
            Stream::Stdout
        } else {
            Stream::Stderr
        };
        for _ in 0..READS_PER_WAKE {
            let Some(fd) = &slot.pipes[pipe_index] else {
                break;
            };
            match rustix::io::read(fd.as_fd(), &mut self.read_buffer[..]) {
                Ok(0) => {
                    slot.pipes[pipe_index] = None;
                    break;
                }
                Ok(n) => {
                    let Some(capture) = &mut slot.capture else {
                        continue;
                    };
                    if let Err(error) = capture.push(stream, &self.read_buffer[..n], rules) {
                        // This run's output is lost: it is cancelled, never counted.
                        self.io_error.get_or_insert_with(|| {
                            format!(
                                "could not save the output of run {} in {}: {error}",
                                slot.index,
                                self.options.spill_dir.display()
                            )
                        });
                        if let Some(capture) = slot.capture.take() {
                            capture.discard();
                        }
                        slot.role = Role::Cancelled;
                        slot.deadline = None;
                        signal_group(slot.pid, libc::SIGKILL);
                        break;
                    }
                }
                Err(rustix::io::Errno::AGAIN) => break,
                Err(rustix::io::Errno::INTR) => continue,
                Err(_) => {
                    // A broken pipe is the same as its end for our purposes.
                    slot.pipes[pipe_index] = None;
                    break;
                }
            }
        }
        Ok(())
    }

    /// Collect a run's exit. `known_exited` is true when its pidfd polled readable; otherwise
    /// the exit is only peeked at, so a live run is left alone.
    fn reap(&mut self, slot_index: usize, known_exited: bool) -> Result<()> {
        let slot = &mut self.slots[slot_index];
        let Some(pidfd) = &slot.pidfd else {
            return Ok(());
        };
        if !known_exited {
            let peek = waitid(
                WaitId::PidFd(pidfd.as_fd()),
                WaitIdOptions::EXITED | WaitIdOptions::NOHANG | WaitIdOptions::NOWAIT,
            );
            if !matches!(peek, Ok(Some(_))) {
                return Ok(());
            }
        }
        // The main process is a zombie now, so its pid (the group id) cannot be reused yet: kill
        // whatever it left behind in its group before reaping it.
        signal_group(slot.pid, libc::SIGKILL);
        let status = match waitid(
            WaitId::PidFd(pidfd.as_fd()),
            WaitIdOptions::EXITED | WaitIdOptions::NOHANG,
        ) {
            Ok(Some(status)) => status,
            Ok(None) => return Ok(()),
            Err(rustix::io::Errno::INTR) => return Ok(()),
            Err(error) => {
                return Err(std::io::Error::from(error))
                    .with_context(|| format!("could not collect the exit of run {}", slot.index))
            }
        };
        let status = if let Some(signal) = status.terminating_signal() {
            ExitStatus::Signal {
                signal,
                core_dumped: status.dumped(),
            }
        } else {
            ExitStatus::Code(status.exit_status().unwrap_or(0))
        };
        slot.pidfd = None;
        slot.deadline = None;
        slot.kill_at = None;
        slot.exit = Some(Exit {
            status,
            at: Instant::now(),
        });
        self.collect_cores(slot_index, status);
        Ok(())
    }

    /// Take the cores the run's processes dumped: read them for a crashed run, remove them for
    /// one that timed out or was cancelled (its signal, not a bug, ended it).
    fn collect_cores(&mut self, slot_index: usize, status: ExitStatus) {
        let Some(diagnoser) = self.diagnoser.as_mut() else {
            return;
        };
        let slot = &mut self.slots[slot_index];
        let cores = diagnoser.collect_cores(slot.index, slot.pid);
        let ours = slot.timed_out.is_some() || slot.role != Role::Running;
        if let (ExitStatus::Signal { signal, .. }, false) = (status, ours) {
            if let Some(warning) = diagnoser.crash_warning(signal) {
                self.warnings.push(warning);
            }
        }
        if let (
            ExitStatus::Signal {
                core_dumped: true, ..
            },
            false,
            true,
        ) = (status, ours, cores.is_empty())
        {
            slot.stacks = Some(diagnoser.lost_core());
        }
        if ours || cores.is_empty() {
            Diagnoser::discard(cores);
            return;
        }
        diagnoser.begin_crash(slot.index, cores);
        slot.diagnosing = Some(Instant::now());
    }

    /// Attach the stacks that finished reading, and go on with what each run was waiting for;
    /// give up on readings that take too long.
    fn collect_stacks(&mut self, now: Instant, observer: &mut dyn Observer) {
        let Some(diagnoser) = self.diagnoser.as_mut() else {
            return;
        };
        for (index, stacks) in diagnoser.drain() {
            let Some(slot_index) = self
                .slots
                .iter()
                .position(|slot| slot.index == index && slot.diagnosing.is_some())
            else {
                continue;
            };
            let slot = &mut self.slots[slot_index];
            slot.diagnosing = None;
            slot.stacks = Some(stacks);
            self.after_stacks(slot_index, now, observer);
        }
        for slot_index in 0..self.slots.len() {
            let slot = &mut self.slots[slot_index];
            if slot
                .diagnosing
                .is_some_and(|since| now >= since + STACKS_LIMIT)
            {
                slot.diagnosing = None;
                self.warnings.push(format!(
                    "run {}: reading its stacks took over {} s; it goes on without them",
                    slot.index,
                    STACKS_LIMIT.as_secs()
                ));
                self.after_stacks(slot_index, now, observer);
            }
        }
        self.flush_warnings(observer);
    }

    fn flush_warnings(&mut self, observer: &mut dyn Observer) {
        for warning in self.warnings.drain(..) {
            observer.notice(Notice::Warning(warning));
        }
    }

    /// A run's stacks were read at its time limit: now apply the limit.
    fn after_stacks(&mut self, slot_index: usize, now: Instant, observer: &mut dyn Observer) {
        let slot = &mut self.slots[slot_index];
        let Some(action) = slot.after_stacks.take() else {
            return;
        };
        if slot.role == Role::Running && slot.exit.is_none() {
            self.apply_timeout(slot_index, action, now, observer);
        }
    }

    /// Send the timeout signal (or leave the run running for a debugger, recording it now).
    fn apply_timeout(
        &mut self,
        slot_index: usize,
        action: OnTimeout,
        now: Instant,
        observer: &mut dyn Observer,
    ) {
        let timeout = self.spec.timeout;
        let slot = &mut self.slots[slot_index];
        match action {
            OnTimeout::Kill => {
                signal_group(slot.pid, timeout.signal);
                let escalate = timeout.signal == libc::SIGKILL;
                slot.timed_out = Some((timeout.signal, escalate));
                slot.kill_at = (!escalate).then(|| now + timeout.grace);
            }
            OnTimeout::Keep => {
                let pid = slot.pid;
                let index = slot.index;
                let duration = timeout.limit;
                let capture = slot.capture.take();
                let stacks = slot.stacks.take();
                slot.role = Role::Kept;
                let termination = Termination::TimedOutKept { pid };
                observer.notice(Notice::KeptRunning { index, pid });
                match self.make_record(slot_index, termination, duration, capture, stacks) {
                    Ok(record) => self.deliver(record, observer),
                    Err(error) => {
                        self.io_error.get_or_insert(error);
                    }
                }
            }
        }
    }

    /// Stop and continue runs' process groups on their freeze schedules (`--shake freeze`).
    /// A frozen run's time limit moves by the time it spends frozen, so a freeze never turns
    /// into a timeout; a run that is ending (exited, timed out, failed by its script,
    /// cancelled) is continued and frozen no more.
    fn drive_freezes(&mut self, now: Instant) {
        let stopping = self.stop.is_some();
        for slot in &mut self.slots {
            let live = !stopping
                && slot.role == Role::Running
                && slot.exit.is_none()
                && slot.timed_out.is_none()
                && slot.script_failure.is_none()
                && slot.deadline.is_some_and(|deadline| now < deadline);
            let Some(freezing) = &mut slot.freeze else {
                continue;
            };
            if let Some(since) = freezing.since {
                if live && now < freezing.next {
                    continue;
                }
                // A reaped run's pid may name another group by now: leave it alone.
                if slot.pidfd.is_some() {
                    signal_group(slot.pid, libc::SIGCONT);
                }
                let paused = now.saturating_duration_since(since);
                slot.paused += paused;
                // The limit moved by the planned length when the freeze began; add any overrun.
                if let Some(deadline) = &mut slot.deadline {
                    *deadline += paused.saturating_sub(freezing.length);
                }
                let (gap, length) = freezing.schedule.next_freeze();
                freezing.since = None;
                freezing.next = now + gap;
                freezing.length = length;
            } else if live && now >= freezing.next {
                signal_group(slot.pid, libc::SIGSTOP);
                freezing.since = Some(now);
                freezing.next = now + freezing.length;
                if let Some(deadline) = &mut slot.deadline {
                    *deadline += freezing.length;
                }
            }
            if !live {
                slot.freeze = None;
            }
        }
    }

    fn enforce_deadlines(&mut self, now: Instant, observer: &mut dyn Observer) -> Result<()> {
        let timeout = self.spec.timeout;
        for slot_index in 0..self.slots.len() {
            let slot = &mut self.slots[slot_index];
            if slot.deadline.is_some_and(|at| now >= at) && slot.exit.is_none() {
                slot.deadline = None;
                if let Some(diagnoser) = self.diagnoser.as_mut() {
                    // Stacks first, while every thread is still where it hung.
                    if timeout.action == OnTimeout::Kill {
                        slot.timed_out = Some((timeout.signal, timeout.signal == libc::SIGKILL));
                    }
                    slot.after_stacks = Some(timeout.action);
                    slot.diagnosing = Some(now);
                    if let Some(warning) = diagnoser.hang_warning() {
                        self.warnings.push(warning);
                    }
                    diagnoser.begin_hang(slot.index, slot.pid);
                } else {
                    self.apply_timeout(slot_index, timeout.action, now, observer);
                    if timeout.action == OnTimeout::Keep {
                        continue;
                    }
                }
            }
            if self.slots[slot_index]
                .script_wake
                .is_some_and(|at| now >= at)
            {
                self.slots[slot_index].script_wake = None;
                self.drive_script(slot_index, None);
            }
            let slot = &mut self.slots[slot_index];
            if slot.kill_at.is_some_and(|at| now >= at) && slot.exit.is_none() {
                signal_group(slot.pid, libc::SIGKILL);
                slot.kill_at = None;
                if let Some((_, killed)) = &mut slot.timed_out {
                    *killed = true;
                }
            }
            if let Some(exit) = slot.exit {
                let drain_over = now >= exit.at + LEAK_GRACE || self.stop.is_some();
                if drain_over && slot.pipes.iter().any(Option::is_some) {
                    // Something outside the group holds the pipes; stop waiting for it, but
                    // keep what it wrote so far.
                    for pipe_index in 0..2 {
                        if self.slots[slot_index].pipes[pipe_index].is_some() {
                            self.read_pipe(slot_index, pipe_index)?;
                        }
                    }
                    let slot = &mut self.slots[slot_index];
                    if slot.pipes.iter().any(Option::is_some) {
                        slot.pipes = [None, None];
                        slot.leaked_pipes = true;
                    }
                }
            }
        }
        Ok(())
    }

    fn complete(
        &mut self,
        mut guard: Option<&mut Guard>,
        observer: &mut dyn Observer,
    ) -> Result<()> {
        let mut slot_index = 0;
        while slot_index < self.slots.len() {
            if !self.slots[slot_index].done() {
                slot_index += 1;
                continue;
            }
            if let Some(guard) = guard.as_deref_mut() {
                guard.release(self.slots[slot_index].pid);
            }
            match self.slots[slot_index].role {
                Role::Running => {
                    if let Some(exit) = self.slots[slot_index].exit {
                        let seen = match exit.status {
                            ExitStatus::Code(code) => ExitSeen::Code(code),
                            ExitStatus::Signal { signal, .. } => ExitSeen::Signal(signal),
                        };
                        let rules = &self.spec.output_rules;
                        if let Some(capture) = &mut self.slots[slot_index].capture {
                            capture.flush_partial_lines(rules);
                        }
                        if self.slots[slot_index].timed_out.is_none() {
                            self.drive_script(slot_index, Some(seen));
                        }
                    }
                    let slot = &mut self.slots[slot_index];
                    // done() guarantees the exit was collected.
                    let Some(exit) = slot.exit else {
                        slot_index += 1;
                        continue;
                    };
                    let duration = exit.at.saturating_duration_since(slot.started);
                    let termination = match (slot.timed_out, exit.status) {
                        (Some((signal_sent, killed_after_grace)), _) => Termination::TimedOut {
                            signal_sent,
                            killed_after_grace,
                        },
                        (None, ExitStatus::Code(code)) => Termination::Exited { code },
                        (
                            None,
                            ExitStatus::Signal {
                                signal,
                                core_dumped,
                            },
                        ) => Termination::Signaled {
                            signal,
                            core_dumped,
                        },
                    };
                    let capture = slot.capture.take();
                    let stacks = slot.stacks.take();
                    let record =
                        self.make_record(slot_index, termination, duration, capture, stacks);
                    let slot = self.slots.swap_remove(slot_index);
                    if let Some(diagnoser) = &self.diagnoser {
                        diagnoser.run_ended(slot.index);
                    }
                    match record {
                        Ok(record) => self.deliver(record, observer),
                        Err(error) => {
                            // Without its output the run cannot be judged: not counted.
                            self.cancelled += 1;
                            self.io_error.get_or_insert(error);
                        }
                    }
                }
                Role::Cancelled => {
                    let slot = self.slots.swap_remove(slot_index);
                    if let Some(capture) = slot.capture {
                        capture.discard();
                    }
                    if let Some(diagnoser) = &self.diagnoser {
                        diagnoser.run_ended(slot.index);
                    }
                    self.cancelled += 1;
                }
                Role::Kept => {
                    let slot = self.slots.swap_remove(slot_index);
                    if let Some(diagnoser) = &self.diagnoser {
                        diagnoser.run_ended(slot.index);
                    }
                }
            }
        }
        Ok(())
    }

    fn make_record(
        &self,
        slot_index: usize,
        termination: Termination,
        duration: Duration,
        capture: Option<Capture>,
        mut stacks: Option<Stacks>,
    ) -> Result<RunRecord, String> {
        let slot = &self.slots[slot_index];
        let rules = &self.spec.output_rules;
        let (output, digest) = match capture {
            Some(capture) => {
                let (store, digest) = capture.finish(rules).map_err(|error| {
                    format!(
                        "could not finish saving the output of run {}: {error}",
                        slot.index
                    )
                })?;
                (Some(store), digest)
            }
            None => (None, OutputDigest::default()),
        };
        if let (Some(stacks), Some(output)) = (stacks.as_mut(), output.as_ref()) {
            diagnose::attach_go_dump(stacks, output);
        }
        let mut verdict = judge(&termination, &digest);
        if slot.script_failure.is_some() && !matches!(termination, Termination::TimedOut { .. }) {
            verdict = if digest.ignore_matched {
                Verdict::Ignored(FailureKind::Script)
            } else {
                Verdict::Fail(FailureKind::Script)
            };
        }
        Ok(RunRecord {
            index: slot.index,
            pid: slot.pid,
            started_at: slot.started_at,
            duration,
            termination,
            verdict,
            digest,
            output,
            leaked_pipes: slot.leaked_pipes,
            script_events: slot
                .script
                .as_ref()
                .map(|run| run.events.clone())
                .unwrap_or_default(),
            script_failure: slot.script_failure.clone(),
            seed: slot.seed,
            stacks,
            part: slot.part,
            paused: slot.paused,
        })
    }

    fn deliver(&mut self, record: RunRecord, observer: &mut dyn Observer) {
        self.finished += 1;
        if record.verdict.is_failure() {
            self.failures += 1;
        }
        let progress = self.progress();
        if observer.run_finished(record, &progress) == Flow::Stop && self.stop.is_none() {
            self.begin_stop(StopReason::Observer, observer);
        }
    }

    /// Output could not be saved: stop as for any stop rule (runs in flight are cancelled, so
    /// the tally stays unbiased), and let the I/O error be the reason that is reported.
    fn stop_for_io_error(&mut self, error: String, observer: &mut dyn Observer) {
        match self.stop {
            None => self.begin_stop(StopReason::IoError(error), observer),
            Some(StopReason::IoError(_)) => {}
            Some(_) => self.stop = Some(StopReason::IoError(error)),
        }
    }

    /// On an internal error: kill everything still running so nothing outlives the campaign.
    fn abandon(&mut self, mut guard: Option<&mut Guard>) {
        for slot in self.slots.drain(..) {
            signal_group(slot.pid, libc::SIGKILL);
            if let Some(pidfd) = &slot.pidfd {
                let _ = waitid(WaitId::PidFd(pidfd.as_fd()), WaitIdOptions::EXITED);
            }
            if let Some(guard) = guard.as_deref_mut() {
                guard.release(slot.pid);
            }
            if let Some(capture) = slot.capture {
                capture.discard();
            }
        }
    }
}

/// A running slot as its script sees it.
struct SlotIo<'a> {
    pid: u32,
    stdin: &'a mut Option<OwnedFd>,
}

impl ScriptIo for SlotIo<'_> {
    fn signal(&mut self, signal: i32, target: SignalTarget) {
        match target {
            SignalTarget::Group => signal_group(self.pid, signal),
            // Our own child, not reaped yet, so the pid cannot have been reused; if it already
            // exited the signal has nothing left to do.
            SignalTarget::Main => {
                let _ = signal_process(self.pid, signal);
            }
        }
    }

    fn write_stdin(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        let Some(fd) = self.stdin.as_ref() else {
            return Err(std::io::Error::other("stdin was already closed"));
        };
        let mut rest = bytes;
        while !rest.is_empty() {
            match rustix::io::write(fd, rest) {
                Ok(written) => rest = &rest[written..],
                Err(rustix::io::Errno::INTR) => {}
                Err(rustix::io::Errno::AGAIN) => {
                    return Err(std::io::Error::other(
                        "the run is not reading its stdin (pipe full)",
                    ))
                }
                Err(error) => return Err(error.into()),
            }
        }
        Ok(())
    }

    fn close_stdin(&mut self) {
        *self.stdin = None;
    }
}

/// A variable's value as runs would inherit it: from `--env`, else from flakehunt's own
/// environment.
fn inherited_value(template: &CommandTemplate, key: &OsStr) -> Option<OsString> {
    template
        .env
        .iter()
        .rev()
        .find(|(k, _)| k == key)
        .map(|(_, value)| value.clone())
        .or_else(|| std::env::var_os(key))
}

/// The verdict on a run from how it ended and what it printed.
pub fn judge(termination: &Termination, digest: &OutputDigest) -> Verdict {
    let kind = match termination {
        Termination::Exited { code: 0 } => None,
        Termination::Exited { .. } => Some(FailureKind::Exit),
        Termination::Signaled { .. } => Some(FailureKind::Signal),
        Termination::TimedOut { .. } | Termination::TimedOutKept { .. } => {
            Some(FailureKind::Timeout)
        }
    }
    .or_else(|| {
        digest
            .fail_if_match
            .is_some()
            .then_some(FailureKind::OutputMatch)
    });
    match kind {
        None => Verdict::Pass,
        Some(kind) if digest.ignore_matched => Verdict::Ignored(kind),
        Some(kind) => Verdict::Fail(kind),
    }
}
