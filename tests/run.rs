//! Integration tests of `flakehunt run` driving the deterministic fixture program.

mod common;

use std::io::Read;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::*;

#[test]
fn all_runs_pass() {
    let dir = scratch();
    let (code, summary, _) = run_json(dir.path(), &["-n", "20", "-j", "4"], &["out:hello"]);
    assert_eq!(code, 0);
    assert_eq!(summary["runs"], 20);
    assert_eq!(summary["passes"], 20);
    assert_eq!(summary["failures"], 0);
    assert_eq!(summary["rate"]["estimate"], 0.0);
    assert!(summary["rate_upper_bound"].as_f64().expect("bound") > 0.1);
    assert!(summary["signatures"].as_array().expect("array").is_empty());
    // Passing output is discarded.
    assert!(files_with_extension(dir.path(), "log").is_empty());
}

#[test]
fn failures_on_chosen_runs_are_saved_and_clustered() {
    let dir = scratch();
    let started = Instant::now();
    let (code, summary, _) = run_json(
        dir.path(),
        &["-n", "12", "-j", "3"],
        &["out:starting", "sleep:50", "fail-on:3,7", "out:fine"],
    );
    let campaign_s = started.elapsed().as_secs_f64();
    assert_eq!(code, 1);
    assert_eq!(summary["runs"], 12);
    assert_eq!(summary["failures"], 2);
    assert_eq!(summary["failures_by_kind"]["exit"], 2);
    let signatures = summary["signatures"].as_array().expect("signatures");
    assert_eq!(
        signatures.len(),
        1,
        "runs 3 and 7 must share one signature: {signatures:?}"
    );
    assert_eq!(signatures[0]["count"], 2);
    assert_eq!(signatures[0]["first_run"], 3);
    assert_eq!(signatures[0]["kind"], "exit");
    let text = signatures[0]["text"].as_str().expect("text");
    assert!(text.starts_with("exit 1"), "{text}");
    let example = signatures[0]["example"].as_str().expect("example path");
    assert!(example.ends_with("run-000003.log"), "{example}");

    let logs = files_with_extension(dir.path(), "log");
    assert_eq!(logs.len(), 2);
    let log = std::fs::read_to_string(&logs[0]).expect("read log");
    assert!(log.contains("starting\n"));
    assert!(log.contains("FIXTURE: failing on run 3"));
    let meta: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("run-000003.json")).expect("meta"))
            .expect("meta json");
    assert_eq!(meta["run"], 3);
    assert_eq!(meta["exit_code"], 1);
    assert_eq!(meta["timed_out"], false);
    assert_eq!(meta["signature"]["id"], signatures[0]["id"]);
    assert!(meta["started_at"].as_str().expect("time").contains('T'));
    // A run lasts at least the fixture's sleep and cannot outlast the whole campaign; a wrong
    // unit or clock would miss this range.
    let duration = meta["duration_s"].as_f64().expect("duration");
    assert!(
        (0.05..=campaign_s).contains(&duration),
        "run lasted {duration} s; the campaign {campaign_s} s"
    );
    // Rate with an exact interval around 2/12.
    let rate = &summary["rate"];
    let (low, estimate, high) = (
        rate["low"].as_f64().expect("low"),
        rate["estimate"].as_f64().expect("estimate"),
        rate["high"].as_f64().expect("high"),
    );
    assert!((estimate - 2.0 / 12.0).abs() < 1e-12);
    assert!(low > 0.0 && low < estimate && estimate < high && high < 1.0);
}

#[test]
fn stream_of_each_chunk_is_remembered() {
    let dir = scratch();
    let output = run_fixture(
        dir.path(),
        &["-n", "1"],
        // Each write waits until flakehunt has read the previous one: were two pipes readable
        // at once, the order of the reads would not be defined.
        &[
            "out:one",
            "drained",
            "err:two",
            "drained",
            "out:three",
            "exit:4",
        ],
    );
    assert_eq!(output.status.code(), Some(1));
    let log = std::fs::read(dir.path().join("run-000000.log")).expect("log");
    assert_eq!(log, b"one\ntwo\nthree\n");
    let map = std::fs::read_to_string(dir.path().join("run-000000.streams")).expect("map");
    assert_eq!(map, "0 4 stdout\n4 4 stderr\n8 6 stdout\n");
}

