//! Live progress on stderr: an indicatif line on a terminal that can draw one, a plain status
//! line every few seconds otherwise, and one escaped line per failure so a failure is seen the
//! moment it happens. Nothing a test printed reaches the terminal unescaped.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

use anyhow::Result;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::analysis::summary::Tally;
use crate::record::{FinishedRun, Verdict};
use crate::report::compact_duration;
use crate::report::display_path;
use crate::report::format::format_rate;
use crate::runner::{Notice, Progress};
use crate::sink::Sink;
use crate::spec::StopRules;
use crate::text::{escape_line, excerpt, ExcerptOptions};

/// How progress is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProgressMode {
    /// Pick `Bar` on a terminal, `Lines` otherwise.
    Auto,
    /// An updating progress line (terminal).
    Bar,
    /// A plain status line every few seconds.
    Lines,
    /// Nothing but the final summary.
    Quiet,
}

/// Failures printed one by one before only new signatures are announced.
const FAILURE_LINES: u64 = 20;
/// Lines of output shown under the first failure of each signature.
const EXCERPT_LINES: usize = 12;
/// Interval of plain status lines.
const LINE_INTERVAL: Duration = Duration::from_secs(5);

/// The progress sink.
pub struct ProgressSink {
    mode: ProgressMode,
    bar: Option<ProgressBar>,
    stop: StopRules,
    last_line: Instant,
    last_progress: Option<Progress>,
    /// A status line was printed (`Lines`), so the final tally gets one too.
    status_shown: bool,
    /// The campaign `flakehunt log --raw` can show saved runs of, until a binary marker named it.
    raw_hint: Option<String>,
}

impl std::fmt::Debug for ProgressSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProgressSink")
            .field("mode", &self.mode)
            .finish()
    }
}

impl ProgressSink {
    /// A progress display for a campaign with these stop rules. Where a bar cannot be drawn
    /// (stderr is no terminal, or `TERM` is unset or `dumb`) plain lines take its place, so the
    /// live failure notices are never lost with it.
    pub fn new(mode: ProgressMode, stop: StopRules) -> ProgressSink {
        let mut mode = match mode {
            ProgressMode::Auto if std::io::stderr().is_terminal() => ProgressMode::Bar,
            ProgressMode::Auto => ProgressMode::Lines,
            other => other,
        };
        let mut bar = None;
        if mode == ProgressMode::Bar {
            match Self::bar(&stop) {
                Some(drawn) => bar = Some(drawn),
                None => mode = ProgressMode::Lines,
            }
        }
        ProgressSink {
            mode,
            bar,
            stop,
            last_line: Instant::now(),
            last_progress: None,
            status_shown: false,
            raw_hint: None,
        }
    }

    /// Name `flakehunt log CAMPAIGN N --raw` in the first binary marker of an excerpt (the
    /// campaign is in the history, so its saved runs can be shown).
    pub fn with_raw_hint(mut self, campaign: &str) -> ProgressSink {
        self.raw_hint = Some(campaign.to_string());
        self
    }

    /// An updating bar on stderr, or None where indicatif would hide it (and every line printed
    /// through it).
    fn bar(stop: &StopRules) -> Option<ProgressBar> {
        let bar = ProgressBar::with_draw_target(stop.runs, ProgressDrawTarget::stderr());
        if bar.is_hidden() {
            return None;
        }
        let template = if stop.runs.is_some() {
            "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} runs, {msg}"
        } else {
            "{spinner} [{elapsed_precise}] {msg}"
        };
        if let Ok(style) = ProgressStyle::with_template(template) {
            bar.set_style(style);
        }
        bar.enable_steady_tick(Duration::from_millis(200));
        Some(bar)
    }

    fn say(&self, line: &str) {
        match &self.bar {
            Some(bar) => bar.println(line),
            None if self.mode != ProgressMode::Quiet => {
                let mut stderr = std::io::stderr().lock();
                let _ = writeln!(stderr, "{line}");
            }
            None => {}
        }
    }

    fn status(progress: &Progress, tally: &Tally, with_runs: bool) -> String {
        let runs = tally.runs();
        let failures = tally.failures();
        let rate = if runs == 0 {
            "-".to_string()
        } else {
            format_rate(failures as f64 / runs as f64)
        };
        let runs = if with_runs {
            format!("{runs} runs, ")
        } else {
            String::new()
        };
        format!(
            "{runs}{failures} failure{} ({rate}), {} active",
            if failures == 1 { "" } else { "s" },
            progress.active
        )
    }

