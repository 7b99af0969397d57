//! The hunt bandit: which perturbation arm gets the next batch of runs, when the hunt has found
//! enough, and the final ranking (rates, speedups over plain with their intervals, what the
//! exploration cost, failure modes an arm made disappear). Pure bookkeeping: each run's outcome
//! and cost in wall time come in as data.
//!
//! The reward is failures per second of wall time, because that is what a user waits for: an
//! arm that fails twice as often per run but runs three times slower loses. Plain (the program
//! undisturbed) is an arm like the others, with two guarantees of its own:
//! - **Exploration is paid for.** An arm other than plain only gets a batch while the failures
//!   the perturbations found, less what they cost in plain's (optimistic) failure rate, stay
//!   above a share [`Policy::explore`] of plain's own: a conservative bandit, so that while no
//!   perturbation helps, the hunt finds failures at least `1 - explore` times as fast as a plain
//!   loop (in expectation).
//! - **Plain keeps a minimum share** [`Policy::plain_share`] of the time, so its rate, and every
//!   speedup, means something.
//!
//! Among the arms allowed, the one whose rate per second could be highest (the upper end of its
//! exact Poisson interval) runs next. Once the arms have found the failure target between them,
//! the search is over (a user who wants K failures has them) and the arm reproducing fastest
//! wins; a confirmation phase, [`Policy::confirm`] of the budget (never longer than the search
//! took), then measures only the winner and plain, so the speedup the hunt prints rests on both.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize};
use statrs::function::gamma::{checked_gamma_lr, checked_gamma_ur};

use crate::analysis::stats::{clopper_pearson, Interval};

/// The arm that runs the program undisturbed; speedups are relative to it.
pub const PLAIN: &str = "plain";

/// Confidence of every interval and bound the hunt computes.
const CONFIDENCE: f64 = 0.95;

/// A signature absent from an arm counts as made to disappear when, at the reference rate, the
/// chance of seeing none of it in that arm's runs is below this.
const SUPPRESSION_P: f64 = 0.05;

/// Default share of plain's failure rate the search may give up to explore.
pub const EXPLORE_SHARE: f64 = 0.1;
/// Default smallest share of the time plain keeps.
pub const PLAIN_SHARE: f64 = 0.1;
/// Default share of the budget spent confirming the winner against plain.
pub const CONFIRM_SHARE: f64 = 0.2;

/// Smallest and largest batches the automatic sizing gives.
const MAX_BATCH: u64 = 100_000;

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

/// How many runs a batch gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BatchSize {
    /// Always this many.
    Fixed(u64),
    /// About `span` of wall time of the arm's runs (from their cost so far), at least `min`.
    Span {
        /// Wall time a batch should take.
        span: Duration,
        /// Fewest runs in a batch (a couple per job, so every slot takes part).
        min: u64,
    },
}

/// The hunt's rules.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Policy {
    /// The search ends once the arms have this many failures in all; the arm reproducing
    /// fastest by then wins.
    pub failures: u64,
    /// The total budget (the caller's campaign ends there).
    pub budget: Budget,
    /// Runs per batch given to the chosen arm.
    pub batch: BatchSize,
    /// Share of the budget spent confirming the winner against plain, in `[0, 1)`.
    pub confirm: f64,
    /// Share of plain's failure rate the search may give up to explore, in `(0, 1)`.
    pub explore: f64,
    /// Smallest share of the time plain gets, in `[0, 1)`.
    pub plain_share: f64,
}

impl Policy {
    /// A policy with the default shares.
    pub fn new(failures: u64, budget: Budget, batch: BatchSize) -> Policy {
        Policy {
            failures,
            budget,
            batch,
            confirm: CONFIRM_SHARE,
            explore: EXPLORE_SHARE,
            plain_share: PLAIN_SHARE,
        }
    }
}

