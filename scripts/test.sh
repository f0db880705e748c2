#!/usr/bin/env bash
# The whole test suite, as CI runs it (.ci/run calls exactly this):
#   1. install missing Debian packages;
#   2. build with warnings as errors and run every test on the io_uring backend, then on the
#      fallback (epoll) backend;
#   3. build with ASan+UBSan and run every test again;
#   4. build the fuzz targets with clang + libFuzzer and run each, coverage-guided, for
#      REGATTA_FUZZ_SECONDS (default 10) on a temp copy of its seed corpus.
# The last line is the total: "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
JOBS=$(nproc)

./scripts/install-deps.sh || { echo "install-deps failed"; echo "0 passed, 1 failed"; exit 1; }

passed=0
failed=0
summary=()

# run_phase <name> <build dir> <env...>: ctest in a build dir, accumulating counts.
run_phase() {
  local name=$1 dir=$2
  shift 2
  echo "==== phase: $name ===="
  local log
  log=$(mktemp)
  env "$@" ctest --test-dir "$dir" --output-on-failure -j"$JOBS" --timeout 900 2>&1 | tee "$log"
  local total fail
  total=$(sed -n 's/.*tests passed, \([0-9]*\) tests failed out of \([0-9]*\).*/\2/p' "$log" | tail -1)
  fail=$(sed -n 's/.*tests passed, \([0-9]*\) tests failed out of \([0-9]*\).*/\1/p' "$log" | tail -1)
  if [ -z "$total" ]; then total=1; fail=1; fi
  passed=$((passed + total - fail))
  failed=$((failed + fail))
  summary+=("$name: $((total - fail)) passed, $fail failed")
  rm -f "$log"
}

# build <dir> [cmake -D options...]; BUILD_TARGET limits what is built (default: everything).
build() {
  local dir=$1
  shift
  cmake -S "$ROOT" -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >/dev/null &&
    cmake --build "$dir" -j"$JOBS" ${BUILD_TARGET:+--target "$BUILD_TARGET"}
}

if build build; then
  if ./build/tests/io_uring_probe 2>/dev/null; then
    run_phase "io_uring backend" build REGATTA_IO_BACKEND=uring
  else
    echo "io_uring is refused on this machine: the io_uring phase is skipped"
    summary+=("io_uring backend: skipped (io_uring_setup refused here)")
  fi
  run_phase "fallback (epoll) backend" build REGATTA_IO_BACKEND=epoll
else
  echo "build failed"
  failed=$((failed + 1))
  summary+=("release build: FAILED")
fi

if build build-asan -DREGATTA_SANITIZE=ON; then
  run_phase "ASan+UBSan" build-asan ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
else
  echo "ASan build failed"
  failed=$((failed + 1))
  summary+=("asan build: FAILED")
fi

# Coverage-guided fuzzing (the ctest fuzz.* tests above use a seeded mutation driver instead).
fuzz_seconds=${REGATTA_FUZZ_SECONDS:-10}
if CC=clang CXX=clang++ BUILD_TARGET=fuzzers build build-fuzz -DREGATTA_FUZZ=ON; then
  echo "==== phase: libFuzzer (${fuzz_seconds} s per target) ===="
  fpass=0
  ffail=0
  for bin in build-fuzz/tests/fuzz/fuzz_*; do
    [ -x "$bin" ] || continue
    name=$(basename "$bin")
    short=${name#fuzz_}
    corpus=$(mktemp -d)
    [ -d "tests/fuzz/corpus/$short" ] && cp -r "tests/fuzz/corpus/$short/." "$corpus/"
    if "$bin" -max_total_time="$fuzz_seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=0 \
         "$corpus" >"$corpus.log" 2>&1; then
      fpass=$((fpass + 1))
      echo "libFuzzer $short: $(grep -Eo 'Done [0-9]+ runs' "$corpus.log" | tail -1), no crash"
    else
      ffail=$((ffail + 1))
      echo "libFuzzer $short: FAILED"
      tail -40 "$corpus.log"
    fi
    rm -rf "$corpus" "$corpus.log"
  done
  passed=$((passed + fpass))
  failed=$((failed + ffail))
  summary+=("libFuzzer: $fpass passed, $ffail failed")
else
  echo "fuzz build failed"
  failed=$((failed + 1))
  summary+=("libFuzzer build: FAILED")
fi

echo
echo "==== summary ===="
for s in "${summary[@]}"; do echo "$s"; done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
