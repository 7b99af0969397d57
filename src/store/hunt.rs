//! Recording `flakehunt hunt` results; the newest one's best arm is what `--shake best` reads
//! back (`query::best_shake`).

use anyhow::{Context, Result};
use rusqlite::params;

use crate::analysis::hunt::ArmResult;
use crate::store::Store;

/// Remember a hunt: its command, its best arm and every arm's result.
pub fn record_hunt(
    store: &mut Store,
    command: &[String],
    best: &str,
    arms: &[ArmResult],
) -> Result<()> {
    let result = serde_json::to_string(arms).context("encode arms")?;
    let command = serde_json::to_string(command).context("encode command")?;
    let path = store.path().to_path_buf();
    store
        .write(|conn| {
            conn.execute(
                "INSERT INTO hunts (created_at, command, best, result) VALUES (?1, ?2, ?3, ?4)",
                params![crate::store::now_rfc3339(), command, best, result],
            )
        })
        .with_context(|| format!("could not record the hunt in {}", path.display()))?;
    Ok(())
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
        record_hunt(&mut store, &command, "nice=5", &[arm("nice=5", 10, 2)]).expect("first");
        record_hunt(
            &mut store,
            &command,
            "go-procs=1",
            &[arm("go-procs=1", 10, 3)],
        )
        .expect("second");
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
