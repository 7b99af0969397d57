//! `flakehunt manpage`: the man page, rendered (clap_mangen) from the same clap definitions as
//! `--help`, plus the sections clap has no place for: exit status, environment and files.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::Args;
use clap_mangen::roff::{bold, roman, Roff};
use clap_mangen::Man;

use crate::cli::completions::public_command;
use crate::cli::{print_stdout, EXIT_OK, EXIT_STATUSES};

/// Arguments of `flakehunt manpage`.
#[derive(Debug, Clone, Args)]
#[command(after_help = "Examples:\n  \
    flakehunt manpage | man -l -\n  \
    flakehunt manpage --dir ~/.local/share/man/man1")]
pub struct ManpageArgs {
    /// Write flakehunt.1 and one flakehunt-SUBCOMMAND.1 per subcommand into DIR (created if
    /// missing) instead of printing flakehunt.1.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

/// Environment variables: (name, meaning).
const ENVIRONMENT: &[(&str, &str)] = &[
    (
        "FLAKEHUNT_DB",
        "The history database, unless --db is given.",
    ),
    (
        "NO_COLOR, CLICOLOR_FORCE, TERM",
        "With --color auto: NO_COLOR turns colour off, CLICOLOR_FORCE on even without a \
         terminal, TERM=dumb off.",
    ),
    (
        "FLAKEHUNT_RUN, FLAKEHUNT_CAMPAIGN, FLAKEHUNT_SEED",
        "Set by flakehunt in each run: its 0-based index, the campaign id and its seed.",
    ),
];

/// Files: (path, meaning).
const FILES: &[(&str, &str)] = &[
    (
        ".flakehunt/history.db",
        "The history, at the top of the git work tree holding the current directory, else in \
         the current directory.",
    ),
    (
        "flakehunt-out/CAMPAIGN/",
        "Each failure's output (run-NNNNNN.log, .streams, .json) and summary.json.",
    ),
];

/// The main page, `flakehunt.1`, as roff.
pub fn main_page() -> Result<String> {
    // `help` has no page of its own to point to.
    let mut command = public_command().disable_help_subcommand(true);
    command.build();
    let man = Man::new(command);
    let mut out = Vec::new();
    man.render_title(&mut out)?;
    man.render_name_section(&mut out)?;
    man.render_synopsis_section(&mut out)?;
    man.render_description_section(&mut out)?;
    man.render_options_section(&mut out)?;
    man.render_subcommands_section(&mut out)?;
    extra_sections().to_writer(&mut out)?;
    man.render_version_section(&mut out)?;
    String::from_utf8(out).context("the man page is not UTF-8")
}

/// EXIT STATUS, ENVIRONMENT, FILES and SEE ALSO.
fn extra_sections() -> Roff {
    let mut roff = Roff::new();
    roff.control("SH", ["EXIT STATUS"]);
    let mut statuses: Vec<(i32, Vec<String>)> = Vec::new();
    for &(status, meaning) in EXIT_STATUSES {
        match statuses.last_mut() {
            Some((last, meanings)) if *last == status => meanings.push(meaning.to_string()),
            _ => statuses.push((status, vec![meaning.to_string()])),
        }
    }
    for (status, meanings) in statuses {
        roff.control("TP", []);
        roff.text([bold(status.to_string())]);
        roff.text([roman(capitalised(&meanings.join("; ")))]);
    }
    for (title, entries) in [("ENVIRONMENT", ENVIRONMENT), ("FILES", FILES)] {
        roff.control("SH", [title]);
        for (term, meaning) in entries {
            roff.control("TP", []);
            roff.text([bold(*term)]);
            roff.text([roman(*meaning)]);
        }
    }
    roff.control("SH", ["SEE ALSO"]);
    roff.text([roman(
        "flakehunt-run(1), flakehunt-verify(1), flakehunt-compare(1), and the README for the \
         JSON formats.",
    )]);
    roff
}

/// `text` with a capital first letter and a full stop, as a man page's sentences have.
fn capitalised(text: &str) -> String {
    let mut chars = text.chars();
    let first = chars.next().map(|c| c.to_uppercase().to_string());
    format!("{}{}.", first.unwrap_or_default(), chars.as_str())
}

/// Write flakehunt.1 and a page per visible subcommand into `dir`; returns how many.
fn write_pages(dir: &Path) -> Result<usize> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let main = dir.join("flakehunt.1");
    std::fs::write(&main, main_page()?)
        .with_context(|| format!("cannot write {}", main.display()))?;
    let mut command = public_command().disable_help_subcommand(true);
    command.build();
    let mut written = 1;
    for sub in command.get_subcommands().filter(|sub| !sub.is_hide_set()) {
        Man::new(sub.clone())
            .generate_to(dir)
            .with_context(|| format!("cannot write a man page into {}", dir.display()))?;
        written += 1;
    }
    Ok(written)
}

/// `flakehunt manpage`.
pub fn execute(args: &ManpageArgs) -> Result<i32> {
    match &args.dir {
        Some(dir) => {
            let written = write_pages(dir)?;
            eprintln!(
                "flakehunt: wrote {written} man pages into {}",
                dir.display()
            );
        }
        None => print_stdout(&main_page()?)?,
    }
    Ok(EXIT_OK)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_main_page_has_every_section() {
        let page = main_page().expect("render");
        assert!(page.contains("\n.TH flakehunt 1 "), "{page}");
        for section in [
            ".SH NAME",
            ".SH SYNOPSIS",
            ".SH OPTIONS",
            ".SH SUBCOMMANDS",
            ".SH \"EXIT STATUS\"",
            ".SH ENVIRONMENT",
            ".SH FILES",
            ".SH VERSION",
        ] {
            assert!(page.contains(section), "no {section}");
        }
        assert!(
            !page.contains("__guard"),
            "an internal command is documented"
        );
    }

    #[test]
    fn pages_are_written_per_subcommand() {
        let dir = tempfile::tempdir().expect("temp dir");
        let written = write_pages(dir.path()).expect("write");
        let run = std::fs::read_to_string(dir.path().join("flakehunt-run.1")).expect("run page");
        assert!(run.contains(".SH NAME\nflakehunt\\-run"), "{run}");
        assert!(run.contains("max\\-failures"));
        assert_eq!(
            std::fs::read_dir(dir.path()).expect("list").count(),
            written
        );
        assert!(!dir.path().join("flakehunt-__guard.1").exists());
    }
}
