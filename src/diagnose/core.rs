//! Core dumps of crashed runs: where the kernel writes them (`kernel.core_pattern`), whether
//! flakehunt may let it, and finding a run's cores afterwards by the process group recorded in
//! each core's notes.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use regex::Regex;

use super::elf::{core_notes, CoreNotes};

/// Largest core a run may write when flakehunt raises the limit: a truncated core may lose the
/// crashing thread's stack, a bigger one costs disk and reading time.
pub const CORE_LIMIT: u64 = 512 << 20;
/// Cores read per run (one per crashed process).
pub const MAX_CORES_PER_RUN: usize = 4;

/// How crashed runs' cores are found, or why they cannot be.
#[derive(Debug, Clone)]
pub enum CorePlan {
    /// Cores land in `dir` under names matching `name`.
    Files(CoreFiles),
    /// No core files: the reason, for the one warning.
    Off(String),
}

/// Where cores land and what the campaign does with them.
#[derive(Debug, Clone)]
pub struct CoreFiles {
    /// Directory the kernel writes them to.
    pub dir: PathBuf,
    /// Whole-name pattern of a core file there.
    pub name: Regex,
    /// The name when it has no variable part (`core`): a single path to look at.
    pub fixed: Option<String>,
    /// Core size limit to give runs (None: the user's own limit already allows cores).
    pub raise_to: Option<u64>,
    /// The user's own limit allowed cores: keep them (beside the run's log) once read.
    pub keep: bool,
    /// Files older than this (the campaign's start, less a second) are not its cores.
    pub since: SystemTime,
}

/// The kernel's settings that decide where cores go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KernelCoreSettings {
    /// `kernel.core_pattern`.
    pub pattern: String,
    /// `kernel.core_uses_pid`.
    pub uses_pid: bool,
}

impl KernelCoreSettings {
    /// Read them from /proc, if it can.
    pub fn read() -> Option<KernelCoreSettings> {
        let pattern = std::fs::read_to_string("/proc/sys/kernel/core_pattern").ok()?;
        let uses_pid = std::fs::read_to_string("/proc/sys/kernel/core_uses_pid")
            .map(|text| text.trim() != "0")
            .unwrap_or(false);
        Some(KernelCoreSettings {
            pattern: pattern.trim_end_matches('\n').to_string(),
            uses_pid,
        })
    }
}

/// The core size limits of flakehunt itself: (soft, hard).
pub fn own_core_limits() -> (u64, u64) {
    let limit = rustix::process::getrlimit(rustix::process::Resource::Core);
    (
        limit.current.unwrap_or(u64::MAX),
        limit.maximum.unwrap_or(u64::MAX),
    )
}

