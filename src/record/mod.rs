//! Run records: what happened in one run, and what later stages learned about it. The one
//! currency every later stage (sinks, store, analysis, reports) consumes; depends on nothing
//! above the OS layer.

pub mod provenance;
pub mod sighting;
pub mod stacks;
pub mod test_result;

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

/// How the process of a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Termination {
    /// The process exited by itself with this code.
    Exited {
        /// Exit code.
        code: i32,
    },
    /// The process was killed by a signal it did not send itself on our behalf.
    Signaled {
        /// Signal number.
        signal: i32,
        /// Whether the kernel wrote a core dump.
        core_dumped: bool,
    },
    /// The run exceeded its time limit and was signalled by flakehunt.
    TimedOut {
        /// The first signal sent to the process group.
        signal_sent: i32,
        /// Whether it survived the grace period and had to be SIGKILLed.
        killed_after_grace: bool,
    },
    /// The run exceeded its time limit and was left running for a debugger.
    TimedOutKept {
        /// Pid of the process left running.
        pid: u32,
    },
}

impl Termination {
    /// Short human label, also the first part of a failure signature (`exit 1`, `signal SIGSEGV`).
    pub fn label(&self) -> String {
        match *self {
            Termination::Exited { code } => format!("exit {code}"),
            Termination::Signaled { signal, .. } => format!("signal {}", signal_name(signal)),
            Termination::TimedOut { signal_sent, .. } => {
                format!("timeout ({})", signal_name(signal_sent))
            }
            Termination::TimedOutKept { .. } => "timeout (kept running)".to_string(),
        }
    }

    /// The exit code, for a process that exited by itself.
    pub fn exit_code(&self) -> Option<i32> {
        match *self {
            Termination::Exited { code } => Some(code),
            _ => None,
        }
    }

    /// The signal that ended the process (or was sent at its time limit), by name.
    pub fn signal_name(&self) -> Option<String> {
        match *self {
            Termination::Signaled { signal, .. } => Some(signal_name(signal)),
            Termination::TimedOut { signal_sent, .. } => Some(signal_name(signal_sent)),
            _ => None,
        }
    }

    /// True if the run hit its time limit.
    pub fn timed_out(&self) -> bool {
        matches!(
            self,
            Termination::TimedOut { .. } | Termination::TimedOutKept { .. }
        )
    }

    /// True for a clean exit with status 0.
    pub fn is_success(&self) -> bool {
        matches!(self, Termination::Exited { code: 0 })
    }
}

/// Why a run counts as failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FailureKind {
    /// Non-zero exit code.
    Exit,
    /// Killed by a signal.
    Signal,
    /// Exceeded the time limit.
    Timeout,
    /// Exited 0 but its output matched `--fail-if`.
    OutputMatch,
    /// A step of the interaction script failed.
    Script,
}

impl FailureKind {
    /// Every kind, in display order.
    pub const ALL: [FailureKind; 5] = [
        FailureKind::Exit,
        FailureKind::Signal,
        FailureKind::Timeout,
        FailureKind::OutputMatch,
        FailureKind::Script,
    ];

    /// Parse a name written by [`FailureKind::as_str`].
    pub fn parse(name: &str) -> Option<FailureKind> {
        FailureKind::ALL
            .into_iter()
            .find(|kind| kind.as_str() == name)
    }

    /// Stable name used in JSON and tables.
    pub fn as_str(self) -> &'static str {
        match self {
            FailureKind::Exit => "exit",
            FailureKind::Signal => "signal",
            FailureKind::Timeout => "timeout",
            FailureKind::OutputMatch => "output-match",
            FailureKind::Script => "script",
        }
    }
}

/// The verdict on one run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "verdict", content = "kind", rename_all = "kebab-case")]
pub enum Verdict {
    /// The run passed.
    Pass,
    /// The run failed.
    Fail(FailureKind),
    /// The run failed but its output matched `--ignore`.
    Ignored(FailureKind),
}

impl Verdict {
    /// Stable names of the verdict and its failure kind, as stored and logged.
    pub fn names(&self) -> (&'static str, Option<&'static str>) {
        match *self {
            Verdict::Pass => ("pass", None),
            Verdict::Fail(kind) => ("fail", Some(kind.as_str())),
            Verdict::Ignored(kind) => ("ignored", Some(kind.as_str())),
        }
    }

    /// True for [`Verdict::Fail`].
    pub fn is_failure(&self) -> bool {
        matches!(self, Verdict::Fail(_))
    }
}

/// Output facts gathered while capturing, so analysis never rereads large logs.
#[derive(Debug, Clone, Default)]
pub struct OutputDigest {
    /// Total bytes the run wrote (both streams).
    pub total_bytes: u64,
    /// The first line that looks like it explains a failure (capped in length).
    pub telling_line: Option<Vec<u8>>,
    /// The last few non-empty lines (capped in length).
    pub tail_lines: Vec<Vec<u8>>,
    /// The first line matching `--fail-if`, if any.
    pub fail_if_match: Option<Vec<u8>>,
    /// Whether any line matched `--ignore`.
    pub ignore_matched: bool,
    /// The last bytes of the output (both streams, arrival order), for on-screen excerpts.
    pub tail_bytes: Vec<u8>,
}

