//! `flakehunt bisect`: find the commit that introduced a rare failure. Arguments become a
//! [`crate::bisect::BisectRequest`] (or, with `--simulate`, a simulated scenario); the views in
//! [`crate::report::bisect`] print the probes and the outcome.

use std::path::{Path, PathBuf};

use anyhow::{bail, Result};
use clap::{Args, ValueEnum};

use crate::analysis::bisect::simulate::{naive_many, search_many, tune_naive, Naive, Scenario};
use crate::analysis::bisect::{Status, Strategy, DEFAULT_MEASURED_FAILURES, MIN_MEASURED_FAILURES};
use crate::analysis::hunt::Budget;
use crate::bisect::workspace::default_cache_dir;
use crate::bisect::BisectRequest;
use crate::cli::run::RunArgs;
use crate::cli::{print_stdout, EXIT_FAILURES, EXIT_OK};
use crate::report;
use crate::report::bisect::NaiveRow;

/// Arguments of `flakehunt bisect`.
#[derive(Debug, Clone, Args)]
#[command(mut_arg("command", |arg| arg.required(false).required_unless_present(clap::builder::Resettable::<clap::Id>::Reset)))]
#[command(after_help = "Examples:\n  \
    flakehunt bisect --good v1.4 --bad main --build 'make -j4' -- ./run_test.sh\n  \
    flakehunt bisect --good v1.4 --bad main --rate 1/1000 --signature 'deadline exceeded' -- go test -run TestDial ./net\n  \
    flakehunt bisect --good v1.4 --bad main --cargo-test pool::tests::keeps_order -p pool\n  \
    flakehunt bisect --good v1.4 --bad main --go-test ./net --go-run TestDial --rate 1/1000\n  \
    flakehunt bisect --simulate --commits 64 --rate 0.001 --trials 200")]
