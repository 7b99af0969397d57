//! Parsers of CI artifacts (JUnit XML, `go test -json` streams, plain logs): each file becomes
//! the failure sightings it records, with snippets and signatures, ready for the history store.
//! Parsing is pure: callers read the files and store the results.

pub mod date;
mod gotest;
mod junit;
mod layout;
mod plainlog;
mod snippet;

use std::io;
use std::path::{Path, PathBuf};

use serde::Serialize;
use xxhash_rust::xxh3::xxh3_128;

use crate::analysis::signature::{is_telling_line, signature_for};

pub use crate::record::sighting::{Sighting, SourceMeta};
pub use layout::meta_from_path;
pub use snippet::snippet;

/// The values of [`Sighting::outcome`].
pub mod outcome {
    /// A JUnit `<failure>`: an assertion failed.
    pub const FAILURE: &str = "failure";
    /// A JUnit `<error>`: the test raised an unexpected error (or, for Bazel, exited non-zero).
    pub const ERROR: &str = "error";
    /// A JUnit `<flakyFailure>`: a failed attempt of a test that passed on a retry.
    pub const FLAKY_FAILURE: &str = "flaky-failure";
    /// A Surefire `<flakyError>`: an errored attempt of a test that passed on a retry.
    pub const FLAKY_ERROR: &str = "flaky-error";
    /// A JUnit `<rerunFailure>`: a failed retry of a test that never passed.
    pub const RERUN_FAILURE: &str = "rerun-failure";
    /// A Surefire `<rerunError>`: an errored retry of a test that never passed.
    pub const RERUN_ERROR: &str = "rerun-error";
    /// A test reported as failed by `go test -json` or a plain log.
    pub const FAIL: &str = "fail";
    /// A Go test or test binary that died in a panic or fatal runtime error.
    pub const PANIC: &str = "panic";
    /// A Go test binary killed by its `-timeout` (`panic: test timed out after ...`).
    pub const TIMEOUT: &str = "timeout";
    /// A plain log that names no failing test but explains a failure.
    pub const LOG_FAILURE: &str = "log-failure";
}

/// Longest [`Sighting::message`], in bytes.
const MAX_MESSAGE_BYTES: usize = 1024;

/// How many trailing output lines are handed to [`signature_for`] as a fallback explanation.
const SIGNATURE_TAIL_LINES: usize = 20;

/// How much of a file [`detect_format`] looks at.
const SNIFF_BYTES: usize = 64 * 1024;

/// Kinds of artifact that [`parse`] understands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Format {
    /// JUnit XML as written by cargo-nextest, pytest, Maven Surefire, Bazel and others.
    Junit,
    /// The JSON event stream of `go test -json` (test2json).
    GoTestJson,
    /// Any other text: build logs, `go test`, `cargo test` or pytest console output.
    PlainLog,
}

impl Format {
    /// Stable lower-case name: `junit`, `go-test-json` or `plain-log`.
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Junit => "junit",
            Format::GoTestJson => "go-test-json",
            Format::PlainLog => "plain-log",
        }
    }
}

/// Everything one artifact says: its failures plus test counts.
#[derive(Debug, Clone, Serialize)]
pub struct ParsedArtifact {
    /// The format the artifact was parsed as.
    pub format: Format,
    /// Failures in file order.
    pub sightings: Vec<Sighting>,
    /// Tests that passed (for JUnit, including tests that passed only on a retry).
    pub passed: u64,
    /// Tests (or Go packages, or a whole log) that failed. Flaky and rerun attempts are
    /// sightings but are not counted here.
    pub failed: u64,
    /// Tests that were skipped.
    pub skipped: u64,
}

/// An artifact that could not be parsed: malformed XML, or a malformed JSON line in a
/// `go test -json` stream.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}:{position}: {message}", path.display())]
pub struct IngestError {
    /// The artifact.
    pub path: PathBuf,
    /// `line:column`, both 1-based, the column counted in bytes.
    pub position: String,
    /// What is wrong.
    pub message: String,
}

impl IngestError {
    /// An error at byte `offset` of `bytes`.
    pub(crate) fn at(path: &Path, bytes: &[u8], offset: usize, message: String) -> Self {
        IngestError {
            path: path.to_path_buf(),
            position: line_column(bytes, offset),
            message,
        }
    }
}

/// `line:column` (1-based, column in bytes) of byte `offset` in `bytes`.
pub(crate) fn line_column(bytes: &[u8], offset: usize) -> String {
    let before = &bytes[..offset.min(bytes.len())];
    let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
    let line_start = before
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |i| i + 1);
    format!("{line}:{}", before.len() - line_start + 1)
}

