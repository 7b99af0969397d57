//! The stack tools flakehunt drives (`eu-stack`, `gdb`): finding them on `PATH`, and running
//! one as a child with a time limit and a bound on what it prints.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::record::stacks::ThreadStack;

use super::elf::read_bounded;
use super::parse;

/// Longest a tool may take for one process or core.
pub const TOOL_TIMEOUT: Duration = Duration::from_secs(15);
/// Most bytes of a tool's output kept.
pub const MAX_TOOL_OUTPUT: u64 = 256 << 10;

/// The stack tools found on `PATH`.
#[derive(Debug, Clone, Default)]
pub struct Tools {
    /// elfutils' `eu-stack`.
    pub eu_stack: Option<PathBuf>,
    /// `gdb`.
    pub gdb: Option<PathBuf>,
}

impl Tools {
    /// Look the tools up on `PATH`.
    pub fn find() -> Tools {
        Tools {
            eu_stack: on_path("eu-stack"),
            gdb: on_path("gdb"),
        }
    }

    /// True when neither tool is there.
    pub fn none(&self) -> bool {
        self.eu_stack.is_none() && self.gdb.is_none()
    }
}

fn on_path(name: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .filter(|dir| !dir.as_os_str().is_empty())
        .map(|dir| dir.join(name))
        .find(|candidate| {
            std::fs::metadata(candidate)
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
}

/// What to read stacks from.
#[derive(Debug, Clone, Copy)]
pub enum Target<'a> {
    /// A live process.
    Process(u32),
    /// A core file, and the executable that wrote it when known.
    Core(&'a Path, Option<&'a Path>),
}

/// One tool's reading: its name, its (bounded) text, and the threads parsed from it.
#[derive(Debug, Clone)]
pub struct Reading {
    /// `eu-stack` or `gdb`.
    pub tool: &'static str,
    /// What it printed.
    pub text: String,
    /// Parsed threads.
    pub threads: Vec<ThreadStack>,
}

/// Read every thread's stack of `target` with the first tool that yields frames; `scratch` is
/// a directory for the tools' output files. Err explains what each tool said.
pub fn read_stacks(tools: &Tools, target: Target<'_>, scratch: &Path) -> Result<Reading, String> {
    let mut failures = Vec::new();
    if let Some(eu_stack) = &tools.eu_stack {
        let mut args: Vec<OsString> = match target {
            Target::Process(pid) => vec!["-p".into(), pid.to_string().into()],
            Target::Core(core, exe) => {
                let mut args = vec![OsString::from(format!("--core={}", core.display()))];
                if let Some(exe) = exe {
                    args.push(format!("--executable={}", exe.display()).into());
                }
                args
            }
        };
        args.extend(["-m", "-s", "-i"].map(OsString::from));
        match run_tool(eu_stack, &args, scratch) {
            Ok(text) => {
                let threads = parse::eu_stack(&text);
                if threads.iter().any(|t| !t.frames.is_empty()) {
                    return Ok(Reading {
                        tool: "eu-stack",
                        text,
                        threads,
                    });
                }
                failures.push(format!("eu-stack: {}", first_line(&text)));
            }
            Err(error) => failures.push(format!("eu-stack: {error}")),
        }
    }
    if let Some(gdb) = &tools.gdb {
        let mut args: Vec<OsString> = [
            "-nx",
            "-batch",
            "-iex",
            "set debuginfod enabled off",
            "-ex",
            "set width 0",
            "-ex",
            "set pagination off",
            "-ex",
            "set print frame-arguments none",
            "-ex",
            "set print frame-info location-and-address",
            "-ex",
            "thread apply all bt",
        ]
        .map(OsString::from)
        .to_vec();
        match target {
            Target::Process(pid) => args.extend(["-p".into(), pid.to_string().into()]),
            Target::Core(core, exe) => {
                if let Some(exe) = exe {
                    args.push(exe.into());
                }
                args.extend(["-c".into(), core.into()]);
            }
        }
        match run_tool(gdb, &args, scratch) {
            Ok(text) => {
                let threads = parse::gdb(&text);
                if threads.iter().any(|t| !t.frames.is_empty()) {
                    return Ok(Reading {
                        tool: "gdb",
                        text,
                        threads,
                    });
                }
                failures.push(format!("gdb: {}", first_line(&text)));
            }
            Err(error) => failures.push(format!("gdb: {error}")),
        }
    }
    if failures.is_empty() {
        failures.push("no stack tool (install elfutils or gdb)".into());
    }
    Err(failures.join("; "))
}

fn first_line(text: &str) -> String {
    let line = text
        .lines()
        .map(str::trim)
        .find(|line| !line.is_empty())
        .unwrap_or("no frames");
    line.chars().take(200).collect()
}

/// Run `program args`, its stdout and stderr into one file in `scratch`, killed after
/// [`TOOL_TIMEOUT`]; returns what it printed (at most [`MAX_TOOL_OUTPUT`] bytes).
fn run_tool(program: &Path, args: &[OsString], scratch: &Path) -> Result<String, String> {
    std::fs::create_dir_all(scratch)
        .map_err(|e| format!("cannot create {}: {e}", scratch.display()))?;
    let out_path = scratch.join(format!(
        "tool-{}-{}.out",
        std::process::id(),
        unique_suffix()
    ));
    let out = std::fs::File::create(&out_path)
        .map_err(|e| format!("cannot create {}: {e}", out_path.display()))?;
    let err = out
        .try_clone()
        .map_err(|e| format!("cannot create {}: {e}", out_path.display()))?;
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        // Symbol servers over the network could take longer than the run has.
        .env_remove("DEBUGINFOD_URLS")
        .env("LC_ALL", "C")
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", program.display()))?;
    let started = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if started.elapsed() >= TOOL_TIMEOUT => {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(10)),
            Err(error) => {
                let _ = child.kill();
                let _ = child.wait();
                let _ = std::fs::remove_file(&out_path);
                return Err(format!("cannot wait for {}: {error}", program.display()));
            }
        }
    };
    let bytes = read_bounded(&out_path, MAX_TOOL_OUTPUT).unwrap_or_default();
    let _ = std::fs::remove_file(&out_path);
    let text = String::from_utf8_lossy(&bytes).into_owned();
    match status {
        None => Err(format!("gave up after {} s", TOOL_TIMEOUT.as_secs())),
        Some(_) => Ok(text),
    }
}

fn unique_suffix() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}
