/* unfold (im2col) and fold (col2im): sliding windows as matrix columns.
 * Each is the other's adjoint, so each is the other's backward rule, and
 * convolution and pooling built on them differentiate to any order. */
#include "../core/internal.h"
#include "../kernels/kernels.h"

static int64_t or_one(int64_t v) { return v ? v : 1; }

/* Whether the span dilation (kernel - 1) + 1 and the padded side
 * in + 2 padding of spatial axis d can be computed in int64 (the window's
 * other checks passed: kernel >= 1, padding and dilation >= 0). */
static bool window_fits(const tg_window *w, int d, int64_t in) {
  return in >= 0 &&
         w->kernel[d] - 1 <= (INT64_MAX - 1) / or_one(w->dilation[d]) &&
         w->padding[d] <= (INT64_MAX - in) / 2;
}

bool tg__window_out(const tg_window *w, int nsp, const int64_t *in,
                    int64_t *out) {
  for (int d = 0; d < nsp; d++) {
    if (w->kernel[d] < 1 || w->stride[d] < 0 || w->padding[d] < 0 ||
        w->dilation[d] < 0 || !window_fits(w, d, in[d]))
      return false;
    int64_t span = or_one(w->dilation[d]) * (w->kernel[d] - 1) + 1;
    int64_t room = in[d] + 2 * w->padding[d] - span;
    if (room < 0) return false;
    out[d] = room / or_one(w->stride[d]) + 1;
  }
  return true;
}

/* a * b for sides a, b >= 0, or -1 when the product does not fit (or a
 * side is -1 from an earlier product). */
static int64_t side_product(int64_t a, int64_t b) {
  if (a < 0 || b < 0 || (a && b > INT64_MAX / a)) return -1;
  return a * b;
}

bool tg__window_check(tg_tape *tp, const char *fname, const tg_window *w,
                      int nsp, int64_t n, int64_t c, const int64_t *in,
                      tg_k_window *k) {
  if (!w) {
    tg__fail(tp, TG_ERR_NULL, "%s: window is NULL", fname);
    return false;
  }
  for (int d = 0; d < nsp; d++) {
    if (w->kernel[d] < 1 || w->stride[d] < 0 || w->padding[d] < 0 ||
        w->dilation[d] < 0) {
      tg__fail(tp, TG_ERR_ARG,
               "%s: kernel %lld, stride %lld, padding %lld, dilation %lld on "
               "spatial axis %d (kernel >= 1, others >= 0)",
               fname, (long long)w->kernel[d], (long long)w->stride[d],
               (long long)w->padding[d], (long long)w->dilation[d], d);
      return false;
    }
    if (in[d] < 0) {
      tg__fail(tp, TG_ERR_SHAPE, "%s: spatial axis %d has negative size %lld",
               fname, d, (long long)in[d]);
      return false;
    }
    if (!window_fits(w, d, in[d])) {
      tg__fail(tp, TG_ERR_ARG,
               "%s: kernel %lld, padding %lld, dilation %lld on spatial axis "
               "%d of size %lld are too large",
               fname, (long long)w->kernel[d], (long long)w->padding[d],
               (long long)w->dilation[d], d, (long long)in[d]);
      return false;
    }
  }
  int64_t out[2] = {1, 1};
  if (!tg__window_out(w, nsp, in, out)) {
    char ks[64], is[64];
    int64_t span[2], padded[2];
    for (int d = 0; d < nsp; d++) {
      span[d] = or_one(w->dilation[d]) * (w->kernel[d] - 1) + 1;
      padded[d] = in[d] + 2 * w->padding[d];
    }
    tg__fail(tp, TG_ERR_SHAPE,
             "%s: kernel spanning %s is larger than the padded input %s", fname,
             tg__shape_fmt(nsp, span, ks, sizeof ks),
             tg__shape_fmt(nsp, padded, is, sizeof is));
    return false;
  }
  bool two = nsp == 2;
  *k = (tg_k_window){
      .n = n,
      .c = c,
      .h = two ? in[0] : 1,
      .w = two ? in[1] : in[0],
      .oh = two ? out[0] : 1,
      .ow = two ? out[1] : out[0],
      .kh = two ? w->kernel[0] : 1,
      .kw = two ? w->kernel[1] : w->kernel[0],
      .sh = two ? or_one(w->stride[0]) : 1,
      .sw = or_one(w->stride[two ? 1 : 0]),
      .ph = two ? w->padding[0] : 0,
      .pw = w->padding[two ? 1 : 0],
      .dh = two ? or_one(w->dilation[0]) : 1,
      .dw = or_one(w->dilation[two ? 1 : 0]),
  };
  /* The columns are [N, C*kh*kw, oh*ow]: both products must fit (the
   * tensor's own check then sees their product with N). */
  int64_t rows = side_product(k->c, side_product(k->kh, k->kw));
  if (rows < 0 || side_product(k->oh, k->ow) < 0) {
    tg__fail(tp, TG_ERR_SHAPE,
             "%s: %lld channels with a %lldx%lld kernel at %lldx%lld "
             "positions are too many",
             fname, (long long)k->c, (long long)k->kh, (long long)k->kw,
             (long long)k->oh, (long long)k->ow);
    return false;
  }
  return true;
}

