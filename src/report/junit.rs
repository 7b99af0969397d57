//! The JUnit XML report: one test suite for the campaign (or sweep, or hunt), one test case per
//! failure signature (ignored ones as skipped), or one passing test case when nothing failed,
//! with the rate and provenance as properties. For CI systems that chart JUnit results.

use std::io::Cursor;

use anyhow::{Context, Result};
use quick_xml::events::{BytesDecl, BytesText, Event};
use quick_xml::Writer;

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

fn write(data: &ReportData) -> std::io::Result<String> {
    let mut writer = Writer::new_with_indent(Cursor::new(Vec::new()), b' ', 2);
    writer.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)))?;
    let suite = suite_name(data);
    let (tests, failures, skipped) = counts(data);
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
    let counts = [tests.to_string(), failures.to_string(), skipped.to_string()];
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
                .write_inner_content(|w| suite_content(w, data, &suite))?;
            Ok(())
        })?;
    let mut xml = String::from_utf8_lossy(&writer.into_inner().into_inner()).into_owned();
    xml.push('\n');
    Ok(xml)
}

fn suite_name(data: &ReportData) -> String {
    let command = match (&data.hunt, data.campaigns.first()) {
        (Some(hunt), _) => hunt.command.clone(),
        (None, Some(first)) => first.row.command.clone(),
        (None, None) => vec![data.subject.label()],
    };
    let words: Vec<String> = command.iter().map(|w| xml_text(w, 120)).collect();
    xml_text(&words.join(" "), 300)
}

fn counts(data: &ReportData) -> (usize, usize, usize) {
    let failing = data.clusters.iter().filter(|c| !c.ignored).count();
    let skipped = data.clusters.len() - failing;
    // With no failing signature, the command itself is one passing test case.
    let tests = data.clusters.len() + usize::from(failing == 0);
    (tests, failing, skipped)
}

type XmlWriter = Writer<Cursor<Vec<u8>>>;

fn suite_content(w: &mut XmlWriter, data: &ReportData, suite: &str) -> std::io::Result<()> {
    let t = &data.totals;
    let mut properties = vec![
        ("runs", t.runs.to_string()),
        ("failures", t.failures.to_string()),
        ("rate", format!("{:.9}", t.rate.estimate)),
        ("rate_low", format!("{:.9}", t.rate.low)),
        ("rate_high", format!("{:.9}", t.rate.high)),
        ("confidence", format!("{}", t.confidence)),
    ];
    if let Some(first) = data.campaigns.first() {
        properties.push(("campaign", xml_text(&first.row.id, 80)));
        if let Some(commit) = &first.row.git_commit {
            properties.push(("git_commit", xml_text(commit, 64)));
        }
        if let Some(dirty) = first.row.git_dirty {
            properties.push(("git_dirty", dirty.to_string()));
        }
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
    if data.clusters.iter().all(|c| c.ignored) {
        let name = format!("{suite} ({} runs, none failed)", t.runs);
        w.create_element("testcase")
            .with_attributes([("name", name.as_str()), ("classname", classname.as_str())])
            .write_empty()?;
    }
    for cluster in &data.clusters {
        testcase(w, data, cluster, &classname)?;
    }
    Ok(())
}

fn testcase(
    w: &mut XmlWriter,
    data: &ReportData,
    cluster: &Cluster,
    classname: &str,
) -> std::io::Result<()> {
    let name = xml_text(&cluster.text, 300);
    let message = format!(
        "{} of {} runs ({}), first at run {}, last at run {}",
        cluster.count,
        data.totals.runs,
        format_rate(cluster.count as f64 / data.totals.runs.max(1) as f64),
        cluster.first.run,
        cluster.last.run
    );
    let kind = xml_text(&cluster.kind, 40);
    let body = example_text(cluster);
    w.create_element("testcase")
        .with_attributes([("name", name.as_str()), ("classname", classname)])
        .write_inner_content(|w| {
            let element = if cluster.ignored {
                "skipped"
            } else {
                "failure"
            };
            w.create_element(element)
                .with_attributes([("message", message.as_str()), ("type", kind.as_str())])
                .write_text_content(BytesText::new(&body))?;
            if let Some(example) = &cluster.example {
                let log = xml_text(&example.log.display().to_string(), 400);
                w.create_element("system-out")
                    .write_text_content(BytesText::new(&format!("saved log: {log}")))?;
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
}
