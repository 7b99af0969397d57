//! The history store's schema and its migrations. `PRAGMA user_version` holds the version; each
//! migration moves the schema one version up inside one transaction. `PRAGMA application_id`
//! marks the file as a flakehunt history, so that another program's database is never mistaken
//! for one (histories written before it existed are recognised by their tables).

use std::collections::BTreeSet;
use std::sync::OnceLock;

use rusqlite::Connection;

/// Newest schema version this build writes.
pub const VERSION: i64 = 8;

/// `PRAGMA application_id` of a flakehunt history: "FlkH".
pub const APPLICATION_ID: i32 = 0x466c_6b48;

/// One schema object: (`type`, `name`) as in `sqlite_master`.
pub type Object = (String, String);

/// Migration `i` turns version `i` into version `i + 1`.
const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE campaigns (
    id          TEXT PRIMARY KEY,
    started_at  TEXT NOT NULL,
    ended_at    TEXT,
    command     TEXT NOT NULL,   -- JSON array of arguments
    spec        TEXT NOT NULL,   -- JSON object of the options that shaped the campaign
    cwd         TEXT,
    git_commit  TEXT,
    git_dirty   INTEGER,
    host        TEXT,
    out_dir     TEXT,
    runs        INTEGER NOT NULL DEFAULT 0,
    failures    INTEGER NOT NULL DEFAULT 0,
    stop_reason TEXT,
    summary     TEXT             -- JSON summary, written when the campaign ends
);
CREATE INDEX campaigns_started ON campaigns(started_at);

CREATE TABLE runs (
    campaign     TEXT NOT NULL REFERENCES campaigns(id),
    idx          INTEGER NOT NULL,
    started_at   TEXT NOT NULL,
    duration_us  INTEGER NOT NULL,
    verdict      TEXT NOT NULL,  -- pass | fail | ignored
    kind         TEXT,           -- exit | signal | timeout | output-match
    exit_code    INTEGER,
    signal       TEXT,
    timed_out    INTEGER NOT NULL,
    signature    TEXT,
    telling_line TEXT,
    log_path     TEXT,
    leaked_pipes INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (campaign, idx)
) WITHOUT ROWID;

CREATE TABLE signatures (
    id         TEXT PRIMARY KEY,
    text       TEXT NOT NULL,
    first_seen TEXT NOT NULL,
    example    TEXT
);

CREATE TABLE sightings (
    id        INTEGER PRIMARY KEY,
    origin    TEXT NOT NULL,     -- campaign | ingest
    campaign  TEXT,
    run       INTEGER,
    file_hash TEXT,
    path      TEXT,
    format    TEXT,
    test      TEXT NOT NULL,
    outcome   TEXT NOT NULL,
    message   TEXT NOT NULL,
    snippet   TEXT NOT NULL,
    signature TEXT NOT NULL,
    commit_id TEXT,
    date      TEXT NOT NULL,     -- RFC 3339, sortable
    platform  TEXT,
    source    TEXT
);
CREATE INDEX sightings_signature ON sightings(signature, date);
CREATE INDEX sightings_date ON sightings(date);
CREATE INDEX sightings_test ON sightings(test);

CREATE TABLE ingested_files (
    hash        TEXT PRIMARY KEY,
    path        TEXT NOT NULL,
    format      TEXT NOT NULL,
    ingested_at TEXT NOT NULL,
    sightings   INTEGER NOT NULL
);

-- Trigram full-text index: a regex's literal pieces narrow a search to candidate rows.
CREATE VIRTUAL TABLE sightings_fts USING fts5(
    test, message, snippet, content='sightings', content_rowid='id', tokenize='trigram'
);
CREATE TRIGGER sightings_ai AFTER INSERT ON sightings BEGIN
    INSERT INTO sightings_fts(rowid, test, message, snippet)
    VALUES (new.id, new.test, new.message, new.snippet);
END;
CREATE TRIGGER sightings_ad AFTER DELETE ON sightings BEGIN
    INSERT INTO sightings_fts(sightings_fts, rowid, test, message, snippet)
    VALUES ('delete', old.id, old.test, old.message, old.snippet);
END;
"#,
    r#"
-- Race-window maps from `flakehunt window`, keyed by the first campaign of the sweep.
CREATE TABLE windows (
    id         TEXT PRIMARY KEY,
    created_at TEXT NOT NULL,
    sweep      TEXT NOT NULL,
    campaigns  TEXT NOT NULL,   -- JSON array of campaign ids
    result     TEXT NOT NULL    -- JSON: buckets, window, jitter
);
"#,
    r#"
