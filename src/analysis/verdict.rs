//! Verdict decisions, free of I/O: how many runs a question needs ([`Plan`]), whether a rerun
//! campaign proves a fix ([`VerifyPlan`] -> [`VerifyOutcome`]), and whether campaign B fails less
//! often than campaign A ([`Comparison`]). All numbers come from [`crate::analysis::stats`].

use thiserror::Error;

use crate::analysis::stats::{
    clean_runs_to_beat_baseline, clean_runs_to_claim, clopper_pearson, fisher_exact, rate_ratio,
    runs_to_observe, runs_to_observe_k, sequential_clean_runs_p, upper_bound, Interval,
};
use crate::analysis::summary::Summary;

/// Why a verdict question cannot be answered from what was given.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum VerdictError {
    /// A plan needs a rate, and the campaign it was to come from never failed.
    #[error("campaign {campaign} saw no failures, so it has no rate to plan with; give --rate")]
    NoRateInCampaign {
        /// The campaign id.
        campaign: String,
    },
    /// A plan was given neither a rate nor a campaign.
    #[error("give --rate (e.g. 1/30000) or --campaign ID")]
    NoRate,
    /// A plan was asked how many runs it takes to reproduce zero times.
    #[error("-k must be at least 1")]
    ZeroTimes,
    /// A fix cannot be verified against a campaign that never failed.
    #[error(
        "baseline campaign {campaign} saw no failures: there is nothing to verify a fix against"
    )]
    CleanBaseline {
        /// The campaign id.
        campaign: String,
    },
    /// The baseline campaign's counts give no finite number of clean runs.
    #[error("the baseline gives no number of runs")]
    BaselineOutOfReach,
    /// The baseline rate gives no finite number of clean runs.
    #[error("that rate gives no number of runs")]
    RateOutOfReach,
    /// One of the campaigns to compare has no finished run.
    #[error("both campaigns need finished runs to compare")]
    NothingToCompare,
}

/// A recorded campaign as a reference point: its counts, speed and signatures.
#[derive(Debug, Clone, PartialEq)]
pub struct Baseline {
    /// Campaign id.
    pub campaign: String,
    /// Runs that finished.
    pub runs: u64,
    /// Failed runs.
    pub failures: u64,
    /// Observed failure rate.
    pub rate: f64,
    /// Throughput of the campaign.
    pub runs_per_second: f64,
    /// Ids of every signature the campaign saw, ignored ones included.
    pub signatures: Vec<String>,
}

impl From<&Summary> for Baseline {
    fn from(summary: &Summary) -> Self {
        Baseline {
            campaign: summary.campaign.clone(),
            runs: summary.runs,
            failures: summary.failures,
            rate: summary.rate.estimate,
            runs_per_second: summary.runs_per_second,
            signatures: summary.signatures.iter().map(|s| s.id.clone()).collect(),
        }
    }
}

/// What `plan` is asked, besides an optional campaign to take the rate and speed from.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PlanRequest {
    /// Failure rate; without it the campaign's rate is used.
    pub rate: Option<f64>,
    /// Confidence of every claim.
    pub confidence: f64,
    /// How many failures to reproduce (besides once).
    pub times: u64,
    /// Throughput; without it the campaign's is used.
    pub runs_per_second: Option<f64>,
}

/// How many runs each question needs at a rate. `None` counts are out of reach.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// The failure rate planned with.
    pub rate: f64,
    /// Confidence of every claim.
    pub confidence: f64,
    /// Throughput for wall-time estimates, if known.
    pub runs_per_second: Option<f64>,
    /// Runs to see the failure at least once.
    pub reproduce_once: Option<u64>,
    /// The `k` of `reproduce_times`.
    pub times: u64,
    /// Runs to see the failure at least `times` times.
    pub reproduce_times: Option<u64>,
    /// Clean runs to claim the rate is below `rate`.
    pub claim_fixed: Option<u64>,
    /// The campaign the plan drew on.
    pub campaign: Option<Baseline>,
    /// Clean runs to show a rate below the campaign's (only when it failed).
    pub beat_baseline: Option<u64>,
}

