/* fit, evaluate and predict: mini-batch loops over a data set. */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../dist/dist_internal.h"
#include "model_internal.h"

static double now_seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* --- metrics ---------------------------------------------------------------
 */

/* The predicted class of row r: argmax over C > 1 columns, else the
 * threshold (0 for logits, 0.5 for outputs). */
static double predicted(const tg_tensor *out, int64_t r, int64_t cols,
                        double threshold) {
  if (cols == 1) return tg_get_flat(out, r) > threshold ? 1.0 : 0.0;
  int64_t best = 0;
  for (int64_t c = 1; c < cols; c++)
    if (tg_get_flat(out, r * cols + c) > tg_get_flat(out, r * cols + best))
      best = c;
  return (double)best;
}

/* The true class of row r: a label, or the argmax of a one-hot row. */
static double actual(const tg_tensor *y, int64_t r, int64_t cols, bool labels) {
  if (labels || cols == 1) return tg_get_flat(y, labels ? r : r * cols);
  return predicted(y, r, cols, 0.5);
}

void tg__tally_batch(const tg_model *m, tg_tally *t, const tg_tensor *out,
                     const tg_tensor *y, double batch_loss) {
  int64_t n = out->ndim ? out->shape[0] : 1;
  int64_t cols = n ? out->numel / n : 1;
  t->loss += batch_loss * (double)n;
  t->samples += n;
  bool labels = m->loss == TG_LOSS_CROSS_ENTROPY;
  if (m->metrics & TG_METRIC_ACCURACY) {
    double threshold = m->loss == TG_LOSS_BCE_LOGITS ? 0.0 : 0.5;
    for (int64_t r = 0; r < n; r++)
      t->correct +=
          predicted(out, r, cols, threshold) == actual(y, r, cols, labels);
  }
  if ((m->metrics & (TG_METRIC_MAE | TG_METRIC_MSE)) && !labels &&
      y->numel == out->numel) {
    for (int64_t i = 0; i < out->numel; i++) {
      double d = tg_get_flat(out, i) - tg_get_flat(y, i);
      t->abs_err += fabs(d);
      t->sq_err += d * d;
    }
    t->elements += out->numel;
  }
}

/* --- batches of rows --------------------------------------------------------
 */

static bool check_data(tg_model *m, const char *fname, const tg_tensor *x,
                       const tg_tensor *y) {
  char bx[96], by[96];
  if (!x || (!y && strcmp(fname, "tg_model_predict"))) {
    tg__fail(m->tp, TG_ERR_NULL, "%s: data is NULL", fname);
    return false;
  }
  if (x->ndim < 1 || (y && (y->ndim < 1 || y->shape[0] != x->shape[0]))) {
    tg__fail(m->tp, TG_ERR_SHAPE,
             "%s: x %s and y %s must have the same "
             "number of rows",
             fname, tg_shape_str(x, bx, sizeof bx),
             tg_shape_str(y, by, sizeof by));
    return false;
  }
  if (x->shape[0] == 0) {
    tg__fail(m->tp, TG_ERR_SHAPE, "%s: x %s has no rows", fname,
             tg_shape_str(x, bx, sizeof bx));
    return false;
  }
  /* The model's tape is reset after every batch: data living there would
   * be overwritten by the first batch's tensors. */
  if (tg__arena_owns(&m->tp->arena, x->data) ||
      (y && tg__arena_owns(&m->tp->arena, y->data))) {
    tg__fail(m->tp, TG_ERR_STATE,
             "%s: the data lives on the model's own tape, which is reset "
             "after every batch; make it with tg_tensor_new or on another "
             "tape",
             fname);
    return false;
  }
  if (y && !m->compiled) {
    tg__fail(m->tp, TG_ERR_STATE, "%s: compile the model first", fname);
    return false;
  }
  return true;
}

