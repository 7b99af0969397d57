//! The sections of a campaign, sweep or hunt report. [`present`] lists the ones that have data,
//! in page order; [`render`] writes one. A new analysis adds a [`Part`], a line in `present`
//! and its renderer.

use std::time::Duration;

use super::charts::{self, Along};
use super::line;
use super::markup::Html;
use super::svg::cluster_colour;
use crate::analysis::series::Bursts;
use crate::analysis::summary::DurationStats;
use crate::report::format::{compact_duration, format_rate, one_in, ratio, thousands};
use crate::store::report::{CampaignFacts, Cluster, Example, ReportData, Subject};
use crate::text::{human_bytes, render_excerpt, ExcerptOptions};

/// Widest single line of outside text shown in a cell.
pub(crate) const CELL_CHARS: usize = 300;

/// One section of the page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    /// The headline: what ran, where, and how often it failed.
    Headline,
    /// A hunt's arms.
    Hunt,
    /// A sweep's window.
    Window,
    /// A bisection's posterior and probes.
    Bisect,
    /// A suite's tests by failure rate.
    Tests,
    /// The failure clusters with their examples.
    Signatures,
    /// Failures over run index and over time.
    Timeline,
    /// Durations of passing and failing runs.
    Durations,
    /// The campaigns of a sweep or hunt.
    Campaigns,
    /// Failed runs one by one.
    FailedRuns,
}

impl Part {
    /// The section's anchor and its name in the table of contents.
    pub fn anchor(self) -> (&'static str, &'static str) {
        match self {
            Part::Headline => ("summary", "Summary"),
            Part::Hunt => ("hunt", "Hunt arms"),
            Part::Window => ("window", "Race window"),
            Part::Bisect => ("bisect", "Bisection"),
            Part::Tests => ("tests", "Tests by failure rate"),
            Part::Signatures => ("signatures", "Failure signatures"),
            Part::Timeline => ("timeline", "When failures happen"),
            Part::Durations => ("durations", "Durations"),
            Part::Campaigns => ("campaigns", "Campaigns"),
            Part::FailedRuns => ("failed-runs", "Failed runs"),
        }
    }
}

/// The sections with something to show, in page order.
pub fn present(data: &ReportData) -> Vec<Part> {
    let mut parts = vec![Part::Headline];
    if data.hunt.is_some() {
        parts.push(Part::Hunt);
    }
    if data.window.is_some() {
        parts.push(Part::Window);
    }
    if data.bisect.is_some() {
        parts.push(Part::Bisect);
    }
    if super::suite::present(data) {
        parts.push(Part::Tests);
    }
    if !data.clusters.is_empty() {
        parts.push(Part::Signatures);
    }
    if data.series.runs > 0 {
        parts.push(Part::Timeline);
        parts.push(Part::Durations);
    }
    // A bisection's probes list its campaigns, with their commits.
    if data.campaigns.len() > 1 && data.bisect.is_none() {
        parts.push(Part::Campaigns);
    }
    if !data.failed_runs.is_empty() {
        parts.push(Part::FailedRuns);
    }
    parts
}

/// Write one section.
pub fn render(html: &mut Html, data: &ReportData, part: Part) {
    let (id, name) = part.anchor();
    html.open("section", &[("id", id)]);
    if part != Part::Headline {
        html.element("h2", &[], name);
    }
    match part {
        Part::Headline => headline(html, data),
        Part::Hunt => hunt(html, data),
        Part::Window => window(html, data),
        Part::Bisect => super::bisect::section(html, data),
        Part::Tests => super::suite::section(html, data),
        Part::Signatures => signatures(html, data),
        Part::Timeline => timeline(html, data),
        Part::Durations => durations(html, data),
        Part::Campaigns => campaigns(html, data),
        Part::FailedRuns => failed_runs(html, data),
    }
    html.close("section");
}

/// The command as one safe line.
pub(crate) fn command_line(command: &[String]) -> String {
    let words: Vec<String> = command.iter().map(|word| line(word, 200)).collect();
    line(&words.join(" "), 1000)
}

fn command_of(data: &ReportData) -> String {
    if let Some(bisection) = data.bisect.as_ref().filter(|b| !b.command.is_empty()) {
        return command_line(&bisection.command);
    }
    match (&data.hunt, data.campaigns.first()) {
        (Some(hunt), _) => command_line(&hunt.command),
        (None, Some(first)) => command_line(&first.row.command),
        (None, None) => String::new(),
    }
}

