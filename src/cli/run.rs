//! `flakehunt run`: argument definitions, handed to the campaign core, and the summary printed.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{anyhow, bail, Result};
use clap::{Args, ValueEnum};

use crate::campaign::{launch, prepare, CampaignRequest, CampaignResult};
use crate::cli::report::AfterReport;
use crate::cli::target::TargetArgs;
use crate::cli::{EXIT_FAILURES, EXIT_INTERRUPTED, EXIT_OK, EXIT_RUNTIME, EXIT_USAGE};
use crate::os::signal::parse_signal;
use crate::report;
use crate::sink::progress::ProgressMode;
use crate::spec::{OnTimeout, StopRules, TimeoutPolicy};
use crate::store::report::Subject;
use crate::store::{per_test, query, Store};
use crate::target::TargetRequest;

/// Runner options of every campaign command (`run`, `verify`, `hunt`, `window`, `bisect`) and
/// the command or test target. The stop rules `-n`, `--duration` and `--max-failures` are
/// hidden here: a command that honours them shows them (with [`unhide`]); the others
/// keep them hidden so that a user who gives one anyway gets an error naming the command's own
/// limits instead of clap's "unexpected argument".
#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    /// Runs in parallel [default: number of CPUs].
    #[arg(short = 'j', long, value_name = "N")]
    pub jobs: Option<usize>,

    /// Stop after N runs. The stop rules (-n, --duration, --max-failures) combine: the first
    /// one reached ends the campaign; with none, it runs until Ctrl-C.
    #[arg(short = 'n', long, value_name = "N", hide = true)]
    pub runs: Option<u64>,

    /// Stop after this much time, e.g. 90s, 10m, 1h30m.
    #[arg(long, value_name = "DUR", value_parser = parse_duration, hide = true)]
    pub duration: Option<Duration>,

    /// Stop after K failures.
    #[arg(long, value_name = "K", hide = true)]
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

    /// Write an HTML report of what ran to FILE at the end (as `flakehunt report` does).
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,
    /// Take no stacks of hung runs and no backtraces of crashed ones (no debugger attaches, no
    /// core limit is raised, no Python hook is installed).
    #[arg(long)]
    pub no_stacks: bool,

    /// Progress display style.
    #[arg(long, value_name = "STYLE", value_enum, default_value_t = ProgressStyleArg::Auto)]
    pub progress: ProgressStyleArg,

    /// Let runs use this terminal (/dev/tty) for interactive debugging. By default runs have no
    /// controlling terminal, so they cannot retitle, clear or read yours.
    #[arg(long)]
    pub tty: bool,

    /// Run only shard K of N: the runs whose index i has i % N == K-1, numbered as in the
    /// whole campaign (FLAKEHUNT_RUN, seeds). With -n R the N shards together do runs 0..R.
    #[arg(long, value_name = "K/N", value_parser = parse_shard, hide = true)]
    pub shard: Option<crate::spec::Shard>,

    /// Write the campaign as a portable bundle to FILE at the end (for `flakehunt merge`).
    #[arg(long, value_name = "FILE", hide = true)]
    pub export: Option<PathBuf>,

    /// Use this campaign id instead of a new one: the shards of one campaign share it, so
    /// run i gets the same seed on every machine.
    #[arg(long, value_name = "ID", hide = true)]
    pub campaign_id: Option<String>,
    /// Which command the campaign is for (set by that command, not parsed).
    #[arg(skip)]
    pub kind: crate::spec::CampaignKind,

    /// The campaign this one repeats (set by `flakehunt rerun`, not parsed).
    #[arg(skip)]
    pub rerun_of: Option<String>,

    /// A test target or suite options, instead of (or about) the command.
    #[command(flatten)]
    pub target: TargetArgs,

    /// The command to rerun, executed directly (no shell), after `--`; or a test target
    /// (--cargo-test, --go-test, --pytest, --test, or one a flakehunt.toml profile names)
    /// instead.
    // Not required here: a flakehunt.toml profile may name the test target instead.
    #[arg(
        conflicts_with_all = ["cargo_test", "go_test", "pytest", "test_name", "only_flaky"],
        trailing_var_arg = true,
        value_name = "COMMAND"
    )]
    pub command: Vec<OsString>,
}

