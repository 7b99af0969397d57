//! The flake table: per test, its runs, failures, failure rate with its interval and main
//! signature (a suite campaign's summary, `show --tests`, `history --tests`); and the lines
//! that show a campaign's test target and its build apart from the runs.

use std::fmt::Write;

use crate::analysis::per_test::{TargetSummary, TestRow};
use crate::report::format::format_rate;
use crate::report::thousands;
use crate::text::escape_line;

/// Rows of failing tests shown in a summary; the rest are counted.
pub const SUMMARY_ROWS: usize = 20;

/// The target's lines of a summary: the test and its runner, and the build (not in the runs).
pub fn write_target(out: &mut String, target: &TargetSummary) -> std::fmt::Result {
    writeln!(
        out,
        "  test       {} ({})",
        escape_line(target.test.as_bytes(), 200),
        target.runner
    )?;
    if let Some(build) = &target.build {
        let took = format!("{:.1}s", build.seconds);
        if build.cached {
            writeln!(
                out,
                "  build      cached: sources unchanged, checked in {took} (not counted in the runs)"
            )?;
        } else {
            writeln!(
                out,
                "  build      {took} `{}` (not counted in the runs)",
                escape_line(build.command.as_bytes(), 200)
            )?;
        }
    }
    Ok(())
}

/// The flake table of a suite campaign: tests that failed at least once (at most `limit`), and
/// a count of the others.
pub fn write_flake_table(out: &mut String, rows: &[TestRow], limit: usize) -> std::fmt::Result {
    let failing: Vec<&TestRow> = rows.iter().filter(|row| row.failures > 0).collect();
    let flaky = failing.iter().filter(|row| row.is_flaky()).count();
    writeln!(
        out,
        "  tests      {} seen, {} failed at least once ({} flaky: failed in some runs, passed in others)",
        thousands(rows.len() as u64),
        thousands(failing.len() as u64),
        thousands(flaky as u64)
    )?;
    if failing.is_empty() {
        return Ok(());
    }
    writeln!(out)?;
    write_rows(out, &failing, limit)?;
    if failing.len() > limit {
        writeln!(
            out,
            "  ... and {} more failing tests",
            failing.len() - limit
        )?;
    }
    Ok(())
}

fn write_rows(out: &mut String, rows: &[&TestRow], limit: usize) -> std::fmt::Result {
    let width = rows
        .iter()
        .take(limit)
        .map(|row| row.test.chars().count().min(60))
        .max()
        .unwrap_or(4)
        .max(4);
    writeln!(
        out,
        "  {:<width$}  {:>7}  {:>7}  {:<24}  main signature",
        "test", "runs", "fails", "rate (95% interval)"
    )?;
    for row in rows.iter().take(limit) {
        let rate = if row.runs == 0 {
            "skipped".to_string()
        } else if row.failures == 0 {
            "0".to_string()
        } else {
            format!(
                "{} ({} .. {})",
                format_rate(row.rate.estimate),
                format_rate(row.rate.low),
                format_rate(row.rate.high)
            )
        };
        let marker = if row.failures > 0 && row.failures == row.runs {
            " [always]"
        } else {
            ""
        };
        writeln!(
            out,
            "  {:<width$}  {:>7}  {:>7}  {:<24}  {}{marker}",
            escape_line(row.test.as_bytes(), 60),
            thousands(row.runs),
            thousands(row.failures),
            rate,
            row.signature
                .as_ref()
                .map(|s| escape_line(s.text.as_bytes(), 120))
                .unwrap_or_default()
        )?;
    }
    Ok(())
}

/// Per-test rates (of one campaign or across campaigns), every test listed, failing first.
pub fn text(rows: &[TestRow], scope: &str) -> String {
    let mut out = String::new();
    if rows.is_empty() {
        let _ = writeln!(out, "flakehunt: no per-test results {scope}");
        return out;
    }
    let _ = writeln!(out, "flakehunt: per-test results {scope}");
    let all: Vec<&TestRow> = rows.iter().collect();
    let _ = write_rows(&mut out, &all, usize::MAX);
    out
}

/// What `flakehunt history --tests [FILTER]` says when no recorded test matches: how many
/// campaigns were searched (those with per-test results, of all in the history).
pub fn nothing_matches(filter: Option<&str>, tested: u64, all: u64) -> String {
    let campaigns = |n: u64| format!("{n} campaign{}", if n == 1 { "" } else { "s" });
    let searched = format!(
        "searched {} with per-test results, of {} in the history",
        campaigns(tested),
        all
    );
    let mut out = match filter {
        Some(filter) => format!(
            "flakehunt: no recorded test matches '{}' ({searched})\n",
            crate::text::escape_line(filter.as_bytes(), 200)
        ),
        None => format!("flakehunt: no per-test results ({searched})\n"),
    };
    if tested == 0 {
        out.push_str(
            "  per-test results come from campaigns on test targets and suites (--cargo-test, --go-test,\n    --pytest, --test, --suite)\n",
        );
    }
    out
}

/// Per-test rates as one JSON array.
pub fn json(rows: &[TestRow]) -> anyhow::Result<String> {
    use anyhow::Context;
    serde_json::to_string(rows).context("could not encode the per-test results")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::per_test::{BuildSummary, TestOutcome, TestStatus, TestTally};
    use crate::record::Signature;

    fn rows() -> Vec<TestRow> {
        let mut tally = TestTally::new();
        for index in 0..40u64 {
            let flaky = if index % 10 == 3 {
                TestOutcome {
                    name: "pool::tests::results_keep_order".into(),
                    status: TestStatus::Fail,
                    signature: Some(Signature {
                        id: "0123456789ab".into(),
                        text: "fail: panicked at src/pool.rs:88:9: order lost on run N".into(),
                    }),
                    message: Some("panicked at src/pool.rs:88:9: order lost on run 3".into()),
                }
            } else {
                TestOutcome {
                    name: "pool::tests::results_keep_order".into(),
                    status: TestStatus::Pass,
                    signature: None,
                    message: None,
                }
            };
            let broken = TestOutcome {
                name: "db::tests::connects".into(),
                status: TestStatus::Fail,
                signature: Some(Signature {
                    id: "ba9876543210".into(),
                    text: "fail: test db::tests::connects FAILED: Error: refused".into(),
                }),
                message: None,
            };
            let stable = TestOutcome {
                name: "pool::tests::starts".into(),
                status: TestStatus::Pass,
                signature: None,
                message: None,
            };
            tally.add(index, &[flaky, broken, stable]);
        }
        tally.rows()
    }

    #[test]
    fn flake_table_in_a_summary() {
        let mut out = String::new();
        write_target(
            &mut out,
            &TargetSummary {
                runner: "cargo".into(),
                test: "pool::tests::results_keep_order".into(),
                build: Some(BuildSummary {
                    command: "cargo test --no-run --message-format=json".into(),
                    seconds: 3.25,
                    cached: false,
                }),
            },
        )
        .expect("write");
        write_flake_table(&mut out, &rows(), SUMMARY_ROWS).expect("write");
        insta::assert_snapshot!(out);
    }

    #[test]
    fn per_test_rates_across_campaigns() {
        insta::assert_snapshot!(text(&rows(), "across 3 campaigns"));
        assert_eq!(
            text(&[], "in campaign x"),
            "flakehunt: no per-test results in campaign x\n"
        );
    }
}