/// The page title: what was hunted.
pub fn title(data: &ReportData) -> String {
    let command = command_of(data);
    match &data.subject {
        Subject::Campaign(_) => command,
        Subject::Window(_) => format!("window sweep of {command}"),
        Subject::Hunt(0) => format!("hunt of {command}"),
        Subject::Hunt(id) => format!("hunt {id} of {command}"),
        Subject::Bisect(id) => format!("bisection {id} of {command}"),
    }
}

/// The line in the top bar.
pub fn subtitle(data: &ReportData) -> String {
    match &data.subject {
        Subject::Campaign(id) => format!("campaign {}", line(id, 80)),
        Subject::Window(id) => format!("window sweep {}", line(id, 80)),
        Subject::Hunt(0) => "hunt (not recorded: no arm failed)".to_string(),
        Subject::Hunt(id) => format!("hunt:{id}"),
        Subject::Bisect(id) => format!("bisect:{id}"),
    }
}

fn stat(html: &mut Html, label: &str, value: &str, sub: &str, tone: &'static str) {
    html.open("div", &[("class", tone)]);
    html.element("div", &[("class", "label")], label);
    html.element("div", &[("class", "value")], value);
    html.element("div", &[("class", "sub")], sub);
    html.close("div");
}

fn headline(html: &mut Html, data: &ReportData) {
    html.element("h1", &[], &title(data));
    if let Some((text, tone)) = verdict(data) {
        html.element("div", &[("class", tone)], &text);
    }
    let totals = &data.totals;
    html.open("div", &[("class", "stats")]);
    let elapsed = compact_duration(Duration::from_secs_f64(totals.elapsed_s.max(0.0)));
    let per_second = if totals.elapsed_s > 0.0 {
        format!(
            "{:.1} runs/s over {elapsed}",
            totals.runs as f64 / totals.elapsed_s
        )
    } else {
        elapsed
    };
    stat(html, "Runs", &thousands(totals.runs), &per_second, "stat");
    let mut parts = Vec::new();
    if totals.timeouts > 0 {
        parts.push(format!("{} timed out", thousands(totals.timeouts)));
    }
    if totals.ignored > 0 {
        parts.push(format!("{} ignored", thousands(totals.ignored)));
    }
    if totals.cancelled > 0 {
        parts.push(format!("{} cancelled", thousands(totals.cancelled)));
    }
    let tone = if totals.failures > 0 {
        "stat bad"
    } else {
        "stat good"
    };
    stat(
        html,
        "Failures",
        &thousands(totals.failures),
        &parts.join(", "),
        tone,
    );
    let percent = (totals.confidence * 100.0).round();
    let (rate, sub) = if totals.runs == 0 {
        ("unknown".to_string(), "no run finished".to_string())
    } else if totals.failures == 0 {
        (
            format!("< {}", format_rate(totals.rate_upper_bound)),
            format!(
                "{} at {percent}% confidence",
                one_in(totals.rate_upper_bound)
            ),
        )
    } else {
        (
            format!(
                "{} ({})",
                format_rate(totals.rate.estimate),
                one_in(totals.rate.estimate)
            ),
            format!(
                "{percent}% interval {} .. {}",
                format_rate(totals.rate.low),
                format_rate(totals.rate.high)
            ),
        )
    };
    match &data.bisect {
        // Runs at many commits have no one rate: the search's answer stands instead.
        Some(bisection) => bisect_stat(html, bisection),
        None => stat(html, "Failure rate", &rate, &sub, "stat"),
    }
    stat(
        html,
        "Signatures",
        &thousands(data.clusters.iter().filter(|c| !c.ignored).count() as u64),
        "distinct failure modes",
        "stat",
    );
    html.close("div");
    facts(html, data);
}

fn bisect_stat(html: &mut Html, bisection: &crate::store::report::bisect::BisectData) {
    use crate::report::bisect_report::{percent, short};
    let leader = bisection.decision.as_ref().and_then(|d| {
        let index = d.commit.or(d.best)?;
        Some((bisection.commits.get(index)?, d.probability))
    });
    let (value, sub) = match leader {
        Some((commit, probability)) => {
            let asked = bisection
                .confidence
                .map(|c| format!(", {} asked", percent(c)))
                .unwrap_or_default();
            (
                percent(probability),
                format!("that {} introduced it{asked}", short(&commit.hash)),
            )
        }
        None => match &bisection.decision {
            Some(d) if d.kind == "predates" => (
                percent(d.probability),
                "that it predates the good commit".to_string(),
            ),
            _ => ("-".to_string(), "no leading commit yet".to_string()),
        },
    };
    stat(html, "Posterior", &value, &sub, "stat");
}

