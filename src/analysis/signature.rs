//! Failure signatures: picking the output line that explains a failure, normalising away
//! run-specific noise (addresses, ids, durations, temp paths...), and hashing the result into a
//! stable id so that failures with the same cause cluster together.

use std::borrow::Cow;
use std::sync::LazyLock;

use regex::bytes::Regex as BytesRegex;
use regex::{Captures, Regex};

use xxhash_rust::xxh3::xxh3_64;

use crate::record::stacks::{Frame, Runtime, Stacks, StacksKind, ThreadStack};
use crate::text::is_spoofing_char;

/// Only this many bytes of a line are examined: explanations come early in a line, and
/// megabyte-long lines must not make classification slow.
const MAX_LINE_BYTES: usize = 4096;

/// Longest normalised line, in characters.
const MAX_NORMALISED_CHARS: usize = 300;

/// How many trailing output lines stand in for a missing telling line.
const TAIL_LINES_USED: usize = 2;

/// Hex digits of the hash kept in a signature id.
const ID_HEX_DIGITS: usize = 12;

/// Compiles one of this module's constant patterns.
fn regex(pattern: &str) -> Regex {
    Regex::new(pattern).expect("constant regex is valid")
}

/// Compiles one of this module's constant byte patterns.
fn bytes_regex(pattern: &str) -> BytesRegex {
    BytesRegex::new(pattern).expect("constant regex is valid")
}

/// ANSI/VT escape sequences: CSI (colours, cursor moves), OSC (titles, hyperlinks) and short
/// escapes (charset selection).
static ANSI: LazyLock<BytesRegex> = LazyLock::new(|| {
    bytes_regex(
        r"(?-u)\x1b(?:\[[\x30-\x3f]*[\x20-\x2f]*[\x40-\x7e]|\][^\x07\x1b]*(?:\x07|\x1b\\)|[\x20-\x2f]*[\x30-\x7e])",
    )
});

/// Summary counts that say nothing failed ("0 failed", "Errors: 0", "no failures"). They are
/// blanked out before [`TELLING`] is applied so that a passing summary is not mistaken for a
/// failure while "Failures: 1, Errors: 0" still is one.
static ZERO_COUNTS: LazyLock<BytesRegex> = LazyLock::new(|| {
    bytes_regex(
        r"(?xi-u)
          \b0\s+(?:tests?\s+)?(?:failed|failures?|failing|fails|errors?|errored|crashed|panicked|unexpected|timed\s+out)\b
        | \b(?:failed|failures?|failing|fails|errors?|errored|fail)\s*[:=]\s*0\b
        | \b(?:no|zero|without)\s+(?:failures|errors|failed\s+tests)\b
        ",
    )
});

/// Phrases with which test frameworks, runtimes and tools start explaining a failure. Each
/// alternative is case-sensitive unless marked `(?i:...)`: upper-case verdicts such as `FAIL`
/// are specific as written, while prose such as "timed out" comes in any case. Words are
/// matched whole, so "failover" or "XFAIL" do not count. Matching is in ASCII mode (`-u`):
/// every keyword is ASCII, and ASCII word boundaries keep the scan of long outputs fast.
static TELLING: LazyLock<BytesRegex> = LazyLock::new(|| {
    bytes_regex(
        r"(?x-u)
          ^\s*panic:\s                                   # Go
        | \bfatal\ error:                                # Go runtime, compilers
        | ^\s*(?:fatal|FATAL)\b                          # fatal: ..., FATAL ...
        | \bpanicked\ at\b                               # Rust
        | \bhas\ overflowed\ its\ stack\b                # Rust
        | ^\s*---\ FAIL:                                 # go test
        | \bFAIL(?:ED|URES?)?\b                          # verdicts of many runners
        | (?i:\bfail(?:ed|ures?)\b)                      # failed, failure(s)
        | \b[1-9][0-9]*\s+failing\b                      # mocha
        | ^\s*Traceback\b                                # Python
        | \b[A-Z][A-Za-z0-9_.$]*(?:Error|Exception)\b(?::|\s*$|\s+\[)   # named errors/exceptions
        | \bException\ in\ thread\b                      # Java
        | (?i:\bassert(?:ion)?\b.*\bfailed\b)            # assert macros, glibc assert()
        | (?:^|[\s\]>|)])(?:error|Error|ERROR)(?:\[[\w-]+\])?:   # error: / Error: / error[E0425]:
        | ^\s*\[?ERROR\b                                 # log level, pytest
        | \bSegmentation\ fault\b
        | \bSIG(?:SEGV|ABRT|BUS|ILL|FPE|QUIT|KILL|TERM|TRAP|SYS)\b
        | \b(?:Aborted|Abort\ trap|Bus\ error|Illegal\ instruction|Floating\ point\ exception|Killed)\b
        | \bcore\ dumped\b
        | [A-Za-z]+Sanitizer\b                           # ASan, TSan, UBSan, LSan, MSan
        | \bruntime\ error\b                             # Go, UBSan
        | WARNING:\ DATA\ RACE                           # Go race detector
        | (?i:\bdata\ race\b)
        | (?i:\btimed\ out\b)
        | (?i:\bdeadline\ exceeded\b)
        | (?i:\btimeout\b.*\bexceeded\b)                 # mocha, jest
        | \*\*\*Timeout\b | \bTIMEOUT\b                  # ctest, runners
        | (?i:\bdeadlock)
        | (?i:\bunexpected\b)
        | (?i:\bexpected\b.*\b(?:got|but\ was|but\ got|but\ found|actual|received|instead)\b)
        | (?i:\bgot\b.*\bwant\b)                         # Go idiom
        | (?i:\bun(?:caught|handled)\b)
        | (?i:\bstack\ (?:overflow|smashing)\b)
        | (?i:\bdouble\ free\b) | \bmalloc\(\) | \bfree\(\):
        | (?i:\bout\ of\ memory\b)
        | (?i:\bmemory\ leaks?\b)
        | (?i:\bcrash(?:ed|es)?\b)
        | ^\s*not\ ok\b                                  # TAP
        | ^E\s{3,}\S                                     # pytest detail lines
        | ^\s*(?:✕|✗|✘|×)\s                              # jest, mocha marks
        | (?i:\bexit(?:ed)?(?:\ with)?\ (?:status|code)[:=\s]+-?[1-9])
        ",
    )
});

/// A path: optional drive, optional leading separator, then at least one `component/`.
static PATH: LazyLock<Regex> =
    LazyLock::new(|| regex(r"(?:[A-Za-z]:)?[\\/]?(?:[\w.@~+\-]+[\\/]+)+[\w.@~+\-]*"));

