//! The delay primitives: carrying out a decided injection as a yield or a short sleep, leaving
//! `errno` as it was.

use std::ptr;

use libc::timespec;

use crate::schedule::Noise;
use crate::stats;

/// Yield or sleep, leaving `errno` as it was.
#[cold]
pub(crate) fn inject(noise: Noise) {
    stats::count_injected();
    // SAFETY: __errno_location always returns the calling thread's errno.
    let errno = unsafe { *libc::__errno_location() };
    match noise {
        Noise::Yield => {
            // SAFETY: sched_yield has no preconditions.
            unsafe { libc::sched_yield() };
        }
        Noise::Sleep(us) => {
            let duration = timespec {
                tv_sec: (us / 1_000_000) as libc::time_t,
                tv_nsec: ((us % 1_000_000) * 1_000) as libc::c_long,
            };
            // SAFETY: `duration` is a valid timespec; the remainder is not wanted.
            unsafe { libc::nanosleep(&duration, ptr::null_mut()) };
        }
    }
    // SAFETY: as above.
    unsafe { *libc::__errno_location() = errno };
}
