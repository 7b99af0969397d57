//! The Markdown report: a summary short enough to paste into an issue or a pull request (the
//! headline, the top signatures, one example), and a history query's signatures over time.
//! Text from outside goes into code spans and fenced blocks sized so it cannot close them.

use std::fmt::Write;
use std::time::Duration;

use crate::analysis::per_test::TestRow;
use crate::report::format::{compact_duration, format_rate, one_in, ratio, thousands};
use crate::store::report::bisect::BisectData;
use crate::store::report::{HistoryData, ReportData, Subject};
use crate::text::{escape_line, render_excerpt, ExcerptOptions};

/// Signatures listed.
const TOP_SIGNATURES: usize = 5;
/// Lines of the example shown.
const EXAMPLE_LINES: usize = 20;
/// Signatures of a history report listed.
const TOP_HISTORY: usize = 15;
/// Failing tests of a suite listed.
const TOP_TESTS: usize = 10;
/// Commits of a bisection listed.
const BISECT_COMMITS: usize = 12;

/// Outside text as an inline code span: one line, fenced by more backticks than it contains.
pub fn code(text: &str, max: usize) -> String {
    span(escape_line(text.as_bytes(), max))
}

/// Outside text as a code span in a table cell: `|` escaped so the cell stays one cell.
pub fn cell(text: &str, max: usize) -> String {
    span(escape_line(text.as_bytes(), max).replace('|', "\\|"))
}

fn span(text: String) -> String {
    let longest = longest_run(&text, '`');
    let fence = "`".repeat(longest + 1);
    let pad = if text.starts_with('`') || text.ends_with('`') || text.is_empty() {
        " "
    } else {
        ""
    };
    format!("{fence}{pad}{text}{pad}{fence}")
}

fn longest_run(text: &str, c: char) -> usize {
    let mut longest = 0;
    let mut current = 0;
    for ch in text.chars() {
        current = if ch == c { current + 1 } else { 0 };
        longest = longest.max(current);
    }
    longest
}

/// A fenced block that the text cannot close.
fn block(out: &mut String, text: &str) {
    let fence = "`".repeat(longest_run(text, '`').max(2) + 1);
    let _ = writeln!(out, "{fence}text\n{text}\n{fence}");
}

fn seconds(value: f64) -> String {
    compact_duration(Duration::from_secs_f64(value.max(0.0)))
}

/// The command (or hunt or bisection command) as one code span.
fn command(data: &ReportData) -> String {
    let words: Vec<String> = match (&data.bisect, &data.hunt, data.campaigns.first()) {
        (Some(bisection), _, _) if !bisection.command.is_empty() => bisection.command.clone(),
        (_, Some(hunt), _) => hunt.command.clone(),
        (_, None, Some(first)) => first.row.command.clone(),
        (_, None, None) => Vec::new(),
    };
    let words: Vec<String> = words
        .iter()
        .map(|w| escape_line(w.as_bytes(), 120))
        .collect();
    code(&words.join(" "), 300)
}

/// The one-line headline: what ran and how often it failed.
pub fn headline(data: &ReportData) -> String {
    let t = &data.totals;
    let what = match &data.subject {
        Subject::Campaign(_) => String::new(),
        Subject::Window(_) => "window sweep of ".to_string(),
        Subject::Hunt(0) => "hunt of ".to_string(),
        Subject::Hunt(id) => format!("hunt {id} of "),
        Subject::Bisect(id) => format!("bisection {id} of "),
    };
    if let Some(bisection) = &data.bisect {
        let outcome =
            crate::report::bisect_report::outcome_quoted(bisection, &|text| code(text, 80));
        return format!("flakehunt: {what}{}: {outcome}", command(data));
    }
    let outcome = if t.runs == 0 {
        "no run finished".to_string()
    } else if t.failures == 0 {
        format!(
            "passed all {} runs (rate < {} at {}% confidence)",
            thousands(t.runs),
            format_rate(t.rate_upper_bound),
            (t.confidence * 100.0).round()
        )
    } else {
        format!(
            "failed {} of {} runs ({}, {})",
            thousands(t.failures),
            thousands(t.runs),
            format_rate(t.rate.estimate),
            one_in(t.rate.estimate)
        )
    };
    format!("flakehunt: {what}{} {outcome}", command(data))
}

