//! Reading campaigns back: listing, resolving ids (`last`, unique prefixes), summaries (stored,
//! or rebuilt from the run rows of a campaign that was killed before it could write one), and
//! single runs.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use rusqlite::{params, OptionalExtension};

use crate::analysis::signature::Signature;
use crate::analysis::summary::{Observation, Summary, SummaryContext, Tally};
use crate::record::{FailureKind, Verdict};
use crate::store::Store;

/// One campaign as listed by `flakehunt history`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CampaignRow {
    /// Campaign id.
    pub id: String,
    /// Start time (RFC 3339).
    pub started_at: String,
    /// End time, if it ended cleanly.
    pub ended_at: Option<String>,
    /// The command.
    pub command: Vec<String>,
    /// Runs recorded.
    pub runs: u64,
    /// Failures recorded.
    pub failures: u64,
    /// Git commit of the working directory.
    pub git_commit: Option<String>,
    /// Whether the tree was dirty.
    pub git_dirty: Option<bool>,
    /// Host.
    pub host: Option<String>,
    /// Output directory.
    pub out_dir: Option<String>,
    /// Why it stopped.
    pub stop_reason: Option<String>,
    /// The command that ran it: `run`, `suite` (a run read test by test), `verify`, `hunt`,
    /// `window`, `bisect` or `demo`.
    pub kind: String,
    /// The campaign it repeats (`flakehunt rerun`).
    pub rerun_of: Option<String>,
    /// Its perturbation: the `--shake`, or its parts' (`3 arms` when they differ).
    pub shake: Option<String>,
    #[serde(skip)]
    summary: Option<String>,
}

#[cfg(test)]
impl CampaignRow {
    /// A row with only an id and a start time, for views' tests (the stored summary is private).
    pub(crate) fn fixed(id: &str, started_at: &str) -> CampaignRow {
        CampaignRow {
            id: id.into(),
            started_at: started_at.into(),
            ended_at: None,
            command: Vec::new(),
            runs: 0,
            failures: 0,
            git_commit: None,
            git_dirty: None,
            host: None,
            out_dir: None,
            stop_reason: None,
            kind: "run".into(),
            rerun_of: None,
            shake: None,
            summary: None,
        }
    }
}

/// The columns [`campaign_from_row`] reads. A campaign recorded before its spec named its
/// kind is recognised by the tables its command fills.
const CAMPAIGN_COLUMNS: &str = "id, started_at, ended_at, command, runs, failures, git_commit, \
    git_dirty, host, out_dir, stop_reason, summary, spec, \
    CASE WHEN EXISTS (SELECT 1 FROM hunts h WHERE h.campaign = campaigns.id) THEN 'hunt' \
         WHEN EXISTS (SELECT 1 FROM windows w WHERE w.id = campaigns.id) THEN 'window' \
         WHEN EXISTS (SELECT 1 FROM bisect_probes b WHERE b.campaign = campaigns.id) \
         THEN 'bisect' END";

fn campaign_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<CampaignRow> {
    let command: String = row.get(3)?;
    Ok(CampaignRow {
        id: row.get(0)?,
        started_at: row.get(1)?,
        ended_at: row.get(2)?,
        command: serde_json::from_str(&command).unwrap_or_else(|_| vec![command]),
        runs: row.get::<_, i64>(4)?.max(0) as u64,
        failures: row.get::<_, i64>(5)?.max(0) as u64,
        git_commit: row.get(6)?,
        git_dirty: row.get(7)?,
        host: row.get(8)?,
        out_dir: row.get(9)?,
        stop_reason: row.get(10)?,
        summary: row.get(11)?,
        kind: String::new(),
        rerun_of: None,
        shake: None,
    }
    .with_spec(&row.get::<_, String>(12)?, row.get(13)?))
}

