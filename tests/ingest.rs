//! Integration tests of `flakehunt ingest` and `flakehunt search` on CI artifacts the tests
//! generate: JUnit from nextest and pytest, `go test -json` streams, and plain logs laid out like
//! Go's fetchlogs cache.

mod common;

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};

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
    // Not an event cut off mid-write (those are kept, see below) but a malformed one.
    write(&files.join("bad.json"), "{\"Action\":\"run\",\"Package\":\"p\",\"Test\":\"T\"}\n{\"Action\": \"fail\", \"Package\": 7}\n");
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

/// Sightings stored in `db` from files of `format`: (test, message, snippet) in file order.
fn stored(db: &Path, format: &str) -> Vec<(String, String, String)> {
    let conn = rusqlite::Connection::open(db).expect("open db");
    let mut statement = conn
        .prepare("SELECT test, message, snippet FROM sightings WHERE format = ?1 ORDER BY id")
        .expect("query");
    statement
        .query_map([format], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))
        .expect("rows")
        .collect::<Result<_, _>>()
        .expect("read rows")
}

#[test]
fn files_cut_off_mid_write_keep_what_is_complete() {
    let dir = scratch();
    let db = dir.path().join("h.db");
    let files = dir.path().join("in");
    // A go test -json stream whose job was killed in the middle of an event.
    let mut stream = go_test_json();
    stream.push_str(r#"{"Time":"2021-04-16T03:16:13Z","Action":"output","Package":"runtime","Te"#);
    write(&files.join("cut.json"), &stream);
    // A JUnit report cut inside its second test case.
    let cut_at = PYTEST_JUNIT
        .find("<testcase classname=\"tests.test_worker\" name=\"test_start\"")
        .expect("second case")
        + 30;
    write(&files.join("cut.xml"), &PYTEST_JUNIT[..cut_at]);
    let output = flakehunt_db(&db)
        .args(["ingest", "--json"])
        .arg(&files)
        .output()
        .expect("ingest");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).expect("json");
    assert_eq!(report["ingested"], 2);
    assert_eq!(report["errors"], serde_json::json!([]));
    let notes: Vec<&str> = stderr.lines().collect();
    assert_eq!(notes.len(), 2, "{stderr}");
    assert!(
        notes[0].starts_with("flakehunt: note: ")
            && notes[0].contains("cut.json:9:")
            && notes[0].contains("cut off mid-write"),
        "{stderr}"
    );
    let cut_line = PYTEST_JUNIT[..cut_at].lines().count();
    assert!(
        notes[1].contains(&format!("cut.xml:{cut_line}:"))
            && notes[1].contains("ends early")
            && notes[1].contains("kept the 1 test case(s)"),
        "{stderr}"
    );
    let go = stored(&db, "go-test-json");
    assert_eq!(go.len(), 1);
    assert_eq!(go[0].0, "runtime.TestLibraryCtrlHandler");
    let junit = stored(&db, "junit");
    assert_eq!(junit.len(), 1);
    assert_eq!(junit[0].0, "tests.test_worker.test_shutdown");
    let output = flakehunt_db(&db)
        .args(["search", "--json", "No signal received"])
        .output()
        .expect("search");
    let found: serde_json::Value = serde_json::from_slice(&output.stdout).expect("json");
    let total: u64 = found["groups"]
        .as_array()
        .expect("groups")
        .iter()
        .map(|g| g["count"].as_u64().expect("count"))
        .sum();
    assert_eq!(total, 2);
}

