//! Plain-text logs (CI builder logs, `go test`, `cargo test` and pytest console output): the
//! failing tests they name, each with the block of output that belongs to it, or else the
//! whole log when it only shows that something failed.

use std::collections::HashSet;
use std::io::BufRead;
use std::sync::LazyLock;

use regex::bytes::Regex;

use super::gotest::{classify, go_telling};
use super::limits::Lines;
use super::snippet::split_lines;
use super::{
    first_telling, outcome, Failure, Format, Located, ParseResult, ParsedArtifact, Sighting,
};

/// Compiles one of this module's constant patterns.
fn regex(pattern: &str) -> Regex {
    Regex::new(pattern).expect("constant regex is valid")
}

/// `--- FAIL: TestName (6.17s)`, at any indentation (subtests are indented).
static GO_FAIL: LazyLock<Regex> =
    LazyLock::new(|| regex(r"^(\s*)--- FAIL: (\S+)(?: \((\d+(?:\.\d+)?)s\))?"));

/// `=== RUN   TestName` (also `CONT`, `NAME`): where a test's output starts in verbose mode.
static GO_RUN: LazyLock<Regex> = LazyLock::new(|| regex(r"^\s*=== (?:RUN|CONT|NAME)\s+(\S+)\s*$"));

/// libtest's verdict line for a failed test.
static RUST_FAIL: LazyLock<Regex> = LazyLock::new(|| regex(r"^test (.+?) \.\.\. FAILED\s*$"));

/// libtest's header of a failed test's captured output.
static RUST_SECTION: LazyLock<Regex> = LazyLock::new(|| regex(r"^---- (.+?) stdout ----\s*$"));

/// pytest's short test summary line: `FAILED tests/x.py::test_y - message`.
static PYTEST_SUMMARY: LazyLock<Regex> =
    LazyLock::new(|| regex(r"^(FAILED|ERROR) ([^\s:]+\.py(?:::.+?)?)(?: - (.*))?\s*$"));

/// pytest's verbose progress line: `tests/x.py::test_y PASSED   [ 50%]`, `... SKIPPED (why)`.
static PYTEST_VERBOSE: LazyLock<Regex> = LazyLock::new(|| {
    regex(r"^([^\s:]+\.py::.+?) (PASSED|FAILED|ERROR|SKIPPED|XFAIL|XPASS)(?:\s.*)?$")
});

/// pytest's header of one test's section in the FAILURES or ERRORS part: `____ test_y ____`.
static PYTEST_SECTION: LazyLock<Regex> = LazyLock::new(|| regex(r"^_{3,} (.+?) _{3,}\s*$"));

/// pytest's part headers (`==== FAILURES ====`, `==== short test summary info ====`).
static PYTEST_PART: LazyLock<Regex> = LazyLock::new(|| regex(r"^={3,}.*={3,}\s*$"));

/// Parses a plain log read as a stream: each line past 256 KiB keeps its first and last
/// 128 KiB around a cut note on a line of its own, so that one huge line costs no more memory
/// than a short one. The rest is as [`parse`].
pub(crate) fn parse_stream(input: impl BufRead) -> ParseResult {
    let mut bytes = Vec::new();
    let mut lines = Lines::new(input);
    let mut number = 0u64;
    loop {
        match lines.next_line() {
            Ok(Some(line)) => {
                number += 1;
                line.append_to(&mut bytes);
                bytes.push(b'\n');
            }
            Ok(None) => break,
            Err(e) => {
                return Err(Located::line_column(
                    number + 1,
                    1,
                    format!("cannot read the file: {e}"),
                ))
            }
        }
    }
    Ok((parse(&bytes), Vec::new()))
}

/// A failure found in the log, with the index of the line that reported it (for ordering).
struct Found {
    line: usize,
    sighting: Sighting,
}

