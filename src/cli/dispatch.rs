//! `flakehunt dispatch`: run one campaign as the shards of a batch engine's job (a Slurm job
//! array, or a Kubernetes Indexed Job), watch the bundles arrive, and merge them.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use clap::{Args, Parser, ValueEnum};

use crate::bundle::{merge, read};
use crate::cli::run::{parse_duration, RunArgs};
use crate::cli::{EXIT_OK, EXIT_RUNTIME};
use crate::dispatch::{self, k8s, slurm, Budget, Dispatch};

/// Arguments of `flakehunt dispatch`.
#[derive(Debug, Clone, Args)]
#[command(after_help = "Examples:\n  \
    flakehunt dispatch --engine slurm --tasks 100 --runs-per-task 10000 -- ./target/release/my_test\n  \
    flakehunt dispatch --engine slurm --tasks 8 --duration 30m --partition short --dry-run -- ./t\n  \
    flakehunt dispatch --engine slurm --retry-lost --shared-dir flakehunt-dispatch/<id>\n  \
    flakehunt dispatch --engine k8s --tasks 20 --runs-per-task 500 --image debian:12 \\\n    \
    --claim shared-scratch --shared-dir /scratch/fh --submit -- ./my_test")]
pub struct DispatchArgs {
    /// The batch engine.
    #[arg(long, value_enum)]
    pub engine: Engine,

    /// Tasks (shards) of the campaign.
    #[arg(long, value_name = "N", default_value_t = 4)]
    pub tasks: u64,

    /// Runs each task does (the campaign has tasks x M runs).
    #[arg(long, value_name = "M", conflicts_with = "duration")]
    pub runs_per_task: Option<u64>,

    /// How long each task runs, e.g. 30m.
    #[arg(long, value_name = "DUR", value_parser = parse_duration)]
    pub duration: Option<Duration>,

    /// CPUs each task asks for; its runs in parallel.
    #[arg(long, value_name = "C", default_value_t = 1)]
    pub cpus_per_task: u32,

    /// Slurm partition.
    #[arg(long, value_name = "P")]
    pub partition: Option<String>,

    /// Slurm time limit per task, e.g. 1:00:00.
    #[arg(long, value_name = "T")]
    pub time: Option<String>,

    /// Extra `#SBATCH` line (repeatable), e.g. --sbatch-arg=--mem=2G.
    #[arg(long = "sbatch-arg", value_name = "ARG", allow_hyphen_values = true)]
    pub sbatch_args: Vec<String>,

    /// Option for every task's `flakehunt run` (repeatable), e.g. --run-arg=--timeout=30s.
    #[arg(long = "run-arg", value_name = "ARG", allow_hyphen_values = true)]
    pub run_args: Vec<String>,

    /// Directory every node sees, for the staged binaries and the bundles [default:
    /// ./flakehunt-dispatch/<campaign-id>].
    #[arg(long, value_name = "DIR")]
    pub shared_dir: Option<PathBuf>,

    /// Print the batch script (or manifest) and submit nothing.
    #[arg(long)]
    pub dry_run: bool,

    /// Resubmit only the shards of the dispatch in --shared-dir that left no bundle, then
    /// merge all of them.
    #[arg(long, requires = "shared_dir")]
    pub retry_lost: bool,

    /// Submit, then return: merge later with `flakehunt merge DIR/bundles/*.fhb`.
    #[arg(long)]
    pub no_wait: bool,

    /// Apply the Kubernetes Job with `kubectl apply`, watch it and merge (k8s; without it the
    /// manifest is only written).
    #[arg(long, conflicts_with = "dry_run")]
    pub submit: bool,

    /// Container image of the tasks (k8s).
    #[arg(long, value_name = "IMAGE")]
    pub image: Option<String>,

    /// PersistentVolumeClaim mounted at the shared directory in every pod (k8s).
    #[arg(long, value_name = "CLAIM")]
    pub claim: Option<String>,

    /// Campaign id for the shards [default: a new one].
    #[arg(long, value_name = "ID", hide = true)]
    pub campaign_id: Option<String>,

    /// Directory for the merged failures' output [default: ./flakehunt-out/<campaign-id>].
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,

    /// Print the merged summary as JSON.
    #[arg(long)]
    pub json: bool,

    /// The command each run executes, after `--`.
    #[arg(trailing_var_arg = true, value_name = "COMMAND")]
    pub command: Vec<OsString>,
}

/// `--engine` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Engine {
    /// A Slurm job array submitted with sbatch.
    Slurm,
    /// A Kubernetes Indexed Job (written, or applied with --submit).
    K8s,
}

