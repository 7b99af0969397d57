//! Spawning one run: its own process group, a parent-death signal, piped output, and a pidfd
//! so the event loop can wait for exit without reaping anything it does not own.
//!
//! Runs are started with `clone(CLONE_VM | CLONE_VFORK | CLONE_PIDFD)`, the way `posix_spawn`
//! starts processes, because a `fork` of flakehunt for every run costs more than the run itself
//! for short tests; unlike `posix_spawn` this lets the child set its parent-death signal. The
//! child only makes async-signal-safe system calls on a stack of its own before `execve`.

use std::ffi::{CString, OsString};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;
use std::time::{Instant, SystemTime};

use rustix::pipe::{pipe_with, PipeFlags};

use crate::os::sched::{self, CpuSet};

/// The parts of a command that are the same for every run of a campaign.
#[derive(Debug, Clone)]
pub struct CommandTemplate {
    /// Program to execute (resolved, absolute path).
    pub program: PathBuf,
    /// Arguments after the program.
    pub args: Vec<OsString>,
    /// Working directory (absolute).
    pub cwd: Option<PathBuf>,
    /// Extra environment variables.
    pub env: Vec<(OsString, OsString)>,
    /// Campaign id, exported as `FLAKEHUNT_CAMPAIGN`.
    pub campaign_id: String,
    /// Variables that runs set individually (removed from the shared environment).
    pub per_run_keys: Vec<OsString>,
}

/// Variables every run sets for itself.
const PER_RUN_KEYS: [&[u8]; 3] = [b"FLAKEHUNT_RUN", b"FLAKEHUNT_SEED", b"FLAKEHUNT_PAD"];

/// What differs from run to run.
#[derive(Debug, Clone, Default)]
pub struct RunSetup {
    /// Give the run a stdin pipe (scripts that write) instead of /dev/null.
    pub stdin_pipe: bool,
    /// Extra environment of this run (seed, padding, runtime knobs).
    pub env: Vec<(OsString, OsString)>,
    /// CPU placement and scheduling of this run.
    pub placement: crate::shake::RunPlacement,
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
    /// Write end of the stdin pipe (non-blocking), when the run reads from flakehunt.
    pub stdin: Option<OwnedFd>,
    /// Monotonic spawn time.
    pub started: Instant,
    /// Wall-clock spawn time.
    pub started_at: SystemTime,
}

/// Size of the stack the child runs on until `execve`.
const CHILD_STACK: usize = 256 * 1024;

/// Prepared, reusable state for spawning the runs of one campaign.
pub struct Spawner {
    program: CString,
    program_display: String,
    /// Keeps the strings that `argv` and `envp` point into alive.
    _strings: Vec<CString>,
    argv: Vec<*const libc::c_char>,
    /// Environment pointers shared by every run (no terminating null).
    envp: Vec<*const libc::c_char>,
    cwd: Option<CString>,
    dev_null: OwnedFd,
    stack: Vec<u128>,
}

impl std::fmt::Debug for Spawner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Spawner")
            .field("program", &self.program_display)
            .finish_non_exhaustive()
    }
}

/// Shared between parent and child (same memory under CLONE_VM).
#[repr(C)]
struct ChildContext {
    program: *const libc::c_char,
    argv: *const *const libc::c_char,
    envp: *const *const libc::c_char,
    cwd: *const libc::c_char,
    cpu_set: CpuSet,
    has_cpu_set: bool,
    nice: libc::c_int,
    has_nice: bool,
    /// `SCHED_*` policy, or -1 to keep flakehunt's.
    policy: libc::c_int,
    /// EEVDF slice hint in nanoseconds, or 0.
    slice_ns: u64,
    fds: [libc::c_int; 3],
    parent: libc::pid_t,
    /// Set by the child when a step before exec failed: (step, errno).
    failed_step: libc::c_int,
    error: libc::c_int,
}

const STEP_PGID: libc::c_int = 1;
const STEP_PDEATHSIG: libc::c_int = 2;
const STEP_ORPHANED: libc::c_int = 3;
const STEP_DUP: libc::c_int = 4;
const STEP_CHDIR: libc::c_int = 5;
const STEP_EXEC: libc::c_int = 6;
const STEP_AFFINITY: libc::c_int = 7;
const STEP_NICE: libc::c_int = 8;
const STEP_POLICY: libc::c_int = 9;

