//! `flakehunt report` and `--report FILE` end to end: real campaigns of the fixture with
//! hostile output, a suite with hostile test names, a bisection over hostile commit subjects,
//! every format, the errors, and the HTML pages loaded in headless Chromium (their DOM after
//! the script ran, the console, a screenshot).

mod common;

use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::{fixture, flakehunt, scratch};

/// Markup, quotes and a bidi override the fixture prints and is called with.
const HOSTILE: &str = "<script>alert(1)</script></pre>\"><img src=x onerror=alert(2)>";

fn run_in(db: &Path, dir: &Path, args: &[&str], actions: &[&str]) -> Output {
    flakehunt()
        .env("FLAKEHUNT_DB", db)
        .current_dir(dir)
        .arg("run")
        .arg("--quiet")
        .args(args)
        .arg("--")
        .arg(fixture())
        .args(actions)
        .output()
        .expect("run flakehunt")
}

fn report(db: &Path, dir: &Path, args: &[&str]) -> Output {
    flakehunt()
        .env("FLAKEHUNT_DB", db)
        .env_remove("GITHUB_STEP_SUMMARY")
        .current_dir(dir)
        .arg("report")
        .args(args)
        .output()
        .expect("run flakehunt report")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A campaign of 60 runs whose output and arguments are hostile: runs 3 and 40..=44 fail
/// (exit 2) after printing markup and binary garbage, run 20 dies by SIGSEGV.
fn hostile_campaign(dir: &Path, db: &Path, extra: &[&str]) -> Output {
    let out = dir.join("out");
    let out = out.to_str().expect("utf-8 path");
    let mut args = vec!["-j", "2", "-n", "60", "--out", out];
    args.extend_from_slice(extra);
    let say = format!("out:{HOSTILE}");
    let shout = format!("err:\u{202e}{HOSTILE}");
    run_in(
        db,
        dir,
        &args,
        &[
            &say,
            "garbage:300",
            &shout,
            "fail-on:3,40-44:2",
            "only-on:20",
            "segv",
        ],
    )
}

/// Start tags of a page, as `(name, [(attribute, value)])`, and its text.
type Tag = (String, Vec<(String, String)>);

fn parse(html: &str) -> (Vec<Tag>, String) {
    let mut tags = Vec::new();
    let mut text = String::new();
    for token in html5gum::Tokenizer::new(html).flatten() {
        match token {
            html5gum::Token::StartTag(tag) => {
                let attributes = tag
                    .attributes
                    .iter()
                    .map(|(k, v)| {
                        (
                            String::from_utf8_lossy(k).into_owned(),
                            String::from_utf8_lossy(v).into_owned(),
                        )
                    })
                    .collect();
                tags.push((String::from_utf8_lossy(&tag.name).into_owned(), attributes));
            }
            html5gum::Token::String(s) => text.push_str(&String::from_utf8_lossy(&s)),
            _ => {}
        }
    }
    (tags, text)
}

/// No element or attribute the report does not write itself.
fn assert_no_injection(html: &str) {
    let (tags, _) = parse(html);
    for (name, attributes) in &tags {
        assert!(
            !["img", "iframe", "object", "embed", "link", "base", "form", "input"]
                .contains(&name.as_str())
                && !name.contains('<')
                && !name.contains('&'),
            "injected <{name}>"
        );
        for (key, _) in attributes {
            assert!(!key.starts_with("on"), "injected handler {key} on <{name}>");
            assert!(
                key != "src" && !key.contains('"'),
                "injected {key} on <{name}>"
            );
        }
    }
    let scripts = tags.iter().filter(|(name, _)| name == "script").count();
    assert_eq!(scripts, 1, "only the report's own script");
}

#[test]
fn run_writes_an_inert_report_of_a_hostile_campaign_and_every_format_reads_it() {
    let dir = scratch();
    let db = dir.path().join("history.db");
    let page = dir.path().join("report.html");
    let page_arg = page.to_str().expect("utf-8");
    let output = hostile_campaign(dir.path(), &db, &["--report", page_arg]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output.stderr));
    assert!(text(&output.stderr).contains("report written to"));
    let html = std::fs::read_to_string(&page).expect("the report");
    assert_no_injection(&html);
    let (_, shown) = parse(&html);
    assert!(shown.contains(HOSTILE), "the hostile text is shown as text");
    assert!(shown.contains("\\u{202e}"), "the bidi override is named");
    assert!(shown.contains("binary"), "garbage collapsed: {shown}");
    for section in [
        "summary",
        "signatures",
        "timeline",
        "durations",
        "failed-runs",
    ] {
        assert!(
            html.contains(&format!("<section id=\"{section}\">")),
            "{section}"
        );
    }
    assert!(html.contains("signal SIGSEGV"));

    let md = report(&db, dir.path(), &["last", "--format", "md"]);
    assert_eq!(md.status.code(), Some(0), "{}", text(&md.stderr));
    let md = text(&md.stdout);
    assert!(md.contains("failed 7 of 60 runs"), "{md}");
    assert!(md.lines().count() < 40, "short enough to paste:\n{md}");

    let junit = report(&db, dir.path(), &["last", "--format", "junit"]);
    let junit = text(&junit.stdout);
    assert!(junit.starts_with("<?xml"));
    assert_eq!(junit.matches("<testcase ").count(), 2, "{junit}");
    assert!(!junit.contains("<img"));

    let summary = dir.path().join("step-summary.md");
    let github = flakehunt()
        .env("FLAKEHUNT_DB", &db)
        .env("GITHUB_STEP_SUMMARY", &summary)
        .args(["report", "last", "--format", "github"])
        .output()
        .expect("github");
    assert_eq!(github.status.code(), Some(0));
    let lines = text(&github.stdout);
    assert_eq!(lines.lines().count(), 2, "{lines}");
    assert!(lines
        .lines()
        .all(|l| l.starts_with("::error title=flakehunt%3A ")));
    let appended = std::fs::read_to_string(&summary).expect("job summary");
    assert!(appended.contains("failed 7 of 60 runs"));

    let json = report(&db, dir.path(), &["last", "--format", "json"]);
    let value: serde_json::Value = serde_json::from_slice(&json.stdout).expect("json");
    assert_eq!(value["totals"]["failures"], 7);
    assert_eq!(value["clusters"].as_array().map(Vec::len), Some(2));
}

