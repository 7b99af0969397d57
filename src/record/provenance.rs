//! Provenance of a campaign: the git commit (and whether the tree was dirty) of the directory it
//! ran in, and the host. Recorded with every campaign so results can be tied to code.

use std::path::Path;
use std::process::{Command, Stdio};

/// Git state of a working directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GitState {
    /// Full commit hash of HEAD.
    pub commit: String,
    /// Whether tracked files differ from HEAD.
    pub dirty: bool,
}

/// The git commit of `dir`'s repository, if it is in one and git is installed.
pub fn git_state(dir: &Path) -> Option<GitState> {
    let head = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["rev-parse", "--verify", "HEAD"])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    if !head.status.success() {
        return None;
    }
    let commit = String::from_utf8_lossy(&head.stdout).trim().to_string();
    if commit.is_empty() {
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
