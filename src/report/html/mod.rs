//! The HTML report: one self-contained page (inline CSS and SVG, a little inline JavaScript
//! that only sorts and expands, a Content-Security-Policy that forbids every outside load) for
//! a campaign, a window sweep, a hunt, or a history query. Each analysis is one section,
//! rendered when its data exists.

mod assets;
mod charts;
mod history;
pub mod markup;
mod sections;
mod svg;

pub use assets::{CSP, SCRIPT_SHA256};
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
