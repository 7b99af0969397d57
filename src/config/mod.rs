//! `flakehunt.toml`: run options for every campaign of a project, in a `[defaults]` table and
//! named `[profile.NAME]` tables, found at the project root. Everything is checked when the file
//! is read; an error names the file, line, column, table and key, and what is allowed.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use toml::de::{DeTable, DeValue};
use toml::Spanned;

/// The file's name, at the project root or in its `.config/` folder.
pub const FILE_NAME: &str = "flakehunt.toml";

/// Every setting a table may hold: its key, what it takes, and its built-in value.
pub const KEYS: &[Key] = &[
    Key::new(
        "jobs",
        Kind::Count,
        "number of CPUs",
        "runs in parallel (-j)",
    ),
    Key::new(
        "runs",
        Kind::Count,
        "none",
        "stop after N runs (-n; run only)",
    ),
    Key::new(
        "duration",
        Kind::Duration,
        "none",
        "stop after this long (run, verify)",
    ),
    Key::new(
        "max-failures",
        Kind::Count,
        "none",
        "stop after K failures (run only)",
    ),
    Key::new("timeout", Kind::Duration, "10m", "time limit per run"),
    Key::new(
        "timeout-signal",
        Kind::Signal,
        "SIGQUIT",
        "signal at the time limit",
    ),
    Key::new("grace", Kind::Duration, "5s", "wait before SIGKILL"),
    Key::new(
        "on-timeout",
        Kind::OnTimeout,
        "kill",
        "kill or keep a hung run",
    ),
    Key::new(
        "fail-if",
        Kind::Regex,
        "none",
        "fail a run with a matching line",
    ),
    Key::new(
        "ignore",
        Kind::Regex,
        "none",
        "ignore a failure with a matching line",
    ),
    Key::new("env", Kind::Env, "none", "environment added to every run"),
    Key::new("out", Kind::Path, "flakehunt-out/<id>", "where failures go"),
    Key::new(
        "keep-passing",
        Kind::Bool,
        "false",
        "keep passing runs' output",
    ),
    Key::new(
        "steps",
        Kind::Steps,
        "none",
        "script steps (--step), in order",
    ),
    Key::new("script", Kind::Path, "none", "script file (--script)"),
    Key::new("shake", Kind::Shake, "none", "perturbation (not for hunt)"),
    Key::new("seed", Kind::Count, "none", "one seed for every run"),
    Key::new(
        "stacks",
        Kind::Bool,
        "true",
        "stacks of hung and crashed runs",
    ),
    Key::new("progress", Kind::Progress, "auto", "auto, bar or lines"),
    Key::new(
        "cargo-test",
        Kind::Text,
        "none",
        "Rust test target (no command given)",
    ),
    Key::new("package", Kind::Text, "none", "its cargo package (-p)"),
    Key::new("features", Kind::Text, "none", "its cargo features"),
    Key::new(
        "go-test",
        Kind::Text,
        "none",
        "Go test package (with go-run)",
    ),
    Key::new("go-run", Kind::Text, "none", "the Go test's name"),
    Key::new("race", Kind::Bool, "false", "build the Go test with -race"),
    Key::new("pytest", Kind::Text, "none", "pytest node id"),
    Key::new("test", Kind::Text, "none", "one test, runner detected"),
    Key::new("suite", Kind::Suite, "detected", "read runs test by test"),
];

/// One setting of [`KEYS`].
#[derive(Debug, Clone, Copy)]
pub struct Key {
    /// The key, as written in the file.
    pub name: &'static str,
    /// What it takes.
    pub kind: Kind,
    /// The value without a configuration file.
    pub built_in: &'static str,
    /// What it does, for `flakehunt config`.
    pub about: &'static str,
}

impl Key {
    const fn new(
        name: &'static str,
        kind: Kind,
        built_in: &'static str,
        about: &'static str,
    ) -> Key {
        Key {
            name,
            kind,
            built_in,
            about,
        }
    }
}

/// The kinds of values a setting takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A whole number.
    Count,
    /// A duration as a string: `90s`, `10m`.
    Duration,
    /// A signal name or number.
    Signal,
    /// `kill` or `keep`.
    OnTimeout,
    /// A regular expression.
    Regex,
    /// A table of strings: `{ GOMAXPROCS = "2" }`.
    Env,
    /// A path, relative to the file's folder.
    Path,
    /// `true` or `false`.
    Bool,
    /// An array of script steps.
    Steps,
    /// A `--shake` specification.
    Shake,
    /// `auto`, `bar` or `lines`.
    Progress,
    /// Any string: a test name, a package.
    Text,
    /// `cargo`, `nextest`, `go` or `pytest`.
    Suite,
}

