#!/usr/bin/env bash
# Scale-out benchmark: one campaign split into K shards run as K local tasks at once (a
# simulated cluster: `run --shard k/K --export`, then `merge`), against the same campaign
# run by one flakehunt with the same total parallelism, measured in the same run. Reports runs
# per second of each and their ratio (sharding, bundling and merging cost); the merged
# campaign's counts must equal the single one's. With a Slurm cluster answering (`sinfo`), the
# same campaign is also dispatched as a K-task job array.
#
# Usage: bench/scale.sh [RUNS] [K] [JOBS_PER_TASK]
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-20000}
tasks=${2:-4}
jobs=${3:-1}

cargo build --release --quiet -p flakehunt -p flakehunt-fixtures
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export FLAKEHUNT_DB="$work/history.db"
flakehunt=$PWD/target/release/flakehunt
fixture=$PWD/target/release/fh-fixture
fails=fail-on:17,4711,12345
now() { python3 -c 'import time; print(time.monotonic())'; }

echo "campaign: $runs runs of fh-fixture $fails; $tasks tasks x -j $jobs against one -j $((tasks * jobs))"
start=$(now)
"$flakehunt" run --quiet --json -j $((tasks * jobs)) -n "$runs" --out "$work/single" \
    -- "$fixture" "$fails" >"$work/single.json" || [ $? -eq 1 ]
single=$(python3 -c "print($(now) - $start)")

start=$(now)
pids=()
for k in $(seq "$tasks"); do
    "$flakehunt" run --quiet --no-history -j "$jobs" -n "$runs" --shard "$k/$tasks" \
        --campaign-id bench-scale --out "$work/out-$k" --export "$work/shard-$k.fhb" \
        -- "$fixture" "$fails" >/dev/null &
    pids+=($!)
done
for pid in "${pids[@]}"; do wait "$pid" || [ $? -eq 1 ]; done
ran=$(python3 -c "print($(now) - $start)")
"$flakehunt" merge --json --out "$work/merged" "$work"/shard-*.fhb >"$work/merged.json" || [ $? -eq 1 ]
sharded=$(python3 -c "print($(now) - $start)")

python3 - "$work" "$runs" "$single" "$ran" "$sharded" <<'PY'
import json, sys
work, runs = sys.argv[1], int(sys.argv[2])
single, ran, sharded = map(float, sys.argv[3:6])
a = json.load(open(f"{work}/single.json"))
b = json.load(open(f"{work}/merged.json"))
keys = ["runs", "passes", "failures", "rate", "rate_upper_bound", "failures_by_kind"]
same = all(a[k] == b[k] for k in keys) and [
    (s["id"], s["count"], s["first_run"]) for s in a["signatures"]
] == [(s["id"], s["count"], s["first_run"]) for s in b["signatures"]]
print(f"  one machine      {runs / single:8.0f} runs/s  ({single:.2f}s)")
print(f"  shards, run      {runs / ran:8.0f} runs/s  ({ran:.2f}s)")
print(f"  shards + merge   {runs / sharded:8.0f} runs/s  ({sharded:.2f}s, merge {sharded - ran:.2f}s)")
print(f"  ratio sharded/single throughput = {single / sharded:.3f}")
print(f"  merged summary equals the single campaign's: {'yes' if same else 'NO'}")
sys.exit(0 if same else 1)
PY

if sinfo -h >/dev/null 2>&1; then
    per_task=$(( (runs + tasks - 1) / tasks ))
    echo "slurm: $tasks-task job array, $per_task runs per task"
    start=$(now)
    (cd "$work" && "$flakehunt" dispatch --engine slurm --tasks "$tasks" --runs-per-task "$per_task" \
        --cpus-per-task "$jobs" --shared-dir "$work/dispatch" --json -- "$fixture" "$fails" \
        >"$work/dispatch.json" 2>"$work/dispatch.err") || [ $? -eq 1 ]
    took=$(python3 -c "print($(now) - $start)")
    python3 - "$work" "$took" <<'PY'
import json, sys
work, took = sys.argv[1], float(sys.argv[2])
d = json.load(open(f"{work}/dispatch.json"))
print(f"  dispatched       {d['runs'] / took:8.0f} runs/s  ({took:.2f}s from submit to merged; {d['runs']} runs, {d['failures']} failures)")
PY
else
    echo "slurm: no cluster answers (sinfo); run .ci/slurm-up to compare a real job array"
fi
