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
