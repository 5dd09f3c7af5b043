/* W3 of BENCHMARKS.md: one SGD training step of LeNet-5 on a fixed random
 * batch of 64 images 1x28x28, float32.
 *
 *   conv 5x5 -> 6 (padding 2), ReLU, maxpool 2    [64, 6, 14, 14]
 *   conv 5x5 -> 16, ReLU, maxpool 2               [64, 16, 5, 5]
 *   flatten, dense 400-120 ReLU, 120-84 ReLU, 84-10
 *   cross-entropy = -mean(gather(log_softmax(logits, 1), 1, labels))
 *   SGD, lr 0.01
 *
 * One timed step is the whole step as a user runs it: forward, tg_backward,
 * the update of every parameter (and zeroing its gradient), tg_tape_reset.
 * The loss of the first and the last step goes to stderr. */
#include <math.h>
#include <stdio.h>

#include "bench.h"
#include "tapegrad.h"

enum { BATCH = 64, CLASSES = 10, N_PARAMS = 10 };
#define LR 0.01f

typedef struct w3 {
  tg_tape *tp;
  tg_tensor *x, *labels;       /* [64,1,28,28] and [64,1], heap */
  tg_tensor *params[N_PARAMS]; /* c1w c1b c2w c2b f1w f1b f2w f2b f3w f3b */
  int steps;
  double first_loss, last_loss;
} w3;

static tg_tensor *param(w3 *b, int ndim, const int64_t *shape, double std) {
  tg_tensor *p = tg_tensor_new(b->tp, TG_F32, ndim, shape);
  if (!p) return NULL;
  if (std > 0) tg_fill_normal(p, tg_tape_rng(b->tp), 0, std);
  return tg_set_requires_grad(p, true);
}

static int setup(w3 *b) {
  b->tp = tg_tape_new();
  if (!b->tp) return 0;
  tg_tape_seed(b->tp, 3);
  tg_rng *rng = tg_tape_rng(b->tp);

  int64_t sx[4] = {BATCH, 1, 28, 28}, sl[2] = {BATCH, 1};
  b->x = tg_tensor_new(b->tp, TG_F32, 4, sx);
  b->labels = tg_tensor_new(b->tp, TG_F32, 2, sl);
  if (!b->x || !b->labels) return 0;
  tg_fill_normal(b->x, rng, 0, 1);
  float *lab = b->labels->data;
  for (int i = 0; i < BATCH; i++)
    lab[i] = (float)(tg_rng_u64(rng) % CLASSES);

  /* He-style initialisation: std sqrt(2 / fan_in); biases small. */
  int64_t c1w[4] = {6, 1, 5, 5}, c1b[1] = {6};
  int64_t c2w[4] = {16, 6, 5, 5}, c2b[1] = {16};
  int64_t f1w[2] = {400, 120}, f1b[1] = {120};
  int64_t f2w[2] = {120, 84}, f2b[1] = {84};
  int64_t f3w[2] = {84, 10}, f3b[1] = {10};
  b->params[0] = param(b, 4, c1w, sqrt(2.0 / 25));
  b->params[1] = param(b, 1, c1b, 0.01);
  b->params[2] = param(b, 4, c2w, sqrt(2.0 / 150));
  b->params[3] = param(b, 1, c2b, 0.01);
  b->params[4] = param(b, 2, f1w, sqrt(2.0 / 400));
  b->params[5] = param(b, 1, f1b, 0.01);
  b->params[6] = param(b, 2, f2w, sqrt(2.0 / 120));
  b->params[7] = param(b, 1, f2b, 0.01);
  b->params[8] = param(b, 2, f3w, sqrt(2.0 / 84));
  b->params[9] = param(b, 1, f3b, 0.01);
  for (int i = 0; i < N_PARAMS; i++)
    if (!b->params[i]) return 0;
  return 1;
}

static tg_tensor *forward(w3 *b) {
  tg_tape *tp = b->tp;
  tg_tensor **p = b->params;
  tg_conv_opts pad2 = {{1, 1}, {2, 2}, {1, 1}, 1};
  tg_conv_opts nopad = {{1, 1}, {0, 0}, {1, 1}, 1};
  tg_window pool2 = {{2, 2}, {2, 2}, {0, 0}, {1, 1}};

  tg_tensor *h = tg_conv2d(tp, b->x, p[0], p[1], &pad2); /* [64,6,28,28] */
  h = tg_max_pool2d(tp, tg_relu(tp, h), &pool2);         /* [64,6,14,14] */
  h = tg_conv2d(tp, h, p[2], p[3], &nopad);              /* [64,16,10,10] */
  h = tg_max_pool2d(tp, tg_relu(tp, h), &pool2);         /* [64,16,5,5] */
  int64_t flat[2] = {BATCH, 400};
  h = tg_reshape(tp, h, 2, flat);
  h = tg_relu(tp, tg_add(tp, tg_matmul(tp, h, p[4]), p[5]));
  h = tg_relu(tp, tg_add(tp, tg_matmul(tp, h, p[6]), p[7]));
  tg_tensor *logits = tg_add(tp, tg_matmul(tp, h, p[8]), p[9]);
  tg_tensor *logp = tg_log_softmax(tp, logits, 1);
  return tg_neg(tp, tg_mean_all(tp, tg_gather(tp, logp, 1, b->labels)));
}

static int step(void *ctx) {
  w3 *b = ctx;
  tg_tensor *loss = forward(b);
  if (!loss || tg_backward(b->tp, loss) != TG_OK) {
    fprintf(stderr, "W3: %s\n", tg_errmsg(b->tp));
    return 1;
  }
  double l = tg_item(loss);
  if (b->steps++ == 0) b->first_loss = l;
  b->last_loss = l;
  for (int i = 0; i < N_PARAMS; i++) {
    tg_tensor *p = b->params[i], *g = tg_grad_of(p);
    if (!g) {
      fprintf(stderr, "W3: no gradient reached parameter %d\n", i);
      return 1;
    }
    float *w = p->data;
    const float *gd = g->data;
    for (int64_t j = 0; j < p->numel; j++)
      w[j] -= LR * gd[j];
    tg_zero_grad(p);
  }
  tg_tape_reset(b->tp);
  return 0;
}

int main(int argc, char **argv) {
  tgb_opts opts = {.iters = 200, .warmup = 20};
  if (!tgb_parse_args(argc, argv, &opts)) return 2;
  int threads = tgb_setup_threads();

  w3 b = {0};
  if (!setup(&b)) {
    fprintf(stderr, "W3: setup failed: %s\n", b.tp ? tg_errmsg(b.tp) : "");
    return 1;
  }
  tgb_stats st;
  int rc = tgb_run(step, &b, &opts, &st);
  if (!rc) {
    fprintf(stderr, "W3: loss %.4f after step 1, %.4f after step %d\n",
            b.first_loss, b.last_loss, b.steps);
    char extra[96]; /* M1: peak resident memory after the run's steps */
    snprintf(extra, sizeof extra, "\"batch\": 64, \"peak_rss_mib\": %.1f",
             tgb_peak_rss_mib());
    tgb_print_json(stdout, "W3", threads, &st, extra);
  }
  for (int i = 0; i < N_PARAMS; i++)
    tg_tensor_free(b.params[i]);
  tg_tensor_free(b.x);
  tg_tensor_free(b.labels);
  tg_tape_free(b.tp);
  return rc ? 1 : 0;
}
