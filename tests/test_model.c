/* tapegrad: models (model.h).
 *
 *   - Sequential naming: positions as nn.Sequential's keys, an activation
 *     taking the next position; PyTorch's shapes;
 *   - fit: the loss falls, the history is filled (NaN where nothing was
 *     computed), validation_split holds out the *last* rows, explicit
 *     validation data, the accuracy metric for cross entropy with labels and
 *     for BCE with logits, early stopping, determinism of shuffling;
 *   - verbose output to a stream that is not a terminal;
 *   - predict against a forward pass written here, in evaluation mode;
 *   - a custom model over the caller's registry;
 *   - errors: fit before compile, row counts that differ, a layer given the
 *     wrong width;
 *   - save and load through a model's registry, and a load refused;
 *   - the history as SVG. */
#define _POSIX_C_SOURCE 200809L

#include <check.h>
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "support.h"

/* --- data ------------------------------------------------------------------
 */

/* A heap tensor [rows, cols] (cols 0: [rows]) holding vals (doubles). */
static tg_tensor *heap2(tg_dtype dt, int64_t rows, int64_t cols,
                        const double *vals) {
  int64_t shape[2] = {rows, cols};
  tg_tensor *t = tg_tensor_new(NULL, dt, cols ? 2 : 1, shape);
  ck_assert_ptr_nonnull(t);
  int64_t n = rows * (cols ? cols : 1);
  if (dt == TG_F32) {
    float *f = malloc(sizeof *f * (size_t)n);
    ck_assert_ptr_nonnull(f);
    for (int64_t i = 0; i < n; i++)
      f[i] = (float)vals[i];
    ck_assert_int_eq(tg_copy_in(t, f), TG_OK);
    free(f);
  } else
    ck_assert_int_eq(tg_copy_in(t, vals), TG_OK);
  return t;
}

/* y = 2 x1 - x2 + 0.5 with x uniform in [-1, 1): x [n, 2], y [n, 1]. */
typedef struct regression {
  double *x, *y;
  int64_t n;
} regression;

static regression make_regression(int64_t n, uint64_t seed) {
  regression r = {malloc(sizeof(double) * 2 * (size_t)n),
                  malloc(sizeof(double) * (size_t)n), n};
  ck_assert(r.x && r.y);
  tg_rng rng;
  tg_rng_seed(&rng, seed);
  for (int64_t i = 0; i < n; i++) {
    r.x[2 * i] = 2 * tg_rng_uniform(&rng) - 1;
    r.x[2 * i + 1] = 2 * tg_rng_uniform(&rng) - 1;
    r.y[i] = 2 * r.x[2 * i] - r.x[2 * i + 1] + 0.5;
  }
  return r;
}

static void regression_free(regression *r) {
  free(r->x);
  free(r->y);
}

/* Two Gaussian blobs (std 1) around (-2, -2) (class 0) and (2, 2) (class
 * 1), alternating: x [n, 2], labels [n] as whole numbers. */
static void make_blobs(int64_t n, uint64_t seed, double *x, double *labels) {
  tg_rng rng;
  tg_rng_seed(&rng, seed);
  for (int64_t i = 0; i < n; i++) {
    double c = (double)(i % 2), centre = c ? 2.0 : -2.0;
    x[2 * i] = centre + tg_rng_normal(&rng);
    x[2 * i + 1] = centre + tg_rng_normal(&rng);
    labels[i] = c;
  }
}

static tg_optimizer *adam(tg_model *m, double lr) {
  tg_adam_opts o = {lr, 0, 0, 0, 0};
  tg_optimizer *opt = tg_adam_new(tg_model_params(m), &o);
  ck_assert_ptr_nonnull(opt);
  return opt;
}

/* A linear Sequential model 2 -> 1 compiled with MSE and Adam. */
static tg_model *linear_model(tg_dtype dt, uint64_t seed, double lr) {
  tg_model *m = tg_sequential_new(dt, seed);
  ck_assert_ptr_nonnull(m);
  ck_assert_int_eq(tg_model_add_dense(m, 2, 1, TG_ACT_NONE), TG_OK);
  ck_assert_int_eq(tg_model_compile(m, TG_LOSS_MSE, adam(m, lr), 0), TG_OK);
  return m;
}

static tg_history *fit_ok(tg_model *m, const tg_tensor *x, const tg_tensor *y,
                          const tg_fit_opts *o) {
  tg_history *h = tg_model_fit(m, x, y, o);
  if (!h) fprintf(stderr, "fit failed: %s\n", tg_model_errmsg(m));
  ck_assert_ptr_nonnull(h);
  return h;
}

static bool bits_equal(const tg_tensor *a, const tg_tensor *b) {
  return a->dtype == b->dtype && a->numel == b->numel &&
         memcmp(a->data, b->data, (size_t)a->numel * tg_dtype_size(a->dtype)) ==
             0;
}

/* Every entry of two registries holds the same bits. */
static bool params_equal(tg_params *a, tg_params *b) {
  if (tg_params_count(a) != tg_params_count(b)) return false;
  for (int i = 0; i < tg_params_count(a); i++)
    if (!bits_equal(tg_params_at(a, i), tg_params_at(b, i))) return false;
  return true;
}

/* --- Sequential naming -----------------------------------------------------
 */

START_TEST(test_sequential_names) {
  tg_model *m = tg_sequential_new(TG_F32, 1);
  ck_assert_ptr_nonnull(m);
  ck_assert_int_eq(tg_model_add_dense(m, 3, 4, TG_ACT_RELU), TG_OK);
  ck_assert_int_eq(tg_model_add_dense(m, 4, 2, TG_ACT_NONE), TG_OK);
  ck_assert_int_eq(tg_model_layer_count(m), 3);
  ck_assert_str_eq(tg_layer_kind(tg_model_layer(m, 0)), "dense");
  ck_assert_str_eq(tg_layer_kind(tg_model_layer(m, 1)), "activation");
  ck_assert_str_eq(tg_layer_kind(tg_model_layer(m, 2)), "dense");
  ck_assert_str_eq(tg_layer_name(tg_model_layer(m, 1)), "1");
  ck_assert_ptr_null(tg_model_layer(m, 3));

  tg_params *ps = tg_model_params(m);
  static const char *names[4] = {"0.weight", "0.bias", "2.weight", "2.bias"};
  static const int ndims[4] = {2, 1, 2, 1};
  static const int64_t shapes[4][2] = {{4, 3}, {4, 0}, {2, 4}, {2, 0}};
  ck_assert_int_eq(tg_params_count(ps), 4);
  for (int i = 0; i < 4; i++) {
    ck_assert_str_eq(tg_params_name(ps, i), names[i]);
    ck_assert(tg_params_trainable(ps, i));
    const tg_tensor *t = tg_params_at(ps, i);
    ck_assert_ptr_eq(tg_params_find(ps, names[i]), t);
    ck_assert_int_eq(t->dtype, TG_F32);
    ck_assert_int_eq(t->ndim, ndims[i]);
    for (int d = 0; d < ndims[i]; d++)
      ck_assert_int_eq(t->shape[d], shapes[i][d]);
  }
  ck_assert_int_eq(tg_params_numel(ps), 4 * 3 + 4 + 2 * 4 + 2);
  ck_assert_str_eq(tg_model_errmsg(m), "");
  tg_model_free(m);
}
END_TEST

