//! Colour follows the conventions: on for a terminal, off for a pipe, `NO_COLOR` and `TERM=dumb`
//! turn it off, `CLICOLOR_FORCE` and `--color always` on, `--color never` off; JSON never.

mod common;

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};

use common::*;

/// The escape sequence that starts every colour or effect.
const SGR: &str = "\x1b[";

/// A history with one campaign that failed, so the views have something red to show.
fn history_with_a_failure(db: &Path, out: &Path) {
    let output = flakehunt()
        .arg("--db")
        .arg(db)
        .args(["run", "-q", "-n", "3", "--out"])
        .arg(out)
        .arg("--")
        .arg(fixture())
        .args(["fail-on:1"])
        .output()
        .expect("run");
    assert_eq!(output.status.code(), Some(1));
}

/// `flakehunt --db DB ARGS` with the colour variables of this environment removed, `env` set.
fn command(db: &Path, args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut command = flakehunt();
    command.arg("--db").arg(db).args(args);
    for name in ["NO_COLOR", "CLICOLOR", "CLICOLOR_FORCE", "CI", "TERM"] {
        command.env_remove(name);
    }
    command.envs(env.iter().copied());
    command
}

/// What the command printed on standard output, a pipe.
fn piped(db: &Path, args: &[&str], env: &[(&str, &str)]) -> String {
    let output = command(db, args, env).output().expect("run flakehunt");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// What the command printed on standard output, a pseudo-terminal; None (saying why) where
/// this machine has none.
fn on_terminal(db: &Path, args: &[&str], env: &[(&str, &str)]) -> Option<String> {
    use rustix::fs::{Mode, OFlags};
    use rustix::pty::{grantpt, openpt, ptsname, unlockpt, OpenptFlags};
    let master = match openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY | OpenptFlags::CLOEXEC) {
        Ok(master) => master,
        Err(error) => {
            println!("skipped: cannot open a pseudo-terminal ({error})");
            return None;
        }
    };
    grantpt(&master).expect("grantpt");
    unlockpt(&master).expect("unlockpt");
    let name = ptsname(&master, Vec::new()).expect("ptsname");
    let flags = OFlags::RDWR | OFlags::NOCTTY | OFlags::CLOEXEC;
    let slave = rustix::fs::open(name.as_c_str(), flags, Mode::empty()).expect("open pty");
    let reader = std::thread::spawn(move || {
        let mut master = std::fs::File::from(master);
        let mut seen = Vec::new();
        let mut buffer = [0u8; 4096];
        // EIO once every descriptor of the slave is closed.
        while let Ok(n @ 1..) = master.read(&mut buffer) {
            seen.extend_from_slice(&buffer[..n]);
        }
        seen
    });
    let status = command(db, args, env)
        .stdin(Stdio::null())
        .stdout(Stdio::from(slave))
        .status()
        .expect("run flakehunt");
    assert!(status.success());
    let seen = reader.join().expect("reader");
    Some(String::from_utf8_lossy(&seen).into_owned())
}

#[test]
fn colour_follows_the_terminal_and_the_conventions() {
    let dir = scratch();
    let db = dir.path().join("h.db");
    history_with_a_failure(&db, &dir.path().join("out"));
    let xterm = ("TERM", "xterm-256color");

    // A pipe: none, unless forced.
    assert!(!piped(&db, &["history"], &[xterm]).contains(SGR));
    assert!(piped(&db, &["history", "--color", "always"], &[]).contains(SGR));
    assert!(piped(&db, &["show", "last"], &[("CLICOLOR_FORCE", "1")]).contains(SGR));
    // clap's help follows --color too; a --color after `--` is the command's.
    assert!(piped(&db, &["run", "--help", "--color", "always"], &[]).contains(SGR));
    assert!(!piped(&db, &["run", "--help"], &[]).contains(SGR));
    let after = command(&db, &["run", "-n", "1", "--", "--color", "always"], &[]).output();
    assert!(!String::from_utf8_lossy(&after.expect("run").stderr).contains(SGR));
    // JSON never, even when forced.
    let json = piped(&db, &["show", "--json", "--color", "always"], &[]);
    assert!(!json.contains(SGR));
    serde_json::from_str::<serde_json::Value>(&json).expect("JSON");

    let Some(plain_terminal) = on_terminal(&db, &["history"], &[xterm]) else {
        return;
    };
    assert!(plain_terminal.contains(SGR), "a terminal gets colour");
    let no_color = on_terminal(&db, &["history"], &[xterm, ("NO_COLOR", "1")]);
    assert!(!no_color.unwrap_or_default().contains(SGR), "NO_COLOR");
    let dumb = on_terminal(&db, &["history"], &[("TERM", "dumb")]);
    assert!(!dumb.unwrap_or_default().contains(SGR), "TERM=dumb");
    let never = on_terminal(&db, &["show", "last", "--color", "never"], &[xterm]);
    assert!(!never.unwrap_or_default().contains(SGR), "--color never");
}

#[test]
fn colour_leaves_the_text_as_it_was() {
    let dir = scratch();
    let db = dir.path().join("h.db");
    history_with_a_failure(&db, &dir.path().join("out"));
    let sgr = regex::Regex::new("\x1b\\[[0-9;]*m").expect("regex");
    for args in [&["history"][..], &["show", "last"][..]] {
        let plain = piped(&db, args, &[]);
        let mut forced = args.to_vec();
        forced.extend(["--color", "always"]);
        let coloured = piped(&db, &forced, &[]);
        let stripped = sgr.replace_all(&coloured, "");
        assert_eq!(stripped, plain, "{args:?}");
    }
}
