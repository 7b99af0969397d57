#!/usr/bin/env bash
# Throughput and memory benchmark of `flakehunt run`, against baselines measured in the same run.
#
#  1. Spawn throughput: `flakehunt run -j JOBS -n RUNS -- /bin/true` against a plain C
#     posix_spawn loop at the same parallelism. Target: ratio <= 1.15.
#  2. Memory: peak RSS of flakehunt while every run prints 100 MiB. Target: < 32 MiB.
#
# Usage: bench/throughput.sh [RUNS] [JOBS] [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-20000}
jobs=${2:-2}
rounds=${3:-3}

cargo build --release --quiet -p flakehunt -p flakehunt-fixtures
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# The history store is part of the measured cost; keep it out of the repository.
export FLAKEHUNT_DB="$work/history.db"
cc -O2 -o "$work/spawn_loop" bench/spawn_loop.c
cc -O2 -o "$work/measure" bench/measure.c
flakehunt=target/release/flakehunt
fixture=target/release/fh-fixture
true_bin=$(command -v true)
case "$true_bin" in /*) ;; *) true_bin=/bin/true ;; esac

# Wall time of a command in seconds, and the peak RSS (KiB) of the command's own process.
measure() {
    "$work/measure" "$@"
}

echo "spawn throughput: $runs runs of $true_bin, $jobs in parallel, best of $rounds rounds"
best_raw=""
best_fh=""
for round in $(seq "$rounds"); do
    read -r raw _ < <(measure "$work/spawn_loop" "$jobs" "$runs" "$true_bin")
    read -r fh _ < <(measure "$flakehunt" run --quiet -j "$jobs" -n "$runs" --out "$work/out-$round" -- "$true_bin")
    printf '  round %d: raw posix_spawn loop %.3fs, flakehunt %.3fs\n' "$round" "$raw" "$fh"
    best_raw=$(python3 -c "print(min(float('$raw'), float('${best_raw:-inf}')))")
    best_fh=$(python3 -c "print(min(float('$fh'), float('${best_fh:-inf}')))")
done
python3 - "$best_raw" "$best_fh" "$runs" <<'PY'
import sys
raw, fh, runs = float(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3])
ratio = fh / raw
print(f"  raw loop   {runs / raw:8.0f} runs/s")
print(f"  flakehunt  {runs / fh:8.0f} runs/s")
print(f"  ratio flakehunt/raw = {ratio:.3f}  (target <= 1.15: {'ok' if ratio <= 1.15 else 'MISSED'})")
PY

echo
echo "memory: peak RSS of flakehunt while each of $jobs parallel runs prints 100 MiB"
read -r secs rss < <(measure "$flakehunt" run --quiet -j "$jobs" -n "$jobs" --out "$work/flood" -- "$fixture" flood:100M:both)
read -r _ base_rss < <(measure "$flakehunt" run --quiet -j 1 -n 1 --out "$work/idle" -- "$true_bin")
python3 - "$rss" "$base_rss" "$secs" "$jobs" <<'PY'
import sys
rss, base, secs, jobs = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
print(f"  baseline (one /bin/true run): {base / 1024:.1f} MiB")
print(f"  {jobs} x 100 MiB of output:      {rss / 1024:.1f} MiB peak, {jobs * 100 / secs:.0f} MiB/s captured")
print(f"  target < 32 MiB: {'ok' if rss / 1024 < 32 else 'MISSED'}")
PY
