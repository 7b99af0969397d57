//! Scheduling noise for native programs, loaded with `LD_PRELOAD`.
//!
//! Races hide because the operating system schedules threads in nearly the same order run after
//! run. This library, loaded into a program with `LD_PRELOAD`, shakes that order: at the
//! synchronisation and I/O points listed below it sometimes yields the CPU or sleeps for a few
//! microseconds before (and for some points also after) handing the call to the C library.
//!
//! # Where noise goes
//!
//! The library exports these C library functions, finds the real ones with
//! `dlsym(RTLD_NEXT, ...)` (resolved once, cached in atomics) and calls them unchanged:
//!
//! | function | noise |
//! |---|---|
//! | `pthread_create` | before; the new thread also gets noise when it starts |
//! | `pthread_join`, `pthread_cond_wait`, `pthread_cond_timedwait` | before |
//! | `pthread_mutex_lock`, `pthread_mutex_trylock`, `pthread_mutex_unlock` | before and after |
//! | `pthread_cond_signal`, `pthread_cond_broadcast` | before and after |
//! | `sigaction`, `signal`, `sigprocmask`, `pthread_sigmask` | before |
//! | `read`, `write` | before, with a quarter of the probability |
//!
//! `read` and `write` get less noise because most of them go to regular files, where ordering
//! rarely matters; telling pipes and sockets apart would cost an `fstat` per call.
//!
//! # How much
//!
//! | variable | meaning | default |
//! |---|---|---|
//! | `FLAKEHUNT_NOISE` | base probability of noise at each point, `0` to `1` | `0.02` |
//! | `FLAKEHUNT_NOISE_MAX_US` | longest sleep in microseconds (`0`: only yields) | `200` |
//! | `FLAKEHUNT_SEED` | seed of every decision (decimal or `0x` hex) | from pid and time |
//! | `FLAKEHUNT_NOISE_STATS` | file to which each process appends a statistics line | unset |
//!
//! Noise is either `sched_yield()` or a `nanosleep` of a uniformly random 1 to
//! `FLAKEHUNT_NOISE_MAX_US` microseconds, each half of the time.
//!
//! # PCT flavour
//!
//! Like probabilistic concurrency testing (PCT), each thread draws a priority when it is
//! created: a multiplier of the base probability, log-uniform in `[0.25, 4]`, so that some
//! threads are shaken much more than others. At one to three change points, counted in the
//! thread's intercepted calls and spread over growing windows (the first within 256 calls, the
//! next within four times as many, and so on), the thread draws a new priority.
//!
//! # Replay
//!
//! Each thread has its own xorshift generator, seeded from `FLAKEHUNT_SEED` mixed with the
//! thread's identity: the main thread has a fixed identity and a thread created with
//! `pthread_create` derives its identity from its creator's and from how many threads the
//! creator had created before it; a forked child derives its identity the same way from the
//! thread that forked. So the same seed replays the same sequence of decisions in every thread
//! of a program that creates its threads in the same way. What the operating system does with
//! the resulting sleeps and yields is not replayed: the same seed makes the same decisions, not
//! necessarily the same interleaving.
//!
//! # Statistics
//!
//! With `FLAKEHUNT_NOISE_STATS=PATH`, each process that exits normally (through `exit` or by
//! returning from `main`) appends one line `intercepted=N injected=M` to `PATH`: how many
//! intercepted calls it made and how many times it injected noise. A forked child counts only
//! its own calls. A process killed by a signal or ending with `_exit` writes nothing.
//!
//! # What it cannot reach
//!
//! - Statically linked programs: there is no dynamic loader to honour `LD_PRELOAD`.
//! - Go programs: the Go runtime makes raw system calls and schedules goroutines itself, never
//!   through these C library functions (only cgo calls into C code would be seen).
//! - Setuid and setgid programs: the loader ignores `LD_PRELOAD` for them (secure mode).
//! - Calls that do not go through the exported names: the C library's internal calls, programs
//!   calling the `__`-prefixed aliases (`__pthread_mutex_lock`, `__read`, ...), raw `syscall`s,
//!   and code using futexes or atomics directly (Rust's `std::sync`, for example).
//! - Programs that reset `LD_PRELOAD` or close inherited file descriptors before starting
//!   children, when the library's path names such a descriptor.
//!
//! # Safety inside the host program
//!
//! A thread-local guard (a `Cell<bool>` with constant initialisation, which needs neither
//! allocation nor a destructor) marks a thread that is inside one of the exported functions.
//! Calls made while it is set (by the dynamic loader during a lookup, by a signal handler that
//! interrupts the library, or by the C library itself) go straight to the real function without
//! noise. A lookup that re-enters lookups more than once gives up, and the call falls back:
//! `read`, `write`, `sigprocmask` and `pthread_sigmask` become direct system calls, `sigaction`
//! and `signal` go to the C library's `__sigaction` (with the GNU C library), and the thread
//! functions return an error code (`EAGAIN`, `EBUSY`, `EPERM` or `EINVAL`). The noise path never
//! allocates, never panics and preserves `errno`. The functions use the `C-unwind` ABI so that
//! thread cancellation and `pthread_exit` can unwind through them.

use std::cell::{Cell, UnsafeCell};
use std::ffi::{c_char, c_int, c_void, CStr};
use std::mem;
use std::ptr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, AtomicUsize, Ordering};

use libc::{
    pthread_attr_t, pthread_cond_t, pthread_mutex_t, pthread_t, sighandler_t, sigset_t, size_t,
    ssize_t, timespec,
};

