//! `flakehunt.toml` on the command line: `--profile NAME` selects a profile, its settings (over
//! the `[defaults]`) fill in every run option the command line left out, and `flakehunt config`
//! prints what is in force and where each value comes from.

use anyhow::{bail, Result};
use clap::parser::ValueSource;
use clap::{ArgMatches, Args};

use crate::cli::run::{ProgressStyleArg, RunArgs, TimeoutAction};
use crate::config::{Effective, Value};
use crate::report;
use crate::spec::CampaignKind;

/// Arguments of `flakehunt config`.
#[derive(Debug, Clone, Args)]
#[command(after_help = "Examples:
  flakehunt config
  flakehunt config --profile ci
  flakehunt config --profile ci --json")]
pub struct ConfigArgs {
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// `flakehunt config`.
pub fn execute(args: &ConfigArgs, profile: Option<&str>) -> Result<i32> {
    let view = view(&crate::config::load(profile)?);
    let shown = if args.json {
        report::config::json(&view) + "\n"
    } else {
        report::config::text(&view)
    };
    crate::cli::print_stdout(&shown)?;
    Ok(crate::cli::EXIT_OK)
}

/// What `flakehunt config` shows of the settings in force.
fn view(effective: &Effective) -> report::config::ConfigView {
    report::config::ConfigView {
        file: effective
            .file
            .as_ref()
            .map(|file| file.display().to_string()),
        profile: effective.profile.clone(),
        settings: crate::config::KEYS
            .iter()
            .map(|key| {
                let given = effective.get(key.name);
                report::config::SettingRow {
                    key: key.name.to_string(),
                    value: given.map(|setting| setting.value.to_string()),
                    built_in: key.built_in.to_string(),
                    about: key.about.to_string(),
                    table: given.map(|setting| setting.origin.table.clone()),
                    line: given.map(|setting| setting.origin.line),
                }
            })
            .collect(),
    }
}

/// The clap ids of the test-target options.
const TARGET_IDS: &[&str] = &[
    "cargo_test",
    "package",
    "features",
    "go_test",
    "go_run",
    "race",
    "pytest",
    "test_name",
];

/// Whether a setting applies to a campaign of `kind`: stop rules only where the command
/// offers them, and no `shake` for a hunt, which picks its own.
pub fn applies(key: &str, kind: CampaignKind) -> bool {
    match key {
        "runs" | "max-failures" => kind == CampaignKind::Run,
        "duration" => matches!(kind, CampaignKind::Run | CampaignKind::Verify),
        "shake" => kind != CampaignKind::Hunt,
        _ => true,
    }
}

/// Fill in the run options `given` (the command's parsed arguments) left out with the settings
/// of the configuration file (the profile over the defaults).
pub fn apply(effective: &Effective, args: &mut RunArgs, given: &ArgMatches) -> Result<()> {
    let on_command_line = |id: &str| {
        given.try_get_raw(id).is_ok() && given.value_source(id) == Some(ValueSource::CommandLine)
    };
    if effective.get("steps").is_some() && effective.get("script").is_some() {
        bail!(
            "{}: steps and script are both set (in [{}] and [{}]); keep one",
            effective
                .file
                .as_deref()
                .map_or("?".into(), |f| f.display().to_string()),
            effective.get("steps").map_or("", |s| &s.origin.table),
            effective.get("script").map_or("", |s| &s.origin.table),
        );
    }
    let script_given = on_command_line("steps") || on_command_line("script");
    let target_given = ["command", "only_flaky"]
        .iter()
        .chain(TARGET_IDS)
        .any(|id| on_command_line(id));
    let target_set = target_given
        || effective
            .settings
            .iter()
            .any(|setting| crate::config::TARGET_KEYS.contains(&setting.key));
    // A stop rule on the command line replaces the file's, as `run`'s rules combine.
    let stop_given = ["runs", "duration", "max_failures"]
        .iter()
        .any(|id| on_command_line(id));
    for setting in &effective.settings {
        let key = setting.key;
        let id = match key {
            "stacks" => "no_stacks".to_string(),
            "test" => "test_name".to_string(),
            _ => key.replace('-', "_"),
        };
        let skip = !applies(key, args.kind)
            || (key != "env" && on_command_line(&id))
            || (matches!(key, "steps" | "script") && script_given)
            || (matches!(key, "runs" | "duration" | "max-failures") && stop_given)
            || (crate::config::TARGET_KEYS.contains(&key) && target_given)
            || (key == "suite" && target_set);
        if !skip {
            set(args, key, &setting.value);
        }
    }
    Ok(())
}

/// Set one option from a checked value (the file's checks guarantee the kinds match).
fn set(args: &mut RunArgs, key: &str, value: &Value) {
    match (key, value) {
        ("jobs", Value::Count(n)) => args.jobs = Some(*n as usize),
        ("runs", Value::Count(n)) => args.runs = Some(*n),
        ("max-failures", Value::Count(n)) => args.max_failures = Some(*n),
        ("seed", Value::Count(n)) => args.seed = Some(*n),
        ("duration", Value::Duration(d, _)) => args.duration = Some(*d),
        ("timeout", Value::Duration(d, _)) => args.timeout = *d,
        ("grace", Value::Duration(d, _)) => args.grace = *d,
        ("timeout-signal", Value::Text(signal)) => {
            if let Some(number) = crate::os::signal::parse_signal(signal) {
                args.timeout_signal = number;
            }
        }
        ("on-timeout", Value::Text(action)) => {
            args.on_timeout = match action.as_str() {
                "keep" => TimeoutAction::Keep,
                _ => TimeoutAction::Kill,
            }
        }
        ("progress", Value::Text(style)) => {
            args.progress = match style.as_str() {
                "bar" => ProgressStyleArg::Bar,
                "lines" => ProgressStyleArg::Lines,
                _ => ProgressStyleArg::Auto,
            }
        }
        ("fail-if", Value::Text(regex)) => args.fail_if = Some(regex.clone()),
        ("ignore", Value::Text(regex)) => args.ignore = Some(regex.clone()),
        ("shake", Value::Text(shake)) => args.shake = Some(shake.clone()),
        ("out", Value::Path(path)) => args.out = Some(path.clone()),
        ("script", Value::Path(path)) => args.script = Some(path.clone()),
        ("steps", Value::Steps(steps)) => args.steps = steps.clone(),
        ("keep-passing", Value::Bool(keep)) => args.keep_passing = *keep,
        ("stacks", Value::Bool(stacks)) => args.no_stacks = !stacks,
        ("cargo-test", Value::Text(name)) => args.target.cargo_test = Some(name.clone()),
        ("package", Value::Text(name)) => args.target.package = Some(name.clone()),
        ("features", Value::Text(name)) => args.target.features = Some(name.clone()),
        ("go-test", Value::Text(name)) => args.target.go_test = Some(name.clone()),
        ("go-run", Value::Text(name)) => args.target.go_run = Some(name.clone()),
        ("race", Value::Bool(race)) => args.target.race = *race,
        ("pytest", Value::Text(name)) => args.target.pytest = Some(name.clone()),
        ("test", Value::Text(name)) => args.target.test_name = Some(name.clone()),
        ("suite", Value::Text(kind)) => {
            args.target.suite =
                <crate::target::SuiteKind as clap::ValueEnum>::from_str(kind, false).ok()
        }
        ("env", Value::Env(vars)) => {
            // The command line's variables win: the file's go first, less those it sets.
            let mut env: Vec<_> = vars
                .iter()
                .filter(|(name, _)| !args.env.iter().any(|(given, _)| given == name.as_str()))
                .map(|(name, value)| (name.into(), value.into()))
                .collect();
            env.append(&mut args.env);
            args.env = env;
        }
        _ => {}
    }
}

/// Fill in `args` (parsed into `given`) from the configuration file and `--profile`; then a
/// campaign must have a command or a test target (`bisect --simulate` needs neither and checks
/// its own).
pub fn configure(profile: Option<&str>, args: &mut RunArgs, given: &ArgMatches) -> Result<()> {
    let effective = crate::config::load(profile)?;
    apply(&effective, args, given)?;
    if args.kind != CampaignKind::Bisect
        && args.command.is_empty()
        && !args.target.replaces_command()
    {
        bail!(
            "no command given; write it after -- (flakehunt run -- ./my_test), name a test \
             target (--cargo-test, --go-test, --pytest, --test), or set one in a \
             flakehunt.toml profile"
        );
    }
    Ok(())
}
