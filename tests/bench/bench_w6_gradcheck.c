/* W6 of BENCHMARKS.md: one tg_gradcheck call, full Jacobian, of a 10-20-1
 * tanh MLP in float64 on a fixed batch of 8, with all four parameters as
 * the checked inputs (the batch is data, held by the function):
 *
 *   f(W1, b1, W2, b2) = tanh(x W1 + b1) W2 + b2      x [8, 10] -> [8, 1]
 *   W1 [10, 20], b1 [20], W2 [20, 1], b2 [1]: 241 inputs, 8 outputs
 *
 * Default options (eps 1e-6, atol 1e-5, rtol 1e-3, not fast): central
 * differences for every input element and a backward pass per output. A
 * failed verdict stops the benchmark. */
#include <math.h>
#include <stdio.h>

#include "bench.h"
#include "tapegrad.h"

enum { BATCH = 8, IN = 10, HIDDEN = 20, OUT = 1, N_PARAMS = 4 };

typedef struct w6 {
  tg_tensor *x;              /* [8, 10], heap */
  tg_tensor *par[N_PARAMS];  /* W1 b1 W2 b2, heap */
  tg_gradcheck_opts gc_opts; /* defaults: full Jacobian */
  tg_gradcheck_report report;
} w6;

static tg_tensor *mlp(tg_tape *tp, tg_tensor *const *in, void *ud) {
  w6 *b = ud;
  tg_tensor *h = tg_tanh(tp, tg_add(tp, tg_matmul(tp, b->x, in[0]), in[1]));
  return tg_add(tp, tg_matmul(tp, h, in[2]), in[3]);
}

static int step(void *ctx) {
  w6 *b = ctx;
  tg_status st =
      tg_gradcheck(mlp, b, N_PARAMS, b->par, &b->gc_opts, &b->report);
  if (st != TG_OK || !b->report.passed) {
    fprintf(stderr, "W6: gradcheck %s\n",
            st != TG_OK ? "did not run" : "failed");
    tg_gradcheck_fprint(stderr, &b->report);
    return 1;
  }
  return 0;
}

int main(int argc, char **argv) {
  tgb_opts opts = {.iters = 200, .warmup = 10};
  if (!tgb_parse_args(argc, argv, &opts)) return 2;
  int threads = tgb_setup_threads();

  w6 b = {0};
  tg_gradcheck_defaults(&b.gc_opts);
  tg_rng rng;
  tg_rng_seed(&rng, 6);
  int64_t sx[2] = {BATCH, IN}, s1[2] = {IN, HIDDEN}, sb1[1] = {HIDDEN},
          s2[2] = {HIDDEN, OUT}, sb2[1] = {OUT};
  b.x = tg_tensor_new(NULL, TG_F64, 2, sx);
  b.par[0] = tg_tensor_new(NULL, TG_F64, 2, s1);
  b.par[1] = tg_tensor_new(NULL, TG_F64, 1, sb1);
  b.par[2] = tg_tensor_new(NULL, TG_F64, 2, s2);
  b.par[3] = tg_tensor_new(NULL, TG_F64, 1, sb2);
  int rc = 1;
  if (b.x && b.par[0] && b.par[1] && b.par[2] && b.par[3]) {
    tg_fill_normal(b.x, &rng, 0, 1);
    tg_fill_normal(b.par[0], &rng, 0, 1 / sqrt(IN));
    tg_fill_normal(b.par[1], &rng, 0, 0.1);
    tg_fill_normal(b.par[2], &rng, 0, 1 / sqrt(HIDDEN));
    tg_fill_normal(b.par[3], &rng, 0, 0.1);
    tgb_stats st;
    rc = tgb_run(step, &b, &opts, &st);
    if (!rc) {
      char extra[160];
      snprintf(extra, sizeof extra,
               "\"inputs\": %d, \"outputs\": %d, \"figure\": %.3f, "
               "\"unit\": \"ms/call\"",
               IN * HIDDEN + HIDDEN + HIDDEN * OUT + OUT, BATCH * OUT,
               st.median_ms);
      tgb_print_json(stdout, "W6", threads, &st, extra);
    }
  } else {
    fprintf(stderr, "W6: setup failed\n");
  }
  tg_tensor_free(b.x);
  for (int i = 0; i < N_PARAMS; i++)
    tg_tensor_free(b.par[i]);
  return rc ? 1 : 0;
}
