//! The HTML report: one self-contained page (inline CSS and SVG, a little inline JavaScript
//! that only sorts and expands, a Content-Security-Policy that forbids every outside load) for
//! a campaign, a window sweep, a hunt, or a history query. Each analysis is one section,
//! rendered when its data exists.

mod assets;
mod bisect;
mod charts;
mod history;
pub mod markup;
mod sections;
mod suite;
mod svg;

pub use assets::CSP;
pub use history::history;

use markup::Html;

use crate::store::report::ReportData;

/// The report on a campaign, a window sweep or a hunt.
pub fn campaign(data: &ReportData) -> String {
    let title = sections::title(data);
    let mut html = Html::new();
    let parts = sections::present(data);
    page_start(&mut html, &title, &sections::subtitle(data));
    toc(&mut html, &parts);
    html.open("main", &[]);
    for part in &parts {
        sections::render(&mut html, data, *part);
    }
    footer(&mut html);
    html.close("main");
    page_end(&mut html);
    html.finish()
}

/// `<!doctype>`, `<head>` with the policy and style, and the top bar.
pub(crate) fn page_start(html: &mut Html, title: &str, subtitle: &str) {
    html.raw("<!DOCTYPE html>\n");
    html.open("html", &[("lang", "en")]);
    html.open("head", &[]);
    html.void("meta", &[("charset", "utf-8")]);
    html.void(
        "meta",
        &[("http-equiv", "Content-Security-Policy"), ("content", CSP)],
    );
    html.void(
        "meta",
        &[
            ("name", "viewport"),
            ("content", "width=device-width, initial-scale=1"),
        ],
    );
    html.void("meta", &[("name", "generator"), ("content", "flakehunt")]);
    html.element("title", &[], &format!("flakehunt: {title}"));
    html.open("style", &[]).raw(assets::STYLE).close("style");
    html.close("head");
    html.open("body", &[]);
    html.open("header", &[("class", "top")]);
    html.element("span", &[("class", "brand")], "flakehunt report");
    html.element("span", &[("class", "what")], subtitle);
    html.close("header");
}

/// Links to the sections present.
fn toc(html: &mut Html, parts: &[sections::Part]) {
    html.open("nav", &[("class", "toc")]);
    for part in parts {
        let (id, name) = part.anchor();
        let href = format!("#{id}");
        html.element("a", &[("href", &href)], name);
    }
    html.close("nav");
}

pub(crate) fn footer(html: &mut Html) {
    html.element(
        "footer",
        &[],
        concat!(
            "flakehunt ",
            env!("CARGO_PKG_VERSION"),
            ": every interval is exact (Clopper-Pearson) at 95% confidence"
        ),
    );
}

/// The script and the closing tags.
pub(crate) fn page_end(html: &mut Html) {
    html.open("script", &[]).raw(assets::SCRIPT).close("script");
    html.close("body");
    html.close("html");
    html.raw("\n");
}

