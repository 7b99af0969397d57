#!/usr/bin/env bash
# Reruns per second of one trivial test through a test target, against the loop people write
# by hand, measured in the same run:
#
#  1. `flakehunt run --cargo-test NAME` against `for ...; do cargo test NAME; done`.
#  2. `flakehunt run --go-test PKG --go-run NAME` against `for ...; do go test -count=1 -run NAME; done`.
#
# Target: at least 20 times the reruns per second of the loop. Both sides run one test at a
# time (-j 1), so the ratio is the cost of the rebuild-and-relaunch the loop pays every time.
#
# Usage: bench/tests.sh [TARGET_RUNS] [LOOP_RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
target_runs=${1:-500}
loop_runs=${2:-20}

cargo build --release --quiet -p flakehunt
flakehunt=$PWD/target/release/flakehunt
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export FLAKEHUNT_DB="$work/history.db" FLAKEHUNT_CACHE_DIR="$work/cache"
export CARGO_TARGET_DIR="$work/target"

now() { python3 -c 'import time; print(time.monotonic())'; }
rate() { python3 -c "print(f'{$1 / ($3 - $2):.1f}')"; }
ratio() { python3 -c "print(f'{$1 / $2:.1f}')"; }

# A crate with one trivial test, built once before either side is timed.
mkdir -p "$work/rs/src"
printf '[package]\nname = "bench_trivial"\nversion = "0.1.0"\nedition = "2021"\n\n[workspace]\n' >"$work/rs/Cargo.toml"
printf '#[cfg(test)]\nmod tests {\n    #[test]\n    fn trivial() {\n        assert_eq!(1 + 1, 2);\n    }\n}\n' >"$work/rs/src/lib.rs"
(cd "$work/rs" && cargo test --quiet tests::trivial >/dev/null 2>&1)

echo "cargo: $loop_runs loop runs of \`cargo test tests::trivial\`, $target_runs runs of --cargo-test"
start=$(now)
for _ in $(seq "$loop_runs"); do (cd "$work/rs" && cargo test --quiet tests::trivial >/dev/null 2>&1); done
end=$(now)
loop_rate=$(rate "$loop_runs" "$start" "$end")
start=$(now)
(cd "$work/rs" && "$flakehunt" run --quiet -j 1 -n "$target_runs" --out "$work/out-rs" --no-history --cargo-test tests::trivial >/dev/null 2>&1)
end=$(now)
target_rate=$(rate "$target_runs" "$start" "$end")
echo "  loop:          $loop_rate reruns/s"
echo "  --cargo-test:  $target_rate reruns/s (build and listing included)"
echo "  ratio:         $(ratio "$target_rate" "$loop_rate")x (target >= 20x)"

if ! command -v go >/dev/null 2>&1; then
    echo "go: not installed, skipped"
    exit 0
fi
mkdir -p "$work/go"
printf 'module example.com/benchtrivial\n\ngo 1.18\n' >"$work/go/go.mod"
printf 'package trivial\n\nimport "testing"\n\nfunc TestTrivial(t *testing.T) {\n\tif 1+1 != 2 {\n\t\tt.Fatal("math")\n\t}\n}\n' >"$work/go/trivial_test.go"
(cd "$work/go" && go test -count=1 -run TestTrivial . >/dev/null 2>&1)

echo "go: $loop_runs loop runs of \`go test -count=1 -run TestTrivial\`, $target_runs runs of --go-test"
start=$(now)
for _ in $(seq "$loop_runs"); do (cd "$work/go" && go test -count=1 -run TestTrivial . >/dev/null 2>&1); done
end=$(now)
loop_rate=$(rate "$loop_runs" "$start" "$end")
start=$(now)
(cd "$work/go" && "$flakehunt" run --quiet -j 1 -n "$target_runs" --out "$work/out-go" --no-history --go-test . --go-run TestTrivial >/dev/null 2>&1)
end=$(now)
target_rate=$(rate "$target_runs" "$start" "$end")
echo "  loop:          $loop_rate reruns/s"
echo "  --go-test:     $target_rate reruns/s (build and listing included)"
echo "  ratio:         $(ratio "$target_rate" "$loop_rate")x (target >= 20x)"
