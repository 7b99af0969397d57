//! The per-thread guard that keeps the library from shaking its own calls, each thread's noise
//! state, and [`intercept`], the path every interposed call takes.

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::delay::inject;
use crate::real::Real;
use crate::schedule::{derive_identity, Point, ThreadState, FOREIGN_SALT, MAIN_IDENTITY};
use crate::stats;
use crate::{config, raw};

/// Threads that got their state without passing through `pthread_create`.
static FOREIGN_THREADS: AtomicU64 = AtomicU64::new(0);

thread_local! {
    /// Set while the thread is inside an exported function.
    static IN_HOOK: Cell<bool> = const { Cell::new(false) };
    /// Depth of nested symbol lookups of the thread.
    pub(crate) static LOOKUP_DEPTH: Cell<u8> = const { Cell::new(0) };
    /// The thread's noise state.
    pub(crate) static STATE: Cell<ThreadState> = const { Cell::new(ThreadState::UNSEEDED) };
}

/// Take the thread's guard: `true` if this call is the thread's outermost exported call.
#[inline]
pub(crate) fn enter() -> bool {
    IN_HOOK
        .try_with(|guard| !guard.replace(true))
        .unwrap_or(false)
}

/// Release the guard taken by an [`enter`] that returned `true`.
#[inline]
pub(crate) fn leave() {
    let _ = IN_HOOK.try_with(|guard| guard.set(false));
}

/// Whether the thread is inside an exported function (or its guard cannot be read).
#[inline]
pub(crate) fn in_hook() -> bool {
    IN_HOOK.try_with(Cell::get).unwrap_or(true)
}

/// A fresh identity for a thread whose creation this library did not see.
pub(crate) fn foreign_identity() -> u64 {
    let ordinal = FOREIGN_THREADS.fetch_add(1, Ordering::Relaxed);
    derive_identity(MAIN_IDENTITY, FOREIGN_SALT, ordinal)
}

/// A state for a thread whose creation this library did not see (the main thread, threads
/// created before the configuration was loaded, threads started by raw `clone`).
fn unseen_thread_state() -> ThreadState {
    // SAFETY: getpid has no preconditions.
    let is_main = raw::gettid() == libc::c_long::from(unsafe { libc::getpid() });
    let identity = if is_main {
        MAIN_IDENTITY
    } else {
        foreign_identity()
    };
    ThreadState::seeded(identity, config::seed(), config::probability())
}

/// Run `f` on the thread's seeded state (the configuration must be ready).
#[inline]
pub(crate) fn with_state<R>(f: impl FnOnce(&mut ThreadState) -> R) -> Option<R> {
    STATE
        .try_with(|cell| {
            let mut state = cell.get();
            if !state.ready {
                state = unseen_thread_state();
            }
            let result = f(&mut state);
            cell.set(state);
            result
        })
        .ok()
}

/// A noise point of the thread's outermost exported call; `first` marks the first point of a
/// call (the one that counts the call).
#[inline]
pub(crate) fn noise(point: Point, first: bool) {
    if !config::config_ready() {
        return;
    }
    if first && config::stats_enabled() {
        stats::count_intercepted();
    }
    if !config::enabled() {
        return;
    }
    let max_sleep_us = config::max_sleep_us();
    let decision = with_state(|state| {
        if first {
            state.tick(config::probability());
        }
        state.decide(point, max_sleep_us)
    });
    if let Some(Some(noise)) = decision {
        inject(noise);
    }
}

/// Where an intercepted call gets its noise points.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Around {
    /// Before the call: the other threads may overtake it.
    Before,
    /// After the call: what it woke up or gave way to may run first.
    After,
    /// Both.
    BeforeAndAfter,
}

impl Around {
    /// Whether there is a noise point before the call.
    fn before(self) -> bool {
        matches!(self, Around::Before | Around::BeforeAndAfter)
    }

    /// Whether there is a noise point after the call.
    fn after(self) -> bool {
        matches!(self, Around::After | Around::BeforeAndAfter)
    }
}

/// Run an intercepted call: noise at the points `around` names if this is the thread's
/// outermost exported call, `call` with the real function, or `fallback` when the real
/// function cannot be found now.
#[inline(always)]
pub(crate) fn intercept<F: Copy, R>(
    real: &Real<F>,
    point: Point,
    around: Around,
    call: impl FnOnce(F) -> R,
    fallback: impl FnOnce() -> R,
) -> R {
    let outer = enter();
    let Some(function) = real.get() else {
        if outer {
            leave();
        }
        return fallback();
    };
    if outer && around.before() {
        noise(point, true);
    }
    let result = call(function);
    if outer {
        if around.after() {
            // The first point of the call counts it.
            noise(point, !around.before());
        }
        leave();
    }
    result
}
