//! The C library functions behind the interposed ones: their C types, and where they are,
//! found with `dlsym(RTLD_NEXT, ...)` on first use and cached in atomics.

use std::ffi::{c_int, c_long, c_void, CStr};
use std::marker::PhantomData;
use std::mem;
use std::sync::atomic::{AtomicUsize, Ordering};

use libc::{
    clockid_t, pthread_attr_t, pthread_cond_t, pthread_mutex_t, pthread_t, sighandler_t, sigset_t,
    size_t, ssize_t, timespec,
};

use crate::hook::{enter, leave, LOOKUP_DEPTH};

/// Nesting of symbol lookups beyond which a lookup gives up.
const MAX_LOOKUP_DEPTH: u8 = 2;

/// A C library function of type `F` (a function pointer), found lazily with
/// `dlsym(RTLD_NEXT, ...)`.
pub(crate) struct Real<F> {
    /// Its name.
    name: &'static CStr,
    /// Version to ask for first (with the GNU C library), for functions with several.
    version: Option<&'static CStr>,
    /// Its address once found, zero before.
    address: AtomicUsize,
    /// The function's type.
    function: PhantomData<F>,
}

impl<F: Copy> Real<F> {
    /// A function looked up by name.
    ///
    /// # Safety
    ///
    /// `F` must be a function pointer type matching the C type of the function called `name`.
    const unsafe fn new(name: &'static CStr) -> Real<F> {
        assert!(mem::size_of::<F>() == mem::size_of::<usize>());
        Real {
            name,
            version: None,
            address: AtomicUsize::new(0),
            function: PhantomData,
        }
    }

    /// A function looked up by name and preferably `version`.
    ///
    /// # Safety
    ///
    /// As for [`Real::new`], for that version.
    const unsafe fn versioned(name: &'static CStr, version: &'static CStr) -> Real<F> {
        // SAFETY: the caller's promise is the one `new` asks for.
        let mut real = unsafe { Real::new(name) };
        real.version = Some(version);
        real
    }

    /// The function, looking it up on first use; `None` if it cannot be found now.
    #[inline]
    pub(crate) fn get(&self) -> Option<F> {
        let address = match self.address.load(Ordering::Acquire) {
            0 => self.resolve()?,
            address => address,
        };
        // SAFETY: `address` is the nonzero address of the function the constructor's caller
        // promised has type `F`, a function pointer as wide as `usize`.
        Some(unsafe { mem::transmute_copy::<usize, F>(&address) })
    }
}

