//! Where probed commits live: one git worktree per commit under a cache directory (never the
//! user's checkout), each built once with `--build`; the build's outcome is remembered beside
//! the worktree so that a later probe, or a resumed search, reuses it.

use std::collections::HashSet;
use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use serde::{Deserialize, Serialize};

use crate::bisect::git::{git, short, Repo};

/// The exit status that marks a commit untestable, as with `git bisect run`.
pub const UNTESTABLE_EXIT: i32 = 125;

/// How long a build gets to exit after SIGTERM when the search is interrupted.
const BUILD_GRACE: Duration = Duration::from_secs(2);

/// What building a commit came to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "kebab-case")]
pub enum Built {
    /// Built (or nothing to build): runs can start.
    Ready,
    /// The commit cannot be tested.
    Untestable {
        /// Why, in words.
        reason: String,
    },
}

/// The remembered outcome of one commit's build.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct BuildMark {
    command: String,
    built: Built,
}

/// The cache directory of one repository's bisections, locked while a search uses it.
#[derive(Debug)]
pub struct Workspace {
    repo: Repo,
    root: PathBuf,
    /// Held open for its lock.
    _lock: File,
    /// Serialises `git worktree` calls from probes running side by side.
    git_lock: Mutex<()>,
    builds: AtomicU64,
    /// Commits whose test target this process built.
    target_builds: Mutex<HashSet<String>>,
}

