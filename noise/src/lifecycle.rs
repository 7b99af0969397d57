//! The library's life in a process: initialisation when it is loaded, the fork handlers, and
//! the statistics line at exit.

use std::cell::Cell;

use crate::config;
use crate::hook::{enter, in_hook, leave, with_state, STATE};
use crate::real::ALL_REAL;
use crate::schedule::{derive_identity, ThreadState, FORK_SALT};
use crate::stats;

/// Runs when the library is loaded: read the configuration, look up every real function while
/// the process is most likely still single-threaded, and register the fork handlers.
#[cfg(not(test))]
#[used]
#[link_section = ".init_array"]
static INITIALISE: extern "C" fn() = initialise;

/// Runs at exit, after the program's `atexit` handlers: append the statistics line.
#[cfg(not(test))]
#[used]
#[link_section = ".fini_array"]
static FINISH: extern "C" fn() = stats::write_stats;

/// Load-time initialisation (see [`INITIALISE`]).
#[cfg_attr(test, allow(dead_code))]
extern "C" fn initialise() {
    let outer = enter();
    config::config_ready();
    for real in &ALL_REAL {
        real.resolve_now();
    }
    // SAFETY: both handlers are async-signal-safe functions of this library, which is never
    // unloaded while the process runs.
    unsafe { libc::pthread_atfork(Some(before_fork), None, Some(in_fork_child)) };
    if outer {
        leave();
    }
}

/// Fork handler in the parent, before `fork`: count the fork in the forking thread's state so
/// that its child gets a distinct, reproducible identity.
extern "C" fn before_fork() {
    if !config::noise_enabled() || in_hook() {
        return;
    }
    let _ = with_state(|state| state.forks = state.forks.wrapping_add(1));
}

/// Fork handler in the child: reset the counters (the child reports only its own calls) and
/// reseed the thread from an identity derived from the forking thread's.
extern "C" fn in_fork_child() {
    stats::reset();
    if !config::is_loaded() {
        return;
    }
    let seed = config::seed();
    let base = config::probability();
    let _ = STATE.try_with(|cell: &Cell<ThreadState>| {
        let state = cell.get();
        if state.ready {
            let identity = derive_identity(state.identity, FORK_SALT, state.forks);
            cell.set(ThreadState::seeded(identity, seed, base));
        }
    });
}
