//! Thin, safe wrappers over the operating-system calls flakehunt makes in more than one place:
//! signal names, signalling and liveness of processes and process groups, CPU placement and
//! scheduling of the calling thread, and descriptor limits.

pub mod fd;
pub mod process;
pub mod sched;
pub mod signal;

/// The `errno` a failed libc call left, as rustix's error type. Async-signal-safe: it only reads
/// the calling thread's `errno`.
#[inline]
fn last_errno() -> rustix::io::Errno {
    let raw = std::io::Error::last_os_error().raw_os_error();
    rustix::io::Errno::from_raw_os_error(raw.unwrap_or(libc::EINVAL))
}
