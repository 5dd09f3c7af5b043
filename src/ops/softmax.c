/* logsumexp, log_softmax and softmax as compositions of primitives. The max
 * subtracted for stability is a constant (made with grad mode off): the
 * result does not depend on it, so no gradient needs to flow through it. */
#include "../core/internal.h"

static tg_tensor *logsumexp(tg_tape *tp, const char *fname, tg_tensor *x,
                            int axis, bool keepdim) {
  if (!tg__inputs_ok(tp, fname, 1, &x)) return NULL;
  unsigned mask;
  if (!tg__axes_mask(tp, fname, x, 1, &axis, &mask)) return NULL;
  bool prev = tg_set_grad_enabled(tp, false);
  tg_tensor *m = tg_max(tp, x, 1, &axis, true);
  tg_set_grad_enabled(tp, prev);
  tg_tensor *s = tg_sum(tp, tg_exp(tp, tg_sub(tp, x, m)), 1, &axis, true);
  tg_tensor *r = tg_add(tp, tg_log(tp, s), m);
  if (!r || keepdim) return r;
  int64_t shape[TG_MAX_DIMS];
  int nd = 0;
  for (int d = 0; d < x->ndim; d++)
    if (!(mask & (1u << d))) shape[nd++] = x->shape[d];
  return tg_reshape(tp, r, nd, shape);
}

tg_tensor *tg_logsumexp(tg_tape *tp, tg_tensor *x, int axis, bool keepdim) {
  return logsumexp(tp, "tg_logsumexp", x, axis, keepdim);
}

tg_tensor *tg_log_softmax(tg_tape *tp, tg_tensor *x, int axis) {
  return tg_sub(tp, x, logsumexp(tp, "tg_log_softmax", x, axis, true));
}

tg_tensor *tg_softmax(tg_tape *tp, tg_tensor *x, int axis) {
  return tg_exp(tp, tg_sub(tp, x, logsumexp(tp, "tg_softmax", x, axis, true)));
}