/// `flakehunt run` options a task sets itself.
const TASK_OWNED: [&str; 14] = [
    "--shard",
    "--export",
    "--campaign-id",
    "-n",
    "--runs",
    "--duration",
    "--out",
    "-j",
    "--jobs",
    "--no-history",
    "--report",
    "--events",
    "--tty",
    "--only-flaky",
];

/// Parses `flakehunt run` options, to check `--run-arg`s before anything is submitted.
#[derive(Debug, Parser)]
#[command(name = "flakehunt run", no_binary_name = true)]
struct RunProbe {
    #[command(flatten)]
    run: RunArgs,
}

/// `flakehunt dispatch`.
pub fn execute(args: DispatchArgs, db: &Path) -> Result<i32> {
    if args.submit && args.engine != Engine::K8s {
        bail!("--submit is for --engine k8s; a Slurm dispatch submits unless --dry-run");
    }
    if args.retry_lost {
        return retry_lost(&args, db);
    }
    let dispatch = plan(&args, db)?;
    if args.engine == Engine::K8s {
        return kubernetes(&args, &dispatch, db);
    }
    let script = slurm::script(&dispatch, &format!("1-{}", dispatch.tasks));
    if args.dry_run {
        crate::cli::print_stdout(&script)?;
        return Ok(EXIT_OK);
    }
    if !slurm::available() {
        bail!("no Slurm cluster answers here (`sinfo` failed); run dispatch on a login node");
    }
    dispatch::stage(&dispatch.shared_dir, &dispatch.workdir, &args.command)?;
    dispatch::lay_out(&dispatch)?;
    let shards: Vec<u64> = (1..=dispatch.tasks).collect();
    run_and_merge(&args, &dispatch, &script, &shards, db)
}

/// Check everything and build the dispatch; writes nothing.
fn plan(args: &DispatchArgs, db: &Path) -> Result<Dispatch> {
    if args.tasks == 0 || args.tasks > dispatch::MAX_TASKS {
        bail!("--tasks must be between 1 and {}", dispatch::MAX_TASKS);
    }
    if args.cpus_per_task == 0 {
        bail!("--cpus-per-task must be at least 1");
    }
    let budget = match (args.runs_per_task, args.duration) {
        (Some(0), _) => bail!("--runs-per-task must be at least 1"),
        (Some(runs), _) => Budget::RunsPerTask(runs),
        (None, Some(duration)) => Budget::Duration(duration),
        (None, None) => bail!("say how much each task runs: --runs-per-task M or --duration D"),
    };
    if args.command.is_empty() {
        bail!("no command given; write it after --, e.g. flakehunt dispatch --engine slurm -- ./my_test");
    }
    for (what, text) in args
        .sbatch_args
        .iter()
        .map(|arg| ("--sbatch-arg", arg))
        .chain(args.partition.iter().map(|p| ("--partition", p)))
        .chain(args.time.iter().map(|t| ("--time", t)))
    {
        dispatch::check_line(what, text)?;
    }
    let campaign = args
        .campaign_id
        .clone()
        .unwrap_or_else(crate::campaign::setup::new_campaign_id);
    check_run_args(args, &campaign, budget, db)?;
    let workdir = std::env::current_dir().context("cannot read the current directory")?;
    let shared_dir = args
        .shared_dir
        .clone()
        .unwrap_or_else(|| PathBuf::from("flakehunt-dispatch").join(&campaign));
    let shared_dir = std::path::absolute(&shared_dir).unwrap_or(shared_dir);
    if !args.dry_run && shared_dir.join("dispatch.json").exists() {
        bail!(
            "{} already holds a dispatch; use --retry-lost to finish it, or another --shared-dir",
            shared_dir.display()
        );
    }
    Ok(Dispatch {
        campaign,
        tasks: args.tasks,
        budget,
        cpus_per_task: args.cpus_per_task,
        run_args: args.run_args.clone(),
        command: dispatch::staged_command(&shared_dir, &workdir, &args.command),
        workdir,
        shared_dir,
        partition: args.partition.clone(),
        time: args.time.clone(),
        sbatch_args: args.sbatch_args.clone(),
        image: args.image.clone(),
        claim: args.claim.clone(),
    })
}

