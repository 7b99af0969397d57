//! Campaign tallies: counts by verdict and failure kind, signature clusters, duration
//! distributions, and the failure rate with its interval. Fed one record at a time in constant
//! memory per signature, so a campaign of millions of runs stays small.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use crate::analysis::signature::Signature;
use crate::analysis::stats::{clopper_pearson, upper_bound, Interval};
use crate::record::{FailureKind, FinishedRun, Verdict};
use crate::text::escape_line;

/// Confidence used for every interval shown by `run`.
pub const CONFIDENCE: f64 = 0.95;

/// One cluster of failures sharing a signature.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SignatureSummary {
    /// Stable id (hash of `text`).
    pub id: String,
    /// Failures with this signature.
    pub count: u64,
    /// Failure kind of the first run with this signature.
    pub kind: FailureKind,
    /// Normalised signature text.
    pub text: String,
    /// True when these runs matched `--ignore` (not counted as failures).
    pub ignored: bool,
    /// First run index with this signature.
    pub first_run: u64,
    /// Saved log of the first run with this signature.
    pub example: Option<PathBuf>,
    /// The first run's telling line, escaped for display.
    pub example_line: Option<String>,
}

/// Distribution of run durations, in seconds.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, Default)]
pub struct DurationStats {
    /// Number of runs.
    pub count: u64,
    /// Shortest.
    pub min_s: f64,
    /// Median.
    pub median_s: f64,
    /// 99th percentile.
    pub p99_s: f64,
    /// Longest.
    pub max_s: f64,
}

/// Failures by kind.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, Default)]
pub struct KindCounts {
    /// Non-zero exit.
    pub exit: u64,
    /// Killed by a signal.
    pub signal: u64,
    /// Timed out.
    pub timeout: u64,
    /// Output matched `--fail-if`.
    #[serde(rename = "output-match")]
    pub output_match: u64,
    /// A script step failed.
    #[serde(default)]
    pub script: u64,
}

impl KindCounts {
    fn add(&mut self, kind: FailureKind) {
        match kind {
            FailureKind::Exit => self.exit += 1,
            FailureKind::Signal => self.signal += 1,
            FailureKind::Timeout => self.timeout += 1,
            FailureKind::OutputMatch => self.output_match += 1,
            FailureKind::Script => self.script += 1,
        }
    }

    /// Count for one kind.
    pub fn get(&self, kind: FailureKind) -> u64 {
        match kind {
            FailureKind::Exit => self.exit,
            FailureKind::Signal => self.signal,
            FailureKind::Timeout => self.timeout,
            FailureKind::OutputMatch => self.output_match,
            FailureKind::Script => self.script,
        }
    }
}

/// The result of a campaign, as printed at the end and stored (`--json` schema).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Summary {
    /// Campaign id.
    pub campaign: String,
    /// The command, as given.
    pub command: Vec<String>,
    /// Start time (RFC 3339).
    pub started_at: String,
    /// Wall time in seconds.
    pub elapsed_s: f64,
    /// Why the campaign stopped.
    pub stop_reason: String,
    /// True if it was stopped by Ctrl-C or a termination signal.
    pub interrupted: bool,
    /// Runs that finished (passes + failures + ignored).
    pub runs: u64,
    /// Passing runs.
    pub passes: u64,
    /// Failed runs.
    pub failures: u64,
    /// Failed runs that timed out.
    pub timeouts: u64,
    /// Failing runs whose output matched `--ignore`.
    pub ignored: u64,
    /// Runs killed unfinished when the campaign stopped (not counted anywhere else).
    pub cancelled: u64,
    /// Failures by kind.
    pub failures_by_kind: KindCounts,
    /// Failure rate with an exact two-sided Clopper-Pearson interval.
    pub rate: Interval,
    /// Confidence of `rate` and `rate_upper_bound`.
    pub confidence: f64,
    /// One-sided upper bound of the failure rate (the claim to make when nothing failed).
    pub rate_upper_bound: f64,
    /// Failure clusters, most frequent first; ignored clusters last.
    pub signatures: Vec<SignatureSummary>,
    /// Durations of passing runs.
    pub pass_durations: DurationStats,
    /// Durations of failing runs.
    pub fail_durations: DurationStats,
    /// Runs per second over the campaign.
    pub runs_per_second: f64,
    /// Where failures were saved.
    pub out_dir: PathBuf,
    /// Runs whose output pipes stayed open after their process group was gone.
    pub leaked_pipes: u64,
    /// Pids of timed-out runs left running (`--on-timeout keep`).
    pub kept_pids: Vec<u32>,
    /// The test target, when the campaign reran one test.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<crate::analysis::per_test::TargetSummary>,
    /// The flake table: per-test results, when the campaign read its runs test by test.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tests: Vec<crate::analysis::per_test::TestRow>,
}

