//! `flakehunt dispatch --engine k8s`: every manifest it writes is checked offline against the
//! Kubernetes 1.30 Job schema in strict mode (unknown fields rejected) by `kubernetes-validate`,
//! which `.ci/run` installs; mutated manifests prove the check rejects what it should.
//! `--submit` refuses clearly without kubectl, without a context, or when the real kubectl cannot
//! apply the Job (a cluster that does not answer); no cluster is needed.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use common::{fixture, scratch};

/// Kubernetes version whose schema the manifests are checked against.
const KUBE_VERSION: &str = "1.30.0";

/// Validates every YAML document on stdin as a strict Job; prints each document's
/// `completions` and its container's shell body as JSON, or the schema error and exit 1.
const VALIDATE: &str = r#"
import json, sys, yaml, kubernetes_validate as kv
docs = [d for d in yaml.safe_load_all(sys.stdin) if d is not None]
if not docs:
    sys.exit("no YAML document")
out = []
for doc in docs:
    try:
        kv.validate(doc, sys.argv[1], strict=True)
    except kv.ValidationError as error:
        sys.exit("invalid: %s" % error)
    if doc.get("kind") != "Job":
        sys.exit("not a Job: %r" % doc.get("kind"))
    spec = doc["spec"]
    out.append({"completions": spec["completions"], "mode": spec["completionMode"],
                "body": spec["template"]["spec"]["containers"][0]["command"][2]})
print(json.dumps(out))
"#;

/// A python3 with `kubernetes_validate` and `yaml`; None (said) when there is none outside CI.
fn validator() -> Option<PathBuf> {
    for python in ["python3", "/usr/bin/python3"] {
        let found = Command::new(python)
            .args(["-c", "import kubernetes_validate, yaml"])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|status| status.success());
        if found {
            return Some(PathBuf::from(python));
        }
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "kubernetes-validate is not installed; .ci/run installs it"
    );
    eprintln!(
        "skipped: no python3 with kubernetes-validate (python3 -m pip install kubernetes-validate)"
    );
    None
}

/// Validate `manifest`: Ok with its documents' summaries, or Err with the validator's words.
fn validate(python: &Path, manifest: &str) -> Result<serde_json::Value, String> {
    let mut child = Command::new(python)
        .args(["-c", VALIDATE, KUBE_VERSION])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(manifest.as_bytes())
        .expect("write manifest");
    let output = child.wait_with_output().expect("validator");
    if output.status.success() {
        Ok(serde_json::from_slice(&output.stdout).expect("validator json"))
    } else {
        Err(String::from_utf8_lossy(&output.stderr).into_owned())
    }
}

