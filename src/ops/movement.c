/* Movement: reshape, permute, transpose, expand, contiguous. Views share
 * their input's storage; that is safe because no op writes into a tensor
 * after making it. */
#include "../core/internal.h"
#include "../kernels/kernels.h"

tg_tensor *tg__contiguous_data(tg_tape *tp, const char *op, tg_tensor *x) {
  if (tg_is_contiguous(x)) return x;
  tg_tensor *c = tg__new_tensor(tp, op, x->dtype, x->ndim, x->shape);
  if (!c) return NULL;
  tg_k_copy(x->dtype, x->ndim, x->shape, c->data, NULL, x->data, x->strides);
  return c;
}

/* Whether a view of this shape stays within the sizes tg__new_tensor
 * allows: its sides other than 0 multiply to a count whose bytes fit. A
 * view holds no data of its own, but its strides (in elements, and in
 * bytes in the kernels) are products of those sides: an empty
 * [0, 2^62, 2^62] would overflow them. */
static bool view_size_ok(tg_dtype dtype, int ndim, const int64_t *shape) {
  int64_t limit = (int64_t)(SIZE_MAX / 2 / tg_dtype_size(dtype));
  if (limit > INT64_MAX / 2) limit = INT64_MAX / 2;
  int64_t nonzero = 1;
  for (int d = 0; d < ndim; d++) {
    if (shape[d] <= 0) continue;
    if (nonzero > limit / shape[d]) return false;
    nonzero *= shape[d];
  }
  return true;
}

/* --- reshape ------------------------------------------------------------- */

/* d reshape(x) = reshape(g, x.shape) */
static void reshape_backward(tg_tape *tp, tg_node *n, tg_tensor *g,
                             tg_tensor **gin) {
  tg_tensor *x = n->inputs[0];
  gin[0] = tg_reshape(tp, g, x->ndim, x->shape);
}
static tg_tensor *reshape_replay(tg_tape *tp, const tg_node *n,
                                 tg_tensor *const *in) {
  return tg_reshape(tp, in[0], n->out->ndim, n->out->shape);
}
static const tg_op_def OP_RESHAPE = {
    .name = "reshape",
    .backward = reshape_backward,
    .replay = reshape_replay,
    .rule = "the gradient takes the input's shape back",
    .saves = 0};

tg_tensor *tg_reshape(tg_tape *tp, tg_tensor *x, int ndim,
                      const int64_t *shape) {
  if (!tg__inputs_ok(tp, "tg_reshape", 1, &x)) return NULL;
  char bx[96], bs[96];
  if (ndim < 0 || ndim > TG_MAX_DIMS || (ndim > 0 && !shape))
    return tg__fail(tp, TG_ERR_SHAPE,
                    "tg_reshape: invalid target: %d "
                    "dimensions%s",
                    ndim, shape ? "" : ", shape NULL");
  int64_t want[TG_MAX_DIMS];
  int infer = -1;
  int64_t known = 1;
  for (int d = 0; d < ndim; d++) {
    want[d] = shape[d];
    if (shape[d] == -1 && infer < 0) {
      infer = d;
    } else if (shape[d] < 0) {
      return tg__fail(tp, TG_ERR_SHAPE, "tg_reshape: bad size %lld in %s",
                      (long long)shape[d],
                      tg__shape_fmt(ndim, shape, bs, sizeof bs));
    } else {
      if (shape[d] > 0 && known > INT64_MAX / shape[d])
        return tg__fail(tp, TG_ERR_SHAPE, "tg_reshape: %s is too large",
                        tg__shape_fmt(ndim, shape, bs, sizeof bs));
      known *= shape[d];
    }
  }
  if (infer >= 0) {
    if (known == 0 || x->numel % known != 0)
      return tg__fail(tp, TG_ERR_SHAPE,
                      "tg_reshape: cannot reshape %s (%lld elements) to %s",
                      tg_shape_str(x, bx, sizeof bx), (long long)x->numel,
                      tg__shape_fmt(ndim, shape, bs, sizeof bs));
    want[infer] = x->numel / known;
    known *= want[infer];
  }
  if (known != x->numel)
    return tg__fail(tp, TG_ERR_SHAPE,
                    "tg_reshape: cannot reshape %s (%lld elements) to %s "
                    "(%lld elements)",
                    tg_shape_str(x, bx, sizeof bx), (long long)x->numel,
                    tg__shape_fmt(ndim, shape, bs, sizeof bs),
                    (long long)known);
  if (!view_size_ok(x->dtype, ndim, want))
    return tg__fail(tp, TG_ERR_SHAPE, "tg_reshape: %s is too large",
                    tg__shape_fmt(ndim, want, bs, sizeof bs));
  tg_tensor *src = tg__contiguous_data(tp, "tg_reshape", x);
  if (!src) return NULL;
  int64_t strides[TG_MAX_DIMS];
  tg__contiguous_strides(ndim, want, strides);
  tg_tensor *out = tg__new_view(tp, "tg_reshape", src, ndim, want, strides, 0);
  if (!out) return NULL;
  if (!tg__record(tp, &OP_RESHAPE, 1, &x, out, NULL)) return NULL;
  return out;
}

