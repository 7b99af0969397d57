//! `flakehunt run`: argument definitions, handed to the campaign core, and the summary printed.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Result;
use clap::{Args, ValueEnum};

use crate::campaign::{launch, prepare, CampaignRequest, CampaignResult};
use crate::cli::{EXIT_FAILURES, EXIT_OK, EXIT_RUNTIME, EXIT_USAGE};
use crate::os::signal::parse_signal;
use crate::report;
use crate::sink::progress::ProgressMode;
use crate::spec::{OnTimeout, StopRules, TimeoutPolicy};

/// Arguments of `flakehunt run`.
#[derive(Debug, Clone, Args)]
#[command(after_help = "Examples:\n  \
    flakehunt run -n 1000 -- go test -run TestCtrlHandler -count=1 ./runtime\n  \
    flakehunt run --duration 10m --max-failures 3 -- ./my_test --only TestCtrlHandler\n  \
    flakehunt run --timeout 30s --timeout-signal SIGABRT --on-timeout keep -- ./server_test")]
pub struct RunArgs {
    /// Runs in parallel [default: number of CPUs].
    #[arg(short = 'j', long, value_name = "N")]
    pub jobs: Option<usize>,

    /// Stop after N runs.
    #[arg(short = 'n', long, value_name = "N")]
    pub runs: Option<u64>,

    /// Stop after this much time, e.g. 90s, 10m, 1h30m.
    #[arg(long, value_name = "DUR", value_parser = parse_duration)]
    pub duration: Option<Duration>,

    /// Stop after K failures.
    #[arg(long, value_name = "K")]
    pub max_failures: Option<u64>,

    /// Time limit per run.
    #[arg(long, value_name = "DUR", default_value = "10m", value_parser = parse_duration)]
    pub timeout: Duration,

    /// Signal sent to a run's process group at its time limit (SIGQUIT makes Go dump goroutines).
    #[arg(long, value_name = "SIG", default_value = "SIGQUIT", value_parser = parse_signal_arg)]
    pub timeout_signal: i32,

    /// Wait this long after the timeout signal before SIGKILL.
    #[arg(long, value_name = "DUR", default_value = "5s", value_parser = parse_duration)]
    pub grace: Duration,

    /// What to do with a run that times out.
    #[arg(long, value_name = "ACTION", value_enum, default_value_t = TimeoutAction::Kill)]
    pub on_timeout: TimeoutAction,

    /// Fail a run whose output has a line matching REGEX, even if it exited 0.
    #[arg(long, value_name = "REGEX")]
    pub fail_if: Option<String>,

    /// Count a failing run whose output has a line matching REGEX as ignored, not failed.
    #[arg(long, value_name = "REGEX")]
    pub ignore: Option<String>,

    /// Extra environment variable for each run (repeatable).
    #[arg(long = "env", value_name = "KEY=VALUE", value_parser = parse_env)]
    pub env: Vec<(OsString, OsString)>,

    /// Working directory of each run.
    #[arg(short = 'C', long = "cwd", value_name = "DIR")]
    pub cwd: Option<PathBuf>,

    /// Directory for failures' output [default: ./flakehunt-out/<campaign-id>].
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,

    /// Keep the output of passing runs too.
    #[arg(long)]
    pub keep_passing: bool,

    /// No progress display, only the summary.
    #[arg(short, long)]
    pub quiet: bool,

    /// Print the summary as one JSON object on stdout (schema in the README).
    #[arg(long)]
    pub json: bool,

    /// Append one NDJSON record per finished run to FILE.
    #[arg(long, value_name = "FILE")]
    pub events: Option<PathBuf>,

    /// Interaction step for each run, repeatable, in order: `wait-output REGEX [within DUR]`,
    /// `sleep DUR|MIN..MAX`, `signal SIG [to group|main]`, `write TEXT`, `close-stdin`,
    /// `expect-output REGEX within DUR`, `expect-exit CODE|SIG within DUR`.
    #[arg(long = "step", value_name = "STEP", conflicts_with = "script")]
    pub steps: Vec<String>,

    /// Interaction script: a TOML file with `steps = ["wait-output ready", "signal SIGINT", ...]`.
    #[arg(long, value_name = "FILE")]
    pub script: Option<PathBuf>,

    /// Perturb each run: comma list of cpu-load=N[:DUTY], mem-load=N, io-load=N,
    /// pin=one-core|random-core|spread|CPUS, nice=N, sched=batch|idle|other, slice=DUR,
    /// noise[=P], jitter=DUR, freeze[=MIN..MAX@GAP], go-procs=N, go-gc=N, go-debug=S,
    /// rust-threads=N, py-switch=DUR; or `best` for the best arm of the last `flakehunt hunt`.
    #[arg(long, value_name = "SPEC")]
    pub shake: Option<String>,

