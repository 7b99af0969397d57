//! The `flakehunt config` view: every setting flakehunt.toml can give, its value in force and
//! where that value comes from (a profile, the defaults, or flakehunt's own).

use std::fmt::Write;

use serde::Serialize;

use crate::report::style::{paint, Role};
use crate::text::escape_line;

/// Widest value shown.
const VALUE_CHARS: usize = 60;

/// What `flakehunt config` shows.
#[derive(Debug, Clone, Serialize)]
pub struct ConfigView {
    /// The file read, if one was found.
    pub file: Option<String>,
    /// The profile selected, if any.
    pub profile: Option<String>,
    /// One row per setting a file can give.
    pub settings: Vec<SettingRow>,
}

/// One setting of [`ConfigView`].
#[derive(Debug, Clone, Serialize)]
pub struct SettingRow {
    /// The key.
    pub key: String,
    /// The value the file gives (None: the built-in one).
    pub value: Option<String>,
    /// The value without a file.
    pub built_in: String,
    /// What it does.
    pub about: String,
    /// The table that gives it (`defaults`, `profile.ci`).
    pub table: Option<String>,
    /// The line of the key.
    pub line: Option<usize>,
}

/// The settings as a table, after a line naming the file and profile.
pub fn text(view: &ConfigView) -> String {
    let mut out = String::new();
    let _ = match (&view.file, &view.profile) {
        (Some(file), Some(profile)) => writeln!(out, "{file}, profile {profile} over [defaults]"),
        (Some(file), None) => writeln!(out, "{file}, [defaults] (no --profile)"),
        (None, _) => writeln!(out, "no flakehunt.toml here or above: built-in settings"),
    };
    let values: Vec<String> = view
        .settings
        .iter()
        .map(|row| match &row.value {
            Some(value) => escape_line(value.as_bytes(), VALUE_CHARS),
            None => row.built_in.clone(),
        })
        .collect();
    let width = values
        .iter()
        .map(|v| v.chars().count())
        .max()
        .unwrap_or(5)
        .max(5);
    let header = format!("  {:<15} {:<width$}  from", "setting", "value");
    let _ = writeln!(out, "{}", paint(Role::Heading, &header));
    for (row, value) in view.settings.iter().zip(&values) {
        let from = match (&row.table, row.line, &view.file) {
            (Some(table), Some(line), Some(file)) => format!("[{table}] {file}:{line}"),
            _ => paint(Role::Dim, "built-in"),
        };
        let _ = writeln!(out, "  {:<15} {value:<width$}  {from}", row.key);
    }
    let _ = writeln!(
        out,
        "\nOptions given on the command line win. runs and max-failures apply to run only,\n\
         duration to run and verify, shake to every campaign command but hunt."
    );
    out
}

/// The settings as one JSON object: `file`, `profile`, and `settings`, one per key with its
/// `value` (null: built-in), `built_in`, `about`, and `table` and `line` when the file gives it.
pub fn json(view: &ConfigView) -> String {
    serde_json::to_value(view).unwrap_or_default().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(
        key: &str,
        value: Option<&str>,
        built_in: &str,
        from: Option<(&str, usize)>,
    ) -> SettingRow {
        SettingRow {
            key: key.into(),
            value: value.map(String::from),
            built_in: built_in.into(),
            about: String::new(),
            table: from.map(|(table, _)| table.to_string()),
            line: from.map(|(_, line)| line),
        }
    }

    #[test]
    fn text_view() {
        let view = ConfigView {
            file: Some("/p/flakehunt.toml".into()),
            profile: Some("ci".into()),
            settings: vec![
                row("jobs", Some("4"), "number of CPUs", Some(("profile.ci", 6))),
                row("runs", None, "none", None),
                row("timeout", Some("30s"), "10m", Some(("defaults", 3))),
                row(
                    "env",
                    Some("GOMAXPROCS=2 \u{1b}[2J"),
                    "none",
                    Some(("profile.ci", 7)),
                ),
                row("progress", None, "auto", None),
            ],
        };
        insta::assert_snapshot!(text(&view));
        let value: serde_json::Value = serde_json::from_str(&json(&view)).expect("json");
        assert_eq!(value["settings"][0]["value"], "4");
        assert_eq!(value["settings"][0]["table"], "profile.ci");
        assert_eq!(value["settings"][1]["value"], serde_json::Value::Null);
    }
}