/// Show an argument [`RunArgs`] hides, for a command that honours it:
/// `#[command(mut_arg("duration", run::unhide))]`.
pub fn unhide(arg: clap::Arg) -> clap::Arg {
    arg.hide(false)
}

/// Examples at the end of `flakehunt run --help`.
pub const RUN_EXAMPLES: &str = "Examples:
  flakehunt run -n 1000 -- go test -run TestCtrlHandler -count=1 ./runtime
  flakehunt run --duration 10m --max-failures 3 --shake cpu-load=2 -- ./my_test
  flakehunt run -n 500 --cargo-test pool::tests::results_keep_order";

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

fn parse_shard(text: &str) -> Result<crate::spec::Shard, String> {
    crate::spec::Shard::parse(text)
}

/// Refuse the options of one plain campaign in commands that run several (`hunt`, `window`,
/// `bisect`, `verdict`): a shard or bundle of them would not be one campaign.
pub fn refuse_scale_out(args: &RunArgs, command: &str) -> Result<()> {
    for (given, flag) in [
        (args.shard.is_some(), "--shard"),
        (args.export.is_some(), "--export"),
        (args.campaign_id.is_some(), "--campaign-id"),
    ] {
        if given {
            bail!(
                "`flakehunt {command}` cannot take {flag}: it runs several campaigns; shard \
                 and export `flakehunt run` campaigns instead (see README, Scaling out)"
            );
        }
    }
    Ok(())
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
            tty: self.tty,
            stacks: !self.no_stacks,
            command: self.command.clone(),
            target: self.target.request(),
            suite: self.target.suite,
            only_flaky: self.target.only_flaky.clone(),
            shard: self.shard,
            campaign_id: self.campaign_id.clone(),
            kind: self.kind,
            rerun_of: self.rerun_of.clone(),
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

/// 3 if a runtime error stopped the campaign; 130 if a signal did; 1 if anything failed; 2 if
/// a run could not be started; else 0. Errors are said on stderr.
pub fn exit_status(result: &CampaignResult) -> i32 {
    if let Some(error) = &result.spawn_error {
        eprintln!("flakehunt: error: {error}");
    }
    if let Some(error) = &result.runtime_error {
        eprintln!("flakehunt: error: {error}");
        return EXIT_RUNTIME;
    }
    if result.summary.interrupted {
        EXIT_INTERRUPTED
    } else if result.summary.failures > 0 {
        EXIT_FAILURES
    } else if result.spawn_error.is_some() {
        EXIT_USAGE
    } else {
        EXIT_OK
    }
}

/// `flakehunt run`.
pub fn execute(mut args: RunArgs, db: &Path) -> Result<i32> {
    if let Some(from) = &args.target.only_flaky {
        if args.shard.is_some() || args.export.is_some() {
            bail!("--only-flaky runs one campaign per test: it cannot take --shard or --export");
        }
        return only_flaky(&args, from, db);
    }
    let after = AfterReport::prepare(args.report.as_deref(), &mut args.no_history, db)?;
    let db = after.as_ref().map_or(db, |after| after.db());
    let prepared = prepare(&args.request(), db)?;
    let sinks = match &args.export {
        Some(path) => vec![crate::cli::merge::export_sink(
            &prepared, args.runs, path, None,
        )?],
        None => Vec::new(),
    };
    let result = launch(&prepared, sinks)?;
    let status = exit_status(&result);
    print_summary(&result, args.json)?;
    let subject = Subject::Campaign(result.summary.campaign.clone());
    Ok(match &after {
        Some(after) => after.finish(|after| after.write(&subject, None), status),
        None => status,
    })
}

/// `flakehunt run --only-flaky [CAMPAIGN]`: one campaign per flaky test of a suite campaign,
/// each test run alone as a test target, with the other options as given.
fn only_flaky(args: &RunArgs, from: &str, db: &Path) -> Result<i32> {
    let (id, origin, tests) = flaky_of(from, db)?;
    eprintln!(
        "flakehunt: {} flaky test(s) in campaign {id}; hunting each alone",
        tests.len()
    );
    let mut status = EXIT_OK;
    for test in &tests {
        let Some(target) = target_of(&origin, test) else {
            eprintln!("flakehunt: error: cannot tell how to run {test} alone; skipped");
            status = status.max(EXIT_USAGE);
            continue;
        };
        let mut request = args.request();
        request.only_flaky = None;
        request.target = Some(target);
        request.cwd = Some(origin.dir.clone())
            .filter(|dir| dir.is_dir())
            .or(request.cwd);
        let prepared = prepare(&request, db).map(|mut prepared| {
            prepared.nest_out_dir(args.out.as_deref());
            prepared
        });
        let prepared = match prepared {
            Ok(prepared) => prepared,
            Err(error) => {
                eprintln!("flakehunt: error: {test}: {error:#}");
                status = status.max(EXIT_USAGE);
                continue;
            }
        };
        let result = launch(&prepared, Vec::new())?;
        status = status.max(exit_status(&result));
        print_summary(&result, args.json)?;
    }
    Ok(status)
}

/// The campaign `from` names (`last`: the newest with flaky tests), how it ran its tests, and
/// its flaky tests.
fn flaky_of(from: &str, db: &Path) -> Result<(String, per_test::TestOrigin, Vec<String>)> {
    let store = Store::open_existing(db)?;
    let id = if from == "last" {
        per_test::last_with_flaky(&store)?.ok_or_else(|| {
            anyhow!(
                "no campaign in the history has a flaky test; run a suite first, \
                 e.g. flakehunt run -n 20 -- cargo test"
            )
        })?
    } else {
        query::resolve_campaign(&store, from)?
    };
    let origin = per_test::origin(&store, &id)?.ok_or_else(|| {
        anyhow!("campaign {id} ran neither a test suite nor a test target: it has no tests")
    })?;
    let tests = per_test::flaky_tests(&store, &id)?;
    if tests.is_empty() {
        bail!("campaign {id} has no flaky test (none failed in some runs and passed in others)");
    }
    Ok((id, origin, tests))
}

/// The test target that runs `test` of a campaign alone.
fn target_of(origin: &per_test::TestOrigin, test: &str) -> Option<TargetRequest> {
    let option = |names: &[&str]| {
        let at = origin
            .command
            .iter()
            .position(|arg| names.contains(&arg.as_str()))?;
        origin.command.get(at + 1).cloned()
    };
    match origin.kind.as_str() {
        "cargo" | "nextest" => Some(TargetRequest::Cargo {
            name: test.to_string(),
            package: option(&["-p", "--package"]),
            features: option(&["-F", "--features"]),
        }),
        "go" => {
            let (package, name) = go_test_name(test)?;
            let race = origin.command.iter().any(|arg| arg == "-race");
            Some(TargetRequest::Go {
                package,
                name,
                race,
            })
        }
        "pytest" => Some(TargetRequest::Pytest {
            node_id: test.to_string(),
        }),
        _ => None,
    }
}

/// `example.com/m/pool.TestKeepsOrder/sub` -> (`example.com/m/pool`, `TestKeepsOrder/sub`):
/// the package is everything before the `.` that starts the test's own name.
fn go_test_name(test: &str) -> Option<(String, String)> {
    let at = ["Test", "Example", "Fuzz", "Benchmark"]
        .iter()
        .filter_map(|prefix| test.find(&format!(".{prefix}")))
        .min()?;
    Some((test[..at].to_string(), test[at + 1..].to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flaky_tests_become_targets_of_their_runner() {
        assert_eq!(
            go_test_name("example.com/m/pool.TestKeepsOrder/a.b"),
            Some(("example.com/m/pool".into(), "TestKeepsOrder/a.b".into()))
        );
        let origin = per_test::TestOrigin {
            kind: "cargo".into(),
            dir: std::path::PathBuf::from("/p"),
            command: vec!["cargo".into(), "test".into(), "-p".into(), "pool".into()],
        };
        assert_eq!(
            target_of(&origin, "tests::flaky"),
            Some(TargetRequest::Cargo {
                name: "tests::flaky".into(),
                package: Some("pool".into()),
                features: None
            })
        );
    }
}
