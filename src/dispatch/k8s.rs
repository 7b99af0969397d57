//! Kubernetes: an Indexed Job manifest (`completionMode: Indexed`), one pod per shard, the
//! shared directory mounted from a PersistentVolumeClaim at the same path in every pod; its
//! submission with `kubectl apply` and its progress from `kubectl get job -o json`.

use std::io::Write;
use std::process::{Command, Stdio};

use anyhow::{bail, Context, Result};
use serde_json::Value;

use crate::dispatch::slurm::QueuedTask;
use crate::dispatch::Dispatch;

/// Longest Job name (a DNS label, with room for the pod suffixes Kubernetes adds).
const MAX_NAME: usize = 52;

/// The manifest of the Job `name` running `shards` of `dispatch`, as YAML (strings written
/// JSON-quoted, which YAML reads as is). Shard `k` of a full set is index `k - 1`; a retry
/// of some shards has one index per listed shard, in order.
pub fn manifest(
    dispatch: &Dispatch,
    image: &str,
    claim: Option<&str>,
    name: &str,
    shards: &[u64],
) -> Result<String> {
    crate::dispatch::check_line("--image", image)?;
    if image.trim().is_empty() {
        bail!("--image is empty; name the container image the tasks run in");
    }
    if let Some(claim) = claim {
        check_dns_name("--claim", claim)?;
    }
    if shards.is_empty() {
        bail!("a Job needs at least one shard");
    }
    let q = |text: &str| serde_json::Value::from(text).to_string();
    let dir = dispatch.shared_dir.display().to_string();
    let body = format!(
        "{}\n{}",
        shard_of_index(dispatch, shards),
        dispatch.task_body("$SHARD")
    );
    let cpus = dispatch.cpus_per_task;
    let mut out = format!(
        "apiVersion: batch/v1
kind: Job
metadata:
  name: {name}
  labels:
    app.kubernetes.io/name: flakehunt
    flakehunt.dev/campaign: {label}
spec:
  completionMode: Indexed
  completions: {tasks}
  parallelism: {tasks}
  backoffLimit: {tasks}
  template:
    metadata:
      labels:
        app.kubernetes.io/name: flakehunt
        flakehunt.dev/campaign: {label}
    spec:
      restartPolicy: Never
      containers:
        - name: shard
          image: {image}
          workingDir: {workdir}
          command: [\"/bin/sh\", \"-c\", {body}]
          resources:
            requests:
              cpu: \"{cpus}\"
            limits:
              cpu: \"{cpus}\"
",
        label = q(&label_value(&dispatch.campaign)),
        tasks = shards.len(),
        image = q(image),
        workdir = q(&dispatch.workdir.display().to_string()),
        body = q(&body),
    );
    match claim {
        Some(claim) => out.push_str(&format!(
            "          volumeMounts:
            - name: shared
              mountPath: {dir}
      volumes:
        - name: shared
          persistentVolumeClaim:
            claimName: {claim}
",
            dir = q(&dir),
            claim = q(claim)
        )),
        None => out.push_str(&format!(
            "          # No --claim: {dir} must already be in the image or on every node.\n",
        )),
    }
    Ok(out)
}

/// The shell line setting `$SHARD` from the pod's `JOB_COMPLETION_INDEX`.
fn shard_of_index(dispatch: &Dispatch, shards: &[u64]) -> String {
    let full = shards.len() as u64 == dispatch.tasks
        && shards.iter().zip(1..).all(|(&shard, k)| shard == k);
    if full {
        return "SHARD=$((JOB_COMPLETION_INDEX + 1))".to_string();
    }
    let list: Vec<String> = shards.iter().map(u64::to_string).collect();
    format!(
        "set -- {}\nshift \"$JOB_COMPLETION_INDEX\"\nSHARD=\"$1\"",
        list.join(" ")
    )
}

/// The name of a dispatch's Job: `attempt` 0 is the first submission, then one per
/// `--retry-lost` (`-r1`, `-r2`...), each a DNS-1123 label short enough for pod names.
pub fn job_name(campaign: &str, attempt: u32) -> String {
    let suffix = if attempt == 0 {
        String::new()
    } else {
        format!("-r{attempt}")
    };
    let base = base_name(campaign, MAX_NAME - suffix.len());
    format!("{base}{suffix}")
}

/// `flakehunt-` and the campaign id's tail, lower case, at most `max` characters.
fn base_name(campaign: &str, max: usize) -> String {
    let cleaned: String = campaign
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    let room = max - "flakehunt-".len();
    let tail = &cleaned[cleaned.len().saturating_sub(room)..];
    format!("flakehunt-{}", tail.trim_matches('-'))
        .trim_end_matches('-')
        .to_string()
}

/// A label value: at most 63 of `[A-Za-z0-9._-]`, alphanumeric at both ends.
fn label_value(campaign: &str) -> String {
    let cleaned: String = campaign
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        .collect();
    let tail = &cleaned[cleaned.len().saturating_sub(63)..];
    tail.trim_matches(|c: char| !c.is_ascii_alphanumeric())
        .to_string()
}

fn check_dns_name(what: &str, name: &str) -> Result<()> {
    let fine = name.len() <= 253
        && !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name.ends_with(|c: char| c.is_ascii_alphanumeric());
    if !fine {
        bail!("{what} '{name}' is not a Kubernetes name (lower-case letters, digits, '-' and '.')");
    }
    Ok(())
}

/// Append the Job's name to `k8s-jobs` in the shared directory (`kubectl delete job $(cat
/// ...)` stops every Job of the dispatch); a failure to write it is only said.
pub fn remember(dispatch: &Dispatch, name: &str) {
    let path = dispatch.shared_dir.join("k8s-jobs");
    let written = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .and_then(|mut file| writeln!(file, "{name}"));
    if let Err(error) = written {
        eprintln!(
            "flakehunt: warning: cannot write {}: {error}",
            path.display()
        );
    }
}

/// The next free manifest file of a retry: `job-r1.yaml`, `job-r2.yaml`...; with its attempt.
pub fn retry_manifest_path(dispatch: &Dispatch) -> (u32, std::path::PathBuf) {
    let mut attempt = 1;
    loop {
        let path = dispatch.shared_dir.join(format!("job-r{attempt}.yaml"));
        if !path.exists() || attempt == u32::MAX {
            return (attempt, path);
        }
        attempt += 1;
    }
}

/// How to read the tasks' output: their pods' logs, found by the campaign label.
pub fn logs_hint(dispatch: &Dispatch) -> String {
    format!(
        "pod logs: kubectl logs -l flakehunt.dev/campaign={} --prefix",
        label_value(&dispatch.campaign)
    )
}

/// What `kubectl get job -o json` says of a Job: pods active (pending or running) and ready,
/// indexes completed and failed, and whether the Job has ended.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JobStatus {
    /// Pods pending or running.
    pub active: u64,
    /// Active pods that are ready (running).
    pub ready: u64,
    /// Pods that succeeded.
    pub succeeded: u64,
    /// Pods that failed (each retry of an index counts).
    pub failed: u64,
    /// Indexes that completed (`status.completedIndexes`).
    pub completed_indexes: Vec<u64>,
    /// Indexes given up on (`status.failedIndexes`, with a per-index backoff limit).
    pub failed_indexes: Vec<u64>,
    /// The Job's end: its `Complete` or `Failed` condition, when it has one.
    pub ended: Option<Ended>,
}

