//! The verify view: the announcement of how many clean runs a fix needs, then the verdict
//! (FIXED / NOT FIXED / INCONCLUSIVE) with its evidence, as text or one JSON object.

use std::fmt::Write;

use serde_json::{json, Value};

use crate::analysis::verdict::{Against, Novelty, VerifyOutcome, VerifyPlan, VerifyVerdict};
use crate::report::format::{format_p, format_rate, one_in, significant};
use crate::report::plan::wall_time;
use crate::report::style::{paint, Role};
use crate::report::thousands;
use crate::text::escape_line;

/// What the clean runs will show, e.g. `rate < 1.0% (1 in 100)`.
pub fn claim(plan: &VerifyPlan) -> String {
    match &plan.against {
        Against::Campaign(baseline) => format!(
            "rate below the baseline's {} ({} in {} runs)",
            format_rate(baseline.rate),
            baseline.failures,
            thousands(baseline.runs)
        ),
        Against::Rate(rate) => format!("rate < {} ({})", format_rate(*rate), one_in(*rate)),
    }
}

/// The line printed before the campaign starts (without a newline).
pub fn announcement(plan: &VerifyPlan) -> String {
    // Without a baseline campaign's speed there is no time to estimate: say nothing.
    let time = match plan.runs_per_second() {
        Some(speed) if speed > 0.0 => format!(" ({})", wall_time(plan.required, Some(speed))),
        _ => String::new(),
    };
    format!(
        "verify: {} clean runs needed to show {} at {}% confidence{time}; stops at the first failure",
        thousands(plan.required),
        claim(plan),
        (plan.confidence * 100.0).round(),
    )
}

/// The outcome as one JSON object.
pub fn json(outcome: &VerifyOutcome) -> Value {
    let first_failure = match &outcome.verdict {
        VerifyVerdict::NotFixed(failure) => Some(json!({
            "run": failure.run,
            "signature": failure.signature,
            "text": failure.text,
        })),
        _ => None,
    };
    json!({
        "verdict": outcome.verdict.as_str(),
        "confidence": outcome.plan.confidence,
        "required_runs": outcome.plan.required,
        "runs": outcome.runs,
        "clean_runs": outcome.clean,
        "failures": outcome.failures,
        "first_failure": first_failure,
        "p_value": outcome.p_value,
        "test": match &outcome.plan.against {
            Against::Campaign(_) => "sequential-exact-one-sided",
            Against::Rate(_) => "binomial-exact-one-sided",
        },
        "baseline": outcome.plan.baseline().map(|b| json!({
            "campaign": b.campaign,
            "runs": b.runs,
            "failures": b.failures,
        })),
        "campaign": outcome.campaign,
    })
}

/// The outcome for a terminal: the verdict line, the exact test, where the campaign went.
pub fn text(outcome: &VerifyOutcome) -> String {
    let mut out = String::new();
    let _ = render_into(&mut out, outcome);
    out
}

fn render_into(out: &mut String, outcome: &VerifyOutcome) -> std::fmt::Result {
    let plan = &outcome.plan;
    let percent = (plan.confidence * 100.0).round();
    match &outcome.verdict {
        VerifyVerdict::NotFixed(failure) => {
            let which = match failure.novelty {
                Novelty::Known => "the baseline's signature",
                Novelty::New => "a NEW signature, not seen in the baseline",
                Novelty::NoBaseline => "signature",
            };
            writeln!(
                out,
                "{}: failed at run {}, {which} {}: {}",
                paint(Role::Fail, "NOT FIXED"),
                failure.run,
                failure.signature,
                escape_line(failure.text.as_bytes(), 160)
            )?;
        }
        VerifyVerdict::Fixed { upper_bound } => writeln!(
            out,
            "{} at {percent}% confidence: {}; {} clean runs (rate < {}, {})",
            paint(Role::Pass, "FIXED"),
            claim(plan),
            thousands(outcome.clean),
            format_rate(*upper_bound),
            one_in(*upper_bound)
        )?,
        VerifyVerdict::Inconclusive => writeln!(
            out,
            "{}: only {} of the {} clean runs needed ({})",
            paint(Role::Warn, "INCONCLUSIVE"),
            thousands(outcome.clean),
            thousands(plan.required),
            outcome.stop_reason
        )?,
    }
    if let Some(p) = outcome.p_value {
        let alpha = significant(1.0 - plan.confidence);
        match &plan.against {
            Against::Campaign(_) => {
                writeln!(
                    out,
                    "  one-sided sequential exact test (Fisher) against the baseline: {}; \
                     fixed once p <= {alpha}",
                    format_p(p)
                )?;
                if matches!(outcome.verdict, VerifyVerdict::Fixed { .. }) {
                    writeln!(
                        out,
                        "  (`compare` asks the two-sided question, whether the rate changed \
                         either way: its p is about twice this)"
                    )?;
                }
            }
            Against::Rate(rate) => writeln!(
                out,
                "  one-sided exact binomial test against a rate of {}: {}; fixed once p <= {alpha}",
                format_rate(*rate),
                format_p(p)
            )?,
        }
    }
    writeln!(
        out,
        "  campaign {} recorded; details: flakehunt show {}",
        outcome.campaign, outcome.campaign
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::verdict::tests::{campaign, spread};
    use crate::analysis::verdict::Baseline;

    const BASELINE_BUG: &str = "exit 1: FAILURE: No signal received";

    fn against_campaign() -> VerifyPlan {
        let before = campaign(
            "20261130-122000-00000000deadbeef",
            1000,
            &spread(7, 33, 30, BASELINE_BUG),
            &[],
            "1,000 runs done",
        );
        VerifyPlan::against_campaign(Baseline::from(&before), 0.95).expect("plan")
    }

    fn against_rate() -> VerifyPlan {
        VerifyPlan::against_rate(0.01, 0.95).expect("plan")
    }

    /// Every verdict against both kinds of baseline, as the terminal shows them.
    #[test]
    fn text_views() {
        let id = "20261201-090000-00000000cafef00d";
        let runs = |plan: &VerifyPlan| -> Vec<String> {
            let required = plan.required;
            let reruns = [
                campaign(id, required, &[], &[], "runs done"),
                campaign(id, 13, &[(12, BASELINE_BUG)], &[], "1 failure"),
                campaign(
                    id,
                    4,
                    &[(3, "signal SIGSEGV: \u{1b}[31m")],
                    &[],
                    "1 failure",
                ),
                campaign(id, 9, &[], &[], "duration reached"),
            ];
            let mut shown = vec![format!("{}\n", announcement(plan))];
            shown.extend(reruns.iter().map(|rerun| text(&plan.judge(rerun))));
            shown
        };
        let mut all = runs(&against_campaign());
        all.extend(runs(&against_rate()));
        insta::assert_snapshot!(all.join("---\n"));
    }

    #[test]
    fn json_views() {
        let plan = against_campaign();
        let fixed = plan.judge(&campaign("after", plan.required, &[], &[], "done"));
        insta::assert_snapshot!(json(&fixed).to_string());
        let failed = against_rate().judge(&campaign("after", 3, &[(2, "exit 1: x")], &[], "1"));
        let value = json(&failed);
        assert_eq!(value["verdict"], "not-fixed");
        assert_eq!(value["first_failure"]["run"], 2);
        assert_eq!(value["first_failure"]["text"], "exit 1: x");
        assert_eq!(value["baseline"], Value::Null);
        assert_eq!(value["p_value"], Value::Null);
        assert_eq!(value["clean_runs"], 2);
        assert_eq!(value["required_runs"], 299);
    }
}