/* --- fit -------------------------------------------------------------------
 */

START_TEST(test_fit_reduces_loss) {
  regression r = make_regression(200, 11);
  tg_tensor *x = heap2(TG_F32, 200, 2, r.x), *y = heap2(TG_F32, 200, 1, r.y);
  tg_model *m = linear_model(TG_F32, 5, 0.05);
  const int epochs = 40;
  tg_history *h = fit_ok(m, x, y, &(tg_fit_opts){.epochs = epochs});
  ck_assert_int_eq(h->epochs, epochs);
  ck_assert(!h->stopped_early);
  ck_assert(isfinite(h->loss[0]) && h->loss[0] > 0);
  ck_assert_msg(h->loss[epochs - 1] < h->loss[0] / 10, "loss %g -> %g",
                h->loss[0], h->loss[epochs - 1]);
  for (int e = 0; e < epochs; e++) {
    ck_assert(isfinite(h->loss[e]));
    ck_assert_msg(h->seconds[e] > 0, "seconds[%d] = %g", e, h->seconds[e]);
    ck_assert(isnan(h->val_loss[e]));
    ck_assert(isnan(h->val_accuracy[e]));
    ck_assert(isnan(h->accuracy[e])); /* no metric was asked for */
  }
  /* The model learnt the line. */
  tg_params *ps = tg_model_params(m);
  double w1 = tg_get_flat(tg_params_find(ps, "0.weight"), 0);
  double w2 = tg_get_flat(tg_params_find(ps, "0.weight"), 1);
  double b = tg_item(tg_params_find(ps, "0.bias"));
  ck_assert_msg(fabs(w1 - 2) < 0.05 && fabs(w2 + 1) < 0.05 &&
                    fabs(b - 0.5) < 0.05,
                "w = (%g, %g), b = %g", w1, w2, b);
  /* evaluate agrees with the last epoch's order of magnitude, and is the
   * mean squared error computed here from predict. */
  double loss = NAN, acc = 0, mae = 0;
  ck_assert_int_eq(tg_model_evaluate(m, x, y, 200, &loss, &acc, &mae), TG_OK);
  /* Metrics that were not compiled are NaN, not 0. */
  ck_assert_msg(isnan(acc), "accuracy %g", acc);
  ck_assert_msg(isnan(mae), "mae %g", mae);
  tg_tensor *pred = tg_model_predict(m, x, 0);
  ck_assert_ptr_nonnull(pred);
  double mse = 0;
  for (int64_t i = 0; i < 200; i++) {
    double d = tg_get_flat(pred, i) - (float)r.y[i];
    mse += d * d / 200;
  }
  ck_assert_msg(fabs(loss - mse) <= 1e-5 * fmax(mse, 1e-6), "%g vs %g", loss,
                mse);
  tg_tensor_free(pred);
  tg_history_free(h);
  tg_model_free(m);
  tg_tensor_free(x);
  tg_tensor_free(y);
  regression_free(&r);
}
END_TEST

/* validation_split 0.25 holds out the last quarter: with those targets
 * wildly off the line, training on the first 150 rows stays exact while the
 * validation loss is huge, and equals evaluate() over rows 150..199. */
START_TEST(test_validation_split_last_rows) {
  enum { N = 200, NT = 150 };
  regression r = make_regression(N, 12);
  for (int64_t i = NT; i < N; i++)
    r.y[i] = 100.0 + (double)(i % 7);
  tg_tensor *x = heap2(TG_F32, N, 2, r.x), *y = heap2(TG_F32, N, 1, r.y);
  tg_tensor *x_head = heap2(TG_F32, NT, 2, r.x);
  tg_tensor *y_head = heap2(TG_F32, NT, 1, r.y);
  tg_tensor *x_tail = heap2(TG_F32, N - NT, 2, r.x + 2 * NT);
  tg_tensor *y_tail = heap2(TG_F32, N - NT, 1, r.y + NT);
  tg_model *m = linear_model(TG_F32, 5, 0.05);
  const int epochs = 40;
  tg_history *h = fit_ok(
      m, x, y, &(tg_fit_opts){.epochs = epochs, .validation_split = 0.25});
  ck_assert_int_eq(h->epochs, epochs);
  for (int e = 0; e < epochs; e++)
    ck_assert(isfinite(h->val_loss[e]));
  double last = h->loss[epochs - 1], val = h->val_loss[epochs - 1];
  /* Training on all 200 rows could not bring the loss anywhere near 0.01:
   * the last quarter is ~100 away from the line. */
  ck_assert_msg(last < 1e-2, "training loss %g", last);
  ck_assert_msg(val > 1000, "val_loss %g", val);
  double head = NAN, tail = NAN;
  ck_assert_int_eq(tg_model_evaluate(m, x_head, y_head, 0, &head, NULL, NULL),
                   TG_OK);
  ck_assert_int_eq(tg_model_evaluate(m, x_tail, y_tail, 0, &tail, NULL, NULL),
                   TG_OK);
  ck_assert_msg(head < 1e-2, "loss over the first 150 rows %g", head);
  ck_assert_msg(fabs(tail - val) <= 1e-9 * val, "evaluate %.17g vs %.17g", tail,
                val);
  tg_history_free(h);
  tg_model_free(m);
  tg_tensor_free(x);
  tg_tensor_free(y);
  tg_tensor_free(x_head);
  tg_tensor_free(y_head);
  tg_tensor_free(x_tail);
  tg_tensor_free(y_tail);
  regression_free(&r);
}
END_TEST

