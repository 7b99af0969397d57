//! Campaign setup: a [`CampaignRequest`] (what a user asked for, in plain types) is checked and
//! turned into a [`CampaignSpec`] and the command template. Every error here happens before
//! anything runs or is recorded.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use anyhow::{anyhow, bail, Context, Result};
use regex::bytes::Regex;

use crate::campaign::launch::Outputs;
use crate::runner::spawn::{resolve_program, CommandTemplate};
use crate::shake::Shake;
use crate::sink::progress::ProgressMode;
use crate::spec::script::Script;
use crate::spec::{CampaignSpec, OnTimeout, OutputRules, StopRules, TimeoutPolicy};

/// Most runs in flight at once (the guard's table also holds kept runs).
pub const MAX_JOBS: usize = 1024;
/// Bytes of each run's output kept in memory before spilling to disk.
const MEMORY_PER_RUN: usize = 1 << 20;

/// What a user asked a campaign to do, before it is checked.
#[derive(Debug, Clone)]
pub struct CampaignRequest {
    /// Runs in parallel (None: one per CPU).
    pub jobs: Option<usize>,
    /// Stop rules.
    pub stop: StopRules,
    /// Time limit, signal, grace and action for runs that take too long.
    pub timeout: TimeoutPolicy,
    /// `--fail-if` regex, unchecked.
    pub fail_if: Option<String>,
    /// `--ignore` regex, unchecked.
    pub ignore: Option<String>,
    /// Extra environment variables.
    pub env: Vec<(OsString, OsString)>,
    /// Working directory of each run.
    pub cwd: Option<PathBuf>,
    /// Output directory (None: `flakehunt-out/<id>`).
    pub out: Option<PathBuf>,
    /// Keep passing runs' output too.
    pub keep_passing: bool,
    /// Script steps given one by one.
    pub steps: Vec<String>,
    /// Script file.
    pub script: Option<PathBuf>,
    /// `--shake` text, unchecked (`best` reads the history).
    pub shake: Option<String>,
    /// Fixed seed for every run.
    pub seed: Option<u64>,
    /// Where the campaign reports.
    pub progress: ProgressMode,
    /// NDJSON event log.
    pub events: Option<PathBuf>,
    /// Record the campaign in the history.
    pub record_history: bool,
    /// The command and its arguments.
    pub command: Vec<OsString>,
}

impl CampaignRequest {
    /// A request to rerun `command` with every option at its default: one run per CPU, no stop
    /// rule, a 10-minute SIGQUIT timeout, recorded in the history, progress on the terminal.
    pub fn new(command: Vec<OsString>) -> CampaignRequest {
        CampaignRequest {
            jobs: None,
            stop: StopRules::default(),
            timeout: TimeoutPolicy::default(),
            fail_if: None,
            ignore: None,
            env: Vec::new(),
            cwd: None,
            out: None,
            keep_passing: false,
            steps: Vec::new(),
            script: None,
            shake: None,
            seed: None,
            progress: ProgressMode::Auto,
            events: None,
            record_history: true,
            command,
        }
    }
}

/// A checked campaign, ready to launch.
#[derive(Debug, Clone)]
pub struct Prepared {
    /// What to run and how.
    pub spec: CampaignSpec,
    /// How each run is spawned.
    pub template: CommandTemplate,
    /// Where it reports.
    pub outputs: Outputs,
}

impl Prepared {
    /// Commands that run several campaigns (hunt, window) keep each in its own directory below
    /// a user's `--out`, so that one campaign's logs never overwrite another's.
    pub fn nest_out_dir(&mut self, user_out: Option<&Path>) {
        if let Some(base) = user_out {
            let base = std::path::absolute(base).unwrap_or_else(|_| base.to_path_buf());
            self.spec.out_dir = base.join(&self.spec.id);
        }
    }
}