#[test]
fn html_for_a_terminal_goes_to_a_file_and_o_writes_where_asked() {
    let dir = scratch();
    let db = dir.path().join("history.db");
    hostile_campaign(dir.path(), &db, &[]);
    let piped = report(&db, dir.path(), &[]);
    assert_eq!(piped.status.code(), Some(0));
    assert!(
        text(&piped.stdout).starts_with("<!DOCTYPE html>"),
        "piped: to stdout"
    );
    let target = dir.path().join("r.html");
    let written = report(
        &db,
        dir.path(),
        &["last", "-o", target.to_str().expect("utf-8")],
    );
    assert_eq!(written.status.code(), Some(0), "{}", text(&written.stderr));
    assert!(written.stdout.is_empty());
    assert!(std::fs::read_to_string(&target)
        .expect("written")
        .ends_with("</html>\n"));
}

#[test]
fn mistakes_are_refused_before_anything_runs() {
    let dir = scratch();
    let db = dir.path().join("history.db");
    let missing = dir.path().join("no/such/dir/r.html");
    let missing = missing.to_str().expect("utf-8");
    let refused = run_in(
        &db,
        dir.path(),
        &["-n", "5", "--report", missing],
        &["out:x"],
    );
    assert_eq!(refused.status.code(), Some(2));
    assert!(text(&refused.stderr).contains("cannot write the report"));
    assert!(!db.exists(), "nothing ran, nothing recorded");

    hostile_campaign(dir.path(), &db, &[]);
    for (args, says) in [
        (vec!["nope"], "no campaign matches"),
        (vec!["-o", missing], "cannot write the report"),
        (
            vec!["--since", "2021-01-01"],
            "add --search REGEX or --triage",
        ),
        (
            vec!["--search", "x", "--format", "junit"],
            "html, md or json",
        ),
        (vec!["--triage", "last"], "drop 'last'"),
        (vec!["--search", "("], "invalid search regex"),
        (vec!["hunt:last"], "no recorded hunt"),
        (vec!["bisect:last"], "no recorded bisection"),
        (vec!["bisect:x"], "write bisect:last or bisect:N"),
    ] {
        let output = report(&db, dir.path(), &args);
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        assert!(
            text(&output.stderr).contains(says),
            "{args:?}: {}",
            text(&output.stderr)
        );
    }
}