impl Kind {
    /// What a value of this kind looks like, for error messages.
    fn allowed(self) -> &'static str {
        match self {
            Kind::Count => "a whole number, e.g. 4",
            Kind::Duration => "a duration string, e.g. \"90s\", \"10m\" or \"1h30m\"",
            Kind::Signal => "a signal name or number, e.g. \"SIGQUIT\"",
            Kind::OnTimeout => "\"kill\" or \"keep\"",
            Kind::Regex => "a regular expression string",
            Kind::Env => "a table of strings, e.g. { GOMAXPROCS = \"2\" }",
            Kind::Path => "a path string (relative to the file's folder)",
            Kind::Bool => "true or false",
            Kind::Steps => {
                "an array of step strings, e.g. [\"wait-output ready\", \"signal SIGINT\"]"
            }
            Kind::Shake => "a shake string, e.g. \"pin=one-core,cpu-load=2\"",
            Kind::Progress => "\"auto\", \"bar\" or \"lines\"",
            Kind::Text => "a string",
            Kind::Suite => "\"cargo\", \"nextest\", \"go\" or \"pytest\"",
        }
    }
}

/// A checked setting's value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A whole number.
    Count(u64),
    /// A duration, and how it was written.
    Duration(Duration, String),
    /// Text: a signal, action, regex, shake or progress style.
    Text(String),
    /// Environment variables, in the file's order.
    Env(Vec<(String, String)>),
    /// An absolute path.
    Path(PathBuf),
    /// A flag.
    Bool(bool),
    /// Script steps.
    Steps(Vec<String>),
}

impl std::fmt::Display for Value {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Value::Count(n) => write!(f, "{n}"),
            Value::Duration(_, text) | Value::Text(text) => f.write_str(text),
            Value::Env(vars) => {
                let vars: Vec<String> = vars.iter().map(|(k, v)| format!("{k}={v}")).collect();
                f.write_str(&vars.join(" "))
            }
            Value::Path(path) => write!(f, "{}", path.display()),
            Value::Bool(flag) => write!(f, "{flag}"),
            Value::Steps(steps) => f.write_str(&steps.join("; ")),
        }
    }
}

/// Where a setting's value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// `defaults` or `profile.NAME`.
    pub table: String,
    /// The file and the line of the key.
    pub file: PathBuf,
    /// 1-based line.
    pub line: usize,
}

/// One setting the file gives, with its origin.
#[derive(Debug, Clone, PartialEq)]
pub struct Setting {
    /// The key (one of [`KEYS`]).
    pub key: &'static str,
    /// Its value.
    pub value: Value,
    /// Where it was given.
    pub origin: Origin,
}

/// The settings in force: the profile's over the defaults'.
#[derive(Debug, Clone, Default)]
pub struct Effective {
    /// The file read, if one was found.
    pub file: Option<PathBuf>,
    /// The profile selected, if any.
    pub profile: Option<String>,
    /// Every setting given, one per key, in [`KEYS`] order.
    pub settings: Vec<Setting>,
}

impl Effective {
    /// The setting for `key`, if the file gives one.
    pub fn get(&self, key: &str) -> Option<&Setting> {
        self.settings.iter().find(|setting| setting.key == key)
    }
}

/// The configuration file for `dir`: `flakehunt.toml` or `.config/flakehunt.toml` in `dir` or
/// the nearest folder above it, up to the top of its git work tree (only `dir` outside one).
/// Both in one folder is an error: editing the one not read would silently change nothing.
pub fn find(dir: &Path) -> Result<Option<PathBuf>> {
    let top = crate::store::git_top_level(dir).unwrap_or_else(|| dir.to_path_buf());
    for folder in dir.ancestors() {
        let plain = folder.join(FILE_NAME);
        let hidden = folder.join(".config").join(FILE_NAME);
        match (plain.is_file(), hidden.is_file()) {
            (true, true) => bail!(
                "both {} and {} exist; keep one (flakehunt reads a single file)",
                plain.display(),
                hidden.display()
            ),
            (true, false) => return Ok(Some(plain)),
            (false, true) => return Ok(Some(hidden)),
            (false, false) => {}
        }
        if folder == top {
            break;
        }
    }
    Ok(None)
}