/// A policy or arm list the bandit cannot work with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    /// No arm to try.
    #[error("the hunt has no arm to try")]
    NoArms,
    /// The same arm twice.
    #[error("the arm '{0}' is listed twice")]
    DuplicateArm(String),
    /// A failure target of 0 would stop before anything ran.
    #[error("the hunt's failure target must be at least 1")]
    NoFailureTarget,
    /// Batches of 0 runs would never progress.
    #[error("the hunt's batches must have at least 1 run")]
    EmptyBatch,
    /// A budget of nothing.
    #[error("the hunt's budget must be more than nothing")]
    EmptyBudget,
    /// A share outside its range.
    #[error("the hunt's {0} share must be at least 0 and below 1")]
    Share(&'static str),
}

/// The batch the bandit wants run next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Batch {
    /// The arm that runs it.
    pub arm: ArmId,
    /// Runs to do.
    pub runs: u64,
}

/// Where the hunt is.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Phase {
    /// Looking for failures, and for the arm that reproduces fastest.
    Search,
    /// Measuring the winner against plain.
    Confirm {
        /// The arm that led when the search ended.
        winner: ArmId,
    },
    /// Over: nothing more to learn (the caller stops the campaign).
    Done,
}

/// How the search ended.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct SearchEnd {
    /// Index of the arm leading when the failures reached the target: the winner.
    #[serde(skip)]
    pub arm: ArmId,
    /// Wall time from the start until the arms had the target's failures in all, seconds.
    pub time_s: f64,
    /// Runs over all arms by then.
    pub runs: u64,
}

/// What one run did.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RunOutcome {
    /// It failed (ignored failures are not failures).
    pub failed: bool,
    /// Its failure signature: id and text.
    pub signature: Option<(String, String)>,
    /// Wall time it cost the hunt: its slot's time divided by the runs in parallel.
    pub cost: Duration,
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
    /// Wall time the arm cost, seconds.
    pub time_s: f64,
    /// Of which during the search.
    pub search_time_s: f64,
    /// Runs handed out and not recorded yet.
    pub in_flight: u64,
}

impl ArmTally {
    fn new(shake: String) -> ArmTally {
        ArmTally {
            shake,
            runs: 0,
            failures: 0,
            signatures: BTreeMap::new(),
            time_s: 0.0,
            search_time_s: 0.0,
            in_flight: 0,
        }
    }

    /// Wall time per run, seconds, once it ran.
    fn cost_per_run(&self) -> Option<f64> {
        (self.runs > 0).then(|| self.time_s / self.runs as f64)
    }
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
    /// Failure rate per run with its 95% interval.
    pub rate: Interval,
    /// Wall time spent on this arm, seconds.
    pub elapsed_s: f64,
    /// Failures per second of wall time with its 95% (Poisson) interval.
    #[serde(deserialize_with = "unbounded_interval")]
    pub per_second: Interval,
    /// Failures per second relative to plain's (None when there is nothing to compare;
    /// infinite when plain never failed).
    pub speedup: Option<f64>,
    /// Lower end of the speedup's 95% interval.
    pub speedup_low: Option<f64>,
    /// Upper end of the speedup's 95% interval (infinite when plain never failed).
    pub speedup_high: Option<f64>,
    /// Failures per signature id.
    pub signatures: BTreeMap<String, u64>,
}

/// An interval read back from JSON, where an infinite end was written as `null`.
fn unbounded_interval<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Interval, D::Error> {
    #[derive(Deserialize)]
    struct Stored {
        estimate: Option<f64>,
        low: Option<f64>,
        high: Option<f64>,
    }
    let stored = Stored::deserialize(deserializer)?;
    Ok(Interval {
        estimate: stored.estimate.unwrap_or(f64::INFINITY),
        low: stored.low.unwrap_or(0.0),
        high: stored.high.unwrap_or(f64::INFINITY),
    })
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

/// What the search cost before the winner reached the target.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Exploration {
    /// Seconds of the search on the winner.
    pub winner_s: f64,
    /// Seconds of the search on plain.
    pub plain_s: f64,
    /// Seconds of the search on every other arm: the price of looking.
    pub others_s: f64,
    /// How many other arms ran.
    pub others: usize,
}

