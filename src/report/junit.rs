//! The JUnit XML report: one test suite for the campaign (or sweep, hunt or bisection); for a
//! suite one test case per test (flaky or always failing ones as failures, with their rate),
//! else one per failure signature (ignored ones as skipped), or one passing test case when
//! nothing failed; the rate and provenance as properties. For CI systems that chart JUnit.

use std::io::Cursor;

use anyhow::{Context, Result};
use quick_xml::events::{BytesDecl, BytesText, Event};
use quick_xml::Writer;

use crate::analysis::per_test::TestRow;
use crate::report::format::format_rate;
use crate::store::report::{Cluster, ReportData};
use crate::text::{escape_line, render_excerpt, ExcerptOptions};

/// Lines of an example's output in a test case's failure text.
const EXAMPLE_LINES: usize = 60;

/// Outside text made safe for XML 1.0: one line, escaped for display, and without the
/// characters XML cannot carry even as references (quick-xml escapes the markup characters).
fn xml_text(text: &str, max: usize) -> String {
    xml_chars(&escape_line(text.as_bytes(), max))
}

fn xml_chars(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '\t' | '\n' | '\r' | '\u{20}'..='\u{d7ff}' | '\u{e000}'..='\u{fffd}' => c,
            c if c >= '\u{10000}' => c,
            _ => '\u{fffd}',
        })
        .collect()
}

/// The report as JUnit XML.
pub fn campaign(data: &ReportData) -> Result<String> {
    write(data).context("could not write the JUnit report")
}

/// How a test case ended.
enum Outcome {
    /// Passed.
    Pass,
    /// Failed: the failure's message, type and text.
    Fail(String, String, String),
    /// Skipped: why, its type (may be empty) and text.
    Skip(String, String, String),
}

/// One test case.
struct Case {
    name: String,
    outcome: Outcome,
    out: Option<String>,
}

/// The test cases: one per test of a suite (and one per signature of the runs that failed
/// with no failed test), else one per failure signature, or one passing case.
fn cases(data: &ReportData) -> Vec<Case> {
    if data.is_suite() {
        let mut cases: Vec<Case> = data.tests.iter().map(test_case).collect();
        cases.extend(data.outside_tests.iter().map(|failure| {
            let cluster = data
                .clusters
                .iter()
                .find(|c| failure.id.as_deref() == Some(c.id.as_str()));
            let message = format!(
                "{} run(s) failed with no failed test: {}",
                failure.count,
                xml_text(&failure.text, 300)
            );
            Case {
                name: format!("(no failed test) {}", xml_text(&failure.text, 300)),
                outcome: Outcome::Fail(
                    message,
                    cluster.map_or_else(String::new, |c| xml_text(&c.kind, 40)),
                    cluster.map_or_else(|| xml_chars(&failure.text), example_text),
                ),
                out: cluster.and_then(saved_log),
            }
        }));
        return cases;
    }
    let mut cases = Vec::new();
    if data.clusters.iter().all(|c| c.ignored) {
        cases.push(Case {
            name: format!(
                "{} ({} runs, none failed)",
                suite_name(data),
                data.totals.runs
            ),
            outcome: Outcome::Pass,
            out: None,
        });
    }
    for cluster in &data.clusters {
        let message = format!(
            "{} of {} runs ({}), first at run {}, last at run {}",
            cluster.count,
            data.totals.runs,
            format_rate(cluster.count as f64 / data.totals.runs.max(1) as f64),
            cluster.first.run,
            cluster.last.run
        );
        let outcome = if cluster.ignored {
            Outcome::Skip(message, xml_text(&cluster.kind, 40), example_text(cluster))
        } else {
            Outcome::Fail(message, xml_text(&cluster.kind, 40), example_text(cluster))
        };
        cases.push(Case {
            name: xml_text(&cluster.text, 300),
            outcome,
            out: saved_log(cluster),
        });
    }
    cases
}

