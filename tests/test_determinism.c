/* Determinism and steady memory.
 *
 *   (a) The same seed gives bit-identical parameters after 100 Adam steps
 *       of a small f32 MLP (with dropout, so the tape's generator takes
 *       part), run twice in one process.
 *   (b) Two threads, each training its own model (own tape, registry,
 *       optimizer) at the same time, end with exactly the parameters that
 *       the same two trainings give one after the other.
 *   (c) Fashion-MNIST, when the data set is installed: the 784-256-128-10
 *       MLP trained by a hand-written loop (layers called directly, Adam,
 *       batches of 64) for 10,000 steps; anonymous resident memory after
 *       10,000 steps is within 1% of what it was after 100.
 *
 * OpenBLAS is asked for one thread (openblas_set_num_threads, looked up at
 * run time in the already loaded library, so the test needs no link flag
 * of its own): calls from several threads are then independent, and no
 * OpenBLAS thread pool meets Check's fork. */
#define _GNU_SOURCE

#include <check.h>
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "support.h"
#include "tapegrad.h"

#define FASHION_DIR "/usr/share/datasets/fashion-mnist"
#define FASHION_IMAGES FASHION_DIR "/train-images-idx3-ubyte.gz"
#define FASHION_LABELS FASHION_DIR "/train-labels-idx1-ubyte.gz"

static void openblas_one_thread(void) {
  void *sym = dlsym(RTLD_DEFAULT, "openblas_set_num_threads");
  if (!sym) {
    printf("openblas_set_num_threads not found; OpenBLAS keeps its own "
           "thread count\n");
    return;
  }
  void (*set)(int);
  memcpy(&set, &sym, sizeof set); /* object to function pointer */
  set(1);
}

/* --- training a small MLP ------------------------------------------------- */

typedef struct mlp_run {
  uint64_t seed;
  int steps;
  /* results */
  unsigned char *params; /* every parameter's bytes, in registry order */
  size_t len;
  double first_loss, last_loss;
  char error[600];          /* empty when the run succeeded */
  pthread_barrier_t *start; /* when not NULL, waited on before training */
} mlp_run;

enum { N_SAMPLES = 256, IN = 20, HIDDEN = 64, CLASSES = 5, BATCH = 32 };

/* Samples and labels from the seed: x ~ N(0, 1), label = argmax of a fixed
 * random projection, so there is something to learn. */
static bool make_data(uint64_t seed, tg_tensor **x, tg_tensor **y) {
  int64_t sx[2] = {N_SAMPLES, IN}, sy[1] = {N_SAMPLES};
  *x = tg_tensor_new(NULL, TG_F32, 2, sx);
  *y = tg_tensor_new(NULL, TG_F32, 1, sy);
  if (!*x || !*y) return false;
  tg_rng rng;
  tg_rng_seed(&rng, seed ^ 0xda7aull);
  double proj[IN][CLASSES];
  for (int i = 0; i < IN; i++)
    for (int c = 0; c < CLASSES; c++)
      proj[i][c] = tg_rng_normal(&rng);
  float *xd = (*x)->data, *yd = (*y)->data;
  for (int n = 0; n < N_SAMPLES; n++) {
    double score[CLASSES] = {0};
    for (int i = 0; i < IN; i++) {
      xd[n * IN + i] = (float)tg_rng_normal(&rng);
      for (int c = 0; c < CLASSES; c++)
        score[c] += xd[n * IN + i] * proj[i][c];
    }
    int best = 0;
    for (int c = 1; c < CLASSES; c++)
      if (score[c] > score[best]) best = c;
    yd[n] = (float)best;
  }
  return true;
}

/* Trains dense IN -> HIDDEN, ReLU, dropout 0.1, dense HIDDEN -> CLASSES
 * with Adam on shuffled batches, everything seeded from r->seed. Touches
 * nothing shared, so it can run on any thread. */
