#!/usr/bin/env bash
# Ingest and search benchmark of the history store.
#
#  1. Ingest FILES generated JUnit reports (fetchlogs layout) and report files/s.
#  2. Grow the store to SIGHTINGS failure sightings (large generated plain logs) and time
#     `flakehunt search` for a literal pattern (narrowed by the trigram index), a rare literal,
#     and a pattern with no literal (a scan of every sighting). Target: under 1 s at 1 million.
#
# Each search is compared with `grep -c` over the same generated logs, measured in the same run.
# Usage: bench/search.sh [FILES] [SIGHTINGS]
set -euo pipefail
cd "$(dirname "$0")/.."
files=${1:-10000}
sightings=${2:-1000000}

cargo build --release --quiet -p flakehunt
flakehunt=$PWD/target/release/flakehunt
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
db="$work/history.db"

seconds() { python3 -c 'import sys,time; print(f"{time.time():.6f}")'; }
elapsed() { python3 -c "print(f'{$2 - $1:.3f}')"; }

echo "== ingest: $files generated JUnit reports"
python3 bench/gen_ci_artifacts.py "$work/junit" --files "$files" --seed 7 >/dev/null
start=$(seconds)
"$flakehunt" --db "$db" ingest "$work/junit" >"$work/ingest.txt"
end=$(seconds)
took=$(elapsed "$start" "$end")
cat "$work/ingest.txt"
python3 -c "print(f'  {$files / $took:.0f} files/s ({$took}s)')"

echo
echo "== growing the store to $sightings sightings"
python3 - "$work/logs" "$sightings" <<'PY'
import os, random, sys
out, total = sys.argv[1], int(sys.argv[2])
random.seed(11)
causes = [
    "FAILURE: No signal received",
    "panic: runtime error: index out of range [{n}] with length {m}",
    "fatal error: concurrent map writes",
    "panic: test timed out after 10m0s",
    "assertion `left == right` failed: left: {n} right: {m}",
    "Error: connect ECONNREFUSED 127.0.0.1:{port}",
    "deadlock detected in worker {n} after {d}ms",
    "FAIL: expected {n} items, got {m}",
]
per_file = 5000
files = (total + per_file - 1) // per_file
written = 0
for f in range(files):
    day = 1 + f % 28
    month = 1 + (f // 28) % 12
    d = os.path.join(out, f"2025-{month:02d}-{day:02d}T03:16:11-{f:07x}", f"builder-{f % 13}")
    os.makedirs(d, exist_ok=True)
    lines = []
    for i in range(min(per_file, total - written)):
        template = random.choice(causes)
        cause = template.format(n=random.randint(0, 99), m=random.randint(100, 999),
                                             port=random.randint(1024, 65535), d=random.randint(1, 9999))
        lines.append(f"=== RUN   TestCase{i}")
        lines.append(f"--- FAIL: TestCase{i} ({random.random() * 9:.2f}s)")
        lines.append(f"    case_test.go:{100 + 7 * causes.index(template)}: {cause}")
        lines.append(f"        goroutine {random.randint(1, 5000)} [running]: 0x{random.getrandbits(48):x}")
    lines.append("FAIL")
    lines.append(f"FAIL\texample.com/pkg{f % 50}\t12.345s")
    written += min(per_file, total - written)
    with open(os.path.join(d, "log"), "w") as fh:
        fh.write("\n".join(lines) + "\n")
PY
start=$(seconds)
"$flakehunt" --db "$db" ingest "$work/logs" >"$work/ingest2.txt"
end=$(seconds)
cat "$work/ingest2.txt"
python3 -c "print(f'  {$sightings / ($end - $start):.0f} sightings/s')"
ls -l "$db" | awk '{printf "  database size: %.0f MiB\n", $5 / 1048576}'

echo
echo "== search latency over the store (best of 3; baseline: grep -rc over the raw logs)"
for pattern in "No signal received" "concurrent map writes" '(?i)deadlock detected in worker \d+'; do
    best=""
    for _ in 1 2 3; do
        start=$(seconds)
        "$flakehunt" --db "$db" search --json "$pattern" >"$work/out.json" || true
        end=$(seconds)
        t=$(elapsed "$start" "$end")
        best=$(python3 -c "print(min(float('$t'), float('${best:-inf}')))")
    done
    grep_pattern=$(python3 -c "import re,sys; print(sys.argv[1].replace('(?i)','').replace(r'\d+', '[0-9]+'))" "$pattern")
    start=$(seconds)
    grep -rciE "$grep_pattern" "$work/logs" >/dev/null || true
    end=$(seconds)
    g=$(elapsed "$start" "$end")
    python3 - "$work/out.json" "$pattern" "$best" "$g" <<'PY'
import json, sys
result = json.load(open(sys.argv[1]))
count = sum(g["count"] for g in result["groups"])
best, grep = float(sys.argv[3]), float(sys.argv[4])
index = "index" if result["used_index"] else "full scan"
ok = "ok" if best < 1.0 else "MISSED"
print(f"  {sys.argv[2]!r:42} {count:8d} matches in {len(result['groups'])} groups  {best:.3f}s ({index}; target < 1 s: {ok}); grep {grep:.3f}s, ratio {best / grep:.2f}")
PY
done
