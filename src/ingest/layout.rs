//! Provenance from artifact paths: the commit, date and platform that Go's fetchlogs cache
//! layout (`<date>-<rev>/<builder>`) encodes in directory names.

use std::path::{Component, Path};
use std::sync::LazyLock;

use regex::Regex;

use super::SourceMeta;

/// A fetchlogs revision directory: `2021-04-16T03:16:11-cf2396c` (date, then a short or full
/// hex commit id).
static REV_DIR: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?Z?)-([0-9a-fA-F]{7,64})$")
        .expect("constant regex is valid")
});

/// What the path of an artifact says about its origin, following Go's fetchlogs cache layout
/// `.../<date>-<rev>/<builder>[/<file>...]`: for
/// `rev/2021-04-16T03:16:11-cf2396c/windows-amd64-2012` (or any file below the builder
/// directory) the date is `2021-04-16T03:16:11`, the commit `cf2396c` and the platform
/// `windows-amd64-2012`.
///
/// The deepest `<date>-<rev>` component that has a component after it is used. Paths that do
/// not follow the layout give all `None`; `source` is always `None` (it is for the caller to
/// fill in).
pub fn meta_from_path(path: &Path) -> SourceMeta {
    let parts: Vec<&str> = path
        .components()
        .filter_map(|component| match component {
            Component::Normal(part) => part.to_str(),
            _ => None,
        })
        .collect();
    for i in (0..parts.len().saturating_sub(1)).rev() {
        if let Some(caps) = REV_DIR.captures(parts[i]) {
            let (Some(date), Some(rev)) = (caps.get(1), caps.get(2)) else {
                continue;
            };
            return SourceMeta {
                commit: Some(rev.as_str().to_string()),
                date: Some(date.as_str().to_string()),
                platform: Some(parts[i + 1].to_string()),
                source: None,
            };
        }
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
    fn other_paths_say_nothing() {
        for path in [
            "",
            "junit.xml",
            "target/nextest/ci/junit.xml",
            "rev/2021-04-16T03:16:11-cf2396c",
            "2021-04-16-cf2396c/linux-amd64",
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
