//! The demo's racy program and its driver: a Linux model of Go issue 45638.
//!
//! In the original bug a C program loads a Go DLL. `LoadLibrary` returns, and the program
//! announces it is ready, before the Go runtime's background initialiser thread has installed
//! its console control handler. The test sends a Ctrl-Break as soon as it sees "ready"; usually
//! the handler is in place by then and the program reports the signal, but occasionally the
//! event arrives first, the default handler kills the process, and the test fails with
//! "No signal received" (on Windows, with a terminal full of binary garbage).
//!
//! Here [`child_main`] plays the C program plus DLL. Its main thread starts an "initialiser"
//! thread (the Go runtime), which does some start-up work and then installs a SIGINT handler;
//! meanwhile the main thread finishes "loading" (it blocks for 0.8 ms) and prints `ready`
//! without waiting for the initialiser. [`driver_main`] plays the test: it starts the child,
//! sends SIGINT the moment it reads `ready`, and reports whether the child saw it. Usually the
//! initialiser wins comfortably; it loses only when the scheduler keeps it off a CPU for longer
//! than its head start, so the race comes from real scheduling noise and never from random
//! numbers. On an otherwise idle 2-core machine running two drivers at a time, the failure
//! rate with the default start-up work ([`DEFAULT_INIT_SPIN`]) is a few in a thousand.
//! `FLAKEHUNT_DEMO_INIT_SPIN` (microseconds) overrides it: values approaching the loader's
//! 800 us make failures frequent. Other load on the machine makes them more frequent too.

use std::io::{Read, Write};
use std::os::fd::{AsFd, AsRawFd, IntoRawFd};
use std::os::unix::net::UnixStream;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Child, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicI32, Ordering};
use std::thread;
use std::time::{Duration, Instant};

/// Hidden subcommand that runs [`child_main`].
pub const CHILD_SUBCOMMAND: &str = "__demo-child";
/// Hidden subcommand that runs [`driver_main`].
pub const DRIVER_SUBCOMMAND: &str = "__demo-driver";
/// Environment variable overriding the initialiser's start-up work, in microseconds.
pub const INIT_SPIN_ENV: &str = "FLAKEHUNT_DEMO_INIT_SPIN";
/// Default start-up work before the handler is installed, in microseconds.
pub const DEFAULT_INIT_SPIN: u64 = 100;
/// How long the "loader" blocks the main thread (as on I/O) after starting the initialiser
/// and before the program says `ready`. This is the initialiser's head start: it
/// loses only when the scheduler keeps it off a CPU for longer than this minus its own
/// start-up work, which happens occasionally when other processes compete for the CPUs.
/// Blocking rather than spinning leaves the CPU free for the initialiser; a spinning loader
/// would crowd it out on a 2-core machine and fail most runs.
const LOADER_WAIT: Duration = Duration::from_micros(800);

/// How long the child waits for the signal after announcing it is ready.
const SIGNAL_WAIT: Duration = Duration::from_secs(5);
/// How long the driver waits for the child to say `ready`, and then to finish.
const DRIVER_WAIT: Duration = Duration::from_secs(10);
/// Size of the garbage the driver dumps when the child was killed.
const GARBAGE_LEN: usize = 2048;

/// The racy program: announces `ready` before its SIGINT handler is guaranteed to exist.
///
/// Returns 0 if the signal was handled, 1 if none arrived within 5 s. If SIGINT arrives before
/// the initialiser has installed the handler, the process dies by it: that is the bug.
pub fn child_main() -> i32 {
    // Start from the default disposition even if our parent left SIGINT ignored or blocked
    // (shells ignore it for background jobs), so an early signal really is fatal.
    reset_sigint();
    let (wake_rx, wake_tx) = match UnixStream::pair() {
        Ok(pair) => pair,
        Err(err) => {
            eprintln!("demo child: cannot create the signal pipe: {err}");
            return 2;
        }
    };
    // Owned by the signal handler from now on; never closed.
    WAKE_FD.store(wake_tx.into_raw_fd(), Ordering::SeqCst);

    // "LoadLibrary": the library's entry point starts the runtime initialiser in the
    // background...
    let spin = init_spin();
    if let Err(err) = thread::Builder::new()
        .name("initialiser".into())
        .spawn(move || initialiser(spin))
    {
        eprintln!("demo child: cannot start the initialiser thread: {err}");
        return 2;
    }
    // ...the loader finishes its own work and returns, and the program announces readiness
    // without waiting for the initialiser to install its handler. That is the bug.
    thread::sleep(LOADER_WAIT);
    if say("ready").is_err() {
        return 2;
    }

    match wait_readable(&wake_rx, SIGNAL_WAIT) {
        Ok(true) => {
            let _ = say("got signal");
            0
        }
        Ok(false) => {
            let _ = say("FAILURE: No signal received");
            1
        }
        Err(err) => {
            let _ = say(&format!("FAILURE: waiting for the signal: {err}"));
            1
        }
    }
}

