//! A bisection's section: the posterior of the leading commits after each probe and over the
//! whole range at the end (SVG), the commits that were probed or lead, and the trail of probes.

use super::line;
use super::markup::Html;
use super::svg::{axes, cluster_colour, num, Frame, Scale};
use crate::report::bisect_report::{commit_line, listed, percent, short};
use crate::report::format::{format_rate, thousands};
use crate::store::report::bisect::BisectData;
use crate::store::report::ReportData;

/// Width of the charts.
const WIDTH: f64 = 1060.0;
/// Commits whose posterior is traced probe by probe.
const TRACED: usize = 6;
/// Probes listed one by one.
const MAX_PROBES: usize = 2_000;
/// Smallest posterior drawn as a bar, as a share of the highest.
const MIN_BAR: f64 = 0.002;

/// The section.
pub fn section(html: &mut Html, data: &ReportData) {
    let Some(bisection) = &data.bisect else {
        return;
    };
    intro(html, bisection);
    if !bisection.probes.is_empty() {
        html.open("figure", &[]);
        let traced = traced(bisection);
        posterior_by_probe(html, bisection, &traced);
        html.open("figcaption", &[]);
        html.text(
            "Posterior that each commit introduced the failure, after each probe (the leading \
             commits; a gap: not among the five leading then). Dashed: the confidence asked. \
             Ticks below: each probe, red where the target failed, hollow where the commit \
             could not be tested.",
        );
        html.close("figcaption");
        html.close("figure");
        legend(html, bisection, &traced);
    }
    if bisection.commits.len() > 1 {
        html.open("figure", &[]);
        posterior_by_commit(html, bisection);
        html.element(
            "figcaption",
            &[],
            "The posterior over the range at the end, good commit on the left; ticks below: \
             commits with runs (red: the target failed there).",
        );
        html.close("figure");
    }
    commits_table(html, bisection);
    probes_table(html, bisection);
}

fn intro(html: &mut Html, bisection: &BisectData) {
    html.open("dl", &[("class", "facts")]);
    let fact = |html: &mut Html, name: &str, value: &str| {
        html.element("dt", &[], name);
        html.element("dd", &[], value);
    };
    fact(
        html,
        "Range",
        &format!(
            "{}..{} ({} commits after the good one)",
            short(&line(&bisection.good, 64)),
            short(&line(&bisection.bad, 64)),
            thousands(bisection.commits.len().saturating_sub(1) as u64)
        ),
    );
    fact(html, "Repository", &line(&bisection.repo, 400));
    if let Some(build) = &bisection.build {
        fact(html, "Build", &line(build, 400));
    }
    let target = match &bisection.target {
        Some(target) => format!("{} {}", line(&target.id, 16), line(&target.text, 300)),
        None => "not known yet (it never failed at the bad commit)".to_string(),
    };
    fact(html, "Target", &target);
    if let Some(rate) = bisection.rate {
        fact(
            html,
            "Rate",
            &format!(
                "{} where the failure is present (posterior mean)",
                format_rate(rate)
            ),
        );
    }
    let runs: u64 = bisection.probes.iter().map(|p| p.runs).sum();
    fact(
        html,
        "Probes",
        &format!(
            "{} probes, {} runs; status {}",
            thousands(bisection.probes.len() as u64),
            thousands(runs),
            line(&bisection.status, 40)
        ),
    );
    html.close("dl");
}

/// The commits traced probe by probe: the final leader first, then every commit that led
/// after some probe, then the strongest others, at most [`TRACED`].
fn traced(bisection: &BisectData) -> Vec<String> {
    // Each candidate: its highest posterior, and whether it led after some probe.
    let mut seen: Vec<(String, f64, bool)> = Vec::new();
    for probe in &bisection.probes {
        for (rank, candidate) in probe.posterior.iter().enumerate() {
            let index = match seen.iter().position(|(c, _, _)| *c == candidate.commit) {
                Some(index) => index,
                None => {
                    seen.push((candidate.commit.clone(), 0.0, false));
                    seen.len() - 1
                }
            };
            seen[index].1 = seen[index].1.max(candidate.probability);
            seen[index].2 |= rank == 0;
        }
    }
    let last_leader = bisection
        .probes
        .iter()
        .rev()
        .find_map(|p| p.posterior.first())
        .map(|c| c.commit.clone());
    let is_last = |commit: &String| Some(commit) == last_leader.as_ref();
    seen.sort_by(|a, b| {
        is_last(&b.0)
            .cmp(&is_last(&a.0))
            .then(b.2.cmp(&a.2))
            .then(b.1.total_cmp(&a.1))
    });
    seen.into_iter().take(TRACED).map(|(c, _, _)| c).collect()
}

