/* Helpers shared by the benchmarks; see bench.h. */
#include "bench.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tapegrad.h"

/* OpenBLAS's own setting and name for its kernels (declared here to avoid
 * depending on cblas.h). */
void openblas_set_num_threads(int num_threads);
char *openblas_get_corename(void);

double tgb_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec * 1e-6;
}

static int env_int(const char *name) {
  const char *s = getenv(name);
  if (!s || !*s) return 0;
  char *end;
  long v = strtol(s, &end, 10);
  return *end || v < 1 || v > 1024 ? 0 : (int)v;
}

int tgb_setup_threads(void) {
  int n = env_int("TG_THREADS");
  if (!n) n = env_int("OPENBLAS_NUM_THREADS");
  if (!n) n = 1;
  return tg_set_num_threads(n);
}

void tgb_openblas_threads(int n) { openblas_set_num_threads(n); }

static int parse_count(const char *s, int min, int *out) {
  if (!s || !*s) return 0;
  char *end;
  long v = strtol(s, &end, 10);
  if (*end || v < min || v > 100000000) return 0;
  *out = (int)v;
  return 1;
}

int tgb_parse_args(int argc, char **argv, tgb_opts *opts) {
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i], *val = NULL;
    int *dst = NULL, min = 0;
    if (!strncmp(a, "--iters", 7)) {
      dst = &opts->iters;
      min = 1;
      val = a + 7;
    } else if (!strncmp(a, "--warmup", 8)) {
      dst = &opts->warmup;
      val = a + 8;
    }
    if (dst && *val == '=')
      val++;
    else if (dst && !*val && i + 1 < argc)
      val = argv[++i];
    else
      dst = NULL;
    if (!dst || !parse_count(val, min, dst)) {
      fprintf(stderr,
              "usage: %s [--iters N] [--warmup W]   (defaults %d, %d)\n"
              "threads: TG_THREADS or OPENBLAS_NUM_THREADS (default 1)\n",
              argv[0], opts->iters, opts->warmup);
      return 0;
    }
  }
  return 1;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

double tgb_median(double *v, int n) {
  if (n < 1) return 0;
  qsort(v, (size_t)n, sizeof *v, cmp_double);
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

const char *tgb_blas_core(void) {
  const char *core = openblas_get_corename();
  return core && *core ? core : "unknown";
}

double tgb_peak_rss_mib(void) {
  FILE *f = fopen("/proc/self/status", "r");
  if (!f) return -1;
  char line[256];
  double mib = -1;
  while (fgets(line, sizeof line, f)) {
    long kib;
    if (sscanf(line, "VmHWM: %ld kB", &kib) == 1) {
      mib = (double)kib / 1024.0;
      break;
    }
  }
  fclose(f);
  return mib;
}

void tgb_stats_of(double *t, int n, tgb_stats *stats) {
  memset(stats, 0, sizeof *stats);
  if (n < 1) return;
  double sum = 0;
  for (int i = 0; i < n; i++)
    sum += t[i];
  stats->median_ms = tgb_median(t, n);
  stats->iters = n;
  stats->min_ms = t[0];
  stats->max_ms = t[n - 1];
  stats->p90_ms = t[(9 * n + 9) / 10 - 1]; /* t is sorted by tgb_median */
  stats->mean_ms = sum / n;
}

int tgb_run(tgb_step_fn step, void *ctx, const tgb_opts *opts,
            tgb_stats *stats) {
  memset(stats, 0, sizeof *stats);
  for (int i = 0; i < opts->warmup; i++) {
    int rc = step(ctx);
    if (rc) return rc;
  }
  if (opts->before_timed) opts->before_timed(ctx);
  int n = opts->iters;
  double *t = malloc((size_t)n * sizeof *t);
  if (!t) return -1;
  for (int i = 0; i < n; i++) {
    double t0 = tgb_now_ms();
    int rc = step(ctx);
    t[i] = tgb_now_ms() - t0;
    if (rc) {
      free(t);
      return rc;
    }
  }
  tgb_stats_of(t, n, stats);
  free(t);
  return 0;
}

void tgb_print_json(FILE *out, const char *workload, int threads,
                    const tgb_stats *stats, const char *extra) {
  fprintf(out,
          "{\"workload\": \"%s\", \"threads\": %d, \"median_ms\": %.3f, "
          "\"min_ms\": %.3f, \"max_ms\": %.3f, \"p90_ms\": %.3f, "
          "\"iters\": %d",
          workload, threads, stats->median_ms, stats->min_ms, stats->max_ms,
          stats->p90_ms, stats->iters);
  if (extra && *extra) fprintf(out, ", %s", extra);
  fprintf(out, ", \"blas_core\": \"%s\"}\n", tgb_blas_core());
  fflush(out);
}
