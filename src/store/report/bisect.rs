//! A recorded bisection for a report: its range and command, the commits with what each probe
//! learnt there, every probe with the leading candidates after it, and where it stopped.

use anyhow::{Context, Result};
use rusqlite::{params, OptionalExtension};
use serde::{Deserialize, Serialize};

use crate::analysis::bisect::{CommitInfo, ProbeRecord, TargetRecord};
use crate::store::Store;

/// One commit of the bisected path with what the search learnt there.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BisectCommit {
    /// Full hash.
    pub hash: String,
    /// First line of the message.
    #[serde(default)]
    pub subject: String,
    /// `Name <email>`.
    #[serde(default)]
    pub author: String,
    /// Author date.
    #[serde(default)]
    pub date: String,
    /// Runs there.
    #[serde(default)]
    pub runs: u64,
    /// Failures of the target signature.
    #[serde(default)]
    pub failures: u64,
    /// Clean runs.
    #[serde(default)]
    pub clean: u64,
    /// Failures of other signatures.
    #[serde(default)]
    pub other: u64,
    /// Why it cannot be tested, if it cannot.
    #[serde(default)]
    pub untestable: Option<String>,
    /// Posterior that this commit introduced the failure (for the good commit: that the
    /// failure predates it).
    #[serde(default)]
    pub posterior: f64,
}

/// Where the search stood when it last wrote its report.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BisectDecision {
    /// searching | culprit | ambiguous | predates.
    #[serde(default)]
    pub kind: String,
    /// The culprit (index into the commits).
    #[serde(default)]
    pub commit: Option<usize>,
    /// The leading candidate while searching.
    #[serde(default)]
    pub best: Option<usize>,
    /// First commit of an ambiguous block.
    #[serde(default)]
    pub first: Option<usize>,
    /// Last commit of an ambiguous block.
    #[serde(default)]
    pub last: Option<usize>,
    /// Its posterior.
    #[serde(default)]
    pub probability: f64,
}

/// Everything a bisection's report shows besides its probes' campaigns.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BisectData {
    /// Its number (`bisect:N`).
    pub id: i64,
    /// When it started.
    pub created_at: String,
    /// culprit | ambiguous | predates | budget | interrupted | searching.
    pub status: String,
    /// The repository.
    pub repo: String,
    /// Good commit.
    pub good: String,
    /// Bad commit.
    pub bad: String,
    /// The command run at each commit.
    pub command: Vec<String>,
    /// The build command, if any.
    pub build: Option<String>,
    /// Confidence asked for, when the search wrote its report.
    pub confidence: Option<f64>,
    /// The failure mode searched for.
    pub target: Option<TargetRecord>,
    /// The path, good first.
    pub commits: Vec<BisectCommit>,
    /// Every probe, with the leading candidates after it.
    pub probes: Vec<ProbeRecord>,
    /// Where the search stood.
    pub decision: Option<BisectDecision>,
    /// Posterior mean of the failure rate where the failure is present.
    pub rate: Option<f64>,
    /// Runs that would likely settle the best candidate.
    pub runs_to_confirm: Option<u64>,
}

impl BisectData {
    /// The campaigns its probes ran, in order, each once.
    pub fn campaigns(&self) -> Vec<String> {
        let mut ids: Vec<String> = Vec::new();
        for probe in &self.probes {
            if let Some(id) = &probe.campaign {
                if !ids.contains(id) {
                    ids.push(id.clone());
                }
            }
        }
        ids
    }

    /// The commit `hash` names, with its position on the path.
    pub fn commit(&self, hash: &str) -> Option<(usize, &BisectCommit)> {
        self.commits
            .iter()
            .enumerate()
            .find(|(_, c)| c.hash == hash)
    }
}

/// The report the search wrote last, as far as it is read here.
#[derive(Debug, Deserialize)]
struct StoredReport {
    #[serde(default)]
    confidence: Option<f64>,
    #[serde(default)]
    commits: Vec<BisectCommit>,
    #[serde(default)]
    decision: Option<BisectDecision>,
    #[serde(default)]
    rate: Option<f64>,
    #[serde(default)]
    runs_to_confirm: Option<u64>,
}

/// The bisection a probe campaign belongs to, if any.
pub fn of_campaign(store: &Store, campaign: &str) -> Result<Option<i64>> {
    store
        .conn()
        .query_row(
            "SELECT bisection FROM bisect_probes WHERE campaign = ?1
             ORDER BY bisection DESC LIMIT 1",
            params![campaign],
            |row| row.get(0),
        )
        .optional()
        .context("cannot read the bisections")
}

