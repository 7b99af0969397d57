//! The history store's schema and its migrations. `PRAGMA user_version` holds the version; each
//! migration moves the schema one version up inside one transaction.

use rusqlite::Connection;

/// Newest schema version this build writes.
pub const VERSION: i64 = 3;

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
