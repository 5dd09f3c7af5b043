/* F1S: one training step of F1's network (examples/fashion_cnn) on random
 * data, so that F1's cost can be measured in seconds instead of an epoch.
 * Not a workload of BENCHMARKS.md's table; added beside it (the contract's
 * rule: add workloads, change none).
 *
 *   conv 3x3 -> 32, ReLU, max pool 2; conv 3x3 -> 64, ReLU, max pool 2;
 *   dense 1600-128 ReLU; dense 128-10; cross-entropy; Adam lr 1e-3
 *
 * The model is built with the sequential API, as the example builds it, and
 * trained with tg_model_fit on STEPS batches of 64 random images per timed
 * iteration (shuffling and all, as a user runs it); the figure is the
 * iteration's time over STEPS, in ms per step. */
#include <stdio.h>

#include "bench.h"
#include "tapegrad.h"

enum { BATCH = 64, STEPS = 10, CLASSES = 10 };

typedef struct f1s {
  tg_model *model;
  tg_tensor *x, *y;
  double loss;
} f1s;

static int step(void *ctx) {
  f1s *b = ctx;
  tg_fit_opts fo = {.epochs = 1, .batch_size = BATCH, .verbose = 0};
  tg_history *h = tg_model_fit(b->model, b->x, b->y, &fo);
  if (!h) {
    fprintf(stderr, "F1S: %s\n", tg_model_errmsg(b->model));
    return 1;
  }
  b->loss = h->loss[0];
  tg_history_free(h);
  return 0;
}

int main(int argc, char **argv) {
  tgb_opts opts = {.iters = 20, .warmup = 3};
  if (!tgb_parse_args(argc, argv, &opts)) return 2;
  int threads = tgb_setup_threads();

  f1s b = {0};
  tg_tape *tp = tg_tape_new();
  b.model = tg_sequential_new(TG_F32, 42);
  if (!tp || !b.model) return 1;
  tg_tape_seed(tp, 5);
  int64_t sx[4] = {BATCH * STEPS, 1, 28, 28}, sy[1] = {BATCH * STEPS};
  b.x = tg_tensor_new(NULL, TG_F32, 4, sx);
  b.y = tg_tensor_new(NULL, TG_F32, 1, sy);
  if (!b.x || !b.y) return 1;
  tg_fill_uniform(b.x, tg_tape_rng(tp), 0, 1);
  float *lab = b.y->data;
  for (int i = 0; i < BATCH * STEPS; i++)
    lab[i] = (float)(tg_rng_u64(tg_tape_rng(tp)) % CLASSES);
  tg_model_add_conv2d(b.model, 1, 32, 3, 0, TG_ACT_RELU);
  tg_model_add_max_pool2d(b.model, 2);
  tg_model_add_conv2d(b.model, 32, 64, 3, 0, TG_ACT_RELU);
  tg_model_add_max_pool2d(b.model, 2);
  tg_model_add_flatten(b.model);
  tg_model_add_dense(b.model, 1600, 128, TG_ACT_RELU);
  tg_model_add_dense(b.model, 128, 10, TG_ACT_NONE);
  tg_adam_opts adam = {1e-3, 0, 0, 0, 0};
  if (tg_model_compile(b.model, TG_LOSS_CROSS_ENTROPY,
                       tg_adam_new(tg_model_params(b.model), &adam),
                       0) != TG_OK) {
    fprintf(stderr, "F1S: %s\n", tg_model_errmsg(b.model));
    return 1;
  }
  tgb_stats st;
  int rc = tgb_run(step, &b, &opts, &st);
  if (!rc) {
    fprintf(stderr, "F1S: training loss %.4f in the last iteration\n", b.loss);
    /* per step, not per iteration of STEPS steps */
    st.median_ms /= STEPS;
    st.min_ms /= STEPS;
    st.max_ms /= STEPS;
    st.mean_ms /= STEPS;
    st.p90_ms /= STEPS;
    tgb_print_json(stdout, "F1S", threads, &st, "\"batch\": 64");
  }
  tg_model_free(b.model);
  tg_tensor_free(b.x);
  tg_tensor_free(b.y);
  tg_tape_free(tp);
  return rc ? 1 : 0;
}
