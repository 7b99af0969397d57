//! Shakes and hunts against real runtimes: the programs in `fixtures/runtimes` (C, Python, Go)
//! and `fh-quiet` (Rust). Correct programs stay quiet under every shake and every default arm;
//! a Python race that only a tiny switch interval shows is found by `hunt` with its default
//! arms; `freeze` breaks a sleep used instead of a join; a hunt and a window are one campaign
//! each; the generated `sitecustomize` stays silent inside a virtualenv run by pytest.

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use flakehunt::shake::detect::detect;
use flakehunt::shake::knobs::default_arms;
use flakehunt::shake::{noise, online_cpus};

use common::{flakehunt, scratch};

fn runtimes_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/runtimes")
}

/// A directory shared by this test binary's builds (kept between runs, like cargo's own).
fn build_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("runtimes");
    std::fs::create_dir_all(&dir).expect("build dir");
    dir
}

fn ok(output: &Output) -> String {
    format!(
        "status {:?}\nstdout: {}\nstderr: {}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// Compile one C file of the runtimes directory.
fn c_program(name: &str) -> PathBuf {
    let out = build_dir().join(format!("{name}-c"));
    let source = runtimes_dir().join(format!("{name}.c"));
    let compiler = std::env::var_os("CC").unwrap_or_else(|| "cc".into());
    let output = Command::new(&compiler)
        .args(["-std=gnu11", "-O1", "-pthread", "-o"])
        .arg(&out)
        .arg(&source)
        .output()
        .expect("run the C compiler (cc)");
    assert!(output.status.success(), "{}", ok(&output));
    out
}

/// The Go program `quiet.go` or `go_start_race.go`, built once per test binary. Go is needed:
/// `.ci/run` installs it.
fn go_program(name: &'static str) -> PathBuf {
    static BUILT: OnceLock<std::sync::Mutex<Vec<(&'static str, PathBuf)>>> = OnceLock::new();
    let built = BUILT.get_or_init(Default::default);
    let mut built = built.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, path)) = built.iter().find(|(known, _)| *known == name) {
        return path.clone();
    }
    let out = build_dir().join(format!("{name}-go"));
    let output = Command::new("go")
        .arg("build")
        .arg("-o")
        .arg(&out)
        .arg(runtimes_dir().join(format!("{name}.go")))
        .env("GOCACHE", build_dir().join("go-cache"))
        .env("GOPATH", build_dir().join("go-path"))
        .current_dir(build_dir())
        .output()
        .expect("run `go build` (install Go: apt-get install golang-go, as .ci/run does)");
    assert!(output.status.success(), "{}", ok(&output));
    built.push((name, out.clone()));
    out
}

/// `fh-quiet`, built once per test binary.
fn rust_quiet() -> &'static Path {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT.get_or_init(|| {
        let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml");
        let status = Command::new(env!("CARGO"))
            .args([
                "build",
                "--quiet",
                "-p",
                "flakehunt-fixtures",
                "--bin",
                "fh-quiet",
            ])
            .arg("--manifest-path")
            .arg(&manifest)
            .status()
            .expect("cargo build");
        assert!(status.success());
        let exe = std::env::current_exe().expect("test binary");
        let dir = exe.parent().and_then(Path::parent).expect("target dir");
        dir.join("fh-quiet")
    })
}

/// Parse the JSON a command printed on stdout.
fn json_of(output: &Output) -> serde_json::Value {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|error| panic!("{error}: {}", ok(output)))
}

/// Every kind of shake, each at a setting a correct program must shrug off.
const EVERY_SHAKE: &[&str] = &[
    "cpu-load=1",
    "cpu-load=2:50",
    "mem-load=1",
    "io-load=1",
    "pin=one-core",
    "pin=random-core",
    "pin=spread",
    "pin=0",
    "nice=10",
    "sched=batch",
    "sched=idle",
    "sched=other",
    "slice=1ms",
    "noise",
    "noise=1",
    "jitter=2ms",
    "freeze",
    "freeze=1ms..5ms@2ms",
    "go-procs=1",
    "go-gc=1",
    "go-debug=asyncpreemptoff=1",
    "rust-threads=1",
    "py-switch=1us",
];

