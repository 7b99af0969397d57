//! Differences between two recorded campaign specs that can change a failure rate on their
//! own (command, working directory, environment, shake, script, timeouts, host...), so that a
//! comparison can warn that it compares more than one change.

use serde::Serialize;
use serde_json::Value;

/// Spec fields that say when a campaign stopped or what it kept, not how its runs ran: they
/// differ between comparable campaigns all the time.
const IGNORED: &[&str] = &["runs", "duration_s", "max_failures", "keep_passing", "kind"];

/// The order fields are listed in: what was run first, then how; other fields follow in
/// alphabetical order.
const ORDER: &[&str] = &[
    "command",
    "target",
    "cwd",
    "env",
    "shake",
    "seed",
    "script",
    "timeout_s",
    "timeout_signal",
    "grace_s",
    "on_timeout",
    "fail_if",
    "ignore",
    "jobs",
    "host",
];

/// One field whose value differs between campaign A and campaign B.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SpecDifference {
    /// The spec field, e.g. `shake`.
    pub field: String,
    /// A's value, as text (`-` when unset).
    pub a: String,
    /// B's value, as text (`-` when unset).
    pub b: String,
}

/// The fields of two spec objects (as recorded with each campaign) that differ, in [`ORDER`].
/// A field missing on one side (recorded by another version) counts as unset there. Stop
/// rules are left out.
pub fn differences(a: &Value, b: &Value) -> Vec<SpecDifference> {
    let empty = serde_json::Map::new();
    let a_fields = a.as_object().unwrap_or(&empty);
    let b_fields = b.as_object().unwrap_or(&empty);
    let mut names: Vec<&String> = a_fields.keys().chain(b_fields.keys()).collect();
    let rank = |name: &str| {
        ORDER
            .iter()
            .position(|known| *known == name)
            .unwrap_or(ORDER.len())
    };
    names.sort_by(|x, y| rank(x).cmp(&rank(y)).then(x.cmp(y)));
    names.dedup();
    let mut found = Vec::new();
    for name in names {
        if IGNORED.contains(&name.as_str()) {
            continue;
        }
        let (a_value, b_value) = (
            a_fields.get(name).unwrap_or(&Value::Null),
            b_fields.get(name).unwrap_or(&Value::Null),
        );
        if (unset(a_value) && unset(b_value)) || a_value == b_value {
            continue;
        }
        found.push(SpecDifference {
            field: name.clone(),
            a: as_text(name, a_value),
            b: as_text(name, b_value),
        });
    }
    found
}

/// Null, an empty string or an empty list: all mean "not given".
fn unset(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::String(text) => text.is_empty(),
        Value::Array(items) => items.is_empty(),
        _ => false,
    }
}

/// A value as one line: a command's words joined by spaces, other lists by `; `, seconds
/// (fields ending in `_s`) with their unit.
fn as_text(field: &str, value: &Value) -> String {
    if unset(value) {
        return "-".to_string();
    }
    match value {
        Value::Number(seconds) if field.ends_with("_s") => match seconds.as_f64() {
            Some(seconds) => format!("{seconds}s"),
            None => seconds.to_string(),
        },
        Value::String(text) => text.clone(),
        Value::Array(items) => {
            let words: Vec<String> = items.iter().map(|item| as_text(field, item)).collect();
            words.join(if field == "command" { " " } else { "; " })
        }
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn spec(shake: Value, env: Value, runs: u64) -> Value {
        json!({
            "command": ["./my_test", "--only", "TestX"],
            "cwd": "/src/project",
            "jobs": 4,
            "runs": runs,
            "max_failures": null,
            "timeout_s": 600.0,
            "env": env,
            "shake": shake,
            "script": null,
            "host": "builder-1",
        })
    }

    #[test]
    fn identical_specs_and_stop_rules_do_not_count() {
        let a = spec(Value::Null, json!([]), 1000);
        let b = spec(Value::Null, json!([]), 30_000);
        assert_eq!(differences(&a, &b), Vec::new());
    }

    #[test]
    fn every_changed_field_is_named_with_both_values() {
        let a = spec(Value::Null, json!([]), 1000);
        let mut b = spec(
            json!("pin=one-core,cpu-load=1"),
            json!(["GOGC=1", "X=2"]),
            10,
        );
        b["command"] = json!(["./my_test", "--only", "TestY"]);
        b["script"] = json!(["wait-output ready", "signal SIGINT"]);
        b["timeout_s"] = json!(30.0);
        b["target"] = json!("pkg::test_x");
        let found = differences(&a, &b);
        let fields: Vec<&str> = found.iter().map(|d| d.field.as_str()).collect();
        assert_eq!(
            fields,
            ["command", "target", "env", "shake", "script", "timeout_s"]
        );
        assert_eq!(found[0].a, "./my_test --only TestX");
        assert_eq!(found[0].b, "./my_test --only TestY");
        assert_eq!(found[1].a, "-");
        assert_eq!(found[2].a, "-");
        assert_eq!(found[2].b, "GOGC=1; X=2");
        assert_eq!(found[3].b, "pin=one-core,cpu-load=1");
        assert_eq!(found[4].b, "wait-output ready; signal SIGINT");
        assert_eq!((found[5].a.as_str(), found[5].b.as_str()), ("600s", "30s"));
    }

    #[test]
    fn unset_in_any_form_is_the_same() {
        let a = json!({"shake": null, "env": [], "fail_if": ""});
        let b = json!({"env": null});
        assert_eq!(differences(&a, &b), Vec::new());
        assert_eq!(differences(&json!("not an object"), &json!({})), Vec::new());
    }
}