impl Plan {
    /// The plan for `request`, drawing the rate and speed it lacks from `campaign`.
    pub fn new(request: PlanRequest, campaign: Option<Baseline>) -> Result<Plan, VerdictError> {
        let rate = match (request.rate, &campaign) {
            (Some(rate), _) => rate,
            (None, Some(campaign)) if campaign.failures > 0 => campaign.rate,
            (None, Some(campaign)) => {
                return Err(VerdictError::NoRateInCampaign {
                    campaign: campaign.campaign.clone(),
                })
            }
            (None, None) => return Err(VerdictError::NoRate),
        };
        if request.times == 0 {
            return Err(VerdictError::ZeroTimes);
        }
        let confidence = request.confidence;
        let beat_baseline = campaign
            .as_ref()
            .filter(|campaign| campaign.failures > 0)
            .and_then(|campaign| {
                clean_runs_to_beat_baseline(campaign.failures, campaign.runs, confidence)
            });
        Ok(Plan {
            rate,
            confidence,
            runs_per_second: request
                .runs_per_second
                .or(campaign.as_ref().map(|campaign| campaign.runs_per_second)),
            reproduce_once: runs_to_observe(rate, confidence),
            times: request.times,
            reproduce_times: runs_to_observe_k(rate, request.times, confidence),
            claim_fixed: clean_runs_to_claim(rate, confidence),
            campaign,
            beat_baseline,
        })
    }
}

/// What a fix is verified against.
#[derive(Debug, Clone, PartialEq)]
pub enum Against {
    /// A recorded campaign that failed before the fix.
    Campaign(Baseline),
    /// A failure rate known from elsewhere.
    Rate(f64),
}

/// How many clean runs prove a fix, against what, at which confidence.
#[derive(Debug, Clone, PartialEq)]
pub struct VerifyPlan {
    /// What the fix is measured against.
    pub against: Against,
    /// Confidence required to call it fixed.
    pub confidence: f64,
    /// Clean runs needed.
    pub required: u64,
}

impl VerifyPlan {
    /// Verify against a campaign that failed: the sequential one-sided exact test.
    pub fn against_campaign(baseline: Baseline, confidence: f64) -> Result<Self, VerdictError> {
        if baseline.failures == 0 {
            return Err(VerdictError::CleanBaseline {
                campaign: baseline.campaign,
            });
        }
        let required = clean_runs_to_beat_baseline(baseline.failures, baseline.runs, confidence)
            .ok_or(VerdictError::BaselineOutOfReach)?;
        Ok(VerifyPlan {
            against: Against::Campaign(baseline),
            confidence,
            required,
        })
    }

    /// Verify against a known rate: enough clean runs to bound the rate below it.
    pub fn against_rate(rate: f64, confidence: f64) -> Result<Self, VerdictError> {
        let required = clean_runs_to_claim(rate, confidence).ok_or(VerdictError::RateOutOfReach)?;
        Ok(VerifyPlan {
            against: Against::Rate(rate),
            confidence,
            required,
        })
    }

    /// The baseline campaign, if the fix is measured against one.
    pub fn baseline(&self) -> Option<&Baseline> {
        match &self.against {
            Against::Campaign(baseline) => Some(baseline),
            Against::Rate(_) => None,
        }
    }

    /// Throughput to estimate the wall time with: the baseline campaign's, if any.
    pub fn runs_per_second(&self) -> Option<f64> {
        self.baseline().map(|baseline| baseline.runs_per_second)
    }

