//! Every command's `--help`, pinned by snapshots, and the rules its options keep: no option name
//! a user could mistake for another, and examples at the end of every campaign command's help.

use std::process::Command;

use clap::CommandFactory;
use flakehunt::cli::Cli;

/// Commands that start campaigns: their help ends with examples of their own.
const CAMPAIGN_COMMANDS: &[&str] = &["run", "rerun", "verify", "hunt", "window"];

/// The visible subcommands of flakehunt, by name.
fn subcommands() -> Vec<clap::Command> {
    let mut root = Cli::command();
    root.build();
    root.get_subcommands()
        .filter(|sub| !sub.is_hide_set() && sub.get_name() != "help")
        .cloned()
        .collect()
}

/// `flakehunt ARGS --help` as a user sees it on a 100-column screen (no terminal: no colour).
fn help_of(args: &[&str]) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_flakehunt"))
        .args(args)
        .arg("--help")
        .env("COLUMNS", "100")
        .env_remove("CLICOLOR_FORCE")
        .output()
        .expect("run flakehunt --help");
    assert!(output.status.success(), "{args:?} --help failed");
    assert!(output.stderr.is_empty(), "{args:?} --help wrote to stderr");
    String::from_utf8(output.stdout).expect("help is UTF-8")
}

#[test]
fn every_help_is_pinned() {
    insta::assert_snapshot!("help_flakehunt", help_of(&[]));
    for sub in subcommands() {
        let name = sub.get_name().to_string();
        insta::assert_snapshot!(format!("help_{name}"), help_of(&[&name]));
    }
}

/// Two long option names a user could mistake for each other: one is the other's plural, or a
/// prefix of it that ends inside a word (`--run`/`--runs`, not `--timeout`/`--timeout-signal`).
fn confusable(a: &str, b: &str) -> bool {
    let (short, long) = if a.len() <= b.len() { (a, b) } else { (b, a) };
    match long.strip_prefix(short) {
        Some("") => false,
        Some(rest) => rest == "s" || rest == "es" || !rest.starts_with('-'),
        None => false,
    }
}

#[test]
fn no_two_options_of_a_command_can_be_confused() {
    let mut root = Cli::command();
    root.build();
    let mut clashes = Vec::new();
    for sub in root.get_subcommands().filter(|sub| !sub.is_hide_set()) {
        let names: Vec<String> = sub
            .get_arguments()
            .filter(|arg| !arg.is_hide_set())
            .flat_map(|arg| {
                let mut names: Vec<String> = arg.get_long().into_iter().map(String::from).collect();
                names.extend(
                    arg.get_visible_aliases()
                        .unwrap_or_default()
                        .into_iter()
                        .map(String::from),
                );
                names
            })
            .collect();
        for (i, a) in names.iter().enumerate() {
            for b in &names[i + 1..] {
                if confusable(a, b) {
                    clashes.push(format!("{}: --{a} / --{b}", sub.get_name()));
                }
            }
        }
    }
    assert!(
        clashes.is_empty(),
        "confusable options:\n{}",
        clashes.join("\n")
    );
}

#[test]
fn the_confusion_rule_itself() {
    assert!(confusable("step", "steps"));
    assert!(confusable("run", "runs"));
    assert!(confusable("fail", "failures"));
    assert!(!confusable("timeout", "timeout-signal"));
    assert!(!confusable("jobs", "json"));
}

#[test]
fn campaign_commands_end_with_their_own_examples() {
    let names: Vec<String> = subcommands()
        .iter()
        .map(|s| s.get_name().to_string())
        .collect();
    for command in CAMPAIGN_COMMANDS {
        assert!(names.iter().any(|n| n == command), "no command {command}");
        let help = help_of(&[command]);
        let (_, examples) = help
            .rsplit_once("\nExamples:\n")
            .unwrap_or_else(|| panic!("{command} --help has no examples"));
        let starts: Vec<&str> = examples
            .lines()
            .filter(|line| line.starts_with("  flakehunt "))
            .collect();
        assert!(
            (2..=3).contains(&starts.len()),
            "{command}: {} examples",
            starts.len()
        );
        for line in &starts {
            assert!(
                line.contains(&format!("flakehunt {command} ")) || line.contains(" run "),
                "{command}: example of another command: {line}"
            );
        }
    }
}

