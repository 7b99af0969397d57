//! `flakehunt hunt`: find the perturbation that reproduces a failure fastest. Arms (plain and a
//! set of shakes) get batches of runs chosen by an optimistic bandit: the arm whose failure rate
//! could be highest (the upper end of its exact interval) runs next, so arms that reproduce get
//! the runs. Stops at K failures in one arm or when the budget is spent.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::Args;
use serde::Serialize;

use crate::analysis::stats::{clopper_pearson, rate_ratio, upper_bound, Interval};
use crate::campaign::{launch, prepare};
use crate::cli::run::RunArgs;
use crate::cli::{EXIT_FAILURES, EXIT_OK};
use crate::report::format::format_rate;
use crate::shake::{noise, online_cpus, Shake};
use crate::sink::progress::ProgressMode;
use crate::store::Store;

/// Arguments of `flakehunt hunt`.
#[derive(Debug, Clone, Args)]
pub struct HuntArgs {
    /// Budget: a duration (`10m`) or a number of runs (`5000`).
    #[arg(long, value_name = "DUR|N", default_value = "10m")]
    pub budget: String,
    /// Stop once one arm has this many failures.
    #[arg(long, value_name = "K", default_value_t = 3)]
    pub failures: u64,
    /// Arms to try, separated by `;` (`plain;pin=one-core;cpu-load=2`) [default: a built-in set].
    #[arg(long, value_name = "LIST")]
    pub arms: Option<String>,
    /// Runs per batch given to the chosen arm [default: 10 per job].
    #[arg(long, value_name = "N")]
    pub batch: Option<u64>,
    /// Runner options and the command, as for `flakehunt run`.
    #[command(flatten)]
    pub run: RunArgs,
}

/// One arm's tally.
#[derive(Debug, Clone, Serialize)]
pub struct Arm {
    /// The perturbation (`plain` for none).
    pub shake: String,
    /// Runs.
    pub runs: u64,
    /// Failures.
    pub failures: u64,
    /// Failure rate with its 95% interval.
    pub rate: Interval,
    /// Rate relative to plain (None while either is unknown; infinite when plain never failed).
    pub speedup: Option<f64>,
    /// Lower end of the speedup's 95% interval.
    pub speedup_low: Option<f64>,
    /// Failures per signature id.
    pub signatures: BTreeMap<String, u64>,
    /// Wall time spent on this arm, seconds.
    pub elapsed_s: f64,
}

/// A failure mode that an arm made disappear.
#[derive(Debug, Clone, Serialize)]
pub struct Suppressed {
    /// The arm.
    pub shake: String,
    /// Signature id.
    pub signature: String,
    /// Signature text.
    pub text: String,
    /// Failures expected from the rate seen elsewhere.
    pub expected: f64,
}

fn default_arms() -> Vec<String> {
    let cpus = online_cpus().len();
    let mut arms = vec![
        "plain".to_string(),
        "pin=one-core".to_string(),
        format!("cpu-load={cpus}"),
        "pin=one-core,cpu-load=1".to_string(),
        format!("nice=19,cpu-load={cpus}"),
        format!("sched=idle,cpu-load={cpus}"),
        "jitter=1ms".to_string(),
        format!("mem-load=1,cpu-load={}", cpus.saturating_sub(1).max(1)),
    ];
    if noise::available() {
        arms.push("noise=0.05".into());
        arms.push("pin=one-core,noise=0.05".into());
    }
    arms
}

enum Budget {
    Time(Duration),
    Runs(u64),
}

fn parse_budget(text: &str) -> Result<Budget> {
    if let Ok(runs) = text.trim().parse::<u64>() {
        if runs == 0 {
            bail!("--budget must be more than 0 runs");
        }
        return Ok(Budget::Runs(runs));
    }
    let duration = humantime::parse_duration(text.trim()).map_err(|error| {
        anyhow::anyhow!("--budget '{text}' is neither a number of runs nor a duration ({error})")
    })?;
    if duration.is_zero() {
        bail!("--budget must be longer than 0");
    }
    Ok(Budget::Time(duration))
}