/// Guesses the format of an artifact, by content first: XML whose first 64 KiB contain a
/// `<testsuite` or `<testsuites` element is JUnit; a text whose first 64 KiB are mostly lines of
/// JSON objects with an `"Action"` key (or start with one) is a `go test -json` stream, which
/// may have a few non-JSON lines such as build errors. Otherwise the extension decides (`.xml`
/// is JUnit; `.json`, `.jsonl`, `.ndjson` are `go test -json`), and anything else is a plain
/// log, even if it quotes a few JSON events.
pub fn detect_format(path: &Path, bytes: &[u8]) -> Format {
    let head = &bytes[..bytes.len().min(SNIFF_BYTES)];
    let head = head.strip_prefix(b"\xef\xbb\xbf").unwrap_or(head);
    let text = head.trim_ascii_start();
    if text.starts_with(b"<") && contains(text, b"<testsuite") {
        return Format::Junit;
    }
    let is_event = |line: &[u8]| line.starts_with(b"{") && contains(line, b"\"Action\"");
    let mut lines = head
        .split(|&b| b == b'\n')
        .map(<[u8]>::trim_ascii)
        .filter(|line| !line.is_empty());
    let first_is_event = lines.next().is_some_and(is_event);
    let (events, others) = lines.fold((0usize, 0usize), |(events, others), line| {
        if is_event(line) {
            (events + 1, others)
        } else {
            (events, others + 1)
        }
    });
    if first_is_event || (events > 0 && events >= others) {
        return Format::GoTestJson;
    }
    let extension = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    match extension.as_deref() {
        Some("xml") => Format::Junit,
        Some("json" | "jsonl" | "ndjson") => Format::GoTestJson,
        _ => Format::PlainLog,
    }
}

/// Whether `needle` occurs in `haystack`.
fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    bstr::ByteSlice::find(haystack, needle).is_some()
}

/// Parses an artifact in the format [`detect_format`] guesses. `path` is only used for that
/// guess and in errors; the caller reads the file.
pub fn parse(path: &Path, bytes: &[u8]) -> Result<ParsedArtifact, IngestError> {
    parse_as(detect_format(path, bytes), path, bytes)
}

/// Parses an artifact in the given format. Plain logs never fail to parse.
pub fn parse_as(format: Format, path: &Path, bytes: &[u8]) -> Result<ParsedArtifact, IngestError> {
    match format {
        Format::Junit => junit::parse(path, bytes),
        Format::GoTestJson => gotest::parse(path, bytes),
        Format::PlainLog => Ok(plainlog::parse(bytes)),
    }
}

/// Hash of an artifact's bytes (XXH3-128, 32 lowercase hex digits), so that re-ingesting a file
/// can be recognised.
pub fn content_hash(bytes: &[u8]) -> String {
    format!("{:032x}", xxh3_128(bytes))
}

/// The files to ingest for the given paths: files are taken as given (in the given order),
/// directories are walked recursively with entries sorted by name. During a walk, hidden
/// entries (name starting with `.`) are skipped, and symbolic links are followed to files but
/// not to directories (so that link cycles cannot trap the walk).
pub fn collect_files(paths: &[PathBuf]) -> io::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for path in paths {
        if std::fs::metadata(path)?.is_dir() {
            walk(path, &mut files)?;
        } else {
            files.push(path.clone());
        }
    }
    Ok(files)
}

/// Appends the files below `dir` to `files`, depth first in name order.
fn walk(dir: &Path, files: &mut Vec<PathBuf>) -> io::Result<()> {
    let mut entries = std::fs::read_dir(dir)?.collect::<io::Result<Vec<_>>>()?;
    entries.sort_by_key(|entry| entry.file_name());
    for entry in entries {
        if entry.file_name().as_encoded_bytes().starts_with(b".") {
            continue;
        }
        let path = entry.path();
        let file_type = entry.file_type()?;
        if file_type.is_dir() {
            walk(&path, files)?;
        } else if file_type.is_file()
            || (file_type.is_symlink() && std::fs::metadata(&path).is_ok_and(|m| m.is_file()))
        {
            files.push(path);
        }
    }
    Ok(())
}

