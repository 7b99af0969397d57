//! Python tests: each run is `python -m pytest NODEID -p no:cacheprovider` with a JUnit report
//! written to a path of its own, by the interpreter a user's shell would pick (an active
//! virtualenv first). The node id is checked with `--collect-only` before any run.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};

use super::tool::{display_command, last_lines, run};
use super::{candidate_list, seconds_since, BuildReport, Resolved, Runner};

const HINT: &str = "install Python 3, or activate the virtualenv of the project";

/// The interpreter that has pytest, and how it was found.
#[derive(Debug, Clone)]
pub struct Interpreter {
    /// Absolute path of the interpreter.
    pub path: PathBuf,
    /// pytest's version.
    pub pytest_version: String,
}

/// Check that `node_id` names exactly one test and return the command that reruns it.
pub fn resolve(node_id: &str, dir: &Path) -> Result<Resolved> {
    if node_id.trim().is_empty() {
        bail!("--pytest needs a node id, e.g. --pytest tests/test_pool.py::test_keeps_order");
    }
    let started = Instant::now();
    let python = interpreter(dir)?;
    let collected = collect(&python.path, node_id, dir)?;
    let test = match collected.as_slice() {
        [one] => one.clone(),
        [] => bail!("pytest collected no test for '{node_id}'"),
        several => bail!(
            "'{node_id}' names {} tests; give one node id (path::test_name):{}",
            several.len(),
            candidate_list(several, 20)
        ),
    };
    let check = BuildReport {
        command: format!("{} -m pytest --collect-only", python.path.display()),
        seconds: seconds_since(started),
        cached: false,
    };
    Ok(Resolved {
        runner: Runner::Pytest,
        test: test.clone(),
        program: python.path.clone(),
        args: vec![
            "-m".into(),
            "pytest".into(),
            test.clone().into(),
            "-p".into(),
            "no:cacheprovider".into(),
        ],
        cwd: dir.to_path_buf(),
        env: Vec::new(),
        build: None,
        junit_arg: Some("--junitxml=".into()),
        notes: vec![format!(
            "test target: {test} with {} (pytest {}), checked in {:.1}s",
            python.path.display(),
            python.pytest_version,
            check.seconds
        )],
    })
}

/// The interpreter a shell would run for `python -m pytest`: `$VIRTUAL_ENV/bin/python`, else
/// `python3`, else `python` on PATH; failing that, the interpreter of the `pytest` script on
/// PATH. It must be able to import pytest.
pub fn interpreter(dir: &Path) -> Result<Interpreter> {
    let mut tried: Vec<(PathBuf, String)> = Vec::new();
    let mut candidates: Vec<PathBuf> = Vec::new();
    if let Some(venv) = std::env::var_os("VIRTUAL_ENV").filter(|v| !v.is_empty()) {
        let venv = PathBuf::from(venv);
        candidates.extend([venv.join("bin/python"), venv.join("bin/python3")]);
    }
    candidates.extend(
        ["python3", "python"]
            .iter()
            .filter_map(|name| on_path(name)),
    );
    if let Some(script) = on_path("pytest") {
        candidates.extend(shebang_interpreter(&script));
    }
    for candidate in candidates {
        if !candidate.exists() || tried.iter().any(|(path, _)| *path == candidate) {
            continue;
        }
        let probe = run(
            &candidate.to_string_lossy(),
            &[
                OsStr::new("-c"),
                OsStr::new("import pytest; print(pytest.__version__)"),
            ],
            dir,
            HINT,
        )?;
        if probe.status.success() {
            return Ok(Interpreter {
                path: candidate,
                pytest_version: String::from_utf8_lossy(&probe.stdout).trim().to_string(),
            });
        }
        let said = String::from_utf8_lossy(&probe.stderr);
        let reason = said.trim().lines().last().unwrap_or("").to_string();
        tried.push((candidate, reason));
    }
    if tried.is_empty() {
        bail!("no Python interpreter on PATH (python3 or python): {HINT}");
    }
    let listed: Vec<String> = tried
        .iter()
        .map(|(path, reason)| format!("{}: {reason}", path.display()))
        .collect();
    bail!(
        "pytest cannot be imported by the Python a shell would use here; install it \
         (python3 -m pip install pytest) or activate the virtualenv that has it:{}",
        candidate_list(&listed, 10)
    )
}

