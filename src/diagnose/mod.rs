//! Stacks of hung runs and backtraces of crashed ones. At a run's time limit, before the
//! timeout signal, every thread of every process in its group is read (CPython through its
//! `faulthandler`, Go through its own SIGQUIT dump, native code through `eu-stack` or `gdb`); a
//! run whose process dumped core gets the core read and removed. Readings run on threads of
//! their own so the runner's event loop never waits for a debugger.

pub mod core;
pub mod elf;
pub mod parse;
pub mod python;
pub mod tools;

use std::ffi::{OsStr, OsString};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::Arc;
use std::time::{Duration, Instant};

use self::core::{CorePlan, FoundCore, KernelCoreSettings};
use crate::os::signal::signal_name;
use crate::record::stacks::{ProcessStacks, Runtime, Stacks, StacksKind};
use crate::record::OutputStore;
use python::PythonHook;
use tools::{read_stacks, Target, Tools};

/// Processes of one group read at a time limit; the rest are named in a note.
const MAX_PROCESSES: usize = 16;
/// Time for reading one run's stacks, after which the remaining processes are skipped.
const CAPTURE_BUDGET: Duration = Duration::from_secs(30);
/// How long a Python process gets to write its dump: a loaded machine may not run it for
/// seconds, and a dump that stops growing ends the wait early.
const PYTHON_DUMP_WAIT: Duration = Duration::from_secs(10);
/// Largest stacks report saved per run.
const MAX_REPORT_BYTES: usize = 1 << 20;
/// Bytes at the end of a run's output searched for a Go goroutine dump.
const GO_DUMP_SEARCH: u64 = 512 << 10;
/// Offset of the signal a Python process dumps its threads on, above SIGRTMIN: a real-time
/// signal that programs hardly use, sent only to processes whose mask shows they catch it.
const PYTHON_SIGNAL_OFFSET: i32 = 11;

/// A finished reading: the run's index and its stacks.
pub type Finished = (u64, Stacks);

/// Reads stacks for the runs of one campaign.
#[derive(Debug)]
pub struct Diagnoser {
    tools: Arc<Tools>,
    cores: CorePlan,
    python: Option<PythonHook>,
    work: PathBuf,
    timeout_signal: i32,
    /// The core limit the user had, restored in a timed-out run before its timeout signal so
    /// that the signal dumps no core.
    user_core_limit: u64,
    sender: Sender<Finished>,
    receiver: Receiver<Finished>,
    wake_read: OwnedFd,
    wake_write: Arc<OwnedFd>,
    warned_tools: bool,
    warned_cores: bool,
}

impl Diagnoser {
    /// Get ready for a campaign whose runs start in `cwd` and end on `timeout_signal`;
    /// `work` is a scratch directory of the campaign. Never fails: what cannot work is
    /// warned about once, when a run first needs it.
    pub fn start(work: &Path, cwd: &Path, timeout_signal: i32) -> std::io::Result<Diagnoser> {
        std::fs::create_dir_all(work)?;
        let (wake_read, wake_write) = rustix::pipe::pipe_with(
            rustix::pipe::PipeFlags::CLOEXEC | rustix::pipe::PipeFlags::NONBLOCK,
        )?;
        let limits = self::core::own_core_limits();
        let cores = self::core::plan(KernelCoreSettings::read().as_ref(), cwd, limits);
        let python = PythonHook::write(
            &work.join("python"),
            libc::SIGRTMIN() + PYTHON_SIGNAL_OFFSET,
        )
        .ok();
        let (sender, receiver) = channel();
        Ok(Diagnoser {
            tools: Arc::new(Tools::find()),
            cores,
            python,
            work: work.to_path_buf(),
            timeout_signal,
            user_core_limit: limits.0,
            sender,
            receiver,
            wake_read,
            wake_write: Arc::new(wake_write),
            warned_tools: false,
            warned_cores: false,
        })
    }

