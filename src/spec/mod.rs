//! The campaign specification: what to run, how to run it, and when to stop. Pure data; the CLI
//! builds it and validates it, the runner only reads it.

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

use regex::bytes::Regex;

pub mod script;

/// Everything the runner needs to execute a campaign.
#[derive(Debug, Clone)]
pub struct CampaignSpec {
    /// Identifier of the campaign, also the name of its output directory.
    pub id: String,
    /// The program and its arguments, executed directly (no shell).
    pub command: Vec<OsString>,
    /// Working directory of each run (None: inherit).
    pub cwd: Option<PathBuf>,
    /// Extra environment variables for each run.
    pub env: Vec<(OsString, OsString)>,
    /// Number of runs in flight at once.
    pub jobs: usize,
    /// When the campaign stops launching runs.
    pub stop: StopRules,
    /// How a run that takes too long is ended.
    pub timeout: TimeoutPolicy,
    /// Output rules that change a run's verdict.
    pub output_rules: OutputRules,
    /// Where failures' output and metadata are saved.
    pub out_dir: PathBuf,
    /// Keep passing runs' output as well.
    pub keep_passing: bool,
    /// Bytes of a run's output held in memory before the rest spills to disk.
    pub memory_per_run: usize,
    /// Interaction with each run (wait for output, signal, expect...), if any.
    pub script: Option<std::sync::Arc<script::Script>>,
    /// The script's sleep step whose delay each run's [plan](crate::runner::RunPlan) fixes
    /// (`flakehunt window`).
    pub sweep: Option<Sweep>,
    /// Perturbations applied to every run (`--shake`), when the campaign has no parts.
    pub shake: Option<std::sync::Arc<crate::shake::Shake>>,
    /// Labelled parts of one campaign (a hunt's arms, a window's phases), each with its own
    /// perturbation; the observer picks each run's part. Empty: one part, `shake`.
    pub parts: Vec<Part>,
    /// One seed for every run, to replay a failure's noise schedule (`--seed`).
    pub seed: Option<u64>,
    /// How each run's per-test results are read (a suite's output, or a single test target).
    pub per_test: Option<crate::target::suite::PerTest>,
    /// The test target, as the summary shows it.
    pub target: Option<crate::analysis::per_test::TargetSummary>,
    /// Read the stacks of hung runs and the backtraces of crashed ones (`--no-stacks`: off).
    pub stacks: bool,
    /// The slice of a larger campaign this process runs (`--shard K/N`); None: all of it.
    pub shard: Option<Shard>,
    /// Which command ran the campaign.
    pub kind: CampaignKind,
    /// The campaign this one repeats (`flakehunt rerun`).
    pub rerun_of: Option<String>,
    /// `flakehunt run` arguments that repeat the campaign (`flakehunt rerun`), its command
    /// after `--`; empty when it cannot be repeated that way.
    pub recipe: Vec<String>,
}

/// The command that ran a campaign, as `flakehunt history` shows it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum CampaignKind {
    /// `flakehunt run` (also a test target or a suite).
    #[default]
    Run,
    /// `flakehunt verify`.
    Verify,
    /// `flakehunt hunt`.
    Hunt,
    /// `flakehunt window`.
    Window,
    /// One probe of `flakehunt bisect`.
    Bisect,
    /// `flakehunt demo`.
    Demo,
}

impl CampaignKind {
    /// The name stored and shown (`run`, `verify`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            CampaignKind::Run => "run",
            CampaignKind::Verify => "verify",
            CampaignKind::Hunt => "hunt",
            CampaignKind::Window => "window",
            CampaignKind::Bisect => "bisect",
            CampaignKind::Demo => "demo",
        }
    }
}

/// Shard `number` of `count`: the runs of a campaign whose index `i` has `i % count ==
/// number - 1`. Every shard keeps the unsharded numbering, so run `i` (its `FLAKEHUNT_RUN`
/// and seed) is the same run whichever machine does it, and the shards of `--runs R` together
/// do exactly runs `0..R`, each once, whatever the shards' speeds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Shard {
    /// 1-based shard number, at most `count`.
    pub number: u64,
    /// Shards of the whole campaign.
    pub count: u64,
}

impl Shard {
    /// Most shards one campaign may be split into.
    pub const MAX_COUNT: u64 = 1_000_000;

    /// Parse `K/N` (1 <= K <= N <= [`MAX_COUNT`](Self::MAX_COUNT)).
    pub fn parse(text: &str) -> Result<Shard, String> {
        let usage = || format!("'{text}' is not a shard; write K/N with 1 <= K <= N, e.g. 2/8");
        let (number, count) = text.trim().split_once('/').ok_or_else(usage)?;
        let number: u64 = number.trim().parse().map_err(|_| usage())?;
        let count: u64 = count.trim().parse().map_err(|_| usage())?;
        if count == 0 || count > Self::MAX_COUNT {
            return Err(format!(
                "'{text}': the number of shards must be between 1 and {}",
                Self::MAX_COUNT
            ));
        }
        if number == 0 || number > count {
            return Err(format!(
                "'{text}': shards are numbered 1 to {count}, so K must be in 1..={count}"
            ));
        }
        Ok(Shard { number, count })
    }

    /// The campaign-wide index of this shard's `nth` run (0-based).
    pub fn run_index(&self, nth: u64) -> u64 {
        nth.saturating_mul(self.count)
            .saturating_add(self.number - 1)
    }

