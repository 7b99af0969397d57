//! The experiment design of a window sweep: the grid of delays, how many runs each phase gets,
//! and where they go: evenly in the first phase, then where the first phase saw the failure
//! rate change.

use std::time::Duration;

use crate::analysis::window::WindowMap;

/// Phases of a sweep: the first spreads its runs evenly, the second refines.
pub const PHASES: usize = 2;

/// Delays planned for a phase that a time budget ends rather than a run count: more runs than
/// a budget will fit (runs beyond the list keep the step's own range and are not sampled).
pub const TIMED_PHASE_RUNS: u64 = 100_000;

/// Weight of a delay far from any change in rate, in a refined phase: enough that the whole
/// range keeps being sampled in case the first phase missed part of the window.
const BASE_WEIGHT: f64 = 0.25;
/// Extra weight per unit of rate change between a delay's bucket and its neighbours.
const CHANGE_WEIGHT: f64 = 4.0;

/// The plan of a sweep: which delays, and how many runs each phase spends.
#[derive(Debug, Clone, PartialEq)]
pub struct Design {
    /// The delays tried, seconds, ascending.
    pub points: Vec<f64>,
    /// Runs in each phase.
    pub runs_per_phase: u64,
}

impl Design {
    /// A sweep of `steps` delays from `min_s` to `max_s` (seconds), geometrically spaced if
    /// `logarithmic`. `runs_per_step` is the total of runs per delay, shared between the
    /// phases; `None` when a time budget ends each phase instead.
    pub fn new(
        min_s: f64,
        max_s: f64,
        steps: usize,
        logarithmic: bool,
        runs_per_step: Option<u64>,
    ) -> Design {
        let runs_per_phase = match runs_per_step {
            Some(runs) => (runs / PHASES as u64).max(1) * steps as u64,
            None => TIMED_PHASE_RUNS,
        };
        Design {
            points: grid(min_s, max_s, steps, logarithmic),
            runs_per_phase,
        }
    }

    /// The delay of each run of the next phase, by run index: spread evenly when there is no
    /// `earlier` result, else concentrated where `earlier` shows the rate changing.
    pub fn delays(&self, earlier: Option<&WindowMap>) -> Vec<Duration> {
        let weights = match earlier {
            Some(map) => refine(map),
            None => vec![1.0; self.points.len()],
        };
        allocate(&self.points, &weights, self.runs_per_phase)
    }
}

/// `steps` delays from `min` to `max` inclusive, evenly or geometrically spaced.
pub fn grid(min: f64, max: f64, steps: usize, logarithmic: bool) -> Vec<f64> {
    if steps <= 1 || max <= min {
        return vec![min];
    }
    let last = (steps - 1) as f64;
    if logarithmic {
        // A log grid cannot start at 0: start three decades below the end instead.
        let low = if min > 0.0 { min } else { max / 1000.0 };
        let ratio = (max / low).powf(1.0 / last);
        (0..steps).map(|i| low * ratio.powi(i as i32)).collect()
    } else {
        (0..steps)
            .map(|i| min + (max - min) * i as f64 / last)
            .collect()
    }
}

/// Delays for `runs` runs, in proportion to `weights` (one per point, not all zero),
/// interleaved so that an early stop still covers every delay.
pub fn allocate(points: &[f64], weights: &[f64], runs: u64) -> Vec<Duration> {
    let total: f64 = weights.iter().sum();
    // Without a point or a positive weight no pass would ever place a run.
    if points.is_empty() || total.is_nan() || total <= 0.0 {
        return Vec::new();
    }
    let mut credit = vec![0.0f64; points.len()];
    let mut delays = Vec::with_capacity(runs as usize);
    while (delays.len() as u64) < runs {
        for (i, point) in points.iter().enumerate() {
            credit[i] += weights.get(i).copied().unwrap_or(0.0) / total * points.len() as f64;
            while credit[i] >= 1.0 && (delays.len() as u64) < runs {
                credit[i] -= 1.0;
                delays.push(Duration::from_secs_f64(*point));
            }
        }
    }
    delays
}