tg_status tg__model_eval_range(tg_model *m, const tg_tensor *x,
                               const tg_tensor *y, int64_t begin, int64_t end,
                               int64_t batch, tg_tally *out) {
  memset(out, 0, sizeof *out);
  if (batch <= 0) batch = 32;
  int64_t idx[1024];
  if (batch > 1024) batch = 1024;
  tg_tape *tp = m->tp;
  bool prev = tg_set_grad_enabled(tp, false);
  for (int64_t at = begin; at < end && !tg_error(tp); at += batch) {
    int64_t n = end - at < batch ? end - at : batch;
    for (int64_t i = 0; i < n; i++)
      idx[i] = at + i;
    tg_tensor *xb = tg_take_rows(tp, x, idx, n);
    tg_tensor *yb = tg_take_rows(tp, y, idx, n);
    tg_tensor *o = tg__model_forward(m, tp, xb, false);
    tg_tensor *loss = tg__model_loss(m, tp, o, yb);
    if (loss) tg__tally_batch(m, out, o, yb, tg_item(loss));
    tg_tape_reset(tp);
  }
  tg_set_grad_enabled(tp, prev);
  return tg_error(tp);
}

tg_status tg_model_evaluate(tg_model *m, const tg_tensor *x, const tg_tensor *y,
                            int64_t batch_size, double *loss, double *accuracy,
                            double *mae) {
  if (!m) return TG_ERR_NULL;
  if (!check_data(m, "tg_model_evaluate", x, y)) return tg_error(m->tp);
  tg_tally t;
  tg_status st = tg__model_eval_range(m, x, y, 0, x->shape[0], batch_size, &t);
  if (st) return st;
  double n = t.samples ? (double)t.samples : NAN;
  if (loss) *loss = t.loss / n;
  if (accuracy) /* NaN, like mae, when the metric was not compiled */
    *accuracy = m->metrics & TG_METRIC_ACCURACY ? t.correct / n : NAN;
  if (mae) *mae = t.elements ? t.abs_err / (double)t.elements : NAN;
  return TG_OK;
}

tg_tensor *tg_model_predict(tg_model *m, const tg_tensor *x,
                            int64_t batch_size) {
  if (!m) return NULL;
  if (!check_data(m, "tg_model_predict", x, NULL)) return NULL;
  if (batch_size <= 0) batch_size = 32;
  if (batch_size > 1024) batch_size = 1024;
  tg_tape *tp = m->tp;
  tg_tensor *result = NULL;
  int64_t rows = x->shape[0], idx[1024], row_elems = 0;
  bool prev = tg_set_grad_enabled(tp, false);
  for (int64_t at = 0; at < rows && !tg_error(tp); at += batch_size) {
    int64_t n = rows - at < batch_size ? rows - at : batch_size;
    for (int64_t i = 0; i < n; i++)
      idx[i] = at + i;
    tg_tensor *o = tg__model_forward(m, tp, tg_take_rows(tp, x, idx, n), false);
    if (o && !result) {
      int64_t shape[TG_MAX_DIMS];
      memcpy(shape, o->shape, sizeof shape);
      shape[0] = rows;
      row_elems = n ? o->numel / n : 0;
      result = tg_tensor_new(tp, o->dtype, o->ndim, shape);
    }
    if (o && result)
      tg_copy_out(o, (char *)result->data +
                         at * row_elems * (int64_t)tg_dtype_size(o->dtype));
    tg_tape_reset(tp);
  }
  tg_set_grad_enabled(tp, prev);
  if (tg_error(tp)) {
    tg_tensor_free(result);
    return NULL;
  }
  return result;
}

/* --- fit --------------------------------------------------------------------
 */

static double mean_of(double sum, int64_t n) {
  return n ? sum / (double)n : NAN;
}

/* "loss: 0.1234 - accuracy: 0.9500" for a tally. */
static void describe_tally(const tg_model *m, const tg_tally *t,
                           const char *prefix, char *buf, size_t size) {
  size_t pos = (size_t)snprintf(buf, size, "%sloss: %.4f", prefix,
                                mean_of(t->loss, t->samples));
  if ((m->metrics & TG_METRIC_ACCURACY) && pos < size)
    pos += (size_t)snprintf(buf + pos, size - pos, " - %saccuracy: %.4f",
                            prefix, mean_of(t->correct, t->samples));
  if ((m->metrics & TG_METRIC_MAE) && t->elements && pos < size)
    pos += (size_t)snprintf(buf + pos, size - pos, " - %smae: %.4f", prefix,
                            t->abs_err / (double)t->elements);
  if ((m->metrics & TG_METRIC_MSE) && t->elements && pos < size)
    snprintf(buf + pos, size - pos, " - %smse: %.4f", prefix,
             t->sq_err / (double)t->elements);
}