/* --- permute and transpose ----------------------------------------------- */

/* d permute(x, p) = permute(g, inverse of p) */
static void permute_backward(tg_tape *tp, tg_node *n, tg_tensor *g,
                             tg_tensor **gin) {
  int inv[TG_MAX_DIMS];
  for (int d = 0; d < n->n_iargs; d++)
    inv[n->iargs[d]] = d;
  gin[0] = tg_permute(tp, g, inv);
}
static tg_tensor *permute_replay(tg_tape *tp, const tg_node *n,
                                 tg_tensor *const *in) {
  return tg_permute(tp, in[0], n->iargs);
}
static const tg_op_def OP_PERMUTE = {.name = "permute",
                                     .backward = permute_backward,
                                     .replay = permute_replay,
                                     .rule = "the gradient is permuted back",
                                     .saves = 0,
                                     .permutes = true};

tg_tensor *tg_permute(tg_tape *tp, tg_tensor *x, const int *perm) {
  if (!tg__inputs_ok(tp, "tg_permute", 1, &x)) return NULL;
  if (!perm && x->ndim > 0)
    return tg__fail(tp, TG_ERR_NULL, "tg_permute: permutation is NULL");
  char bx[96];
  unsigned seen = 0;
  int64_t shape[TG_MAX_DIMS], strides[TG_MAX_DIMS];
  for (int d = 0; d < x->ndim; d++) {
    int p = perm[d];
    if (p < 0 || p >= x->ndim || (seen & (1u << p)))
      return tg__fail(tp, TG_ERR_AXIS,
                      "tg_permute: entry %d (%d) does not make a permutation "
                      "of the %d axes of %s",
                      d, p, x->ndim, tg_shape_str(x, bx, sizeof bx));
    seen |= 1u << p;
    shape[d] = x->shape[p];
    strides[d] = x->strides[p];
  }
  tg_tensor *out =
      tg__new_view(tp, "tg_permute", x, x->ndim, shape, strides, 0);
  if (!out) return NULL;
  tg_node *n;
  if (!tg__record(tp, &OP_PERMUTE, 1, &x, out, &n)) return NULL;
  if (n) {
    for (int d = 0; d < x->ndim; d++)
      n->iargs[d] = perm[d];
    n->n_iargs = x->ndim;
  }
  return out;
}

