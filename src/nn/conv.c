/* Convolution = unfold + matmul + reshape. No kernel and no backward rule of
 * its own: the gradient comes from the tape. */
#include "../core/internal.h"
#include "tapegrad/nn.h"

static int64_t or_default(int64_t v, int64_t d) { return v ? v : d; }

static tg_tensor *conv(tg_tape *tp, const char *fname, int nsp, tg_tensor *x,
                       tg_tensor *w, tg_tensor *b, const tg_conv_opts *opts) {
  tg_tensor *in[2] = {x, w};
  if (!tg__inputs_ok(tp, fname, 2, in)) return NULL;
  char bx[96], bw[96], bb[96];
  if (x->ndim != nsp + 2 || w->ndim != nsp + 2)
    return tg__fail(tp, TG_ERR_SHAPE,
                    "%s: input %s and weight %s must both "
                    "have %d axes",
                    fname, tg_shape_str(x, bx, sizeof bx),
                    tg_shape_str(w, bw, sizeof bw), nsp + 2);
  if (x->dtype != w->dtype || (b && b->dtype != x->dtype))
    return tg__fail(tp, TG_ERR_DTYPE,
                    "%s: dtypes differ: input %s, weight "
                    "%s%s%s",
                    fname, tg_dtype_name(x->dtype), tg_dtype_name(w->dtype),
                    b ? ", bias " : "", b ? tg_dtype_name(b->dtype) : "");
  tg_conv_opts o = {{0}, {0}, {0}, 0};
  if (opts) o = *opts;
  int64_t groups = or_default(o.groups, 1);
  int64_t c = x->shape[1], out_c = w->shape[0], cg = w->shape[1];
  if (groups < 1 || c % groups || out_c % groups || cg * groups != c)
    return tg__fail(tp, TG_ERR_SHAPE,
                    "%s: input has %lld channels but weight "
                    "%s expects %lld per group x %lld groups (and %lld output "
                    "channels must divide into the groups)",
                    fname, (long long)c, tg_shape_str(w, bw, sizeof bw),
                    (long long)cg, (long long)groups, (long long)out_c);
  if (b && (b->ndim != 1 || b->shape[0] != out_c))
    return tg__fail(tp, TG_ERR_SHAPE,
                    "%s: bias %s does not match %lld output "
                    "channels",
                    fname, tg_shape_str(b, bb, sizeof bb), (long long)out_c);
  tg_window win = {{0}, {0}, {0}, {0}};
  for (int d = 0; d < nsp; d++) {
    win.kernel[d] = w->shape[2 + d];
    win.stride[d] = o.stride[d];
    win.padding[d] = o.padding[d];
    win.dilation[d] = o.dilation[d];
  }
  int64_t out_sp[2];
  if (!tg__window_out(&win, nsp, x->shape + 2, out_sp))
    return tg_unfold(tp, x, &win); /* reports the window's error */

  /* cols [N, G, Cg*k, L] and weights [G, O/G, Cg*k]: one batched matmul. */
  int64_t n = x->shape[0], k = cg, positions = 1;
  for (int d = 0; d < nsp; d++) {
    k *= w->shape[2 + d];
    positions *= out_sp[d];
  }
  tg_tensor *cols = tg_unfold(tp, x, &win);
  int64_t cshape[4] = {n, groups, k, positions};
  int64_t wshape[3] = {groups, out_c / groups, k};
  tg_tensor *y = tg_matmul(tp, tg_reshape(tp, w, 3, wshape),
                           tg_reshape(tp, cols, 4, cshape));
  int64_t yshape[4] = {n, out_c, out_sp[0], out_sp[1]};
  y = tg_reshape(tp, y, nsp + 2, yshape);
  if (b) {
    int64_t bshape[3] = {out_c, 1, 1};
    y = tg_add(tp, y, tg_reshape(tp, b, nsp + 1, bshape));
  }
  return y;
}

tg_tensor *tg_conv1d(tg_tape *tp, tg_tensor *x, tg_tensor *w, tg_tensor *b,
                     const tg_conv_opts *opts) {
  return conv(tp, "tg_conv1d", 1, x, w, b, opts);
}

tg_tensor *tg_conv2d(tg_tape *tp, tg_tensor *x, tg_tensor *w, tg_tensor *b,
                     const tg_conv_opts *opts) {
  return conv(tp, "tg_conv2d", 2, x, w, b, opts);
}
