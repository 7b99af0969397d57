//! The guard: a tiny helper process that outlives flakehunt and kills every process group still
//! listed when flakehunt's end of its pipe closes, however flakehunt ended (even by SIGKILL).
//! The parent-death signal only reaches a run's main process; the guard also takes out the
//! grandchildren that share its process group.
//!
//! The list of live groups is a table in shared memory (a memfd the guard inherits as fd 3), so
//! registering a run costs one atomic store instead of a write that wakes another process.

use std::collections::HashMap;
use std::io::{self, Read};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicI32, Ordering};

use rustix::fs::{ftruncate, memfd_create, MemfdFlags};

/// Hidden subcommand name under which the flakehunt binary acts as the guard.
pub const GUARD_SUBCOMMAND: &str = "__guard";
/// Process groups the table can hold at once (runs in flight plus kept runs).
pub const CAPACITY: usize = 4096;
/// Descriptor number of the table in the guard process.
const TABLE_FD: i32 = 3;
const TABLE_BYTES: usize = CAPACITY * std::mem::size_of::<AtomicI32>();

/// A shared mapping of the table.
struct Table {
    base: *mut AtomicI32,
}

impl Table {
    fn map(fd: i32, writable: bool) -> io::Result<Table> {
        let protection = if writable {
            libc::PROT_READ | libc::PROT_WRITE
        } else {
            libc::PROT_READ
        };
        // SAFETY: mapping a descriptor we own, of at least TABLE_BYTES bytes.
        let base = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                TABLE_BYTES,
                protection,
                libc::MAP_SHARED,
                fd,
                0,
            )
        };
        if base == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        Ok(Table { base: base.cast() })
    }

    fn entries(&self) -> &[AtomicI32] {
        // SAFETY: the mapping holds CAPACITY aligned i32 and lives as long as self.
        unsafe { std::slice::from_raw_parts(self.base, CAPACITY) }
    }
}

impl Drop for Table {
    fn drop(&mut self) {
        // SAFETY: unmapping our own mapping.
        unsafe {
            libc::munmap(self.base.cast(), TABLE_BYTES);
        }
    }
}

/// flakehunt's handle on its guard process.
pub struct Guard {
    child: Child,
    pipe: Option<ChildStdin>,
    table: Table,
    slot_of: HashMap<u32, usize>,
    free: Vec<usize>,
}

impl std::fmt::Debug for Guard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Guard")
            .field("pid", &self.child.id())
            .field("watched", &self.slot_of.len())
            .finish()
    }
}

impl Guard {
    /// Start the guard from `exe` (the flakehunt binary); it removes `spill_dir` (output of runs
    /// not yet archived) when flakehunt is gone.
    pub fn start(exe: &Path, spill_dir: Option<&Path>) -> io::Result<Guard> {
        let memfd: OwnedFd = memfd_create("flakehunt-guard", MemfdFlags::CLOEXEC)?;
        ftruncate(&memfd, TABLE_BYTES as u64)?;
        let table = Table::map(memfd.as_raw_fd(), true)?;
        let raw = memfd.as_raw_fd();
        let mut command = Command::new(exe);
        command.arg(GUARD_SUBCOMMAND);
        if let Some(dir) = spill_dir {
            command.arg(std::path::absolute(dir)?);
        }
        command
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .current_dir("/")
            // Its own group: a Ctrl-C at the terminal must not kill it before it can do its job.
            .process_group(0);
        // SAFETY: dup2 is async-signal-safe; it clears close-on-exec on the new descriptor.
        unsafe {
            command.pre_exec(move || {
                if libc::dup2(raw, TABLE_FD) < 0 {
                    return Err(io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let mut child = command.spawn()?;
        let pipe = child.stdin.take();
        Ok(Guard {
            child,
            pipe,
            table,
            slot_of: HashMap::new(),
            free: (0..CAPACITY).rev().collect(),
        })
    }

    /// Register a process group that must die if flakehunt dies.
    pub fn watch(&mut self, pgid: u32) {
        // A full table only loses the grandchild cleanup; the parent-death signal remains.
        let Some(slot) = self.free.pop() else { return };
        self.table.entries()[slot].store(pgid as i32, Ordering::Release);
        self.slot_of.insert(pgid, slot);
    }

    /// The process group is finished; forget it.
    pub fn release(&mut self, pgid: u32) {
        if let Some(slot) = self.slot_of.remove(&pgid) {
            self.table.entries()[slot].store(0, Ordering::Release);
            self.free.push(slot);
        }
    }

    /// Close the pipe and wait for the guard to exit.
    pub fn stop(mut self) {
        for entry in self.table.entries() {
            entry.store(0, Ordering::Release);
        }
        self.pipe = None;
        let _ = self.child.wait();
    }
}

/// Body of the guard process: wait for EOF on stdin, then SIGKILL every group in the table.
pub fn guard_main(spill_dir: Option<&Path>) -> i32 {
    // SAFETY: fd 3 was set up by Guard::start; taking ownership closes it on exit.
    let table_fd = unsafe { OwnedFd::from_raw_fd(TABLE_FD) };
    let table = match Table::map(table_fd.as_raw_fd(), false) {
        Ok(table) => table,
        Err(_) => return 1,
    };
    let mut sink = [0u8; 64];
    let mut stdin = io::stdin().lock();
    loop {
        match stdin.read(&mut sink) {
            Ok(0) => break,
            Ok(_) => continue,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => break,
        }
    }
    for entry in table.entries() {
        let pgid = entry.load(Ordering::Acquire);
        if let Ok(pgid) = u32::try_from(pgid) {
            crate::os::process::signal_group(pgid, libc::SIGKILL);
        }
    }
    // A killed flakehunt leaves its runs' unarchived output behind; after a clean end the
    // directory is already gone.
    if let Some(dir) = spill_dir.filter(|dir| dir.ends_with(".spill")) {
        let _ = std::fs::remove_dir_all(dir);
    }
    0
}
