/* Slicing, its adjoint (embedding into zeros), concatenation and padding.
 * slice is a view; the others copy. Each backward is the other op, so all
 * of them are differentiable any number of times. */
#include <string.h>

#include "../core/internal.h"
#include "../kernels/kernels.h"

static int norm_axis(int axis, int ndim) {
  return axis < 0 ? axis + ndim : axis;
}

/* Python's clamping of a slice bound to [0, n]. */
static int64_t clamp_bound(int64_t v, int64_t n) {
  if (v < 0) v += n;
  if (v < 0) v = 0;
  if (v > n) v = n;
  return v;
}

/* --- embed: zeros of a shape with g written at a strided range ---------- */

static tg_tensor *embed(tg_tape *tp, tg_tensor *g, int ndim,
                        const int64_t *shape, int axis, int64_t start,
                        int64_t step);

/* d slice(x) = embed(g) into zeros of x's shape */
static void slice_backward(tg_tape *tp, tg_node *n, tg_tensor *g,
                           tg_tensor **gin) {
  tg_tensor *x = n->inputs[0];
  gin[0] =
      embed(tp, g, x->ndim, x->shape, n->iargs[0], n->extra[0], n->extra[1]);
}
static tg_tensor *slice_replay(tg_tape *tp, const tg_node *n,
                               tg_tensor *const *in) {
  return tg_slice(tp, in[0], n->iargs[0], n->extra[0], n->extra[2],
                  n->extra[1]);
}
static void range_view(const tg_tensor *t, int axis, int64_t start,
                       int64_t step, int64_t count, int64_t *strides,
                       int64_t *offset);
/* The same, added in place into dst's sliced positions. */
static bool slice_add_grad_into(const tg_node *n, int i, const tg_tensor *g,
                                tg_tensor *dst) {
  (void)i; /* a slice has one input */
  if (!dst) return true;
  int axis = n->iargs[0];
  int64_t strides[TG_MAX_DIMS], offset;
  range_view(dst, axis, n->extra[0], n->extra[1], g->shape[axis], strides,
             &offset);
  char *at = (char *)dst->data + offset * (int64_t)tg_dtype_size(dst->dtype);
  tg_k_binary(TG_K_ADD, dst->dtype, g->ndim, g->shape, at, strides, at, strides,
              g->data, g->strides);
  return true;
}
static const tg_op_def OP_SLICE = {
    .name = "slice",
    .backward = slice_backward,
    .replay = slice_replay,
    .rule = "the gradient goes into zeros at the sliced positions",
    .saves = 0,
    .add_grad_into = slice_add_grad_into,
    .add_grad_first = true};

/* d embed(g) = the slice of its gradient at the same range */
static void embed_backward(tg_tape *tp, tg_node *n, tg_tensor *g,
                           tg_tensor **gin) {
  gin[0] = tg_slice(tp, g, n->iargs[0], n->extra[0], n->extra[2], n->extra[1]);
}
static tg_tensor *embed_replay(tg_tape *tp, const tg_node *n,
                               tg_tensor *const *in) {
  return embed(tp, in[0], n->out->ndim, n->out->shape, n->iargs[0], n->extra[0],
               n->extra[1]);
}
static const tg_op_def OP_EMBED = {
    .name = "embed",
    .backward = embed_backward,
    .replay = embed_replay,
    .rule = "the gradient is sliced at the embedded positions",
    .saves = 0};

/* The strides and offset of the count elements start, start+step, ...
 * along axis. With fewer than two elements the step is never taken, and
 * stride * step may not fit (a step of INT64_MAX): for one element it is
 * kept only when it fits; an empty axis gets stride 0, since the kernels
 * scale the strides of empty axes to bytes and the input's may be huge (a
 * size-1 axis sliced with such a step before). */
static void range_view(const tg_tensor *t, int axis, int64_t start,
                       int64_t step, int64_t count, int64_t *strides,
                       int64_t *offset) {
  memcpy(strides, t->strides, sizeof(int64_t) * (size_t)t->ndim);
  int64_t s = strides[axis]; /* >= 0 */
  if (count == 0)
    strides[axis] = 0;
  else if (count > 1 || s == 0 || step <= INT64_MAX / s)
    strides[axis] = s * step;
  *offset = start * t->strides[axis];
}