static void progress_bar(FILE *out, int epoch, int epochs, int64_t done,
                         int64_t total, const char *figures) {
  enum { WIDTH = 30 };
  int filled = total ? (int)(WIDTH * done / total) : WIDTH;
  char bar[WIDTH + 1];
  for (int i = 0; i < WIDTH; i++)
    bar[i] = i < filled ? '=' : i == filled ? '>' : ' ';
  bar[WIDTH] = '\0';
  fprintf(out, "\rEpoch %d/%d [%s] %lld/%lld - %s", epoch, epochs, bar,
          (long long)done, (long long)total, figures);
  fflush(out);
}

static tg_history *history_new(int epochs) {
  tg_history *h = tg__malloc(sizeof *h);
  double *block = tg__malloc(sizeof(double) * 9 * (size_t)epochs);
  if (!h || !block) {
    tg__free(h);
    tg__free(block);
    return NULL;
  }
  memset(h, 0, sizeof *h);
  for (int i = 0; i < 9 * epochs; i++)
    block[i] = NAN;
  double **cols[9] = {&h->loss,         &h->val_loss, &h->accuracy,
                      &h->val_accuracy, &h->mae,      &h->val_mae,
                      &h->mse,          &h->val_mse,  &h->seconds};
  for (int k = 0; k < 9; k++)
    *cols[k] = block + k * epochs;
  return h;
}

void tg_history_free(tg_history *h) {
  if (!h) return;
  tg__free(h->loss); /* the first column owns the block */
  tg__free(h);
}

static void record(const tg_model *m, const tg_tally *t, double *loss,
                   double *acc, double *mae, double *mse) {
  *loss = mean_of(t->loss, t->samples);
  if (m->metrics & TG_METRIC_ACCURACY) *acc = mean_of(t->correct, t->samples);
  if (t->elements) {
    *mae = t->abs_err / (double)t->elements;
    *mse = t->sq_err / (double)t->elements;
  }
}

/* Where this process stands in data-parallel training: rank 0 of 1 when
 * training alone. */
typedef struct fit_world {
  bool on;
  int rank, size;
} fit_world;

/* Puts a failure of src/dist on the model's tape. */
static void dist_failed(tg_model *m, tg_status st) {
  tg__fail(m->tp, st, "%s", tg_dist_errmsg());
}

static void other_rank_failed(tg_model *m, int ranks) {
  tg__fail(m->tp, TG_ERR_STATE,
           "tg_model_fit: %d other rank%s failed (see %s message); training "
           "stopped on every rank",
           ranks, ranks > 1 ? "s" : "", ranks > 1 ? "their" : "its");
}

/* Averages the gradients over the ranks; ok says whether this rank's
 * forward and backward went well, and rides along in the same reduction, so
 * that every rank stops at the same step when one of them failed. */
static bool average_grads(tg_model *m, bool ok) {
  int failed = !ok;
  tg_status st = tg__dist_average(m->ps, "tg_model_fit", &failed);
  if (st) {
    dist_failed(m, st);
    return false;
  }
  if (failed && ok) other_rank_failed(m, failed);
  return !failed;
}

/* Sums a tally over the ranks, with a failure flag. */
static bool reduce_tally(tg_model *m, tg_tally *t, bool failed) {
  double v[7] = {t->loss,           t->correct,         t->abs_err,
                 t->sq_err,         (double)t->samples, (double)t->elements,
                 failed ? 1.0 : 0.0};
  tg_status st = tg_dist_sum(v, 7);
  if (st) {
    tg__fail(m->tp, st, "tg_model_fit: %s", tg_dist_errmsg());
    return false;
  }
  if (v[6] > 0) {
    if (!failed) other_rank_failed(m, (int)v[6]);
    return false;
  }
  t->loss = v[0];
  t->correct = v[1];
  t->abs_err = v[2];
  t->sq_err = v[3];
  t->samples = (int64_t)v[4];
  t->elements = (int64_t)v[5];
  return true;
}

