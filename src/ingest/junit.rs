//! JUnit XML reports (cargo-nextest, pytest, Maven Surefire, Bazel and the like), read as a
//! stream of XML events so that a large report never becomes a tree in memory.

use std::io::BufRead;

use quick_xml::events::{BytesRef, BytesStart, Event};
use quick_xml::Reader;

use super::limits::Capped;
use super::snippet::split_lines;
use super::xmlcap::XmlCapper;
use super::{
    first_telling, outcome, Failure, Format, Located, ParseResult, ParsedArtifact, Sighting,
};

/// Deepest nesting of elements read; JUnit reports nest a handful deep.
const MAX_DEPTH: usize = 1024;

/// The result elements a `<testcase>` may contain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ResultKind {
    Failure,
    Error,
    Skipped,
    FlakyFailure,
    FlakyError,
    RerunFailure,
    RerunError,
}

impl ResultKind {
    /// The kind of a result element, by local name.
    fn from_name(name: &[u8]) -> Option<Self> {
        Some(match name {
            b"failure" => ResultKind::Failure,
            b"error" => ResultKind::Error,
            b"skipped" => ResultKind::Skipped,
            b"flakyFailure" => ResultKind::FlakyFailure,
            b"flakyError" => ResultKind::FlakyError,
            b"rerunFailure" => ResultKind::RerunFailure,
            b"rerunError" => ResultKind::RerunError,
            _ => return None,
        })
    }

    /// The outcome of the sighting this result becomes (`None` for a skip).
    fn outcome(self) -> Option<&'static str> {
        match self {
            ResultKind::Failure => Some(outcome::FAILURE),
            ResultKind::Error => Some(outcome::ERROR),
            ResultKind::Skipped => None,
            ResultKind::FlakyFailure => Some(outcome::FLAKY_FAILURE),
            ResultKind::FlakyError => Some(outcome::FLAKY_ERROR),
            ResultKind::RerunFailure => Some(outcome::RERUN_FAILURE),
            ResultKind::RerunError => Some(outcome::RERUN_ERROR),
        }
    }

    /// Whether this result makes the test case fail (retries do not: they are attempts).
    fn fails_case(self) -> bool {
        matches!(self, ResultKind::Failure | ResultKind::Error)
    }
}

/// Where the text inside an element goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sink {
    ResultText,
    ResultStack,
    ResultOut,
    ResultErr,
    CaseOut,
    CaseErr,
    SuiteOut,
    SuiteErr,
}

/// What an open element is, so that its end tag can be acted upon.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Frame {
    Suite,
    Case,
    Result,
    Text(Sink),
    Other,
}

/// A result element being read.
#[derive(Debug)]
struct ResultElem {
    kind: ResultKind,
    message: Vec<u8>,
    ty: Vec<u8>,
    time: Option<f64>,
    text: Capped,
    stack: Capped,
    out: Capped,
    err: Capped,
}

/// A `<testcase>` being read.
#[derive(Debug, Default)]
struct Case {
    name: String,
    classname: String,
    time: Option<f64>,
    results: Vec<ResultElem>,
    out: Capped,
    err: Capped,
}

/// A failure before it becomes a sighting.
#[derive(Debug)]
struct Pending {
    test: String,
    outcome: &'static str,
    message: Vec<u8>,
    fallback_message: Vec<u8>,
    output: Vec<u8>,
    duration_s: Option<f64>,
}

/// A failure of a suite still being read, in file order.
#[derive(Debug)]
enum Queued {
    /// Complete already.
    Ready(Sighting),
    /// A final failure without output of its own, waiting for the suite's.
    Waiting(Pending),
}

/// A `<testsuite>` being read.
#[derive(Debug, Default)]
struct Suite {
    out: Capped,
    err: Capped,
    queued: Vec<Queued>,
}

/// The state of one report's parse.
#[derive(Default)]
struct Parser {
    /// Open elements, innermost last, with their names (for error messages).
    frames: Vec<(Frame, Vec<u8>)>,
    suites: Vec<Suite>,
    case: Option<Case>,
    result: Option<ResultElem>,
    sightings: Vec<Sighting>,
    passed: u64,
    failed: u64,
    skipped: u64,
    passed_tests: Vec<String>,
    skipped_tests: Vec<String>,
}

/// Parses a JUnit XML report.
///
/// Test names are `classname.name`, or `classname::name` when either contains `::` (Rust
/// producers such as nextest), or just `name` when the classname is empty, equal to the name,
/// or already its prefix. A case's output is its failure text (and `<stackTrace>`), then its
/// `<system-out>` and `<system-err>`; a failing case without any output of its own gets its
/// suite's `<system-out>`/`<system-err>` (Bazel writes the test log there). Each
/// `<flakyFailure>`, `<flakyError>`, `<rerunFailure>` and `<rerunError>` is a sighting of its
/// own with the output nested inside it; it does not change whether the case passed.
///
/// Memory stays bounded: attribute values are cut at 64 KiB and each output element keeps its
/// first and last 128 KiB, with a cut note in between. A report that ends early (a CI job
/// killed mid-write) keeps the test cases that were complete, with a note; any other malformed
/// XML is an error.
pub(crate) fn parse(input: impl BufRead) -> ParseResult {
    let mut parser = Parser::default();
    let notes = parser.run(input)?;
    Ok((
        ParsedArtifact {
            format: Format::Junit,
            sightings: parser.sightings,
            passed: parser.passed,
            failed: parser.failed,
            skipped: parser.skipped,
            passed_tests: parser.passed_tests,
            skipped_tests: parser.skipped_tests,
            notes: Vec::new(),
        },
        notes,
    ))
}

/// Whether quick-xml failed only because the document ended: the file was cut off.
fn is_cut_off(error: &quick_xml::Error) -> bool {
    matches!(
        error,
        quick_xml::Error::Syntax(_)
            | quick_xml::Error::IllFormed(quick_xml::errors::IllFormedError::UnclosedReference)
    )
}