/// Parses a plain log.
///
/// Recognised failures, each with its own block of output:
/// - Go `--- FAIL: TestName (6.17s)`: the block runs until the next `--- `, `=== `, `FAIL`,
///   `PASS`, `FAIL\t...`, `ok  \t...` or `##### ` line at the same or lesser indentation; when
///   it is empty (verbose output, where a test's logs precede its verdict) it is the output from
///   the test's last `=== RUN`/`CONT`/`NAME` line down to the verdict. The test is named
///   `package.TestName` when a `FAIL\tpackage` line follows (before any `ok  \t` line).
/// - libtest `test foo::bar ... FAILED`, with the `---- foo::bar stdout ----` section.
/// - pytest `FAILED tests/x.py::test_y - message` (and `ERROR ...`) summary lines, or verbose
///   `tests/x.py::test_y FAILED` lines when there is no summary, with the test's section of
///   the FAILURES/ERRORS part. The test is named as pytest's JUnit report names it
///   (`tests.x.test_y`).
///
/// A log with none of these but a telling line is one `log-failure` sighting for the whole log,
/// named `""`. Passed and skipped counts come from Go `--- PASS`/`--- SKIP` lines, libtest
/// `... ok`/`... ignored` lines and pytest verbose lines.
pub(crate) fn parse(bytes: &[u8]) -> ParsedArtifact {
    let lines = split_lines(bytes);
    let mut found = Vec::new();
    go_failures(&lines, &mut found);
    rust_failures(&lines, &mut found);
    pytest_failures(&lines, &mut found);
    found.sort_by_key(|f| f.line);
    let mut sightings: Vec<Sighting> = found.into_iter().map(|f| f.sighting).collect();

    if sightings.is_empty() {
        if let Some(telling) = first_telling(&lines) {
            sightings.push(
                Failure {
                    test: String::new(),
                    outcome: outcome::LOG_FAILURE,
                    message: None,
                    telling: Some(telling),
                    lines: &lines,
                    duration_s: None,
                }
                .into_sighting(),
            );
        }
    }

    let (passed_tests, skipped_tests) = passed_and_skipped(&lines);
    ParsedArtifact {
        format: Format::PlainLog,
        failed: sightings.len() as u64,
        sightings,
        passed: passed_tests.len() as u64,
        skipped: skipped_tests.len() as u64,
        passed_tests,
        skipped_tests,
        notes: Vec::new(),
    }
}

/// Leading whitespace of a line, in bytes.
fn indentation(line: &[u8]) -> usize {
    line.len() - line.trim_ascii_start().len()
}

/// `lines` without trailing blank lines.
fn trim_blank_end<'a, 'b>(lines: &'b [&'a [u8]]) -> &'b [&'a [u8]] {
    let end = lines
        .iter()
        .rposition(|l| !l.trim_ascii().is_empty())
        .map_or(0, |i| i + 1);
    &lines[..end]
}

/// Whether a line ends the block of a Go `--- FAIL` line indented by `indent`.
fn ends_go_block(line: &[u8], indent: usize) -> bool {
    if indentation(line) > indent {
        return false;
    }
    let text = line.trim_ascii_start();
    text.starts_with(b"--- ")
        || text.starts_with(b"=== ")
        || text.starts_with(b"##### ")
        || text.starts_with(b"FAIL\t")
        || text.starts_with(b"ok  \t")
        || matches!(text.trim_ascii_end(), b"FAIL" | b"PASS")
}

/// For each line, the package named by the next `FAIL\tpackage` result line, unless an
/// `ok  \tpackage` line comes first.
fn next_failed_package<'a>(lines: &[&'a [u8]]) -> Vec<Option<&'a [u8]>> {
    let mut next = vec![None; lines.len()];
    let mut current: Option<&[u8]> = None;
    for (i, line) in lines.iter().enumerate().rev() {
        if let Some(rest) = line.strip_prefix(b"FAIL\t") {
            current = rest
                .split(|&b| b == b'\t' || b == b' ')
                .next()
                .filter(|p| !p.is_empty());
        } else if line.starts_with(b"ok  \t") {
            current = None;
        }
        next[i] = current;
    }
    next
}

