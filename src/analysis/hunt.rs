//! The hunt bandit: which perturbation arm gets the next batch of runs, when the hunt stops,
//! and the final ranking (rates, speedups over plain, failure modes an arm made disappear).
//! Pure bookkeeping: batch outcomes and elapsed time come in as data.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::analysis::stats::{clopper_pearson, rate_ratio, upper_bound, Interval};

/// The arm that runs the program undisturbed; speedups are relative to it.
pub const PLAIN: &str = "plain";

/// Confidence of every interval and bound the hunt computes.
const CONFIDENCE: f64 = 0.95;

/// A signature absent from an arm counts as made to disappear when, at the reference rate, the
/// chance of seeing none of it in that arm's runs is below this.
const SUPPRESSION_P: f64 = 0.05;

/// Index of an arm, in the order the arms were given.
pub type ArmId = usize;

/// How much the hunt may spend in all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Budget {
    /// Wall time since the hunt started.
    Time(Duration),
    /// Runs over all arms.
    Runs(u64),
}

/// The hunt's rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// Stop once one arm has this many failures.
    pub failures: u64,
    /// The total budget.
    pub budget: Budget,
    /// Runs per batch given to the chosen arm.
    pub batch: u64,
}

/// A policy or arm list the bandit cannot work with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    /// No arm to try.
    #[error("the hunt has no arm to try")]
    NoArms,
    /// A failure target of 0 would stop before anything ran.
    #[error("the hunt's failure target must be at least 1")]
    NoFailureTarget,
    /// Batches of 0 runs would never progress.
    #[error("the hunt's batches must have at least 1 run")]
    EmptyBatch,
    /// A budget of nothing.
    #[error("the hunt's budget must be more than nothing")]
    EmptyBudget,
}

/// The batch the bandit wants run next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Batch {
    /// The arm that runs it.
    pub arm: ArmId,
    /// Runs to do (the batch size, cut to what is left of a run budget).
    pub runs: u64,
    /// Stop the batch after this many failures (the arm's distance to the failure target).
    pub max_failures: u64,
    /// Stop the batch after this long (what is left of a time budget).
    pub time_left: Option<Duration>,
}

/// Why the hunt is over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// An arm reached the failure target.
    FailuresReached(ArmId),
    /// The run or time budget is spent.
    BudgetSpent,
    /// The last batch was interrupted (Ctrl-C or a signal).
    Interrupted,
    /// The last batch ran nothing (the budget ended inside it); stopping rather than spinning.
    NothingRan,
}

/// What to do next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Run this batch and [`Bandit::record`] its result.
    Run(Batch),
    /// The hunt is over.
    Stop(Stop),
}

/// Failures of one signature within a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureCount {
    /// Signature id.
    pub id: String,
    /// Signature text.
    pub text: String,
    /// Failures with it.
    pub count: u64,
}

/// What a batch did.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct BatchResult {
    /// Runs finished.
    pub runs: u64,
    /// Failures among them.
    pub failures: u64,
    /// Wall time the batch took.
    pub elapsed: Duration,
    /// Failures per signature (ignored failures left out).
    pub signatures: Vec<SignatureCount>,
    /// The batch was interrupted.
    pub interrupted: bool,
}

/// One arm's running tally.
#[derive(Debug, Clone, PartialEq)]
pub struct ArmTally {
    /// The perturbation (`plain` for none).
    pub shake: String,
    /// Runs.
    pub runs: u64,
    /// Failures.
    pub failures: u64,
    /// Failures per signature id.
    pub signatures: BTreeMap<String, u64>,
    /// Wall time spent on this arm, seconds.
    pub elapsed_s: f64,
}

