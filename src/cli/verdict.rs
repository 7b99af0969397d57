//! Verdicts: `flakehunt plan` (how many runs a question needs), `flakehunt verify` (is it fixed?)
//! and `flakehunt compare` (is B better than A?), with their exit statuses. The decisions are
//! [`crate::analysis::verdict`]'s, the wording [`crate::report`]'s.

use std::path::Path;

use anyhow::{bail, Result};
use clap::Args;

use crate::analysis::spec_diff;
use crate::analysis::summary::Summary;
use crate::analysis::verdict::{
    Baseline, Comparison, Direction, Plan, PlanRequest, VerifyPlan, VerifyVerdict,
};
use crate::campaign::{launch, prepare};
use crate::cli::report::AfterReport;
use crate::cli::run::{exit_status, RunArgs};
use crate::cli::{
    print_stdout, EXIT_FAILURES, EXIT_INCONCLUSIVE, EXIT_INTERRUPTED, EXIT_OK, EXIT_RUNTIME,
    EXIT_USAGE,
};
use crate::report;
use crate::store::report::Subject;
use crate::store::{query, Store};

/// Arguments of `flakehunt plan`.
#[derive(Debug, Clone, Args)]
pub struct PlanArgs {
    /// Failure rate: `1/30000`, `0.0033%` or `3.3e-5` [default: the campaign's rate].
    #[arg(long, value_name = "RATE", value_parser = parse_rate)]
    pub rate: Option<f64>,
    /// Confidence of every claim.
    #[arg(long, value_name = "C", default_value_t = 0.95, value_parser = parse_confidence)]
    pub confidence: f64,
    /// Reproduce this many times (besides once).
    #[arg(short = 'k', long, value_name = "K", default_value_t = 3)]
    pub times: u64,
    /// Take the throughput (and, without --rate, the rate) from this campaign (`last` works).
    #[arg(long, value_name = "ID")]
    pub campaign: Option<String>,
    /// Throughput for the wall-time estimates.
    #[arg(long, value_name = "N")]
    pub runs_per_second: Option<f64>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `flakehunt verify`.
#[derive(Debug, Clone, Args)]
#[command(after_help = VERIFY_HELP)]
#[command(mut_arg("duration", |arg| arg.hide(false).help(
    "Give up after this much time: stopping before the planned runs, with no failure, is \
     INCONCLUSIVE (exit 4)"
)))]
pub struct VerifyArgs {
    /// The campaign that showed the failure before the fix (`last` works).
    #[arg(long, value_name = "ID", conflicts_with = "baseline_rate")]
    pub baseline: Option<String>,
    /// The failure rate before the fix, if no campaign recorded it: `1/30000`, `0.01%`.
    #[arg(long, value_name = "RATE", value_parser = parse_rate)]
    pub baseline_rate: Option<f64>,
    /// Confidence required to call it fixed.
    #[arg(long, value_name = "C", default_value_t = 0.95, value_parser = parse_confidence)]
    pub confidence: f64,
    /// Runner options and the command, as for `flakehunt run`.
    #[command(flatten)]
    pub run: RunArgs,
}

/// How verify's limits work, and examples, at the end of its `--help`.
const VERIFY_HELP: &str = "Limits: verify works out how many clean runs prove the fix at \
--confidence against the baseline and stops at the first failure (NOT FIXED); --duration \
gives up earlier (INCONCLUSIVE). run's -n and --max-failures do not apply.

Examples:
  flakehunt verify --baseline last -- ./my_test
  flakehunt verify --baseline-rate 1/3000 --duration 30m --cargo-test pool::tests::keeps_order";

