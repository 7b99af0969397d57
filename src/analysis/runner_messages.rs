//! Failure messages by test runner: in a failed run's output, the message the test runner
//! itself gives (a Rust panic with its location, Go's `--- FAIL:` or `panic:`, pytest's
//! `FAILED nodeid - Error: message`) wins over other error-like lines, such as interpreter
//! warnings or logging noise printed before it. Pure: bytes in, message out.

use std::sync::LazyLock;

use regex::bytes::Regex;

/// Longest message built, in bytes (lines are joined from at most a few short pieces).
const MAX_MESSAGE_BYTES: usize = 1024;

/// Lines after a Go `--- FAIL:` line (or a panic) looked at for its first message.
const GO_BODY_LINES: usize = 8;

/// Lines after a Rust panic's location looked at for its message.
const RUST_MESSAGE_LINES: usize = 4;

fn regex(pattern: &str) -> Regex {
    Regex::new(pattern).expect("constant regex is valid")
}

/// pytest's short summary: `FAILED tests/x.py::test_y - AttributeError: ...`.
static PYTEST_SUMMARY: LazyLock<Regex> =
    LazyLock::new(|| regex(r"^(FAILED|ERROR) (\S+?\.py(?:::\S.*?)?)(?: - (.*))?\s*$"));

/// pytest's verbose verdict: `tests/x.py::test_y FAILED`.
static PYTEST_VERBOSE: LazyLock<Regex> =
    LazyLock::new(|| regex(r"^(\S+?\.py::\S.*?) (FAILED|ERROR)(?:\s|$)"));

/// Rust (1.73+): `thread 'name' panicked at src/x.rs:10:5:` with the message on the next line;
/// older: `thread 'name' panicked at 'message', src/x.rs:10:5`.
static RUST_PANIC: LazyLock<Regex> = LazyLock::new(|| {
    regex(
        r"^thread '([^']*)'(?: \(\d+\))? panicked at (?:'(.*)', (\S+:\d+(?::\d+)?)|(\S+:\d+(?::\d+)?):?)\s*$",
    )
});

/// libtest's header of a failed test's output.
static RUST_SECTION: LazyLock<Regex> = LazyLock::new(|| regex(r"^---- (.+?) stdout ----\s*$"));

/// libtest's verdict for a failed test.
static RUST_FAILED: LazyLock<Regex> = LazyLock::new(|| regex(r"^test (.+?) \.\.\. FAILED\s*$"));

/// Go: `--- FAIL: TestX (0.01s)`, at any indentation.
static GO_FAIL: LazyLock<Regex> =
    LazyLock::new(|| regex(r"^\s*--- FAIL: (\S+)(?: \(\d+(?:\.\d+)?s\))?\s*$"));

/// Go's goroutine header after a panic: `goroutine 7 [running]:`.
static GO_GOROUTINE: LazyLock<Regex> = LazyLock::new(|| regex(r"^goroutine \d+ \[[^\]]*\]:\s*$"));

/// The runner's own message about a failure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunnerMessage {
    /// `rust`, `go` or `pytest`.
    pub runner: &'static str,
    /// The test it blames, when it names one.
    pub test: Option<String>,
    /// The message on one line: it stands as the failure's telling line.
    pub line: Vec<u8>,
}

/// The runner's own message in a failed run's output, if the output comes from a test runner
/// flakehunt knows; else None (and the generic telling line stands).
pub fn runner_message(output: &[u8]) -> Option<RunnerMessage> {
    let lines: Vec<&[u8]> = output
        .split(|&b| b == b'\n')
        .map(|line| line.strip_suffix(b"\r").unwrap_or(line))
        .collect();
    pytest_message(&lines)
        .or_else(|| go_panic(&lines))
        .or_else(|| rust_panic(&lines))
        .or_else(|| go_fail(&lines))
        .or_else(|| rust_failed(&lines))
}

