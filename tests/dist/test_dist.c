/* Data-parallel training over MPI. Run under mpirun (meson test runs it with
 * 2 ranks; any number works):
 *
 *   mpirun -np 2 ./build/tests/dist/test_dist
 *
 * The centre is equivalence: S ranks with per-rank batch B must end with
 * the parameters of one process trained with batch S*B on the same data in
 * the same order. The one-process reference runs inside every rank's
 * process on a separate model, without collectives, and every rank compares
 * its own distributed model with it. Each rank counts its own checks; the
 * counts are summed over the ranks, rank 0 prints "N passed, M failed", and
 * every rank exits with the common verdict. It is not a Check suite on
 * purpose: Check forks each test, and forked children cannot share one MPI
 * job; the CHECK macro below counts failures instead of ck_assert. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tapegrad.h"

static int passed, failed, rank, size;

static void check(bool ok, int line, const char *fmt, ...) {
  if (ok) {
    passed++;
    return;
  }
  failed++;
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "rank %d: test_dist.c:%d: FAIL: ", rank, line);
  vfprintf(stderr, fmt, ap);
  fprintf(stderr, "\n");
  va_end(ap);
}
#define CHECK(cond, ...) check((cond), __LINE__, __VA_ARGS__)

/* Rank 0 says what a section found. */
static void note(const char *fmt, ...) {
  if (rank != 0) return;
  va_list ap;
  va_start(ap, fmt);
  vprintf(fmt, ap);
  va_end(ap);
  fflush(stdout);
}

/* --- data: the same on every rank -------------------------------------- */

enum { FEATURES = 5, CLASSES = 3 };

typedef struct data {
  tg_tensor *x, *y, *x32; /* [n, 5] f64, [n] labels, [n, 5] f32 */
} data;

/* Three classes from a fixed linear rule with noise. */
static data make_data(int64_t n, uint64_t seed) {
  data d;
  int64_t sx[2] = {n, FEATURES}, sy[1] = {n};
  d.x = tg_tensor_new(NULL, TG_F64, 2, sx);
  d.y = tg_tensor_new(NULL, TG_F64, 1, sy);
  d.x32 = tg_tensor_new(NULL, TG_F32, 2, sx);
  tg_rng rng;
  tg_rng_seed(&rng, seed);
  tg_fill_normal(d.x, &rng, 0, 1);
  double *x = d.x->data, *y = d.y->data;
  float *x32 = d.x32->data;
  for (int64_t i = 0; i < n; i++) {
    double s =
        x[i * FEATURES] - 0.5 * x[i * FEATURES + 1] + 0.3 * tg_rng_normal(&rng);
    y[i] = s < -0.4 ? 0 : s < 0.4 ? 1 : 2;
    for (int j = 0; j < FEATURES; j++)
      x32[i * FEATURES + j] = (float)x[i * FEATURES + j];
  }
  return d;
}

static void free_data(data *d) {
  tg_tensor_free(d->x);
  tg_tensor_free(d->y);
  tg_tensor_free(d->x32);
}

/* Largest |a - b| over the entries of two registries of the same layout. */
static double max_diff(const tg_params *a, const tg_params *b) {
  double worst = 0;
  for (int i = 0; i < tg_params_count(a); i++) {
    const tg_tensor *ta = tg_params_at(a, i), *tb = tg_params_at(b, i);
    if (!tb || ta->numel != tb->numel) return INFINITY;
    for (int64_t k = 0; k < ta->numel; k++) {
      double d = fabs(tg_get_flat(ta, k) - tg_get_flat(tb, k));
      if (!(d <= worst)) worst = d; /* NaN wins */
    }
  }
  return worst;
}

/* Whether every rank holds exactly rank 0's values of ps: rank 0's values
 * are broadcast into scratch, a registry of the same layout. */
static bool same_on_all_ranks(tg_params *ps, tg_params *scratch) {
  for (int i = 0; i < tg_params_count(ps); i++)
    tg_copy_in(tg_params_at(scratch, i), tg_params_at(ps, i)->data);
  if (tg_dist_broadcast_params(scratch, 0) != TG_OK) return false;
  return max_diff(ps, scratch) == 0;
}

