//! `hunt` and `window` stopped by SIGINT or SIGTERM: they print what finished, exit 130, leave
//! no process behind (runs, load generators, guard) and keep every failure in the history,
//! with the campaign recorded as interrupted.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::path::Path;
use std::process::Stdio;

use common::{fixture, flakehunt, scratch, survivors, wait_for_pids};

/// Every process whose chain of parents leads to `root`.
fn descendants(root: i32) -> BTreeSet<i32> {
    let parents: Vec<(i32, i32)> = std::fs::read_dir("/proc")
        .expect("read /proc")
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter_map(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            // The parent's pid is the second field after the parenthesised command name.
            let (_, rest) = stat.rsplit_once(')')?;
            let ppid = rest.split_whitespace().nth(1)?.parse().ok()?;
            Some((pid, ppid))
        })
        .collect();
    let mut found = BTreeSet::from([root]);
    loop {
        let before = found.len();
        for (pid, ppid) in &parents {
            if found.contains(ppid) {
                found.insert(*pid);
            }
        }
        if found.len() == before {
            found.remove(&root);
            return found;
        }
    }
}

/// The command line of `pid`, its arguments joined by spaces.
fn cmdline(pid: i32) -> String {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|bytes| String::from_utf8_lossy(&bytes).replace('\0', " "))
        .unwrap_or_default()
}

/// What an interrupted command left: its exit status, its output, and the processes it had
/// started just before the signal, with their command lines.
struct Interrupted {
    code: Option<i32>,
    stdout: String,
    stderr: String,
    started: BTreeMap<i32, String>,
}

/// Start `flakehunt ARGS`, wait until `pids` lists `count` started runs, send `signal`, and
/// collect what it did. Every process it had started must be gone once it exits.
fn interrupt(args: &[&str], pids: &Path, count: usize, signal: i32) -> Interrupted {
    let mut child = flakehunt()
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn flakehunt");
    let runs = wait_for_pids(pids, count);
    let mut started: BTreeMap<i32, String> = descendants(child.id() as i32)
        .into_iter()
        .map(|pid| (pid, cmdline(pid)))
        .collect();
    for pid in runs {
        started.entry(pid).or_insert_with(|| cmdline(pid));
    }
    // SAFETY: kill(2) on the flakehunt process this test started.
    unsafe {
        libc::kill(child.id() as i32, signal);
    }
    let mut stderr_pipe = child.stderr.take().expect("stderr");
    let reader = std::thread::spawn(move || {
        let mut err = String::new();
        let _ = stderr_pipe.read_to_string(&mut err);
        err
    });
    let mut stdout = String::new();
    child
        .stdout
        .take()
        .expect("stdout")
        .read_to_string(&mut stdout)
        .expect("read stdout");
    let status = child.wait().expect("wait");
    let stderr = reader.join().expect("stderr reader");
    let started_list: Vec<i32> = started.keys().copied().collect();
    let left: Vec<String> = survivors(&started_list)
        .into_iter()
        .map(|pid| format!("{pid} ({})", cmdline(pid)))
        .collect();
    assert!(left.is_empty(), "processes outlived it: {left:?}\n{stderr}");
    Interrupted {
        code: status.code(),
        stdout,
        stderr,
        started,
    }
}

/// The stored campaign: its stop reason, whether it ended, and its runs' verdicts by index.
fn stored(db: &Path) -> (String, bool, Vec<(i64, String)>) {
    let conn = rusqlite::Connection::open(db).expect("open the history");
    let (id, reason, ended): (String, Option<String>, Option<String>) = conn
        .query_row(
            "SELECT id, stop_reason, ended_at FROM campaigns",
            [],
            |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
        )
        .expect("exactly one campaign");
    let mut statement = conn
        .prepare("SELECT idx, verdict FROM runs WHERE campaign = ?1 ORDER BY idx")
        .expect("prepare");
    let runs = statement
        .query_map([&id], |row| Ok((row.get(0)?, row.get(1)?)))
        .expect("query")
        .collect::<rusqlite::Result<Vec<_>>>()
        .expect("rows");
    (reason.unwrap_or_default(), ended.is_some(), runs)
}

