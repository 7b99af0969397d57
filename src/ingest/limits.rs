//! Bounds on what one artifact makes ingest hold in memory. An oversize field (test output, a
//! log line, an event) keeps its start and its end around a note saying how much was cut, so
//! that a 100 MB line costs no more than a short one and the cut stays visible in what is
//! stored.

use std::borrow::Cow;
use std::collections::VecDeque;
use std::io::{self, BufRead};
use std::sync::LazyLock;

use bstr::ByteSlice;
use regex::bytes::Regex;

/// Bytes of an oversize field kept from its start.
const HEAD_BYTES: usize = 128 * 1024;

/// Bytes of an oversize field kept from its end (where a failing test's output usually says
/// what went wrong).
const TAIL_BYTES: usize = 128 * 1024;

/// A cut note, as [`cut_note`] writes it.
static CUT_NOTE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\[\.\.\. [0-9]+(?:\.[0-9])? (?:B|KiB|MiB|GiB|TiB) cut \.\.\.\]")
        .expect("constant regex is valid")
});

/// The note that stands where `cut` bytes of a field were left out: `[... 99.9 MiB cut ...]`.
pub(crate) fn cut_note(cut: u64) -> String {
    format!("[... {} cut ...]", human_size(cut))
}

/// A byte count for people: `512 B`, `2.0 KiB`, `99.9 MiB`.
pub(crate) fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut size = bytes as f64 / 1024.0;
    let mut unit = 0;
    // Switch units before rounding could print `1024.0 KiB`.
    while size >= 1023.95 && unit + 1 < UNITS.len() {
        size /= 1024.0;
        unit += 1;
    }
    format!("{size:.1} {}", UNITS[unit])
}

/// Whether a line is only a cut note (surrounding whitespace aside).
pub(crate) fn is_cut_note(line: &[u8]) -> bool {
    let line = line.trim_ascii();
    line.starts_with(b"[... ")
        && CUT_NOTE
            .find(line)
            .is_some_and(|m| m.start() == 0 && m.end() == line.len())
}

/// Where the cut note that ends `text` starts, if it ends with one.
pub(crate) fn trailing_cut_note(text: &str) -> Option<usize> {
    if !text.ends_with(" cut ...]") {
        return None;
    }
    let start = text.rfind("[... ")?;
    CUT_NOTE
        .find(&text.as_bytes()[start..])
        .filter(|m| m.start() == 0 && start + m.end() == text.len())
        .map(|_| start)
}

/// Whether `b` continues a multi-byte UTF-8 character.
fn is_continuation(b: u8) -> bool {
    b & 0xC0 == 0x80
}

/// The length of `bytes` without a multi-byte UTF-8 character cut short at its end.
pub(crate) fn without_partial_char(bytes: &[u8]) -> usize {
    let len = bytes.len();
    let start = (len.saturating_sub(3)..len)
        .rev()
        .find(|&i| !is_continuation(bytes[i]));
    match start {
        Some(i) if std::str::from_utf8(&bytes[i..]).is_err_and(|e| e.error_len().is_none()) => i,
        _ => len,
    }
}

/// How many bytes at the start of `bytes` are the rest of a UTF-8 character cut before them.
pub(crate) fn partial_char_start(bytes: &[u8]) -> usize {
    bytes
        .iter()
        .take(3)
        .take_while(|&&b| is_continuation(b))
        .count()
}

/// A byte string capped at [`HEAD_BYTES`] + [`TAIL_BYTES`]: past that, the middle is cut and
/// only counted.
#[derive(Debug, Default)]
pub(crate) struct Capped {
    head: Vec<u8>,
    /// The last bytes pushed after the head filled up.
    tail: VecDeque<u8>,
    /// Bytes left out between head and tail.
    cut: u64,
}

impl Capped {
    /// Appends `data`.
    pub fn push(&mut self, data: &[u8]) {
        let room = HEAD_BYTES - self.head.len();
        let (to_head, rest) = data.split_at(room.min(data.len()));
        self.head.extend_from_slice(to_head);
        if rest.len() >= TAIL_BYTES {
            self.cut += (self.tail.len() + rest.len() - TAIL_BYTES) as u64;
            self.tail.clear();
            self.tail.extend(&rest[rest.len() - TAIL_BYTES..]);
        } else {
            self.tail.extend(rest);
            let excess = self.tail.len().saturating_sub(TAIL_BYTES);
            if excess > 0 {
                self.tail.drain(..excess);
                self.cut += excess as u64;
            }
        }
    }

