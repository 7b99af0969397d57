//! Spawning one run: its own process group without a controlling terminal, a parent-death
//! signal, piped output, and a pidfd so the event loop can wait for exit without reaping
//! anything it does not own. Also the setup checks that the command can be executed.
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
    /// Runs keep flakehunt's controlling terminal (`--tty`).
    pub share_terminal: bool,
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
    /// Soft core size limit to give the run (crash backtraces), within its hard limit.
    pub core_limit: Option<u64>,
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
    /// Detach each run from flakehunt's controlling terminal.
    detach_terminal: bool,
    /// The open-file limit to give runs back, when flakehunt raised its own.
    nofile: Option<libc::rlimit>,
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
    /// Soft core size limit of the run, set only when `has_core_limit`.
    core_limit: u64,
    has_core_limit: bool,
    fds: [libc::c_int; 3],
    parent: libc::pid_t,
    /// Give up the controlling terminal (TIOCNOTTY) before exec.
    detach_terminal: bool,
    nofile: libc::rlimit,
    restore_nofile: bool,
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
const STEP_TERMINAL: libc::c_int = 10;
const STEP_RLIMIT: libc::c_int = 11;

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
        if !template.share_terminal {
            crate::os::fd::keep_terminals_from_children();
        }
        Ok(Spawner {
            program,
            program_display: template.program.display().to_string(),
            _strings: strings,
            argv,
            envp,
            cwd,
            dev_null,
            stack: vec![0u128; CHILD_STACK / 16],
            detach_terminal: !template.share_terminal,
            nofile: crate::os::fd::inherited_open_file_limit(),
        })
    }

    /// Spawn run `index`.
    ///
    /// The child leads a new process group so that timeouts and cancellation can signal
    /// everything it started, has no controlling terminal (unless it is shared) so that nothing
    /// it starts can open flakehunt's, and gets SIGKILL if flakehunt dies so that a killed
    /// campaign leaves no runs behind.
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
            core_limit: setup.core_limit.unwrap_or(0),
            has_core_limit: setup.core_limit.is_some(),
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
            detach_terminal: self.detach_terminal,
            nofile: self.nofile.unwrap_or(libc::rlimit {
                rlim_cur: 0,
                rlim_max: 0,
            }),
            restore_nofile: self.nofile.is_some(),
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
            STEP_TERMINAL => "could not detach from the terminal".to_string(),
            STEP_RLIMIT => "could not restore the open-file limit".to_string(),
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
        // Without a controlling terminal, opening /dev/tty fails (ENXIO) in the run and all it
        // starts, so nothing can retitle, clear or read the user's terminal. TIOCNOTTY detaches
        // only this process (it leads no session). setsid would detach it too, but a session
        // of its own is also a scheduler autogroup of its own, in which nice values and the
        // load generators of --shake lose their effect (sched(7)), and it slows every spawn.
        if context.detach_terminal {
            let tty = libc::open(
                c"/dev/tty".as_ptr(),
                libc::O_RDWR | libc::O_NOCTTY | libc::O_NONBLOCK | libc::O_CLOEXEC,
            );
            // Failing to open it means there is no terminal (ENXIO) or a dead one (EIO).
            if tty >= 0 {
                let detached = libc::ioctl(tty, libc::TIOCNOTTY) == 0;
                let errno = *libc::__errno_location();
                libc::close(tty);
                if !detached {
                    fail_with(context, STEP_TERMINAL, errno);
                }
            }
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
        if context.has_core_limit {
            // A refusal only costs the crash backtrace.
            let mut limit: libc::rlimit = std::mem::zeroed();
            if libc::getrlimit(libc::RLIMIT_CORE, &mut limit) == 0 {
                limit.rlim_cur = context.core_limit.min(limit.rlim_max);
                libc::setrlimit(libc::RLIMIT_CORE, &limit);
            }
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
        if context.restore_nofile && libc::setrlimit(libc::RLIMIT_NOFILE, &context.nofile) != 0 {
            fail(context, STEP_RLIMIT);
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

/// The most `#!` interpreters the kernel follows from one script to the next (BINPRM_MAX_RECURSION).
const MAX_INTERPRETER_DEPTH: usize = 4;
/// Bytes of a file's start the kernel reads for a `#!` line (BINPRM_BUF_SIZE).
const SHEBANG_BYTES: usize = 256;

/// Check what the kernel needs besides `program` itself to execute it, so that a missing piece is
/// a setup error rather than every run failing to start: the interpreter of a `#!` script (and,
/// for `#!/usr/bin/env NAME`, NAME on the run's `search_path`), and the dynamic loader of an ELF
/// program. `cwd` is the run's working directory, against which relative names resolve. What
/// cannot be read is left to the kernel.
pub fn check_loadable(
    program: &std::path::Path,
    cwd: Option<&std::path::Path>,
    search_path: Option<&std::ffi::OsStr>,
) -> io::Result<()> {
    check_mount_allows_exec(program, program)?;
    let mut image = program.to_path_buf();
    for _ in 0..=MAX_INTERPRETER_DEPTH {
        let Some(head) = read_head(&image) else {
            return Ok(());
        };
        if head.starts_with(b"\x7fELF") {
            return check_elf_loader(program, &image);
        }
        let Some(line) = head.strip_prefix(b"#!") else {
            return check_other_format(program, &image, &head);
        };
        let (interpreter, argument) = parse_shebang(program, &image, line)?;
        let interpreter = match cwd {
            Some(dir) if interpreter.is_relative() => dir.join(&interpreter),
            _ => interpreter,
        };
        check_interpreter(program, &image, &interpreter)?;
        if interpreter.file_name().is_some_and(|name| name == "env") {
            check_env_command(program, argument.as_deref(), cwd, search_path)?;
        }
        image = interpreter;
    }
    Err(io::Error::other(format!(
        "cannot run {}: more than {MAX_INTERPRETER_DEPTH} levels of #! interpreters (the kernel \
         refuses; does a #! line name a script that names it back?)",
        program.display()
    )))
}

/// A file that is neither ELF nor `#!` script: text (no NUL byte in its first bytes) or nothing
/// at all is a script without a `#!` line, which a shell would run but the kernel refuses
/// (ENOEXEC), unless a binfmt_misc handler is registered for its extension.
fn check_other_format(
    program: &std::path::Path,
    image: &std::path::Path,
    head: &[u8],
) -> io::Result<()> {
    if head.contains(&0) || extension_has_handler(image) {
        return Ok(());
    }
    let what = if head.is_empty() {
        "is empty"
    } else {
        "has no #! line"
    };
    let subject = if program == image {
        "it".to_string()
    } else {
        format!("its interpreter {}", image.display())
    };
    Err(io::Error::other(format!(
        "cannot run {}: {subject} {what}, so the kernel cannot execute it (a shell would run \
         it with sh); add a first line such as #!/bin/sh, or give the command as: sh {}",
        program.display(),
        image.display()
    )))
}

/// Whether an enabled binfmt_misc handler matches the file's extension.
fn extension_has_handler(path: &std::path::Path) -> bool {
    let Some(extension) = path.extension().and_then(|e| e.to_str()) else {
        return false;
    };
    let Ok(entries) = std::fs::read_dir("/proc/sys/fs/binfmt_misc") else {
        return false;
    };
    entries.flatten().any(|entry| {
        let rule = std::fs::read_to_string(entry.path()).unwrap_or_default();
        rule.lines().next() == Some("enabled")
            && rule
                .lines()
                .any(|line| line.strip_prefix("extension .") == Some(extension))
    })
}

/// The first bytes of `path` (None: unreadable, e.g. execute-only; the kernel may still run it).
fn read_head(path: &std::path::Path) -> Option<Vec<u8>> {
    use std::io::Read;
    let file = std::fs::File::open(path).ok()?;
    let mut head = Vec::with_capacity(SHEBANG_BYTES);
    file.take(SHEBANG_BYTES as u64)
        .read_to_end(&mut head)
        .ok()?;
    Some(head)
}

/// The interpreter and optional argument of a `#!` line, split as the kernel does: blanks
/// around the interpreter's name, the rest (trimmed) one argument.
fn parse_shebang(
    program: &std::path::Path,
    image: &std::path::Path,
    line: &[u8],
) -> io::Result<(PathBuf, Option<String>)> {
    let blank = |b: &u8| *b == b' ' || *b == b'\t';
    let end = line.iter().position(|b| *b == b'\n');
    let line = &line[..end.unwrap_or(line.len())];
    let start = line.iter().position(|b| !blank(b)).unwrap_or(line.len());
    let line = &line[start..];
    let name_end = line.iter().position(blank).unwrap_or(line.len());
    let (name, rest) = line.split_at(name_end);
    if name.is_empty() {
        return Err(io::Error::other(format!(
            "cannot run {}: {} has an empty #! line",
            program.display(),
            via(program, image)
        )));
    }
    if end.is_none() && name_end == line.len() {
        return Err(io::Error::other(format!(
            "cannot run {}: the #! line of {} is longer than the {SHEBANG_BYTES} bytes the \
             kernel reads",
            program.display(),
            via(program, image)
        )));
    }
    let rest = String::from_utf8_lossy(rest);
    let argument = rest.trim_matches([' ', '\t']);
    let argument = (!argument.is_empty()).then(|| argument.to_string());
    Ok((PathBuf::from(std::ffi::OsStr::from_bytes(name)), argument))
}

/// "it" for the program itself, else the interpreter script in between.
fn via(program: &std::path::Path, image: &std::path::Path) -> String {
    if program == image {
        "it".to_string()
    } else {
        format!("its interpreter {}", image.display())
    }
}

/// The interpreter named by a `#!` line must exist and be executable.
fn check_interpreter(
    program: &std::path::Path,
    image: &std::path::Path,
    interpreter: &std::path::Path,
) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let shown = crate::text::escape_line(interpreter.as_os_str().as_bytes(), 200);
    let whose = if program == image {
        format!("{} starts with #!{shown}", program.display())
    } else {
        format!("its interpreter {} starts with #!{shown}", image.display())
    };
    let refuse = |kind: io::ErrorKind, what: &str| {
        Err(io::Error::new(
            kind,
            format!("cannot run {}: {whose}, but {what}", program.display()),
        ))
    };
    let advice = if interpreter.as_os_str().as_bytes().ends_with(b"\r") {
        "the script has Windows line endings (convert it with dos2unix)"
    } else {
        "install it or fix the #! line"
    };
    match std::fs::metadata(interpreter) {
        Err(error) if error.kind() == io::ErrorKind::NotFound => refuse(
            io::ErrorKind::NotFound,
            &format!("the interpreter {shown} does not exist: {advice}"),
        ),
        Err(error) => refuse(
            error.kind(),
            &format!("the interpreter {shown} cannot be used: {error}"),
        ),
        Ok(metadata) if metadata.is_dir() => refuse(
            io::ErrorKind::Other,
            &format!("the interpreter {shown} is a directory"),
        ),
        Ok(metadata) if metadata.permissions().mode() & 0o111 == 0 => refuse(
            io::ErrorKind::PermissionDenied,
            &format!("the interpreter {shown} is not executable"),
        ),
        Ok(_) => check_mount_allows_exec(program, interpreter),
    }
}

/// A file on a filesystem mounted `noexec` cannot be executed, whatever its mode says.
fn check_mount_allows_exec(program: &std::path::Path, file: &std::path::Path) -> io::Result<()> {
    use rustix::fs::{statvfs, StatVfsMountFlags};
    match statvfs(file) {
        Ok(info) if info.f_flag.contains(StatVfsMountFlags::NOEXEC) => {
            let what = if program == file {
                "it".to_string()
            } else {
                format!("its interpreter {}", file.display())
            };
            Err(io::Error::new(
                io::ErrorKind::PermissionDenied,
                format!(
                    "cannot run {}: {what} is on a filesystem mounted noexec (copy it elsewhere or \
                     run it through its interpreter)",
                    program.display()
                ),
            ))
        }
        _ => Ok(()),
    }
}

/// `#!/usr/bin/env NAME` (or `env -S NAME ARGS`): NAME must be found on the run's PATH. Other
/// uses of env (options, assignments) are left to it.
fn check_env_command(
    program: &std::path::Path,
    argument: Option<&str>,
    cwd: Option<&std::path::Path>,
    search_path: Option<&std::ffi::OsStr>,
) -> io::Result<()> {
    let Some(argument) = argument else {
        return Ok(());
    };
    let split = argument.strip_prefix("-S").map(str::trim_start);
    let name = match split {
        Some(words) => words.split([' ', '\t']).next().unwrap_or(""),
        None if argument.contains([' ', '\t']) => {
            let first = argument.split([' ', '\t']).next().unwrap_or("");
            if first.starts_with('-') || first.contains('=') {
                return Ok(());
            }
            return Err(io::Error::other(format!(
                "cannot run {}: its #! line passes '{argument}' to env as one program name (the \
                 kernel does not split it); write #!/usr/bin/env -S {argument}",
                program.display()
            )));
        }
        None => argument,
    };
    if name.is_empty() || name.starts_with('-') || name.contains('=') {
        return Ok(());
    }
    let default_path = std::ffi::OsString::from("/bin:/usr/bin");
    let search = search_path.unwrap_or(&default_path);
    if name.contains('/') {
        let path = match cwd {
            Some(dir) => dir.join(name),
            None => PathBuf::from(name),
        };
        if is_executable_file(&path) {
            return Ok(());
        }
        return Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!(
                "cannot run {}: its #! line runs env {name}, which is not an executable file",
                program.display()
            ),
        ));
    }
    let base = cwd.map(std::path::Path::to_path_buf).unwrap_or_default();
    for dir in std::env::split_paths(search) {
        let dir = if dir.as_os_str().is_empty() {
            base.clone()
        } else {
            base.join(dir)
        };
        if is_executable_file(&dir.join(name)) {
            return Ok(());
        }
    }
    Err(io::Error::new(
        io::ErrorKind::NotFound,
        format!(
            "cannot run {}: its #! line runs env {name}, but no {name} is on the run's PATH ({}); \
             install it, or set PATH with --env",
            program.display(),
            search.to_string_lossy()
        ),
    ))
}

