//! Descriptors: the open-file limit (raised for wide campaigns, restored for the programs
//! flakehunt starts) and terminal descriptors that must not leak into runs.

use std::sync::Mutex;

use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};

/// The soft limit flakehunt was started with, once it raised it: runs get it back.
static INHERITED_SOFT: Mutex<Option<u64>> = Mutex::new(None);

/// Why the open-file limit cannot cover what a campaign needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shortfall {
    /// Descriptors needed.
    pub needed: u64,
    /// The most the soft limit can be raised to: the hard limit.
    pub hard: u64,
}

/// The soft and hard limits on open files (`None`: unlimited).
#[cfg(test)]
pub fn open_file_limits() -> (Option<u64>, Option<u64>) {
    let limit = getrlimit(Resource::Nofile);
    (limit.current, limit.maximum)
}

/// Make room for `needed` open descriptors: the soft limit is raised (never above the hard
/// limit) when it is lower. The limit flakehunt started with is remembered for
/// [`inherited_open_file_limit`].
pub fn ensure_open_files(needed: u64) -> Result<(), Shortfall> {
    let limit = getrlimit(Resource::Nofile);
    if limit.current.is_none_or(|soft| soft >= needed) {
        return Ok(());
    }
    if let Some(hard) = limit.maximum.filter(|hard| *hard < needed) {
        return Err(Shortfall { needed, hard });
    }
    let raised = Rlimit {
        current: Some(needed),
        maximum: limit.maximum,
    };
    setrlimit(Resource::Nofile, raised).map_err(|_| Shortfall {
        needed,
        hard: limit.current.unwrap_or(needed),
    })?;
    let mut inherited = INHERITED_SOFT.lock().unwrap_or_else(|e| e.into_inner());
    inherited.get_or_insert(limit.current.unwrap_or(needed));
    Ok(())
}

/// The open-file limit to give the programs flakehunt starts, if flakehunt raised its own: the
/// soft limit it was started with under the current hard limit, so that raising it for a wide
/// campaign does not change what the program under test sees.
pub fn inherited_open_file_limit() -> Option<libc::rlimit> {
    let soft = (*INHERITED_SOFT.lock().unwrap_or_else(|e| e.into_inner()))?;
    let hard = getrlimit(Resource::Nofile).maximum;
    let infinity = libc::RLIM_INFINITY;
    Some(libc::rlimit {
        rlim_cur: soft,
        rlim_max: hard.unwrap_or(infinity),
    })
}

/// How many descriptors this process has open (3 if `/proc` cannot tell).
pub fn open_descriptor_count() -> u64 {
    std::fs::read_dir("/proc/self/fd")
        .map(|entries| entries.count().saturating_sub(1) as u64)
        .unwrap_or(3)
}

/// Mark every inherited terminal descriptor above stderr close-on-exec, so that no program
/// flakehunt starts can write to the terminal through one (a shell may leave one open).
/// flakehunt itself keeps using them.
pub fn keep_terminals_from_children() {
    let Ok(entries) = std::fs::read_dir("/proc/self/fd") else {
        return;
    };
    let fds: Vec<i32> = entries
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse().ok())
        .filter(|fd| *fd > 2)
        .collect();
    for fd in fds {
        // SAFETY: isatty and fcntl on a descriptor number only query or set its flags; a number
        // that is no longer open (the directory listing's own) just fails.
        unsafe {
            if libc::isatty(fd) == 1 {
                let flags = libc::fcntl(fd, libc::F_GETFD);
                if flags >= 0 && flags & libc::FD_CLOEXEC == 0 {
                    libc::fcntl(fd, libc::F_SETFD, flags | libc::FD_CLOEXEC);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_limit_already_high_enough_is_left_alone() {
        let (soft, _) = open_file_limits();
        let needed = soft.unwrap_or(1024).min(16);
        assert_eq!(ensure_open_files(needed), Ok(()));
        assert_eq!(open_file_limits().0, soft);
    }

    #[test]
    fn more_than_the_hard_limit_is_a_shortfall() {
        let (_, hard) = open_file_limits();
        if let Some(hard) = hard {
            let needed = hard + 1;
            assert_eq!(ensure_open_files(needed), Err(Shortfall { needed, hard }));
        }
    }

    #[test]
    fn descriptors_are_counted() {
        assert!(open_descriptor_count() >= 3);
    }
}