impl CampaignRow {
    /// Kind, link and perturbation from the stored spec (`found`: the kind the tables show).
    fn with_spec(mut self, spec: &str, found: Option<String>) -> CampaignRow {
        let spec: serde_json::Value = serde_json::from_str(spec).unwrap_or_default();
        let text = |key: &str| spec.get(key).and_then(|v| v.as_str()).map(str::to_string);
        let kind = text("kind").or(found).unwrap_or_else(|| "run".into());
        self.kind = if kind == "run" && !spec["suite"].is_null() {
            "suite".into()
        } else {
            kind
        };
        self.rerun_of = text("rerun_of");
        self.shake = text("shake").or_else(|| parts_shake(&spec));
        self
    }
}

/// A campaign of parts: their one shake (a window's phases share it), or how many arms there
/// are when their shakes differ (a hunt's).
fn parts_shake(spec: &serde_json::Value) -> Option<String> {
    let parts = spec.get("parts")?.as_array()?;
    let mut shakes: Vec<Option<&str>> = parts
        .iter()
        .map(|part| part.get("shake").and_then(|v| v.as_str()))
        .collect();
    shakes.sort_unstable();
    shakes.dedup();
    match shakes.as_slice() {
        [one] => one.map(str::to_string),
        _ => Some(format!("{} arms", parts.len())),
    }
}

/// Campaigns, newest first.
pub fn list_campaigns(store: &Store, limit: usize) -> Result<Vec<CampaignRow>> {
    let mut statement = store.conn().prepare(&format!(
        "SELECT {CAMPAIGN_COLUMNS} FROM campaigns ORDER BY started_at DESC, id DESC LIMIT ?1"
    ))?;
    let rows = statement
        .query_map(params![limit as i64], campaign_from_row)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows)
}

/// Turn `last`, a full id or a unique prefix into a campaign id.
pub fn resolve_campaign(store: &Store, wanted: &str) -> Result<String> {
    if wanted == "last" {
        return store
            .conn()
            .query_row(
                "SELECT id FROM campaigns ORDER BY started_at DESC, id DESC LIMIT 1",
                [],
                |row| row.get(0),
            )
            .optional()?
            .context("the history has no campaigns yet");
    }
    let escaped = wanted
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    let mut statement = store.conn().prepare(
        "SELECT id FROM campaigns WHERE id LIKE ?1 || '%' ESCAPE '\\' ORDER BY started_at DESC LIMIT 6",
    )?;
    let matches = statement
        .query_map(params![escaped], |row| row.get::<_, String>(0))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    if let Some(exact) = matches.iter().find(|id| *id == wanted) {
        return Ok(exact.clone());
    }
    match matches.len() {
        0 => bail!("no campaign matches '{wanted}' (see `flakehunt history`)"),
        1 => Ok(matches[0].clone()),
        _ => bail!(
            "'{wanted}' matches several campaigns ({}{}); give more of the id",
            matches[..matches.len().min(5)].join(", "),
            if matches.len() > 5 { ", ..." } else { "" }
        ),
    }
}

/// One campaign row.
pub fn campaign(store: &Store, id: &str) -> Result<CampaignRow> {
    store
        .conn()
        .query_row(
            &format!("SELECT {CAMPAIGN_COLUMNS} FROM campaigns WHERE id = ?1"),
            params![id],
            campaign_from_row,
        )
        .optional()?
        .with_context(|| format!("no campaign '{id}'"))
}

/// What shaped a campaign, as one JSON object: the recorded spec (its options) with the
/// `command`, the working directory (`cwd`, where the runs really ran) and the `host` added.
pub fn campaign_spec(store: &Store, id: &str) -> Result<serde_json::Value> {
    let (spec, command, cwd, host): (String, String, Option<String>, Option<String>) = store
        .conn()
        .query_row(
            "SELECT spec, command, cwd, host FROM campaigns WHERE id = ?1",
            params![id],
            |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?)),
        )
        .optional()?
        .with_context(|| format!("no campaign '{id}'"))?;
    let mut object = match serde_json::from_str::<serde_json::Value>(&spec) {
        Ok(serde_json::Value::Object(object)) => object,
        _ => serde_json::Map::new(),
    };
    let command = serde_json::from_str(&command).unwrap_or(serde_json::Value::String(command));
    object.insert("command".into(), command);
    object.insert("cwd".into(), cwd.into());
    object.insert("host".into(), host.into());
    Ok(serde_json::Value::Object(object))
}

