//! A campaign that cannot start is refused before anything is written: exit 2, one line saying
//! what is wrong, no campaign in the history (none that could become `last`), no output
//! directory, the event log untouched. Nonsense values and an open-file limit too low for `-j`
//! are refused the same way.

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;

use common::*;

/// A history with one finished campaign, and paths a refused campaign must leave alone.
struct Setup {
    dir: tempfile::TempDir,
}

impl Setup {
    fn new() -> Setup {
        let setup = Setup { dir: scratch() };
        let output = flakehunt()
            .arg("--db")
            .arg(setup.db())
            .args(["run", "--quiet", "-n", "1", "--out"])
            .arg(setup.path("first"))
            .arg("--")
            .arg(fixture())
            .output()
            .expect("run flakehunt");
        assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
        assert_eq!(setup.campaigns(), 1);
        setup
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn db(&self) -> PathBuf {
        self.path("history.db")
    }

    /// Where a campaign would create its output: two directories that do not exist yet.
    fn out(&self) -> PathBuf {
        self.path("new/out")
    }

    /// `flakehunt --db DB run --quiet --out OUT ARGS -- COMMAND`
    fn flakehunt(&self, args: &[&str], command: &[&str]) -> Output {
        flakehunt()
            .arg("--db")
            .arg(self.db())
            .args(["run", "--quiet", "--out"])
            .arg(self.out())
            .args(args)
            .arg("--")
            .args(command)
            .output()
            .expect("run flakehunt")
    }

    fn campaigns(&self) -> i64 {
        let conn = rusqlite::Connection::open_with_flags(
            self.db(),
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
        )
        .expect("open history");
        conn.query_row("SELECT count(*) FROM campaigns", [], |row| row.get(0))
            .expect("count")
    }

    /// Run and check the refusal: exit 2, `expect` in the message, nothing written.
    fn assert_refused(&self, args: &[&str], command: &[&str], expect: &[&str]) {
        let output = self.flakehunt(args, command);
        let message = stderr(&output);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {message}");
        for text in expect {
            assert!(
                message.contains(text),
                "{args:?}: expected {text:?} in: {message}"
            );
        }
        assert_eq!(
            message.lines().count(),
            1,
            "one line says what is wrong: {message}"
        );
        assert_eq!(self.campaigns(), 1, "{args:?}: a campaign was recorded");
        assert!(
            !self.path("new").exists(),
            "{args:?}: the output directory was created"
        );
    }
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn fixture_str() -> &'static str {
    fixture().to_str().expect("utf-8 path")
}

/// An executable file `name` in `dir` with `text`.
fn executable(dir: &Path, name: &str, text: &[u8]) -> String {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    path.display().to_string()
}

#[test]
fn a_bad_event_log_path_writes_nothing() {
    let setup = Setup::new();
    let missing = setup.path("no-such-dir/events.ndjson");
    setup.assert_refused(
        &["--events", missing.to_str().expect("utf-8")],
        &[fixture_str()],
        &["cannot write the event log", "does not exist", "--events"],
    );
    let dir = setup.path("");
    setup.assert_refused(
        &["--events", dir.to_str().expect("utf-8")],
        &[fixture_str()],
        &["is a directory"],
    );
    let before = std::fs::read(setup.db()).expect("read");
    setup.assert_refused(
        &["--events", setup.db().to_str().expect("utf-8")],
        &[fixture_str()],
        &["is the history database", "would corrupt it"],
    );
    assert_eq!(std::fs::read(setup.db()).expect("read"), before);
    let file = setup.path("plain-file");
    std::fs::write(&file, "x").expect("write");
    let under_file = file.join("events.ndjson");
    setup.assert_refused(
        &["--events", under_file.to_str().expect("utf-8")],
        &[fixture_str()],
        &["Not a directory"],
    );
}

#[test]
fn an_output_directory_that_cannot_be_created_leaves_the_event_log_alone() {
    let setup = Setup::new();
    let events = setup.path("events.ndjson");
    std::fs::write(&events, "{\"earlier\":true}\n").expect("write");
    let file = setup.path("plain-file");
    std::fs::write(&file, "x").expect("write");
    let output = flakehunt()
        .arg("--db")
        .arg(setup.db())
        .args(["run", "--quiet", "--events"])
        .arg(&events)
        .arg("--out")
        .arg(file.join("out"))
        .arg("--")
        .arg(fixture())
        .output()
        .expect("run");
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(stderr(&output).contains("cannot create output directory"));
    assert_eq!(setup.campaigns(), 1);
    assert_eq!(
        std::fs::read_to_string(&events).expect("read"),
        "{\"earlier\":true}\n"
    );
    let new_events = setup.path("new-events.ndjson");
    let output = flakehunt()
        .arg("--db")
        .arg(setup.db())
        .args(["run", "--quiet", "--events"])
        .arg(&new_events)
        .arg("--out")
        .arg(file.join("out"))
        .arg("--")
        .arg(fixture())
        .output()
        .expect("run");
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(!new_events.exists(), "the event log was created");
}

#[test]
fn a_history_that_refuses_the_campaign_leaves_no_output_and_the_event_log_as_it_was() {
    let setup = Setup::new();
    {
        let conn = rusqlite::Connection::open(setup.db()).expect("open");
        conn.execute_batch(
            "CREATE TRIGGER refuse BEFORE INSERT ON campaigns
             BEGIN SELECT RAISE(ABORT, 'no more campaigns'); END;",
        )
        .expect("trigger");
    }
    let events = setup.path("events.ndjson");
    let earlier = "{\"earlier\":true}\n";
    std::fs::write(&events, earlier).expect("write");
    let new_events = setup.path("new-events.ndjson");
    for log in [&events, &new_events] {
        let output = setup.flakehunt(
            &["--events", log.to_str().expect("utf-8")],
            &[fixture_str()],
        );
        assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
        assert!(
            stderr(&output).contains("no more campaigns"),
            "{}",
            stderr(&output)
        );
        assert!(!setup.path("new").exists(), "the output directory is left");
    }
    assert_eq!(std::fs::read_to_string(&events).expect("read"), earlier);
    assert!(!new_events.exists(), "a new event log is left");
}

#[test]
fn a_script_whose_interpreter_is_missing_is_refused_naming_it() {
    let setup = Setup::new();
    let dir = setup.path("");
    let script = executable(
        &dir,
        "test.py",
        b"#!/nonexistent/bin/python9 -u\nprint('hi')\n",
    );
    setup.assert_refused(
        &[],
        &[&script],
        &[
            "test.py starts with #!/nonexistent/bin/python9",
            "does not exist",
        ],
    );
    let script = executable(
        &dir,
        "env.py",
        b"#!/usr/bin/env fh-no-such-interpreter\nprint('hi')\n",
    );
    if Path::new("/usr/bin/env").exists() {
        setup.assert_refused(
            &[],
            &[&script],
            &[
                "env fh-no-such-interpreter",
                "no fh-no-such-interpreter is on the run's PATH",
            ],
        );
    }
    let script = executable(&dir, "dos.sh", b"#!/bin/sh\r\necho hi\r\n");
    setup.assert_refused(&[], &[&script], &["Windows line endings"]);
    // An interpreter that is itself a script with a missing interpreter.
    let middle = executable(&dir, "middle", b"#!/nonexistent/deeper\n");
    let script = executable(&dir, "outer", format!("#!{middle}\n").as_bytes());
    setup.assert_refused(
        &[],
        &[&script],
        &["its interpreter", "/nonexistent/deeper", "does not exist"],
    );
    let script = executable(&dir, "bare.sh", b"echo no interpreter line\n");
    setup.assert_refused(&[], &[&script], &["has no #! line", "sh "]);
    let script = executable(&dir, "empty", b"");
    setup.assert_refused(&[], &[&script], &["is empty"]);
    // A script that works is not refused.
    let script = executable(&dir, "good.sh", b"#!/bin/sh\nexit 0\n");
    let output = setup.flakehunt(&["-n", "1"], &[&script]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
}

#[test]
fn a_program_whose_dynamic_loader_is_missing_is_refused_naming_it() {
    let setup = Setup::new();
    let mut image = std::fs::read(fixture()).expect("read fixture");
    // The loader's path sits near the start of a dynamically linked program.
    let head = &image[..image.len().min(4096)];
    let Some(start) = head
        .windows(4)
        .position(|w| w == b"/lib")
        .filter(|start| head[*start..].windows(4).take(64).any(|w| w == b"/ld-"))
    else {
        println!("skipped: the fixture is not dynamically linked");
        return;
    };
    let length = head[start..]
        .iter()
        .position(|b| *b == 0)
        .expect("NUL-terminated");
    let replacement = b"/nonexistent-loader-for-flakehunt-tests.so.1";
    let replacement = &replacement[..length.min(replacement.len())];
    image[start..start + replacement.len()].copy_from_slice(replacement);
    for byte in &mut image[start + replacement.len()..start + length] {
        *byte = b'1';
    }
    let program = executable(&setup.path(""), "foreign-program", &image);
    let shown = String::from_utf8_lossy(&image[start..start + length]).into_owned();
    setup.assert_refused(
        &[],
        &[&program],
        &["needs the dynamic loader", &shown, "not installed here"],
    );
}

#[test]
fn nonsense_values_are_refused_before_anything_is_written() {
    let setup = Setup::new();
    for (args, expect) in [
        (
            &["--shake", "jitter=500000000years"][..],
            "jitter must be 1us to 1m",
        ),
        (&["--shake", "cpu-load=100000"], "not a count from 1 to 256"),
        (&["--shake", "nice=99"], "nice must be -20 to 19"),
        (&["--shake", "slice=0"], "slice must be 100us to 100ms"),
        (
            &["--shake", "py-switch=3h"],
            "switch interval must be 1us to 1m",
        ),
        (&["--shake", "mem-load=-3"], "not a count from 1 to 256"),
        (&["--shake", "nice=1,nice=2"], "given twice"),
        (
            &["--step", "expect-exit 999 within 1s"],
            "exit codes are 0 to 255",
        ),
        (
            &["--step", "expect-exit SIGSTOP within 1s"],
            "no process dies of SIGSTOP",
        ),
        (
            &["--step", "sleep 500000000years"],
            "longer than a step may take",
        ),
        (
            &["--timeout", "500000000000years"],
            "--timeout must be at most 365 days",
        ),
        (
            &["--duration", "500000000000years"],
            "--duration must be at most 365 days",
        ),
        (&["--grace", "400days"], "--grace must be at most 365 days"),
    ] {
        setup.assert_refused(args, &[fixture_str()], &[expect]);
    }
    let script = setup.path("script.toml");
    std::fs::write(&script, "steps = [\"expect-exit 256 within 1s\"]\n").expect("write");
    setup.assert_refused(
        &["--script", script.to_str().expect("utf-8")],
        &[fixture_str()],
        &["script.toml line 1", "exit codes are 0 to 255"],
    );
}

/// A tmpfs mounted noexec, unmounted on drop.
struct NoexecMount(PathBuf);

impl NoexecMount {
    /// None, saying why, where this machine cannot mount one.
    fn at(path: PathBuf) -> Option<NoexecMount> {
        // SAFETY: geteuid(2) has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            println!("skipped: mounting a noexec filesystem needs root");
            return None;
        }
        std::fs::create_dir(&path).expect("mount point");
        let mounted = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", "noexec,size=64m", "tmpfs"])
            .arg(&path)
            .status()
            .is_ok_and(|status| status.success());
        if !mounted {
            println!("skipped: cannot mount a tmpfs here");
            return None;
        }
        Some(NoexecMount(path))
    }
}

impl Drop for NoexecMount {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn a_noexec_mount_is_refused_before_anything_runs() {
    let setup = Setup::new();
    let Some(mount) = NoexecMount::at(setup.path("noexec")) else {
        return;
    };
    let program = mount.0.join("fh-fixture");
    std::fs::copy(fixture(), &program).expect("copy");
    let script = executable(
        &setup.path(""),
        "via-noexec",
        format!("#!{}\n", program.display()).as_bytes(),
    );
    setup.assert_refused(
        &[],
        &[program.to_str().expect("utf-8")],
        &["mounted noexec"],
    );
    setup.assert_refused(&[], &[&script], &["its interpreter", "mounted noexec"]);
}

/// `flakehunt run` under an open-file limit of `soft` (and `hard`, if given).
fn with_open_file_limit(
    soft: u64,
    hard: Option<u64>,
    command: &mut std::process::Command,
) -> Output {
    use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
    use std::os::unix::process::CommandExt;
    let hard = hard.or(getrlimit(Resource::Nofile).maximum);
    // SAFETY: setrlimit is async-signal-safe and touches no shared state.
    unsafe {
        command.pre_exec(move || {
            setrlimit(
                Resource::Nofile,
                Rlimit {
                    current: Some(soft),
                    maximum: hard,
                },
            )?;
            Ok(())
        });
    }
    command.output().expect("run flakehunt")
}

#[test]
fn a_wide_campaign_raises_the_open_file_limit_and_runs_keep_the_original() {
    let needed = 100 * 6 + 100;
    let hard = rustix::process::getrlimit(rustix::process::Resource::Nofile).maximum;
    if hard.is_some_and(|hard| hard < needed) {
        println!("skipped: the hard open-file limit is below {needed}");
        return;
    }
    let dir = scratch();
    // Every run holds several descriptors while it sleeps, far beyond 64 in all; each checks
    // that it got the limit flakehunt was started with.
    let mut command = flakehunt();
    command
        .args(["run", "--quiet", "--json", "-j", "100", "-n", "100", "--out"])
        .arg(dir.path())
        .args([
            "--",
            "sh",
            "-c",
            "sleep 0.3; limit=$(ulimit -S -n); [ \"$limit\" = 64 ] || { echo \"soft limit $limit\"; exit 1; }",
        ]);
    let output = with_open_file_limit(64, None, &mut command);
    let summary: serde_json::Value = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|error| panic!("{error}: {}", stderr(&output)));
    assert_eq!(summary["passes"], 100, "{summary}");
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
}

#[test]
fn a_hard_limit_too_low_for_jobs_is_refused_with_the_number_needed() {
    let setup = Setup::new();
    let mut command = flakehunt();
    command
        .arg("--db")
        .arg(setup.db())
        .args(["run", "--quiet", "-j", "400", "--out"])
        .arg(setup.out())
        .arg("--")
        .arg(fixture());
    let output = with_open_file_limit(64, Some(128), &mut command);
    let message = stderr(&output);
    assert_eq!(output.status.code(), Some(2), "{message}");
    assert!(message.contains("-j 400 needs up to"), "{message}");
    assert!(
        message.contains("open files, but the hard limit"),
        "{message}"
    );
    assert!(message.contains("is 128"), "{message}");
    assert_eq!(setup.campaigns(), 1);
    assert!(!setup.path("new").exists());
    // As many runs as the campaign has are all it needs room for.
    let mut command = flakehunt();
    command
        .arg("--db")
        .arg(setup.db())
        .args(["run", "--quiet", "-j", "400", "-n", "2", "--out"])
        .arg(setup.out())
        .arg("--")
        .arg(fixture());
    let output = with_open_file_limit(64, Some(128), &mut command);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
}
