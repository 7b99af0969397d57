//! Scheduling noise for native programs, loaded with `LD_PRELOAD`.
//!
//! Races hide because the operating system schedules threads in nearly the same order run after
//! run. This library, loaded into a program with `LD_PRELOAD`, shakes that order: at the
//! synchronisation, sleep and I/O points listed below it sometimes yields the CPU or sleeps for a
//! few microseconds before or after (for some points both) handing the call to the C library.
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
//! | `syscall` for `SYS_futex` waits and PI locks, and `SYS_futex_waitv` | before |
//! | `syscall` for `SYS_futex` wakes, requeues, PI unlocks and PI trylocks | before and after |
//! | `sched_yield` | before |
//! | `nanosleep`, `clock_nanosleep` | after |
//! | `read`, `write` | before, with a quarter of the probability |
//!
//! `read` and `write` get less noise because most of them go to regular files, where ordering
//! rarely matters; telling pipes and sockets apart would cost an `fstat` per call.
//!
//! `syscall` is how Rust's `std::sync` (mutexes, condition variables, `Once`, thread parking and
//! so channels) and libstdc++'s atomic waits block and wake: they call the C library's
//! `syscall(SYS_futex, ...)`. Every other system call number, and other futex operations, pass
//! through unchanged and uncounted. `syscall` is exported on x86-64 and AArch64 only, where its
//! variadic arguments travel like named ones. Sleeps get their noise after the call so that
//! absolute sleeps (`TIMER_ABSTIME`) come out longer too.
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
//! Noise is either a yield (`sched_yield`) or a sleep (`clock_nanosleep`) of a uniformly random
//! 1 to `FLAKEHUNT_NOISE_MAX_US` microseconds, each half of the time.
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
//! - Calls that do not go through the exported names: the C library's internal calls (its own
//!   futex waits inside `pthread_*`, and `sleep` and `usleep`, which do not call `nanosleep`),
//!   programs calling the `__`-prefixed aliases (`__pthread_mutex_lock`, `__read`, ...), system
//!   calls made without the C library's `syscall` function (inline `syscall` instructions), and
//!   atomics that never block (a spin loop, an uncontended `std::sync::Mutex`).
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
//! `read`, `write`, `sigprocmask`, `pthread_sigmask`, `syscall`, `sched_yield`, `nanosleep` and
//! `clock_nanosleep` become direct system calls, `sigaction` and `signal` go to the C library's
//! `__sigaction` (with the GNU C library), and the thread functions return an error code
//! (`EAGAIN`, `EBUSY`, `EPERM` or `EINVAL`). The noise path never allocates, never panics and
//! never blocks on a lock; its yields and sleeps are direct system calls, so it never re-enters
//! this library (through `syscall`, `sched_yield` or `nanosleep`) and leaves `errno` alone. The
//! functions use the `C-unwind` ABI so that thread cancellation and `pthread_exit` can unwind
//! through them.

#![deny(unsafe_op_in_unsafe_fn)]

mod config;
mod delay;
mod hook;
pub mod interpose;
mod lifecycle;
mod raw;
mod real;
mod schedule;
mod stats;
