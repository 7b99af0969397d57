//! `flakehunt report`: a campaign, sweep, hunt or bisection (or a history query) as one
//! self-contained HTML page, a Markdown summary, JUnit XML, GitHub annotations or JSON; and
//! `--report FILE` for the commands that run campaigns.

use std::io::{IsTerminal, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::{Args, ValueEnum};

use crate::cli::search::{PeriodArg, SearchArgs};
use crate::cli::{RuntimeError, EXIT_OK};
use crate::report;
use crate::store::report::{load, load_history, resolve, HistoryData, ReportData, Subject};
use crate::store::search::Period;
use crate::store::Store;

/// Arguments of `flakehunt report`.
#[derive(Debug, Clone, Args)]
#[command(after_help = "Examples:\n  \
    flakehunt report                          # the newest campaign, sweep, hunt or bisection as HTML\n  \
    flakehunt report last -o report.html\n  \
    flakehunt report hunt:last --format md    # paste into an issue\n  \
    flakehunt report bisect:last              # the posterior after each probe\n  \
    flakehunt report last --format github     # annotations in a GitHub workflow\n  \
    flakehunt report --search 'No signal received' -o sightings.html")]
pub struct ReportArgs {
    /// Campaign id, a unique prefix of one, `last`, `hunt:N` / `hunt:last` or `bisect:N` /
    /// `bisect:last`. The campaign a window sweep or a hunt ran as, or a bisection's probe,
    /// stands for the whole sweep, hunt or bisection.
    #[arg(value_name = "ID")]
    pub id: Option<String>,
    /// Write to FILE [default: standard output; HTML for a terminal goes to
    /// ./flakehunt-report-<id>.html].
    #[arg(short = 'o', long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Html)]
    pub format: Format,
    /// Report on past failures matching REGEX (campaigns and ingested CI logs): sightings over
    /// time per signature, with examples.
    #[arg(long, value_name = "REGEX", conflicts_with = "triage")]
    pub search: Option<String>,
    /// Report on every failure signature's sightings over time.
    #[arg(long)]
    pub triage: bool,
    /// History reports: only failures on or after this date (e.g. 2021-04-01).
    #[arg(long, value_name = "DATE")]
    pub since: Option<String>,
    /// History reports: only tests whose name contains NAME.
    #[arg(long, value_name = "NAME")]
    pub test: Option<String>,
    /// History reports: only this platform or builder.
    #[arg(long, value_name = "NAME")]
    pub platform: Option<String>,
    /// History reports: leave out failures matching REGEX (repeatable).
    #[arg(long, value_name = "REGEX")]
    pub omit: Vec<String>,
    /// History reports: one column per day or per week [default: what spans the sightings].
    #[arg(long, value_enum)]
    pub by: Option<PeriodArg>,
    /// History reports: number of columns [default: what spans the sightings].
    #[arg(long, value_name = "N")]
    pub periods: Option<usize>,
}

/// `--format` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// One self-contained HTML page.
    Html,
    /// A Markdown summary short enough to paste into an issue or a pull request.
    #[value(alias = "markdown")]
    Md,
    /// JUnit XML: one test case per test of a suite (flaky ones failed), else per failure
    /// signature.
    Junit,
    /// GitHub workflow annotations; the Markdown summary is appended to $GITHUB_STEP_SUMMARY.
    #[value(alias = "gh")]
    Github,
    /// Everything the report shows, as one JSON object.
    Json,
}

impl ReportArgs {
    fn history(&self) -> bool {
        self.search.is_some() || self.triage
    }

    /// Refuse combinations that mean nothing, before opening anything.
    fn check(&self) -> Result<()> {
        if self.history() {
            if let Some(id) = &self.id {
                bail!("a history report (--search/--triage) covers every campaign; drop '{id}'");
            }
            if matches!(self.format, Format::Junit | Format::Github) {
                bail!("--format junit and github report on a campaign, sweep, hunt or bisection; a history report is html, md or json");
            }
        } else if self.since.is_some()
            || self.test.is_some()
            || self.platform.is_some()
            || !self.omit.is_empty()
            || self.by.is_some()
            || self.periods.is_some()
        {
            bail!("--since, --test, --platform, --omit, --by and --periods narrow a history report; add --search REGEX or --triage");
        }
        if let Some(path) = &self.output {
            check_writable(path)?;
        }
        Ok(())
    }