    /// The verdict on `campaign`, a rerun that stopped at its first failure or after
    /// [`VerifyPlan::required`] runs.
    pub fn judge(&self, campaign: &Summary) -> VerifyOutcome {
        let clean = campaign.runs - campaign.failures;
        let first = campaign
            .signatures
            .iter()
            .filter(|s| !s.ignored)
            .min_by_key(|s| s.first_run);
        let verdict = match first {
            Some(failure) => {
                let novelty = match self.baseline() {
                    Some(baseline) if baseline.signatures.contains(&failure.id) => Novelty::Known,
                    Some(_) => Novelty::New,
                    None => Novelty::NoBaseline,
                };
                VerifyVerdict::NotFixed(FirstFailure {
                    run: failure.first_run,
                    signature: failure.id.clone(),
                    text: failure.text.clone(),
                    novelty,
                })
            }
            None if clean >= self.required => VerifyVerdict::Fixed {
                upper_bound: upper_bound(0, clean, self.confidence),
            },
            None => VerifyVerdict::Inconclusive,
        };
        let p_value = first.is_none().then(|| match &self.against {
            Against::Campaign(b) => sequential_clean_runs_p(b.failures, b.runs, clean),
            // The chance of that many clean runs in a row were the rate still `rate`.
            Against::Rate(rate) => ((clean as f64) * (-rate).ln_1p()).exp(),
        });
        VerifyOutcome {
            plan: self.clone(),
            verdict,
            campaign: campaign.campaign.clone(),
            runs: campaign.runs,
            failures: campaign.failures,
            clean,
            p_value,
            stop_reason: campaign.stop_reason.clone(),
        }
    }
}

/// How the first failure of a verification relates to the baseline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Novelty {
    /// The baseline campaign saw this signature.
    Known,
    /// The baseline campaign never saw it: the fix may have traded one bug for another.
    New,
    /// There is no baseline campaign to tell.
    NoBaseline,
}

/// The first failure of a verification.
#[derive(Debug, Clone, PartialEq)]
pub struct FirstFailure {
    /// Run index.
    pub run: u64,
    /// Signature id.
    pub signature: String,
    /// Signature text.
    pub text: String,
    /// Whether the baseline saw it.
    pub novelty: Novelty,
}

/// Fixed, not fixed, or not enough runs to tell.
#[derive(Debug, Clone, PartialEq)]
pub enum VerifyVerdict {
    /// Enough clean runs; the rate is now below `upper_bound` at the plan's confidence.
    Fixed {
        /// One-sided upper bound of the rate after the clean runs.
        upper_bound: f64,
    },
    /// A run failed.
    NotFixed(FirstFailure),
    /// The campaign stopped before enough clean runs.
    Inconclusive,
}

impl VerifyVerdict {
    /// The verdict's name in JSON: `fixed`, `not-fixed` or `inconclusive`.
    pub fn as_str(&self) -> &'static str {
        match self {
            VerifyVerdict::Fixed { .. } => "fixed",
            VerifyVerdict::NotFixed(_) => "not-fixed",
            VerifyVerdict::Inconclusive => "inconclusive",
        }
    }
}

/// The result of a verification: the plan, the verdict and the campaign's counts.
#[derive(Debug, Clone, PartialEq)]
pub struct VerifyOutcome {
    /// The plan the campaign ran under.
    pub plan: VerifyPlan,
    /// The verdict.
    pub verdict: VerifyVerdict,
    /// Campaign id of the rerun.
    pub campaign: String,
    /// Runs that finished.
    pub runs: u64,
    /// Failed runs.
    pub failures: u64,
    /// Runs that did not fail.
    pub clean: u64,
    /// One-sided exact p-value, when nothing failed: the sequential conditional test against
    /// a baseline campaign, or the binomial chance of the clean runs at a known rate.
    pub p_value: Option<f64>,
    /// Why the campaign stopped.
    pub stop_reason: String,
}

/// Whether B fails less often than A, at a confidence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// B fails significantly less often.
    Better,
    /// B fails significantly more often.
    Worse,
    /// The difference is within chance.
    Indistinguishable,
}

impl Direction {
    /// The word printed and written to JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Better => "better",
            Direction::Worse => "worse",
            Direction::Indistinguishable => "indistinguishable",
        }
    }
}

/// One campaign of a comparison.
#[derive(Debug, Clone, PartialEq)]
pub struct Side {
    /// Campaign id.
    pub campaign: String,
    /// Runs that finished.
    pub runs: u64,
    /// Failed runs.
    pub failures: u64,
    /// Failure rate with its exact two-sided interval.
    pub rate: Interval,
}

