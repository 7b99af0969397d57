//! The window view of `flakehunt window`: the failure-rate histogram against the measured
//! delay, the window's edges, the sender's jitter and the line announcing each phase, as text
//! or one JSON object.

use std::fmt::Write;
use std::time::Duration;

use crate::analysis::window::{Edge, WindowMap};
use crate::report::compact_duration;
use crate::report::format::format_rate;

/// A finished sweep, as reported.
#[derive(Debug, Clone)]
pub struct WindowView {
    /// The sweep as the user gave it (`sleep 0us..20ms`).
    pub sweep: String,
    /// Campaign ids of the phases that ran.
    pub campaigns: Vec<String>,
    /// Runs sampled over all phases.
    pub runs: usize,
    /// The estimated map.
    pub map: WindowMap,
}

/// One phase about to start, as announced on stderr.
#[derive(Debug, Clone, Copy)]
pub struct Phase {
    /// 1-based phase number.
    pub number: usize,
    /// Phases in the sweep.
    pub of: usize,
    /// Runs planned, or `None` when a time budget ends the phase.
    pub runs: Option<u64>,
    /// Delays tried.
    pub delays: usize,
    /// Smallest delay of the sweep.
    pub from: Duration,
    /// Largest delay of the sweep.
    pub to: Duration,
}

/// Width of a bar at a failure rate of 100%.
const BAR_WIDTH: f64 = 40.0;

/// The sweep as one JSON object (written on one line).
pub fn json(view: &WindowView) -> serde_json::Value {
    let map = &view.map;
    serde_json::json!({
        "sweep": view.sweep,
        "campaigns": view.campaigns,
        "runs": view.runs,
        "buckets": map.buckets,
        "window": map.window.as_ref().map(|w| serde_json::json!({
            "start_s": w.start.at_s,
            "start_uncertainty_s": w.start.uncertainty_s,
            "start_open": w.start.open,
            "end_s": w.end.at_s,
            "end_uncertainty_s": w.end.uncertainty_s,
            "end_open": w.end.open,
            "peak_rate": w.peak_rate,
        })),
        "jitter": map.jitter,
    })
}

/// The sweep for a terminal or a log: histogram, window and jitter.
pub fn text(view: &WindowView) -> String {
    let mut out = String::new();
    let _ = render_into(&mut out, view);
    out
}

/// The line announcing a phase (without a newline).
pub fn phase_line(phase: &Phase) -> String {
    format!(
        "window: phase {} of {}, {} runs over {} delays from {} to {}",
        phase.number,
        phase.of,
        phase
            .runs
            .map_or_else(|| "timed".to_string(), |runs| runs.to_string()),
        phase.delays,
        compact_duration(phase.from),
        compact_duration(phase.to)
    )
}

fn render_into(out: &mut String, view: &WindowView) -> std::fmt::Result {
    let map = &view.map;
    let runs = view.runs;
    writeln!(
        out,
        "{:>10} {:>10}  {:>6} {:>6}  {:>8}  {:>17}  failure rate",
        "from", "to", "runs", "fails", "rate", "95% interval"
    )?;
    for bucket in &map.buckets {
        let bar = "#".repeat((bucket.rate.estimate * BAR_WIDTH).round() as usize);
        writeln!(
            out,
            "{:>10} {:>10}  {:>6} {:>6}  {:>8}  {:>8}..{:<8}  {bar}",
            seconds(bucket.from_s),
            seconds(bucket.to_s),
            bucket.runs,
            bucket.failures,
            if bucket.runs == 0 {
                "-".into()
            } else {
                format_rate(bucket.rate.estimate)
            },
            format_rate(bucket.rate.low),
            format_rate(bucket.rate.high),
        )?;
    }
    match &map.window {
        Some(window) => {
            let start = if window.start.open {
                format!("at or before {}", seconds(window.start.at_s))
            } else {
                plus_minus(&window.start)
            };
            let end = if window.end.open {
                format!("at or after {} (widen the sweep)", seconds(window.end.at_s))
            } else {
                plus_minus(&window.end)
            };
            writeln!(
                out,
                "\nwindow: failures from {start} to {end}; peak rate {} ({runs} runs)",
                format_rate(window.peak_rate)
            )?;
        }
        None => writeln!(
            out,
            "\nno failure in {runs} runs: no window found in this range"
        )?,
    }
    writeln!(
        out,
        "sender jitter (measured minus requested delay): median {}, p99 {}, max {}; trust edges to about the p99",
        seconds(map.jitter.median_s),
        seconds(map.jitter.p99_s),
        seconds(map.jitter.max_s)
    )
}