/// Decide how cores of runs started in `cwd` are found, given the kernel's settings and
/// flakehunt's own (soft, hard) core limits.
pub fn plan(settings: Option<&KernelCoreSettings>, cwd: &Path, limits: (u64, u64)) -> CorePlan {
    let Some(settings) = settings else {
        return CorePlan::Off("kernel.core_pattern cannot be read".into());
    };
    let pattern = settings.pattern.as_str();
    if let Some(program) = pattern.strip_prefix('|') {
        let program = program.split_whitespace().next().unwrap_or(program);
        return CorePlan::Off(format!(
            "core dumps are handed to {program} (kernel.core_pattern), not written to files \
             flakehunt can read; see that tool (e.g. coredumpctl) for the crashes"
        ));
    }
    if pattern.is_empty() {
        return CorePlan::Off("kernel.core_pattern is empty, so no core is written".into());
    }
    let (soft, hard) = limits;
    let keep = soft > 0;
    let raise_to = if keep {
        None
    } else if hard == 0 {
        return CorePlan::Off("the hard core size limit is 0 (ulimit -Hc)".into());
    } else {
        Some(CORE_LIMIT.min(hard))
    };
    let (dir_part, name_part) = match pattern.rsplit_once('/') {
        Some((dir, name)) => (Some(if dir.is_empty() { "/" } else { dir }), name),
        None => (None, pattern),
    };
    let dir = match dir_part {
        Some(dir) if dir.contains('%') => {
            return CorePlan::Off(format!(
                "kernel.core_pattern ({pattern}) puts cores in a directory that depends on the \
                 crashing process"
            ))
        }
        Some(dir) if dir.starts_with('/') => PathBuf::from(dir),
        Some(dir) => cwd.join(dir),
        None => cwd.to_path_buf(),
    };
    let (mut name, variable) = name_regex(name_part);
    let has_pid = ["%p", "%P", "%i", "%I"]
        .iter()
        .any(|spec| name_part.contains(spec));
    let mut variable = variable;
    if settings.uses_pid && !has_pid {
        name.push_str(r"\.[0-9]+");
        variable = true;
    }
    let Ok(name_regex) = Regex::new(&format!("^{name}$")) else {
        return CorePlan::Off(format!("kernel.core_pattern ({pattern}) is not understood"));
    };
    let fixed = (!variable).then(|| name_part.replace("%%", "%"));
    if !dir.is_dir() {
        return CorePlan::Off(format!(
            "cores would go to {}, which is not a directory",
            dir.display()
        ));
    }
    if rustix::fs::access(&dir, rustix::fs::Access::WRITE_OK).is_err() {
        return CorePlan::Off(format!(
            "cores would go to {}, which is not writable",
            dir.display()
        ));
    }
    if let (Some(fixed), Some(_)) = (&fixed, raise_to) {
        let path = dir.join(fixed);
        if let Ok(metadata) = std::fs::symlink_metadata(&path) {
            let what = if metadata.is_dir() {
                "is a directory, so the kernel cannot write a core there"
            } else {
                "already exists, and a crash would overwrite it"
            };
            return CorePlan::Off(format!("{} {what}", path.display()));
        }
    }
    CorePlan::Files(CoreFiles {
        dir,
        name: name_regex,
        fixed,
        raise_to,
        keep,
        since: SystemTime::now() - Duration::from_secs(1),
    })
}

/// A regex for the file name part of a core pattern, and whether it has a variable part.
fn name_regex(pattern: &str) -> (String, bool) {
    let mut out = String::new();
    let mut variable = false;
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push_str(&regex::escape(&c.to_string()));
            continue;
        }
        match chars.next() {
            Some('%') => out.push('%'),
            Some('p' | 'P' | 'i' | 'I' | 's' | 't' | 'c' | 'd' | 'u' | 'g') => {
                out.push_str("[0-9]+");
                variable = true;
            }
            // Names (command, executable, host): anything but a slash.
            Some(_) => {
                out.push_str("[^/]*");
                variable = true;
            }
            // A trailing % is dropped by the kernel.
            None => {}
        }
    }
    (out, variable)
}

/// A core that belongs to a run, moved out of the kernel's directory.
#[derive(Debug, Clone)]
pub struct FoundCore {
    /// Where it is now.
    pub path: PathBuf,
    /// Its notes.
    pub notes: CoreNotes,
}

