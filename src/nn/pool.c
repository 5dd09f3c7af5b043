/* Pooling: max as its own primitive (src/ops/pool.c), average as the mean
 * of unfolded windows. */
#include "../core/internal.h"
#include "tapegrad/nn.h"

typedef enum { POOL_MAX, POOL_AVG } pool_kind;

static tg_tensor *pool(tg_tape *tp, const char *fname, tg_tensor *x,
                       const tg_window *w, pool_kind kind) {
  if (!tg__inputs_ok(tp, fname, 1, &x)) return NULL;
  if (!w) return tg__fail(tp, TG_ERR_NULL, "%s: window is NULL", fname);
  char bx[96];
  if (x->ndim != 4)
    return tg__fail(tp, TG_ERR_SHAPE, "%s: input must be [N, C, H, W], got %s",
                    fname, tg_shape_str(x, bx, sizeof bx));
  tg_window win = *w;
  for (int d = 0; d < 2; d++)
    if (!win.stride[d]) win.stride[d] = win.kernel[d];
  /* Max pooling is a primitive of its own (src/ops/pool.c); average
   * pooling is the mean of unfolded windows. */
  if (kind == POOL_MAX) return tg__max_pool(tp, x, &win);
  int64_t out[2];
  if (!tg__window_out(&win, 2, x->shape + 2, out))
    return tg_unfold(tp, x, &win); /* reports the window's error */
  int64_t n = x->shape[0], c = x->shape[1];
  tg_tensor *cols = tg_unfold(tp, x, &win);
  int64_t shape[4] = {n, c, win.kernel[0] * win.kernel[1], out[0] * out[1]};
  tg_tensor *windows = tg_reshape(tp, cols, 4, shape);
  int axis = 2;
  tg_tensor *r = tg_mean(tp, windows, 1, &axis, false);
  int64_t oshape[4] = {n, c, out[0], out[1]};
  return tg_reshape(tp, r, 4, oshape);
}

tg_tensor *tg_max_pool2d(tg_tape *tp, tg_tensor *x, const tg_window *w) {
  return pool(tp, "tg_max_pool2d", x, w, POOL_MAX);
}

tg_tensor *tg_avg_pool2d(tg_tape *tp, tg_tensor *x, const tg_window *w) {
  return pool(tp, "tg_avg_pool2d", x, w, POOL_AVG);
}