#[test]
fn no_history_still_reports_and_leaves_no_history() {
    let dir = scratch();
    let db = dir.path().join("history.db");
    let page = dir.path().join("r.html");
    let output = hostile_campaign(
        dir.path(),
        &db,
        &["--no-history", "--report", page.to_str().expect("utf-8")],
    );
    assert_eq!(output.status.code(), Some(1), "{}", text(&output.stderr));
    assert!(std::fs::read_to_string(&page)
        .expect("report")
        .contains("<section id=\"signatures\">"));
    assert!(!db.exists(), "the private history is gone");
}

#[test]
fn a_hunt_and_a_sweep_report_their_arms_and_window() {
    let dir = scratch();
    let db = dir.path().join("history.db");
    let page = dir.path().join("hunt.html");
    let hunt = flakehunt()
        .env("FLAKEHUNT_DB", &db)
        .current_dir(dir.path())
        .args(["hunt", "--budget", "60", "--batch", "10", "--failures", "2"])
        .args(["--arms", "plain;nice=5", "-j", "2", "--quiet", "--report"])
        .arg(&page)
        .arg("--")
        .arg(fixture())
        .arg("fail-on:3")
        .output()
        .expect("hunt");
    assert_eq!(hunt.status.code(), Some(1), "{}", text(&hunt.stderr));
    let html = std::fs::read_to_string(&page).expect("hunt report");
    assert_no_injection(&html);
    assert!(html.contains("<section id=\"hunt\">") && html.contains("Best arm:"));
    // A hunt is one campaign of its arms: the hunt section lists every arm it tried.
    let section = html
        .split("<section id=\"hunt\">")
        .nth(1)
        .and_then(|rest| rest.split("</section>").next())
        .unwrap_or_default();
    assert!(
        section.contains("plain") && section.contains("nice=5"),
        "its arms: {section}"
    );
    let md = report(&db, dir.path(), &["hunt:last", "--format", "md"]);
    assert!(
        text(&md.stdout).contains("| `nice=5` |"),
        "{}",
        text(&md.stdout)
    );

    let sweep = dir.path().join("window.html");
    let window = flakehunt()
        .env("FLAKEHUNT_DB", &db)
        .current_dir(dir.path())
        .args(["window", "--sweep", "sleep 0us..2ms", "--points", "4"])
        .args(["--runs-per-point", "2", "-j", "2", "--quiet", "--report"])
        .arg(&sweep)
        .arg("--")
        .arg(fixture())
        .arg("sleep:5000")
        .output()
        .expect("window");
    assert_eq!(window.status.code(), Some(0), "{}", text(&window.stderr));
    let html = std::fs::read_to_string(&sweep).expect("window report");
    assert_no_injection(&html);
    assert!(html.contains("<section id=\"window\">"));
    let again = report(&db, dir.path(), &["last", "--format", "md"]);
    assert!(
        text(&again.stdout).contains("**Window**"),
        "a phase stands for its sweep"
    );
}

/// Debian's `chromium`, where installed (`.ci/run` installs it).
fn chromium() -> Option<PathBuf> {
    ["chromium", "chromium-browser"].iter().find_map(|name| {
        std::env::var_os("PATH").and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|dir| dir.join(name))
                .find(|path| path.is_file())
        })
    })
}

fn headless(chromium: &Path, profile: &Path) -> Command {
    let mut command = Command::new(chromium);
    command
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--hide-scrollbars",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .arg(format!("--user-data-dir={}", profile.display()));
    command
}