pub struct BisectArgs {
    /// A commit without the failure.
    #[arg(long, value_name = "REV", required_unless_present = "simulate")]
    pub good: Option<String>,
    /// A commit with the failure.
    #[arg(long, value_name = "REV", required_unless_present = "simulate")]
    pub bad: Option<String>,
    /// Build command, run once per commit by `sh -c` in its worktree (exit 125: untestable).
    #[arg(long, value_name = "CMD")]
    pub build: Option<String>,
    /// Stop when one commit is the culprit with this posterior probability.
    #[arg(long, value_name = "P", default_value_t = 0.99)]
    pub confidence: f64,
    /// Failure rate at the bad commit (`0.001` or `1/1000`), or `auto` to measure it first.
    #[arg(long, value_name = "R|auto", default_value = "auto")]
    pub rate: String,
    /// Failures of the target at the bad commit measured before the search with `--rate auto`
    /// (at least 2); they also choose the default target.
    #[arg(long, value_name = "K", default_value_t = DEFAULT_MEASURED_FAILURES)]
    pub measure_failures: u64,
    /// The failure mode to bisect: a signature id (or prefix) or a regex over signature text
    /// [default: the most common signature at the bad commit].
    #[arg(long, value_name = "ID|REGEX")]
    pub signature: Option<String>,
    /// Search the first-parent path (histories with merges).
    #[arg(long)]
    pub first_parent: bool,
    /// Stop after this much: a duration (`2h`) or a number of runs (`50000`) [default: until
    /// the confidence is reached].
    #[arg(long, value_name = "DUR|N")]
    pub budget: Option<String>,
    /// Commits touching files matching GLOB (git pathspec glob, repeatable) are more likely.
    #[arg(long = "prior", value_name = "GLOB")]
    pub prior: Vec<String>,
    /// How much more likely those commits are.
    #[arg(long, value_name = "W", default_value_t = 10.0)]
    pub prior_weight: f64,
    /// Where probes go.
    #[arg(long, value_name = "HOW", value_enum, default_value_t = ProbeArg::Information)]
    pub probe: ProbeArg,
    /// Where worktrees, builds and probes' output go [default: ~/.cache/flakehunt/bisect].
    #[arg(long, value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,
    /// Keep the worktrees after a culprit is found.
    #[arg(long)]
    pub keep_worktrees: bool,
    /// Start over instead of resuming a recorded bisection of the same command.
    #[arg(long)]
    pub fresh: bool,
    /// Run the search against a simulated oracle instead of a repository.
    #[arg(long, help_heading = "Simulation")]
    pub simulate: bool,
    /// Simulation: commits after the good one.
    #[arg(
        long,
        value_name = "N",
        default_value_t = 64,
        help_heading = "Simulation"
    )]
    pub commits: usize,
    /// Simulation: the culprit's position (1..=N) or `random`.
    #[arg(
        long,
        value_name = "K|random",
        default_value = "random",
        help_heading = "Simulation"
    )]
    pub culprit: String,
    /// Simulation: trials (seeds from --seed on).
    #[arg(
        long,
        value_name = "T",
        default_value_t = 200,
        help_heading = "Simulation"
    )]
    pub trials: u64,
    /// Simulation: rate of failures of another signature at every commit.
    #[arg(
        long,
        value_name = "R",
        default_value = "0",
        help_heading = "Simulation"
    )]
    pub background: String,
    /// Simulation: commits that cannot be tested.
    #[arg(
        long,
        value_name = "N",
        default_value_t = 0,
        help_heading = "Simulation"
    )]
    pub untestable: usize,
    /// Simulation: do not tell the search the rate (as with `--rate auto`).
    #[arg(long, help_heading = "Simulation")]
    pub unknown_rate: bool,
    /// Simulation: naive bisection's reruns per step: `tuned` (fewest that match the search's
    /// accuracy), a number, or `off`.
    #[arg(
        long,
        value_name = "N|tuned|off",
        default_value = "tuned",
        help_heading = "Simulation"
    )]
    pub naive: String,
    /// Runner options and the command (run inside each commit's worktree), as for `run`.
    #[command(flatten)]
    pub run: RunArgs,
}

/// `--probe` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ProbeArg {
    /// Where one run tells the most about the culprit.
    Information,
    /// Where the posterior splits in half.
    Median,
}

/// `0.001`, `1e-3` or `1/1000`, strictly between 0 and 1.
fn parse_rate(flag: &str, text: &str) -> Result<f64> {
    let text = text.trim();
    let value = match text.split_once('/') {
        Some((top, bottom)) => match (top.trim().parse::<f64>(), bottom.trim().parse::<f64>()) {
            (Ok(top), Ok(bottom)) if bottom != 0.0 => Some(top / bottom),
            _ => None,
        },
        None => text.parse::<f64>().ok(),
    };
    match value {
        Some(rate) if rate > 0.0 && rate < 1.0 => Ok(rate),
        _ => bail!("{flag} '{text}' is not a rate between 0 and 1 (write e.g. 0.001 or 1/1000)"),
    }
}

/// `--measure-failures`, checked: a rate needs two failures to be measured at all.
fn measure_failures(args: &BisectArgs, rate_unknown: bool) -> Result<u64> {
    let wanted = args.measure_failures;
    if rate_unknown && wanted < MIN_MEASURED_FAILURES {
        bail!("--measure-failures must be at least {MIN_MEASURED_FAILURES} with --rate auto (one failure says little about a rate); or give --rate R");
    }
    Ok(wanted.max(1))
}

fn strategy(args: &BisectArgs) -> Strategy {
    match args.probe {
        ProbeArg::Information => Strategy::Information,
        ProbeArg::Median => Strategy::Median,
    }
}

