//! Provenance from artifact paths: the commit, date and platform that Go's fetchlogs cache
//! layout (`<date>-<rev>/<builder>`) and plainer dated layouts (`<date>/<platform>/...`)
//! encode in directory names.

use std::path::{Component, Path};
use std::sync::LazyLock;

use regex::Regex;

use super::date::normalise_date;
use super::SourceMeta;

/// A revision directory: a date (`2021-04-16`) or date and time (`2021-04-16T03:16:11`), then
/// a short or full hex commit id: `2021-04-16T03:16:11-cf2396c`, `2021-04-16-cf2396c`.
static REV_DIR: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^(\d{4}-\d{2}-\d{2}(?:T\d{2}:\d{2}:\d{2}(?:\.\d+)?Z?)?)-([0-9a-fA-F]{7,64})$")
        .expect("constant regex is valid")
});

/// A date directory without a commit: `2021-04-16` or `2021-04-16T03:16:11`.
static DATE_DIR: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^(\d{4}-\d{2}-\d{2}(?:T\d{2}:\d{2}:\d{2}(?:\.\d+)?Z?)?)$")
        .expect("constant regex is valid")
});

/// Extensions of the files ingest reads: such a file right below a dated directory is the
/// artifact, not a platform.
const ARTIFACT_EXTENSIONS: &[&str] = &["xml", "json", "jsonl", "ndjson", "log", "txt", "out"];

/// What the path of an artifact says about its origin. In Go's fetchlogs cache layout
/// `.../<date>-<rev>/<builder>[/<file>...]`, for `rev/2021-04-16T03:16:11-cf2396c/windows-amd64-2012`
/// (or any file below the builder directory) the date is `2021-04-16T03:16:11`, the commit
/// `cf2396c` and the platform `windows-amd64-2012`. The date may come without a time
/// (`2021-04-16-cf2396c/linux-amd64/junit.xml`) or without a commit
/// (`2021-04-16/linux-amd64/junit.xml`: a date and a platform).
///
/// The deepest dated component with a component after it is used; that component is the
/// platform unless it is the artifact itself (`2021-04-16/junit.xml` gives only the date).
/// Dates that are not calendar dates (`2021-13-40`) do not count. Paths that follow no layout
/// give all `None`; `source` is always `None` (it is for the caller to fill in).
pub fn meta_from_path(path: &Path) -> SourceMeta {
    let parts: Vec<&str> = path
        .components()
        .filter_map(|component| match component {
            Component::Normal(part) => part.to_str(),
            _ => None,
        })
        .collect();
    for i in (0..parts.len().saturating_sub(1)).rev() {
        let (date, commit) = if let Some(caps) = REV_DIR.captures(parts[i]) {
            (caps.get(1), caps.get(2))
        } else if let Some(caps) = DATE_DIR.captures(parts[i]) {
            (caps.get(1), None)
        } else {
            continue;
        };
        let Some(date) = date.filter(|date| normalise_date(date.as_str()).is_some()) else {
            continue;
        };
        let next = parts[i + 1];
        let is_artifact = i + 2 == parts.len()
            && Path::new(next).extension().is_some_and(|extension| {
                ARTIFACT_EXTENSIONS
                    .iter()
                    .any(|known| extension.eq_ignore_ascii_case(known))
            });
        return SourceMeta {
            commit: commit.map(|rev| rev.as_str().to_string()),
            date: Some(date.as_str().to_string()),
            platform: (!is_artifact).then(|| next.to_string()),
            source: None,
        };
    }
    SourceMeta::default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(commit: &str, date: &str, platform: &str) -> SourceMeta {
        SourceMeta {
            commit: Some(commit.to_string()),
            date: Some(date.to_string()),
            platform: Some(platform.to_string()),
            source: None,
        }
    }

    #[test]
    fn builder_log_in_fetchlogs_cache() {
        assert_eq!(
            meta_from_path(Path::new(
                "rev/2021-04-16T03:16:11-cf2396c/windows-amd64-2012"
            )),
            meta("cf2396c", "2021-04-16T03:16:11", "windows-amd64-2012")
        );
        assert_eq!(
            meta_from_path(Path::new(
                "/data/cache/rev/2021-04-16T03:16:11-cf2396c/windows-amd64-2012"
            )),
            meta("cf2396c", "2021-04-16T03:16:11", "windows-amd64-2012")
        );
    }

    #[test]
    fn files_below_the_builder_directory() {
        let full = "cf2396c5a1b2c3d4e5f60718293a4b5c6d7e8f90";
        assert_eq!(
            meta_from_path(Path::new(&format!(
                "logs/2023-11-02T18:40:05-{full}/linux-amd64-race/junit.xml"
            ))),
            meta(full, "2023-11-02T18:40:05", "linux-amd64-race")
        );
        assert_eq!(
            meta_from_path(Path::new(
                "2021-04-16T03:16:11-cf2396c/darwin-arm64/sub/dir/log.txt"
            )),
            meta("cf2396c", "2021-04-16T03:16:11", "darwin-arm64")
        );
    }

    #[test]
    fn date_only_layouts() {
        let dated = |date: &str, platform: Option<&str>| SourceMeta {
            commit: None,
            date: Some(date.to_string()),
            platform: platform.map(str::to_string),
            source: None,
        };
        assert_eq!(
            meta_from_path(Path::new("ci/2021-04-16/linux-amd64/junit.xml")),
            dated("2021-04-16", Some("linux-amd64"))
        );
        assert_eq!(
            meta_from_path(Path::new(
                "2021-04-16T03:16:11/darwin-arm64/a/b/go-test.json"
            )),
            dated("2021-04-16T03:16:11", Some("darwin-arm64"))
        );
        assert_eq!(
            meta_from_path(Path::new("2021-04-16-cf2396c/linux-amd64/junit.xml")),
            meta("cf2396c", "2021-04-16", "linux-amd64")
        );
        assert_eq!(
            meta_from_path(Path::new("logs/2021-04-16-cf2396c/linux-amd64")),
            meta("cf2396c", "2021-04-16", "linux-amd64")
        );
        // The file right below the dated directory is the artifact, not a platform.
        assert_eq!(
            meta_from_path(Path::new("2021-04-16/junit.XML")),
            dated("2021-04-16", None)
        );
        let no_platform = meta_from_path(Path::new("2021-04-16-cf2396c/output.log"));
        assert_eq!(
            (no_platform.commit.as_deref(), no_platform.platform),
            (Some("cf2396c"), None)
        );
        // The deepest dated directory wins.
        assert_eq!(
            meta_from_path(Path::new("2021-04-01/2021-04-16-cf2396c/linux-386/x.xml")),
            meta("cf2396c", "2021-04-16", "linux-386")
        );
    }

    #[test]
    fn other_paths_say_nothing() {
        for path in [
            "",
            "junit.xml",
            "target/nextest/ci/junit.xml",
            "rev/2021-04-16T03:16:11-cf2396c",
            "2021-04-16",
            "2021-13-40/linux-amd64/junit.xml",
            "2021-02-30-cf2396c/linux-amd64/junit.xml",
            "20210416/linux-amd64/junit.xml",
            "2021-04-16T03:16:11-xyz1234/linux-amd64",
            "2021-04-16T03:16:11-abc/linux-amd64",
        ] {
            assert_eq!(
                meta_from_path(Path::new(path)),
                SourceMeta::default(),
                "{path}"
            );
        }
    }
}
