//! The history views: the table of past campaigns (`flakehunt history`) and one stored
//! campaign's summary with where and when it was recorded (`flakehunt show`).

use std::fmt::Write;
use std::path::Path;

use std::time::Duration;

use anyhow::Context;
use serde_json::Value;

use crate::analysis::summary::Summary;
use crate::report::format::format_rate;
use crate::report::style::{paint, Role};
use crate::report::{compact_duration, summary, thousands};
use crate::store::query::CampaignRow;
use crate::text::escape_line;

/// Widest command shown in the campaign table, in characters.
const COMMAND_CHARS: usize = 60;

/// The campaign list as one line of JSON: an array of campaign rows, newest first.
pub fn json(rows: &[CampaignRow]) -> anyhow::Result<String> {
    serde_json::to_string(rows).context("could not encode the campaign list as JSON")
}

/// Widest shake shown in the campaign table, in characters.
const SHAKE_CHARS: usize = 22;

/// The campaign list as a table, newest first; `db` names the history when it is empty.
pub fn text(rows: &[CampaignRow], db: &Path) -> String {
    let mut out = String::new();
    if rows.is_empty() {
        let _ = writeln!(out, "no campaigns recorded in {}", db.display());
        return out;
    }
    let id_width = rows.iter().map(|row| row.id.len()).max().unwrap_or(2);
    let header = format!(
        "{:<id_width$}  {:<16}  {:<6}  {:>9}  {:>8}  {:>9}  {:<SHAKE_CHARS$}  {:<10}  command",
        "id", "started", "kind", "runs", "failures", "rate", "shake", "commit"
    );
    let _ = writeln!(out, "{}", paint(Role::Heading, &header));
    for row in rows {
        let _ = write_row(&mut out, row, id_width);
    }
    out
}

fn write_row(out: &mut String, row: &CampaignRow, id_width: usize) -> std::fmt::Result {
    let rate = if row.runs == 0 {
        "-".to_string()
    } else {
        format_rate(row.failures as f64 / row.runs as f64)
    };
    // A dirty tree gives up one character of the commit for its `+`.
    let commit = match (&row.git_commit, row.git_dirty) {
        (Some(commit), Some(true)) => format!("{}+", commit.get(..9).unwrap_or(commit)),
        (Some(commit), _) => commit.get(..10).unwrap_or(commit).to_string(),
        (None, _) => "-".to_string(),
    };
    let state = if row.ended_at.is_none() {
        " (unfinished)"
    } else {
        ""
    };
    let kind = if row.rerun_of.is_some() {
        "rerun"
    } else {
        &row.kind
    };
    let shake = match &row.shake {
        Some(shake) => escape_line(shake.as_bytes(), SHAKE_CHARS),
        None => "-".to_string(),
    };
    let command = escape_line(row.command.join(" ").as_bytes(), COMMAND_CHARS);
    // Padded first: escape sequences count as characters in widths.
    let failures = format!("{:>8}", thousands(row.failures));
    let failures = match row.failures {
        0 => failures,
        _ => paint(Role::Fail, &failures),
    };
    let shake = format!("{shake:<SHAKE_CHARS$}");
    let shake = match &row.shake {
        Some(_) => paint(Role::Warn, &shake),
        None => shake,
    };
    writeln!(
        out,
        "{:<id_width$}  {:<16}  {kind:<6}  {:>9}  {failures}  {:>9}  {shake}  {:<10}  \
         {command}{state}",
        row.id,
        row.started_at
            .get(..16)
            .unwrap_or(&row.started_at)
            .replace('T', " "),
        thousands(row.runs),
        rate,
        commit
    )
}

/// The note `flakehunt log` puts on stderr when the run's saved output is empty.
pub fn printed_nothing(run: u64) -> String {
    format!("(run {run} printed nothing)")
}

/// One campaign for `flakehunt show --json`: its summary, exactly as [`summary::json`], with
/// `spec`: what was run (as [`crate::store::query::campaign_spec`] reads it back), its `kind`
/// and the campaign it repeats.
pub fn show_json(summary: &Summary, row: &CampaignRow, spec: &Value) -> anyhow::Result<String> {
    let mut value: Value = serde_json::from_str(&summary::json(summary)?)?;
    if let Some(object) = value.as_object_mut() {
        let mut spec = spec.clone();
        if let Some(spec) = spec.as_object_mut() {
            spec.insert("kind".into(), row.kind.clone().into());
            spec.insert("rerun_of".into(), row.rerun_of.clone().into());
        }
        object.insert("spec".into(), spec);
    }
    Ok(value.to_string())
}

