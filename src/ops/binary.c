/* Binary ops with NumPy broadcasting, comparisons and where. Rules return
 * gradients at the broadcast shape; the engine sums them back to each
 * input's shape (tg_sum_to), once, for every op. */
#include "../core/internal.h"
#include "../kernels/kernels.h"

/* Validates a and b, allocates the broadcast output and runs kernel k. */
static tg_tensor *binary(tg_tape *tp, const tg_op_def *op, const char *fname,
                         tg_k_binary_op k, tg_tensor *a, tg_tensor *b) {
  tg_tensor *in[2] = {a, b};
  if (!tg__inputs_ok(tp, fname, 2, in)) return NULL;
  char ba[96], bb[96];
  if (a->dtype != b->dtype)
    return tg__fail(tp, TG_ERR_DTYPE, "%s: dtypes differ: %s %s and %s %s",
                    fname, tg_dtype_name(a->dtype),
                    tg_shape_str(a, ba, sizeof ba), tg_dtype_name(b->dtype),
                    tg_shape_str(b, bb, sizeof bb));
  int nd;
  int64_t shape[TG_MAX_DIMS];
  if (!tg__broadcast_shape(a->ndim, a->shape, b->ndim, b->shape, &nd, shape))
    return tg__fail(tp, TG_ERR_SHAPE, "%s: shapes %s and %s do not broadcast",
                    fname, tg_shape_str(a, ba, sizeof ba),
                    tg_shape_str(b, bb, sizeof bb));
  tg_tensor *out = tg__new_tensor(tp, fname, a->dtype, nd, shape);
  if (!out) return NULL;
  int64_t sa[TG_MAX_DIMS], sb[TG_MAX_DIMS];
  tg__broadcast_strides(a, nd, shape, sa);
  tg__broadcast_strides(b, nd, shape, sb);
  tg_k_binary(k, a->dtype, nd, shape, out->data, NULL, a->data, sa, b->data,
              sb);
  if (op && !tg__record(tp, op, 2, in, out, NULL)) return NULL;
  return out;
}

/* d(a+b) = (g, g) */
static void add_backward(tg_tape *tp, tg_node *n, tg_tensor *g,
                         tg_tensor **gin) {
  (void)tp;
  (void)n;
  gin[0] = gin[1] = g;
}
static const tg_op_def OP_ADD = {.name = "add",
                                 .backward = add_backward,
                                 .replay = tg__replay_plain,
                                 .binary = tg_add,
                                 .rule = "d(a+b)/da = 1, d(a+b)/db = 1",
                                 .saves = 0};
tg_tensor *tg_add(tg_tape *tp, tg_tensor *a, tg_tensor *b) {
  return binary(tp, &OP_ADD, "tg_add", TG_K_ADD, a, b);
}

/* d(a-b) = (g, -g) */
static void sub_backward(tg_tape *tp, tg_node *n, tg_tensor *g,
                         tg_tensor **gin) {
  gin[0] = g;
  if (tg__needs_grad(n, 1)) gin[1] = tg_neg(tp, g);
}
static const tg_op_def OP_SUB = {.name = "sub",
                                 .backward = sub_backward,
                                 .replay = tg__replay_plain,
                                 .binary = tg_sub,
                                 .rule = "d(a-b)/da = 1, d(a-b)/db = -1",
                                 .saves = 0};
tg_tensor *tg_sub(tg_tape *tp, tg_tensor *a, tg_tensor *b) {
  return binary(tp, &OP_SUB, "tg_sub", TG_K_SUB, a, b);
}

/* d(a*b) = (g*b, g*a) */
static void mul_backward(tg_tape *tp, tg_node *n, tg_tensor *g,
                         tg_tensor **gin) {
  if (tg__needs_grad(n, 0)) gin[0] = tg_mul(tp, g, n->inputs[1]);
  if (tg__needs_grad(n, 1)) gin[1] = tg_mul(tp, g, n->inputs[0]);
}
static const tg_op_def OP_MUL = {.name = "mul",
                                 .backward = mul_backward,
                                 .replay = tg__replay_plain,
                                 .binary = tg_mul,
                                 .rule = "d(a*b)/da = b, d(a*b)/db = a",
                                 .saves =
                                     TG_SAVES_INPUT(0) | TG_SAVES_INPUT(1)};
tg_tensor *tg_mul(tg_tape *tp, tg_tensor *a, tg_tensor *b) {
  return binary(tp, &OP_MUL, "tg_mul", TG_K_MUL, a, b);
}

