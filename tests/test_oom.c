/* Out-of-memory injection, in the manner of SQLite's malloc tests: every
 * workload runs with tg_alloc_fail_at(k) for k = 1, 2, 3, ... until it no
 * longer reaches its k-th allocation (tg_alloc_count), and so completes.
 * For every k the workload either succeeds or fails cleanly:
 *
 *   - a NULL or a status, with the tape's error TG_ERR_NOMEM and a message
 *     containing "out of memory" (or the documented bare NULL of functions
 *     that have no tape: tg_tape_new, tg_params_new, tg_sequential_new);
 *   - nothing leaks (the ASan build checks that at exit);
 *   - nothing is lost: a failed training step leaves the parameters and
 *     the optimizer's state exactly as they were. The parameters are
 *     compared byte for byte; the optimizer's state, which is private, is
 *     checked by running the step again without injection and comparing
 *     the result with an uninjected reference step (a state touched by the
 *     failed step would give other bytes);
 *   - tg_optimizer_step allocates nothing, so it never fails, even with
 *     every allocation failing.
 *
 * Workloads (a) (an MLP, small and wide) and (b) (an LSTM) are training
 * steps: their tapes, registries and optimizers are made before the
 * injection starts, so it hits the step itself. (b') builds the LSTM under
 * injection. The save (c), load (d) and model (e) workloads build
 * everything inside the injected region. */
#define _POSIX_C_SOURCE 200809L

#include <check.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "support.h"
#include "tapegrad.h"

/* No workload here comes near this many allocations. */
#define MAX_K 100000

/* --- helpers -------------------------------------------------------------- */

/* Every entry of the registry (parameters and buffers), in order, as one
 * malloc'd block of bytes. */
static unsigned char *snapshot(const tg_params *ps, size_t *len) {
  size_t total = 0;
  for (int i = 0; i < tg_params_count(ps); i++) {
    const tg_tensor *t = tg_params_at(ps, i);
    total += (size_t)t->numel * tg_dtype_size(t->dtype);
  }
  unsigned char *buf = malloc(total ? total : 1);
  ck_assert_ptr_nonnull(buf);
  size_t at = 0;
  for (int i = 0; i < tg_params_count(ps); i++) {
    const tg_tensor *t = tg_params_at(ps, i);
    ck_assert_int_eq(tg_copy_out(t, buf + at), TG_OK);
    at += (size_t)t->numel * tg_dtype_size(t->dtype);
  }
  *len = total;
  return buf;
}

static bool same_bytes(const unsigned char *a, size_t na,
                       const unsigned char *b, size_t nb) {
  return na == nb && memcmp(a, b, na) == 0;
}

/* A failure that out of memory caused: the tape holds TG_ERR_NOMEM and a
 * message saying so. */
static void assert_oom_error(const tg_tape *tp, const char *what, uint64_t k) {
  if (tg_error(tp) != TG_ERR_NOMEM || !strstr(tg_errmsg(tp), "out of memory"))
    ck_abort_msg("%s, k = %llu: expected an out-of-memory error, got status "
                 "%d: '%s'",
                 what, (unsigned long long)k, (int)tg_error(tp), tg_errmsg(tp));
}

/* The injection loop's bookkeeping for one k. Returns true when the
 * workload did not reach allocation k (so it ran to completion and the
 * loop is over). */
static bool finished(const char *what, uint64_t k, bool ok, uint64_t count) {
  if (count < k) {
    /* No allocation failed: the workload must have succeeded. */
    if (!ok)
      ck_abort_msg("%s, k = %llu: failed after only %llu allocations, none "
                   "of which was made to fail",
                   what, (unsigned long long)k, (unsigned long long)count);
    return true;
  }
  ck_assert_uint_lt(k, MAX_K);
  return false;
}

static void report(const char *what, uint64_t k, uint64_t failures) {
  printf("oom %s: %llu k values tried (%llu clean failures, then success "
         "with %llu allocations)\n",
         what, (unsigned long long)k, (unsigned long long)failures,
         (unsigned long long)(k - 1));
  fflush(stdout);
}

/* Fills a heap tensor with N(0, 1) values from a fixed seed. */
static tg_tensor *heap_normal(tg_dtype dt, int ndim, const int64_t *shape,
                              uint64_t seed) {
  tg_tensor *t = tg_tensor_new(NULL, dt, ndim, shape);
  ck_assert_ptr_nonnull(t);
  tg_rng rng;
  tg_rng_seed(&rng, seed);
  tg_fill_normal(t, &rng, 0, 1);
  return t;
}

