//! Rust tests: `cargo test --no-run --message-format=json` builds the test binaries once, each
//! binary's `--list` tells which one holds the test, and each run is `BIN NAME --exact
//! --test-threads=1` in the package's directory, with the variables cargo would set.

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

use super::cache::{BuildKey, Cache, KeyHasher, Stamp};
use super::tool::{check, display_command, run};
use super::{candidate_list, seconds_since, similar, BuildReport, Resolved, Runner};

const HINT: &str = "install a Rust toolchain (https://rustup.rs) or put cargo on PATH";

/// One test binary of a build, with the tests it holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Binary {
    path: PathBuf,
    stamp: Stamp,
    /// Cargo target name and kind (`mylib` lib, `integration` test).
    target: String,
    kind: String,
    package: String,
    version: String,
    manifest_dir: PathBuf,
    tests: Vec<String>,
    ignored: Vec<String>,
}

/// A cached build: its binaries, valid while none of them changed.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Build {
    binaries: Vec<Binary>,
}

impl Build {
    fn still_there(&self) -> bool {
        self.binaries
            .iter()
            .all(|binary| Stamp::of(&binary.path).as_ref() == Some(&binary.stamp))
    }
}

/// Build (or reuse) the test binaries and find the one that holds `name`.
pub fn resolve(
    name: &str,
    package: Option<&str>,
    features: Option<&str>,
    dir: &Path,
) -> Result<Resolved> {
    if name.trim().is_empty() {
        bail!("--cargo-test needs a test name, e.g. --cargo-test pool::tests::keeps_order");
    }
    let started = Instant::now();
    let mut build_args: Vec<OsString> = vec![
        "test".into(),
        "--no-run".into(),
        "--message-format=json".into(),
    ];
    if let Some(package) = package {
        build_args.extend(["-p".into(), package.into()]);
    }
    if let Some(features) = features {
        build_args.extend(["--features".into(), features.into()]);
    }
    let arg_refs: Vec<&OsStr> = build_args.iter().map(OsString::as_os_str).collect();
    let command = display_command(OsStr::new("cargo"), &arg_refs);
    let cache = Cache::open();
    let key = build_key(dir, &build_args)?;
    let cached = key
        .as_ref()
        .and_then(|key| cache.load::<Build>("cargo", &key.key()))
        .filter(Build::still_there);
    let (build, was_cached) = match cached {
        Some(build) => (build, true),
        None => {
            let build = build(dir, &arg_refs, &command)?;
            if let Some(key) = &key {
                let _ = cache.store("cargo", &key.key(), &build);
                if let Some(after) = key.key_after_build() {
                    let _ = cache.store("cargo", &after, &build);
                }
            }
            (build, false)
        }
    };
    let report = BuildReport {
        command,
        seconds: seconds_since(started),
        cached: was_cached,
    };
    pick(&build, name, package.is_some(), report)
}