/* Two blobs, cross entropy with labels [N], explicit validation data. */
START_TEST(test_validation_data_accuracy) {
  enum { N = 256, NV = 128 };
  double xs[2 * N], ls[N], vxs[2 * NV], vls[NV];
  make_blobs(N, 21, xs, ls);
  make_blobs(NV, 22, vxs, vls);
  tg_tensor *x = heap2(TG_F32, N, 2, xs), *y = heap2(TG_F32, N, 0, ls);
  tg_tensor *vx = heap2(TG_F32, NV, 2, vxs), *vy = heap2(TG_F32, NV, 0, vls);
  tg_model *m = tg_sequential_new(TG_F32, 3);
  ck_assert_int_eq(tg_model_add_dense(m, 2, 8, TG_ACT_RELU), TG_OK);
  ck_assert_int_eq(tg_model_add_dense(m, 8, 2, TG_ACT_NONE), TG_OK);
  ck_assert_int_eq(tg_model_compile(m, TG_LOSS_CROSS_ENTROPY, adam(m, 0.01),
                                    TG_METRIC_ACCURACY),
                   TG_OK);
  const int epochs = 20;
  tg_history *h = fit_ok(
      m, x, y, &(tg_fit_opts){.epochs = epochs, .val_x = vx, .val_y = vy});
  ck_assert_int_eq(h->epochs, epochs);
  for (int e = 0; e < epochs; e++) {
    ck_assert(isfinite(h->val_loss[e]));
    ck_assert(h->accuracy[e] >= 0 && h->accuracy[e] <= 1);
    ck_assert(h->val_accuracy[e] >= 0 && h->val_accuracy[e] <= 1);
  }
  ck_assert(h->val_loss[epochs - 1] < h->val_loss[0]);
  ck_assert_msg(h->accuracy[epochs - 1] > 0.95, "accuracy %g",
                h->accuracy[epochs - 1]);
  ck_assert_msg(h->val_accuracy[epochs - 1] > 0.95, "val_accuracy %g",
                h->val_accuracy[epochs - 1]);

  /* evaluate over the validation data: the history's last figures, and an
   * accuracy equal to a count of argmaxes of predict. */
  double loss = NAN, acc = NAN;
  ck_assert_int_eq(tg_model_evaluate(m, vx, vy, 0, &loss, &acc, NULL), TG_OK);
  ck_assert_msg(fabs(loss - h->val_loss[epochs - 1]) <= 1e-12 * loss,
                "%.17g vs %.17g", loss, h->val_loss[epochs - 1]);
  ck_assert_double_eq(acc, h->val_accuracy[epochs - 1]);
  tg_tensor *pred = tg_model_predict(m, vx, 0);
  ck_assert_ptr_nonnull(pred);
  ck_assert_int_eq(pred->ndim, 2);
  ck_assert_int_eq(pred->shape[0], NV);
  ck_assert_int_eq(pred->shape[1], 2);
  int correct = 0;
  for (int i = 0; i < NV; i++) {
    double c = tg_get_flat(pred, 2 * i + 1) > tg_get_flat(pred, 2 * i) ? 1 : 0;
    correct += c == vls[i];
  }
  ck_assert_double_eq_tol(acc, (double)correct / NV, 1e-12);
  ck_assert_msg(acc > 0.95, "evaluate accuracy %g", acc);
  tg_tensor_free(pred);
  tg_history_free(h);
  tg_model_free(m);
  tg_tensor_free(x);
  tg_tensor_free(y);
  tg_tensor_free(vx);
  tg_tensor_free(vy);
}
END_TEST

/* BCE with logits: accuracy thresholds the logit at 0. */
START_TEST(test_bce_logits_xor) {
  const double xs[8] = {0, 0, 0, 1, 1, 0, 1, 1}, ys[4] = {0, 1, 1, 0};
  tg_tensor *x = heap2(TG_F32, 4, 2, xs), *y = heap2(TG_F32, 4, 1, ys);
  tg_model *m = tg_sequential_new(TG_F32, 3);
  ck_assert_int_eq(tg_model_add_dense(m, 2, 8, TG_ACT_TANH), TG_OK);
  ck_assert_int_eq(tg_model_add_dense(m, 8, 1, TG_ACT_NONE), TG_OK);
  ck_assert_int_eq(tg_model_compile(m, TG_LOSS_BCE_LOGITS, adam(m, 0.05),
                                    TG_METRIC_ACCURACY),
                   TG_OK);
  tg_history *h =
      fit_ok(m, x, y, &(tg_fit_opts){.epochs = 500, .batch_size = 4});
  ck_assert_int_eq(h->epochs, 500);
  ck_assert_double_eq(h->accuracy[499], 1.0);
  ck_assert(h->loss[499] < h->loss[0]);
  double acc = NAN;
  ck_assert_int_eq(tg_model_evaluate(m, x, y, 0, NULL, &acc, NULL), TG_OK);
  ck_assert_double_eq(acc, 1.0);
  /* The logits' signs are the classes (threshold 0, not 0.5). */
  tg_tensor *pred = tg_model_predict(m, x, 0);
  ck_assert_ptr_nonnull(pred);
  for (int i = 0; i < 4; i++)
    ck_assert_int_eq(tg_get_flat(pred, i) > 0, ys[i] == 1);
  tg_tensor_free(pred);
  tg_history_free(h);
  tg_model_free(m);
  tg_tensor_free(x);
  tg_tensor_free(y);

  /* Logits of +-0.25: right at threshold 0, half wrong at 0.5. */
  const double xs1[4] = {1, -1, 1, -1}, ys1[4] = {1, 0, 1, 0};
  x = heap2(TG_F32, 4, 1, xs1);
  y = heap2(TG_F32, 4, 1, ys1);
  m = tg_sequential_new(TG_F32, 3);
  ck_assert_int_eq(tg_model_add_dense(m, 1, 1, TG_ACT_NONE), TG_OK);
  ck_assert_int_eq(
      tg_model_compile(m, TG_LOSS_BCE_LOGITS, NULL, TG_METRIC_ACCURACY), TG_OK);
  tg_fill(tg_params_find(tg_model_params(m), "0.weight"), 0.25);
  tg_fill(tg_params_find(tg_model_params(m), "0.bias"), 0);
  double loss = NAN;
  ck_assert_int_eq(tg_model_evaluate(m, x, y, 0, &loss, &acc, NULL), TG_OK);
  ck_assert_double_eq(acc, 1.0);
  /* mean of log(1 + exp(-0.25)) over the four rows */
  ck_assert_double_eq_tol(loss, log1p(exp(-0.25)), 1e-6);
  tg_model_free(m);
  tg_tensor_free(x);
  tg_tensor_free(y);
}
END_TEST

/* With SGD at lr 1e-12 nothing can change by min_delta, so patience 2 stops
 * after epoch 1 (the best) and two more without improvement. */
START_TEST(test_early_stopping) {
  regression r = make_regression(100, 13);
  tg_tensor *x = heap2(TG_F32, 100, 2, r.x), *y = heap2(TG_F32, 100, 1, r.y);
  for (int with_val = 0; with_val < 2; with_val++) {
    tg_model *m = tg_sequential_new(TG_F32, 4);
    ck_assert_int_eq(tg_model_add_dense(m, 2, 1, TG_ACT_NONE), TG_OK);
    tg_sgd_opts sgd = {1e-12, 0, 0, false};
    tg_optimizer *opt = tg_sgd_new(tg_model_params(m), &sgd);
    ck_assert_ptr_nonnull(opt);
    ck_assert_int_eq(tg_model_compile(m, TG_LOSS_MSE, opt, 0), TG_OK);
    tg_fit_opts o = {.epochs = 20,
                     .patience = 2,
                     .min_delta = 1e-3,
                     .validation_split = with_val ? 0.25 : 0};
    tg_history *h = fit_ok(m, x, y, &o);
    ck_assert(h->stopped_early);
    ck_assert_int_lt(h->epochs, 20);
    ck_assert_int_eq(h->epochs, 1 + o.patience);
    ck_assert(with_val ? isfinite(h->val_loss[0]) : isnan(h->val_loss[0]));
    tg_history_free(h);

    /* patience 0 never stops early */
    o.patience = 0;
    o.epochs = 6;
    h = fit_ok(m, x, y, &o);
    ck_assert(!h->stopped_early);
    ck_assert_int_eq(h->epochs, 6);
    tg_history_free(h);
    tg_model_free(m);
  }
  /* A problem that keeps improving does not stop with patience 2. */
  tg_model *m = linear_model(TG_F32, 4, 0.05);
  tg_history *h = fit_ok(
      m, x, y,
      &(tg_fit_opts){.epochs = 10, .patience = 2, .validation_split = 0.25});
  ck_assert(!h->stopped_early);
  ck_assert_int_eq(h->epochs, 10);
  tg_history_free(h);
  tg_model_free(m);
  tg_tensor_free(x);
  tg_tensor_free(y);
  regression_free(&r);
}
END_TEST

