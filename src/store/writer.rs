//! Writing to the history store: a live campaign's start, its runs (passes in batches, every
//! failure in its own transaction together with the passes before it) and its end; ingested
//! artifacts' sightings. When to write is the caller's policy (`sink::store`).

use std::time::Duration;

use anyhow::{Context, Result};
use rusqlite::{params, OptionalExtension, Transaction, TransactionBehavior};

use crate::analysis::per_test::TestStatus;
use crate::analysis::summary::Summary;
use crate::record::sighting::{Sighting, SourceMeta};
use crate::record::{FinishedRun, Signature};
use crate::store::Store;

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
    pub git: Option<crate::record::provenance::GitState>,
    /// Host name.
    pub host: String,
    /// Output directory.
    pub out_dir: String,
    /// Label and perturbation of each part, when the campaign has parts (a hunt's arms).
    pub parts: Vec<(String, Option<String>)>,
}

/// A passing run waiting to be written.
#[derive(Debug)]
struct PassRow {
    index: u64,
    part: Option<i64>,
    started_at: String,
    duration_us: i64,
    /// The saved log of a pass kept by `--keep-passing`.
    log_path: Option<String>,
    tests: Vec<crate::analysis::per_test::TestOutcome>,
}

/// What a failure's sighting says besides the run row: its message and output snippet,
/// computed by the caller from the saved log.
#[derive(Debug, Clone, Default)]
pub struct FailureText {
    /// The telling line, else the last line of output.
    pub message: String,
    /// The essentials of the output.
    pub snippet: String,
}

/// A campaign being recorded: it owns the store connection and the passes not yet written.
#[derive(Debug)]
pub struct CampaignWriter {
    store: Store,
    campaign: String,
    pending: Vec<PassRow>,
    git_commit: Option<String>,
    host: String,
    /// Whether runs carry a part (the campaign has parts).
    parted: bool,
}

