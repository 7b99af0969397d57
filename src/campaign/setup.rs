//! Campaign setup: a [`CampaignRequest`] (what a user asked for, in plain types) is checked and
//! turned into a [`CampaignSpec`] and the command template. Every error here happens before
//! anything runs or is recorded.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use anyhow::{anyhow, bail, Context, Result};
use regex::bytes::Regex;

use crate::campaign::launch::Outputs;
use crate::runner::spawn::{check_loadable, resolve_program, CommandTemplate};
use crate::shake::Shake;
use crate::sink::progress::ProgressMode;
use crate::spec::script::Script;
use crate::spec::{CampaignSpec, OnTimeout, OutputRules, StopRules, TimeoutPolicy};

/// Most runs in flight at once (the guard's table also holds kept runs).
pub const MAX_JOBS: usize = 1024;
/// Bytes of each run's output kept in memory before spilling to disk.
const MEMORY_PER_RUN: usize = 1 << 20;
/// Longest `--timeout`, `--grace` or `--duration`: beyond it a deadline is nonsense (and soon
/// past what a clock can add).
pub const MAX_TIME: Duration = Duration::from_secs(365 * 24 * 3600);
/// Descriptors a run may hold at once: its stdout and stderr pipes, its pidfd, its stdin pipe
/// and the two files its output spills to once it outgrows memory.
const FDS_PER_RUN: u64 = 6;
/// Descriptors of a campaign beyond those already open: the history database and its journal,
/// the event log, the guard, a run's pipes while it starts, a failure's files being archived,
/// and a margin.
const FDS_PER_CAMPAIGN: u64 = 64;

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
    /// Let runs keep flakehunt's controlling terminal (`--tty`) instead of detaching them from it.
    pub tty: bool,
    /// Read the stacks of hung runs and the backtraces of crashed ones.
    pub stacks: bool,
    /// The command and its arguments.
    pub command: Vec<OsString>,
    /// A test target to rerun instead of the command.
    pub target: Option<crate::target::TargetRequest>,
    /// Read runs test by test as this kind of suite (None: detected from the command).
    pub suite: Option<crate::target::SuiteKind>,
    /// `--only-flaky`: a campaign whose flaky tests are hunted one by one (by `flakehunt run`).
    pub only_flaky: Option<String>,
    /// Run only this shard of the campaign; `stop.runs` stays the whole campaign's count.
    pub shard: Option<crate::spec::Shard>,
    /// Campaign id to use instead of a new one (the shards of one campaign share it, and with
    /// it every run's seed).
    pub campaign_id: Option<String>,
    /// Which command asks for the campaign.
    pub kind: crate::spec::CampaignKind,
    /// The campaign this one repeats (`flakehunt rerun`).
    pub rerun_of: Option<String>,
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
            tty: false,
            stacks: true,
            command,
            target: None,
            suite: None,
            only_flaky: None,
            shard: None,
            campaign_id: None,
            kind: crate::spec::CampaignKind::Run,
            rerun_of: None,
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
    let jobs = check_numbers(request)?;
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
    let id = match &request.campaign_id {
        Some(id) => check_campaign_id(id)?,
        None => new_campaign_id(),
    };
    let out_dir = match &request.out {
        Some(dir) => dir.clone(),
        None => PathBuf::from("flakehunt-out").join(&id),
    };
    let out_dir = std::path::absolute(&out_dir).unwrap_or(out_dir);
    // A test target is built and becomes its command; a suite command asks for per-test output.
    let planned = crate::campaign::target::plan(request, cwd, &out_dir)?;
    let cwd = planned.cwd.clone();
    let Some((program, rest)) = planned.command.split_first() else {
        bail!("no command given; write it after --, e.g. flakehunt run -- ./my_test");
    };
    let program = check_program(program, cwd.as_deref(), &planned.env)?;
    make_room_for_jobs(request, jobs)?;
    if request.tty {
        warn_shared_terminal();
    }
    let spec = CampaignSpec {
        id: id.clone(),
        command: planned.command.clone(),
        cwd: cwd.clone(),
        env: planned.env.clone(),
        jobs,
        stop: shard_stop(request)?,
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
        per_test: planned.per_test.clone(),
        target: planned.target.clone(),
        stacks: request.stacks,
        shard: request.shard,
        kind: request.kind,
        rerun_of: request.rerun_of.clone(),
        recipe: Vec::new(),
    };
    let spec = CampaignSpec {
        recipe: crate::campaign::recipe::recipe(request, &spec),
        ..spec
    };
    let template = CommandTemplate {
        program,
        args: rest.to_vec(),
        cwd,
        env: planned.env.clone(),
        campaign_id: id,
        per_run_keys: shake
            .as_ref()
            .map(crate::shake::per_run_keys)
            .unwrap_or_default(),
        share_terminal: request.tty,
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

/// Jobs, stop rules and times: in range, and deadlines a clock can add.
fn check_numbers(request: &CampaignRequest) -> Result<usize> {
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
    for (flag, time) in [
        ("--timeout", Some(request.timeout.limit)),
        ("--grace", Some(request.timeout.grace)),
        ("--duration", request.stop.duration),
    ] {
        if time.is_some_and(|time| time > MAX_TIME) {
            bail!("{flag} must be at most 365 days (without --duration, a campaign runs until interrupted)");
        }
    }
    Ok(jobs)
}

/// The program to execute, found and checked with everything the kernel needs to start it
/// (a `#!` interpreter, an ELF loader), looked up on the run's PATH where `env` is involved.
fn check_program(
    program: &std::ffi::OsStr,
    cwd: Option<&Path>,
    env: &[(OsString, OsString)],
) -> Result<PathBuf> {
    let program = resolve_program(program, cwd)?;
    let program = std::path::absolute(&program).unwrap_or(program);
    let run_path = env
        .iter()
        .rev()
        .find(|(key, _)| key == "PATH")
        .map(|(_, value)| value.clone())
        .or_else(|| std::env::var_os("PATH"));
    check_loadable(&program, cwd, run_path.as_deref())?;
    Ok(program)
}

/// The stop rules of the runs this process does: a shard launches only its share of `--runs`
/// (each shard keeps `--duration` and `--max-failures` for itself).
fn shard_stop(request: &CampaignRequest) -> Result<StopRules> {
    let mut stop = request.stop.clone();
    if let (Some(shard), Some(total)) = (request.shard, request.stop.runs) {
        let own = shard.runs_of(total);
        if own == 0 {
            bail!(
                "--shard {shard} of --runs {total} has no runs: split {total} runs into at most \
                 {total} shards"
            );
        }
        stop.runs = Some(own);
    }
    Ok(stop)
}

/// A campaign id given by the caller: it names directories and is exported to runs, so it is
/// kept to letters, digits, `.`, `_` and `-`.
fn check_campaign_id(id: &str) -> Result<String> {
    let fine = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
    if id.is_empty() || id.len() > 100 || !id.chars().all(fine) || id.starts_with('.') {
        bail!(
            "invalid --campaign-id '{id}': use 1 to 100 letters, digits, '.', '_' or '-', \
             not starting with '.'"
        );
    }
    Ok(id.to_string())
}

/// Raise the open-file limit to what the runs in flight at once need, or refuse with the
/// number.
fn make_room_for_jobs(request: &CampaignRequest, jobs: usize) -> Result<()> {
    // No more runs are ever in flight than the campaign has.
    let in_flight = shard_stop(request)?.runs.map_or(jobs, |runs| {
        jobs.min(usize::try_from(runs).unwrap_or(usize::MAX))
    });
    let campaign = crate::os::fd::open_descriptor_count() + FDS_PER_CAMPAIGN;
    let needed = campaign + in_flight as u64 * FDS_PER_RUN;
    crate::os::fd::ensure_open_files(needed).map_err(|shortfall| {
        let fitting = shortfall.hard.saturating_sub(campaign) / FDS_PER_RUN;
        let advice = if fitting >= 1 {
            format!("use -j {fitting} or fewer, or raise the hard limit")
        } else {
            "raise the hard limit".to_string()
        };
        anyhow!(
            "-j {jobs} needs up to {needed} open files, but the hard limit (ulimit -Hn) is {}; \
             {advice} (as root, or with LimitNOFILE= for a service)",
            shortfall.hard
        )
    })
}

/// Said once per process: hunt and window prepare a campaign per arm or phase.
fn warn_shared_terminal() {
    static WARNED: std::sync::Once = std::sync::Once::new();
    WARNED.call_once(|| {
        eprintln!(
            "flakehunt: warning: --tty: runs share this terminal; what they write to /dev/tty \
             (titles, screen clears, clipboard sequences) reaches it unescaped"
        );
    });
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