/// Check the arguments and build the request, before anything runs.
fn request(args: &BisectArgs) -> Result<BisectRequest> {
    let run = &args.run;
    if run.runs.is_some() || run.duration.is_some() || run.max_failures.is_some() {
        bail!("bisect decides how many runs each commit gets; use --budget instead of -n/--duration/--max-failures");
    }
    if run.no_history {
        bail!(
            "bisect records every probe in the history to resume; it cannot run with --no-history"
        );
    }
    if run.target.only_flaky.is_some() {
        bail!("--only-flaky hunts many tests; bisect one of them with --cargo-test, --go-test, --pytest or --test");
    }
    if run.command.is_empty() && run.target.request().is_none() {
        bail!("no command given; write it after --, e.g. flakehunt bisect --good v1 --bad main -- ./test.sh, or name a test target (--cargo-test, --go-test, --pytest, --test)");
    }
    if !(args.prior_weight.is_finite() && args.prior_weight > 0.0) {
        bail!("--prior-weight must be a positive number");
    }
    let rate = match args.rate.trim() {
        "auto" => None,
        text => Some(parse_rate("--rate", text)?),
    };
    let cache_dir = match &args.cache_dir {
        Some(dir) => dir.clone(),
        None => default_cache_dir().ok_or_else(|| {
            anyhow::anyhow!("no cache directory: set HOME or XDG_CACHE_HOME, or pass --cache-dir")
        })?,
    };
    let mut campaign = run.request();
    campaign.cwd = run.cwd.clone();
    Ok(BisectRequest {
        dir: std::env::current_dir()
            .map_err(|e| anyhow::anyhow!("cannot read the current directory: {e}"))?,
        good: args.good.clone().unwrap_or_default(),
        bad: args.bad.clone().unwrap_or_default(),
        build: args.build.clone(),
        confidence: args.confidence,
        rate,
        measure_failures: measure_failures(args, rate.is_none())?,
        signature: args.signature.clone(),
        first_parent: args.first_parent,
        budget: args
            .budget
            .as_deref()
            .map(crate::cli::parse_budget)
            .transpose()?,
        jobs: run
            .jobs
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get())),
        prior_globs: args.prior.clone(),
        prior_weight: args.prior_weight,
        strategy: strategy(args),
        cache_dir,
        keep_worktrees: args.keep_worktrees,
        fresh: args.fresh,
        campaign,
    })
}

/// `flakehunt bisect`.
pub fn execute(args: BisectArgs, db: &Path) -> Result<i32> {
    crate::cli::run::refuse_scale_out(&args.run, "bisect")?;
    if args.simulate {
        return simulate(&args);
    }
    let request = request(&args)?;
    let quiet = args.run.quiet || args.run.json;
    let mut on_probe = |probe: &crate::analysis::bisect::ProbeRecord,
                        path: &[crate::analysis::bisect::CommitInfo],
                        resumed: bool| {
        if !quiet {
            eprint!("{}", report::bisect::progress(probe, path, resumed));
        }
    };
    let outcome = crate::bisect::run(&request, db, &mut on_probe).map_err(|error| {
        match error.downcast_ref::<crate::bisect::AfterStart>() {
            Some(after) => crate::cli::RuntimeError(format!(
                "{after}; the probes so far are recorded: rerun the same command to continue"
            ))
            .into(),
            None => error,
        }
    })?;
    let rendered = if args.run.json {
        let mut line = report::bisect::json(&outcome)?;
        line.push('\n');
        line
    } else {
        report::bisect::text(&outcome)
    };
    print_stdout(&rendered)?;
    Ok(match outcome.status {
        Status::Culprit => EXIT_OK,
        _ => EXIT_FAILURES,
    })
}

