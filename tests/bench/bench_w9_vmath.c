/* W9 of BENCHMARKS.md: tg_exp and tg_tanh over 1,000,000 float32 elements,
 * forward only (the input requires no gradient, so nothing is recorded),
 * in ns per element. The input is a heap tensor drawn from N(0, 2^2); one
 * timed step is the op (its result in the arena) and tg_tape_reset. One
 * JSON line per function (variant "exp", "tanh"). */
#include <stdio.h>

#include "bench.h"
#include "tapegrad.h"

enum { N = 1000000 };

typedef struct w9 {
  tg_tape *tp;
  tg_tensor *x; /* [1000000], heap */
  tg_tensor *(*op)(tg_tape *, tg_tensor *);
} w9;

static int step(void *ctx) {
  w9 *w = ctx;
  tg_tensor *y = w->op(w->tp, w->x);
  if (!y) {
    fprintf(stderr, "W9: %s\n", tg_errmsg(w->tp));
    return 1;
  }
  tg_tape_reset(w->tp);
  return 0;
}

int main(int argc, char **argv) {
  tgb_opts opts = {.iters = 200, .warmup = 10};
  if (!tgb_parse_args(argc, argv, &opts)) return 2;
  int threads = tgb_setup_threads();

  w9 w = {0};
  int64_t shape[1] = {N};
  w.tp = tg_tape_new();
  w.x = tg_tensor_new(w.tp, TG_F32, 1, shape);
  int rc = 1;
  if (w.tp && w.x) {
    tg_tape_seed(w.tp, 9);
    tg_fill_normal(w.x, tg_tape_rng(w.tp), 0, 2);
    static const char *const variant[2] = {"exp", "tanh"};
    tg_tensor *(*ops[2])(tg_tape *, tg_tensor *) = {tg_exp, tg_tanh};
    for (int v = 0; v < 2; v++) {
      w.op = ops[v];
      tgb_stats st;
      rc = tgb_run(step, &w, &opts, &st);
      if (rc) break;
      char extra[160];
      snprintf(extra, sizeof extra,
               "\"variant\": \"%s\", \"n\": %d, \"figure\": %.3f, "
               "\"unit\": \"ns/elem\"",
               variant[v], N, st.median_ms * 1e6 / N);
      tgb_print_json(stdout, "W9", threads, &st, extra);
    }
  } else {
    fprintf(stderr, "W9: setup failed\n");
  }
  tg_tensor_free(w.x);
  tg_tape_free(w.tp);
  return rc ? 1 : 0;
}
