//! Go tests: `go test -c` builds the package's test binary once (into the build cache), and
//! each run is `BIN -test.run '^NAME$' -test.count=1 -test.v` in the package's directory, as
//! `go test` runs it.

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

use super::cache::{BuildKey, Cache, KeyHasher, Stamp};
use super::tool::{check, display_command, run};
use super::{candidate_list, seconds_since, similar, BuildReport, Resolved, Runner};

const HINT: &str = "install Go (https://go.dev/dl, or your system's golang package)";

/// A cached test binary.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Build {
    binary: PathBuf,
    stamp: Stamp,
}

/// Where a package lives.
struct Package {
    dir: PathBuf,
    import_path: String,
    module_root: Option<PathBuf>,
}

/// Build (or reuse) the test binary of `package` and check that it has test `name`.
pub fn resolve(package: &str, name: &str, race: bool, dir: &Path) -> Result<Resolved> {
    if name.trim().is_empty() {
        bail!("--go-run needs a test name, e.g. --go-test ./pool --go-run TestResultsKeepOrder");
    }
    if package.trim().is_empty() {
        bail!("--go-test needs a package, e.g. --go-test ./pool --go-run TestResultsKeepOrder");
    }
    let started = Instant::now();
    let found = locate(package, dir)?;
    let mut build_args: Vec<OsString> = vec!["test".into(), "-c".into()];
    if race {
        build_args.push("-race".into());
    }
    let shown: Vec<&OsStr> = build_args
        .iter()
        .map(OsString::as_os_str)
        .chain([OsStr::new("-o"), OsStr::new("BIN"), OsStr::new(package)])
        .collect();
    let command = display_command(OsStr::new("go"), &shown);
    let cache = Cache::open();
    let key = build_key(&found, package, &build_args, dir);
    let cached = key
        .as_ref()
        .and_then(|key| cache.load::<Build>("go", &key.key()))
        .filter(|build| Stamp::of(&build.binary).as_ref() == Some(&build.stamp));
    let (build, was_cached) = match cached {
        Some(build) => (build, true),
        None => {
            let out_dir = match &key {
                Some(key) => cache.artifact_dir("go", &key.key())?,
                None => cache.artifact_dir("go", "uncached")?,
            };
            let build = build(package, &build_args, &out_dir, dir, &command)?;
            if let Some(key) = &key {
                let _ = cache.store("go", &key.key(), &build);
                if let Some(after) = key.key_after_build() {
                    let _ = cache.store("go", &after, &build);
                }
            }
            (build, false)
        }
    };
    check_test_exists(&build.binary, name, &found)?;
    let report = BuildReport {
        command,
        seconds: seconds_since(started),
        cached: was_cached,
    };
    Ok(Resolved {
        runner: Runner::Go,
        test: format!("{}.{name}", found.import_path),
        program: build.binary.clone(),
        args: vec![
            "-test.run".into(),
            run_pattern(name).into(),
            "-test.count=1".into(),
            "-test.v".into(),
        ],
        cwd: found.dir.clone(),
        env: Vec::new(),
        build: Some(report),
        junit_arg: None,
        notes: vec![format!(
            "test target: {name} of {} ({})",
            found.import_path,
            found.dir.display()
        )],
    })
}

/// `^A$/^B$` for test `A/B`: exactly that test (and subtest), whatever its characters.
pub fn run_pattern(name: &str) -> String {
    name.split('/')
        .map(|part| format!("^{}$", regex::escape(part)))
        .collect::<Vec<_>>()
        .join("/")
}

/// The package's directory and import path, from `go list`.
fn locate(package: &str, dir: &Path) -> Result<Package> {
    let args = [
        OsStr::new("list"),
        OsStr::new("-f"),
        OsStr::new("{{.Dir}}\n{{.ImportPath}}\n{{if .Module}}{{.Module.Dir}}{{end}}"),
        OsStr::new(package),
    ];
    let output = run("go", &args, dir, HINT)?;
    let output = check(output, format!("go list {package}"), None)
        .with_context(|| format!("no Go package '{package}' from {}", dir.display()))?;
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    let lines: Vec<&str> = text.lines().collect();
    if lines.len() > 3 {
        bail!("'{package}' names several packages; --go-test takes one (e.g. ./pool, not ./...)");
    }
    let (Some(pkg_dir), Some(import_path)) = (lines.first(), lines.get(1)) else {
        bail!("`go list {package}` did not say where the package is");
    };
    Ok(Package {
        dir: PathBuf::from(pkg_dir),
        import_path: import_path.to_string(),
        module_root: lines
            .get(2)
            .filter(|root| !root.is_empty())
            .map(PathBuf::from),
    })
}