/* --- 1. before tg_dist_init --------------------------------------------- */

static void test_before_init(void) {
  CHECK(tg_dist_available(), "tapegrad was built with MPI");
  CHECK(tg_dist_rank() == 0 && tg_dist_size() == 1, "rank %d of %d before init",
        tg_dist_rank(), tg_dist_size());
  double v = 1;
  CHECK(tg_dist_sum(&v, 1) == TG_ERR_STATE, "sum before init is refused");
  CHECK(strstr(tg_dist_errmsg(), "tg_dist_init") != NULL, "message: %s",
        tg_dist_errmsg());
  data d = make_data(8, 1);
  tg_model *m = tg_sequential_new(TG_F64, 1);
  tg_model_add_dense(m, FEATURES, CLASSES, TG_ACT_NONE);
  tg_model_compile(m, TG_LOSS_CROSS_ENTROPY, NULL, 0);
  tg_history *h =
      tg_model_fit(m, d.x, d.y, &(tg_fit_opts){.distributed = true});
  CHECK(!h && strstr(tg_model_errmsg(m), "tg_dist_init"),
        "distributed fit before init: %s", tg_model_errmsg(m));
  tg_history_free(h);
  tg_model_free(m);
  free_data(&d);
}

/* --- 2. the primitives -------------------------------------------------- */

static void test_primitives(void) {
  CHECK(tg_dist_init(NULL, NULL) == TG_OK, "a second init does nothing");
  double v[2] = {rank + 1, 1};
  CHECK(tg_dist_sum(v, 2) == TG_OK && v[0] == size * (size + 1) / 2.0 &&
            v[1] == size,
        "sum: %g %g", v[0], v[1]);
  CHECK(tg_dist_sum(v, -1) == TG_ERR_ARG, "negative count");
  CHECK(tg_dist_sum(NULL, 1) == TG_ERR_NULL, "NULL values");
  CHECK(tg_dist_average_grads(NULL) == TG_ERR_NULL, "NULL registry");

  /* Broadcast from the last rank reaches parameters and buffers. */
  tg_params *ps = tg_params_new();
  int64_t s4[1] = {4}, s2[2] = {1, 2};
  tg_tensor *p = tg_param_new(ps, NULL, "p", TG_F64, 1, s4);
  tg_tensor *b = tg_buffer_new(ps, NULL, "b", TG_F32, 2, s2);
  for (int i = 0; i < 4; i++)
    ((double *)p->data)[i] = 10 * rank + i;
  for (int i = 0; i < 2; i++)
    ((float *)b->data)[i] = (float)(100 * rank + i);
  int root = size - 1;
  CHECK(tg_dist_broadcast_params(ps, size) == TG_ERR_ARG, "root out of range");
  CHECK(tg_dist_broadcast_params(ps, root) == TG_OK, "broadcast: %s",
        tg_dist_errmsg());
  bool ok = true;
  for (int i = 0; i < 4; i++)
    ok = ok && ((double *)p->data)[i] == 10.0 * root + i;
  for (int i = 0; i < 2; i++)
    ok = ok && ((float *)b->data)[i] == (float)(100 * root + i);
  CHECK(ok, "every entry holds root %d's values", root);
  tg_params_free(ps);

  /* Registries that differ are refused on every rank, not sent. */
  if (size > 1) {
    ps = tg_params_new();
    int64_t s[1] = {rank == 0 ? 3 : 4};
    tg_param_new(ps, NULL, "w", TG_F64, 1, s);
    CHECK(tg_dist_broadcast_params(ps, 0) == TG_ERR_SHAPE &&
              strstr(tg_dist_errmsg(), "differ"),
          "different shapes: %s", tg_dist_errmsg());
    tg_params_free(ps);
  }
}

/* --- 3. Sequential fit: 2 ranks x B equals 1 process x 2B --------------- */

enum { B = 4, STEPS_PER_EPOCH = 10, EPOCHS = 2 };

