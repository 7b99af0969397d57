//! `flakehunt ingest`: import CI artifacts into the history store as sightings. A file that
//! cannot be parsed is reported with its position and skipped; the rest are still imported.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::Args;

use crate::cli::{EXIT_FAILURES, EXIT_OK};
use crate::ingest::{self, SourceMeta};
use crate::store::writer::{artifact_known, record_artifact, ArtifactOrigin, Recorded};
use crate::store::{now_rfc3339, Store};
use crate::text::escape_line;

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
    /// Print a JSON report instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Normalise a date to a sortable RFC 3339 form, or None if it is not a date.
pub fn normalise_date(text: &str) -> Option<String> {
    let text = text.trim();
    let candidate = if text.len() == 10 {
        format!("{text}T00:00:00")
    } else {
        text.replacen(' ', "T", 1)
    };
    let time = humantime::parse_rfc3339_weak(&candidate).ok()?;
    Some(humantime::format_rfc3339_seconds(time).to_string())
}

/// `flakehunt ingest`.
pub fn execute(args: IngestArgs, db: &Path) -> Result<i32> {
    let date_flag = match &args.date {
        Some(date) => Some(normalise_date(date).with_context(|| {
            format!("--date '{date}' is not a date; write e.g. 2021-04-16 or 2021-04-16T03:16:11")
        })?),
        None => None,
    };
    for path in &args.paths {
        if !path.exists() {
            bail!("{} does not exist", path.display());
        }
    }
    let files = ingest::collect_files(&args.paths).context("cannot list the files to ingest")?;
    let mut store = Store::open(db)?;
    let fallback_date = now_rfc3339();
    let (mut added_files, mut sightings, mut duplicates, mut errors) =
        (0u64, 0u64, 0u64, Vec::new());
    let mut stderr = std::io::stderr().lock();
    for file in &files {
        let artifact = match ingest::Artifact::open(file) {
            Ok(artifact) => artifact,
            Err(error) => {
                errors.push(format!("{}: {error}", file.display()));
                continue;
            }
        };
        let hash = artifact.hash();
        if artifact_known(&store, hash)? {
            duplicates += 1;
            continue;
        }
        let parsed = match artifact.parse() {
            Ok(parsed) => parsed,
            Err(error) => {
                let message = escape_line(error.to_string().as_bytes(), 400);
                let _ = writeln!(stderr, "flakehunt: skipped {message}");
                errors.push(message);
                continue;
            }
        };
        for note in &parsed.notes {
            let note = escape_line(note.to_string().as_bytes(), 400);
            let _ = writeln!(stderr, "flakehunt: note: {note}");
        }
        let from_path = ingest::meta_from_path(file);
        let meta = SourceMeta {
            commit: args.commit.clone().or(from_path.commit),
            date: date_flag
                .clone()
                .or_else(|| from_path.date.as_deref().and_then(normalise_date)),
            platform: args.platform.clone().or(from_path.platform),
            source: args.source.clone().or(from_path.source),
        };
        let path_text = file.display().to_string();
        let origin = ArtifactOrigin {
            hash,
            path: &path_text,
            format: parsed.format.as_str(),
            meta: &meta,
            fallback_date: &fallback_date,
        };
        match record_artifact(&mut store, &origin, &parsed.sightings)? {
            Recorded::Added(count) => {
                added_files += 1;
                sightings += count as u64;
            }
            Recorded::Duplicate => duplicates += 1,
        }
    }
    let mut out = std::io::stdout().lock();
    if args.json {
        let report = serde_json::json!({
            "files": files.len(),
            "ingested": added_files,
            "sightings": sightings,
            "duplicates": duplicates,
            "errors": errors,
        });
        let _ = writeln!(out, "{report}");
    } else {
        let _ = writeln!(
            out,
            "ingested {added_files} of {} file(s): {sightings} failure sighting(s); {duplicates} already known; {} unreadable",
            files.len(),
            errors.len()
        );
    }
    Ok(if errors.is_empty() {
        EXIT_OK
    } else {
        EXIT_FAILURES
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_normalised() {
        assert_eq!(
            normalise_date("2021-04-16").as_deref(),
            Some("2021-04-16T00:00:00Z")
        );
        assert_eq!(
            normalise_date("2021-04-16T03:16:11").as_deref(),
            Some("2021-04-16T03:16:11Z")
        );
        assert_eq!(
            normalise_date("2021-04-16 03:16:11").as_deref(),
            Some("2021-04-16T03:16:11Z")
        );
        assert_eq!(normalise_date("yesterday"), None);
    }
}