/// The settings of `profile` (None: the defaults alone) from the file found for the current
/// directory; no file and no profile is no settings. A profile asked for but not found, and
/// any error in the file, is an error.
pub fn load(profile: Option<&str>) -> Result<Effective> {
    let cwd = std::env::current_dir().context("cannot tell the current directory")?;
    let Some(file) = find(&cwd)? else {
        if let Some(name) = profile {
            bail!(
                "--profile {name}: no {FILE_NAME} here or above (up to the top of the git work \
                 tree); create one with a [profile.{name}] table"
            );
        }
        return Ok(Effective::default());
    };
    let text = std::fs::read_to_string(&file)
        .with_context(|| format!("cannot read {}", file.display()))?;
    effective(&file, &text, profile)
}

/// The settings of `profile` over the defaults, from `text`, the contents of `file`.
pub fn effective(file: &Path, text: &str, profile: Option<&str>) -> Result<Effective> {
    let located = Located { file, text };
    let document = DeTable::parse(text).map_err(|error| located.parse_error(&error))?;
    let mut defaults = Vec::new();
    let mut profiles: Vec<(String, Vec<Setting>)> = Vec::new();
    for (key, value) in document.get_ref() {
        match key.get_ref().as_ref() {
            "defaults" => defaults = located.table("defaults", value)?,
            "profile" => {
                let Some(tables) = value.get_ref().as_table() else {
                    return Err(
                        located.at(value.span(), "[profile] must hold [profile.NAME] tables")
                    );
                };
                for (name, table) in tables {
                    let name = name.get_ref().to_string();
                    let settings = located.table(&format!("profile.{name}"), table)?;
                    profiles.push((name, settings));
                }
            }
            other => {
                return Err(located.at(
                    key.span(),
                    &format!(
                        "unknown table or key `{other}`; allowed: [defaults] and [profile.NAME]"
                    ),
                ))
            }
        }
    }
    let mut settings = defaults;
    if let Some(wanted) = profile {
        let Some((_, chosen)) = profiles.iter().find(|(name, _)| name == wanted) else {
            let names: Vec<&str> = profiles.iter().map(|(name, _)| name.as_str()).collect();
            bail!(
                "{}: no [profile.{wanted}]; {}",
                file.display(),
                if names.is_empty() {
                    "it defines no profile".to_string()
                } else {
                    format!("its profiles: {}", names.join(", "))
                }
            );
        };
        // A profile's test target replaces the defaults' whole.
        if chosen
            .iter()
            .any(|setting| TARGET_KEYS.contains(&setting.key))
        {
            settings.retain(|given| !TARGET_KEYS.contains(&given.key));
        }
        for setting in chosen {
            settings.retain(|given| given.key != setting.key);
            settings.push(setting.clone());
        }
    }
    check_target(file, &settings)?;
    settings.sort_by_key(|setting| KEYS.iter().position(|key| key.name == setting.key));
    Ok(Effective {
        file: Some(file.to_path_buf()),
        profile: profile.map(str::to_string),
        settings,
    })
}

/// The keys that name a test target (instead of a command), with its options.
pub const TARGET_KEYS: &[&str] = &[
    "cargo-test",
    "package",
    "features",
    "go-test",
    "go-run",
    "race",
    "pytest",
    "test",
];

/// A test target in force is whole: one runner, and its options only with it.
fn check_target(file: &Path, settings: &[Setting]) -> Result<()> {
    let given = |key: &str| settings.iter().find(|setting| setting.key == key);
    let place = |key: &str| {
        given(key).map_or_else(String::new, |s| {
            format!("[{}] {key} (line {})", s.origin.table, s.origin.line)
        })
    };
    let targets: Vec<&str> = ["cargo-test", "go-test", "pytest", "test"]
        .into_iter()
        .filter(|key| given(key).is_some())
        .collect();
    if let [first, second, ..] = targets.as_slice() {
        bail!(
            "{}: {} and {} name two test targets; keep one",
            file.display(),
            place(first),
            place(second)
        );
    }
    for (option, needs) in [
        ("package", "cargo-test"),
        ("features", "cargo-test"),
        ("go-run", "go-test"),
        ("race", "go-test"),
        ("go-test", "go-run"),
    ] {
        if given(option).is_some() && given(needs).is_none() {
            bail!(
                "{}: {} needs {needs} as well",
                file.display(),
                place(option)
            );
        }
    }
    Ok(())
}

/// A file's name and text, to place errors.
struct Located<'a> {
    file: &'a Path,
    text: &'a str,
}