#[test]
fn the_page_renders_in_headless_chromium_without_a_console_error() {
    let Some(chromium) = chromium() else {
        eprintln!("SKIPPED: chromium is not installed (.ci/run installs it)");
        return;
    };
    let dir = scratch();
    let db = dir.path().join("history.db");
    let page = dir.path().join("report.html");
    hostile_campaign(
        dir.path(),
        &db,
        &["--report", page.to_str().expect("utf-8")],
    );
    let url = format!("file://{}", page.display());
    let dom = headless(&chromium, &dir.path().join("profile-dom"))
        .arg("--dump-dom")
        .arg(&url)
        .output()
        .expect("run chromium");
    let stderr = text(&dom.stderr);
    assert!(dom.status.success(), "chromium failed: {stderr}");
    let dom = text(&dom.stdout);
    assert!(
        dom.contains("data-js=\"on\""),
        "the script ran under the policy"
    );
    assert!(!stderr.contains(":CONSOLE"), "console messages: {stderr}");
    assert_no_injection(&dom);
    let (tags, shown) = parse(&dom);
    assert!(shown.contains(HOSTILE));
    let count = |name: &str, class: &str| {
        tags.iter()
            .filter(|(n, attrs)| n == name && attrs.iter().any(|(k, v)| k == "class" && v == class))
            .count()
    };
    assert!(
        tags.iter().filter(|(n, _)| n == "svg").count() >= 3,
        "the charts"
    );
    assert!(count("rect", "fail") >= 2, "failure bars drawn");
    assert!(count("rect", "pass") >= 1, "passing durations drawn");
    let rows = dom.matches("<tr>").count();
    assert!(rows >= 2 + 7, "signature and failed-run rows: {rows}");

    let shot = dir.path().join("report.png");
    let screenshot = headless(&chromium, &dir.path().join("profile-shot"))
        .arg("--window-size=1280,2000")
        .arg(format!("--screenshot={}", shot.display()))
        .arg(&url)
        .output()
        .expect("screenshot");
    assert!(screenshot.status.success(), "{}", text(&screenshot.stderr));
    let png = std::fs::read(&shot).expect("screenshot written");
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 20_000,
        "{} bytes",
        png.len()
    );
}

#[test]
fn links_and_devices_are_written_through_never_replaced() {
    let dir = scratch();
    let db = dir.path().join("history.db");
    hostile_campaign(dir.path(), &db, &[]);
    let link = dir.path().join("link.md");
    std::os::unix::fs::symlink("real.md", &link).expect("symlink");
    let output = report(
        &db,
        dir.path(),
        &["last", "--format", "md", "-o", "link.md"],
    );
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    assert!(std::fs::symlink_metadata(&link)
        .expect("link")
        .file_type()
        .is_symlink());
    assert!(std::fs::read_to_string(dir.path().join("real.md"))
        .expect("written through the link")
        .contains("failed 7 of 60 runs"));
    let full = report(&db, dir.path(), &["last", "-o", "/dev/full"]);
    assert_eq!(full.status.code(), Some(3), "a write error after the work");
    assert!(text(&full.stderr).contains("No space left"));
    assert!(Path::new("/dev/full")
        .metadata()
        .expect("still there")
        .file_type()
        .is_char_device());
}

/// Payloads that would mark the page if they ever ran.
const PWN_SCRIPT: &str = "<script>document.body.dataset.pwned=1</script>";
const PWN_IMG: &str = "\"><img src=x onerror=document.body.dataset.pwned=2>";

/// A libtest-style suite: `flaky::<script>` fails in runs 2 and 5, `bad::"><img onerror>`
/// in every run, `also::</pre>` passes, `skip::me` is ignored; run 6 crashes with no test
/// output. Failure messages carry invalid UTF-8.
fn suite_script(dir: &Path) -> PathBuf {
    let script = format!(
        r#"#!/bin/sh
r=${{FLAKEHUNT_RUN:-0}}
if [ "$r" = 6 ]; then printf 'Segmentation fault \377\376 {PWN_SCRIPT}\n'; exit 139; fi
echo "running 4 tests"
if [ "$r" = 2 ] || [ "$r" = 5 ]; then f=FAILED; else f=ok; fi
echo "test flaky::{PWN_SCRIPT} ... $f"
echo 'test bad::{PWN_IMG} ... FAILED'
echo "test also::</pre>ok ... ok"
echo "test skip::me ... ignored"
echo
echo "failures:"
echo
if [ "$f" = FAILED ]; then
  echo "---- flaky::{PWN_SCRIPT} stdout ----"
  printf "thread 'flaky' panicked at src/lib.rs:3:5: lost update \377\376 in run $r\n"
  echo
fi
echo '---- bad::{PWN_IMG} stdout ----'
echo "thread 'bad' panicked at src/lib.rs:9:5: connection refused"
echo
echo "test result: FAILED. 1 passed; 2 failed; 1 ignored; 0 measured; 0 filtered out"
exit 101
"#
    );
    let path = dir.join("suite.sh");
    std::fs::write(&path, script).expect("script");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    path
}

fn suite_campaign(dir: &Path, db: &Path) -> Output {
    let script = suite_script(dir);
    flakehunt()
        .env("FLAKEHUNT_DB", db)
        .current_dir(dir)
        .args(["run", "--quiet", "-n", "10", "-j", "2", "--suite", "cargo"])
        .arg("--out")
        .arg(dir.join("out"))
        .arg("--")
        .arg(script)
        .output()
        .expect("run the suite")
}

