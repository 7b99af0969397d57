//! A hunt split across machines: `hunt --shard K/N --export` runs the K-th of N arms as a
//! campaign of its own and exports it; `merge` of the arms' bundles compares them per arm,
//! and says which arm is missing or which bundle does not belong.

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::{fixture, scratch};

const ARMS: &str = "plain;nice=5";

fn fh(db: &Path, cwd: &Path) -> Command {
    let mut command = common::flakehunt();
    command.env("FLAKEHUNT_DB", db).current_dir(cwd);
    command
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Shard `k` of the two-arm hunt `hunt`: 6 runs, of which runs 1 and 4 fail.
fn arm(dir: &Path, hunt: &str, k: u64) -> Output {
    fh(&dir.join("machine.db"), dir)
        .args([
            "hunt",
            "--quiet",
            "--no-history",
            "--budget",
            "6",
            "--arms",
            ARMS,
        ])
        .args([
            "--campaign-id",
            hunt,
            "--shard",
            &format!("{k}/2"),
            "--export",
        ])
        .arg(dir.join(format!("{hunt}-arm-{k}.fhb")))
        .arg("--")
        .arg(fixture())
        .arg("fail-on:1,4")
        .output()
        .expect("hunt")
}

fn merge(dir: &Path, db: &str, bundles: &[&str]) -> Output {
    fh(&dir.join(db), dir)
        .arg("merge")
        .args(bundles)
        .output()
        .expect("merge")
}

#[test]
fn arms_run_on_their_shards_and_merge_into_one_table() {
    let dir = scratch();
    let dir = dir.path();
    for k in [1, 2] {
        let output = arm(dir, "h1", k);
        assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
        let arm_name = ["plain", "nice=5"][k as usize - 1];
        assert!(
            stderr(&output).contains(&format!("shard {k}/2 runs arm '{arm_name}'")),
            "{}",
            stderr(&output)
        );
    }
    let output = fh(&dir.join("a.db"), dir)
        .args(["merge", "--json", "h1-arm-1.fhb", "h1-arm-2.fhb"])
        .output()
        .expect("merge");
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let table: serde_json::Value = serde_json::from_slice(&output.stdout).expect("json");
    assert_eq!(table["hunt"], "h1");
    assert_eq!(table["missing"], serde_json::json!([]));
    for (k, name) in ["plain", "nice=5"].iter().enumerate() {
        let row = &table["arms"][k];
        assert_eq!(row["shake"], *name, "{table}");
        assert_eq!(row["runs"], 6, "{table}");
        assert_eq!(row["failures"], 2, "{table}");
        assert!(row["per_second"]["high"].as_f64().expect("interval") > 0.0);
    }
    assert!(table["arms"][1]["speedup"].is_number(), "{table}");
    // Each arm is a campaign of its own in the history.
    let history = fh(&dir.join("a.db"), dir)
        .args(["history", "--json"])
        .output()
        .expect("history");
    let text = String::from_utf8_lossy(&history.stdout);
    assert_eq!(text.matches("fail-on:1,4").count(), 2, "{text}");

    // An arm merged before refuses the whole set, before any other arm is recorded.
    let first = merge(dir, "d.db", &["h1-arm-2.fhb"]);
    assert_eq!(first.status.code(), Some(3), "{}", stderr(&first));
    let again = merge(dir, "d.db", &["h1-arm-1.fhb", "h1-arm-2.fhb"]);
    assert_eq!(again.status.code(), Some(2), "{}", stderr(&again));
    assert!(
        stderr(&again).contains("already merged"),
        "{}",
        stderr(&again)
    );
    let history = fh(&dir.join("d.db"), dir)
        .args(["history", "--json"])
        .output()
        .expect("history");
    let text = String::from_utf8_lossy(&history.stdout);
    assert_eq!(text.matches("fail-on:1,4").count(), 1, "{text}");

    let text = merge(dir, "b.db", &["h1-arm-2.fhb", "h1-arm-1.fhb"]);
    assert_eq!(text.status.code(), Some(1), "{}", stderr(&text));
    let table = String::from_utf8_lossy(&text.stdout);
    assert!(table.starts_with("hunt h1\narm "), "{table}");
    assert!(
        table.contains("\nplain ") && table.contains("(baseline)"),
        "{table}"
    );
    assert!(table.contains("\nnice=5 "), "{table}");
}

#[test]
fn a_missing_or_foreign_arm_is_said() {
    let dir = scratch();
    let dir = dir.path();
    for (hunt, k) in [("h1", 2), ("h2", 1)] {
        let output = arm(dir, hunt, k);
        assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    }
    let lone = fh(&dir.join("a.db"), dir)
        .args(["merge", "--json", "h1-arm-2.fhb"])
        .output()
        .expect("merge");
    assert_eq!(lone.status.code(), Some(3), "{}", stderr(&lone));
    assert!(
        stderr(&lone).contains("missing arm 1/2 (plain)"),
        "{}",
        stderr(&lone)
    );
    let table: serde_json::Value = serde_json::from_slice(&lone.stdout).expect("json");
    assert_eq!(table["arms"][0]["runs"], 0);
    assert_eq!(table["arms"][1]["runs"], 6);

    let foreign = merge(dir, "b.db", &["h1-arm-2.fhb", "h2-arm-1.fhb"]);
    assert_eq!(foreign.status.code(), Some(2), "{}", stderr(&foreign));
    assert!(
        stderr(&foreign).contains("the hunt id (h1 vs h2) differs"),
        "{}",
        stderr(&foreign)
    );

    let shard = fh(&dir.join("machine.db"), dir)
        .args([
            "run",
            "--quiet",
            "--no-history",
            "-n",
            "4",
            "--shard",
            "1/2",
            "--export",
        ])
        .arg(dir.join("shard.fhb"))
        .arg("--")
        .arg(fixture())
        .output()
        .expect("run");
    assert_eq!(shard.status.code(), Some(0), "{}", stderr(&shard));
    let mixed = merge(dir, "c.db", &["h1-arm-2.fhb", "shard.fhb"]);
    assert_eq!(mixed.status.code(), Some(2), "{}", stderr(&mixed));
    assert!(
        stderr(&mixed).contains("is not an arm of a hunt"),
        "{}",
        stderr(&mixed)
    );
    assert!(
        !dir.join("b.db").exists() && !dir.join("c.db").exists(),
        "nothing merged"
    );
}

#[test]
fn a_split_hunt_refuses_what_it_cannot_honour() {
    let dir = scratch();
    let dir = dir.path();
    let cases: [(&[&str], &str); 6] = [
        (
            &["--shard", "1/3", "--campaign-id", "h", "--export", "x.fhb"],
            "with 2 arm(s)",
        ),
        (
            &["--shard", "1/2", "--export", "x.fhb"],
            "needs --campaign-id",
        ),
        (&["--shard", "1/2", "--campaign-id", "h"], "--export FILE"),
        (&["--export", "x.fhb", "--campaign-id", "h"], "--shard K/N"),
        (
            &[
                "--shard",
                "1/2",
                "--campaign-id",
                "h",
                "--export",
                "x.fhb",
                "-n",
                "5",
            ],
            "--budget",
        ),
        (
            &["--shard", "3/2", "--campaign-id", "h", "--export", "x.fhb"],
            "shard",
        ),
    ];
    for (args, words) in cases {
        let output = fh(&dir.join("h.db"), dir)
            .args(["hunt", "--arms", ARMS, "--budget", "4"])
            .args(args)
            .arg("--")
            .arg(fixture())
            .output()
            .expect("hunt");
        assert_eq!(
            output.status.code(),
            Some(2),
            "{args:?}: {}",
            stderr(&output)
        );
        assert!(
            stderr(&output).contains(words),
            "{args:?}: {}",
            stderr(&output)
        );
    }
    let no_arms = fh(&dir.join("h.db"), dir)
        .args([
            "hunt",
            "--shard",
            "1/2",
            "--campaign-id",
            "h",
            "--export",
            "x.fhb",
            "--",
        ])
        .arg(fixture())
        .output()
        .expect("hunt");
    assert_eq!(no_arms.status.code(), Some(2), "{}", stderr(&no_arms));
    assert!(
        stderr(&no_arms).contains("needs --arms"),
        "{}",
        stderr(&no_arms)
    );
    assert!(!dir.join("x.fhb").exists());
}
