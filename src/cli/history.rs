//! `flakehunt history`, `flakehunt show` and `flakehunt log`: reading past campaigns back from
//! the history store.

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;

use anyhow::{bail, Context, Result};
use clap::Args;

use crate::cli::EXIT_OK;
use crate::report;
use crate::store::{query, Store};
use crate::text::{render_excerpt, ExcerptOptions};

/// Arguments of `flakehunt history`.
#[derive(Debug, Clone, Args)]
pub struct HistoryArgs {
    /// Show at most N campaigns.
    #[arg(short = 'n', long, value_name = "N", default_value_t = 20)]
    pub limit: usize,
    /// Print JSON (one array).
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `flakehunt show`.
#[derive(Debug, Clone, Args)]
pub struct ShowArgs {
    /// Campaign id, a unique prefix of one, or `last`.
    #[arg(value_name = "ID", default_value = "last")]
    pub id: String,
    /// Print the summary as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `flakehunt log`.
#[derive(Debug, Clone, Args)]
pub struct LogArgs {
    /// Campaign id, a unique prefix of one, or `last`.
    #[arg(value_name = "ID")]
    pub id: String,
    /// Run index.
    #[arg(value_name = "RUN")]
    pub run: u64,
    /// Write the exact bytes the run printed (may drive your terminal; pipe it somewhere).
    #[arg(long)]
    pub raw: bool,
}

/// `flakehunt history`.
pub fn history(args: HistoryArgs, db: &Path) -> Result<i32> {
    let store = Store::open_existing(db)?;
    let rows = query::list_campaigns(&store, args.limit)?;
    let shown = if args.json {
        report::history::json(&rows)? + "\n"
    } else {
        report::history::text(&rows, db)
    };
    let _ = std::io::stdout().lock().write_all(shown.as_bytes());
    Ok(EXIT_OK)
}

/// `flakehunt show`.
pub fn show(args: ShowArgs, db: &Path) -> Result<i32> {
    let store = Store::open_existing(db)?;
    let id = query::resolve_campaign(&store, &args.id)?;
    let row = query::campaign(&store, &id)?;
    let summary = query::summary(&store, &id)?;
    let parts: Vec<report::hunt::PartRow> = crate::store::hunt::parts(&store, &id)?
        .into_iter()
        .map(|part| report::hunt::PartRow {
            label: part.label,
            shake: part.shake,
            runs: part.runs,
            failures: part.failures,
            run_time_s: part.run_time_us as f64 / 1e6,
        })
        .collect();
    let hunt = crate::store::hunt::hunt_of(&store, &id)?;
    let shown = match (args.json, parts.is_empty()) {
        (true, true) => report::history::show_json(&summary)? + "\n",
        (true, false) => {
            let mut value: serde_json::Value =
                serde_json::from_str(&report::history::show_json(&summary)?)?;
            let extra = report::hunt::show_parts_json(&parts, hunt.as_ref())?;
            if let (Some(object), Some(extra)) = (value.as_object_mut(), extra.as_object()) {
                object.extend(extra.clone());
            }
            value.to_string() + "\n"
        }
        (false, true) => report::history::show_text(&summary, &row),
        (false, false) => {
            report::history::show_text(&summary, &row)
                + &report::hunt::show_parts_text(&parts, hunt.as_ref())
        }
    };
    let _ = std::io::stdout().lock().write_all(shown.as_bytes());
    Ok(EXIT_OK)
}

/// `flakehunt log`.
pub fn log(args: LogArgs, db: &Path) -> Result<i32> {
    let store = Store::open_existing(db)?;
    let id = query::resolve_campaign(&store, &args.id)?;
    let run = query::run(&store, &id, args.run)?;
    let Some(path) = run.log_path else {
        bail!(
            "run {} of {id} {} and its output was not kept (use --keep-passing to keep passing runs)",
            args.run,
            if run.verdict == "pass" { "passed" } else { "has no saved log" }
        );
    };
    let file = File::open(&path).with_context(|| {
        format!(
            "cannot open {} (was the output directory removed?)",
            path.display()
        )
    })?;
    let mut out = std::io::stdout().lock();
    if args.raw {
        let mut reader = BufReader::new(file);
        // A closed pipe (e.g. `| head`) ends the copy quietly.
        let _ = std::io::copy(&mut reader, &mut out);
        return Ok(EXIT_OK);
    }
    print_escaped(file, &mut out)?;
    Ok(EXIT_OK)
}

/// Bytes rendered at a time by `flakehunt log`.
const BLOCK: usize = 1 << 20;

/// Print a log of any size safely: escaped line by line, binary runs collapsed, in 1 MiB blocks.
fn print_escaped(file: File, out: &mut impl Write) -> Result<()> {
    let options = ExcerptOptions {
        max_lines: usize::MAX,
        max_line_chars: 16 * 1024,
        ..ExcerptOptions::default()
    };
    let mut reader = BufReader::with_capacity(1 << 20, file);
    let mut block = Vec::with_capacity(1 << 20);
    loop {
        block.clear();
        // Fill up to ~1 MiB, ending at a newline when there is one.
        while block.len() < BLOCK {
            // `take` bounds a line: binary garbage may have no newline for gigabytes.
            let room = (BLOCK - block.len()) as u64;
            let read = (&mut reader).take(room).read_until(b'\n', &mut block)?;
            if read == 0 {
                break;
            }
        }
        if block.is_empty() {
            break;
        }
        let rendered = render_excerpt(&block, &options);
        if writeln!(out, "{rendered}").is_err() {
            break;
        }
    }
    Ok(())
}