/// The campaign, sweep or hunt as Markdown.
pub fn campaign(data: &ReportData) -> String {
    let mut out = String::new();
    let _ = campaign_into(&mut out, data);
    out
}

fn campaign_into(out: &mut String, data: &ReportData) -> std::fmt::Result {
    writeln!(out, "### {}\n", headline(data))?;
    if let Some(verdict) = &data.verdict {
        writeln!(out, "**Verdict:** {}\n", code(verdict, 300))?;
    }
    facts(out, data)?;
    if let Some(hunt) = &data.hunt {
        writeln!(
            out,
            "\n| arm | runs | failures | rate (95% interval) | speedup |"
        )?;
        writeln!(out, "|---|---:|---:|---|---:|")?;
        for arm in &hunt.arms {
            let best = if hunt.best.as_deref() == Some(arm.shake.as_str()) {
                " **best**"
            } else {
                ""
            };
            let speedup = match (arm.speedup, arm.speedup_low) {
                (Some(s), Some(low)) if s.is_finite() => format!("{} (≥ {})", ratio(s), ratio(low)),
                (_, Some(low)) => format!("≥ {}", ratio(low)),
                _ => "-".into(),
            };
            // An arm the budget never reached has no rate to show.
            let rate = if arm.runs == 0 {
                "-".to_string()
            } else {
                format!(
                    "{} ({} .. {})",
                    format_rate(arm.rate.estimate),
                    format_rate(arm.rate.low),
                    format_rate(arm.rate.high)
                )
            };
            writeln!(
                out,
                "| {}{best} | {} | {} | {rate} | {speedup} |",
                cell(&arm.shake, 80),
                thousands(arm.runs),
                thousands(arm.failures),
            )?;
        }
    }
    if let Some(window) = &data.window {
        let line = match &window.map.window {
            Some(w) => format!(
                "failures when the delay is from {}{} to {}{} (±{} / ±{}), peak rate {}",
                if w.start.open { "at most " } else { "" },
                seconds(w.start.at_s),
                if w.end.open { "at least " } else { "" },
                seconds(w.end.at_s),
                seconds(w.start.uncertainty_s),
                seconds(w.end.uncertainty_s),
                format_rate(w.peak_rate)
            ),
            None => "no failure in this range of delays".to_string(),
        };
        writeln!(out, "\n**Window** ({}): {line}", code(&window.sweep, 100))?;
    }
    if let Some(bisection) = &data.bisect {
        bisect(out, bisection)?;
    }
    tests(out, data)?;
    signatures(out, data)
}

