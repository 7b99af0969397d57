//! Test targets and suites end to end, on small Rust, Go and Python projects generated here:
//! each has one test that fails on chosen runs (`FH_FAIL_ON`, matched against FLAKEHUNT_RUN)
//! next to stable ones, and writes a trace line each time one of its tests runs. The toolchain
//! commands go through wrappers that count the builds.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::{flakehunt, scratch};

/// A wrapper for `tool` (placed first on PATH) that logs every invocation's arguments, then
/// runs the real one.
fn wrap_tool(bin: &Path, name: &str, real: &Path, log: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let script = format!(
        "#!/bin/sh\nprintf '%s\\n' \"$*\" >> '{}'\nexec '{}' \"$@\"\n",
        log.display(),
        real.display()
    );
    let path = bin.join(name);
    std::fs::write(&path, script).expect("write wrapper");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
}

/// The full path of `program` on PATH.
fn which(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|candidate| candidate.is_file())
}

/// A project in a temp dir with a wrapped toolchain; every flakehunt call gets the same
/// environment (cache, PATH, trace file).
struct Project {
    dir: tempfile::TempDir,
    bin: PathBuf,
    path: std::ffi::OsString,
}

impl Project {
    fn new() -> Project {
        let dir = scratch();
        let bin = dir.path().join("bin");
        std::fs::create_dir_all(&bin).expect("bin");
        let mut path = std::ffi::OsString::from(&bin);
        path.push(":");
        path.push(std::env::var_os("PATH").unwrap_or_default());
        Project { dir, bin, path }
    }

    fn root(&self) -> PathBuf {
        self.dir.path().join("project")
    }

    fn write(&self, relative: &str, text: &str) {
        let path = self.root().join(relative);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("dirs");
        std::fs::write(path, text).expect("write");
    }

    fn tool_log(&self) -> PathBuf {
        self.dir.path().join("tool.log")
    }

    fn trace(&self) -> PathBuf {
        self.dir.path().join("trace.log")
    }

    /// Lines of the tool log that are builds (`needle` in them).
    fn builds(&self, needle: &str) -> usize {
        std::fs::read_to_string(self.tool_log())
            .unwrap_or_default()
            .lines()
            .filter(|line| line.contains(needle))
            .count()
    }

    fn traced(&self) -> Vec<String> {
        std::fs::read_to_string(self.trace())
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }

    fn flakehunt(&self, args: &[&str]) -> Output {
        flakehunt()
            .current_dir(self.root())
            .env("PATH", &self.path)
            .env("FLAKEHUNT_CACHE_DIR", self.dir.path().join("cache"))
            // A history per project: tests run side by side.
            .env("FLAKEHUNT_DB", self.dir.path().join("history.db"))
            .env("CARGO_TARGET_DIR", self.dir.path().join("target"))
            .env("FH_TRACE", self.trace())
            .env("FH_FAIL_ON", "2,5")
            .env_remove("RUST_BACKTRACE")
            .env_remove("VIRTUAL_ENV")
            .args(args)
            .output()
            .expect("run flakehunt")
    }

    /// `flakehunt run --json -q --out OUT ARGS`, its exit code and summary.
    fn run_json(&self, name: &str, args: &[&str]) -> (i32, serde_json::Value, String) {
        let out = self.dir.path().join(name);
        let mut full = vec!["run", "--json", "-q", "-j", "2", "--out"];
        let out_text = out.display().to_string();
        full.push(&out_text);
        full.extend(args);
        let output = self.flakehunt(&full);
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        let summary = serde_json::from_slice(&output.stdout).unwrap_or_else(|error| {
            panic!(
                "no JSON summary ({error}); stdout {:?} stderr {stderr}",
                String::from_utf8_lossy(&output.stdout)
            )
        });
        (output.status.code().unwrap_or(-1), summary, stderr)
    }
}