/// `piece | piece`, capped.
fn join(pieces: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::new();
    for piece in pieces {
        let piece = piece.trim_ascii();
        if piece.is_empty() {
            continue;
        }
        if !out.is_empty() {
            out.extend_from_slice(b" | ");
        }
        out.extend_from_slice(piece);
    }
    out.truncate(MAX_MESSAGE_BYTES);
    out
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// pytest: the first `FAILED`/`ERROR` summary line; without a message on it, the first `E `
/// line of the failure's report is added.
fn pytest_message(lines: &[&[u8]]) -> Option<RunnerMessage> {
    let first_e = || {
        lines
            .iter()
            .find(|line| line.starts_with(b"E ") && !line[1..].trim_ascii().is_empty())
            .map(|line| line[1..].trim_ascii())
    };
    for line in lines {
        if !(line.starts_with(b"FAILED ") || line.starts_with(b"ERROR ")) {
            continue;
        }
        let Some(caps) = PYTEST_SUMMARY.captures(line) else {
            continue;
        };
        let node = caps.get(2).map(|m| m.as_bytes()).unwrap_or_default();
        let message = match caps
            .get(3)
            .filter(|m| !m.as_bytes().trim_ascii().is_empty())
        {
            // pytest cuts the summary to the terminal's width: the `E ` line has it whole.
            Some(stated) if stated.as_bytes().ends_with(b"...") => {
                let cut = stated.as_bytes().strip_suffix(b"...").unwrap_or_default();
                let whole = lines
                    .iter()
                    .filter(|line| line.starts_with(b"E "))
                    .map(|line| line[1..].trim_ascii())
                    .find(|detail| detail.starts_with(cut));
                match whole {
                    Some(detail) => [&line[..stated.start()], detail].concat(),
                    None => line.to_vec(),
                }
            }
            Some(_) => line.to_vec(),
            None => match first_e() {
                Some(detail) => [line.trim_ascii_end(), b" - ", detail].concat(),
                None => line.to_vec(),
            },
        };
        return Some(RunnerMessage {
            runner: "pytest",
            test: Some(text(node)),
            line: message,
        });
    }
    // Verbose output without a summary (`-rN`): the verdict line, then its first `E ` line.
    let verdict = lines
        .iter()
        .find_map(|line| PYTEST_VERBOSE.captures(line))?;
    let node = verdict.get(1)?.as_bytes();
    let kind = verdict.get(2)?.as_bytes();
    let head = [kind, b" ", node].concat();
    let message = match first_e() {
        Some(detail) => [&head[..], b" - ", detail].concat(),
        None => head,
    };
    Some(RunnerMessage {
        runner: "pytest",
        test: Some(text(node)),
        line: message,
    })
}

/// Go: the first `panic:` or `fatal error:` line with its goroutine header (the trace below it
/// is left out), blamed on the test whose `--- FAIL:`/`=== RUN` came last before it.
fn go_panic(lines: &[&[u8]]) -> Option<RunnerMessage> {
    let at = lines
        .iter()
        .position(|line| line.starts_with(b"panic: ") || line.starts_with(b"fatal error: "))?;
    let goroutine = lines[at + 1..]
        .iter()
        .take(GO_BODY_LINES)
        .find(|line| GO_GOROUTINE.is_match(line));
    let mut pieces = vec![lines[at]];
    // A panic's value may continue on the next line (`[recovered]`, multi-line errors); the
    // goroutine header is what tells a deadlock from a crash.
    if let Some(goroutine) = goroutine {
        pieces.push(goroutine);
    }
    let test = lines[..at].iter().rev().find_map(|line| {
        GO_FAIL
            .captures(line)
            .or_else(|| GO_RUN.captures(line))
            .and_then(|caps| caps.get(1))
            .map(|m| text(m.as_bytes()))
    });
    Some(RunnerMessage {
        runner: "go",
        test,
        line: join(&pieces),
    })
}

/// `=== RUN   TestX`.
static GO_RUN: LazyLock<Regex> = LazyLock::new(|| regex(r"^\s*=== RUN\s+(\S+)\s*$"));

/// A `t.Log`/`t.Error` line: `    pool_test.go:12: message`.
static GO_LOG: LazyLock<Regex> = LazyLock::new(|| regex(r"^\s+\S+\.go:\d+: \S"));

/// Go: the first `--- FAIL: TestX` (its innermost failed subtest, the more precise one) with
/// its first message: the `file.go:N:` line below it, or in verbose output (where a test's
/// messages come before its verdict) the first one since its `=== RUN`.
fn go_fail(lines: &[&[u8]]) -> Option<RunnerMessage> {
    let mut at = lines.iter().position(|line| GO_FAIL.is_match(line))?;
    let indent_of = |line: &[u8]| line.len() - line.trim_ascii_start().len();
    let below = |at: usize| {
        let indent = indent_of(lines[at]);
        lines[at + 1..]
            .iter()
            .take(GO_BODY_LINES)
            .take_while(move |line| line.trim_ascii().is_empty() || indent_of(line) > indent)
            .position(|line| !line.trim_ascii().is_empty())
            .map(|offset| at + 1 + offset)
    };
    while let Some(next) = below(at).filter(|&next| GO_FAIL.is_match(lines[next])) {
        at = next;
    }
    let name = GO_FAIL.captures(lines[at])?.get(1)?.as_bytes();
    let body = below(at).map(|i| lines[i]).or_else(|| {
        // Its own `=== RUN`, else (output cut to the test's own lines) the previous verdict.
        let start = lines[..at]
            .iter()
            .rposition(|line| {
                GO_RUN_OR_CONT
                    .captures(line)
                    .and_then(|caps| caps.get(1))
                    .is_some_and(|m| m.as_bytes() == name)
            })
            .or_else(|| {
                lines[..at]
                    .iter()
                    .rposition(|line| line.trim_ascii_start().starts_with(b"--- "))
            })
            .map_or(0, |i| i + 1);
        lines[start..at]
            .iter()
            .copied()
            .find(|line| GO_LOG.is_match(line))
    });
    let head = [b"--- FAIL: ", name].concat();
    let line = match body {
        Some(body) => [&head[..], b": ", body.trim_ascii()].concat(),
        None => head,
    };
    Some(RunnerMessage {
        runner: "go",
        test: Some(text(name)),
        line: join(&[&line]),
    })
}

/// `=== RUN   TestX` or `=== CONT  TestX`.
static GO_RUN_OR_CONT: LazyLock<Regex> =
    LazyLock::new(|| regex(r"^\s*=== (?:RUN|CONT|NAME)\s+(\S+)\s*$"));

/// Rust: the first panic, as `panicked at FILE:LINE: message`, blamed on its thread's name
/// (libtest names each test's thread after the test) or its `---- name stdout ----` section.
fn rust_panic(lines: &[&[u8]]) -> Option<RunnerMessage> {
    let (at, caps) = lines.iter().enumerate().find_map(|(i, line)| {
        let start = line.windows(7).position(|w| w == b"thread ")?;
        RUST_PANIC.captures(&line[start..]).map(|caps| (i, caps))
    })?;
    let thread = caps.get(1).map(|m| m.as_bytes()).unwrap_or_default();
    let (location, message): (&[u8], Vec<&[u8]>) = match (caps.get(2), caps.get(3), caps.get(4)) {
        (Some(message), Some(location), _) => (location.as_bytes(), vec![message.as_bytes()]),
        (_, _, Some(location)) => {
            let message: Vec<&[u8]> = lines[at + 1..]
                .iter()
                .take(RUST_MESSAGE_LINES)
                .take_while(|line| {
                    !line.trim_ascii().is_empty()
                        && !line.starts_with(b"note: ")
                        && !line.starts_with(b"stack backtrace:")
                })
                .take(1)
                .copied()
                .collect();
            (location.as_bytes(), message)
        }
        _ => return None,
    };
    let section = lines[..at].iter().rev().find_map(|line| {
        RUST_SECTION
            .captures(line)
            .and_then(|caps| caps.get(1))
            .map(|m| text(m.as_bytes()))
    });
    let test = match thread {
        b"main" | b"<unnamed>" | b"" => section,
        name => Some(text(name)),
    };
    let head = [b"panicked at ", location].concat();
    let line = match message.first() {
        Some(message) => [&head[..], b": ", message.trim_ascii()].concat(),
        None => head,
    };
    Some(RunnerMessage {
        runner: "rust",
        test,
        line: join(&[&line]),
    })
}

/// Rust: a test that failed without panicking (it returned an `Err`): `test NAME ... FAILED`
/// with the first line of its `---- NAME stdout ----` section.
fn rust_failed(lines: &[&[u8]]) -> Option<RunnerMessage> {
    let name = lines.iter().find_map(|line| {
        RUST_FAILED
            .captures(line)
            .and_then(|caps| caps.get(1))
            .map(|m| m.as_bytes())
    })?;
    let section = lines.iter().position(|line| {
        RUST_SECTION
            .captures(line)
            .and_then(|caps| caps.get(1))
            .is_some_and(|m| m.as_bytes() == name)
    });
    let detail = section.and_then(|start| {
        lines[start + 1..]
            .iter()
            .take_while(|line| !line.starts_with(b"---- ") && !line.starts_with(b"failures:"))
            .find(|line| !line.trim_ascii().is_empty())
    });
    let head = [b"test ", name, b" FAILED"].concat();
    let line = match detail {
        Some(detail) => [&head[..], b": ", detail.trim_ascii()].concat(),
        None => head,
    };
    Some(RunnerMessage {
        runner: "rust",
        test: Some(text(name)),
        line: join(&[&line]),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(output: &str) -> (String, Option<String>) {
        let found = runner_message(output.as_bytes()).expect("a runner message");
        (text(&found.line), found.test)
    }

    #[test]
    fn pytest_summary_wins_over_an_earlier_interpreter_warning() {
        let output = "\
Exception ignored in: <function Pool.__del__ at 0x7f>
KeyError: 'worker-3'
============================= test session starts ==============================
collected 1 item

tests/test_x.py F                                                        [100%]

=================================== FAILURES ===================================
__________________________________ test_topic __________________________________

    def test_topic():
>       pool.submit(job)
E       AttributeError: 'NoneType' object has no attribute 'submit'

tests/test_x.py:7: AttributeError
=========================== short test summary info ============================
FAILED tests/test_x.py::test_topic - AttributeError: 'NoneType' object has no attribute 'submit'
============================== 1 failed in 0.05s ===============================
";
        let (line, test) = message(output);
        assert_eq!(
            line,
            "FAILED tests/test_x.py::test_topic - AttributeError: 'NoneType' object has no attribute 'submit'"
        );
        assert_eq!(test.as_deref(), Some("tests/test_x.py::test_topic"));
    }

    #[test]
    fn a_summary_cut_to_the_terminal_width_is_made_whole_from_its_e_line() {
        let output = "\
E       AttributeError: 'NoneType' object has no attribute 'submit'
FAILED tests/test_x.py::test_topic - AttributeError: 'NoneType' object has no...
";
        assert_eq!(
            message(output).0,
            "FAILED tests/test_x.py::test_topic - AttributeError: 'NoneType' object has no attribute 'submit'"
        );
    }

    #[test]
    fn pytest_without_a_summary_message_takes_the_first_e_line() {
        let output = "\
E       assert 3 == 4
FAILED tests/test_x.py::TestPool::test_size[2]
";
        let (line, test) = message(output);
        assert_eq!(
            line,
            "FAILED tests/test_x.py::TestPool::test_size[2] - assert 3 == 4"
        );
        assert_eq!(
            test.as_deref(),
            Some("tests/test_x.py::TestPool::test_size[2]")
        );
        let verbose =
            "tests/test_x.py::test_a PASSED\ntests/test_x.py::test_b FAILED\nE   KeyError: 'x'\n";
        assert_eq!(
            message(verbose).0,
            "FAILED tests/test_x.py::test_b - KeyError: 'x'"
        );
    }

    #[test]
    fn rust_panics_give_location_and_message_and_the_test() {
        let output = "\
running 1 test
WARN pool: connection reset, error: broken pipe
thread 'pool::tests::results_keep_order' panicked at src/pool.rs:88:9:
assertion `left == right` failed: order lost on run 3
  left: [1, 3, 2]
 right: [1, 2, 3]
note: run with `RUST_BACKTRACE=1` environment variable to display a backtrace
test pool::tests::results_keep_order ... FAILED
";
        let (line, test) = message(output);
        assert_eq!(
            line,
            "panicked at src/pool.rs:88:9: assertion `left == right` failed: order lost on run 3"
        );
        assert_eq!(test.as_deref(), Some("pool::tests::results_keep_order"));
        let old = "thread 'main' panicked at 'boom', src/main.rs:2:5\n";
        assert_eq!(
            message(old),
            ("panicked at src/main.rs:2:5: boom".into(), None)
        );
        let numbered = "thread 'worker' (4242) panicked at src/lib.rs:3:9:\nboom\n";
        assert_eq!(message(numbered).0, "panicked at src/lib.rs:3:9: boom");
    }

    #[test]
    fn rust_tests_that_return_errors_quote_their_section() {
        let output = "\
test db::tests::connects ... FAILED

failures:

---- db::tests::connects stdout ----
Error: Os { code: 111, kind: ConnectionRefused, message: \"Connection refused\" }

failures:
    db::tests::connects
";
        let (line, test) = message(output);
        assert_eq!(
            line,
            "test db::tests::connects FAILED: Error: Os { code: 111, kind: ConnectionRefused, message: \"Connection refused\" }"
        );
        assert_eq!(test.as_deref(), Some("db::tests::connects"));
    }

    #[test]
    fn go_fail_lines_with_their_first_message() {
        let output = "\
=== RUN   TestCtrlHandler
2024/01/02 10:00:00 error: dial tcp: connection refused (retrying)
    signal_windows_test.go:88: program exited with error: exit status 0xc000013a
--- FAIL: TestCtrlHandler (6.32s)
FAIL
";
        let (line, test) = message(output);
        assert_eq!(
            line,
            "--- FAIL: TestCtrlHandler: signal_windows_test.go:88: program exited with error: exit status 0xc000013a"
        );
        assert_eq!(test.as_deref(), Some("TestCtrlHandler"));
        let after = "--- FAIL: TestPool (0.00s)\n    pool_test.go:12: lost job 7\n    pool_test.go:13: more\nFAIL\n";
        assert_eq!(
            message(after).0,
            "--- FAIL: TestPool: pool_test.go:12: lost job 7"
        );
        let sub = "--- FAIL: TestPool (0.00s)\n    --- FAIL: TestPool/big (0.00s)\n        pool_test.go:20: short by 1\n";
        assert_eq!(
            message(sub),
            (
                "--- FAIL: TestPool/big: pool_test.go:20: short by 1".into(),
                Some("TestPool/big".into())
            )
        );
    }

    #[test]
    fn go_panics_keep_the_goroutine_header_and_drop_the_trace() {
        let output = "\
=== RUN   TestMap
fatal error: concurrent map writes

goroutine 7 [running]:
example.com/m.TestMap.func1()
\t/src/m/map_test.go:12 +0x44
";
        let (line, test) = message(output);
        assert_eq!(
            line,
            "fatal error: concurrent map writes | goroutine 7 [running]:"
        );
        assert_eq!(test.as_deref(), Some("TestMap"));
        let bare = "panic: boom at 0xdeadbeef\n";
        assert_eq!(message(bare), ("panic: boom at 0xdeadbeef".into(), None));
    }

    #[test]
    fn other_output_has_no_runner_message() {
        assert_eq!(
            runner_message(b"error: something broke\nKeyError: 'x'\n"),
            None
        );
        assert_eq!(runner_message(b""), None);
    }
}