impl Located<'_> {
    /// `file:line:column` of a byte offset.
    fn position(&self, offset: usize) -> (usize, usize) {
        let before = &self.text[..offset.min(self.text.len())];
        let line = before.matches('\n').count() + 1;
        let column = before.len() - before.rfind('\n').map_or(0, |at| at + 1) + 1;
        (line, column)
    }

    fn at(&self, span: std::ops::Range<usize>, message: &str) -> anyhow::Error {
        let (line, column) = self.position(span.start);
        anyhow!("{}:{line}:{column}: {message}", self.file.display())
    }

    fn parse_error(&self, error: &toml::de::Error) -> anyhow::Error {
        let span = error.span().unwrap_or(0..0);
        self.at(span, &format!("not valid TOML: {}", error.message().trim()))
    }

    /// The settings of one table, every key known and every value checked.
    fn table(&self, name: &str, value: &Spanned<DeValue<'_>>) -> Result<Vec<Setting>> {
        let Some(table) = value.get_ref().as_table() else {
            return Err(self.at(value.span(), &format!("`{name}` must be a table: [{name}]")));
        };
        let mut settings = Vec::new();
        for (key, value) in table {
            let given = key.get_ref().as_ref();
            let Some(known) = KEYS.iter().find(|known| known.name == given) else {
                let names: Vec<&str> = KEYS.iter().map(|key| key.name).collect();
                return Err(self.at(
                    key.span(),
                    &format!(
                        "[{name}]: unknown key `{given}`; allowed: {}",
                        names.join(", ")
                    ),
                ));
            };
            let checked = self.check(known, value).map_err(|problem| {
                self.at(
                    value.span(),
                    &format!(
                        "[{name}] {given}: {problem}; allowed: {}",
                        known.kind.allowed()
                    ),
                )
            })?;
            let (line, _) = self.position(key.span().start);
            settings.push(Setting {
                key: known.name,
                value: checked,
                origin: Origin {
                    table: name.to_string(),
                    file: self.file.to_path_buf(),
                    line,
                },
            });
        }
        Ok(settings)
    }

    /// The value of `key`, checked as its kind requires; the problem in words otherwise.
    fn check(&self, key: &Key, value: &Spanned<DeValue<'_>>) -> Result<Value, String> {
        let value = value.get_ref();
        let text = || {
            value
                .as_str()
                .ok_or_else(|| format!("got {}", value.type_str()))
        };
        match key.kind {
            Kind::Count => {
                let integer = value
                    .as_integer()
                    .ok_or_else(|| format!("got {}", value.type_str()))?;
                let count = u64::from_str_radix(integer.as_str(), integer.radix())
                    .map_err(|_| format!("{integer} is not a whole number of 0 or more"))?;
                // The same bounds as the command line's, so `config` never passes a value
                // that `run` then refuses under a flag the user did not give.
                if count == 0 && matches!(key.name, "jobs" | "runs" | "max-failures") {
                    return Err("must be at least 1".into());
                }
                let max_jobs = crate::campaign::setup::MAX_JOBS;
                if key.name == "jobs" && count > max_jobs as u64 {
                    return Err(format!("{count} is more than {max_jobs}"));
                }
                Ok(Value::Count(count))
            }
            Kind::Duration => {
                let text = text()?;
                let duration = humantime::parse_duration(text.trim())
                    .map_err(|error| format!("'{text}' is not a duration ({error})"))?;
                if duration.is_zero() && matches!(key.name, "timeout" | "duration") {
                    return Err(format!("'{text}' is not longer than 0"));
                }
                if duration > crate::campaign::setup::MAX_TIME {
                    return Err(format!("'{text}' is longer than 365 days"));
                }
                Ok(Value::Duration(duration, text.to_string()))
            }
            Kind::Signal => {
                let text = text()?;
                crate::os::signal::parse_signal(text)
                    .map(|_| Value::Text(text.to_string()))
                    .ok_or_else(|| format!("'{text}' is not a signal"))
            }
            Kind::OnTimeout => one_of(text()?, &["kill", "keep"]),
            Kind::Progress => one_of(text()?, &["auto", "bar", "lines"]),
            Kind::Suite => one_of(text()?, &["cargo", "nextest", "go", "pytest"]),
            Kind::Text => {
                let text = text()?;
                if text.trim().is_empty() {
                    return Err("must not be empty".into());
                }
                Ok(Value::Text(text.to_string()))
            }
            Kind::Regex => {
                let text = text()?;
                regex::bytes::Regex::new(text)
                    .map(|_| Value::Text(text.to_string()))
                    .map_err(|error| format!("'{text}' is not a valid regex ({error})"))
            }
            Kind::Shake => {
                let text = text()?;
                crate::shake::Shake::parse(text)
                    .map(|_| Value::Text(text.to_string()))
                    .map_err(|error| {
                        format!(
                            "'{text}', item {} '{}': {}",
                            error.position, error.item, error.message
                        )
                    })
            }
            Kind::Path => {
                let text = text()?;
                // An empty path would be the file's own folder: `out = ""` would spill run
                // files over the project.
                if text.trim().is_empty() {
                    return Err("must not be empty".into());
                }
                let folder = self.file.parent().unwrap_or(Path::new("."));
                Ok(Value::Path(folder.join(text)))
            }
            Kind::Bool => value
                .as_bool()
                .map(Value::Bool)
                .ok_or_else(|| format!("got {}", value.type_str())),
            Kind::Steps => {
                let steps = strings(value)?;
                crate::spec::script::Script::from_steps(&steps).map_err(|error| error.message)?;
                Ok(Value::Steps(steps))
            }
            Kind::Env => {
                let table = value
                    .as_table()
                    .ok_or_else(|| format!("got {}", value.type_str()))?;
                let mut vars = Vec::new();
                for (name, value) in table {
                    let name = name.get_ref().to_string();
                    if name.is_empty() || name.contains('=') {
                        return Err(format!("'{name}' is not a variable name"));
                    }
                    let value = value
                        .get_ref()
                        .as_str()
                        .ok_or_else(|| format!("{name}: got {}", value.get_ref().type_str()))?;
                    vars.push((name, value.to_string()));
                }
                Ok(Value::Env(vars))
            }
        }
    }
}

