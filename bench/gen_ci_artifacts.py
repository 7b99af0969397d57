#!/usr/bin/env python3
"""Generate synthetic CI artifacts for the ingest/search benchmark.

Writes N JUnit XML reports, a mix of cargo-nextest and pytest shapes with about 20 test cases
each, into OUT_DIR laid out like Go's fetchlogs cache:

    OUT_DIR/<date>-<rev>/<builder>/junit.xml

A few cases per report fail (or fail and then pass on a retry, for nextest) with one of a
handful of realistic causes. Each failure carries run-specific noise (addresses, thread ids,
ports, durations, temp paths, request ids) that signature normalisation removes, so that the
failures cluster into a small number of signatures. The output depends only on the arguments.

Usage: gen_ci_artifacts.py OUT_DIR --files N [--seed S]
"""

import argparse
import datetime
import os
import random
import sys
from xml.sax.saxutils import escape, quoteattr

BUILDERS = [
    "linux-amd64",
    "linux-amd64-race",
    "linux-arm64",
    "linux-386",
    "darwin-amd64-13",
    "darwin-arm64-14",
    "windows-amd64-2016",
    "windows-arm64-11",
    "freebsd-amd64-14",
    "openbsd-amd64-74",
]

RUST_BINARIES = ["flakehunt", "flakehunt::integration", "flakehunt::bin/flakehunt"]

RUST_TESTS = [
    "store::tests::reopen",
    "store::tests::concurrent_writers",
    "store::tests::vacuum_keeps_sightings",
    "store::schema::tests::migrates_v1",
    "ingest::tests::dedupes_reingested_files",
    "runner::tests::kills_process_group",
    "runner::tests::timeout_sends_sigquit",
    "runner::spawn::tests::inherits_env",
    "runner::capture::tests::bounded_capture",
    "sink::tests::archive_rotates",
    "sink::progress::tests::redraws_on_resize",
    "analysis::stats::tests::wilson_interval",
    "analysis::signature::tests::clusters_panics",
    "cache::lru::tests::evicts_oldest",
    "cache::lru::tests::resize_under_load",
    "net::conn::tests::reconnects",
    "net::conn::tests::keepalive_timeout",
    "sched::timer::tests::fires_in_order",
    "sched::timer::tests::cancel_races_fire",
    "io::tempdir::tests::cleans_up",
    "cli::tests::parses_durations",
    "cli::tests::rejects_zero_jobs",
    "report::json::tests::round_trips",
    "report::text::tests::wraps_long_lines",
    "spec::tests::validates_regexes",
]

PY_MODULES = {
    "tests.test_cache": ["test_roundtrip", "test_eviction[lru-128]", "test_eviction[lfu-64]",
                         "test_ttl_expiry", "test_concurrent_get"],
    "tests.test_db": ["test_connect", "test_migrate", "test_pool_exhaustion",
                      "test_transaction_rollback", "test_replica_lag"],
    "tests.test_api": ["test_health", "test_create_order", "test_cancel_order",
                       "test_rate_limit", "test_pagination[10]", "test_pagination[100]"],
    "tests.test_worker": ["test_job_retry", "test_job_timeout", "test_shutdown_drains",
                          "test_heartbeat"],
    "tests.integration.test_e2e": ["test_signup_flow", "test_checkout_flow",
                                   "test_webhook_delivery", "test_search_reindex"],
}
PY_TESTS = [(module, name) for module, names in PY_MODULES.items() for name in names]

# Tests that fail often; every other test fails rarely.
FLAKY_RATE = 0.15
STABLE_RATE = 0.01
# Chance that a failing nextest test passes on a retry (flakyFailure) rather than failing.
RETRY_PASS_RATE = 0.5


def hexid(rng, digits):
    return "".join(rng.choice("0123456789abcdef") for _ in range(digits))


def uuid(rng):
    h = hexid(rng, 32)
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-a{h[17:20]}-{h[20:]}"


