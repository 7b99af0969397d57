//! Generated histories for the report tests: campaigns, runs, signatures and saved logs
//! written straight into a store, hostile text included where a test asks for it.

use std::path::Path;

use rusqlite::params;

use crate::store::Store;

/// Every kind of text that must stay inert in a report.
pub const HOSTILE: &str = "<script>alert(1)</script></pre>\"><img src=x onerror=alert(2)>'&amp;";

/// Hostile bytes: the text above, invalid UTF-8, controls and a terminal escape.
pub fn hostile_bytes() -> Vec<u8> {
    let mut bytes = HOSTILE.as_bytes().to_vec();
    bytes.extend_from_slice(b" \xff\xfe\xc3\x28 \x1b[31mred\x1b[0m \x00\x07 \xe2\x80\xae");
    bytes
}

/// One run row to insert.
#[derive(Debug, Clone)]
pub struct Run<'a> {
    /// Index.
    pub idx: u64,
    /// Milliseconds after 2026-01-02T03:04:05Z.
    pub at_ms: u64,
    /// Duration in microseconds.
    pub duration_us: i64,
    /// pass | fail | ignored.
    pub verdict: &'a str,
    /// Signature id and text.
    pub signature: Option<(&'a str, &'a str)>,
    /// Saved output.
    pub log: Option<&'a [u8]>,
}

/// A campaign row with `command`, started at `start` (RFC 3339).
pub fn campaign(store: &mut Store, id: &str, command: &[&str], start: &str, shake: Option<&str>) {
    let command = serde_json::to_string(command).expect("json");
    let spec = serde_json::json!({
        "jobs": 2, "timeout_s": 600.0, "timeout_signal": "SIGQUIT", "shake": shake,
        "env": [format!("KEY={HOSTILE}")], "script": ["wait-output ready", "signal SIGINT"],
    });
    store
        .write(|conn| {
            conn.execute(
                "INSERT INTO campaigns (id, started_at, ended_at, command, spec, cwd, git_commit,
                 git_dirty, host, out_dir, stop_reason)
                 VALUES (?1, ?2, ?2, ?3, ?4, '/work dir', 'cf2396c0ffee', 1, ?5, '/out', ?6)",
                params![
                    id,
                    start,
                    command,
                    spec.to_string(),
                    HOSTILE,
                    "100 runs done"
                ],
            )
        })
        .expect("campaign");
}

fn time_at(ms: u64) -> String {
    let base = humantime::parse_rfc3339("2026-01-02T03:04:05Z").expect("base");
    humantime::format_rfc3339_millis(base + std::time::Duration::from_millis(ms)).to_string()
}

/// Insert runs of `campaign`, saving each run's log in `dir` as `run-NNNNNN.log`.
pub fn runs(store: &mut Store, campaign: &str, dir: &Path, runs: &[Run<'_>]) {
    for run in runs {
        let log = run.log.map(|bytes| {
            let path = dir.join(format!("run-{:06}.log", run.idx));
            std::fs::write(&path, bytes).expect("log");
            path.display().to_string()
        });
        let kind = (run.verdict != "pass").then_some("exit");
        store
            .write(|conn| {
                if let Some((id, text)) = run.signature {
                    conn.execute(
                        "INSERT OR IGNORE INTO signatures (id, text, first_seen) VALUES (?1, ?2, ?3)",
                        params![id, text, time_at(run.at_ms)],
                    )?;
                }
                conn.execute(
                    "INSERT INTO runs (campaign, idx, started_at, duration_us, verdict, kind,
                     exit_code, timed_out, signature, telling_line, log_path)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 0, ?8, ?9, ?10)",
                    params![
                        campaign,
                        run.idx as i64,
                        time_at(run.at_ms),
                        run.duration_us,
                        run.verdict,
                        kind,
                        kind.map(|_| 2),
                        run.signature.map(|(id, _)| id),
                        run.signature.map(|_| HOSTILE),
                        log,
                    ],
                )
            })
            .expect("run");
    }
}

/// A campaign of 200 runs: run 7 and 150..=155 fail with a hostile signature, run 90 is
/// ignored, every failure's log holds hostile bytes, run 7 has stacks saved beside its log.
pub fn hostile_campaign(store: &mut Store, dir: &Path, id: &str, start: &str) {
    campaign(
        store,
        id,
        &["./test", HOSTILE, "--flag=\u{202e}x"],
        start,
        Some("pin=one-core"),
    );
    let log = hostile_bytes();
    let plan: Vec<Run<'_>> = (0..200u64)
        .map(|idx| {
            let (verdict, signature) = match idx {
                7 | 150..=155 => ("fail", Some(("5ca1ab1e0001", HOSTILE))),
                90 => ("ignored", Some(("5ca1ab1e0002", "exit 1: flaky network"))),
                _ => ("pass", None),
            };
            Run {
                idx,
                at_ms: idx * 10,
                duration_us: if verdict == "fail" {
                    9_000
                } else {
                    1_000 + idx as i64
                },
                verdict,
                signature,
                log: signature.map(|_| log.as_slice()),
            }
        })
        .collect();
    runs(store, id, dir, &plan);
    std::fs::write(dir.join("run-000007.stacks"), hostile_bytes()).expect("stacks");
}