/// One arm's final result (also the shape stored in the history).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ArmResult {
    /// The perturbation (`plain` for none).
    pub shake: String,
    /// Runs.
    pub runs: u64,
    /// Failures.
    pub failures: u64,
    /// Failure rate with its 95% interval.
    pub rate: Interval,
    /// Rate relative to plain (None while either is unknown; infinite when plain never failed).
    pub speedup: Option<f64>,
    /// Lower end of the speedup's 95% interval.
    pub speedup_low: Option<f64>,
    /// Failures per signature id.
    pub signatures: BTreeMap<String, u64>,
    /// Wall time spent on this arm, seconds.
    pub elapsed_s: f64,
}

/// A failure mode that an arm made disappear.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Suppressed {
    /// The arm.
    pub shake: String,
    /// Signature id.
    pub signature: String,
    /// Signature text.
    pub text: String,
    /// Failures expected from the rate seen elsewhere.
    pub expected: f64,
}

/// The finished hunt.
#[derive(Debug, Clone, PartialEq)]
pub struct HuntOutcome {
    /// Every arm, in the order given.
    pub arms: Vec<ArmResult>,
    /// The arm that reproduces best (highest lower rate bound), if any failed.
    pub best: Option<String>,
    /// Runs over all arms.
    pub runs: u64,
    /// The hunt ended on an interrupted batch.
    pub interrupted: bool,
    /// Failure modes that disappeared under some arm.
    pub suppressed: Vec<Suppressed>,
}

/// An optimistic bandit over perturbation arms: the arm whose failure rate could be highest
/// (the upper end of its exact interval) runs next, so arms that reproduce get the runs.
#[derive(Debug, Clone)]
pub struct Bandit {
    policy: Policy,
    arms: Vec<ArmTally>,
    /// Text of every signature seen, by id.
    texts: BTreeMap<String, String>,
    total_runs: u64,
    interrupted: bool,
    nothing_ran: bool,
}

impl Bandit {
    /// A bandit over `arms` (shake texts, `plain` for none) following `policy`.
    pub fn new(arms: Vec<String>, policy: Policy) -> Result<Bandit, PolicyError> {
        if arms.is_empty() {
            return Err(PolicyError::NoArms);
        }
        if policy.failures == 0 {
            return Err(PolicyError::NoFailureTarget);
        }
        if policy.batch == 0 {
            return Err(PolicyError::EmptyBatch);
        }
        if matches!(policy.budget, Budget::Runs(0)) || policy.budget == Budget::Time(Duration::ZERO)
        {
            return Err(PolicyError::EmptyBudget);
        }
        let arms = arms
            .into_iter()
            .map(|shake| ArmTally {
                shake,
                runs: 0,
                failures: 0,
                signatures: BTreeMap::new(),
                elapsed_s: 0.0,
            })
            .collect();
        Ok(Bandit {
            policy,
            arms,
            texts: BTreeMap::new(),
            total_runs: 0,
            interrupted: false,
            nothing_ran: false,
        })
    }

    /// The arms' tallies so far, in the order given.
    pub fn arms(&self) -> &[ArmTally] {
        &self.arms
    }

    /// Runs over all arms so far.
    #[cfg(test)]
    pub fn total_runs(&self) -> u64 {
        self.total_runs
    }

    /// The arm the policy picks: the highest upper rate bound; among equals the one with fewer
    /// runs, then the one listed first. Untried arms (bound 1) thus go first in the order listed,
    /// so plain, listed first by default, sets the baseline for speedups.
    pub fn next_arm(&self) -> ArmId {
        let score = |arm: &ArmTally| upper_bound(arm.failures, arm.runs, CONFIDENCE);
        (0..self.arms.len())
            .max_by(|&a, &b| {
                let (arm_a, arm_b) = (&self.arms[a], &self.arms[b]);
                score(arm_a)
                    .total_cmp(&score(arm_b))
                    .then(arm_b.runs.cmp(&arm_a.runs))
                    .then(b.cmp(&a))
            })
            .unwrap_or(0)
    }

