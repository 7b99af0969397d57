//! Provenance of a campaign: the git commit (and whether the tree was dirty) of the directory it
//! ran in, and the host. Recorded with every campaign so results can be tied to code.

use std::path::Path;
use std::process::{Command, Stdio};

/// Git state of a working directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GitState {
    /// Full commit hash of HEAD; `None` in a repository with no commits yet.
    pub commit: Option<String>,
    /// Whether tracked files differ from HEAD.
    pub dirty: bool,
}

/// The git state of `dir`'s repository, if it is in one and git is installed.
pub fn git_state(dir: &Path) -> Option<GitState> {
    let git = |args: &[&str]| {
        Command::new("git")
            .arg("-C")
            .arg(dir)
            .args(args)
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .output()
            .ok()
    };
    let head = git(&["rev-parse", "--verify", "--quiet", "HEAD"])?;
    let commit = Some(String::from_utf8_lossy(&head.stdout).trim().to_string())
        .filter(|commit| head.status.success() && !commit.is_empty());
    // Without a HEAD commit, tell a fresh repository from no repository at all.
    if commit.is_none() && !git(&["rev-parse", "--git-dir"])?.status.success() {
        return None;
    }
    // Untracked files are ignored: build outputs must not make every tree look dirty.
    let status = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["status", "--porcelain", "--untracked-files=no"])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    Some(GitState {
        commit,
        dirty: status.status.success() && !status.stdout.is_empty(),
    })
}

/// This machine's host name.
pub fn hostname() -> String {
    rustix::system::uname()
        .nodename()
        .to_string_lossy()
        .into_owned()
}
