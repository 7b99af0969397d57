//! Recording `flakehunt bisect`: one row per search, found again by its key so that rerunning
//! the same command resumes it, and one row per probe (each probe's runs are a campaign of
//! their own in the history, so `show` works on them).

use anyhow::{Context, Result};
use rusqlite::{params, OptionalExtension};

use crate::analysis::bisect::{Candidate, ProbeRecord, ProbeSignature, TargetRecord};
use crate::store::{now_rfc3339, Store};

/// A search as it starts.
#[derive(Debug, Clone)]
pub struct NewBisection<'a> {
    /// Hash of what defines the search; the same command finds the same key.
    pub key: &'a str,
    /// Repository top level.
    pub repo: &'a str,
    /// Good commit (full hash).
    pub good: &'a str,
    /// Bad commit (full hash).
    pub bad: &'a str,
    /// The options, as JSON.
    pub spec: &'a serde_json::Value,
    /// The commits searched, as JSON.
    pub path: &'a serde_json::Value,
}

/// A search found in the history.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredBisection {
    /// Row id.
    pub id: i64,
    /// When it started.
    pub created_at: String,
    /// Its status when last written.
    pub status: String,
    /// The failure mode it searches for, once known.
    pub target: Option<TargetRecord>,
    /// Its probes, in order.
    pub probes: Vec<ProbeRecord>,
}

fn encode<T: serde::Serialize>(what: &str, value: &T) -> Result<String> {
    serde_json::to_string(value).with_context(|| format!("could not encode the bisection's {what}"))
}

fn write_error(store: &Store) -> String {
    format!(
        "could not record the bisection in {}",
        store.path().display()
    )
}

/// Start recording a search; returns its id.
pub fn create_bisection(store: &mut Store, new: &NewBisection<'_>) -> Result<i64> {
    let spec = encode("options", new.spec)?;
    let path = encode("commits", new.path)?;
    let context = write_error(store);
    store
        .write(|conn| {
            let now = now_rfc3339();
            conn.execute(
                "INSERT INTO bisections (key, created_at, updated_at, repo, good, bad, spec, path,
                    status) VALUES (?1, ?2, ?2, ?3, ?4, ?5, ?6, ?7, 'searching')",
                params![new.key, now, new.repo, new.good, new.bad, spec, path],
            )?;
            Ok(conn.last_insert_rowid())
        })
        .context(context)
}

/// The newest search with this key, with its probes.
pub fn find_bisection(store: &Store, key: &str) -> Result<Option<StoredBisection>> {
    let conn = store.conn();
    let row = conn
        .query_row(
            "SELECT id, created_at, status, target FROM bisections WHERE key = ?1
             ORDER BY id DESC LIMIT 1",
            params![key],
            |row| {
                Ok((
                    row.get::<_, i64>(0)?,
                    row.get::<_, String>(1)?,
                    row.get::<_, String>(2)?,
                    row.get::<_, Option<String>>(3)?,
                ))
            },
        )
        .optional()
        .context("could not read the bisections")?;
    let Some((id, created_at, status, target)) = row else {
        return Ok(None);
    };
    let target = target
        .map(|text| serde_json::from_str(&text))
        .transpose()
        .context("the recorded bisection's target is damaged")?;
    Ok(Some(StoredBisection {
        id,
        created_at,
        status,
        target,
        probes: probes(store, id)?,
    }))
}

/// A search's probes, in order.
pub fn probes(store: &Store, bisection: i64) -> Result<Vec<ProbeRecord>> {
    let mut statement = store
        .conn()
        .prepare(
            "SELECT seq, commit_id, campaign, runs, passes, signatures, untestable, posterior
             FROM bisect_probes WHERE bisection = ?1 ORDER BY seq",
        )
        .context("could not read the bisection's probes")?;
    let rows = statement
        .query_map(params![bisection], |row| {
            Ok((
                row.get::<_, i64>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, Option<String>>(2)?,
                row.get::<_, i64>(3)?,
                row.get::<_, i64>(4)?,
                row.get::<_, String>(5)?,
                row.get::<_, Option<String>>(6)?,
                row.get::<_, String>(7)?,
            ))
        })
        .context("could not read the bisection's probes")?;
    let mut probes = Vec::new();
    for row in rows {
        let (seq, commit, campaign, runs, passes, signatures, untestable, posterior) =
            row.context("could not read a probe")?;
        let signatures: Vec<ProbeSignature> = serde_json::from_str(&signatures)
            .with_context(|| format!("probe {seq} of bisection {bisection} is damaged"))?;
        let posterior: Vec<Candidate> = serde_json::from_str(&posterior)
            .with_context(|| format!("probe {seq} of bisection {bisection} is damaged"))?;
        probes.push(ProbeRecord {
            seq: seq.max(0) as u64,
            commit,
            campaign,
            runs: runs.max(0) as u64,
            passes: passes.max(0) as u64,
            signatures,
            target_failures: 0,
            untestable,
            posterior,
        });
    }
    Ok(probes)
}