#[test]
fn timeout_sends_the_configured_signal_and_keeps_output() {
    let dir = scratch();
    let (code, summary, _) = run_json(
        dir.path(),
        &["-n", "2", "-j", "2", "--timeout", "300ms", "--grace", "10s"],
        &[
            "out:before the hang",
            "trap:QUIT:goroutine 1 [running]: dump",
            "hang",
        ],
    );
    assert_eq!(code, 1);
    assert_eq!(summary["timeouts"], 2);
    assert_eq!(summary["failures_by_kind"]["timeout"], 2);
    let log = std::fs::read_to_string(dir.path().join("run-000000.log")).expect("log");
    assert!(log.contains("before the hang"));
    assert!(log.contains("goroutine 1 [running]: dump"), "{log}");
    let meta: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("run-000000.json")).expect("meta"))
            .expect("json");
    assert_eq!(meta["timed_out"], true);
    assert_eq!(meta["signal"], "SIGQUIT");
    assert_eq!(meta["termination"]["killed_after_grace"], false);
}

#[test]
fn timeout_escalates_to_sigkill_after_grace() {
    let dir = scratch();
    let pids = dir.path().join("pids");
    let pidfile = format!("pidfile:{}", pids.display());
    let spawn = format!("spawn:ignore:TERM+{pidfile}+hang");
    let (code, summary, _) = run_json(
        &dir.path().join("out"),
        &[
            "-n",
            "1",
            "--timeout",
            "200ms",
            "--timeout-signal",
            "TERM",
            "--grace",
            "200ms",
        ],
        &["ignore:TERM", &pidfile, &spawn, "hang"],
    );
    assert_eq!(code, 1);
    assert_eq!(summary["timeouts"], 1);
    let meta: serde_json::Value = serde_json::from_slice(
        &std::fs::read(dir.path().join("out/run-000000.json")).expect("meta"),
    )
    .expect("json");
    assert_eq!(meta["signal"], "SIGTERM");
    assert_eq!(meta["termination"]["killed_after_grace"], true);
    let pids = read_pids(&pids);
    assert_eq!(pids.len(), 2, "main process and grandchild");
    assert!(
        survivors(&pids).is_empty(),
        "the whole process group must be killed"
    );
}

#[test]
fn grandchildren_holding_the_pipes_do_not_stall_the_campaign() {
    let dir = scratch();
    let pids = dir.path().join("pids");
    let pidfile = format!("pidfile:{}", pids.display());
    let spawn = format!("spawn:{pidfile}+out:grandchild+hang");
    let started = Instant::now();
    let (code, summary, _) = run_json(
        &dir.path().join("out"),
        // A generous timeout: the campaign must end long before it, because the grandchild in
        // the run's process group is killed when the main process exits.
        &["-n", "3", "-j", "3", "--timeout", "10m"],
        &[&pidfile, &spawn, "sleep:50", "out:parent done"],
    );
    assert_eq!(code, 0, "{summary}");
    assert_eq!(summary["passes"], 3);
    assert!(started.elapsed() < Duration::from_secs(300));
    let pids = read_pids(&pids);
    assert_eq!(pids.len(), 6);
    assert!(
        survivors(&pids).is_empty(),
        "grandchildren must not outlive their run"
    );
}

#[test]
fn a_process_that_escaped_the_group_cannot_hold_the_campaign() {
    let dir = scratch();
    let pids = dir.path().join("pids");
    let pidfile = format!("pidfile:{}", pids.display());
    let spawn = format!("spawn-setsid:{pidfile}+hang");
    let (code, summary, _) = run_json(
        &dir.path().join("out"),
        &["-n", "2", "--timeout", "10m"],
        &[&spawn, "sleep:50", "exit:0"],
    );
    let escaped = wait_for_pids(&pids, 2);
    kill_all(&escaped);
    assert_eq!(code, 0, "{summary}");
    assert_eq!(summary["passes"], 2);
    assert_eq!(summary["leaked_pipes"], 2);
}

#[test]
fn hundred_mebibytes_of_output_are_kept_exactly_in_bounded_memory() {
    let dir = scratch();
    let (output, peak_kib) = output_with_peak_rss(&mut fixture_command(
        dir.path(),
        &["-n", "1"],
        &["flood:100M:both", "exit:3"],
    ));
    assert_eq!(output.status.code(), Some(1));
    let log = dir.path().join("run-000000.log");
    let size = std::fs::metadata(&log).expect("log").len();
    assert_eq!(size, 100 * 1024 * 1024);
    let map = std::fs::read_to_string(dir.path().join("run-000000.streams")).expect("map");
    let mut total = 0u64;
    let mut saw = [false, false];
    for line in map.lines() {
        let fields: Vec<&str> = line.split(' ').collect();
        assert_eq!(fields[0].parse::<u64>().expect("offset"), total);
        total += fields[1].parse::<u64>().expect("length");
        saw[usize::from(fields[2] == "stderr")] = true;
    }
    assert_eq!(total, size);
    assert!(saw[0] && saw[1], "both streams recorded");
    // Peak memory of flakehunt (and of the small fixture it ran): a run keeps at most 1 MiB of
    // output in memory, so even half of the 100 MiB held at once would fail this.
    let peak_mib = peak_kib / 1024;
    assert!(peak_mib < 32, "peak RSS {peak_mib} MiB");
}