/// Well-known roots of temporary directories.
const TEMP_ROOTS: &[&str] = &[
    "/tmp/",
    "/var/tmp/",
    "/var/folders/",
    "/private/var/folders/",
    "/private/tmp/",
    "/dev/shm/",
];

/// RFC 4122-style UUIDs in their 8-4-4-4-12 form.
static UUID: LazyLock<Regex> = LazyLock::new(|| {
    regex(r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b")
});

/// ISO 8601 / RFC 3339 timestamps, `YYYY-MM-DD` or `YYYY/MM/DD` dates with an optional time,
/// and bare `HH:MM:SS(.fff)` times.
static TIME: LazyLock<Regex> = LazyLock::new(|| {
    regex(
        r"(?x)
          \b\d{4}[-/]\d{2}[-/]\d{2}
            (?:[T\ ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?(?:Z|[+-]\d{2}:?\d{2}\b)?)?
        | \b\d{1,2}:\d{2}:\d{2}(?:[.,]\d+)?\b
        ",
    )
});

/// IPv4 addresses with optional port, bracketed IPv6 addresses with port, `localhost:port`.
static ADDR: LazyLock<Regex> = LazyLock::new(|| {
    regex(
        r"(?x)
          \b(?:\d{1,3}\.){3}\d{1,3}(?::\d{1,5})?\b
        | \[[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*\](?::\d{1,5})?
        | \blocalhost:\d{1,5}\b
        ",
    )
});

/// `0x`-prefixed hex numbers: pointers, addresses, program counters.
static HEX_ADDRESS: LazyLock<Regex> = LazyLock::new(|| regex(r"\b0[xX][0-9a-fA-F]+\b"));

/// Candidate long hex ids; [`replace_hex_ids`] checks boundaries and the digit/letter mix.
static HEX_ID: LazyLock<Regex> = LazyLock::new(|| regex(r"[0-9a-fA-F]{8,}"));

/// ANSI escape sequences written out as text rather than sent raw: `\x1b[1m`, `\u001b[0m`,
/// `\u{1b}[31;1m`, `\033[K`, `\e[2J`, `^[[0m`, `&#x1B;[1m`, and OSC titles/hyperlinks such as
/// `\x1b]0;title\x07`. Debug output and escaped logs print them this way; [`normalise`] keeps
/// them verbatim so their parameters are not read as numbers or durations (`1m`).
static TEXT_ESCAPE: LazyLock<Regex> = LazyLock::new(|| {
    regex(
        r"(?x)
          (?: \\x1[bB] | \\u00?1[bB] | \\u\{0*1[bB]\} | \\0?33 | \\e | \^\[ | &\#x0*1[bB]; | &\#0*27; | \#x1[bB] )
          (?: \[ [0-9;:?<=>]* [\ -/]* [@-~]
            | \] [^\s\\\x07]* (?: \x07 | \\x07 | \\u0007 | \\u\{7\} | \\007 | \\a
                               | (?: \\x1[bB] | \\u001[bB] | \\033 | \\e ) \\\\? )?
            | [()\#%] [0-9A-Za-z]
          )
        ",
    )
});

/// Durations in Go/Rust style (`1.5s`, `12ms`, `3µs`, `2m3s`) and spelled out (`3 seconds`).
static DURATION: LazyLock<Regex> = LazyLock::new(|| {
    regex(
        r"(?x)
          \b(?:\d+(?:\.\d+)?(?:ns|us|µs|μs|ms|h|m|s))+\b
        | \b\d+(?:\.\d+)?\s?(?:nanoseconds?|microseconds?|milliseconds?|seconds?|secs?|minutes?|mins?|hours?|hrs?)\b
        ",
    )
});

/// Runtime-assigned ids of goroutines, threads and processes.
static TASK_ID: LazyLock<Regex> = LazyLock::new(|| {
    regex(r"(?x)\b(goroutine\s+|thread\s+'[^']*'\s+\(|\b(?:tid|pid|TID|PID)[=:\s]\s*)\d+")
});

/// A source location (`src/x.rs:10:5`, `foo_test.go:42`), which is kept, or a decimal number,
/// which [`replace_numbers`] turns into `N` when it stands alone.
static NUMBER_OR_LOCATION: LazyLock<Regex> = LazyLock::new(|| {
    regex(r"(?P<loc>[\w.\-/\\]*\.[A-Za-z][A-Za-z0-9]*:\d+(?::\d+)?)|\d+(?:\.\d+)*")
});

/// Whether `c` continues an identifier, so that digits next to it are part of a name.
fn is_ident_char(c: char) -> bool {
    c.is_alphabetic() || c == '_'
}

/// At most the first [`MAX_LINE_BYTES`] bytes of `line`, with ANSI sequences removed.
fn strip_ansi(line: &[u8]) -> Cow<'_, [u8]> {
    let line = &line[..line.len().min(MAX_LINE_BYTES)];
    ANSI.replace_all(line, &b""[..])
}

/// Whether this line is the kind that explains a failure (a panic, an assertion, a failed
/// test verdict, a sanitizer report...), so that it can head a failure's signature.
///
/// Covers the usual wording of Go, Rust, Python, C/C++, Java and JavaScript runtimes and test
/// runners. Passing summaries ("test result: ok. 3 passed; 0 failed") do not count. ANSI
/// colouring is ignored and the line may be invalid UTF-8.
pub fn is_telling_line(line: &[u8]) -> bool {
    let line = strip_ansi(line);
    let line = ZERO_COUNTS.replace_all(&line, &b" "[..]);
    TELLING.is_match(&line)
}

/// Whether a path component looks generated rather than named by a person: a temp-file
/// prefix (`tmpa8f3kq2z`, `.tmpXyZ12`, `tmp.AbC`), a run of 5+ digits (`go-build2847561`), or
/// letters and digits alternating at least 4 times (`a8f3k2z`, hashes).
fn looks_random(component: &str) -> bool {
    let lower = component.to_ascii_lowercase();
    let bare = lower.trim_start_matches('.');
    if bare.len() > 3 && (bare.starts_with("tmp") || bare.starts_with("temp")) {
        return true;
    }
    if component.chars().count() < 6 {
        return false;
    }
    let mut digit_run = 0;
    let mut transitions = 0;
    let mut prev: Option<bool> = None;
    for c in component.chars() {
        let is_digit = c.is_ascii_digit();
        digit_run = if is_digit { digit_run + 1 } else { 0 };
        if digit_run >= 5 {
            return true;
        }
        if c.is_ascii_alphanumeric() {
            if prev.is_some_and(|p| p != is_digit) {
                transitions += 1;
            }
            prev = Some(is_digit);
        } else {
            prev = None;
        }
    }
    transitions >= 4
}

/// Whether a path points into a temporary directory or contains a generated component.
fn is_noisy_path(path: &str) -> bool {
    if TEMP_ROOTS.iter().any(|root| path.starts_with(root)) {
        return true;
    }
    path.split(['/', '\\'])
        .filter(|c| !c.is_empty())
        .any(|c| c.eq_ignore_ascii_case("tmp") || c.eq_ignore_ascii_case("temp") || looks_random(c))
}

/// Replaces long hex ids (8+ hex digits, at least one digit and one letter, not part of a
/// longer word) with `<hex>`.
fn replace_hex_ids(s: &str) -> Cow<'_, str> {
    HEX_ID.replace_all(s, |caps: &Captures<'_>| {
        let Some(m) = caps.get(0) else {
            return String::new();
        };
        let before = s[..m.start()].chars().next_back();
        let after = s[m.end()..].chars().next();
        let bounded = !before.is_some_and(|c| c.is_alphanumeric() || c == '_')
            && !after.is_some_and(|c| c.is_alphanumeric() || c == '_');
        let text = m.as_str();
        let mixed = text.bytes().any(|b| b.is_ascii_digit())
            && text.bytes().any(|b| b.is_ascii_alphabetic());
        if bounded && mixed {
            "<hex>".to_string()
        } else {
            text.to_string()
        }
    })
}

/// Replaces standalone decimal numbers (not touching a letter or `_`, so `sha256`, `x86_64`,
/// `utf8` and `TestFoo2` survive) with `N`, keeping source locations such as `src/x.rs:10:5`
/// intact because their line numbers identify the failing code, not the run.
fn replace_numbers(s: &str) -> Cow<'_, str> {
    NUMBER_OR_LOCATION.replace_all(s, |caps: &Captures<'_>| {
        let Some(m) = caps.get(0) else {
            return String::new();
        };
        if caps.name("loc").is_some() {
            return m.as_str().to_string();
        }
        let before = s[..m.start()].chars().next_back();
        let after = s[m.end()..].chars().next();
        if before.is_some_and(is_ident_char) || after.is_some_and(is_ident_char) {
            m.as_str().to_string()
        } else {
            "N".to_string()
        }
    })
}

/// Reduces one output line to the part that is the same from run to run, so that failures
/// with the same cause get the same signature.
///
/// Steps, in this order (earlier steps consume text that later ones would mangle):
/// 1. look at the first 4 KiB only; strip ANSI escape sequences (those written out as text,
///    `\x1b[1m`, are kept verbatim and skipped by the steps below); decode as lossy UTF-8; turn
///    control characters into spaces and drop invisible formatting characters;
/// 2. paths into temp directories or with generated-looking components -> `<tmp>`;
/// 3. UUIDs -> `<uuid>`;
/// 4. ISO timestamps, dates and `HH:MM:SS(.fff)` times -> `<time>`;
/// 5. IP addresses with optional port, `localhost:port` -> `<addr>`;
/// 6. `0x...` hex numbers -> `0x?`;
/// 7. long hex ids (8+ hex digits with a digit and a letter: git shas, bare pointers) -> `<hex>`;
/// 8. durations (`1.5s`, `12ms`, `3µs`, `2m3s`, `3 seconds`) -> `<dur>`;
/// 9. goroutine, thread, tid and pid numbers -> `N`;
/// 10. other standalone decimal numbers -> `N` (source locations like `x.rs:10:5` are kept);
/// 11. whitespace runs collapsed to one space, trimmed, capped at 300 characters (`…` marks a
///     cut).
pub fn normalise(line: &[u8]) -> String {
    normalise_text(&String::from_utf8_lossy(&strip_ansi(line)))
}

/// A line normalised twice when it holds invalid UTF-8: `(hashed, shown)`. `hashed` is
/// [`normalise`]'s (invalid bytes as U+FFFD), from which signature ids are computed and must
/// stay as they were; `shown` names the invalid bytes as `\xNN`, as example lines escape them,
/// so that a signature and its example line agree. For valid UTF-8 both are the same.
fn normalise_both(line: &[u8]) -> (String, String) {
    let hashed = normalise(line);
    let stripped = strip_ansi(line);
    let shown = match std::str::from_utf8(&stripped) {
        Ok(_) => None,
        Err(_) => decode_with_stand_ins(&stripped)
            .map(|decoded| escape_stand_ins(&normalise_text(&decoded))),
    };
    (hashed.clone(), shown.unwrap_or(hashed))
}

/// First of the private-use characters standing in for invalid bytes while a line is
/// normalised for display: byte `b` becomes `U+10FF00 + b`. Like the U+FFFD of a lossy
/// decoding they are neither word characters, digits nor spaces, so every normalisation step
/// treats them alike.
const STAND_IN_BASE: u32 = 0x10_FF00;

/// `bytes` decoded as UTF-8 with each byte of an invalid sequence as its stand-in; `None` if
/// the valid text already holds stand-in characters (then they would be ambiguous).
fn decode_with_stand_ins(bytes: &[u8]) -> Option<String> {
    let mut out = String::with_capacity(bytes.len());
    let mut rest = bytes;
    while !rest.is_empty() {
        let (decoded, size) = bstr::decode_utf8(rest);
        let size = size.max(1);
        match decoded {
            Some(c) if u32::from(c) >= STAND_IN_BASE => return None,
            Some(c) => out.push(c),
            None => {
                for &byte in &rest[..size] {
                    out.push(char::from_u32(STAND_IN_BASE + u32::from(byte))?);
                }
            }
        }
        rest = &rest[size..];
    }
    Some(out)
}

/// Stand-ins back to `\xNN`, keeping the result within [`MAX_NORMALISED_CHARS`] characters
/// (cut before an escape, never inside one, and marked `…`).
fn escape_stand_ins(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = 0;
    for c in text.chars() {
        let piece = match u32::from(c).checked_sub(STAND_IN_BASE) {
            Some(byte) => format!("\\x{byte:02x}"),
            None => c.to_string(),
        };
        let piece_chars = piece.chars().count();
        if chars + piece_chars > MAX_NORMALISED_CHARS - 1 && c != '…' {
            out.push('…');
            return out;
        }
        out.push_str(&piece);
        chars += piece_chars;
    }
    out
}

/// The steps of [`normalise`] after decoding.
fn normalise_text(decoded: &str) -> String {
    let text: String = decoded
        .chars()
        .filter(|&c| !is_spoofing_char(c))
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();

    // Escapes written out as text stay as they are; only the text between them is normalised.
    let mut joined = String::with_capacity(text.len());
    let mut last = 0;
    for m in TEXT_ESCAPE.find_iter(&text) {
        joined.push_str(&normalise_segment(&text[last..m.start()]));
        joined.push_str(m.as_str());
        last = m.end();
    }
    joined.push_str(&normalise_segment(&text[last..]));

    let mut out = String::new();
    for (i, word) in joined.split_whitespace().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        out.push_str(word);
    }
    if out.chars().count() > MAX_NORMALISED_CHARS {
        out = out.chars().take(MAX_NORMALISED_CHARS - 1).collect();
        out.push('…');
    }
    out
}

