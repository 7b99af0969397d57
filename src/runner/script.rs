//! The script driver: plays a campaign's interaction script against one run (wait for a line,
//! sleep, signal, write, expect) and records when each event really happened.

use std::collections::VecDeque;

use regex::bytes::Regex;
use std::time::{Duration, Instant};

use crate::os::signal::signal_name;
use crate::record::ScriptEvent;
use crate::spec::script::{ExpectedExit, Script, SignalTarget, Step};

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

    fn steps(list: &[&str]) -> Result<Script, crate::spec::script::ScriptError> {
        Script::from_steps(&list.iter().map(|s| s.to_string()).collect::<Vec<_>>())
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
