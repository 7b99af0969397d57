//! Parsers of CI artifacts (JUnit XML, `go test -json` streams, plain logs): each file becomes
//! the failure sightings it records, with snippets and signatures, ready for the history store.
//! Parsing is pure: callers store the results.
//!
//! Files are read as streams ([`Artifact`]) and every field is capped (see `limits`), so that
//! memory stays bounded whatever the size of a file or of one line in it. What a cut-off file
//! still holds is kept, with a note saying what was lost.

pub mod date;
mod gotest;
mod junit;
mod layout;
mod limits;
mod plainlog;
mod snippet;
mod xmlcap;

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use serde::Serialize;
use xxhash_rust::xxh3::Xxh3;

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

/// Size of the buffer files are read through.
const READ_BUFFER_BYTES: usize = 64 * 1024;

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
    /// Names of the tests that passed, as failures name them (plain logs: those named by
    /// verbose output only).
    pub passed_tests: Vec<String>,
    /// Names of the tests that were skipped.
    pub skipped_tests: Vec<String>,
    /// What the parse had to leave out, such as the cut-off end of a file whose CI job was
    /// killed mid-write. The rest of the file is in the counts and sightings.
    pub notes: Vec<IngestNote>,
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

/// Something a parse left out of an artifact it otherwise read, such as a line cut off
/// mid-write.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{}:{position}: {message}", path.display())]
pub struct IngestNote {
    /// The artifact.
    pub path: PathBuf,
    /// `line:column`, both 1-based, the column counted in bytes.
    pub position: String,
    /// What was left out, and why.
    pub message: String,
}

/// Where in an artifact a parser found something.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum At {
    /// A byte offset, turned into a line and column by reading the artifact again.
    Offset(u64),
    /// A 1-based line and column.
    LineColumn(u64, u64),
}

/// A parser's error or note, before it is tied to a path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Located {
    pub at: At,
    pub message: String,
}

impl Located {
    /// A message at byte `offset`.
    pub fn offset(offset: u64, message: String) -> Self {
        Located {
            at: At::Offset(offset),
            message,
        }
    }

    /// A message at `line:column`.
    pub fn line_column(line: u64, column: u64, message: String) -> Self {
        Located {
            at: At::LineColumn(line, column),
            message,
        }
    }
}

/// What a parser returns: the artifact and the notes it left, or the error that stopped it.
pub(crate) type ParseResult = Result<(ParsedArtifact, Vec<Located>), Located>;

