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

/// Test names that must stay inert: markup, a quote that ends an attribute, a bidi override, a
/// terminal escape and what invalid UTF-8 becomes.
pub const HOSTILE_TESTS: [&str; 4] = [
    "flaky::<script>alert(1)</script>",
    "bad::\"><img src=x onerror=alert(2)>",
    "also::</pre>\u{202e}txt",
    "skip::\u{1b}[31m\u{fffd}",
];

/// A suite campaign of 10 runs: the first hostile test fails in runs 2 and 5 (flaky), the
/// second in every run, the third passes, the fourth is skipped; run 6 fails with no failed
/// test (a crash).
pub fn suite_campaign(store: &mut Store, dir: &Path, id: &str, start: &str) {
    campaign(store, id, &["cargo", "test", HOSTILE], start, None);
    store
        .write(|conn| {
            conn.execute(
                "UPDATE campaigns SET spec = ?2 WHERE id = ?1",
                params![id, r#"{"jobs":1,"suite":{"kind":"cargo","dir":"/src"}}"#],
            )
        })
        .expect("spec");
    let plan: Vec<Run<'_>> = (0..10u64)
        .map(|idx| {
            let signature = if idx == 6 {
                ("5ca1ab1e0006", "exit 139: segfault <script>x</script>")
            } else {
                ("5ca1ab1e0005", HOSTILE)
            };
            Run {
                idx,
                at_ms: idx * 10,
                duration_us: 2_000,
                verdict: "fail",
                signature: Some(signature),
                log: Some(b"log \xff\xfe <script>alert(3)</script>"),
            }
        })
        .collect();
    runs(store, id, dir, &plan);
    store
        .write(|conn| {
            for run in (0..10i64).filter(|run| *run != 6) {
                let flaky = if run == 2 || run == 5 { "fail" } else { "pass" };
                for (test, status) in [
                    (HOSTILE_TESTS[0], flaky),
                    (HOSTILE_TESTS[1], "fail"),
                    (HOSTILE_TESTS[2], "pass"),
                    (HOSTILE_TESTS[3], "skip"),
                ] {
                    let signature = (status == "fail").then_some("5ca1ab1e0007");
                    conn.execute(
                        "INSERT INTO test_results (campaign, run, test, status, signature, message)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                        params![id, run, test, status, signature, signature.map(|_| HOSTILE)],
                    )?;
                }
            }
            conn.execute(
                "INSERT OR IGNORE INTO signatures (id, text, first_seen) VALUES (?1, ?2, ?3)",
                params!["5ca1ab1e0007", format!("fail: {HOSTILE}"), start],
            )?;
            Ok(())
        })
        .expect("test results");
}

/// A finished bisection over `good` and 5 commits with hostile subjects: three probes, each a
/// hostile campaign in `dir`, then commit 4 found untestable; the culprit commit 3 at 99.5%.
pub fn bisection(store: &mut Store, dir: &Path) -> i64 {
    use crate::analysis::bisect::{Candidate, ProbeRecord, ProbeSignature, TargetRecord};
    let hashes: Vec<String> = (0..6).map(|i| format!("{i}{}", "a".repeat(39))).collect();
    let path: Vec<serde_json::Value> = hashes
        .iter()
        .enumerate()
        .map(|(i, hash)| {
            serde_json::json!({"hash": hash, "subject": format!("commit {i} {HOSTILE}"),
                "author": HOSTILE, "date": "2026-01-01T00:00:00Z"})
        })
        .collect();
    let spec = serde_json::json!({"command": ["./t.sh", HOSTILE], "build": "make"});
    let path = serde_json::Value::Array(path);
    let id = crate::store::bisect::create_bisection(
        store,
        &crate::store::bisect::NewBisection {
            key: "k",
            repo: "/repo",
            good: &hashes[0],
            bad: &hashes[5],
            spec: &spec,
            path: &path,
        },
    )
    .expect("bisection");
    let target = TargetRecord {
        id: "5ca1ab1e0001".into(),
        text: HOSTILE.into(),
    };
    crate::store::bisect::set_target(store, id, &target).expect("target");
    let candidate = |k: usize, probability: f64| Candidate {
        commit: hashes[k].clone(),
        probability,
    };
    let posteriors = [
        vec![],
        vec![candidate(3, 0.4), candidate(4, 0.3)],
        vec![candidate(3, 0.995), candidate(2, 0.004)],
    ];
    for (seq, (commit, posterior)) in [5usize, 2, 3].into_iter().zip(posteriors).enumerate() {
        let campaign_id = format!("probe-{seq}");
        let probe_dir = dir.join(&campaign_id);
        std::fs::create_dir_all(&probe_dir).expect("dir");
        let start = format!("2026-01-02T03:0{seq}:05Z");
        hostile_campaign(store, &probe_dir, &campaign_id, &start);
        let probe = ProbeRecord {
            seq: seq as u64,
            commit: hashes[commit].clone(),
            campaign: Some(campaign_id),
            runs: 200,
            passes: 192,
            signatures: vec![ProbeSignature {
                id: target.id.clone(),
                text: HOSTILE.into(),
                count: if commit == 2 { 0 } else { 7 },
                ignored: false,
            }],
            target_failures: 0,
            untestable: None,
            posterior,
        };
        crate::store::bisect::record_probe(store, id, &probe).expect("probe");
    }
    let untestable = ProbeRecord {
        seq: 3,
        commit: hashes[4].clone(),
        campaign: None,
        runs: 0,
        passes: 0,
        signatures: Vec::new(),
        target_failures: 0,
        untestable: Some(format!("the build failed: {HOSTILE}")),
        posterior: vec![candidate(3, 0.995)],
    };
    crate::store::bisect::record_probe(store, id, &untestable).expect("probe");
    let commits: Vec<serde_json::Value> = hashes
        .iter()
        .enumerate()
        .map(|(i, hash)| {
            serde_json::json!({"hash": hash, "subject": format!("commit {i} {HOSTILE}"),
                "author": HOSTILE, "date": "2026-01-01T00:00:00Z",
                "runs": if [2, 3, 5].contains(&i) { 200 } else { 0 },
                "failures": if i == 3 || i == 5 { 7 } else { 0 },
                "clean": if [2, 3, 5].contains(&i) { 193 } else { 0 }, "other": 0,
                "untestable": (i == 4).then(|| format!("the build failed: {HOSTILE}")),
                "posterior": if i == 3 { 0.995 } else { 0.001 }})
        })
        .collect();
    let result = serde_json::json!({
        "confidence": 0.99, "commits": commits, "rate": 0.035, "runs_to_confirm": null,
        "decision": {"kind": "culprit", "commit": 3, "probability": 0.995},
    });
    crate::store::bisect::set_status(store, id, "culprit", &result).expect("status");
    id
}