    /// The history query, checked as `flakehunt search` checks it.
    fn search_args(&self) -> SearchArgs {
        SearchArgs {
            pattern: self.search.clone(),
            since: self.since.clone(),
            test: self.test.clone(),
            platform: self.platform.clone(),
            omit: self.omit.clone(),
            triage: self.triage,
            gone_after: crate::store::search::DEFAULT_GONE_AFTER,
            by: self.by.unwrap_or(PeriodArg::Week),
            periods: self.periods.unwrap_or(12),
            json: false,
        }
    }
}

/// `flakehunt report`.
pub fn execute(args: ReportArgs, db: &Path) -> Result<i32> {
    args.check()?;
    let query = args
        .history()
        .then(|| crate::cli::search::query(&args.search_args()));
    let query = query.transpose()?;
    let store = Store::open_existing(db)?;
    let (rendered, label, summary) = match &query {
        Some(query) => {
            let period = args.by.map(|by| match by {
                PeriodArg::Day => Period::Day,
                PeriodArg::Week => Period::Week,
            });
            let data = load_history(&store, query, args.search.is_some(), period, args.periods)?;
            let label = if args.search.is_some() {
                "search"
            } else {
                "triage"
            };
            (render_history(&data, args.format)?, label.to_string(), None)
        }
        None => {
            let subject = resolve(&store, args.id.as_deref().unwrap_or("last"))?;
            let data = load(&store, &subject)?;
            let summary =
                (args.format == Format::Github).then(|| report::markdown::campaign(&data));
            (render(&data, args.format)?, subject.label(), summary)
        }
    };
    deliver(&rendered, args.output.as_deref(), args.format, &label)?;
    if let Some(summary) = summary {
        append_step_summary(&summary)?;
    }
    Ok(EXIT_OK)
}

/// A campaign, sweep, hunt or bisection report in `format`.
pub fn render(data: &ReportData, format: Format) -> Result<String> {
    Ok(match format {
        Format::Html => report::html::campaign(data),
        Format::Md => report::markdown::campaign(data),
        Format::Junit => report::junit::campaign(data)?,
        Format::Github => report::github::annotations(data),
        Format::Json => report::export::json(data)? + "\n",
    })
}

fn render_history(data: &HistoryData, format: Format) -> Result<String> {
    Ok(match format {
        Format::Html => report::html::history(data),
        Format::Md => report::markdown::history(data),
        Format::Json => report::export::history_json(data)? + "\n",
        Format::Junit | Format::Github => bail!("a history report is html, md or json"),
    })
}

/// Write the report where it belongs: `-o FILE`, else standard output, except HTML bound for
/// a terminal, which goes to a file named after the report.
fn deliver(rendered: &str, output: Option<&Path>, format: Format, label: &str) -> Result<()> {
    if let Some(path) = output {
        return write_file(path, rendered);
    }
    if format == Format::Html && std::io::stdout().is_terminal() {
        let safe: String = label
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let path = PathBuf::from(format!("flakehunt-report-{safe}.html"));
        write_file(&path, rendered)?;
        eprintln!(
            "flakehunt: report written to {}",
            report::display_path(&path)
        );
        return Ok(());
    }
    crate::cli::print_stdout(rendered)
}

/// Refuse, before anything runs, a report path that cannot be written.
pub fn check_writable(path: &Path) -> Result<()> {
    let target = resolve_target(path);
    if target.is_dir() {
        bail!(
            "{} is a directory; give --report/-o a file name",
            path.display()
        );
    }
    if is_special(&target) {
        std::fs::OpenOptions::new()
            .write(true)
            .open(&target)
            .with_context(|| format!("cannot write the report to {}", path.display()))?;
        return Ok(());
    }
    let dir = directory(&target);
    tempfile::NamedTempFile::new_in(dir).with_context(|| {
        format!(
            "cannot write the report to {}: its directory {} is missing or not writable",
            path.display(),
            dir.display()
        )
    })?;
    Ok(())
}

/// Where writing `path` really lands: through symbolic links to the file they name, so that a
/// link is never replaced by the report.
fn resolve_target(path: &Path) -> PathBuf {
    let mut target = path.to_path_buf();
    // A link to a file not created yet cannot be canonicalised: follow it by hand.
    for _ in 0..40 {
        match std::fs::read_link(&target) {
            Ok(next) => target = directory(&target).join(next),
            Err(_) => break,
        }
    }
    std::fs::canonicalize(&target).unwrap_or(target)
}

