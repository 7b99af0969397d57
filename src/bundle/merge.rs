//! Merging bundles into one campaign: [`plan`] checks that they are shards of one campaign
//! (same command, options, commit and shard count) and lines their runs up by index, each
//! once; [`write`] records the result in the history exactly as if one machine had run it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, UNIX_EPOCH};

use anyhow::{bail, Context, Result};

use crate::analysis::summary::{Summary, SummaryContext, Tally};
use crate::bundle::read::Bundle;
use crate::bundle::{BundleRun, Header};
use crate::record::test_result::TestOutcome;
use crate::record::{FinishedRun, OutputDigest, RunRecord, SavedOutput, Verdict};
use crate::spec::Shard;
use crate::store::shards::MergedShard;
use crate::store::writer::{CampaignInfo, CampaignWriter, FailureText};
use crate::store::Store;

/// Spec keys that may differ between the shards of one campaign.
const PER_SHARD_KEYS: [&str; 4] = ["jobs", "runs", "shard", "cwd"];

/// Bundles checked and lined up, ready to record.
#[derive(Debug)]
pub struct MergePlan {
    /// Header of the first bundle (command, spec, commit).
    pub header: Header,
    /// Campaign id shared by every bundle, if they share one.
    pub shared_id: Option<String>,
    /// Shards of the whole campaign.
    pub shards: u64,
    /// The bundles merged, one per shard number present.
    pub merged: Vec<MergedShard>,
    /// Shard numbers with no bundle.
    pub missing: Vec<u64>,
    /// Runs, by index, each once.
    pub runs: Vec<BundleRun>,
    /// Things the user should know (duplicates dropped, dirty trees, interrupted shards).
    pub warnings: Vec<String>,
    /// Earliest start, microseconds since the epoch, and the wall span of all shards.
    pub span: (u64, Duration),
    /// Runs cancelled unfinished across the shards.
    pub cancelled: u64,
    /// Some shard was interrupted.
    pub interrupted: bool,
}

fn shard_of(header: &Header) -> Shard {
    header.shard.unwrap_or(Shard {
        number: 1,
        count: 1,
    })
}

/// `value` with the shard's output directory (in a JUnit report path, say) written `<out>`.
fn without_out_dir<T: serde::Serialize + serde::de::DeserializeOwned + Clone>(
    value: &T,
    out_dir: &str,
) -> T {
    if out_dir.is_empty() {
        return value.clone();
    }
    let (Ok(text), Ok(quoted)) = (serde_json::to_string(value), serde_json::to_string(out_dir))
    else {
        return value.clone();
    };
    let text = text.replace(quoted.trim_matches('"'), "<out>");
    serde_json::from_str(&text).unwrap_or_else(|_| value.clone())
}

/// The spec without what may differ between shards.
fn comparable(spec: &serde_json::Value) -> serde_json::Value {
    let mut spec = spec.clone();
    if let Some(object) = spec.as_object_mut() {
        for key in PER_SHARD_KEYS {
            object.remove(key);
        }
    }
    spec
}

