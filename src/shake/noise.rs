//! The scheduling-noise preload library, embedded in the flakehunt binary.
//!
//! The build script builds the workspace crate `flakehunt-noise` (see its documentation for
//! what it intercepts, how it decides and what it cannot reach) into a shared library, and this
//! module embeds its bytes. At run time [`NoiseLibrary::load`] copies them into an anonymous
//! in-memory file (`memfd_create`), so nothing is ever written to disk and nothing is left
//! behind however flakehunt ends. Runs preload the library through `/proc/self/fd/N`: the
//! descriptor is deliberately not close-on-exec, so every run (and every process a run starts,
//! unless something closes inherited descriptors) has the same descriptor number and the path
//! names the same library in each of them.
//!
//! The library only shakes programs that call the C library's thread, signal, sleep and I/O
//! functions, or its `syscall` for futexes (as Rust's `std::sync` does), through the dynamic
//! loader: statically linked programs, Go programs (raw system calls), setuid programs (the
//! loader ignores `LD_PRELOAD`) and code that makes futex calls without the C library are not
//! covered by it.
//!
//! When the build script could not build the library it embeds an empty file instead;
//! [`available`] then returns `false` and [`NoiseLibrary::load`] fails with
//! [`NoiseError::NotAvailable`].

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::{self, Write};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};

use rustix::fs::{fcntl_add_seals, memfd_create, MemfdFlags, SealFlags};

/// The library's bytes (empty when the build could not produce it).
static EMBEDDED: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/libflakehunt_noise.so"));

/// Environment variable holding the base noise probability.
pub const PROBABILITY_VAR: &str = "FLAKEHUNT_NOISE";
/// Environment variable holding the longest injected sleep in microseconds.
pub const MAX_SLEEP_VAR: &str = "FLAKEHUNT_NOISE_MAX_US";
/// Environment variable holding the seed of the library's decisions.
pub const SEED_VAR: &str = "FLAKEHUNT_SEED";
/// Environment variable naming a file to which each process appends its statistics line.
pub const STATS_VAR: &str = "FLAKEHUNT_NOISE_STATS";

/// Whether this build embeds the preload library.
pub fn available() -> bool {
    !EMBEDDED.is_empty()
}

/// Why the preload library cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum NoiseError {
    /// The build could not produce the library (see the build's warnings).
    #[error("the scheduling-noise library is not available in this build")]
    NotAvailable,
    /// `memfd_create` failed.
    #[error("cannot create an in-memory file for the noise library: {0}")]
    Create(io::Error),
    /// Copying the bytes into the in-memory file failed.
    #[error("cannot write the noise library into memory: {0}")]
    Write(io::Error),
    /// Sealing the in-memory file against changes failed.
    #[error("cannot seal the in-memory noise library: {0}")]
    Seal(io::Error),
}

/// The preload library, materialised in a memfd (no file on disk).
///
/// Load it once per process and share it between runs: each load makes a new in-memory copy.
/// The file is sealed, so no run can alter what the others load. Dropping the value closes the
/// descriptor: runs already started keep the library they loaded, runs started later cannot
/// preload it.
#[derive(Debug)]
pub struct NoiseLibrary {
    fd: OwnedFd,
}

impl NoiseLibrary {
    /// Copy the embedded library into a new, sealed, in-memory file whose descriptor children
    /// inherit (it is not close-on-exec).
    pub fn load() -> Result<NoiseLibrary, NoiseError> {
        if !available() {
            return Err(NoiseError::NotAvailable);
        }
        // No CLOEXEC: runs find the library through this descriptor.
        let fd = memfd_create("flakehunt-noise", MemfdFlags::ALLOW_SEALING)
            .map_err(|error| NoiseError::Create(error.into()))?;
        let mut file = File::from(fd);
        file.write_all(EMBEDDED).map_err(NoiseError::Write)?;
        let fd = OwnedFd::from(file);
        fcntl_add_seals(
            &fd,
            SealFlags::SEAL | SealFlags::SHRINK | SealFlags::GROW | SealFlags::WRITE,
        )
        .map_err(|error| NoiseError::Seal(error.into()))?;
        Ok(NoiseLibrary { fd })
    }