static tg_tensor *embed(tg_tape *tp, tg_tensor *g, int ndim,
                        const int64_t *shape, int axis, int64_t start,
                        int64_t step) {
  if (!tg__inputs_ok(tp, "tg_slice (backward)", 1, &g)) return NULL;
  tg_tensor *out = tg_zeros(tp, g->dtype, ndim, shape);
  if (!out) return NULL;
  int64_t strides[TG_MAX_DIMS], offset;
  range_view(out, axis, start, step, g->shape[axis], strides, &offset);
  size_t es = tg_dtype_size(g->dtype);
  tg_k_copy(g->dtype, g->ndim, g->shape, (char *)out->data + offset * es,
            strides, g->data, g->strides);
  tg_node *n;
  if (!tg__record(tp, &OP_EMBED, 1, &g, out, &n)) return NULL;
  int64_t count = g->shape[axis];
  int64_t args[3] = {start, step,
                     count ? start + (count - 1) * step + 1 : start};
  if (n) {
    n->iargs[0] = axis;
    if (!tg__node_set_extra(tp, n, args, 3)) return NULL;
  }
  return out;
}

tg_tensor *tg_slice(tg_tape *tp, tg_tensor *x, int axis, int64_t start,
                    int64_t stop, int64_t step) {
  if (!tg__inputs_ok(tp, "tg_slice", 1, &x)) return NULL;
  char bx[96];
  int a = norm_axis(axis, x->ndim);
  if (a < 0 || a >= x->ndim)
    return tg__fail(tp, TG_ERR_AXIS,
                    "tg_slice: axis %d is out of range for "
                    "shape %s",
                    axis, tg_shape_str(x, bx, sizeof bx));
  if (step < 1)
    return tg__fail(tp, TG_ERR_ARG,
                    "tg_slice: step must be at least 1 "
                    "(got %lld)",
                    (long long)step);
  int64_t n = x->shape[a];
  int64_t lo = clamp_bound(start, n), hi = clamp_bound(stop, n);
  int64_t count = hi > lo ? (hi - lo - 1) / step + 1 : 0;
  int64_t shape[TG_MAX_DIMS], strides[TG_MAX_DIMS], offset;
  memcpy(shape, x->shape, sizeof shape);
  shape[a] = count;
  range_view(x, a, lo, step, count, strides, &offset);
  if (count == 0) offset = 0;
  tg_tensor *out =
      tg__new_view(tp, "tg_slice", x, x->ndim, shape, strides, offset);
  if (!out) return NULL;
  tg_node *nd;
  if (!tg__record(tp, &OP_SLICE, 1, &x, out, &nd)) return NULL;
  /* start, step, and a stop just past the last element taken */
  int64_t args[3] = {lo, step, count ? lo + (count - 1) * step + 1 : lo};
  if (nd) {
    nd->iargs[0] = a;
    if (!tg__node_set_extra(tp, nd, args, 3)) return NULL;
  }
  return out;
}

/* --- concat --------------------------------------------------------------- */

/* d concat = the matching slice of g for each input */
static void concat_backward(tg_tape *tp, tg_node *n, tg_tensor *g,
                            tg_tensor **gin) {
  int axis = n->iargs[0];
  int64_t at = 0;
  for (int i = 0; i < n->n_inputs; i++) {
    int64_t len = n->inputs[i]->shape[axis];
    if (tg__needs_grad(n, i)) gin[i] = tg_slice(tp, g, axis, at, at + len, 1);
    at += len;
  }
}
static tg_tensor *concat_replay(tg_tape *tp, const tg_node *n,
                                tg_tensor *const *in) {
  return tg_concat(tp, n->n_inputs, in, n->iargs[0]);
}
static const tg_op_def OP_CONCAT = {
    .name = "concat",
    .backward = concat_backward,
    .replay = concat_replay,
    .rule = "each input gets its slice of the gradient",
    .saves = 0};