/// The tasks' `flakehunt run` options, checked here as `flakehunt run` would (shard 1 of the
/// campaign, prepared but not run), so a typo fails before anything is submitted.
fn check_run_args(args: &DispatchArgs, campaign: &str, budget: Budget, db: &Path) -> Result<()> {
    for arg in &args.run_args {
        let flag = arg.split('=').next().unwrap_or_default();
        if TASK_OWNED.contains(&flag) {
            bail!("--run-arg {arg}: dispatch sets {flag} for each task itself");
        }
        dispatch::check_line("--run-arg", arg)?;
    }
    let mut words: Vec<OsString> = args.run_args.iter().map(OsString::from).collect();
    words.push("--".into());
    words.extend(args.command.iter().cloned());
    let probe = RunProbe::try_parse_from(words)
        .map_err(|error| anyhow!("--run-arg: {}", error.render().to_string().trim()))?;
    let mut request = probe.run.request();
    request.shard = Some(crate::spec::Shard {
        number: 1,
        count: args.tasks,
    });
    request.campaign_id = Some(campaign.to_string());
    request.record_history = false;
    request.jobs = Some(args.cpus_per_task as usize);
    match budget {
        Budget::RunsPerTask(runs) => request.stop.runs = Some(runs.saturating_mul(args.tasks)),
        Budget::Duration(duration) => request.stop.duration = Some(duration),
    }
    crate::campaign::prepare(&request, db).map(|_| ())
}

/// Submit the script for `shards`, watch them, and merge every bundle there is.
fn run_and_merge(
    args: &DispatchArgs,
    dispatch: &Dispatch,
    script: &str,
    shards: &[u64],
    db: &Path,
) -> Result<i32> {
    let name = format!("job-{}.sh", dispatch::ranges(shards).replace(',', "_"));
    let job = slurm::submit(dispatch, script, &name)?;
    slurm::remember(dispatch, &job);
    eprintln!(
        "flakehunt: submitted Slurm job {job}: {} task(s) of campaign {}; bundles go to {} \
         (scancel {job} stops it)",
        shards.len(),
        dispatch.campaign,
        dispatch.shared_dir.join("bundles").display()
    );
    if args.no_wait {
        eprintln!(
            "flakehunt: merge later with: flakehunt merge {}/*.fhb",
            dispatch.shared_dir.join("bundles").display()
        );
        return Ok(EXIT_OK);
    }
    let started = std::time::Instant::now();
    dispatch::watch::wait(
        dispatch,
        shards,
        Duration::from_secs(2),
        || slurm::queued(&job),
        |line| eprintln!("flakehunt: job {job}: {line}"),
    );
    eprintln!(
        "flakehunt: job {job} ended after {:.1}s",
        started.elapsed().as_secs_f64()
    );
    merge_all(args, dispatch, db)
}

/// Merge the dispatch's bundles; tasks that left none (or a damaged one) are reported with
/// their shard, their exit status and their log.
fn merge_all(args: &DispatchArgs, dispatch: &Dispatch, db: &Path) -> Result<i32> {
    let (bundles, lost) = read_bundles(dispatch);
    if bundles.is_empty() {
        eprintln!("flakehunt: error: no shard left a bundle; nothing to merge");
        return Ok(EXIT_RUNTIME);
    }
    let plan = merge::plan(bundles)?;
    for warning in &plan.warnings {
        eprintln!("flakehunt: warning: {warning}");
    }
    let merged = merge::write(&plan, db, args.out.as_deref())?;
    for note in &merged.notes {
        eprintln!("flakehunt: {note}");
    }
    eprintln!(
        "flakehunt: merged {} of {} shard(s), {} run(s), into campaign {}",
        plan.merged.len(),
        dispatch.tasks,
        plan.runs.len(),
        merged.campaign
    );
    for missing in merge::missing_indices(&plan) {
        eprintln!("flakehunt: warning: missing {missing}; the rate covers only the runs merged");
    }
    if !lost.is_empty() {
        let (engine, submit) = match args.engine {
            Engine::Slurm => ("slurm", ""),
            Engine::K8s => ("k8s", " --submit"),
        };
        eprintln!(
            "flakehunt: rerun the lost shards with: flakehunt dispatch --engine {engine} \
             --retry-lost{submit} --shared-dir {}",
            dispatch::quote(&dispatch.shared_dir.display().to_string())
        );
    }
    crate::cli::merge::show_merged(&plan, &merged, args.json)
}

