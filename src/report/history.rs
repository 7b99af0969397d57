//! The history views: the table of past campaigns (`flakehunt history`) and one stored
//! campaign's summary with where and when it was recorded (`flakehunt show`).

use std::fmt::Write;
use std::path::Path;

use anyhow::Context;

use crate::analysis::summary::Summary;
use crate::report::format::format_rate;
use crate::report::{summary, thousands};
use crate::store::query::CampaignRow;
use crate::text::escape_line;

/// Widest command shown in the campaign table, in characters.
const COMMAND_CHARS: usize = 60;

/// The campaign list as one line of JSON: an array of campaign rows, newest first.
pub fn json(rows: &[CampaignRow]) -> anyhow::Result<String> {
    serde_json::to_string(rows).context("could not encode the campaign list as JSON")
}

/// The campaign list as a table, newest first; `db` names the history when it is empty.
pub fn text(rows: &[CampaignRow], db: &Path) -> String {
    let mut out = String::new();
    if rows.is_empty() {
        let _ = writeln!(out, "no campaigns recorded in {}", db.display());
        return out;
    }
    let _ = writeln!(
        out,
        "{:<22} {:<20} {:>9} {:>8} {:>9} {:<10} command",
        "id", "started", "runs", "failures", "rate", "commit"
    );
    for row in rows {
        let _ = write_row(&mut out, row);
    }
    out
}

fn write_row(out: &mut String, row: &CampaignRow) -> std::fmt::Result {
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
    let command = escape_line(row.command.join(" ").as_bytes(), COMMAND_CHARS);
    writeln!(
        out,
        "{:<22} {:<20} {:>9} {:>8} {:>9} {:<10} {command}{state}",
        row.id,
        row.started_at
            .get(..19)
            .unwrap_or(&row.started_at)
            .replace('T', " "),
        thousands(row.runs),
        thousands(row.failures),
        rate,
        commit
    )
}

/// One campaign for `flakehunt show --json`: its summary, exactly as [`summary::json`].
pub fn show_json(summary: &Summary) -> anyhow::Result<String> {
    summary::json(summary)
}

/// One campaign for `flakehunt show`: its summary, then when, where and at which commit it
/// was recorded.
pub fn show_text(summary: &Summary, row: &CampaignRow) -> String {
    let mut out = summary::text(summary);
    let commit = match (&row.git_commit, row.git_dirty) {
        (Some(commit), Some(true)) => format!("{commit} (dirty)"),
        (Some(commit), _) => commit.clone(),
        (None, _) => "not in a git repository".to_string(),
    };
    let _ = writeln!(
        out,
        "  recorded   {} on {}, commit {}",
        row.started_at,
        row.host.as_deref().unwrap_or("?"),
        commit
    );
    out
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
        let mut clean = row(
            "20261129-090000-0000000000c0ffee",
            "2026-11-29T09:00:00Z",
            12,
            12,
        );
        clean.git_commit = Some("d77b11e24378403589a79617e277d8ab4f9a99fa".into());
        clean.git_dirty = Some(false);
        let mut killed = row(
            "20261128-180000-00000000000f00d5",
            "2026-11-28T18:00:00",
            0,
            0,
        );
        killed.ended_at = None;
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

    #[test]
    fn show_text_view() {
        let summary = sample_summary();
        let rows = sample_rows();
        insta::assert_snapshot!(show_text(&summary, &rows[0]));
        let plain = show_text(&summary, &rows[2]);
        assert!(plain.ends_with(
            "  recorded   2026-11-28T18:00:00 on builder-7, commit not in a git repository\n"
        ));
    }
}