/// The cache key: the module's (else the package's) source state, the toolchain, the build
/// options and the environment the go command reads.
fn build_key(found: &Package, package: &str, args: &[OsString], dir: &Path) -> Option<BuildKey> {
    let root = found.module_root.as_deref().unwrap_or(&found.dir);
    let mut hasher = KeyHasher::new();
    hasher
        .part(package.as_bytes())
        .part(found.dir.as_os_str().as_encoded_bytes())
        .part(dir.as_os_str().as_encoded_bytes());
    for arg in args {
        hasher.part(arg.as_encoded_bytes());
    }
    let version = run("go", &[OsStr::new("version")], dir, HINT).ok()?;
    hasher.part(&version.stdout);
    let mut env: Vec<(OsString, OsString)> = std::env::vars_os()
        .filter(|(key, _)| {
            let key = key.to_string_lossy();
            key.starts_with("GO") || key.starts_with("CGO_") || matches!(key.as_ref(), "CC" | "CXX")
        })
        .collect();
    let added = super::build_env();
    env.retain(|(key, _)| !added.iter().any(|(other, _)| other == key));
    env.extend(added);
    env.sort();
    for (key, value) in env {
        hasher
            .part(key.as_encoded_bytes())
            .part(value.as_encoded_bytes());
    }
    BuildKey::new(root, hasher.finish())
}

/// `go test -c -o DIR/pkg.test PKG`, written under a temporary name and moved in place.
fn build(
    package: &str,
    args: &[OsString],
    out_dir: &Path,
    dir: &Path,
    command: &str,
) -> Result<Build> {
    let binary = out_dir.join("pkg.test");
    let partial = out_dir.join(format!(".pkg.test.{}", std::process::id()));
    let mut full: Vec<&OsStr> = args.iter().map(OsString::as_os_str).collect();
    full.extend([OsStr::new("-o"), partial.as_os_str(), OsStr::new(package)]);
    let output = run("go", &full, dir, HINT)?;
    check(output, command.to_string(), None)
        .context("the test binary could not be built; fix the build, then run flakehunt again")?;
    if !partial.exists() {
        bail!("`{command}` made no test binary: package '{package}' has no test files");
    }
    std::fs::rename(&partial, &binary)
        .with_context(|| format!("cannot move the test binary to {}", binary.display()))?;
    let stamp = Stamp::of(&binary).with_context(|| format!("{} vanished", binary.display()))?;
    Ok(Build { binary, stamp })
}

/// An error listing the package's tests unless the binary has a top-level test `name`.
fn check_test_exists(binary: &Path, name: &str, found: &Package) -> Result<()> {
    let top = name.split('/').next().unwrap_or(name);
    let list = |pattern: &str| -> Result<Vec<String>> {
        let args = [OsStr::new("-test.list"), OsStr::new(pattern)];
        let output = run(&binary.to_string_lossy(), &args, &found.dir, "rebuild it")?;
        let output = check(output, display_command(binary.as_os_str(), &args), None)
            .context("the test binary could not list its tests")?;
        Ok(String::from_utf8_lossy(&output.stdout)
            .lines()
            .filter(|line| !line.is_empty() && !line.starts_with("ok "))
            .map(str::to_string)
            .collect())
    };
    if !list(&format!("^{}$", regex::escape(top)))?.is_empty() {
        return Ok(());
    }
    let all = list(".")?;
    let near = similar(&all, top);
    if near.is_empty() {
        bail!(
            "package {} has no test named '{top}'; its tests are:{}",
            found.import_path,
            candidate_list(&all, 30)
        );
    }
    bail!(
        "package {} has no test named '{top}'; did you mean one of these?{}",
        found.import_path,
        candidate_list(&near, 20)
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_patterns_anchor_every_level_and_escape() {
        assert_eq!(run_pattern("TestX"), "^TestX$");
        assert_eq!(run_pattern("TestX/case_1"), "^TestX$/^case_1$");
        assert_eq!(run_pattern("TestX/a+b"), r"^TestX$/^a\+b$");
    }
}
