//! The campaign summary view: counts, failure rate with its interval, the signature table and
//! duration quantiles as text (every piece of test output escaped), or one JSON object.

use std::fmt::Write;
use std::time::Duration;

use crate::analysis::summary::{DurationStats, Summary};
use crate::record::FailureKind;
use crate::report::format::{format_rate, one_in};
use crate::report::style::{paint, Role};
use crate::report::{compact_duration, display_path, thousands};
use crate::text::escape_line;

/// The summary as one line of JSON (schema in the README).
pub fn json(summary: &Summary) -> anyhow::Result<String> {
    use anyhow::Context;
    serde_json::to_string(summary).context("could not encode the summary as JSON")
}

/// The summary for a terminal or a log.
pub fn text(summary: &Summary) -> String {
    let mut out = String::new();
    let _ = render_into(&mut out, summary);
    out
}

fn render_into(out: &mut String, s: &Summary) -> std::fmt::Result {
    writeln!(
        out,
        "flakehunt: campaign {} ({}) after {}, {:.0} runs/s",
        s.campaign,
        s.stop_reason,
        compact_duration(Duration::from_secs_f64(s.elapsed_s)),
        s.runs_per_second
    )?;
    let command: Vec<String> = s
        .command
        .iter()
        .map(|arg| escape_line(arg.as_bytes(), 200))
        .collect();
    writeln!(out, "  command    {}", command.join(" "))?;
    if let Some(target) = &s.target {
        crate::report::flakes::write_target(out, target)?;
    }
    let failures = thousands(s.failures);
    write!(
        out,
        "  runs       {}   passes {}   failures {}",
        thousands(s.runs),
        paint(Role::Pass, &thousands(s.passes)),
        match s.failures {
            0 => failures,
            _ => paint(Role::Fail, &failures),
        }
    )?;
    if s.ignored > 0 {
        write!(out, "   ignored {}", thousands(s.ignored))?;
    }
    if s.cancelled > 0 {
        write!(out, "   cancelled {} (not counted)", thousands(s.cancelled))?;
    }
    writeln!(out)?;
    if s.failures > 0 {
        let kinds: Vec<String> = FailureKind::ALL
            .iter()
            .filter(|kind| s.failures_by_kind.get(**kind) > 0)
            .map(|kind| format!("{} {}", kind.as_str(), s.failures_by_kind.get(*kind)))
            .collect();
        writeln!(out, "  by kind    {}", kinds.join(", "))?;
    }
    let percent = (s.confidence * 100.0).round();
    if s.runs == 0 {
        writeln!(out, "  rate       unknown: no run finished")?;
    } else if s.failures == 0 {
        writeln!(
            out,
            "  rate       0 failures: rate < {} ({}) at {percent}% confidence",
            format_rate(s.rate_upper_bound),
            one_in(s.rate_upper_bound)
        )?;
    } else {
        writeln!(
            out,
            "  rate       {} ({}), {percent}% interval {} .. {}",
            format_rate(s.rate.estimate),
            one_in(s.rate.estimate),
            format_rate(s.rate.low),
            format_rate(s.rate.high)
        )?;
    }
    write_durations(out, "pass", &s.pass_durations)?;
    write_durations(out, "fail", &s.fail_durations)?;
    if s.leaked_pipes > 0 {
        writeln!(
            out,
            "  note       {} run(s) left a process outside their process group holding the output pipes",
            s.leaked_pipes
        )?;
    }
    if !s.kept_pids.is_empty() {
        let pids: Vec<String> = s.kept_pids.iter().map(u32::to_string).collect();
        writeln!(
            out,
            "  kept       timed-out runs still running: pid {}",
            pids.join(", ")
        )?;
    }
    if !s.signatures.is_empty() {
        writeln!(out)?;
        let header = format!("  {:>7}  {:>7}  {:<12}  signature", "count", "first", "id");
        writeln!(out, "{}", paint(Role::Dim, &header))?;
        for signature in &s.signatures {
            let marker = if signature.ignored { " (ignored)" } else { "" };
            writeln!(
                out,
                "  {:>7}  {:>7}  {:<12}  {}{marker}",
                thousands(signature.count),
                signature.first_run,
                signature.id,
                escape_line(signature.text.as_bytes(), 160)
            )?;
            if let Some(line) = &signature.example_line {
                writeln!(out, "  {:>7}  {:>7}  {:<12}  e.g. {line}", "", "", "")?;
            }
            if let Some(example) = &signature.example {
                writeln!(
                    out,
                    "  {:>7}  {:>7}  {:<12}  {}",
                    "",
                    "",
                    "",
                    paint(Role::Dim, &format!("log  {}", display_path(example)))
                )?;
            }
        }
    }
    if s.target.is_none() && !s.tests.is_empty() {
        writeln!(out)?;
        crate::report::flakes::write_flake_table(
            out,
            &s.tests,
            crate::report::flakes::SUMMARY_ROWS,
        )?;
    }
    if s.failures + s.ignored > 0 {
        writeln!(out)?;
        let saved = format!("failures saved in {}", display_path(&s.out_dir));
        writeln!(out, "  {}", paint(Role::Dim, &saved))?;
    }
    Ok(())
}