/// Go `--- FAIL:` blocks.
fn go_failures(lines: &[&[u8]], found: &mut Vec<Found>) {
    let mut packages: Option<Vec<Option<&[u8]>>> = None;
    for (i, line) in lines.iter().enumerate() {
        if !line.trim_ascii_start().starts_with(b"--- FAIL: ") {
            continue;
        }
        let Some(caps) = GO_FAIL.captures(line) else {
            continue;
        };
        let indent = caps.get(1).map_or(0, |m| m.len());
        let Some(name) = caps.get(2).map(|m| m.as_bytes()) else {
            continue;
        };
        let duration_s = caps
            .get(3)
            .and_then(|m| std::str::from_utf8(m.as_bytes()).ok())
            .and_then(|s| s.parse::<f64>().ok());

        let end = (i + 1..lines.len())
            .find(|&j| ends_go_block(lines[j], indent))
            .unwrap_or(lines.len());
        let body = trim_blank_end(&lines[i + 1..end]);
        let block = if body.is_empty() {
            let run = (0..i).rev().find(|&j| {
                GO_RUN
                    .captures(lines[j])
                    .and_then(|c| c.get(1))
                    .is_some_and(|m| m.as_bytes() == name)
            });
            match run {
                Some(start) => &lines[start..=i],
                None => &lines[i..=i],
            }
        } else {
            &lines[i..i + 1 + body.len()]
        };

        let packages = packages.get_or_insert_with(|| next_failed_package(lines));
        let name = String::from_utf8_lossy(name);
        let test = match packages.get(end).copied().flatten() {
            Some(package) => format!("{}.{name}", String::from_utf8_lossy(package)),
            None => name.into_owned(),
        };
        let (outcome, telling) = match classify(block) {
            Some((outcome, at)) => (outcome, Some(block[at])),
            None => (outcome::FAIL, go_telling(block)),
        };
        found.push(Found {
            line: i,
            sighting: Failure {
                test,
                outcome,
                message: None,
                telling,
                lines: block,
                duration_s,
            }
            .into_sighting(),
        });
    }
}

/// Whether a line ends a libtest `---- name stdout ----` section.
fn ends_rust_section(line: &[u8]) -> bool {
    RUST_SECTION.is_match(line)
        || line.trim_ascii_end() == b"failures:"
        || line.starts_with(b"test result: ")
        || line.starts_with(b"running ")
}

/// libtest `... FAILED` verdicts with their captured output.
fn rust_failures(lines: &[&[u8]], found: &mut Vec<Found>) {
    let mut sections: Option<Vec<(usize, &[u8])>> = None;
    for (i, line) in lines.iter().enumerate() {
        if !line.starts_with(b"test ") {
            continue;
        }
        let Some(name) = RUST_FAIL
            .captures(line)
            .and_then(|c| c.get(1))
            .map(|m| m.as_bytes())
        else {
            continue;
        };
        let name = name.strip_suffix(b" - should panic").unwrap_or(name);
        let sections = sections.get_or_insert_with(|| {
            lines
                .iter()
                .enumerate()
                .filter(|(_, l)| l.starts_with(b"---- "))
                .filter_map(|(j, l)| {
                    let caps = RUST_SECTION.captures(l)?;
                    Some((j, caps.get(1)?.as_bytes()))
                })
                .collect()
        });
        let section = sections
            .iter()
            .find(|(j, section_name)| *j > i && *section_name == name)
            .map(|(j, _)| *j);
        let block = match section {
            Some(start) => {
                let end = (start + 1..lines.len())
                    .find(|&j| ends_rust_section(lines[j]))
                    .unwrap_or(lines.len());
                trim_blank_end(&lines[start..end])
            }
            None => &lines[i..=i],
        };
        let telling = first_telling(block).or(Some(*line));
        found.push(Found {
            line: i,
            sighting: Failure {
                test: String::from_utf8_lossy(name).into_owned(),
                outcome: outcome::FAIL,
                message: None,
                telling,
                lines: block,
                duration_s: None,
            }
            .into_sighting(),
        });
    }
}