/// The full path of `program` as PATH finds it.
fn on_path(program: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .filter(|dir| !dir.as_os_str().is_empty())
        .map(|dir| dir.join(program))
        .find(|candidate| {
            std::fs::metadata(candidate)
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
}

/// `#!/usr/bin/python3` -> `/usr/bin/python3` (`#!/usr/bin/env python3` -> python3 on PATH).
fn shebang_interpreter(script: &Path) -> Option<PathBuf> {
    use std::io::Read;
    let mut head = [0u8; 256];
    let read = std::fs::File::open(script).ok()?.read(&mut head).ok()?;
    let text = String::from_utf8_lossy(&head[..read]);
    let line = text.lines().next()?.strip_prefix("#!")?;
    let mut words = line.split_whitespace();
    let program = words.next()?;
    if program.ends_with("/env") {
        return on_path(words.find(|word| !word.starts_with('-'))?);
    }
    Some(PathBuf::from(program))
}

/// Every node id pytest collects in `dir`.
pub fn collect_all(dir: &Path) -> Result<Vec<String>> {
    let python = interpreter(dir)?;
    collect(&python.path, ".", dir)
}

/// The node ids pytest collects for `node_id`.
fn collect(python: &Path, node_id: &str, dir: &Path) -> Result<Vec<String>> {
    let args = [
        OsStr::new("-m"),
        OsStr::new("pytest"),
        OsStr::new("--collect-only"),
        OsStr::new("-q"),
        OsStr::new("-p"),
        OsStr::new("no:cacheprovider"),
        OsStr::new(node_id),
    ];
    let output = run(&python.to_string_lossy(), &args, dir, HINT)?;
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let ids = collected_ids(&stdout);
    // 5: nothing collected; 4: usage error (`ERROR: not found`); 2: collection errors.
    if !output.status.success() || ids.is_empty() {
        let mut said = stdout.clone();
        said.push_str(&String::from_utf8_lossy(&output.stderr));
        let command = display_command(python.as_os_str(), &args);
        return Err(anyhow::anyhow!(
            "`{command}` found no test '{node_id}' in {}:\n{}",
            dir.display(),
            last_lines(&said, 30)
        ))
        .context("check the node id (path/to/test_file.py::test_name, relative to --cwd)");
    }
    Ok(ids)
}

/// Node ids in `pytest --collect-only -q` output: the lines before the summary that name a
/// test (`path.py::name`).
fn collected_ids(stdout: &str) -> Vec<String> {
    stdout
        .lines()
        .map(str::trim_end)
        .take_while(|line| !line.is_empty())
        .filter(|line| line.contains("::") && !line.starts_with(' '))
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collected_ids_stop_at_the_summary() {
        let out = "tests/test_a.py::test_one\ntests/test_a.py::TestK::test_two[1-x]\n\n2 tests collected in 0.01s\n";
        assert_eq!(
            collected_ids(out),
            vec![
                "tests/test_a.py::test_one".to_string(),
                "tests/test_a.py::TestK::test_two[1-x]".to_string()
            ]
        );
        assert!(collected_ids("\nno tests collected in 0.01s\n").is_empty());
    }

    #[test]
    fn shebangs_name_the_interpreter() {
        let dir = tempfile::tempdir().expect("temp dir");
        let script = dir.path().join("pytest");
        std::fs::write(&script, "#!/opt/py/bin/python3.12\nimport pytest\n").expect("write");
        assert_eq!(
            shebang_interpreter(&script),
            Some(PathBuf::from("/opt/py/bin/python3.12"))
        );
    }
}