/// `flakehunt hunt`.
pub fn execute(args: HuntArgs, db: &Path) -> Result<i32> {
    let budget = parse_budget(&args.budget)?;
    if args.failures == 0 {
        bail!("--failures must be at least 1");
    }
    if args.run.runs.is_some() || args.run.duration.is_some() || args.run.max_failures.is_some() {
        bail!("hunt decides how many runs each arm gets; use --budget and --failures instead of -n/--duration/--max-failures");
    }
    if args.run.shake.is_some() {
        bail!("hunt tries shakes itself; list them with --arms instead of --shake");
    }
    let arm_texts: Vec<String> = match &args.arms {
        Some(list) => list
            .split(';')
            .map(|a| a.trim().to_string())
            .filter(|a| !a.is_empty())
            .collect(),
        None => default_arms(),
    };
    if arm_texts.is_empty() {
        bail!("--arms lists no arm");
    }
    // Validate every arm before anything runs.
    for text in &arm_texts {
        if text != "plain" {
            Shake::parse(text)?;
        }
    }
    let jobs = args
        .run
        .jobs
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let batch = args.batch.unwrap_or(10 * jobs as u64).max(1);
    let json = args.run.json;
    let started = Instant::now();
    let mut arms: Vec<Arm> = arm_texts
        .iter()
        .map(|shake| Arm {
            shake: shake.clone(),
            runs: 0,
            failures: 0,
            rate: clopper_pearson(0, 0, 0.95),
            speedup: None,
            speedup_low: None,
            signatures: BTreeMap::new(),
            elapsed_s: 0.0,
        })
        .collect();
    let mut texts: BTreeMap<String, String> = BTreeMap::new();
    let mut total_runs = 0u64;
    let mut interrupted = false;
    loop {
        if arms.iter().any(|arm| arm.failures >= args.failures) {
            break;
        }
        let remaining = match budget {
            Budget::Time(limit) => {
                let left = limit.saturating_sub(started.elapsed());
                if left.is_zero() {
                    break;
                }
                Some(left)
            }
            Budget::Runs(limit) => {
                if total_runs >= limit {
                    break;
                }
                None
            }
        };
        // Optimism: the arm whose rate could be highest goes next; untried arms first, in the
        // order listed, so plain (listed first by default) sets the baseline for speedups.
        let chosen = (0..arms.len())
            .max_by(|&a, &b| {
                let score = |arm: &Arm| upper_bound(arm.failures, arm.runs, 0.95);
                score(&arms[a])
                    .total_cmp(&score(&arms[b]))
                    .then(arms[b].runs.cmp(&arms[a].runs))
                    .then(b.cmp(&a))
            })
            .context("no arm")?;
        let mut run_args = args.run.clone();
        run_args.shake = (arms[chosen].shake != "plain").then(|| arms[chosen].shake.clone());
        let runs = match budget {
            Budget::Runs(limit) => batch.min(limit - total_runs),
            Budget::Time(_) => batch,
        };
        run_args.runs = Some(runs);
        run_args.duration = remaining;
        run_args.max_failures = Some(args.failures - arms[chosen].failures);
        let mut prepared = prepare(&run_args.request(), db)?;
        prepared.nest_out_dir(args.run.out.as_deref());
        prepared.outputs.progress = ProgressMode::Quiet;
        let batch_started = Instant::now();
        let result = launch(&prepared, Vec::new())?;
        let summary = result.summary;
        let arm = &mut arms[chosen];
        arm.runs += summary.runs;
        arm.failures += summary.failures;
        arm.elapsed_s += batch_started.elapsed().as_secs_f64();
        for signature in summary.signatures.iter().filter(|s| !s.ignored) {
            *arm.signatures.entry(signature.id.clone()).or_default() += signature.count;
            texts
                .entry(signature.id.clone())
                .or_insert_with(|| signature.text.clone());
        }
        total_runs += summary.runs;
        if !json {
            eprintln!(
                "hunt: {:<32} {:>7} runs {:>5} failures  {}",
                arm.shake,
                arm.runs,
                arm.failures,
                if arm.runs > 0 {
                    format_rate(arm.failures as f64 / arm.runs as f64)
                } else {
                    "-".into()
                }
            );
        }
        if summary.interrupted {
            interrupted = true;
            break;
        }
        if summary.runs == 0 {
            // Nothing ran (the budget ended inside the batch): stop rather than spin.
            break;
        }
    }
    let plain = arms
        .iter()
        .find(|arm| arm.shake == "plain")
        .map(|arm| (arm.failures, arm.runs));
    for arm in &mut arms {
        arm.rate = clopper_pearson(arm.failures, arm.runs, 0.95);
        if let Some((plain_failures, plain_runs)) = plain {
            if arm.shake != "plain" && arm.runs > 0 && plain_runs > 0 {
                if let Some(ratio) =
                    rate_ratio(plain_failures, plain_runs, arm.failures, arm.runs, 0.95)
                {
                    arm.speedup = Some(ratio.estimate);
                    arm.speedup_low = Some(ratio.low);
                }
            }
        }
    }
    let suppressed = find_suppressed(&arms, &texts);
    let best = arms
        .iter()
        .filter(|arm| arm.failures > 0)
        .max_by(|a, b| {
            a.rate
                .low
                .total_cmp(&b.rate.low)
                .then(a.rate.estimate.total_cmp(&b.rate.estimate))
        })
        .map(|arm| arm.shake.clone());
    if let (Some(best), false) = (&best, args.run.no_history) {
        let mut store = Store::open(db)?;
        let command: Vec<String> = args
            .run
            .command
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        let result = serde_json::to_string(&arms).context("encode arms")?;
        let command = serde_json::to_string(&command).context("encode command")?;
        store
            .write(|conn| {
                conn.execute(
                    "INSERT INTO hunts (created_at, command, best, result) VALUES (?1, ?2, ?3, ?4)",
                    rusqlite::params![crate::store::now_rfc3339(), command, best, result],
                )
            })
            .with_context(|| format!("could not record the hunt in {}", db.display()))?;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let mut out = std::io::stdout().lock();
    if json {
        let value = serde_json::json!({
            "arms": arms,
            "best": best,
            "runs": total_runs,
            "elapsed_s": elapsed,
            "interrupted": interrupted,
            "suppressed": suppressed,
        });
        let _ = writeln!(out, "{value}");
    } else {
        let _ = writeln!(
            out,
            "{:<34} {:>8} {:>8}  {:>8}  {:>19}  speedup over plain",
            "arm", "runs", "failures", "rate", "95% interval"
        );
        for arm in &arms {
            let speedup = match (arm.speedup, arm.speedup_low) {
                (Some(s), _) if s.is_finite() => format!("{s:.1}x"),
                (Some(_), Some(low)) if low > 0.0 => format!(">= {low:.1}x (plain never failed)"),
                (Some(_), _) => "plain never failed".into(),
                _ => "-".into(),
            };
            let _ = writeln!(
                out,
                "{:<34} {:>8} {:>8}  {:>8}  {:>9}..{:<9}  {speedup}",
                arm.shake,
                arm.runs,
                arm.failures,
                if arm.runs == 0 {
                    "-".into()
                } else {
                    format_rate(arm.rate.estimate)
                },
                format_rate(arm.rate.low),
                format_rate(arm.rate.high),
            );
        }
        for gone in &suppressed {
            let _ = writeln!(
                out,
                "note: under {} the failure '{}' disappeared (about {:.1} expected): a clue about the race",
                gone.shake,
                crate::text::escape_line(gone.text.as_bytes(), 100),
                gone.expected
            );
        }
        match &best {
            Some(best) => {
                let _ = writeln!(
                    out,
                    "best: {best}  (reuse it with: flakehunt run --shake best -- ...)"
                );
            }
            None => {
                let _ = writeln!(out, "no arm reproduced the failure in {total_runs} runs");
            }
        }
    }
    Ok(if best.is_some() {
        EXIT_FAILURES
    } else {
        EXIT_OK
    })
}

/// Signatures an arm never showed although other arms' rates say it should have (p < 0.05).
fn find_suppressed(arms: &[Arm], texts: &BTreeMap<String, String>) -> Vec<Suppressed> {
    let mut found = Vec::new();
    for (id, text) in texts {
        // The reference rate: plain's when plain ran (the program undisturbed), else the highest
        // rate at which any arm showed this signature.
        let rate_in =
            |arm: &Arm| arm.signatures.get(id).copied().unwrap_or(0) as f64 / arm.runs as f64;
        let plain = arms.iter().find(|arm| arm.shake == "plain" && arm.runs > 0);
        let reference = match plain {
            Some(plain) => Some(rate_in(plain)),
            None => arms
                .iter()
                .filter(|arm| arm.runs > 0)
                .map(rate_in)
                .max_by(f64::total_cmp),
        };
        let Some(rate) = reference.filter(|rate| *rate > 0.0) else {
            continue;
        };
        for arm in arms
            .iter()
            .filter(|arm| arm.runs > 0 && !arm.signatures.contains_key(id))
        {
            let p_zero = (1.0 - rate).powf(arm.runs as f64);
            if p_zero < 0.05 {
                found.push(Suppressed {
                    shake: arm.shake.clone(),
                    signature: id.clone(),
                    text: text.clone(),
                    expected: rate * arm.runs as f64,
                });
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budgets_parse() {
        assert!(matches!(parse_budget("500"), Ok(Budget::Runs(500))));
        assert!(
            matches!(parse_budget("10m"), Ok(Budget::Time(d)) if d == Duration::from_secs(600))
        );
        assert!(parse_budget("0").is_err());
        assert!(parse_budget("soon").is_err());
    }

    #[test]
    fn suppression_needs_evidence() {
        let arm = |shake: &str, runs: u64, failures: &[(&str, u64)]| Arm {
            shake: shake.into(),
            runs,
            failures: failures.iter().map(|(_, c)| c).sum(),
            rate: clopper_pearson(0, runs, 0.95),
            speedup: None,
            speedup_low: None,
            signatures: failures
                .iter()
                .map(|(id, c)| (id.to_string(), *c))
                .collect(),
            elapsed_s: 0.0,
        };
        let texts: BTreeMap<String, String> = [("a".to_string(), "exit 1: A".to_string())]
            .into_iter()
            .collect();
        let arms = vec![
            arm("plain", 100, &[("a", 10)]),
            arm("pin=one-core", 100, &[]),
            arm("nice=5", 3, &[]),
        ];
        let gone = find_suppressed(&arms, &texts);
        assert_eq!(gone.len(), 1, "3 runs are too few to say: {gone:?}");
        assert_eq!(gone[0].shake, "pin=one-core");
    }
}