/// The finished hunt.
#[derive(Debug, Clone, PartialEq)]
pub struct HuntOutcome {
    /// Every arm, in the order given.
    pub arms: Vec<ArmResult>,
    /// The arm that reproduces fastest (highest lower bound of failures per second), if any
    /// failed.
    pub best: Option<String>,
    /// How the search ended, if an arm reached the target.
    pub search: Option<SearchEnd>,
    /// The search's cost, when an arm reached the target.
    pub exploration: Option<Exploration>,
    /// Runs over all arms.
    pub runs: u64,
    /// The hunt ended early on an interrupt.
    pub interrupted: bool,
    /// Failure modes that disappeared under some arm.
    pub suppressed: Vec<Suppressed>,
}

/// The bandit over perturbation arms (see the module documentation).
#[derive(Debug, Clone)]
pub struct Bandit {
    policy: Policy,
    arms: Vec<ArmTally>,
    plain: Option<ArmId>,
    /// Text of every signature seen, by id.
    texts: BTreeMap<String, String>,
    total_runs: u64,
    phase: Phase,
    search_end: Option<SearchEnd>,
    /// Wall time and runs spent confirming.
    confirm_time_s: f64,
    confirm_runs: u64,
}

impl Bandit {
    /// A bandit over `arms` (shake texts, `plain` for none) following `policy`.
    pub fn new(arms: Vec<String>, policy: Policy) -> Result<Bandit, PolicyError> {
        if arms.is_empty() {
            return Err(PolicyError::NoArms);
        }
        for (index, arm) in arms.iter().enumerate() {
            if arms[..index].contains(arm) {
                return Err(PolicyError::DuplicateArm(arm.clone()));
            }
        }
        if policy.failures == 0 {
            return Err(PolicyError::NoFailureTarget);
        }
        if matches!(
            policy.batch,
            BatchSize::Fixed(0) | BatchSize::Span { min: 0, .. }
        ) {
            return Err(PolicyError::EmptyBatch);
        }
        if matches!(policy.budget, Budget::Runs(0)) || policy.budget == Budget::Time(Duration::ZERO)
        {
            return Err(PolicyError::EmptyBudget);
        }
        let share = |value: f64| (0.0..1.0).contains(&value);
        if !share(policy.confirm) {
            return Err(PolicyError::Share("confirmation"));
        }
        if !share(policy.explore) || policy.explore == 0.0 {
            return Err(PolicyError::Share("exploration"));
        }
        if !share(policy.plain_share) {
            return Err(PolicyError::Share("plain"));
        }
        let plain = arms.iter().position(|arm| arm == PLAIN);
        Ok(Bandit {
            policy,
            arms: arms.into_iter().map(ArmTally::new).collect(),
            plain,
            texts: BTreeMap::new(),
            total_runs: 0,
            phase: Phase::Search,
            search_end: None,
            confirm_time_s: 0.0,
            confirm_runs: 0,
        })
    }

    /// The rules it follows.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// The arms' tallies so far, in the order given.
    pub fn arms(&self) -> &[ArmTally] {
        &self.arms
    }

    /// Runs recorded over all arms.
    pub fn total_runs(&self) -> u64 {
        self.total_runs
    }

    /// Where the hunt is.
    pub fn phase(&self) -> Phase {
        self.phase
    }

    /// How the search ended, once it did.
    pub fn search_end(&self) -> Option<SearchEnd> {
        self.search_end
    }

    /// The next batch, or None once the hunt is over.
    pub fn next_batch(&mut self) -> Option<Batch> {
        let arm = match self.phase {
            Phase::Done => return None,
            Phase::Search => self.search_arm(),
            Phase::Confirm { winner } => self.confirm_arm(winner),
        };
        let runs = self.batch_runs(arm);
        self.arms[arm].in_flight += runs;
        Some(Batch { arm, runs })
    }

