//! Command-line definitions (clap), one file per subcommand. Each subcommand turns its arguments
//! into library calls and returns an exit status; nothing else lives here.

pub mod bisect;
pub mod completions;
pub mod config;
pub mod demo;
pub mod dispatch;
pub mod history;
pub mod hunt;
pub mod hunt_arm;
pub mod ingest;
pub mod manpage;
pub mod merge;
pub mod report;
pub mod rerun;
pub mod run;
pub mod search;
pub mod target;
pub mod verdict;
pub mod window;

use clap::{Parser, Subcommand};

use crate::spec::CampaignKind;

/// Exit status: no failures (`verify`: fixed).
pub const EXIT_OK: i32 = 0;
/// Exit status: at least one failure (`verify`: not fixed; `compare --fail-if-worse`: B is
/// worse; `search`: nothing matched; `ingest`: a file could not be read or parsed).
pub const EXIT_FAILURES: i32 = 1;
/// Exit status: usage or setup error (nothing ran).
pub const EXIT_USAGE: i32 = 2;
/// Exit status: a runtime error (a full disk, an I/O error) stopped the command; what it did
/// up to then was reported and recorded as far as possible.
pub const EXIT_RUNTIME: i32 = 3;
/// Exit status of `verify` when the campaign stopped (a time limit, too many ignored runs)
/// before enough clean runs to call the fix proven, and nothing failed.
pub const EXIT_INCONCLUSIVE: i32 = 4;
/// Exit status when SIGINT (Ctrl-C), SIGTERM or SIGHUP ended a campaign; the summary of what
/// finished is still printed and recorded. 128 + SIGINT, as shells report an interrupted job.
pub const EXIT_INTERRUPTED: i32 = 130;

/// Every exit status and what it means, for `--help` and the man page; a status may take
/// several lines.
pub const EXIT_STATUSES: &[(i32, &str)] = &[
    (EXIT_OK, "no failures; verify: FIXED"),
    (
        EXIT_FAILURES,
        "failures; verify: NOT FIXED; compare --fail-if-worse: B is worse",
    ),
    (
        EXIT_FAILURES,
        "search: nothing matched; ingest: a file could not be read or parsed",
    ),
    (
        EXIT_USAGE,
        "usage or setup error, reported before anything ran",
    ),
    (
        EXIT_RUNTIME,
        "runtime error (I/O, full disk); what finished is kept",
    ),
    (
        EXIT_INCONCLUSIVE,
        "verify: INCONCLUSIVE, stopped before enough clean runs",
    ),
    (
        EXIT_INTERRUPTED,
        "interrupted (SIGINT, SIGTERM, SIGHUP); the summary is still printed",
    ),
];

/// The exit statuses as a block for the end of `--help`.
fn exit_status_help() -> String {
    let mut help = String::from("Exit status:");
    let mut previous = None;
    for &(status, meaning) in EXIT_STATUSES {
        let shown = if previous == Some(status) {
            String::new()
        } else {
            status.to_string()
        };
        previous = Some(status);
        help.push_str(&format!("\n  {shown:<4} {meaning}"));
    }
    help
}

/// An error that happened after work began; exits with [`EXIT_RUNTIME`], not [`EXIT_USAGE`].
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct RuntimeError(pub String);

/// A `--budget` of `hunt` or `bisect`: a number of runs (`5000`) or a duration (`10m`).
pub fn parse_budget(text: &str) -> anyhow::Result<crate::analysis::hunt::Budget> {
    use crate::analysis::hunt::Budget;
    if let Ok(runs) = text.trim().parse::<u64>() {
        if runs == 0 {
            anyhow::bail!("--budget must be more than 0 runs");
        }
        return Ok(Budget::Runs(runs));
    }
    let duration = humantime::parse_duration(text.trim()).map_err(|error| {
        anyhow::anyhow!("--budget '{text}' is neither a number of runs nor a duration ({error})")
    })?;
    if duration.is_zero() {
        anyhow::bail!("--budget must be longer than 0");
    }
    Ok(Budget::Time(duration))
}

