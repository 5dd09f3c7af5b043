/* Indexing: gather and its adjoint scatter_add (each the other's backward),
 * index_select as a gather, and one_hot. Indices are tensors of whole
 * numbers; they never receive a gradient. */
#include <string.h>

#include "../core/internal.h"
#include "../kernels/kernels.h"

/* Checks the index's values against the size of the indexed axis. */
static bool index_values_ok(tg_tape *tp, const char *fname,
                            const tg_tensor *index, int64_t limit, int axis) {
  double bad;
  int st = tg_k_check_index(index->dtype, index->ndim, index->shape,
                            index->data, index->strides, limit, &bad);
  if (st == 1)
    tg__fail(tp, TG_ERR_ARG, "%s: index %g is not a whole number", fname, bad);
  else if (st == 2)
    tg__fail(tp, TG_ERR_ARG,
             "%s: index %g is out of range for axis %d of size %lld", fname,
             bad, axis, (long long)limit);
  return st == 0;
}

/* The index must have x's number of axes and fit inside x off the axis. */
static bool index_shape_ok(tg_tape *tp, const char *fname, const tg_tensor *x,
                           const tg_tensor *index, int axis) {
  char bx[96], bi[96];
  bool ok = index->ndim == x->ndim;
  for (int d = 0; ok && d < x->ndim; d++)
    if (d != axis && index->shape[d] > x->shape[d]) ok = false;
  if (!ok)
    tg__fail(tp, TG_ERR_SHAPE,
             "%s: index of shape %s does not fit %s along axis %d", fname,
             tg_shape_str(index, bi, sizeof bi), tg_shape_str(x, bx, sizeof bx),
             axis);
  return ok;
}

static bool axis_ok(tg_tape *tp, const char *fname, const tg_tensor *x,
                    int axis, int *out) {
  char bx[96];
  int a = axis < 0 ? axis + x->ndim : axis;
  if (a < 0 || a >= x->ndim) {
    tg__fail(tp, TG_ERR_AXIS, "%s: axis %d is out of range for shape %s", fname,
             axis, tg_shape_str(x, bx, sizeof bx));
    return false;
  }
  *out = a;
  return true;
}

/* d gather(x) = scatter_add of g into zeros of x's shape */
static void gather_backward(tg_tape *tp, tg_node *n, tg_tensor *g,
                            tg_tensor **gin) {
  tg_tensor *x = n->inputs[0];
  tg_tensor *zeros = tg_zeros(tp, x->dtype, x->ndim, x->shape);
  gin[0] = tg_scatter_add(tp, zeros, n->iargs[0], n->inputs[1], g);
}
static tg_tensor *gather_replay(tg_tape *tp, const tg_node *n,
                                tg_tensor *const *in) {
  return tg_gather(tp, in[0], n->iargs[0], in[1]);
}
static const tg_op_def OP_GATHER = {
    .name = "gather",
    .backward = gather_backward,
    .replay = gather_replay,
    .rule = "the gradient is scatter-added back to the gathered positions",
    .saves = TG_SAVES_INPUT(1)};

tg_tensor *tg_gather(tg_tape *tp, tg_tensor *x, int axis, tg_tensor *index) {
  tg_tensor *in[2] = {x, index};
  if (!tg__inputs_ok(tp, "tg_gather", 2, in)) return NULL;
  int a;
  if (!axis_ok(tp, "tg_gather", x, axis, &a) ||
      !index_shape_ok(tp, "tg_gather", x, index, a) ||
      !index_values_ok(tp, "tg_gather", index, x->shape[a], a))
    return NULL;
  tg_tensor *out =
      tg__new_tensor(tp, "tg_gather", x->dtype, index->ndim, index->shape);
  if (!out) return NULL;
  tg_k_gather(x->dtype, x->ndim, a, x->data, x->strides, index->dtype,
              index->shape, index->data, index->strides, out->data);
  tg_node *n;
  if (!tg__record(tp, &OP_GATHER, 2, in, out, &n)) return NULL;
  if (n) n->iargs[0] = a;
  return out;
}

/* d scatter_add(base, src) = (g, gather(g)) */
static void scatter_add_backward(tg_tape *tp, tg_node *n, tg_tensor *g,
                                 tg_tensor **gin) {
  gin[0] = g;
  if (tg__needs_grad(n, 2))
    gin[2] = tg_gather(tp, g, n->iargs[0], n->inputs[1]);
}
static tg_tensor *scatter_add_replay(tg_tape *tp, const tg_node *n,
                                     tg_tensor *const *in) {
  return tg_scatter_add(tp, in[0], n->iargs[0], in[1], in[2]);
}
static const tg_op_def OP_SCATTER_ADD = {
    .name = "scatter_add",
    .backward = scatter_add_backward,
    .replay = scatter_add_replay,
    .rule = "d/dbase = 1, d/dsrc = the gradient gathered at the index",
    .saves = TG_SAVES_INPUT(1)};