    /// The next batch, or why the hunt is over; `spent` is the time since the hunt started.
    pub fn next(&self, spent: Duration) -> Next {
        if self.interrupted {
            return Next::Stop(Stop::Interrupted);
        }
        if self.nothing_ran {
            return Next::Stop(Stop::NothingRan);
        }
        if let Some(done) = self
            .arms
            .iter()
            .position(|arm| arm.failures >= self.policy.failures)
        {
            return Next::Stop(Stop::FailuresReached(done));
        }
        let (runs, time_left) = match self.policy.budget {
            Budget::Time(limit) => {
                let left = limit.saturating_sub(spent);
                if left.is_zero() {
                    return Next::Stop(Stop::BudgetSpent);
                }
                (self.policy.batch, Some(left))
            }
            Budget::Runs(limit) => {
                if self.total_runs >= limit {
                    return Next::Stop(Stop::BudgetSpent);
                }
                (self.policy.batch.min(limit - self.total_runs), None)
            }
        };
        let arm = self.next_arm();
        Next::Run(Batch {
            arm,
            runs,
            max_failures: self.policy.failures - self.arms[arm].failures,
            time_left,
        })
    }

    /// Count a batch's result to `arm`; returns the arm's updated tally.
    pub fn record(&mut self, arm: ArmId, result: BatchResult) -> &ArmTally {
        let tally = &mut self.arms[arm];
        tally.runs += result.runs;
        tally.failures += result.failures;
        tally.elapsed_s += result.elapsed.as_secs_f64();
        for signature in result.signatures {
            *tally.signatures.entry(signature.id.clone()).or_default() += signature.count;
            self.texts.entry(signature.id).or_insert(signature.text);
        }
        self.total_runs += result.runs;
        self.interrupted |= result.interrupted;
        self.nothing_ran = result.runs == 0;
        &self.arms[arm]
    }

    /// The final ranking: rates with intervals, speedups over plain, the best arm, and the
    /// failure modes that disappeared.
    pub fn outcome(&self) -> HuntOutcome {
        let plain = self
            .arms
            .iter()
            .find(|arm| arm.shake == PLAIN)
            .map(|arm| (arm.failures, arm.runs));
        let arms: Vec<ArmResult> = self.arms.iter().map(|arm| arm_result(arm, plain)).collect();
        let best = arms
            .iter()
            .filter(|arm| arm.failures > 0)
            .max_by(|a, b| {
                a.rate
                    .low
                    .total_cmp(&b.rate.low)
                    .then(a.rate.estimate.total_cmp(&b.rate.estimate))
            })
            .map(|arm| arm.shake.clone());
        HuntOutcome {
            suppressed: find_suppressed(&self.arms, &self.texts),
            arms,
            best,
            runs: self.total_runs,
            interrupted: self.interrupted,
        }
    }
}

/// An arm's rate and its speedup over plain (`plain` is plain's failures and runs, if it ran).
fn arm_result(arm: &ArmTally, plain: Option<(u64, u64)>) -> ArmResult {
    let ratio = match plain {
        Some((plain_failures, plain_runs))
            if arm.shake != PLAIN && arm.runs > 0 && plain_runs > 0 =>
        {
            rate_ratio(
                plain_failures,
                plain_runs,
                arm.failures,
                arm.runs,
                CONFIDENCE,
            )
        }
        _ => None,
    };
    ArmResult {
        shake: arm.shake.clone(),
        runs: arm.runs,
        failures: arm.failures,
        rate: clopper_pearson(arm.failures, arm.runs, CONFIDENCE),
        speedup: ratio.map(|ratio| ratio.estimate),
        speedup_low: ratio.map(|ratio| ratio.low),
        signatures: arm.signatures.clone(),
        elapsed_s: arm.elapsed_s,
    }
}

