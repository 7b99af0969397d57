//! A pass in front of quick-xml that bounds how much it buffers for one event. quick-xml reads
//! a whole event (a tag with its attributes, a run of text) before returning it, so a 100 MB
//! attribute would be held whole, more than once. This pass follows just enough of XML's
//! lexical rules (the same ones quick-xml uses to find where each piece of markup ends) to:
//!
//! - split long runs of text and CDATA into pieces by inserting empty `<![CDATA[]]>` sections
//!   (or `]]><![CDATA[` inside CDATA), which changes no character data: the parser caps what
//!   it gathers;
//! - cut attribute values after [`ATTRIBUTE_BYTES`], ending them with a cut note;
//! - cut the content of comments and processing instructions, which nobody reads;
//! - refuse tags and DOCTYPE declarations that stay oversize even so.
//!
//! It records where it changed the byte count, so that positions quick-xml reports can be
//! mapped back to the file.

use std::io::{self, BufRead, Read};

use bstr::ByteSlice;
use quick_xml::errors::SyntaxError;
use quick_xml::events::Event;
use quick_xml::Reader;

use super::limits::cut_note;

/// Longest attribute value kept, in bytes (a few more to end a reference or a character).
const ATTRIBUTE_BYTES: usize = 64 * 1024;

/// Longest run of text or CDATA handed to quick-xml as one event.
const SPLIT_BYTES: usize = 64 * 1024;

/// Longest tag (with its values already cut) or DOCTYPE declaration accepted.
const MARKUP_BYTES: usize = 4 * 1024 * 1024;

/// Longest comment or processing instruction content kept.
const IGNORED_BYTES: usize = 4 * 1024;

/// How far past a cut a value is kept to end an entity reference or a UTF-8 character.
const REFERENCE_SLACK: usize = 32;

/// Where in the XML grammar the pass is.
#[derive(Debug)]
enum State {
    /// Character data: `run` bytes since the last split; inside an `&...` reference, how long
    /// it is so far.
    Text {
        run: usize,
        reference: Option<usize>,
    },
    /// Just after `<`.
    Open,
    /// Just after `<!`.
    Bang,
    /// In `<![CDATA[...]]>`: `seen` bytes after `<!`, `brackets` trailing `]` (at most 2).
    CData {
        seen: usize,
        brackets: u8,
        run: usize,
    },
    /// In `<!--...-->`: `seen` bytes after `<!`, `dashes` trailing `-` (at most 2).
    Comment {
        seen: usize,
        dashes: u8,
        dropped: u64,
    },
    /// In `<?...?>`: `seen` bytes after `<`, whether the last one was `?`.
    Pi {
        seen: usize,
        question: bool,
        dropped: u64,
    },
    /// In `<!DOCTYPE...>`: the declaration so far.
    Doctype(Vec<u8>),
    /// In a tag, outside quotes, `size` bytes long so far.
    Tag { size: usize },
    /// In a quoted attribute value.
    Value {
        quote: u8,
        size: usize,
        kept: usize,
        /// Inside an `&...` reference not yet ended by `;`.
        reference: bool,
        dropped: u64,
    },
    /// After markup quick-xml rejects as soon as it sees it: passed on as is.
    Passthrough,
}

/// The part of [`XmlCapper`] that does not borrow the input.
#[derive(Debug)]
struct Core {
    out: Vec<u8>,
    state: State,
    /// Input bytes consumed.
    read: u64,
    /// Output bytes produced.
    written: u64,
    /// `(written, read)` after each change of the difference between the two.
    shifts: Vec<(u64, u64)>,
    failure: Option<String>,
}

/// A [`BufRead`] that passes an XML document on with its oversize pieces split or cut (see the
/// module documentation).
pub(crate) struct XmlCapper<R> {
    input: R,
    core: Core,
    pos: usize,
    eof: bool,
}

impl<R: BufRead> XmlCapper<R> {
    /// Wraps a document.
    pub fn new(input: R) -> Self {
        XmlCapper {
            input,
            core: Core {
                out: Vec::new(),
                state: State::Text {
                    run: 0,
                    reference: None,
                },
                read: 0,
                written: 0,
                shifts: Vec::new(),
                failure: None,
            },
            pos: 0,
            eof: false,
        }
    }

