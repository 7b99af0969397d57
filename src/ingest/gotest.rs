//! `go test -json` event streams (test2json): output is gathered per test and per package, and
//! failing tests and packages that failed as a whole (timeouts, panics, build failures) become
//! sightings.

use std::borrow::Cow;
use std::collections::HashMap;
use std::io::BufRead;

use serde::Deserialize;

use super::limits::{
    cut_note, human_size, partial_char_start, without_partial_char, Capped, Lines,
};
use super::snippet::split_lines;
use super::{
    first_telling, outcome, Failure, Format, Located, ParseResult, ParsedArtifact, Sighting,
};

/// One test2json event. Unknown fields (`Time`, `FailedBuild`...) are ignored.
#[derive(Debug, Deserialize)]
struct TestEvent {
    #[serde(rename = "Action")]
    action: String,
    #[serde(rename = "Package", default)]
    package: Option<String>,
    #[serde(rename = "Test", default)]
    test: Option<String>,
    #[serde(rename = "Output", default)]
    output: Option<String>,
    #[serde(rename = "Elapsed", default)]
    elapsed: Option<f64>,
    /// Set instead of `Package` on `build-output` and `build-fail` events (Go 1.24+).
    #[serde(rename = "ImportPath", default)]
    import_path: Option<String>,
}

/// Output of a test that has not finished yet.
#[derive(Debug, Default)]
struct RunningTest {
    /// Order of first appearance within the package.
    seq: u64,
    output: Capped,
}

/// What is known about one package so far.
#[derive(Debug, Default)]
struct PackageState {
    /// Output not attributed to any test (including stray non-JSON lines).
    output: Capped,
    /// Tests seen but not finished, by name.
    running: HashMap<String, RunningTest>,
    next_seq: u64,
    /// Tests of this package that failed so far.
    failed_tests: u64,
}

impl PackageState {
    /// The output buffer of a running test, created on first use.
    fn test(&mut self, name: &str) -> &mut RunningTest {
        let next_seq = &mut self.next_seq;
        self.running.entry(name.to_string()).or_insert_with(|| {
            let seq = *next_seq;
            *next_seq += 1;
            RunningTest {
                seq,
                output: Capped::default(),
            }
        })
    }
}

/// Most notes about skipped lines kept for one stream; the rest are counted in one more.
const MAX_NOTES: usize = 10;

