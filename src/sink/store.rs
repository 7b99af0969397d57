//! The history sink: records a live campaign in the store. Every failure is committed the
//! moment its run ends, together with the passes that finished before it; passes alone are
//! committed at least every [`PASS_DELAY`], so a `kill -9` leaves a stored rate that lags the
//! finished runs by at most that window and is never biased towards failures.

use std::io::{Read, Seek, SeekFrom};
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Result;

use crate::analysis::summary::{Summary, Tally};
use crate::record::{FinishedRun, Verdict};
use crate::runner::Progress;
use crate::sink::Sink;
use crate::store::writer::{CampaignInfo, CampaignWriter, FailureText};
use crate::store::Store;

/// Longest time a finished passing run waits before it is committed.
pub const PASS_DELAY: Duration = Duration::from_millis(200);
/// Passing runs buffered before a write, whatever the time.
const PASS_BATCH: usize = 1000;
/// Bytes read from each end of a failure's log for its sighting snippet.
const SNIPPET_READ: u64 = 64 * 1024;

/// The sink that writes a campaign into the store.
#[derive(Debug)]
pub struct StoreSink {
    writer: CampaignWriter,
    last_flush: Instant,
}

impl StoreSink {
    /// Record the campaign's start.
    pub fn start(store: Store, info: &CampaignInfo) -> Result<StoreSink> {
        Ok(StoreSink {
            writer: CampaignWriter::start(store, info)?,
            last_flush: Instant::now(),
        })
    }

    fn flush_if_due(&mut self) -> Result<()> {
        let pending = self.writer.pending();
        if pending > 0 && (pending >= PASS_BATCH || self.last_flush.elapsed() >= PASS_DELAY) {
            self.writer.flush()?;
            self.last_flush = Instant::now();
        }
        Ok(())
    }
}

impl Sink for StoreSink {
    fn run_finished(&mut self, run: &FinishedRun, _tally: &Tally) -> Result<()> {
        if run.record.verdict == Verdict::Pass {
            self.writer.add_pass(run);
            return self.flush_if_due();
        }
        let text = failure_text(run);
        self.writer.write_failure(run, &text)?;
        self.last_flush = Instant::now();
        Ok(())
    }

    fn tick(&mut self, _progress: &Progress, _tally: &Tally) {
        // A failed write keeps its passes pending; the next write or the end reports the error.
        let _ = self.flush_if_due();
    }

    fn finished(&mut self, summary: &Summary) -> Result<()> {
        self.writer.finish(summary)
    }
}

/// The message and snippet of a failure's sighting.
fn failure_text(run: &FinishedRun) -> FailureText {
    let digest = &run.record.digest;
    let snippet = match &run.saved {
        Some(saved) => log_snippet(&saved.log),
        None => crate::ingest::snippet(&digest.tail_bytes),
    };
    let message = digest
        .telling_line
        .as_deref()
        .or(digest.tail_lines.last().map(Vec::as_slice))
        .map(|line| String::from_utf8_lossy(line).into_owned())
        .unwrap_or_default();
    FailureText { message, snippet }
}

/// Snippet of a saved log, reading at most 64 KiB from each end of a large file.
fn log_snippet(path: &Path) -> String {
    let Ok(mut file) = std::fs::File::open(path) else {
        return String::new();
    };
    let size = file.metadata().map(|m| m.len()).unwrap_or(0);
    let mut bytes = Vec::new();
    if size <= 2 * SNIPPET_READ {
        let _ = file.read_to_end(&mut bytes);
    } else {
        let mut head = vec![0u8; SNIPPET_READ as usize];
        let mut tail = vec![0u8; SNIPPET_READ as usize];
        let head_ok = file.read_exact(&mut head).is_ok();
        let tail_ok = file.seek(SeekFrom::End(-(SNIPPET_READ as i64))).is_ok()
            && file.read_exact(&mut tail).is_ok();
        if head_ok && tail_ok {
            bytes.extend_from_slice(&head);
            bytes.extend_from_slice(b"\n");
            bytes.extend_from_slice(&tail);
        }
    }
    crate::ingest::snippet(&bytes)
}
