//! Flake-aware culprit finding: a Bayesian posterior over which commit introduced a rare
//! failure, with the failure rate's uncertainty (a Beta posterior) integrated into the
//! likelihood, probes placed where a run gains the most information, and a stop at a confidence.
//! Pure arithmetic: run outcomes come in as counts, nothing is run here.

pub mod simulate;

use statrs::function::beta::ln_beta;

/// How sure of the rate a given `--rate R` makes the search: as sure as this many failures at
/// that rate would (a Beta prior with mean R, about ±30%). Runs then refine it.
pub const RATE_PRIOR_FAILURES: f64 = 10.0;

/// With the rate unknown, the failures measured at the bad commit before searching, by default.
/// Measuring more first costs fewer runs overall, since the rate sizes and places every later
/// probe: in simulation (64 commits, 1% and 0.1%) 8 failures took 17-19% fewer runs than 3, and
/// 16 took more again.
pub const DEFAULT_MEASURED_FAILURES: u64 = 8;

/// With the rate unknown, the failures measured at the bad commit before searching: one says
/// nothing about a rate under [`RatePrior::unknown`].
pub const MIN_MEASURED_FAILURES: u64 = 2;

/// The smallest Beta shape used: a prior that is improper before any failure (see
/// [`RatePrior::unknown`]) acts, until then, as "no failure is known to be likely".
const MIN_SHAPE: f64 = 1e-3;

/// Runs per probe are sized so that a probe of clean runs shrinks the odds of the commits it
/// tests by about `e^-BATCH_SCALE`; small enough to adapt, large enough to keep probes few.
pub const BATCH_SCALE: f64 = 0.7;

/// Most runs one probe asks for, whatever the rate.
pub const MAX_BATCH: u64 = 1_000_000;

/// Index of a commit on the bisected path: 0 is the good commit, the last is the bad one.
pub type CommitIx = usize;

/// What the search believes about the failure rate at commits that have the failure, before
/// the probes: a Beta(`a`, `b`) distribution.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RatePrior {
    /// Pseudo-failures.
    pub a: f64,
    /// Pseudo-passes.
    pub b: f64,
}

impl RatePrior {
    /// Nothing known: the rate is learnt from the runs. Probes stop at their first failure
    /// (inverse sampling), and a handful of failures that came early overstate the rate, which
    /// makes clean runs look more damning than they are: the search would then name a commit
    /// after the culprit more often than its confidence allows. `Beta(-1, 1)` (improper until
    /// the first failures) counts one failure fewer, which makes the posterior mean
    /// `(F - 1) / (F + S)`, the unbiased estimate under inverse sampling, and leans toward lower
    /// rates. In simulation it keeps the accuracy at or above 99% at a 99% confidence, where
    /// Jeffreys' `Beta(½, ½)` fell to 98%. It needs [`MIN_MEASURED_FAILURES`] failures at the
    /// bad commit before the search proper.
    pub fn unknown() -> RatePrior {
        RatePrior { a: -1.0, b: 1.0 }
    }

    /// About `rate`, as sure as [`RATE_PRIOR_FAILURES`] failures at that rate would make one.
    pub fn around(rate: f64) -> Result<RatePrior, SearchError> {
        if !(rate > 0.0 && rate < 1.0) {
            return Err(SearchError::Rate(rate));
        }
        Ok(RatePrior {
            a: RATE_PRIOR_FAILURES,
            b: RATE_PRIOR_FAILURES * (1.0 - rate) / rate,
        })
    }
}

/// Where probes go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Strategy {
    /// Where one run tells the most about the culprit (mutual information).
    Information,
    /// Where the posterior splits in half (its median), as a classic bisection would.
    Median,
}

/// The search's rules.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Policy {
    /// Stop once one commit (or a block of untestable commits) holds this much posterior.
    pub confidence: f64,
    /// Before searching, run at the bad commit until it has failed this many times (0: don't).
    pub measure_failures: u64,
    /// Where probes go.
    pub strategy: Strategy,
}

/// Evidence at one commit: failures of the target signature and clean runs. Runs that failed
/// some other way (or were ignored) are no evidence either way and are not counted here.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Evidence {
    /// Runs that failed with the target signature.
    pub failures: u64,
    /// Runs that passed.
    pub clean: u64,
}

