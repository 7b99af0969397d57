//! `read` and `write`, shaken at a quarter of the probability of synchronisation points.

use std::ffi::{c_int, c_void};

use libc::{size_t, ssize_t};

use crate::hook::intercept;
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
        false,
        // SAFETY: the caller upholds `read`'s contract.
        |real| unsafe { real(fd, buf, count) },
        // SAFETY: the same call as a system call, under the same contract.
        || unsafe { libc::syscall(libc::SYS_read, fd, buf, count) as ssize_t },
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
        false,
        // SAFETY: the caller upholds `write`'s contract.
        |real| unsafe { real(fd, buf, count) },
        // SAFETY: the same call as a system call, under the same contract.
        || unsafe { libc::syscall(libc::SYS_write, fd, buf, count) as ssize_t },
    )
}
