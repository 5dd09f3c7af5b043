/* tapegrad: first- and second-order gradients of every primitive op,
 * checked in float64 against central finite differences.
 *
 * Each check builds y = sum(op(inputs) * W) with W a fixed random constant
 * of op's output shape, so that errors in different output elements cannot
 * cancel the way they could under a plain sum. Inputs are seeded random
 * values in a domain where the op is smooth (away from kinks, ties and
 * poles), so finite differences are valid. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "support.h"

/* Tolerances on the relative errors the checkers return. */
#define TGT_TOL1 1e-6
#define TGT_TOL2 1e-5

/* Output weights: enough for the largest op output checked here. */
#define TGT_NW 256

static const double *tgt_weights(void) {
  static double w[TGT_NW];
  static bool ready = false;
  if (!ready) {
    tg_rng rng;
    tg_rng_seed(&rng, 0xC0FFEEu);
    /* Kept away from 0 so every output element matters. */
    tgt_fill_away(&rng, w, TGT_NW, 0.2, 1.5);
    ready = true;
  }
  return w;
}

/* --- inputs and how f sees them ------------------------------------------- */

/* A view applied to a leaf inside f before the op sees it. */
typedef enum tgt_view {
  TGT_PLAIN = 0, /* the leaf itself */
  TGT_T,         /* tg_transpose(leaf, -2, -1) */
  TGT_PERM       /* tg_permute(leaf, perm) */
} tgt_view;

/* One input: the leaf's shape and the view that feeds the op. */
typedef struct tgt_arg {
  int ndim;
  int64_t shape[TG_MAX_DIMS];
  tgt_view view;
  int perm[TG_MAX_DIMS];
} tgt_arg;

/* Value domains for input data. */
typedef enum tgt_dom {
  TGT_ANY,      /* uniform in [-2, 2) */
  TGT_POS,      /* uniform in [0.5, 2) */
  TGT_AWAY,     /* |x| in [0.1, 2), random sign: away from kinks at 0 */
  TGT_DENOM,    /* |x| in [0.5, 2), random sign: a safe denominator */
  TGT_DISTINCT, /* all values distinct, at least 0.1 apart: no max ties */
  TGT_GRID_A,   /* 0.3 k + [0, 0.05) */
  TGT_GRID_B    /* 0.3 k + 0.15 + [0, 0.05): >= 0.1 from any GRID_A value */
} tgt_dom;

static void tgt_fill_dom(tg_rng *rng, tgt_input *in, tgt_dom dom) {
  double *d = in->data;
  int64_t n = in->numel;
  switch (dom) {
  case TGT_ANY: tgt_fill_uniform(rng, d, n, -2.0, 2.0); break;
  case TGT_POS: tgt_fill_uniform(rng, d, n, 0.5, 2.0); break;
  case TGT_AWAY: tgt_fill_away(rng, d, n, 0.1, 2.0); break;
  case TGT_DENOM: tgt_fill_away(rng, d, n, 0.5, 2.0); break;
  case TGT_DISTINCT: tgt_fill_distinct(rng, d, n, -0.1 * (double)n, 0.2); break;
  case TGT_GRID_A:
  case TGT_GRID_B:
    for (int64_t i = 0; i < n; i++) {
      int k = (int)(tg_rng_u64(rng) % 9) - 4;
      d[i] = 0.3 * k + 0.05 * tg_rng_uniform(rng);
      if (dom == TGT_GRID_B) d[i] += 0.15;
    }
    break;
  }
}

/* --- the op under test ---------------------------------------------------- */

typedef tg_tensor *(*tgt_un_fn)(tg_tape *, tg_tensor *);
typedef tg_tensor *(*tgt_uns_fn)(tg_tape *, tg_tensor *, double);
typedef tg_tensor *(*tgt_bin_fn)(tg_tape *, tg_tensor *, tg_tensor *);
typedef tg_tensor *(*tgt_red_fn)(tg_tape *, tg_tensor *, int, const int *,
                                 bool);
typedef tg_tensor *(*tgt_shp_fn)(tg_tape *, tg_tensor *, int, const int64_t *);

/* Everything f needs; each f reads only the fields of its kind of op. */
typedef struct tgt_op {
  char label[96];
  const double *w; /* output weights */
  tgt_arg arg[2];  /* per input: shape and view */
  tgt_un_fn un;
  tgt_uns_fn uns;
  tgt_bin_fn bin;
  tgt_red_fn red;
  tgt_shp_fn shp;
  double p;   /* scalar operand */
  int n_axes; /* reductions; transpose uses axes[0..1] */
  int axes[TG_MAX_DIMS];
  bool keepdim;
  int ndim; /* target shape: reshape, expand, sum_to */
  int64_t shape[TG_MAX_DIMS];
  int perm[TG_MAX_DIMS]; /* permute */
  int mask_ndim;         /* where: mask = mask_data > 0 */
  int64_t mask_shape[TG_MAX_DIMS];
  double mask_data[64];
} tgt_op;

static tgt_op tgt_op_new(const char *label) {
  tgt_op op;
  memset(&op, 0, sizeof op);
  snprintf(op.label, sizeof op.label, "%s", label);
  op.w = tgt_weights();
  return op;
}

static tg_tensor *tgt_view_of(tg_tape *tp, tg_tensor *x, const tgt_arg *a) {
  switch (a->view) {
  case TGT_T: return tg_transpose(tp, x, -2, -1);
  case TGT_PERM: return tg_permute(tp, x, a->perm);
  default: return x;
  }
}

/* y = sum(out * W), W a constant of out's shape. */
static tg_tensor *tgt_weigh(tg_tape *tp, const tgt_op *op, tg_tensor *out) {
  if (!out) return NULL;
  if (out->numel > TGT_NW) {
    fprintf(stderr, "%s: output too large for the weights\n", op->label);
    return NULL;
  }
  tg_tensor *w = tgt_make_const(tp, out->ndim, out->shape, op->w);
  return tg_sum_all(tp, tg_mul(tp, out, w));
}

static tg_tensor *tgt_in0(tg_tape *tp, tg_tensor **in, const tgt_op *op) {
  return tgt_view_of(tp, in[0], &op->arg[0]);
}

static tg_tensor *tgt_f_un(tg_tape *tp, tg_tensor **in, void *ctx) {
  const tgt_op *op = ctx;
  return tgt_weigh(tp, op, op->un(tp, tgt_in0(tp, in, op)));
}

static tg_tensor *tgt_f_uns(tg_tape *tp, tg_tensor **in, void *ctx) {
  const tgt_op *op = ctx;
  return tgt_weigh(tp, op, op->uns(tp, tgt_in0(tp, in, op), op->p));
}