/// Failures of one signature in a probe, as recorded.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ProbeSignature {
    /// Signature id.
    pub id: String,
    /// Signature text.
    pub text: String,
    /// Failures with it.
    pub count: u64,
    /// The failures were `--ignore`d.
    pub ignored: bool,
}

/// One candidate and its posterior.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Candidate {
    /// Full commit hash.
    pub commit: String,
    /// Posterior probability that this commit introduced the failure.
    pub probability: f64,
}

/// The failure mode a bisection searches for.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TargetRecord {
    /// Signature id.
    pub id: String,
    /// Signature text.
    pub text: String,
}

/// One probe as recorded: a batch of runs at one commit (a campaign of its own), or the
/// discovery that the commit cannot be tested.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ProbeRecord {
    /// 0-based position in the search.
    pub seq: u64,
    /// Full commit hash.
    pub commit: String,
    /// The probe's campaign (None when nothing ran).
    pub campaign: Option<String>,
    /// Runs finished.
    pub runs: u64,
    /// Runs that passed.
    pub passes: u64,
    /// Failures by signature (target and others).
    pub signatures: Vec<ProbeSignature>,
    /// Failures of the target among them (0 while the target is still unknown).
    #[serde(default)]
    pub target_failures: u64,
    /// Why the commit cannot be tested, if it cannot.
    pub untestable: Option<String>,
    /// The leading candidates after this probe.
    pub posterior: Vec<Candidate>,
}

/// One commit on the bisected path.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CommitInfo {
    /// Full hash.
    pub hash: String,
    /// First line of the message.
    pub subject: String,
    /// `Name <email>`.
    pub author: String,
    /// Author date, ISO 8601.
    pub date: String,
}

/// One commit with what the search learnt there.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct CommitReport {
    /// The commit.
    #[serde(flatten)]
    pub info: CommitInfo,
    /// Runs there (all of them).
    pub runs: u64,
    /// Failures of the target signature.
    pub failures: u64,
    /// Clean runs.
    pub clean: u64,
    /// Failures of other signatures (no evidence either way).
    pub other: u64,
    /// Why it cannot be tested, if it cannot.
    pub untestable: Option<String>,
    /// Posterior that this commit introduced the failure (for the good commit: that the
    /// failure predates it).
    pub posterior: f64,
}

/// How a bisection stands when it stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    /// One commit at the confidence.
    Culprit,
    /// The culprit hides among untestable commits.
    Ambiguous,
    /// The failure is already present at the good commit.
    Predates,
    /// The budget is spent before the confidence was reached.
    BudgetSpent,
    /// Interrupted; rerunning the same command continues.
    Interrupted,
}

impl Status {
    /// The word stored in the history.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Culprit => "culprit",
            Status::Ambiguous => "ambiguous",
            Status::Predates => "predates",
            Status::BudgetSpent => "budget",
            Status::Interrupted => "interrupted",
        }
    }
}

/// Everything a finished (or stopped) bisection reports.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct BisectReport {
    /// The bisection's id in the history.
    pub bisection: i64,
    /// How it stands.
    pub status: Status,
    /// The posterior's verdict (commit indices into `commits`).
    pub decision: Decision,
    /// Confidence asked for.
    pub confidence: f64,
    /// The failure mode searched for (None if it never showed at the bad commit).
    pub target: Option<TargetRecord>,
    /// The path, good first, with runs and posterior per commit.
    pub commits: Vec<CommitReport>,
    /// The leading candidates, most likely first.
    pub candidates: Vec<Candidate>,
    /// Every probe, with the posterior after it.
    pub trail: Vec<ProbeRecord>,
    /// Probes that were already recorded when this invocation started (resumed).
    pub resumed_probes: usize,
    /// Runs over all probes.
    pub runs: u64,
    /// Runs this invocation spent.
    pub runs_now: u64,
    /// Builds this invocation ran (the others were reused).
    pub builds: u64,
    /// Posterior mean of the failure rate where the failure is present.
    pub rate: Option<f64>,
    /// Runs that would likely settle the best candidate (while undecided).
    pub runs_to_confirm: Option<u64>,
    /// Failures of other signatures, over all probes.
    pub other_failures: Vec<ProbeSignature>,
    /// Wall time of this invocation, seconds.
    pub elapsed_s: f64,
    /// Where the worktrees are kept (None once removed).
    pub worktrees: Option<String>,
}