/// A delay in seconds as a compact duration (negative rounding noise shows as 0).
fn seconds(s: f64) -> String {
    compact_duration(Duration::from_secs_f64(s.max(0.0)))
}

fn plus_minus(edge: &Edge) -> String {
    format!("{} ± {}", seconds(edge.at_s), seconds(edge.uncertainty_s))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::stats::Interval;
    use crate::analysis::window::{Bucket, Jitter, Window};

    fn bucket(i: u64, runs: u64, failures: u64, low: f64, high: f64) -> Bucket {
        Bucket {
            from_s: i as f64 * 0.002,
            to_s: (i + 1) as f64 * 0.002,
            runs,
            failures,
            rate: Interval {
                estimate: if runs == 0 {
                    0.0
                } else {
                    failures as f64 / runs as f64
                },
                low,
                high,
            },
        }
    }

    /// Five buckets of 2 ms: failures between about 2 and 6 ms, one bucket never reached.
    fn view(window: Option<Window>) -> WindowView {
        WindowView {
            sweep: "sleep 0us..10ms".into(),
            campaigns: vec![
                "20261130-122000-00000000deadbeef".into(),
                "20261130-122005-00000000feedface".into(),
            ],
            runs: 80,
            map: WindowMap {
                buckets: vec![
                    bucket(0, 20, 0, 0.0, 0.168),
                    bucket(1, 20, 9, 0.231, 0.685),
                    bucket(2, 20, 20, 0.832, 1.0),
                    bucket(3, 20, 1, 0.00127, 0.249),
                    bucket(4, 0, 0, 0.0, 1.0),
                ],
                window,
                jitter: Jitter {
                    median_s: 0.000_042,
                    p99_s: 0.000_310,
                    max_s: 0.001_250,
                },
            },
        }
    }

    fn closed_window() -> Window {
        Window {
            start: Edge {
                at_s: 0.002_454,
                uncertainty_s: 0.001,
                open: false,
            },
            end: Edge {
                at_s: 0.005_947,
                uncertainty_s: 0.001,
                open: false,
            },
            peak_rate: 1.0,
        }
    }

    fn open_window() -> Window {
        Window {
            start: Edge {
                at_s: 0.0,
                uncertainty_s: 0.001,
                open: true,
            },
            end: Edge {
                at_s: 0.01,
                uncertainty_s: 0.001,
                open: true,
            },
            peak_rate: 1.0,
        }
    }

    #[test]
    fn text_view_with_a_window_inside_the_range() {
        insta::assert_snapshot!(text(&view(Some(closed_window()))));
    }

    #[test]
    fn text_view_with_a_window_beyond_both_ends() {
        insta::assert_snapshot!(text(&view(Some(open_window()))));
    }

    #[test]
    fn text_view_without_a_failure() {
        let mut view = view(None);
        for bucket in &mut view.map.buckets {
            bucket.failures = 0;
            bucket.rate = Interval {
                estimate: 0.0,
                low: 0.0,
                high: if bucket.runs == 0 { 1.0 } else { 0.168 },
            };
        }
        insta::assert_snapshot!(text(&view));
    }

    #[test]
    fn json_view() {
        let value = json(&view(Some(closed_window())));
        assert_eq!(value["runs"], 80);
        assert_eq!(value["window"]["start_open"], false);
        assert_eq!(value["buckets"].as_array().map(Vec::len), Some(5));
        insta::assert_snapshot!(value.to_string());
        assert!(json(&view(None))["window"].is_null());
    }

    #[test]
    fn phase_lines() {
        let mut phase = Phase {
            number: 1,
            of: 2,
            runs: Some(400),
            delays: 20,
            from: Duration::ZERO,
            to: Duration::from_millis(20),
        };
        assert_eq!(
            phase_line(&phase),
            "window: phase 1 of 2, 400 runs over 20 delays from 0us to 20.0ms"
        );
        phase.number = 2;
        phase.runs = None;
        assert_eq!(
            phase_line(&phase),
            "window: phase 2 of 2, timed runs over 20 delays from 0us to 20.0ms"
        );
    }
}