    /// Readable when a reading finished.
    pub fn wake_fd(&self) -> BorrowedFd<'_> {
        self.wake_read.as_fd()
    }

    /// Readings that finished since the last call.
    pub fn drain(&mut self) -> Vec<Finished> {
        let mut buffer = [0u8; 64];
        while matches!(rustix::io::read(&self.wake_read, &mut buffer), Ok(n) if n > 0) {}
        self.receiver.try_iter().collect()
    }

    /// The core size limit a run gets, when flakehunt raises it for crash backtraces.
    pub fn core_limit(&self) -> Option<u64> {
        match &self.cores {
            CorePlan::Files(files) => files.raise_to,
            CorePlan::Off(_) => None,
        }
    }

    /// `PYTHONPATH` of a run, given the one it would have had.
    pub fn python_path(&self, before: Option<&OsStr>) -> Option<OsString> {
        self.python.as_ref().map(|hook| hook.python_path(before))
    }

    /// Warnings due before reading a hung run's stacks (each said once per campaign).
    pub fn hang_warning(&mut self) -> Option<String> {
        if self.tools.none() && !self.warned_tools {
            self.warned_tools = true;
            return Some(
                "neither eu-stack nor gdb is on PATH: hung native runs get no stacks and crashed \
                 runs no backtrace (install elfutils or gdb)"
                    .into(),
            );
        }
        None
    }

    /// Warning due for a run that died of `signal` when no backtrace can be read (once).
    pub fn crash_warning(&mut self, signal: i32) -> Option<String> {
        if !is_crash_signal(signal) || self.warned_cores {
            return None;
        }
        let reason = match &self.cores {
            CorePlan::Off(reason) => reason.clone(),
            CorePlan::Files(_) if self.tools.none() && !self.warned_tools => {
                self.warned_tools = true;
                "neither eu-stack nor gdb is on PATH (install elfutils or gdb)".into()
            }
            CorePlan::Files(_) => return None,
        };
        self.warned_cores = true;
        Some(format!("crashed runs get no backtrace: {reason}"))
    }

    /// Start reading the stacks of run `index`, whose process group is `pgid`.
    pub fn begin_hang(&mut self, index: u64, pgid: u32) {
        let tools = Arc::clone(&self.tools);
        let python = self.python.clone();
        let scratch = self.work.join(format!("run-{index}"));
        let signal = self.timeout_signal;
        let restore = self.user_core_limit;
        self.spawn(index, move || {
            capture_hang(
                index,
                pgid,
                &tools,
                python.as_ref(),
                signal,
                restore,
                &scratch,
            )
        });
    }

    /// Move the cores that processes of run `index` (group `pgid`) dumped out of the kernel's
    /// directory. Empty when cores are off.
    pub fn collect_cores(&self, index: u64, pgid: u32) -> Vec<FoundCore> {
        match &self.cores {
            CorePlan::Files(files) => files.collect(pgid, &self.work.join(format!("run-{index}"))),
            CorePlan::Off(_) => Vec::new(),
        }
    }

    /// Start reading the backtraces of run `index`'s cores (then removed, or kept for the user
    /// when their own core limit asked for cores).
    pub fn begin_crash(&mut self, index: u64, cores: Vec<FoundCore>) {
        let tools = Arc::clone(&self.tools);
        let keep = matches!(&self.cores, CorePlan::Files(files) if files.keep);
        let scratch = self.work.join(format!("run-{index}"));
        self.spawn(index, move || read_cores(&tools, cores, keep, &scratch));
    }

    /// Stacks of a run whose process dumped core where flakehunt could not find it.
    pub fn lost_core(&self) -> Stacks {
        let why = match &self.cores {
            CorePlan::Files(files) if files.fixed.is_some() => format!(
                "its core was not found in {}: another run's crash at the same moment \
                 overwrites it, since kernel.core_pattern gives every core the same name",
                files.dir.display()
            ),
            CorePlan::Files(files) => format!(
                "its core was not found in {} (did the process change directory?)",
                files.dir.display()
            ),
            CorePlan::Off(reason) => reason.clone(),
        };
        finish(
            StacksKind::Crash,
            Vec::new(),
            Report::new("# backtrace of the crashed process\n".into()),
            vec![why],
            None,
        )
    }

    /// Remove cores found for a run that needs no backtrace (it timed out, or was cancelled).
    pub fn discard(cores: Vec<FoundCore>) {
        for core in cores {
            let _ = std::fs::remove_file(core.path);
        }
    }

    /// Forget run `index`'s scratch files.
    pub fn run_ended(&self, index: u64) {
        let _ = std::fs::remove_dir_all(self.work.join(format!("run-{index}")));
        if let Some(hook) = &self.python {
            let _ = std::fs::remove_dir_all(hook.run_dir(index));
        }
    }

    fn spawn(&mut self, index: u64, job: impl FnOnce() -> Stacks + Send + 'static) {
        let sender = self.sender.clone();
        let wake = Arc::clone(&self.wake_write);
        let started = std::thread::Builder::new()
            .name(format!("stacks-{index}"))
            .spawn(move || {
                let stacks = job();
                let _ = sender.send((index, stacks));
                let _ = rustix::io::write(&*wake, &[1]);
            });
        if let Err(error) = started {
            let _ = self.sender.send((
                index,
                Stacks {
                    kind: StacksKind::Hang,
                    processes: Vec::new(),
                    text: String::new(),
                    notes: vec![format!("could not start reading stacks: {error}")],
                    core: None,
                },
            ));
            let _ = rustix::io::write(&*self.wake_write, &[1]);
        }
    }
}

