//! Saved output read back for a report, bounded: the head and tail of an example's log and of
//! the files saved beside it (stacks, backtraces), never more than a few hundred KiB each.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::{Attachment, Example, RunRef};

/// Bytes kept from the start of a long file.
pub const EXAMPLE_HEAD: u64 = 192 * 1024;
/// Bytes kept from the end of a long file.
pub const EXAMPLE_TAIL: u64 = 64 * 1024;
/// Files beside one log that are read.
const MAX_ATTACHMENTS: usize = 8;
/// Bytes kept of each attachment (head and tail together).
const ATTACHMENT_BYTES: u64 = 64 * 1024;
/// Companions of a saved log that are not worth showing: the stream map, the metadata, and a
/// core dump (for a debugger, not a page; its stacks are shown from `.stacks`).
const OWN_SUFFIXES: &[&str] = &["log", "streams", "json", "core"];

/// A file's bytes, cut in the middle when long.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Captured {
    /// The start of the file (all of it when short).
    #[serde(skip)]
    pub head: Vec<u8>,
    /// The end of the file, when it was cut.
    #[serde(skip)]
    pub tail: Vec<u8>,
    /// The file's size.
    pub total: u64,
}

impl Captured {
    /// Bytes left out between head and tail.
    pub fn cut(&self) -> u64 {
        self.total
            .saturating_sub(self.head.len() as u64 + self.tail.len() as u64)
    }

    /// Wrap bytes already in memory (whole).
    pub fn whole(bytes: Vec<u8>) -> Captured {
        Captured {
            total: bytes.len() as u64,
            head: bytes,
            tail: Vec::new(),
        }
    }
}

/// Read at most `head + tail` bytes of `path`: all of a short file, else its start and end.
pub fn read_capped(path: &Path, head: u64, tail: u64) -> std::io::Result<Captured> {
    let mut file = File::open(path)?;
    let total = file.metadata()?.len();
    if total <= head + tail {
        let mut bytes = Vec::with_capacity(total as usize);
        // `take` bounds a file that grew since its size was read.
        (&mut file).take(head + tail).read_to_end(&mut bytes)?;
        return Ok(Captured::whole(bytes));
    }
    let mut start = Vec::with_capacity(head as usize);
    (&mut file).take(head).read_to_end(&mut start)?;
    file.seek(SeekFrom::Start(total - tail))?;
    let mut end = Vec::with_capacity(tail as usize);
    file.take(tail).read_to_end(&mut end)?;
    Ok(Captured {
        head: start,
        tail: end,
        total,
    })
}

/// A cluster's example; its output and attachments are read only when `full`.
pub fn example(run: RunRef, log: PathBuf, telling_line: Option<String>, full: bool) -> Example {
    let (output, missing) = if full {
        match read_capped(&log, EXAMPLE_HEAD, EXAMPLE_TAIL) {
            Ok(output) => (Some(output), None),
            Err(error) => (
                None,
                Some(format!(
                    "cannot read {} ({error}); was the output directory removed?",
                    log.display()
                )),
            ),
        }
    } else {
        (None, None)
    };
    let attachments = if full { attachments(&log) } else { Vec::new() };
    Example {
        run,
        log,
        telling_line,
        output,
        missing,
        attachments,
    }
}

/// Files named like the log (`run-000017.*`) other than its own companions, by name.
fn attachments(log: &Path) -> Vec<Attachment> {
    let (Some(dir), Some(stem)) = (log.parent(), log.file_stem().and_then(|s| s.to_str())) else {
        return Vec::new();
    };
    let prefix = format!("{stem}.");
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut names: Vec<String> = entries
        .filter_map(|entry| entry.ok())
        .filter(|entry| entry.file_type().is_ok_and(|kind| kind.is_file()))
        .filter_map(|entry| entry.file_name().into_string().ok())
        .filter(|name| {
            name.strip_prefix(&prefix)
                .is_some_and(|suffix| !suffix.is_empty() && !OWN_SUFFIXES.contains(&suffix))
        })
        .collect();
    names.sort();
    names
        .into_iter()
        .take(MAX_ATTACHMENTS)
        .filter_map(|name| {
            let content = read_capped(
                &dir.join(&name),
                ATTACHMENT_BYTES * 3 / 4,
                ATTACHMENT_BYTES / 4,
            )
            .ok()?;
            Some(Attachment { name, content })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_files_keep_their_head_and_tail() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("run-000001.log");
        let bytes: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8).collect();
        std::fs::write(&path, &bytes).expect("write");
        let captured = read_capped(&path, 100, 50).expect("read");
        assert_eq!(captured.head, bytes[..100]);
        assert_eq!(captured.tail, bytes[10_000 - 50..]);
        assert_eq!((captured.total, captured.cut()), (10_000, 9_850));
        let whole = read_capped(&path, 10_000, 0).expect("read");
        assert_eq!((whole.head.len(), whole.cut()), (10_000, 0));
    }

    #[test]
    fn attachments_are_the_logs_siblings_but_its_own_companions() {
        let dir = tempfile::tempdir().expect("tempdir");
        let log = dir.path().join("run-000007.log");
        for name in [
            "run-000007.log",
            "run-000007.json",
            "run-000007.streams",
            "run-000007.stacks",
            "run-000070.stacks",
            "run-000007.backtrace.txt",
            "run-000007.core",
        ] {
            std::fs::write(dir.path().join(name), name).expect("write");
        }
        let names: Vec<String> = attachments(&log).into_iter().map(|a| a.name).collect();
        assert_eq!(names, ["run-000007.backtrace.txt", "run-000007.stacks"]);
        let run = RunRef {
            campaign: "c".into(),
            run: 7,
            seq: 7,
            started_at: String::new(),
        };
        let missing = example(run, dir.path().join("gone.log"), None, true);
        assert!(missing.output.is_none());
        assert!(missing.missing.expect("reason").contains("gone.log"));
    }
}