/* Class labels 0 .. classes-1 (whole numbers in f32), cycling. */
static tg_tensor *heap_labels(int64_t n, int classes) {
  tg_tensor *t = tg_tensor_new(NULL, TG_F32, 1, &n);
  ck_assert_ptr_nonnull(t);
  for (int64_t i = 0; i < n; i++)
    ((float *)t->data)[i] = (float)(i % classes);
  return t;
}

/* --- training steps ------------------------------------------------------- */

/* What a training-step workload keeps between its setup and its step. */
typedef struct step_ctx {
  tg_tape *tp;
  tg_params *ps;
  tg_optimizer *opt;
  tg_layer *layers[2];
  tg_tensor *x, *y;
} step_ctx;

typedef void (*setup_fn)(step_ctx *c);
/* The forward pass and the loss; NULL on failure. */
typedef tg_tensor *(*loss_fn)(step_ctx *c);

static void step_ctx_free(step_ctx *c) {
  tg_optimizer_free(c->opt);
  for (int i = 0; i < 2; i++)
    tg_layer_free(c->layers[i]);
  tg_params_free(c->ps);
  tg_tensor_free(c->x);
  tg_tensor_free(c->y);
  tg_tape_free(c->tp);
  memset(c, 0, sizeof *c);
}

/* (a) an MLP: dense in -> hidden, ReLU, dense hidden -> 3, cross-entropy,
 * Adam, on a batch of the given size. */
static void mlp_setup_sized(step_ctx *c, int64_t batch, int64_t in,
                            int64_t hidden) {
  memset(c, 0, sizeof *c);
  c->tp = tg_tape_new();
  c->ps = tg_params_new();
  ck_assert(c->tp && c->ps);
  tg_rng rng;
  tg_rng_seed(&rng, 11);
  c->layers[0] = tg_dense_new(c->ps, c->tp, "fc1", in, hidden, TG_F32, &rng);
  c->layers[1] = tg_dense_new(c->ps, c->tp, "fc2", hidden, 3, TG_F32, &rng);
  ck_assert(c->layers[0] && c->layers[1]);
  c->opt = tg_adam_new(c->ps, &(tg_adam_opts){.lr = 0.01});
  ck_assert_ptr_nonnull(c->opt);
  int64_t sx[2] = {batch, in};
  c->x = heap_normal(TG_F32, 2, sx, 12);
  c->y = heap_labels(batch, 3);
}

static void mlp_setup(step_ctx *c) { mlp_setup_sized(c, 8, 6, 16); }

/* Large enough that the step's tensors spill over several arena chunks. */
static void wide_mlp_setup(step_ctx *c) { mlp_setup_sized(c, 128, 32, 1024); }

static tg_tensor *mlp_loss(step_ctx *c) {
  tg_tensor *h = tg_relu(c->tp, tg_layer_forward(c->tp, c->layers[0], c->x));
  tg_tensor *out = tg_layer_forward(c->tp, c->layers[1], h);
  return tg_cross_entropy(c->tp, out, c->y, TG_REDUCE_MEAN);
}

/* (b) an LSTM over [2, 4, 3] with 5 hidden units, MSE against a target of
 * all hidden states, SGD with momentum (so that it has a state). */
static void lstm_setup(step_ctx *c) {
  memset(c, 0, sizeof *c);
  c->tp = tg_tape_new();
  c->ps = tg_params_new();
  ck_assert(c->tp && c->ps);
  tg_rng rng;
  tg_rng_seed(&rng, 21);
  c->layers[0] = tg_lstm_new(c->ps, c->tp, "lstm", 3, 5, TG_F32, &rng);
  ck_assert_ptr_nonnull(c->layers[0]);
  c->opt = tg_sgd_new(c->ps, &(tg_sgd_opts){.lr = 0.1, .momentum = 0.9});
  ck_assert_ptr_nonnull(c->opt);
  int64_t sx[3] = {2, 4, 3}, sy[3] = {2, 4, 5};
  c->x = heap_normal(TG_F32, 3, sx, 22);
  c->y = heap_normal(TG_F32, 3, sy, 23);
}