    /// Give every run this seed (FLAKEHUNT_SEED), to replay a failure's noise schedule.
    #[arg(long, value_name = "SEED")]
    pub seed: Option<u64>,

    /// Do not record the campaign in the history database.
    #[arg(long)]
    pub no_history: bool,

    /// Progress display style.
    #[arg(long, value_name = "STYLE", value_enum, default_value_t = ProgressStyleArg::Auto)]
    pub progress: ProgressStyleArg,

    /// The command to rerun, executed directly (no shell), after `--`.
    #[arg(required = true, trailing_var_arg = true, value_name = "COMMAND")]
    pub command: Vec<OsString>,
}

/// `--on-timeout` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TimeoutAction {
    /// Send the timeout signal, then SIGKILL after the grace period.
    Kill,
    /// Leave the process running and print its pid so a debugger can attach.
    Keep,
}

/// `--progress` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ProgressStyleArg {
    /// A live bar on a terminal, status lines otherwise.
    Auto,
    /// Always the live bar.
    Bar,
    /// Status lines every 5 seconds.
    Lines,
}

/// Parse a humantime duration (`90s`, `10m`, `1h 30m`, `250ms`).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let duration = humantime::parse_duration(text.trim()).map_err(|error| {
        format!("'{text}' is not a duration ({error}); write e.g. 500ms, 30s, 10m or 1h30m")
    })?;
    Ok(duration)
}

fn parse_signal_arg(text: &str) -> Result<i32, String> {
    parse_signal(text).ok_or_else(|| {
        format!("'{text}' is not a signal; use a name like SIGQUIT, SIGABRT, SIGTERM or a number")
    })
}

fn parse_env(text: &str) -> Result<(OsString, OsString), String> {
    match text.split_once('=') {
        Some((key, value)) if !key.is_empty() => Ok((key.into(), value.into())),
        _ => Err(format!("'{text}' is not KEY=VALUE")),
    }
}

impl RunArgs {
    /// The campaign these arguments ask for, unchecked (see [`prepare`]).
    pub fn request(&self) -> CampaignRequest {
        CampaignRequest {
            jobs: self.jobs,
            stop: StopRules {
                runs: self.runs,
                duration: self.duration,
                max_failures: self.max_failures,
            },
            timeout: TimeoutPolicy {
                limit: self.timeout,
                signal: self.timeout_signal,
                grace: self.grace,
                action: match self.on_timeout {
                    TimeoutAction::Kill => OnTimeout::Kill,
                    TimeoutAction::Keep => OnTimeout::Keep,
                },
            },
            fail_if: self.fail_if.clone(),
            ignore: self.ignore.clone(),
            env: self.env.clone(),
            cwd: self.cwd.clone(),
            out: self.out.clone(),
            keep_passing: self.keep_passing,
            steps: self.steps.clone(),
            script: self.script.clone(),
            shake: self.shake.clone(),
            seed: self.seed,
            progress: if self.quiet {
                ProgressMode::Quiet
            } else {
                match self.progress {
                    ProgressStyleArg::Auto => ProgressMode::Auto,
                    ProgressStyleArg::Bar => ProgressMode::Bar,
                    ProgressStyleArg::Lines => ProgressMode::Lines,
                }
            },
            events: self.events.clone(),
            record_history: !self.no_history,
            command: self.command.clone(),
        }
    }
}

/// Print a campaign's summary (text or JSON) on stdout.
pub fn print_summary(result: &CampaignResult, json: bool) -> Result<()> {
    let rendered = if json {
        let mut json = report::summary::json(&result.summary)?;
        json.push('\n');
        json
    } else {
        report::summary::text(&result.summary)
    };
    crate::cli::print_stdout(&rendered)
}

/// 3 if a runtime error stopped the campaign; 1 if anything failed; 2 if a run could not be
/// started; else 0. Errors are said on stderr.
pub fn exit_status(result: &CampaignResult) -> i32 {
    if let Some(error) = &result.spawn_error {
        eprintln!("flakehunt: error: {error}");
    }
    if let Some(error) = &result.runtime_error {
        eprintln!("flakehunt: error: {error}");
        return EXIT_RUNTIME;
    }
    if result.summary.failures > 0 {
        EXIT_FAILURES
    } else if result.spawn_error.is_some() {
        EXIT_USAGE
    } else {
        EXIT_OK
    }
}

/// `flakehunt run`.
pub fn execute(args: RunArgs, db: &Path) -> Result<i32> {
    let prepared = prepare(&args.request(), db)?;
    let result = launch(&prepared, Vec::new())?;
    let status = exit_status(&result);
    print_summary(&result, args.json)?;
    Ok(status)
}