/// Parses a `go test -json` stream.
///
/// A test with a `fail` action is a sighting named `Package.Test` (subtests such as `TestA/sub`
/// and their parents are distinct tests); its outcome is `timeout` if its output contains
/// `panic: test timed out`, `panic` if it contains a top-level `panic: ` or `fatal error: `
/// line, and `fail` otherwise. A package-level `fail` is a sighting named after the package
/// when its output (plus that of its unfinished tests) shows a timeout or panic, or when none
/// of its tests failed (a build failure, a failing `TestMain`...). A package that never
/// finishes before the stream ends (a killed job) is a sighting when its output shows a
/// timeout or panic.
///
/// Lines that are not JSON (build errors printed between events) are kept as output of the
/// package named by the preceding `# package` header line, else of the last package seen. A
/// line that stops mid-event (a CI log cut off mid-write) is skipped with a note, as is an
/// oversize event that cutting its middle out does not leave valid; any other line that starts
/// with `{` but is not a valid event is an error. Invalid UTF-8 is replaced with U+FFFD.
///
/// Memory stays bounded: lines are read one at a time, and a line or a test's output past
/// 256 KiB keeps its first and last 128 KiB around a cut note.
pub(crate) fn parse(input: impl BufRead) -> ParseResult {
    let mut packages: HashMap<String, PackageState> = HashMap::new();
    let mut last_package: Option<String> = None;
    let mut header_package: Option<String> = None;
    let mut result = ParsedArtifact {
        format: Format::GoTestJson,
        sightings: Vec::new(),
        passed: 0,
        failed: 0,
        skipped: 0,
        passed_tests: Vec::new(),
        skipped_tests: Vec::new(),
        notes: Vec::new(),
    };
    let mut notes = Vec::new();
    let mut skipped_lines = 0usize;
    let mut lines = Lines::new(input);
    let mut number = 0u64;

    loop {
        let raw_line = match lines.next_line() {
            Ok(Some(line)) => line,
            Ok(None) => break,
            Err(e) => {
                return Err(Located::line_column(
                    number + 1,
                    1,
                    format!("cannot read the file: {e}"),
                ))
            }
        };
        number += 1;
        let cut = raw_line.cut();
        let is_json = raw_line.parts().0.trim_ascii_start().starts_with(b"{");
        let text = if cut > 0 && is_json {
            Cow::Owned(splice_event(raw_line))
        } else {
            raw_line.joined()
        };
        let raw_line: &[u8] = &text;
        let line = raw_line.strip_suffix(b"\r").unwrap_or(raw_line);
        let indent = line.len() - line.trim_ascii_start().len();
        let trimmed = line.trim_ascii();
        if trimmed.is_empty() {
            continue;
        }
        if !trimmed.starts_with(b"{") {
            if let Some(header) = trimmed.strip_prefix(b"# ") {
                header_package = Some(package_of_import_path(&String::from_utf8_lossy(header)));
            }
            let target = header_package.clone().or_else(|| last_package.clone());
            if let Some(package) = target {
                let state = packages.entry(package).or_default();
                state.output.push(line);
                state.output.push(b"\n");
            }
            continue;
        }

        let event: TestEvent = match parse_event(trimmed) {
            Ok(event) => event,
            Err(e) if cut > 0 || e.is_eof() => {
                skipped_lines += 1;
                if notes.len() < MAX_NOTES {
                    notes.push(if cut > 0 {
                        // Columns of the cut-down line would mean nothing.
                        Located::line_column(
                            number,
                            1,
                            format!(
                                "skipped an event of more than {} that is still not valid with \
                                 its middle cut out ({e}); kept the rest of the stream",
                                human_size(cut)
                            ),
                        )
                    } else {
                        Located::line_column(
                            number,
                            (indent + e.column().max(1)) as u64,
                            format!(
                                "skipped an event cut off mid-write ({e}), as when a CI job is \
                                 killed; kept the rest of the stream"
                            ),
                        )
                    });
                }
                continue;
            }
            Err(e) => {
                return Err(Located::line_column(
                    number,
                    (indent + e.column().max(1)) as u64,
                    format!("malformed go test -json event: {e}"),
                ))
            }
        };
        header_package = None;

        let package = match (&event.package, &event.import_path) {
            (Some(package), _) => package.clone(),
            (None, Some(import_path)) => package_of_import_path(import_path),
            (None, None) => String::new(),
        };
        last_package = Some(package.clone());
        let state = packages.entry(package.clone()).or_default();
        let test = event.test.as_deref().filter(|t| !t.is_empty());

        match (event.action.as_str(), test) {
            ("output" | "build-output", None) => {
                if let Some(output) = &event.output {
                    state.output.push(output.as_bytes());
                }
            }
            ("output", Some(test)) => {
                if let Some(output) = &event.output {
                    state.test(test).output.push(output.as_bytes());
                }
            }
            ("run" | "pause" | "cont", Some(test)) => {
                state.test(test);
            }
            ("pass", Some(test)) => {
                state.running.remove(test);
                result.passed += 1;
                result.passed_tests.push(format!("{package}.{test}"));
            }
            ("skip", Some(test)) => {
                state.running.remove(test);
                result.skipped += 1;
                result.skipped_tests.push(format!("{package}.{test}"));
            }
            ("fail", Some(test)) => {
                let output = state
                    .running
                    .remove(test)
                    .map(|t| t.output.finish())
                    .unwrap_or_default();
                state.failed_tests += 1;
                result.failed += 1;
                result.sightings.push(test_sighting(
                    format!("{package}.{test}"),
                    &output,
                    event.elapsed,
                ));
            }
            ("fail", None) => {
                if let Some(sighting) = package_sighting(&package, state, event.elapsed, true) {
                    result.failed += 1;
                    result.sightings.push(sighting);
                }
                packages.remove(&package);
            }
            ("pass" | "skip", None) => {
                packages.remove(&package);
            }
            _ => {}
        }
    }
    if skipped_lines > notes.len() {
        notes.push(Located::line_column(
            number,
            1,
            format!(
                "skipped {} more event(s) cut off or oversize, not noted one by one",
                skipped_lines - notes.len()
            ),
        ));
    }

    // Packages cut off by the end of the stream (a killed CI job): report those whose output
    // shows a timeout or panic.
    let mut unfinished: Vec<(String, PackageState)> = packages.into_iter().collect();
    unfinished.sort_by(|a, b| a.0.cmp(&b.0));
    for (package, mut state) in unfinished {
        if let Some(sighting) = package_sighting(&package, &mut state, None, false) {
            result.failed += 1;
            result.sightings.push(sighting);
        }
    }
    Ok((result, notes))
}

/// An event from one line of JSON, its invalid UTF-8 (which test2json never writes, but a
/// damaged file may hold) replaced.
fn parse_event(json: &[u8]) -> serde_json::Result<TestEvent> {
    match std::str::from_utf8(json) {
        Ok(text) => serde_json::from_str(text),
        Err(_) => serde_json::from_str(&String::from_utf8_lossy(json)),
    }
}

