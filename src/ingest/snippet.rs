//! Snippets: the few lines of a long failure output worth storing and showing (its start, its
//! end and the neighbourhood of the first line that explains the failure).

use crate::analysis::signature::is_telling_line;

use super::limits::is_cut_note;

/// Lines kept from the start of the output.
const HEAD_LINES: usize = 10;

/// Lines kept from the end of the output.
const TAIL_LINES: usize = 10;

/// Lines kept on either side of the first telling line.
const CONTEXT_LINES: usize = 10;

/// Longest line kept whole, in bytes; longer lines are cut and end with `…`.
const MAX_LINE_BYTES: usize = 500;

/// The lines of `output`: split at `\n`, a trailing `\r` removed from each, and no empty last
/// line for output that ends with a newline.
pub(crate) fn split_lines(output: &[u8]) -> Vec<&[u8]> {
    if output.is_empty() {
        return Vec::new();
    }
    let body = output.strip_suffix(b"\n").unwrap_or(output);
    body.split(|&b| b == b'\n')
        .map(|line| line.strip_suffix(b"\r").unwrap_or(line))
        .collect()
}

/// One line of a snippet: lossy UTF-8 without NUL bytes, cut at [`MAX_LINE_BYTES`].
fn render_line(line: &[u8]) -> String {
    let mut text: String = String::from_utf8_lossy(line).replace('\0', "");
    if text.len() > MAX_LINE_BYTES {
        let mut cut = MAX_LINE_BYTES;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
        text.push('…');
    }
    text
}

/// The marker that stands for `dropped` omitted lines.
fn marker(dropped: usize) -> String {
    format!("[... {dropped} lines ...]")
}

/// The essentials of a (possibly huge) failure output, as watchflakes keeps them: the first 10
/// lines, the last 10 lines and the 10 lines on either side of the first telling line
/// ([`is_telling_line`]), in output order and each at most once, plus any cut note left where
/// ingest cut an oversize field. Each run of omitted lines is replaced by one
/// `[... N lines ...]` line.
///
/// Lines are joined with `\n` (no trailing newline; a trailing `\r` is dropped from each line),
/// lines over 500 bytes are cut and end with `…`, invalid UTF-8 is replaced with U+FFFD and NUL
/// bytes are removed. Other control characters are kept: escaping them is up to the display.
pub fn snippet(output: &[u8]) -> String {
    snippet_of_lines(&split_lines(output))
}

