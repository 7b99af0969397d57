//! Scripted interaction with each run: wait for a line, sleep, send a signal, write to stdin,
//! expect output or an exit within a time. Parsed once per campaign (`--step` or a TOML file);
//! the runner drives one [`ScriptRun`] per run and records when each event really happened.

use std::collections::VecDeque;
use std::path::Path;
use std::time::{Duration, Instant};

use regex::bytes::Regex;
use serde::Serialize;
use thiserror::Error;

use crate::record::{parse_signal, signal_name};

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

fn duration_at((column, text): &Token) -> Result<Duration, (usize, String)> {
    humantime::parse_duration(text).map_err(|error| {
        (
            *column,
            format!("'{text}' is not a duration ({error}); write e.g. 500us, 5ms, 2s"),
        )
    })
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
            let token = argument(1, "an exit code or a signal name")?;
            let expected = match token.1.parse::<i32>() {
                Ok(code) => ExpectedExit::Code(code),
                Err(_) => ExpectedExit::Signal(signal_at(token)?),
            };
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

/// When something happened during a run's script, measured (not requested).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ScriptEvent {
    /// 0-based step index.
    pub step: usize,
    /// What happened (`matched "ready"`, `sent SIGINT`, `slept`).
    pub what: String,
    /// Seconds since the run was spawned.
    pub at_s: f64,
    /// Seconds since the previous event (or spawn).
    pub since_previous_s: f64,
}

/// How the process ended, as the script sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitSeen {
    /// Exited with a code.
    Code(i32),
    /// Killed by a signal.
    Signal(i32),
}

impl ExitSeen {
    fn describe(self) -> String {
        match self {
            ExitSeen::Code(code) => format!("process exited with code {code}"),
            ExitSeen::Signal(signal) => format!("process died by {}", signal_name(signal)),
        }
    }
}

/// What the script needs from the runner.
pub trait ScriptIo {
    /// Send a signal to the run.
    fn signal(&mut self, signal: i32, target: SignalTarget);
    /// Write to the run's stdin.
    fn write_stdin(&mut self, bytes: &[u8]) -> std::io::Result<()>;
    /// Close the run's stdin.
    fn close_stdin(&mut self);
}

/// Recent complete output lines with their arrival times, for wait/expect steps. Lines are
/// consumed up to each match, as in `expect`.
#[derive(Debug, Default)]
pub struct LineLog {
    lines: VecDeque<(Instant, Vec<u8>)>,
    /// Absolute number of `lines[0]`.
    first: u64,
}

/// Lines kept for steps that have not started yet.
const LINE_LOG_CAPACITY: usize = 4096;

impl LineLog {
    /// Remember a line.
    pub fn push(&mut self, at: Instant, line: &[u8]) {
        if self.lines.len() == LINE_LOG_CAPACITY {
            self.lines.pop_front();
            self.first += 1;
        }
        self.lines.push_back((at, line.to_vec()));
    }

    /// Consume lines up to and including the first match at or after absolute line `from`;
    /// the match's arrival time, or the absolute line number to resume from next time.
    fn take_match(&mut self, pattern: &Regex, from: u64) -> Result<Instant, u64> {
        let skip = from.saturating_sub(self.first) as usize;
        let position = self
            .lines
            .iter()
            .skip(skip)
            .position(|(_, line)| pattern.is_match(line))
            .map(|offset| offset + skip);
        match position {
            Some(position) => {
                let at = self.lines[position].0;
                self.lines.drain(..=position);
                self.first += position as u64 + 1;
                Ok(at)
            }
            None => Err(self.first + self.lines.len() as u64),
        }
    }
}

/// What the runner should do after advancing a script.
#[derive(Debug, Clone, PartialEq)]
pub enum ScriptState {
    /// Waiting; call again at this time at the latest, or when output or the exit arrives.
    Waiting(Option<Instant>),
    /// All steps done; the run continues to its natural end.
    Done,
    /// A step failed: the run fails with this reason (the runner kills it).
    Failed(String),
}

/// One run's progress through the script.
#[derive(Debug)]
pub struct ScriptRun {
    step: usize,
    step_started: Option<Instant>,
    sleep_until: Option<Instant>,
    /// Lines before this absolute number are known not to match the current step.
    checked: u64,
    /// A fixed delay for one sleep step (a sweep), overriding its range.
    fixed_sleep: Option<(usize, Duration)>,
    seed: u64,
    spawned: Instant,
    last_event: Instant,
    /// Events so far.
    pub events: Vec<ScriptEvent>,
    failed: Option<String>,
}

impl ScriptRun {
    /// Start the script of a run spawned at `spawned`; `seed` draws its sleep ranges.
    pub fn new(spawned: Instant, seed: u64) -> ScriptRun {
        ScriptRun {
            step: 0,
            step_started: None,
            sleep_until: None,
            checked: 0,
            fixed_sleep: None,
            seed,
            spawned,
            last_event: spawned,
            events: Vec::new(),
            failed: None,
        }
    }

    /// Sleep exactly `delay` at step `step` (a delay sweep).
    pub fn with_fixed_sleep(mut self, step: usize, delay: Duration) -> ScriptRun {
        self.fixed_sleep = Some((step, delay));
        self
    }

