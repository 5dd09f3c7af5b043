/* Sweep entries for the primitives. */
#include <stdio.h>
#include <string.h>

#include "sweep.h"

int64_t sweep_int(tg_rng *rng, int64_t lo, int64_t hi) {
  return lo + (int64_t)(tg_rng_u64(rng) % (uint64_t)(hi - lo + 1));
}

void sweep_random_shape(tg_rng *rng, int *ndim, int64_t *shape, int min_rank) {
  *ndim = (int)sweep_int(rng, min_rank, 3);
  for (int d = 0; d < *ndim; d++)
    shape[d] = sweep_int(rng, 1, 4);
}

tg_tensor *sweep_whole_numbers(tg_tape *tp, uint64_t seed, int ndim,
                               const int64_t *shape, int64_t limit) {
  tg_tensor *t = tg_empty(tp, TG_F64, ndim, shape);
  if (!t) return NULL;
  tg_rng rng;
  tg_rng_seed(&rng, seed);
  for (int64_t i = 0; i < t->numel; i++)
    ((double *)t->data)[i] = (double)sweep_int(&rng, 0, limit - 1);
  return t;
}

void sweep_describe(sweep_case *c) {
  size_t pos = 0;
  for (int i = 0; i < c->n_inputs; i++) {
    char s[96];
    pos += (size_t)snprintf(c->desc + pos, sizeof c->desc - pos, "%s%s",
                            i ? " " : "", c->ndim[i] ? "" : "[]");
    for (int d = 0; d < c->ndim[i] && pos < sizeof c->desc; d++) {
      snprintf(s, sizeof s, d ? "x%lld" : "[%lld", (long long)c->shape[i][d]);
      pos += (size_t)snprintf(c->desc + pos, sizeof c->desc - pos, "%s%s", s,
                              d == c->ndim[i] - 1 ? "]" : "");
    }
  }
}

/* --- unary ---------------------------------------------------------------- */

static void one_input(tg_rng *rng, sweep_case *c) {
  memset(c, 0, sizeof *c);
  c->n_inputs = 1;
  sweep_random_shape(rng, &c->ndim[0], c->shape[0], 0);
  sweep_describe(c);
}

#define UNARY(NAME)                                                            \
  static tg_tensor *apply_##NAME(tg_tape *tp, tg_tensor *const *in,            \
                                 const sweep_case *c) {                        \
    (void)c;                                                                   \
    return tg_##NAME(tp, in[0]);                                               \
  }
UNARY(neg)
UNARY(exp)
UNARY(log)
UNARY(sqrt)
UNARY(tanh)
UNARY(sigmoid)
UNARY(relu)
UNARY(abs)
UNARY(sin)
UNARY(cos)

static void scalar_case(tg_rng *rng, sweep_case *c) {
  one_input(rng, c);
  c->scalar = -2.5 + 5.0 * tg_rng_uniform(rng);
  size_t len = strlen(c->desc);
  snprintf(c->desc + len, sizeof c->desc - len, " s=%.3f", c->scalar);
}
static tg_tensor *apply_pow_scalar(tg_tape *tp, tg_tensor *const *in,
                                   const sweep_case *c) {
  return tg_pow_scalar(tp, in[0], c->scalar);
}
static tg_tensor *apply_mul_scalar(tg_tape *tp, tg_tensor *const *in,
                                   const sweep_case *c) {
  return tg_mul_scalar(tp, in[0], c->scalar);
}
static tg_tensor *apply_add_scalar(tg_tape *tp, tg_tensor *const *in,
                                   const sweep_case *c) {
  return tg_add_scalar(tp, in[0], c->scalar);
}

/* --- binary: two shapes that broadcast ------------------------------------ */

static void broadcast_pair(tg_rng *rng, sweep_case *c) {
  memset(c, 0, sizeof *c);
  c->n_inputs = 2;
  int nd;
  int64_t full[TG_MAX_DIMS];
  sweep_random_shape(rng, &nd, full, 0);
  for (int i = 0; i < 2; i++) {
    /* Each operand drops some leading axes and sets some sides to 1. */
    int drop = (int)sweep_int(rng, 0, nd);
    c->ndim[i] = nd - drop;
    for (int d = 0; d < c->ndim[i]; d++) {
      int64_t side = full[drop + d];
      c->shape[i][d] = tg_rng_uniform(rng) < 0.3 ? 1 : side;
    }
  }
  sweep_describe(c);
}

#define BINARY(NAME)                                                           \
  static tg_tensor *apply_##NAME(tg_tape *tp, tg_tensor *const *in,            \
                                 const sweep_case *c) {                        \
    (void)c;                                                                   \
    return tg_##NAME(tp, in[0], in[1]);                                        \
  }
BINARY(add)
BINARY(sub)
BINARY(mul)
BINARY(div)
BINARY(pow)
BINARY(maximum)
BINARY(minimum)