static tg_tensor *lstm_loss(step_ctx *c) {
  tg_tensor *hs =
      tg_recurrent_forward(c->tp, c->layers[0], c->x, NULL, NULL, NULL, NULL);
  return tg_mse_loss(c->tp, hs, c->y, TG_REDUCE_MEAN);
}

/* One training step: forward, backward, optimizer step. Returns false
 * when forward or backward failed (the optimizer then does not step). The
 * optimizer step itself must succeed without one allocation, whatever the
 * injection. */
static bool train_step(step_ctx *c, loss_fn loss_of) {
  tg_tensor *loss = loss_of(c);
  if (!loss) return false;
  if (tg_backward(c->tp, loss) != TG_OK) return false;
  uint64_t before = tg_alloc_count();
  ck_assert_int_eq(tg_optimizer_step(c->opt), TG_OK);
  ck_assert_uint_eq(tg_alloc_count(), before); /* it allocated nothing */
  return true;
}

static void run_step_workload(const char *what, setup_fn setup,
                              loss_fn loss_of) {
  /* The reference: one uninjected step from the same start. */
  step_ctx c;
  setup(&c);
  size_t n_start, n_ref;
  unsigned char *start = snapshot(c.ps, &n_start);
  ck_assert(train_step(&c, loss_of));
  unsigned char *ref = snapshot(c.ps, &n_ref);
  ck_assert(!same_bytes(start, n_start, ref, n_ref)); /* it did move */
  step_ctx_free(&c);
  free(start);

  uint64_t k, failures = 0;
  for (k = 1;; k++) {
    setup(&c);
    size_t n_before;
    unsigned char *before = snapshot(c.ps, &n_before);
    tg_alloc_fail_at(k);
    bool ok = train_step(&c, loss_of);
    uint64_t count = tg_alloc_count();
    tg_alloc_fail_at(0);
    size_t n_now;
    unsigned char *now = snapshot(c.ps, &n_now);
    if (ok) {
      ck_assert_msg(same_bytes(now, n_now, ref, n_ref),
                    "%s, k = %llu: a step that succeeded gave other "
                    "parameters than the reference step",
                    what, (unsigned long long)k);
    } else {
      failures++;
      assert_oom_error(c.tp, what, k);
      ck_assert_msg(same_bytes(now, n_now, before, n_before),
                    "%s, k = %llu: a failed step changed the parameters", what,
                    (unsigned long long)k);
      ck_assert_int_eq(tg_optimizer_steps(c.opt), 0);
      /* The optimizer's state is intact if the same step, run again
       * without injection, lands exactly where the reference did.
       * Gradients a failed backward may have deposited are zeroed first,
       * as a caller recovering from the error would. */
      tg_clear_error(c.tp);
      tg_tape_reset(c.tp);
      tg_params_zero_grad(c.ps);
      ck_assert(train_step(&c, loss_of));
      free(now);
      now = snapshot(c.ps, &n_now);
      ck_assert_msg(same_bytes(now, n_now, ref, n_ref),
                    "%s, k = %llu: after a failed step, a clean step gave "
                    "other parameters than the reference",
                    what, (unsigned long long)k);
    }
    free(before);
    free(now);
    step_ctx_free(&c);
    if (finished(what, k, ok, count)) break;
  }
  free(ref);
  ck_assert_uint_gt(failures, 0); /* the injection did hit the step */
  report(what, k, failures);
}

START_TEST(test_mlp_step) {
  run_step_workload("(a) MLP step", mlp_setup, mlp_loss);
}
END_TEST

START_TEST(test_wide_mlp_step) {
  run_step_workload("(a) wide MLP step", wide_mlp_setup, mlp_loss);
}
END_TEST

START_TEST(test_warm_step_allocates_nothing) {
  /* After a first step the arena holds all a step needs and every gradient
   * buffer exists: the next steps take nothing from the system, so even
   * with every allocation failing they succeed. */
  step_ctx c;
  wide_mlp_setup(&c);
  ck_assert(train_step(&c, mlp_loss));
  tg_optimizer_zero_grad(c.opt);
  tg_tape_reset(c.tp);
  for (int s = 0; s < 3; s++) {
    tg_alloc_fail_at(1);
    bool ok = train_step(&c, mlp_loss);
    uint64_t count = tg_alloc_count();
    tg_alloc_fail_at(0);
    ck_assert_msg(ok, "warm step %d failed: %s", s, tg_errmsg(c.tp));
    ck_assert_uint_eq(count, 0);
    tg_optimizer_zero_grad(c.opt);
    tg_tape_reset(c.tp);
  }
  step_ctx_free(&c);
}
END_TEST

