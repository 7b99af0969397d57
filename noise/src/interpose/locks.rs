//! Mutexes and condition variables: `pthread_mutex_*` and `pthread_cond_*`.

use std::ffi::c_int;

use libc::{pthread_cond_t, pthread_mutex_t, timespec};

use crate::hook::{intercept, Around};
use crate::real::{
    REAL_COND_BROADCAST, REAL_COND_SIGNAL, REAL_COND_TIMEDWAIT, REAL_COND_WAIT, REAL_MUTEX_LOCK,
    REAL_MUTEX_TRYLOCK, REAL_MUTEX_UNLOCK,
};
use crate::schedule::Point;

/// Interposed `pthread_mutex_lock`: noise before and after.
///
/// # Safety
///
/// Same contract as the C library's `pthread_mutex_lock`.
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C-unwind" fn pthread_mutex_lock(mutex: *mut pthread_mutex_t) -> c_int {
    intercept(
        &REAL_MUTEX_LOCK,
        Point::Sync,
        Around::BeforeAndAfter,
        // SAFETY: the caller upholds `pthread_mutex_lock`'s contract.
        |real| unsafe { real(mutex) },
        || libc::EAGAIN,
    )
}

/// Interposed `pthread_mutex_trylock`: noise before and after.
///
/// # Safety
///
/// Same contract as the C library's `pthread_mutex_trylock`.
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C-unwind" fn pthread_mutex_trylock(mutex: *mut pthread_mutex_t) -> c_int {
    intercept(
        &REAL_MUTEX_TRYLOCK,
        Point::Sync,
        Around::BeforeAndAfter,
        // SAFETY: the caller upholds `pthread_mutex_trylock`'s contract.
        |real| unsafe { real(mutex) },
        || libc::EBUSY,
    )
}

/// Interposed `pthread_mutex_unlock`: noise before and after.
///
/// # Safety
///
/// Same contract as the C library's `pthread_mutex_unlock`.
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C-unwind" fn pthread_mutex_unlock(mutex: *mut pthread_mutex_t) -> c_int {
    intercept(
        &REAL_MUTEX_UNLOCK,
        Point::Sync,
        Around::BeforeAndAfter,
        // SAFETY: the caller upholds `pthread_mutex_unlock`'s contract.
        |real| unsafe { real(mutex) },
        || libc::EPERM,
    )
}

/// Interposed `pthread_cond_wait`: noise before.
///
/// # Safety
///
/// Same contract as the C library's `pthread_cond_wait`.
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C-unwind" fn pthread_cond_wait(
    cond: *mut pthread_cond_t,
    mutex: *mut pthread_mutex_t,
) -> c_int {
    intercept(
        &REAL_COND_WAIT,
        Point::Sync,
        Around::Before,
        // SAFETY: the caller upholds `pthread_cond_wait`'s contract.
        |real| unsafe { real(cond, mutex) },
        || libc::EINVAL,
    )
}

/// Interposed `pthread_cond_timedwait`: noise before.
///
/// # Safety
///
/// Same contract as the C library's `pthread_cond_timedwait`.
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C-unwind" fn pthread_cond_timedwait(
    cond: *mut pthread_cond_t,
    mutex: *mut pthread_mutex_t,
    abstime: *const timespec,
) -> c_int {
    intercept(
        &REAL_COND_TIMEDWAIT,
        Point::Sync,
        Around::Before,
        // SAFETY: the caller upholds `pthread_cond_timedwait`'s contract.
        |real| unsafe { real(cond, mutex, abstime) },
        || libc::EINVAL,
    )
}

/// Interposed `pthread_cond_signal`: noise before and after.
///
/// # Safety
///
/// Same contract as the C library's `pthread_cond_signal`.
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C-unwind" fn pthread_cond_signal(cond: *mut pthread_cond_t) -> c_int {
    intercept(
        &REAL_COND_SIGNAL,
        Point::Sync,
        Around::BeforeAndAfter,
        // SAFETY: the caller upholds `pthread_cond_signal`'s contract.
        |real| unsafe { real(cond) },
        || libc::EINVAL,
    )
}

/// Interposed `pthread_cond_broadcast`: noise before and after.
///
/// # Safety
///
/// Same contract as the C library's `pthread_cond_broadcast`.
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C-unwind" fn pthread_cond_broadcast(cond: *mut pthread_cond_t) -> c_int {
    intercept(
        &REAL_COND_BROADCAST,
        Point::Sync,
        Around::BeforeAndAfter,
        // SAFETY: the caller upholds `pthread_cond_broadcast`'s contract.
        |real| unsafe { real(cond) },
        || libc::EINVAL,
    )
}
