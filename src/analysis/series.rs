//! Run series for reports: runs binned by index and by start time, duration histograms of
//! passing and failing runs, failure marks, and a test of whether failures come in bursts.
//! Fed one run at a time into fixed bins, so a campaign of millions of runs stays small.

use serde::Serialize;
use statrs::distribution::{ChiSquared, ContinuousCDF};

/// Bins over the run index and over time.
pub const BINS: usize = 120;
/// Bins of the duration histograms.
pub const DURATION_BINS: usize = 40;
/// Failure marks kept for drawing one tick per failure; beyond, the bins tell the story.
pub const MAX_MARKS: usize = 5_000;
/// Fewest failures a burst test is attempted with.
pub const MIN_FAILURES_FOR_BURSTS: u64 = 10;
/// Expected failures per group of the burst test (the chi-square approximation needs ~5).
const EXPECTED_PER_GROUP: u64 = 5;
/// Most groups of the burst test.
const MAX_GROUPS: u64 = 40;

/// What is known of the runs before they are streamed: it fixes the bins.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SeriesExtent {
    /// Runs to come.
    pub runs: u64,
    /// Span of the start times, seconds from the first start.
    pub span_s: f64,
    /// Shortest run, seconds.
    pub min_duration_s: f64,
    /// Longest run, seconds.
    pub max_duration_s: f64,
}

/// One run as the series needs it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RunPoint {
    /// Position among all runs (0-based, in start order).
    pub seq: u64,
    /// Start, seconds after the first run's start.
    pub at_s: f64,
    /// Duration, seconds.
    pub duration_s: f64,
    /// The run failed (ignored failures count as runs, not failures).
    pub failed: bool,
    /// The failure's cluster (an index into the report's signature list), if it has one.
    pub cluster: Option<usize>,
}

/// Runs and failures in one bin.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Bin {
    /// Runs.
    pub runs: u64,
    /// Failures.
    pub failures: u64,
}

/// Equal-width bins along one axis.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Binned {
    /// Width of a bin (runs, or seconds).
    pub width: f64,
    /// The bins, in order.
    pub bins: Vec<Bin>,
    /// Whether failures cluster along this axis, when there are enough to tell.
    pub bursts: Option<Bursts>,
}

/// A chi-square test of homogeneity of the failure rate across consecutive groups of runs:
/// a small `p` means some stretches failed far more often than others (bursts).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Bursts {
    /// The statistic.
    pub chi2: f64,
    /// Degrees of freedom (groups - 1).
    pub df: u64,
    /// p-value under a constant rate.
    pub p: f64,
    /// The group with the highest rate, as `[from, to)` along the axis.
    pub worst_from: f64,
    /// End of the worst group.
    pub worst_to: f64,
    /// The worst group's rate over the overall rate.
    pub worst_ratio: f64,
}

/// Duration histograms of passing and failing runs over shared, logarithmic bins.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DurationHistogram {
    /// Bin edges, seconds (one more than bins).
    pub edges: Vec<f64>,
    /// Passing (and ignored) runs per bin.
    pub pass: Vec<u64>,
    /// Failing runs per bin.
    pub fail: Vec<u64>,
}

/// One failure, for a tick on a chart.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct FailureMark {
    /// Position among all runs.
    pub seq: u64,
    /// Start, seconds after the first run.
    pub at_s: f64,
    /// Cluster index, if any.
    pub cluster: Option<usize>,
}

/// Everything the charts draw.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunSeries {
    /// Runs seen.
    pub runs: u64,
    /// Failures seen.
    pub failures: u64,
    /// Span of the start times, seconds.
    pub span_s: f64,
    /// Bins over the run index.
    pub by_index: Binned,
    /// Bins over start time.
    pub by_time: Binned,
    /// Durations.
    pub durations: DurationHistogram,
    /// One mark per failure, up to [`MAX_MARKS`].
    pub marks: Vec<FailureMark>,
    /// More failures happened than marks kept.
    pub marks_truncated: bool,
}

/// Accumulates [`RunPoint`]s into a [`RunSeries`].
#[derive(Debug, Clone)]
pub struct SeriesBuilder {
    extent: SeriesExtent,
    index: Vec<Bin>,
    index_width: f64,
    time: Vec<Bin>,
    time_width: f64,
    durations: DurationHistogram,
    marks: Vec<FailureMark>,
    failures: u64,
    runs: u64,
}