    /// How many bytes were cut.
    pub fn cut(&self) -> u64 {
        self.cut
    }

    /// The kept start and end.
    pub fn parts(&mut self) -> (&[u8], &[u8]) {
        (&self.head, self.tail.make_contiguous())
    }

    /// Empties it, keeping its allocations.
    pub fn clear(&mut self) {
        self.head.clear();
        self.tail.clear();
        self.cut = 0;
    }

    /// The bytes, borrowed when nothing was cut or kept apart.
    pub fn joined(&mut self) -> Cow<'_, [u8]> {
        if self.tail.is_empty() {
            Cow::Borrowed(&self.head)
        } else {
            let mut out = Vec::with_capacity(self.head.len() + self.tail.len() + 32);
            self.append_to(&mut out);
            Cow::Owned(out)
        }
    }

    /// The bytes: when some were cut, the kept head, the cut note on a line of its own, then
    /// the kept tail, neither with a UTF-8 character cut in two.
    pub fn finish(mut self) -> Vec<u8> {
        if self.cut == 0 {
            self.head.extend(self.tail);
            return self.head;
        }
        let mut out = Vec::with_capacity(self.head.len() + self.tail.len() + 32);
        self.append_to(&mut out);
        out
    }

    /// Appends the bytes as [`Capped::finish`] returns them to `out`.
    pub fn append_to(&mut self, out: &mut Vec<u8>) {
        let cut = self.cut;
        let (head, tail) = self.parts();
        if cut == 0 {
            out.extend_from_slice(head);
            out.extend_from_slice(tail);
            return;
        }
        let head_end = without_partial_char(head);
        let tail_start = partial_char_start(tail);
        let cut = cut + (head.len() - head_end + tail_start) as u64;
        let head = &head[..head_end];
        let tail = &tail[tail_start..];
        out.extend_from_slice(head);
        if !head.is_empty() && !head.ends_with(b"\n") {
            out.push(b'\n');
        }
        out.extend_from_slice(cut_note(cut).as_bytes());
        out.push(b'\n');
        out.extend_from_slice(tail.strip_prefix(b"\n").unwrap_or(tail));
    }
}

/// Lines of a stream, each capped like [`Capped`], so that no line is ever held whole.
pub(crate) struct Lines<R> {
    input: R,
    line: Capped,
}

impl<R: BufRead> Lines<R> {
    /// The lines of `input`.
    pub fn new(input: R) -> Self {
        Lines {
            input,
            line: Capped::default(),
        }
    }