    /// Why the document was refused, if it was.
    pub fn failure(&self) -> Option<&str> {
        self.core.failure.as_deref()
    }

    /// Whether all of the input was read and passed on.
    pub fn at_eof(&self) -> bool {
        self.eof && self.pos == self.core.out.len()
    }

    /// How many input bytes were read.
    pub fn read_bytes(&self) -> u64 {
        self.core.read
    }

    /// The input offset of the byte at `offset` in the output (for a byte the pass inserted,
    /// about where it was inserted).
    pub fn original_offset(&self, offset: u64) -> u64 {
        let shifts = &self.core.shifts;
        let i = shifts.partition_point(|&(written, _)| written <= offset);
        let mapped = match i.checked_sub(1) {
            Some(j) => shifts[j].1 + (offset - shifts[j].0),
            None => offset,
        };
        match shifts.get(i) {
            Some(&(_, next_read)) => mapped.min(next_read),
            None => mapped,
        }
    }
}

impl<R: BufRead> Read for XmlCapper<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let available = self.fill_buf()?;
        let n = available.len().min(buf.len());
        buf[..n].copy_from_slice(&available[..n]);
        self.consume(n);
        Ok(n)
    }
}

impl<R: BufRead> BufRead for XmlCapper<R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        while self.pos == self.core.out.len() && !self.eof {
            if let Some(failure) = &self.core.failure {
                return Err(io::Error::new(io::ErrorKind::InvalidData, failure.clone()));
            }
            self.core.out.clear();
            self.pos = 0;
            let chunk = self.input.fill_buf()?;
            if chunk.is_empty() {
                self.eof = true;
                break;
            }
            let used = chunk.len();
            self.core.process(chunk);
            self.input.consume(used);
        }
        Ok(&self.core.out[self.pos..])
    }

    fn consume(&mut self, amount: usize) {
        self.pos = (self.pos + amount).min(self.core.out.len());
    }
}

impl Core {
    /// Passes input bytes on.
    fn emit(&mut self, bytes: &[u8]) {
        self.out.extend_from_slice(bytes);
        self.read += bytes.len() as u64;
        self.written += bytes.len() as u64;
    }

    /// Skips input bytes.
    fn drop_bytes(&mut self, count: usize) {
        self.read += count as u64;
    }

    /// Adds bytes of its own.
    fn insert(&mut self, bytes: &[u8]) {
        self.out.extend_from_slice(bytes);
        self.written += bytes.len() as u64;
        self.shifts.push((self.written, self.read));
    }

    /// Passes on a run of text or CDATA, inserting `split` each [`SPLIT_BYTES`] bytes of the
    /// run; with `hold`, not before the first byte.
    fn copy_run(&mut self, mut bytes: &[u8], split: &[u8], run: &mut usize, mut hold: bool) {
        while !bytes.is_empty() {
            if *run >= SPLIT_BYTES && !hold {
                self.insert(split);
                *run = 0;
            }
            let take = SPLIT_BYTES.saturating_sub(*run).clamp(1, bytes.len());
            self.emit(&bytes[..take]);
            *run += take;
            bytes = &bytes[take..];
            hold = false;
        }
    }

    /// Passes on (or past a limit, drops) content that is ignored anyway.
    fn keep_or_drop(&mut self, bytes: &[u8], seen: usize, dropped: &mut u64) {
        let keep = IGNORED_BYTES.saturating_sub(seen).min(bytes.len());
        self.emit(&bytes[..keep]);
        self.drop_bytes(bytes.len() - keep);
        *dropped += (bytes.len() - keep) as u64;
    }

    /// Processes a chunk of input.
    fn process(&mut self, mut input: &[u8]) {
        while !input.is_empty() && self.failure.is_none() {
            let used = self.step(input);
            input = &input[used..];
        }
    }