impl Drop for Diagnoser {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.work);
    }
}

/// Signals whose default action dumps core and that mean the program crashed.
pub fn is_crash_signal(signal: i32) -> bool {
    matches!(
        signal,
        libc::SIGSEGV
            | libc::SIGABRT
            | libc::SIGBUS
            | libc::SIGILL
            | libc::SIGFPE
            | libc::SIGSYS
            | libc::SIGTRAP
    )
}

/// Processes whose process group is `pgid` (zombies left out), the leader first.
pub fn group_members(pgid: u32) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut pids: Vec<u32> = entries
        .filter_map(Result::ok)
        .filter_map(|entry| entry.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .ok()
                .and_then(|stat| stat_fields(&stat))
                .is_some_and(|(state, pgrp)| pgrp == pgid && state != 'Z' && state != 'X')
        })
        .collect();
    pids.sort_by_key(|pid| (*pid != pgid, *pid));
    pids
}

/// (state, process group) from the text of /proc/PID/stat; the command name may hold spaces
/// and parentheses, so fields are counted after its last `)`.
fn stat_fields(stat: &str) -> Option<(char, u32)> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace();
    let state = fields.next()?.chars().next()?;
    let _ppid = fields.next()?;
    let pgrp = fields.next()?.parse().ok()?;
    Some((state, pgrp))
}

fn command_name(pid: u32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .map(|name| name.trim_end().to_string())
        .unwrap_or_else(|_| "?".into())
}

/// The report being written: sections appended until the size bound.
struct Report {
    text: String,
    cut: bool,
}

impl Report {
    fn new(header: String) -> Report {
        Report {
            text: header,
            cut: false,
        }
    }

    fn section(&mut self, title: &str, body: &str) {
        if self.cut {
            return;
        }
        let addition = format!("\n== {title} ==\n{}\n", body.trim_end());
        if self.text.len() + addition.len() > MAX_REPORT_BYTES {
            let room = MAX_REPORT_BYTES.saturating_sub(self.text.len());
            let mut end = room.min(addition.len());
            while !addition.is_char_boundary(end) {
                end -= 1;
            }
            self.text.push_str(&addition[..end]);
            self.text.push_str("\n[stacks cut at 1 MiB]\n");
            self.cut = true;
        } else {
            self.text.push_str(&addition);
        }
    }
}