def rust_failure(rng, cause, test):
    """(message, type, description, stdout, stderr) of a nextest failure."""
    tid = rng.randint(2, 99999)
    panic_at = {
        0: "src/store/mod.rs:310:14",
        1: "src/sched/timer.rs:141:5",
        2: "src/cache/lru.rs:77:13",
        3: "src/fs/cleanup.rs:52:22",
        4: "src/net/conn.rs:203:9",
    }
    if cause == 0:
        detail = (
            "called `Result::unwrap()` on an `Err` value: SqliteFailure(Error { code: "
            "DatabaseBusy, extended_code: 5 }, Some(\"database is locked\"))"
        )
    elif cause == 1:
        detail = (
            f"timer fired {rng.randint(5, 900)}ms late (deadline 0x{rng.getrandbits(40):x} "
            f"missed by {rng.uniform(0.1, 3):.3f}s)"
        )
    elif cause == 2:
        left = rng.randint(1, 500)
        detail = f"assertion `left == right` failed\n  left: {left}\n right: {left + 1}"
    elif cause == 3:
        detail = (
            f"failed to remove /tmp/.tmp{hexid(rng, 6)}/lock: Directory not empty (os error 39)"
        )
    elif cause == 4:
        detail = (
            f"connect to 127.0.0.1:{rng.randint(20000, 60000)} failed: Connection refused "
            f"(os error 111) after {rng.randint(1, 5000)}ms"
        )
    else:
        # Stack overflow: the test binary aborts, no panic message.
        stderr = (
            f"\nthread '{test}' ({tid}) has overflowed its stack\n"
            "fatal runtime error: stack overflow, aborting\n"
        )
        stdout = "\nrunning 1 test\n"
        return ("", "test abort with signal 6 (SIGABRT)", "", stdout, stderr)
    head = f"thread '{test}' ({tid}) panicked at {panic_at[cause]}:"
    description = f"{head}\n{detail}"
    stdout = (
        f"\nrunning 1 test\ntest {test} ... FAILED\n\nfailures:\n\nfailures:\n    {test}\n\n"
        f"test result: FAILED. 0 passed; 1 failed; 0 ignored; 0 measured; "
        f"{rng.randint(10, 300)} filtered out; finished in {rng.uniform(0, 3):.2f}s\n\n"
    )
    stderr = (
        f"{description}\nnote: run with `RUST_BACKTRACE=1` environment variable to display a "
        "backtrace\n"
    )
    return (head, "test failure with exit code 101", description, stdout, stderr)


def py_failure(rng, cause, module, name):
    """(element, message, text) of a pytest failure."""
    func = name.split("[")[0]
    path = module.replace(".", "/") + ".py"
    line = rng.choice([27, 41, 58, 112])
    if cause == 0:
        got = rng.randint(1, 1000)
        message = f"assert {got} == {got + 1}"
        body = (
            f"    def {func}(client):\n        resp = client.get_all()\n"
            f">       assert len(resp) == {got + 1}\nE       assert {got} == {got + 1}\n"
            f"E        +  where {got} = len([...])\n\n{path}:{line}: AssertionError"
        )
        return "failure", message, body
    if cause == 1:
        port = rng.randint(1024, 65535)
        message = "ConnectionRefusedError: [Errno 111] Connection refused"
        body = (
            "    @pytest.fixture\n    def db():\n"
            f">       return connect(\"127.0.0.1:{port}\")\n"
            f"E       ConnectionRefusedError: [Errno 111] Connection refused\n\n"
            "tests/conftest.py:12: ConnectionRefusedError"
        )
        return "error", f"failed on setup with \"{message}\"", body
    if cause == 2:
        secs = rng.uniform(5, 30)
        message = f"TimeoutError: operation timed out after {secs:.2f}s"
        body = (
            f"    def {func}(worker):\n>       worker.wait(timeout={secs:.2f})\n"
            f"E       TimeoutError: operation timed out after {secs:.2f}s\n\n"
            f"{path}:{line}: TimeoutError"
        )
        return "failure", message, body
    if cause == 3:
        message = f"AssertionError: expected status 200, got 503 (request id {uuid(rng)})"
        body = (
            f"    def {func}(api):\n        resp = api.post('/orders', json=ORDER)\n"
            f">       assert resp.status == 200, resp.text\nE       {message}\n\n"
            f"{path}:{line}: AssertionError"
        )
        return "failure", message, body
    if cause == 4:
        tmp = f"/tmp/pytest-of-ci/pytest-{rng.randint(1, 9999)}/{func}0/out.json"
        message = f"FileNotFoundError: [Errno 2] No such file or directory: '{tmp}'"
        body = (
            f"tmp_path = PosixPath('{tmp.rsplit('/', 1)[0]}')\n\n"
            f"    def {func}(tmp_path):\n>       data = json.loads((tmp_path / 'out.json').read_text())\n"
            f"E       {message}\n\n/usr/lib/python3.12/pathlib.py:1027: FileNotFoundError"
        )
        return "failure", message, body
    session = hexid(rng, 6) + str(rng.randint(1000, 9999))
    message = f"KeyError: 'session-{session}'"
    body = (
        f"    def {func}(store):\n>       return store.sessions[sid]\nE       {message}\n\n"
        f"{path}:{line}: KeyError"
    )
    return "error", message, body