/// Where a run's output lives once captured.
#[derive(Debug)]
pub enum OutputStore {
    /// All output fits in memory.
    Memory {
        /// Combined output in arrival order.
        bytes: Vec<u8>,
        /// Stream segments: (length, stream) in order.
        segments: Vec<(u64, crate::record::Stream)>,
    },
    /// Output spilled to files in the campaign's spill directory.
    Spilled {
        /// Combined output in arrival order.
        log: PathBuf,
        /// Stream map file (`offset length stream` per line).
        streams: PathBuf,
    },
}

/// Which output stream a chunk came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Stream {
    /// Standard output.
    Stdout,
    /// Standard error.
    Stderr,
}

impl Stream {
    /// Name used in stream maps.
    pub fn as_str(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        }
    }
}

/// Files a run's output was saved to.
#[derive(Debug, Clone, Serialize)]
pub struct SavedOutput {
    /// Raw combined output.
    pub log: PathBuf,
    /// Stream map of the log.
    pub streams: PathBuf,
    /// Metadata JSON.
    pub meta: PathBuf,
    /// Stacks of the hung or crashed run, when taken.
    pub stacks: Option<PathBuf>,
}

/// Everything known about one finished run.
#[derive(Debug)]
pub struct RunRecord {
    /// 0-based run index (the `FLAKEHUNT_RUN` the run saw).
    pub index: u64,
    /// Pid of the run's main process (also its process group id).
    pub pid: u32,
    /// Wall-clock start.
    pub started_at: SystemTime,
    /// Time from spawn to exit (or to the timeout decision for kept runs).
    pub duration: Duration,
    /// How the process ended.
    pub termination: Termination,
    /// Pass, fail or ignored.
    pub verdict: Verdict,
    /// Output facts.
    pub digest: OutputDigest,
    /// Captured output, until archived or discarded.
    pub output: Option<OutputStore>,
    /// Processes outside the run's process group held its output pipes open after it ended.
    pub leaked_pipes: bool,
    /// Script events with their measured times.
    pub script_events: Vec<ScriptEvent>,
    /// Why the script failed the run (`step 3 expect-output ...: process died by SIGINT`).
    pub script_failure: Option<String>,
    /// The run's seed (`FLAKEHUNT_SEED`) when it was shaken: replay it with `--seed`.
    pub seed: Option<u64>,
    /// Where its threads were when it hung, or its backtrace when it crashed.
    pub stacks: Option<stacks::Stacks>,
    /// The campaign part it belonged to (a hunt's arm, a window's phase); 0 in one-part
    /// campaigns.
    pub part: usize,
    /// Time it spent frozen by `--shake freeze` (part of `duration`).
    pub paused: Duration,
}

/// A run once the campaign has classified and archived it: the record, its failure signature
/// (failed and ignored runs) and where its output was saved (if it was).
#[derive(Debug)]
pub struct FinishedRun {
    /// What the runner observed.
    pub record: RunRecord,
    /// Failure signature, for failed and ignored runs.
    pub signature: Option<Signature>,
    /// Where its output was saved, if it was.
    pub saved: Option<SavedOutput>,
    /// What each test did in it, when the campaign knows its tests (a suite or a test target).
    pub tests: Vec<test_result::TestOutcome>,
}

/// A failure's identity: what went wrong and how it explained itself, minus run-specific
/// noise. Failures with equal signatures are counted as one cluster. Computed by
/// [`analysis::signature`](crate::analysis::signature).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Signature {
    /// First 12 lowercase hex digits of the XXH3-64 hash of `text`, as it reads with invalid
    /// UTF-8 decoded to U+FFFD (where `text` shows `\xNN`, as example lines do).
    ///
    /// Ids are stored in campaign records and compared across versions and machines, so the
    /// hash (XXH3-64, seed 0, over the UTF-8 bytes of that text), its formatting and the
    /// normalisation feeding it must stay stable.
    pub id: String,
    /// `"{outcome_label}: {normalised line(s)}"`, or just the outcome label when the run left
    /// no usable output.
    pub text: String,
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

impl RunRecord {
    /// The label used in signatures: the termination, or the output match that failed it.
    pub fn outcome_label(&self) -> String {
        if let Some(reason) = &self.script_failure {
            return reason.clone();
        }
        match (&self.verdict, &self.digest.fail_if_match) {
            (Verdict::Fail(FailureKind::OutputMatch), Some(_)) => "output matched --fail-if".into(),
            _ => self.termination.label(),
        }
    }
}

use crate::os::signal::signal_name;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels() {
        assert_eq!(Termination::Exited { code: 3 }.label(), "exit 3");
        let timed_out = Termination::TimedOut {
            signal_sent: libc::SIGQUIT,
            killed_after_grace: true,
        };
        assert_eq!(timed_out.label(), "timeout (SIGQUIT)");
    }
}