    fn eta(&self, progress: &Progress) -> Option<Duration> {
        let by_duration = self
            .stop
            .duration
            .map(|budget| budget.saturating_sub(progress.elapsed));
        let by_runs = self.stop.runs.and_then(|runs| {
            (progress.finished > 0).then(|| {
                let per_run = progress.elapsed.as_secs_f64() / progress.finished as f64;
                Duration::from_secs_f64(per_run * runs.saturating_sub(progress.finished) as f64)
            })
        });
        match (by_duration, by_runs) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

impl Sink for ProgressSink {
    fn run_finished(&mut self, run: &FinishedRun, tally: &Tally) -> Result<()> {
        let record = &run.record;
        if let Some(bar) = &self.bar {
            bar.inc(1);
        }
        let (kind_word, failure_number) = match record.verdict {
            Verdict::Pass => return Ok(()),
            Verdict::Fail(_) => ("FAIL", tally.failures()),
            Verdict::Ignored(_) => ("IGNORED", 0),
        };
        if self.mode == ProgressMode::Quiet {
            return Ok(());
        }
        let signature = run.signature.as_ref();
        let count = signature.map_or(0, |s| tally.signature_count(&s.id));
        let new = count == 1;
        if !new && failure_number > FAILURE_LINES {
            return Ok(());
        }
        let what = record
            .digest
            .telling_line
            .as_deref()
            .or(record.digest.tail_lines.last().map(Vec::as_slice))
            .map(|line| format!(": {}", escape_line(line, 160)))
            .unwrap_or_default();
        let cluster = match signature {
            Some(s) if new => format!(" [new signature {}]", s.id),
            Some(s) => format!(" [signature {} x{count}]", s.id),
            None => String::new(),
        };
        let mut line = format!(
            "{kind_word} run {} after {}: {}{what}{cluster}",
            record.index,
            compact_duration(record.duration),
            record.outcome_label()
        );
        if let Some(saved) = &run.saved {
            line.push_str(&format!("\n     saved {}", display_path(&saved.log)));
        }
        if new && !record.digest.tail_bytes.is_empty() {
            let raw_hint = (self.raw_hint.as_ref())
                .filter(|_| run.saved.is_some())
                .map(|campaign| format!("flakehunt log {campaign} {} --raw", record.index));
            let options = ExcerptOptions {
                max_lines: EXCERPT_LINES,
                raw_hint,
                ..ExcerptOptions::default()
            };
            let shown = excerpt(&record.digest.tail_bytes, &options);
            if shown.hinted {
                self.raw_hint = None;
            }
            for excerpt_line in shown.text.lines() {
                line.push_str("\n     | ");
                line.push_str(excerpt_line);
            }
        }
        self.say(&line);
        Ok(())
    }

    fn tick(&mut self, progress: &Progress, tally: &Tally) {
        self.last_progress = Some(*progress);
        let eta = self
            .eta(progress)
            .map(|eta| format!(", ETA {}", compact_duration(eta)))
            .unwrap_or_default();
        match self.mode {
            ProgressMode::Bar => {
                if let Some(bar) = &self.bar {
                    let status = Self::status(progress, tally, self.stop.runs.is_none());
                    bar.set_message(format!("{status}{eta}"));
                }
            }
            ProgressMode::Lines if self.last_line.elapsed() >= LINE_INTERVAL => {
                self.last_line = Instant::now();
                self.status_shown = true;
                let status = Self::status(progress, tally, true);
                self.say(&format!(
                    "{}: {status}{eta}",
                    compact_duration(progress.elapsed)
                ));
            }
            _ => {}
        }
    }

    fn notice(&mut self, notice: &Notice) {
        let line = match notice {
            Notice::KeptRunning { index, pid } => format!(
                "TIMEOUT run {index}: left running for debugging as pid {pid} (attach with: gdb -p {pid}, or dlv attach {pid})"
            ),
            Notice::Stopping(reason) => {
                use crate::runner::StopReason;
                let expected = !matches!(reason, StopReason::Interrupted | StopReason::SpawnFailed(_));
                // A stop rule being reached is the normal end: only worth a line when watching.
                if matches!(reason, StopReason::RunsDone) || (expected && self.mode == ProgressMode::Quiet) {
                    return;
                }
                format!("stopping: {}; cancelling runs in flight", reason.describe())
            }
            Notice::Warning(warning) => format!("flakehunt: warning: {warning}"),
            // Whoever steers the campaign decides what is worth a line.
            Notice::Info(line) => line.clone(),
            Notice::WaitingForKept { pids } => format!(
                "waiting for {} kept run{} to exit (pids {}); Ctrl-C kills {}",
                pids.len(),
                if pids.len() == 1 { "" } else { "s" },
                pids.iter().map(u32::to_string).collect::<Vec<_>>().join(", "),
                if pids.len() == 1 { "it" } else { "them" }
            ),
        };
        // Notices matter even in quiet mode.
        match &self.bar {
            Some(bar) => bar.println(line),
            None => {
                let _ = writeln!(std::io::stderr().lock(), "{line}");
            }
        }
    }

    fn finished(&mut self, summary: &crate::analysis::summary::Summary) -> Result<()> {
        // The last frame is drawn from the final tally: runs that finished after the last tick
        // must not leave it contradicting the summary printed below it.
        let failures = summary.failures;
        let rate = match summary.runs {
            0 => "-".to_string(),
            runs => format_rate(failures as f64 / runs as f64),
        };
        let plural = if failures == 1 { "" } else { "s" };
        let status = format!("{failures} failure{plural} ({rate}), done");
        if let Some(bar) = self.bar.take() {
            bar.set_position(summary.runs);
            let runs = if self.stop.runs.is_none() {
                format!("{} runs, ", summary.runs)
            } else {
                String::new()
            };
            bar.set_message(format!("{runs}{status}"));
            bar.finish();
        } else if self.status_shown {
            let elapsed = Duration::try_from_secs_f64(summary.elapsed_s).unwrap_or_default();
            let runs = summary.runs;
            self.say(&format!(
                "{}: {runs} runs, {status}",
                compact_duration(elapsed)
            ));
        }
        Ok(())
    }
}