impl Parser {
    /// Reads every event of the document; returns the notes of a cut-off end.
    fn run(&mut self, input: impl BufRead) -> Result<Vec<Located>, Located> {
        let mut reader = Reader::from_reader(XmlCapper::new(input));
        let mut buffer = Vec::new();
        loop {
            buffer.clear();
            let start = reader.buffer_position();
            let event = match reader.read_event_into(&mut buffer) {
                Ok(event) => event,
                Err(e) => {
                    let capper = reader.get_ref();
                    let at = capper.original_offset(reader.error_position());
                    if let Some(failure) = capper.failure() {
                        let at = capper.read_bytes();
                        return Err(Located::offset(at, format!("unreadable XML: {failure}")));
                    }
                    if capper.at_eof() && is_cut_off(&e) {
                        return Ok(vec![self.cut_off(capper.read_bytes(), &e.to_string())]);
                    }
                    return Err(Located::offset(at, format!("malformed XML: {e}")));
                }
            };
            let opened = match event {
                Event::Start(e) => self.open(&e),
                Event::Empty(e) => self.open(&e).map(|()| self.close()),
                Event::End(_) => {
                    self.close();
                    Ok(())
                }
                Event::Text(t) => {
                    self.text(&t);
                    Ok(())
                }
                Event::CData(t) => {
                    self.text(&t);
                    Ok(())
                }
                Event::GeneralRef(r) => {
                    self.text(&resolve_reference(&r));
                    Ok(())
                }
                Event::Eof => break,
                Event::Comment(_) | Event::Decl(_) | Event::PI(_) | Event::DocType(_) => Ok(()),
            };
            if let Err(message) = opened {
                let at = reader.get_ref().original_offset(start);
                return Err(Located::offset(at, message));
            }
        }
        let Some((_, name)) = self.frames.last() else {
            return Ok(Vec::new());
        };
        let reason = format!("<{}> is not closed", String::from_utf8_lossy(name));
        Ok(vec![self.cut_off(reader.get_ref().read_bytes(), &reason)])
    }

    /// Closes what the end of a cut-off file left open, keeping the complete test cases and
    /// dropping the one cut in two; the note that says so, at `end`.
    fn cut_off(&mut self, end: u64, reason: &str) -> Located {
        while let Some((frame, _)) = self.frames.pop() {
            match frame {
                Frame::Suite => self.finish_suite(),
                Frame::Case => self.case = None,
                Frame::Result => self.result = None,
                Frame::Text(_) | Frame::Other => {}
            }
        }
        let complete = self.passed + self.failed + self.skipped;
        Located::offset(
            end,
            format!(
                "the report ends early ({reason}), as when a CI job is killed mid-write; \
                 kept the {complete} test case(s) that were complete"
            ),
        )
    }

    /// Handles a start tag (or the start of an empty element).
    fn open(&mut self, e: &BytesStart<'_>) -> Result<(), String> {
        // Each open element costs memory: bound the depth as the reader bounds each tag.
        if self.frames.len() >= MAX_DEPTH {
            return Err(format!(
                "unreadable XML: elements nested more than {MAX_DEPTH} deep"
            ));
        }
        let local = e.local_name();
        let name = local.as_ref();
        let frame = if self.result.is_some() {
            match name {
                b"stackTrace" => Frame::Text(Sink::ResultStack),
                b"system-out" => Frame::Text(Sink::ResultOut),
                b"system-err" => Frame::Text(Sink::ResultErr),
                _ => Frame::Other,
            }
        } else if self.case.is_some() {
            // Only direct children of the case count: anything else is unknown markup.
            let direct = matches!(self.frames.last(), Some((Frame::Case, _)));
            match (ResultKind::from_name(name), name) {
                (Some(kind), _) if direct => {
                    let [message, ty, time] = attributes(e, &[b"message", b"type", b"time"])?;
                    self.result = Some(ResultElem {
                        kind,
                        message: message.unwrap_or_default(),
                        ty: ty.unwrap_or_default(),
                        time: time.as_deref().and_then(parse_seconds),
                        text: Capped::default(),
                        stack: Capped::default(),
                        out: Capped::default(),
                        err: Capped::default(),
                    });
                    Frame::Result
                }
                (_, b"system-out") if direct => Frame::Text(Sink::CaseOut),
                (_, b"system-err") if direct => Frame::Text(Sink::CaseErr),
                _ => Frame::Other,
            }
        } else {
            match name {
                b"testsuite" => {
                    self.suites.push(Suite::default());
                    Frame::Suite
                }
                b"testcase" => {
                    let [case_name, classname, time] =
                        attributes(e, &[b"name", b"classname", b"time"])?;
                    self.case = Some(Case {
                        name: lossy(case_name.unwrap_or_default()),
                        classname: lossy(classname.unwrap_or_default()),
                        time: time.as_deref().and_then(parse_seconds),
                        ..Case::default()
                    });
                    Frame::Case
                }
                b"system-out" if !self.suites.is_empty() => Frame::Text(Sink::SuiteOut),
                b"system-err" if !self.suites.is_empty() => Frame::Text(Sink::SuiteErr),
                _ => Frame::Other,
            }
        };
        self.frames.push((frame, name.to_vec()));
        Ok(())
    }

    /// Handles the end of the innermost open element.
    fn close(&mut self) {
        let Some((frame, _)) = self.frames.pop() else {
            return;
        };
        match frame {
            Frame::Suite => self.finish_suite(),
            Frame::Case => self.finish_case(),
            Frame::Result => {
                if let (Some(result), Some(case)) = (self.result.take(), self.case.as_mut()) {
                    case.results.push(result);
                }
            }
            Frame::Text(_) | Frame::Other => {}
        }
    }