/// An oversize event line with its middle replaced by a cut note, written as JSON string
/// content: valid when the middle lies inside one string (the `Output` of a huge line), which
/// is what makes an event huge. The cuts avoid splitting an escape sequence or a UTF-8
/// character; whether the result is valid is up to the JSON parser.
fn splice_event(line: &mut Capped) -> Vec<u8> {
    let cut = line.cut();
    let (head, tail) = line.parts();
    // An escape sequence is at most 6 bytes (`\uXXXX`): a position with no backslash in the
    // 5 bytes before it is not inside one.
    let clear_of_escape =
        |bytes: &[u8], at: usize| !bytes[at.saturating_sub(5)..at].contains(&b'\\');
    let mut head_end = without_partial_char(head);
    while head_end > 0 && !clear_of_escape(head, head_end) {
        head_end -= 1;
    }
    head_end = without_partial_char(&head[..head_end]);
    let mut tail_start = 5.min(tail.len());
    while tail_start < tail.len() && !clear_of_escape(tail, tail_start) {
        tail_start += 1;
    }
    tail_start += partial_char_start(&tail[tail_start..]);
    let cut = cut + (head.len() - head_end + tail_start) as u64;
    let mut out = Vec::with_capacity(head_end + tail.len() - tail_start + 40);
    out.extend_from_slice(&head[..head_end]);
    out.extend_from_slice(b"\\n");
    out.extend_from_slice(cut_note(cut).as_bytes());
    out.extend_from_slice(b"\\n");
    out.extend_from_slice(&tail[tail_start..]);
    out
}

/// The package a `go list`-style import path belongs to: `example.com/p`, or for test builds
/// (`example.com/p_test [example.com/p.test]`) the package under test.
fn package_of_import_path(import_path: &str) -> String {
    let (plain, test_binary) = match import_path.split_once(" [") {
        Some((plain, rest)) => (
            plain,
            rest.trim_end().trim_end_matches(']').strip_suffix(".test"),
        ),
        None => (import_path, None),
    };
    test_binary.unwrap_or(plain).trim().to_string()
}

/// How a Go test binary's output says it ended: a timeout, a panic (or fatal runtime error),
/// or neither; with the line that says so.
pub(crate) fn classify(lines: &[&[u8]]) -> Option<(&'static str, usize)> {
    if let Some(i) = lines
        .iter()
        .position(|l| l.starts_with(b"panic: test timed out"))
    {
        return Some((outcome::TIMEOUT, i));
    }
    lines
        .iter()
        .position(|l| l.starts_with(b"panic: ") || l.starts_with(b"fatal error: "))
        .map(|i| (outcome::PANIC, i))
}

/// The first telling line of Go test output, preferring anything over the `--- FAIL:` verdict
/// line, which only repeats the test's name.
pub(crate) fn go_telling<'a>(lines: &[&'a [u8]]) -> Option<&'a [u8]> {
    let explanation: Vec<&[u8]> = lines
        .iter()
        .copied()
        .filter(|l| !l.trim_ascii_start().starts_with(b"--- FAIL:"))
        .collect();
    first_telling(&explanation).or_else(|| first_telling(lines))
}

/// The sighting of a failed test.
fn test_sighting(test: String, output: &[u8], elapsed: Option<f64>) -> Sighting {
    let lines = split_lines(output);
    let (outcome, telling) = match classify(&lines) {
        Some((outcome, i)) => (outcome, Some(lines[i])),
        None => (outcome::FAIL, go_telling(&lines)),
    };
    Failure {
        test,
        outcome,
        message: None,
        telling,
        lines: &lines,
        duration_s: elapsed,
    }
    .into_sighting()
}

