/* Shape bookkeeping shared by the ops: broadcasting and axis lists. */
#include "../core/internal.h"

bool tg__broadcast_shape(int nda, const int64_t *sa, int ndb, const int64_t *sb,
                         int *nd_out, int64_t *out) {
  int nd = nda > ndb ? nda : ndb;
  for (int i = 0; i < nd; i++) {
    /* Align from the right. */
    int ia = nda - nd + i, ib = ndb - nd + i;
    int64_t da = ia >= 0 ? sa[ia] : 1, db = ib >= 0 ? sb[ib] : 1;
    if (da != db && da != 1 && db != 1) return false;
    out[i] = da == 1 ? db : da;
  }
  *nd_out = nd;
  return true;
}

void tg__broadcast_strides(const tg_tensor *x, int ndim, const int64_t *shape,
                           int64_t *strides) {
  int lead = ndim - x->ndim;
  for (int d = 0; d < ndim; d++) {
    int xd = d - lead;
    strides[d] =
        (xd < 0 || (x->shape[xd] == 1 && shape[d] != 1)) ? 0 : x->strides[xd];
  }
}

bool tg__axes_mask(tg_tape *tp, const char *op, const tg_tensor *x, int n_axes,
                   const int *axes, unsigned *mask) {
  char buf[96];
  *mask = 0;
  if (n_axes == 0) {
    *mask = (1u << x->ndim) - 1;
    return true;
  }
  if (n_axes < 0 || !axes) {
    tg__fail(tp, TG_ERR_ARG, "%s: %d axes given with axes %s", op, n_axes,
             axes ? "set" : "NULL");
    return false;
  }
  for (int i = 0; i < n_axes; i++) {
    int a = axes[i] < 0 ? axes[i] + x->ndim : axes[i];
    if (a < 0 || a >= x->ndim) {
      tg__fail(tp, TG_ERR_AXIS, "%s: axis %d is out of range for shape %s", op,
               axes[i], tg_shape_str(x, buf, sizeof buf));
      return false;
    }
    if (*mask & (1u << a)) {
      tg__fail(tp, TG_ERR_AXIS, "%s: axis %d is listed twice", op, axes[i]);
      return false;
    }
    *mask |= 1u << a;
  }
  return true;
}