/// [`snippet`] of output already split into lines (by [`split_lines`]).
pub(crate) fn snippet_of_lines(lines: &[&[u8]]) -> String {
    let n = lines.len();
    let mut keep = vec![false; n];
    for flag in keep.iter_mut().take(HEAD_LINES) {
        *flag = true;
    }
    for flag in keep.iter_mut().skip(n.saturating_sub(TAIL_LINES)) {
        *flag = true;
    }
    if let Some(first) = lines.iter().position(|line| is_telling_line(line)) {
        let start = first.saturating_sub(CONTEXT_LINES);
        let end = (first + CONTEXT_LINES + 1).min(n);
        for flag in &mut keep[start..end] {
            *flag = true;
        }
    }
    // Where ingest cut an oversize field must show, wherever it is.
    for (flag, line) in keep.iter_mut().zip(lines) {
        *flag |= is_cut_note(line);
    }

    let mut out: Vec<String> = Vec::new();
    let mut dropped = 0;
    for (line, kept) in lines.iter().zip(&keep) {
        if *kept {
            if dropped > 0 {
                out.push(marker(dropped));
                dropped = 0;
            }
            out.push(render_line(line));
        } else {
            dropped += 1;
        }
    }
    if dropped > 0 {
        out.push(marker(dropped));
    }
    out.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `count` numbered lines `line 0` ... with `telling` inserted at index `at`.
    fn numbered(count: usize, telling: Option<(usize, &str)>) -> String {
        let mut out = String::new();
        for i in 0..count {
            match telling {
                Some((at, text)) if at == i => out.push_str(text),
                _ => out.push_str(&format!("line {i}")),
            }
            out.push('\n');
        }
        out
    }

    #[test]
    fn short_output_is_kept_whole_without_marker() {
        let text = numbered(20, Some((5, "panic: boom")));
        let out = snippet(text.as_bytes());
        assert_eq!(out.lines().count(), 20);
        assert!(!out.contains("[..."));
        assert_eq!(out, text.trim_end_matches('\n'));
        assert_eq!(snippet(b""), "");
        assert_eq!(snippet(b"one line"), "one line");
        assert_eq!(snippet(b"a\r\nb\r\n"), "a\nb");
    }

    #[test]
    fn long_output_keeps_head_tail_and_context() {
        let text = numbered(1000, Some((500, "panic: boom")));
        let out = snippet(text.as_bytes());
        let lines: Vec<&str> = out.lines().collect();
        // 10 head + marker + 21 context + marker + 10 tail.
        assert_eq!(lines.len(), 43);
        assert_eq!(lines[0], "line 0");
        assert_eq!(lines[9], "line 9");
        assert_eq!(lines[10], "[... 480 lines ...]");
        assert_eq!(lines[11], "line 490");
        assert_eq!(lines[21], "panic: boom");
        assert_eq!(lines[31], "line 510");
        assert_eq!(lines[32], "[... 479 lines ...]");
        assert_eq!(lines[33], "line 990");
        assert_eq!(lines[42], "line 999");
    }

    #[test]
    fn long_output_without_telling_line_keeps_head_and_tail() {
        let text = numbered(100, None);
        let out = snippet(text.as_bytes());
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 21);
        assert_eq!(lines[10], "[... 80 lines ...]");
        assert_eq!(lines[11], "line 90");
    }

    #[test]
    fn overlapping_windows_are_merged() {
        // The telling line's window overlaps the head: no duplicates, one marker.
        let text = numbered(60, Some((15, "FAIL: boom")));
        let out = snippet(text.as_bytes());
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 26 + 1 + 10);
        assert_eq!(lines[15], "FAIL: boom");
        assert_eq!(lines[25], "line 25");
        assert_eq!(lines[26], "[... 24 lines ...]");
        assert_eq!(lines[27], "line 50");
        // Window touching the tail: 30 lines, all kept, no marker at all.
        let text = numbered(30, Some((12, "FAIL: boom")));
        let out = snippet(text.as_bytes());
        assert_eq!(out.lines().count(), 30);
        assert!(!out.contains("[..."));
        // Exactly one line between head and tail windows is dropped.
        let text = numbered(21, None);
        let out = snippet(text.as_bytes());
        assert!(out.contains("line 9\n[... 1 lines ...]\nline 11"));
    }

    #[test]
    fn only_the_first_telling_line_gets_context() {
        let mut text = numbered(200, Some((50, "panic: first")));
        text = text.replace("line 150\n", "panic: second\n");
        let out = snippet(text.as_bytes());
        assert!(out.contains("panic: first"));
        assert!(!out.contains("panic: second"));
    }

    #[test]
    fn cut_notes_are_always_kept() {
        let text = numbered(100, None).replace("line 50\n", "[... 3.2 MiB cut ...]\n");
        let out = snippet(text.as_bytes());
        assert!(
            out.contains("[... 40 lines ...]\n[... 3.2 MiB cut ...]\n[... 39 lines ...]"),
            "{out}"
        );
    }

    #[test]
    fn long_lines_invalid_utf8_and_nul() {
        let mut input = vec![b'x'; 499];
        input.extend_from_slice("é".as_bytes()); // straddles the 500-byte limit
        input.extend_from_slice(b"tail\n");
        input.extend_from_slice(b"bad \xff byte\x00s\x07\tok\n");
        let out = snippet(&input);
        let lines: Vec<&str> = out.split('\n').collect();
        assert_eq!(lines[0], format!("{}…", "x".repeat(499)));
        assert_eq!(lines[1], "bad \u{fffd} bytes\x07\tok");
        let exact = "y".repeat(500);
        assert_eq!(snippet(exact.as_bytes()), exact);
    }
}
