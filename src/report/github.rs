//! GitHub workflow annotations: one `::error` per failure signature (`::warning` for ignored
//! ones, one `::notice` when nothing failed), escaped so that no output line can start a
//! workflow command of its own. The Markdown summary goes to `$GITHUB_STEP_SUMMARY`.

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
}
