//! Per-test results of one run: which tests of a suite (or the one test of a target) passed,
//! failed or were skipped, each failure with its own signature and message.

use serde::{Deserialize, Serialize};

use crate::record::Signature;

/// How one test ended in one run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TestStatus {
    /// It passed.
    Pass,
    /// It failed (or errored).
    Fail,
    /// It was skipped or ignored.
    Skip,
}

impl TestStatus {
    /// Stable lower-case name, as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            TestStatus::Pass => "pass",
            TestStatus::Fail => "fail",
            TestStatus::Skip => "skip",
        }
    }

    /// Parse a name written by [`TestStatus::as_str`].
    pub fn parse(name: &str) -> Option<TestStatus> {
        match name {
            "pass" => Some(TestStatus::Pass),
            "fail" => Some(TestStatus::Fail),
            "skip" => Some(TestStatus::Skip),
            _ => None,
        }
    }
}

/// One test's result in one run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestOutcome {
    /// The test, as its runner names it.
    pub name: String,
    /// How it ended.
    pub status: TestStatus,
    /// Its own failure signature (failed tests).
    pub signature: Option<Signature>,
    /// Its own failure message (failed tests).
    pub message: Option<String>,
}
