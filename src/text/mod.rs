//! Terminal-safe rendering of untrusted bytes: test output is escaped, truncated and stripped of
//! binary garbage before any of it reaches a terminal, so it can neither drive the terminal
//! (escape sequences, control bytes) nor spoof what is shown (bidi overrides, zero-width chars).

use std::ops::Range;

use bstr::ByteSlice;

/// Appended where output was cut short.
const ELLIPSIS: char = '…';

/// Clean bytes that must follow the last dirty byte before a binary run is considered over.
///
/// In uniformly random bytes about 38% of bytes are printable ASCII, so 32 clean bytes in a row
/// occur with probability ~4e-14 per position: garbage does not end a run by accident.
const RESUME_CLEAN_BYTES: usize = 32;

/// A run counts as binary only if at least one byte in this many is dirty; sparser runs are text
/// with the odd control byte and are shown escaped instead.
const MIN_DIRTY_RATIO: usize = 4;

/// Longest CSI sequence (`ESC [ ... final`) recognised as terminal formatting.
const MAX_CSI_LEN: usize = 64;

/// Longest OSC sequence (`ESC ] ... BEL` or `ESC ] ... ESC \`) recognised as terminal formatting.
const MAX_OSC_LEN: usize = 512;

/// How one output character is shown: as itself, or as an escape that names it.
enum Rendered {
    Plain(char),
    Escape(String),
}

/// Whether `c` is an invisible formatting character that can reorder or hide text on screen
/// (bidi embeddings/overrides/isolates, zero-width and direction marks, BOM, line/paragraph
/// separators, tag characters), as used in "Trojan source" spoofing.
pub(crate) fn is_spoofing_char(c: char) -> bool {
    matches!(
        c,
        '\u{061C}'
            | '\u{180E}'
            | '\u{200B}'..='\u{200F}'
            | '\u{2028}'..='\u{202E}'
            | '\u{2060}'..='\u{2064}'
            | '\u{2066}'..='\u{206F}'
            | '\u{FEFF}'
            | '\u{E0000}'..='\u{E007F}'
    )
}

/// The safe rendering of one decoded character.
fn render_char(c: char) -> Rendered {
    match c {
        '\t' => Rendered::Escape("\\t".to_string()),
        '\r' => Rendered::Escape("\\r".to_string()),
        '\n' => Rendered::Escape("\\n".to_string()),
        '\u{1b}' => Rendered::Escape("\\e".to_string()),
        '\0'..='\u{1f}' | '\u{7f}' => Rendered::Escape(format!("\\x{:02x}", u32::from(c))),
        '\u{80}'..='\u{9f}' => Rendered::Escape(format!("\\u{{{:x}}}", u32::from(c))),
        _ if is_spoofing_char(c) => Rendered::Escape(format!("\\u{{{:x}}}", u32::from(c))),
        _ => Rendered::Plain(c),
    }
}

/// Builds a string of at most `max` characters out of indivisible pieces, ending it with `…`
/// (and dropping whole pieces to make room) once the next piece would not fit.
struct Bounded {
    out: String,
    max: usize,
    chars: usize,
    /// Byte length of `out` at the last piece boundary that leaves room for the ellipsis.
    cut_at: usize,
}

impl Bounded {
    fn new(max: usize) -> Self {
        Bounded {
            out: String::new(),
            max,
            chars: 0,
            cut_at: 0,
        }
    }

    /// Whether a piece of `chars` characters still fits.
    fn fits(&self, chars: usize) -> bool {
        self.chars + chars <= self.max
    }

    /// Appends one piece, or cuts the output if the piece does not fit; false once cut.
    fn push(&mut self, piece: Rendered) -> bool {
        let piece_chars = match &piece {
            Rendered::Plain(_) => 1,
            // Escapes are ASCII, so bytes equal characters.
            Rendered::Escape(s) => s.len(),
        };
        if self.chars + piece_chars > self.max {
            self.out.truncate(self.cut_at);
            if self.max > 0 {
                self.out.push(ELLIPSIS);
            }
            return false;
        }
        match piece {
            Rendered::Plain(c) => self.out.push(c),
            Rendered::Escape(s) => self.out.push_str(&s),
        }
        self.chars += piece_chars;
        if self.chars < self.max {
            self.cut_at = self.out.len();
        }
        true
    }
}

