//! The compare view: both campaigns' rates with their intervals, the overall verdict with the
//! rate ratio, and one row per signature, as text or one JSON object.

use std::fmt::Write;

use serde_json::{json, Value};

use crate::analysis::verdict::Comparison;
use crate::report::format::format_rate;
use crate::report::thousands;
use crate::text::escape_line;

/// The comparison as one JSON object.
pub fn json(comparison: &Comparison) -> Value {
    let side = |side: &crate::analysis::verdict::Side| {
        json!({
            "campaign": side.campaign,
            "runs": side.runs,
            "failures": side.failures,
            "rate": side.rate,
        })
    };
    let signatures: Vec<Value> = comparison
        .signatures
        .iter()
        .map(|row| {
            json!({
                "id": row.id,
                "text": row.text,
                "a": row.a,
                "b": row.b,
                "verdict": row.verdict.as_str(),
                "p": row.p,
            })
        })
        .collect();
    json!({
        "a": side(&comparison.a),
        "b": side(&comparison.b),
        "verdict": comparison.verdict.as_str(),
        "p": comparison.p,
        "p_b_less": comparison.p_b_less,
        "rate_ratio": comparison.rate_ratio,
        "signatures": signatures,
        "confidence": comparison.confidence,
    })
}

/// The comparison for a terminal.
pub fn text(comparison: &Comparison) -> String {
    let mut out = String::new();
    let _ = render_into(&mut out, comparison);
    out
}

fn render_into(out: &mut String, comparison: &Comparison) -> std::fmt::Result {
    let percent = (comparison.confidence * 100.0).round();
    for (label, side) in [("A", &comparison.a), ("B", &comparison.b)] {
        writeln!(
            out,
            "{label}  {}  {:>10} runs  {:>6} failures  rate {} ({percent}% {} .. {})",
            side.campaign,
            thousands(side.runs),
            thousands(side.failures),
            format_rate(side.rate.estimate),
            format_rate(side.rate.low),
            format_rate(side.rate.high)
        )?;
    }
    let ratio = match comparison.rate_ratio {
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
    writeln!(
        out,
        "verdict: B is {} (Fisher exact p = {:.3}){ratio}",
        comparison.verdict.as_str(),
        comparison.p
    )?;
    if comparison.signatures.is_empty() {
        return Ok(());
    }
    writeln!(out)?;
    writeln!(
        out,
        "  {:<12} {:>8} {:>8}  {:<17} signature",
        "id", "A", "B", "verdict"
    )?;
    for row in &comparison.signatures {
        writeln!(
            out,
            "  {:<12} {:>8} {:>8}  {:<17} {}",
            row.id,
            row.a,
            row.b,
            row.verdict.as_str(),
            escape_line(row.text.as_bytes(), 100)
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::verdict::tests::{campaign, spread};

    const A: &str = "20261130-122000-00000000deadbeef";
    const B: &str = "20261201-090000-00000000cafef00d";

    fn better() -> Comparison {
        let a = campaign(
            A,
            40,
            &spread(0, 2, 20, "exit 1: panic: first bug"),
            &[],
            "40 runs",
        );
        let b = campaign(
            B,
            40,
            &[(39, "exit 1: FIXTURE: failing on run N")],
            &[],
            "40 runs",
        );
        Comparison::new(&a, &b, 0.95).expect("compare")
    }

    #[test]
    fn text_views() {
        let b_clean = campaign(B, 30, &[], &[], "30 runs");
        let a_only = Comparison::new(
            &campaign(
                A,
                40,
                &spread(0, 2, 20, "exit 1: panic: first bug"),
                &[],
                "40 runs",
            ),
            &b_clean,
            0.95,
        )
        .expect("compare");
        let a_clean = campaign(A, 123_456, &[], &[], "done");
        let b_only = Comparison::new(
            &a_clean,
            &campaign(
                B,
                3000,
                &spread(5, 100, 12, "signal SIGSEGV: \u{1b}[2J"),
                &[],
                "done",
            ),
            0.99,
        )
        .expect("compare");
        let neither = Comparison::new(&b_clean, &b_clean, 0.95).expect("compare");
        let shown: Vec<String> = [better(), a_only, b_only, neither]
            .iter()
            .map(text)
            .collect();
        insta::assert_snapshot!(shown.join("---\n"));
    }

    #[test]
    fn json_view() {
        insta::assert_snapshot!(json(&better()).to_string());
        let clean = campaign(B, 30, &[], &[], "30 runs");
        let value = json(&Comparison::new(&clean, &clean, 0.95).expect("compare"));
        assert_eq!(value["rate_ratio"], Value::Null);
        assert_eq!(value["signatures"], json!([]));
        assert_eq!(value["verdict"], "indistinguishable");
    }
}