/// Weights for a refined phase: buckets next to a change in rate get most runs.
pub fn refine(map: &WindowMap) -> Vec<f64> {
    let rates: Vec<f64> = map.buckets.iter().map(|b| b.rate.estimate).collect();
    let mut weights = vec![BASE_WEIGHT; rates.len()];
    for i in 0..rates.len() {
        let left = i.checked_sub(1).map(|j| (rates[i] - rates[j]).abs());
        let right = rates.get(i + 1).map(|r| (rates[i] - r).abs());
        let change = left.unwrap_or(0.0).max(right.unwrap_or(0.0));
        weights[i] += CHANGE_WEIGHT * change;
    }
    weights
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::window::{map_window, SweepSample};

    /// Runs at `point` (delays are whole nanoseconds, grid points need not be).
    fn count_at(delays: &[Duration], point: f64) -> usize {
        delays
            .iter()
            .filter(|d| (d.as_secs_f64() - point).abs() < 1e-9)
            .count()
    }

    /// A first phase on `points` where runs below `edge_s` fail and the others pass.
    fn first_phase_with_edge(points: &[f64], runs_each: usize, edge_s: f64) -> WindowMap {
        let samples: Vec<SweepSample> = points
            .iter()
            .flat_map(|&at| {
                std::iter::repeat_n(
                    SweepSample {
                        requested_s: at,
                        achieved_s: at,
                        failed: at < edge_s,
                    },
                    runs_each,
                )
            })
            .collect();
        map_window(&samples, points)
    }

    #[test]
    fn grids() {
        assert_eq!(grid(0.0, 1.0, 3, false), vec![0.0, 0.5, 1.0]);
        let log = grid(0.0, 1.0, 4, true);
        assert!((log[0] - 0.001).abs() < 1e-12 && (log[3] - 1.0).abs() < 1e-9);
        assert_eq!(grid(0.5, 0.5, 10, false), vec![0.5]);
    }

    #[test]
    fn allocation_follows_weights_and_covers_every_point() {
        let points = [0.0, 1.0, 2.0, 3.0];
        let delays = allocate(&points, &[1.0, 1.0, 1.0, 1.0], 8);
        assert_eq!(delays.len(), 8);
        for point in points {
            assert_eq!(count_at(&delays, point), 2);
        }
        let skewed = allocate(&points, &[0.1, 0.1, 3.0, 0.1], 100);
        assert!(count_at(&skewed, 2.0) > 80, "{skewed:?}");
    }

    #[test]
    fn allocation_spends_exactly_the_runs() {
        let points = grid(0.0, 0.01, 7, false);
        let weights = [0.3, 2.0, 0.25, 5.0, 0.25, 0.25, 1.0];
        for runs in [0, 1, 6, 7, 8, 100, 1001] {
            assert_eq!(allocate(&points, &weights, runs).len() as u64, runs);
        }
        assert!(allocate(&[], &[], 10).is_empty());
        assert!(allocate(&points, &[0.0; 7], 10).is_empty());
    }

    #[test]
    fn an_early_stop_still_covers_every_delay() {
        let points = grid(0.0, 0.01, 5, false);
        let delays = allocate(&points, &[1.0; 5], 50);
        for point in &points {
            assert_eq!(count_at(&delays[..5], *point), 1, "{delays:?}");
        }
    }

    #[test]
    fn runs_are_shared_between_the_phases() {
        let counted = Design::new(0.0, 0.02, 20, false, Some(20));
        assert_eq!(counted.points.len(), 20);
        assert_eq!(counted.runs_per_phase, 200);
        assert_eq!(counted.delays(None).len(), 200);
        // An odd count rounds down, but every phase tries each delay at least once.
        assert_eq!(
            Design::new(0.0, 0.02, 10, false, Some(3)).runs_per_phase,
            10
        );
        let timed = Design::new(0.0, 0.02, 10, true, None);
        assert_eq!(timed.runs_per_phase, TIMED_PHASE_RUNS);
    }

    #[test]
    fn weights_favour_the_region_where_the_rate_changes() {
        let points = grid(0.0, 0.009, 10, false);
        let map = first_phase_with_edge(&points, 10, 0.0045);
        let weights = refine(&map);
        assert_eq!(weights.len(), points.len());
        // The rate falls from 1 to 0 between the 5th and 6th delay.
        assert!((weights[4] - (BASE_WEIGHT + CHANGE_WEIGHT)).abs() < 1e-12);
        assert!((weights[5] - (BASE_WEIGHT + CHANGE_WEIGHT)).abs() < 1e-12);
        for (i, weight) in weights.iter().enumerate() {
            if i != 4 && i != 5 {
                assert!((weight - BASE_WEIGHT).abs() < 1e-12, "{weights:?}");
            }
        }
    }

    #[test]
    fn the_second_phase_zooms_into_the_edge_found_in_the_first() {
        let design = Design::new(0.0, 0.019, 20, false, Some(20));
        let edge = 0.0125;
        let map = first_phase_with_edge(&design.points, 10, edge);
        let second = design.delays(Some(&map));
        assert_eq!(second.len() as u64, design.runs_per_phase);
        let near_edge = second
            .iter()
            .filter(|d| (d.as_secs_f64() - edge).abs() < 0.001)
            .count();
        // The two delays beside the edge are 2 of 20 points but get most of the runs...
        assert!(
            near_edge * 2 > second.len(),
            "{near_edge} of {}",
            second.len()
        );
        // ...while every delay is still tried.
        for point in &design.points {
            assert!(count_at(&second, *point) > 0, "{point}");
        }
        // Without an earlier result, the same design spreads evenly.
        let first = design.delays(None);
        for point in &design.points {
            assert_eq!(count_at(&first, *point), 10);
        }
    }
}