/// One-line, terminal-safe view of untrusted bytes, at most `max_chars` characters long.
///
/// Printable UTF-8 is kept; `\t`, `\r`, `\n` and ESC show as `\t`, `\r`, `\n`, `\e`; other C0
/// controls and DEL as `\xNN`; C1 controls and invisible bidi/zero-width formatting characters
/// as `\u{NNNN}`; bytes that are not valid UTF-8 as `\xNN`. The result is meant for display, not
/// to be parsed back (a literal backslash is not doubled). When the view is longer than
/// `max_chars` it is cut at an escape boundary and ends with `…`.
pub fn escape_line(bytes: &[u8], max_chars: usize) -> String {
    let mut out = Bounded::new(max_chars);
    escape_into(&mut out, bytes);
    out.out
}

/// Appends the escaped form of `bytes` to `out`; false once `out` is full.
fn escape_into(out: &mut Bounded, bytes: &[u8]) -> bool {
    let mut rest = bytes;
    while !rest.is_empty() {
        let (decoded, size) = bstr::decode_utf8(rest);
        let size = size.max(1);
        match decoded {
            Some(c) => {
                if !out.push(render_char(c)) {
                    return false;
                }
            }
            // `decode_utf8` reports the maximal invalid prefix; show each of its bytes.
            None => {
                for &b in &rest[..size] {
                    if !out.push(Rendered::Escape(format!("\\x{b:02x}"))) {
                        return false;
                    }
                }
            }
        }
        rest = &rest[size..];
    }
    true
}

/// Limits for [`excerpt`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExcerptOptions {
    /// Most lines shown; beyond it the middle of the excerpt is elided.
    pub max_lines: usize,
    /// Most characters per shown line (see [`escape_line`]).
    pub max_line_chars: usize,
    /// Shortest stretch of binary bytes collapsed into one marker line; 0 disables collapsing.
    pub binary_run_threshold: usize,
    /// A command that shows the exact bytes (e.g. `flakehunt log ID 8 --raw`), named in the
    /// first binary marker shown: `[... 2.0 KiB binary, exact bytes: COMMAND ...]`.
    pub raw_hint: Option<String>,
}

impl Default for ExcerptOptions {
    /// Enough to show a stack trace's head and tail without flooding a terminal.
    fn default() -> Self {
        ExcerptOptions {
            max_lines: 40,
            max_line_chars: 240,
            binary_run_threshold: 64,
            raw_hint: None,
        }
    }
}

/// Length of the terminal escape sequence at the start of `bytes` (which starts with ESC), if
/// it is a well-formed CSI, OSC or short escape. Such sequences are formatting, not garbage.
fn ansi_sequence_len(bytes: &[u8]) -> Option<usize> {
    match bytes.get(1)? {
        b'[' => {
            let body = bytes.get(2..)?.iter().take(MAX_CSI_LEN);
            let mut len = 2;
            for &b in body {
                len += 1;
                match b {
                    0x20..=0x3f => {}
                    0x40..=0x7e => return Some(len),
                    _ => return None,
                }
            }
            None
        }
        b']' => {
            // The body must be printable (ASCII or UTF-8 lead/continuation bytes), so that
            // random garbage rarely passes for a sequence.
            let mut i = 2;
            while i < bytes.len().min(MAX_OSC_LEN) {
                match bytes[i] {
                    0x07 => return Some(i + 1),
                    0x1b => return (bytes.get(i + 1) == Some(&b'\\')).then_some(i + 2),
                    0x20..=0x7e | 0x80..=0xff => i += 1,
                    _ => return None,
                }
            }
            None
        }
        _ => {
            let mut i = 1;
            while matches!(bytes.get(i), Some(0x20..=0x2f)) {
                i += 1;
            }
            matches!(bytes.get(i), Some(0x30..=0x7e)).then_some(i + 1)
        }
    }
}

/// A stretch of input judged to be binary: `bytes[start..end]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct BinaryRun {
    start: usize,
    end: usize,
}

