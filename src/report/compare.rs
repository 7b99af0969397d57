//! The compare view: both campaigns' rates with their intervals, the overall verdict with the
//! test behind it and the rate ratio, a warning when the two campaigns ran differently, and one
//! row per signature, as text or one JSON object.

use std::fmt::Write;

use serde_json::{json, Value};

use crate::analysis::spec_diff::SpecDifference;
use crate::analysis::verdict::{Comparison, Direction};
use crate::report::format::{format_p, format_rate, significant};
use crate::report::style::{paint, Role};
use crate::report::thousands;
use crate::text::escape_line;

/// The name of the test behind every verdict of this view.
const TEST: &str = "two-sided Fisher exact test";

/// Longest spec value shown in the warning, in characters.
const VALUE_CHARS: usize = 120;

/// The comparison as one JSON object; `spec_differences` lists what the two campaigns ran
/// differently.
pub fn json(comparison: &Comparison, differences: &[SpecDifference]) -> Value {
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
        "test": "fisher-exact-two-sided",
        "p": comparison.p,
        "p_b_less": comparison.p_b_less,
        "rate_ratio": comparison.rate_ratio,
        "signatures": signatures,
        "confidence": comparison.confidence,
        "spec_differences": differences,
    })
}

/// The comparison for a terminal.
pub fn text(comparison: &Comparison, differences: &[SpecDifference]) -> String {
    let mut out = String::new();
    let _ = sides_into(&mut out, comparison);
    let _ = verdict_into(&mut out, comparison);
    let _ = differences_into(&mut out, differences);
    let _ = signatures_into(&mut out, comparison);
    out
}

/// The table of both campaigns: runs, failures, rate and interval.
fn sides_into(out: &mut String, comparison: &Comparison) -> std::fmt::Result {
    let percent = (comparison.confidence * 100.0).round();
    let sides = [("A", &comparison.a), ("B", &comparison.b)];
    let cells: Vec<[String; 5]> = sides
        .iter()
        .map(|(label, side)| {
            [
                format!("{label}  {}", side.campaign),
                thousands(side.runs),
                thousands(side.failures),
                format_rate(side.rate.estimate),
                format!(
                    "{} .. {}",
                    format_rate(side.rate.low),
                    format_rate(side.rate.high)
                ),
            ]
        })
        .collect();
    let header = [
        "   campaign".to_string(),
        "runs".into(),
        "failures".into(),
        "rate".into(),
        format!("{percent}% interval"),
    ];
    let width = |i: usize| {
        cells
            .iter()
            .map(|row| row[i].chars().count())
            .chain([header[i].len()])
            .max()
            .unwrap_or(0)
    };
    let (w0, w1, w2, w3) = (width(0), width(1), width(2), width(3));
    for row in std::iter::once(&header).chain(&cells) {
        writeln!(
            out,
            "{:<w0$}  {:>w1$}  {:>w2$}  {:<w3$}  {}",
            row[0], row[1], row[2], row[3], row[4]
        )?;
    }
    Ok(())
}

/// The verdict with its test and p-value, the rate ratio, and a note when the one-sided
/// question (`verify`'s) would be answered differently.
fn verdict_into(out: &mut String, comparison: &Comparison) -> std::fmt::Result {
    let percent = (comparison.confidence * 100.0).round();
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
    let role = match comparison.verdict {
        Direction::Better => Role::Pass,
        Direction::Worse => Role::Fail,
        Direction::Indistinguishable => Role::Warn,
    };
    writeln!(
        out,
        "verdict: B is {} ({TEST}, {}){ratio}",
        paint(role, comparison.verdict.as_str()),
        format_p(comparison.p)
    )?;
    let alpha = 1.0 - comparison.confidence;
    if comparison.verdict == Direction::Indistinguishable && comparison.p_b_less <= alpha {
        writeln!(
            out,
            "  note: the one-sided test of whether B fails less often (the question `verify` \
             asks)\n        gives {} <= {}; the two-sided test also allows for B failing more \
             often",
            format_p(comparison.p_b_less),
            significant(alpha)
        )?;
    }
    Ok(())
}