/// The name pytest's JUnit report gives a node id: `tests/x.py::TestC::test_y[1]` becomes
/// `tests.x.TestC.test_y[1]`.
fn pytest_name(node_id: &str) -> String {
    let mut parts = node_id.split("::");
    let module = parts.next().unwrap_or_default();
    let module = module
        .strip_suffix(".py")
        .unwrap_or(module)
        .replace(['/', '\\'], ".");
    std::iter::once(module)
        .chain(parts.map(str::to_string))
        .collect::<Vec<_>>()
        .join(".")
}

/// Whether a pytest section title (`test_y`, `ERROR at setup of TestC.test_y`, `ERROR
/// collecting tests/x.py`) belongs to a node id.
fn pytest_section_matches(title: &[u8], node_id: &str) -> bool {
    let title = String::from_utf8_lossy(title);
    match node_id.split_once("::") {
        Some((_, rest)) => {
            let name = rest.replace("::", ".");
            title == name || title.ends_with(&format!(" of {name}"))
        }
        None => title == format!("ERROR collecting {node_id}"),
    }
}

/// pytest FAILED/ERROR lines with their sections of the FAILURES/ERRORS parts.
fn pytest_failures(lines: &[&[u8]], found: &mut Vec<Found>) {
    struct Reported<'a> {
        line: usize,
        error: bool,
        node_id: String,
        message: Option<&'a [u8]>,
    }
    let mut reported: Vec<Reported<'_>> = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        if !(line.starts_with(b"FAILED ") || line.starts_with(b"ERROR ")) {
            continue;
        }
        let Some(caps) = PYTEST_SUMMARY.captures(line) else {
            continue;
        };
        let (Some(verdict), Some(node_id)) = (caps.get(1), caps.get(2)) else {
            continue;
        };
        reported.push(Reported {
            line: i,
            error: verdict.as_bytes() == b"ERROR",
            node_id: String::from_utf8_lossy(node_id.as_bytes()).into_owned(),
            message: caps.get(3).map(|m| m.as_bytes()),
        });
    }
    if reported.is_empty() {
        for (i, line) in lines.iter().enumerate() {
            if !contains(line, b".py::") {
                continue;
            }
            let Some(caps) = PYTEST_VERBOSE.captures(line) else {
                continue;
            };
            let (Some(node_id), Some(verdict)) = (caps.get(1), caps.get(2)) else {
                continue;
            };
            if matches!(verdict.as_bytes(), b"FAILED" | b"ERROR") {
                reported.push(Reported {
                    line: i,
                    error: verdict.as_bytes() == b"ERROR",
                    node_id: String::from_utf8_lossy(node_id.as_bytes()).into_owned(),
                    message: None,
                });
            }
        }
    }
    if reported.is_empty() {
        return;
    }

    let sections: Vec<(usize, &[u8])> = lines
        .iter()
        .enumerate()
        .filter(|(_, l)| l.starts_with(b"___"))
        .filter_map(|(j, l)| Some((j, PYTEST_SECTION.captures(l)?.get(1)?.as_bytes())))
        .collect();
    let mut seen = HashSet::new();
    for report in reported {
        if !seen.insert((report.node_id.clone(), report.error)) {
            continue;
        }
        let section = sections
            .iter()
            .rev()
            .find(|(j, title)| *j < report.line && pytest_section_matches(title, &report.node_id))
            .or_else(|| {
                sections
                    .iter()
                    .find(|(_, title)| pytest_section_matches(title, &report.node_id))
            })
            .map(|(j, _)| *j);
        let report_line = [lines[report.line]];
        let block: &[&[u8]] = match section {
            Some(start) => {
                let end = (start + 1..lines.len())
                    .find(|&j| PYTEST_SECTION.is_match(lines[j]) || PYTEST_PART.is_match(lines[j]))
                    .unwrap_or(lines.len());
                trim_blank_end(&lines[start..end])
            }
            None => &report_line,
        };
        let telling = first_telling(&block[1.min(block.len())..]).or_else(|| first_telling(block));
        found.push(Found {
            line: report.line,
            sighting: Failure {
                test: pytest_name(&report.node_id),
                outcome: if report.error {
                    outcome::ERROR
                } else {
                    outcome::FAIL
                },
                message: report.message,
                telling,
                lines: block,
                duration_s: None,
            }
            .into_sighting(),
        });
    }
}

