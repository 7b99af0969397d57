//! What a report shows, read back from the history: which campaigns a report covers (one
//! campaign, or the campaigns of a window sweep or a hunt), their facts and totals, the failure
//! clusters with one saved example each, the run series for the charts, a suite's tests, and
//! the sweep's map, the hunt's arms or the bisection's probes. Reading only: nothing is written.

pub mod bisect;
mod files;
pub mod suite;
#[cfg(test)]
pub(crate) mod testing;

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::SystemTime;

use anyhow::{bail, Context, Result};
use rusqlite::{params, OptionalExtension};
use serde::Serialize;

pub use files::{Captured, EXAMPLE_HEAD, EXAMPLE_TAIL};

use crate::analysis::hunt::ArmResult;
use crate::analysis::series::{RunPoint, RunSeries, SeriesBuilder, SeriesExtent};
use crate::analysis::stats::{clopper_pearson, upper_bound, Interval};
use crate::analysis::summary::{Summary, CONFIDENCE};
use crate::analysis::window::WindowMap;
use crate::store::query::{self, CampaignRow};
use crate::store::search::{Period, SearchQuery, SearchResult, Triage};
use crate::store::Store;

/// Clusters whose example output is embedded in full (the rest show their telling line).
pub const MAX_EXAMPLES: usize = 20;
/// Failed runs listed one by one.
pub const MAX_FAILED_RUNS: usize = 1_000;

/// What a report is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", content = "id", rename_all = "kebab-case")]
pub enum Subject {
    /// One campaign.
    Campaign(String),
    /// A window sweep, by its id (its first campaign).
    Window(String),
    /// A hunt, by its number (0: a hunt reported as it ended, not recorded).
    Hunt(i64),
    /// A bisection, by its number.
    Bisect(i64),
}

impl Subject {
    /// A short name for file names and titles: the campaign or window id, `hunt-N` or
    /// `bisect-N`.
    pub fn label(&self) -> String {
        match self {
            Subject::Campaign(id) | Subject::Window(id) => id.clone(),
            Subject::Hunt(id) => format!("hunt-{id}"),
            Subject::Bisect(id) => format!("bisect-{id}"),
        }
    }
}

/// Resolve what the user named: `last` (the newest campaign), a campaign id or unique prefix,
/// `hunt:N`, `hunt:last`, `bisect:N` or `bisect:last`. The campaign a window sweep or a
/// recorded hunt ran as, or a bisection's probe, stands for the whole sweep, hunt or bisection.
pub fn resolve(store: &Store, wanted: &str) -> Result<Subject> {
    if let Some(hunt) = wanted.strip_prefix("hunt:") {
        return resolve_hunt(store, hunt);
    }
    if let Some(bisection) = wanted.strip_prefix("bisect:") {
        return Ok(Subject::Bisect(bisect::resolve(store, bisection)?));
    }
    let campaign = query::resolve_campaign(store, wanted)?;
    if let Some(window) = window_of(store, &campaign)? {
        return Ok(Subject::Window(window));
    }
    if let Some(bisection) = bisect::of_campaign(store, &campaign)? {
        return Ok(Subject::Bisect(bisection));
    }
    let hunt: Option<i64> = store
        .conn()
        .query_row(
            "SELECT hunt FROM hunt_campaigns WHERE campaign = ?1 ORDER BY hunt DESC LIMIT 1",
            params![campaign],
            |row| row.get(0),
        )
        .optional()?;
    Ok(match hunt {
        Some(hunt) => Subject::Hunt(hunt),
        None => Subject::Campaign(campaign),
    })
}

fn resolve_hunt(store: &Store, wanted: &str) -> Result<Subject> {
    let found: Option<i64> = if wanted == "last" {
        store
            .conn()
            .query_row(
                "SELECT id FROM hunts ORDER BY created_at DESC, id DESC LIMIT 1",
                [],
                |row| row.get(0),
            )
            .optional()?
    } else {
        let Ok(number) = wanted.parse::<i64>() else {
            bail!("'hunt:{wanted}' names no hunt; write hunt:last or hunt:N with N a number");
        };
        store
            .conn()
            .query_row("SELECT id FROM hunts WHERE id = ?1", [number], |row| {
                row.get(0)
            })
            .optional()?
    };
    found.map(Subject::Hunt).with_context(|| {
        format!("no recorded hunt '{wanted}' (a hunt is recorded once one of its arms failed)")
    })
}

/// The window sweep `campaign` was a phase of, if any.
fn window_of(store: &Store, campaign: &str) -> Result<Option<String>> {
    let mut statement = store
        .conn()
        .prepare("SELECT id, campaigns FROM windows ORDER BY created_at DESC")?;
    let mut rows = statement.query([])?;
    while let Some(row) = rows.next()? {
        let id: String = row.get(0)?;
        let campaigns: String = row.get(1)?;
        let campaigns: Vec<String> = serde_json::from_str(&campaigns).unwrap_or_default();
        if id == campaign || campaigns.iter().any(|c| c == campaign) {
            return Ok(Some(id));
        }
    }
    Ok(None)
}