/// `line:column` (1-based, column in bytes) of byte `offset` of a stream; a stream that ends
/// or fails to read before it gives the position where it did.
fn line_column_in(mut input: impl Read, offset: u64) -> String {
    let (mut line, mut line_start, mut position) = (1u64, 0u64, 0u64);
    let mut buffer = vec![0; READ_BUFFER_BYTES];
    while position < offset {
        let wanted = usize::try_from(offset - position)
            .unwrap_or(usize::MAX)
            .min(buffer.len());
        let read = match input.read(&mut buffer[..wanted]) {
            Ok(0) | Err(_) => break,
            Ok(read) => read,
        };
        for (i, &b) in buffer[..read].iter().enumerate() {
            if b == b'\n' {
                line += 1;
                line_start = position + i as u64 + 1;
            }
        }
        position += read as u64;
    }
    format!("{line}:{}", position - line_start + 1)
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

/// Parses an artifact held in memory, in the format [`detect_format`] guesses. `path` is only
/// used for that guess and in errors and notes. [`Artifact`] reads a file in bounded memory.
#[cfg(test)]
pub fn parse(path: &Path, bytes: &[u8]) -> Result<ParsedArtifact, IngestError> {
    parse_as(detect_format(path, bytes), path, bytes)
}

/// Parses an artifact held in memory in the given format. Plain logs never fail to parse.
pub fn parse_as(format: Format, path: &Path, bytes: &[u8]) -> Result<ParsedArtifact, IngestError> {
    parse_source(format, path, Source::Bytes(bytes))
}

/// Hash of an artifact's bytes (XXH3-128, 32 lowercase hex digits), so that re-ingesting a file
/// can be recognised.
#[cfg(test)]
pub fn content_hash(bytes: &[u8]) -> String {
    format!("{:032x}", xxhash_rust::xxh3::xxh3_128(bytes))
}

/// An artifact file, read as a stream so that its size does not matter: [`Artifact::open`]
/// reads it once for its hash and format, [`Artifact::parse`] once more to parse it.
#[derive(Debug, Clone)]
pub struct Artifact {
    path: PathBuf,
    hash: String,
    format: Format,
}

impl Artifact {
    /// Reads the file at `path` for its [`content_hash`] and its format ([`detect_format`]).
    pub fn open(path: &Path) -> io::Result<Artifact> {
        let mut file = File::open(path)?;
        let mut hasher = Xxh3::new();
        let mut head = Vec::new();
        let mut buffer = vec![0; READ_BUFFER_BYTES];
        loop {
            let read = match file.read(&mut buffer) {
                Ok(0) => break,
                Ok(read) => read,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            hasher.update(&buffer[..read]);
            let wanted = SNIFF_BYTES.saturating_sub(head.len()).min(read);
            head.extend_from_slice(&buffer[..wanted]);
        }
        Ok(Artifact {
            path: path.to_path_buf(),
            hash: format!("{:032x}", hasher.digest128()),
            format: detect_format(path, &head),
        })
    }

    /// The [`content_hash`] of the file.
    pub fn hash(&self) -> &str {
        &self.hash
    }

    /// The format it will be parsed as.
    #[cfg(test)]
    pub fn format(&self) -> Format {
        self.format
    }

    /// Parses the file, reading it again (a file changed since [`Artifact::open`] is parsed
    /// as it is now).
    pub fn parse(&self) -> Result<ParsedArtifact, IngestError> {
        parse_source(self.format, &self.path, Source::File(&self.path))
    }
}

/// Where an artifact's bytes are.
#[derive(Debug, Clone, Copy)]
enum Source<'a> {
    Bytes(&'a [u8]),
    File(&'a Path),
}

impl Source<'_> {
    /// A fresh stream of the bytes.
    fn open(&self) -> io::Result<Box<dyn BufRead + '_>> {
        Ok(match *self {
            Source::Bytes(bytes) => Box::new(bytes),
            Source::File(path) => Box::new(BufReader::with_capacity(
                READ_BUFFER_BYTES,
                File::open(path)?,
            )),
        })
    }

    /// `line:column` of a position.
    fn position(&self, at: At) -> String {
        match at {
            At::LineColumn(line, column) => format!("{line}:{column}"),
            At::Offset(offset) => match self.open() {
                Ok(input) => line_column_in(input, offset),
                Err(_) => format!("byte {offset}"),
            },
        }
    }
}

/// Parses an artifact from `source`, tying errors and notes to `path`.
fn parse_source(
    format: Format,
    path: &Path,
    source: Source<'_>,
) -> Result<ParsedArtifact, IngestError> {
    let input = source.open().map_err(|e| IngestError {
        path: path.to_path_buf(),
        position: "1:1".to_string(),
        message: format!("cannot read it: {e}"),
    })?;
    let result = match format {
        Format::Junit => junit::parse(input),
        Format::GoTestJson => gotest::parse(input),
        Format::PlainLog => plainlog::parse_stream(input),
    };
    match result {
        Ok((mut parsed, notes)) => {
            parsed.notes = notes
                .into_iter()
                .map(|note| IngestNote {
                    path: path.to_path_buf(),
                    position: source.position(note.at),
                    message: note.message,
                })
                .collect();
            Ok(parsed)
        }
        Err(error) => Err(IngestError {
            path: path.to_path_buf(),
            position: source.position(error.at),
            message: error.message,
        }),
    }
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
/// character boundary and ended with `…`). A cut note ending `text` (an oversize field cut at
/// ingest) stays at the end.
pub(crate) fn clip_message(text: &[u8]) -> String {
    let decoded = String::from_utf8_lossy(text).replace('\0', "");
    let trimmed = decoded.trim();
    let (body, note) = match limits::trailing_cut_note(trimmed) {
        Some(start) => trimmed.split_at(start),
        None => (trimmed, ""),
    };
    let budget = MAX_MESSAGE_BYTES - note.len();
    let mut message = body.to_string();
    if message.len() > budget {
        let mut cut = budget - '…'.len_utf8();
        while !message.is_char_boundary(cut) {
            cut -= 1;
        }
        message.truncate(cut);
        message.push('…');
    }
    message.push_str(note);
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
        let text = &b"ab\ncd\n\nx"[..];
        assert_eq!(line_column_in(text, 0), "1:1");
        assert_eq!(line_column_in(text, 2), "1:3");
        assert_eq!(line_column_in(text, 3), "2:1");
        assert_eq!(line_column_in(text, 7), "4:1");
        assert_eq!(line_column_in(text, 100), "4:2");
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
        // The note of a field cut at ingest survives clipping.
        let cut = format!("{}{}", "a".repeat(5000), limits::cut_note(99 << 20));
        let clipped = clip_message(cut.as_bytes());
        assert!(clipped.len() <= 1024);
        assert!(clipped.ends_with("a…[... 99.0 MiB cut ...]"), "{clipped}");
        assert_eq!(
            clip_message(b"short[... 10 B cut ...]"),
            "short[... 10 B cut ...]"
        );
    }

    #[test]
    fn artifacts_are_hashed_and_sniffed_as_streams() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("events");
        let mut bytes = b"{\"Action\":\"run\",\"Package\":\"p\",\"Test\":\"T\"}\n".to_vec();
        bytes.extend(std::iter::repeat_n(b'x', 3 * READ_BUFFER_BYTES + 17));
        std::fs::write(&path, &bytes).expect("write");
        let artifact = Artifact::open(&path).expect("open");
        assert_eq!(artifact.hash(), content_hash(&bytes));
        assert_eq!(artifact.format(), Format::GoTestJson);
        let parsed = artifact.parse().expect("parse");
        assert_eq!(parsed.format, Format::GoTestJson);
        assert!(Artifact::open(&dir.path().join("missing")).is_err());
    }

    #[test]
    fn positions_of_streams() {
        assert_eq!(line_column_in(&b"ab\ncd"[..], 4), "2:2");
        // Past the end: the end.
        assert_eq!(line_column_in(&b"ab\n"[..], 40), "2:1");
        assert_eq!(Source::Bytes(b"a\nb").position(At::Offset(2)), "2:1");
        assert_eq!(Source::Bytes(b"").position(At::LineColumn(7, 3)), "7:3");
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
