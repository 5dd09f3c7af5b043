/* Helpers shared by the benchmarks of BENCHMARKS.md: a monotonic clock, the
 * thread setting, a warm-up-then-time loop and the one JSON line each
 * benchmark prints. */
#ifndef TG_BENCH_H
#define TG_BENCH_H

#include <stdio.h>

/* Milliseconds on CLOCK_MONOTONIC (an arbitrary origin). */
double tgb_now_ms(void);

/* The thread count of the run: TG_THREADS, else OPENBLAS_NUM_THREADS, else
 * 1. Sets tapegrad's threads to it (tg_set_num_threads, which keeps
 * OpenBLAS to one thread), so the figure reported is the figure used. */
int tgb_setup_threads(void);
/* OpenBLAS's own thread count, for raw cblas calls beside tapegrad's. */
void tgb_openblas_threads(int n);

/* Iterations from argv: --iters N and --warmup W (also --iters=N). Keeps
 * the defaults given when an option is absent; prints usage and returns
 * false on anything it does not know. before_timed, when not NULL, is
 * called with the step's ctx between the warm-up and the first timed step
 * (untimed), e.g. to reset a counter. */
typedef struct tgb_opts {
  int iters, warmup;
  void (*before_timed)(void *ctx);
} tgb_opts;
int tgb_parse_args(int argc, char **argv, tgb_opts *opts);

/* One step of a workload; returns 0 on success, anything else stops the
 * run. */
typedef int (*tgb_step_fn)(void *ctx);

typedef struct tgb_stats {
  double median_ms, min_ms, max_ms, mean_ms;
  /* the 90th percentile: the slowest tenth of steps take at least this
   * long (the tail the contract asks about at T=2) */
  double p90_ms;
  int iters;
} tgb_stats;

/* Runs step warmup times untimed, then iters times timed one by one;
 * fills stats. Returns 0, or the first nonzero value a step returned. */
int tgb_run(tgb_step_fn step, void *ctx, const tgb_opts *opts,
            tgb_stats *stats);

/* Fills stats from n step times in ms (sorts them in place). */
void tgb_stats_of(double *times, int n, tgb_stats *stats);

/* {"workload": "W3", "threads": 1, "median_ms": ..., "min_ms": ...,
 * "max_ms": ..., "iters": ..., <extra>, "blas_core": "..."} on one line of
 * out; extra, when not NULL or empty, is appended verbatim after a comma
 * (e.g. "\"batch\": 64"). blas_core is tgb_blas_core(). */
void tgb_print_json(FILE *out, const char *workload, int threads,
                    const tgb_stats *stats, const char *extra);

/* OpenBLAS's name for the kernels it chose at run time ("Haswell",
 * "SkylakeX", ...), or "unknown". */
const char *tgb_blas_core(void);

/* Peak resident memory of this process so far (VmHWM of /proc/self/status)
 * in MiB, or -1 where it cannot be read. */
double tgb_peak_rss_mib(void);

/* The median of n values (sorts them in place); 0 for n < 1. */
double tgb_median(double *v, int n);

#endif
