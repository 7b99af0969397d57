//! The search views: past failures matching a regex, grouped by signature with an example in
//! context (`flakehunt search`), and every signature's counts over time (`--triage`).

use std::fmt::Write;

use anyhow::Context;

use crate::store::search::{Example, Group, Period, SearchResult, Triage};
use crate::text::escape_line;

/// Characters of a commit id shown in search results.
const COMMIT_CHARS: usize = 12;
/// Widest line of test output (or list of names) shown, in characters.
const LINE_CHARS: usize = 200;

/// The search result as one line of JSON (groups, lines scanned, whether the index was used).
pub fn json(result: &SearchResult) -> anyhow::Result<String> {
    serde_json::to_string(result).context("could not encode the search result as JSON")
}

/// The search result for a terminal: a count line, then each signature group with where and
/// when it was seen and its first sighting in context (every piece of test output escaped).
pub fn text(result: &SearchResult) -> String {
    let mut out = String::new();
    let total: u64 = result.groups.iter().map(|g| g.count).sum();
    let _ = writeln!(
        out,
        "{total} sighting(s) in {} signature group(s); {} failure(s) scanned{}",
        result.groups.len(),
        result.scanned,
        if result.used_index {
            " (narrowed by the index)"
        } else {
            ""
        }
    );
    for group in &result.groups {
        let _ = write_group(&mut out, group);
    }
    out
}

fn write_group(out: &mut String, group: &Group) -> std::fmt::Result {
    writeln!(out)?;
    writeln!(
        out,
        "{}  {} sighting(s), first {}, last {}{}",
        group.signature,
        group.count,
        group.first_seen,
        group.last_seen,
        if group.from_campaigns > 0 {
            format!(", {} from flakehunt campaigns", group.from_campaigns)
        } else {
            String::new()
        }
    )?;
    writeln!(out, "  {}", escape_line(group.text.as_bytes(), LINE_CHARS))?;
    let list = |items: Vec<&str>| escape_line(items.join(", ").as_bytes(), LINE_CHARS);
    if !group.platforms.is_empty() {
        let platforms = group.platforms.iter().map(String::as_str).collect();
        writeln!(out, "  platforms: {}", list(platforms))?;
    }
    if !group.commits.is_empty() {
        let commits = group.commits.iter().map(|c| short_commit(c)).collect();
        writeln!(out, "  commits:   {}", list(commits))?;
    }
    if !group.tests.is_empty() {
        let tests = group.tests.iter().map(String::as_str).collect();
        writeln!(out, "  tests:     {}", list(tests))?;
    }
    write_example(out, &group.example)
}

fn write_example(out: &mut String, example: &Example) -> std::fmt::Result {
    writeln!(
        out,
        "  e.g. {} {} {} {}",
        example.date,
        example.platform.as_deref().unwrap_or("-"),
        example.commit.as_deref().map(short_commit).unwrap_or("-"),
        escape_line(example.source.as_deref().unwrap_or("").as_bytes(), 160)
    )?;
    for line in &example.context {
        let marker = if *line == example.line { ">" } else { "|" };
        writeln!(
            out,
            "       {marker} {}",
            escape_line(line.as_bytes(), LINE_CHARS)
        )?;
    }
    Ok(())
}

/// A commit id cut to [`COMMIT_CHARS`] (whole when shorter, or when the cut would split a
/// character).
fn short_commit(commit: &str) -> &str {
    commit.get(..COMMIT_CHARS).unwrap_or(commit)
}

/// The triage view as one line of JSON (period labels and rows; the period length is implied
/// by the labels).
pub fn triage_json(view: &Triage) -> anyhow::Result<String> {
    serde_json::to_string(view).context("could not encode the triage view as JSON")
}

