//! Sightings: failures found in CI artifacts (or recorded from campaigns), with where they came
//! from. Produced by `ingest`, stored by `store`.

use serde::Serialize;

use crate::record::Signature;

/// Where a sighting came from: what the artifact's path says ([`meta_from_path`](crate::ingest::meta_from_path)), overridden
/// by whatever the user states explicitly.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SourceMeta {
    /// Commit (short or full hex id) the artifact was produced from.
    pub commit: Option<String>,
    /// When the artifact was produced, as written in its path or given by the user.
    pub date: Option<String>,
    /// Platform, builder or CI job that produced the artifact (`windows-amd64-2012`).
    pub platform: Option<String>,
    /// Free-form origin (a CI system, URL or label); never derived from the path.
    pub source: Option<String>,
}

/// One failing test case (or failing log) found in an artifact.
#[derive(Debug, Clone, Serialize)]
pub struct Sighting {
    /// Test name: `classname.name` (or `classname::name` for Rust) for JUnit, `Package.Test`
    /// for Go, `path.to.module.test` for pytest, the package for a Go package that failed as a
    /// whole, empty for a whole log.
    pub test: String,
    /// How it failed: one of the [`outcome`](crate::ingest::outcome) constants.
    pub outcome: String,
    /// The failure message attribute, else the first telling line (lossy UTF-8, trimmed, at
    /// most 1 KiB, no NUL bytes).
    pub message: String,
    /// The essentials of the failure's output ([`snippet`](crate::ingest::snippet)).
    pub snippet: String,
    /// Signature computed from [`signature_label`](crate::ingest::signature_label) of the outcome, the first telling line of
    /// the output (else the message) and the output's last lines.
    pub signature: Signature,
    /// Duration of the test (or attempt) in seconds, when the artifact records it.
    pub duration_s: Option<f64>,
}
