//! `flakehunt window`: map a race window from outside the program by sweeping the delay of one
//! script step (by default: a SIGINT sent some time after start), spending a second half of the
//! runs where the failure rate changes, and reporting rate against the measured delay.

use std::cell::RefCell;
use std::io::Write;
use std::path::Path;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::Args;

use crate::analysis::summary::Tally;
use crate::analysis::window::{grid, map_window, SweepSample, WindowMap};
use crate::campaign::{launch, prepare};
use crate::cli::run::RunArgs;
use crate::cli::EXIT_OK;
use crate::record::FinishedRun;
use crate::report::compact_duration;
use crate::report::format::format_rate;
use crate::sink::Sink;
use crate::spec::script::{Script, Step};
use crate::spec::Sweep;
use crate::store::Store;

/// Arguments of `flakehunt window`.
#[derive(Debug, Clone, Args)]
pub struct WindowArgs {
    /// The delay to sweep: `sleep MIN..MAX` (e.g. `sleep 0us..20ms`). It replaces the first
    /// `sleep` step of the script; with no script, runs get `sleep`, then `signal SIGINT`.
    #[arg(long, value_name = "SPEC")]
    pub sweep: String,
    /// Number of delays tried.
    #[arg(long = "steps", value_name = "N", default_value_t = 40)]
    pub points: usize,
    /// Space the delays geometrically instead of evenly.
    #[arg(long)]
    pub log: bool,
    /// Runs per delay (half spread evenly, half where the rate changes).
    #[arg(
        long,
        value_name = "N",
        default_value_t = 20,
        conflicts_with = "budget"
    )]
    pub runs_per_step: u64,
    /// Spend this much time instead of a fixed number of runs.
    #[arg(long, value_name = "DUR", value_parser = crate::cli::run::parse_duration)]
    pub budget: Option<Duration>,
    /// Runner options, script and command, as for `flakehunt run`.
    #[command(flatten)]
    pub run: RunArgs,
}

/// Collects (run, delay, verdict) as runs finish.
struct SampleSink {
    samples: Rc<RefCell<Vec<SweepSample>>>,
    delays: Arc<Vec<Duration>>,
    step: usize,
}

impl Sink for SampleSink {
    fn run_finished(&mut self, run: &FinishedRun, _tally: &Tally) -> Result<()> {
        let record = &run.record;
        let Some(requested) = self.delays.get(record.index as usize) else {
            return Ok(());
        };
        let requested = requested.as_secs_f64();
        let events = &record.script_events;
        // Measured delay: from the last event before the swept step to the first one after it
        // (the signal), or to the end of the sleep if nothing followed.
        let before = events
            .iter()
            .rev()
            .find(|e| e.step < self.step)
            .map_or(0.0, |e| e.at_s);
        let after = events
            .iter()
            .find(|e| e.step > self.step)
            .or_else(|| events.iter().find(|e| e.step == self.step))
            .map(|e| e.at_s);
        let achieved = after.map_or(requested, |at| (at - before).max(0.0));
        self.samples.borrow_mut().push(SweepSample {
            requested_s: requested,
            achieved_s: achieved,
            failed: record.verdict.is_failure(),
        });
        Ok(())
    }
}

fn parse_sweep(text: &str) -> Result<(Duration, Duration)> {
    let script = Script::from_steps(&[text.to_string()])
        .map_err(|error| anyhow::anyhow!("--sweep: {}", error.message))?;
    match script.steps.first() {
        Some(Step::Sleep { min, max }) if min < max => Ok((*min, *max)),
        _ => bail!("--sweep takes a range of delays like 'sleep 0us..20ms'"),
    }
}