impl BinaryRun {
    fn len(&self) -> usize {
        self.end - self.start
    }
}

/// Finds the binary runs in `bytes`.
///
/// Every byte is classified as *dirty* (part of invalid UTF-8, or a control character other
/// than `\t`, `\r`, `\n`), *clean* (printable UTF-8, `\t`, `\r`, `\n`) or *neutral* (part of a
/// well-formed ANSI escape sequence, which coloured test output is full of; neutral bytes
/// neither count as dirt nor interrupt a run, so fake sequences in garbage cannot end one).
/// A candidate run starts at a dirty byte and extends over later dirty bytes for as long as
/// fewer than [`RESUME_CLEAN_BYTES`] clean bytes separate them, so newlines or short printable
/// fragments inside garbage do not break it up. It spans from its first to its last dirty byte
/// and is reported if it is at least `threshold` bytes long and at least a quarter of its bytes
/// are dirty. A `threshold` of 0 reports nothing.
fn find_binary_runs(bytes: &[u8], threshold: usize) -> Vec<BinaryRun> {
    struct Candidate {
        start: usize,
        end: usize,
        dirty: usize,
    }
    let mut runs = Vec::new();
    if threshold == 0 {
        return runs;
    }
    let close = |c: Candidate, runs: &mut Vec<BinaryRun>| {
        let len = c.end - c.start;
        if len >= threshold && c.dirty * MIN_DIRTY_RATIO >= len {
            runs.push(BinaryRun {
                start: c.start,
                end: c.end,
            });
        }
    };
    let mut current: Option<Candidate> = None;
    let mut clean_streak = 0usize;
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == 0x1b {
            if let Some(len) = ansi_sequence_len(&bytes[i..]) {
                // Neutral: neither dirt nor evidence that text has resumed.
                i += len;
                continue;
            }
        }
        let (decoded, size) = bstr::decode_utf8(&bytes[i..]);
        let size = size.max(1);
        let clean = decoded.is_some_and(|c| matches!(c, '\t' | '\r' | '\n') || !c.is_control());
        if clean {
            clean_streak += size;
            if clean_streak >= RESUME_CLEAN_BYTES {
                if let Some(c) = current.take() {
                    close(c, &mut runs);
                }
            }
        } else {
            clean_streak = 0;
            match current.as_mut() {
                Some(c) => {
                    c.end = i + size;
                    c.dirty += size;
                }
                None => {
                    current = Some(Candidate {
                        start: i,
                        end: i + size,
                        dirty: size,
                    })
                }
            }
        }
        i += size;
    }
    if let Some(c) = current {
        close(c, &mut runs);
    }
    runs
}

/// Splits `bytes` into line ranges at the `\n`s outside binary runs (a run, newlines and all,
/// stays inside one line). Trailing empty lines are left out.
fn line_ranges(bytes: &[u8], runs: &[BinaryRun]) -> Vec<Range<usize>> {
    let mut lines = Vec::new();
    let mut line_start = 0;
    let mut pos = 0;
    let text_ends = runs.iter().map(|r| (r.start, r.end));
    for (text_end, next_pos) in text_ends.chain(std::iter::once((bytes.len(), bytes.len()))) {
        while let Some(offset) = bytes[pos..text_end].find_byte(b'\n') {
            lines.push(line_start..pos + offset);
            pos += offset + 1;
            line_start = pos;
        }
        pos = next_pos;
    }
    lines.push(line_start..bytes.len());
    while lines
        .last()
        .is_some_and(|r| matches!(&bytes[r.clone()], b"" | b"\r"))
    {
        lines.pop();
    }
    lines
}

