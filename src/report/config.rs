//! The `flakehunt config` view: every setting flakehunt.toml can give, its value in force and
//! where that value comes from (a profile, the defaults, or flakehunt's own).

use std::fmt::Write;

use crate::config::{Effective, KEYS};
use crate::report::style::{paint, Role};
use crate::text::escape_line;

/// Widest value shown.
const VALUE_CHARS: usize = 60;

/// Where a setting comes from, as words: `profile.ci (flakehunt.toml:12)` or `built-in`.
fn origin(effective: &Effective, key: &str) -> String {
    match effective.get(key) {
        Some(setting) => format!(
            "[{}] {}:{}",
            setting.origin.table,
            setting.origin.file.display(),
            setting.origin.line
        ),
        None => "built-in".into(),
    }
}

/// The settings as a table, after a line naming the file and profile.
pub fn text(effective: &Effective) -> String {
    let mut out = String::new();
    let _ = match (&effective.file, &effective.profile) {
        (Some(file), Some(profile)) => {
            writeln!(out, "{}, profile {profile} over [defaults]", file.display())
        }
        (Some(file), None) => writeln!(out, "{}, [defaults] (no --profile)", file.display()),
        (None, _) => writeln!(out, "no flakehunt.toml here or above: built-in settings"),
    };
    let values: Vec<String> = KEYS
        .iter()
        .map(|key| match effective.get(key.name) {
            Some(setting) => escape_line(setting.value.to_string().as_bytes(), VALUE_CHARS),
            None => key.built_in.to_string(),
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
    for (key, value) in KEYS.iter().zip(&values) {
        let from = origin(effective, key.name);
        let from = match effective.get(key.name) {
            Some(_) => from,
            None => paint(Role::Dim, &from),
        };
        let _ = writeln!(out, "  {:<15} {value:<width$}  {from}", key.name);
    }
    let _ = writeln!(
        out,
        "\nOptions given on the command line win. runs and max-failures apply to run only,\n\
         duration to run and verify, shake to every campaign command but hunt."
    );
    out
}

/// The settings as one JSON object: `file`, `profile`, and `settings`, one per key with its
/// `value` (null: built-in), `built_in`, and `table` and `line` when the file gives it.
pub fn json(effective: &Effective) -> String {
    let settings: Vec<serde_json::Value> = KEYS
        .iter()
        .map(|key| {
            let given = effective.get(key.name);
            serde_json::json!({
                "key": key.name,
                "value": given.map(|setting| setting.value.to_string()),
                "built_in": key.built_in,
                "about": key.about,
                "table": given.map(|setting| setting.origin.table.clone()),
                "line": given.map(|setting| setting.origin.line),
            })
        })
        .collect();
    serde_json::json!({
        "file": effective.file.as_ref().map(|file| file.display().to_string()),
        "profile": effective.profile,
        "settings": settings,
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    #[test]
    fn text_view() {
        let file = "[defaults]\njobs = 8\ntimeout = \"30s\"\n\n[profile.ci]\njobs = 4\n\
                    env = { GOMAXPROCS = \"2\" }\nshake = \"pin=one-core\"\n";
        let effective = crate::config::effective(Path::new("/p/flakehunt.toml"), file, Some("ci"))
            .expect("valid");
        insta::assert_snapshot!(text(&effective));
        let value: serde_json::Value = serde_json::from_str(&json(&effective)).expect("json");
        assert_eq!(value["settings"][0]["value"], "4");
        assert_eq!(value["settings"][0]["table"], "profile.ci");
        assert_eq!(value["settings"][4]["table"], "defaults");
        assert_eq!(value["settings"][5]["value"], serde_json::Value::Null);
    }
}
