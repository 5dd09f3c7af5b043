#!/usr/bin/env bash
# Runs every benchmark of BENCHMARKS.md (the bench_w* binaries of a build)
# at 1 and 2 threads, several times each, and prints a plain-text table.
#
#   tests/bench/run.sh [-b BUILD_DIR] [-r N] [-t "1 2"] [-w "W1 W2 ..."]
#                      [-c CORETYPE] [-o FILE] [-p]
#
#   -b  build directory (default: build, beside this repository's sources)
#   -r  repetitions: processes per benchmark and thread count (default 3)
#   -t  thread counts (default "1 2"); each run gets TG_THREADS and
#       OPENBLAS_NUM_THREADS set to it
#   -w  only these workloads (default: W1 to W9 and F1S, one training step
#       of F1's network on random data)
#   -c  set OPENBLAS_CORETYPE for every run (e.g. SkylakeX). Without it,
#       OpenBLAS detects the processor, and tapegrad replaces a fallback to
#       the generic "Prescott" kernels by the matching ones (unless
#       TAPEGRAD_BLAS_CORE=keep): see docs/performance.md
#   -o  also write every JSON line, prefixed with its repetition, to FILE
#   -p  run PyTorch too (optional, not part of CI): after tapegrad's
#       benchmarks, each repetition runs tests/bench/torch_bench.py once
#       per thread count (OPENBLAS_NUM_THREADS and torch.set_num_threads),
#       with the first of /usr/bin/python3 and python3 that can import
#       torch (Debian: apt-get install python3-torch). Its OpenBLAS gets
#       OPENBLAS_CORETYPE: -c's, else the core tapegrad's benchmarks report,
#       so that both use the same kernels. The table then has an engine
#       column and, on PyTorch's rows, tg/torch: tapegrad's median_ms over
#       PyTorch's at the same thread count. Without torch, -p says so and
#       the table has tapegrad's rows only.
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
only="W1 W2 W3 W4 W5 W6 W7 W8 W9 F1S"
coretype=""
out=""
torch_wanted=0

usage() {
  sed -n '2,/^[^#]/{/^#/s/^# \{0,1\}//p}' "${BASH_SOURCE[0]}"
  exit 2
}

while getopts "b:r:t:w:c:o:ph" opt; do
  case $opt in
  b) build=$OPTARG ;;
  r) reps=$OPTARG ;;
  t) threads=$OPTARG ;;
  w) only=$OPTARG ;;
  c) coretype=$OPTARG ;;
  o) out=$OPTARG ;;
  p) torch_wanted=1 ;;
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
  [F1S]=bench_f1_step
)
bins=()
for w in $only; do
  b=${binary[$w]:-}
  if [[ -z $b ]]; then
    echo "run.sh: unknown workload '$w' (W1 to W9, F1S)" >&2
    exit 2
  fi
  if [[ ! -x $build/tests/bench/$b ]]; then
    echo "run.sh: $build/tests/bench/$b not found; build first (ninja -C $build)" >&2
    exit 1
  fi
  bins+=("$w:$build/tests/bench/$b")
done

# -p: an interpreter that can import torch, else no PyTorch rows.
torch_py=""
torch_desc=""
torch_core=""
if ((torch_wanted)); then
  for py in /usr/bin/python3 python3; do
    if "$py" -c 'import torch' >/dev/null 2>&1; then
      torch_py=$py
      break
    fi
  done
  if [[ -n $torch_py ]]; then
    torch_desc="torch $("$torch_py" -c 'import torch; print(torch.__version__)' 2>/dev/null) ($torch_py)"
  else
    echo "run.sh: -p: no python3 here can import torch (Debian: apt-get install python3-torch); the table has tapegrad's rows only" >&2
  fi
