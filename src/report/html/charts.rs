//! The report's charts as inline SVG: failures over run index and over time, duration
//! distributions of passing and failing runs, a window sweep's curve, a hunt's arms, and
//! sightings per period. Every label that comes from data is escaped by the writer.

use std::time::Duration;

use super::markup::Html;
use super::svg::{axes, cluster_colour, num, Frame, Scale};
use crate::analysis::hunt::ArmResult;
use crate::analysis::series::{Binned, DurationHistogram, RunSeries};
use crate::analysis::window::WindowMap;
use crate::report::format::{compact_duration, format_rate, thousands};

/// Width of every full-size chart.
const WIDTH: f64 = 1060.0;

/// Which axis a timeline runs along.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Along {
    /// Run index.
    Index,
    /// Seconds since the first run.
    Time,
}

fn seconds(value: f64) -> String {
    if value <= 0.0 {
        return "0".to_string();
    }
    compact_duration(Duration::from_secs_f64(value))
}

fn percent(value: f64) -> String {
    format_rate(value)
}

/// Failure rate per bin as bars, the overall rate as a dashed line, and one tick per failure
/// below the axis, coloured by its cluster.
pub fn timeline(html: &mut Html, series: &RunSeries, along: Along) {
    let binned: &Binned = match along {
        Along::Index => &series.by_index,
        Along::Time => &series.by_time,
    };
    let frame = Frame::new(WIDTH, 220.0, 56.0);
    let span = match along {
        Along::Index => series.runs as f64,
        Along::Time => series.span_s.max(binned.width * binned.bins.len() as f64),
    };
    let x = Scale::linear(0.0, span.max(1.0), frame.left, frame.right);
    let peak = binned
        .bins
        .iter()
        .filter(|b| b.runs > 0)
        .map(|b| b.failures as f64 / b.runs as f64)
        .fold(0.0, f64::max);
    let y = Scale::linear(0.0, (peak * 1.1).max(1e-6), frame.bottom - 14.0, frame.top);
    let label = match along {
        Along::Index => "Failure rate by run index",
        Along::Time => "Failure rate over time",
    };
    frame.open(html, label);
    let xlabel: &dyn Fn(f64) -> String = match along {
        Along::Index => &|v: f64| thousands(v.round() as u64),
        Along::Time => &seconds,
    };
    axes(
        html,
        &frame,
        (&x, &x.ticks(8), xlabel),
        (&y, &y.ticks(4), &percent),
    );
    for (i, bin) in binned.bins.iter().enumerate() {
        if bin.failures == 0 {
            continue;
        }
        let from = i as f64 * binned.width;
        let rate = bin.failures as f64 / bin.runs as f64;
        let (x0, x1) = (x.at(from), x.at(from + binned.width));
        let tip = match along {
            Along::Index => format!(
                "runs {}..{}: {} of {} failed ({})",
                thousands(from as u64),
                thousands((from + binned.width) as u64),
                bin.failures,
                bin.runs,
                format_rate(rate)
            ),
            Along::Time => format!(
                "{}..{}: {} of {} failed ({})",
                seconds(from),
                seconds(from + binned.width),
                bin.failures,
                bin.runs,
                format_rate(rate)
            ),
        };
        bar(html, (x0, x1), (y.at(rate), y.at(0.0)), "fail", &tip);
    }
    if series.runs > 0 {
        let mean = y.at(series.failures as f64 / series.runs as f64);
        let (left, right, at) = (num(frame.left), num(frame.right), num(mean));
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
    for mark in &series.marks {
        let position = match along {
            Along::Index => mark.seq as f64 + 0.5,
            Along::Time => mark.at_s,
        };
        let at = num(x.at(position));
        let (y0, y1) = (num(frame.bottom - 10.0), num(frame.bottom - 1.0));
        html.void(
            "line",
            &[
                ("x1", &at),
                ("x2", &at),
                ("y1", &y0),
                ("y2", &y1),
                ("stroke", cluster_colour(mark.cluster)),
                ("stroke-width", "1.5"),
            ],
        );
    }
    html.close("svg");
}

/// One bar with a native tooltip.
fn bar(html: &mut Html, (x0, x1): (f64, f64), (top, base): (f64, f64), class: &str, tip: &str) {
    let width = num((x1 - x0 - 0.6).max(1.0));
    let height = num((base - top).max(1.0));
    let (x, y) = (num(x0 + 0.3), num(base - (base - top).max(1.0)));
    html.open(
        "rect",
        &[
            ("class", class),
            ("x", &x),
            ("y", &y),
            ("width", &width),
            ("height", &height),
        ],
    );
    html.element("title", &[], tip);
    html.close("rect");
}

/// Shares of passing and failing runs per duration bin (log scale), side by side.
pub fn durations(html: &mut Html, histogram: &DurationHistogram) {
    let frame = Frame::new(WIDTH, 220.0, 56.0);
    let edges = &histogram.edges;
    let (first, last) = (edges[0], edges[edges.len() - 1]);
    let x = Scale::log(first, last, frame.left, frame.right);
    let pass_total: u64 = histogram.pass.iter().sum();
    let fail_total: u64 = histogram.fail.iter().sum();
    let share = |count: u64, total: u64| {
        if total == 0 {
            0.0
        } else {
            count as f64 / total as f64
        }
    };
    let peak = (0..histogram.pass.len())
        .map(|i| share(histogram.pass[i], pass_total).max(share(histogram.fail[i], fail_total)))
        .fold(0.0, f64::max);
    let y = Scale::linear(0.0, (peak * 1.1).max(0.01), frame.bottom, frame.top);
    frame.open(html, "Run durations of passing and failing runs");
    let mut xticks = x.ticks(8);
    if xticks.len() < 2 {
        xticks = vec![first, last];
    }
    axes(
        html,
        &frame,
        (&x, &xticks, &seconds),
        (&y, &y.ticks(4), &percent),
    );
    for i in 0..histogram.pass.len() {
        let (x0, x1) = (x.at(edges[i]), x.at(edges[i + 1]));
        let middle = (x0 + x1) / 2.0;
        let range = format!("{}..{}", seconds(edges[i]), seconds(edges[i + 1]));
        for (count, total, class, side, what) in [
            (
                histogram.pass[i],
                pass_total,
                "pass",
                (x0, middle),
                "passing",
            ),
            (
                histogram.fail[i],
                fail_total,
                "fail",
                (middle, x1),
                "failing",
            ),
        ] {
            if count == 0 {
                continue;
            }
            let value = share(count, total);
            let tip = format!("{range}: {count} {what} run(s), {}", format_rate(value));
            bar(html, side, (y.at(value), y.at(0.0)), class, &tip);
        }
    }
    html.close("svg");
}

/// The sweep: failure rate per delay bucket with its interval, the window shaded, its edges'
/// uncertainty lighter, and the half-peak line the edges are read at.
pub fn window(html: &mut Html, map: &WindowMap) {
    let frame = Frame::new(WIDTH, 260.0, 56.0);
    let (Some(first), Some(last)) = (map.buckets.first(), map.buckets.last()) else {
        return;
    };
    let x = Scale::linear(first.from_s, last.to_s, frame.left, frame.right);
    let top = map
        .buckets
        .iter()
        .filter(|b| b.runs > 0)
        .map(|b| b.rate.high)
        .fold(0.0, f64::max);
    let y = Scale::linear(0.0, top.max(0.05), frame.bottom, frame.top);
    frame.open(html, "Failure rate against the measured delay");
    if let Some(window) = &map.window {
        for (edge, _) in [(&window.start, 0), (&window.end, 1)] {
            let (x0, x1) = (
                x.at(edge.at_s - edge.uncertainty_s),
                x.at(edge.at_s + edge.uncertainty_s),
            );
            rect(html, (x0, x1), (frame.top, frame.bottom), "edge");
        }
        let (x0, x1) = (x.at(window.start.at_s), x.at(window.end.at_s));
        rect(html, (x0, x1), (frame.top, frame.bottom), "window");
        let half = num(y.at(window.peak_rate / 2.0));
        let (left, right) = (num(frame.left), num(frame.right));
        html.void(
            "line",
            &[
                ("class", "mean"),
                ("x1", &left),
                ("x2", &right),
                ("y1", &half),
                ("y2", &half),
            ],
        );
    }
    axes(
        html,
        &frame,
        (&x, &x.ticks(8), &seconds),
        (&y, &y.ticks(5), &percent),
    );
    let mut points = Vec::new();
    for bucket in map.buckets.iter().filter(|b| b.runs > 0) {
        let centre = x.at((bucket.from_s + bucket.to_s) / 2.0);
        let (low, high) = (num(y.at(bucket.rate.low)), num(y.at(bucket.rate.high)));
        let cx = num(centre);
        html.void(
            "line",
            &[
                ("class", "whisker"),
                ("x1", &cx),
                ("x2", &cx),
                ("y1", &low),
                ("y2", &high),
            ],
        );
        points.push(format!("{},{}", cx, num(y.at(bucket.rate.estimate))));
        let tip = format!(
            "{}..{}: {} of {} failed, {} (95% {}..{})",
            seconds(bucket.from_s),
            seconds(bucket.to_s),
            bucket.failures,
            bucket.runs,
            format_rate(bucket.rate.estimate),
            format_rate(bucket.rate.low),
            format_rate(bucket.rate.high)
        );
        let cy = num(y.at(bucket.rate.estimate));
        html.open(
            "circle",
            &[("cx", &cx), ("cy", &cy), ("r", "3.2"), ("class", "fail")],
        );
        html.element("title", &[], &tip);
        html.close("circle");
    }
    let joined = points.join(" ");
    html.void("polyline", &[("class", "curve"), ("points", &joined)]);
    html.close("svg");
}

fn rect(html: &mut Html, (x0, x1): (f64, f64), (top, bottom): (f64, f64), class: &str) {
    let (x, y) = (num(x0.min(x1)), num(top));
    let (width, height) = (num((x1 - x0).abs().max(1.0)), num(bottom - top));
    html.void(
        "rect",
        &[
            ("class", class),
            ("x", &x),
            ("y", &y),
            ("width", &width),
            ("height", &height),
        ],
    );
}

/// A hunt's arms: each arm's rate with its interval on a log scale (an arm that never failed
/// shows its upper bound as a bar), the best arm in green.
pub fn arms(html: &mut Html, arms: &[ArmResult], best: Option<&str>) {
    let row = 30.0;
    let height = 44.0 + row * arms.len() as f64;
    let mut frame = Frame::new(WIDTH, height, 250.0);
    frame.top = 8.0;
    let lowest = arms
        .iter()
        .filter(|arm| arm.runs > 0)
        .map(|arm| {
            if arm.rate.low > 0.0 {
                arm.rate.low
            } else {
                arm.rate.high
            }
        })
        .fold(1.0, f64::min);
    let floor = 10f64.powf(lowest.max(1e-9).log10().floor());
    let x = Scale::log(floor, 1.0, frame.left, frame.right);
    let y = Scale::linear(0.0, 1.0, frame.bottom, frame.top);
    frame.open(html, "Failure rate of each hunt arm");
    axes(
        html,
        &frame,
        (&x, &x.ticks(8), &percent),
        (&y, &[], &percent),
    );
    for (i, arm) in arms.iter().enumerate() {
        let middle = frame.top + row * (i as f64 + 0.5);
        let label_y = num(middle + 4.0);
        let label_x = num(frame.left - 10.0);
        let label = crate::text::escape_line(arm.shake.as_bytes(), 36);
        html.element(
            "text",
            &[("x", &label_x), ("y", &label_y), ("text-anchor", "end")],
            &label,
        );
        if arm.runs == 0 {
            continue;
        }
        let class = if Some(arm.shake.as_str()) == best {
            "best"
        } else {
            "fail"
        };
        let (low, high) = (x.at(arm.rate.low), x.at(arm.rate.high));
        let tip = format!(
            "{}: {} of {} runs failed, {} (95% {}..{})",
            label,
            arm.failures,
            arm.runs,
            format_rate(arm.rate.estimate),
            format_rate(arm.rate.low),
            format_rate(arm.rate.high)
        );
        let (y0, y1) = (num(middle), num(middle));
        html.void(
            "line",
            &[
                ("class", "whisker"),
                ("x1", &num(low)),
                ("x2", &num(high)),
                ("y1", &y0),
                ("y2", &y1),
            ],
        );
        if arm.failures > 0 {
            html.open(
                "circle",
                &[
                    ("cx", &num(x.at(arm.rate.estimate))),
                    ("cy", &y0),
                    ("r", "5"),
                    ("class", class),
                ],
            );
        } else {
            html.open(
                "rect",
                &[
                    ("x", &num(high - 2.0)),
                    ("y", &num(middle - 6.0)),
                    ("width", "4"),
                    ("height", "12"),
                    ("class", "pass"),
                ],
            );
        }
        html.element("title", &[], &tip);
        html.close(if arm.failures > 0 { "circle" } else { "rect" });
    }
    html.close("svg");
}

/// Sightings per period as small bars under their period labels.
pub fn periods(html: &mut Html, labels: &[String], counts: &[u64], label: &str) {
    let frame = Frame::new(WIDTH, 120.0, 40.0);
    let slots = counts.len().max(1) as f64;
    let x = Scale::linear(0.0, slots, frame.left, frame.right);
    let peak = counts.iter().copied().max().unwrap_or(0).max(1) as f64;
    let y = Scale::linear(0.0, peak, frame.bottom, frame.top);
    frame.open(html, label);
    let ticks: Vec<f64> = {
        let every = (counts.len() / 8).max(1);
        (0..counts.len())
            .step_by(every)
            .map(|i| i as f64 + 0.5)
            .collect()
    };
    let label_of = |v: f64| {
        labels
            .get(v.floor() as usize)
            .map(|l| crate::text::escape_line(l.as_bytes(), 12))
            .unwrap_or_default()
    };
    let count_label = |v: f64| format!("{}", v.round() as u64);
    let yticks: Vec<f64> = if peak <= 4.0 {
        (0..=peak as u64).map(|v| v as f64).collect()
    } else {
        y.ticks(3)
    };
    axes(
        html,
        &frame,
        (&x, &ticks, &label_of),
        (&y, &yticks, &count_label),
    );
    for (i, &count) in counts.iter().enumerate() {
        if count == 0 {
            continue;
        }
        let period = labels.get(i).map(String::as_str).unwrap_or("");
        let tip = format!(
            "{}: {count} sighting(s)",
            crate::text::escape_line(period.as_bytes(), 40)
        );
        bar(
            html,
            (x.at(i as f64), x.at(i as f64 + 1.0)),
            (y.at(count as f64), y.at(0.0)),
            "fail",
            &tip,
        );
    }
    html.close("svg");
}