/// Renders the line `bytes[line]` within `max_chars`, each binary run in it as an indivisible
/// marker; the first marker shown names `hint` (which is then taken). A `\r` right before the
/// line's `\n` is dropped.
fn render_line(
    bytes: &[u8],
    line: Range<usize>,
    runs: &[BinaryRun],
    max_chars: usize,
    hint: &mut Option<&str>,
) -> String {
    let mut end = line.end;
    if end < bytes.len() && end > line.start && bytes[end - 1] == b'\r' {
        end -= 1;
    }
    let mut out = Bounded::new(max_chars);
    let mut pos = line.start;
    let first = runs.partition_point(|r| r.end <= line.start);
    for run in runs[first..].iter().take_while(|r| r.start < end) {
        let size = human_bytes(run.len() as u64);
        if !escape_into(&mut out, &bytes[pos..run.start]) {
            return out.out;
        }
        let hinted = hint.map(|command| format!("[... {size} binary, exact bytes: {command} ...]"));
        // A marker too long for the line with the hint still fits without it.
        let pushed = match hinted {
            Some(marker) if out.fits(marker.len()) => {
                *hint = None;
                out.push(Rendered::Escape(marker))
            }
            _ => out.push(Rendered::Escape(format!("[... {size} binary ...]"))),
        };
        if !pushed {
            return out.out;
        }
        pos = run.end;
    }
    escape_into(&mut out, &bytes[pos..end]);
    out.out
}

/// An excerpt rendered by [`excerpt`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Excerpt {
    /// The rendered lines, joined by `\n`.
    pub text: String,
    /// Whether a binary marker named [`ExcerptOptions::raw_hint`] (a caller showing many
    /// excerpts then stops passing it, so the command is named once).
    pub hinted: bool,
}

/// Multi-line, terminal-safe view of a block of untrusted output.
///
/// Lines are split on `\n` (dropping a `\r` before it) and each is rendered like
/// [`escape_line`]. Each stretch of binary garbage becomes a single `[... 4.2 KiB binary ...]`
/// marker, even when the garbage contains newlines, so a megabyte of noise costs one line; text
/// on the same line right before or after the garbage stays on the marker's line. A stretch is
/// binary when it is at least `binary_run_threshold` bytes of dirty bytes (invalid UTF-8,
/// control characters other than `\t\r\n`) each fewer than 32 clean bytes from the next, with
/// at least a quarter of its bytes dirty; ANSI escape sequences count as neither. The first
/// marker shown names [`ExcerptOptions::raw_hint`] when there is one and the line has room.
/// When more than `max_lines` lines remain, the first and last halves are kept around a
/// `[... N lines omitted ...]` line. Trailing empty lines are dropped and there is no trailing
/// newline; every character of the result is printable except the `\n` between lines.
pub fn excerpt(bytes: &[u8], opts: &ExcerptOptions) -> Excerpt {
    let runs = find_binary_runs(bytes, opts.binary_run_threshold);
    let lines = line_ranges(bytes, &runs);
    let mut hint = opts.raw_hint.as_deref();
    let mut render = |line: &Range<usize>| {
        render_line(bytes, line.clone(), &runs, opts.max_line_chars, &mut hint)
    };
    let rendered: Vec<String> = if lines.len() > opts.max_lines {
        let head = opts.max_lines.div_ceil(2);
        let tail = opts.max_lines / 2;
        let omitted = lines.len() - head - tail;
        let mut kept: Vec<String> = lines[..head].iter().map(&mut render).collect();
        kept.push(format!("[... {omitted} lines omitted ...]"));
        kept.extend(lines[lines.len() - tail..].iter().map(&mut render));
        kept
    } else {
        lines.iter().map(&mut render).collect()
    };
    Excerpt {
        text: rendered.join("\n"),
        hinted: opts.raw_hint.is_some() && hint.is_none(),
    }
}

/// The reason in a regex syntax error, on one line: the regex crate explains errors over several
/// lines with a caret under the pattern, which does not fit a one-line error message.
pub fn regex_reason(error: &regex::Error) -> String {
    let text = error.to_string();
    text.lines()
        .rev()
        .find_map(|line| line.strip_prefix("error: "))
        .or_else(|| text.lines().last())
        .unwrap_or("invalid pattern")
        .to_string()
}

/// A byte count in binary units with one decimal, e.g. `512 B`, `4.2 KiB`, `1.0 MiB`.
///
/// Used wherever sizes of captured output are reported, so that they read the same everywhere.
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 6] = ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut value = n as f64 / 1024.0;
    let mut unit = 0;
    // Move up a unit when one decimal would round to 1024.0.
    while value >= 1023.95 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// The text of [`excerpt`].
