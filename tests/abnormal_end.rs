//! However a campaign ends (kill -9, a full disk, a closed terminal), what flakehunt stored and
//! printed must never tell a biased rate, and nothing may be left behind.

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use common::*;

/// Generous bound on anything the tests wait for; only a broken flakehunt reaches it.
const PATIENCE: Duration = Duration::from_secs(120);

/// `fail-on:` list of every `step`-th run index below `below`.
fn every(step: u64, below: u64) -> String {
    let list: Vec<String> = (0..below)
        .step_by(step as usize)
        .map(|i| i.to_string())
        .collect();
    format!("fail-on:{}", list.join(","))
}

/// The runs in an event log, in the order they finished: (index, failed). A line cut off by a
/// kill is ignored.
fn logged_runs(events: &Path) -> Vec<(u64, bool)> {
    let Ok(file) = std::fs::File::open(events) else {
        return Vec::new();
    };
    BufReader::new(file)
        .lines()
        .map_while(Result::ok)
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(&line).ok())
        .filter(|event| event["type"] == "run")
        .map(|event| {
            (
                event["run"].as_u64().expect("run index"),
                event["verdict"] == "fail",
            )
        })
        .collect()
}

/// The runs stored for the only campaign in `db`: (index, failed).
fn stored_runs(db: &Path) -> Vec<(u64, bool)> {
    let conn =
        rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .expect("open history");
    let mut query = conn
        .prepare("SELECT idx, verdict FROM runs ORDER BY idx")
        .expect("query");
    query
        .query_map([], |row| {
            Ok((
                row.get::<_, i64>(0)? as u64,
                row.get::<_, String>(1)? == "fail",
            ))
        })
        .expect("rows")
        .map(|row| row.expect("row"))
        .collect()
}

fn campaign_row(db: &Path) -> (Option<String>, i64, i64) {
    let conn =
        rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .expect("open history");
    conn.query_row(
        "SELECT stop_reason, runs, failures FROM campaigns",
        [],
        |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
    )
    .expect("one campaign")
}

fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < PATIENCE, "gave up waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn start_campaign(dir: &Path, extra: &[&str], actions: &[&str]) -> Child {
    flakehunt()
        .arg("--db")
        .arg(dir.join("history.db"))
        .args(["run", "--quiet", "--events"])
        .arg(dir.join("events.ndjson"))
        .arg("--out")
        .arg(dir.join("out"))
        .args(extra)
        .arg("--")
        .arg(fixture())
        .args(actions)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start flakehunt")
}

fn kill_hard(mut child: Child) {
    // SAFETY: signalling our own child, which has not been reaped yet.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGKILL);
    }
    let _ = child.wait();
}

#[test]
fn after_kill_9_the_stored_runs_are_a_prefix_of_the_finished_ones() {
    let dir = scratch();
    let child = start_campaign(
        dir.path(),
        &["-j", "2", "-n", "20000"],
        &[&every(5, 20_000)],
    );
    let events = dir.path().join("events.ndjson");
    wait_until("2,000 finished runs", || logged_runs(&events).len() >= 2000);
    kill_hard(child);

    let logged = logged_runs(&events);
    let stored = stored_runs(&dir.path().join("history.db"));
    let stored_set: std::collections::HashSet<u64> = stored.iter().map(|(i, _)| *i).collect();
    // Every failure is committed with all the passes that finished before it, so the stored
    // runs hold every run logged before the last stored failure: no pass is missing there.
    let last_failure = logged
        .iter()
        .rposition(|(index, failed)| *failed && stored_set.contains(index))
        .expect("a stored failure");
    let missing: Vec<u64> = logged[..last_failure]
        .iter()
        .map(|(index, _)| *index)
        .filter(|index| !stored_set.contains(index))
        .collect();
    assert!(
        missing.is_empty(),
        "runs finished before a stored failure but not stored: {missing:?}"
    );
    // With every fifth run failing, an unbiased store holds a fifth failures.
    let failures = stored.iter().filter(|(_, failed)| *failed).count() as f64;
    let rate = failures / stored.len() as f64;
    assert!(stored.len() >= 1000, "{} runs stored", stored.len());
    assert!(
        (rate - 0.2).abs() < 0.02,
        "stored rate {rate} for a true 0.2"
    );
}

#[test]
fn a_killed_campaign_has_every_finished_run_stored_and_leaves_no_spill_files() {
    let dir = scratch();
    let pidfile = dir.path().join("pids");
    let pidfile_action = format!("pidfile:{}", pidfile.display());
    // Runs 0..300 finish (every 7th fails); run 300 spills 2 MiB of output and hangs.
    let child = start_campaign(
        dir.path(),
        &["-j", "1", "-n", "1000"],
        &[
            &every(7, 300),
            "only-on:300",
            &pidfile_action,
            "flood:2097152",
            "hang",
        ],
    );
    let events = dir.path().join("events.ndjson");
    let db = dir.path().join("history.db");
    wait_until("300 finished runs", || logged_runs(&events).len() == 300);
    let hanging = wait_for_pids(&pidfile, 1);
    // While the last run hangs, the pending passes reach the store within the flush window.
    wait_until("300 stored runs", || stored_runs(&db).len() == 300);
    let spill = dir.path().join("out").join(".spill");
    wait_until("the hanging run's output to spill", || {
        std::fs::read_dir(&spill).is_ok_and(|mut entries| entries.next().is_some())
    });
    kill_hard(child);

    let stored = stored_runs(&db);
    assert_eq!(stored.len(), 300);
    assert_eq!(stored.iter().filter(|(_, failed)| *failed).count(), 43);
    wait_until("the guard to kill the hanging run", || {
        survivors(&hanging).is_empty()
    });
    wait_until("the guard to remove the spill directory", || {
        !spill.exists()
    });

    // The history shows the campaign as unfinished, with the counts it has.
    let output = flakehunt()
        .arg("--db")
        .arg(&db)
        .args(["show", "last"])
        .output()
        .expect("show");
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{text}");
    assert!(text.contains("300"), "{text}");
}

