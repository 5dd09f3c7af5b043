/* W1 of BENCHMARKS.md: the per-op overhead of the tape. A chain of 10,000
 * ops alternating add, mul and tanh on one-element float32 tensors that
 * require a gradient, then tg_backward:
 *
 *   y = x; for i in 0..9999: y = (i % 3 == 0) ? y + a
 *                               : (i % 3 == 1) ? y * b : tanh(y)
 *
 * x, a and b are heap leaves requiring a gradient. The chain runs twice:
 * on 0-d tensors (variant "0-d") and on tensors of shape [1] ("[1]"); each
 * prints its own JSON line. One timed step is forward, backward, zeroing
 * the three gradients and tg_tape_reset; the figure is the step's median
 * time / 10,000 in ns per op. The forward and backward parts are also
 * timed separately (fwd_ns_per_op, bwd_ns_per_op: medians over the timed
 * steps, backward including zeroing and reset). */
#include <stdio.h>
#include <stdlib.h>

#include "bench.h"
#include "tapegrad.h"

enum { N_OPS = 10000 };

typedef struct w1 {
  tg_tape *tp;
  tg_tensor *x, *a, *b; /* heap leaves, requires_grad */
  double *fwd_ms, *bwd_ms;
  int timed, cap; /* steps recorded in fwd_ms/bwd_ms; their capacity */
  size_t nodes, bytes;
} w1;

static tg_tensor *leaf(tg_tape *tp, int ndim, double value) {
  int64_t shape[1] = {1};
  tg_tensor *t = tg_tensor_new(tp, TG_F32, ndim, shape);
  if (!t) return NULL;
  tg_fill(t, value);
  return tg_set_requires_grad(t, true);
}

static void start_timing(void *ctx) { ((w1 *)ctx)->timed = 0; }

static int step(void *ctx) {
  w1 *b = ctx;
  tg_tape *tp = b->tp;
  double t0 = tgb_now_ms();
  tg_tensor *y = b->x;
  for (int i = 0; i < N_OPS; i++) {
    switch (i % 3) {
    case 0: y = tg_add(tp, y, b->a); break;
    case 1: y = tg_mul(tp, y, b->b); break;
    default: y = tg_tanh(tp, y); break;
    }
  }
  double t1 = tgb_now_ms();
  if (!y || tg_backward(tp, y) != TG_OK) {
    fprintf(stderr, "W1: %s\n", tg_errmsg(tp));
    return 1;
  }
  if (!tg_grad_of(b->x)) {
    fprintf(stderr, "W1: no gradient reached x\n");
    return 1;
  }
  b->nodes = tg_tape_nodes(tp);
  b->bytes = tg_tape_bytes(tp);
  tg_zero_grad(b->x);
  tg_zero_grad(b->a);
  tg_zero_grad(b->b);
  tg_tape_reset(tp);
  double t2 = tgb_now_ms();
  if (b->timed < b->cap) {
    b->fwd_ms[b->timed] = t1 - t0;
    b->bwd_ms[b->timed] = t2 - t1;
    b->timed++;
  }
  return 0;
}

/* Runs the chain on tensors of ndim 0 or 1 and prints its line. */
static int run(int ndim, const tgb_opts *opts, int threads) {
  const char *variant = ndim ? "[1]" : "0-d";
  double *fwd = malloc(2 * (size_t)opts->iters * sizeof *fwd);
  w1 b = {.fwd_ms = fwd, .bwd_ms = fwd + opts->iters, .cap = opts->iters};
  b.tp = fwd ? tg_tape_new() : NULL;
  if (!b.tp) {
    free(fwd);
    return 1;
  }
  b.x = leaf(b.tp, ndim, 0.5);
  b.a = leaf(b.tp, ndim, 0.1);
  b.b = leaf(b.tp, ndim, 0.9);
  int rc = 1;
  if (b.x && b.a && b.b) {
    tgb_opts o = *opts;
    o.before_timed = start_timing;
    tgb_stats st;
    rc = tgb_run(step, &b, &o, &st);
    if (!rc) {
      char extra[320];
      snprintf(extra, sizeof extra,
               "\"variant\": \"%s\", \"ops\": %d, \"figure\": %.1f, "
               "\"unit\": \"ns/op\", \"fwd_ns_per_op\": %.1f, "
               "\"bwd_ns_per_op\": %.1f, \"tape_nodes\": %zu, "
               "\"arena_bytes_per_op\": %.0f",
               variant, N_OPS, st.median_ms * 1e6 / N_OPS,
               tgb_median(b.fwd_ms, b.timed) * 1e6 / N_OPS,
               tgb_median(b.bwd_ms, b.timed) * 1e6 / N_OPS, b.nodes,
               (double)b.bytes / N_OPS);
      tgb_print_json(stdout, "W1", threads, &st, extra);
    }
  } else {
    fprintf(stderr, "W1: setup failed: %s\n", tg_errmsg(b.tp));
  }
  tg_tensor_free(b.x);
  tg_tensor_free(b.a);
  tg_tensor_free(b.b);
  tg_tape_free(b.tp);
  free(fwd);
  return rc;
}

int main(int argc, char **argv) {
  tgb_opts opts = {.iters = 200, .warmup = 20};
  if (!tgb_parse_args(argc, argv, &opts)) return 2;
  int threads = tgb_setup_threads();
  if (run(0, &opts, threads) || run(1, &opts, threads)) return 1;
  return 0;
}