/* Same seed, same data: bitwise the same parameters; no_shuffle changes the
 * order of the batches, hence the parameters. */
START_TEST(test_shuffle_determinism) {
  regression r = make_regression(100, 14);
  tg_tensor *x = heap2(TG_F32, 100, 2, r.x), *y = heap2(TG_F32, 100, 1, r.y);
  tg_model *ms[3];
  for (int k = 0; k < 3; k++) {
    ms[k] = tg_sequential_new(TG_F32, 9);
    ck_assert_int_eq(tg_model_add_dense(ms[k], 2, 6, TG_ACT_TANH), TG_OK);
    ck_assert_int_eq(tg_model_add_dense(ms[k], 6, 1, TG_ACT_NONE), TG_OK);
    ck_assert_int_eq(tg_model_compile(ms[k], TG_LOSS_MSE, NULL, 0), TG_OK);
  }
  ck_assert(params_equal(tg_model_params(ms[0]), tg_model_params(ms[2])));
  for (int k = 0; k < 3; k++) {
    tg_fit_opts o = {.epochs = 4, .batch_size = 16, .no_shuffle = k == 2};
    tg_history_free(fit_ok(ms[k], x, y, &o));
  }
  ck_assert(params_equal(tg_model_params(ms[0]), tg_model_params(ms[1])));
  ck_assert(!params_equal(tg_model_params(ms[0]), tg_model_params(ms[2])));
  for (int k = 0; k < 3; k++)
    tg_model_free(ms[k]);
  tg_tensor_free(x);
  tg_tensor_free(y);
  regression_free(&r);
}
END_TEST

/* --- verbose output ---------------------------------------------------------
 */

/* Fits 3 epochs writing to a temporary file; returns its contents (free). */
static char *fit_output(const tg_tensor *x, const tg_tensor *y, int verbose,
                        double split) {
  FILE *f = tmpfile();
  ck_assert_ptr_nonnull(f);
  tg_model *m = linear_model(TG_F32, 6, 0.01);
  tg_history *h = fit_ok(m, x, y,
                         &(tg_fit_opts){.epochs = 3,
                                        .verbose = verbose,
                                        .validation_split = split,
                                        .out = f});
  ck_assert_int_eq(h->epochs, 3);
  tg_history_free(h);
  tg_model_free(m);
  long size = ftell(f);
  ck_assert(size >= 0);
  char *text = malloc((size_t)size + 1);
  ck_assert_ptr_nonnull(text);
  rewind(f);
  ck_assert_int_eq(fread(text, 1, (size_t)size, f), (size_t)size);
  text[size] = '\0';
  fclose(f);
  return text;
}

static void check_lines(const char *text, bool validating) {
  ck_assert_ptr_null(strchr(text, '\r')); /* no progress bar */
  ck_assert_ptr_null(strchr(text, '\033'));
  const char *p = text;
  for (int e = 1; e <= 3; e++) {
    const char *nl = strchr(p, '\n');
    ck_assert_msg(nl != NULL, "line %d missing in:\n%s", e, text);
    char line[512], head[32];
    size_t len = (size_t)(nl - p);
    ck_assert(len < sizeof line);
    memcpy(line, p, len);
    line[len] = '\0';
    snprintf(head, sizeof head, "Epoch %d/3 - ", e);
    ck_assert_msg(!strncmp(line, head, strlen(head)), "line '%s'", line);
    ck_assert_msg(strstr(line, "loss: ") != NULL, "line '%s'", line);
    ck_assert_msg((strstr(line, " - val_loss: ") != NULL) == validating,
                  "line '%s'", line);
    p = nl + 1;
  }
  ck_assert_msg(*p == '\0', "more than 3 lines:\n%s", text);
}

START_TEST(test_verbose_lines) {
  regression r = make_regression(64, 15);
  tg_tensor *x = heap2(TG_F32, 64, 2, r.x), *y = heap2(TG_F32, 64, 1, r.y);
  char *text = fit_output(x, y, 1, 0.25);
  check_lines(text, true);
  free(text);
  text = fit_output(x, y, 2, 0.25);
  check_lines(text, true);
  free(text);
  text = fit_output(x, y, 1, 0);
  check_lines(text, false);
  free(text);
  text = fit_output(x, y, 0, 0.25);
  ck_assert_str_eq(text, "");
  free(text);
  tg_tensor_free(x);
  tg_tensor_free(y);
  regression_free(&r);
}
END_TEST

/* --- predict ----------------------------------------------------------------
 */

/* out[o] = act(sum_i w[o, i] in[i] + b[o]) for a dense layer of the model. */
static void dense_ref(tg_params *ps, const char *layer, const double *in,
                      int64_t n_in, double *out, int64_t n_out, bool act_tanh,
                      bool act_relu) {
  char wn[32], bn[32];
  snprintf(wn, sizeof wn, "%s.weight", layer);
  snprintf(bn, sizeof bn, "%s.bias", layer);
  const tg_tensor *w = tg_params_find(ps, wn), *b = tg_params_find(ps, bn);
  ck_assert(w && b);
  ck_assert_int_eq(w->shape[0], n_out);
  ck_assert_int_eq(w->shape[1], n_in);
  for (int64_t o = 0; o < n_out; o++) {
    double s = tg_get_flat(b, o);
    for (int64_t i = 0; i < n_in; i++)
      s += tg_get_flat(w, o * n_in + i) * in[i];
    out[o] = act_tanh ? tanh(s) : act_relu ? fmax(s, 0) : s;
  }
}

START_TEST(test_predict_matches_forward) {
  enum { N = 7 };
  tg_rng rng;
  tg_rng_seed(&rng, 31);
  double xs[N * 3];
  for (int i = 0; i < N * 3; i++)
    xs[i] = 2 * tg_rng_uniform(&rng) - 1;
  tg_tensor *x = heap2(TG_F64, N, 3, xs);
  tg_model *m = tg_sequential_new(TG_F64, 8);
  ck_assert_int_eq(tg_model_add_dense(m, 3, 5, TG_ACT_TANH), TG_OK);
  ck_assert_int_eq(tg_model_add_dense(m, 5, 2, TG_ACT_NONE), TG_OK);
  ck_assert_int_eq(tg_model_compile(m, TG_LOSS_MSE, NULL, 0), TG_OK);
  /* Batches of 3: two full ones and a last one of 1. */
  tg_tensor *pred = tg_model_predict(m, x, 3);
  ck_assert_ptr_nonnull(pred);
  ck_assert_int_eq(pred->dtype, TG_F64);
  ck_assert_int_eq(pred->ndim, 2);
  ck_assert_int_eq(pred->shape[0], N);
  ck_assert_int_eq(pred->shape[1], 2);
  ck_assert_ptr_null(pred->node);
  tg_params *ps = tg_model_params(m);
  double want[N * 2];
  for (int i = 0; i < N; i++) {
    double hidden[5];
    dense_ref(ps, "0", xs + 3 * i, 3, hidden, 5, true, false);
    dense_ref(ps, "2", hidden, 5, want + 2 * i, 2, false, false);
  }
  for (int i = 0; i < N * 2; i++)
    ck_assert_msg(fabs(tg_get_flat(pred, i) - want[i]) <= 1e-12,
                  "element %d: %.17g vs %.17g", i, tg_get_flat(pred, i),
                  want[i]);
  /* A heap tensor: the tape's later use does not touch it. */
  tg_tensor *again = tg_model_predict(m, x, 0);
  ck_assert_ptr_nonnull(again);
  tg_tape_reset(tg_model_tape(m));
  for (int i = 0; i < N * 2; i++)
    ck_assert(fabs(tg_get_flat(pred, i) - want[i]) <= 1e-12);
  ck_assert(bits_equal(pred, again));
  tg_tensor_free(again);
  tg_tensor_free(pred);
  tg_model_free(m);
  tg_tensor_free(x);
}
END_TEST