/// Steps 2-10 of [`normalise`] on a piece of text holding no written-out escape sequence.
fn normalise_segment(text: &str) -> String {
    let text = PATH.replace_all(text, |caps: &Captures<'_>| {
        let path = caps.get(0).map_or("", |m| m.as_str());
        if is_noisy_path(path) {
            "<tmp>".to_string()
        } else {
            path.to_string()
        }
    });
    let text = UUID.replace_all(&text, "<uuid>");
    let text = TIME.replace_all(&text, "<time>");
    let text = ADDR.replace_all(&text, "<addr>");
    let text = HEX_ADDRESS.replace_all(&text, "0x?");
    let text = replace_hex_ids(&text);
    let text = DURATION.replace_all(&text, "<dur>");
    let text = TASK_ID.replace_all(&text, "${1}N");
    replace_numbers(&text).into_owned()
}

pub use crate::record::Signature;

/// A signature showing `shown`, with the id derived from `hashed` (see [`normalise_both`]).
fn signature_from_text(hashed: &str, shown: String) -> Signature {
    let hash = format!("{:016x}", xxh3_64(hashed.as_bytes()));
    Signature {
        id: hash[..ID_HEX_DIGITS].to_string(),
        text: shown,
    }
}

/// The signature of a failed run.
///
/// `outcome_label` is how the run ended, as worded by the caller (`exit 1`, `signal SIGSEGV`,
/// `timeout (SIGQUIT)`, `output matched "REGEX"`); it is used verbatim apart from control and
/// invisible characters, so its numbers are significant. The explanation is the normalised
/// `telling_line` if there is one, otherwise the last (at most 2) lines of `tail_lines` that
/// are not empty once normalised, in output order and joined with ` | `.
pub fn signature_for(
    outcome_label: &str,
    telling_line: Option<&[u8]>,
    tail_lines: &[Vec<u8>],
) -> Signature {
    let label: String = outcome_label
        .chars()
        .filter(|&c| !is_spoofing_char(c))
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();

    let (mut hashed, mut shown) = telling_line.map(normalise_both).unwrap_or_default();
    if hashed.is_empty() {
        let mut tail: Vec<(String, String)> = tail_lines
            .iter()
            .rev()
            .map(|line| normalise_both(line))
            .filter(|(line, _)| !line.is_empty())
            .take(TAIL_LINES_USED)
            .collect();
        tail.reverse();
        hashed = tail
            .iter()
            .map(|(h, _)| h.as_str())
            .collect::<Vec<_>>()
            .join(" | ");
        shown = tail
            .iter()
            .map(|(_, s)| s.as_str())
            .collect::<Vec<_>>()
            .join(" | ");
    }

    if hashed.is_empty() {
        signature_from_text(&label, label.clone())
    } else {
        signature_from_text(&format!("{label}: {hashed}"), format!("{label}: {shown}"))
    }
}

