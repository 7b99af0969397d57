//! Scaling out: `run --shard K/N --export`, and `merge` folding the bundles into one campaign
//! equal to the same runs done on one machine; bad shards, duplicates, gaps and damaged
//! bundles are refused or reported, never double-counted.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::{fixture, scratch};

/// The failing runs of the fixture campaign.
const FAILS: &str = "fail-on:3,7,22,23";
const RUNS: &str = "30";

fn fh(db: &Path) -> Command {
    let mut command = common::flakehunt();
    command.env("FLAKEHUNT_DB", db);
    command
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Run shard `shard` of the fixture campaign, exporting to `dir/shard-K.fhb`.
fn shard(db: &Path, dir: &Path, shard: &str, extra: &[&str], actions: &[&str]) -> PathBuf {
    let number = shard.split('/').next().expect("K");
    let bundle = dir.join(format!("shard-{number}.fhb"));
    // Outside any git work tree: the shards' provenance must not change if the project's
    // checkout gets a commit while the test runs.
    let output = fh(db)
        .current_dir(dir)
        .args(["run", "--quiet", "-n", RUNS, "-j", "2", "--no-history"])
        .args(["--campaign-id", "scale-test", "--shard", shard])
        .arg("--out")
        .arg(dir.join(format!("out-{number}")))
        .arg("--export")
        .arg(&bundle)
        .args(extra)
        .arg("--")
        .arg(fixture())
        .args(actions)
        .output()
        .expect("run shard");
    assert!(
        matches!(output.status.code(), Some(0 | 1)),
        "shard {shard}: {}",
        stderr(&output)
    );
    bundle
}

fn merge(db: &Path, out: &Path, bundles: &[PathBuf]) -> Output {
    fh(db)
        .args(["merge", "--json", "--out"])
        .arg(out)
        .args(bundles)
        .output()
        .expect("merge")
}

fn show(db: &Path, id: &str) -> serde_json::Value {
    let output = fh(db).args(["show", "--json", id]).output().expect("show");
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    serde_json::from_slice(&output.stdout).expect("show json")
}

/// What must equal between a merged campaign and the same runs on one machine.
fn essentials(summary: &serde_json::Value) -> serde_json::Value {
    let mut signatures = summary["signatures"].clone();
    for signature in signatures.as_array_mut().expect("signatures") {
        signature.as_object_mut().expect("object").remove("example");
    }
    serde_json::json!({
        "runs": summary["runs"],
        "passes": summary["passes"],
        "failures": summary["failures"],
        "timeouts": summary["timeouts"],
        "ignored": summary["ignored"],
        "failures_by_kind": summary["failures_by_kind"],
        "rate": summary["rate"],
        "rate_upper_bound": summary["rate_upper_bound"],
        "signatures": signatures,
    })
}

/// The fixture campaign as three exported shards.
fn three_shards(db: &Path, dir: &Path) -> Vec<PathBuf> {
    ["1/3", "2/3", "3/3"]
        .iter()
        .map(|k| shard(db, dir, k, &[], &[FAILS]))
        .collect()
}

#[test]
fn merged_shards_equal_the_same_campaign_on_one_machine() {
    let dir = scratch();
    let db = dir.path().join("h.db");
    let whole = fh(&db)
        .args(["run", "--quiet", "--json", "-n", RUNS, "-j", "2", "--out"])
        .arg(dir.path().join("whole"))
        .arg("--")
        .arg(fixture())
        .arg(FAILS)
        .output()
        .expect("whole campaign");
    assert_eq!(whole.status.code(), Some(1), "{}", stderr(&whole));
    let whole: serde_json::Value = serde_json::from_slice(&whole.stdout).expect("json");
    let bundles = three_shards(&db, dir.path());
    // Shuffled order, to show order does not matter.
    let order = [bundles[2].clone(), bundles[0].clone(), bundles[1].clone()];
    let merged = merge(&db, &dir.path().join("merged"), &order);
    assert_eq!(merged.status.code(), Some(1), "{}", stderr(&merged));
    let printed: serde_json::Value = serde_json::from_slice(&merged.stdout).expect("json");
    assert_eq!(printed["campaign"], "scale-test");
    assert_eq!(printed["stop_reason"], "merged 3 of 3 shards");
    let stored = show(&db, "scale-test");
    let whole_stored = show(&db, whole["campaign"].as_str().expect("id"));
    assert_eq!(essentials(&stored), essentials(&whole_stored));
    assert_eq!(essentials(&printed), essentials(&whole));
    assert_eq!(stored["failures"], 4);
    // Each failure's output came along: the merged campaign's saved log of run 22.
    let log = fh(&db)
        .args(["log", "scale-test", "22"])
        .output()
        .expect("log");
    assert_eq!(log.status.code(), Some(0), "{}", stderr(&log));
    assert!(
        String::from_utf8_lossy(&log.stdout).contains("failing on run 22"),
        "{}",
        String::from_utf8_lossy(&log.stdout)
    );
}

#[test]
fn shards_keep_the_campaign_numbering() {
    let dir = scratch();
    let db = dir.path().join("h.db");
    // Runs 0..10 split in 3: shard 2 does runs 1, 4, 7.
    let output = fh(&db)
        .args([
            "run", "--quiet", "--json", "-n", "10", "--shard", "2/3", "--out",
        ])
        .arg(dir.path().join("o"))
        .arg("--")
        .arg(fixture())
        .args(["env:FLAKEHUNT_RUN", "fail-on:0-9"])
        .output()
        .expect("run");
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let summary: serde_json::Value = serde_json::from_slice(&output.stdout).expect("json");
    assert_eq!(summary["runs"], 3);
    let id = summary["campaign"].as_str().expect("id");
    for (index, expected) in [(1, true), (4, true), (7, true), (0, false), (2, false)] {
        let log = fh(&db)
            .args(["log", id, &index.to_string()])
            .output()
            .expect("log");
        assert_eq!(
            log.status.success(),
            expected,
            "run {index}: {}",
            stderr(&log)
        );
        if expected {
            let text = String::from_utf8_lossy(&log.stdout);
            assert!(text.contains(&format!("FLAKEHUNT_RUN={index}")), "{text}");
        }
    }
}

#[test]
fn bad_shards_are_setup_errors_and_write_nothing() {
    let dir = scratch();
    let db = dir.path().join("h.db");
    let out = dir.path().join("out");
    let bundle = dir.path().join("b.fhb");
    for (shard, runs) in [
        ("0/3", "10"),
        ("4/3", "10"),
        ("garbage", "10"),
        ("1/0", "10"),
        ("3", "10"),
        ("3/4", "2"),
    ] {
        let output = fh(&db)
            .args(["run", "--quiet", "-n", runs, "--shard", shard, "--out"])
            .arg(&out)
            .arg("--export")
            .arg(&bundle)
            .arg("--")
            .arg(fixture())
            .output()
            .expect("run");
        assert_eq!(
            output.status.code(),
            Some(2),
            "{shard}: {}",
            stderr(&output)
        );
        assert!(
            stderr(&output).contains("shard"),
            "{shard}: {}",
            stderr(&output)
        );
    }
    // A split hunt runs one arm per shard: tests/hunt_arms.rs.
    for refused in [
        &[
            "window",
            "--shard",
            "1/2",
            "--sweep",
            "0..1ms",
            "--step",
            "sleep 0..1ms",
        ],
        &["verify", "--export", "x.fhb", "--baseline-rate", "1/10"][..],
    ] {
        let output = fh(&db)
            .args(refused)
            .arg("--")
            .arg(fixture())
            .output()
            .expect("run");
        assert_eq!(
            output.status.code(),
            Some(2),
            "{refused:?}: {}",
            stderr(&output)
        );
        assert!(
            stderr(&output).contains("cannot take"),
            "{}",
            stderr(&output)
        );
    }
    assert!(!out.exists() && !bundle.exists() && !db.exists());
    // An export into a directory that does not exist is refused before anything runs.
    let output = fh(&db)
        .args(["run", "--quiet", "-n", "1", "--export"])
        .arg(dir.path().join("nowhere/b.fhb"))
        .arg("--out")
        .arg(&out)
        .arg("--")
        .arg(fixture())
        .output()
        .expect("run");
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(!out.exists());
    // Nor may a bundle overwrite the history it is recorded in.
    let output = fh(&db)
        .args(["run", "--quiet", "-n", "1", "--export"])
        .arg(&db)
        .arg("--out")
        .arg(&out)
        .arg("--")
        .arg(fixture())
        .output()
        .expect("run");
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("the history database"),
        "{}",
        stderr(&output)
    );
    assert!(!out.exists() && !db.exists());
}