static void *train_mlp(void *arg) {
  mlp_run *r = arg;
  if (r->start) pthread_barrier_wait(r->start); /* both threads at once */
  r->error[0] = '\0';
  r->params = NULL;
  tg_tape *tp = tg_tape_new();
  tg_params *ps = tg_params_new();
  tg_tensor *x = NULL, *y = NULL;
  tg_layer *l[3] = {NULL};
  tg_optimizer *opt = NULL;
  tg_batcher *b = tg_batcher_new(N_SAMPLES, BATCH, true, r->seed);
  if (!tp || !ps || !b || !make_data(r->seed, &x, &y)) {
    snprintf(r->error, sizeof r->error, "setup: out of memory");
    goto done;
  }
  tg_tape_seed(tp, r->seed); /* dropout masks */
  tg_rng rng;
  tg_rng_seed(&rng, r->seed);
  l[0] = tg_dense_new(ps, tp, "fc1", IN, HIDDEN, TG_F32, &rng);
  l[1] = tg_dropout_new("drop", 0.1);
  l[2] = tg_dense_new(ps, tp, "fc2", HIDDEN, CLASSES, TG_F32, &rng);
  opt = tg_adam_new(ps, &(tg_adam_opts){.lr = 0.005});
  if (!l[0] || !l[1] || !l[2] || !opt) {
    snprintf(r->error, sizeof r->error, "setup: %s", tg_errmsg(tp));
    goto done;
  }
  for (int step = 0; step < r->steps; step++) {
    const int64_t *idx;
    int64_t n;
    if (!tg_batcher_next(b, &idx, &n)) {
      tg_batcher_reset(b);
      tg_batcher_next(b, &idx, &n);
    }
    tg_tensor *xb = tg_take_rows(tp, x, idx, n);
    tg_tensor *yb = tg_take_rows(tp, y, idx, n);
    tg_tensor *h = tg_relu(tp, tg_layer_forward(tp, l[0], xb));
    h = tg_layer_forward(tp, l[1], h);
    tg_tensor *logits = tg_layer_forward(tp, l[2], h);
    tg_tensor *loss = tg_cross_entropy(tp, logits, yb, TG_REDUCE_MEAN);
    if (!loss || tg_backward(tp, loss) != TG_OK ||
        tg_optimizer_step(opt) != TG_OK) {
      snprintf(r->error, sizeof r->error, "step %d: %s", step, tg_errmsg(tp));
      goto done;
    }
    if (step == 0) r->first_loss = tg_item(loss);
    r->last_loss = tg_item(loss);
    tg_optimizer_zero_grad(opt);
    tg_tape_reset(tp);
  }
  size_t total = 0;
  for (int i = 0; i < tg_params_count(ps); i++) {
    const tg_tensor *t = tg_params_at(ps, i);
    total += (size_t)t->numel * tg_dtype_size(t->dtype);
  }
  r->params = malloc(total);
  if (!r->params) {
    snprintf(r->error, sizeof r->error, "snapshot: out of memory");
    goto done;
  }
  r->len = total;
  size_t at = 0;
  for (int i = 0; i < tg_params_count(ps); i++) {
    const tg_tensor *t = tg_params_at(ps, i);
    tg_copy_out(t, r->params + at);
    at += (size_t)t->numel * tg_dtype_size(t->dtype);
  }
done:
  tg_optimizer_free(opt);
  for (int i = 0; i < 3; i++)
    tg_layer_free(l[i]);
  tg_batcher_free(b);
  tg_tensor_free(x);
  tg_tensor_free(y);
  tg_params_free(ps);
  tg_tape_free(tp);
  return NULL;
}

static void assert_ran(const mlp_run *r) {
  ck_assert_msg(r->error[0] == '\0', "training with seed %llu failed: %s",
                (unsigned long long)r->seed, r->error);
  ck_assert_ptr_nonnull(r->params);
  ck_assert(r->last_loss < r->first_loss); /* it learned something */
}

static bool same_params(const mlp_run *a, const mlp_run *b) {
  return a->len == b->len && memcmp(a->params, b->params, a->len) == 0;
}

