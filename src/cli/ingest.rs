//! `flakehunt ingest`: import CI artifacts into the history store as sightings. A file that
//! cannot be parsed is reported with its position and skipped; the rest are still imported.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::Args;

use crate::cli::{EXIT_FAILURES, EXIT_OK};
use crate::ingest::date::normalise_date;
use crate::ingest::{self, SourceMeta};
use crate::report;
use crate::report::ingest::IngestTotals;
use crate::store::writer::{
    artifact_known, record_artifact, update_artifact_meta, ArtifactOrigin, Recorded,
};
use crate::store::{now_rfc3339, Store};

/// Arguments of `flakehunt ingest`.
#[derive(Debug, Clone, Args)]
pub struct IngestArgs {
    /// Files or directories (searched recursively) to import.
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// Commit the artifacts were built from (overrides the path).
    #[arg(long, value_name = "REV")]
    pub commit: Option<String>,
    /// When they were produced, e.g. 2021-04-16 or 2021-04-16T03:16:11 (overrides the path).
    #[arg(long, value_name = "DATE")]
    pub date: Option<String>,
    /// Platform or builder name (overrides the path).
    #[arg(long, value_name = "NAME")]
    pub platform: Option<String>,
    /// Where they came from, e.g. a CI job URL.
    #[arg(long, value_name = "URL")]
    pub source: Option<String>,
    /// For files already ingested, set the commit, date, platform and source the flags and
    /// path now give (a field neither gives keeps its value) instead of skipping them.
    #[arg(long)]
    pub replace: bool,
    /// Print a JSON report instead of text.
    #[arg(long)]
    pub json: bool,
}

/// `flakehunt ingest`: exits 1 when any file could not be read or parsed.
pub fn execute(args: IngestArgs, db: &Path) -> Result<i32> {
    let overrides = SourceMeta {
        commit: args.commit.clone(),
        date: match &args.date {
            Some(date) => Some(normalise_date(date).with_context(|| {
                format!(
                    "--date '{date}' is not a date; write e.g. 2021-04-16 or 2021-04-16T03:16:11"
                )
            })?),
            None => None,
        },
        platform: args.platform.clone(),
        source: args.source.clone(),
    };
    for path in &args.paths {
        if !path.exists() {
            bail!("{} does not exist", path.display());
        }
    }
    let files = ingest::collect_files(&args.paths).context("cannot list the files to ingest")?;
    let mut store = Store::open(db)?;
    let totals = import(&mut store, &files, &overrides, args.replace)?;
    let flags_given = [&args.commit, &args.date, &args.platform, &args.source]
        .iter()
        .any(|flag| flag.is_some());
    if totals.duplicates > 0 && flags_given && !args.replace {
        eprintln!(
            "flakehunt: note: {}",
            report::ingest::replace_hint(totals.duplicates)
        );
    }
    let shown = if args.json {
        format!("{}\n", report::ingest::json(&totals))
    } else {
        report::ingest::text(&totals)
    };
    let _ = std::io::stdout().lock().write_all(shown.as_bytes());
    Ok(if totals.errors.is_empty() {
        EXIT_OK
    } else {
        EXIT_FAILURES
    })
}

/// What became of one file.
enum Imported {
    /// Its sightings (this many) were added.
    Added(u64),
    /// Its content was already in the history.
    Duplicate,
    /// Its content was already in the history; this many of its sightings got new metadata.
    Updated(u64),
    /// It could not be read: the message for the totals.
    Unreadable(String),
    /// It could not be parsed: the message for the totals and the `skipped` line.
    Unparsable(String),
}

/// Import every file, saying on stderr which ones are skipped; the store errors stop it.
/// With `replace`, files already ingested get the metadata they would be given now.
fn import(
    store: &mut Store,
    files: &[PathBuf],
    overrides: &SourceMeta,
    replace: bool,
) -> Result<IngestTotals> {
    let fallback_date = now_rfc3339();
    let mut totals = IngestTotals {
        files: files.len(),
        ..IngestTotals::default()
    };
    let mut stderr = std::io::stderr().lock();
    for file in files {
        match import_file(store, file, overrides, &fallback_date, replace)? {
            Imported::Added(sightings) => {
                totals.ingested += 1;
                totals.sightings += sightings;
            }
            Imported::Duplicate => totals.duplicates += 1,
            Imported::Updated(sightings) => {
                totals.updated += 1;
                totals.updated_sightings += sightings;
            }
            Imported::Unreadable(message) => totals.errors.push(message),
            Imported::Unparsable(message) => {
                let _ = writeln!(stderr, "{}", report::ingest::skipped(&message));
                totals.errors.push(message);
            }
        }
    }
    Ok(totals)
}

/// Read, parse and record one file unless its content is already known (then, with `replace`,
/// update its sightings' metadata).
fn import_file(
    store: &mut Store,
    file: &Path,
    overrides: &SourceMeta,
    fallback_date: &str,
    replace: bool,
) -> Result<Imported> {
    let artifact = match ingest::Artifact::open(file) {
        Ok(artifact) => artifact,
        Err(error) => {
            return Ok(Imported::Unreadable(report::ingest::unreadable(
                file, &error,
            )))
        }
    };
    let hash = artifact.hash();
    if artifact_known(store, hash)? {
        if !replace {
            return Ok(Imported::Duplicate);
        }
        return Ok(
            match update_artifact_meta(store, hash, &source_meta(file, overrides))? {
                0 => Imported::Duplicate,
                changed => Imported::Updated(changed as u64),
            },
        );
    }
    let parsed = match artifact.parse() {
        Ok(parsed) => parsed,
        Err(error) => return Ok(Imported::Unparsable(report::ingest::unparsable(&error))),
    };
    for note in &parsed.notes {
        eprintln!("flakehunt: note: {}", report::ingest::note(note));
    }
    let path_text = file.display().to_string();
    let origin = ArtifactOrigin {
        hash,
        path: &path_text,
        format: parsed.format.as_str(),
        meta: &source_meta(file, overrides),
        fallback_date,
    };
    Ok(match record_artifact(store, &origin, &parsed.sightings)? {
        Recorded::Added(count) => Imported::Added(count as u64),
        Recorded::Duplicate => Imported::Duplicate,
    })
}

/// Where a file came from: the flags, else what its path says.
fn source_meta(file: &Path, overrides: &SourceMeta) -> SourceMeta {
    let from_path = ingest::meta_from_path(file);
    SourceMeta {
        commit: overrides.commit.clone().or(from_path.commit),
        date: overrides
            .date
            .clone()
            .or_else(|| from_path.date.as_deref().and_then(normalise_date)),
        platform: overrides.platform.clone().or(from_path.platform),
        source: overrides.source.clone().or(from_path.source),
    }
}