/// The dispatch's bundles, and the shards lost (no bundle, a damaged one, or one of a task
/// stopped by a signal, whose runs are still merged), each said on stderr with why.
fn read_bundles(dispatch: &Dispatch) -> (Vec<read::Bundle>, Vec<(u64, String)>) {
    let mut bundles = Vec::new();
    let mut lost = Vec::new();
    for k in 1..=dispatch.tasks {
        match read::read(&dispatch.bundle(k)) {
            Ok(bundle) => {
                if bundle.end.interrupted {
                    let reason = format!(
                        "its task was stopped by a signal (killed or preempted) after {} run(s), \
                         which are merged",
                        bundle.end.runs
                    );
                    lost.push((k, reason));
                }
                bundles.push(bundle);
            }
            Err(error) => lost.push((k, lost_reason(dispatch, k, &error))),
        }
    }
    for (k, reason) in &lost {
        eprintln!(
            "flakehunt: warning: shard {k}/{} lost: {reason}",
            dispatch.tasks
        );
    }
    (bundles, lost)
}

/// Why shard `k` has no usable bundle: its recorded exit status, or none at all.
fn lost_reason(dispatch: &Dispatch, k: u64, error: &anyhow::Error) -> String {
    let log = match dispatch.image {
        Some(_) => k8s::logs_hint(dispatch),
        None => format!("task log {}", dispatch.task_log(k).display()),
    };
    let status = std::fs::read_to_string(dispatch.status_file(k)).ok();
    let what = match status.as_deref().map(str::trim) {
        Some(code) => format!("its campaign exited with status {code}"),
        None => "the task ended without a status (killed, cancelled, preempted or never started)"
            .to_string(),
    };
    let bundle = if dispatch.bundle(k).exists() {
        format!("bundle unreadable ({error:#})")
    } else {
        "no bundle".to_string()
    };
    format!("{what}; {bundle}; {log}")
}

/// `--retry-lost`: resubmit the shards of an earlier dispatch that left no bundle.
fn retry_lost(args: &DispatchArgs, db: &Path) -> Result<i32> {
    let dir = args
        .shared_dir
        .as_deref()
        .ok_or_else(|| anyhow!("--retry-lost needs --shared-dir"))?;
    let dispatch = dispatch::load(&std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf()))?;
    match (args.engine, dispatch.image.is_some()) {
        (Engine::Slurm, true) => bail!(
            "{} holds a Kubernetes dispatch; retry it with --engine k8s",
            dir.display()
        ),
        (Engine::K8s, false) => bail!(
            "{} holds a Slurm dispatch; retry it with --engine slurm",
            dir.display()
        ),
        _ => {}
    }
    let lost = dispatch::lost_shards(&dispatch);
    if lost.is_empty() {
        eprintln!(
            "flakehunt: every shard of campaign {} has its bundle",
            dispatch.campaign
        );
        return merge_all(args, &dispatch, db);
    }
    if args.engine == Engine::K8s {
        return retry_kubernetes(args, &dispatch, &lost, db);
    }
    let shards = dispatch::ranges(&lost);
    let script = slurm::script(&dispatch, &shards);
    if args.dry_run {
        crate::cli::print_stdout(&script)?;
        return Ok(EXIT_OK);
    }
    set_aside(&dispatch, &lost);
    eprintln!(
        "flakehunt: resubmitting lost shard(s) {shards} of {}",
        dispatch.tasks
    );
    run_and_merge(args, &dispatch, &script, &lost, db)
}

/// Clear the lost shards' status, and keep an interrupted shard's bundle aside: the rerun
/// writes them anew.
fn set_aside(dispatch: &Dispatch, lost: &[u64]) {
    for k in lost {
        let _ = std::fs::remove_file(dispatch.status_file(*k));
        let bundle = dispatch.bundle(*k);
        if bundle.exists() {
            let _ = std::fs::rename(&bundle, bundle.with_extension("fhb.interrupted"));
        }
    }
}

/// `--engine k8s`: write (or with --dry-run print) the Indexed Job manifest; with --submit
/// apply it, watch it and merge.
fn kubernetes(args: &DispatchArgs, dispatch: &Dispatch, db: &Path) -> Result<i32> {
    let image = args
        .image
        .as_deref()
        .ok_or_else(|| anyhow!("--engine k8s needs --image (the container the tasks run in)"))?;
    let shards: Vec<u64> = (1..=dispatch.tasks).collect();
    let name = k8s::job_name(&dispatch.campaign, 0);
    let text = k8s::manifest(dispatch, image, args.claim.as_deref(), &name, &shards)?;
    if args.dry_run {
        crate::cli::print_stdout(&text)?;
        return Ok(EXIT_OK);
    }
    // kubectl is checked before anything is written: a missing tool leaves nothing behind.
    let context = args.submit.then(k8s::ready).transpose()?;
    dispatch::stage(&dispatch.shared_dir, &dispatch.workdir, &args.command)?;
    dispatch::lay_out(dispatch)?;
    let path = dispatch.shared_dir.join("job.yaml");
    std::fs::write(&path, &text).with_context(|| format!("cannot write {}", path.display()))?;
    let job = KubeJob {
        name: &name,
        manifest: &text,
        path: &path,
        shards: &shards,
    };
    match context {
        Some(context) => submit_and_merge(args, dispatch, &job, &context, db),
        None => {
            eprintln!(
                "flakehunt: wrote {}; apply it with `kubectl apply -f {}`, then merge with \
                 `flakehunt merge {}/*.fhb` (or let --submit do both)",
                path.display(),
                path.display(),
                dispatch.shared_dir.join("bundles").display()
            );
            Ok(EXIT_OK)
        }
    }
}