/// Run 0 fails at once; every later run hangs until cancelled (a window's SIGINT is ignored). With two jobs, run 2 starts only
/// once run 0 has finished, so three started runs mean run 0's failure is in.
fn racy_actions(pids: &Path) -> Vec<String> {
    vec![
        format!("pidfile:{}", pids.display()),
        "ignore:INT".into(),
        "fail-on:0".into(),
        "hang".into(),
    ]
}

#[test]
fn an_interrupted_hunt_exits_130_keeps_its_failures_and_stops_its_load() {
    let dir = scratch();
    let pids = dir.path().join("pids");
    let db = dir.path().join("h.db");
    let out = dir.path().join("out");
    let mut args: Vec<String> = [
        "hunt",
        "--db",
        db.to_str().expect("utf-8"),
        "--budget",
        "10m",
        "--arms",
        "cpu-load=1",
        "-j",
        "2",
        "--out",
        out.to_str().expect("utf-8"),
        "--",
        fixture().to_str().expect("utf-8"),
    ]
    .map(String::from)
    .to_vec();
    args.extend(racy_actions(&pids));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let done = interrupt(&args, &pids, 3, libc::SIGINT);
    assert_eq!(done.code, Some(130), "{}", done.stderr);
    // Its load generator was among what it started, so it went with it.
    assert!(
        done.started
            .values()
            .any(|line| line.contains(" __load cpu ")),
        "no load generator was running: {:?}",
        done.started
    );
    assert!(
        done.stdout.contains("cpu-load=1") && done.stdout.contains("interrupted"),
        "the outcome is printed: {}",
        done.stdout
    );
    let (reason, ended, runs) = stored(&db);
    assert_eq!(reason, "interrupted");
    assert!(ended, "the campaign is closed");
    assert_eq!(runs.first(), Some(&(0, "fail".to_string())), "{runs:?}");
    let conn = rusqlite::Connection::open(&db).expect("open");
    let best: String = conn
        .query_row("SELECT best FROM hunts", [], |row| row.get(0))
        .expect("the hunt is recorded");
    assert_eq!(best, "cpu-load=1");
    let saved = common::files_with_extension(&out, "log");
    assert_eq!(saved.len(), 1, "run 0's output is saved: {saved:?}");
}

#[test]
fn a_terminated_window_exits_130_and_records_its_runs() {
    let dir = scratch();
    let pids = dir.path().join("pids");
    let db = dir.path().join("h.db");
    let out = dir.path().join("out");
    let mut args: Vec<String> = [
        "window",
        "--db",
        db.to_str().expect("utf-8"),
        "--sweep",
        "sleep 30s..60s",
        "--points",
        "2",
        "--runs-per-point",
        "4",
        "-j",
        "2",
        "--out",
        out.to_str().expect("utf-8"),
        "--",
        fixture().to_str().expect("utf-8"),
    ]
    .map(String::from)
    .to_vec();
    args.extend(racy_actions(&pids));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let done = interrupt(&args, &pids, 3, libc::SIGTERM);
    assert_eq!(done.code, Some(130), "{}", done.stderr);
    assert!(!done.stdout.is_empty(), "the map is printed");
    let (reason, ended, runs) = stored(&db);
    assert_eq!(reason, "interrupted");
    assert!(ended, "the campaign is closed");
    assert_eq!(runs.first(), Some(&(0, "fail".to_string())), "{runs:?}");
    let conn = rusqlite::Connection::open(&db).expect("open");
    let windows: i64 = conn
        .query_row("SELECT count(*) FROM windows", [], |row| row.get(0))
        .expect("count");
    assert_eq!(windows, 1, "the partial map is recorded");
}
