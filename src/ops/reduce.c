/* Reductions over a set of axes: sum, mean, max, and sum_to (the adjoint of
 * broadcasting, used by the engine for every broadcast input). */
#include <math.h>

#include "../core/internal.h"
#include "../kernels/kernels.h"

/* Shape with the masked axes set to 1 (keepdim) or dropped. */
static int reduced_shape(const tg_tensor *x, unsigned mask, bool keepdim,
                         int64_t *shape) {
  int nd = 0;
  for (int d = 0; d < x->ndim; d++) {
    if (mask & (1u << d)) {
      if (keepdim) shape[nd++] = 1;
    } else {
      shape[nd++] = x->shape[d];
    }
  }
  return nd;
}

static tg_tensor *reduce(tg_tape *tp, const tg_op_def *op, const char *fname,
                         tg_k_reduce_op k, tg_tensor *x, int n_axes,
                         const int *axes, bool keepdim, unsigned *mask_out) {
  if (!tg__inputs_ok(tp, fname, 1, &x)) return NULL;
  unsigned mask;
  if (!tg__axes_mask(tp, fname, x, n_axes, axes, &mask)) return NULL;
  char bx[96];
  if (k == TG_K_RMAX) {
    for (int d = 0; d < x->ndim; d++)
      if ((mask & (1u << d)) && x->shape[d] == 0)
        return tg__fail(tp, TG_ERR_SHAPE,
                        "%s: cannot take the max over empty axis %d of %s",
                        fname, d, tg_shape_str(x, bx, sizeof bx));
  }
  int64_t shape[TG_MAX_DIMS];
  int nd = reduced_shape(x, mask, keepdim, shape);
  tg_tensor *out = tg__new_tensor(tp, fname, x->dtype, nd, shape);
  if (!out) return NULL;
  /* Output strides over x's axes: 0 along reduced axes. */
  int64_t kshape[TG_MAX_DIMS], kstrides[TG_MAX_DIMS], ostrides[TG_MAX_DIMS];
  reduced_shape(x, mask, true, kshape);
  tg__contiguous_strides(x->ndim, kshape, kstrides);
  for (int d = 0; d < x->ndim; d++)
    ostrides[d] = (mask & (1u << d)) ? 0 : kstrides[d];
  double *scratch = NULL;
  if (k == TG_K_RSUM && x->dtype == TG_F32) {
    scratch = tg__arena_alloc(&tp->arena, sizeof(double) * out->numel);
    if (!scratch) return tg__fail(tp, TG_ERR_NOMEM, "%s: out of memory", fname);
  }
  tg_k_reduce(k, x->dtype, x->ndim, x->shape, x->data, x->strides, out->data,
              ostrides, out->numel, scratch);
  tg_node *n;
  if (!tg__record(tp, op, 1, &x, out, &n)) return NULL;
  if (n) {
    n->iargs[0] = (int)mask;
    n->n_iargs = 1;
    n->keepdim = keepdim;
  }
  if (mask_out) *mask_out = mask;
  return out;
}

/* The axes of a mask as a list; returns how many. */
static int mask_axes(unsigned mask, int ndim, int *axes) {
  int n = 0;
  for (int d = 0; d < ndim; d++)
    if (mask & (1u << d)) axes[n++] = d;
  return n;
}

typedef tg_tensor *(*reduce_fn)(tg_tape *, tg_tensor *, int, const int *, bool);

/* Runs fn again with the node's axes and keepdim. A 0-d input has no axes
 * in its mask, and "no axes" means all of them: the same thing. */