impl SeriesBuilder {
    /// Bins fitted to `extent`.
    pub fn new(extent: SeriesExtent) -> SeriesBuilder {
        // All runs starting at once (or one run) leave one time bin.
        let (time_bins, time_width) = if extent.span_s > 0.0 {
            let count = BINS.min(extent.runs.max(1) as usize);
            (count, extent.span_s / count as f64)
        } else {
            (1, 1.0)
        };
        // Whole runs per bin, so that every bin but the last holds as many runs.
        let index_width = (extent.runs as f64 / BINS as f64).ceil().max(1.0);
        let index_bins = (extent.runs as f64 / index_width).ceil().max(1.0) as usize;
        SeriesBuilder {
            extent,
            index: vec![Bin::default(); index_bins],
            index_width,
            time: vec![Bin::default(); time_bins],
            time_width,
            durations: duration_bins(extent.min_duration_s, extent.max_duration_s),
            marks: Vec::new(),
            failures: 0,
            runs: 0,
        }
    }

    /// Count one run.
    pub fn add(&mut self, point: &RunPoint) {
        self.runs += 1;
        let index_bin = slot(point.seq as f64 / self.index_width, self.index.len());
        let time_bin = slot(point.at_s / self.time_width, self.time.len());
        let duration_bin = duration_slot(&self.durations.edges, point.duration_s);
        for bin in [&mut self.index[index_bin], &mut self.time[time_bin]] {
            bin.runs += 1;
            bin.failures += u64::from(point.failed);
        }
        if point.failed {
            self.failures += 1;
            self.durations.fail[duration_bin] += 1;
            if self.marks.len() < MAX_MARKS {
                self.marks.push(FailureMark {
                    seq: point.seq,
                    at_s: point.at_s,
                    cluster: point.cluster,
                });
            }
        } else {
            self.durations.pass[duration_bin] += 1;
        }
    }

    /// The finished series.
    pub fn finish(self) -> RunSeries {
        let by_index = Binned {
            bursts: bursts(&self.index, self.index_width),
            width: self.index_width,
            bins: self.index,
        };
        let by_time = Binned {
            bursts: bursts(&self.time, self.time_width),
            width: self.time_width,
            bins: self.time,
        };
        RunSeries {
            runs: self.runs,
            failures: self.failures,
            span_s: self.extent.span_s,
            by_index,
            by_time,
            durations: self.durations,
            marks_truncated: self.failures > self.marks.len() as u64,
            marks: self.marks,
        }
    }
}

/// The bin a position falls in; anything outside (rounding, a late clock) goes to an end.
fn slot(position: f64, bins: usize) -> usize {
    if position.is_nan() || position < 0.0 {
        return 0;
    }
    (position as usize).min(bins.saturating_sub(1))
}

/// Logarithmic bins from the shortest to the longest duration (at least 1 us wide).
fn duration_bins(min_s: f64, max_s: f64) -> DurationHistogram {
    let low = min_s.max(1e-6);
    let high = max_s.max(low * 1.0001);
    let ratio = (high / low).ln();
    let edges: Vec<f64> = (0..=DURATION_BINS)
        .map(|i| low * (ratio * i as f64 / DURATION_BINS as f64).exp())
        .collect();
    DurationHistogram {
        edges,
        pass: vec![0; DURATION_BINS],
        fail: vec![0; DURATION_BINS],
    }
}

fn duration_slot(edges: &[f64], seconds: f64) -> usize {
    let bins = edges.len() - 1;
    edges[1..]
        .iter()
        .position(|edge| seconds < *edge)
        .unwrap_or(bins - 1)
}