    /// Record one run of `arm`; `spent` is the wall time since the hunt started. Returns the
    /// phase after it (the caller stops the campaign at [`Phase::Done`]).
    pub fn record(&mut self, arm: ArmId, outcome: RunOutcome, spent: Duration) -> Phase {
        let cost = outcome.cost.as_secs_f64();
        let searching = self.phase == Phase::Search;
        let tally = &mut self.arms[arm];
        tally.in_flight = tally.in_flight.saturating_sub(1);
        tally.runs += 1;
        tally.time_s += cost;
        if searching {
            tally.search_time_s += cost;
        } else {
            self.confirm_time_s += cost;
            self.confirm_runs += 1;
        }
        if outcome.failed {
            tally.failures += 1;
            if let Some((id, text)) = outcome.signature {
                *tally.signatures.entry(id.clone()).or_default() += 1;
                self.texts.entry(id).or_insert(text);
            }
        }
        self.total_runs += 1;
        match self.phase {
            Phase::Search if self.failures() >= self.policy.failures => {
                let arm = self.leader().unwrap_or(arm);
                self.search_end = Some(SearchEnd {
                    arm,
                    time_s: spent.as_secs_f64(),
                    runs: self.total_runs,
                });
                // Nothing to confirm against when the winner is plain or there is no plain.
                let confirm = self.policy.confirm > 0.0 && self.plain.is_some_and(|p| p != arm);
                self.phase = if confirm {
                    Phase::Confirm { winner: arm }
                } else {
                    Phase::Done
                };
            }
            Phase::Confirm { .. } if self.confirmation_over() => self.phase = Phase::Done,
            _ => {}
        }
        self.phase
    }

    /// Failures over all arms.
    fn failures(&self) -> u64 {
        self.arms.iter().map(|arm| arm.failures).sum()
    }

    /// The arm that reproduces fastest so far: the highest lower bound of its failures per
    /// second, then the highest estimate; None before any failure.
    fn leader(&self) -> Option<ArmId> {
        let rate =
            |arm: ArmId| poisson_rate(self.arms[arm].failures, self.arms[arm].time_s, CONFIDENCE);
        (0..self.arms.len())
            .filter(|&arm| self.arms[arm].failures > 0)
            .max_by(|&a, &b| {
                let (a, b) = (rate(a), rate(b));
                a.low
                    .total_cmp(&b.low)
                    .then(a.estimate.total_cmp(&b.estimate))
            })
    }

    /// True once the confirmation spent its share of the budget, capped at what the search
    /// took so that a quick hunt stays quick.
    fn confirmation_over(&self) -> bool {
        let Some(end) = self.search_end else {
            return true;
        };
        match self.policy.budget {
            Budget::Time(limit) => {
                let goal = (limit.as_secs_f64() * self.policy.confirm).min(end.time_s);
                self.confirm_time_s >= goal
            }
            Budget::Runs(limit) => {
                let goal = ((limit as f64 * self.policy.confirm) as u64).min(end.runs);
                self.confirm_runs >= goal
            }
        }
    }

    /// Seconds of the arm's time, counting runs handed out but not yet back at its cost per run.
    fn committed_s(&self, arm: ArmId) -> f64 {
        let tally = &self.arms[arm];
        tally.time_s + tally.in_flight as f64 * self.cost_estimate(arm)
    }

    /// Wall time per run of `arm`: its own, else the mean over every run so far, else 10 ms.
    fn cost_estimate(&self, arm: ArmId) -> f64 {
        self.arms[arm].cost_per_run().unwrap_or_else(|| {
            let time: f64 = self.arms.iter().map(|a| a.time_s).sum();
            if self.total_runs > 0 {
                time / self.total_runs as f64
            } else {
                0.01
            }
        })
    }