/// The verdict line, where the report has one: the command's own, a hunt's best arm, a sweep's
/// window, or what zero failures allow claiming.
fn verdict(data: &ReportData) -> Option<(String, &'static str)> {
    if let Some(verdict) = &data.verdict {
        let tone = if verdict.starts_with("FIXED") {
            "verdict good"
        } else {
            "verdict bad"
        };
        return Some((line(verdict, 400), tone));
    }
    if let Some(hunt) = &data.hunt {
        return hunt_verdict(hunt);
    }
    if let Some(bisection) = &data.bisect {
        let tone = if bisection.status == "culprit" {
            "verdict bad"
        } else {
            "verdict"
        };
        return Some((crate::report::bisect_report::outcome(bisection), tone));
    }
    if let Some(window) = &data.window {
        return Some(match &window.map.window {
            Some(w) => (
                format!(
                    "Failures when the delay is from {}{} to {}{}; peak rate {}",
                    if w.start.open { "at most " } else { "" },
                    seconds(w.start.at_s),
                    if w.end.open { "at least " } else { "" },
                    seconds(w.end.at_s),
                    format_rate(w.peak_rate)
                ),
                "verdict bad",
            ),
            None => (
                "No failure in this range of delays: no window found".to_string(),
                "verdict",
            ),
        });
    }
    None
}

fn hunt_verdict(hunt: &crate::store::report::HuntRecord) -> Option<(String, &'static str)> {
    let best = hunt.best.as_deref()?;
    let arm = hunt.arms.iter().find(|arm| arm.shake == best)?;
    let speed = match (arm.speedup, arm.speedup_low) {
        (Some(speedup), Some(low)) if speedup.is_finite() => {
            format!(
                ", {} as often as plain (at least {} at 95%)",
                ratio(speedup),
                ratio(low)
            )
        }
        (_, Some(low)) => format!(", at least {} as often as plain at 95%", ratio(low)),
        _ => String::new(),
    };
    Some((
        format!(
            "Best arm: {} fails {} ({}){speed}; reuse it with --shake best",
            line(best, 120),
            format_rate(arm.rate.estimate),
            one_in(arm.rate.estimate)
        ),
        "verdict bad",
    ))
}

fn seconds(value: f64) -> String {
    compact_duration(Duration::from_secs_f64(value.max(0.0)))
}

fn fact(html: &mut Html, name: &str, value: &str) {
    html.element("dt", &[], name);
    html.element("dd", &[], value);
}

fn facts(html: &mut Html, data: &ReportData) {
    let Some(first) = data.campaigns.first() else {
        html.element(
            "p",
            &[("class", "muted")],
            "The campaigns of this report are not in this history.",
        );
        return;
    };
    let row = &first.row;
    html.open("dl", &[("class", "facts")]);
    html.element("dt", &[], "Command");
    html.open("dd", &[]);
    html.element("code", &[], &command_of(data));
    html.close("dd");
    let ids: Vec<String> = data.campaigns.iter().map(|c| line(&c.row.id, 80)).collect();
    let ids = if data.bisect.is_some() && ids.len() > 1 {
        format!("{} (one per probe, listed in the trail)", ids.len())
    } else {
        ids.join(", ")
    };
    fact(
        html,
        if data.campaigns.len() > 1 {
            "Campaigns"
        } else {
            "Campaign"
        },
        &ids,
    );
    fact(html, "Started", &line(&row.started_at, 40));
    test_facts(html, first);
    // A bisection's runs are at many commits: its section lists them.
    if data.bisect.is_none() {
        commit_fact(html, row);
    }
    fact(
        html,
        "Host",
        &line(row.host.as_deref().unwrap_or("unknown"), 120),
    );
    spec_facts(html, first);
    let stops: Vec<String> = data
        .campaigns
        .iter()
        .map(|c| line(&c.summary.stop_reason, 200))
        .collect();
    fact(html, "Stopped", &dedup(stops).join("; "));
    if let Some(out) = &row.out_dir {
        fact(html, "Output", &line(out, 400));
    }
    html.close("dl");
}

/// The test target a campaign ran, with its build, or the suite it read test by test.
fn test_facts(html: &mut Html, campaign: &CampaignFacts) {
    if let Some(target) = &campaign.summary.target {
        fact(
            html,
            "Test",
            &format!("{} ({})", line(&target.test, 300), line(&target.runner, 20)),
        );
        if let Some(build) = &target.build {
            let took = seconds(build.seconds);
            let text = if build.cached {
                format!("cached: sources unchanged, checked in {took} (not counted in the runs)")
            } else {
                format!(
                    "{} in {took} (not counted in the runs)",
                    line(&build.command, 300)
                )
            };
            fact(html, "Build", &text);
        }
    }
    if let Some(kind) = campaign.spec["suite"]["kind"].as_str() {
        fact(
            html,
            "Suite",
            &format!("{} (read test by test)", line(kind, 20)),
        );
    }
}

