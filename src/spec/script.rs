//! Interaction scripts: wait for a line, sleep, send a signal, write to stdin, expect output or
//! an exit within a time. Parsed and checked once per campaign (`--step` or a TOML file); the
//! runner's script driver plays them.

use std::path::Path;
use std::time::Duration;

use regex::bytes::Regex;
use serde::Serialize;
use thiserror::Error;

use crate::os::signal::{parse_signal, signal_name};

/// A script error, located by line (or `--step` number) and column.
#[derive(Debug, Clone, Error, PartialEq, Eq)]
#[error("{source_name} {line}, column {column}: {message}")]
pub struct ScriptError {
    /// `--step` or the script file's name followed by `line`.
    pub source_name: String,
    /// 1-based step number or file line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
    /// What is wrong.
    pub message: String,
}

/// Where a signal goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SignalTarget {
    /// The run's whole process group (default).
    Group,
    /// Only the run's main process.
    Main,
}

/// The exit a step expects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExpectedExit {
    /// Exit with this code.
    Code(i32),
    /// Death by this signal.
    Signal(i32),
}

/// One step of a script.
#[derive(Debug, Clone)]
pub enum Step {
    /// Wait until a line matches (a failure if `within` passes first).
    WaitOutput {
        /// Pattern.
        pattern: Regex,
        /// Time limit, if any (the run's timeout applies anyway).
        within: Option<Duration>,
    },
    /// Sleep a fixed time, or a time drawn uniformly from a range for each run.
    Sleep {
        /// Shortest.
        min: Duration,
        /// Longest.
        max: Duration,
    },
    /// Send a signal.
    Signal {
        /// Signal number.
        signal: i32,
        /// Group or main process.
        target: SignalTarget,
    },
    /// Write bytes to the run's stdin.
    Write {
        /// Bytes.
        text: Vec<u8>,
    },
    /// Close the run's stdin.
    CloseStdin,
    /// A line matching must appear within the time.
    ExpectOutput {
        /// Pattern.
        pattern: Regex,
        /// Time limit.
        within: Duration,
    },
    /// The run must exit this way within the time.
    ExpectExit {
        /// Expected exit.
        expected: ExpectedExit,
        /// Time limit.
        within: Duration,
    },
}

impl Step {
    /// Short description used in failure signatures and event logs.
    pub fn describe(&self) -> String {
        let dur = |d: &Duration| crate::report::compact_duration(*d);
        match self {
            Step::WaitOutput { pattern, within } => match within {
                Some(within) => format!(
                    "wait-output \"{}\" within {}",
                    pattern.as_str(),
                    dur(within)
                ),
                None => format!("wait-output \"{}\"", pattern.as_str()),
            },
            Step::Sleep { min, max } if min == max => format!("sleep {}", dur(min)),
            Step::Sleep { min, max } => format!("sleep {}..{}", dur(min), dur(max)),
            Step::Signal { signal, target } => match target {
                SignalTarget::Group => format!("signal {}", signal_name(*signal)),
                SignalTarget::Main => format!("signal {} to main", signal_name(*signal)),
            },
            Step::Write { text } => format!("write {}", crate::text::escape_line(text, 40)),
            Step::CloseStdin => "close-stdin".into(),
            Step::ExpectOutput { pattern, within } => {
                format!(
                    "expect-output \"{}\" within {}",
                    pattern.as_str(),
                    dur(within)
                )
            }
            Step::ExpectExit { expected, within } => {
                let what = match expected {
                    ExpectedExit::Code(code) => code.to_string(),
                    ExpectedExit::Signal(signal) => signal_name(*signal),
                };
                format!("expect-exit {what} within {}", dur(within))
            }
        }
    }
}

/// A parsed script.
#[derive(Debug, Clone, Default)]
pub struct Script {
    /// Steps in order.
    pub steps: Vec<Step>,
}

impl Script {
    /// True if any step talks to stdin (the run then gets a pipe instead of /dev/null).
    pub fn uses_stdin(&self) -> bool {
        self.steps
            .iter()
            .any(|step| matches!(step, Step::Write { .. } | Step::CloseStdin))
    }

    /// Parse `--step` arguments, each one step.
    pub fn from_steps(steps: &[String]) -> Result<Script, ScriptError> {
        let mut script = Script::default();
        for (number, text) in steps.iter().enumerate() {
            script
                .steps
                .push(parse_step(text).map_err(|(column, message)| ScriptError {
                    source_name: "--step".into(),
                    line: number + 1,
                    column,
                    message,
                })?);
        }
        Ok(script)
    }

