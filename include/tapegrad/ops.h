/* tapegrad: primitive ops.
 *
 * Every op takes the tape first, returns a new tensor in the tape's arena
 * (or a view of its input where the layout allows), and returns NULL on bad
 * input with a message on the tape. A NULL input gives a NULL output, so a
 * forward pass can be checked once at the end. Both inputs of a binary op
 * must have the same dtype; shapes broadcast as in NumPy. */
#ifndef TAPEGRAD_OPS_H
#define TAPEGRAD_OPS_H

#include "tensor.h"

/* --- unary --------------------------------------------------------------- */

tg_tensor *tg_neg(tg_tape *tp, tg_tensor *x);  /* -x */
tg_tensor *tg_exp(tg_tape *tp, tg_tensor *x);  /* e^x */
tg_tensor *tg_log(tg_tape *tp, tg_tensor *x);  /* ln x */
tg_tensor *tg_sqrt(tg_tape *tp, tg_tensor *x); /* x^(1/2) */
tg_tensor *tg_tanh(tg_tape *tp, tg_tensor *x); /* (e^x - e^-x)/(e^x + e^-x) */
tg_tensor *tg_sigmoid(tg_tape *tp, tg_tensor *x); /* 1/(1 + e^-x) */
tg_tensor *tg_relu(tg_tape *tp, tg_tensor *x);    /* max(x, 0) */
tg_tensor *tg_abs(tg_tape *tp, tg_tensor *x);     /* |x| */
tg_tensor *tg_sin(tg_tape *tp, tg_tensor *x);     /* sin x */
tg_tensor *tg_cos(tg_tape *tp, tg_tensor *x);     /* cos x */
tg_tensor *tg_pow_scalar(tg_tape *tp, tg_tensor *x, double p); /* x^p */
tg_tensor *tg_mul_scalar(tg_tape *tp, tg_tensor *x, double s); /* s*x */
tg_tensor *tg_add_scalar(tg_tape *tp, tg_tensor *x, double s); /* x + s */

/* --- binary, broadcasting ------------------------------------------------ */

tg_tensor *tg_add(tg_tape *tp, tg_tensor *a, tg_tensor *b);     /* a + b */
tg_tensor *tg_sub(tg_tape *tp, tg_tensor *a, tg_tensor *b);     /* a - b */
tg_tensor *tg_mul(tg_tape *tp, tg_tensor *a, tg_tensor *b);     /* a * b */
tg_tensor *tg_div(tg_tape *tp, tg_tensor *a, tg_tensor *b);     /* a / b */
tg_tensor *tg_pow(tg_tape *tp, tg_tensor *a, tg_tensor *b);     /* a^b */
tg_tensor *tg_maximum(tg_tape *tp, tg_tensor *a, tg_tensor *b); /* max(a, b) */
tg_tensor *tg_minimum(tg_tape *tp, tg_tensor *a, tg_tensor *b); /* min(a, b) */

/* --- masks and selection (no gradient flows into a mask) ----------------- */

tg_tensor *tg_eq(tg_tape *tp, tg_tensor *a,
                 tg_tensor *b); /* 1 where a == b, else 0 */
tg_tensor *tg_ne(tg_tape *tp, tg_tensor *a, tg_tensor *b); /* 1 where a != b */
tg_tensor *tg_lt(tg_tape *tp, tg_tensor *a, tg_tensor *b); /* 1 where a < b */
tg_tensor *tg_le(tg_tape *tp, tg_tensor *a, tg_tensor *b); /* 1 where a <= b */
tg_tensor *tg_gt(tg_tape *tp, tg_tensor *a, tg_tensor *b); /* 1 where a > b */
tg_tensor *tg_ge(tg_tape *tp, tg_tensor *a, tg_tensor *b); /* 1 where a >= b */
/* mask != 0 ? a : b, broadcasting all three. */
tg_tensor *tg_where(tg_tape *tp, tg_tensor *mask, tg_tensor *a, tg_tensor *b);

/* --- reductions ---------------------------------------------------------- */
/* Over the n_axes axes listed (negative counts from the end); n_axes == 0
 * reduces over every axis. keepdim keeps reduced axes with size 1. */

tg_tensor *tg_sum(tg_tape *tp, tg_tensor *x, int n_axes, const int *axes,
                  bool keepdim);
tg_tensor *tg_mean(tg_tape *tp, tg_tensor *x, int n_axes, const int *axes,
                   bool keepdim);
/* The gradient of max is shared equally among tied maxima. */
tg_tensor *tg_max(tg_tape *tp, tg_tensor *x, int n_axes, const int *axes,
                  bool keepdim);
tg_tensor *tg_sum_all(tg_tape *tp, tg_tensor *x); /* 0-d sum of every element */
tg_tensor *tg_mean_all(tg_tape *tp, tg_tensor *x); /* 0-d mean */
/* Sums x down to a shape it broadcasts to (the adjoint of tg_expand). */
tg_tensor *tg_sum_to(tg_tape *tp, tg_tensor *x, int ndim, const int64_t *shape);

/* --- matmul -------------------------------------------------------------- */