/// Innermost frames of a thread kept in a stack signature.
const TOP_FRAMES: usize = 3;
/// Distinct thread stacks kept in a hang signature.
const MAX_STACKS_IN_SIGNATURE: usize = 4;
/// Longest function name kept in a stack signature, in characters.
const MAX_FRAME_CHARS: usize = 80;
/// Longest stack part of a signature, in characters.
const MAX_STACKS_CHARS: usize = 600;

/// Legacy Rust symbol hashes (`::h0123456789abcdef`).
static RUST_HASH: LazyLock<Regex> = LazyLock::new(|| regex(r"::h[0-9a-f]{16}$"));
/// Compiler clone suffixes (`.constprop.0`, `.isra.1`, `.part.2`, `.cold`, `.llvm.123`).
static CLONE_SUFFIX: LazyLock<Regex> = LazyLock::new(|| {
    regex(r"(?:\.(?:constprop|isra|part|cold|lto_priv|llvm|localalias|clone)(?:\.[0-9A-Fa-f]+)*)+$")
});
/// Hexadecimal addresses that some tools print inside names.
static NAME_ADDRESS: LazyLock<Regex> = LazyLock::new(|| regex(r"0x[0-9A-Fa-f]+"));

/// A function name without what differs between builds, runs and machines: symbol versions
/// (`@@GLIBC_2.34`), Rust hashes, compiler clone suffixes, addresses, and the underscores and
/// `GI_` prefixes of C library internals (`__GI___pthread_kill` -> `pthread_kill`).
pub fn normalise_function(raw: &str) -> String {
    let name = raw.split('@').next().unwrap_or(raw).trim();
    // Stacks recorded before names were demangled at parse time may hold mangled Rust symbols.
    let demangled = rustc_demangle::try_demangle(name)
        .ok()
        .map(|symbol| format!("{symbol:#}"));
    let name = demangled.as_deref().unwrap_or(name);
    let name = RUST_HASH.replace(name, "");
    let name = CLONE_SUFFIX.replace(&name, "");
    let name = NAME_ADDRESS.replace_all(&name, "0x?");
    let mut name: &str = &name;
    loop {
        let stripped = name.trim_start_matches('_');
        match stripped.strip_prefix("GI_") {
            Some(rest) => name = rest,
            None => {
                name = stripped;
                break;
            }
        }
    }
    let name: String = name
        .chars()
        .filter(|&c| !is_spoofing_char(c) && !c.is_control())
        .collect();
    if name.chars().count() > MAX_FRAME_CHARS {
        let mut cut: String = name.chars().take(MAX_FRAME_CHARS - 1).collect();
        cut.push('…');
        return cut;
    }
    if name.is_empty() {
        raw.trim().to_string()
    } else {
        name
    }
}

/// The public call a run of C library internals stands for, so that different C libraries,
/// debuggers and timed or untimed variants name a blocked thread alike.
fn libc_family(name: &str) -> &str {
    let has = |part: &str| name.contains(part);
    if has("cond") && has("wait") {
        "pthread_cond_wait"
    } else if has("rwlock") && (has("rdlock") || has("rd_lock")) {
        "pthread_rwlock_rdlock"
    } else if has("rwlock") && (has("wrlock") || has("wr_lock")) {
        "pthread_rwlock_wrlock"
    } else if (has("mutex") && has("lock")) || has("lll_lock") {
        "pthread_mutex_lock"
    } else if has("barrier_wait") {
        "pthread_barrier_wait"
    } else if name.starts_with("pthread") && has("join") {
        "pthread_join"
    } else if name.starts_with("sem_") && has("wait") {
        "sem_wait"
    } else if has("nanosleep") || name == "sleep" || name == "usleep" {
        "nanosleep"
    } else {
        name
    }
}

