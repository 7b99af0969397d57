//! `flakehunt bisect` end to end: a small git repository of shell scripts in which one commit
//! introduces a 5% flake (deterministic per commit and run), another failure mode fails 2% of
//! runs everywhere, and one commit does not build. The search must name the culprit, skip the
//! broken commit, build each commit once, leave the user's checkout alone, and resume after an
//! interrupt without repeating probes.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{flakehunt, scratch};

/// Commits after the good one; the culprit and the commit that does not build.
const COMMITS: usize = 40;
const CULPRIT: usize = 23;
const BROKEN: usize = 14;

/// Builds count themselves in `$BUILD_LOG` and fail on commits holding `broken`.
const BUILD: &str = r#"#!/bin/sh
echo "$PWD" >> "$BUILD_LOG"
if [ -f broken ]; then echo "syntax error"; exit 1; fi
cp version built
"#;

/// Deterministic per (commit, run): the run index continues across probes of one commit
/// (FLAKEHUNT_COMMIT_RUNS). 1 in 50 runs fails "network unreachable" everywhere; from the
/// culprit on, 1 in 20 of the rest fails "lost update".
const TEST: &str = r#"#!/bin/sh
[ -f built ] || { echo "not built"; exit 125; }
i=$(cat built)
r=$((FLAKEHUNT_RUN + FLAKEHUNT_COMMIT_RUNS))
h=$(( ((r * 2654435761 + i * 40503) ^ (r * 97)) % 10007 ))
if [ $((h % 50)) -eq 7 ]; then echo "error: network unreachable (attempt $r)"; exit 2; fi
if [ -f flaky ] && [ $((h % 20)) -eq 3 ]; then echo "panic: lost update in cache (run $r)"; exit 1; fi
echo ok
"#;

