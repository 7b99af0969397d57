//! The guard: a tiny helper process that outlives flakehunt and kills every process group still
//! registered with it when flakehunt's end of its pipe closes, however flakehunt ended (even by
//! SIGKILL). The parent-death signal only reaches a run's main process; the guard also takes out
//! the grandchildren that share its process group.

use std::collections::HashSet;
use std::io::{self, BufRead, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};

/// Hidden subcommand name under which the flakehunt binary acts as the guard.
pub const GUARD_SUBCOMMAND: &str = "__guard";

/// flakehunt's handle on its guard process.
#[derive(Debug)]
pub struct Guard {
    child: Child,
    stdin: Option<ChildStdin>,
}

impl Guard {
    /// Start the guard from `exe` (the flakehunt binary).
    pub fn start(exe: &Path) -> io::Result<Guard> {
        let mut child = Command::new(exe)
            .arg(GUARD_SUBCOMMAND)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .current_dir("/")
            // Its own group: a Ctrl-C at the terminal must not kill it before it can do its job.
            .process_group(0)
            .spawn()?;
        let stdin = child.stdin.take();
        Ok(Guard { child, stdin })
    }

    /// Register a process group that must die if flakehunt dies.
    pub fn watch(&mut self, pgid: u32) {
        self.send(b'+', pgid);
    }

    /// The process group is finished; forget it.
    pub fn release(&mut self, pgid: u32) {
        self.send(b'-', pgid);
    }

    fn send(&mut self, op: u8, pgid: u32) {
        let Some(stdin) = &mut self.stdin else { return };
        let mut line = Vec::with_capacity(12);
        line.push(op);
        line.extend_from_slice(pgid.to_string().as_bytes());
        line.push(b'\n');
        // The pipe is unbuffered so that a SIGKILL of flakehunt loses nothing written so far.
        if stdin.write_all(&line).is_err() {
            // The guard died; the parent-death signal still covers the main processes.
            self.stdin = None;
        }
    }

    /// Close the pipe and wait for the guard to exit.
    pub fn stop(mut self) {
        self.stdin = None;
        let _ = self.child.wait();
    }
}

use std::os::unix::process::CommandExt;

/// Body of the guard process: read `+PGID`/`-PGID` lines until EOF, then SIGKILL what is left.
pub fn guard_main() -> i32 {
    let mut live: HashSet<i32> = HashSet::new();
    let stdin = io::stdin();
    let mut line = String::new();
    let mut locked = stdin.lock();
    loop {
        line.clear();
        match locked.read_line(&mut line) {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        let text = line.trim_end();
        let (op, number) = text.split_at(text.len().min(1));
        let Ok(pgid) = number.parse::<i32>() else {
            continue;
        };
        if pgid <= 0 {
            continue;
        }
        match op {
            "+" => {
                live.insert(pgid);
            }
            "-" => {
                live.remove(&pgid);
            }
            _ => {}
        }
    }
    for pgid in live {
        // SAFETY: kill(2) of a process group.
        unsafe {
            libc::kill(-pgid, libc::SIGKILL);
        }
    }
    0
}