/// Accumulates records into a [`Summary`].
#[derive(Debug)]
pub struct Tally {
    passes: u64,
    failures: u64,
    ignored: u64,
    by_kind: KindCounts,
    signatures: HashMap<String, SignatureSummary>,
    pass_durations: DurationTally,
    fail_durations: DurationTally,
    leaked_pipes: u64,
    kept_pids: Vec<u32>,
}

impl Default for Tally {
    fn default() -> Self {
        Tally::new()
    }
}

impl Tally {
    /// An empty tally.
    pub fn new() -> Tally {
        Tally {
            passes: 0,
            failures: 0,
            ignored: 0,
            by_kind: KindCounts::default(),
            signatures: HashMap::new(),
            pass_durations: DurationTally::new(),
            fail_durations: DurationTally::new(),
            leaked_pipes: 0,
            kept_pids: Vec::new(),
        }
    }

    /// Runs counted so far.
    pub fn runs(&self) -> u64 {
        self.passes + self.failures + self.ignored
    }

    /// Failures counted so far.
    pub fn failures(&self) -> u64 {
        self.failures
    }

    /// Count of a signature so far.
    pub fn signature_count(&self, id: &str) -> u64 {
        self.signatures.get(id).map_or(0, |s| s.count)
    }

    /// Add one finished run.
    pub fn add(&mut self, run: &FinishedRun) {
        let record = &run.record;
        let kept_pid = match record.termination {
            crate::record::Termination::TimedOutKept { pid } => Some(pid),
            _ => None,
        };
        self.observe(&Observation {
            index: record.index,
            duration: record.duration,
            verdict: record.verdict,
            signature: run.signature.as_ref(),
            example: run.saved.as_ref().map(|saved| saved.log.as_path()),
            example_line: record.digest.telling_line.as_deref().or(record
                .digest
                .tail_lines
                .last()
                .map(Vec::as_slice)),
            leaked_pipes: record.leaked_pipes,
            kept_pid,
        });
    }

    /// Add one run described by its parts (a live record, or a row of the history store).
    pub fn observe(&mut self, run: &Observation<'_>) {
        if run.leaked_pipes {
            self.leaked_pipes += 1;
        }
        if let Some(pid) = run.kept_pid {
            self.kept_pids.push(pid);
        }
        let (kind, ignored) = match run.verdict {
            Verdict::Pass => {
                self.passes += 1;
                self.pass_durations.record(run.duration);
                return;
            }
            Verdict::Fail(kind) => {
                self.failures += 1;
                self.by_kind.add(kind);
                self.fail_durations.record(run.duration);
                (kind, false)
            }
            Verdict::Ignored(kind) => {
                self.ignored += 1;
                (kind, true)
            }
        };
        let Some(signature) = run.signature else {
            return;
        };
        let entry = self
            .signatures
            .entry(signature.id.clone())
            .or_insert_with(|| SignatureSummary {
                id: signature.id.clone(),
                count: 0,
                kind,
                text: signature.text.clone(),
                ignored,
                first_run: run.index,
                example: run.example.map(Path::to_path_buf),
                example_line: run.example_line.map(|line| escape_line(line, 200)),
            });
        entry.count += 1;
        if run.index < entry.first_run {
            entry.first_run = run.index;
        }
    }