/// What the search asks for next.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Probe {
    /// The commit to run at.
    pub commit: CommitIx,
    /// How many runs (stop early at the first failure of the target).
    pub runs: u64,
    /// Expected information per run about the culprit, in bits.
    pub bits_per_run: f64,
    /// This probe measures the failure rate at the bad commit before the search proper.
    pub measuring: bool,
}

/// Where the search stands.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Decision {
    /// No commit is certain enough yet.
    Searching {
        /// The most likely culprit.
        best: CommitIx,
        /// Its posterior.
        probability: f64,
    },
    /// One commit introduced the failure, at the confidence.
    Culprit {
        /// The commit.
        commit: CommitIx,
        /// Its posterior.
        probability: f64,
    },
    /// The culprit is one of a run of untestable commits or the testable commit after them;
    /// no run can tell them apart.
    Ambiguous {
        /// First commit of the block.
        first: CommitIx,
        /// Last commit of the block (the testable one).
        last: CommitIx,
        /// The block's posterior.
        probability: f64,
    },
    /// The failure was already there at the good commit.
    Predates {
        /// Posterior of "at or before the good commit".
        probability: f64,
    },
}

impl Decision {
    /// The search is over: more runs cannot change the answer at this confidence.
    pub fn is_final(&self) -> bool {
        !matches!(self, Decision::Searching { .. })
    }
}

/// Arguments the search cannot work with.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SearchError {
    /// Fewer than two commits (good and bad).
    #[error("the bisection needs a good and a bad commit; the path has {0} commit(s)")]
    TooFewCommits(usize),
    /// The confidence is not inside (0, 1).
    #[error("the confidence must be between 0 and 1 (exclusive), not {0}")]
    Confidence(f64),
    /// The rate is not inside (0, 1).
    #[error("the failure rate must be between 0 and 1 (exclusive), not {0}")]
    Rate(f64),
    /// The prior weights do not match the commits or are not positive.
    #[error("the prior needs one positive, finite weight per commit")]
    Prior,
}

/// The culprit search over the commits `0..=n` of one path (0 good, `n` bad). Hypothesis `k`
/// says the failure is present from commit `k` on; `k = 0` says it predates the good commit,
/// so the good commit is tested like any other when the evidence points there.
#[derive(Debug, Clone)]
pub struct Search {
    policy: Policy,
    rate: RatePrior,
    /// Normalised prior over hypotheses `0..=n`.
    prior: Vec<f64>,
    evidence: Vec<Evidence>,
    untestable: Vec<bool>,
}

impl Search {
    /// A search over `commits` commits (good first, bad last) with per-commit prior `weights`
    /// (None: uniform) for "this commit introduced it" (index 0: "it predates the good one").
    pub fn new(
        commits: usize,
        weights: Option<Vec<f64>>,
        rate: RatePrior,
        policy: Policy,
    ) -> Result<Search, SearchError> {
        if commits < 2 {
            return Err(SearchError::TooFewCommits(commits));
        }
        if !(policy.confidence > 0.0 && policy.confidence < 1.0) {
            return Err(SearchError::Confidence(policy.confidence));
        }
        if !(rate.a >= -1.0 && rate.b > 0.0 && rate.a.is_finite() && rate.b.is_finite()) {
            return Err(SearchError::Rate(rate.a / (rate.a + rate.b)));
        }
        let weights = weights.unwrap_or_else(|| vec![1.0; commits]);
        if weights.len() != commits || weights.iter().any(|w| !(w.is_finite() && *w > 0.0)) {
            return Err(SearchError::Prior);
        }
        let total: f64 = weights.iter().sum();
        Ok(Search {
            policy,
            rate,
            prior: weights.iter().map(|w| w / total).collect(),
            evidence: vec![Evidence::default(); commits],
            untestable: vec![false; commits],
        })
    }

    /// The bad commit's index.
    pub fn bad(&self) -> CommitIx {
        self.evidence.len() - 1
    }

    /// Whether a commit was found untestable.
    pub fn is_untestable(&self, commit: CommitIx) -> bool {
        self.untestable.get(commit).copied().unwrap_or(false)
    }

    /// Add the outcome of runs at `commit`.
    pub fn record(&mut self, commit: CommitIx, failures: u64, clean: u64) {
        if let Some(evidence) = self.evidence.get_mut(commit) {
            if !self.untestable[commit] {
                evidence.failures += failures;
                evidence.clean += clean;
            }
        }
    }

