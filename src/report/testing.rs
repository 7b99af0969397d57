//! Fixed report data for the views' snapshot tests: a campaign of 3,000 runs with two failure
//! modes (one with hostile text) and an ignored one, and the same as a hunt and as a sweep.

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::analysis::hunt::ArmResult;
use crate::analysis::series::{RunPoint, SeriesBuilder, SeriesExtent};
use crate::analysis::stats::clopper_pearson;
use crate::analysis::window::design::grid;
use crate::analysis::window::{map_window, SweepSample};
use crate::report::summary::tests::sample_summary;
use crate::store::query::CampaignRow;
use crate::store::report::{
    CampaignFacts, Captured, Cluster, Example, HuntRecord, ReportData, RunRef, Subject, Totals,
    WindowRecord,
};

/// Text that must stay inert in every format.
pub const HOSTILE: &str = "<script>alert(1)</script></pre>\"><img src=x onerror=alert(2)>`|";

fn run(index: u64) -> RunRef {
    RunRef {
        campaign: "20261130-122000-00000000deadbeef".into(),
        run: index,
        seq: index,
        started_at: format!("2026-11-30T12:20:{:02}.000Z", index % 60),
    }
}

fn cluster(
    id: &str,
    text: &str,
    kind: &str,
    count: u64,
    runs: (u64, u64),
    ignored: bool,
) -> Cluster {
    let mut output = format!("starting\n{HOSTILE}\n").into_bytes();
    output.extend_from_slice(b"binary \xff\xfe here\nFAILURE: No signal received\n");
    Cluster {
        id: id.into(),
        text: text.into(),
        kind: kind.into(),
        ignored,
        count,
        first: run(runs.0),
        last: run(runs.1),
        example: Some(Example {
            run: run(runs.0),
            log: PathBuf::from(format!("/nonexistent/out/run-{:06}.log", runs.0)),
            telling_line: Some("FAILURE: No signal received".into()),
            output: Some(Captured::whole(output)),
            missing: None,
            attachments: Vec::new(),
        }),
    }
}

/// The campaign report.
pub fn sample_report() -> ReportData {
    let summary = sample_summary();
    let mut row = CampaignRow::fixed(&summary.campaign, &summary.started_at);
    row.command = vec!["./ctrl_handler_test".into(), HOSTILE.into()];
    row.git_commit = Some("cf2396c0ffee".into());
    row.git_dirty = Some(true);
    row.host = Some("builder-7".into());
    let mut builder = SeriesBuilder::new(SeriesExtent {
        runs: 3000,
        span_s: 12.0,
        min_duration_s: 0.001,
        max_duration_s: 0.0025,
    });
    for seq in 0..3000u64 {
        let failed = matches!(seq, 17 | 400 | 1200 | 2999);
        builder.add(&RunPoint {
            seq,
            at_s: seq as f64 * 0.004,
            duration_s: 0.001 + (seq % 7) as f64 * 0.00025,
            failed,
            cluster: failed.then_some(usize::from(seq == 400)),
        });
    }
    ReportData {
        subject: Subject::Campaign(summary.campaign.clone()),
        totals: Totals {
            runs: 3000,
            passes: 2995,
            failures: 4,
            timeouts: 0,
            ignored: 1,
            cancelled: 0,
            rate: summary.rate,
            rate_upper_bound: summary.rate_upper_bound,
            confidence: 0.95,
            elapsed_s: 12.0,
        },
        clusters: vec![
            cluster(
                "0123456789ab",
                &format!("exit 2: {HOSTILE}"),
                "exit",
                3,
                (17, 2999),
                false,
            ),
            cluster(
                "ba9876543210",
                "signal SIGSEGV: \u{fffd} garbage",
                "signal",
                1,
                (400, 400),
                false,
            ),
            cluster(
                "ffff00000000",
                "exit 1: flaky network",
                "exit",
                1,
                (900, 900),
                true,
            ),
        ],
        series: builder.finish(),
        failed_runs: Vec::new(),
        failed_runs_left_out: 0,
        campaigns: vec![CampaignFacts {
            row,
            summary,
            cwd: Some("/src/project".into()),
            spec: serde_json::json!({"jobs": 2, "shake": "pin=one-core"}),
            arm: None,
        }],
        window: None,
        hunt: None,
        bisect: None,
        tests: Vec::new(),
        outside_tests: Vec::new(),
        verdict: None,
    }
}

/// The same runs as a hunt over two arms.
pub fn sample_hunt() -> ReportData {
    let mut data = sample_report();
    let arm = |shake: &str, runs, failures, speedup: Option<(f64, f64)>| ArmResult {
        shake: shake.into(),
        runs,
        failures,
        rate: clopper_pearson(failures, runs, 0.95),
        speedup: speedup.map(|s| s.0),
        speedup_low: speedup.map(|s| s.1),
        speedup_high: speedup.map(|s| s.0),
        signatures: BTreeMap::new(),
        elapsed_s: 6.0,
        per_second: crate::analysis::hunt::poisson_rate(failures, 6.0, 0.95),
    };
    data.subject = Subject::Hunt(3);
    data.hunt = Some(HuntRecord {
        id: 3,
        created_at: "2026-11-30T12:21:00.000Z".into(),
        command: vec!["./ctrl_handler_test".into()],
        best: Some("pin=one-core".into()),
        arms: vec![
            arm("plain", 2000, 0, None),
            arm("pin=one-core", 1000, 4, Some((f64::INFINITY, 2.5))),
        ],
    });
    data
}

/// The same runs as a window sweep.
pub fn sample_window() -> ReportData {
    let mut data = sample_report();
    let samples: Vec<SweepSample> = (0..200)
        .map(|i| {
            let delay = i as f64 * 0.0001;
            SweepSample {
                requested_s: delay,
                achieved_s: delay + 0.00002,
                failed: (0.004..0.009).contains(&delay) && i % 3 != 0,
            }
        })
        .collect();
    data.subject = Subject::Window(data.campaigns[0].row.id.clone());
    data.window = Some(WindowRecord {
        id: data.campaigns[0].row.id.clone(),
        created_at: "2026-11-30T12:21:00.000Z".into(),
        sweep: "sleep 0us..20ms".into(),
        map: map_window(&samples, &grid(0.0, 0.02, 20, false)),
    });
    data
}
