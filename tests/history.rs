//! Integration tests of the history store: recording campaigns, reading them back, crash
//! safety, refusing databases it cannot understand, and concurrent writers.

mod common;

use std::process::Stdio;

use common::*;

fn db_args(db: &std::path::Path) -> Vec<String> {
    vec!["--db".into(), db.display().to_string()]
}

#[test]
fn campaigns_are_recorded_and_read_back() {
    let dir = scratch();
    let db = dir.path().join("h.db");
    let out = dir.path().join("out");
    let output = flakehunt()
        .args(db_args(&db))
        .args(["run", "--quiet", "-n", "8", "-j", "2", "--out"])
        .arg(&out)
        .arg("--")
        .arg(fixture())
        .args(["ansi", "err:panic: boom at 0xdeadbeef", "fail-on:3,5"])
        .output()
        .expect("run");
    assert_eq!(output.status.code(), Some(1));

    let history = flakehunt()
        .args(db_args(&db))
        .args(["history", "--json"])
        .output()
        .expect("history");
    assert_eq!(history.status.code(), Some(0));
    let rows: serde_json::Value = serde_json::from_slice(&history.stdout).expect("json");
    assert_eq!(rows.as_array().expect("array").len(), 1);
    assert_eq!(rows[0]["runs"], 8);
    assert_eq!(rows[0]["failures"], 2);
    let id = rows[0]["id"].as_str().expect("id").to_string();

    let text = flakehunt()
        .args(db_args(&db))
        .arg("history")
        .output()
        .expect("history");
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains(&id), "{text}");

    let show = flakehunt()
        .args(db_args(&db))
        .args(["show", "last", "--json"])
        .output()
        .expect("show");
    let summary: serde_json::Value = serde_json::from_slice(&show.stdout).expect("json");
    assert_eq!(summary["campaign"], id.as_str());
    assert_eq!(summary["failures"], 2);
    assert_eq!(summary["signatures"][0]["count"], 2);

    // A unique prefix works too.
    let prefix = &id[..id.len() - 2];
    let show = flakehunt()
        .args(db_args(&db))
        .args(["show", prefix])
        .output()
        .expect("show");
    assert_eq!(show.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&show.stdout).contains("failures 2"));

    // The log is shown escaped, or raw on request.
    let log = flakehunt()
        .args(db_args(&db))
        .args(["log", "last", "3"])
        .output()
        .expect("log");
    assert_eq!(log.status.code(), Some(0));
    let shown = String::from_utf8(log.stdout).expect("utf8");
    assert!(shown.contains("panic: boom at 0xdeadbeef"));
    assert!(
        !shown.contains('\u{1b}'),
        "escape sequences must be escaped"
    );
    assert!(shown.contains("\\e["));
    let raw = flakehunt()
        .args(db_args(&db))
        .args(["log", &id, "3", "--raw"])
        .output()
        .expect("log");
    let saved = std::fs::read(out.join("run-000003.log")).expect("saved");
    assert_eq!(raw.stdout, saved);

    // A passing run has no log to show.
    let log = flakehunt()
        .args(db_args(&db))
        .args(["log", "last", "0"])
        .output()
        .expect("log");
    assert_eq!(log.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&log.stderr).contains("passed"));
}

#[test]
fn kept_passing_runs_have_their_logs_shown() {
    let dir = scratch();
    let db = dir.path().join("h.db");
    let out = dir.path().join("out");
    let output = flakehunt()
        .args(db_args(&db))
        .args([
            "run",
            "--quiet",
            "-n",
            "3",
            "-j",
            "1",
            "--keep-passing",
            "--out",
        ])
        .arg(&out)
        .arg("--")
        .arg(fixture())
        .args(["out:kept pass output", "fail-on:2"])
        .output()
        .expect("run");
    assert_eq!(output.status.code(), Some(1));
    for run in ["0", "1"] {
        let log = flakehunt()
            .args(db_args(&db))
            .args(["log", "last", run])
            .output()
            .expect("log");
        assert_eq!(
            log.status.code(),
            Some(0),
            "run {run}: {}",
            String::from_utf8_lossy(&log.stderr)
        );
        assert!(String::from_utf8_lossy(&log.stdout).contains("kept pass output"));
        let raw = flakehunt()
            .args(db_args(&db))
            .args(["log", "last", run, "--raw"])
            .output()
            .expect("log");
        let saved = std::fs::read(out.join(format!("run-00000{run}.log"))).expect("saved");
        assert_eq!(raw.stdout, saved);
    }
    // The failure is still shown as before.
    let log = flakehunt()
        .args(db_args(&db))
        .args(["log", "last", "2"])
        .output()
        .expect("log");
    assert_eq!(log.status.code(), Some(0));
}

