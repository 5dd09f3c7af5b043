/* Layer norm and batch norm: means, a variance, a reciprocal square root. */
#include <string.h>

#include "layer_internal.h"

/* (x - mean) / sqrt(var + eps), given x - mean and var. */
static tg_tensor *normalise(tg_tape *tp, tg_tensor *centred, tg_tensor *var,
                            double eps) {
  tg_tensor *inv_std = tg_pow_scalar(tp, tg_add_scalar(tp, var, eps), -0.5);
  return tg_mul(tp, centred, inv_std);
}

/* --- layer norm ----------------------------------------------------------- */

static tg_tensor *layer_norm_forward(tg_tape *tp, tg_layer *l, tg_tensor *x) {
  int n = l->n_sizes;
  bool ok = x->ndim >= n;
  for (int i = 0; ok && i < n; i++)
    if (x->shape[x->ndim - n + i] != l->sizes[i]) ok = false;
  if (!ok) {
    char want[96];
    tg__shape_fmt(n, l->sizes, want, sizeof want);
    memmove(want + 4, want + 1, strlen(want));
    memcpy(want, "[*, ", 4); /* "[*, 4x5]" */
    return tg__layer_shape_error(tp, l, want, x);
  }
  int axes[TG_MAX_DIMS];
  for (int i = 0; i < n; i++)
    axes[i] = x->ndim - n + i;
  tg_tensor *mean = tg_mean(tp, x, n, axes, true);
  tg_tensor *centred = tg_sub(tp, x, mean);
  tg_tensor *var = tg_mean(tp, tg_mul(tp, centred, centred), n, axes, true);
  tg_tensor *y = normalise(tp, centred, var, l->eps);
  return tg_add(tp, tg_mul(tp, y, l->params[0]), l->params[1]);
}
static const tg_layer_class LAYER_NORM = {"layer_norm", layer_norm_forward};

tg_layer *tg_layer_norm_new(tg_params *ps, tg_tape *tp, const char *name,
                            int n_axes, const int64_t *shape, double eps,
                            tg_dtype dtype) {
  if (n_axes < 1 || n_axes > TG_MAX_DIMS || !shape)
    return tg__fail(tp, TG_ERR_ARG,
                    "tg_layer_norm_new: needs 1 to %d "
                    "normalised axes",
                    TG_MAX_DIMS);
  tg_layer *l = tg__layer_new(&LAYER_NORM, name);
  if (!l) return tg__fail(tp, TG_ERR_NOMEM, "tg_layer_norm_new: out of memory");
  l->n_sizes = n_axes;
  memcpy(l->sizes, shape, sizeof(int64_t) * (size_t)n_axes);
  l->eps = eps > 0 ? eps : 1e-5;
  tg_tensor *w = tg__layer_add(l, ps, tp, "weight", dtype, n_axes, shape, -1);
  if (!w || !tg__layer_add(l, ps, tp, "bias", dtype, n_axes, shape, -1))
    return tg__layer_fail(l);
  tg_fill(w, 1.0);
  return l;
}

/* --- batch norm ----------------------------------------------------------- */

/* running = (1 - m) running + m batch, on values (no graph). */
static void update_running(tg_tensor *running, const tg_tensor *batch, double m,
                           double scale) {
  for (int64_t i = 0; i < running->numel; i++) {
    double r = tg_get_flat(running, i), b = tg_get_flat(batch, i) * scale;
    double v = (1 - m) * r + m * b;
    if (running->dtype == TG_F32)
      ((float *)running->data)[i] = (float)v;
    else
      ((double *)running->data)[i] = v;
  }
  tg_tensor_touch(running);
}

