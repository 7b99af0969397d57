//! The HTML report of a history query (`report --search REGEX`, `report --triage`): every
//! matching signature's sightings over time, and for a search each group's where, when and
//! an example in context.

use super::charts;
use super::line;
use super::markup::Html;
use crate::report::format::thousands;
use crate::store::report::HistoryData;
use crate::store::search::{Group, TriageRow};

/// Groups drawn with their own chart; the rest are in the table.
const CHARTED_GROUPS: usize = 30;
/// Commit ids shown per group.
const COMMITS_SHOWN: usize = 12;

/// The page.
pub fn history(data: &HistoryData) -> String {
    let mut html = Html::new();
    let title = match &data.pattern {
        Some(pattern) if data.search.is_some() => format!("search {}", line(pattern, 200)),
        Some(pattern) => format!("triage of {}", line(pattern, 200)),
        None => "triage of every failure signature".to_string(),
    };
    super::page_start(&mut html, &title, &title);
    html.open("nav", &[("class", "toc")]);
    html.element("a", &[("href", "#summary")], "Summary");
    html.element("a", &[("href", "#over-time")], "Sightings over time");
    if data.search.is_some() {
        html.element("a", &[("href", "#groups")], "Groups");
    }
    html.close("nav");
    html.open("main", &[]);
    summary(&mut html, data, &title);
    over_time(&mut html, data);
    if let Some(result) = &data.search {
        html.open("section", &[("id", "groups")]);
        html.element("h2", &[], "Groups");
        for group in result.groups.iter().take(CHARTED_GROUPS) {
            let row = data
                .triage
                .rows
                .iter()
                .find(|r| r.signature == group.signature);
            group_block(&mut html, data, group, row);
        }
        if result.groups.len() > CHARTED_GROUPS {
            html.element(
                "p",
                &[("class", "note")],
                &format!(
                    "{} more group(s) in the table above; narrow the search to see them here.",
                    result.groups.len() - CHARTED_GROUPS
                ),
            );
        }
        html.close("section");
    }
    super::footer(&mut html);
    html.close("main");
    super::page_end(&mut html);
    html.finish()
}

fn summary(html: &mut Html, data: &HistoryData, title: &str) {
    html.open("section", &[("id", "summary")]);
    html.element("h1", &[], title);
    let sightings: u64 = data.triage.rows.iter().map(|r| r.count).sum();
    html.open("div", &[("class", "stats")]);
    for (label, value) in [
        ("Sightings", thousands(sightings)),
        ("Signatures", thousands(data.triage.rows.len() as u64)),
        (
            "New or worse",
            thousands(
                data.triage
                    .rows
                    .iter()
                    .filter(|r| r.trend == "new" || r.trend == "worse")
                    .count() as u64,
            ),
        ),
    ] {
        html.open("div", &[("class", "stat")]);
        html.element("div", &[("class", "label")], label);
        html.element("div", &[("class", "value")], &value);
        html.close("div");
    }
    html.close("div");
    if !data.filters.is_empty() {
        html.open("dl", &[("class", "facts")]);
        for (name, value) in &data.filters {
            html.element("dt", &[], &line(name, 40));
            html.element("dd", &[], &line(value, 300));
        }
        html.close("dl");
    }
    if let Some(result) = &data.search {
        let note = format!(
            "{} failure(s) scanned{}.",
            thousands(result.scanned),
            if result.used_index {
                ", narrowed by the full-text index"
            } else {
                ""
            }
        );
        html.element("p", &[("class", "note")], &note);
    }
    html.close("section");
}

fn trend_badge(html: &mut Html, trend: &str) {
    let class = match trend {
        "new" | "worse" => "badge bad",
        "better" | "gone" => "badge good",
        _ => "badge",
    };
    html.element("span", &[("class", class)], &line(trend, 20));
}

/// The heat table: one row per signature, one column per period.
fn over_time(html: &mut Html, data: &HistoryData) {
    let triage = &data.triage;
    html.open("section", &[("id", "over-time")]);
    html.element("h2", &[], "Sightings over time");
    if triage.rows.is_empty() {
        html.element("p", &[("class", "muted")], "No sighting matches.");
        html.close("section");
        return;
    }
    html.element(
        "p",
        &[("class", "muted")],
        &format!(
            "Sightings per {} for each signature, most recent activity first; the trend \
             compares the latest quarter of the columns with the one before.",
            data.period
        ),
    );
    html.open("div", &[("style", "overflow-x:auto")]);
    html.open("table", &[("class", "heat sortable")]);
    html.open("thead", &[]).open("tr", &[]);
    html.element("th", &[("data-sort", "text")], "signature");
    html.element("th", &[("data-sort", "num"), ("class", "num")], "total");
    html.element("th", &[("data-sort", "text")], "trend");
    for label in &triage.periods {
        let short = line(label.get(5..).unwrap_or(label), 10);
        html.element(
            "th",
            &[("class", "num"), ("title", &line(label, 20))],
            &short,
        );
    }
    html.close("tr").close("thead").open("tbody", &[]);
    let peak = triage
        .rows
        .iter()
        .flat_map(|r| r.per_period.iter().copied())
        .max()
        .unwrap_or(1)
        .max(1);
    for row in &triage.rows {
        heat_row(html, row, &triage.periods, peak);
    }
    html.close("tbody").close("table").close("div");
    html.close("section");
}

