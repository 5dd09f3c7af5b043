#!/usr/bin/env bash
# A rank that dies in the middle of a data-parallel fit must end the whole
# job with an error, not leave the other ranks waiting for ever.
#
# Usage: dist_crash.sh MPIEXEC PROGRAM [TIMEOUT_SECONDS]
#
# Runs PROGRAM (dist_crash) on 2 ranks twice, the last rank leaving once by
# exit(3) and once by abort(), each under `timeout`. A run passes when
# mpiexec itself ends the job with a non-zero status before the timeout.
set -uo pipefail

mpiexec=$1
program=$2
limit=${3:-60}
ulimit -c 0 # no core file from abort()

pass=0
fail=0
for mode in exit abort; do
  start=$(date +%s%N)
  timeout --kill-after=5 "$limit" "$mpiexec" -np 2 "$program" "$mode"
  rc=$?
  ms=$((($(date +%s%N) - start) / 1000000))
  secs="$((ms / 1000)).$(printf %03d $((ms % 1000)))"
  if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
    echo "dist_crash ($mode): FAIL: still running after ${limit} s (killed by timeout)"
    fail=$((fail + 1))
  elif [ "$rc" -eq 0 ]; then
    echo "dist_crash ($mode): FAIL: the job ended with status 0 after ${secs} s"
    fail=$((fail + 1))
  else
    echo "dist_crash ($mode): ok: the job ended with status $rc after ${secs} s"
    pass=$((pass + 1))
  fi
done
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
