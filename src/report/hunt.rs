//! The hunt view: what was detected about the program and which arms it gets, progress lines
//! while it runs, then the arms' table (rates per run and per second, speedups over plain with
//! their intervals or bounds and what they rest on), what the search cost, the failure modes an
//! arm made disappear, and the best arm; or all of it as one JSON object. `show` reuses the
//! table for a stored hunt and has a plainer one for other campaigns made of parts.

use std::fmt::Write;
use std::time::Duration;

use anyhow::{Context, Result};
use serde::Serialize;

use crate::analysis::hunt::{ArmResult, HuntOutcome, PLAIN};
use crate::report::format::{compact_duration, format_rate};
use crate::report::thousands;
use crate::text::escape_line;

/// What the hunt found out about the program before it began.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Detected {
    /// The file inspected.
    pub program: String,
    /// The runtime, in words (`a Go program`).
    pub runtime: String,
    /// The evidence (`Go build id note`).
    pub basis: String,
}

/// A finished hunt, as reported.
#[derive(Debug, Clone)]
pub struct HuntView {
    /// The outcome.
    pub outcome: HuntOutcome,
    /// The campaign the hunt ran as.
    pub campaign: String,
    /// Wall time of the whole hunt.
    pub elapsed: Duration,
    /// The failure target of the search.
    pub target: u64,
    /// What was detected, when the default arms were used.
    pub detected: Option<Detected>,
}

/// The lines printed before the hunt: the program's runtime, the arms left out and why, and
/// the arms tried.
pub fn preamble(detected: Option<&Detected>, skipped: &[String], arms: &[String]) -> String {
    let mut out = String::new();
    if let Some(found) = detected {
        let _ = writeln!(
            out,
            "hunt: {} is {} ({})",
            escape_line(found.program.as_bytes(), 200),
            found.runtime,
            found.basis
        );
    }
    for line in skipped {
        let _ = writeln!(out, "hunt: skipping {line}");
    }
    let _ = writeln!(out, "hunt: {} arms: {}", arms.len(), arms.join("; "));
    out
}

/// The line for each failure of the search: how many of the target there are, and which arm
/// found this one.
pub fn failure_line(arm: &str, failures: u64, target: u64, elapsed: Duration) -> String {
    format!(
        "hunt: failure {failures} of {target} at {}, under {arm}",
        compact_duration(elapsed)
    )
}

/// The line every few seconds while the hunt runs: time, runs, and the arm in the lead.
pub fn status_line(elapsed: Duration, runs: u64, leader: Option<(&str, u64)>) -> String {
    let lead = match leader {
        Some((arm, failures)) => format!("; most failures: {arm} ({failures})"),
        None => "; no failure yet".to_string(),
    };
    format!(
        "hunt: {}, {} runs{lead}",
        compact_duration(elapsed),
        thousands(runs)
    )
}

/// The line when the search has its failures: the arm reproducing fastest, and whether it is
/// now measured against plain.
pub fn search_over_line(arm: &str, target: u64, elapsed: Duration, confirming: bool) -> String {
    format!(
        "hunt: {target} failures at {}; fastest: {arm}{}",
        compact_duration(elapsed),
        if confirming {
            "; measuring it against plain"
        } else {
            ""
        }
    )
}

/// The finished hunt as one line of JSON.
pub fn json(view: &HuntView) -> Result<String> {
    let outcome = &view.outcome;
    // A map rather than a struct: keys (the arms' too) come out sorted, as they always have.
    let mut value = serde_json::Map::new();
    let mut put = |key: &str, field: Result<serde_json::Value, serde_json::Error>| -> Result<()> {
        let field = field.with_context(|| format!("could not encode the hunt's {key} as JSON"))?;
        value.insert(key.to_string(), field);
        Ok(())
    };
    put("arms", serde_json::to_value(&outcome.arms))?;
    put("best", serde_json::to_value(&outcome.best))?;
    put("runs", serde_json::to_value(outcome.runs))?;
    put(
        "elapsed_s",
        serde_json::to_value(view.elapsed.as_secs_f64()),
    )?;
    put("interrupted", serde_json::to_value(outcome.interrupted))?;
    put("suppressed", serde_json::to_value(&outcome.suppressed))?;
    put("campaign", serde_json::to_value(&view.campaign))?;
    put("target", serde_json::to_value(view.target))?;
    let winner = outcome
        .search
        .map(|end| outcome.arms[end.arm].shake.clone());
    put("winner", serde_json::to_value(winner))?;
    put("search", serde_json::to_value(outcome.search))?;
    put("exploration", serde_json::to_value(&outcome.exploration))?;
    put("detected", serde_json::to_value(&view.detected))?;
    serde_json::to_string(&value).context("could not encode the hunt as JSON")
}