/// One signature compared across the two campaigns.
#[derive(Debug, Clone, PartialEq)]
pub struct SignatureRow {
    /// Signature id.
    pub id: String,
    /// Signature text.
    pub text: String,
    /// Failures with this signature in A.
    pub a: u64,
    /// Failures with this signature in B.
    pub b: u64,
    /// B against A for this signature alone.
    pub verdict: Direction,
    /// Two-sided Fisher exact p-value.
    pub p: f64,
}

/// Campaign B against campaign A, overall and per signature.
#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    /// Confidence of the intervals and verdicts.
    pub confidence: f64,
    /// The first campaign (before).
    pub a: Side,
    /// The second campaign (after).
    pub b: Side,
    /// B against A over all failures.
    pub verdict: Direction,
    /// Two-sided Fisher exact p-value of `verdict`.
    pub p: f64,
    /// One-sided p-value that B fails less often than A.
    pub p_b_less: f64,
    /// B's rate over A's with its interval; `None` when neither failed.
    pub rate_ratio: Option<Interval>,
    /// Every signature counted in either campaign (ignored ones left out), A's first.
    pub signatures: Vec<SignatureRow>,
}

impl Comparison {
    /// Compare B with A; both need finished runs.
    pub fn new(a: &Summary, b: &Summary, confidence: f64) -> Result<Self, VerdictError> {
        if a.runs == 0 || b.runs == 0 {
            return Err(VerdictError::NothingToCompare);
        }
        let judge = |a_failures: u64, b_failures: u64| {
            judge_counts(a_failures, a.runs, b_failures, b.runs, confidence)
        };
        let (verdict, p) = judge(a.failures, b.failures);
        let mut signatures: Vec<SignatureRow> = Vec::new();
        for signature in a.signatures.iter().chain(&b.signatures) {
            if signature.ignored || signatures.iter().any(|row| row.id == signature.id) {
                continue;
            }
            let (in_a, in_b) = (counted(a, &signature.id), counted(b, &signature.id));
            let (verdict, p) = judge(in_a, in_b);
            signatures.push(SignatureRow {
                id: signature.id.clone(),
                text: signature.text.clone(),
                a: in_a,
                b: in_b,
                verdict,
                p,
            });
        }
        let side = |summary: &Summary| Side {
            campaign: summary.campaign.clone(),
            runs: summary.runs,
            failures: summary.failures,
            rate: clopper_pearson(summary.failures, summary.runs, confidence),
        };
        Ok(Comparison {
            confidence,
            a: side(a),
            b: side(b),
            verdict,
            p,
            p_b_less: fisher_exact(a.failures, a.runs, b.failures, b.runs).p_a_greater,
            rate_ratio: rate_ratio(a.failures, a.runs, b.failures, b.runs, confidence),
            signatures,
        })
    }
}

/// B against A from failure counts: a difference counts only when the two-sided Fisher exact
/// p-value is below `1 - confidence`.
fn judge_counts(
    a_failures: u64,
    a_runs: u64,
    b_failures: u64,
    b_runs: u64,
    confidence: f64,
) -> (Direction, f64) {
    let test = fisher_exact(a_failures, a_runs, b_failures, b_runs);
    let rate_a = a_failures as f64 / a_runs as f64;
    let rate_b = b_failures as f64 / b_runs as f64;
    let direction = if test.p_two_sided >= 1.0 - confidence {
        Direction::Indistinguishable
    } else if rate_b < rate_a {
        Direction::Better
    } else {
        Direction::Worse
    };
    (direction, test.p_two_sided)
}

/// Failures a campaign counted under one signature (0 when absent or ignored).
fn counted(summary: &Summary, id: &str) -> u64 {
    summary
        .signatures
        .iter()
        .find(|s| s.id == id && !s.ignored)
        .map_or(0, |s| s.count)
}

#[cfg(test)]
pub(crate) mod tests {
    use std::path::PathBuf;
    use std::time::Duration;

