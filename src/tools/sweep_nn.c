/* Sweep entries for the layer maths: convolution and pooling. */
#include <stdio.h>
#include <string.h>

#include "sweep.h"

/* x [N, C, spatial...], w [O, C/g, k...], b [O]; options in the case. */
static void conv_case(tg_rng *rng, sweep_case *c, int nsp) {
  memset(c, 0, sizeof *c);
  c->n_inputs = 3;
  int64_t groups = sweep_int(rng, 1, 2);
  int64_t cg = sweep_int(rng, 1, 2), og = sweep_int(rng, 1, 2);
  c->ndim[0] = c->ndim[1] = nsp + 2;
  c->ndim[2] = 1;
  c->shape[0][0] = sweep_int(rng, 1, 2);
  c->shape[0][1] = groups * cg;
  c->shape[1][0] = groups * og;
  c->shape[1][1] = cg;
  c->shape[2][0] = groups * og;
  for (int d = 0; d < nsp; d++) {
    int64_t k = sweep_int(rng, 1, 3), pad = sweep_int(rng, 0, 1);
    int64_t dil = sweep_int(rng, 1, 2);
    c->shape[0][2 + d] = sweep_int(rng, 3, 6);
    if (dil * (k - 1) + 1 > c->shape[0][2 + d] + 2 * pad) dil = 1;
    c->shape[1][2 + d] = k;
    c->target[d] = sweep_int(rng, 1, 2); /* stride */
    c->target[2 + d] = pad;
    c->target[4 + d] = dil;
  }
  c->target[6] = groups;
  sweep_describe(c);
  size_t len = strlen(c->desc);
  snprintf(c->desc + len, sizeof c->desc - len, " s=%lld p=%lld d=%lld g=%lld",
           (long long)c->target[0], (long long)c->target[2],
           (long long)c->target[4], (long long)groups);
}
static void conv1_case(tg_rng *rng, sweep_case *c) { conv_case(rng, c, 1); }
static void conv2_case(tg_rng *rng, sweep_case *c) { conv_case(rng, c, 2); }

static tg_conv_opts opts_of(const sweep_case *c) {
  tg_conv_opts o;
  for (int d = 0; d < 2; d++) {
    o.stride[d] = c->target[d];
    o.padding[d] = c->target[2 + d];
    o.dilation[d] = c->target[4 + d];
  }
  o.groups = c->target[6];
  return o;
}
static tg_tensor *apply_conv1d(tg_tape *tp, tg_tensor *const *in,
                               const sweep_case *c) {
  tg_conv_opts o = opts_of(c);
  return tg_conv1d(tp, in[0], in[1], in[2], &o);
}
static tg_tensor *apply_conv2d(tg_tape *tp, tg_tensor *const *in,
                               const sweep_case *c) {
  tg_conv_opts o = opts_of(c);
  return tg_conv2d(tp, in[0], in[1], in[2], &o);
}

static void pool_case(tg_rng *rng, sweep_case *c) {
  memset(c, 0, sizeof *c);
  c->n_inputs = 1;
  c->ndim[0] = 4;
  c->shape[0][0] = sweep_int(rng, 1, 2);
  c->shape[0][1] = sweep_int(rng, 1, 2);
  for (int d = 0; d < 2; d++) {
    c->shape[0][2 + d] = sweep_int(rng, 3, 6);
    c->target[d] = sweep_int(rng, 1, 3);     /* kernel */
    c->target[2 + d] = sweep_int(rng, 0, 2); /* stride (0: kernel) */
    c->target[4 + d] = sweep_int(rng, 0, c->target[d] / 2); /* padding */
  }
  sweep_describe(c);
}
static tg_window pool_window(const sweep_case *c) {
  tg_window w;
  memset(&w, 0, sizeof w);
  for (int d = 0; d < 2; d++) {
    w.kernel[d] = c->target[d];
    w.stride[d] = c->target[2 + d];
    w.padding[d] = c->target[4 + d];
  }
  return w;
}
static tg_tensor *apply_max_pool2d(tg_tape *tp, tg_tensor *const *in,
                                   const sweep_case *c) {
  tg_window w = pool_window(c);
  return tg_max_pool2d(tp, in[0], &w);
}
static tg_tensor *apply_avg_pool2d(tg_tape *tp, tg_tensor *const *in,
                                   const sweep_case *c) {
  tg_window w = pool_window(c);
  return tg_avg_pool2d(tp, in[0], &w);
}

const sweep_entry sweep_nn[] = {
    {"conv1d", conv1_case, apply_conv1d, SWEEP_ANY},
    {"conv2d", conv2_case, apply_conv2d, SWEEP_ANY},
    {"max_pool2d", pool_case, apply_max_pool2d, SWEEP_ANY},
    {"avg_pool2d", pool_case, apply_avg_pool2d, SWEEP_ANY},
};
const int sweep_nn_count = (int)(sizeof sweep_nn / sizeof sweep_nn[0]);