static void where_case(tg_rng *rng, sweep_case *c) {
  broadcast_pair(rng, c);
  c->n_inputs = 2; /* the mask is made from the case, not an input */
}
static tg_tensor *apply_where(tg_tape *tp, tg_tensor *const *in,
                              const sweep_case *c) {
  (void)c;
  /* A fixed mask of alternating 1 and 0 over the broadcast shape. */
  tg_tensor *both = tg_add(tp, in[0], in[1]);
  if (!both) return NULL;
  tg_tensor *mask = tg_empty(tp, both->dtype, both->ndim, both->shape);
  if (!mask) return NULL;
  for (int64_t i = 0; i < mask->numel; i++)
    ((double *)mask->data)[i] = (double)(i % 2);
  return tg_where(tp, mask, in[0], in[1]);
}

/* --- reductions ----------------------------------------------------------- */

static void reduce_case(tg_rng *rng, sweep_case *c) {
  memset(c, 0, sizeof *c);
  c->n_inputs = 1;
  sweep_random_shape(rng, &c->ndim[0], c->shape[0], 1);
  for (int d = 0; d < c->ndim[0]; d++)
    if (tg_rng_uniform(rng) < 0.5)
      c->axes[c->n_axes++] = tg_rng_uniform(rng) < 0.5 ? d : d - c->ndim[0];
  c->keepdim = tg_rng_uniform(rng) < 0.5;
  sweep_describe(c);
  size_t len = strlen(c->desc);
  len += (size_t)snprintf(c->desc + len, sizeof c->desc - len, " axes={");
  for (int k = 0; k < c->n_axes; k++)
    len += (size_t)snprintf(c->desc + len, sizeof c->desc - len, "%s%d",
                            k ? "," : "", c->axes[k]);
  snprintf(c->desc + len, sizeof c->desc - len, "}%s",
           c->keepdim ? " keepdim" : "");
}
static tg_tensor *apply_sum(tg_tape *tp, tg_tensor *const *in,
                            const sweep_case *c) {
  return tg_sum(tp, in[0], c->n_axes, c->axes, c->keepdim);
}
static tg_tensor *apply_mean(tg_tape *tp, tg_tensor *const *in,
                             const sweep_case *c) {
  return tg_mean(tp, in[0], c->n_axes, c->axes, c->keepdim);
}
static tg_tensor *apply_max(tg_tape *tp, tg_tensor *const *in,
                            const sweep_case *c) {
  return tg_max(tp, in[0], c->n_axes, c->axes, c->keepdim);
}

static void sum_to_case(tg_rng *rng, sweep_case *c) {
  reduce_case(rng, c);
  /* Target: the input's shape with some sides 1 and leading axes gone. */
  int drop = (int)sweep_int(rng, 0, c->ndim[0]);
  c->target_ndim = c->ndim[0] - drop;
  for (int d = 0; d < c->target_ndim; d++)
    c->target[d] = tg_rng_uniform(rng) < 0.5 ? 1 : c->shape[0][drop + d];
  sweep_describe(c);
}
static tg_tensor *apply_sum_to(tg_tape *tp, tg_tensor *const *in,
                               const sweep_case *c) {
  return tg_sum_to(tp, in[0], c->target_ndim, c->target);
}

/* --- matmul --------------------------------------------------------------- */

static void matmul_case(tg_rng *rng, sweep_case *c) {
  memset(c, 0, sizeof *c);
  c->n_inputs = 2;
  int64_t m = sweep_int(rng, 1, 4), k = sweep_int(rng, 1, 4),
          n = sweep_int(rng, 1, 4);
  int batch_a = (int)sweep_int(rng, 0, 2), batch_b = (int)sweep_int(rng, 0, 2);
  int64_t batch[2] = {sweep_int(rng, 1, 3), sweep_int(rng, 1, 3)};
  c->ndim[0] = batch_a + 2;
  c->ndim[1] = batch_b + 2;
  for (int d = 0; d < batch_a; d++)
    c->shape[0][d] = batch[2 - batch_a + d];
  for (int d = 0; d < batch_b; d++)
    c->shape[1][d] = tg_rng_uniform(rng) < 0.3 ? 1 : batch[2 - batch_b + d];
  c->shape[0][batch_a] = m;
  c->shape[0][batch_a + 1] = k;
  c->shape[1][batch_b] = k;
  c->shape[1][batch_b + 1] = n;
  sweep_describe(c);
}
static tg_tensor *apply_matmul(tg_tape *tp, tg_tensor *const *in,
                               const sweep_case *c) {
  (void)c;
  return tg_matmul(tp, in[0], in[1]);
}

/* a and b as for matmul, and an addend c: the trailing [m, n] of the
 * product or a part of it (0-d, [n], [1], [m or 1, n or 1]). */
static void addmm_case(tg_rng *rng, sweep_case *c) {
  matmul_case(rng, c);
  c->n_inputs = 3;
  int64_t m = c->shape[0][c->ndim[0] - 2], n = c->shape[1][c->ndim[1] - 1];
  int rank = (int)sweep_int(rng, 0, 2);
  c->ndim[2] = rank;
  if (rank >= 1) c->shape[2][rank - 1] = tg_rng_uniform(rng) < 0.3 ? 1 : n;
  if (rank == 2) c->shape[2][0] = tg_rng_uniform(rng) < 0.3 ? 1 : m;
  sweep_describe(c);
}
static tg_tensor *apply_addmm(tg_tape *tp, tg_tensor *const *in,
                              const sweep_case *c) {
  (void)c;
  return tg_addmm(tp, in[2], in[0], in[1]);
}

