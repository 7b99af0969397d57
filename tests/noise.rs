//! The scheduling-noise preload library against real programs: small C programs compiled with
//! `cc -pthread` into a temporary directory and run with the embedded library preloaded from its
//! in-memory file, and the `fh-futex-race` fixture (a Rust `std::sync` race) run by flakehunt.

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use flakehunt::shake::noise::{self, NoiseLibrary};

use common::{flakehunt, scratch};

/// Two threads increment a mutex-protected counter 10,000 times each and print the total.
const TWO_THREADS: &str = r#"
#include <pthread.h>
#include <stdio.h>

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static long counter;

static void *work(void *arg) {
    (void)arg;
    for (int i = 0; i < 10000; i++) {
        pthread_mutex_lock(&lock);
        counter++;
        pthread_mutex_unlock(&lock);
    }
    return NULL;
}

int main(void) {
    pthread_t a, b;
    if (pthread_create(&a, NULL, work, NULL) || pthread_create(&b, NULL, work, NULL)) return 2;
    pthread_join(a, NULL);
    pthread_join(b, NULL);
    printf("%ld\n", counter);
    return 0;
}
"#;

/// One thread locks and unlocks a mutex 1,000 times.
const ONE_THREAD: &str = r#"
#include <pthread.h>
#include <stdio.h>

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

int main(void) {
    long counter = 0;
    for (int i = 0; i < 1000; i++) {
        pthread_mutex_lock(&lock);
        counter++;
        pthread_mutex_unlock(&lock);
    }
    printf("%ld\n", counter);
    return 0;
}
"#;

/// Leaves a thread with `pthread_exit`, cancels a thread blocked in `pthread_cond_wait`, waits
/// on a condition variable with a timeout, installs and raises a signal handler, blocks signals
/// and forks a child that locks a mutex: each must behave as without the library.
const EDGES: &str = r#"
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static volatile sig_atomic_t signalled;

static void on_usr1(int sig) { (void)sig; signalled = 1; }
static void unlock(void *mutex) { pthread_mutex_unlock(mutex); }

static void *exiter(void *arg) {
    (void)arg;
    pthread_mutex_lock(&lock);
    pthread_mutex_unlock(&lock);
    pthread_exit((void *)42);
    return NULL;
}

static void *waiter(void *arg) {
    (void)arg;
    pthread_mutex_lock(&lock);
    pthread_cleanup_push(unlock, &lock);
    for (;;) pthread_cond_wait(&cond, &lock);
    pthread_cleanup_pop(1);
    return NULL;
}

#define CHECK(what, ok) if (!(ok)) { printf("%s failed\n", what); return 1; }

int main(void) {
    pthread_t thread;
    void *result;
    CHECK("create", pthread_create(&thread, NULL, exiter, NULL) == 0);
    CHECK("join", pthread_join(thread, &result) == 0);
    CHECK("pthread_exit value", result == (void *)42);

    CHECK("create waiter", pthread_create(&thread, NULL, waiter, NULL) == 0);
    usleep(20000);
    CHECK("cancel", pthread_cancel(thread) == 0);
    CHECK("join waiter", pthread_join(thread, &result) == 0);
    CHECK("cancelled", result == PTHREAD_CANCELED);

    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_nsec += 1000000;
    if (deadline.tv_nsec >= 1000000000) { deadline.tv_sec++; deadline.tv_nsec -= 1000000000; }
    pthread_mutex_lock(&lock);
    CHECK("timedwait", pthread_cond_timedwait(&cond, &lock, &deadline) == ETIMEDOUT);
    CHECK("trylock on a held mutex", pthread_mutex_trylock(&lock) == EBUSY);
    pthread_cond_broadcast(&cond);
    pthread_cond_signal(&cond);
    pthread_mutex_unlock(&lock);

    CHECK("signal", signal(SIGUSR1, on_usr1) != SIG_ERR);
    sigset_t set, old;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR1);
    CHECK("pthread_sigmask", pthread_sigmask(SIG_BLOCK, &set, &old) == 0);
    raise(SIGUSR1);
    CHECK("blocked", !signalled);
    CHECK("sigprocmask", sigprocmask(SIG_SETMASK, &old, NULL) == 0);
    CHECK("delivered", signalled);
    struct sigaction action;
    CHECK("sigaction", sigaction(SIGUSR1, NULL, &action) == 0 && action.sa_handler == on_usr1);

    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        pthread_mutex_lock(&lock);
        pthread_mutex_unlock(&lock);
        exit(0);
    }
    int status;
    CHECK("waitpid", waitpid(pid, &status, 0) == pid);
    CHECK("child", WIFEXITED(status) && WEXITSTATUS(status) == 0);
    printf("ok\n");
    return 0;
}
"#;

