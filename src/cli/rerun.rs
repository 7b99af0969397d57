//! `flakehunt rerun ID [RUN OPTIONS]`: start a recorded campaign again, exactly as it ran
//! (command or test target, shake, env, script, timeouts, jobs, stop rules), as a new campaign
//! linked to the old one; options given here win over the stored ones.

use std::ffi::OsString;
use std::path::Path;

use anyhow::{anyhow, bail, Context, Result};
use clap::parser::ValueSource;
use clap::{ArgMatches, Args, CommandFactory, FromArgMatches};

use crate::cli::run::RunArgs;
use crate::cli::Cli;
use crate::spec::CampaignKind;
use crate::store::{query, Store};

/// Arguments of `flakehunt rerun`.
#[derive(Debug, Clone, Args)]
#[command(after_help = RERUN_HELP)]
pub struct RerunArgs {
    /// The campaign to start again: its id, a unique prefix of one, or `last`.
    #[arg(value_name = "ID")]
    pub id: String,
    /// Options of `flakehunt run`, after the ID, that replace the stored ones: any stop rule
    /// replaces all stored stop rules, --step or --script the stored script, --env KEY=VALUE
    /// the stored KEY; the command and test target cannot change.
    #[arg(
        value_name = "RUN OPTIONS",
        trailing_var_arg = true,
        allow_hyphen_values = true
    )]
    pub options: Vec<OsString>,
}

/// Examples at the end of `flakehunt rerun --help`.
const RERUN_HELP: &str = "Examples:
  flakehunt rerun last
  flakehunt rerun 20261130-1220 -n 50000 --jobs 16
  flakehunt rerun last --shake pin=one-core --env GODEBUG=asyncpreemptoff=1 --json";

/// Stored options that a given option of the same group replaces as a whole.
const STOP_RULES: &[&str] = &["runs", "duration", "max_failures"];
const SCRIPT: &[&str] = &["steps", "script"];
/// What a rerun cannot change: it would not be the same campaign.
const FIXED: &[&str] = &[
    "command",
    "cargo_test",
    "package",
    "features",
    "go_test",
    "go_run",
    "race",
    "pytest",
    "test_name",
    "suite",
    "only_flaky",
];

/// `flakehunt rerun`.
pub fn execute(args: RerunArgs, db: &Path) -> Result<i32> {
    let store = Store::open_existing(db)?;
    let id = query::resolve_campaign(&store, &args.id)?;
    let row = query::campaign(&store, &id)?;
    let spec = query::campaign_spec(&store, &id)?;
    drop(store);
    let recipe = recipe_of(&id, &row, &spec)?;
    let mut run_args = combine(&id, &recipe, &args.options)?;
    if row.kind == CampaignKind::Verify.as_str() {
        eprintln!(
            "flakehunt: campaign {id} was a verify; its runs are repeated without a verdict \
             (for one, run `flakehunt verify` again)"
        );
    }
    run_args.kind = CampaignKind::Run;
    run_args.rerun_of = Some(id.clone());
    crate::cli::run::execute(run_args, db).with_context(|| format!("cannot rerun campaign {id}"))
}

/// The stored `run` arguments of campaign `id`, or why it cannot be repeated.
fn recipe_of(id: &str, row: &query::CampaignRow, spec: &serde_json::Value) -> Result<Vec<String>> {
    if let Some(recipe) = spec.get("recipe").and_then(|r| r.as_array()) {
        return recipe
            .iter()
            .map(|word| word.as_str().map(str::to_string))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| anyhow!("the recorded options of campaign {id} are damaged"));
    }
    match row.kind.as_str() {
        "hunt" => bail!(
            "campaign {id} is a hunt: what each arm ran depended on what the hunt learnt, so it \
             cannot be repeated run for run; hunt again with `flakehunt hunt`, or rerun its best \
             arm with `flakehunt run --shake best ...`"
        ),
        "window" => bail!(
            "campaign {id} is a window sweep, whose second half depended on the first; sweep \
             again with `flakehunt window`"
        ),
        "bisect" => bail!(
            "campaign {id} is a probe of a bisection; run the same `flakehunt bisect` again to \
             resume it"
        ),
        "demo" => bail!("campaign {id} is the demo; run `flakehunt demo` again"),
        _ => bail!(
            "campaign {id} was recorded without the options to repeat it (by an older \
             flakehunt, or with arguments that are not UTF-8); `flakehunt show {id}` prints \
             what it ran"
        ),
    }
}