fi

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
  [[ -n $torch_py ]] || continue
  # PyTorch's OpenBLAS gets the kernels tapegrad used (see -p above).
  torch_core=$coretype
  if [[ -z $torch_core ]]; then
    torch_core=$(grep -v '"engine": "pytorch"' "$raw" |
      grep -o -m1 '"blas_core": "[A-Za-z0-9]*"' | cut -d'"' -f4)
    [[ $torch_core == unknown ]] && torch_core=""
  fi
  for t in $threads; do
    loads+="$(cut -d' ' -f1 /proc/loadavg) "
    [[ -t 2 ]] && printf 'rep %d/%d  pytorch  threads %d ...\r' "$rep" "$reps" "$t" >&2
    echo "=== rep $rep pytorch threads $t" >>"$log"
    env_args=(OPENBLAS_NUM_THREADS="$t")
    [[ -n $torch_core ]] && env_args+=(OPENBLAS_CORETYPE="$torch_core")
    # shellcheck disable=SC2086 # $only: one argument per workload
    lines=$(env "${env_args[@]}" timeout 1800 "$torch_py" \
      "$script_dir/torch_bench.py" --threads "$t" -w $only 2>>"$log")
    rc=$?
    if ((rc != 0)); then
      echo "run.sh: pytorch at $t threads (rep $rep) failed with status $rc; see $log" >&2
      failed=1
    fi
    while IFS= read -r line; do
      [[ $line == \{* ]] && printf '%d\t%s\n' "$rep" "$line" >>"$raw"
    done <<<"$lines"
  done
done
[[ -n $torch_py && -n $torch_core ]] && torch_desc+=", OPENBLAS_CORETYPE=$torch_core"
[[ -t 2 ]] && printf '%*s\r' 40 '' >&2
load_end=$(load)
[[ -n $out ]] && cp "$raw" "$out"

awk -F'\t' -v reps="$reps" -v started="$started" -v secs=$((SECONDS - t0)) \
  -v load_start="$load_start" -v load_end="$load_end" -v loads="$loads" \
  -v host="$(uname -n)" -v cpus="$(nproc)" -v coretype="$coretype" \
  -v torch_desc="$torch_desc" '
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
  # A row is a workload, variant and engine. Rows are grouped by workload
  # and tapegrad variant (a PyTorch line may name its tapegrad counterpart
  # in "tapegrad_variant"), and a group is printed together.
  eng = str(s, "engine"); if (eng == "") eng = "tapegrad"
  if (eng != "tapegrad") has_torch = 1
  pv = str(s, "tapegrad_variant"); if (pv == "") pv = v
  grp = w SUBSEP pv
  if (!(grp in gseen)) { gseen[grp] = 1; gorder[++ngroups] = grp }
  row = w SUBSEP v SUBSEP eng
  if (!(row in seen)) { seen[row] = 1; grow[grp, ++gn[grp]] = row }
  if (!((grp, t) in gthreads)) { gthreads[grp, t] = 1; nt[grp]++; tl[grp, nt[grp]] = t }
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
  mod = str(s, "module"); if (mod != "") module[row] = mod
  n_notes = split("peak_rss_mib allocs_per_step raw_gflops ratio_to_raw " \
                  "fwd_ns_per_op bwd_ns_per_op p90_ms median_ms", nk, " ")
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
  printf "over processes of each process'\''s figure (computed from its median).\n"
  if (has_torch) {
    printf "pytorch rows: %s, torch.set_num_threads(T), 1 inter-op thread, OPENBLAS_NUM_THREADS=T.\n", torch_desc
    printf "tg/torch: tapegrad'\''s median_ms over PyTorch'\''s, same workload, variant and T (below 1:\n"
    printf "tapegrad faster); W7 func_hvp (torch.autograd.functional.hvp) is set beside tg_hvp.\n"
    fmt = "%-4s %-10s %2s %-8s %10s %10s %10s %10s %9s %-10s %8s %s\n"
    printf "\n" fmt, "id", "variant", "T", "engine", "median_ms", "min_ms", "max_ms", "fastest_ms", "figure", "unit", "tg/torch", "notes"
    printf fmt, "----", "----------", "--", "--------", "----------", "----------", "----------", "----------", "---------", "----------", "--------", "-----"
  } else {
    fmt = "%-4s %-10s %2s %10s %10s %10s %10s %9s %-10s %s\n"
    printf "\n" fmt, "id", "variant", "T", "median_ms", "min_ms", "max_ms", "fastest_ms", "figure", "unit", "notes"
    printf fmt, "----", "----------", "--", "----------", "----------", "----------", "----------", "---------", "----------", "-----"
  }
  for (g = 1; g <= ngroups; g++) {
    grp = gorder[g]
    split(grp, gparts, SUBSEP)
    # thread counts in ascending order
    m = nt[grp]
    for (i = 1; i <= m; i++) ts[i] = tl[grp, i]
    for (i = 2; i <= m; i++) { x = ts[i]; for (j = i - 1; j >= 1 && ts[j] > x; j--) ts[j + 1] = ts[j]; ts[j + 1] = x }
    tg_row = gparts[1] SUBSEP gparts[2] SUBSEP "tapegrad"
    for (i = 1; i <= m; i++) {
      # at each thread count, tapegrad'\''s row first, then the others
      for (pass = 1; pass <= 2; pass++) {
        for (k = 1; k <= gn[grp]; k++) {
          row = grow[grp, k]
          split(row, parts, SUBSEP)
          if ((pass == 1) != (parts[3] == "tapegrad")) continue
          key = row SUBSEP ts[i]
          if (!(key in runs)) continue
          notes = ""
          if (row in module) notes = notes module[row] "  "
          if ((key, "peak_rss_mib") in note) notes = notes sprintf("peak_rss %.1f MiB (M1)  ", minmax(note[key, "peak_rss_mib"], 1))
          if ((key, "allocs_per_step") in note) notes = notes sprintf("allocs/step %g (A1)  ", minmax(note[key, "allocs_per_step"], 1))
          if ((key, "raw_gflops") in note) notes = notes sprintf("raw sgemm %.1f GFLOP/s, ratio %.3f  ", median(note[key, "raw_gflops"]), median(note[key, "ratio_to_raw"]))
          if ((key, "fwd_ns_per_op") in note) notes = notes sprintf("fwd %.0f + bwd %.0f ns/op  ", median(note[key, "fwd_ns_per_op"]), median(note[key, "bwd_ns_per_op"]))
          # the tail: the slowest tenth of steps, against the median
          if ((key, "p90_ms") in note && median(note[key, "median_ms"]) > 0) notes = notes sprintf("p90/median %.2f  ", median(note[key, "p90_ms"]) / median(note[key, "median_ms"]))
          if (runs[key] < reps) notes = notes sprintf("only %d of %d runs  ", runs[key], reps)
          f = median(fig[key])
          cols = sprintf("%10.3f %10.3f %10.3f %10.3f %9s %-10s", median(med[key]),
            minmax(med[key], 0), minmax(med[key], 1), fastest[key],
            sprintf(f < 10 ? "%.3f" : "%.1f", f), unit[row])
          id = sprintf("%-4s %-10s %2d", parts[1], parts[2] == "" ? "-" : parts[2], ts[i])
          if (!has_torch) {
            printf "%s %s %s\n", id, cols, notes
            continue
          }
          ratio = ""
          tg_key = tg_row SUBSEP ts[i]
          if (parts[3] != "tapegrad" && (tg_key in runs) && median(med[key]) > 0)
            ratio = sprintf("%.3f", median(med[tg_key]) / median(med[key]))
          printf "%s %-8s %s %8s %s\n", id, parts[3], cols, ratio, notes
        }
      }
    }
  }
  printf "F1   (Fashion-MNIST CNN, s/epoch and test accuracy): see examples/fashion_cnn\n"
}' "$raw"

echo
echo "JSON lines: $raw; stderr of the benchmarks: $log"
exit $failed