-- The seed a shaken run got (FLAKEHUNT_SEED), to replay its noise with --seed.
ALTER TABLE runs ADD COLUMN seed INTEGER;
-- Results of `flakehunt hunt`; the newest one's best arm is `--shake best`.
CREATE TABLE hunts (
    id         INTEGER PRIMARY KEY,
    created_at TEXT NOT NULL,
    command    TEXT NOT NULL,   -- JSON array
    best       TEXT NOT NULL,   -- the best arm's shake
    result     TEXT NOT NULL    -- JSON: arms
);
"#,
    r#"
-- What each test did in each run of a suite or test target: per-test rates across campaigns.
CREATE TABLE test_results (
    campaign  TEXT NOT NULL,
    run       INTEGER NOT NULL,
    test      TEXT NOT NULL,
    status    TEXT NOT NULL,   -- pass | fail | skip
    signature TEXT,
    message   TEXT,
    PRIMARY KEY (campaign, run, test)
) WITHOUT ROWID;
CREATE INDEX test_results_test ON test_results(test, status);
"#,
    r#"
-- The campaigns each recorded hunt ran, and for which arm, so its report can gather them.
CREATE TABLE hunt_campaigns (
    hunt     INTEGER NOT NULL,
    campaign TEXT NOT NULL,
    arm      TEXT NOT NULL,
    PRIMARY KEY (hunt, campaign)
) WITHOUT ROWID;
"#,
    r#"
-- Searches of `flakehunt bisect`, found again by their key to resume them.
CREATE TABLE bisections (
    id         INTEGER PRIMARY KEY,
    key        TEXT NOT NULL,   -- hash of what defines the search: repository, range, command...
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    repo       TEXT NOT NULL,
    good       TEXT NOT NULL,   -- full commit hashes
    bad        TEXT NOT NULL,
    spec       TEXT NOT NULL,   -- JSON: command, build, confidence, rate, signature...
    path       TEXT NOT NULL,   -- JSON array: the commits searched, good first
    target     TEXT,            -- JSON {id, text}: the failure mode searched for, once known
    status     TEXT NOT NULL,   -- searching | culprit | ambiguous | predates | budget | interrupted
    result     TEXT             -- JSON: the last report
);
CREATE INDEX bisections_key ON bisections(key);
-- Each probe of a bisection: a batch of runs at one commit, run as a campaign of its own.
CREATE TABLE bisect_probes (
    bisection  INTEGER NOT NULL REFERENCES bisections(id),
    seq        INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    commit_id  TEXT NOT NULL,
    campaign   TEXT,            -- NULL when nothing ran (the build failed)
    runs       INTEGER NOT NULL,
    passes     INTEGER NOT NULL,
    signatures TEXT NOT NULL,   -- JSON array of {id, text, count, ignored}
    untestable TEXT,            -- why the commit cannot be tested, if it cannot
    posterior  TEXT NOT NULL,   -- JSON: the leading candidates after this probe
    PRIMARY KEY (bisection, seq)
) WITHOUT ROWID;
"#,
    r#"
-- Campaigns made of labelled parts (a hunt's arms, a window's phases): each part's label and
-- perturbation, and the part of each run (NULL in campaigns without parts).
CREATE TABLE parts (
    campaign TEXT NOT NULL REFERENCES campaigns(id),
    idx      INTEGER NOT NULL,
    label    TEXT NOT NULL,
    shake    TEXT,
    PRIMARY KEY (campaign, idx)
) WITHOUT ROWID;
ALTER TABLE runs ADD COLUMN part INTEGER;
-- The campaign a hunt ran as.
ALTER TABLE hunts ADD COLUMN campaign TEXT;
"#,
    r#"
-- The shard bundles `flakehunt merge` folded into a campaign: one row per shard merged, so
-- the same shard is never counted twice and an incomplete merge says what it lacks.
CREATE TABLE campaign_shards (
    campaign   TEXT NOT NULL,   -- the merged campaign
    shard      INTEGER NOT NULL, -- 1-based shard number
    shards     INTEGER NOT NULL, -- shards of the whole campaign
    source     TEXT NOT NULL,   -- campaign id in the bundle
    checksum   TEXT NOT NULL,   -- the bundle's checksum
    host       TEXT,
    runs       INTEGER NOT NULL,
    failures   INTEGER NOT NULL,
    stop_reason TEXT,
    interrupted INTEGER NOT NULL, -- the shard was stopped by a signal before its own end
    bundle     TEXT,            -- the bundle's path when merged
    merged_at  TEXT NOT NULL,
    PRIMARY KEY (campaign, shard)
) WITHOUT ROWID;
CREATE INDEX campaign_shards_source ON campaign_shards(source, shard);
"#,
];

