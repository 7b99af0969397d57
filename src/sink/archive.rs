//! The failure archive: the raw output of every failed (or ignored, or with `--keep-passing`
//! every) run saved under the campaign's output directory, byte for byte, with its stream map
//! and a JSON metadata file. Spilled output is moved into place, never copied through memory.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::Serialize;

use crate::analysis::signature::stack_summary;
use crate::record::stacks::Stacks;
use crate::record::{OutputStore, RunRecord, SavedOutput, Signature, Termination, Verdict};
use crate::runner::capture::{remove_quietly, write_stream_map};

/// Saves run output under one campaign directory.
#[derive(Debug)]
pub struct Archive {
    dir: PathBuf,
    campaign: String,
    command: Vec<String>,
    keep_passing: bool,
    shake: Option<String>,
    /// Label and shake of each part, when the campaign has parts.
    parts: Vec<(String, Option<String>)>,
}

/// Metadata written next to each saved log (`run-NNNNNN.json`).
#[derive(Debug, Serialize)]
struct RunMeta<'a> {
    campaign: &'a str,
    run: u64,
    pid: u32,
    command: &'a [String],
    started_at: String,
    duration_s: f64,
    verdict: &'static str,
    kind: Option<&'static str>,
    termination: &'a Termination,
    exit_code: Option<i32>,
    signal: Option<String>,
    timed_out: bool,
    signature: Option<&'a Signature>,
    telling_line: Option<String>,
    output_bytes: u64,
    leaked_pipes: bool,
    script_failure: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    part: Option<&'a str>,
    shake: Option<&'a str>,
    seed: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    frozen_s: Option<f64>,
    script_events: &'a [crate::record::ScriptEvent],
    log: String,
    streams: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    stacks: Option<StacksMeta<'a>>,
}

/// The stacks of a hung or crashed run, in its metadata.
#[derive(Debug, Serialize)]
struct StacksMeta<'a> {
    /// File beside the log (`run-NNNNNN.stacks`).
    file: String,
    kind: &'static str,
    tools: Vec<&'a str>,
    processes: Vec<ProcessMeta<'a>>,
    /// The frames part of the signature (`hang: a <- b | c`), when frames were read.
    summary: Option<String>,
    notes: &'a [String],
    /// The core kept for the user (`run-NNNNNN.core`), when their core limit asked for one.
    core: Option<String>,
}

#[derive(Debug, Serialize)]
struct ProcessMeta<'a> {
    pid: u32,
    name: &'a str,
    runtime: crate::record::stacks::Runtime,
    tool: &'a str,
    threads: usize,
}

impl Archive {
    /// An archive in `dir`, which must exist.
    pub fn new(dir: PathBuf, campaign: String, command: Vec<String>, keep_passing: bool) -> Self {
        Archive {
            dir,
            campaign,
            command,
            keep_passing,
            shake: None,
            parts: Vec::new(),
        }
    }

    /// Record each run's part (by label) and that part's perturbation instead of one shake.
    pub fn with_parts(mut self, parts: Vec<(String, Option<String>)>) -> Self {
        self.parts = parts;
        self
    }

    /// Record this perturbation with every saved run.
    pub fn with_shake(mut self, shake: Option<String>) -> Self {
        self.shake = shake;
        self
    }