/// Calls `syscall` for futex waits and wakes (one of them with a sixth argument that matters),
/// for system calls it must pass through untouched (one with a sixth argument that matters), and
/// calls `sched_yield`, `nanosleep` and `clock_nanosleep`: each must return what it returns
/// without the library, and `errno` must survive the noise around successful calls.
const SYSCALLS: &str = r#"
#define _GNU_SOURCE
#include <errno.h>
#include <linux/futex.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define CHECK(what, ok) if (!(ok)) { printf("%s failed (errno %d)\n", what, errno); return 1; }

int main(void) {
    static uint32_t word = 1;
    errno = 0;
    CHECK("futex wait on a changed word",
          syscall(SYS_futex, &word, FUTEX_WAIT_PRIVATE, 0, NULL, NULL, 0) == -1 && errno == EAGAIN);
    errno = EDOM;
    CHECK("futex wake",
          syscall(SYS_futex, &word, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0) == 0 && errno == EDOM);
    CHECK("futex wake with an empty bitset",
          syscall(SYS_futex, &word, FUTEX_WAKE_BITSET | FUTEX_PRIVATE_FLAG, 1, NULL, NULL, 0) == -1
              && errno == EINVAL);
    errno = EDOM;
    CHECK("futex wake with a full bitset",
          syscall(SYS_futex, &word, FUTEX_WAKE_BITSET | FUTEX_PRIVATE_FLAG, 1, NULL, NULL,
                  FUTEX_BITSET_MATCH_ANY) == 0 && errno == EDOM);

    CHECK("getpid", syscall(SYS_getpid) == getpid());
    CHECK("unknown system call", syscall(-1L) == -1 && errno == ENOSYS);
    CHECK("mmap at a misaligned offset",
          syscall(SYS_mmap, NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 1) == -1
              && errno == EINVAL);
    long page = syscall(SYS_mmap, NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CHECK("mmap", page != -1 && syscall(SYS_munmap, page, 4096) == 0);

    errno = EDOM;
    CHECK("sched_yield", sched_yield() == 0 && errno == EDOM);
    struct timespec short_time = {0, 1000};
    CHECK("nanosleep", nanosleep(&short_time, NULL) == 0 && errno == EDOM);
    struct timespec bad_time = {0, 2000000000};
    CHECK("nanosleep with a bad time", nanosleep(&bad_time, NULL) == -1 && errno == EINVAL);
    errno = EDOM;
    CHECK("clock_nanosleep", clock_nanosleep(CLOCK_MONOTONIC, 0, &short_time, NULL) == 0);
    struct timespec past = {0, 0};
    CHECK("absolute clock_nanosleep",
          clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &past, NULL) == 0);
    CHECK("clock_nanosleep on a bad clock",
          clock_nanosleep(12345, 0, &short_time, NULL) == EINVAL && errno == EDOM);
    printf("ok\n");
    return 0;
}
"#;

/// The library, loaded once for the whole test binary.
fn library() -> &'static NoiseLibrary {
    static LIBRARY: OnceLock<NoiseLibrary> = OnceLock::new();
    LIBRARY.get_or_init(|| NoiseLibrary::load().expect("load the embedded noise library"))
}