/// Check that `bundles` are shards of one campaign, and line their runs up.
pub fn plan(bundles: Vec<Bundle>) -> Result<MergePlan> {
    let Some(first) = bundles.first() else {
        bail!("no bundles to merge");
    };
    let header = first.header.clone();
    let shards = shard_of(&header).count;
    for bundle in &bundles[1..] {
        check_same_campaign(first, bundle)?;
    }
    let mut warnings = Vec::new();
    let mut by_shard: BTreeMap<u64, &Bundle> = BTreeMap::new();
    let mut runs: BTreeMap<u64, BundleRun> = BTreeMap::new();
    for bundle in &bundles {
        let shard = shard_of(&bundle.header);
        if let Some(run) = bundle.runs.iter().find(|run| !shard.owns(run.index)) {
            bail!(
                "{}: run {} is not one of shard {shard}'s runs: the bundle is corrupt",
                bundle.path.display(),
                run.index
            );
        }
        if let Some(earlier) = by_shard.get(&shard.number) {
            warnings.push(duplicate_warning(earlier, bundle, shard));
        } else {
            by_shard.insert(shard.number, bundle);
        }
        for run in &bundle.runs {
            runs.entry(run.index).or_insert_with(|| run.clone());
        }
    }
    for bundle in by_shard.values().filter(|bundle| bundle.end.interrupted) {
        warnings.push(format!(
            "shard {} ({}) was interrupted after {} run(s)",
            shard_of(&bundle.header),
            bundle.path.display(),
            bundle.end.runs
        ));
    }
    let dirty = bundles
        .iter()
        .filter(|b| b.header.git_dirty == Some(true))
        .count();
    if dirty > 0 {
        warnings.push(format!(
            "{dirty} bundle(s) ran on a working tree with uncommitted changes to commit {}",
            header.git_commit.as_deref().unwrap_or("?")
        ));
    }
    let ids: BTreeSet<&str> = bundles.iter().map(|b| b.header.campaign.as_str()).collect();
    if ids.len() > 1 {
        warnings.push(
            "the bundles come from campaigns with different ids (shards run without a shared \
             --campaign-id): run i has a different seed in each"
                .to_string(),
        );
    }
    let missing = (1..=shards).filter(|k| !by_shard.contains_key(k)).collect();
    let span = span_of(by_shard.values().copied());
    Ok(MergePlan {
        shared_id: (ids.len() == 1).then(|| header.campaign.clone()),
        shards,
        merged: by_shard
            .values()
            .map(|bundle| merged_shard(bundle))
            .collect(),
        missing,
        runs: runs.into_values().collect(),
        warnings,
        span,
        cancelled: by_shard.values().map(|b| b.end.cancelled).sum(),
        interrupted: by_shard.values().any(|b| b.end.interrupted),
        header,
    })
}

fn duplicate_warning(earlier: &Bundle, bundle: &Bundle, shard: Shard) -> String {
    let seen: BTreeSet<u64> = earlier.runs.iter().map(|run| run.index).collect();
    let both = bundle
        .runs
        .iter()
        .filter(|run| seen.contains(&run.index))
        .count();
    format!(
        "shard {shard} is in both {} and {}: {both} run(s) in both counted once (from the \
         first); {} run(s) only in the second added",
        earlier.path.display(),
        bundle.path.display(),
        bundle.runs.len() - both
    )
}

fn merged_shard(bundle: &Bundle) -> MergedShard {
    let shard = shard_of(&bundle.header);
    MergedShard {
        shard: shard.number,
        shards: shard.count,
        source: bundle.header.campaign.clone(),
        checksum: bundle.end.checksum.clone(),
        host: bundle.header.host.clone(),
        runs: bundle.end.runs,
        failures: bundle.end.failures,
        stop_reason: bundle.end.stop_reason.clone(),
        interrupted: bundle.end.interrupted,
        bundle: std::path::absolute(&bundle.path)
            .unwrap_or_else(|_| bundle.path.clone())
            .display()
            .to_string(),
    }
}

/// Earliest start among the shards and the time from it to the last shard's end.
fn span_of<'a>(bundles: impl Iterator<Item = &'a Bundle>) -> (u64, Duration) {
    let mut start = u64::MAX;
    let mut end = 0u64;
    for bundle in bundles {
        let began = humantime::parse_rfc3339_weak(&bundle.header.started_at)
            .ok()
            .and_then(|time| time.duration_since(UNIX_EPOCH).ok())
            .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX));
        start = start.min(began);
        end = end.max(began.saturating_add((bundle.end.elapsed_s.max(0.0) * 1e6) as u64));
    }
    if start == u64::MAX {
        return (0, Duration::ZERO);
    }
    (start, Duration::from_micros(end.saturating_sub(start)))
}

