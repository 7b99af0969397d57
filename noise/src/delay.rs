//! The delay primitives: carrying out a decided injection as a yield or a short sleep, both
//! direct system calls.

use std::ptr;

use libc::{c_long, timespec};

use crate::raw;
use crate::schedule::Noise;
use crate::stats;

/// Yield or sleep. Direct system calls leave `errno` alone, take no lock, and never come back
/// into this library's own `sched_yield`, `nanosleep` or `syscall`.
#[cold]
pub(crate) fn inject(noise: Noise) {
    stats::count_injected();
    match noise {
        Noise::Yield => {
            // SAFETY: sched_yield takes no arguments.
            unsafe { raw::syscall6(libc::SYS_sched_yield, 0, 0, 0, 0, 0, 0) };
        }
        Noise::Sleep(us) => {
            let duration = timespec {
                tv_sec: (us / 1_000_000) as libc::time_t,
                tv_nsec: ((us % 1_000_000) * 1_000) as c_long,
            };
            let request: *const timespec = &duration;
            let remainder: *mut timespec = ptr::null_mut();
            // SAFETY: `duration` is a valid timespec that outlives the call; the remainder is
            // not wanted. An interrupted sleep just ends early.
            unsafe {
                raw::syscall6(
                    libc::SYS_clock_nanosleep,
                    c_long::from(libc::CLOCK_MONOTONIC),
                    0,
                    request as c_long,
                    remainder as c_long,
                    0,
                    0,
                )
            };
        }
    }
}