/// `flakehunt window`.
pub fn execute(args: WindowArgs, db: &Path) -> Result<i32> {
    let (min, max) = parse_sweep(&args.sweep)?;
    if args.points < 2 || args.points > 1000 {
        bail!("--steps must be between 2 and 1000");
    }
    if args.runs_per_step < 2 {
        bail!("--runs-per-step must be at least 2");
    }
    if args.run.runs.is_some() || args.run.duration.is_some() || args.run.max_failures.is_some() {
        bail!("window decides how many runs it needs; use --runs-per-step or --budget instead of -n/--duration/--max-failures");
    }
    let mut run_args = args.run.clone();
    if run_args.steps.is_empty() && run_args.script.is_none() {
        run_args.steps = vec![
            format!(
                "sleep {}",
                args.sweep.trim().trim_start_matches("sleep").trim()
            ),
            "signal SIGINT".into(),
        ];
    }
    let points = grid(min.as_secs_f64(), max.as_secs_f64(), args.points, args.log);
    let json = run_args.json;
    // Phase 1 spreads half of the runs evenly; phase 2 spends the rest where the rate changes.
    let per_phase = if args.budget.is_some() {
        100_000
    } else {
        (args.runs_per_step / 2).max(1) * args.points as u64
    };
    let samples = Rc::new(RefCell::new(Vec::new()));
    let mut campaigns = Vec::new();
    let mut weights = vec![1.0f64; points.len()];
    for phase in 0..2 {
        let delays = Arc::new(allocate(&points, &weights, per_phase));
        let mut phase_args = run_args.clone();
        match args.budget {
            Some(budget) => phase_args.duration = Some(budget / 2),
            None => phase_args.runs = Some(delays.len() as u64),
        }
        let mut prepared = prepare(&phase_args.request(), db)?;
        prepared.nest_out_dir(args.run.out.as_deref());
        let script = prepared
            .spec
            .script
            .clone()
            .context("window needs a script with a sleep step")?;
        let step = script
            .steps
            .iter()
            .position(|step| matches!(step, Step::Sleep { .. }))
            .context(
                "the script has no sleep step to sweep; add one, e.g. --step 'sleep 0..5ms'",
            )?;
        prepared.spec.sweep = Some(Sweep {
            step,
            delays: delays.clone(),
        });
        let collector: Box<dyn Sink> = Box::new(SampleSink {
            samples: samples.clone(),
            delays,
            step,
        });
        if !json {
            eprintln!(
                "window: phase {} of 2, {} runs over {} delays from {} to {}",
                phase + 1,
                if args.budget.is_some() {
                    "timed".to_string()
                } else {
                    per_phase.to_string()
                },
                points.len(),
                compact_duration(min),
                compact_duration(max)
            );
        }
        let result = launch(&prepared, vec![collector])?;
        campaigns.push(result.summary.campaign.clone());
        if result.summary.interrupted {
            break;
        }
        let map = map_window(&samples.borrow(), &points);
        weights = refine(&map);
    }
    let samples = samples.borrow().clone();
    let map = map_window(&samples, &points);
    if let Some(db) = db_for(&args.run, db) {
        record(&db, &campaigns, &args.sweep, &map)?;
    }
    let mut out = std::io::stdout().lock();
    if json {
        let value = serde_json::json!({
            "sweep": args.sweep,
            "campaigns": campaigns,
            "runs": samples.len(),
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
        });
        let _ = writeln!(out, "{value}");
        return Ok(EXIT_OK);
    }
    let _ = write!(out, "{}", render(&map, samples.len()));
    Ok(EXIT_OK)
}

fn db_for(args: &RunArgs, db: &Path) -> Option<std::path::PathBuf> {
    (!args.no_history).then(|| db.to_path_buf())
}

/// Delays for `runs` runs, in proportion to `weights`, interleaved so that an early stop still
/// covers every delay.
fn allocate(points: &[f64], weights: &[f64], runs: u64) -> Vec<Duration> {
    let total: f64 = weights.iter().sum();
    let mut credit = vec![0.0f64; points.len()];
    let mut delays = Vec::with_capacity(runs as usize);
    while (delays.len() as u64) < runs {
        for (i, point) in points.iter().enumerate() {
            credit[i] += weights[i] / total * points.len() as f64;
            while credit[i] >= 1.0 && (delays.len() as u64) < runs {
                credit[i] -= 1.0;
                delays.push(Duration::from_secs_f64(*point));
            }
        }
    }
    delays
}

/// Weights for the second phase: buckets next to a change in rate get most runs.
fn refine(map: &WindowMap) -> Vec<f64> {
    let rates: Vec<f64> = map.buckets.iter().map(|b| b.rate.estimate).collect();
    let mut weights = vec![0.25f64; rates.len()];
    for i in 0..rates.len() {
        let left = i.checked_sub(1).map(|j| (rates[i] - rates[j]).abs());
        let right = rates.get(i + 1).map(|r| (rates[i] - r).abs());
        let change = left.unwrap_or(0.0).max(right.unwrap_or(0.0));
        weights[i] += 4.0 * change;
    }
    weights
}