/// A scratch directory with `name.c` compiled to `name`; returns the directory and the program.
fn compile(name: &str, source: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::Builder::new()
        .prefix("flakehunt-noise-")
        .tempdir()
        .expect("create temp dir");
    let source_path = dir.path().join(format!("{name}.c"));
    std::fs::write(&source_path, source).expect("write C source");
    let program = dir.path().join(name);
    let output = Command::new("cc")
        .args(["-pthread", "-O1", "-o"])
        .arg(&program)
        .arg(&source_path)
        .output()
        .expect("run cc (a C compiler is needed for these tests)");
    assert!(
        output.status.success(),
        "cc failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    (dir, program)
}

/// Run `program` under the library with `probability`, `seed` and statistics to `stats`.
fn run(program: &Path, probability: f64, seed: u64, stats: &Path) -> Output {
    let mut command = Command::new(program);
    command
        .current_dir(program.parent().expect("program directory"))
        .env_remove("LD_PRELOAD")
        .env(noise::STATS_VAR, stats);
    for (key, value) in noise::environment(library(), probability, 20, seed, None) {
        command.env(key, value);
    }
    let output = command.output().expect("run the test program");
    assert!(
        output.status.success(),
        "{} failed ({}): {}{}",
        program.display(),
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// The `(intercepted, injected)` pairs of a statistics file, one per process.
fn stats(path: &Path) -> Vec<(u64, u64)> {
    let text = std::fs::read_to_string(path).expect("read the statistics file");
    text.lines()
        .map(|line| {
            let mut fields = line.split(' ').map(|field| {
                let (_, value) = field.split_once('=').expect("key=value");
                value.parse::<u64>().expect("a count")
            });
            let pair = (fields.next().unwrap(), fields.next().unwrap());
            assert!(
                line.starts_with("intercepted=") && line.contains(" injected="),
                "{line}"
            );
            pair
        })
        .collect()
}

/// Assert that `dir` holds exactly `names`.
fn assert_only(dir: &Path, names: &[&str]) {
    let found: BTreeSet<String> = std::fs::read_dir(dir)
        .expect("list the temp dir")
        .map(|entry| {
            entry
                .expect("dir entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    let expected: BTreeSet<String> = names.iter().map(|name| name.to_string()).collect();
    assert_eq!(found, expected, "unexpected files in {}", dir.display());
}

#[test]
fn mutex_counter_stays_correct_under_heavy_noise() {
    let (dir, program) = compile("counter", TWO_THREADS);
    let stats_path = dir.path().join("stats");
    let output = run(&program, 0.5, 1, &stats_path);
    assert_eq!(String::from_utf8_lossy(&output.stdout), "20000\n");
    let lines = stats(&stats_path);
    assert_eq!(lines.len(), 1, "{lines:?}");
    let (intercepted, injected) = lines[0];
    // 40,000 lock and unlock calls, plus thread creation and joins.
    assert!(intercepted >= 40_000, "intercepted={intercepted}");
    assert!(injected > 0, "injected={injected}");
    assert_only(dir.path(), &["counter.c", "counter", "stats"]);
}

#[test]
fn zero_probability_injects_nothing() {
    let (dir, program) = compile("counter", TWO_THREADS);
    let stats_path = dir.path().join("stats");
    let output = run(&program, 0.0, 1, &stats_path);
    assert_eq!(String::from_utf8_lossy(&output.stdout), "20000\n");
    let lines = stats(&stats_path);
    assert_eq!(lines.len(), 1, "{lines:?}");
    let (intercepted, injected) = lines[0];
    assert!(intercepted >= 40_000, "intercepted={intercepted}");
    assert_eq!(injected, 0);
    assert_only(dir.path(), &["counter.c", "counter", "stats"]);
}

#[test]
fn the_same_seed_replays_the_same_decisions() {
    let (dir, program) = compile("single", ONE_THREAD);
    let injected = |seed: u64, file: &str| {
        let stats_path = dir.path().join(file);
        let output = run(&program, 0.1, seed, &stats_path);
        assert_eq!(String::from_utf8_lossy(&output.stdout), "1000\n");
        let lines = stats(&stats_path);
        assert_eq!(lines.len(), 1, "{lines:?}");
        assert_eq!(lines[0].0, 2000, "1,000 locks and 1,000 unlocks");
        lines[0].1
    };
    let first = injected(7, "seed-7-a");
    assert!(first > 0);
    assert_eq!(injected(7, "seed-7-b"), first);
    assert_eq!(injected(7, "seed-7-c"), first);
    let others = [injected(8, "seed-8"), injected(9, "seed-9")];
    assert!(
        others.iter().any(|&count| count != first),
        "seeds 7, 8 and 9 all injected {first} times"
    );
    assert_only(
        dir.path(),
        &[
            "single.c", "single", "seed-7-a", "seed-7-b", "seed-7-c", "seed-8", "seed-9",
        ],
    );
}

#[test]
fn exit_cancellation_signals_and_fork_behave_as_without_the_library() {
    let (dir, program) = compile("edges", EDGES);
    let stats_path = dir.path().join("stats");
    let output = run(&program, 1.0, 3, &stats_path);
    assert_eq!(String::from_utf8_lossy(&output.stdout), "ok\n");
    // One line from the forked child (only its own calls), one from the parent.
    let lines = stats(&stats_path);
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(
        lines.iter().all(|&(intercepted, _)| intercepted > 0),
        "{lines:?}"
    );
    assert!(lines.iter().any(|&(_, injected)| injected > 0), "{lines:?}");
    let child = lines.iter().map(|&(intercepted, _)| intercepted).min();
    assert_eq!(
        child,
        Some(2),
        "the child locks and unlocks once: {lines:?}"
    );
    assert_only(dir.path(), &["edges.c", "edges", "stats"]);
}

#[test]
fn syscall_and_sleeps_pass_arguments_results_and_errno_through() {
    let (dir, program) = compile("syscalls", SYSCALLS);
    let stats_path = dir.path().join("stats");
    let output = run(&program, 1.0, 5, &stats_path);
    assert_eq!(String::from_utf8_lossy(&output.stdout), "ok\n");
    let lines = stats(&stats_path);
    assert_eq!(lines.len(), 1, "{lines:?}");
    let (intercepted, injected) = lines[0];
    // Four futex calls, one yield, two nanosleeps and three clock_nanosleeps; the other system
    // calls go through `syscall` without being counted.
    assert_eq!(intercepted, 10, "{lines:?}");
    assert!(injected > 0, "{lines:?}");
    assert_only(dir.path(), &["syscalls.c", "syscalls", "stats"]);
}

/// Path of the `fh-futex-race` fixture, built once per test binary.
fn futex_race() -> &'static Path {
    static PROGRAM: OnceLock<PathBuf> = OnceLock::new();
    PROGRAM.get_or_init(|| {
        let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml");
        let status = Command::new(env!("CARGO"))
            .args([
                "build",
                "--quiet",
                "-p",
                "flakehunt-fixtures",
                "--bin",
                "fh-futex-race",
            ])
            .arg("--manifest-path")
            .arg(&manifest)
            .status()
            .expect("run cargo to build fh-futex-race");
        assert!(status.success(), "building fh-futex-race failed");
        // The test binary lives in target/<profile>/deps; the fixture in target/<profile>.
        let exe = std::env::current_exe().expect("test binary path");
        let path = exe
            .parent()
            .and_then(Path::parent)
            .expect("target/<profile> directory")
            .join("fh-futex-race");
        assert!(path.exists(), "fixture not found at {}", path.display());
        path
    })
}

/// A campaign of `fh-futex-race` runs with `extra` flakehunt options; returns the summary.
fn race_campaign(out: &Path, extra: &[&str]) -> serde_json::Value {
    let output = flakehunt()
        .args(["run", "--quiet", "--json", "--no-history", "-j", "2"])
        .arg("--out")
        .arg(out)
        .args(extra)
        .arg("--")
        .arg(futex_race())
        .output()
        .expect("run flakehunt");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let summary: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap_or_else(|error| {
        panic!(
            "summary is not JSON ({error}); stdout: {stdout}; stderr: {}",
            String::from_utf8_lossy(&output.stderr)
        )
    });
    assert_eq!(summary["timeouts"], 0, "{summary}");
    summary
}

/// A count from a summary.
fn count(summary: &serde_json::Value, key: &str) -> u64 {
    summary[key]
        .as_u64()
        .unwrap_or_else(|| panic!("no {key} in {summary}"))
}

#[test]
fn std_sync_stays_correct_under_heavy_futex_noise() {
    let dir = scratch();
    let stats_path = dir.path().join("stats");
    let summary = race_campaign(
        &dir.path().join("out"),
        &[
            "-n",
            "20",
            "--shake",
            "noise=1",
            "--env",
            "FH_RACE_SAFE=1",
            "--env",
            &format!("{}={}", noise::STATS_VAR, stats_path.display()),
        ],
    );
    assert_eq!(count(&summary, "runs"), 20, "{summary}");
    assert_eq!(count(&summary, "failures"), 0, "{summary}");
    let lines = stats(&stats_path);
    assert_eq!(lines.len(), 20, "{lines:?}");
    // Each run notifies its condition variable once per job: 40 futex wakes at least.
    assert!(
        lines.iter().all(|&(intercepted, _)| intercepted >= 40),
        "{lines:?}"
    );
    assert!(lines.iter().all(|&(_, injected)| injected > 0), "{lines:?}");
}

/// `fh-futex-race` loses an update only if its main thread takes the lock while the worker is
/// between two critical sections, a window that plainly lasts one futex wake (measured: 0.1% to
/// 0.25% of runs fail, with or without two busy loops competing for the CPUs). Noise around the
/// futex calls of its `Condvar` holds the window open (72% to 85% of runs fail at
/// `noise=0.5`). The comparison needs 10 times the plain rate and at least 20 noisy failures in
/// 300 runs (7%): plain runs would have to fail 30 times more often than measured, or noise
/// runs 10 times less often, for it to fail by chance, while a library that missed the futex
/// calls fails it (its noisy runs fail as rarely as plain ones).
#[test]
fn futex_noise_makes_a_std_sync_race_fail_ten_times_as_often() {
    let dir = scratch();
    let plain = race_campaign(&dir.path().join("plain"), &["-n", "300"]);
    let noisy = race_campaign(
        &dir.path().join("noisy"),
        &["-n", "300", "--max-failures", "20", "--shake", "noise=0.5"],
    );
    let (plain_runs, plain_failures) = (count(&plain, "runs"), count(&plain, "failures"));
    let (noisy_runs, noisy_failures) = (count(&noisy, "runs"), count(&noisy, "failures"));
    assert_eq!(plain_runs, 300, "{plain}");
    assert!(
        noisy_failures >= 20,
        "{noisy_failures} failures in {noisy_runs} noisy runs: {noisy}"
    );
    // noisy_failures / noisy_runs >= 10 * plain_failures / plain_runs, in integers.
    assert!(
        noisy_failures * plain_runs >= 10 * plain_failures * noisy_runs,
        "noisy: {noisy_failures}/{noisy_runs}, plain: {plain_failures}/{plain_runs}"
    );
    let signatures = noisy["signatures"].as_array().expect("signatures");
    assert!(
        signatures.iter().all(|signature| signature["text"]
            .as_str()
            .is_some_and(|text| text.contains("FAIL: lost update"))),
        "{noisy}"
    );
}