    /// `commit` cannot be tested (exit 125, or its build failed): its runs are set aside and
    /// probes go around it, as with `git bisect skip`.
    pub fn mark_untestable(&mut self, commit: CommitIx) {
        if let Some(flag) = self.untestable.get_mut(commit) {
            *flag = true;
            self.evidence[commit] = Evidence::default();
        }
    }

    /// Posterior probability of each hypothesis `0..=n` ("the failure is present from commit
    /// k on"). The rate is integrated out: given `k`, the target failures `F` and clean runs
    /// `S` at commits `>= k` have likelihood `B(a + F, b + S) / B(a, b)`; a failure below `k`
    /// rules `k` out.
    pub fn posterior(&self) -> Vec<f64> {
        let commits = self.evidence.len();
        let lowest_failure = self
            .evidence
            .iter()
            .position(|e| e.failures > 0)
            .unwrap_or(commits - 1);
        let mut log_weights = vec![f64::NEG_INFINITY; commits];
        let (mut failures, mut clean) = (0u64, 0u64);
        for k in (0..commits).rev() {
            failures += self.evidence[k].failures;
            clean += self.evidence[k].clean;
            if k <= lowest_failure {
                log_weights[k] = self.prior[k].ln()
                    + ln_beta(
                        (self.rate.a + failures as f64).max(MIN_SHAPE),
                        self.rate.b + clean as f64,
                    );
            }
        }
        normalise_logs(&log_weights)
    }

    /// The posterior mean failure rate at commits that have the failure, given each hypothesis.
    fn rate_given(&self) -> Vec<f64> {
        let mut means = vec![0.0; self.evidence.len()];
        let (mut failures, mut clean) = (0u64, 0u64);
        for k in (0..self.evidence.len()).rev() {
            failures += self.evidence[k].failures;
            clean += self.evidence[k].clean;
            let a = (self.rate.a + failures as f64).max(MIN_SHAPE);
            means[k] = a / (a + self.rate.b + clean as f64);
        }
        means
    }

    /// The failure rate where the failure is present: posterior mean and the hypotheses'
    /// spread folded in.
    pub fn rate_estimate(&self) -> f64 {
        let posterior = self.posterior();
        posterior
            .iter()
            .zip(self.rate_given())
            .map(|(p, m)| p * m)
            .sum()
    }

    /// Expected information (bits) one run at each commit gives about the culprit: the mutual
    /// information between the hypothesis and the run's outcome.
    pub fn information(&self) -> Vec<f64> {
        let posterior = self.posterior();
        let means = self.rate_given();
        let mut bits = vec![0.0; posterior.len()];
        let (mut fail_probability, mut conditional_entropy) = (0.0, 0.0);
        for j in 0..posterior.len() {
            // A run at j fails only under hypotheses k <= j.
            fail_probability += posterior[j] * means[j];
            conditional_entropy += posterior[j] * binary_entropy(means[j]);
            bits[j] = (binary_entropy(fail_probability) - conditional_entropy).max(0.0);
        }
        bits
    }

    /// Where the search stands, by the policy's confidence.
    pub fn decision(&self) -> Decision {
        let posterior = self.posterior();
        let mut best = (0, 0.0);
        for (first, last) in self.blocks() {
            let mass: f64 = posterior[first..=last].iter().sum();
            if mass >= self.policy.confidence {
                return if first == 0 && last == 0 {
                    Decision::Predates { probability: mass }
                } else if first == last {
                    Decision::Culprit {
                        commit: first,
                        probability: mass,
                    }
                } else {
                    Decision::Ambiguous {
                        first,
                        last,
                        probability: mass,
                    }
                };
            }
            for (k, p) in posterior.iter().enumerate().take(last + 1).skip(first) {
                // Ties go to the later commit, the one nearest the failures seen.
                if *p >= best.1 {
                    best = (k, *p);
                }
            }
        }
        Decision::Searching {
            best: best.0,
            probability: best.1,
        }
    }

    /// Hypotheses no run can tell apart: each untestable commit with the commits after it up
    /// to and including the next testable one (or the bad commit).
    pub fn blocks(&self) -> Vec<(CommitIx, CommitIx)> {
        let mut blocks = Vec::new();
        let mut first = 0;
        for (k, untestable) in self.untestable.iter().enumerate() {
            if !untestable || k == self.bad() {
                blocks.push((first, k));
                first = k + 1;
            }
        }
        blocks
    }