static tg_tensor *reduce_again(tg_tape *tp, const tg_node *n, tg_tensor *x,
                               reduce_fn fn) {
  int axes[TG_MAX_DIMS];
  int na = mask_axes((unsigned)n->iargs[0], n->inputs[0]->ndim, axes);
  return fn(tp, x, na, axes, n->keepdim);
}
static tg_tensor *sum_replay(tg_tape *tp, const tg_node *n,
                             tg_tensor *const *in) {
  return reduce_again(tp, n, in[0], tg_sum);
}
static tg_tensor *mean_replay(tg_tape *tp, const tg_node *n,
                              tg_tensor *const *in) {
  return reduce_again(tp, n, in[0], tg_mean);
}
static tg_tensor *max_replay(tg_tape *tp, const tg_node *n,
                             tg_tensor *const *in) {
  return reduce_again(tp, n, in[0], tg_max);
}

/* g reshaped to the keepdim shape, so it broadcasts against the input. */
static tg_tensor *unreduce(tg_tape *tp, tg_node *n, tg_tensor *g) {
  if (n->keepdim) return g;
  int64_t shape[TG_MAX_DIMS];
  int nd = reduced_shape(n->inputs[0], (unsigned)n->iargs[0], true, shape);
  return tg_reshape(tp, g, nd, shape);
}

/* d sum(x) = g broadcast back over the reduced axes */
static void sum_backward(tg_tape *tp, tg_node *n, tg_tensor *g,
                         tg_tensor **gin) {
  tg_tensor *x = n->inputs[0];
  gin[0] = tg_expand(tp, unreduce(tp, n, g), x->ndim, x->shape);
}
static const tg_op_def OP_SUM = {.name = "sum",
                                 .backward = sum_backward,
                                 .replay = sum_replay,
                                 .rule =
                                     "d(sum x)/dx = 1 for every summed element",
                                 .saves = 0};
tg_tensor *tg_sum(tg_tape *tp, tg_tensor *x, int n_axes, const int *axes,
                  bool keepdim) {
  return reduce(tp, &OP_SUM, "tg_sum", TG_K_RSUM, x, n_axes, axes, keepdim,
                NULL);
}

static double reduced_count(const tg_tensor *x, unsigned mask) {
  double count = 1;
  for (int d = 0; d < x->ndim; d++)
    if (mask & (1u << d)) count *= (double)x->shape[d];
  return count;
}

/* d mean(x) = g / count, broadcast back */
static void mean_backward(tg_tape *tp, tg_node *n, tg_tensor *g,
                          tg_tensor **gin) {
  tg_tensor *x = n->inputs[0];
  double count = reduced_count(x, (unsigned)n->iargs[0]);
  tg_tensor *gk = tg_mul_scalar(tp, unreduce(tp, n, g), 1.0 / count);
  gin[0] = tg_expand(tp, gk, x->ndim, x->shape);
}
static const tg_op_def OP_MEAN = {
    .name = "mean",
    .backward = mean_backward,
    .replay = mean_replay,
    .rule = "d(mean x)/dx = 1/n for every averaged element",
    .saves = 0};
tg_tensor *tg_mean(tg_tape *tp, tg_tensor *x, int n_axes, const int *axes,
                   bool keepdim) {
  unsigned mask = 0;
  tg_tensor *out = reduce(tp, &OP_MEAN, "tg_mean", TG_K_RSUM, x, n_axes, axes,
                          keepdim, &mask);
  if (!out) return NULL;
  double count = reduced_count(x, mask);
  /* Scale in place: the output is fresh and not yet seen by anyone. */
  tg_k_unary(TG_K_AFFINE, out->dtype, out->numel, out->data, out->data,
             count > 0 ? 1.0 / count : NAN, 0);
  return out;
}

/* The rule below in one kernel (a few passes, no intermediate tensors),
 * when the sweep records nothing: pooling's backward is mostly this. */
