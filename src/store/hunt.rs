//! Recording `flakehunt hunt` results; the newest one's best arm is what `--shake best` reads
//! back (`query::best_shake`), and the campaigns it ran are what its report gathers.

use anyhow::{Context, Result};
use rusqlite::params;

use crate::analysis::hunt::ArmResult;
use crate::store::Store;

/// A campaign a hunt ran: its id and the arm (shake) it ran for.
pub type HuntCampaign = (String, String);

/// Remember a hunt: its command, its best arm, every arm's result and the campaigns it ran.
/// Returns the hunt's id.
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
                "INSERT INTO hunts (created_at, command, best, result) VALUES (?1, ?2, ?3, ?4)",
                params![crate::store::now_rfc3339(), command, best, result],
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
            speedup: None,
            speedup_low: None,
            signatures: BTreeMap::new(),
            elapsed_s: 1.5,
        }
    }

    #[test]
    fn the_newest_hunt_gives_the_best_shake() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut store = Store::open(&dir.path().join("h.db")).expect("open");
        assert!(best_shake(&store).is_err(), "no hunt yet");
        let command = ["./test".to_string(), "-v".to_string()];
        let batches = [("c-1".to_string(), "nice=5".to_string())];
        let first = record_hunt(
            &mut store,
            &command,
            "nice=5",
            &[arm("nice=5", 10, 2)],
            &batches,
        )
        .expect("first");
        let second = record_hunt(
            &mut store,
            &command,
            "go-procs=1",
            &[arm("go-procs=1", 10, 3)],
            &[],
        )
        .expect("second");
        assert!(second > first);
        let linked: String = store
            .conn()
            .query_row(
                "SELECT arm FROM hunt_campaigns WHERE hunt = ?1 AND campaign = 'c-1'",
                [first],
                |row| row.get(0),
            )
            .expect("campaign linked");
        assert_eq!(linked, "nice=5");
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
    }
}