/// The cache key: the workspace's source state, the toolchain, the build options and the
/// environment cargo reads.
fn build_key(dir: &Path, build_args: &[OsString]) -> Result<Option<BuildKey>> {
    let locate = run(
        "cargo",
        &[
            OsStr::new("locate-project"),
            OsStr::new("--workspace"),
            OsStr::new("--message-format"),
            OsStr::new("plain"),
        ],
        dir,
        HINT,
    )?;
    let locate =
        check(locate, "cargo locate-project --workspace".into(), None).with_context(|| {
            format!(
            "--cargo-test needs a Cargo project: none found in {} or its parents (pass --cwd DIR)",
            dir.display()
        )
        })?;
    let manifest = PathBuf::from(String::from_utf8_lossy(&locate.stdout).trim());
    let Some(root) = manifest.parent() else {
        return Ok(None);
    };
    let mut hasher = KeyHasher::new();
    hasher.part(dir.as_os_str().as_encoded_bytes());
    for arg in build_args {
        hasher.part(arg.as_encoded_bytes());
    }
    // The toolchain as it would be picked in this directory (rustup overrides included).
    if let Ok(version) = run("rustc", &[OsStr::new("-vV")], dir, HINT) {
        hasher.part(&version.stdout);
    }
    let mut env: Vec<(OsString, OsString)> = std::env::vars_os()
        .filter(|(key, _)| {
            let key = key.to_string_lossy();
            key.starts_with("CARGO")
                || key.starts_with("RUST")
                || matches!(
                    key.as_ref(),
                    "CC" | "CXX" | "CFLAGS" | "CXXFLAGS" | "LDFLAGS"
                )
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
    Ok(BuildKey::new(root, hasher.finish()))
}

/// Run the build and list every test binary it made.
fn build(dir: &Path, args: &[&OsStr], command: &str) -> Result<Build> {
    let output = run("cargo", args, dir, HINT)?;
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    let quoted = build_errors(&stdout, &stderr);
    let output = check(output, command.to_string(), Some(quoted))
        .context("the tests could not be built; fix the build, then run flakehunt again")?;
    let mut binaries = Vec::new();
    for line in String::from_utf8_lossy(&output.stdout).lines() {
        if let Some(artifact) = test_artifact(line) {
            binaries.push(list_binary(artifact)?);
        }
    }
    if binaries.is_empty() {
        bail!("`{command}` built no test binary (does the package have tests?)");
    }
    Ok(Build { binaries })
}

/// A test executable from one line of cargo's JSON messages.
#[derive(Debug, PartialEq)]
struct Artifact {
    executable: PathBuf,
    target: String,
    kind: String,
    package: String,
    version: String,
    manifest_dir: PathBuf,
}

fn test_artifact(line: &str) -> Option<Artifact> {
    let message: serde_json::Value = serde_json::from_str(line).ok()?;
    if message["reason"] != "compiler-artifact" || message["profile"]["test"] != true {
        return None;
    }
    let executable = PathBuf::from(message["executable"].as_str()?);
    let manifest = PathBuf::from(message["manifest_path"].as_str()?);
    let (package, version) = package_name_version(message["package_id"].as_str()?);
    Some(Artifact {
        executable,
        target: message["target"]["name"].as_str()?.to_string(),
        kind: message["target"]["kind"][0]
            .as_str()
            .unwrap_or("test")
            .to_string(),
        package,
        version,
        manifest_dir: manifest.parent()?.to_path_buf(),
    })
}

/// Name and version from a package id: `name 0.1.0 (path+file:///x)` (cargo before 1.77),
/// `path+file:///x#name@0.1.0` or `path+file:///x/name#0.1.0` (later).
fn package_name_version(id: &str) -> (String, String) {
    if let Some((_, fragment)) = id.rsplit_once('#') {
        if let Some((name, version)) = fragment.split_once('@') {
            return (name.to_string(), version.to_string());
        }
        let url = &id[..id.len() - fragment.len() - 1];
        let name = url.trim_end_matches('/').rsplit('/').next().unwrap_or("");
        return (name.to_string(), fragment.to_string());
    }
    let mut words = id.split_whitespace();
    let name = words.next().unwrap_or("").to_string();
    let version = words.next().unwrap_or("").to_string();
    (name, version)
}

/// The tests of a binary, from `--list --format terse` (and `--ignored` for ignored ones).
fn list_binary(artifact: Artifact) -> Result<Binary> {
    let list = |extra: &[&str]| -> Result<Vec<String>> {
        let mut args = vec![
            OsStr::new("--list"),
            OsStr::new("--format"),
            OsStr::new("terse"),
        ];
        args.extend(extra.iter().map(OsStr::new));
        let program = artifact.executable.to_string_lossy().into_owned();
        let output = run(&program, &args, &artifact.manifest_dir, "rebuild it")?;
        let output = check(
            output,
            display_command(artifact.executable.as_os_str(), &args),
            None,
        )
        .context("a test binary could not list its tests")?;
        Ok(String::from_utf8_lossy(&output.stdout)
            .lines()
            .filter_map(|line| line.strip_suffix(": test"))
            .map(str::to_string)
            .collect())
    };
    let tests = list(&[])?;
    let ignored = list(&["--ignored"])?;
    Ok(Binary {
        stamp: Stamp::of(&artifact.executable)
            .with_context(|| format!("{} vanished", artifact.executable.display()))?,
        path: artifact.executable,
        target: artifact.target,
        kind: artifact.kind,
        package: artifact.package,
        version: artifact.version,
        manifest_dir: artifact.manifest_dir,
        tests,
        ignored,
    })
}

/// The one binary holding `name`, as the command that reruns it.
fn pick(build: &Build, name: &str, has_package: bool, report: BuildReport) -> Result<Resolved> {
    let mut notes = Vec::new();
    let mut name = name.to_string();
    let mut holders: Vec<&Binary> = build
        .binaries
        .iter()
        .filter(|binary| binary.tests.contains(&name))
        .collect();
    if holders.is_empty() {
        // A unique test whose path ends with `::NAME` is the one meant.
        let suffix = format!("::{name}");
        let mut ends: Vec<(&Binary, &String)> = build
            .binaries
            .iter()
            .flat_map(|binary| {
                binary
                    .tests
                    .iter()
                    .filter(|test| test.ends_with(&suffix))
                    .map(move |test| (binary, test))
            })
            .collect();
        ends.dedup_by(|a, b| a.1 == b.1 && a.0.path == b.0.path);
        match ends.as_slice() {
            [(binary, test)] => {
                notes.push(format!("'{name}' is test {test}"));
                name = (*test).clone();
                holders.push(binary);
            }
            [] => {}
            several => {
                let listed: Vec<String> = several
                    .iter()
                    .map(|(binary, test)| format!("{test} ({})", binary.target))
                    .collect();
                bail!(
                    "'{name}' matches {} tests; give the full name:{}",
                    several.len(),
                    candidate_list(&listed, 20)
                );
            }
        }
    }
    let name = name.as_str();
    let describe = |binary: &Binary| {
        format!(
            "{name} in {} ({} `{}` of package {})",
            binary.path.display(),
            binary.kind,
            binary.target,
            binary.package
        )
    };
    let binary = match holders.as_slice() {
        [one] => *one,
        [] => {
            let all: Vec<String> = build
                .binaries
                .iter()
                .flat_map(|binary| binary.tests.iter().cloned())
                .collect();
            let near = similar(&all, name);
            if near.is_empty() {
                bail!(
                    "no test is named exactly '{name}' among the {} tests built by `{}`; \
                     give the full path as `--list` shows it (e.g. module::tests::name)",
                    all.len(),
                    report.command
                );
            }
            bail!(
                "no test is named exactly '{name}'; did you mean one of these?{}",
                candidate_list(&near, 20)
            );
        }
        several => {
            let listed: Vec<String> = several.iter().map(|b| describe(b)).collect();
            let hint = if has_package {
                "rename one of them"
            } else {
                "pick a package with -p PKG"
            };
            bail!(
                "{} test binaries hold a test named '{name}' ({hint}):{}",
                several.len(),
                candidate_list(&listed, 20)
            );
        }
    };
    let mut args: Vec<OsString> = vec![name.into(), "--exact".into(), "--test-threads=1".into()];
    if binary.ignored.iter().any(|test| test == name) {
        args.push("--include-ignored".into());
        notes.push(format!(
            "{name} carries the ignore attribute; it is run all the same"
        ));
    }
    notes.push(format!("test target: {}", describe(binary)));
    let manifest_dir = binary.manifest_dir.as_os_str().to_os_string();
    Ok(Resolved {
        runner: Runner::Cargo,
        test: name.to_string(),
        program: binary.path.clone(),
        args,
        cwd: binary.manifest_dir.clone(),
        env: vec![
            ("CARGO_MANIFEST_DIR".into(), manifest_dir),
            ("CARGO_PKG_NAME".into(), binary.package.clone().into()),
            ("CARGO_PKG_VERSION".into(), binary.version.clone().into()),
        ],
        build: Some(report),
        junit_arg: None,
        notes,
    })
}

/// The errors of a failed build: each compiler error as rustc rendered it, then cargo's own
/// `error:` lines.
fn build_errors(stdout: &str, stderr: &str) -> String {
    let mut out = String::new();
    for line in stdout.lines() {
        let Ok(message) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        if message["reason"] == "compiler-message" && message["message"]["level"] == "error" {
            if let Some(rendered) = message["message"]["rendered"].as_str() {
                out.push_str(rendered.trim_end());
                out.push('\n');
            }
        }
    }
    let mut in_error = false;
    for line in stderr.lines() {
        if line.starts_with("error") {
            in_error = true;
        } else if !line.starts_with(' ') && !line.is_empty() {
            in_error = false;
        }
        if in_error {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn package_ids_of_every_cargo_version() {
        let cases = [
            ("pool 0.3.1 (path+file:///src/pool)", ("pool", "0.3.1")),
            ("path+file:///src/x#pool@0.3.1", ("pool", "0.3.1")),
            ("path+file:///src/pool#0.3.1", ("pool", "0.3.1")),
            (
                "registry+https://github.com/rust-lang/crates.io-index#serde@1.0.0",
                ("serde", "1.0.0"),
            ),
        ];
        for (id, (name, version)) in cases {
            assert_eq!(
                package_name_version(id),
                (name.to_string(), version.to_string()),
                "{id}"
            );
        }
    }

    #[test]
    fn test_artifacts_are_told_from_other_messages() {
        let artifact = r#"{"reason":"compiler-artifact","package_id":"path+file:///p/demo#0.1.0","manifest_path":"/p/demo/Cargo.toml","target":{"kind":["lib"],"crate_types":["lib"],"name":"demo","src_path":"/p/demo/src/lib.rs","edition":"2021","doc":true,"doctest":true,"test":true},"profile":{"opt_level":"0","debuginfo":2,"debug_assertions":true,"overflow_checks":true,"test":true},"features":[],"filenames":["/t/debug/deps/demo-1"],"executable":"/t/debug/deps/demo-1","fresh":false}"#;
        assert_eq!(
            test_artifact(artifact),
            Some(Artifact {
                executable: PathBuf::from("/t/debug/deps/demo-1"),
                target: "demo".into(),
                kind: "lib".into(),
                package: "demo".into(),
                version: "0.1.0".into(),
                manifest_dir: PathBuf::from("/p/demo"),
            })
        );
        let library = artifact.replace(r#""test":true},"features""#, r#""test":false},"features""#);
        assert_eq!(test_artifact(&library), None);
        assert_eq!(
            test_artifact(r#"{"reason":"build-finished","success":true}"#),
            None
        );
        assert_eq!(test_artifact("not json"), None);
    }

    #[test]
    fn build_errors_quote_rustc_then_cargo() {
        let stdout = r#"{"reason":"compiler-message","message":{"level":"error","rendered":"error[E0425]: cannot find value `x` in this scope\n --> src/lib.rs:2:5\n"}}
{"reason":"compiler-message","message":{"level":"warning","rendered":"warning: unused\n"}}"#;
        let stderr = "   Compiling demo v0.1.0\nerror: could not compile `demo` (lib test) due to 1 previous error\n";
        let quoted = build_errors(stdout, stderr);
        assert!(
            quoted.starts_with("error[E0425]: cannot find value `x`"),
            "{quoted}"
        );
        assert!(!quoted.contains("warning"), "{quoted}");
        assert!(quoted.ends_with("due to 1 previous error\n"), "{quoted}");
    }

    fn binary(path: &str, package: &str, tests: &[&str]) -> Binary {
        Binary {
            path: PathBuf::from(path),
            stamp: Stamp {
                len: 0,
                mtime_ns: 0,
            },
            target: package.into(),
            kind: "lib".into(),
            package: package.into(),
            version: "0.1.0".into(),
            manifest_dir: PathBuf::from("/p").join(package),
            tests: tests.iter().map(|t| t.to_string()).collect(),
            ignored: Vec::new(),
        }
    }

    fn report() -> BuildReport {
        BuildReport {
            command: "cargo test --no-run --message-format=json".into(),
            seconds: 1.0,
            cached: false,
        }
    }

    #[test]
    fn the_one_binary_holding_the_test_is_rerun_alone() {
        let build = Build {
            binaries: vec![
                binary("/t/a-1", "a", &["tests::x", "tests::flaky"]),
                binary("/t/b-1", "b", &["tests::y"]),
            ],
        };
        let resolved = pick(&build, "tests::flaky", false, report()).expect("found");
        assert_eq!(resolved.program, PathBuf::from("/t/a-1"));
        assert_eq!(
            resolved.args,
            vec![
                OsString::from("tests::flaky"),
                "--exact".into(),
                "--test-threads=1".into()
            ]
        );
        assert_eq!(resolved.cwd, PathBuf::from("/p/a"));
        assert!(resolved
            .env
            .contains(&("CARGO_PKG_NAME".into(), "a".into())));
    }

    #[test]
    fn unknown_and_ambiguous_names_list_candidates() {
        let build = Build {
            binaries: vec![
                binary("/t/a-1", "a", &["tests::x", "tests::flaky"]),
                binary("/t/b-1", "b", &["tests::flaky"]),
            ],
        };
        let unknown = pick(&build, "flak", false, report()).expect_err("not exact");
        assert_eq!(
            unknown.to_string(),
            "no test is named exactly 'flak'; did you mean one of these?\n  tests::flaky"
        );
        let both = pick(&build, "flaky", false, report()).expect_err("two ends");
        assert!(
            both.to_string().starts_with("'flaky' matches 2 tests"),
            "{both}"
        );
        let short = pick(&build, "x", false, report()).expect("unique end");
        assert_eq!(short.test, "tests::x");
        let nothing = pick(&build, "zzz", false, report()).expect_err("none");
        assert!(
            nothing.to_string().contains("among the 3 tests"),
            "{nothing}"
        );
        let several = pick(&build, "tests::flaky", false, report()).expect_err("two");
        let text = several.to_string();
        assert!(
            text.starts_with(
                "2 test binaries hold a test named 'tests::flaky' (pick a package with -p PKG):"
            ),
            "{text}"
        );
        assert!(text.contains("/t/b-1"), "{text}");
    }
}
