//! `flakehunt hunt`: find the perturbation that reproduces a failure fastest. The hunt itself
//! is [`crate::campaign::hunt`]; this parses its arguments and shows its outcome with
//! [`crate::report::hunt`].

use std::path::Path;

use anyhow::Result;
use clap::Args;

use crate::campaign::hunt::{hunt, HuntRequest, HuntRun};
use crate::cli::report::AfterReport;
use crate::cli::run::{exit_status, RunArgs};
use crate::cli::EXIT_RUNTIME;
use crate::report;
use crate::store::report::Subject;

/// Arguments of `flakehunt hunt`.
#[derive(Debug, Clone, Args)]
#[command(after_help = HUNT_HELP)]
// Hunt picks the shakes itself (--arms); a --shake is refused with that said.
#[command(mut_arg("shake", |arg| arg.hide(true)))]
pub struct HuntArgs {
    /// Budget of the whole hunt, confirmation included: a duration (`10m`) or a number of runs
    /// (`5000`).
    #[arg(long, value_name = "DUR|N", default_value = "10m")]
    pub budget: String,
    /// The search ends once the arms have this many failures in all (or when the budget is
    /// spent, whichever comes first).
    #[arg(long, value_name = "K", default_value_t = 3)]
    pub failures: u64,
    /// Arms to try, separated by `;` (`plain;pin=one-core;cpu-load=2`) [default: a set chosen
    /// for the program's runtime].
    #[arg(long, value_name = "LIST")]
    pub arms: Option<String>,
    /// Runs per batch given to the chosen arm [default: about 250 ms of the arm's runs].
    #[arg(long, value_name = "N")]
    pub batch: Option<u64>,
    /// Share of the budget spent measuring the winner against plain once the search is over
    /// (never longer than the search took); 0 skips it.
    #[arg(long, value_name = "SHARE", default_value_t = crate::analysis::hunt::CONFIRM_SHARE)]
    pub confirm: f64,
    /// Runner options and the command, as for `flakehunt run`.
    #[command(flatten)]
    pub run: RunArgs,
}

/// How hunt's limits combine, and examples, at the end of its `--help`.
const HUNT_HELP: &str = "Limits: the search ends at --failures K failures over all arms or \
when --budget is spent, whichever comes first; the confirmation then measures the winner \
against plain with at most --confirm of the budget. run's -n, --duration and --max-failures \
are not hunt's: write --budget N (runs), --budget DUR (time) and --failures K instead.

Examples:
  flakehunt hunt --budget 10m -- ./my_test
  flakehunt hunt --budget 5000 --failures 5 --arms 'plain;pin=one-core;cpu-load=2' -- ./my_test
  flakehunt hunt --cargo-test pool::tests::keeps_order && flakehunt run -n 1000 --shake best \\
      --cargo-test pool::tests::keeps_order";

/// `flakehunt hunt`.
pub fn execute(mut args: HuntArgs, db: &Path) -> Result<i32> {
    let run = &args.run;
    if run.shard.is_some() || run.export.is_some() || run.campaign_id.is_some() {
        return crate::cli::hunt_arm::execute(&args, db);
    }
    let budget = crate::cli::parse_budget(&args.budget)?;
    let after = AfterReport::prepare(args.run.report.as_deref(), &mut args.run.no_history, db)?;
    let db = after.as_ref().map_or(db, |after| after.db());
    let request = HuntRequest {
        campaign: args.run.request(),
        failures: args.failures,
        budget,
        arms: args.arms.clone(),
        batch: args.batch,
        confirm: args.confirm,
        quiet: args.run.quiet,
    };
    let run = hunt(&request, db)?;
    let mut status = exit_status(&run.result);
    print_view(&run, args.run.json)?;
    if let Some(error) = &run.record_error {
        eprintln!("flakehunt: error: {error}");
        status = EXIT_RUNTIME;
    }
    Ok(match &after {
        Some(after) => after.finish(|after| write_report(after, &run), status),
        None => status,
    })
}

/// Print the hunt's outcome, as text or JSON.
fn print_view(run: &HuntRun, json: bool) -> Result<()> {
    let rendered = if json {
        report::hunt::json(&run.view)? + "\n"
    } else {
        report::hunt::text(&run.view)
    };
    crate::cli::print_stdout(&rendered)
}

/// The hunt's report: from the history when it was recorded, else from its outcome and the
/// campaign it ran.
fn write_report(after: &AfterReport, run: &HuntRun) -> Result<()> {
    match run.recorded {
        Some(id) => after.write(&Subject::Hunt(id), None),
        None => after.write_data(&run.unrecorded_report(after.db())?),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use crate::analysis::hunt::Budget;

    #[test]
    fn budgets_parse() {
        assert!(matches!(
            crate::cli::parse_budget("500"),
            Ok(Budget::Runs(500))
        ));
        assert!(
            matches!(crate::cli::parse_budget("10m"), Ok(Budget::Time(d)) if d == Duration::from_secs(600))
        );
        assert!(crate::cli::parse_budget("0").is_err());
        assert!(crate::cli::parse_budget("0s").is_err());
        assert!(crate::cli::parse_budget("soon").is_err());
    }
}
