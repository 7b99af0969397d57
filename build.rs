//! Build script: builds the scheduling-noise preload library (the `noise` workspace crate,
//! package `flakehunt-noise`) as a shared library and leaves it in `OUT_DIR` as
//! `libflakehunt_noise.so`, where `src/shake/noise.rs` embeds it; and sets `FLAKEHUNT_VERSION`
//! for `--version`: the package version and the commit it was built from.
//!
//! The library is built by a nested `cargo build` into a target directory of its own under
//! `OUT_DIR`, so it never contends for the outer build's locks and is rebuilt only when the
//! noise crate or the lock file changes. When it cannot be built (the package was built outside
//! its workspace, the target is not Linux, the nested build failed) the script prints a warning
//! and writes an empty file instead: flakehunt still builds, and its noise shake reports that it
//! is not available in this build.

use std::env;
use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// File name of the library in `OUT_DIR` (and in the nested target directory).
const LIBRARY: &str = "libflakehunt_noise.so";

/// Environment that must not leak into the nested build: wrappers such as `clippy-driver`, the
/// outer target directory and the outer flags.
const CLEARED_ENV: &[&str] = &[
    "RUSTC_WRAPPER",
    "RUSTC_WORKSPACE_WRAPPER",
    "CARGO_BUILD_RUSTC_WRAPPER",
    "CARGO_BUILD_RUSTC_WORKSPACE_WRAPPER",
    "CARGO_TARGET_DIR",
    "CARGO_BUILD_TARGET_DIR",
    "CARGO_ENCODED_RUSTFLAGS",
];

/// What goes into the binary: a change to any of these makes a build from a checkout dirty.
const SOURCES: &[&str] = &["src", "build.rs", "Cargo.toml", "Cargo.lock", "noise"];

/// Profile settings of the nested build: a small, stripped, optimised library. Unwinding stays
/// on, since `pthread_exit` and thread cancellation unwind through the library's functions.
const PROFILE: &[&str] = &[
    "profile.release.opt-level=3",
    "profile.release.lto=true",
    "profile.release.codegen-units=1",
    "profile.release.debug=false",
    "profile.release.strip=true",
    "profile.release.incremental=false",
    "profile.release.panic=\"unwind\"",
];

fn main() {
    for path in ["build.rs", "noise/src", "noise/Cargo.toml", "Cargo.lock"] {
        println!("cargo:rerun-if-changed={path}");
    }
    println!("cargo:rerun-if-env-changed=CARGO_NET_OFFLINE");
    emit_version();
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let destination = out_dir.join(LIBRARY);
    let built = build_library(&out_dir).and_then(|library| {
        fs::copy(&library, &destination)
            .map(|_| ())
            .map_err(|error| format!("cannot copy {}: {error}", library.display()))
    });
    if let Err(reason) = built {
        for line in reason.lines() {
            println!("cargo:warning={line}");
        }
        println!(
            "cargo:warning=the scheduling-noise preload library was not built; the noise shake \
             is not available in this build"
        );
        fs::write(&destination, b"").expect("write an empty placeholder library into OUT_DIR");
    }
}

/// Build the library with a nested cargo; returns the path of the built file.
fn build_library(out_dir: &Path) -> Result<PathBuf, String> {
    let target_os = env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    if target_os != "linux" {
        return Err(format!(
            "the noise preload library needs Linux, not {target_os:?}"
        ));
    }
    let manifest_dir =
        PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").ok_or("no CARGO_MANIFEST_DIR")?);
    if !manifest_dir.join("noise/Cargo.toml").is_file() {
        return Err(
            "the noise crate is not next to this package (built outside its workspace)".into(),
        );
    }
    let cargo = env::var_os("CARGO").unwrap_or_else(|| OsString::from("cargo"));
    let target = env::var("TARGET").map_err(|_| "no TARGET")?;
    let target_dir = out_dir.join("noise-target");
    let mut command = Command::new(&cargo);
    command
        .arg("build")
        .args(["-p", "flakehunt-noise", "--release", "--color", "never"])
        .arg("--target")
        .arg(&target)
        .arg("--target-dir")
        .arg(&target_dir)
        .arg("--manifest-path")
        .arg(manifest_dir.join("Cargo.toml"));
    for setting in PROFILE {
        command.args(["--config", setting]);
    }
    if env::var_os("CARGO_NET_OFFLINE").is_some_and(|value| !value.is_empty() && value != "false") {
        command.arg("--offline");
    }
    for variable in CLEARED_ENV {
        command.env_remove(variable);
    }
    let output = command
        .output()
        .map_err(|error| format!("cannot run {}: {error}", Path::new(&cargo).display()))?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let lines: Vec<&str> = stderr.lines().collect();
        let tail = lines[lines.len().saturating_sub(20)..].join("\n");
        return Err(format!(
            "building flakehunt-noise failed ({}):\n{tail}",
            output.status
        ));
    }
    let library = target_dir.join(&target).join("release").join(LIBRARY);
    if library.is_file() {
        Ok(library)
    } else {
        Err(format!("the nested build left no {}", library.display()))
    }
}