    /// Save the record's output if its verdict calls for it, else discard it; returns where it
    /// was saved.
    pub fn save(
        &self,
        record: &mut RunRecord,
        signature: Option<&Signature>,
    ) -> Result<Option<SavedOutput>> {
        let Some(output) = record.output.take() else {
            return Ok(None);
        };
        let keep = self.keep_passing || !matches!(record.verdict, Verdict::Pass);
        if !keep {
            if let OutputStore::Spilled { log, streams } = output {
                remove_quietly(&log);
                remove_quietly(&streams);
            }
            return Ok(None);
        }
        let stem = format!("run-{:06}", record.index);
        let log = self.dir.join(format!("{stem}.log"));
        let streams = self.dir.join(format!("{stem}.streams"));
        let meta = self.dir.join(format!("{stem}.json"));
        match output {
            OutputStore::Memory { bytes, segments } => {
                fs::write(&log, &bytes)
                    .with_context(|| format!("could not write {}", log.display()))?;
                write_stream_map(&streams, &segments)
                    .with_context(|| format!("could not write {}", streams.display()))?;
            }
            OutputStore::Spilled {
                log: spilled_log,
                streams: spilled_streams,
            } => {
                fs::rename(&spilled_log, &log)
                    .with_context(|| format!("could not move output to {}", log.display()))?;
                fs::rename(&spilled_streams, &streams)
                    .with_context(|| format!("could not move output to {}", streams.display()))?;
            }
        }
        let (verdict, kind) = record.verdict.names();
        let (exit_code, signal) = (
            record.termination.exit_code(),
            record.termination.signal_name(),
        );
        let file_name = |path: &Path| {
            path.file_name()
                .map(|name| name.to_string_lossy().into_owned())
                .unwrap_or_default()
        };
        let stacks_path = self.dir.join(format!("{stem}.stacks"));
        let stacks = match &record.stacks {
            Some(stacks) => Some(self.save_stacks(stacks, &stem, &stacks_path)?),
            None => None,
        };
        let metadata = RunMeta {
            campaign: &self.campaign,
            run: record.index,
            pid: record.pid,
            command: &self.command,
            started_at: humantime::format_rfc3339_millis(record.started_at).to_string(),
            duration_s: record.duration.as_secs_f64(),
            verdict,
            kind,
            termination: &record.termination,
            exit_code,
            signal,
            timed_out: record.termination.timed_out(),
            signature,
            telling_line: record
                .digest
                .telling_line
                .as_deref()
                .map(|line| String::from_utf8_lossy(line).into_owned()),
            output_bytes: record.digest.total_bytes,
            leaked_pipes: record.leaked_pipes,
            script_failure: record.script_failure.as_deref(),
            part: self.parts.get(record.part).map(|(label, _)| label.as_str()),
            shake: match self.parts.get(record.part) {
                Some((_, shake)) => shake.as_deref(),
                None => self.shake.as_deref(),
            },
            seed: record.seed,
            frozen_s: (!record.paused.is_zero()).then_some(record.paused.as_secs_f64()),
            script_events: &record.script_events,
            log: file_name(&log),
            streams: file_name(&streams),
            stacks,
        };
        let mut json = serde_json::to_vec_pretty(&metadata).context("could not encode metadata")?;
        json.push(b'\n');
        let mut file = fs::File::create(&meta)
            .with_context(|| format!("could not write {}", meta.display()))?;
        file.write_all(&json)
            .with_context(|| format!("could not write {}", meta.display()))?;
        Ok(Some(SavedOutput {
            log,
            streams,
            meta,
            stacks: record.stacks.is_some().then_some(stacks_path),
        }))
    }

    /// Write a run's stacks report to `path` (and move a core kept for the user beside it).
    fn save_stacks<'a>(
        &self,
        stacks: &'a Stacks,
        stem: &str,
        path: &Path,
    ) -> Result<StacksMeta<'a>> {
        fs::write(path, stacks.text.as_bytes())
            .with_context(|| format!("could not write {}", path.display()))?;
        // A core that cannot be moved is only a convenience lost, not the run's record.
        let core = stacks.core.as_ref().and_then(|core| {
            let name = format!("{stem}.core");
            fs::rename(core, self.dir.join(&name)).ok().map(|()| name)
        });
        Ok(StacksMeta {
            file: format!("{stem}.stacks"),
            kind: stacks.kind.as_str(),
            tools: stacks.tools(),
            processes: stacks
                .processes
                .iter()
                .map(|process| ProcessMeta {
                    pid: process.pid,
                    name: &process.name,
                    runtime: process.runtime,
                    tool: &process.tool,
                    threads: process.threads.len(),
                })
                .collect(),
            summary: stack_summary(stacks),
            notes: &stacks.notes,
            core,
        })
    }
}
