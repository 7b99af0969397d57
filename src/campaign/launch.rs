//! The campaign launcher: everything checked that can fail is checked before the campaign is
//! recorded (event log, output directory, history database), then the sinks, provenance and
//! guard are wired around the coordinator.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::campaign::coordinator::{run_campaign, CampaignOptions, CampaignResult, Steering};
use crate::campaign::setup::Prepared;
use crate::record::provenance::{git_state, hostname};
use crate::sink::events::EventLog;
use crate::sink::progress::{ProgressMode, ProgressSink};
use crate::sink::store::StoreSink;
use crate::sink::Sink;
use crate::store::writer::CampaignInfo;
use crate::store::{now_rfc3339, Store};

/// Where a campaign reports besides its result: the terminal, an event log, the history.
#[derive(Debug, Clone)]
pub struct Outputs {
    /// Progress style.
    pub progress: ProgressMode,
    /// NDJSON event log.
    pub events: Option<PathBuf>,
    /// History database to record the campaign in (None: not recorded).
    pub history: Option<PathBuf>,
}

/// Run a prepared campaign with its sinks (plus `extra_sinks`) and return its result.
pub fn launch(prepared: &Prepared, extra_sinks: Vec<Box<dyn Sink>>) -> Result<CampaignResult> {
    launch_steered(prepared, extra_sinks, None)
}

/// [`launch`] a campaign of several parts, `steering` choosing each run's part.
pub fn launch_steered(
    prepared: &Prepared,
    extra_sinks: Vec<Box<dyn Sink>>,
    steering: Option<&mut dyn Steering>,
) -> Result<CampaignResult> {
    let Prepared {
        spec,
        template,
        outputs,
    } = prepared;
    let command: Vec<String> = spec
        .command
        .iter()
        .map(|arg| arg.to_string_lossy().into_owned())
        .collect();
    // Setup checks first, the history's before anything is created on disk: a campaign that
    // cannot start leaves no trace behind.
    let store = outputs.history.as_deref().map(Store::open).transpose()?;
    prepare_out_dir(&spec.out_dir)?;
    let mut sinks: Vec<Box<dyn Sink>> = extra_sinks;
    if let Some(path) = &outputs.events {
        sinks.push(Box::new(EventLog::open(path, &spec.id, &command)?));
    }
    if let Some(store) = store {
        let cwd = spec
            .cwd
            .clone()
            .or_else(|| std::env::current_dir().ok())
            .unwrap_or_default();
        let info = CampaignInfo {
            id: spec.id.clone(),
            started_at: now_rfc3339(),
            command: command.clone(),
            spec: spec.describe(),
            cwd: cwd.display().to_string(),
            git: git_state(&cwd),
            host: hostname(),
            out_dir: spec.out_dir.display().to_string(),
            parts: spec
                .parts
                .iter()
                .map(|part| {
                    let shake = part.shake.as_ref().map(|shake| shake.to_string());
                    (part.label.clone(), shake)
                })
                .collect(),
        };
        sinks.push(Box::new(StoreSink::start(store, &info)?));
    }
    sinks.push(Box::new(ProgressSink::new(
        outputs.progress,
        spec.stop.clone(),
    )));
    let options = CampaignOptions {
        sinks,
        guard_exe: std::env::current_exe().ok(),
        steering,
    };
    run_campaign(spec, template, options)
}

/// Create the campaign's output directory and its spill directory, or explain why not; returns
/// the spill directory.
pub fn prepare_out_dir(dir: &Path) -> Result<PathBuf> {
    std::fs::create_dir_all(dir).with_context(|| {
        format!(
            "cannot create output directory {} (choose another with --out)",
            dir.display()
        )
    })?;
    let spill = dir.join(".spill");
    std::fs::create_dir_all(&spill)
        .and_then(|()| {
            let probe = spill.join(".write-test");
            std::fs::write(&probe, b"")?;
            std::fs::remove_file(&probe)
        })
        .with_context(|| {
            format!(
                "output directory {} is not writable (choose another with --out)",
                dir.display()
            )
        })?;
    Ok(spill)
}