START_TEST(test_same_seed_same_parameters) {
  mlp_run a = {.seed = 7, .steps = 100}, b = {.seed = 7, .steps = 100};
  mlp_run other = {.seed = 8, .steps = 100};
  train_mlp(&a);
  train_mlp(&b);
  train_mlp(&other);
  assert_ran(&a);
  assert_ran(&b);
  assert_ran(&other);
  ck_assert_msg(same_params(&a, &b),
                "two runs with seed 7 ended with different parameters");
  ck_assert(!same_params(&a, &other)); /* the seed does matter */
  printf("determinism (a): 100 Adam steps twice: %zu parameter bytes "
         "identical; loss %.4f -> %.4f\n",
         a.len, a.first_loss, a.last_loss);
  free(a.params);
  free(b.params);
  free(other.params);
}
END_TEST

START_TEST(test_threads_match_sequential_runs) {
  enum { STEPS = 300 };
  mlp_run seq[2] = {{.seed = 101, .steps = STEPS},
                    {.seed = 202, .steps = STEPS}};
  train_mlp(&seq[0]);
  train_mlp(&seq[1]);
  assert_ran(&seq[0]);
  assert_ran(&seq[1]);
  /* A few rounds, so that the two threads overlap in different ways. */
  for (int round = 0; round < 3; round++) {
    pthread_barrier_t start;
    ck_assert_int_eq(pthread_barrier_init(&start, NULL, 2), 0);
    mlp_run par[2] = {{.seed = 101, .steps = STEPS, .start = &start},
                      {.seed = 202, .steps = STEPS, .start = &start}};
    pthread_t th[2];
    for (int i = 0; i < 2; i++)
      ck_assert_int_eq(pthread_create(&th[i], NULL, train_mlp, &par[i]), 0);
    for (int i = 0; i < 2; i++)
      ck_assert_int_eq(pthread_join(th[i], NULL), 0);
    pthread_barrier_destroy(&start);
    for (int i = 0; i < 2; i++) {
      assert_ran(&par[i]);
      ck_assert_msg(same_params(&par[i], &seq[i]),
                    "round %d: the model with seed %llu trained on a thread "
                    "differs from the sequential run",
                    round, (unsigned long long)par[i].seed);
      free(par[i].params);
    }
  }
  printf("determinism (b): two threads x %d steps, 3 rounds: bit-identical "
         "to the sequential runs\n",
         STEPS);
  free(seq[0].params);
  free(seq[1].params);
}
END_TEST

/* --- (c) Fashion-MNIST: memory stays put ---------------------------------- */

/* Anonymous resident memory in KiB (see test_memory.c). */
static long rss_anon_kib(void) {
  FILE *f = fopen("/proc/self/status", "r");
  if (!f) return -1;
  char line[256];
  long kib = -1;
  while (fgets(line, sizeof line, f))
    if (sscanf(line, "RssAnon: %ld kB", &kib) == 1) break;
  fclose(f);
  return kib;
}

