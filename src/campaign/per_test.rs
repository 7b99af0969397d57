//! Reading a finished run test by test: a suite's output (or JUnit report) becomes per-test
//! results, and a failed run's telling line becomes the test runner's own message (the failed
//! test and its message for a suite), so that its signature blames the right test.

use std::borrow::Cow;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use crate::analysis::per_test::{TestOutcome, TestStatus};
use crate::analysis::runner_messages::runner_message;
use crate::record::{OutputStore, RunRecord, Signature, Verdict};
use crate::target::suite::{self, PerTest, SuiteKind};

/// Most bytes of a run's output read back for parsing: the first [`HEAD_READ`] and the last
/// `MAX_READ - HEAD_READ` of a larger output (runners explain failures at the end; Go panics
/// and build errors may come first), so that memory stays bounded whatever a run printed.
const MAX_READ: u64 = 2 << 20;
/// Bytes read from the start of an output larger than [`MAX_READ`].
const HEAD_READ: u64 = 512 << 10;

/// Where a campaign's runs write their JUnit reports, if they do.
pub fn junit_dir(per_test: Option<&PerTest>) -> Option<&Path> {
    match per_test? {
        PerTest::Suite { junit_dir, .. } | PerTest::Single { junit_dir, .. } => {
            junit_dir.as_deref()
        }
    }
}

/// The run's per-test results (a suite's), and for a failed run the runner's own message as
/// its telling line.
pub fn read_tests(per_test: Option<&PerTest>, record: &mut RunRecord) -> Vec<TestOutcome> {
    let failed = record.verdict != Verdict::Pass;
    let suite_kind = match per_test {
        Some(PerTest::Suite { kind, .. }) => Some(*kind),
        _ => None,
    };
    let mut tests = Vec::new();
    if let Some(PerTest::Single {
        junit_dir: Some(dir),
        ..
    }) = per_test
    {
        // Only the report's word on a skip matters: the run's verdict is the test's.
        let path = suite::junit_file(dir, record.index);
        let parsed = crate::ingest::Artifact::open(&path)
            .ok()
            .and_then(|artifact| artifact.parse().ok());
        let _ = std::fs::remove_file(&path);
        if parsed.is_some_and(|p| p.skipped > 0 && p.passed == 0 && p.failed == 0) {
            tests.push(TestOutcome {
                name: String::new(),
                status: TestStatus::Skip,
                signature: None,
                message: None,
            });
        }
    }
    if !failed && suite_kind.is_none() {
        return tests;
    }
    let output = read_output(record);
    if let Some(per_test @ PerTest::Suite { .. }) = per_test {
        tests = suite::parse_run(per_test, record.index, &output);
    }
    if failed {
        let blamed = tests
            .iter()
            .find(|test| test.status == TestStatus::Fail)
            .map(|test| match &test.message {
                Some(message) => format!("{}: {message}", test.name).into_bytes(),
                None => format!("{} failed", test.name).into_bytes(),
            });
        let readable = match suite_kind {
            Some(SuiteKind::Go) => Cow::Owned(go_json_text(&output)),
            _ => Cow::Borrowed(&output[..]),
        };
        let own = blamed.or_else(|| runner_message(&readable).map(|found| found.line));
        if let Some(line) = own {
            record.digest.telling_line = Some(line);
        }
    }
    tests
}

/// For a single test target: the test's outcome is the run's verdict (unless its report said
/// it was skipped), with the run's signature and telling line.
pub fn single_outcome(
    per_test: Option<&PerTest>,
    record: &RunRecord,
    signature: Option<&Signature>,
    tests: &mut Vec<TestOutcome>,
) {
    let Some(PerTest::Single { test, .. }) = per_test else {
        return;
    };
    let status = match record.verdict {
        Verdict::Pass => TestStatus::Pass,
        Verdict::Fail(_) => TestStatus::Fail,
        // A failure the user chose to ignore says nothing about the test.
        Verdict::Ignored(_) => TestStatus::Skip,
    };
    let skipped = tests.iter().any(|t| t.status == TestStatus::Skip);
    tests.clear();
    let failed = status == TestStatus::Fail;
    tests.push(TestOutcome {
        name: test.clone(),
        status: if skipped && !failed {
            TestStatus::Skip
        } else {
            status
        },
        signature: signature.filter(|_| failed).cloned(),
        message: record
            .digest
            .telling_line
            .as_deref()
            .filter(|_| failed)
            .map(|line| String::from_utf8_lossy(line).into_owned()),
    });
}

/// The run's output, from memory or its spill file (the last [`MAX_READ`] bytes of a larger
/// one); the captured tail when it is gone.
fn read_output(record: &RunRecord) -> Vec<u8> {
    match &record.output {
        Some(OutputStore::Memory { bytes, .. }) => bytes.clone(),
        Some(OutputStore::Spilled { log, .. }) => {
            read_tail(log).unwrap_or_else(|_| record.digest.tail_bytes.clone())
        }
        None => record.digest.tail_bytes.clone(),
    }
}

fn read_tail(path: &Path) -> std::io::Result<Vec<u8>> {
    let mut file = std::fs::File::open(path)?;
    let size = file.metadata()?.len();
    let mut bytes = Vec::new();
    if size <= MAX_READ {
        file.read_to_end(&mut bytes)?;
        return Ok(bytes);
    }
    (&mut file).take(HEAD_READ).read_to_end(&mut bytes)?;
    // Cut at a line end so that no half line is parsed as a whole one.
    if let Some(end) = bytes.iter().rposition(|&b| b == b'\n') {
        bytes.truncate(end + 1);
    }
    file.seek(SeekFrom::Start(size - (MAX_READ - HEAD_READ)))?;
    let mut tail = Vec::new();
    file.take(MAX_READ - HEAD_READ).read_to_end(&mut tail)?;
    let start = tail.iter().position(|&b| b == b'\n').map_or(0, |i| i + 1);
    bytes.extend_from_slice(&tail[start..]);
    Ok(bytes)
}

/// The text a `go test -json` stream stands for: each event's output, and lines that are not
/// events (build errors) as they are.
fn go_json_text(output: &[u8]) -> Vec<u8> {
    let mut text = Vec::with_capacity(output.len() / 2);
    for line in output.split(|&b| b == b'\n') {
        if line.trim_ascii_start().starts_with(b"{") {
            if let Ok(event) = serde_json::from_slice::<serde_json::Value>(line) {
                if let Some(piece) = event["Output"].as_str() {
                    text.extend_from_slice(piece.as_bytes());
                }
                continue;
            }
        }
        text.extend_from_slice(line);
        text.push(b'\n');
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_json_streams_read_as_text() {
        let stream =
            b"{\"Action\":\"output\",\"Output\":\"panic: boom\\n\"}\n# pkg\n./x.go:1: bad\n";
        assert_eq!(
            go_json_text(stream),
            b"panic: boom\n# pkg\n./x.go:1: bad\n\n"
        );
    }
}
