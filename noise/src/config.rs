//! The configuration: `FLAKEHUNT_NOISE`, `FLAKEHUNT_NOISE_MAX_US`, `FLAKEHUNT_SEED` and
//! `FLAKEHUNT_NOISE_STATS`, read from the environment once by the first thread that needs them
//! and published through atomics.

use std::cell::UnsafeCell;
use std::ffi::{c_char, CStr};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};

use libc::timespec;

use crate::schedule::splitmix64;

/// Base probability of noise when `FLAKEHUNT_NOISE` is unset or invalid.
const DEFAULT_PROBABILITY: f64 = 0.02;
/// Longest sleep when `FLAKEHUNT_NOISE_MAX_US` is unset or invalid.
const DEFAULT_MAX_SLEEP_US: u64 = 200;
/// Upper bound of `FLAKEHUNT_NOISE_MAX_US` (ten seconds).
const MAX_SLEEP_CAP_US: u64 = 10_000_000;
/// Room for the statistics path, including its terminating NUL.
const STATS_PATH_CAPACITY: usize = 4096;

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
pub(crate) fn config_ready() -> bool {
    is_loaded() || load_config()
}

/// Whether the configuration is loaded, without loading it.
#[inline]
pub(crate) fn is_loaded() -> bool {
    CONFIG_STATE.load(Ordering::Acquire) == READY
}

/// Whether noise is on: the configuration is loaded and the probability is above zero.
#[inline]
pub(crate) fn noise_enabled() -> bool {
    config_ready() && enabled()
}

/// Whether the base probability is above zero (meaningful once the configuration is loaded).
#[inline]
pub(crate) fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

/// The base probability.
#[inline]
pub(crate) fn probability() -> f64 {
    f64::from_bits(PROBABILITY_BITS.load(Ordering::Relaxed))
}

/// The longest sleep in microseconds.
#[inline]
pub(crate) fn max_sleep_us() -> u64 {
    MAX_SLEEP_US.load(Ordering::Relaxed)
}

/// The seed of every thread's generator.
#[inline]
pub(crate) fn seed() -> u64 {
    SEED.load(Ordering::Relaxed)
}

/// Whether statistics are kept (meaningful once the configuration is loaded).
#[inline]
pub(crate) fn stats_enabled() -> bool {
    STATS_ENABLED.load(Ordering::Relaxed)
}

/// The NUL-terminated statistics path, if the configuration is loaded and asks for statistics.
pub(crate) fn stats_path() -> Option<*const c_char> {
    (is_loaded() && stats_enabled()).then(|| STATS_PATH.0.get().cast::<c_char>().cast_const())
}

/// Read the configuration from the environment, unless another thread already does.
#[cold]
fn load_config() -> bool {
    if CONFIG_STATE
        .compare_exchange(UNLOADED, LOADING, Ordering::Acquire, Ordering::Acquire)
        .is_err()
    {
        return is_loaded();
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
    // SAFETY: `name` is NUL-terminated.
    let value = unsafe { libc::getenv(name.as_ptr()) };
    if value.is_null() {
        None
    } else {
        // SAFETY: getenv returned a NUL-terminated string that stays valid as long as the
        // caller promises not to change the environment.
        Some(unsafe { CStr::from_ptr(value) }.to_bytes())
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
}