#[test]
fn a_suite_reports_every_test_by_rate_in_every_format() {
    let dir = scratch();
    let db = dir.path().join("history.db");
    let run = suite_campaign(dir.path(), &db);
    assert_eq!(run.status.code(), Some(1), "{}", text(&run.stderr));
    let page = report(&db, dir.path(), &["last"]);
    assert_eq!(page.status.code(), Some(0), "{}", text(&page.stderr));
    let html = text(&page.stdout);
    assert_no_injection(&html);
    let section = html
        .split("<section id=\"tests\">")
        .nth(1)
        .and_then(|rest| rest.split("</section>").next())
        .expect("a tests section");
    let (_, shown) = parse(section);
    let bad = shown.find(&format!("bad::{PWN_IMG}")).expect("bad listed");
    let flaky = shown.find(&format!("flaky::{PWN_SCRIPT}")).expect("flaky");
    assert!(bad < flaky, "sorted by rate: {shown}");
    for mark in [
        "always fails",
        "flaky",
        "passed",
        "skipped",
        "with no failed test",
    ] {
        assert!(shown.contains(mark), "{mark}: {shown}");
    }
    assert!(
        shown.contains("\\xff\\xfe"),
        "invalid UTF-8 escaped: {shown}"
    );

    let md = text(&report(&db, dir.path(), &["last", "--format", "md"]).stdout);
    assert!(
        md.contains("| `flaky::<script>document.body.dataset.pwned=1</script>` | flaky | 9 | 2 |"),
        "{md}"
    );

    let junit = text(&report(&db, dir.path(), &["last", "--format", "junit"]).stdout);
    assert_eq!(
        junit.matches("<testcase ").count(),
        5,
        "4 tests and the crash: {junit}"
    );
    assert!(junit.contains("type=\"flaky\"") && junit.contains("type=\"failed\""));
    assert!(junit.contains("<skipped message=\"skipped in all 9 runs\""));
    assert!(junit.contains("(no failed test) exit 139"));
    assert!(!junit.contains("<script") && !junit.contains("<img"));
}

fn git(dir: &Path, args: &[&str]) {
    let output = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .expect("run git");
    assert!(
        output.status.success(),
        "git {args:?}: {}",
        text(&output.stderr)
    );
}

/// A repository of 8 commits with hostile subjects whose test fails in every run from commit
/// 5 on, bisected; returns the history.
fn bisected(dir: &Path) -> PathBuf {
    let repo = dir.join("repo");
    std::fs::create_dir(&repo).expect("mkdir");
    git(&repo, &["init", "-q"]);
    git(&repo, &["config", "user.email", "tester@example.com"]);
    git(&repo, &["config", "user.name", "Tester"]);
    let test = format!("#!/bin/sh\nif [ -f bug ]; then echo '{PWN_SCRIPT}'; exit 1; fi\necho ok\n");
    std::fs::write(repo.join("test.sh"), test).expect("write");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(repo.join("test.sh"), std::fs::Permissions::from_mode(0o755))
        .expect("chmod");
    git(&repo, &["add", "-A"]);
    git(&repo, &["commit", "-qm", "initial"]);
    for i in 1..=8 {
        std::fs::write(repo.join("version"), format!("{i}\n")).expect("write");
        if i == 5 {
            std::fs::write(repo.join("bug"), "on\n").expect("write");
        }
        git(&repo, &["add", "-A"]);
        let subject = if i % 2 == 0 { PWN_IMG } else { PWN_SCRIPT };
        git(&repo, &["commit", "-qm", &format!("change {i} {subject}")]);
    }
    let db = dir.join("history.db");
    let bisect = flakehunt()
        .env("FLAKEHUNT_DB", &db)
        .current_dir(&repo)
        .args(["bisect", "--good", "HEAD~8", "--bad", "HEAD", "-j", "1"])
        .arg("--cache-dir")
        .arg(dir.join("cache"))
        .args(["--", "./test.sh"])
        .output()
        .expect("bisect");
    assert_eq!(bisect.status.code(), Some(0), "{}", text(&bisect.stderr));
    db
}