fn c_string(bytes: &[u8], what: &str) -> io::Result<CString> {
    CString::new(bytes).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{what} contains a NUL byte"),
        )
    })
}

impl Spawner {
    /// Prepare argv, environment and descriptors shared by every run.
    pub fn new(template: &CommandTemplate) -> io::Result<Spawner> {
        let program = c_string(template.program.as_os_str().as_bytes(), "the program path")?;
        let mut strings = Vec::new();
        strings.push(program.clone());
        for arg in &template.args {
            strings.push(c_string(arg.as_bytes(), "an argument")?);
        }
        let argc = strings.len();
        let overridden = |key: &[u8]| {
            PER_RUN_KEYS.contains(&key)
                || key == b"FLAKEHUNT_CAMPAIGN"
                || template.env.iter().any(|(k, _)| k.as_bytes() == key)
                || template.per_run_keys.iter().any(|k| k.as_bytes() == key)
        };
        let mut env_entries = Vec::new();
        for (key, value) in std::env::vars_os() {
            if !overridden(key.as_bytes()) {
                env_entries.push([key.as_bytes(), b"=", value.as_bytes()].concat());
            }
        }
        // A variable that runs set for themselves is left to them, even if `--env` set it
        // (each run gets `--env`'s value back unless its shake sets the variable).
        for (key, value) in &template.env {
            if !template.per_run_keys.contains(key) {
                env_entries.push([key.as_bytes(), b"=", value.as_bytes()].concat());
            }
        }
        env_entries.push(format!("FLAKEHUNT_CAMPAIGN={}", template.campaign_id).into_bytes());
        for entry in &env_entries {
            strings.push(c_string(entry, "an environment variable")?);
        }
        let mut argv: Vec<*const libc::c_char> =
            strings[..argc].iter().map(|s| s.as_ptr()).collect();
        argv.push(std::ptr::null());
        let envp: Vec<*const libc::c_char> = strings[argc..].iter().map(|s| s.as_ptr()).collect();
        let cwd = match &template.cwd {
            Some(dir) => Some(c_string(
                dir.as_os_str().as_bytes(),
                "the working directory",
            )?),
            None => None,
        };
        let dev_null = std::fs::File::open("/dev/null")?.into();
        Ok(Spawner {
            program,
            program_display: template.program.display().to_string(),
            _strings: strings,
            argv,
            envp,
            cwd,
            dev_null,
            stack: vec![0u128; CHILD_STACK / 16],
        })
    }