    /// Processes the start of `input`; returns how many bytes it used (0 only when the state
    /// changed).
    fn step(&mut self, input: &[u8]) -> usize {
        match std::mem::replace(&mut self.state, State::Passthrough) {
            State::Text {
                mut run,
                reference: Some(length),
            } => {
                let b = input[0];
                self.emit(&input[..1]);
                run += 1;
                self.state = match b {
                    b'<' => State::Open,
                    b';' => State::Text {
                        run,
                        reference: None,
                    },
                    b'&' => State::Text {
                        run,
                        reference: Some(1),
                    },
                    // Not a reference after all: quick-xml rejects the `&`, so a split is
                    // harmless.
                    _ if length > REFERENCE_SLACK => State::Text {
                        run,
                        reference: None,
                    },
                    _ => State::Text {
                        run,
                        reference: Some(length + 1),
                    },
                };
                1
            }
            State::Text {
                mut run,
                reference: None,
            } => {
                let end = input.find_byteset(b"<&").unwrap_or(input.len());
                self.copy_run(&input[..end], b"<![CDATA[]]>", &mut run, false);
                self.state = State::Text {
                    run,
                    reference: None,
                };
                if end < input.len() {
                    self.emit(&input[end..=end]);
                    self.state = if input[end] == b'<' {
                        State::Open
                    } else {
                        State::Text {
                            run: run + 1,
                            reference: Some(1),
                        }
                    };
                    return end + 1;
                }
                end
            }
            State::Open => match input[0] {
                b'!' => {
                    self.emit(&input[..1]);
                    self.state = State::Bang;
                    1
                }
                b'?' => {
                    self.emit(&input[..1]);
                    self.state = State::Pi {
                        seen: 1,
                        question: true,
                        dropped: 0,
                    };
                    1
                }
                _ => {
                    self.state = State::Tag { size: 1 };
                    0
                }
            },
            State::Bang => {
                self.state = match input[0] {
                    b'[' => State::CData {
                        seen: 0,
                        brackets: 0,
                        run: 0,
                    },
                    b'-' => State::Comment {
                        seen: 0,
                        dashes: 0,
                        dropped: 0,
                    },
                    b'D' | b'd' => State::Doctype(b"<!".to_vec()),
                    _ => State::Passthrough,
                };
                0
            }
            State::CData {
                seen,
                brackets,
                mut run,
            } => {
                // `[CDATA[` itself is passed on byte by byte, never split.
                let plain = if seen < 7 {
                    0
                } else {
                    input.find_byteset(b"]>").unwrap_or(input.len())
                };
                if plain > 0 {
                    self.copy_run(&input[..plain], b"]]><![CDATA[", &mut run, brackets > 0);
                    self.state = State::CData {
                        seen: seen + plain,
                        brackets: 0,
                        run,
                    };
                    return plain;
                }
                let b = input[0];
                let ends = b == b'>' && brackets >= 2;
                // Split before a `]` or `>` too (never after a `]`), or a run of `]]x` would
                // never be split.
                if !ends && seen >= 7 && brackets == 0 && run >= SPLIT_BYTES {
                    self.insert(b"]]><![CDATA[");
                    run = 0;
                }
                self.emit(&input[..1]);
                self.state = if ends {
                    State::Text {
                        run: 0,
                        reference: None,
                    }
                } else {
                    State::CData {
                        seen: seen + 1,
                        brackets: if b == b']' { (brackets + 1).min(2) } else { 0 },
                        run: run + 1,
                    }
                };
                1
            }
            State::Comment {
                seen,
                dashes,
                mut dropped,
            } => {
                let plain = input.find_byteset(b"->").unwrap_or(input.len());
                if plain > 0 {
                    self.keep_or_drop(&input[..plain], seen, &mut dropped);
                    self.state = State::Comment {
                        seen: seen + plain,
                        dashes: 0,
                        dropped,
                    };
                    return plain;
                }
                // quick-xml ends a comment at the first `-->` at least 6 bytes past `<`.
                if input[0] == b'>' && dashes >= 2 && seen >= 4 {
                    if dropped > 0 {
                        // The closing `--` may have been dropped: write it anew.
                        self.drop_bytes(1);
                        self.insert(b"-->");
                    } else {
                        self.emit(&input[..1]);
                    }
                    self.state = State::Text {
                        run: 0,
                        reference: None,
                    };
                    return 1;
                }
                self.keep_or_drop(&input[..1], seen, &mut dropped);
                self.state = State::Comment {
                    seen: seen + 1,
                    dashes: if input[0] == b'-' {
                        (dashes + 1).min(2)
                    } else {
                        0
                    },
                    dropped,
                };
                1
            }
            State::Pi {
                seen,
                question,
                mut dropped,
            } => {
                let plain = input.find_byteset(b"?>").unwrap_or(input.len());
                if plain > 0 {
                    self.keep_or_drop(&input[..plain], seen, &mut dropped);
                    self.state = State::Pi {
                        seen: seen + plain,
                        question: false,
                        dropped,
                    };
                    return plain;
                }
                if input[0] == b'>' && question {
                    if dropped > 0 {
                        self.drop_bytes(1);
                        self.insert(b"?>");
                    } else {
                        self.emit(&input[..1]);
                    }
                    self.state = State::Text {
                        run: 0,
                        reference: None,
                    };
                    return 1;
                }
                self.keep_or_drop(&input[..1], seen, &mut dropped);
                self.state = State::Pi {
                    seen: seen + 1,
                    question: input[0] == b'?',
                    dropped,
                };
                1
            }
            State::Doctype(mut declaration) => {
                let before = declaration.len();
                declaration.extend_from_slice(input);
                match doctype_length(&declaration) {
                    Some(Ok(length)) => {
                        let used = length.saturating_sub(before).clamp(1, input.len());
                        self.emit(&input[..used]);
                        self.state = State::Text {
                            run: 0,
                            reference: None,
                        };
                        used
                    }
                    // quick-xml stops at a malformed declaration.
                    Some(Err(())) => {
                        self.state = State::Passthrough;
                        0
                    }
                    None if declaration.len() > MARKUP_BYTES => {
                        self.failure = Some(format!(
                            "a DOCTYPE declaration longer than {} MiB",
                            MARKUP_BYTES >> 20
                        ));
                        input.len()
                    }
                    None => {
                        self.emit(input);
                        self.state = State::Doctype(declaration);
                        input.len()
                    }
                }
            }
            State::Tag { size } => {
                let plain = input.find_byteset(b"\"'>").unwrap_or(input.len());
                let used = (plain + 1).min(input.len());
                let size = size + used;
                if size > MARKUP_BYTES {
                    self.failure = Some(format!(
                        "a tag longer than {} MiB even with its attribute values cut to {} KiB",
                        MARKUP_BYTES >> 20,
                        ATTRIBUTE_BYTES >> 10
                    ));
                    return input.len();
                }
                self.emit(&input[..used]);
                self.state = match input.get(plain) {
                    Some(b'>') => State::Text {
                        run: 0,
                        reference: None,
                    },
                    Some(&quote) => State::Value {
                        quote,
                        size,
                        kept: 0,
                        reference: false,
                        dropped: 0,
                    },
                    None => State::Tag { size },
                };
                used
            }
            State::Value {
                quote,
                size,
                kept,
                reference,
                dropped,
            } => self.value(input, quote, size, kept, reference, dropped),
            State::Passthrough => {
                self.emit(input);
                input.len()
            }
        }
    }