static tg_tensor *tgt_f_bin(tg_tape *tp, tg_tensor **in, void *ctx) {
  const tgt_op *op = ctx;
  tg_tensor *a = tgt_view_of(tp, in[0], &op->arg[0]);
  tg_tensor *b = tgt_view_of(tp, in[1], &op->arg[1]);
  return tgt_weigh(tp, op, op->bin(tp, a, b));
}

static tg_tensor *tgt_f_where(tg_tape *tp, tg_tensor **in, void *ctx) {
  const tgt_op *op = ctx;
  tg_tensor *m =
      tgt_make_const(tp, op->mask_ndim, op->mask_shape, op->mask_data);
  tg_tensor *mask = tg_gt(tp, m, tg_scalar(tp, TG_F64, 0.0));
  tg_tensor *a = tgt_view_of(tp, in[0], &op->arg[0]);
  tg_tensor *b = tgt_view_of(tp, in[1], &op->arg[1]);
  return tgt_weigh(tp, op, tg_where(tp, mask, a, b));
}

static tg_tensor *tgt_f_red(tg_tape *tp, tg_tensor **in, void *ctx) {
  const tgt_op *op = ctx;
  tg_tensor *x = tgt_in0(tp, in, op);
  return tgt_weigh(tp, op, op->red(tp, x, op->n_axes, op->axes, op->keepdim));
}

static tg_tensor *tgt_f_shp(tg_tape *tp, tg_tensor **in, void *ctx) {
  const tgt_op *op = ctx;
  tg_tensor *x = tgt_in0(tp, in, op);
  return tgt_weigh(tp, op, op->shp(tp, x, op->ndim, op->shape));
}

static tg_tensor *tgt_f_permute(tg_tape *tp, tg_tensor **in, void *ctx) {
  const tgt_op *op = ctx;
  return tgt_weigh(tp, op, tg_permute(tp, tgt_in0(tp, in, op), op->perm));
}

static tg_tensor *tgt_f_transpose(tg_tape *tp, tg_tensor **in, void *ctx) {
  const tgt_op *op = ctx;
  tg_tensor *x = tgt_in0(tp, in, op);
  return tgt_weigh(tp, op, tg_transpose(tp, x, op->axes[0], op->axes[1]));
}

/* x * x^T and x + x: one leaf reaching an op through both operands. */
static tg_tensor *tgt_f_shared(tg_tape *tp, tg_tensor **in, void *ctx) {
  const tgt_op *op = ctx;
  tg_tensor *x = in[0];
  tg_tensor *xt = tg_transpose(tp, x, -2, -1);
  tg_tensor *out = tg_add(tp, tg_mul(tp, x, xt), tg_add(tp, x, x));
  return tgt_weigh(tp, op, tg_mul(tp, out, x));
}

/* --- running checks ------------------------------------------------------- */

/* Results of one test's checks; failures are printed as they happen and
 * asserted on at the end, so one run shows every failing configuration. */
typedef struct tgt_tally {
  tg_rng rng;
  int n_checks;
  int n_fail;
  char first[400];
} tgt_tally;

static tgt_tally tgt_tally_new(uint64_t seed) {
  tgt_tally t;
  memset(&t, 0, sizeof t);
  tg_rng_seed(&t.rng, seed);
  return t;
}

#define TGT_ASSERT_CLEAN(t)                                                    \
  do {                                                                         \
    ck_assert_int_gt((t)->n_checks, 0);                                        \
    ck_assert_msg((t)->n_fail == 0,                                            \
                  "%d of %d gradient checks failed; "                          \
                  "first: %s",                                                 \
                  (t)->n_fail, (t)->n_checks, (t)->first);                     \
  } while (0)

/* "[4x3]^T" and the like into buf. */
static void tgt_describe(char *buf, size_t size, int n, const tgt_arg *args) {
  size_t len = 0;
  buf[0] = '\0';
  for (int i = 0; i < n && len < size; i++) {
    const tgt_arg *a = &args[i];
    len += (size_t)snprintf(buf + len, size - len, "%s[", i ? " " : "");
    for (int d = 0; d < a->ndim && len < size; d++)
      len += (size_t)snprintf(buf + len, size - len, "%s%lld", d ? "x" : "",
                              (long long)a->shape[d]);
    if (len < size) len += (size_t)snprintf(buf + len, size - len, "]");
    if (a->view == TGT_T && len < size)
      len += (size_t)snprintf(buf + len, size - len, "^T");
    for (int d = 0; a->view == TGT_PERM && d < a->ndim && len < size; d++)
      len += (size_t)snprintf(buf + len, size - len, "%s%d", d ? "," : "^perm(",
                              a->perm[d]);
    if (a->view == TGT_PERM && len < size)
      len += (size_t)snprintf(buf + len, size - len, ")");
  }
}

/* Runs both checkers on op with n inputs described by args, data drawn
 * from the tally's generator in the given domains. */
static void tgt_run_tol(tgt_tally *t, tgt_fn f, tgt_op *op, int n,
                        const tgt_arg *args, const tgt_dom *dom, double tol1,
                        double tol2) {
  tgt_input in[2];
  ck_assert_int_le(n, 2);
  for (int i = 0; i < n; i++) {
    op->arg[i] = args[i];
    ck_assert(tgt_input_init(&in[i], args[i].ndim, args[i].shape));
    tgt_fill_dom(&t->rng, &in[i], dom[i]);
  }
  double e1 = tgt_check_grad(f, op, n, in);
  double e2 = tgt_check_grad2(f, op, n, in, 1000u + (uint64_t)t->n_checks);
  tgt_inputs_free(n, in);

  t->n_checks++;
  char desc[160], msg[sizeof t->first];
  tgt_describe(desc, sizeof desc, n, args);
  /* TGT_VERBOSE=1 in the environment lists every check's errors. */
  if (getenv("TGT_VERBOSE"))
    fprintf(stderr, "  %-40s %-28s %9.2e %9.2e\n", op->label, desc, e1, e2);
  if (e1 < tol1 && e2 < tol2) return;
  /* A long description is cut short; the message is only for reading. */
  snprintf(msg, sizeof msg,
           "%.120s on %.120s: first-order error %.3g (tol %.0e), "
           "second-order error %.3g (tol %.0e)",
           op->label, desc, e1, tol1, e2, tol2);
  fprintf(stderr, "FAIL %s\n", msg);
  if (t->n_fail++ == 0)
    memcpy(t->first, msg, sizeof msg); /* same size, always terminated */
}

static void tgt_run(tgt_tally *t, tgt_fn f, tgt_op *op, int n,
                    const tgt_arg *args, const tgt_dom *dom) {
  tgt_run_tol(t, f, op, n, args, dom, TGT_TOL1, TGT_TOL2);
}

#define TGT_LEN(a) ((int)(sizeof(a) / sizeof((a)[0])))

/* --- unary ---------------------------------------------------------------- */