/// A suite's test: failed (flaky, or in every run), skipped in every run, or passed.
fn test_case(row: &TestRow) -> Case {
    let rate = format!(
        "{} (95% interval {} .. {})",
        format_rate(row.rate.estimate),
        format_rate(row.rate.low),
        format_rate(row.rate.high)
    );
    let counts = format!(
        "runs {}, failures {}, skipped {}",
        row.runs, row.failures, row.skipped
    );
    let text = match &row.signature {
        Some(signature) => {
            let mut text = format!(
                "main signature {} ({} failures): {}",
                signature.id, signature.count, signature.text
            );
            if let Some(message) = &signature.message {
                text.push_str("\n\n");
                text.push_str(&escape_line(message.as_bytes(), 2000));
            }
            xml_chars(&text)
        }
        None => String::new(),
    };
    let outcome = if row.runs == 0 {
        Outcome::Skip(
            format!("skipped in all {} runs", row.skipped),
            String::new(),
            String::new(),
        )
    } else if row.is_flaky() {
        Outcome::Fail(
            format!(
                "flaky: failed {} of {} runs, {rate}",
                row.failures, row.runs
            ),
            "flaky".to_string(),
            text,
        )
    } else if row.failures > 0 {
        Outcome::Fail(
            format!("failed in every run ({} of {})", row.failures, row.runs),
            "failed".to_string(),
            text,
        )
    } else {
        Outcome::Pass
    };
    Case {
        name: xml_text(&row.test, 500),
        outcome,
        out: Some(counts),
    }
}

fn saved_log(cluster: &Cluster) -> Option<String> {
    let example = cluster.example.as_ref()?;
    Some(format!(
        "saved log: {}",
        xml_text(&example.log.display().to_string(), 400)
    ))
}

fn write(data: &ReportData) -> std::io::Result<String> {
    let mut writer = Writer::new_with_indent(Cursor::new(Vec::new()), b' ', 2);
    writer.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)))?;
    let suite = suite_name(data);
    let cases = cases(data);
    let failures = cases
        .iter()
        .filter(|c| matches!(c.outcome, Outcome::Fail(..)))
        .count();
    let skipped = cases
        .iter()
        .filter(|c| matches!(c.outcome, Outcome::Skip(..)))
        .count();
    let time = format!("{:.3}", data.totals.elapsed_s);
    let timestamp = data
        .campaigns
        .first()
        .map(|c| xml_text(&c.row.started_at, 40))
        .unwrap_or_default();
    let host = data
        .campaigns
        .first()
        .and_then(|c| c.row.host.as_deref())
        .map(|h| xml_text(h, 120))
        .unwrap_or_default();
    let counts = [
        cases.len().to_string(),
        failures.to_string(),
        skipped.to_string(),
    ];
    writer
        .create_element("testsuites")
        .with_attributes([
            ("name", "flakehunt"),
            ("tests", counts[0].as_str()),
            ("failures", counts[1].as_str()),
            ("skipped", counts[2].as_str()),
            ("time", time.as_str()),
        ])
        .write_inner_content(|w| {
            w.create_element("testsuite")
                .with_attributes([
                    ("name", suite.as_str()),
                    ("tests", counts[0].as_str()),
                    ("failures", counts[1].as_str()),
                    ("errors", "0"),
                    ("skipped", counts[2].as_str()),
                    ("time", time.as_str()),
                    ("timestamp", timestamp.as_str()),
                    ("hostname", host.as_str()),
                ])
                .write_inner_content(|w| suite_content(w, data, &cases))?;
            Ok(())
        })?;
    let mut xml = String::from_utf8_lossy(&writer.into_inner().into_inner()).into_owned();
    xml.push('\n');
    Ok(xml)
}

fn suite_name(data: &ReportData) -> String {
    let command = match (&data.bisect, &data.hunt, data.campaigns.first()) {
        (Some(bisection), _, _) if !bisection.command.is_empty() => bisection.command.clone(),
        (_, Some(hunt), _) => hunt.command.clone(),
        (_, None, Some(first)) => first.row.command.clone(),
        (_, None, None) => vec![data.subject.label()],
    };
    let words: Vec<String> = command.iter().map(|w| xml_text(w, 120)).collect();
    xml_text(&words.join(" "), 300)
}

