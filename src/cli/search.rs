//! `flakehunt search`: find past failures by regex across campaigns and ingested CI artifacts,
//! grouped by signature; `--triage` shows every signature's trend over time.

use std::io::Write;
use std::path::Path;

use anyhow::{anyhow, bail, Context, Result};
use clap::{Args, ValueEnum};
use regex::Regex;

use crate::cli::ingest::normalise_date;
use crate::cli::{EXIT_FAILURES, EXIT_OK};
use crate::store::search::{search, triage, Period, SearchQuery};
use crate::store::Store;
use crate::text::escape_line;

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

/// `flakehunt search`.
pub fn execute(args: SearchArgs, db: &Path) -> Result<i32> {
    if args.pattern.is_none() && !args.triage {
        bail!("give a REGEX to search for, or --triage for an overview");
    }
    if args.periods == 0 || args.periods > 520 {
        bail!("--periods must be between 1 and 520");
    }
    let query = SearchQuery {
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
    };
    let store = Store::open_existing(db)?;
    let mut out = std::io::stdout().lock();
    if args.triage {
        let period = match args.by {
            PeriodArg::Day => Period::Day,
            PeriodArg::Week => Period::Week,
        };
        let view = triage(&store, &query, period, args.periods)?;
        if args.json {
            let _ = writeln!(out, "{}", serde_json::to_string(&view)?);
            return Ok(EXIT_OK);
        }
        if view.rows.is_empty() {
            let _ = writeln!(out, "no failures recorded");
            return Ok(EXIT_OK);
        }
        let _ = writeln!(
            out,
            "{:<12}  {:>6}  {:<10}  {:<10}  {:<6}  {:<w$}  signature",
            "id",
            "count",
            "first",
            "last",
            "trend",
            format!(
                "{}s from {}",
                if period == Period::Day { "day" } else { "week" },
                view.periods.first().map(String::as_str).unwrap_or("")
            ),
            w = args.periods.max(10)
        );
        for row in &view.rows {
            let _ = writeln!(
                out,
                "{:<12}  {:>6}  {:<10}  {:<10}  {:<6}  {:<w$}  {}",
                row.signature,
                row.count,
                row.first_seen.get(..10).unwrap_or(&row.first_seen),
                row.last_seen.get(..10).unwrap_or(&row.last_seen),
                row.trend,
                sparkline(&row.per_period),
                escape_line(row.text.as_bytes(), 100),
                w = args.periods.max(10)
            );
        }
        return Ok(EXIT_OK);
    }
    let result = search(&store, &query)?;
    if args.json {
        let _ = writeln!(out, "{}", serde_json::to_string(&result)?);
        return Ok(if result.groups.is_empty() {
            EXIT_FAILURES
        } else {
            EXIT_OK
        });
    }
    let total: u64 = result.groups.iter().map(|g| g.count).sum();
    let _ = writeln!(
        out,
        "{total} sighting(s) in {} signature group(s); {} failure(s) scanned{}",
        result.groups.len(),
        result.scanned,
        if result.used_index {
            " (narrowed by the index)"
        } else {
            ""
        }
    );
    for group in &result.groups {
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "{}  {} sighting(s), first {}, last {}{}",
            group.signature,
            group.count,
            group.first_seen,
            group.last_seen,
            if group.from_campaigns > 0 {
                format!(", {} from flakehunt campaigns", group.from_campaigns)
            } else {
                String::new()
            }
        );
        let _ = writeln!(out, "  {}", escape_line(group.text.as_bytes(), 200));
        let list = |items: Vec<&str>| escape_line(items.join(", ").as_bytes(), 200);
        if !group.platforms.is_empty() {
            let _ = writeln!(
                out,
                "  platforms: {}",
                list(group.platforms.iter().map(String::as_str).collect())
            );
        }
        if !group.commits.is_empty() {
            let commits: Vec<&str> = group
                .commits
                .iter()
                .map(|c| &c[..c.len().min(12)])
                .collect();
            let _ = writeln!(out, "  commits:   {}", list(commits));
        }
        if !group.tests.is_empty() {
            let _ = writeln!(
                out,
                "  tests:     {}",
                list(group.tests.iter().map(String::as_str).collect())
            );
        }
        let example = &group.example;
        let _ = writeln!(
            out,
            "  e.g. {} {} {} {}",
            example.date,
            example.platform.as_deref().unwrap_or("-"),
            example
                .commit
                .as_deref()
                .map(|c| &c[..c.len().min(12)])
                .unwrap_or("-"),
            escape_line(example.source.as_deref().unwrap_or("").as_bytes(), 160)
        );
        for line in &example.context {
            let marker = if *line == example.line { ">" } else { "|" };
            let _ = writeln!(out, "       {marker} {}", escape_line(line.as_bytes(), 200));
        }
    }
    Ok(if result.groups.is_empty() {
        EXIT_FAILURES
    } else {
        EXIT_OK
    })
}

/// Counts as a bar per period, scaled to the row's maximum; `·` for none.
fn sparkline(counts: &[u64]) -> String {
    const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    let max = counts.iter().copied().max().unwrap_or(0).max(1);
    counts
        .iter()
        .map(|&count| {
            if count == 0 {
                '·'
            } else {
                BARS[(count * 7).div_ceil(max).min(7) as usize]
            }
        })
        .collect()
}