    /// The failure reason, if a step failed.
    pub fn failure(&self) -> Option<&str> {
        self.failed.as_deref()
    }

    /// True once every step has run.
    pub fn finished(&self, script: &Script) -> bool {
        self.step >= script.steps.len()
    }

    fn record(&mut self, what: String, at: Instant) {
        self.events.push(ScriptEvent {
            step: self.step,
            what,
            at_s: at.saturating_duration_since(self.spawned).as_secs_f64(),
            since_previous_s: at.saturating_duration_since(self.last_event).as_secs_f64(),
        });
        self.last_event = at;
    }

    fn fail(&mut self, script: &Script, reason: String) -> ScriptState {
        let message = format!(
            "step {} {}: {reason}",
            self.step + 1,
            script.steps[self.step].describe()
        );
        self.failed = Some(message.clone());
        ScriptState::Failed(message)
    }

    fn next(&mut self) {
        self.step += 1;
        self.step_started = None;
        self.sleep_until = None;
        self.checked = 0;
    }

    /// The process ended while the script still had steps to run: that step fails.
    pub fn abandon(&mut self, script: &Script, exit: ExitSeen) -> Option<String> {
        if self.failed.is_some() || self.finished(script) {
            return self.failed.clone();
        }
        match self.fail(
            script,
            format!("{} before the step finished", exit.describe()),
        ) {
            ScriptState::Failed(reason) => Some(reason),
            _ => None,
        }
    }

    /// A uniform draw in [min, max] that depends only on the seed and the step.
    fn draw(&self, min: Duration, max: Duration) -> Duration {
        if max <= min {
            return min;
        }
        let key = [self.seed.to_le_bytes(), (self.step as u64).to_le_bytes()].concat();
        let unit = (xxhash_rust::xxh3::xxh3_64(&key) >> 11) as f64 / (1u64 << 53) as f64;
        min + (max - min).mul_f64(unit)
    }

    /// A wait/expect step: consume a matching line (`None`: go on to the next step), or say
    /// why the run fails or until when to wait.
    #[allow(clippy::too_many_arguments)]
    fn await_line(
        &mut self,
        script: &Script,
        lines: &mut LineLog,
        pattern: &Regex,
        within: Option<Duration>,
        started: Instant,
        now: Instant,
        exit: Option<ExitSeen>,
        waiting: bool,
    ) -> Option<ScriptState> {
        match lines.take_match(pattern, self.checked) {
            Ok(at) => {
                self.record(format!("matched \"{}\"", pattern.as_str()), at.max(started));
                self.next();
                return None;
            }
            Err(checked) => self.checked = checked,
        }
        if let Some(exit) = exit {
            let reason = if waiting {
                format!("{} before a line matched", exit.describe())
            } else {
                exit.describe()
            };
            return Some(self.fail(script, reason));
        }
        Some(match within {
            Some(within) if now >= started + within => {
                self.fail(script, "no line matched in time".into())
            }
            Some(within) => ScriptState::Waiting(Some(started + within)),
            None => ScriptState::Waiting(None),
        })
    }

    /// Run as many steps as possible now. `exit` is set once the process has ended (and its
    /// output was drained).
    pub fn advance(
        &mut self,
        script: &Script,
        io: &mut dyn ScriptIo,
        lines: &mut LineLog,
        now: Instant,
        exit: Option<ExitSeen>,
    ) -> ScriptState {
        if let Some(reason) = &self.failed {
            return ScriptState::Failed(reason.clone());
        }
        while let Some(step) = script.steps.get(self.step) {
            let started = *self.step_started.get_or_insert(now);
            match step {
                Step::WaitOutput { pattern, within } => {
                    if let Some(state) =
                        self.await_line(script, lines, pattern, *within, started, now, exit, true)
                    {
                        return state;
                    }
                }
                Step::ExpectOutput { pattern, within } => {
                    if let Some(state) = self.await_line(
                        script,
                        lines,
                        pattern,
                        Some(*within),
                        started,
                        now,
                        exit,
                        false,
                    ) {
                        return state;
                    }
                }
                Step::Sleep { min, max } => {
                    let until = match self.sleep_until {
                        Some(until) => until,
                        None => {
                            let delay = match self.fixed_sleep {
                                Some((step, delay)) if step == self.step => delay,
                                _ => self.draw(*min, *max),
                            };
                            let until = started + delay;
                            self.sleep_until = Some(until);
                            until
                        }
                    };
                    if now < until {
                        return ScriptState::Waiting(Some(until));
                    }
                    self.record("slept".into(), now);
                    self.next();
                }
                Step::Signal { signal, target } => {
                    if let Some(exit) = exit {
                        return self.fail(script, format!("{} before the signal", exit.describe()));
                    }
                    io.signal(*signal, *target);
                    self.record(format!("sent {}", signal_name(*signal)), Instant::now());
                    self.next();
                }
                Step::Write { text } => {
                    if let Err(error) = io.write_stdin(text) {
                        return self.fail(script, format!("cannot write to stdin: {error}"));
                    }
                    self.record("wrote".into(), Instant::now());
                    self.next();
                }
                Step::CloseStdin => {
                    io.close_stdin();
                    self.record("closed stdin".into(), now);
                    self.next();
                }
                Step::ExpectExit { expected, within } => match exit {
                    Some(seen) => {
                        let ok = matches!(
                            (expected, seen),
                            (ExpectedExit::Code(a), ExitSeen::Code(b)) if *a == b
                        ) || matches!(
                            (expected, seen),
                            (ExpectedExit::Signal(a), ExitSeen::Signal(b)) if *a == b
                        );
                        if !ok {
                            return self.fail(script, seen.describe());
                        }
                        self.record("exited as expected".into(), now);
                        self.next();
                    }
                    None if now >= started + *within => {
                        return self.fail(script, "process still running".into());
                    }
                    None => return ScriptState::Waiting(Some(started + *within)),
                },
            }
        }
        ScriptState::Done
    }
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

