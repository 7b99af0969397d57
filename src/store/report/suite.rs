//! A suite campaign's tests for a report: the flake table over the report's campaigns, sorted
//! by failure rate, and the failed runs that no failed test accounts for (a crash, a hang).

use std::collections::HashMap;

use anyhow::{Context, Result};
use rusqlite::params;
use serde::Serialize;

use super::CampaignFacts;
use crate::analysis::per_test::{TestRow, TestSignature};
use crate::analysis::stats::clopper_pearson;
use crate::analysis::summary::CONFIDENCE;
use crate::store::per_test;
use crate::store::Store;

/// Failed runs of one signature in which no test failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OutsideFailure {
    /// Signature id, if the run has one.
    pub id: Option<String>,
    /// Signature text.
    pub text: String,
    /// Runs.
    pub count: u64,
}

/// The per-test rows of the campaigns, merged when there are several, sorted by rate.
pub fn tests(store: &Store, campaigns: &[CampaignFacts]) -> Result<Vec<TestRow>> {
    let mut all = Vec::new();
    for campaign in campaigns {
        // The summary's rows carry each test's first failing run; a campaign cut short before
        // its summary was written has its rows in the history alone.
        let rows = if campaign.summary.tests.is_empty() {
            per_test::campaign_rows(store, &campaign.row.id)?
        } else {
            campaign.summary.tests.clone()
        };
        all.push(rows);
    }
    let mut rows = if all.len() == 1 {
        all.pop().unwrap_or_default()
    } else {
        merge(all)
    };
    sort_by_rate(&mut rows);
    Ok(rows)
}

/// One row per test over several campaigns: counts added, main signature by its total count.
/// A first failing run names a run of one campaign, so it is dropped.
fn merge(tables: Vec<Vec<TestRow>>) -> Vec<TestRow> {
    let mut merged: HashMap<String, (TestRow, HashMap<String, TestSignature>)> = HashMap::new();
    for row in tables.into_iter().flatten() {
        let entry = merged.entry(row.test.clone()).or_insert_with(|| {
            let mut empty = row.clone();
            (empty.runs, empty.failures, empty.skipped) = (0, 0, 0);
            empty.first_failure = None;
            empty.signature = None;
            (empty, HashMap::new())
        });
        entry.0.runs += row.runs;
        entry.0.failures += row.failures;
        entry.0.skipped += row.skipped;
        if let Some(signature) = row.signature {
            entry
                .1
                .entry(signature.id.clone())
                .and_modify(|s| s.count += signature.count)
                .or_insert(signature);
        }
    }
    merged
        .into_values()
        .map(|(mut row, signatures)| {
            row.rate = clopper_pearson(row.failures, row.runs, CONFIDENCE);
            row.signature = signatures
                .into_values()
                .max_by(|a, b| a.count.cmp(&b.count).then(b.id.cmp(&a.id)));
            row
        })
        .collect()
}

/// Highest failure rate first, then most failures, then by name; tests that only ever
/// skipped come last.
pub fn sort_by_rate(rows: &mut [TestRow]) {
    rows.sort_by(|a, b| {
        (a.runs == 0)
            .cmp(&(b.runs == 0))
            .then(b.rate.estimate.total_cmp(&a.rate.estimate))
            .then(b.failures.cmp(&a.failures))
            .then(a.test.cmp(&b.test))
    });
}

/// Failed runs of the campaigns in which no test failed, by signature, most first; empty for
/// campaigns without per-test results.
pub fn outside_tests(store: &Store, campaigns: &[CampaignFacts]) -> Result<Vec<OutsideFailure>> {
    let mut counts: HashMap<Option<String>, (String, u64)> = HashMap::new();
    let mut statement = store
        .conn()
        .prepare(
            "SELECT r.signature, s.text, count(*) FROM runs r
             LEFT JOIN signatures s ON s.id = r.signature
             WHERE r.campaign = ?1 AND r.verdict = 'fail'
               AND EXISTS (SELECT 1 FROM test_results t WHERE t.campaign = ?1)
               AND NOT EXISTS (SELECT 1 FROM test_results t
                               WHERE t.campaign = ?1 AND t.run = r.idx AND t.status = 'fail')
             GROUP BY r.signature",
        )
        .context("cannot read the failed runs without a failed test")?;
    for campaign in campaigns {
        let mut rows = statement.query(params![campaign.row.id])?;
        while let Some(row) = rows.next()? {
            let id: Option<String> = row.get(0)?;
            let text: Option<String> = row.get(1)?;
            let count: i64 = row.get(2)?;
            let text = text.or_else(|| id.clone()).unwrap_or_default();
            counts.entry(id).or_insert((text, 0)).1 += count.max(0) as u64;
        }
    }
    let mut outside: Vec<OutsideFailure> = counts
        .into_iter()
        .map(|(id, (text, count))| OutsideFailure { id, text, count })
        .collect();
    outside.sort_by(|a, b| b.count.cmp(&a.count).then(a.text.cmp(&b.text)));
    Ok(outside)
}
