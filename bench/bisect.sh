#!/usr/bin/env bash
# Flake-aware bisection against naive bisection.
#
#  1. Simulation (`flakehunt bisect --simulate`): 64 commits, a random culprit, flake rates of
#     1% and 0.1%, with and without 2% background failures of another signature, TRIALS seeded
#     trials at confidence 0.99. Naive bisection reruns each step N times, with N tuned to the
#     same accuracy, once running every rerun and once stopping each step at its first failure.
#     Target: accuracy >= 99% and at most half the runs of naive bisection.
#  2. A real repository: REPOS generated git histories of 40 shell-script commits, one of which
#     introduces a 5% flake, with 2% failures of another kind everywhere and one commit that
#     does not build. `flakehunt bisect` runs until 99%; then `git bisect run` gets the same
#     number of runs, spread evenly over its steps. Both are scored on naming the culprit.
#  3. `git bisect run` tuned: N runs per step, doubled until it names as many culprits as
#     flakehunt bisect did, with a script where any failure is bad and with one that looks for
#     the flake's message; the ratio of the runs spent.
#
# Every ratio is flakehunt's runs over the baseline's, both measured in this run.
#
# Usage: bench/bisect.sh [TRIALS] [REPOS]
set -euo pipefail
cd "$(dirname "$0")/.."
trials=${1:-200}
repos=${2:-10}

cargo build --release --quiet -p flakehunt
flakehunt=$PWD/target/release/flakehunt
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

echo "== simulation: 64 commits, random culprit, confidence 0.99, $trials trials each"
printf '%-7s %-10s %-9s %9s %10s %9s %10s %9s %10s %9s %9s\n' \
    rate background rate-is accuracy "mean runs" "naive N" "naive runs" "early N" "early runs" "/ naive" "/ early"
for rate in 0.01 0.001; do
    for background in 0 0.02; do
        for known in given measured; do
            extra=()
            [ "$known" = measured ] && extra=(--unknown-rate)
            "$flakehunt" bisect --simulate --commits 64 --rate "$rate" --background "$background" \
                --trials "$trials" --json "${extra[@]}" >"$work/sim.json"
            python3 - "$rate" "$background" "$known" "$work/sim.json" <<'PY'
import json, sys
rate, background, known, path = sys.argv[1:]
result = json.load(open(path))
search = result["search"]
rows = {row["stop_early"]: row for row in result["naive"]}
full, early = rows.get(False), rows.get(True)
def cell(row, key):
    return "-" if row is None else f"{row['tally'][key]:,.0f}" if key == "mean_runs" else str(row[key])
ratio = lambda row: "-" if row is None else f"{search['mean_runs'] / row['tally']['mean_runs']:.2f}"
accuracy = search["correct"] / search["trials"]
print(f"{rate:<7} {background:<10} {known:<9} {accuracy:>8.1%} {search['mean_runs']:>10,.0f} "
      f"{cell(full, 'reruns'):>9} {cell(full, 'mean_runs'):>10} {cell(early, 'reruns'):>9} "
      f"{cell(early, 'mean_runs'):>10} {ratio(full):>9} {ratio(early):>9}")
PY
        done
    done
done
echo "(/ naive: flake-aware runs over naive bisection's runs when every step runs all its N reruns;"
echo " / early: when each step ends at its first failure. N is tuned on the same trials, with"
echo " hindsight, to the search's accuracy. Naive bisection is given flakehunt's signatures, so"
echo " background failures do not mislead it; the plain git bisect run below has no such help.)"

echo
echo "== $repos generated repositories: flakehunt bisect vs git bisect run with the same runs"
make_repo() { # DIR SEED CULPRIT BROKEN
    local dir=$1 seed=$2 culprit=$3 broken=$4 i
    git init -q "$dir"
    git -C "$dir" config user.email bench@example.com
    git -C "$dir" config user.name Bench
    cat >"$dir/build.sh" <<'B'
#!/bin/sh
if [ -f broken ]; then echo "syntax error"; exit 1; fi
cp version built
B
    cat >"$dir/test.sh" <<T
#!/bin/sh
[ -f built ] || exit 125
i=\$(cat built)
r=\$((FLAKEHUNT_RUN + FLAKEHUNT_COMMIT_RUNS + $seed * 1000003))
h=\$(( ((r * 2654435761 + i * 40503) ^ (r * 97)) % 10007 ))
if [ \$((h % 50)) -eq 7 ]; then echo "error: network unreachable"; exit 2; fi
if [ -f flaky ] && [ \$((h % 20)) -eq 3 ]; then echo "panic: lost update in cache"; exit 1; fi
echo ok
T
    chmod +x "$dir/build.sh" "$dir/test.sh"
    echo built >"$dir/.gitignore"
    echo 0 >"$dir/version"
    git -C "$dir" add -A && git -C "$dir" commit -qm initial
    for i in $(seq 1 40); do
        echo "$i" >"$dir/version"
        [ "$i" -eq "$culprit" ] && echo on >"$dir/flaky"
        if [ "$i" -eq "$broken" ]; then echo x >"$dir/broken"; else rm -f "$dir/broken"; fi
        git -C "$dir" add -A && git -C "$dir" commit -qm "change $i"
    done
}
# git_bisect DIR N MODE: `git bisect run` with up to N runs of test.sh per step, a step bad at
# its first failure (MODE any) or its first "lost update" (MODE grep); sets got_git.
git_bisect() {
    local dir=$1 n=$2 mode=$3
    cat >"$work/step.sh" <<S
#!/bin/sh
./build.sh >/dev/null 2>&1 || exit 125
n=0
while [ \$n -lt $n ]; do
    out=\$(FLAKEHUNT_RUN=\$n FLAKEHUNT_COMMIT_RUNS=0 ./test.sh 2>&1)
    status=\$?
    echo >>"$work/count"
    [ \$status -eq 125 ] && exit 125
    if [ $mode = any ]; then
        [ \$status -ne 0 ] && exit 1
    else
        case "\$out" in *"lost update"*) exit 1 ;; esac
    fi
    n=\$((n + 1))