/// Whether `needle` occurs in `haystack`.
fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Passed and skipped tests named by Go, libtest and pytest verbose lines.
fn passed_and_skipped(lines: &[&[u8]]) -> (Vec<String>, Vec<String>) {
    let (mut passed, mut skipped) = (Vec::new(), Vec::new());
    let name = |bytes: &[u8]| String::from_utf8_lossy(bytes).into_owned();
    for line in lines {
        let text = line.trim_ascii_start();
        if let Some(rest) = text.strip_prefix(b"--- PASS: ") {
            passed.push(name(go_verdict_name(rest)));
        } else if let Some(rest) = text.strip_prefix(b"--- SKIP: ") {
            skipped.push(name(go_verdict_name(rest)));
        } else if let Some(rest) = line.strip_prefix(b"test ") {
            let rest = rest.trim_ascii_end();
            if let Some(test) = rest.strip_suffix(b" ... ok") {
                passed.push(name(test));
            } else if let Some(test) = rest.strip_suffix(b" ... ignored") {
                skipped.push(name(test));
            } else if let Some((test, _)) = bstr::ByteSlice::split_once_str(rest, b" ... ignored, ")
            {
                skipped.push(name(test));
            }
        } else if contains(line, b".py::") {
            if let Some(caps) = PYTEST_VERBOSE.captures(line) {
                let (Some(node_id), Some(verdict)) = (caps.get(1), caps.get(2)) else {
                    continue;
                };
                let test = pytest_name(&String::from_utf8_lossy(node_id.as_bytes()));
                match verdict.as_bytes() {
                    b"PASSED" | b"XPASS" => passed.push(test),
                    b"SKIPPED" | b"XFAIL" => skipped.push(test),
                    _ => {}
                }
            }
        }
    }
    (passed, skipped)
}

