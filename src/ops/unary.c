/* Unary ops. Each op's backward rule sits right below its definition and is
 * written with ops, so with create_graph it is recorded and differentiable
 * again. */
#include "../core/internal.h"
#include "../kernels/kernels.h"

typedef struct unary_run {
  tg_k_unary_op k;
  tg_dtype dt;
  double p, q;
} unary_run;

/* One contiguous run of x into the matching run of out. */
static void unary_run_fn(int64_t n, char **ptr, const int64_t *s, void *ctx) {
  const unary_run *u = ctx;
  int64_t es = (int64_t)tg_dtype_size(u->dt);
  if (s[0] == es && s[1] == es) {
    tg_k_unary(u->k, u->dt, n, ptr[0], ptr[1], u->p, u->q);
    return;
  }
  for (int64_t i = 0; i < n; i++) /* not expected; correct regardless */
    tg_k_unary(u->k, u->dt, 1, ptr[0] + i * s[0], ptr[1] + i * s[1], u->p,
               u->q);
}

/* Runs kernel k over x and records op. A view whose rows are contiguous (a
 * slice of columns: an LSTM's gates) is read row by row in place; other
 * layouts are copied to contiguous first. */
static tg_tensor *unary(tg_tape *tp, const tg_op_def *op, const char *fname,
                        tg_k_unary_op k, tg_tensor *x, double p, double q,
                        double arg) {
  if (!tg__inputs_ok(tp, fname, 1, &x)) return NULL;
  tg_tensor *out = tg__new_tensor(tp, fname, x->dtype, x->ndim, x->shape);
  if (!out) return NULL;
  if (tg_is_contiguous(x)) {
    tg_k_unary(k, x->dtype, x->numel, out->data, x->data, p, q);
  } else if (x->ndim >= 2 && x->strides[x->ndim - 1] == 1 &&
             x->shape[x->ndim - 1] > 1) {
    /* The iterator's inner runs are whole rows here: both operands step
     * one element along the last axis. */
    size_t es = tg_dtype_size(x->dtype), sz[2] = {es, es};
    const int64_t *st[2] = {NULL, x->strides};
    char *base[2] = {out->data, x->data};
    unary_run u = {k, x->dtype, p, q};
    tg_k_iter_apply(x->ndim, x->shape, 2, st, sz, base, unary_run_fn, &u);
  } else {
    tg_tensor *xc = tg__contiguous_data(tp, fname, x);
    if (!xc) return NULL;
    tg_k_unary(k, x->dtype, x->numel, out->data, xc->data, p, q);
  }
  tg_node *n;
  if (!tg__record(tp, op, 1, &x, out, &n)) return NULL;
  if (n) n->scalar = arg;
  return out;
}

/* The rule as one fused pass, when the sweep records nothing (so the
 * rule's ops need not be differentiable again) and g and v are contiguous
 * of one shape; false when it does not apply. The ops in the rules below
 * remain the definition, and what create_graph records. */
static bool fused_grad(tg_tape *tp, tg_k_grad_op op, tg_tensor *g,
                       const tg_tensor *v, tg_tensor **gin) {
  if (tg_grad_enabled(tp) || g->dtype != v->dtype || !tg__same_shape(g, v) ||
      !tg_is_contiguous(g) || !tg_is_contiguous(v))
    return false;
  tg_tensor *out =
      tg__new_tensor(tp, "tg_backward", g->dtype, g->ndim, g->shape);
  if (out) tg_k_unary_grad(op, g->dtype, g->numel, out->data, g->data, v->data);
  *gin = out;
  return true;
}

/* A 0-d constant of x's dtype, for masks and rules. */
static tg_tensor *constant(tg_tape *tp, const tg_tensor *x, double v) {
  return tg_scalar(tp, x->dtype, v);
}

/* d(-x) = -g */
static void neg_backward(tg_tape *tp, tg_node *n, tg_tensor *g,
                         tg_tensor **gin) {
  (void)n;
  gin[0] = tg_neg(tp, g);
}
static const tg_op_def OP_NEG = {.name = "neg",
                                 .backward = neg_backward,
                                 .replay = tg__replay_plain,
                                 .unary = tg_neg,
                                 .rule = "d(-x)/dx = -1",
                                 .saves = 0};
tg_tensor *tg_neg(tg_tape *tp, tg_tensor *x) {
  return unary(tp, &OP_NEG, "tg_neg", TG_K_NEG, x, 0, 0, 0);
}

/* d(e^x) = g * e^x: reuses the output */
static void exp_backward(tg_tape *tp, tg_node *n, tg_tensor *g,
                         tg_tensor **gin) {
  gin[0] = tg_mul(tp, g, n->out);
}
static const tg_op_def OP_EXP = {.name = "exp",
                                 .backward = exp_backward,
                                 .replay = tg__replay_plain,
                                 .unary = tg_exp,
                                 .rule = "d(e^x)/dx = e^x, the output itself",
                                 .saves = TG_SAVES_OUTPUT};
tg_tensor *tg_exp(tg_tape *tp, tg_tensor *x) {
  return unary(tp, &OP_EXP, "tg_exp", TG_K_EXP, x, 0, 0, 0);
}

