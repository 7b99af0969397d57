//! Failure-rate statistics: confidence intervals and bounds for a binomial failure rate,
//! how many runs a campaign needs to see or rule out a flake, exact comparisons of two
//! samples (did a fix work, which variant is flakier), and human-readable forms of small
//! probabilities.

use statrs::distribution::{ContinuousCDF, Normal};
use statrs::function::beta::checked_beta_reg;
use statrs::function::gamma::ln_gamma;

/// A point estimate of a failure rate with a two-sided confidence interval around it.
///
/// For a failure rate all three values are probabilities in `[0, 1]` with
/// `low <= estimate <= high`. [`rate_ratio`] reuses the type for a ratio of two rates, whose
/// values are any non-negative number or infinity (still ordered the same way).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Interval {
    /// Observed failure fraction (`failures / runs`), or 0 when nothing was run.
    pub estimate: f64,
    /// Lower end of the interval.
    pub low: f64,
    /// Upper end of the interval.
    pub high: f64,
}

impl Interval {
    /// The interval that claims nothing: any rate in `[0, 1]` is possible.
    fn trivial(estimate: f64) -> Self {
        Interval {
            estimate,
            low: 0.0,
            high: 1.0,
        }
    }
}

/// Whether `confidence` is a usable confidence level, i.e. strictly inside `(0, 1)`.
fn valid_confidence(confidence: f64) -> bool {
    confidence > 0.0 && confidence < 1.0
}

/// The observed failure fraction, or 0 when it is undefined (no runs, or more failures than runs).
fn observed(failures: u64, runs: u64) -> f64 {
    if runs == 0 || failures > runs {
        0.0
    } else {
        failures as f64 / runs as f64
    }
}

