//! The hunt view: one progress line per batch, then the arms' table with rates, intervals and
//! speedups over plain, the failure modes an arm made disappear, and the best arm; or all of it
//! as one JSON object.

use std::fmt::Write;
use std::time::Duration;

use anyhow::{Context, Result};

use crate::analysis::hunt::{ArmResult, ArmTally, HuntOutcome};
use crate::report::format::format_rate;
use crate::text::escape_line;

/// The line printed after each batch: the arm's tally so far.
pub fn progress(arm: &ArmTally) -> String {
    let rate = if arm.runs > 0 {
        format_rate(arm.failures as f64 / arm.runs as f64)
    } else {
        "-".into()
    };
    format!(
        "hunt: {:<32} {:>7} runs {:>5} failures  {rate}\n",
        arm.shake, arm.runs, arm.failures
    )
}

/// The finished hunt as one line of JSON; `elapsed` is the hunt's wall time.
pub fn json(outcome: &HuntOutcome, elapsed: Duration) -> Result<String> {
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
    put("elapsed_s", serde_json::to_value(elapsed.as_secs_f64()))?;
    put("interrupted", serde_json::to_value(outcome.interrupted))?;
    put("suppressed", serde_json::to_value(&outcome.suppressed))?;
    serde_json::to_string(&value).context("could not encode the hunt as JSON")
}

/// The finished hunt for a terminal or a log.
pub fn text(outcome: &HuntOutcome) -> String {
    let mut out = String::new();
    let _ = render_into(&mut out, outcome);
    out
}

fn render_into(out: &mut String, outcome: &HuntOutcome) -> std::fmt::Result {
    writeln!(
        out,
        "{:<34} {:>8} {:>8}  {:>8}  {:>19}  speedup over plain",
        "arm", "runs", "failures", "rate", "95% interval"
    )?;
    for arm in &outcome.arms {
        let rate = if arm.runs == 0 {
            "-".into()
        } else {
            format_rate(arm.rate.estimate)
        };
        writeln!(
            out,
            "{:<34} {:>8} {:>8}  {:>8}  {:>9}..{:<9}  {}",
            arm.shake,
            arm.runs,
            arm.failures,
            rate,
            format_rate(arm.rate.low),
            format_rate(arm.rate.high),
            speedup(arm)
        )?;
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
    match &outcome.best {
        Some(best) => writeln!(
            out,
            "best: {best}  (reuse it with: flakehunt run --shake best -- ...)"
        ),
        None => writeln!(
            out,
            "no arm reproduced the failure in {} runs",
            outcome.runs
        ),
    }
}

/// An arm's speedup over plain, or why there is none.
fn speedup(arm: &ArmResult) -> String {
    match (arm.speedup, arm.speedup_low) {
        (Some(s), _) if s.is_finite() => format!("{s:.1}x"),
        (Some(_), Some(low)) if low > 0.0 => format!(">= {low:.1}x (plain never failed)"),
        (Some(_), _) => "plain never failed".into(),
        _ => "-".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::hunt::{Bandit, BatchResult, Budget, Policy, SignatureCount};

    /// A fixed batch: arm, runs, failures, and the failures' signature id and text.
    type Fed<'a> = (usize, u64, u64, Option<(&'a str, &'a str)>);

    /// A bandit fed fixed batches.
    fn hunt(arms: &[&str], batches: &[Fed<'_>]) -> Bandit {
        let policy = Policy {
            failures: 100,
            budget: Budget::Runs(10_000),
            batch: 10,
        };
        let arms = arms.iter().map(|arm| arm.to_string()).collect();
        let mut bandit = Bandit::new(arms, policy).expect("valid policy");
        for &(arm, runs, failures, signature) in batches {
            let signatures = signature
                .map(|(id, text)| SignatureCount {
                    id: id.into(),
                    text: text.into(),
                    count: failures,
                })
                .into_iter()
                .collect();
            bandit.record(
                arm,
                BatchResult {
                    runs,
                    failures,
                    elapsed: Duration::from_millis(250),
                    signatures,
                    interrupted: false,
                },
            );
        }
        bandit
    }

    /// Plain fails half the time with one failure mode, `text`, that vanishes under
    /// `go-procs=1`.
    fn suppressing_hunt(text: &str) -> Bandit {
        let plain_b = Some(("a71df6b2342c", text));
        hunt(
            &["plain", "go-procs=1"],
            &[
                (0, 10, 5, plain_b),
                (1, 10, 0, None),
                (0, 10, 5, plain_b),
                (0, 10, 5, plain_b),
                (0, 10, 5, plain_b),
                (0, 5, 2, plain_b),
            ],
        )
    }

    #[test]
    fn progress_lines() {
        let mut bandit = hunt(&["plain", "pin=one-core,cpu-load=1"], &[]);
        let mut lines = progress(&bandit.arms()[1]);
        for (arm, runs, failures) in [(0, 10, 0), (1, 10, 3), (1, 1_234_567, 12_345)] {
            let result = BatchResult {
                runs,
                failures,
                ..BatchResult::default()
            };
            lines.push_str(&progress(bandit.record(arm, result)));
        }
        insta::assert_snapshot!(lines);
    }

    #[test]
    fn text_view_with_a_failure_mode_that_disappears() {
        // The failure's text is test output: escaped, and cut at 100 characters.
        let failure = format!("exit 2: plain\tB \u{1b}[31m{}", "x".repeat(120));
        insta::assert_snapshot!(text(&suppressing_hunt(&failure).outcome()));
    }

    #[test]
    fn text_view_when_plain_never_failed() {
        let bandit = hunt(
            &["plain", "nice=5", "go-procs=1", "jitter=1ms"],
            &[
                (0, 10, 0, None),
                (1, 10, 1, Some(("1ab77849b8e1", "exit 1: boom"))),
                (2, 3, 3, Some(("1ab77849b8e1", "exit 1: boom"))),
            ],
        );
        insta::assert_snapshot!(text(&bandit.outcome()));
    }

    #[test]
    fn text_view_when_nothing_reproduced() {
        let bandit = hunt(&["nice=5", "plain"], &[(0, 15, 0, None), (1, 10, 0, None)]);
        insta::assert_snapshot!(text(&bandit.outcome()));
    }

    #[test]
    fn json_view_is_unchanged() {
        // The exact line earlier releases printed for this hunt: keys sorted, infinite and
        // unknown speedups as null.
        let outcome = suppressing_hunt("exit 2: plain B").outcome();
        let json = json(&outcome, Duration::from_millis(1500)).expect("json");
        let expected = concat!(
            r#"{"arms":[{"elapsed_s":1.25,"failures":22,"rate":{"estimate":0.4888888888888889,"#,
            r#""high":0.6422596143299595,"low":0.33703374839279654},"runs":45,"shake":"plain","#,
            r#""signatures":{"a71df6b2342c":22},"speedup":null,"speedup_low":null},"#,
            r#"{"elapsed_s":0.25,"failures":0,"rate":{"estimate":0.0,"high":0.3084971078187605,"#,
            r#""low":0.0},"runs":10,"shake":"go-procs=1","signatures":{},"speedup":0.0,"#,
            r#""speedup_low":0.0}],"best":"plain","elapsed_s":1.5,"interrupted":false,"runs":55,"#,
            r#""suppressed":[{"expected":4.888888888888888,"shake":"go-procs=1","#,
            r#""signature":"a71df6b2342c","text":"exit 2: plain B"}]}"#
        );
        assert_eq!(json, expected);
    }
}
