//! Direct system calls for the library's own needs and its fallbacks: on x86-64 and AArch64 they
//! never pass through the C library's `syscall` (which this library exports there) and never
//! touch `errno` unless asked to.

use std::ffi::c_long;

/// Make system call `number` with six arguments (unused ones are ignored by the kernel);
/// returns the kernel's result, a negated error number on failure.
///
/// # Safety
///
/// The arguments must be valid for that system call.
#[cfg(target_arch = "x86_64")]
#[inline]
pub(crate) unsafe fn syscall6(
    number: c_long,
    a1: c_long,
    a2: c_long,
    a3: c_long,
    a4: c_long,
    a5: c_long,
    a6: c_long,
) -> c_long {
    let result;
    // SAFETY: the caller vouches for the arguments; the kernel's x86-64 convention takes them
    // in these registers and clobbers only rax, rcx and r11.
    unsafe {
        std::arch::asm!(
            "syscall",
            inlateout("rax") number => result,
            in("rdi") a1,
            in("rsi") a2,
            in("rdx") a3,
            in("r10") a4,
            in("r8") a5,
            in("r9") a6,
            lateout("rcx") _,
            lateout("r11") _,
            options(nostack),
        );
    }
    result
}

/// Make system call `number` with six arguments (unused ones are ignored by the kernel);
/// returns the kernel's result, a negated error number on failure.
///
/// # Safety
///
/// The arguments must be valid for that system call.
#[cfg(target_arch = "aarch64")]
#[inline]
pub(crate) unsafe fn syscall6(
    number: c_long,
    a1: c_long,
    a2: c_long,
    a3: c_long,
    a4: c_long,
    a5: c_long,
    a6: c_long,
) -> c_long {
    let result;
    // SAFETY: the caller vouches for the arguments; the kernel's AArch64 convention takes the
    // number in x8 and the arguments in x0 to x5, and clobbers only x0.
    unsafe {
        std::arch::asm!(
            "svc 0",
            in("x8") number,
            inlateout("x0") a1 => result,
            in("x1") a2,
            in("x2") a3,
            in("x3") a4,
            in("x4") a5,
            in("x5") a6,
            options(nostack),
        );
    }
    result
}

/// Make system call `number` with six arguments through the C library (this library exports no
/// `syscall` on this architecture); returns a negated error number on failure.
///
/// # Safety
///
/// The arguments must be valid for that system call.
#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
#[inline]
pub(crate) unsafe fn syscall6(
    number: c_long,
    a1: c_long,
    a2: c_long,
    a3: c_long,
    a4: c_long,
    a5: c_long,
    a6: c_long,
) -> c_long {
    // SAFETY: __errno_location always returns the calling thread's errno.
    let errno = unsafe { libc::__errno_location() };
    // SAFETY: as above.
    let saved = unsafe { *errno };
    // SAFETY: the caller vouches for the arguments.
    let result = unsafe { libc::syscall(number, a1, a2, a3, a4, a5, a6) };
    // SAFETY: as above.
    let result = if result == -1 {
        -c_long::from(unsafe { *errno })
    } else {
        result
    };
    // SAFETY: as above.
    unsafe { *errno = saved };
    result
}

/// [`syscall6`] with the C library's conventions: -1 with `errno` set on failure.
///
/// # Safety
///
/// The arguments must be valid for that system call.
#[inline]
pub(crate) unsafe fn syscall_errno(
    number: c_long,
    a1: c_long,
    a2: c_long,
    a3: c_long,
    a4: c_long,
    a5: c_long,
    a6: c_long,
) -> c_long {
    // SAFETY: the caller vouches for the arguments.
    let result = unsafe { syscall6(number, a1, a2, a3, a4, a5, a6) };
    // The kernel reports errors as -4095 to -1.
    if (-4095..0).contains(&result) {
        // SAFETY: __errno_location always returns the calling thread's errno.
        unsafe { *libc::__errno_location() = -result as libc::c_int };
        -1
    } else {
        result
    }
}

/// The calling thread's id.
pub(crate) fn gettid() -> c_long {
    // SAFETY: gettid takes no arguments and cannot fail.
    unsafe { syscall6(libc::SYS_gettid, 0, 0, 0, 0, 0, 0) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn direct_calls_return_results_and_negated_errors() {
        // SAFETY: getpid and gettid take no arguments.
        let pid = unsafe { syscall6(libc::SYS_getpid, 0, 0, 0, 0, 0, 0) };
        assert_eq!(pid, c_long::from(std::process::id()));
        assert!(gettid() > 0);
        // SAFETY: closing a descriptor that cannot be open has no effect.
        let closed = unsafe { syscall6(libc::SYS_close, -1, 0, 0, 0, 0, 0) };
        assert_eq!(closed, -c_long::from(libc::EBADF));
    }

    #[test]
    fn errno_style_calls_set_errno_on_failure_only() {
        // SAFETY: __errno_location always returns the calling thread's errno.
        unsafe { *libc::__errno_location() = 0 };
        // SAFETY: as in the test above.
        let result = unsafe { syscall_errno(libc::SYS_close, -1, 0, 0, 0, 0, 0) };
        assert_eq!(result, -1);
        // SAFETY: as above.
        assert_eq!(unsafe { *libc::__errno_location() }, libc::EBADF);
        // SAFETY: as above.
        unsafe { *libc::__errno_location() = 7 };
        // SAFETY: as above.
        let pid = unsafe { syscall_errno(libc::SYS_getpid, 0, 0, 0, 0, 0, 0) };
        assert_eq!(pid, c_long::from(std::process::id()));
        // SAFETY: as above.
        assert_eq!(unsafe { *libc::__errno_location() }, 7);
    }
}
