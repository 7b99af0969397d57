//! Failure-rate statistics: confidence intervals and bounds for a binomial failure rate,
//! and human-readable forms of small probabilities.

use statrs::distribution::{ContinuousCDF, Normal};
use statrs::function::beta::checked_beta_reg;

/// A point estimate of a failure rate with a two-sided confidence interval around it.
///
/// All three values are probabilities in `[0, 1]` with `low <= estimate <= high`.
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

/// A probability as a percentage with two significant digits, e.g. `0.024%` or `12%`.
///
/// Flaky failure rates span many orders of magnitude, so a fixed number of decimals would either
/// hide small rates or print noise for large ones. Rates below one in 10^8 print as
/// `<0.000001%`; a rate just under 1 never rounds up to `100%`. NaN prints as `?`.
pub fn format_rate(rate: f64) -> String {
    if rate.is_nan() {
        return "?".to_string();
    }
    let rate = rate.clamp(0.0, 1.0);
    if rate == 0.0 {
        return "0%".to_string();
    }
    if rate == 1.0 {
        return "100%".to_string();
    }
    if rate < 1e-8 {
        return "<0.000001%".to_string();
    }
    let pct = rate * 100.0;
    let mut magnitude = pct.log10().floor() as i32;
    // Rounding to two significant digits can carry into the next power of ten (9.96 -> 10).
    if (pct / 10f64.powi(magnitude - 1)).round() >= 100.0 {
        magnitude += 1;
    }
    let decimals = (1 - magnitude).max(0) as usize;
    let text = format!("{pct:.decimals$}");
    if text == "100" || text == "100.0" {
        return ">99%".to_string();
    }
    format!("{text}%")
}

/// A probability as "1 in N" with N rounded sensibly, e.g. `1 in 4,167` or `1 in 30,000`.
///
/// People grasp "1 in 30,000 runs" more readily than `0.0033%`. N is shown to one decimal below
/// 10, as a whole number below 10,000, and to three significant digits above that (the data
/// rarely supports more). A rate of 0 (or negative, or NaN) gives `0` because "1 in infinity" is
/// meaningless; rates above 1 count as 1.
pub fn one_in(rate: f64) -> String {
    if rate.is_nan() || rate <= 0.0 {
        return "0".to_string();
    }
    let n = 1.0 / rate.min(1.0);
    if n < 9.95 {
        let text = format!("{n:.1}");
        let text = text.strip_suffix(".0").unwrap_or(&text);
        return format!("1 in {text}");
    }
    if n < 9_999.5 {
        return format!("1 in {}", group_thousands(n.round() as u64));
    }
    if n >= 1e18 {
        return format!("1 in {n:.1e}");
    }
    let magnitude = n.log10().floor() as i32;
    let step = 10f64.powi(magnitude - 2);
    let rounded = (n / step).round() * step;
    format!("1 in {}", group_thousands(rounded as u64))
}

/// `n` in decimal with `,` between groups of three digits.
fn group_thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
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
    fn format_rate_forms() {
        assert_eq!(format_rate(0.00024), "0.024%");
        assert_eq!(format_rate(0.5), "50%");
        assert_eq!(format_rate(0.123), "12%");
        assert_eq!(format_rate(0.0123), "1.2%");
        assert_eq!(format_rate(0.0996), "10%");
        assert_eq!(format_rate(0.000996), "0.10%");
        assert_eq!(format_rate(1.0 / 30000.0), "0.0033%");
        assert_eq!(format_rate(0.0), "0%");
        assert_eq!(format_rate(1.0), "100%");
        assert_eq!(format_rate(0.9999), ">99%");
        assert_eq!(format_rate(1e-12), "<0.000001%");
        assert_eq!(format_rate(-1.0), "0%");
        assert_eq!(format_rate(f64::NAN), "?");
    }

    #[test]
    fn one_in_forms() {
        assert_eq!(one_in(0.00024), "1 in 4,167");
        assert_eq!(one_in(1.0 / 30000.0), "1 in 30,000");
        assert_eq!(one_in(1.0 / 271_083.0), "1 in 271,000");
        assert_eq!(one_in(1.0 / 12_345_678.0), "1 in 12,300,000");
        assert_eq!(one_in(0.5), "1 in 2");
        assert_eq!(one_in(0.7), "1 in 1.4");
        assert_eq!(one_in(1.0), "1 in 1");
        assert_eq!(one_in(2.0), "1 in 1");
        assert_eq!(one_in(0.001), "1 in 1,000");
        assert_eq!(one_in(0.0001), "1 in 10,000");
        assert_eq!(one_in(1e-20), "1 in 1.0e20");
        assert_eq!(one_in(0.0), "0");
        assert_eq!(one_in(-0.1), "0");
        assert_eq!(one_in(f64::NAN), "0");
    }

    #[test]
    fn interval_serde_round_trip() {
        let iv = clopper_pearson(3, 1000, 0.95);
        let json = serde_json::to_string(&iv).expect("serialise");
        let back: Interval = serde_json::from_str(&json).expect("deserialise");
        assert_eq!(back, iv);
    }
}