/// `--retry-lost` of a Kubernetes dispatch: a new Job over the lost shards only.
fn retry_kubernetes(
    args: &DispatchArgs,
    dispatch: &Dispatch,
    lost: &[u64],
    db: &Path,
) -> Result<i32> {
    let image = args
        .image
        .as_deref()
        .or(dispatch.image.as_deref())
        .ok_or_else(|| anyhow!("--retry-lost needs --image: the dispatch saved none"))?;
    let claim = args.claim.as_deref().or(dispatch.claim.as_deref());
    let (attempt, path) = k8s::retry_manifest_path(dispatch);
    let name = k8s::job_name(&dispatch.campaign, attempt);
    let text = k8s::manifest(dispatch, image, claim, &name, lost)?;
    if args.dry_run {
        crate::cli::print_stdout(&text)?;
        return Ok(EXIT_OK);
    }
    let context = args.submit.then(k8s::ready).transpose()?;
    std::fs::write(&path, &text).with_context(|| format!("cannot write {}", path.display()))?;
    set_aside(dispatch, lost);
    eprintln!(
        "flakehunt: Job {name} reruns lost shard(s) {} of {}",
        dispatch::ranges(lost),
        dispatch.tasks
    );
    let job = KubeJob {
        name: &name,
        manifest: &text,
        path: &path,
        shards: lost,
    };
    match context {
        Some(context) => submit_and_merge(args, dispatch, &job, &context, db),
        None => {
            eprintln!(
                "flakehunt: wrote {}; apply it with `kubectl apply -f {}`, then merge with \
                 `flakehunt merge {}/*.fhb`",
                path.display(),
                path.display(),
                dispatch.shared_dir.join("bundles").display()
            );
            Ok(EXIT_OK)
        }
    }
}

/// A Kubernetes Job of a dispatch, written and ready to apply.
struct KubeJob<'a> {
    name: &'a str,
    manifest: &'a str,
    path: &'a Path,
    shards: &'a [u64],
}

/// Apply the Job, watch its shards' bundles and its status, and merge every bundle there is.
fn submit_and_merge(
    args: &DispatchArgs,
    dispatch: &Dispatch,
    job: &KubeJob,
    context: &str,
    db: &Path,
) -> Result<i32> {
    let dir = dispatch::quote(&dispatch.shared_dir.display().to_string());
    k8s::apply(job.manifest, context).with_context(|| {
        format!(
            "the manifest is in {}; once kubectl can apply it, submit the dispatch with \
             `flakehunt dispatch --engine k8s --retry-lost --submit --shared-dir {dir}`",
            job.path.display()
        )
    })?;
    k8s::remember(dispatch, job.name);
    eprintln!(
        "flakehunt: applied Job {} (context {context}): {} task(s) of campaign {}; bundles go to \
         {} (kubectl delete job {} stops it)",
        job.name,
        job.shards.len(),
        dispatch.campaign,
        dispatch.shared_dir.join("bundles").display(),
        job.name
    );
    if args.no_wait {
        eprintln!("flakehunt: merge later with: flakehunt merge {dir}/bundles/*.fhb");
        return Ok(EXIT_OK);
    }
    let started = std::time::Instant::now();
    dispatch::watch::wait(
        dispatch,
        job.shards,
        Duration::from_secs(2),
        || k8s::status(job.name).map(|status| status.tasks()),
        |line| eprintln!("flakehunt: job {}: {line}", job.name),
    );
    eprintln!(
        "flakehunt: job {} ended after {:.1}s",
        job.name,
        started.elapsed().as_secs_f64()
    );
    if let Some(status) = k8s::status(job.name) {
        for line in k8s::end_notes(&status, job.shards, dispatch.tasks) {
            eprintln!("flakehunt: {line}");
        }
    }
    merge_all(args, dispatch, db)
}