done
exit 0
S
    chmod +x "$work/step.sh"
    (cd "$dir" && git bisect start HEAD HEAD~40 >/dev/null && git bisect run "$work/step.sh" >"$work/git.txt" 2>&1) || true
    got_git=$(sed -n 's/^\([0-9a-f]\{40\}\) is the first bad commit.*/\1/p' "$work/git.txt" | head -1)
    (cd "$dir" && git bisect reset >/dev/null 2>&1) || true
}
found_flakehunt=0
found_git=0
total_runs=0
wants=()
for trial in $(seq 1 "$repos"); do
    culprit=$((2 + (trial * 17) % 38))
    broken=$((1 + (trial * 7) % 40))
    [ "$broken" -eq "$culprit" ] || [ "$broken" -eq $((culprit - 1)) ] && broken=$((culprit + 2))
    dir="$work/repo-$trial"
    make_repo "$dir" "$trial" "$culprit" "$broken"
    want=$(git -C "$dir" rev-parse "HEAD~$((40 - culprit))")
    wants+=("$want")
    (cd "$dir" && "$flakehunt" --db "$work/history.db" bisect --good HEAD~40 --bad HEAD \
        --build ./build.sh --cache-dir "$work/cache" -j 2 --json -- ./test.sh) \
        >"$work/fh.json" 2>/dev/null || true
    read -r got runs < <(python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print(r.get("culprit") or "-", r["runs"])' "$work/fh.json")
    [ "$got" = "$want" ] && found_flakehunt=$((found_flakehunt + 1))
    total_runs=$((total_runs + runs))
    # git bisect run: the same runs spread over its ~6 steps; any failure is "bad".
    per_step=$(( (runs + 5) / 6 ))
    git_bisect "$dir" "$per_step" any
    [ "$got_git" = "$want" ] && found_git=$((found_git + 1))
    printf 'repo %2d: culprit %2d  flakehunt %s (%s runs)  git bisect run (%s runs/step) %s\n' \
        "$trial" "$culprit" "$([ "$got" = "$want" ] && echo found || echo missed)" "$runs" \
        "$per_step" "$([ "$got_git" = "$want" ] && echo found || echo missed)"
done
echo "flakehunt bisect found the culprit in $found_flakehunt of $repos; git bisect run with the same runs in $found_git of $repos (mean runs $((total_runs / repos)))"

echo
echo "== git bisect run tuned: N runs per step (stopping at the first failure), N doubled until it"
echo "   is as accurate as flakehunt bisect ($found_flakehunt of $repos); runs are every run of test.sh"
printf '%-28s %6s %8s %10s %22s\n' script N found runs "flakehunt runs / these"
for mode in any grep; do
    case $mode in
        any) label="any failure is bad" ;;
        grep) label="only 'lost update' is bad" ;;
    esac
    matched=no
    for n in 10 20 40 80 160 320 640 1280; do
        : >"$work/count"
        found=0
        for trial in $(seq 1 "$repos"); do
            git_bisect "$work/repo-$trial" "$n" "$mode"
            [ "$got_git" = "${wants[$((trial - 1))]}" ] && found=$((found + 1))
        done
        git_runs=$(wc -l <"$work/count")
        ratio=$(python3 -c "print(f'{$total_runs / max($git_runs, 1):.2f}')")
        printf '%-28s %6s %5s/%-2s %10s %22s\n' "$label" "$n" "$found" "$repos" "$git_runs" "$ratio"
        if [ "$found" -ge "$found_flakehunt" ]; then
            matched=yes
            break
        fi
    done
    [ "$matched" = yes ] || echo "$label: never as accurate as flakehunt bisect up to N=1280 per step"
done
echo "(any failure is bad: the 2% network failures at every commit make more reruns worse, not"
echo " better. grep: a script that knows the failure's message, as flakehunt's signatures do.)"