START_TEST(test_fashion_mlp_memory_is_steady) {
  enum { STEPS = 10000, WARM = 100, B = 64 };
  tg_tape *tp = tg_tape_new();
  ck_assert_ptr_nonnull(tp);
  tg_tensor *images = tg_load_idx(tp, FASHION_IMAGES, TG_F32, 1.0 / 255);
  tg_tensor *labels = tg_load_idx(tp, FASHION_LABELS, TG_F32, 1.0);
  ck_assert_msg(images && labels, "loading Fashion-MNIST: %s", tg_errmsg(tp));
  int64_t n = images->shape[0], flat[2] = {n, 784};
  ck_assert_int_eq(tg_tensor_set_shape(images, 2, flat), TG_OK);
  ck_assert_int_eq(labels->shape[0], n);

  tg_params *ps = tg_params_new();
  tg_rng rng;
  tg_rng_seed(&rng, 2024);
  tg_layer *l1 = tg_dense_new(ps, tp, "fc1", 784, 256, TG_F32, &rng);
  tg_layer *l2 = tg_dense_new(ps, tp, "fc2", 256, 128, TG_F32, &rng);
  tg_layer *l3 = tg_dense_new(ps, tp, "fc3", 128, 10, TG_F32, &rng);
  ck_assert(l1 && l2 && l3);
  tg_optimizer *opt = tg_adam_new(ps, &(tg_adam_opts){.lr = 1e-3});
  tg_batcher *b = tg_batcher_new(n, B, true, 2024);
  ck_assert(opt && b);

  long rss_warm = 0;
  size_t bytes_warm = 0;
  double loss_head = 0, loss_tail = 0; /* means of the first/last 100 */
  for (int step = 0; step < STEPS; step++) {
    const int64_t *idx;
    int64_t count;
    if (!tg_batcher_next(b, &idx, &count) || count < B) {
      tg_batcher_reset(b); /* whole batches only: every step is alike */
      ck_assert(tg_batcher_next(b, &idx, &count));
    }
    tg_tensor *x = tg_take_rows(tp, images, idx, count);
    tg_tensor *y = tg_take_rows(tp, labels, idx, count);
    tg_tensor *h = tg_relu(tp, tg_layer_forward(tp, l1, x));
    h = tg_relu(tp, tg_layer_forward(tp, l2, h));
    tg_tensor *logits = tg_layer_forward(tp, l3, h);
    tg_tensor *loss = tg_cross_entropy(tp, logits, y, TG_REDUCE_MEAN);
    ck_assert_msg(loss != NULL, "step %d: %s", step, tg_errmsg(tp));
    ck_assert_int_eq(tg_backward(tp, loss), TG_OK);
    ck_assert_int_eq(tg_optimizer_step(opt), TG_OK);
    if (step < 100) loss_head += tg_item(loss) / 100;
    if (step >= STEPS - 100) loss_tail += tg_item(loss) / 100;
    tg_optimizer_zero_grad(opt);
    if (step + 1 == WARM) {
      rss_warm = rss_anon_kib();
      bytes_warm = tg_tape_bytes(tp);
    }
    if (step + 1 > WARM) ck_assert_uint_eq(tg_tape_bytes(tp), bytes_warm);
    tg_tape_reset(tp);
  }
  long rss_end = rss_anon_kib();
  printf("determinism (c): Fashion-MNIST 784-256-128-10, batch %d: RssAnon "
         "%ld KiB after %d steps, %ld KiB after %d steps (%+.3f%%); mean "
         "loss %.4f (first 100) -> %.4f (last 100)\n",
         B, rss_warm, WARM, rss_end, STEPS,
         100.0 * (double)(rss_end - rss_warm) / (double)rss_warm, loss_head,
         loss_tail);
  ck_assert_int_gt(rss_warm, 0);
  ck_assert(loss_tail < loss_head);
#if defined(__SANITIZE_ADDRESS__)
  printf("determinism (c): RSS comparison not made under AddressSanitizer "
         "(its shadow memory and quarantine grow on their own)\n");
#else
  long diff = rss_end > rss_warm ? rss_end - rss_warm : rss_warm - rss_end;
  ck_assert_msg(100 * diff <= rss_warm,
                "RssAnon moved by more than 1%%: %ld KiB after %d steps, "
                "%ld KiB after %d",
                rss_warm, WARM, rss_end, STEPS);
#endif
  tg_batcher_free(b);
  tg_optimizer_free(opt);
  tg_layer_free(l1);
  tg_layer_free(l2);
  tg_layer_free(l3);
  tg_params_free(ps);
  tg_tensor_free(images);
  tg_tensor_free(labels);
  tg_tape_free(tp);
}
END_TEST

int main(void) {
  openblas_one_thread();
  Suite *s = suite_create("determinism");
  TCase *tc = tcase_create("determinism");
  tcase_set_timeout(tc, 600);
  tcase_add_test(tc, test_same_seed_same_parameters);
  tcase_add_test(tc, test_threads_match_sequential_runs);
  if (access(FASHION_IMAGES, R_OK) == 0 && access(FASHION_LABELS, R_OK) == 0)
    tcase_add_test(tc, test_fashion_mlp_memory_is_steady);
  else
    printf("determinism (c): %s not found; the Fashion-MNIST memory test is "
           "not run\n",
           FASHION_IMAGES);
  suite_add_tcase(s, tc);
  return tgt_run_suite(s);
}
