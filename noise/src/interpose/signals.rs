//! Signal dispositions and masks: `sigaction`, `signal`, `sigprocmask` and `pthread_sigmask`,
//! with the fallbacks they use while a lookup of the real function cannot finish.

use std::ffi::c_int;
use std::mem;

use libc::{c_long, sighandler_t, sigset_t};

use crate::hook::{intercept, Around};
use crate::raw;
use crate::real::{REAL_PTHREAD_SIGMASK, REAL_SIGACTION, REAL_SIGNAL, REAL_SIGPROCMASK};
use crate::schedule::Point;

/// Bytes of the kernel's signal set.
#[cfg(not(any(target_arch = "mips", target_arch = "mips64")))]
const KERNEL_SIGSET_BYTES: usize = 8;
/// Bytes of the kernel's signal set.
#[cfg(any(target_arch = "mips", target_arch = "mips64"))]
const KERNEL_SIGSET_BYTES: usize = 16;

#[cfg(target_env = "gnu")]
extern "C" {
    /// The GNU C library's public alias of `sigaction`, which this library does not export.
    fn __sigaction(
        signum: c_int,
        act: *const libc::sigaction,
        oldact: *mut libc::sigaction,
    ) -> c_int;
}

/// `sigaction` without going through the exported name.
///
/// # Safety
///
/// Same contract as `sigaction`.
unsafe fn fallback_sigaction(
    signum: c_int,
    act: *const libc::sigaction,
    oldact: *mut libc::sigaction,
) -> c_int {
    #[cfg(target_env = "gnu")]
    {
        // SAFETY: the caller upholds `sigaction`'s contract, which `__sigaction` shares.
        unsafe { __sigaction(signum, act, oldact) }
    }
    #[cfg(not(target_env = "gnu"))]
    {
        let _ = (signum, act, oldact);
        // SAFETY: __errno_location always returns the calling thread's errno.
        unsafe { *libc::__errno_location() = libc::EAGAIN };
        -1
    }
}

/// `signal` with BSD semantics (as the GNU C library's), built on [`fallback_sigaction`].
///
/// # Safety
///
/// Same contract as `signal`.
unsafe fn fallback_signal(signum: c_int, handler: sighandler_t) -> sighandler_t {
    // SAFETY: `sigaction` is plain data for which all zeroes is a valid value.
    let mut action: libc::sigaction = unsafe { mem::zeroed() };
    action.sa_sigaction = handler;
    // SAFETY: `sa_mask` is a valid signal set to initialise.
    unsafe { libc::sigemptyset(&mut action.sa_mask) };
    // SAFETY: as above; an invalid signal number is reported, not undefined.
    if unsafe { libc::sigaddset(&mut action.sa_mask, signum) } != 0 {
        return libc::SIG_ERR;
    }
    action.sa_flags = libc::SA_RESTART;
    // SAFETY: as for `action`.
    let mut previous: libc::sigaction = unsafe { mem::zeroed() };
    // SAFETY: both structures are valid; the caller upholds `signal`'s contract for `handler`.
    if unsafe { fallback_sigaction(signum, &action, &mut previous) } != 0 {
        return libc::SIG_ERR;
    }
    previous.sa_sigaction
}

/// `rt_sigprocmask` as a system call, returning -1 and setting `errno` on failure.
///
/// # Safety
///
/// Same contract as `sigprocmask`.
unsafe fn fallback_sigprocmask(how: c_int, set: *const sigset_t, old: *mut sigset_t) -> c_int {
    // SAFETY: the caller upholds `sigprocmask`'s contract; the kernel reads and writes only
    // the first KERNEL_SIGSET_BYTES of the C library's larger sets.
    unsafe {
        raw::syscall_errno(
            libc::SYS_rt_sigprocmask,
            c_long::from(how),
            set as c_long,
            old as c_long,
            KERNEL_SIGSET_BYTES as c_long,
            0,
            0,
        ) as c_int
    }
}

/// Interposed `sigaction`: noise before.
///
/// # Safety
///
/// Same contract as the C library's `sigaction`.
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C-unwind" fn sigaction(
    signum: c_int,
    act: *const libc::sigaction,
    oldact: *mut libc::sigaction,
) -> c_int {
    intercept(
        &REAL_SIGACTION,
        Point::Sync,
        Around::Before,
        // SAFETY: the caller upholds `sigaction`'s contract.
        |real| unsafe { real(signum, act, oldact) },
        // SAFETY: as above.
        || unsafe { fallback_sigaction(signum, act, oldact) },
    )
}

/// Interposed `signal`: noise before.
///
/// # Safety
///
/// Same contract as the C library's `signal`.
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C-unwind" fn signal(signum: c_int, handler: sighandler_t) -> sighandler_t {
    intercept(
        &REAL_SIGNAL,
        Point::Sync,
        Around::Before,
        // SAFETY: the caller upholds `signal`'s contract.
        |real| unsafe { real(signum, handler) },
        // SAFETY: as above.
        || unsafe { fallback_signal(signum, handler) },
    )
}

/// Interposed `sigprocmask`: noise before.
///
/// # Safety
///
/// Same contract as the C library's `sigprocmask`.
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C-unwind" fn sigprocmask(
    how: c_int,
    set: *const sigset_t,
    oldset: *mut sigset_t,
) -> c_int {
    intercept(
        &REAL_SIGPROCMASK,
        Point::Sync,
        Around::Before,
        // SAFETY: the caller upholds `sigprocmask`'s contract.
        |real| unsafe { real(how, set, oldset) },
        // SAFETY: as above.
        || unsafe { fallback_sigprocmask(how, set, oldset) },
    )
}

/// Interposed `pthread_sigmask`: noise before.
///
/// # Safety
///
/// Same contract as the C library's `pthread_sigmask`.
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C-unwind" fn pthread_sigmask(
    how: c_int,
    set: *const sigset_t,
    oldset: *mut sigset_t,
) -> c_int {
    intercept(
        &REAL_PTHREAD_SIGMASK,
        Point::Sync,
        Around::Before,
        // SAFETY: the caller upholds `pthread_sigmask`'s contract.
        |real| unsafe { real(how, set, oldset) },
        || {
            // SAFETY: `pthread_sigmask` shares `sigprocmask`'s contract.
            if unsafe { fallback_sigprocmask(how, set, oldset) } == 0 {
                0
            } else {
                // SAFETY: __errno_location always returns the calling thread's errno.
                unsafe { *libc::__errno_location() }
            }
        },
    )
}
