/* W2 of BENCHMARKS.md: one SGD training step of an MLP 784-512-512-10 with
 * ReLU on a fixed random batch of 128, float32, written as a user writes it
 * with the library's layers and optimizer:
 *
 *   h = relu(fc1(x)); h = relu(fc2(h)); logits = fc3(h)
 *   loss = tg_cross_entropy(logits, labels, mean)
 *   tg_backward; tg_optimizer_step (SGD, lr 0.01); tg_optimizer_zero_grad;
 *   tg_tape_reset
 *
 * One timed step is all of that. Besides the usual fields the line carries
 *   peak_rss_mib     M1: VmHWM of the process after all its steps (20
 *                    warm-up + 200 timed by default);
 *   allocs_per_step  A1: allocations per timed step, counted by
 *                    tg_alloc_count() from the end of the warm-up to the
 *                    end of the timed steps. It counts the library's own
 *                    allocations only (every tg__malloc); memory OpenBLAS
 *                    or libc take for themselves is not seen.
 * The loss of the first and the last step goes to stderr. */
#include <stdio.h>

#include "bench.h"
#include "tapegrad.h"

enum { BATCH = 128, IN = 784, HIDDEN = 512, CLASSES = 10 };
#define LR 0.01

typedef struct w2 {
  tg_tape *tp;
  tg_params *ps;
  tg_layer *fc1, *fc2, *fc3;
  tg_optimizer *opt;
  tg_tensor *x, *labels; /* [128, 784] and [128], heap */
  int steps;
  double first_loss, last_loss;
  size_t arena_bytes; /* the tape's arena in use at the end of a step */
} w2;

static int setup(w2 *b) {
  b->tp = tg_tape_new();
  b->ps = tg_params_new();
  if (!b->tp || !b->ps) return 0;
  tg_tape_seed(b->tp, 2);
  tg_rng *rng = tg_tape_rng(b->tp);

  int64_t sx[2] = {BATCH, IN}, sl[1] = {BATCH};
  b->x = tg_tensor_new(b->tp, TG_F32, 2, sx);
  b->labels = tg_tensor_new(b->tp, TG_F32, 1, sl);
  if (!b->x || !b->labels) return 0;
  tg_fill_normal(b->x, rng, 0, 1);
  float *lab = b->labels->data;
  for (int i = 0; i < BATCH; i++)
    lab[i] = (float)(tg_rng_u64(rng) % CLASSES);

  b->fc1 = tg_dense_new(b->ps, b->tp, "fc1", IN, HIDDEN, TG_F32, rng);
  b->fc2 = tg_dense_new(b->ps, b->tp, "fc2", HIDDEN, HIDDEN, TG_F32, rng);
  b->fc3 = tg_dense_new(b->ps, b->tp, "fc3", HIDDEN, CLASSES, TG_F32, rng);
  if (!b->fc1 || !b->fc2 || !b->fc3) return 0;
  b->opt = tg_sgd_new(b->ps, &(tg_sgd_opts){.lr = LR});
  return b->opt != NULL;
}

static int step(void *ctx) {
  w2 *b = ctx;
  tg_tape *tp = b->tp;
  tg_tensor *h = tg_relu(tp, tg_layer_forward(tp, b->fc1, b->x));
  h = tg_relu(tp, tg_layer_forward(tp, b->fc2, h));
  tg_tensor *loss = tg_cross_entropy(tp, tg_layer_forward(tp, b->fc3, h),
                                     b->labels, TG_REDUCE_MEAN);
  if (!loss || tg_backward(tp, loss) != TG_OK ||
      tg_optimizer_step(b->opt) != TG_OK) {
    fprintf(stderr, "W2: %s\n", tg_errmsg(tp));
    return 1;
  }
  double l = tg_item(loss);
  if (b->steps++ == 0) b->first_loss = l;
  b->last_loss = l;
  b->arena_bytes = tg_tape_bytes(tp);
  tg_optimizer_zero_grad(b->opt);
  tg_tape_reset(tp);
  return 0;
}

/* A1: count the library's allocations from here on. */
static void reset_alloc_count(void *ctx) {
  (void)ctx;
  tg_alloc_fail_at(0);
}

int main(int argc, char **argv) {
  tgb_opts opts = {.iters = 200, .warmup = 20};
  if (!tgb_parse_args(argc, argv, &opts)) return 2;
  opts.before_timed = reset_alloc_count;
  int threads = tgb_setup_threads();

  w2 b = {0};
  int rc = 1;
  if (setup(&b)) {
    tgb_stats st;
    rc = tgb_run(step, &b, &opts, &st);
    if (!rc) {
      double allocs = (double)tg_alloc_count() / st.iters;
      fprintf(stderr, "W2: loss %.4f after step 1, %.4f after step %d\n",
              b.first_loss, b.last_loss, b.steps);
      char extra[256];
      snprintf(extra, sizeof extra,
               "\"batch\": %d, \"figure\": %.3f, \"unit\": \"ms/step\", "
               "\"peak_rss_mib\": %.1f, \"allocs_per_step\": %.2f, "
               "\"arena_mib\": %.1f",
               BATCH, st.median_ms, tgb_peak_rss_mib(), allocs,
               (double)b.arena_bytes / (1024.0 * 1024.0));
      tgb_print_json(stdout, "W2", threads, &st, extra);
    }
  } else {
    fprintf(stderr, "W2: setup failed: %s\n", b.tp ? tg_errmsg(b.tp) : "");
  }
  tg_optimizer_free(b.opt);
  tg_layer_free(b.fc1);
  tg_layer_free(b.fc2);
  tg_layer_free(b.fc3);
  tg_params_free(b.ps);
  tg_tensor_free(b.x);
  tg_tensor_free(b.labels);
  tg_tape_free(b.tp);
  return rc ? 1 : 0;
}
