//! Scheduling-noise preload library (placeholder until the library is embedded).

use std::ffi::{OsStr, OsString};

/// The preload library.
#[derive(Debug)]
pub struct NoiseLibrary;

/// Why the library is unavailable.
#[derive(Debug, thiserror::Error)]
#[error("the noise library is not available in this build")]
pub struct NoiseError;

impl NoiseLibrary {
    /// Load the library.
    pub fn load() -> Result<NoiseLibrary, NoiseError> {
        Err(NoiseError)
    }
}

/// Whether the library is available.
pub fn available() -> bool {
    false
}

/// Environment of a run.
pub fn environment(
    _library: &NoiseLibrary,
    _probability: f64,
    _max_sleep_us: u64,
    _seed: u64,
    _existing_preload: Option<&OsStr>,
) -> Vec<(OsString, OsString)> {
    Vec::new()
}