fn record(db: &Path, campaigns: &[String], sweep: &str, map: &WindowMap) -> Result<()> {
    let mut store = Store::open(db)?;
    let result = serde_json::to_string(map).context("encode window")?;
    let id = campaigns.first().cloned().unwrap_or_default();
    let campaigns = serde_json::to_string(campaigns).context("encode campaigns")?;
    store
        .write(|conn| {
            conn.execute(
                "INSERT OR REPLACE INTO windows (id, created_at, sweep, campaigns, result) VALUES (?1, ?2, ?3, ?4, ?5)",
                rusqlite::params![id, crate::store::now_rfc3339(), sweep, campaigns, result],
            )
        })
        .with_context(|| format!("could not record the window in {}", db.display()))?;
    Ok(())
}

fn render(map: &WindowMap, runs: usize) -> String {
    let mut out = String::new();
    let width = 40.0;
    out.push_str(&format!(
        "{:>10} {:>10}  {:>6} {:>6}  {:>8}  {:>17}  failure rate\n",
        "from", "to", "runs", "fails", "rate", "95% interval"
    ));
    for bucket in &map.buckets {
        let bar = "#".repeat((bucket.rate.estimate * width).round() as usize);
        out.push_str(&format!(
            "{:>10} {:>10}  {:>6} {:>6}  {:>8}  {:>8}..{:<8}  {bar}\n",
            compact_duration(Duration::from_secs_f64(bucket.from_s)),
            compact_duration(Duration::from_secs_f64(bucket.to_s)),
            bucket.runs,
            bucket.failures,
            if bucket.runs == 0 {
                "-".into()
            } else {
                format_rate(bucket.rate.estimate)
            },
            format_rate(bucket.rate.low),
            format_rate(bucket.rate.high),
        ));
    }
    let show = |s: f64| compact_duration(Duration::from_secs_f64(s.max(0.0)));
    match &map.window {
        Some(window) => {
            let start = if window.start.open {
                format!("at or before {}", show(window.start.at_s))
            } else {
                format!(
                    "{} ± {}",
                    show(window.start.at_s),
                    show(window.start.uncertainty_s)
                )
            };
            let end = if window.end.open {
                format!("at or after {} (widen the sweep)", show(window.end.at_s))
            } else {
                format!(
                    "{} ± {}",
                    show(window.end.at_s),
                    show(window.end.uncertainty_s)
                )
            };
            out.push_str(&format!(
                "\nwindow: failures from {start} to {end}; peak rate {} ({runs} runs)\n",
                format_rate(window.peak_rate)
            ));
        }
        None => out.push_str(&format!(
            "\nno failure in {runs} runs: no window found in this range\n"
        )),
    }
    out.push_str(&format!(
        "sender jitter (measured minus requested delay): median {}, p99 {}, max {}; trust edges to about the p99\n",
        show(map.jitter.median_s),
        show(map.jitter.p99_s),
        show(map.jitter.max_s)
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allocation_follows_weights_and_covers_every_point() {
        let points = [0.0, 1.0, 2.0, 3.0];
        let delays = allocate(&points, &[1.0, 1.0, 1.0, 1.0], 8);
        assert_eq!(delays.len(), 8);
        for point in points {
            assert_eq!(
                delays.iter().filter(|d| d.as_secs_f64() == point).count(),
                2
            );
        }
        let skewed = allocate(&points, &[0.1, 0.1, 3.0, 0.1], 100);
        let at_two = skewed.iter().filter(|d| d.as_secs_f64() == 2.0).count();
        assert!(at_two > 80, "{at_two}");
    }

    #[test]
    fn sweep_specs() {
        assert_eq!(
            parse_sweep("sleep 0us..20ms").expect("ok"),
            (Duration::ZERO, Duration::from_millis(20))
        );
        assert!(parse_sweep("sleep 5ms").is_err());
        assert!(parse_sweep("signal INT").is_err());
    }
}
