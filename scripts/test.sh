#!/usr/bin/env bash
# The README's second command: install what is missing, build with AddressSanitizer and
# UndefinedBehaviorSanitizer, run every test (ctest) and the linters, run the data plane's tests
# again under ThreadSanitizer, then build the libFuzzer targets with clang and run each for a
# bounded time.
#   FUZZ_SECONDS=30 scripts/test.sh     (default 30; 0 skips the fuzz run but still builds)
set -euo pipefail
cd "$(dirname "$0")/.."
fuzz_seconds="${FUZZ_SECONDS:-30}"
# Elapsed time per phase, so the suite's budget (about 20 minutes on 2 cores) can be watched.
phase() { echo "== ${SECONDS}s: $*"; }
# A clone in another directory reuses the compiler cache: paths under the source tree are hashed
# relative to it.
export CCACHE_BASEDIR="$PWD" CCACHE_NOHASHDIR=1

scripts/setup.sh --test
if [[ ! -d ../shared/reference/iter8 ]]; then
  echo "note: ../shared/reference is absent; the compatibility tests will fail and say so" >&2
fi

phase "build (debug, ASan/UBSan)"
cmake --preset debug >/dev/null
cmake --build --preset debug
phase "ctest"
ctest --preset debug -j "$(nproc)"
phase "lint"
scripts/lint.sh

# The data plane's concurrency (workers, snapshot publication under load, statistics read while
# written) under ThreadSanitizer.
phase "ThreadSanitizer build and tests"
cmake --preset tsan >/dev/null
cmake --build --preset tsan --target proxy_test dataplane_test
TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1" build/tsan/src/proxy/proxy_test
TSAN_OPTIONS="halt_on_error=1" build/tsan/test/dataplane_test

phase "fuzzers"
cmake --preset fuzz >/dev/null
cmake --build --preset fuzz --target fuzzers
if ((fuzz_seconds > 0)); then
  for fuzzer in build/fuzz/test/fuzz/*_fuzz_test; do
    name=$(basename "$fuzzer" _fuzz_test)
    corpus="test/fuzz/corpus/$name"
    work=$(mktemp -d)
    echo "fuzzing $name for ${fuzz_seconds}s"
    # -entropic=0: the entropic scheduler spent 80 % of the time on bookkeeping here (measured).
    "$fuzzer" -entropic=0 -max_total_time="$fuzz_seconds" -max_len=4096 -timeout=10 -rss_limit_mb=2048 \
      -artifact_prefix="$work/" -print_final_stats=1 "$work" "$corpus" 2>"$work/log" || {
      tail -50 "$work/log"
      echo "fuzzer $name failed; reproducer(s): $(ls "$work"/crash-* "$work"/timeout-* \
        "$work"/leak-* "$work"/oom-* 2>/dev/null)" >&2
      exit 1
    }
    grep -E "stat::number_of_executed_units|Done" "$work/log" | tail -2
    rm -rf "$work"
  done
fi
phase "done"
echo "all tests passed"