    use super::*;
    use crate::analysis::summary::{Observation, SummaryContext, Tally};
    use crate::record::{FailureKind, Signature, Verdict};
    use xxhash_rust::xxh3::xxh3_64;

    /// A finished campaign of `runs` runs, 10 ms each, in which run `index` failed with
    /// signature `text` for every `(index, text)` of `failures` (`ignored` ones matched
    /// `--ignore`).
    pub(crate) fn campaign(
        id: &str,
        runs: u64,
        failures: &[(u64, &str)],
        ignored: &[(u64, &str)],
        stop_reason: &str,
    ) -> Summary {
        let signature = |text: &str| Signature {
            id: format!("{:016x}", xxh3_64(text.as_bytes()))[..12].to_string(),
            text: text.to_string(),
        };
        let mut tally = Tally::new();
        for index in 0..runs {
            let failed = failures.iter().find(|(run, _)| *run == index);
            let skipped = ignored.iter().find(|(run, _)| *run == index);
            let (verdict, signature) = match (failed, skipped) {
                (Some((_, text)), _) => (Verdict::Fail(FailureKind::Exit), Some(signature(text))),
                (None, Some((_, text))) => {
                    (Verdict::Ignored(FailureKind::Exit), Some(signature(text)))
                }
                (None, None) => (Verdict::Pass, None),
            };
            tally.observe(&Observation {
                index,
                duration: Duration::from_millis(10),
                verdict,
                signature: signature.as_ref(),
                example: None,
                example_line: None,
                leaked_pipes: false,
                kept_pid: None,
            });
        }
        tally.summary(SummaryContext {
            campaign: id.into(),
            command: vec!["./test".into()],
            started_at: "2026-11-30T12:20:00Z".into(),
            elapsed: Duration::from_millis(10 * runs),
            stop_reason: stop_reason.into(),
            interrupted: false,
            cancelled: 0,
            out_dir: PathBuf::from("/nonexistent/out"),
            still_kept: Vec::new(),
        })
    }

    /// `count` failures with signature `text`, spread from run `from` every `step` runs.
    pub(crate) fn spread(from: u64, step: u64, count: u64, text: &str) -> Vec<(u64, &str)> {
        (0..count).map(|i| (from + i * step, text)).collect()
    }

    fn baseline_30_in_1000() -> Baseline {
        Baseline {
            campaign: "base".into(),
            runs: 1000,
            failures: 30,
            rate: 0.03,
            runs_per_second: 100.0,
            signatures: vec!["aaaaaaaaaaaa".into()],
        }
    }

    fn request(rate: Option<f64>) -> PlanRequest {
        PlanRequest {
            rate,
            confidence: 0.95,
            times: 3,
            runs_per_second: None,
        }
    }

    #[test]
    fn plan_from_a_rate_alone() {
        let plan = Plan::new(request(Some(1.0 / 30000.0)), None).expect("plan");
        // ln(0.05) / ln(1 - 1/30000), rounded up.
        assert_eq!(plan.reproduce_once, Some(89_871));
        assert_eq!(plan.claim_fixed, Some(89_871));
        let three = plan.reproduce_times.expect("k runs");
        assert!(three > 89_871 * 2 && three < 89_871 * 4, "{three}");
        assert_eq!(plan.runs_per_second, None);
        assert_eq!(plan.beat_baseline, None);
    }

    #[test]
    fn plan_takes_rate_and_speed_from_a_failing_campaign() {
        let plan = Plan::new(request(None), Some(baseline_30_in_1000())).expect("plan");
        assert_eq!(plan.rate, 0.03);
        assert_eq!(plan.runs_per_second, Some(100.0));
        let beat = plan.beat_baseline.expect("beatable");
        assert_eq!(Some(beat), clean_runs_to_beat_baseline(30, 1000, 0.95));
        // Beating a measured rate takes more runs than beating the same rate taken as exact.
        assert!(beat > plan.claim_fixed.expect("claim"), "{beat}");

        let given = PlanRequest {
            runs_per_second: Some(5.0),
            ..request(Some(0.01))
        };
        let plan = Plan::new(given, Some(baseline_30_in_1000())).expect("plan");
        assert_eq!((plan.rate, plan.runs_per_second), (0.01, Some(5.0)));
    }

