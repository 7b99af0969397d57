//! Signalling processes and process groups, and asking whether they still exist. Pid 0 and
//! pids above `i32::MAX` name nothing here, so they never become `kill(0, ..)` or `kill(-1, ..)`.

use rustix::io::{Errno, Result};
use rustix::process::{test_kill_process, Pid};

/// `pid` as a kernel pid, if it can name one process (or group).
fn kernel_pid(pid: u32) -> Option<Pid> {
    Pid::from_raw(i32::try_from(pid).ok()?)
}

/// Send `signal` to every process in the group led by `pgid`. Errors (group already gone) are
/// ignored: callers only need the group to be dead or dying.
pub fn signal_group(pgid: u32, signal: i32) {
    if let Some(pgid) = kernel_pid(pgid) {
        // rustix's `Signal` cannot soundly carry every number a user may ask for (it forbids the
        // realtime signals libc reserves), so arbitrary signals go through libc.
        // SAFETY: kill(2) with a negative pid, i.e. the process group; no memory is involved.
        unsafe {
            libc::kill(-pgid.as_raw_pid(), signal);
        }
    }
}

/// Send `signal` to the single process `pid`.
pub fn signal_process(pid: u32, signal: i32) -> Result<()> {
    let pid = kernel_pid(pid).ok_or(Errno::SRCH)?;
    // SAFETY: kill(2) of one process; no memory is involved.
    if unsafe { libc::kill(pid.as_raw_pid(), signal) } == 0 {
        Ok(())
    } else {
        Err(super::last_errno())
    }
}

/// Whether process `pid` exists. A child that exited but is not reaped yet (a zombie) still
/// exists; a process we may not signal (EPERM) exists too.
pub fn is_alive(pid: u32) -> bool {
    kernel_pid(pid).is_some_and(|pid| exists(test_kill_process(pid)))
}

/// Whether any process is left in the group led by `pgid` (zombies included).
#[cfg(test)]
pub fn is_group_alive(pgid: u32) -> bool {
    kernel_pid(pgid).is_some_and(|pgid| exists(rustix::process::test_kill_process_group(pgid)))
}

fn exists(probe: Result<()>) -> bool {
    matches!(probe, Ok(()) | Err(Errno::PERM))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::{CommandExt, ExitStatusExt};
    use std::process::{Command, Stdio};

    /// A child that waits for stdin to close (or a signal) in its own process group.
    fn idle_child() -> std::process::Child {
        Command::new("cat")
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .process_group(0)
            .spawn()
            .expect("spawn cat")
    }

    #[test]
    fn self_is_alive() {
        assert!(is_alive(std::process::id()));
        // SAFETY: getpgrp has no preconditions.
        let group = unsafe { libc::getpgrp() };
        // Inside a PID namespace the group may lead from outside it, where it has no number.
        if group == 0 {
            println!("skipped: this process group was created outside the PID namespace");
            return;
        }
        assert!(is_group_alive(group as u32));
    }

    #[test]
    fn impossible_pids_are_never_alive_nor_signalled() {
        assert!(!is_alive(0));
        assert!(!is_group_alive(0));
        assert!(!is_alive(u32::MAX));
        assert!(!is_group_alive(i32::MAX as u32 + 1));
        assert_eq!(signal_process(0, 0), Err(Errno::SRCH));
        assert_eq!(signal_process(u32::MAX, 0), Err(Errno::SRCH));
    }

    #[test]
    fn a_reaped_child_is_gone() {
        let mut child = idle_child();
        let pid = child.id();
        assert!(is_alive(pid));
        assert!(is_group_alive(pid));
        drop(child.stdin.take());
        child.wait().expect("wait");
        assert!(!is_alive(pid));
        assert!(!is_group_alive(pid));
    }

    #[test]
    fn signals_reach_the_process_and_its_group() {
        // SIGKILL: a signal the test harness may ignore (inherited by the child) would hang.
        let mut child = idle_child();
        signal_process(child.id(), libc::SIGKILL).expect("signal");
        assert_eq!(child.wait().expect("wait").signal(), Some(libc::SIGKILL));
        assert_eq!(signal_process(child.id(), 0), Err(Errno::SRCH));

        let mut child = idle_child();
        signal_group(child.id(), libc::SIGKILL);
        assert_eq!(child.wait().expect("wait").signal(), Some(libc::SIGKILL));
    }
}