type XmlWriter = Writer<Cursor<Vec<u8>>>;

fn suite_content(w: &mut XmlWriter, data: &ReportData, cases: &[Case]) -> std::io::Result<()> {
    let t = &data.totals;
    let mut properties = vec![
        ("runs", t.runs.to_string()),
        ("failures", t.failures.to_string()),
        ("rate", format!("{:.9}", t.rate.estimate)),
        ("rate_low", format!("{:.9}", t.rate.low)),
        ("rate_high", format!("{:.9}", t.rate.high)),
        ("confidence", format!("{}", t.confidence)),
    ];
    // A bisection's campaigns ran at many commits: its range and outcome stand instead.
    if let Some(first) = data.campaigns.first().filter(|_| data.bisect.is_none()) {
        properties.push(("campaign", xml_text(&first.row.id, 80)));
        if let Some(commit) = &first.row.git_commit {
            properties.push(("git_commit", xml_text(commit, 64)));
        }
        if let Some(dirty) = first.row.git_dirty {
            properties.push(("git_dirty", dirty.to_string()));
        }
    }
    if let Some(bisection) = &data.bisect {
        properties.push(("bisection", bisection.id.to_string()));
        properties.push(("good", xml_text(&bisection.good, 64)));
        properties.push(("bad", xml_text(&bisection.bad, 64)));
        properties.push((
            "bisect_outcome",
            xml_text(&crate::report::bisect_report::outcome(bisection), 400),
        ));
    }
    if let Some(verdict) = &data.verdict {
        properties.push(("verdict", xml_text(verdict, 300)));
    }
    w.create_element("properties").write_inner_content(|w| {
        for (name, value) in &properties {
            w.create_element("property")
                .with_attributes([("name", *name), ("value", value.as_str())])
                .write_empty()?;
        }
        Ok(())
    })?;
    let classname = format!("flakehunt.{}", data.subject.label());
    for case in cases {
        testcase(w, case, &classname)?;
    }
    Ok(())
}

fn testcase(w: &mut XmlWriter, case: &Case, classname: &str) -> std::io::Result<()> {
    let element = w
        .create_element("testcase")
        .with_attributes([("name", case.name.as_str()), ("classname", classname)]);
    if matches!(case.outcome, Outcome::Pass) && case.out.is_none() {
        element.write_empty()?;
        return Ok(());
    }
    element.write_inner_content(|w| {
        match &case.outcome {
            Outcome::Pass => {}
            Outcome::Fail(message, kind, text) => {
                w.create_element("failure")
                    .with_attributes([("message", message.as_str()), ("type", kind.as_str())])
                    .write_text_content(BytesText::new(text))?;
            }
            Outcome::Skip(message, kind, text) => {
                let mut skipped = w
                    .create_element("skipped")
                    .with_attribute(("message", message.as_str()));
                if !kind.is_empty() {
                    skipped = skipped.with_attribute(("type", kind.as_str()));
                }
                if text.is_empty() {
                    skipped.write_empty()?;
                } else {
                    skipped.write_text_content(BytesText::new(text))?;
                }
            }
        }
        if let Some(out) = &case.out {
            w.create_element("system-out")
                .write_text_content(BytesText::new(out))?;
        }
        Ok(())
    })?;
    Ok(())
}

