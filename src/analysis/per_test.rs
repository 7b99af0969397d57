//! Per-test results: what each test did in each run of a suite (or of a single test target),
//! tallied into the flake table: runs, failures, failure rate with its interval and the main
//! failure signature of every test.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::analysis::stats::{clopper_pearson, Interval};
use crate::analysis::summary::CONFIDENCE;
use crate::record::Signature;

pub use crate::record::test_result::{TestOutcome, TestStatus};

/// The test target of a campaign, as its summary shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TargetSummary {
    /// `cargo`, `go` or `pytest`.
    pub runner: String,
    /// The test.
    pub test: String,
    /// Its build, for runners that build.
    pub build: Option<BuildSummary>,
}

/// The build that ran before a campaign's runs (not counted in their time).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BuildSummary {
    /// The build command.
    pub command: String,
    /// Seconds it took (for a cached build, the check alone).
    pub seconds: f64,
    /// True when the source state was unchanged and nothing was built.
    pub cached: bool,
}

/// One row of the flake table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TestRow {
    /// The test.
    pub test: String,
    /// Runs that ran it (passed or failed; skips not counted).
    pub runs: u64,
    /// Runs in which it failed.
    pub failures: u64,
    /// Runs in which it was skipped.
    pub skipped: u64,
    /// Failure rate with its exact interval.
    pub rate: Interval,
    /// Its most frequent failure signature.
    pub signature: Option<TestSignature>,
    /// First run (0-based) in which it failed.
    pub first_failure: Option<u64>,
}

impl TestRow {
    /// Failed in some runs and passed in others: the definition of flaky.
    pub fn is_flaky(&self) -> bool {
        self.failures > 0 && self.failures < self.runs
    }
}

/// A test's main failure signature.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TestSignature {
    /// Signature id.
    pub id: String,
    /// Signature text.
    pub text: String,
    /// Failures with this signature.
    pub count: u64,
    /// The failure message of its first occurrence.
    pub message: Option<String>,
}

#[derive(Debug, Default)]
struct TestAccumulator {
    runs: u64,
    failures: u64,
    skipped: u64,
    first_failure: Option<u64>,
    /// Signature id -> (text, count, first message, first run).
    signatures: HashMap<String, (String, u64, Option<String>, u64)>,
}

/// Accumulates per-test outcomes run by run.
#[derive(Debug, Default)]
pub struct TestTally {
    tests: HashMap<String, TestAccumulator>,
}

impl TestTally {
    /// An empty tally.
    pub fn new() -> TestTally {
        TestTally::default()
    }

    /// Count the outcomes of run `index`.
    pub fn add(&mut self, index: u64, outcomes: &[TestOutcome]) {
        for outcome in outcomes {
            let entry = self.tests.entry(outcome.name.clone()).or_default();
            match outcome.status {
                TestStatus::Skip => entry.skipped += 1,
                TestStatus::Pass => entry.runs += 1,
                TestStatus::Fail => {
                    entry.runs += 1;
                    entry.failures += 1;
                    entry.first_failure = Some(entry.first_failure.map_or(index, |f| f.min(index)));
                    if let Some(signature) = &outcome.signature {
                        let slot = entry
                            .signatures
                            .entry(signature.id.clone())
                            .or_insert_with(|| (signature.text.clone(), 0, None, index));
                        slot.1 += 1;
                        if slot.2.is_none() || index < slot.3 {
                            slot.2.clone_from(&outcome.message);
                            slot.3 = index;
                        }
                    }
                }
            }
        }
    }

    /// Add counts already tallied elsewhere (the history's per-test rows).
    pub fn add_counts(&mut self, test: &str, runs: u64, failures: u64, skipped: u64) {
        let entry = self.tests.entry(test.to_string()).or_default();
        entry.runs += runs;
        entry.failures += failures;
        entry.skipped += skipped;
    }

