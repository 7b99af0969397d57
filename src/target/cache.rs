//! The build cache: a build is reused while the source state it was made from is unchanged.
//! Source state is the path, size and modification time of every source file under the project
//! root (git's tracked and untracked-but-not-ignored files when the root is in a work tree, else
//! a walk that skips build output), plus the toolchain and the options of the build.

use std::io::{self, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use xxhash_rust::xxh3::Xxh3;

/// Environment variable naming the cache directory.
pub const CACHE_DIR_VAR: &str = "FLAKEHUNT_CACHE_DIR";

/// Directories never part of the source state: VCS metadata, flakehunt's own output, caches of
/// tools and interpreters. Directories holding a `CACHEDIR.TAG` (cargo's `target/`) or a
/// `pyvenv.cfg` (virtual environments) are skipped as well.
const SKIPPED_DIRS: &[&str] = &[
    ".git",
    ".hg",
    ".svn",
    ".flakehunt",
    "flakehunt-out",
    "node_modules",
    "__pycache__",
    ".pytest_cache",
    ".mypy_cache",
    ".tox",
];

/// A walk that finds more files than this gives up: such a tree is not cached (it is built).
const MAX_FILES: usize = 500_000;

/// Where cached builds live: `FLAKEHUNT_CACHE_DIR`, else `$XDG_CACHE_HOME/flakehunt`, else
/// `~/.cache/flakehunt`, else `.flakehunt/cache`.
#[derive(Debug, Clone)]
pub struct Cache {
    dir: PathBuf,
}

impl Cache {
    /// The user's cache.
    pub fn open() -> Cache {
        let non_empty = |name: &str| std::env::var_os(name).filter(|value| !value.is_empty());
        let dir = if let Some(dir) = non_empty(CACHE_DIR_VAR) {
            PathBuf::from(dir)
        } else if let Some(dir) = non_empty("XDG_CACHE_HOME") {
            PathBuf::from(dir).join("flakehunt")
        } else if let Some(home) = non_empty("HOME") {
            PathBuf::from(home).join(".cache").join("flakehunt")
        } else {
            PathBuf::from(".flakehunt").join("cache")
        };
        Cache {
            dir: std::path::absolute(&dir).unwrap_or(dir),
        }
    }

    /// A cache in `dir` (tests).
    #[cfg(test)]
    pub fn at(dir: PathBuf) -> Cache {
        Cache { dir }
    }

    /// The directory for the build artifacts of one key (created).
    pub fn artifact_dir(&self, kind: &str, key: &str) -> io::Result<PathBuf> {
        let dir = self.dir.join(kind).join(key);
        std::fs::create_dir_all(&dir).map_err(|error| {
            io::Error::new(
                error.kind(),
                format!(
                    "cannot create the build cache {} ({error}); set {CACHE_DIR_VAR} to a writable directory",
                    dir.display()
                ),
            )
        })?;
        Ok(dir)
    }

    /// The entry stored under `key`, if there is a readable one.
    pub fn load<T: DeserializeOwned>(&self, kind: &str, key: &str) -> Option<T> {
        let bytes = std::fs::read(self.entry_path(kind, key)).ok()?;
        serde_json::from_slice(&bytes).ok()
    }

    /// Store an entry atomically (a concurrent reader sees the old entry or the new one).
    /// A cache that cannot be written only costs a rebuild next time, so callers may ignore
    /// the error.
    pub fn store<T: Serialize>(&self, kind: &str, key: &str, value: &T) -> io::Result<()> {
        let path = self.entry_path(kind, key);
        let dir = path.parent().unwrap_or(&self.dir);
        std::fs::create_dir_all(dir)?;
        let bytes = serde_json::to_vec(value).map_err(io::Error::other)?;
        let temporary = dir.join(format!(".{key}.{}.tmp", std::process::id()));
        let written = std::fs::File::create(&temporary)
            .and_then(|mut file| file.write_all(&bytes))
            .and_then(|()| std::fs::rename(&temporary, &path));
        if written.is_err() {
            let _ = std::fs::remove_file(&temporary);
        }
        written
    }

    fn entry_path(&self, kind: &str, key: &str) -> PathBuf {
        self.dir.join(kind).join(format!("{key}.json"))
    }
}

/// Size and modification time of a file, to notice that a cached binary was rebuilt or
/// removed behind flakehunt's back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stamp {
    /// Size in bytes.
    pub len: u64,
    /// Modification time, nanoseconds since the epoch.
    pub mtime_ns: i128,
}

impl Stamp {
    /// The stamp of `path`, if it is a file.
    pub fn of(path: &Path) -> Option<Stamp> {
        let metadata = std::fs::metadata(path).ok()?;
        metadata.is_file().then(|| Stamp {
            len: metadata.len(),
            mtime_ns: i128::from(metadata.mtime()) * 1_000_000_000
                + i128::from(metadata.mtime_nsec()),
        })
    }
}

