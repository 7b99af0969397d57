//! Bounded output capture for one run: bytes in arrival order with the stream of each chunk,
//! held in memory up to a limit and spilled to disk beyond it, plus a line scanner that
//! digests the output (telling line, tail, regex matches) as it streams past.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use std::time::Instant;

use crate::analysis::signature::is_telling_line;
use crate::record::{OutputDigest, OutputStore, Stream};
use crate::runner::script::LineLog;
use crate::spec::OutputRules;

/// Longest line the scanner looks at; the rest of a longer line is skipped for scanning only.
const MAX_SCANNED_LINE: usize = 4096;
/// Longest telling line or tail line kept in the digest.
const MAX_KEPT_LINE: usize = 1024;
/// Non-empty lines kept from the end of the output.
const TAIL_LINES: usize = 5;
/// Raw bytes kept from the end of the output for excerpts.
const TAIL_BYTES: usize = 4096;

/// Capture state of one run.
#[derive(Debug)]
pub struct Capture {
    memory: Vec<u8>,
    memory_limit: usize,
    /// (length, stream) of segments not yet written to a spill stream map.
    segments: Vec<(u64, Stream)>,
    spill: Option<Spill>,
    spill_base: PathBuf,
    total: u64,
    scanners: [LineScanner; 2],
    digest: OutputDigest,
    tail: VecDeque<Vec<u8>>,
    /// Complete lines with arrival times, kept for a script's wait/expect steps.
    line_log: Option<LineLog>,
}

#[derive(Debug)]
struct Spill {
    log: File,
    log_path: PathBuf,
    streams: BufWriter<File>,
    streams_path: PathBuf,
    /// Offset of the first segment not yet written to the stream map.
    flushed_offset: u64,
}

#[derive(Debug, Default)]
struct LineScanner {
    partial: Vec<u8>,
    /// The current line exceeded MAX_SCANNED_LINE; ignore bytes until its newline.
    overflowed: bool,
}

impl Capture {
    /// A capture that spills to `<spill_base>.log` and `<spill_base>.streams` past `memory_limit`.
    pub fn new(memory_limit: usize, spill_base: PathBuf) -> Capture {
        Capture {
            memory: Vec::new(),
            memory_limit,
            segments: Vec::new(),
            spill: None,
            spill_base,
            total: 0,
            scanners: [LineScanner::default(), LineScanner::default()],
            digest: OutputDigest::default(),
            tail: VecDeque::with_capacity(TAIL_LINES),
            line_log: None,
        }
    }

    /// Also keep complete lines with their arrival times for a script.
    pub fn with_line_log(mut self) -> Capture {
        self.line_log = Some(LineLog::default());
        self
    }

    /// The script's view of the output, if kept.
    pub fn line_log(&mut self) -> Option<&mut LineLog> {
        self.line_log.as_mut()
    }

    /// Append a chunk read from `stream`.
    pub fn push(&mut self, stream: Stream, chunk: &[u8], rules: &OutputRules) -> io::Result<()> {
        if chunk.is_empty() {
            return Ok(());
        }
        self.scan(stream, chunk, rules);
        self.keep_tail(chunk);
        match self.segments.last_mut() {
            Some((length, last)) if *last == stream => *length += chunk.len() as u64,
            _ => self.segments.push((chunk.len() as u64, stream)),
        }
        self.total += chunk.len() as u64;
        if self.spill.is_none() && self.memory.len() + chunk.len() > self.memory_limit {
            self.start_spill()?;
        }
        match &mut self.spill {
            Some(spill) => {
                spill.log.write_all(chunk)?;
                // Keep the in-memory stream map small: write all segments but the open one.
                if self.segments.len() > 64 {
                    let open = self.segments.pop();
                    spill.write_segments(&self.segments)?;
                    self.segments.clear();
                    self.segments.extend(open);
                }
            }
            None => self.memory.extend_from_slice(chunk),
        }
        Ok(())
    }