/// Merge consecutive bins into groups expecting about [`EXPECTED_PER_GROUP`] failures each and
/// test whether the rate is the same in every group.
fn bursts(bins: &[Bin], width: f64) -> Option<Bursts> {
    let runs: u64 = bins.iter().map(|b| b.runs).sum();
    let failures: u64 = bins.iter().map(|b| b.failures).sum();
    if failures < MIN_FAILURES_FOR_BURSTS || failures == runs {
        return None;
    }
    let groups_wanted = (failures / EXPECTED_PER_GROUP).clamp(2, MAX_GROUPS);
    let runs_per_group = runs as f64 / groups_wanted as f64;
    let mut groups: Vec<(f64, f64, Bin)> = Vec::new();
    let mut current = (0.0, Bin::default());
    for (i, bin) in bins.iter().enumerate() {
        current.1.runs += bin.runs;
        current.1.failures += bin.failures;
        if current.1.runs as f64 >= runs_per_group - 0.5 {
            groups.push((current.0, (i + 1) as f64 * width, current.1));
            current = ((i + 1) as f64 * width, Bin::default());
        }
    }
    if current.1.runs > 0 {
        match groups.last_mut() {
            // A remainder too small to stand alone joins the last group.
            Some(last) if (current.1.runs as f64) < runs_per_group / 2.0 => {
                last.1 = bins.len() as f64 * width;
                last.2.runs += current.1.runs;
                last.2.failures += current.1.failures;
            }
            _ => groups.push((current.0, bins.len() as f64 * width, current.1)),
        }
    }
    if groups.len() < 2 {
        return None;
    }
    let rate = failures as f64 / runs as f64;
    let chi2: f64 = groups
        .iter()
        .map(|(_, _, g)| {
            let expected = g.runs as f64 * rate;
            (g.failures as f64 - expected).powi(2) / (expected * (1.0 - rate))
        })
        .sum();
    let df = groups.len() as u64 - 1;
    let p = ChiSquared::new(df as f64)
        .map(|dist| dist.sf(chi2))
        .unwrap_or(f64::NAN);
    let (worst_from, worst_to, worst) = groups
        .iter()
        .max_by(|a, b| {
            let ra = a.2.failures as f64 / a.2.runs as f64;
            let rb = b.2.failures as f64 / b.2.runs as f64;
            ra.total_cmp(&rb)
        })
        .copied()?;
    Some(Bursts {
        chi2,
        df,
        p,
        worst_from,
        worst_to,
        worst_ratio: (worst.failures as f64 / worst.runs as f64) / rate,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn build(runs: u64, failed: impl Fn(u64) -> bool) -> RunSeries {
        let mut builder = SeriesBuilder::new(SeriesExtent {
            runs,
            span_s: runs as f64 * 0.01,
            min_duration_s: 0.001,
            max_duration_s: 0.1,
        });
        for seq in 0..runs {
            let failed = failed(seq);
            builder.add(&RunPoint {
                seq,
                at_s: seq as f64 * 0.01,
                duration_s: if failed { 0.1 } else { 0.001 },
                failed,
                cluster: failed.then_some(0),
            });
        }
        builder.finish()
    }

    #[test]
    fn every_run_lands_in_exactly_one_bin_of_each_axis() {
        let series = build(1_001, |seq| seq % 97 == 0);
        for binned in [&series.by_index, &series.by_time] {
            assert_eq!(binned.bins.iter().map(|b| b.runs).sum::<u64>(), 1_001);
            assert_eq!(binned.bins.iter().map(|b| b.failures).sum::<u64>(), 11);
            assert!(binned.bins.len() <= BINS);
        }
        assert_eq!(series.by_index.width, 9.0);
        assert_eq!(series.durations.pass.iter().sum::<u64>(), 990);
        assert_eq!(series.durations.fail.iter().sum::<u64>(), 11);
        assert_eq!(
            series.durations.fail[DURATION_BINS - 1],
            11,
            "the longest bin"
        );
        assert_eq!(series.durations.pass[0], 990, "the shortest bin");
        assert_eq!(series.marks.len(), 11);
        assert!(!series.marks_truncated);
    }

    #[test]
    fn evenly_spread_failures_are_not_bursts() {
        let series = build(10_000, |seq| seq % 100 == 37);
        let bursts = series.by_index.bursts.expect("enough failures");
        assert!(bursts.p > 0.5, "{bursts:?}");
        assert_eq!(bursts.df, 19);
    }

    #[test]
    fn failures_packed_together_are_bursts() {
        // 40 failures, all within runs 5,000..5,200 of 10,000.
        let series = build(10_000, |seq| (5_000..5_200).contains(&seq) && seq % 5 == 0);
        let bursts = series.by_index.bursts.expect("enough failures");
        assert!(bursts.p < 1e-6, "{bursts:?}");
        assert!(
            bursts.worst_from < 5_200.0 && bursts.worst_to > 5_000.0,
            "{bursts:?}"
        );
        assert!(bursts.worst_ratio > 5.0, "{bursts:?}");
        let in_time = series.by_time.bursts.expect("enough failures");
        assert!(in_time.p < 1e-6, "{in_time:?}");
    }

    #[test]
    fn too_few_failures_or_runs_say_nothing() {
        assert!(build(10_000, |seq| seq % 2_000 == 0)
            .by_index
            .bursts
            .is_none());
        assert!(build(20, |_| true).by_index.bursts.is_none());
        let empty = build(0, |_| false);
        assert_eq!(empty.runs, 0);
        assert_eq!(empty.by_index.bins.len(), 1);
    }

    #[test]
    fn marks_are_capped() {
        let series = build(MAX_MARKS as u64 + 10, |_| true);
        assert_eq!(series.marks.len(), MAX_MARKS);
        assert!(series.marks_truncated);
    }
}