/// Set `FLAKEHUNT_VERSION`: `0.1.0 (cf2396c 2026-11-30)`, with `-dirty` after the commit when
/// tracked files differed from it, from git when the package is built in its own checkout,
/// else from the `.cargo_vcs_info.json` that `cargo package` writes; just `0.1.0` otherwise.
fn emit_version() {
    let version = env::var("CARGO_PKG_VERSION").unwrap_or_default();
    let manifest_dir = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default());
    let commit = git_commit(&manifest_dir).or_else(|| packaged_commit(&manifest_dir));
    match commit {
        Some(commit) => println!("cargo:rustc-env=FLAKEHUNT_VERSION={version} ({commit})"),
        None => println!("cargo:rustc-env=FLAKEHUNT_VERSION={version}"),
    }
}

/// Run git in `dir`; its trimmed standard output if it succeeded.
fn git(dir: &Path, args: &[&str]) -> Option<String> {
    let output = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    let text = String::from_utf8(output.stdout).ok()?;
    output.status.success().then(|| text.trim().to_string())
}

/// `cf2396c 2026-11-30` (or `cf2396c-dirty 2026-11-30` when the sources that go into the
/// binary differ from that commit) when `dir` is the top of a git work tree; this script then
/// reruns when HEAD, the branch or those sources change. A package unpacked inside some other
/// repository (vendored sources) gets nothing from it.
fn git_commit(dir: &Path) -> Option<String> {
    let top = PathBuf::from(git(dir, &["rev-parse", "--show-toplevel"])?);
    if fs::canonicalize(&top).ok()? != fs::canonicalize(dir).ok()? {
        return None;
    }
    let mut watched = vec!["HEAD".to_string(), "packed-refs".into()];
    if let Some(branch) = git(dir, &["symbolic-ref", "-q", "HEAD"]) {
        watched.push(branch);
    }
    for name in watched {
        // A path that does not exist would make cargo rerun this script on every build.
        if let Some(path) = git(dir, &["rev-parse", "--git-path", &name]) {
            let path = dir.join(path);
            if path.exists() {
                println!("cargo:rerun-if-changed={}", path.display());
            }
        }
    }
    // Edits change no git file: the sources themselves are watched for the dirty flag.
    for path in SOURCES {
        println!("cargo:rerun-if-changed={path}");
    }
    let described = git(
        dir,
        &["log", "-1", "--date=short", "--format=%h %cd", "HEAD"],
    )?;
    let (hash, date) = described.split_once(' ')?;
    let mut status = vec!["status", "--porcelain", "--untracked-files=no", "--"];
    status.extend(SOURCES);
    let dirty = git(dir, &status).is_some_and(|changes| !changes.is_empty());
    Some(format!(
        "{hash}{} {date}",
        if dirty { "-dirty" } else { "" }
    ))
}

/// The commit `cargo package` recorded in `.cargo_vcs_info.json` (`"sha1": "..."`, and
/// `"dirty": true` when it packaged uncommitted changes), shortened.
fn packaged_commit(dir: &Path) -> Option<String> {
    let info_path = dir.join(".cargo_vcs_info.json");
    let info = fs::read_to_string(&info_path).ok()?;
    println!("cargo:rerun-if-changed={}", info_path.display());
    let start = info.find("\"sha1\"")?;
    let sha: String = info[start + 6..]
        .chars()
        .skip_while(|c| !c.is_ascii_hexdigit())
        .take_while(char::is_ascii_hexdigit)
        .take(7)
        .collect();
    if sha.len() < 7 {
        return None;
    }
    let dirty = info.replace(' ', "").contains("\"dirty\":true");
    Some(format!("{sha}{}", if dirty { "-dirty" } else { "" }))
}
