//! `--export FILE`: the sink that writes a campaign's bundle. Runs go to a temporary file next
//! to FILE as they finish; only the campaign's end writes the end line and renames it into
//! place, so a killed campaign never leaves a bundle that looks complete.

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use anyhow::{bail, Context, Result};
use xxhash_rust::xxh3::Xxh3;

use crate::analysis::summary::{Summary, Tally};
use crate::bundle::{BundleRun, BundleTest, CappedText, End, Header, Line, OUTPUT_CAP, STACKS_CAP};
use crate::record::{FinishedRun, Verdict};
use crate::sink::Sink;

/// Writes a bundle while the campaign runs.
pub struct BundleSink {
    path: PathBuf,
    file: Option<BufWriter<tempfile::NamedTempFile>>,
    hasher: Xxh3,
    runs: u64,
    failures: u64,
}

impl std::fmt::Debug for BundleSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BundleSink")
            .field("path", &self.path)
            .finish()
    }
}

/// Check that a bundle can be written to `path` (before anything runs): not a directory, in a
/// directory that exists.
pub fn check_path(path: &Path) -> Result<()> {
    if path.is_dir() {
        bail!(
            "--export {} is a directory; give a file name, e.g. shard-1.fhb",
            path.display()
        );
    }
    let parent = parent_of(path);
    if !parent.is_dir() {
        bail!(
            "--export {}: directory {} does not exist",
            path.display(),
            parent.display()
        );
    }
    Ok(())
}

/// Whether two paths name the same file, whether or not it exists yet.
pub fn same_path(a: &Path, b: &Path) -> bool {
    let resolve = |path: &Path| {
        let parent = std::fs::canonicalize(parent_of(path)).unwrap_or_else(|_| parent_of(path));
        path.file_name().map(|name| parent.join(name))
    };
    resolve(a).is_some() && resolve(a) == resolve(b)
}

fn parent_of(path: &Path) -> PathBuf {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

impl BundleSink {
    /// Start a bundle at `path` (a temporary file until the campaign ends) with its header.
    pub fn create(path: &Path, header: &Header) -> Result<BundleSink> {
        check_path(path)?;
        // `.NAME.XXXXXX.partial`: hidden, and tied to its bundle for whoever watches progress.
        let name = path.file_name().map_or_else(
            || "bundle".into(),
            |name| name.to_string_lossy().into_owned(),
        );
        let file = tempfile::Builder::new()
            .prefix(&format!(".{name}."))
            .suffix(".partial")
            .tempfile_in(parent_of(path))
            .with_context(|| format!("cannot create a bundle next to {}", path.display()))?;
        let mut sink = BundleSink {
            path: path.to_path_buf(),
            file: Some(BufWriter::new(file)),
            hasher: Xxh3::new(),
            runs: 0,
            failures: 0,
        };
        let line = serde_json::to_string(header).context("encode bundle header")?;
        sink.write_line(&line)?;
        Ok(sink)
    }

    fn write_line(&mut self, line: &str) -> Result<()> {
        let Some(file) = self.file.as_mut() else {
            bail!("bundle {} already finished", self.path.display());
        };
        self.hasher.update(line.as_bytes());
        self.hasher.update(b"\n");
        // Each line reaches the file at once: the partial bundle shows progress to whoever
        // watches it, and a killed campaign's runs up to its end can still be read.
        file.write_all(line.as_bytes())
            .and_then(|()| file.write_all(b"\n"))
            .and_then(|()| file.flush())
            .with_context(|| format!("could not write bundle {}", self.path.display()))
    }
}

/// A finished run as a bundle line: failures with their (capped) output and stacks.
pub fn bundle_run(run: &FinishedRun) -> BundleRun {
    let record = &run.record;
    let lossy = |bytes: &[u8]| String::from_utf8_lossy(bytes).into_owned();
    let failed = record.verdict != Verdict::Pass;
    let example = record.digest.telling_line.as_deref().or(record
        .digest
        .tail_lines
        .last()
        .map(Vec::as_slice));
    let output = if failed {
        let bytes = run
            .saved
            .as_ref()
            .and_then(|saved| std::fs::read(&saved.log).ok())
            .unwrap_or_else(|| record.digest.tail_bytes.clone());
        Some(CappedText::new(&bytes, OUTPUT_CAP))
    } else {
        None
    };
    BundleRun {
        index: record.index,
        started_us: record
            .started_at
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX)),
        duration_us: u64::try_from(record.duration.as_micros()).unwrap_or(u64::MAX),
        termination: record.termination,
        verdict: record.verdict,
        seed: record.seed,
        leaked_pipes: record.leaked_pipes,
        signature: run.signature.clone(),
        telling_line: record.digest.telling_line.as_deref().map(lossy),
        example_line: example.filter(|_| failed).map(lossy),
        tests: run
            .tests
            .iter()
            .map(|test| BundleTest {
                name: test.name.clone(),
                status: test.status,
                signature: test.signature.clone(),
                message: test.message.clone(),
            })
            .collect(),
        output,
        stacks: record
            .stacks
            .as_ref()
            .filter(|_| failed)
            .map(|stacks| CappedText::new(stacks.text.as_bytes(), STACKS_CAP)),
    }
}

