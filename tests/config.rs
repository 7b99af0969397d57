//! `flakehunt.toml`: found at the project root from any folder of it, profiles selected with
//! `--profile` over `[defaults]`, command-line flags winning, and every mistake an exit-2 error
//! naming the file, line, table and key.

mod common;

use std::path::Path;
use std::process::Output;

use common::*;

const FILE: &str = r#"# shared by every campaign of the project
[defaults]
jobs = 3
timeout = "30s"
env = { MODE = "file", KEEP = "yes" }

[profile.ci]
runs = 4
max-failures = 2
shake = "nice=5"
timeout-signal = "SIGABRT"
"#;

/// A project (a git work tree) with `text` as `relative`, and a subfolder to work in.
fn project(relative: &str, text: &str) -> tempfile::TempDir {
    let dir = scratch();
    std::fs::create_dir_all(dir.path().join(".git")).expect("mkdir .git");
    std::fs::write(dir.path().join(".git/HEAD"), "ref: refs/heads/main\n").expect("HEAD");
    std::fs::create_dir_all(dir.path().join("deep/sub")).expect("mkdir");
    let file = dir.path().join(relative);
    std::fs::create_dir_all(file.parent().expect("parent")).expect("mkdir");
    std::fs::write(file, text).expect("write config");
    dir
}