static bool max_grad_fused(tg_tape *tp, tg_node *n, tg_tensor *g,
                           tg_tensor **gin) {
  tg_tensor *x = n->inputs[0];
  if (tg_grad_enabled(tp) || !tg_is_contiguous(n->out)) return false;
  tg_tensor *m = unreduce(tp, n, n->out), *gk = unreduce(tp, n, g);
  tg_tensor *out =
      tg__new_tensor(tp, "tg_backward", x->dtype, x->ndim, x->shape);
  void *ties = tg__arena_alloc(&tp->arena, tg_dtype_size(x->dtype) *
                                               (size_t)(n->out->numel + 1));
  *gin = NULL;
  if (!m || !gk || !out) return true; /* the error is set */
  if (!ties) {
    tg__fail(tp, TG_ERR_NOMEM, "tg_backward: out of memory");
    return true;
  }
  int64_t ms[TG_MAX_DIMS], gs[TG_MAX_DIMS];
  tg__broadcast_strides(m, x->ndim, x->shape, ms);
  tg__broadcast_strides(gk, x->ndim, x->shape, gs);
  tg_k_max_grad(x->dtype, x->ndim, x->shape, out->data, x->data, x->strides,
                m->data, ms, gk->data, gs, ties, n->out->numel);
  *gin = out;
  return true;
}

/* d max(x) = g * [x == max] / (number of ties) */
static void max_backward(tg_tape *tp, tg_node *n, tg_tensor *g,
                         tg_tensor **gin) {
  tg_tensor *x = n->inputs[0];
  if (max_grad_fused(tp, n, g, &gin[0])) return;
  int axes[TG_MAX_DIMS];
  int na = mask_axes((unsigned)n->iargs[0], x->ndim, axes);
  tg_tensor *m = unreduce(tp, n, n->out);
  tg_tensor *hit = tg_eq(tp, x, m);
  tg_tensor *ties = tg_sum(tp, hit, na, axes, true);
  gin[0] = tg_div(tp, tg_mul(tp, hit, unreduce(tp, n, g)), ties);
}
static const tg_op_def OP_MAX = {
    .name = "max",
    .backward = max_backward,
    .replay = max_replay,
    .rule = "d(max x)/dx = 1 at the maximum, shared among ties, else 0",
    .saves = TG_SAVES_INPUT(0) | TG_SAVES_OUTPUT};
tg_tensor *tg_max(tg_tape *tp, tg_tensor *x, int n_axes, const int *axes,
                  bool keepdim) {
  return reduce(tp, &OP_MAX, "tg_max", TG_K_RMAX, x, n_axes, axes, keepdim,
                NULL);
}

tg_tensor *tg_sum_all(tg_tape *tp, tg_tensor *x) {
  return tg_sum(tp, x, 0, NULL, false);
}

tg_tensor *tg_mean_all(tg_tape *tp, tg_tensor *x) {
  return tg_mean(tp, x, 0, NULL, false);
}

tg_tensor *tg_sum_to(tg_tape *tp, tg_tensor *x, int ndim,
                     const int64_t *shape) {
  if (!tg__inputs_ok(tp, "tg_sum_to", 1, &x)) return NULL;
  char bx[96], bs[96];
  int lead = x->ndim - ndim;
  bool ok = ndim >= 0 && lead >= 0 && (ndim == 0 || shape);
  int axes[TG_MAX_DIMS], na = 0;
  for (int d = 0; ok && d < x->ndim; d++) {
    if (d < lead) {
      axes[na++] = d;
    } else if (shape[d - lead] != x->shape[d]) {
      if (shape[d - lead] != 1)
        ok = false;
      else
        axes[na++] = d;
    }
  }
  if (!ok)
    return tg__fail(tp, TG_ERR_SHAPE, "tg_sum_to: cannot sum %s down to %s",
                    tg_shape_str(x, bx, sizeof bx),
                    ndim >= 0 && ndim <= TG_MAX_DIMS && (ndim == 0 || shape)
                        ? tg__shape_fmt(ndim, shape, bs, sizeof bs)
                        : "(invalid shape)");
  if (na == 0 && lead == 0) return x;
  tg_tensor *s = tg_sum(tp, x, na, axes, true);
  return tg_reshape(tp, s, ndim, shape);
}
