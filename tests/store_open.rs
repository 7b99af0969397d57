//! Integration tests of opening the history store: databases that are not flakehunt histories
//! (or damaged ones) are refused byte-for-byte untouched, and reading never needs to write: a
//! read-only history, an older schema and an empty file all read.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::*;

/// `flakehunt --db DB ARGS...`
fn fh(db: &Path, args: &[&str]) -> Output {
    flakehunt()
        .arg("--db")
        .arg(db)
        .args(args)
        .output()
        .expect("run flakehunt")
}

/// `flakehunt --db DB run --quiet -j 1 -n 3 --out OUT -- fh-fixture ...`: run 1 of 3 fails.
fn record_campaign(db: &Path, out: &Path) -> Output {
    flakehunt()
        .arg("--db")
        .arg(db)
        .args(["run", "--quiet", "-j", "1", "-n", "3", "--out"])
        .arg(out)
        .arg("--")
        .arg(fixture())
        .args(["err:panic: boom in the flux capacitor", "fail-on:1"])
        .output()
        .expect("run flakehunt")
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// The journal and WAL files SQLite would leave beside `db` had anything written to it.
fn sidecars(db: &Path) -> Vec<PathBuf> {
    ["-wal", "-shm", "-journal"]
        .iter()
        .map(|suffix| {
            let mut name = db.as_os_str().to_owned();
            name.push(suffix);
            PathBuf::from(name)
        })
        .filter(|path| path.exists())
        .collect()
}

/// Run a writing command against `db` and check it refused before running anything.
fn assert_run_refused(db: &Path, out: &Path, expect: &[&str]) {
    let output = flakehunt()
        .arg("--db")
        .arg(db)
        .args(["run", "--quiet", "-n", "1", "--out"])
        .arg(out)
        .arg("--")
        .arg(fixture())
        .output()
        .expect("run flakehunt");
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    let message = stderr(&output);
    for text in expect {
        assert!(message.contains(text), "expected {text:?} in: {message}");
    }
    assert!(!out.exists(), "nothing may run against a refused database");
}

#[test]
fn foreign_databases_are_refused_and_left_untouched() {
    let dir = scratch();
    let plain = dir.path().join("notes.db");
    {
        let conn = rusqlite::Connection::open(&plain).expect("create");
        conn.execute_batch(
            "CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT);
             INSERT INTO notes (body) VALUES ('keep me');",
        )
        .expect("setup");
    }
    // Another application's mark, with a table of the same name as one of ours.
    let marked = dir.path().join("marked.db");
    {
        let conn = rusqlite::Connection::open(&marked).expect("create");
        conn.execute_batch(
            "PRAGMA application_id = 1234; PRAGMA user_version = 2;
             CREATE TABLE campaigns (x);",
        )
        .expect("setup");
    }
    // In WAL mode, where SQLite would create -wal/-shm files beside it just to read it.
    let logged = dir.path().join("ledger.db");
    {
        let conn = rusqlite::Connection::open(&logged).expect("create");
        conn.execute_batch("PRAGMA journal_mode = WAL; CREATE TABLE ledger (x);")
            .expect("setup");
    }
    for (db, what) in [
        (&plain, "`notes`"),
        (&marked, "application_id 0x4d2"),
        (&logged, "`ledger`"),
    ] {
        assert_eq!(sidecars(db), Vec::<PathBuf>::new(), "{}", db.display());
        let before = std::fs::read(db).expect("read");
        for args in [&["history"][..], &["show", "last"], &["search", "boom"]] {
            let output = fh(db, args);
            assert_eq!(
                output.status.code(),
                Some(2),
                "{args:?}: {}",
                stderr(&output)
            );
            let message = stderr(&output);
            assert!(message.contains("is not a flakehunt history"), "{message}");
            assert!(message.contains(what), "{message}");
            assert!(message.contains("choose another --db"), "{message}");
            assert!(!message.contains("move it aside"), "{message}");
        }
        assert_run_refused(
            db,
            &dir.path().join("out"),
            &["is not a flakehunt history", "choose another --db"],
        );
        assert_eq!(std::fs::read(db).expect("read"), before, "{}", db.display());
        assert_eq!(sidecars(db), Vec::<PathBuf>::new(), "no journal or WAL");
    }
}

#[test]
fn a_history_missing_a_table_is_refused_before_anything_is_written() {
    let dir = scratch();
    let db = dir.path().join("h.db");
    assert_eq!(
        record_campaign(&db, &dir.path().join("out")).status.code(),
        Some(1)
    );
    {
        let conn = rusqlite::Connection::open(&db).expect("open");
        conn.execute_batch("DROP TABLE signatures").expect("drop");
    }
    let before = std::fs::read(&db).expect("read");
    assert_run_refused(
        &db,
        &dir.path().join("out2"),
        &["missing its table `signatures`", "move it aside"],
    );
    let output = fh(&db, &["history"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("missing its table `signatures`"));
    assert_eq!(std::fs::read(&db).expect("read"), before);
    let conn = rusqlite::Connection::open(&db).expect("open");
    let tables: i64 = conn
        .query_row(
            "SELECT count(*) FROM sqlite_master WHERE name = 'signatures'",
            [],
            |row| row.get(0),
        )
        .expect("query");
    assert_eq!(tables, 0, "the missing table must not be recreated");
}

/// A directory that nothing can write to: a read-only bind mount of `source` when root (root
/// ignores permission bits), else `source` itself with its write bits removed. Undone on drop.
struct ReadOnlyDir {
    path: PathBuf,
    mounted: bool,
}

impl ReadOnlyDir {
    /// `None`, saying why, where this machine cannot make one.
    fn of(source: &Path, mount_point: &Path) -> Option<ReadOnlyDir> {
        use std::os::unix::fs::PermissionsExt;
        // SAFETY: geteuid(2) has no preconditions.
        let root = unsafe { libc::geteuid() } == 0;
        let dir = if root {
            std::fs::create_dir(mount_point).expect("mount point");
            let mount = |args: &[&str]| {
                Command::new("mount")
                    .args(args)
                    .output()
                    .map(|output| output.status.success())
                    .unwrap_or(false)
            };
            let bound = mount(&[
                "--bind",
                &source.display().to_string(),
                &mount_point.display().to_string(),
            ]);
            let dir = ReadOnlyDir {
                path: mount_point.to_path_buf(),
                mounted: bound,
            };
            if !bound || !mount(&["-o", "remount,bind,ro", &mount_point.display().to_string()]) {
                println!("skipped: cannot make a read-only bind mount here (mount failed)");
                return None;
            }
            dir
        } else {
            let set = |path: &Path, mode| {
                std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
                    .expect("chmod");
            };
            for entry in std::fs::read_dir(source).expect("list") {
                set(&entry.expect("entry").path(), 0o444);
            }
            set(source, 0o555);
            ReadOnlyDir {
                path: source.to_path_buf(),
                mounted: false,
            }
        };
        if std::fs::File::create(dir.path.join("probe")).is_ok() {
            println!("skipped: {} is still writable", dir.path.display());
            return None;
        }
        Some(dir)
    }
}

impl Drop for ReadOnlyDir {
    fn drop(&mut self) {
        use std::os::unix::fs::PermissionsExt;
        if self.mounted {
            let unmounted = Command::new("umount")
                .arg(&self.path)
                .status()
                .is_ok_and(|status| status.success());
            if !unmounted {
                let _ = Command::new("umount").arg("-l").arg(&self.path).status();
            }
            return;
        }
        let _ = std::fs::set_permissions(&self.path, std::fs::Permissions::from_mode(0o755));
        if let Ok(entries) = std::fs::read_dir(&self.path) {
            for entry in entries.flatten() {
                let _ =
                    std::fs::set_permissions(entry.path(), std::fs::Permissions::from_mode(0o644));
            }
        }
    }
}

#[test]
fn a_read_only_history_is_readable_and_refuses_writing() {
    let dir = scratch();
    let history = dir.path().join("history");
    std::fs::create_dir(&history).expect("mkdir");
    let out = dir.path().join("out");
    assert_eq!(
        record_campaign(&history.join("h.db"), &out).status.code(),
        Some(1)
    );
    let listing = |path: &Path| -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(path)
            .expect("list")
            .map(|entry| {
                entry
                    .expect("entry")
                    .file_name()
                    .to_string_lossy()
                    .into_owned()
            })
            .collect();
        names.sort();
        names
    };
    assert_eq!(
        listing(&history),
        ["h.db"],
        "a finished campaign leaves no WAL"
    );
    let before = std::fs::read(history.join("h.db")).expect("read");
    let Some(read_only) = ReadOnlyDir::of(&history, &dir.path().join("ro")) else {
        return;
    };
    let db = read_only.path.join("h.db");

    let output = fh(&db, &["history", "--json"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let rows: serde_json::Value = serde_json::from_slice(&output.stdout).expect("json");
    assert_eq!(rows[0]["runs"], 3);
    let id = rows[0]["id"].as_str().expect("id").to_string();

    let output = fh(&db, &["show", &id, "--json"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let summary: serde_json::Value = serde_json::from_slice(&output.stdout).expect("json");
    assert_eq!(summary["failures"], 1);

    let output = fh(&db, &["log", "last", "1"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(String::from_utf8_lossy(&output.stdout).contains("flux capacitor"));

    let output = fh(&db, &["search", "flux capacitor", "--json"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let found: serde_json::Value = serde_json::from_slice(&output.stdout).expect("json");
    assert_eq!(found["groups"][0]["count"], 1);

    assert_run_refused(
        &db,
        &dir.path().join("out2"),
        &["cannot record to", "not writable", "can still read it"],
    );
    let artifact = dir.path().join("ci.log");
    std::fs::write(&artifact, "--- FAIL: TestFlux (0.01s)\n").expect("write");
    let output = flakehunt()
        .arg("--db")
        .arg(&db)
        .arg("ingest")
        .arg(&artifact)
        .output()
        .expect("ingest");
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("cannot record to"),
        "{}",
        stderr(&output)
    );

    drop(read_only);
    assert_eq!(listing(&history), ["h.db"], "reading left no files behind");
    assert_eq!(std::fs::read(history.join("h.db")).expect("read"), before);
}

#[test]
fn an_older_schema_is_read_without_migrating_and_upgraded_by_a_write() {
    let dir = scratch();
    let db = dir.path().join("h.db");
    assert_eq!(
        record_campaign(&db, &dir.path().join("out")).status.code(),
        Some(1)
    );
    // Turn it back into a schema v1 history as flakehunt wrote it before application ids.
    {
        let conn = rusqlite::Connection::open(&db).expect("open");
        conn.execute_batch(
            "DROP TABLE campaign_shards; DROP TABLE bisect_probes; DROP TABLE bisections; DROP TABLE parts; ALTER TABLE runs DROP COLUMN part; ALTER TABLE hunts DROP COLUMN campaign;
             DROP TABLE test_results; DROP TABLE hunt_campaigns; DROP TABLE hunts; DROP TABLE windows; ALTER TABLE runs DROP COLUMN seed;
             PRAGMA user_version = 1; PRAGMA application_id = 0;",
        )
        .expect("downgrade");
    }
    let before = std::fs::read(&db).expect("read");
    for args in [
        &["history"][..],
        &["show", "last"],
        &["log", "last", "1"],
        &["search", "flux capacitor"],
        &["report", "last", "--format", "md"],
    ] {
        let output = fh(&db, args);
        assert_eq!(
            output.status.code(),
            Some(0),
            "{args:?}: {}",
            stderr(&output)
        );
    }
    assert_eq!(
        std::fs::read(&db).expect("read"),
        before,
        "reading must not migrate"
    );

    assert_eq!(
        record_campaign(&db, &dir.path().join("out2")).status.code(),
        Some(1)
    );
    let conn = rusqlite::Connection::open(&db).expect("open");
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |row| row.get(0))
        .expect("version");
    assert!(version > 1, "a writing command upgrades the schema");
    let campaigns: i64 = conn
        .query_row("SELECT count(*) FROM campaigns", [], |row| row.get(0))
        .expect("count");
    assert_eq!(campaigns, 2);
}

#[test]
fn an_empty_file_is_an_empty_history() {
    let dir = scratch();
    let db = dir.path().join("empty.db");
    std::fs::write(&db, b"").expect("create");

    let output = fh(&db, &["history", "--json"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(String::from_utf8_lossy(&output.stdout).trim(), "[]");
    let output = fh(&db, &["history"]);
    assert!(String::from_utf8_lossy(&output.stdout).contains("no campaigns recorded"));
    // search exits 1 when it finds nothing, like grep; it is not an error.
    let output = fh(&db, &["search", "boom"]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert!(String::from_utf8_lossy(&output.stdout).contains("0 sighting(s)"));
    assert_eq!(std::fs::read(&db).expect("read"), b"");
    assert_eq!(sidecars(&db), Vec::<PathBuf>::new());

    // A writing command makes it a history.
    assert_eq!(
        record_campaign(&db, &dir.path().join("out")).status.code(),
        Some(1)
    );
    let output = fh(&db, &["history", "--json"]);
    let rows: serde_json::Value = serde_json::from_slice(&output.stdout).expect("json");
    assert_eq!(rows.as_array().map(Vec::len), Some(1));
}