/// The default cache directory: `$XDG_CACHE_HOME/flakehunt/bisect`, else
/// `~/.cache/flakehunt/bisect`.
pub fn default_cache_dir() -> Option<PathBuf> {
    let from = |var: &str| {
        std::env::var_os(var)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    from("XDG_CACHE_HOME")
        .or_else(|| from("HOME").map(|home| home.join(".cache")))
        .map(|cache| cache.join("flakehunt").join("bisect"))
}

/// `path` made absolute, without `.` and `..`, and with symbolic links resolved as far as it
/// exists, so that "is it inside the repository?" has a true answer.
fn resolved(path: &Path) -> PathBuf {
    use std::path::Component;
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let mut lexical = PathBuf::new();
    for component in absolute.components() {
        match component {
            Component::ParentDir => {
                lexical.pop();
            }
            Component::CurDir => {}
            other => lexical.push(other),
        }
    }
    let mut existing = lexical.as_path();
    let mut rest = Vec::new();
    while !existing.exists() {
        match (existing.parent(), existing.file_name()) {
            (Some(parent), Some(name)) => {
                rest.push(name.to_os_string());
                existing = parent;
            }
            _ => return lexical,
        }
    }
    let mut out = std::fs::canonicalize(existing).unwrap_or_else(|_| existing.to_path_buf());
    out.extend(rest.iter().rev());
    out
}

impl Workspace {
    /// Open (creating) the cache directory for `repo` under `cache` and lock it, so that two
    /// searches never share worktrees.
    pub fn open(repo: &Repo, cache: &Path) -> Result<Workspace> {
        let name = repo
            .toplevel
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "repo".into());
        let id = xxhash_rust::xxh3::xxh3_64(repo.common_dir.as_os_str().as_encoded_bytes());
        let root = resolved(cache).join(format!("{name}-{id:016x}"));
        // A cache inside the checkout would show up in its status.
        let toplevel = std::fs::canonicalize(&repo.toplevel).unwrap_or(repo.toplevel.clone());
        if root.starts_with(&toplevel) {
            bail!("the worktree cache {} is inside the repository; choose one outside it with --cache-dir", root.display());
        }
        std::fs::create_dir_all(&root).with_context(|| {
            format!(
                "cannot create the worktree cache {} (choose another with --cache-dir)",
                root.display()
            )
        })?;
        let lock_path = root.join("lock");
        let lock = File::create(&lock_path)
            .with_context(|| format!("cannot create {}", lock_path.display()))?;
        match rustix::fs::flock(&lock, rustix::fs::FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => {}
            Err(rustix::io::Errno::WOULDBLOCK) => bail!(
                "another flakehunt bisect is using {}; wait for it to finish or choose another --cache-dir",
                root.display()
            ),
            Err(error) => bail!("cannot lock {}: {error}", lock_path.display()),
        }
        Ok(Workspace {
            repo: repo.clone(),
            root,
            _lock: lock,
            git_lock: Mutex::new(()),
            builds: AtomicU64::new(0),
            target_builds: Mutex::new(HashSet::new()),
        })
    }

    /// The cache directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Builds run by this process.
    pub fn builds(&self) -> u64 {
        self.builds.load(Ordering::Relaxed)
    }

    fn worktree_dir(&self, hash: &str) -> PathBuf {
        self.root.join(short(hash))
    }

    /// Where the cargo build of a test target at `hash` goes: beside its worktree, never shared,
    /// since test binaries of one package have the same name at every commit and a shared
    /// `CARGO_TARGET_DIR` would let one commit's build replace another's.
    fn cargo_target_dir(&self, hash: &str) -> PathBuf {
        self.root.join(format!("{}.cargo-target", short(hash)))
    }

    /// The variables of the toolchain commands that build a test target at `hash` (see
    /// [`crate::target::with_build_env`]).
    pub fn target_env(&self, hash: &str) -> Vec<(OsString, OsString)> {
        vec![(
            "CARGO_TARGET_DIR".into(),
            self.cargo_target_dir(hash).into_os_string(),
        )]
    }

    /// Count the build of the test target at `hash`, once per commit (a probe that comes back
    /// to the commit reuses it).
    pub fn count_target_build(&self, hash: &str) {
        if let Ok(mut built) = self.target_builds.lock() {
            if built.insert(hash.to_string()) {
                self.builds.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Where the full error of a test target that cannot be used at `hash` is kept.
    pub fn target_log(&self, hash: &str) -> PathBuf {
        self.root.join(format!("{}.target.log", short(hash)))
    }

    /// A worktree with `hash` checked out (detached), reused if it is already there.
    pub fn checkout(&self, hash: &str) -> Result<PathBuf> {
        let dir = self.worktree_dir(hash);
        let _guard = self
            .git_lock
            .lock()
            .map_err(|_| anyhow!("a probe thread panicked"))?;
        if dir.join(".git").exists() {
            let head = git(&dir, &[OsStr::new("rev-parse"), OsStr::new("HEAD")]);
            if head.is_ok_and(|head| head.trim() == hash) {
                return Ok(dir);
            }
        }
        // Something half made (an interrupted checkout) or stale: start that worktree over.
        if dir.exists() {
            std::fs::remove_dir_all(&dir)
                .with_context(|| format!("cannot remove the stale worktree {}", dir.display()))?;
        }
        let _ = std::fs::remove_file(self.mark_path(hash));
        git(
            &self.repo.toplevel,
            &[OsStr::new("worktree"), OsStr::new("prune")],
        )?;
        git(
            &self.repo.toplevel,
            &[
                OsStr::new("worktree"),
                OsStr::new("add"),
                OsStr::new("--detach"),
                OsStr::new("--force"),
                OsStr::new("--quiet"),
                dir.as_os_str(),
                OsStr::new(hash),
            ],
        )
        .with_context(|| format!("cannot check out {} in a worktree", short(hash)))?;
        Ok(dir)
    }

    fn mark_path(&self, hash: &str) -> PathBuf {
        self.root.join(format!("{}.build.json", short(hash)))
    }

    /// Where the build of `hash` writes its output.
    pub fn build_log(&self, hash: &str) -> PathBuf {
        self.root.join(format!("{}.build.log", short(hash)))
    }

    /// Build `hash` in its worktree with `command` (run by `sh -c`), once: a build already done
    /// with the same command is reused. Exit 125 or any other failure makes the commit
    /// untestable. None when the search was interrupted during the build (nothing remembered).
    pub fn build(
        &self,
        hash: &str,
        dir: &Path,
        command: Option<&str>,
        interrupted: &AtomicBool,
    ) -> Result<Option<Built>> {
        let Some(command) = command else {
            return Ok(Some(Built::Ready));
        };
        let mark_path = self.mark_path(hash);
        if let Ok(text) = std::fs::read_to_string(&mark_path) {
            if let Ok(mark) = serde_json::from_str::<BuildMark>(&text) {
                if mark.command == command {
                    return Ok(Some(mark.built));
                }
            }
        }
        let log_path = self.build_log(hash);
        let Some(built) = self.run_build(hash, dir, command, &log_path, interrupted)? else {
            return Ok(None);
        };
        let mark = BuildMark {
            command: command.to_string(),
            built: built.clone(),
        };
        let temporary = mark_path.with_extension("json.tmp");
        let json = serde_json::to_vec(&mark).context("could not encode a build mark")?;
        std::fs::write(&temporary, json)
            .and_then(|()| std::fs::rename(&temporary, &mark_path))
            .with_context(|| format!("cannot write {}", mark_path.display()))?;
        Ok(Some(built))
    }

    fn run_build(
        &self,
        hash: &str,
        dir: &Path,
        command: &str,
        log_path: &Path,
        interrupted: &AtomicBool,
    ) -> Result<Option<Built>> {
        let log = File::create(log_path)
            .with_context(|| format!("cannot create the build log {}", log_path.display()))?;
        let log_err = log.try_clone().context("cannot share the build log")?;
        self.builds.fetch_add(1, Ordering::Relaxed);
        // Its own process group, so an interrupt or a leftover daemon can be reached as a whole.
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(command)
            .current_dir(dir)
            .env("FLAKEHUNT_COMMIT", hash)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err)
            .process_group(0)
            .spawn()
            .context("cannot start the build (sh -c)")?;
        let pgid = child.id();
        let mut terminated_at: Option<Instant> = None;
        let status = loop {
            if let Some(status) = child.try_wait().context("cannot wait for the build")? {
                break status;
            }
            if interrupted.load(Ordering::Relaxed) {
                match terminated_at {
                    None => {
                        crate::os::process::signal_group(pgid, libc::SIGTERM);
                        terminated_at = Some(Instant::now());
                    }
                    Some(at) if at.elapsed() > BUILD_GRACE => {
                        crate::os::process::signal_group(pgid, libc::SIGKILL);
                    }
                    Some(_) => {}
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        // Whatever the build left running in its group goes with it.
        crate::os::process::signal_group(pgid, libc::SIGKILL);
        if terminated_at.is_some() {
            return Ok(None);
        }
        let shown = log_path.display();
        Ok(Some(match status.code() {
            Some(0) => Built::Ready,
            Some(UNTESTABLE_EXIT) => Built::Untestable {
                reason: format!("the build exited {UNTESTABLE_EXIT} (log: {shown})"),
            },
            Some(code) => Built::Untestable {
                reason: format!("the build failed with exit {code} (log: {shown})"),
            },
            None => Built::Untestable {
                reason: format!("the build was killed by a signal (log: {shown})"),
            },
        }))
    }

    /// Remove the worktrees of `hashes` and their build marks (after a search concluded).
    pub fn remove(&self, hashes: &[String]) -> Result<()> {
        let _guard = self
            .git_lock
            .lock()
            .map_err(|_| anyhow!("a probe thread panicked"))?;
        for hash in hashes {
            let dir = self.worktree_dir(hash);
            if dir.exists() {
                let _ = std::fs::remove_dir_all(&dir);
            }
            let _ = std::fs::remove_file(self.mark_path(hash));
            let _ = std::fs::remove_file(self.build_log(hash));
            let _ = std::fs::remove_file(self.target_log(hash));
            let _ = std::fs::remove_dir_all(self.cargo_target_dir(hash));
        }
        git(
            &self.repo.toplevel,
            &[OsStr::new("worktree"), OsStr::new("prune")],
        )?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_paths_are_resolved_before_they_are_compared() {
        let dir = tempfile::tempdir().expect("tempdir");
        let base = std::fs::canonicalize(dir.path()).expect("canonical");
        std::fs::create_dir(base.join("repo")).expect("mkdir");
        let sneaky = base.join("elsewhere/../repo/./cache/x");
        assert_eq!(resolved(&sneaky), base.join("repo/cache/x"));
        assert!(resolved(&sneaky).starts_with(base.join("repo")));
    }
}