#[test]
fn binary_garbage_never_reaches_the_terminal_raw() {
    let dir = scratch();
    let output = flakehunt()
        .args(["run", "-n", "2", "--progress", "lines", "--out"])
        .arg(dir.path())
        .arg("--")
        .arg(fixture())
        .args([
            "ansi",
            "garbage:256K",
            "err:panic: \x1b[31mred\x1b[0m boom",
            "exit:2",
        ])
        .output()
        .expect("run");
    assert_eq!(output.status.code(), Some(1));
    for (name, stream) in [("stdout", &output.stdout), ("stderr", &output.stderr)] {
        let text = std::str::from_utf8(stream)
            .unwrap_or_else(|error| panic!("{name} is not valid UTF-8: {error}"));
        assert!(
            !text.chars().any(|c| c.is_control() && c != '\n'),
            "{name} has raw control characters"
        );
        assert!(
            text.len() < 20_000,
            "{name} is not bounded: {} bytes",
            text.len()
        );
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("panic:"), "{stdout}");
    // The raw bytes are on disk exactly as the program wrote them.
    let direct = std::process::Command::new(fixture())
        .args(["ansi", "garbage:256K", "err:panic: \x1b[31mred\x1b[0m boom"])
        .stderr(Stdio::null())
        .output()
        .expect("fixture");
    let log = std::fs::read(dir.path().join("run-000000.log")).expect("log");
    assert!(log.starts_with(&direct.stdout));
    assert!(log.ends_with(b"panic: \x1b[31mred\x1b[0m boom\n"));
}

#[test]
fn deaths_by_signal_are_named() {
    let dir = scratch();
    let (code, summary, _) = run_json(dir.path(), &["-n", "1"], &["segv"]);
    assert_eq!(code, 1);
    assert_eq!(summary["failures_by_kind"]["signal"], 1);
    let text = summary["signatures"][0]["text"].as_str().expect("text");
    assert!(text.starts_with("signal SIGSEGV"), "{text}");

    let dir = scratch();
    let (_, summary, _) = run_json(dir.path(), &["-n", "1"], &["abort"]);
    let text = summary["signatures"][0]["text"].as_str().expect("text");
    assert!(text.starts_with("signal SIGABRT"), "{text}");
}

#[test]
fn fail_if_and_ignore_change_verdicts() {
    let dir = scratch();
    let (code, summary, _) = run_json(
        dir.path(),
        &["-n", "4", "--fail-if", "DATA RACE"],
        &["only-on:2", "err:WARNING: DATA RACE", "exit:0"],
    );
    assert_eq!(code, 1);
    assert_eq!(summary["failures"], 1);
    assert_eq!(summary["failures_by_kind"]["output-match"], 1);

    let dir = scratch();
    let (code, summary, _) = run_json(
        dir.path(),
        &["-n", "6", "--ignore", "failing on run [14]"],
        &["fail-on:1,3,4"],
    );
    assert_eq!(code, 1, "run 3 is not ignored");
    assert_eq!(summary["failures"], 1);
    assert_eq!(summary["ignored"], 2);
    assert_eq!(summary["passes"], 3);
}

#[test]
fn environment_and_working_directory() {
    let dir = scratch();
    let work = scratch();
    let output = run_fixture(
        dir.path(),
        &["-n", "2", "-j", "1", "--env", "GREETING=hi there", "-C"],
        &[],
    );
    // -C without a value is a usage error.
    assert_eq!(output.status.code(), Some(2));

    let output = flakehunt()
        .args([
            "run",
            "--quiet",
            "-n",
            "2",
            "-j",
            "1",
            "--keep-passing",
            "--env",
            "GREETING=hi there",
        ])
        .arg("-C")
        .arg(work.path())
        .arg("--out")
        .arg(dir.path())
        .arg("--")
        .arg(fixture())
        .args([
            "env:FLAKEHUNT_RUN",
            "env:FLAKEHUNT_CAMPAIGN",
            "env:GREETING",
            "cwd",
        ])
        .output()
        .expect("run");
    assert_eq!(output.status.code(), Some(0));
    let log = std::fs::read_to_string(dir.path().join("run-000001.log")).expect("kept log");
    assert!(log.contains("FLAKEHUNT_RUN=1\n"), "{log}");
    assert!(log.contains("GREETING=hi there\n"));
    assert!(!log.contains("FLAKEHUNT_CAMPAIGN unset"));
    let canonical = work.path().canonicalize().expect("canonical");
    assert!(log.contains(&canonical.display().to_string()), "{log}");
}