    /// The path to put in `LD_PRELOAD`: `/proc/self/fd/N`.
    ///
    /// It is only meaningful in this process and in processes that inherited the descriptor:
    /// each of them resolves `/proc/self` to itself and finds the library at the same number.
    /// A child that closes inherited descriptors before starting its own children loses the
    /// library in them (the dynamic loader prints a warning and runs them without it).
    pub fn preload_path(&self) -> String {
        format!("/proc/self/fd/{}", self.fd.as_raw_fd())
    }

    /// The descriptor of the in-memory file.
    pub fn fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

/// Environment for a run under the library: `LD_PRELOAD` (the library first, then any
/// `existing_preload`), `FLAKEHUNT_NOISE`, `FLAKEHUNT_NOISE_MAX_US` and `FLAKEHUNT_SEED`.
///
/// The library clamps the probability to `[0, 1]` and the sleep to ten seconds; a probability
/// of zero loads the library without injecting anything.
pub fn environment(
    library: &NoiseLibrary,
    probability: f64,
    max_sleep_us: u64,
    seed: u64,
    existing_preload: Option<&OsStr>,
) -> Vec<(OsString, OsString)> {
    let mut preload = OsString::from(library.preload_path());
    if let Some(existing) = existing_preload.filter(|existing| !existing.is_empty()) {
        preload.push(":");
        preload.push(existing);
    }
    vec![
        ("LD_PRELOAD".into(), preload),
        (PROBABILITY_VAR.into(), probability.to_string().into()),
        (MAX_SLEEP_VAR.into(), max_sleep_us.to_string().into()),
        (SEED_VAR.into(), seed.to_string().into()),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_library_is_embedded_and_is_an_elf_shared_object() {
        assert!(
            available(),
            "the build script could not build the noise library"
        );
        assert_eq!(EMBEDDED.get(..4), Some(&b"\x7fELF"[..]));
    }

    #[test]
    fn loading_makes_an_inheritable_sealed_memfd() {
        let library = NoiseLibrary::load().expect("load the noise library");
        let path = library.preload_path();
        assert_eq!(path, format!("/proc/self/fd/{}", library.fd()));
        assert_eq!(std::fs::read(&path).expect("read it back"), EMBEDDED);
        // SAFETY: F_GETFD on an open descriptor.
        let flags = unsafe { libc::fcntl(library.fd(), libc::F_GETFD) };
        assert_eq!(
            flags & libc::FD_CLOEXEC,
            0,
            "the descriptor must survive exec"
        );
        let write = std::fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .and_then(|mut file| file.write_all(b"x"));
        assert!(write.is_err(), "the sealed library must not be writable");
    }

    #[test]
    fn environment_prepends_the_library_to_ld_preload() {
        let library = NoiseLibrary::load().expect("load the noise library");
        let path = library.preload_path();
        let lookup = |env: &[(OsString, OsString)], key: &str| {
            env.iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.to_string_lossy().into_owned())
        };
        let env = environment(&library, 0.05, 200, 42, None);
        assert_eq!(env.len(), 4);
        assert_eq!(lookup(&env, "LD_PRELOAD"), Some(path.clone()));
        assert_eq!(lookup(&env, "FLAKEHUNT_NOISE").as_deref(), Some("0.05"));
        assert_eq!(
            lookup(&env, "FLAKEHUNT_NOISE_MAX_US").as_deref(),
            Some("200")
        );
        assert_eq!(lookup(&env, "FLAKEHUNT_SEED").as_deref(), Some("42"));
        let env = environment(
            &library,
            1.0,
            0,
            u64::MAX,
            Some(OsStr::new("/lib/other.so")),
        );
        assert_eq!(
            lookup(&env, "LD_PRELOAD"),
            Some(format!("{path}:/lib/other.so"))
        );
        assert_eq!(lookup(&env, "FLAKEHUNT_NOISE").as_deref(), Some("1"));
        assert_eq!(
            lookup(&env, "FLAKEHUNT_SEED").as_deref(),
            Some("18446744073709551615")
        );
        let env = environment(&library, 0.5, 1, 0, Some(OsStr::new("")));
        assert_eq!(lookup(&env, "LD_PRELOAD"), Some(path));
    }
}