/// The label a sighting's signature is computed with: `fail` for every kind of test failure
/// (JUnit failures, flaky and rerun failures, Go and plain-log failures), `error` for JUnit
/// errors of any kind, and the outcome itself otherwise (`panic`, `timeout`, `log-failure`).
///
/// Attempts that failed the same way thus share a signature whether the test eventually
/// passed or not, and whichever format reported them.
pub fn signature_label(outcome: &str) -> &str {
    match outcome {
        outcome::FAILURE | outcome::FLAKY_FAILURE | outcome::RERUN_FAILURE | outcome::FAIL => {
            "fail"
        }
        outcome::ERROR | outcome::FLAKY_ERROR | outcome::RERUN_ERROR => "error",
        other => other,
    }
}

/// The first telling line of `lines`.
pub(crate) fn first_telling<'a>(lines: &[&'a [u8]]) -> Option<&'a [u8]> {
    lines.iter().copied().find(|line| is_telling_line(line))
}

/// `text` as a message: lossy UTF-8 without NUL bytes, trimmed, at most 1 KiB (cut at a
/// character boundary and ended with `…`).
pub(crate) fn clip_message(text: &[u8]) -> String {
    let decoded = String::from_utf8_lossy(text).replace('\0', "");
    let mut message = decoded.trim().to_string();
    if message.len() > MAX_MESSAGE_BYTES {
        let mut cut = MAX_MESSAGE_BYTES - '…'.len_utf8();
        while !message.is_char_boundary(cut) {
            cut -= 1;
        }
        message.truncate(cut);
        message.push('…');
    }
    message
}

/// What a parser knows about one failure before it becomes a [`Sighting`].
pub(crate) struct Failure<'a> {
    /// Test name.
    pub test: String,
    /// One of the [`outcome`] constants.
    pub outcome: &'static str,
    /// A message stated by the artifact (a JUnit `message` attribute, a pytest summary).
    pub message: Option<&'a [u8]>,
    /// The line that explains the failure, if the parser found one.
    pub telling: Option<&'a [u8]>,
    /// The failure's output, split into lines.
    pub lines: &'a [&'a [u8]],
    /// Duration in seconds.
    pub duration_s: Option<f64>,
}