/// Record one probe.
pub fn record_probe(store: &mut Store, bisection: i64, probe: &ProbeRecord) -> Result<()> {
    let signatures = encode("signatures", &probe.signatures)?;
    let posterior = encode("posterior", &probe.posterior)?;
    let context = write_error(store);
    store
        .write(|conn| {
            let now = now_rfc3339();
            conn.execute(
                "INSERT INTO bisect_probes (bisection, seq, created_at, commit_id, campaign, runs,
                    passes, signatures, untestable, posterior)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                params![
                    bisection,
                    probe.seq as i64,
                    now,
                    probe.commit,
                    probe.campaign,
                    probe.runs as i64,
                    probe.passes as i64,
                    signatures,
                    probe.untestable,
                    posterior
                ],
            )?;
            conn.execute(
                "UPDATE bisections SET updated_at = ?2 WHERE id = ?1",
                params![bisection, now],
            )?;
            Ok(())
        })
        .context(context)
}

/// Remember the failure mode the search is for.
pub fn set_target(store: &mut Store, bisection: i64, target: &TargetRecord) -> Result<()> {
    let target = encode("target", target)?;
    let context = write_error(store);
    store
        .write(|conn| {
            conn.execute(
                "UPDATE bisections SET target = ?2 WHERE id = ?1",
                params![bisection, target],
            )
            .map(|_| ())
        })
        .context(context)
}

/// Write where the search stands and its report.
pub fn set_status(
    store: &mut Store,
    bisection: i64,
    status: &str,
    result: &serde_json::Value,
) -> Result<()> {
    let result = encode("report", result)?;
    let context = write_error(store);
    store
        .write(|conn| {
            conn.execute(
                "UPDATE bisections SET status = ?2, result = ?3, updated_at = ?4 WHERE id = ?1",
                params![bisection, status, result, now_rfc3339()],
            )
            .map(|_| ())
        })
        .context(context)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn probe(seq: u64, commit: &str, untestable: Option<&str>) -> ProbeRecord {
        ProbeRecord {
            seq,
            commit: commit.into(),
            campaign: untestable.is_none().then(|| format!("campaign-{seq}")),
            runs: 40,
            passes: 37,
            signatures: vec![ProbeSignature {
                id: "0123456789ab".into(),
                text: "exit 1: boom".into(),
                count: 3,
                ignored: false,
            }],
            target_failures: 0,
            untestable: untestable.map(String::from),
            posterior: vec![Candidate {
                commit: commit.into(),
                probability: 0.25,
            }],
        }
    }

    #[test]
    fn a_bisection_is_found_again_by_its_key_with_its_probes() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut store = Store::open(&dir.path().join("h.db")).expect("open");
        assert_eq!(find_bisection(&store, "k1").expect("find"), None);
        let spec = serde_json::json!({"command": ["./t"]});
        let path = serde_json::json!([]);
        let new = NewBisection {
            key: "k1",
            repo: "/repo",
            good: "aaa",
            bad: "bbb",
            spec: &spec,
            path: &path,
        };
        let id = create_bisection(&mut store, &new).expect("create");
        record_probe(&mut store, id, &probe(0, "bbb", None)).expect("probe 0");
        record_probe(&mut store, id, &probe(1, "ccc", Some("build failed"))).expect("probe 1");
        assert!(record_probe(&mut store, id, &probe(1, "ccc", None)).is_err());
        let target = TargetRecord {
            id: "0123456789ab".into(),
            text: "exit 1: boom".into(),
        };
        set_target(&mut store, id, &target).expect("target");
        set_status(&mut store, id, "culprit", &serde_json::json!({"x": 1})).expect("status");

        let found = find_bisection(&store, "k1").expect("find").expect("found");
        assert_eq!(found.id, id);
        assert_eq!(found.status, "culprit");
        assert_eq!(found.target, Some(target));
        assert_eq!(
            found.probes,
            vec![probe(0, "bbb", None), probe(1, "ccc", Some("build failed"))]
        );
        // A newer search with the same key wins.
        let newer = create_bisection(&mut store, &new).expect("create");
        let found = find_bisection(&store, "k1").expect("find").expect("found");
        assert_eq!((found.id, found.probes.len()), (newer, 0));
    }
}
