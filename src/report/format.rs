//! The units every view shares: rates, "1 in N", p-values, durations, counts with thousands
//! separators, and paths for display. One place, so every view words a number the same way.

use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::time::Duration;

/// Short duration for humans: `850us`, `12.3ms`, `4.56s`, `1m5s`, `2h3m`.
pub fn compact_duration(duration: Duration) -> String {
    let seconds = duration.as_secs_f64();
    if seconds < 0.001 {
        format!("{}us", duration.as_micros())
    } else if seconds < 1.0 {
        format!("{:.1}ms", seconds * 1e3)
    } else if seconds < 60.0 {
        format!("{seconds:.2}s")
    } else {
        let total = duration.as_secs();
        let (hours, minutes, secs) = (total / 3600, (total % 3600) / 60, total % 60);
        if hours > 0 {
            format!("{hours}h{minutes}m")
        } else {
            format!("{minutes}m{secs}s")
        }
    }
}

/// A path for display: relative to the current directory when it lies below it.
pub fn display_path(path: &Path) -> String {
    let relative = std::env::current_dir()
        .ok()
        .and_then(|cwd| path.strip_prefix(cwd).ok().map(Path::to_path_buf));
    let shown = relative.as_deref().unwrap_or(path);
    crate::text::escape_line(shown.as_os_str().as_bytes(), 4096)
}

/// Integer with thousands separators: `30,000`.
pub fn thousands(value: u64) -> String {
    group_thousands(value)
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

/// A p-value as printed next to a verdict: `p < 0.001` below 0.001, otherwise `p = ` and three
/// significant digits without trailing zeros (`p = 0.0496`, `p = 0.094`, `p = 1`), so a value
/// just under a threshold never rounds onto it. NaN prints as `p = ?`.
pub fn format_p(p: f64) -> String {
    if p.is_nan() {
        return "p = ?".to_string();
    }
    let p = p.clamp(0.0, 1.0);
    if p < 0.001 {
        return "p < 0.001".to_string();
    }
    format!("p = {}", significant(p))
}

/// A probability in (0, 1] to three significant digits without trailing zeros: `0.05`,
/// `0.0496`, `1`.
pub fn significant(p: f64) -> String {
    if !(p > 0.0 && p.is_finite()) {
        return "0".to_string();
    }
    let decimals = (2 - p.log10().floor() as i32).max(0) as usize;
    let text = format!("{p:.decimals$}");
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        text
    }
}

/// A ratio such as a speedup, to two significant digits below 10: `0.071x`, `2.5x`, `37x`.
pub fn ratio(value: f64) -> String {
    if !value.is_finite() {
        return "∞".to_string();
    }
    if value >= 10.0 {
        format!("{value:.0}x")
    } else if value >= 1.0 || value == 0.0 {
        format!("{value:.1}x")
    } else {
        let decimals = (1 - value.log10().floor() as i32).max(1) as usize;
        format!("{value:.decimals$}x")
    }
}

/// `n` in decimal with `,` between groups of three digits.
pub fn group_thousands(n: u64) -> String {
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

    #[test]
    fn durations() {
        assert_eq!(compact_duration(Duration::from_micros(850)), "850us");
        assert_eq!(compact_duration(Duration::from_micros(12_345)), "12.3ms");
        assert_eq!(compact_duration(Duration::from_millis(4_560)), "4.56s");
        assert_eq!(compact_duration(Duration::from_secs(65)), "1m5s");
        assert_eq!(compact_duration(Duration::from_secs(7_380)), "2h3m");
    }

    #[test]
    fn ratios() {
        assert_eq!(ratio(37.4), "37x");
        assert_eq!(ratio(2.54), "2.5x");
        assert_eq!(ratio(0.0712), "0.071x");
        assert_eq!(ratio(0.0), "0.0x");
        assert_eq!(ratio(f64::INFINITY), "∞");
    }

    #[test]
    fn separators() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(30_000), "30,000");
        assert_eq!(thousands(1_234_567), "1,234,567");
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
    fn p_values() {
        assert_eq!(format_p(0.0496), "p = 0.0496");
        assert_eq!(format_p(0.094), "p = 0.094");
        assert_eq!(format_p(0.05), "p = 0.05");
        assert_eq!(format_p(0.5), "p = 0.5");
        assert_eq!(format_p(1.0), "p = 1");
        assert_eq!(format_p(0.00123456), "p = 0.00123");
        assert_eq!(format_p(0.001), "p = 0.001");
        assert_eq!(format_p(0.000999), "p < 0.001");
        assert_eq!(format_p(0.0), "p < 0.001");
        assert_eq!(format_p(1e-300), "p < 0.001");
        assert_eq!(format_p(0.99951), "p = 1");
        assert_eq!(format_p(2.0), "p = 1");
        assert_eq!(format_p(f64::NAN), "p = ?");
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
}