impl Failure<'_> {
    /// The sighting: message, snippet and signature derived from the output.
    pub fn into_sighting(self) -> Sighting {
        let stated = self.message.filter(|m| !m.trim_ascii().is_empty());
        let message = stated
            .or(self.telling)
            .map(clip_message)
            .unwrap_or_default();
        let tail_start = self.lines.len().saturating_sub(SIGNATURE_TAIL_LINES);
        let tail: Vec<Vec<u8>> = self.lines[tail_start..]
            .iter()
            .map(|l| l.to_vec())
            .collect();
        let signature = signature_for(
            signature_label(self.outcome),
            self.telling.or(stated),
            &tail,
        );
        Sighting {
            test: self.test,
            outcome: self.outcome.to_string(),
            message,
            snippet: snippet::snippet_of_lines(self.lines),
            signature,
            duration_s: self.duration_s,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detect_format_by_content_then_extension() {
        let junit = b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites>\n</testsuites>\n";
        assert_eq!(detect_format(Path::new("report.txt"), junit), Format::Junit);
        assert_eq!(
            detect_format(Path::new("x"), b"\xef\xbb\xbf  <testsuite name=\"a\"/>"),
            Format::Junit
        );
        let events =
            b"{\"Time\":\"2024-01-01T00:00:00Z\",\"Action\":\"start\",\"Package\":\"p\"}\n";
        assert_eq!(
            detect_format(Path::new("go.log"), events),
            Format::GoTestJson
        );
        let with_build_noise = b"# example.com/p\n./x.go:3:1: syntax error\n{\"Action\":\"start\",\"Package\":\"example.com/p\"}\n{\"Action\":\"fail\",\"Package\":\"example.com/p\"}\n";
        assert_eq!(
            detect_format(Path::new("out"), with_build_noise),
            Format::GoTestJson
        );
        // A CI log that quotes one event is still a log.
        let quoting =
            b"step 1\nstep 2\n{\"Action\":\"fail\",\"Package\":\"p\"}\n{ not json\ndone\n";
        assert_eq!(
            detect_format(Path::new("ci.log"), quoting),
            Format::PlainLog
        );
        // XML that is not JUnit: by extension.
        assert_eq!(
            detect_format(Path::new("pom.xml"), b"<project/>"),
            Format::Junit
        );
        assert_eq!(
            detect_format(Path::new("page.html"), b"<html></html>"),
            Format::PlainLog
        );
        // JSON without Action: by extension.
        assert_eq!(
            detect_format(Path::new("a.JSON"), b"{\"x\":1}"),
            Format::GoTestJson
        );
        assert_eq!(
            detect_format(Path::new("a.ndjson"), b""),
            Format::GoTestJson
        );
        assert_eq!(detect_format(Path::new("empty.xml"), b""), Format::Junit);
        assert_eq!(
            detect_format(
                Path::new("2021-04-16T03:16:11-cf2396c/windows-amd64-2012"),
                b"--- FAIL: TestX (1.00s)\n"
            ),
            Format::PlainLog
        );
        assert_eq!(Format::GoTestJson.as_str(), "go-test-json");
        assert_eq!(
            serde_json::to_string(&Format::PlainLog).expect("serialise"),
            "\"plain-log\""
        );
    }

    #[test]
    fn parse_dispatches_on_detected_format() {
        let log = b"--- FAIL: TestX (1.00s)\n    x_test.go:3: boom\nFAIL\n";
        let parsed = parse(Path::new("log"), log).expect("plain logs always parse");
        assert_eq!(parsed.format, Format::PlainLog);
        assert_eq!(parsed.sightings.len(), 1);
        let err = parse(
            Path::new("dir/bad.xml"),
            b"<testsuite>\n  <testcase></testsuite>",
        )
        .expect_err("mismatched tags");
        assert_eq!(err.path, PathBuf::from("dir/bad.xml"));
        assert!(err.to_string().starts_with("dir/bad.xml:2:"), "{err}");
    }

    #[test]
    fn line_column_counts_bytes_from_one() {
        let text = b"ab\ncd\n\nx";
        assert_eq!(line_column(text, 0), "1:1");
        assert_eq!(line_column(text, 2), "1:3");
        assert_eq!(line_column(text, 3), "2:1");
        assert_eq!(line_column(text, 7), "4:1");
        assert_eq!(line_column(text, 100), "4:2");
    }

    #[test]
    fn content_hash_is_xxh3_128_hex() {
        let hash = content_hash(b"");
        assert_eq!(hash.len(), 32);
        // XXH3-128 of the empty input (seed 0).
        assert_eq!(hash, "99aa06d3014798d86001c324468d497f");
        assert_ne!(content_hash(b"a"), content_hash(b"b"));
        assert_eq!(content_hash(b"same"), content_hash(b"same"));
    }

    #[test]
    fn messages_are_clipped_and_cleaned() {
        assert_eq!(clip_message(b"  boom \x00\xff\n"), "boom \u{fffd}");
        let long = "é".repeat(1000);
        let clipped = clip_message(long.as_bytes());
        assert!(clipped.len() <= 1024);
        assert!(clipped.ends_with('…'));
    }

    #[test]
    fn signature_labels_merge_attempts() {
        for o in [
            outcome::FAILURE,
            outcome::FLAKY_FAILURE,
            outcome::RERUN_FAILURE,
            outcome::FAIL,
        ] {
            assert_eq!(signature_label(o), "fail");
        }
        for o in [outcome::ERROR, outcome::FLAKY_ERROR, outcome::RERUN_ERROR] {
            assert_eq!(signature_label(o), "error");
        }
        assert_eq!(signature_label(outcome::TIMEOUT), "timeout");
        assert_eq!(signature_label(outcome::LOG_FAILURE), "log-failure");
    }

    #[test]
    fn collect_files_walks_sorted_and_skips_hidden() {
        let dir = tempfile::tempdir().expect("temp dir");
        let root = dir.path().to_path_buf();
        let mk = |rel: &str| {
            let path = root.join(rel);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).expect("mkdir");
            }
            std::fs::write(&path, b"x").expect("write");
        };
        mk("b/rev/linux-amd64");
        mk("a/z.xml");
        mk("a/sub/y.xml");
        mk("a/.hidden/skipped.xml");
        mk("a/.dotfile");
        mk("top.log");
        let files = collect_files(&[root.join("top.log"), root.clone()]).expect("walk");
        let rel: Vec<String> = files
            .iter()
            .map(|p| {
                p.strip_prefix(&root)
                    .expect("below root")
                    .to_string_lossy()
                    .replace('\\', "/")
            })
            .collect();
        assert_eq!(
            rel,
            [
                "top.log",
                "a/sub/y.xml",
                "a/z.xml",
                "b/rev/linux-amd64",
                "top.log",
            ]
        );
        assert!(collect_files(&[root.join("missing")]).is_err());
    }
}
