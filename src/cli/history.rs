//! `flakehunt history`, `flakehunt show` and `flakehunt log`: reading past campaigns back from
//! the history store.

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;

use anyhow::{bail, Context, Result};
use clap::Args;

use crate::cli::EXIT_OK;
use crate::report;
use crate::store::{per_test, query, Store};
use crate::text::{excerpt, ExcerptOptions};

/// Arguments of `flakehunt history`.
#[derive(Debug, Clone, Args)]
pub struct HistoryArgs {
    /// Show at most N campaigns.
    #[arg(short = 'n', long, value_name = "N", default_value_t = 20)]
    pub limit: usize,
    /// Print JSON (one array).
    #[arg(long)]
    pub json: bool,
    /// Per-test rates across every campaign, of the tests whose name contains TEXT (all
    /// tests without it), instead of the campaigns.
    #[arg(long, value_name = "TEXT", num_args = 0..=1, default_missing_value = "")]
    pub tests: Option<String>,
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
    /// Every test's results in the campaign (a suite's or a test target's) instead of the
    /// summary.
    #[arg(long)]
    pub tests: bool,
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
    /// Print only the stacks of the hung or crashed run (`run-NNNNNN.stacks`), not its output.
    #[arg(long)]
    pub stacks: bool,
}

/// `flakehunt history`.
pub fn history(args: HistoryArgs, db: &Path) -> Result<i32> {
    let store = Store::open_existing(db)?;
    if let Some(filter) = &args.tests {
        let filter = Some(filter.as_str()).filter(|f| !f.is_empty());
        let (rows, campaigns) = per_test::rates(&store, filter)?;
        let shown = if args.json {
            report::flakes::json(&rows)? + "\n"
        } else if rows.is_empty() {
            let (all, tested) = query::campaigns_with_test_results(&store)?;
            report::flakes::nothing_matches(filter, tested, all)
        } else {
            report::flakes::text(&rows, &format!("across {campaigns} campaign(s)"))
        };
        crate::cli::print_stdout(&shown)?;
        return Ok(EXIT_OK);
    }
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
    if args.tests {
        let rows = per_test::campaign_rows(&store, &id)?;
        let shown = if args.json {
            report::flakes::json(&rows)? + "\n"
        } else {
            report::flakes::text(&rows, &format!("in campaign {id}"))
        };
        crate::cli::print_stdout(&shown)?;
        return Ok(EXIT_OK);
    }
    let mut summary = query::summary(&store, &id)?;
    if summary.tests.is_empty() {
        // A campaign killed before its summary was written: its tests are in the history.
        summary.tests = per_test::campaign_rows(&store, &id)?;
    }
    let shown = show_with_parts(&store, &id, &summary, &row, args.json)?;
    let _ = std::io::stdout().lock().write_all(shown.as_bytes());
    Ok(EXIT_OK)
}

/// A campaign's summary, followed by its parts (a hunt's arms, a window's phases) if it has any.
fn show_with_parts(
    store: &Store,
    id: &str,
    summary: &crate::analysis::summary::Summary,
    row: &query::CampaignRow,
    json: bool,
) -> Result<String> {
    let parts: Vec<report::hunt::PartRow> = crate::store::hunt::parts(store, id)?
        .into_iter()
        .map(|part| report::hunt::PartRow {
            label: part.label,
            shake: part.shake,
            runs: part.runs,
            failures: part.failures,
            run_time_s: part.run_time_us as f64 / 1e6,
        })
        .collect();
    let hunt = crate::store::hunt::hunt_of(store, id)?;
    let spec = query::campaign_spec(store, id)?;
    if json {
        let mut value: serde_json::Value =
            serde_json::from_str(&report::history::show_json(summary, row, &spec)?)?;
        if !parts.is_empty() {
            let extra = report::hunt::show_parts_json(&parts, hunt.as_ref())?;
            if let (Some(object), Some(extra)) = (value.as_object_mut(), extra.as_object()) {
                object.extend(extra.clone());
            }
        }
        return Ok(value.to_string() + "\n");
    }
    let mut text = report::history::show_text(summary, row, &spec);
    if !parts.is_empty() {
        text += &report::hunt::show_parts_text(&parts, hunt.as_ref());
    }
    Ok(text)
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
    let raw_command = format!("flakehunt log {id} {} --raw", args.run);
    // The stacks of a hung or crashed run sit beside its log.
    let stacks_path = path.with_extension("stacks");
    let stacks = File::open(&stacks_path).ok();
    let mut out = std::io::stdout().lock();
    if args.stacks {
        let Some(stacks) = stacks else {
            bail!(
                "run {} of {id} has no stacks: they are taken when a run hangs past --timeout or \
                 dies of a crash signal (and not with --no-stacks)",
                args.run
            );
        };
        return print_file(stacks, args.raw, &raw_command, &mut out).map(|()| EXIT_OK);
    }
    let file = open_log(&path)?;
    // An empty log would otherwise print nothing at all, which reads like a broken command.
    let printed_nothing = file.metadata().is_ok_and(|meta| meta.len() == 0);
    print_file(file, args.raw, &raw_command, &mut out)?;
    if printed_nothing {
        eprintln!("{}", report::history::printed_nothing(args.run));
    }
    if let (Some(stacks), false) = (stacks, args.raw) {
        let name = stacks_path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned());
        let _ =
            out.write_all(report::history::stacks_heading(&name.unwrap_or_default()).as_bytes());
        print_escaped(stacks, &raw_command, &mut out)?;
    }
    Ok(EXIT_OK)
}

fn open_log(path: &Path) -> Result<File> {
    File::open(path).with_context(|| {
        format!(
            "cannot open {} (was the output directory removed?)",
            path.display()
        )
    })
}

/// The file's exact bytes with `raw`, else escaped for the terminal (binary markers naming
/// `raw_command`).
fn print_file(file: File, raw: bool, raw_command: &str, out: &mut impl Write) -> Result<()> {
    if raw {
        let mut reader = BufReader::new(file);
        // A closed pipe (e.g. `| head`) ends the copy quietly.
        let _ = std::io::copy(&mut reader, out);
        return Ok(());
    }
    print_escaped(file, raw_command, out)
}

/// Bytes rendered at a time by `flakehunt log`.
const BLOCK: usize = 1 << 20;

/// Print a log of any size safely: escaped line by line, binary runs collapsed, in 1 MiB blocks;
/// the first binary marker names `raw_command`.
fn print_escaped(file: File, raw_command: &str, out: &mut impl Write) -> Result<()> {
    let mut options = ExcerptOptions {
        max_lines: usize::MAX,
        max_line_chars: 16 * 1024,
        raw_hint: Some(raw_command.to_string()),
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
        let rendered = excerpt(&block, &options);
        if rendered.hinted {
            options.raw_hint = None;
        }
        if writeln!(out, "{}", rendered.text).is_err() {
            break;
        }
    }
    Ok(())
}