/// A Job's terminal condition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ended {
    /// `Complete` or `Failed`.
    pub condition: String,
    /// The condition's reason, e.g. `BackoffLimitExceeded`.
    pub reason: String,
    /// The condition's message.
    pub message: String,
}

impl JobStatus {
    /// Read the JSON of one Job (`kubectl get job NAME -o json`); a Job just created has no
    /// `status` fields yet, which reads as nothing started.
    pub fn parse(json: &str) -> Result<JobStatus> {
        let job: Value = serde_json::from_str(json).context("kubectl printed no Job JSON")?;
        if job.get("kind").and_then(Value::as_str) != Some("Job") {
            bail!(
                "kubectl printed a {} where a Job was asked for",
                kind_of(&job)
            );
        }
        let status = job.get("status").cloned().unwrap_or(Value::Null);
        let count = |field: &str| status.get(field).and_then(Value::as_u64).unwrap_or(0);
        let indexes = |field: &str| -> Result<Vec<u64>> {
            match status.get(field).and_then(Value::as_str) {
                Some(list) => parse_indexes(list).with_context(|| format!("status.{field}")),
                None => Ok(Vec::new()),
            }
        };
        Ok(JobStatus {
            active: count("active"),
            ready: count("ready"),
            succeeded: count("succeeded"),
            failed: count("failed"),
            completed_indexes: indexes("completedIndexes")?,
            failed_indexes: indexes("failedIndexes")?,
            ended: ended(&status),
        })
    }