START_TEST(test_predict_dropout_eval_mode) {
  enum { N = 40 };
  tg_rng rng;
  tg_rng_seed(&rng, 32);
  double xs[N * 3];
  for (int i = 0; i < N * 3; i++)
    xs[i] = 2 * tg_rng_uniform(&rng) - 1;
  tg_tensor *x = heap2(TG_F64, N, 3, xs);
  tg_model *m = tg_sequential_new(TG_F64, 8);
  ck_assert_int_eq(tg_model_add_dense(m, 3, 16, TG_ACT_RELU), TG_OK);
  ck_assert_int_eq(tg_model_add_dropout(m, 0.5), TG_OK);
  ck_assert_int_eq(tg_model_add_dense(m, 16, 2, TG_ACT_NONE), TG_OK);
  ck_assert_int_eq(tg_model_layer_count(m), 4);
  ck_assert_ptr_nonnull(tg_params_find(tg_model_params(m), "3.weight"));
  ck_assert_int_eq(tg_model_compile(m, TG_LOSS_MSE, NULL, 0), TG_OK);
  tg_tensor *a = tg_model_predict(m, x, 16);
  tg_tensor *b = tg_model_predict(m, x, 16);
  ck_assert(a && b);
  ck_assert(bits_equal(a, b));
  tg_params *ps = tg_model_params(m);
  for (int i = 0; i < N; i++) {
    double hidden[16], want[2];
    dense_ref(ps, "0", xs + 3 * i, 3, hidden, 16, false, true);
    dense_ref(ps, "3", hidden, 16, want, 2, false, false);
    for (int k = 0; k < 2; k++)
      ck_assert(fabs(tg_get_flat(a, 2 * i + k) - want[k]) <= 1e-12);
  }
  /* After a fit (training mode), predict is back in evaluation mode. */
  double ys[N * 2];
  for (int i = 0; i < N; i++) {
    ys[2 * i] = xs[3 * i];
    ys[2 * i + 1] = -xs[3 * i + 1];
  }
  tg_tensor *y = heap2(TG_F64, N, 2, ys);
  tg_history_free(fit_ok(m, x, y, &(tg_fit_opts){.epochs = 2}));
  tg_tensor *c = tg_model_predict(m, x, 0), *d = tg_model_predict(m, x, 0);
  ck_assert(c && d);
  ck_assert(bits_equal(c, d));
  for (int i = 0; i < N; i++) {
    double hidden[16], want[2];
    dense_ref(ps, "0", xs + 3 * i, 3, hidden, 16, false, true);
    dense_ref(ps, "3", hidden, 16, want, 2, false, false);
    for (int k = 0; k < 2; k++)
      ck_assert(fabs(tg_get_flat(c, 2 * i + k) - want[k]) <= 1e-12);
  }
  tg_tensor_free(a);
  tg_tensor_free(b);
  tg_tensor_free(c);
  tg_tensor_free(d);
  tg_tensor_free(y);
  tg_model_free(m);
  tg_tensor_free(x);
}
END_TEST

/* --- a custom model ---------------------------------------------------------
 */

typedef struct linear {
  tg_tensor *w, *b;
  int calls_training, calls_eval;
} linear;

static tg_tensor *linear_forward(tg_tape *tp, tg_tensor *x, bool training,
                                 void *ud) {
  linear *l = ud;
  if (training)
    l->calls_training++;
  else
    l->calls_eval++;
  return tg_add(tp, tg_matmul(tp, x, tg_transpose(tp, l->w, 0, 1)), l->b);
}

START_TEST(test_custom_model) {
  regression r = make_regression(128, 16);
  tg_tensor *x = heap2(TG_F32, 128, 2, r.x), *y = heap2(TG_F32, 128, 1, r.y);
  tg_params *ps = tg_params_new();
  ck_assert_ptr_nonnull(ps);
  linear l = {0};
  l.w = tg_param_new(ps, NULL, "w", TG_F32, 2, (int64_t[]){1, 2});
  l.b = tg_param_new(ps, NULL, "b", TG_F32, 1, (int64_t[]){1});
  ck_assert(l.w && l.b);
  tg_model *m = tg_model_custom(ps, linear_forward, &l, 17);
  ck_assert_ptr_nonnull(m);
  ck_assert_ptr_eq(tg_model_params(m), ps);
  ck_assert_int_eq(tg_model_layer_count(m), 0);
  tg_adam_opts o = {0.05, 0, 0, 0, 0};
  ck_assert_int_eq(
      tg_model_compile(m, TG_LOSS_MSE, tg_adam_new(ps, &o), TG_METRIC_MAE),
      TG_OK);
  const int epochs = 40;
  tg_history *h = fit_ok(m, x, y, &(tg_fit_opts){.epochs = epochs});
  ck_assert_int_eq(h->epochs, epochs);
  ck_assert_msg(h->loss[epochs - 1] < h->loss[0] / 10, "loss %g -> %g",
                h->loss[0], h->loss[epochs - 1]);
  ck_assert(isfinite(h->mae[epochs - 1]) && h->mae[epochs - 1] < h->mae[0]);
  ck_assert_int_eq(l.calls_training, epochs * 4); /* 128 rows / 32 */
  ck_assert_int_eq(l.calls_eval, 0);
  ck_assert_msg(fabs(tg_get_flat(l.w, 0) - 2) < 0.05 &&
                    fabs(tg_get_flat(l.w, 1) + 1) < 0.05 &&
                    fabs(tg_item(l.b) - 0.5) < 0.05,
                "w = (%g, %g), b = %g", tg_get_flat(l.w, 0),
                tg_get_flat(l.w, 1), tg_item(l.b));
  tg_tensor *pred = tg_model_predict(m, x, 0);
  ck_assert_ptr_nonnull(pred);
  ck_assert_int_eq(pred->ndim, 2);
  ck_assert_int_eq(pred->shape[0], 128);
  ck_assert_int_eq(pred->shape[1], 1);
  ck_assert_int_eq(l.calls_eval, 4);
  for (int i = 0; i < 128; i++) {
    double want = tg_get_flat(l.w, 0) * (float)r.x[2 * i] +
                  tg_get_flat(l.w, 1) * (float)r.x[2 * i + 1] + tg_item(l.b);
    ck_assert(fabs(tg_get_flat(pred, i) - want) <= 1e-5);
  }
  tg_tensor_free(pred);
  tg_history_free(h);
  tg_model_free(m);
  /* The registry is the caller's: still alive after the model. */
  ck_assert_int_eq(tg_params_count(ps), 2);
  tg_params_free(ps);
  tg_tensor_free(x);
  tg_tensor_free(y);
  regression_free(&r);
}
END_TEST