/// An existing target that is not a regular file (`/dev/stdout`, a FIFO): written in place,
/// never renamed over.
fn is_special(target: &Path) -> bool {
    std::fs::metadata(target).is_ok_and(|meta| !meta.is_file() && !meta.is_dir())
}

fn directory(path: &Path) -> &Path {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    }
}

/// Write `text` to `path` whole or not at all (a temporary file renamed into place), or
/// straight into a device or pipe named by `path`.
fn write_file(path: &Path, text: &str) -> Result<()> {
    let fail = |error: std::io::Error| -> anyhow::Error {
        RuntimeError(format!(
            "cannot write the report to {}: {error}",
            path.display()
        ))
        .into()
    };
    let target = resolve_target(path);
    if is_special(&target) {
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .open(&target)
            .map_err(fail)?;
        return file.write_all(text.as_bytes()).map_err(fail);
    }
    // Readable like any file the user creates (the umask applies), not private to them.
    let mut file = tempfile::Builder::new()
        .prefix(".flakehunt-report-")
        .permissions(std::fs::Permissions::from_mode(0o666))
        .tempfile_in(directory(&target))
        .map_err(fail)?;
    file.write_all(text.as_bytes()).map_err(fail)?;
    file.as_file().sync_all().map_err(fail)?;
    file.persist(&target).map_err(|error| fail(error.error))?;
    Ok(())
}

/// Append the Markdown summary to `$GITHUB_STEP_SUMMARY`, when a workflow set it.
fn append_step_summary(summary: &str) -> Result<()> {
    let Some(path) = std::env::var_os("GITHUB_STEP_SUMMARY").filter(|p| !p.is_empty()) else {
        return Ok(());
    };
    let path = PathBuf::from(path);
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .and_then(|mut file| file.write_all(summary.as_bytes()))
        .map_err(|error| {
            RuntimeError(format!(
                "cannot append the job summary to {} ($GITHUB_STEP_SUMMARY): {error}",
                path.display()
            ))
            .into()
        })
}

/// `--report FILE` of a command that runs campaigns: checked before anything runs, written
/// from the history once the command is done. With `--no-history` the campaigns are recorded
/// in a private temporary history that is removed afterwards.
#[derive(Debug)]
pub struct AfterReport {
    path: PathBuf,
    db: PathBuf,
    _private: Option<tempfile::TempDir>,
}

impl AfterReport {
    /// Set up `--report` for a command with these arguments; returns the report (if asked
    /// for) and the history the command must record into.
    pub fn prepare(
        report: Option<&Path>,
        no_history: &mut bool,
        db: &Path,
    ) -> Result<Option<AfterReport>> {
        let Some(path) = report else {
            return Ok(None);
        };
        check_writable(path)?;
        let (db, private) = if *no_history {
            let dir = tempfile::Builder::new()
                .prefix("flakehunt-report-")
                .tempdir()
                .context("cannot create a temporary history for --report")?;
            *no_history = false;
            (dir.path().join("history.db"), Some(dir))
        } else {
            (db.to_path_buf(), None)
        };
        Ok(Some(AfterReport {
            path: path.to_path_buf(),
            db,
            _private: private,
        }))
    }

    /// The history the command records into.
    pub fn db(&self) -> &Path {
        &self.db
    }

    /// Write the HTML report on `subject`, with the command's `verdict` if it reached one.
    pub fn write(&self, subject: &Subject, verdict: Option<String>) -> Result<()> {
        let store = Store::open_existing(&self.db)?;
        let mut data = load(&store, subject)?;
        data.verdict = verdict;
        self.write_data(&data)
    }

    /// Write the HTML report of data already loaded.
    pub fn write_data(&self, data: &ReportData) -> Result<()> {
        write_file(&self.path, &report::html::campaign(data))?;
        eprintln!(
            "flakehunt: report written to {}",
            report::display_path(&self.path)
        );
        Ok(())
    }

    /// Write the report, turning a failure into a message and [`crate::cli::EXIT_RUNTIME`]:
    /// the command's own result has been printed already and stays valid.
    pub fn finish(&self, write: impl FnOnce(&AfterReport) -> Result<()>, status: i32) -> i32 {
        match write(self) {
            Ok(()) => status,
            Err(error) => {
                eprintln!("flakehunt: error: the report was not written: {error:#}");
                crate::cli::EXIT_RUNTIME
            }
        }
    }
}
