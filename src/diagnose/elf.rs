//! Just enough ELF reading for stacks: the notes of a core file (which process and group it
//! came from, which thread crashed, which executable it ran) and the section names that mark a
//! Go binary. 64-bit little-endian only (x86-64, AArch64, RISC-V); anything else reads as
//! "not understood", never as an error that stops a run.

use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::FileExt;
use std::path::Path;

const PT_NOTE: u32 = 4;
const NT_PRSTATUS: u32 = 1;
const NT_PRPSINFO: u32 = 3;
const NT_AUXV: u32 = 6;
const NT_FILE: u32 = 0x4649_4c45;
const AT_ENTRY: u64 = 9;
/// Notes of a core sit in its first segment; more than this is not read.
const MAX_NOTES_BYTES: u64 = 16 << 20;
/// Section header tables larger than this are not read.
const MAX_SECTION_BYTES: u64 = 4 << 20;

/// What a core file's notes say.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CoreNotes {
    /// The process (thread group) that dumped.
    pub pid: u32,
    /// Its process group.
    pub pgrp: u32,
    /// The thread that took the fatal signal (the first NT_PRSTATUS).
    pub crashed_tid: Option<u32>,
    /// The signal, from that thread's status.
    pub signal: Option<i32>,
    /// The executable: the mapped file holding the entry point.
    pub executable: Option<String>,
    /// Command name (up to 15 bytes).
    pub name: String,
}

fn u16_at(bytes: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(bytes.get(at..at + 2)?.try_into().ok()?))
}

fn u32_at(bytes: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(bytes.get(at..at + 4)?.try_into().ok()?))
}

fn u64_at(bytes: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(bytes.get(at..at + 8)?.try_into().ok()?))
}

/// The ELF header of a 64-bit little-endian file, or None.
fn header(file: &File) -> Option<[u8; 64]> {
    let mut header = [0u8; 64];
    file.read_exact_at(&mut header, 0).ok()?;
    (header[..4] == *b"\x7fELF" && header[4] == 2 && header[5] == 1).then_some(header)
}

/// Read `len` bytes at `offset`, bounded by `limit`.
fn read_range(file: &File, offset: u64, len: u64, limit: u64) -> Option<Vec<u8>> {
    if len > limit {
        return None;
    }
    let mut bytes = vec![0u8; usize::try_from(len).ok()?];
    file.read_exact_at(&mut bytes, offset).ok()?;
    Some(bytes)
}

/// The notes of a core file, or None if it is not a readable 64-bit little-endian core.
pub fn core_notes(path: &Path) -> Option<CoreNotes> {
    let file = File::open(path).ok()?;
    let header = header(&file)?;
    if u16_at(&header, 16)? != 4 {
        return None; // not ET_CORE
    }
    let (phoff, phentsize, phnum) = (
        u64_at(&header, 32)?,
        u64::from(u16_at(&header, 54)?),
        u64::from(u16_at(&header, 56)?),
    );
    let table = read_range(&file, phoff, phentsize * phnum, MAX_SECTION_BYTES)?;
    let mut notes = CoreNotes::default();
    let mut entry = None;
    let mut files: Vec<(u64, u64, String)> = Vec::new();
    for index in 0..phnum as usize {
        let at = index * phentsize as usize;
        if u32_at(&table, at)? != PT_NOTE {
            continue;
        }
        let (offset, size) = (u64_at(&table, at + 8)?, u64_at(&table, at + 32)?);
        let Some(data) = read_range(&file, offset, size, MAX_NOTES_BYTES) else {
            continue;
        };
        for (kind, desc) in note_entries(&data) {
            match kind {
                NT_PRSTATUS if notes.crashed_tid.is_none() => {
                    // elf_prstatus: siginfo (12), cursig (2), pad, sigpend, sighold, then pid.
                    notes.signal = u16_at(desc, 12).map(i32::from);
                    notes.crashed_tid = u32_at(desc, 32);
                }
                NT_PRPSINFO => {
                    // elf_prpsinfo (64-bit): state.. (4), flag (8 at 8), uid, gid, pid, ppid,
                    // pgrp, sid, fname[16], psargs[80].
                    notes.pid = u32_at(desc, 24).unwrap_or(0);
                    notes.pgrp = u32_at(desc, 32).unwrap_or(0);
                    if let Some(name) = desc.get(40..56) {
                        let end = name.iter().position(|&b| b == 0).unwrap_or(name.len());
                        notes.name = String::from_utf8_lossy(&name[..end]).into_owned();
                    }
                }
                NT_AUXV => entry = auxv_entry(desc),
                NT_FILE => files = mapped_files(desc),
                _ => {}
            }
        }
    }
    if notes.pid == 0 {
        return None;
    }
    notes.executable = entry.and_then(|entry| {
        files
            .iter()
            .find(|(start, end, _)| (*start..*end).contains(&entry))
            .map(|(_, _, name)| name.clone())
    });
    Some(notes)
}

