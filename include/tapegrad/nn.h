/* tapegrad: the maths of layers, as compositions of primitive ops.
 *
 * Nothing here has a backward rule of its own but max pooling (a primitive,
 * max_pool): every other gradient comes from the tape, through unfold,
 * matmul, reshape and mean. */
#ifndef TAPEGRAD_NN_H
#define TAPEGRAD_NN_H

#include "ops.h"

/* Convolution options; zeros mean stride 1, padding 0, dilation 1,
 * groups 1. Entry [0] is used for 1-D. */
typedef struct tg_conv_opts {
  int64_t stride[2], padding[2], dilation[2];
  int64_t groups;
} tg_conv_opts;

/* x [N, C, L], w [O, C/groups, k], b [O] or NULL -> [N, O, L_out] */
tg_tensor *tg_conv1d(tg_tape *tp, tg_tensor *x, tg_tensor *w, tg_tensor *b,
                     const tg_conv_opts *opts);
/* x [N, C, H, W], w [O, C/groups, kh, kw], b [O] or NULL
 * -> [N, O, H_out, W_out] (cross-correlation, as in every framework) */
tg_tensor *tg_conv2d(tg_tape *tp, tg_tensor *x, tg_tensor *w, tg_tensor *b,
                     const tg_conv_opts *opts);

/* x [N, C, H, W] -> the max of each window; padding never wins. A stride
 * of 0 means the kernel size. The gradient goes to each window's maximum,
 * shared equally among ties; a NaN is the maximum. */
tg_tensor *tg_max_pool2d(tg_tape *tp, tg_tensor *x, const tg_window *w);
/* x [N, C, H, W] -> the mean of each window; padding counts as zeros (as
 * PyTorch's count_include_pad). A stride of 0 means the kernel size. */
tg_tensor *tg_avg_pool2d(tg_tape *tp, tg_tensor *x, const tg_window *w);

/* --- activations (compositions) ----------------------------------------- */

/* x > 0 ? x : slope x */
tg_tensor *tg_leaky_relu(tg_tape *tp, tg_tensor *x, double slope);
/* x > 0 ? x : alpha (e^x - 1) */
tg_tensor *tg_elu(tg_tape *tp, tg_tensor *x, double alpha);
/* x/2 (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))): the tanh form of GELU */
tg_tensor *tg_gelu(tg_tape *tp, tg_tensor *x);
/* log(1 + e^x), computed as max(x, 0) + log(1 + e^-|x|) */
tg_tensor *tg_softplus(tg_tape *tp, tg_tensor *x);

/* --- losses --------------------------------------------------------------- */

typedef enum tg_reduction { TG_REDUCE_MEAN = 0, TG_REDUCE_SUM } tg_reduction;

/* (pred - target)^2, reduced; shapes must match exactly. */
tg_tensor *tg_mse_loss(tg_tape *tp, tg_tensor *pred, tg_tensor *target,
                       tg_reduction red);
/* |pred - target|, reduced. */
tg_tensor *tg_l1_loss(tg_tape *tp, tg_tensor *pred, tg_tensor *target,
                      tg_reduction red);
/* d = pred - target: |d| < delta ? d^2/2 : delta (|d| - delta/2). */
tg_tensor *tg_huber_loss(tg_tape *tp, tg_tensor *pred, tg_tensor *target,
                         double delta, tg_reduction red);
/* logits [N, C], labels [N] of class indices (whole numbers):
 * -log_softmax(logits)[n, labels[n]], reduced over N. */
tg_tensor *tg_cross_entropy(tg_tape *tp, tg_tensor *logits, tg_tensor *labels,
                            tg_reduction red);
/* log-probabilities [N, C], labels [N]: -logp[n, labels[n]], reduced. */
tg_tensor *tg_nll_loss(tg_tape *tp, tg_tensor *logp, tg_tensor *labels,
                       tg_reduction red);
/* Binary cross-entropy of sigmoid(logits) against targets in [0, 1],
 * computed stably as max(x, 0) - x t + log(1 + e^-|x|). */
tg_tensor *tg_bce_with_logits(tg_tape *tp, tg_tensor *logits,
                              tg_tensor *targets, tg_reduction red);

/* --- initializers --------------------------------------------------------- */

typedef enum tg_init_kind {
  TG_INIT_ZEROS,
  TG_INIT_CONSTANT,       /* every element = value */
  TG_INIT_GLOROT_UNIFORM, /* U(-a, a), a = sqrt(6 / (fan_in + fan_out)) */
  TG_INIT_GLOROT_NORMAL,  /* N(0, 2 / (fan_in + fan_out)) */
  TG_INIT_HE_UNIFORM,     /* U(-a, a), a = sqrt(6 / fan_in) */
  TG_INIT_HE_NORMAL,      /* N(0, 2 / fan_in) */
  TG_INIT_ORTHOGONAL      /* rows (or columns) orthonormal, times value
                             (0 means gain 1) */
} tg_init_kind;

/* Fills t in place. Fans follow PyTorch's convention for weights stored
 * [out, in, k...]: fan_in = in * prod(k), fan_out = out * prod(k); a 1-D
 * tensor has fan_in = fan_out = its length. Orthogonal flattens t to
 * [shape[0], rest]. Same rng state, same numbers on every machine. */
tg_status tg_init(tg_tensor *t, tg_init_kind kind, double value, tg_rng *rng);

#endif
