/* tapegrad: the maths of layers, as compositions of primitive ops.
 *
 * Nothing here has a backward rule of its own: every gradient comes from
 * the tape, through unfold, matmul, reshape, max and mean. */
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

/* x [N, C, H, W] -> the max of each window; padding counts as -inf. A
 * stride of 0 means the kernel size. */
tg_tensor *tg_max_pool2d(tg_tape *tp, tg_tensor *x, const tg_window *w);
/* x [N, C, H, W] -> the mean of each window; padding counts as zeros (as
 * PyTorch's count_include_pad). A stride of 0 means the kernel size. */
tg_tensor *tg_avg_pool2d(tg_tape *tp, tg_tensor *x, const tg_window *w);

#endif