/// One campaign of the report.
#[derive(Debug, Clone, Serialize)]
pub struct CampaignFacts {
    /// The row: id, times, command, provenance, output directory, stop reason.
    pub row: CampaignRow,
    /// Its summary (stored, or rebuilt from its runs).
    pub summary: Summary,
    /// Working directory of its runs.
    pub cwd: Option<String>,
    /// The options that shaped it.
    pub spec: serde_json::Value,
    /// The hunt arm it ran for, in a hunt's report.
    pub arm: Option<String>,
}

impl CampaignFacts {
    /// The campaign's shake, if it had one.
    pub fn shake(&self) -> Option<&str> {
        self.spec.get("shake").and_then(|shake| shake.as_str())
    }
}

/// Counts over every campaign of the report.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Totals {
    /// Finished runs.
    pub runs: u64,
    /// Passing runs.
    pub passes: u64,
    /// Failing runs.
    pub failures: u64,
    /// Failing runs that timed out.
    pub timeouts: u64,
    /// Failures matching `--ignore`.
    pub ignored: u64,
    /// Runs cut short at a stop.
    pub cancelled: u64,
    /// Failure rate with its exact interval.
    pub rate: Interval,
    /// One-sided upper bound of the rate.
    pub rate_upper_bound: f64,
    /// Confidence of the interval and bound.
    pub confidence: f64,
    /// Wall time over all campaigns, seconds.
    pub elapsed_s: f64,
}

/// A run, named.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RunRef {
    /// Its campaign.
    pub campaign: String,
    /// Its index within the campaign.
    pub run: u64,
    /// Its position among all the report's runs.
    pub seq: u64,
    /// Its start (RFC 3339).
    pub started_at: String,
}

/// One failure cluster.
#[derive(Debug, Clone, Serialize)]
pub struct Cluster {
    /// Signature id.
    pub id: String,
    /// Signature text.
    pub text: String,
    /// Failure kind of its first run.
    pub kind: String,
    /// These runs matched `--ignore`.
    pub ignored: bool,
    /// Runs with it.
    pub count: u64,
    /// Its first run.
    pub first: RunRef,
    /// Its last run.
    pub last: RunRef,
    /// One example.
    pub example: Option<Example>,
}

/// A cluster's example: its first run with saved output.
#[derive(Debug, Clone, Serialize)]
pub struct Example {
    /// The run.
    pub run: RunRef,
    /// Its saved log.
    pub log: PathBuf,
    /// Its telling line, as recorded.
    pub telling_line: Option<String>,
    /// The log's bytes (head and tail when long), unless not loaded or unreadable.
    pub output: Option<Captured>,
    /// Why the output is missing, when it is.
    pub missing: Option<String>,
    /// Files saved beside the log (stacks, backtraces, stream maps excluded).
    pub attachments: Vec<Attachment>,
}

/// A file saved beside a run's log.
#[derive(Debug, Clone, Serialize)]
pub struct Attachment {
    /// File name.
    pub name: String,
    /// Its bytes (head and tail when long).
    pub content: Captured,
}

/// One failed (or ignored) run.
#[derive(Debug, Clone, Serialize)]
pub struct FailedRun {
    /// The run.
    pub run: RunRef,
    /// Duration, seconds.
    pub duration_s: f64,
    /// fail | ignored.
    pub verdict: String,
    /// Failure kind.
    pub kind: Option<String>,
    /// Exit code.
    pub exit_code: Option<i64>,
    /// Signal name.
    pub signal: Option<String>,
    /// Index of its cluster.
    pub cluster: Option<usize>,
    /// Saved log.
    pub log: Option<PathBuf>,
}

/// A recorded window sweep.
#[derive(Debug, Clone, Serialize)]
pub struct WindowRecord {
    /// Its id (the first campaign).
    pub id: String,
    /// When it was recorded.
    pub created_at: String,
    /// The sweep as given.
    pub sweep: String,
    /// The map.
    pub map: WindowMap,
}

/// A recorded hunt.
#[derive(Debug, Clone, Serialize)]
pub struct HuntRecord {
    /// Its number (`hunt:N`).
    pub id: i64,
    /// When it was recorded.
    pub created_at: String,
    /// The command hunted.
    pub command: Vec<String>,
    /// The best arm.
    pub best: Option<String>,
    /// Every arm.
    pub arms: Vec<ArmResult>,
}