/// The triage view as a table: one row per signature with its counts, first and last
/// sighting, trend and a sparkline of counts per period.
pub fn triage_text(view: &Triage) -> String {
    let mut out = String::new();
    if view.rows.is_empty() {
        let _ = writeln!(out, "no failures recorded");
        return out;
    }
    // The sparkline column is one character per period, and at least as wide as its heading.
    let width = view.periods.len().max(10);
    let unit = match view.period {
        Period::Day => "day",
        Period::Week => "week",
    };
    let _ = writeln!(
        out,
        "{:<12}  {:>6}  {:<10}  {:<10}  {:<6}  {:<width$}  signature",
        "id",
        "count",
        "first",
        "last",
        "trend",
        format!(
            "{unit}s from {}",
            view.periods.first().map(String::as_str).unwrap_or("")
        ),
    );
    for row in &view.rows {
        let _ = writeln!(
            out,
            "{:<12}  {:>6}  {:<10}  {:<10}  {:<6}  {:<width$}  {}",
            row.signature,
            row.count,
            row.first_seen.get(..10).unwrap_or(&row.first_seen),
            row.last_seen.get(..10).unwrap_or(&row.last_seen),
            row.trend,
            sparkline(&row.per_period),
            escape_line(row.text.as_bytes(), 100),
        );
    }
    let _ = writeln!(
        out,
        "gone: not seen for {} {unit}{} (--gone-after); new: seen only lately; worse, better: \
         the last quarter of the {unit}s against the quarter before",
        view.gone_after,
        if view.gone_after == 1 { "" } else { "s" }
    );
    out
}