#[test]
fn max_failures_stops_the_campaign() {
    let dir = scratch();
    let (code, summary, _) = run_json(
        dir.path(),
        &["-n", "100000", "-j", "2", "--max-failures", "3"],
        &["exit:1"],
    );
    assert_eq!(code, 1);
    let failures = summary["failures"].as_u64().expect("failures");
    assert!((3..=4).contains(&failures), "{failures}");
    assert!(summary["runs"].as_u64().expect("runs") < 100);
    assert_eq!(summary["stop_reason"], "max failures reached");
}

#[test]
fn duration_stops_the_campaign() {
    let dir = scratch();
    let (code, summary, _) = run_json(dir.path(), &["--duration", "1s", "-j", "2"], &["sleep:30"]);
    assert_eq!(code, 0);
    assert_eq!(summary["stop_reason"], "duration reached");
    assert!(summary["runs"].as_u64().expect("runs") > 0);
}

#[test]
fn events_are_appended_one_per_run() {
    let dir = scratch();
    let events = dir.path().join("events.ndjson");
    let output = run_fixture(
        &dir.path().join("out"),
        &["-n", "5", "--events", events.to_str().expect("utf8 path")],
        &["fail-on:2"],
    );
    assert_eq!(output.status.code(), Some(1));
    let text = std::fs::read_to_string(&events).expect("events");
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|line| serde_json::from_str(line).expect("json line"))
        .collect();
    assert_eq!(lines.len(), 7);
    assert_eq!(lines[0]["type"], "campaign-start");
    assert_eq!(lines[6]["type"], "campaign-end");
    let runs: Vec<&serde_json::Value> = lines.iter().filter(|l| l["type"] == "run").collect();
    assert_eq!(runs.len(), 5);
    let failed: Vec<_> = runs.iter().filter(|l| l["verdict"] == "fail").collect();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0]["run"], 2);
    assert!(failed[0]["log"]
        .as_str()
        .expect("log")
        .ends_with("run-000002.log"));
}

