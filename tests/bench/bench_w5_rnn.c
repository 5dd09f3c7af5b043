/* W5 of BENCHMARKS.md: forward and backward through an Elman RNN (tanh),
 * input 8, hidden 16, sequence 100, batch 1, float32, one loop iteration
 * per time step:
 *
 *   h_0 = 0; h_t = tanh(x_t W_ih + b_ih + h_{t-1} W_hh + b_hh)
 *   loss = sum(h_100); tg_backward; zero the gradients; tg_tape_reset
 *
 * Two variants, one JSON line each:
 *   "loop"       the loop written by hand with primitives (two matmuls,
 *                three adds and a tanh per step), as nn.RNNCell in a
 *                Python loop;
 *   "rnn_layer"  tg_rnn_new + tg_recurrent_forward, the library's layer,
 *                which runs the same loop inside after one matmul for the
 *                input contributions of all steps.
 * One timed step is the whole forward + backward as a user runs it. */
#include <math.h>
#include <stdio.h>

#include "bench.h"
#include "tapegrad.h"

enum { IN = 8, HIDDEN = 16, SEQ = 100 };

typedef struct w5 {
  tg_tape *tp;
  tg_tensor *x;    /* [100, 8], heap */
  tg_tensor *p[4]; /* loop: W_ih [8,16], W_hh [16,16], b_ih, b_hh [16] */
  tg_params *ps;   /* rnn_layer */
  tg_layer *rnn;
} w5;

static int fail(w5 *b, const char *what) {
  fprintf(stderr, "W5 (%s): %s\n", what, tg_errmsg(b->tp));
  return 1;
}

static int step_loop(void *ctx) {
  w5 *b = ctx;
  tg_tape *tp = b->tp;
  int64_t hs[2] = {1, HIDDEN};
  tg_tensor *h = tg_zeros(tp, TG_F32, 2, hs);
  for (int t = 0; t < SEQ; t++) {
    tg_tensor *xt = tg_slice(tp, b->x, 0, t, t + 1, 1); /* [1, 8] */
    tg_tensor *a = tg_add(tp, tg_matmul(tp, xt, b->p[0]), b->p[2]);
    tg_tensor *r = tg_add(tp, tg_matmul(tp, h, b->p[1]), b->p[3]);
    h = tg_tanh(tp, tg_add(tp, a, r));
  }
  tg_tensor *loss = tg_sum_all(tp, h);
  if (!loss || tg_backward(tp, loss) != TG_OK) return fail(b, "loop");
  for (int i = 0; i < 4; i++)
    tg_zero_grad(b->p[i]);
  tg_tape_reset(tp);
  return 0;
}

static int step_layer(void *ctx) {
  w5 *b = ctx;
  tg_tape *tp = b->tp;
  int64_t xs[3] = {1, SEQ, IN};
  tg_tensor *h = NULL;
  tg_recurrent_forward(tp, b->rnn, tg_reshape(tp, b->x, 3, xs), NULL, NULL, &h,
                       NULL);
  tg_tensor *loss = tg_sum_all(tp, h);
  if (!loss || tg_backward(tp, loss) != TG_OK) return fail(b, "rnn_layer");
  tg_params_zero_grad(b->ps);
  tg_tape_reset(tp);
  return 0;
}

static int setup(w5 *b) {
  b->tp = tg_tape_new();
  b->ps = tg_params_new();
  if (!b->tp || !b->ps) return 0;
  tg_tape_seed(b->tp, 5);
  tg_rng *rng = tg_tape_rng(b->tp);
  int64_t sx[2] = {SEQ, IN}, sih[2] = {IN, HIDDEN}, shh[2] = {HIDDEN, HIDDEN},
          sb[1] = {HIDDEN};
  b->x = tg_tensor_new(b->tp, TG_F32, 2, sx);
  b->p[0] = tg_tensor_new(b->tp, TG_F32, 2, sih);
  b->p[1] = tg_tensor_new(b->tp, TG_F32, 2, shh);
  b->p[2] = tg_tensor_new(b->tp, TG_F32, 1, sb);
  b->p[3] = tg_tensor_new(b->tp, TG_F32, 1, sb);
  if (!b->x) return 0;
  tg_fill_normal(b->x, rng, 0, 1);
  double k = 1 / sqrt(HIDDEN); /* PyTorch's U(-1/sqrt(hidden), +) */
  for (int i = 0; i < 4; i++) {
    if (!b->p[i]) return 0;
    tg_fill_uniform(b->p[i], rng, -k, k);
    tg_set_requires_grad(b->p[i], true);
  }
  b->rnn = tg_rnn_new(b->ps, b->tp, "rnn", IN, HIDDEN, TG_F32, rng);
  return b->rnn != NULL;
}

int main(int argc, char **argv) {
  tgb_opts opts = {.iters = 1000, .warmup = 50};
  if (!tgb_parse_args(argc, argv, &opts)) return 2;
  int threads = tgb_setup_threads();

  w5 b = {0};
  int rc = 1;
  if (setup(&b)) {
    static const char *const variant[2] = {"loop", "rnn_layer"};
    tgb_step_fn fn[2] = {step_loop, step_layer};
    for (int v = 0; v < 2; v++) {
      tgb_stats st;
      rc = tgb_run(fn[v], &b, &opts, &st);
      if (rc) break;
      char extra[160];
      snprintf(extra, sizeof extra,
               "\"variant\": \"%s\", \"seq\": %d, \"figure\": %.3f, "
               "\"unit\": \"ms/fwd+bwd\"",
               variant[v], SEQ, st.median_ms);
      tgb_print_json(stdout, "W5", threads, &st, extra);
    }
  } else {
    fprintf(stderr, "W5: setup failed: %s\n", b.tp ? tg_errmsg(b.tp) : "");
  }
  tg_layer_free(b.rnn);
  tg_params_free(b.ps);
  for (int i = 0; i < 4; i++)
    tg_tensor_free(b.p[i]);
  tg_tensor_free(b.x);
  tg_tape_free(b.tp);
  return rc ? 1 : 0;
}