    fn batch_runs(&self, arm: ArmId) -> u64 {
        match self.policy.batch {
            BatchSize::Fixed(runs) => runs,
            // An arm's first batch is a probe of the fewest runs: its cost is unknown, and a
            // perturbation can make runs many times slower.
            BatchSize::Span { min, .. } if self.arms[arm].runs + self.arms[arm].in_flight == 0 => {
                min
            }
            // Then batches at most double the arm's runs, so that the arms that looked poor
            // are looked at again cheaply, and at most `span` of its runs.
            BatchSize::Span { span, min } => {
                let cost = self.cost_estimate(arm).max(1e-6);
                let tried = self.arms[arm].runs + self.arms[arm].in_flight;
                ((span.as_secs_f64() / cost).round() as u64)
                    .min(tried)
                    .clamp(min, MAX_BATCH.max(min))
            }
        }
    }

    /// The search's choice: plain until it ran and while below its share, else the most
    /// optimistic arm if the exploration budget affords it, else plain.
    fn search_arm(&self) -> ArmId {
        let Some(plain) = self.plain else {
            return self.most_optimistic();
        };
        if self.arms[plain].runs == 0 && self.arms[plain].in_flight == 0 {
            return plain;
        }
        let total: f64 = (0..self.arms.len()).map(|a| self.committed_s(a)).sum();
        if self.committed_s(plain) < self.policy.plain_share * total {
            return plain;
        }
        let best = self.most_optimistic();
        if best != plain && !self.affordable(best, plain) {
            return plain;
        }
        best
    }

    /// The arm whose failures per second could be highest: the upper end of its one-sided
    /// interval (untried arms first, in the order listed); among equals the one with less
    /// time, then the one listed first.
    fn most_optimistic(&self) -> ArmId {
        let score = |arm: ArmId| {
            let time = self.committed_s(arm);
            if self.arms[arm].runs == 0 || time <= 0.0 {
                f64::INFINITY
            } else {
                poisson_upper(self.arms[arm].failures, CONFIDENCE) / time
            }
        };
        (0..self.arms.len())
            .max_by(|&a, &b| {
                score(a)
                    .total_cmp(&score(b))
                    .then(self.committed_s(b).total_cmp(&self.committed_s(a)))
                    .then(b.cmp(&a))
            })
            .unwrap_or(0)
    }

    /// Whether a batch of `arm` keeps the hunt's failures, pessimistically, at or above
    /// `1 - explore` of what plain alone would have found in the same time (plain's rate taken
    /// at the upper end of its interval, the batch assumed to find nothing).
    fn affordable(&self, arm: ArmId, plain: ArmId) -> bool {
        let plain_time = self.committed_s(plain);
        if plain_time <= 0.0 {
            return false;
        }
        let rate = poisson_upper(self.arms[plain].failures, CONFIDENCE) / plain_time;
        let keep = 1.0 - self.policy.explore;
        let batch = self.batch_runs(arm) as f64 * self.cost_estimate(arm);
        let mut slack = self.policy.explore * rate * plain_time - keep * rate * batch;
        for (other, tally) in self.arms.iter().enumerate() {
            if other != plain {
                slack += tally.failures as f64 - keep * rate * self.committed_s(other);
            }
        }
        slack >= 0.0
    }