fn in_folder(dir: &Path, args: &[&str]) -> Output {
    flakehunt()
        .current_dir(dir.join("deep/sub"))
        .arg("--db")
        .arg(dir.join("h.db"))
        .args(args)
        .output()
        .expect("run flakehunt")
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// The spec of the last campaign.
fn last_spec(dir: &Path) -> serde_json::Value {
    let output = in_folder(dir, &["show", "last", "--json"]);
    let value: serde_json::Value = serde_json::from_slice(&output.stdout).expect("json");
    value["spec"].clone()
}

fn failing_run(dir: &Path, extra: &[&str]) -> Output {
    let mut args = vec!["run", "-q"];
    args.extend_from_slice(extra);
    args.push("--");
    let mut command = flakehunt();
    command
        .current_dir(dir.join("deep/sub"))
        .arg("--db")
        .arg(dir.join("h.db"))
        .args(&args)
        .arg(fixture())
        .args(["env:MODE", "fail-on:0,1,2,3,4,5,6,7"]);
    command.output().expect("run flakehunt")
}

#[test]
fn a_profile_over_the_defaults_fills_in_what_the_command_line_left_out() {
    let dir = project("flakehunt.toml", FILE);
    let root = dir.path();

    // The defaults alone: no stop rule from a profile, env and jobs from [defaults].
    let output = failing_run(root, &["-n", "2"]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let spec = last_spec(root);
    assert_eq!(spec["jobs"], 3);
    assert_eq!(spec["timeout_s"], 30.0);
    assert_eq!(spec["env"], serde_json::json!(["KEEP=yes", "MODE=file"]));
    assert_eq!(spec["shake"], serde_json::Value::Null);

    // The profile: its stop rules and shake, over the defaults.
    let output = failing_run(root, &["--profile", "ci"]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let spec = last_spec(root);
    assert_eq!(
        (spec["runs"].as_u64(), spec["max_failures"].as_u64()),
        (Some(4), Some(2))
    );
    assert_eq!(spec["shake"], "nice=5");
    assert_eq!(spec["timeout_signal"], "SIGABRT");
    assert_eq!(spec["jobs"], 3);

    // Flags win: -j, --env KEY, and a stop rule replaces the profile's stop rules.
    let output = failing_run(
        root,
        &[
            "--profile",
            "ci",
            "-j",
            "1",
            "-n",
            "1",
            "--env",
            "MODE=flag",
        ],
    );
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let spec = last_spec(root);
    assert_eq!(spec["jobs"], 1);
    assert_eq!(
        (spec["runs"].as_u64(), spec["max_failures"].as_u64()),
        (Some(1), None)
    );
    assert_eq!(spec["env"], serde_json::json!(["KEEP=yes", "MODE=flag"]));
    let log = in_folder(root, &["log", "last", "0"]);
    assert!(String::from_utf8_lossy(&log.stdout).contains("MODE=flag"));

    // A command that cannot honour the profile's stop rules or shake does not get them.
    let output = in_folder(
        root,
        &[
            "hunt",
            "--profile",
            "ci",
            "-q",
            "--budget",
            "4",
            "--arms",
            "plain",
            "--",
            "true",
        ],
    );
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
}

#[test]
fn config_prints_each_value_and_where_it_comes_from() {
    let dir = project(".config/flakehunt.toml", FILE);
    let output = in_folder(dir.path(), &["config", "--profile", "ci"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let text = String::from_utf8_lossy(&output.stdout).to_string();
    let file = dir.path().join(".config/flakehunt.toml");
    let line = |key: &str| {
        text.lines()
            .find(|line| line.split_whitespace().next() == Some(key))
            .unwrap_or_else(|| panic!("no {key} in:\n{text}"))
            .to_string()
    };
    assert!(
        line("jobs").ends_with(&format!("[defaults] {}:3", file.display())),
        "{text}"
    );
    assert!(
        line("runs").ends_with(&format!("[profile.ci] {}:8", file.display())),
        "{text}"
    );
    assert!(
        line("grace").contains(" 5s ") && line("grace").ends_with("built-in"),
        "{text}"
    );

    let json = in_folder(dir.path(), &["config", "--json"]);
    let value: serde_json::Value = serde_json::from_slice(&json.stdout).expect("json");
    assert_eq!(value["profile"], serde_json::Value::Null);
    assert_eq!(value["settings"][1]["key"], "runs");
    assert_eq!(value["settings"][1]["value"], serde_json::Value::Null);

    // Outside any project: built-in values, and a profile cannot be found.
    let bare = scratch();
    let output = flakehunt()
        .current_dir(bare.path())
        .args(["config"])
        .output()
        .expect("run");
    assert!(String::from_utf8_lossy(&output.stdout).contains("no flakehunt.toml"));
    let output = flakehunt()
        .current_dir(bare.path())
        .args(["run", "--profile", "ci", "--", "true"])
        .output()
        .expect("run");
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("--profile ci: no flakehunt.toml here or above"));
}

#[test]
fn every_mistake_is_an_exit_2_error_naming_where_it_is() {
    for (text, profile, wanted) in [
        (
            "[profile.ci]\njbos = 4\n",
            "ci",
            ":2:1: [profile.ci]: unknown key `jbos`; allowed: jobs, runs,",
        ),
        (
            "[defaults]\ntimeout = \"soon\"\n",
            "ci",
            ":2:11: [defaults] timeout: 'soon' is not a duration",
        ),
        (
            "[profile.ci]\njobs = \"4\"\n",
            "ci",
            ":2:8: [profile.ci] jobs: got string; allowed: a whole number",
        ),
        ("[profile.ci\njobs = 4\n", "ci", ":1:"),
        (
            "[profile.ci]\njobs = 4\n",
            "nightly",
            ": no [profile.nightly]; its profiles: ci",
        ),
        (
            "[profile.ci]\nsteps = [\"close-stdin\"]\nscript = \"s.toml\"\n",
            "ci",
            "steps and script are both set",
        ),
    ] {
        let dir = project("flakehunt.toml", text);
        let output = in_folder(
            dir.path(),
            &["run", "--profile", profile, "-n", "1", "--", "true"],
        );
        let error = stderr(&output);
        assert_eq!(output.status.code(), Some(2), "{text}: {error}");
        let file = dir.path().join("flakehunt.toml");
        assert!(error.contains(&file.display().to_string()), "{error}");
        assert!(
            error.contains(wanted),
            "{text}: wanted {wanted:?} in {error}"
        );
        // Nothing ran: no campaign was recorded.
        assert!(
            !dir.path().join("h.db").exists() || {
                let history = in_folder(dir.path(), &["history", "--json"]);
                String::from_utf8_lossy(&history.stdout).trim() == "[]"
            }
        );
    }
}

#[test]
fn a_profile_may_name_the_test_target_and_the_command_line_replaces_it() {
    let dir = project(
        "flakehunt.toml",
        "[defaults]\njobs = 1\n\n[profile.unit]\ntest = \"TestFlaky\"\n",
    );
    // No runner's project files here: the profile's target was taken, and said so.
    let output = in_folder(dir.path(), &["run", "--profile", "unit", "-n", "1"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("--test found no Cargo.toml, go.mod or pytest"),
        "{}",
        stderr(&output)
    );
    // A command on the command line replaces the profile's target.
    let output = in_folder(
        dir.path(),
        &["run", "--profile", "unit", "-q", "-n", "1", "--", "true"],
    );
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    // Without a command or a target anywhere: one message naming every way to give one.
    let output = in_folder(dir.path(), &["run", "-n", "1"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("no command given; write it after --"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn a_profile_given_to_a_command_that_reads_no_file_is_refused() {
    let dir = project("flakehunt.toml", FILE);
    let output = in_folder(dir.path(), &["run", "-q", "-n", "1", "--", "true"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    // rerun repeats what was recorded: a profile would be silently dropped.
    let output = in_folder(dir.path(), &["rerun", "last", "--profile", "ci"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("--profile ci: rerun repeats what was recorded"),
        "{}",
        stderr(&output)
    );
    for args in [
        &["history", "--profile", "ci"][..],
        &["--profile", "ci", "show", "last"],
        &["report", "last", "--format", "md", "--profile", "ci"],
    ] {
        let output = in_folder(dir.path(), args);
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        assert!(
            stderr(&output).contains("--profile applies to run, verify, hunt, window, bisect"),
            "{args:?}: {}",
            stderr(&output)
        );
    }
    // Nothing was run again.
    let history = in_folder(dir.path(), &["history", "--json"]);
    let rows: serde_json::Value = serde_json::from_slice(&history.stdout).expect("json");
    assert_eq!(rows.as_array().map(Vec::len), Some(1));
}
