//! GitHub workflow annotations: one `::error` per failure signature (`::warning` for ignored
//! ones, one `::notice` when nothing failed; for a suite, one per failing test), escaped so
//! that no output line can start a workflow command of its own. The Markdown summary goes to
//! `$GITHUB_STEP_SUMMARY`.

use std::fmt::Write;

use crate::report::format::{format_rate, one_in, thousands};
use crate::report::markdown;
use crate::store::report::ReportData;
use crate::text::escape_line;

/// Annotations GitHub shows per step and kind; the rest are summed up in one.
const MAX_ANNOTATIONS: usize = 10;

/// A workflow command's message: `%`, CR and LF percent-encoded.
fn data(text: &str) -> String {
    text.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// A workflow command's property value: also `:` and `,` encoded.
fn property(text: &str) -> String {
    data(text).replace(':', "%3A").replace(',', "%2C")
}

/// The annotations, one per line.
pub fn annotations(report: &ReportData) -> String {
    let mut out = String::new();
    let t = &report.totals;
    let headline = escape_line(markdown::headline(report).as_bytes(), 400);
    if let Some(bisection) = &report.bisect {
        let level = if bisection.status == "culprit" {
            "error"
        } else {
            "notice"
        };
        let _ = writeln!(
            out,
            "::{level} title={}::{}",
            property("flakehunt bisect"),
            data(&escape_line(
                crate::report::bisect_report::outcome(bisection).as_bytes(),
                400
            ))
        );
    }
    if t.failures == 0 {
        let _ = writeln!(
            out,
            "::notice title={}::{}",
            property("flakehunt"),
            data(&headline)
        );
    }
    if report.is_suite() {
        suite(&mut out, report);
        return out;
    }
    for (i, cluster) in report.clusters.iter().enumerate() {
        if i == MAX_ANNOTATIONS {
            let left = report.clusters.len() - MAX_ANNOTATIONS;
            let _ = writeln!(
                out,
                "::warning title={}::{}",
                property("flakehunt: more signatures"),
                data(&format!(
                    "{left} more signature(s); see the job summary or `flakehunt report`"
                ))
            );
            break;
        }
        let level = if cluster.ignored { "warning" } else { "error" };
        let title = format!(
            "flakehunt: {} of {} runs ({}, {})",
            thousands(cluster.count),
            thousands(t.runs),
            format_rate(cluster.count as f64 / t.runs.max(1) as f64),
            one_in(cluster.count as f64 / t.runs.max(1) as f64)
        );
        let mut message = escape_line(cluster.text.as_bytes(), 400);
        if let Some(example) = &cluster.example {
            if let Some(line) = &example.telling_line {
                message.push_str(&format!(
                    "\ne.g. run {}: {}",
                    example.run.run,
                    escape_line(line.as_bytes(), 400)
                ));
            }
            message.push_str(&format!(
                "\nlog: {}",
                escape_line(example.log.display().to_string().as_bytes(), 400)
            ));
        }
        let _ = writeln!(
            out,
            "::{level} title={}::{}",
            property(&title),
            data(&message)
        );
    }
    out
}

/// A suite: one annotation per failing test (flaky or always failing), highest rate first,
/// and one per signature of the runs that failed with no failed test.
fn suite(out: &mut String, report: &ReportData) {
    let failing: Vec<_> = report.tests.iter().filter(|t| t.failures > 0).collect();
    for test in failing.iter().take(MAX_ANNOTATIONS) {
        let what = if test.is_flaky() {
            "flaky test"
        } else {
            "test failed in every run"
        };
        let title = format!(
            "flakehunt: {what}: {} of {} runs ({}, 95% {} .. {})",
            thousands(test.failures),
            thousands(test.runs),
            format_rate(test.rate.estimate),
            format_rate(test.rate.low),
            format_rate(test.rate.high)
        );
        let mut message = escape_line(test.test.as_bytes(), 400);
        if let Some(signature) = &test.signature {
            message.push('\n');
            message.push_str(&escape_line(signature.text.as_bytes(), 400));
            if let Some(first) = &signature.message {
                message.push('\n');
                message.push_str(&escape_line(first.as_bytes(), 400));
            }
        }
        let _ = writeln!(
            out,
            "::error title={}::{}",
            property(&title),
            data(&message)
        );
    }
    if failing.len() > MAX_ANNOTATIONS {
        let left = failing.len() - MAX_ANNOTATIONS;
        let _ = writeln!(
            out,
            "::warning title={}::{}",
            property("flakehunt: more failing tests"),
            data(&format!(
                "{left} more failing test(s); see the job summary or `flakehunt report`"
            ))
        );
    }
    for failure in &report.outside_tests {
        let title = format!(
            "flakehunt: {} run(s) failed with no failed test",
            thousands(failure.count)
        );
        let message = escape_line(failure.text.as_bytes(), 400);
        let _ = writeln!(
            out,
            "::error title={}::{}",
            property(&title),
            data(&message)
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::testing::sample_report;

    #[test]
    fn annotations_view() {
        insta::assert_snapshot!(annotations(&sample_report()));
    }

    #[test]
    fn every_annotation_is_one_line_of_ours() {
        let mut data = sample_report();
        data.clusters[0].text = "x\n::add-mask::secret\r\n%0A".into();
        let out = annotations(&data);
        for line in out.lines() {
            assert!(
                line.starts_with("::error ") || line.starts_with("::warning "),
                "{line}"
            );
        }
        assert_eq!(out.lines().count(), 3);
        let mut quiet = sample_report();
        quiet.clusters.clear();
        quiet.totals.failures = 0;
        assert!(annotations(&quiet).starts_with("::notice title=flakehunt::"));
    }

    #[test]
    fn nothing_can_start_a_line_or_end_a_property() {
        assert_eq!(data("100%\n::add-mask::x\r"), "100%25%0A::add-mask::x%0D");
        assert_eq!(property("a:b,c%"), "a%3Ab%2Cc%25");
    }

    #[test]
    fn a_suite_annotates_each_failing_test() {
        use crate::store::report::{load, testing, Subject};
        let dir = tempfile::tempdir().expect("tempdir");
        let mut store = crate::store::Store::open(&dir.path().join("h.db")).expect("open");
        testing::suite_campaign(&mut store, dir.path(), "s-1", "2026-01-02T03:04:05Z");
        let data = load(&store, &Subject::Campaign("s-1".into())).expect("load");
        let out = annotations(&data);
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 3, "{out}");
        assert!(
            lines[0].starts_with("::error title=flakehunt%3A test failed in every run%3A 9 of 9")
        );
        assert!(
            lines[0].contains("::bad::\"><img src=x onerror=alert(2)>%0A"),
            "{out}"
        );
        assert!(lines[1].starts_with("::error title=flakehunt%3A flaky test%3A 2 of 9 runs"));
        assert!(
            lines[2].contains("failed with no failed test::exit 139"),
            "{out}"
        );
    }
}
