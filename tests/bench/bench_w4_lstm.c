/* W4 of BENCHMARKS.md: one SGD training step of a one-layer LSTM over a
 * fixed random batch, float32: sequence 50, batch 32, input 64, hidden 128,
 * a dense head to 64 classes at every step, cross-entropy over all steps.
 *
 *   hs = tg_recurrent_forward(lstm, x)         x [32, 50, 64] -> [32, 50, 128]
 *   logits = head(hs)                          [32, 50, 64] -> [1600, 64]
 *   loss = tg_cross_entropy(logits, labels, mean over all 1600 steps)
 *   tg_backward; SGD (lr 0.01) step; zero_grad; tg_tape_reset
 *
 * One timed step is all of that. Fewer timed steps by default than W2/W3
 * (a step takes tens of ms), to stay well under 15 s. */
#include <stdio.h>

#include "bench.h"
#include "tapegrad.h"

enum { SEQ = 50, BATCH = 32, IN = 64, HIDDEN = 128, CLASSES = 64 };
#define LR 0.01

typedef struct w4 {
  tg_tape *tp;
  tg_params *ps;
  tg_layer *lstm, *head;
  tg_optimizer *opt;
  tg_tensor *x, *labels; /* [32, 50, 64] and [1600] (batch-major), heap */
  int steps;
  double first_loss, last_loss;
} w4;

static int setup(w4 *b) {
  b->tp = tg_tape_new();
  b->ps = tg_params_new();
  if (!b->tp || !b->ps) return 0;
  tg_tape_seed(b->tp, 4);
  tg_rng *rng = tg_tape_rng(b->tp);

  int64_t sx[3] = {BATCH, SEQ, IN}, sl[1] = {BATCH * SEQ};
  b->x = tg_tensor_new(b->tp, TG_F32, 3, sx);
  b->labels = tg_tensor_new(b->tp, TG_F32, 1, sl);
  if (!b->x || !b->labels) return 0;
  tg_fill_normal(b->x, rng, 0, 1);
  float *lab = b->labels->data;
  for (int i = 0; i < BATCH * SEQ; i++)
    lab[i] = (float)(tg_rng_u64(rng) % CLASSES);

  b->lstm = tg_lstm_new(b->ps, b->tp, "lstm", IN, HIDDEN, TG_F32, rng);
  b->head = tg_dense_new(b->ps, b->tp, "head", HIDDEN, CLASSES, TG_F32, rng);
  if (!b->lstm || !b->head) return 0;
  b->opt = tg_sgd_new(b->ps, &(tg_sgd_opts){.lr = LR});
  return b->opt != NULL;
}

static int step(void *ctx) {
  w4 *b = ctx;
  tg_tape *tp = b->tp;
  tg_tensor *hs =
      tg_recurrent_forward(tp, b->lstm, b->x, NULL, NULL, NULL, NULL);
  int64_t flat[2] = {BATCH * SEQ, CLASSES};
  tg_tensor *logits =
      tg_reshape(tp, tg_layer_forward(tp, b->head, hs), 2, flat);
  tg_tensor *loss = tg_cross_entropy(tp, logits, b->labels, TG_REDUCE_MEAN);
  if (!loss || tg_backward(tp, loss) != TG_OK ||
      tg_optimizer_step(b->opt) != TG_OK) {
    fprintf(stderr, "W4: %s\n", tg_errmsg(tp));
    return 1;
  }
  double l = tg_item(loss);
  if (b->steps++ == 0) b->first_loss = l;
  b->last_loss = l;
  tg_optimizer_zero_grad(b->opt);
  tg_tape_reset(tp);
  return 0;
}

int main(int argc, char **argv) {
  tgb_opts opts = {.iters = 30, .warmup = 3};
  if (!tgb_parse_args(argc, argv, &opts)) return 2;
  int threads = tgb_setup_threads();

  w4 b = {0};
  int rc = 1;
  if (setup(&b)) {
    tgb_stats st;
    rc = tgb_run(step, &b, &opts, &st);
    if (!rc) {
      fprintf(stderr, "W4: loss %.4f after step 1, %.4f after step %d\n",
              b.first_loss, b.last_loss, b.steps);
      char extra[160];
      snprintf(extra, sizeof extra,
               "\"seq\": %d, \"batch\": %d, \"figure\": %.3f, "
               "\"unit\": \"ms/step\"",
               SEQ, BATCH, st.median_ms);
      tgb_print_json(stdout, "W4", threads, &st, extra);
    }
  } else {
    fprintf(stderr, "W4: setup failed: %s\n", b.tp ? tg_errmsg(b.tp) : "");
  }
  tg_optimizer_free(b.opt);
  tg_layer_free(b.lstm);
  tg_layer_free(b.head);
  tg_params_free(b.ps);
  tg_tensor_free(b.x);
  tg_tensor_free(b.labels);
  tg_tape_free(b.tp);
  return rc ? 1 : 0;
}