static tg_model *mlp(uint64_t seed, tg_optimizer **opt) {
  tg_model *m = tg_sequential_new(TG_F64, seed);
  tg_model_add_dense(m, FEATURES, 16, TG_ACT_TANH);
  tg_model_add_dense(m, 16, CLASSES, TG_ACT_NONE);
  *opt = tg_adam_new(tg_model_params(m), &(tg_adam_opts){.lr = 1e-2});
  tg_model_compile(m, TG_LOSS_CROSS_ENTROPY, *opt, TG_METRIC_ACCURACY);
  return m;
}

static void test_fit_sequential(void) {
  data d = make_data((int64_t)STEPS_PER_EPOCH * size * B, 11);
  tg_optimizer *opt_d, *opt_r, *opt_s;
  /* Each rank starts from its own weights: fit must broadcast rank 0's. */
  tg_model *dist = mlp(1000 + (uint64_t)rank, &opt_d);
  tg_model *ref = mlp(1000, &opt_r);
  tg_model *scratch = mlp(5, &opt_s);
  tg_history *hd = tg_model_fit(dist, d.x, d.y,
                                &(tg_fit_opts){.epochs = EPOCHS,
                                               .batch_size = B,
                                               .distributed = true,
                                               .verbose = 2});
  CHECK(hd != NULL, "distributed fit: %s", tg_model_errmsg(dist));
  tg_history *hr = tg_model_fit(
      ref, d.x, d.y, &(tg_fit_opts){.epochs = EPOCHS, .batch_size = size * B});
  CHECK(hr != NULL, "reference fit: %s", tg_model_errmsg(ref));
  if (hd && hr) {
    double diff = max_diff(tg_model_params(dist), tg_model_params(ref));
    CHECK(diff <= 1e-6, "parameters differ from the reference by %.3g", diff);
    CHECK(tg_optimizer_steps(opt_d) == EPOCHS * STEPS_PER_EPOCH &&
              tg_optimizer_steps(opt_r) == EPOCHS * STEPS_PER_EPOCH,
          "steps: %lld and %lld", (long long)tg_optimizer_steps(opt_d),
          (long long)tg_optimizer_steps(opt_r));
    note("Sequential f64, Adam: %d ranks x batch %d vs 1 process x batch "
         "%d, %d steps: max |dp| = %.3g\n",
         size, B, size * B, EPOCHS * STEPS_PER_EPOCH, diff);
    for (int e = 0; e < EPOCHS; e++) {
      CHECK(fabs(hd->loss[e] - hr->loss[e]) <= 1e-9,
            "epoch %d loss %.17g vs %.17g", e + 1, hd->loss[e], hr->loss[e]);
      CHECK(fabs(hd->accuracy[e] - hr->accuracy[e]) <= 1e-12,
            "epoch %d accuracy %g vs %g", e + 1, hd->accuracy[e],
            hr->accuracy[e]);
    }
    CHECK(same_on_all_ranks(tg_model_params(dist), tg_model_params(scratch)),
          "every rank holds the same parameters");
  }
  tg_history_free(hd);
  tg_history_free(hr);
  tg_model_free(dist);
  tg_model_free(ref);
  tg_model_free(scratch);
  free_data(&d);
}

/* --- 4. custom model fit, SGD with momentum, a buffer, validation ------- */

typedef struct linear {
  tg_params *ps;
  tg_tensor *w, *b, *seen; /* seen: a buffer the forward pass updates */
  int fail_at;             /* make the forward pass fail at this call */
  int calls;
} linear;

static tg_tensor *linear_forward(tg_tape *tp, tg_tensor *x, bool training,
                                 void *ud) {
  linear *l = ud;
  if (training && ++l->calls == l->fail_at) return NULL;
  if (training) { /* a statistic of this rank's rows only */
    double *s = l->seen->data;
    for (int64_t i = 0; i < x->shape[0]; i++)
      s[0] += tg_get_flat(x, i * FEATURES);
    tg_tensor_touch(l->seen);
  }
  tg_tensor *z = tg_matmul(tp, x, tg_transpose(tp, l->w, 0, 1));
  return tg_add(tp, z, l->b);
}

