//! Test targets: one named test of a Rust, Go or Python project, built once (cached by source
//! state) and rerun alone by its own binary; and whole test suites whose runs are parsed test by
//! test. Everything here happens before the first run; errors carry the runner's own words.

pub mod cache;
pub mod cargo;
pub mod detect;
pub mod go;
pub mod pytest;
pub mod suite;
mod tool;

use std::cell::RefCell;
use std::collections::HashMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::{LazyLock, Mutex};

use serde::{Deserialize, Serialize};

use crate::analysis::per_test::{BuildSummary, TargetSummary};

pub use suite::SuiteKind;

/// A test target as asked for on the command line, before anything is built.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum TargetRequest {
    /// `--cargo-test NAME [-p PKG] [--features F]`.
    Cargo {
        /// Full libtest name (`pool::tests::results_keep_order`).
        name: String,
        /// `-p PKG`.
        package: Option<String>,
        /// `--features F`.
        features: Option<String>,
    },
    /// `--go-test PKG --go-run NAME [--race]`.
    Go {
        /// Package pattern as `go test` takes it (`./runtime`, `example.com/x/pool`).
        package: String,
        /// Test name (`TestCtrlHandler`, or `TestX/subtest`).
        name: String,
        /// Build with the race detector.
        race: bool,
    },
    /// `--pytest NODEID`.
    Pytest {
        /// pytest node id (`tests/test_x.py::test_topic`).
        node_id: String,
    },
    /// `--test NAME`: the runner is picked from the project's files.
    Auto {
        /// Test name, in the detected runner's own form.
        name: String,
    },
}

/// The test runners flakehunt knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Runner {
    /// Rust's libtest, built by cargo.
    Cargo,
    /// `go test`.
    Go,
    /// pytest.
    Pytest,
}

impl Runner {
    /// Stable lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Runner::Cargo => "cargo",
            Runner::Go => "go",
            Runner::Pytest => "pytest",
        }
    }
}

/// How long the build took, or that it was not needed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BuildReport {
    /// The build command, as a user would type it.
    pub command: String,
    /// Seconds the build (and the test listing) took; for a cached build, the check alone.
    pub seconds: f64,
    /// True when the source state matched a previous build and nothing was built.
    pub cached: bool,
}

/// A target turned into the command that reruns exactly that test.
#[derive(Debug, Clone)]
pub struct Resolved {
    /// Which runner.
    pub runner: Runner,
    /// The test, as the runner names it in its reports (and as per-test results name it).
    pub test: String,
    /// Program of each run (absolute).
    pub program: PathBuf,
    /// Its arguments.
    pub args: Vec<OsString>,
    /// Working directory of each run.
    pub cwd: PathBuf,
    /// Environment the runner would have set for the test.
    pub env: Vec<(OsString, OsString)>,
    /// The build, for runners that build.
    pub build: Option<BuildReport>,
    /// Write a JUnit report per run with this argument prefix (the path follows it).
    pub junit_arg: Option<String>,
    /// What a user should be told about choices made (the detected runner...).
    pub notes: Vec<String>,
}

impl Resolved {
    /// The part a campaign records and its summary shows.
    pub fn info(&self) -> TargetSummary {
        TargetSummary {
            runner: self.runner.as_str().to_string(),
            test: self.test.clone(),
            build: self.build.as_ref().map(|build| BuildSummary {
                command: build.command.clone(),
                seconds: build.seconds,
                cached: build.cached,
            }),
        }
    }
}

/// Resolutions already made by this process: commands that run several campaigns (`hunt`,
/// `window`, `verify`) build and list once.
type ResolvedKey = (TargetRequest, PathBuf, Vec<(OsString, OsString)>);
static RESOLVED: LazyLock<Mutex<HashMap<ResolvedKey, Resolved>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));

thread_local! {
    /// Variables added to the toolchain commands started on this thread (see [`with_build_env`]).
    static BUILD_ENV: RefCell<Vec<(OsString, OsString)>> = const { RefCell::new(Vec::new()) };
}