/// `TestName (0.01s)` -> `TestName`.
fn go_verdict_name(rest: &[u8]) -> &[u8] {
    let end = rest
        .iter()
        .position(|b| b.is_ascii_whitespace())
        .unwrap_or(rest.len());
    &rest[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_str(log: &str) -> ParsedArtifact {
        parse(log.as_bytes())
    }

    /// A Go builder log in the non-verbose style of `go tool dist test`.
    const GO_BUILDER_LOG: &str = "\
Building Go cmd/dist using C:\\workdir\\go1.4. (go1.4-bootstrap-20170531 windows/amd64)
Building Go toolchain1 using C:\\workdir\\go1.4.
Building Go bootstrap cmd/go (go_bootstrap) using Go toolchain1.
Building Go toolchain2 using go_bootstrap and Go toolchain1.
Building Go toolchain3 using go_bootstrap and Go toolchain2.
Building packages and commands for windows/amd64.

##### Testing packages.
ok  \tarchive/tar\t0.384s
ok  \tbufio\t0.231s
--- FAIL: TestLibraryCtrlHandler (6.17s)
    signal_windows_test.go:140: FAILURE: No signal received
--- FAIL: TestStackGrowth (0.52s)
    --- FAIL: TestStackGrowth/main (0.50s)
        stack_test.go:107: got 0x7ffe00 want stack growth
FAIL
FAIL\truntime\t19.434s
ok  \tsort\t0.102s
--- FAIL: TestDial (1.00s)
    dial_test.go:42: unexpected error: dial tcp 127.0.0.1:49152: connectex: No connection could be made
FAIL
FAIL\tnet\t12.3s
2021/04/16 03:31:07 Failed: exit status 1
";

    #[test]
    fn go_builder_log_blocks() {
        let parsed = parse_str(GO_BUILDER_LOG);
        assert_eq!(parsed.format, Format::PlainLog);
        let names: Vec<&str> = parsed.sightings.iter().map(|s| s.test.as_str()).collect();
        assert_eq!(
            names,
            [
                "runtime.TestLibraryCtrlHandler",
                "runtime.TestStackGrowth",
                "runtime.TestStackGrowth/main",
                "net.TestDial",
            ]
        );
        assert_eq!(parsed.failed, 4);
        let ctrl = &parsed.sightings[0];
        assert_eq!(ctrl.outcome, "fail");
        assert_eq!(ctrl.duration_s, Some(6.17));
        assert_eq!(
            ctrl.message,
            "signal_windows_test.go:140: FAILURE: No signal received"
        );
        assert_eq!(
            ctrl.snippet,
            "--- FAIL: TestLibraryCtrlHandler (6.17s)\n    signal_windows_test.go:140: FAILURE: No signal received"
        );
        // The parent's block holds its subtest; the subtest's only its own lines.
        assert!(parsed.sightings[1].snippet.contains("TestStackGrowth/main"));
        assert!(parsed.sightings[1].snippet.contains("stack_test.go:107"));
        assert_eq!(
            parsed.sightings[2].snippet,
            "    --- FAIL: TestStackGrowth/main (0.50s)\n        stack_test.go:107: got 0x7ffe00 want stack growth"
        );
        assert_eq!(
            parsed.sightings[3].signature.text,
            "fail: dial_test.go:42: unexpected error: dial tcp <addr>: connectex: No connection could be made"
        );
    }

    #[test]
    fn go_verbose_output_and_panics() {
        let log = "\
=== RUN   TestOK
--- PASS: TestOK (0.00s)
=== RUN   TestFlaky
    flaky_test.go:20: attempt 1
    flaky_test.go:23: got 3 items, want 4
--- FAIL: TestFlaky (0.03s)
=== RUN   TestSkip
    skip_test.go:5: not on this platform
--- SKIP: TestSkip (0.00s)
=== RUN   TestPanic
--- FAIL: TestPanic (0.00s)
panic: runtime error: index out of range [5] with length 3 [recovered]
\tpanic: runtime error: index out of range [5] with length 3

goroutine 7 [running]:
testing.tRunner.func1.2({0x5a2e40, 0xc000016120})
\t/usr/local/go/src/testing/testing.go:1545 +0x238
FAIL\texample.com/list\t0.012s
";
        let parsed = parse_str(log);
        assert_eq!((parsed.passed, parsed.failed, parsed.skipped), (1, 2, 1));
        let flaky = &parsed.sightings[0];
        assert_eq!(flaky.test, "example.com/list.TestFlaky");
        assert_eq!(flaky.message, "flaky_test.go:23: got 3 items, want 4");
        assert!(flaky.snippet.starts_with("=== RUN   TestFlaky\n"));
        assert!(flaky.snippet.ends_with("--- FAIL: TestFlaky (0.03s)"));
        let panic = &parsed.sightings[1];
        assert_eq!(panic.test, "example.com/list.TestPanic");
        assert_eq!(panic.outcome, "panic");
        assert_eq!(
            panic.message,
            "panic: runtime error: index out of range [5] with length 3 [recovered]"
        );
        assert!(panic.snippet.contains("goroutine 7 [running]:"));
        assert!(!panic.snippet.contains("FAIL\texample.com/list"));
    }

    #[test]
    fn rust_libtest_output() {
        let log = "\
   Compiling flakehunt v0.1.0 (/src/flakehunt)
    Finished `test` profile [unoptimized + debuginfo] target(s) in 4.12s
     Running unittests src/lib.rs (target/debug/deps/flakehunt-3f2a9c1d0b7e6a54)

running 4 tests
test store::tests::opens ... ok
test store::tests::reopen ... FAILED
test tests::ignored_one ... ignored
test tests::must_panic - should panic ... FAILED

failures:

---- store::tests::reopen stdout ----

thread 'store::tests::reopen' panicked at src/store/mod.rs:310:14:
called `Result::unwrap()` on an `Err` value: DatabaseBusy
note: run with `RUST_BACKTRACE=1` environment variable to display a backtrace

---- tests::must_panic stdout ----
note: test did not panic as expected at src/lib.rs:88:5

failures:
    store::tests::reopen
    tests::must_panic

test result: FAILED. 1 passed; 2 failed; 1 ignored; 0 measured; 0 filtered out; finished in 0.53s

error: test failed, to rerun pass `--lib`
";
        let parsed = parse_str(log);
        assert_eq!((parsed.passed, parsed.failed, parsed.skipped), (1, 2, 1));
        let reopen = &parsed.sightings[0];
        assert_eq!(reopen.test, "store::tests::reopen");
        assert_eq!(reopen.outcome, "fail");
        assert_eq!(
            reopen.message,
            "thread 'store::tests::reopen' panicked at src/store/mod.rs:310:14:"
        );
        assert_eq!(
            reopen.snippet,
            "---- store::tests::reopen stdout ----\n\nthread 'store::tests::reopen' panicked at src/store/mod.rs:310:14:\ncalled `Result::unwrap()` on an `Err` value: DatabaseBusy\nnote: run with `RUST_BACKTRACE=1` environment variable to display a backtrace"
        );
        let must_panic = &parsed.sightings[1];
        assert_eq!(must_panic.test, "tests::must_panic");
        // No telling line in the section: the verdict explains it.
        assert_eq!(
            must_panic.message,
            "test tests::must_panic - should panic ... FAILED"
        );
        assert!(must_panic.snippet.contains("did not panic as expected"));
    }

    #[test]
    fn pytest_console_output() {
        let log = "\
============================= test session starts ==============================
platform linux -- Python 3.12.2, pytest-8.1.1, pluggy-1.4.0 -- /usr/bin/python3
collecting ... collected 4 items

tests/test_cache.py::test_roundtrip PASSED                               [ 25%]
tests/test_cache.py::TestEviction::test_lru[128] FAILED                  [ 50%]
tests/test_cache.py::test_remote SKIPPED (needs network)                 [ 75%]
tests/test_db.py::test_connect ERROR                                     [100%]

==================================== ERRORS ====================================
_______________________ ERROR at setup of test_connect ________________________

    @pytest.fixture
    def db():
>       return connect(\"127.0.0.1:5432\")
E       ConnectionRefusedError: [Errno 111] Connection refused

tests/conftest.py:12: ConnectionRefusedError
=================================== FAILURES ===================================
_________________________ TestEviction.test_lru[128] __________________________

self = <tests.test_cache.TestEviction object at 0x7f3a2c1d5e50>, size = 128

    def test_lru(self, size):
>       assert len(self.cache) == size
E       assert 127 == 128

tests/test_cache.py:41: AssertionError
=========================== short test summary info ============================
FAILED tests/test_cache.py::TestEviction::test_lru[128] - assert 127 == 128
ERROR tests/test_db.py::test_connect - ConnectionRefusedError: [Errno 111] Connection refused
============== 1 failed, 1 passed, 1 skipped, 1 error in 0.21s ===============
";
        let parsed = parse_str(log);
        assert_eq!((parsed.passed, parsed.failed, parsed.skipped), (1, 2, 1));
        let failed = &parsed.sightings[0];
        assert_eq!(failed.test, "tests.test_cache.TestEviction.test_lru[128]");
        assert_eq!(failed.outcome, "fail");
        assert_eq!(failed.message, "assert 127 == 128");
        assert!(failed.snippet.starts_with("_____"));
        assert!(failed
            .snippet
            .ends_with("tests/test_cache.py:41: AssertionError"));
        assert_eq!(failed.signature.text, "fail: E assert N == N");
        let error = &parsed.sightings[1];
        assert_eq!(error.test, "tests.test_db.test_connect");
        assert_eq!(error.outcome, "error");
        assert!(error.snippet.contains("ConnectionRefusedError"));
        assert!(!error.snippet.contains("FAILURES"));

        // Same failure from the JUnit report: same signature.
        let xml = r#"<testsuites><testsuite name="pytest"><testcase classname="tests.test_cache.TestEviction" name="test_lru[128]"><failure message="assert 127 == 128">self = &lt;tests.test_cache.TestEviction object at 0x7f3a2c1d5e50&gt;, size = 128

    def test_lru(self, size):
&gt;       assert len(self.cache) == size
E       assert 127 == 128

tests/test_cache.py:41: AssertionError</failure></testcase></testsuite></testsuites>"#;
        let junit = super::super::parse(std::path::Path::new("r.xml"), xml.as_bytes())
            .expect("valid report");
        assert_eq!(junit.sightings[0].test, failed.test);
        assert_eq!(junit.sightings[0].signature, failed.signature);
    }

    #[test]
    fn pytest_verbose_lines_without_summary() {
        let log =
            "tests/test_a.py::test_one FAILED                                         [100%]\n";
        let parsed = parse_str(log);
        assert_eq!(parsed.sightings.len(), 1);
        assert_eq!(parsed.sightings[0].test, "tests.test_a.test_one");
        assert_eq!(
            parsed.sightings[0].snippet,
            "tests/test_a.py::test_one FAILED                                         [100%]"
        );
        assert_eq!(
            pytest_name("a/b/test_c.py::TestD::test_e[x::y]"),
            "a.b.test_c.TestD.test_e[x.y]"
        );
        assert_eq!(pytest_name("tests/test_bad.py"), "tests.test_bad");
    }

    #[test]
    fn whole_log_failures() {
        let mut log = String::from("Building packages and commands for linux/amd64.\n");
        for i in 0..100 {
            log.push_str(&format!("step {i}\n"));
        }
        log.push_str("fatal error: all goroutines are asleep - deadlock!\n\ngoroutine 1 [chan receive]:\nmain.main()\n");
        for i in 0..50 {
            log.push_str(&format!("frame {i}\n"));
        }
        let parsed = parse_str(&log);
        assert_eq!(parsed.failed, 1);
        let s = &parsed.sightings[0];
        assert_eq!(s.test, "");
        assert_eq!(s.outcome, "log-failure");
        assert_eq!(
            s.message,
            "fatal error: all goroutines are asleep - deadlock!"
        );
        assert_eq!(
            s.signature.text,
            "log-failure: fatal error: all goroutines are asleep - deadlock!"
        );
        assert!(s.snippet.contains("[... "));
        assert!(s.snippet.starts_with("Building packages"));
        assert!(s.snippet.ends_with("frame 49"));

        // A clean log has no sightings.
        let parsed = parse_str(
            "ok  \tstrings\t0.013s\nALL TESTS PASSED\ntest result: ok. 3 passed; 0 failed\n",
        );
        assert!(parsed.sightings.is_empty());
        assert_eq!(parsed.failed, 0);
        assert!(parse(b"").sightings.is_empty());
    }

    #[test]
    fn log_level_lines_are_not_pytest_results() {
        let parsed = parse_str("ERROR [main] connection lost\nFAILED to start worker\n");
        assert_eq!(parsed.sightings.len(), 1);
        assert_eq!(parsed.sightings[0].outcome, "log-failure");
    }
}
