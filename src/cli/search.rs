//! `flakehunt search`: find past failures by regex across campaigns and ingested CI artifacts,
//! grouped by signature; `--triage` shows every signature's trend over time.

use std::io::Write;
use std::path::Path;

use anyhow::{anyhow, bail, Context, Result};
use clap::{Args, ValueEnum};
use regex::Regex;

use crate::cli::{EXIT_FAILURES, EXIT_OK};
use crate::ingest::date::normalise_date;
use crate::report;
use crate::store::search::{search, triage, Period, SearchQuery};
use crate::store::Store;

/// Arguments of `flakehunt search`.
#[derive(Debug, Clone, Args)]
pub struct SearchArgs {
    /// Regex matched against each line of a failure (test name, message, output snippet).
    #[arg(value_name = "REGEX")]
    pub pattern: Option<String>,
    /// Only failures on or after this date (e.g. 2021-04-01).
    #[arg(long, value_name = "DATE")]
    pub since: Option<String>,
    /// Only tests whose name contains NAME.
    #[arg(long, value_name = "NAME")]
    pub test: Option<String>,
    /// Only this platform or builder.
    #[arg(long, value_name = "NAME")]
    pub platform: Option<String>,
    /// Leave out failures matching REGEX (repeatable).
    #[arg(long, value_name = "REGEX")]
    pub omit: Vec<String>,
    /// Show every signature's counts over time (REGEX optional).
    #[arg(long)]
    pub triage: bool,
    /// Period of the triage columns.
    #[arg(long, value_enum, default_value_t = PeriodArg::Week)]
    pub by: PeriodArg,
    /// Number of triage columns.
    #[arg(long, value_name = "N", default_value_t = 12)]
    pub periods: usize,
    /// Call a signature `gone` once it has not been seen for N periods (days or weeks).
    #[arg(long, value_name = "N", default_value_t = crate::store::search::DEFAULT_GONE_AFTER)]
    pub gone_after: u64,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// `--by` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PeriodArg {
    /// One column per day.
    Day,
    /// One column per week.
    Week,
}

fn compile(flag: &str, pattern: &str) -> Result<Regex> {
    Regex::new(pattern).map_err(|error| {
        anyhow!(
            "invalid {flag} regex '{pattern}': {}",
            crate::text::regex_reason(&error)
        )
    })
}

/// The store query the flags ask for, after checking them.
pub(crate) fn query(args: &SearchArgs) -> Result<SearchQuery> {
    if args.pattern.is_none() && !args.triage {
        bail!("give a REGEX to search for, or --triage for an overview");
    }
    if args.periods == 0 || args.periods > 520 {
        bail!("--periods must be between 1 and 520");
    }
    if args.gone_after == 0 {
        bail!(
            "--gone-after must be at least 1 (a signature seen in the newest period is not gone)"
        );
    }
    Ok(SearchQuery {
        pattern: args
            .pattern
            .as_deref()
            .map(|p| compile("search", p))
            .transpose()?,
        omit: args
            .omit
            .iter()
            .map(|p| compile("--omit", p))
            .collect::<Result<_>>()?,
        since: match &args.since {
            Some(date) => Some(normalise_date(date).with_context(|| {
                format!("--since '{date}' is not a date; write e.g. 2021-04-01")
            })?),
            None => None,
        },
        test: args.test.clone(),
        platform: args.platform.clone(),
    })
}

/// `flakehunt search`: exits 1 when nothing matches (the triage overview always exits 0).
pub fn execute(args: SearchArgs, db: &Path) -> Result<i32> {
    let query = query(&args)?;
    let store = Store::open_existing(db)?;
    let (shown, code) = if args.triage {
        let period = match args.by {
            PeriodArg::Day => Period::Day,
            PeriodArg::Week => Period::Week,
        };
        let view = triage(&store, &query, period, args.periods, args.gone_after)?;
        let shown = if args.json {
            report::search::triage_json(&view)? + "\n"
        } else {
            report::search::triage_text(&view)
        };
        (shown, EXIT_OK)
    } else {
        let result = search(&store, &query)?;
        let shown = if args.json {
            report::search::json(&result)? + "\n"
        } else {
            report::search::text(&result)
        };
        let found = !result.groups.is_empty();
        (shown, if found { EXIT_OK } else { EXIT_FAILURES })
    };
    let _ = std::io::stdout().lock().write_all(shown.as_bytes());
    Ok(code)
}