/// The finished hunt for a terminal or a log.
pub fn text(view: &HuntView) -> String {
    let mut out = String::new();
    let _ = render_into(&mut out, view);
    out
}

fn render_into(out: &mut String, view: &HuntView) -> std::fmt::Result {
    let outcome = &view.outcome;
    out.push_str(&table(&outcome.arms));
    match (outcome.search, &outcome.exploration) {
        (Some(end), Some(cost)) => {
            let winner = &outcome.arms[end.arm].shake;
            let others = match cost.others {
                0 => String::new(),
                1 => format!(", {} on 1 other arm", seconds(cost.others_s)),
                n => format!(", {} on {n} other arms", seconds(cost.others_s)),
            };
            let plain = if winner == PLAIN {
                String::new()
            } else {
                format!(", {} on plain", seconds(cost.plain_s))
            };
            writeln!(
                out,
                "search: {} failures in {} over {} runs; fastest: {winner} ({} on it{plain}{others})",
                view.target,
                seconds(end.time_s),
                thousands(end.runs),
                seconds(cost.winner_s),
            )?;
            let confirming = view.elapsed.as_secs_f64() - end.time_s;
            if outcome.runs > end.runs && winner != PLAIN {
                writeln!(
                    out,
                    "confirmation: {} more, measuring {winner} and its rivals against plain",
                    seconds(confirming.max(0.0))
                )?;
            }
        }
        _ if outcome.best.is_some() => writeln!(
            out,
            "fewer than {} failures in {} ({} runs)",
            view.target,
            compact_duration(view.elapsed),
            thousands(outcome.runs)
        )?,
        _ => {}
    }
    for gone in &outcome.suppressed {
        writeln!(
            out,
            "note: under {} the failure '{}' disappeared (about {:.1} expected): a clue about the race",
            gone.shake,
            escape_line(gone.text.as_bytes(), 100),
            gone.expected
        )?;
    }
    if outcome.interrupted {
        writeln!(out, "interrupted: the results cover the runs that finished")?;
    }
    match &outcome.best {
        Some(best) if best == PLAIN => writeln!(
            out,
            "best: plain  (no perturbation reproduced faster than the program undisturbed)"
        ),
        Some(best) => writeln!(
            out,
            "best: {best}  (reuse it with: flakehunt run --shake best -- ...)"
        ),
        None => writeln!(
            out,
            "no arm reproduced the failure in {} runs ({})",
            thousands(outcome.runs),
            compact_duration(view.elapsed)
        ),
    }
}

/// The arms' table: runs, failures, rate per run, time, failures per second and the speedup
/// over plain per second.
pub fn table(arms: &[ArmResult]) -> String {
    let mut out = String::new();
    let width = arms
        .iter()
        .map(|arm| arm.shake.chars().count())
        .max()
        .unwrap_or(0)
        .clamp(4, 40);
    let _ = writeln!(
        out,
        "{:<width$} {:>9} {:>8} {:>8} {:>8} {:>10}  speedup over plain (failures per second, 95%)",
        "arm", "runs", "failures", "per run", "time", "per second"
    );
    let plain = arms.iter().find(|arm| arm.shake == PLAIN);
    for arm in arms {
        let (rate, time, per_second) = if arm.runs == 0 {
            ("-".to_string(), "-".to_string(), "-".to_string())
        } else {
            (
                format_rate(arm.rate.estimate),
                seconds(arm.elapsed_s),
                per_second_text(arm.per_second.estimate),
            )
        };
        let _ = writeln!(
            out,
            "{:<width$} {:>9} {:>8} {:>8} {:>8} {:>10}  {}",
            arm.shake,
            thousands(arm.runs),
            thousands(arm.failures),
            rate,
            time,
            per_second,
            speedup_text(arm, plain)
        );
    }
    out
}

/// Seconds for a table cell.
fn seconds(value: f64) -> String {
    compact_duration(Duration::from_secs_f64(value.max(0.0)))
}

/// Failures per second with two significant digits.
fn per_second_text(rate: f64) -> String {
    if rate <= 0.0 || !rate.is_finite() {
        return "0/s".into();
    }
    let digits = (1 - rate.log10().floor() as i32).max(0) as usize;
    format!("{rate:.digits$}/s")
}

