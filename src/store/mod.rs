//! The history store: one embedded SQLite database (WAL mode) that remembers every campaign, run
//! and failure signature, and every failure sighted in ingested CI artifacts, so that "have we
//! seen this before, where, since when?" is one query.
//!
//! Opening never modifies a database it cannot understand: a corrupt file, another program's
//! database, a damaged history or one written by a newer flakehunt is inspected through a
//! read-only connection, reported and left byte-for-byte untouched. Reading never writes either:
//! a read-only file in a read-only directory, an older schema and an empty file all read.

pub mod bisect;
pub mod hunt;
pub mod per_test;
pub mod query;
pub mod report;
pub mod schema;
pub mod search;
pub mod shards;
pub mod window;
pub mod writer;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};
use thiserror::Error;

/// Default location of the store, relative to the project's top level (see [`resolve_path`]).
pub const DEFAULT_PATH: &str = ".flakehunt/history.db";
/// Environment variable overriding the store location.
pub const ENV_VAR: &str = "FLAKEHUNT_DB";
/// How long a writer waits for another process holding the write lock.
const BUSY_TIMEOUT: Duration = Duration::from_secs(30);

/// Errors of the history store.
#[derive(Debug, Error)]
pub enum StoreError {
    /// The file is not a SQLite database, or a damaged one.
    #[error("{path} is not a readable flakehunt history database ({error}); if it is a damaged history, move it aside (flakehunt then starts a new one), otherwise point --db elsewhere")]
    Corrupt {
        /// Database path.
        path: PathBuf,
        /// What SQLite said (a field not named `source`, so it is shown once, inline).
        error: rusqlite::Error,
    },
    /// A SQLite database of some other program.
    #[error("{path} is not a flakehunt history: it is {what}; flakehunt left it untouched: choose another --db (or FLAKEHUNT_DB) for the history")]
    Foreign {
        /// Database path.
        path: PathBuf,
        /// What the file holds instead.
        what: String,
    },
    /// A flakehunt history that lost some of its tables.
    #[error("{path} is a flakehunt history (schema v{version}) missing its {missing}; it is damaged and was left untouched: restore it from a backup, or move it aside so that flakehunt starts a new one")]
    Damaged {
        /// Database path.
        path: PathBuf,
        /// Version in the file.
        version: i64,
        /// The missing objects, e.g. "table `runs`".
        missing: String,
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
    /// An older history that cannot be read without upgrading it.
    #[error("{path}: this history uses an older schema (v{found}); run any writing command (e.g. `flakehunt run`) on it to upgrade it")]
    OlderSchema {
        /// Database path.
        path: PathBuf,
        /// Version in the file.
        found: i64,
    },
    /// A writing command was pointed at a history it cannot write.
    #[error("cannot record to {path}: {reason}. Choose a writable --db (or pass --no-history where the command has it); history, show, log and search can still read it")]
    ReadOnly {
        /// Database path.
        path: PathBuf,
        /// Why it cannot be written.
        reason: String,
    },
    /// A history with an unmerged write-ahead log in a directory SQLite may not write to.
    #[error("{path} has a write-ahead log ({path}-wal) that SQLite must update beside it to read it, but its directory is not writable; copy the history together with its -wal file to a writable directory and read it there")]
    WalInReadOnlyDir {
        /// Database path.
        path: PathBuf,
    },
    /// No database exists yet where one is needed for reading.
    #[error("no history at {path} yet: run `flakehunt run` or `flakehunt ingest` first, or point --db/FLAKEHUNT_DB at one")]
    Missing {
        /// Database path.
        path: PathBuf,
    },
    /// Any other SQLite failure.
    #[error("history database {path}: {error}")]
    Sqlite {
        /// Database path.
        path: PathBuf,
        /// What SQLite said (a field not named `source`, so it is shown once, inline).
        error: rusqlite::Error,
    },
    /// A file system operation around the database failed.
    #[error("cannot {action} {path}: {error}")]
    Io {
        /// What was being done, e.g. "create".
        action: &'static str,
        /// Path.
        path: PathBuf,
        /// The I/O error.
        error: std::io::Error,
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

/// Where the store lives: `--db`, else `FLAKEHUNT_DB`, else `.flakehunt/history.db` at the top
/// level of the git work tree holding the current directory (so every folder of a project
/// shares one history), else in the current directory.
pub fn resolve_path(flag: Option<&Path>) -> PathBuf {
    if let Some(path) = flag {
        return path.to_path_buf();
    }
    match std::env::var_os(ENV_VAR) {
        Some(value) if !value.is_empty() => PathBuf::from(value),
        _ => match std::env::current_dir() {
            Ok(cwd) => git_top_level(&cwd).unwrap_or(cwd).join(DEFAULT_PATH),
            Err(_) => PathBuf::from(DEFAULT_PATH),
        },
    }
}

/// The top level of the git work tree holding `dir`: the nearest directory, `dir` included,
/// with a `.git` directory that has a `HEAD`, or a `.git` file pointing elsewhere (`gitdir:`,
/// as linked worktrees and submodules have). Found by looking, not by running git, so it costs
/// a few `stat`s and works without git installed.
pub fn git_top_level(dir: &Path) -> Option<PathBuf> {
    dir.ancestors()
        .find(|candidate| {
            let git = candidate.join(".git");
            if git.is_dir() {
                git.join("HEAD").is_file()
            } else {
                git.is_file() && starts_with(&git, b"gitdir:")
            }
        })
        .map(Path::to_path_buf)
}

/// Whether the file at `path` begins with `prefix` (read no further than that).
fn starts_with(path: &Path, prefix: &[u8]) -> bool {
    use std::io::Read;
    let mut head = Vec::with_capacity(prefix.len());
    std::fs::File::open(path)
        .and_then(|file| file.take(prefix.len() as u64).read_to_end(&mut head))
        .is_ok_and(|_| head == prefix)
}

/// What an existing, non-empty database file turned out to be.
enum Found {
    /// A valid SQLite file without any schema yet: as good as a new history.
    Blank,
    /// A flakehunt history of this schema version (at most [`schema::VERSION`]).
    History(i64),
}

impl Store {
    /// Open (creating if needed) the store for writing; migrates an older schema. Anything that
    /// is not a flakehunt history this build can write is refused before a byte is written.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        if file_len(path)?.is_some_and(|len| len > 0) {
            // Inspected through a read-only connection: even a hot journal left in another
            // program's database is not rolled back by us.
            let (probe, _) = open_read_only(path, true)?;
            inspect(&probe, path)?;
        }
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|error| StoreError::Io {
                action: "create",
                path: parent.to_path_buf(),
                error,
            })?;
        }
        check_writable(path)?;
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn =
            Connection::open_with_flags(path, flags).map_err(|error| StoreError::Sqlite {
                path: path.to_path_buf(),
                error,
            })?;
        // SQLite quietly falls back to read-only when it cannot open the file for writing.
        if conn.is_readonly("main").unwrap_or(true) {
            return Err(StoreError::ReadOnly {
                path: path.to_path_buf(),
                reason: "SQLite could only open it read-only".to_string(),
            });
        }
        let store = Store {
            conn,
            path: path.to_path_buf(),
        };
        store.prepare_for_writing()?;
        Ok(store)
    }

    /// Open an existing store for reading only. Nothing is written to the file or beside it
    /// when its directory is read-only; an older schema is read as it is, an empty file as an
    /// empty history.
    pub fn open_existing(path: &Path) -> Result<Store, StoreError> {
        match file_len(path)? {
            None => {
                return Err(StoreError::Missing {
                    path: path.to_path_buf(),
                })
            }
            Some(0) => return Store::empty(path),
            Some(_) => {}
        }
        let (mut conn, inspect_only) = open_read_only(path, true)?;
        if inspect_only {
            // It is ours after all (a history from before the mark): read it with locking.
            inspect(&conn, path)?;
            conn = open_read_only(path, false)?.0;
        }
        let version = match inspect(&conn, path)? {
            Found::Blank => return Store::empty(path),
            Found::History(version) => version,
        };
        let store = Store {
            conn,
            path: path.to_path_buf(),
        };
        if version < schema::VERSION
            && !schema::shim_for_reading(&store.conn, version).map_err(|e| store.sqlite(e))?
        {
            return Err(StoreError::OlderSchema {
                path: path.to_path_buf(),
                found: version,
            });
        }
        Ok(store)
    }

    /// An empty history in memory, standing in for a file that has none yet.
    fn empty(path: &Path) -> Result<Store, StoreError> {
        let sqlite = |error| StoreError::Sqlite {
            path: path.to_path_buf(),
            error,
        };
        let conn = Connection::open_in_memory().map_err(sqlite)?;
        schema::migrate(&conn, 0).map_err(sqlite)?;
        Ok(Store {
            conn,
            path: path.to_path_buf(),
        })
    }

    /// Set up a checked (or new) database for writing: WAL, then the newest schema.
    fn prepare_for_writing(&self) -> Result<(), StoreError> {
        self.conn
            .busy_timeout(BUSY_TIMEOUT)
            .map_err(|error| self.sqlite(error))?;
        // Marked first, while a new file is still in rollback mode, so that a file whose header
        // says WAL but not flakehunt is never one of ours being created (see `open_read_only`).
        self.retry_busy(schema::mark)?;
        self.retry_busy(|conn| conn.pragma_update(None, "journal_mode", "WAL"))?;
        // With WAL, NORMAL survives any crash of flakehunt; only power loss can drop the tail.
        self.conn
            .pragma_update(None, "synchronous", "NORMAL")
            .map_err(|error| self.sqlite(error))?;
        let version: i64 = self
            .conn
            .query_row("PRAGMA user_version", [], |row| row.get(0))
            .map_err(|error| self.sqlite(error))?;
        // Another process may have created a newer history since the file was inspected.
        if version > schema::VERSION {
            return Err(StoreError::NewerSchema {
                path: self.path.clone(),
                found: version,
                supported: schema::VERSION,
            });
        }
        schema::migrate(&self.conn, version).map_err(|error| self.sqlite(error))
    }

    /// Run a setup step that needs a lock the busy handler does not wait for when several
    /// processes create the store at once; retry for as long as it would have waited.
    fn retry_busy(
        &self,
        step: impl Fn(&Connection) -> rusqlite::Result<()>,
    ) -> Result<(), StoreError> {
        let started = std::time::Instant::now();
        loop {
            match step(&self.conn) {
                Ok(()) => return Ok(()),
                Err(error) if is_busy(&error) && started.elapsed() < BUSY_TIMEOUT => {
                    std::thread::sleep(Duration::from_millis(5));
                }
                Err(error) => return Err(self.sqlite(error)),
            }
        }
    }

    fn sqlite(&self, error: rusqlite::Error) -> StoreError {
        StoreError::Sqlite {
            path: self.path.clone(),
            error,
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

/// The file's length, or `None` if there is no file.
fn file_len(path: &Path) -> Result<Option<u64>, StoreError> {
    match std::fs::metadata(path) {
        Ok(metadata) => Ok(Some(metadata.len())),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(error) => Err(StoreError::Io {
            action: "inspect",
            path: path.to_path_buf(),
            error,
        }),
    }
}

/// The directory a database's journal and WAL files go to.
fn directory(path: &Path) -> &Path {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    }
}

/// Whether this process may write `path` (`access(2)`, so a read-only mount counts even for
/// root, who ignores permission bits).
fn writable(path: &Path) -> Result<(), std::io::Error> {
    rustix::fs::access(path, rustix::fs::Access::WRITE_OK).map_err(std::io::Error::from)
}

/// Refuse early, with the reason, when SQLite could not write the database or its journal.
fn check_writable(path: &Path) -> Result<(), StoreError> {
    let refuse = |reason: String| StoreError::ReadOnly {
        path: path.to_path_buf(),
        reason,
    };
    if path.exists() {
        writable(path).map_err(|error| refuse(format!("the file is not writable ({error})")))?;
    }
    let dir = directory(path);
    writable(dir).map_err(|error| {
        refuse(format!(
            "its directory {} is not writable ({error}), and SQLite keeps its journal there",
            dir.display()
        ))
    })
}

/// A connection that cannot write the database, and whether it was opened immutable only
/// because `inspecting` (then it must not be used for more than [`inspect`]).
///
/// In a read-only directory SQLite could not create the -wal/-shm files a WAL database needs,
/// so the file is opened as immutable there; that is safe because nobody can be writing it.
/// When inspecting a WAL-mode file that lacks flakehunt's mark, SQLite would likewise create
/// -wal/-shm files beside what may be another program's database; immutable reads the file
/// alone, which no writer changes before its log holds a checkpoint's worth of pages.
fn open_read_only(path: &Path, inspecting: bool) -> Result<(Connection, bool), StoreError> {
    let sqlite = |error| StoreError::Sqlite {
        path: path.to_path_buf(),
        error,
    };
    let dir_writable = writable(directory(path)).is_ok();
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    let pending_wal = file_len(Path::new(&wal))?.is_some_and(|len| len > 0);
    let unmarked_wal = inspecting && !pending_wal && unmarked_wal_header(path);
    let immutable = !pending_wal && (!dir_writable || unmarked_wal);
    let conn = if immutable {
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY
            | OpenFlags::SQLITE_OPEN_URI
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let uri = immutable_uri(path).map_err(|error| StoreError::Io {
            action: "resolve",
            path: path.to_path_buf(),
            error,
        })?;
        Connection::open_with_flags(uri, flags).map_err(sqlite)?
    } else {
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        Connection::open_with_flags(path, flags).map_err(sqlite)?
    };
    conn.busy_timeout(BUSY_TIMEOUT).map_err(sqlite)?;
    // A WAL log that cannot be merged because the directory is read-only: say so plainly.
    if !dir_writable && pending_wal {
        if let Err(error) = conn.query_row("SELECT count(*) FROM sqlite_master", [], |row| {
            row.get::<_, i64>(0)
        }) {
            return Err(match read_error(path, error) {
                StoreError::Sqlite { .. } => StoreError::WalInReadOnlyDir {
                    path: path.to_path_buf(),
                },
                other => other,
            });
        }
    }
    Ok((conn, immutable && dir_writable))
}

/// Whether the file's header says WAL mode but lacks flakehunt's application id (offsets from
/// the SQLite file format: 18-19 the read/write versions, 68 the application id).
fn unmarked_wal_header(path: &Path) -> bool {
    use std::io::Read;
    let mut header = [0u8; 100];
    let read = std::fs::File::open(path).and_then(|mut file| file.read_exact(&mut header));
    let application_id = i32::from_be_bytes([header[68], header[69], header[70], header[71]]);
    read.is_ok()
        && header.starts_with(b"SQLite format 3\0")
        && header[18] == 2
        && header[19] == 2
        && application_id != schema::APPLICATION_ID
}

/// `file:` URI opening `path` read-only and immutable, every byte that could mean something in a
/// URI percent-encoded.
fn immutable_uri(path: &Path) -> Result<String, std::io::Error> {
    use std::os::unix::ffi::OsStrExt;
    let absolute = std::path::absolute(path)?;
    let mut uri = String::from("file://");
    for &byte in absolute.as_os_str().as_bytes() {
        if byte.is_ascii_alphanumeric() || b"/-._~".contains(&byte) {
            uri.push(char::from(byte));
        } else {
            uri.push_str(&format!("%{byte:02X}"));
        }
    }
    uri.push_str("?mode=ro&immutable=1");
    Ok(uri)
}

/// An error reading a database's header or schema: a file that is not a database at all, or a
/// damaged one, is `Corrupt`; anything else (locks, I/O) is reported as SQLite said it.
fn read_error(path: &Path, error: rusqlite::Error) -> StoreError {
    match error.sqlite_error_code() {
        Some(rusqlite::ErrorCode::NotADatabase | rusqlite::ErrorCode::DatabaseCorrupt) => {
            StoreError::Corrupt {
                path: path.to_path_buf(),
                error,
            }
        }
        _ => StoreError::Sqlite {
            path: path.to_path_buf(),
            error,
        },
    }
}

/// Decide, by reading only, whether `conn`'s database is a flakehunt history this build can use.
fn inspect(conn: &Connection, path: &Path) -> Result<Found, StoreError> {
    let fail = |error| read_error(path, error);
    // One read transaction, one snapshot: read apart, a migration committed by another
    // process in between gave "user_version 0 with tables", a healthy store called damaged.
    let snapshot = conn.unchecked_transaction().map_err(fail)?;
    let version: i64 = snapshot
        .query_row("PRAGMA user_version", [], |row| row.get(0))
        .map_err(fail)?;
    let application_id: i32 = snapshot
        .query_row("PRAGMA application_id", [], |row| row.get(0))
        .map_err(fail)?;
    let found = schema::objects(&snapshot, "main").map_err(fail)?;
    drop(snapshot);
    let ours = application_id == schema::APPLICATION_ID;
    let foreign = || StoreError::Foreign {
        path: path.to_path_buf(),
        what: describe(&found, application_id, version),
    };
    if application_id != 0 && !ours {
        return Err(foreign());
    }
    if version > schema::VERSION {
        // Without the mark, only a table of ours makes it a newer history rather than foreign.
        let has_campaigns = found.contains(&("table".to_string(), "campaigns".to_string()));
        return Err(if ours || has_campaigns {
            StoreError::NewerSchema {
                path: path.to_path_buf(),
                found: version,
                supported: schema::VERSION,
            }
        } else {
            foreign()
        });
    }
    if found.is_empty() && version == 0 {
        return Ok(Found::Blank);
    }
    let expected =
        schema::expected_objects(version.max(0)).map_err(|error| StoreError::Sqlite {
            path: path.to_path_buf(),
            error,
        })?;
    let missing: Vec<&schema::Object> = expected.difference(&found).collect();
    // Unmarked, it must hold at least one object of ours to count as a history at all.
    let recognised = ours || (!expected.is_empty() && missing.len() < expected.len());
    if !recognised || version < 0 {
        return Err(foreign());
    }
    if version == 0 {
        // Marked as ours but never migrated, yet holding tables: not something we wrote.
        return Err(StoreError::Damaged {
            path: path.to_path_buf(),
            version,
            missing: "schema version (it has tables but user_version 0)".to_string(),
        });
    }
    if !missing.is_empty() {
        return Err(StoreError::Damaged {
            path: path.to_path_buf(),
            version,
            missing: list_objects(&missing),
        });
    }
    Ok(Found::History(version))
}

/// "table `runs`", "tables `runs`, `hunts` and trigger `sightings_ai`".
fn list_objects(objects: &[&schema::Object]) -> String {
    let kinds: BTreeSet<&str> = objects.iter().map(|(kind, _)| kind.as_str()).collect();
    let parts: Vec<String> = kinds
        .into_iter()
        .map(|kind| {
            let names: Vec<String> = objects
                .iter()
                .filter(|(k, _)| k == kind)
                .map(|(_, name)| format!("`{name}`"))
                .collect();
            let plural = if names.len() > 1 { "s" } else { "" };
            format!("{kind}{plural} {}", names.join(", "))
        })
        .collect();
    parts.join(" and ")
}

/// What a foreign database holds, to tell the user which file they pointed at.
fn describe(objects: &BTreeSet<schema::Object>, application_id: i32, version: i64) -> String {
    let mut what = String::from("a SQLite database");
    if application_id != 0 {
        what.push_str(&format!(
            " of another application (application_id {application_id:#x})"
        ));
    }
    let tables: Vec<&str> = objects
        .iter()
        .filter(|(kind, _)| kind == "table")
        .map(|(_, name)| name.as_str())
        .collect();
    const SHOWN: usize = 5;
    match tables.len() {
        0 => what.push_str(&format!(" without tables (user_version {version})")),
        n => {
            let shown: Vec<String> = tables
                .iter()
                .take(SHOWN)
                .map(|t| format!("`{t}`"))
                .collect();
            let more = if n > SHOWN {
                format!(" and {} more", n - SHOWN)
            } else {
                String::new()
            };
            let plural = if n > 1 { "s" } else { "" };
            what.push_str(&format!(" with table{plural} {}{more}", shown.join(", ")));
        }
    }
    what
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Several processes creating one new history at once: each must open it, none may find
    /// another's half-read migration "damaged".
    #[test]
    fn a_new_store_opened_by_many_at_once_is_never_called_damaged() {
        let dir = tempfile::tempdir().expect("tempdir");
        for attempt in 0..30 {
            let path = dir.path().join(format!("h{attempt}.db"));
            let barrier = std::sync::Barrier::new(4);
            std::thread::scope(|scope| {
                let openers: Vec<_> = (0..4u64)
                    .map(|opener| {
                        let (barrier, path) = (&barrier, &path);
                        scope.spawn(move || {
                            barrier.wait();
                            // Staggered, so that some arrive while the first is migrating.
                            std::thread::sleep(Duration::from_micros(
                                opener * (attempt % 10) * 100,
                            ));
                            Store::open(path).map(|_| ())
                        })
                    })
                    .collect();
                for opener in openers {
                    let opened = opener.join().expect("thread");
                    assert!(opened.is_ok(), "attempt {attempt}: {opened:?}");
                }
            });
            assert!(Store::open_existing(&path).is_ok());
        }
    }
}