/// A bisection: the target, the commits that were probed or lead, and the culprit's posterior
/// after each probe as a sparkline.
fn bisect(out: &mut String, bisection: &BisectData) -> std::fmt::Result {
    use crate::report::bisect_report::{listed, percent, short};
    writeln!(
        out,
        "\n**Range** {}..{}, {} commits; **target** {}",
        code(short(&bisection.good), 12),
        code(short(&bisection.bad), 12),
        thousands(bisection.commits.len().saturating_sub(1) as u64),
        bisection
            .target
            .as_ref()
            .map_or_else(|| "not known yet".to_string(), |t| code(&t.text, 200))
    )?;
    writeln!(
        out,
        "\n| # | commit | runs | target | clean | other | posterior | subject |"
    )?;
    writeln!(out, "|---:|---|---:|---:|---:|---:|---:|---|")?;
    let shown = listed(bisection);
    let culprit = bisection.decision.as_ref().and_then(|d| d.commit);
    for (i, commit) in shown.iter().take(BISECT_COMMITS) {
        let mark = match (Some(*i) == culprit, commit.untestable.is_some()) {
            (true, _) => " **culprit**",
            (false, true) => " untestable",
            (false, false) => "",
        };
        writeln!(
            out,
            "| {i} | {}{mark} | {} | {} | {} | {} | {} | {} |",
            cell(short(&commit.hash), 12),
            thousands(commit.runs),
            thousands(commit.failures),
            thousands(commit.clean),
            thousands(commit.other),
            percent(commit.posterior),
            cell(&commit.subject, 100)
        )?;
    }
    if shown.len() > BISECT_COMMITS {
        writeln!(
            out,
            "\n{} more commit(s) in the full report (`flakehunt report`).",
            shown.len() - BISECT_COMMITS
        )?;
    }
    let leader = culprit
        .or(bisection.decision.as_ref().and_then(|d| d.best))
        .and_then(|i| bisection.commits.get(i));
    if let Some(leader) = leader.filter(|_| !bisection.probes.is_empty()) {
        let trail: Vec<f64> = bisection
            .probes
            .iter()
            .map(|p| {
                p.posterior
                    .iter()
                    .find(|c| c.commit == leader.hash)
                    .map_or(0.0, |c| c.probability)
            })
            .collect();
        writeln!(
            out,
            "\nPosterior of {} after each of {} probes: {} ({} at the end)",
            code(short(&leader.hash), 12),
            bisection.probes.len(),
            code(&fraction_sparkline(&trail), 400),
            percent(trail.last().copied().unwrap_or(0.0))
        )?;
    }
    Ok(())
}

/// Probabilities in 0..1 as block characters (`·` for below 1%).
fn fraction_sparkline(values: &[f64]) -> String {
    const LEVELS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    values
        .iter()
        .map(|&p| {
            if p < 0.01 {
                '·'
            } else {
                LEVELS[((p.min(1.0) * 7.0).round() as usize).min(7)]
            }
        })
        .collect()
}

/// A suite's failing tests, highest rate first, each marked flaky or always failing.
fn tests(out: &mut String, data: &ReportData) -> std::fmt::Result {
    if data.tests.len() < 2 {
        return Ok(());
    }
    let failing: Vec<&TestRow> = data.tests.iter().filter(|r| r.failures > 0).collect();
    let flaky = failing.iter().filter(|r| r.is_flaky()).count();
    writeln!(
        out,
        "\n**Tests:** {} seen, {} failed at least once ({} flaky, {} in every run)",
        thousands(data.tests.len() as u64),
        thousands(failing.len() as u64),
        thousands(flaky as u64),
        thousands((failing.len() - flaky) as u64)
    )?;
    if failing.is_empty() {
        return Ok(());
    }
    writeln!(
        out,
        "\n| test | status | runs | fails | rate (95% interval) |"
    )?;
    writeln!(out, "|---|---|---:|---:|---|")?;
    for row in failing.iter().take(TOP_TESTS) {
        let status = if row.is_flaky() {
            "flaky"
        } else {
            "always fails"
        };
        writeln!(
            out,
            "| {} | {status} | {} | {} | {} ({} .. {}) |",
            cell(&row.test, 120),
            thousands(row.runs),
            thousands(row.failures),
            format_rate(row.rate.estimate),
            format_rate(row.rate.low),
            format_rate(row.rate.high)
        )?;
    }
    if failing.len() > TOP_TESTS {
        writeln!(
            out,
            "\n{} more failing test(s) in the full report (`flakehunt report`).",
            failing.len() - TOP_TESTS
        )?;
    }
    Ok(())
}

