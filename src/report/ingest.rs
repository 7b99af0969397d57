//! The ingest views: the line for each file that was skipped, the wording of each file's error,
//! and the totals of one `flakehunt ingest` as a sentence or one JSON object.

use std::fmt::Display;
use std::path::Path;

use crate::text::escape_line;

/// Longest error message kept for a file that could not be parsed, in characters.
const ERROR_CHARS: usize = 400;

/// What one `flakehunt ingest` did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IngestTotals {
    /// Files found under the given paths.
    pub files: usize,
    /// Files whose sightings were added.
    pub ingested: u64,
    /// Failure sightings added.
    pub sightings: u64,
    /// Files whose content was already in the history (and, with `--replace`, whose metadata
    /// was already as given).
    pub duplicates: u64,
    /// Files already in the history whose sightings got new metadata (`--replace`).
    pub updated: u64,
    /// Sightings of those files that changed.
    pub updated_sightings: u64,
    /// One message per file that could not be read or parsed, from [`unreadable`] or
    /// [`unparsable`].
    pub errors: Vec<String>,
}

/// The error of a file that could not be read.
pub fn unreadable(path: &Path, error: &std::io::Error) -> String {
    format!("{}: {error}", path.display())
}

/// The error of a file that could not be parsed (it names the file and the position), escaped
/// and bounded because it quotes the file's content.
pub fn unparsable(error: &impl Display) -> String {
    escape_line(error.to_string().as_bytes(), ERROR_CHARS)
}

/// What a parse had to leave out of a file it otherwise read (a line cut off mid-write),
/// escaped and bounded because it quotes the file's content.
pub fn note(note: &impl Display) -> String {
    escape_line(note.to_string().as_bytes(), ERROR_CHARS)
}

/// The line printed (to stderr) as a file is skipped, for a message from [`unparsable`].
pub fn skipped(message: &str) -> String {
    format!("flakehunt: skipped {message}")
}

/// The totals as one sentence.
pub fn text(totals: &IngestTotals) -> String {
    let updated = if totals.updated > 0 {
        format!(
            "; {} updated ({} sighting(s) with new metadata)",
            totals.updated, totals.updated_sightings
        )
    } else {
        String::new()
    };
    format!(
        "ingested {} of {} file(s): {} failure sighting(s){updated}; {} already known; {} \
         unreadable\n",
        totals.ingested,
        totals.files,
        totals.sightings,
        totals.duplicates,
        totals.errors.len()
    )
}

/// The note after re-ingesting known files with metadata flags but without `--replace`.
pub fn replace_hint(duplicates: u64) -> String {
    format!(
        "{duplicates} file(s) were ingested before and were left as they were; add --replace to \
         give them this commit, date, platform and source"
    )
}

/// The totals as one JSON object: `files`, `ingested`, `sightings`, `duplicates`, `updated`
/// (files), `updated_sightings` and the list of `errors`.
pub fn json(totals: &IngestTotals) -> serde_json::Value {
    serde_json::json!({
        "files": totals.files,
        "ingested": totals.ingested,
        "sightings": totals.sightings,
        "duplicates": totals.duplicates,
        "updated": totals.updated,
        "updated_sightings": totals.updated_sightings,
        "errors": totals.errors,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample_totals() -> IngestTotals {
        IngestTotals {
            files: 7,
            ingested: 4,
            sightings: 9,
            duplicates: 1,
            updated: 0,
            updated_sightings: 0,
            errors: vec![
                unreadable(
                    Path::new("ci/missing.xml"),
                    &std::io::Error::from(std::io::ErrorKind::PermissionDenied),
                ),
                unparsable(&"ci/bad\u{1b}[31m.xml:4:24: malformed XML"),
            ],
        }
    }

    #[test]
    fn text_view() {
        let totals = sample_totals();
        let mut shown = text(&totals);
        for error in &totals.errors[1..] {
            shown.push_str(&skipped(error));
            shown.push('\n');
        }
        insta::assert_snapshot!(shown);
        let replaced = IngestTotals {
            updated: 2,
            updated_sightings: 5,
            ..IngestTotals::default()
        };
        assert_eq!(
            text(&replaced),
            "ingested 0 of 0 file(s): 0 failure sighting(s); 2 updated (5 sighting(s) with new \
             metadata); 0 already known; 0 unreadable\n"
        );
    }

    #[test]
    fn json_view_lists_every_error() {
        let value = json(&sample_totals());
        assert_eq!(value["files"], 7);
        assert_eq!(value["ingested"], 4);
        assert_eq!(value["sightings"], 9);
        assert_eq!(value["duplicates"], 1);
        assert_eq!(
            value["errors"],
            serde_json::json!([
                "ci/missing.xml: permission denied",
                "ci/bad\\e[31m.xml:4:24: malformed XML"
            ])
        );
        // Keys in a fixed (sorted) order, so the printed object is stable.
        assert_eq!(
            value.to_string(),
            r#"{"duplicates":1,"errors":["ci/missing.xml: permission denied","ci/bad\\e[31m.xml:4:24: malformed XML"],"files":7,"ingested":4,"sightings":9,"updated":0,"updated_sightings":0}"#
        );
    }

    #[test]
    fn parse_errors_are_bounded() {
        let long = "x".repeat(5000);
        assert!(unparsable(&long).chars().count() <= ERROR_CHARS + 1);
    }
}
