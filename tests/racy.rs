//! The racy corpus (`fixtures/racy/*.c`): every program compiles, passes when the missing
//! synchronisation is added (`RACY_SAFE=1`) and fails with its telling line when forced to
//! lose the race (`RACY_FORCE=1`). A plain run is left to the scheduler, so its outcome is
//! never asserted here; `bench/reproduce.sh` measures how often it fails.

mod common;

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fs::File;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use common::{flakehunt, scratch};

/// How a forced run must end.
enum Loss {
    /// Exit status 1 with an output line containing this text.
    Exit(&'static str),
    /// Death by this signal.
    Signal(i32),
}

/// A program of the corpus.
struct Racy {
    name: &'static str,
    /// Text of the line a safe run prints.
    ok: &'static str,
    loss: Loss,
    /// Text the signature of a forced failure contains.
    signature: &'static str,
}

const CORPUS: &[Racy] = &[
    Racy {
        name: "lost_update",
        ok: "ok: counter=8",
        loss: Loss::Exit("FAIL: lost update: counter="),
        signature: "lost update",
    },
    Racy {
        name: "order_violation",
        ok: "ok: racy-server on port 8080",
        loss: Loss::Exit("FAIL: order violation: config used before the loader initialised it"),
        signature: "order violation",
    },
    Racy {
        name: "lost_wakeup",
        ok: "ok: waiter woke up",
        loss: Loss::Exit("FAIL: lost wakeup: waiter still waiting"),
        signature: "lost wakeup",
    },
    Racy {
        name: "lock_order_deadlock",
        ok: "ok: A=80 B=120",
        loss: Loss::Exit("FAIL: deadlock: transfer"),
        signature: "deadlock",
    },
    Racy {
        name: "signal_before_handler",
        ok: "got signal",
        loss: Loss::Signal(libc::SIGUSR1),
        signature: "SIGUSR1",
    },
    Racy {
        name: "sleep_timing",
        ok: "ok: 10 items",
        loss: Loss::Exit("FAIL: sleep too short: worker processed"),
        signature: "sleep too short",
    },
];

/// A run longer than this is a bug in the corpus (forced hangs give up after 2 s).
const RUN_LIMIT: Duration = Duration::from_secs(60);

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/racy")
}

/// The C compiler: `$CC`, else `cc`. Its absence fails the tests with instructions rather than
/// skipping them.
fn compiler() -> OsString {
    let cc = std::env::var_os("CC").unwrap_or_else(|| "cc".into());
    match Command::new(&cc).arg("--version").output() {
        Ok(output) if output.status.success() => cc,
        Ok(output) => panic!(
            "the racy fixtures need a C compiler, and `{} --version` failed ({}); install gcc or \
             clang, or set CC to one",
            cc.to_string_lossy(),
            output.status
        ),
        Err(error) => panic!(
            "the racy fixtures need a C compiler, and `{}` could not be run ({error}); install \
             gcc or clang, or set CC to one",
            cc.to_string_lossy()
        ),
    }
}