/* A sequential model pools before its convolution's bias and ReLU (the
 * same function, cheaper): its outputs, and one SGD step's parameters,
 * must equal those of the layers run one by one in the order written. */
START_TEST(test_conv_relu_pool_pooled_first) {
  enum { N = 6 };
  tg_model *m = tg_sequential_new(TG_F64, 5);
  ck_assert_int_eq(tg_model_add_conv2d(m, 2, 3, 3, 1, TG_ACT_RELU), TG_OK);
  ck_assert_int_eq(tg_model_add_max_pool2d(m, 2), TG_OK); /* 7x7 -> 3x3 */
  ck_assert_int_eq(tg_model_add_flatten(m), TG_OK);
  ck_assert_int_eq(tg_model_add_dense(m, 27, 2, TG_ACT_NONE), TG_OK);
  tg_rng rng;
  tg_rng_seed(&rng, 8);
  int64_t sx[4] = {N, 2, 7, 7}, sy[2] = {N, 2};
  tg_tensor *x = tg_tensor_new(NULL, TG_F64, 4, sx);
  tg_tensor *y = tg_tensor_new(NULL, TG_F64, 2, sy);
  ck_assert(x && y);
  tg_fill_normal(x, &rng, 0, 1);
  tg_fill_normal(y, &rng, 0, 1);
  /* a bias large enough that ReLU cuts some windows off entirely */
  tg_params *ps = tg_model_params(m);
  tg_fill_normal(tg_params_at(ps, 1), &rng, -0.3, 1);

  /* the layers one by one, on a tape of our own */
  tg_tape *tp = tg_tape_new();
  tg_tensor *h = x;
  for (int i = 0; i < tg_model_layer_count(m); i++)
    h = tg_layer_forward(tp, tg_model_layer(m, i), h);
  ck_assert_msg(h != NULL, "%s", tg_errmsg(tp));
  tg_tensor *pred = tg_model_predict(m, x, 0);
  ck_assert_ptr_nonnull(pred);
  ck_assert(bits_equal(pred, tg_contiguous(tp, h)));
  tg_tensor *loss = tg_mse_loss(tp, h, y, TG_REDUCE_MEAN);
  ck_assert_int_eq(tg_backward(tp, loss), TG_OK);
  int np = tg_params_count(ps);
  double want[4][64];
  for (int k = 0; k < np; k++) {
    tg_tensor *p = tg_params_at(ps, k), *g = tg_grad_of(p);
    ck_assert(p->numel <= 64 && g);
    for (int64_t j = 0; j < p->numel; j++)
      want[k][j] = tg_get_flat(p, j) - 0.1 * tg_get_flat(g, j);
  }
  tg_tape_free(tp);
  tg_params_zero_grad(ps);

  /* one step of the model's own forward (pooling first) */
  ck_assert_int_eq(tg_model_compile(m, TG_LOSS_MSE,
                                    tg_sgd_new(ps, &(tg_sgd_opts){.lr = 0.1}),
                                    0),
                   TG_OK);
  tg_history *hist =
      fit_ok(m, x, y, &(tg_fit_opts){.batch_size = N, .no_shuffle = true});
  for (int k = 0; k < np; k++) {
    tg_tensor *p = tg_params_at(ps, k);
    for (int64_t j = 0; j < p->numel; j++)
      ck_assert_msg(fabs(tg_get_flat(p, j) - want[k][j]) <= 1e-12,
                    "parameter %s[%lld]: %.17g after the step, expected %.17g",
                    tg_params_name(ps, k), (long long)j, tg_get_flat(p, j),
                    want[k][j]);
  }
  tg_history_free(hist);
  tg_tensor_free(pred);
  tg_tensor_free(x);
  tg_tensor_free(y);
  tg_model_free(m);
}
END_TEST

/* --- errors ----------------------------------------------------------------
 */

START_TEST(test_errors) {
  double vals[40] = {0};
  char want[256], bx[64], by[64];
  tg_tensor *x8 = heap2(TG_F32, 8, 3, vals), *y8 = heap2(TG_F32, 8, 2, vals);
  tg_tensor *y7 = heap2(TG_F32, 7, 2, vals), *x84 = heap2(TG_F32, 8, 4, vals);

  /* fit before compile */
  tg_model *m = tg_sequential_new(TG_F32, 1);
  ck_assert_int_eq(tg_model_add_dense(m, 3, 2, TG_ACT_NONE), TG_OK);
  ck_assert_ptr_null(tg_model_fit(m, x8, y8, NULL));
  ck_assert_msg(strstr(tg_model_errmsg(m), "compile") != NULL, "'%s'",
                tg_model_errmsg(m));
  ck_assert_int_ne(tg_error(tg_model_tape(m)), TG_OK);
  tg_model_free(m);

  /* evaluate before compile */
  m = tg_sequential_new(TG_F32, 1);
  ck_assert_int_eq(tg_model_add_dense(m, 3, 2, TG_ACT_NONE), TG_OK);
  ck_assert_int_ne(tg_model_evaluate(m, x8, y8, 0, NULL, NULL, NULL), TG_OK);
  ck_assert(strstr(tg_model_errmsg(m), "compile") != NULL);
  tg_model_free(m);

  /* row counts that differ */
  m = tg_sequential_new(TG_F32, 1);
  ck_assert_int_eq(tg_model_add_dense(m, 3, 2, TG_ACT_NONE), TG_OK);
  ck_assert_int_eq(tg_model_compile(m, TG_LOSS_MSE, NULL, 0), TG_OK);
  ck_assert_ptr_null(tg_model_fit(m, x8, y7, NULL));
  ck_assert_msg(strstr(tg_model_errmsg(m), tg_shape_str(x8, bx, sizeof bx)) &&
                    strstr(tg_model_errmsg(m), tg_shape_str(y7, by, sizeof by)),
                "'%s'", tg_model_errmsg(m));
  ck_assert_int_eq(tg_error(tg_model_tape(m)), TG_ERR_SHAPE);
  /* after clearing, the same model trains */
  tg_clear_error(tg_model_tape(m));
  tg_history *h = fit_ok(m, x8, y8, NULL);
  ck_assert_int_eq(h->epochs, 1);
  tg_history_free(h);
  /* explicit validation data with differing rows */
  ck_assert_ptr_null(
      tg_model_fit(m, x8, y8, &(tg_fit_opts){.val_x = x8, .val_y = y7}));
  ck_assert_int_eq(tg_error(tg_model_tape(m)), TG_ERR_SHAPE);
  tg_model_free(m);

  /* the wrong width for the first layer: fit, evaluate and predict */
  m = tg_sequential_new(TG_F32, 1);
  ck_assert_int_eq(tg_model_add_dense(m, 3, 2, TG_ACT_NONE), TG_OK);
  ck_assert_int_eq(tg_model_compile(m, TG_LOSS_MSE, NULL, 0), TG_OK);
  snprintf(want, sizeof want, "dense '0': expected input [*, 3], got %s",
           tg_shape_str(x84, bx, sizeof bx));
  ck_assert_ptr_null(tg_model_fit(m, x84, y8, NULL));
  ck_assert_msg(strstr(tg_model_errmsg(m), want) != NULL, "'%s' lacks '%s'",
                tg_model_errmsg(m), want);
  ck_assert_int_eq(tg_error(tg_model_tape(m)), TG_ERR_SHAPE);
  tg_clear_error(tg_model_tape(m));
  ck_assert_int_eq(tg_model_evaluate(m, x84, y8, 0, NULL, NULL, NULL),
                   TG_ERR_SHAPE);
  ck_assert(strstr(tg_model_errmsg(m), want) != NULL);
  tg_clear_error(tg_model_tape(m));
  ck_assert_ptr_null(tg_model_predict(m, x84, 0));
  ck_assert(strstr(tg_model_errmsg(m), want) != NULL);
  tg_model_free(m);

  /* ... and for a later layer, named by its position */
  m = tg_sequential_new(TG_F32, 1);
  ck_assert_int_eq(tg_model_add_dense(m, 3, 4, TG_ACT_RELU), TG_OK);
  ck_assert_int_eq(tg_model_add_dense(m, 5, 2, TG_ACT_NONE), TG_OK);
  ck_assert_int_eq(tg_model_compile(m, TG_LOSS_MSE, NULL, 0), TG_OK);
  ck_assert_ptr_null(tg_model_fit(m, x8, y8, NULL));
  ck_assert_msg(strstr(tg_model_errmsg(m), "dense '2': expected input [*, 5]"),
                "'%s'", tg_model_errmsg(m));
  tg_model_free(m);

  tg_tensor_free(x8);
  tg_tensor_free(y8);
  tg_tensor_free(y7);
  tg_tensor_free(x84);
}
END_TEST