fn facts(out: &mut String, data: &ReportData) -> std::fmt::Result {
    let Some(first) = data.campaigns.first() else {
        return Ok(());
    };
    let row = &first.row;
    let t = &data.totals;
    let mut facts: Vec<(&str, String)> = Vec::new();
    // A bisection's runs are at many commits: its range and posterior say what they show.
    let bisection = data.bisect.is_some();
    if t.failures > 0 && !bisection {
        facts.push((
            "rate",
            format!(
                "{} ({}% interval {} .. {})",
                format_rate(t.rate.estimate),
                (t.confidence * 100.0).round(),
                format_rate(t.rate.low),
                format_rate(t.rate.high)
            ),
        ));
    }
    let commit = match (&row.git_commit, row.git_dirty) {
        (Some(commit), Some(true)) => format!("{} (dirty)", cell(commit, 40)),
        (Some(commit), _) => cell(commit, 40),
        (None, _) => "-".to_string(),
    };
    if !bisection {
        facts.push(("commit", commit));
    }
    if let Some(target) = &first.summary.target {
        let test = format!("{} ({})", cell(&target.test, 200), cell(&target.runner, 20));
        facts.push(("test", test));
    }
    facts.push(("host", cell(row.host.as_deref().unwrap_or("unknown"), 80)));
    let shake = first
        .arm
        .clone()
        .or_else(|| first.shake().map(str::to_string));
    if let Some(shake) = shake.filter(|_| data.hunt.is_none()) {
        facts.push(("shake", cell(&shake, 120)));
    }
    let ids: Vec<String> = data.campaigns.iter().map(|c| cell(&c.row.id, 60)).collect();
    let shown = if ids.len() > 3 {
        format!("{} and {} more", ids[..3].join(", "), ids.len() - 3)
    } else {
        ids.join(", ")
    };
    facts.push(("campaign", shown));
    facts.push(("time", seconds(t.elapsed_s)));
    writeln!(out, "| | |\n|---|---|")?;
    for (name, value) in facts {
        writeln!(out, "| {name} | {value} |")?;
    }
    Ok(())
}

fn signatures(out: &mut String, data: &ReportData) -> std::fmt::Result {
    if data.clusters.is_empty() {
        return Ok(());
    }
    let failures = data.totals.failures.max(1);
    // Over several campaigns a run's index repeats: its place among all runs does not.
    let across = data.campaigns.len() > 1;
    let position = |run: u64, seq: u64| if across { seq } else { run };
    writeln!(out, "\n| # | count | share | first | last | signature |")?;
    writeln!(out, "|---:|---:|---:|---:|---:|---|")?;
    for (i, cluster) in data.clusters.iter().enumerate().take(TOP_SIGNATURES) {
        let share = if cluster.ignored {
            "ignored".to_string()
        } else {
            format_rate((cluster.count as f64 / failures as f64).min(1.0))
        };
        writeln!(
            out,
            "| {} | {} | {share} | {} | {} | {} |",
            i + 1,
            thousands(cluster.count),
            position(cluster.first.run, cluster.first.seq),
            position(cluster.last.run, cluster.last.seq),
            cell(&cluster.text, 200)
        )?;
    }
    if across {
        writeln!(
            out,
            "\nRuns are numbered across the {} campaigns, in the order they ran.",
            data.campaigns.len()
        )?;
    }
    if data.clusters.len() > TOP_SIGNATURES {
        writeln!(
            out,
            "\n{} more signature(s) in the full report (`flakehunt report`).",
            data.clusters.len() - TOP_SIGNATURES
        )?;
    }
    let example = data.clusters[0].example.as_ref();
    if let Some(output) = example.and_then(|e| e.output.as_ref()) {
        let options = ExcerptOptions {
            max_lines: EXAMPLE_LINES,
            max_line_chars: 200,
            ..ExcerptOptions::default()
        };
        let excerpt = render_excerpt(&output.head, &options);
        let run = example.map_or(0, |e| e.run.run);
        writeln!(
            out,
            "\n<details><summary>Example of #1 (run {run})</summary>\n"
        )?;
        block(out, &excerpt);
        writeln!(out, "\n</details>")?;
    }
    Ok(())
}

