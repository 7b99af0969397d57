//! `flakehunt dispatch` against a real Slurm cluster (the single-node one `.ci/slurm-up`
//! starts): a job array of fixture shards merged into one campaign that finds exactly the
//! failing runs; a killed task reported and rerun with `--retry-lost`. Argument checks and
//! `--dry-run` need no cluster.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::{fixture, scratch};

fn fh(db: &Path, cwd: &Path) -> Command {
    let mut command = common::flakehunt();
    command.env("FLAKEHUNT_DB", db).current_dir(cwd);
    command
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Whether a Slurm cluster answers; says why the test is skipped if not.
fn cluster() -> bool {
    let up = Command::new("sinfo")
        .arg("-h")
        .output()
        .is_ok_and(|output| output.status.success());
    if !up {
        eprintln!("skipped: no Slurm cluster (run .ci/slurm-up)");
    }
    up
}

/// A project directory holding a copy of the fixture (a build output, so it is staged).
fn project(dir: &Path) -> PathBuf {
    let project = dir.join("project");
    std::fs::create_dir(&project).expect("mkdir");
    std::fs::copy(fixture(), project.join("fh-fixture")).expect("copy fixture");
    project
}

fn log_of(db: &Path, cwd: &Path, campaign: &str, run: u64) -> Output {
    fh(db, cwd)
        .args(["log", campaign, &run.to_string()])
        .output()
        .expect("log")
}

#[test]
fn a_job_array_finds_exactly_the_failing_runs() {
    if !cluster() {
        return;
    }
    let dir = scratch();
    let db = dir.path().join("h.db");
    let project = project(dir.path());
    let shared = dir.path().join("shared");
    let output = fh(&db, &project)
        .args([
            "dispatch",
            "--engine",
            "slurm",
            "--tasks",
            "4",
            "--runs-per-task",
            "5",
        ])
        .args(["--json", "--run-arg=--timeout=60s", "--shared-dir"])
        .arg(&shared)
        .args(["--", "./fh-fixture", "fail-on:3,7,18"])
        .output()
        .expect("dispatch");
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{err}");
    let summary: serde_json::Value = serde_json::from_slice(&output.stdout).expect("json");
    assert_eq!(summary["runs"], 20, "{err}");
    assert_eq!(summary["failures"], 3, "{err}");
    assert_eq!(summary["stop_reason"], "merged 4 of 4 shards");
    assert!(err.contains("4 of 4 shard(s) done"), "{err}");
    // The tasks ran the staged copies, not the project's files.
    assert!(shared.join("bin/flakehunt").is_file());
    assert!(shared.join("bin/cmd-fh-fixture").is_file());
    assert!(
        summary["command"][0]
            .as_str()
            .expect("program")
            .ends_with("bin/cmd-fh-fixture"),
        "{summary}"
    );
    let campaign = summary["campaign"].as_str().expect("id");
    for run in 0..20 {
        let log = log_of(&db, &project, campaign, run);
        assert_eq!(
            log.status.success(),
            [3, 7, 18].contains(&run),
            "run {run}: {}",
            stderr(&log)
        );
    }
}

#[test]
fn a_killed_task_is_reported_and_retry_lost_reruns_only_it() {
    if !cluster() {
        return;
    }
    let dir = scratch();
    let db = dir.path().join("h.db");
    let project = project(dir.path());
    let shared = dir.path().join("shared");
    let healed = dir.path().join("healed");
    // Run 1 (shard 2's first) kills its task's flakehunt outright, as the OOM killer or a
    // node crash would, until `healed` exists; runs 3, 7 and 18 fail.
    let body = format!(
        "if [ \"$FLAKEHUNT_RUN\" = 1 ] && [ ! -e '{}' ]; then kill -KILL \"$PPID\"; exit 0; fi; \
         exec ./fh-fixture fail-on:3,7,18",
        healed.display()
    );
    let first = fh(&db, &project)
        .args([
            "dispatch",
            "--engine",
            "slurm",
            "--tasks",
            "4",
            "--runs-per-task",
            "5",
        ])
        .args(["--json", "--run-arg=--no-stacks", "--shared-dir"])
        .arg(&shared)
        .args(["--", "sh", "-c", &body])
        .output()
        .expect("dispatch");
    let err = stderr(&first);
    assert_eq!(first.status.code(), Some(3), "{err}");
    assert!(
        err.contains("shard 2/4 lost: its campaign exited with status 137"),
        "{err}"
    );
    assert!(
        err.contains("missing shard 2/4: run indices 1, 5, 9, 13, 17 (5 runs)"),
        "{err}"
    );
    assert!(err.contains("--retry-lost"), "{err}");
    let summary: serde_json::Value = serde_json::from_slice(&first.stdout).expect("json");
    assert_eq!(summary["runs"], 15, "{err}");
    assert_eq!(summary["failures"], 3, "{err}");
    let campaign = summary["campaign"].as_str().expect("id").to_string();

    std::fs::write(&healed, "").expect("heal");
    let second = fh(&db, &project)
        .args([
            "dispatch",
            "--engine",
            "slurm",
            "--retry-lost",
            "--json",
            "--shared-dir",
        ])
        .arg(&shared)
        .output()
        .expect("retry");
    let err = stderr(&second);
    assert_eq!(second.status.code(), Some(1), "{err}");
    assert!(err.contains("resubmitting lost shard(s) 2 of 4"), "{err}");
    assert!(err.contains("replaced campaign"), "{err}");
    let summary: serde_json::Value = serde_json::from_slice(&second.stdout).expect("json");
    assert_eq!(summary["campaign"], campaign.as_str());
    assert_eq!(summary["runs"], 20, "{err}");
    assert_eq!(summary["failures"], 3, "{err}");
    assert_eq!(summary["stop_reason"], "merged 4 of 4 shards");
    // One campaign in the history, not two.
    let history = fh(&db, &project)
        .args(["history", "--json"])
        .output()
        .expect("history");
    let history: serde_json::Value = serde_json::from_slice(&history.stdout).expect("json");
    let ids: Vec<&serde_json::Value> = history
        .as_array()
        .expect("campaigns")
        .iter()
        .map(|row| &row["id"])
        .collect();
    assert_eq!(ids, [&serde_json::Value::from(campaign)], "{history}");
}

#[test]
fn dry_run_prints_the_batch_script_and_writes_nothing() {
    let dir = scratch();
    let db = dir.path().join("h.db");
    let project = project(dir.path());
    let output = fh(&db, &project)
        .args([
            "dispatch",
            "--engine",
            "slurm",
            "--tasks",
            "3",
            "--duration",
            "10m",
        ])
        .args([
            "--partition",
            "short",
            "--time",
            "0:20:00",
            "--sbatch-arg=--mem=1G",
        ])
        .args([
            "--dry-run",
            "--shared-dir",
            "shared",
            "--",
            "./fh-fixture",
            "it's",
        ])
        .output()
        .expect("dispatch");
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let script = String::from_utf8_lossy(&output.stdout);
    for line in [
        "#SBATCH --array=1-3",
        "#SBATCH --partition=short",
        "#SBATCH --time=0:20:00",
        "#SBATCH --mem=1G",
        "--duration 600s --shard \"$SHARD/3\"",
        "bin/cmd-fh-fixture 'it'\\''s'",
    ] {
        assert!(script.contains(line), "{line}: {script}");
    }
    let entries: Vec<_> = std::fs::read_dir(&project)
        .expect("list")
        .flatten()
        .collect();
    assert_eq!(entries.len(), 1, "dry run wrote files: {entries:?}");
    assert!(!db.exists());
}

#[test]
fn bad_dispatches_are_refused_before_anything_is_submitted() {
    let dir = scratch();
    let db = dir.path().join("h.db");
    let project = project(dir.path());
    for (args, why) in [
        (
            &["--tasks", "4", "--", "./fh-fixture"][..],
            "--runs-per-task M or --duration D",
        ),
        (
            &["--tasks", "0", "--runs-per-task", "5", "--", "./fh-fixture"],
            "--tasks",
        ),
        (
            &["--runs-per-task", "0", "--", "./fh-fixture"],
            "--runs-per-task must be",
        ),
        (
            &["--runs-per-task", "5", "--run-arg=-n", "--", "./fh-fixture"],
            "sets -n",
        ),
        (
            &[
                "--runs-per-task",
                "5",
                "--run-arg=--bogus",
                "--",
                "./fh-fixture",
            ],
            "--bogus",
        ),
        (
            &[
                "--runs-per-task",
                "5",
                "--run-arg=--fail-if=(",
                "--",
                "./fh-fixture",
            ],
            "--fail-if",
        ),
        (
            &["--runs-per-task", "5", "--", "./no-such-program"],
            "no-such-program",
        ),
        (
            &[
                "--runs-per-task",
                "5",
                "--partition",
                "a\nb",
                "--",
                "./fh-fixture",
            ],
            "line break",
        ),
        (&["--runs-per-task", "5"], "no command"),
    ] {
        let output = fh(&db, &project)
            .args(["dispatch", "--engine", "slurm", "--dry-run"])
            .args(args)
            .output()
            .expect("dispatch");
        assert_eq!(
            output.status.code(),
            Some(2),
            "{args:?}: {}",
            stderr(&output)
        );
        assert!(
            stderr(&output).contains(why),
            "{args:?}: {}",
            stderr(&output)
        );
    }
    let output = fh(&db, &project)
        .args([
            "dispatch",
            "--engine",
            "slurm",
            "--retry-lost",
            "--shared-dir",
            "nowhere",
        ])
        .output()
        .expect("dispatch");
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("dispatch.json"),
        "{}",
        stderr(&output)
    );
    let entries: Vec<_> = std::fs::read_dir(&project)
        .expect("list")
        .flatten()
        .collect();
    assert_eq!(entries.len(), 1, "{entries:?}");
}