/// The warning that the two campaigns did not run the same way.
fn differences_into(out: &mut String, differences: &[SpecDifference]) -> std::fmt::Result {
    if differences.is_empty() {
        return Ok(());
    }
    writeln!(
        out,
        "\nwarning: A and B did not run the same way; any of these may explain a difference:"
    )?;
    let width = differences
        .iter()
        .map(|d| d.field.chars().count())
        .max()
        .unwrap_or(0);
    for difference in differences {
        let field = escape_line(difference.field.as_bytes(), 40);
        writeln!(
            out,
            "  {field:<width$}  A: {}\n  {:<width$}  B: {}",
            escape_line(difference.a.as_bytes(), VALUE_CHARS),
            "",
            escape_line(difference.b.as_bytes(), VALUE_CHARS)
        )?;
    }
    Ok(())
}

/// One row per signature: its counts in A and B, the verdict and p-value for it alone.
fn signatures_into(out: &mut String, comparison: &Comparison) -> std::fmt::Result {
    if comparison.signatures.is_empty() {
        return Ok(());
    }
    let rows: Vec<[String; 5]> = comparison
        .signatures
        .iter()
        .map(|row| {
            [
                row.id.clone(),
                thousands(row.a),
                thousands(row.b),
                row.verdict.as_str().to_string(),
                format_p(row.p),
            ]
        })
        .collect();
    let header = ["id", "A", "B", "verdict", "p-value"].map(String::from);
    let width = |i: usize| {
        rows.iter()
            .chain([&header])
            .map(|row| row[i].chars().count())
            .max()
            .unwrap_or(0)
    };
    let widths = [width(0), width(1), width(2), width(3), width(4)];
    writeln!(out)?;
    for (cells, text) in std::iter::once((&header, "signature".to_string())).chain(
        rows.iter()
            .zip(&comparison.signatures)
            .map(|(cells, row)| (cells, escape_line(row.text.as_bytes(), 100))),
    ) {
        let [w0, w1, w2, w3, w4] = widths;
        writeln!(
            out,
            "  {:<w0$}  {:>w1$}  {:>w2$}  {:<w3$}  {:<w4$}  {text}",
            cells[0], cells[1], cells[2], cells[3], cells[4]
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
            .map(|comparison| text(comparison, &[]))
            .collect();
        insta::assert_snapshot!(shown.join("---\n"));
    }

    /// verify's one-sided question answered where compare's two-sided one is not, campaigns
    /// that ran differently, and counts of very different widths.
    #[test]
    fn one_sided_note_spec_warning_and_wide_counts() {
        let a = campaign(
            A,
            100,
            &spread(0, 20, 5, "exit 1: panic: first bug"),
            &[],
            "100 runs",
        );
        let b = campaign(B, 100, &[], &[], "100 runs");
        let close = Comparison::new(&a, &b, 0.95).expect("compare");
        assert_eq!(close.verdict, Direction::Indistinguishable);
        let differences = [
            SpecDifference {
                field: "shake".into(),
                a: "-".into(),
                b: "pin=one-core,cpu-load=1".into(),
            },
            SpecDifference {
                field: "command".into(),
                a: "./my_test --only TestX".into(),
                b: "./my_test --only \u{1b}[2JTestY".into(),
            },
        ];
        let wide = Comparison::new(
            &campaign(
                A,
                123_456,
                &spread(0, 1000, 12, "exit 1: panic: first bug"),
                &[],
                "done",
            ),
            &campaign(B, 900, &[(3, "signal SIGSEGV")], &[], "done"),
            0.95,
        )
        .expect("compare");
        insta::assert_snapshot!(format!(
            "{}---\n{}",
            text(&close, &differences),
            text(&wide, &[])
        ));
        let value = json(&close, &differences);
        assert_eq!(value["spec_differences"][0]["field"], "shake");
        assert_eq!(
            value["spec_differences"][1]["b"],
            "./my_test --only \u{1b}[2JTestY"
        );
        assert_eq!(value["test"], "fisher-exact-two-sided");
    }

    #[test]
    fn json_view() {
        insta::assert_snapshot!(json(&better(), &[]).to_string());
        let clean = campaign(B, 30, &[], &[], "30 runs");
        let value = json(
            &Comparison::new(&clean, &clean, 0.95).expect("compare"),
            &[],
        );
        assert_eq!(value["rate_ratio"], Value::Null);
        assert_eq!(value["signatures"], json!([]));
        assert_eq!(value["verdict"], "indistinguishable");
    }
}
