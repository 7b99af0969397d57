//! The process's statistics: how many calls were intercepted and how many injected noise, and
//! the line appended to the `FLAKEHUNT_NOISE_STATS` file at exit.

use std::sync::atomic::{AtomicU64, Ordering};

use libc::c_long;

use crate::{config, raw};

/// Intercepted calls of this process (counted only with statistics on).
static INTERCEPTED: AtomicU64 = AtomicU64::new(0);
/// Injected yields and sleeps of this process.
static INJECTED: AtomicU64 = AtomicU64::new(0);

/// Count one intercepted call.
#[inline]
pub(crate) fn count_intercepted() {
    INTERCEPTED.fetch_add(1, Ordering::Relaxed);
}

/// Count one injected yield or sleep.
#[inline]
pub(crate) fn count_injected() {
    INJECTED.fetch_add(1, Ordering::Relaxed);
}

/// Forget the counts (a forked child reports only its own calls).
pub(crate) fn reset() {
    INTERCEPTED.store(0, Ordering::Relaxed);
    INJECTED.store(0, Ordering::Relaxed);
}

/// Append `intercepted=N injected=M` to the statistics file, if one was asked for.
#[cfg_attr(test, allow(dead_code))]
pub(crate) extern "C" fn write_stats() {
    let Some(path) = config::stats_path() else {
        return;
    };
    let mut line = [0u8; 64];
    let length = stats_line(
        &mut line,
        INTERCEPTED.load(Ordering::Relaxed),
        INJECTED.load(Ordering::Relaxed),
    );
    // SAFETY: the configuration is loaded, so the path buffer is final and NUL-terminated.
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
        // SAFETY: `rest` is valid for its length; a direct system call keeps this write out of
        // the noise.
        let result = unsafe {
            raw::syscall6(
                libc::SYS_write,
                c_long::from(fd),
                rest.as_ptr() as c_long,
                rest.len() as c_long,
                0,
                0,
                0,
            )
        };
        if result > 0 {
            written += result as usize;
        } else if result != -c_long::from(libc::EINTR) {
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