static void linear_init(linear *l, uint64_t seed) {
  memset(l, 0, sizeof *l);
  l->ps = tg_params_new();
  int64_t sw[2] = {CLASSES, FEATURES}, sb[1] = {CLASSES}, s1[1] = {1};
  l->w = tg_param_new(l->ps, NULL, "w", TG_F64, 2, sw);
  l->b = tg_param_new(l->ps, NULL, "b", TG_F64, 1, sb);
  l->seen = tg_buffer_new(l->ps, NULL, "seen", TG_F64, 1, s1);
  tg_rng rng;
  tg_rng_seed(&rng, seed);
  tg_fill_normal(l->w, &rng, 0, 0.5);
  tg_fill_normal(l->b, &rng, 0, 0.5);
}

static tg_model *linear_model(linear *l, tg_optimizer **opt) {
  tg_model *m = tg_model_custom(l->ps, linear_forward, l, 77);
  *opt = tg_sgd_new(
      l->ps, &(tg_sgd_opts){.lr = 0.1, .momentum = 0.9, .nesterov = true});
  tg_model_compile(m, TG_LOSS_CROSS_ENTROPY, *opt, TG_METRIC_ACCURACY);
  return m;
}

static void test_fit_custom(void) {
  data d = make_data((int64_t)STEPS_PER_EPOCH * size * B, 12);
  data v = make_data(31, 13); /* does not split evenly: 15 + 16 */
  linear ld, lr, ls;
  linear_init(&ld, 2000 + (uint64_t)rank);
  linear_init(&lr, 2000);
  linear_init(&ls, 3);
  tg_optimizer *od, *orf, *os;
  tg_model *dist = linear_model(&ld, &od), *ref = linear_model(&lr, &orf);
  tg_model *scratch = linear_model(&ls, &os);
  tg_fit_opts o = {.epochs = EPOCHS,
                   .batch_size = B,
                   .val_x = v.x,
                   .val_y = v.y,
                   .distributed = true};
  tg_history *hd = tg_model_fit(dist, d.x, d.y, &o);
  CHECK(hd != NULL, "distributed fit: %s", tg_model_errmsg(dist));
  o.batch_size = size * B;
  o.distributed = false;
  tg_history *hr = tg_model_fit(ref, d.x, d.y, &o);
  CHECK(hr != NULL, "reference fit: %s", tg_model_errmsg(ref));
  if (hd && hr) {
    double diff = 0; /* w and b: the buffers differ by design */
    for (int i = 0; i < 2; i++)
      for (int64_t k = 0; k < tg_params_at(ld.ps, i)->numel; k++)
        diff = fmax(diff, fabs(tg_get_flat(tg_params_at(ld.ps, i), k) -
                               tg_get_flat(tg_params_at(lr.ps, i), k)));
    CHECK(diff <= 1e-6, "parameters differ from the reference by %.3g", diff);
    note("custom f64, SGD Nesterov: %d ranks x batch %d vs 1 process x "
         "batch %d, %d steps: max |dp| = %.3g\n",
         size, B, size * B, EPOCHS * STEPS_PER_EPOCH, diff);
    for (int e = 0; e < EPOCHS; e++) {
      CHECK(fabs(hd->loss[e] - hr->loss[e]) <= 1e-9,
            "epoch %d loss %.17g vs %.17g", e + 1, hd->loss[e], hr->loss[e]);
      CHECK(fabs(hd->val_loss[e] - hr->val_loss[e]) <= 1e-9,
            "epoch %d val_loss %.17g vs %.17g", e + 1, hd->val_loss[e],
            hr->val_loss[e]);
      CHECK(fabs(hd->val_accuracy[e] - hr->val_accuracy[e]) <= 1e-12,
            "epoch %d val_accuracy %g vs %g", e + 1, hd->val_accuracy[e],
            hr->val_accuracy[e]);
    }
    /* The buffer saw each rank's own rows; after fit it is rank 0's. */
    CHECK(same_on_all_ranks(ld.ps, ls.ps),
          "every rank holds the same parameters and buffer");
  }
  tg_history_free(hd);
  tg_history_free(hr);
  tg_model_free(dist);
  tg_model_free(ref);
  tg_model_free(scratch);
  tg_params_free(ld.ps);
  tg_params_free(lr.ps);
  tg_params_free(ls.ps);
  free_data(&d);
  free_data(&v);
}