fn target_failures(bisection: &BisectData, probe: &crate::analysis::bisect::ProbeRecord) -> u64 {
    let Some(target) = &bisection.target else {
        return 0;
    };
    probe
        .signatures
        .iter()
        .filter(|s| s.id == target.id)
        .map(|s| s.count)
        .sum()
}

fn posterior_by_probe(html: &mut Html, bisection: &BisectData, traced: &[String]) {
    let frame = Frame::new(WIDTH, 260.0, 56.0);
    let probes = bisection.probes.len();
    let x = Scale::linear(0.5, probes as f64 + 0.5, frame.left, frame.right);
    let y = Scale::linear(0.0, 1.0, frame.bottom - 16.0, frame.top);
    frame.open(html, "Posterior of the leading commits after each probe");
    let xticks: Vec<f64> = x
        .ticks(10)
        .into_iter()
        .filter(|t| t.fract() == 0.0 && *t >= 1.0)
        .collect();
    axes(
        html,
        &frame,
        (&x, &xticks, &|v: f64| format!("{}", v as u64)),
        (&y, &[0.0, 0.25, 0.5, 0.75, 1.0], &|v: f64| format_rate(v)),
    );
    if let Some(confidence) = bisection.confidence {
        let at = num(y.at(confidence));
        let (left, right) = (num(frame.left), num(frame.right));
        html.void(
            "line",
            &[
                ("class", "mean"),
                ("x1", &left),
                ("x2", &right),
                ("y1", &at),
                ("y2", &at),
            ],
        );
    }
    for (i, commit) in traced.iter().enumerate() {
        trace(html, bisection, commit, cluster_colour(Some(i)), (&x, &y));
    }
    probe_ticks(html, bisection, &x, &frame);
    html.close("svg");
}

/// One tick per probe below the plot: red where the target failed, grey where it did not,
/// hollow where the commit could not be tested.
fn probe_ticks(html: &mut Html, bisection: &BisectData, x: &Scale, frame: &Frame) {
    let probes = bisection.probes.len();
    for (k, probe) in bisection.probes.iter().enumerate() {
        let at = x.at(k as f64 + 1.0);
        let failed = target_failures(bisection, probe);
        let (class, height) = match (&probe.untestable, failed) {
            (Some(_), _) => ("hollow", 8.0),
            (None, 0) => ("pass", 8.0),
            (None, _) => ("fail", 10.0),
        };
        let tip = match &probe.untestable {
            Some(why) => format!(
                "probe {} at {}: untestable: {}",
                k + 1,
                short(&probe.commit),
                line(why, 200)
            ),
            None => format!(
                "probe {} at {}: {} runs, {} target failure(s)",
                k + 1,
                short(&probe.commit),
                thousands(probe.runs),
                thousands(failed)
            ),
        };
        let width = ((frame.right - frame.left) / probes as f64 * 0.6).clamp(1.5, 8.0);
        html.open(
            "rect",
            &[
                ("class", class),
                ("x", &num(at - width / 2.0)),
                ("y", &num(frame.bottom - height)),
                ("width", &num(width)),
                ("height", &num(height)),
            ],
        );
        html.element("title", &[], &tip);
        html.close("rect");
    }
}

/// One commit's posterior after each probe: a line through the probes where it was among the
/// leading candidates, a dot with its value at each.
fn trace(
    html: &mut Html,
    bisection: &BisectData,
    commit: &str,
    colour: &str,
    (x, y): (&Scale, &Scale),
) {
    let style = format!("stroke:{colour}");
    let name = bisection
        .commit(commit)
        .map_or_else(|| short(commit).to_string(), |(_, c)| commit_line(c));
    let mut run: Vec<String> = Vec::new();
    let mut dots = Vec::new();
    let flush = |html: &mut Html, run: &mut Vec<String>| {
        if run.len() > 1 {
            html.void(
                "polyline",
                &[
                    ("class", "trace"),
                    ("style", &style),
                    ("points", &run.join(" ")),
                ],
            );
        }
        run.clear();
    };
    for (k, probe) in bisection.probes.iter().enumerate() {
        match probe.posterior.iter().find(|c| c.commit == commit) {
            Some(candidate) => {
                let (px, py) = (x.at(k as f64 + 1.0), y.at(candidate.probability));
                run.push(format!("{},{}", num(px), num(py)));
                dots.push((k, px, py, candidate.probability));
            }
            None => flush(html, &mut run),
        }
    }
    flush(html, &mut run);
    let fill = format!("fill:{colour}");
    for (k, px, py, probability) in dots {
        html.open(
            "circle",
            &[
                ("cx", &num(px)),
                ("cy", &num(py)),
                ("r", "2.6"),
                ("style", &fill),
            ],
        );
        html.element(
            "title",
            &[],
            &format!("after probe {}: {name} at {}", k + 1, percent(probability)),
        );
        html.close("circle");
    }
}