impl CampaignWriter {
    /// Record the campaign's start.
    pub fn start(mut store: Store, info: &CampaignInfo) -> Result<CampaignWriter> {
        let command = serde_json::to_string(&info.command).context("encode command")?;
        store
            .write(|conn| {
                conn.execute(
                    "INSERT INTO campaigns (id, started_at, command, spec, cwd, git_commit, git_dirty, host, out_dir)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                    params![
                        info.id,
                        info.started_at,
                        command,
                        info.spec.to_string(),
                        info.cwd,
                        info.git.as_ref().and_then(|git| git.commit.clone()),
                        info.git.as_ref().map(|git| git.dirty),
                        info.host,
                        info.out_dir,
                    ],
                )?;
                for (index, (label, shake)) in info.parts.iter().enumerate() {
                    conn.execute(
                        "INSERT INTO parts (campaign, idx, label, shake) VALUES (?1, ?2, ?3, ?4)",
                        params![info.id, index as i64, label, shake],
                    )?;
                }
                Ok(())
            })
            .with_context(|| format!("could not record the campaign in {}", store.path().display()))?;
        Ok(CampaignWriter {
            campaign: info.id.clone(),
            pending: Vec::new(),
            git_commit: info.git.as_ref().and_then(|git| git.commit.clone()),
            host: info.host.clone(),
            parted: !info.parts.is_empty(),
            store,
        })
    }

    /// Number of passing runs buffered and not yet written.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    /// Buffer a passing run; it is written by the next [`flush`](Self::flush) or failure.
    pub fn add_pass(&mut self, run: &FinishedRun) {
        let record = &run.record;
        self.pending.push(PassRow {
            index: record.index,
            part: self.part_of(run),
            started_at: humantime::format_rfc3339_millis(record.started_at).to_string(),
            duration_us: duration_us(record.duration),
            log_path: run
                .saved
                .as_ref()
                .map(|saved| saved.log.display().to_string()),
            tests: run.tests.clone(),
        });
    }

    /// The part column of a run: its part in a campaign of parts, else NULL.
    fn part_of(&self, run: &FinishedRun) -> Option<i64> {
        self.parted.then_some(run.record.part as i64)
    }

    /// Write the buffered passes in one transaction.
    pub fn flush(&mut self) -> Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let path = self.store.path().to_path_buf();
        let transaction = self
            .store
            .conn_mut()
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .with_context(|| format!("history database {}", path.display()))?;
        insert_passes(&transaction, &self.campaign, &self.pending)?;
        transaction
            .commit()
            .with_context(|| format!("history database {}", path.display()))?;
        self.pending.clear();
        Ok(())
    }

    /// Write a failed or ignored run, with every buffered pass, in one transaction: the stored
    /// rate never runs ahead of the runs that finished before it.
    pub fn write_failure(&mut self, run: &FinishedRun, text: &FailureText) -> Result<()> {
        let record = &run.record;
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
        let log_path = run
            .saved
            .as_ref()
            .map(|saved| saved.log.display().to_string());
        let started_at = humantime::format_rfc3339_millis(record.started_at).to_string();
        let part = self.part_of(run);
        let campaign = &self.campaign;
        let path = self.store.path().to_path_buf();
        let transaction = self
            .store
            .conn_mut()
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .with_context(|| format!("history database {}", path.display()))?;
        insert_passes(&transaction, campaign, &self.pending)?;
        transaction.execute(
            "INSERT OR REPLACE INTO runs (campaign, idx, started_at, duration_us, verdict, kind, exit_code,
                signal, timed_out, signature, telling_line, log_path, leaked_pipes, seed, part)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
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
                run.signature.as_ref().map(|s| s.id.clone()),
                telling,
                log_path,
                record.leaked_pipes,
                record.seed.map(|seed| seed as i64),
                part,
            ],
        )?;
        crate::store::per_test::insert(
            &transaction,
            campaign,
            record.index,
            &started_at,
            &run.tests,
        )?;
        // A failure blamed on tests is a sighting of each of them, with its own signature.
        let blamed: Vec<(&str, &Signature, Option<&str>)> = run
            .tests
            .iter()
            .filter(|test| test.status == TestStatus::Fail)
            .filter_map(|test| {
                let signature = test.signature.as_ref()?;
                Some((test.name.as_str(), signature, test.message.as_deref()))
            })
            .collect();
        if let Some(signature) = &run.signature {
            transaction.execute(
                "INSERT OR IGNORE INTO signatures (id, text, first_seen, example) VALUES (?1, ?2, ?3, ?4)",
                params![signature.id, signature.text, started_at, log_path],
            )?;
        }
        let run_sighting = run
            .signature
            .as_ref()
            .filter(|_| blamed.is_empty())
            .map(|signature| ("", signature, None));
        for (test, signature, message) in blamed.into_iter().chain(run_sighting) {
            transaction.execute(
                "INSERT INTO sightings (origin, campaign, run, path, format, test, outcome, message, snippet,
                    signature, commit_id, date, platform, source)
                 VALUES ('campaign', ?1, ?2, ?3, 'run', ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
                params![
                    campaign,
                    record.index as i64,
                    log_path,
                    test,
                    kind.unwrap_or("fail"),
                    message.unwrap_or(&text.message),
                    text.snippet,
                    signature.id,
                    self.git_commit,
                    started_at,
                    self.host,
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
            .with_context(|| format!("history database {}", path.display()))?;
        self.pending.clear();
        Ok(())
    }

    /// Write the remaining passes and the campaign's summary.
    pub fn finish(&mut self, summary: &Summary) -> Result<()> {
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

/// Insert passing runs and count them in the campaign row, inside the caller's transaction.
fn insert_passes(transaction: &Transaction<'_>, campaign: &str, rows: &[PassRow]) -> Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let mut insert = transaction.prepare_cached(
        "INSERT OR REPLACE INTO runs (campaign, idx, started_at, duration_us, verdict, timed_out, part,
                log_path)
         VALUES (?1, ?2, ?3, ?4, 'pass', 0, ?5, ?6)",
    )?;
    for row in rows {
        insert.execute(params![
            campaign,
            row.index as i64,
            row.started_at,
            row.duration_us,
            row.part,
            row.log_path
        ])?;
        crate::store::per_test::insert(
            transaction,
            campaign,
            row.index,
            &row.started_at,
            &row.tests,
        )?;
    }
    transaction.execute(
        "UPDATE campaigns SET runs = runs + ?2 WHERE id = ?1",
        params![campaign, rows.len() as i64],
    )?;
    Ok(())
}

fn duration_us(duration: Duration) -> i64 {
    i64::try_from(duration.as_micros()).unwrap_or(i64::MAX)
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
    pub meta: &'a SourceMeta,
    /// Date used when the artifact has none (RFC 3339).
    pub fallback_date: &'a str,
}

/// Record one artifact's sightings in one transaction (all or nothing).
pub fn record_artifact(
    store: &mut Store,
    origin: &ArtifactOrigin<'_>,
    sightings: &[Sighting],
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

/// Give the sightings of an already ingested artifact (by content hash) the commit, date,
/// platform and source of `meta`, field by field: a field `meta` leaves unset keeps its value.
/// Returns how many sightings changed (0 when they already had these values). The signatures'
/// first-seen dates follow the corrected dates. One transaction.
pub fn update_artifact_meta(store: &mut Store, hash: &str, meta: &SourceMeta) -> Result<usize> {
    let path = store.path().to_path_buf();
    let transaction = store
        .conn_mut()
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .with_context(|| format!("history database {}", path.display()))?;
    let changed = transaction.execute(
        "UPDATE sightings SET commit_id = COALESCE(?2, commit_id), date = COALESCE(?3, date),
                platform = COALESCE(?4, platform), source = COALESCE(?5, source)
         WHERE origin = 'ingest' AND file_hash = ?1
           AND (commit_id IS NOT COALESCE(?2, commit_id) OR date IS NOT COALESCE(?3, date)
                OR platform IS NOT COALESCE(?4, platform) OR source IS NOT COALESCE(?5, source))",
        params![hash, meta.commit, meta.date, meta.platform, meta.source],
    )?;
    if changed > 0 && meta.date.is_some() {
        transaction.execute(
            "UPDATE signatures SET first_seen = COALESCE(
                 (SELECT MIN(date) FROM sightings WHERE signature = signatures.id), first_seen)
             WHERE id IN (SELECT signature FROM sightings WHERE file_hash = ?1)",
            params![hash],
        )?;
    }
    transaction
        .commit()
        .with_context(|| format!("history database {}", path.display()))?;
    Ok(changed)
}
