//! Dispatch: one campaign run as the shards of a batch engine's job (a Slurm job array, a
//! Kubernetes Indexed Job). The engine schedules; flakehunt stages itself and the command to a
//! shared directory, generates the job, watches the bundles arrive and merges them.

pub mod k8s;
pub mod slurm;
pub mod watch;

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

/// Most tasks one dispatch may have (Slurm's default MaxArraySize is 1001).
pub const MAX_TASKS: u64 = 100_000;

/// How much each task runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Budget {
    /// Exactly this many runs per task (the campaign has tasks x runs runs).
    RunsPerTask(u64),
    /// Each task runs for this long.
    Duration(#[serde(with = "humantime_serde_secs")] Duration),
}

mod humantime_serde_secs {
    //! A duration as whole-and-fractional seconds.
    use std::time::Duration;

    pub fn serialize<S: serde::Serializer>(value: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(value.as_secs_f64())
    }

    pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let seconds: f64 = serde::Deserialize::deserialize(d)?;
        Duration::try_from_secs_f64(seconds).map_err(serde::de::Error::custom)
    }
}

/// Everything that defines a dispatched campaign; saved as `dispatch.json` in the shared
/// directory, so `--retry-lost` resubmits exactly the same shards.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Dispatch {
    /// Campaign id every shard shares.
    pub campaign: String,
    /// Shards (tasks) of the campaign.
    pub tasks: u64,
    /// What each task runs.
    pub budget: Budget,
    /// CPUs per task, and runs in parallel in each.
    pub cpus_per_task: u32,
    /// Extra `flakehunt run` options for every task, as given.
    pub run_args: Vec<String>,
    /// The command as the tasks run it (a staged program's path in the shared directory).
    pub command: Vec<String>,
    /// Working directory of the tasks.
    pub workdir: PathBuf,
    /// The shared directory.
    pub shared_dir: PathBuf,
    /// Slurm partition.
    pub partition: Option<String>,
    /// Slurm time limit per task.
    pub time: Option<String>,
    /// Extra `#SBATCH` lines.
    pub sbatch_args: Vec<String>,
    /// Container image (Kubernetes).
    pub image: Option<String>,
    /// PersistentVolumeClaim mounted at the shared directory (Kubernetes).
    pub claim: Option<String>,
}

impl Dispatch {
    /// The campaign's `--runs`, if it has a fixed number.
    pub fn campaign_runs(&self) -> Option<u64> {
        match self.budget {
            Budget::RunsPerTask(runs) => Some(runs.saturating_mul(self.tasks)),
            Budget::Duration(_) => None,
        }
    }

    /// Where task `k`'s bundle goes.
    pub fn bundle(&self, k: u64) -> PathBuf {
        self.shared_dir
            .join("bundles")
            .join(format!("shard-{k}.fhb"))
    }

    /// The staged flakehunt binary.
    pub fn binary(&self) -> PathBuf {
        self.shared_dir.join("bin").join("flakehunt")
    }

    /// Where task `k` writes its exit status.
    pub fn status_file(&self, k: u64) -> PathBuf {
        self.shared_dir
            .join("status")
            .join(format!("shard-{k}.exit"))
    }

    /// Where the engine writes task `k`'s own output.
    pub fn task_log(&self, k: u64) -> PathBuf {
        self.shared_dir.join("logs").join(format!("task-{k}.out"))
    }

    /// The `flakehunt run` command line of a task, for a POSIX shell, with `$SHARD` (a shell
    /// expression) as its shard number.
    pub fn task_command(&self, shard: &str) -> String {
        let dir = self.shared_dir.display().to_string();
        let mut words = vec![
            quote(&self.binary().display().to_string()),
            "run".into(),
            "--quiet".into(),
            "--no-history".into(),
            "--progress".into(),
            "lines".into(),
            "-j".into(),
            self.cpus_per_task.to_string(),
        ];
        match self.budget {
            Budget::RunsPerTask(_) => {
                let total = self.campaign_runs().unwrap_or(0);
                words.extend(["-n".into(), total.to_string()]);
            }
            Budget::Duration(duration) => {
                words.extend(["--duration".into(), format!("{}s", duration.as_secs_f64())]);
            }
        }
        words.extend([
            "--shard".into(),
            format!("\"{shard}/{}\"", self.tasks),
            "--campaign-id".into(),
            quote(&self.campaign),
            "--out".into(),
            format!("{}/out/shard-\"{shard}\"", quote(&dir)),
            "--export".into(),
            format!("{}/bundles/shard-\"{shard}\".fhb", quote(&dir)),
        ]);
        words.extend(self.run_args.iter().map(|arg| quote(arg)));
        words.push("--".into());
        words.extend(self.command.iter().map(|arg| quote(arg)));
        words.join(" ")
    }

    /// The shell lines every engine's task runs: the campaign, its exit status recorded, and
    /// a task exit of 0 when the campaign ran (finding failures is its job, not an error).
    pub fn task_body(&self, shard: &str) -> String {
        let status = format!(
            "{}/status/shard-\"{shard}\".exit",
            quote(&self.shared_dir.display().to_string())
        );
        format!(
            "{command}\nstatus=$?\necho \"$status\" > {status}\n\
             if [ \"$status\" -eq 1 ]; then exit 0; fi\nexit \"$status\"\n",
            command = self.task_command(shard)
        )
    }
}

