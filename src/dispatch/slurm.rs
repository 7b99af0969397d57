//! Slurm: the batch script of a job array (one task per shard), its submission with `sbatch`,
//! and the tasks still queued or running, from `squeue`.

use std::process::Command;

use anyhow::{bail, Context, Result};

use crate::dispatch::{quote, Dispatch};

/// The batch script running `shards` (Slurm `--array` list) of `dispatch`.
pub fn script(dispatch: &Dispatch, shards: &str) -> String {
    let dir = dispatch.shared_dir.display().to_string();
    let short: String = dispatch
        .campaign
        .chars()
        .rev()
        .take(8)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    let mut lines = vec![
        "#!/bin/sh".to_string(),
        format!("#SBATCH --job-name=flakehunt-{short}"),
        format!("#SBATCH --array={shards}"),
        format!(
            "#SBATCH --output={}",
            directive(&format!("{dir}/logs/task-%a.out"))
        ),
        format!(
            "#SBATCH --chdir={}",
            directive(&dispatch.workdir.display().to_string())
        ),
        "#SBATCH --ntasks=1".to_string(),
        format!("#SBATCH --cpus-per-task={}", dispatch.cpus_per_task),
    ];
    if let Some(partition) = &dispatch.partition {
        lines.push(format!("#SBATCH --partition={partition}"));
    }
    if let Some(time) = &dispatch.time {
        lines.push(format!("#SBATCH --time={time}"));
    }
    lines.extend(
        dispatch
            .sbatch_args
            .iter()
            .map(|arg| format!("#SBATCH {arg}")),
    );
    lines.push(format!(
        "# flakehunt campaign {} in {} shards; bundles go to {}/bundles",
        dispatch.campaign,
        dispatch.tasks,
        quote(&dir)
    ));
    lines.push("SHARD=\"$SLURM_ARRAY_TASK_ID\"".to_string());
    let mut script = lines.join("\n");
    script.push('\n');
    script.push_str(&dispatch.task_body("$SHARD"));
    script
}

/// A path in an `#SBATCH` line: double-quoted if it has blanks (sbatch splits at them).
fn directive(path: &str) -> String {
    if path.contains(char::is_whitespace) || path.contains('"') {
        format!("\"{}\"", path.replace('"', "\\\""))
    } else {
        path.to_string()
    }
}

/// Submit `script` (written to the shared directory) with `sbatch`; returns the job id.
pub fn submit(dispatch: &Dispatch, script: &str, name: &str) -> Result<String> {
    let path = dispatch.shared_dir.join(name);
    std::fs::write(&path, script).with_context(|| format!("cannot write {}", path.display()))?;
    let output = Command::new("sbatch")
        .arg("--parsable")
        .arg(&path)
        .output()
        .context("cannot run sbatch: is Slurm installed here (a login node)?")?;
    if !output.status.success() {
        bail!(
            "sbatch refused the job: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    // `--parsable` prints `jobid` or `jobid;cluster`.
    let text = String::from_utf8_lossy(&output.stdout);
    let id = text
        .trim()
        .split(';')
        .next()
        .unwrap_or_default()
        .to_string();
    if id.is_empty() || !id.chars().all(|c| c.is_ascii_digit()) {
        bail!("sbatch printed no job id: {}", text.trim());
    }
    Ok(id)
}

/// Append the job id to `slurm-jobs` in the shared directory (`scancel $(cat ...)` stops
/// every job of the dispatch); a failure to write it is only said.
pub fn remember(dispatch: &Dispatch, job: &str) {
    use std::io::Write;
    let path = dispatch.shared_dir.join("slurm-jobs");
    let written = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .and_then(|mut file| writeln!(file, "{job}"));
    if let Err(error) = written {
        eprintln!(
            "flakehunt: warning: cannot write {}: {error}",
            path.display()
        );
    }
}

/// A task of the array that Slurm still knows: its shard and state (PENDING, RUNNING...).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueuedTask {
    /// Shard number (array index); None for the array's not-yet-split pending part.
    pub shard: Option<u64>,
    /// Slurm state name.
    pub state: String,
}

/// The job's tasks still in the queue (empty when all have ended), or None when `squeue`
/// could not be asked.
pub fn queued(job: &str) -> Option<Vec<QueuedTask>> {
    let output = Command::new("squeue")
        .args(["-h", "-r", "-j", job, "-o", "%K %T"])
        .output()
        .ok()?;
    if !output.status.success() {
        // squeue fails on a job id it has already forgotten: nothing is queued.
        let stderr = String::from_utf8_lossy(&output.stderr);
        return stderr.contains("Invalid job id").then(Vec::new);
    }
    let text = String::from_utf8_lossy(&output.stdout);
    Some(
        text.lines()
            .filter_map(|line| {
                let (index, state) = line.trim().split_once(' ')?;
                Some(QueuedTask {
                    shard: index.parse().ok(),
                    state: state.trim().to_string(),
                })
            })
            .collect(),
    )
}

/// Ask Slurm whether it answers at all (`sinfo`).
pub fn available() -> bool {
    Command::new("sinfo")
        .arg("-h")
        .output()
        .is_ok_and(|output| output.status.success())
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;
    use std::time::Duration;

    use super::*;
    use crate::dispatch::Budget;

    fn dispatch(budget: Budget) -> Dispatch {
        Dispatch {
            campaign: "20261130-120000-0123456789abcdef".into(),
            tasks: 8,
            budget,
            cpus_per_task: 2,
            run_args: vec!["--timeout=30s".into(), "--fail-if=panic|data race".into()],
            command: vec![
                "/shared/fh/bin/cmd-my_test".into(),
                "--only".into(),
                "it's".into(),
            ],
            workdir: PathBuf::from("/home/me/project"),
            shared_dir: PathBuf::from("/shared/fh"),
            partition: Some("short".into()),
            time: Some("1:00:00".into()),
            sbatch_args: vec!["--mem=2G".into(), "--account=qa".into()],
            image: None,
            claim: None,
        }
    }

    #[test]
    fn batch_script_of_a_job_array() {
        insta::assert_snapshot!(script(&dispatch(Budget::RunsPerTask(10_000)), "1-8"));
    }

    #[test]
    fn batch_script_of_a_timed_retry() {
        let mut dispatch = dispatch(Budget::Duration(Duration::from_secs(1800)));
        dispatch.partition = None;
        dispatch.time = None;
        dispatch.sbatch_args.clear();
        insta::assert_snapshot!(script(&dispatch, "2,5-6"));
    }
}
