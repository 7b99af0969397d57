//! Integration tests of `flakehunt ingest` and `flakehunt search` on CI artifacts the tests
//! generate: JUnit from nextest and pytest, `go test -json` streams, and plain logs laid out like
//! Go's fetchlogs cache.

mod common;

use std::path::Path;

use common::*;

const NEXTEST_JUNIT: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<testsuites name="nextest-run" tests="3" failures="1" errors="0" uuid="45c50b5f" timestamp="2026-11-20T10:00:00.000+00:00" time="1.20">
    <testsuite name="mycrate::integration" tests="3" disabled="0" errors="0" failures="1">
        <testcase name="signals::ctrl_handler" classname="mycrate::integration" timestamp="2026-11-20T10:00:00.100+00:00" time="0.52">
            <failure type="test failure">thread &apos;signals::ctrl_handler&apos; panicked at tests/signals.rs:42:5:
FAILURE: No signal received after 5.002s</failure>
            <system-out></system-out>
            <system-err>thread &apos;signals::ctrl_handler&apos; panicked at tests/signals.rs:42:5:
FAILURE: No signal received after 5.002s
note: run with `RUST_BACKTRACE=1`</system-err>
        </testcase>
        <testcase name="signals::flaky_once" classname="mycrate::integration" time="0.31">
            <flakyFailure type="test failure" message="assertion failed">
                <stackTrace>thread &apos;signals::flaky_once&apos; panicked at tests/signals.rs:77:9:
assertion `left == right` failed
  left: 1
 right: 2</stackTrace>
                <system-out></system-out>
                <system-err>thread &apos;signals::flaky_once&apos; panicked at tests/signals.rs:77:9:
assertion `left == right` failed</system-err>
            </flakyFailure>
        </testcase>
        <testcase name="basics::adds" classname="mycrate::integration" time="0.01"/>
    </testsuite>
</testsuites>
"#;

const PYTEST_JUNIT: &str = r#"<?xml version="1.0" encoding="utf-8"?><testsuites><testsuite name="pytest" errors="0" failures="1" skipped="0" tests="2" time="0.210" timestamp="2026-11-21T09:00:00.000000" hostname="ci-7"><testcase classname="tests.test_worker" name="test_shutdown" time="0.105"><failure message="AssertionError: FAILURE: No signal received">def test_shutdown():
&gt;       assert got_signal(), "FAILURE: No signal received"
E       AssertionError: FAILURE: No signal received

tests/test_worker.py:12: AssertionError</failure></testcase><testcase classname="tests.test_worker" name="test_start" time="0.100" /></testsuite></testsuites>"#;

fn go_test_json() -> String {
    let lines = [
        r#"{"Time":"2021-04-16T03:16:05Z","Action":"run","Package":"runtime","Test":"TestLibraryCtrlHandler"}"#,
        r#"{"Time":"2021-04-16T03:16:11Z","Action":"output","Package":"runtime","Test":"TestLibraryCtrlHandler","Output":"--- FAIL: TestLibraryCtrlHandler (6.17s)\n"}"#,
        r#"{"Time":"2021-04-16T03:16:11Z","Action":"output","Package":"runtime","Test":"TestLibraryCtrlHandler","Output":"    signal_windows_test.go:205: Program exited with error: exit status 1\n"}"#,
        r#"{"Time":"2021-04-16T03:16:11Z","Action":"output","Package":"runtime","Test":"TestLibraryCtrlHandler","Output":"        FAILURE: No signal received\n"}"#,
        r#"{"Time":"2021-04-16T03:16:11Z","Action":"fail","Package":"runtime","Test":"TestLibraryCtrlHandler","Elapsed":6.17}"#,
        r#"{"Time":"2021-04-16T03:16:11Z","Action":"run","Package":"runtime","Test":"TestOther"}"#,
        r#"{"Time":"2021-04-16T03:16:12Z","Action":"pass","Package":"runtime","Test":"TestOther","Elapsed":0.5}"#,
        r#"{"Time":"2021-04-16T03:16:12Z","Action":"fail","Package":"runtime","Elapsed":52.447}"#,
    ];
    lines.join("\n") + "\n"
}

const BUILDER_LOG: &str = "\
##### Testing packages.
ok  \tarchive/tar\t0.5s
--- FAIL: TestLibraryCtrlHandler (6.32s)
    signal_windows_test.go:205: Program exited with error: exit status 1
        FAILURE: No signal received