    /// The next probe, avoiding commits in `busy` (probes in flight) and untestable ones;
    /// None when every useful commit is busy or the search is over. `runs_left` caps its size.
    pub fn next_probe(&self, busy: &[CommitIx], runs_left: Option<u64>) -> Option<Probe> {
        if self.decision().is_final() || runs_left == Some(0) {
            return None;
        }
        let bad = self.bad();
        let cap = |runs: u64| runs.clamp(1, runs_left.unwrap_or(MAX_BATCH).min(MAX_BATCH));
        if self.evidence[bad].failures < self.policy.measure_failures && !self.untestable[bad] {
            if busy.contains(&bad) {
                return None;
            }
            // The rate is still unknown: until a failure, double the runs there; then size the
            // probe by the rate.
            let seen = self.evidence[bad];
            let runs = if seen.failures == 0 && self.rate.a < 1.0 {
                2.0 * (seen.clean + 1) as f64
            } else {
                1.0 / self.rate_estimate().max(f64::MIN_POSITIVE)
            };
            return Some(Probe {
                commit: bad,
                runs: cap(runs.ceil().min(MAX_BATCH as f64) as u64),
                bits_per_run: 0.0,
                measuring: true,
            });
        }
        let bits = self.information();
        let usable = |j: &CommitIx| !self.untestable[*j] && !busy.contains(j);
        let commit = match self.policy.strategy {
            Strategy::Information => (0..=bad)
                .filter(usable)
                .max_by(|x, y| bits[*x].total_cmp(&bits[*y]))?,
            Strategy::Median => self.median_commit(usable)?,
        };
        let rate = self.rate_estimate().max(f64::MIN_POSITIVE);
        let runs = (BATCH_SCALE / rate).ceil().min(MAX_BATCH as f64) as u64;
        Some(Probe {
            commit,
            runs: cap(runs),
            bits_per_run: bits[commit],
            measuring: false,
        })
    }

    /// The usable commit whose runs split the posterior most evenly: a run at `j` tells
    /// "culprit at or before j" (it can fail) from "after j" (it cannot). Commits at or after
    /// the lowest failure seen split nothing and are left out.
    fn median_commit(&self, usable: impl Fn(&CommitIx) -> bool) -> Option<CommitIx> {
        let posterior = self.posterior();
        let lowest_failure = self
            .evidence
            .iter()
            .position(|e| e.failures > 0)
            .unwrap_or(self.bad());
        let mut cumulative = 0.0;
        let mut best: Option<(CommitIx, f64)> = None;
        for (j, p) in posterior.iter().enumerate().take(lowest_failure) {
            cumulative += p;
            let distance = (cumulative - 0.5).abs();
            if usable(&j) && best.is_none_or(|(_, d)| distance < d) {
                best = Some((j, distance));
            }
        }
        best.map(|(j, _)| j)
    }

    /// Runs that would likely settle the best candidate at the confidence: a failure at it if
    /// none has been seen there yet, then clean runs just below it. None when the search is
    /// already over.
    pub fn runs_to_confirm(&self) -> Option<u64> {
        let Decision::Searching { best, .. } = self.decision() else {
            return None;
        };
        let posterior = self.posterior();
        let rate = self.rate_estimate().clamp(1e-12, 1.0 - 1e-12);
        let failed_at_best = self.evidence[best..]
            .iter()
            .position(|e| e.failures > 0)
            .is_some_and(|offset| offset == 0);
        let mut runs = if failed_at_best { 0.0 } else { 1.0 / rate };
        // After that failure only hypotheses <= best remain.
        let below: f64 = posterior[..best].iter().sum();
        let at = posterior[best];
        let c = self.policy.confidence;
        if below > 0.0 && at > 0.0 {
            let shrink = (at * (1.0 - c) / (c * below)).min(1.0);
            runs += shrink.ln() / (1.0 - rate).ln();
        }
        Some(runs.ceil() as u64)
    }
}