/// Every program, built once per test binary with `cc -O1 -pthread`.
fn built() -> &'static BTreeMap<&'static str, PathBuf> {
    static BUILT: OnceLock<(tempfile::TempDir, BTreeMap<&'static str, PathBuf>)> = OnceLock::new();
    let (_, programs) = BUILT.get_or_init(|| {
        let cc = compiler();
        let dir = scratch();
        let mut programs = BTreeMap::new();
        for racy in CORPUS {
            let source = corpus_dir().join(format!("{}.c", racy.name));
            let binary = dir.path().join(racy.name);
            let output = Command::new(&cc)
                .args(["-std=c11", "-O1", "-pthread", "-Wall", "-o"])
                .arg(&binary)
                .arg(&source)
                .output()
                .expect("run the C compiler");
            assert!(
                output.status.success(),
                "{} does not compile:\n{}",
                source.display(),
                String::from_utf8_lossy(&output.stderr)
            );
            programs.insert(racy.name, binary);
        }
        (dir, programs)
    });
    programs
}

/// A started program whose output goes to files.
struct Started {
    child: Child,
    output: PathBuf,
    _dir: tempfile::TempDir,
}

fn start(name: &str, mode: &str) -> Started {
    let dir = scratch();
    let output = dir.path().join("output");
    let file = File::create(&output).expect("create the output file");
    let child = Command::new(&built()[name])
        .env_remove("RACY_SAFE")
        .env_remove("RACY_FORCE")
        .env(mode, "1")
        .stdin(Stdio::null())
        .stdout(file.try_clone().expect("clone the output file"))
        .stderr(file)
        .spawn()
        .expect("start a racy program");
    Started {
        child,
        output,
        _dir: dir,
    }
}

/// Wait (bounded) for a started program; returns how it ended and what it printed.
fn finish(mut started: Started, name: &str) -> (ExitStatus, String) {
    let deadline = Instant::now() + RUN_LIMIT;
    let status = loop {
        if let Some(status) = started.child.try_wait().expect("wait for a racy program") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = started.child.kill();
            let _ = started.child.wait();
            panic!("{name} still running after {RUN_LIMIT:?}");
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let text = std::fs::read_to_string(&started.output).expect("read the output");
    (status, text)
}

#[test]
fn the_corpus_is_complete_and_documented() {
    let mut sources: Vec<String> = std::fs::read_dir(corpus_dir())
        .expect("fixtures/racy")
        .filter_map(Result::ok)
        .filter_map(|entry| entry.file_name().into_string().ok())
        .filter(|name| name.ends_with(".c"))
        .collect();
    sources.sort();
    let mut expected: Vec<String> = CORPUS.iter().map(|r| format!("{}.c", r.name)).collect();
    expected.sort();
    assert_eq!(sources, expected, "every program needs an entry in CORPUS");

    let readme = std::fs::read_to_string(corpus_dir().join("README.md")).expect("README.md");
    for racy in CORPUS {
        let file = format!("{}.c", racy.name);
        assert!(
            readme.lines().any(|line| line.contains(&file)),
            "fixtures/racy/README.md does not describe {file}"
        );
        let source = std::fs::read_to_string(corpus_dir().join(&file)).expect("source");
        assert!(
            source.contains("Measured failure rates"),
            "{file} does not record its measured failure rates"
        );
    }
}

#[test]
fn every_program_compiles() {
    let programs = built();
    assert_eq!(programs.len(), CORPUS.len());
    for path in programs.values() {
        assert!(path.is_file(), "{} was not built", path.display());
    }
}

#[test]
fn safe_runs_pass() {
    for round in 0..3 {
        let started: Vec<Started> = CORPUS.iter().map(|r| start(r.name, "RACY_SAFE")).collect();
        for (racy, started) in CORPUS.iter().zip(started) {
            let (status, output) = finish(started, racy.name);
            assert!(
                status.success(),
                "{} with RACY_SAFE=1 (round {round}) ended with {status}:\n{output}",
                racy.name
            );
            assert!(
                output.contains(racy.ok),
                "{} with RACY_SAFE=1 did not print {:?}:\n{output}",
                racy.name,
                racy.ok
            );
            assert!(!output.contains("FAIL"), "{}:\n{output}", racy.name);
        }
    }
}

#[test]
fn forced_runs_fail_with_their_telling_line() {
    // All at once: the two that detect a hang take 2 s each.
    let started: Vec<Started> = CORPUS.iter().map(|r| start(r.name, "RACY_FORCE")).collect();
    for (racy, started) in CORPUS.iter().zip(started) {
        let (status, output) = finish(started, racy.name);
        match racy.loss {
            Loss::Exit(line) => {
                assert_eq!(
                    status.code(),
                    Some(1),
                    "{} with RACY_FORCE=1 ended with {status}:\n{output}",
                    racy.name
                );
                assert!(
                    output.lines().any(|l| l.contains(line)),
                    "{} with RACY_FORCE=1 did not print {line:?}:\n{output}",
                    racy.name
                );
            }
            Loss::Signal(signal) => {
                assert_eq!(
                    status.signal(),
                    Some(signal),
                    "{} with RACY_FORCE=1 ended with {status}:\n{output}",
                    racy.name
                );
                assert!(output.contains("ready"), "{}:\n{output}", racy.name);
            }
        }
    }
}

#[test]
fn flakehunt_classifies_forced_failures() {
    let runs: Vec<(&Racy, tempfile::TempDir, Child)> = CORPUS
        .iter()
        .map(|racy| {
            let out = scratch();
            let child = flakehunt()
                .args([
                    "run",
                    "--json",
                    "--quiet",
                    "-n",
                    "2",
                    "-j",
                    "2",
                    "--no-history",
                ])
                .args(["--env", "RACY_FORCE=1", "--out"])
                .arg(out.path().join("out"))
                .arg("--")
                .arg(&built()[racy.name])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("run flakehunt");
            (racy, out, child)
        })
        .collect();
    for (racy, _out, child) in runs {
        let output = child.wait_with_output().expect("wait for flakehunt");
        let stdout = String::from_utf8_lossy(&output.stdout);
        let summary: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap_or_else(|e| {
            panic!(
                "{}: summary is not JSON ({e}): {stdout}\n{}",
                racy.name,
                String::from_utf8_lossy(&output.stderr)
            )
        });
        assert_eq!(output.status.code(), Some(1), "{}: {summary}", racy.name);
        assert_eq!(summary["failures"], 2, "{}: {summary}", racy.name);
        let signatures = summary["signatures"].as_array().expect("signatures");
        assert_eq!(
            signatures.len(),
            1,
            "{}: one failure mode: {summary}",
            racy.name
        );
        let signature = signatures[0].to_string();
        assert!(
            signature.contains(racy.signature),
            "{}: signature should mention {:?}: {signature}",
            racy.name,
            racy.signature
        );
    }
}
