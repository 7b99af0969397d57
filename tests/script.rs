//! Integration tests of scripted interaction (`--step`, `--script`) on the story's race: a
//! program that says "ready" before its SIGINT handler is installed.

mod common;

use common::*;

#[test]
fn protocol_failures_are_classified_by_step() {
    let dir = scratch();
    // The handler comes 1 s after "ready": a signal sent right away lands in the window.
    let (code, summary, _) = run_json(
        dir.path(),
        &[
            "-n",
            "2",
            "-j",
            "2",
            "--step",
            "wait-output ready within 20s",
            "--step",
            "signal SIGINT",
            "--step",
            "expect-output \"got signal\" within 10s",
        ],
        &["late-handler:1000000"],
    );
    assert_eq!(code, 1);
    assert_eq!(summary["failures_by_kind"]["script"], 2);
    let signatures = summary["signatures"].as_array().expect("signatures");
    assert_eq!(signatures.len(), 1);
    let text = signatures[0]["text"].as_str().expect("text");
    assert!(
        text.starts_with(
            "step 3 expect-output \"got signal\" within 10.00s: process died by SIGINT"
        ),
        "{text}"
    );
    let meta: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("run-000000.json")).expect("meta"))
            .expect("json");
    let events = meta["script_events"].as_array().expect("events");
    assert_eq!(events[0]["what"], "matched \"ready\"");
    assert_eq!(events[1]["what"], "sent SIGINT");
    let ready = events[0]["at_s"].as_f64().expect("time");
    let sent = events[1]["at_s"].as_f64().expect("time");
    assert!(sent >= ready);
    assert!((events[1]["since_previous_s"].as_f64().expect("gap") - (sent - ready)).abs() < 1e-6);
}

#[test]
fn protocol_passes_when_the_signal_comes_after_the_window() {
    let dir = scratch();
    let (code, summary, _) = run_json(
        dir.path(),
        &[
            "-n",
            "2",
            "-j",
            "2",
            "--step",
            "wait-output ready within 20s",
            "--step",
            "sleep 600ms",
            "--step",
            "signal SIGINT to main",
            "--step",
            "expect-output \"got signal\" within 10s",
            "--step",
            "expect-exit 0 within 10s",
        ],
        &["late-handler:20000"],
    );
    assert_eq!(code, 0, "{summary}");
    assert_eq!(summary["passes"], 2);
}

#[test]
fn stdin_steps_and_a_toml_script() {
    let dir = scratch();
    let script = dir.path().join("echo.toml");
    std::fs::write(
        &script,
        "# talk to the program\nsteps = [\n  'write \"hello there\\n\"',\n  \"close-stdin\",\n  \"expect-output 'hello there' within 10s\",\n  \"expect-exit 0 within 10s\",\n]\n",
    )
    .expect("write script");
    let (code, summary, _) = run_json(
        &dir.path().join("out"),
        &["-n", "3", "--script", script.to_str().expect("utf8")],
        &["stdin-echo"],
    );
    assert_eq!(code, 0, "{summary}");
    assert_eq!(summary["passes"], 3);
}

#[test]
fn a_step_that_times_out_fails_and_ends_the_run() {
    let dir = scratch();
    let (code, summary, _) = run_json(
        dir.path(),
        &[
            "-n",
            "1",
            "--timeout",
            "10m",
            "--step",
            "wait-output never-printed within 200ms",
        ],
        &["out:something else", "hang"],
    );
    assert_eq!(code, 1);
    assert_eq!(summary["failures_by_kind"]["script"], 1);
    let text = summary["signatures"][0]["text"].as_str().expect("text");
    assert!(text.contains("no line matched in time"), "{text}");
}

#[test]
fn script_errors_are_located_before_anything_runs() {
    let dir = scratch();
    let out = dir.path().join("out");
    let output = run_fixture(
        &out,
        &["--step", "wait-output ready", "--step", "signal SIGBOGUS"],
        &[],
    );
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("--step 2, column 8: 'SIGBOGUS' is not a signal"),
        "{stderr}"
    );
    assert!(!out.exists());

    let script = dir.path().join("bad.toml");
    std::fs::write(&script, "steps = [\n  \"sleep 5ms..1ms\",\n]\n").expect("write");
    let output = run_fixture(&out, &["--script", script.to_str().expect("utf8")], &[]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("bad.toml line 2, column 10"), "{stderr}");
    assert!(stderr.contains("backwards"), "{stderr}");

    for (step, expected) in [
        ("launch rockets", "unknown step 'launch'"),
        ("expect-output (x within 1s", "invalid regex"),
        ("sleep 1..", "not a duration"),
    ] {
        let output = run_fixture(&out, &["--step", step], &[]);
        assert_eq!(output.status.code(), Some(2), "{step}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(expected), "{step}: {stderr}");
    }
}