/* Shapes for unary ops, including non-contiguous views of the leaf. */
static const tgt_arg tgt_unary_args[] = {
    {0, {0}, TGT_PLAIN, {0}},
    {1, {5}, TGT_PLAIN, {0}},
    {2, {3, 4}, TGT_PLAIN, {0}},
    {3, {2, 3, 4}, TGT_PLAIN, {0}},
    {3, {1, 5, 1}, TGT_PLAIN, {0}},
    {2, {4, 3}, TGT_T, {0}},             /* a [3x4] transposed view */
    {3, {4, 2, 3}, TGT_PERM, {1, 2, 0}}, /* a [2x3x4] permuted view */
};

static void tgt_unary_all(tgt_tally *t, const char *label, tgt_un_fn fn,
                          tgt_dom dom) {
  tgt_op op = tgt_op_new(label);
  op.un = fn;
  for (int c = 0; c < TGT_LEN(tgt_unary_args); c++)
    tgt_run(t, tgt_f_un, &op, 1, &tgt_unary_args[c], &dom);
}

static void tgt_unary_s_all(tgt_tally *t, const char *name, tgt_uns_fn fn,
                            double p, tgt_dom dom) {
  char label[64];
  snprintf(label, sizeof label, "%s(%g)", name, p);
  tgt_op op = tgt_op_new(label);
  op.uns = fn;
  op.p = p;
  for (int c = 0; c < TGT_LEN(tgt_unary_args); c++)
    tgt_run(t, tgt_f_uns, &op, 1, &tgt_unary_args[c], &dom);
}

