//! Recording `flakehunt hunt` results (the newest one's best arm is what `--shake best` reads
//! back, `query::best_shake`; the campaign it ran as is what its report gathers), and reading
//! back the parts of a campaign made of parts: a hunt's arms with their stored result, or any
//! campaign's per-part tallies.

use anyhow::{Context, Result};
use rusqlite::{params, OptionalExtension};

use crate::analysis::hunt::ArmResult;
use crate::store::Store;

/// A campaign a hunt ran: its id and the arms (shakes) it ran, `;`-separated.
pub type HuntCampaign = (String, String);

/// Remember a hunt: its command, its best arm, every arm's result and the campaign it ran as
/// (the first of `campaigns`, also linked for its report). Returns the hunt's id.
pub fn record_hunt(
    store: &mut Store,
    command: &[String],
    best: &str,
    arms: &[ArmResult],
    campaigns: &[HuntCampaign],
) -> Result<i64> {
    let result = serde_json::to_string(arms).context("encode arms")?;
    let command = serde_json::to_string(command).context("encode command")?;
    let path = store.path().to_path_buf();
    store
        .write(|conn| {
            conn.execute(
                "INSERT INTO hunts (created_at, command, best, result, campaign)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![
                    crate::store::now_rfc3339(),
                    command,
                    best,
                    result,
                    campaigns.first().map(|(id, _)| id.as_str())
                ],
            )?;
            let hunt = conn.last_insert_rowid();
            let mut insert = conn.prepare(
                "INSERT OR IGNORE INTO hunt_campaigns (hunt, campaign, arm) VALUES (?1, ?2, ?3)",
            )?;
            for (campaign, arm) in campaigns {
                insert.execute(params![hunt, campaign, arm])?;
            }
            Ok(hunt)
        })
        .with_context(|| format!("could not record the hunt in {}", path.display()))
}

/// One part of a campaign with the runs recorded for it.
#[derive(Debug, Clone, PartialEq)]
pub struct PartTally {
    /// Its label.
    pub label: String,
    /// Its perturbation, if any.
    pub shake: Option<String>,
    /// Runs recorded.
    pub runs: u64,
    /// Failed runs among them.
    pub failures: u64,
    /// Sum of their durations, microseconds.
    pub run_time_us: u64,
}

/// The parts of campaign `id`, in order, with their runs so far; empty for a campaign without
/// parts.
pub fn parts(store: &Store, id: &str) -> Result<Vec<PartTally>> {
    let mut statement = store.conn().prepare(
        "SELECT p.label, p.shake, COUNT(r.idx), COALESCE(SUM(r.verdict = 'fail'), 0),
                COALESCE(SUM(r.duration_us), 0)
         FROM parts p LEFT JOIN runs r ON r.campaign = p.campaign AND r.part = p.idx
         WHERE p.campaign = ?1 GROUP BY p.idx ORDER BY p.idx",
    )?;
    let rows = statement.query_map(params![id], |row| {
        Ok(PartTally {
            label: row.get(0)?,
            shake: row.get(1)?,
            runs: row.get::<_, i64>(2)?.max(0) as u64,
            failures: row.get::<_, i64>(3)?.max(0) as u64,
            run_time_us: row.get::<_, i64>(4)?.max(0) as u64,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
}

/// The stored result of the hunt that ran as campaign `id`: its best arm and every arm.
pub fn hunt_of(store: &Store, id: &str) -> Result<Option<(String, Vec<ArmResult>)>> {
    let row: Option<(String, String)> = store
        .conn()
        .query_row(
            "SELECT best, result FROM hunts WHERE campaign = ?1 ORDER BY id DESC LIMIT 1",
            params![id],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .optional()?;
    let Some((best, result)) = row else {
        return Ok(None);
    };
    // A result this build cannot read (written by another version) shows as parts instead.
    Ok(serde_json::from_str(&result).ok().map(|arms| (best, arms)))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::analysis::stats::clopper_pearson;
    use crate::store::query::best_shake;

    fn arm(shake: &str, runs: u64, failures: u64) -> ArmResult {
        ArmResult {
            shake: shake.into(),
            runs,
            failures,
            rate: clopper_pearson(failures, runs, 0.95),
            elapsed_s: 1.5,
            per_second: crate::analysis::hunt::poisson_rate(failures, 1.5, 0.95),
            speedup: None,
            speedup_low: None,
            speedup_high: None,
            signatures: BTreeMap::new(),
        }
    }

    #[test]
    fn the_newest_hunt_gives_the_best_shake() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut store = Store::open(&dir.path().join("h.db")).expect("open");
        assert!(best_shake(&store).is_err(), "no hunt yet");
        let command = ["./test".to_string(), "-v".to_string()];
        let first = record_hunt(&mut store, &command, "nice=5", &[arm("nice=5", 10, 2)], &[])
            .expect("first");
        let second = record_hunt(
            &mut store,
            &command,
            "go-procs=1",
            &[arm("go-procs=1", 10, 3)],
            &[("c-1".to_string(), "go-procs=1".to_string())],
        )
        .expect("second");
        assert!(second > first);
        let linked: String = store
            .conn()
            .query_row(
                "SELECT arm FROM hunt_campaigns WHERE hunt = ?1 AND campaign = 'c-1'",
                [second],
                |row| row.get(0),
            )
            .expect("campaign linked");
        assert_eq!(linked, "go-procs=1");
        assert_eq!(best_shake(&store).expect("best"), "go-procs=1");

        let (stored_command, result): (String, String) = store
            .conn()
            .query_row(
                "SELECT command, result FROM hunts ORDER BY id DESC LIMIT 1",
                [],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .expect("row");
        assert_eq!(stored_command, r#"["./test","-v"]"#);
        let arms: serde_json::Value = serde_json::from_str(&result).expect("json");
        assert_eq!(arms[0]["shake"], "go-procs=1");
        assert_eq!(arms[0]["failures"], 3);
        let (best, arms) = hunt_of(&store, "c-1").expect("query").expect("stored");
        assert_eq!((best.as_str(), arms[0].runs), ("go-procs=1", 10));
        assert_eq!(hunt_of(&store, "c-2").expect("query"), None);
    }

    #[test]
    fn parts_are_tallied_from_their_runs() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(&dir.path().join("h.db")).expect("open");
        let conn = store.conn();
        conn.execute_batch(
            "INSERT INTO campaigns (id, started_at, command, spec) VALUES ('c', 't', '[]', '{}');
             INSERT INTO parts VALUES ('c', 0, 'plain', NULL), ('c', 1, 'pin', 'pin=one-core');
             INSERT INTO runs (campaign, idx, started_at, duration_us, verdict, timed_out, part)
             VALUES ('c', 0, 't', 10, 'pass', 0, 0), ('c', 1, 't', 20, 'fail', 0, 0),
                    ('c', 2, 't', 5, 'ignored', 0, 0);",
        )
        .expect("rows");
        let parts = parts(&store, "c").expect("parts");
        assert_eq!(parts.len(), 2);
        assert_eq!(
            (parts[0].runs, parts[0].failures, parts[0].run_time_us),
            (3, 1, 35)
        );
        assert_eq!(parts[1].shake.as_deref(), Some("pin=one-core"));
        assert_eq!((parts[1].runs, parts[1].failures), (0, 0));
        assert!(super::parts(&store, "none").expect("parts").is_empty());
    }
}
