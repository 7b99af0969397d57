//! Race-window mapping: failure rate against the measured delay of one script step, bucketed,
//! with the window's edges estimated where the rate crosses half its peak, and the jitter of the
//! sender (how late delays really were) so users know what resolution to trust. Where the
//! runs go is the sweep's [`design`].

pub mod design;

use serde::{Deserialize, Serialize};

use crate::analysis::stats::{clopper_pearson, Interval};
use crate::analysis::summary::CONFIDENCE;
use crate::record::ScriptEvent;

/// One run of a sweep.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SweepSample {
    /// Delay asked for, seconds.
    pub requested_s: f64,
    /// Delay measured, seconds.
    pub achieved_s: f64,
    /// Whether the run failed.
    pub failed: bool,
}

/// One bucket of the histogram.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Bucket {
    /// Lower edge, seconds.
    pub from_s: f64,
    /// Upper edge, seconds.
    pub to_s: f64,
    /// Runs whose measured delay fell here.
    pub runs: u64,
    /// Failures among them.
    pub failures: u64,
    /// Failure rate with its interval.
    pub rate: Interval,
}

impl Bucket {
    fn center(&self) -> f64 {
        (self.from_s + self.to_s) / 2.0
    }
}

/// One edge of the window.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
pub struct Edge {
    /// Estimated delay, seconds.
    pub at_s: f64,
    /// Half-width of its uncertainty, seconds.
    pub uncertainty_s: f64,
    /// True if the window reaches the end of the swept range (the edge lies beyond it).
    pub open: bool,
}

/// The estimated window.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Window {
    /// Where failures start.
    pub start: Edge,
    /// Where failures stop.
    pub end: Edge,
    /// The highest bucket failure rate.
    pub peak_rate: f64,
}

/// How late the sender was: measured minus requested delay.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, Default)]
pub struct Jitter {
    /// Median lateness, seconds.
    pub median_s: f64,
    /// 99th percentile lateness, seconds.
    pub p99_s: f64,
    /// Worst lateness, seconds.
    pub max_s: f64,
}

/// The sweep's analysis.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WindowMap {
    /// Histogram buckets, by delay.
    pub buckets: Vec<Bucket>,
    /// The window, if any run failed.
    pub window: Option<Window>,
    /// Sender jitter.
    pub jitter: Jitter,
}

/// Bucket samples by measured delay on the grid of requested delays `grid` (sorted), and
/// estimate the window.
pub fn map_window(samples: &[SweepSample], grid: &[f64]) -> WindowMap {
    let buckets = bucketize(samples, grid);
    let window = estimate(&buckets);
    WindowMap {
        buckets,
        window,
        jitter: jitter(samples),
    }
}

fn bucketize(samples: &[SweepSample], grid: &[f64]) -> Vec<Bucket> {
    if grid.is_empty() {
        return Vec::new();
    }
    // Edges halfway between grid points; the outer buckets extend as far as the grid spacing.
    let mut edges = Vec::with_capacity(grid.len() + 1);
    let first_gap = grid.get(1).map_or(0.0, |next| next - grid[0]);
    edges.push((grid[0] - first_gap / 2.0).max(0.0));
    for pair in grid.windows(2) {
        edges.push((pair[0] + pair[1]) / 2.0);
    }
    let last_gap = if grid.len() > 1 {
        grid[grid.len() - 1] - grid[grid.len() - 2]
    } else {
        0.0
    };
    edges.push(grid[grid.len() - 1] + last_gap / 2.0);
    let mut counts = vec![(0u64, 0u64); grid.len()];
    for sample in samples {
        // Late delays beyond the last edge belong to the last bucket.
        let index = edges[1..]
            .iter()
            .position(|edge| sample.achieved_s < *edge)
            .unwrap_or(grid.len() - 1);
        counts[index].0 += 1;
        if sample.failed {
            counts[index].1 += 1;
        }
    }
    counts
        .iter()
        .enumerate()
        .map(|(i, &(runs, failures))| Bucket {
            from_s: edges[i],
            to_s: edges[i + 1],
            runs,
            failures,
            rate: clopper_pearson(failures, runs, CONFIDENCE),
        })
        .collect()
}