    fn keep_tail(&mut self, chunk: &[u8]) {
        let tail = &mut self.digest.tail_bytes;
        if chunk.len() >= TAIL_BYTES {
            tail.clear();
            tail.extend_from_slice(&chunk[chunk.len() - TAIL_BYTES..]);
        } else {
            // Trim in batches so each byte is moved at most once more.
            if tail.len() + chunk.len() > 2 * TAIL_BYTES {
                let excess = tail.len() + chunk.len() - TAIL_BYTES;
                tail.drain(..excess.min(tail.len()));
            }
            tail.extend_from_slice(chunk);
        }
    }

    fn start_spill(&mut self) -> io::Result<()> {
        let log_path = self.spill_base.with_extension("log");
        let streams_path = self.spill_base.with_extension("streams");
        let mut log = File::create(&log_path)?;
        log.write_all(&self.memory)?;
        self.memory = Vec::new();
        let streams = BufWriter::new(File::create(&streams_path)?);
        self.spill = Some(Spill {
            log,
            log_path,
            streams,
            streams_path,
            flushed_offset: 0,
        });
        Ok(())
    }

    fn scan(&mut self, stream: Stream, chunk: &[u8], rules: &OutputRules) {
        let arrived = Instant::now();
        let scanner_index = match stream {
            Stream::Stdout => 0,
            Stream::Stderr => 1,
        };
        let mut rest = chunk;
        while !rest.is_empty() {
            match memchr(b'\n', rest) {
                Some(position) => {
                    let (piece, after) = rest.split_at(position);
                    let scanner = &mut self.scanners[scanner_index];
                    if scanner.partial.is_empty() && !scanner.overflowed {
                        let line = &piece[..piece.len().min(MAX_SCANNED_LINE)];
                        Self::digest_line(&mut self.digest, &mut self.tail, line, rules);
                        if let Some(log) = &mut self.line_log {
                            log.push(arrived, line.strip_suffix(b"\r").unwrap_or(line));
                        }
                    } else {
                        scanner.append(piece);
                        let line = std::mem::take(&mut scanner.partial);
                        scanner.overflowed = false;
                        Self::digest_line(&mut self.digest, &mut self.tail, &line, rules);
                        if let Some(log) = &mut self.line_log {
                            log.push(arrived, line.strip_suffix(b"\r").unwrap_or(&line));
                        }
                        scanner.partial = line;
                        scanner.partial.clear();
                    }
                    rest = &after[1..];
                }
                None => {
                    self.scanners[scanner_index].append(rest);
                    rest = &[];
                }
            }
        }
    }

    fn digest_line(
        digest: &mut OutputDigest,
        tail: &mut VecDeque<Vec<u8>>,
        line: &[u8],
        rules: &OutputRules,
    ) {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if digest.telling_line.is_none() && is_telling_line(line) {
            digest.telling_line = Some(cap(line));
        }
        if let Some(fail_if) = &rules.fail_if {
            if digest.fail_if_match.is_none() && fail_if.is_match(line) {
                digest.fail_if_match = Some(cap(line));
            }
        }
        if let Some(ignore) = &rules.ignore {
            if !digest.ignore_matched && ignore.is_match(line) {
                digest.ignore_matched = true;
            }
        }
        if line.iter().any(|byte| !byte.is_ascii_whitespace()) {
            if tail.len() == TAIL_LINES {
                tail.pop_front();
            }
            tail.push_back(cap(line));
        }
    }

    /// Treat unterminated last lines as complete (the process is gone; no newline will come).
    pub fn flush_partial_lines(&mut self, rules: &OutputRules) {
        let arrived = Instant::now();
        for scanner in &mut self.scanners {
            if !scanner.partial.is_empty() {
                let line = std::mem::take(&mut scanner.partial);
                scanner.overflowed = false;
                Self::digest_line(&mut self.digest, &mut self.tail, &line, rules);
                if let Some(log) = &mut self.line_log {
                    log.push(arrived, &line);
                }
            }
        }
    }