/// Write text to standard output. A reader that went away (`| head`) ends the output quietly;
/// any other write error (`> /dev/full`) is a [`RuntimeError`].
pub fn print_stdout(text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Ok(()) => Ok(()),
        Err(error) if error.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(error) => Err(RuntimeError(format!("cannot write to standard output: {error}")).into()),
    }
}

/// The version `--version` shows: the package version, and the commit it was built from when
/// it was built in a git checkout, e.g. `0.1.0 (cf2396c 2026-11-30)` (`cf2396c-dirty` when
/// tracked files differed from that commit).
pub const VERSION: &str = env!("FLAKEHUNT_VERSION");

/// Hunt intermittent failures: rerun a command in parallel, keep every failure, cluster
/// failures by signature and report the failure rate with an honest interval.
#[derive(Debug, Parser)]
#[command(name = "flakehunt", version = VERSION, about, long_about = None)]
#[command(propagate_version = true, arg_required_else_help = true)]
#[command(after_long_help = exit_status_help())]
pub struct Cli {
    /// History database [default: $FLAKEHUNT_DB, else .flakehunt/history.db at the top of the
    /// git work tree, else in the current directory].
    #[arg(long, global = true, value_name = "PATH")]
    pub db: Option<std::path::PathBuf>,

    /// Colour the text printed on standard output: `auto` (on a terminal, unless NO_COLOR is
    /// set or TERM=dumb; CLICOLOR_FORCE forces it), `always` or `never`. JSON and files are
    /// never coloured.
    #[arg(long, global = true, value_name = "WHEN", value_enum, default_value_t = ColorWhen::Auto, hide_possible_values = true)]
    pub color: ColorWhen,

    /// Take run options from this profile of flakehunt.toml (`[profile.NAME]`, over its
    /// `[defaults]`); options given on the command line win.
    #[arg(long, global = true, value_name = "NAME")]
    pub profile: Option<String>,

    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// `--color` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ColorWhen {
    /// Colour on a terminal that supports it, as NO_COLOR, CLICOLOR_FORCE and TERM say.
    Auto,
    /// Always colour.
    Always,
    /// Never colour.
    Never,
}

/// The `--color` of a command line, read before clap parses it so that clap's own help and
/// errors follow it too (options after `--` belong to the command run).
pub fn color_of_args(
    args: impl IntoIterator<Item = std::ffi::OsString>,
) -> Option<clap::ColorChoice> {
    let mut args = args.into_iter().skip(1);
    let mut when = None;
    while let Some(arg) = args.next() {
        let arg = arg.to_string_lossy().into_owned();
        if arg == "--" {
            break;
        }
        if arg == "--color" {
            when = args
                .next()
                .map(|value| value.to_string_lossy().into_owned());
        } else if let Some(value) = arg.strip_prefix("--color=") {
            when = Some(value.to_string());
        }
    }
    match when.as_deref() {
        Some("always") => Some(clap::ColorChoice::Always),
        Some("never") => Some(clap::ColorChoice::Never),
        _ => None,
    }
}

/// Turn the text views' colour on or off for standard output.
fn choose_color(when: ColorWhen) {
    use anstream::ColorChoice;
    let choice = match when {
        ColorWhen::Auto => ColorChoice::Auto,
        ColorWhen::Always => ColorChoice::Always,
        ColorWhen::Never => ColorChoice::Never,
    };
    choice.write_global();
    let resolved = anstream::AutoStream::choice(&std::io::stdout());
    crate::report::style::set_enabled(resolved != ColorChoice::Never);
}

