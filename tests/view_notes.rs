//! What `log`, `history --tests` and `show` say when there is nothing to show: the run numbers
//! a campaign has, how many campaigns a test filter searched, a repository without commits.

mod common;

use std::path::Path;
use std::process::Output;

use common::{fixture, flakehunt, scratch};

/// Runs `flakehunt --db DB ARGS...` in `cwd`.
fn flakehunt_in(db: &Path, cwd: &Path, args: &[&str]) -> Output {
    flakehunt()
        .current_dir(cwd)
        // A scratch directory must not find a repository above it.
        .env("GIT_CEILING_DIRECTORIES", cwd.parent().unwrap_or(cwd))
        .arg("--db")
        .arg(db)
        .args(args)
        .output()
        .expect("run flakehunt")
}

/// A 12-run campaign whose runs 3 and 7 fail without printing anything; its id.
fn silent_failures(db: &Path, dir: &Path) -> String {
    let out = dir.join("out");
    let fixture = fixture().to_string_lossy().into_owned();
    let args = [
        "run",
        "-n",
        "12",
        "-j",
        "1",
        "--progress",
        "lines",
        "--out",
        out.to_str().expect("utf-8 path"),
        "--",
        &fixture,
        "only-on:3,7",
        "exit:1",
    ];
    let output = flakehunt_in(db, dir, &args);
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let json = flakehunt_in(db, dir, &["history", "--json"]);
    let rows: serde_json::Value = serde_json::from_slice(&json.stdout).expect("history json");
    rows[0]["id"].as_str().expect("campaign id").to_string()
}

#[test]
fn log_names_the_runs_a_campaign_has_and_notes_silent_runs() {
    let dir = scratch();
    let db = dir.path().join("h.db");
    let id = silent_failures(&db, dir.path());

    let missing = flakehunt_in(&db, dir.path(), &["log", "last", "99"]);
    assert_eq!(missing.status.code(), Some(2), "{missing:?}");
    let passing = flakehunt_in(&db, dir.path(), &["log", "last", "4"]);
    let silent = flakehunt_in(&db, dir.path(), &["log", "last", "3"]);
    assert_eq!(silent.status.code(), Some(0), "{silent:?}");
    assert!(silent.stdout.is_empty(), "{silent:?}");
    let raw = flakehunt_in(&db, dir.path(), &["log", "last", "7", "--raw"]);
    assert!(raw.stdout.is_empty(), "{raw:?}");

    let shown = [
        ("log last 99", &missing),
        ("log last 4", &passing),
        ("log last 3", &silent),
        ("log last 7 --raw", &raw),
    ]
    .iter()
    .map(|(args, output)| {
        format!(
            "$ flakehunt {args}\n{}",
            String::from_utf8_lossy(&output.stderr)
        )
    })
    .collect::<String>()
    .replace(&id, "<id>");
    insta::assert_snapshot!(shown);
}

/// The end of `show`'s "recorded ... commit X" line for the newest campaign.
fn recorded_commit(db: &Path, cwd: &Path) -> String {
    let show = flakehunt_in(db, cwd, &["show", "last"]);
    assert_eq!(show.status.code(), Some(0), "{show:?}");
    let text = String::from_utf8_lossy(&show.stdout).into_owned();
    let line = text
        .lines()
        .find(|line| line.trim_start().starts_with("recorded"))
        .unwrap_or_else(|| panic!("no recorded line: {text}"));
    line.split_once(", commit ")
        .map(|(_, commit)| commit.to_string())
        .unwrap_or_else(|| panic!("no commit in: {line}"))
}

#[test]
fn show_tells_a_repository_without_commits_from_no_repository() {
    let dir = scratch();
    let db = dir.path().join("h.db");
    let plain = dir.path().join("plain");
    let fresh = dir.path().join("fresh");
    let mut shown = String::new();
    for (name, cwd) in [("plain directory", &plain), ("after git init", &fresh)] {
        std::fs::create_dir(cwd).expect("mkdir");
        if name == "after git init" {
            let init = std::process::Command::new("git")
                .args(["init", "--quiet"])
                .current_dir(cwd)
                .status()
                .expect("git is needed for this test (.ci/run installs it)");
            assert!(init.success());
        }
        let run = flakehunt_in(
            &db,
            cwd,
            &["run", "-n", "1", "--progress", "lines", "--", "true"],
        );
        assert_eq!(run.status.code(), Some(0), "{run:?}");
        shown.push_str(&format!("{name}: commit {}\n", recorded_commit(&db, cwd)));
    }
    insta::assert_snapshot!(shown);
}

#[test]
fn history_tests_says_what_was_searched_when_nothing_matches() {
    let dir = scratch();
    let db = dir.path().join("h.db");
    let history = |filter: &str| {
        let output = flakehunt_in(&db, dir.path(), &["history", "--tests", filter]);
        assert_eq!(output.status.code(), Some(0), "{output:?}");
        format!(
            "$ flakehunt history --tests '{}'\n{}",
            filter.escape_debug(),
            String::from_utf8_lossy(&output.stdout)
        )
    };
    let plain = flakehunt_in(
        &db,
        dir.path(),
        &["run", "-n", "1", "--progress", "lines", "--", "true"],
    );
    assert_eq!(plain.status.code(), Some(0), "{plain:?}");
    let before = history("alpha");
    let fixture = fixture().to_string_lossy().into_owned();
    let suite = flakehunt_in(
        &db,
        dir.path(),
        &[
            "run",
            "-n",
            "2",
            "--suite",
            "cargo",
            "--progress",
            "lines",
            "--",
            &fixture,
            "out:running 1 test",
            "out:test tests::alpha ... ok",
            "out:test result: ok. 1 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out",
        ],
    );
    assert_eq!(suite.status.code(), Some(0), "{suite:?}");
    let shown = [
        before,
        history("zzz"),
        history("\x1b[31mred"),
        history("alpha"),
    ]
    .concat();
    insta::assert_snapshot!(shown);
}
