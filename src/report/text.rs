//! The human summary printed at the end of a campaign: counts, failure rate with its interval,
//! the signature table and duration quantiles. Every piece of test output in it is escaped.

use std::fmt::Write;
use std::time::Duration;

use crate::analysis::stats::{format_rate, one_in};
use crate::analysis::summary::{DurationStats, Summary};
use crate::record::FailureKind;
use crate::report::{compact_duration, display_path, thousands};
use crate::text::escape_line;

/// Render the summary for a terminal or a log.
pub fn render(summary: &Summary) -> String {
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
    write!(
        out,
        "  runs       {}   passes {}   failures {}",
        thousands(s.runs),
        thousands(s.passes),
        thousands(s.failures)
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
        writeln!(
            out,
            "  {:>7}  {:>7}  {:<12}  signature",
            "count", "first", "id"
        )?;
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
                    "  {:>7}  {:>7}  {:<12}  log  {}",
                    "",
                    "",
                    "",
                    display_path(example)
                )?;
            }
        }
    }
    if s.failures + s.ignored > 0 {
        writeln!(out)?;
        writeln!(out, "  failures saved in {}", display_path(&s.out_dir))?;
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
