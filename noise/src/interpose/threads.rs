//! Thread creation and joining: `pthread_create` seeds each new thread's noise state with an
//! identity derived from its creator's, and `pthread_join`.

use std::ffi::{c_int, c_void};
use std::mem;
use std::ptr;

use libc::{pthread_attr_t, pthread_t};

use crate::config;
use crate::hook::{enter, foreign_identity, intercept, leave, noise, with_state, Around, STATE};
use crate::real::{StartRoutine, REAL_PTHREAD_CREATE, REAL_PTHREAD_JOIN};
use crate::schedule::{derive_identity, Point, ThreadState, SPAWN_SALT};

/// What a wrapped thread needs to start: the real routine, its argument and its identity.
struct SpawnBlock {
    start: StartRoutine,
    arg: *mut c_void,
    identity: u64,
}

/// The identity of the next thread the calling thread creates.
fn next_child_identity() -> u64 {
    with_state(|state| {
        state.spawned = state.spawned.wrapping_add(1);
        derive_identity(state.identity, SPAWN_SALT, state.spawned)
    })
    .unwrap_or_else(foreign_identity)
}

/// Start routine of wrapped threads: seed the thread's state, maybe inject noise, run the real
/// routine.
///
/// # Safety
///
/// `block` must be a `malloc`ed [`SpawnBlock`] that nothing else uses.
unsafe extern "C-unwind" fn thread_start(block: *mut c_void) -> *mut c_void {
    // SAFETY: `pthread_create` below wrote a SpawnBlock there and hands it to this thread only.
    let SpawnBlock {
        start,
        arg,
        identity,
    } = unsafe { block.cast::<SpawnBlock>().read() };
    // SAFETY: the block came from malloc and was moved out above.
    unsafe { libc::free(block) };
    let state = ThreadState::seeded(identity, config::seed(), config::probability());
    let _ = STATE.try_with(|cell| cell.set(state));
    if enter() {
        noise(Point::Sync, true);
        leave();
    }
    // SAFETY: the routine and argument the program passed to `pthread_create`.
    unsafe { start(arg) }
}

/// Interposed `pthread_create`: noise before; the new thread gets its own noise state and
/// noise when it starts.
///
/// # Safety
///
/// Same contract as the C library's `pthread_create`.
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C-unwind" fn pthread_create(
    thread: *mut pthread_t,
    attr: *const pthread_attr_t,
    start: Option<StartRoutine>,
    arg: *mut c_void,
) -> c_int {
    let outer = enter();
    let Some(real) = REAL_PTHREAD_CREATE.get() else {
        if outer {
            leave();
        }
        return libc::EAGAIN;
    };
    let mut routine = start;
    let mut argument = arg;
    let mut block: *mut SpawnBlock = ptr::null_mut();
    if outer {
        noise(Point::Sync, true);
        if let (Some(start), true) = (start, config::noise_enabled()) {
            // SAFETY: malloc has no preconditions; the result is checked for null.
            block = unsafe { libc::malloc(mem::size_of::<SpawnBlock>()) }.cast();
            if !block.is_null() {
                let identity = next_child_identity();
                // SAFETY: `block` is a fresh allocation large and aligned enough for a
                // SpawnBlock (malloc aligns for every fundamental type).
                unsafe {
                    block.write(SpawnBlock {
                        start,
                        arg,
                        identity,
                    })
                };
                routine = Some(thread_start);
                argument = block.cast();
            }
        }
    }
    // SAFETY: the caller's arguments, except that a wrapped thread starts in `thread_start`
    // with the block, which takes ownership of it.
    let result = unsafe { real(thread, attr, routine, argument) };
    if result != 0 && !block.is_null() {
        // SAFETY: the thread was not created, so the block is still ours.
        unsafe { libc::free(block.cast()) };
    }
    if outer {
        leave();
    }
    result
}

/// Interposed `pthread_join`: noise before.
///
/// # Safety
///
/// Same contract as the C library's `pthread_join`.
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C-unwind" fn pthread_join(thread: pthread_t, retval: *mut *mut c_void) -> c_int {
    intercept(
        &REAL_PTHREAD_JOIN,
        Point::Sync,
        Around::Before,
        // SAFETY: the caller upholds `pthread_join`'s contract.
        |join| unsafe { join(thread, retval) },
        || libc::EINVAL,
    )
}