    /// Finish capturing: scan unterminated last lines and hand over the output and its digest.
    pub fn finish(mut self, rules: &OutputRules) -> io::Result<(OutputStore, OutputDigest)> {
        self.flush_partial_lines(rules);
        let mut digest = self.digest;
        digest.total_bytes = self.total;
        let excess = digest.tail_bytes.len().saturating_sub(TAIL_BYTES);
        digest.tail_bytes.drain(..excess);
        digest.tail_lines = self.tail.into_iter().collect();
        let store = match self.spill {
            None => OutputStore::Memory {
                bytes: self.memory,
                segments: self.segments,
            },
            Some(mut spill) => {
                spill.write_segments(&self.segments)?;
                spill.streams.flush()?;
                spill.log.flush()?;
                OutputStore::Spilled {
                    log: spill.log_path,
                    streams: spill.streams_path,
                }
            }
        };
        Ok((store, digest))
    }

    /// Drop the capture and any spill files (a cancelled run).
    pub fn discard(self) {
        if let Some(spill) = self.spill {
            remove_quietly(&spill.log_path);
            remove_quietly(&spill.streams_path);
        }
    }
}

impl Spill {
    fn write_segments(&mut self, segments: &[(u64, Stream)]) -> io::Result<()> {
        for (length, stream) in segments {
            writeln!(
                self.streams,
                "{} {} {}",
                self.flushed_offset,
                length,
                stream.as_str()
            )?;
            self.flushed_offset += length;
        }
        Ok(())
    }
}

impl LineScanner {
    fn append(&mut self, piece: &[u8]) {
        if self.overflowed {
            return;
        }
        let room = MAX_SCANNED_LINE.saturating_sub(self.partial.len());
        if piece.len() > room {
            self.partial.extend_from_slice(&piece[..room]);
            self.overflowed = true;
        } else {
            self.partial.extend_from_slice(piece);
        }
    }
}

/// Write a stream map (`offset length stream` per line) for in-memory segments.
pub fn write_stream_map(path: &Path, segments: &[(u64, Stream)]) -> io::Result<()> {
    let mut out = BufWriter::new(File::create(path)?);
    let mut offset = 0;
    for (length, stream) in segments {
        writeln!(out, "{offset} {length} {}", stream.as_str())?;
        offset += length;
    }
    out.flush()
}

/// Remove a file, ignoring a missing one.
pub fn remove_quietly(path: &Path) {
    let _ = std::fs::remove_file(path);
}

fn cap(line: &[u8]) -> Vec<u8> {
    line[..line.len().min(MAX_KEPT_LINE)].to_vec()
}

fn memchr(needle: u8, haystack: &[u8]) -> Option<usize> {
    use bstr::ByteSlice;
    haystack.find_byte(needle)
}

#[cfg(test)]
mod tests {
    use super::*;
    use regex::bytes::Regex;

    fn rules() -> OutputRules {
        OutputRules {
            fail_if: Some(Regex::new("DATA RACE").expect("valid regex")),
            ignore: Some(Regex::new("known flake").expect("valid regex")),
        }
    }

    #[test]
    fn keeps_order_streams_and_digest_in_memory() {
        let dir = tempfile::tempdir().expect("tempdir");
        let rules = rules();
        let mut capture = Capture::new(1 << 20, dir.path().join("run-0"));
        capture
            .push(Stream::Stdout, b"hello\npart", &rules)
            .expect("push");
        capture
            .push(Stream::Stderr, b"panic: boom\n", &rules)
            .expect("push");
        capture
            .push(Stream::Stdout, b"ial\nWARNING: DATA RACE\n", &rules)
            .expect("push");
        let (store, digest) = capture.finish(&rules).expect("finish");
        match store {
            OutputStore::Memory { bytes, segments } => {
                assert_eq!(bytes, b"hello\npartpanic: boom\nial\nWARNING: DATA RACE\n");
                assert_eq!(
                    segments,
                    vec![
                        (10, Stream::Stdout),
                        (12, Stream::Stderr),
                        (23, Stream::Stdout)
                    ]
                );
            }
            OutputStore::Spilled { .. } => panic!("small output must stay in memory"),
        }
        assert_eq!(digest.total_bytes, 45);
        assert_eq!(digest.telling_line.as_deref(), Some(&b"panic: boom"[..]));
        assert_eq!(
            digest.fail_if_match.as_deref(),
            Some(&b"WARNING: DATA RACE"[..])
        );
        assert!(!digest.ignore_matched);
        // Lines are assembled per stream, so "partial" is not split by the stderr chunk.
        assert!(digest.tail_lines.iter().any(|line| line == b"partial"));
    }