    /// Spawn run `index`.
    ///
    /// The child leads a new process group so that timeouts and cancellation can signal
    /// everything it started, and gets SIGKILL if flakehunt dies so that a killed campaign leaves
    /// no runs behind.
    pub fn spawn(&mut self, index: u64, setup: &RunSetup) -> io::Result<SpawnedChild> {
        let stdin = if setup.stdin_pipe {
            let (read, write) = pipe_with(PipeFlags::CLOEXEC)?;
            set_nonblocking(&write)?;
            Some((read, write))
        } else {
            None
        };
        let (stdout_read, stdout_write) = pipe_with(PipeFlags::CLOEXEC)?;
        let (stderr_read, stderr_write) = pipe_with(PipeFlags::CLOEXEC)?;
        set_nonblocking(&stdout_read)?;
        set_nonblocking(&stderr_read)?;
        let mut run_strings = vec![CString::new(format!("FLAKEHUNT_RUN={index}"))
            .map_err(|_| io::Error::other("run index is not a C string"))?];
        for (key, value) in &setup.env {
            run_strings.push(c_string(
                &[key.as_bytes(), b"=", value.as_bytes()].concat(),
                "an environment variable",
            )?);
        }
        let mut envp = self.envp.clone();
        envp.extend(run_strings.iter().map(|s| s.as_ptr()));
        envp.push(std::ptr::null());
        let placement = &setup.placement;
        let mut context = ChildContext {
            program: self.program.as_ptr(),
            argv: self.argv.as_ptr(),
            envp: envp.as_ptr(),
            cpu_set: placement
                .cpus
                .as_deref()
                .map_or_else(CpuSet::new, sched::cpu_set),
            has_cpu_set: placement.cpus.is_some(),
            nice: placement.nice.unwrap_or(0),
            has_nice: placement.nice.is_some(),
            policy: placement.policy.unwrap_or(-1),
            slice_ns: placement.slice_ns.unwrap_or(0),
            cwd: self.cwd.as_ref().map_or(std::ptr::null(), |c| c.as_ptr()),
            fds: [
                stdin
                    .as_ref()
                    .map_or(self.dev_null.as_raw_fd(), |(read, _)| read.as_raw_fd()),
                stdout_write.as_raw_fd(),
                stderr_write.as_raw_fd(),
            ],
            // SAFETY: getpid has no preconditions.
            parent: unsafe { libc::getpid() },
            failed_step: 0,
            error: 0,
        };
        let started = Instant::now();
        let started_at = SystemTime::now();
        let (pid, pidfd) = self.clone_child(&mut context)?;
        drop(envp);
        drop(run_strings);
        // SAFETY: the child has exec'd or exited (CLONE_VFORK), so nothing writes it any more.
        let (failed_step, error) = unsafe {
            (
                std::ptr::read_volatile(&context.failed_step),
                std::ptr::read_volatile(&context.error),
            )
        };
        if failed_step != 0 {
            // The child has exited with status 127; collect it so no zombie is left.
            // SAFETY: waitpid on our own child.
            unsafe {
                libc::waitpid(pid, std::ptr::null_mut(), 0);
            }
            return Err(self.describe_failure(failed_step, error));
        }
        Ok(SpawnedChild {
            pid: pid as u32,
            pidfd,
            stdout: stdout_read,
            stderr: stderr_read,
            stdin: stdin.map(|(_, write)| write),
            started,
            started_at,
        })
    }

    fn clone_child(&mut self, context: &mut ChildContext) -> io::Result<(libc::pid_t, OwnedFd)> {
        let stack_top = self.stack.as_mut_ptr_range().end.cast::<libc::c_void>();
        let mut pidfd: libc::c_int = -1;
        // SAFETY: signals are blocked around clone so that no handler of flakehunt's runs in the
        // child before it resets them; the child runs `child_main` on its own stack and only
        // calls async-signal-safe functions; CLONE_VFORK suspends us until it exec'd or exited,
        // so `context` and the stack outlive its use of them.
        let (pid, clone_error) = unsafe {
            let mut all: libc::sigset_t = std::mem::zeroed();
            let mut previous: libc::sigset_t = std::mem::zeroed();
            libc::sigfillset(&mut all);
            libc::pthread_sigmask(libc::SIG_SETMASK, &all, &mut previous);
            let pid = libc::clone(
                child_main,
                stack_top,
                libc::CLONE_VM | libc::CLONE_VFORK | libc::CLONE_PIDFD | libc::SIGCHLD,
                (context as *mut ChildContext).cast::<libc::c_void>(),
                &mut pidfd as *mut libc::c_int,
            );
            let clone_error = io::Error::last_os_error();
            libc::pthread_sigmask(libc::SIG_SETMASK, &previous, std::ptr::null_mut());
            (pid, clone_error)
        };
        if pid < 0 {
            return Err(clone_error);
        }
        if pidfd < 0 {
            return Err(io::Error::other(
                "the kernel returned no pidfd (Linux 5.3 or later is required)",
            ));
        }
        // SAFETY: the kernel just created this descriptor for us.
        let pidfd = unsafe { OwnedFd::from_raw_fd(pidfd) };
        Ok((pid, pidfd))
    }

    fn describe_failure(&self, step: libc::c_int, errno: libc::c_int) -> io::Error {
        let cause = io::Error::from_raw_os_error(errno);
        let what = match step {
            STEP_PGID => "could not create a process group".to_string(),
            STEP_PDEATHSIG => "could not set the parent-death signal".to_string(),
            STEP_ORPHANED => return io::Error::other("flakehunt exited while starting the run"),
            STEP_DUP => "could not connect the output pipes".to_string(),
            STEP_CHDIR => "could not enter the working directory".to_string(),
            STEP_AFFINITY => "could not pin the run to its CPUs (--shake pin)".to_string(),
            STEP_NICE => "could not set the run's nice value (--shake nice)".to_string(),
            STEP_POLICY => "could not set the run's scheduling policy (--shake sched)".to_string(),
            _ => format!("could not execute {}", self.program_display),
        };
        io::Error::new(cause.kind(), format!("{what}: {cause}"))
    }
}