    #[test]
    fn plan_refuses_what_it_cannot_answer() {
        let clean = Baseline {
            failures: 0,
            rate: 0.0,
            ..baseline_30_in_1000()
        };
        assert_eq!(
            Plan::new(request(None), Some(clean.clone())),
            Err(VerdictError::NoRateInCampaign {
                campaign: "base".into()
            })
        );
        let plan = Plan::new(request(Some(0.1)), Some(clean)).expect("a given rate suffices");
        assert_eq!(plan.beat_baseline, None);
        assert_eq!(Plan::new(request(None), None), Err(VerdictError::NoRate));
        let zero = PlanRequest {
            times: 0,
            ..request(Some(0.1))
        };
        assert_eq!(Plan::new(zero, None), Err(VerdictError::ZeroTimes));
    }

    #[test]
    fn clean_runs_against_a_baseline_campaign_prove_the_fix() {
        let plan = VerifyPlan::against_campaign(baseline_30_in_1000(), 0.95).expect("plan");
        assert!(plan.required <= 300, "{}", plan.required);
        let outcome = plan.judge(&campaign("after", 300, &[], &[], "300 runs done"));
        let VerifyVerdict::Fixed { upper_bound: bound } = outcome.verdict else {
            panic!("{outcome:?}");
        };
        assert!((bound - upper_bound(0, 300, 0.95)).abs() < 1e-15);
        assert_eq!(outcome.clean, 300);
        let p = outcome.p_value.expect("p against the baseline");
        assert!(p <= 0.05, "{p}");
        assert_eq!(outcome.verdict.as_str(), "fixed");
    }

    #[test]
    fn a_failure_disproves_the_fix_and_tells_whether_it_is_new() {
        let known = "exit 1: known bug";
        let mut baseline = baseline_30_in_1000();
        let summary = campaign("after", 8, &[(7, known)], &[], "1 failure");
        baseline.signatures = vec![summary.signatures[0].id.clone()];
        let plan = VerifyPlan::against_campaign(baseline, 0.95).expect("plan");
        let outcome = plan.judge(&summary);
        let VerifyVerdict::NotFixed(failure) = &outcome.verdict else {
            panic!("{outcome:?}");
        };
        assert_eq!((failure.run, failure.novelty), (7, Novelty::Known));
        assert_eq!(failure.text, known);
        assert_eq!(outcome.p_value, None);
        assert_eq!(outcome.verdict.as_str(), "not-fixed");

        let other = campaign("after", 5, &[(4, "exit 2: other bug")], &[], "1 failure");
        let VerifyVerdict::NotFixed(failure) = plan.judge(&other).verdict else {
            panic!("fixed despite a failure");
        };
        assert_eq!(failure.novelty, Novelty::New);

        let by_rate = VerifyPlan::against_rate(0.1, 0.95).expect("plan");
        let VerifyVerdict::NotFixed(failure) = by_rate.judge(&other).verdict else {
            panic!("fixed despite a failure");
        };
        assert_eq!(failure.novelty, Novelty::NoBaseline);
    }

    #[test]
    fn the_first_counted_failure_decides_and_ignored_ones_do_not() {
        let summary = campaign(
            "after",
            10,
            &[(9, "exit 1: late"), (6, "exit 1: early")],
            &[(2, "exit 1: noise")],
            "2 failures",
        );
        let plan = VerifyPlan::against_rate(0.5, 0.95).expect("plan");
        let VerifyVerdict::NotFixed(failure) = plan.judge(&summary).verdict else {
            panic!("fixed despite failures");
        };
        assert_eq!((failure.run, failure.text.as_str()), (6, "exit 1: early"));

        let only_ignored = campaign("after", 5, &[], &[(2, "exit 1: noise")], "5 runs done");
        let outcome = plan.judge(&only_ignored);
        assert_eq!(outcome.verdict.as_str(), "fixed", "{outcome:?}");
        assert_eq!(outcome.clean, 5);
    }