fn heat_row(html: &mut Html, row: &TriageRow, periods: &[String], peak: u64) {
    html.open("tr", &[]);
    html.open("td", &[("class", "sig")]);
    html.element("code", &[], &line(&row.text, 200));
    let seen = format!(
        "first {}, last {}",
        line(&row.first_seen, 30),
        line(&row.last_seen, 30)
    );
    html.element("div", &[("class", "note")], &seen);
    html.close("td");
    html.element("td", &[("class", "num")], &thousands(row.count));
    html.open("td", &[]);
    trend_badge(html, row.trend);
    html.close("td");
    for (i, &count) in row.per_period.iter().enumerate() {
        let alpha = if count == 0 {
            0.0
        } else {
            0.15 + 0.85 * count as f64 / peak as f64
        };
        let style = format!("background:rgba(207,34,46,{alpha:.2})");
        let tip = format!(
            "{}: {count}",
            line(periods.get(i).map(String::as_str).unwrap_or(""), 20)
        );
        let shown = if count == 0 {
            String::new()
        } else {
            count.to_string()
        };
        html.element(
            "td",
            &[("class", "cell"), ("style", &style), ("title", &tip)],
            &shown,
        );
    }
    html.close("tr");
}

fn group_block(html: &mut Html, data: &HistoryData, group: &Group, row: Option<&TriageRow>) {
    html.open("h3", &[]);
    html.element("code", &[], &line(&group.text, 300));
    html.close("h3");
    let mut facts = vec![
        format!("{} sighting(s)", thousands(group.count)),
        format!(
            "first {}, last {}",
            line(&group.first_seen, 30),
            line(&group.last_seen, 30)
        ),
    ];
    if group.from_campaigns > 0 {
        facts.push(format!("{} from flakehunt campaigns", group.from_campaigns));
    }
    html.element("p", &[("class", "muted")], &facts.join(" · "));
    if let Some(row) = row {
        charts::periods(
            html,
            &data.triage.periods,
            &row.per_period,
            &format!("Sightings per {}", data.period),
        );
    }
    html.open("dl", &[("class", "facts")]);
    let joined = |items: Vec<&str>, max: usize| {
        let mut shown: Vec<String> = items.iter().take(max).map(|i| line(i, 80)).collect();
        if items.len() > max {
            shown.push(format!("and {} more", items.len() - max));
        }
        shown.join(", ")
    };
    if !group.platforms.is_empty() {
        let platforms = group.platforms.iter().map(String::as_str).collect();
        html.element("dt", &[], "platforms");
        html.element("dd", &[], &joined(platforms, 20));
    }
    if !group.commits.is_empty() {
        let commits = group
            .commits
            .iter()
            .map(|c| c.get(..12).unwrap_or(c))
            .collect();
        html.element("dt", &[], "commits");
        html.element("dd", &[], &joined(commits, COMMITS_SHOWN));
    }
    if !group.tests.is_empty() {
        let tests = group.tests.iter().map(String::as_str).collect();
        html.element("dt", &[], "tests");
        html.element("dd", &[], &joined(tests, 20));
    }
    let example = &group.example;
    html.element("dt", &[], "example");
    let place = [
        Some(example.date.as_str()),
        example.platform.as_deref(),
        Some(example.test.as_str()),
        example.source.as_deref(),
    ];
    let place: Vec<String> = place.iter().flatten().map(|p| line(p, 200)).collect();
    html.element("dd", &[], &place.join(" · "));
    html.close("dl");
    let context: Vec<String> = example.context.iter().map(|l| line(l, 400)).collect();
    html.element("pre", &[("class", "excerpt")], &context.join("\n"));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::report::load_history;
    use crate::store::report::testing::HOSTILE;
    use crate::store::search::SearchQuery;
    use crate::store::Store;

    fn store_with_sightings(dir: &std::path::Path) -> Store {
        let mut store = Store::open(&dir.join("h.db")).expect("open");
        store
            .write(|conn| {
                for (i, date) in ["2021-04-01", "2021-04-03", "2021-04-03", "2021-04-20"]
                    .iter()
                    .enumerate()
                {
                    conn.execute(
                        "INSERT INTO sightings (origin, test, outcome, message, snippet,
                         signature, commit_id, date, platform, source)
                         VALUES ('ingest', ?1, 'failure', ?2, ?3, 'sig1', 'cf2396c', ?4, ?5, ?6)",
                        rusqlite::params![
                            format!("Test{HOSTILE}"),
                            format!("No signal received {HOSTILE}"),
                            format!("line 1\nNo signal received {i}\n{HOSTILE}"),
                            date,
                            HOSTILE,
                            HOSTILE
                        ],
                    )?;
                }
                conn.execute(
                    "INSERT INTO signatures (id, text, first_seen) VALUES ('sig1', ?1, '2021')",
                    [format!("exit 1: {HOSTILE}")],
                )
            })
            .expect("sightings");
        store
    }

    #[test]
    fn search_and_triage_pages_show_sightings_over_time_and_stay_inert() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = store_with_sightings(dir.path());
        let query = SearchQuery {
            pattern: Some(regex::Regex::new("No signal received").expect("regex")),
            ..SearchQuery::default()
        };
        let data = load_history(&store, &query, true, None, None).expect("load");
        assert_eq!(data.period, "day");
        assert_eq!(
            data.triage.periods.len(),
            20,
            "the span of days, at least 14"
        );
        let counts = &data.triage.rows[0].per_period;
        assert_eq!(counts.iter().sum::<u64>(), 4);
        let page = history(&data);
        crate::report::html::tests::assert_inert(&page);
        assert!(page.contains("<section id=\"groups\">"));
        assert!(page.contains("Sightings per day"), "a chart per group");
        let triage =
            load_history(&store, &SearchQuery::default(), false, None, None).expect("triage");
        let page = history(&triage);
        crate::report::html::tests::assert_inert(&page);
        assert!(!page.contains("id=\"groups\""));
        assert!(page.contains("class=\"heat sortable\""));
    }
}