    /// [`Core::step`] inside an attribute value.
    fn value(
        &mut self,
        input: &[u8],
        quote: u8,
        size: usize,
        kept: usize,
        mut reference: bool,
        mut dropped: u64,
    ) -> usize {
        let close = input.find_byte(quote);
        if dropped > 0 {
            let Some(close) = close else {
                self.drop_bytes(input.len());
                self.state = State::Value {
                    quote,
                    size,
                    kept,
                    reference,
                    dropped: dropped + input.len() as u64,
                };
                return input.len();
            };
            self.drop_bytes(close);
            let note = cut_note(dropped + close as u64);
            self.insert(note.as_bytes());
            self.emit(&input[close..=close]);
            self.state = State::Tag {
                size: size + kept + note.len() + 1,
            };
            return close + 1;
        }
        if kept < ATTRIBUTE_BYTES {
            let end = close.unwrap_or(input.len());
            let take = (ATTRIBUTE_BYTES - kept).min(end);
            let taken = &input[..take];
            if let Some(amp) = taken.rfind_byte(b'&') {
                reference = taken[amp..].find_byte(b';').is_none();
            } else if reference {
                reference = taken.find_byte(b';').is_none();
            }
            self.emit(taken);
            if take == end && close.is_some() {
                self.emit(&input[end..=end]);
                self.state = State::Tag {
                    size: size + kept + take + 1,
                };
                return take + 1;
            }
            self.state = State::Value {
                quote,
                size,
                kept: kept + take,
                reference,
                dropped,
            };
            return take;
        }
        // At the limit: finish a reference or a character, then cut.
        let b = input[0];
        if b == quote {
            self.emit(&input[..1]);
            self.state = State::Tag {
                size: size + kept + 1,
            };
            return 1;
        }
        let extend = kept < ATTRIBUTE_BYTES + REFERENCE_SLACK
            && ((reference && b != b'&' && b != b'<') || b & 0xC0 == 0x80);
        if extend {
            self.emit(&input[..1]);
            reference = reference && b != b';';
            self.state = State::Value {
                quote,
                size,
                kept: kept + 1,
                reference,
                dropped,
            };
            return 1;
        }
        dropped += 1;
        self.drop_bytes(1);
        self.state = State::Value {
            quote,
            size,
            kept,
            reference,
            dropped,
        };
        1
    }
}