/// Basename of a path (either separator).
fn basename(path: &str) -> &str {
    path.rsplit(['/', '\\']).next().unwrap_or(path)
}

/// Whether a frame belongs to the language runtime or C library rather than the program.
fn is_system_frame(frame: &Frame, runtime: Runtime) -> bool {
    let name = frame.function.as_deref().unwrap_or("");
    match runtime {
        Runtime::Python => frame.file.as_deref().is_some_and(|file| {
            file.contains("/lib/python") && !file.contains("-packages/") || file.starts_with('<')
        }),
        Runtime::Go => ["runtime.", "sync.", "internal/", "syscall.", "time."]
            .iter()
            .any(|prefix| name.starts_with(prefix)),
        Runtime::Native => match frame.module.as_deref() {
            Some(module) => {
                let module = basename(module);
                [
                    "libc.so",
                    "libc-",
                    "libpthread",
                    "ld-linux",
                    "ld-musl",
                    "libc.musl",
                    "linux-vdso",
                    "linux-gate",
                ]
                .iter()
                .any(|prefix| module.starts_with(prefix))
            }
            // No module printed: C library internals are reserved names or a few known ones.
            None => {
                name.starts_with("__")
                    || name.starts_with("futex_")
                    || name.starts_with("lll_")
                    || [
                        "syscall",
                        "raise",
                        "abort",
                        "clone",
                        "clone3",
                        "start_thread",
                    ]
                    .contains(&name)
            }
        },
    }
}

/// One frame as it appears in a signature.
fn frame_text(frame: &Frame, runtime: Runtime) -> String {
    let name = frame.function.as_deref().map(normalise_function);
    match (runtime, name) {
        (Runtime::Python, Some(name)) => match frame.file.as_deref() {
            Some(file) => format!("{name} ({})", normalise_function(basename(file))),
            None => name,
        },
        (_, Some(name)) => name,
        (_, None) => match frame.module.as_deref().or(frame.file.as_deref()) {
            Some(place) => format!("?? ({})", normalise_function(basename(place))),
            None => "??".to_string(),
        },
    }
}

/// `a <- b <- c`: the innermost frames of a thread, with the runtime's or C library's
/// innermost internals folded into the call the program made.
fn thread_summary(thread: &ThreadStack, runtime: Runtime) -> Option<String> {
    let mut frames = &thread.frames[..];
    if frames.is_empty() {
        return None;
    }
    // The C library's start-up frames below `main`: gdb never shows them, eu-stack does.
    if runtime == Runtime::Native {
        if let Some(main) = frames
            .iter()
            .position(|f| f.function.as_deref().map(normalise_function).as_deref() == Some("main"))
        {
            frames = &frames[..=main];
        }
    }
    let system_run = frames
        .iter()
        .take_while(|frame| is_system_frame(frame, runtime))
        .count();
    let mut parts: Vec<String> = Vec::with_capacity(TOP_FRAMES);
    let rest = if system_run > 0 && system_run < frames.len() {
        let outermost = &frames[system_run - 1];
        let text = frame_text(outermost, runtime);
        parts.push(match runtime {
            Runtime::Native => libc_family(&text).to_string(),
            _ => text,
        });
        &frames[system_run..]
    } else {
        frames
    };
    for frame in rest {
        if parts.len() == TOP_FRAMES {
            break;
        }
        parts.push(frame_text(frame, runtime));
    }
    Some(parts.join(" <- "))
}

/// The stack part of a signature: `hang: a <- b <- c | d <- e` or `crash: f <- g <- h`.
///
/// A hang takes every thread of every process, deduplicated (a pool of idle workers counts
/// once), threads with frames of the program before threads inside the runtime alone, at most
/// four; a crash takes the thread that received the signal. None when no frames were read.
pub fn stack_summary(stacks: &Stacks) -> Option<String> {
    let mut own: Vec<String> = Vec::new();
    let mut internal: Vec<String> = Vec::new();
    for process in &stacks.processes {
        let threads: Vec<&ThreadStack> = match stacks.kind {
            StacksKind::Hang => process.threads.iter().collect(),
            StacksKind::Crash => {
                let crashed: Vec<&ThreadStack> =
                    process.threads.iter().filter(|t| t.crashed).collect();
                if crashed.is_empty() {
                    process.threads.iter().take(1).collect()
                } else {
                    crashed
                }
            }
        };
        for thread in threads {
            let Some(summary) = thread_summary(thread, process.runtime) else {
                continue;
            };
            let has_own = thread
                .frames
                .iter()
                .any(|frame| !is_system_frame(frame, process.runtime));
            let list = if has_own { &mut own } else { &mut internal };
            if !list.contains(&summary) {
                list.push(summary);
            }
        }
    }
    own.sort();
    internal.sort();
    own.extend(internal);
    own.truncate(MAX_STACKS_IN_SIGNATURE);
    if own.is_empty() {
        return None;
    }
    let mut text = format!("{}: {}", stacks.kind.as_str(), own.join(" | "));
    if text.chars().count() > MAX_STACKS_CHARS {
        text = text.chars().take(MAX_STACKS_CHARS - 1).collect();
        text.push('…');
    }
    Some(text)
}