tg_tensor *tg_concat(tg_tape *tp, int n, tg_tensor *const *xs, int axis) {
  if (!tp) return NULL;
  if (n < 1 || !xs)
    return tg__fail(tp, TG_ERR_ARG, "tg_concat: needs at least one tensor");
  if (!tg__inputs_ok(tp, "tg_concat", n, xs)) return NULL;
  char b0[96], bi[96];
  const tg_tensor *x0 = xs[0];
  int a = norm_axis(axis, x0->ndim);
  if (a < 0 || a >= x0->ndim)
    return tg__fail(tp, TG_ERR_AXIS,
                    "tg_concat: axis %d is out of range for "
                    "shape %s",
                    axis, tg_shape_str(x0, b0, sizeof b0));
  int64_t shape[TG_MAX_DIMS];
  memcpy(shape, x0->shape, sizeof shape);
  shape[a] = 0;
  for (int i = 0; i < n; i++) {
    const tg_tensor *x = xs[i];
    bool ok = x->dtype == x0->dtype && x->ndim == x0->ndim;
    for (int d = 0; ok && d < x->ndim; d++)
      if (d != a && x->shape[d] != x0->shape[d]) ok = false;
    if (!ok)
      return tg__fail(tp, x->dtype != x0->dtype ? TG_ERR_DTYPE : TG_ERR_SHAPE,
                      "tg_concat: input #%d (%s %s) does not match input #1 "
                      "(%s %s) outside axis %d",
                      i + 1, tg_shape_str(x, bi, sizeof bi),
                      tg_dtype_name(x->dtype), tg_shape_str(x0, b0, sizeof b0),
                      tg_dtype_name(x0->dtype), a);
    if (x->shape[a] > INT64_MAX - shape[a])
      return tg__fail(tp, TG_ERR_SHAPE,
                      "tg_concat: the joined axis %d would be too long", a);
    shape[a] += x->shape[a];
  }
  tg_tensor *out = tg__new_tensor(tp, "tg_concat", x0->dtype, x0->ndim, shape);
  if (!out) return NULL;
  size_t es = tg_dtype_size(x0->dtype);
  int64_t at = 0;
  for (int i = 0; i < n; i++) {
    const tg_tensor *x = xs[i];
    tg_k_copy(x->dtype, x->ndim, x->shape,
              (char *)out->data + at * out->strides[a] * (int64_t)es,
              out->strides, x->data, x->strides);
    at += x->shape[a];
  }
  tg_node *nd;
  if (!tg__record(tp, &OP_CONCAT, n, xs, out, &nd)) return NULL;
  if (nd) nd->iargs[0] = a;
  return out;
}

/* --- pad ------------------------------------------------------------------ */

/* d pad(x) = g with the padding sliced away on every axis */
static void pad_backward(tg_tape *tp, tg_node *n, tg_tensor *g,
                         tg_tensor **gin) {
  tg_tensor *x = n->inputs[0];
  for (int d = 0; d < x->ndim && g; d++)
    if (n->extra[2 * d] || n->extra[2 * d + 1])
      g = tg_slice(tp, g, d, n->extra[2 * d], n->extra[2 * d] + x->shape[d], 1);
  gin[0] = g;
}
static tg_tensor *pad_replay(tg_tape *tp, const tg_node *n,
                             tg_tensor *const *in) {
  return tg_pad(tp, in[0], n->extra, n->scalar);
}
static const tg_op_def OP_PAD = {.name = "pad",
                                 .backward = pad_backward,
                                 .replay = pad_replay,
                                 .rule = "the gradient without the padding",
                                 .saves = 0};

tg_tensor *tg_pad(tg_tape *tp, tg_tensor *x, const int64_t *pads,
                  double value) {
  if (!tg__inputs_ok(tp, "tg_pad", 1, &x)) return NULL;
  if (!pads && x->ndim > 0)
    return tg__fail(tp, TG_ERR_NULL, "tg_pad: pads is NULL");
  int64_t shape[TG_MAX_DIMS];
  int64_t offset = 0;
  for (int d = 0; d < x->ndim; d++) {
    if (pads[2 * d] < 0 || pads[2 * d + 1] < 0)
      return tg__fail(tp, TG_ERR_ARG,
                      "tg_pad: negative padding %lld, %lld "
                      "on axis %d",
                      (long long)pads[2 * d], (long long)pads[2 * d + 1], d);
    if (pads[2 * d] > INT64_MAX - x->shape[d] ||
        pads[2 * d + 1] > INT64_MAX - x->shape[d] - pads[2 * d])
      return tg__fail(tp, TG_ERR_SHAPE,
                      "tg_pad: padding %lld, %lld on axis %d of size %lld "
                      "is too large",
                      (long long)pads[2 * d], (long long)pads[2 * d + 1], d,
                      (long long)x->shape[d]);
    shape[d] = x->shape[d] + pads[2 * d] + pads[2 * d + 1];
  }
  tg_tensor *out = tg_full(tp, x->dtype, x->ndim, shape, value);
  if (!out) return NULL;
  for (int d = 0; d < x->ndim; d++)
    offset += pads[2 * d] * out->strides[d];
  tg_k_copy(x->dtype, x->ndim, x->shape,
            (char *)out->data + offset * (int64_t)tg_dtype_size(x->dtype),
            out->strides, x->data, x->strides);
  tg_node *n;
  if (!tg__record(tp, &OP_PAD, 1, &x, out, &n)) return NULL;
  if (n) {
    n->scalar = value;
    if (!tg__node_set_extra(tp, n, pads, 2 * x->ndim)) return NULL;
  }
  return out;
}