/// Runs `command` to the end; its exit code, its stderr and its peak RSS in KiB. The child is
/// waited for by pid, so that no other test's children count. It is started by a plain fork
/// (not `posix_spawn`, whose child shares this process's memory until exec and so inherits its
/// peak): its figure includes this process's resident memory at the fork, but not its past
/// peaks.
#[expect(
    clippy::zombie_processes,
    reason = "the child is reaped by wait4, for its rusage"
)]
fn run_measured(mut command: Command) -> (Option<i32>, String, u64) {
    use std::os::unix::process::CommandExt;
    // SAFETY: the closure does nothing, so it is async-signal-safe; it only makes std fork.
    unsafe {
        command.pre_exec(|| Ok(()));
    }
    let mut child = command
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .expect("stderr pipe")
        .read_to_string(&mut stderr)
        .expect("read stderr");
    let pid = libc::pid_t::try_from(child.id()).expect("pid");
    let mut status = 0;
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: wait4 fills `status` and `usage` for our own child, not waited for before.
    let (waited, usage) = unsafe {
        let waited = libc::wait4(pid, &mut status, 0, usage.as_mut_ptr());
        (waited, usage.assume_init())
    };
    assert_eq!(waited, pid, "wait4: {}", std::io::Error::last_os_error());
    let code = libc::WIFEXITED(status).then(|| libc::WEXITSTATUS(status));
    (code, stderr, u64::try_from(usage.ru_maxrss).expect("KiB"))
}

/// Writes `before`, `count` times `byte`, then `after` to `path`, never holding the whole in
/// memory (which would count against the child measured after).
fn write_padded(path: &Path, before: &str, byte: u8, count: usize, after: &str) {
    use std::io::Write;
    let mut file = std::io::BufWriter::new(std::fs::File::create(path).expect("create"));
    file.write_all(before.as_bytes()).expect("write");
    let chunk = [byte; 64 * 1024];
    let mut left = count;
    while left > 0 {
        let n = left.min(chunk.len());
        file.write_all(&chunk[..n]).expect("write");
        left -= n;
    }
    file.write_all(after.as_bytes()).expect("write");
    file.flush().expect("flush");
}

#[test]
fn oversize_fields_are_cut_in_bounded_memory() {
    const BIG: usize = 40 << 20;
    let dir = scratch();
    let db = dir.path().join("h.db");
    let files = dir.path().join("in");
    std::fs::create_dir_all(&files).expect("mkdir");
    // One 40 MiB attribute, one 40 MiB go test -json event, one 40 MiB log line.
    write_padded(
        &files.join("a.xml"),
        "<testsuites><testsuite name=\"s\"><testcase name=\"t\" classname=\"c\">\
         <failure message=\"",
        b'A',
        BIG,
        "\">panic: boom</failure></testcase></testsuite></testsuites>\n",
    );
    write_padded(
        &files.join("b.json"),
        "{\"Action\":\"run\",\"Package\":\"p\",\"Test\":\"TestB\"}\n\
         {\"Action\":\"output\",\"Package\":\"p\",\"Test\":\"TestB\",\"Output\":\"",
        b'B',
        BIG,
        "\\n\"}\n{\"Action\":\"fail\",\"Package\":\"p\",\"Test\":\"TestB\",\"Elapsed\":1}\n",
    );
    write_padded(
        &files.join("c.log"),
        "--- FAIL: TestC (1.00s)\n    c_test.go:3: ",
        b'C',
        BIG,
        "\nFAIL\n",
    );
    let mut command = flakehunt_db(&db);
    command.arg("ingest").arg(&files);
    let (code, stderr, peak_kib) = run_measured(command);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(stderr, "");
    // Reading any one of the files whole would take 40 MiB; reading the attribute as quick-xml
    // does unbounded took four times that.
    assert!(peak_kib < 32 * 1024, "peak RSS {peak_kib} KiB");

    let junit = stored(&db, "junit");
    let message = &junit[0].1;
    assert!(message.starts_with("AAAA"), "{message:.40}");
    assert!(message.ends_with("A…[... 39.9 MiB cut ...]"), "{message}");
    assert!(message.len() <= 1024);
    assert_eq!(junit[0].2, "panic: boom");
    for (format, test, letter) in [
        ("go-test-json", "p.TestB", 'B'),
        ("plain-log", "TestC", 'C'),
    ] {
        let found = stored(&db, format);
        assert_eq!(found[0].0, test);
        let snippet = &found[0].2;
        let lines: Vec<&str> = snippet.lines().collect();
        let note = lines
            .iter()
            .position(|l| l.starts_with("[... 39.") && l.ends_with(" MiB cut ...]"))
            .unwrap_or_else(|| panic!("a cut note in {snippet}"));
        assert!(
            lines[note - 1].ends_with(&format!("{letter}…")),
            "{snippet}"
        );
        assert!(lines[note + 1].starts_with(letter), "{snippet}");
        assert!(snippet.len() < 4096);
    }
}