fn commit_fact(html: &mut Html, row: &crate::store::query::CampaignRow) {
    html.element("dt", &[], "Commit");
    html.open("dd", &[]);
    match &row.git_commit {
        Some(commit) => {
            html.element("code", &[], &line(commit, 64));
            match row.git_dirty {
                Some(true) => html
                    .text(" ")
                    .element("span", &[("class", "badge warn")], "dirty"),
                Some(false) => html
                    .text(" ")
                    .element("span", &[("class", "badge good")], "clean"),
                None => html,
            };
        }
        None => {
            html.text("not a git checkout");
        }
    }
    html.close("dd");
}

fn dedup(mut items: Vec<String>) -> Vec<String> {
    items.dedup();
    items
}

/// The options worth knowing from a campaign's spec.
fn spec_facts(html: &mut Html, campaign: &CampaignFacts) {
    let spec = &campaign.spec;
    let text = |key: &str| spec.get(key).and_then(|v| v.as_str()).map(str::to_string);
    let shake = campaign
        .arm
        .clone()
        .or_else(|| campaign.shake().map(str::to_string));
    fact(
        html,
        "Shake",
        &line(shake.as_deref().unwrap_or("none"), 300),
    );
    if let Some(cwd) = &campaign.cwd {
        fact(html, "Directory", &line(cwd, 400));
    }
    let mut limits = Vec::new();
    if let Some(jobs) = spec.get("jobs").and_then(|v| v.as_u64()) {
        limits.push(format!("{jobs} jobs"));
    }
    if let Some(timeout) = spec.get("timeout_s").and_then(|v| v.as_f64()) {
        limits.push(format!("timeout {}", seconds(timeout)));
    }
    if let Some(signal) = text("timeout_signal") {
        limits.push(format!("then {}", line(&signal, 20)));
    }
    if !limits.is_empty() {
        fact(html, "Limits", &limits.join(", "));
    }
    for (key, name) in [("fail_if", "Fail if"), ("ignore", "Ignore")] {
        if let Some(value) = text(key) {
            fact(html, name, &line(&value, 300));
        }
    }
    let list = |key: &str| -> Vec<String> {
        spec.get(key)
            .and_then(|v| v.as_array())
            .map(|items| {
                items
                    .iter()
                    .filter_map(|item| item.as_str())
                    .map(|item| line(item, 300))
                    .collect()
            })
            .unwrap_or_default()
    };
    let env = list("env");
    if !env.is_empty() {
        fact(html, "Environment", &env.join("  "));
    }
    let script = list("script");
    if !script.is_empty() {
        fact(html, "Script", &script.join("  →  "));
    }
}

fn cluster_label(html: &mut Html, index: usize) {
    let style = format!("background:{}", cluster_colour(Some(index)));
    html.element("span", &[("class", "swatch"), ("style", &style)], "");
    html.text(&format!("#{}", index + 1));
}

/// A run as shown: `run 17`, with its campaign when the report has several.
fn run_name(data: &ReportData, run: &crate::store::report::RunRef) -> String {
    if data.campaigns.len() > 1 {
        format!("run {} of {}", run.run, line(&run.campaign, 40))
    } else {
        format!("run {}", run.run)
    }
}

fn signatures(html: &mut Html, data: &ReportData) {
    html.open("div", &[("class", "toolbar")]);
    html.element(
        "button",
        &[("type", "button"), ("data-details", "open")],
        "expand all",
    );
    html.element(
        "button",
        &[("type", "button"), ("data-details", "close")],
        "collapse all",
    );
    html.close("div");
    html.element(
        "p",
        &[("class", "muted")],
        "Failures grouped by how they ended and their most telling output line. Open an \
         example to see its output, escaped, with binary runs collapsed.",
    );
    let failures = data.totals.failures.max(1);
    html.open("table", &[("class", "sortable")]);
    html.open("thead", &[]).open("tr", &[]);
    for (name, sort, class) in [
        ("#", "num", ""),
        ("Count", "num", "num"),
        ("Share", "num", "num"),
        ("Kind", "text", ""),
        ("First", "num", ""),
        ("Last", "num", ""),
        ("Signature", "text", ""),
    ] {
        html.element("th", &[("data-sort", sort), ("class", class)], name);
    }
    html.close("tr").close("thead");
    html.open("tbody", &[]);
    for (index, cluster) in data.clusters.iter().enumerate() {
        cluster_row(html, data, index, cluster, failures);
    }
    html.close("tbody").close("table");
}