/// How a read-only connection sees version `i` as version `i + 1` without writing to the file:
/// temporary objects that shadow the main database's (unqualified names find `temp` first).
/// `None` where that is not possible; such a history must be upgraded by a writing command.
const READ_SHIMS: &[Option<&str>] = &[
    // Version 0 has no tables at all; nothing to read.
    None,
    Some(
        r#"
CREATE TEMP TABLE windows (
    id TEXT PRIMARY KEY, created_at TEXT NOT NULL, sweep TEXT NOT NULL,
    campaigns TEXT NOT NULL, result TEXT NOT NULL
);
"#,
    ),
    // Version 2 gets the columns of every later version at once: a later shim cannot
    // replace these temporary objects (it creates its own only where they do not exist).
    Some(
        r#"
CREATE TEMP VIEW runs AS SELECT *, NULL AS seed, NULL AS part FROM main.runs;
CREATE TEMP TABLE hunts (
    id INTEGER PRIMARY KEY, created_at TEXT NOT NULL, command TEXT NOT NULL,
    best TEXT NOT NULL, result TEXT NOT NULL, campaign TEXT
);
"#,
    ),
    Some(
        r#"
CREATE TEMP TABLE test_results (
    campaign TEXT NOT NULL, run INTEGER NOT NULL, test TEXT NOT NULL, status TEXT NOT NULL,
    signature TEXT, message TEXT, PRIMARY KEY (campaign, run, test)
) WITHOUT ROWID;
"#,
    ),
    Some(
        r#"
CREATE TEMP TABLE hunt_campaigns (
    hunt INTEGER NOT NULL, campaign TEXT NOT NULL, arm TEXT NOT NULL,
    PRIMARY KEY (hunt, campaign)
) WITHOUT ROWID;
"#,
    ),
    Some(
        r#"
CREATE TEMP TABLE bisections (
    id INTEGER PRIMARY KEY, key TEXT NOT NULL, created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL, repo TEXT NOT NULL, good TEXT NOT NULL, bad TEXT NOT NULL,
    spec TEXT NOT NULL, path TEXT NOT NULL, target TEXT, status TEXT NOT NULL, result TEXT
);
CREATE TEMP TABLE bisect_probes (
    bisection INTEGER NOT NULL, seq INTEGER NOT NULL, created_at TEXT NOT NULL,
    commit_id TEXT NOT NULL, campaign TEXT, runs INTEGER NOT NULL, passes INTEGER NOT NULL,
    signatures TEXT NOT NULL, untestable TEXT, posterior TEXT NOT NULL,
    PRIMARY KEY (bisection, seq)
);
"#,
    ),
    Some(
        r#"
CREATE TEMP VIEW IF NOT EXISTS runs AS SELECT *, NULL AS part FROM main.runs;
CREATE TEMP VIEW IF NOT EXISTS hunts AS SELECT *, NULL AS campaign FROM main.hunts;
CREATE TEMP TABLE parts (
    campaign TEXT NOT NULL, idx INTEGER NOT NULL, label TEXT NOT NULL, shake TEXT,
    PRIMARY KEY (campaign, idx)
);
"#,
    ),
    Some(
        r#"
CREATE TEMP TABLE campaign_shards (
    campaign TEXT NOT NULL, shard INTEGER NOT NULL, shards INTEGER NOT NULL,
    source TEXT NOT NULL, checksum TEXT NOT NULL, host TEXT, runs INTEGER NOT NULL,
    failures INTEGER NOT NULL, stop_reason TEXT, interrupted INTEGER NOT NULL, bundle TEXT,
    merged_at TEXT NOT NULL,
    PRIMARY KEY (campaign, shard)
);
"#,
    ),
];

/// Bring a database at `current` version up to [`VERSION`].
pub fn migrate(conn: &Connection, current: i64) -> rusqlite::Result<()> {
    for (from, sql) in MIGRATIONS.iter().enumerate().skip(current.max(0) as usize) {
        let to = from as i64 + 1;
        // IMMEDIATE takes the write lock up front so two processes cannot both migrate.
        conn.execute_batch("BEGIN IMMEDIATE")?;
        let version: i64 = conn.query_row("PRAGMA user_version", [], |row| row.get(0))?;
        if version >= to {
            conn.execute_batch("COMMIT")?;
            continue;
        }
        let result = conn
            .execute_batch(sql)
            .and_then(|()| conn.pragma_update(None, "user_version", to));
        match result {
            Ok(()) => conn.execute_batch("COMMIT")?,
            Err(error) => {
                let _ = conn.execute_batch("ROLLBACK");
                return Err(error);
            }
        }
    }
    Ok(())
}