/// Write end of the socket pair that tells the main thread a SIGINT was handled.
static WAKE_FD: AtomicI32 = AtomicI32::new(-1);

/// The SIGINT handler: one write(2), which is async-signal-safe, preserving errno.
extern "C" fn on_sigint(_sig: libc::c_int) {
    let fd = WAKE_FD.load(Ordering::SeqCst);
    // SAFETY: errno is thread-local and restored; write(2) on a descriptor we never close.
    unsafe {
        let errno = *libc::__errno_location();
        libc::write(fd, b"!".as_ptr().cast(), 1);
        *libc::__errno_location() = errno;
    }
}

/// The background initialiser: start-up work first, and only then the SIGINT handler.
/// A single sigaction(2) installs it, so a signal is either fatal or handled, never lost.
fn initialiser(spin: Duration) {
    busy_for(spin);
    // SAFETY: a zeroed sigaction is valid; the handler only does async-signal-safe work.
    let installed = unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = on_sigint as extern "C" fn(libc::c_int) as libc::sighandler_t;
        action.sa_flags = libc::SA_RESTART;
        libc::sigemptyset(&mut action.sa_mask);
        libc::sigaction(libc::SIGINT, &action, std::ptr::null_mut()) == 0
    };
    if !installed {
        eprintln!(
            "demo child: cannot install the SIGINT handler: {}",
            std::io::Error::last_os_error()
        );
    }
}

/// Busy-waits for `how_long` of wall-clock time, standing in for CPU-bound start-up work.
/// Busy rather than sleeping so the thread competes for a CPU as real work would.
fn busy_for(how_long: Duration) {
    let start = Instant::now();
    while start.elapsed() < how_long {
        std::hint::spin_loop();
    }
}

/// The start-up work to do: [`INIT_SPIN_ENV`] microseconds if set and valid, else the default.
fn init_spin() -> Duration {
    let micros = std::env::var(INIT_SPIN_ENV)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(DEFAULT_INIT_SPIN);
    Duration::from_micros(micros)
}

/// Restores SIGINT's default action and unblocks it in this thread (and threads it spawns).
fn reset_sigint() {
    // SAFETY: plain libc calls with valid arguments; no handler of ours is being replaced.
    unsafe {
        libc::signal(libc::SIGINT, libc::SIG_DFL);
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGINT);
        libc::pthread_sigmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut());
    }
}

/// Prints one line to stdout and flushes it at once, so the driver sees it immediately.
fn say(line: &str) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}")?;
    out.flush()
}

/// The test: runs `self_exe __demo-child`, interrupts it as soon as it is ready, and checks
/// that it handled the interrupt.
///
/// Returns 0 if the child reported the signal, 1 if it failed (killed, or no signal seen), and
/// 2 if it never became ready.
pub fn driver_main(self_exe: &Path) -> i32 {
    let mut child = match Command::new(self_exe)
        .arg(CHILD_SUBCOMMAND)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
    {
        Ok(child) => child,
        Err(err) => {
            eprintln!("demo driver: cannot start {}: {err}", self_exe.display());
            return 2;
        }
    };
    let Some(mut stdout) = child.stdout.take() else {
        eprintln!("demo driver: child has no stdout pipe");
        return 2;
    };
    let mut output = Vec::new();

    let ready_by = Instant::now() + DRIVER_WAIT;
    let ready = loop {
        if output.split(|&b| b == b'\n').any(|line| line == b"ready") {
            break true;
        }
        match read_some(&mut stdout, &mut output, ready_by) {
            Ok(true) => {}
            Ok(false) => break false,
            Err(err) => {
                eprintln!("demo driver: reading the child's output: {err}");
                break false;
            }
        }
    };
    if !ready {
        let status = kill_and_wait(&mut child);
        println!(
            "FAILURE: child never said ready within {}s ({}); output: {:?}",
            DRIVER_WAIT.as_secs(),
            describe(status),
            String::from_utf8_lossy(&output)
        );
        return 2;
    }

    // Interrupt at once, as the test in the story does on seeing "ready". The child is our
    // own and not reaped yet, so its pid still names it.
    if let Err(errno) = crate::os::process::signal_process(child.id(), libc::SIGINT) {
        eprintln!(
            "demo driver: cannot signal the child: {}",
            std::io::Error::from(errno)
        );
    }

    let finish_by = Instant::now() + DRIVER_WAIT;
    let mut eof = false;
    while !eof {
        match read_some(&mut stdout, &mut output, finish_by) {
            Ok(true) => {}
            Ok(false) => eof = true,
            Err(_) => break,
        }
    }
    let status = if eof {
        child.wait().ok()
    } else {
        kill_and_wait(&mut child)
    };
    let got_signal = output
        .split(|&b| b == b'\n')
        .any(|line| line == b"got signal");

    match status {
        Some(st) if st.success() && got_signal => {
            println!("ok: signal received");
            0
        }
        Some(st) if st.signal() == Some(libc::SIGINT) => {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(
                out,
                "FAILURE: No signal received: child killed by SIGINT before its handler was installed"
            );
            // Like the crash in the story, which filled the terminal with binary garbage.
            let _ = out.write_all(&garbage(GARBAGE_LEN));
            let _ = out.write_all(b"\n");
            let _ = out.flush();
            1
        }
        other => {
            println!(
                "FAILURE: unexpected outcome: child {}; output: {:?}",
                describe(other),
                String::from_utf8_lossy(&output)
            );
            1
        }
    }
}