/* --- save and load ----------------------------------------------------------
 */

static tg_model *mlp(uint64_t seed, int64_t hidden) {
  tg_model *m = tg_sequential_new(TG_F32, seed);
  ck_assert_ptr_nonnull(m);
  ck_assert_int_eq(tg_model_add_dense(m, 3, hidden, TG_ACT_RELU), TG_OK);
  ck_assert_int_eq(tg_model_add_dense(m, hidden, 2, TG_ACT_NONE), TG_OK);
  ck_assert_int_eq(tg_model_compile(m, TG_LOSS_MSE, NULL, 0), TG_OK);
  return m;
}

START_TEST(test_save_load) {
  enum { N = 64 };
  tg_rng rng;
  tg_rng_seed(&rng, 41);
  double xs[N * 3], ys[N * 2];
  for (int i = 0; i < N; i++) {
    for (int k = 0; k < 3; k++)
      xs[3 * i + k] = 2 * tg_rng_uniform(&rng) - 1;
    ys[2 * i] = xs[3 * i] * xs[3 * i + 1];
    ys[2 * i + 1] = xs[3 * i + 2] - xs[3 * i];
  }
  tg_tensor *x = heap2(TG_F32, N, 3, xs), *y = heap2(TG_F32, N, 2, ys);
  tg_model *a = mlp(1, 4);
  tg_history_free(fit_ok(a, x, y, &(tg_fit_opts){.epochs = 5}));

  char dir[] = "/tmp/tg_test_model_XXXXXX", path[256];
  ck_assert_ptr_nonnull(mkdtemp(dir));
  snprintf(path, sizeof path, "%s/model.safetensors", dir);
  ck_assert_int_eq(
      tg_save_safetensors(tg_model_tape(a), tg_model_params(a), path), TG_OK);

  /* A fresh model of the same architecture, other seed: other predictions
   * until it loads the file, then bitwise the same. */
  tg_model *b = mlp(2, 4);
  tg_tensor *pa = tg_model_predict(a, x, 0), *pb = tg_model_predict(b, x, 0);
  ck_assert(pa && pb);
  ck_assert(!bits_equal(pa, pb));
  tg_tensor_free(pb);
  tg_status st =
      tg_load_safetensors(tg_model_tape(b), tg_model_params(b), path);
  ck_assert_msg(st == TG_OK, "%s", tg_model_errmsg(b));
  ck_assert(params_equal(tg_model_params(a), tg_model_params(b)));
  pb = tg_model_predict(b, x, 0);
  ck_assert_ptr_nonnull(pb);
  ck_assert(bits_equal(pa, pb));
  tg_tensor_free(pb);

  /* hidden 5 instead of 4: refused, naming the tensor and both shapes, and
   * nothing changed. */
  tg_model *c = mlp(3, 5);
  tg_params *pc = tg_model_params(c);
  int n = tg_params_count(pc);
  tg_tensor *before[8];
  ck_assert_int_le(n, 8);
  for (int i = 0; i < n; i++)
    before[i] = tg_tensor_clone(NULL, tg_params_at(pc, i));
  st = tg_load_safetensors(tg_model_tape(c), pc, path);
  ck_assert_int_eq(st, TG_ERR_SHAPE);
  ck_assert_int_eq(tg_error(tg_model_tape(c)), TG_ERR_SHAPE);
  char sa[64], sc[64];
  const char *msg = tg_model_errmsg(c);
  tg_shape_str(tg_params_find(tg_model_params(a), "0.weight"), sa, sizeof sa);
  tg_shape_str(tg_params_find(pc, "0.weight"), sc, sizeof sc);
  ck_assert_msg(strstr(msg, "0.weight") && strstr(msg, sa) && strstr(msg, sc),
                "'%s' should name 0.weight, %s and %s", msg, sa, sc);
  for (int i = 0; i < n; i++) {
    ck_assert(bits_equal(before[i], tg_params_at(pc, i)));
    tg_tensor_free(before[i]);
  }

  tg_tensor_free(pa);
  tg_model_free(a);
  tg_model_free(b);
  tg_model_free(c);
  ck_assert_int_eq(remove(path), 0);
  ck_assert_int_eq(rmdir(dir), 0);
  tg_tensor_free(x);
  tg_tensor_free(y);
}
END_TEST

/* --- history SVG ------------------------------------------------------------
 */