/// A history query as Markdown: the signatures, their counts and trends, and a sparkline of
/// their sightings per period.
pub fn history(data: &HistoryData) -> String {
    let mut out = String::new();
    let title = match &data.pattern {
        Some(pattern) => format!("sightings of {}", code(pattern, 200)),
        None => "every failure signature".to_string(),
    };
    let triage = &data.triage;
    let total: u64 = triage.rows.iter().map(|r| r.count).sum();
    let _ = writeln!(
        out,
        "### flakehunt: {title}: {} sighting(s) in {} signature(s)\n",
        thousands(total),
        triage.rows.len()
    );
    if let (Some(first), Some(last)) = (triage.periods.first(), triage.periods.last()) {
        let _ = writeln!(
            out,
            "| signature | total | trend | per {} from {} to {} |\n|---|---:|---|---|",
            data.period,
            code(first, 12),
            code(last, 12)
        );
    }
    for row in triage.rows.iter().take(TOP_HISTORY) {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} |",
            cell(&row.text, 160),
            thousands(row.count),
            row.trend,
            cell(&sparkline(&row.per_period), 200)
        );
    }
    if triage.rows.len() > TOP_HISTORY {
        let _ = writeln!(
            out,
            "\n{} more signature(s) in the full report.",
            triage.rows.len() - TOP_HISTORY
        );
    }
    out
}

/// Counts as block characters, scaled to the largest.
pub fn sparkline(counts: &[u64]) -> String {
    const LEVELS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    let peak = counts.iter().copied().max().unwrap_or(0);
    counts
        .iter()
        .map(|&count| {
            if count == 0 || peak == 0 {
                '·'
            } else {
                let level = ((count as f64 / peak as f64) * 7.0).round() as usize;
                LEVELS[level.min(7)]
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::testing::{sample_hunt, sample_report, sample_window};

    #[test]
    fn campaign_view() {
        insta::assert_snapshot!(campaign(&sample_report()));
    }

    #[test]
    fn hunt_and_window_views() {
        insta::assert_snapshot!(format!(
            "{}\n---\n{}",
            campaign(&sample_hunt()),
            campaign(&sample_window())
        ));
    }

    #[test]
    fn a_verdict_leads() {
        let mut data = sample_report();
        data.verdict = Some("NOT FIXED: failed at run 17".into());
        assert!(campaign(&data).contains("**Verdict:** `NOT FIXED: failed at run 17`"));
    }

    #[test]
    fn a_test_target_is_named() {
        let mut data = sample_report();
        data.campaigns[0].summary.target = Some(crate::analysis::per_test::TargetSummary {
            runner: "cargo".into(),
            test: "pool::tests::keeps_order".into(),
            build: None,
        });
        let md = campaign(&data);
        assert!(
            md.contains("| test | `pool::tests::keeps_order` (`cargo`) |"),
            "{md}"
        );
        let html = crate::report::html::campaign(&data);
        assert!(html.contains("<dt>Test</dt><dd>pool::tests::keeps_order (cargo)</dd>"));
    }

    #[test]
    fn code_spans_cannot_be_closed_or_split() {
        assert_eq!(code("plain", 50), "`plain`");
        assert_eq!(code("a ` b", 50), "``a ` b``");
        assert_eq!(code("`x`", 50), "`` `x` ``");
        assert_eq!(code("a|b", 50), "`a|b`");
        assert_eq!(cell("a|b", 50), "`a\\|b`");
        assert_eq!(code("line\nbreak", 50), "`line\\nbreak`");
    }

    #[test]
    fn sparklines_scale_to_the_peak() {
        assert_eq!(sparkline(&[0, 1, 2, 4]), "·▃▅█");
        assert_eq!(sparkline(&[]), "");
    }

    #[test]
    fn suite_and_bisection_views() {
        use crate::store::report::{load, testing, Subject};
        let dir = tempfile::tempdir().expect("tempdir");
        let mut store = crate::store::Store::open(&dir.path().join("h.db")).expect("open");
        testing::suite_campaign(&mut store, dir.path(), "s-1", "2026-01-02T03:04:05Z");
        let suite = load(&store, &Subject::Campaign("s-1".into())).expect("suite");
        let other = dir.path().join("bisect");
        std::fs::create_dir_all(&other).expect("dir");
        let id = testing::bisection(&mut store, &other);
        let bisection = load(&store, &Subject::Bisect(id)).expect("bisection");
        insta::assert_snapshot!(format!(
            "{}\n---\n{}",
            campaign(&suite),
            campaign(&bisection)
        ));
    }
}