/// A speedup factor: two significant digits, whole numbers from 10 up.
fn factor(value: f64) -> String {
    if value >= 9.95 {
        format!("{}x", thousands(value.round() as u64))
    } else if value >= 0.995 {
        format!("{value:.1}x")
    } else {
        format!("{value:.2}x")
    }
}

/// An arm's speedup over plain per second: an interval, a bound with what it rests on, or why
/// there is none. A lower bound below 1 is no evidence of a speedup, so it is not printed.
fn speedup_text(arm: &ArmResult, plain: Option<&ArmResult>) -> String {
    let Some(plain) = plain else {
        return "-".into();
    };
    if arm.shake == PLAIN {
        return "(baseline)".into();
    }
    let basis = format!(
        "plain: {} failure{} in {}",
        thousands(plain.failures),
        if plain.failures == 1 { "" } else { "s" },
        seconds(plain.elapsed_s)
    );
    // A stored result wrote infinite ends as null: a lower end without them means infinite.
    let infinite_if_bounded = |end: Option<f64>| end.or(arm.speedup_low.map(|_| f64::INFINITY));
    match (
        infinite_if_bounded(arm.speedup),
        arm.speedup_low,
        infinite_if_bounded(arm.speedup_high),
    ) {
        (Some(estimate), Some(low), Some(high)) if estimate.is_finite() && high.is_finite() => {
            if arm.failures == 0 {
                format!(
                    "<= {} (no failures in {})",
                    factor(high),
                    seconds(arm.elapsed_s)
                )
            } else {
                format!("{} ({}..{})", factor(estimate), factor(low), factor(high))
            }
        }
        (Some(_), Some(low), _) if low >= 1.0 => format!(">= {} ({basis})", factor(low)),
        (Some(_), _, _) => format!("not measurable yet ({basis})"),
        _ if arm.runs == 0 => "-".into(),
        _ => format!("- (no failures on either; {basis})"),
    }
}

/// One part of a stored campaign, for `show`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PartRow {
    /// Its label.
    pub label: String,
    /// Its perturbation, if any.
    pub shake: Option<String>,
    /// Runs recorded.
    pub runs: u64,
    /// Failures among them.
    pub failures: u64,
    /// Sum of their durations, seconds.
    pub run_time_s: f64,
}

/// The parts of a stored campaign that is not a hunt (a window's phases, a hunt killed before
/// it could record its result): runs, failures and rate per part.
pub fn parts_text(parts: &[PartRow]) -> String {
    let mut out = String::new();
    let width = parts
        .iter()
        .map(|part| part.label.chars().count())
        .max()
        .unwrap_or(0)
        .clamp(4, 40);
    let _ = writeln!(
        out,
        "  {:<width$} {:>9} {:>8} {:>8} {:>9}  perturbation",
        "part", "runs", "failures", "rate", "run time"
    );
    for part in parts {
        let (rate, time) = if part.runs == 0 {
            ("-".to_string(), "-".to_string())
        } else {
            (
                format_rate(part.failures as f64 / part.runs as f64),
                seconds(part.run_time_s),
            )
        };
        let _ = writeln!(
            out,
            "  {:<width$} {:>9} {:>8} {:>8} {:>9}  {}",
            part.label,
            thousands(part.runs),
            thousands(part.failures),
            rate,
            time,
            part.shake.as_deref().unwrap_or("plain")
        );
    }
    out
}

/// What `show` adds for a campaign made of parts: the stored hunt's arms and best arm when
/// it was a hunt that finished, else each part's tally.
pub fn show_parts_text(parts: &[PartRow], hunt: Option<&(String, Vec<ArmResult>)>) -> String {
    match hunt {
        Some((best, arms)) => {
            let mut out = String::from("  hunt arms:\n");
            for line in table(arms).lines() {
                let _ = writeln!(out, "    {line}");
            }
            let _ = writeln!(out, "  best arm   {best}");
            out
        }
        // A heading, as the arms have: under the spec's `key  value` lines a bare table
        // header would read as one more key.
        None => {
            let mut out = String::from("  parts:\n");
            for line in parts_text(parts).lines() {
                let _ = writeln!(out, "  {line}");
            }
            out
        }
    }
}