/// Mark each campaign command's run options with its kind, and fill in those the command line
/// left out from flakehunt.toml.
fn configure(cli: &mut Cli, matches: &clap::ArgMatches) -> anyhow::Result<()> {
    let (run, kind) = match &mut cli.command {
        Command::Run(args) => (args, CampaignKind::Run),
        Command::Verify(args) => (&mut args.run, CampaignKind::Verify),
        Command::Hunt(args) => (&mut args.run, CampaignKind::Hunt),
        Command::Window(args) => (&mut args.run, CampaignKind::Window),
        Command::Bisect(args) => (&mut args.run, CampaignKind::Bisect),
        _ => return refuse_profile(cli),
    };
    run.kind = kind;
    let Some((_, given)) = matches.subcommand() else {
        return Ok(());
    };
    config::configure(cli.profile.as_deref(), run, given)
}

/// `--profile` given to a command that reads no flakehunt.toml: said, not silently dropped (a
/// `rerun --profile ci` would otherwise run without what the user asked for).
fn refuse_profile(cli: &Cli) -> anyhow::Result<()> {
    let Some(profile) = &cli.profile else {
        return Ok(());
    };
    let name = match &cli.command {
        // `config` reads it.
        Command::Config(_) => return Ok(()),
        Command::Dispatch(_) => anyhow::bail!(
            "--profile {profile}: dispatch takes no run options from flakehunt.toml; give the \
             tasks' run options with --run-arg"
        ),
        Command::Rerun(_) => {
            anyhow::bail!(
                "--profile {profile}: rerun repeats what was recorded and reads no flakehunt.toml; \
                 give the options to change after the id, or start a new campaign with \
                 `flakehunt run --profile {profile}`"
            )
        }
        Command::Demo(_) => "demo",
        Command::History(_) => "history",
        Command::Show(_) => "show",
        Command::Log(_) => "log",
        Command::Ingest(_) => "ingest",
        Command::Search(_) => "search",
        Command::Plan(_) => "plan",
        Command::Compare(_) => "compare",
        Command::Completions(_) => "completions",
        Command::Manpage(_) => "manpage",
        Command::Report(_) => "report",
        Command::Merge(_) => "merge",
        _ => return Ok(()),
    };
    anyhow::bail!(
        "--profile {profile}: {name} takes no run options from flakehunt.toml; --profile applies \
         to run, verify, hunt, window, bisect and config"
    )
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Rerun a command until a stop rule is reached, keeping every failure.
    #[command(mut_arg("runs", run::unhide), mut_arg("duration", run::unhide))]
    #[command(
        mut_arg("max_failures", run::unhide),
        mut_arg("only_flaky", run::unhide),
        mut_arg("shard", run::unhide),
        mut_arg("export", run::unhide),
        mut_arg("campaign_id", run::unhide)
    )]
    #[command(after_help = run::RUN_EXAMPLES)]
    Run(run::RunArgs),
    /// Start a recorded campaign again, as it ran; options given after the ID win.
    Rerun(rerun::RerunArgs),
    /// Hunt the built-in racy example (a Linux analogue of Go issue 45638).
    Demo(demo::DemoArgs),
    /// List past campaigns, newest first.
    History(history::HistoryArgs),
    /// Print a past campaign's summary.
    Show(history::ShowArgs),
    /// Print one run's saved output, escaped (or raw with --raw).
    Log(history::LogArgs),
    /// Import CI artifacts (JUnit XML, go test -json, plain logs) as sightings.
    Ingest(ingest::IngestArgs),
    /// Search past failures (campaigns and ingested CI logs) by regex.
    Search(search::SearchArgs),
    /// How many runs it takes to reproduce a failure, or to claim it is fixed.
    Plan(verdict::PlanArgs),
    /// Rerun until the fix is proven at a confidence, or the first failure disproves it.
    Verify(verdict::VerifyArgs),
    /// Compare two campaigns: is B better, worse or indistinguishable from A?
    Compare(verdict::CompareArgs),
    /// Map a race window: failure rate against the delay of one script step.
    Window(window::WindowArgs),
    /// Find the perturbation (--shake) that reproduces a failure fastest.
    Hunt(hunt::HuntArgs),
    /// Print the settings flakehunt.toml gives (with --profile), and where each comes from.
    Config(config::ConfigArgs),
    /// Print a shell completion script (bash, zsh, fish, powershell, elvish).
    Completions(completions::CompletionsArgs),
    /// Print the man page (roff), or write one page per subcommand with --dir.
    Manpage(manpage::ManpageArgs),
    /// Write a campaign, sweep, hunt, bisection or history query as HTML, Markdown, JUnit or annotations.
    Report(report::ReportArgs),
    /// Find the commit that introduced a rare failure (flake-aware bisection).
    Bisect(Box<bisect::BisectArgs>),
    /// Fold campaign bundles (shards run elsewhere with --export) into one campaign.
    Merge(merge::MergeArgs),
    /// Run one campaign as the tasks of a Slurm job array (or a Kubernetes Indexed Job).
    Dispatch(dispatch::DispatchArgs),
    /// Internal: the guard process that cleans up if flakehunt is killed.
    #[command(name = "__guard", hide = true)]
    Guard {
        /// Spill directory to remove once flakehunt is gone.
        spill_dir: Option<std::path::PathBuf>,
    },
    /// Internal: a load generator for --shake.
    #[command(name = "__load", hide = true)]
    Load {
        /// Kind and arguments.
        args: Vec<String>,
    },
    /// Internal: the demo's racy program.
    #[command(name = "__demo-child", hide = true)]
    DemoChild,
    /// Internal: the demo's driver, which runs the racy program once.
    #[command(name = "__demo-driver", hide = true)]
    DemoDriver,
}

