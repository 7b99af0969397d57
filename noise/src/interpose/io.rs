//! `read` and `write`, shaken at a quarter of the probability of synchronisation points.

use std::ffi::{c_int, c_void};

use libc::{c_long, size_t, ssize_t};

use crate::hook::{intercept, Around};
use crate::raw;
use crate::real::{REAL_READ, REAL_WRITE};
use crate::schedule::Point;

/// Interposed `read`: noise before, at a quarter of the probability.
///
/// # Safety
///
/// Same contract as the C library's `read`.
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C-unwind" fn read(fd: c_int, buf: *mut c_void, count: size_t) -> ssize_t {
    intercept(
        &REAL_READ,
        Point::Io,
        Around::Before,
        // SAFETY: the caller upholds `read`'s contract.
        |real| unsafe { real(fd, buf, count) },
        // SAFETY: the same call as a system call, under the same contract.
        || unsafe {
            raw::syscall_errno(
                libc::SYS_read,
                c_long::from(fd),
                buf as c_long,
                count as c_long,
                0,
                0,
                0,
            ) as ssize_t
        },
    )
}

/// Interposed `write`: noise before, at a quarter of the probability.
///
/// # Safety
///
/// Same contract as the C library's `write`.
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C-unwind" fn write(fd: c_int, buf: *const c_void, count: size_t) -> ssize_t {
    intercept(
        &REAL_WRITE,
        Point::Io,
        Around::Before,
        // SAFETY: the caller upholds `write`'s contract.
        |real| unsafe { real(fd, buf, count) },
        // SAFETY: the same call as a system call, under the same contract.
        || unsafe {
            raw::syscall_errno(
                libc::SYS_write,
                c_long::from(fd),
                buf as c_long,
                count as c_long,
                0,
                0,
                0,
            ) as ssize_t
        },
    )
}
