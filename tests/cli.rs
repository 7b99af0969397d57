//! Integration tests of the command line's conventions: one history per git project, every
//! exit status, shell completions, the man page and `--version`.

mod common;

use std::io::Read;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use common::*;

/// flakehunt with no history location of its own: the default applies.
fn flakehunt_default_db(cwd: &Path) -> Command {
    let mut command = flakehunt();
    command.env_remove("FLAKEHUNT_DB").current_dir(cwd);
    command
}

/// Run `git ARGS` in `dir`, failing the test if it fails.
fn git(dir: &Path, args: &[&str]) {
    let output = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["-c", "user.name=t", "-c", "user.email=t@example.invalid"])
        .args(args)
        .output()
        .expect("git is needed by this test");
    assert!(
        output.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// One quick clean campaign run from `cwd`; returns its id.
fn campaign_from(cwd: &Path, out: &Path) -> String {
    let output = flakehunt_default_db(cwd)
        .args(["run", "--quiet", "--json", "-n", "2", "--out"])
        .arg(out)
        .arg("--")
        .arg(fixture())
        .output()
        .expect("run");
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let summary: serde_json::Value = serde_json::from_slice(&output.stdout).expect("json");
    summary["campaign"].as_str().expect("id").to_string()
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn two_folders_of_a_git_project_share_one_history() {
    let dir = scratch();
    let project = dir.path().join("project");
    for sub in ["api/handlers", "web"] {
        std::fs::create_dir_all(project.join(sub)).expect("mkdir");
    }
    git(&project, &["init", "-q"]);
    let first = campaign_from(&project.join("api/handlers"), &dir.path().join("out1"));
    let second = campaign_from(&project.join("web"), &dir.path().join("out2"));
    assert!(project.join(".flakehunt/history.db").is_file());
    assert!(!project.join("api/handlers/.flakehunt").exists());
    assert!(!project.join("web/.flakehunt").exists());
    let history = flakehunt_default_db(&project.join("web"))
        .args(["history"])
        .output()
        .expect("history");
    let listed = stdout(&history);
    assert!(
        listed.contains(&first) && listed.contains(&second),
        "{listed}"
    );

    // A linked worktree is a work tree of its own, found through its `.git` file.
    git(&project, &["commit", "-q", "--allow-empty", "-m", "start"]);
    let linked = dir.path().join("linked");
    git(
        &project,
        &[
            "worktree",
            "add",
            "-q",
            linked.to_str().expect("utf-8"),
            "HEAD",
        ],
    );
    std::fs::create_dir_all(linked.join("deep/er")).expect("mkdir");
    campaign_from(&linked.join("deep/er"), &dir.path().join("out3"));
    assert!(linked.join(".flakehunt/history.db").is_file());
}

#[test]
fn outside_a_git_project_the_history_is_in_the_current_directory_and_flags_win() {
    let dir = scratch();
    let plain = dir.path().join("plain");
    std::fs::create_dir_all(&plain).expect("mkdir");
    campaign_from(&plain, &dir.path().join("out1"));
    assert!(plain.join(".flakehunt/history.db").is_file());

    let project = dir.path().join("project");
    std::fs::create_dir_all(project.join("sub")).expect("mkdir");
    git(&project, &["init", "-q"]);
    let chosen = dir.path().join("chosen.db");
    let output = flakehunt_default_db(&project.join("sub"))
        .env("FLAKEHUNT_DB", &chosen)
        .args(["run", "--quiet", "-n", "1", "--out"])
        .arg(dir.path().join("out2"))
        .arg("--")
        .arg(fixture())
        .output()
        .expect("run");
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let flag = dir.path().join("flag.db");
    let output = flakehunt_default_db(&project.join("sub"))
        .env("FLAKEHUNT_DB", &chosen)
        .arg("--db")
        .arg(&flag)
        .args(["run", "--quiet", "-n", "1", "--out"])
        .arg(dir.path().join("out3"))
        .arg("--")
        .arg(fixture())
        .output()
        .expect("run");
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(chosen.is_file() && flag.is_file());
    assert!(!project.join(".flakehunt").exists());
}

#[test]
fn run_exits_0_clean_1_failed_2_unusable_3_on_output_errors() {
    let dir = scratch();
    let out = dir.path().join("out");
    assert_eq!(run_fixture(&out, &["-n", "2"], &[]).status.code(), Some(0));
    let out = dir.path().join("out1");
    assert_eq!(
        run_fixture(&out, &["-n", "2"], &["fail-on:1"])
            .status
            .code(),
        Some(1)
    );
    let out = dir.path().join("out2");
    assert_eq!(
        run_fixture(&out, &["-n", "2", "--timeout", "soon"], &[])
            .status
            .code(),
        Some(2)
    );
    let full = std::fs::File::create("/dev/full").expect("/dev/full");
    let output = fixture_command(&dir.path().join("out3"), &["-n", "1"], &[])
        .stdout(full)
        .output()
        .expect("run");
    assert_eq!(output.status.code(), Some(3), "{}", stderr(&output));
}

/// Start `flakehunt ARGS`, wait until `pids` lists `count` started runs, send SIGINT, and
/// return what it printed with its exit status.
fn interrupt(args: &[&str], pids: &Path, count: usize) -> (Option<i32>, String, String) {
    let mut child = flakehunt()
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn flakehunt");
    let seen = wait_for_pids(pids, count);
    // SAFETY: kill(2) on the flakehunt process this test started.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGINT);
    }
    let (mut out, mut err) = (String::new(), String::new());
    let mut stderr_pipe = child.stderr.take().expect("stderr");
    let reader = std::thread::spawn(move || {
        let _ = stderr_pipe.read_to_string(&mut err);
        err
    });
    child
        .stdout
        .take()
        .expect("stdout")
        .read_to_string(&mut out)
        .expect("read");
    let status = child.wait().expect("wait");
    let err = reader.join().expect("stderr reader");
    assert!(survivors(&seen).is_empty(), "runs outlived the interrupt");
    (status.code(), out, err)
}

#[test]
fn an_interrupted_run_exits_130_after_printing_its_summary() {
    let dir = scratch();
    let pids = dir.path().join("pids");
    let pidfile = format!("pidfile:{}", pids.display());
    let out = dir.path().join("out");
    let fixture = fixture().to_str().expect("utf-8 path");
    let args = [
        "run",
        "-j",
        "2",
        "--progress",
        "lines",
        "--out",
        out.to_str().expect("utf-8"),
        "--",
        fixture,
        &pidfile,
        "hang",
    ];
    let (code, stdout, stderr) = interrupt(&args, &pids, 2);
    assert_eq!(code, Some(130), "{stderr}");
    assert!(
        stdout.contains("(interrupted)") && stdout.contains("cancelled"),
        "the summary is printed: {stdout}"
    );
}

#[test]
fn an_interrupted_verify_exits_130_with_its_verdict() {
    let dir = scratch();
    let pids = dir.path().join("pids");
    let pidfile = format!("pidfile:{}", pids.display());
    let out = dir.path().join("out");
    let fixture = fixture().to_str().expect("utf-8 path");
    let args = [
        "verify",
        "--baseline-rate",
        "1/1000",
        "-j",
        "1",
        "--quiet",
        "--out",
        out.to_str().expect("utf-8"),
        "--",
        fixture,
        &pidfile,
        "hang",
    ];
    let (code, stdout, stderr) = interrupt(&args, &pids, 1);
    assert_eq!(code, Some(130), "{stderr}");
    assert!(stdout.starts_with("INCONCLUSIVE"), "{stdout}");
}

#[test]
fn an_interrupted_demo_exits_130() {
    let dir = scratch();
    let out = dir.path().join("out");
    let mut child = flakehunt()
        .args([
            "demo",
            "--quiet",
            "-j",
            "1",
            "-n",
            "1000000",
            "--max-failures",
            "1000000",
        ])
        .arg("--out")
        .arg(&out)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    // The demo logs every finished run to its event log: wait for the first.
    let events = out.join("events.ndjson");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !std::fs::read_to_string(&events).is_ok_and(|text| text.contains("\"type\":\"run\"")) {
        assert!(std::time::Instant::now() < deadline, "the demo never ran");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    // SAFETY: kill(2) on the flakehunt process this test started.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGINT);
    }
    let mut summary = String::new();
    child
        .stdout
        .take()
        .expect("stdout")
        .read_to_string(&mut summary)
        .expect("read");
    assert_eq!(child.wait().expect("wait").code(), Some(130));
    assert!(summary.contains("(interrupted)"), "{summary}");
}

#[test]
fn verify_exits_4_when_inconclusive() {
    let dir = scratch();
    let output = flakehunt()
        .args([
            "verify",
            "--baseline-rate",
            "1/1000",
            "-j",
            "1",
            "--duration",
            "300ms",
        ])
        .args(["--quiet", "--out"])
        .arg(dir.path().join("out"))
        .arg("--")
        .arg(fixture())
        .arg("sleep:100")
        .output()
        .expect("verify");
    assert_eq!(output.status.code(), Some(4), "{}", stderr(&output));
    let text = stdout(&output);
    assert!(text.starts_with("INCONCLUSIVE: only "), "{text}");
    assert!(
        text.contains("one-sided exact binomial test against a rate of 0.10%"),
        "{text}"
    );
}

/// A campaign of 40 runs in `db`, failing on the runs in `fail_on` (if any), with `extra`
/// options; returns its id.
fn campaign(db: &Path, out: &Path, extra: &[&str], actions: &[&str]) -> String {
    let output = flakehunt()
        .arg("--db")
        .arg(db)
        .args(["run", "--quiet", "--json", "-j", "2", "-n", "40", "--out"])
        .arg(out)
        .args(extra)
        .arg("--")
        .arg(fixture())
        .args(actions)
        .output()
        .expect("run");
    let summary: serde_json::Value = serde_json::from_slice(&output.stdout).expect("json");
    summary["campaign"].as_str().expect("id").to_string()
}

#[test]
fn compare_fails_if_worse_and_warns_when_the_campaigns_ran_differently() {
    let dir = scratch();
    let db = dir.path().join("h.db");
    let clean = campaign(&db, &dir.path().join("a"), &[], &[]);
    let half: Vec<String> = (0..40).step_by(2).map(|i| i.to_string()).collect();
    let fail_on = format!("fail-on:{}", half.join(","));
    let worse = campaign(
        &db,
        &dir.path().join("b"),
        &["--env", "MODE=fast", "--timeout", "30s"],
        &[&fail_on],
    );
    let compare = |args: &[&str]| {
        flakehunt()
            .arg("--db")
            .arg(&db)
            .arg("compare")
            .args(args)
            .output()
            .expect("compare")
    };
    assert_eq!(compare(&[&clean, &worse]).status.code(), Some(0));
    let gated = compare(&["--fail-if-worse", &clean, &worse]);
    assert_eq!(gated.status.code(), Some(1), "{}", stderr(&gated));
    let text = stdout(&gated);
    assert!(
        text.contains("verdict: B is worse (two-sided Fisher exact test, p < 0.001)"),
        "{text}"
    );
    assert!(
        text.contains("warning: A and B did not run the same way"),
        "{text}"
    );
    assert!(
        text.contains("MODE=fast") && text.contains("600s") && text.contains("fail-on:"),
        "{text}"
    );
    // B better than A is no reason to fail, nor is a comparison of a campaign with itself.
    assert_eq!(
        compare(&["--fail-if-worse", &worse, &clean]).status.code(),
        Some(0)
    );
    let same = compare(&["--fail-if-worse", "--json", &clean, &clean]);
    assert_eq!(same.status.code(), Some(0));
    let value: serde_json::Value = serde_json::from_slice(&same.stdout).expect("json");
    assert_eq!(value["spec_differences"], serde_json::json!([]));
}

#[test]
fn completions_are_generated_for_every_shell_and_bash_parses_its_script() {
    for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
        let output = flakehunt()
            .args(["completions", shell])
            .output()
            .expect("run");
        assert_eq!(output.status.code(), Some(0), "{shell}");
        let script = stdout(&output);
        for subcommand in ["run", "verify", "compare", "search", "manpage"] {
            assert!(script.contains(subcommand), "{shell} lacks {subcommand}");
        }
        assert!(
            !script.contains("__guard"),
            "{shell} offers an internal command"
        );
    }
    let dir = scratch();
    let path = dir.path().join("flakehunt.bash");
    let output = flakehunt()
        .args(["completions", "bash"])
        .output()
        .expect("run");
    std::fs::write(&path, &output.stdout).expect("write");
    let checked = Command::new("bash")
        .arg("-n")
        .arg(&path)
        .output()
        .expect("bash");
    assert!(checked.status.success(), "{}", stderr(&checked));
    // Sourced for real, it completes subcommands.
    let probe = format!(
        "source {}; COMP_WORDS=(flakehunt ver); COMP_CWORD=1; _flakehunt flakehunt ver flakehunt; \
         echo \"${{COMPREPLY[@]}}\"",
        path.display()
    );
    let completed = Command::new("bash")
        .args(["-c", &probe])
        .output()
        .expect("bash");
    assert_eq!(
        stdout(&completed).trim(),
        "verify",
        "{}",
        stderr(&completed)
    );
    let bad = flakehunt()
        .args(["completions", "tcsh"])
        .output()
        .expect("run");
    assert_eq!(bad.status.code(), Some(2));
}