/* --- 5. a loop by hand: f32 and f64 parameters, gradients missing ------- */

typedef struct hand {
  tg_params *ps;
  tg_tensor *w, *s, *only0, *unused;
} hand;

static void hand_init(hand *h, uint64_t seed) {
  h->ps = tg_params_new();
  int64_t sw[2] = {FEATURES, CLASSES}, ss[1] = {FEATURES}, s2[1] = {2};
  h->w = tg_param_new(h->ps, NULL, "w", TG_F64, 2, sw);
  h->s = tg_param_new(h->ps, NULL, "s", TG_F32, 1, ss);
  h->only0 = tg_param_new(h->ps, NULL, "only0", TG_F64, 1, s2);
  h->unused = tg_param_new(h->ps, NULL, "unused", TG_F64, 1, s2);
  tg_rng rng;
  tg_rng_seed(&rng, seed);
  for (int i = 0; i < tg_params_count(h->ps); i++)
    tg_fill_normal(tg_params_at(h->ps, i), &rng, 0, 0.5);
}

/* The loss of one batch of rows: f64 and f32 parts backpropagated apart;
 * with extra > 0, extra * sum(only0^2) is added. */
static bool hand_step(tg_tape *tp, hand *h, const data *d, const int64_t *idx,
                      int64_t n, double extra) {
  tg_tensor *x = tg_take_rows(tp, d->x, idx, n);
  tg_tensor *x32 = tg_take_rows(tp, d->x32, idx, n);
  tg_tensor *l64 = tg_mean_all(
      tp, tg_pow_scalar(tp, tg_tanh(tp, tg_matmul(tp, x, h->w)), 2));
  if (extra > 0)
    l64 =
        tg_add(tp, l64,
               tg_mul_scalar(tp, tg_sum_all(tp, tg_mul(tp, h->only0, h->only0)),
                             extra));
  tg_tensor *l32 = tg_mean_all(
      tp, tg_pow_scalar(tp, tg_add_scalar(tp, tg_mul(tp, x32, h->s), -1), 2));
  return tg_backward(tp, l64) == TG_OK && tg_backward(tp, l32) == TG_OK;
}

static void test_hand_loop(void) {
  enum { STEPS = 20 };
  int64_t g = (int64_t)size * B;
  data d = make_data(STEPS * g, 14);
  hand hd, hr;
  hand_init(&hd, 4000 + (uint64_t)rank);
  hand_init(&hr, 4000);
  tg_tape *tp = tg_tape_new();
  tg_sgd_opts sgd = {.lr = 0.05, .momentum = 0.5};
  tg_optimizer *od = tg_sgd_new(hd.ps, &sgd), *orf = tg_sgd_new(hr.ps, &sgd);
  CHECK(tg_dist_broadcast_params(hd.ps, 0) == TG_OK, "broadcast: %s",
        tg_dist_errmsg());
  bool ok = true, grads_ok = true;
  for (int step = 0; step < STEPS && ok; step++) {
    int64_t idx[64];
    for (int64_t i = 0; i < g; i++)
      idx[i] = (step * 7 % STEPS) * g + i; /* an order of our own */
    /* distributed: this rank's slice, only0 used on rank 0 alone */
    ok = hand_step(tp, &hd, &d, idx + rank * B, B, rank == 0 ? 1.0 : 0);
    tg_tape_reset(tp);
    ok = ok && tg_dist_average_grads(hd.ps) == TG_OK;
    grads_ok = grads_ok && hd.only0->grad && !hd.unused->grad;
    ok = ok && tg_optimizer_step(od) == TG_OK;
    tg_optimizer_zero_grad(od);
    /* reference: the whole global batch; averaging made only0's term
     * 1/size of what rank 0 added */
    ok = ok && hand_step(tp, &hr, &d, idx, g, 1.0 / size);
    tg_tape_reset(tp);
    ok = ok && tg_optimizer_step(orf) == TG_OK;
    tg_optimizer_zero_grad(orf);
  }
  CHECK(ok, "the loop ran: %s / %s", tg_errmsg(tp), tg_dist_errmsg());
  CHECK(grads_ok, "only0 has an averaged gradient on every rank, unused none");
  double d64 = 0, d32 = 0;
  for (int i = 0; i < tg_params_count(hd.ps); i++) {
    const tg_tensor *a = tg_params_at(hd.ps, i), *b = tg_params_at(hr.ps, i);
    for (int64_t k = 0; k < a->numel; k++) {
      double diff = fabs(tg_get_flat(a, k) - tg_get_flat(b, k));
      if (a->dtype == TG_F64)
        d64 = fmax(d64, diff);
      else
        d32 = fmax(d32, diff);
    }
  }
  CHECK(d64 <= 1e-6, "f64 parameters differ by %.3g", d64);
  CHECK(d32 <= 1e-5, "f32 parameters differ by %.3g", d32);
  note("loop by hand (tg_dist_average_grads), %d steps: max |dp| = %.3g "
       "(f64), %.3g (f32)\n",
       STEPS, d64, d32);
  tg_optimizer_free(od);
  tg_optimizer_free(orf);
  tg_tape_free(tp);
  tg_params_free(hd.ps);
  tg_params_free(hr.ps);
  free_data(&d);
}