#[test]
fn unknown_and_ambiguous_ids_are_explained() {
    let dir = scratch();
    let db = dir.path().join("h.db");
    for _ in 0..2 {
        let output = flakehunt()
            .args(db_args(&db))
            .args(["run", "--quiet", "-n", "1", "--out"])
            .arg(dir.path().join("out"))
            .arg("--")
            .arg(fixture())
            .output()
            .expect("run");
        assert_eq!(output.status.code(), Some(0));
    }
    let show = flakehunt()
        .args(db_args(&db))
        .args(["show", "nope"])
        .output()
        .expect("show");
    assert_eq!(show.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&show.stderr).contains("no campaign matches 'nope'"));
    // Both ids start with the year.
    let show = flakehunt()
        .args(db_args(&db))
        .args(["show", "2"])
        .output()
        .expect("show");
    assert_eq!(show.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&show.stderr).contains("matches several campaigns"));
}

#[test]
fn sigkill_mid_campaign_keeps_every_finished_failure() {
    let dir = scratch();
    let db = dir.path().join("h.db");
    let pids = dir.path().join("pids");
    let pidfile = format!("pidfile:{}", pids.display());
    let mut child = flakehunt()
        .args(db_args(&db))
        .args(["run", "--quiet", "-j", "1", "-n", "10", "--out"])
        .arg(dir.path().join("out"))
        .arg("--")
        .arg(fixture())
        .args(["fail-on:0,1,2", &pidfile, "only-on:3", "hang"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    // Run 3 hangs after runs 0-2 failed.
    let hung = wait_for_pids(&pids, 1);
    child.kill().expect("SIGKILL flakehunt");
    child.wait().expect("wait");
    assert!(survivors(&hung).is_empty());

    let conn = rusqlite::Connection::open(&db).expect("open db");
    let failed: i64 = conn
        .query_row(
            "SELECT count(*) FROM runs WHERE verdict = 'fail'",
            [],
            |row| row.get(0),
        )
        .expect("count");
    assert_eq!(
        failed, 3,
        "every failure that finished must be in the store"
    );
    drop(conn);
    let show = flakehunt()
        .args(db_args(&db))
        .args(["show", "last", "--json"])
        .output()
        .expect("show");
    assert_eq!(show.status.code(), Some(0));
    let summary: serde_json::Value = serde_json::from_slice(&show.stdout).expect("json");
    assert_eq!(summary["failures"], 3);
    assert_eq!(summary["interrupted"], true);
    let search = flakehunt()
        .args(db_args(&db))
        .args(["search", "failing on run", "--json"])
        .output()
        .expect("search");
    let found: serde_json::Value = serde_json::from_slice(&search.stdout).expect("json");
    assert_eq!(found["groups"][0]["count"], 3);
}

#[test]
fn unreadable_databases_are_refused_and_left_untouched() {
    let dir = scratch();
    let corrupt = dir.path().join("corrupt.db");
    std::fs::write(&corrupt, b"this is not a database, just some bytes to keep").expect("write");
    let before = std::fs::read(&corrupt).expect("read");
    for args in [vec!["history"], vec!["run", "-n", "1", "--", "true"]] {
        let output = flakehunt()
            .args(db_args(&corrupt))
            .args(&args)
            .output()
            .expect("run");
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains("not a readable flakehunt history database"),
            "{stderr}"
        );
    }
    assert_eq!(
        std::fs::read(&corrupt).expect("read"),
        before,
        "a corrupt file must not be modified"
    );

    let newer = dir.path().join("newer.db");
    {
        let conn = rusqlite::Connection::open(&newer).expect("create");
        conn.execute_batch(&format!(
            "CREATE TABLE future (x); PRAGMA user_version = 99; PRAGMA application_id = {};",
            flakehunt::store::schema::APPLICATION_ID
        ))
        .expect("setup");
    }
    let before = std::fs::read(&newer).expect("read");
    let output = flakehunt()
        .args(db_args(&newer))
        .args(["run", "-n", "1", "--out"])
        .arg(dir.path().join("out"))
        .args(["--", "true"])
        .output()
        .expect("run");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("schema version 99"), "{stderr}");
    assert!(
        !dir.path().join("out").exists(),
        "nothing may run against a database we refuse"
    );
    assert_eq!(std::fs::read(&newer).expect("read"), before);
}

#[test]
fn concurrent_campaigns_share_one_store() {
    let dir = scratch();
    let db = dir.path().join("h.db");
    let children: Vec<_> = (0..3)
        .map(|i| {
            flakehunt()
                .args(db_args(&db))
                .args(["run", "--quiet", "-j", "2", "-n", "300", "--out"])
                .arg(dir.path().join(format!("out{i}")))
                .arg("--")
                .arg(fixture())
                .arg("fail-on:7,150")
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .expect("spawn")
        })
        .collect();
    for child in children {
        let output = child.wait_with_output().expect("wait");
        assert_eq!(
            output.status.code(),
            Some(1),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let conn = rusqlite::Connection::open(&db).expect("open");
    let (campaigns, runs, failures): (i64, i64, i64) = conn
        .query_row(
            "SELECT count(*), sum(runs), sum(failures) FROM campaigns",
            [],
            |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
        )
        .expect("query");
    assert_eq!((campaigns, runs, failures), (3, 900, 6));
    let rows: i64 = conn
        .query_row("SELECT count(*) FROM runs", [], |row| row.get(0))
        .expect("count");
    assert_eq!(rows, 900);
}