/// `flakehunt bisect --simulate`.
fn simulate(args: &BisectArgs) -> Result<i32> {
    if args.commits == 0 {
        bail!("--commits must be at least 1");
    }
    if args.trials == 0 {
        bail!("--trials must be at least 1");
    }
    let rate = match args.rate.trim() {
        "auto" => bail!("--simulate needs the oracle's rate: --rate R (add --unknown-rate to keep it from the search)"),
        text => parse_rate("--rate", text)?,
    };
    let background = match args.background.trim() {
        "0" => 0.0,
        text => parse_rate("--background", text)?,
    };
    let culprit = match args.culprit.trim() {
        "random" => None,
        text => match text.parse::<usize>() {
            Ok(k) if (1..=args.commits).contains(&k) => Some(k),
            _ => bail!(
                "--culprit must be random or a position from 1 to {}",
                args.commits
            ),
        },
    };
    if !(args.confidence > 0.0 && args.confidence < 1.0) {
        bail!("--confidence must be between 0 and 1 (exclusive), e.g. 0.99");
    }
    let budget = match args
        .budget
        .as_deref()
        .map(crate::cli::parse_budget)
        .transpose()?
    {
        None => u64::MAX / 4,
        Some(Budget::Runs(runs)) => runs,
        Some(Budget::Time(_)) => bail!("--simulate counts runs: give --budget as a number of runs"),
    };
    let scenario = Scenario {
        commits: args.commits,
        culprit,
        rate,
        background,
        untestable: args.untestable,
        confidence: args.confidence,
        budget,
        rate_known: !args.unknown_rate,
        measure_failures: measure_failures(args, args.unknown_rate)?,
        strategy: strategy(args),
    };
    let seed = args.run.seed.unwrap_or(1);
    let search = search_many(&scenario, args.trials, seed)?;
    let naive = naive_rows(args, &scenario, search.accuracy(), seed)?;
    let simulation = report::bisect::Simulation {
        scenario,
        search,
        naive,
    };
    let rendered = if args.run.json {
        let mut line = report::bisect::simulation_json(&simulation)?;
        line.push('\n');
        line
    } else {
        report::bisect::simulation_text(&simulation)
    };
    print_stdout(&rendered)?;
    Ok(EXIT_OK)
}

/// Naive bisection on the same trials, each step rerun in full and stopping at its first
/// failure: with N tuned to `accuracy`, or as given by `--naive`.
fn naive_rows(
    args: &BisectArgs,
    scenario: &Scenario,
    accuracy: f64,
    seed: u64,
) -> Result<Vec<NaiveRow>> {
    Ok(match args.naive.trim() {
        "off" => Vec::new(),
        "tuned" => [false, true]
            .into_iter()
            .filter_map(|stop_early| {
                tune_naive(scenario, stop_early, accuracy, args.trials, seed).map(
                    |(reruns, tally)| NaiveRow {
                        reruns,
                        stop_early,
                        tally,
                    },
                )
            })
            .collect(),
        text => match text.parse::<u64>() {
            Ok(reruns) if reruns > 0 => [false, true]
                .into_iter()
                .map(|stop_early| NaiveRow {
                    reruns,
                    stop_early,
                    tally: naive_many(scenario, Naive { reruns, stop_early }, args.trials, seed),
                })
                .collect(),
            _ => bail!("--naive must be tuned, off or a number of reruns per step"),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_parse_as_decimals_or_fractions() {
        assert_eq!(parse_rate("--rate", "0.001").expect("decimal"), 0.001);
        assert_eq!(parse_rate("--rate", "1/1000").expect("fraction"), 0.001);
        assert_eq!(parse_rate("--rate", "1e-3").expect("exponent"), 0.001);
        for bad in ["0", "1", "2", "1/0", "x", "-0.1", "NaN", ""] {
            assert!(parse_rate("--rate", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn budgets_parse() {
        assert!(matches!(
            crate::cli::parse_budget("500"),
            Ok(Budget::Runs(500))
        ));
        assert!(matches!(
            crate::cli::parse_budget("2h"),
            Ok(Budget::Time(_))
        ));
        assert!(crate::cli::parse_budget("0").is_err());
        assert!(crate::cli::parse_budget("soon").is_err());
    }
}