    /// Parse a TOML script file: `steps = ["wait-output ready within 5s", "signal SIGINT", ...]`.
    pub fn from_toml(path: &Path, text: &str) -> Result<Script, ScriptError> {
        #[derive(serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        struct File {
            steps: Vec<toml::Spanned<String>>,
        }
        let name = path.display().to_string();
        let located = |offset: usize, message: String| {
            let before = &text[..offset.min(text.len())];
            let line = before.matches('\n').count() + 1;
            let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
            ScriptError {
                source_name: format!("{name} line"),
                line,
                column,
                message,
            }
        };
        let file: File = toml::from_str(text).map_err(|error| {
            let offset = error.span().map_or(0, |span| span.start);
            located(offset, error.message().to_string())
        })?;
        let mut script = Script::default();
        for step in &file.steps {
            // +1 skips the opening quote of the TOML string.
            let start = step.span().start + 1;
            let parsed = parse_step(step.get_ref())
                .map_err(|(column, message)| located(start + column - 1, message))?;
            script.steps.push(parsed);
        }
        if script.steps.is_empty() {
            return Err(located(0, "the script has no steps".into()));
        }
        Ok(script)
    }
}

/// A token and the 1-based column where it starts.
type Token = (usize, String);

fn tokenize(text: &str) -> Result<Vec<Token>, (usize, String)> {
    let mut tokens = Vec::new();
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        if chars[i].is_whitespace() {
            i += 1;
            continue;
        }
        let start = i + 1;
        let mut token = String::new();
        while i < chars.len() && !chars[i].is_whitespace() {
            match chars[i] {
                quote @ ('"' | '\'') => {
                    let open = i + 1;
                    i += 1;
                    loop {
                        let Some(&c) = chars.get(i) else {
                            return Err((open, format!("unclosed {quote}")));
                        };
                        i += 1;
                        if c == quote {
                            break;
                        }
                        if c == '\\' && quote == '"' {
                            let escaped = chars
                                .get(i)
                                .copied()
                                .ok_or((i, "dangling \\".to_string()))?;
                            i += 1;
                            token.push(match escaped {
                                'n' => '\n',
                                't' => '\t',
                                'r' => '\r',
                                '0' => '\0',
                                other => other,
                            });
                        } else {
                            token.push(c);
                        }
                    }
                }
                c => {
                    token.push(c);
                    i += 1;
                }
            }
        }
        tokens.push((start, token));
    }
    Ok(tokens)
}

/// Longest sleep or time limit of a step: a run waiting longer is stalled, not tested.
const MAX_STEP_TIME: Duration = Duration::from_secs(24 * 3600);

fn duration_at((column, text): &Token) -> Result<Duration, (usize, String)> {
    let duration = humantime::parse_duration(text).map_err(|error| {
        (
            *column,
            format!("'{text}' is not a duration ({error}); write e.g. 500us, 5ms, 2s"),
        )
    })?;
    if duration > MAX_STEP_TIME {
        return Err((
            *column,
            format!("'{text}' is longer than a step may take (1 day)"),
        ));
    }
    Ok(duration)
}

/// Signals whose default action stops, continues or ignores a process: nothing can die of them.
const NOT_DEADLY: [i32; 8] = [
    libc::SIGSTOP,
    libc::SIGTSTP,
    libc::SIGTTIN,
    libc::SIGTTOU,
    libc::SIGCONT,
    libc::SIGCHLD,
    libc::SIGURG,
    libc::SIGWINCH,
];

/// The exit `expect-exit` names: a code from 0 to 255 or a signal a process can die of.
fn expected_exit_at(token: &Token) -> Result<ExpectedExit, (usize, String)> {
    let (column, text) = token;
    let digits = text.strip_prefix('-').unwrap_or(text);
    if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        return match text.parse::<u8>() {
            Ok(code) => Ok(ExpectedExit::Code(i32::from(code))),
            Err(_) => Err((
                *column,
                format!("exit code {text} is impossible: exit codes are 0 to 255 (or give a signal, e.g. SIGTERM)"),
            )),
        };
    }
    let signal = signal_at(token)?;
    if NOT_DEADLY.contains(&signal) {
        return Err((
            *column,
            format!(
                "no process dies of {}: it stops, continues or is ignored by default",
                signal_name(signal)
            ),
        ));
    }
    Ok(ExpectedExit::Signal(signal))
}

fn regex_at((column, text): &Token) -> Result<Regex, (usize, String)> {
    Regex::new(text).map_err(|error| {
        (
            *column,
            format!(
                "invalid regex '{text}': {}",
                crate::text::regex_reason(&error)
            ),
        )
    })
}

