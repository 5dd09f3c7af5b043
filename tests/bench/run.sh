#!/usr/bin/env bash
# Runs every benchmark of BENCHMARKS.md (the bench_w* binaries of a build)
# at 1 and 2 threads, several times each, and prints a plain-text table.
#
#   tests/bench/run.sh [-b BUILD_DIR] [-r N] [-t "1 2"] [-w "W1 W2 ..."]
#                      [-c CORETYPE] [-o FILE]
#
#   -b  build directory (default: build, beside this repository's sources)
#   -r  repetitions: processes per benchmark and thread count (default 3)
#   -t  thread counts (default "1 2"); each run gets TG_THREADS and
#       OPENBLAS_NUM_THREADS set to it
#   -w  only these workloads (default: W1 to W9)
#   -c  set OPENBLAS_CORETYPE for every run (e.g. SkylakeX). Without it,
#       OpenBLAS detects the processor, and tapegrad replaces a fallback to
#       the generic "Prescott" kernels by the matching ones (unless
#       TAPEGRAD_BLAS_CORE=keep): see docs/performance.md
#   -o  also write every JSON line, prefixed with its repetition, to FILE
#
# Repetitions are interleaved (rep 1 of every benchmark, then rep 2, ...)
# so that a change in the machine's load spreads over all of them. Each
# benchmark process prints one JSON line per variant; its stderr goes to a
# log whose path is printed at the end.
set -u

script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$script_dir/../.." && pwd)
build="$root/build"
reps=3
threads="1 2"
only="W1 W2 W3 W4 W5 W6 W7 W8 W9"
coretype=""
out=""

usage() {
  sed -n '2,/^[^#]/{/^#/s/^# \{0,1\}//p}' "${BASH_SOURCE[0]}"
  exit 2
}

while getopts "b:r:t:w:c:o:h" opt; do
  case $opt in
  b) build=$OPTARG ;;
  r) reps=$OPTARG ;;
  t) threads=$OPTARG ;;
  w) only=$OPTARG ;;
  c) coretype=$OPTARG ;;
  o) out=$OPTARG ;;
  *) usage ;;
  esac
done
[[ $reps =~ ^[1-9][0-9]*$ ]] || { echo "run.sh: -r needs a count" >&2; exit 2; }
for t in $threads; do
  [[ $t =~ ^[1-9][0-9]*$ ]] || { echo "run.sh: bad thread count '$t'" >&2; exit 2; }
done

declare -A binary=(
  [W1]=bench_w1_scalar [W2]=bench_w2_mlp [W3]=bench_w3_lenet
  [W4]=bench_w4_lstm [W5]=bench_w5_rnn [W6]=bench_w6_gradcheck
  [W7]=bench_w7_hvp [W8]=bench_w8_matmul [W9]=bench_w9_vmath
)
bins=()
for w in $only; do
  b=${binary[$w]:-}
  if [[ -z $b ]]; then
    echo "run.sh: unknown workload '$w' (W1 to W9)" >&2
    exit 2
  fi
  if [[ ! -x $build/tests/bench/$b ]]; then
    echo "run.sh: $build/tests/bench/$b not found; build first (ninja -C $build)" >&2
    exit 1
  fi
  bins+=("$w:$build/tests/bench/$b")
done

raw=$(mktemp "${TMPDIR:-/tmp}/tapegrad-bench.XXXXXX.jsonl")
log=${raw%.jsonl}.log
load() { cut -d' ' -f1-3 /proc/loadavg; }
load_start=$(load)
loads=""
failed=0
started=$(date '+%Y-%m-%d %H:%M:%S %Z')
t0=$SECONDS