/// Read every thread's stack in the group `pgid`, then lower its core limit back to the
/// user's so the timeout signal dumps no core.
fn capture_hang(
    index: u64,
    pgid: u32,
    tools: &Tools,
    python: Option<&PythonHook>,
    timeout_signal: i32,
    restore_core_limit: u64,
    scratch: &Path,
) -> Stacks {
    let started = Instant::now();
    let mut pids = group_members(pgid);
    let mut notes = Vec::new();
    let mut report = Report::new(format!(
        "# stacks of run {index}, read at its time limit before {}\n",
        signal_name(timeout_signal)
    ));
    if pids.len() > MAX_PROCESSES {
        notes.push(format!(
            "{} processes in the group; the stacks of the first {MAX_PROCESSES} were read",
            pids.len()
        ));
        pids.truncate(MAX_PROCESSES);
    }
    let dumps = python
        .map(|hook| ask_python(hook, index, &pids))
        .unwrap_or_default();
    let mut processes = Vec::new();
    for &pid in &pids {
        if started.elapsed() > CAPTURE_BUDGET {
            notes.push(format!(
                "reading stacks took over {} s; process {pid} and later ones were skipped",
                CAPTURE_BUDGET.as_secs()
            ));
            break;
        }
        let name = command_name(pid);
        if let Some((_, text)) = dumps.iter().find(|(p, _)| *p == pid) {
            let threads = parse::faulthandler(text);
            if !threads.is_empty() {
                report.section(
                    &format!("process {pid} ({name}): python, faulthandler"),
                    text,
                );
                processes.push(ProcessStacks {
                    pid,
                    name,
                    runtime: Runtime::Python,
                    tool: "faulthandler".into(),
                    threads,
                });
                continue;
            }
        }
        if elf::is_go_binary(Path::new(&format!("/proc/{pid}/exe"))) {
            if timeout_signal == libc::SIGQUIT {
                processes.push(ProcessStacks {
                    pid,
                    name,
                    runtime: Runtime::Go,
                    tool: "go".into(),
                    threads: Vec::new(),
                });
                continue;
            }
            notes.push(format!(
                "process {pid} ({name}) is a Go program: it dumps its goroutines only on SIGQUIT \
                 (--timeout-signal SIGQUIT, the default)"
            ));
        }
        match read_stacks(tools, Target::Process(pid), scratch) {
            Ok(reading) => {
                report.section(
                    &format!("process {pid} ({name}): {}", reading.tool),
                    &reading.text,
                );
                processes.push(ProcessStacks {
                    pid,
                    name,
                    runtime: Runtime::Native,
                    tool: reading.tool.into(),
                    threads: reading.threads,
                });
            }
            Err(error) => notes.push(format!("process {pid} ({name}): {error}")),
        }
    }
    for pid in group_members(pgid) {
        set_core_limit(pid, restore_core_limit);
    }
    finish(StacksKind::Hang, processes, report, notes, None)
}

/// Ask the Python processes among `pids` that armed flakehunt's handler for their dumps, and
/// wait until each dump stops growing: (pid, dump text).
fn ask_python(hook: &PythonHook, index: u64, pids: &[u32]) -> Vec<(u32, String)> {
    let dir = hook.run_dir(index);
    let mut asked = Vec::new();
    for &pid in pids {
        let path = dir.join(pid.to_string());
        // Only a process that catches the signal: sent to any other, it would kill it.
        if path.is_file()
            && python::catches(pid, hook.signal())
            && crate::os::process::signal_process(pid, hook.signal()).is_ok()
        {
            asked.push((pid, path));
        }
    }
    if asked.is_empty() {
        return Vec::new();
    }
    let started = Instant::now();
    let mut sizes: Vec<(u64, Instant)> = vec![(0, started); asked.len()];
    loop {
        std::thread::sleep(Duration::from_millis(20));
        let now = Instant::now();
        let mut settled = true;
        for ((_, path), (size, since)) in asked.iter().zip(&mut sizes) {
            let current = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
            if current != *size {
                *size = current;
                *since = now;
            }
            if *size == 0 || now.duration_since(*since) < Duration::from_millis(150) {
                settled = false;
            }
        }
        if settled || started.elapsed() > PYTHON_DUMP_WAIT {
            break;
        }
    }
    asked
        .into_iter()
        .map(|(pid, path)| {
            let bytes = elf::read_bounded(&path, tools::MAX_TOOL_OUTPUT).unwrap_or_default();
            (pid, String::from_utf8_lossy(&bytes).into_owned())
        })
        .collect()
}

/// Set the core size limit (soft, within the hard one) of process `pid`; a process that is
/// gone or not ours is left alone.
fn set_core_limit(pid: u32, limit: u64) {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return;
    };
    let mut old = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: prlimit only reads the process's limit into `old` (no new limit is given).
    if unsafe { libc::prlimit(pid, libc::RLIMIT_CORE, std::ptr::null(), &mut old) } != 0 {
        return;
    }
    let new = libc::rlimit {
        rlim_cur: limit.min(old.rlim_max),
        rlim_max: old.rlim_max,
    };
    // SAFETY: sets that process's soft core limit within its own hard limit; no memory is kept.
    unsafe {
        libc::prlimit(pid, libc::RLIMIT_CORE, &new, std::ptr::null_mut());
    }
}