fn legend(html: &mut Html, bisection: &BisectData, traced: &[String]) {
    html.open("div", &[("class", "legend")]);
    for (i, commit) in traced.iter().enumerate() {
        html.open("span", &[]);
        let style = format!("background:{}", cluster_colour(Some(i)));
        html.element("span", &[("class", "swatch"), ("style", &style)], "");
        let name = bisection
            .commit(commit)
            .map_or_else(|| short(commit).to_string(), |(_, c)| commit_line(c));
        html.text(&name);
        html.close("span");
    }
    html.close("div");
}

fn posterior_by_commit(html: &mut Html, bisection: &BisectData) {
    let frame = Frame::new(WIDTH, 220.0, 56.0);
    let count = bisection.commits.len();
    let x = Scale::linear(0.0, count as f64, frame.left, frame.right);
    let peak = bisection
        .commits
        .iter()
        .map(|c| c.posterior)
        .fold(0.0, f64::max);
    let y = Scale::linear(
        0.0,
        (peak * 1.1).clamp(0.01, 1.0),
        frame.bottom - 14.0,
        frame.top,
    );
    frame.open(html, "Posterior over the range");
    let xticks: Vec<f64> = x
        .ticks(10)
        .into_iter()
        .filter(|t| t.fract() == 0.0 && *t < count as f64)
        .map(|t| t + 0.5)
        .collect();
    axes(
        html,
        &frame,
        (&x, &xticks, &|v: f64| format!("{}", v.floor() as u64)),
        (&y, &y.ticks(4), &|v: f64| format_rate(v)),
    );
    let culprit = bisection.decision.as_ref().and_then(|d| d.commit);
    for (i, commit) in bisection.commits.iter().enumerate() {
        let (x0, x1) = (x.at(i as f64), x.at(i as f64 + 1.0));
        let tip = format!(
            "{} ({i}): posterior {}; {} runs, {} target failure(s), {} clean",
            commit_line(commit),
            percent(commit.posterior),
            thousands(commit.runs),
            thousands(commit.failures),
            thousands(commit.clean)
        );
        // Bars far below a pixel are left out: a long range stays a small page.
        if commit.posterior > peak * MIN_BAR {
            let (top, base) = (y.at(commit.posterior), y.at(0.0));
            let class = if Some(i) == culprit { "best" } else { "fail" };
            html.open(
                "rect",
                &[
                    ("class", class),
                    ("x", &num(x0 + 0.3)),
                    ("y", &num(top.min(base - 1.0))),
                    ("width", &num((x1 - x0 - 0.6).max(1.0))),
                    ("height", &num((base - top).max(1.0))),
                ],
            );
            html.element("title", &[], &tip);
            html.close("rect");
        }
        if commit.runs > 0 || commit.untestable.is_some() {
            let class = match (&commit.untestable, commit.failures) {
                (Some(_), _) => "hollow",
                (None, 0) => "pass",
                (None, _) => "fail",
            };
            let middle = (x0 + x1) / 2.0;
            html.open(
                "rect",
                &[
                    ("class", class),
                    ("x", &num(middle - 2.0)),
                    ("y", &num(frame.bottom - 8.0)),
                    ("width", "4"),
                    ("height", "8"),
                ],
            );
            html.element("title", &[], &tip);
            html.close("rect");
        }
    }
    html.close("svg");
}