#[test]
fn missing_and_duplicate_shards_are_reported_never_double_counted() {
    let dir = scratch();
    let db = dir.path().join("h.db");
    let bundles = three_shards(&db, dir.path());
    // Shard 2 twice and shard 3 missing.
    let merged = merge(
        &db,
        &dir.path().join("merged"),
        &[bundles[0].clone(), bundles[1].clone(), bundles[1].clone()],
    );
    let err = stderr(&merged);
    assert_eq!(merged.status.code(), Some(3), "{err}");
    assert!(err.contains("shard 2/3 is in both"), "{err}");
    assert!(
        err.contains("missing shard 3/3: run indices 2, 5, 8, 11, ... (10 runs)"),
        "{err}"
    );
    let summary: serde_json::Value = serde_json::from_slice(&merged.stdout).expect("json");
    // Shards 1 and 2 hold runs 0,1,3,4,...: 20 runs, failing 3, 7 and 22.
    assert_eq!(summary["runs"], 20);
    assert_eq!(summary["failures"], 3);
    assert!(
        summary["stop_reason"]
            .as_str()
            .expect("reason")
            .starts_with("incomplete: merged 2 of 3 shards; missing shard(s) 3"),
        "{summary}"
    );
    // The same shards again: refused, since they are in the history already.
    let again = merge(&db, &dir.path().join("again"), &bundles[..1]);
    assert_eq!(again.status.code(), Some(2), "{}", stderr(&again));
    assert!(
        stderr(&again).contains("already merged"),
        "{}",
        stderr(&again)
    );
}