/// `last` (the newest bisection) or a number.
pub fn resolve(store: &Store, wanted: &str) -> Result<i64> {
    let found: Option<i64> = if wanted == "last" {
        store
            .conn()
            .query_row(
                "SELECT id FROM bisections ORDER BY updated_at DESC, id DESC LIMIT 1",
                [],
                |row| row.get(0),
            )
            .optional()?
    } else {
        let Ok(number) = wanted.parse::<i64>() else {
            anyhow::bail!(
                "'bisect:{wanted}' names no bisection; write bisect:last or bisect:N with N a number"
            );
        };
        store
            .conn()
            .query_row("SELECT id FROM bisections WHERE id = ?1", [number], |row| {
                row.get(0)
            })
            .optional()?
    };
    found.with_context(|| format!("no recorded bisection '{wanted}' (run `flakehunt bisect`)"))
}

/// Load bisection `id`.
pub fn load(store: &Store, id: i64) -> Result<BisectData> {
    type Row = (
        String,
        String,
        String,
        String,
        String,
        String,
        String,
        Option<String>,
    );
    let (created_at, status, repo, good, bad, spec, path, target): Row = store
        .conn()
        .query_row(
            "SELECT created_at, status, repo, good, bad, spec, path, target
             FROM bisections WHERE id = ?1",
            [id],
            |row| {
                Ok((
                    row.get(0)?,
                    row.get(1)?,
                    row.get(2)?,
                    row.get(3)?,
                    row.get(4)?,
                    row.get(5)?,
                    row.get(6)?,
                    row.get(7)?,
                ))
            },
        )
        .with_context(|| format!("no recorded bisection {id}"))?;
    let result: Option<String> =
        store
            .conn()
            .query_row("SELECT result FROM bisections WHERE id = ?1", [id], |row| {
                row.get(0)
            })?;
    let spec: serde_json::Value = serde_json::from_str(&spec).unwrap_or_default();
    let words = |key: &str| -> Vec<String> {
        spec[key]
            .as_array()
            .map(|items| {
                items
                    .iter()
                    .filter_map(|item| item.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    };
    let target: Option<TargetRecord> = target.and_then(|t| serde_json::from_str(&t).ok());
    let probes = crate::store::bisect::probes(store, id)?;
    let stored: Option<StoredReport> = result.and_then(|r| serde_json::from_str(&r).ok());
    let path: Vec<CommitInfo> = serde_json::from_str(&path).unwrap_or_default();
    let (commits, stored) = match stored {
        Some(stored) if stored.commits.len() == path.len() && !path.is_empty() => {
            (stored.commits.clone(), Some(stored))
        }
        // A search killed before it wrote its report: what its probes recorded.
        other => (rebuild(&path, &probes, target.as_ref()), other),
    };
    Ok(BisectData {
        id,
        created_at,
        status,
        repo,
        good,
        bad,
        command: words("command"),
        build: spec["build"].as_str().map(str::to_string),
        confidence: stored.as_ref().and_then(|s| s.confidence),
        target,
        commits,
        probes,
        decision: stored.as_ref().and_then(|s| s.decision.clone()),
        rate: stored.as_ref().and_then(|s| s.rate),
        runs_to_confirm: stored.as_ref().and_then(|s| s.runs_to_confirm),
    })
}

/// The commits with each probe's runs added up, and the posterior the last probe recorded
/// (for its leading candidates; the others count as 0).
fn rebuild(
    path: &[CommitInfo],
    probes: &[ProbeRecord],
    target: Option<&TargetRecord>,
) -> Vec<BisectCommit> {
    let mut commits: Vec<BisectCommit> = path
        .iter()
        .map(|info| BisectCommit {
            hash: info.hash.clone(),
            subject: info.subject.clone(),
            author: info.author.clone(),
            date: info.date.clone(),
            runs: 0,
            failures: 0,
            clean: 0,
            other: 0,
            untestable: None,
            posterior: 0.0,
        })
        .collect();
    for probe in probes {
        let Some(commit) = commits.iter_mut().find(|c| c.hash == probe.commit) else {
            continue;
        };
        let failed: u64 = probe.signatures.iter().map(|s| s.count).sum();
        let on_target: u64 = probe
            .signatures
            .iter()
            .filter(|s| target.is_some_and(|t| t.id == s.id))
            .map(|s| s.count)
            .sum();
        commit.runs += probe.runs;
        commit.clean += probe.passes;
        commit.failures += on_target;
        commit.other += failed.saturating_sub(on_target);
        if probe.untestable.is_some() {
            commit.untestable.clone_from(&probe.untestable);
        }
    }
    if let Some(last) = probes.iter().rev().find(|p| !p.posterior.is_empty()) {
        for candidate in &last.posterior {
            if let Some(commit) = commits.iter_mut().find(|c| c.hash == candidate.commit) {
                commit.posterior = candidate.probability;
            }
        }
    }
    commits
}