/* d(ln x) = g / x */
static void log_backward(tg_tape *tp, tg_node *n, tg_tensor *g,
                         tg_tensor **gin) {
  gin[0] = tg_div(tp, g, n->inputs[0]);
}
static const tg_op_def OP_LOG = {.name = "log",
                                 .backward = log_backward,
                                 .replay = tg__replay_plain,
                                 .unary = tg_log,
                                 .rule = "d(ln x)/dx = 1/x",
                                 .saves = TG_SAVES_INPUT(0)};
tg_tensor *tg_log(tg_tape *tp, tg_tensor *x) {
  return unary(tp, &OP_LOG, "tg_log", TG_K_LOG, x, 0, 0, 0);
}

/* d(sqrt x) = g / (2 sqrt x) */
static void sqrt_backward(tg_tape *tp, tg_node *n, tg_tensor *g,
                          tg_tensor **gin) {
  gin[0] = tg_div(tp, g, tg_mul_scalar(tp, n->out, 2.0));
}
static const tg_op_def OP_SQRT = {
    .name = "sqrt",
    .backward = sqrt_backward,
    .replay = tg__replay_plain,
    .unary = tg_sqrt,
    .rule = "d(sqrt x)/dx = 1/(2 sqrt x), from the output",
    .saves = TG_SAVES_OUTPUT};
tg_tensor *tg_sqrt(tg_tape *tp, tg_tensor *x) {
  return unary(tp, &OP_SQRT, "tg_sqrt", TG_K_SQRT, x, 0, 0, 0);
}

/* d(tanh x) = g * (1 - tanh^2 x) */
static void tanh_backward(tg_tape *tp, tg_node *n, tg_tensor *g,
                          tg_tensor **gin) {
  tg_tensor *y = n->out;
  if (fused_grad(tp, TG_K_DTANH, g, y, &gin[0])) return;
  tg_tensor *one_minus_y2 = tg_add_scalar(tp, tg_neg(tp, tg_mul(tp, y, y)), 1);
  gin[0] = tg_mul(tp, g, one_minus_y2);
}
static const tg_op_def OP_TANH = {
    .name = "tanh",
    .backward = tanh_backward,
    .replay = tg__replay_plain,
    .unary = tg_tanh,
    .rule = "d(tanh x)/dx = 1 - tanh^2 x, from the output",
    .saves = TG_SAVES_OUTPUT};
tg_tensor *tg_tanh(tg_tape *tp, tg_tensor *x) {
  return unary(tp, &OP_TANH, "tg_tanh", TG_K_TANH, x, 0, 0, 0);
}

/* d(sigmoid x) = g * s * (1 - s) */
static void sigmoid_backward(tg_tape *tp, tg_node *n, tg_tensor *g,
                             tg_tensor **gin) {
  tg_tensor *s = n->out;
  if (fused_grad(tp, TG_K_DSIGMOID, g, s, &gin[0])) return;
  tg_tensor *one_minus_s = tg_add_scalar(tp, tg_neg(tp, s), 1);
  gin[0] = tg_mul(tp, g, tg_mul(tp, s, one_minus_s));
}
static const tg_op_def OP_SIGMOID = {
    .name = "sigmoid",
    .backward = sigmoid_backward,
    .replay = tg__replay_plain,
    .unary = tg_sigmoid,
    .rule = "d(s(x))/dx = s(x) (1 - s(x)), from the output",
    .saves = TG_SAVES_OUTPUT};
tg_tensor *tg_sigmoid(tg_tape *tp, tg_tensor *x) {
  return unary(tp, &OP_SIGMOID, "tg_sigmoid", TG_K_SIGMOID, x, 0, 0, 0);
}

/* d(relu x) = g * [x > 0] (0 at the kink, as PyTorch) */
static void relu_backward(tg_tape *tp, tg_node *n, tg_tensor *g,
                          tg_tensor **gin) {
  tg_tensor *x = n->inputs[0];
  if (fused_grad(tp, TG_K_DRELU, g, x, &gin[0])) return;
  gin[0] = tg_mul(tp, g, tg_gt(tp, x, constant(tp, x, 0)));
}
static const tg_op_def OP_RELU = {.name = "relu",
                                  .backward = relu_backward,
                                  .replay = tg__replay_plain,
                                  .unary = tg_relu,
                                  .rule =
                                      "d(relu x)/dx = 1 where x > 0, else 0",
                                  .saves = TG_SAVES_INPUT(0)};
tg_tensor *tg_relu(tg_tape *tp, tg_tensor *x) {
  return unary(tp, &OP_RELU, "tg_relu", TG_K_RELU, x, 0, 0, 0);
}

/* d|x| = g * sign(x) (0 at x = 0) */
static void abs_backward(tg_tape *tp, tg_node *n, tg_tensor *g,
                         tg_tensor **gin) {
  tg_tensor *x = n->inputs[0], *zero = constant(tp, x, 0);
  tg_tensor *sign = tg_sub(tp, tg_gt(tp, x, zero), tg_lt(tp, x, zero));
  gin[0] = tg_mul(tp, g, sign);
}
static const tg_op_def OP_ABS = {.name = "abs",
                                 .backward = abs_backward,
                                 .replay = tg__replay_plain,
                                 .unary = tg_abs,
                                 .rule = "d|x|/dx = sign(x)",
                                 .saves = TG_SAVES_INPUT(0)};