START_TEST(test_history_svg) {
  enum { N = 128 };
  double xs[2 * N], ls[N];
  make_blobs(N, 51, xs, ls);
  tg_tensor *x = heap2(TG_F32, N, 2, xs), *y = heap2(TG_F32, N, 0, ls);
  tg_model *m = tg_sequential_new(TG_F32, 3);
  ck_assert_int_eq(tg_model_add_dense(m, 2, 2, TG_ACT_NONE), TG_OK);
  ck_assert_int_eq(tg_model_compile(m, TG_LOSS_CROSS_ENTROPY, adam(m, 0.01),
                                    TG_METRIC_ACCURACY),
                   TG_OK);
  tg_history *h =
      fit_ok(m, x, y, &(tg_fit_opts){.epochs = 5, .validation_split = 0.25});

  char dir[] = "/tmp/tg_test_svg_XXXXXX", path[256];
  ck_assert_ptr_nonnull(mkdtemp(dir));
  snprintf(path, sizeof path, "%s/history.svg", dir);
  ck_assert_int_eq(tg_history_write_svg(h, path), TG_OK);
  /* twice: replacing an existing file */
  ck_assert_int_eq(tg_history_write_svg(h, path), TG_OK);
  ck_assert_int_ne(tg_history_write_svg(NULL, path), TG_OK);

  FILE *f = fopen(path, "rb");
  ck_assert_ptr_nonnull(f);
  static char text[1 << 16];
  size_t len = fread(text, 1, sizeof text - 1, f);
  text[len] = '\0';
  fclose(f);
  ck_assert(len > 0 && len < sizeof text - 1);
  ck_assert_msg(!strncmp(text, "<svg", 4), "starts '%.20s'", text);
  ck_assert(strstr(text, "<polyline") != NULL);
  ck_assert(strstr(text, "loss") != NULL);
  ck_assert(strstr(text, "val_loss") != NULL);
  ck_assert(strstr(text, "accuracy") != NULL);
  ck_assert(strstr(text, "</svg>") != NULL);

  /* Only the SVG is in the directory: no temporary file left behind. */
  DIR *d = opendir(dir);
  ck_assert_ptr_nonnull(d);
  int entries = 0;
  struct dirent *de;
  while ((de = readdir(d))) {
    if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
    ck_assert_msg(!strcmp(de->d_name, "history.svg"), "stray file '%s'",
                  de->d_name);
    entries++;
  }
  closedir(d);
  ck_assert_int_eq(entries, 1);

  ck_assert_int_eq(remove(path), 0);
  ck_assert_int_eq(rmdir(dir), 0);
  tg_history_free(h);
  tg_model_free(m);
  tg_tensor_free(x);
  tg_tensor_free(y);
}
END_TEST

/* Fixed after this suite first ran: empty data, data on the model's own
 * tape, and Keras's rounding of validation_split. */
static tg_model *small_regression(void) {
  tg_model *m = tg_sequential_new(TG_F64, 5);
  tg_model_add_dense(m, 1, 1, TG_ACT_NONE);
  tg_model_compile(m, TG_LOSS_MSE, NULL, 0);
  return m;
}

START_TEST(test_empty_data_is_an_error) {
  tg_model *m = small_regression();
  int64_t s0[2] = {0, 1};
  tg_tensor *x = tg_tensor_new(NULL, TG_F64, 2, s0);
  ck_assert_ptr_null(tg_model_fit(m, x, x, NULL));
  ck_assert_ptr_nonnull(strstr(tg_model_errmsg(m), "has no rows"));
  tg_clear_error(tg_model_tape(m));
  ck_assert_ptr_null(tg_model_predict(m, x, 0));
  ck_assert_ptr_nonnull(strstr(tg_model_errmsg(m), "tg_model_predict"));
  tg_tensor_free(x);
  tg_model_free(m);
}
END_TEST

START_TEST(test_data_on_the_model_tape_is_refused) {
  tg_model *m = small_regression();
  int64_t s[2] = {8, 1};
  tg_tensor *x = tg_ones(tg_model_tape(m), TG_F64, 2, s);
  ck_assert_ptr_null(tg_model_fit(m, x, x, NULL));
  ck_assert_ptr_nonnull(strstr(tg_model_errmsg(m), "model's own tape"));
  tg_model_free(m);
}
END_TEST

START_TEST(test_validation_split_rounds_as_keras) {
  /* 10 rows at 0.25: Keras trains on floor(10 * 0.75) = 7, validates on 3.
   * Rows 7..9 have targets far off, so val_loss tells how many it took. */
  double xs[10], ys[10];
  for (int i = 0; i < 10; i++) {
    xs[i] = i / 10.0;
    ys[i] = i < 7 ? xs[i] : 100.0;
  }
  int64_t s[2] = {10, 1}, sv[2] = {3, 1};
  tg_tensor *x = tg_tensor_new(NULL, TG_F64, 2, s);
  tg_tensor *y = tg_tensor_new(NULL, TG_F64, 2, s);
  tg_copy_in(x, xs);
  tg_copy_in(y, ys);
  tg_model *m = small_regression();
  tg_history *h = tg_model_fit(
      m, x, y,
      &(tg_fit_opts){.epochs = 1, .validation_split = 0.25, .no_shuffle = 1});
  ck_assert_ptr_nonnull(h);
  tg_tensor *vx = tg_tensor_new(NULL, TG_F64, 2, sv);
  tg_tensor *vy = tg_tensor_new(NULL, TG_F64, 2, sv);
  tg_copy_in(vx, xs + 7);
  tg_copy_in(vy, ys + 7);
  double loss;
  ck_assert_int_eq(tg_model_evaluate(m, vx, vy, 0, &loss, NULL, NULL), TG_OK);
  ck_assert_double_eq_tol(h->val_loss[0], loss, 1e-9 * loss);
  tg_history_free(h);
  tg_tensor_free(x);
  tg_tensor_free(y);
  tg_tensor_free(vx);
  tg_tensor_free(vy);
  tg_model_free(m);
}
END_TEST

static Suite *model_suite(void) {
  Suite *s = suite_create("model");
  TCase *build = tcase_create("build");
  tcase_set_timeout(build, 300);
  tcase_add_test(build, test_sequential_names);
  suite_add_tcase(s, build);

  TCase *fit = tcase_create("fit");
  tcase_set_timeout(fit, 300);
  tcase_add_test(fit, test_fit_reduces_loss);
  tcase_add_test(fit, test_validation_split_last_rows);
  tcase_add_test(fit, test_validation_data_accuracy);
  tcase_add_test(fit, test_bce_logits_xor);
  tcase_add_test(fit, test_early_stopping);
  tcase_add_test(fit, test_shuffle_determinism);
  tcase_add_test(fit, test_verbose_lines);
  suite_add_tcase(s, fit);

  TCase *pred = tcase_create("predict");
  tcase_set_timeout(pred, 300);
  tcase_add_test(pred, test_predict_matches_forward);
  tcase_add_test(pred, test_predict_dropout_eval_mode);
  tcase_add_test(pred, test_custom_model);
  suite_add_tcase(s, pred);

  TCase *err = tcase_create("errors");
  tcase_set_timeout(err, 300);
  tcase_add_test(err, test_errors);
  suite_add_tcase(s, err);

  tcase_add_test(err, test_empty_data_is_an_error);
  tcase_add_test(err, test_data_on_the_model_tape_is_refused);
  tcase_add_test(fit, test_validation_split_rounds_as_keras);
  TCase *files = tcase_create("files");
  tcase_set_timeout(files, 300);
  tcase_add_test(fit, test_conv_relu_pool_pooled_first);
  tcase_add_test(files, test_save_load);
  tcase_add_test(files, test_history_svg);
  suite_add_tcase(s, files);
  return s;
}

int main(void) { return tgt_run_suite(model_suite()); }