fn git(dir: &Path, args: &[&str]) -> String {
    let output = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .expect("run git");
    assert!(
        output.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("utf-8")
}

/// The repository; returns the hashes of its commits, good (the initial one) first.
fn make_repo(dir: &Path) -> Vec<String> {
    git(dir, &["init", "-q"]);
    git(dir, &["config", "user.email", "tester@example.com"]);
    git(dir, &["config", "user.name", "Tester"]);
    let write = |name: &str, text: &str| std::fs::write(dir.join(name), text).expect("write");
    write("build.sh", BUILD);
    write("test.sh", TEST);
    write(".gitignore", "built\n");
    write("version", "0\n");
    for script in ["build.sh", "test.sh"] {
        use std::os::unix::fs::PermissionsExt;
        let path = dir.join(script);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    }
    git(dir, &["add", "-A"]);
    git(dir, &["commit", "-qm", "initial"]);
    for i in 1..=COMMITS {
        write("version", &format!("{i}\n"));
        if i == CULPRIT {
            write("flaky", "on\n");
        }
        if i == BROKEN {
            write("broken", "x\n");
        } else if i == BROKEN + 1 {
            std::fs::remove_file(dir.join("broken")).expect("unbreak");
        }
        git(dir, &["add", "-A"]);
        git(dir, &["commit", "-qm", &format!("change {i}")]);
    }
    let log = git(dir, &["rev-list", "--reverse", "HEAD"]);
    log.lines().map(String::from).collect()
}

/// What must not change in the user's checkout: HEAD, status, the index file and the branch.
fn checkout_state(dir: &Path) -> (String, String, Vec<u8>, String) {
    (
        git(dir, &["rev-parse", "HEAD"]),
        git(dir, &["status", "--porcelain", "--untracked-files=all"]),
        std::fs::read(dir.join(".git/index")).expect("index"),
        git(dir, &["symbolic-ref", "HEAD"]),
    )
}

struct Setup {
    _scratch: tempfile::TempDir,
    repo: PathBuf,
    hashes: Vec<String>,
    cache: PathBuf,
    db: PathBuf,
    build_log: PathBuf,
}

fn setup() -> Setup {
    let scratch = scratch();
    let repo = scratch.path().join("repo");
    std::fs::create_dir(&repo).expect("mkdir");
    let hashes = make_repo(&repo);
    Setup {
        repo,
        hashes,
        cache: scratch.path().join("cache"),
        db: scratch.path().join("history.db"),
        build_log: scratch.path().join("builds.log"),
        _scratch: scratch,
    }
}

fn bisect(setup: &Setup) -> Command {
    bisect_with(setup, true)
}

fn bisect_with(setup: &Setup, json: bool) -> Command {
    let mut command = flakehunt();
    command
        .current_dir(&setup.repo)
        .env("BUILD_LOG", &setup.build_log)
        .arg("--db")
        .arg(&setup.db)
        .args([
            "bisect",
            "--good",
            "HEAD~40",
            "--bad",
            "HEAD",
            "--build",
            "./build.sh",
        ])
        .arg("--cache-dir")
        .arg(&setup.cache)
        .args(["-j", "1"]);
    if json {
        command.arg("--json");
    }
    command.args(["--", "./test.sh"]);
    command
}

/// The campaigns of the recorded probes, in order (None for a commit that did not build).
fn recorded_campaigns(db: &Path) -> Vec<Option<String>> {
    let conn =
        rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .expect("open history");
    let mut statement = conn
        .prepare("SELECT campaign FROM bisect_probes ORDER BY bisection, seq")
        .expect("query");
    let rows = statement
        .query_map([], |row| row.get::<_, Option<String>>(0))
        .expect("rows");
    rows.map(|row| row.expect("row")).collect()
}

/// The commits of the first `count` recorded probes.
fn recorded_commits(db: &Path, count: usize) -> Vec<String> {
    let conn =
        rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .expect("open history");
    let mut statement = conn
        .prepare("SELECT commit_id FROM bisect_probes ORDER BY bisection, seq")
        .expect("query");
    let rows = statement
        .query_map([], |row| row.get::<_, String>(0))
        .expect("rows");
    rows.take(count).map(|row| row.expect("row")).collect()
}

fn builds(setup: &Setup) -> Vec<String> {
    std::fs::read_to_string(&setup.build_log)
        .unwrap_or_default()
        .lines()
        .map(String::from)
        .collect()
}

#[test]
fn names_the_culprit_skips_the_broken_commit_and_leaves_the_checkout_alone() {
    let setup = setup();
    let before = checkout_state(&setup.repo);
    let output = bisect(&setup).output().expect("run bisect");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    let report: serde_json::Value =
        serde_json::from_slice(&output.stdout).unwrap_or_else(|e| panic!("{e}: {stderr}"));

    assert_eq!(report["status"], "culprit", "{report}");
    assert_eq!(
        report["culprit"],
        setup.hashes[CULPRIT].as_str(),
        "{stderr}"
    );
    let commits = report["commits"].as_array().expect("commits");
    let culprit = &commits[CULPRIT];
    assert_eq!(culprit["subject"], format!("change {CULPRIT}"));
    assert_eq!(culprit["author"], "Tester <tester@example.com>");
    assert!(culprit["posterior"].as_f64().expect("posterior") >= 0.99);
    assert!(culprit["failures"].as_u64().expect("failures") >= 1);
    // The commit below it passed often enough to clear it: never one clean run.
    assert!(
        commits[CULPRIT - 1]["clean"].as_u64().expect("clean") >= 40,
        "{report}"
    );
    assert_eq!(commits[CULPRIT - 1]["failures"], 0);

    // The target is the flake; the network failures are recorded but never evidence.
    let target = report["target"]["text"].as_str().expect("target");
    assert!(target.contains("lost update"), "{target}");
    let others = report["other_failures"].as_array().expect("others");
    assert!(others.iter().any(|o| o["text"]
        .as_str()
        .is_some_and(|t| t.contains("network unreachable"))));

    // The broken commit was probed, found untestable and searched around.
    let broken = &commits[BROKEN];
    assert!(
        broken["untestable"]
            .as_str()
            .is_some_and(|r| r.contains("build failed with exit 1")),
        "{report}"
    );
    assert_eq!(broken["runs"], 0);

    // Each commit that was built was built once, in its own worktree.
    let built = builds(&setup);
    let mut distinct = built.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(
        built.len(),
        distinct.len(),
        "a commit was built twice: {built:?}"
    );
    let probed = commits
        .iter()
        .filter(|c| c["runs"].as_u64().unwrap_or(0) > 0 || !c["untestable"].is_null())
        .count();
    assert_eq!(built.len(), probed);
    assert_eq!(report["builds"].as_u64(), Some(built.len() as u64));
    assert!(built
        .iter()
        .all(|dir| !dir.starts_with(setup.repo.to_str().expect("utf-8"))));

    // Every probe is a normal campaign in the history, with the commit it ran at.
    let trail = report["trail"].as_array().expect("trail");
    let probe = trail
        .iter()
        .find(|p| p["commit"] == setup.hashes[CULPRIT].as_str())
        .expect("a probe at the culprit");
    let campaign = probe["campaign"].as_str().expect("campaign");
    let show = flakehunt()
        .arg("--db")
        .arg(&setup.db)
        .args(["show", campaign, "--json"])
        .output()
        .expect("show");
    assert!(
        show.status.success(),
        "{}",
        String::from_utf8_lossy(&show.stderr)
    );

    // The user's checkout, index and branch are as they were; the worktrees are gone.
    assert_eq!(checkout_state(&setup.repo), before);
    let worktrees = git(&setup.repo, &["worktree", "list", "--porcelain"]);
    assert_eq!(worktrees.matches("worktree ").count(), 1, "{worktrees}");
}

#[test]
fn resumes_after_an_interrupt_without_repeating_probes() {
    let setup = setup();
    let before = checkout_state(&setup.repo);
    let stderr_path = setup.cache.with_extension("stderr");
    let stderr = std::fs::File::create(&stderr_path).expect("stderr file");
    // Text mode, so the probes show on stderr as they are recorded.
    let mut child = bisect_with(&setup, false)
        .stdout(Stdio::piped())
        .stderr(stderr)
        .spawn()
        .expect("start bisect");
    // Interrupt once a dozen probes are recorded.
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let seen = std::fs::read_to_string(&stderr_path).unwrap_or_default();
        if seen.matches("bisect: probe").count() >= 12 {
            break;
        }
        if Instant::now() > deadline || child.try_wait().expect("poll").is_some() {
            panic!("bisect did not get to 12 probes: {seen}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let first = child.wait_with_output().expect("wait");
    let seen = std::fs::read_to_string(&stderr_path).unwrap_or_default();
    assert_eq!(first.status.code(), Some(1), "{seen}");
    let text = String::from_utf8_lossy(&first.stdout);
    assert!(
        text.contains("interrupted; rerun the same command to continue"),
        "{text}"
    );
    let recorded = recorded_campaigns(&setup.db);
    assert!(recorded.len() >= 12, "{recorded:?}");
    let built_before = builds(&setup).len();
    assert_eq!(checkout_state(&setup.repo), before);

    let second = bisect(&setup).output().expect("rerun");
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert_eq!(second.status.code(), Some(0), "{stderr}");
    let second: serde_json::Value = serde_json::from_slice(&second.stdout).expect("json");
    assert_eq!(second["culprit"], setup.hashes[CULPRIT].as_str());
    assert_eq!(
        second["resumed_probes"].as_u64(),
        Some(recorded.len() as u64)
    );
    // The recorded probes were reused, not run again: same campaigns, in the same order.
    let trail = second["trail"].as_array().expect("trail");
    for (old, new) in recorded.iter().zip(trail) {
        assert_eq!(old.as_deref(), new["campaign"].as_str());
    }
    let mut campaigns: Vec<&str> = trail
        .iter()
        .filter_map(|p| p["campaign"].as_str())
        .collect();
    let count = campaigns.len();
    campaigns.sort_unstable();
    campaigns.dedup();
    assert_eq!(campaigns.len(), count);
    // Builds are reused across the interruption. Only a build the interrupt cut short (the
    // last one begun, at a commit with no probe recorded) is run again.
    let built = builds(&setup);
    let (first_builds, second_builds) = built.split_at(built_before);
    for builds in [first_builds, second_builds] {
        let mut distinct = builds.to_vec();
        distinct.sort();
        distinct.dedup();
        assert_eq!(builds.len(), distinct.len(), "{built:?}");
    }
    let probed_first = recorded_commits(&setup.db, recorded.len());
    for again in second_builds.iter().filter(|b| first_builds.contains(b)) {
        assert_eq!(Some(again), first_builds.last(), "rebuilt: {built:?}");
        assert!(
            !probed_first.iter().any(|hash| again.ends_with(&hash[..12])),
            "a commit probed before the interrupt was built again: {built:?}"
        );
    }
    assert_eq!(second["builds"].as_u64(), Some(second_builds.len() as u64));
    assert_eq!(checkout_state(&setup.repo), before);
}

#[test]
fn refuses_bad_ranges_and_commands_before_running_anything() {
    let setup = setup();
    let run = |args: &[&str]| {
        let output = flakehunt()
            .current_dir(&setup.repo)
            .arg("--db")
            .arg(&setup.db)
            .arg("bisect")
            .arg("--cache-dir")
            .arg(&setup.cache)
            .args(args)
            .output()
            .expect("run");
        (
            output.status.code(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    };
    let (code, err) = run(&["--good", "HEAD", "--bad", "HEAD~3", "--", "./test.sh"]);
    assert_eq!(code, Some(2));
    assert!(err.contains("not an ancestor"), "{err}");
    let (code, err) = run(&["--good", "nope", "--bad", "HEAD", "--", "./test.sh"]);
    assert_eq!(code, Some(2));
    assert!(err.contains("'nope' does not name a commit"), "{err}");
    let (code, err) = run(&["--good", "HEAD~3", "--bad", "HEAD", "--", "./missing.sh"]);
    assert_eq!(code, Some(2));
    assert!(err.contains("cannot start at the bad commit"), "{err}");
    let (code, err) = run(&[
        "--good", "HEAD~3", "--bad", "HEAD", "--rate", "2", "--", "./t",
    ]);
    assert_eq!(code, Some(2));
    assert!(err.contains("not a rate"), "{err}");
    let (code, err) = run(&["--good", "HEAD~3", "--bad", "HEAD", "-n", "5", "--", "./t"]);
    assert_eq!(code, Some(2));
    assert!(err.contains("--budget"), "{err}");
    let (code, err) = run(&[
        "--good",
        "HEAD~3",
        "--bad",
        "HEAD",
        "--measure-failures",
        "1",
        "--",
        "./t",
    ]);
    assert_eq!(code, Some(2));
    assert!(
        err.contains("--measure-failures must be at least 2"),
        "{err}"
    );
    let (code, err) = run(&["--good", "HEAD~3", "--bad", "HEAD", "--only-flaky"]);
    assert_eq!(code, Some(2));
    assert!(
        err.contains("bisect one of them with --cargo-test"),
        "{err}"
    );
    // A test target the bad commit does not have: nothing is recorded.
    let (code, err) = run(&["--good", "HEAD~3", "--bad", "HEAD", "--pytest", "t.py::x"]);
    assert_eq!(code, Some(2));
    assert!(
        err.contains("test target cannot be used at the bad commit"),
        "{err}"
    );
    assert!(!setup.db.exists() || builds(&setup).is_empty());
}

#[test]
fn the_simulation_compares_with_naive_bisection() {
    let output = flakehunt()
        .args(["bisect", "--simulate", "--commits", "64", "--rate", "0.01"])
        .args(["--background", "0.02", "--trials", "100", "--json"])
        .output()
        .expect("simulate");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let result: serde_json::Value = serde_json::from_slice(&output.stdout).expect("json");
    let accuracy = result["search"]["correct"].as_f64().expect("correct") / 100.0;
    assert!(accuracy >= 0.99, "{result}");
    let naive = result["naive"].as_array().expect("naive");
    assert_eq!(naive.len(), 2, "{result}");
    let search_runs = result["search"]["mean_runs"].as_f64().expect("runs");
    for row in naive {
        assert!(row["tally"]["correct"].as_f64().expect("correct") / 100.0 >= accuracy);
        assert!(
            search_runs < row["tally"]["mean_runs"].as_f64().expect("runs"),
            "{result}"
        );
    }
}

/// A Cargo project's history for `--cargo-test`: its test is written at `CARGO_TEST_WRITTEN`,
/// the crate does not compile at `CARGO_BROKEN`, and the test turns flaky (5%, deterministic
/// per commit and run) at `CARGO_CULPRIT`.
const CARGO_COMMITS: usize = 16;
const CARGO_TEST_WRITTEN: usize = 7;
const CARGO_BROKEN: usize = 10;
const CARGO_CULPRIT: usize = 12;

fn cargo_source(i: usize) -> String {
    let mut source = format!(
        "//! Demo.\n\n/// Which commit this is.\npub fn version() -> u64 {{\n    {i}\n}}\n"
    );
    if i == CARGO_BROKEN {
        source.push_str("\npub fn broken() -> u64 { undefined_thing }\n");
    }
    if i >= CARGO_TEST_WRITTEN {
        let flaky = i >= CARGO_CULPRIT;
        source.push_str(&format!(
            r#"
#[cfg(test)]
mod tests {{
    fn var(name: &str) -> u64 {{
        std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(0)
    }}

    #[test]
    fn cache_keeps_updates() {{
        let r = var("FLAKEHUNT_RUN") + var("FLAKEHUNT_COMMIT_RUNS");
        let h = (r.wrapping_mul(2654435761) ^ (super::version() * 40503) ^ (r * 97)) % 10007;
        if {flaky} && h % 20 == 3 {{
            panic!("lost update in cache");
        }}
    }}
}}
"#
        ));
    }
    source
}

/// The Cargo repository; hashes of its commits, good first.
fn make_cargo_repo(dir: &Path) -> Vec<String> {
    git(dir, &["init", "-q"]);
    git(dir, &["config", "user.email", "tester@example.com"]);
    git(dir, &["config", "user.name", "Tester"]);
    std::fs::create_dir(dir.join("src")).expect("src");
    std::fs::write(
        dir.join("Cargo.toml"),
        "[package]\nname = \"fhcache\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[workspace]\n",
    )
    .expect("manifest");
    std::fs::write(dir.join(".gitignore"), "/target\nCargo.lock\n").expect("ignore");
    for i in 0..=CARGO_COMMITS {
        std::fs::write(dir.join("src/lib.rs"), cargo_source(i)).expect("lib.rs");
        git(dir, &["add", "-A"]);
        git(dir, &["commit", "-qm", &format!("cache change {i}")]);
    }
    let log = git(dir, &["rev-list", "--reverse", "HEAD"]);
    log.lines().map(String::from).collect()
}

/// `--cargo-test`: the test is built once per probed commit, in that commit's worktree, with a
/// build directory of its own even when the user shares one (`CARGO_TARGET_DIR`); commits where
/// the test does not exist yet or does not compile are skipped, not blamed.
#[test]
fn a_cargo_test_target_is_built_once_per_commit_and_missing_or_broken_commits_are_skipped() {
    let scratch = scratch();
    let repo = scratch.path().join("repo");
    std::fs::create_dir(&repo).expect("mkdir");
    let hashes = make_cargo_repo(&repo);
    let before = checkout_state(&repo);
    // cargo through a wrapper that logs where it builds.
    let bin = scratch.path().join("bin");
    std::fs::create_dir(&bin).expect("bin");
    let log = scratch.path().join("cargo.log");
    let wrapper = bin.join("cargo");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\nprintf '%s|%s\\n' \"$PWD\" \"$*\" >> '{}'\nexec '{}' \"$@\"\n",
            log.display(),
            env!("CARGO")
        ),
    )
    .expect("wrapper");
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    }
    let mut path = std::ffi::OsString::from(&bin);
    path.push(":");
    path.push(std::env::var_os("PATH").unwrap_or_default());
    let shared = scratch.path().join("shared-target");
    let output = flakehunt()
        .current_dir(&repo)
        .env("PATH", &path)
        .env("CARGO_TARGET_DIR", &shared)
        .env("FLAKEHUNT_CACHE_DIR", scratch.path().join("build-cache"))
        .env_remove("RUST_BACKTRACE")
        .arg("--db")
        .arg(scratch.path().join("history.db"))
        .args([
            "bisect", "--good", "HEAD~16", "--bad", "HEAD", "--json", "-j", "1",
        ])
        .arg("--cache-dir")
        .arg(scratch.path().join("cache"))
        .args(["--cargo-test", "cache_keeps_updates"])
        .output()
        .expect("run bisect");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    let report: serde_json::Value =
        serde_json::from_slice(&output.stdout).unwrap_or_else(|e| panic!("{e}: {stderr}"));
    assert_eq!(report["status"], "culprit", "{report}");
    assert_eq!(
        report["culprit"],
        hashes[CARGO_CULPRIT].as_str(),
        "{stderr}"
    );
    let target = report["target"]["text"].as_str().expect("target");
    assert!(target.contains("lost update in cache"), "{target}");

    // Every commit found untestable is one without the test or one that does not compile;
    // none of them ran, none is blamed.
    let commits = report["commits"].as_array().expect("commits");
    let mut skipped = Vec::new();
    for (i, commit) in commits.iter().enumerate() {
        let Some(reason) = commit["untestable"].as_str() else {
            continue;
        };
        assert!(
            i < CARGO_TEST_WRITTEN || i == CARGO_BROKEN,
            "commit {i} untestable: {reason}"
        );
        assert!(reason.contains("test target"), "{reason}");
        assert_eq!(commit["runs"], 0);
        assert_eq!(commit["failures"], 0);
        skipped.push(i);
    }
    assert!(
        skipped.iter().any(|&i| i < CARGO_TEST_WRITTEN),
        "no commit without the test was probed: {report}"
    );
    assert!(skipped.contains(&CARGO_BROKEN), "{report}");
    assert!(commits[CARGO_CULPRIT - 1]["clean"].as_u64().expect("clean") >= 40);

    // One build per probed commit, in its own worktree; none in the shared directory.
    let builds: Vec<String> = std::fs::read_to_string(&log)
        .unwrap_or_default()
        .lines()
        .filter(|line| line.contains("--no-run"))
        .map(|line| line.split('|').next().unwrap_or_default().to_string())
        .collect();
    let mut distinct = builds.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(
        builds.len(),
        distinct.len(),
        "a commit was built twice: {builds:?}"
    );
    let probed = commits
        .iter()
        .filter(|c| c["runs"].as_u64().unwrap_or(0) > 0 || !c["untestable"].is_null())
        .count();
    assert_eq!(builds.len(), probed, "{builds:?}");
    let repo_text = repo.to_str().expect("utf-8");
    assert!(
        builds.iter().all(|dir| !dir.starts_with(repo_text)),
        "{builds:?}"
    );
    let trail = report["trail"].as_array().expect("trail");
    let returns = trail.len() - distinct.len();
    assert!(
        returns > 0,
        "the search never came back to a commit: {report}"
    );
    assert!(
        !shared.exists(),
        "a build went to the shared CARGO_TARGET_DIR"
    );
    assert_eq!(checkout_state(&repo), before);
}

/// A bad commit that never fails as `--signature` says, with no `--budget`: a warning says what
/// to do, and the search gives up after 20/R runs there instead of running forever.
#[test]
fn a_bad_commit_that_never_fails_ends_with_advice_instead_of_running_forever() {
    let setup = setup();
    let output = flakehunt()
        .current_dir(&setup.repo)
        .env("BUILD_LOG", &setup.build_log)
        .arg("--db")
        .arg(&setup.db)
        .args([
            "bisect",
            "--good",
            "HEAD~40",
            "--bad",
            "HEAD",
            "--build",
            "./build.sh",
        ])
        .arg("--cache-dir")
        .arg(&setup.cache)
        .args([
            "-j",
            "2",
            "--rate",
            "0.1",
            "--signature",
            "segmentation fault",
        ])
        .args(["--", "./test.sh"])
        .output()
        .expect("run bisect");
    let stderr = String::from_utf8_lossy(&output.stderr);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    // 20 / 0.1 runs at the bad commit, then no more.
    assert_eq!(stderr.matches("has not failed").count(), 1, "{stderr}");
    for advice in ["in other ways", "--signature", "--rate", "--budget"] {
        assert!(stderr.contains(advice), "{advice}: {stderr}");
    }
    // The network failures (2%) were seen, and set aside.
    assert!(
        stdout.starts_with("no culprit: the bad commit")
            && stdout.contains("never failed as the target in 200 runs (")
            && stdout.contains("other failures); check --bad"),
        "{stdout}"
    );
    assert!(stdout.contains("network unreachable"), "{stdout}");
    // Only the bad commit was run.
    assert_eq!(builds(&setup).len(), 1, "{stderr}");
}