/// Counts as a bar per period, scaled to the row's maximum; `·` for none.
fn sparkline(counts: &[u64]) -> String {
    const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    let max = counts.iter().copied().max().unwrap_or(0).max(1);
    counts
        .iter()
        .map(|&count| {
            if count == 0 {
                '·'
            } else {
                BARS[(count * 7).div_ceil(max).min(7) as usize]
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;
    use crate::store::search::TriageRow;

    fn set(items: &[&str]) -> BTreeSet<String> {
        items.iter().map(|item| item.to_string()).collect()
    }

    /// Two groups: CI sightings on two builders with an example in context, and campaign
    /// failures whose output holds an escape sequence and no platform.
    fn sample_result() -> SearchResult {
        let ci = Group {
            signature: "d633b32ba973".into(),
            text: "fail: signal_windows_test.go:205: Program exited with error: exit status N"
                .into(),
            count: 3,
            first_seen: "2021-04-16T03:16:11Z".into(),
            last_seen: "2021-04-19T21:03:30Z".into(),
            platforms: set(&["windows-amd64-2012", "windows-amd64-regabi"]),
            commits: vec![
                "cf2396c".into(),
                "0123abcd4567ef890123abcd4567ef890123abcd".into(),
            ],
            tests: set(&["runtime.TestLibraryCtrlHandler"]),
            from_campaigns: 0,
            example: Example {
                date: "2021-04-16T03:16:11Z".into(),
                test: "runtime.TestLibraryCtrlHandler".into(),
                platform: Some("windows-amd64-2012".into()),
                commit: Some("cf2396c".into()),
                source: Some("logs/2021-04-16T03:16:11-cf2396c/windows-amd64-2012".into()),
                line: "        FAILURE: No signal received".into(),
                context: vec![
                    "--- FAIL: TestLibraryCtrlHandler (6.32s)".into(),
                    "    signal_windows_test.go:205: Program exited with error: exit status 1"
                        .into(),
                    "        FAILURE: No signal received".into(),
                ],
            },
        };
        let campaign = Group {
            signature: "d725117acf69".into(),
            text: "exit 1: panic: boom at 0x?".into(),
            count: 2,
            first_seen: "2026-11-30T12:32:54.146Z".into(),
            last_seen: "2026-11-30T12:32:54.164Z".into(),
            platforms: BTreeSet::new(),
            commits: Vec::new(),
            tests: BTreeSet::new(),
            from_campaigns: 2,
            example: Example {
                date: "2026-11-30T12:32:54.146Z".into(),
                test: String::new(),
                platform: None,
                commit: None,
                source: None,
                line: "\u{1b}[31mpanic: boom at 0xdeadbeef".into(),
                context: vec!["\u{1b}[31mpanic: boom at 0xdeadbeef".into()],
            },
        };
        SearchResult {
            groups: vec![ci, campaign],
            scanned: 6,
            used_index: true,
        }
    }

    fn triage_row(signature: &str, trend: &'static str, per_period: Vec<u64>) -> TriageRow {
        let quiet_periods = per_period
            .iter()
            .rev()
            .take_while(|&&count| count == 0)
            .count() as u64;
        TriageRow {
            quiet_periods,
            signature: signature.into(),
            text: format!("exit 1: failure {signature}"),
            count: per_period.iter().sum(),
            first_seen: "2026-11-02T08:00:00Z".into(),
            last_seen: "2026-11-30T12:33:01.737Z".into(),
            last_commit: None,
            per_period,
            trend,
        }
    }

    /// Two signatures, one ramping up and one seen only in the first period, over the periods
    /// starting on `labels`.
    fn sample_triage(period: Period, labels: &[&str]) -> Triage {
        let columns = labels.len();
        let ramp: Vec<u64> = (0..columns as u64).collect();
        let mut gone = vec![0; columns];
        gone[0] = 5;
        Triage {
            period,
            periods: labels.iter().map(|label| label.to_string()).collect(),
            gone_after: 3,
            rows: vec![
                triage_row("0f086dc0da9f", "worse", ramp),
                triage_row("d633b32ba973", "gone", gone),
            ],
        }
    }

    #[test]
    fn text_view() {
        insta::assert_snapshot!(text(&sample_result()));
    }

    #[test]
    fn an_empty_result_says_what_was_scanned() {
        let empty = SearchResult {
            groups: Vec::new(),
            scanned: 12,
            used_index: false,
        };
        assert_eq!(
            text(&empty),
            "0 sighting(s) in 0 signature group(s); 12 failure(s) scanned\n"
        );
    }

    #[test]
    fn json_view_is_one_object() {
        let json = json(&sample_result()).expect("encode");
        assert!(!json.contains('\n'));
        let value: serde_json::Value = serde_json::from_str(&json).expect("parse");
        assert_eq!(value["scanned"], 6);
        assert_eq!(value["groups"][0]["count"], 3);
        assert_eq!(value["groups"][1]["from_campaigns"], 2);
    }

    const WEEKS: [&str; 8] = [
        "2026-10-12",
        "2026-10-19",
        "2026-10-26",
        "2026-11-02",
        "2026-11-09",
        "2026-11-16",
        "2026-11-23",
        "2026-11-30",
    ];

    #[test]
    fn triage_text_view() {
        insta::assert_snapshot!(
            "triage_weeks",
            triage_text(&sample_triage(Period::Week, &WEEKS))
        );
        let days: Vec<String> = (17..=30).map(|day| format!("2026-11-{day}")).collect();
        let days: Vec<&str> = days.iter().map(String::as_str).collect();
        insta::assert_snapshot!(
            "triage_days",
            triage_text(&sample_triage(Period::Day, &days))
        );
    }

    #[test]
    fn an_empty_triage_says_so() {
        let mut view = sample_triage(Period::Week, &WEEKS);
        view.rows.clear();
        assert_eq!(triage_text(&view), "no failures recorded\n");
    }

    #[test]
    fn triage_json_leaves_the_period_length_to_the_labels() {
        let days = ["2026-11-01", "2026-11-02", "2026-11-03"];
        let json = triage_json(&sample_triage(Period::Day, &days)).expect("encode");
        let value: serde_json::Value = serde_json::from_str(&json).expect("parse");
        assert_eq!(
            value["periods"],
            serde_json::json!(["2026-11-01", "2026-11-02", "2026-11-03"])
        );
        assert_eq!(value["rows"][0]["per_period"], serde_json::json!([0, 1, 2]));
        assert!(value.get("period").is_none());
    }

    #[test]
    fn sparklines_scale_to_the_row_maximum() {
        assert_eq!(sparkline(&[0, 1, 7, 14]), "·▂▅█");
        assert_eq!(sparkline(&[0, 0]), "··");
        assert_eq!(sparkline(&[3]), "█");
    }
}
