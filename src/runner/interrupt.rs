//! Interrupt delivery: SIGINT, SIGTERM and SIGHUP become readable bytes on a pipe that the event
//! loop polls next to the runs, so a Ctrl-C is handled in the loop, never in a signal handler.

use std::io::{self, Read};
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::net::UnixStream;

use signal_hook::low_level::pipe;
use signal_hook::SigId;

/// Registered interrupt signals; unregisters them on drop.
#[derive(Debug)]
pub struct Interrupts {
    read: UnixStream,
    ids: Vec<SigId>,
    seen: bool,
}

impl Interrupts {
    /// Route SIGINT, SIGTERM and SIGHUP to a pipe.
    pub fn register() -> io::Result<Interrupts> {
        let (read, write) = UnixStream::pair()?;
        read.set_nonblocking(true)?;
        let mut ids = Vec::new();
        for signal in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
            ids.push(pipe::register(signal, write.try_clone()?)?);
        }
        Ok(Interrupts {
            read,
            ids,
            seen: false,
        })
    }

    /// The descriptor to poll for readability.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.read.as_fd()
    }

    /// Drain the pipe; true if any interrupt has arrived, now or before.
    pub fn check(&mut self) -> bool {
        let mut buffer = [0u8; 64];
        while let Ok(n) = (&self.read).read(&mut buffer) {
            if n == 0 {
                break;
            }
            self.seen = true;
        }
        self.seen
    }
}

impl Drop for Interrupts {
    fn drop(&mut self) {
        for id in self.ids.drain(..) {
            signal_hook::low_level::unregister(id);
        }
    }
}
