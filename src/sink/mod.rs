//! Sinks: consumers of finished runs. The archive saves failures' output to disk (first, so the
//! others know where it went); the event log appends NDJSON; the store sink records the history;
//! the progress display talks to the terminal. Sinks never touch runner state: they are fed
//! finished runs, ticks and notices.

pub mod archive;
pub mod events;
pub mod progress;
pub mod store;

use anyhow::Result;

use crate::analysis::summary::{Summary, Tally};
use crate::record::FinishedRun;
use crate::runner::{Notice, Progress};

/// A consumer of campaign events.
pub trait Sink {
    /// A run finished; `tally` already includes it.
    fn run_finished(&mut self, run: &FinishedRun, tally: &Tally) -> Result<()>;
    /// Periodic update.
    fn tick(&mut self, _progress: &Progress, _tally: &Tally) {}
    /// Something happened worth telling.
    fn notice(&mut self, _notice: &Notice) {}
    /// Whether this sink wants the campaign to stop now (a condition only it can see, such as a
    /// failure of one particular signature); runs in flight are then cancelled.
    fn wants_stop(&self) -> bool {
        false
    }
    /// The campaign is over.
    fn finished(&mut self, _summary: &Summary) -> Result<()> {
        Ok(())
    }
}