/// Whether `candidate` is an executable file (not a directory).
fn is_executable_file(candidate: &std::path::Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(candidate)
        .is_ok_and(|metadata| !metadata.is_dir() && metadata.permissions().mode() & 0o111 != 0)
}

/// The dynamic loader an ELF program names (PT_INTERP) must exist: a program built for another
/// C library or distribution otherwise fails with a baffling "No such file or directory".
fn check_elf_loader(program: &std::path::Path, image: &std::path::Path) -> io::Result<()> {
    if !runs_natively(image) {
        return Ok(());
    }
    let Some(loader) = elf_interpreter(image) else {
        return Ok(());
    };
    if !loader.is_absolute() || loader.exists() {
        return Ok(());
    }
    let whose = if program == image {
        "it".to_string()
    } else {
        format!("its interpreter {}", image.display())
    };
    Err(io::Error::new(
        io::ErrorKind::NotFound,
        format!(
            "cannot run {}: {whose} needs the dynamic loader {}, which is not installed here (built \
             for another system or C library, e.g. musl or glibc?)",
            program.display(),
            loader.display()
        ),
    ))
}

/// Whether an ELF file is for this machine (flakehunt's own, or i386 beside x86-64). A program
/// for another one runs through an emulator (binfmt_misc), which finds its loader elsewhere.
fn runs_natively(image: &std::path::Path) -> bool {
    const EM_386: u16 = 3;
    const EM_X86_64: u16 = 62;
    let machine = |path: &std::path::Path| -> Option<u16> {
        use std::os::unix::fs::FileExt;
        let mut header = [0u8; 20];
        std::fs::File::open(path)
            .ok()?
            .read_exact_at(&mut header, 0)
            .ok()?;
        let bytes = [header[0x12], header[0x13]];
        match header[5] {
            1 => Some(u16::from_le_bytes(bytes)),
            2 => Some(u16::from_be_bytes(bytes)),
            _ => None,
        }
    };
    match (
        machine(image),
        machine(std::path::Path::new("/proc/self/exe")),
    ) {
        (Some(theirs), Some(ours)) => theirs == ours || (ours == EM_X86_64 && theirs == EM_386),
        _ => false,
    }
}