/// Read the backtraces of a run's cores, then remove the cores (the first is kept when `keep`).
fn read_cores(tools: &Tools, cores: Vec<FoundCore>, keep: bool, scratch: &Path) -> Stacks {
    let mut report =
        Report::new("# backtrace of the crashed process, read from its core dump\n".into());
    let mut notes = Vec::new();
    let mut processes = Vec::new();
    let mut kept = None;
    for core in cores {
        let notes_of = &core.notes;
        let signal = notes_of
            .signal
            .map(signal_name)
            .unwrap_or_else(|| "a signal".into());
        let exe = notes_of
            .executable
            .as_deref()
            .map(PathBuf::from)
            .filter(|path| path.is_file());
        match read_stacks(tools, Target::Core(&core.path, exe.as_deref()), scratch) {
            Ok(reading) => {
                let mut threads = reading.threads;
                for thread in &mut threads {
                    thread.crashed = thread.tid.is_some() && thread.tid == notes_of.crashed_tid;
                }
                report.section(
                    &format!(
                        "process {} ({}) killed by {signal}: {}",
                        notes_of.pid, notes_of.name, reading.tool
                    ),
                    &reading.text,
                );
                processes.push(ProcessStacks {
                    pid: notes_of.pid,
                    name: notes_of.name.clone(),
                    runtime: Runtime::Native,
                    tool: reading.tool.into(),
                    threads,
                });
            }
            Err(error) => notes.push(format!(
                "process {} ({}) killed by {signal}: {error}",
                notes_of.pid, notes_of.name
            )),
        }
        // Kept outside the run's scratch folder, which goes when the run ends.
        let keep_at = scratch.with_extension("core");
        if keep && kept.is_none() && std::fs::rename(&core.path, &keep_at).is_ok() {
            kept = Some(keep_at);
        } else {
            let _ = std::fs::remove_file(&core.path);
        }
    }
    finish(StacksKind::Crash, processes, report, notes, kept)
}

fn finish(
    kind: StacksKind,
    processes: Vec<ProcessStacks>,
    mut report: Report,
    notes: Vec<String>,
    core: Option<PathBuf>,
) -> Stacks {
    if !notes.is_empty() {
        let body = notes
            .iter()
            .map(|n| format!("- {n}"))
            .collect::<Vec<_>>()
            .join("\n");
        report.section("not read", &body);
    }
    Stacks {
        kind,
        processes,
        text: report.text,
        notes,
        core,
    }
}

/// Fill the Go processes of a hang's stacks from the goroutine dump the Go runtime wrote into
/// the run's output on SIGQUIT.
pub fn attach_go_dump(stacks: &mut Stacks, output: &OutputStore) {
    let Some(first_go) = stacks
        .processes
        .iter()
        .position(|p| p.runtime == Runtime::Go && p.threads.is_empty())
    else {
        return;
    };
    let tail = output_tail(output);
    let text = String::from_utf8_lossy(&tail);
    let start = text
        .find("SIGQUIT: quit")
        .or_else(|| text.find("goroutine "))
        .unwrap_or(text.len());
    let dump = &text[start..];
    let threads = parse::goroutines(dump);
    if threads.is_empty() {
        stacks
            .notes
            .push("no goroutine dump found in the output after SIGQUIT".into());
        return;
    }
    let process = &mut stacks.processes[first_go];
    let title = format!(
        "process {} ({}): go, goroutine dump from the output",
        process.pid, process.name
    );
    process.threads = threads;
    let mut report = Report::new(std::mem::take(&mut stacks.text));
    report.section(&title, dump);
    stacks.text = report.text;
}

/// The last [`GO_DUMP_SEARCH`] bytes of a run's output.
fn output_tail(output: &OutputStore) -> Vec<u8> {
    match output {
        OutputStore::Memory { bytes, .. } => {
            let start = bytes.len().saturating_sub(GO_DUMP_SEARCH as usize);
            bytes[start..].to_vec()
        }
        OutputStore::Spilled { log, .. } => {
            use std::io::{Read, Seek, SeekFrom};
            let Ok(mut file) = std::fs::File::open(log) else {
                return Vec::new();
            };
            let length = file.metadata().map(|m| m.len()).unwrap_or(0);
            let _ = file.seek(SeekFrom::Start(length.saturating_sub(GO_DUMP_SEARCH)));
            let mut bytes = Vec::new();
            let _ = file.take(GO_DUMP_SEARCH).read_to_end(&mut bytes);
            bytes
        }
    }
}

#[cfg(test)]
mod tests;
