//! The plan view: how many runs each question about a failure rate needs, and how long that
//! takes at the known throughput, as a table or one JSON object.

use std::fmt::Write;
use std::time::Duration;

use serde_json::{json, Value};

use crate::analysis::verdict::Plan;
use crate::report::format::{format_rate, one_in};
use crate::report::{compact_duration, thousands};

/// The plan as one JSON object.
pub fn json(plan: &Plan) -> Value {
    json!({
        "rate": plan.rate,
        "confidence": plan.confidence,
        "runs_per_second": plan.runs_per_second,
        "reproduce_once": plan.reproduce_once,
        "reproduce_k": {"k": plan.times, "runs": plan.reproduce_times},
        "claim_fixed": plan.claim_fixed,
        "beat_baseline": plan.beat_baseline,
        "campaign": plan.campaign.as_ref().map(|campaign| &campaign.campaign),
    })
}

/// The plan for a terminal: the rate, then one row per question.
pub fn text(plan: &Plan) -> String {
    let mut out = String::new();
    let _ = render_into(&mut out, plan);
    out
}

fn render_into(out: &mut String, plan: &Plan) -> std::fmt::Result {
    let speed = plan.runs_per_second;
    writeln!(
        out,
        "failure rate {} ({}), {}% confidence{}",
        format_rate(plan.rate),
        one_in(plan.rate),
        (plan.confidence * 100.0).round(),
        speed
            .map(|s| format!(", {s:.1} runs/s"))
            .unwrap_or_default()
    )?;
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
    writeln!(
        out,
        "{}",
        row("reproduce at least once".into(), plan.reproduce_once)
    )?;
    writeln!(
        out,
        "{}",
        row(
            format!("reproduce at least {} times", plan.times),
            plan.reproduce_times
        )
    )?;
    writeln!(
        out,
        "{}",
        row(
            format!("claim a fix (rate < {}), all clean", one_in(plan.rate)),
            plan.claim_fixed
        )
    )?;
    if let (Some(campaign), Some(runs)) = (&plan.campaign, plan.beat_baseline) {
        let label = format!(
            "beat the baseline ({} in {} runs), all clean",
            campaign.failures,
            thousands(campaign.runs)
        );
        writeln!(out, "{}", row(label, Some(runs)))?;
    }
    Ok(())
}

/// How long `runs` take at `runs_per_second`: `~2h29m`, `centuries`, or `-` when the speed is
/// unknown.
pub fn wall_time(runs: u64, runs_per_second: Option<f64>) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::verdict::{Baseline, PlanRequest};

    fn request(rate: Option<f64>, runs_per_second: Option<f64>) -> PlanRequest {
        PlanRequest {
            rate,
            confidence: 0.95,
            times: 3,
            runs_per_second,
        }
    }

    fn baseline() -> Baseline {
        Baseline {
            campaign: "20261130-122000-00000000deadbeef".into(),
            runs: 1000,
            failures: 30,
            rate: 0.03,
            runs_per_second: 12.5,
            signatures: Vec::new(),
        }
    }

    #[test]
    fn text_view_of_a_rate() {
        let plan = Plan::new(request(Some(1.0 / 30000.0), Some(10.0)), None).expect("plan");
        insta::assert_snapshot!(text(&plan));
    }

    #[test]
    fn text_view_of_a_campaign_without_speed_and_out_of_reach() {
        let plan = Plan::new(request(None, None), Some(baseline())).expect("plan");
        let with_campaign = text(&plan);
        let tiny = Plan::new(request(Some(1e-300), Some(1000.0)), None).expect("plan");
        insta::assert_snapshot!(format!("{with_campaign}---\n{}", text(&tiny)));
    }

    #[test]
    fn json_view() {
        let plan = Plan::new(request(None, None), Some(baseline())).expect("plan");
        insta::assert_snapshot!(json(&plan).to_string());
        let bare = json(&Plan::new(request(Some(0.5), None), None).expect("plan"));
        assert_eq!(bare["campaign"], Value::Null);
        assert_eq!(bare["beat_baseline"], Value::Null);
        assert_eq!(bare["runs_per_second"], Value::Null);
        assert_eq!(bare["reproduce_once"], 5);
    }

    #[test]
    fn wall_times() {
        assert_eq!(wall_time(89_871, Some(10.0)), "~2h29m");
        assert_eq!(wall_time(10, None), "-");
        assert_eq!(wall_time(10, Some(0.0)), "-");
        assert_eq!(wall_time(u64::MAX, Some(1.0)), "centuries");
    }
}