fn one_of(text: &str, allowed: &[&str]) -> Result<Value, String> {
    if allowed.contains(&text) {
        Ok(Value::Text(text.to_string()))
    } else {
        Err(format!("'{text}' is not one of them"))
    }
}

fn strings(value: &DeValue<'_>) -> Result<Vec<String>, String> {
    let array = value
        .as_array()
        .ok_or_else(|| format!("got {}", value.type_str()))?;
    array
        .iter()
        .map(|item| {
            item.get_ref()
                .as_str()
                .map(str::to_string)
                .ok_or_else(|| format!("an item is {}", item.get_ref().type_str()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = r#"
[defaults]
jobs = 8
timeout = "30s"
env = { GOMAXPROCS = "2", MODE = "test" }

[profile.ci]
jobs = 4
runs = 5000
shake = "pin=one-core,cpu-load=1"
steps = ["wait-output ready", "signal SIGINT"]
stacks = false
"#;

    fn at(path: &str) -> PathBuf {
        PathBuf::from(path)
    }

    #[test]
    fn a_profile_wins_over_the_defaults_and_names_its_line() {
        let chosen = effective(&at("/p/flakehunt.toml"), FILE, Some("ci")).expect("valid");
        let jobs = chosen.get("jobs").expect("jobs");
        assert_eq!(jobs.value, Value::Count(4));
        assert_eq!(
            (jobs.origin.table.as_str(), jobs.origin.line),
            ("profile.ci", 8)
        );
        let timeout = chosen.get("timeout").expect("timeout");
        assert_eq!(timeout.origin.table, "defaults");
        assert_eq!(
            timeout.value,
            Value::Duration(Duration::from_secs(30), "30s".into())
        );
        assert_eq!(
            chosen.get("stacks").expect("stacks").value,
            Value::Bool(false)
        );
        let defaults = effective(&at("/p/flakehunt.toml"), FILE, None).expect("valid");
        assert_eq!(defaults.get("jobs").expect("jobs").value, Value::Count(8));
        assert!(defaults.get("runs").is_none());
    }

    #[test]
    fn two_files_in_one_folder_are_refused_and_the_nearest_wins() {
        let dir = tempfile::tempdir().expect("tempdir");
        let deep = dir.path().join("a/b");
        std::fs::create_dir_all(deep.join(".config")).expect("mkdir");
        assert_eq!(find(&deep).expect("none"), None);
        std::fs::write(dir.path().join("a").join(FILE_NAME), "").expect("write");
        std::fs::write(deep.join(".config").join(FILE_NAME), "").expect("write");
        // Outside a git work tree only the folder itself is searched.
        assert_eq!(
            find(&deep).expect("one"),
            Some(deep.join(".config").join(FILE_NAME))
        );
        std::fs::write(deep.join(FILE_NAME), "").expect("write");
        let error = find(&deep).expect_err("two").to_string();
        assert!(error.starts_with("both "), "{error}");
        assert!(
            error.contains(".config/flakehunt.toml exist; keep one"),
            "{error}"
        );
    }

    #[test]
    fn every_mistake_names_file_line_table_key_and_what_is_allowed() {
        let error = |text: &str| {
            effective(&at("/p/flakehunt.toml"), text, Some("ci"))
                .expect_err("invalid")
                .to_string()
        };
        assert_eq!(
            error("[profile.ci]\njbos = 4\n"),
            format!(
                "/p/flakehunt.toml:2:1: [profile.ci]: unknown key `jbos`; allowed: {}",
                KEYS.iter().map(|k| k.name).collect::<Vec<_>>().join(", ")
            )
        );
        assert_eq!(
            error("[profile.ci]\njobs = \"four\"\n"),
            "/p/flakehunt.toml:2:8: [profile.ci] jobs: got string; allowed: a whole number, e.g. 4"
        );
        assert!(error("[defaults]\ntimeout = \"soon\"\n")
            .starts_with("/p/flakehunt.toml:2:11: [defaults] timeout: 'soon' is not a duration"));
        assert!(error("[profile.ci]\non-timeout = \"wait\"\n")
            .ends_with("'wait' is not one of them; allowed: \"kill\" or \"keep\""));
        assert!(error("[profile.ci]\nshake = \"pin=two-cores\"\n").contains("[profile.ci] shake:"));
        assert!(error("[profile.ci]\nsteps = [\"jump\"]\n").contains("[profile.ci] steps:"));
        assert!(error("[profile.ci]\nfail-if = \"(\"\n").contains("is not a valid regex"));
        assert!(error("[profile.ci]\njobs = 0\n").contains("must be at least 1"));
        // The command line's bounds hold in the file, named at the file's line.
        assert_eq!(
            error("[profile.ci]\njobs = 99999999999\n"),
            "/p/flakehunt.toml:2:8: [profile.ci] jobs: 99999999999 is more than 1024; \
             allowed: a whole number, e.g. 4"
        );
        assert!(error("[defaults]\nmax-failures = 0\n")
            .starts_with("/p/flakehunt.toml:2:16: [defaults] max-failures: must be at least 1"));
        assert!(error("[defaults]\ntimeout = \"0s\"\n")
            .starts_with("/p/flakehunt.toml:2:11: [defaults] timeout: '0s' is not longer than 0"));
        assert!(error("[profile.ci]\nduration = \"0ms\"\n").contains("is not longer than 0"));
        assert!(error("[profile.ci]\ngrace = \"400years\"\n")
            .contains("[profile.ci] grace: '400years' is longer than 365 days"));
        assert!(error("[profile.ci]\nout = \"\"\n")
            .starts_with("/p/flakehunt.toml:2:7: [profile.ci] out: must not be empty"));
        assert!(effective(
            &at("/p/flakehunt.toml"),
            "[defaults]\ngrace = \"0s\"\n",
            None
        )
        .is_ok());
        assert!(error("[profiles.ci]\n").contains("unknown table or key `profiles`"));
        assert!(error("[profile.ci\n").starts_with("/p/flakehunt.toml:1:"));
        assert!(error(
            "[defaults]\ncargo-test = \"a\"\n[profile.ci]\npytest = \"t.py\"\ntest = \"b\"\n"
        )
        .contains(
            "[profile.ci] pytest (line 4) and [profile.ci] test (line 5) name two test targets"
        ));
        assert!(error("[profile.ci]\ngo-test = \"./pool\"\n")
            .contains("[profile.ci] go-test (line 2) needs go-run"));
        assert!(error("[profile.ci]\nsuite = \"junit\"\n").contains("'junit' is not one of them"));
        // A profile's target replaces the defaults' whole.
        let chosen = effective(
            &at("/p/flakehunt.toml"),
            "[defaults]\ncargo-test = \"a\"\npackage = \"p\"\n[profile.ci]\npytest = \"t.py\"\n",
            Some("ci"),
        )
        .expect("valid");
        assert!(chosen.get("cargo-test").is_none() && chosen.get("package").is_none());
        assert_eq!(
            error("[profile.local]\njobs = 2\n"),
            "/p/flakehunt.toml: no [profile.ci]; its profiles: local"
        );
    }
}