/// Everything a campaign, sweep or hunt report shows.
#[derive(Debug, Clone, Serialize)]
pub struct ReportData {
    /// What the report is about.
    pub subject: Subject,
    /// The campaigns, oldest first.
    pub campaigns: Vec<CampaignFacts>,
    /// Counts over them.
    pub totals: Totals,
    /// Failure clusters, most frequent first, ignored ones last.
    pub clusters: Vec<Cluster>,
    /// The run series for the charts.
    pub series: RunSeries,
    /// Failed and ignored runs, up to [`MAX_FAILED_RUNS`].
    pub failed_runs: Vec<FailedRun>,
    /// Failed and ignored runs not listed.
    pub failed_runs_left_out: u64,
    /// The sweep, for a window report.
    pub window: Option<WindowRecord>,
    /// The hunt, for a hunt report.
    pub hunt: Option<HuntRecord>,
    /// The bisection, for a bisection report.
    pub bisect: Option<bisect::BisectData>,
    /// Every test of a suite (or test target) campaign, highest failure rate first.
    pub tests: Vec<crate::analysis::per_test::TestRow>,
    /// Failed runs of a suite in which no test failed, by signature.
    pub outside_tests: Vec<suite::OutsideFailure>,
    /// A verdict on the campaign, when the command that ran it reached one (e.g. `verify`).
    pub verdict: Option<String>,
}

impl ReportData {
    /// A suite campaign (or campaigns whose runs ran more than one test): its report lists
    /// every test.
    pub fn is_suite(&self) -> bool {
        let suite = self
            .campaigns
            .iter()
            .any(|c| c.spec.get("suite").is_some_and(|s| !s.is_null()));
        !self.tests.is_empty() && (suite || self.tests.len() > 1)
    }
}

/// Load what the report on `subject` shows.
pub fn load(store: &Store, subject: &Subject) -> Result<ReportData> {
    match subject {
        Subject::Campaign(id) => {
            assemble(store, subject, vec![id.clone()], None, None, HashMap::new())
        }
        Subject::Window(id) => {
            let window = load_window(store, id)?;
            let ids = window_campaigns(store, id)?;
            assemble(store, subject, ids, Some(window), None, HashMap::new())
        }
        Subject::Hunt(id) => {
            let (hunt, arms) = load_hunt(store, *id)?;
            let ids = arms.keys().cloned().collect();
            assemble(store, subject, ids, None, Some(hunt), arms)
        }
        Subject::Bisect(id) => {
            let bisection = bisect::load(store, *id)?;
            let ids = bisection.campaigns();
            let mut data = assemble(store, subject, ids, None, None, HashMap::new())?;
            data.bisect = Some(bisection);
            Ok(data)
        }
    }
}

/// The report of a hunt that was not recorded (no arm failed): its outcome as `hunt`, and the
/// campaigns it ran with their arms.
pub fn load_unrecorded_hunt(
    store: &Store,
    hunt: HuntRecord,
    campaigns: &[(String, String)],
) -> Result<ReportData> {
    let arms: HashMap<String, String> = campaigns.iter().cloned().collect();
    let ids = campaigns.iter().map(|(id, _)| id.clone()).collect();
    assemble(store, &Subject::Hunt(hunt.id), ids, None, Some(hunt), arms)
}

fn assemble(
    store: &Store,
    subject: &Subject,
    ids: Vec<String>,
    window: Option<WindowRecord>,
    hunt: Option<HuntRecord>,
    arms: HashMap<String, String>,
) -> Result<ReportData> {
    let mut campaigns = Vec::new();
    for id in ids {
        // A sweep or hunt whose campaign rows are gone (another history) is shown without them.
        let Ok(row) = query::campaign(store, &id) else {
            continue;
        };
        let summary = query::summary(store, &id)?;
        let (cwd, spec) = campaign_extra(store, &id)?;
        let arm = arms.get(&id).cloned();
        campaigns.push(CampaignFacts {
            row,
            summary,
            cwd,
            spec,
            arm,
        });
    }
    campaigns.sort_by(|a, b| a.row.started_at.cmp(&b.row.started_at));
    let runs = scan_runs(store, &campaigns)?;
    let tests = suite::tests(store, &campaigns)?;
    let outside_tests = if tests.is_empty() {
        Vec::new()
    } else {
        suite::outside_tests(store, &campaigns)?
    };
    Ok(ReportData {
        subject: subject.clone(),
        totals: totals(&campaigns),
        clusters: runs.clusters,
        series: runs.series,
        failed_runs: runs.failed_runs,
        failed_runs_left_out: runs.failed_runs_left_out,
        campaigns,
        window,
        hunt,
        bisect: None,
        tests,
        outside_tests,
        verdict: None,
    })
}

fn campaign_extra(store: &Store, id: &str) -> Result<(Option<String>, serde_json::Value)> {
    let (cwd, spec): (Option<String>, String) = store.conn().query_row(
        "SELECT cwd, spec FROM campaigns WHERE id = ?1",
        params![id],
        |row| Ok((row.get(0)?, row.get(1)?)),
    )?;
    Ok((cwd, serde_json::from_str(&spec).unwrap_or_default()))
}

