//! Stacks of hung runs and backtraces of crashed ones, end to end: C fixtures that deadlock,
//! lose a wakeup or crash every time (`fixtures/stacks/`), and a Python deadlock. Hangs are
//! ended by a short `--timeout` on programs that never finish, so nothing here races.

mod common;

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::{flakehunt, scratch};

fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/stacks")
}

/// Compile `fixtures/stacks/NAME.c` into `dir`.
fn build(name: &str, dir: &Path) -> PathBuf {
    let exe = dir.join(name);
    let status = Command::new("cc")
        .args(["-O1", "-g", "-pthread", "-o"])
        .arg(&exe)
        .arg(fixtures_dir().join(format!("{name}.c")))
        .status()
        .expect("run cc (a C compiler is needed for these tests)");
    assert!(status.success(), "building {name}.c failed");
    exe
}

/// `flakehunt run --quiet --json -C DIR --out DIR/out EXTRA -- COMMAND`.
fn campaign(
    dir: &Path,
    extra: &[&str],
    command: &[&std::ffi::OsStr],
) -> (serde_json::Value, Output) {
    let mut flakehunt = flakehunt();
    // Cores are the user's business when their own limit allows them (a container often sets
    // it unlimited); start from the common shell default, 0, so every case sees the same thing.
    // SAFETY: the closure only calls getrlimit and setrlimit, which are async-signal-safe.
    unsafe {
        flakehunt.pre_exec(|| {
            let mut limit = libc::rlimit {
                rlim_cur: 0,
                rlim_max: 0,
            };
            if libc::getrlimit(libc::RLIMIT_CORE, &mut limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            limit.rlim_cur = 0;
            if libc::setrlimit(libc::RLIMIT_CORE, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let output = flakehunt
        .args(["run", "--quiet", "--json"])
        .arg("-C")
        .arg(dir)
        .arg("--out")
        .arg(dir.join("out"))
        .args(extra)
        .arg("--")
        .args(command)
        .output()
        .expect("run flakehunt");
    let summary = serde_json::from_slice(&output.stdout).unwrap_or_else(|error| {
        panic!(
            "summary is not JSON ({error}); stderr: {}",
            String::from_utf8_lossy(&output.stderr)
        )
    });
    (summary, output)
}

fn only_signature(summary: &serde_json::Value) -> String {
    let signatures = summary["signatures"].as_array().expect("signatures");
    assert_eq!(signatures.len(), 1, "{summary:#}");
    signatures[0]["text"].as_str().expect("text").to_string()
}

fn meta(dir: &Path, run: u64) -> serde_json::Value {
    let path = dir.join("out").join(format!("run-{run:06}.json"));
    serde_json::from_slice(&std::fs::read(&path).expect("metadata")).expect("json")
}

fn stacks_text(dir: &Path, run: u64) -> String {
    std::fs::read_to_string(dir.join("out").join(format!("run-{run:06}.stacks")))
        .expect("stacks file")
}

/// Long enough for the fixtures to reach their deadlock on a heavily loaded machine; they never
/// finish, so every run ends at this limit.
const LIMIT: &str = "10s";
const HANG: &[&str] = &["-n", "1", "--timeout", LIMIT, "--grace", "1s"];

#[test]
fn a_deadlock_and_a_lost_wakeup_hang_alike_but_sign_differently() {
    let dir = scratch();
    let deadlock = build("deadlock", dir.path());
    let lost_wakeup = build("lost_wakeup", dir.path());

    let (summary, output) = campaign(dir.path(), HANG, &[deadlock.as_os_str()]);
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(summary["failures_by_kind"]["timeout"], 1, "{summary:#}");
    let signature = only_signature(&summary);
    assert!(
        signature.starts_with("timeout (SIGQUIT): hang: "),
        "{signature}"
    );
    assert!(
        signature.contains("pthread_mutex_lock <- take_a_then_b"),
        "{signature}"
    );
    assert!(
        signature.contains("pthread_mutex_lock <- take_b_then_a"),
        "{signature}"
    );
    let stacks = stacks_text(dir.path(), 0);
    assert!(
        stacks.contains("take_a_then_b") && stacks.contains("take_b_then_a"),
        "{stacks}"
    );
    // Addresses and thread ids stay in the saved stacks, never in the signature.
    assert!(stacks.contains("0x"), "{stacks}");
    assert!(
        !signature.contains("0x") && !signature.contains("TID"),
        "{signature}"
    );
    let run = meta(dir.path(), 0);
    assert_eq!(run["stacks"]["file"], "run-000000.stacks");
    assert_eq!(run["stacks"]["kind"], "hang");
    assert_eq!(run["timed_out"], true);

    let other = dir.path().join("second");
    std::fs::create_dir(&other).expect("mkdir");
    let (summary, _) = campaign(&other, HANG, &[lost_wakeup.as_os_str()]);
    assert_eq!(summary["failures_by_kind"]["timeout"], 1, "{summary:#}");
    let lost = only_signature(&summary);
    assert!(
        lost.contains("pthread_cond_wait <- wait_for_start"),
        "{lost}"
    );
    assert_ne!(signature, lost);
    assert!(stacks_text(&other, 0).contains("wait_for_start"));
    // The timeout signal dumps no core: the limit was lowered before it was sent.
    assert!(!dir.path().join("core").exists());
}

#[test]
fn the_same_deadlock_clusters_across_runs() {
    let dir = scratch();
    let deadlock = build("deadlock", dir.path());
    let (summary, _) = campaign(
        dir.path(),
        &["-n", "3", "-j", "3", "--timeout", LIMIT, "--grace", "1s"],
        &[deadlock.as_os_str()],
    );
    assert_eq!(summary["failures_by_kind"]["timeout"], 3, "{summary:#}");
    let signature = only_signature(&summary);
    assert!(signature.contains("hang: "), "{signature}");
    assert_eq!(summary["signatures"][0]["count"], 3);
}

#[test]
fn crashes_get_a_backtrace_naming_the_function() {
    let dir = scratch();
    let crash = build("crash", dir.path());

    let (summary, _) = campaign(
        dir.path(),
        &["-n", "1"],
        &[crash.as_os_str(), "segv".as_ref()],
    );
    let signature = only_signature(&summary);
    assert!(
        signature.starts_with("signal SIGSEGV: ") && signature.contains("crash: poke_null <- main"),
        "{signature}"
    );
    let stacks = stacks_text(dir.path(), 0);
    assert!(stacks.contains("poke_null"), "{stacks}");
    assert_eq!(meta(dir.path(), 0)["stacks"]["kind"], "crash");

    let other = dir.path().join("abort");
    std::fs::create_dir(&other).expect("mkdir");
    let (summary, _) = campaign(&other, &["-n", "1"], &[crash.as_os_str(), "abort".as_ref()]);
    let signature = only_signature(&summary);
    assert!(
        signature.contains("crash: abort <- give_up <- main"),
        "{signature}"
    );
    assert!(stacks_text(&other, 0).contains("give_up"));

    // The cores were read and removed; nothing is left where the kernel wrote them.
    for place in [dir.path(), other.as_path()] {
        let leftovers: Vec<_> = std::fs::read_dir(place)
            .expect("read dir")
            .filter_map(Result::ok)
            .filter(|entry| entry.file_name().to_string_lossy().starts_with("core"))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
    }
}

#[test]
fn without_tools_one_warning_and_signatures_as_before() {
    let dir = scratch();
    let deadlock = build("deadlock", dir.path());
    let empty_path = dir.path().join("no-tools");
    std::fs::create_dir(&empty_path).expect("mkdir");
    let output = flakehunt()
        .env("PATH", &empty_path)
        .args([
            "run",
            "--quiet",
            "--json",
            "-n",
            "2",
            "-j",
            "2",
            "--timeout",
            LIMIT,
            "--grace",
            "1s",
        ])
        .arg("-C")
        .arg(dir.path())
        .arg("--out")
        .arg(dir.path().join("out"))
        .arg("--")
        .arg(&deadlock)
        .output()
        .expect("run flakehunt");
    let stderr = String::from_utf8_lossy(&output.stderr);
    let warnings: Vec<&str> = stderr.lines().filter(|l| l.contains("warning")).collect();
    assert_eq!(warnings.len(), 1, "{stderr}");
    assert!(
        warnings[0].contains("eu-stack") && warnings[0].contains("gdb"),
        "{stderr}"
    );
    let summary: serde_json::Value = serde_json::from_slice(&output.stdout).expect("json");
    assert_eq!(summary["failures_by_kind"]["timeout"], 2, "{summary:#}");
    assert_eq!(only_signature(&summary), "timeout (SIGQUIT): deadlocked");
    // The stacks file says what was missing.
    assert!(stacks_text(dir.path(), 0).contains("install elfutils or gdb"));
}

#[test]
fn no_stacks_leaves_runs_alone() {
    let dir = scratch();
    let deadlock = build("deadlock", dir.path());
    let (summary, _) = campaign(
        dir.path(),
        &[
            "-n",
            "1",
            "--timeout",
            LIMIT,
            "--grace",
            "1s",
            "--no-stacks",
        ],
        &[deadlock.as_os_str()],
    );
    assert_eq!(only_signature(&summary), "timeout (SIGQUIT): deadlocked");
    assert!(!dir.path().join("out/run-000000.stacks").exists());
    assert!(meta(dir.path(), 0).get("stacks").is_none());
}

#[test]
fn python_threads_show_their_python_frames() {
    let dir = scratch();
    let script = fixtures_dir().join("hang.py");
    let (summary, output) = campaign(dir.path(), HANG, &["python3".as_ref(), script.as_os_str()]);
    assert_eq!(
        summary["failures_by_kind"]["timeout"],
        1,
        "{summary:#} {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stacks = stacks_text(dir.path(), 0);
    for frame in [
        "in lock_a_then_b",
        "in lock_b_then_a",
        "in <module>",
        "hang.py",
    ] {
        assert!(stacks.contains(frame), "{frame} missing from:\n{stacks}");
    }
    let signature = only_signature(&summary);
    assert!(signature.contains("lock_a_then_b (hang.py)"), "{signature}");
    assert!(signature.contains("lock_b_then_a (hang.py)"), "{signature}");
    // The dump did not end the run: the timeout signal did.
    let run = meta(dir.path(), 0);
    assert_eq!(run["termination"]["kind"], "timed-out", "{run:#}");
    // Python's own output is untouched by the hook.
    let log = std::fs::read_to_string(dir.path().join("out/run-000000.log")).expect("log");
    assert_eq!(log, "deadlocked\n");
}

#[test]
fn log_shows_the_stacks_after_the_output() {
    let dir = scratch();
    let deadlock = build("deadlock", dir.path());
    let (summary, _) = campaign(dir.path(), HANG, &[deadlock.as_os_str()]);
    let campaign_id = summary["campaign"]
        .as_str()
        .expect("campaign id")
        .to_string();
    let log = flakehunt()
        .args(["log", &campaign_id, "0"])
        .output()
        .expect("flakehunt log");
    assert!(
        log.status.success(),
        "{}",
        String::from_utf8_lossy(&log.stderr)
    );
    let text = String::from_utf8_lossy(&log.stdout);
    let heading = text
        .find("stacks (run-000000.stacks)")
        .expect("stacks heading");
    assert!(text[..heading].contains("deadlocked"), "{text}");
    assert!(text[heading..].contains("take_a_then_b"), "{text}");

    let only = flakehunt()
        .args(["log", &campaign_id, "0", "--stacks"])
        .output()
        .expect("flakehunt log --stacks");
    let only = String::from_utf8_lossy(&only.stdout);
    assert!(
        only.contains("take_b_then_a") && !only.contains("deadlocked\n"),
        "{only}"
    );
    let raw = flakehunt()
        .args(["log", &campaign_id, "0", "--raw"])
        .output()
        .expect("flakehunt log --raw");
    assert_eq!(raw.stdout, b"deadlocked\n");
}

#[test]
fn log_stacks_of_a_run_without_any_says_why() {
    let dir = scratch();
    let crash = build("crash", dir.path());
    let (summary, _) = campaign(
        dir.path(),
        &["-n", "1", "--no-stacks"],
        &[crash.as_os_str()],
    );
    let campaign_id = summary["campaign"]
        .as_str()
        .expect("campaign id")
        .to_string();
    let out = flakehunt()
        .args(["log", &campaign_id, "0", "--stacks"])
        .output()
        .expect("flakehunt log");
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("has no stacks"));
}

/// A directory holding only the named tool, for a `PATH` that offers just that one.
fn path_with_only(tool: &str, dir: &Path) -> PathBuf {
    let found = std::env::split_paths(&std::env::var_os("PATH").expect("PATH"))
        .map(|d| d.join(tool))
        .find(|candidate| candidate.is_file())
        .unwrap_or_else(|| panic!("{tool} is needed on PATH for this test"));
    let only = dir.join(format!("only-{tool}"));
    std::fs::create_dir_all(&only).expect("mkdir");
    std::os::unix::fs::symlink(found, only.join(tool)).expect("symlink");
    only
}

#[test]
fn eu_stack_and_gdb_give_the_same_signatures() {
    let dir = scratch();
    let deadlock = build("deadlock", dir.path());
    let crash = build("crash", dir.path());
    let mut seen = Vec::new();
    for tool in ["eu-stack", "gdb"] {
        let path = path_with_only(tool, dir.path());
        let mut signatures = Vec::new();
        for (name, extra, command) in [
            ("hang", HANG, vec![deadlock.as_os_str()]),
            (
                "segv",
                &["-n", "1"][..],
                vec![crash.as_os_str(), "segv".as_ref()],
            ),
            (
                "abort",
                &["-n", "1"][..],
                vec![crash.as_os_str(), "abort".as_ref()],
            ),
        ] {
            let work = dir.path().join(format!("{tool}-{name}"));
            std::fs::create_dir(&work).expect("mkdir");
            let output = flakehunt()
                .env("PATH", &path)
                .args(["run", "--quiet", "--json"])
                .arg("-C")
                .arg(&work)
                .arg("--out")
                .arg(work.join("out"))
                .args(extra)
                .arg("--")
                .args(&command)
                .output()
                .expect("run flakehunt");
            let summary: serde_json::Value = serde_json::from_slice(&output.stdout).expect("json");
            assert_eq!(meta(&work, 0)["stacks"]["tools"][0], tool, "{name}");
            signatures.push(only_signature(&summary));
        }
        seen.push(signatures);
    }
    assert_eq!(seen[0], seen[1]);
    assert!(seen[0][0].contains("take_a_then_b"), "{:?}", seen[0]);
    assert!(
        seen[0][1].ends_with("crash: poke_null <- main"),
        "{:?}",
        seen[0]
    );
    assert!(
        seen[0][2].ends_with("crash: abort <- give_up <- main"),
        "{:?}",
        seen[0]
    );
}

#[test]
fn a_file_named_core_is_never_overwritten() {
    let dir = scratch();
    let crash = build("crash", dir.path());
    let pattern = std::fs::read_to_string("/proc/sys/kernel/core_pattern").expect("core_pattern");
    // The case only arises with a relative pattern that names every core alike.
    if pattern.trim() != "core" {
        eprintln!("kernel.core_pattern is {pattern:?}, not core: nothing to check");
        return;
    }
    std::fs::write(dir.path().join("core"), b"precious").expect("write");
    let (summary, output) = campaign(dir.path(), &["-n", "2", "-j", "1"], &[crash.as_os_str()]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let warnings: Vec<&str> = stderr.lines().filter(|l| l.contains("warning")).collect();
    assert_eq!(warnings.len(), 1, "{stderr}");
    assert!(warnings[0].contains("already exists"), "{stderr}");
    assert_eq!(
        std::fs::read(dir.path().join("core")).expect("core"),
        b"precious"
    );
    assert_eq!(
        only_signature(&summary),
        "signal SIGSEGV: about to write through a null pointer"
    );
}

#[test]
fn a_crashed_child_process_gets_its_backtrace_too() {
    let dir = scratch();
    let crash = build("crash", dir.path());
    let script = format!("'{}' segv; exit 3", crash.display());
    let (summary, _) = campaign(
        dir.path(),
        &["-n", "1"],
        &["sh".as_ref(), "-c".as_ref(), script.as_ref()],
    );
    let signature = only_signature(&summary);
    assert!(
        signature.starts_with("exit 3: ") && signature.ends_with("crash: poke_null <- main"),
        "{signature}"
    );
    assert!(stacks_text(dir.path(), 0).contains("killed by SIGSEGV"));
}

#[test]
fn go_goroutines_come_from_the_sigquit_dump() {
    let dir = scratch();
    let exe = dir.path().join("gohang");
    let status = Command::new("go")
        .args(["build", "-o"])
        .arg(&exe)
        .arg(fixtures_dir().join("hang.go"))
        .status()
        .expect("run go (the Go toolchain is needed for this test)");
    assert!(status.success(), "go build failed");
    let (summary, _) = campaign(dir.path(), HANG, &[exe.as_os_str()]);
    let signature = only_signature(&summary);
    assert!(
        signature.contains("sync.(*Mutex).Lock <- main.lockAThenB"),
        "{signature}"
    );
    assert!(
        signature.contains("sync.(*Mutex).Lock <- main.lockBThenA"),
        "{signature}"
    );
    let stacks = stacks_text(dir.path(), 0);
    assert!(stacks.contains("goroutine 1 ["), "{stacks}");
    let run = meta(dir.path(), 0);
    assert_eq!(run["stacks"]["processes"][0]["runtime"], "go", "{run:#}");
}

#[test]
fn the_python_hook_keeps_the_runs_own_pythonpath_and_sitecustomize() {
    let dir = scratch();
    let modules = dir.path().join("modules");
    std::fs::create_dir(&modules).expect("mkdir");
    std::fs::write(modules.join("mymod.py"), "VALUE = 7\n").expect("write");
    std::fs::write(
        modules.join("sitecustomize.py"),
        "import os\nos.environ['USER_SITE_RAN'] = 'yes'\n",
    )
    .expect("write");
    let program = "import os, sys, mymod\n\
        print(mymod.VALUE, os.environ.get('USER_SITE_RAN'), round(sys.getswitchinterval(), 6))";
    let env = format!("PYTHONPATH={}", modules.display());
    for (extra, interval) in [(None, "0.005"), (Some("py-switch=1ms"), "0.001")] {
        let work = dir.path().join(format!("work-{interval}"));
        std::fs::create_dir(&work).expect("mkdir");
        let mut args = vec!["-n", "1", "--keep-passing", "--env", env.as_str()];
        if let Some(shake) = extra {
            args.extend(["--shake", shake]);
        }
        let (summary, output) = campaign(
            &work,
            &args,
            &["python3".as_ref(), "-c".as_ref(), program.as_ref()],
        );
        assert_eq!(
            summary["passes"],
            1,
            "{summary:#} {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let log = std::fs::read_to_string(work.join("out/run-000000.log")).expect("log");
        assert_eq!(log, format!("7 yes {interval}\n"), "shake {extra:?}");
    }
}
