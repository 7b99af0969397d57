//! Integration tests of `--shake` and `flakehunt hunt`: per-run placement and priorities, load
//! generators that never outlive the campaign, seeds recorded for replay, and a hunt that finds
//! the one perturbation that reproduces a failure.

mod common;

use std::process::Stdio;

use common::*;

fn kept_log(shake: &str, command: &[&str]) -> String {
    let dir = scratch();
    let output = flakehunt()
        .args([
            "run",
            "--quiet",
            "-n",
            "1",
            "--keep-passing",
            "--shake",
            shake,
            "--out",
        ])
        .arg(dir.path())
        .arg("--")
        .args(command)
        .output()
        .expect("run");
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    std::fs::read_to_string(dir.path().join("run-000000.log")).expect("log")
}

#[test]
fn placement_priority_and_policy_reach_the_run() {
    let status = kept_log("pin=0", &["cat", "/proc/self/status"]);
    assert!(status.contains("Cpus_allowed_list:\t0\n"), "{status}");
    let stat = kept_log("nice=7", &["cat", "/proc/self/stat"]);
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .expect("stat")
        .1
        .split_whitespace()
        .collect();
    // Field 19 of /proc/PID/stat is the nice value; fields here start at field 3.
    assert_eq!(fields[16], "7", "{stat}");
    let sched = kept_log("sched=idle", &["cat", "/proc/self/sched"]);
    let policy = sched
        .lines()
        .find(|line| line.starts_with("policy"))
        .expect("policy line");
    assert!(
        policy.trim_end().ends_with(" 5"),
        "SCHED_IDLE is 5: {policy}"
    );
}

#[test]
fn knobs_and_seeds_are_in_the_environment_and_the_metadata() {
    let dir = scratch();
    let output = flakehunt()
        .args([
            "run",
            "--quiet",
            "-n",
            "3",
            "--shake",
            "go-procs=1,go-gc=1,jitter=1ms",
            "--out",
        ])
        .arg(dir.path())
        .arg("--")
        .arg(fixture())
        .args([
            "env:GOMAXPROCS",
            "env:GOGC",
            "env:FLAKEHUNT_SEED",
            "fail-on:1",
        ])
        .output()
        .expect("run");
    assert_eq!(output.status.code(), Some(1));
    let log = std::fs::read_to_string(dir.path().join("run-000001.log")).expect("log");
    assert!(log.contains("GOMAXPROCS=1\nGOGC=1\n"), "{log}");
    let meta: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("run-000001.json")).expect("meta"))
            .expect("json");
    assert_eq!(meta["shake"], "jitter=1ms,go-procs=1,go-gc=1");
    let seed = meta["seed"].as_u64().expect("seed");
    assert!(log.contains(&format!("FLAKEHUNT_SEED={seed}\n")), "{log}");

    // --seed replays one seed in every run.
    let replay = scratch();
    let output = flakehunt()
        .args([
            "run",
            "--quiet",
            "-n",
            "2",
            "--keep-passing",
            "--shake",
            "jitter=1ms",
        ])
        .args(["--seed", &seed.to_string(), "--out"])
        .arg(replay.path())
        .arg("--")
        .arg(fixture())
        .arg("env:FLAKEHUNT_SEED")
        .output()
        .expect("run");
    assert_eq!(output.status.code(), Some(0));
    for run in 0..2 {
        let log = std::fs::read_to_string(replay.path().join(format!("run-00000{run}.log")))
            .expect("log");
        assert_eq!(log, format!("FLAKEHUNT_SEED={seed}\n"));
    }
}

fn load_processes(tag: &str) -> Vec<i32> {
    std::fs::read_dir("/proc")
        .expect("proc")
        .filter_map(Result::ok)
        .filter_map(|entry| entry.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .map(|cmdline| {
                    let text = String::from_utf8_lossy(&cmdline).replace('\0', " ");
                    text.contains("__load") && text.contains(tag)
                })
                .unwrap_or(false)
        })
        .filter(|pid| alive(*pid))
        .collect()
}