fn write_durations(out: &mut String, label: &str, stats: &DurationStats) -> std::fmt::Result {
    if stats.count == 0 {
        return Ok(());
    }
    let show = |seconds: f64| compact_duration(Duration::from_secs_f64(seconds));
    writeln!(
        out,
        "  {label:<10} min {}  median {}  p99 {}  max {}",
        show(stats.min_s),
        show(stats.median_s),
        show(stats.p99_s),
        show(stats.max_s)
    )
}

#[cfg(test)]
pub(crate) mod tests {
    use std::path::{Path, PathBuf};

    use super::*;
    use crate::analysis::summary::{Observation, SummaryContext, Tally};
    use crate::record::{Signature, Verdict};

    /// A campaign of 3,000 runs with two failure modes and one ignored failure, fixed in every
    /// detail so the rendering can be pinned.
    pub(crate) fn sample_summary() -> Summary {
        let mut tally = Tally::new();
        let crash = Signature {
            id: "0123456789ab".into(),
            text: "exit 2: FAILURE: No signal received".into(),
        };
        let garbage = Signature {
            id: "ba9876543210".into(),
            text: "signal SIGSEGV: \u{fffd}\u{fffd} garbage".into(),
        };
        let example = Path::new("/nonexistent/flakehunt-out/run-000017.log");
        for index in 0..3000u64 {
            let (verdict, signature) = match index {
                17 | 1200 | 2999 => (Verdict::Fail(FailureKind::Exit), Some(&crash)),
                400 => (Verdict::Fail(FailureKind::Signal), Some(&garbage)),
                900 => (Verdict::Ignored(FailureKind::Exit), Some(&crash)),
                _ => (Verdict::Pass, None),
            };
            tally.observe(&Observation {
                index,
                duration: Duration::from_micros(1_000 + (index % 7) * 250),
                verdict,
                signature,
                example: signature.map(|_| example),
                example_line: signature.map(|_| b"FAILURE: No signal received \xff".as_slice()),
                leaked_pipes: index == 5,
                kept_pid: None,
            });
        }
        tally.summary(SummaryContext {
            campaign: "20261130-122000-00000000deadbeef".into(),
            command: vec!["./ctrl_handler_test".into(), "-run".into(), "Ctrl".into()],
            started_at: "2026-11-30T12:20:00Z".into(),
            elapsed: Duration::from_secs(12),
            stop_reason: "3,000 runs done".into(),
            interrupted: false,
            cancelled: 0,
            out_dir: PathBuf::from("/nonexistent/flakehunt-out"),
            still_kept: Vec::new(),
        })
    }

    #[test]
    fn text_view() {
        insta::assert_snapshot!(text(&sample_summary()));
    }

    #[test]
    fn json_view_is_one_object_with_the_rate_and_its_interval() {
        let json = json(&sample_summary()).expect("encode");
        assert!(!json.contains('\n'));
        let value: serde_json::Value = serde_json::from_str(&json).expect("parse");
        assert_eq!(value["runs"], 3000);
        assert_eq!(value["failures"], 4);
        assert_eq!(value["ignored"], 1);
        let low = value["rate"]["low"].as_f64().expect("low");
        let high = value["rate"]["high"].as_f64().expect("high");
        assert!(low < 4.0 / 3000.0 && 4.0 / 3000.0 < high, "{low} {high}");
    }
}