/// One campaign for `flakehunt show`: its summary, then what was run (the spec), and when,
/// where and at which commit it was recorded.
pub fn show_text(summary: &Summary, row: &CampaignRow, spec: &Value) -> String {
    let mut out = summary::text(summary);
    let _ = writeln!(out);
    spec_lines(&mut out, row, spec);
    let commit = match (&row.git_commit, row.git_dirty) {
        (Some(commit), Some(true)) => format!("{commit} (dirty)"),
        (Some(commit), _) => commit.clone(),
        // Recorded with no commit but a dirty flag: `git init` was done, nothing committed.
        (None, Some(_)) => "none (a git repository with no commits yet)".to_string(),
        (None, None) => "not in a git repository".to_string(),
    };
    let _ = writeln!(
        out,
        "  recorded   {} on {}, commit {}",
        row.started_at,
        row.host.as_deref().unwrap_or("?"),
        commit
    );
    if spec.get("recipe").is_some_and(Value::is_array) {
        let _ = writeln!(out, "  again      flakehunt rerun {}", row.id);
    }
    out
}

/// Widest value shown on one line of the spec.
const VALUE_CHARS: usize = 200;

/// The spec's lines: what ran, where, perturbed how, timed and stopped how.
fn spec_lines(out: &mut String, row: &CampaignRow, spec: &Value) {
    let text = |key: &str| spec.get(key).and_then(Value::as_str);
    let safe = |text: &str| escape_line(text.as_bytes(), VALUE_CHARS);
    let mut line = |label: &str, value: String| {
        let _ = writeln!(
            out,
            "  {} {value}",
            paint(Role::Dim, &format!("{label:<10}"))
        );
    };
    line(
        "kind",
        match &row.rerun_of {
            Some(of) => format!("{} (rerun of {of})", row.kind),
            None => row.kind.clone(),
        },
    );
    if let Some(target) = spec.get("target").filter(|t| !t.is_null()) {
        let runner = target.get("runner").and_then(Value::as_str).unwrap_or("?");
        let test = target.get("test").and_then(Value::as_str).unwrap_or("?");
        line("target", format!("{runner} test {}", safe(test)));
    }
    if let Some(suite) = spec
        .get("suite")
        .and_then(|s| s.get("kind"))
        .and_then(Value::as_str)
    {
        line("suite", format!("{suite}, read test by test"));
    }
    if let Some(cwd) = text("cwd") {
        line("cwd", safe(cwd));
    }
    let env: Vec<String> = strings(spec, "env").iter().map(|kv| safe(kv)).collect();
    line("env", none_or(env.join("  "), "nothing added"));
    line("shake", shake_text(spec, &safe));
    let steps: Vec<String> = strings(spec, "script").iter().map(|s| safe(s)).collect();
    if !steps.is_empty() {
        line("script", steps.join("; "));
    }
    line("timeout", timeout_text(spec));
    if let Some(jobs) = spec.get("jobs").and_then(Value::as_u64) {
        line("jobs", jobs.to_string());
    }
    line("stop", stop_text(spec));
    for (key, label) in [("fail_if", "fail-if"), ("ignore", "ignore")] {
        if let Some(regex) = text(key) {
            line(label, safe(regex));
        }
    }
    if let Some(seed) = spec.get("seed").and_then(Value::as_u64) {
        line("seed", seed.to_string());
    }
    if spec.get("stacks") == Some(&Value::Bool(false)) {
        line("stacks", "not taken (--no-stacks)".into());
    }
}