/// Refuse a bundle that is not a shard of the same campaign as `first`, saying what differs.
fn check_same_campaign(first: &Bundle, other: &Bundle) -> Result<()> {
    let (a, b) = (&first.header, &other.header);
    let differ = |what: &str, x: String, y: String| -> Result<()> {
        if x != y {
            bail!(
                "{} and {} are not shards of one campaign: {what} differs ({x} vs {y}); \
                 nothing merged",
                first.path.display(),
                other.path.display()
            );
        }
        Ok(())
    };
    let (command_a, command_b) = (
        without_out_dir(&a.command, &a.out_dir),
        without_out_dir(&b.command, &b.out_dir),
    );
    differ(
        "the command",
        format!("{command_a:?}"),
        format!("{command_b:?}"),
    )?;
    differ(
        "the shard count",
        shard_of(a).count.to_string(),
        shard_of(b).count.to_string(),
    )?;
    let show = |value: Option<u64>| value.map_or("none".into(), |v| v.to_string());
    differ("--runs", show(a.campaign_runs), show(b.campaign_runs))?;
    let commit = |c: &Option<String>| c.clone().unwrap_or_else(|| "no git commit".into());
    differ(
        "the git commit",
        commit(&a.git_commit),
        commit(&b.git_commit),
    )?;
    let (x, y) = (
        comparable(&without_out_dir(&a.spec, &a.out_dir)),
        comparable(&without_out_dir(&b.spec, &b.out_dir)),
    );
    if x != y {
        let keys: Vec<String> = x
            .as_object()
            .into_iter()
            .flatten()
            .filter(|(key, value)| y.get(key.as_str()) != Some(value))
            .map(|(key, _)| key.clone())
            .collect();
        differ("the options", keys.join(", "), String::new())?;
    }
    Ok(())
}

/// Run indices of the missing shards, described for a human (`2, 6, 10, ... (25 runs)`).
pub fn missing_indices(plan: &MergePlan) -> Vec<String> {
    plan.missing
        .iter()
        .map(|&number| {
            let shard = Shard {
                number,
                count: plan.shards,
            };
            match plan.header.campaign_runs {
                Some(total) => {
                    let count = shard.runs_of(total);
                    let shown = if count <= 6 { count } else { 4 };
                    let shown: Vec<String> = (0..shown)
                        .map(|nth| shard.run_index(nth).to_string())
                        .collect();
                    let more = if count > 6 { ", ..." } else { "" };
                    format!(
                        "shard {shard}: run indices {}{more} ({count} runs)",
                        shown.join(", ")
                    )
                }
                None => format!(
                    "shard {shard}: run indices {} + {}k",
                    number - 1,
                    plan.shards
                ),
            }
        })
        .collect()
}

/// What a merge recorded.
#[derive(Debug)]
pub struct Merged {
    /// The merged campaign's id.
    pub campaign: String,
    /// Its summary.
    pub summary: Summary,
    /// Lines for the user about what was done beyond the plan (an unfinished merge undone).
    pub notes: Vec<String>,
}

fn merged_twice(shard: &MergedShard, campaign: &str) -> anyhow::Error {
    anyhow::anyhow!(
        "shard {}/{} ({}) was already merged into campaign {campaign}: merging it again would \
         count its runs twice; nothing merged (see flakehunt show {campaign})",
        shard.shard,
        shard.shards,
        shard.bundle,
    )
}

/// Refuse, before anything is written, a plan holding a shard the history at `db` already
/// has from an earlier finished merge that this one would not replace (as [`write`] does).
pub fn check_not_merged(plan: &MergePlan, db: &Path) -> Result<()> {
    let store = Store::open(db)?;
    for shard in &plan.merged {
        if let Some(earlier) = crate::store::shards::merged_before(&store, shard)? {
            if earlier.finished && !supersedes(plan, &store, &earlier.campaign)? {
                return Err(merged_twice(shard, &earlier.campaign));
            }
        }
    }
    Ok(())
}