#[test]
fn k8s_dry_run_prints_an_indexed_job() {
    let dir = scratch();
    let db = dir.path().join("h.db");
    let project = project(dir.path());
    let output = fh(&db, &project)
        .args([
            "dispatch",
            "--engine",
            "k8s",
            "--tasks",
            "5",
            "--runs-per-task",
            "100",
        ])
        .args([
            "--image",
            "debian:12",
            "--claim",
            "scratch",
            "--shared-dir",
            "/scratch/fh",
        ])
        .args(["--dry-run", "--", "./fh-fixture", "fail-on:3"])
        .output()
        .expect("dispatch");
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let manifest = String::from_utf8_lossy(&output.stdout);
    for line in [
        "kind: Job",
        "completionMode: Indexed",
        "completions: 5",
        "SHARD=$((JOB_COMPLETION_INDEX + 1))",
        "claimName: \"scratch\"",
        "mountPath: \"/scratch/fh\"",
    ] {
        assert!(manifest.contains(line), "{line}: {manifest}");
    }
    let missing = fh(&db, &project)
        .args([
            "dispatch",
            "--engine",
            "k8s",
            "--runs-per-task",
            "1",
            "--dry-run",
        ])
        .args(["--", "./fh-fixture"])
        .output()
        .expect("dispatch");
    assert_eq!(missing.status.code(), Some(2), "{}", stderr(&missing));
    assert!(stderr(&missing).contains("--image"), "{}", stderr(&missing));
}
