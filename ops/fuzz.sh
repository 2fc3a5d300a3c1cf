#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (ASan + UBSan) and runs each
# tests/fuzz/fuzz_<name>.c for ${PSY_FUZZ_SECONDS:-60} seconds, starting from
# its seed corpus tests/fuzz/corpus/<name>/ and its saved crashes
# tests/fuzz/regressions/<name>/. Fails on the first crash, leak, timeout
# or out-of-memory, and says where the input is: copy it into
# tests/fuzz/regressions/<name>/ so that the ordinary suite replays it
# (fuzz_replay_<name>) once it is fixed.
#
#   PSY_FUZZ_SECONDS  seconds per target (default 60)
#   PSY_FUZZ_BUILD    build folder (default build-fuzz)
#   PSY_FUZZ_TARGETS  names to run, space-separated (default: every target)
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${PSY_FUZZ_SECONDS:-60}
build=${PSY_FUZZ_BUILD:-build-fuzz}
command -v clang >/dev/null || { echo "fuzz.sh: clang is required" >&2; exit 1; }

if [ -n "${PSY_FUZZ_TARGETS:-}" ]; then
    read -r -a names <<<"$PSY_FUZZ_TARGETS"
else
    names=()
    for src in tests/fuzz/fuzz_*.c; do
        n=${src##*/fuzz_}
        names+=("${n%.c}")
    done
fi
targets=()
for n in "${names[@]}"; do targets+=("fuzz_$n"); done

echo "== fuzz build (clang, libFuzzer, ASan + UBSan) in $build"
CC=clang cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Debug -DPSY_FUZZ=ON -DPSY_SANITIZE=ON >/dev/null
cmake --build "$build" -j"$(nproc)" --target "${targets[@]}"

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:fast_unwind_on_malloc=0
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
export LSAN_OPTIONS=suppressions=$PWD/tests/lsan.supp
export TZ=UTC

for n in "${names[@]}"; do
    seed=tests/fuzz/corpus/$n
    [ -d "$seed" ] || { echo "fuzz.sh: no seed corpus $seed" >&2; exit 1; }
    # New inputs go to a scratch corpus, so the seed folder stays as committed.
    work=$build/fuzz-work/$n
    artifacts=$build/fuzz-artifacts/$n
    rm -rf "$work" "$artifacts"
    mkdir -p "$work" "$artifacts"
    dirs=("$work" "$seed")
    [ -d "tests/fuzz/regressions/$n" ] && dirs+=("tests/fuzz/regressions/$n")
    echo "== fuzz_$n for ${seconds}s"
    if ! "$build/tests/fuzz_$n" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 -artifact_prefix="$artifacts/" "${dirs[@]}" \
        >"$build/fuzz-$n.log" 2>&1; then
        tail -n 60 "$build/fuzz-$n.log" >&2
        echo "FAIL: fuzz_$n found a problem; inputs:" >&2
        ls -l "$artifacts" >&2
        echo "Copy each into tests/fuzz/regressions/$n/ and fix the cause." >&2
        exit 1
    fi
    grep -E '^(stat::number_of_executed_units|stat::peak_rss_mb)' "$build/fuzz-$n.log" || true
    echo "ok: fuzz_$n"
done
echo "fuzz: every target ran ${seconds}s without a finding"
