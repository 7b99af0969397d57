//! What a campaign runs when it names a test target or runs a suite: the target is built (or
//! found in the build cache) and turned into the command that reruns exactly that test; a
//! suite command is asked for the machine-readable output its runs are parsed from.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use anyhow::{bail, Result};

use crate::analysis::per_test::TargetSummary;
use crate::campaign::setup::CampaignRequest;
use crate::target::suite::{self, PerTest, SuiteKind};

/// The command of a campaign, once its target or suite is worked out.
#[derive(Debug, Clone)]
pub struct Planned {
    /// The program and its arguments (as run, and as recorded).
    pub command: Vec<OsString>,
    /// Working directory of each run.
    pub cwd: Option<PathBuf>,
    /// Environment of each run: the target's, then the user's `--env` (which wins).
    pub env: Vec<(OsString, OsString)>,
    /// How each run's per-test results are read.
    pub per_test: Option<PerTest>,
    /// The target, for the summary.
    pub target: Option<TargetSummary>,
}

/// Name of the directory (inside the campaign's output directory) that holds each run's JUnit
/// report until it is read.
pub const JUNIT_DIR: &str = ".junit";

/// Work out what the campaign runs. `cwd` is the checked `--cwd`; `out_dir` the campaign's
/// output directory. Builds happen here, before any run; nothing else is written.
pub fn plan(request: &CampaignRequest, cwd: Option<PathBuf>, out_dir: &Path) -> Result<Planned> {
    if request.only_flaky.is_some() {
        bail!("--only-flaky starts one campaign per flaky test: use it with `flakehunt run`");
    }
    let junit_dir = out_dir.join(JUNIT_DIR);
    let Some(target) = &request.target else {
        return Ok(plan_command(request, cwd, &junit_dir));
    };
    if let Some(kind) = request.suite {
        bail!(
            "--suite {} reads a whole suite's runs; a test target is one test (drop one of them)",
            kind.as_str()
        );
    }
    let dir = match &cwd {
        Some(dir) => dir.clone(),
        None => std::env::current_dir()?,
    };
    let resolved = crate::target::resolve(target, &dir)?;
    let mut command = vec![resolved.program.clone().into_os_string()];
    command.extend(resolved.args.iter().cloned());
    if let Some(prefix) = &resolved.junit_arg {
        command.push(suite::junit_arg(prefix, &junit_dir));
    }
    let mut env: Vec<(OsString, OsString)> = resolved
        .env
        .iter()
        .filter(|(key, _)| !request.env.iter().any(|(user, _)| user == key))
        .cloned()
        .collect();
    env.extend(request.env.iter().cloned());
    Ok(Planned {
        command,
        cwd: Some(resolved.cwd.clone()),
        env,
        per_test: Some(PerTest::Single {
            test: resolved.test.clone(),
            junit_dir: resolved.junit_arg.as_ref().map(|_| junit_dir.clone()),
        }),
        target: Some(resolved.info()),
    })
}

/// A plain command: a suite's (recognised, or named with `--suite`) asks for per-test output.
fn plan_command(request: &CampaignRequest, cwd: Option<PathBuf>, junit_dir: &Path) -> Planned {
    let kind: Option<SuiteKind> = request.suite.or_else(|| suite::detect(&request.command));
    let mut command = request.command.clone();
    let per_test = kind.map(|kind| {
        command = suite::adapt_command(kind, &command);
        let junit = (kind == SuiteKind::Pytest).then(|| {
            command.push(suite::junit_arg("--junitxml=", junit_dir));
            junit_dir.to_path_buf()
        });
        PerTest::Suite {
            kind,
            junit_dir: junit,
            dir: cwd
                .clone()
                .or_else(|| std::env::current_dir().ok())
                .unwrap_or_default(),
        }
    });
    Planned {
        command,
        cwd,
        env: request.env.clone(),
        per_test,
        target: None,
    }
}