fn cluster_row(html: &mut Html, data: &ReportData, index: usize, cluster: &Cluster, failures: u64) {
    html.open("tr", &[]);
    let key = index.to_string();
    html.open("td", &[("data-key", &key)]);
    cluster_label(html, index);
    html.close("td");
    html.element("td", &[("class", "num")], &thousands(cluster.count));
    let share = cluster.count as f64 / failures as f64;
    let share_key = format!("{share:.6}");
    html.open("td", &[("class", "num"), ("data-key", &share_key)]);
    if cluster.ignored {
        html.element("span", &[("class", "badge")], "ignored");
    } else {
        html.text(&format_rate(share.min(1.0)));
        let width = format!("width:{:.0}px", (share.min(1.0) * 60.0).max(1.0));
        html.element("span", &[("class", "share"), ("style", &width)], "");
    }
    html.close("td");
    html.element("td", &[], &line(&cluster.kind, 40));
    for run in [&cluster.first, &cluster.last] {
        let key = run.seq.to_string();
        let title = line(&run.started_at, 40);
        html.element(
            "td",
            &[("data-key", &key), ("title", &title), ("class", "nowrap")],
            &run_name(data, run),
        );
    }
    html.open("td", &[("class", "sig")]);
    html.element("code", &[], &line(&cluster.text, CELL_CHARS));
    let id = format!("signature {}", line(&cluster.id, 40));
    html.element("div", &[("class", "note")], &id);
    if let Some(example) = &cluster.example {
        example_block(html, data, example);
    }
    html.close("td");
    html.close("tr");
}

fn example_block(html: &mut Html, data: &ReportData, example: &Example) {
    let where_ = format!(
        "{}, saved in {}",
        run_name(data, &example.run),
        line(&example.log.display().to_string(), 400)
    );
    if let Some(telling) = &example.telling_line {
        html.open("div", &[("class", "note")]);
        html.text("telling line: ");
        html.element("code", &[], &line(telling, CELL_CHARS));
        html.close("div");
    }
    let Some(output) = &example.output else {
        let note = example.missing.clone().map_or_else(
            || format!("{where_} (example not embedded: too many signatures)"),
            |why| line(&why, 600),
        );
        html.element("div", &[("class", "note")], &note);
        return;
    };
    html.open("details", &[]);
    html.element("summary", &[], &format!("example: {where_}"));
    let excerpt = render_excerpt(&output.head, &ExcerptOptions::default());
    let lines = excerpt.lines().count();
    html.element("pre", &[("class", "excerpt")], &excerpt);
    let full = full_output(&output.head, &output.tail, output.cut());
    if output.cut() > 0 || full.lines().count() > lines {
        html.open("details", &[]);
        let label = if output.cut() > 0 {
            format!(
                "full output ({}; the middle {} cut)",
                human_bytes(output.total),
                human_bytes(output.cut())
            )
        } else {
            format!("full output ({})", human_bytes(output.total))
        };
        html.element("summary", &[], &label);
        html.element("pre", &[], &full);
        html.close("details");
    }
    for attachment in &example.attachments {
        html.open("details", &[]);
        let what = if attachment.name.ends_with(".stacks") {
            "stacks: "
        } else {
            "saved beside it: "
        };
        let label = format!(
            "{what}{} ({})",
            line(&attachment.name, 120),
            human_bytes(attachment.content.total)
        );
        html.element("summary", &[], &label);
        let content = &attachment.content;
        html.element(
            "pre",
            &[],
            &full_output(&content.head, &content.tail, content.cut()),
        );
        html.close("details");
    }
    html.close("details");
}

/// A saved file in full: every line escaped, binary runs collapsed, the cut marked.
fn full_output(head: &[u8], tail: &[u8], cut: u64) -> String {
    let options = ExcerptOptions {
        max_lines: usize::MAX,
        max_line_chars: 4096,
        ..ExcerptOptions::default()
    };
    let mut text = render_excerpt(head, &options);
    if cut > 0 || !tail.is_empty() {
        text.push_str(&format!("\n[... {} not embedded ...]\n", human_bytes(cut)));
        text.push_str(&render_excerpt(tail, &options));
    }
    text
}