/// Whether failure counts at the bad commit settle which failure mode to bisect: the most
/// common must have failed `wanted` times and at least twice as often as the next, or
/// `4 * wanted` times whatever the next did. Returns the index of the chosen count.
pub fn settled_leader(counts: &[u64], wanted: u64) -> Option<usize> {
    let wanted = wanted.max(1);
    let (leader, &top) = counts
        .iter()
        .enumerate()
        .max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(&a.0)))?;
    let runner_up = counts
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != leader)
        .map(|(_, c)| *c)
        .max()
        .unwrap_or(0);
    let clear = top >= wanted && top >= 2 * runner_up;
    (clear || top >= 4 * wanted).then_some(leader)
}

/// Exponentiate and normalise log-weights (any may be -inf, not all).
fn normalise_logs(logs: &[f64]) -> Vec<f64> {
    let top = logs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if !top.is_finite() {
        return vec![1.0 / logs.len() as f64; logs.len()];
    }
    let weights: Vec<f64> = logs.iter().map(|l| (l - top).exp()).collect();
    let total: f64 = weights.iter().sum();
    weights.iter().map(|w| w / total).collect()
}

/// Entropy of a coin with probability `p`, in bits.
fn binary_entropy(p: f64) -> f64 {
    let term = |x: f64| if x > 0.0 { -x * x.log2() } else { 0.0 };
    term(p) + term(1.0 - p)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(confidence: f64) -> Policy {
        Policy {
            confidence,
            measure_failures: 0,
            strategy: Strategy::Information,
        }
    }

    fn search(commits: usize, rate: f64) -> Search {
        Search::new(
            commits,
            None,
            RatePrior::around(rate).expect("rate"),
            policy(0.99),
        )
        .expect("search")
    }

    #[test]
    fn the_prior_is_uniform_and_nothing_is_decided_before_a_run() {
        let search = search(11, 0.01);
        let posterior = search.posterior();
        assert_eq!(posterior.len(), 11);
        assert!(posterior.iter().all(|p| (p - 1.0 / 11.0).abs() < 1e-12));
        assert!(!search.decision().is_final());
    }

    #[test]
    fn a_failure_rules_out_every_later_commit() {
        let mut search = search(11, 0.01);
        search.record(4, 1, 0);
        let posterior = search.posterior();
        assert!(posterior[5..].iter().all(|p| *p == 0.0), "{posterior:?}");
        assert!((posterior[..5].iter().sum::<f64>() - 1.0).abs() < 1e-12);
    }

    #[test]
    fn one_clean_run_at_a_flaky_rate_barely_moves_the_posterior() {
        let mut search = search(65, 0.01);
        search.record(64, 5, 500);
        let before = search.posterior()[..33].iter().sum::<f64>();
        search.record(32, 0, 1);
        let after = search.posterior()[..33].iter().sum::<f64>();
        assert!(after > 0.98 * before, "{before} -> {after}");
        assert!(!search.decision().is_final());
    }

    #[test]
    fn the_rate_is_uncertain_so_clean_runs_weigh_less_than_a_known_rate_would() {
        // With the rate known to be 1%, 300 clean runs shrink the odds by 0.99^300 ~ 0.049;
        // with only 3 failures behind the estimate, they shrink them less.
        let mut search = search(3, 0.01);
        search.record(1, 0, 300);
        let posterior = search.posterior();
        let odds = (posterior[0] + posterior[1]) / posterior[2];
        assert!(odds > 0.99f64.powi(300) * 2.0, "odds {odds}");
        assert!(odds < 1.0, "odds {odds}");
    }

    #[test]
    fn enough_clean_runs_below_a_failure_convict_it() {
        let mut search = search(9, 0.05);
        search.record(8, 3, 60);
        search.record(5, 1, 10);
        assert!(!search.decision().is_final());
        search.record(4, 0, 400);
        assert_eq!(
            search.decision(),
            Decision::Culprit {
                commit: 5,
                probability: search.posterior()[5]
            }
        );
    }

    #[test]
    fn a_failure_at_the_good_commit_means_it_predates_the_range() {
        let mut search = search(9, 0.05);
        search.record(0, 1, 0);
        assert!(matches!(search.decision(), Decision::Predates { .. }));
    }

    #[test]
    fn untestable_commits_form_a_block_with_the_next_testable_one() {
        let mut search = search(9, 0.05);
        search.mark_untestable(4);
        search.mark_untestable(5);
        assert_eq!(
            search.blocks(),
            vec![(0, 0), (1, 1), (2, 2), (3, 3), (4, 6), (7, 7), (8, 8)]
        );
        search.record(6, 1, 0);
        search.record(3, 0, 2000);
        assert!(
            matches!(
                search.decision(),
                Decision::Ambiguous {
                    first: 4,
                    last: 6,
                    ..
                }
            ),
            "{:?}",
            search.decision()
        );
        // Nothing is ever probed at an untestable commit.
        let mut search = self::search(9, 0.05);
        for k in 1..8 {
            search.mark_untestable(k);
        }
        let probe = search.next_probe(&[], None).expect("probe");
        assert!(probe.commit == 0 || probe.commit == 8, "{probe:?}");
    }

    #[test]
    fn information_peaks_inside_the_range_and_probes_avoid_busy_commits() {
        let mut search = search(65, 0.01);
        search.record(64, 3, 300);
        let bits = search.information();
        let best = (0..65)
            .max_by(|a, b| bits[*a].total_cmp(&bits[*b]))
            .expect("best");
        assert!((10..50).contains(&best), "best {best}: {bits:?}");
        let probe = search.next_probe(&[], None).expect("probe");
        assert_eq!(probe.commit, best);
        // Sized so that clean runs shrink the odds by about e^-BATCH_SCALE.
        assert!((40..200).contains(&probe.runs), "{probe:?}");
        let other = search.next_probe(&[best], None).expect("second probe");
        assert_ne!(other.commit, best);
        assert_eq!(search.next_probe(&[], Some(7)).expect("capped").runs, 7);
    }

    #[test]
    fn measuring_comes_first_and_grows_its_probes() {
        let mut search = Search::new(
            9,
            None,
            RatePrior::unknown(),
            Policy {
                measure_failures: 3,
                ..policy(0.99)
            },
        )
        .expect("search");
        let first = search.next_probe(&[], None).expect("probe");
        assert!(first.measuring && first.commit == 8, "{first:?}");
        search.record(8, 0, 100);
        let second = search.next_probe(&[], None).expect("probe");
        assert!(second.measuring && second.runs > 50, "{second:?}");
        search.record(8, 3, 100);
        assert!(!search.next_probe(&[], None).expect("probe").measuring);
    }

    #[test]
    fn a_stronger_prior_weight_draws_the_posterior() {
        let mut weights = vec![1.0; 9];
        weights[6] = 10.0;
        let search =
            Search::new(9, Some(weights), RatePrior::unknown(), policy(0.9)).expect("search");
        let posterior = search.posterior();
        assert!((posterior[6] - 10.0 / 18.0).abs() < 1e-12);
        assert!(Search::new(9, Some(vec![1.0; 3]), RatePrior::unknown(), policy(0.9)).is_err());
        assert!(Search::new(9, Some(vec![0.0; 9]), RatePrior::unknown(), policy(0.9)).is_err());
    }

    #[test]
    fn the_default_target_must_lead_clearly() {
        assert_eq!(settled_leader(&[], 3), None);
        assert_eq!(settled_leader(&[2], 3), None);
        assert_eq!(settled_leader(&[3], 3), Some(0));
        assert_eq!(settled_leader(&[3, 2], 3), None);
        assert_eq!(settled_leader(&[1, 4], 3), Some(1));
        assert_eq!(settled_leader(&[11, 12], 3), Some(1));
        assert_eq!(
            settled_leader(&[12, 12], 3),
            Some(0),
            "ties go to the first seen"
        );
    }

    #[test]
    fn bad_arguments_are_refused() {
        assert!(Search::new(1, None, RatePrior::unknown(), policy(0.9)).is_err());
        assert!(Search::new(5, None, RatePrior::unknown(), policy(1.0)).is_err());
        assert!(Search::new(5, None, RatePrior::unknown(), policy(f64::NAN)).is_err());
        assert!(RatePrior::around(0.0).is_err());
        assert!(RatePrior::around(1.5).is_err());
    }

    #[test]
    fn runs_to_confirm_counts_the_failure_and_the_clean_runs_below() {
        let mut search = search(9, 0.01);
        search.record(8, 3, 300);
        search.record(5, 1, 0);
        let runs = search.runs_to_confirm().expect("still searching");
        // A failure is in hand; clean runs at 4 must shrink about 4/5 of the mass by ~0.0025.
        assert!((200..1200).contains(&runs), "{runs}");
        search.record(4, 0, 2000);
        assert_eq!(search.runs_to_confirm(), None);
    }
}