    #[test]
    fn spills_beyond_the_memory_limit_and_keeps_every_byte() {
        let dir = tempfile::tempdir().expect("tempdir");
        let rules = OutputRules::default();
        let mut capture = Capture::new(1000, dir.path().join("run-7"));
        let mut expected = Vec::new();
        for i in 0..500 {
            let line = format!("line {i}\n");
            let stream = if i % 3 == 0 {
                Stream::Stderr
            } else {
                Stream::Stdout
            };
            capture.push(stream, line.as_bytes(), &rules).expect("push");
            expected.extend_from_slice(line.as_bytes());
        }
        let (store, digest) = capture.finish(&rules).expect("finish");
        let OutputStore::Spilled { log, streams } = store else {
            panic!("output over the limit must spill");
        };
        assert_eq!(std::fs::read(&log).expect("read log"), expected);
        let map = std::fs::read_to_string(&streams).expect("read map");
        let mut offset = 0u64;
        for line in map.lines() {
            let fields: Vec<&str> = line.split(' ').collect();
            assert_eq!(fields[0].parse::<u64>().expect("offset"), offset);
            offset += fields[1].parse::<u64>().expect("length");
        }
        assert_eq!(offset, expected.len() as u64);
        assert_eq!(
            digest.tail_lines.last().map(Vec::as_slice),
            Some(&b"line 499"[..])
        );
    }

    #[test]
    fn keeps_the_last_bytes_for_excerpts() {
        let dir = tempfile::tempdir().expect("tempdir");
        let rules = OutputRules::default();
        let mut capture = Capture::new(1 << 20, dir.path().join("run-3"));
        let mut all = Vec::new();
        for i in 0..3000u32 {
            let piece = format!("{i} ");
            capture
                .push(Stream::Stdout, piece.as_bytes(), &rules)
                .expect("push");
            all.extend_from_slice(piece.as_bytes());
        }
        let big = vec![b'z'; 10_000];
        let (_, digest) = capture.finish(&rules).expect("finish");
        assert_eq!(digest.tail_bytes, &all[all.len() - TAIL_BYTES..]);
        let mut capture = Capture::new(1 << 20, dir.path().join("run-4"));
        capture.push(Stream::Stderr, b"head", &rules).expect("push");
        capture.push(Stream::Stderr, &big, &rules).expect("push");
        capture.push(Stream::Stderr, b"end", &rules).expect("push");
        let (_, digest) = capture.finish(&rules).expect("finish");
        assert_eq!(digest.tail_bytes.len(), TAIL_BYTES);
        assert!(digest.tail_bytes.ends_with(b"zzzend"));
    }

    #[test]
    fn very_long_lines_are_scanned_by_prefix_only() {
        let dir = tempfile::tempdir().expect("tempdir");
        let rules = OutputRules::default();
        let mut capture = Capture::new(1 << 20, dir.path().join("run-1"));
        let mut long = b"panic: ".to_vec();
        long.extend(std::iter::repeat_n(b'x', 100_000));
        long.push(b'\n');
        for piece in long.chunks(4000) {
            capture.push(Stream::Stdout, piece, &rules).expect("push");
        }
        let (_, digest) = capture.finish(&rules).expect("finish");
        let telling = digest.telling_line.expect("telling line");
        assert!(telling.starts_with(b"panic: xxx"));
        assert_eq!(telling.len(), MAX_KEPT_LINE);
    }

    #[test]
    fn discard_removes_spill_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        let rules = OutputRules::default();
        let mut capture = Capture::new(4, dir.path().join("run-2"));
        capture
            .push(Stream::Stdout, b"more than four bytes", &rules)
            .expect("push");
        capture.discard();
        assert_eq!(std::fs::read_dir(dir.path()).expect("list").count(), 0);
    }
}