/// The length of the DOCTYPE declaration `declaration` starts with, as quick-xml reads it:
/// `None` if it is not complete yet, `Some(Err(()))` if quick-xml rejects it.
fn doctype_length(declaration: &[u8]) -> Option<Result<usize, ()>> {
    let mut reader = Reader::from_reader(declaration);
    match reader.read_event() {
        Ok(Event::DocType(_)) => Some(usize::try_from(reader.buffer_position()).map_err(|_| ())),
        Err(quick_xml::Error::Syntax(SyntaxError::UnclosedDoctype)) => None,
        _ => Some(Err(())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The capped form of `input`, read in chunks of `chunk` bytes.
    fn capped(input: &[u8], chunk: usize) -> (Vec<u8>, XmlCapper<io::BufReader<&[u8]>>) {
        let mut capper = XmlCapper::new(io::BufReader::with_capacity(chunk, input));
        let mut out = Vec::new();
        capper.read_to_end(&mut out).expect("read");
        (out, capper)
    }

    /// Every event quick-xml reads from `xml`, text and CDATA merged, as debug strings.
    fn events(xml: &[u8]) -> Vec<String> {
        let mut reader = Reader::from_reader(xml);
        let mut out: Vec<String> = Vec::new();
        let mut text = Vec::new();
        loop {
            let event = reader.read_event().expect("well-formed");
            match event {
                Event::Text(t) => text.extend_from_slice(&t),
                Event::CData(t) => text.extend_from_slice(&t),
                Event::GeneralRef(r) => {
                    text.push(b'&');
                    text.extend_from_slice(&r);
                    text.push(b';');
                }
                other => {
                    if !text.is_empty() {
                        out.push(format!("text {}", String::from_utf8_lossy(&text)));
                        text.clear();
                    }
                    if matches!(other, Event::Eof) {
                        return out;
                    }
                    out.push(format!("{other:?}"));
                }
            }
        }
    }

    #[test]
    fn small_documents_pass_unchanged() {
        let xml: &[u8] = b"\xef\xbb\xbf<?xml version=\"1.0\"?>\n<!DOCTYPE r [<!ENTITY e \"]>\">]>\
            <!-- c > -- --><r a='x\"y>' b=\"&amp;\">t &lt; &#65;<![CDATA[ ]] ]> <x> ]]>\
            <?pi ? > ?></r>";
        for chunk in [1, 2, 3, 7, 64] {
            let (out, capper) = capped(xml, chunk);
            assert_eq!(out, xml, "chunk {chunk}");
            assert!(capper.shifts().is_empty());
            assert_eq!(capper.read_bytes(), xml.len() as u64);
        }
    }

    #[test]
    fn long_text_and_cdata_are_split_without_changing_them() {
        let mut xml = b"<r>".to_vec();
        xml.extend(std::iter::repeat_n(b'a', SPLIT_BYTES * 2 + 5));
        xml.extend_from_slice(b"&amp;");
        xml.extend(std::iter::repeat_n(b'b', SPLIT_BYTES));
        xml.extend_from_slice(b"<![CDATA[");
        for _ in 0..SPLIT_BYTES {
            xml.extend_from_slice(b"]]");
            xml.push(b'x');
        }
        xml.extend_from_slice(b"]]]></r>");
        for chunk in [1000, 64 * 1024] {
            let (out, capper) = capped(&xml, chunk);
            assert_ne!(out, xml);
            assert_eq!(events(&out), events(&xml), "chunk {chunk}");
            // Each event stays short.
            let mut reader = Reader::from_reader(&out[..]);
            loop {
                let before = reader.buffer_position();
                let event = reader.read_event().expect("well-formed");
                assert!(reader.buffer_position() - before <= SPLIT_BYTES as u64 + 16);
                if matches!(event, Event::Eof) {
                    break;
                }
            }
            assert!(!capper.shifts().is_empty());
        }
    }

    #[test]
    fn long_values_are_cut_with_a_note() {
        let mut xml = b"<r m=\"".to_vec();
        xml.extend(std::iter::repeat_n(b'v', ATTRIBUTE_BYTES - 2));
        xml.extend_from_slice(b"&amp;");
        xml.extend(std::iter::repeat_n(b'w', 3 * 1024 * 1024));
        xml.extend_from_slice(b"\" n='short'>x</r>");
        let (out, capper) = capped(&xml, 8192);
        let mut reader = Reader::from_reader(&out[..]);
        let Ok(Event::Start(start)) = reader.read_event() else {
            panic!("a start tag");
        };
        let values: Vec<Vec<u8>> = start
            .attributes()
            .map(|a| a.expect("attribute").value.to_vec())
            .collect();
        // The reference that straddles the limit is kept whole.
        let expected_cut = 3 * 1024 * 1024;
        let mut expected = vec![b'v'; ATTRIBUTE_BYTES - 2];
        expected.extend_from_slice(b"&amp;");
        expected.extend_from_slice(cut_note(expected_cut).as_bytes());
        assert_eq!(values[0], expected);
        assert_eq!(values[1], b"short");
        // Positions after the cut map back to the input.
        let x_in = xml.iter().rposition(|&b| b == b'x').expect("x") as u64;
        let x_out = out.iter().rposition(|&b| b == b'x').expect("x") as u64;
        assert_eq!(capper.original_offset(x_out), x_in);
        assert_eq!(capper.original_offset(0), 0);
    }

    #[test]
    fn long_comments_and_instructions_are_cut() {
        let mut xml = b"<r><!--".to_vec();
        xml.extend(std::iter::repeat_n(b'-', IGNORED_BYTES * 3));
        xml.extend_from_slice(b"--><?p ");
        xml.extend(std::iter::repeat_n(b'?', IGNORED_BYTES * 3));
        xml.extend_from_slice(b"?>t</r>");
        let (out, _) = capped(&xml, 1000);
        assert!(out.len() < 3 * IGNORED_BYTES);
        let kinds: Vec<String> = events(&out)
            .into_iter()
            .map(|e| e.chars().take(5).collect())
            .collect();
        assert_eq!(kinds, ["Start", "Comme", "PI(By", "text ", "End(B"]);
    }

    #[test]
    fn oversize_markup_is_refused() {
        let mut xml = b"<r".to_vec();
        for i in 0..200 {
            xml.extend_from_slice(format!(" a{i}=\"").as_bytes());
            xml.extend(std::iter::repeat_n(b'v', ATTRIBUTE_BYTES));
            xml.push(b'"');
        }
        xml.extend_from_slice(b"/>");
        let mut capper = XmlCapper::new(&xml[..]);
        let mut out = Vec::new();
        let err = capper.read_to_end(&mut out).expect_err("too long");
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        assert!(capper
            .failure()
            .expect("failure")
            .contains("tag longer than 4 MiB"));
    }

    impl<R> XmlCapper<R> {
        fn shifts(&self) -> &[(u64, u64)] {
            &self.core.shifts
        }
    }
}