/// Base probability of noise when `FLAKEHUNT_NOISE` is unset or invalid.
const DEFAULT_PROBABILITY: f64 = 0.02;
/// Longest sleep when `FLAKEHUNT_NOISE_MAX_US` is unset or invalid.
const DEFAULT_MAX_SLEEP_US: u64 = 200;
/// Upper bound of `FLAKEHUNT_NOISE_MAX_US` (ten seconds).
const MAX_SLEEP_CAP_US: u64 = 10_000_000;
/// Probability factor of `read` and `write`.
const IO_FACTOR: f64 = 0.25;
/// Largest number of priority change points of a thread.
const MAX_CHANGE_POINTS: u64 = 3;
/// Window, in intercepted calls, of a thread's first change point.
const FIRST_WINDOW: u64 = 256;
/// Growth of the change point window after each change point.
const WINDOW_GROWTH: u64 = 4;
/// Room for the statistics path, including its terminating NUL.
const STATS_PATH_CAPACITY: usize = 4096;
/// Nesting of symbol lookups beyond which a lookup gives up.
const MAX_LOOKUP_DEPTH: u8 = 2;

/// Identity of a process's main thread.
const MAIN_IDENTITY: u64 = 0x6d61_696e_7468_7264;
/// Salt of the identities of threads this library did not see being created.
const FOREIGN_SALT: u64 = 0x666f_7265_6967_6e00;
/// Salt of the identities of created threads.
const SPAWN_SALT: u64 = 0x7370_6177_6e65_6400;
/// Salt of the identities of forked children.
const FORK_SALT: u64 = 0x666f_726b_6564_0000;

// ---------------------------------------------------------------------------------------------
// Configuration
// ---------------------------------------------------------------------------------------------

/// `CONFIG_STATE`: nothing loaded yet.
const UNLOADED: u8 = 0;
/// `CONFIG_STATE`: one thread is reading the environment.
const LOADING: u8 = 1;
/// `CONFIG_STATE`: the configuration statics are final.
const READY: u8 = 2;

/// Where the configuration stands: [`UNLOADED`], [`LOADING`] or [`READY`].
static CONFIG_STATE: AtomicU8 = AtomicU8::new(UNLOADED);
/// Base probability, as `f64` bits.
static PROBABILITY_BITS: AtomicU64 = AtomicU64::new(0);
/// Longest sleep in microseconds.
static MAX_SLEEP_US: AtomicU64 = AtomicU64::new(0);
/// Seed of every thread's generator.
static SEED: AtomicU64 = AtomicU64::new(0);
/// Whether the base probability is above zero.
static ENABLED: AtomicBool = AtomicBool::new(false);
/// Whether statistics are kept and written at exit.
static STATS_ENABLED: AtomicBool = AtomicBool::new(false);
/// NUL-terminated statistics path.
static STATS_PATH: StatsPath = StatsPath(UnsafeCell::new([0; STATS_PATH_CAPACITY]));
/// Intercepted calls of this process (counted only with statistics on).
static INTERCEPTED: AtomicU64 = AtomicU64::new(0);
/// Injected yields and sleeps of this process.
static INJECTED: AtomicU64 = AtomicU64::new(0);
/// Threads that got their state without passing through `pthread_create`.
static FOREIGN_THREADS: AtomicU64 = AtomicU64::new(0);

/// Storage of the statistics path.
struct StatsPath(UnsafeCell<[u8; STATS_PATH_CAPACITY]>);

// SAFETY: the buffer is written only by the one thread that moves `CONFIG_STATE` from
// `UNLOADED` to `LOADING`, before it publishes `READY` with release ordering, and read only
// after `READY` has been observed with acquire ordering.
unsafe impl Sync for StatsPath {}

/// Whether the configuration is loaded, loading it if nobody has started to.
///
/// While another thread is loading it this returns `false` and the caller injects nothing.
#[inline]
fn config_ready() -> bool {
    CONFIG_STATE.load(Ordering::Acquire) == READY || load_config()
}

/// Whether noise is on: the configuration is loaded and the probability is above zero.
#[inline]
fn noise_enabled() -> bool {
    config_ready() && ENABLED.load(Ordering::Relaxed)
}

/// The base probability.
#[inline]
fn probability() -> f64 {
    f64::from_bits(PROBABILITY_BITS.load(Ordering::Relaxed))
}

/// Read the configuration from the environment, unless another thread already does.
#[cold]
fn load_config() -> bool {
    if CONFIG_STATE
        .compare_exchange(UNLOADED, LOADING, Ordering::Acquire, Ordering::Acquire)
        .is_err()
    {
        return CONFIG_STATE.load(Ordering::Acquire) == READY;
    }
    // SAFETY: each value is parsed before anything else can change the environment.
    let probability = unsafe { env_bytes(c"FLAKEHUNT_NOISE") }
        .and_then(parse_probability)
        .unwrap_or(DEFAULT_PROBABILITY);
    // SAFETY: as above.
    let max_sleep = unsafe { env_bytes(c"FLAKEHUNT_NOISE_MAX_US") }
        .and_then(parse_u64)
        .map_or(DEFAULT_MAX_SLEEP_US, |us| us.min(MAX_SLEEP_CAP_US));
    // SAFETY: as above.
    let seed = unsafe { env_bytes(c"FLAKEHUNT_SEED") }
        .and_then(parse_u64)
        .unwrap_or_else(default_seed);
    // SAFETY: as above.
    let stats = unsafe { env_bytes(c"FLAKEHUNT_NOISE_STATS") }
        .filter(|path| !path.is_empty() && path.len() < STATS_PATH_CAPACITY);
    if let Some(path) = stats {
        // SAFETY: this thread won the transition to LOADING, so it is the only writer, and
        // nobody reads the buffer before READY is published below.
        let buffer = unsafe { &mut *STATS_PATH.0.get() };
        for (slot, byte) in buffer.iter_mut().zip(path.iter().chain(&[0])) {
            *slot = *byte;
        }
    }
    PROBABILITY_BITS.store(probability.to_bits(), Ordering::Relaxed);
    MAX_SLEEP_US.store(max_sleep, Ordering::Relaxed);
    SEED.store(seed, Ordering::Relaxed);
    ENABLED.store(probability > 0.0, Ordering::Relaxed);
    STATS_ENABLED.store(stats.is_some(), Ordering::Relaxed);
    CONFIG_STATE.store(READY, Ordering::Release);
    true
}