/// Runs in the child, sharing flakehunt's memory, until `execve` replaces it.
extern "C" fn child_main(argument: *mut libc::c_void) -> libc::c_int {
    // SAFETY: `argument` is the ChildContext the parent keeps alive while suspended; only
    // async-signal-safe calls follow.
    unsafe {
        let context = &mut *argument.cast::<ChildContext>();
        let fail_with = |context: &mut ChildContext, step: libc::c_int, errno: libc::c_int| -> ! {
            std::ptr::write_volatile(&mut context.error, errno);
            std::ptr::write_volatile(&mut context.failed_step, step);
            libc::_exit(127)
        };
        // For the libc calls, which leave their error in errno.
        let fail = |context: &mut ChildContext, step: libc::c_int| -> ! {
            fail_with(context, step, *libc::__errno_location())
        };
        // Handlers are flakehunt's: reset them (the handler table is private without
        // CLONE_SIGHAND). SIGPIPE is ignored by the Rust runtime; tests expect the default.
        let mut action: libc::sigaction = std::mem::zeroed();
        let mut default: libc::sigaction = std::mem::zeroed();
        default.sa_sigaction = libc::SIG_DFL;
        for signal in 1..=libc::SIGRTMAX() {
            if signal == libc::SIGKILL || signal == libc::SIGSTOP {
                continue;
            }
            if libc::sigaction(signal, std::ptr::null(), &mut action) == 0
                && (action.sa_sigaction != libc::SIG_IGN || signal == libc::SIGPIPE)
                && action.sa_sigaction != libc::SIG_DFL
            {
                libc::sigaction(signal, &default, std::ptr::null_mut());
            }
        }
        if libc::setpgid(0, 0) != 0 {
            fail(context, STEP_PGID);
        }
        if libc::prctl(
            libc::PR_SET_PDEATHSIG,
            libc::SIGKILL as libc::c_ulong,
            0,
            0,
            0,
        ) != 0
        {
            fail(context, STEP_PDEATHSIG);
        }
        if libc::getppid() != context.parent {
            fail(context, STEP_ORPHANED);
        }
        // The os::sched setters are single system calls that return their errno.
        if context.has_cpu_set {
            if let Err(errno) = sched::set_affinity(&context.cpu_set) {
                fail_with(context, STEP_AFFINITY, errno.raw_os_error());
            }
        }
        if context.has_nice {
            if let Err(errno) = sched::set_nice(context.nice) {
                fail_with(context, STEP_NICE, errno.raw_os_error());
            }
        }
        if context.policy >= 0 {
            if let Err(errno) = sched::set_policy(context.policy) {
                fail_with(context, STEP_POLICY, errno.raw_os_error());
            }
        }
        if context.slice_ns > 0 {
            // Checked by the shake's preflight; a refusal here only loses the hint.
            let _ = sched::set_slice(context.slice_ns);
        }
        for (target, fd) in context.fds.iter().enumerate() {
            let target = target as libc::c_int;
            let ok = if *fd == target {
                libc::fcntl(target, libc::F_SETFD, 0) == 0
            } else {
                libc::dup2(*fd, target) == target
            };
            if !ok {
                fail(context, STEP_DUP);
            }
        }
        if !context.cwd.is_null() && libc::chdir(context.cwd) != 0 {
            fail(context, STEP_CHDIR);
        }
        let mut empty: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut empty);
        libc::sigprocmask(libc::SIG_SETMASK, &empty, std::ptr::null_mut());
        libc::execve(context.program, context.argv, context.envp);
        fail(context, STEP_EXEC)
    }
}

fn set_nonblocking(fd: &OwnedFd) -> io::Result<()> {
    use rustix::fs::{fcntl_getfl, fcntl_setfl, OFlags};
    let flags = fcntl_getfl(fd)?;
    fcntl_setfl(fd, flags | OFlags::NONBLOCK)?;
    Ok(())
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