#[test]
fn the_man_page_is_valid_roff() {
    let output = flakehunt().arg("manpage").output().expect("run");
    assert_eq!(output.status.code(), Some(0));
    let page = stdout(&output);
    assert!(page.contains(".SH NAME\nflakehunt \\- "), "{page}");
    assert!(page.contains(".SH \"EXIT STATUS\""));
    let dir = scratch();
    let path = dir.path().join("flakehunt.1");
    std::fs::write(&path, &page).expect("write");
    // groff warns (-ww) about anything it cannot typeset; -z discards the output.
    let checked = Command::new("groff")
        .args(["-man", "-ww", "-z", "-Tutf8"])
        .arg(&path)
        .output()
        .expect("groff (groff-base) is needed by this test");
    assert!(
        checked.status.success() && checked.stderr.is_empty(),
        "{}",
        stderr(&checked)
    );
    let rendered = Command::new("groff")
        .args(["-man", "-Tutf8", "-P-cbou"])
        .arg(&path)
        .output()
        .expect("groff");
    let text = stdout(&rendered);
    assert!(text.contains("NAME") && text.contains("130"), "{text}");

    let pages = dir.path().join("man1");
    let written = flakehunt()
        .args(["manpage", "--dir"])
        .arg(&pages)
        .output()
        .expect("run");
    assert_eq!(written.status.code(), Some(0));
    for page in ["flakehunt.1", "flakehunt-run.1", "flakehunt-completions.1"] {
        assert!(pages.join(page).is_file(), "no {page}");
    }
}

