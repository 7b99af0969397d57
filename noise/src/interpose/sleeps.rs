//! Yielding and sleeping: `sched_yield` gets noise before, `nanosleep` and `clock_nanosleep`
//! after, so that relative and absolute sleeps alike come out longer by it.

use std::ffi::{c_int, c_long};

use libc::{clockid_t, timespec};

use crate::hook::{intercept, Around};
use crate::raw;
use crate::real::{REAL_CLOCK_NANOSLEEP, REAL_NANOSLEEP, REAL_SCHED_YIELD};
use crate::schedule::Point;

/// Interposed `sched_yield`: noise before.
///
/// # Safety
///
/// Same contract as the C library's `sched_yield` (none).
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C-unwind" fn sched_yield() -> c_int {
    intercept(
        &REAL_SCHED_YIELD,
        Point::Sync,
        Around::Before,
        // SAFETY: sched_yield has no preconditions.
        |real| unsafe { real() },
        // SAFETY: as above.
        || unsafe { raw::syscall_errno(libc::SYS_sched_yield, 0, 0, 0, 0, 0, 0) as c_int },
    )
}

/// Interposed `nanosleep`: noise after.
///
/// # Safety
///
/// Same contract as the C library's `nanosleep`.
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C-unwind" fn nanosleep(
    request: *const timespec,
    remain: *mut timespec,
) -> c_int {
    intercept(
        &REAL_NANOSLEEP,
        Point::Sync,
        Around::After,
        // SAFETY: the caller upholds `nanosleep`'s contract.
        |real| unsafe { real(request, remain) },
        // SAFETY: as above.
        || unsafe {
            raw::syscall_errno(
                libc::SYS_nanosleep,
                request as c_long,
                remain as c_long,
                0,
                0,
                0,
                0,
            ) as c_int
        },
    )
}

/// Interposed `clock_nanosleep`: noise after.
///
/// # Safety
///
/// Same contract as the C library's `clock_nanosleep`.
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C-unwind" fn clock_nanosleep(
    clock: clockid_t,
    flags: c_int,
    request: *const timespec,
    remain: *mut timespec,
) -> c_int {
    intercept(
        &REAL_CLOCK_NANOSLEEP,
        Point::Sync,
        Around::After,
        // SAFETY: the caller upholds `clock_nanosleep`'s contract.
        |real| unsafe { real(clock, flags, request, remain) },
        || {
            // SAFETY: as above.
            let result = unsafe {
                raw::syscall6(
                    libc::SYS_clock_nanosleep,
                    c_long::from(clock),
                    c_long::from(flags),
                    request as c_long,
                    remain as c_long,
                    0,
                    0,
                )
            };
            // Like the C library's, this one returns the error number instead of setting errno.
            -result as c_int
        },
    )
}