impl Sink for BundleSink {
    fn run_finished(&mut self, run: &FinishedRun, _tally: &Tally) -> Result<()> {
        let line = Line::Run(Box::new(bundle_run(run)));
        let text = serde_json::to_string(&line).context("encode bundle run")?;
        self.write_line(&text)?;
        self.runs += 1;
        self.failures += u64::from(run.record.verdict.is_failure());
        Ok(())
    }

    fn finished(&mut self, summary: &Summary) -> Result<()> {
        let end = End {
            runs: self.runs,
            failures: self.failures,
            stop_reason: summary.stop_reason.clone(),
            interrupted: summary.interrupted,
            cancelled: summary.cancelled,
            elapsed_s: summary.elapsed_s,
            checksum: format!("{:016x}", self.hasher.digest()),
        };
        let text = serde_json::to_string(&Line::End(end)).context("encode bundle end")?;
        self.write_line(&text)?;
        let Some(file) = self.file.take() else {
            bail!("bundle {} already finished", self.path.display());
        };
        let context = || format!("could not write bundle {}", self.path.display());
        let file = file
            .into_inner()
            .map_err(|error| error.into_error())
            .with_context(context)?;
        // Readable like any file written here: a bundle is handed on (a shared directory).
        let mode = <std::fs::Permissions as std::os::unix::fs::PermissionsExt>::from_mode(0o644);
        file.as_file().set_permissions(mode).with_context(context)?;
        file.as_file().sync_all().with_context(context)?;
        file.persist(&self.path)
            .map_err(|error| error.error)
            .with_context(context)?;
        Ok(())
    }
}

/// The header of a bundle of `prepared`, whose whole campaign has `campaign_runs` runs.
pub fn header(prepared: &crate::campaign::Prepared, campaign_runs: Option<u64>) -> Header {
    let spec = &prepared.spec;
    let cwd = spec
        .cwd
        .clone()
        .or_else(|| std::env::current_dir().ok())
        .unwrap_or_default();
    let git = crate::record::provenance::git_state(&cwd);
    Header {
        format: crate::bundle::FORMAT.to_string(),
        version: crate::bundle::VERSION,
        campaign: spec.id.clone(),
        shard: spec.shard,
        campaign_runs,
        command: spec
            .command
            .iter()
            .map(|arg| arg.to_string_lossy().into_owned())
            .collect(),
        spec: spec.describe(),
        cwd: cwd.display().to_string(),
        out_dir: spec.out_dir.display().to_string(),
        git_commit: git.as_ref().and_then(|git| git.commit.clone()),
        git_dirty: git.as_ref().map(|git| git.dirty),
        host: crate::record::provenance::hostname(),
        flakehunt: env!("CARGO_PKG_VERSION").to_string(),
        started_at: crate::store::now_rfc3339(),
        output_cap: OUTPUT_CAP,
        hunt_arm: None,
    }
}