/// The value of environment variable `name`, if set.
///
/// # Safety
///
/// The slice points into the environment: the caller must be done with it before anything
/// can call `setenv`, `putenv` or `unsetenv`.
unsafe fn env_bytes<'a>(name: &CStr) -> Option<&'a [u8]> {
    let value = libc::getenv(name.as_ptr());
    if value.is_null() {
        None
    } else {
        Some(CStr::from_ptr(value).to_bytes())
    }
}

/// Parse a probability: a finite, non-negative float, capped at 1.
fn parse_probability(text: &[u8]) -> Option<f64> {
    let value: f64 = std::str::from_utf8(text).ok()?.trim().parse().ok()?;
    (value.is_finite() && value >= 0.0).then_some(value.min(1.0))
}

/// Parse an unsigned integer, decimal or `0x`-prefixed hexadecimal.
fn parse_u64(text: &[u8]) -> Option<u64> {
    let text = std::str::from_utf8(text).ok()?.trim();
    match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => text.parse().ok(),
    }
}

/// A seed for runs that did not set `FLAKEHUNT_SEED`: the process id and the time.
fn default_seed() -> u64 {
    let mut now = timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `now` is a valid timespec; on failure it stays zero, which is still a seed.
    unsafe { libc::clock_gettime(libc::CLOCK_REALTIME, &mut now) };
    // SAFETY: getpid has no preconditions.
    let pid = unsafe { libc::getpid() } as u64;
    let nanos = (now.tv_sec as u64)
        .wrapping_mul(1_000_000_000)
        .wrapping_add(now.tv_nsec as u64);
    splitmix64(splitmix64(pid) ^ nanos)
}

// ---------------------------------------------------------------------------------------------
// Per-thread decisions
// ---------------------------------------------------------------------------------------------

/// The splitmix64 finaliser: a bijective mix of all 64 bits.
const fn splitmix64(value: u64) -> u64 {
    let mut z = value.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Identity derived from a parent identity, a salt and an ordinal.
const fn derive_identity(parent: u64, salt: u64, ordinal: u64) -> u64 {
    splitmix64(parent ^ splitmix64(salt ^ ordinal))
}

/// Threshold below which a uniform `u64` means "inject", for probability `p`.
fn threshold(p: f64) -> u64 {
    if p >= 1.0 {
        u64::MAX
    } else if p > 0.0 {
        // The cast saturates; 2^64 as f64 is exact.
        (p * 18_446_744_073_709_551_616.0) as u64
    } else {
        0
    }
}

/// What kind of point an intercepted call is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Point {
    /// Thread, lock, condition variable and signal functions.
    Sync,
    /// `read` and `write`.
    Io,
}

/// One injection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Noise {
    /// `sched_yield()`.
    Yield,
    /// `nanosleep` for this many microseconds.
    Sleep(u64),
}

/// A thread's noise state. `Copy` and without a destructor, so that it can live in a
/// constant-initialised thread local.
#[derive(Clone, Copy, Debug)]
struct ThreadState {
    /// Whether the state has been seeded.
    ready: bool,
    /// The thread's identity (see the crate documentation on replay).
    identity: u64,
    /// xorshift64* state, never zero once seeded.
    rng: u64,
    /// Threads this thread has created through `pthread_create`.
    spawned: u64,
    /// Times this thread has called `fork`.
    forks: u64,
    /// Intercepted calls of this thread.
    calls: u64,
    /// Call count at which the next change point falls.
    next_change: u64,
    /// Window of the next change point after this one.
    window: u64,
    /// Change points still to come.
    changes_left: u64,
    /// Injection threshold of synchronisation points at the current priority.
    sync_threshold: u64,
    /// Injection threshold of `read` and `write` at the current priority.
    io_threshold: u64,
}

impl ThreadState {
    /// The state of a thread that has not been seeded yet.
    const UNSEEDED: ThreadState = ThreadState {
        ready: false,
        identity: 0,
        rng: 0,
        spawned: 0,
        forks: 0,
        calls: 0,
        next_change: 0,
        window: 0,
        changes_left: 0,
        sync_threshold: 0,
        io_threshold: 0,
    };

    /// A fresh state for `identity` under `seed`, with base probability `probability`.
    fn seeded(identity: u64, seed: u64, probability: f64) -> ThreadState {
        let mut state = ThreadState {
            ready: true,
            identity,
            rng: splitmix64(seed ^ splitmix64(identity)) | 1,
            ..ThreadState::UNSEEDED
        };
        state.changes_left = 1 + state.next() % MAX_CHANGE_POINTS;
        state.window = FIRST_WINDOW;
        state.next_change = 1 + state.next() % FIRST_WINDOW;
        state.draw_priority(probability);
        state
    }