/// `text` as one POSIX shell word.
pub fn quote(text: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c);
    if !text.is_empty() && text.chars().all(plain) {
        return text.to_string();
    }
    format!("'{}'", text.replace('\'', "'\\''"))
}

/// Refuse text that cannot go into a job script line.
pub fn check_line(what: &str, text: &str) -> Result<()> {
    if text.contains(['\n', '\r', '\0']) {
        bail!(
            "{what} '{}' has a line break or NUL; a job script cannot hold it",
            text.escape_debug()
        );
    }
    Ok(())
}

/// The command as tasks run it: a program inside `workdir` (a build output of the project)
/// runs from its copy in `shared_dir/bin`; any other (a system tool, an interpreter) is
/// expected at the same path on the nodes.
pub fn staged_command(shared_dir: &Path, workdir: &Path, command: &[OsString]) -> Vec<String> {
    let mut staged: Vec<String> = command
        .iter()
        .map(|arg| arg.to_string_lossy().into_owned())
        .collect();
    if let Some(program) = staged.first_mut() {
        if let Some(target) = staged_program(shared_dir, workdir, Path::new(program.as_str())) {
            *program = target.display().to_string();
        }
    }
    staged
}

fn staged_program(shared_dir: &Path, workdir: &Path, program: &Path) -> Option<PathBuf> {
    if !program.to_string_lossy().contains('/') || !program.is_file() {
        return None;
    }
    let absolute = std::fs::canonicalize(workdir.join(program)).ok()?;
    let workdir = std::fs::canonicalize(workdir).ok()?;
    if !absolute.starts_with(&workdir) {
        return None;
    }
    let name = program.file_name()?.to_string_lossy().into_owned();
    Some(shared_dir.join("bin").join(format!("cmd-{name}")))
}

/// Copy the flakehunt binary, and the command's program when it is a file given by path,
/// into `shared_dir/bin` (see [`staged_command`]).
pub fn stage(shared_dir: &Path, workdir: &Path, command: &[OsString]) -> Result<()> {
    let bin = shared_dir.join("bin");
    std::fs::create_dir_all(&bin).with_context(|| format!("cannot create {}", bin.display()))?;
    let exe = std::env::current_exe().context("cannot find the flakehunt binary to stage")?;
    copy_executable(&exe, &bin.join("flakehunt"))?;
    if let Some(program) = command.first() {
        if let Some(target) = staged_program(shared_dir, workdir, Path::new(program)) {
            copy_executable(&workdir.join(program), &target)?;
        }
    }
    Ok(())
}

fn copy_executable(from: &Path, to: &Path) -> Result<()> {
    // Copy then rename: a task never starts a half-copied binary.
    let partial = to.with_extension("partial");
    std::fs::copy(from, &partial)
        .with_context(|| format!("cannot stage {} to {}", from.display(), to.display()))?;
    std::fs::rename(&partial, to)
        .with_context(|| format!("cannot stage {} to {}", from.display(), to.display()))?;
    Ok(())
}

/// Create the shared directory's layout and save the dispatch in it.
pub fn lay_out(dispatch: &Dispatch) -> Result<()> {
    for sub in ["bundles", "out", "status", "logs"] {
        let dir = dispatch.shared_dir.join(sub);
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
    }
    save(dispatch)
}

/// Save `dispatch.json`.
pub fn save(dispatch: &Dispatch) -> Result<()> {
    let path = dispatch.shared_dir.join("dispatch.json");
    let json = serde_json::to_vec_pretty(dispatch).context("encode dispatch.json")?;
    std::fs::write(&path, json).with_context(|| format!("cannot write {}", path.display()))
}

/// Load the `dispatch.json` of an earlier dispatch.
pub fn load(shared_dir: &Path) -> Result<Dispatch> {
    let path = shared_dir.join("dispatch.json");
    let text = std::fs::read(&path).with_context(|| {
        format!(
            "cannot read {}: --retry-lost needs the --shared-dir of an earlier dispatch",
            path.display()
        )
    })?;
    serde_json::from_slice(&text).with_context(|| format!("{} is corrupt", path.display()))
}

/// Shards to run again: no bundle, an unreadable one, or one of a task stopped by a signal
/// (killed or preempted) before its own end.
pub fn lost_shards(dispatch: &Dispatch) -> Vec<u64> {
    (1..=dispatch.tasks)
        .filter(|&k| {
            crate::bundle::read::read(&dispatch.bundle(k))
                .map_or(true, |bundle| bundle.end.interrupted)
        })
        .collect()
}

/// `1,3,5-9`: shard numbers as a Slurm `--array` list.
pub fn ranges(numbers: &[u64]) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut iter = numbers.iter().copied().peekable();
    while let Some(start) = iter.next() {
        let mut end = start;
        while iter.peek() == Some(&(end + 1)) {
            end += 1;
            iter.next();
        }
        parts.push(if start == end {
            start.to_string()
        } else {
            format!("{start}-{end}")
        });
    }
    parts.join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_quoted_for_the_shell() {
        assert_eq!(quote("plain/path-1.2"), "plain/path-1.2");
        assert_eq!(quote("it's here"), "'it'\\''s here'");
        assert_eq!(quote(""), "''");
        assert_eq!(quote("$HOME;rm"), "'$HOME;rm'");
    }

    #[test]
    fn shard_lists_become_array_ranges() {
        assert_eq!(ranges(&[1, 2, 3, 5, 7, 8]), "1-3,5,7-8");
        assert_eq!(ranges(&[4]), "4");
        assert_eq!(ranges(&[]), "");
    }
}
