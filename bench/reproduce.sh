#!/usr/bin/env bash
# Reproduction benchmark: wall time to K failures with `flakehunt hunt` against a plain rerun
# loop with the same budget, on races nobody wrote for flakehunt's perturbations: the racy
# corpus (fixtures/racy/*.c), the runtime fixtures (fixtures/runtimes: a sleep used instead of
# a join, a Go goroutine-start race, a Python thread-start race) and fh-futex-race (a Rust
# std::sync race).
#
# For each fixture and each of SEEDS independent attempts:
#   plain  flakehunt run -j 2 --max-failures K --duration BUDGET -- PROG
#   hunt   flakehunt hunt -j 2 --failures K --budget BUDGET -- PROG   (default arms)
# Wall time to K failures is the campaign's elapsed time for plain and the hunt's search time
# (until one arm had K failures; the confirmation after it is not counted) for hunt. An attempt
# that did not get there within the budget counts as ">BUDGET", so a ratio computed from it is
# a bound. Runs per failure are shown beside (plain: its runs over its failures; hunt: every
# run of the search, on every arm, over K).
#
# Prints per fixture the medians and the ratio plain time / hunt time (above 1: hunt was
# faster) with a 95% bootstrap interval (times to K vary a lot: a miss whose interval reaches
# the target may be chance), then the median ratio over all fixtures and over those whose plain failure rate is
# rarer than 1 in 1,000. Targets: no fixture below 0.8; a median of at least 5 on the rare ones.
#
# Fixtures that reproduce within seconds get up to 15 attempts, so their medians mean something.
#
# Usage: bench/reproduce.sh [--quick] [SEEDS] [BUDGET] [K]   (defaults: 3 40s 3)
#   FIXTURES=a,b (names as printed, e.g. fh-futex-race,thread_start_race.py) measures only those.
#   --quick: defaults 2 15s 3, at most max(SEEDS, 4) attempts and no more than 2 s of waiting
#   for a quiet machine (a first look in about 10 minutes; the full run takes about an hour).
set -euo pipefail
cd "$(dirname "$0")/.."
quick=0
if [ "${1:-}" = "--quick" ]; then
    quick=1
    shift
fi
if [ "$quick" = 1 ]; then
    seeds=${1:-2}
    budget=${2:-15s}
else
    seeds=${1:-3}
    budget=${2:-40s}
fi
failures=${3:-3}