/// Arguments of `flakehunt compare`.
#[derive(Debug, Clone, Args)]
pub struct CompareArgs {
    /// The first campaign (before).
    #[arg(value_name = "A")]
    pub a: String,
    /// The second campaign (after).
    #[arg(value_name = "B")]
    pub b: String,
    /// Confidence for intervals and the verdict.
    #[arg(long, value_name = "C", default_value_t = 0.95, value_parser = parse_confidence)]
    pub confidence: f64,
    /// Exit 1 when B fails significantly more often than A (for CI).
    #[arg(long)]
    pub fail_if_worse: bool,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// Parse `1/30000`, `0.0033%` or `3.3e-5` as a probability in (0, 1).
pub fn parse_rate(text: &str) -> Result<f64, String> {
    let text = text.trim();
    let value = if let Some((numerator, denominator)) = text.split_once('/') {
        let numerator: f64 = numerator.trim().parse().map_err(|_| bad_rate(text))?;
        let denominator: f64 = denominator.trim().parse().map_err(|_| bad_rate(text))?;
        numerator / denominator
    } else if let Some(percent) = text.strip_suffix('%') {
        percent.trim().parse::<f64>().map_err(|_| bad_rate(text))? / 100.0
    } else {
        text.parse::<f64>().map_err(|_| bad_rate(text))?
    };
    if value.is_finite() && value > 0.0 && value < 1.0 {
        Ok(value)
    } else {
        Err(format!("rate '{text}' must be between 0 and 1 (exclusive)"))
    }
}

fn bad_rate(text: &str) -> String {
    format!("'{text}' is not a rate; write e.g. 1/30000, 0.01% or 3.3e-5")
}

fn parse_confidence(text: &str) -> Result<f64, String> {
    let value: f64 = text
        .trim()
        .trim_end_matches('%')
        .parse()
        .map_err(|_| format!("'{text}' is not a confidence; write e.g. 0.95"))?;
    let value = if text.trim().ends_with('%') {
        value / 100.0
    } else {
        value
    };
    if value > 0.0 && value < 1.0 {
        Ok(value)
    } else {
        Err(format!(
            "confidence '{text}' must be between 0 and 1, e.g. 0.95"
        ))
    }
}

/// A recorded campaign's summary, named by id, unique prefix or `last`.
fn load_summary(store: &Store, wanted: &str) -> Result<Summary> {
    let id = query::resolve_campaign(store, wanted)?;
    query::summary(store, &id)
}

/// Print a finished view to stdout (see [`print_stdout`]).
fn emit(text: &str) -> Result<()> {
    print_stdout(text)
}

/// `flakehunt plan`.
pub fn plan(args: PlanArgs, db: &Path) -> Result<i32> {
    let campaign = match &args.campaign {
        Some(wanted) => Some(load_summary(&Store::open_existing(db)?, wanted)?),
        None => None,
    };
    let request = PlanRequest {
        rate: args.rate,
        confidence: args.confidence,
        times: args.times,
        runs_per_second: args.runs_per_second,
    };
    let plan = Plan::new(request, campaign.as_ref().map(Baseline::from))?;
    if args.json {
        emit(&format!("{}\n", report::plan::json(&plan)))?;
    } else {
        emit(&report::plan::text(&plan))?;
    }
    Ok(EXIT_OK)
}

/// `flakehunt verify`: 0 fixed, 1 not fixed, 4 inconclusive; 130 when interrupted, 3 after a
/// runtime error, 2 when the command could not be started (the verdict is printed first).
pub fn verify(mut args: VerifyArgs, db: &Path) -> Result<i32> {
    crate::cli::run::refuse_scale_out(&args.run, "verify")?;
    if args.run.runs.is_some() || args.run.max_failures.is_some() {
        bail!("verify decides how many runs it needs; drop -n/--runs and --max-failures");
    }
    let plan = match (&args.baseline, args.baseline_rate) {
        (Some(wanted), _) => {
            let baseline = load_summary(&Store::open_existing(db)?, wanted)?;
            VerifyPlan::against_campaign(Baseline::from(&baseline), args.confidence)?
        }
        (None, Some(rate)) => VerifyPlan::against_rate(rate, args.confidence)?,
        (None, None) => {
            bail!("give --baseline ID (a campaign that failed) or --baseline-rate RATE")
        }
    };
    let after = AfterReport::prepare(args.run.report.as_deref(), &mut args.run.no_history, db)?;
    let db = after.as_ref().map_or(db, |after| after.db());
    let mut run_args = args.run;
    run_args.runs = Some(plan.required);
    run_args.max_failures = Some(1);
    let prepared = prepare(&run_args.request(), db)?;
    if !run_args.json {
        eprintln!("{}", report::verify::announcement(&plan));
    }
    // The campaign's own summary is not printed: the verdict replaces it.
    let result = launch(&prepared, Vec::new())?;
    let outcome = plan.judge(&result.summary);
    let ended = exit_status(&result);
    let text = report::verify::text(&outcome);
    if run_args.json {
        emit(&format!("{}\n", report::verify::json(&outcome)))?;
    } else {
        emit(&text)?;
    }
    // How the campaign ended outranks its verdict, as for `run` (a spawn error only ever
    // comes without failures).
    let status = match ended {
        EXIT_RUNTIME | EXIT_INTERRUPTED | EXIT_USAGE => ended,
        _ => match outcome.verdict {
            VerifyVerdict::Fixed { .. } => EXIT_OK,
            VerifyVerdict::NotFixed(_) => EXIT_FAILURES,
            VerifyVerdict::Inconclusive => EXIT_INCONCLUSIVE,
        },
    };
    let subject = Subject::Campaign(result.summary.campaign.clone());
    // The verdict line also goes into a report file: without colour.
    let verdict = text.lines().next().map(report::style::plain);
    Ok(match &after {
        Some(after) => after.finish(|after| after.write(&subject, verdict), status),
        None => status,
    })
}

/// `flakehunt compare`: 0, or 1 with `--fail-if-worse` when B is significantly worse.
pub fn compare(args: CompareArgs, db: &Path) -> Result<i32> {
    let store = Store::open_existing(db)?;
    let (a_id, b_id) = (
        query::resolve_campaign(&store, &args.a)?,
        query::resolve_campaign(&store, &args.b)?,
    );
    let (a, b) = (
        query::summary(&store, &a_id)?,
        query::summary(&store, &b_id)?,
    );
    let comparison = Comparison::new(&a, &b, args.confidence)?;
    let differences = spec_diff::differences(
        &query::campaign_spec(&store, &a_id)?,
        &query::campaign_spec(&store, &b_id)?,
    );
    if args.json {
        emit(&format!(
            "{}\n",
            report::compare::json(&comparison, &differences)
        ))?;
    } else {
        emit(&report::compare::text(&comparison, &differences))?;
    }
    Ok(
        if args.fail_if_worse && comparison.verdict == Direction::Worse {
            EXIT_FAILURES
        } else {
            EXIT_OK
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_parse_in_every_form() {
        assert_eq!(parse_rate("1/30000"), Ok(1.0 / 30000.0));
        assert!((parse_rate("0.01%").expect("percent") - 1e-4).abs() < 1e-15);
        assert_eq!(parse_rate("3.3e-5"), Ok(3.3e-5));
        assert!(parse_rate("0").is_err());
        assert!(parse_rate("2/1").is_err());
        assert!(parse_rate("often").is_err());
        assert!(parse_rate("1/0").is_err());
    }

    #[test]
    fn confidences_parse() {
        assert_eq!(parse_confidence("0.95"), Ok(0.95));
        assert_eq!(parse_confidence("99%"), Ok(0.99));
        assert!(parse_confidence("1").is_err());
        assert!(parse_confidence("abc").is_err());
    }
}