/* One epoch over the first n_train rows, in the batcher's order. Each of
 * the batcher's batches is a global batch: the rank takes its slice of it
 * (the whole batch when training alone). */
static bool train_epoch(tg_model *m, const tg_tensor *x, const tg_tensor *y,
                        tg_batcher *b, int epoch, const tg_fit_opts *o,
                        const fit_world *w, bool bar, tg_tally *t) {
  tg_tape *tp = m->tp;
  FILE *out = o->out ? o->out : stdout;
  memset(t, 0, sizeof *t);
  tg_batcher_reset(b);
  const int64_t *idx;
  int64_t n, done = 0, total = 0;
  while (tg_batcher_next(b, &idx, &n))
    total += n - n % w->size;
  tg_batcher_reset(b);
  while (tg_batcher_next(b, &idx, &n)) {
    /* size equal slices; the last batch's n mod size rows are left out */
    int64_t share = n / w->size;
    if (share == 0) continue;
    idx += w->rank * share;
    tg_tensor *xb = tg_take_rows(tp, x, idx, share);
    tg_tensor *yb = tg_take_rows(tp, y, idx, share);
    tg_tensor *pred = tg__model_forward(m, tp, xb, true);
    tg_tensor *loss = tg__model_loss(m, tp, pred, yb);
    bool ok = loss && tg_backward(tp, loss) == TG_OK;
    if (w->on && !average_grads(m, ok)) ok = false;
    if (!ok || tg_optimizer_step(m->opt) != TG_OK) {
      if (!tg_error(tp))
        tg__fail(tp, TG_ERR_STATE, "tg_model_fit: optimizer step failed");
      return false;
    }
    tg_optimizer_zero_grad(m->opt);
    tg__tally_batch(m, t, pred, yb, tg_item(loss));
    done += share * w->size;
    if (bar) {
      char figures[256];
      describe_tally(m, t, "", figures, sizeof figures);
      progress_bar(out, epoch, o->epochs ? o->epochs : 1, done, total, figures);
    }
    tg_tape_reset(tp);
  }
  return true;
}

/* The start of a data-parallel fit: checks that MPI runs, sends rank 0's
 * parameters and shuffling seed to every rank, and gives the other ranks'
 * dropout masks their own random numbers. */
static bool start_distributed(tg_model *m, int64_t n_train, fit_world *w,
                              uint64_t *shuffle_seed, bool *has_buffers) {
  if (!tg__dist_ready()) {
    tg__fail(m->tp, TG_ERR_STATE,
             tg_dist_available()
                 ? "tg_model_fit: distributed is set but MPI is not "
                   "initialised; call tg_dist_init first"
                 : "tg_model_fit: distributed is set but tapegrad was built "
                   "without MPI");
    return false;
  }
  *w = (fit_world){true, tg_dist_rank(), tg_dist_size()};
  if (n_train < w->size) {
    tg__fail(m->tp, TG_ERR_SHAPE,
             "tg_model_fit: %lld training samples cannot be shared among %d "
             "ranks",
             (long long)n_train, w->size);
    return false;
  }
  tg_status st = tg__dist_broadcast(m->ps, 0, false, "tg_model_fit");
  if (!st) st = tg__dist_broadcast_u64(shuffle_seed, 0, "tg_model_fit");
  if (st) {
    dist_failed(m, st);
    return false;
  }
  for (int i = 0; i < tg_params_count(m->ps); i++)
    if (!tg_params_trainable(m->ps, i)) *has_buffers = true;
  if (w->rank > 0)
    tg_tape_seed(m->tp, tg_rng_u64(tg_tape_rng(m->tp)) +
                            0x9e3779b97f4a7c15ull * (uint64_t)w->rank);
  return true;
}