void tg__window_args(const tg_window *w, const int64_t *size, int nsp,
                     int64_t *args) {
  for (int d = 0; d < 2; d++) {
    args[d] = w->kernel[d];
    args[2 + d] = w->stride[d];
    args[4 + d] = w->padding[d];
    args[6 + d] = w->dilation[d];
    args[8 + d] = d < nsp ? size[d] : 0;
  }
}

tg_window tg__window_of(const tg_node *n) {
  tg_window w;
  for (int d = 0; d < 2; d++) {
    w.kernel[d] = n->extra[d];
    w.stride[d] = n->extra[2 + d];
    w.padding[d] = n->extra[4 + d];
    w.dilation[d] = n->extra[6 + d];
  }
  return w;
}

/* d unfold(x) = fold(g) back to x's spatial size */
static void unfold_backward(tg_tape *tp, tg_node *n, tg_tensor *g,
                            tg_tensor **gin) {
  tg_window w = tg__window_of(n);
  const tg_tensor *x = n->inputs[0];
  gin[0] = tg_fold(tp, g, x->ndim - 2, x->shape + 2, &w);
}
static tg_tensor *unfold_replay(tg_tape *tp, const tg_node *n,
                                tg_tensor *const *in) {
  tg_window w = tg__window_of(n);
  return tg_unfold(tp, in[0], &w);
}
static const tg_op_def OP_UNFOLD = {
    .name = "unfold",
    .backward = unfold_backward,
    .replay = unfold_replay,
    .rule = "the gradient is folded back, overlapping windows adding up",
    .saves = 0};

/* d fold(cols) = unfold(g) */
static void fold_backward(tg_tape *tp, tg_node *n, tg_tensor *g,
                          tg_tensor **gin) {
  tg_window w = tg__window_of(n);
  gin[0] = tg_unfold(tp, g, &w);
}
static tg_tensor *fold_replay(tg_tape *tp, const tg_node *n,
                              tg_tensor *const *in) {
  tg_window w = tg__window_of(n);
  return tg_fold(tp, in[0], n->out->ndim - 2, n->extra + 8, &w);
}
static const tg_op_def OP_FOLD = {.name = "fold",
                                  .backward = fold_backward,
                                  .replay = fold_replay,
                                  .rule =
                                      "the gradient is unfolded into windows",
                                  .saves = 0};

