//! The history store: one embedded SQLite database (WAL mode) that remembers every campaign, run
//! and failure signature, and every failure sighted in ingested CI artifacts, so that "have we
//! seen this before, where, since when?" is one query.
//!
//! Opening never modifies a database it cannot understand: a corrupt file or one written by a
//! newer flakehunt is reported and left untouched.

pub mod hunt;
pub mod query;
pub mod schema;
pub mod search;
pub mod writer;

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};
use thiserror::Error;

/// Default location of the store, relative to the current directory.
pub const DEFAULT_PATH: &str = ".flakehunt/history.db";
/// Environment variable overriding the store location.
pub const ENV_VAR: &str = "FLAKEHUNT_DB";
/// How long a writer waits for another process holding the write lock.
const BUSY_TIMEOUT: Duration = Duration::from_secs(30);

/// Errors of the history store.
#[derive(Debug, Error)]
pub enum StoreError {
    /// The file is not a SQLite database flakehunt can read.
    #[error("{path} is not a readable flakehunt history database ({source}); move it aside or point --db elsewhere")]
    Corrupt {
        /// Database path.
        path: PathBuf,
        /// What SQLite said.
        source: rusqlite::Error,
    },
    /// The database was written by a newer flakehunt.
    #[error("{path} has schema version {found}, newer than this flakehunt understands ({supported}); upgrade flakehunt or use another --db")]
    NewerSchema {
        /// Database path.
        path: PathBuf,
        /// Version in the file.
        found: i64,
        /// Newest version this build knows.
        supported: i64,
    },
    /// No database exists yet where one is needed for reading.
    #[error("no history at {path} yet: run `flakehunt run` or `flakehunt ingest` first, or point --db/FLAKEHUNT_DB at one")]
    Missing {
        /// Database path.
        path: PathBuf,
    },
    /// Any other SQLite failure.
    #[error("history database {path}: {source}")]
    Sqlite {
        /// Database path.
        path: PathBuf,
        /// What SQLite said.
        source: rusqlite::Error,
    },
    /// The directory for a new database could not be created.
    #[error("cannot create {path}: {source}")]
    Io {
        /// Path.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// An open history store.
pub struct Store {
    conn: Connection,
    path: PathBuf,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("path", &self.path).finish()
    }
}

/// Where the store lives: `--db`, else `FLAKEHUNT_DB`, else `.flakehunt/history.db`.
pub fn resolve_path(flag: Option<&Path>) -> PathBuf {
    if let Some(path) = flag {
        return path.to_path_buf();
    }
    match std::env::var_os(ENV_VAR) {
        Some(value) if !value.is_empty() => PathBuf::from(value),
        _ => PathBuf::from(DEFAULT_PATH),
    }
}

impl Store {
    /// Open (creating if needed) the store for writing; migrates an older schema.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|source| StoreError::Io {
                path: parent.to_path_buf(),
                source,
            })?;
        }
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        Store::connect(path, flags, true)
    }

    /// Open an existing store for reading only.
    pub fn open_existing(path: &Path) -> Result<Store, StoreError> {
        if !path.exists() {
            return Err(StoreError::Missing {
                path: path.to_path_buf(),
            });
        }
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        Store::connect(path, flags, false)
    }

    fn connect(path: &Path, flags: OpenFlags, writable: bool) -> Result<Store, StoreError> {
        let conn =
            Connection::open_with_flags(path, flags).map_err(|source| StoreError::Sqlite {
                path: path.to_path_buf(),
                source,
            })?;
        let store = Store {
            conn,
            path: path.to_path_buf(),
        };
        store.prepare(writable)?;
        Ok(store)
    }

    /// Check the file before touching it, then set it up for use.
    fn prepare(&self, writable: bool) -> Result<(), StoreError> {
        self.conn
            .busy_timeout(BUSY_TIMEOUT)
            .map_err(|source| self.sqlite(source))?;
        // Reading the header first: a corrupt file fails here, before anything is written.
        let version: i64 = self
            .conn
            .query_row("PRAGMA user_version", [], |row| row.get(0))
            .map_err(|source| StoreError::Corrupt {
                path: self.path.clone(),
                source,
            })?;
        self.conn
            .query_row("SELECT count(*) FROM sqlite_master", [], |row| {
                row.get::<_, i64>(0)
            })
            .map_err(|source| StoreError::Corrupt {
                path: self.path.clone(),
                source,
            })?;
        if version > schema::VERSION {
            return Err(StoreError::NewerSchema {
                path: self.path.clone(),
                found: version,
                supported: schema::VERSION,
            });
        }
        if !writable {
            if version < schema::VERSION {
                return Err(StoreError::Corrupt {
                    path: self.path.clone(),
                    source: rusqlite::Error::InvalidQuery,
                });
            }
            return Ok(());
        }
        // Switching a new database to WAL needs a lock the busy handler does not wait for when
        // several processes create the store at once; retry for as long as it would have.
        let started = std::time::Instant::now();
        loop {
            match self.conn.pragma_update(None, "journal_mode", "WAL") {
                Ok(()) => break,
                Err(error) if is_busy(&error) && started.elapsed() < BUSY_TIMEOUT => {
                    std::thread::sleep(Duration::from_millis(5));
                }
                Err(source) => return Err(self.sqlite(source)),
            }
        }
        // With WAL, NORMAL survives any crash of flakehunt; only power loss can drop the tail.
        self.conn
            .pragma_update(None, "synchronous", "NORMAL")
            .map_err(|source| self.sqlite(source))?;
        schema::migrate(&self.conn, version).map_err(|source| self.sqlite(source))
    }

    fn sqlite(&self, source: rusqlite::Error) -> StoreError {
        StoreError::Sqlite {
            path: self.path.clone(),
            source,
        }
    }

    /// Run `work` in an IMMEDIATE transaction: it takes the write lock up front (waiting for
    /// other writers), so it can never fail on a stale snapshot the way a deferred one can.
    pub fn write<T>(
        &mut self,
        work: impl FnOnce(&Connection) -> rusqlite::Result<T>,
    ) -> rusqlite::Result<T> {
        let transaction = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let value = work(&transaction)?;
        transaction.commit()?;
        Ok(value)
    }

    /// The database path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The underlying connection (for the query modules).
    pub(crate) fn conn(&self) -> &Connection {
        &self.conn
    }

    /// Mutable connection (for transactions).
    pub(crate) fn conn_mut(&mut self) -> &mut Connection {
        &mut self.conn
    }
}

fn is_busy(error: &rusqlite::Error) -> bool {
    matches!(
        error.sqlite_error_code(),
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
    )
}

/// Current time as an RFC 3339 string with milliseconds (UTC), sortable as text.
pub fn now_rfc3339() -> String {
    humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string()
}
