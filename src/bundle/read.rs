//! Reading a bundle back, checked: its format and version, every line, the end line's counts
//! and checksum. A bundle that fails any check is refused whole, with the reason.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};
use xxhash_rust::xxh3::Xxh3;

use crate::bundle::{BundleRun, End, Header, Line, FORMAT, VERSION};

/// A complete, checked bundle.
#[derive(Debug, Clone)]
pub struct Bundle {
    /// Where it was read from.
    pub path: PathBuf,
    /// Its header.
    pub header: Header,
    /// Its runs, in the order they finished.
    pub runs: Vec<BundleRun>,
    /// Its end line.
    pub end: End,
}

/// Read and check the bundle at `path`.
pub fn read(path: &Path) -> Result<Bundle> {
    let file = std::fs::File::open(path)
        .with_context(|| format!("cannot open bundle {}", path.display()))?;
    let mut reader = BufReader::new(file);
    let mut hasher = Xxh3::new();
    let mut line = Vec::new();
    let mut number = 0usize;
    let mut header: Option<Header> = None;
    let mut runs = Vec::new();
    let at = |number: usize| format!("{} line {number}", path.display());
    loop {
        line.clear();
        let read = reader
            .read_until(b'\n', &mut line)
            .with_context(|| format!("cannot read bundle {}", path.display()))?;
        if read == 0 {
            break;
        }
        number += 1;
        if line.last() != Some(&b'\n') {
            bail!(
                "{}: cut short (no newline): the bundle is truncated",
                at(number)
            );
        }
        let Some(header) = &header else {
            header = Some(parse_header(path, &line)?);
            hasher.update(&line);
            continue;
        };
        let parsed: Line = serde_json::from_slice(&line).map_err(|error| {
            anyhow!(
                "{}: not a bundle line ({error}): the bundle is corrupt",
                at(number)
            )
        })?;
        match parsed {
            Line::Run(run) => {
                hasher.update(&line);
                runs.push(*run);
            }
            Line::End(end) => {
                check_end(path, &end, &runs, hasher.digest())?;
                let mut rest = Vec::new();
                reader.read_until(b'\n', &mut rest)?;
                if !rest.is_empty() {
                    bail!(
                        "{}: data after the end line: the bundle is corrupt",
                        at(number + 1)
                    );
                }
                return Ok(Bundle {
                    path: path.to_path_buf(),
                    header: header.clone(),
                    runs,
                    end,
                });
            }
        }
    }
    if header.is_none() {
        bail!("{} is empty: not a flakehunt bundle", path.display());
    }
    bail!(
        "{} has no end line after {} run(s): the bundle is truncated (its campaign did not \
         finish writing it)",
        path.display(),
        runs.len()
    )
}

fn parse_header(path: &Path, line: &[u8]) -> Result<Header> {
    let value: serde_json::Value = serde_json::from_slice(line).map_err(|_| {
        anyhow!(
            "{} is not a flakehunt bundle (its first line is not JSON)",
            path.display()
        )
    })?;
    if value.get("format").and_then(|f| f.as_str()) != Some(FORMAT) {
        bail!(
            "{} is not a flakehunt bundle (no \"format\": \"{FORMAT}\")",
            path.display()
        );
    }
    match value.get("version").and_then(|v| v.as_u64()) {
        Some(version) if version == u64::from(VERSION) => {}
        Some(version) => bail!(
            "{} is bundle format version {version}; this flakehunt reads version {VERSION} \
             (merge it with the flakehunt that wrote it)",
            path.display()
        ),
        None => bail!("{}: bundle header has no version", path.display()),
    }
    serde_json::from_value(value)
        .with_context(|| format!("{}: bundle header is corrupt", path.display()))
}

fn check_end(path: &Path, end: &End, runs: &[BundleRun], digest: u64) -> Result<()> {
    if end.checksum != format!("{digest:016x}") {
        bail!(
            "{}: checksum mismatch: the bundle is corrupt",
            path.display()
        );
    }
    let failures = runs.iter().filter(|run| run.verdict.is_failure()).count() as u64;
    if end.runs != runs.len() as u64 || end.failures != failures {
        bail!(
            "{}: end line counts {} runs and {} failures, but the bundle holds {} and {}: \
             the bundle is corrupt",
            path.display(),
            end.runs,
            end.failures,
            runs.len(),
            failures
        );
    }
    Ok(())
}
