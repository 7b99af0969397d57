//! Stored window maps: one row per `flakehunt window` in the `windows` table, keyed by the
//! sweep's first campaign, with the map as JSON.

use anyhow::{Context, Result};

use crate::analysis::window::WindowMap;
use crate::store::{now_rfc3339, Store};

/// Record the map of a sweep of `sweep` that ran `campaigns` (replacing an earlier record with
/// the same first campaign).
pub fn save(store: &mut Store, campaigns: &[String], sweep: &str, map: &WindowMap) -> Result<()> {
    let result = serde_json::to_string(map).context("encode window")?;
    let id = campaigns.first().cloned().unwrap_or_default();
    let campaigns = serde_json::to_string(campaigns).context("encode campaigns")?;
    store
        .write(|conn| {
            conn.execute(
                "INSERT OR REPLACE INTO windows (id, created_at, sweep, campaigns, result) \
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                rusqlite::params![id, now_rfc3339(), sweep, campaigns, result],
            )
        })
        .with_context(|| format!("could not record the window in {}", store.path().display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::window::design::grid;
    use crate::analysis::window::{map_window, SweepSample};

    fn map() -> WindowMap {
        let samples: Vec<SweepSample> = (0..10)
            .map(|i| SweepSample {
                requested_s: i as f64 * 0.001,
                achieved_s: i as f64 * 0.001,
                failed: i < 4,
            })
            .collect();
        map_window(&samples, &grid(0.0, 0.009, 10, false))
    }

    fn rows(store: &Store) -> Vec<(String, String, String, String)> {
        let mut statement = store
            .conn()
            .prepare("SELECT id, sweep, campaigns, result FROM windows ORDER BY id")
            .expect("prepare");
        let rows = statement
            .query_map([], |row| {
                Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?))
            })
            .expect("query");
        rows.collect::<rusqlite::Result<_>>().expect("rows")
    }

    #[test]
    fn a_sweep_is_one_row_keyed_by_its_first_campaign() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut store = Store::open(&dir.path().join("h.db")).expect("open");
        let campaigns = vec!["c-1".to_string(), "c-2".to_string()];
        save(&mut store, &campaigns, "sleep 0us..9ms", &map()).expect("save");
        save(&mut store, &campaigns, "sleep 0us..9ms", &map()).expect("save again");
        save(&mut store, &["d-1".to_string()], "sleep 1ms..2ms", &map()).expect("save");
        let rows = rows(&store);
        assert_eq!(rows.len(), 2);
        let (id, sweep, stored_campaigns, result) = &rows[0];
        assert_eq!((id.as_str(), sweep.as_str()), ("c-1", "sleep 0us..9ms"));
        assert_eq!(stored_campaigns, r#"["c-1","c-2"]"#);
        let result: serde_json::Value = serde_json::from_str(result).expect("json");
        assert_eq!(result["buckets"].as_array().map(Vec::len), Some(10));
        assert_eq!(result["window"]["start"]["open"], true);
    }
}
