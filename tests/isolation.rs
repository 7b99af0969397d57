//! Runs cannot reach the user's terminal: flakehunt is started on a pseudo-terminal of the
//! test's own, and whatever a run sends to /dev/tty must not arrive on it (unless `--tty` shares
//! it); progress notices survive a terminal that cannot draw a bar.

mod common;

use std::io::Read;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use common::*;

/// Generous bound on waiting for the terminal's output; only a broken test reaches it.
const PATIENCE: Duration = Duration::from_secs(120);
/// What the hostile fixture writes to /dev/tty: a title change, a screen clear and an OSC 52
/// clipboard write, each carrying a marker the test looks for.
const HOSTILE: &str = r"tty-write:\e]0;PWNED-TITLE\a\e[2J\e]52;c;PWNED-CLIPBOARD\a";

/// A pseudo-terminal: the test keeps both ends, and a thread collects everything that reaches
/// the master (what would appear on the user's screen).
struct Terminal {
    slave: Option<OwnedFd>,
    seen: Arc<Mutex<Vec<u8>>>,
    reader: Option<JoinHandle<()>>,
}

impl Terminal {
    /// None, saying why, where this machine has no pseudo-terminals (no /dev/ptmx).
    fn open() -> Option<Terminal> {
        use rustix::fs::{Mode, OFlags};
        use rustix::pty::{grantpt, openpt, ptsname, unlockpt, OpenptFlags};
        let flags = OpenptFlags::RDWR | OpenptFlags::NOCTTY | OpenptFlags::CLOEXEC;
        let master = match openpt(flags) {
            Ok(master) => master,
            Err(error) => {
                println!("skipped: cannot open a pseudo-terminal ({error})");
                return None;
            }
        };
        grantpt(&master).expect("grantpt");
        unlockpt(&master).expect("unlockpt");
        let name = ptsname(&master, Vec::new()).expect("ptsname");
        let slave = rustix::fs::open(
            name.as_c_str(),
            OFlags::RDWR | OFlags::NOCTTY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .expect("open the pty slave");
        let seen = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&seen);
        let reader = std::thread::spawn(move || {
            let mut master = std::fs::File::from(master);
            let mut buffer = [0u8; 4096];
            // EIO once every slave descriptor is closed.
            while let Ok(n @ 1..) = master.read(&mut buffer) {
                sink.lock().expect("lock").extend_from_slice(&buffer[..n]);
            }
        });
        Some(Terminal {
            slave: Some(slave),
            seen,
            reader: Some(reader),
        })
    }

    fn slave(&self) -> &OwnedFd {
        self.slave.as_ref().expect("open")
    }

    /// Make this terminal the controlling terminal of `command` (in a new session), as a login
    /// shell's terminal is for the programs it starts.
    fn control(&self, command: &mut Command) {
        let slave = self.slave().as_raw_fd();
        // SAFETY: setsid and ioctl are async-signal-safe system calls; the descriptor stays
        // open in the forked child until exec.
        unsafe {
            command.pre_exec(move || {
                rustix::process::setsid()?;
                rustix::process::ioctl_tiocsctty(std::os::fd::BorrowedFd::borrow_raw(slave))?;
                Ok(())
            });
        }
    }

    /// A standard stream of a command, writing to this terminal.
    fn stdio(&self) -> Stdio {
        Stdio::from(self.slave().try_clone().expect("dup"))
    }

