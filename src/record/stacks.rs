//! Stacks of a run: every thread's frames in each process of a hung run's group, or the
//! backtrace of a crashed process, as parsed from a debugger's or runtime's text.

use serde::Serialize;

/// Why the stacks were taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum StacksKind {
    /// The run hit its time limit: taken from the live processes before the timeout signal.
    Hang,
    /// A process of the run was killed by a crash signal: read from its core dump.
    Crash,
}

impl StacksKind {
    /// Stable name, as in the signature (`hang: ...`) and the metadata JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            StacksKind::Hang => "hang",
            StacksKind::Crash => "crash",
        }
    }
}

/// What kind of program a process runs, which decides how its stacks are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Runtime {
    /// Native code (C, C++, Rust...): a debugger reads the threads.
    Native,
    /// CPython: its own `faulthandler` dumps every thread's Python frames.
    Python,
    /// Go: the runtime dumps every goroutine on SIGQUIT.
    Go,
}

/// One frame of a stack, innermost first in [`ThreadStack::frames`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Frame {
    /// Function name as the tool printed it (`??` or None when unknown).
    pub function: Option<String>,
    /// Source file, when known.
    pub file: Option<String>,
    /// Shared object or executable the code belongs to, when known.
    pub module: Option<String>,
    /// Program counter, when printed (used only to find the module).
    #[serde(skip)]
    pub address: Option<u64>,
}

/// The frames of one thread (or goroutine).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ThreadStack {
    /// How the tool named the thread (`TID 123`, `goroutine 7 [chan receive]`...).
    pub label: String,
    /// Kernel thread id, when known.
    #[serde(skip)]
    pub tid: Option<u32>,
    /// Frames, innermost first.
    pub frames: Vec<Frame>,
    /// This thread received the crash signal.
    pub crashed: bool,
}

/// The stacks read from one process.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProcessStacks {
    /// Process id.
    pub pid: u32,
    /// Its command name.
    pub name: String,
    /// Kind of program.
    pub runtime: Runtime,
    /// The tool that read the stacks (`eu-stack`, `gdb`, `faulthandler`, `go`).
    pub tool: String,
    /// Its threads.
    pub threads: Vec<ThreadStack>,
}

/// Everything learned about where a hung or crashed run's threads were.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stacks {
    /// Hang or crash.
    pub kind: StacksKind,
    /// Parsed stacks, process by process.
    pub processes: Vec<ProcessStacks>,
    /// The report saved beside the run's log: each tool's own output, bounded in size.
    pub text: String,
    /// What could not be read and why (a missing tool, a process that vanished...).
    pub notes: Vec<String>,
    /// A core file kept for the user (their own core limit asked for cores), to archive.
    pub core: Option<std::path::PathBuf>,
}

impl Stacks {
    /// True when at least one thread's frames were read.
    pub fn has_frames(&self) -> bool {
        self.processes.iter().any(|process| {
            process
                .threads
                .iter()
                .any(|thread| !thread.frames.is_empty())
        })
    }

    /// Names of the tools that read stacks, deduplicated, in order of first use.
    pub fn tools(&self) -> Vec<&str> {
        let mut tools: Vec<&str> = Vec::new();
        for process in &self.processes {
            if !tools.contains(&process.tool.as_str()) {
                tools.push(&process.tool);
            }
        }
        tools
    }
}
