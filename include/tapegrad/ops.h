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

#endif