/// Window edges where the rate crosses half its peak, interpolated between bucket centres.
fn estimate(buckets: &[Bucket]) -> Option<Window> {
    let observed: Vec<&Bucket> = buckets.iter().filter(|b| b.runs > 0).collect();
    let peak = observed
        .iter()
        .map(|b| b.rate.estimate)
        .fold(0.0f64, f64::max);
    if peak <= 0.0 {
        return None;
    }
    let half = peak / 2.0;
    let first = observed.iter().position(|b| b.rate.estimate >= half)?;
    let last = observed.iter().rposition(|b| b.rate.estimate >= half)?;
    let crossing = |inside: &Bucket, outside: &Bucket| -> Edge {
        let (r_in, r_out) = (inside.rate.estimate, outside.rate.estimate);
        let fraction = if r_in > r_out {
            ((r_in - half) / (r_in - r_out)).clamp(0.0, 1.0)
        } else {
            0.5
        };
        let at = inside.center() + (outside.center() - inside.center()) * fraction;
        Edge {
            at_s: at,
            uncertainty_s: (outside.center() - inside.center()).abs() / 2.0,
            open: false,
        }
    };
    let start = if first == 0 {
        Edge {
            at_s: observed[0].from_s,
            uncertainty_s: (observed[0].to_s - observed[0].from_s) / 2.0,
            open: true,
        }
    } else {
        crossing(observed[first], observed[first - 1])
    };
    let end = if last + 1 == observed.len() {
        let bucket = observed[last];
        Edge {
            at_s: bucket.to_s,
            uncertainty_s: (bucket.to_s - bucket.from_s) / 2.0,
            open: true,
        }
    } else {
        crossing(observed[last], observed[last + 1])
    };
    Some(Window {
        start,
        end,
        peak_rate: peak,
    })
}

fn jitter(samples: &[SweepSample]) -> Jitter {
    let mut late: Vec<f64> = samples
        .iter()
        .map(|s| (s.achieved_s - s.requested_s).max(0.0))
        .collect();
    if late.is_empty() {
        return Jitter::default();
    }
    late.sort_by(f64::total_cmp);
    let at = |q: f64| late[((late.len() - 1) as f64 * q).round() as usize];
    Jitter {
        median_s: at(0.5),
        p99_s: at(0.99),
        max_s: late[late.len() - 1],
    }
}

/// The delay a run really had at the swept `step`, seconds: from the last script event before
/// the step to the first one after it (the signal), or to the end of the sleep if nothing
/// followed; `requested_s` if the run never got there.
pub fn measured_delay(events: &[ScriptEvent], step: usize, requested_s: f64) -> f64 {
    let before = events
        .iter()
        .rev()
        .find(|e| e.step < step)
        .map_or(0.0, |e| e.at_s);
    let after = events
        .iter()
        .find(|e| e.step > step)
        .or_else(|| events.iter().find(|e| e.step == step))
        .map(|e| e.at_s);
    after.map_or(requested_s, |at| (at - before).max(0.0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::window::design::grid;

    fn samples_with_window(from: f64, to: f64) -> Vec<SweepSample> {
        // Delays 0..10 ms; runs inside [from, to) fail, deterministic.
        let mut samples = Vec::new();
        for i in 0..200 {
            let delay = i as f64 * 0.00005;
            samples.push(SweepSample {
                requested_s: delay,
                achieved_s: delay + 0.00001,
                failed: delay >= from && delay < to,
            });
        }
        samples
    }

    #[test]
    fn finds_a_window_inside_the_range() {
        let grid = grid(0.0, 0.01, 21, false);
        let map = map_window(&samples_with_window(0.002, 0.006), &grid);
        let window = map.window.expect("window");
        assert!(
            (window.start.at_s - 0.002).abs() <= window.start.uncertainty_s + 1e-9,
            "{window:?}"
        );
        assert!(
            (window.end.at_s - 0.006).abs() <= window.end.uncertainty_s + 1e-9,
            "{window:?}"
        );
        assert!(!window.start.open && !window.end.open);
        assert!((map.jitter.median_s - 0.00001).abs() < 1e-9);
    }

    #[test]
    fn a_window_from_zero_is_open_at_the_start() {
        let grid = grid(0.0, 0.01, 41, false);
        let map = map_window(&samples_with_window(0.0, 0.002), &grid);
        let window = map.window.expect("window");
        assert!(window.start.open);
        assert!((window.end.at_s - 0.002).abs() < 0.0003, "{window:?}");
    }

    #[test]
    fn no_failures_no_window() {
        let grid = grid(0.0, 0.01, 10, false);
        let map = map_window(&samples_with_window(1.0, 2.0), &grid);
        assert!(map.window.is_none());
        assert_eq!(map.buckets.iter().map(|b| b.runs).sum::<u64>(), 200);
    }

    fn event(step: usize, at_s: f64) -> ScriptEvent {
        ScriptEvent {
            step,
            what: format!("step {step}"),
            at_s,
            since_previous_s: 0.0,
        }
    }

    #[test]
    fn the_delay_runs_from_the_step_before_to_the_step_after() {
        // wait-output at 1s, sleep (step 1), signal at 1.25s.
        let events = [event(0, 1.0), event(1, 1.2), event(2, 1.25)];
        assert!((measured_delay(&events, 1, 0.2) - 0.25).abs() < 1e-12);
        // Nothing after the sleep: up to its end. Nothing before: from the spawn.
        assert!((measured_delay(&events[..2], 1, 0.1) - 0.2).abs() < 1e-12);
        assert!((measured_delay(&events[1..], 1, 0.1) - 1.25).abs() < 1e-12);
        // The run died before the sleep: the requested delay stands.
        assert_eq!(measured_delay(&events[..1], 1, 0.1), 0.1);
        assert_eq!(measured_delay(&[], 1, 0.1), 0.1);
    }
}
