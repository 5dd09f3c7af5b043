/* Sweep entries for slicing, joining, padding, indexing, windows and the
 * softmax family. */
#include <stdio.h>
#include <string.h>

#include "sweep.h"

#include <stdarg.h>

static void append(sweep_case *c, const char *fmt, ...) {
  size_t len = strlen(c->desc);
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(c->desc + len, sizeof c->desc - len, fmt, ap);
  va_end(ap);
}

/* --- slice, concat, pad --------------------------------------------------- */

static void slice_case(tg_rng *rng, sweep_case *c) {
  memset(c, 0, sizeof *c);
  c->n_inputs = 1;
  sweep_random_shape(rng, &c->ndim[0], c->shape[0], 1);
  c->axes[0] = (int)sweep_int(rng, 0, c->ndim[0] - 1);
  int64_t n = c->shape[0][c->axes[0]];
  c->target[0] = sweep_int(rng, -n, n - 1); /* start */
  c->target[1] = sweep_int(rng, -n, n + 1); /* stop */
  c->target[2] = sweep_int(rng, 1, 3);      /* step */
  sweep_describe(c);
  append(c, " [%lld:%lld:%lld]", (long long)c->target[0],
         (long long)c->target[1], (long long)c->target[2]);
}
static tg_tensor *apply_slice(tg_tape *tp, tg_tensor *const *in,
                              const sweep_case *c) {
  return tg_slice(tp, in[0], c->axes[0], c->target[0], c->target[1],
                  c->target[2]);
}

static void concat_case(tg_rng *rng, sweep_case *c) {
  memset(c, 0, sizeof *c);
  c->n_inputs = (int)sweep_int(rng, 2, 3);
  int nd;
  int64_t shape[TG_MAX_DIMS];
  sweep_random_shape(rng, &nd, shape, 1);
  c->axes[0] = (int)sweep_int(rng, 0, nd - 1);
  for (int i = 0; i < c->n_inputs; i++) {
    c->ndim[i] = nd;
    memcpy(c->shape[i], shape, sizeof shape);
    c->shape[i][c->axes[0]] = sweep_int(rng, 1, 3);
  }
  sweep_describe(c);
  append(c, " axis=%d", c->axes[0]);
}
static tg_tensor *apply_concat(tg_tape *tp, tg_tensor *const *in,
                               const sweep_case *c) {
  return tg_concat(tp, c->n_inputs, in, c->axes[0]);
}

static void pad_case(tg_rng *rng, sweep_case *c) {
  memset(c, 0, sizeof *c);
  c->n_inputs = 1;
  sweep_random_shape(rng, &c->ndim[0], c->shape[0], 1);
  for (int d = 0; d < 2 * c->ndim[0]; d++)
    c->target[d] = sweep_int(rng, 0, 2);
  c->scalar = tg_rng_uniform(rng);
  sweep_describe(c);
}
static tg_tensor *apply_pad(tg_tape *tp, tg_tensor *const *in,
                            const sweep_case *c) {
  return tg_pad(tp, in[0], c->target, c->scalar);
}

/* --- indexing ------------------------------------------------------------- */

static void gather_case(tg_rng *rng, sweep_case *c) {
  memset(c, 0, sizeof *c);
  c->n_inputs = 1;
  sweep_random_shape(rng, &c->ndim[0], c->shape[0], 1);
  c->axes[0] = (int)sweep_int(rng, 0, c->ndim[0] - 1);
  c->target_ndim = c->ndim[0]; /* the index's shape */
  for (int d = 0; d < c->ndim[0]; d++)
    c->target[d] = d == c->axes[0] ? sweep_int(rng, 1, 5)
                                   : sweep_int(rng, 1, c->shape[0][d]);
  c->seed = tg_rng_u64(rng);
  sweep_describe(c);
  append(c, " axis=%d", c->axes[0]);
}
static tg_tensor *apply_gather(tg_tape *tp, tg_tensor *const *in,
                               const sweep_case *c) {
  tg_tensor *idx = sweep_whole_numbers(tp, c->seed, c->target_ndim, c->target,
                                       in[0]->shape[c->axes[0]]);
  return tg_gather(tp, in[0], c->axes[0], idx);
}

static void scatter_case(tg_rng *rng, sweep_case *c) {
  gather_case(rng, c);
  c->n_inputs = 2; /* base, src (shaped like the index) */
  c->ndim[1] = c->target_ndim;
  memcpy(c->shape[1], c->target, sizeof c->target);
  c->desc[0] = '\0';
  sweep_describe(c);
}
static tg_tensor *apply_scatter_add(tg_tape *tp, tg_tensor *const *in,
                                    const sweep_case *c) {
  tg_tensor *idx = sweep_whole_numbers(tp, c->seed, c->target_ndim, c->target,
                                       in[0]->shape[c->axes[0]]);
  return tg_scatter_add(tp, in[0], c->axes[0], idx, in[1]);
}

static tg_tensor *apply_index_select(tg_tape *tp, tg_tensor *const *in,
                                     const sweep_case *c) {
  int64_t n = c->target[c->axes[0]];
  tg_tensor *idx =
      sweep_whole_numbers(tp, c->seed, 1, &n, in[0]->shape[c->axes[0]]);
  return tg_index_select(tp, in[0], c->axes[0], idx);
}

/* --- softmax family ---------------------------------------------------------
 */