/// Run `f` with `env` added to the environment of every toolchain command (build, listing) that
/// resolving a target starts on this thread: e.g. a `CARGO_TARGET_DIR` of its own for a checkout
/// whose test binaries must not overwrite another checkout's. Resolutions and cached builds are
/// kept apart by these variables.
pub fn with_build_env<R>(env: &[(OsString, OsString)], f: impl FnOnce() -> R) -> R {
    struct Restore(Vec<(OsString, OsString)>);
    impl Drop for Restore {
        fn drop(&mut self) {
            let previous = std::mem::take(&mut self.0);
            BUILD_ENV.with(|cell| *cell.borrow_mut() = previous);
        }
    }
    let previous = BUILD_ENV.with(|cell| cell.replace(env.to_vec()));
    let _restore = Restore(previous);
    f()
}

/// The variables [`with_build_env`] set for this thread.
fn build_env() -> Vec<(OsString, OsString)> {
    BUILD_ENV.with(|cell| cell.borrow().clone())
}

/// Build (or find in the cache) what `request` needs and return the command that reruns exactly
/// that test. `dir` is where the project is looked for (`--cwd`, else the current directory).
/// Says on stderr what it built or chose, once per process.
pub fn resolve(request: &TargetRequest, dir: &Path) -> anyhow::Result<Resolved> {
    let key = (request.clone(), dir.to_path_buf(), build_env());
    if let Some(found) = RESOLVED.lock().ok().and_then(|map| map.get(&key).cloned()) {
        return Ok(found);
    }
    let resolved = match request {
        TargetRequest::Cargo {
            name,
            package,
            features,
        } => cargo::resolve(name, package.as_deref(), features.as_deref(), dir)?,
        TargetRequest::Go {
            package,
            name,
            race,
        } => go::resolve(package, name, *race, dir)?,
        TargetRequest::Pytest { node_id } => pytest::resolve(node_id, dir)?,
        TargetRequest::Auto { name } => detect::resolve(name, dir)?,
    };
    for note in &resolved.notes {
        eprintln!("flakehunt: {note}");
    }
    if let Some(build) = &resolved.build {
        eprintln!("flakehunt: {}", describe_build(build));
    }
    if let Ok(mut map) = RESOLVED.lock() {
        map.insert(key, resolved.clone());
    }
    Ok(resolved)
}

/// `built with CMD in 3.2s` or `build cached (source unchanged since CMD), checked in 0.1s`.
pub fn describe_build(build: &BuildReport) -> String {
    let took = format!("{:.1}s", build.seconds);
    if build.cached {
        format!(
            "build cached: source unchanged since the last `{}` (checked in {took})",
            build.command
        )
    } else {
        format!("built with `{}` in {took}", build.command)
    }
}

/// Seconds since `start`.
fn seconds_since(start: std::time::Instant) -> f64 {
    start.elapsed().as_secs_f64()
}

/// A list of names for an error message: at most `limit`, one per line, indented.
fn candidate_list(names: &[String], limit: usize) -> String {
    let mut out = String::new();
    for name in names.iter().take(limit) {
        out.push_str("\n  ");
        out.push_str(name);
    }
    if names.len() > limit {
        out.push_str(&format!("\n  ... and {} more", names.len() - limit));
    }
    out
}

/// Names among `all` that look like what a user meant by `wanted`: those containing it (or its
/// last `::`/`.`/`/` segment), case-insensitively.
fn similar(all: &[String], wanted: &str) -> Vec<String> {
    let wanted = wanted.to_lowercase();
    let last = wanted
        .rsplit([':', '.', '/'])
        .find(|part| !part.is_empty())
        .unwrap_or(&wanted)
        .to_string();
    let mut found: Vec<String> = all
        .iter()
        .filter(|name| {
            let lower = name.to_lowercase();
            lower.contains(&wanted) || lower.contains(&last) || wanted.contains(&lower)
        })
        .cloned()
        .collect();
    found.sort();
    found.dedup();
    found
}
