/* Helpers shared by the benchmarks of BENCHMARKS.md: a monotonic clock, the
 * thread setting, a warm-up-then-time loop and the one JSON line each
 * benchmark prints. */
#ifndef TG_BENCH_H
#define TG_BENCH_H

#include <stdio.h>

/* Milliseconds on CLOCK_MONOTONIC (an arbitrary origin). */
double tgb_now_ms(void);

/* The thread count of the run: TG_THREADS, else OPENBLAS_NUM_THREADS, else
 * 1. Sets OpenBLAS to it, so the figure reported is the figure used. */
int tgb_setup_threads(void);

/* Iterations from argv: --iters N and --warmup W (also --iters=N). Keeps
 * the defaults given when an option is absent; prints usage and returns
 * false on anything it does not know. */
typedef struct tgb_opts {
  int iters, warmup;
} tgb_opts;
int tgb_parse_args(int argc, char **argv, tgb_opts *opts);

/* One step of a workload; returns 0 on success, anything else stops the
 * run. */
typedef int (*tgb_step_fn)(void *ctx);

typedef struct tgb_stats {
  double median_ms, min_ms, max_ms, mean_ms;
  int iters;
} tgb_stats;

/* Runs step warmup times untimed, then iters times timed one by one;
 * fills stats. Returns 0, or the first nonzero value a step returned. */
int tgb_run(tgb_step_fn step, void *ctx, const tgb_opts *opts,
            tgb_stats *stats);

/* {"workload": "W3", "threads": 1, "median_ms": ..., "min_ms": ...,
 * "max_ms": ..., "iters": ...} on one line of out; extra, when not NULL or
 * empty, is appended verbatim after a comma (e.g. "\"batch\": 64"). */
void tgb_print_json(FILE *out, const char *workload, int threads,
                    const tgb_stats *stats, const char *extra);

#endif
