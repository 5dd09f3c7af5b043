#!/usr/bin/env bash
# Builds the libFuzzer targets and runs each one for a while on a copy of
# its seed corpus, one fuzzer process at a time.
#
#   tests/fuzz/run.sh [seconds] [target ...]
#
# seconds: per target (default 30); targets: names from tests/fuzz (default
# all five). Environment: FUZZ_BUILD_DIR (default build-fuzz, configured
# with CC=clang on first use), FUZZ_ARGS (extra libFuzzer flags),
# FUZZ_TMPDIR (where the targets write their one scratch file per process:
# /dev/shm when it is writable, as the savers' fsync makes a disk-backed
# /tmp some 30 times slower; else $TMPDIR or /tmp).
#
# For each target it prints the executions, the coverage (cov: and ft: of
# libFuzzer's last status line) and whether it crashed; a crashing input
# is kept in <build dir>/fuzz-artifacts/<target>/ and replays with
#   <build dir>/tests/fuzz/<target> <that file>
# The last line is "N passed, M failed"; the exit status is 1 if a target
# crashed (a failure, a leak, a sanitizer report, a timeout or running out
# of memory).
set -u

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
seconds=${1:-30}
[ $# -gt 0 ] && shift
targets=("$@")
[ ${#targets[@]} -eq 0 ] &&
  targets=(fuzz_safetensors fuzz_npy fuzz_idx fuzz_csv fuzz_graph)
case $seconds in
'' | *[!0-9]*)
  echo "usage: $0 [seconds] [target ...]" >&2
  exit 2
  ;;
esac

cd "$root" || exit 2
build=${FUZZ_BUILD_DIR:-build-fuzz}
if [ ! -f "$build/build.ninja" ]; then
  CC=clang meson setup "$build" -Dfuzz=true -Dtests=false -Db_lundef=false \
    -Db_lto=false ||
    exit 2
else
  meson configure "$build" -Dfuzz=true >/dev/null || exit 2
fi
ninja -C "$build" "${targets[@]/#/tests/fuzz/}" >/dev/null || {
  echo "build failed (ninja -C $build)" >&2
  exit 2
}

# One BLAS thread: a fuzzer runs one small product at a time, and the
# machine stays usable. Every sanitizer report is fatal.
export OPENBLAS_NUM_THREADS=1
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

if [ -z "${FUZZ_TMPDIR:-}" ]; then
  if [ -d /dev/shm ] && [ -w /dev/shm ]; then
    FUZZ_TMPDIR=/dev/shm
  else
    FUZZ_TMPDIR=${TMPDIR:-/tmp}
  fi
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/tapegrad-fuzz.XXXXXX") || exit 2
trap 'rm -rf "$work"' EXIT
trap 'echo "interrupted"; exit 130' INT TERM
passed=0
failed=0
for t in "${targets[@]}"; do
  exe="$build/tests/fuzz/$t"
  artifacts="$build/fuzz-artifacts/$t"
  mkdir -p "$artifacts" "$work/$t"
  cp -R "$here/corpus/$t/." "$work/$t/"
  dict=()
  [ -f "$here/dict/$t.dict" ] && dict=("-dict=$here/dict/$t.dict")
  log="$work/$t.log"
  # shellcheck disable=SC2086
  TMPDIR=$FUZZ_TMPDIR "$exe" -max_total_time="$seconds" -timeout=30 \
    -print_final_stats=1 -artifact_prefix="$artifacts/" \
    ${dict[@]+"${dict[@]}"} ${FUZZ_ARGS:-} "$work/$t" >"$log" 2>&1
  rc=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  status=$(grep -E '^#[0-9]+.* cov: ' "$log" | tail -n 1)
  cov=$(echo "$status" | sed -n 's/.* cov: \([0-9]*\).*/\1/p')
  ft=$(echo "$status" | sed -n 's/.* ft: \([0-9]*\).*/\1/p')
  corp=$(echo "$status" | sed -n 's/.* corp: \([0-9]*\).*/\1/p')
  [ -z "$execs" ] && execs=$(echo "$status" | sed -n 's/^#\([0-9]*\).*/\1/p')
  line=$(printf '%-17s %10s execs  cov %5s  ft %6s  corpus %5s' "$t" \
    "${execs:-?}" "${cov:-?}" "${ft:-?}" "${corp:-?}")
  if [ $rc -eq 0 ]; then
    echo "$line  ok"
    passed=$((passed + 1))
  else
    what=$(grep -m 1 -E 'ERROR: (Address|Leak)Sanitizer|ERROR: libFuzzer|runtime error:|property violated' "$log")
    echo "$line  CRASHED (exit $rc)"
    echo "    ${what:-see the log}"
    sed -n 's/.*Test unit written to /    input: /p' "$log"
    cp "$log" "$artifacts/last.log"
    echo "    log: $artifacts/last.log"
    failed=$((failed + 1))
  fi
done
echo "$passed passed, $failed failed"
[ $failed -eq 0 ]
