//! Recording a live campaign in the history store. Each failure is committed the moment its run
//! ends, so a `kill -9` of flakehunt loses at most the runs in flight; passing runs are batched
//! (every 1000 runs or second) because there can be millions of them.

use std::io::{Read, Seek, SeekFrom};
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use rusqlite::{params, OptionalExtension, TransactionBehavior};

use crate::analysis::summary::{Summary, Tally};
use crate::record::{RunRecord, Verdict};
use crate::runner::Progress;
use crate::sink::Sink;
use crate::store::Store;

/// Passing runs buffered before a write.
const PASS_BATCH: usize = 1000;
/// Longest time a passing run waits in the buffer.
const PASS_DELAY: Duration = Duration::from_secs(1);
/// Bytes read from each end of a failure's log for its sighting snippet.
const SNIPPET_READ: u64 = 64 * 1024;

/// What is known about a campaign when it starts.
#[derive(Debug, Clone)]
pub struct CampaignInfo {
    /// Campaign id.
    pub id: String,
    /// RFC 3339 start time.
    pub started_at: String,
    /// The command.
    pub command: Vec<String>,
    /// Options that shaped it (JSON object).
    pub spec: serde_json::Value,
    /// Working directory.
    pub cwd: String,
    /// Git commit and dirty flag of the working directory.
    pub git: Option<crate::provenance::GitState>,
    /// Host name.
    pub host: String,
    /// Output directory.
    pub out_dir: String,
}

/// A passing run waiting to be written.
#[derive(Debug)]
struct PassRow {
    index: u64,
    started_at: String,
    duration_us: i64,
}

/// The sink that writes a campaign into the store.
#[derive(Debug)]
pub struct StoreSink {
    store: Store,
    campaign: String,
    pending: Vec<PassRow>,
    last_flush: Instant,
    git_commit: Option<String>,
    host: String,
}

impl StoreSink {
    /// Record the campaign's start.
    pub fn start(mut store: Store, info: &CampaignInfo) -> Result<StoreSink> {
        let command = serde_json::to_string(&info.command).context("encode command")?;
        store
            .write(|conn| conn.execute(
                "INSERT INTO campaigns (id, started_at, command, spec, cwd, git_commit, git_dirty, host, out_dir)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                params![
                    info.id,
                    info.started_at,
                    command,
                    info.spec.to_string(),
                    info.cwd,
                    info.git.as_ref().map(|git| git.commit.clone()),
                    info.git.as_ref().map(|git| git.dirty),
                    info.host,
                    info.out_dir,
                ],
            ))
            .with_context(|| format!("could not record the campaign in {}", store.path().display()))?;
        Ok(StoreSink {
            campaign: info.id.clone(),
            pending: Vec::new(),
            last_flush: Instant::now(),
            git_commit: info.git.as_ref().map(|git| git.commit.clone()),
            host: info.host.clone(),
            store,
        })
    }

    fn flush(&mut self) -> Result<()> {
        self.last_flush = Instant::now();
        if self.pending.is_empty() {
            return Ok(());
        }
        let campaign = self.campaign.clone();
        let rows = std::mem::take(&mut self.pending);
        let path = self.store.path().to_path_buf();
        let transaction = self
            .store
            .conn_mut()
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .with_context(|| format!("history database {}", path.display()))?;
        {
            let mut insert = transaction.prepare_cached(
                "INSERT OR REPLACE INTO runs (campaign, idx, started_at, duration_us, verdict, timed_out)
                 VALUES (?1, ?2, ?3, ?4, 'pass', 0)",
            )?;
            for row in &rows {
                insert.execute(params![
                    campaign,
                    row.index as i64,
                    row.started_at,
                    row.duration_us
                ])?;
            }
            transaction.execute(
                "UPDATE campaigns SET runs = runs + ?2 WHERE id = ?1",
                params![campaign, rows.len() as i64],
            )?;
        }
        transaction
            .commit()
            .with_context(|| format!("history database {}", path.display()))
    }

    fn write_failure(&mut self, record: &RunRecord) -> Result<()> {
        let (verdict, kind) = record.verdict.names();
        let (exit_code, signal) = (
            record.termination.exit_code(),
            record.termination.signal_name(),
        );
        let timed_out = record.termination.timed_out();
        let telling = record
            .digest
            .telling_line
            .as_deref()
            .map(|line| String::from_utf8_lossy(line).into_owned());
        let log_path = record
            .saved
            .as_ref()
            .map(|saved| saved.log.display().to_string());
        let started_at = humantime::format_rfc3339_millis(record.started_at).to_string();
        let snippet = match &record.saved {
            Some(saved) => log_snippet(&saved.log),
            None => crate::ingest::snippet(&record.digest.tail_bytes),
        };
        let message = telling
            .clone()
            .or_else(|| {
                record
                    .digest
                    .tail_lines
                    .last()
                    .map(|line| String::from_utf8_lossy(line).into_owned())
            })
            .unwrap_or_default();
        let campaign = self.campaign.clone();
        let git_commit = self.git_commit.clone();
        let host = self.host.clone();
        let path = self.store.path().to_path_buf();
        let transaction = self
            .store
            .conn_mut()
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .with_context(|| format!("history database {}", path.display()))?;
        transaction.execute(
            "INSERT OR REPLACE INTO runs (campaign, idx, started_at, duration_us, verdict, kind, exit_code,
                signal, timed_out, signature, telling_line, log_path, leaked_pipes, seed)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
            params![
                campaign,
                record.index as i64,
                started_at,
                duration_us(record.duration),
                verdict,
                kind,
                exit_code,
                signal,
                timed_out,
                record.signature.as_ref().map(|s| s.id.clone()),
                telling,
                log_path,
                record.leaked_pipes,
                record.seed.map(|seed| seed as i64),
            ],
        )?;
        if let Some(signature) = &record.signature {
            transaction.execute(
                "INSERT OR IGNORE INTO signatures (id, text, first_seen, example) VALUES (?1, ?2, ?3, ?4)",
                params![signature.id, signature.text, started_at, log_path],
            )?;
            transaction.execute(
                "INSERT INTO sightings (origin, campaign, run, path, format, test, outcome, message, snippet,
                    signature, commit_id, date, platform, source)
                 VALUES ('campaign', ?1, ?2, ?3, 'run', ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
                params![
                    campaign,
                    record.index as i64,
                    log_path,
                    "",
                    kind.unwrap_or("fail"),
                    message,
                    snippet,
                    signature.id,
                    git_commit,
                    started_at,
                    host,
                    format!("flakehunt campaign {campaign}"),
                ],
            )?;
        }
        let failed = i64::from(verdict == "fail");
        transaction.execute(
            "UPDATE campaigns SET runs = runs + 1, failures = failures + ?2 WHERE id = ?1",
            params![campaign, failed],
        )?;
        transaction
            .commit()
            .with_context(|| format!("history database {}", path.display()))
    }
}

