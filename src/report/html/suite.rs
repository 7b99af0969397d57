//! A suite's tests: the flaky and failing tests' rates with their intervals (SVG), and every
//! test in a table sorted by failure rate, each marked flaky, always failing, passing or
//! skipped; plus the failed runs no failed test accounts for.

use super::line;
use super::markup::Html;
use super::sections::CELL_CHARS;
use super::svg::{axes, num, Frame, Scale};
use crate::analysis::per_test::TestRow;
use crate::report::format::{format_rate, thousands};
use crate::store::report::ReportData;

/// Failing tests drawn in the chart.
const CHARTED: usize = 25;
/// Failing tests listed; the rest are counted.
const MAX_FAILING: usize = 2_000;
/// Passing and skipped tests listed (folded away); the rest are counted.
const MAX_PASSING: usize = 2_000;

/// A suite, or a campaign whose runs ran more than one test.
pub fn present(data: &ReportData) -> bool {
    data.is_suite()
}

/// What a test did: flaky, always failed, passed, skipped.
pub fn status(row: &TestRow) -> (&'static str, &'static str) {
    if row.runs == 0 {
        ("skipped", "badge")
    } else if row.is_flaky() {
        ("flaky", "badge warn")
    } else if row.failures > 0 {
        ("always fails", "badge bad")
    } else {
        ("passed", "badge good")
    }
}

/// The section.
pub fn section(html: &mut Html, data: &ReportData) {
    let failing: Vec<&TestRow> = data.tests.iter().filter(|r| r.failures > 0).collect();
    let flaky = failing.iter().filter(|r| r.is_flaky()).count();
    let skipped = data.tests.iter().filter(|r| r.runs == 0).count();
    html.element(
        "p",
        &[],
        &format!(
            "{} tests seen: {} failed at least once ({} flaky: failed in some runs and passed in \
             others; {} in every run), {} never failed, {} only skipped.",
            thousands(data.tests.len() as u64),
            thousands(failing.len() as u64),
            thousands(flaky as u64),
            thousands((failing.len() - flaky) as u64),
            thousands((data.tests.len() - failing.len() - skipped) as u64),
            thousands(skipped as u64)
        ),
    );
    if !failing.is_empty() {
        html.open("figure", &[]);
        chart(html, &failing[..failing.len().min(CHARTED)]);
        let more = if failing.len() > CHARTED {
            format!(
                " (the {CHARTED} highest of {})",
                thousands(failing.len() as u64)
            )
        } else {
            String::new()
        };
        html.element(
            "figcaption",
            &[],
            &format!(
                "Failure rate of each failing test{more} with its 95% interval (log scale); \
                 amber: flaky, red: failed in every run."
            ),
        );
        html.close("figure");
        table(html, &failing, MAX_FAILING);
    }
    let rest: Vec<&TestRow> = data.tests.iter().filter(|r| r.failures == 0).collect();
    if !rest.is_empty() {
        html.open("details", &[]);
        html.element(
            "summary",
            &[],
            &format!("{} test(s) that never failed", thousands(rest.len() as u64)),
        );
        table(html, &rest, MAX_PASSING);
        html.close("details");
    }
    outside(html, data);
}

fn table(html: &mut Html, rows: &[&TestRow], limit: usize) {
    html.open("table", &[("class", "sortable")]);
    html.open("thead", &[]).open("tr", &[]);
    for (name, sort) in [
        ("test", "text"),
        ("status", "text"),
        ("runs", "num"),
        ("failures", "num"),
        ("skipped", "num"),
        ("rate", "num"),
        ("95% interval", "num"),
        ("first failure", "num"),
        ("main signature", "text"),
    ] {
        let class = if sort == "num" { "num" } else { "" };
        html.element("th", &[("data-sort", sort), ("class", class)], name);
    }
    html.close("tr").close("thead").open("tbody", &[]);
    for row in rows.iter().take(limit) {
        test_row(html, row);
    }
    html.close("tbody").close("table");
    if rows.len() > limit {
        html.element(
            "p",
            &[("class", "note")],
            &format!(
                "{} more not listed; `flakehunt show --tests` lists every one.",
                thousands((rows.len() - limit) as u64)
            ),
        );
    }
}