/* d(a/b) = (g/b, -g*(a/b)/b) */
static void div_backward(tg_tape *tp, tg_node *n, tg_tensor *g,
                         tg_tensor **gin) {
  tg_tensor *b = n->inputs[1];
  if (tg__needs_grad(n, 0)) gin[0] = tg_div(tp, g, b);
  if (tg__needs_grad(n, 1))
    gin[1] = tg_neg(tp, tg_div(tp, tg_mul(tp, g, n->out), b));
}
static const tg_op_def OP_DIV = {.name = "div",
                                 .backward = div_backward,
                                 .replay = tg__replay_plain,
                                 .binary = tg_div,
                                 .rule =
                                     "d(a/b)/da = 1/b, d(a/b)/db = -(a/b)/b",
                                 .saves = TG_SAVES_INPUT(1) | TG_SAVES_OUTPUT};
tg_tensor *tg_div(tg_tape *tp, tg_tensor *a, tg_tensor *b) {
  return binary(tp, &OP_DIV, "tg_div", TG_K_DIV, a, b);
}

/* d(a^b) = (g * b * a^(b-1), g * a^b * ln a); the second is taken as 0
 * where a == 0, as the limit for b > 0. */
static void pow_backward(tg_tape *tp, tg_node *n, tg_tensor *g,
                         tg_tensor **gin) {
  tg_tensor *a = n->inputs[0], *b = n->inputs[1];
  if (tg__needs_grad(n, 0)) {
    tg_tensor *d = tg_mul(tp, b, tg_pow(tp, a, tg_add_scalar(tp, b, -1)));
    gin[0] = tg_mul(tp, g, d);
  }
  if (tg__needs_grad(n, 1)) {
    tg_tensor *zero = tg_scalar(tp, a->dtype, 0);
    tg_tensor *d = tg_mul(tp, n->out, tg_log(tp, a));
    gin[1] = tg_where(tp, tg_eq(tp, a, zero), zero, tg_mul(tp, g, d));
  }
}
static const tg_op_def OP_POW = {
    .name = "pow",
    .backward = pow_backward,
    .replay = tg__replay_plain,
    .binary = tg_pow,
    .rule = "d(a^b)/da = b a^(b-1), d(a^b)/db = a^b ln a",
    .saves = TG_SAVES_INPUT(0) | TG_SAVES_INPUT(1) | TG_SAVES_OUTPUT};
tg_tensor *tg_pow(tg_tape *tp, tg_tensor *a, tg_tensor *b) {
  return binary(tp, &OP_POW, "tg_pow", TG_K_POW, a, b);
}

/* max(a, b) sends g to the larger input; a tie splits it in halves. */
static void extremum_backward(tg_tape *tp, tg_node *n, tg_tensor *g,
                              tg_tensor **gin, bool is_max) {
  tg_tensor *a = n->inputs[0], *b = n->inputs[1];
  tg_tensor *wins = is_max ? tg_gt(tp, a, b) : tg_lt(tp, a, b);
  tg_tensor *ties = tg_mul_scalar(tp, tg_eq(tp, a, b), 0.5);
  tg_tensor *wa = tg_add(tp, wins, ties);
  if (tg__needs_grad(n, 0)) gin[0] = tg_mul(tp, g, wa);
  if (tg__needs_grad(n, 1))
    gin[1] = tg_mul(tp, g, tg_add_scalar(tp, tg_neg(tp, wa), 1));
}
static void maximum_backward(tg_tape *tp, tg_node *n, tg_tensor *g,
                             tg_tensor **gin) {
  extremum_backward(tp, n, g, gin, true);
}
static void minimum_backward(tg_tape *tp, tg_node *n, tg_tensor *g,
                             tg_tensor **gin) {
  extremum_backward(tp, n, g, gin, false);
}
static const tg_op_def OP_MAXIMUM = {
    .name = "maximum",
    .backward = maximum_backward,
    .replay = tg__replay_plain,
    .binary = tg_maximum,
    .rule =
        "d max(a,b)/da = 1 where a > b, d/db = 1 where b > a (halves at a tie)",
    .saves = TG_SAVES_INPUT(0) | TG_SAVES_INPUT(1)};
static const tg_op_def OP_MINIMUM = {
    .name = "minimum",
    .backward = minimum_backward,
    .replay = tg__replay_plain,
    .binary = tg_minimum,
    .rule =
        "d min(a,b)/da = 1 where a < b, d/db = 1 where b < a (halves at a tie)",
    .saves = TG_SAVES_INPUT(0) | TG_SAVES_INPUT(1)};
tg_tensor *tg_maximum(tg_tape *tp, tg_tensor *a, tg_tensor *b) {
  return binary(tp, &OP_MAXIMUM, "tg_maximum", TG_K_MAX, a, b);
}
tg_tensor *tg_minimum(tg_tape *tp, tg_tensor *a, tg_tensor *b) {
  return binary(tp, &OP_MINIMUM, "tg_minimum", TG_K_MIN, a, b);
}