for ((rep = 1; rep <= reps; rep++)); do
  for entry in "${bins[@]}"; do
    w=${entry%%:*}
    bin=${entry#*:}
    for t in $threads; do
      loads+="$(cut -d' ' -f1 /proc/loadavg) "
      [[ -t 2 ]] && printf 'rep %d/%d  %s  threads %d ...\r' "$rep" "$reps" "$w" "$t" >&2
      echo "=== rep $rep $w threads $t" >>"$log"
      env_args=(TG_THREADS="$t" OPENBLAS_NUM_THREADS="$t")
      [[ -n $coretype ]] && env_args+=(OPENBLAS_CORETYPE="$coretype")
      lines=$(env "${env_args[@]}" timeout 300 "$bin" 2>>"$log")
      rc=$?
      if ((rc != 0)); then
        echo "run.sh: $w at $t threads (rep $rep) failed with status $rc; see $log" >&2
        failed=1
      fi
      while IFS= read -r line; do
        [[ $line == \{* ]] && printf '%d\t%s\n' "$rep" "$line" >>"$raw"
      done <<<"$lines"
    done
  done
done
[[ -t 2 ]] && printf '%*s\r' 40 '' >&2
load_end=$(load)
[[ -n $out ]] && cp "$raw" "$out"

awk -F'\t' -v reps="$reps" -v started="$started" -v secs=$((SECONDS - t0)) \
  -v load_start="$load_start" -v load_end="$load_end" -v loads="$loads" \
  -v host="$(uname -n)" -v cpus="$(nproc)" -v coretype="$coretype" '
function num(s, key,   m) {
  if (match(s, "\"" key "\": -?[0-9.eE+-]+")) {
    m = substr(s, RSTART, RLENGTH)
    sub(/^[^:]*: /, "", m)
    return m + 0
  }
  return ""
}
function str(s, key,   m) {
  if (match(s, "\"" key "\": \"[^\"]*\"")) {
    m = substr(s, RSTART, RLENGTH)
    sub(/^[^:]*: "/, "", m)
    sub(/"$/, "", m)
    return m
  }
  return ""
}
# median of the space-separated numbers in list
function median(list,   a, n, i, j, x) {
  n = split(list, a, " ")
  for (i = 2; i <= n; i++) {
    x = a[i] + 0
    for (j = i - 1; j >= 1 && a[j] + 0 > x; j--) a[j + 1] = a[j]
    a[j + 1] = x
  }
  if (n == 0) return ""
  return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
}
function minmax(list, want_max,   a, n, i, r) {
  n = split(list, a, " ")
  r = a[1] + 0
  for (i = 2; i <= n; i++)
    if (want_max ? a[i] + 0 > r : a[i] + 0 < r) r = a[i] + 0
  return r
}
{
  s = $2
  w = str(s, "workload"); v = str(s, "variant"); t = num(s, "threads")
  if (w == "") next
  row = w SUBSEP v
  if (!(row in seen)) { seen[row] = 1; order[++nrows] = row }
  if (!((row, t) in runs)) { nt[row]++; tl[row, nt[row]] = t }
  key = row SUBSEP t
  runs[key]++
  med[key] = med[key] " " num(s, "median_ms")
  best = num(s, "min_ms")
  if (!(key in fastest) || best < fastest[key]) fastest[key] = best
  f = num(s, "figure")
  fig[key] = fig[key] " " (f == "" ? num(s, "median_ms") : f)
  u = str(s, "unit"); unit[row] = u == "" ? "ms/step" : u
  iters[key] = num(s, "iters")
  core = str(s, "blas_core"); if (core != "") cores[core] = 1
  n_notes = split("peak_rss_mib allocs_per_step raw_gflops ratio_to_raw " \
                  "fwd_ns_per_op bwd_ns_per_op", nk, " ")
  for (i = 1; i <= n_notes; i++) {
    x = num(s, nk[i])
    if (x != "") note[key, nk[i]] = note[key, nk[i]] " " x
  }
}
END {
  corelist = ""
  for (c in cores) corelist = corelist (corelist == "" ? "" : ", ") c
  printf "tapegrad benchmarks (BENCHMARKS.md), %s on %s, %d CPUs\n", started, host, cpus
  printf "BLAS core: %s%s\n", corelist == "" ? "?" : corelist,
    coretype == "" ? " (run-time detection, repaired by tapegrad if it fell back to Prescott)" : " (OPENBLAS_CORETYPE=" coretype ")"
  n = split(loads, la, " ")
  printf "load average (1 min): %s at start, %s at end; %.2f to %.2f over %d runs; %d s in all\n",
    substr(load_start, 1, index(load_start, " ") - 1),
    substr(load_end, 1, index(load_end, " ") - 1),
    minmax(loads, 0), minmax(loads, 1), n, secs
  printf "%d processes per row. median_ms: the median over processes of each process'\''s median\n", reps
  printf "step time; min_ms, max_ms: the smallest and largest of those per-process medians;\n"
  printf "fastest_ms: the fastest single timed iteration of any process. figure: the median\n"
  printf "over processes of each process'\''s figure (computed from its median).\n\n"
  fmt = "%-4s %-10s %2s %10s %10s %10s %10s %9s %-10s %s\n"
  printf fmt, "id", "variant", "T", "median_ms", "min_ms", "max_ms", "fastest_ms", "figure", "unit", "notes"
  printf fmt, "----", "----------", "--", "----------", "----------", "----------", "----------", "---------", "----------", "-----"
  for (r = 1; r <= nrows; r++) {
    row = order[r]
    split(row, parts, SUBSEP)
    # thread counts in ascending order
    m = nt[row]
    for (i = 1; i <= m; i++) ts[i] = tl[row, i]
    for (i = 2; i <= m; i++) { x = ts[i]; for (j = i - 1; j >= 1 && ts[j] > x; j--) ts[j + 1] = ts[j]; ts[j + 1] = x }
    for (i = 1; i <= m; i++) {
      key = row SUBSEP ts[i]
      notes = ""
      if ((key, "peak_rss_mib") in note) notes = notes sprintf("peak_rss %.1f MiB (M1)  ", minmax(note[key, "peak_rss_mib"], 1))
      if ((key, "allocs_per_step") in note) notes = notes sprintf("allocs/step %g (A1)  ", minmax(note[key, "allocs_per_step"], 1))
      if ((key, "raw_gflops") in note) notes = notes sprintf("raw sgemm %.1f GFLOP/s, ratio %.3f  ", median(note[key, "raw_gflops"]), median(note[key, "ratio_to_raw"]))
      if ((key, "fwd_ns_per_op") in note) notes = notes sprintf("fwd %.0f + bwd %.0f ns/op  ", median(note[key, "fwd_ns_per_op"]), median(note[key, "bwd_ns_per_op"]))
      if (runs[key] < reps) notes = notes sprintf("only %d of %d runs  ", runs[key], reps)
      f = median(fig[key])
      printf "%-4s %-10s %2d %10.3f %10.3f %10.3f %10.3f %9s %-10s %s\n", parts[1],
        parts[2] == "" ? "-" : parts[2], ts[i], median(med[key]), minmax(med[key], 0),
        minmax(med[key], 1), fastest[key], sprintf(f < 10 ? "%.3f" : "%.1f", f),
        unit[row], notes
    }
  }
  printf "F1   (Fashion-MNIST CNN, s/epoch and test accuracy): see examples/fashion_cnn\n"
}' "$raw"

echo
echo "JSON lines: $raw; stderr of the benchmarks: $log"
exit $failed