#[test]
fn version_names_the_commit_it_was_built_from() {
    let output = flakehunt().arg("--version").output().expect("run");
    let version = stdout(&output);
    let pattern = regex::Regex::new(
        r"^flakehunt \d+\.\d+\.\d+(-[0-9A-Za-z.]+)?( \([0-9a-f]{7,40}(-dirty)?( \d{4}-\d{2}-\d{2})?\))?\n$",
    )
    .expect("regex");
    assert!(pattern.is_match(&version), "{version:?}");
    // Built in a git checkout: the commit is HEAD's (the build reruns when HEAD moves).
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let head = Command::new("git")
        .arg("-C")
        .arg(manifest)
        .args(["log", "-1", "--format=%h"])
        .output();
    if let Some(head) = head.ok().filter(|head| head.status.success()) {
        let head = stdout(&head);
        assert!(
            version.contains(&format!("({}", head.trim())),
            "{version} vs {head}"
        );
    }
}

/// The progress display's last frame agrees with the summary printed after it, however many
/// runs finished after the last periodic update.
#[test]
fn the_last_progress_frame_shows_the_final_tally() {
    let dir = scratch();
    // Status lines come every 5 s: the campaign outlasts one, and its last run fails after it.
    let output = flakehunt()
        .args(["run", "-n", "4", "-j", "1", "--progress", "lines", "--out"])
        .arg(dir.path().join("lines"))
        .arg("--")
        .arg(fixture())
        .args(["sleep:1700", "fail-on:3"])
        .output()
        .expect("run");
    let err = stderr(&output);
    let status_lines: Vec<&str> = err
        .lines()
        .filter(|line| line.contains(" runs, "))
        .collect();
    assert!(status_lines.len() >= 2, "{err}");
    assert!(
        status_lines
            .last()
            .is_some_and(|line| line.ends_with(": 4 runs, 1 failure (25%), done")),
        "{err}"
    );

    // On a terminal (`script` gives it one) the bar's final frame is left drawn.
    let command = format!(
        "{} run --progress bar -n 4 -j 1 --out {} -- {} sleep:200 fail-on:3 >/dev/null",
        env!("CARGO_BIN_EXE_flakehunt"),
        dir.path().join("bar").display(),
        fixture().display()
    );
    let shown = Command::new("script")
        .args(["-qec", &command, "/dev/null"])
        .env("FLAKEHUNT_DB", dir.path().join("h.db"))
        .stdin(Stdio::null())
        .output()
        .expect("script (util-linux) is needed by this test");
    let screen = stdout(&shown);
    let last_frame = screen
        .rsplit('\r')
        .find(|frame| frame.contains("runs"))
        .unwrap_or("");
    assert!(
        last_frame.contains("4/4 runs, 1 failure (25%), done"),
        "{screen:?}"
    );
}