/// A hash of many parts, each length-prefixed so that parts cannot run into each other.
#[derive(Default)]
pub struct KeyHasher(Xxh3);

impl KeyHasher {
    /// A new hash.
    pub fn new() -> KeyHasher {
        KeyHasher(Xxh3::new())
    }

    /// Add one part.
    pub fn part(&mut self, bytes: &[u8]) -> &mut Self {
        self.0.update(&(bytes.len() as u64).to_le_bytes());
        self.0.update(bytes);
        self
    }

    /// 32 hex digits.
    pub fn finish(&self) -> String {
        format!("{:032x}", self.0.digest128())
    }
}

/// The source state of a tree: every file's path and stamp, and their hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceState {
    /// The hash of everything below.
    pub hash: String,
    /// Each file (relative to the root) with the hash of its size, time and mode.
    files: Vec<(PathBuf, u64)>,
}

impl SourceState {
    /// Whether `later` differs from this state only in files the build tool itself writes
    /// (`Cargo.lock`, `go.sum`), so that a build made from this state is also one of `later`.
    pub fn same_but_for_lock_files(&self, later: &SourceState) -> bool {
        let written_by_build = |path: &Path| {
            path.file_name()
                .is_some_and(|name| name == "Cargo.lock" || name == "go.sum")
        };
        let mine: Vec<&(PathBuf, u64)> = self
            .files
            .iter()
            .filter(|f| !written_by_build(&f.0))
            .collect();
        let theirs: Vec<&(PathBuf, u64)> = later
            .files
            .iter()
            .filter(|f| !written_by_build(&f.0))
            .collect();
        mine == theirs
    }
}

/// The source state of the tree under `root`; None when it cannot be taken (a tree too
/// large, an unreadable directory), in which case nothing is cached.
pub fn source_state(root: &Path) -> Option<SourceState> {
    let mut paths = git_files(root).or_else(|| walk_files(root))?;
    paths.sort();
    let mut hasher = KeyHasher::new();
    hasher.part(root.as_os_str().as_bytes());
    let mut files = Vec::with_capacity(paths.len());
    for relative in paths {
        let mut file_hasher = Xxh3::new();
        match std::fs::symlink_metadata(root.join(&relative)) {
            Ok(metadata) => {
                file_hasher.update(&metadata.len().to_le_bytes());
                file_hasher.update(&metadata.mtime().to_le_bytes());
                file_hasher.update(&metadata.mtime_nsec().to_le_bytes());
                file_hasher.update(&metadata.mode().to_le_bytes());
            }
            Err(_) => file_hasher.update(b"missing"),
        }
        let stamp = file_hasher.digest();
        hasher
            .part(relative.as_os_str().as_bytes())
            .part(&stamp.to_le_bytes());
        files.push((relative, stamp));
    }
    Some(SourceState {
        hash: hasher.finish(),
        files,
    })
}

/// A build's cache key: the project's source state plus everything else the build depends on
/// (toolchain, options, environment), hashed apart.
#[derive(Debug, Clone)]
pub struct BuildKey {
    root: PathBuf,
    before: SourceState,
    rest: String,
}

impl BuildKey {
    /// The key of a build of the tree under `root` whose other inputs hash to `rest`; None
    /// when the tree's state cannot be taken.
    pub fn new(root: &Path, rest: String) -> Option<BuildKey> {
        Some(BuildKey {
            root: root.to_path_buf(),
            before: source_state(root)?,
            rest,
        })
    }

    /// The key as it was when the build was asked for.
    pub fn key(&self) -> String {
        KeyHasher::new()
            .part(self.before.hash.as_bytes())
            .part(self.rest.as_bytes())
            .finish()
    }

    /// The key of the tree as the build left it, when the build only wrote its lock file
    /// (`Cargo.lock` on a first build): the next campaign finds the build under it.
    pub fn key_after_build(&self) -> Option<String> {
        let after = source_state(&self.root)?;
        (after.hash != self.before.hash && self.before.same_but_for_lock_files(&after)).then(|| {
            KeyHasher::new()
                .part(after.hash.as_bytes())
                .part(self.rest.as_bytes())
                .finish()
        })
    }
}

/// Whether a path relative to the root passes through a skipped directory.
fn in_skipped_dir(relative: &Path) -> bool {
    let mut components = relative.components().peekable();
    while let Some(component) = components.next() {
        if components.peek().is_none() {
            break;
        }
        if SKIPPED_DIRS.iter().any(|dir| component.as_os_str() == *dir) {
            return true;
        }
    }
    false
}

