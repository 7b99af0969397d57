//! Whole test suites: a suite command (`cargo test`, `cargo nextest run`, `go test`, `pytest`)
//! is recognised (or named with `--suite KIND`), asked for machine-readable output where it
//! needs asking, and each run's output is parsed into what every test did, each failure with
//! its own message and signature.

use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::sync::LazyLock;

use regex::bytes::Regex;
use serde::{Deserialize, Serialize};

use crate::analysis::per_test::{TestOutcome, TestStatus};
use crate::analysis::runner_messages::runner_message;
use crate::analysis::signature::signature_for;
use crate::ingest::{self, Format, ParsedArtifact};

/// Kinds of suite whose output flakehunt reads test by test.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum SuiteKind {
    /// `cargo test`: libtest's text output.
    Cargo,
    /// `cargo nextest run`: nextest's status lines.
    Nextest,
    /// `go test`: run with `-json` (test2json events).
    Go,
    /// `pytest`: a JUnit report per run.
    Pytest,
}

impl SuiteKind {
    /// Stable lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            SuiteKind::Cargo => "cargo",
            SuiteKind::Nextest => "nextest",
            SuiteKind::Go => "go",
            SuiteKind::Pytest => "pytest",
        }
    }

    /// Parse a name written by [`SuiteKind::as_str`].
    pub fn parse(name: &str) -> Option<SuiteKind> {
        [
            SuiteKind::Cargo,
            SuiteKind::Nextest,
            SuiteKind::Go,
            SuiteKind::Pytest,
        ]
        .into_iter()
        .find(|kind| kind.as_str() == name)
    }
}

/// How a campaign learns what each test did in a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PerTest {
    /// A whole suite: its output (or JUnit report) is parsed.
    Suite {
        /// The suite's kind.
        kind: SuiteKind,
        /// Where each run's JUnit report is written (`junit-RUN.xml`), for pytest.
        junit_dir: Option<PathBuf>,
        /// The directory the suite runs in, to name pytest tests by node id.
        dir: PathBuf,
    },
    /// One test target: the run's verdict is the test's.
    Single {
        /// The test.
        test: String,
        /// Where each run's JUnit report is written, for pytest (read for skips, then removed).
        junit_dir: Option<PathBuf>,
    },
}

/// File name of run `index`'s JUnit report.
pub fn junit_file(dir: &Path, index: u64) -> PathBuf {
    dir.join(format!("junit-{index}.xml"))
}

/// The argument that makes pytest write run `FLAKEHUNT_RUN`'s JUnit report into `dir`: pytest
/// expands environment variables in the path, so every run writes its own file.
pub fn junit_arg(prefix: &str, dir: &Path) -> OsString {
    let mut arg = OsString::from(prefix);
    arg.push(dir.join("junit-$FLAKEHUNT_RUN.xml"));
    arg
}