/// Check a request and build its campaign; `db` is the history (for `--shake best`).
pub fn prepare(request: &CampaignRequest, db: &Path) -> Result<Prepared> {
    let jobs = match request.jobs {
        Some(0) => bail!("--jobs must be at least 1"),
        Some(jobs) if jobs > MAX_JOBS => bail!("--jobs must be at most {MAX_JOBS}"),
        Some(jobs) => jobs,
        None => std::thread::available_parallelism().map_or(1, |n| n.get()),
    };
    if request.stop.runs == Some(0) {
        bail!("--runs must be at least 1");
    }
    if request.stop.max_failures == Some(0) {
        bail!("--max-failures must be at least 1");
    }
    if request.timeout.limit.is_zero() {
        bail!("--timeout must be longer than 0");
    }
    if request.stop.duration.is_some_and(|d| d.is_zero()) {
        bail!("--duration must be longer than 0");
    }
    let output_rules = OutputRules {
        fail_if: compile_regex("--fail-if", request.fail_if.as_deref())?,
        ignore: compile_regex("--ignore", request.ignore.as_deref())?,
    };
    let script = load_script(request)?;
    let shake = load_shake(request.shake.as_deref(), db)?;
    let cwd = match &request.cwd {
        Some(dir) => {
            let absolute = std::path::absolute(dir)
                .with_context(|| format!("invalid --cwd {}", dir.display()))?;
            if !absolute.is_dir() {
                bail!("--cwd {} is not a directory", dir.display());
            }
            Some(absolute)
        }
        None => None,
    };
    let Some((program, rest)) = request.command.split_first() else {
        bail!("no command given; write it after --, e.g. flakehunt run -- ./my_test");
    };
    let program = resolve_program(program, cwd.as_deref())?;
    let program = std::path::absolute(&program).unwrap_or(program);
    let id = new_campaign_id();
    let out_dir = match &request.out {
        Some(dir) => dir.clone(),
        None => PathBuf::from("flakehunt-out").join(&id),
    };
    let out_dir = std::path::absolute(&out_dir).unwrap_or(out_dir);
    let spec = CampaignSpec {
        id: id.clone(),
        command: request.command.clone(),
        cwd: cwd.clone(),
        env: request.env.clone(),
        jobs,
        stop: request.stop.clone(),
        timeout: request.timeout,
        output_rules,
        out_dir,
        keep_passing: request.keep_passing,
        memory_per_run: MEMORY_PER_RUN,
        script: script.map(std::sync::Arc::new),
        sweep: None,
        parts: Vec::new(),
        shake: shake.clone().map(std::sync::Arc::new),
        seed: request.seed,
    };
    let template = CommandTemplate {
        program,
        args: rest.to_vec(),
        cwd,
        env: request.env.clone(),
        campaign_id: id,
        per_run_keys: shake
            .as_ref()
            .map(crate::shake::per_run_keys)
            .unwrap_or_default(),
    };
    let outputs = Outputs {
        progress: request.progress,
        events: request.events.clone(),
        history: request.record_history.then(|| db.to_path_buf()),
    };
    Ok(Prepared {
        spec,
        template,
        outputs,
    })
}

impl Default for TimeoutPolicy {
    fn default() -> Self {
        TimeoutPolicy {
            limit: Duration::from_secs(600),
            signal: libc::SIGQUIT,
            grace: Duration::from_secs(5),
            action: OnTimeout::Kill,
        }
    }
}

fn compile_regex(flag: &str, pattern: Option<&str>) -> Result<Option<Regex>> {
    pattern
        .map(|pattern| {
            Regex::new(pattern).map_err(|error| {
                anyhow!(
                    "invalid {flag} regex '{pattern}': {}",
                    crate::text::regex_reason(&error)
                )
            })
        })
        .transpose()
}

/// The perturbation from `--shake`, checked (and trimmed of what cannot apply) up front.
fn load_shake(text: Option<&str>, db: &Path) -> Result<Option<Shake>> {
    let Some(text) = text else {
        return Ok(None);
    };
    let text = if text.trim() == "best" {
        let store = crate::store::Store::open_existing(db)
            .context("--shake best needs a previous `flakehunt hunt` in the history")?;
        crate::store::query::best_shake(&store)?
    } else {
        text.to_string()
    };
    if text == "plain" {
        return Ok(None);
    }
    let mut shake = Shake::parse(&text)?;
    for warning in shake.preflight() {
        eprintln!("flakehunt: warning: {warning}");
    }
    Ok(Some(shake))
}

/// The interaction script from `--step` or `--script`, checked before anything runs.
fn load_script(request: &CampaignRequest) -> Result<Option<Script>> {
    if let Some(path) = &request.script {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read script {}", path.display()))?;
        return Ok(Some(Script::from_toml(path, &text)?));
    }
    if request.steps.is_empty() {
        return Ok(None);
    }
    Ok(Some(Script::from_steps(&request.steps)?))
}

/// A new campaign id: UTC start time plus a 64-bit random suffix, sortable and unique.
pub fn new_campaign_id() -> String {
    use std::hash::{BuildHasher, Hasher};
    let now = SystemTime::now();
    let stamp = humantime::format_rfc3339_seconds(now).to_string();
    let compact: String = stamp
        .chars()
        .filter(|c| c.is_ascii_digit() || *c == 'T')
        .collect::<String>()
        .replace('T', "-");
    let nanos = now
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    // RandomState is seeded from the OS's random source; the time and pid keep two ids drawn
    // in one process apart even so.
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(nanos);
    hasher.write_u32(std::process::id());
    format!("{compact}-{:016x}", hasher.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn campaign_ids_sort_by_time_and_carry_64_random_bits() {
        let a = new_campaign_id();
        let b = new_campaign_id();
        assert_ne!(a, b);
        let suffix = a.rsplit('-').next().expect("suffix");
        assert_eq!(suffix.len(), 16, "{a}");
        assert!(suffix.chars().all(|c| c.is_ascii_hexdigit()), "{a}");
        assert!(a.starts_with("20"), "{a}");
    }
}