/* a [..., m, k] @ b [..., k, n] -> [..., m, n]; both at least 2-D, batch
 * dimensions broadcast. Transposed views go to BLAS as flags, not copies. */
tg_tensor *tg_matmul(tg_tape *tp, tg_tensor *a, tg_tensor *b);
/* c + a @ b as one op: c, broadcast to the product's shape (a bias [n],
 * a matrix [m, n], ...), is copied into the output and the product added
 * on top inside the gemm, saving the separate add's pass over memory.
 * Gradients: those of the product for a and b, G summed to c's shape for c.
 * Dense and recurrent layers use it for their biases. */
tg_tensor *tg_addmm(tg_tape *tp, tg_tensor *c, tg_tensor *a, tg_tensor *b);

/* --- movement ------------------------------------------------------------ */

/* A view when x is contiguous, else a copy. One entry of shape may be -1. */
tg_tensor *tg_reshape(tg_tape *tp, tg_tensor *x, int ndim,
                      const int64_t *shape);
/* out.shape[i] = x.shape[perm[i]]; always a view. */
tg_tensor *tg_permute(tg_tape *tp, tg_tensor *x, const int *perm);
/* Swaps two axes (negative counts from the end); a view. */
tg_tensor *tg_transpose(tg_tape *tp, tg_tensor *x, int axis0, int axis1);
/* Broadcasts x to shape (NumPy rules, size-1 axes stretch); a view. */
tg_tensor *tg_expand(tg_tape *tp, tg_tensor *x, int ndim, const int64_t *shape);
/* x itself when contiguous, else a row-major copy. */
tg_tensor *tg_contiguous(tg_tape *tp, tg_tensor *x);

/* --- slicing, joining, padding ---------------------------------------------
 */

/* Elements start, start+step, ... before stop along one axis (step >= 1;
 * negative start and stop count from the end; both are clamped to the
 * axis, as in Python). A view. */
tg_tensor *tg_slice(tg_tape *tp, tg_tensor *x, int axis, int64_t start,
                    int64_t stop, int64_t step);
/* The n tensors joined along axis; every other side must agree. */
tg_tensor *tg_concat(tg_tape *tp, int n, tg_tensor *const *xs, int axis);
/* Pads axis d with pads[2d] elements before and pads[2d+1] after (one pair
 * per axis of x), all equal to value. */
tg_tensor *tg_pad(tg_tape *tp, tg_tensor *x, const int64_t *pads, double value);

/* --- indexing ------------------------------------------------------------- */
/* Index tensors hold whole numbers in any float dtype (f32 is exact up to
 * 2^24); a fraction or an index out of range is an error. Indices get no
 * gradient. */

/* out[i,j,k] = x[index[i,j,k], j, k] for axis 0 (likewise for other axes);
 * index has x's number of axes and no side longer than x's, except along
 * axis. */
tg_tensor *tg_gather(tg_tape *tp, tg_tensor *x, int axis, tg_tensor *index);
/* out = base, then out[index[i,j,k], j, k] += src[i,j,k] for axis 0: the
 * adjoint of gather. src has index's shape. */
tg_tensor *tg_scatter_add(tg_tape *tp, tg_tensor *base, int axis,
                          tg_tensor *index, tg_tensor *src);
/* The entries index[0], index[1], ... of x along axis (index is 1-D). */
tg_tensor *tg_index_select(tg_tape *tp, tg_tensor *x, int axis,
                           tg_tensor *index);
/* index [...] -> [..., n_classes] of 0 and 1 in dtype; a constant. */
tg_tensor *tg_one_hot(tg_tape *tp, tg_tensor *index, int64_t n_classes,
                      tg_dtype dtype);

/* --- sliding windows: unfold (im2col) and fold (col2im) ------------------- */

/* A window over the spatial axes: 1 entry used for 1-D inputs, 2 for 2-D.
 * A stride or dilation of 0 means 1. */
typedef struct tg_window {
  int64_t kernel[2], stride[2], padding[2], dilation[2];
} tg_window;

/* x [N, C, L] (1-D) or [N, C, H, W] (2-D) -> [N, C*k, positions]: column p
 * holds the (zero-padded) window at output position p, channel-major
 * (c, ki, kj). */
tg_tensor *tg_unfold(tg_tape *tp, tg_tensor *x, const tg_window *w);
/* The adjoint of unfold: cols [N, C*k, positions] -> [N, C, out_size...],
 * adding up overlapping windows. out_size has 1 or 2 entries. */
tg_tensor *tg_fold(tg_tape *tp, tg_tensor *cols, int n_spatial,
                   const int64_t *out_size, const tg_window *w);

/* --- normalised exponentials ---------------------------------------------- */

/* exp(x) / sum(exp(x)) along axis, computed as exp(x - max) / sum, so large
 * logits neither overflow nor give NaN. */
tg_tensor *tg_softmax(tg_tape *tp, tg_tensor *x, int axis);
/* x - logsumexp(x) along axis, stable in the same way. */
tg_tensor *tg_log_softmax(tg_tape *tp, tg_tensor *x, int axis);
/* log(sum(exp(x))) along axis, stable. */
tg_tensor *tg_logsumexp(tg_tape *tp, tg_tensor *x, int axis, bool keepdim);

#endif