/// Waits up to `timeout` for `fd` to become readable (or hit end of file); Ok(false) on
/// timeout. poll(2) rather than a reader thread keeps the driver's reaction to `ready` quick.
fn wait_readable(fd: impl AsFd, timeout: Duration) -> std::io::Result<bool> {
    let deadline = Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(false);
        }
        let mut pfd = libc::pollfd {
            fd: fd.as_fd().as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        let millis = libc::c_int::try_from(left.as_millis().max(1)).unwrap_or(libc::c_int::MAX);
        // SAFETY: one valid pollfd for a descriptor we borrow for the duration of the call.
        match unsafe { libc::poll(&mut pfd, 1, millis) } {
            n if n > 0 => return Ok(true),
            0 => {}
            _ => {
                let err = std::io::Error::last_os_error();
                if err.kind() != std::io::ErrorKind::Interrupted {
                    return Err(err);
                }
            }
        }
    }
}

/// Appends what one read of the child's stdout returns, waiting until `deadline` for it.
/// Ok(true) means data arrived, Ok(false) end of file or timeout.
fn read_some(
    stdout: &mut ChildStdout,
    output: &mut Vec<u8>,
    deadline: Instant,
) -> std::io::Result<bool> {
    let mut buf = [0u8; 4096];
    loop {
        if !wait_readable(&*stdout, deadline.saturating_duration_since(Instant::now()))? {
            return Ok(false);
        }
        match stdout.read(&mut buf) {
            Ok(0) => return Ok(false),
            Ok(n) => {
                output.extend_from_slice(&buf[..n]);
                return Ok(true);
            }
            Err(err) if err.kind() == std::io::ErrorKind::Interrupted => {}
            Err(err) => return Err(err),
        }
    }
}

/// Kills a child that overstayed its welcome and reaps it.
fn kill_and_wait(child: &mut Child) -> Option<ExitStatus> {
    let _ = child.kill();
    child.wait().ok()
}

/// "exited with code N", "killed by SIGxxx" or "status unknown".
fn describe(status: Option<ExitStatus>) -> String {
    match status {
        None => "status unknown".into(),
        Some(st) => match (st.code(), st.signal()) {
            (Some(code), _) => format!("exited with code {code}"),
            (None, Some(sig)) => format!("killed by {}", signal_name(sig)),
            (None, None) => format!("ended with {st}"),
        },
    }
}

/// Name of a signal, for messages (`SIGINT`, or `signal N` when it has no standard name).
fn signal_name(sig: i32) -> String {
    crate::os::signal::known_name(sig).map_or_else(|| format!("signal {sig}"), str::to_string)
}

/// `len` bytes of deterministic binary garbage: control bytes, escape sequences (clear screen,
/// window title, colours) and invalid UTF-8. Deterministic so every such failure looks alike.
fn garbage(len: usize) -> Vec<u8> {
    const NASTY: &[&[u8]] = &[
        b"\x1b[2J",
        b"\x1b]0;pwned\x07",
        b"\x1b[7m",
        b"\x1b[H",
        b"\r",
        b"\0",
        b"\xff\xfe",
        b"\xc3\x28",
        b"\x9b",
        b"\x07",
    ];
    let mut state: u64 = 0x0045_638d_1e5e_c0de;
    let mut out = Vec::with_capacity(len + 16);
    while out.len() < len {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let r = state >> 33;
        if r & 7 == 0 {
            out.extend_from_slice(NASTY[(r >> 3) as usize % NASTY.len()]);
        } else {
            out.push((r >> 8) as u8);
        }
    }
    out.truncate(len);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_is_deterministic_and_binary() {
        let g = garbage(GARBAGE_LEN);
        assert_eq!(g, garbage(GARBAGE_LEN));
        assert_eq!(g.len(), GARBAGE_LEN);
        assert!(g.contains(&0x1b) && g.contains(&0));
        assert!(std::str::from_utf8(&g).is_err());
    }

    #[test]
    fn describes_statuses() {
        assert_eq!(describe(None), "status unknown");
        assert_eq!(
            describe(Some(ExitStatus::from_raw(libc::SIGINT))),
            "killed by SIGINT"
        );
        assert_eq!(
            describe(Some(ExitStatus::from_raw(3 << 8))),
            "exited with code 3"
        );
    }
}
