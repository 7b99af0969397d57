//! Git plumbing for bisection: find the repository, resolve revisions, list the commits between
//! good and bad (a linear history or the first-parent path), and the commits touching files that
//! match a glob. Read-only: nothing here changes the user's checkout.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{anyhow, bail, Context, Result};

use crate::analysis::bisect::CommitInfo;

/// A repository, as found from a directory inside it.
#[derive(Debug, Clone)]
pub struct Repo {
    /// The top level of the working tree the search was started from.
    pub toplevel: PathBuf,
    /// The repository's common git directory (shared by all its worktrees).
    pub common_dir: PathBuf,
}

/// Run git with `args` in `dir`; its standard output, or an error with what git said.
pub fn git(dir: &Path, args: &[&OsStr]) -> Result<String> {
    let output = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|error| anyhow!("cannot run git ({error}); is git installed and on PATH?"))?;
    if !output.status.success() {
        let words: Vec<String> = args.iter().map(|a| a.to_string_lossy().into()).collect();
        let said = String::from_utf8_lossy(&output.stderr);
        bail!("git {} failed: {}", words.join(" "), said.trim());
    }
    String::from_utf8(output.stdout).context("git printed something that is not UTF-8")
}

fn git_str(dir: &Path, args: &[&str]) -> Result<String> {
    let args: Vec<&OsStr> = args.iter().map(OsStr::new).collect();
    git(dir, &args)
}

impl Repo {
    /// The repository containing `dir`.
    pub fn discover(dir: &Path) -> Result<Repo> {
        let out = git_str(
            dir,
            &[
                "rev-parse",
                "--show-toplevel",
                "--path-format=absolute",
                "--git-common-dir",
            ],
        )
        .with_context(|| format!("{} is not inside a git repository", dir.display()))?;
        let mut lines = out.lines();
        let (Some(toplevel), Some(common)) = (lines.next(), lines.next()) else {
            bail!("git rev-parse gave no top level for {}", dir.display());
        };
        Ok(Repo {
            toplevel: PathBuf::from(toplevel),
            common_dir: PathBuf::from(common),
        })
    }

    /// The full hash of the commit `rev` names.
    pub fn resolve(&self, rev: &str) -> Result<String> {
        if rev.starts_with('-') {
            bail!("'{rev}' is not a revision");
        }
        let spec = format!("{rev}^{{commit}}");
        git_str(&self.toplevel, &["rev-parse", "--verify", "--quiet", &spec])
            .ok()
            .map(|hash| hash.trim().to_string())
            .filter(|hash| !hash.is_empty())
            .ok_or_else(|| {
                anyhow!(
                    "'{rev}' does not name a commit in {}",
                    self.toplevel.display()
                )
            })
    }

    /// The commits from `good` to `bad`, good first: every commit of a linear history, or the
    /// first-parent path.
    pub fn path(&self, good: &str, bad: &str, first_parent: bool) -> Result<Vec<CommitInfo>> {
        if good == bad {
            bail!("--good and --bad name the same commit");
        }
        let ancestor = Command::new("git")
            .arg("-C")
            .arg(&self.toplevel)
            .args(["merge-base", "--is-ancestor", good, bad])
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .context("cannot run git")?;
        if !ancestor.success() {
            bail!("the good commit {} is not an ancestor of the bad commit {}: bisection needs good to come before bad", short(good), short(bad));
        }
        let range = format!("{good}..{bad}");
        let mode = if first_parent {
            "--first-parent"
        } else {
            "--ancestry-path"
        };
        let format = "--format=%H%x1f%P%x1f%an <%ae>%x1f%aI%x1f%s%x1e";
        let out = git_str(
            &self.toplevel,
            &["log", "--reverse", "--no-color", mode, format, &range],
        )?;
        let mut path = vec![self.info(good)?];
        for record in out.split('\x1e').map(str::trim).filter(|r| !r.is_empty()) {
            let fields: Vec<&str> = record.split('\x1f').collect();
            let [hash, parents, author, date, subject] = fields[..] else {
                bail!("unexpected git log output: {record:?}");
            };
            let parents: Vec<&str> = parents.split_whitespace().collect();
            let previous = &path[path.len() - 1].hash;
            if parents.first() != Some(&previous.as_str()) || (!first_parent && parents.len() > 1) {
                if first_parent {
                    bail!(
                        "the good commit {} is not on the first-parent path of {}",
                        short(good),
                        short(bad)
                    );
                }
                bail!("the history between {} and {} is not linear ({} is a merge or has a side branch); pass --first-parent to search along the first-parent path", short(good), short(bad), short(hash));
            }
            path.push(CommitInfo {
                hash: hash.into(),
                subject: subject.into(),
                author: author.into(),
                date: date.into(),
            });
        }
        if path.last().map(|c| c.hash.as_str()) != Some(bad) {
            bail!("could not walk from {} to {}", short(good), short(bad));
        }
        Ok(path)
    }

    fn info(&self, hash: &str) -> Result<CommitInfo> {
        let out = git_str(
            &self.toplevel,
            &[
                "log",
                "-1",
                "--no-color",
                "--format=%H%x1f%an <%ae>%x1f%aI%x1f%s",
                hash,
            ],
        )?;
        let fields: Vec<&str> = out.trim_end_matches('\n').split('\x1f').collect();
        let [hash, author, date, subject] = fields[..] else {
            bail!("unexpected git log output: {out:?}");
        };
        Ok(CommitInfo {
            hash: hash.into(),
            subject: subject.into(),
            author: author.into(),
            date: date.into(),
        })
    }

    /// Hashes of the commits in `good..bad` that touch a file matching one of `globs` (git
    /// pathspec globs: `src/net/**`, `*.c`); along the first parent when `first_parent`.
    pub fn touching(
        &self,
        good: &str,
        bad: &str,
        globs: &[String],
        first_parent: bool,
    ) -> Result<std::collections::HashSet<String>> {
        let range = format!("{good}..{bad}");
        let mut args = vec!["log", "--format=%H", "--no-color", &range];
        if first_parent {
            args.extend(["--first-parent", "--diff-merges=first-parent"]);
        }
        args.push("--");
        let specs: Vec<String> = globs.iter().map(|g| format!(":(glob){g}")).collect();
        args.extend(specs.iter().map(String::as_str));
        let out = git_str(&self.toplevel, &args).context("cannot apply --prior")?;
        Ok(out.lines().map(str::to_string).collect())
    }
}

/// The first 12 characters of a hash.
pub fn short(hash: &str) -> &str {
    hash.get(..12).unwrap_or(hash)
}