    /// Next value of the xorshift64* generator.
    fn next(&mut self) -> u64 {
        let mut x = self.rng;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.rng = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Draw a new priority: a log-uniform multiplier in `[0.25, 4]` of the base probability.
    fn draw_priority(&mut self, probability: f64) {
        let unit = (self.next() >> 11) as f64 / (1u64 << 53) as f64;
        let effective = probability * (4.0 * unit - 2.0).exp2();
        self.sync_threshold = threshold(effective);
        self.io_threshold = threshold(effective * IO_FACTOR);
    }

    /// Count one intercepted call and pass a change point if one is due.
    fn tick(&mut self, probability: f64) {
        self.calls = self.calls.wrapping_add(1);
        if self.changes_left > 0 && self.calls >= self.next_change {
            self.changes_left -= 1;
            self.draw_priority(probability);
            self.window = self.window.saturating_mul(WINDOW_GROWTH);
            let offset = 1 + self.next() % self.window;
            self.next_change = self.calls.saturating_add(offset);
        }
    }

    /// Decide whether `point` gets noise, and which.
    fn decide(&mut self, point: Point, max_sleep_us: u64) -> Option<Noise> {
        let limit = match point {
            Point::Sync => self.sync_threshold,
            Point::Io => self.io_threshold,
        };
        if limit == 0 || self.next() >= limit {
            return None;
        }
        let choice = self.next();
        if max_sleep_us == 0 || choice & 1 == 0 {
            Some(Noise::Yield)
        } else {
            Some(Noise::Sleep(1 + (choice >> 1) % max_sleep_us))
        }
    }
}

thread_local! {
    /// Set while the thread is inside an exported function.
    static IN_HOOK: Cell<bool> = const { Cell::new(false) };
    /// Depth of nested symbol lookups of the thread.
    static LOOKUP_DEPTH: Cell<u8> = const { Cell::new(0) };
    /// The thread's noise state.
    static STATE: Cell<ThreadState> = const { Cell::new(ThreadState::UNSEEDED) };
}

/// Take the thread's guard: `true` if this call is the thread's outermost exported call.
#[inline]
fn enter() -> bool {
    IN_HOOK
        .try_with(|guard| !guard.replace(true))
        .unwrap_or(false)
}

/// Release the guard taken by an [`enter`] that returned `true`.
#[inline]
fn leave() {
    let _ = IN_HOOK.try_with(|guard| guard.set(false));
}

/// A state for a thread whose creation this library did not see (the main thread, threads
/// created before the configuration was loaded, threads started by raw `clone`).
fn unseen_thread_state() -> ThreadState {
    // SAFETY: gettid and getpid have no preconditions.
    let is_main = unsafe { libc::syscall(libc::SYS_gettid) == libc::c_long::from(libc::getpid()) };
    let identity = if is_main {
        MAIN_IDENTITY
    } else {
        let ordinal = FOREIGN_THREADS.fetch_add(1, Ordering::Relaxed);
        derive_identity(MAIN_IDENTITY, FOREIGN_SALT, ordinal)
    };
    ThreadState::seeded(identity, SEED.load(Ordering::Relaxed), probability())
}

/// Run `f` on the thread's seeded state (the configuration must be ready).
#[inline]
fn with_state<R>(f: impl FnOnce(&mut ThreadState) -> R) -> Option<R> {
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
fn noise(point: Point, first: bool) {
    if !config_ready() {
        return;
    }
    if first && STATS_ENABLED.load(Ordering::Relaxed) {
        INTERCEPTED.fetch_add(1, Ordering::Relaxed);
    }
    if !ENABLED.load(Ordering::Relaxed) {
        return;
    }
    let max_sleep_us = MAX_SLEEP_US.load(Ordering::Relaxed);
    let decision = with_state(|state| {
        if first {
            state.tick(probability());
        }
        state.decide(point, max_sleep_us)
    });
    if let Some(Some(noise)) = decision {
        inject(noise);
    }
}

/// Yield or sleep, leaving `errno` as it was.
#[cold]
fn inject(noise: Noise) {
    INJECTED.fetch_add(1, Ordering::Relaxed);
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

// ---------------------------------------------------------------------------------------------
// The real functions
// ---------------------------------------------------------------------------------------------

/// A C library function found lazily with `dlsym(RTLD_NEXT, ...)`.
struct Real {
    /// Its name.
    name: &'static CStr,
    /// Version to ask for first (with the GNU C library), for functions with several.
    version: Option<&'static CStr>,
    /// Its address once found, zero before.
    address: AtomicUsize,
}

impl Real {
    /// A function looked up by name.
    const fn new(name: &'static CStr) -> Real {
        Real {
            name,
            version: None,
            address: AtomicUsize::new(0),
        }
    }

    /// A function looked up by name and preferably `version`.
    const fn versioned(name: &'static CStr, version: &'static CStr) -> Real {
        Real {
            name,
            version: Some(version),
            address: AtomicUsize::new(0),
        }
    }

    /// The function's address, looking it up on first use; `None` if it cannot be found now.
    #[inline]
    fn get(&self) -> Option<usize> {
        match self.address.load(Ordering::Acquire) {
            0 => self.resolve(),
            address => Some(address),
        }
    }

    /// Look the function up, holding the guard so that whatever the lookup calls goes straight
    /// to the real functions, and giving up when lookups nest too deeply.
    #[cold]
    fn resolve(&self) -> Option<usize> {
        let depth = LOOKUP_DEPTH
            .try_with(|depth| depth.replace(depth.get().saturating_add(1)))
            .unwrap_or(MAX_LOOKUP_DEPTH);
        let address = if depth < MAX_LOOKUP_DEPTH {
            let outer = enter();
            let address = self.lookup();
            if outer {
                leave();
            }
            address
        } else {
            0
        };
        let _ = LOOKUP_DEPTH.try_with(|d| d.set(depth));
        if address == 0 {
            return None;
        }
        self.address.store(address, Ordering::Release);
        Some(address)
    }

    /// Ask the dynamic loader for the next definition after this library.
    fn lookup(&self) -> usize {
        #[cfg(target_env = "gnu")]
        if let Some(version) = self.version {
            // SAFETY: both strings are NUL-terminated.
            let found =
                unsafe { libc::dlvsym(libc::RTLD_NEXT, self.name.as_ptr(), version.as_ptr()) };
            if !found.is_null() {
                return found as usize;
            }
        }
        // SAFETY: the name is NUL-terminated.
        unsafe { libc::dlsym(libc::RTLD_NEXT, self.name.as_ptr()) as usize }
    }
}

/// Version of the condition variable functions current since 2002 (older ones are compat).
const COND_VERSION: &CStr = c"GLIBC_2.3.2";

static REAL_PTHREAD_CREATE: Real = Real::new(c"pthread_create");
static REAL_PTHREAD_JOIN: Real = Real::new(c"pthread_join");
static REAL_MUTEX_LOCK: Real = Real::new(c"pthread_mutex_lock");
static REAL_MUTEX_TRYLOCK: Real = Real::new(c"pthread_mutex_trylock");
static REAL_MUTEX_UNLOCK: Real = Real::new(c"pthread_mutex_unlock");
static REAL_COND_WAIT: Real = Real::versioned(c"pthread_cond_wait", COND_VERSION);
static REAL_COND_TIMEDWAIT: Real = Real::versioned(c"pthread_cond_timedwait", COND_VERSION);
static REAL_COND_SIGNAL: Real = Real::versioned(c"pthread_cond_signal", COND_VERSION);
static REAL_COND_BROADCAST: Real = Real::versioned(c"pthread_cond_broadcast", COND_VERSION);
static REAL_SIGACTION: Real = Real::new(c"sigaction");
static REAL_SIGNAL: Real = Real::new(c"signal");
static REAL_SIGPROCMASK: Real = Real::new(c"sigprocmask");
static REAL_PTHREAD_SIGMASK: Real = Real::new(c"pthread_sigmask");
static REAL_READ: Real = Real::new(c"read");
static REAL_WRITE: Real = Real::new(c"write");

/// Every real function, locks first (an allocator looked up during a lookup may need them).
static ALL_REAL: [&Real; 15] = [
    &REAL_MUTEX_LOCK,
    &REAL_MUTEX_UNLOCK,
    &REAL_MUTEX_TRYLOCK,
    &REAL_COND_WAIT,
    &REAL_COND_TIMEDWAIT,
    &REAL_COND_SIGNAL,
    &REAL_COND_BROADCAST,
    &REAL_PTHREAD_CREATE,
    &REAL_PTHREAD_JOIN,
    &REAL_SIGACTION,
    &REAL_SIGNAL,
    &REAL_SIGPROCMASK,
    &REAL_PTHREAD_SIGMASK,
    &REAL_READ,
    &REAL_WRITE,
];

/// A thread's start routine.
type StartRoutine = unsafe extern "C-unwind" fn(*mut c_void) -> *mut c_void;
type CreateFn = unsafe extern "C-unwind" fn(
    *mut pthread_t,
    *const pthread_attr_t,
    Option<StartRoutine>,
    *mut c_void,
) -> c_int;
type JoinFn = unsafe extern "C-unwind" fn(pthread_t, *mut *mut c_void) -> c_int;
type MutexFn = unsafe extern "C-unwind" fn(*mut pthread_mutex_t) -> c_int;
type CondWaitFn = unsafe extern "C-unwind" fn(*mut pthread_cond_t, *mut pthread_mutex_t) -> c_int;
type CondTimedWaitFn = unsafe extern "C-unwind" fn(
    *mut pthread_cond_t,
    *mut pthread_mutex_t,
    *const timespec,
) -> c_int;
type CondFn = unsafe extern "C-unwind" fn(*mut pthread_cond_t) -> c_int;
type SigactionFn =
    unsafe extern "C-unwind" fn(c_int, *const libc::sigaction, *mut libc::sigaction) -> c_int;
type SignalFn = unsafe extern "C-unwind" fn(c_int, sighandler_t) -> sighandler_t;
type SigmaskFn = unsafe extern "C-unwind" fn(c_int, *const sigset_t, *mut sigset_t) -> c_int;
type ReadFn = unsafe extern "C-unwind" fn(c_int, *mut c_void, size_t) -> ssize_t;
type WriteFn = unsafe extern "C-unwind" fn(c_int, *const c_void, size_t) -> ssize_t;

/// Run an intercepted call: noise before it (and after it when `after` is set) if this is the
/// thread's outermost exported call, `call` with the real function's address, or `fallback`
/// when the real function cannot be found now.
#[inline(always)]
fn intercept<R>(
    real: &Real,
    point: Point,
    after: bool,
    call: impl FnOnce(usize) -> R,
    fallback: impl FnOnce() -> R,
) -> R {
    let outer = enter();
    let Some(address) = real.get() else {
        if outer {
            leave();
        }
        return fallback();
    };
    if outer {
        noise(point, true);
    }
    let result = call(address);
    if outer {
        if after {
            noise(point, false);
        }
        leave();
    }
    result
}

// ---------------------------------------------------------------------------------------------
// Fallbacks for calls made while a lookup cannot finish
// ---------------------------------------------------------------------------------------------

/// Bytes of the kernel's signal set.
#[cfg(not(any(target_arch = "mips", target_arch = "mips64")))]
const KERNEL_SIGSET_BYTES: usize = 8;
/// Bytes of the kernel's signal set.
#[cfg(any(target_arch = "mips", target_arch = "mips64"))]
const KERNEL_SIGSET_BYTES: usize = 16;

#[cfg(target_env = "gnu")]
extern "C" {
    /// The GNU C library's public alias of `sigaction`, which this library does not export.
    fn __sigaction(
        signum: c_int,
        act: *const libc::sigaction,
        oldact: *mut libc::sigaction,
    ) -> c_int;
}

/// `sigaction` without going through the exported name.
unsafe fn fallback_sigaction(
    signum: c_int,
    act: *const libc::sigaction,
    oldact: *mut libc::sigaction,
) -> c_int {
    #[cfg(target_env = "gnu")]
    {
        __sigaction(signum, act, oldact)
    }
    #[cfg(not(target_env = "gnu"))]
    {
        let _ = (signum, act, oldact);
        *libc::__errno_location() = libc::EAGAIN;
        -1
    }
}

/// `signal` with BSD semantics (as the GNU C library's), built on [`fallback_sigaction`].
unsafe fn fallback_signal(signum: c_int, handler: sighandler_t) -> sighandler_t {
    let mut action: libc::sigaction = mem::zeroed();
    action.sa_sigaction = handler;
    libc::sigemptyset(&mut action.sa_mask);
    if libc::sigaddset(&mut action.sa_mask, signum) != 0 {
        return libc::SIG_ERR;
    }
    action.sa_flags = libc::SA_RESTART;
    let mut previous: libc::sigaction = mem::zeroed();
    if fallback_sigaction(signum, &action, &mut previous) != 0 {
        return libc::SIG_ERR;
    }
    previous.sa_sigaction
}

/// `rt_sigprocmask` as a system call, returning -1 and setting `errno` on failure.
unsafe fn fallback_sigprocmask(how: c_int, set: *const sigset_t, old: *mut sigset_t) -> c_int {
    libc::syscall(libc::SYS_rt_sigprocmask, how, set, old, KERNEL_SIGSET_BYTES) as c_int
}

// ---------------------------------------------------------------------------------------------
// Exported functions
// ---------------------------------------------------------------------------------------------

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
    .unwrap_or_else(|| {
        let ordinal = FOREIGN_THREADS.fetch_add(1, Ordering::Relaxed);
        derive_identity(MAIN_IDENTITY, FOREIGN_SALT, ordinal)
    })
}

/// Start routine of wrapped threads: seed the thread's state, maybe inject noise, run the real
/// routine.
unsafe extern "C-unwind" fn thread_start(block: *mut c_void) -> *mut c_void {
    let SpawnBlock {
        start,
        arg,
        identity,
    } = block.cast::<SpawnBlock>().read();
    libc::free(block);
    let state = ThreadState::seeded(identity, SEED.load(Ordering::Relaxed), probability());
    let _ = STATE.try_with(|cell| cell.set(state));
    if enter() {
        noise(Point::Sync, true);
        leave();
    }
    start(arg)
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
    let Some(address) = REAL_PTHREAD_CREATE.get() else {
        if outer {
            leave();
        }
        return libc::EAGAIN;
    };
    let real = mem::transmute::<usize, CreateFn>(address);
    let mut routine = start;
    let mut argument = arg;
    let mut block: *mut SpawnBlock = ptr::null_mut();
    if outer {
        noise(Point::Sync, true);
        if let (Some(start), true) = (start, noise_enabled()) {
            block = libc::malloc(mem::size_of::<SpawnBlock>()).cast();
            if !block.is_null() {
                let identity = next_child_identity();
                block.write(SpawnBlock {
                    start,
                    arg,
                    identity,
                });
                routine = Some(thread_start);
                argument = block.cast();
            }
        }
    }
    let result = real(thread, attr, routine, argument);
    if result != 0 && !block.is_null() {
        libc::free(block.cast());
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
        false,
        |address| mem::transmute::<usize, JoinFn>(address)(thread, retval),
        || libc::EINVAL,
    )
}

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
        true,
        |address| mem::transmute::<usize, MutexFn>(address)(mutex),
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
        true,
        |address| mem::transmute::<usize, MutexFn>(address)(mutex),
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
        true,
        |address| mem::transmute::<usize, MutexFn>(address)(mutex),
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
        false,
        |address| mem::transmute::<usize, CondWaitFn>(address)(cond, mutex),
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
        false,
        |address| mem::transmute::<usize, CondTimedWaitFn>(address)(cond, mutex, abstime),
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
        true,
        |address| mem::transmute::<usize, CondFn>(address)(cond),
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
        true,
        |address| mem::transmute::<usize, CondFn>(address)(cond),
        || libc::EINVAL,
    )
}