/* --- comparisons: constants as far as gradients go, never recorded ------ */

tg_tensor *tg_eq(tg_tape *tp, tg_tensor *a, tg_tensor *b) {
  return binary(tp, NULL, "tg_eq", TG_K_EQ, a, b);
}
tg_tensor *tg_ne(tg_tape *tp, tg_tensor *a, tg_tensor *b) {
  return binary(tp, NULL, "tg_ne", TG_K_NE, a, b);
}
tg_tensor *tg_lt(tg_tape *tp, tg_tensor *a, tg_tensor *b) {
  return binary(tp, NULL, "tg_lt", TG_K_LT, a, b);
}
tg_tensor *tg_le(tg_tape *tp, tg_tensor *a, tg_tensor *b) {
  return binary(tp, NULL, "tg_le", TG_K_LE, a, b);
}
tg_tensor *tg_gt(tg_tape *tp, tg_tensor *a, tg_tensor *b) {
  return binary(tp, NULL, "tg_gt", TG_K_GT, a, b);
}
tg_tensor *tg_ge(tg_tape *tp, tg_tensor *a, tg_tensor *b) {
  return binary(tp, NULL, "tg_ge", TG_K_GE, a, b);
}

/* --- where --------------------------------------------------------------- */

/* d where(m, a, b) = (none, where(m, g, 0), where(m, 0, g)) */
static void where_backward(tg_tape *tp, tg_node *n, tg_tensor *g,
                           tg_tensor **gin) {
  tg_tensor *m = n->inputs[0];
  tg_tensor *zero = tg_scalar(tp, g->dtype, 0);
  if (tg__needs_grad(n, 1)) gin[1] = tg_where(tp, m, g, zero);
  if (tg__needs_grad(n, 2)) gin[2] = tg_where(tp, m, zero, g);
}
static tg_tensor *where_replay(tg_tape *tp, const tg_node *n,
                               tg_tensor *const *in) {
  (void)n;
  return tg_where(tp, in[0], in[1], in[2]);
}
static const tg_op_def OP_WHERE = {
    .name = "where",
    .backward = where_backward,
    .replay = where_replay,
    .rule = "d where(m,a,b)/da = m, d/db = 1 - m (none to the mask)",
    .saves = TG_SAVES_INPUT(0)};

tg_tensor *tg_where(tg_tape *tp, tg_tensor *mask, tg_tensor *a, tg_tensor *b) {
  tg_tensor *in[3] = {mask, a, b};
  if (!tg__inputs_ok(tp, "tg_where", 3, in)) return NULL;
  char bm[96], ba[96], bb[96];
  if (mask->dtype != a->dtype || a->dtype != b->dtype)
    return tg__fail(tp, TG_ERR_DTYPE,
                    "tg_where: dtypes differ: mask %s, a %s, b %s",
                    tg_dtype_name(mask->dtype), tg_dtype_name(a->dtype),
                    tg_dtype_name(b->dtype));
  int nd1, nd;
  int64_t s1[TG_MAX_DIMS], shape[TG_MAX_DIMS];
  if (!tg__broadcast_shape(a->ndim, a->shape, b->ndim, b->shape, &nd1, s1) ||
      !tg__broadcast_shape(mask->ndim, mask->shape, nd1, s1, &nd, shape))
    return tg__fail(tp, TG_ERR_SHAPE,
                    "tg_where: shapes %s (mask), %s and %s do not broadcast",
                    tg_shape_str(mask, bm, sizeof bm),
                    tg_shape_str(a, ba, sizeof ba),
                    tg_shape_str(b, bb, sizeof bb));
  tg_tensor *out = tg__new_tensor(tp, "tg_where", a->dtype, nd, shape);
  if (!out) return NULL;
  int64_t sm[TG_MAX_DIMS], sa[TG_MAX_DIMS], sb[TG_MAX_DIMS];
  tg__broadcast_strides(mask, nd, shape, sm);
  tg__broadcast_strides(a, nd, shape, sa);
  tg__broadcast_strides(b, nd, shape, sb);
  tg_k_where(a->dtype, nd, shape, out->data, mask->data, sm, a->data, sa,
             b->data, sb);
  /* The mask is an input for the record but never gets a gradient; only
   * a and b decide whether the output requires one. */
  tg_tensor *grad_in[2] = {a, b};
  if (!tg__will_record(tp, 2, grad_in)) return out;
  if (!tg__record(tp, &OP_WHERE, 3, in, out, NULL)) return NULL;
  return out;
}