fn rust_project() -> Project {
    let project = Project::new();
    wrap_tool(
        &project.bin,
        "cargo",
        Path::new(env!("CARGO")),
        &project.tool_log(),
    );
    project.write(
        "Cargo.toml",
        "[package]\nname = \"fhdemo\"\nversion = \"0.3.1\"\nedition = \"2021\"\n\n[workspace]\n",
    );
    project.write(
        "src/lib.rs",
        r#"//! A library with one flaky test.

/// Doubles.
pub fn double(x: u64) -> u64 {
    x * 2
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    fn run() -> String {
        std::env::var("FLAKEHUNT_RUN").unwrap_or_default()
    }

    fn trace(test: &str) {
        let path = std::env::var("FH_TRACE").expect("FH_TRACE");
        let dir = std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default();
        let mut file = std::fs::OpenOptions::new().append(true).create(true).open(path).unwrap();
        file.write_all(format!("{test} run={} dir={dir}\n", run()).as_bytes()).unwrap(); // one write: parallel runs append
    }

    #[test]
    fn stable() {
        trace("stable");
        assert_eq!(super::double(2), 4);
    }

    #[test]
    fn flaky() {
        trace("flaky");
        eprintln!("WARN pool: connection reset, error: broken pipe");
        let fail_on = std::env::var("FH_FAIL_ON").unwrap_or_default();
        if fail_on.split(',').any(|n| n == run()) {
            panic!("boom on run {}", run());
        }
    }
}
"#,
    );
    project
}