/// The program's base name (`/usr/bin/cargo` -> `cargo`).
fn base_name(program: &OsStr) -> String {
    Path::new(program)
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// The suite a command runs, recognised by its program and subcommand: `cargo test`, `cargo
/// nextest run`, `go test`, `pytest`/`py.test`, `python -m pytest`.
pub fn detect(command: &[OsString]) -> Option<SuiteKind> {
    let program = base_name(command.first()?);
    let words: Vec<String> = command[1..]
        .iter()
        .map(|arg| arg.to_string_lossy().into_owned())
        .collect();
    let first_word = words
        .iter()
        .find(|word| !word.starts_with('-') && !word.starts_with('+'));
    match program.as_str() {
        "cargo" => match first_word.map(String::as_str) {
            Some("test") => Some(SuiteKind::Cargo),
            Some("nextest") => Some(SuiteKind::Nextest),
            _ => None,
        },
        "go" => (first_word.map(String::as_str) == Some("test")).then_some(SuiteKind::Go),
        "pytest" | "py.test" => Some(SuiteKind::Pytest),
        name if name.starts_with("python") => {
            let at = words.iter().position(|word| word == "-m")?;
            (words.get(at + 1).map(String::as_str) == Some("pytest")).then_some(SuiteKind::Pytest)
        }
        _ => None,
    }
}

/// The command with what its kind needs for per-test results: `go test` gets `-json` and
/// `-count=1` (Go would otherwise replay cached results), unless given. pytest's JUnit
/// argument is added by the caller, which knows the report directory.
pub fn adapt_command(kind: SuiteKind, command: &[OsString]) -> Vec<OsString> {
    let mut command = command.to_vec();
    if kind == SuiteKind::Go {
        let Some(at) = command.iter().position(|arg| arg == "test") else {
            return command;
        };
        let has = |flag: &str| {
            command.iter().any(|arg| {
                let arg = arg.to_string_lossy();
                let bare = arg.trim_start_matches('-');
                arg.starts_with('-') && (bare == flag || bare.starts_with(&format!("{flag}=")))
            })
        };
        let mut extra: Vec<OsString> = Vec::new();
        if !has("json") {
            extra.push("-json".into());
        }
        if !has("count") {
            extra.push("-count=1".into());
        }
        for (offset, arg) in extra.into_iter().enumerate() {
            command.insert(at + 1 + offset, arg);
        }
    }
    command
}

/// What each test did in run `index`, from its output (and JUnit report).
pub fn parse_run(per_test: &PerTest, index: u64, output: &[u8]) -> Vec<TestOutcome> {
    let PerTest::Suite {
        kind,
        junit_dir,
        dir,
    } = per_test
    else {
        return Vec::new();
    };
    let parsed = match kind {
        SuiteKind::Cargo => ingest::parse_as(Format::PlainLog, Path::new("run.log"), output).ok(),
        SuiteKind::Go => ingest::parse_as(Format::GoTestJson, Path::new("run.json"), output).ok(),
        SuiteKind::Pytest => junit_dir.as_deref().and_then(|junit_dir| {
            let path = junit_file(junit_dir, index);
            let parsed = ingest::Artifact::open(&path)
                .ok()
                .and_then(|artifact| artifact.parse().ok());
            let _ = std::fs::remove_file(&path);
            parsed
        }),
        SuiteKind::Nextest => return nextest_outcomes(output),
    };
    let Some(parsed) = parsed else {
        return Vec::new();
    };
    let mut outcomes = outcomes_of(parsed);
    if *kind == SuiteKind::Pytest {
        let mut names = NodeIds::new(dir);
        for outcome in &mut outcomes {
            outcome.name = names.node_id(&outcome.name);
        }
    }
    outcomes
}

/// Per-test outcomes from a parsed artifact: a test that failed once in it is failed.
fn outcomes_of(parsed: ParsedArtifact) -> Vec<TestOutcome> {
    let mut outcomes: Vec<TestOutcome> = Vec::new();
    let mut seen: HashMap<String, usize> = HashMap::new();
    for sighting in parsed.sightings {
        if sighting.test.is_empty()
            || sighting.outcome.starts_with("flaky-")
            || sighting.outcome.starts_with("rerun-")
            || seen.contains_key(&sighting.test)
        {
            continue;
        }
        let label = ingest::signature_label(&sighting.outcome).to_string();
        // The runner's own message (a panic, pytest's E line) beats the first error-like line.
        let own = runner_message(sighting.snippet.as_bytes())
            .map(|found| found.line)
            .filter(|_| !sighting.outcome.contains("error") || sighting.message.is_empty());
        let (signature, message) = match own {
            Some(line) => (
                signature_for(&label, Some(&line), &[]),
                String::from_utf8_lossy(&line).into_owned(),
            ),
            None => (sighting.signature, sighting.message),
        };
        seen.insert(sighting.test.clone(), outcomes.len());
        outcomes.push(TestOutcome {
            name: sighting.test,
            status: TestStatus::Fail,
            signature: Some(signature),
            message: Some(message).filter(|m| !m.is_empty()),
        });
    }
    for (names, status) in [
        (parsed.passed_tests, TestStatus::Pass),
        (parsed.skipped_tests, TestStatus::Skip),
    ] {
        for name in names {
            if seen.contains_key(&name) {
                continue;
            }
            seen.insert(name.clone(), outcomes.len());
            outcomes.push(TestOutcome {
                name,
                status,
                signature: None,
                message: None,
            });
        }
    }
    outcomes
}

/// nextest's status line: `        FAIL [   0.088s] (2/2) demo tests::flaky`.
static NEXTEST_STATUS: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"^(\s*)(TRY \d+ )?([A-Z][A-Z-]*)(?: \d+/\d+)? \[\s*[\d.]+s\] (?:\(\s*\d+/\d+\) )?(\S+) (\S.*?)\s*$",
    )
    .expect("constant regex is valid")
});