    /// Appends character data to the buffer of the innermost element.
    fn text(&mut self, data: &[u8]) {
        let sink = match self.frames.last() {
            Some((Frame::Text(sink), _)) => *sink,
            Some((Frame::Result, _)) => Sink::ResultText,
            _ => return,
        };
        let buffer = match sink {
            Sink::ResultText => self.result.as_mut().map(|r| &mut r.text),
            Sink::ResultStack => self.result.as_mut().map(|r| &mut r.stack),
            Sink::ResultOut => self.result.as_mut().map(|r| &mut r.out),
            Sink::ResultErr => self.result.as_mut().map(|r| &mut r.err),
            Sink::CaseOut => self.case.as_mut().map(|c| &mut c.out),
            Sink::CaseErr => self.case.as_mut().map(|c| &mut c.err),
            Sink::SuiteOut => self.suites.last_mut().map(|s| &mut s.out),
            Sink::SuiteErr => self.suites.last_mut().map(|s| &mut s.err),
        };
        if let Some(buffer) = buffer {
            for piece in data.split(|&b| b == 0) {
                buffer.push(piece);
            }
        }
    }

    /// Counts a finished test case and queues its failures.
    fn finish_case(&mut self) {
        let Some(case) = self.case.take() else {
            return;
        };
        let test = test_name(&case.classname, &case.name);
        if case.results.iter().any(|r| r.kind.fails_case()) {
            self.failed += 1;
        } else if case.results.iter().any(|r| r.kind == ResultKind::Skipped) {
            self.skipped += 1;
            self.skipped_tests.push(test.clone());
        } else {
            self.passed += 1;
            self.passed_tests.push(test.clone());
        }
        let case_out = case.out.finish();
        let case_err = case.err.finish();
        for result in case.results {
            let Some(outcome) = result.kind.outcome() else {
                continue;
            };
            let text = result.text.finish();
            let stack = result.stack.finish();
            let out = result.out.finish();
            let err = result.err.finish();
            let (output, duration_s) = if result.kind.fails_case() {
                let parts = [&text[..], &stack, &out, &err, &case_out, &case_err];
                (join_parts(&parts), case.time)
            } else {
                let parts = [&text[..], &stack, &out, &err];
                (join_parts(&parts), result.time.or(case.time))
            };
            let pending = Pending {
                test: test.clone(),
                outcome,
                message: result.message,
                fallback_message: result.ty,
                output,
                duration_s,
            };
            let is_final = matches!(outcome, outcome::FAILURE | outcome::ERROR);
            match self.suites.last_mut() {
                // Only a final failure without output waits for the suite's output; the rest
                // become sightings now, so that a suite's failures never pile up in memory.
                Some(suite) if is_final && pending.output.is_empty() => {
                    suite.queued.push(Queued::Waiting(pending));
                }
                Some(suite) => suite.queued.push(Queued::Ready(finish(pending))),
                None => self.sightings.push(finish(pending)),
            }
        }
    }

    /// Adds the failures of a finished suite to the sightings, lending the suite's output to
    /// final failures that have none of their own.
    fn finish_suite(&mut self) {
        let Some(suite) = self.suites.pop() else {
            return;
        };
        let suite_output = join_parts(&[&suite.out.finish()[..], &suite.err.finish()]);
        for queued in suite.queued {
            let sighting = match queued {
                Queued::Ready(sighting) => sighting,
                Queued::Waiting(mut pending) => {
                    pending.output.clone_from(&suite_output);
                    finish(pending)
                }
            };
            self.sightings.push(sighting);
        }
    }
}

/// The unescaped values of the attributes `wanted` (by local name) of a tag.
fn attributes<const N: usize>(
    e: &BytesStart<'_>,
    wanted: &[&[u8]; N],
) -> Result<[Option<Vec<u8>>; N], String> {
    let mut values: [Option<Vec<u8>>; N] = std::array::from_fn(|_| None);
    for attr in e.attributes() {
        let attr = attr.map_err(|err| format!("malformed XML: bad attribute: {err}"))?;
        let key = attr.key.local_name();
        if let Some(i) = wanted.iter().position(|w| *w == key.as_ref()) {
            values[i] = Some(unescape_attribute(&attr.value));
        }
    }
    Ok(values)
}

/// The sighting of a queued failure.
fn finish(pending: Pending) -> Sighting {
    let lines = split_lines(&pending.output);
    let telling = first_telling(&lines);
    let message = if !pending.message.trim_ascii().is_empty() {
        Some(&pending.message[..])
    } else if telling.is_none() {
        Some(&pending.fallback_message[..])
    } else {
        None
    };
    Failure {
        test: pending.test,
        outcome: pending.outcome,
        message,
        telling,
        lines: &lines,
        duration_s: pending.duration_s,
    }
    .into_sighting()
}

/// A test's name from its `classname` and `name` attributes (see [`parse`]).
fn test_name(classname: &str, name: &str) -> String {
    if classname.is_empty()
        || classname == name
        || name.starts_with(&format!("{classname}."))
        || name.starts_with(&format!("{classname}::"))
    {
        return name.to_string();
    }
    let bare_name = name.split('[').next().unwrap_or(name);
    let separator = if classname.contains("::") || bare_name.contains("::") {
        "::"
    } else {
        "."
    };
    format!("{classname}{separator}{name}")
}

/// Joins output parts with newlines, dropping leading blank lines and trailing whitespace of
/// each part and skipping parts that are blank.
fn join_parts(parts: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::new();
    for part in parts {
        let trimmed = part.trim_ascii_end();
        let leading = trimmed.len() - trimmed.trim_ascii_start().len();
        let first_line = trimmed[..leading]
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |i| i + 1);
        let trimmed = &trimmed[first_line..];
        if trimmed.is_empty() {
            continue;
        }
        if !out.is_empty() {
            out.push(b'\n');
        }
        out.extend_from_slice(trimmed);
    }
    out
}

/// A seconds attribute (`1.5`, Surefire's `1,234.5`) as a finite non-negative number.
fn parse_seconds(raw: &[u8]) -> Option<f64> {
    let text: String = String::from_utf8_lossy(raw)
        .chars()
        .filter(|&c| c != ',')
        .collect();
    text.trim()
        .parse::<f64>()
        .ok()
        .filter(|s| s.is_finite() && *s >= 0.0)
}

