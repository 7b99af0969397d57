//! `syscall`, for the futex calls made through it (Rust's `std::sync` and thread parking,
//! libstdc++'s atomic waits); every other system call goes through untouched.

use std::ffi::{c_int, c_long};

use crate::hook::{intercept, Around};
use crate::raw;
use crate::real::REAL_SYSCALL;
use crate::schedule::Point;

/// Where a futex operation (`op` of `futex(2)`) gets noise, or `None` for operations left alone.
///
/// Waits (and PI locks, which may block) get it before: another thread may change the futex
/// word first, which the kernel's own check then catches. Wakes, requeues, PI unlocks and PI
/// trylocks (which never block) get it before and after, so that the threads they wake may run
/// before the waker goes on.
pub(crate) fn futex_around(op: c_int) -> Option<Around> {
    match op & libc::FUTEX_CMD_MASK {
        libc::FUTEX_WAIT
        | libc::FUTEX_WAIT_BITSET
        | libc::FUTEX_WAIT_REQUEUE_PI
        | libc::FUTEX_LOCK_PI
        | libc::FUTEX_LOCK_PI2 => Some(Around::Before),
        libc::FUTEX_WAKE
        | libc::FUTEX_WAKE_BITSET
        | libc::FUTEX_WAKE_OP
        | libc::FUTEX_REQUEUE
        | libc::FUTEX_CMP_REQUEUE
        | libc::FUTEX_CMP_REQUEUE_PI
        | libc::FUTEX_UNLOCK_PI
        | libc::FUTEX_TRYLOCK_PI => Some(Around::BeforeAndAfter),
        _ => None,
    }
}

/// Interposed `syscall`: noise around `SYS_futex` waits and wakes and before `SYS_futex_waitv`,
/// as [`futex_around`] says; any other system call goes to the real function with no guard,
/// noise or counting.
///
/// In C this is `long syscall(long number, ...)`. On x86-64 and AArch64 variadic integer
/// arguments travel exactly as named ones (registers, then on x86-64 the stack), and the C
/// library's `syscall` reads six of them whatever the call needs. Declaring those six receives
/// the same values it would, including leftovers for arguments the caller did not pass, which
/// are forwarded unchanged just as the C library would hand them to the kernel.
///
/// # Safety
///
/// Same contract as the C library's `syscall` for the system call made.
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C-unwind" fn syscall(
    number: c_long,
    a1: c_long,
    a2: c_long,
    a3: c_long,
    a4: c_long,
    a5: c_long,
    a6: c_long,
) -> c_long {
    let around = match number {
        // The operation is an `int`: only the low half of the register is defined.
        libc::SYS_futex => futex_around(a2 as c_int),
        libc::SYS_futex_waitv => Some(Around::Before),
        _ => None,
    };
    let Some(around) = around else {
        return match REAL_SYSCALL.get() {
            // SAFETY: the caller upholds the contract of the system call it makes.
            Some(real) => unsafe { real(number, a1, a2, a3, a4, a5, a6) },
            // SAFETY: as above.
            None => unsafe { raw::syscall_errno(number, a1, a2, a3, a4, a5, a6) },
        };
    };
    intercept(
        &REAL_SYSCALL,
        Point::Sync,
        around,
        // SAFETY: the caller upholds the contract of the futex call it makes.
        |real| unsafe { real(number, a1, a2, a3, a4, a5, a6) },
        // SAFETY: as above.
        || unsafe { raw::syscall_errno(number, a1, a2, a3, a4, a5, a6) },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn futex_operations_are_classified_whatever_their_flags() {
        let flags = [0, libc::FUTEX_PRIVATE_FLAG, libc::FUTEX_CLOCK_REALTIME];
        for flag in flags {
            assert_eq!(futex_around(libc::FUTEX_WAIT | flag), Some(Around::Before));
            assert_eq!(
                futex_around(libc::FUTEX_WAIT_BITSET | flag),
                Some(Around::Before)
            );
            assert_eq!(
                futex_around(libc::FUTEX_LOCK_PI | flag),
                Some(Around::Before)
            );
            assert_eq!(
                futex_around(libc::FUTEX_WAKE | flag),
                Some(Around::BeforeAndAfter)
            );
            assert_eq!(
                futex_around(libc::FUTEX_CMP_REQUEUE | flag),
                Some(Around::BeforeAndAfter)
            );
            assert_eq!(futex_around(libc::FUTEX_FD | flag), None);
            assert_eq!(futex_around(99 | flag), None);
        }
    }

    #[test]
    fn calls_are_forwarded_with_the_c_library_conventions() {
        // SAFETY: getpid takes no arguments.
        let pid = unsafe { syscall(libc::SYS_getpid, 0, 0, 0, 0, 0, 0) };
        assert_eq!(pid, c_long::from(std::process::id()));
        let word = std::sync::atomic::AtomicU32::new(1);
        // SAFETY: a private FUTEX_WAIT on a live word whose value differs from the expected
        // one fails at once with EAGAIN.
        let result = unsafe {
            syscall(
                libc::SYS_futex,
                word.as_ptr() as c_long,
                c_long::from(libc::FUTEX_WAIT | libc::FUTEX_PRIVATE_FLAG),
                0,
                0,
                0,
                0,
            )
        };
        assert_eq!(result, -1);
        // SAFETY: __errno_location always returns the calling thread's errno.
        assert_eq!(unsafe { *libc::__errno_location() }, libc::EAGAIN);
        // SAFETY: waking a live word without waiters wakes nobody.
        let woken = unsafe {
            syscall(
                libc::SYS_futex,
                word.as_ptr() as c_long,
                c_long::from(libc::FUTEX_WAKE | libc::FUTEX_PRIVATE_FLAG),
                1,
                0,
                0,
                0,
            )
        };
        assert_eq!(woken, 0);
    }
}
