//! Shared helpers for the integration tests: locating the flakehunt binary and the fixture
//! program, running campaigns, and checking for leftover processes.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The flakehunt binary under test. Its history goes to a database private to this test
/// binary unless a test passes `--db`.
pub fn flakehunt() -> Command {
    static HISTORY: OnceLock<tempfile::TempDir> = OnceLock::new();
    let history = HISTORY.get_or_init(scratch);
    let mut command = Command::new(env!("CARGO_BIN_EXE_flakehunt"));
    command
        .env_remove("FLAKEHUNT_RUN")
        .env("FLAKEHUNT_DB", history.path().join("history.db"));
    command
}

/// Path of the `fh-fixture` program, built once per test binary.
pub fn fixture() -> &'static Path {
    static FIXTURE: OnceLock<PathBuf> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml");
        let status = Command::new(env!("CARGO"))
            .args([
                "build",
                "--quiet",
                "-p",
                "flakehunt-fixtures",
                "--bin",
                "fh-fixture",
            ])
            .arg("--manifest-path")
            .arg(&manifest)
            .status()
            .expect("run cargo to build the fixture");
        assert!(status.success(), "building fh-fixture failed");
        // The test binary lives in target/<profile>/deps; the fixture in target/<profile>.
        let exe = std::env::current_exe().expect("test binary path");
        let profile_dir = exe
            .parent()
            .and_then(Path::parent)
            .expect("target/<profile> directory");
        let path = profile_dir.join("fh-fixture");
        assert!(path.exists(), "fixture not found at {}", path.display());
        path
    })
}

/// A temporary directory for one test.
pub fn scratch() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("flakehunt-test-")
        .tempdir()
        .expect("create temp dir")
}

/// The command `flakehunt run --quiet --out OUT [extra...] -- fh-fixture ACTIONS...`.
pub fn fixture_command(out: &Path, extra: &[&str], actions: &[&str]) -> Command {
    let mut command = flakehunt();
    command
        .arg("run")
        .arg("--quiet")
        .arg("--out")
        .arg(out)
        .args(extra)
        .arg("--")
        .arg(fixture())
        .args(actions);
    command
}

/// Runs [`fixture_command`] to completion.
pub fn run_fixture(out: &Path, extra: &[&str], actions: &[&str]) -> Output {
    fixture_command(out, extra, actions)
        .output()
        .expect("run flakehunt")
}

/// Runs `command` to completion and returns its output with its peak resident set size in
/// KiB: the larger of its own and that of any process it reaped (for flakehunt, its runs).
///
/// The figure comes from wait4 on that one pid. getrusage(RUSAGE_CHILDREN) would instead
/// report the largest of every child this test binary ever reaped, including the cargo build
/// of the fixture and the processes of tests running on other threads.
pub fn output_with_peak_rss(command: &mut Command) -> (Output, u64) {
    use std::io::{Read, Seek};
    use std::os::unix::process::ExitStatusExt;
    // Files, not pipes: nothing has to be read while the command runs.
    let mut stdout = tempfile::tempfile().expect("stdout file");
    let mut stderr = tempfile::tempfile().expect("stderr file");
    let child = command
        .stdin(std::process::Stdio::null())
        .stdout(stdout.try_clone().expect("clone"))
        .stderr(stderr.try_clone().expect("clone"))
        .spawn()
        .expect("spawn");
    let pid = child.id() as libc::pid_t;
    // The Child is not waited for through std: wait4 reaps it here, and dropping a Child
    // neither waits nor kills.
    drop(child);
    let mut status = 0;
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    let reaped = loop {
        // SAFETY: wait4 on our own child, writing into live locals.
        let reaped = unsafe { libc::wait4(pid, &mut status, 0, usage.as_mut_ptr()) };
        if reaped != -1 || std::io::Error::last_os_error().kind() != std::io::ErrorKind::Interrupted
        {
            break reaped;
        }
    };
    assert_eq!(reaped, pid, "wait4: {}", std::io::Error::last_os_error());
    // SAFETY: wait4 succeeded, so it filled the struct.
    let usage = unsafe { usage.assume_init() };
    let read = |file: &mut std::fs::File| {
        let mut bytes = Vec::new();
        file.rewind().expect("rewind");
        file.read_to_end(&mut bytes).expect("read");
        bytes
    };
    let output = Output {
        status: std::process::ExitStatus::from_raw(status),
        stdout: read(&mut stdout),
        stderr: read(&mut stderr),
    };
    (output, usage.ru_maxrss as u64)
}

/// Like [`run_fixture`] with `--json`, returning the exit status and the parsed summary.
pub fn run_json(out: &Path, extra: &[&str], actions: &[&str]) -> (i32, serde_json::Value, Output) {
    let mut args = vec!["--json"];
    args.extend_from_slice(extra);
    let output = run_fixture(out, &args, actions);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let summary: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap_or_else(|error| {
        panic!(
            "summary is not JSON ({error}); stdout: {stdout}; stderr: {}",
            String::from_utf8_lossy(&output.stderr)
        )
    });
    (output.status.code().unwrap_or(-1), summary, output)
}

/// Pids listed one per line in `path` (missing file: none).
pub fn read_pids(path: &Path) -> Vec<i32> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|line| line.trim().parse().ok())
        .collect()
}

/// Wait (bounded) until `path` lists at least `count` pids.
pub fn wait_for_pids(path: &Path, count: usize) -> Vec<i32> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let pids = read_pids(path);
        if pids.len() >= count {
            return pids;
        }
        assert!(
            Instant::now() < deadline,
            "only {} of {count} pids appeared",
            pids.len()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// True if `pid` exists and is not a zombie.
pub fn alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => {
            // The state follows the parenthesised command name.
            let state = stat
                .rsplit_once(')')
                .and_then(|(_, rest)| rest.trim_start().chars().next());
            !matches!(state, Some('Z') | Some('X') | None)
        }
        Err(_) => false,
    }
}

/// Wait (bounded) for every pid to be gone; returns those still alive.
pub fn survivors(pids: &[i32]) -> Vec<i32> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let alive: Vec<i32> = pids.iter().copied().filter(|pid| alive(*pid)).collect();
        if alive.is_empty() || Instant::now() > deadline {
            return alive;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Kill pids a test created on purpose outside flakehunt's reach.
pub fn kill_all(pids: &[i32]) {
    for pid in pids {
        // SAFETY: kill(2).
        unsafe {
            libc::kill(*pid, libc::SIGKILL);
        }
    }
}

/// The only file in `dir` with this extension.
pub fn files_with_extension(dir: &Path, extension: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|entry| entry.path())
                .filter(|path| path.extension().is_some_and(|ext| ext == extension))
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}