/// Lossy UTF-8 of attribute bytes.
fn lossy(bytes: Vec<u8>) -> String {
    String::from_utf8(bytes).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

/// The character a predefined entity or character reference stands for.
fn reference_char(name: &[u8]) -> Option<char> {
    match name {
        b"lt" => Some('<'),
        b"gt" => Some('>'),
        b"amp" => Some('&'),
        b"apos" => Some('\''),
        b"quot" => Some('"'),
        [b'#', b'x' | b'X', hex @ ..] => std::str::from_utf8(hex)
            .ok()
            .and_then(|h| u32::from_str_radix(h, 16).ok())
            .and_then(char::from_u32),
        [b'#', dec @ ..] => std::str::from_utf8(dec)
            .ok()
            .and_then(|d| d.parse::<u32>().ok())
            .and_then(char::from_u32),
        _ => None,
    }
    .filter(|&c| c != '\0')
}

/// The text of a reference in character data; unknown entities are kept as written.
fn resolve_reference(reference: &BytesRef<'_>) -> Vec<u8> {
    let name: &[u8] = reference;
    match reference_char(name) {
        Some(c) => c.to_string().into_bytes(),
        None if name.starts_with(b"#") => Vec::new(),
        None => [&b"&"[..], name, b";"].concat(),
    }
}

/// An attribute value with references resolved and literal tabs and line breaks turned into
/// spaces (XML attribute-value normalisation). Malformed or unknown references are kept as
/// written; invalid UTF-8 is left for the caller's lossy decoding.
fn unescape_attribute(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        let b = raw[i];
        if b == b'&' {
            let end = raw[i + 1..]
                .iter()
                .take(16)
                .position(|&c| c == b';')
                .map(|p| i + 1 + p);
            if let Some(end) = end {
                if let Some(c) = reference_char(&raw[i + 1..end]) {
                    let mut utf8 = [0u8; 4];
                    out.extend_from_slice(c.encode_utf8(&mut utf8).as_bytes());
                    i = end + 1;
                    continue;
                }
            }
            out.push(b'&');
        } else if matches!(b, b'\t' | b'\n' | b'\r') {
            out.push(b' ');
        } else if b != 0 {
            out.push(b);
        }
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::ingest::{IngestError, IngestNote};

    fn parse_bytes(xml: &[u8]) -> Result<ParsedArtifact, IngestError> {
        crate::ingest::parse_as(Format::Junit, Path::new("report.xml"), xml)
    }

    fn parse_ok(xml: &str) -> ParsedArtifact {
        let parsed = parse_bytes(xml.as_bytes()).expect("valid report");
        assert_eq!(parsed.notes, [], "a complete report");
        parsed
    }

    fn parse_err(xml: &str) -> IngestError {
        parse_bytes(xml.as_bytes()).expect_err("malformed report")
    }

    /// A report that ends early: what was kept and the one note.
    fn parse_cut(xml: &str) -> (ParsedArtifact, IngestNote) {
        let mut parsed = parse_bytes(xml.as_bytes()).expect("a cut-off report is kept");
        assert_eq!(parsed.notes.len(), 1, "{:?}", parsed.notes);
        let note = parsed.notes.remove(0);
        (parsed, note)
    }

    const NEXTEST: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<testsuites name="nextest-run" tests="4" failures="1" errors="0" uuid="0b6d4a5c-6a4f-4b1e-9d0e-2f1b1c9a7e21" timestamp="2024-05-03T10:15:02.123+00:00" time="2.481">
    <testsuite name="flakehunt" tests="4" disabled="1" errors="0" failures="1">
        <testcase name="tests::stable" classname="flakehunt" timestamp="2024-05-03T10:15:02.130+00:00" time="0.004">
        </testcase>
        <testcase name="tests::ignored" classname="flakehunt" timestamp="2024-05-03T10:15:02.131+00:00" time="0.000">
            <skipped/>
        </testcase>
        <testcase name="tests::racy_counter" classname="flakehunt" timestamp="2024-05-03T10:15:02.135+00:00" time="0.512">
            <flakyFailure timestamp="2024-05-03T10:15:02.135+00:00" time="0.201" message="thread &apos;tests::racy_counter&apos; panicked at src/lib.rs:42:9" type="test failure with exit code 101">
                <stackTrace>thread &apos;tests::racy_counter&apos; panicked at src/lib.rs:42:9:
assertion `left == right` failed
  left: 3
 right: 4</stackTrace>
                <system-out>
running 1 test
test tests::racy_counter ... FAILED

failures:

failures:
    tests::racy_counter

test result: FAILED. 0 passed; 1 failed; 0 ignored; 0 measured; 41 filtered out; finished in 0.20s

</system-out>
                <system-err>thread &apos;tests::racy_counter&apos; panicked at src/lib.rs:42:9:
assertion `left == right` failed
  left: 3
 right: 4
note: run with `RUST_BACKTRACE=1` environment variable to display a backtrace
</system-err>
            </flakyFailure>
            <flakyFailure timestamp="2024-05-03T10:15:02.340+00:00" time="0.198" message="thread &apos;tests::racy_counter&apos; panicked at src/lib.rs:42:9" type="test failure with exit code 101">
                <stackTrace>thread &apos;tests::racy_counter&apos; panicked at src/lib.rs:42:9:
assertion `left == right` failed
  left: 2
 right: 4</stackTrace>
                <system-out/>
                <system-err/>
            </flakyFailure>
            <system-out>
running 1 test
test tests::racy_counter ... ok

test result: ok. 1 passed; 0 failed; 0 ignored; 0 measured; 41 filtered out; finished in 0.11s

</system-out>
            <system-err></system-err>
        </testcase>
        <testcase name="store::tests::reopen" classname="flakehunt" timestamp="2024-05-03T10:15:02.700+00:00" time="1.765">
            <failure message="thread &apos;store::tests::reopen&apos; panicked at src/store/mod.rs:310:14" type="test failure with exit code 101">thread &apos;store::tests::reopen&apos; panicked at src/store/mod.rs:310:14:
called `Result::unwrap()` on an `Err` value: SqliteFailure(Error { code: DatabaseBusy, extended_code: 5 }, Some(&quot;database is locked&quot;))</failure>
            <rerunFailure timestamp="2024-05-03T10:15:03.100+00:00" time="0.611" message="thread &apos;store::tests::reopen&apos; panicked at src/store/mod.rs:310:14" type="test failure with exit code 101">
                <stackTrace>thread &apos;store::tests::reopen&apos; panicked at src/store/mod.rs:310:14:
called `Result::unwrap()` on an `Err` value: SqliteFailure(Error { code: DatabaseBusy, extended_code: 5 }, Some(&quot;database is locked&quot;))</stackTrace>
                <system-out>
running 1 test
test store::tests::reopen ... FAILED
</system-out>
                <system-err/>
            </rerunFailure>
            <system-out>
running 1 test
test store::tests::reopen ... FAILED

failures:

failures:
    store::tests::reopen

test result: FAILED. 0 passed; 1 failed; 0 ignored; 0 measured; 41 filtered out; finished in 0.53s

</system-out>
            <system-err>thread &apos;store::tests::reopen&apos; panicked at src/store/mod.rs:310:14:
called `Result::unwrap()` on an `Err` value: SqliteFailure(Error { code: DatabaseBusy, extended_code: 5 }, Some(&quot;database is locked&quot;))
note: run with `RUST_BACKTRACE=1` environment variable to display a backtrace
</system-err>
        </testcase>
    </testsuite>
</testsuites>
"#;

    #[test]
    fn nextest_flaky_and_rerun_failures() {
        let parsed = parse_ok(NEXTEST);
        assert_eq!(parsed.format, Format::Junit);
        assert_eq!((parsed.passed, parsed.failed, parsed.skipped), (2, 1, 1));
        let kinds: Vec<(&str, &str)> = parsed
            .sightings
            .iter()
            .map(|s| (s.test.as_str(), s.outcome.as_str()))
            .collect();
        assert_eq!(
            kinds,
            [
                ("flakehunt::tests::racy_counter", "flaky-failure"),
                ("flakehunt::tests::racy_counter", "flaky-failure"),
                ("flakehunt::store::tests::reopen", "failure"),
                ("flakehunt::store::tests::reopen", "rerun-failure"),
            ]
        );
        let flaky = &parsed.sightings[0];
        assert_eq!(
            flaky.message,
            "thread 'tests::racy_counter' panicked at src/lib.rs:42:9"
        );
        assert_eq!(flaky.duration_s, Some(0.201));
        assert!(flaky
            .snippet
            .starts_with("thread 'tests::racy_counter' panicked"));
        assert!(flaky
            .snippet
            .contains("test tests::racy_counter ... FAILED"));
        assert!(flaky.snippet.contains("note: run with `RUST_BACKTRACE=1`"));
        // The passing attempt's output belongs to no sighting.
        assert!(!flaky.snippet.contains("... ok"));
        assert_eq!(
            flaky.signature.text,
            "fail: thread 'tests::racy_counter' panicked at src/lib.rs:42:9:"
        );
        // Both flaky attempts, the final failure and its rerun: one cluster per cause.
        assert_eq!(parsed.sightings[0].signature, parsed.sightings[1].signature);
        let failure = &parsed.sightings[2];
        assert_eq!(failure.duration_s, Some(1.765));
        assert_eq!(failure.signature, parsed.sightings[3].signature);
        assert!(failure.snippet.contains("Some(\"database is locked\")"));
        assert!(failure.snippet.contains("test result: FAILED."));
        assert_eq!(parsed.sightings[3].duration_s, Some(0.611));
    }

    const PYTEST: &str = r#"<?xml version="1.0" encoding="utf-8"?><testsuites><testsuite name="pytest" errors="1" failures="1" skipped="1" tests="4" time="0.214" timestamp="2024-05-03T12:01:44.518273" hostname="ci-runner-7"><testcase classname="tests.test_cache" name="test_roundtrip" time="0.001" /><testcase classname="tests.test_cache" name="test_eviction[lru-128]" time="0.003"><failure message="assert 127 == 128&#10; +  where 127 = len(&lt;Cache size=127&gt;)">cache = &lt;Cache size=127&gt;

    @pytest.mark.parametrize("policy,size", [("lru", 128)])
    def test_eviction(cache, policy, size):
&gt;       assert len(cache) == size
E       assert 127 == 128
E        +  where 127 = len(&lt;Cache size=127&gt;)

tests/test_cache.py:41: AssertionError</failure><system-out>--------------------------------- Captured Log ---------------------------------
DEBUG    cache:cache.py:88 evicting key 0x7f3a2c</system-out></testcase><testcase classname="tests.test_cache" name="test_remote" time="0.000"><skipped type="pytest.skip" message="needs network">/ci/tests/test_cache.py:50: needs network</skipped></testcase><testcase classname="tests.test_db" name="test_connect" time="0.105"><error message="failed on setup with &quot;ConnectionRefusedError: [Errno 111] Connection refused&quot;">@pytest.fixture
    def db():
&gt;       return connect("127.0.0.1:5432")
E       ConnectionRefusedError: [Errno 111] Connection refused

tests/conftest.py:12: ConnectionRefusedError</error></testcase></testsuite></testsuites>"#;

    #[test]
    fn pytest_failures_errors_and_skips() {
        let parsed = parse_ok(PYTEST);
        assert_eq!((parsed.passed, parsed.failed, parsed.skipped), (1, 2, 1));
        assert_eq!(parsed.sightings.len(), 2);
        let failure = &parsed.sightings[0];
        assert_eq!(failure.test, "tests.test_cache.test_eviction[lru-128]");
        assert_eq!(failure.outcome, "failure");
        // `&#10;` in an attribute is a real line break; `&lt;`/`&gt;` are decoded.
        assert_eq!(
            failure.message,
            "assert 127 == 128\n +  where 127 = len(<Cache size=127>)"
        );
        assert_eq!(failure.duration_s, Some(0.003));
        assert!(failure
            .snippet
            .contains(">       assert len(cache) == size"));
        assert!(failure.snippet.contains("Captured Log"));
        assert_eq!(failure.signature.text, "fail: E assert N == N");
        let error = &parsed.sightings[1];
        assert_eq!(error.test, "tests.test_db.test_connect");
        assert_eq!(error.outcome, "error");
        assert_eq!(
            error.message,
            "failed on setup with \"ConnectionRefusedError: [Errno 111] Connection refused\""
        );
        assert_eq!(
            error.signature.text,
            "error: E ConnectionRefusedError: [Errno N] Connection refused"
        );
    }

    const SUREFIRE: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<testsuite xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:noNamespaceSchemaLocation="https://maven.apache.org/surefire/maven-surefire-plugin/xsd/surefire-test-report.xsd" version="3.0.2" name="com.example.OrderServiceTest" time="3.125" tests="4" errors="1" skipped="0" failures="1">
  <properties>
    <property name="java.version" value="17.0.9"/>
    <property name="os.name" value="Linux"/>
    <property name="surefire.rerunFailingTestsCount" value="2"/>
  </properties>
  <testcase name="placesOrder" classname="com.example.OrderServiceTest" time="0.042"/>
  <testcase name="cancelsOrder" classname="com.example.OrderServiceTest" time="1,204.117">
    <failure message="expected: &lt;CANCELLED&gt; but was: &lt;PENDING&gt;" type="org.opentest4j.AssertionFailedError"><![CDATA[org.opentest4j.AssertionFailedError: expected: <CANCELLED> but was: <PENDING>
	at org.junit.jupiter.api.AssertionFailureBuilder.build(AssertionFailureBuilder.java:151)
	at com.example.OrderServiceTest.cancelsOrder(OrderServiceTest.java:57)
]]></failure>
    <rerunFailure message="expected: &lt;CANCELLED&gt; but was: &lt;PENDING&gt;" type="org.opentest4j.AssertionFailedError">
      <stackTrace><![CDATA[org.opentest4j.AssertionFailedError: expected: <CANCELLED> but was: <PENDING>
	at com.example.OrderServiceTest.cancelsOrder(OrderServiceTest.java:57)
]]></stackTrace>
      <system-out><![CDATA[12:00:01.123 [main] INFO  c.e.OrderService - cancelling order 42
]]></system-out>
    </rerunFailure>
    <rerunError message="Connection reset" type="java.net.SocketException">
      <stackTrace><![CDATA[java.net.SocketException: Connection reset
	at java.base/sun.nio.ch.NioSocketImpl.implRead(NioSocketImpl.java:328)
]]></stackTrace>
    </rerunError>
    <system-out><![CDATA[12:00:00.001 [main] INFO  c.e.OrderService - cancelling order 41
]]></system-out>
  </testcase>
  <testcase name="refundsOrder" classname="com.example.OrderServiceTest" time="0.311">
    <flakyError message="Connection reset" type="java.net.SocketException">
      <stackTrace><![CDATA[java.net.SocketException: Connection reset
	at java.base/sun.nio.ch.NioSocketImpl.implRead(NioSocketImpl.java:328)
]]></stackTrace>
      <system-err><![CDATA[WARN retrying refund]]></system-err>
    </flakyError>
    <flakyFailure message="expected: &lt;200&gt; but was: &lt;503&gt;" type="org.opentest4j.AssertionFailedError">
      <stackTrace>org.opentest4j.AssertionFailedError: expected: &lt;200&gt; but was: &lt;503&gt;</stackTrace>
    </flakyFailure>
  </testcase>
  <testcase name="shipsOrder" classname="com.example.OrderServiceTest" time="0.015">
    <error type="java.lang.NullPointerException"><![CDATA[java.lang.NullPointerException
	at com.example.Shipping.ship(Shipping.java:88)
]]></error>
  </testcase>
</testsuite>
"#;

    #[test]
    fn surefire_reruns_and_flaky_errors() {
        let parsed = parse_ok(SUREFIRE);
        assert_eq!((parsed.passed, parsed.failed, parsed.skipped), (2, 2, 0));
        let kinds: Vec<(&str, &str)> = parsed
            .sightings
            .iter()
            .map(|s| (s.test.as_str(), s.outcome.as_str()))
            .collect();
        assert_eq!(
            kinds,
            [
                ("com.example.OrderServiceTest.cancelsOrder", "failure"),
                ("com.example.OrderServiceTest.cancelsOrder", "rerun-failure"),
                ("com.example.OrderServiceTest.cancelsOrder", "rerun-error"),
                ("com.example.OrderServiceTest.refundsOrder", "flaky-error"),
                ("com.example.OrderServiceTest.refundsOrder", "flaky-failure"),
                ("com.example.OrderServiceTest.shipsOrder", "error"),
            ]
        );
        let failure = &parsed.sightings[0];
        assert_eq!(failure.message, "expected: <CANCELLED> but was: <PENDING>");
        assert_eq!(failure.duration_s, Some(1204.117));
        assert!(failure.snippet.contains("cancelling order 41"));
        assert_eq!(
            failure.signature.text,
            "fail: org.opentest4j.AssertionFailedError: expected: <CANCELLED> but was: <PENDING>"
        );
        assert_eq!(failure.signature, parsed.sightings[1].signature);
        assert!(parsed.sightings[1].snippet.contains("cancelling order 42"));
        assert_eq!(parsed.sightings[2].signature, parsed.sightings[3].signature);
        assert!(parsed.sightings[3]
            .snippet
            .ends_with("WARN retrying refund"));
        // No message attribute: the telling line stands in.
        assert_eq!(
            parsed.sightings[5].message,
            "java.lang.NullPointerException"
        );
    }

    const BAZEL: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<testsuites>
  <testsuite name="server/integration_test" tests="1" failures="0" errors="1">
    <testcase name="server/integration_test" status="run" duration="12" time="12"><error message="exited with error code 1"></error></testcase>
      <system-out>
Generated test.log (if the file is not UTF-8, then this may be unreadable):
<![CDATA[exec ${PAGER:-/usr/bin/less} "$0" || exit 1
Executing tests from //server:integration_test
-----------------------------------------------------------------------------
[==========] Running 2 tests from 1 test suite.
[ RUN      ] Server.Restart
server_test.cc:88: Failure
Expected equality of these values:
  status.code()
    Which is: 14
  absl::StatusCode::kOk
[  FAILED  ] Server.Restart (2003 ms)
[==========] 2 tests from 1 test suite ran. (4010 ms total)
]]>]]&gt;<![CDATA[ end of log]]>
      </system-out>
    </testsuite>