/// Quantile of the Beta(`a`, `b`) distribution: the `x` with `I_x(a, b) = p`.
///
/// statrs' own inverse (`inv_beta_reg`) loses accuracy for large shape parameters and can fail
/// to terminate for some of them, so the root is found by bisection on the bit patterns of
/// non-negative `f64`s (which order like the values they encode), evaluating statrs'
/// regularized incomplete beta function. That takes at most 64 steps and resolves the root to
/// about one ulp of whatever `I_x` statrs computes; with statrs' continued fraction this matches
/// reference implementations to ~1e-8 relative for up to about ten million runs.
fn beta_quantile(a: f64, b: f64, p: f64) -> f64 {
    if p <= 0.0 {
        return 0.0;
    }
    if p >= 1.0 {
        return 1.0;
    }
    // Invariant: I_lo(a, b) < p <= I_hi(a, b).
    let mut lo = 0.0f64.to_bits();
    let mut hi = 1.0f64.to_bits();
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        // An evaluation error (not expected for validated shapes) counts as "at or above p",
        // which keeps the search bounded and moves it towards 0.
        let below = checked_beta_reg(a, b, f64::from_bits(mid)).is_ok_and(|v| v < p);
        if below {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    f64::from_bits(hi)
}

/// Exact (Clopper-Pearson) two-sided interval for the failure rate after `failures` failures in
/// `runs` runs.
///
/// It is conservative: its coverage is never below `confidence`, which is what a claim such as
/// "this test fails less than 1 in 10,000 runs" needs. With no runs, more failures than runs,
/// or a `confidence` outside `(0, 1)` (including NaN), the trivial interval `[0, 1]` is returned
/// (with the estimate still `failures / runs` when that is defined); this never panics.
pub fn clopper_pearson(failures: u64, runs: u64, confidence: f64) -> Interval {
    let estimate = observed(failures, runs);
    if runs == 0 || failures > runs || !valid_confidence(confidence) {
        return Interval::trivial(estimate);
    }
    let alpha = 1.0 - confidence;
    let (k, n) = (failures as f64, runs as f64);
    let low = if failures == 0 {
        0.0
    } else {
        beta_quantile(k, n - k + 1.0, alpha / 2.0)
    };
    let high = if failures == runs {
        1.0
    } else {
        beta_quantile(k + 1.0, n - k, 1.0 - alpha / 2.0)
    };
    Interval {
        estimate,
        low: low.clamp(0.0, estimate),
        high: high.clamp(estimate, 1.0),
    }
}

/// Wilson score two-sided interval for the failure rate.
///
/// Narrower than Clopper-Pearson with close to nominal average coverage, so it suits
/// comparisons and displays rather than guarantees. Invalid input gives the trivial interval, as
/// for [`clopper_pearson`].
#[cfg(test)]
pub fn wilson(failures: u64, runs: u64, confidence: f64) -> Interval {
    let estimate = observed(failures, runs);
    if runs == 0 || failures > runs || !valid_confidence(confidence) {
        return Interval::trivial(estimate);
    }
    let z = Normal::standard().inverse_cdf(1.0 - (1.0 - confidence) / 2.0);
    let n = runs as f64;
    let p = estimate;
    let z2n = z * z / n;
    let denom = 1.0 + z2n;
    let centre = (p + z2n / 2.0) / denom;
    let half = z * (p * (1.0 - p) / n + z2n / (4.0 * n)).sqrt() / denom;
    let low = if failures == 0 { 0.0 } else { centre - half };
    let high = if failures == runs { 1.0 } else { centre + half };
    Interval {
        estimate,
        low: low.clamp(0.0, estimate),
        high: high.clamp(estimate, 1.0),
    }
}

/// Exact one-sided (Clopper-Pearson) upper bound on the failure rate at `confidence`.
///
/// This is the number behind "with 95% confidence this test fails less often than X": for zero
/// failures it equals `1 - (1 - confidence)^(1 / runs)`, about `3 / runs` at 95% (the "rule of
/// three"). No runs, more failures than runs, or an invalid `confidence` give 1 (no bound).
pub fn upper_bound(failures: u64, runs: u64, confidence: f64) -> f64 {
    if runs == 0 || failures > runs || !valid_confidence(confidence) || failures == runs {
        return 1.0;
    }
    let (k, n) = (failures as f64, runs as f64);
    beta_quantile(k + 1.0, n - k, confidence).clamp(k / n, 1.0)
}

// ---------------------------------------------------------------------------------------------
// Planning: how many runs a campaign needs.
// ---------------------------------------------------------------------------------------------

/// Largest number of runs the planning functions return. Beyond 2^53 run counts are no longer
/// exact in `f64`, and no campaign could execute that many runs anyway, so such answers are
/// reported as `None` rather than as a meaningless huge number.
const MAX_RUNS: u64 = 1 << 53;

/// Largest failure count [`runs_to_observe_k`] plans for. Its work grows with the square root of
/// this count; ten million keeps a call within milliseconds, far above what any campaign needs.
const MAX_PLANNED_FAILURES: u64 = 10_000_000;

/// Whether `rate` is a usable per-run failure probability for planning, i.e. inside `(0, 1]`.
fn valid_rate(rate: f64) -> bool {
    rate > 0.0 && rate <= 1.0
}

/// Fewest `n >= 1` with `(1 - rate)^n <= 1 - level`, i.e. `n * ln(1 - rate) <= ln(1 - level)`.
///
/// Both sides are computed with `ln_1p`, so tiny rates keep full precision. The
/// quotient of the two logarithms is within a few ulps of the boundary; a short bounded search
/// then lands exactly on the smallest `n` for which the comparison, as evaluated, holds.
fn geometric_runs(rate: f64, level: f64) -> Option<u64> {
    if !valid_rate(rate) || !valid_confidence(level) {
        return None;
    }
    if rate == 1.0 {
        return Some(1);
    }
    let per_run = (-rate).ln_1p();
    let target = (-level).ln_1p();
    let holds = |n: u64| n as f64 * per_run <= target;
    let guess = (target / per_run).ceil();
    // Also rejects infinity (a rate so small that ln(1 - rate) is subnormal).
    if guess.is_nan() || guess > MAX_RUNS as f64 {
        return None;
    }
    let mut n = (guess as u64).max(1);
    for _ in 0..8 {
        if n > 1 && holds(n - 1) {
            n -= 1;
        } else if !holds(n) && n < MAX_RUNS {
            n += 1;
        } else {
            break;
        }
    }
    holds(n).then_some(n)
}

/// Fewest runs `n` for which at least one failure shows up with probability at least
/// `probability`, when each run fails independently with probability `rate`.
///
/// This answers "how long must I hunt before a 1-in-30,000 flake is likely to appear?": the
/// smallest `n` with `1 - (1 - rate)^n >= probability`, computed in closed form via `ln_1p`
/// so that tiny rates stay exact. For example a rate of 1/30,000 needs 89,871 runs for a 95%
/// chance. `None` when `rate` is not in `(0, 1]` (including NaN), `probability` is not in
/// `(0, 1)`, or the answer would exceed 2^53 runs.
pub fn runs_to_observe(rate: f64, probability: f64) -> Option<u64> {
    geometric_runs(rate, probability)
}

/// Fewest runs `n` for which at least `k` failures show up with probability at least
/// `probability`, i.e. the smallest `n` with `P(Binomial(n, rate) >= k) >= probability`.
///
/// Collecting one failure is often not enough: classifying a flake or bisecting it needs
/// several failing logs, and this tells a campaign how long that takes. `k = 0` needs no runs;
/// `k = 1` is [`runs_to_observe`]. `None` for the same invalid input as there, for `k` above
/// ten million, or when the answer would exceed 2^53 runs.
///
/// `P(X >= k)` equals the regularized incomplete beta function `I_rate(k, n - k + 1)`, but
/// statrs evaluates that through `lnΓ` of the run count, which leaves only about six correct
/// digits at a billion runs, and its continued fraction stops converging for hundreds of
/// thousands of failures (1% off at a million); either moves the answer by thousands of runs.
/// The tail is therefore summed directly: starting at the mode of
/// the binomial, terms are generated by the exact ratio of consecutive probabilities and
/// normalised by their own sum, stopping once they fall below 1e-17 of the smaller of
/// `probability` and `1 - probability` relative to the mode (so the neglected mass cannot
/// disturb the comparison, and only a window of about ±10 standard deviations, a few times
/// `sqrt(k)` terms, is visited for everyday probabilities). `n` is found by doubling and then
/// bisection, about 60 tail evaluations in the worst case.
pub fn runs_to_observe_k(rate: f64, k: u64, probability: f64) -> Option<u64> {
    if !valid_rate(rate) || !valid_confidence(probability) || k > MAX_PLANNED_FAILURES {
        return None;
    }
    match k {
        0 => return Some(0),
        1 => return runs_to_observe(rate, probability),
        _ => {}
    }
    if rate == 1.0 {
        return Some(k);
    }
    let reached = |n: u64| binomial_tail_reaches(n, rate, k, probability);
    // With fewer than k runs, k failures are impossible, so k - 1 never reaches the target.
    let mut lo = k - 1;
    // Start where k failures are expected, then double until the target is reached.
    let start = (k as f64 / rate).ceil();
    if start.is_nan() || start > MAX_RUNS as f64 {
        return None;
    }
    let mut hi = (start as u64).max(k);
    while !reached(hi) {
        if hi >= MAX_RUNS {
            return None;
        }
        lo = hi;
        hi = hi.saturating_mul(2).min(MAX_RUNS);
    }
    // Invariant: !reached(lo) && reached(hi).
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if reached(mid) {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    Some(hi)
}

/// Whether `P(Binomial(n, rate) >= k) >= probability`, for `0 < rate < 1`, `k >= 1` and
/// `n <= 2^53` (see [`runs_to_observe_k`] for the method).
fn binomial_tail_reaches(n: u64, rate: f64, k: u64, probability: f64) -> bool {
    if n < k {
        return false;
    }
    let nf = n as f64;
    let odds = rate / (1.0 - rate);
    // P(j + 1) / P(j) and P(j - 1) / P(j) for the binomial.
    let up = |j: u64| (nf - j as f64) / (j as f64 + 1.0) * odds;
    let down = |j: u64| j as f64 / ((nf - j as f64 + 1.0) * odds);
    let guess = ((nf + 1.0) * rate).floor() as u64;
    let mode = settle_mode(0, n, guess, &up, &down);
    // The tail compared is at least min(p, 1 - p) of the total mass, which is at least the
    // mode's weight of 1, so terms this small relative to the mode cannot change the outcome.
    let cutoff = (probability.min(1.0 - probability) * 1e-17).max(f64::MIN_POSITIVE);
    let (mut below, mut at_or_above) = (0.0f64, 0.0f64);
    walk_unimodal(0, n, mode, &up, &down, cutoff, |j, w| {
        if j >= k {
            at_or_above += w;
        } else {
            below += w;
        }
    });
    let total = below + at_or_above;
    // Compare whichever tail is the small one, so a probability close to 1 keeps its precision.
    if probability >= 0.5 {
        below / total <= 1.0 - probability
    } else {
        at_or_above / total >= probability
    }
}

/// Fewest consecutive clean runs that support the claim "the failure rate is below `rate`" at
/// `confidence`: the smallest `n` with `(1 - rate)^n <= 1 - confidence`.
///
/// After `n` clean runs the exact one-sided upper bound ([`upper_bound`] with 0 failures) is
/// `1 - (1 - confidence)^(1/n)`, so this is the campaign length after which a clean record proves
/// the target. Numerically it is the same as [`runs_to_observe`]`(rate, confidence)`: a
/// flake at exactly `rate` would, with probability `confidence`, have failed within that many
/// runs. `None` when `rate` is not in `(0, 1]`, `confidence` is not in `(0, 1)`, or the answer
/// would exceed 2^53 runs.
pub fn clean_runs_to_claim(rate: f64, confidence: f64) -> Option<u64> {
    geometric_runs(rate, confidence)
}

// ---------------------------------------------------------------------------------------------
// Comparing two samples: "did the fix work?", "which variant is flakier?".
// ---------------------------------------------------------------------------------------------

/// Failure counts up to which [`sequential_clean_runs_p`] multiplies its factors directly: each
/// factor is correctly rounded, so exact ties (such as one baseline failure, where the p-value
/// hits `1 - confidence` exactly) are decided as exact arithmetic would decide them.
const DIRECT_PRODUCT_MAX_FAILURES: u64 = 64;

/// One-sided p-value for "the new version fails at least as often as the baseline" after
/// `clean_runs` consecutive clean runs of the new version, given `baseline_failures` failures in
/// `baseline_runs` runs of the old one.
///
/// This is Fisher's exact test on the 2x2 table (baseline failures/passes, new 0/`clean_runs`):
/// conditional on the `k` failures seen in total, the chance that none of them landed in the new
/// sample is `C(baseline_runs, k) / C(baseline_runs + clean_runs, k)`. `verify` evaluates it after
/// every clean run and declares the flake fixed once it drops to `1 - confidence`; because it
/// only ever decreases while runs stay clean, the first such run is
/// [`clean_runs_to_beat_baseline`]. Returns 1 (no evidence) when there were no baseline failures,
/// no clean runs, or more failures than runs. Never panics; for more than 64 failures the ratio
/// is evaluated in log space from a Stirling series (accurate to about 1e-9 relative for up
/// to a million failures), and p-values below about 1e-308 come out as 0.
pub fn sequential_clean_runs_p(baseline_failures: u64, baseline_runs: u64, clean_runs: u64) -> f64 {
    let (k, n0, n) = (baseline_failures, baseline_runs, clean_runs);
    if k == 0 || k > n0 || n == 0 {
        return 1.0;
    }
    if k <= DIRECT_PRODUCT_MAX_FAILURES {
        let extra = n as f64;
        return (0..k).fold(1.0, |p, i| {
            let left = (n0 - i) as f64;
            p * (left / (left + extra))
        });
    }
    ln_clean_p(k, n0, n).exp().clamp(0.0, 1.0)
}

/// `ln(C(n0, k) / C(n0 + n, k))` for `1 <= k <= n0`, `n >= 1`.
///
/// Writing `x = n0 - k + 1` and `y = x + n`, this is `G(x, k) - G(y, k)` with
/// `G(x, h) = lnΓ(x + h) - lnΓ(x)`. Subtracting two `lnΓ` values of size `n0 ln n0` (about 2e10
/// at a billion runs) would leave only about six correct digits, so for `x >= 16` the Stirling
/// series is expanded so that the large terms cancel analytically and only `ln_1p` of small
/// ratios remains.
fn ln_clean_p(k: u64, n0: u64, n: u64) -> f64 {
    let h = k as f64;
    let x = (n0 - k) as f64 + 1.0;
    let extra = n as f64;
    let y = x + extra;
    if x < STIRLING_MIN {
        return ln_gamma_ratio(x, h) - ln_gamma_ratio(y, h);
    }
    (x - 0.5) * (h / x).ln_1p() - (y - 0.5) * (h / y).ln_1p() - h * (extra / (x + h)).ln_1p()
        + stirling_tail(x + h)
        - stirling_tail(x)
        - stirling_tail(y + h)
        + stirling_tail(y)
}

/// Arguments from which the truncated Stirling series in [`stirling_tail`] is accurate to
/// about 1e-14 absolute.
const STIRLING_MIN: f64 = 16.0;

/// `lnΓ(z) - ((z - 1/2) ln z - z + ln(2π)/2)`, by its asymptotic series (for `z >= 16`).
fn stirling_tail(z: f64) -> f64 {
    let inv = 1.0 / z;
    let inv2 = inv * inv;
    inv * (1.0 / 12.0 - inv2 * (1.0 / 360.0 - inv2 * (1.0 / 1260.0 - inv2 / 1680.0)))
}

/// `lnΓ(x + h) - lnΓ(x)` for `x > 0`, `h >= 0`, without subtracting two large `lnΓ` values.
///
/// Small `x` is first shifted up with `Γ(x + 1) = x Γ(x)`; once `x >= 16` the Stirling form
/// `(x - 1/2) ln(1 + h/x) + h (ln(x + h) - 1)` plus the series remainders is used.
fn ln_gamma_ratio(x: f64, h: f64) -> f64 {
    let (mut x, mut h, mut acc) = (x, h, 0.0);
    while x < STIRLING_MIN && h >= 1.0 {
        acc += x.ln();
        x += 1.0;
        h -= 1.0;
    }
    if h <= 0.0 {
        return acc;
    }
    if x < STIRLING_MIN {
        return acc + ln_gamma(x + h) - ln_gamma(x);
    }
    acc + (x - 0.5) * (h / x).ln_1p() + h * ((x + h).ln() - 1.0) + stirling_tail(x + h)
        - stirling_tail(x)
}

/// Fewest consecutive clean runs of a new version after which [`sequential_clean_runs_p`] drops
/// to `1 - confidence`, i.e. after which the exact one-sided test concludes that the new version
/// fails less often than the baseline did (`baseline_failures` in `baseline_runs`).
///
/// This is how long `verify` has to run a fix before it may call a flake fixed. With one
/// baseline failure it is `baseline_runs * (1 / alpha - 1)` (570,000 clean runs to beat 1 failure
/// in 30,000 at 95%): beating a rare flake needs far more runs than it took to see it once.
/// Found by bisection between 0 and the bound `baseline_runs * (alpha^(-1/k) - 1)`, which always
/// suffices because `C(n0, k) / C(n0 + n, k) <= (n0 / (n0 + n))^k`. `None` when there were no
/// baseline failures (nothing to beat), more failures than runs, `confidence` outside `(0, 1)`,
/// or an answer above 2^53 runs.
pub fn clean_runs_to_beat_baseline(
    baseline_failures: u64,
    baseline_runs: u64,
    confidence: f64,
) -> Option<u64> {
    let (k, n0) = (baseline_failures, baseline_runs);
    if k == 0 || k > n0 || !valid_confidence(confidence) {
        return None;
    }
    let alpha = 1.0 - confidence;
    let beats = |n: u64| sequential_clean_runs_p(k, n0, n) <= alpha;
    let bound = (n0 as f64 * (-alpha.ln() / k as f64).exp_m1()).ceil() + 1.0;
    if bound.is_nan() || bound > MAX_RUNS as f64 {
        return None;
    }
    let mut hi = bound as u64;
    // The bound holds exactly; allow for rounding in its evaluation all the same.
    let mut widened = 0;
    while !beats(hi) {
        if widened == 8 || hi >= MAX_RUNS {
            return None;
        }
        hi = hi.saturating_mul(2).min(MAX_RUNS);
        widened += 1;
    }
    // Invariant: !beats(lo) && beats(hi); no runs give p = 1 > alpha.
    let mut lo = 0;
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if beats(mid) {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    Some(hi)
}

/// P-values of Fisher's exact test comparing the failure rates of two samples A and B.
///
/// `p_a_greater` is small when A fails more often than B (it tests the null hypothesis that A's
/// rate is at most B's), `p_a_less` when A fails less often, and `p_two_sided` when they differ
/// either way. All three are in `[0, 1]`.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct FisherResult {
    /// Probability, given the margins, of a table at most as likely as the observed one.
    pub p_two_sided: f64,
    /// Probability, given the margins, of A having at least the observed number of failures.
    pub p_a_greater: f64,
    /// Probability, given the margins, of A having at most the observed number of failures.
    pub p_a_less: f64,
}

impl FisherResult {
    /// The result that claims no difference at all.
    const NO_EVIDENCE: FisherResult = FisherResult {
        p_two_sided: 1.0,
        p_a_greater: 1.0,
        p_a_less: 1.0,
    };
}

/// Tables are treated as equally likely when their probabilities agree to this relative
/// tolerance, so that ties broken only by rounding still count towards the two-sided p-value
/// (the convention of R's `fisher.test`; SciPy uses 1e-14).
const FISHER_TIE_TOLERANCE: f64 = 1e-7;

/// Largest standard deviation of the conditional distribution for which [`fisher_exact`] sums
/// the hypergeometric probabilities exactly (about 40 standard deviations each way, twice);
/// beyond it a normal approximation is used.
const FISHER_MAX_EXACT_SD: f64 = 5_000.0;

/// Weights below this fraction of the modal probability are skipped by [`fisher_exact`]: they
/// are below the smallest normal `f64` once normalised.
const FISHER_CUTOFF: f64 = 1e-300;

/// Fisher's exact test on the 2x2 table of failures and passes of samples A and B.
///
/// Comparing two rates this way is valid at any count, including the zero-failure samples that
/// flaky-test campaigns produce all the time, where chi-squared tests fail. Conditional on the
/// total number of failures `F`, A's failures follow a hypergeometric distribution; the
/// one-sided p-values are its tails at the observed count, and the two-sided p-value sums the
/// probabilities of all tables no more likely than the observed one (within a relative tolerance
/// of 1e-7). This is `scipy.stats.fisher_exact([[a_failures, a_runs - a_failures],
/// [b_failures, b_runs - b_failures]], alternative=...)` with `"greater"` for `p_a_greater`,
/// except that SciPy breaks ties at a relative tolerance of 1e-14, which only matters for
/// tables whose probabilities agree to between 7 and 14 digits.
///
/// Cost: only the support of the hypergeometric (at most `F + 1` values) matters, and of that
/// only the part within about 40 standard deviations of the mode, starting from which
/// probabilities are generated by their exact ratios and normalised by their sum. That is at
/// most about 60,000 terms, twice, for a million failures in each sample, well under a
/// millisecond in an optimised build. If the standard deviation exceeds 5,000
/// (hundreds of millions of failures) or the runs exceed 2^53, a normal approximation with
/// continuity correction is used instead. P-values below about 1e-300 come out as 0.
///
/// An empty sample, no failures at all, or no passes at all carry no evidence and give 1 for
/// all three p-values, as does invalid input (more failures than runs); this never panics.
pub fn fisher_exact(a_failures: u64, a_runs: u64, b_failures: u64, b_runs: u64) -> FisherResult {
    if a_failures > a_runs || b_failures > b_runs || a_runs == 0 || b_runs == 0 {
        return FisherResult::NO_EVIDENCE;
    }
    let runs = u128::from(a_runs) + u128::from(b_runs);
    let failures = u128::from(a_failures) + u128::from(b_failures);
    if failures == 0 || failures == runs {
        return FisherResult::NO_EVIDENCE;
    }
    let (nf, ff, af) = (runs as f64, failures as f64, a_runs as f64);
    let share = af / nf;
    let mean = ff * share;
    let variance = ff * share * (1.0 - share) * (nf - ff) / (nf - 1.0);
    let sd = variance.sqrt();
    if runs > u128::from(MAX_RUNS) || sd > FISHER_MAX_EXACT_SD {
        return fisher_normal(a_failures as f64, mean, sd);
    }
    // Here every count is at most 2^53, so it fits u64 and converts to f64 exactly.
    let (f, na, nb, a) = (failures as u64, a_runs, b_runs, a_failures);
    let lo = f.saturating_sub(nb);
    let hi = f.min(na);
    // P(x + 1) / P(x) and P(x - 1) / P(x) for A's failure count x.
    let up =
        |x: u64| ((f - x) as f64 * (na - x) as f64) / ((x + 1) as f64 * (nb + x + 1 - f) as f64);
    let down =
        |x: u64| (x as f64 * (nb + x - f) as f64) / ((f - x + 1) as f64 * (na - x + 1) as f64);
    let guess = ((ff + 1.0) * (af + 1.0) / (nf + 2.0)).floor() as u64;
    let mode = settle_mode(lo, hi, guess, &up, &down);

    let (mut total, mut observed) = (0.0f64, 0.0f64);
    walk_unimodal(lo, hi, mode, &up, &down, FISHER_CUTOFF, |x, w| {
        total += w;
        if x == a {
            observed = w;
        }
    });
    let threshold = observed * (1.0 + FISHER_TIE_TOLERANCE);
    let (mut two_sided, mut greater, mut less) = (0.0f64, 0.0f64, 0.0f64);
    walk_unimodal(lo, hi, mode, &up, &down, FISHER_CUTOFF, |x, w| {
        if w <= threshold {
            two_sided += w;
        }
        if x >= a {
            greater += w;
        }
        if x <= a {
            less += w;
        }
    });
    FisherResult {
        p_two_sided: (two_sided / total).clamp(0.0, 1.0),
        p_a_greater: (greater / total).clamp(0.0, 1.0),
        p_a_less: (less / total).clamp(0.0, 1.0),
    }
}

/// Normal approximation (with continuity correction) to [`fisher_exact`] for tables too large to
/// sum exactly; `mean` and `sd` are those of A's conditional failure count.
fn fisher_normal(a: f64, mean: f64, sd: f64) -> FisherResult {
    if sd.is_nan() || sd <= 0.0 {
        return FisherResult::NO_EVIDENCE;
    }
    let z = Normal::standard();
    let p_a_less = z.cdf((a + 0.5 - mean) / sd);
    let p_a_greater = z.sf((a - 0.5 - mean) / sd);
    let p_two_sided = (2.0 * z.sf(((a - mean).abs() - 0.5).max(0.0) / sd)).min(1.0);
    FisherResult {
        p_two_sided,
        p_a_greater,
        p_a_less,
    }
}

/// Interval for how many times more often B fails than A, `rate_b / rate_a`, with its point
/// estimate, at `confidence`.
///
/// "The new runner image fails 4.2 times as often (1.3 to 17 at 95%)" is the statement a
/// comparison should end in; a p-value alone does not say how big the difference is. The
/// interval is exact and conditional: given `F = a_failures + b_failures`, B's share of the
/// failures is `Binomial(F, pi)` with `pi = n_b r_b / (n_a r_a + n_b r_b)`, so the Clopper-Pearson
/// interval of `pi` maps to the ratio `R = pi / (1 - pi) * n_a / n_b`. It is conservative, like
/// [`clopper_pearson`]; `1 - pi` is obtained from the mirrored beta quantile rather than by
/// subtraction, so the ends stay accurate when B has nearly all the failures. The binomial
/// split of the failures holds exactly for Poisson counts, i.e. it treats each sample's failures
/// as rare events in its runs; for the small rates of flaky tests that is immaterial, but for
/// rates of tens of percent the interval is approximate.
///
/// The values are ratios, not probabilities: any non-negative number. With no failures in A the
/// estimate and the upper end are `f64::INFINITY` (B is worse by an unbounded factor; serde_json
/// writes that as `null`); with no failures in B both the estimate and the lower end are 0.
/// `None` when neither sample failed (nothing to compare), a sample is empty or has more failures
/// than runs, or `confidence` is not in `(0, 1)`.
pub fn rate_ratio(
    a_failures: u64,
    a_runs: u64,
    b_failures: u64,
    b_runs: u64,
    confidence: f64,
) -> Option<Interval> {
    if a_runs == 0
        || b_runs == 0
        || a_failures > a_runs
        || b_failures > b_runs
        || (a_failures == 0 && b_failures == 0)
        || !valid_confidence(confidence)
    {
        return None;
    }
    let alpha = 1.0 - confidence;
    let (a, b) = (a_failures as f64, b_failures as f64);
    let (na, nb) = (a_runs as f64, b_runs as f64);
    let runs_ratio = na / nb;
    let estimate = if a_failures == 0 {
        f64::INFINITY
    } else {
        (b / nb) / (a / na)
    };
    // pi_low = Q(b, a + 1; alpha/2), and 1 - pi_low = Q(a + 1, b; 1 - alpha/2) by symmetry.
    let low = if b_failures == 0 {
        0.0
    } else {
        beta_quantile(b, a + 1.0, alpha / 2.0) / beta_quantile(a + 1.0, b, 1.0 - alpha / 2.0)
            * runs_ratio
    };
    // pi_high = Q(b + 1, a; 1 - alpha/2), and 1 - pi_high = Q(a, b + 1; alpha/2).
    let high = if a_failures == 0 {
        f64::INFINITY
    } else {
        beta_quantile(b + 1.0, a, 1.0 - alpha / 2.0) / beta_quantile(a, b + 1.0, alpha / 2.0)
            * runs_ratio
    };
    Some(Interval {
        estimate,
        low: low.clamp(0.0, estimate),
        high: high.max(estimate),
    })
}

// ---------------------------------------------------------------------------------------------
// Summing a unimodal discrete distribution from its mode outwards.
// ---------------------------------------------------------------------------------------------

/// Moves `guess` (clamped to `[lo, hi]`) to a mode of a unimodal distribution given by its
/// neighbour ratios `up(x) = P(x + 1) / P(x)` and `down(x) = P(x - 1) / P(x)`. Guesses from the
/// closed-form mode are off by at most a couple of steps; the search is capped at 64 steps.
fn settle_mode(
    lo: u64,
    hi: u64,
    guess: u64,
    up: &impl Fn(u64) -> f64,
    down: &impl Fn(u64) -> f64,
) -> u64 {
    let mut m = guess.clamp(lo, hi);
    for _ in 0..64 {
        if m < hi && up(m) > 1.0 {
            m += 1;
        } else if m > lo && down(m) > 1.0 {
            m -= 1;
        } else {
            break;
        }
    }
    m
}

/// Most steps [`walk_unimodal`] takes in each direction, a guard against unbounded work; callers
/// keep the distributions narrow enough that it is never reached.
const WALK_MAX_STEPS: u64 = 1 << 22;

/// Calls `visit(x, w)` for the support points of a unimodal distribution on `[lo, hi]` whose
/// weight `w = P(x) / P(mode)` is at least `cutoff`, walking outwards from `mode` with the
/// neighbour ratios (see [`settle_mode`]).
///
/// Generating terms by ratios avoids evaluating binomial coefficients of huge numbers (whose
/// logarithms lose digits at a billion runs); each step adds about one rounding error, so even
/// after the tens of thousands of steps of the largest supported inputs the weights are good to
/// about 1e-11. Because
/// the distribution is unimodal, once a weight falls below `cutoff` every weight further out is
/// smaller still, and the neglected mass is negligible when normalising by the visited sum.
fn walk_unimodal(
    lo: u64,
    hi: u64,
    mode: u64,
    up: &impl Fn(u64) -> f64,
    down: &impl Fn(u64) -> f64,
    cutoff: f64,
    mut visit: impl FnMut(u64, f64),
) {
    visit(mode, 1.0);
    let (mut x, mut w, mut steps) = (mode, 1.0f64, 0);
    while x < hi && steps < WALK_MAX_STEPS {
        w *= up(x);
        x += 1;
        steps += 1;
        if w.is_nan() || w < cutoff {
            break;
        }
        visit(x, w);
    }
    let (mut x, mut w, mut steps) = (mode, 1.0f64, 0);
    while x > lo && steps < WALK_MAX_STEPS {
        w *= down(x);
        x -= 1;
        steps += 1;
        if w.is_nan() || w < cutoff {
            break;
        }
        visit(x, w);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Reference values were computed with SciPy 1.17.1 as
    //   low  = scipy.stats.beta.ppf(alpha / 2, k, n - k + 1)
    //   high = scipy.stats.beta.ppf(1 - alpha / 2, k + 1, n - k)
    //   upper_bound = scipy.stats.beta.ppf(confidence, k + 1, n - k)
    // and cross-checked with
    //   statsmodels.stats.proportion.proportion_confint(k, n, alpha, method="beta" | "wilson").

    const REL: f64 = 1e-6;

    fn close(actual: f64, expected: f64) -> bool {
        if expected == 0.0 {
            actual == 0.0
        } else {
            ((actual - expected) / expected).abs() <= REL
        }
    }

    #[track_caller]
    fn assert_close(actual: f64, expected: f64) {
        assert!(
            close(actual, expected),
            "actual {actual:e} vs expected {expected:e}"
        );
    }

    #[track_caller]
    fn assert_interval(iv: Interval, estimate: f64, low: f64, high: f64) {
        assert_close(iv.estimate, estimate);
        assert_close(iv.low, low);
        assert_close(iv.high, high);
    }

    #[test]
    fn clopper_pearson_matches_scipy() {
        // (k, n, low, high) at 95%.
        let cases: &[(u64, u64, f64, f64)] = &[
            // low = 0 (k = 0); high = scipy.stats.beta.ppf(0.975, 1, 10)
            (0, 10, 0.0, 0.3084971078187607),
            // high = scipy.stats.beta.ppf(0.975, 1, 3000)
            (0, 3000, 0.0, 0.0012288708038255115),
            // scipy.stats.beta.ppf(0.025, 1, 30000), scipy.stats.beta.ppf(0.975, 2, 29999)
            (1, 30000, 8.439265767034287e-07, 0.0001857072961123104),
            // scipy.stats.beta.ppf(0.025, 3, 998), scipy.stats.beta.ppf(0.975, 4, 997)
            (3, 1000, 0.0006190999316495713, 0.008742023238478303),
            // scipy.stats.beta.ppf(0.025, 50, 51), scipy.stats.beta.ppf(0.975, 51, 50)
            (50, 100, 0.39832112950330095, 0.601678870496699),
            // scipy.stats.beta.ppf(0.025, 100, 1); high = 1 (k = n)
            (100, 100, 0.9637833073548235, 1.0),
            // scipy.stats.beta.ppf(0.025, 5, 4996), scipy.stats.beta.ppf(0.975, 6, 4995)
            (5, 5000, 0.0003247744747778161, 0.0023321105911455896),
        ];
        for &(k, n, low, high) in cases {
            let iv = clopper_pearson(k, n, 0.95);
            assert_interval(iv, k as f64 / n as f64, low, high);
        }
    }

    #[test]
    fn clopper_pearson_other_confidence() {
        // statsmodels proportion_confint(3, 1000, alpha=0.01, method="beta")
        let iv = clopper_pearson(3, 1000, 0.99);
        assert_interval(iv, 0.003, 0.0003381445290664933, 0.010933777420405242);
    }

    #[test]
    fn clopper_pearson_edge_cases() {
        assert_eq!(clopper_pearson(0, 0, 0.95), Interval::trivial(0.0));
        let iv = clopper_pearson(0, 50, 0.95);
        assert_eq!((iv.estimate, iv.low), (0.0, 0.0));
        let iv = clopper_pearson(7, 7, 0.95);
        assert_eq!((iv.estimate, iv.high), (1.0, 1.0));
        // Invalid input degrades to the trivial interval instead of panicking.
        assert_eq!(clopper_pearson(5, 3, 0.95), Interval::trivial(0.0));
        for confidence in [0.0, 1.0, -0.5, 1.5, f64::NAN, f64::INFINITY] {
            assert_eq!(clopper_pearson(1, 4, confidence), Interval::trivial(0.25));
            assert_eq!(wilson(1, 4, confidence), Interval::trivial(0.25));
            assert_eq!(upper_bound(1, 4, confidence), 1.0);
        }
    }

    #[test]
    fn clopper_pearson_huge_counts_terminate_and_are_ordered() {
        for &(k, n) in &[
            (10_000, 1_000_000),
            (u64::MAX / 2, u64::MAX),
            (1, u64::MAX),
            (u64::MAX - 1, u64::MAX),
        ] {
            let iv = clopper_pearson(k, n, 0.95);
            assert!(iv.low <= iv.estimate && iv.estimate <= iv.high, "{iv:?}");
            assert!(iv.low >= 0.0 && iv.high <= 1.0, "{iv:?}");
            let w = wilson(k, n, 0.95);
            assert!(w.low <= w.estimate && w.estimate <= w.high, "{w:?}");
        }
    }

    #[test]
    fn wilson_matches_statsmodels() {
        // statsmodels proportion_confint(3, 1000, alpha=0.05, method="wilson")
        assert_interval(
            wilson(3, 1000, 0.95),
            0.003,
            0.0010207838811386195,
            0.008783014053503176,
        );
        // statsmodels proportion_confint(0, 10, alpha=0.05, method="wilson")
        assert_interval(wilson(0, 10, 0.95), 0.0, 0.0, 0.27753279986288926);
        // statsmodels proportion_confint(50, 100, alpha=0.01, method="wilson")
        assert_interval(
            wilson(50, 100, 0.99),
            0.5,
            0.3752796250448398,
            0.6247203749551602,
        );
        assert_eq!(wilson(0, 0, 0.95), Interval::trivial(0.0));
        assert_eq!(wilson(4, 4, 0.95).high, 1.0);
    }

    #[test]
    fn upper_bound_matches_scipy() {
        // scipy.stats.beta.ppf(0.95, k + 1, n - k)
        let cases: &[(u64, u64, f64)] = &[
            (0, 10, 0.2588655508930522),
            (0, 3000, 0.0009980790119965865),
            (1, 30000, 0.00015811895074140282),
            (3, 1000, 0.007735244718479458),
            (50, 100, 0.5863782853690882),
            (5, 5000, 0.0021014479783966794),
        ];
        for &(k, n, expected) in cases {
            assert_close(upper_bound(k, n, 0.95), expected);
        }
        assert_eq!(upper_bound(100, 100, 0.95), 1.0);
        assert_eq!(upper_bound(0, 0, 0.95), 1.0);
    }

    #[test]
    fn upper_bound_zero_failures_is_closed_form() {
        for n in [1u64, 3, 10, 300, 3000, 30000] {
            let closed = 1.0 - 0.05f64.powf(1.0 / n as f64);
            assert_close(upper_bound(0, n, 0.95), closed);
        }
        // Rule of three: about 3/n at 95%.
        let b = upper_bound(0, 3000, 0.95);
        assert!((b * 3000.0 - 3.0).abs() < 0.01, "{b}");
    }

    #[test]
    fn interval_serde_round_trip() {
        let iv = clopper_pearson(3, 1000, 0.95);
        let json = serde_json::to_string(&iv).expect("serialise");
        let back: Interval = serde_json::from_str(&json).expect("deserialise");
        assert_eq!(back, iv);
    }

    // ----- Planning -------------------------------------------------------------------------

    #[test]
    fn runs_to_observe_matches_closed_form() {
        // Exact n = ceil(ln(1 - p) / ln(1 - r)), evaluated with 50-digit decimal arithmetic
        // (Python's decimal module); the fractional part of the quotient is given so that the
        // margin from the next integer is visible.
        let cases: &[(f64, f64, u64)] = &[
            (1.0 / 30000.0, 0.95, 89_871), // 89870.470...
            (0.01, 0.5, 69),               // 68.968...
            (1e-9, 0.95, 2_995_732_273),   // 2995732272.056...
            (0.5, 0.99, 7),                // 6.644...
            (1e-3, 0.999, 6_905),          // 6904.301...
        ];
        for &(rate, p, n) in cases {
            assert_eq!(runs_to_observe(rate, p), Some(n), "rate {rate} p {p}");
        }
        assert_eq!(runs_to_observe(1.0, 0.999), Some(1));
        // A rate so small that the answer exceeds 2^53 runs.
        assert_eq!(runs_to_observe(1e-300, 0.5), None);
        for (rate, p) in [
            (0.0, 0.5),
            (-0.1, 0.5),
            (1.5, 0.5),
            (f64::NAN, 0.5),
            (0.1, 0.0),
            (0.1, 1.0),
            (0.1, f64::NAN),
            (0.1, -1.0),
        ] {
            assert_eq!(runs_to_observe(rate, p), None, "rate {rate} p {p}");
            assert_eq!(clean_runs_to_claim(rate, p), None, "rate {rate} p {p}");
            assert_eq!(runs_to_observe_k(rate, 3, p), None, "rate {rate} p {p}");
        }
    }

    #[test]
    fn runs_to_observe_k_matches_scipy() {
        // Smallest n with scipy.stats.binom.sf(k - 1, n, rate) >= p, found by bisection; the
        // comment gives binom.sf(k - 1, n - 1, rate) and binom.sf(k - 1, n, rate).
        let cases: &[(f64, u64, f64, u64)] = &[
            // 0.9499992160938544, 0.9500008827866513
            (1.0 / 30000.0, 1, 0.95, 89_871),
            // 0.9499991950542441, 0.9500004132865526
            (1.0 / 30000.0, 3, 0.95, 188_872),
            // 0.8997929258282339, 0.9003697681209994
            (0.01, 5, 0.9, 798),
            // 0.9899983934686848, 0.9900006973928938
            (1e-3, 100, 0.99, 124_710),
            // 0.49999996392572676, 0.5000000925984376
            (1e-6, 10, 0.5, 9_668_715),
            // 0.049353332381818014, 0.05328884430660991
            (0.2, 50, 0.05, 201),
            // 0.9499998765553179, 0.9500001917753782
            (1e-4, 1000, 0.95, 10_525_745),
            // Extreme probabilities, where the small tail must keep its relative precision:
            // 9.999986919507665e-13, 1.0000251927323067e-12
            (1e-4, 1000, 1e-12, 7_934_496),
            // binom.cdf(49, n - 1, 0.01), binom.cdf(49, n, 0.01):
            // 1.0054028905547912e-09, 9.99964197657906e-10
            (0.01, 50, 1.0 - 1e-9, 10_438),
        ];
        for &(rate, k, p, n) in cases {
            assert_eq!(
                runs_to_observe_k(rate, k, p),
                Some(n),
                "rate {rate} k {k} p {p}"
            );
        }
    }

    #[test]
    fn runs_to_observe_k_edge_cases() {
        assert_eq!(runs_to_observe_k(0.01, 0, 0.95), Some(0));
        for (rate, p) in [(1.0 / 30000.0, 0.95), (0.3, 0.5), (1e-9, 0.999)] {
            assert_eq!(runs_to_observe_k(rate, 1, p), runs_to_observe(rate, p));
        }
        assert_eq!(runs_to_observe_k(1.0, 7, 0.95), Some(7));
        // More failures need more runs.
        let mut previous = 0;
        for k in 1..=20 {
            let n = runs_to_observe_k(0.001, k, 0.9).expect("valid input");
            assert!(n > previous, "k {k}: {n} <= {previous}");
            previous = n;
        }
        assert_eq!(runs_to_observe_k(0.01, MAX_PLANNED_FAILURES + 1, 0.9), None);
        assert_eq!(runs_to_observe_k(1e-15, 1000, 0.9), None);
    }

    #[test]
    fn clean_runs_to_claim_matches_upper_bound() {
        // Same closed form as runs_to_observe: ceil(ln(0.05) / ln(1 - 1/30000)) = 89871.
        assert_eq!(clean_runs_to_claim(1.0 / 30000.0, 0.95), Some(89_871));
        // ceil(ln(0.01) / ln(0.999)) = ceil(4602.87...).
        assert_eq!(clean_runs_to_claim(0.001, 0.99), Some(4_603));
        assert_eq!(clean_runs_to_claim(1.0, 0.95), Some(1));
        // After n clean runs the exact upper bound is below the rate; after n - 1 it is not.
        for (rate, confidence) in [(1.0 / 30000.0, 0.95), (0.001, 0.99), (0.05, 0.9)] {
            let n = clean_runs_to_claim(rate, confidence).expect("valid input");
            assert!(upper_bound(0, n, confidence) <= rate);
            assert!(upper_bound(0, n - 1, confidence) > rate);
        }
    }

    // ----- Comparing samples ----------------------------------------------------------------

    #[test]
    fn clean_runs_to_beat_baseline_matches_exact_arithmetic() {
        // Smallest n with prod_{i < k} (n0 - i) / (n0 + n - i) <= 1/20, in exact rational
        // arithmetic (Python fractions); the same n results with alpha = float(1 - 0.95).
        // One failure: n0 * (1 / alpha - 1) = 30000 * 19 = 570000 exactly, where p = 0.05.
        let cases: &[(u64, u64, u64)] = &[
            (1, 30_000, 570_000),
            // p(1712) = 0.05003887485788938, p(1713) = 0.04998354252299308
            (3, 1_000, 1_713),
            // p(1639) = 0.05003345969802133, p(1640) = 0.049964732418216355
            (5, 2_000, 1_640),
            // p(302) = 0.05029235827122956, p(303) = 0.049804225122911314 (log-space path)
            (100, 10_000, 303),
            // p(32) = 0.05226480836236934, p(33) = 0.04983388704318937
            (2, 10, 33),
        ];
        for &(k, n0, n) in cases {
            assert_eq!(
                clean_runs_to_beat_baseline(k, n0, 0.95),
                Some(n),
                "{k} in {n0}"
            );
        }
        // Smallest n with math.fsum(math.log1p(-n / (n0 + n - i)) for i in range(k))
        // <= ln(alpha); margins at n - 1 and n are 4.8e-4 and 5.1e-4 (1000 in 1e6, 99%) and
        // 2.4e-4 and 7.6e-4 (a million in a billion, 95%).
        assert_eq!(
            clean_runs_to_beat_baseline(1000, 1_000_000, 0.99),
            Some(4_614)
        );
        assert_eq!(
            clean_runs_to_beat_baseline(1_000_000, 1_000_000_000, 0.95),
            Some(2_995)
        );
        assert_eq!(clean_runs_to_beat_baseline(0, 30_000, 0.95), None);
        assert_eq!(clean_runs_to_beat_baseline(5, 3, 0.95), None);
        assert_eq!(clean_runs_to_beat_baseline(1, 30_000, 1.0), None);
        assert_eq!(clean_runs_to_beat_baseline(1, 30_000, f64::NAN), None);
        // One failure in 2^50 runs would need more than 2^53 clean runs.
        assert_eq!(clean_runs_to_beat_baseline(1, 1 << 50, 0.95), None);
        // Every baseline run failed: p(n) = 1 / C(n0 + n, n0), and 1 / C(6, 3) = 1/20 exactly.
        assert_eq!(clean_runs_to_beat_baseline(3, 3, 0.95), Some(3));
    }

    #[test]
    fn sequential_clean_runs_p_matches_exact_arithmetic() {
        // float(prod_{i < k} Fraction(n0 - i, n0 + n - i)), Python fractions.
        let cases: &[(u64, u64, u64, f64)] = &[
            (5, 2_000, 1_000, 0.13146767258040545),
            (3, 1_000, 500, 0.29599973636184695),
            (1, 30_000, 570_000, 0.05),
            (100, 10_000, 500, 0.0074261954737334206),
            (100, 10_000, 1_234, 8.371338794638072e-06),
            (65, 100, 7, 0.0010346048628640091),
            (70, 80, 1_000, 8.870766527497623e-100),
        ];
        for &(k, n0, n, expected) in cases {
            assert_close(sequential_clean_runs_p(k, n0, n), expected);
        }
        // math.exp(math.fsum(math.log1p(-n / (n0 + n - i)) for i in range(k)))
        let cases: &[(u64, u64, u64, f64)] = &[
            (1_000, 1_000_000, 3_000, 0.04993645446657256),
            (200, 1_000, 150, 3.714364250666045e-14),
            (1_000_000, 1_000_000_000, 2_000, 0.13520019620326612),
            (1_000_000, 1_000_000_000, 5_000, 0.006721196074928513),
        ];
        for &(k, n0, n, expected) in cases {
            assert_close(sequential_clean_runs_p(k, n0, n), expected);
        }
        assert_eq!(sequential_clean_runs_p(0, 100, 100), 1.0);
        assert_eq!(sequential_clean_runs_p(3, 100, 0), 1.0);
        assert_eq!(sequential_clean_runs_p(300, 100, 10), 1.0);
        let tiny = sequential_clean_runs_p(1_000_000, 1_000_000, u64::MAX);
        assert!((0.0..1e-300).contains(&tiny), "{tiny}");
        // The live p-value is Fisher's one-sided p-value for the same table.
        for &(k, n0, n) in &[
            (5u64, 2_000u64, 1_000u64),
            (3, 1_000, 1_713),
            (100, 10_000, 500),
        ] {
            let fisher = fisher_exact(k, n0, 0, n).p_a_greater;
            let live = sequential_clean_runs_p(k, n0, n);
            assert!(((fisher - live) / live).abs() < 1e-9, "{fisher} vs {live}");
        }
    }

    #[test]
    fn fisher_exact_matches_scipy() {
        // (a_failures, a_runs, b_failures, b_runs, two-sided, greater, less) where
        //   t = [[a_failures, a_runs - a_failures], [b_failures, b_runs - b_failures]]
        //   scipy.stats.fisher_exact(t, alternative="two-sided" | "greater" | "less").pvalue
        // (SciPy 1.17.1). The first, fifth and ninth tables contain exact ties with the
        // observed table's probability.
        #[allow(clippy::type_complexity)]
        let cases: &[(u64, u64, u64, u64, f64, f64, f64)] = &[
            (1, 30_000, 0, 30_000, 1.0, 0.5, 1.0),
            (
                5,
                1_000,
                0,
                1_000,
                0.0621875785163488,
                0.0310937892581744,
                1.0,
            ),
            (
                3,
                100,
                10,
                100,
                0.08179405296897922,
                0.9907930368846266,
                0.04089702648448961,
            ),
            (0, 10, 0, 10, 1.0, 1.0, 1.0),
            (
                10,
                1_000_000,
                30,
                1_000_000,
                0.0022212140615238945,
                0.9996602663453044,
                0.001110607030761947,
            ),
            (
                4,
                50_000,
                1,
                3_000,
                0.25275028710577685,
                0.9714425621904337,
                0.25275028710577685,
            ),
            (
                7,
                20,
                2,
                25,
                0.056702522386016446,
                0.02998681501233969,
                0.99625665989818,
            ),
            (
                0,
                500,
                6,
                400,
                0.00754738877407922,
                1.0,
                0.00754738877407922,
            ),
            (
                2,
                1_000,
                2,
                1_000,
                1.0,
                0.6876877347036062,
                0.6876877347036062,
            ),
            (
                12,
                12,
                3,
                40,
                2.2046773314287508e-09,
                2.2046773314287504e-09,
                1.0,
            ),
            // Here SciPy's values (0.030720614590084083, 0.986249761830046,
            // 0.015360307295042036) are off by up to 1.8e-7 relative; the expected values were
            // summed in exact rational arithmetic (Python fractions) over the whole support,
            // with ties taken at a relative tolerance of 1e-7.
            (
                1_000,
                1_000_000_000,
                1_100,
                1_000_000_000,
                0.030720620195741663,
                0.9862497609005653,
                0.015360310097870832,
            ),
            (
                100,
                2_000_000,
                60,
                1_000_000,
                0.2758316474487992,
                0.8846002677481422,
                0.1506266281464593,
            ),
        ];
        for &(a, na, b, nb, two, greater, less) in cases {
            let r = fisher_exact(a, na, b, nb);
            let label = format!("({a}, {na}, {b}, {nb}) -> {r:?}");
            assert!(close(r.p_two_sided, two), "two-sided {label}");
            assert!(close(r.p_a_greater, greater), "greater {label}");
            assert!(close(r.p_a_less, less), "less {label}");
        }
    }

    #[test]
    fn fisher_exact_edge_cases() {
        let none = FisherResult::NO_EVIDENCE;
        // Invalid counts, empty samples, no failures or no passes at all: no evidence.
        assert_eq!(fisher_exact(5, 3, 0, 10), none);
        assert_eq!(fisher_exact(0, 10, 11, 10), none);
        assert_eq!(fisher_exact(0, 0, 3, 10), none);
        assert_eq!(fisher_exact(3, 10, 0, 0), none);
        assert_eq!(fisher_exact(10, 10, 7, 7), none);
        assert_eq!(fisher_exact(0, u64::MAX, 0, u64::MAX), none);
        // Swapping the samples swaps the one-sided p-values.
        for &(a, na, b, nb) in &[
            (3u64, 100u64, 10u64, 100u64),
            (7, 20, 2, 25),
            (1, 50, 4, 3000),
        ] {
            let r = fisher_exact(a, na, b, nb);
            let s = fisher_exact(b, nb, a, na);
            assert!(close(r.p_a_greater, s.p_a_less) && close(r.p_a_less, s.p_a_greater));
            assert!(close(r.p_two_sided, s.p_two_sided));
        }
        // Huge counts terminate, stay in range and are ordered sensibly, on the exact path
        // (a million failures each in a billion runs) and on the normal-approximation path.
        for &(a, na, b, nb) in &[
            (1_000_000, 1_000_000_000, 999_000, 1_000_000_000),
            (1_000_000, 1_000_000_000, 0, 1_000_000_000),
            (u64::MAX / 4, u64::MAX / 2, u64::MAX / 4, u64::MAX / 2),
            (u64::MAX, u64::MAX, 0, u64::MAX),
            (1, 1 << 60, 0, 1 << 60),
        ] {
            let r = fisher_exact(a, na, b, nb);
            for p in [r.p_two_sided, r.p_a_greater, r.p_a_less] {
                assert!((0.0..=1.0).contains(&p), "({a}, {na}, {b}, {nb}) -> {r:?}");
            }
        }
        let r = fisher_exact(1_000_000, 1_000_000_000, 0, 1_000_000_000);
        assert_eq!((r.p_two_sided, r.p_a_greater, r.p_a_less), (0.0, 0.0, 1.0));
        let r = fisher_exact(u64::MAX / 4, u64::MAX / 2, u64::MAX / 4, u64::MAX / 2);
        assert!(r.p_two_sided > 0.5, "{r:?}");
    }

    #[test]
    fn fisher_result_serialises() {
        let json = serde_json::to_string(&fisher_exact(3, 100, 10, 100)).expect("serialise");
        assert!(
            json.contains("\"p_two_sided\":") && json.contains("\"p_a_less\":"),
            "{json}"
        );
    }

    #[test]
    fn rate_ratio_matches_scipy() {
        // ci = scipy.stats.binomtest(b, a + b).proportion_ci(confidence, method="exact");
        // low = ci.low / scipy.stats.beta.ppf(1 - alpha/2, a + 1, b) * n_a / n_b,
        // high = ci.high / scipy.stats.beta.ppf(alpha/2, a, b + 1) * n_a / n_b.
        #[allow(clippy::type_complexity)]
        let cases: &[(u64, u64, u64, u64, f64, f64, f64, f64)] = &[
            (
                2,
                10_000,
                10,
                10_000,
                0.95,
                5.0,
                1.0655278434992153,
                46.93283545241519,
            ),
            (
                5,
                1_000,
                20,
                4_000,
                0.95,
                1.0,
                0.36419412607910157,
                3.409707834021809,
            ),
            (
                30,
                1_000_000,
                300,
                2_000_000,
                0.99,
                5.0,
                3.089122390678065,
                8.625786327622428,
            ),
            (
                4,
                50,
                1,
                3_000,
                0.9,
                0.004166666666666667,
                0.0001718576552994628,
                0.03198211128796577,
            ),
        ];
        for &(a, na, b, nb, confidence, estimate, low, high) in cases {
            let iv = rate_ratio(a, na, b, nb, confidence).expect("valid input");
            assert_interval(iv, estimate, low, high);
        }
        // B never failed: the upper end is the odds of pi = 0.975, i.e. 39 (for equal runs).
        assert_interval(
            rate_ratio(1, 30_000, 0, 30_000, 0.95).expect("valid"),
            0.0,
            0.0,
            39.0,
        );
        // A never failed: B is worse by an unbounded factor.
        let iv = rate_ratio(0, 1_000, 3, 1_000, 0.95).expect("valid input");
        assert_eq!((iv.estimate, iv.high), (f64::INFINITY, f64::INFINITY));
        assert_close(iv.low, 0.413231355030894);
    }

    #[test]
    fn rate_ratio_edge_cases() {
        assert_eq!(rate_ratio(0, 100, 0, 100, 0.95), None);
        assert_eq!(rate_ratio(1, 0, 1, 100, 0.95), None);
        assert_eq!(rate_ratio(1, 100, 1, 0, 0.95), None);
        assert_eq!(rate_ratio(101, 100, 1, 100, 0.95), None);
        assert_eq!(rate_ratio(1, 100, 101, 100, 0.95), None);
        for confidence in [0.0, 1.0, f64::NAN, -1.0] {
            assert_eq!(rate_ratio(1, 100, 2, 100, confidence), None);
        }
        for &(a, na, b, nb) in &[
            (
                1_000_000u64,
                1_000_000_000u64,
                2_000_000u64,
                1_000_000_000u64,
            ),
            (1, u64::MAX, u64::MAX, u64::MAX),
            (u64::MAX, u64::MAX, 1, u64::MAX),
            (7, 7, 9, 9),
        ] {
            let iv = rate_ratio(a, na, b, nb, 0.95).expect("valid input");
            assert!(
                iv.low >= 0.0 && iv.low <= iv.estimate && iv.estimate <= iv.high,
                "{iv:?}"
            );
        }
        // Swapping the samples inverts the ratio and its interval.
        let ab = rate_ratio(3, 1_000, 12, 2_000, 0.95).expect("valid input");
        let ba = rate_ratio(12, 2_000, 3, 1_000, 0.95).expect("valid input");
        assert_close(ab.estimate, 1.0 / ba.estimate);
        assert_close(ab.low, 1.0 / ba.high);
        assert_close(ab.high, 1.0 / ba.low);
    }

    #[test]
    fn planning_handles_large_counts() {
        // Smallest n with scipy.stats.binom.sf(99999, n, 1e-3) >= 0.95 (margins 1.2e-7 and
        // 2.1e-7 around 0.95).
        assert_eq!(runs_to_observe_k(1e-3, 100_000, 0.95), Some(100_520_456));
        assert!(runs_to_observe_k(1e-9, 1_000, 0.95).is_some());
        assert!(runs_to_observe_k(0.5, 1_000_000, 0.999).is_some());
        // ceil(ln(0.05) / ln(1 - 1e-12)) = ceil(2995732273552.49...), 60-digit decimals.
        assert_eq!(clean_runs_to_claim(1e-12, 0.95), Some(2_995_732_273_553));
    }

    // ----- Calibration by simulation --------------------------------------------------------

    /// SplitMix64: a tiny, well-mixed generator, so that the simulations are deterministic.
    struct SplitMix64(u64);

    impl SplitMix64 {
        fn next_u64(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        }

        /// Uniform on `(0, 1]`.
        fn unit(&mut self) -> f64 {
            ((self.next_u64() >> 11) + 1) as f64 / (1u64 << 53) as f64
        }

        /// Number of runs up to and including the next failure (geometric on 1, 2, ...).
        fn runs_to_failure(&mut self, rate: f64) -> u64 {
            if rate <= 0.0 {
                return u64::MAX;
            }
            1 + (self.unit().ln() / (-rate).ln_1p()).floor() as u64
        }

        /// Failures in `runs` runs at `rate`, by jumping from failure to failure.
        fn failures(&mut self, runs: u64, rate: f64) -> u64 {
            let (mut at, mut count) = (0u64, 0u64);
            loop {
                at = at.saturating_add(self.runs_to_failure(rate));
                if at > runs {
                    return count;
                }
                count += 1;
            }
        }
    }

    /// Three standard errors of a simulated proportion near `p` from `trials` trials.
    fn three_se(p: f64, trials: usize) -> f64 {
        3.0 * (p * (1.0 - p) / trials as f64).sqrt()
    }

    #[test]
    fn intervals_cover_the_true_rate_in_simulation() {
        // Exact coverage at n = 500, rate = 0.01 (summing binomial probabilities over k):
        // Clopper-Pearson 0.980, Wilson 0.962.
        const TRIALS: usize = 2_000;
        let (runs, rate) = (500, 0.01);
        let mut rng = SplitMix64(0x5EED_0001);
        let (mut cp, mut wi) = (0usize, 0usize);
        for _ in 0..TRIALS {
            let k = rng.failures(runs, rate);
            let iv = clopper_pearson(k, runs, 0.95);
            cp += usize::from(iv.low <= rate && rate <= iv.high);
            let iv = wilson(k, runs, 0.95);
            wi += usize::from(iv.low <= rate && rate <= iv.high);
        }
        let (cp, wi) = (cp as f64 / TRIALS as f64, wi as f64 / TRIALS as f64);
        assert!(
            cp >= 0.95 - three_se(0.95, TRIALS),
            "Clopper-Pearson coverage {cp}"
        );
        assert!(wi >= 0.93 - three_se(0.93, TRIALS), "Wilson coverage {wi}");
    }

    /// Runs the `verify` procedure once: stop at the first failure (not fixed) or once the live
    /// p-value reaches `alpha` (fixed), giving up after `cap` runs. Returns whether it said fixed.
    fn simulate_verify(rng: &mut SplitMix64, k: u64, n0: u64, rate: f64, alpha: f64) -> bool {
        const CAP: u64 = 200_000;
        let first_failure = rng.runs_to_failure(rate);
        for clean in 1..first_failure.min(CAP + 1) {
            if sequential_clean_runs_p(k, n0, clean) <= alpha {
                return true;
            }
        }
        false
    }

    #[test]
    fn verify_procedure_rarely_calls_an_unfixed_flake_fixed() {
        const TRIALS: usize = 2_000;
        let (n0, rate, alpha) = (2_000, 0.0025, 0.05);
        let mut rng = SplitMix64(0x5EED_0002);

        // Baseline: 5 failures in 2,000 runs, as expected at the true rate; the "fix" changed
        // nothing. Exactly: (1 - 0.0025)^1640 = 0.0165.
        let wrong = (0..TRIALS)
            .filter(|_| simulate_verify(&mut rng, 5, n0, rate, alpha))
            .count() as f64
            / TRIALS as f64;
        assert!(
            wrong <= alpha + three_se(alpha, TRIALS),
            "wrongly fixed {wrong}"
        );

        // The baseline count is itself random (Binomial(2000, 0.0025)); exactly 0.0346.
        let wrong = (0..TRIALS)
            .filter(|_| {
                let k = rng.failures(n0, rate);
                simulate_verify(&mut rng, k, n0, rate, alpha)
            })
            .count() as f64
            / TRIALS as f64;
        assert!(
            wrong <= alpha + three_se(alpha, TRIALS),
            "wrongly fixed {wrong}"
        );

        // A real fix (rate down twenty-fold) is usually recognised: exactly
        // (1 - 0.000125)^1640 = 0.815.
        let fixed = (0..TRIALS)
            .filter(|_| simulate_verify(&mut rng, 5, n0, rate / 20.0, alpha))
            .count() as f64
            / TRIALS as f64;
        assert!(
            fixed >= 0.815 - three_se(0.815, TRIALS),
            "recognised fixes {fixed}"
        );
    }
}