    #[test]
    fn too_few_clean_runs_are_inconclusive() {
        // 0.5^5 <= 0.05 < 0.5^4
        let plan = VerifyPlan::against_rate(0.5, 0.95).expect("plan");
        assert_eq!(plan.required, 5);
        assert_eq!(plan.runs_per_second(), None);
        let outcome = plan.judge(&campaign("after", 4, &[], &[], "duration reached"));
        assert_eq!(outcome.verdict, VerifyVerdict::Inconclusive);
        assert_eq!(outcome.p_value, Some(0.0625), "0.5^4");

        let plan = VerifyPlan::against_campaign(baseline_30_in_1000(), 0.95).expect("plan");
        assert_eq!(plan.runs_per_second(), Some(100.0));
        let outcome = plan.judge(&campaign("after", 4, &[], &[], "duration reached"));
        assert_eq!(outcome.verdict, VerifyVerdict::Inconclusive);
        assert!(outcome.p_value.expect("p") > 0.05);
    }

    #[test]
    fn verification_refuses_a_clean_baseline() {
        let clean = Baseline {
            failures: 0,
            ..baseline_30_in_1000()
        };
        assert_eq!(
            VerifyPlan::against_campaign(clean, 0.95),
            Err(VerdictError::CleanBaseline {
                campaign: "base".into()
            })
        );
    }

    #[test]
    fn a_clearly_worse_b_is_worse_overall_and_per_signature() {
        let a = campaign("a", 200, &spread(0, 20, 2, "exit 1: race"), &[], "200 runs");
        let mut b_failures = spread(0, 5, 40, "exit 1: race");
        b_failures.push((201, "exit 1: other"));
        let b = campaign("b", 202, &b_failures, &[], "202 runs");
        let comparison = Comparison::new(&a, &b, 0.95).expect("compare");
        assert_eq!(comparison.verdict, Direction::Worse);
        assert!(comparison.p < 0.001, "{}", comparison.p);
        assert!(comparison.p_b_less > 0.99, "{}", comparison.p_b_less);
        let ratio = comparison.rate_ratio.expect("ratio");
        assert!(ratio.low > 1.0, "{ratio:?}");
        let rows: Vec<(&str, u64, u64, Direction)> = comparison
            .signatures
            .iter()
            .map(|row| (row.text.as_str(), row.a, row.b, row.verdict))
            .collect();
        assert_eq!(
            rows,
            [
                ("exit 1: race", 2, 40, Direction::Worse),
                ("exit 1: other", 0, 1, Direction::Indistinguishable),
            ]
        );
    }

    #[test]
    fn a_clearly_better_b_is_better_and_equal_campaigns_are_indistinguishable() {
        let a = campaign("a", 40, &spread(0, 2, 20, "exit 1: bug"), &[], "40 runs");
        let b = campaign(
            "b",
            40,
            &[(39, "exit 1: bug")],
            &[(3, "exit 1: x")],
            "40 runs",
        );
        let comparison = Comparison::new(&a, &b, 0.95).expect("compare");
        assert_eq!(comparison.verdict, Direction::Better);
        assert_eq!(
            comparison.signatures.len(),
            1,
            "ignored signatures are left out"
        );
        assert_eq!(comparison.a.rate.estimate, 0.5);
        assert_eq!(comparison.b.failures, 1);

        let same = Comparison::new(&a, &a, 0.95).expect("compare");
        assert_eq!(same.verdict, Direction::Indistinguishable);
        assert_eq!(same.p, 1.0);
    }

    #[test]
    fn comparison_needs_runs_on_both_sides() {
        let a = campaign("a", 40, &[], &[], "40 runs");
        let empty = campaign("b", 0, &[], &[], "interrupted");
        assert_eq!(
            Comparison::new(&a, &empty, 0.95),
            Err(VerdictError::NothingToCompare)
        );
        let clean = Comparison::new(&a, &a, 0.95).expect("compare");
        assert_eq!(clean.rate_ratio, None);
        assert!(clean.signatures.is_empty());
    }
}