#[test]
fn a_bisection_reports_its_posterior_after_each_probe() {
    let dir = scratch();
    let db = bisected(dir.path());
    let page = report(&db, dir.path(), &["last"]);
    assert_eq!(page.status.code(), Some(0), "{}", text(&page.stderr));
    let html = text(&page.stdout);
    assert_no_injection(&html);
    let section = html
        .split("<section id=\"bisect\">")
        .nth(1)
        .and_then(|rest| rest.split("</section>").next())
        .expect("a probe stands for its bisection");
    assert_eq!(
        section.matches("<svg").count(),
        2,
        "by probe and over the range"
    );
    assert!(section.contains("class=\"trace\""), "the posterior drawn");
    let (_, shown) = parse(&html);
    assert!(
        shown.contains(&format!("change 5 {PWN_SCRIPT} with posterior")),
        "the culprit, as text: {shown}"
    );
    let md = text(&report(&db, dir.path(), &["bisect:last", "--format", "md"]).stdout);
    assert!(
        md.contains("Culprit:") && md.contains("**culprit**"),
        "{md}"
    );
    assert!(
        md.contains(&format!("`change 5 {PWN_SCRIPT}`")),
        "subject in a code span: {md}"
    );
    assert!(md.lines().count() < 50, "short enough to paste:\n{md}");
    let github = text(&report(&db, dir.path(), &["bisect:last", "--format", "github"]).stdout);
    assert!(
        github.starts_with("::error title=flakehunt bisect::Culprit: "),
        "{github}"
    );
    let json = report(&db, dir.path(), &["bisect:last", "--format", "json"]);
    let value: serde_json::Value = serde_json::from_slice(&json.stdout).expect("json");
    assert_eq!(value["subject"]["kind"], "bisect");
    assert_eq!(value["bisect"]["decision"]["commit"], 5);
}

/// Load `page` in headless Chromium: its DOM after the scripts ran, and Chromium's log.
fn render(chromium: &Path, dir: &Path, page: &Path) -> (String, String) {
    let profile = dir.join(format!(
        "profile-{}",
        page.file_stem().and_then(|s| s.to_str()).unwrap_or("page")
    ));
    let dom = headless(chromium, &profile)
        .arg("--dump-dom")
        .arg(format!("file://{}", page.display()))
        .output()
        .expect("run chromium");
    let stderr = text(&dom.stderr);
    assert!(dom.status.success(), "chromium failed: {stderr}");
    (text(&dom.stdout), stderr)
}

#[test]
fn hostile_test_names_and_commit_subjects_run_nothing_in_chromium() {
    let Some(chromium) = chromium() else {
        eprintln!("SKIPPED: chromium is not installed (.ci/run installs it)");
        return;
    };
    let dir = scratch();
    let suite_db = dir.path().join("suite.db");
    suite_campaign(dir.path(), &suite_db);
    let suite = dir.path().join("suite.html");
    let written = report(
        &suite_db,
        dir.path(),
        &["last", "-o", suite.to_str().expect("utf-8")],
    );
    assert_eq!(written.status.code(), Some(0), "{}", text(&written.stderr));
    let bisect_db = bisected(dir.path());
    let bisection = dir.path().join("bisection.html");
    let out = bisection.to_str().expect("utf-8");
    let written = report(&bisect_db, dir.path(), &["last", "-o", out]);
    assert_eq!(written.status.code(), Some(0), "{}", text(&written.stderr));
    for (page, section, charts) in [(&suite, "tests", 1), (&bisection, "bisect", 2)] {
        let (dom, log) = render(&chromium, dir.path(), page);
        assert!(
            dom.contains("data-js=\"on\""),
            "our script ran under the policy"
        );
        // An injected element would have run, or been blocked with a console error.
        assert!(
            !dom.contains("data-pwned"),
            "a payload ran: {}",
            page.display()
        );
        assert!(!log.contains(":CONSOLE"), "console messages: {log}");
        assert_no_injection(&dom);
        let part = dom
            .split(&format!("<section id=\"{section}\">"))
            .nth(1)
            .and_then(|rest| rest.split("</section>").next())
            .unwrap_or_default();
        assert!(
            part.matches("<svg").count() >= charts,
            "{section}: charts rendered"
        );
        assert!(part.contains("<circle"), "{section}: points drawn");
        let (_, shown) = parse(part);
        assert!(
            shown.contains(PWN_SCRIPT),
            "{section}: the payload shown as text"
        );
    }
}