fn fh(db: &Path, cwd: &Path) -> Command {
    let mut command = common::flakehunt();
    command.env("FLAKEHUNT_DB", db).current_dir(cwd);
    command
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// A project directory holding a copy of the fixture (a build output, so it is staged).
fn project(dir: &Path) -> PathBuf {
    let project = dir.join("project");
    std::fs::create_dir(&project).expect("mkdir");
    std::fs::copy(fixture(), project.join("fh-fixture")).expect("copy fixture");
    project
}

/// `flakehunt dispatch --engine k8s ARGS`, which must succeed; its stdout.
fn dispatch(db: &Path, cwd: &Path, args: &[&str]) -> String {
    let output = fh(db, cwd)
        .args(["dispatch", "--engine", "k8s"])
        .args(args)
        .output()
        .expect("dispatch");
    assert_eq!(
        output.status.code(),
        Some(0),
        "{args:?}: {}",
        stderr(&output)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn manifests_of_every_shape_are_valid_jobs() {
    let Some(python) = validator() else {
        return;
    };
    let dir = scratch();
    let db = dir.path().join("h.db");
    let project = project(dir.path());
    let shapes: [(&[&str], u64); 4] = [
        (
            &[
                "--tasks",
                "5",
                "--runs-per-task",
                "100",
                "--image",
                "debian:12",
                "--claim",
                "scratch",
                "--shared-dir",
                "/scratch/fh",
                "--dry-run",
                "--",
                "./fh-fixture",
                "fail-on:3",
            ],
            5,
        ),
        (
            &[
                "--tasks",
                "1",
                "--duration",
                "30m",
                "--cpus-per-task",
                "4",
                "--image",
                "registry.example.com:5000/team/flaky@sha256:0123abcd",
                "--run-arg=--timeout=30s",
                "--run-arg=--fail-if=panic|data race",
                "--dry-run",
                "--",
                "./fh-fixture",
                "it's \"quoted\" $HOME",
            ],
            1,
        ),
        (
            &[
                "--tasks",
                "1000",
                "--runs-per-task",
                "1",
                "--image",
                "debian:12",
                "--claim",
                "my.claim-1",
                "--shared-dir",
                "/scratch/with space/fh",
                "--dry-run",
                "--",
                "sh",
                "-c",
                "exit 0",
            ],
            1000,
        ),
        (
            &[
                "--tasks",
                "3",
                "--runs-per-task",
                "2",
                "--image",
                "debian:12",
                "--campaign-id",
                "My_Campaign.ID--",
                "--dry-run",
                "--",
                "./fh-fixture",
            ],
            3,
        ),
    ];
    for (args, completions) in shapes {
        let manifest = dispatch(&db, &project, args);
        let docs = validate(&python, &manifest)
            .unwrap_or_else(|error| panic!("{args:?}: {error}\n{manifest}"));
        assert_eq!(docs[0]["completions"], completions, "{args:?}");
        assert_eq!(docs[0]["mode"], "Indexed");
        let body = docs[0]["body"].as_str().expect("body");
        assert!(
            body.starts_with("SHARD=$((JOB_COMPLETION_INDEX + 1))\n"),
            "{body}"
        );
    }
}

#[test]
fn a_retry_is_a_valid_job_over_the_lost_shards_only() {
    let Some(python) = validator() else {
        return;
    };
    let dir = scratch();
    let db = dir.path().join("h.db");
    let project = project(dir.path());
    let shared = dir.path().join("shared");
    let shared_arg = shared.display().to_string();
    // Without --submit the manifest is written beside the staged binaries, not applied.
    dispatch(
        &db,
        &project,
        &[
            "--tasks",
            "4",
            "--runs-per-task",
            "2",
            "--image",
            "debian:12",
            "--claim",
            "scratch",
            "--campaign-id",
            "k8s-retry",
            "--shared-dir",
            &shared_arg,
            "--",
            "./fh-fixture",
        ],
    );
    let first = std::fs::read_to_string(shared.join("job.yaml")).expect("job.yaml");
    validate(&python, &first).unwrap_or_else(|error| panic!("{error}\n{first}"));
    assert!(shared.join("bin/flakehunt").is_file());
    // Shards 2 and 3 finish, as their pods would have.
    for k in [2, 3] {
        let run = fh(&db, &project)
            .args(["run", "--quiet", "--no-history", "-n", "8", "--shard"])
            .arg(format!("{k}/4"))
            .args(["--campaign-id", "k8s-retry", "--export"])
            .arg(shared.join(format!("bundles/shard-{k}.fhb")))
            .args(["--", "./fh-fixture"])
            .output()
            .expect("shard");
        assert_eq!(run.status.code(), Some(0), "{}", stderr(&run));
    }
    let retry = dispatch(
        &db,
        &project,
        &["--retry-lost", "--dry-run", "--shared-dir", &shared_arg],
    );
    let docs = validate(&python, &retry).unwrap_or_else(|error| panic!("{error}\n{retry}"));
    assert_eq!(docs[0]["completions"], 2);
    let body = docs[0]["body"].as_str().expect("body");
    assert!(
        body.starts_with("set -- 1 4\nshift \"$JOB_COMPLETION_INDEX\"\n"),
        "{body}"
    );
    assert!(retry.contains("name: flakehunt-k8s-retry-r1\n"), "{retry}");
    assert!(retry.contains("claimName: \"scratch\""), "{retry}");
    assert!(
        !shared.join("job-r1.yaml").exists(),
        "--dry-run writes nothing"
    );
    // Without --dry-run it is written, named for the attempt.
    let output = fh(&db, &project)
        .args([
            "dispatch",
            "--engine",
            "k8s",
            "--retry-lost",
            "--shared-dir",
            &shared_arg,
        ])
        .output()
        .expect("retry");
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("reruns lost shard(s) 1,4 of 4"),
        "{}",
        stderr(&output)
    );
    let written = std::fs::read_to_string(shared.join("job-r1.yaml")).expect("job-r1.yaml");
    assert_eq!(written, retry);
    let again = dispatch(
        &db,
        &project,
        &["--retry-lost", "--dry-run", "--shared-dir", &shared_arg],
    );
    assert!(again.contains("name: flakehunt-k8s-retry-r2\n"), "{again}");
    // A Slurm retry of a Kubernetes dispatch is refused.
    let slurm = fh(&db, &project)
        .args([
            "dispatch",
            "--engine",
            "slurm",
            "--retry-lost",
            "--shared-dir",
            &shared_arg,
        ])
        .output()
        .expect("retry");
    assert_eq!(slurm.status.code(), Some(2), "{}", stderr(&slurm));
    assert!(
        stderr(&slurm).contains("Kubernetes dispatch"),
        "{}",
        stderr(&slurm)
    );
}

#[test]
fn the_schema_check_rejects_broken_manifests() {
    let Some(python) = validator() else {
        return;
    };
    let dir = scratch();
    let db = dir.path().join("h.db");
    let project = project(dir.path());
    let manifest = dispatch(
        &db,
        &project,
        &[
            "--tasks",
            "2",
            "--runs-per-task",
            "3",
            "--image",
            "debian:12",
            "--claim",
            "scratch",
            "--dry-run",
            "--",
            "./fh-fixture",
        ],
    );
    validate(&python, &manifest).expect("the unmutated manifest is valid");
    let mutations = [
        // An unknown field of the Job's spec.
        (
            "  completionMode: Indexed\n",
            "  completionMode: Indexed\n  completionsMode: Indexed\n",
        ),
        // An unknown field of the container.
        (
            "          image: ",
            "          imagePullPolice: Always\n          image: ",
        ),
        // A count written as text.
        ("  completions: 2\n", "  completions: \"two\"\n"),
        // A mount without its volume's name.
        (
            "            - name: shared\n",
            "            - nam: shared\n",
        ),
    ];
    for (from, to) in mutations {
        assert!(manifest.contains(from), "{from:?} not in {manifest}");
        let broken = manifest.replacen(from, to, 1);
        let error = validate(&python, &broken).expect_err(&format!("accepted {to:?}"));
        assert!(error.contains("invalid"), "{error}");
    }
}

/// A kubeconfig whose only cluster is a closed local port.
const UNREACHABLE: &str = "apiVersion: v1
kind: Config
clusters:
- name: nowhere
  cluster:
    server: https://127.0.0.1:1
contexts:
- name: nowhere
  context:
    cluster: nowhere
    user: nobody
current-context: nowhere
users:
- name: nobody
  user:
    token: none
";

#[test]
fn submit_says_what_is_missing_and_writes_nothing() {
    let dir = scratch();
    let db = dir.path().join("h.db");
    let project = project(dir.path());
    let shared = dir.path().join("shared");
    let empty_path = dir.path().join("no-tools");
    std::fs::create_dir(&empty_path).expect("mkdir");
    let submit = |path: &Path, kubeconfig: &Path| {
        fh(&db, &project)
            .args([
                "dispatch",
                "--engine",
                "k8s",
                "--runs-per-task",
                "1",
                "--image",
                "debian:12",
            ])
            .arg("--shared-dir")
            .arg(&shared)
            .args(["--submit", "--", "./fh-fixture"])
            .env("PATH", path)
            .env("KUBECONFIG", kubeconfig)
            .output()
            .expect("dispatch")
    };
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(&kubeconfig, "").expect("kubeconfig");
    let no_kubectl = submit(&empty_path, &kubeconfig);
    assert_eq!(no_kubectl.status.code(), Some(2), "{}", stderr(&no_kubectl));
    assert!(
        stderr(&no_kubectl).contains("cannot run kubectl"),
        "{}",
        stderr(&no_kubectl)
    );
    assert!(!shared.exists(), "nothing is written without kubectl");

    let path = std::env::var_os("PATH").unwrap_or_default();
    let kubectl = std::env::split_paths(&path).any(|dir| dir.join("kubectl").is_file());
    if kubectl {
        let no_context = submit(Path::new(&path), &kubeconfig);
        assert_eq!(no_context.status.code(), Some(2), "{}", stderr(&no_context));
        assert!(
            stderr(&no_context).contains("no current context"),
            "{}",
            stderr(&no_context)
        );
        assert!(!shared.exists(), "nothing is written without a context");
        // A context whose cluster does not answer: kubectl apply itself fails, said with the
        // context, and the written dispatch can be submitted again with --retry-lost.
        std::fs::write(&kubeconfig, UNREACHABLE).expect("kubeconfig");
        let refused = submit(Path::new(&path), &kubeconfig);
        let err = stderr(&refused);
        assert_eq!(refused.status.code(), Some(2), "{err}");
        assert!(
            err.contains("kubectl apply (context nowhere) refused the Job"),
            "{err}"
        );
        assert!(err.contains("--retry-lost --submit"), "{err}");
        assert!(shared.join("job.yaml").is_file() && shared.join("dispatch.json").is_file());
        assert!(!shared.join("k8s-jobs").exists(), "no Job was created");
    } else {
        eprintln!("skipped: the no-context half needs kubectl on PATH");
    }

    for (args, words) in [
        (
            &["--engine", "slurm", "--submit"][..],
            "--submit is for --engine k8s",
        ),
        (
            &["--engine", "k8s", "--submit", "--dry-run"][..],
            "cannot be used with",
        ),
    ] {
        let output = fh(&db, &project)
            .arg("dispatch")
            .args(args)
            .args(["--runs-per-task", "1", "--image", "x", "--", "./fh-fixture"])
            .output()
            .expect("dispatch");
        assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
        assert!(
            stderr(&output).contains(words),
            "{args:?}: {}",
            stderr(&output)
        );
    }
}
