//! `flakehunt demo`: hunt the built-in racy program with the real runner, to show what a
//! campaign looks like on a fresh clone without any test of one's own.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Args;

use crate::campaign::{launch, prepare};
use crate::cli::run::{print_summary, ProgressStyleArg, RunArgs, TimeoutAction};
use crate::cli::EXIT_OK;

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

const INTRO: &str = "\
flakehunt demo: a Linux analogue of Go issue 45638 (TestLibraryCtrlHandler).
  The racy program prints \"ready\" before its background initialiser has installed the SIGINT
  handler. The driver waits for \"ready\", sends SIGINT, and fails if the program died instead of
  reporting the signal; when it fails it also dumps binary garbage, as the real crash did.
  flakehunt reruns the driver in parallel until the race is caught, escapes the garbage on screen,
  keeps the raw bytes on disk, clusters the failures and states the rate with its interval.
";

/// `flakehunt demo`.
pub fn execute(args: DemoArgs, db: &std::path::Path) -> Result<i32> {
    let exe =
        std::env::current_exe().context("cannot find the flakehunt binary to run the demo")?;
    let run_args = RunArgs {
        jobs: args.jobs,
        runs: Some(args.runs),
        duration: Some(args.duration),
        max_failures: Some(args.max_failures),
        timeout: Duration::from_secs(30),
        timeout_signal: libc::SIGQUIT,
        grace: Duration::from_secs(2),
        on_timeout: TimeoutAction::Kill,
        fail_if: None,
        ignore: None,
        env: Vec::new(),
        cwd: None,
        out: args.out.clone(),
        keep_passing: false,
        quiet: args.quiet,
        json: args.json,
        events: None,
        no_history: false,
        steps: Vec::new(),
        script: None,
        shake: None,
        seed: None,
        progress: ProgressStyleArg::Auto,
        command: vec![exe.into_os_string(), "__demo-driver".into()],
    };
    let mut prepared = prepare(&run_args.request(), db)?;
    let spec = &prepared.spec;
    prepared.outputs.events = Some(spec.out_dir.join("events.ndjson"));
    std::fs::create_dir_all(&spec.out_dir).with_context(|| {
        format!(
            "cannot create output directory {} (choose another with --out)",
            spec.out_dir.display()
        )
    })?;
    if !args.json {
        eprintln!("{INTRO}");
    }
    let result = launch(&prepared, Vec::new())?;
    print_summary(&result, args.json)?;
    if !args.json {
        let summary = &result.summary;
        if summary.failures > 0 {
            let first = summary
                .signatures
                .iter()
                .map(|signature| signature.first_run)
                .min()
                .unwrap_or(0);
            eprintln!(
                "\nCaught it: {} failure(s) in {} runs. Next steps:\n  \
                 flakehunt log last {first:<17}  # that failure's output, escaped (--raw for the bytes)\n  \
                 flakehunt show last                # this summary again, from the history\n  \
                 flakehunt plan --campaign last     # runs needed to call a fix proven\n  \
                 flakehunt hunt --budget 1m -- {} __demo-driver   # find a shake that reproduces faster\n  \
                 saved output and events.ndjson: {}",
                summary.failures,
                summary.runs,
                summary.command.first().map(String::as_str).unwrap_or("flakehunt"),
                crate::report::display_path(&summary.out_dir)
            );
        } else {
            eprintln!(
                "\nNot reproduced in {} runs on this machine: the race window is timing-dependent. \
                 Try again with more runs: flakehunt demo -n 100000 --duration 10m",
                summary.runs
            );
        }
    }
    Ok(EXIT_OK)
}