/// The PT_INTERP path of an ELF file, if it has one and it can be read.
fn elf_interpreter(path: &std::path::Path) -> Option<PathBuf> {
    use std::os::unix::fs::FileExt;
    const PT_INTERP: u32 = 3;
    let file = std::fs::File::open(path).ok()?;
    let mut header = [0u8; 64];
    file.read_exact_at(&mut header, 0).ok()?;
    let wide = match header[4] {
        1 => false,
        2 => true,
        _ => return None,
    };
    let little = match header[5] {
        1 => true,
        2 => false,
        _ => return None,
    };
    let uint = |bytes: &[u8]| -> u64 {
        let mut value = 0u64;
        for (i, byte) in bytes.iter().enumerate() {
            let shift = if little { i } else { bytes.len() - 1 - i };
            value |= u64::from(*byte) << (8 * shift);
        }
        value
    };
    let (phoff, entsize, count) = if wide {
        (
            uint(&header[0x20..0x28]),
            uint(&header[0x36..0x38]),
            uint(&header[0x38..0x3a]),
        )
    } else {
        (
            uint(&header[0x1c..0x20]),
            uint(&header[0x2a..0x2c]),
            uint(&header[0x2c..0x2e]),
        )
    };
    let min_entry = if wide { 0x38 } else { 0x20 };
    if entsize < min_entry || count == 0 || count * entsize > 64 * 1024 {
        return None;
    }
    let mut table = vec![0u8; (count * entsize) as usize];
    file.read_exact_at(&mut table, phoff).ok()?;
    let entry = table
        .chunks_exact(entsize as usize)
        .find(|entry| uint(&entry[0..4]) == u64::from(PT_INTERP))?;
    let (offset, size) = if wide {
        (uint(&entry[0x08..0x10]), uint(&entry[0x20..0x28]))
    } else {
        (uint(&entry[0x04..0x08]), uint(&entry[0x10..0x14]))
    };
    if size == 0 || size > 4096 {
        return None;
    }
    let mut name = vec![0u8; size as usize];
    file.read_exact_at(&mut name, offset).ok()?;
    let name = name.split(|b| *b == 0).next()?;
    Some(PathBuf::from(std::ffi::OsStr::from_bytes(name)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn shebang(line: &[u8]) -> io::Result<(PathBuf, Option<String>)> {
        parse_shebang(Path::new("p"), Path::new("p"), line)
    }

    #[test]
    fn shebang_lines_split_as_the_kernel_splits_them() {
        let (interpreter, argument) = shebang(b" /bin/sh\n").expect("ok");
        assert_eq!(
            (interpreter.as_path(), argument),
            (Path::new("/bin/sh"), None)
        );
        let (interpreter, argument) = shebang(b"/usr/bin/env \tpython3 -u  \nrest").expect("ok");
        assert_eq!(interpreter, Path::new("/usr/bin/env"));
        assert_eq!(argument.as_deref(), Some("python3 -u"));
        let (interpreter, _) = shebang(b"/bin/sh\r\n").expect("ok");
        assert_eq!(interpreter, Path::new("/bin/sh\r"));
        assert!(shebang(b"   \n").is_err());
        let long = [b"/".as_slice(), &[b'x'; 300]].concat();
        assert!(shebang(&long[..254]).is_err(), "cut off inside the name");
    }

    #[test]
    fn this_test_binary_and_its_loader_are_found() {
        let exe = std::env::current_exe().expect("exe");
        assert!(runs_natively(&exe));
        if let Some(loader) = elf_interpreter(&exe) {
            assert!(
                loader.is_absolute() && loader.exists(),
                "{}",
                loader.display()
            );
        }
        check_loadable(&exe, None, None).expect("loadable");
    }
}