tg_tensor *tg_transpose(tg_tape *tp, tg_tensor *x, int axis0, int axis1) {
  if (!tg__inputs_ok(tp, "tg_transpose", 1, &x)) return NULL;
  char bx[96];
  int a0 = axis0 < 0 ? axis0 + x->ndim : axis0;
  int a1 = axis1 < 0 ? axis1 + x->ndim : axis1;
  if (a0 < 0 || a0 >= x->ndim || a1 < 0 || a1 >= x->ndim)
    return tg__fail(tp, TG_ERR_AXIS,
                    "tg_transpose: axes %d and %d are not both in range for %s",
                    axis0, axis1, tg_shape_str(x, bx, sizeof bx));
  int perm[TG_MAX_DIMS];
  for (int d = 0; d < x->ndim; d++)
    perm[d] = d;
  perm[a0] = a1;
  perm[a1] = a0;
  return tg_permute(tp, x, perm);
}

/* --- expand -------------------------------------------------------------- */

/* d expand(x) = g summed back to x's shape (the engine does the summing) */
static void expand_backward(tg_tape *tp, tg_node *n, tg_tensor *g,
                            tg_tensor **gin) {
  (void)tp;
  (void)n;
  gin[0] = g;
}
static tg_tensor *expand_replay(tg_tape *tp, const tg_node *n,
                                tg_tensor *const *in) {
  return tg_expand(tp, in[0], n->out->ndim, n->out->shape);
}
static const tg_op_def OP_EXPAND = {
    .name = "expand",
    .backward = expand_backward,
    .replay = expand_replay,
    .rule = "the gradient is summed over the stretched axes",
    .saves = 0};

tg_tensor *tg_expand(tg_tape *tp, tg_tensor *x, int ndim,
                     const int64_t *shape) {
  if (!tg__inputs_ok(tp, "tg_expand", 1, &x)) return NULL;
  char bx[96], bs[96];
  bool ok = ndim >= x->ndim && ndim <= TG_MAX_DIMS && (ndim == 0 || shape);
  for (int d = 0; ok && d < ndim; d++) {
    int xd = d - (ndim - x->ndim);
    if (shape[d] < 0) ok = false;
    if (xd >= 0 && x->shape[xd] != shape[d] && x->shape[xd] != 1) ok = false;
  }
  ok = ok && view_size_ok(x->dtype, ndim, shape);
  if (!ok)
    return tg__fail(tp, TG_ERR_SHAPE, "tg_expand: cannot broadcast %s to %s",
                    tg_shape_str(x, bx, sizeof bx),
                    ndim >= 0 && ndim <= TG_MAX_DIMS && (ndim == 0 || shape)
                        ? tg__shape_fmt(ndim, shape, bs, sizeof bs)
                        : "(invalid shape)");
  int64_t strides[TG_MAX_DIMS];
  tg__broadcast_strides(x, ndim, shape, strides);
  tg_tensor *out = tg__new_view(tp, "tg_expand", x, ndim, shape, strides, 0);
  if (!out) return NULL;
  if (!tg__record(tp, &OP_EXPAND, 1, &x, out, NULL)) return NULL;
  return out;
}

/* --- contiguous ---------------------------------------------------------- */

static void contiguous_backward(tg_tape *tp, tg_node *n, tg_tensor *g,
                                tg_tensor **gin) {
  (void)tp;
  (void)n;
  gin[0] = g;
}
static const tg_op_def OP_CONTIGUOUS = {.name = "contiguous",
                                        .backward = contiguous_backward,
                                        .replay = tg__replay_plain,
                                        .unary = tg_contiguous,
                                        .rule = "the gradient passes through",
                                        .saves = 0};

tg_tensor *tg_contiguous(tg_tape *tp, tg_tensor *x) {
  if (!tg__inputs_ok(tp, "tg_contiguous", 1, &x)) return NULL;
  if (tg_is_contiguous(x)) return x;
  tg_tensor *out = tg__contiguous_data(tp, "tg_contiguous", x);
  if (!out) return NULL;
  if (!tg__record(tp, &OP_CONTIGUOUS, 1, &x, out, NULL)) return NULL;
  return out;
}