/// Record the plan in the history at `db` as one campaign, failures' output under `out`
/// (default `flakehunt-out/<id>`). Refuses shards merged before; a merge that fails midway
/// is undone.
pub fn write(plan: &MergePlan, db: &Path, out: Option<&Path>) -> Result<Merged> {
    let mut store = Store::open(db)?;
    let mut notes = Vec::new();
    for shard in &plan.merged {
        let Some(earlier) = crate::store::shards::merged_before(&store, shard)? else {
            continue;
        };
        if earlier.finished && !supersedes(plan, &store, &earlier.campaign)? {
            return Err(merged_twice(shard, &earlier.campaign));
        }
        crate::store::shards::discard(&mut store, &earlier.campaign)?;
        notes.push(if earlier.finished {
            format!(
                "replaced campaign {}, an incomplete merge of fewer of these shards",
                earlier.campaign
            )
        } else {
            format!(
                "removed campaign {}, an earlier merge of these shards that did not finish",
                earlier.campaign
            )
        });
    }
    let id = match &plan.shared_id {
        Some(id) if !crate::store::shards::campaign_exists(&store, id)? => id.clone(),
        _ => crate::campaign::setup::new_campaign_id(),
    };
    let out_dir = out.map_or_else(
        || PathBuf::from("flakehunt-out").join(&id),
        Path::to_path_buf,
    );
    let out_dir = std::path::absolute(&out_dir).unwrap_or(out_dir);
    std::fs::create_dir_all(&out_dir)
        .with_context(|| format!("cannot create {}", out_dir.display()))?;
    let summary = match record_runs(plan, store, &id, &out_dir) {
        Ok(summary) => summary,
        Err(error) => {
            if let Ok(mut store) = Store::open(db) {
                let _ = crate::store::shards::discard(&mut store, &id);
            }
            return Err(error.context("the merge was undone; nothing recorded"));
        }
    };
    let mut store = Store::open(db)?;
    crate::store::shards::record(&mut store, &id, &plan.merged)?;
    let json = serde_json::to_vec_pretty(&summary).context("encode the summary")?;
    let path = out_dir.join("summary.json");
    std::fs::write(&path, json).with_context(|| format!("could not write {}", path.display()))?;
    Ok(Merged {
        campaign: id,
        summary,
        notes,
    })
}

/// Whether the plan replaces the earlier, incomplete merge `campaign` of the same shards: it
/// has every shard that merge had, and more of them or fewer interrupted (the lost shards were
/// rerun). Its runs all come from the plan, so the replacement never counts a run twice.
fn supersedes(plan: &MergePlan, store: &Store, campaign: &str) -> Result<bool> {
    let earlier = crate::store::shards::of_campaign(store, campaign)?;
    let ours: BTreeSet<u64> = plan.merged.iter().map(|s| s.shard).collect();
    let covered = !earlier.is_empty() && earlier.iter().all(|shard| ours.contains(&shard.shard));
    let interrupted = |shards: &mut dyn Iterator<Item = &MergedShard>| {
        shards.filter(|shard| shard.interrupted).count()
    };
    let more = ours.len() > earlier.len()
        || interrupted(&mut plan.merged.iter()) < interrupted(&mut earlier.iter());
    Ok(covered && more)
}