/// The campaign's summary: as written at its end, or rebuilt from its runs if it never ended.
pub fn summary(store: &Store, id: &str) -> Result<Summary> {
    let row = campaign(store, id)?;
    if let Some(json) = &row.summary {
        if let Ok(summary) = serde_json::from_str::<Summary>(json) {
            return Ok(summary);
        }
    }
    rebuild_summary(store, &row)
}

fn rebuild_summary(store: &Store, row: &CampaignRow) -> Result<Summary> {
    let mut statement = store.conn().prepare(
        "SELECT r.idx, r.duration_us, r.verdict, r.kind, r.signature, s.text, r.log_path, r.telling_line,
                r.leaked_pipes, r.started_at
         FROM runs r LEFT JOIN signatures s ON s.id = r.signature
         WHERE r.campaign = ?1 ORDER BY r.idx",
    )?;
    let mut rows = statement.query(params![row.id])?;
    let mut tally = Tally::new();
    let mut last_start = row.started_at.clone();
    while let Some(run) = rows.next()? {
        let index: i64 = run.get(0)?;
        let duration: i64 = run.get(1)?;
        let verdict: String = run.get(2)?;
        let kind: Option<String> = run.get(3)?;
        let signature_id: Option<String> = run.get(4)?;
        let signature_text: Option<String> = run.get(5)?;
        let log: Option<String> = run.get(6)?;
        let telling: Option<String> = run.get(7)?;
        let leaked: bool = run.get(8)?;
        let started: String = run.get(9)?;
        if started > last_start {
            last_start = started;
        }
        let kind = kind
            .as_deref()
            .and_then(FailureKind::parse)
            .unwrap_or(FailureKind::Exit);
        let verdict = match verdict.as_str() {
            "fail" => Verdict::Fail(kind),
            "ignored" => Verdict::Ignored(kind),
            _ => Verdict::Pass,
        };
        let signature = signature_id.map(|id| Signature {
            text: signature_text.unwrap_or_else(|| id.clone()),
            id,
        });
        let log = log.map(PathBuf::from);
        tally.observe(&Observation {
            index: index.max(0) as u64,
            duration: Duration::from_micros(duration.max(0) as u64),
            verdict,
            signature: signature.as_ref(),
            example: log.as_deref(),
            example_line: telling.as_deref().map(str::as_bytes),
            leaked_pipes: leaked,
            kept_pid: None,
        });
    }
    let elapsed = elapsed_between(&row.started_at, &last_start);
    Ok(tally.summary(SummaryContext {
        campaign: row.id.clone(),
        command: row.command.clone(),
        started_at: row.started_at.clone(),
        elapsed,
        stop_reason: row.stop_reason.clone().unwrap_or_else(|| {
            "never finished (flakehunt was killed); rebuilt from the history".into()
        }),
        interrupted: row.ended_at.is_none(),
        cancelled: 0,
        out_dir: row.out_dir.clone().map(PathBuf::from).unwrap_or_default(),
        still_kept: Vec::new(),
    }))
}

fn elapsed_between(start: &str, end: &str) -> Duration {
    match (
        humantime::parse_rfc3339_weak(start),
        humantime::parse_rfc3339_weak(end),
    ) {
        (Ok(start), Ok(end)) => end.duration_since(start).unwrap_or_default(),
        _ => Duration::ZERO,
    }
}