/// The `run` arguments of the rerun: the stored ones less those the user's options replace,
/// then the user's (the later of two values wins), then the stored command.
fn combine(id: &str, recipe: &[String], options: &[OsString]) -> Result<RunArgs> {
    let given = given_by_user(options)?;
    if let Some(fixed) = FIXED.iter().find(|name| given.contains(&name.to_string())) {
        bail!(
            "a rerun repeats campaign {id}'s command and test target; {} cannot change \
             (start another campaign with `flakehunt run`)",
            display_name(fixed)
        );
    }
    let (stored, command) = match recipe.iter().position(|word| word == "--") {
        Some(at) => (&recipe[..at], &recipe[at..]),
        None => (recipe, &[][..]),
    };
    let replaced_env = user_env_keys(options)?;
    let replaces = |group: &[&str]| group.iter().any(|name| given.contains(&name.to_string()));
    let kept = stored.iter().filter(|word| {
        let flag = word.split_once('=').map_or(word.as_str(), |(flag, _)| flag);
        let value = word.split_once('=').map_or("", |(_, value)| value);
        match flag {
            "--runs" | "--duration" | "--max-failures" => !replaces(STOP_RULES),
            "--step" | "--script" => !replaces(SCRIPT),
            "--env" => {
                let key = value.split_once('=').map_or(value, |(key, _)| key);
                !replaced_env.iter().any(|replaced| replaced == key)
            }
            _ => true,
        }
    });
    let argv: Vec<OsString> = std::iter::once(OsString::from("flakehunt rerun"))
        .chain(kept.map(OsString::from))
        .chain(options.iter().cloned())
        .chain(command.iter().map(OsString::from))
        .collect();
    let matches = run_command()
        .args_override_self(true)
        .try_get_matches_from(argv)
        .map_err(|error| anyhow!("{}", clap_message(&error)))?;
    RunArgs::from_arg_matches(&matches).map_err(|error| anyhow!("{}", clap_message(&error)))
}

/// `flakehunt run`'s command line definition.
fn run_command() -> clap::Command {
    Cli::command()
        .find_subcommand("run")
        .cloned()
        .unwrap_or_else(|| clap::Command::new("run"))
}

/// Ids of the options the user gave, read leniently (the command is missing on purpose).
fn given_by_user(options: &[OsString]) -> Result<Vec<String>> {
    let matches = lenient_matches(options)?;
    Ok(matches
        .ids()
        .filter(|id| matches.value_source(id.as_str()) == Some(ValueSource::CommandLine))
        .map(|id| id.as_str().to_string())
        .collect())
}

/// The keys of the user's `--env KEY=VALUE` options.
fn user_env_keys(options: &[OsString]) -> Result<Vec<String>> {
    let matches = lenient_matches(options)?;
    let env = matches
        .get_many::<(OsString, OsString)>("env")
        .into_iter()
        .flatten()
        .map(|(key, _)| key.to_string_lossy().into_owned())
        .collect();
    Ok(env)
}

/// The user's options parsed as `run`'s, without a command: typos are caught by the strict
/// parse that follows, with the stored options.
fn lenient_matches(options: &[OsString]) -> Result<ArgMatches> {
    let argv = std::iter::once(OsString::from("flakehunt rerun")).chain(options.iter().cloned());
    run_command()
        .ignore_errors(true)
        .try_get_matches_from(argv)
        .map_err(|error| anyhow!("{}", clap_message(&error)))
}

/// How a user writes the option with clap id `id`.
fn display_name(id: &str) -> String {
    match id {
        "command" => "the command".into(),
        "test_name" => "--test".into(),
        "go_run" => "--go-run".into(),
        other => format!("--{}", other.replace('_', "-")),
    }
}

/// clap's message without its `error: ` prefix and usage lines.
fn clap_message(error: &clap::Error) -> String {
    let rendered = error.render().to_string();
    let first = rendered.lines().next().unwrap_or_default();
    first.strip_prefix("error: ").unwrap_or(first).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(text: &str) -> Vec<OsString> {
        text.split_whitespace().map(OsString::from).collect()
    }

    fn recipe() -> Vec<String> {
        [
            "--jobs=4",
            "--runs=1000",
            "--max-failures=3",
            "--timeout=30s",
            "--env=A=1",
            "--env=B=2",
            "--step=sleep 1ms",
            "--shake=cpu-load=1",
            "--",
            "./t",
            "--flag",
        ]
        .map(String::from)
        .to_vec()
    }

    #[test]
    fn the_stored_campaign_comes_back_as_it_was() {
        let args = combine("X", &recipe(), &[]).expect("parse");
        assert_eq!(args.jobs, Some(4));
        assert_eq!((args.runs, args.max_failures), (Some(1000), Some(3)));
        assert_eq!(args.steps, vec!["sleep 1ms".to_string()]);
        assert_eq!(args.shake.as_deref(), Some("cpu-load=1"));
        assert_eq!(args.command, words("./t --flag"));
    }

    #[test]
    fn given_options_win_by_group() {
        let args = combine(
            "X",
            &recipe(),
            &words("-n 5 -j 2 --env B=3 --step close-stdin --shake pin=one-core"),
        )
        .expect("parse");
        assert_eq!((args.runs, args.max_failures), (Some(5), None));
        assert_eq!(args.jobs, Some(2));
        let env: Vec<String> = args
            .env
            .iter()
            .map(|(k, v)| format!("{}={}", k.to_string_lossy(), v.to_string_lossy()))
            .collect();
        assert_eq!(env, vec!["A=1".to_string(), "B=3".to_string()]);
        assert_eq!(args.steps, vec!["close-stdin".to_string()]);
        assert_eq!(args.shake.as_deref(), Some("pin=one-core"));
    }

    #[test]
    fn the_command_cannot_change_and_typos_are_named() {
        let error = combine("X", &recipe(), &words("-- ./other")).expect_err("fixed");
        assert!(
            error.to_string().contains("the command cannot change"),
            "{error}"
        );
        let error = combine("X", &recipe(), &words("--pytest t.py")).expect_err("fixed");
        assert!(
            error.to_string().contains("--pytest cannot change"),
            "{error}"
        );
        let error = combine("X", &recipe(), &words("--jbos 3")).expect_err("typo");
        assert!(error.to_string().contains("--jbos"), "{error}");
    }
}