impl<F> Real<F> {
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

/// A function that can be looked up ahead of its first use.
pub(crate) trait Resolve: Sync {
    /// Look the function up now unless it already was.
    fn resolve_now(&self);
}

impl<F: Copy + Sync> Resolve for Real<F> {
    fn resolve_now(&self) {
        let _ = self.get();
    }
}

/// A thread's start routine.
pub(crate) type StartRoutine = unsafe extern "C-unwind" fn(*mut c_void) -> *mut c_void;
pub(crate) type CreateFn = unsafe extern "C-unwind" fn(
    *mut pthread_t,
    *const pthread_attr_t,
    Option<StartRoutine>,
    *mut c_void,
) -> c_int;
pub(crate) type JoinFn = unsafe extern "C-unwind" fn(pthread_t, *mut *mut c_void) -> c_int;
pub(crate) type MutexFn = unsafe extern "C-unwind" fn(*mut pthread_mutex_t) -> c_int;
pub(crate) type CondWaitFn =
    unsafe extern "C-unwind" fn(*mut pthread_cond_t, *mut pthread_mutex_t) -> c_int;
pub(crate) type CondTimedWaitFn = unsafe extern "C-unwind" fn(
    *mut pthread_cond_t,
    *mut pthread_mutex_t,
    *const timespec,
) -> c_int;
pub(crate) type CondFn = unsafe extern "C-unwind" fn(*mut pthread_cond_t) -> c_int;
pub(crate) type SigactionFn =
    unsafe extern "C-unwind" fn(c_int, *const libc::sigaction, *mut libc::sigaction) -> c_int;
pub(crate) type SignalFn = unsafe extern "C-unwind" fn(c_int, sighandler_t) -> sighandler_t;
pub(crate) type SigmaskFn =
    unsafe extern "C-unwind" fn(c_int, *const sigset_t, *mut sigset_t) -> c_int;
pub(crate) type ReadFn = unsafe extern "C-unwind" fn(c_int, *mut c_void, size_t) -> ssize_t;
pub(crate) type WriteFn = unsafe extern "C-unwind" fn(c_int, *const c_void, size_t) -> ssize_t;
/// The C library's `syscall`, variadic in C; it never unwinds (it is no cancellation point).
pub(crate) type SyscallFn = unsafe extern "C" fn(c_long, ...) -> c_long;
pub(crate) type YieldFn = unsafe extern "C-unwind" fn() -> c_int;
pub(crate) type NanosleepFn = unsafe extern "C-unwind" fn(*const timespec, *mut timespec) -> c_int;
pub(crate) type ClockNanosleepFn =
    unsafe extern "C-unwind" fn(clockid_t, c_int, *const timespec, *mut timespec) -> c_int;

/// Version of the condition variable functions current since 2002 (older ones are compat).
const COND_VERSION: &CStr = c"GLIBC_2.3.2";

// SAFETY: `CreateFn` is the C type of `pthread_create`.
pub(crate) static REAL_PTHREAD_CREATE: Real<CreateFn> = unsafe { Real::new(c"pthread_create") };
// SAFETY: `JoinFn` is the C type of `pthread_join`.
pub(crate) static REAL_PTHREAD_JOIN: Real<JoinFn> = unsafe { Real::new(c"pthread_join") };
// SAFETY: `MutexFn` is the C type of `pthread_mutex_lock`.
pub(crate) static REAL_MUTEX_LOCK: Real<MutexFn> = unsafe { Real::new(c"pthread_mutex_lock") };
// SAFETY: `MutexFn` is the C type of `pthread_mutex_trylock`.
pub(crate) static REAL_MUTEX_TRYLOCK: Real<MutexFn> =
    unsafe { Real::new(c"pthread_mutex_trylock") };
// SAFETY: `MutexFn` is the C type of `pthread_mutex_unlock`.
pub(crate) static REAL_MUTEX_UNLOCK: Real<MutexFn> = unsafe { Real::new(c"pthread_mutex_unlock") };
// SAFETY: `CondWaitFn` is the C type of `pthread_cond_wait`.
pub(crate) static REAL_COND_WAIT: Real<CondWaitFn> =
    unsafe { Real::versioned(c"pthread_cond_wait", COND_VERSION) };
// SAFETY: `CondTimedWaitFn` is the C type of `pthread_cond_timedwait`.
pub(crate) static REAL_COND_TIMEDWAIT: Real<CondTimedWaitFn> =
    unsafe { Real::versioned(c"pthread_cond_timedwait", COND_VERSION) };
// SAFETY: `CondFn` is the C type of `pthread_cond_signal`.
pub(crate) static REAL_COND_SIGNAL: Real<CondFn> =
    unsafe { Real::versioned(c"pthread_cond_signal", COND_VERSION) };
// SAFETY: `CondFn` is the C type of `pthread_cond_broadcast`.
pub(crate) static REAL_COND_BROADCAST: Real<CondFn> =
    unsafe { Real::versioned(c"pthread_cond_broadcast", COND_VERSION) };
// SAFETY: `SigactionFn` is the C type of `sigaction`.
pub(crate) static REAL_SIGACTION: Real<SigactionFn> = unsafe { Real::new(c"sigaction") };
// SAFETY: `SignalFn` is the C type of `signal`.
pub(crate) static REAL_SIGNAL: Real<SignalFn> = unsafe { Real::new(c"signal") };
// SAFETY: `SigmaskFn` is the C type of `sigprocmask`.
pub(crate) static REAL_SIGPROCMASK: Real<SigmaskFn> = unsafe { Real::new(c"sigprocmask") };
// SAFETY: `SigmaskFn` is the C type of `pthread_sigmask`.
pub(crate) static REAL_PTHREAD_SIGMASK: Real<SigmaskFn> = unsafe { Real::new(c"pthread_sigmask") };
// SAFETY: `ReadFn` is the C type of `read`.
pub(crate) static REAL_READ: Real<ReadFn> = unsafe { Real::new(c"read") };
// SAFETY: `WriteFn` is the C type of `write`.
pub(crate) static REAL_WRITE: Real<WriteFn> = unsafe { Real::new(c"write") };
// SAFETY: `SyscallFn` is the C type of `syscall`.
pub(crate) static REAL_SYSCALL: Real<SyscallFn> = unsafe { Real::new(c"syscall") };
// SAFETY: `YieldFn` is the C type of `sched_yield`.
pub(crate) static REAL_SCHED_YIELD: Real<YieldFn> = unsafe { Real::new(c"sched_yield") };
// SAFETY: `NanosleepFn` is the C type of `nanosleep`.
pub(crate) static REAL_NANOSLEEP: Real<NanosleepFn> = unsafe { Real::new(c"nanosleep") };
// SAFETY: `ClockNanosleepFn` is the C type of `clock_nanosleep`.
pub(crate) static REAL_CLOCK_NANOSLEEP: Real<ClockNanosleepFn> =
    unsafe { Real::new(c"clock_nanosleep") };

/// Every real function, locks first (an allocator looked up during a lookup may need them,
/// through the pthread functions or through futexes).
pub(crate) static ALL_REAL: [&dyn Resolve; 19] = [
    &REAL_MUTEX_LOCK,
    &REAL_MUTEX_UNLOCK,
    &REAL_MUTEX_TRYLOCK,
    &REAL_SYSCALL,
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
    &REAL_SCHED_YIELD,
    &REAL_NANOSLEEP,
    &REAL_CLOCK_NANOSLEEP,
];
