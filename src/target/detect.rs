//! `--test NAME`: the runner is picked from the project's files (`Cargo.toml`, `go.mod`, a
//! pytest configuration), nearest directory first, and the choice is said out loud.

use std::path::{Path, PathBuf};

use anyhow::{bail, Result};

use super::{candidate_list, cargo, go, pytest, Resolved, Runner};

/// The project files that name a runner, found in one directory.
fn runners_in(dir: &Path) -> Vec<(Runner, &'static str)> {
    let mut found = Vec::new();
    if dir.join("Cargo.toml").is_file() {
        found.push((Runner::Cargo, "Cargo.toml"));
    }
    if dir.join("go.mod").is_file() {
        found.push((Runner::Go, "go.mod"));
    }
    if let Some(file) = pytest_config(dir) {
        found.push((Runner::Pytest, file));
    }
    found
}

/// The file that configures pytest in `dir`, if any.
fn pytest_config(dir: &Path) -> Option<&'static str> {
    let has = |file: &str, section: &str| {
        std::fs::read_to_string(dir.join(file)).is_ok_and(|text| text.contains(section))
    };
    if dir.join("pytest.ini").is_file() {
        Some("pytest.ini")
    } else if has("pyproject.toml", "[tool.pytest") {
        Some("pyproject.toml")
    } else if has("setup.cfg", "[tool:pytest]") {
        Some("setup.cfg")
    } else if has("tox.ini", "[pytest]") {
        Some("tox.ini")
    } else if dir.join("conftest.py").is_file() {
        Some("conftest.py")
    } else {
        None
    }
}

/// Pick the runner for `name` from the nearest directory (from `dir` up) with project files.
pub fn detect(name: &str, dir: &Path) -> Result<(Runner, PathBuf, &'static str)> {
    for ancestor in dir.ancestors() {
        let found = runners_in(ancestor);
        let chosen = match found.as_slice() {
            [] => continue,
            [one] => *one,
            several => match guess_from_name(name, several) {
                Some(one) => one,
                None => {
                    let listed: Vec<String> = several
                        .iter()
                        .map(|(runner, file)| format!("{file} ({})", runner.as_str()))
                        .collect();
                    bail!(
                        "{} has files of several test runners; say which with --cargo-test, \
                         --go-test or --pytest:{}",
                        ancestor.display(),
                        candidate_list(&listed, 5)
                    );
                }
            },
        };
        return Ok((chosen.0, ancestor.to_path_buf(), chosen.1));
    }
    bail!(
        "--test found no Cargo.toml, go.mod or pytest configuration in {} or its parents; \
         use --cargo-test, --go-test or --pytest, or pass --cwd DIR",
        dir.display()
    )
}

/// The runner whose names look like `name`: a `.py` path for pytest, `TestX` for Go, a
/// `module::path` for Rust.
fn guess_from_name(name: &str, found: &[(Runner, &'static str)]) -> Option<(Runner, &'static str)> {
    let wanted = if name.contains(".py") {
        Runner::Pytest
    } else if name.starts_with("Test") && !name.contains("::") {
        Runner::Go
    } else if name.contains("::") {
        Runner::Cargo
    } else {
        return None;
    };
    found.iter().copied().find(|(runner, _)| *runner == wanted)
}

/// Resolve `--test NAME` with the detected runner.
pub fn resolve(name: &str, dir: &Path) -> Result<Resolved> {
    if name.trim().is_empty() {
        bail!("--test needs a test name");
    }
    let (runner, root, file) = detect(name, dir)?;
    let mut resolved = match runner {
        Runner::Cargo => cargo::resolve(name, None, None, dir)?,
        Runner::Go => {
            let (package, test) = go_package_of(name, dir, &root)?;
            go::resolve(&package, &test, false, dir)?
        }
        Runner::Pytest => {
            let node_id = if name.contains("::") || name.ends_with(".py") {
                name.to_string()
            } else {
                pytest_node_of(name, dir)?
            };
            pytest::resolve(&node_id, dir)?
        }
    };
    resolved.notes.insert(
        0,
        format!(
            "--test: using {} (found {})",
            runner.as_str(),
            root.join(file).display()
        ),
    );
    Ok(resolved)
}

/// The package holding Go test `name` (`TestX`, `TestX/sub`, or `./pkg.TestX`), found by its
/// `func TestX(` in the `_test.go` files under `dir`.
fn go_package_of(name: &str, dir: &Path, root: &Path) -> Result<(String, String)> {
    if let Some((package, test)) = name.rsplit_once('.').filter(|(p, _)| p.contains('/')) {
        return Ok((package.to_string(), test.to_string()));
    }
    let top = name.split('/').next().unwrap_or(name);
    let needle = format!("func {top}(");
    let mut dirs: Vec<PathBuf> = Vec::new();
    let start = if dir.starts_with(root) { dir } else { root };
    find_go_tests(start, &needle, &mut dirs, 0);
    dirs.sort();
    dirs.dedup();
    match dirs.as_slice() {
        [one] => {
            let relative = one.strip_prefix(dir).unwrap_or(one);
            let package = if relative.as_os_str().is_empty() {
                ".".to_string()
            } else if relative.is_absolute() {
                relative.display().to_string()
            } else {
                format!("./{}", relative.display())
            };
            Ok((package, name.to_string()))
        }
        [] => bail!(
            "--test found no `{needle}` in the _test.go files under {}",
            start.display()
        ),
        several => {
            let listed: Vec<String> = several.iter().map(|d| d.display().to_string()).collect();
            bail!(
                "several Go packages have a test {top}; use --go-test PKG --go-run {name}:{}",
                candidate_list(&listed, 20)
            )
        }
    }
}

/// Directories under `dir` with a `_test.go` file containing `needle` (vendor, testdata and
/// hidden directories skipped, as the go command does).
fn find_go_tests(dir: &Path, needle: &str, found: &mut Vec<PathBuf>, depth: usize) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    if depth > 32 {
        return;
    }
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let Ok(file_type) = entry.file_type() else {
            continue;
        };
        if file_type.is_dir() {
            if !(name.starts_with('.')
                || name.starts_with('_')
                || name == "vendor"
                || name == "testdata")
            {
                find_go_tests(&path, needle, found, depth + 1);
            }
        } else if name.ends_with("_test.go")
            && std::fs::read_to_string(&path).is_ok_and(|text| text.contains(needle))
        {
            found.push(dir.to_path_buf());
        }
    }
}

