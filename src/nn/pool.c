/* Pooling = unfold + a reduction over each window. */
#include <float.h>

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
  int64_t out[2];
  if (!tg__window_out(&win, 2, x->shape + 2, out))
    return tg_unfold(tp, x, &win); /* reports the window's error */
  if (kind == POOL_MAX && (win.padding[0] || win.padding[1])) {
    /* Max pooling pads with the lowest finite value, which never wins
     * (and keeps anomaly mode quiet, unlike -inf). */
    int64_t pads[8] = {0,
                       0,
                       0,
                       0,
                       win.padding[0],
                       win.padding[0],
                       win.padding[1],
                       win.padding[1]};
    x = tg_pad(tp, x, pads, x->dtype == TG_F32 ? -FLT_MAX : -DBL_MAX);
    win.padding[0] = win.padding[1] = 0;
  }
  int64_t n = x ? x->shape[0] : 0, c = x ? x->shape[1] : 0;
  tg_tensor *cols = tg_unfold(tp, x, &win);
  int64_t shape[4] = {n, c, win.kernel[0] * win.kernel[1], out[0] * out[1]};
  tg_tensor *windows = tg_reshape(tp, cols, 4, shape);
  int axis = 2;
  tg_tensor *r = kind == POOL_MAX ? tg_max(tp, windows, 1, &axis, false)
                                  : tg_mean(tp, windows, 1, &axis, false);
  int64_t oshape[4] = {n, c, out[0], out[1]};
  return tg_reshape(tp, r, 4, oshape);
}

tg_tensor *tg_max_pool2d(tg_tape *tp, tg_tensor *x, const tg_window *w) {
  return pool(tp, "tg_max_pool2d", x, w, POOL_MAX);
}

tg_tensor *tg_avg_pool2d(tg_tape *tp, tg_tensor *x, const tg_window *w) {
  return pool(tp, "tg_avg_pool2d", x, w, POOL_AVG);
}
