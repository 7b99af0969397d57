//! `flakehunt run`: argument definitions, validation into a campaign spec, and presentation of
//! the result.

use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use clap::{Args, ValueEnum};
use regex::bytes::Regex;

use crate::campaign::{new_campaign_id, run_campaign, CampaignOptions, CampaignResult};
use crate::cli::{EXIT_FAILURES, EXIT_OK, EXIT_USAGE};
use crate::record::parse_signal;
use crate::record::provenance::{git_state, hostname};
use crate::report;
use crate::runner::spawn::{resolve_program, CommandTemplate};
use crate::shake::Shake;
use crate::sink::events::EventLog;
use crate::sink::progress::{ProgressMode, ProgressSink};
use crate::sink::store::StoreSink;
use crate::sink::Sink;
use crate::spec::script::Script;
use crate::spec::{CampaignSpec, OnTimeout, OutputRules, StopRules, TimeoutPolicy};
use crate::store::writer::CampaignInfo;
use crate::store::{now_rfc3339, Store};

/// Most runs in flight at once (the guard's table also holds kept runs).
const MAX_JOBS: usize = 1024;
/// Bytes of each run's output kept in memory before spilling to disk.
const MEMORY_PER_RUN: usize = 1 << 20;

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
    /// noise[=P], jitter=DUR, go-procs=N, go-gc=N, go-debug=S, rust-threads=N, py-switch=DUR;
    /// or `best` for the best arm of the last `flakehunt hunt`.
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

/// How the result is shown.
#[derive(Debug, Clone)]
pub struct Presentation {
    /// Progress style.
    pub progress: ProgressMode,
    /// JSON summary instead of text.
    pub json: bool,
    /// NDJSON event log.
    pub events: Option<PathBuf>,
    /// History database to record the campaign in (None: not recorded).
    pub history: Option<PathBuf>,
    /// Print the summary at the end (commands that print a verdict instead turn it off).
    pub print_summary: bool,
}

/// Validate arguments into a campaign; every error here happens before anything runs.
pub fn build(args: &RunArgs, db: &Path) -> Result<(CampaignSpec, CommandTemplate, Presentation)> {
    let jobs = match args.jobs {
        Some(0) => bail!("--jobs must be at least 1"),
        Some(jobs) if jobs > MAX_JOBS => bail!("--jobs must be at most {MAX_JOBS}"),
        Some(jobs) => jobs,
        None => std::thread::available_parallelism().map_or(1, |n| n.get()),
    };
    if args.runs == Some(0) {
        bail!("--runs must be at least 1");
    }
    if args.max_failures == Some(0) {
        bail!("--max-failures must be at least 1");
    }
    if args.timeout.is_zero() {
        bail!("--timeout must be longer than 0");
    }
    if args.duration.is_some_and(|d| d.is_zero()) {
        bail!("--duration must be longer than 0");
    }
    let compile = |flag: &str, pattern: &Option<String>| -> Result<Option<Regex>> {
        pattern
            .as_deref()
            .map(|pattern| {
                Regex::new(pattern).map_err(|error| {
                    anyhow!(
                        "invalid {flag} regex '{pattern}': {}",
                        crate::text::regex_reason(&error)
                    )
                })
            })
            .transpose()
    };
    let output_rules = OutputRules {
        fail_if: compile("--fail-if", &args.fail_if)?,
        ignore: compile("--ignore", &args.ignore)?,
    };
    let script = load_script(args)?;
    let shake = load_shake(args, db)?;
    let cwd = match &args.cwd {
        Some(dir) => {
            let absolute = std::path::absolute(dir)
                .with_context(|| format!("invalid --cwd {}", dir.display()))?;
            if !absolute.is_dir() {
                bail!("--cwd {} is not a directory", dir.display());
            }
            Some(absolute)
        }
        None => None,
    };
    let Some((program, rest)) = args.command.split_first() else {
        bail!("no command given; write it after --, e.g. flakehunt run -- ./my_test");
    };
    let program = resolve_program(program, cwd.as_deref())?;
    let program = std::path::absolute(&program).unwrap_or(program);
    let id = new_campaign_id();
    let out_dir = match &args.out {
        Some(dir) => dir.clone(),
        None => PathBuf::from("flakehunt-out").join(&id),
    };
    let out_dir = std::path::absolute(&out_dir).unwrap_or(out_dir);
    let spec = CampaignSpec {
        id: id.clone(),
        command: args.command.clone(),
        cwd: cwd.clone(),
        env: args.env.clone(),
        jobs,
        stop: StopRules {
            runs: args.runs,
            duration: args.duration,
            max_failures: args.max_failures,
        },
        timeout: TimeoutPolicy {
            limit: args.timeout,
            signal: args.timeout_signal,
            grace: args.grace,
            action: match args.on_timeout {
                TimeoutAction::Kill => OnTimeout::Kill,
                TimeoutAction::Keep => OnTimeout::Keep,
            },
        },
        output_rules,
        out_dir,
        keep_passing: args.keep_passing,
        memory_per_run: MEMORY_PER_RUN,
        script: script.map(std::sync::Arc::new),
        sweep: None,
        shake: shake.clone().map(std::sync::Arc::new),
        seed: args.seed,
    };
    let template = CommandTemplate {
        program,
        args: rest.to_vec(),
        cwd,
        env: args.env.clone(),
        campaign_id: id,
        per_run_keys: shake
            .as_ref()
            .map(crate::shake::per_run_keys)
            .unwrap_or_default(),
    };
    let progress = if args.quiet {
        ProgressMode::Quiet
    } else {
        match args.progress {
            ProgressStyleArg::Auto => ProgressMode::Auto,
            ProgressStyleArg::Bar => ProgressMode::Bar,
            ProgressStyleArg::Lines => ProgressMode::Lines,
        }
    };
    let presentation = Presentation {
        progress,
        json: args.json,
        events: args.events.clone(),
        history: (!args.no_history).then(|| db.to_path_buf()),
        print_summary: true,
    };
    Ok((spec, template, presentation))
}

