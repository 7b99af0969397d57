//! What runs under the command: a Go binary (its build id note or build info), a Python
//! program (the interpreter itself, or a `#!` line naming it), another native program, or
//! something that may start anything (a shell, a build tool). Runtime knobs that cannot reach
//! the program are not worth a hunt's time; when in doubt every knob stays.

use std::ffi::{OsStr, OsString};
use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};

use object::{Object, ObjectSection};

/// Largest binary read whole to look for Go's build information.
const MAX_BINARY: u64 = 512 << 20;

/// The runtime a command was found to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Runtime {
    /// A Go binary (the Go runtime schedules goroutines and makes raw system calls).
    Go,
    /// CPython or another Python (the switch interval applies).
    Python,
    /// A native program linked against the C library (noise reaches it through the loader).
    Native {
        /// Built by rustc.
        rust: bool,
        /// Statically linked: preloading cannot reach it.
        static_linked: bool,
    },
    /// Cannot tell: a shell, a build or test driver, an unreadable file.
    Unknown,
}

/// What was found, and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Detection {
    /// The file that was inspected (after looking through `env`, `nice`, `timeout`...).
    pub program: PathBuf,
    /// The runtime found.
    pub runtime: Runtime,
    /// The evidence, in words (`Go build id note`, `#!/usr/bin/env python3`).
    pub basis: String,
}

/// Which runtime knobs can reach the program.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reach {
    /// `go-procs`, `go-gc`, `go-debug`.
    pub go: bool,
    /// `py-switch`.
    pub python: bool,
    /// The preload `noise` library.
    pub preload: bool,
}

impl Detection {
    /// The knobs that can reach this program; everything when the runtime is unknown.
    pub fn reach(&self) -> Reach {
        match self.runtime {
            Runtime::Go => Reach {
                go: true,
                python: false,
                preload: false,
            },
            Runtime::Python => Reach {
                go: false,
                python: true,
                preload: true,
            },
            Runtime::Native { static_linked, .. } => Reach {
                go: false,
                python: false,
                preload: !static_linked,
            },
            Runtime::Unknown => Reach {
                go: true,
                python: true,
                preload: true,
            },
        }
    }
}

impl fmt::Display for Runtime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Runtime::Go => write!(f, "a Go program"),
            Runtime::Python => write!(f, "a Python program"),
            Runtime::Native {
                rust,
                static_linked,
            } => write!(
                f,
                "a {}{} program",
                if *static_linked {
                    "statically linked "
                } else {
                    ""
                },
                if *rust { "Rust" } else { "native" }
            ),
            Runtime::Unknown => write!(f, "a program that may start anything"),
        }
    }
}

/// Programs that start other programs whose runtime cannot be known from their own binary.
const DRIVERS: &[&str] = &[
    "sh",
    "bash",
    "dash",
    "zsh",
    "ksh",
    "mksh",
    "fish",
    "busybox",
    "make",
    "gmake",
    "ninja",
    "bazel",
    "bazelisk",
    "cmake",
    "ctest",
    "meson",
    "npm",
    "npx",
    "node",
    "yarn",
    "pnpm",
    "tox",
    "nox",
    "just",
    "xargs",
    "parallel",
    "sudo",
    "doas",
    "docker",
    "podman",
    "bwrap",
    "unshare",
    "nsenter",
    "strace",
    "ltrace",
    "valgrind",
    "gdb",
    "rr",
    "perf",
    "uv",
    "uvx",
    "poetry",
    "pipenv",
    "hatch",
    "rye",
    "flakehunt",
];

/// Launchers looked through: their options, then how many positional arguments they take
/// before the command they run.
const LAUNCHERS: &[(&str, usize)] = &[
    ("env", 0),
    ("nice", 0),
    ("nohup", 0),
    ("setsid", 0),
    ("stdbuf", 0),
    ("ionice", 0),
    ("time", 0),
    ("timeout", 1),
    ("taskset", 1),
    ("chrt", 1),
];

/// Options of the launchers that take a separate value.
const VALUE_OPTIONS: &[&str] = &[
    "-u",
    "-C",
    "-n",
    "-s",
    "-k",
    "-c",
    "-p",
    "-i",
    "-o",
    "-e",
    "--unset",
    "--chdir",
    "--signal",
    "--kill-after",
    "--adjustment",
];

/// Find what `program` (resolved, as it will be executed) with `args` runs.
pub fn detect(program: &Path, args: &[OsString]) -> Detection {
    let mut program = program.to_path_buf();
    let mut args = args.to_vec();
    // A few levels of `env timeout 60 nice python3 ...`.
    for _ in 0..4 {
        let name = file_name(&program);
        let Some(&(_, positional)) = LAUNCHERS.iter().find(|(launcher, _)| *launcher == name)
        else {
            break;
        };
        let Some(next) = command_after(&args, positional, name == "env") else {
            return unknown(&program, format!("{name} with no command to look through"));
        };
        let Some(found) = find_in_path(&args[next]) else {
            return unknown(&program, format!("{name} runs something not found in PATH"));
        };
        program = found;
        args = args[next + 1..].to_vec();
    }
    inspect(&program)
}

