/* Losses as compositions of primitive ops: no backward rule of their own.
 * Every loss returns a 0-d tensor: the mean over the elements (or over the
 * N samples for the classification losses) or their sum. */
#include <math.h>

#include "../core/internal.h"
#include "tapegrad/nn.h"

static bool reduction_ok(tg_tape *tp, const char *fname, tg_reduction red) {
  if (red == TG_REDUCE_MEAN || red == TG_REDUCE_SUM) return true;
  tg__fail(tp, TG_ERR_ARG,
           "%s: unknown reduction %d (want TG_REDUCE_MEAN or TG_REDUCE_SUM)",
           fname, (int)red);
  return false;
}

static tg_tensor *reduce(tg_tape *tp, tg_tensor *x, tg_reduction red) {
  return red == TG_REDUCE_SUM ? tg_sum_all(tp, x) : tg_mean_all(tp, x);
}

/* Two inputs of one dtype and exactly one shape (no broadcasting: a
 * broadcast target is almost always a mistake in a loss). */
static bool pair_ok(tg_tape *tp, const char *fname, tg_tensor *a,
                    const char *aname, tg_tensor *b, const char *bname,
                    tg_reduction red) {
  tg_tensor *in[2] = {a, b};
  if (!tg__inputs_ok(tp, fname, 2, in)) return false;
  if (a->dtype != b->dtype) {
    tg__fail(tp, TG_ERR_DTYPE, "%s: dtypes differ: %s %s, %s %s", fname, aname,
             tg_dtype_name(a->dtype), bname, tg_dtype_name(b->dtype));
    return false;
  }
  if (!tg__same_shape(a, b)) {
    char ba[96], bb[96];
    tg__fail(tp, TG_ERR_SHAPE, "%s: %s %s and %s %s differ in shape", fname,
             aname, tg_shape_str(a, ba, sizeof ba), bname,
             tg_shape_str(b, bb, sizeof bb));
    return false;
  }
  return reduction_ok(tp, fname, red);
}

tg_tensor *tg_mse_loss(tg_tape *tp, tg_tensor *pred, tg_tensor *target,
                       tg_reduction red) {
  if (!pair_ok(tp, "tg_mse_loss", pred, "pred", target, "target", red))
    return NULL;
  tg_tensor *d = tg_sub(tp, pred, target);
  return reduce(tp, tg_mul(tp, d, d), red);
}

tg_tensor *tg_l1_loss(tg_tape *tp, tg_tensor *pred, tg_tensor *target,
                      tg_reduction red) {
  if (!pair_ok(tp, "tg_l1_loss", pred, "pred", target, "target", red))
    return NULL;
  return reduce(tp, tg_abs(tp, tg_sub(tp, pred, target)), red);
}

/* where(|d| < delta, d^2/2, delta (|d| - delta/2)): both branches are
 * finite everywhere, so the discarded one sends back a clean zero. */
tg_tensor *tg_huber_loss(tg_tape *tp, tg_tensor *pred, tg_tensor *target,
                         double delta, tg_reduction red) {
  if (!pair_ok(tp, "tg_huber_loss", pred, "pred", target, "target", red))
    return NULL;
  if (!(delta > 0.0) || !isfinite(delta))
    return tg__fail(tp, TG_ERR_ARG,
                    "tg_huber_loss: delta must be positive and finite, got %g",
                    delta);
  tg_tensor *d = tg_sub(tp, pred, target);
  tg_tensor *a = tg_abs(tp, d);
  tg_tensor *small = tg_lt(tp, a, tg_scalar(tp, pred->dtype, delta));
  tg_tensor *quad = tg_mul_scalar(tp, tg_mul(tp, d, d), 0.5);
  tg_tensor *lin = tg_mul_scalar(tp, tg_add_scalar(tp, a, -0.5 * delta), delta);
  return reduce(tp, tg_where(tp, small, quad, lin), red);
}

/* x [N, C] and labels [N] holding whole numbers in [0, C). The labels are
 * checked here (gather would check them too) so that the message names the
 * loss and the sample. */
static bool class_args_ok(tg_tape *tp, const char *fname, tg_tensor *x,
                          const char *xname, tg_tensor *labels,
                          tg_reduction red) {
  tg_tensor *in[2] = {x, labels};
  if (!tg__inputs_ok(tp, fname, 2, in)) return false;
  char bx[96], bl[96];
  if (x->ndim != 2 || labels->ndim != 1 || labels->shape[0] != x->shape[0]) {
    tg__fail(tp, TG_ERR_SHAPE,
             "%s: %s must be [N, C] and labels [N], got %s and %s", fname,
             xname, tg_shape_str(x, bx, sizeof bx),
             tg_shape_str(labels, bl, sizeof bl));
    return false;
  }
  if (!reduction_ok(tp, fname, red)) return false;
  int64_t n = x->shape[0], c = x->shape[1];
  for (int64_t i = 0; i < n; i++) {
    double v = tg_get_flat(labels, i);
    if (!(v == floor(v))) {
      tg__fail(tp, TG_ERR_ARG,
               "%s: label %g of sample %lld is not a whole number", fname, v,
               (long long)i);
      return false;
    }
    if (v < 0 || v >= (double)c) {
      tg__fail(tp, TG_ERR_ARG,
               "%s: label %g of sample %lld is out of range for %lld classes",
               fname, v, (long long)i, (long long)c);
      return false;
    }
  }
  return true;
}

/* -logp[n, labels[n]], reduced over n: a gather along the class axis with
 * the labels as an [N, 1] index. */
static tg_tensor *nll(tg_tape *tp, tg_tensor *logp, tg_tensor *labels,
                      tg_reduction red) {
  if (!logp) return NULL;
  int64_t shape[2] = {labels->shape[0], 1};
  tg_tensor *index = tg_reshape(tp, labels, 2, shape);
  tg_tensor *picked = tg_gather(tp, logp, 1, index);
  return tg_neg(tp, reduce(tp, picked, red));
}

tg_tensor *tg_nll_loss(tg_tape *tp, tg_tensor *logp, tg_tensor *labels,
                       tg_reduction red) {
  if (!class_args_ok(tp, "tg_nll_loss", logp, "logp", labels, red)) return NULL;
  return nll(tp, logp, labels, red);
}

/* nll(log_softmax(logits)): log_softmax subtracts the row max, so logits
 * of any size give finite losses and gradients. */
tg_tensor *tg_cross_entropy(tg_tape *tp, tg_tensor *logits, tg_tensor *labels,
                            tg_reduction red) {
  if (!class_args_ok(tp, "tg_cross_entropy", logits, "logits", labels, red))
    return NULL;
  return nll(tp, tg_log_softmax(tp, logits, 1), labels, red);
}

/* max(x, 0) - x t + log(1 + e^-|x|) = softplus(x) - x t; tg_softplus is
 * exact at x = 0 and never exponentiates a positive number. */
tg_tensor *tg_bce_with_logits(tg_tape *tp, tg_tensor *logits,
                              tg_tensor *targets, tg_reduction red) {
  if (!pair_ok(tp, "tg_bce_with_logits", logits, "logits", targets, "targets",
               red))
    return NULL;
  tg_tensor *l =
      tg_sub(tp, tg_softplus(tp, logits), tg_mul(tp, logits, targets));
  return reduce(tp, l, red);
}