    /// The confirmation's choice: plain, or one of the arms that failed. Plain's share of
    /// the confirmation grows as its rate falls behind the winner's (the split that measures
    /// their ratio best), between a half and 95%; the rest goes to the most optimistic of the
    /// winner and the arms that could still beat it (their upper bound above its lower bound),
    /// so a winner chosen on a few failures is checked against its rivals.
    fn confirm_arm(&self, winner: ArmId) -> ArmId {
        let Some(plain) = self.plain else {
            return winner;
        };
        let rate = |arm: ArmId| {
            let tally = &self.arms[arm];
            (tally.failures as f64 + 0.5) / self.committed_s(arm).max(1e-9)
        };
        let plain_share = (1.0 / (1.0 + (rate(plain) / rate(winner)).sqrt())).clamp(0.5, 0.95);
        let in_confirmation = |arm: ArmId| self.committed_s(arm) - self.arms[arm].search_time_s;
        let total: f64 = (0..self.arms.len()).map(in_confirmation).sum();
        if in_confirmation(plain) <= plain_share * total {
            return plain;
        }
        let bounds = |arm: ArmId| {
            let failures = self.arms[arm].failures;
            let time = self.committed_s(arm).max(1e-9);
            let low = poisson_rate(failures, time, CONFIDENCE).low;
            (low, poisson_upper(failures, CONFIDENCE) / time)
        };
        let floor = bounds(winner).0;
        (0..self.arms.len())
            .filter(|&arm| arm != plain && self.arms[arm].failures > 0)
            .filter(|&arm| arm == winner || bounds(arm).1 > floor)
            .max_by(|&a, &b| bounds(a).1.total_cmp(&bounds(b).1))
            .unwrap_or(winner)
    }

    /// The final ranking. `interrupted`: the campaign ended on a Ctrl-C or a signal.
    pub fn outcome(&self, interrupted: bool) -> HuntOutcome {
        let plain = self.plain.map(|p| &self.arms[p]);
        let arms: Vec<ArmResult> = self.arms.iter().map(|arm| arm_result(arm, plain)).collect();
        let best = arms
            .iter()
            .filter(|arm| arm.failures > 0)
            .max_by(|a, b| {
                a.per_second
                    .low
                    .total_cmp(&b.per_second.low)
                    .then(a.per_second.estimate.total_cmp(&b.per_second.estimate))
            })
            .map(|arm| arm.shake.clone());
        let exploration = self.search_end.map(|end| {
            let mut cost = Exploration {
                winner_s: self.arms[end.arm].search_time_s,
                plain_s: 0.0,
                others_s: 0.0,
                others: 0,
            };
            for (index, tally) in self.arms.iter().enumerate() {
                if index == end.arm {
                    continue;
                }
                if Some(index) == self.plain {
                    cost.plain_s = tally.search_time_s;
                } else if tally.runs > 0 {
                    cost.others_s += tally.search_time_s;
                    cost.others += 1;
                }
            }
            cost
        });
        HuntOutcome {
            suppressed: find_suppressed(&self.arms, self.plain, &self.texts),
            arms,
            best,
            search: self.search_end,
            exploration,
            runs: self.total_runs,
            interrupted,
        }
    }
}

/// An arm's rates and its speedup over plain (`plain` is plain's tally, if there is one).
fn arm_result(arm: &ArmTally, plain: Option<&ArmTally>) -> ArmResult {
    let ratio = match plain {
        Some(plain) if plain.shake != arm.shake => rate_ratio_per_time(
            plain.failures,
            plain.time_s,
            arm.failures,
            arm.time_s,
            CONFIDENCE,
        ),
        _ => None,
    };
    ArmResult {
        shake: arm.shake.clone(),
        runs: arm.runs,
        failures: arm.failures,
        rate: clopper_pearson(arm.failures, arm.runs, CONFIDENCE),
        elapsed_s: arm.time_s,
        per_second: poisson_rate(arm.failures, arm.time_s, CONFIDENCE),
        speedup: ratio.map(|ratio| ratio.estimate),
        speedup_low: ratio.map(|ratio| ratio.low),
        speedup_high: ratio.map(|ratio| ratio.high),
        signatures: arm.signatures.clone(),
    }
}

/// Solve `f(mu) = target` for a function falling from above `target` at 0 to below it, by
/// bisection on `[0, high]`.
fn solve_falling(f: impl Fn(f64) -> f64, target: f64, high: f64) -> f64 {
    let (mut low, mut high) = (0.0, high);
    for _ in 0..200 {
        let mid = (low + high) / 2.0;
        if f(mid) > target {
            low = mid;
        } else {
            high = mid;
        }
        if high - low <= 1e-12 * high.max(1.0) {
            break;
        }
    }
    (low + high) / 2.0
}

