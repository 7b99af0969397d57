#!/usr/bin/env bash
# Throughput of `flakehunt hunt` against `flakehunt run`, measured in the same run: both spend
# the same wall time on programs that never fail (`/bin/true`, `fh-fixture exit:0`), so every
# arm's runs count, and print runs per second and their ratio.
#
#   run        flakehunt run -j JOBS --duration DUR -- PROG
#   hunt       flakehunt hunt -j JOBS --budget DUR -- PROG            (default arms)
#   hunt plain flakehunt hunt -j JOBS --budget DUR --arms plain -- PROG (the steering alone)
#
# With nothing failing, the bandit keeps at least 90% of the time on plain (exploration has to
# pay for itself), so hunt's runs per second should stay within the share its slower arms cost.
# Runs per second are over each command's whole wall time, start to exit, as a user waits for
# it: setup (detecting the runtime, loading the noise library, the guard) counts for both.
# Target: hunt / run >= 0.8.
#
# Usage: bench/hunt_throughput.sh [--quick] [DURATION] [JOBS] [ROUNDS]   (defaults: 20s 2 3;
#   --quick: 5s 2 2, about a minute)
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${1:-}" = "--quick" ]; then
    shift
    duration=${1:-5s}
    rounds=${3:-2}
else
    duration=${1:-20s}
    rounds=${3:-3}
fi
jobs=${2:-2}

cargo build --release --quiet -p flakehunt -p flakehunt-fixtures
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export FLAKEHUNT_DB="$work/history.db"
flakehunt=target/release/flakehunt
true_bin=$(command -v true)
case "$true_bin" in /*) ;; *) true_bin=/bin/true ;; esac

python3 - "$flakehunt" "$work" "$duration" "$jobs" "$rounds" "$true_bin" target/release/fh-fixture <<'PY'
import json
import statistics
import subprocess
import sys
import time

flakehunt, work, duration, jobs, rounds, true_bin, fixture = sys.argv[1:]
programs = {"/bin/true": [true_bin], "fh-fixture exit:0": [fixture, "exit:0"]}
counter = 0


def rate(args):
    """Runs per second of one flakehunt command that prints JSON."""
    global counter
    counter += 1
    command = [flakehunt] + args[:1] + ["--json", "--out", f"{work}/out-{counter}"] + args[1:]
    started = time.monotonic()
    done = subprocess.run(command, capture_output=True, text=True)
    wall = time.monotonic() - started
    if done.returncode not in (0, 1):
        sys.exit(f"flakehunt failed: {' '.join(command)}\n{done.stderr}")
    result = json.loads(done.stdout)
    return result["runs"] / wall


ok = True
for name, program in programs.items():
    methods = {
        "run": ["run", "--quiet", "-j", jobs, "--duration", duration, "--"] + program,
        "hunt": ["hunt", "--quiet", "-j", jobs, "--budget", duration, "--"] + program,
        "hunt plain": ["hunt", "--quiet", "-j", jobs, "--budget", duration, "--arms", "plain", "--"]
        + program,
    }
    rates = {method: [] for method in methods}
    for round in range(int(rounds)):
        for method, args in methods.items():
            rates[method].append(rate(args))
        print(
            f"  {name}: round {round + 1}: "
            + ", ".join(f"{m} {r[-1]:.0f} runs/s" for m, r in rates.items()),
            file=sys.stderr,
        )
    medians = {method: statistics.median(values) for method, values in rates.items()}
    # Each round's methods ran back to back, so a round's ratio shares its machine's load: the
    # median of those ratios is steadier on a busy machine than a ratio of medians.
    ratios = {
        method: statistics.median(v / r for v, r in zip(values, rates["run"]))
        for method, values in rates.items()
    }
    print(f"{name} ({duration} each, -j {jobs}, median of {rounds} rounds)")
    for method, value in medians.items():
        print(f"  {method:<11} {value:8.0f} runs/s  ({ratios[method]:.2f} of run, median of round ratios)")
    ratio = ratios["hunt"]
    ok &= ratio >= 0.8
    print(f"  hunt / run = {ratio:.2f}  (target >= 0.8: {'ok' if ratio >= 0.8 else 'MISSED'})")
sys.exit(0 if ok else 1)
PY