    /// Everything that reached the screen until now. A marker written through the slave goes
    /// through the same queue as anything written before it, so once it arrives nothing
    /// earlier is still on its way; then the terminal is closed.
    fn close(mut self) -> String {
        use std::io::Write;
        let marker = "\nEND-OF-TEST-OUTPUT\n";
        let mut slave = std::fs::File::from(self.slave.take().expect("open"));
        slave.write_all(marker.as_bytes()).expect("write marker");
        let start = Instant::now();
        loop {
            let seen = String::from_utf8_lossy(&self.seen.lock().expect("lock")).into_owned();
            if seen.contains("END-OF-TEST-OUTPUT") {
                drop(slave);
                if let Some(reader) = self.reader.take() {
                    reader.join().expect("reader");
                }
                return seen;
            }
            assert!(
                start.elapsed() < PATIENCE,
                "the terminal never echoed the marker"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

/// `flakehunt run --json ... -- fh-fixture ACTIONS` with `terminal` as its controlling terminal
/// (not as any of its standard streams).
fn run_under(terminal: &Terminal, out: &Path, extra: &[&str], actions: &[&str]) -> Output {
    let mut command = fixture_command(out, &[&["--json"], extra].concat(), actions);
    terminal.control(&mut command);
    command
        .stdin(Stdio::null())
        .output()
        .expect("run flakehunt")
}

fn summary(output: &Output) -> serde_json::Value {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|error| {
        panic!(
            "summary is not JSON ({error}); stderr: {}",
            String::from_utf8_lossy(&output.stderr)
        )
    })
}

/// The combined output of the only failure's log.
fn failure_log(summary: &serde_json::Value) -> String {
    let example = summary["signatures"][0]["example"]
        .as_str()
        .expect("an example log");
    std::fs::read_to_string(example).expect("read the failure's log")
}

#[test]
fn writes_to_dev_tty_fail_inside_the_run_and_never_reach_the_terminal() {
    let dir = scratch();
    let Some(terminal) = Terminal::open() else {
        return;
    };
    let output = run_under(&terminal, dir.path(), &["-n", "3", "-j", "3"], &[HOSTILE]);
    let seen = terminal.close();
    assert!(
        !seen.contains("PWNED"),
        "a run reached the terminal: {seen:?}"
    );
    let summary = summary(&output);
    assert_eq!(summary["failures"], 3, "{summary}");
    assert_eq!(summary["failures_by_kind"]["exit"], 3, "{summary}");
    let log = failure_log(&summary);
    assert!(
        log.contains("tty-write: /dev/tty: No such device or address"),
        "{log}"
    );
}

#[test]
fn reads_from_dev_tty_fail_at_once_instead_of_waiting_for_the_timeout() {
    let dir = scratch();
    let Some(terminal) = Terminal::open() else {
        return;
    };
    let output = run_under(
        &terminal,
        dir.path(),
        &["-n", "2", "--timeout", "10m"],
        &["tty-read"],
    );
    terminal.close();
    let summary = summary(&output);
    // Each run ended by its own exit status: none was stopped or timed out waiting.
    assert_eq!(summary["failures_by_kind"]["exit"], 2, "{summary}");
    assert_eq!(summary["timeouts"], 0, "{summary}");
    let log = failure_log(&summary);
    assert!(
        log.contains("tty-read: /dev/tty: No such device or address"),
        "{log}"
    );
}

#[test]
fn a_terminal_descriptor_left_open_by_the_shell_does_not_reach_runs() {
    let dir = scratch();
    let Some(terminal) = Terminal::open() else {
        return;
    };
    let mut command = flakehunt();
    command
        .args(["run", "--json", "-n", "1", "--out"])
        .arg(dir.path())
        .args(["--", "sh", "-c", "printf PWNED-THROUGH-FD >&7"]);
    terminal.control(&mut command);
    let slave = terminal.slave().as_raw_fd();
    // SAFETY: dup2 is async-signal-safe; it leaves a copy of the terminal on descriptor 7
    // without close-on-exec, as a shell's redirection `7>/dev/tty` would.
    unsafe {
        command.pre_exec(move || {
            if libc::dup2(slave, 7) == 7 {
                Ok(())
            } else {
                Err(std::io::Error::last_os_error())
            }
        });
    }
    let output = command.stdin(Stdio::null()).output().expect("run");
    let seen = terminal.close();
    assert!(
        !seen.contains("PWNED"),
        "a run reached the terminal: {seen:?}"
    );
    assert_eq!(summary(&output)["failures"], 1, "the write must fail");
}

#[test]
fn with_tty_runs_share_the_terminal_after_a_warning() {
    let dir = scratch();
    let Some(terminal) = Terminal::open() else {
        return;
    };
    let output = run_under(&terminal, dir.path(), &["-n", "1", "--tty"], &[HOSTILE]);
    let seen = terminal.close();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("warning: --tty: runs share this terminal"),
        "{stderr}"
    );
    assert_eq!(summary(&output)["passes"], 1, "{stderr}");
    assert!(seen.contains("PWNED-TITLE"), "{seen:?}");
    assert!(seen.contains("PWNED-CLIPBOARD"), "{seen:?}");
}

/// `flakehunt run` with its stderr on `terminal` and TERM set, one failure among three runs.
fn progress_on(terminal: &Terminal, term: &str, progress: &str) -> Output {
    let dir = scratch();
    let mut command = flakehunt();
    command
        .env("TERM", term)
        .args(["run", "-n", "3", "-j", "1", "--progress", progress, "--out"])
        .arg(dir.path())
        .arg("--")
        .arg(fixture())
        .args(["err:something broke", "fail-on:1"]);
    terminal.control(&mut command);
    command
        .stdin(Stdio::null())
        .stderr(terminal.stdio())
        .output()
        .expect("run flakehunt")
}

#[test]
fn failure_notices_are_plain_lines_on_a_dumb_terminal() {
    for progress in ["auto", "bar"] {
        let Some(terminal) = Terminal::open() else {
            return;
        };
        let output = progress_on(&terminal, "dumb", progress);
        let seen = terminal.close();
        assert_eq!(output.status.code(), Some(1), "{seen}");
        assert!(
            seen.contains("FAIL run 1 after"),
            "--progress {progress}: {seen:?}"
        );
        assert!(
            !seen.contains('\x1b'),
            "a dumb terminal gets no escapes: {seen:?}"
        );
    }
    // A terminal that can draw the bar shows the notice through it.
    let Some(terminal) = Terminal::open() else {
        return;
    };
    progress_on(&terminal, "xterm", "bar");
    let seen = terminal.close();
    assert!(seen.contains("FAIL run 1 after"), "{seen:?}");
}

#[test]
fn a_bar_asked_for_without_a_terminal_still_shows_failures() {
    let dir = scratch();
    let output = flakehunt()
        .env("TERM", "xterm")
        .args(["run", "-n", "3", "-j", "1", "--progress", "bar", "--out"])
        .arg(dir.path())
        .arg("--")
        .arg(fixture())
        .args(["err:something broke", "fail-on:1"])
        .stdin(Stdio::null())
        .output()
        .expect("run flakehunt");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("FAIL run 1 after"), "{stderr}");
}

#[test]
fn runs_stay_in_flakehunts_session_and_scheduler_autogroup() {
    // A session of its own would put each run in an autogroup of its own, where nice values
    // and load generators lose their effect.
    // Some kernels and containers keep the file but leave it empty: no autogroup to compare.
    let ours = std::fs::read_to_string("/proc/self/autogroup").unwrap_or_default();
    if !ours.starts_with("/autogroup-") {
        println!("skipped: no scheduler autogroup is visible here");
        return;
    }
    let dir = scratch();
    let output = flakehunt()
        .args([
            "run",
            "--quiet",
            "--json",
            "-n",
            "1",
            "--keep-passing",
            "--out",
        ])
        .arg(dir.path())
        .args([
            "--",
            "sh",
            "-c",
            "cat /proc/self/autogroup; echo; cat /proc/$$/stat",
        ])
        .stdin(Stdio::null())
        .output()
        .expect("run flakehunt");
    let summary = summary(&output);
    assert_eq!(summary["passes"], 1, "{summary}");
    let log = std::fs::read_to_string(dir.path().join("run-000000.log")).expect("log");
    let group = |line: &str| line.split_whitespace().next().map(str::to_owned);
    let theirs = log.lines().find(|line| line.starts_with("/autogroup-"));
    assert_eq!(theirs.and_then(group), group(&ours), "{log}");
    // /proc/PID/stat: after the command name come state, ppid, pgrp and session.
    let session = log
        .lines()
        .find(|line| line.contains(" (sh) "))
        .and_then(|stat| stat.rsplit_once(')'))
        .and_then(|(_, rest)| rest.split_whitespace().nth(3))
        .and_then(|field| field.parse::<i32>().ok());
    // SAFETY: getsid(0) has no preconditions.
    assert_eq!(session, Some(unsafe { libc::getsid(0) }), "{log}");
}