/// Mark the database as a flakehunt history, unless it already is. Histories from before the
/// mark existed get it on their first write.
pub fn mark(conn: &Connection) -> rusqlite::Result<()> {
    let id: i32 = conn.query_row("PRAGMA application_id", [], |row| row.get(0))?;
    if id != APPLICATION_ID {
        conn.pragma_update(None, "application_id", APPLICATION_ID)?;
    }
    Ok(())
}

/// The tables, views and triggers of `schema` ("main", "temp"), leaving out SQLite's own and
/// indexes (a missing index costs speed, never data).
pub fn objects(conn: &Connection, schema: &str) -> rusqlite::Result<BTreeSet<Object>> {
    let mut statement = conn.prepare(&format!(
        "SELECT type, name FROM {schema}.sqlite_master
         WHERE type IN ('table', 'view', 'trigger') AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'"
    ))?;
    let rows = statement.query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?;
    rows.collect()
}

/// The objects a history of `version` (0..=[`VERSION`]) has, found by running the migrations
/// on an in-memory database once per process, so the list can never drift from them.
pub fn expected_objects(version: i64) -> rusqlite::Result<&'static BTreeSet<Object>> {
    static REFERENCE: OnceLock<Vec<BTreeSet<Object>>> = OnceLock::new();
    let reference = match REFERENCE.get() {
        Some(reference) => reference,
        None => {
            let conn = Connection::open_in_memory()?;
            let mut reference = vec![BTreeSet::new()];
            for sql in MIGRATIONS {
                conn.execute_batch(sql)?;
                reference.push(objects(&conn, "main")?);
            }
            REFERENCE.get_or_init(|| reference)
        }
    };
    let index = usize::try_from(version).unwrap_or(usize::MAX);
    reference
        .get(index)
        .ok_or(rusqlite::Error::InvalidParameterName(format!(
            "schema version {version}"
        )))
}

/// Make a history of an older `version` readable as the current one on a read-only connection,
/// touching only the connection's temporary schema. Returns false where no way is known.
pub fn shim_for_reading(conn: &Connection, version: i64) -> rusqlite::Result<bool> {
    let Ok(first) = usize::try_from(version) else {
        return Ok(false);
    };
    let shims = READ_SHIMS.get(first..MIGRATIONS.len()).unwrap_or_default();
    if shims.len() != MIGRATIONS.len().saturating_sub(first) || shims.contains(&None) {
        return Ok(false);
    }
    // Temporary objects go to memory: a read-only history may sit where nothing can be written.
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    for sql in shims.iter().flatten() {
        conn.execute_batch(sql)?;
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at_version(version: usize) -> Connection {
        let conn = Connection::open_in_memory().expect("open");
        for sql in &MIGRATIONS[..version] {
            conn.execute_batch(sql).expect("migrate");
        }
        conn
    }

    fn columns(conn: &Connection, table: &str) -> Vec<String> {
        let statement = conn
            .prepare(&format!("SELECT * FROM \"{table}\" LIMIT 0"))
            .unwrap_or_else(|error| panic!("{table}: {error}"));
        statement
            .column_names()
            .into_iter()
            .map(String::from)
            .collect()
    }

    #[test]
    fn every_older_version_reads_like_the_current_one() {
        let current = at_version(MIGRATIONS.len());
        let tables: Vec<String> = expected_objects(VERSION)
            .expect("reference")
            .iter()
            .filter(|(kind, _)| kind == "table")
            .map(|(_, name)| name.clone())
            .collect();
        for version in 1..MIGRATIONS.len() {
            let old = at_version(version);
            assert!(
                shim_for_reading(&old, version as i64).expect("shim"),
                "version {version} has no way to be read"
            );
            for table in &tables {
                assert_eq!(
                    columns(&old, table),
                    columns(&current, table),
                    "{table} read from version {version}"
                );
            }
        }
        assert!(!shim_for_reading(&at_version(0), 0).expect("shim"));
    }

    #[test]
    fn reference_matches_a_migrated_database() {
        let conn = Connection::open_in_memory().expect("open");
        migrate(&conn, 0).expect("migrate");
        mark(&conn).expect("mark");
        assert_eq!(
            &objects(&conn, "main").expect("objects"),
            expected_objects(VERSION).expect("reference")
        );
        let id: i32 = conn
            .query_row("PRAGMA application_id", [], |row| row.get(0))
            .expect("id");
        assert_eq!(id, APPLICATION_ID);
        assert!(expected_objects(VERSION + 1).is_err());
    }
}