tg_tensor *tg_scatter_add(tg_tape *tp, tg_tensor *base, int axis,
                          tg_tensor *index, tg_tensor *src) {
  tg_tensor *in[3] = {base, index, src};
  if (!tg__inputs_ok(tp, "tg_scatter_add", 3, in)) return NULL;
  char bi[96], bs[96];
  int a;
  if (!axis_ok(tp, "tg_scatter_add", base, axis, &a)) return NULL;
  if (src->dtype != base->dtype)
    return tg__fail(tp, TG_ERR_DTYPE,
                    "tg_scatter_add: dtypes differ: base "
                    "%s, src %s",
                    tg_dtype_name(base->dtype), tg_dtype_name(src->dtype));
  if (!tg__same_shape(src, index))
    return tg__fail(tp, TG_ERR_SHAPE,
                    "tg_scatter_add: src %s and index %s "
                    "differ in shape",
                    tg_shape_str(src, bs, sizeof bs),
                    tg_shape_str(index, bi, sizeof bi));
  if (!index_shape_ok(tp, "tg_scatter_add", base, index, a) ||
      !index_values_ok(tp, "tg_scatter_add", index, base->shape[a], a))
    return NULL;
  tg_tensor *out = tg__new_tensor(tp, "tg_scatter_add", base->dtype, base->ndim,
                                  base->shape);
  if (!out) return NULL;
  tg_k_copy(base->dtype, base->ndim, base->shape, out->data, NULL, base->data,
            base->strides);
  tg_k_scatter_add(base->dtype, base->ndim, a, out->data, out->strides,
                   index->dtype, index->shape, index->data, index->strides,
                   src->data, src->strides);
  tg_node *n;
  if (!tg__record(tp, &OP_SCATTER_ADD, 3, in, out, &n)) return NULL;
  if (n) n->iargs[0] = a;
  return out;
}

tg_tensor *tg_index_select(tg_tape *tp, tg_tensor *x, int axis,
                           tg_tensor *index) {
  tg_tensor *in[2] = {x, index};
  if (!tg__inputs_ok(tp, "tg_index_select", 2, in)) return NULL;
  char bi[96];
  int a;
  if (!axis_ok(tp, "tg_index_select", x, axis, &a)) return NULL;
  if (index->ndim != 1)
    return tg__fail(tp, TG_ERR_SHAPE,
                    "tg_index_select: index must be 1-D, "
                    "got %s",
                    tg_shape_str(index, bi, sizeof bi));
  if (!index_values_ok(tp, "tg_index_select", index, x->shape[a], a))
    return NULL;
  /* A gather whose index is the 1-D index stretched over x's other axes. */
  int64_t col[TG_MAX_DIMS], shape[TG_MAX_DIMS];
  for (int d = 0; d < x->ndim; d++) {
    col[d] = d == a ? index->shape[0] : 1;
    shape[d] = d == a ? index->shape[0] : x->shape[d];
  }
  tg_tensor *idx =
      tg_expand(tp, tg_reshape(tp, index, x->ndim, col), x->ndim, shape);
  return tg_gather(tp, x, a, idx);
}

tg_tensor *tg_one_hot(tg_tape *tp, tg_tensor *index, int64_t n_classes,
                      tg_dtype dtype) {
  if (!tg__inputs_ok(tp, "tg_one_hot", 1, &index)) return NULL;
  if (n_classes < 1)
    return tg__fail(tp, TG_ERR_ARG, "tg_one_hot: %lld classes",
                    (long long)n_classes);
  if (index->ndim >= TG_MAX_DIMS)
    return tg__fail(tp, TG_ERR_SHAPE, "tg_one_hot: index has too many axes");
  if (!index_values_ok(tp, "tg_one_hot", index, n_classes, index->ndim))
    return NULL;
  int64_t shape[TG_MAX_DIMS];
  memcpy(shape, index->shape, sizeof(int64_t) * (size_t)index->ndim);
  shape[index->ndim] = n_classes;
  tg_tensor *out = tg_zeros(tp, dtype, index->ndim + 1, shape);
  if (!out) return NULL;
  size_t es = tg_dtype_size(dtype);
  for (int64_t i = 0; i < index->numel; i++) {
    int64_t c = (int64_t)tg_get_flat(index, i);
    char *p = (char *)out->data + (i * n_classes + c) * (int64_t)es;
    if (dtype == TG_F32)
      *(float *)p = 1.0f;
    else
      *(double *)p = 1.0;
  }
  return out;
}