tg_history *tg_model_fit(tg_model *m, const tg_tensor *x, const tg_tensor *y,
                         const tg_fit_opts *opts) {
  if (!m) return NULL;
  tg_fit_opts o = {0};
  if (opts) o = *opts;
  int epochs = o.epochs > 0 ? o.epochs : 1;
  int64_t batch = o.batch_size > 0 ? o.batch_size : 32;
  FILE *out = o.out ? o.out : stdout;
  if (!check_data(m, "tg_model_fit", x, y)) return NULL;
  if (o.val_x && !check_data(m, "tg_model_fit", o.val_x, o.val_y)) return NULL;
  int64_t rows = x->shape[0], n_train = rows;
  if (!o.val_x && o.validation_split > 0 && o.validation_split < 1)
    n_train = (int64_t)floor((double)rows * (1 - o.validation_split));
  bool has_val = o.val_x || n_train < rows;
  fit_world w = {false, 0, 1};
  uint64_t shuffle_seed = m->seed ^ 0xbadc0ffeull;
  bool has_buffers = false;
  if (o.distributed &&
      !start_distributed(m, n_train, &w, &shuffle_seed, &has_buffers))
    return NULL;
  tg_batcher *b =
      tg_batcher_new(n_train, batch * w.size, !o.no_shuffle, shuffle_seed);
  tg_history *h = history_new(epochs);
  if (!b || !h) {
    tg__fail(m->tp, TG_ERR_NOMEM, "tg_model_fit: out of memory");
    tg_batcher_free(b);
    tg_history_free(h);
    return NULL;
  }
  bool bar = o.verbose == 1 && w.rank == 0 && isatty(fileno(out));
  double best = INFINITY;
  int since_best = 0;
  for (int e = 0; e < epochs; e++) {
    double start = now_seconds();
    tg_tally tr, va;
    if (!train_epoch(m, x, y, b, e + 1, &o, &w, bar, &tr)) break;
    if (w.on && !reduce_tally(m, &tr, false)) break;
    /* Batch norm's statistics saw only this rank's rows: rank 0's go to
     * every rank, so that all of them hold the same model. */
    if (w.on && has_buffers) {
      tg_status st = tg__dist_broadcast(m->ps, 0, true, "tg_model_fit");
      if (st) {
        dist_failed(m, st);
        break;
      }
    }
    record(m, &tr, &h->loss[e], &h->accuracy[e], &h->mae[e], &h->mse[e]);
    if (has_val) {
      const tg_tensor *vx = o.val_x ? o.val_x : x, *vy = o.val_x ? o.val_y : y;
      int64_t begin = o.val_x ? 0 : n_train, end = vx->shape[0];
      if (w.on) { /* a contiguous block of the validation rows per rank */
        int64_t rows_v = end - begin;
        end = begin + rows_v * (w.rank + 1) / w.size;
        begin += rows_v * w.rank / w.size;
      }
      tg_status vs = tg__model_eval_range(m, vx, vy, begin, end, batch, &va);
      if (w.on ? !reduce_tally(m, &va, vs != TG_OK) : vs != TG_OK) break;
      record(m, &va, &h->val_loss[e], &h->val_accuracy[e], &h->val_mae[e],
             &h->val_mse[e]);
    }
    h->seconds[e] = now_seconds() - start;
    h->epochs = e + 1;
    if (o.verbose && w.rank == 0) {
      char figures[256], vfigures[256] = "";
      describe_tally(m, &tr, "", figures, sizeof figures);
      if (has_val) describe_tally(m, &va, "val_", vfigures, sizeof vfigures);
      fprintf(out, "%sEpoch %d/%d - %.2fs - %s%s%s\n", bar ? "\r\033[K" : "",
              e + 1, epochs, h->seconds[e], figures, has_val ? " - " : "",
              vfigures);
      fflush(out); /* a line per epoch is of use only when it is seen */
    }
    double watched = has_val ? h->val_loss[e] : h->loss[e];
    if (watched < best - o.min_delta) {
      best = watched;
      since_best = 0;
    } else if (o.patience > 0 && ++since_best >= o.patience) {
      h->stopped_early = true;
      break;
    }
  }
  tg_batcher_free(b);
  if (tg_error(m->tp)) {
    tg_history_free(h);
    return NULL;
  }
  return h;
}