fn load_window(store: &Store, id: &str) -> Result<WindowRecord> {
    let (created_at, sweep, result): (String, String, String) = store
        .conn()
        .query_row(
            "SELECT created_at, sweep, result FROM windows WHERE id = ?1",
            params![id],
            |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
        )
        .with_context(|| format!("no window sweep '{id}'"))?;
    let map = serde_json::from_str(&result)
        .with_context(|| format!("the stored map of window sweep '{id}' is not readable"))?;
    Ok(WindowRecord {
        id: id.to_string(),
        created_at,
        sweep,
        map,
    })
}

fn window_campaigns(store: &Store, id: &str) -> Result<Vec<String>> {
    let campaigns: String = store.conn().query_row(
        "SELECT campaigns FROM windows WHERE id = ?1",
        params![id],
        |row| row.get(0),
    )?;
    Ok(serde_json::from_str(&campaigns).unwrap_or_else(|_| vec![id.to_string()]))
}

fn load_hunt(store: &Store, id: i64) -> Result<(HuntRecord, HashMap<String, String>)> {
    let (created_at, command, best, result): (String, String, String, String) = store
        .conn()
        .query_row(
            "SELECT created_at, command, best, result FROM hunts WHERE id = ?1",
            [id],
            |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?)),
        )
        .with_context(|| format!("no recorded hunt {id}"))?;
    let arms: Vec<ArmResult> = serde_json::from_str(&result)
        .with_context(|| format!("the stored arms of hunt {id} are not readable"))?;
    let mut statement = store
        .conn()
        .prepare("SELECT campaign, arm FROM hunt_campaigns WHERE hunt = ?1")?;
    let campaigns = statement
        .query_map([id], |row| Ok((row.get(0)?, row.get(1)?)))?
        .collect::<rusqlite::Result<HashMap<String, String>>>()?;
    let hunt = HuntRecord {
        id,
        created_at,
        command: serde_json::from_str(&command).unwrap_or_else(|_| vec![command]),
        best: (!best.is_empty()).then_some(best),
        arms,
    };
    Ok((hunt, campaigns))
}

/// Totals over campaigns; one campaign's are its summary's.
fn totals(campaigns: &[CampaignFacts]) -> Totals {
    let sum = |field: fn(&Summary) -> u64| campaigns.iter().map(|c| field(&c.summary)).sum();
    let runs: u64 = sum(|s| s.runs);
    let failures: u64 = sum(|s| s.failures);
    Totals {
        runs,
        passes: sum(|s| s.passes),
        failures,
        timeouts: sum(|s| s.timeouts),
        ignored: sum(|s| s.ignored),
        cancelled: sum(|s| s.cancelled),
        rate: clopper_pearson(failures, runs, CONFIDENCE),
        rate_upper_bound: upper_bound(failures, runs, CONFIDENCE),
        confidence: CONFIDENCE,
        elapsed_s: campaigns.iter().map(|c| c.summary.elapsed_s).sum(),
    }
}

/// What one pass over the run rows yields.
struct Scanned {
    clusters: Vec<Cluster>,
    series: RunSeries,
    failed_runs: Vec<FailedRun>,
    failed_runs_left_out: u64,
}

/// An RFC 3339 time (with or without a zone), if it parses.
fn time_of(time: &str) -> Option<SystemTime> {
    humantime::parse_rfc3339_weak(time.trim_end_matches('Z')).ok()
}

/// Seconds from `from` to `to`, 0 when `to` is earlier.
fn seconds_between(from: SystemTime, to: SystemTime) -> f64 {
    to.duration_since(from).map_or(0.0, |d| d.as_secs_f64())
}