/// Per-test outcomes from nextest's human output: each status line, with the output block
/// below a failure for its message.
fn nextest_outcomes(output: &[u8]) -> Vec<TestOutcome> {
    let lines: Vec<&[u8]> = output.split(|&b| b == b'\n').collect();
    let mut outcomes: Vec<TestOutcome> = Vec::new();
    let mut seen: HashMap<String, usize> = HashMap::new();
    for (i, line) in lines.iter().enumerate() {
        let Some(caps) = NEXTEST_STATUS.captures(line) else {
            continue;
        };
        if caps.get(2).is_some() {
            continue; // a retry's attempt; the final verdict follows
        }
        let status = caps.get(3).map(|m| m.as_bytes()).unwrap_or_default();
        let name = String::from_utf8_lossy(caps.get(5).map(|m| m.as_bytes()).unwrap_or_default())
            .into_owned();
        let status = match status {
            b"PASS" | b"LEAK" | b"FLAKY" => TestStatus::Pass,
            b"SKIP" => TestStatus::Skip,
            _ => TestStatus::Fail,
        };
        if seen.contains_key(&name) {
            continue;
        }
        let (signature, message) = if status == TestStatus::Fail {
            let end = (i + 1..lines.len())
                .find(|&j| {
                    NEXTEST_STATUS.is_match(lines[j]) || lines[j].starts_with("─".as_bytes())
                })
                .unwrap_or(lines.len());
            let block = lines[i + 1..end].join(&b'\n');
            let label = "fail";
            match runner_message(&block) {
                Some(found) => (
                    Some(signature_for(label, Some(&found.line), &[])),
                    Some(String::from_utf8_lossy(&found.line).into_owned()),
                ),
                None => (Some(signature_for(label, Some(line), &[])), None),
            }
        } else {
            (None, None)
        };
        seen.insert(name.clone(), outcomes.len());
        outcomes.push(TestOutcome {
            name,
            status,
            signature,
            message,
        });
    }
    outcomes
}

/// Turns pytest's JUnit names (`tests.test_x.TestC.test_y[a.b]`) back into node ids
/// (`tests/test_x.py::TestC::test_y[a.b]`) by finding the test file under the suite's
/// directory or one of its parents (pytest's rootdir).
struct NodeIds<'a> {
    dir: &'a Path,
    known: HashMap<String, String>,
}

impl<'a> NodeIds<'a> {
    fn new(dir: &'a Path) -> Self {
        NodeIds {
            dir,
            known: HashMap::new(),
        }
    }

    fn node_id(&mut self, junit_name: &str) -> String {
        if let Some(found) = self.known.get(junit_name) {
            return found.clone();
        }
        let found = node_id_of(junit_name, self.dir).unwrap_or_else(|| junit_name.to_string());
        self.known.insert(junit_name.to_string(), found.clone());
        found
    }
}