</testsuites>
"#;

    #[test]
    fn bazel_suite_output_goes_to_the_failing_case() {
        let parsed = parse_ok(BAZEL);
        assert_eq!((parsed.passed, parsed.failed, parsed.skipped), (0, 1, 0));
        assert_eq!(parsed.sightings.len(), 1);
        let s = &parsed.sightings[0];
        assert_eq!(s.test, "server/integration_test");
        assert_eq!(s.outcome, "error");
        assert_eq!(s.message, "exited with error code 1");
        assert_eq!(s.duration_s, Some(12.0));
        assert!(s.snippet.starts_with("Generated test.log"));
        assert!(s.snippet.contains("server_test.cc:88: Failure"));
        // A `]]>` inside the log is split across two CDATA sections; it comes back whole.
        assert!(
            s.snippet.ends_with("(4010 ms total)\n]]> end of log"),
            "{}",
            s.snippet
        );
        assert_eq!(s.signature.text, "error: server_test.cc:88: Failure");

        // Older Bazel versions report the exit as a failure rather than an error.
        let parsed = parse_ok(
            &BAZEL
                .replace("<error message=", "<failure message=")
                .replace("</error>", "</failure>"),
        );
        assert_eq!(parsed.sightings[0].outcome, "failure");
        assert!(parsed.sightings[0]
            .snippet
            .contains("[  FAILED  ] Server.Restart"));
    }

    #[test]
    fn case_outside_suites_and_own_output_wins() {
        let xml = r#"<testcase name="TestX" classname="example.com/pkg"><failure message="Failed">    x_test.go:12: got 1, want 2</failure></testcase>"#;
        let parsed = parse_ok(xml);
        assert_eq!(parsed.sightings.len(), 1);
        assert_eq!(parsed.sightings[0].test, "example.com/pkg.TestX");
        assert_eq!(
            parsed.sightings[0].signature.text,
            "fail: x_test.go:12: got N, want N"
        );
        // The message attribute is kept even when a telling line exists.
        assert_eq!(parsed.sightings[0].message, "Failed");

        let xml = r#"<testsuite><testcase name="a"><failure message="m">own</failure></testcase><system-out>suite</system-out></testsuite>"#;
        let parsed = parse_ok(xml);
        assert_eq!(parsed.sightings[0].snippet, "own");
        // No output and no telling line anywhere: the type stands in for a missing message.
        let xml = r#"<testsuite><testcase name="a"><failure type="test failure"/></testcase></testsuite>"#;
        let parsed = parse_ok(xml);
        assert_eq!(parsed.sightings[0].message, "test failure");
        assert_eq!(parsed.sightings[0].signature.text, "fail: test failure");
    }

    #[test]
    fn test_names() {
        assert_eq!(test_name("", "TestX"), "TestX");
        assert_eq!(test_name("tests.test_x", "test_y"), "tests.test_x.test_y");
        assert_eq!(
            test_name("flakehunt", "tests::foo"),
            "flakehunt::tests::foo"
        );
        assert_eq!(test_name("crate::bin/x", "foo"), "crate::bin/x::foo");
        assert_eq!(test_name("t", "test_a[x::y]"), "t.test_a[x::y]");
        assert_eq!(test_name("Suite works", "Suite works"), "Suite works");
        assert_eq!(test_name("pkg", "pkg.TestX"), "pkg.TestX");
    }

    #[test]
    fn entities_and_references() {
        let xml = "<testsuite name=\"s\"><testcase name=\"n&amp;m\" classname=\"c\">\
            <failure message=\"a&#9;b&#x41;&unknown;&#0;\">x &lt;&gt;&amp;&apos;&quot; &#65;&#x42;&#128512; &nbsp; y</failure>\
            </testcase></testsuite>";
        let parsed = parse_ok(xml);
        let s = &parsed.sightings[0];
        assert_eq!(s.test, "c.n&m");
        assert_eq!(s.message, "a\tbA&unknown;&#0;");
        assert_eq!(s.snippet, "x <>&'\" AB\u{1F600} &nbsp; y");
        assert_eq!(unescape_attribute(b"l1\nl2\tx&#10;"), b"l1 l2 x\n");
    }

    #[test]
    fn malformed_xml_reports_line_and_column() {
        // Mismatched end tag: reported where the bad end tag starts.
        let err = parse_err("<?xml version=\"1.0\"?>\n<testsuites>\n  <testsuite name=\"a\">\n    <testcase name=\"x\"></testsuite>\n</testsuites>\n");
        assert_eq!(err.position, "4:24", "{err}");
        assert!(err.message.contains("testsuite"), "{err}");
        assert_eq!(err.path, Path::new("report.xml"));
        assert!(
            err.to_string()
                .starts_with("report.xml:4:24: malformed XML"),
            "{err}"
        );
        // Bad attribute: reported at its tag.
        let err = parse_err("<testsuites>\n  <testcase name=\"x\" name=\"y\"/>\n</testsuites>");
        assert_eq!(err.position, "2:3", "{err}");
        // An oversize tag (after its values are cut): refused, not read whole.
        let mut xml = b"<testsuites>\n<testcase".to_vec();
        for i in 0..100 {
            xml.extend_from_slice(format!(" a{i}=\"{}\"", "v".repeat(64 * 1024)).as_bytes());
        }
        let err = parse_bytes(&xml).expect_err("too long");
        assert!(err.message.contains("tag longer than"), "{err}");
        // So is absurd nesting.
        let err = parse_err(&"<a>".repeat(MAX_DEPTH + 1));
        assert!(err.message.contains("nested more than 1024 deep"), "{err}");
        assert_eq!(err.position, format!("1:{}", 3 * MAX_DEPTH + 1));
    }

    #[test]
    fn cut_off_reports_keep_their_complete_cases() {
        let head = "<testsuites>\n<testsuite name=\"s\">\n<testcase name=\"ok\"/>\n\
            <testcase name=\"bad\"><failure message=\"boom\">x.go:1: boom</failure></testcase>\n";
        // Cut inside a test case, inside a tag, inside a value, inside text, inside a
        // reference, inside CDATA, inside a comment, or between elements.
        let tails = [
            "<testcase name=\"cut\"><failure>half",
            "<testcase name=\"cut\"><fail",
            "<testcase name=\"cut",
            "<testcase name=\"cut\"><failure>a &am",
            "<testcase name=\"cut\"><system-out><![CDATA[lo",
            "<!-- a comm",
            "</testsuite",
            "",
        ];
        for tail in tails {
            let xml = format!("{head}{tail}");
            let (parsed, note) = parse_cut(&xml);
            assert_eq!(
                (parsed.passed, parsed.failed, parsed.skipped),
                (1, 1, 0),
                "{tail}"
            );
            assert_eq!(parsed.sightings.len(), 1);
            assert_eq!(parsed.sightings[0].test, "bad");
            assert_eq!(parsed.sightings[0].message, "boom");
            let line = xml.matches('\n').count() + 1;
            let column = xml.len() - xml.rfind('\n').map_or(0, |i| i + 1) + 1;
            assert_eq!(note.position, format!("{line}:{column}"), "{tail}");
            assert!(
                note.message.contains("ends early")
                    && note.message.contains("kept the 2 test case(s)"),
                "{note}"
            );
        }
        // The suite output read before the cut is still lent to failures without output.
        let (parsed, note) = parse_cut(
            "<testsuite><testcase name=\"a\"><error/></testcase><system-out>log line 1\nlog l",
        );
        assert_eq!(parsed.sightings[0].snippet, "log line 1\nlog l");
        assert!(
            note.message.contains("<system-out> is not closed"),
            "{note}"
        );
    }

    #[test]
    fn long_text_anywhere_is_read() {
        // Split into pieces by the reader wherever it is: before the root, between elements,
        // after the root.
        let space = " \n".repeat(100 * 1024);
        let xml = format!(
            "<?xml version=\"1.0\"?>{space}<testsuites>{space}<testsuite>{space}\
             <testcase name=\"a\"><failure>x</failure></testcase>{space}</testsuite>\
             </testsuites>{space}"
        );
        let parsed = parse_ok(&xml);
        assert_eq!(parsed.failed, 1);
        assert_eq!(parsed.sightings[0].snippet, "x");
    }

    #[test]
    fn oversize_fields_are_cut_with_a_note() {
        let big = 3 * 1024 * 1024;
        let mut xml = String::from("<testsuite><testcase name=\"t\"><failure message=\"");
        xml.push_str(&"M".repeat(big));
        xml.push_str("\">panic: boom\n");
        xml.push_str(&"o".repeat(big));
        xml.push_str("\nlast words</failure><system-out><![CDATA[");
        // Many small sections add up like one big one.
        for _ in 0..(big / 1000) {
            xml.push_str(&"c".repeat(999));
            xml.push_str("\n]]><![CDATA[");
        }
        xml.push_str("end of out]]></system-out></testcase></testsuite>");
        let parsed = parse_ok(&xml);
        let s = &parsed.sightings[0];
        assert!(s.message.starts_with("MMM"), "{}", s.message);
        // Cut by the reader at 64 KiB, then clipped like any message.
        assert!(
            s.message.ends_with("M…[... 2.9 MiB cut ...]"),
            "{}",
            s.message
        );
        assert!(s.message.len() <= 1024);
        assert_eq!(s.signature.text, "fail: panic: boom");
        // The failure text and the output each keep their start and end around a note.
        let notes: Vec<&str> = s
            .snippet
            .lines()
            .filter(|l| l.ends_with(" cut ...]"))
            .collect();
        assert_eq!(
            notes,
            ["[... 2.8 MiB cut ...]", "[... 2.7 MiB cut ...]"],
            "{}",
            s.snippet
        );
        assert!(s.snippet.contains("panic: boom"));
        assert!(s.snippet.contains("last words"));
        assert!(s.snippet.ends_with("end of out"), "{}", s.snippet);
    }

    #[test]
    fn empty_and_passing_reports() {
        let parsed = parse_ok("");
        assert_eq!((parsed.passed, parsed.failed, parsed.skipped), (0, 0, 0));
        let parsed = parse_ok("<?xml version=\"1.0\"?>\n<!-- generated --><testsuites><testsuite name=\"s\" tests=\"2\"><testcase name=\"a\"/><testcase name=\"b\"><system-out>fine</system-out></testcase></testsuite></testsuites>");
        assert_eq!((parsed.passed, parsed.failed, parsed.skipped), (2, 0, 0));
        assert!(parsed.sightings.is_empty());
    }

    #[test]
    fn invalid_utf8_in_output_is_replaced() {
        let mut xml = b"<testsuite><testcase name=\"a\"><failure>panic: bad \xff\xfe bytes</failure></testcase></testsuite>".to_vec();
        xml.extend_from_slice(b"\n");
        let parsed = parse_bytes(&xml).expect("bytes are kept as-is");
        assert_eq!(
            parsed.sightings[0].snippet,
            "panic: bad \u{fffd}\u{fffd} bytes"
        );
    }
}