/// Signatures an arm never showed although other arms' rates say it should have (p < 0.05).
fn find_suppressed(arms: &[ArmTally], texts: &BTreeMap<String, String>) -> Vec<Suppressed> {
    let mut found = Vec::new();
    for (id, text) in texts {
        // The reference rate: plain's when plain ran (the program undisturbed), else the highest
        // rate at which any arm showed this signature.
        let rate_in =
            |arm: &ArmTally| arm.signatures.get(id).copied().unwrap_or(0) as f64 / arm.runs as f64;
        let plain = arms.iter().find(|arm| arm.shake == PLAIN && arm.runs > 0);
        let reference = match plain {
            Some(plain) => Some(rate_in(plain)),
            None => arms
                .iter()
                .filter(|arm| arm.runs > 0)
                .map(rate_in)
                .max_by(f64::total_cmp),
        };
        let Some(rate) = reference.filter(|rate| *rate > 0.0) else {
            continue;
        };
        for arm in arms
            .iter()
            .filter(|arm| arm.runs > 0 && !arm.signatures.contains_key(id))
        {
            let p_zero = (1.0 - rate).powf(arm.runs as f64);
            if p_zero < SUPPRESSION_P {
                found.push(Suppressed {
                    shake: arm.shake.clone(),
                    signature: id.clone(),
                    text: text.clone(),
                    expected: rate * arm.runs as f64,
                });
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    /// SplitMix64: a tiny, well-mixed generator, so that every simulated hunt is reproducible.
    struct SplitMix64(u64);

    impl SplitMix64 {
        fn next_u64(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        }

        /// Uniform on `[0, 1)`.
        fn unit(&mut self) -> f64 {
            (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
        }
    }

    /// An arm whose behaviour is known: each run fails with each mode's rate (modes exclusive)
    /// and takes `run_time`.
    struct SimArm {
        shake: &'static str,
        modes: Vec<(&'static str, f64)>,
        run_time: Duration,
    }

    fn arm(shake: &'static str, rate: f64) -> SimArm {
        SimArm {
            shake,
            modes: vec![("fail", rate)],
            run_time: Duration::from_millis(10),
        }
    }

    /// The simulated program under test: draws each run's outcome like the runner would see it,
    /// honouring a batch's failure and time limits one run at a time.
    struct Oracle {
        arms: Vec<SimArm>,
        rng: SplitMix64,
    }

    impl Oracle {
        fn new(arms: Vec<SimArm>, seed: u64) -> Oracle {
            Oracle {
                arms,
                rng: SplitMix64(seed),
            }
        }

        fn shakes(&self) -> Vec<String> {
            self.arms.iter().map(|arm| arm.shake.to_string()).collect()
        }

        fn run(&mut self, batch: &Batch) -> BatchResult {
            let arm = &self.arms[batch.arm];
            let mut result = BatchResult::default();
            let mut counts: BTreeMap<&str, u64> = BTreeMap::new();
            while result.runs < batch.runs
                && result.failures < batch.max_failures
                && batch.time_left.is_none_or(|left| result.elapsed < left)
            {
                result.runs += 1;
                result.elapsed += arm.run_time;
                let draw = self.rng.unit();
                let mut cumulative = 0.0;
                for (id, rate) in &arm.modes {
                    cumulative += rate;
                    if draw < cumulative {
                        result.failures += 1;
                        *counts.entry(id).or_default() += 1;
                        break;
                    }
                }
            }
            result.signatures = counts
                .into_iter()
                .map(|(id, count)| SignatureCount {
                    id: id.to_string(),
                    text: format!("exit 1: {id}"),
                    count,
                })
                .collect();
            result
        }
    }

    /// A whole simulated hunt: how it ended, the time it took, and every batch it asked for.
    struct Hunt {
        bandit: Bandit,
        stop: Stop,
        spent: Duration,
        batches: Vec<Batch>,
        /// The time spent when each batch started.
        starts: Vec<Duration>,
    }

    fn hunt(mut oracle: Oracle, policy: Policy) -> Hunt {
        let mut bandit = Bandit::new(oracle.shakes(), policy).expect("valid policy");
        let mut spent = Duration::ZERO;
        let mut batches = Vec::new();
        let mut starts = Vec::new();
        loop {
            match bandit.next(spent) {
                Next::Stop(stop) => {
                    return Hunt {
                        bandit,
                        stop,
                        spent,
                        batches,
                        starts,
                    }
                }
                Next::Run(batch) => {
                    let result = oracle.run(&batch);
                    starts.push(spent);
                    spent += result.elapsed;
                    batches.push(batch);
                    bandit.record(batch.arm, result);
                }
            }
        }
    }

    fn policy(failures: u64, budget: Budget, batch: u64) -> Policy {
        Policy {
            failures,
            budget,
            batch,
        }
    }

    const SEEDS: [u64; 8] = [1, 2, 3, 5, 8, 13, 21, 34];

    #[test]
    fn a_clearly_better_arm_wins_and_stops_the_hunt_at_the_failure_target() {
        for seed in SEEDS {
            let oracle = Oracle::new(
                vec![
                    arm("plain", 0.002),
                    arm("pin=one-core", 0.01),
                    arm("cpu-load=2", 0.3),
                    arm("jitter=1ms", 0.0),
                ],
                seed,
            );
            let done = hunt(oracle, policy(3, Budget::Runs(5000), 10));
            assert_eq!(done.stop, Stop::FailuresReached(2), "seed {seed}");
            let outcome = done.bandit.outcome();
            assert_eq!(outcome.best.as_deref(), Some("cpu-load=2"), "seed {seed}");
            // Batches stop at the target, so the winner ends exactly on it.
            assert_eq!(outcome.arms[2].failures, 3, "seed {seed}");
            // The good arm needed few runs; the budget was nowhere near spent.
            assert!(outcome.runs < 200, "seed {seed}: {} runs", outcome.runs);
            // Plain had its batch, so the speedup has a baseline.
            assert!(outcome.arms[0].runs >= 10, "seed {seed}");
            assert!(outcome.arms[2].speedup.is_some(), "seed {seed}");
        }
    }

    #[test]
    fn runs_go_to_the_arm_that_reproduces() {
        for seed in SEEDS {
            let oracle = Oracle::new(
                vec![
                    arm("plain", 0.01),
                    arm("nice=5", 0.01),
                    arm("go-procs=1", 0.2),
                ],
                seed,
            );
            // A target so high that the run budget ends the hunt.
            let done = hunt(oracle, policy(1000, Budget::Runs(3000), 10));
            assert_eq!(done.stop, Stop::BudgetSpent, "seed {seed}");
            let arms = done.bandit.arms();
            assert!(
                arms[2].runs > 10 * (arms[0].runs + arms[1].runs),
                "seed {seed}: {arms:?}"
            );
            assert_eq!(
                done.bandit.outcome().best.as_deref(),
                Some("go-procs=1"),
                "seed {seed}"
            );
        }
    }

    #[test]
    fn a_run_budget_is_spent_exactly_and_never_exceeded() {
        // Nothing fails: the budget alone ends the hunt, and the arms take turns.
        let oracle = Oracle::new(
            vec![arm("plain", 0.0), arm("nice=5", 0.0), arm("pin=0", 0.0)],
            7,
        );
        let done = hunt(oracle, policy(3, Budget::Runs(95), 10));
        assert_eq!(done.stop, Stop::BudgetSpent);
        assert_eq!(done.bandit.total_runs(), 95);
        let order: Vec<ArmId> = done.batches.iter().map(|batch| batch.arm).collect();
        assert_eq!(order, [0, 1, 2, 0, 1, 2, 0, 1, 2, 0]);
        // The last batch is cut to what is left.
        assert_eq!(done.batches.last().map(|batch| batch.runs), Some(5));
        let outcome = done.bandit.outcome();
        assert_eq!(outcome.best, None);
        assert_eq!(outcome.runs, 95);
        assert!(outcome.arms.iter().all(|arm| arm.speedup.is_none()));

        // Whatever the rates and budget, the runs stay within it and plain gets its batch.
        for seed in SEEDS {
            let mut rng = SplitMix64(seed);
            let budget = 1 + rng.next_u64() % 400;
            let batch = 1 + rng.next_u64() % 25;
            let oracle = Oracle::new(
                vec![arm("plain", 0.01), arm("nice=5", 0.03), arm("pin=0", 0.05)],
                seed,
            );
            let done = hunt(oracle, policy(5, Budget::Runs(budget), batch));
            assert!(
                done.bandit.total_runs() <= budget,
                "seed {seed}: {} runs of {budget}",
                done.bandit.total_runs()
            );
            assert!(done.batches.iter().all(|b| b.runs <= batch && b.runs > 0));
            assert_eq!(done.batches[0].arm, 0, "seed {seed}: plain goes first");
            assert_eq!(done.batches[0].runs, batch.min(budget), "seed {seed}");
            assert!(done.bandit.arms()[0].runs > 0, "seed {seed}: plain ran");
        }
    }

    #[test]
    fn untried_arms_go_first_in_the_order_listed() {
        // Plain listed second still gets the second batch, even though the first arm fails.
        let oracle = Oracle::new(vec![arm("nice=5", 1.0), arm("plain", 0.0)], 3);
        let done = hunt(oracle, policy(30, Budget::Runs(25), 10));
        let order: Vec<ArmId> = done.batches.iter().map(|batch| batch.arm).collect();
        assert_eq!(order, [0, 1, 0]);
        assert_eq!(done.batches[0].max_failures, 30);
        assert_eq!(done.batches[2].max_failures, 20);
    }

    #[test]
    fn a_time_budget_ends_the_hunt_and_bounds_each_batch() {
        let mut slow = arm("pin=one-core", 0.0);
        slow.run_time = Duration::from_millis(70);
        let oracle = Oracle::new(vec![arm("plain", 0.0), slow], 11);
        let limit = Duration::from_secs(10);
        let done = hunt(oracle, policy(3, Budget::Time(limit), 10));
        assert_eq!(done.stop, Stop::BudgetSpent);
        // A batch only starts runs before the deadline, so the overshoot is under one run.
        assert!(done.spent >= limit && done.spent < limit + Duration::from_millis(70));
        for (batch, started) in done.batches.iter().zip(&done.starts) {
            assert_eq!(batch.time_left, Some(limit - *started));
            assert_eq!(batch.runs, 10);
        }
        let arms = done.bandit.arms();
        assert!(arms[0].runs > 0 && arms[1].runs > 0);
        let elapsed: f64 = arms.iter().map(|arm| arm.elapsed_s).sum();
        assert!((elapsed - done.spent.as_secs_f64()).abs() < 1e-9);
    }

    #[test]
    fn the_speedup_interval_covers_the_true_ratio() {
        // Plain fails 1 in 20, the shaken arm 1 in 2: ten times as often.
        let speedup = |seed: u64| {
            let oracle = Oracle::new(vec![arm("plain", 0.05), arm("go-procs=1", 0.5)], seed);
            let done = hunt(oracle, policy(40, Budget::Runs(5000), 50));
            let outcome = done.bandit.outcome();
            let (plain, shaken) = (&outcome.arms[0], &outcome.arms[1]);
            let high = rate_ratio(
                plain.failures,
                plain.runs,
                shaken.failures,
                shaken.runs,
                CONFIDENCE,
            )
            .map(|ratio| ratio.high);
            let low = shaken
                .speedup_low
                .expect("plain ran, so there is a speedup");
            (low, high.expect("failures seen"))
        };
        for seed in SEEDS {
            let (low, high) = speedup(seed);
            assert!(
                1.0 < low && low <= 10.0 && 10.0 <= high,
                "seed {seed}: {low} {high}"
            );
        }
        // Calibration: the interval is exact and conservative, so it should miss the true
        // ratio in at most about 5% of hunts (it misses 1 of these 200).
        let covered = (100..300)
            .map(speedup)
            .filter(|(low, high)| *low <= 10.0 && 10.0 <= *high)
            .count();
        assert!(covered >= 190, "{covered} of 200");
    }

    #[test]
    fn an_interrupted_or_empty_batch_ends_the_hunt() {
        let policy = policy(3, Budget::Runs(100), 10);
        let mut bandit = Bandit::new(vec!["plain".into()], policy).expect("valid");
        bandit.record(
            0,
            BatchResult {
                runs: 4,
                interrupted: true,
                ..BatchResult::default()
            },
        );
        assert_eq!(bandit.next(Duration::ZERO), Next::Stop(Stop::Interrupted));
        assert!(bandit.outcome().interrupted);

        let mut bandit = Bandit::new(vec!["plain".into()], policy).expect("valid");
        bandit.record(0, BatchResult::default());
        assert_eq!(bandit.next(Duration::ZERO), Next::Stop(Stop::NothingRan));
        assert!(!bandit.outcome().interrupted);
    }

    #[test]
    fn policies_that_cannot_work_are_refused() {
        let good = policy(3, Budget::Runs(10), 10);
        let arms = || vec!["plain".to_string()];
        assert_eq!(
            Bandit::new(Vec::new(), good).err(),
            Some(PolicyError::NoArms)
        );
        assert_eq!(
            Bandit::new(
                arms(),
                Policy {
                    failures: 0,
                    ..good
                }
            )
            .err(),
            Some(PolicyError::NoFailureTarget)
        );
        assert_eq!(
            Bandit::new(arms(), Policy { batch: 0, ..good }).err(),
            Some(PolicyError::EmptyBatch)
        );
        for budget in [Budget::Runs(0), Budget::Time(Duration::ZERO)] {
            assert_eq!(
                Bandit::new(arms(), Policy { budget, ..good }).err(),
                Some(PolicyError::EmptyBudget)
            );
        }
    }

    #[test]
    fn failure_modes_that_disappear_under_an_arm_are_reported() {
        for seed in SEEDS {
            let mut plain = arm("plain", 0.0);
            plain.modes = vec![("x", 0.4)];
            let mut pinned = arm("pin=one-core", 0.0);
            pinned.modes = vec![("y", 0.3)];
            let oracle = Oracle::new(vec![plain, pinned], seed);
            let done = hunt(oracle, policy(1000, Budget::Runs(400), 20));
            let outcome = done.bandit.outcome();
            let gone: Vec<(&str, &str)> = outcome
                .suppressed
                .iter()
                .map(|gone| (gone.shake.as_str(), gone.signature.as_str()))
                .collect();
            assert!(
                gone.contains(&("pin=one-core", "x")),
                "seed {seed}: {gone:?}"
            );
            // Plain is the reference: "y" missing from plain is not called a disappearance.
            assert!(!gone.contains(&("plain", "y")), "seed {seed}: {gone:?}");
            let x = outcome
                .suppressed
                .iter()
                .find(|gone| gone.signature == "x")
                .expect("x");
            assert_eq!(x.text, "exit 1: x");
            let plain = &done.bandit.arms()[0];
            let expected = plain.signatures["x"] as f64 / plain.runs as f64
                * done.bandit.arms()[1].runs as f64;
            assert!((x.expected - expected).abs() < 1e-9);
        }
    }

    #[test]
    fn suppression_needs_evidence() {
        let tally = |shake: &str, runs: u64, failures: &[(&str, u64)]| ArmTally {
            shake: shake.into(),
            runs,
            failures: failures.iter().map(|(_, c)| c).sum(),
            signatures: failures
                .iter()
                .map(|(id, c)| (id.to_string(), *c))
                .collect(),
            elapsed_s: 0.0,
        };
        let texts: BTreeMap<String, String> = [("a".to_string(), "exit 1: A".to_string())]
            .into_iter()
            .collect();
        let arms = vec![
            tally("plain", 100, &[("a", 10)]),
            tally("pin=one-core", 100, &[]),
            tally("nice=5", 3, &[]),
        ];
        let gone = find_suppressed(&arms, &texts);
        assert_eq!(gone.len(), 1, "3 runs are too few to say: {gone:?}");
        assert_eq!(gone[0].shake, "pin=one-core");
    }
}