/// A value from outside (test output, names, paths) as one safe line of at most `max` chars:
/// control characters and invalid UTF-8 shown as escapes, spoofing characters named.
pub(crate) fn line(text: &str, max: usize) -> String {
    crate::text::escape_line(text.as_bytes(), max)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use html5gum::{Token, Tokenizer};

    use super::*;
    use crate::store::report::testing::{hostile_campaign, HOSTILE};
    use crate::store::report::{load, Subject};
    use crate::store::Store;

    /// Every element the report may contain; anything else was injected.
    const TAGS: &[&str] = &[
        "html",
        "head",
        "meta",
        "title",
        "style",
        "body",
        "header",
        "span",
        "nav",
        "a",
        "main",
        "section",
        "h1",
        "h2",
        "h3",
        "div",
        "dl",
        "dt",
        "dd",
        "code",
        "p",
        "table",
        "thead",
        "tbody",
        "tr",
        "th",
        "td",
        "details",
        "summary",
        "pre",
        "svg",
        "line",
        "text",
        "rect",
        "circle",
        "polyline",
        "figure",
        "figcaption",
        "footer",
        "button",
        "script",
    ];
    /// Every attribute the report may use.
    const ATTRIBUTES: &[&str] = &[
        "lang",
        "charset",
        "http-equiv",
        "content",
        "name",
        "class",
        "id",
        "href",
        "title",
        "style",
        "data-sort",
        "data-key",
        "data-details",
        "type",
        "xmlns",
        "viewbox",
        "width",
        "height",
        "role",
        "aria-label",
        "x",
        "y",
        "x1",
        "x2",
        "y1",
        "y2",
        "cx",
        "cy",
        "r",
        "points",
        "stroke",
        "stroke-width",
        "text-anchor",
    ];

    /// A start tag: its name and attributes.
    type Tag = (String, Vec<(String, String)>);

    /// The page's start tags and its text, entities decoded.
    pub(crate) fn parse(html: &str) -> (Vec<Tag>, String) {
        let mut tags = Vec::new();
        let mut text = String::new();
        for token in Tokenizer::new(html).flatten() {
            match token {
                Token::StartTag(tag) => {
                    let name = String::from_utf8_lossy(&tag.name).into_owned();
                    let attributes = tag
                        .attributes
                        .iter()
                        .map(|(k, v)| {
                            let key = String::from_utf8_lossy(k).into_owned();
                            (key, String::from_utf8_lossy(v).into_owned())
                        })
                        .collect();
                    tags.push((name, attributes));
                }
                Token::String(s) => text.push_str(&String::from_utf8_lossy(&s)),
                _ => {}
            }
        }
        (tags, text)
    }

    /// Assert the page holds only our own elements, attributes and script.
    pub(crate) fn assert_inert(html: &str) {
        let (tags, text) = parse(html);
        let allowed: BTreeSet<&str> = TAGS.iter().copied().collect();
        let attributes: BTreeSet<&str> = ATTRIBUTES.iter().copied().collect();
        for (name, attrs) in &tags {
            assert!(allowed.contains(name.as_str()), "injected element <{name}>");
            for (key, value) in attrs {
                assert!(
                    attributes.contains(key.as_str()),
                    "injected attribute {key} on <{name}>"
                );
                if key == "href" {
                    assert!(value.starts_with('#'), "a link out of the page: {value}");
                }
                if key == "style" {
                    assert!(!value.contains("url("), "a style that loads: {value}");
                }
            }
        }
        let scripts = tags.iter().filter(|(name, _)| name == "script").count();
        assert_eq!(scripts, 1, "exactly our one script");
        let csp = tags
            .iter()
            .find(|(_, attrs)| {
                attrs
                    .iter()
                    .any(|(k, v)| k == "http-equiv" && v == "Content-Security-Policy")
            })
            .expect("a CSP meta tag");
        assert!(csp.1.iter().any(|(k, v)| k == "content" && v == CSP));
        assert!(
            text.contains(assets::SCRIPT.trim()),
            "the script is ours, whole"
        );
    }

    #[test]
    fn hostile_output_names_and_environment_stay_text() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut store = Store::open(&dir.path().join("h.db")).expect("open");
        hostile_campaign(&mut store, dir.path(), "c-1", "2026-01-02T03:04:05Z");
        let data = load(&store, &Subject::Campaign("c-1".into())).expect("load");
        let page = campaign(&data);
        assert_inert(&page);
        let (_, text) = parse(&page);
        // Shown, as text: in the title, the signature table, the example and the stacks.
        assert!(
            text.matches(HOSTILE).count() >= 4,
            "{}",
            text.matches(HOSTILE).count()
        );
        assert!(text.contains("\\xff\\xfe\\xc3(") && text.contains("\\e[31mred"));
        assert!(
            text.contains("\\u{202e}"),
            "bidi override named, not obeyed"
        );
        assert!(!page.contains('\u{202e}') && !page.contains('\u{1b}'));
        for section in [
            "summary",
            "signatures",
            "timeline",
            "durations",
            "failed-runs",
        ] {
            assert!(
                page.contains(&format!("<section id=\"{section}\">")),
                "{section}"
            );
        }
    }

    #[test]
    fn hunts_and_sweeps_get_their_sections() {
        let hunt = campaign(&crate::report::testing::sample_hunt());
        assert_inert(&hunt);
        assert!(hunt.contains("<section id=\"hunt\">"));
        assert!(hunt.contains("Best arm: pin=one-core"));
        let window = campaign(&crate::report::testing::sample_window());
        assert_inert(&window);
        assert!(window.contains("<section id=\"window\">"));
        assert!(window.contains("class=\"window\""), "the window is shaded");
    }

    #[test]
    fn an_empty_campaign_still_makes_a_page() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut store = Store::open(&dir.path().join("h.db")).expect("open");
        crate::store::report::testing::campaign(
            &mut store,
            "c-0",
            &["true"],
            "2026-01-02T03:04:05Z",
            None,
        );
        let data = load(&store, &Subject::Campaign("c-0".into())).expect("load");
        let page = campaign(&data);
        assert_inert(&page);
        assert!(page.contains("no run finished"));
        assert!(!page.contains("id=\"timeline\""));
    }

    #[test]
    fn a_suite_lists_hostile_test_names_as_text_sorted_by_rate() {
        use crate::store::report::testing::{suite_campaign, HOSTILE_TESTS};
        let dir = tempfile::tempdir().expect("tempdir");
        let mut store = Store::open(&dir.path().join("h.db")).expect("open");
        suite_campaign(&mut store, dir.path(), "s-1", "2026-01-02T03:04:05Z");
        let data = load(&store, &Subject::Campaign("s-1".into())).expect("load");
        let page = campaign(&data);
        assert_inert(&page);
        let section = page
            .split("<section id=\"tests\">")
            .nth(1)
            .and_then(|rest| rest.split("</section>").next())
            .expect("a tests section");
        let (_, text) = parse(section);
        let at = |name: &str| text.find(name).unwrap_or(usize::MAX);
        // Always failing, then flaky, then the rest: by rate.
        assert!(at(HOSTILE_TESTS[1]) < at(HOSTILE_TESTS[0]), "{text}");
        assert!(
            at(HOSTILE_TESTS[0]) < at("also::</pre>\\u{202e}txt"),
            "{text}"
        );
        assert!(text.contains("skip::\\e[31m"), "escape named: {text}");
        for mark in [
            "always fails",
            "flaky",
            "passed",
            "skipped",
            "with no failed test",
        ] {
            assert!(text.contains(mark), "{mark}");
        }
        assert!(section.contains("<svg"), "the rates chart");
        assert!(!page.contains('\u{202e}') && !page.contains('\u{1b}'));
    }

    #[test]
    fn a_bisection_charts_its_posterior_after_each_probe() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut store = Store::open(&dir.path().join("h.db")).expect("open");
        let id = crate::store::report::testing::bisection(&mut store, dir.path());
        let data = load(&store, &Subject::Bisect(id)).expect("load");
        let page = campaign(&data);
        assert_inert(&page);
        let section = page
            .split("<section id=\"bisect\">")
            .nth(1)
            .and_then(|rest| rest.split("</section>").next())
            .expect("a bisect section");
        assert_eq!(section.matches("<svg").count(), 2, "by probe and by commit");
        assert!(section.contains("class=\"trace\""), "a posterior line");
        assert!(section.contains("after probe 3: 3aaaaaaaaaaa commit 3"));
        assert!(
            section.contains("class=\"hollow\""),
            "the untestable probe marked"
        );
        assert!(section.contains("probe 4 at 4aaaaaaaaaaa: untestable: the build failed"));
        let (_, text) = parse(&page);
        assert!(
            text.contains("Culprit: 3aaaaaaaaaaa commit 3 <script>"),
            "{text}"
        );
        assert!(!page.contains("id=\"campaigns\""), "the trail lists them");
    }

    #[test]
    fn a_large_suite_is_listed_up_to_a_bound() {
        use crate::analysis::per_test::TestRow;
        use crate::analysis::stats::clopper_pearson;
        let mut data = crate::report::testing::sample_report();
        data.campaigns[0].spec = serde_json::json!({"suite": {"kind": "go"}});
        data.tests = (0..5_000u64)
            .map(|i| {
                let failures = u64::from(i < 2_500) * (1 + i % 7);
                TestRow {
                    test: format!("TestCase{i}"),
                    runs: 100,
                    failures,
                    skipped: 0,
                    rate: clopper_pearson(failures, 100, 0.95),
                    signature: None,
                    first_failure: None,
                }
            })
            .collect();
        let page = campaign(&data);
        assert_inert(&page);
        let (_, text) = parse(&page);
        assert!(
            text.contains("5,000 tests seen: 2,500 failed at least once"),
            "{text}"
        );
        assert_eq!(
            text.matches("more not listed; `flakehunt show --tests`")
                .count(),
            2
        );
        assert!(text.contains("(the 25 highest of 2,500)"));
        assert!(page.len() < 4_000_000, "{} bytes", page.len());
    }
}