    /// Produce the summary.
    pub fn summary(&self, context: SummaryContext) -> Summary {
        let runs = self.runs();
        let mut signatures: Vec<SignatureSummary> = self.signatures.values().cloned().collect();
        signatures.sort_by(|a, b| {
            a.ignored
                .cmp(&b.ignored)
                .then(b.count.cmp(&a.count))
                .then(a.first_run.cmp(&b.first_run))
        });
        let mut kept_pids = self.kept_pids.clone();
        kept_pids.retain(|pid| context.still_kept.contains(pid));
        let seconds = context.elapsed.as_secs_f64();
        Summary {
            campaign: context.campaign,
            command: context.command,
            started_at: context.started_at,
            elapsed_s: seconds,
            stop_reason: context.stop_reason,
            interrupted: context.interrupted,
            runs,
            passes: self.passes,
            failures: self.failures,
            timeouts: self.by_kind.timeout,
            ignored: self.ignored,
            cancelled: context.cancelled,
            failures_by_kind: self.by_kind,
            rate: clopper_pearson(self.failures, runs, CONFIDENCE),
            confidence: CONFIDENCE,
            rate_upper_bound: upper_bound(self.failures, runs, CONFIDENCE),
            signatures,
            pass_durations: self.pass_durations.stats(),
            fail_durations: self.fail_durations.stats(),
            runs_per_second: if seconds > 0.0 {
                runs as f64 / seconds
            } else {
                0.0
            },
            out_dir: context.out_dir,
            leaked_pipes: self.leaked_pipes,
            kept_pids,
            target: None,
            tests: Vec::new(),
        }
    }
}

/// One run as the tally needs it.
#[derive(Debug, Clone, Copy)]
pub struct Observation<'a> {
    /// Run index.
    pub index: u64,
    /// Run duration.
    pub duration: Duration,
    /// Verdict.
    pub verdict: Verdict,
    /// Signature of a failed or ignored run.
    pub signature: Option<&'a Signature>,
    /// Saved log.
    pub example: Option<&'a Path>,
    /// The telling line (raw bytes).
    pub example_line: Option<&'a [u8]>,
    /// Pipes were held open by an escaped process.
    pub leaked_pipes: bool,
    /// Pid of a timed-out run left running.
    pub kept_pid: Option<u32>,
}

/// Campaign facts the tally cannot see in records.
#[derive(Debug, Clone)]
pub struct SummaryContext {
    /// Campaign id.
    pub campaign: String,
    /// Command as text.
    pub command: Vec<String>,
    /// RFC 3339 start time.
    pub started_at: String,
    /// Wall time.
    pub elapsed: Duration,
    /// Why it stopped.
    pub stop_reason: String,
    /// Stopped by a signal.
    pub interrupted: bool,
    /// Runs cancelled at the stop.
    pub cancelled: u64,
    /// Output directory.
    pub out_dir: PathBuf,
    /// Kept pids still alive at the end (kept runs that exited are not listed).
    pub still_kept: Vec<u32>,
}

/// Exact min/max plus an HDR histogram (3 significant digits) for quantiles.
#[derive(Debug)]
struct DurationTally {
    histogram: Option<Histogram<u64>>,
    min: Duration,
    max: Duration,
    count: u64,
}

impl DurationTally {
    fn new() -> DurationTally {
        DurationTally {
            histogram: Histogram::new(3).ok(),
            min: Duration::MAX,
            max: Duration::ZERO,
            count: 0,
        }
    }

    fn record(&mut self, duration: Duration) {
        self.count += 1;
        self.min = self.min.min(duration);
        self.max = self.max.max(duration);
        if let Some(histogram) = &mut self.histogram {
            let micros = u64::try_from(duration.as_micros())
                .unwrap_or(u64::MAX)
                .max(1);
            // `record` grows the auto-resizing histogram; `saturating_record` would not.
            if histogram.record(micros).is_err() {
                histogram.saturating_record(micros);
            }
        }
    }

    fn stats(&self) -> DurationStats {
        if self.count == 0 {
            return DurationStats::default();
        }
        let quantile = |q: f64| -> f64 {
            let micros = self
                .histogram
                .as_ref()
                .map_or(0, |histogram| histogram.value_at_quantile(q));
            // The histogram rounds to 3 significant digits; never report outside [min, max].
            (micros as f64 / 1e6).clamp(self.min.as_secs_f64(), self.max.as_secs_f64())
        };
        DurationStats {
            count: self.count,
            min_s: self.min.as_secs_f64(),
            median_s: quantile(0.5),
            p99_s: quantile(0.99),
            max_s: self.max.as_secs_f64(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duration_quantiles_use_every_sample() {
        let mut tally = DurationTally::new();
        for millis in [2400u64, 2400, 2400, 22_700] {
            tally.record(Duration::from_micros(millis));
        }
        let stats = tally.stats();
        assert_eq!(stats.count, 4);
        assert!((stats.min_s - 0.0024).abs() < 1e-9);
        assert!((stats.max_s - 0.0227).abs() < 1e-9);
        assert!((stats.median_s - 0.0024).abs() < 1e-5, "{stats:?}");
        assert!((stats.p99_s - 0.0227).abs() < 1e-4, "{stats:?}");
    }
}