/// One-sided upper bound at `confidence` on the mean of a Poisson count that came out `k`: the
/// `mu` with `P(X <= k) = 1 - confidence` (3.0 for `k = 0` at 95%).
pub fn poisson_upper(k: u64, confidence: f64) -> f64 {
    let k = k as f64;
    let high = k + 20.0 + 20.0 * k.sqrt();
    // P(X <= k) = Q(k + 1, mu), the regularized upper incomplete gamma function.
    solve_falling(
        |mu| checked_gamma_ur(k + 1.0, mu).unwrap_or(0.0),
        1.0 - confidence,
        high,
    )
}

/// Exact two-sided interval for a rate per second after `k` failures in `seconds` (Poisson,
/// conservative like Clopper-Pearson). No time gives the trivial interval `[0, inf]`.
pub fn poisson_rate(k: u64, seconds: f64, confidence: f64) -> Interval {
    if seconds <= 0.0 || !seconds.is_finite() {
        return Interval {
            estimate: 0.0,
            low: 0.0,
            high: f64::INFINITY,
        };
    }
    let alpha = (1.0 - confidence) / 2.0;
    let low = if k == 0 {
        0.0
    } else {
        // P(X >= k) = P(k, mu), the regularized lower incomplete gamma function.
        let kf = k as f64;
        let high = kf + 20.0 + 20.0 * kf.sqrt();
        solve_falling(
            |mu| 1.0 - checked_gamma_lr(kf, mu).unwrap_or(1.0),
            1.0 - alpha,
            high,
        )
    };
    let high = poisson_upper(k, 1.0 - alpha);
    let estimate = k as f64 / seconds;
    Interval {
        estimate,
        low: (low / seconds).min(estimate),
        high: (high / seconds).max(estimate),
    }
}

/// Ratio of two rates per second, B's over A's, with an exact conditional interval: given the
/// `a + b` failures, B's share of them is binomial with `p = R t_b / (R t_b + t_a)`, so a
/// Clopper-Pearson interval on `p` maps to one on `R`. None when neither failed or either
/// had no time. With no failures in A the estimate and the upper end are infinite.
pub fn rate_ratio_per_time(
    a_failures: u64,
    a_seconds: f64,
    b_failures: u64,
    b_seconds: f64,
    confidence: f64,
) -> Option<Interval> {
    if a_seconds <= 0.0 || b_seconds <= 0.0 || a_failures + b_failures == 0 {
        return None;
    }
    let share = clopper_pearson(b_failures, a_failures + b_failures, confidence);
    let scale = a_seconds / b_seconds;
    let ratio = |p: f64| {
        if p >= 1.0 {
            f64::INFINITY
        } else {
            p / (1.0 - p) * scale
        }
    };
    let estimate = if a_failures == 0 {
        f64::INFINITY
    } else {
        (b_failures as f64 / b_seconds) / (a_failures as f64 / a_seconds)
    };
    let low = if b_failures == 0 {
        0.0
    } else {
        ratio(share.low)
    };
    let high = if a_failures == 0 {
        f64::INFINITY
    } else {
        ratio(share.high)
    };
    Some(Interval {
        estimate,
        low: low.min(estimate),
        high: high.max(estimate),
    })
}

/// Signatures an arm never showed although other arms' rates say it should have (p < 0.05).
fn find_suppressed(
    arms: &[ArmTally],
    plain: Option<ArmId>,
    texts: &BTreeMap<String, String>,
) -> Vec<Suppressed> {
    let mut found = Vec::new();
    for (id, text) in texts {
        // The reference rate: plain's when plain ran (the program undisturbed), else the highest
        // rate at which any arm showed this signature.
        let rate_in =
            |arm: &ArmTally| arm.signatures.get(id).copied().unwrap_or(0) as f64 / arm.runs as f64;
        let plain = plain.map(|p| &arms[p]).filter(|arm| arm.runs > 0);
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
mod tests;