START_TEST(test_lstm_step) {
  run_step_workload("(b) LSTM step", lstm_setup, lstm_loss);
}
END_TEST

START_TEST(test_optimizer_step_allocates_nothing) {
  /* Every allocation fails, and every kind of optimizer still steps. */
  step_ctx c;
  mlp_setup(&c);
  ck_assert(train_step(&c, mlp_loss)); /* gradients exist now */
  tg_optimizer *opts[5] = {
      tg_sgd_new(c.ps, &(tg_sgd_opts){.lr = 0.1, .momentum = 0.9}),
      tg_adam_new(c.ps, &(tg_adam_opts){0}),
      tg_adamw_new(c.ps, &(tg_adam_opts){0}),
      tg_rmsprop_new(c.ps, &(tg_rmsprop_opts){0}),
      tg_adagrad_new(c.ps, &(tg_adagrad_opts){0})};
  for (int i = 0; i < 5; i++) {
    ck_assert_ptr_nonnull(opts[i]);
    tg_alloc_fail_at(1);
    for (int s = 0; s < 3; s++)
      ck_assert_int_eq(tg_optimizer_step(opts[i]), TG_OK);
    tg_optimizer_zero_grad(opts[i]);
    uint64_t count = tg_alloc_count();
    tg_alloc_fail_at(0);
    ck_assert_uint_eq(count, 0);
    ck_assert_int_eq(tg_optimizer_steps(opts[i]), 3);
    tg_optimizer_free(opts[i]);
  }
  step_ctx_free(&c);
}
END_TEST

/* (b') building the LSTM itself: its orthogonal initialisation allocates
 * scratch matrices, whose failure must be reported like any other. */
START_TEST(test_lstm_construction) {
  uint64_t k, failures = 0;
  for (k = 1;; k++) {
    tg_tape *tp = tg_tape_new();
    tg_params *ps = tg_params_new();
    ck_assert(tp && ps);
    tg_rng rng;
    tg_rng_seed(&rng, 5);
    tg_alloc_fail_at(k);
    tg_layer *l = tg_lstm_new(ps, tp, "lstm", 3, 4, TG_F64, &rng);
    uint64_t count = tg_alloc_count();
    tg_alloc_fail_at(0);
    if (!l) {
      failures++;
      assert_oom_error(tp, "(b') LSTM construction", k);
      /* a failed constructor takes back what it registered */
      ck_assert_int_eq(tg_params_count(ps), 0);
    } else
      ck_assert_int_eq(tg_params_count(ps), 4);
    tg_layer_free(l);
    tg_params_free(ps);
    tg_tape_free(tp);
    if (finished("(b') LSTM construction", k, l != NULL, count)) break;
  }
  report("(b') LSTM construction", k, failures);
}
END_TEST

/* --- files ---------------------------------------------------------------- */

static char tmpdir[256];

static void make_tmpdir(void) {
  snprintf(tmpdir, sizeof tmpdir, "/tmp/tapegrad-oom-XXXXXX");
  ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

/* Removes every file of the directory, then the directory. */
static void remove_tmpdir(void) {
  DIR *d = opendir(tmpdir);
  if (!d) return;
  struct dirent *e;
  char path[600];
  while ((e = readdir(d)))
    if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
      snprintf(path, sizeof path, "%s/%s", tmpdir, e->d_name);
      remove(path);
    }
  closedir(d);
  rmdir(tmpdir);
}

/* Number of entries in the directory, besides . and .. */
static int files_in_tmpdir(void) {
  DIR *d = opendir(tmpdir);
  ck_assert_ptr_nonnull(d);
  int n = 0;
  struct dirent *e;
  while ((e = readdir(d)))
    n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
  closedir(d);
  return n;
}

static unsigned char *read_whole(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  ck_assert_ptr_nonnull(f);
  ck_assert_int_eq(fseek(f, 0, SEEK_END), 0);
  long n = ftell(f);
  ck_assert_int_ge(n, 0);
  rewind(f);
  unsigned char *buf = malloc((size_t)n + 1);
  ck_assert_ptr_nonnull(buf);
  ck_assert_uint_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
  fclose(f);
  *len = (size_t)n;
  return buf;
}