/// The perturbation from `--shake`, checked (and trimmed of what cannot apply) up front.
fn load_shake(args: &RunArgs, db: &Path) -> Result<Option<Shake>> {
    let Some(text) = &args.shake else {
        return Ok(None);
    };
    let text = if text.trim() == "best" {
        let store = crate::store::Store::open_existing(db)
            .context("--shake best needs a previous `flakehunt hunt` in the history")?;
        crate::store::query::best_shake(&store)?
    } else {
        text.clone()
    };
    if text == "plain" {
        return Ok(None);
    }
    let mut shake = Shake::parse(&text)?;
    for warning in shake.preflight() {
        eprintln!("flakehunt: warning: {warning}");
    }
    Ok(Some(shake))
}

/// The interaction script from `--step` or `--script`, checked before anything runs.
fn load_script(args: &RunArgs) -> Result<Option<Script>> {
    if let Some(path) = &args.script {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read script {}", path.display()))?;
        return Ok(Some(Script::from_toml(path, &text)?));
    }
    if args.steps.is_empty() {
        return Ok(None);
    }
    Ok(Some(Script::from_steps(&args.steps)?))
}

/// Commands that run several campaigns (hunt, window) keep each in its own directory below a
/// user's `--out`, so that one campaign's logs never overwrite another's.
pub fn nest_out_dir(spec: &mut CampaignSpec, user_out: Option<&Path>) {
    if let Some(base) = user_out {
        let base = std::path::absolute(base).unwrap_or_else(|_| base.to_path_buf());
        spec.out_dir = base.join(&spec.id);
    }
}

/// Run a validated campaign with its sinks and print the result; returns the exit status.
pub fn launch(
    spec: &CampaignSpec,
    template: &CommandTemplate,
    presentation: &Presentation,
    extra_sinks: Vec<Box<dyn Sink>>,
) -> Result<(i32, CampaignResult)> {
    let command: Vec<String> = spec
        .command
        .iter()
        .map(|arg| arg.to_string_lossy().into_owned())
        .collect();
    let mut sinks: Vec<Box<dyn Sink>> = extra_sinks;
    if let Some(db) = &presentation.history {
        // Opened before anything runs: a bad database is a setup error, not a lost campaign.
        let store = Store::open(db)?;
        let cwd = spec
            .cwd
            .clone()
            .or_else(|| std::env::current_dir().ok())
            .unwrap_or_default();
        let info = CampaignInfo {
            id: spec.id.clone(),
            started_at: now_rfc3339(),
            command: command.clone(),
            spec: spec.describe(),
            cwd: cwd.display().to_string(),
            git: git_state(&cwd),
            host: hostname(),
            out_dir: spec.out_dir.display().to_string(),
        };
        sinks.push(Box::new(StoreSink::start(store, &info)?));
    }
    if let Some(path) = &presentation.events {
        sinks.push(Box::new(EventLog::open(path, &spec.id, &command)?));
    }
    sinks.push(Box::new(ProgressSink::new(
        presentation.progress,
        spec.stop.clone(),
    )));
    let options = CampaignOptions {
        sinks,
        guard_exe: std::env::current_exe().ok(),
    };
    let result = run_campaign(spec, template, options)?;
    let rendered = if presentation.json {
        let mut json = report::json::render(&result.summary)?;
        json.push('\n');
        json
    } else {
        report::text::render(&result.summary)
    };
    if !presentation.print_summary {
        return Ok((exit_status(&result), result));
    }
    let mut stdout = std::io::stdout().lock();
    // A closed stdout (e.g. piped into `head`) must not turn a finished campaign into an error.
    let _ = stdout.write_all(rendered.as_bytes());
    let _ = stdout.flush();
    Ok((exit_status(&result), result))
}

/// 1 if anything failed; 2 if a run could not be started (said on stderr); else 0.
fn exit_status(result: &CampaignResult) -> i32 {
    if let Some(error) = &result.spawn_error {
        eprintln!("flakehunt: error: {error}");
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
    let (spec, template, presentation) = build(&args, db)?;
    let (status, _) = launch(&spec, &template, &presentation, Vec::new())?;
    Ok(status)
}