    /// Whether campaign-wide run `index` belongs to this shard.
    pub fn owns(&self, index: u64) -> bool {
        index % self.count == self.number - 1
    }

    /// How many of the runs `0..total` belong to this shard.
    pub fn runs_of(&self, total: u64) -> u64 {
        total.saturating_sub(self.number - 1).div_ceil(self.count)
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.number, self.count)
    }
}

/// A delay sweep: a run whose plan carries a delay sleeps exactly that at script step `step`
/// instead of drawing from the step's range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sweep {
    /// Index of the sleep step in the script.
    pub step: usize,
}

/// One labelled part of a campaign: the runs given to one hunt arm or one window phase.
#[derive(Debug, Clone, PartialEq)]
pub struct Part {
    /// Label shown and stored with the part's runs (`plain`, `pin=one-core`, `refine`).
    pub label: String,
    /// The part's perturbation (None: plain).
    pub shake: Option<std::sync::Arc<crate::shake::Shake>>,
}

/// Stop rules; the first one reached ends the campaign. All `None`: run until interrupted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StopRules {
    /// Total number of runs to launch.
    pub runs: Option<u64>,
    /// Wall-clock budget for the campaign.
    pub duration: Option<Duration>,
    /// Stop after this many failures.
    pub max_failures: Option<u64>,
}

impl CampaignSpec {
    /// The campaign's parts: its own list, or the one part every run of a plain campaign
    /// belongs to.
    pub fn part_list(&self) -> Vec<Part> {
        if self.parts.is_empty() {
            vec![Part {
                label: self
                    .shake
                    .as_ref()
                    .map_or_else(|| "plain".to_string(), |shake| shake.to_string()),
                shake: self.shake.clone(),
            }]
        } else {
            self.parts.clone()
        }
    }

    /// The options that shaped the campaign, as recorded in the history store.
    pub fn describe(&self) -> serde_json::Value {
        let seconds = |d: Duration| d.as_secs_f64();
        serde_json::json!({
            "jobs": self.jobs,
            "runs": self.stop.runs,
            "duration_s": self.stop.duration.map(seconds),
            "max_failures": self.stop.max_failures,
            "timeout_s": seconds(self.timeout.limit),
            "timeout_signal": crate::os::signal::signal_name(self.timeout.signal),
            "grace_s": seconds(self.timeout.grace),
            "on_timeout": match self.timeout.action {
                OnTimeout::Kill => "kill",
                OnTimeout::Keep => "keep",
            },
            "fail_if": self.output_rules.fail_if.as_ref().map(|r| r.as_str().to_string()),
            "ignore": self.output_rules.ignore.as_ref().map(|r| r.as_str().to_string()),
            "env": self.env.iter()
                .map(|(k, v)| format!("{}={}", k.to_string_lossy(), v.to_string_lossy()))
                .collect::<Vec<_>>(),
            "cwd": self.cwd.as_ref().map(|dir| dir.display().to_string()),
            "keep_passing": self.keep_passing,
            "shake": self.shake.as_ref().map(|shake| shake.to_string()),
            "parts": (!self.parts.is_empty()).then(|| {
                self.parts.iter().map(|part| serde_json::json!({
                    "label": part.label,
                    "shake": part.shake.as_ref().map(|shake| shake.to_string()),
                })).collect::<Vec<_>>()
            }),
            "seed": self.seed,
            "stacks": self.stacks,
            "shard": self.shard.map(|shard| shard.to_string()),
            "kind": self.kind.as_str(),
            "rerun_of": self.rerun_of,
            "recipe": (!self.recipe.is_empty()).then_some(&self.recipe),
            "script": self.script.as_ref().map(|script| {
                script.steps.iter().map(|step| step.describe()).collect::<Vec<_>>()
            }),
            "target": self.target,
            "suite": match &self.per_test {
                Some(crate::target::suite::PerTest::Suite { kind, dir, .. }) => serde_json::json!({
                    "kind": kind.as_str(),
                    "dir": dir.display().to_string(),
                }),
                _ => serde_json::Value::Null,
            },
        })
    }
}

impl StopRules {
    /// True when no rule bounds the campaign.
    pub fn unbounded(&self) -> bool {
        self.runs.is_none() && self.duration.is_none() && self.max_failures.is_none()
    }
}

/// What happens to a run that exceeds its time limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeoutPolicy {
    /// Time limit per run.
    pub limit: Duration,
    /// Signal sent to the run's process group first (e.g. SIGQUIT for a Go goroutine dump).
    pub signal: i32,
    /// How long to wait after `signal` before SIGKILL.
    pub grace: Duration,
    /// Kill the run, or leave it running for a debugger.
    pub action: OnTimeout,
}

/// Action taken when a run times out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnTimeout {
    /// Signal, wait the grace period, then SIGKILL the process group.
    Kill,
    /// Leave the process running (its pid is printed) and free the slot.
    Keep,
}

/// Regexes over a run's output (matched line by line) that override the exit status.
#[derive(Debug, Clone, Default)]
pub struct OutputRules {
    /// A run whose output matches fails even if it exited 0.
    pub fail_if: Option<Regex>,
    /// A failing run whose output matches counts as ignored instead of failed.
    pub ignore: Option<Regex>,
}