/// Run `program` twice under `shake`, keeping every log; returns the failures and the logs
/// that differ from `expected`.
fn quiet_under(program: &Path, shake: &str, expected: &str) -> Vec<String> {
    let dir = scratch();
    let out = dir.path().join("out");
    let output = flakehunt()
        .args([
            "run",
            "--quiet",
            "--json",
            "--no-history",
            "-n",
            "2",
            "-j",
            "2",
        ])
        .args([
            "--keep-passing",
            // Generous: under two CPU hogs on a loaded machine, a correct program can take
            // minutes, and a timeout here would say nothing about its output.
            "--timeout",
            "600s",
            "--shake",
            shake,
            "--out",
        ])
        .arg(&out)
        .arg("--")
        .arg(program)
        .output()
        .expect("run");
    let mut problems = Vec::new();
    if output.status.code() != Some(0) {
        problems.push(format!("{shake}: {}", ok(&output)));
        return problems;
    }
    for index in 0..2 {
        let log = out.join(format!("run-{index:06}.log"));
        let text = std::fs::read_to_string(&log).unwrap_or_else(|e| format!("<{e}>"));
        if text != expected {
            problems.push(format!("{shake}: run {index} printed {text:?}"));
        }
    }
    problems
}

/// Every shake, then every default arm the hunt would give `program`, on `program`.
fn every_perturbation(program: &Path, expected: &str) -> Vec<String> {
    let mut shakes: Vec<String> = EVERY_SHAKE.iter().map(|s| s.to_string()).collect();
    let arms = default_arms(
        online_cpus().len(),
        &detect(program, &[]),
        noise::available(),
    )
    .arms;
    for arm in arms.into_iter().filter(|arm| arm != "plain") {
        if !shakes.contains(&arm) {
            shakes.push(arm);
        }
    }
    shakes
        .iter()
        .flat_map(|shake| quiet_under(program, shake, expected))
        .collect()
}