/// Run the parsed command line (`matches`, what clap parsed it from, tells the options given
/// from the defaults); returns the process exit status.
pub fn dispatch(mut cli: Cli, matches: &clap::ArgMatches) -> anyhow::Result<i32> {
    // The history's location is only worked out for commands that use it: internal commands
    // run once per run and must stay cheap.
    choose_color(cli.color);
    configure(&mut cli, matches)?;
    let db = || crate::store::resolve_path(cli.db.as_deref());
    match cli.command {
        Command::Config(args) => config::execute(&args, cli.profile.as_deref()),
        Command::Run(args) => run::execute(args, &db()),
        Command::Rerun(args) => rerun::execute(args, &db()),
        Command::Demo(args) => demo::execute(args, &db()),
        Command::History(args) => history::history(args, &db()),
        Command::Show(args) => history::show(args, &db()),
        Command::Log(args) => history::log(args, &db()),
        Command::Ingest(args) => ingest::execute(args, &db()),
        Command::Search(args) => search::execute(args, &db()),
        Command::Plan(args) => verdict::plan(args, &db()),
        Command::Verify(args) => verdict::verify(args, &db()),
        Command::Compare(args) => verdict::compare(args, &db()),
        Command::Window(args) => window::execute(args, &db()),
        Command::Hunt(args) => hunt::execute(args, &db()),
        Command::Completions(args) => completions::execute(&args),
        Command::Manpage(args) => manpage::execute(&args),
        Command::Report(args) => report::execute(args, &db()),
        Command::Bisect(args) => bisect::execute(*args, &db()),
        Command::Merge(args) => merge::execute(args, &db()),
        Command::Dispatch(args) => dispatch::execute(args, &db()),
        Command::Guard { spill_dir } => Ok(crate::runner::guard::guard_main(spill_dir.as_deref())),
        Command::Load { args } => Ok(crate::shake::load::load_main(&args)),
        Command::DemoChild => Ok(crate::demo::racy::child_main()),
        Command::DemoDriver => {
            let exe = std::env::current_exe()
                .map_err(|error| anyhow::anyhow!("cannot find the flakehunt binary: {error}"))?;
            Ok(crate::demo::racy::driver_main(&exe))
        }
    }
}
