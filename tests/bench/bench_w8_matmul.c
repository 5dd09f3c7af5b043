/* W8 of BENCHMARKS.md: the product of two 1024x1024 float32 matrices with
 * tg_matmul on a tape (the result in the arena, tg_tape_reset after each
 * product), in GFLOP/s = 2 n^3 / median time.
 *
 * In the same process, on the same matrices, raw cblas_sgemm into a
 * preallocated buffer, on OpenBLAS's own threads (as many as tapegrad's),
 * is timed the same way (raw_gflops), so the ratio
 * tapegrad / raw (goal: at least 0.97) compares like with like; each
 * product is timed on its own (see run_both for the order). The two
 * results are also compared. */
#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "bench.h"
#include "tapegrad.h"

enum { N = 1024 };

typedef struct w8 {
  tg_tape *tp;
  tg_tensor *a, *b; /* [1024, 1024], heap, no gradient */
  float *c;         /* raw sgemm's result */
  tg_tensor *last;  /* tapegrad's last result, until the next reset */
  int threads;
} w8;

static int step_tg(void *ctx) {
  w8 *w = ctx;
  tg_tape_reset(w->tp);
  w->last = tg_matmul(w->tp, w->a, w->b);
  if (!w->last) {
    fprintf(stderr, "W8: %s\n", tg_errmsg(w->tp));
    return 1;
  }
  return 0;
}

static int step_raw(void *ctx) {
  w8 *w = ctx;
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, N, N, 1.0f,
              w->a->data, N, w->b->data, N, 0.0f, w->c, N);
  return 0;
}

static double gflops(double ms) { return 2.0 * N * N * N / (ms * 1e-3) / 1e9; }

/* Raw sgemm first, all of it, with OpenBLAS's own threads (as many as
 * tapegrad's, which keeps OpenBLAS to one thread and splits the product
 * itself); then, after a pause, tapegrad. Not alternated product by
 * product: after each threaded call OpenBLAS's threads keep spinning for
 * about 0.1 s (its THREAD_TIMEOUT), on the very cores tapegrad's threads
 * would need. */
static int run_both(w8 *w, const tgb_opts *opts, tgb_stats *st_tg,
                    tgb_stats *st_raw) {
  tgb_openblas_threads(w->threads);
  int rc = tgb_run(step_raw, w, opts, st_raw);
  tgb_openblas_threads(1);
  struct timespec pause = {0, 300 * 1000 * 1000};
  nanosleep(&pause, NULL);
  return rc ? rc : tgb_run(step_tg, w, opts, st_tg);
}

int main(int argc, char **argv) {
  tgb_opts opts = {.iters = 30, .warmup = 3};
  if (!tgb_parse_args(argc, argv, &opts)) return 2;
  int threads = tgb_setup_threads();

  w8 w = {0};
  w.threads = threads;
  int64_t shape[2] = {N, N};
  w.tp = tg_tape_new();
  w.a = tg_tensor_new(w.tp, TG_F32, 2, shape);
  w.b = tg_tensor_new(w.tp, TG_F32, 2, shape);
  w.c = malloc(sizeof(float) * N * N);
  int rc = 1;
  if (w.tp && w.a && w.b && w.c) {
    tg_tape_seed(w.tp, 8);
    tg_fill_normal(w.a, tg_tape_rng(w.tp), 0, 1);
    tg_fill_normal(w.b, tg_tape_rng(w.tp), 0, 1);
    tgb_stats st_tg, st_raw;
    rc = run_both(&w, &opts, &st_tg, &st_raw);
    if (!rc) {
      double diff = 0, scale = 0;
      const float *ct = w.last->data;
      for (int64_t i = 0; i < (int64_t)N * N; i++) {
        diff = fmax(diff, fabs((double)ct[i] - (double)w.c[i]));
        scale = fmax(scale, fabs((double)w.c[i]));
      }
      if (!(diff <= 1e-5 * scale)) {
        fprintf(stderr, "W8: tg_matmul and cblas_sgemm differ by %g\n", diff);
        rc = 1;
      }
      double g = gflops(st_tg.median_ms), g_raw = gflops(st_raw.median_ms);
      char extra[256];
      snprintf(extra, sizeof extra,
               "\"n\": %d, \"figure\": %.1f, \"unit\": \"GFLOP/s\", "
               "\"raw_gflops\": %.1f, \"raw_median_ms\": %.3f, "
               "\"ratio_to_raw\": %.3f",
               N, g, g_raw, st_raw.median_ms, g / g_raw);
      if (!rc) tgb_print_json(stdout, "W8", threads, &st_tg, extra);
    }
  } else {
    fprintf(stderr, "W8: setup failed\n");
  }
  free(w.c);
  tg_tensor_free(w.a);
  tg_tensor_free(w.b);
  tg_tape_free(w.tp);
  return rc ? 1 : 0;
}