def nextest_report(rng, flaky_tests, ts):
    binaries = rng.sample(RUST_BINARIES, rng.randint(1, 2))
    count = rng.randint(18, 22)
    tests = rng.sample(RUST_TESTS, count)
    suites = []
    totals = {"tests": 0, "failures": 0}
    for b_index, binary in enumerate(binaries):
        mine = tests[b_index::len(binaries)]
        cases = []
        failures = 0
        for test in mine:
            t = rng.uniform(0.001, 2.5)
            rate = FLAKY_RATE if test in flaky_tests else STABLE_RATE
            stamp = quoteattr(ts)
            if rng.random() >= rate:
                cases.append(
                    f'        <testcase name={quoteattr(test)} classname={quoteattr(binary)} '
                    f'timestamp={stamp} time="{t:.3f}">\n        </testcase>\n'
                )
                continue
            cause = flaky_tests.get(test, rng.randrange(6))
            if rng.random() < 0.1:
                cause = rng.randrange(6)
            message, ty, description, out, err = rust_failure(rng, cause, test)
            msg_attr = f" message={quoteattr(message)}" if message else ""
            if rng.random() < RETRY_PASS_RATE:
                body = (
                    f'            <flakyFailure timestamp={stamp} time="{t / 2:.3f}"{msg_attr} '
                    f'type={quoteattr(ty)}>\n'
                    f"                <stackTrace>{escape(description)}</stackTrace>\n"
                    f"                <system-out>{escape(out)}</system-out>\n"
                    f"                <system-err>{escape(err)}</system-err>\n"
                    "            </flakyFailure>\n"
                    f"            <system-out>\nrunning 1 test\ntest {escape(test)} ... ok\n\n"
                    "</system-out>\n            <system-err></system-err>\n"
                )
            else:
                failures += 1
                body = (
                    f"            <failure{msg_attr} type={quoteattr(ty)}>{escape(description)}"
                    "</failure>\n"
                    f"            <system-out>{escape(out)}</system-out>\n"
                    f"            <system-err>{escape(err)}</system-err>\n"
                )
            cases.append(
                f'        <testcase name={quoteattr(test)} classname={quoteattr(binary)} '
                f'timestamp={stamp} time="{t:.3f}">\n{body}        </testcase>\n'
            )
        totals["tests"] += len(mine)
        totals["failures"] += failures
        suites.append(
            f'    <testsuite name={quoteattr(binary)} tests="{len(mine)}" disabled="0" '
            f'errors="0" failures="{failures}">\n{"".join(cases)}    </testsuite>\n'
        )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<testsuites name="nextest-run" tests="{totals["tests"]}" '
        f'failures="{totals["failures"]}" errors="0" uuid="{uuid(rng)}" '
        f'timestamp="{ts}" time="{rng.uniform(3, 60):.3f}">\n'
        + "".join(suites)
        + "</testsuites>\n"
    )