/// The same for `show --json`: `parts`, and `hunt` {`best`, `arms`} for a finished hunt.
pub fn show_parts_json(
    parts: &[PartRow],
    hunt: Option<&(String, Vec<ArmResult>)>,
) -> Result<serde_json::Value> {
    let hunt = hunt.map(|(best, arms)| serde_json::json!({ "best": best, "arms": arms }));
    Ok(serde_json::json!({
        "parts": serde_json::to_value(parts).context("could not encode the parts as JSON")?,
        "hunt": hunt,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::hunt::{Bandit, BatchSize, Budget, Phase, Policy, RunOutcome};

    /// A fixed run: arm, whether it failed, and its failure's signature id and text.
    type Fed<'a> = (usize, bool, Option<(&'a str, &'a str)>);

    /// A bandit fed fixed runs of 25 ms each, `repeat` times over.
    fn hunt(arms: &[&str], target: u64, runs: &[Fed<'_>], repeat: usize) -> (Bandit, Duration) {
        let policy = Policy::new(target, Budget::Runs(100_000), BatchSize::Fixed(10));
        let arms = arms.iter().map(|arm| arm.to_string()).collect();
        let mut bandit = Bandit::new(arms, policy).expect("valid policy");
        let mut spent = Duration::ZERO;
        for _ in 0..repeat {
            for &(arm, failed, signature) in runs {
                spent += Duration::from_millis(25);
                let outcome = RunOutcome {
                    failed,
                    signature: signature.map(|(id, text)| (id.to_string(), text.to_string())),
                    cost: Duration::from_millis(25),
                };
                if bandit.record(arm, outcome, spent) == Phase::Done {
                    return (bandit, spent);
                }
            }
        }
        (bandit, spent)
    }

    fn view(bandit: &Bandit, elapsed: Duration, target: u64) -> HuntView {
        HuntView {
            outcome: bandit.outcome(false),
            campaign: "20261130-120000-00000000deadbeef".into(),
            elapsed,
            target,
            detected: None,
        }
    }

    #[test]
    fn preamble_lines() {
        let detected = Detected {
            program: "/opt/tests/server.test".into(),
            runtime: "a Go program".into(),
            basis: "Go build id note".into(),
        };
        let skipped = ["py-switch: not a Python program".to_string()];
        let arms = ["plain".to_string(), "go-procs=1".to_string()];
        insta::assert_snapshot!(preamble(Some(&detected), &skipped, &arms));
        assert_eq!(
            failure_line("go-procs=1", 2, 3, Duration::from_millis(1500)),
            "hunt: failure 2 of 3 at 1.50s, under go-procs=1"
        );
        assert_eq!(
            search_over_line("go-procs=1", 3, Duration::from_secs(2), true),
            "hunt: 3 failures at 2.00s; fastest: go-procs=1; measuring it against plain"
        );
    }

    #[test]
    fn text_view_of_a_hunt_that_found_and_confirmed_its_winner() {
        // Plain fails once in 20 runs; pin=one-core every other run; nice=5 never.
        let mut runs: Vec<Fed<'_>> = Vec::new();
        for i in 0..20 {
            runs.push((
                0,
                i == 7,
                (i == 7).then_some(("a71df6b2342c", "exit 1: lost update")),
            ));
        }
        for i in 0..4 {
            runs.push((1, false, None));
            runs.push((
                2,
                i % 2 == 0,
                (i % 2 == 0).then_some(("a71df6b2342c", "exit 1: lost update")),
            ));
        }
        let (bandit, spent) = hunt(&["plain", "nice=5", "pin=one-core"], 3, &runs, 10);
        insta::assert_snapshot!(text(&view(&bandit, spent, 3)));
    }

    #[test]
    fn text_view_when_plain_never_failed() {
        let boom = Some(("1ab77849b8e1", "exit 1: boom"));
        let runs: Vec<Fed<'_>> = (0..40)
            .map(|i| match i % 4 {
                0 | 1 => (0, false, None),
                2 => (1, i % 8 == 2, if i % 8 == 2 { boom } else { None }),
                _ => (2, true, boom),
            })
            .collect();
        let (bandit, spent) = hunt(
            &["plain", "nice=5", "go-procs=1", "jitter=1ms"],
            100,
            &runs,
            1,
        );
        insta::assert_snapshot!(text(&view(&bandit, spent, 100)));
    }

    #[test]
    fn text_view_with_a_failure_mode_that_disappears() {
        // The failure's text is test output: escaped, and cut at 100 characters.
        let failure = format!("exit 2: plain\tB \u{1b}[31m{}", "x".repeat(120));
        let runs: Vec<Fed<'_>> = (0..30)
            .map(|i| match i % 3 {
                0 | 1 => (
                    0,
                    i % 2 == 0,
                    (i % 2 == 0).then_some(("b", failure.as_str())),
                ),
                _ => (1, false, None),
            })
            .collect();
        let (bandit, spent) = hunt(&["plain", "go-procs=1"], 1000, &runs, 2);
        insta::assert_snapshot!(text(&view(&bandit, spent, 1000)));
    }

    #[test]
    fn text_view_when_nothing_reproduced() {
        let runs: Vec<Fed<'_>> = vec![(0, false, None), (1, false, None), (1, false, None)];
        let (bandit, spent) = hunt(&["nice=5", "plain"], 3, &runs, 5);
        insta::assert_snapshot!(text(&view(&bandit, spent, 3)));
    }

    #[test]
    fn speedups_never_claim_what_the_data_cannot_carry() {
        let arm =
            |shake: &str, failures: u64, seconds: f64, ratio: Option<(f64, f64, f64)>| ArmResult {
                shake: shake.into(),
                runs: 100,
                failures,
                rate: crate::analysis::stats::clopper_pearson(failures, 100, 0.95),
                elapsed_s: seconds,
                per_second: crate::analysis::hunt::poisson_rate(failures, seconds, 0.95),
                speedup: ratio.map(|r| r.0),
                speedup_low: ratio.map(|r| r.1),
                speedup_high: ratio.map(|r| r.2),
                signatures: Default::default(),
            };
        let plain = arm("plain", 0, 41.0, None);
        let inf = f64::INFINITY;
        let shown = |a: &ArmResult| speedup_text(a, Some(&plain));
        assert_eq!(
            shown(&arm("x", 9, 2.0, Some((inf, 12.3, inf)))),
            ">= 12x (plain: 0 failures in 41.00s)"
        );
        // A lower bound under 1 says nothing: never ">= 0.0x".
        assert_eq!(
            shown(&arm("x", 1, 2.0, Some((inf, 0.04, inf)))),
            "not measurable yet (plain: 0 failures in 41.00s)"
        );
        let plain = arm("plain", 4, 41.0, None);
        assert_eq!(
            speedup_text(&arm("x", 9, 2.0, Some((46.0, 14.2, 190.0))), Some(&plain)),
            "46x (14x..190x)"
        );
        assert_eq!(
            speedup_text(&arm("x", 0, 2.0, Some((0.0, 0.0, 0.83))), Some(&plain)),
            "<= 0.83x (no failures in 2.00s)"
        );
        assert_eq!(speedup_text(&plain, Some(&plain)), "(baseline)");
        assert_eq!(speedup_text(&arm("x", 0, 2.0, None), None), "-");
    }

    #[test]
    fn json_view_keeps_the_earlier_keys_and_adds_the_new_ones() {
        let runs: Vec<Fed<'_>> = vec![
            (0, false, None),
            (1, true, Some(("1ab77849b8e1", "exit 1: boom"))),
        ];
        let (bandit, spent) = hunt(&["plain", "go-procs=1"], 3, &runs, 3);
        let json = json(&view(&bandit, spent, 3)).expect("json");
        let value: serde_json::Value = serde_json::from_str(&json).expect("parse");
        for key in [
            "arms",
            "best",
            "runs",
            "elapsed_s",
            "interrupted",
            "suppressed",
            "campaign",
            "target",
            "winner",
            "search",
            "exploration",
            "detected",
        ] {
            assert!(value.get(key).is_some(), "{key} in {json}");
        }
        assert_eq!(value["winner"], "go-procs=1");
        assert_eq!(value["search"]["runs"], 6);
        let arm = &value["arms"][1];
        for key in [
            "shake",
            "runs",
            "failures",
            "rate",
            "elapsed_s",
            "signatures",
            "speedup",
            "speedup_low",
            "speedup_high",
            "per_second",
        ] {
            assert!(arm.get(key).is_some(), "{key} in {arm}");
        }
        // Plain never failed: the estimate and the upper end are infinite, written as null.
        assert_eq!(arm["speedup"], serde_json::Value::Null);
        assert!(arm["speedup_low"].as_f64().expect("low") > 0.0);
    }

    #[test]
    fn parts_of_a_stored_campaign() {
        let parts = [
            PartRow {
                label: "even".into(),
                shake: None,
                runs: 400,
                failures: 12,
                run_time_s: 8.25,
            },
            PartRow {
                label: "refine".into(),
                shake: Some("pin=one-core".into()),
                runs: 0,
                failures: 0,
                run_time_s: 0.0,
            },
        ];
        insta::assert_snapshot!(parts_text(&parts));
        let shown = show_parts_text(&parts, None);
        assert!(shown.starts_with("  parts:\n    part "), "{shown}");
        assert!(shown.contains("\n    even "), "{shown}");
    }
}