#[test]
fn correct_programs_stay_quiet_under_every_shake_and_every_default_arm() {
    let python = runtimes_dir().join("quiet.py");
    let programs: Vec<(PathBuf, &str)> = vec![
        (c_program("quiet"), "quiet c: 2000\n"),
        (python, "quiet python: 79800\n"),
        (go_program("quiet"), "quiet go: 79800\n"),
        (rust_quiet().to_path_buf(), "quiet rust: 79800\n"),
    ];
    let problems: Vec<String> = std::thread::scope(|scope| {
        let handles: Vec<_> = programs
            .iter()
            .map(|(program, expected)| scope.spawn(move || every_perturbation(program, expected)))
            .collect();
        handles
            .into_iter()
            .flat_map(|handle| handle.join().expect("thread"))
            .collect()
    });
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn hunt_with_its_default_arms_reproduces_a_python_race_only_a_tiny_switch_interval_shows() {
    let dir = scratch();
    let db = dir.path().join("h.db");
    let program = runtimes_dir().join("thread_start_race.py");
    let output = flakehunt()
        .arg("--db")
        .arg(&db)
        .args([
            "hunt",
            "--json",
            "--budget",
            "3000",
            "--failures",
            "3",
            "-j",
            "2",
            "--out",
        ])
        .arg(dir.path().join("out"))
        .arg("--")
        .arg(&program)
        .output()
        .expect("hunt");
    assert_eq!(output.status.code(), Some(1), "{}", ok(&output));
    let result = json_of(&output);
    assert_eq!(
        result["detected"]["runtime"], "a Python program",
        "{result}"
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("is a Python program (#!/usr/bin/env python3)"),
        "{stderr}"
    );
    assert!(stderr.contains("skipping go-procs"), "{stderr}");
    let winner = result["winner"]
        .as_str()
        .expect("an arm reached the target");
    let best = result["best"].as_str().expect("best");
    // On a quiet machine plain almost never fails, so only py-switch can win; under heavy
    // outside load plain may fail first, and then the hunt rightly says so.
    let plain_failed = result["arms"]
        .as_array()
        .expect("arms")
        .iter()
        .any(|arm| arm["shake"] == "plain" && arm["failures"].as_u64() > Some(0));
    if !plain_failed {
        assert!(winner.contains("py-switch"), "{result}");
        assert!(best.contains("py-switch"), "{result}");
    }
    let arms = result["arms"].as_array().expect("arms");
    assert!(arms
        .iter()
        .all(|arm| !arm["shake"].as_str().unwrap_or("").contains("go-")));

    // One campaign, whose parts are the arms; `show` lists them and `--shake best` replays.
    let history = flakehunt()
        .arg("--db")
        .arg(&db)
        .args(["history", "--json"])
        .output();
    let history = json_of(&history.expect("history"));
    assert_eq!(history.as_array().map(Vec::len), Some(1), "{history}");
    assert_eq!(history[0]["id"], result["campaign"]);
    let show = flakehunt()
        .arg("--db")
        .arg(&db)
        .args(["show", "last"])
        .output();
    let show = String::from_utf8_lossy(&show.expect("show").stdout).into_owned();
    assert!(
        show.contains("hunt arms:") && show.contains(winner),
        "{show}"
    );
    if !best.contains("py-switch") {
        // Plain won under outside load: nothing a replay of it would show reliably.
        return;
    }
    let replay = flakehunt()
        .arg("--db")
        .arg(&db)
        .args([
            "run",
            "--quiet",
            "--json",
            "--no-history",
            // Stops at the first failure: enough runs that the best arm cannot miss by chance.
            "-n",
            "2000",
            "--max-failures",
            "1",
            "--shake",
            "best",
        ])
        .arg("--out")
        .arg(dir.path().join("best"))
        .arg("--")
        .arg(&program)
        .output()
        .expect("replay");
    assert!(json_of(&replay)["failures"].as_u64().expect("failures") > 0);
}

#[test]
fn freeze_breaks_a_sleep_used_instead_of_a_join() {
    let program = c_program("sleep_join");
    let dir = scratch();
    let runs = 40;
    let output = flakehunt()
        .args(["run", "--quiet", "--json", "--no-history", "-j", "2", "-n"])
        .arg(runs.to_string())
        .args(["--shake", "freeze=1ms..20ms@5ms", "--out"])
        .arg(dir.path().join("out"))
        .arg("--")
        .arg(&program)
        .output()
        .expect("run");
    let summary = json_of(&output);
    let failures = summary["failures"].as_u64().expect("failures");
    assert!(failures * 2 > runs, "{failures} of {runs}: {summary}");
    let signature = &summary["signatures"][0];
    assert!(
        signature["text"]
            .as_str()
            .is_some_and(|text| text.contains("sleep instead of join")),
        "{summary}"
    );
    // A failure's metadata says how long it was frozen and gives the seed that replays it.
    let example = signature["example"].as_str().expect("example log");
    let meta = std::fs::read_to_string(Path::new(example).with_extension("json")).expect("meta");
    let meta: serde_json::Value = serde_json::from_str(&meta).expect("meta json");
    assert!(meta["frozen_s"].as_f64().is_some_and(|s| s > 0.0), "{meta}");
    assert!(meta["seed"].as_u64().is_some(), "{meta}");
    assert_eq!(meta["shake"], "freeze=1ms..20ms@5ms");
}

#[test]
fn frozen_time_does_not_count_against_the_time_limit() {
    // 300 ms of computing under freezes of 200 ms every 10 ms of running: about 6 s of wall
    // time, against a time limit of 2.5 s that the freezes must not use up.
    let dir = scratch();
    let source = dir.path().join("compute.c");
    std::fs::write(
        &source,
        "#include <time.h>\n#include <stdio.h>\n\
         static double cpu(void) { struct timespec t; clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);\
         return t.tv_sec + t.tv_nsec / 1e9; }\n\
         int main(void) { double start = cpu(); volatile unsigned long x = 1;\
         while (cpu() - start < 0.3) x = x * 6364136223846793005UL + 1; puts(\"done\"); return 0; }\n",
    )
    .expect("write");
    let program = dir.path().join("compute");
    let status = Command::new(std::env::var_os("CC").unwrap_or_else(|| "cc".into()))
        .arg("-O1")
        .arg("-o")
        .arg(&program)
        .arg(&source)
        .status()
        .expect("cc");
    assert!(status.success());
    let output = flakehunt()
        .args([
            "run",
            "--quiet",
            "--json",
            "--no-history",
            "-n",
            "1",
            "--timeout",
            "2500ms",
        ])
        .args(["--shake", "freeze=200ms@10ms", "--keep-passing", "--out"])
        .arg(dir.path().join("out"))
        .arg("--")
        .arg(&program)
        .output()
        .expect("run");
    let summary = json_of(&output);
    let meta = std::fs::read_to_string(dir.path().join("out/run-000000.json")).expect("meta");
    let meta: serde_json::Value = serde_json::from_str(&meta).expect("json");
    let duration = meta["duration_s"].as_f64().expect("duration");
    let frozen = meta["frozen_s"].as_f64().expect("frozen");
    assert!(
        duration > 2.5,
        "the run outlived its limit thanks to the freezes: {meta}"
    );
    if summary["failures"] == 0 {
        assert!(frozen > duration - 2.5 && frozen < duration, "{meta}");
    } else {
        // A machine this loaded gave the program under 300 ms of CPU in 2.5 s of running time:
        // it timed out, but only once its running time, frozen time aside, spent the limit.
        assert_eq!(summary["failures_by_kind"]["timeout"], 1, "{summary}");
        assert!(duration - frozen >= 2.4, "{meta}");
    }
}

#[test]
fn a_go_binary_gets_the_go_knobs_and_nothing_that_cannot_reach_it() {
    let program = go_program("quiet");
    let dir = scratch();
    let output = flakehunt()
        .args([
            "hunt",
            "--json",
            "--no-history",
            "--budget",
            "60",
            "-j",
            "2",
            "--out",
        ])
        .arg(dir.path().join("out"))
        .arg("--")
        .arg(&program)
        .output()
        .expect("hunt");
    assert_eq!(output.status.code(), Some(0), "{}", ok(&output));
    let result = json_of(&output);
    assert_eq!(result["detected"]["runtime"], "a Go program", "{result}");
    let arms: BTreeSet<String> = result["arms"]
        .as_array()
        .expect("arms")
        .iter()
        .map(|arm| arm["shake"].as_str().unwrap_or("").to_string())
        .collect();
    for knob in ["go-procs=1", "go-debug=asyncpreemptoff=1", "go-gc=1"] {
        assert!(arms.contains(knob), "{arms:?}");
    }
    assert!(arms
        .iter()
        .all(|arm| !arm.contains("py-switch") && !arm.contains("noise")));
    assert_eq!(result["best"], serde_json::Value::Null);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("noise: Go makes its system calls without the C library"));
}

