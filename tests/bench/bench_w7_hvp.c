/* W7 of BENCHMARKS.md: a Hessian-vector product by double backward of the
 * loss of W6's MLP, float64, batch 8, with respect to all its parameters:
 *
 *   L(W1, b1, W2, b2) = mean((tanh(x W1 + b1) W2 + b2 - y)^2)
 *   Hv = d/dp <dL/dp, v>           (v: a fixed random direction, 241 values)
 *
 * Two variants, one JSON line each:
 *   "grad_twice"  written by hand: g = tg_grad(L, create_graph), then
 *                 tg_grad(sum_i <g_i, v_i>) on persistent parameters;
 *   "tg_hvp"      the library's transform (fresh leaf copies of the
 *                 parameters, then the same two sweeps).
 * One timed step is one product: both sweeps, copying Hv out and
 * tg_tape_reset. Before timing, the two variants' products are compared. */
#include <math.h>
#include <stdio.h>

#include "bench.h"
#include "tapegrad.h"

enum { BATCH = 8, IN = 10, HIDDEN = 20, OUT = 1, N_PARAMS = 4 };
enum { N_VALUES = IN * HIDDEN + HIDDEN + HIDDEN * OUT + OUT };

typedef struct w7 {
  tg_tape *tp;
  tg_tensor *x, *y;         /* [8, 10], [8, 1], heap */
  tg_tensor *par[N_PARAMS]; /* W1 b1 W2 b2, heap, requires_grad */
  tg_tensor *v[N_PARAMS];   /* the direction, heap */
  double hv[N_VALUES];      /* the last product, flattened */
} w7;

static tg_tensor *loss_fn(tg_tape *tp, tg_tensor *const *p, void *ud) {
  w7 *b = ud;
  tg_tensor *h = tg_tanh(tp, tg_add(tp, tg_matmul(tp, b->x, p[0]), p[1]));
  tg_tensor *out = tg_add(tp, tg_matmul(tp, h, p[2]), p[3]);
  tg_tensor *d = tg_sub(tp, out, b->y);
  return tg_mean_all(tp, tg_mul(tp, d, d));
}

static int copy_out(w7 *b, tg_tensor *const *hv) {
  double *dst = b->hv;
  for (int i = 0; i < N_PARAMS; i++) {
    if (!hv[i] || tg_copy_out_f64(hv[i], dst) != TG_OK) return 0;
    dst += b->par[i]->numel;
  }
  return 1;
}

static int step_grad_twice(void *ctx) {
  w7 *b = ctx;
  tg_tape *tp = b->tp;
  tg_tensor *g[N_PARAMS], *hv[N_PARAMS], *dot = NULL;
  tg_tensor *loss = loss_fn(tp, b->par, b);
  if (!loss || tg_grad(tp, 1, &loss, NULL, N_PARAMS, b->par, g, true) != TG_OK)
    goto fail;
  for (int i = 0; i < N_PARAMS; i++) {
    tg_tensor *term = tg_sum_all(tp, tg_mul(tp, g[i], b->v[i]));
    dot = dot ? tg_add(tp, dot, term) : term;
  }
  if (!dot ||
      tg_grad(tp, 1, &dot, NULL, N_PARAMS, b->par, hv, false) != TG_OK ||
      !copy_out(b, hv))
    goto fail;
  tg_tape_reset(tp);
  return 0;
fail:
  fprintf(stderr, "W7 (grad_twice): %s\n", tg_errmsg(tp));
  return 1;
}

static int step_hvp(void *ctx) {
  w7 *b = ctx;
  tg_tensor *hv[N_PARAMS];
  if (tg_hvp(b->tp, loss_fn, b, N_PARAMS, b->par, b->v, hv) != TG_OK ||
      !copy_out(b, hv)) {
    fprintf(stderr, "W7 (tg_hvp): %s\n", tg_errmsg(b->tp));
    return 1;
  }
  tg_tape_reset(b->tp);
  return 0;
}

static int setup(w7 *b) {
  b->tp = tg_tape_new();
  if (!b->tp) return 0;
  tg_tape_seed(b->tp, 7);
  tg_rng *rng = tg_tape_rng(b->tp);
  int64_t sx[2] = {BATCH, IN}, sy[2] = {BATCH, OUT};
  int64_t shapes[N_PARAMS][2] = {{IN, HIDDEN}, {HIDDEN}, {HIDDEN, OUT}, {OUT}};
  int ndims[N_PARAMS] = {2, 1, 2, 1};
  double stds[N_PARAMS] = {1 / sqrt(IN), 0.1, 1 / sqrt(HIDDEN), 0.1};
  b->x = tg_tensor_new(b->tp, TG_F64, 2, sx);
  b->y = tg_tensor_new(b->tp, TG_F64, 2, sy);
  if (!b->x || !b->y) return 0;
  tg_fill_normal(b->x, rng, 0, 1);
  tg_fill_normal(b->y, rng, 0, 1);
  for (int i = 0; i < N_PARAMS; i++) {
    b->par[i] = tg_tensor_new(b->tp, TG_F64, ndims[i], shapes[i]);
    b->v[i] = tg_tensor_new(b->tp, TG_F64, ndims[i], shapes[i]);
    if (!b->par[i] || !b->v[i]) return 0;
    tg_fill_normal(b->par[i], rng, 0, stds[i]);
    tg_fill_normal(b->v[i], rng, 0, 1);
    tg_set_requires_grad(b->par[i], true);
  }
  return 1;
}

/* The two variants must give the same product. */
static int agree(w7 *b) {
  double ref[N_VALUES];
  if (step_hvp(b)) return 0;
  for (int i = 0; i < N_VALUES; i++)
    ref[i] = b->hv[i];
  if (step_grad_twice(b)) return 0;
  double worst = 0, scale = 0;
  for (int i = 0; i < N_VALUES; i++) {
    worst = fmax(worst, fabs(ref[i] - b->hv[i]));
    scale = fmax(scale, fabs(ref[i]));
  }
  if (!(worst <= 1e-12 * fmax(scale, 1))) {
    fprintf(stderr, "W7: tg_hvp and grad_twice differ by %g (max |Hv| %g)\n",
            worst, scale);
    return 0;
  }
  return 1;
}

int main(int argc, char **argv) {
  tgb_opts opts = {.iters = 5000, .warmup = 200};
  if (!tgb_parse_args(argc, argv, &opts)) return 2;
  int threads = tgb_setup_threads();

  w7 b = {0};
  int rc = 1;
  if (!setup(&b)) {
    fprintf(stderr, "W7: setup failed: %s\n", b.tp ? tg_errmsg(b.tp) : "");
  } else if (agree(&b)) {
    static const char *const variant[2] = {"grad_twice", "tg_hvp"};
    tgb_step_fn fn[2] = {step_grad_twice, step_hvp};
    for (int v = 0; v < 2; v++) {
      tgb_stats st;
      rc = tgb_run(fn[v], &b, &opts, &st);
      if (rc) break;
      char extra[160];
      snprintf(extra, sizeof extra,
               "\"variant\": \"%s\", \"params\": %d, \"figure\": %.4f, "
               "\"unit\": \"ms/product\"",
               variant[v], N_VALUES, st.median_ms);
      tgb_print_json(stdout, "W7", threads, &st, extra);
    }
  }
  for (int i = 0; i < N_PARAMS; i++) {
    tg_tensor_free(b.par[i]);
    tg_tensor_free(b.v[i]);
  }
  tg_tensor_free(b.x);
  tg_tensor_free(b.y);
  tg_tape_free(b.tp);
  return rc ? 1 : 0;
}