    /// The Job's tasks as the watch counts them: none once it has ended; else its ready pods
    /// running and the rest queued, and one queued while it has no pod (between a failed pod
    /// and its retry), so the watch does not take a pause for the end.
    pub fn tasks(&self) -> Vec<QueuedTask> {
        if self.ended.is_some() {
            return Vec::new();
        }
        let ready = self.ready.min(self.active);
        let queued = (self.active - ready).max(u64::from(self.active == 0));
        let task = |state: &str| QueuedTask {
            shard: None,
            state: state.to_string(),
        };
        (0..ready)
            .map(|_| task("RUNNING"))
            .chain((0..queued).map(|_| task("PENDING")))
            .collect()
    }
}

/// What a Job's last status says beyond the bundles: its end, and each index it gave up on
/// as the shard that index ran (`shards[i]` of a Job over `shards`, of `tasks` in all).
pub fn end_notes(status: &JobStatus, shards: &[u64], tasks: u64) -> Vec<String> {
    let mut notes = Vec::new();
    if let Some(ended) = &status.ended {
        let mut line = format!("the Job ended: {}", ended.condition);
        if !ended.reason.is_empty() {
            line.push_str(&format!(" ({})", ended.reason));
        }
        if !ended.message.is_empty() {
            line.push_str(&format!(": {}", ended.message));
        }
        notes.push(line);
    }
    for &index in &status.failed_indexes {
        match usize::try_from(index).ok().and_then(|i| shards.get(i)) {
            Some(shard) => notes.push(format!(
                "shard {shard}/{tasks}: the Job gave up on its index {index}"
            )),
            None => notes.push(format!(
                "the Job reports index {index} failed, which it never had"
            )),
        }
    }
    notes
}

fn kind_of(value: &Value) -> String {
    value
        .get("kind")
        .and_then(Value::as_str)
        .map_or_else(|| "document without a kind".to_string(), str::to_string)
}

/// The `Complete` or `Failed` condition whose status is `"True"`. Newer clusters first set
/// `SuccessCriteriaMet` or `FailureTarget` while pods still stop: those are not the end.
fn ended(status: &Value) -> Option<Ended> {
    let conditions = status.get("conditions")?.as_array()?;
    conditions.iter().find_map(|condition| {
        let kind = condition.get("type")?.as_str()?;
        let on = condition.get("status")?.as_str()? == "True";
        let text = |field: &str| {
            condition
                .get(field)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        };
        (on && matches!(kind, "Complete" | "Failed")).then(|| Ended {
            condition: kind.to_string(),
            reason: text("reason"),
            message: text("message"),
        })
    })
}

/// `1,3-5,7`: a Job's index list, as Kubernetes writes it.
pub fn parse_indexes(list: &str) -> Result<Vec<u64>> {
    let mut indexes = Vec::new();
    for part in list.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let number = |text: &str| -> Result<u64> {
            text.trim()
                .parse()
                .with_context(|| format!("'{part}' in index list '{list}' is not an index"))
        };
        match part.split_once('-') {
            Some((start, end)) => {
                let (start, end) = (number(start)?, number(end)?);
                if end < start || end - start > 1_000_000 {
                    bail!("'{part}' in index list '{list}' is not a range");
                }
                indexes.extend(start..=end);
            }
            None => indexes.push(number(part)?),
        }
    }
    Ok(indexes)
}