/// Tracked plus untracked-but-not-ignored files, when `root` is inside a git work tree.
fn git_files(root: &Path) -> Option<Vec<PathBuf>> {
    let output = Command::new("git")
        .arg("-C")
        .arg(root)
        .args([
            "ls-files",
            "-z",
            "--cached",
            "--others",
            "--exclude-standard",
        ])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    if !output.status.success() {
        return None;
    }
    let files: Vec<PathBuf> = output
        .stdout
        .split(|&b| b == 0)
        .filter(|name| !name.is_empty())
        .map(|name| PathBuf::from(std::ffi::OsStr::from_bytes(name)))
        .filter(|path| !in_skipped_dir(path))
        .collect();
    (files.len() <= MAX_FILES).then_some(files)
}

/// Every file under `root`, skipping build output and tool caches.
fn walk_files(root: &Path) -> Option<Vec<PathBuf>> {
    let mut files = Vec::new();
    let mut pending = vec![PathBuf::new()];
    while let Some(relative) = pending.pop() {
        let dir = root.join(&relative);
        if !relative.as_os_str().is_empty()
            && (dir.join("CACHEDIR.TAG").exists() || dir.join("pyvenv.cfg").exists())
        {
            continue;
        }
        for entry in std::fs::read_dir(&dir).ok()? {
            let entry = entry.ok()?;
            let name = entry.file_name();
            let path = relative.join(&name);
            let file_type = entry.file_type().ok()?;
            if file_type.is_dir() {
                if !SKIPPED_DIRS.iter().any(|skipped| name == *skipped) {
                    pending.push(path);
                }
            } else {
                files.push(path);
                if files.len() > MAX_FILES {
                    return None;
                }
            }
        }
    }
    Some(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree() -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::create_dir_all(dir.path().join("src")).expect("src");
        std::fs::write(dir.path().join("src/lib.rs"), "fn a() {}").expect("write");
        std::fs::write(dir.path().join("Cargo.toml"), "[package]").expect("write");
        dir
    }

    #[test]
    fn source_state_changes_with_sources_and_not_with_output() {
        let dir = tree();
        let root = dir.path();
        let first = source_state(root).expect("state");
        assert_eq!(source_state(root).as_ref(), Some(&first));
        // A lock file written by the build is told apart.
        std::fs::write(root.join("Cargo.lock"), "# lock").expect("lock");
        let locked = source_state(root).expect("state");
        assert_ne!(locked.hash, first.hash);
        assert!(first.same_but_for_lock_files(&locked));
        std::fs::remove_file(root.join("Cargo.lock")).expect("unlock");

        // Build output, flakehunt's own files and caches do not count.
        std::fs::create_dir_all(root.join("target/debug")).expect("target");
        std::fs::write(root.join("target/CACHEDIR.TAG"), "Signature").expect("tag");
        std::fs::write(root.join("target/debug/x"), "bin").expect("bin");
        std::fs::create_dir_all(root.join(".flakehunt")).expect("dir");
        std::fs::write(root.join(".flakehunt/history.db"), "db").expect("db");
        std::fs::create_dir_all(root.join("flakehunt-out/c1")).expect("dir");
        std::fs::write(root.join("flakehunt-out/c1/run-1.log"), "log").expect("log");
        assert_eq!(source_state(root).as_ref(), Some(&first));

        // A changed size, a new file, a removed file all do.
        std::fs::write(root.join("src/lib.rs"), "fn a() { }").expect("write");
        let edited = source_state(root).expect("state");
        assert_ne!(edited, first);
        assert!(!first.same_but_for_lock_files(&edited));
        std::fs::write(root.join("src/new.rs"), "").expect("write");
        let added = source_state(root).expect("state");
        assert_ne!(added, edited);
        std::fs::remove_file(root.join("src/new.rs")).expect("remove");
        assert_eq!(source_state(root).as_ref(), Some(&edited));
    }

    #[test]
    fn entries_round_trip_and_unreadable_ones_are_misses() {
        let dir = tempfile::tempdir().expect("temp dir");
        let cache = Cache::at(dir.path().to_path_buf());
        assert_eq!(cache.load::<Vec<u32>>("cargo", "k"), None);
        cache.store("cargo", "k", &vec![1u32, 2]).expect("store");
        assert_eq!(cache.load::<Vec<u32>>("cargo", "k"), Some(vec![1, 2]));
        std::fs::write(dir.path().join("cargo/k.json"), "{broken").expect("write");
        assert_eq!(cache.load::<Vec<u32>>("cargo", "k"), None);
    }

    #[test]
    fn keys_do_not_run_parts_together() {
        let a = KeyHasher::new().part(b"ab").part(b"c").finish();
        let b = KeyHasher::new().part(b"a").part(b"bc").finish();
        assert_ne!(a, b);
    }
}