fn unknown(program: &Path, basis: String) -> Detection {
    Detection {
        program: program.to_path_buf(),
        runtime: Runtime::Unknown,
        basis,
    }
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Index of the command a launcher runs: after its options (and `NAME=VALUE` settings for
/// `env`) and `positional` arguments of its own.
fn command_after(args: &[OsString], positional: usize, env: bool) -> Option<usize> {
    let mut index = 0;
    let mut skipped = 0;
    while index < args.len() {
        let arg = args[index].to_string_lossy();
        if arg == "--" {
            index += 1;
            continue;
        }
        if arg.starts_with('-') && arg.len() > 1 {
            // `env -S 'python3 -u'` splits its argument into a command line: too clever to
            // follow, so the runtime stays unknown.
            if env && (arg == "-S" || arg.starts_with("--split-string")) {
                return None;
            }
            index += if VALUE_OPTIONS.contains(&arg.as_ref()) {
                2
            } else {
                1
            };
            continue;
        }
        if env && arg.contains('=') {
            index += 1;
            continue;
        }
        if skipped < positional {
            skipped += 1;
            index += 1;
            continue;
        }
        return Some(index);
    }
    None
}

/// `name` resolved the way execvp would, if it names an executable file.
fn find_in_path(name: &OsStr) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let executable = |path: &Path| {
        std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    let path = Path::new(name);
    if path.components().count() > 1 {
        return executable(path).then(|| path.to_path_buf());
    }
    let search = std::env::var_os("PATH")?;
    std::env::split_paths(&search)
        .map(|dir| dir.join(path))
        .find(|candidate| executable(candidate))
}

fn is_python_name(name: &str) -> bool {
    let rest = name
        .strip_prefix("python")
        .or_else(|| name.strip_prefix("pypy"));
    rest.is_some_and(|rest| rest.chars().all(|c| c.is_ascii_digit() || c == '.'))
}

/// Look at the file itself: its `#!` line or its ELF contents.
fn inspect(program: &Path) -> Detection {
    let name = file_name(program);
    if DRIVERS.contains(&name.as_str()) {
        return unknown(program, format!("{name} may start programs of any kind"));
    }
    if is_python_name(&name) {
        return Detection {
            program: program.to_path_buf(),
            runtime: Runtime::Python,
            basis: format!("the Python interpreter {name}"),
        };
    }
    let mut head = [0u8; 256];
    let read = std::fs::File::open(program).and_then(|mut file| read_up_to(&mut file, &mut head));
    let head = match read {
        Ok(length) => &head[..length],
        Err(error) => return unknown(program, format!("cannot read it ({error})")),
    };
    if let Some(line) = head.strip_prefix(b"#!") {
        return shebang(program, line);
    }
    if head.starts_with(b"\x7fELF") {
        return elf(program);
    }
    unknown(program, "neither an ELF binary nor a #! script".into())
}

fn read_up_to(file: &mut std::fs::File, buffer: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buffer.len() {
        match file.read(&mut buffer[filled..])? {
            0 => break,
            n => filled += n,
        }
    }
    Ok(filled)
}

/// A script: its interpreter decides.
fn shebang(program: &Path, line: &[u8]) -> Detection {
    let line = line.split(|b| *b == b'\n').next().unwrap_or_default();
    let text = String::from_utf8_lossy(line);
    let words: Vec<&str> = text.split_whitespace().collect();
    let basis = format!("#!{}", text.trim());
    let Some(interpreter) = words.first() else {
        return unknown(program, "an empty #! line".into());
    };
    let mut name = file_name(Path::new(interpreter));
    if name == "env" {
        // `#!/usr/bin/env python3` or `#!/usr/bin/env -S python3 -u`.
        name = words[1..]
            .iter()
            .find(|word| !word.starts_with('-') && !word.contains('='))
            .map(|word| file_name(Path::new(word)))
            .unwrap_or_default();
    }
    if is_python_name(&name) {
        return Detection {
            program: program.to_path_buf(),
            runtime: Runtime::Python,
            basis,
        };
    }
    unknown(program, format!("a script run by {basis}"))
}

/// An ELF binary: Go leaves a build id note and build information; rustc a `.comment`.
fn elf(program: &Path) -> Detection {
    let detection = |runtime, basis: &str| Detection {
        program: program.to_path_buf(),
        runtime,
        basis: basis.to_string(),
    };
    let data = std::fs::File::open(program).and_then(|file| {
        let mut data = Vec::new();
        file.take(MAX_BINARY).read_to_end(&mut data)?;
        Ok(data)
    });
    let data = match data {
        Ok(data) => data,
        Err(error) => return unknown(program, format!("cannot read it ({error})")),
    };
    let file = match object::File::parse(data.as_slice()) {
        Ok(file) => file,
        Err(error) => {
            return unknown(
                program,
                format!("an ELF file object cannot parse ({error})"),
            )
        }
    };
    if file.section_by_name(".note.go.buildid").is_some() {
        return detection(Runtime::Go, "Go build id note");
    }
    if file.section_by_name(".go.buildinfo").is_some() {
        return detection(Runtime::Go, "Go build information");
    }
    let static_linked = file.section_by_name(".interp").is_none();
    let rust = file
        .section_by_name(".comment")
        .and_then(|section| section.data().ok())
        .is_some_and(|comment| comment.windows(13).any(|w| w == b"rustc version"));
    let basis = match (rust, static_linked) {
        (true, true) => "ELF built by rustc, no program interpreter",
        (true, false) => "ELF built by rustc",
        (false, true) => "ELF with no program interpreter",
        (false, false) => "dynamically linked ELF",
    };
    detection(
        Runtime::Native {
            rust,
            static_linked,
        },
        basis,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn script(dir: &Path, name: &str, text: &str) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let path = dir.join(name);
        std::fs::write(&path, text).expect("write");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        path
    }

    #[test]
    fn scripts_are_judged_by_their_interpreter() {
        let dir = tempfile::tempdir().expect("tempdir");
        for (text, runtime) in [
            ("#!/usr/bin/env python3\nprint(1)\n", Runtime::Python),
            ("#!/usr/bin/python3.11 -u\n", Runtime::Python),
            ("#! /usr/bin/env -S pypy3 -X dev\n", Runtime::Python),
            ("#!/bin/sh\nexec ./x\n", Runtime::Unknown),
            ("#!/usr/bin/env perl\n", Runtime::Unknown),
            ("echo no interpreter line\n", Runtime::Unknown),
        ] {
            let path = script(dir.path(), "t", text);
            assert_eq!(detect(&path, &[]).runtime, runtime, "{text}");
        }
    }

    #[test]
    fn binaries_are_judged_by_their_contents() {
        // The test binary itself is a dynamically linked Rust program.
        let exe = std::env::current_exe().expect("exe");
        let found = detect(&exe, &[]);
        assert_eq!(
            found.runtime,
            Runtime::Native {
                rust: true,
                static_linked: false
            },
            "{found:?}"
        );
        assert!(found.reach().preload && !found.reach().go && !found.reach().python);
        assert_eq!(detect(Path::new("/bin/sh"), &[]).runtime, Runtime::Unknown);
        let missing = detect(Path::new("/nonexistent/x"), &[]);
        assert_eq!(missing.runtime, Runtime::Unknown);
        assert!(missing.basis.contains("cannot read"), "{}", missing.basis);
    }

    #[test]
    fn launchers_are_looked_through() {
        let dir = tempfile::tempdir().expect("tempdir");
        let python = script(dir.path(), "t.py", "#!/usr/bin/env python3\n");
        let args = |list: &[&str]| list.iter().map(OsString::from).collect::<Vec<_>>();
        let env = find_in_path(OsStr::new("env")).expect("env in PATH");
        let timeout = find_in_path(OsStr::new("timeout")).expect("timeout in PATH");
        let py = python.to_string_lossy().into_owned();
        let found = detect(&env, &args(&["-u", "X", "A=1", &py, "--flag"]));
        assert_eq!(
            (found.runtime, found.program),
            (Runtime::Python, python.clone())
        );
        let found = detect(&timeout, &args(&["-s", "KILL", "60", "env", &py]));
        assert_eq!(found.runtime, Runtime::Python);
        assert_eq!(detect(&env, &args(&["A=1"])).runtime, Runtime::Unknown);
        assert_eq!(
            detect(&env, &args(&["-S", "python3 -u"])).runtime,
            Runtime::Unknown
        );
        assert!(is_python_name("python3.11") && !is_python_name("pythonic"));
    }

    #[test]
    fn unknown_programs_keep_every_knob() {
        let reach = unknown(Path::new("/bin/sh"), String::new()).reach();
        assert!(reach.go && reach.python && reach.preload);
        let go = Detection {
            program: PathBuf::new(),
            runtime: Runtime::Go,
            basis: String::new(),
        };
        assert_eq!(
            go.reach(),
            Reach {
                go: true,
                python: false,
                preload: false
            }
        );
    }
}