/// A recorded run, as `flakehunt log` needs it.
#[derive(Debug, Clone)]
pub struct RunRow {
    /// pass | fail | ignored.
    pub verdict: String,
    /// Saved log, if the output was kept.
    pub log_path: Option<PathBuf>,
    /// Signature id.
    pub signature: Option<String>,
}

/// One run of a campaign.
pub fn run(store: &Store, campaign: &str, index: u64) -> Result<RunRow> {
    store
        .conn()
        .query_row(
            "SELECT verdict, log_path, signature FROM runs WHERE campaign = ?1 AND idx = ?2",
            params![campaign, index as i64],
            |row| {
                Ok(RunRow {
                    verdict: row.get(0)?,
                    log_path: row.get::<_, Option<String>>(1)?.map(PathBuf::from),
                    signature: row.get(2)?,
                })
            },
        )
        .optional()?
        .with_context(|| missing_run(store, campaign, index))
}

/// How many campaigns the history holds, and how many of them recorded per-test results.
pub fn campaigns_with_test_results(store: &Store) -> Result<(u64, u64)> {
    store
        .conn()
        .query_row(
            "SELECT (SELECT count(*) FROM campaigns),
                    (SELECT count(DISTINCT campaign) FROM test_results)",
            [],
            |row| Ok((row.get::<_, i64>(0)?, row.get::<_, i64>(1)?)),
        )
        .map(|(all, tested)| (all.max(0) as u64, tested.max(0) as u64))
        .context("cannot count the campaigns")
}

/// Failing runs named by [`missing_run`] before it shortens the list.
const MISSING_RUN_LISTED: usize = 12;

/// Why `flakehunt log` cannot show run `index` of `campaign`, naming the runs it can show.
fn missing_run(store: &Store, campaign: &str, index: u64) -> String {
    let conn = store.conn();
    let range: rusqlite::Result<(Option<i64>, Option<i64>, i64)> = conn.query_row(
        "SELECT min(idx), max(idx), count(*) FROM runs WHERE campaign = ?1",
        params![campaign],
        |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
    );
    let failures: rusqlite::Result<Vec<i64>> = conn
        .prepare("SELECT idx FROM runs WHERE campaign = ?1 AND verdict = 'fail' ORDER BY idx")
        .and_then(|mut statement| {
            statement
                .query_map(params![campaign], |row| row.get(0))?
                .collect()
        });
    let mut message = format!("campaign {campaign} has no run {index}");
    let (Ok((Some(first), Some(last), count)), Ok(failures)) = (range, failures) else {
        message.push_str(": it recorded no runs");
        return message;
    };
    let runs = if first == last {
        format!("run {first}")
    } else if count == last - first + 1 {
        format!("runs {first}-{last}")
    } else {
        format!("{count} runs between {first} and {last}")
    };
    message.push_str(&format!("; it recorded {runs}"));
    if failures.is_empty() {
        message.push_str(", none of which failed");
    } else {
        let listed: Vec<String> = failures
            .iter()
            .take(MISSING_RUN_LISTED)
            .map(i64::to_string)
            .collect();
        let more = failures.len().saturating_sub(MISSING_RUN_LISTED);
        let more = if more > 0 {
            format!(" and {more} more")
        } else {
            String::new()
        };
        let plural = if failures.len() == 1 { "" } else { "s" };
        message.push_str(&format!(
            ", with failures at run{plural} {}{more}",
            listed.join(", ")
        ));
    }
    message.push_str("; passing runs' output is kept only with --keep-passing");
    message
}

/// The best arm of the most recent `flakehunt hunt`.
pub fn best_shake(store: &Store) -> Result<String> {
    store
        .conn()
        .query_row(
            "SELECT best FROM hunts ORDER BY created_at DESC, id DESC LIMIT 1",
            [],
            |row| row.get(0),
        )
        .optional()?
        .context("no `flakehunt hunt` recorded yet, so there is no best shake; run one first")
}