impl CoreFiles {
    /// Find the cores written by processes of the group `pgid` and move them into `into`, so
    /// that no later crash overwrites them. Cores of other processes are left alone.
    pub fn collect(&self, pgid: u32, into: &Path) -> Vec<FoundCore> {
        let candidates: Vec<PathBuf> = match &self.fixed {
            Some(name) => vec![self.dir.join(name)],
            None => match std::fs::read_dir(&self.dir) {
                Ok(entries) => entries
                    .filter_map(Result::ok)
                    .filter(|entry| {
                        entry
                            .file_name()
                            .to_str()
                            .is_some_and(|name| self.name.is_match(name))
                    })
                    // A shared core directory may hold many old cores: only new ones are read.
                    .filter(|entry| {
                        entry
                            .metadata()
                            .and_then(|m| m.modified())
                            .is_ok_and(|modified| modified >= self.since)
                    })
                    .map(|entry| entry.path())
                    .collect(),
                Err(_) => Vec::new(),
            },
        };
        let mut found = Vec::new();
        for path in candidates {
            let Some(notes) = core_notes(&path) else {
                continue;
            };
            if notes.pgrp != pgid {
                continue;
            }
            if found.len() == MAX_CORES_PER_RUN || std::fs::create_dir_all(into).is_err() {
                let _ = std::fs::remove_file(&path);
                continue;
            }
            let target = into.join(format!("core.{}", notes.pid));
            // Same file system normally; a copy would cost as much as the core is large.
            match std::fs::rename(&path, &target) {
                Ok(()) => found.push(FoundCore {
                    path: target,
                    notes,
                }),
                Err(_) => {
                    if !self.keep {
                        let _ = std::fs::remove_file(&path);
                    }
                }
            }
        }
        // The main process (pid == pgid) first.
        found.sort_by_key(|core| (core.notes.pid != pgid, core.notes.pid));
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(pattern: &str, uses_pid: bool) -> KernelCoreSettings {
        KernelCoreSettings {
            pattern: pattern.into(),
            uses_pid,
        }
    }

    #[test]
    fn plans_follow_the_pattern() {
        let dir = tempfile::tempdir().expect("tempdir");
        let cwd = dir.path();
        let off = |plan: CorePlan| match plan {
            CorePlan::Off(reason) => reason,
            CorePlan::Files(files) => panic!("expected off, got {files:?}"),
        };
        let files = |plan: CorePlan| match plan {
            CorePlan::Files(files) => files,
            CorePlan::Off(reason) => panic!("expected files: {reason}"),
        };
        let piped = plan(
            Some(&settings("|/usr/lib/systemd/systemd-coredump %P %u", false)),
            cwd,
            (0, u64::MAX),
        );
        assert!(off(piped).contains("/usr/lib/systemd/systemd-coredump"));
        assert!(off(plan(None, cwd, (0, u64::MAX))).contains("cannot be read"));
        assert!(off(plan(Some(&settings("core", false)), cwd, (0, 0))).contains("ulimit -Hc"));

        let plain = files(plan(Some(&settings("core", false)), cwd, (0, u64::MAX)));
        assert_eq!(plain.dir, cwd);
        assert_eq!(plain.fixed.as_deref(), Some("core"));
        assert_eq!(plain.raise_to, Some(CORE_LIMIT));
        assert!(!plain.keep);
        let with_pid = files(plan(Some(&settings("core", true)), cwd, (0, 1 << 20)));
        assert_eq!(with_pid.fixed, None);
        assert!(with_pid.name.is_match("core.1234"));
        assert!(!with_pid.name.is_match("core"));
        assert_eq!(with_pid.raise_to, Some(1 << 20));

        let absolute = format!("{}/cores/core.%e.%p.%t", cwd.display());
        std::fs::create_dir(cwd.join("cores")).expect("mkdir");
        let spread = files(plan(Some(&settings(&absolute, false)), cwd, (1, u64::MAX)));
        assert_eq!(spread.dir, cwd.join("cores"));
        assert!(spread.name.is_match("core.my prog.77.1700000000"));
        assert!(!spread.name.is_match("core.x.77"));
        assert_eq!(spread.raise_to, None);
        assert!(spread.keep);
        assert!(off(plan(Some(&settings("/var/%e/core", false)), cwd, (0, 9))).contains("depends"));
        assert!(
            off(plan(Some(&settings("missing/core", false)), cwd, (0, 9)))
                .contains("not a directory")
        );

        // A file or directory in the way of a fixed name.
        std::fs::write(cwd.join("core"), b"precious").expect("write");
        assert!(off(plan(Some(&settings("core", false)), cwd, (0, 9))).contains("overwrite"));
        std::fs::create_dir(cwd.join("cores/core")).expect("mkdir");
        let in_dir = format!("{}/cores/core", cwd.display());
        assert!(off(plan(Some(&settings(&in_dir, false)), cwd, (0, 9))).contains("directory"));
        // The user's own cores: nothing is raised, and nothing is in the way.
        assert!(files(plan(Some(&settings("core", false)), cwd, (9, 9))).keep);
    }

    /// A minimal 64-bit little-endian core: one PT_NOTE with an NT_PRPSINFO.
    fn fake_core(pid: u32, pgrp: u32) -> Vec<u8> {
        let mut desc = vec![0u8; 136];
        desc[24..28].copy_from_slice(&pid.to_le_bytes());
        desc[32..36].copy_from_slice(&pgrp.to_le_bytes());
        desc[40..44].copy_from_slice(b"prog");
        let mut note = Vec::new();
        note.extend_from_slice(&5u32.to_le_bytes());
        note.extend_from_slice(&(desc.len() as u32).to_le_bytes());
        note.extend_from_slice(&3u32.to_le_bytes());
        note.extend_from_slice(b"CORE\0\0\0\0");
        note.extend_from_slice(&desc);
        let mut elf = vec![0u8; 64];
        elf[..6].copy_from_slice(b"\x7fELF\x02\x01");
        elf[16..18].copy_from_slice(&4u16.to_le_bytes());
        elf[32..40].copy_from_slice(&64u64.to_le_bytes());
        elf[54..56].copy_from_slice(&56u16.to_le_bytes());
        elf[56..58].copy_from_slice(&1u16.to_le_bytes());
        let mut header = vec![0u8; 56];
        header[..4].copy_from_slice(&4u32.to_le_bytes());
        header[8..16].copy_from_slice(&120u64.to_le_bytes());
        header[32..40].copy_from_slice(&(note.len() as u64).to_le_bytes());
        elf.extend_from_slice(&header);
        elf.extend_from_slice(&note);
        elf
    }

    #[test]
    fn only_the_groups_own_cores_are_taken() {
        let dir = tempfile::tempdir().expect("tempdir");
        let cwd = dir.path().join("cwd");
        std::fs::create_dir(&cwd).expect("mkdir");
        let into = dir.path().join("taken");
        let files = match plan(Some(&settings("core.%p", false)), &cwd, (0, u64::MAX)) {
            CorePlan::Files(files) => files,
            CorePlan::Off(reason) => panic!("{reason}"),
        };
        std::fs::write(cwd.join("core.100"), fake_core(100, 100)).expect("write");
        std::fs::write(cwd.join("core.101"), fake_core(101, 100)).expect("write");
        std::fs::write(cwd.join("core.200"), fake_core(200, 200)).expect("write");
        std::fs::write(cwd.join("core.300"), b"not a core").expect("write");
        std::fs::write(cwd.join("notes.txt"), fake_core(100, 100)).expect("write");
        let found = files.collect(100, &into);
        let pids: Vec<u32> = found.iter().map(|core| core.notes.pid).collect();
        assert_eq!(pids, [100, 101]);
        assert_eq!(found[0].notes.name, "prog");
        assert!(found[0].path.starts_with(&into));
        let mut left: Vec<String> = std::fs::read_dir(&cwd)
            .expect("read")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        assert_eq!(left, ["core.200", "core.300", "notes.txt"]);
        // Cores older than the campaign are someone else's.
        let mut later = files.clone();
        later.since = SystemTime::now() + Duration::from_secs(60);
        std::fs::write(cwd.join("core.102"), fake_core(102, 100)).expect("write");
        assert!(later.collect(100, &into).is_empty());
    }

    #[test]
    fn name_patterns() {
        assert_eq!(name_regex("core"), ("core".to_string(), false));
        assert_eq!(name_regex("100%%"), ("100%".to_string(), false));
        let (regex, variable) = name_regex("core-%e-%p-%%-%");
        assert!(variable);
        let regex = Regex::new(&format!("^{regex}$")).expect("regex");
        assert!(regex.is_match("core-prog-12-%-"));
        assert!(!regex.is_match("core-pr/og-12-%-"));
    }
}