/// A tmpfs of 2 MiB mounted for the life of the value (root only).
struct SmallDisk {
    path: PathBuf,
}

impl SmallDisk {
    fn mount(path: PathBuf) -> Option<SmallDisk> {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            eprintln!("skipped: mounting a small tmpfs needs root");
            return None;
        }
        std::fs::create_dir_all(&path).expect("mount point");
        let status = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=2m", "tmpfs"])
            .arg(&path)
            .status();
        if !status.is_ok_and(|s| s.success()) {
            eprintln!("skipped: could not mount a tmpfs");
            return None;
        }
        Some(SmallDisk { path })
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.path)
            .status();
    }
}

/// Run a campaign whose `target` (out, events or db) lives on a full disk; returns the exit
/// code, the JSON summary and stderr.
fn campaign_on_full_disk(dir: &Path, target: &str) -> Option<(i32, serde_json::Value, String)> {
    let disk = SmallDisk::mount(dir.join("disk"))?;
    let on_disk = |name: &str| {
        if name == target {
            disk.path.join(name)
        } else {
            dir.join(name)
        }
    };
    // Every other run fails; under --out each writes 256 KiB that is archived when it fails.
    let flood = if target == "out" {
        "flood:262144"
    } else {
        "out:ok"
    };
    let output = flakehunt()
        .arg("--db")
        .arg(on_disk("history.db"))
        .args([
            "run", "--quiet", "--json", "-j", "2", "-n", "20000", "--events",
        ])
        .arg(on_disk("events.ndjson"))
        .arg("--out")
        .arg(on_disk("out"))
        .arg("--")
        .arg(fixture())
        .args([flood, &every(2, 20_000)])
        .output()
        .expect("run flakehunt");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    let summary: serde_json::Value = serde_json::from_str(stdout.trim())
        .unwrap_or_else(|error| panic!("no JSON summary ({error}): {stdout}\n{stderr}"));
    drop(disk);
    Some((output.status.code().unwrap_or(-1), summary, stderr))
}

fn assert_stopped_by_io_error(code: i32, summary: &serde_json::Value, stderr: &str, why: &str) {
    assert_eq!(code, 3, "runtime errors exit 3\n{stderr}");
    let reason = summary["stop_reason"].as_str().expect("stop reason");
    assert!(reason.starts_with("stopped: I/O error"), "{reason}");
    assert!(!reason.contains("stop condition met"), "{reason}");
    assert!(stderr.contains(why), "{stderr}");
    let runs = summary["runs"].as_u64().expect("runs");
    let failures = summary["failures"].as_u64().expect("failures");
    assert!(runs > 0);
    // Runs in flight were cancelled, not counted: the rate is the true one, one half.
    let rate = failures as f64 / runs as f64;
    assert!(
        (rate - 0.5).abs() <= 1.0 / runs as f64 + 0.01,
        "{failures}/{runs}"
    );
}

#[test]
fn a_full_disk_under_out_stops_cleanly_with_an_honest_summary() {
    let dir = scratch();
    let Some((code, summary, stderr)) = campaign_on_full_disk(dir.path(), "out") else {
        return;
    };
    assert_stopped_by_io_error(code, &summary, &stderr, "No space left on device");
    let db = dir.path().join("history.db");
    let (reason, runs, failures) = campaign_row(&db);
    assert!(reason
        .expect("recorded end")
        .starts_with("stopped: I/O error"));
    assert_eq!(runs as u64, summary["runs"].as_u64().expect("runs"));
    assert_eq!(
        failures as u64,
        summary["failures"].as_u64().expect("failures")
    );
}

#[test]
fn a_full_disk_under_the_event_log_stops_cleanly_with_an_honest_summary() {
    let dir = scratch();
    let Some((code, summary, stderr)) = campaign_on_full_disk(dir.path(), "events.ndjson") else {
        return;
    };
    assert_stopped_by_io_error(code, &summary, &stderr, "No space left on device");
    let (reason, runs, _) = campaign_row(&dir.path().join("history.db"));
    assert!(reason
        .expect("recorded end")
        .starts_with("stopped: I/O error"));
    assert_eq!(runs as u64, summary["runs"].as_u64().expect("runs"));
}

#[test]
fn a_full_disk_under_the_history_stops_cleanly_and_stores_an_unbiased_prefix() {
    let dir = scratch();
    let Some((code, summary, stderr)) = campaign_on_full_disk(dir.path(), "history.db") else {
        return;
    };
    assert_stopped_by_io_error(code, &summary, &stderr, "full");
}

#[test]
fn a_write_error_on_stdout_is_an_error_exit() {
    let Ok(full) = std::fs::OpenOptions::new().write(true).open("/dev/full") else {
        eprintln!("skipped: no /dev/full");
        return;
    };
    let dir = scratch();
    let output = flakehunt()
        .args(["run", "--quiet", "-n", "3", "--out"])
        .arg(dir.path().join("out"))
        .arg("--")
        .arg(fixture())
        .arg("out:hello")
        .stdout(full)
        .output()
        .expect("run flakehunt");
    assert_eq!(output.status.code(), Some(3), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("standard output"), "{stderr}");
}
