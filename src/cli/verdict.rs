//! Verdicts: `flakehunt plan` (how many runs a question needs), `flakehunt verify` (is it fixed?)
//! and `flakehunt compare` (is B better than A?). All numbers come from
//! [`crate::analysis::stats`].

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::Args;
use serde_json::json;

use crate::analysis::stats::{
    clean_runs_to_beat_baseline, clean_runs_to_claim, clopper_pearson, fisher_exact, rate_ratio,
    runs_to_observe, runs_to_observe_k, sequential_clean_runs_p, upper_bound,
};
use crate::analysis::summary::Summary;
use crate::campaign::{launch, prepare};
use crate::cli::run::RunArgs;
use crate::cli::{EXIT_FAILURES, EXIT_OK};
use crate::report::format::{format_rate, one_in};
use crate::report::{compact_duration, thousands};
use crate::store::{query, Store};
use crate::text::escape_line;

/// Arguments of `flakehunt plan`.
#[derive(Debug, Clone, Args)]
pub struct PlanArgs {
    /// Failure rate: `1/30000`, `0.0033%` or `3.3e-5` [default: the campaign's rate].
    #[arg(long, value_name = "RATE", value_parser = parse_rate)]
    pub rate: Option<f64>,
    /// Confidence of every claim.
    #[arg(long, value_name = "C", default_value_t = 0.95, value_parser = parse_confidence)]
    pub confidence: f64,
    /// Reproduce this many times (besides once).
    #[arg(short = 'k', long, value_name = "K", default_value_t = 3)]
    pub times: u64,
    /// Take the throughput (and, without --rate, the rate) from this campaign (`last` works).
    #[arg(long, value_name = "ID")]
    pub campaign: Option<String>,
    /// Throughput for the wall-time estimates.
    #[arg(long, value_name = "N")]
    pub runs_per_second: Option<f64>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `flakehunt verify`.
#[derive(Debug, Clone, Args)]
pub struct VerifyArgs {
    /// The campaign that showed the failure before the fix (`last` works).
    #[arg(long, value_name = "ID", conflicts_with = "baseline_rate")]
    pub baseline: Option<String>,
    /// The failure rate before the fix, if no campaign recorded it: `1/30000`, `0.01%`.
    #[arg(long, value_name = "RATE", value_parser = parse_rate)]
    pub baseline_rate: Option<f64>,
    /// Confidence required to call it fixed.
    #[arg(long, value_name = "C", default_value_t = 0.95, value_parser = parse_confidence)]
    pub confidence: f64,
    /// Runner options and the command, as for `flakehunt run`.
    #[command(flatten)]
    pub run: RunArgs,
}

/// Arguments of `flakehunt compare`.
#[derive(Debug, Clone, Args)]
pub struct CompareArgs {
    /// The first campaign (before).
    #[arg(value_name = "A")]
    pub a: String,
    /// The second campaign (after).
    #[arg(value_name = "B")]
    pub b: String,
    /// Confidence for intervals and the verdict.
    #[arg(long, value_name = "C", default_value_t = 0.95, value_parser = parse_confidence)]
    pub confidence: f64,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// Parse `1/30000`, `0.0033%` or `3.3e-5` as a probability in (0, 1).
pub fn parse_rate(text: &str) -> Result<f64, String> {
    let text = text.trim();
    let value = if let Some((numerator, denominator)) = text.split_once('/') {
        let numerator: f64 = numerator.trim().parse().map_err(|_| bad_rate(text))?;
        let denominator: f64 = denominator.trim().parse().map_err(|_| bad_rate(text))?;
        numerator / denominator
    } else if let Some(percent) = text.strip_suffix('%') {
        percent.trim().parse::<f64>().map_err(|_| bad_rate(text))? / 100.0
    } else {
        text.parse::<f64>().map_err(|_| bad_rate(text))?
    };
    if value.is_finite() && value > 0.0 && value < 1.0 {
        Ok(value)
    } else {
        Err(format!("rate '{text}' must be between 0 and 1 (exclusive)"))
    }
}

fn bad_rate(text: &str) -> String {
    format!("'{text}' is not a rate; write e.g. 1/30000, 0.01% or 3.3e-5")
}

fn parse_confidence(text: &str) -> Result<f64, String> {
    let value: f64 = text
        .trim()
        .trim_end_matches('%')
        .parse()
        .map_err(|_| format!("'{text}' is not a confidence; write e.g. 0.95"))?;
    let value = if text.trim().ends_with('%') {
        value / 100.0
    } else {
        value
    };
    if value > 0.0 && value < 1.0 {
        Ok(value)
    } else {
        Err(format!(
            "confidence '{text}' must be between 0 and 1, e.g. 0.95"
        ))
    }
}

fn wall_time(runs: u64, runs_per_second: Option<f64>) -> String {
    match runs_per_second {
        Some(speed) if speed > 0.0 => {
            let seconds = runs as f64 / speed;
            if seconds > 1e9 {
                "centuries".to_string()
            } else {
                format!("~{}", compact_duration(Duration::from_secs_f64(seconds)))
            }
        }
        _ => "-".to_string(),
    }
}

fn load_summary(store: &Store, wanted: &str) -> Result<Summary> {
    let id = query::resolve_campaign(store, wanted)?;
    query::summary(store, &id)
}

/// `flakehunt plan`.
pub fn plan(args: PlanArgs, db: &Path) -> Result<i32> {
    let campaign = match &args.campaign {
        Some(wanted) => Some(load_summary(&Store::open_existing(db)?, wanted)?),
        None => None,
    };
    let rate = match (args.rate, &campaign) {
        (Some(rate), _) => rate,
        (None, Some(summary)) if summary.failures > 0 => summary.rate.estimate,
        (None, Some(summary)) => bail!(
            "campaign {} saw no failures, so it has no rate to plan with; give --rate",
            summary.campaign
        ),
        (None, None) => bail!("give --rate (e.g. 1/30000) or --campaign ID"),
    };
    if args.times == 0 {
        bail!("-k must be at least 1");
    }
    let speed = args
        .runs_per_second
        .or(campaign.as_ref().map(|summary| summary.runs_per_second));
    let confidence = args.confidence;
    let once = runs_to_observe(rate, confidence);
    let k_times = runs_to_observe_k(rate, args.times, confidence);
    let claim = clean_runs_to_claim(rate, confidence);
    let beat = campaign
        .as_ref()
        .filter(|summary| summary.failures > 0)
        .and_then(|summary| {
            clean_runs_to_beat_baseline(summary.failures, summary.runs, confidence)
        });
    let mut out = std::io::stdout().lock();
    if args.json {
        let value = json!({
            "rate": rate,
            "confidence": confidence,
            "runs_per_second": speed,
            "reproduce_once": once,
            "reproduce_k": {"k": args.times, "runs": k_times},
            "claim_fixed": claim,
            "beat_baseline": beat,
            "campaign": campaign.as_ref().map(|s| &s.campaign),
        });
        let _ = writeln!(out, "{value}");
        return Ok(EXIT_OK);
    }
    let percent = (confidence * 100.0).round();
    let _ = writeln!(
        out,
        "failure rate {} ({}), {percent}% confidence{}",
        format_rate(rate),
        one_in(rate),
        speed
            .map(|s| format!(", {s:.1} runs/s"))
            .unwrap_or_default()
    );
    let row = |label: String, runs: Option<u64>| -> String {
        match runs {
            Some(runs) => format!(
                "  {label:<44} {:>14} runs  {}",
                thousands(runs),
                wall_time(runs, speed)
            ),
            None => format!("  {label:<44} {:>14}", "out of reach"),
        }
    };
    let _ = writeln!(out, "{}", row("reproduce at least once".into(), once));
    let _ = writeln!(
        out,
        "{}",
        row(format!("reproduce at least {} times", args.times), k_times)
    );
    let _ = writeln!(
        out,
        "{}",
        row(
            format!("claim a fix (rate < {}), all clean", one_in(rate)),
            claim
        )
    );
    if let (Some(summary), Some(runs)) = (&campaign, beat) {
        let _ = writeln!(
            out,
            "{}",
            row(
                format!(
                    "beat the baseline ({} in {} runs), all clean",
                    summary.failures,
                    thousands(summary.runs)
                ),
                Some(runs)
            )
        );
    }
    Ok(EXIT_OK)
}

/// `flakehunt verify`.
pub fn verify(args: VerifyArgs, db: &Path) -> Result<i32> {
    if args.run.runs.is_some() || args.run.max_failures.is_some() {
        bail!("verify decides how many runs it needs; drop -n/--runs and --max-failures");
    }
    let confidence = args.confidence;
    let (baseline, required, claim) = match (&args.baseline, args.baseline_rate) {
        (Some(wanted), _) => {
            let summary = load_summary(&Store::open_existing(db)?, wanted)?;
            if summary.failures == 0 {
                bail!(
                    "baseline campaign {} saw no failures: there is nothing to verify a fix against",
                    summary.campaign
                );
            }
            let required = clean_runs_to_beat_baseline(summary.failures, summary.runs, confidence)
                .context("the baseline gives no number of runs")?;
            let claim = format!(
                "rate below the baseline's {} ({} in {} runs)",
                format_rate(summary.rate.estimate),
                summary.failures,
                thousands(summary.runs)
            );
            (Some(summary), required, claim)
        }
        (None, Some(rate)) => {
            let required = clean_runs_to_claim(rate, confidence)
                .context("that rate gives no number of runs")?;
            (
                None,
                required,
                format!("rate < {} ({})", format_rate(rate), one_in(rate)),
            )
        }
        (None, None) => {
            bail!("give --baseline ID (a campaign that failed) or --baseline-rate RATE")
        }
    };
    let mut run_args = args.run.clone();
    run_args.runs = Some(required);
    run_args.max_failures = Some(1);
    let prepared = prepare(&run_args.request(), db)?;
    let speed = baseline.as_ref().map(|summary| summary.runs_per_second);
    if !run_args.json {
        eprintln!(
            "verify: {} clean runs needed to show {claim} at {}% confidence ({}); stops at the first failure",
            thousands(required),
            (confidence * 100.0).round(),
            wall_time(required, speed)
        );
    }
    // The campaign's own summary is not printed: the verdict replaces it.
    // The campaign's own summary is not printed: the verdict replaces it.
    let result = launch(&prepared, Vec::new())?;
    let summary = result.summary;
    let first_failure = summary
        .signatures
        .iter()
        .filter(|s| !s.ignored)
        .min_by_key(|s| s.first_run);
    let clean = summary.runs - summary.failures;
    let (verdict, status, line) = if let Some(failure) = first_failure {
        let known = baseline
            .as_ref()
            .is_some_and(|b| b.signatures.iter().any(|s| s.id == failure.id));
        let which = match &baseline {
            Some(_) if known => "the baseline's signature",
            Some(_) => "a NEW signature, not seen in the baseline",
            None => "signature",
        };
        (
            "not-fixed",
            EXIT_FAILURES,
            format!(
                "NOT FIXED: failed at run {}, {which} {}: {}",
                failure.first_run,
                failure.id,
                escape_line(failure.text.as_bytes(), 160)
            ),
        )
    } else if clean >= required {
        let bound = upper_bound(0, clean, confidence);
        (
            "fixed",
            EXIT_OK,
            format!(
                "FIXED at {}% confidence: {claim}; {} clean runs (rate < {}, {})",
                (confidence * 100.0).round(),
                thousands(clean),
                format_rate(bound),
                one_in(bound)
            ),
        )
    } else {
        (
            "inconclusive",
            EXIT_FAILURES,
            format!(
                "INCONCLUSIVE: only {} of the {} clean runs needed ({})",
                thousands(clean),
                thousands(required),
                summary.stop_reason
            ),
        )
    };
    let p_value = baseline
        .as_ref()
        .filter(|_| first_failure.is_none())
        .map(|b| sequential_clean_runs_p(b.failures, b.runs, clean));
    let mut out = std::io::stdout().lock();
    if run_args.json {
        let value = json!({
            "verdict": verdict,
            "confidence": confidence,
            "required_runs": required,
            "runs": summary.runs,
            "clean_runs": clean,
            "failures": summary.failures,
            "first_failure": first_failure.map(|f| json!({"run": f.first_run, "signature": f.id, "text": f.text})),
            "p_value": p_value,
            "baseline": baseline.as_ref().map(|b| json!({"campaign": b.campaign, "runs": b.runs, "failures": b.failures})),
            "campaign": summary.campaign,
        });
        let _ = writeln!(out, "{value}");
    } else {
        let _ = writeln!(out, "{line}");
        if let Some(p) = p_value {
            let _ = writeln!(
                out,
                "  one-sided exact test against the baseline: p = {p:.3}"
            );
        }
        let _ = writeln!(
            out,
            "  campaign {} recorded; details: flakehunt show {}",
            summary.campaign, summary.campaign
        );
    }
    Ok(status)
}

/// `flakehunt compare`.
pub fn compare(args: CompareArgs, db: &Path) -> Result<i32> {
    let store = Store::open_existing(db)?;
    let a = load_summary(&store, &args.a)?;
    let b = load_summary(&store, &args.b)?;
    if a.runs == 0 || b.runs == 0 {
        bail!("both campaigns need finished runs to compare");
    }
    let confidence = args.confidence;
    let alpha = 1.0 - confidence;
    let overall = fisher_exact(a.failures, a.runs, b.failures, b.runs);
    let judge = |a_failures: u64, b_failures: u64| -> (&'static str, f64) {
        let test = fisher_exact(a_failures, a.runs, b_failures, b.runs);
        let rate_a = a_failures as f64 / a.runs as f64;
        let rate_b = b_failures as f64 / b.runs as f64;
        let word = if test.p_two_sided >= alpha {
            "indistinguishable"
        } else if rate_b < rate_a {
            "better"
        } else {
            "worse"
        };
        (word, test.p_two_sided)
    };
    let (word, p) = judge(a.failures, b.failures);
    let ratio = rate_ratio(a.failures, a.runs, b.failures, b.runs, confidence);
    let mut ids: Vec<(String, String)> = Vec::new();
    for signature in a.signatures.iter().chain(b.signatures.iter()) {
        if !signature.ignored && !ids.iter().any(|(id, _)| *id == signature.id) {
            ids.push((signature.id.clone(), signature.text.clone()));
        }
    }
    let count = |summary: &Summary, id: &str| {
        summary
            .signatures
            .iter()
            .find(|s| s.id == id && !s.ignored)
            .map_or(0, |s| s.count)
    };
    let per_signature: Vec<serde_json::Value> = ids
        .iter()
        .map(|(id, text)| {
            let (in_a, in_b) = (count(&a, id), count(&b, id));
            let (verdict, p) = judge(in_a, in_b);
            json!({"id": id, "text": text, "a": in_a, "b": in_b, "verdict": verdict, "p": p})
        })
        .collect();
    let mut out = std::io::stdout().lock();
    if args.json {
        let value = json!({
            "a": {"campaign": a.campaign, "runs": a.runs, "failures": a.failures, "rate": clopper_pearson(a.failures, a.runs, confidence)},
            "b": {"campaign": b.campaign, "runs": b.runs, "failures": b.failures, "rate": clopper_pearson(b.failures, b.runs, confidence)},
            "verdict": word,
            "p": p,
            "p_b_less": overall.p_a_greater,
            "rate_ratio": ratio,
            "signatures": per_signature,
            "confidence": confidence,
        });
        let _ = writeln!(out, "{value}");
        return Ok(EXIT_OK);
    }
    let percent = (confidence * 100.0).round();
    for (label, summary) in [("A", &a), ("B", &b)] {
        let interval = clopper_pearson(summary.failures, summary.runs, confidence);
        let _ = writeln!(
            out,
            "{label}  {}  {:>10} runs  {:>6} failures  rate {} ({percent}% {} .. {})",
            summary.campaign,
            thousands(summary.runs),
            thousands(summary.failures),
            format_rate(interval.estimate),
            format_rate(interval.low),
            format_rate(interval.high)
        );
    }
    let ratio_text = match ratio {
        Some(r) if r.estimate.is_finite() => format!(
            "; B fails {:.2}x as often as A ({percent}% {:.2} .. {})",
            r.estimate,
            r.low,
            if r.high.is_finite() {
                format!("{:.2}", r.high)
            } else {
                "inf".into()
            }
        ),
        _ => String::new(),
    };
    let _ = writeln!(
        out,
        "verdict: B is {word} (Fisher exact p = {p:.3}){ratio_text}"
    );
    if !per_signature.is_empty() {
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "  {:<12} {:>8} {:>8}  {:<17} signature",
            "id", "A", "B", "verdict"
        );
        for row in &per_signature {
            let _ = writeln!(
                out,
                "  {:<12} {:>8} {:>8}  {:<17} {}",
                row["id"].as_str().unwrap_or(""),
                row["a"],
                row["b"],
                row["verdict"].as_str().unwrap_or(""),
                escape_line(row["text"].as_str().unwrap_or("").as_bytes(), 100)
            );
        }
    }
    Ok(EXIT_OK)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_parse_in_every_form() {
        assert_eq!(parse_rate("1/30000"), Ok(1.0 / 30000.0));
        assert!((parse_rate("0.01%").expect("percent") - 1e-4).abs() < 1e-15);
        assert_eq!(parse_rate("3.3e-5"), Ok(3.3e-5));
        assert!(parse_rate("0").is_err());
        assert!(parse_rate("2/1").is_err());
        assert!(parse_rate("often").is_err());
        assert!(parse_rate("1/0").is_err());
    }

    #[test]
    fn confidences_parse() {
        assert_eq!(parse_confidence("0.95"), Ok(0.95));
        assert_eq!(parse_confidence("99%"), Ok(0.99));
        assert!(parse_confidence("1").is_err());
        assert!(parse_confidence("abc").is_err());
    }
}
