//! Per-test results in the history: written with their runs, read back as the flake table of
//! one campaign or as per-test rates across campaigns, and as the flaky tests of a campaign
//! that `--only-flaky` hunts one by one.

use anyhow::{Context, Result};
use rusqlite::{params, Transaction};

use crate::analysis::per_test::{TestOutcome, TestRow, TestTally};
use crate::record::Signature;
use crate::store::Store;

/// Insert the per-test results of run `run` (and the signatures of its failed tests), inside
/// the caller's transaction.
pub(crate) fn insert(
    transaction: &Transaction<'_>,
    campaign: &str,
    run: u64,
    started_at: &str,
    tests: &[TestOutcome],
) -> Result<()> {
    if tests.is_empty() {
        return Ok(());
    }
    let mut insert = transaction.prepare_cached(
        "INSERT OR REPLACE INTO test_results (campaign, run, test, status, signature, message)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?;
    let mut signature = transaction.prepare_cached(
        "INSERT OR IGNORE INTO signatures (id, text, first_seen) VALUES (?1, ?2, ?3)",
    )?;
    for test in tests {
        insert.execute(params![
            campaign,
            run as i64,
            test.name,
            test.status.as_str(),
            test.signature.as_ref().map(|s| s.id.clone()),
            test.message,
        ])?;
        if let Some(found) = &test.signature {
            signature.execute(params![found.id, found.text, started_at])?;
        }
    }
    Ok(())
}

/// The flake table of one campaign, from its stored per-test results.
pub fn campaign_rows(store: &Store, campaign: &str) -> Result<Vec<TestRow>> {
    rows(store, Some(campaign), None)
}

/// Per-test rates across every campaign, for tests whose name contains `filter` (all tests
/// without one); and how many campaigns they come from.
pub fn rates(store: &Store, filter: Option<&str>) -> Result<(Vec<TestRow>, u64)> {
    let campaigns: i64 = store
        .conn()
        .query_row(
            "SELECT count(DISTINCT campaign) FROM test_results
             WHERE ?1 IS NULL OR instr(test, ?1) > 0",
            params![filter],
            |row| row.get(0),
        )
        .context("cannot read the per-test results")?;
    Ok((rows(store, None, filter)?, campaigns.max(0) as u64))
}

fn rows(store: &Store, campaign: Option<&str>, filter: Option<&str>) -> Result<Vec<TestRow>> {
    let conn = store.conn();
    let mut tally = TestTally::new();
    let mut counts = conn.prepare(
        "SELECT test, sum(status = 'pass'), sum(status = 'fail'), sum(status = 'skip')
         FROM test_results
         WHERE (?1 IS NULL OR campaign = ?1) AND (?2 IS NULL OR instr(test, ?2) > 0)
         GROUP BY test",
    )?;
    let mut found = counts.query(params![campaign, filter])?;
    while let Some(row) = found.next()? {
        let test: String = row.get(0)?;
        let count = |i: usize| -> rusqlite::Result<u64> { Ok(row.get::<_, i64>(i)?.max(0) as u64) };
        let (passes, failures, skipped) = (count(1)?, count(2)?, count(3)?);
        tally.add_counts(&test, passes + failures, failures, skipped);
    }
    let mut signatures = conn.prepare(
        "SELECT t.test, t.signature, s.text, count(*), min(t.message)
         FROM test_results t LEFT JOIN signatures s ON s.id = t.signature
         WHERE t.status = 'fail' AND t.signature IS NOT NULL
           AND (?1 IS NULL OR t.campaign = ?1) AND (?2 IS NULL OR instr(t.test, ?2) > 0)
         GROUP BY t.test, t.signature",
    )?;
    let mut found = signatures.query(params![campaign, filter])?;
    while let Some(row) = found.next()? {
        let test: String = row.get(0)?;
        let id: String = row.get(1)?;
        let text: Option<String> = row.get(2)?;
        let count: i64 = row.get(3)?;
        let message: Option<String> = row.get(4)?;
        let signature = Signature {
            text: text.unwrap_or_else(|| id.clone()),
            id,
        };
        tally.add_signature(&test, &signature, count.max(0) as u64, message);
    }
    Ok(tally.rows())
}

/// The tests that failed in some runs of `campaign` and passed in others.
pub fn flaky_tests(store: &Store, campaign: &str) -> Result<Vec<String>> {
    Ok(campaign_rows(store, campaign)?
        .into_iter()
        .filter(TestRow::is_flaky)
        .map(|row| row.test)
        .collect())
}

/// The newest campaign with at least one flaky test, if any.
pub fn last_with_flaky(store: &Store) -> Result<Option<String>> {
    let mut statement = store.conn().prepare(
        "SELECT c.id FROM campaigns c
         WHERE EXISTS (SELECT 1 FROM test_results t WHERE t.campaign = c.id AND t.status = 'fail')
         ORDER BY c.started_at DESC, c.id DESC",
    )?;
    let ids: Vec<String> = statement
        .query_map([], |row| row.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    for id in ids {
        if !flaky_tests(store, &id)?.is_empty() {
            return Ok(Some(id));
        }
    }
    Ok(None)
}

/// How a campaign's tests were run, as recorded: its suite kind (or test target's runner), the
/// directory it ran in, and its command.
#[derive(Debug, Clone)]
pub struct TestOrigin {
    /// `cargo`, `nextest`, `go` or `pytest`.
    pub kind: String,
    /// Where the suite ran (or the target's project directory).
    pub dir: std::path::PathBuf,
    /// The command as recorded.
    pub command: Vec<String>,
}

/// The origin of campaign `id`'s tests, if it ran a suite or a test target.
pub fn origin(store: &Store, id: &str) -> Result<Option<TestOrigin>> {
    let (spec, command, cwd): (String, String, Option<String>) = store.conn().query_row(
        "SELECT spec, command, cwd FROM campaigns WHERE id = ?1",
        params![id],
        |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
    )?;
    let spec: serde_json::Value = serde_json::from_str(&spec).unwrap_or_default();
    let command: Vec<String> = serde_json::from_str(&command).unwrap_or_default();
    let (kind, dir) = if let Some(kind) = spec["suite"]["kind"].as_str() {
        (
            kind.to_string(),
            spec["suite"]["dir"].as_str().map(str::to_string),
        )
    } else if let Some(runner) = spec["target"]["runner"].as_str() {
        (runner.to_string(), cwd)
    } else {
        return Ok(None);
    };
    Ok(Some(TestOrigin {
        kind,
        dir: dir.map(std::path::PathBuf::from).unwrap_or_default(),
        command,
    }))
}
