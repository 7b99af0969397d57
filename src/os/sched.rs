//! CPU placement and scheduling of the calling thread: affinity, nice, policy, EEVDF slice.
//! The setters also run in `runner::spawn`'s `CLONE_VM` child before `execve`, so they must stay
//! async-signal-safe: one system call each, no allocation, no locks, errors as a plain `Errno`.

use rustix::io::Result;
/// A set of CPUs, as the affinity calls take it.
pub use rustix::thread::CpuSet;

/// Highest CPU number plus one that a [`CpuSet`] can hold (`CPU_SETSIZE`).
pub const MAX_CPUS: usize = CpuSet::MAX_CPU;

/// A set of the given CPUs; numbers of [`MAX_CPUS`] or more are left out.
pub fn cpu_set(cpus: &[usize]) -> CpuSet {
    let mut set = CpuSet::new();
    for &cpu in cpus.iter().filter(|cpu| **cpu < MAX_CPUS) {
        set.set(cpu);
    }
    set
}

/// CPUs the calling thread may run on, in increasing order.
pub fn allowed_cpus() -> Result<Vec<usize>> {
    let set = rustix::thread::sched_getaffinity(None)?;
    Ok((0..MAX_CPUS).filter(|cpu| set.is_set(*cpu)).collect())
}

/// Restrict the calling thread to the CPUs in `set`. Async-signal-safe.
#[inline]
pub fn set_affinity(set: &CpuSet) -> Result<()> {
    rustix::thread::sched_setaffinity(None, set)
}

/// Set the nice value of the calling thread (on Linux, `setpriority(PRIO_PROCESS, 0)` is
/// per thread). Lowering it needs CAP_SYS_NICE. Async-signal-safe.
#[inline]
pub fn set_nice(nice: i32) -> Result<()> {
    rustix::process::setpriority_process(None, nice)
}

/// Switch the calling thread to scheduling policy `policy` (`SCHED_BATCH`, `SCHED_IDLE`,
/// `SCHED_OTHER`), at static priority 0. Async-signal-safe.
#[inline]
pub fn set_policy(policy: i32) -> Result<()> {
    let parameter = libc::sched_param { sched_priority: 0 };
    // SAFETY: sched_setscheduler reads a sched_param that lives for the call.
    if unsafe { libc::sched_setscheduler(0, policy, &parameter) } == 0 {
        Ok(())
    } else {
        Err(super::last_errno())
    }
}

/// `struct sched_attr` as of Linux 4.13 (`SCHED_ATTR_SIZE_VER1`, 56 bytes).
#[repr(C)]
struct SchedAttr {
    size: u32,
    policy: u32,
    flags: u64,
    nice: i32,
    priority: u32,
    runtime: u64,
    deadline: u64,
    period: u64,
    util_min: u32,
    util_max: u32,
}

/// Ask for an EEVDF time slice of `nanos` for the calling thread (Linux 6.12+; older kernels
/// refuse it). Keeps `SCHED_OTHER`. Async-signal-safe.
#[inline]
pub fn set_slice(nanos: u64) -> Result<()> {
    // rustix has no sched_setattr.
    let attr = SchedAttr {
        size: std::mem::size_of::<SchedAttr>() as u32,
        policy: libc::SCHED_OTHER as u32,
        flags: 0,
        nice: 0,
        priority: 0,
        runtime: nanos,
        deadline: 0,
        period: 0,
        util_min: 0,
        util_max: 0,
    };
    // SAFETY: sched_setattr(0, attr, 0) on the calling thread; `attr` is a correctly sized
    // `struct sched_attr` that lives for the call and is only read.
    let result = unsafe {
        libc::syscall(
            libc::SYS_sched_setattr,
            0 as libc::pid_t,
            &attr as *const SchedAttr,
            0 as libc::c_uint,
        )
    };
    if result == 0 {
        Ok(())
    } else {
        Err(super::last_errno())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Run `body` on a throwaway thread so the test thread's scheduling is never changed.
    fn on_thread<T: Send + 'static>(body: impl FnOnce() -> T + Send + 'static) -> T {
        std::thread::spawn(body).join().expect("probe thread")
    }

    #[test]
    fn attr_matches_the_kernel_layout() {
        assert_eq!(std::mem::size_of::<SchedAttr>(), 56);
        assert_eq!(MAX_CPUS, libc::CPU_SETSIZE as usize);
    }

    #[test]
    fn cpu_sets_hold_what_was_asked() {
        let set = cpu_set(&[0, 3, MAX_CPUS - 1, MAX_CPUS, usize::MAX]);
        assert_eq!(set.count(), 3);
        assert!(set.is_set(0) && set.is_set(3) && set.is_set(MAX_CPUS - 1));
        assert!(!set.is_set(1));
        assert_eq!(cpu_set(&[]).count(), 0);
    }

    #[test]
    fn affinity_round_trips() {
        let allowed = allowed_cpus().expect("getaffinity");
        assert!(!allowed.is_empty());
        let first = allowed[0];
        let pinned = on_thread(move || {
            set_affinity(&cpu_set(&[first])).expect("setaffinity");
            allowed_cpus().expect("getaffinity")
        });
        assert_eq!(pinned, vec![first]);
        // Only the probe thread was pinned.
        assert_eq!(allowed_cpus().expect("getaffinity"), allowed);
        assert!(on_thread(|| set_affinity(&cpu_set(&[])).is_err()));
    }

    #[test]
    fn raising_nice_and_idling_need_no_privilege() {
        // Raising nice and SCHED_IDLE are always allowed, so these are deterministic.
        let nice = on_thread(|| {
            set_nice(19).expect("setpriority");
            rustix::process::getpriority_process(None).expect("getpriority")
        });
        assert_eq!(nice, 19);
        let policy = on_thread(|| {
            set_policy(libc::SCHED_IDLE).expect("sched_setscheduler");
            // SAFETY: sched_getscheduler has no memory arguments.
            unsafe { libc::sched_getscheduler(0) }
        });
        assert_eq!(policy, libc::SCHED_IDLE);
        assert!(on_thread(|| set_policy(-7).is_err()));
    }

    #[test]
    fn slice_is_applied_or_refused_cleanly() {
        // Whether the kernel takes the hint depends on its version; when it does, the thread
        // must still be under SCHED_OTHER.
        let (result, policy) = on_thread(|| {
            let result = set_slice(3_000_000);
            // SAFETY: sched_getscheduler has no memory arguments.
            (result, unsafe { libc::sched_getscheduler(0) })
        });
        if result.is_ok() {
            assert_eq!(policy, libc::SCHED_OTHER);
        }
    }
}