/* --- movement ------------------------------------------------------------- */

static tg_tensor *apply_reshape(tg_tape *tp, tg_tensor *const *in,
                                const sweep_case *c) {
  (void)c;
  /* Flatten all but the first axis, then view it transposed when 2-D. */
  int64_t shape[2] = {in[0]->ndim ? in[0]->shape[0] : 1, -1};
  return tg_reshape(tp, in[0], 2, shape);
}

static void permute_case(tg_rng *rng, sweep_case *c) {
  one_input(rng, c);
  int nd = c->ndim[0];
  for (int d = 0; d < nd; d++)
    c->axes[d] = d;
  for (int d = nd - 1; d > 0; d--) { /* Fisher-Yates */
    int j = (int)(tg_rng_u64(rng) % (uint64_t)(d + 1));
    int t = c->axes[d];
    c->axes[d] = c->axes[j];
    c->axes[j] = t;
  }
}
static tg_tensor *apply_permute(tg_tape *tp, tg_tensor *const *in,
                                const sweep_case *c) {
  return tg_permute(tp, in[0], c->axes);
}

static void expand_case(tg_rng *rng, sweep_case *c) {
  one_input(rng, c);
  int extra = (int)sweep_int(rng, 0, 2);
  c->target_ndim = c->ndim[0] + extra;
  for (int d = 0; d < extra; d++)
    c->target[d] = sweep_int(rng, 1, 3);
  for (int d = 0; d < c->ndim[0]; d++) {
    if (tg_rng_uniform(rng) < 0.4) c->shape[0][d] = 1;
    c->target[extra + d] =
        c->shape[0][d] == 1 ? sweep_int(rng, 1, 3) : c->shape[0][d];
  }
  sweep_describe(c);
}
static tg_tensor *apply_expand(tg_tape *tp, tg_tensor *const *in,
                               const sweep_case *c) {
  return tg_expand(tp, in[0], c->target_ndim, c->target);
}

/* Inputs of the view ops are permuted first, so the ops see strided data. */
static tg_tensor *apply_contiguous_of_view(tg_tape *tp, tg_tensor *const *in,
                                           const sweep_case *c) {
  (void)c;
  tg_tensor *x = in[0];
  if (x->ndim >= 2) x = tg_transpose(tp, x, 0, -1);
  return tg_contiguous(tp, x);
}

#define POSITIVE                                                               \
  { 0.2, 2, 0 }
#define AWAY                                                                   \
  { -2, 2, 0.1 }

const sweep_entry sweep_ops[] = {
    {"neg", one_input, apply_neg, SWEEP_ANY},
    {"exp", one_input, apply_exp, SWEEP_ANY},
    {"log", one_input, apply_log, POSITIVE},
    {"sqrt", one_input, apply_sqrt, POSITIVE},
    {"tanh", one_input, apply_tanh, SWEEP_ANY},
    {"sigmoid", one_input, apply_sigmoid, SWEEP_ANY},
    {"relu", one_input, apply_relu, AWAY},
    {"abs", one_input, apply_abs, AWAY},
    {"sin", one_input, apply_sin, SWEEP_ANY},
    {"cos", one_input, apply_cos, SWEEP_ANY},
    {"pow_scalar", scalar_case, apply_pow_scalar, POSITIVE},
    {"mul_scalar", scalar_case, apply_mul_scalar, SWEEP_ANY},
    {"add_scalar", scalar_case, apply_add_scalar, SWEEP_ANY},
    {"add", broadcast_pair, apply_add, SWEEP_ANY},
    {"sub", broadcast_pair, apply_sub, SWEEP_ANY},
    {"mul", broadcast_pair, apply_mul, SWEEP_ANY},
    {"div", broadcast_pair, apply_div, AWAY},
    {"pow", broadcast_pair, apply_pow, POSITIVE},
    {"maximum", broadcast_pair, apply_maximum, SWEEP_ANY},
    {"minimum", broadcast_pair, apply_minimum, SWEEP_ANY},
    {"where", where_case, apply_where, SWEEP_ANY},
    {"sum", reduce_case, apply_sum, SWEEP_ANY},
    {"mean", reduce_case, apply_mean, SWEEP_ANY},
    {"max", reduce_case, apply_max, SWEEP_ANY},
    {"sum_to", sum_to_case, apply_sum_to, SWEEP_ANY},
    {"matmul", matmul_case, apply_matmul, SWEEP_ANY},
    {"addmm", addmm_case, apply_addmm, SWEEP_ANY},
    {"reshape", one_input, apply_reshape, SWEEP_ANY},
    {"permute", permute_case, apply_permute, SWEEP_ANY},
    {"expand", expand_case, apply_expand, SWEEP_ANY},
    {"contiguous", one_input, apply_contiguous_of_view, SWEEP_ANY},
};
const int sweep_ops_count = (int)(sizeof sweep_ops / sizeof sweep_ops[0]);