    /// The next line without its `\n`, or `None` at the end of the stream.
    pub fn next_line(&mut self) -> io::Result<Option<&mut Capped>> {
        self.line.clear();
        let mut any = false;
        loop {
            let available = match self.input.fill_buf() {
                Ok(available) => available,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if available.is_empty() {
                return Ok(any.then_some(&mut self.line));
            }
            any = true;
            match available.find_byte(b'\n') {
                Some(end) => {
                    self.line.push(&available[..end]);
                    self.input.consume(end + 1);
                    return Ok(Some(&mut self.line));
                }
                None => {
                    let used = available.len();
                    self.line.push(available);
                    self.input.consume(used);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cut_notes_are_readable_and_recognised() {
        assert_eq!(cut_note(5), "[... 5 B cut ...]");
        assert_eq!(cut_note(2048), "[... 2.0 KiB cut ...]");
        assert_eq!(cut_note(100 * 1024 * 1024 - 1), "[... 100.0 MiB cut ...]");
        assert_eq!(cut_note(1024 * 1024 - 1), "[... 1.0 MiB cut ...]");
        assert_eq!(cut_note(3 << 40), "[... 3.0 TiB cut ...]");
        assert!(is_cut_note(b"  [... 99.9 MiB cut ...]\r"));
        assert!(!is_cut_note(b"x [... 99.9 MiB cut ...]"));
        assert!(!is_cut_note(b"[... 12 lines ...]"));
        assert_eq!(trailing_cut_note("AAA[... 1.5 KiB cut ...]"), Some(3));
        assert_eq!(trailing_cut_note("[... 1.5 KiB cut ...] x"), None);
        assert_eq!(trailing_cut_note("plain"), None);
    }

    #[test]
    fn utf8_boundaries() {
        let e = "é".as_bytes();
        assert_eq!(without_partial_char(b"abc"), 3);
        assert_eq!(without_partial_char(&[b'a', e[0]]), 1);
        assert_eq!(without_partial_char(&[b'a', e[0], e[1]]), 3);
        assert_eq!(without_partial_char(&[0xf0, 0x9f, 0x98]), 0);
        // Invalid bytes are not a cut character: they are left for lossy decoding.
        assert_eq!(without_partial_char(b"a\xff"), 2);
        assert_eq!(partial_char_start(&[e[1], b'x']), 1);
        assert_eq!(partial_char_start(b"xyz"), 0);
    }

    #[test]
    fn small_fields_are_kept_whole() {
        let mut capped = Capped::default();
        capped.push(b"hello ");
        capped.push(b"world");
        assert_eq!(capped.cut(), 0);
        assert_eq!(&*capped.joined(), b"hello world");
        assert_eq!(capped.finish(), b"hello world");
        // Up to head + tail, nothing is cut even across many pushes.
        let mut capped = Capped::default();
        let chunk = vec![b'x'; 1000];
        let mut total = 0;
        while total + chunk.len() <= HEAD_BYTES + TAIL_BYTES {
            capped.push(&chunk);
            total += chunk.len();
        }
        assert_eq!(capped.cut(), 0);
        assert_eq!(capped.finish().len(), total);
    }

    #[test]
    fn oversize_fields_keep_head_and_tail_around_a_note() {
        let mut capped = Capped::default();
        capped.push(b"first line\n");
        let big = vec![b'y'; 3 * 1024 * 1024];
        capped.push(&big);
        capped.push(b"\nlast line");
        let cut = capped.cut();
        assert_eq!(cut, (11 + big.len() + 10 - HEAD_BYTES - TAIL_BYTES) as u64);
        let out = capped.finish();
        let text = String::from_utf8(out).expect("ascii");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "first line");
        assert_eq!(lines[1].len(), HEAD_BYTES - 11);
        assert_eq!(lines[2], "[... 2.8 MiB cut ...]");
        assert_eq!(lines.last().copied(), Some("last line"));
        assert!(text.len() < HEAD_BYTES + TAIL_BYTES + 64);

        // Many small pushes are cut the same way as one big one.
        let mut capped = Capped::default();
        for _ in 0..3000 {
            capped.push(&[b'z'; 1000]);
        }
        assert_eq!(capped.cut(), (3_000_000 - HEAD_BYTES - TAIL_BYTES) as u64);
    }

    #[test]
    fn cuts_never_split_a_character() {
        let mut capped = Capped::default();
        let text = "é".repeat(HEAD_BYTES); // two bytes each
        capped.push(text.as_bytes());
        capped.push(b"x");
        let out = capped.finish();
        let text = std::str::from_utf8(&out).expect("whole characters only");
        assert!(text.contains("cut ...]\n"));
        assert!(text.ends_with('x'));
    }

    #[test]
    fn lines_are_read_capped() {
        let mut input = b"short\r\n\n".to_vec();
        input.extend(std::iter::repeat_n(b'L', HEAD_BYTES + TAIL_BYTES + 10));
        input.extend_from_slice(b"\nlast");
        let mut lines = Lines::new(&input[..]);
        let mut seen = Vec::new();
        while let Some(line) = lines.next_line().expect("read") {
            seen.push((line.cut(), line.joined().len()));
        }
        assert_eq!(
            seen,
            [
                (0, 6),
                (0, 0),
                (10, HEAD_BYTES + TAIL_BYTES + 2 + "[... 10 B cut ...]".len()),
                (0, 4)
            ]
        );
        let mut lines = Lines::new(&b""[..]);
        assert!(lines.next_line().expect("read").is_none());
        let mut lines = Lines::new(&b"\n"[..]);
        assert_eq!(lines.next_line().expect("read").map(|l| l.cut()), Some(0));
        assert!(lines.next_line().expect("read").is_none());
    }
}
