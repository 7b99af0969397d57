//! Spawning one run: its own process group, a parent-death signal, piped output, and a pidfd
//! so the event loop can wait for exit without reaping anything it does not own.

use std::ffi::OsString;
use std::io;
use std::os::fd::OwnedFd;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Instant, SystemTime};

use rustix::process::{pidfd_open, Pid, PidfdFlags};

/// The parts of a command that are the same for every run of a campaign.
#[derive(Debug, Clone)]
pub struct CommandTemplate {
    /// Program to execute (resolved path).
    pub program: PathBuf,
    /// Arguments after the program.
    pub args: Vec<OsString>,
    /// Working directory.
    pub cwd: Option<PathBuf>,
    /// Extra environment variables.
    pub env: Vec<(OsString, OsString)>,
    /// Campaign id, exported as `FLAKEHUNT_CAMPAIGN`.
    pub campaign_id: String,
}

/// A spawned run whose exit status has not been collected yet.
#[derive(Debug)]
pub struct SpawnedChild {
    /// Pid of the main process, also its process group id.
    pub pid: u32,
    /// Pollable handle that becomes readable when the process exits.
    pub pidfd: OwnedFd,
    /// Read end of the stdout pipe (non-blocking).
    pub stdout: OwnedFd,
    /// Read end of the stderr pipe (non-blocking).
    pub stderr: OwnedFd,
    /// Monotonic spawn time.
    pub started: Instant,
    /// Wall-clock spawn time.
    pub started_at: SystemTime,
}

/// Spawn run `index` of the template.
///
/// The child leads a new process group so that timeouts and cancellation can signal everything it
/// started, and gets SIGKILL if flakehunt dies so that a killed campaign leaves no runs behind.
pub fn spawn(template: &CommandTemplate, index: u64) -> io::Result<SpawnedChild> {
    let mut command = Command::new(&template.program);
    command
        .args(&template.args)
        .env("FLAKEHUNT_RUN", index.to_string())
        .env("FLAKEHUNT_CAMPAIGN", &template.campaign_id)
        .envs(template.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    if let Some(cwd) = &template.cwd {
        command.current_dir(cwd);
    }
    let parent = std::process::id();
    // SAFETY: the closure only makes async-signal-safe system calls (prctl, getppid).
    unsafe {
        command.pre_exec(move || {
            if libc::prctl(
                libc::PR_SET_PDEATHSIG,
                libc::SIGKILL as libc::c_ulong,
                0,
                0,
                0,
            ) != 0
            {
                return Err(io::Error::last_os_error());
            }
            // The parent may have died between fork and prctl; then nobody would kill us.
            if libc::getppid() as u32 != parent {
                return Err(io::Error::other("flakehunt exited while starting the run"));
            }
            Ok(())
        });
    }
    let started = Instant::now();
    let started_at = SystemTime::now();
    let mut child = command.spawn()?;
    let pid = child.id();
    let (stdout, stderr) = match (child.stdout.take(), child.stderr.take()) {
        (Some(stdout), Some(stderr)) => (OwnedFd::from(stdout), OwnedFd::from(stderr)),
        _ => return Err(io::Error::other("child pipes missing after spawn")),
    };
    for fd in [&stdout, &stderr] {
        set_nonblocking(fd)?;
    }
    // The child cannot be reaped by anyone but us, so its pid stays valid for pidfd_open.
    let raw_pid =
        Pid::from_raw(pid as i32).ok_or_else(|| io::Error::other("spawned child has pid 0"))?;
    let pidfd = pidfd_open(raw_pid, PidfdFlags::empty()).map_err(io::Error::from)?;
    Ok(SpawnedChild {
        pid,
        pidfd,
        stdout,
        stderr,
        started,
        started_at,
    })
}

fn set_nonblocking(fd: &OwnedFd) -> io::Result<()> {
    use rustix::fs::{fcntl_getfl, fcntl_setfl, OFlags};
    let flags = fcntl_getfl(fd)?;
    fcntl_setfl(fd, flags | OFlags::NONBLOCK)?;
    Ok(())
}

/// Send `signal` to every process in the group led by `pgid`. Errors (group already gone) are
/// ignored: the caller only needs the group to be dead or dying.
pub fn signal_group(pgid: u32, signal: i32) {
    if pgid == 0 || pgid > i32::MAX as u32 {
        return;
    }
    // SAFETY: plain kill(2) on a negative pid, i.e. the process group.
    unsafe {
        libc::kill(-(pgid as i32), signal);
    }
}

/// Find `program` the way execvp would, so a missing command is reported before any run starts.
pub fn resolve_program(
    program: &std::ffi::OsStr,
    cwd: Option<&std::path::Path>,
) -> io::Result<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let as_path = std::path::Path::new(program);
    let check = |candidate: &std::path::Path| -> Option<io::Result<PathBuf>> {
        let metadata = std::fs::metadata(candidate).ok()?;
        if metadata.is_dir() {
            return Some(Err(io::Error::other(format!(
                "'{}' is a directory, not a program",
                candidate.display()
            ))));
        }
        if metadata.permissions().mode() & 0o111 == 0 {
            return Some(Err(io::Error::new(
                io::ErrorKind::PermissionDenied,
                format!("'{}' is not executable (chmod +x it?)", candidate.display()),
            )));
        }
        Some(Ok(candidate.to_path_buf()))
    };
    if program.is_empty() {
        return Err(io::Error::other("the command is empty"));
    }
    if as_path.components().count() > 1 || as_path.is_absolute() {
        let full = match cwd {
            Some(dir) if as_path.is_relative() => dir.join(as_path),
            _ => as_path.to_path_buf(),
        };
        return check(&full).unwrap_or_else(|| {
            Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("command not found: '{}'", full.display()),
            ))
        });
    }
    let search = std::env::var_os("PATH").unwrap_or_else(|| "/usr/local/bin:/usr/bin:/bin".into());
    let mut last_error = None;
    for dir in std::env::split_paths(&search) {
        let dir = if dir.as_os_str().is_empty() {
            PathBuf::from(".")
        } else {
            dir
        };
        match check(&dir.join(as_path)) {
            Some(Ok(found)) => return Ok(found),
            Some(Err(error)) => last_error = Some(error),
            None => {}
        }
    }
    Err(last_error.unwrap_or_else(|| {
        io::Error::new(
            io::ErrorKind::NotFound,
            format!(
                "command not found: '{}' (not in PATH; give a path like ./{})",
                as_path.display(),
                as_path.display()
            ),
        )
    }))
}