/// The signature and the start of its example's output.
fn example_text(cluster: &Cluster) -> String {
    let mut text = format!("signature {}: {}", cluster.id, cluster.text);
    if let Some(output) = cluster.example.as_ref().and_then(|e| e.output.as_ref()) {
        let options = ExcerptOptions {
            max_lines: EXAMPLE_LINES,
            max_line_chars: 300,
            ..ExcerptOptions::default()
        };
        text.push_str("\n\n");
        text.push_str(&render_excerpt(&output.head, &options));
    }
    xml_chars(&text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::testing::sample_report;

    #[test]
    fn junit_view() {
        insta::assert_snapshot!(campaign(&sample_report()).expect("xml"));
    }

    #[test]
    fn the_xml_parses_and_keeps_hostile_text_as_text() {
        let mut data = sample_report();
        data.clusters[0].text = "\u{1}\u{fffe} <![CDATA[ ]]> --> \u{7f}".into();
        let xml = campaign(&data).expect("xml");
        let mut reader = quick_xml::Reader::from_str(&xml);
        let mut names = Vec::new();
        loop {
            match reader.read_event().expect("well-formed XML") {
                Event::Eof => break,
                Event::Start(e) | Event::Empty(e) => {
                    names.push(String::from_utf8_lossy(e.name().as_ref()).into_owned())
                }
                _ => {}
            }
        }
        let cases = names.iter().filter(|n| *n == "testcase").count();
        assert_eq!(cases, 3);
        assert!(!names.iter().any(|n| n == "script" || n == "img"));
        assert!(!xml.contains('\u{1}') && !xml.contains('\u{fffe}'));
    }

    #[test]
    fn a_campaign_without_failures_is_one_passing_case() {
        let mut data = sample_report();
        data.clusters.retain(|c| c.ignored);
        let xml = campaign(&data).expect("xml");
        assert!(xml.contains("tests=\"2\" failures=\"0\""), "{xml}");
        assert!(xml.contains("none failed"));
        assert!(xml.contains("<skipped"));
    }

    #[test]
    fn a_suite_is_one_case_per_test_marked_flaky_or_failed() {
        use crate::store::report::{load, testing, Subject};
        let dir = tempfile::tempdir().expect("tempdir");
        let mut store = crate::store::Store::open(&dir.path().join("h.db")).expect("open");
        testing::suite_campaign(&mut store, dir.path(), "s-1", "2026-01-02T03:04:05Z");
        let data = load(&store, &Subject::Campaign("s-1".into())).expect("load");
        let xml = campaign(&data).expect("xml");
        let mut reader = quick_xml::Reader::from_str(&xml);
        let mut cases: Vec<(String, Vec<(String, String)>)> = Vec::new();
        loop {
            match reader.read_event().expect("well-formed XML") {
                Event::Eof => break,
                Event::Start(e) | Event::Empty(e) => {
                    let name = String::from_utf8_lossy(e.name().as_ref()).into_owned();
                    let attributes = e
                        .attributes()
                        .map(|a| {
                            let a = a.expect("attribute");
                            let value = a.unescape_value().expect("value").into_owned();
                            (String::from_utf8_lossy(a.key.as_ref()).into_owned(), value)
                        })
                        .collect();
                    match name.as_str() {
                        "testcase" | "failure" | "skipped" => cases.push((name, attributes)),
                        "script" | "img" | "pre" => panic!("injected <{name}>"),
                        _ => {}
                    }
                }
                _ => {}
            }
        }
        let value = |i: usize, key: &str| -> String {
            cases[i]
                .1
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.clone())
                .unwrap_or_default()
        };
        let hostile = testing::HOSTILE_TESTS;
        assert_eq!(value(0, "name"), hostile[1]);
        assert_eq!(
            (cases[1].0.as_str(), value(1, "type").as_str()),
            ("failure", "failed")
        );
        assert_eq!(value(2, "name"), hostile[0]);
        assert_eq!(
            (cases[3].0.as_str(), value(3, "type").as_str()),
            ("failure", "flaky")
        );
        assert!(value(3, "message").starts_with("flaky: failed 2 of 9 runs"));
        assert_eq!(value(4, "name"), "also::</pre>\\u{202e}txt");
        assert_eq!(
            value(5, "name"),
            "skip::\\e[31m\u{fffd}",
            "a passing test has no failure"
        );
        assert_eq!(cases[6].0, "skipped");
        assert!(value(7, "name").starts_with("(no failed test) exit 139"));
        assert_eq!(cases[8].0, "failure");
        assert!(xml.contains("tests=\"5\" failures=\"3\""), "{xml}");
    }
}