/// The campaign row, every run in index order, and the summary.
fn record_runs(plan: &MergePlan, store: Store, id: &str, out_dir: &Path) -> Result<Summary> {
    let header = &plan.header;
    // The first shard's output directory (in a JUnit report path) becomes the merged one.
    let out = out_dir.display().to_string();
    let command: Vec<String> = header
        .command
        .iter()
        .map(|arg| match header.out_dir.is_empty() {
            true => arg.clone(),
            false => arg.replace(&header.out_dir, &out),
        })
        .collect();
    let started_at = UNIX_EPOCH + Duration::from_micros(plan.span.0);
    let started_at = humantime::format_rfc3339_seconds(started_at).to_string();
    let info = CampaignInfo {
        id: id.to_string(),
        started_at: started_at.clone(),
        command: command.clone(),
        spec: merged_spec(plan),
        cwd: header.cwd.clone(),
        // A dirty flag without a commit is a repository with no commits yet.
        git: (header.git_commit.is_some() || header.git_dirty.is_some()).then(|| {
            crate::record::provenance::GitState {
                commit: header.git_commit.clone(),
                dirty: header.git_dirty.unwrap_or(false),
            }
        }),
        host: hosts(plan),
        out_dir: out_dir.display().to_string(),
        parts: Vec::new(),
    };
    let mut writer = CampaignWriter::start(store, &info)?;
    let mut tally = Tally::new();
    let mut tests = crate::analysis::per_test::TestTally::new();
    for run in &plan.runs {
        let finished = finished_run(run, out_dir)?;
        tally.add(&finished);
        tests.add(run.index, &finished.tests);
        if finished.record.verdict == Verdict::Pass {
            writer.add_pass(&finished);
            if writer.pending() >= 1000 {
                writer.flush()?;
            }
        } else {
            writer.write_failure(&finished, &failure_text(run))?;
        }
    }
    let mut summary = tally.summary(SummaryContext {
        campaign: id.to_string(),
        command: command.clone(),
        started_at,
        elapsed: plan.span.1,
        stop_reason: stop_reason(plan),
        interrupted: plan.interrupted,
        cancelled: plan.cancelled,
        out_dir: out_dir.to_path_buf(),
        still_kept: Vec::new(),
    });
    // As a campaign run here would have them: its test target and flake table.
    summary.target = serde_json::from_value(header.spec["target"].clone()).unwrap_or(None);
    summary.tests = tests.rows();
    writer.finish(&summary)?;
    Ok(summary)
}

/// The merged campaign's options: the shards' shared ones, the whole campaign's `--runs`, and
/// which shards it holds.
fn merged_spec(plan: &MergePlan) -> serde_json::Value {
    let mut spec = comparable(&plan.header.spec);
    if let Some(object) = spec.as_object_mut() {
        object.insert("runs".into(), serde_json::json!(plan.header.campaign_runs));
        object.insert(
            "merged".into(),
            serde_json::json!({
                "shards": plan.shards,
                "present": plan.merged.iter().map(|s| s.shard).collect::<Vec<_>>(),
                "missing": plan.missing,
            }),
        );
    }
    spec
}

fn hosts(plan: &MergePlan) -> String {
    let hosts: BTreeSet<&str> = plan.merged.iter().map(|s| s.host.as_str()).collect();
    hosts.into_iter().collect::<Vec<_>>().join(",")
}