/// The node id of the pytest test function `name` (bare, or `Class::name`).
fn pytest_node_of(name: &str, dir: &Path) -> Result<String> {
    let all = pytest::collect_all(dir)?;
    let suffix = format!("::{name}");
    let matches: Vec<String> = all
        .iter()
        .filter(|id| {
            let base = id.split('[').next().unwrap_or(id);
            base.ends_with(&suffix)
        })
        .cloned()
        .collect();
    match matches.as_slice() {
        [one] => Ok(one.clone()),
        [] => bail!(
            "pytest collected no test named '{name}' under {} ({} tests collected)",
            dir.display(),
            all.len()
        ),
        several => bail!(
            "'{name}' matches {} pytest tests; give one node id:{}",
            several.len(),
            candidate_list(several, 20)
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_nearest_project_file_picks_the_runner() {
        let dir = tempfile::tempdir().expect("temp dir");
        let root = dir.path();
        std::fs::write(root.join("go.mod"), "module example.com/m\n").expect("write");
        std::fs::create_dir_all(root.join("py/tests")).expect("dir");
        std::fs::write(root.join("py/pytest.ini"), "[pytest]\n").expect("write");
        let (runner, found, file) = detect("TestX", root).expect("go");
        assert_eq!(
            (runner, found.as_path(), file),
            (Runner::Go, root, "go.mod")
        );
        let (runner, found, _) = detect("test_x", &root.join("py/tests")).expect("pytest");
        assert_eq!((runner, found), (Runner::Pytest, root.join("py")));
    }

    #[test]
    fn several_runners_in_one_directory_are_told_apart_by_the_name() {
        let dir = tempfile::tempdir().expect("temp dir");
        let root = dir.path();
        std::fs::write(root.join("Cargo.toml"), "[package]\n").expect("write");
        std::fs::write(root.join("pyproject.toml"), "[tool.pytest.ini_options]\n").expect("write");
        assert_eq!(
            detect("tests/test_a.py::test_b", root).expect("py").0,
            Runner::Pytest
        );
        assert_eq!(
            detect("pool::tests::x", root).expect("rust").0,
            Runner::Cargo
        );
        let error = detect("keeps_order", root).expect_err("ambiguous");
        assert!(
            error.to_string().contains("several test runners"),
            "{error}"
        );
    }

    #[test]
    fn go_tests_are_found_by_their_function() {
        let dir = tempfile::tempdir().expect("temp dir");
        let root = dir.path();
        std::fs::create_dir_all(root.join("pool")).expect("dir");
        std::fs::write(
            root.join("pool/pool_test.go"),
            "func TestKeepsOrder(t *testing.T) {}",
        )
        .expect("write");
        let (package, test) = go_package_of("TestKeepsOrder/sub", root, root).expect("found");
        assert_eq!(
            (package.as_str(), test.as_str()),
            ("./pool", "TestKeepsOrder/sub")
        );
        assert!(go_package_of("TestNope", root, root).is_err());
    }
}