/* A registry as a small model would have: two dense layers of different
 * dtypes and a batch norm (parameters and buffers). NULL, with the error on
 * tp, when a constructor fails. */
static bool build_registry(tg_params *ps, tg_tape *tp, uint64_t seed,
                           tg_layer **ls) {
  tg_rng rng;
  tg_rng_seed(&rng, seed);
  ls[0] = tg_dense_new(ps, tp, "fc1", 5, 7, TG_F32, &rng);
  ls[1] = ls[0] ? tg_batch_norm1d_new(ps, tp, "bn", 7, 0, 0, TG_F32) : NULL;
  ls[2] = ls[1] ? tg_dense_new(ps, tp, "fc2", 7, 2, TG_F64, &rng) : NULL;
  return ls[2] != NULL;
}

static void free_layers(tg_layer **ls) {
  for (int i = 0; i < 3; i++) {
    tg_layer_free(ls[i]);
    ls[i] = NULL;
  }
}

/* (c) building a registry and saving it. A failed save leaves neither the
 * target nor a temporary file behind. */
START_TEST(test_save_safetensors) {
  make_tmpdir();
  char ref_path[400], path[400];
  snprintf(ref_path, sizeof ref_path, "%s/ref.safetensors", tmpdir);
  snprintf(path, sizeof path, "%s/model.safetensors", tmpdir);
  /* the reference file, written without injection */
  tg_layer *ls[3] = {NULL};
  {
    tg_tape *tp = tg_tape_new();
    tg_params *ps = tg_params_new();
    ck_assert(build_registry(ps, tp, 31, ls));
    ck_assert_int_eq(tg_save_safetensors(tp, ps, ref_path), TG_OK);
    free_layers(ls);
    tg_params_free(ps);
    tg_tape_free(tp);
  }
  size_t ref_len;
  unsigned char *ref = read_whole(ref_path, &ref_len);

  uint64_t k, failures = 0;
  for (k = 1;; k++) {
    remove(path);
    tg_alloc_fail_at(k);
    bool ok = false;
    tg_tape *tp = tg_tape_new();
    tg_params *ps = tp ? tg_params_new() : NULL;
    if (ps && build_registry(ps, tp, 31, ls))
      ok = tg_save_safetensors(tp, ps, path) == TG_OK;
    uint64_t count = tg_alloc_count();
    tg_alloc_fail_at(0);
    if (ok) {
      size_t len;
      unsigned char *got = read_whole(path, &len);
      ck_assert(same_bytes(got, len, ref, ref_len));
      free(got);
    } else {
      failures++;
      if (ps) assert_oom_error(tp, "(c) save", k); /* else a bare NULL */
      ck_assert_int_eq(access(path, F_OK), -1);
      ck_assert_int_eq(files_in_tmpdir(), 1); /* only ref: no temp file */
    }
    free_layers(ls);
    tg_params_free(ps);
    tg_tape_free(tp);
    if (finished("(c) save", k, ok, count)) break;
  }
  free(ref);
  remove_tmpdir();
  report("(c) tg_save_safetensors", k, failures);
}
END_TEST

/* (d) building a registry and loading a file into it: all or nothing. */
START_TEST(test_load_safetensors) {
  make_tmpdir();
  char path[400];
  snprintf(path, sizeof path, "%s/model.safetensors", tmpdir);
  tg_layer *ls[3] = {NULL};
  size_t n_ref;
  unsigned char *ref;
  {
    tg_tape *tp = tg_tape_new();
    tg_params *ps = tg_params_new();
    ck_assert(build_registry(ps, tp, 41, ls));
    /* buffers with values of their own, so that loading them shows */
    tg_fill(tg_params_find(ps, "bn.running_mean"), 0.25);
    tg_fill(tg_params_find(ps, "bn.running_var"), 2.5);
    ck_assert_int_eq(tg_save_safetensors(tp, ps, path), TG_OK);
    ref = snapshot(ps, &n_ref);
    free_layers(ls);
    tg_params_free(ps);
    tg_tape_free(tp);
  }
  uint64_t k, failures = 0;
  for (k = 1;; k++) {
    tg_alloc_fail_at(k);
    bool ok = false, built = false;
    size_t n_before = 0;
    unsigned char *before = NULL;
    tg_tape *tp = tg_tape_new();
    tg_params *ps = tp ? tg_params_new() : NULL;
    if (ps && build_registry(ps, tp, 42, ls)) {
      built = true;
      before = snapshot(ps, &n_before); /* plain malloc: not injected */
      ok = tg_load_safetensors(tp, ps, path) == TG_OK;
    }
    uint64_t count = tg_alloc_count();
    tg_alloc_fail_at(0);
    if (ok) {
      size_t n_now;
      unsigned char *now = snapshot(ps, &n_now);
      ck_assert(same_bytes(now, n_now, ref, n_ref));
      free(now);
    } else {
      failures++;
      if (ps) assert_oom_error(tp, "(d) load", k);
      if (built) { /* a refused load changes nothing */
        size_t n_now;
        unsigned char *now = snapshot(ps, &n_now);
        ck_assert(same_bytes(now, n_now, before, n_before));
        ck_assert(!same_bytes(now, n_now, ref, n_ref));
        free(now);
      }
    }
    free(before);
    free_layers(ls);
    tg_params_free(ps);
    tg_tape_free(tp);
    if (finished("(d) load", k, ok, count)) break;
  }
  free(ref);
  remove_tmpdir();
  report("(d) tg_load_safetensors", k, failures);
}
END_TEST

