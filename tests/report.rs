//! `flakehunt report` and `--report FILE` end to end: real campaigns of the fixture with
//! hostile output, every format, the errors, and the HTML page loaded in headless Chromium
//! (its DOM after the script ran, its console, a screenshot).

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
        .args(["window", "--sweep", "sleep 0us..2ms", "--steps", "4"])
        .args(["--runs-per-step", "2", "-j", "2", "--quiet", "--report"])
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