FAIL
FAIL\truntime\t52.447s
";

fn write(path: &Path, content: &str) {
    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    std::fs::write(path, content).expect("write");
}

fn flakehunt_db(db: &Path) -> std::process::Command {
    let mut command = flakehunt();
    command.arg("--db").arg(db);
    command
}

#[test]
fn artifacts_become_searchable_sightings() {
    let dir = scratch();
    let db = dir.path().join("h.db");
    let tree = dir.path().join("logs");
    write(
        &tree.join("2021-04-16T03:16:11-cf2396c/windows-amd64-2012"),
        BUILDER_LOG,
    );
    write(
        &tree.join("2021-04-19T21:03:30-0123abcd/windows-amd64-regabi/log.txt"),
        BUILDER_LOG.replace("6.32s", "6.10s").as_str(),
    );
    write(
        &tree.join("2021-04-18T10:00:00-77aa88b/linux-amd64/test.json"),
        &go_test_json(),
    );
    let junit = dir.path().join("junit");
    write(&junit.join("nextest.xml"), NEXTEST_JUNIT);
    write(&junit.join("pytest.xml"), PYTEST_JUNIT);

    let output = flakehunt_db(&db)
        .args(["ingest", "--json"])
        .arg(&tree)
        .output()
        .expect("ingest");
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).expect("json");
    assert_eq!(report["ingested"], 3);
    let output = flakehunt_db(&db)
        .args([
            "ingest",
            "--json",
            "--platform",
            "ci-linux",
            "--commit",
            "feedbeef",
            "--date",
            "2026-11-20",
        ])
        .arg(&junit)
        .output()
        .expect("ingest");
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).expect("json");
    assert_eq!(report["ingested"], 2);

    // Re-ingesting the same content adds nothing.
    let output = flakehunt_db(&db)
        .args(["ingest", "--json"])
        .arg(&tree)
        .arg(&junit)
        .output()
        .expect("ingest");
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).expect("json");
    assert_eq!(report["ingested"], 0);
    assert_eq!(report["duplicates"], 5);

    let output = flakehunt_db(&db)
        .args(["search", "--json", "No signal received"])
        .output()
        .expect("search");
    assert_eq!(output.status.code(), Some(0));
    let found: serde_json::Value = serde_json::from_slice(&output.stdout).expect("json");
    assert_eq!(found["used_index"], true);
    let groups = found["groups"].as_array().expect("groups");
    let total: u64 = groups
        .iter()
        .map(|g| g["count"].as_u64().expect("count"))
        .sum();
    // Two builder logs, one go test stream, nextest and pytest.
    assert_eq!(total, 5, "{groups:#?}");
    // The two builder logs differ only in the duration, and the go test stream reports the same
    // failure line, so the three cluster together, in date order.
    let builder_group = groups
        .iter()
        .find(|g| {
            g["platforms"]
                .as_array()
                .expect("platforms")
                .iter()
                .any(|p| p == "windows-amd64-2012")
        })
        .expect("a group seen on the Windows builder");
    assert_eq!(builder_group["count"], 3, "{builder_group:#}");
    assert_eq!(
        builder_group["platforms"],
        serde_json::json!(["linux-amd64", "windows-amd64-2012", "windows-amd64-regabi"])
    );
    assert_eq!(builder_group["first_seen"], "2021-04-16T03:16:11Z");
    assert_eq!(builder_group["last_seen"], "2021-04-19T21:03:30Z");
    assert_eq!(
        builder_group["commits"],
        serde_json::json!(["cf2396c", "77aa88b", "0123abcd"])
    );

    // Filters.
    let output = flakehunt_db(&db)
        .args([
            "search",
            "--json",
            "--since",
            "2021-04-17",
            "--platform",
            "windows-amd64-regabi",
            "No signal",
        ])
        .output()
        .expect("search");
    let found: serde_json::Value = serde_json::from_slice(&output.stdout).expect("json");
    assert_eq!(found["groups"].as_array().expect("groups").len(), 1);
    assert_eq!(found["groups"][0]["count"], 1);
    let output = flakehunt_db(&db)
        .args(["search", "--json", "--test", "flaky_once", "assertion"])
        .output()
        .expect("search");
    let found: serde_json::Value = serde_json::from_slice(&output.stdout).expect("json");
    assert_eq!(found["groups"][0]["count"], 1);
    let output = flakehunt_db(&db)
        .args([
            "search",
            "--json",
            "--omit",
            "windows",
            "--omit",
            "pytest|test_worker",
            "No signal received",
        ])
        .output()
        .expect("search");
    let found: serde_json::Value = serde_json::from_slice(&output.stdout).expect("json");
    let total: u64 = found["groups"]
        .as_array()
        .expect("groups")
        .iter()
        .map(|g| g["count"].as_u64().expect("n"))
        .sum();
    assert!(total < 5);

    // A pattern with no literal falls back to scanning every sighting.
    let output = flakehunt_db(&db)
        .args(["search", "--json", "(?i)failure: no signal"])
        .output()
        .expect("search");
    let found: serde_json::Value = serde_json::from_slice(&output.stdout).expect("json");
    assert_eq!(found["used_index"], false);
    assert!(!found["groups"].as_array().expect("groups").is_empty());

    // Text output and the triage view.
    let output = flakehunt_db(&db)
        .args(["search", "No signal received"])
        .output()
        .expect("search");
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(text.contains("windows-amd64-2012"), "{text}");
    assert!(text.contains("> "), "{text}");
    let output = flakehunt_db(&db)
        .args(["search", "--triage", "--by", "day", "--periods", "10"])
        .output()
        .expect("triage");
    assert_eq!(output.status.code(), Some(0));
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(text.contains("trend"), "{text}");
    let output = flakehunt_db(&db)
        .args(["search", "--triage", "--json"])
        .output()
        .expect("triage");
    let view: serde_json::Value = serde_json::from_slice(&output.stdout).expect("json");
    assert_eq!(view["periods"].as_array().expect("periods").len(), 12);

    let output = flakehunt_db(&db)
        .args(["search", "no such failure anywhere"])
        .output()
        .expect("search");
    assert_eq!(output.status.code(), Some(1));
}