/// Interposed `sigaction`: noise before.
///
/// # Safety
///
/// Same contract as the C library's `sigaction`.
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C-unwind" fn sigaction(
    signum: c_int,
    act: *const libc::sigaction,
    oldact: *mut libc::sigaction,
) -> c_int {
    intercept(
        &REAL_SIGACTION,
        Point::Sync,
        false,
        |address| mem::transmute::<usize, SigactionFn>(address)(signum, act, oldact),
        || fallback_sigaction(signum, act, oldact),
    )
}

/// Interposed `signal`: noise before.
///
/// # Safety
///
/// Same contract as the C library's `signal`.
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C-unwind" fn signal(signum: c_int, handler: sighandler_t) -> sighandler_t {
    intercept(
        &REAL_SIGNAL,
        Point::Sync,
        false,
        |address| mem::transmute::<usize, SignalFn>(address)(signum, handler),
        || fallback_signal(signum, handler),
    )
}

/// Interposed `sigprocmask`: noise before.
///
/// # Safety
///
/// Same contract as the C library's `sigprocmask`.
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C-unwind" fn sigprocmask(
    how: c_int,
    set: *const sigset_t,
    oldset: *mut sigset_t,
) -> c_int {
    intercept(
        &REAL_SIGPROCMASK,
        Point::Sync,
        false,
        |address| mem::transmute::<usize, SigmaskFn>(address)(how, set, oldset),
        || fallback_sigprocmask(how, set, oldset),
    )
}