#[test]
fn mismatched_and_damaged_bundles_are_refused() {
    let dir = scratch();
    let db = dir.path().join("h.db");
    let bundles = three_shards(&db, dir.path());
    let other = dir.path().join("other");
    std::fs::create_dir(&other).expect("mkdir");
    let different = shard(&db, &other, "3/3", &[], &["fail-on:1"]);
    let text = std::fs::read_to_string(&bundles[0]).expect("read");
    let lines: Vec<&str> = text.lines().collect();
    let write = |name: &str, content: String| {
        let path = dir.path().join(name);
        std::fs::write(&path, content).expect("write");
        path
    };
    let truncated = write("truncated.fhb", lines[..lines.len() - 1].join("\n") + "\n");
    let cut = write("cut.fhb", text[..text.len() - 10].to_string());
    let flipped = write(
        "flipped.fhb",
        text.replacen("\"duration_us\":", "\"duration_us\":1", 1),
    );
    let version = write(
        "version.fhb",
        text.replacen("\"version\":1", "\"version\":99", 1),
    );
    let empty = write("empty.fhb", String::new());
    let alien = write("alien.fhb", "{\"hello\":1}\n".to_string());
    for (bad, why) in [
        (&different, "the command differs"),
        (&truncated, "truncated"),
        (&cut, "truncated"),
        (&flipped, "checksum mismatch"),
        (&version, "version 99"),
        (&empty, "empty"),
        (&alien, "not a flakehunt bundle"),
        (&dir.path().join("absent.fhb"), "cannot open"),
    ] {
        let output = merge(
            &db,
            &dir.path().join("m"),
            &[bundles[0].clone(), bundles[1].clone(), bad.clone()],
        );
        assert_eq!(output.status.code(), Some(2), "{why}: {}", stderr(&output));
        assert!(stderr(&output).contains(why), "{why}: {}", stderr(&output));
    }
    // Nothing was recorded by the refused merges: all three still merge.
    let output = merge(&db, &dir.path().join("m"), &bundles);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
}