#[test]
fn load_generators_end_with_the_campaign_even_on_ctrl_c() {
    let dir = scratch();
    let (code, summary, _) = run_json(
        dir.path(),
        &["-n", "4", "--shake", "cpu-load=1:30,mem-load=1,io-load=1"],
        &["sleep:20"],
    );
    assert_eq!(code, 0);
    let campaign = summary["campaign"].as_str().expect("id").to_string();
    assert!(
        load_processes(&campaign).is_empty(),
        "loads outlived the campaign"
    );
    assert!(
        !dir.path().join(".spill").exists(),
        "io churn files must be removed"
    );

    let dir = scratch();
    let pids = dir.path().join("pids");
    let child = flakehunt()
        .args([
            "run",
            "--quiet",
            "--json",
            "-j",
            "1",
            "--shake",
            "cpu-load=1,io-load=1",
            "--out",
        ])
        .arg(dir.path().join("out"))
        .arg("--")
        .arg(fixture())
        .args([&format!("pidfile:{}", pids.display()), "hang"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let hung = wait_for_pids(&pids, 1);
    let out_dir = dir.path().join("out");
    assert!(
        out_dir.join(".spill/.io-load").exists(),
        "the io churn runs during the campaign"
    );
    // SAFETY: kill(2) on flakehunt.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGINT);
    }
    let output = child.wait_with_output().expect("wait");
    let summary: serde_json::Value = serde_json::from_slice(&output.stdout).expect("json");
    let campaign = summary["campaign"].as_str().expect("id").to_string();
    assert!(survivors(&hung).is_empty());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !load_processes(&campaign).is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "load generators survived Ctrl-C"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(!out_dir.join(".spill").exists());
}

#[test]
fn bad_shakes_are_rejected_before_anything_runs() {
    let dir = scratch();
    let out = dir.path().join("out");
    for (shake, expected) in [
        ("wobble", "unknown shake 'wobble'"),
        ("cpu-load=lots", "not a count"),
        ("nice=99", "nice must be"),
        ("pin=9-2", "not a CPU range"),
    ] {
        let output = run_fixture(&out, &["--shake", shake], &[]);
        assert_eq!(output.status.code(), Some(2), "{shake}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(expected), "{shake}: {stderr}");
        assert!(!out.exists());
    }
}

#[test]
fn hunt_finds_the_perturbation_that_reproduces() {
    let dir = scratch();
    let db = dir.path().join("h.db");
    // Fails exactly when GOMAXPROCS=1 is set: only the go-procs arm can reproduce.
    let output = flakehunt()
        .arg("--db")
        .arg(&db)
        .args([
            "hunt",
            "--json",
            "--budget",
            "2000",
            "--failures",
            "3",
            "--batch",
            "10",
            "--confirm",
            "0",
        ])
        .args([
            "--arms",
            "plain;nice=5;go-procs=1",
            "--fail-if",
            "GOMAXPROCS=1",
            "--out",
        ])
        .arg(dir.path().join("out"))
        .arg("--")
        .arg(fixture())
        .arg("env:GOMAXPROCS")
        .output()
        .expect("hunt");
    assert_eq!(
        output.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let result: serde_json::Value = serde_json::from_slice(&output.stdout).expect("json");
    assert_eq!(result["best"], "go-procs=1");
    let arms = result["arms"].as_array().expect("arms");
    let arm = |name: &str| {
        arms.iter()
            .find(|a| a["shake"] == name)
            .expect("arm")
            .clone()
    };
    assert_eq!(arm("plain")["failures"], 0);
    assert!(arm("plain")["runs"].as_u64().expect("runs") >= 10);
    // One batch runs two at a time, so a fourth failure can finish with the third.
    let failures = arm("go-procs=1")["failures"].as_u64().expect("failures");
    assert!((3..=4).contains(&failures), "{failures}");
    assert!(arm("go-procs=1")["speedup_low"].as_f64().expect("low") > 1.0);

    // The best arm is remembered for `--shake best`.
    let output = flakehunt()
        .arg("--db")
        .arg(&db)
        .args([
            "run",
            "--quiet",
            "--json",
            "-n",
            "2",
            "--shake",
            "best",
            "--fail-if",
            "GOMAXPROCS=1",
            "--out",
        ])
        .arg(dir.path().join("best"))
        .arg("--")
        .arg(fixture())
        .arg("env:GOMAXPROCS")
        .output()
        .expect("run");
    let summary: serde_json::Value = serde_json::from_slice(&output.stdout).expect("json");
    assert_eq!(summary["failures"], 2);
}

#[test]
fn preload_noise_reaches_native_programs_and_leaves_nothing_behind() {
    let dir = scratch();
    let stats = dir.path().join("noise-stats");
    let output = flakehunt()
        .args([
            "run",
            "--quiet",
            "--json",
            "-n",
            "3",
            "--shake",
            "noise=0.5",
            "--keep-passing",
        ])
        .arg("--env")
        .arg(format!("FLAKEHUNT_NOISE_STATS={}", stats.display()))
        .arg("--out")
        .arg(dir.path().join("out"))
        .args([
            "--",
            "sh",
            "-c",
            "echo $LD_PRELOAD; cat /dev/null; echo done",
        ])
        .output()
        .expect("run");
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let log = std::fs::read_to_string(dir.path().join("out/run-000000.log")).expect("log");
    assert!(
        log.starts_with("/proc/self/fd/"),
        "the library comes from a memfd: {log}"
    );
    assert!(log.ends_with("done\n"));
    let lines = std::fs::read_to_string(&stats).expect("stats written by the library");
    assert!(lines.lines().count() >= 3, "{lines}");
    // Only the runs' own files: no library copy, no scratch directory.
    let mut names: Vec<String> = std::fs::read_dir(dir.path().join("out"))
        .expect("out")
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert!(
        names
            .iter()
            .all(|n| n.starts_with("run-") || n == "summary.json"),
        "{names:?}"
    );
}

#[test]
fn python_switch_interval_is_set_and_an_existing_sitecustomize_still_runs() {
    let dir = scratch();
    let original = dir.path().join("site");
    std::fs::create_dir_all(&original).expect("mkdir");
    std::fs::write(
        original.join("sitecustomize.py"),
        "import builtins\nbuiltins.ORIGINAL_SITE = True\n",
    )
    .expect("write");
    let output = flakehunt()
        .env("PYTHONPATH", &original)
        .args(["run", "--quiet", "-n", "1", "--keep-passing", "--shake", "py-switch=1us", "--out"])
        .arg(dir.path().join("out"))
        .args([
            "--",
            "python3",
            "-c",
            "import sys, builtins; print(sys.getswitchinterval(), getattr(builtins, 'ORIGINAL_SITE', False))",
        ])
        .output()
        .expect("run");
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let log = std::fs::read_to_string(dir.path().join("out/run-000000.log")).expect("log");
    assert_eq!(log, "1e-06 True\n");
    assert!(
        !dir.path().join("out/.spill").exists(),
        "the generated sitecustomize is removed"
    );
}