/// The SQL list `?1, ?2, ...` for `n` values.
fn placeholders(n: usize) -> String {
    (1..=n)
        .map(|i| format!("?{i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn extent(store: &Store, ids: &[String]) -> Result<(SeriesExtent, Option<SystemTime>)> {
    let sql = format!(
        "SELECT COUNT(*), MIN(started_at), MAX(started_at), MIN(duration_us), MAX(duration_us)
         FROM runs WHERE campaign IN ({})",
        placeholders(ids.len())
    );
    let (count, first, last, shortest, longest): (
        i64,
        Option<String>,
        Option<String>,
        Option<i64>,
        Option<i64>,
    ) = store
        .conn()
        .query_row(&sql, rusqlite::params_from_iter(ids), |row| {
            Ok((
                row.get(0)?,
                row.get(1)?,
                row.get(2)?,
                row.get(3)?,
                row.get(4)?,
            ))
        })?;
    let first = first.as_deref().and_then(time_of);
    let last = last.as_deref().and_then(time_of);
    let span_s = match (first, last) {
        (Some(first), Some(last)) => seconds_between(first, last),
        _ => 0.0,
    };
    Ok((
        SeriesExtent {
            runs: count.max(0) as u64,
            span_s,
            min_duration_s: shortest.unwrap_or(0).max(0) as f64 / 1e6,
            max_duration_s: longest.unwrap_or(0).max(0) as f64 / 1e6,
        },
        first,
    ))
}

/// A cluster while the runs stream by.
struct Growing {
    cluster: Cluster,
    example_log: Option<(RunRef, PathBuf, Option<String>)>,
}

/// One pass over every run of the campaigns, in start order: series, clusters, failed runs.
fn scan_runs(store: &Store, campaigns: &[CampaignFacts]) -> Result<Scanned> {
    let ids: Vec<String> = campaigns.iter().map(|c| c.row.id.clone()).collect();
    if ids.is_empty() {
        return Ok(Scanned {
            clusters: Vec::new(),
            series: SeriesBuilder::new(SeriesExtent {
                runs: 0,
                span_s: 0.0,
                min_duration_s: 0.0,
                max_duration_s: 0.0,
            })
            .finish(),
            failed_runs: Vec::new(),
            failed_runs_left_out: 0,
        });
    }
    let (extent, first_start) = extent(store, &ids)?;
    let mut builder = SeriesBuilder::new(extent);
    // Campaigns one after another in start order, runs in index order within each.
    let sql = "SELECT r.campaign, r.idx, r.started_at, r.duration_us, r.verdict, r.kind,
                      r.exit_code, r.signal, r.signature, s.text, r.log_path, r.telling_line
               FROM runs r LEFT JOIN signatures s ON s.id = r.signature
               WHERE r.campaign = ?1 ORDER BY r.idx";
    let mut clusters: Vec<Growing> = Vec::new();
    let mut by_id: HashMap<String, usize> = HashMap::new();
    let mut failed_runs = Vec::new();
    let mut left_out = 0u64;
    let mut seq = 0u64;
    for id in &ids {
        let mut statement = store.conn().prepare_cached(sql)?;
        let mut rows = statement.query(params![id])?;
        while let Some(row) = rows.next()? {
            let data = RowData::read(row)?;
            let at_s = match (time_of(&data.started_at), first_start) {
                (Some(at), Some(first)) => seconds_between(first, at),
                _ => 0.0,
            };
            let run = RunRef {
                campaign: data.campaign.clone(),
                run: data.idx,
                seq,
                started_at: data.started_at.clone(),
            };
            let cluster = data
                .signature
                .as_ref()
                .filter(|_| data.verdict != "pass")
                .map(|signature| note_cluster(&mut clusters, &mut by_id, signature, &data, &run));
            builder.add(&RunPoint {
                seq,
                at_s,
                duration_s: data.duration_us.max(0) as f64 / 1e6,
                failed: data.verdict == "fail",
                cluster,
            });
            if data.verdict != "pass" {
                if failed_runs.len() < MAX_FAILED_RUNS {
                    failed_runs.push(data.failed_run(run, cluster));
                } else {
                    left_out += 1;
                }
            }
            seq += 1;
        }
    }
    let (clusters, remap) = finish_clusters(clusters);
    let mut series = builder.finish();
    for mark in &mut series.marks {
        mark.cluster = mark.cluster.map(|c| remap[c]);
    }
    for run in &mut failed_runs {
        run.cluster = run.cluster.map(|c| remap[c]);
    }
    Ok(Scanned {
        clusters,
        series,
        failed_runs,
        failed_runs_left_out: left_out,
    })
}

/// Count a failed or ignored run to its cluster; returns the cluster's index (in order of
/// first appearance).
fn note_cluster(
    clusters: &mut Vec<Growing>,
    by_id: &mut HashMap<String, usize>,
    signature: &str,
    data: &RowData,
    run: &RunRef,
) -> usize {
    let index = *by_id.entry(signature.to_string()).or_insert_with(|| {
        clusters.push(Growing {
            cluster: Cluster {
                id: signature.to_string(),
                text: data.text.clone().unwrap_or_else(|| signature.to_string()),
                kind: data.kind.clone().unwrap_or_default(),
                ignored: data.verdict == "ignored",
                count: 0,
                first: run.clone(),
                last: run.clone(),
                example: None,
            },
            example_log: None,
        });
        clusters.len() - 1
    });
    let growing = &mut clusters[index];
    growing.cluster.count += 1;
    growing.cluster.last = run.clone();
    if growing.example_log.is_none() {
        if let Some(log) = &data.log_path {
            growing.example_log =
                Some((run.clone(), PathBuf::from(log), data.telling_line.clone()));
        }
    }
    index
}

/// Sort clusters like the summary does (failures before ignored, most frequent first), read
/// the examples of the first [`MAX_EXAMPLES`]; returns them and the map from order of first
/// appearance to the sorted position.
fn finish_clusters(growing: Vec<Growing>) -> (Vec<Cluster>, Vec<usize>) {
    let mut order: Vec<usize> = (0..growing.len()).collect();
    order.sort_by(|&a, &b| {
        let (a, b) = (&growing[a].cluster, &growing[b].cluster);
        a.ignored
            .cmp(&b.ignored)
            .then(b.count.cmp(&a.count))
            .then(a.first.seq.cmp(&b.first.seq))
    });
    let mut remap = vec![0; growing.len()];
    for (position, &original) in order.iter().enumerate() {
        remap[original] = position;
    }
    let mut slots: Vec<Option<Growing>> = growing.into_iter().map(Some).collect();
    let mut clusters = Vec::with_capacity(slots.len());
    for (position, original) in order.into_iter().enumerate() {
        let Some(Growing {
            mut cluster,
            example_log,
        }) = slots[original].take()
        else {
            continue;
        };
        cluster.example = example_log.map(|(run, log, telling_line)| {
            files::example(run, log, telling_line, position < MAX_EXAMPLES)
        });
        clusters.push(cluster);
    }
    (clusters, remap)
}

/// One row of the runs query.
#[derive(Debug, Clone)]
struct RowData {
    campaign: String,
    idx: u64,
    started_at: String,
    duration_us: i64,
    verdict: String,
    kind: Option<String>,
    exit_code: Option<i64>,
    signal: Option<String>,
    signature: Option<String>,
    text: Option<String>,
    log_path: Option<String>,
    telling_line: Option<String>,
}

impl RowData {
    fn read(row: &rusqlite::Row<'_>) -> rusqlite::Result<RowData> {
        Ok(RowData {
            campaign: row.get(0)?,
            idx: row.get::<_, i64>(1)?.max(0) as u64,
            started_at: row.get(2)?,
            duration_us: row.get(3)?,
            verdict: row.get(4)?,
            kind: row.get(5)?,
            exit_code: row.get(6)?,
            signal: row.get(7)?,
            signature: row.get(8)?,
            text: row.get(9)?,
            log_path: row.get(10)?,
            telling_line: row.get(11)?,
        })
    }

    fn failed_run(&self, run: RunRef, cluster: Option<usize>) -> FailedRun {
        FailedRun {
            run,
            duration_s: self.duration_us.max(0) as f64 / 1e6,
            verdict: self.verdict.clone(),
            kind: self.kind.clone(),
            exit_code: self.exit_code,
            signal: self.signal.clone(),
            cluster,
            log: self.log_path.as_ref().map(PathBuf::from),
        }
    }
}

/// A history query's report: sightings over time per signature, and for a search the matching
/// groups with their examples.
#[derive(Debug, Clone, Serialize)]
pub struct HistoryData {
    /// The regex searched for, if any (`None`: a triage of everything).
    pub pattern: Option<String>,
    /// The filters that narrowed the query, as `(name, value)`.
    pub filters: Vec<(String, String)>,
    /// The search's groups, for a search report.
    pub search: Option<SearchResult>,
    /// Every matching signature's counts per period.
    pub triage: Triage,
    /// `day` or `week`.
    pub period: &'static str,
}

/// Fewest and most periods chosen automatically.
const AUTO_PERIODS: (usize, usize) = (14, 104);

/// Load a history report: `search` true for a search (groups and their examples), false for a
/// triage; `period` and `periods` default to what spans the sightings found.
pub fn load_history(
    store: &Store,
    query: &SearchQuery,
    search: bool,
    period: Option<Period>,
    periods: Option<usize>,
) -> Result<HistoryData> {
    let result = crate::store::search::search(store, query)?;
    let first = result.groups.iter().map(|g| g.first_seen.as_str()).min();
    let last = result.groups.iter().map(|g| g.last_seen.as_str()).max();
    // Sightings may carry a date alone: their days are what counts.
    let day = |date: &str| time_of(&format!("{}T00:00:00", date.get(..10)?));
    let span_days = match (first.and_then(day), last.and_then(day)) {
        (Some(first), Some(last)) => (seconds_between(first, last) / 86_400.0).round() as usize + 1,
        _ => 1,
    };
    let period = period.unwrap_or(if span_days <= 60 {
        Period::Day
    } else {
        Period::Week
    });
    let length = if period == Period::Day { 1 } else { 7 };
    let periods = periods.unwrap_or_else(|| {
        span_days
            .div_ceil(length)
            .clamp(AUTO_PERIODS.0, AUTO_PERIODS.1)
    });
    let triage = crate::store::search::triage(
        store,
        query,
        period,
        periods,
        crate::store::search::DEFAULT_GONE_AFTER,
    )?;
    Ok(HistoryData {
        pattern: query.pattern.as_ref().map(|p| p.as_str().to_string()),
        filters: filters(query),
        search: search.then_some(result),
        triage,
        period: if period == Period::Day { "day" } else { "week" },
    })
}

fn filters(query: &SearchQuery) -> Vec<(String, String)> {
    let mut filters = Vec::new();
    if let Some(since) = &query.since {
        filters.push(("since".to_string(), since.clone()));
    }
    if let Some(test) = &query.test {
        filters.push(("test".to_string(), test.clone()));
    }
    if let Some(platform) = &query.platform {
        filters.push(("platform".to_string(), platform.clone()));
    }
    for omit in &query.omit {
        filters.push(("omit".to_string(), omit.as_str().to_string()));
    }
    filters
}

#[cfg(test)]
mod tests {
    use super::testing::{hostile_campaign, HOSTILE};
    use super::*;
    use crate::analysis::stats::clopper_pearson;

    fn store(dir: &std::path::Path) -> Store {
        Store::open(&dir.join("h.db")).expect("open")
    }

    #[test]
    fn a_campaign_loads_with_its_clusters_examples_and_series() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut store = store(dir.path());
        hostile_campaign(
            &mut store,
            dir.path(),
            "20260102-030405-aaaa",
            "2026-01-02T03:04:05Z",
        );
        let subject = resolve(&store, "last").expect("resolve");
        assert_eq!(subject, Subject::Campaign("20260102-030405-aaaa".into()));
        let data = load(&store, &subject).expect("load");
        assert_eq!((data.totals.runs, data.totals.failures), (200, 7));
        assert_eq!(data.totals.ignored, 1);
        assert_eq!(data.clusters.len(), 2);
        let first = &data.clusters[0];
        assert_eq!((first.count, first.first.run, first.last.run), (7, 7, 155));
        assert_eq!(first.text, HOSTILE);
        assert!(!first.ignored && data.clusters[1].ignored);
        let example = first.example.as_ref().expect("example");
        assert_eq!(example.run.run, 7);
        let output = example.output.as_ref().expect("output read");
        assert_eq!(output.head, testing::hostile_bytes());
        let names: Vec<&str> = example
            .attachments
            .iter()
            .map(|a| a.name.as_str())
            .collect();
        assert_eq!(names, ["run-000007.stacks"]);
        assert_eq!(data.series.runs, 200);
        assert_eq!(data.series.failures, 7);
        assert_eq!(data.series.marks.len(), 7);
        assert!(data.series.marks.iter().all(|m| m.cluster == Some(0)));
        assert_eq!(data.failed_runs.len(), 8);
        assert_eq!(data.failed_runs[1].cluster, Some(1), "run 90, ignored");
        assert_eq!(data.campaigns[0].shake(), Some("pin=one-core"));
        assert!((data.series.span_s - 1.99).abs() < 1e-9);
    }

    #[test]
    fn a_campaign_of_a_sweep_stands_for_the_sweep() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut store = store(dir.path());
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        std::fs::create_dir_all(&a).expect("dir");
        std::fs::create_dir_all(&b).expect("dir");
        hostile_campaign(&mut store, &a, "sweep-1", "2026-01-02T03:04:05Z");
        hostile_campaign(&mut store, &b, "sweep-2", "2026-01-02T03:05:05Z");
        let map: WindowMap = serde_json::from_value(serde_json::json!({
            "buckets": [], "window": null,
            "jitter": {"median_s": 0.0, "p99_s": 0.0, "max_s": 0.0}
        }))
        .expect("map");
        let campaigns = vec!["sweep-1".to_string(), "sweep-2".to_string()];
        crate::store::window::save(&mut store, &campaigns, "sleep 0..1ms", &map).expect("save");
        let subject = resolve(&store, "sweep-2").expect("resolve");
        assert_eq!(subject, Subject::Window("sweep-1".into()));
        let data = load(&store, &subject).expect("load");
        assert_eq!(data.campaigns.len(), 2);
        assert_eq!((data.totals.runs, data.totals.failures), (400, 14));
        assert_eq!(data.clusters[0].count, 14);
        assert_eq!(data.clusters[0].last.campaign, "sweep-2");
        assert_eq!(data.clusters[0].last.seq, 355);
        assert_eq!(data.window.expect("window").sweep, "sleep 0..1ms");
    }

    #[test]
    fn hunts_resolve_by_number_by_last_and_through_their_campaigns() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut store = store(dir.path());
        hostile_campaign(&mut store, dir.path(), "batch-1", "2026-01-02T03:04:05Z");
        let arm = ArmResult {
            shake: "pin=one-core".into(),
            runs: 200,
            failures: 7,
            rate: clopper_pearson(7, 200, 0.95),
            speedup: None,
            speedup_low: None,
            speedup_high: None,
            signatures: Default::default(),
            elapsed_s: 2.0,
            per_second: crate::analysis::hunt::poisson_rate(7, 2.0, 0.95),
        };
        let batches = [("batch-1".to_string(), "pin=one-core".to_string())];
        let id = crate::store::hunt::record_hunt(
            &mut store,
            &["./test".to_string()],
            "pin=one-core",
            &[arm],
            &batches,
        )
        .expect("record");
        for wanted in ["hunt:last", &format!("hunt:{id}"), "batch-1", "last"] {
            assert_eq!(resolve(&store, wanted).expect(wanted), Subject::Hunt(id));
        }
        let data = load(&store, &Subject::Hunt(id)).expect("load");
        assert_eq!(data.campaigns[0].arm.as_deref(), Some("pin=one-core"));
        assert_eq!(
            data.hunt.expect("hunt").best.as_deref(),
            Some("pin=one-core")
        );
        let error = resolve(&store, "hunt:x").expect_err("not a number");
        assert!(error.to_string().contains("hunt:last"), "{error}");
        assert!(resolve(&store, "hunt:99").is_err());
        assert!(resolve(&store, "nothing-like-it").is_err());
    }

    #[test]
    fn a_missing_log_is_reported_not_fatal() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut store = store(dir.path());
        hostile_campaign(&mut store, dir.path(), "c-1", "2026-01-02T03:04:05Z");
        std::fs::remove_file(dir.path().join("run-000007.log")).expect("remove");
        let data = load(&store, &Subject::Campaign("c-1".into())).expect("load");
        let example = data.clusters[0].example.as_ref().expect("example");
        assert!(example.output.is_none());
        assert!(example
            .missing
            .as_deref()
            .unwrap_or("")
            .contains("run-000007.log"));
    }

    #[test]
    fn a_suite_lists_its_tests_by_rate_and_the_failures_outside_them() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut store = store(dir.path());
        testing::suite_campaign(&mut store, dir.path(), "s-1", "2026-01-02T03:04:05Z");
        let data = load(&store, &Subject::Campaign("s-1".into())).expect("load");
        assert!(data.is_suite());
        let names: Vec<&str> = data.tests.iter().map(|t| t.test.as_str()).collect();
        let hostile = testing::HOSTILE_TESTS;
        assert_eq!(names, [hostile[1], hostile[0], hostile[2], hostile[3]]);
        let flaky = &data.tests[1];
        assert_eq!((flaky.runs, flaky.failures), (9, 2));
        assert!(flaky.is_flaky());
        assert_eq!(data.tests[3].skipped, 9);
        assert_eq!(data.outside_tests.len(), 1);
        assert_eq!(data.outside_tests[0].count, 1);
        assert!(data.outside_tests[0].text.contains("segfault"));
    }

    #[test]
    fn suite_campaigns_of_a_sweep_merge_their_tests() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut store = store(dir.path());
        for (id, start) in [
            ("s-1", "2026-01-02T03:04:05Z"),
            ("s-2", "2026-01-02T03:05:05Z"),
        ] {
            let sub = dir.path().join(id);
            std::fs::create_dir_all(&sub).expect("dir");
            testing::suite_campaign(&mut store, &sub, id, start);
        }
        let facts: Vec<CampaignFacts> = ["s-1", "s-2"]
            .iter()
            .map(|id| CampaignFacts {
                row: query::campaign(&store, id).expect("row"),
                summary: query::summary(&store, id).expect("summary"),
                cwd: None,
                spec: serde_json::Value::Null,
                arm: None,
            })
            .collect();
        let rows = suite::tests(&store, &facts).expect("tests");
        assert_eq!((rows[1].runs, rows[1].failures), (18, 4));
        assert_eq!(rows[1].signature.as_ref().map(|s| s.count), Some(4));
        assert!(rows[1].first_failure.is_none(), "a run of which campaign?");
        assert_eq!(
            suite::outside_tests(&store, &facts).expect("outside")[0].count,
            2
        );
    }

    #[test]
    fn a_bisection_resolves_by_number_and_through_its_probes() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut store = store(dir.path());
        let id = testing::bisection(&mut store, dir.path());
        for wanted in ["bisect:last", &format!("bisect:{id}"), "probe-1", "last"] {
            assert_eq!(resolve(&store, wanted).expect(wanted), Subject::Bisect(id));
        }
        let data = load(&store, &Subject::Bisect(id)).expect("load");
        assert_eq!(data.campaigns.len(), 3);
        assert_eq!(data.totals.runs, 600);
        let bisection = data.bisect.expect("bisection");
        assert_eq!(bisection.commits.len(), 6);
        assert_eq!(bisection.probes.len(), 4);
        assert!(
            bisection.probes[3].campaign.is_none(),
            "untestable: nothing ran"
        );
        assert_eq!(bisection.decision.expect("decision").commit, Some(3));
        assert_eq!(bisection.command[0], "./t.sh");
        assert!(resolve(&store, "bisect:x").is_err());
        let error = resolve(&store, "bisect:9").expect_err("none");
        assert!(
            error.to_string().contains("no recorded bisection"),
            "{error}"
        );
    }

    #[test]
    fn a_bisection_killed_before_its_report_is_rebuilt_from_its_probes() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut store = store(dir.path());
        let id = testing::bisection(&mut store, dir.path());
        store
            .write(|conn| conn.execute("UPDATE bisections SET result = NULL", []))
            .expect("forget");
        let bisection = bisect::load(&store, id).expect("load");
        let culprit = &bisection.commits[3];
        assert_eq!(
            (culprit.runs, culprit.failures, culprit.clean),
            (200, 7, 192)
        );
        assert!((culprit.posterior - 0.995).abs() < 1e-12);
        assert_eq!(bisection.commits[2].failures, 0);
        assert!(bisection.commits[4].untestable.is_some());
        assert!(bisection.decision.is_none());
    }
}