fn bursts_note(bursts: Option<&Bursts>, along: Along) -> String {
    let Some(b) = bursts else {
        return "Too few failures to tell whether they come in bursts.".to_string();
    };
    let stretch = match along {
        Along::Index => format!(
            "runs {}..{}",
            thousands(b.worst_from as u64),
            thousands(b.worst_to as u64)
        ),
        Along::Time => format!("{}..{}", seconds(b.worst_from), seconds(b.worst_to)),
    };
    if b.p < 0.01 {
        format!(
            "Failures come in bursts (χ² = {:.1} on {} df, p = {}): {stretch} failed {:.1}x as often as the campaign overall.",
            b.chi2, b.df, p_value(b.p), b.worst_ratio
        )
    } else {
        format!(
            "No sign of bursts: the rate is consistent with a constant one (χ² = {:.1} on {} df, p = {}).",
            b.chi2, b.df, p_value(b.p)
        )
    }
}

fn p_value(p: f64) -> String {
    if p < 0.0001 {
        "< 0.0001".to_string()
    } else {
        format!("{p:.4}")
    }
}

fn legend(html: &mut Html, data: &ReportData) {
    html.open("div", &[("class", "legend")]);
    for (index, cluster) in data.clusters.iter().enumerate().take(8) {
        html.open("span", &[]);
        cluster_label(html, index);
        html.text(&format!(" {}", line(&cluster.text, 60)));
        html.close("span");
    }
    html.close("div");
}

fn timeline(html: &mut Html, data: &ReportData) {
    let series = &data.series;
    html.element(
        "p",
        &[("class", "muted")],
        "Bars: failure rate per stretch of runs; dashed line: the overall rate; ticks below: \
         each failure, coloured by signature. Hover for counts.",
    );
    if series.failures > 0 {
        legend(html, data);
    }
    html.open("div", &[("class", "charts")]);
    for (along, caption) in [
        (Along::Index, "By run index"),
        (Along::Time, "Over time since the first run"),
    ] {
        html.open("figure", &[]);
        charts::timeline(html, series, along);
        let binned = match along {
            Along::Index => &series.by_index,
            Along::Time => &series.by_time,
        };
        html.element(
            "figcaption",
            &[],
            &format!("{caption}. {}", bursts_note(binned.bursts.as_ref(), along)),
        );
        html.close("figure");
    }
    html.close("div");
    if series.marks_truncated {
        html.element(
            "p",
            &[("class", "note")],
            &format!(
                "Ticks are drawn for the first {} failures; the bars count all of them.",
                thousands(series.marks.len() as u64)
            ),
        );
    }
}

fn durations(html: &mut Html, data: &ReportData) {
    html.open("div", &[("class", "legend")]);
    for (colour, name) in [
        ("background:#8c959f", "passing runs"),
        (
            "background:#cf222e",
            "failing runs (each as a share of its own kind)",
        ),
    ] {
        html.open("span", &[]);
        html.element("span", &[("class", "swatch"), ("style", colour)], "");
        html.text(name);
        html.close("span");
    }
    html.close("div");
    html.open("figure", &[]);
    charts::durations(html, &data.series.durations);
    html.close("figure");
    let mut pass = Vec::new();
    let mut fail = Vec::new();
    for campaign in &data.campaigns {
        pass.push(campaign.summary.pass_durations);
        fail.push(campaign.summary.fail_durations);
    }
    html.open("table", &[]);
    html.open("thead", &[]).open("tr", &[]);
    for name in ["", "runs", "min", "median", "p99", "max"] {
        html.element(
            "th",
            &[("class", if name.is_empty() { "" } else { "num" })],
            name,
        );
    }
    html.close("tr").close("thead").open("tbody", &[]);
    for (name, stats) in [("passing", merge(&pass)), ("failing", merge(&fail))] {
        if stats.count == 0 {
            continue;
        }
        html.open("tr", &[]);
        html.element("td", &[], name);
        html.element("td", &[("class", "num")], &thousands(stats.count));
        for value in [stats.min_s, stats.median_s, stats.p99_s, stats.max_s] {
            html.element("td", &[("class", "num")], &seconds(value));
        }
        html.close("tr");
    }
    html.close("tbody").close("table");
    if data.campaigns.len() > 1 {
        html.element(
            "p",
            &[("class", "note")],
            "Over several campaigns, the median and p99 shown are the largest of the campaigns'.",
        );
    }
}