/// The sighting of a package that failed as a whole (`failed`) or never finished, if it is
/// one (see [`parse`]): unfinished packages count only with a timeout or panic.
fn package_sighting(
    package: &str,
    state: &mut PackageState,
    elapsed: Option<f64>,
    failed: bool,
) -> Option<Sighting> {
    let mut unfinished: Vec<RunningTest> = state.running.drain().map(|(_, t)| t).collect();
    unfinished.sort_by_key(|t| t.seq);
    let mut output = Vec::new();
    for mut test in unfinished {
        test.output.append_to(&mut output);
    }
    std::mem::take(&mut state.output).append_to(&mut output);
    let lines = split_lines(&output);
    let (outcome, telling) = match classify(&lines) {
        Some((outcome, i)) => (outcome, Some(lines[i])),
        None if failed && state.failed_tests == 0 => (outcome::FAIL, go_telling(&lines)),
        None => return None,
    };
    Some(
        Failure {
            test: package.to_string(),
            outcome,
            message: None,
            telling,
            lines: &lines,
            duration_s: elapsed,
        }
        .into_sighting(),
    )
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::ingest::IngestError;
    use bstr::ByteSlice;

    fn parse_bytes(path: &Path, stream: &[u8]) -> Result<ParsedArtifact, IngestError> {
        crate::ingest::parse_as(Format::GoTestJson, path, stream)
    }

    fn parse_ok(stream: &str) -> ParsedArtifact {
        let parsed = parse_bytes(Path::new("test.json"), stream.as_bytes()).expect("valid stream");
        assert_eq!(parsed.notes, [], "a complete stream");
        parsed
    }

    const MIXED: &str = r#"{"Time":"2021-04-16T03:20:01.101Z","Action":"start","Package":"runtime"}
{"Time":"2021-04-16T03:20:01.202Z","Action":"run","Package":"runtime","Test":"TestGcSys"}
{"Time":"2021-04-16T03:20:01.202Z","Action":"output","Package":"runtime","Test":"TestGcSys","Output":"=== RUN   TestGcSys\n"}
{"Time":"2021-04-16T03:20:01.515Z","Action":"output","Package":"runtime","Test":"TestGcSys","Output":"--- PASS: TestGcSys (0.31s)\n"}
{"Time":"2021-04-16T03:20:01.515Z","Action":"pass","Package":"runtime","Test":"TestGcSys","Elapsed":0.31}
{"Time":"2021-04-16T03:20:01.516Z","Action":"run","Package":"runtime","Test":"TestLibraryCtrlHandler"}
{"Time":"2021-04-16T03:20:01.516Z","Action":"output","Package":"runtime","Test":"TestLibraryCtrlHandler","Output":"=== RUN   TestLibraryCtrlHandler\n"}
{"Time":"2021-04-16T03:20:01.517Z","Action":"run","Package":"runtime","Test":"TestSkipped"}
{"Time":"2021-04-16T03:20:01.517Z","Action":"output","Package":"runtime","Test":"TestSkipped","Output":"=== RUN   TestSkipped\n"}
{"Time":"2021-04-16T03:20:01.518Z","Action":"output","Package":"runtime","Test":"TestSkipped","Output":"    crash_test.go:33: skipping on windows\n"}
{"Time":"2021-04-16T03:20:01.518Z","Action":"output","Package":"runtime","Test":"TestSkipped","Output":"--- SKIP: TestSkipped (0.00s)\n"}
{"Time":"2021-04-16T03:20:01.518Z","Action":"skip","Package":"runtime","Test":"TestSkipped","Elapsed":0}
{"Time":"2021-04-16T03:20:07.833Z","Action":"output","Package":"runtime","Test":"TestLibraryCtrlHandler","Output":"    signal_windows_test.go:140: FAILURE: No signal received\n"}
{"Time":"2021-04-16T03:20:07.836Z","Action":"output","Package":"runtime","Test":"TestLibraryCtrlHandler","Output":"--- FAIL: TestLibraryCtrlHandler (6.32s)\n"}
{"Time":"2021-04-16T03:20:07.836Z","Action":"fail","Package":"runtime","Test":"TestLibraryCtrlHandler","Elapsed":6.32}
{"Time":"2021-04-16T03:20:07.900Z","Action":"output","Package":"runtime","Output":"FAIL\n"}
{"Time":"2021-04-16T03:20:07.901Z","Action":"output","Package":"runtime","Output":"FAIL\truntime\t6.801s\n"}
{"Time":"2021-04-16T03:20:07.901Z","Action":"fail","Package":"runtime","Elapsed":6.801}
{"Time":"2021-04-16T03:20:08.000Z","Action":"start","Package":"strings"}
{"Time":"2021-04-16T03:20:08.010Z","Action":"run","Package":"strings","Test":"TestCompare"}
{"Time":"2021-04-16T03:20:08.011Z","Action":"output","Package":"strings","Test":"TestCompare","Output":"=== RUN   TestCompare\n"}
{"Time":"2021-04-16T03:20:08.012Z","Action":"output","Package":"strings","Test":"TestCompare","Output":"--- PASS: TestCompare (0.00s)\n"}
{"Time":"2021-04-16T03:20:08.012Z","Action":"pass","Package":"strings","Test":"TestCompare","Elapsed":0}
{"Time":"2021-04-16T03:20:08.013Z","Action":"output","Package":"strings","Output":"PASS\n"}
{"Time":"2021-04-16T03:20:08.013Z","Action":"output","Package":"strings","Output":"ok  \tstrings\t0.013s\n"}
{"Time":"2021-04-16T03:20:08.013Z","Action":"pass","Package":"strings","Elapsed":0.013}
"#;

    #[test]
    fn passing_skipped_and_failing_tests() {
        let parsed = parse_ok(MIXED);
        assert_eq!(parsed.format, Format::GoTestJson);
        assert_eq!((parsed.passed, parsed.failed, parsed.skipped), (2, 1, 1));
        assert_eq!(parsed.sightings.len(), 1, "{:#?}", parsed.sightings);
        let s = &parsed.sightings[0];
        assert_eq!(s.test, "runtime.TestLibraryCtrlHandler");
        assert_eq!(s.outcome, "fail");
        assert_eq!(
            s.message,
            "signal_windows_test.go:140: FAILURE: No signal received"
        );
        assert_eq!(s.duration_s, Some(6.32));
        assert_eq!(
            s.snippet,
            "=== RUN   TestLibraryCtrlHandler\n    signal_windows_test.go:140: FAILURE: No signal received\n--- FAIL: TestLibraryCtrlHandler (6.32s)"
        );
        assert_eq!(
            s.signature.text,
            "fail: signal_windows_test.go:140: FAILURE: No signal received"
        );
    }

    const SUBTESTS: &str = r#"{"Action":"run","Package":"example.com/kv","Test":"TestStore"}
{"Action":"output","Package":"example.com/kv","Test":"TestStore","Output":"=== RUN   TestStore\n"}
{"Action":"run","Package":"example.com/kv","Test":"TestStore/put"}
{"Action":"output","Package":"example.com/kv","Test":"TestStore/put","Output":"=== RUN   TestStore/put\n"}
{"Action":"run","Package":"example.com/kv","Test":"TestStore/get"}
{"Action":"output","Package":"example.com/kv","Test":"TestStore/get","Output":"=== RUN   TestStore/get\n"}
{"Action":"output","Package":"example.com/kv","Test":"TestStore/get","Output":"    store_test.go:58: Get(\"k\"): got \"\", want \"v\"\n"}
{"Action":"output","Package":"example.com/kv","Test":"TestStore/put","Output":"--- PASS: TestStore/put (0.00s)\n"}
{"Action":"pass","Package":"example.com/kv","Test":"TestStore/put","Elapsed":0}
{"Action":"output","Package":"example.com/kv","Test":"TestStore/get","Output":"    --- FAIL: TestStore/get (0.01s)\n"}
{"Action":"fail","Package":"example.com/kv","Test":"TestStore/get","Elapsed":0.01}
{"Action":"output","Package":"example.com/kv","Test":"TestStore","Output":"--- FAIL: TestStore (0.01s)\n"}
{"Action":"fail","Package":"example.com/kv","Test":"TestStore","Elapsed":0.01}
{"Action":"output","Package":"example.com/kv","Output":"FAIL\n"}
{"Action":"output","Package":"example.com/kv","Output":"FAIL\texample.com/kv\t0.020s\n"}
{"Action":"fail","Package":"example.com/kv","Elapsed":0.02}
"#;

    #[test]
    fn failing_subtest_and_parent_are_both_reported() {
        let parsed = parse_ok(SUBTESTS);
        assert_eq!((parsed.passed, parsed.failed, parsed.skipped), (1, 2, 0));
        let names: Vec<&str> = parsed.sightings.iter().map(|s| s.test.as_str()).collect();
        assert_eq!(
            names,
            ["example.com/kv.TestStore/get", "example.com/kv.TestStore"]
        );
        assert_eq!(
            parsed.sightings[0].message,
            "store_test.go:58: Get(\"k\"): got \"\", want \"v\""
        );
        // The parent's own output only has its verdict.
        assert_eq!(parsed.sightings[1].message, "--- FAIL: TestStore (0.01s)");
        assert_eq!(
            parsed.sightings[1].signature.text,
            "fail: --- FAIL: TestStore (<dur>)"
        );
    }

    const TIMEOUT: &str = r#"{"Time":"2023-03-01T10:00:00Z","Action":"start","Package":"example.com/net"}
{"Time":"2023-03-01T10:00:00Z","Action":"run","Package":"example.com/net","Test":"TestDialHang"}
{"Time":"2023-03-01T10:00:00Z","Action":"output","Package":"example.com/net","Test":"TestDialHang","Output":"=== RUN   TestDialHang\n"}
{"Time":"2023-03-01T10:10:00Z","Action":"output","Package":"example.com/net","Output":"panic: test timed out after 10m0s\n"}
{"Time":"2023-03-01T10:10:00Z","Action":"output","Package":"example.com/net","Output":"running tests:\n"}
{"Time":"2023-03-01T10:10:00Z","Action":"output","Package":"example.com/net","Output":"\tTestDialHang (10m0s)\n"}
{"Time":"2023-03-01T10:10:00Z","Action":"output","Package":"example.com/net","Output":"\n"}
{"Time":"2023-03-01T10:10:00Z","Action":"output","Package":"example.com/net","Output":"goroutine 33 [running]:\n"}
{"Time":"2023-03-01T10:10:00Z","Action":"output","Package":"example.com/net","Output":"testing.(*M).startAlarm.func1()\n"}
{"Time":"2023-03-01T10:10:00Z","Action":"output","Package":"example.com/net","Output":"\t/usr/local/go/src/testing/testing.go:2241 +0x3b9\n"}
{"Time":"2023-03-01T10:10:00Z","Action":"output","Package":"example.com/net","Output":"FAIL\texample.com/net\t600.012s\n"}
{"Time":"2023-03-01T10:10:00Z","Action":"fail","Package":"example.com/net","Elapsed":600.012}
"#;

    #[test]
    fn package_timeout_panic() {
        let parsed = parse_ok(TIMEOUT);
        assert_eq!((parsed.passed, parsed.failed, parsed.skipped), (0, 1, 0));
        assert_eq!(parsed.sightings.len(), 1);
        let s = &parsed.sightings[0];
        assert_eq!(s.test, "example.com/net");
        assert_eq!(s.outcome, "timeout");
        assert_eq!(s.message, "panic: test timed out after 10m0s");
        assert_eq!(s.duration_s, Some(600.012));
        // The unfinished test's output comes first.
        assert!(s
            .snippet
            .starts_with("=== RUN   TestDialHang\npanic: test timed out"));
        assert!(s.snippet.contains("\tTestDialHang (10m0s)"));
        assert_eq!(
            s.signature.text,
            "timeout: panic: test timed out after <dur>"
        );
    }

    #[test]
    fn stream_cut_off_during_a_hang() {
        // The job was killed: no package verdict, but the timeout panic made it out.
        let cut = TIMEOUT
            .lines()
            .filter(|l| !l.contains("\"Action\":\"fail\""))
            .collect::<Vec<_>>()
            .join("\n");
        let parsed = parse_ok(&cut);
        assert_eq!(parsed.sightings.len(), 1);
        assert_eq!(parsed.sightings[0].outcome, "timeout");
        assert_eq!(parsed.sightings[0].duration_s, None);
        assert_eq!(parsed.failed, 1);
        // Cut off without any sign of trouble: nothing to report.
        let quiet: String = MIXED.lines().take(8).collect::<Vec<_>>().join("\n");
        let parsed = parse_ok(&quiet);
        assert!(parsed.sightings.is_empty());
        assert_eq!(
            package_of_import_path("example.com/p_test [example.com/p.test]"),
            "example.com/p"
        );
        assert_eq!(package_of_import_path("example.com/p"), "example.com/p");
    }

    #[test]
    fn panics_inside_and_outside_tests() {
        // Newer test2json attributes the panic to the test, which then fails.
        let stream = r#"{"Action":"run","Package":"p","Test":"TestNil"}
{"Action":"output","Package":"p","Test":"TestNil","Output":"=== RUN   TestNil\n"}
{"Action":"output","Package":"p","Test":"TestNil","Output":"--- FAIL: TestNil (0.00s)\n"}
{"Action":"output","Package":"p","Test":"TestNil","Output":"panic: runtime error: invalid memory address or nil pointer dereference [recovered]\n"}
{"Action":"output","Package":"p","Test":"TestNil","Output":"\tpanic: runtime error: invalid memory address or nil pointer dereference\n"}
{"Action":"output","Package":"p","Test":"TestNil","Output":"[signal SIGSEGV: segmentation violation code=0x1 addr=0x0 pc=0x4f1e2a]\n"}
{"Action":"fail","Package":"p","Test":"TestNil","Elapsed":0}
{"Action":"output","Package":"p","Output":"FAIL\tp\t0.011s\n"}
{"Action":"fail","Package":"p","Elapsed":0.011}
"#;
        let parsed = parse_ok(stream);
        assert_eq!(parsed.sightings.len(), 1);
        assert_eq!(parsed.sightings[0].outcome, "panic");
        assert_eq!(parsed.sightings[0].test, "p.TestNil");
        assert!(parsed.sightings[0]
            .message
            .starts_with("panic: runtime error"));
        assert_eq!(parsed.failed, 1);

        // A panic in package initialisation: no test ever ran.
        let stream = r#"{"Action":"start","Package":"q"}
{"Action":"output","Package":"q","Output":"panic: open testdata/config.json: no such file or directory\n"}
{"Action":"output","Package":"q","Output":"\n"}
{"Action":"output","Package":"q","Output":"goroutine 1 [running]:\n"}
{"Action":"output","Package":"q","Output":"FAIL\tq\t0.004s\n"}
{"Action":"fail","Package":"q","Elapsed":0.004}
"#;
        let parsed = parse_ok(stream);
        assert_eq!(parsed.sightings.len(), 1);
        assert_eq!(parsed.sightings[0].test, "q");
        assert_eq!(parsed.sightings[0].outcome, "panic");
        assert_eq!(
            parsed.sightings[0].message,
            "panic: open testdata/config.json: no such file or directory"
        );
    }

    #[test]
    fn build_failures_with_stray_lines() {
        // Older go: build errors on stderr, interleaved as plain lines.
        let stream = "# example.com/broken [example.com/broken.test]\n\
./broken_test.go:9:2: undefined: frobnicate\n\
{\"Action\":\"start\",\"Package\":\"example.com/broken\"}\n\
{\"Action\":\"output\",\"Package\":\"example.com/broken\",\"Output\":\"FAIL\\texample.com/broken [build failed]\\n\"}\n\
{\"Action\":\"fail\",\"Package\":\"example.com/broken\",\"Elapsed\":0}\n";
        let parsed = parse_ok(stream);
        assert_eq!(parsed.sightings.len(), 1);
        let s = &parsed.sightings[0];
        assert_eq!(s.test, "example.com/broken");
        assert_eq!(s.outcome, "fail");
        assert!(s.snippet.contains("undefined: frobnicate"), "{}", s.snippet);
        assert_eq!(s.message, "FAIL\texample.com/broken [build failed]");

        // Go 1.24: build output as events with ImportPath.
        let stream = r##"{"ImportPath":"example.com/broken [example.com/broken.test]","Action":"build-output","Output":"# example.com/broken [example.com/broken.test]\n"}
{"ImportPath":"example.com/broken [example.com/broken.test]","Action":"build-output","Output":"./broken_test.go:9:2: undefined: frobnicate\n"}
{"ImportPath":"example.com/broken [example.com/broken.test]","Action":"build-fail"}
{"Time":"2025-03-01T10:00:00Z","Action":"start","Package":"example.com/broken"}
{"Time":"2025-03-01T10:00:00Z","Action":"output","Package":"example.com/broken","Output":"FAIL\texample.com/broken [build failed]\n"}
{"Time":"2025-03-01T10:00:00Z","Action":"fail","Package":"example.com/broken","Elapsed":0,"FailedBuild":"example.com/broken [example.com/broken.test]"}
"##;
        let parsed = parse_ok(stream);
        assert_eq!(parsed.sightings.len(), 1);
        assert!(parsed.sightings[0]
            .snippet
            .starts_with("# example.com/broken"));
        assert!(parsed.sightings[0]
            .snippet
            .contains("undefined: frobnicate"));
    }

    #[test]
    fn malformed_lines_report_line_and_column() {
        let stream = "{\"Action\":\"run\",\"Package\":\"p\",\"Test\":\"TestA\"}\n\
            not json is fine\n\
            {\"Action\":\"output\",\"Package\":\"p\",\"Output\":\"x\\q\"}\n";
        let err =
            parse_bytes(Path::new("out/test.json"), stream.as_bytes()).expect_err("bad escape");
        assert_eq!(err.position, "3:46", "{err}");
        assert!(err
            .to_string()
            .starts_with("out/test.json:3:46: malformed go test -json event"));
        // Garbage that is not a cut-off event is an error wherever it is.
        let err =
            parse_bytes(Path::new("t"), b"{oops}\n{\"Action\":\"run\"}\n").expect_err("garbage");
        assert_eq!(err.position, "1:2", "{err}");
        // A JSON object without an action.
        let err = parse_bytes(Path::new("t"), b"{\"Package\":\"p\"}\n").expect_err("no action");
        assert!(err.message.contains("Action"), "{err}");
        assert!(err.position.starts_with("1:"));
    }

    #[test]
    fn empty_and_crlf_streams() {
        let parsed = parse_ok("");
        assert!(parsed.sightings.is_empty());
        let parsed = parse_bytes(
            Path::new("t"),
            b"{\"Action\":\"run\",\"Package\":\"p\",\"Test\":\"T\"}\r\n{\"Action\":\"fail\",\"Package\":\"p\",\"Test\":\"T\",\"Elapsed\":1.5}\r\n",
        )
        .expect("CRLF is fine");
        assert_eq!(parsed.sightings.len(), 1);
        assert_eq!(parsed.sightings[0].test, "p.T");
        assert_eq!(parsed.sightings[0].message, "");
        assert_eq!(parsed.sightings[0].signature.text, "fail");
    }

    /// Events of a package with two tests: one fails, one passes.
    fn two_tests() -> Vec<String> {
        [
            r#"{"Action":"run","Package":"p","Test":"TestA"}"#,
            r#"{"Action":"output","Package":"p","Test":"TestA","Output":"    a_test.go:3: error: boom\n"}"#,
            r#"{"Action":"fail","Package":"p","Test":"TestA","Elapsed":1}"#,
            r#"{"Action":"run","Package":"p","Test":"TestB"}"#,
            r#"{"Action":"pass","Package":"p","Test":"TestB","Elapsed":1}"#,
        ]
        .map(str::to_string)
        .to_vec()
    }

    #[test]
    fn cut_off_lines_are_skipped_with_a_note() {
        // The last line cut mid-write, with or without a final newline or indentation.
        for end in ["", "\n"] {
            let mut stream = two_tests().join("\n");
            stream
                .push_str("\n  {\"Action\":\"output\",\"Package\":\"p\",\"Test\":\"TestC\",\"Out");
            stream.push_str(end);
            let parsed = parse_bytes(Path::new("t.json"), stream.as_bytes()).expect("kept");
            assert_eq!((parsed.passed, parsed.failed), (1, 1));
            assert_eq!(parsed.sightings[0].message, "a_test.go:3: error: boom");
            assert_eq!(parsed.notes.len(), 1);
            let note = &parsed.notes[0];
            assert_eq!(note.position, "6:54", "{note}");
            assert!(
                note.to_string()
                    .starts_with("t.json:6:54: skipped an event cut off mid-write"),
                "{note}"
            );
            assert!(note.message.contains("kept the rest"), "{note}");
        }
        // A cut line followed by more events (a retried job appended to the log).
        let mut lines = two_tests();
        lines.insert(
            3,
            r#"{"Action":"output","Package":"p","Test":"TestB","Out"#.to_string(),
        );
        let parsed = parse_bytes(Path::new("t"), lines.join("\n").as_bytes()).expect("kept");
        assert_eq!((parsed.passed, parsed.failed), (1, 1));
        assert_eq!(parsed.notes.len(), 1);
        assert!(parsed.notes[0].position.starts_with("4:"));
        // Many cut lines: a few notes, then a count.
        let mut lines = two_tests();
        for _ in 0..25 {
            lines.push(r#"{"Action":"#.to_string());
        }
        let parsed = parse_bytes(Path::new("t"), lines.join("\n").as_bytes()).expect("kept");
        assert_eq!(parsed.notes.len(), MAX_NOTES + 1);
        assert!(
            parsed.notes[MAX_NOTES]
                .message
                .contains("skipped 15 more event(s)"),
            "{:?}",
            parsed.notes
        );
    }

    #[test]
    fn invalid_utf8_inside_an_event_is_replaced() {
        let stream = two_tests().join("\n").into_bytes();
        let at = stream.find("boom").expect("boom");
        let mut bytes = stream[..at + 2].to_vec();
        bytes.push(0xff);
        bytes.extend_from_slice(&stream[at + 2..]);
        let parsed = parse_bytes(Path::new("t"), &bytes).expect("kept");
        assert_eq!(parsed.notes, []);
        assert_eq!((parsed.passed, parsed.failed), (1, 1));
        assert_eq!(
            parsed.sightings[0].message,
            "a_test.go:3: error: bo\u{fffd}om"
        );
    }

    #[test]
    fn oversize_events_are_cut_in_the_middle() {
        let big = 3 * 1024 * 1024;
        // A huge output line, with escapes right where the cuts fall.
        let mut output = String::from("    a_test.go:9: dump ");
        output.push_str(&"\\u00e9\\\\".repeat(big / 8));
        output.push_str("end\\n");
        let mut lines = two_tests();
        lines.insert(
            2,
            format!(r#"{{"Action":"output","Package":"p","Test":"TestA","Output":"{output}"}}"#),
        );
        let parsed = parse_bytes(Path::new("t"), lines.join("\n").as_bytes()).expect("kept");
        assert_eq!(parsed.notes, []);
        assert_eq!((parsed.passed, parsed.failed), (1, 1));
        let snippet = &parsed.sightings[0].snippet;
        let lines: Vec<&str> = snippet.lines().collect();
        assert!(
            lines[1].starts_with("    a_test.go:9: dump é\\é\\"),
            "{snippet:.300}"
        );
        assert!(lines[2].starts_with("[... 2.") && lines[2].ends_with(" MiB cut ...]"));
        // The tail starts after a whole escape sequence.
        assert!(lines[3].starts_with("\\é\\é"), "{:.40}", lines[3]);

        // A huge event whose middle is not one string: skipped with a note.
        let mut lines = two_tests();
        let list = vec!["1"; big / 2].join(",");
        lines.insert(
            1,
            format!(r#"{{"Action":"output","Package":"p","Extra":[{list}]}}"#),
        );
        let parsed = parse_bytes(Path::new("t"), lines.join("\n").as_bytes()).expect("kept");
        assert_eq!((parsed.passed, parsed.failed), (1, 1));
        assert_eq!(parsed.notes.len(), 1);
        assert!(
            parsed.notes[0].message.contains("more than 2."),
            "{:?}",
            parsed.notes
        );
        assert!(parsed.notes[0].position.starts_with("2:"));
    }
}