pub fn render_excerpt(bytes: &[u8], opts: &ExcerptOptions) -> String {
    excerpt(bytes, opts).text
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Deterministic pseudo-random bytes (64-bit LCG, Knuth's MMIX constants, high byte).
    fn garbage(len: usize, seed: u64) -> Vec<u8> {
        let mut state = seed;
        (0..len)
            .map(|_| {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                (state >> 56) as u8
            })
            .collect()
    }

    /// The property every rendering must have: nothing a terminal would interpret.
    fn assert_safe(s: &str, allow_newline: bool) {
        for c in s.chars() {
            if allow_newline && c == '\n' {
                continue;
            }
            assert!(!c.is_control(), "control char {c:?} in {s:?}");
            assert!(!is_spoofing_char(c), "spoofing char {c:?} in {s:?}");
        }
    }

    #[test]
    fn plain_text_is_kept() {
        assert_eq!(escape_line(b"hello, world", 100), "hello, world");
        assert_eq!(escape_line("héllo ✓ 日本".as_bytes(), 100), "héllo ✓ 日本");
        assert_eq!(escape_line(b"", 100), "");
    }

    #[test]
    fn whitespace_controls_are_named() {
        assert_eq!(escape_line(b"a\tb\rc\nd", 100), "a\\tb\\rc\\nd");
        assert_eq!(
            escape_line(b"\x00\x07\x08\x7f", 100),
            "\\x00\\x07\\x08\\x7f"
        );
    }

    #[test]
    fn ansi_sequences_are_escaped() {
        assert_eq!(
            escape_line(b"\x1b[31mFAIL\x1b[0m", 100),
            "\\e[31mFAIL\\e[0m"
        );
        // Cursor movement and erase.
        assert_eq!(escape_line(b"\x1b[2J\x1b[10;5H", 100), "\\e[2J\\e[10;5H");
        // OSC window title.
        assert_eq!(
            escape_line(b"\x1b]0;pwned\x07rest", 100),
            "\\e]0;pwned\\x07rest"
        );
        // 8-bit CSI encoded as a C1 code point.
        assert_eq!(escape_line("\u{9b}31m".as_bytes(), 100), "\\u{9b}31m");
    }

    #[test]
    fn invalid_utf8_is_escaped_per_byte() {
        assert_eq!(escape_line(b"ok\xff\xfeok", 100), "ok\\xff\\xfeok");
        // Truncated multi-byte sequence followed by valid text.
        assert_eq!(escape_line(b"\xe2\x9cx", 100), "\\xe2\\x9cx");
        // A real U+FFFD in the input is printable and kept.
        assert_eq!(escape_line("\u{fffd}".as_bytes(), 100), "\u{fffd}");
    }

    #[test]
    fn bidi_and_zero_width_are_escaped() {
        let s = "if x \u{202e}\u{2066}admin\u{2069}\u{200b}\u{feff}";
        assert_eq!(
            escape_line(s.as_bytes(), 100),
            "if x \\u{202e}\\u{2066}admin\\u{2069}\\u{200b}\\u{feff}"
        );
        assert_eq!(
            escape_line("\u{200f}\u{202a}".as_bytes(), 100),
            "\\u{200f}\\u{202a}"
        );
        // Invisible tag characters ("ASCII smuggling").
        assert_eq!(escape_line("a\u{e0041}".as_bytes(), 100), "a\\u{e0041}");
    }

    #[test]
    fn truncation_counts_rendered_chars_and_never_splits_escapes() {
        assert_eq!(escape_line(b"abcdef", 6), "abcdef");
        assert_eq!(escape_line(b"abcdefg", 6), "abcde…");
        assert_eq!(escape_line("ééééééé".as_bytes(), 4), "ééé…");
        // "ab\e" is 4 chars; the escape cannot be split, so it is dropped whole.
        assert_eq!(escape_line(b"ab\x1bcd", 4), "ab…");
        assert_eq!(escape_line(b"ab\x1bcd", 5), "ab\\e…");
        assert_eq!(escape_line(b"ab\x1bcd", 6), "ab\\ecd");
        assert_eq!(escape_line(b"\xff\xff", 5), "\\xff…");
        assert_eq!(escape_line(b"abc", 1), "…");
        assert_eq!(escape_line(b"abc", 0), "");
        for max in 0..30 {
            let out = escape_line(b"x\x1b[1m\xffy\tz\xe2\x80\xaeend", max);
            assert!(out.chars().count() <= max, "{max}: {out:?}");
        }
    }

    #[test]
    fn truncation_stops_scanning_huge_input() {
        let big = vec![b'a'; 50 * 1024 * 1024];
        let out = escape_line(&big, 10);
        assert_eq!(out, "aaaaaaaaa…");
    }

    #[test]
    fn excerpt_splits_lines_and_drops_cr() {
        let opts = ExcerptOptions::default();
        assert_eq!(
            render_excerpt(b"one\r\ntwo\nthree\n", &opts),
            "one\ntwo\nthree"
        );
        assert_eq!(render_excerpt(b"a\n\nb", &opts), "a\n\nb");
        assert_eq!(render_excerpt(b"", &opts), "");
        assert_eq!(
            render_excerpt(b"\x1b[32mok\x1b[0m\n", &opts),
            "\\e[32mok\\e[0m"
        );
        // A lone CR mid-line stays visible.
        assert_eq!(render_excerpt(b"50%\r100%\n", &opts), "50%\\r100%");
    }

    #[test]
    fn excerpt_truncates_long_lines() {
        let opts = ExcerptOptions {
            max_line_chars: 8,
            ..ExcerptOptions::default()
        };
        assert_eq!(
            render_excerpt(b"0123456789\nshort", &opts),
            "0123456…\nshort"
        );
    }

    #[test]
    fn excerpt_elides_middle_lines() {
        let text: String = (1..=100).map(|i| format!("line {i}\n")).collect();
        let opts = ExcerptOptions {
            max_lines: 6,
            ..ExcerptOptions::default()
        };
        let out = render_excerpt(text.as_bytes(), &opts);
        assert_eq!(
            out,
            "line 1\nline 2\nline 3\n[... 94 lines omitted ...]\nline 98\nline 99\nline 100"
        );
        let opts = ExcerptOptions {
            max_lines: 5,
            ..ExcerptOptions::default()
        };
        let out = render_excerpt(text.as_bytes(), &opts);
        assert_eq!(out.lines().count(), 6);
        assert!(out.starts_with("line 1\nline 2\nline 3\n[... 95 lines omitted ...]\nline 99"));
        // Exactly max_lines lines: nothing elided.
        let opts = ExcerptOptions {
            max_lines: 100,
            ..ExcerptOptions::default()
        };
        assert_eq!(render_excerpt(text.as_bytes(), &opts).lines().count(), 100);
    }

    #[test]
    fn megabyte_of_garbage_becomes_one_marker() {
        assert_eq!(
            render_excerpt(&garbage(1024 * 1024, 42), &ExcerptOptions::default()),
            "[... 1.0 MiB binary ...]"
        );
        for seed in 0..16 {
            let out = render_excerpt(&garbage(1024 * 1024, seed), &ExcerptOptions::default());
            // Only a few stray printable bytes from the garbage's edges may remain (rarely on a
            // line of their own when a newline happens to sit among them).
            assert!(out.lines().count() <= 3, "seed {seed}: {out}");
            assert_eq!(
                out.matches("[... 1.0 MiB binary ...]").count(),
                1,
                "seed {seed}: {out}"
            );
            assert!(out.chars().count() < 100, "seed {seed}: {out}");
        }
    }

    #[test]
    fn marker_stays_inline_with_its_line() {
        let mut input = b"first
got: "
            .to_vec();
        input.extend([0u8; 200]);
        input.extend(
            b" (end)
next


",
        );
        let out = render_excerpt(&input, &ExcerptOptions::default());
        assert_eq!(out, "first\ngot: [... 200 B binary ...] (end)\nnext");
        let opts = ExcerptOptions {
            max_line_chars: 12,
            ..ExcerptOptions::default()
        };
        // The marker is never split by truncation.
        assert_eq!(render_excerpt(&input, &opts), "first\ngot: …\nnext");
    }

    #[test]
    fn text_around_garbage_is_preserved() {
        for seed in 0..8 {
            let mut input = b"before the storm\npanic: boom\n".to_vec();
            input.extend(garbage(1024 * 1024, seed));
            input.extend(b"\nafter the storm\nexit status 2\n");
            let out = render_excerpt(&input, &ExcerptOptions::default());
            let lines: Vec<&str> = out.lines().collect();
            assert!((5..=7).contains(&lines.len()), "seed {seed}: {out}");
            assert_eq!(
                &lines[..2],
                &["before the storm", "panic: boom"],
                "seed {seed}"
            );
            assert_eq!(
                &lines[lines.len() - 2..],
                &["after the storm", "exit status 2"],
                "seed {seed}"
            );
            assert_eq!(
                out.matches("[... 1.0 MiB binary ...]").count(),
                1,
                "seed {seed}: {out}"
            );
            assert_safe(&out, true);
        }
    }

    #[test]
    fn marker_reports_run_size() {
        let mut input = b"start\n".to_vec();
        input.extend(vec![0u8; 4300]);
        input.extend(b"\nend");
        let out = render_excerpt(&input, &ExcerptOptions::default());
        assert_eq!(out, "start\n[... 4.2 KiB binary ...]\nend");
    }

    #[test]
    fn the_first_marker_shown_names_the_raw_command_once() {
        let mut input = b"start\n".to_vec();
        input.extend([0u8; 2048]);
        input.extend(b"\nthe text between the two binary stretches\n");
        input.extend([1u8; 100]);
        input.extend(b"\nend");
        let opts = ExcerptOptions {
            raw_hint: Some("flakehunt log ID 8 --raw".into()),
            ..ExcerptOptions::default()
        };
        let shown = excerpt(&input, &opts);
        assert_eq!(
            shown.text,
            "start\n[... 2.0 KiB binary, exact bytes: flakehunt log ID 8 --raw ...]\n\
             the text between the two binary stretches\n[... 100 B binary ...]\nend"
        );
        assert!(shown.hinted);
        // Nothing binary: the hint is left for a later excerpt.
        let plain = excerpt(b"just text\n", &opts);
        assert_eq!((plain.text.as_str(), plain.hinted), ("just text", false));
        // A line too narrow for the hint still shows the marker, and the hint waits.
        let narrow = ExcerptOptions {
            max_line_chars: 30,
            ..opts.clone()
        };
        let shown = excerpt(&input, &narrow);
        assert!(
            shown.text.contains("\n[... 2.0 KiB binary ...]\n"),
            "{}",
            shown.text
        );
        assert!(!shown.hinted);
        // The first marker *shown*: an elided one does not take the hint.
        let mut long = Vec::new();
        long.extend([0u8; 100]);
        for i in 0..50 {
            long.extend(format!("\nline {i}").as_bytes());
        }
        long.push(b'\n');
        long.extend([0u8; 300]);
        let elided = ExcerptOptions {
            max_lines: 4,
            ..opts
        };
        let shown = excerpt(&long, &elided);
        assert!(
            shown.text.starts_with("[... 100 B binary, exact bytes: "),
            "{}",
            shown.text
        );
        assert!(
            shown.text.ends_with("\n[... 300 B binary ...]"),
            "{}",
            shown.text
        );
    }

    #[test]
    fn newlines_inside_garbage_do_not_split_the_marker() {
        let mut input = b"head ".to_vec();
        input.extend([0u8; 100]);
        input.extend(b"\n\n");
        input.extend([1u8; 100]);
        input.extend(b" tail\r\nnext\r");
        let out = render_excerpt(&input, &ExcerptOptions::default());
        // A final `\r` not followed by `\n` is still shown.
        assert_eq!(out, "head [... 202 B binary ...] tail\nnext\\r");
    }

    #[test]
    fn short_or_sparse_dirt_stays_inline() {
        let opts = ExcerptOptions::default();
        // Below the threshold: escaped in place.
        assert_eq!(
            render_excerpt(b"a\x00\x01\x02b", &opts),
            "a\\x00\\x01\\x02b"
        );
        // A long line with a control byte every 20 bytes is text, not binary.
        let line: Vec<u8> = (0..20)
            .flat_map(|_| b"nineteen chars here\x08".iter().copied())
            .collect();
        let out = render_excerpt(
            &line,
            &ExcerptOptions {
                max_line_chars: 10_000,
                ..opts.clone()
            },
        );
        assert!(out.contains("nineteen chars here\\x08"), "{out}");
        assert!(!out.contains("binary"), "{out}");
        // Heavily coloured output is text, not binary.
        let coloured: Vec<u8> = (0..200)
            .flat_map(|_| b"\x1b[1;31mE\x1b[0m\x1b[2K".iter().copied())
            .collect();
        assert!(!render_excerpt(&coloured, &opts).contains("binary"));
    }

    #[test]
    fn threshold_zero_disables_collapsing() {
        let opts = ExcerptOptions {
            binary_run_threshold: 0,
            max_line_chars: 10_000,
            ..ExcerptOptions::default()
        };
        let out = render_excerpt(&[0u8; 100], &opts);
        assert_eq!(out, "\\x00".repeat(100));
    }

    #[test]
    fn ansi_sequence_lengths() {
        assert_eq!(ansi_sequence_len(b"\x1b[31mX"), Some(5));
        assert_eq!(ansi_sequence_len(b"\x1b[?25l"), Some(6));
        assert_eq!(ansi_sequence_len(b"\x1b]0;t\x07"), Some(6));
        assert_eq!(ansi_sequence_len(b"\x1b]8;;u\x1b\\"), Some(8));
        assert_eq!(ansi_sequence_len(b"\x1b]0;\x01\x07"), None);
        assert_eq!(ansi_sequence_len(b"\x1b(B"), Some(3));
        assert_eq!(ansi_sequence_len(b"\x1b"), None);
        assert_eq!(ansi_sequence_len(b"\x1b[31"), None);
        assert_eq!(ansi_sequence_len(b"\x1b[\xff"), None);
        assert_eq!(ansi_sequence_len(b"\x1b]0;unterminated"), None);
    }

    #[test]
    fn output_never_contains_controls() {
        let opts = ExcerptOptions {
            max_lines: 1000,
            max_line_chars: 1000,
            binary_run_threshold: 64,
            raw_hint: None,
        };
        let alphabet: &[&[u8]] = &[
            b"text ",
            b"\n",
            b"\r\n",
            b"\x1b[31m",
            b"\x1b]0;title\x07",
            b"\x00",
            b"\x7f",
            b"\xff",
            b"\xc2\x9b",
            "\u{202e}".as_bytes(),
            "\u{200b}".as_bytes(),
            "日本".as_bytes(),
            b"\t",
            b"\x08",
        ];
        for seed in 0..200u64 {
            let choices = garbage(300, seed);
            let mut input = Vec::new();
            for (i, c) in choices.iter().enumerate() {
                if seed % 3 == 0 && i % 50 == 0 {
                    input.extend(garbage(100, seed + i as u64));
                }
                input.extend_from_slice(alphabet[*c as usize % alphabet.len()]);
            }
            let excerpt = render_excerpt(&input, &opts);
            assert_safe(&excerpt, true);
            assert!(!excerpt.ends_with('\n'));
            let short = render_excerpt(&input, &ExcerptOptions::default());
            assert_safe(&short, true);
            assert!(short.lines().count() <= 41);
            for max in [0, 1, 7, 80] {
                let line = escape_line(&input, max);
                assert_safe(&line, false);
                assert!(line.chars().count() <= max);
            }
        }
    }

    #[test]
    fn human_bytes_forms() {
        assert_eq!(human_bytes(0), "0 B");
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(human_bytes(1023), "1023 B");
        assert_eq!(human_bytes(1024), "1.0 KiB");
        assert_eq!(human_bytes(4300), "4.2 KiB");
        assert_eq!(human_bytes(1024 * 1024), "1.0 MiB");
        assert_eq!(human_bytes(1024 * 1024 - 1), "1.0 MiB");
        assert_eq!(human_bytes(3_758_096_384), "3.5 GiB");
        assert_eq!(human_bytes(u64::MAX), "16.0 EiB");
    }
}