/// A sighting's date, platform, commit and source.
type Provenance = (String, Option<String>, Option<String>, Option<String>);

/// The provenance of every sighting ingested from files of `format`.
fn provenance(db: &Path, format: &str) -> Vec<Provenance> {
    let conn = rusqlite::Connection::open(db).expect("open db");
    let mut statement = conn
        .prepare(
            "SELECT date, platform, commit_id, source FROM sightings WHERE format = ?1 ORDER BY id",
        )
        .expect("query");
    statement
        .query_map([format], |row| {
            Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?))
        })
        .expect("rows")
        .collect::<Result<_, _>>()
        .expect("read rows")
}

#[test]
fn dated_layouts_give_metadata_and_replace_corrects_it() {
    let dir = scratch();
    let db = dir.path().join("h.db");
    let tree = dir.path().join("ci");
    write(
        &tree.join("2021-04-16/linux-amd64/junit.xml"),
        NEXTEST_JUNIT,
    );
    write(
        &tree.join("2021-04-17-cf2396c/darwin-arm64/report.xml"),
        PYTEST_JUNIT,
    );
    let ingest = |args: &[&str], path: &Path| {
        let output = flakehunt_db(&db)
            .args(["ingest", "--json"])
            .args(args)
            .arg(path)
            .output()
            .expect("ingest");
        assert_eq!(
            output.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let report: serde_json::Value = serde_json::from_slice(&output.stdout).expect("json");
        (report, String::from_utf8_lossy(&output.stderr).into_owned())
    };
    let (report, _) = ingest(&[], &tree);
    assert_eq!(report["ingested"], 2);
    let nextest = provenance(&db, "junit");
    let dated: Vec<_> = nextest
        .iter()
        .map(|(date, platform, commit, _)| (date.as_str(), platform.as_deref(), commit.as_deref()))
        .collect();
    assert!(
        dated.contains(&("2021-04-16T00:00:00Z", Some("linux-amd64"), None)),
        "{dated:?}"
    );
    assert!(
        dated.contains(&(
            "2021-04-17T00:00:00Z",
            Some("darwin-arm64"),
            Some("cf2396c")
        )),
        "{dated:?}"
    );

    // Corrected flags without --replace change nothing, and say how to.
    let file = tree.join("2021-04-16/linux-amd64/junit.xml");
    let fix = [
        "--platform",
        "linux-arm64",
        "--date",
        "2021-04-20",
        "--source",
        "ci#7",
    ];
    let (report, stderr) = ingest(&fix, &file);
    assert_eq!(
        (report["duplicates"].as_u64(), report["updated"].as_u64()),
        (Some(1), Some(0))
    );
    assert!(stderr.contains("add --replace"), "{stderr}");
    assert_eq!(provenance(&db, "junit"), nextest);

    let mut with_replace = fix.to_vec();
    with_replace.push("--replace");
    let (report, _) = ingest(&with_replace, &file);
    assert_eq!(report["updated"], 1);
    let after = provenance(&db, "junit");
    let corrected: Vec<_> = after
        .iter()
        .filter(|(_, platform, _, _)| platform.as_deref() == Some("linux-arm64"))
        .collect();
    assert_eq!(report["updated_sightings"], corrected.len());
    assert!(!corrected.is_empty());
    for (date, _, commit, source) in &corrected {
        assert_eq!(date, "2021-04-20T00:00:00Z");
        assert_eq!(
            commit, &None,
            "a field no flag or path gives keeps its value"
        );
        assert_eq!(source.as_deref(), Some("ci#7"));
    }
    // The other file was not touched, and nothing was added.
    assert_eq!(after.len(), nextest.len());
    assert!(after
        .iter()
        .any(|(_, platform, _, _)| platform.as_deref() == Some("darwin-arm64")));
    // Replacing with the same values again changes nothing.
    let (report, _) = ingest(&with_replace, &file);
    assert_eq!(
        (report["duplicates"].as_u64(), report["updated"].as_u64()),
        (Some(1), Some(0))
    );
    let found = flakehunt_db(&db)
        .args(["search", "No signal", "--platform", "linux-arm64", "--json"])
        .output()
        .expect("search");
    assert_eq!(found.status.code(), Some(0));
}

#[test]
fn triage_calls_a_signature_gone_after_quiet_periods() {
    let dir = scratch();
    let db = dir.path().join("h.db");
    let old = "--- FAIL: TestPoolWakeup (0.10s)\n    pool_test.go:88: lost wakeup in pool\nFAIL\n";
    for (date, platform, log) in [
        ("2021-03-01", "linux-386", old),
        ("2021-04-02", "linux-amd64", BUILDER_LOG),
        (
            "2021-04-16",
            "linux-amd64",
            &BUILDER_LOG.replace("6.32s", "6.40s"),
        ),
    ] {
        let path = dir.path().join(format!("{date}/{platform}"));
        write(&path, log);
        let output = flakehunt_db(&db)
            .arg("ingest")
            .arg(&path)
            .output()
            .expect("ingest");
        assert_eq!(output.status.code(), Some(0));
    }
    let triage = |args: &[&str]| {
        let output = flakehunt_db(&db)
            .args(["search", "--triage", "--json"])
            .args(args)
            .output()
            .expect("triage");
        assert_eq!(
            output.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        serde_json::from_slice::<serde_json::Value>(&output.stdout).expect("json")
    };
    let trend_of = |view: &serde_json::Value, text: &str| {
        let rows = view["rows"].as_array().expect("rows");
        let row = rows
            .iter()
            .find(|row| row["text"].as_str().is_some_and(|t| t.contains(text)))
            .unwrap_or_else(|| panic!("no {text} in {view}"));
        (
            row["trend"].as_str().unwrap_or("").to_string(),
            row["quiet_periods"].as_u64(),
        )
    };
    // Seen once, seven weekly periods before the newest sighting's: gone, not steady.
    let weekly = triage(&[]);
    assert_eq!(weekly["gone_after"], 3);
    assert_eq!(
        trend_of(&weekly, "TestPoolWakeup"),
        ("gone".to_string(), Some(7))
    );
    assert_eq!(trend_of(&weekly, "signal_windows_test").1, Some(0));
    // By day, quiet periods are counted past the window's start.
    let daily = triage(&["--by", "day", "--gone-after", "15"]);
    assert_eq!(
        trend_of(&daily, "TestPoolWakeup"),
        ("gone".to_string(), Some(46))
    );
    assert_eq!(
        trend_of(&daily, "signal_windows_test"),
        ("steady".to_string(), Some(0))
    );
    let patient = triage(&["--gone-after", "8"]);
    assert_ne!(trend_of(&patient, "TestPoolWakeup").0, "gone");
    let text = flakehunt_db(&db)
        .args(["search", "--triage"])
        .output()
        .expect("triage");
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.contains("gone: not seen for 3 weeks (--gone-after)"),
        "{text}"
    );
    let bad = flakehunt_db(&db)
        .args(["search", "--triage", "--gone-after", "0"])
        .output()
        .expect("triage");
    assert_eq!(bad.status.code(), Some(2));
}
