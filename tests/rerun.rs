//! What was run stays visible and repeatable: `show` prints a campaign's full spec, `history`
//! its kind and shake, and `rerun` starts it again as it was, linked to the original.

mod common;

use std::path::Path;
use std::process::Output;

use common::*;

fn in_db(db: &Path, args: &[&str]) -> Output {
    flakehunt()
        .arg("--db")
        .arg(db)
        .args(args)
        .output()
        .expect("run flakehunt")
}

fn json(output: &Output) -> serde_json::Value {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|error| {
        panic!(
            "not JSON ({error}): {}\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    })
}

/// A shaken, scripted campaign with env, stop rules and a timeout: fails on runs 2 and 4.
fn shaken_campaign(db: &Path, out: &Path) -> String {
    let output = flakehunt()
        .arg("--db")
        .arg(db)
        .args(["run", "--quiet", "--json", "-j", "2", "-n", "6"])
        .args([
            "--max-failures",
            "5",
            "--timeout",
            "20s",
            "--shake",
            "jitter=1ms",
        ])
        .args([
            "--env",
            "GREETING=hello",
            "--step",
            "wait-output ready within 10s",
        ])
        .args(["--fail-if", "^never matches$", "--seed", "11", "--out"])
        .arg(out)
        .arg("--")
        .arg(fixture())
        .args(["out:ready", "env:GREETING", "fail-on:2,4"])
        .output()
        .expect("run");
    assert_eq!(
        output.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    json(&output)["campaign"].as_str().expect("id").to_string()
}

#[test]
fn show_prints_the_spec_and_history_the_kind_and_shake() {
    let dir = scratch();
    let db = dir.path().join("h.db");
    let id = shaken_campaign(&db, &dir.path().join("out"));

    let show = in_db(&db, &["show", &id]);
    let text = String::from_utf8_lossy(&show.stdout);
    for line in [
        "  kind       run\n",
        "  env        GREETING=hello\n",
        "  shake      jitter=1ms\n",
        "  script     wait-output \"ready\" within 10.00s\n",
        "  timeout    20.00s, then SIGQUIT, SIGKILL 5.00s later\n",
        "  jobs       2\n",
        "  stop       6 runs, 5 failures, whichever comes first\n",
        "  fail-if    ^never matches$\n",
        "  seed       11\n",
        &format!("  again      flakehunt rerun {id}\n"),
    ] {
        assert!(text.contains(line), "missing {line:?} in:\n{text}");
    }
    let cwd = std::env::current_dir().expect("cwd");
    assert!(
        text.contains(&format!("  cwd        {}\n", cwd.display())),
        "{text}"
    );

    let spec = &json(&in_db(&db, &["show", &id, "--json"]))["spec"];
    assert_eq!(spec["kind"], "run");
    assert_eq!(spec["shake"], "jitter=1ms");
    assert_eq!(spec["env"][0], "GREETING=hello");
    assert_eq!(spec["runs"], 6);
    assert_eq!(spec["max_failures"], 5);
    assert_eq!(spec["timeout_s"], 20.0);

    let rows = json(&in_db(&db, &["history", "--json"]));
    assert_eq!(rows[0]["kind"], "run");
    assert_eq!(rows[0]["shake"], "jitter=1ms");
    let table = String::from_utf8_lossy(&in_db(&db, &["history"]).stdout).to_string();
    let header = table.lines().next().expect("header");
    assert!(
        header.contains(" kind ") && header.contains(" shake "),
        "{table}"
    );
    let row = table.lines().nth(1).expect("row");
    assert!(
        row.contains(" run ") && row.contains(" jitter=1ms "),
        "{table}"
    );
}

#[test]
fn rerun_repeats_the_campaign_linked_to_it_and_given_options_win() {
    let dir = scratch();
    let db = dir.path().join("h.db");
    let id = shaken_campaign(&db, &dir.path().join("out"));

    // The same spec: the same six runs fail on 2 and 4, with the same env and shake.
    let again = in_db(&db, &["rerun", &id, "--quiet", "--json"]);
    assert_eq!(
        again.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    let summary = json(&again);
    assert_eq!(
        (summary["runs"].as_u64(), summary["failures"].as_u64()),
        (Some(6), Some(2))
    );
    let new_id = summary["campaign"].as_str().expect("id").to_string();
    assert_ne!(new_id, id);
    let spec = &json(&in_db(&db, &["show", &new_id, "--json"]))["spec"];
    assert_eq!(spec["rerun_of"], id.as_str());
    assert_eq!(spec["shake"], "jitter=1ms");
    assert_eq!(spec["env"][0], "GREETING=hello");
    let log = in_db(&db, &["log", &new_id, "2"]);
    assert!(String::from_utf8_lossy(&log.stdout).contains("GREETING=hello"));
    let rows = json(&in_db(&db, &["history", "--json"]));
    assert_eq!(rows[0]["rerun_of"], id.as_str());
    let text = String::from_utf8_lossy(&in_db(&db, &["show", &new_id]).stdout).to_string();
    assert!(
        text.contains(&format!("  kind       run (rerun of {id})\n")),
        "{text}"
    );

    // A stop rule given replaces the stored ones; an env key replaces its stored value.
    let fewer = in_db(
        &db,
        &[
            "rerun",
            &id,
            "-n",
            "2",
            "--env",
            "GREETING=bye",
            "--json",
            "-q",
        ],
    );
    let summary = json(&fewer);
    assert_eq!(
        (summary["runs"].as_u64(), summary["failures"].as_u64()),
        (Some(2), Some(0))
    );
    let spec = &json(&in_db(&db, &["show", "last", "--json"]))["spec"];
    assert_eq!(spec["env"], serde_json::json!(["GREETING=bye"]));
    assert_eq!(spec["max_failures"], serde_json::Value::Null);
}

#[test]
fn rerun_says_what_is_wrong() {
    let dir = scratch();
    let db = dir.path().join("h.db");
    let out = dir.path().join("out");
    let expect_error = |args: &[&str], wanted: &str| {
        let output = in_db(&db, args);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(wanted), "{args:?}: {stderr}");
    };
    // A program that is gone.
    let program = dir.path().join("gone-soon");
    std::fs::copy(fixture(), &program).expect("copy fixture");
    let output = flakehunt()
        .arg("--db")
        .arg(&db)
        .args(["run", "-q", "-n", "1", "--out"])
        .arg(&out)
        .arg("--")
        .arg(&program)
        .output()
        .expect("run");
    assert_eq!(output.status.code(), Some(0));
    std::fs::remove_file(&program).expect("remove");
    expect_error(&["rerun", "last"], "command not found");
    expect_error(
        &["rerun", "no-such-campaign"],
        "no campaign matches 'no-such-campaign'",
    );
    expect_error(
        &["rerun", "last", "--jbos", "2"],
        "unexpected argument '--jbos'",
    );
    expect_error(
        &["rerun", "last", "--", "true"],
        "the command cannot change",
    );
    expect_error(
        &["rerun", "last", "--cargo-test", "x"],
        "--cargo-test cannot change",
    );
}
