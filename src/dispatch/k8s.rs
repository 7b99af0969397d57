//! Kubernetes: an Indexed Job manifest (`completionMode: Indexed`), one pod per shard with
//! `JOB_COMPLETION_INDEX + 1` as its shard number, the shared directory mounted from a
//! PersistentVolumeClaim at the same path in every pod.

use anyhow::{bail, Result};

use crate::dispatch::Dispatch;

/// Longest Job name (a DNS label, with room for the pod suffixes Kubernetes adds).
const MAX_NAME: usize = 52;

/// The manifest of `dispatch` as YAML (strings written JSON-quoted, which YAML reads as is).
pub fn manifest(dispatch: &Dispatch, image: &str, claim: Option<&str>) -> Result<String> {
    crate::dispatch::check_line("--image", image)?;
    if let Some(claim) = claim {
        check_dns_name("--claim", claim)?;
    }
    let q = |text: &str| serde_json::Value::from(text).to_string();
    let name = job_name(&dispatch.campaign);
    let dir = dispatch.shared_dir.display().to_string();
    let body = format!(
        "SHARD=$((JOB_COMPLETION_INDEX + 1))\n{}",
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
        tasks = dispatch.tasks,
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

/// A DNS-1123 label from the campaign id: `flakehunt-` and the id's tail, lower case.
fn job_name(campaign: &str) -> String {
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
    let room = MAX_NAME - "flakehunt-".len();
    let tail = &cleaned[cleaned.len().saturating_sub(room)..];
    format!("flakehunt-{}", tail.trim_matches('-'))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_dns_labels() {
        let name = job_name("20261130-154042-00ab12CD34ef5678");
        assert!(name.len() <= MAX_NAME, "{name}");
        assert!(name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'));
        assert_eq!(label_value("-x_y.z-"), "x_y.z");
        assert!(check_dns_name("--claim", "Bad_Name").is_err());
        assert!(check_dns_name("--claim", "scratch-1").is_ok());
    }
}
