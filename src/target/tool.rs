//! Running a toolchain command (cargo, go, python) to completion before a campaign, with errors
//! that quote the tool's own words and say what to do.

use std::ffi::OsStr;
use std::io;
use std::path::Path;
use std::process::{Command, Output, Stdio};

/// Most lines of a tool's output quoted in an error.
const QUOTED_LINES: usize = 40;

/// A toolchain command that could not run or failed.
#[derive(Debug, thiserror::Error)]
pub enum ToolError {
    /// The program is not installed (not on PATH).
    #[error("`{program}` was not found on PATH: {hint}")]
    Missing {
        /// The program.
        program: String,
        /// How to install it.
        hint: String,
    },
    /// A program named by its path (a test binary) is gone.
    #[error("`{program}` does not exist any more (removed while in use?); run flakehunt again to rebuild it")]
    Gone {
        /// The program.
        program: String,
    },
    /// The program could not be started for another reason.
    #[error("could not run `{program}`: {error}")]
    Spawn {
        /// The program.
        program: String,
        /// Why.
        error: io::Error,
    },
    /// It ran and failed.
    #[error("`{command}` failed ({status}):\n{output}")]
    Failed {
        /// The command line.
        command: String,
        /// `exit 101`, `signal 9`.
        status: String,
        /// What it said (its errors, trimmed).
        output: String,
    },
}

/// A command line as a user would type it (arguments with spaces quoted).
pub fn display_command(program: &OsStr, args: &[&OsStr]) -> String {
    std::iter::once(program)
        .chain(args.iter().copied())
        .map(|arg| {
            let text = arg.to_string_lossy();
            if text.is_empty()
                || text.contains(|c: char| c.is_whitespace() || "'\"$`\\".contains(c))
            {
                format!("'{}'", text.replace('\'', r"'\''"))
            } else {
                text.into_owned()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Run `program args` in `dir` with stdin closed; its output captured.
pub fn run(program: &str, args: &[&OsStr], dir: &Path, hint: &str) -> Result<Output, ToolError> {
    run_with(Command::new(program).args(args), program, dir, hint)
}

/// Run a prepared command in `dir`; `program` and `hint` word a missing-program error.
pub fn run_with(
    command: &mut Command,
    program: &str,
    dir: &Path,
    hint: &str,
) -> Result<Output, ToolError> {
    command
        .current_dir(dir)
        .stdin(Stdio::null())
        .env_remove("FLAKEHUNT_RUN")
        .envs(super::build_env())
        .output()
        .map_err(|error| match error.kind() {
            io::ErrorKind::NotFound if program.contains('/') => ToolError::Gone {
                program: program.to_string(),
            },
            io::ErrorKind::NotFound => ToolError::Missing {
                program: program.to_string(),
                hint: hint.to_string(),
            },
            _ => ToolError::Spawn {
                program: program.to_string(),
                error,
            },
        })
}

/// `Ok(output)` if it succeeded, else [`ToolError::Failed`] quoting `quoted` (or, when that is
/// empty, the end of its stderr and stdout).
pub fn check(output: Output, command: String, quoted: Option<String>) -> Result<Output, ToolError> {
    if output.status.success() {
        return Ok(output);
    }
    let status = match (output.status.code(), exit_signal(&output)) {
        (Some(code), _) => format!("exit {code}"),
        (None, Some(signal)) => format!("killed by {}", crate::os::signal::signal_name(signal)),
        (None, None) => "failed".to_string(),
    };
    let said = quoted
        .filter(|text| !text.trim().is_empty())
        .unwrap_or_else(|| {
            let mut text = String::from_utf8_lossy(&output.stderr).into_owned();
            if text.trim().is_empty() {
                text = String::from_utf8_lossy(&output.stdout).into_owned();
            }
            text
        });
    Err(ToolError::Failed {
        command,
        status,
        output: last_lines(&said, QUOTED_LINES),
    })
}

fn exit_signal(output: &Output) -> Option<i32> {
    use std::os::unix::process::ExitStatusExt;
    output.status.signal()
}

/// The last `count` non-empty-trailing lines of `text`, indented, with a note of what was cut.
pub fn last_lines(text: &str, count: usize) -> String {
    let lines: Vec<&str> = text.trim_end().lines().collect();
    let skip = lines.len().saturating_sub(count);
    let mut out = String::new();
    if skip > 0 {
        out.push_str(&format!("  ... ({skip} earlier lines)\n"));
    }
    for line in &lines[skip..] {
        out.push_str("  ");
        out.push_str(line);
        out.push('\n');
    }
    out.trim_end().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_are_quoted_as_a_shell_would_need() {
        let args = [OsStr::new("-run"), OsStr::new("^Test X$")];
        assert_eq!(
            display_command(OsStr::new("go"), &args),
            "go -run '^Test X$'"
        );
    }

    #[test]
    fn long_outputs_keep_their_end() {
        let text: String = (0..50).map(|i| format!("line {i}\n")).collect();
        let cut = last_lines(&text, 3);
        assert_eq!(
            cut,
            "  ... (47 earlier lines)\n  line 47\n  line 48\n  line 49"
        );
    }

    #[test]
    fn a_missing_program_says_how_to_install_it() {
        let error = run(
            "flakehunt-no-such-tool",
            &[],
            Path::new("."),
            "install it with apt",
        )
        .expect_err("missing");
        assert_eq!(
            error.to_string(),
            "`flakehunt-no-such-tool` was not found on PATH: install it with apt"
        );
    }
}
