//! Shards merged into campaigns (`flakehunt merge`): which bundle went into which campaign,
//! so that the same shard is never counted twice, and an interrupted merge can be undone.

use anyhow::{Context, Result};
use rusqlite::{params, OptionalExtension};

use crate::store::Store;

/// One merged shard, as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MergedShard {
    /// 1-based shard number.
    pub shard: u64,
    /// Shards of the whole campaign.
    pub shards: u64,
    /// Campaign id in the bundle.
    pub source: String,
    /// The bundle's checksum.
    pub checksum: String,
    /// Host that ran it.
    pub host: String,
    /// Runs in it.
    pub runs: u64,
    /// Failures in it.
    pub failures: u64,
    /// Why the shard stopped.
    pub stop_reason: String,
    /// Stopped by a signal (killed, preempted) before its own end.
    pub interrupted: bool,
    /// Where the bundle was when merged.
    pub bundle: String,
}

/// Where a shard was merged before: the campaign that holds it and whether that merge
/// finished (false: it was interrupted and its campaign is partial).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EarlierMerge {
    /// The merged campaign.
    pub campaign: String,
    /// Whether the merged campaign was completed.
    pub finished: bool,
}

/// The campaign a shard (by source campaign and number, or by the bundle's checksum) was
/// merged into before, if any.
pub fn merged_before(store: &Store, shard: &MergedShard) -> Result<Option<EarlierMerge>> {
    store
        .conn()
        .query_row(
            "SELECT s.campaign, c.ended_at IS NOT NULL FROM campaign_shards s
             LEFT JOIN campaigns c ON c.id = s.campaign
             WHERE (s.source = ?1 AND s.shard = ?2 AND s.shards = ?3) OR s.checksum = ?4
             LIMIT 1",
            params![
                shard.source,
                shard.shard as i64,
                shard.shards as i64,
                shard.checksum
            ],
            |row| {
                Ok(EarlierMerge {
                    campaign: row.get(0)?,
                    finished: row.get(1)?,
                })
            },
        )
        .optional()
        .context("reading merged shards")
}

/// Whether a campaign with this id exists.
pub fn campaign_exists(store: &Store, id: &str) -> Result<bool> {
    let found: Option<i64> = store
        .conn()
        .query_row("SELECT 1 FROM campaigns WHERE id = ?1", [id], |row| {
            row.get(0)
        })
        .optional()
        .context("reading campaigns")?;
    Ok(found.is_some())
}

/// Record the shards merged into `campaign`.
pub fn record(store: &mut Store, campaign: &str, shards: &[MergedShard]) -> Result<()> {
    let now = crate::store::now_rfc3339();
    store
        .write(|conn| {
            for shard in shards {
                conn.execute(
                    "INSERT OR REPLACE INTO campaign_shards (campaign, shard, shards, source,
                        checksum, host, runs, failures, stop_reason, interrupted, bundle, merged_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
                    params![
                        campaign,
                        shard.shard as i64,
                        shard.shards as i64,
                        shard.source,
                        shard.checksum,
                        shard.host,
                        shard.runs as i64,
                        shard.failures as i64,
                        shard.stop_reason,
                        shard.interrupted,
                        shard.bundle,
                        now,
                    ],
                )?;
            }
            Ok(())
        })
        .context("recording merged shards")
}

/// Remove a campaign whose merge did not finish, with everything recorded for it.
pub fn discard(store: &mut Store, campaign: &str) -> Result<()> {
    store
        .write(|conn| {
            for table in ["runs", "parts"] {
                conn.execute(
                    &format!("DELETE FROM {table} WHERE campaign = ?1"),
                    [campaign],
                )?;
            }
            conn.execute("DELETE FROM test_results WHERE campaign = ?1", [campaign])?;
            conn.execute(
                "DELETE FROM sightings WHERE origin = 'campaign' AND campaign = ?1",
                [campaign],
            )?;
            conn.execute(
                "DELETE FROM campaign_shards WHERE campaign = ?1",
                [campaign],
            )?;
            conn.execute("DELETE FROM campaigns WHERE id = ?1", [campaign])?;
            Ok(())
        })
        .with_context(|| format!("removing the unfinished merge {campaign}"))
}

/// The shards merged into `campaign`, by number.
pub fn of_campaign(store: &Store, campaign: &str) -> Result<Vec<MergedShard>> {
    let mut statement = store.conn().prepare(
        "SELECT shard, shards, source, checksum, host, runs, failures, stop_reason, bundle,
                interrupted FROM campaign_shards WHERE campaign = ?1 ORDER BY shard",
    )?;
    let rows = statement.query_map([campaign], |row| {
        Ok(MergedShard {
            shard: row.get::<_, i64>(0)? as u64,
            shards: row.get::<_, i64>(1)? as u64,
            source: row.get(2)?,
            checksum: row.get(3)?,
            host: row.get::<_, Option<String>>(4)?.unwrap_or_default(),
            runs: row.get::<_, i64>(5)? as u64,
            failures: row.get::<_, i64>(6)? as u64,
            stop_reason: row.get::<_, Option<String>>(7)?.unwrap_or_default(),
            bundle: row.get::<_, Option<String>>(8)?.unwrap_or_default(),
            interrupted: row.get(9)?,
        })
    })?;
    rows.collect::<rusqlite::Result<_>>()
        .context("reading merged shards")
}