impl Sink for StoreSink {
    fn run_finished(&mut self, record: &RunRecord, _tally: &Tally) -> Result<()> {
        if record.verdict == Verdict::Pass {
            self.pending.push(PassRow {
                index: record.index,
                started_at: humantime::format_rfc3339_millis(record.started_at).to_string(),
                duration_us: duration_us(record.duration),
            });
            if self.pending.len() >= PASS_BATCH {
                self.flush()?;
            }
            return Ok(());
        }
        self.write_failure(record)
    }

    fn tick(&mut self, _progress: &Progress, _tally: &Tally) {
        if !self.pending.is_empty() && self.last_flush.elapsed() >= PASS_DELAY {
            // A failed batch stays pending and is retried; the final flush reports errors.
            let _ = self.flush();
        }
    }

    fn finished(&mut self, summary: &Summary) -> Result<()> {
        self.flush()?;
        let json = serde_json::to_string(summary).context("encode summary")?;
        self.store
            .write(|conn| conn.execute(
                "UPDATE campaigns SET ended_at = ?2, runs = ?3, failures = ?4, stop_reason = ?5, summary = ?6
                 WHERE id = ?1",
                params![
                    self.campaign,
                    crate::store::now_rfc3339(),
                    summary.runs as i64,
                    summary.failures as i64,
                    summary.stop_reason,
                    json
                ],
            ))
            .with_context(|| format!("history database {}", self.store.path().display()))?;
        Ok(())
    }
}

fn duration_us(duration: Duration) -> i64 {
    i64::try_from(duration.as_micros()).unwrap_or(i64::MAX)
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

/// Outcome of recording one ingested artifact.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorded {
    /// New: this many sightings were added.
    Added(usize),
    /// The same content was ingested before; nothing added.
    Duplicate,
}

/// True if an artifact with this content hash is already in the store.
pub fn artifact_known(store: &Store, hash: &str) -> Result<bool> {
    let known: Option<i64> = store
        .conn()
        .query_row(
            "SELECT 1 FROM ingested_files WHERE hash = ?1",
            params![hash],
            |row| row.get(0),
        )
        .optional()?;
    Ok(known.is_some())
}

/// Where an ingested artifact came from.
#[derive(Debug, Clone)]
pub struct ArtifactOrigin<'a> {
    /// Content hash (de-duplication key).
    pub hash: &'a str,
    /// File path as given.
    pub path: &'a str,
    /// Detected format.
    pub format: &'a str,
    /// Commit, date, platform and source.
    pub meta: &'a crate::ingest::SourceMeta,
    /// Date used when the artifact has none (RFC 3339).
    pub fallback_date: &'a str,
}

/// Record one artifact's sightings in one transaction (all or nothing).
pub fn record_artifact(
    store: &mut Store,
    origin: &ArtifactOrigin<'_>,
    sightings: &[crate::ingest::Sighting],
) -> Result<Recorded> {
    let path = store.path().to_path_buf();
    let transaction = store
        .conn_mut()
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .with_context(|| format!("history database {}", path.display()))?;
    let inserted = transaction.execute(
        "INSERT OR IGNORE INTO ingested_files (hash, path, format, ingested_at, sightings)
         VALUES (?1, ?2, ?3, ?4, ?5)",
        params![
            origin.hash,
            origin.path,
            origin.format,
            crate::store::now_rfc3339(),
            sightings.len() as i64
        ],
    )?;
    if inserted == 0 {
        return Ok(Recorded::Duplicate);
    }
    let date = origin
        .meta
        .date
        .clone()
        .unwrap_or_else(|| origin.fallback_date.to_string());
    {
        let mut signature = transaction.prepare_cached(
            "INSERT OR IGNORE INTO signatures (id, text, first_seen, example) VALUES (?1, ?2, ?3, ?4)",
        )?;
        let mut sighting = transaction.prepare_cached(
            "INSERT INTO sightings (origin, file_hash, path, format, test, outcome, message, snippet,
                signature, commit_id, date, platform, source)
             VALUES ('ingest', ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
        )?;
        for found in sightings {
            signature.execute(params![
                found.signature.id,
                found.signature.text,
                date,
                origin.path
            ])?;
            sighting.execute(params![
                origin.hash,
                origin.path,
                origin.format,
                found.test,
                found.outcome,
                found.message,
                found.snippet,
                found.signature.id,
                origin.meta.commit,
                date,
                origin.meta.platform,
                origin.meta.source,
            ])?;
        }
    }
    transaction
        .commit()
        .with_context(|| format!("history database {}", path.display()))?;
    Ok(Recorded::Added(sightings.len()))
}