#[test]
fn a_killed_campaign_leaves_no_bundle() {
    let dir = scratch();
    let db = dir.path().join("h.db");
    let bundle = dir.path().join("b.fhb");
    let mut child = fh(&db)
        .args([
            "run",
            "--quiet",
            "-n",
            "5",
            "-j",
            "1",
            "--no-history",
            "--out",
        ])
        .arg(dir.path().join("out"))
        .arg("--export")
        .arg(&bundle)
        .arg("--")
        .arg(fixture())
        .args(["only-on:2", "hang"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn");
    // Wait until runs 0 and 1 are in the partial bundle, then kill flakehunt outright.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let partial = std::fs::read_dir(dir.path())
            .expect("list")
            .flatten()
            .filter(|entry| entry.file_name().to_string_lossy().ends_with(".partial"))
            .filter_map(|entry| std::fs::read_to_string(entry.path()).ok())
            .any(|text| text.lines().count() >= 3);
        if partial {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "no partial bundle");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.kill().expect("kill");
    child.wait().expect("wait");
    assert!(
        !bundle.exists(),
        "a killed campaign left a complete-looking bundle"
    );
    let leftover: Vec<PathBuf> = std::fs::read_dir(dir.path())
        .expect("list")
        .flatten()
        .map(|entry| entry.path())
        .filter(|path| path.to_string_lossy().ends_with(".partial"))
        .collect();
    let output = merge(&db, &dir.path().join("m"), &leftover);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(stderr(&output).contains("truncated"), "{}", stderr(&output));
}

/// A Python interpreter that has pytest: on PATH, else the system's.
fn python_with_pytest() -> PathBuf {
    ["python3", "/usr/bin/python3"]
        .into_iter()
        .map(PathBuf::from)
        .find(|python| {
            Command::new(python)
                .args(["-c", "import pytest"])
                .output()
                .is_ok_and(|out| out.status.success())
        })
        .expect("pytest is needed for these tests (.ci/run installs python3-pytest)")
}

#[test]
fn a_sharded_test_suite_merges_to_the_same_flake_table() {
    let dir = scratch();
    let db = dir.path().join("h.db");
    let project = dir.path().join("project");
    std::fs::create_dir(&project).expect("mkdir");
    std::fs::write(
        project.join("test_x.py"),
        "import os\n\ndef test_flaky():\n    assert os.environ['FLAKEHUNT_RUN'] not in ('1', '4'), 'boom'\n\n\
         def test_steady():\n    pass\n",
    )
    .expect("write test");
    let python = python_with_pytest();
    let suite = |extra: &[&str], out: &str| {
        fh(&db)
            .current_dir(&project)
            .args(["run", "--quiet", "--json", "-n", "6", "-j", "2", "--out"])
            .arg(dir.path().join(out))
            .args(extra)
            .arg("--")
            .arg(&python)
            .args(["-m", "pytest", "-q", "-p", "no:cacheprovider", "test_x.py"])
            .output()
            .expect("run suite")
    };
    let whole = suite(&[], "whole");
    assert_eq!(whole.status.code(), Some(1), "{}", stderr(&whole));
    let whole: serde_json::Value = serde_json::from_slice(&whole.stdout).expect("json");
    let bundles: Vec<PathBuf> = ["1/2", "2/2"]
        .iter()
        .map(|shard| {
            let number = &shard[..1];
            let bundle = dir.path().join(format!("suite-{number}.fhb"));
            let export = bundle.to_str().expect("utf-8 path");
            let output = suite(
                &[
                    "--no-history",
                    "--campaign-id",
                    "suite",
                    "--shard",
                    shard,
                    "--export",
                    export,
                ],
                &format!("out-{number}"),
            );
            assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
            bundle
        })
        .collect();
    let merged = merge(&db, &dir.path().join("merged"), &bundles);
    assert_eq!(merged.status.code(), Some(1), "{}", stderr(&merged));
    let merged: serde_json::Value = serde_json::from_slice(&merged.stdout).expect("json");
    assert_eq!(essentials(&merged), essentials(&whole));
    assert_eq!(merged["tests"], whole["tests"]);
    assert_eq!(merged["tests"][0]["failures"], 2, "{merged}");
    assert_eq!(show(&db, "suite")["tests"], whole["tests"]);
}

#[test]
fn a_merged_hang_keeps_its_stacks_where_log_finds_them() {
    let dir = scratch();
    let db = dir.path().join("history.db");
    let bundle = dir.path().join("hang.fhb");
    let output = fh(&db)
        .args([
            "run",
            "--quiet",
            "-n",
            "2",
            "--timeout",
            "300ms",
            "--no-history",
        ])
        .arg("--out")
        .arg(dir.path().join("out"))
        .arg("--export")
        .arg(&bundle)
        .arg("--")
        .arg(fixture())
        .args(["only-on:1", "hang"])
        .output()
        .expect("run");
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let merged = merge(&db, &dir.path().join("merged"), &[bundle]);
    assert_eq!(merged.status.code(), Some(1), "{}", stderr(&merged));
    let log = fh(&db)
        .args(["log", "last", "1", "--stacks"])
        .output()
        .expect("log");
    let text = String::from_utf8_lossy(&log.stdout);
    if text.contains("no stack tool") || stderr(&log).contains("no stack tool") {
        println!("skipped: no stack tool here");
        return;
    }
    assert_eq!(log.status.code(), Some(0), "{}", stderr(&log));
    assert!(text.contains("# stacks of run 1"), "{text}");
}