fn signal_at((column, text): &Token) -> Result<i32, (usize, String)> {
    parse_signal(text).ok_or((
        *column,
        format!("'{text}' is not a signal; use e.g. SIGINT, TERM, 9"),
    ))
}

/// `within DUR` at `tokens[at..]`; returns the duration if present.
fn within_at(
    tokens: &[Token],
    at: usize,
    required: bool,
    end_column: usize,
) -> Result<Option<Duration>, (usize, String)> {
    match tokens.get(at) {
        None if required => Err((end_column, "missing 'within DUR'".into())),
        None => Ok(None),
        Some((column, word)) if word == "within" => {
            let value = tokens
                .get(at + 1)
                .ok_or((*column, "'within' needs a duration".to_string()))?;
            if let Some(extra) = tokens.get(at + 2) {
                return Err((extra.0, format!("unexpected '{}'", extra.1)));
            }
            Ok(Some(duration_at(value)?))
        }
        Some((column, word)) => Err((*column, format!("expected 'within DUR', found '{word}'"))),
    }
}

/// Parse one step; errors carry the 1-based column.
fn parse_step(text: &str) -> Result<Step, (usize, String)> {
    let tokens = tokenize(text)?;
    let end = text.chars().count() + 1;
    let Some((column, name)) = tokens.first() else {
        return Err((1, "empty step".into()));
    };
    let argument = |index: usize, what: &str| -> Result<&Token, (usize, String)> {
        tokens
            .get(index)
            .ok_or((end, format!("'{name}' needs {what}")))
    };
    let no_more = |from: usize| -> Result<(), (usize, String)> {
        match tokens.get(from) {
            Some((column, extra)) => Err((*column, format!("unexpected '{extra}'"))),
            None => Ok(()),
        }
    };
    let step = match name.as_str() {
        "wait-output" => Step::WaitOutput {
            pattern: regex_at(argument(1, "a regex")?)?,
            within: within_at(&tokens, 2, false, end)?,
        },
        "expect-output" => Step::ExpectOutput {
            pattern: regex_at(argument(1, "a regex")?)?,
            within: within_at(&tokens, 2, true, end)?.unwrap_or_default(),
        },
        "sleep" => {
            let token = argument(1, "a duration or a range like 0..5ms")?;
            no_more(2)?;
            let (min, max) = match token.1.split_once("..") {
                Some((low, high)) => {
                    let high_token = (token.0 + low.len() + 2, high.to_string());
                    let max = duration_at(&high_token)?;
                    // `0..5ms`: a bare number on the left takes the unit of the right.
                    let low_text = if low.chars().all(|c| c.is_ascii_digit() || c == '.') {
                        let unit: String = high.chars().skip_while(|c| c.is_ascii_digit() || *c == '.').collect();
                        format!("{low}{unit}")
                    } else {
                        low.to_string()
                    };
                    let min = duration_at(&(token.0, low_text))?;
                    if min > max {
                        return Err((token.0, format!("range '{}' runs backwards", token.1)));
                    }
                    (min, max)
                }
                None => {
                    let value = duration_at(token)?;
                    (value, value)
                }
            };
            Step::Sleep { min, max }
        }
        "signal" => {
            let signal = signal_at(argument(1, "a signal name")?)?;
            let target = match tokens.get(2) {
                None => SignalTarget::Group,
                Some((column, word)) if word == "to" => {
                    let (target_column, target) = tokens
                        .get(3)
                        .ok_or((*column, "'to' needs 'group' or 'main'".to_string()))?;
                    no_more(4)?;
                    match target.as_str() {
                        "group" => SignalTarget::Group,
                        "main" => SignalTarget::Main,
                        other => return Err((*target_column, format!("'{other}' is not 'group' or 'main'"))),
                    }
                }
                Some((column, word)) => return Err((*column, format!("expected 'to group|main', found '{word}'"))),
            };
            Step::Signal { signal, target }
        }
        "write" => {
            let (_, text) = argument(1, "the text to write")?;
            no_more(2)?;
            Step::Write {
                text: text.clone().into_bytes(),
            }
        }
        "close-stdin" => {
            no_more(1)?;
            Step::CloseStdin
        }
        "expect-exit" => {
            let expected = expected_exit_at(argument(1, "an exit code or a signal name")?)?;
            Step::ExpectExit {
                expected,
                within: within_at(&tokens, 2, true, end)?.unwrap_or_default(),
            }
        }
        other => {
            return Err((
                *column,
                format!(
                    "unknown step '{other}'; steps are wait-output, sleep, signal, write, close-stdin, expect-output, expect-exit"
                ),
            ))
        }
    };
    Ok(step)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn steps(list: &[&str]) -> Result<Script, ScriptError> {
        Script::from_steps(&list.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn parses_every_step() {
        let script = steps(&[
            "wait-output ready within 5s",
            "sleep 0..5ms",
            "signal SIGINT",
            "signal TERM to main",
            r#"write "hello\n""#,
            "close-stdin",
            r#"expect-output "got signal" within 2s"#,
            "expect-exit 0 within 1s",
            "expect-exit SIGINT within 1s",
        ])
        .expect("valid");
        assert_eq!(script.steps.len(), 9);
        assert!(script.uses_stdin());
        match &script.steps[1] {
            Step::Sleep { min, max } => {
                assert_eq!(*min, Duration::ZERO);
                assert_eq!(*max, Duration::from_millis(5));
            }
            other => panic!("{other:?}"),
        }
        match &script.steps[4] {
            Step::Write { text } => assert_eq!(text, b"hello\n"),
            other => panic!("{other:?}"),
        }
        assert_eq!(
            script.steps[6].describe(),
            "expect-output \"got signal\" within 2.00s"
        );
    }

    #[test]
    fn errors_name_step_and_column() {
        let error =
            steps(&["wait-output ready", "sleep 1ms", "signal SIGNOPE"]).expect_err("bad signal");
        assert_eq!((error.line, error.column), (3, 8));
        assert!(error.message.contains("not a signal"));
        let error = steps(&["shout hello"]).expect_err("unknown");
        assert_eq!((error.line, error.column), (1, 1));
        assert!(error.message.contains("unknown step 'shout'"));
        let error = steps(&["wait-output (unclosed"]).expect_err("regex");
        assert_eq!(error.column, 13);
        let error = steps(&["sleep 5ms..1ms"]).expect_err("range");
        assert!(error.message.contains("backwards"));
        let error = steps(&["sleep 1..zz"]).expect_err("range");
        assert!(error.message.contains("not a duration"));
        let error = steps(&["expect-output x"]).expect_err("within");
        assert!(error.message.contains("within"));
        let error = steps(&["expect-exit 0 within 1s extra"]).expect_err("extra");
        assert_eq!(error.column, 25);
        assert_eq!(error.to_string(), "--step 1, column 25: unexpected 'extra'");
    }

    #[test]
    fn impossible_exits_and_endless_waits_are_refused() {
        for (step, expect, column) in [
            ("expect-exit 999 within 1s", "exit codes are 0 to 255", 13),
            ("expect-exit -1 within 1s", "exit codes are 0 to 255", 13),
            (
                "expect-exit 99999999999999999999 within 1s",
                "exit codes are 0 to 255",
                13,
            ),
            (
                "expect-exit SIGSTOP within 1s",
                "no process dies of SIGSTOP",
                13,
            ),
            (
                "expect-exit chld within 1s",
                "no process dies of SIGCHLD",
                13,
            ),
            ("sleep 500000000years", "longer than a step may take", 7),
            ("sleep 0..2days", "longer than a step may take", 10),
            (
                "wait-output x within 25h",
                "longer than a step may take",
                22,
            ),
            (
                "expect-exit 0 within 9999999999999999years",
                "not a duration",
                22,
            ),
        ] {
            let error = steps(&[step]).expect_err(step);
            assert!(error.message.contains(expect), "{step}: {error}");
            assert_eq!(error.column, column, "{step}: {error}");
        }
        let script =
            steps(&["expect-exit 255 within 1d", "expect-exit KILL within 1s"]).expect("valid");
        assert!(matches!(
            script.steps[0],
            Step::ExpectExit {
                expected: ExpectedExit::Code(255),
                ..
            }
        ));
    }

    #[test]
    fn toml_errors_point_into_the_file() {
        let text = "# protocol\nsteps = [\n  \"wait-output ready\",\n  \"signal SIGBOGUS\",\n]\n";
        let error = Script::from_toml(Path::new("proto.toml"), text).expect_err("bad");
        assert_eq!((error.line, error.column), (4, 11));
        assert!(error
            .to_string()
            .starts_with("proto.toml line 4, column 11:"));
        let error =
            Script::from_toml(Path::new("p.toml"), "steps = [\"sleep 1ms\"\n").expect_err("syntax");
        assert!(error.line >= 1);
        let error = Script::from_toml(Path::new("p.toml"), "stepz = []\n").expect_err("field");
        assert!(
            error.message.contains("stepz") || error.message.contains("steps"),
            "{error}"
        );
        let ok = Script::from_toml(
            Path::new("p.toml"),
            "steps = [\"sleep 1ms\", 'signal INT']\n",
        )
        .expect("ok");
        assert_eq!(ok.steps.len(), 2);
    }
}