#[test]
fn window_keeps_its_old_option_names_as_hidden_aliases() {
    let help = help_of(&["window"]);
    assert!(!help.contains("--steps") && !help.contains("--runs-per-step"));
    let output = Command::new(env!("CARGO_BIN_EXE_flakehunt"))
        .args([
            "window",
            "--sweep",
            "sleep 0..1ms",
            "--steps",
            "signal SIGINT",
            "--",
            "true",
        ])
        .output()
        .expect("run flakehunt");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("a script step goes in --step (singular), e.g. --step 'signal SIGINT'"),
        "{stderr}"
    );
    let output = Command::new(env!("CARGO_BIN_EXE_flakehunt"))
        .args([
            "window",
            "--sweep",
            "sleep 0..1ms",
            "--step",
            "40",
            "--",
            "true",
        ])
        .output()
        .expect("run flakehunt");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr
            .contains("--step 40: a script step, not a count; the number of delays is --points 40"),
        "{stderr}"
    );
}

#[test]
fn stop_rules_a_command_cannot_honour_are_not_offered_and_refused_with_its_own() {
    let scratch = tempfile::tempdir().expect("temp dir");
    for (command, offered, refusal) in [
        ("run", &["--runs", "--duration", "--max-failures"][..], None),
        (
            "verify",
            &["--duration"][..],
            Some(("verify decides how many runs", "--baseline-rate=1/10")),
        ),
        (
            "hunt",
            &[][..],
            Some(("use --budget and --failures", "--failures=3")),
        ),
        (
            "window",
            &[][..],
            Some((
                "use --points, --runs-per-point or --budget",
                "--sweep=sleep 0..1ms",
            )),
        ),
    ] {
        let help = help_of(&[command]);
        for flag in ["--runs", "--duration", "--max-failures"] {
            let shown = help.contains(&format!("{flag} <"));
            assert_eq!(shown, offered.contains(&flag), "{command} {flag}");
        }
        assert_eq!(
            help.contains("--shake <"),
            command != "hunt",
            "{command} --shake"
        );
        let Some((refusal, needed)) = refusal else {
            continue;
        };
        let output = Command::new(env!("CARGO_BIN_EXE_flakehunt"))
            .args([command, "-n", "5", needed, "--", "true"])
            .env("FLAKEHUNT_DB", scratch.path().join("history.db"))
            .output()
            .expect("run flakehunt");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{command}: {stderr}");
        assert!(stderr.contains(refusal), "{command}: {stderr}");
    }
}

#[test]
fn window_budget_takes_runs_or_a_duration_as_hunt_and_bisect_do() {
    let scratch = tempfile::tempdir().expect("temp dir");
    let output = Command::new(env!("CARGO_BIN_EXE_flakehunt"))
        .args([
            "window",
            "--sweep",
            "sleep 0..1ms",
            "--points",
            "3",
            "--budget",
            "12",
        ])
        .args(["--json", "-q", "-j", "2", "--no-history", "--out"])
        .arg(scratch.path().join("out"))
        .args(["--", "true"])
        .output()
        .expect("run flakehunt");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    let view: serde_json::Value = serde_json::from_slice(&output.stdout).expect("json");
    assert_eq!(view["runs"], 12, "{view}");
    let output = Command::new(env!("CARGO_BIN_EXE_flakehunt"))
        .args([
            "window",
            "--sweep",
            "sleep 0..1ms",
            "--points",
            "4",
            "--budget",
            "7",
        ])
        .args(["--", "true"])
        .output()
        .expect("run flakehunt");
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr)
        .contains("--budget 7 leaves fewer than 2 runs for each of the 4 delays"));
}