static tg_tensor *batch_norm_forward(tg_tape *tp, tg_layer *l, tg_tensor *x) {
  int64_t c = l->sizes[0];
  bool two_d = l->sizes[1] == 2;
  bool ok = x->ndim >= 2 && x->shape[1] == c &&
            (two_d ? x->ndim == 4 : x->ndim == 2 || x->ndim == 3);
  if (!ok) {
    char want[64];
    snprintf(want, sizeof want,
             two_d ? "[N, %lld, H, W]" : "[N, %lld] or [N, %lld, L]",
             (long long)c, (long long)c);
    return tg__layer_shape_error(tp, l, want, x);
  }
  /* Statistics over every axis but the channels'; parameters shaped
   * [C, 1, ...] so they broadcast along the trailing axes. */
  int axes[TG_MAX_DIMS], n_axes = 0;
  for (int d = 0; d < x->ndim; d++)
    if (d != 1) axes[n_axes++] = d;
  int64_t pshape[TG_MAX_DIMS] = {c, 1, 1};
  int pnd = x->ndim - 1;
  tg_tensor *mean, *var, *centred;
  if (l->training) {
    if (x->numel / c < 2)
      return tg__fail(tp, TG_ERR_SHAPE,
                      "%s '%s': needs more than one value "
                      "per channel in training, got input %s",
                      l->cls->kind, l->name,
                      tg_shape_str(x, (char[96]){0}, 96));
    mean = tg_mean(tp, x, n_axes, axes, true);
    centred = tg_sub(tp, x, mean);
    var = tg_mean(tp, tg_mul(tp, centred, centred), n_axes, axes, true);
    if (!var) return NULL;
    double n = (double)(x->numel / c);
    update_running(l->buffers[0], mean, l->momentum, 1.0);
    update_running(l->buffers[1], var, l->momentum, n > 1 ? n / (n - 1) : 1);
  } else {
    mean = tg_reshape(tp, l->buffers[0], pnd, pshape);
    var = tg_reshape(tp, l->buffers[1], pnd, pshape);
    centred = tg_sub(tp, x, mean);
  }
  tg_tensor *y = normalise(tp, centred, var, l->eps);
  return tg_add(tp, tg_mul(tp, y, tg_reshape(tp, l->params[0], pnd, pshape)),
                tg_reshape(tp, l->params[1], pnd, pshape));
}
static const tg_layer_class BATCH_NORM1D = {"batch_norm1d", batch_norm_forward};
static const tg_layer_class BATCH_NORM2D = {"batch_norm2d", batch_norm_forward};

static tg_layer *batch_norm_new(const tg_layer_class *cls, tg_params *ps,
                                tg_tape *tp, const char *name, int64_t c,
                                double eps, double momentum, tg_dtype dtype,
                                int spatial) {
  tg_layer *l = tg__layer_new(cls, name);
  if (!l) return tg__fail(tp, TG_ERR_NOMEM, "%s: out of memory", cls->kind);
  l->sizes[0] = c;
  l->sizes[1] = spatial;
  l->eps = eps > 0 ? eps : 1e-5;
  l->momentum = momentum > 0 ? momentum : 0.1;
  int64_t s[1] = {c};
  tg_tensor *w = tg__layer_add(l, ps, tp, "weight", dtype, 1, s, -1);
  tg_tensor *rv = NULL;
  if (!w || !tg__layer_add(l, ps, tp, "bias", dtype, 1, s, -1) ||
      !tg__layer_add(l, ps, tp, "running_mean", dtype, 1, s, 0) ||
      !(rv = tg__layer_add(l, ps, tp, "running_var", dtype, 1, s, 1)))
    return tg__layer_fail(l);
  tg_fill(w, 1.0);
  tg_fill(rv, 1.0);
  return l;
}

tg_layer *tg_batch_norm1d_new(tg_params *ps, tg_tape *tp, const char *name,
                              int64_t c, double eps, double momentum,
                              tg_dtype dtype) {
  return batch_norm_new(&BATCH_NORM1D, ps, tp, name, c, eps, momentum, dtype,
                        1);
}

tg_layer *tg_batch_norm2d_new(tg_params *ps, tg_tape *tp, const char *name,
                              int64_t c, double eps, double momentum,
                              tg_dtype dtype) {
  return batch_norm_new(&BATCH_NORM2D, ps, tp, name, c, eps, momentum, dtype,
                        2);
}
