//! Watching a dispatched campaign: the runs so far, read from the tasks' bundles as they grow
//! (each run line reaches the shared directory when the run ends), and the tasks the engine
//! still holds; over when every bundle is complete or the engine holds no task.

use std::collections::BTreeMap;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::dispatch::slurm::QueuedTask;
use crate::dispatch::Dispatch;

/// How long bundles may take to show up on a shared file system after their task ended.
const SETTLE: Duration = Duration::from_secs(10);
/// Longest silence between two progress lines.
const QUIET: Duration = Duration::from_secs(30);
/// How long the engine may fail to answer before the watch gives up and merges what is there.
const UNANSWERED: Duration = Duration::from_secs(600);

/// Runs counted so far in one growing file.
#[derive(Debug, Default, Clone, Copy)]
struct Count {
    offset: u64,
    runs: u64,
    failures: u64,
}

/// Runs and failures so far, per file, read incrementally.
#[derive(Debug, Default)]
pub struct Tally {
    files: BTreeMap<PathBuf, Count>,
}

impl Tally {
    /// Read what `shards`' bundles (partial or complete) gained since the last call; returns
    /// the runs and failures so far.
    pub fn update(&mut self, dispatch: &Dispatch, shards: &[u64]) -> (u64, u64) {
        let dir = dispatch.shared_dir.join("bundles");
        let names: Vec<String> = shards.iter().map(|k| format!("shard-{k}.fhb")).collect();
        if let Ok(entries) = std::fs::read_dir(&dir) {
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                let wanted = names.iter().any(|bundle| {
                    name == *bundle
                        || (name.starts_with(&format!(".{bundle}.")) && name.ends_with(".partial"))
                });
                if wanted {
                    let count = self.files.entry(entry.path()).or_default();
                    read_more(&entry.path(), count);
                }
            }
        }
        // A complete bundle replaces its partial file: count each shard once, by its largest.
        let mut per_shard: BTreeMap<String, (u64, u64)> = BTreeMap::new();
        for (path, count) in &self.files {
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let shard = name
                .trim_start_matches('.')
                .split(".fhb")
                .next()
                .unwrap_or_default()
                .to_string();
            let entry = per_shard.entry(shard).or_default();
            if count.runs >= entry.0 {
                *entry = (count.runs, count.failures);
            }
        }
        per_shard
            .values()
            .fold((0, 0), |(r, f), (runs, fails)| (r + runs, f + fails))
    }
}

/// Count the complete run lines `path` gained past `count.offset`.
fn read_more(path: &Path, count: &mut Count) {
    let Ok(mut file) = std::fs::File::open(path) else {
        return;
    };
    if file.seek(SeekFrom::Start(count.offset)).is_err() {
        return;
    }
    let mut bytes = Vec::new();
    if file.read_to_end(&mut bytes).is_err() {
        return;
    }
    let Some(last) = bytes.iter().rposition(|&b| b == b'\n') else {
        return;
    };
    for line in bytes[..=last].split(|&b| b == b'\n') {
        if line.starts_with(b"{\"run\":") {
            count.runs += 1;
            if memchr_find(line, b"{\"verdict\":\"fail\"") {
                count.failures += 1;
            }
        }
    }
    count.offset += last as u64 + 1;
}

fn memchr_find(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle)
}

/// Watch `shards` of `dispatch` until every bundle is complete or the engine (asked with
/// `queued`, None when it cannot say) holds none of its tasks; progress goes to `say`.
pub fn wait(
    dispatch: &Dispatch,
    shards: &[u64],
    interval: Duration,
    mut queued: impl FnMut() -> Option<Vec<QueuedTask>>,
    mut say: impl FnMut(&str),
) {
    let mut tally = Tally::default();
    let mut last_line = String::new();
    let mut last_said = Instant::now();
    let mut ended_at: Option<Instant> = None;
    let mut answered = Instant::now();
    loop {
        let done = shards
            .iter()
            .filter(|&&k| dispatch.bundle(k).is_file())
            .count();
        let (runs, failures) = tally.update(dispatch, shards);
        let tasks = queued();
        let (running, pending) = tasks.as_ref().map_or((0, 0), |tasks| {
            let running = tasks.iter().filter(|t| t.state == "RUNNING").count();
            (running, tasks.len() - running)
        });
        let line = format!(
            "{done} of {} shard(s) done, {running} running, {pending} queued; {runs} run(s), {failures} failure(s)",
            shards.len()
        );
        if line != last_line || last_said.elapsed() >= QUIET {
            say(&line);
            last_said = Instant::now();
            last_line = line;
        }
        if done == shards.len() {
            return;
        }
        if tasks.is_some() {
            answered = Instant::now();
        } else if answered.elapsed() >= UNANSWERED {
            say("the engine has not answered for 10 minutes; merging what is there");
            return;
        }
        if tasks.as_ref().is_some_and(Vec::is_empty) {
            let since = *ended_at.get_or_insert_with(Instant::now);
            if since.elapsed() >= SETTLE {
                return;
            }
        }
        std::thread::sleep(interval);
    }
}