#[test]
fn sigint_stops_everything_and_saves_failures() {
    let dir = scratch();
    let pids = dir.path().join("pids");
    let pidfile = format!("pidfile:{}", pids.display());
    let spawn = format!("spawn:{pidfile}+hang");
    let mut child = flakehunt()
        .args(["run", "--quiet", "--json", "-j", "1", "--out"])
        .arg(dir.path().join("out"))
        .arg("--")
        .arg(fixture())
        .args(["fail-on:0", &pidfile, &spawn, "hang"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn flakehunt");
    // One run at a time: run 0 failed and was recorded before run 1 started; run 1 hangs with a
    // grandchild, two pids.
    let seen = wait_for_pids(&pids, 2);
    // SAFETY: kill(2) on the flakehunt process.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGINT);
    }
    let mut stdout = String::new();
    child
        .stdout
        .take()
        .expect("stdout")
        .read_to_string(&mut stdout)
        .expect("read");
    let status = child.wait().expect("wait");
    assert_eq!(status.code(), Some(130), "interrupted outranks failed");
    let summary: serde_json::Value = serde_json::from_str(stdout.trim()).expect("summary json");
    assert_eq!(summary["interrupted"], true);
    assert_eq!(summary["failures"], 1);
    assert_eq!(summary["cancelled"], 1);
    assert!(dir.path().join("out/run-000000.log").exists());
    assert!(dir.path().join("out/summary.json").exists());
    assert!(
        survivors(&seen).is_empty(),
        "no run may outlive an interrupted campaign"
    );
}

#[test]
fn sigkill_of_flakehunt_leaves_no_runs_behind() {
    let dir = scratch();
    let pids = dir.path().join("pids");
    let pidfile = format!("pidfile:{}", pids.display());
    let spawn = format!("spawn:{pidfile}+hang");
    let mut child = flakehunt()
        .args(["run", "--quiet", "-j", "2", "--out"])
        .arg(dir.path().join("out"))
        .arg("--")
        .arg(fixture())
        .args([&pidfile, &spawn, "hang"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn flakehunt");
    let seen = wait_for_pids(&pids, 4);
    child.kill().expect("SIGKILL flakehunt");
    child.wait().expect("wait");
    assert!(
        survivors(&seen).is_empty(),
        "runs and grandchildren must die with flakehunt"
    );
}

#[test]
fn on_timeout_keep_leaves_the_process_for_a_debugger() {
    let dir = scratch();
    let pids = dir.path().join("pids");
    let pidfile = format!("pidfile:{}", pids.display());
    let mut child = flakehunt()
        .args(["run", "--json", "--progress", "lines", "-n", "3", "-j", "1"])
        .args(["--timeout", "300ms", "--on-timeout", "keep", "--out"])
        .arg(dir.path().join("out"))
        .arg("--")
        .arg(fixture())
        .args(["only-on:0", &pidfile, "hang"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn flakehunt");
    let kept = wait_for_pids(&pids, 1);
    // flakehunt announces the pid, finishes runs 1 and 2, then waits for the kept process.
    let mut stderr = child.stderr.take().expect("stderr");
    let mut announced = String::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut buffer = [0u8; 4096];
    while !announced.contains("waiting for 1 kept run") {
        assert!(Instant::now() < deadline, "no waiting notice: {announced}");
        let n = stderr.read(&mut buffer).expect("read stderr");
        assert!(n > 0, "stderr closed early: {announced}");
        announced.push_str(&String::from_utf8_lossy(&buffer[..n]));
    }
    assert!(
        announced.contains(&format!("pid {}", kept[0])),
        "{announced}"
    );
    assert!(alive(kept[0]), "the kept process must still run");
    kill_all(&kept);
    let mut stdout = String::new();
    child
        .stdout
        .take()
        .expect("stdout")
        .read_to_string(&mut stdout)
        .expect("read");
    let status = child.wait().expect("wait");
    assert_eq!(status.code(), Some(1));
    let summary: serde_json::Value = serde_json::from_str(stdout.trim()).expect("json");
    assert_eq!(summary["timeouts"], 1);
    assert_eq!(summary["passes"], 2);
}

#[test]
fn bad_input_is_rejected_before_anything_runs() {
    let dir = scratch();
    let out = dir.path().join("out");
    let plain_file = dir.path().join("data.txt");
    std::fs::write(&plain_file, "not a program").expect("write");
    let cases: Vec<(Vec<String>, &str)> = vec![
        (
            vec!["--".into(), "no-such-command-xyz".into()],
            "command not found",
        ),
        (
            vec!["--fail-if".into(), "(".into(), "--".into(), "true".into()],
            "invalid --fail-if regex",
        ),
        (
            vec![
                "--ignore".into(),
                "[z-a]".into(),
                "--".into(),
                "true".into(),
            ],
            "invalid --ignore regex",
        ),
        (
            vec!["-j".into(), "0".into(), "--".into(), "true".into()],
            "--jobs must be at least 1",
        ),
        (
            vec![
                "--timeout".into(),
                "soon".into(),
                "--".into(),
                "true".into(),
            ],
            "not a duration",
        ),
        (
            vec![
                "--timeout-signal".into(),
                "SIGNOPE".into(),
                "--".into(),
                "true".into(),
            ],
            "not a signal",
        ),
        (
            vec!["--".into(), plain_file.display().to_string()],
            "not executable",
        ),
        (vec!["--".into(), "/".into()], "is a directory"),
        (
            vec![
                "-C".into(),
                "/no/such/dir".into(),
                "--".into(),
                "true".into(),
            ],
            "not a directory",
        ),
    ];
    for (args, expected) in cases {
        let output = flakehunt()
            .arg("run")
            .arg("--out")
            .arg(&out)
            .args(&args)
            .output()
            .expect("run");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(
            stderr.contains(expected),
            "{args:?}: expected '{expected}' in: {stderr}"
        );
        assert!(
            !out.exists(),
            "{args:?}: nothing may be created on bad input"
        );
    }
    let output = flakehunt()
        .args(["run", "--out", "/proc/flakehunt-cannot-write", "--", "true"])
        .output()
        .expect("run");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("output directory"), "{stderr}");
}

#[test]
fn text_summary_lists_signatures_and_rates() {
    let dir = scratch();
    let output = run_fixture(
        dir.path(),
        &["-n", "10", "-j", "2"],
        &["fail-on:4", "fail-on:6:7"],
    );
    assert_eq!(output.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("failures 2"), "{stdout}");
    assert!(stdout.contains("20%"), "{stdout}");
    assert!(stdout.contains("95% interval"), "{stdout}");
    assert!(stdout.contains("exit 1"), "{stdout}");
    assert!(stdout.contains("exit 7"), "{stdout}");
    assert!(stdout.contains("run-000004.log"), "{stdout}");
}