static void axis_case(tg_rng *rng, sweep_case *c) {
  memset(c, 0, sizeof *c);
  c->n_inputs = 1;
  sweep_random_shape(rng, &c->ndim[0], c->shape[0], 1);
  c->axes[0] = (int)sweep_int(rng, -c->ndim[0], c->ndim[0] - 1);
  c->keepdim = tg_rng_uniform(rng) < 0.5;
  sweep_describe(c);
  append(c, " axis=%d", c->axes[0]);
}
static tg_tensor *apply_softmax(tg_tape *tp, tg_tensor *const *in,
                                const sweep_case *c) {
  return tg_softmax(tp, in[0], c->axes[0]);
}
static tg_tensor *apply_log_softmax(tg_tape *tp, tg_tensor *const *in,
                                    const sweep_case *c) {
  return tg_log_softmax(tp, in[0], c->axes[0]);
}
static tg_tensor *apply_logsumexp(tg_tape *tp, tg_tensor *const *in,
                                  const sweep_case *c) {
  return tg_logsumexp(tp, in[0], c->axes[0], c->keepdim);
}

/* --- windows ------------------------------------------------------------- */

/* A window that fits: kernel 1..3, stride 1..2, padding 0..1, dilation
 * 1..2, over 1 or 2 spatial axes of sides 3..6. */
static void window_case(tg_rng *rng, sweep_case *c, int nsp) {
  memset(c, 0, sizeof *c);
  c->n_inputs = 1;
  c->ndim[0] = nsp + 2;
  c->shape[0][0] = sweep_int(rng, 1, 2);
  c->shape[0][1] = sweep_int(rng, 1, 3);
  for (int d = 0; d < nsp; d++) {
    c->shape[0][2 + d] = sweep_int(rng, 3, 6);
    c->target[d] = sweep_int(rng, 1, 3);     /* kernel */
    c->target[2 + d] = sweep_int(rng, 1, 2); /* stride */
    c->target[4 + d] = sweep_int(rng, 0, 1); /* padding */
    c->target[6 + d] = sweep_int(rng, 1, 2); /* dilation */
    if ((c->target[6 + d]) * (c->target[d] - 1) + 1 >
        c->shape[0][2 + d] + 2 * c->target[4 + d])
      c->target[6 + d] = 1;
  }
  c->target_ndim = nsp;
  sweep_describe(c);
  append(c, " k=%lld s=%lld p=%lld", (long long)c->target[0],
         (long long)c->target[2], (long long)c->target[4]);
}
static tg_window window_of(const sweep_case *c) {
  tg_window w;
  for (int d = 0; d < 2; d++) {
    w.kernel[d] = c->target[d] ? c->target[d] : 1;
    w.stride[d] = c->target[2 + d];
    w.padding[d] = c->target[4 + d];
    w.dilation[d] = c->target[6 + d];
  }
  return w;
}
static void unfold1_case(tg_rng *rng, sweep_case *c) { window_case(rng, c, 1); }
static void unfold2_case(tg_rng *rng, sweep_case *c) { window_case(rng, c, 2); }
static tg_tensor *apply_unfold(tg_tape *tp, tg_tensor *const *in,
                               const sweep_case *c) {
  tg_window w = window_of(c);
  return tg_unfold(tp, in[0], &w);
}

/* fold is checked on columns shaped for a window over the case's input. */
static void fold_case(tg_rng *rng, sweep_case *c) {
  window_case(rng, c, 2);
  tg_window w = window_of(c);
  int64_t out[2];
  tg_tape *tp = tg_tape_new();
  tg_tensor *x = tg_zeros(tp, TG_F64, 4, c->shape[0]);
  tg_tensor *cols = tg_unfold(tp, x, &w);
  c->target_ndim = 2;
  out[0] = c->shape[0][2];
  out[1] = c->shape[0][3];
  c->target[8] = out[0];
  c->target[9] = out[1];
  c->ndim[0] = 3;
  memcpy(c->shape[0], cols->shape, sizeof(int64_t) * 3);
  tg_tape_free(tp);
  c->desc[0] = '\0';
  sweep_describe(c);
}
static tg_tensor *apply_fold(tg_tape *tp, tg_tensor *const *in,
                             const sweep_case *c) {
  tg_window w = window_of(c);
  return tg_fold(tp, in[0], 2, c->target + 8, &w);
}

const sweep_entry sweep_indexing[] = {
    {"slice", slice_case, apply_slice, SWEEP_ANY},
    {"concat", concat_case, apply_concat, SWEEP_ANY},
    {"pad", pad_case, apply_pad, SWEEP_ANY},
    {"gather", gather_case, apply_gather, SWEEP_ANY},
    {"scatter_add", scatter_case, apply_scatter_add, SWEEP_ANY},
    {"index_select", gather_case, apply_index_select, SWEEP_ANY},
    {"softmax", axis_case, apply_softmax, SWEEP_ANY},
    {"log_softmax", axis_case, apply_log_softmax, SWEEP_ANY},
    {"logsumexp", axis_case, apply_logsumexp, SWEEP_ANY},
    {"unfold (1-D)", unfold1_case, apply_unfold, SWEEP_ANY},
    {"unfold (2-D)", unfold2_case, apply_unfold, SWEEP_ANY},
    {"fold", fold_case, apply_fold, SWEEP_ANY},
};
const int sweep_indexing_count =
    (int)(sizeof sweep_indexing / sizeof sweep_indexing[0]);