/// Interposed `pthread_sigmask`: noise before.
///
/// # Safety
///
/// Same contract as the C library's `pthread_sigmask`.
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C-unwind" fn pthread_sigmask(
    how: c_int,
    set: *const sigset_t,
    oldset: *mut sigset_t,
) -> c_int {
    intercept(
        &REAL_PTHREAD_SIGMASK,
        Point::Sync,
        false,
        |address| mem::transmute::<usize, SigmaskFn>(address)(how, set, oldset),
        || {
            if fallback_sigprocmask(how, set, oldset) == 0 {
                0
            } else {
                *libc::__errno_location()
            }
        },
    )
}

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
        |address| mem::transmute::<usize, ReadFn>(address)(fd, buf, count),
        || libc::syscall(libc::SYS_read, fd, buf, count) as ssize_t,
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
        |address| mem::transmute::<usize, WriteFn>(address)(fd, buf, count),
        || libc::syscall(libc::SYS_write, fd, buf, count) as ssize_t,
    )
}

// ---------------------------------------------------------------------------------------------
// Start, fork and exit
// ---------------------------------------------------------------------------------------------

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
static FINISH: extern "C" fn() = write_stats;

/// Load-time initialisation (see [`INITIALISE`]).
#[cfg_attr(test, allow(dead_code))]
extern "C" fn initialise() {
    let outer = enter();
    config_ready();
    for real in &ALL_REAL {
        let _ = real.get();
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
unsafe extern "C" fn before_fork() {
    if !noise_enabled() || IN_HOOK.try_with(Cell::get).unwrap_or(true) {
        return;
    }
    let _ = with_state(|state| state.forks = state.forks.wrapping_add(1));
}

/// Fork handler in the child: reset the counters (the child reports only its own calls) and
/// reseed the thread from an identity derived from the forking thread's.
unsafe extern "C" fn in_fork_child() {
    INTERCEPTED.store(0, Ordering::Relaxed);
    INJECTED.store(0, Ordering::Relaxed);
    if CONFIG_STATE.load(Ordering::Acquire) != READY {
        return;
    }
    let seed = SEED.load(Ordering::Relaxed);
    let base = probability();
    let _ = STATE.try_with(|cell| {
        let state = cell.get();
        if state.ready {
            let identity = derive_identity(state.identity, FORK_SALT, state.forks);
            cell.set(ThreadState::seeded(identity, seed, base));
        }
    });
}

/// Append `intercepted=N injected=M` to the statistics file, if one was asked for.
#[cfg_attr(test, allow(dead_code))]
extern "C" fn write_stats() {
    if CONFIG_STATE.load(Ordering::Acquire) != READY || !STATS_ENABLED.load(Ordering::Relaxed) {
        return;
    }
    let mut line = [0u8; 64];
    let length = stats_line(
        &mut line,
        INTERCEPTED.load(Ordering::Relaxed),
        INJECTED.load(Ordering::Relaxed),
    );
    let path = STATS_PATH.0.get().cast::<c_char>();
    // SAFETY: READY was observed, so the path buffer is final and NUL-terminated.
    let fd = unsafe {
        libc::open(
            path,
            libc::O_WRONLY | libc::O_CREAT | libc::O_APPEND | libc::O_CLOEXEC,
            0o644 as libc::c_uint,
        )
    };
    if fd < 0 {
        return;
    }
    let mut written = 0;
    while written < length {
        let rest = line.get(written..length).unwrap_or(&[]);
        // SAFETY: `rest` is valid for its length; a system call keeps this write out of the
        // noise.
        let result =
            unsafe { libc::syscall(libc::SYS_write, fd, rest.as_ptr(), rest.len()) } as isize;
        if result > 0 {
            written += result as usize;
        } else if result < 0 && unsafe { *libc::__errno_location() } == libc::EINTR {
            continue;
        } else {
            break;
        }
    }
    // SAFETY: `fd` was opened above.
    unsafe { libc::close(fd) };
}

/// Format `intercepted=N injected=M\n` into `buffer`; returns the length.
fn stats_line(buffer: &mut [u8; 64], intercepted: u64, injected: u64) -> usize {
    let mut length = 0;
    let mut push = |bytes: &[u8]| {
        for byte in bytes {
            if let Some(slot) = buffer.get_mut(length) {
                *slot = *byte;
                length += 1;
            }
        }
    };
    let mut digits = [0u8; 20];
    push(b"intercepted=");
    push(decimal(intercepted, &mut digits));
    push(b" injected=");
    push(decimal(injected, &mut digits));
    push(b"\n");
    length
}

/// The decimal digits of `value`, written at the end of `digits`.
fn decimal(mut value: u64, digits: &mut [u8; 20]) -> &[u8] {
    let mut start = digits.len();
    loop {
        start -= 1;
        if let Some(slot) = digits.get_mut(start) {
            *slot = b'0' + (value % 10) as u8;
        }
        value /= 10;
        if value == 0 || start == 0 {
            break;
        }
    }
    digits.get(start..).unwrap_or(&[])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probabilities_parse_and_clamp() {
        assert_eq!(parse_probability(b"0.05"), Some(0.05));
        assert_eq!(parse_probability(b" 1e-3 "), Some(0.001));
        assert_eq!(parse_probability(b"7"), Some(1.0));
        assert_eq!(parse_probability(b"0"), Some(0.0));
        assert_eq!(parse_probability(b"-0.5"), None);
        assert_eq!(parse_probability(b"NaN"), None);
        assert_eq!(parse_probability(b"inf"), None);
        assert_eq!(parse_probability(b"lots"), None);
        assert_eq!(parse_probability(b"\xff"), None);
    }

    #[test]
    fn integers_parse_in_decimal_and_hex() {
        assert_eq!(parse_u64(b"42"), Some(42));
        assert_eq!(parse_u64(b"0x2A"), Some(42));
        assert_eq!(parse_u64(b"0X2a"), Some(42));
        assert_eq!(parse_u64(b"18446744073709551615"), Some(u64::MAX));
        assert_eq!(parse_u64(b"18446744073709551616"), None);
        assert_eq!(parse_u64(b"-1"), None);
        assert_eq!(parse_u64(b""), None);
    }

    #[test]
    fn thresholds_cover_the_unit_interval() {
        assert_eq!(threshold(0.0), 0);
        assert_eq!(threshold(-1.0), 0);
        assert_eq!(threshold(1.0), u64::MAX);
        assert_eq!(threshold(3.0), u64::MAX);
        assert_eq!(threshold(0.5), 1 << 63);
    }

    #[test]
    fn the_same_identity_and_seed_make_the_same_decisions() {
        let run = |identity, seed| {
            let mut state = ThreadState::seeded(identity, seed, 0.3);
            (0..2_000)
                .map(|_| {
                    state.tick(0.3);
                    state.decide(Point::Sync, 200)
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(run(1, 7), run(1, 7));
        assert_ne!(run(1, 7), run(2, 7));
        assert_ne!(run(1, 7), run(1, 8));
    }

    #[test]
    fn priorities_stay_within_a_factor_of_four() {
        for seed in 0..2_000 {
            let state = ThreadState::seeded(MAIN_IDENTITY, seed, 0.1);
            assert!(
                state.sync_threshold >= threshold(0.025) - 1024,
                "seed {seed}"
            );
            assert!(state.sync_threshold <= threshold(0.4) + 1024, "seed {seed}");
            assert!(state.io_threshold <= state.sync_threshold);
        }
    }

    #[test]
    fn priorities_change_at_one_to_three_points() {
        for seed in 0..200 {
            let mut state = ThreadState::seeded(MAIN_IDENTITY, seed, 0.1);
            let mut last = state.sync_threshold;
            let mut changes = 0;
            for _ in 0..1_000_000 {
                state.tick(0.1);
                if state.sync_threshold != last {
                    changes += 1;
                    last = state.sync_threshold;
                }
            }
            assert!((1..=3).contains(&changes), "seed {seed}: {changes} changes");
            assert_eq!(state.changes_left, 0, "seed {seed}");
        }
    }

    #[test]
    fn zero_probability_never_injects() {
        let mut state = ThreadState::seeded(MAIN_IDENTITY, 1, 0.0);
        for _ in 0..10_000 {
            state.tick(0.0);
            assert_eq!(state.decide(Point::Sync, 200), None);
            assert_eq!(state.decide(Point::Io, 200), None);
        }
    }

    #[test]
    fn certain_noise_always_injects_within_bounds() {
        let mut state = ThreadState::seeded(MAIN_IDENTITY, 3, 1.0);
        let mut sleeps = 0;
        for _ in 0..10_000 {
            match state.decide(Point::Sync, 50) {
                Some(Noise::Sleep(us)) => {
                    assert!((1..=50).contains(&us));
                    sleeps += 1;
                }
                Some(Noise::Yield) => {}
                None => panic!("probability 1 must always inject"),
            }
            assert_ne!(state.decide(Point::Sync, 0), Some(Noise::Sleep(0)));
        }
        assert!(sleeps > 4_000 && sleeps < 6_000, "{sleeps} sleeps");
    }

    #[test]
    fn io_points_get_less_noise() {
        let mut state = ThreadState::seeded(MAIN_IDENTITY, 5, 0.4);
        let count = |state: &mut ThreadState, point| {
            (0..100_000)
                .filter(|_| state.decide(point, 10).is_some())
                .count()
        };
        let sync = count(&mut state, Point::Sync);
        let io = count(&mut state, Point::Io);
        assert!(io * 3 < sync, "sync {sync}, io {io}");
    }

    #[test]
    fn child_identities_differ() {
        let a = derive_identity(MAIN_IDENTITY, SPAWN_SALT, 1);
        let b = derive_identity(MAIN_IDENTITY, SPAWN_SALT, 2);
        let c = derive_identity(MAIN_IDENTITY, FORK_SALT, 1);
        assert_ne!(a, b);
        assert_ne!(a, c);
        assert_ne!(a, MAIN_IDENTITY);
    }

    #[test]
    fn stats_lines_are_formatted_without_allocation() {
        let mut buffer = [0u8; 64];
        let length = stats_line(&mut buffer, 0, 0);
        assert_eq!(&buffer[..length], b"intercepted=0 injected=0\n");
        let length = stats_line(&mut buffer, u64::MAX, 1234);
        assert_eq!(
            &buffer[..length],
            b"intercepted=18446744073709551615 injected=1234\n"
        );
    }
}