    struct Recorder {
        signals: Vec<i32>,
        written: Vec<u8>,
        closed: bool,
    }

    impl ScriptIo for Recorder {
        fn signal(&mut self, signal: i32, _target: SignalTarget) {
            self.signals.push(signal);
        }
        fn write_stdin(&mut self, bytes: &[u8]) -> std::io::Result<()> {
            self.written.extend_from_slice(bytes);
            Ok(())
        }
        fn close_stdin(&mut self) {
            self.closed = true;
        }
    }

    #[test]
    fn runs_the_protocol_and_classifies_failures_by_step() {
        let script = steps(&[
            "wait-output ready within 5s",
            "signal INT",
            "expect-output \"got signal\" within 2s",
        ])
        .expect("valid");
        let t0 = Instant::now();
        let mut io = Recorder {
            signals: vec![],
            written: vec![],
            closed: false,
        };
        let mut lines = LineLog::default();
        let mut run = ScriptRun::new(t0, 1);
        assert_eq!(
            run.advance(&script, &mut io, &mut lines, t0, None),
            ScriptState::Waiting(Some(t0 + Duration::from_secs(5)))
        );
        lines.push(t0 + Duration::from_millis(3), b"booting");
        lines.push(t0 + Duration::from_millis(4), b"ready");
        let state = run.advance(
            &script,
            &mut io,
            &mut lines,
            t0 + Duration::from_millis(5),
            None,
        );
        assert!(matches!(state, ScriptState::Waiting(Some(_))));
        assert_eq!(io.signals, vec![libc::SIGINT]);
        assert_eq!(run.events[0].what, "matched \"ready\"");
        assert!((run.events[0].at_s - 0.004).abs() < 1e-9);
        // The process dies from the signal instead of reporting it.
        let state = run.advance(
            &script,
            &mut io,
            &mut lines,
            t0 + Duration::from_millis(6),
            Some(ExitSeen::Signal(libc::SIGINT)),
        );
        assert_eq!(
            state,
            ScriptState::Failed(
                "step 3 expect-output \"got signal\" within 2.00s: process died by SIGINT".into()
            )
        );

        let mut run = ScriptRun::new(t0, 1);
        lines.push(t0, b"ready");
        run.advance(&script, &mut io, &mut lines, t0, None);
        lines.push(t0, b"got signal");
        assert_eq!(
            run.advance(&script, &mut io, &mut lines, t0, None),
            ScriptState::Done
        );

        let mut run = ScriptRun::new(t0, 1);
        let state = run.advance(
            &script,
            &mut io,
            &mut lines,
            t0 + Duration::from_secs(6),
            None,
        );
        run.advance(
            &script,
            &mut io,
            &mut lines,
            t0 + Duration::from_secs(6),
            None,
        );
        assert!(matches!(state, ScriptState::Waiting(_)));
        let state = run.advance(
            &script,
            &mut io,
            &mut lines,
            t0 + Duration::from_secs(12),
            None,
        );
        assert_eq!(
            state,
            ScriptState::Failed(
                "step 1 wait-output \"ready\" within 5.00s: no line matched in time".into()
            )
        );
    }

    #[test]
    fn sleep_ranges_are_drawn_per_run_and_reproducible() {
        let script = steps(&["sleep 0..10ms"]).expect("valid");
        let t0 = Instant::now();
        let mut io = Recorder {
            signals: vec![],
            written: vec![],
            closed: false,
        };
        let mut wakes = Vec::new();
        let mut lines = LineLog::default();
        for seed in 0..50 {
            let mut run = ScriptRun::new(t0, seed);
            match run.advance(&script, &mut io, &mut lines, t0, None) {
                ScriptState::Waiting(Some(at)) => wakes.push(at - t0),
                other => panic!("{other:?}"),
            }
            let mut again = ScriptRun::new(t0, seed);
            assert_eq!(
                again.advance(&script, &mut io, &mut lines, t0, None),
                ScriptState::Waiting(Some(t0 + wakes[seed as usize]))
            );
        }
        assert!(wakes.iter().all(|d| *d <= Duration::from_millis(10)));
        let distinct: std::collections::BTreeSet<_> = wakes.iter().collect();
        assert!(distinct.len() > 40);
    }
}
