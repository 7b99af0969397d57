//! `flakehunt demo`: hunt the built-in racy program with the real runner, to show what a
//! campaign looks like on a fresh clone without any test of one's own.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Args;

use crate::campaign::{launch, prepare, CampaignRequest};
use crate::cli::run::print_summary;
use crate::cli::{EXIT_INTERRUPTED, EXIT_OK, EXIT_RUNTIME};
use crate::report;
use crate::sink::progress::ProgressMode;
use crate::spec::{OnTimeout, StopRules, TimeoutPolicy};

/// Arguments of `flakehunt demo`.
#[derive(Debug, Clone, Args)]
pub struct DemoArgs {
    /// Runs in parallel [default: number of CPUs].
    #[arg(short = 'j', long, value_name = "N")]
    pub jobs: Option<usize>,

    /// Give up after N runs.
    #[arg(short = 'n', long, value_name = "N", default_value_t = 20_000)]
    pub runs: u64,

    /// Give up after this much time.
    #[arg(long, value_name = "DUR", default_value = "2m", value_parser = crate::cli::run::parse_duration)]
    pub duration: Duration,

    /// Stop once the race has been reproduced this many times.
    #[arg(long, value_name = "K", default_value_t = 3)]
    pub max_failures: u64,

    /// Directory for the failures [default: ./flakehunt-out/<campaign-id>].
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,

    /// Print the summary as JSON.
    #[arg(long)]
    pub json: bool,

    /// No progress display.
    #[arg(short, long)]
    pub quiet: bool,
}

/// `flakehunt demo`.
pub fn execute(args: DemoArgs, db: &std::path::Path) -> Result<i32> {
    let exe =
        std::env::current_exe().context("cannot find the flakehunt binary to run the demo")?;
    let request = CampaignRequest {
        jobs: args.jobs,
        stop: StopRules {
            runs: Some(args.runs),
            duration: Some(args.duration),
            max_failures: Some(args.max_failures),
        },
        timeout: TimeoutPolicy {
            limit: Duration::from_secs(30),
            signal: libc::SIGQUIT,
            grace: Duration::from_secs(2),
            action: OnTimeout::Kill,
        },
        out: args.out.clone(),
        progress: if args.quiet {
            ProgressMode::Quiet
        } else {
            ProgressMode::Auto
        },
        kind: crate::spec::CampaignKind::Demo,
        ..CampaignRequest::new(vec![
            exe.into_os_string(),
            crate::demo::racy::DRIVER_SUBCOMMAND.into(),
        ])
    };
    let mut prepared = prepare(&request, db)?;
    prepared.outputs.events = Some(prepared.spec.out_dir.join("events.ndjson"));
    if !args.json {
        eprintln!("{}", report::demo::INTRO);
    }
    let result = launch(&prepared, Vec::new())?;
    print_summary(&result, args.json)?;
    if !args.json {
        eprint!("{}", report::demo::next_steps(&result.summary));
    }
    // Catching the race is the demo working: failures alone do not make it exit 1.
    Ok(match &result.runtime_error {
        Some(error) => {
            eprintln!("flakehunt: error: {error}");
            EXIT_RUNTIME
        }
        None if result.summary.interrupted => EXIT_INTERRUPTED,
        None => EXIT_OK,
    })
}