tg_tensor *tg_abs(tg_tape *tp, tg_tensor *x) {
  return unary(tp, &OP_ABS, "tg_abs", TG_K_ABS, x, 0, 0, 0);
}

/* d(sin x) = g * cos x */
static void sin_backward(tg_tape *tp, tg_node *n, tg_tensor *g,
                         tg_tensor **gin) {
  gin[0] = tg_mul(tp, g, tg_cos(tp, n->inputs[0]));
}
static const tg_op_def OP_SIN = {.name = "sin",
                                 .backward = sin_backward,
                                 .replay = tg__replay_plain,
                                 .unary = tg_sin,
                                 .rule = "d(sin x)/dx = cos x",
                                 .saves = TG_SAVES_INPUT(0)};
tg_tensor *tg_sin(tg_tape *tp, tg_tensor *x) {
  return unary(tp, &OP_SIN, "tg_sin", TG_K_SIN, x, 0, 0, 0);
}

/* d(cos x) = -g * sin x */
static void cos_backward(tg_tape *tp, tg_node *n, tg_tensor *g,
                         tg_tensor **gin) {
  gin[0] = tg_mul(tp, g, tg_neg(tp, tg_sin(tp, n->inputs[0])));
}
static const tg_op_def OP_COS = {.name = "cos",
                                 .backward = cos_backward,
                                 .replay = tg__replay_plain,
                                 .unary = tg_cos,
                                 .rule = "d(cos x)/dx = -sin x",
                                 .saves = TG_SAVES_INPUT(0)};
tg_tensor *tg_cos(tg_tape *tp, tg_tensor *x) {
  return unary(tp, &OP_COS, "tg_cos", TG_K_COS, x, 0, 0, 0);
}

/* d(x^p) = g * p * x^(p-1) */
static void pow_scalar_backward(tg_tape *tp, tg_node *n, tg_tensor *g,
                                tg_tensor **gin) {
  double p = n->scalar;
  if (p == 0) return; /* constant: no gradient */
  if (p == 1) {
    gin[0] = g;
    return;
  }
  tg_tensor *d = tg_mul_scalar(tp, tg_pow_scalar(tp, n->inputs[0], p - 1), p);
  gin[0] = tg_mul(tp, g, d);
}
static tg_tensor *pow_scalar_replay(tg_tape *tp, const tg_node *n,
                                    tg_tensor *const *in) {
  return tg_pow_scalar(tp, in[0], n->scalar);
}
static const tg_op_def OP_POW_SCALAR = {.name = "pow_scalar",
                                        .backward = pow_scalar_backward,
                                        .replay = pow_scalar_replay,
                                        .rule = "d(x^p)/dx = p x^(p-1)",
                                        .saves = TG_SAVES_INPUT(0)};
tg_tensor *tg_pow_scalar(tg_tape *tp, tg_tensor *x, double p) {
  return unary(tp, &OP_POW_SCALAR, "tg_pow_scalar", TG_K_POWS, x, p, 0, p);
}

/* d(s*x) = s * g; adding a constant passes g through. */
static void mul_scalar_backward(tg_tape *tp, tg_node *n, tg_tensor *g,
                                tg_tensor **gin) {
  gin[0] = tg_mul_scalar(tp, g, n->scalar);
}
static void add_scalar_backward(tg_tape *tp, tg_node *n, tg_tensor *g,
                                tg_tensor **gin) {
  (void)tp;
  (void)n;
  gin[0] = g;
}
static tg_tensor *mul_scalar_replay(tg_tape *tp, const tg_node *n,
                                    tg_tensor *const *in) {
  return tg_mul_scalar(tp, in[0], n->scalar);
}
static tg_tensor *add_scalar_replay(tg_tape *tp, const tg_node *n,
                                    tg_tensor *const *in) {
  return tg_add_scalar(tp, in[0], n->scalar);
}
static const tg_op_def OP_MUL_SCALAR = {.name = "mul_scalar",
                                        .backward = mul_scalar_backward,
                                        .replay = mul_scalar_replay,
                                        .rule = "d(s x)/dx = s",
                                        .saves = 0};
static const tg_op_def OP_ADD_SCALAR = {.name = "add_scalar",
                                        .backward = add_scalar_backward,
                                        .replay = add_scalar_replay,
                                        .rule = "d(x + s)/dx = 1",
                                        .saves = 0};
tg_tensor *tg_mul_scalar(tg_tape *tp, tg_tensor *x, double s) {
  return unary(tp, &OP_MUL_SCALAR, "tg_mul_scalar", TG_K_AFFINE, x, s, 0, s);
}
tg_tensor *tg_add_scalar(tg_tape *tp, tg_tensor *x, double s) {
  return unary(tp, &OP_ADD_SCALAR, "tg_add_scalar", TG_K_AFFINE, x, 1, s, s);
}