fn commits_table(html: &mut Html, bisection: &BisectData) {
    let shown = listed(bisection);
    html.open("table", &[("class", "sortable")]);
    html.open("thead", &[]).open("tr", &[]);
    for (name, sort) in [
        ("#", "num"),
        ("commit", "text"),
        ("runs", "num"),
        ("target", "num"),
        ("clean", "num"),
        ("other", "num"),
        ("posterior", "num"),
        ("subject", "text"),
    ] {
        let class = if sort == "num" { "num" } else { "" };
        html.element("th", &[("data-sort", sort), ("class", class)], name);
    }
    html.close("tr").close("thead").open("tbody", &[]);
    let last = bisection.commits.len().saturating_sub(1);
    let culprit = bisection.decision.as_ref().and_then(|d| d.commit);
    for (i, commit) in &shown {
        html.open("tr", &[]);
        html.element("td", &[("class", "num")], &i.to_string());
        html.open("td", &[]);
        html.element("code", &[], &line(short(&commit.hash), 12));
        for (flag, text, tone) in [
            (*i == 0, "good", "badge good"),
            (*i == last, "bad", "badge warn"),
            (Some(*i) == culprit, "culprit", "badge bad"),
            (commit.untestable.is_some(), "untestable", "badge"),
        ] {
            if flag {
                html.text(" ").element("span", &[("class", tone)], text);
            }
        }
        html.close("td");
        for value in [commit.runs, commit.failures, commit.clean, commit.other] {
            html.element("td", &[("class", "num")], &thousands(value));
        }
        let key = format!("{:.9}", commit.posterior);
        html.element(
            "td",
            &[("class", "num"), ("data-key", &key)],
            &percent(commit.posterior),
        );
        let title = format!("{} {}", line(&commit.author, 120), line(&commit.date, 40));
        html.element(
            "td",
            &[("title", &title)],
            &line(&commit.subject, super::sections::CELL_CHARS),
        );
        html.close("tr");
    }
    html.close("tbody").close("table");
    let hidden = bisection.commits.len() - shown.len();
    if hidden > 0 {
        html.element(
            "p",
            &[("class", "note")],
            &format!(
                "{} commits never probed and below {} not listed.",
                thousands(hidden as u64),
                percent(crate::report::bisect_report::POSTERIOR_SHOWN)
            ),
        );
    }
}

fn probes_table(html: &mut Html, bisection: &BisectData) {
    if bisection.probes.is_empty() {
        return;
    }
    html.open("details", &[]);
    html.element(
        "summary",
        &[],
        &format!(
            "the trail: {} probe(s), with the leading candidate after each",
            thousands(bisection.probes.len() as u64)
        ),
    );
    html.open("table", &[("class", "sortable")]);
    html.open("thead", &[]).open("tr", &[]);
    for (name, sort) in [
        ("probe", "num"),
        ("commit", "text"),
        ("campaign", "text"),
        ("runs", "num"),
        ("target", "num"),
        ("other", "num"),
        ("leading after it", "text"),
        ("its posterior", "num"),
    ] {
        let class = if sort == "num" { "num" } else { "" };
        html.element("th", &[("data-sort", sort), ("class", class)], name);
    }
    html.close("tr").close("thead").open("tbody", &[]);
    for probe in bisection.probes.iter().take(MAX_PROBES) {
        let failed = target_failures(bisection, probe);
        let all: u64 = probe.signatures.iter().map(|s| s.count).sum();
        html.open("tr", &[]);
        html.element("td", &[("class", "num")], &(probe.seq + 1).to_string());
        let position = bisection
            .commit(&probe.commit)
            .map_or_else(|| "?".to_string(), |(i, _)| i.to_string());
        html.open("td", &[]);
        html.element("code", &[], &line(short(&probe.commit), 12));
        html.text(&format!(" ({position})"));
        html.close("td");
        match &probe.untestable {
            Some(why) => {
                html.element("td", &[], &format!("untestable: {}", line(why, 200)));
            }
            None => {
                let campaign = probe.campaign.as_deref().unwrap_or("-");
                html.open("td", &[]);
                html.element("code", &[], &line(campaign, 80));
                html.close("td");
            }
        }
        html.element("td", &[("class", "num")], &thousands(probe.runs));
        html.element("td", &[("class", "num")], &thousands(failed));
        html.element(
            "td",
            &[("class", "num")],
            &thousands(all.saturating_sub(failed)),
        );
        match probe.posterior.first() {
            Some(best) => {
                let name = bisection
                    .commit(&best.commit)
                    .map_or_else(|| short(&best.commit).to_string(), |(_, c)| commit_line(c));
                html.element("td", &[], &name);
                let key = format!("{:.9}", best.probability);
                html.element(
                    "td",
                    &[("class", "num"), ("data-key", &key)],
                    &percent(best.probability),
                );
            }
            None => {
                html.element("td", &[], "(measuring the bad commit)");
                html.element("td", &[("class", "num"), ("data-key", "0")], "-");
            }
        }
        html.close("tr");
    }
    html.close("tbody").close("table");
    if bisection.probes.len() > MAX_PROBES {
        html.element(
            "p",
            &[("class", "note")],
            &format!(
                "{} more probes not listed; `flakehunt bisect --json` has them all.",
                thousands((bisection.probes.len() - MAX_PROBES) as u64)
            ),
        );
    }
    html.close("details");
}
