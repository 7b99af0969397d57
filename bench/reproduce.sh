#!/usr/bin/env bash
# Reproduction benchmark: runs and wall time to the first failure of each program of the racy
# corpus (fixtures/racy/*.c), with a plain rerun loop against flakehunt's perturbations.
#
# For each fixture and each of SEEDS independent attempts (every campaign draws its own seeds):
#   plain  flakehunt run -j 2 --max-failures 1 --duration BUDGET -n CAP -- ./prog
#   hunt   flakehunt hunt --budget BUDGET --failures 1 -- ./prog   (runs summed over its arms)
#   fixed  flakehunt run --shake 'pin=one-core,nice=19' (same stop rules as plain)
# An attempt that never fails within its budget counts as ">N runs": a speedup computed from it
# is a bound. Prints a table of medians per fixture and the median speedup over fixtures.
# Targets: hunt's median speedup in runs to first failure >= 10x, and no fixture's median wall
# time to first failure with hunt more than 2x plain's.
#
# Usage: bench/reproduce.sh [SEEDS] [BUDGET] [CAP]   (defaults: 5 60s 200000)
# Until `flakehunt hunt` exists, the hunt column is skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
seeds=${1:-5}
budget=${2:-60s}
cap=${3:-200000}

command -v cc >/dev/null 2>&1 || { echo "reproduce.sh: a C compiler (cc) is required" >&2; exit 2; }
command -v python3 >/dev/null 2>&1 || { echo "reproduce.sh: python3 is required" >&2; exit 2; }
cargo build --release --quiet -p flakehunt
flakehunt="${CARGO_TARGET_DIR:-target}/release/flakehunt"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for source in fixtures/racy/*.c; do
    name=$(basename "$source" .c)
    cc -std=c11 -O1 -pthread -o "$work/$name" "$source"
done

python3 - "$flakehunt" "$work" "$seeds" "$budget" "$cap" <<'PY'
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time

flakehunt, work, seeds, budget, cap = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5]
fixtures = sorted(
    n for n in os.listdir(work) if os.path.isfile(os.path.join(work, n)) and os.access(os.path.join(work, n), os.X_OK)
)
FIXED = "pin=one-core,nice=19"
stops = ["--json", "--no-history"]
plain_stops = ["--quiet", "-j", "2", "--max-failures", "1", "--duration", budget, "-n", cap]


def busy_seconds():
    """CPU time every process on the machine has used so far, in seconds."""
    with open("/proc/stat") as stat:
        fields = [int(f) for f in stat.readline().split()[1:]]
    return (sum(fields) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")


def our_seconds():
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def wait_until_quiet(limit=120):
    """Wait (at most `limit` seconds) for a second in which other processes used < 4% of a CPU."""
    for _ in range(limit):
        before = busy_seconds()
        time.sleep(1)
        if busy_seconds() - before < 0.04:
            return


def campaign(args):
    """Run flakehunt; returns (found, runs, elapsed_s, arm, foreign_cpu_s) or a string
    explaining a skip. Other processes' CPU use would perturb the runs like a load generator,
    so each attempt starts on a quiet machine, and the CPU time they took anyway is returned."""
    wait_until_quiet()
    busy_before, ours_before, started = busy_seconds(), our_seconds(), time.monotonic()
    with tempfile.TemporaryDirectory(dir=work, prefix="out-") as out:
        command = [flakehunt] + args[:1] + stops + ["--out", os.path.join(out, "o")] + args[1:]
        done = subprocess.run(command, capture_output=True, text=True)
    foreign = max(0.0, (busy_seconds() - busy_before) - (our_seconds() - ours_before))
    disturbed = foreign / max(time.monotonic() - started, 1.0) > 0.05
    if done.returncode == 2:
        if "unrecognized subcommand" in done.stderr:
            return "unknown subcommand"
        sys.exit(f"flakehunt failed: {' '.join(command)}\n{done.stderr}")
    summary = json.loads(done.stdout)
    if "arms" in summary:
        found = [arm["shake"] for arm in summary["arms"] if arm["failures"] > 0]
        return bool(found), summary["runs"], summary["elapsed_s"], (found[0] if found else "-"), disturbed
    return summary["failures"] > 0, summary["runs"], summary["elapsed_s"], "", disturbed


methods = {
    "plain": lambda prog: ["run"] + plain_stops + ["--", prog],
    "hunt": lambda prog: ["hunt", "--budget", budget, "--failures", "1", "--", prog],
    "fixed": lambda prog: ["run", "--shake", FIXED] + plain_stops + ["--", prog],
}
skipped = set()
noisy = 0
results = {name: {method: [] for method in methods} for name in fixtures}
for name in fixtures:
    prog = os.path.join(work, name)
    for seed in range(seeds):
        for method, args in methods.items():
            if method in skipped:
                continue
            result = campaign(args(prog))
            if isinstance(result, str):
                print(f"  {method}: {result}; skipped", file=sys.stderr)
                skipped.add(method)
                continue
            results[name][method].append(result)
            found, runs, elapsed, arm, disturbed = result
            noisy += disturbed
            print(
                f"  {name:<22} attempt {seed + 1}  {method:<5}  "
                f"{'' if found else '>'}{runs} runs  {elapsed:.1f}s  {arm}"
                f"{'  (other processes were busy)' if disturbed else ''}",
                file=sys.stderr,
            )


def median(attempts, index):
    """Median of field `index` over attempts, and whether it is only a lower bound."""
    ordered = sorted(attempts, key=lambda a: (a[index], not a[0]))
    middle = ordered[(len(ordered) - 1) // 2 : len(ordered) // 2 + 1]
    value = statistics.mean(a[index] for a in middle)
    return value, any(not a[0] for a in middle)


def show(value, bound, unit=""):
    """A median as text: runs as a whole number, seconds with one decimal; '>' marks a bound."""
    text = f"{value:.0f}" if unit == "" else f"{value:.1f}{unit}"
    return (">" if bound else "") + text


def ratio(base, base_bound, other, other_bound):
    """base/other with its kind: '=' exact, '>' lower bound, '<' upper bound, '?' unknown."""
    if other_bound and base_bound:
        return None, "?"
    value = base / max(other, 1e-9)
    return value, ">" if base_bound else "<" if other_bound else "="


print()
header = f"{'fixture':<22} {'plain runs':>11} {'wall':>7}"
active = [m for m in ("hunt", "fixed") if m not in skipped]
for method in active:
    label = "hunt" if method == "hunt" else FIXED
    header += f"  {label + ' runs':>{max(11, len(label) + 5)}} {'wall':>7} {'speedup':>8} {'wall x':>7}"
print(header)
speedups = {m: [] for m in active}
wall_ratios = {m: [] for m in active}
best_arms = {}
for name in fixtures:
    plain = results[name]["plain"]
    p_runs, p_bound = median(plain, 1)
    p_wall, p_wall_bound = median(plain, 2)
    line = f"{name:<22} {show(p_runs, p_bound):>11} {show(p_wall, p_wall_bound, 's'):>7}"
    for method in active:
        label = "hunt" if method == "hunt" else FIXED
        attempts = results[name][method]
        m_runs, m_bound = median(attempts, 1)
        m_wall, m_wall_bound = median(attempts, 2)
        speedup, kind = ratio(p_runs, p_bound, m_runs, m_bound)
        wall, wall_kind = ratio(m_wall, m_wall_bound, p_wall, p_wall_bound)
        speedups[method].append((speedup, kind))
        wall_ratios[method].append((wall, wall_kind))
        s_text = "?" if speedup is None else f"{'' if kind == '=' else kind}{speedup:.1f}x"
        w_text = "?" if wall is None else f"{'' if wall_kind == '=' else wall_kind}{wall:.2f}x"
        line += (
            f"  {show(m_runs, m_bound):>{max(11, len(label) + 5)}} {show(m_wall, m_wall_bound, 's'):>7}"
            f" {s_text:>8} {w_text:>7}"
        )
        if method == "hunt":
            arms = [a[3] for a in attempts if a[0]]
            best_arms[name] = max(set(arms), key=arms.count) if arms else "-"
    print(line)
if best_arms:
    print()
    for name in fixtures:
        print(f"  {name:<22} hunt found it with: {best_arms[name]}")
print()
for method in active:
    label = "hunt" if method == "hunt" else f"--shake {FIXED}"
    known = [value for value, kind in speedups[method] if value is not None]
    if not known:
        print(f"{label}: no speedup measurable (neither side failed)")
        continue
    med = statistics.median(known)
    bounds = sum(1 for _, kind in speedups[method] if kind != "=")
    note = f" ({bounds} of {len(known)} fixtures are bounds)" if bounds else ""
    # The targets are hunt's; a single fixed perturbation is shown for comparison.
    target = lambda ok, text: f"  (target {text}: {'ok' if ok else 'MISSED'})" if method == "hunt" else ""
    print(f"{label}: median speedup in runs to first failure {med:.1f}x{note}{target(med >= 10, '>= 10x')}")
    walls = [(value, name) for (value, kind), name in zip(wall_ratios[method], fixtures) if value is not None]
    if walls:
        worst, worst_name = max(walls)
        print(
            f"{label}: worst wall time to first failure vs plain {worst:.2f}x ({worst_name})"
            f"{target(worst <= 2, '<= 2x')}"
        )
if noisy:
    print(f"note: other processes loaded the machine during {noisy} attempts; rerun on a quiet machine")
if "hunt" in skipped:
    print("hunt: skipped (this flakehunt has no `hunt` subcommand)")
PY