/// Combine per-campaign duration statistics: exact counts, minimum and maximum; quantiles as
/// the largest of the campaigns' (the runs themselves are not kept).
fn merge(all: &[DurationStats]) -> DurationStats {
    let present: Vec<&DurationStats> = all.iter().filter(|s| s.count > 0).collect();
    if present.len() == 1 {
        return *present[0];
    }
    let mut merged = DurationStats::default();
    for stats in present {
        merged.min_s = if merged.count == 0 {
            stats.min_s
        } else {
            merged.min_s.min(stats.min_s)
        };
        merged.count += stats.count;
        merged.median_s = merged.median_s.max(stats.median_s);
        merged.p99_s = merged.p99_s.max(stats.p99_s);
        merged.max_s = merged.max_s.max(stats.max_s);
    }
    merged
}

fn window(html: &mut Html, data: &ReportData) {
    let Some(record) = &data.window else {
        return;
    };
    let map = &record.map;
    html.open("p", &[]);
    html.text("Sweep ");
    html.element("code", &[], &line(&record.sweep, 200));
    html.text(
        ": failure rate (with its 95% interval) against the measured delay. Shaded: the \
               window, where the rate is above half its peak (dashed); lighter: each edge's \
               uncertainty.",
    );
    html.close("p");
    html.open("figure", &[]);
    charts::window(html, map);
    let jitter = format!(
        "Sender jitter (measured minus requested delay): median {}, p99 {}, max {}; trust the edges to about the p99.",
        seconds(map.jitter.median_s),
        seconds(map.jitter.p99_s),
        seconds(map.jitter.max_s)
    );
    html.element("figcaption", &[], &jitter);
    html.close("figure");
    html.open("details", &[]);
    html.element("summary", &[], "buckets");
    html.open("table", &[]);
    html.open("thead", &[]).open("tr", &[]);
    for name in ["from", "to", "runs", "failures", "rate", "95% interval"] {
        html.element("th", &[("class", "num")], name);
    }
    html.close("tr").close("thead").open("tbody", &[]);
    for bucket in &map.buckets {
        html.open("tr", &[]);
        for value in [
            seconds(bucket.from_s),
            seconds(bucket.to_s),
            thousands(bucket.runs),
            thousands(bucket.failures),
            if bucket.runs == 0 {
                "-".into()
            } else {
                format_rate(bucket.rate.estimate)
            },
            format!(
                "{} .. {}",
                format_rate(bucket.rate.low),
                format_rate(bucket.rate.high)
            ),
        ] {
            html.element("td", &[("class", "num")], &value);
        }
        html.close("tr");
    }
    html.close("tbody").close("table").close("details");
}

fn hunt(html: &mut Html, data: &ReportData) {
    let Some(hunt) = &data.hunt else {
        return;
    };
    html.element(
        "p",
        &[("class", "muted")],
        "Each arm's failure rate with its 95% interval (log scale); an arm that never failed \
         shows the upper bound of its rate. Speedups are over the plain arm.",
    );
    html.open("figure", &[]);
    charts::arms(html, &hunt.arms, hunt.best.as_deref());
    html.close("figure");
    html.open("table", &[("class", "sortable")]);
    html.open("thead", &[]).open("tr", &[]);
    for (name, sort) in [
        ("arm", "text"),
        ("runs", "num"),
        ("failures", "num"),
        ("rate", "num"),
        ("95% interval", "num"),
        ("speedup", "num"),
        ("time", "num"),
    ] {
        let class = if sort == "num" { "num" } else { "" };
        html.element("th", &[("data-sort", sort), ("class", class)], name);
    }
    html.close("tr").close("thead").open("tbody", &[]);
    for arm in &hunt.arms {
        arm_row(html, arm, hunt.best.as_deref());
    }
    html.close("tbody").close("table");
}

fn arm_row(html: &mut Html, arm: &crate::analysis::hunt::ArmResult, best: Option<&str>) {
    html.open("tr", &[]);
    html.open("td", &[]);
    html.element("code", &[], &line(&arm.shake, 200));
    if Some(arm.shake.as_str()) == best {
        html.text(" ")
            .element("span", &[("class", "badge bad")], "best");
    }
    html.close("td");
    html.element("td", &[("class", "num")], &thousands(arm.runs));
    html.element("td", &[("class", "num")], &thousands(arm.failures));
    let key = format!("{:.9}", arm.rate.estimate);
    let rate = if arm.runs == 0 {
        "-".to_string()
    } else {
        format_rate(arm.rate.estimate)
    };
    html.element("td", &[("class", "num"), ("data-key", &key)], &rate);
    let interval = format!(
        "{} .. {}",
        format_rate(arm.rate.low),
        format_rate(arm.rate.high)
    );
    html.element("td", &[("class", "num"), ("data-key", &key)], &interval);
    let speedup = match (arm.speedup, arm.speedup_low) {
        (Some(s), Some(low)) if s.is_finite() => format!("{} (≥ {})", ratio(s), ratio(low)),
        (_, Some(low)) => format!("≥ {}", ratio(low)),
        _ => "-".to_string(),
    };
    let speed_key = format!("{:.6}", arm.speedup_low.unwrap_or(0.0));
    html.element(
        "td",
        &[("class", "num"), ("data-key", &speed_key)],
        &speedup,
    );
    let time_key = format!("{:.3}", arm.elapsed_s);
    html.element(
        "td",
        &[("class", "num"), ("data-key", &time_key)],
        &seconds(arm.elapsed_s),
    );
    html.close("tr");
}