/// A failure's signature and its example line show invalid bytes alike (`\xNN`).
#[test]
fn signatures_escape_invalid_bytes_as_example_lines_do() {
    let dir = scratch();
    let (code, summary, _) = run_json(
        &dir.path().join("out"),
        &["-n", "1"],
        &["out:boom", "garbage:12", "exit:1"],
    );
    assert_eq!(code, 1);
    let signature = &summary["signatures"][0];
    let text = signature["text"].as_str().expect("text");
    let example = signature["example_line"].as_str().expect("example line");
    assert!(!text.contains('\u{fffd}'), "{text}");
    let first_escape = example
        .find("\\x")
        .map(|at| &example[at..at + 4])
        .expect("an escape");
    assert!(text.contains(first_escape), "{text} vs {example}");
}

/// The first binary marker of a campaign names the command that prints the exact bytes, once;
/// `log` names it in its first marker too.
#[test]
fn the_binary_marker_points_at_log_raw_once() {
    let dir = scratch();
    let db = dir.path().join("h.db");
    let output = flakehunt()
        .arg("--db")
        .arg(&db)
        .args(["run", "-n", "2", "-j", "1", "--progress", "lines", "--out"])
        .arg(dir.path().join("out"))
        .arg("--")
        .arg(fixture())
        .args(["garbage:2048", "fail-on:0:1", "fail-on:1:2"])
        .output()
        .expect("run");
    let err = stderr(&output);
    assert_eq!(
        err.matches("binary").count(),
        2,
        "two new signatures, two markers: {err}"
    );
    assert_eq!(
        err.matches("exact bytes: flakehunt log ").count(),
        1,
        "{err}"
    );
    assert!(err.contains(" 0 --raw ...]"), "{err}");
    let log = flakehunt()
        .arg("--db")
        .arg(&db)
        .args(["log", "last", "1"])
        .output()
        .expect("log");
    let shown = stdout(&log);
    assert!(
        shown.contains("binary, exact bytes: flakehunt log ") && shown.contains(" 1 --raw ...]"),
        "{shown}"
    );
}