/// Why the merged campaign "stopped": how many shards it holds, and which are missing or
/// were interrupted.
pub fn stop_reason(plan: &MergePlan) -> String {
    let list = |numbers: &[u64]| {
        numbers
            .iter()
            .map(u64::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut reason = format!("merged {} of {} shards", plan.merged.len(), plan.shards);
    if !plan.incomplete() {
        return reason;
    }
    reason.insert_str(0, "incomplete: ");
    if !plan.missing.is_empty() {
        reason.push_str(&format!("; missing shard(s) {}", list(&plan.missing)));
    }
    let interrupted: Vec<u64> = plan
        .merged
        .iter()
        .filter(|shard| shard.interrupted)
        .map(|shard| shard.shard)
        .collect();
    if !interrupted.is_empty() {
        reason.push_str(&format!("; shard(s) {} interrupted", list(&interrupted)));
    }
    reason
}

impl MergePlan {
    /// Some shard is missing or was stopped by a signal before its end.
    pub fn incomplete(&self) -> bool {
        !self.missing.is_empty() || self.interrupted
    }
}

/// A bundle's run as the record the tally and the history writer take; a failure's output is
/// written to `out_dir` so the history can point at it.
fn finished_run(run: &BundleRun, out_dir: &Path) -> Result<FinishedRun> {
    let saved = match &run.output {
        Some(output) => {
            let log = out_dir.join(format!("run-{:06}.log", run.index));
            std::fs::write(&log, output.text.as_bytes())
                .with_context(|| format!("could not write {}", log.display()))?;
            let stacks = match &run.stacks {
                Some(stacks) => {
                    let path = out_dir.join(format!("run-{:06}.stacks", run.index));
                    std::fs::write(&path, stacks.text.as_bytes())
                        .with_context(|| format!("could not write {}", path.display()))?;
                    Some(path)
                }
                None => None,
            };
            // Only the log is carried by a bundle; the other paths name it too.
            Some(SavedOutput {
                streams: log.clone(),
                meta: log.clone(),
                log,
                stacks,
            })
        }
        None => None,
    };
    let record = RunRecord {
        index: run.index,
        pid: 0,
        started_at: UNIX_EPOCH + Duration::from_micros(run.started_us),
        duration: Duration::from_micros(run.duration_us),
        termination: run.termination,
        verdict: run.verdict,
        digest: OutputDigest {
            total_bytes: run.output.as_ref().map_or(0, |output| output.total_bytes),
            telling_line: run
                .telling_line
                .as_ref()
                .map(|line| line.as_bytes().to_vec()),
            tail_lines: run
                .example_line
                .iter()
                .map(|line| line.as_bytes().to_vec())
                .collect(),
            ..OutputDigest::default()
        },
        output: None,
        leaked_pipes: run.leaked_pipes,
        script_events: Vec::new(),
        script_failure: None,
        seed: run.seed,
        stacks: None,
        part: 0,
        paused: Duration::ZERO,
    };
    let tests = run
        .tests
        .iter()
        .map(|test| TestOutcome {
            name: test.name.clone(),
            status: test.status,
            signature: test.signature.clone(),
            message: test.message.clone(),
        })
        .collect();
    Ok(FinishedRun {
        record,
        signature: run.signature.clone(),
        saved,
        tests,
    })
}

fn failure_text(run: &BundleRun) -> FailureText {
    FailureText {
        message: run.example_line.clone().unwrap_or_default(),
        snippet: run
            .output
            .as_ref()
            .map(|output| crate::ingest::snippet(output.text.as_bytes()))
            .unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bundle::{End, FORMAT, VERSION};
    use crate::record::{FailureKind, Signature, Termination};

    /// A small deterministic generator (splitmix64), so every case can be replayed.
    fn next(state: &mut u64) -> u64 {
        *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = *state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn run(index: u64, state: &mut u64) -> BundleRun {
        let roll = next(state) % 10;
        let (termination, verdict) = match roll {
            0 => (
                Termination::Exited { code: 1 },
                Verdict::Fail(FailureKind::Exit),
            ),
            1 => (
                Termination::Exited { code: 2 },
                Verdict::Ignored(FailureKind::Exit),
            ),
            _ => (Termination::Exited { code: 0 }, Verdict::Pass),
        };
        let signature = (roll <= 1).then(|| Signature {
            id: format!("sig{}", next(state) % 3),
            text: "exit 1: boom".into(),
        });
        BundleRun {
            index,
            started_us: 1_700_000_000_000_000 + index,
            duration_us: 1000 + next(state) % 5000,
            termination,
            verdict,
            seed: None,
            leaked_pipes: false,
            signature,
            telling_line: None,
            example_line: None,
            tests: Vec::new(),
            output: None,
            stacks: None,
        }
    }

    fn bundle(shard: Shard, total: u64, runs: Vec<BundleRun>) -> Bundle {
        let failures = runs.iter().filter(|run| run.verdict.is_failure()).count() as u64;
        Bundle {
            path: PathBuf::from(format!("shard-{}.fhb", shard.number)),
            header: Header {
                format: FORMAT.into(),
                version: VERSION,
                campaign: "c".into(),
                shard: Some(shard),
                campaign_runs: Some(total),
                command: vec!["t".into()],
                spec: serde_json::json!({"runs": shard.runs_of(total), "jobs": 2}),
                cwd: "/".into(),
                out_dir: String::new(),
                git_commit: None,
                git_dirty: None,
                host: "h".into(),
                flakehunt: "0".into(),
                started_at: "2026-01-01T00:00:00Z".into(),
                output_cap: 0,
                hunt_arm: None,
            },
            end: End {
                runs: runs.len() as u64,
                failures,
                stop_reason: "all runs finished".into(),
                interrupted: false,
                cancelled: 0,
                elapsed_s: 1.0,
                checksum: String::new(),
            },
            runs,
        }
    }

    fn summary(runs: &[BundleRun]) -> serde_json::Value {
        let dir = tempfile::tempdir().expect("dir");
        let mut tally = Tally::new();
        for run in runs {
            tally.add(&finished_run(run, dir.path()).expect("run"));
        }
        let summary = tally.summary(SummaryContext {
            campaign: "c".into(),
            command: Vec::new(),
            started_at: String::new(),
            elapsed: Duration::from_secs(1),
            stop_reason: String::new(),
            interrupted: false,
            cancelled: 0,
            out_dir: PathBuf::new(),
            still_kept: Vec::new(),
        });
        serde_json::to_value(summary).expect("json")
    }

    #[test]
    fn any_split_into_shards_merges_to_the_same_summary() {
        let mut state = 7;
        for case in 0..200 {
            let total = 1 + next(&mut state) % 300;
            let count = 1 + next(&mut state) % total.min(12);
            let all: Vec<BundleRun> = (0..total).map(|i| run(i, &mut state)).collect();
            let mut bundles: Vec<Bundle> = (1..=count)
                .map(|number| {
                    let shard = Shard { number, count };
                    let mut runs: Vec<BundleRun> = all
                        .iter()
                        .filter(|r| shard.owns(r.index))
                        .cloned()
                        .collect();
                    // Runs finish in any order.
                    let len = runs.len();
                    for i in (1..len).rev() {
                        runs.swap(i, (next(&mut state) % (i as u64 + 1)) as usize);
                    }
                    bundle(shard, total, runs)
                })
                .collect();
            bundles.rotate_left((next(&mut state) % count) as usize);
            let plan = plan(bundles).expect("plan");
            assert!(plan.missing.is_empty(), "case {case}");
            assert_eq!(plan.runs, all, "case {case}: runs, by index, each once");
            assert_eq!(summary(&plan.runs), summary(&all), "case {case}");
        }
    }

    #[test]
    fn shards_split_runs_exactly_once() {
        for total in 1..60 {
            for count in 1..=total.min(9) {
                let mut seen = vec![0u32; total as usize];
                let mut sum = 0;
                for number in 1..=count {
                    let shard = Shard { number, count };
                    let own = shard.runs_of(total);
                    sum += own;
                    for nth in 0..own {
                        let index = shard.run_index(nth);
                        assert!(shard.owns(index));
                        seen[index as usize] += 1;
                    }
                }
                assert_eq!(sum, total);
                assert!(seen.iter().all(|&n| n == 1), "{total} in {count}");
            }
        }
    }

    #[test]
    fn a_run_outside_its_shard_is_refused() {
        let mut state = 1;
        let shard = Shard {
            number: 1,
            count: 2,
        };
        let bad = bundle(shard, 4, vec![run(1, &mut state)]);
        let error = plan(vec![bad]).expect_err("refused");
        assert!(
            error.to_string().contains("not one of shard 1/2's runs"),
            "{error}"
        );
    }
}