/* --- a Sequential model --------------------------------------------------- */

/* (e) building a Sequential model, compiling it and fitting one epoch
 * (with a validation split, so evaluation runs too). */
START_TEST(test_model_fit) {
  int64_t sx[2] = {12, 4};
  tg_tensor *x = heap_normal(TG_F32, 2, sx, 51);
  tg_tensor *y = heap_labels(12, 3);
  uint64_t k, failures = 0;
  double first_loss = 0;
  for (k = 1;; k++) {
    tg_alloc_fail_at(k);
    bool ok = false;
    tg_status st = TG_OK;
    const char *step = "tg_sequential_new";
    tg_history *h = NULL;
    tg_model *m = tg_sequential_new(TG_F32, 7);
    if (m) {
      step = "tg_model_add_dense";
      st = tg_model_add_dense(m, 4, 8, TG_ACT_RELU);
      if (!st) st = tg_model_add_dense(m, 8, 3, TG_ACT_NONE);
      if (!st) {
        step = "tg_model_compile";
        st = tg_model_compile(m, TG_LOSS_CROSS_ENTROPY, NULL,
                              TG_METRIC_ACCURACY);
      }
      if (!st) {
        step = "tg_model_fit";
        h = tg_model_fit(m, x, y,
                         &(tg_fit_opts){.epochs = 1,
                                        .batch_size = 4,
                                        .validation_split = 0.25});
        ok = h != NULL;
      }
    }
    uint64_t count = tg_alloc_count();
    tg_alloc_fail_at(0);
    if (ok) {
      ck_assert_int_eq(h->epochs, 1);
      ck_assert(h->loss[0] > 0 && h->val_loss[0] > 0);
      first_loss = h->loss[0];
    } else {
      failures++;
      if (m) {
        if (st) ck_assert_int_eq(st, TG_ERR_NOMEM);
        assert_oom_error(tg_model_tape(m), step, k);
        ck_assert_str_eq(tg_model_errmsg(m), tg_errmsg(tg_model_tape(m)));
      }
    }
    tg_history_free(h);
    tg_model_free(m);
    if (finished("(e) model", k, ok, count)) break;
  }
  tg_tensor_free(x);
  tg_tensor_free(y);
  printf("oom (e): loss of the completed epoch %.6f\n", first_loss);
  report("(e) Sequential build + tg_model_fit", k, failures);
}
END_TEST

int main(void) {
  Suite *s = suite_create("oom");
  TCase *tc = tcase_create("oom");
  tcase_set_timeout(tc, 600);
  tcase_add_test(tc, test_mlp_step);
  tcase_add_test(tc, test_wide_mlp_step);
  tcase_add_test(tc, test_warm_step_allocates_nothing);
  tcase_add_test(tc, test_lstm_step);
  tcase_add_test(tc, test_optimizer_step_allocates_nothing);
  tcase_add_test(tc, test_lstm_construction);
  tcase_add_test(tc, test_save_safetensors);
  tcase_add_test(tc, test_load_safetensors);
  tcase_add_test(tc, test_model_fit);
  suite_add_tcase(s, tc);
  return tgt_run_suite(s);
}