command -v cc >/dev/null 2>&1 || { echo "reproduce.sh: a C compiler (cc) is required" >&2; exit 2; }
command -v python3 >/dev/null 2>&1 || { echo "reproduce.sh: python3 is required" >&2; exit 2; }
cargo build --release --quiet -p flakehunt -p flakehunt-fixtures
flakehunt="${CARGO_TARGET_DIR:-target}/release/flakehunt"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/bin"
for source in fixtures/racy/*.c fixtures/runtimes/sleep_join.c; do
    name=$(basename "$source" .c)
    cc -std=gnu11 -O1 -pthread -o "$work/bin/$name" "$source"
done
if command -v go >/dev/null 2>&1; then
    (cd "$work" && GOCACHE="$work/go-cache" GOPATH="$work/go-path" \
        go build -o "$work/bin/go_start_race" "$OLDPWD/fixtures/runtimes/go_start_race.go")
else
    echo "reproduce.sh: go not found; go_start_race skipped" >&2
fi
cp fixtures/runtimes/thread_start_race.py "$work/bin/thread_start_race.py"
cp "${CARGO_TARGET_DIR:-target}/release/fh-futex-race" "$work/bin/fh-futex-race"

python3 - "$flakehunt" "$work" "$seeds" "$budget" "$failures" "$quick" <<'PY'
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time

flakehunt, work, seeds, budget, failures = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], int(sys.argv[5])
quick = sys.argv[6] == "1"
bin_dir = os.path.join(work, "bin")
fixtures = sorted(os.listdir(bin_dir))
if os.environ.get("FIXTURES"):
    wanted = [name.strip() for name in os.environ["FIXTURES"].split(",") if name.strip()]
    unknown = [name for name in wanted if name not in fixtures]
    if unknown:
        sys.exit(f"reproduce.sh: no fixture {', '.join(unknown)}; there are {', '.join(fixtures)}")
    fixtures = wanted


def seconds_of(text):
    """`40s`, `2m`, `1h` or `90` (seconds) in seconds."""
    for unit, scale in (("ms", 1e-3), ("s", 1.0), ("m", 60.0), ("h", 3600.0)):
        if text.endswith(unit) and text[: -len(unit)].replace(".", "", 1).isdigit():
            return float(text[: -len(unit)]) * scale
    if text.replace(".", "", 1).isdigit():
        return float(text)
    sys.exit(f"reproduce.sh: budget '{text}' is not like 40s, 2m or 1h")


budget_s = seconds_of(budget)


def busy_seconds():
    """CPU time every process on the machine has used so far, in seconds."""
    with open("/proc/stat") as stat:
        fields = [int(f) for f in stat.readline().split()[1:]]
    return (sum(fields) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")


def wait_until_quiet(limit=10):
    """Wait (at most `limit` seconds) for a second in which other processes used < 10% of a CPU."""
    for _ in range(limit):
        before = busy_seconds()
        time.sleep(1)
        if busy_seconds() - before < 0.1:
            return True
    return False


def attempt(method, prog):
    """One campaign: (reached K, seconds to K or the budget, runs, failures, winning arm,
    quiet machine before it)."""
    quiet = wait_until_quiet(2 if quick else 10)
    with tempfile.TemporaryDirectory(dir=work, prefix="out-") as out:
        common = ["--json", "--no-history", "-j", "2", "--out", os.path.join(out, "o")]
        if method == "plain":
            args = ["run", "--quiet", "--max-failures", str(failures), "--duration", budget]
        else:
            args = ["hunt", "--quiet", "--failures", str(failures), "--budget", budget]
        command = [flakehunt] + args + common + ["--", prog]
        done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode not in (0, 1):
        sys.exit(f"flakehunt failed: {' '.join(command)}\n{done.stderr}")
    result = json.loads(done.stdout)
    if method == "plain":
        reached = result["failures"] >= failures
        return reached, result["elapsed_s"], result["runs"], result["failures"], "", quiet
    search = result.get("search")
    if search:
        return True, search["time_s"], search["runs"], failures, result["winner"], quiet
    found = sum(arm["failures"] for arm in result["arms"])
    return False, result["elapsed_s"], result["runs"], found, "-", quiet


# Times to K failures vary a lot (a gamma distribution for a steady rate): fixtures that
# reproduce within seconds get more attempts, up to MAX_ATTEMPTS or FIXTURE_TIME of campaigns.
MAX_ATTEMPTS = max(seeds, 4 if quick else 15)
FIXTURE_TIME = 10.0 if quick else 30.0
results = {name: {"plain": [], "hunt": []} for name in fixtures}
noisy = 0
for name in fixtures:
    prog = os.path.join(bin_dir, name)
    spent = 0.0
    for seed in range(MAX_ATTEMPTS):
        if seed >= seeds and spent > FIXTURE_TIME:
            break
        for method in ("plain", "hunt"):
            result = attempt(method, prog)
            results[name][method].append(result)
            reached, seconds, runs, found, arm, quiet = result
            spent += seconds
            noisy += not quiet
            print(
                f"  {name:<22} attempt {seed + 1}  {method:<5} {'' if reached else '>'}{seconds:6.1f}s"
                f"  {runs:>7} runs  {found} failures  {arm}{'' if quiet else '  (machine busy)'}",
                file=sys.stderr,
            )


def median_time(attempts):
    """Median time to K over attempts, and whether it is only a lower bound."""
    ordered = sorted(attempts, key=lambda a: (a[1] if a[0] else float("inf")))
    middle = ordered[(len(ordered) - 1) // 2 : len(ordered) // 2 + 1]
    bound = any(not a[0] for a in middle)
    value = statistics.mean(a[1] if a[0] else budget_s for a in middle)
    return value, bound


def ratio_interval(plain, hunt, resamples=2000):
    """95% bootstrap interval of plain's median time over hunt's, attempts resampled within
    each method (unreached attempts count as the budget); None with fewer than 3 of either."""
    if len(plain) < 3 or len(hunt) < 3:
        return None
    draw = random.Random(1)
    ratios = []
    for _ in range(resamples):
        p_time, _ = median_time([draw.choice(plain) for _ in plain])
        h_time, _ = median_time([draw.choice(hunt) for _ in hunt])
        ratios.append(p_time / max(h_time, 1e-3))
    ratios.sort()
    return ratios[int(0.025 * resamples)], ratios[int(0.975 * resamples) - 1]


def runs_per_failure(attempts, method):
    runs = sum(a[2] for a in attempts)
    found = sum(a[3] for a in attempts)
    return runs / found if found else None, runs


def text(value, bound):
    return (">" if bound else "") + f"{value:.1f}s"


print()
print(f"wall time to {failures} failures, budget {budget}, median of at least {seeds} attempts, -j 2")
print(f"{'fixture':<22} {'tries':>5} {'plain rate':>11} {'plain':>7} {'runs/fail':>10} {'hunt':>7} {'runs/fail':>10} {'hunt x':>7} {'95% (bootstrap)':>15}  hunt's winner")
ratios = []
for name in fixtures:
    plain, hunt = results[name]["plain"], results[name]["hunt"]
    p_time, p_bound = median_time(plain)
    h_time, h_bound = median_time(hunt)
    p_rpf, p_runs = runs_per_failure(plain, "plain")
    h_rpf, _ = runs_per_failure(hunt, "hunt")
    p_found = sum(a[3] for a in plain)
    rate = p_found / p_runs if p_runs else 0.0
    if p_bound and h_bound:
        ratio, kind = None, "?"
    else:
        ratio = p_time / max(h_time, 1e-3)
        kind = ">" if p_bound else "<" if h_bound else "="
    interval = ratio_interval(plain, hunt)
    ratios.append((name, ratio, kind, rate, interval))
    arms = [a[4] for a in hunt if a[0]]
    winner = max(set(arms), key=arms.count) if arms else "-"
    rate_text = f"1/{1 / rate:,.0f}" if rate > 0 else f"<1/{p_runs:,}"
    ratio_text = "?" if ratio is None else f"{'' if kind == '=' else kind}{ratio:.2f}"
    rpf = lambda v: "-" if v is None else f"{v:,.0f}"
    interval_text = "-" if interval is None else f"{interval[0]:.2f}..{interval[1]:.2f}"
    print(
        f"{name:<22} {len(plain):>5} {rate_text:>11} {text(p_time, p_bound):>7} {rpf(p_rpf):>10} "
        f"{text(h_time, h_bound):>7} {rpf(h_rpf):>10} {ratio_text:>7} {interval_text:>15}  {winner}"
    )


def summary(label, rows):
    known = [r for r in rows if r[1] is not None]
    if not known:
        print(f"{label}: no ratio measurable")
        return None
    med = statistics.median(r[1] for r in known)
    bounds = sum(1 for r in known if r[2] != "=")
    note = f" ({bounds} of {len(known)} are bounds)" if bounds else ""
    print(f"{label}: median hunt x {med:.2f} over {len(known)} fixtures{note}")
    return med


print()
overall = summary("all fixtures", ratios)
worst = [r for r in ratios if r[1] is not None and r[2] != ">" and r[1] < 0.8]
# A miss whose interval still reaches 0.8 may be chance: say so rather than hide it.
def miss_text(row):
    name, value, _, _, interval = row
    chance = interval is not None and interval[1] >= 0.8
    return f"{name} ({value:.2f}{', interval reaches 0.8' if chance else ''})"


print(
    f"fixtures where hunt took longer than 1/0.8 of plain's time: "
    f"{', '.join(miss_text(r) for r in worst) or 'none'}"
    f"  (target: none: {'ok' if not worst else 'MISSED'})"
)
rare = [r for r in ratios if r[3] < 1e-3]
med = summary("fixtures rarer than 1 in 1,000 plain", rare)
if med is not None:
    print(f"  (target >= 5: {'ok' if med >= 5 else 'MISSED'})")
if noisy:
    print(f"note: the machine was busy before {noisy} attempts; timings are noisier than on a quiet machine")
PY