/// The signature of a failed run that may carry stacks.
///
/// Without frames this is [`signature_for`]. A hang's explanation is its stacks alone (what a
/// hung program printed last says little about where it is stuck): `timeout (SIGQUIT): hang:
/// ...`. A crash keeps its telling line, if any, before its backtrace: `signal SIGABRT:
/// Assertion ... failed | crash: abort <- check <- main`.
pub fn signature_with_stacks(
    outcome_label: &str,
    stacks: Option<&Stacks>,
    telling_line: Option<&[u8]>,
    tail_lines: &[Vec<u8>],
) -> Signature {
    let Some((kind, summary)) = stacks.and_then(|s| Some((s.kind, stack_summary(s)?))) else {
        return signature_for(outcome_label, telling_line, tail_lines);
    };
    let base = signature_for(outcome_label, None, &[]);
    let telling = telling_line
        .map(normalise_both)
        .filter(|(hashed, _)| !hashed.is_empty());
    let (hashed, shown) = match (kind, telling) {
        (StacksKind::Crash, Some((hashed, shown))) => (
            format!("{}: {hashed} | {summary}", base.text),
            format!("{}: {shown} | {summary}", base.text),
        ),
        _ => {
            let text = format!("{}: {summary}", base.text);
            (text.clone(), text)
        }
    };
    signature_from_text(&hashed, shown)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The signature a caller would compute: first telling line, else the tail.
    fn signature_of(label: &str, output: &[u8]) -> Signature {
        let lines: Vec<Vec<u8>> = output.split(|&b| b == b'\n').map(<[u8]>::to_vec).collect();
        let telling = lines.iter().find(|l| is_telling_line(l)).map(Vec::as_slice);
        signature_for(label, telling, &lines)
    }

    #[test]
    fn telling_lines_across_ecosystems() {
        let telling: &[&[u8]] = &[
            b"panic: runtime error: invalid memory address or nil pointer dereference",
            b"fatal error: all goroutines are asleep - deadlock!",
            b"thread 'main' panicked at src/x.rs:10:5:",
            b"thread 'tokio-runtime-worker' (12345) panicked at src/lib.rs:3:9:",
            b"--- FAIL: TestCtrlHandler (6.32s)",
            b"FAIL\texample.com/pkg\t0.012s",
            b"FAIL",
            b"test tests::flaky ... FAILED",
            b"[  FAILED  ] Suite.Case (12 ms)",
            b"BUILD FAILURE",
            b"Traceback (most recent call last):",
            b"AssertionError: expected 1 to equal 2",
            b"E       assert 3 == 4",
            b"assertion failed: x > 0",
            b"assertion `left == right` failed",
            b"prog: main.c:10: main: Assertion `n > 0' failed.",
            b"Exception in thread \"main\" java.lang.IllegalStateException: boom",
            b"java.lang.NullPointerException",
            b"TypeError: Cannot read properties of undefined (reading 'x')",
            b"Error: connect ECONNREFUSED 127.0.0.1:5432",
            b"error: test failed, to rerun pass `--lib`",
            b"error[E0425]: cannot find value `x` in this scope",
            b"[2024-01-01] Error: boom",
            b"Segmentation fault (core dumped)",
            b"[signal SIGSEGV: segmentation violation code=0x1 addr=0x0 pc=0x45]",
            b"SIGABRT: abort",
            b"==1234==ERROR: AddressSanitizer: heap-use-after-free on address 0x602",
            b"WARNING: ThreadSanitizer: data race (pid=9)",
            b"WARNING: DATA RACE",
            b"panic: test timed out after 10m0s",
            b"context deadline exceeded",
            b"Error: Timeout of 2000ms exceeded.",
            b"unexpected EOF",
            b"expected 3, got 4",
            b"expected:<3> but was:<4>",
            b"got 3, want 4",
            b"not ok 3 - handles reconnect",
            b"  \xe2\x9c\x95 renders the list (5 ms)",
            b"Tests run: 5, Failures: 1, Errors: 0, Skipped: 0",
            b"test result: FAILED. 2 passed; 1 failed; 0 ignored",
            b"FAILED (failures=0, errors=1)",
            b"=== 1 failed, 2 passed in 0.12s ===",
            b"exit status 2",
            b"\x1b[31mFAIL\x1b[0m src/app.test.js",
            b"\xff\xfeFAIL: boom \xff",
            b"panic: boom \xff\xfe",
        ];
        for line in telling {
            assert!(
                is_telling_line(line),
                "should be telling: {:?}",
                String::from_utf8_lossy(line)
            );
        }
    }

    #[test]
    fn ordinary_lines_are_not_telling() {
        let ordinary: &[&[u8]] = &[
            b"test result: ok. 3 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out",
            b"test result: ok. 0 passed; 0 failed",
            b"Tests run: 3, Failures: 0, Errors: 0, Skipped: 0",
            b"=== 3 passed in 0.12s ===",
            b"ok  \texample.com/pkg\t0.012s",
            b"PASS",
            b"--- PASS: TestFoo (0.00s)",
            b"=== RUN   TestFoo",
            b"running 3 tests",
            b"test tests::stable ... ok",
            b"failover to replica complete",
            b"starting with --fail-fast",
            b"XFAIL: known issue",
            b"ErrorHandler installed",
            b"stderr: hello",
            b"terror: fiction",
            b"no failures detected",
            b"# FAIL:  0",
            b"errors=0 warnings=2",
            b"connected to 10.0.0.1:80 in 3ms",
            b"",
            b"\xff\xfe\x00\x01",
        ];
        for line in ordinary {
            assert!(
                !is_telling_line(line),
                "should not be telling: {:?}",
                String::from_utf8_lossy(line)
            );
        }
    }

    #[test]
    fn normalise_replacements() {
        let cases: &[(&[u8], &str)] = &[
            (b"addr=0xc000123abc pc=0x45", "addr=0x? pc=0x?"),
            (
                b"id 123e4567-e89b-12d3-a456-426614174000 done",
                "id <uuid> done",
            ),
            (b"commit 1a2b3c4d5e6f7a8b9c0d", "commit <hex>"),
            (b"ptr c000123456", "ptr <hex>"),
            (
                b"deadbeefcafe stays (no digit)",
                "deadbeefcafe stays (no digit)",
            ),
            (
                b"took 1.5s then 12ms then 3\xc2\xb5s and 250ns",
                "took <dur> then <dur> then <dur> and <dur>",
            ),
            (b"after 2m3s (6.32s) 10m0s", "after <dur> (<dur>) <dur>"),
            (b"waited 3 seconds", "waited <dur>"),
            (
                b"at 2024-01-02T03:04:05.678Z and 2024-01-02",
                "at <time> and <time>",
            ),
            (b"2009/11/10 23:00:00.123456 starting", "<time> starting"),
            (b"[12:34:56.789] tick", "[<time>] tick"),
            (
                b"open /tmp/TestFoo123/001/db.sqlite: busy",
                "open <tmp>: busy",
            ),
            (b"in /var/folders/xy/abc123/T/go-build1/x", "in <tmp>"),
            (
                b"C:\\Users\\me\\AppData\\Local\\Temp\\go-build42\\x.exe failed",
                "<tmp> failed",
            ),
            (b"wrote ./out/tmpa8f3kq2z/result.json", "wrote <tmp>"),
            (b"build/run-48213977/log.txt", "<tmp>"),
            (b"goroutine 123 [running]:", "goroutine N [running]:"),
            (
                b"thread 'main' (12345) panicked",
                "thread 'main' (N) panicked",
            ),
            (b"tid 77 pid=88", "tid N pid=N"),
            (b"dial 127.0.0.1:45123: refused", "dial <addr>: refused"),
            (
                b"listen [::1]:8080 and localhost:3000",
                "listen <addr> and <addr>",
            ),
            (
                b"sha256 x86_64 utf8 TestFoo2 v1.2.3",
                "sha256 x86_64 utf8 TestFoo2 v1.2.3",
            ),
            (b"expected 3, got -4.5", "expected N, got -N"),
            (
                b"at src/x.rs:10:5: and foo_test.go:42",
                "at src/x.rs:10:5: and foo_test.go:42",
            ),
            (b"  lots \t of   space  ", "lots of space"),
            (
                b"\x1b[1;31merror\x1b[0m: \x1b]0;title\x07boom",
                "error: boom",
            ),
            (b"bad \xff\xfe bytes", "bad \u{fffd}\u{fffd} bytes"),
            (b"ctrl\x07\x00chars", "ctrl chars"),
            ("spoof\u{202e}ed\u{200b}".as_bytes(), "spoofed"),
        ];
        for (input, expected) in cases {
            assert_eq!(
                normalise(input),
                *expected,
                "input {:?}",
                String::from_utf8_lossy(input)
            );
        }
    }

    #[test]
    fn written_out_escapes_are_kept_not_read_as_durations() {
        let cases: &[(&[u8], &str)] = &[
            (br"FAIL: \x1b[1mboom\x1b[0m", r"FAIL: \x1b[1mboom\x1b[0m"),
            (
                br"\x1B[31;1merror\x1B[0m after 3ms",
                r"\x1B[31;1merror\x1B[0m after <dur>",
            ),
            (
                br"panic: \u001b[1m12ms\u001b[0m",
                r"panic: \u001b[1m<dur>\u001b[0m",
            ),
            (br#"left: "\u{1b}[2m5m""#, r#"left: "\u{1b}[2m<dur>""#),
            (br"\033[1m \e[1m ^[[1m", r"\033[1m \e[1m ^[[1m"),
            (b"&#x1B;[1m #x1B[1m", "&#x1B;[1m #x1B[1m"),
            (
                br"\x1b]0;title 7\x07 \x1b]8;;http://h/1\x1b\\ ok",
                r"\x1b]0;title N\x07 \x1b]8;;http://h/1\x1b\\ ok",
            ),
            (br"\x1b(B 4 items", r"\x1b(B N items"),
            // Raw escapes are still removed, and a bare `[1m` is still a duration.
            (b"\x1b[1mbold\x1b[0m took [1m]", "bold took [<dur>]"),
        ];
        for (input, expected) in cases {
            assert_eq!(
                normalise(input),
                *expected,
                "input {:?}",
                String::from_utf8_lossy(input)
            );
        }
    }

    #[test]
    fn function_names_lose_build_and_run_noise() {
        let cases = [
            ("__GI___pthread_kill", "pthread_kill"),
            ("pthread_cond_wait@@GLIBC_2.3.2", "pthread_cond_wait"),
            ("__libc_start_main@GLIBC_2.2.5", "libc_start_main"),
            ("worker.constprop.0", "worker"),
            ("parse.isra.2.part.0", "parse"),
            (
                "std::thread::spawn::h0123456789abcdef",
                "std::thread::spawn",
            ),
            ("fetch_0x7f00ab", "fetch_0x?"),
            ("(anonymous namespace)::run", "(anonymous namespace)::run"),
            ("___", "___"),
            ("sync.(*Mutex).Lock", "sync.(*Mutex).Lock"),
            ("evil\u{202e}name\x07", "evilname"),
            (
                "_RNvNtCs9ouqcdLKNTu_7mycrate6module8function",
                "mycrate::module::function",
            ),
            (
                "_ZN7mycrate6module8function17h0123456789abcdefE",
                "mycrate::module::function",
            ),
            (
                "_ZN7mycrate6module8function17h0123456789abcdefE.llvm.42",
                "mycrate::module::function",
            ),
        ];
        for (raw, expected) in cases {
            assert_eq!(normalise_function(raw), expected, "{raw}");
        }
        assert_eq!(
            normalise_function(&"x".repeat(200)).chars().count(),
            MAX_FRAME_CHARS
        );
        assert_eq!(
            libc_family("pthread_mutex_timedlock64"),
            "pthread_mutex_lock"
        );
        assert_eq!(libc_family("pthread_clockjoin_ex"), "pthread_join");
        assert_eq!(libc_family("clock_nanosleep"), "nanosleep");
        assert_eq!(libc_family("epoll_wait"), "epoll_wait");
    }

    #[test]
    fn stack_signatures_are_bounded_and_deduplicated() {
        let thread = |names: &[&str]| ThreadStack {
            frames: names
                .iter()
                .map(|name| Frame {
                    function: Some(name.to_string()),
                    ..Frame::default()
                })
                .collect(),
            ..ThreadStack::default()
        };
        let mut threads = vec![thread(&["idle_loop", "start_thread"]); 8];
        threads.push(thread(&["__futex_abstimed_wait_common", "clone3"]));
        for n in 0..10 {
            threads.push(thread(&[&format!("x{n}{}", "w".repeat(100))]));
        }
        let stacks = Stacks {
            kind: StacksKind::Hang,
            processes: vec![crate::record::stacks::ProcessStacks {
                pid: 1,
                name: "p".into(),
                runtime: Runtime::Native,
                tool: "t".into(),
                threads,
            }],
            text: String::new(),
            notes: Vec::new(),
            core: None,
        };
        let summary = stack_summary(&stacks).expect("frames");
        assert!(
            summary.starts_with("hang: idle_loop <- start_thread | "),
            "{summary}"
        );
        assert_eq!(summary.matches("idle_loop").count(), 1);
        assert!(summary.chars().count() <= MAX_STACKS_CHARS);
        // Threads inside the C library alone come after the program's own.
        assert!(!summary.contains("futex"), "{summary}");
    }

    #[test]
    fn normalise_caps_length() {
        let long = "word ".repeat(200);
        let out = normalise(long.as_bytes());
        assert_eq!(out.chars().count(), 300);
        assert!(out.ends_with('…'));
        // Huge lines are cut before processing.
        let huge = vec![b'a'; 10 * 1024 * 1024];
        assert_eq!(normalise(&huge).chars().count(), 300);
    }

    #[test]
    fn go_panics_differing_in_noise_cluster() {
        let a = b"=== RUN   TestStore\n\
            panic: open /tmp/TestStore1234567/001/db: lock held by goroutine 17 at 0xc000123456 after 1.5s [recovered]\n\
            \tpanic: again\n\
            goroutine 17 [running]:\n";
        let b = b"=== RUN   TestStore\n\
            panic: open /tmp/TestStore7654321/001/db: lock held by goroutine 942 at 0xc000fedcba after 12ms [recovered]\n\
            \tpanic: again\n\
            goroutine 942 [running]:\n";
        let sa = signature_of("exit 2", a);
        let sb = signature_of("exit 2", b);
        assert_eq!(sa, sb);
        assert_eq!(
            sa.text,
            "exit 2: panic: open <tmp>: lock held by goroutine N at 0x? after <dur> [recovered]"
        );
        let other = signature_of(
            "exit 2",
            b"panic: runtime error: index out of range [5] with length 3\n",
        );
        assert_ne!(sa.id, other.id);
        // Same line, different outcome: different signature.
        assert_ne!(sa.id, signature_of("signal SIGSEGV", a).id);
    }

    #[test]
    fn rust_panics_with_different_thread_ids_cluster() {
        let a = signature_of(
            "exit 101",
            b"running 1 test\nthread 'main' (12345) panicked at src/x.rs:10:5:\nboom\n",
        );
        let b = signature_of(
            "exit 101",
            b"running 1 test\nthread 'main' (999) panicked at src/x.rs:10:5:\nboom\n",
        );
        assert_eq!(a, b);
        assert_eq!(
            a.text,
            "exit 101: thread 'main' (N) panicked at src/x.rs:10:5:"
        );
        let elsewhere = signature_of(
            "exit 101",
            b"thread 'main' (1) panicked at src/x.rs:20:5:\n",
        );
        assert_ne!(a.id, elsewhere.id);
    }

    #[test]
    fn go_fail_lines_with_different_durations_cluster() {
        let a = signature_of("exit 1", b"--- FAIL: TestCtrlHandler (6.32s)\n");
        let b = signature_of("exit 1", b"--- FAIL: TestCtrlHandler (6.17s)\n");
        assert_eq!(a, b);
        assert_eq!(a.text, "exit 1: --- FAIL: TestCtrlHandler (<dur>)");
        assert_ne!(
            a.id,
            signature_of("exit 1", b"--- FAIL: TestOther (6.32s)\n").id
        );
    }

    #[test]
    fn ansi_and_invalid_utf8_inside_line() {
        let a = signature_of(
            "exit 1",
            b"\x1b[31mFAIL\x1b[0m: widget \xff broke after 3ms\n",
        );
        let b = signature_of("exit 1", b"FAIL: widget \xff broke after 9ms\n");
        assert_eq!(a, b);
        // Shown as example lines show invalid bytes; the id is still that of the lossy text
        // earlier versions stored, so it matches theirs.
        assert_eq!(a.text, "exit 1: FAIL: widget \\xff broke after <dur>");
        let lossy = "exit 1: FAIL: widget \u{fffd} broke after <dur>";
        assert_eq!(a.id, format!("{:016x}", xxh3_64(lossy.as_bytes()))[..12]);
    }

    #[test]
    fn invalid_bytes_are_shown_per_byte_and_normalised_alike() {
        // A truncated sequence is one U+FFFD in the hashed text, two escapes when shown.
        let sig = signature_of("exit 2", b"panic: bad \xe2\x82 at 0x1f00 after 12ms\n");
        assert_eq!(sig.text, "exit 2: panic: bad \\xe2\\x82 at 0x? after <dur>");
        let hashed = "exit 2: panic: bad \u{fffd} at 0x? after <dur>";
        assert_eq!(sig.id, format!("{:016x}", xxh3_64(hashed.as_bytes()))[..12]);
        // Numbers next to invalid bytes are replaced as next to U+FFFD.
        let a = signature_of("exit 1", b"FAIL: \xff42 items\n");
        assert_eq!(a.text, "exit 1: FAIL: \\xffN items");
        // Garbage fills the shown text no further than the cap, never splitting an escape.
        let mut garbage = b"panic: ".to_vec();
        garbage.extend([0xffu8; 400]);
        let long = signature_of("exit 1", &garbage);
        assert!(
            long.text.chars().count() <= MAX_NORMALISED_CHARS + 8,
            "{}",
            long.text
        );
        assert!(long.text.ends_with("\\xff…"), "{}", long.text);
        // Valid text that happens to hold the stand-in characters is shown as decoded lossily.
        let odd = signature_of(
            "exit 1",
            &["FAIL: \u{10ff41} ".as_bytes(), b"\xff"].concat(),
        );
        assert_eq!(odd.text, "exit 1: FAIL: \u{10ff41} \u{fffd}");
    }

    #[test]
    fn falls_back_to_tail_lines() {
        let tail: Vec<Vec<u8>> = vec![
            b"starting".to_vec(),
            b"step 1 of 3".to_vec(),
            b"\x1b[0m".to_vec(),
            b"waiting on worker 7".to_vec(),
            b"   ".to_vec(),
            Vec::new(),
        ];
        let sig = signature_for("timeout (SIGQUIT)", None, &tail);
        assert_eq!(
            sig.text,
            "timeout (SIGQUIT): step N of N | waiting on worker N"
        );
        // A telling line that normalises to nothing also falls back.
        let sig2 = signature_for("timeout (SIGQUIT)", Some(b"\x1b[0m"), &tail);
        assert_eq!(sig, sig2);
        // No output at all: just the label, verbatim.
        let bare = signature_for("signal SIGSEGV", None, &[]);
        assert_eq!(bare.text, "signal SIGSEGV");
        let matched = signature_for("output matched \"id=\\d+\"", None, &[]);
        assert_eq!(matched.text, "output matched \"id=\\d+\"");
        // Control characters in a label cannot reach the text.
        let sneaky = signature_for("exit 1\x1b[2J", None, &[]);
        assert_eq!(sneaky.text, "exit 1 [2J");
    }

    #[test]
    fn ids_are_stable_12_hex_digits() {
        let sig = signature_for("exit 1", Some(b"--- FAIL: TestCtrlHandler (6.32s)"), &[]);
        assert_eq!(sig.text, "exit 1: --- FAIL: TestCtrlHandler (<dur>)");
        assert_eq!(sig.id.len(), 12);
        assert!(sig
            .id
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')));
        // Pinned (cross-checked with python-xxhash: xxh3_64_hexdigest(text)[:12]); a change
        // here breaks every stored id.
        assert_eq!(sig.id, "288fa58b52a6");
        assert_eq!(signature_for("exit 1", None, &[]).id, "307592eb61cc");
    }

    #[test]
    fn signature_serde_round_trip() {
        let sig = signature_for("exit 1", Some(b"panic: boom"), &[]);
        let json = serde_json::to_string(&sig).expect("serialise");
        assert_eq!(
            json,
            format!("{{\"id\":\"{}\",\"text\":\"exit 1: panic: boom\"}}", sig.id)
        );
        let back: Signature = serde_json::from_str(&json).expect("deserialise");
        assert_eq!(back, sig);
    }
}