/// (type, descriptor) of each note in a PT_NOTE segment.
fn note_entries(data: &[u8]) -> Vec<(u32, &[u8])> {
    let align = |n: usize| (n + 3) & !3;
    let mut entries = Vec::new();
    let mut at = 0usize;
    while at + 12 <= data.len() {
        let (Some(namesz), Some(descsz), Some(kind)) =
            (u32_at(data, at), u32_at(data, at + 4), u32_at(data, at + 8))
        else {
            break;
        };
        let desc_start = at + 12 + align(namesz as usize);
        let desc_end = desc_start.saturating_add(descsz as usize);
        let Some(desc) = data.get(desc_start..desc_end) else {
            break;
        };
        entries.push((kind, desc));
        at = desc_start + align(descsz as usize);
    }
    entries
}

fn auxv_entry(desc: &[u8]) -> Option<u64> {
    desc.chunks_exact(16)
        .find(|pair| u64_at(pair, 0) == Some(AT_ENTRY))
        .and_then(|pair| u64_at(pair, 8))
}

/// NT_FILE: count, page size, `count` (start, end, page offset), then `count` names.
fn mapped_files(desc: &[u8]) -> Vec<(u64, u64, String)> {
    let Some(count) = u64_at(desc, 0).and_then(|c| usize::try_from(c).ok()) else {
        return Vec::new();
    };
    let names_at = count.saturating_mul(24).saturating_add(16);
    let Some(names) = desc.get(names_at..) else {
        return Vec::new();
    };
    names
        .split(|&b| b == 0)
        .take(count)
        .enumerate()
        .filter_map(|(index, name)| {
            let at = 16 + index * 24;
            Some((
                u64_at(desc, at)?,
                u64_at(desc, at + 8)?,
                String::from_utf8_lossy(name).into_owned(),
            ))
        })
        .collect()
}

/// Whether the executable at `path` was built by the Go toolchain (it has a Go build id or
/// build info section). Unreadable files are not Go.
pub fn is_go_binary(path: &Path) -> bool {
    go_sections(path).unwrap_or(false)
}

fn go_sections(path: &Path) -> Option<bool> {
    let file = File::open(path).ok()?;
    let header = header(&file)?;
    let (shoff, shentsize, shnum, shstrndx) = (
        u64_at(&header, 40)?,
        u64::from(u16_at(&header, 58)?),
        u64::from(u16_at(&header, 60)?),
        u64::from(u16_at(&header, 62)?),
    );
    if shentsize < 64 || shstrndx >= shnum {
        return Some(false);
    }
    let table = read_range(&file, shoff, shentsize * shnum, MAX_SECTION_BYTES)?;
    let names_header = (shstrndx * shentsize) as usize;
    let names = read_range(
        &file,
        u64_at(&table, names_header + 24)?,
        u64_at(&table, names_header + 32)?,
        MAX_SECTION_BYTES,
    )?;
    for index in 0..shnum as usize {
        let name_at = u32_at(&table, index * shentsize as usize)? as usize;
        let name = names.get(name_at..)?;
        let end = name.iter().position(|&b| b == 0).unwrap_or(name.len());
        if matches!(&name[..end], b".note.go.buildid" | b".go.buildinfo") {
            return Some(true);
        }
    }
    Some(false)
}

/// Read at most `limit` bytes of a file.
pub fn read_bounded(path: &Path, limit: u64) -> io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    File::open(path)?.take(limit).read_to_end(&mut bytes)?;
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn note_walk_and_mapped_files() {
        let mut data = Vec::new();
        // A note with a 5-byte name (padded to 8) and a 4-byte descriptor.
        data.extend_from_slice(&5u32.to_le_bytes());
        data.extend_from_slice(&4u32.to_le_bytes());
        data.extend_from_slice(&7u32.to_le_bytes());
        data.extend_from_slice(b"CORE\0\0\0\0");
        data.extend_from_slice(&[1, 2, 3, 4]);
        // A truncated one is dropped.
        data.extend_from_slice(&5u32.to_le_bytes());
        data.extend_from_slice(&400u32.to_le_bytes());
        data.extend_from_slice(&8u32.to_le_bytes());
        let entries = note_entries(&data);
        assert_eq!(entries, vec![(7, &[1u8, 2, 3, 4][..])]);

        let mut desc = Vec::new();
        for value in [2u64, 4096, 0x1000, 0x2000, 0, 0x5000, 0x6000, 0] {
            desc.extend_from_slice(&value.to_le_bytes());
        }
        desc.extend_from_slice(b"/bin/prog\0/lib/libc.so.6\0");
        assert_eq!(
            mapped_files(&desc),
            vec![
                (0x1000, 0x2000, "/bin/prog".to_string()),
                (0x5000, 0x6000, "/lib/libc.so.6".to_string())
            ]
        );
        assert!(mapped_files(&desc[..8]).is_empty());
        let mut auxv = Vec::new();
        for value in [3u64, 0x40, AT_ENTRY, 0x1234, 0, 0] {
            auxv.extend_from_slice(&value.to_le_bytes());
        }
        assert_eq!(auxv_entry(&auxv), Some(0x1234));
    }

    #[test]
    fn non_elf_files_are_neither_cores_nor_go() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("core");
        std::fs::write(&path, b"not an elf file at all, just text").expect("write");
        assert_eq!(core_notes(&path), None);
        assert!(!is_go_binary(&path));
        assert!(!is_go_binary(&dir.path().join("missing")));
        // Our own test binary is ELF but neither a core nor Go.
        let exe = std::env::current_exe().expect("exe");
        assert_eq!(core_notes(&exe), None);
        assert!(!is_go_binary(&exe));
    }
}