#define TGT_UNARY_TEST(name, dom)                                              \
  START_TEST(test_grad_##name) {                                               \
    tgt_tally t = tgt_tally_new(__LINE__);                                     \
    tgt_unary_all(&t, #name, tg_##name, dom);                                  \
    TGT_ASSERT_CLEAN(&t);                                                      \
  }                                                                            \
  END_TEST

TGT_UNARY_TEST(neg, TGT_ANY)
TGT_UNARY_TEST(exp, TGT_ANY)
TGT_UNARY_TEST(log, TGT_POS)
TGT_UNARY_TEST(sqrt, TGT_POS)
TGT_UNARY_TEST(tanh, TGT_ANY)
TGT_UNARY_TEST(sigmoid, TGT_ANY)
TGT_UNARY_TEST(relu, TGT_AWAY)
TGT_UNARY_TEST(abs, TGT_AWAY)
TGT_UNARY_TEST(sin, TGT_ANY)
TGT_UNARY_TEST(cos, TGT_ANY)

START_TEST(test_grad_pow_scalar) {
  tgt_tally t = tgt_tally_new(11);
  tgt_unary_s_all(&t, "pow_scalar", tg_pow_scalar, 2.0, TGT_ANY);
  tgt_unary_s_all(&t, "pow_scalar", tg_pow_scalar, 3.0, TGT_ANY);
  tgt_unary_s_all(&t, "pow_scalar", tg_pow_scalar, 0.5, TGT_POS);
  tgt_unary_s_all(&t, "pow_scalar", tg_pow_scalar, -1.5, TGT_POS);
  tgt_unary_s_all(&t, "pow_scalar", tg_pow_scalar, 1.0, TGT_ANY);
  tgt_unary_s_all(&t, "pow_scalar", tg_pow_scalar, 0.0, TGT_POS);
  TGT_ASSERT_CLEAN(&t);
}
END_TEST

START_TEST(test_grad_mul_scalar) {
  tgt_tally t = tgt_tally_new(12);
  tgt_unary_s_all(&t, "mul_scalar", tg_mul_scalar, 2.5, TGT_ANY);
  tgt_unary_s_all(&t, "mul_scalar", tg_mul_scalar, -0.7, TGT_ANY);
  tgt_unary_s_all(&t, "mul_scalar", tg_mul_scalar, 0.0, TGT_ANY);
  TGT_ASSERT_CLEAN(&t);
}
END_TEST

START_TEST(test_grad_add_scalar) {
  tgt_tally t = tgt_tally_new(13);
  tgt_unary_s_all(&t, "add_scalar", tg_add_scalar, 1.3, TGT_ANY);
  tgt_unary_s_all(&t, "add_scalar", tg_add_scalar, -4.0, TGT_ANY);
  TGT_ASSERT_CLEAN(&t);
}
END_TEST

/* --- binary, broadcasting ------------------------------------------------- */

typedef struct tgt_pair {
  tgt_arg a, b;
} tgt_pair;

static const tgt_pair tgt_binary_args[] = {
    {{2, {3, 4}, TGT_PLAIN, {0}}, {2, {3, 4}, TGT_PLAIN, {0}}},
    {{2, {3, 4}, TGT_PLAIN, {0}}, {1, {4}, TGT_PLAIN, {0}}},
    {{1, {4}, TGT_PLAIN, {0}}, {2, {3, 4}, TGT_PLAIN, {0}}},
    {{2, {3, 1}, TGT_PLAIN, {0}}, {2, {1, 4}, TGT_PLAIN, {0}}},
    {{3, {2, 3, 4}, TGT_PLAIN, {0}}, {2, {3, 1}, TGT_PLAIN, {0}}},
    {{2, {3, 1}, TGT_PLAIN, {0}}, {3, {2, 3, 4}, TGT_PLAIN, {0}}},
    {{0, {0}, TGT_PLAIN, {0}}, {2, {2, 3}, TGT_PLAIN, {0}}},
    {{2, {2, 3}, TGT_PLAIN, {0}}, {0, {0}, TGT_PLAIN, {0}}},
    {{0, {0}, TGT_PLAIN, {0}}, {0, {0}, TGT_PLAIN, {0}}},
    {{1, {1}, TGT_PLAIN, {0}}, {2, {5, 1}, TGT_PLAIN, {0}}},
    {{2, {5, 1}, TGT_PLAIN, {0}}, {1, {1}, TGT_PLAIN, {0}}},
    /* non-contiguous operands: transposed / permuted views of leaves */
    {{2, {4, 3}, TGT_T, {0}}, {2, {3, 4}, TGT_PLAIN, {0}}},
    {{3, {2, 3, 4}, TGT_PLAIN, {0}}, {2, {4, 3}, TGT_T, {0}}},
    {{3, {4, 2, 3}, TGT_PERM, {1, 2, 0}}, {2, {4, 3}, TGT_T, {0}}},
    {{2, {4, 1}, TGT_T, {0}}, {2, {3, 1}, TGT_PLAIN, {0}}},
};

static void tgt_binary_all(tgt_tally *t, const char *label, tgt_bin_fn fn,
                           tgt_dom da, tgt_dom db) {
  tgt_op op = tgt_op_new(label);
  op.bin = fn;
  tgt_dom dom[2] = {da, db};
  for (int c = 0; c < TGT_LEN(tgt_binary_args); c++) {
    tgt_arg args[2] = {tgt_binary_args[c].a, tgt_binary_args[c].b};
    tgt_run(t, tgt_f_bin, &op, 2, args, dom);
  }
}

#define TGT_BINARY_TEST(name, da, db)                                          \
  START_TEST(test_grad_##name) {                                               \
    tgt_tally t = tgt_tally_new(__LINE__);                                     \
    tgt_binary_all(&t, #name, tg_##name, da, db);                              \
    TGT_ASSERT_CLEAN(&t);                                                      \
  }                                                                            \
  END_TEST

TGT_BINARY_TEST(add, TGT_ANY, TGT_ANY)
TGT_BINARY_TEST(sub, TGT_ANY, TGT_ANY)
TGT_BINARY_TEST(mul, TGT_ANY, TGT_ANY)
TGT_BINARY_TEST(div, TGT_ANY, TGT_DENOM)
TGT_BINARY_TEST(pow, TGT_POS, TGT_ANY)

/* The two grids never come within 0.1 of each other, so no ties; both
 * orders are checked so each side wins somewhere. */
START_TEST(test_grad_maximum) {
  tgt_tally t = tgt_tally_new(21);
  tgt_binary_all(&t, "maximum", tg_maximum, TGT_GRID_A, TGT_GRID_B);
  tgt_binary_all(&t, "maximum", tg_maximum, TGT_GRID_B, TGT_GRID_A);
  TGT_ASSERT_CLEAN(&t);
}
END_TEST

START_TEST(test_grad_minimum) {
  tgt_tally t = tgt_tally_new(22);
  tgt_binary_all(&t, "minimum", tg_minimum, TGT_GRID_A, TGT_GRID_B);
  tgt_binary_all(&t, "minimum", tg_minimum, TGT_GRID_B, TGT_GRID_A);
  TGT_ASSERT_CLEAN(&t);
}
END_TEST

/* One leaf used as both operands (and through a view): the gradients of
 * the two uses must add up. */
START_TEST(test_grad_shared_input) {
  tgt_tally t = tgt_tally_new(23);
  tgt_op op = tgt_op_new("x*x^T + 2x, times x");
  static const tgt_arg args[] = {
      {2, {3, 3}, TGT_PLAIN, {0}},
      {3, {2, 4, 4}, TGT_PLAIN, {0}},
  };
  tgt_dom dom = TGT_ANY;
  for (int c = 0; c < TGT_LEN(args); c++)
    tgt_run(&t, tgt_f_shared, &op, 1, &args[c], &dom);
  TGT_ASSERT_CLEAN(&t);
}
END_TEST

/* --- where ---------------------------------------------------------------- */

typedef struct tgt_where_cfg {
  int mask_ndim;
  int64_t mask_shape[TG_MAX_DIMS];
  tgt_arg a, b;
} tgt_where_cfg;

START_TEST(test_grad_where) {
  static const tgt_where_cfg cfgs[] = {
      {2, {3, 1}, {2, {3, 4}, TGT_PLAIN, {0}}, {1, {4}, TGT_PLAIN, {0}}},
      {2, {1, 4}, {2, {3, 1}, TGT_PLAIN, {0}}, {2, {3, 4}, TGT_PLAIN, {0}}},
      {3, {2, 1, 4}, {2, {3, 4}, TGT_PLAIN, {0}}, {0, {0}, TGT_PLAIN, {0}}},
      {2, {3, 4}, {2, {4, 3}, TGT_T, {0}}, {2, {3, 4}, TGT_PLAIN, {0}}},
      {1, {4}, {3, {4, 2, 3}, TGT_PERM, {1, 2, 0}}, {2, {4, 3}, TGT_T, {0}}},
      {0, {0}, {2, {2, 3}, TGT_PLAIN, {0}}, {2, {2, 3}, TGT_PLAIN, {0}}},
  };
  tgt_tally t = tgt_tally_new(31);
  tgt_dom dom[2] = {TGT_ANY, TGT_ANY};
  for (int c = 0; c < TGT_LEN(cfgs); c++) {
    char label[64];
    int len = snprintf(label, sizeof label, "where(mask [");
    for (int d = 0; d < cfgs[c].mask_ndim; d++)
      len += snprintf(label + len, sizeof label - (size_t)len, "%s%lld",
                      d ? "x" : "", (long long)cfgs[c].mask_shape[d]);
    snprintf(label + len, sizeof label - (size_t)len, "])");
    tgt_op op = tgt_op_new(label);
    op.mask_ndim = cfgs[c].mask_ndim;
    memcpy(op.mask_shape, cfgs[c].mask_shape, sizeof op.mask_shape);
    int64_t mn = tgt_numel(op.mask_ndim, op.mask_shape);
    ck_assert_int_le(mn, TGT_LEN(op.mask_data));
    /* Alternating signs: both branches are taken whenever mn > 1. */
    for (int64_t i = 0; i < mn; i++)
      op.mask_data[i] = (i % 2 ? -1.0 : 1.0) * (0.5 + tg_rng_uniform(&t.rng));
    tgt_arg args[2] = {cfgs[c].a, cfgs[c].b};
    tgt_run(&t, tgt_f_where, &op, 2, args, dom);
  }
  TGT_ASSERT_CLEAN(&t);
}
END_TEST

/* --- reductions ----------------------------------------------------------- */

typedef struct tgt_red_cfg {
  tgt_arg x;
  int n_axes;
  int axes[3];
  bool keepdim;
} tgt_red_cfg;

static const tgt_red_cfg tgt_red_cfgs[] = {
    {{2, {3, 4}, TGT_PLAIN, {0}}, 0, {0}, false},
    {{2, {3, 4}, TGT_PLAIN, {0}}, 0, {0}, true},
    {{2, {3, 4}, TGT_PLAIN, {0}}, 1, {0}, false},
    {{2, {3, 4}, TGT_PLAIN, {0}}, 1, {1}, true},
    {{2, {3, 4}, TGT_PLAIN, {0}}, 1, {-1}, false},
    {{2, {3, 4}, TGT_PLAIN, {0}}, 2, {0, 1}, false},
    {{3, {2, 3, 4}, TGT_PLAIN, {0}}, 0, {0}, true},
    {{3, {2, 3, 4}, TGT_PLAIN, {0}}, 1, {1}, true},
    {{3, {2, 3, 4}, TGT_PLAIN, {0}}, 1, {-2}, false},
    {{3, {2, 3, 4}, TGT_PLAIN, {0}}, 2, {0, 2}, false},
    {{3, {2, 3, 4}, TGT_PLAIN, {0}}, 2, {-1, 0}, true},
    {{3, {2, 3, 4}, TGT_PLAIN, {0}}, 2, {1, 2}, true},
    {{1, {5}, TGT_PLAIN, {0}}, 1, {0}, false},
    {{3, {2, 1, 3}, TGT_PLAIN, {0}}, 1, {1}, false},
    /* non-contiguous input */
    {{2, {4, 3}, TGT_T, {0}}, 1, {1}, false},
    {{2, {4, 3}, TGT_T, {0}}, 1, {0}, true},
    {{3, {4, 2, 3}, TGT_PERM, {1, 2, 0}}, 2, {0, -1}, false},
};

static void tgt_reduce_all(tgt_tally *t, const char *name, tgt_red_fn fn,
                           tgt_dom dom) {
  for (int c = 0; c < TGT_LEN(tgt_red_cfgs); c++) {
    const tgt_red_cfg *cfg = &tgt_red_cfgs[c];
    char label[96];
    int len = snprintf(label, sizeof label, "%s(axes={", name);
    for (int k = 0; k < cfg->n_axes; k++)
      len += snprintf(label + len, sizeof label - (size_t)len, "%s%d",
                      k ? "," : "", cfg->axes[k]);
    snprintf(label + len, sizeof label - (size_t)len, "}, keepdim=%d)",
             (int)cfg->keepdim);
    tgt_op op = tgt_op_new(label);
    op.red = fn;
    op.n_axes = cfg->n_axes;
    memcpy(op.axes, cfg->axes, sizeof cfg->axes);
    op.keepdim = cfg->keepdim;
    tgt_run(t, tgt_f_red, &op, 1, &cfg->x, &dom);
  }
}

START_TEST(test_grad_sum) {
  tgt_tally t = tgt_tally_new(41);
  tgt_reduce_all(&t, "sum", tg_sum, TGT_ANY);
  TGT_ASSERT_CLEAN(&t);
}
END_TEST

START_TEST(test_grad_mean) {
  tgt_tally t = tgt_tally_new(42);
  tgt_reduce_all(&t, "mean", tg_mean, TGT_ANY);
  TGT_ASSERT_CLEAN(&t);
}
END_TEST

/* Distinct values at least 0.1 apart: no ties, so max is smooth there. */
START_TEST(test_grad_max) {
  tgt_tally t = tgt_tally_new(43);
  tgt_reduce_all(&t, "max", tg_max, TGT_DISTINCT);
  TGT_ASSERT_CLEAN(&t);
}
END_TEST

/* At ties the gradient is shared equally, and a NaN maximum (which no
 * element equals) makes its window's gradient NaN; the fused kernel of
 * tg_grad without create_graph and the recorded rule of create_graph agree
 * bit for bit, over a kept middle axis and with a transposed input. */
START_TEST(test_grad_max_ties_and_nan) {
  /* [2, 3, 2]: max over axis 1; windows (i, k) hold x[i, :, k] */
  double v[12] = {1, 5, 1, 5,   0, -1, /* (0,0): 1,1,0 tie; (0,1): 5,5,-1 tie */
                  2, 7, 3, NAN, 3, 7}; /* (1,0): 2,3,3; (1,1): 7,NaN,7 */
  double gv[4] = {0.5, -3, 2, 1};      /* seed over [2, 2] */
  const double want[12] = {0.25, -1.5, 0.25, -1.5, 0, 0,
                           0,    NAN,  1,    NAN,  1, NAN};
  for (int transposed = 0; transposed < 2; transposed++) {
    double got[2][12];
    for (int graph = 0; graph < 2; graph++) {
      tg_tape *tp = tg_tape_new();
      int64_t s[3] = {2, 3, 2}, gs[2] = {2, 2};
      tg_tensor *x;
      if (transposed) { /* the same values through a permuted view */
        double w[12];
        for (int i = 0; i < 2; i++)
          for (int j = 0; j < 3; j++)
            for (int k = 0; k < 2; k++)
              w[(k * 3 + j) * 2 + i] = v[(i * 3 + j) * 2 + k];
        tg_tensor *base = tg_from_f64(tp, TG_F64, 3, s, w); /* [k, j, i] */
        tg_set_requires_grad(base, true);
        x = tg_transpose(tp, base, 0, 2);
      } else {
        x = tg_set_requires_grad(tg_from_f64(tp, TG_F64, 3, s, v), true);
      }
      int axis = 1;
      tg_tensor *y = tg_max(tp, x, 1, &axis, false);
      tg_tensor *seed = tg_from_f64(tp, TG_F64, 2, gs, gv), *g;
      ck_assert_int_eq(tg_grad(tp, 1, &y, &seed, 1, &x, &g, graph == 1), TG_OK);
      ck_assert(tgt_copy_out(g, got[graph]));
      tg_tape_free(tp);
    }
    for (int i = 0; i < 12; i++) {
      if (isnan(want[i])) {
        ck_assert_msg(isnan(got[0][i]) && isnan(got[1][i]),
                      "element %d: want NaN, got %g and %g", i, got[0][i],
                      got[1][i]);
      } else {
        ck_assert_msg(got[0][i] == want[i] && got[1][i] == want[i],
                      "element %d: want %g, got %g (fused) and %g (recorded)",
                      i, want[i], got[0][i], got[1][i]);
      }
    }
  }
}
END_TEST

START_TEST(test_grad_sum_all) {
  tgt_tally t = tgt_tally_new(44);
  tgt_unary_all(&t, "sum_all", tg_sum_all, TGT_ANY);
  TGT_ASSERT_CLEAN(&t);
}
END_TEST

START_TEST(test_grad_mean_all) {
  tgt_tally t = tgt_tally_new(45);
  tgt_unary_all(&t, "mean_all", tg_mean_all, TGT_ANY);
  TGT_ASSERT_CLEAN(&t);
}
END_TEST

/* --- ops with a target shape: sum_to, reshape, expand --------------------- */

typedef struct tgt_shp_cfg {
  tgt_arg x;
  int ndim;
  int64_t shape[TG_MAX_DIMS];
} tgt_shp_cfg;

static void tgt_shape_all(tgt_tally *t, const char *name, tgt_shp_fn fn,
                          int n_cfgs, const tgt_shp_cfg *cfgs) {
  tgt_dom dom = TGT_ANY;
  for (int c = 0; c < n_cfgs; c++) {
    char label[96];
    int len = snprintf(label, sizeof label, "%s(to [", name);
    for (int d = 0; d < cfgs[c].ndim; d++)
      len += snprintf(label + len, sizeof label - (size_t)len, "%s%lld",
                      d ? "x" : "", (long long)cfgs[c].shape[d]);
    snprintf(label + len, sizeof label - (size_t)len, "])");
    tgt_op op = tgt_op_new(label);
    op.shp = fn;
    op.ndim = cfgs[c].ndim;
    memcpy(op.shape, cfgs[c].shape, sizeof op.shape);
    tgt_run(t, tgt_f_shp, &op, 1, &cfgs[c].x, &dom);
  }
}

START_TEST(test_grad_sum_to) {
  static const tgt_shp_cfg cfgs[] = {
      {{3, {2, 3, 4}, TGT_PLAIN, {0}}, 2, {3, 1}},
      {{3, {2, 3, 4}, TGT_PLAIN, {0}}, 1, {4}},
      {{3, {2, 3, 4}, TGT_PLAIN, {0}}, 3, {2, 1, 1}},
      {{3, {2, 3, 4}, TGT_PLAIN, {0}}, 3, {1, 3, 4}},
      {{2, {3, 4}, TGT_PLAIN, {0}}, 2, {3, 4}},
      {{2, {3, 4}, TGT_PLAIN, {0}}, 2, {1, 4}},
      {{2, {3, 4}, TGT_PLAIN, {0}}, 0, {0}},
      {{2, {3, 4}, TGT_PLAIN, {0}}, 1, {1}},
      {{2, {4, 3}, TGT_T, {0}}, 2, {3, 1}},
      {{3, {4, 2, 3}, TGT_PERM, {1, 2, 0}}, 1, {4}},
  };
  tgt_tally t = tgt_tally_new(51);
  tgt_shape_all(&t, "sum_to", tg_sum_to, TGT_LEN(cfgs), cfgs);
  TGT_ASSERT_CLEAN(&t);
}
END_TEST

START_TEST(test_grad_reshape) {
  static const tgt_shp_cfg cfgs[] = {
      {{2, {3, 4}, TGT_PLAIN, {0}}, 2, {2, 6}},
      {{2, {3, 4}, TGT_PLAIN, {0}}, 1, {-1}},
      {{2, {3, 4}, TGT_PLAIN, {0}}, 3, {2, -1, 3}},
      {{3, {2, 3, 4}, TGT_PLAIN, {0}}, 2, {4, -1}},
      {{3, {2, 3, 4}, TGT_PLAIN, {0}}, 3, {6, 1, 4}},
      {{1, {6}, TGT_PLAIN, {0}}, 2, {2, 3}},
      {{0, {0}, TGT_PLAIN, {0}}, 2, {1, 1}},
      {{2, {1, 1}, TGT_PLAIN, {0}}, 0, {0}},
      /* non-contiguous input: reshape has to copy */
      {{2, {4, 3}, TGT_T, {0}}, 2, {2, 6}},
      {{2, {4, 3}, TGT_T, {0}}, 1, {-1}},
      {{3, {4, 2, 3}, TGT_PERM, {1, 2, 0}}, 2, {6, 4}},
  };
  tgt_tally t = tgt_tally_new(52);
  tgt_shape_all(&t, "reshape", tg_reshape, TGT_LEN(cfgs), cfgs);
  TGT_ASSERT_CLEAN(&t);
}
END_TEST

START_TEST(test_grad_expand) {
  static const tgt_shp_cfg cfgs[] = {
      {{2, {3, 1}, TGT_PLAIN, {0}}, 3, {2, 3, 4}},
      {{0, {0}, TGT_PLAIN, {0}}, 2, {2, 3}},
      {{1, {4}, TGT_PLAIN, {0}}, 2, {3, 4}},
      {{1, {1}, TGT_PLAIN, {0}}, 1, {5}},
      {{2, {1, 4}, TGT_PLAIN, {0}}, 2, {3, 4}},
      {{2, {3, 4}, TGT_PLAIN, {0}}, 2, {3, 4}},
      {{3, {2, 1, 4}, TGT_PLAIN, {0}}, 3, {2, 3, 4}},
      /* a [3x1] view of a [1x3] leaf */
      {{2, {1, 3}, TGT_T, {0}}, 3, {2, 3, 4}},
      {{2, {4, 3}, TGT_T, {0}}, 3, {2, 3, 4}},
  };
  tgt_tally t = tgt_tally_new(53);
  tgt_shape_all(&t, "expand", tg_expand, TGT_LEN(cfgs), cfgs);
  TGT_ASSERT_CLEAN(&t);
}
END_TEST

/* --- permute, transpose, contiguous --------------------------------------- */

START_TEST(test_grad_permute) {
  typedef struct {
    tgt_arg x;
    int perm[TG_MAX_DIMS];
  } cfg_t;
  static const cfg_t cfgs[] = {
      {{3, {2, 3, 4}, TGT_PLAIN, {0}}, {2, 0, 1}},
      {{3, {2, 3, 4}, TGT_PLAIN, {0}}, {1, 0, 2}},
      {{3, {2, 3, 4}, TGT_PLAIN, {0}}, {0, 1, 2}},
      {{2, {3, 4}, TGT_PLAIN, {0}}, {1, 0}},
      {{4, {2, 1, 3, 2}, TGT_PLAIN, {0}}, {3, 1, 0, 2}},
      /* permuting a view */
      {{2, {4, 3}, TGT_T, {0}}, {1, 0}},
      {{3, {4, 2, 3}, TGT_PERM, {1, 2, 0}}, {2, 1, 0}},
  };
  tgt_tally t = tgt_tally_new(61);
  tgt_dom dom = TGT_ANY;
  for (int c = 0; c < TGT_LEN(cfgs); c++) {
    tgt_op op = tgt_op_new("permute");
    memcpy(op.perm, cfgs[c].perm, sizeof op.perm);
    tgt_run(&t, tgt_f_permute, &op, 1, &cfgs[c].x, &dom);
  }
  TGT_ASSERT_CLEAN(&t);
}
END_TEST

START_TEST(test_grad_transpose) {
  typedef struct {
    tgt_arg x;
    int a0, a1;
  } cfg_t;
  static const cfg_t cfgs[] = {
      {{2, {3, 4}, TGT_PLAIN, {0}}, 0, 1},
      {{3, {2, 3, 4}, TGT_PLAIN, {0}}, 0, 2},
      {{3, {2, 3, 4}, TGT_PLAIN, {0}}, -1, -2},
      {{3, {2, 3, 4}, TGT_PLAIN, {0}}, -3, 1},
      {{3, {2, 3, 4}, TGT_PLAIN, {0}}, 1, 1},
      {{2, {4, 3}, TGT_T, {0}}, 0, 1},
  };
  tgt_tally t = tgt_tally_new(62);
  tgt_dom dom = TGT_ANY;
  for (int c = 0; c < TGT_LEN(cfgs); c++) {
    char label[64];
    snprintf(label, sizeof label, "transpose(%d, %d)", cfgs[c].a0, cfgs[c].a1);
    tgt_op op = tgt_op_new(label);
    op.axes[0] = cfgs[c].a0;
    op.axes[1] = cfgs[c].a1;
    tgt_run(&t, tgt_f_transpose, &op, 1, &cfgs[c].x, &dom);
  }
  TGT_ASSERT_CLEAN(&t);
}
END_TEST

START_TEST(test_grad_contiguous) {
  static const tgt_arg args[] = {
      {3, {4, 2, 3}, TGT_PERM, {1, 2, 0}},
      {3, {2, 3, 4}, TGT_PERM, {2, 0, 1}},
      {2, {4, 3}, TGT_T, {0}},
      {2, {3, 4}, TGT_PLAIN, {0}}, /* already contiguous: x itself */
  };
  tgt_tally t = tgt_tally_new(63);
  tgt_op op = tgt_op_new("contiguous");
  op.un = tg_contiguous;
  tgt_dom dom = TGT_ANY;
  for (int c = 0; c < TGT_LEN(args); c++)
    tgt_run(&t, tgt_f_un, &op, 1, &args[c], &dom);
  TGT_ASSERT_CLEAN(&t);
}
END_TEST

/* --- matmul --------------------------------------------------------------- */

START_TEST(test_grad_matmul) {
  static const tgt_pair cfgs[] = {
      {{2, {3, 4}, TGT_PLAIN, {0}}, {2, {4, 5}, TGT_PLAIN, {0}}},
      {{2, {1, 4}, TGT_PLAIN, {0}}, {2, {4, 1}, TGT_PLAIN, {0}}},
      {{2, {3, 1}, TGT_PLAIN, {0}}, {2, {1, 2}, TGT_PLAIN, {0}}},
      {{3, {2, 3, 4}, TGT_PLAIN, {0}}, {3, {2, 4, 5}, TGT_PLAIN, {0}}},
      {{3, {2, 3, 4}, TGT_PLAIN, {0}}, {2, {4, 5}, TGT_PLAIN, {0}}},
      {{2, {3, 4}, TGT_PLAIN, {0}}, {3, {2, 4, 5}, TGT_PLAIN, {0}}},
      {{4, {2, 1, 3, 4}, TGT_PLAIN, {0}}, {4, {1, 3, 4, 2}, TGT_PLAIN, {0}}},
      /* transposed operands: non-contiguous views of [5x4], [4x3] leaves */
      {{2, {3, 4}, TGT_PLAIN, {0}}, {2, {5, 4}, TGT_T, {0}}},
      {{2, {4, 3}, TGT_T, {0}}, {2, {4, 5}, TGT_PLAIN, {0}}},
      {{2, {4, 3}, TGT_T, {0}}, {2, {5, 4}, TGT_T, {0}}},
      {{3, {2, 4, 3}, TGT_T, {0}}, {3, {2, 5, 4}, TGT_T, {0}}},
      {{3, {2, 3, 4}, TGT_PLAIN, {0}}, {2, {5, 4}, TGT_T, {0}}},
      {{3, {1, 3, 4}, TGT_PLAIN, {0}}, {2, {5, 4}, TGT_T, {0}}}, /* batch 1 */
      {{3, {2, 4, 3}, TGT_T, {0}}, {2, {4, 5}, TGT_PLAIN, {0}}},
      /* a [2x3x4] view whose batch axis is not outermost in memory */
      {{3, {3, 2, 4}, TGT_PERM, {1, 0, 2}}, {2, {4, 5}, TGT_PLAIN, {0}}},
  };
  tgt_tally t = tgt_tally_new(71);
  tgt_op op = tgt_op_new("matmul");
  op.bin = tg_matmul;
  tgt_dom dom[2] = {TGT_ANY, TGT_ANY};
  for (int c = 0; c < TGT_LEN(cfgs); c++) {
    tgt_arg args[2] = {cfgs[c].a, cfgs[c].b};
    tgt_run(&t, tgt_f_bin, &op, 2, args, dom);
  }
  TGT_ASSERT_CLEAN(&t);
}
END_TEST

/* One matrix used in several products, as the left and the right operand,
 * plain and through a transposed view (the view itself reused): without a
 * recorded graph the later products add their gradients into one buffer
 * inside the gemm (beta = 1), in row- and column-major buffers. */
static tg_tensor *shared_matmul_fn(tg_tape *tp, tg_tensor **in, void *ctx) {
  (void)ctx;
  tg_tensor *a = in[0], *b = in[1];          /* [3, 4] and [4, 3] */
  tg_tensor *at = tg_transpose(tp, a, 0, 1); /* [4, 3], column-major */
  tg_tensor *bt = tg_transpose(tp, b, 0, 1); /* [3, 4], column-major */
  tg_tensor *terms[7] = {
      tg_matmul(tp, a, b),                   /* a left, b right */
      tg_matmul(tp, tg_tanh(tp, a), b),      /* b right again */
      tg_matmul(tp, at, tg_sin(tp, a)),      /* at left */
      tg_matmul(tp, at, bt),                 /* at left again, bt right */
      tg_matmul(tp, bt, tg_exp(tp, at)),     /* bt left */
      tg_matmul(tp, bt, at),                 /* bt left again, at right */
      tg_matmul(tp, tg_mul(tp, bt, bt), at), /* at right again */
  };
  tg_tensor *y = NULL;
  for (int k = 0; k < 7; k++) {
    tg_tensor *t = tg_sum_all(tp, tg_mul(tp, terms[k], terms[k]));
    y = y ? tg_add(tp, y, t) : t;
  }
  return y;
}

START_TEST(test_grad_matmul_shared_operands) {
  tgt_input in[2];
  int64_t sa[2] = {3, 4}, sb[2] = {4, 3};
  ck_assert(tgt_input_init(&in[0], 2, sa));
  ck_assert(tgt_input_init(&in[1], 2, sb));
  tg_rng rng;
  tg_rng_seed(&rng, 91);
  tgt_fill_uniform(&rng, in[0].data, 12, -1, 1);
  tgt_fill_uniform(&rng, in[1].data, 12, -1, 1);
  double e1 = tgt_check_grad(shared_matmul_fn, NULL, 2, in);
  ck_assert_msg(e1 < TGT_TOL1, "first-order error %g", e1);
  double e2 = tgt_check_grad2(shared_matmul_fn, NULL, 2, in, 92);
  ck_assert_msg(e2 < TGT_TOL2, "second-order error %g", e2);
  tgt_inputs_free(2, in);
}
END_TEST

/* --- addmm ---------------------------------------------------------------- */

/* sum(sin(c + a @ b)) with b given as stored or, when *ctx, as the
 * transpose of a [n, k] leaf (a dense layer's W^T): nonlinear, so the
 * second-order check sees every input. */
static tg_tensor *addmm_fn(tg_tape *tp, tg_tensor **in, void *ctx) {
  bool bt = *(const bool *)ctx;
  tg_tensor *b = bt ? tg_transpose(tp, in[2], -2, -1) : in[2];
  return tg_sum_all(tp, tg_sin(tp, tg_addmm(tp, in[0], in[1], b)));
}

START_TEST(test_grad_addmm) {
  static const struct {
    int nc, na, nb;
    int64_t c[3], a[3], b[3];
    bool bt;
  } cfgs[] = {
      {1, 2, 2, {5}, {3, 4}, {4, 5}, false},             /* a bias */
      {2, 2, 2, {3, 5}, {3, 4}, {4, 5}, false},          /* a matrix */
      {2, 2, 2, {3, 1}, {3, 4}, {4, 5}, false},          /* a column */
      {0, 2, 2, {0}, {3, 4}, {4, 5}, false},             /* a 0-d scalar */
      {1, 2, 2, {5}, {3, 4}, {5, 4}, true},              /* x @ W^T + b */
      {1, 3, 2, {5}, {2, 3, 4}, {5, 4}, true},           /* batched x */
      {3, 3, 3, {2, 1, 5}, {2, 3, 4}, {2, 4, 5}, false}, /* batch both */
      {2, 3, 2, {3, 5}, {2, 3, 4}, {4, 5}, false},       /* c over the batch */
  };
  tg_rng rng;
  tg_rng_seed(&rng, 95);
  for (int k = 0; k < TGT_LEN(cfgs); k++) {
    tgt_input in[3];
    ck_assert(tgt_input_init(&in[0], cfgs[k].nc, cfgs[k].c));
    ck_assert(tgt_input_init(&in[1], cfgs[k].na, cfgs[k].a));
    ck_assert(tgt_input_init(&in[2], cfgs[k].nb, cfgs[k].b));
    for (int i = 0; i < 3; i++)
      tgt_fill_uniform(&rng, in[i].data, in[i].numel, -1, 1);
    bool bt = cfgs[k].bt;
    double e1 = tgt_check_grad(addmm_fn, &bt, 3, in);
    ck_assert_msg(e1 < TGT_TOL1, "case %d: first-order error %g", k, e1);
    double e2 = tgt_check_grad2(addmm_fn, &bt, 3, in, 96 + (uint64_t)k);
    ck_assert_msg(e2 < TGT_TOL2, "case %d: second-order error %g", k, e2);
    tgt_inputs_free(3, in);
  }
}
END_TEST

/* tg_backward of a dense layer's x @ W^T + b through tg_addmm gives W and b
 * the gradients of the unfused matmul and add (W's goes straight into its
 * buffer inside the gemm), and the same outputs. */
START_TEST(test_addmm_matches_matmul_then_add) {
  int64_t sx[3] = {2, 3, 4}, sw[2] = {5, 4}, sb[1] = {5};
  tg_tape *tp = tg_tape_new();
  tg_rng rng;
  tg_rng_seed(&rng, 97);
  tg_tensor *x = tg_tensor_new(tp, TG_F64, 3, sx);
  tg_tensor *w[2], *b[2];
  double *out[2], *gw[2], *gb[2];
  for (int v = 0; v < 2; v++) {
    w[v] = tg_set_requires_grad(tg_tensor_new(tp, TG_F64, 2, sw), true);
    b[v] = tg_set_requires_grad(tg_tensor_new(tp, TG_F64, 1, sb), true);
  }
  tgt_fill_uniform(&rng, x->data, 24, -1, 1);
  tgt_fill_uniform(&rng, w[0]->data, 20, -1, 1);
  tgt_fill_uniform(&rng, b[0]->data, 5, -1, 1);
  memcpy(w[1]->data, w[0]->data, 20 * sizeof(double));
  memcpy(b[1]->data, b[0]->data, 5 * sizeof(double));
  for (int v = 0; v < 2; v++) {
    tg_tensor *wt = tg_transpose(tp, w[v], 0, 1);
    tg_tensor *y = v == 0 ? tg_addmm(tp, b[v], x, wt)
                          : tg_add(tp, tg_matmul(tp, x, wt), b[v]);
    ck_assert(!tgt_failed(tp, y, "forward"));
    ck_assert_int_eq(tg_backward(tp, tg_sum_all(tp, tg_sin(tp, y))), TG_OK);
    out[v] = tgt_read(y);
    gw[v] = tgt_read(w[v]->grad);
    gb[v] = tgt_read(b[v]->grad);
    ck_assert(out[v] && gw[v] && gb[v]);
  }
  ck_assert(tgt_close_all("outputs", out[0], out[1], 30, 1e-14));
  ck_assert(tgt_close_all("dW", gw[0], gw[1], 20, 1e-13));
  ck_assert(tgt_close_all("db", gb[0], gb[1], 5, 1e-13));
  for (int v = 0; v < 2; v++) {
    free(out[v]);
    free(gw[v]);
    free(gb[v]);
    tg_tensor_free(w[v]);
    tg_tensor_free(b[v]);
  }
  tg_tensor_free(x);
  tg_tape_free(tp);
}
END_TEST

/* --- main ----------------------------------------------------------------- */

static Suite *tgt_suite(void) {
  Suite *s = suite_create("ops_grad");
  TCase *tc = tcase_create("grad");
  tcase_set_timeout(tc, 60);
  tcase_add_test(tc, test_grad_neg);
  tcase_add_test(tc, test_grad_exp);
  tcase_add_test(tc, test_grad_log);
  tcase_add_test(tc, test_grad_sqrt);
  tcase_add_test(tc, test_grad_tanh);
  tcase_add_test(tc, test_grad_sigmoid);
  tcase_add_test(tc, test_grad_relu);
  tcase_add_test(tc, test_grad_abs);
  tcase_add_test(tc, test_grad_sin);
  tcase_add_test(tc, test_grad_cos);
  tcase_add_test(tc, test_grad_pow_scalar);
  tcase_add_test(tc, test_grad_mul_scalar);
  tcase_add_test(tc, test_grad_add_scalar);
  tcase_add_test(tc, test_grad_add);
  tcase_add_test(tc, test_grad_sub);
  tcase_add_test(tc, test_grad_mul);
  tcase_add_test(tc, test_grad_div);
  tcase_add_test(tc, test_grad_pow);
  tcase_add_test(tc, test_grad_maximum);
  tcase_add_test(tc, test_grad_minimum);
  tcase_add_test(tc, test_grad_shared_input);
  tcase_add_test(tc, test_grad_where);
  tcase_add_test(tc, test_grad_sum);
  tcase_add_test(tc, test_grad_mean);
  tcase_add_test(tc, test_grad_max);
  tcase_add_test(tc, test_grad_max_ties_and_nan);
  tcase_add_test(tc, test_grad_sum_all);
  tcase_add_test(tc, test_grad_mean_all);
  tcase_add_test(tc, test_grad_sum_to);
  tcase_add_test(tc, test_grad_matmul);
  tcase_add_test(tc, test_grad_matmul_shared_operands);
  tcase_add_test(tc, test_grad_addmm);
  tcase_add_test(tc, test_addmm_matches_matmul_then_add);
  tcase_add_test(tc, test_grad_reshape);
  tcase_add_test(tc, test_grad_permute);
  tcase_add_test(tc, test_grad_transpose);
  tcase_add_test(tc, test_grad_expand);
  tcase_add_test(tc, test_grad_contiguous);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) { return tgt_run_suite(tgt_suite()); }