def pytest_report(rng, flaky_tests, ts):
    count = rng.randint(18, 22)
    tests = sorted(rng.sample(PY_TESTS, count))
    cases = []
    counts = {"errors": 0, "failures": 0, "skipped": 0}
    for module, name in tests:
        t = rng.uniform(0.0005, 1.5)
        head = f'<testcase classname={quoteattr(module)} name={quoteattr(name)} time="{t:.3f}"'
        key = f"{module}.{name}"
        rate = FLAKY_RATE if key in flaky_tests else STABLE_RATE
        if rng.random() < 0.03:
            counts["skipped"] += 1
            cases.append(
                f'{head}><skipped type="pytest.skip" message="needs network">'
                f"{escape(module.replace('.', '/'))}.py:50: needs network</skipped></testcase>"
            )
            continue
        if rng.random() >= rate:
            cases.append(f"{head} />")
            continue
        cause = flaky_tests.get(key, rng.randrange(6))
        if rng.random() < 0.1:
            cause = rng.randrange(6)
        element, message, body = py_failure(rng, cause, module, name)
        counts["errors" if element == "error" else "failures"] += 1
        captured = (
            "<system-out>--------------------------------- Captured Log "
            "---------------------------------\n"
            f"DEBUG    app:worker.py:{rng.randint(10, 300)} handled job 0x{rng.getrandbits(32):x} "
            f"in {rng.randint(1, 900)}ms</system-out>"
        )
        cases.append(
            f"{head}><{element} message={quoteattr(message)}>{escape(body)}</{element}>"
            f"{captured}</testcase>"
        )
    return (
        '<?xml version="1.0" encoding="utf-8"?><testsuites><testsuite name="pytest" '
        f'errors="{counts["errors"]}" failures="{counts["failures"]}" '
        f'skipped="{counts["skipped"]}" tests="{len(tests)}" time="{rng.uniform(1, 30):.3f}" '
        f'timestamp="{ts}" hostname="ci-runner-{rng.randint(1, 40)}">'
        + "".join(cases)
        + "</testsuite></testsuites>"
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out_dir", metavar="OUT_DIR")
    parser.add_argument("--files", type=int, required=True, metavar="N")
    parser.add_argument("--seed", type=int, default=1, metavar="S")
    args = parser.parse_args()
    if args.files < 0:
        parser.error("--files must be >= 0")

    rng = random.Random(args.seed)
    # The usual suspects: a few tests that fail often, each mostly for one cause.
    flaky_rust = {t: i % 6 for i, t in enumerate(rng.sample(RUST_TESTS, 6))}
    flaky_py = {f"{m}.{n}": i % 6 for i, (m, n) in enumerate(rng.sample(PY_TESTS, 6))}

    when = datetime.datetime(2024, 1, 1, 0, 0, 0)
    written = 0
    while written < args.files:
        when += datetime.timedelta(minutes=rng.randint(7, 600), seconds=rng.randint(0, 59))
        rev = hexid(rng, 40) if rng.random() < 0.2 else hexid(rng, 7)
        rev_dir = f"{when.strftime('%Y-%m-%dT%H:%M:%S')}-{rev}"
        builders = rng.sample(BUILDERS, min(len(BUILDERS), rng.randint(3, 8)))
        for builder in sorted(builders):
            if written >= args.files:
                break
            ts = (when + datetime.timedelta(seconds=rng.randint(60, 3600))).isoformat() + "+00:00"
            if rng.random() < 0.5:
                xml = nextest_report(rng, flaky_rust, ts)
            else:
                xml = pytest_report(rng, flaky_py, ts)
            directory = os.path.join(args.out_dir, rev_dir, builder)
            os.makedirs(directory, exist_ok=True)
            with open(os.path.join(directory, "junit.xml"), "w", encoding="utf-8",
                      newline="\n") as f:
                f.write(xml)
            written += 1
    print(f"wrote {written} JUnit reports to {args.out_dir}", file=sys.stderr)


if __name__ == "__main__":
    main()