fn campaigns(html: &mut Html, data: &ReportData) {
    html.open("table", &[("class", "sortable")]);
    html.open("thead", &[]).open("tr", &[]);
    for (name, sort) in [
        ("campaign", "text"),
        ("started", "text"),
        ("shake", "text"),
        ("runs", "num"),
        ("failures", "num"),
        ("rate", "num"),
        ("stopped", "text"),
    ] {
        let class = if sort == "num" { "num" } else { "" };
        html.element("th", &[("data-sort", sort), ("class", class)], name);
    }
    html.close("tr").close("thead").open("tbody", &[]);
    for campaign in &data.campaigns {
        let summary = &campaign.summary;
        html.open("tr", &[]);
        html.open("td", &[])
            .element("code", &[], &line(&campaign.row.id, 80))
            .close("td");
        html.element("td", &[], &line(&campaign.row.started_at, 40));
        let shake = campaign
            .arm
            .clone()
            .or_else(|| campaign.shake().map(str::to_string));
        html.element("td", &[], &line(shake.as_deref().unwrap_or("none"), 200));
        html.element("td", &[("class", "num")], &thousands(summary.runs));
        html.element("td", &[("class", "num")], &thousands(summary.failures));
        let key = format!("{:.9}", summary.rate.estimate);
        html.element(
            "td",
            &[("class", "num"), ("data-key", &key)],
            &format_rate(summary.rate.estimate),
        );
        html.element("td", &[], &line(&summary.stop_reason, 200));
        html.close("tr");
    }
    html.close("tbody").close("table");
}

fn failed_runs(html: &mut Html, data: &ReportData) {
    html.open("details", &[]);
    let count = data.failed_runs.len() as u64 + data.failed_runs_left_out;
    html.element(
        "summary",
        &[],
        &format!("{} failed or ignored run(s)", thousands(count)),
    );
    html.open("table", &[("class", "sortable")]);
    html.open("thead", &[]).open("tr", &[]);
    for (name, sort) in [
        ("run", "num"),
        ("started", "text"),
        ("duration", "num"),
        ("verdict", "text"),
        ("ended", "text"),
        ("signature", "num"),
        ("log", "text"),
    ] {
        let class = if name == "duration" { "num" } else { "" };
        html.element("th", &[("data-sort", sort), ("class", class)], name);
    }
    html.close("tr").close("thead").open("tbody", &[]);
    for run in &data.failed_runs {
        html.open("tr", &[]);
        let key = run.run.seq.to_string();
        html.element("td", &[("data-key", &key)], &run_name(data, &run.run));
        html.element("td", &[], &line(&run.run.started_at, 40));
        let key = format!("{:.6}", run.duration_s);
        html.element(
            "td",
            &[("class", "num"), ("data-key", &key)],
            &seconds(run.duration_s),
        );
        let verdict = match &run.kind {
            Some(kind) => format!("{} ({})", run.verdict, kind),
            None => run.verdict.clone(),
        };
        html.element("td", &[], &line(&verdict, 60));
        let ended = match (&run.signal, run.exit_code) {
            (Some(signal), _) => signal.clone(),
            (None, Some(code)) => format!("exit {code}"),
            (None, None) => "-".to_string(),
        };
        html.element("td", &[], &line(&ended, 40));
        let key = run.cluster.map_or(usize::MAX, |c| c).to_string();
        html.open("td", &[("data-key", &key)]);
        if let Some(cluster) = run.cluster {
            cluster_label(html, cluster);
        }
        html.close("td");
        let log = run
            .log
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        html.element("td", &[("class", "mono")], &line(&log, 400));
        html.close("tr");
    }
    html.close("tbody").close("table");
    if data.failed_runs_left_out > 0 {
        html.element(
            "p",
            &[("class", "note")],
            &format!(
                "{} more not listed; `flakehunt show` and `flakehunt log` reach every one.",
                thousands(data.failed_runs_left_out)
            ),
        );
    }
    html.close("details");
}
