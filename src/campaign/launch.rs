//! The campaign launcher: everything that can fail is checked before the campaign is recorded
//! (history database, event log, command, output directory), what setup created is removed if
//! recording fails, then the sinks, provenance and guard are wired around the coordinator.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use crate::campaign::coordinator::{run_campaign, CampaignOptions, CampaignResult, Steering};
use crate::campaign::setup::Prepared;
use crate::record::provenance::{git_state, hostname};
use crate::runner::spawn::Spawner;
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
    // Setup checks first, the history's before anything is created on disk; then the output
    // directory and event log are created, undone if the campaign cannot be recorded: a campaign
    // that cannot start leaves no trace behind.
    let store = outputs.history.as_deref().map(Store::open).transpose()?;
    if let Some(path) = &outputs.events {
        check_event_log(path, &spec.out_dir)?;
        if let Some(db) = outputs.history.as_deref().filter(|db| same_file(db, path)) {
            bail!(
                "--events {} is the history database {}: appending events would corrupt it \
                 (choose another --events)",
                path.display(),
                db.display()
            );
        }
    }
    Spawner::new(template).context("could not prepare the command")?;
    let guard_exe = own_binary();
    let mut created = Created::default();
    let sinks = match open_outputs(prepared, store, extra_sinks, &mut created) {
        Ok(sinks) => sinks,
        Err(error) => {
            created.undo();
            return Err(error);
        }
    };
    let options = CampaignOptions {
        sinks,
        guard_exe,
        steering,
    };
    run_campaign(spec, template, options)
}

/// Create the output directory, open the event log and record the campaign, noting in
/// `created` what to undo should a later step fail.
fn open_outputs(
    prepared: &Prepared,
    store: Option<Store>,
    extra_sinks: Vec<Box<dyn Sink>>,
    created: &mut Created,
) -> Result<Vec<Box<dyn Sink>>> {
    let Prepared { spec, outputs, .. } = prepared;
    let command: Vec<String> = spec
        .command
        .iter()
        .map(|arg| arg.to_string_lossy().into_owned())
        .collect();
    created.out_dir = first_missing_ancestor(&spec.out_dir.join(".spill"));
    prepare_out_dir(&spec.out_dir)?;
    let mut sinks: Vec<Box<dyn Sink>> = extra_sinks;
    if let Some(path) = &outputs.events {
        created.events = Some((path.clone(), std::fs::metadata(path).ok().map(|m| m.len())));
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
    let progress = ProgressSink::new(outputs.progress, spec.stop.clone());
    sinks.push(Box::new(match &outputs.history {
        Some(_) => progress.with_raw_hint(&spec.id),
        None => progress,
    }));
    Ok(sinks)
}

/// What setup created on disk, to remove if the campaign cannot start after all.
#[derive(Debug, Default)]
struct Created {
    /// The outermost directory on the way to the spill directory that did not exist before:
    /// the output directory (or a parent), or only the spill directory in an existing one.
    out_dir: Option<PathBuf>,
    /// The event log and its length before (None: it did not exist).
    events: Option<(PathBuf, Option<u64>)>,
}

impl Created {
    fn undo(self) {
        if let Some((path, length)) = self.events {
            match length {
                None => {
                    let _ = std::fs::remove_file(&path);
                }
                Some(length) => {
                    if let Ok(file) = std::fs::OpenOptions::new().write(true).open(&path) {
                        let _ = file.set_len(length);
                    }
                }
            }
        }
        if let Some(dir) = self.out_dir {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// The outermost directory on the way to `dir` that does not exist yet (None: `dir` exists).
fn first_missing_ancestor(dir: &Path) -> Option<PathBuf> {
    let mut missing = None;
    for ancestor in dir.ancestors() {
        if ancestor.as_os_str().is_empty() || ancestor.exists() {
            break;
        }
        missing = Some(ancestor.to_path_buf());
    }
    missing
}

/// The event log must be appendable: an existing file writable, or a new one creatable in an
/// existing directory (or in the output directory, created later).
fn check_event_log(path: &Path, out_dir: &Path) -> Result<()> {
    use rustix::fs::{access, Access};
    let refuse = |why: String| -> Result<()> {
        bail!(
            "cannot write the event log {}: {why} (choose another --events)",
            path.display()
        )
    };
    match std::fs::metadata(path) {
        Ok(metadata) if metadata.is_dir() => return refuse("it is a directory".into()),
        Ok(metadata) if metadata.is_file() => {
            return match access(path, Access::WRITE_OK) {
                Ok(()) => Ok(()),
                Err(error) => refuse(std::io::Error::from(error).to_string()),
            };
        }
        // A pipe or a device (/dev/stderr): opening it is the only test.
        Ok(_) => return Ok(()),
        Err(error) if error.kind() != std::io::ErrorKind::NotFound => {
            return refuse(error.to_string())
        }
        Err(_) => {}
    }
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let parent = absolute.parent().unwrap_or(Path::new("/"));
    if parent.starts_with(out_dir) && !parent.exists() {
        return Ok(());
    }
    match std::fs::metadata(parent) {
        Ok(metadata) if metadata.is_dir() => {
            match access(parent, Access::WRITE_OK | Access::EXEC_OK) {
                Ok(()) => Ok(()),
                Err(error) => refuse(format!(
                    "its directory {} is not writable ({})",
                    parent.display(),
                    std::io::Error::from(error)
                )),
            }
        }
        Ok(_) => refuse(format!("{} is not a directory", parent.display())),
        Err(_) => refuse(format!("the directory {} does not exist", parent.display())),
    }
}

/// Whether two paths name one existing file.
fn same_file(a: &Path, b: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

/// The flakehunt binary to start as the guard and load generators. When the file was replaced
/// or removed since flakehunt started (a rebuild), the running image is still reachable.
fn own_binary() -> Option<PathBuf> {
    match std::env::current_exe() {
        Ok(exe) if exe.exists() => Some(exe),
        _ => Some(PathBuf::from("/proc/self/exe")).filter(|exe| exe.exists()),
    }
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