#[test]
fn load_generators_are_paused_between_batches_not_restarted() {
    let dir = scratch();
    let db = dir.path().join("h.db");
    let mut hunt = flakehunt()
        .arg("--db")
        .arg(&db)
        .args([
            "hunt",
            "--quiet",
            "--json",
            "--budget",
            "4s",
            "--arms",
            "plain;cpu-load=1",
        ])
        .args(["-j", "2", "--out"])
        .arg(dir.path().join("out"))
        .arg("--")
        .arg(rust_quiet())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("hunt");
    let parent = hunt.id() as i32;
    let mut pids = BTreeSet::new();
    let mut states = BTreeSet::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while hunt.try_wait().expect("wait").is_none() && Instant::now() < deadline {
        for (pid, state) in load_generators(parent) {
            pids.insert(pid);
            states.insert(state);
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let output = hunt.wait_with_output().expect("hunt output");
    assert_eq!(output.status.code(), Some(0), "{}", ok(&output));
    let result = json_of(&output);
    let loaded = &result["arms"][1];
    assert!(loaded["runs"].as_u64().expect("runs") > 0, "{result}");
    assert_eq!(pids.len(), 1, "one generator for the whole hunt: {pids:?}");
    assert!(states.contains(&'T'), "paused while plain ran: {states:?}");
    assert!(
        pids.iter().all(|pid| !common::alive(*pid)),
        "the generator ended with the hunt"
    );
}

/// Pids and states of the load generators `parent` started.
fn load_generators(parent: i32) -> Vec<(i32, char)> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .filter_map(|entry| entry.file_name().to_str()?.parse::<i32>().ok())
        .filter_map(|pid| {
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
            let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            if !cmdline.contains("__load cpu") {
                return None;
            }
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            let mut fields = stat.rsplit_once(')')?.1.split_whitespace();
            let state = fields.next()?.chars().next()?;
            let ppid: i32 = fields.next()?.parse().ok()?;
            (ppid == parent && state != 'Z').then_some((pid, state))
        })
        .collect()
}

#[test]
fn a_window_is_one_campaign_of_two_parts() {
    let dir = scratch();
    let db = dir.path().join("h.db");
    let output = flakehunt()
        .arg("--db")
        .arg(&db)
        .args([
            "window",
            "--json",
            "--sweep",
            "sleep 0us..2ms",
            "--points",
            "4",
        ])
        .args(["--runs-per-point", "4", "--step", "sleep 0..1ms", "--out"])
        .arg(dir.path().join("out"))
        .args(["--", "sleep", "0.01"])
        .output()
        .expect("window");
    assert_eq!(output.status.code(), Some(0), "{}", ok(&output));
    let window = json_of(&output);
    assert_eq!(
        window["campaigns"].as_array().map(Vec::len),
        Some(1),
        "{window}"
    );
    assert_eq!(window["runs"], 16);
    let history = flakehunt()
        .arg("--db")
        .arg(&db)
        .args(["history", "--json"])
        .output();
    let history = json_of(&history.expect("history"));
    assert_eq!(history.as_array().map(Vec::len), Some(1), "{history}");
    let show = flakehunt()
        .arg("--db")
        .arg(&db)
        .args(["show", "--json", "last"])
        .output();
    let show = json_of(&show.expect("show"));
    let labels: Vec<&str> = show["parts"]
        .as_array()
        .expect("parts")
        .iter()
        .map(|part| part["label"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(labels, ["even", "refine"]);
    assert_eq!(show["parts"][0]["runs"], 8);
    assert_eq!(show["parts"][1]["runs"], 8);
}

/// A Python that can run pytest: `python3` if it has it, else the system's.
fn python_with_pytest() -> PathBuf {
    for candidate in ["python3", "/usr/bin/python3"] {
        let found = Command::new(candidate)
            .args(["-c", "import pytest"])
            .output()
            .is_ok_and(|output| output.status.success());
        if found {
            return PathBuf::from(candidate);
        }
    }
    panic!("no python3 with pytest: install python3-pytest (as .ci/run does)");
}

#[test]
fn the_switch_interval_reaches_pytest_in_a_virtualenv_and_says_nothing() {
    let dir = scratch();
    let venv = dir.path().join("venv");
    let created = Command::new(python_with_pytest())
        .args(["-m", "venv", "--system-site-packages", "--without-pip"])
        .arg(&venv)
        .output()
        .expect("python -m venv");
    assert!(created.status.success(), "{}", ok(&created));
    let tests = dir.path().join("test_interval.py");
    std::fs::write(
        &tests,
        "import sys\n\ndef test_interval():\n    assert sys.getswitchinterval() == 1e-06\n\n\
         def test_site():\n    import sitecustomize\n    assert sitecustomize is not None\n",
    )
    .expect("write");
    let output = flakehunt()
        .args([
            "run",
            "--quiet",
            "--json",
            "--no-history",
            "-n",
            "2",
            "--keep-passing",
        ])
        .args([
            "--shake",
            "py-switch=1us",
            "--fail-if",
            "(?i)sitecustomize|Traceback",
            "--out",
        ])
        .arg(dir.path().join("out"))
        .arg("--")
        .arg(venv.join("bin/python"))
        .args(["-m", "pytest", "-q", "-p", "no:cacheprovider"])
        .arg(&tests)
        .output()
        .expect("run");
    let summary = json_of(&output);
    assert_eq!(summary["failures"], 0, "{summary}");
    let log = std::fs::read_to_string(dir.path().join("out/run-000000.log")).expect("log");
    assert!(log.contains("2 passed"), "{log}");
}

#[test]
fn the_generated_sitecustomize_never_raises_and_leaves_errors_to_the_one_it_chains_to() {
    let dir = scratch();
    let ours = dir.path().join("ours");
    let theirs = dir.path().join("theirs");
    for path in [&ours, &theirs] {
        std::fs::create_dir_all(path).expect("mkdir");
    }
    std::fs::write(
        ours.join("sitecustomize.py"),
        flakehunt::shake::runtime::sitecustomize_source(1e-6),
    )
    .expect("write");
    // Nothing to chain to (the case that used to raise KeyError): only our directory is on
    // the path when it is imported.
    let script = format!(
        "import sys\nsys.path[:] = [{:?}]\nimport sitecustomize\n\
         print(sys.getswitchinterval(), sys.modules['sitecustomize'].__name__)\n",
        ours.display().to_string()
    );
    let output = Command::new("python3")
        .args(["-S", "-c", &script])
        .output()
        .expect("python3");
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        "1e-06 sitecustomize\n",
        "{}",
        ok(&output)
    );
    assert!(output.stderr.is_empty(), "{}", ok(&output));
    // A broken sitecustomize behind ours fails as it would without flakehunt, and only it.
    std::fs::write(
        theirs.join("sitecustomize.py"),
        "raise RuntimeError('theirs is broken')\n",
    )
    .expect("write");
    let path = std::env::join_paths([&ours, &theirs]).expect("path");
    let output = Command::new("python3")
        .env("PYTHONPATH", path)
        .args(["-c", "import sys; print(sys.getswitchinterval())"])
        .output()
        .expect("python3");
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        "1e-06\n",
        "{}",
        ok(&output)
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("theirs is broken"), "{stderr}");
    assert!(!stderr.contains("KeyError"), "{stderr}");
}

#[test]
fn runs_of_arms_with_different_load_never_overlap() {
    let dir = scratch();
    let events = dir.path().join("events.ndjson");
    let output = flakehunt()
        .args([
            "hunt",
            "--quiet",
            "--json",
            "--no-history",
            // Runs, not time: how many runs a second buys depends on the machine's load.
            "--budget",
            "300",
            "-j",
            "2",
        ])
        .args([
            "--arms",
            "plain;cpu-load=1;nice=5",
            "--batch",
            "4",
            "--events",
        ])
        .arg(&events)
        .arg("--out")
        .arg(dir.path().join("out"))
        .arg("--")
        .arg(common::fixture())
        .arg("sleep:3")
        .output()
        .expect("hunt");
    assert_eq!(output.status.code(), Some(0), "{}", ok(&output));
    let text = std::fs::read_to_string(&events).expect("events");
    // (part, start, end) in milliseconds since the epoch.
    let mut runs: Vec<(u64, f64, f64)> = Vec::new();
    for line in text.lines() {
        let event: serde_json::Value = serde_json::from_str(line).expect("event");
        if event["type"] != "run" {
            continue;
        }
        let started = event["started_at"].as_str().expect("start");
        let started = humantime::parse_rfc3339(started).expect("rfc3339");
        let start = started
            .duration_since(std::time::UNIX_EPOCH)
            .expect("epoch")
            .as_secs_f64()
            * 1e3;
        let end = start + event["duration_s"].as_f64().expect("duration") * 1e3;
        runs.push((event["part"].as_u64().expect("part"), start, end));
    }
    let parts: BTreeSet<u64> = runs.iter().map(|run| run.0).collect();
    assert_eq!(parts.len(), 3, "every arm ran: {runs:?}");
    let loaded = |part: u64| part == 1;
    for a in &runs {
        for b in &runs {
            if loaded(a.0) != loaded(b.0) {
                // Start times are stored to the millisecond.
                let overlap = a.2.min(b.2) - a.1.max(b.1);
                assert!(
                    overlap < 1.5,
                    "runs overlap by {overlap:.1} ms: {a:?} {b:?}"
                );
            }
        }
    }
}
