//! The event log (`--events FILE`): one NDJSON object per finished run, appended and flushed as
//! each run finishes, framed by `campaign-start` and `campaign-end` objects, so other tools can
//! follow a campaign live (`tail -f`) and a killed campaign still leaves a readable log.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::Path;

use anyhow::{Context, Result};
use serde_json::json;

use crate::analysis::summary::{Summary, Tally};
use crate::record::FinishedRun;
use crate::sink::Sink;

/// Appends NDJSON records to a file.
#[derive(Debug)]
pub struct EventLog {
    out: BufWriter<File>,
    campaign: String,
}

impl EventLog {
    /// Open `path` for appending (created if missing) and write the `campaign-start` record.
    pub fn open(path: &Path, campaign: &str, command: &[String]) -> Result<EventLog> {
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .with_context(|| format!("could not open event log {}", path.display()))?;
        let mut log = EventLog {
            out: BufWriter::new(file),
            campaign: campaign.to_string(),
        };
        log.write(&json!({
            "type": "campaign-start",
            "campaign": campaign,
            "command": command,
            "started_at": humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string(),
        }))?;
        Ok(log)
    }

    fn write(&mut self, value: &serde_json::Value) -> Result<()> {
        serde_json::to_writer(&mut self.out, value).context("could not encode event")?;
        self.out
            .write_all(b"\n")
            .context("could not write event log")?;
        self.out.flush().context("could not write event log")
    }
}

impl Sink for EventLog {
    fn run_finished(&mut self, run: &FinishedRun, _tally: &Tally) -> Result<()> {
        let record = &run.record;
        let (verdict, kind) = record.verdict.names();
        let event = json!({
            "type": "run",
            "campaign": self.campaign,
            "run": record.index,
            "pid": record.pid,
            "started_at": humantime::format_rfc3339_millis(record.started_at).to_string(),
            "duration_s": record.duration.as_secs_f64(),
            "verdict": verdict,
            "kind": kind,
            "termination": record.termination,
            "signature": run.signature.as_ref().map(|s| &s.id),
            "signature_text": run.signature.as_ref().map(|s| &s.text),
            "output_bytes": record.digest.total_bytes,
            "leaked_pipes": record.leaked_pipes,
            "script_failure": record.script_failure,
            "seed": record.seed,
            "part": record.part,
            "frozen_s": record.paused.as_secs_f64(),
            "script_events": record.script_events,
            "log": run.saved.as_ref().map(|saved| saved.log.display().to_string()),
        });
        self.write(&event)
    }

    fn finished(&mut self, summary: &Summary) -> Result<()> {
        let mut value = serde_json::to_value(summary).context("could not encode summary")?;
        if let Some(object) = value.as_object_mut() {
            object.insert("type".into(), json!("campaign-end"));
        }
        self.write(&value)
    }
}
