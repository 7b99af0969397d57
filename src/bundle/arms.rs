//! The arms of a hunt split across machines (`hunt --shard K/N --export`): checking that the
//! bundles are arms of one hunt, and comparing the arms as the hunt's own table does.

use std::collections::BTreeMap;

use anyhow::{bail, Result};

use crate::analysis::hunt::{poisson_rate, rate_ratio_per_time, ArmResult, PLAIN};
use crate::analysis::stats::clopper_pearson;
use crate::analysis::summary::CONFIDENCE;
use crate::bundle::read::Bundle;

/// The bundles of one hunt's arms, by arm (None: the arm's bundle is missing).
#[derive(Debug)]
pub struct ArmSet {
    /// The hunt's id.
    pub hunt: String,
    /// Its arms, in order.
    pub arms: Vec<String>,
    /// Each arm's bundle, in the order of `arms`.
    pub bundles: Vec<Option<Bundle>>,
    /// What the user must know: an arm given twice.
    pub warnings: Vec<String>,
}

impl ArmSet {
    /// The arms without a bundle, as `arm K/N (NAME)`.
    pub fn missing(&self) -> Vec<String> {
        let count = self.arms.len();
        self.bundles
            .iter()
            .zip(&self.arms)
            .enumerate()
            .filter(|(_, (bundle, _))| bundle.is_none())
            .map(|(k, (_, arm))| format!("arm {}/{count} ({arm})", k + 1))
            .collect()
    }
}

/// Check that `bundles` are arms of one hunt (same hunt id, arms and command) and sort them
/// by arm; an arm given twice is said and counted once, from its first bundle.
pub fn plan(bundles: Vec<Bundle>) -> Result<ArmSet> {
    let Some(first) = bundles.first() else {
        bail!("no bundles to merge");
    };
    let Some(lead) = first.header.hunt_arm.clone() else {
        bail!(
            "{} is not an arm of a hunt; merge hunt arms and campaign shards separately",
            first.path.display()
        );
    };
    let (first_path, first_command) = (first.path.clone(), first.header.command.clone());
    let mut by_arm: Vec<Option<Bundle>> = lead.arms.iter().map(|_| None).collect();
    let mut warnings = Vec::new();
    for bundle in bundles {
        let Some(arm) = bundle.header.hunt_arm.clone() else {
            bail!(
                "{} is not an arm of a hunt, {} is; merge hunt arms and campaign shards \
                 separately",
                bundle.path.display(),
                first_path.display()
            );
        };
        let differs = if arm.hunt != lead.hunt {
            Some(format!("the hunt id ({} vs {})", lead.hunt, arm.hunt))
        } else if arm.arms != lead.arms {
            Some(format!(
                "the arms ({} vs {})",
                lead.arms.join(";"),
                arm.arms.join(";")
            ))
        } else if bundle.header.command != first_command {
            Some("the command".to_string())
        } else {
            None
        };
        if let Some(what) = differs {
            bail!(
                "{} and {} are not arms of one hunt: {what} differs; nothing merged",
                first_path.display(),
                bundle.path.display()
            );
        }
        let slot = usize::try_from(arm.number)
            .ok()
            .and_then(|n| n.checked_sub(1))
            .filter(|&k| lead.arms.get(k) == Some(&arm.arm));
        let Some(k) = slot else {
            bail!(
                "{}: arm {} '{}' is not one of its hunt's arms: the bundle is corrupt",
                bundle.path.display(),
                arm.number,
                arm.arm
            );
        };
        match &by_arm[k] {
            Some(earlier) => warnings.push(format!(
                "arm {} ({}) is in both {} and {}: counted once, from the first",
                arm.number,
                arm.arm,
                earlier.path.display(),
                bundle.path.display()
            )),
            None => by_arm[k] = Some(bundle),
        }
    }
    Ok(ArmSet {
        hunt: lead.hunt,
        arms: lead.arms,
        bundles: by_arm,
        warnings,
    })
}

/// What one arm did: runs, failures and the wall time they took.
#[derive(Debug, Clone, PartialEq)]
pub struct ArmCount {
    /// The arm (`plain` for none).
    pub arm: String,
    /// Runs.
    pub runs: u64,
    /// Failures.
    pub failures: u64,
    /// Wall time, seconds.
    pub seconds: f64,
    /// Failures per signature id.
    pub signatures: BTreeMap<String, u64>,
}

/// The arms' rates per run and per second with their 95% intervals, and each arm's speedup
/// over plain per second, computed as the hunt computes them.
pub fn results(counts: &[ArmCount]) -> Vec<ArmResult> {
    let plain = counts.iter().find(|count| count.arm == PLAIN);
    counts
        .iter()
        .map(|count| {
            let ratio = plain
                .filter(|plain| plain.arm != count.arm)
                .and_then(|plain| {
                    rate_ratio_per_time(
                        plain.failures,
                        plain.seconds,
                        count.failures,
                        count.seconds,
                        CONFIDENCE,
                    )
                });
            ArmResult {
                shake: count.arm.clone(),
                runs: count.runs,
                failures: count.failures,
                rate: clopper_pearson(count.failures, count.runs, CONFIDENCE),
                elapsed_s: count.seconds,
                per_second: poisson_rate(count.failures, count.seconds, CONFIDENCE),
                speedup: ratio.map(|ratio| ratio.estimate),
                speedup_low: ratio.map(|ratio| ratio.low),
                speedup_high: ratio.map(|ratio| ratio.high),
                signatures: count.signatures.clone(),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(arm: &str, runs: u64, failures: u64, seconds: f64) -> ArmCount {
        ArmCount {
            arm: arm.into(),
            runs,
            failures,
            seconds,
            signatures: BTreeMap::new(),
        }
    }

    #[test]
    fn arms_compare_against_plain_per_second() {
        let results = results(&[
            count(PLAIN, 1000, 2, 100.0),
            count("cpu-load=2", 1000, 20, 50.0),
            count("pin=one-core", 0, 0, 0.0),
        ]);
        assert_eq!(
            results[0].speedup, None,
            "plain is not compared with itself"
        );
        let speedup = results[1].speedup.expect("speedup");
        assert!((speedup - 20.0).abs() < 1e-9, "{speedup}");
        let (low, high) = (
            results[1].speedup_low.expect("low"),
            results[1].speedup_high.expect("high"),
        );
        assert!(low > 1.0 && low < speedup && high > speedup, "{low} {high}");
        assert!((results[1].per_second.estimate - 0.4).abs() < 1e-9);
        assert!(results[1].rate.low < 0.02 && results[1].rate.high > 0.02);
        assert_eq!(results[2].runs, 0);
        assert_eq!(results[2].speedup, None, "no time: nothing to compare");
    }
}