/// The node id of a JUnit name, if its test file is found under `dir` or a parent.
pub fn node_id_of(junit_name: &str, dir: &Path) -> Option<String> {
    let (base, params) = match junit_name.find('[') {
        Some(at) => junit_name.split_at(at),
        None => (junit_name, ""),
    };
    let parts: Vec<&str> = base.split('.').collect();
    for root in dir.ancestors().take(8) {
        for split in (1..parts.len()).rev() {
            let file = format!("{}.py", parts[..split].join("/"));
            if root.join(&file).is_file() {
                let mut id = file;
                for part in &parts[split..] {
                    id.push_str("::");
                    id.push_str(part);
                }
                id.push_str(params);
                return Some(id);
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn command(words: &[&str]) -> Vec<OsString> {
        words.iter().map(OsString::from).collect()
    }

    #[test]
    fn suites_are_recognised_by_program_and_subcommand() {
        let cases: &[(&[&str], Option<SuiteKind>)] = &[
            (&["cargo", "test"], Some(SuiteKind::Cargo)),
            (
                &["cargo", "+nightly", "test", "-p", "x"],
                Some(SuiteKind::Cargo),
            ),
            (
                &["/home/u/.cargo/bin/cargo", "nextest", "run"],
                Some(SuiteKind::Nextest),
            ),
            (&["cargo", "build"], None),
            (&["go", "test", "./..."], Some(SuiteKind::Go)),
            (&["go", "vet"], None),
            (&["pytest", "-x", "tests"], Some(SuiteKind::Pytest)),
            (&["python3", "-m", "pytest"], Some(SuiteKind::Pytest)),
            (&["python3", "-m", "unittest"], None),
            (&["./my_test"], None),
        ];
        for (words, kind) in cases {
            assert_eq!(detect(&command(words)), *kind, "{words:?}");
        }
    }

    #[test]
    fn go_test_is_asked_for_json_and_fresh_runs() {
        assert_eq!(
            adapt_command(SuiteKind::Go, &command(&["go", "test", "./..."])),
            command(&["go", "test", "-json", "-count=1", "./..."])
        );
        assert_eq!(
            adapt_command(
                SuiteKind::Go,
                &command(&["go", "test", "-count=3", "-json", "."])
            ),
            command(&["go", "test", "-count=3", "-json", "."])
        );
    }

    #[test]
    fn libtest_text_gives_every_test_and_the_panic_as_signature() {
        let output = b"\
running 3 tests
test tests::stable ... ok
test tests::slow ... ignored
test tests::flaky ... FAILED

failures:

---- tests::flaky stdout ----
WARN pool: connection reset, error: broken pipe
thread 'tests::flaky' panicked at src/lib.rs:9:29:
boom on run 4

failures:
    tests::flaky

test result: FAILED. 1 passed; 1 failed; 1 ignored; 0 measured; 0 filtered out
";
        let per_test = PerTest::Suite {
            kind: SuiteKind::Cargo,
            junit_dir: None,
            dir: PathBuf::from("."),
        };
        let outcomes = parse_run(&per_test, 4, output);
        let by_name: HashMap<&str, &TestOutcome> =
            outcomes.iter().map(|o| (o.name.as_str(), o)).collect();
        assert_eq!(by_name["tests::stable"].status, TestStatus::Pass);
        assert_eq!(by_name["tests::slow"].status, TestStatus::Skip);
        let flaky = by_name["tests::flaky"];
        assert_eq!(flaky.status, TestStatus::Fail);
        assert_eq!(
            flaky.signature.as_ref().map(|s| s.text.as_str()),
            Some("fail: panicked at src/lib.rs:9:29: boom on run N")
        );
        assert_eq!(
            flaky.message.as_deref(),
            Some("panicked at src/lib.rs:9:29: boom on run 4")
        );
    }

    #[test]
    fn nextest_status_lines_and_failure_blocks() {
        let output = "\
    Starting 2 tests across 1 binary (1 test skipped)
        PASS [   0.005s] (1/2) demo tests::stable
        FAIL [   0.100s] (2/2) demo tests::flaky
  stderr \u{2500}\u{2500}\u{2500}
    WARN pool: connection reset, error: broken pipe

    thread 'tests::flaky' (26292) panicked at src/lib.rs:9:29:
    boom on run 1

\u{2500}\u{2500}\u{2500}\u{2500}
     Summary [   0.090s] 2 tests run: 1 passed, 1 failed, 1 skipped
        FAIL [   0.088s] (2/2) demo tests::flaky
";
        let outcomes = nextest_outcomes(output.as_bytes());
        assert_eq!(outcomes.len(), 2, "{outcomes:?}");
        assert_eq!(
            (outcomes[0].name.as_str(), outcomes[0].status),
            ("tests::stable", TestStatus::Pass)
        );
        assert_eq!(outcomes[1].status, TestStatus::Fail);
        assert_eq!(
            outcomes[1].message.as_deref(),
            Some("panicked at src/lib.rs:9:29: boom on run 1")
        );
    }

    #[test]
    fn go_json_names_tests_by_package() {
        let output = br#"{"Action":"run","Package":"example.com/m","Test":"TestA"}
{"Action":"output","Package":"example.com/m","Test":"TestA","Output":"--- PASS: TestA (0.00s)\n"}
{"Action":"pass","Package":"example.com/m","Test":"TestA","Elapsed":0}
{"Action":"run","Package":"example.com/m","Test":"TestB"}
{"Action":"output","Package":"example.com/m","Test":"TestB","Output":"    m_test.go:9: lost job 3\n"}
{"Action":"output","Package":"example.com/m","Test":"TestB","Output":"--- FAIL: TestB (0.00s)\n"}
{"Action":"fail","Package":"example.com/m","Test":"TestB","Elapsed":0}
{"Action":"fail","Package":"example.com/m","Elapsed":0.01}
"#;
        let per_test = PerTest::Suite {
            kind: SuiteKind::Go,
            junit_dir: None,
            dir: PathBuf::from("."),
        };
        let outcomes = parse_run(&per_test, 3, output);
        assert_eq!(outcomes.len(), 2, "{outcomes:?}");
        assert_eq!(outcomes[0].name, "example.com/m.TestB");
        assert_eq!(
            outcomes[0].message.as_deref(),
            Some("--- FAIL: TestB: m_test.go:9: lost job 3")
        );
        assert_eq!(
            (outcomes[1].name.as_str(), outcomes[1].status),
            ("example.com/m.TestA", TestStatus::Pass)
        );
    }

    #[test]
    fn junit_names_become_node_ids() {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::create_dir_all(dir.path().join("tests")).expect("dir");
        std::fs::write(dir.path().join("tests/test_x.py"), "").expect("write");
        assert_eq!(
            node_id_of("tests.test_x.TestPool.test_size[a.b]", dir.path()).as_deref(),
            Some("tests/test_x.py::TestPool::test_size[a.b]")
        );
        assert_eq!(
            node_id_of("tests.test_x.test_topic", &dir.path().join("tests")).as_deref(),
            Some("tests/test_x.py::test_topic")
        );
        assert_eq!(node_id_of("nowhere.test_y", dir.path()), None);
    }
}
