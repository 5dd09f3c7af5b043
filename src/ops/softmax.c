/* logsumexp, log_softmax and softmax as compositions of primitives. The max
 * m subtracted for stability is a constant (made with grad mode off): the
 * results do not depend on it, so no gradient needs to flow through it.
 * Every result is formed from x - m directly, never by subtracting a large
 * logsumexp, so f32 keeps its digits at logits of 1e4. */
#include "../core/internal.h"

/* The shifted logits x - m and the sum of their exponentials (keepdim). */
static bool shifted(tg_tape *tp, const char *fname, tg_tensor *x, int axis,
                    tg_tensor **xm, tg_tensor **e, tg_tensor **sum_e,
                    tg_tensor **m) {
  if (!tg__inputs_ok(tp, fname, 1, &x)) return false;
  unsigned mask;
  if (!tg__axes_mask(tp, fname, x, 1, &axis, &mask)) return false;
  bool prev = tg_set_grad_enabled(tp, false);
  *m = tg_max(tp, x, 1, &axis, true);
  tg_set_grad_enabled(tp, prev);
  *xm = tg_sub(tp, x, *m);
  *e = tg_exp(tp, *xm);
  *sum_e = tg_sum(tp, *e, 1, &axis, true);
  return *sum_e != NULL;
}

tg_tensor *tg_logsumexp(tg_tape *tp, tg_tensor *x, int axis, bool keepdim) {
  tg_tensor *xm, *e, *s, *m;
  if (!shifted(tp, "tg_logsumexp", x, axis, &xm, &e, &s, &m)) return NULL;
  tg_tensor *r = tg_add(tp, tg_log(tp, s), m);
  if (!r || keepdim) return r;
  int a = axis < 0 ? axis + x->ndim : axis;
  int64_t shape[TG_MAX_DIMS];
  int nd = 0;
  for (int d = 0; d < x->ndim; d++)
    if (d != a) shape[nd++] = x->shape[d];
  return tg_reshape(tp, r, nd, shape);
}

tg_tensor *tg_log_softmax(tg_tape *tp, tg_tensor *x, int axis) {
  tg_tensor *xm, *e, *s, *m;
  if (!shifted(tp, "tg_log_softmax", x, axis, &xm, &e, &s, &m)) return NULL;
  return tg_sub(tp, xm, tg_log(tp, s));
}

tg_tensor *tg_softmax(tg_tape *tp, tg_tensor *x, int axis) {
  tg_tensor *xm, *e, *s, *m;
  if (!shifted(tp, "tg_softmax", x, axis, &xm, &e, &s, &m)) return NULL;
  return tg_div(tp, e, s);
}