#[test]
fn cargo_test_builds_once_and_reruns_exactly_that_test() {
    let project = rust_project();
    let (code, summary, stderr) =
        project.run_json("one", &["-n", "8", "--cargo-test", "tests::flaky"]);
    assert_eq!(code, 1, "{stderr}");
    assert_eq!(summary["runs"], 8);
    assert_eq!(summary["failures"], 2);
    assert_eq!(project.builds("--no-run"), 1, "{stderr}");
    assert_eq!(summary["target"]["test"], "tests::flaky");
    assert_eq!(summary["target"]["build"]["cached"], false);
    assert!(
        stderr.contains("built with `cargo test --no-run"),
        "{stderr}"
    );
    // Blamed with the panic's location and message, not the warning printed before it.
    let text = summary["signatures"][0]["text"]
        .as_str()
        .expect("signature");
    assert_eq!(
        text,
        "exit 101: panicked at src/lib.rs:35:13: boom on run N"
    );
    assert_eq!(summary["tests"][0]["test"], "tests::flaky");
    assert_eq!(summary["tests"][0]["failures"], 2);
    // Exactly that test, in the package's directory, as cargo would run it.
    let traced = project.traced();
    assert_eq!(traced.len(), 8, "{traced:?}");
    let root = project.root().canonicalize().expect("root");
    for line in &traced {
        assert!(line.starts_with("flaky run="), "{line}");
        assert!(line.ends_with(&format!("dir={}", root.display())), "{line}");
    }

    // Unchanged sources: no build at all; a changed file: one more.
    let (code, summary, stderr) = project.run_json("two", &["-n", "2", "--cargo-test", "flaky"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(project.builds("--no-run"), 1, "{stderr}");
    assert_eq!(summary["target"]["build"]["cached"], true);
    assert_eq!(summary["target"]["test"], "tests::flaky");
    project.write("src/extra.rs", "");
    let (_, summary, stderr) = project.run_json("three", &["-n", "1", "--cargo-test", "flaky"]);
    assert_eq!(project.builds("--no-run"), 2, "{stderr}");
    assert_eq!(summary["target"]["build"]["cached"], false);
}

#[test]
fn cargo_test_errors_come_before_any_run_with_cargo_s_words() {
    let project = rust_project();
    let out = project.dir.path().join("never");
    let out_text = out.display().to_string();
    let unknown = project.flakehunt(&["run", "--out", &out_text, "--cargo-test", "flak"]);
    let stderr = String::from_utf8_lossy(&unknown.stderr);
    assert_eq!(unknown.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(
            "no test is named exactly 'flak'; did you mean one of these?\n  tests::flaky"
        ),
        "{stderr}"
    );
    assert!(!out.exists());

    let both = project.flakehunt(&["run", "--cargo-test", "flaky", "--", "true"]);
    assert_eq!(both.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&both.stderr).contains("cannot be used with"));

    project.write("src/lib.rs", "pub fn broken() -> u32 { undefined_thing }\n");
    let broken = project.flakehunt(&["run", "--out", &out_text, "--cargo-test", "flaky"]);
    let stderr = String::from_utf8_lossy(&broken.stderr);
    assert_eq!(broken.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("could not be built"), "{stderr}");
    assert!(
        stderr.contains("cannot find value `undefined_thing`"),
        "{stderr}"
    );
    assert!(!out.exists());
}

#[test]
fn a_cargo_suite_is_read_test_by_test_and_its_flaky_test_hunted_alone() {
    let project = rust_project();
    let (code, summary, stderr) = project.run_json("suite", &["-n", "6", "--", "cargo", "test"]);
    assert_eq!(code, 1, "{stderr}");
    let suite = summary["campaign"]
        .as_str()
        .expect("campaign id")
        .to_string();
    assert_eq!(summary["failures"], 2);
    let tests = summary["tests"].as_array().expect("tests");
    let flaky = tests
        .iter()
        .find(|t| t["test"] == "tests::flaky")
        .expect("flaky row");
    assert_eq!(
        (flaky["runs"].as_u64(), flaky["failures"].as_u64()),
        (Some(6), Some(2))
    );
    assert_eq!(
        flaky["signature"]["text"],
        "fail: panicked at src/lib.rs:35:13: boom on run N"
    );
    let stable = tests
        .iter()
        .find(|t| t["test"] == "tests::stable")
        .expect("stable row");
    assert_eq!(stable["failures"], 0);
    let text = summary["signatures"][0]["text"]
        .as_str()
        .expect("signature");
    assert!(
        text.starts_with("exit 101: tests::flaky: panicked at src/lib.rs:35:13"),
        "{text}"
    );

    // The suite's findings become the next campaign: the flaky test alone.
    std::fs::remove_file(project.trace()).expect("reset trace");
    let (code, summary, stderr) =
        project.run_json("alone", &["-n", "3", &format!("--only-flaky={suite}")]);
    assert_eq!(code, 1, "{stderr}");
    assert_eq!(summary["target"]["test"], "tests::flaky");
    assert!(project
        .traced()
        .iter()
        .all(|line| line.starts_with("flaky ")));

    // Per-test rates across campaigns.
    let history = project.flakehunt(&["history", "--tests", "flaky", "--json"]);
    let rows: serde_json::Value = serde_json::from_slice(&history.stdout).expect("json");
    assert_eq!(rows[0]["test"], "tests::flaky");
    assert_eq!(rows[0]["runs"], 9);
    assert_eq!(rows[0]["failures"], 3);
}

fn go_project() -> Project {
    let project = Project::new();
    let go = which("go").expect("Go is needed for these tests (.ci/run installs golang-go)");
    wrap_tool(&project.bin, "go", &go, &project.tool_log());
    project.write("go.mod", "module example.com/fhgo\n\ngo 1.18\n");
    project.write(
        "pool/pool.go",
        "// Package pool is a small package with a flaky test.\npackage pool\n\n// Double doubles.\nfunc Double(x int) int { return 2 * x }\n",
    );
    project.write(
        "pool/pool_test.go",
        r#"package pool

import (
	"fmt"
	"os"
	"strings"
	"testing"
)

func trace(name string) {
	f, err := os.OpenFile(os.Getenv("FH_TRACE"), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		panic(err)
	}
	defer f.Close()
	wd, _ := os.Getwd()
	fmt.Fprintf(f, "%s run=%s dir=%s\n", name, os.Getenv("FLAKEHUNT_RUN"), wd)
}

func TestStable(t *testing.T) {
	trace("TestStable")
	if Double(2) != 4 {
		t.Fatal("math")
	}
}

func TestFlaky(t *testing.T) {
	trace("TestFlaky")
	fmt.Println("2024/01/02 10:00:00 error: dial tcp: connection refused (retrying)")
	run := os.Getenv("FLAKEHUNT_RUN")
	for _, n := range strings.Split(os.Getenv("FH_FAIL_ON"), ",") {
		if n == run {
			t.Fatalf("lost job %s", run)
		}
	}
}
"#,
    );
    project
}

#[test]
fn go_test_builds_once_and_reruns_exactly_that_test() {
    let project = go_project();
    let (code, summary, stderr) = project.run_json(
        "one",
        &["-n", "8", "--go-test", "./pool", "--go-run", "TestFlaky"],
    );
    assert_eq!(code, 1, "{stderr}");
    assert_eq!(summary["failures"], 2);
    assert_eq!(project.builds("test -c"), 1, "{stderr}");
    assert_eq!(summary["target"]["test"], "example.com/fhgo/pool.TestFlaky");
    let text = summary["signatures"][0]["text"]
        .as_str()
        .expect("signature");
    assert_eq!(
        text,
        "exit 1: --- FAIL: TestFlaky: pool_test.go:33: lost job N"
    );
    let traced = project.traced();
    assert_eq!(traced.len(), 8, "{traced:?}");
    let pool = project.root().join("pool").canonicalize().expect("pool");
    for line in &traced {
        assert!(line.starts_with("TestFlaky run="), "{line}");
        assert!(line.ends_with(&format!("dir={}", pool.display())), "{line}");
    }
    let (code, summary, stderr) = project.run_json("two", &["-n", "2", "--test", "TestFlaky"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("--test: using go"), "{stderr}");
    assert_eq!(summary["target"]["build"]["cached"], true);
    assert_eq!(project.builds("test -c"), 1, "{stderr}");

    let unknown = project.flakehunt(&["run", "--go-test", "./pool", "--run", "TestNope"]);
    let stderr = String::from_utf8_lossy(&unknown.stderr);
    assert_eq!(unknown.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("has no test named 'TestNope'"), "{stderr}");
    assert!(
        stderr.contains("TestFlaky") && stderr.contains("TestStable"),
        "{stderr}"
    );
}

#[test]
fn a_go_suite_is_read_test_by_test() {
    let project = go_project();
    let (code, summary, stderr) =
        project.run_json("suite", &["-n", "6", "--", "go", "test", "./..."]);
    assert_eq!(code, 1, "{stderr}");
    let tests = summary["tests"].as_array().expect("tests");
    let flaky = tests
        .iter()
        .find(|t| t["test"] == "example.com/fhgo/pool.TestFlaky")
        .unwrap_or_else(|| panic!("{tests:?}"));
    assert_eq!(
        (flaky["runs"].as_u64(), flaky["failures"].as_u64()),
        (Some(6), Some(2))
    );
    assert_eq!(
        flaky["signature"]["text"],
        "fail: --- FAIL: TestFlaky: pool_test.go:33: lost job N"
    );
    let stable = tests
        .iter()
        .find(|t| t["test"] == "example.com/fhgo/pool.TestStable")
        .expect("stable");
    assert_eq!(stable["failures"], 0);
}

/// A Python interpreter that has pytest: on PATH, else the system's.
fn python_with_pytest() -> PathBuf {
    let candidates = [which("python3"), Some(PathBuf::from("/usr/bin/python3"))];
    candidates
        .into_iter()
        .flatten()
        .find(|python| {
            Command::new(python)
                .args(["-c", "import pytest"])
                .output()
                .is_ok_and(|out| out.status.success())
        })
        .expect("pytest is needed for these tests (.ci/run installs python3-pytest)")
}

fn python_project() -> (Project, PathBuf) {
    let project = Project::new();
    // A virtualenv seeing the interpreter's pytest: the one a user's shell would pick.
    let venv = project.dir.path().join("venv");
    let made = Command::new(python_with_pytest())
        .args(["-m", "venv", "--without-pip", "--system-site-packages"])
        .arg(&venv)
        .output()
        .expect("python -m venv");
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    project.write("pytest.ini", "[pytest]\n");
    project.write(
        "tests/test_x.py",
        r#"import os
import sys


def trace(name):
    with open(os.environ["FH_TRACE"], "a") as f:
        f.write(f"{name} run={os.environ.get('FLAKEHUNT_RUN')} python={sys.prefix}\n")


def test_stable():
    trace("test_stable")
    assert 2 * 2 == 4


class Pool:
    pass


def test_topic():
    trace("test_topic")
    print("KeyError: 'worker-3' (ignored in __del__)", file=sys.stderr)
    pool = None if os.environ.get("FLAKEHUNT_RUN") in os.environ["FH_FAIL_ON"].split(",") else Pool()
    if pool is not None:
        pool.submit = lambda job: job
    pool.submit(1)
"#,
    );
    (project, venv)
}

#[test]
fn pytest_reruns_one_node_id_with_the_active_virtualenv() {
    let (project, venv) = python_project();
    let out = project.dir.path().join("one");
    let output = flakehunt()
        .current_dir(project.root())
        .env("VIRTUAL_ENV", &venv)
        .env("FH_TRACE", project.trace())
        .env("FH_FAIL_ON", "2,5")
        .args(["run", "--json", "-q", "-j", "2", "-n", "6", "--out"])
        .arg(&out)
        .args(["--pytest", "tests/test_x.py::test_topic"])
        .output()
        .expect("run");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    let summary: serde_json::Value = serde_json::from_slice(&output.stdout).expect("json");
    assert_eq!(summary["failures"], 2);
    assert_eq!(summary["target"]["test"], "tests/test_x.py::test_topic");
    let text = summary["signatures"][0]["text"]
        .as_str()
        .expect("signature");
    assert_eq!(
        text,
        "exit 1: FAILED tests/test_x.py::test_topic - AttributeError: 'NoneType' object has no attribute 'submit'"
    );
    let traced = project.traced();
    assert_eq!(traced.len(), 6, "{traced:?}");
    for line in &traced {
        assert!(line.starts_with("test_topic run="), "{line}");
        assert!(
            line.ends_with(&format!("python={}", venv.display())),
            "{line}"
        );
    }
    // The JUnit reports of the runs were read and removed.
    assert!(!out.join(".junit").exists());

    let unknown = project.flakehunt(&["run", "--pytest", "tests/test_x.py::test_nope"]);
    let stderr = String::from_utf8_lossy(&unknown.stderr);
    assert_eq!(unknown.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("found no test 'tests/test_x.py::test_nope'"),
        "{stderr}"
    );
}

#[test]
fn a_pytest_suite_is_read_from_per_run_junit_reports() {
    let (project, venv) = python_project();
    let python = venv.join("bin/python");
    let python = python.display().to_string();
    let (code, summary, stderr) = project.run_json(
        "suite",
        &["-n", "6", "--", &python, "-m", "pytest", "tests"],
    );
    assert_eq!(code, 1, "{stderr}");
    let tests = summary["tests"].as_array().expect("tests");
    let topic = tests
        .iter()
        .find(|t| t["test"] == "tests/test_x.py::test_topic")
        .unwrap_or_else(|| panic!("{tests:?}"));
    assert_eq!(
        (topic["runs"].as_u64(), topic["failures"].as_u64()),
        (Some(6), Some(2))
    );
    let stable = tests
        .iter()
        .find(|t| t["test"] == "tests/test_x.py::test_stable")
        .expect("stable");
    assert_eq!(stable["failures"], 0);
    let text = summary["signatures"][0]["text"]
        .as_str()
        .expect("signature");
    assert!(
        text.contains("tests/test_x.py::test_topic") && text.contains("AttributeError"),
        "{text}"
    );
}
