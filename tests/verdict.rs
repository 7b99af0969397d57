//! Integration tests of `flakehunt plan`, `verify` and `compare` through the real runner.

mod common;

use std::path::Path;
use std::process::Output;

use common::*;

fn with_db(db: &Path, args: &[&str]) -> Output {
    flakehunt()
        .arg("--db")
        .arg(db)
        .args(args)
        .output()
        .expect("run flakehunt")
}

fn json(output: &Output) -> serde_json::Value {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|error| {
        panic!(
            "not JSON ({error}): {}\nstderr: {}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    })
}

fn campaign(db: &Path, out: &Path, runs: &str, actions: &[&str]) -> String {
    let output = flakehunt()
        .arg("--db")
        .arg(db)
        .args(["run", "--quiet", "--json", "-j", "2", "-n", runs, "--out"])
        .arg(out)
        .arg("--")
        .arg(fixture())
        .args(actions)
        .output()
        .expect("run");
    json(&output)["campaign"].as_str().expect("id").to_string()
}

#[test]
fn plan_states_the_runs_each_question_needs() {
    let dir = scratch();
    let db = dir.path().join("h.db");
    let output = with_db(
        &db,
        &[
            "plan",
            "--rate",
            "1/30000",
            "--runs-per-second",
            "10",
            "--json",
        ],
    );
    assert_eq!(output.status.code(), Some(0));
    let plan = json(&output);
    // ln(0.05) / ln(1 - 1/30000), rounded up.
    assert_eq!(plan["reproduce_once"], 89_871);
    assert_eq!(plan["claim_fixed"], 89_871);
    let three = plan["reproduce_k"]["runs"].as_u64().expect("k runs");
    assert!(three > 89_871 * 2 && three < 89_871 * 4, "{three}");

    let output = with_db(
        &db,
        &["plan", "--rate", "1/30000", "--runs-per-second", "10"],
    );
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(text.contains("89,871"), "{text}");
    assert!(text.contains("2h29m"), "wall time at 10 runs/s: {text}");

    let output = with_db(&db, &["plan", "--rate", "lots"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("is not a rate"));
}

#[test]
fn verify_against_a_rate_passes_a_fixed_program_and_stops_an_unfixed_one() {
    let dir = scratch();
    let db = dir.path().join("h.db");
    let out = dir.path().join("out");
    let fixed = flakehunt()
        .arg("--db")
        .arg(&db)
        .args([
            "verify",
            "--baseline-rate",
            "0.5",
            "--quiet",
            "--json",
            "--out",
        ])
        .arg(&out)
        .arg("--")
        .arg(fixture())
        .output()
        .expect("verify");
    assert_eq!(fixed.status.code(), Some(0));
    let verdict = json(&fixed);
    assert_eq!(verdict["verdict"], "fixed");
    // 0.5^5 <= 0.05 < 0.5^4
    assert_eq!(verdict["required_runs"], 5);
    assert_eq!(verdict["clean_runs"], 5);

    let unfixed = flakehunt()
        .arg("--db")
        .arg(&db)
        .args([
            "verify",
            "--baseline-rate",
            "1/10",
            "-j",
            "1",
            "--quiet",
            "--out",
        ])
        .arg(&out)
        .arg("--")
        .arg(fixture())
        .arg("fail-on:2")
        .output()
        .expect("verify");
    assert_eq!(unfixed.status.code(), Some(1));
    let text = String::from_utf8_lossy(&unfixed.stdout);
    assert!(text.contains("NOT FIXED: failed at run 2"), "{text}");
}

#[test]
fn verify_against_a_baseline_campaign_names_new_failure_modes() {
    let dir = scratch();
    let db = dir.path().join("h.db");
    let baseline = campaign(&db, &dir.path().join("base"), "10", &["fail-on:1,4"]);

    let fixed = flakehunt()
        .arg("--db")
        .arg(&db)
        .args([
            "verify",
            "--baseline",
            &baseline,
            "--quiet",
            "--json",
            "--out",
        ])
        .arg(dir.path().join("fixed"))
        .arg("--")
        .arg(fixture())
        .output()
        .expect("verify");
    assert_eq!(fixed.status.code(), Some(0));
    let verdict = json(&fixed);
    assert_eq!(verdict["verdict"], "fixed");
    // C(10,2) / C(10+n,2) <= 0.05 first holds at n = 33.
    assert_eq!(verdict["required_runs"], 33);
    assert!(verdict["p_value"].as_f64().expect("p") <= 0.05);

    let new_mode = flakehunt()
        .arg("--db")
        .arg(&db)
        .args([
            "verify",
            "--baseline",
            &baseline,
            "-j",
            "1",
            "--quiet",
            "--out",
        ])
        .arg(dir.path().join("new"))
        .arg("--")
        .arg(fixture())
        .args(["only-on:5", "err:panic: a different bug", "exit:2"])
        .output()
        .expect("verify");
    assert_eq!(new_mode.status.code(), Some(1));
    let text = String::from_utf8_lossy(&new_mode.stdout);
    assert!(text.contains("NOT FIXED: failed at run 5"), "{text}");
    assert!(text.contains("NEW signature"), "{text}");

    let same_mode = flakehunt()
        .arg("--db")
        .arg(&db)
        .args([
            "verify",
            "--baseline",
            &baseline,
            "-j",
            "1",
            "--quiet",
            "--out",
        ])
        .arg(dir.path().join("same"))
        .arg("--")
        .arg(fixture())
        .arg("fail-on:3")
        .output()
        .expect("verify");
    let text = String::from_utf8_lossy(&same_mode.stdout);
    assert!(text.contains("the baseline's signature"), "{text}");

    let output = with_db(
        &db,
        &["verify", "--baseline-rate", "0.1", "-n", "5", "--", "true"],
    );
    assert_eq!(output.status.code(), Some(2));
}

#[test]
fn compare_judges_two_campaigns_overall_and_per_signature() {
    let dir = scratch();
    let db = dir.path().join("h.db");
    let failing: Vec<String> = (0..40)
        .filter(|i| i % 2 == 0)
        .map(|i| i.to_string())
        .collect();
    let fail_on = format!("fail-on:{}", failing.join(","));
    let a = campaign(
        &db,
        &dir.path().join("a"),
        "40",
        &["err:panic: first bug", &fail_on],
    );
    let b = campaign(&db, &dir.path().join("b"), "40", &["fail-on:39"]);
    let output = with_db(&db, &["compare", &a, &b, "--json"]);
    assert_eq!(output.status.code(), Some(0));
    let verdict = json(&output);
    assert_eq!(verdict["verdict"], "better");
    assert!(verdict["p"].as_f64().expect("p") < 0.001);
    let signatures = verdict["signatures"].as_array().expect("signatures");
    assert_eq!(signatures.len(), 2);
    let same = with_db(&db, &["compare", &a, &a, "--json"]);
    assert_eq!(json(&same)["verdict"], "indistinguishable");
    let text = with_db(&db, &["compare", &a, &b]);
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains("verdict: B is better"), "{text}");
}