    /// Add failures with a signature already tallied elsewhere (the history's rows).
    pub fn add_signature(
        &mut self,
        test: &str,
        signature: &Signature,
        count: u64,
        message: Option<String>,
    ) {
        let entry = self.tests.entry(test.to_string()).or_default();
        let slot = entry
            .signatures
            .entry(signature.id.clone())
            .or_insert_with(|| (signature.text.clone(), 0, message, u64::MAX));
        slot.1 += count;
    }

    /// The flake table: flaky tests first, then those that always failed (most failures
    /// first), then the rest by name.
    pub fn rows(&self) -> Vec<TestRow> {
        let mut rows: Vec<TestRow> = self
            .tests
            .iter()
            .map(|(test, acc)| {
                let signature = acc
                    .signatures
                    .iter()
                    .max_by(|a, b| {
                        a.1 .1
                            .cmp(&b.1 .1)
                            .then(b.1 .3.cmp(&a.1 .3))
                            .then(b.0.cmp(a.0))
                    })
                    .map(|(id, (text, count, message, _))| TestSignature {
                        id: id.clone(),
                        text: text.clone(),
                        count: *count,
                        message: message.clone(),
                    });
                TestRow {
                    test: test.clone(),
                    runs: acc.runs,
                    failures: acc.failures,
                    skipped: acc.skipped,
                    rate: clopper_pearson(acc.failures, acc.runs, CONFIDENCE),
                    signature,
                    first_failure: acc.first_failure,
                }
            })
            .collect();
        rows.sort_by(|a, b| {
            b.is_flaky()
                .cmp(&a.is_flaky())
                .then(b.failures.cmp(&a.failures))
                .then(b.rate.estimate.total_cmp(&a.rate.estimate))
                .then(a.test.cmp(&b.test))
        });
        rows
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(name: &str, status: TestStatus, signature: Option<&str>) -> TestOutcome {
        TestOutcome {
            name: name.into(),
            status,
            signature: signature.map(|text| Signature {
                id: format!("id-{text}"),
                text: text.into(),
            }),
            message: signature.map(|text| format!("message of {text}")),
        }
    }

    #[test]
    fn rows_count_runs_failures_and_the_main_signature() {
        let mut tally = TestTally::new();
        for index in 0..10 {
            let flaky = match index {
                3 | 7 => outcome("flaky", TestStatus::Fail, Some("boom")),
                5 => outcome("flaky", TestStatus::Fail, Some("other")),
                _ => outcome("flaky", TestStatus::Pass, None),
            };
            tally.add(
                index,
                &[
                    flaky,
                    outcome("stable", TestStatus::Pass, None),
                    outcome("skipped", TestStatus::Skip, None),
                ],
            );
        }
        let rows = tally.rows();
        assert_eq!(
            rows.iter().map(|r| r.test.as_str()).collect::<Vec<_>>(),
            ["flaky", "skipped", "stable"]
        );
        let flaky = &rows[0];
        assert_eq!(
            (flaky.runs, flaky.failures, flaky.first_failure),
            (10, 3, Some(3))
        );
        assert!(flaky.is_flaky());
        let signature = flaky.signature.as_ref().expect("signature");
        assert_eq!((signature.text.as_str(), signature.count), ("boom", 2));
        assert_eq!(signature.message.as_deref(), Some("message of boom"));
        assert!(flaky.rate.low > 0.0 && flaky.rate.high < 1.0);
        assert_eq!((rows[1].runs, rows[1].skipped), (0, 10));
        assert!(!rows[2].is_flaky());
    }

    #[test]
    fn a_test_that_always_fails_is_not_flaky() {
        let mut tally = TestTally::new();
        tally.add(0, &[outcome("broken", TestStatus::Fail, Some("x"))]);
        tally.add(1, &[outcome("broken", TestStatus::Fail, Some("x"))]);
        assert!(!tally.rows()[0].is_flaky());
    }
}