/// Check that `kubectl` runs and has a current context; returns the context's name.
pub fn ready() -> Result<String> {
    let output = Command::new("kubectl")
        .args(["config", "current-context"])
        .output()
        .map_err(|error| {
            anyhow::anyhow!(
                "cannot run kubectl ({error}): --submit applies the Job with kubectl from PATH; \
                 install it, or leave out --submit and apply the manifest yourself"
            )
        })?;
    let context = String::from_utf8_lossy(&output.stdout).trim().to_string();
    if !output.status.success() || context.is_empty() {
        bail!(
            "kubectl has no current context ({}); point it at the cluster (KUBECONFIG, \
             `kubectl config use-context`) before --submit",
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(context)
}

/// Create the Job with `kubectl apply -f -`.
pub fn apply(manifest: &str, context: &str) -> Result<()> {
    let mut child = Command::new("kubectl")
        .args(["apply", "-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("cannot run kubectl apply")?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(manifest.as_bytes())
            .context("cannot write the manifest to kubectl apply")?;
    }
    let output = child
        .wait_with_output()
        .context("kubectl apply did not finish")?;
    if !output.status.success() {
        bail!(
            "kubectl apply (context {context}) refused the Job: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(())
}

/// The Job's status, None when kubectl could not say (the watch then keeps asking); a Job
/// the cluster no longer has (deleted) has ended.
pub fn status(name: &str) -> Option<JobStatus> {
    let output = Command::new("kubectl")
        .args(["get", "job", name, "-o", "json"])
        .output()
        .ok()?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        return stderr.contains("NotFound").then(|| JobStatus {
            ended: Some(Ended {
                condition: "Deleted".into(),
                reason: "NotFound".into(),
                message: stderr.trim().to_string(),
            }),
            ..JobStatus::default()
        });
    }
    JobStatus::parse(&String::from_utf8_lossy(&output.stdout)).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dispatch() -> Dispatch {
        Dispatch {
            campaign: "20261130-120000-0123456789abcdef".into(),
            tasks: 6,
            budget: crate::dispatch::Budget::RunsPerTask(100),
            cpus_per_task: 2,
            run_args: vec!["--timeout=30s".into()],
            command: vec!["/scratch/fh/bin/cmd-my_test".into(), "it's".into()],
            workdir: std::path::PathBuf::from("/src/project"),
            shared_dir: std::path::PathBuf::from("/scratch/fh"),
            partition: None,
            time: None,
            sbatch_args: Vec::new(),
            image: Some("debian:12".into()),
            claim: Some("scratch".into()),
        }
    }

    #[test]
    fn a_full_job_runs_index_plus_one_and_a_retry_its_listed_shards() {
        let dispatch = dispatch();
        let name = job_name(&dispatch.campaign, 0);
        let full = manifest(
            &dispatch,
            "debian:12",
            Some("scratch"),
            &name,
            &[1, 2, 3, 4, 5, 6],
        )
        .expect("manifest");
        assert!(
            full.contains("SHARD=$((JOB_COMPLETION_INDEX + 1))"),
            "{full}"
        );
        assert!(full.contains("completions: 6\n"), "{full}");
        let retry = manifest(
            &dispatch,
            "debian:12",
            None,
            &job_name(&dispatch.campaign, 1),
            &[2, 5],
        )
        .expect("manifest");
        insta::assert_snapshot!(retry);
        assert!(manifest(&dispatch, "debian:12", None, &name, &[]).is_err());
        assert!(manifest(&dispatch, " ", None, &name, &[1]).is_err());
    }

    #[test]
    fn index_lists_read_as_kubernetes_writes_them() {
        assert_eq!(parse_indexes("0,2-4,7").expect("list"), vec![0, 2, 3, 4, 7]);
        assert_eq!(parse_indexes("").expect("list"), Vec::<u64>::new());
        assert!(parse_indexes("1,x").is_err());
        assert!(parse_indexes("5-2").is_err());
    }

    /// A Job just created: no status fields yet.
    const CREATED: &str = r#"{"apiVersion":"batch/v1","kind":"Job","metadata":{"name":"flakehunt-x"},
        "spec":{"completionMode":"Indexed","completions":4},"status":{}}"#;

    /// Running: two pods ready, one pending, index 0 done.
    const RUNNING: &str = r#"{"apiVersion":"batch/v1","kind":"Job","metadata":{"name":"flakehunt-x"},
        "status":{"active":3,"ready":2,"succeeded":1,"completedIndexes":"0",
        "startTime":"2026-11-30T12:00:00Z","uncountedTerminatedPods":{},"terminating":0}}"#;

    /// Every index done.
    const COMPLETE: &str = r#"{"apiVersion":"batch/v1","kind":"Job","metadata":{"name":"flakehunt-x"},
        "status":{"succeeded":4,"completedIndexes":"0-3","ready":0,
        "conditions":[{"type":"SuccessCriteriaMet","status":"True","reason":"CompletionsReached"},
        {"type":"Complete","status":"True","lastProbeTime":"2026-11-30T12:05:00Z",
        "lastTransitionTime":"2026-11-30T12:05:00Z","reason":"CompletionsReached",
        "message":"Reached expected number of succeeded pods"}],
        "startTime":"2026-11-30T12:00:00Z","completionTime":"2026-11-30T12:05:00Z"}}"#;

    /// Index 2 failed past its backoff limit while the rest completed.
    const FAILED: &str = r#"{"apiVersion":"batch/v1","kind":"Job","metadata":{"name":"flakehunt-x"},
        "status":{"failed":2,"succeeded":3,"completedIndexes":"0-1,3","failedIndexes":"2",
        "conditions":[{"type":"FailureTarget","status":"True","reason":"FailedIndexes"},
        {"type":"Failed","status":"True","reason":"FailedIndexes",
        "message":"Job has failed indexes"}]}}"#;

    /// Pods stopping after the failure target was set: not ended yet.
    const STOPPING: &str = r#"{"apiVersion":"batch/v1","kind":"Job","metadata":{"name":"flakehunt-x"},
        "status":{"active":0,"failed":1,"terminating":1,
        "conditions":[{"type":"FailureTarget","status":"True","reason":"BackoffLimitExceeded"}]}}"#;

    #[test]
    fn job_status_from_kubectl_json() {
        let created = JobStatus::parse(CREATED).expect("created");
        assert_eq!(created, JobStatus::default());
        assert_eq!(created.tasks().len(), 1, "nothing started is still queued");

        let running = JobStatus::parse(RUNNING).expect("running");
        assert_eq!(
            (running.active, running.ready, running.succeeded),
            (3, 2, 1)
        );
        assert_eq!(running.completed_indexes, vec![0]);
        let states: Vec<String> = running.tasks().into_iter().map(|t| t.state).collect();
        assert_eq!(states, ["RUNNING", "RUNNING", "PENDING"]);

        let complete = JobStatus::parse(COMPLETE).expect("complete");
        assert_eq!(complete.completed_indexes, vec![0, 1, 2, 3]);
        let ended = complete.ended.clone().expect("ended");
        assert_eq!(
            (ended.condition.as_str(), ended.reason.as_str()),
            ("Complete", "CompletionsReached")
        );
        assert!(complete.tasks().is_empty());

        let failed = JobStatus::parse(FAILED).expect("failed");
        assert_eq!(failed.failed_indexes, vec![2]);
        assert_eq!(failed.completed_indexes, vec![0, 1, 3]);
        assert_eq!(failed.ended.clone().expect("ended").condition, "Failed");

        assert_eq!(
            end_notes(&failed, &[2, 5, 6, 9], 9),
            [
                "the Job ended: Failed (FailedIndexes): Job has failed indexes",
                "shard 6/9: the Job gave up on its index 2",
            ]
        );

        let stopping = JobStatus::parse(STOPPING).expect("stopping");
        assert_eq!(stopping.ended, None);
        assert_eq!(stopping.tasks().len(), 1);

        assert!(JobStatus::parse(r#"{"kind":"Pod"}"#).is_err());
        assert!(JobStatus::parse("error: not json").is_err());
        assert!(JobStatus::parse(r#"{"kind":"Job","status":{"completedIndexes":"a"}}"#).is_err());
    }

    #[test]
    fn names_are_dns_labels() {
        for attempt in [0, 1, 12, 4_000_000_000] {
            let name = job_name("20261130-154042-00ab12CD34ef5678", attempt);
            assert!(name.len() <= MAX_NAME, "{name}");
            assert!(name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'));
            assert!(
                !name.ends_with('-') && name.starts_with("flakehunt-"),
                "{name}"
            );
        }
        assert!(job_name("x", 2).ends_with("-r2"));
        assert_ne!(job_name("a-b", 0), job_name("a-b", 1));
        assert_eq!(label_value("-x_y.z-"), "x_y.z");
        assert!(check_dns_name("--claim", "Bad_Name").is_err());
        assert!(check_dns_name("--claim", "scratch-1").is_ok());
    }
}