/* --- 6. one rank fails: every rank stops at the same step --------------- */

static void test_rank_fails(void) {
  data d = make_data((int64_t)STEPS_PER_EPOCH * size * B, 15);
  linear l;
  linear_init(&l, 5);
  l.fail_at = rank == size - 1 ? 3 : 0;
  tg_optimizer *opt;
  tg_model *m = linear_model(&l, &opt);
  tg_history *h = tg_model_fit(
      m, d.x, d.y,
      &(tg_fit_opts){.epochs = 1, .batch_size = B, .distributed = true});
  CHECK(!h, "fit fails on every rank");
  CHECK(tg_optimizer_steps(opt) == 2, "every rank stopped after 2 steps: %lld",
        (long long)tg_optimizer_steps(opt));
  if (rank != size - 1)
    CHECK(strstr(tg_model_errmsg(m), "other rank") != NULL,
          "the others say why: %s", tg_model_errmsg(m));
  tg_history_free(h);
  tg_model_free(m);
  tg_params_free(l.ps);
  free_data(&d);

  /* Fewer samples than ranks: refused on every rank alike. */
  if (size > 1) {
    data one = make_data(1, 16);
    linear_init(&l, 6);
    m = linear_model(&l, &opt);
    h = tg_model_fit(m, one.x, one.y, &(tg_fit_opts){.distributed = true});
    CHECK(!h && strstr(tg_model_errmsg(m), "cannot be shared"),
          "one sample, %d ranks: %s", size, tg_model_errmsg(m));
    tg_history_free(h);
    tg_model_free(m);
    tg_params_free(l.ps);
    free_data(&one);
  }
}

int main(int argc, char **argv) {
  test_before_init();
  if (tg_dist_init(&argc, &argv) != TG_OK) {
    fprintf(stderr, "%s\n0 passed, 1 failed\n", tg_dist_errmsg());
    return 1;
  }
  rank = tg_dist_rank();
  size = tg_dist_size();
  note("%d ranks\n", size);
  test_primitives();
  test_fit_sequential();
  test_fit_custom();
  test_hand_loop();
  test_rank_fails();
  double counts[2] = {passed, failed};
  if (tg_dist_sum(counts, 2) != TG_OK) {
    fprintf(stderr, "rank %d: %s\n", rank, tg_dist_errmsg());
    counts[1] += 1;
  }
  note("%.0f passed, %.0f failed (checks of all %d ranks)\n", counts[0],
       counts[1], size);
  tg_dist_finalize();
  return counts[1] > 0 ? 1 : 0;
}