fn strings(spec: &Value, key: &str) -> Vec<String> {
    spec.get(key)
        .and_then(Value::as_array)
        .map(|items| {
            items
                .iter()
                .filter_map(|item| item.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

fn none_or(text: String, none: &str) -> String {
    if text.is_empty() {
        none.to_string()
    } else {
        text
    }
}

/// The shake, or each part's (a hunt's arms, a window's phases).
fn shake_text(spec: &Value, safe: &dyn Fn(&str) -> String) -> String {
    if let Some(shake) = spec.get("shake").and_then(Value::as_str) {
        return safe(shake);
    }
    let parts = spec.get("parts").and_then(Value::as_array);
    let Some(parts) = parts.filter(|parts| !parts.is_empty()) else {
        return "none".into();
    };
    let mut distinct: Vec<Option<&str>> = parts
        .iter()
        .map(|part| part.get("shake").and_then(Value::as_str))
        .collect();
    distinct.dedup();
    if let [one] = distinct.as_slice() {
        return one.map_or_else(|| "none".into(), safe);
    }
    let shakes: Vec<String> = parts
        .iter()
        .map(|part| {
            let label = part.get("label").and_then(Value::as_str).unwrap_or("?");
            match part.get("shake").and_then(Value::as_str) {
                Some(shake) if shake != label => format!("{}: {}", safe(label), safe(shake)),
                Some(shake) => safe(shake),
                None if label == "plain" => "plain".into(),
                None => format!("{}: none", safe(label)),
            }
        })
        .collect();
    format!("by part: {}", shakes.join(" | "))
}

fn seconds(spec: &Value, key: &str) -> Option<String> {
    let seconds = spec.get(key).and_then(Value::as_f64)?;
    Some(compact_duration(Duration::from_secs_f64(seconds.max(0.0))))
}

fn timeout_text(spec: &Value) -> String {
    let limit = seconds(spec, "timeout_s").unwrap_or_else(|| "?".into());
    let signal = spec
        .get("timeout_signal")
        .and_then(Value::as_str)
        .unwrap_or("?");
    let grace = seconds(spec, "grace_s").unwrap_or_else(|| "?".into());
    match spec.get("on_timeout").and_then(Value::as_str) {
        Some("keep") => format!("{limit}, then {signal}; a hung run is kept for a debugger"),
        _ => format!("{limit}, then {signal}, SIGKILL {grace} later"),
    }
}

fn stop_text(spec: &Value) -> String {
    let mut rules = Vec::new();
    if let Some(runs) = spec.get("runs").and_then(Value::as_u64) {
        rules.push(format!(
            "{} run{}",
            thousands(runs),
            if runs == 1 { "" } else { "s" }
        ));
    }
    if let Some(duration) = seconds(spec, "duration_s") {
        rules.push(duration);
    }
    if let Some(failures) = spec.get("max_failures").and_then(Value::as_u64) {
        rules.push(format!(
            "{} failure{}",
            thousands(failures),
            if failures == 1 { "" } else { "s" }
        ));
    }
    match rules.len() {
        0 => "none (until interrupted)".into(),
        1 => rules.join(""),
        _ => format!("{}, whichever comes first", rules.join(", ")),
    }
}

/// The line that opens the stacks section after a run's output in `flakehunt log`.
pub fn stacks_heading(file_name: &str) -> String {
    format!("\n──── stacks ({file_name}) ────\n")
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;
    use std::time::Duration;

    use super::*;
    use crate::analysis::signature::Signature;
    use crate::analysis::summary::{Observation, SummaryContext, Tally};
    use crate::record::{FailureKind, Verdict};

    fn row(id: &str, started_at: &str, runs: u64, failures: u64) -> CampaignRow {
        let mut row = CampaignRow::fixed(id, started_at);
        row.ended_at = Some(started_at.into());
        row.command = vec!["./ctrl_handler_test".into(), "-run".into(), "Ctrl".into()];
        row.runs = runs;
        row.failures = failures;
        row.host = Some("builder-7".into());
        row
    }

    /// Campaigns covering every column's cases: dirty, clean and no commit, unfinished, no
    /// runs, a long command with an escape sequence.
    fn sample_rows() -> Vec<CampaignRow> {
        let mut dirty = row(
            "20261130-122000-00000000deadbeef",
            "2026-11-30T12:20:00.123Z",
            30_000,
            3,
        );
        dirty.git_commit = Some("4de3064e4f01113e365574e6b45b3ef40e128372".into());
        dirty.git_dirty = Some(true);
        dirty.shake = Some("pin=one-core,cpu-load=1".into());
        let mut clean = row(
            "20261129-090000-0000000000c0ffee",
            "2026-11-29T09:00:00Z",
            12,
            12,
        );
        clean.git_commit = Some("d77b11e24378403589a79617e277d8ab4f9a99fa".into());
        clean.git_dirty = Some(false);
        clean.kind = "hunt".into();
        clean.shake = Some("6 arms".into());
        let mut killed = row(
            "20261128-180000-00000000000f00d5",
            "2026-11-28T18:00:00",
            0,
            0,
        );
        killed.ended_at = None;
        killed.rerun_of = Some("20261127-080000-00000000000000aa".into());
        killed.shake = Some("cpu-load=2:50,mem-load=1,jitter=1ms,noise=0.5".into());
        killed.command = vec![
            "sh".into(),
            "-c".into(),
            "printf '\x1b[31m' && exec ./a/very/long/path/to/some/test/binary --flag".into(),
        ];
        vec![dirty, clean, killed]
    }

    #[test]
    fn text_view() {
        insta::assert_snapshot!(text(&sample_rows(), Path::new("/nonexistent/history.db")));
    }

    #[test]
    fn an_empty_history_names_the_database() {
        assert_eq!(
            text(&[], Path::new("/nonexistent/history.db")),
            "no campaigns recorded in /nonexistent/history.db\n"
        );
    }

    #[test]
    fn json_view_is_one_array_without_the_stored_summary() {
        let json = json(&sample_rows()).expect("encode");
        assert!(!json.contains('\n'));
        let value: serde_json::Value = serde_json::from_str(&json).expect("parse");
        let rows = value.as_array().expect("array");
        assert_eq!(rows.len(), 3);
        assert_eq!(rows[0]["runs"], 30_000);
        assert_eq!(rows[0]["git_dirty"], true);
        assert_eq!(rows[2]["ended_at"], serde_json::Value::Null);
        assert!(rows[0].get("summary").is_none());
    }

    /// A finished campaign of 40 runs with one failure, fixed in every detail.
    fn sample_summary() -> Summary {
        let mut tally = Tally::new();
        let signature = Signature {
            id: "0123456789ab".into(),
            text: "exit 2: FAILURE: No signal received".into(),
        };
        for index in 0..40u64 {
            let failed = index == 17;
            tally.observe(&Observation {
                index,
                duration: Duration::from_millis(2 + index % 3),
                verdict: if failed {
                    Verdict::Fail(FailureKind::Exit)
                } else {
                    Verdict::Pass
                },
                signature: failed.then_some(&signature),
                example: None,
                example_line: None,
                leaked_pipes: false,
                kept_pid: None,
            });
        }
        tally.summary(SummaryContext {
            campaign: "20261130-122000-00000000deadbeef".into(),
            command: vec!["./ctrl_handler_test".into()],
            started_at: "2026-11-30T12:20:00Z".into(),
            elapsed: Duration::from_secs(2),
            stop_reason: "40 runs done".into(),
            interrupted: false,
            cancelled: 0,
            out_dir: PathBuf::from("/nonexistent/flakehunt-out"),
            still_kept: Vec::new(),
        })
    }

    /// The spec of a shaken, scripted campaign with every option set, as the store reads it.
    fn sample_spec() -> Value {
        serde_json::json!({
            "jobs": 4, "runs": 30000, "duration_s": 600.0, "max_failures": 3,
            "timeout_s": 30.0, "timeout_signal": "SIGABRT", "grace_s": 2.0, "on_timeout": "kill",
            "fail_if": "panic", "ignore": null,
            "env": ["GOMAXPROCS=2", "NAME=\u{1b}[31mred"],
            "cwd": "/src/project", "keep_passing": false,
            "shake": "pin=one-core,cpu-load=1", "parts": null, "seed": 7, "stacks": false,
            "script": ["wait-output \"ready\"", "sleep 0us..2.0ms", "signal SIGINT"],
            "target": {"runner": "cargo", "test": "pool::tests::keeps_order", "build": null},
            "suite": null, "kind": "run", "rerun_of": null,
            "recipe": ["--jobs=4", "--", "./t"],
            "command": ["target/debug/deps/pool-1234"], "host": "builder-7",
        })
    }

    #[test]
    fn show_text_view() {
        let summary = sample_summary();
        let rows = sample_rows();
        insta::assert_snapshot!(show_text(&summary, &rows[0], &sample_spec()));
        let plain = show_text(&summary, &rows[2], &Value::Null);
        assert!(plain.ends_with(
            "  recorded   2026-11-28T18:00:00 on builder-7, commit not in a git repository\n"
        ));
        assert!(plain.contains("  kind       run (rerun of 20261127-080000-00000000000000aa)\n"));
        assert!(plain.contains("  stop       none (until interrupted)\n"));
    }

    #[test]
    fn show_text_of_a_hunt_lists_each_arm_and_offers_no_rerun() {
        let mut spec = sample_spec();
        spec["shake"] = Value::Null;
        spec["recipe"] = Value::Null;
        spec["parts"] = serde_json::json!([
            {"label": "plain", "shake": null},
            {"label": "pin=one-core", "shake": "pin=one-core"},
        ]);
        let shown = show_text(&sample_summary(), &sample_rows()[1], &spec);
        assert!(
            shown.contains("  shake      by part: plain | pin=one-core\n"),
            "{shown}"
        );
        assert!(!shown.contains("flakehunt rerun"));
    }

    #[test]
    fn show_json_carries_the_spec() {
        let json = show_json(&sample_summary(), &sample_rows()[1], &sample_spec()).expect("json");
        let value: Value = serde_json::from_str(&json).expect("parse");
        assert_eq!(value["spec"]["kind"], "hunt");
        assert_eq!(value["spec"]["shake"], "pin=one-core,cpu-load=1");
        assert_eq!(value["spec"]["script"][2], "signal SIGINT");
        assert_eq!(value["runs"], 40);
    }
}