#[test]
fn malformed_files_are_reported_and_skipped() {
    let dir = scratch();
    let db = dir.path().join("h.db");
    let files = dir.path().join("in");
    write(&files.join("good.xml"), PYTEST_JUNIT);
    write(&files.join("bad.xml"), "<?xml version=\"1.0\"?>\n<testsuites>\n  <testsuite name=\"x\">\n    <testcase name=\"a\"></wrong>\n");
    write(&files.join("bad.json"), "{\"Action\":\"run\",\"Package\":\"p\",\"Test\":\"T\"}\n{\"Action\": \"fail\", \"Package\": \n");
    let output = flakehunt_db(&db)
        .args(["ingest", "--json"])
        .arg(&files)
        .output()
        .expect("ingest");
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("bad.xml:4:"),
        "position of the XML error: {stderr}"
    );
    assert!(
        stderr.contains("bad.json:2:"),
        "position of the JSON error: {stderr}"
    );
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).expect("json");
    assert_eq!(report["ingested"], 1);
    assert_eq!(report["errors"].as_array().expect("errors").len(), 2);

    let output = flakehunt_db(&db)
        .args(["ingest", "--date", "someday"])
        .arg(&files)
        .output()
        .expect("ingest");
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("is not a date"));
}

#[test]
fn campaign_failures_are_found_next_to_ci_sightings() {
    let dir = scratch();
    let db = dir.path().join("h.db");
    write(
        &dir.path()
            .join("ci/2021-04-16T03:16:11-cf2396c/windows-amd64-2012"),
        BUILDER_LOG,
    );
    let output = flakehunt_db(&db)
        .arg("ingest")
        .arg(dir.path().join("ci"))
        .output()
        .expect("ingest");
    assert_eq!(output.status.code(), Some(0));
    let output = flakehunt_db(&db)
        .args(["run", "--quiet", "-n", "4", "--out"])
        .arg(dir.path().join("out"))
        .arg("--")
        .arg(fixture())
        .args(["err:FAILURE: No signal received", "fail-on:1"])
        .output()
        .expect("run");
    assert_eq!(output.status.code(), Some(1));
    let output = flakehunt_db(&db)
        .args(["search", "--json", "No signal received"])
        .output()
        .expect("search");
    let found: serde_json::Value = serde_json::from_slice(&output.stdout).expect("json");
    let groups = found["groups"].as_array().expect("groups");
    let campaigns: u64 = groups
        .iter()
        .map(|g| g["from_campaigns"].as_u64().expect("n"))
        .sum();
    let total: u64 = groups.iter().map(|g| g["count"].as_u64().expect("n")).sum();
    assert_eq!(campaigns, 1);
    assert_eq!(total, 2);
}