fn test_row(html: &mut Html, row: &TestRow) {
    html.open("tr", &[]);
    html.open("td", &[]);
    html.element("code", &[], &line(&row.test, CELL_CHARS));
    html.close("td");
    let (status, tone) = status(row);
    html.open("td", &[]);
    html.element("span", &[("class", tone)], status);
    html.close("td");
    for value in [row.runs, row.failures, row.skipped] {
        html.element("td", &[("class", "num")], &thousands(value));
    }
    let key = format!("{:.9}", row.rate.estimate);
    let (rate, interval) = if row.runs == 0 {
        ("-".to_string(), "-".to_string())
    } else {
        (
            format_rate(row.rate.estimate),
            format!(
                "{} .. {}",
                format_rate(row.rate.low),
                format_rate(row.rate.high)
            ),
        )
    };
    html.element("td", &[("class", "num"), ("data-key", &key)], &rate);
    html.element("td", &[("class", "num"), ("data-key", &key)], &interval);
    let first = row
        .first_failure
        .map_or_else(|| "-".to_string(), |run| format!("run {run}"));
    let first_key = row.first_failure.map_or(u64::MAX, |run| run).to_string();
    html.element("td", &[("class", "num"), ("data-key", &first_key)], &first);
    match &row.signature {
        Some(signature) => {
            let message = signature
                .message
                .as_deref()
                .map(|m| line(m, 600))
                .unwrap_or_default();
            html.element(
                "td",
                &[("title", &message)],
                &format!(
                    "{} ({}x)",
                    line(&signature.text, CELL_CHARS),
                    thousands(signature.count)
                ),
            );
        }
        None => {
            html.element("td", &[], "");
        }
    }
    html.close("tr");
}

/// Failed runs in which no test failed: the suite itself crashed, hung or failed to start.
fn outside(html: &mut Html, data: &ReportData) {
    if data.outside_tests.is_empty() {
        return;
    }
    let runs: u64 = data.outside_tests.iter().map(|o| o.count).sum();
    html.element(
        "h3",
        &[],
        &format!("{} failed run(s) with no failed test", thousands(runs)),
    );
    html.element(
        "p",
        &[("class", "muted")],
        "The suite failed without any test failing (a crash, a hang, a failure to start): \
         these are not in the table above.",
    );
    html.open("table", &[]);
    html.open("thead", &[]).open("tr", &[]);
    html.element("th", &[("class", "num")], "runs");
    html.element("th", &[], "signature");
    html.close("tr").close("thead").open("tbody", &[]);
    for failure in &data.outside_tests {
        html.open("tr", &[]);
        html.element("td", &[("class", "num")], &thousands(failure.count));
        html.element("td", &[], &line(&failure.text, CELL_CHARS));
        html.close("tr");
    }
    html.close("tbody").close("table");
}

/// Each failing test's rate with its interval, log scale, flaky ones amber.
fn chart(html: &mut Html, rows: &[&TestRow]) {
    let row_height = 24.0;
    let height = 44.0 + row_height * rows.len() as f64;
    let mut frame = Frame::new(1060.0, height, 300.0);
    frame.top = 8.0;
    let lowest = rows
        .iter()
        .map(|r| {
            if r.rate.low > 0.0 {
                r.rate.low
            } else {
                r.rate.estimate
            }
        })
        .fold(1.0, f64::min);
    let floor = 10f64.powf(lowest.max(1e-9).log10().floor());
    let x = Scale::log(floor, 1.0, frame.left, frame.right);
    let y = Scale::linear(0.0, 1.0, frame.bottom, frame.top);
    frame.open(html, "Failure rate of each failing test");
    axes(
        html,
        &frame,
        (&x, &x.ticks(8), &|v: f64| format_rate(v)),
        (&y, &[], &|v: f64| format_rate(v)),
    );
    for (i, row) in rows.iter().enumerate() {
        let middle = frame.top + row_height * (i as f64 + 0.5);
        let label = crate::text::escape_line(row.test.as_bytes(), 44);
        html.element(
            "text",
            &[
                ("x", &num(frame.left - 10.0)),
                ("y", &num(middle + 4.0)),
                ("text-anchor", "end"),
            ],
            &label,
        );
        let (low, high) = (num(x.at(row.rate.low)), num(x.at(row.rate.high)));
        let at = num(middle);
        html.void(
            "line",
            &[
                ("class", "whisker"),
                ("x1", &low),
                ("x2", &high),
                ("y1", &at),
                ("y2", &at),
            ],
        );
        let style = if row.is_flaky() {
            "fill:#bf8700"
        } else {
            "fill:#cf222e"
        };
        html.open(
            "circle",
            &[
                ("cx", &num(x.at(row.rate.estimate))),
                ("cy", &at),
                ("r", "4.5"),
                ("style", style),
            ],
        );
        html.element(
            "title",
            &[],
            &format!(
                "{label}: failed {} of {} runs, {} (95% {} .. {})",
                thousands(row.failures),
                thousands(row.runs),
                format_rate(row.rate.estimate),
                format_rate(row.rate.low),
                format_rate(row.rate.high)
            ),
        );
        html.close("circle");
    }
    html.close("svg");
}