tg_tensor *tg_unfold(tg_tape *tp, tg_tensor *x, const tg_window *w) {
  if (!tg__inputs_ok(tp, "tg_unfold", 1, &x)) return NULL;
  char bx[96];
  if (x->ndim != 3 && x->ndim != 4)
    return tg__fail(tp, TG_ERR_SHAPE,
                    "tg_unfold: input must be [N, C, L] or "
                    "[N, C, H, W], got %s",
                    tg_shape_str(x, bx, sizeof bx));
  int nsp = x->ndim - 2;
  tg_k_window k;
  if (!tg__window_check(tp, "tg_unfold", w, nsp, x->shape[0], x->shape[1],
                        x->shape + 2, &k))
    return NULL;
  int64_t shape[3] = {k.n, k.c * k.kh * k.kw, k.oh * k.ow};
  tg_tensor *xc = tg__contiguous_data(tp, "tg_unfold", x);
  tg_tensor *out =
      xc ? tg__new_tensor(tp, "tg_unfold", x->dtype, 3, shape) : NULL;
  if (!out) return NULL;
  tg_k_im2col(x->dtype, &k, xc->data, out->data);
  tg_node *n;
  if (!tg__record(tp, &OP_UNFOLD, 1, &x, out, &n)) return NULL;
  int64_t args[10];
  tg__window_args(w, NULL, 0, args);
  if (n && !tg__node_set_extra(tp, n, args, 10)) return NULL;
  return out;
}

tg_tensor *tg_fold(tg_tape *tp, tg_tensor *cols, int n_spatial,
                   const int64_t *out_size, const tg_window *w) {
  if (!tg__inputs_ok(tp, "tg_fold", 1, &cols)) return NULL;
  char bc[96];
  if (n_spatial != 1 && n_spatial != 2)
    return tg__fail(tp, TG_ERR_ARG, "tg_fold: %d spatial axes (1 or 2)",
                    n_spatial);
  if (!out_size) return tg__fail(tp, TG_ERR_NULL, "tg_fold: out_size is NULL");
  if (cols->ndim != 3)
    return tg__fail(tp, TG_ERR_SHAPE,
                    "tg_fold: columns must be [N, C*k, L], "
                    "got %s",
                    tg_shape_str(cols, bc, sizeof bc));
  /* The kernel's size; 1 stands in for a kernel tg__window_check refuses (below
   * 1, or too large to multiply out). */
  int64_t k0 = w ? w->kernel[0] : 1;
  int64_t k1 = w && n_spatial == 2 ? w->kernel[1] : 1;
  int64_t kk = k0 >= 1 && k1 >= 1 ? side_product(k0, k1) : 1;
  if (kk < 1) kk = 1;
  tg_k_window k;
  if (!tg__window_check(tp, "tg_fold", w, n_spatial, cols->shape[0],
                        cols->shape[1] / kk, out_size, &k))
    return NULL;
  if (cols->shape[1] % kk || cols->shape[2] != k.oh * k.ow)
    return tg__fail(tp, TG_ERR_SHAPE,
                    "tg_fold: columns %s do not match a "
                    "kernel of %lld elements and %lld window positions",
                    tg_shape_str(cols, bc, sizeof bc), (long long)kk,
                    (long long)(k.oh * k.ow));
  int64_t shape[4] = {k.n, k.c, out_size[0], n_spatial == 2 ? out_size[1] : 0};
  tg_tensor *cc = tg__contiguous_data(tp, "tg_fold", cols);
  tg_tensor *out =
      cc ? tg__new_tensor(tp, "tg_fold", cols->dtype, n_spatial + 2, shape)
         : NULL;
  if (!out) return NULL;
  tg_k_col2im(cols->dtype, &k, cc->data, out->data);
  tg_node *n;
  if (!tg__record(tp, &OP_FOLD, 1, &cols, out, &n)) return NULL;
  int64_t args[10];
  tg__window_args(w, out_size, n_spatial, args);
  if (n && !tg__node_set_extra(tp, n, args, 10)) return NULL;
  return out;
}
