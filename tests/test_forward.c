/* tapegrad tests: forward values of the primitives.
 *
 * Every expected value is computed here, in plain double loops over the
 * logical (row-major) values of the inputs, never taken from the library.
 * Inputs that are views (transpose, permute, expand) get their reference
 * values from the leaf's values by explicit index mapping, so a wrong view
 * and a wrong kernel both show up. */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif

#include <check.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "support.h"
#include "tapegrad.h"

/* Loop tests run with _i = 0 (f64) and _i = 1 (f32). */
static const tg_dtype DTYPES[2] = {TG_F64, TG_F32};

static double rtol_of(tg_dtype dt) { return dt == TG_F64 ? 1e-12 : 1e-5; }

/* --- small helpers -------------------------------------------------------- */

static tg_tape *tape_new(void) {
  tg_tape *tp = tg_tape_new();
  ck_assert_ptr_nonnull(tp);
  tg_tape_seed(tp, 20240601);
  return tp;
}

/* Fails the test when t is NULL or the tape holds an error. */
#define ASSERT_OK(tp, t)                                                       \
  ck_assert_msg((t) != NULL && tg_error(tp) == TG_OK, "%s failed: %s", #t,     \
                tg_errmsg(tp))

static int64_t numel_of(int nd, const int64_t *shape) {
  int64_t n = 1;
  for (int d = 0; d < nd; d++)
    n *= shape[d];
  return n;
}

static void unravel(int64_t i, int nd, const int64_t *shape, int64_t *idx) {
  for (int d = nd - 1; d >= 0; d--) {
    idx[d] = shape[d] ? i % shape[d] : 0;
    i = shape[d] ? i / shape[d] : 0;
  }
}

/* Row-major offset into an x of shape xs (xnd axes) of the element that
 * broadcasts to output index oidx (ond axes, aligned on the right). */
static int64_t bcast_off(const int64_t *oidx, int ond, int xnd,
                         const int64_t *xs) {
  int64_t off = 0;
  for (int d = 0; d < xnd; d++) {
    int64_t i = xs[d] == 1 ? 0 : oidx[d + ond - xnd];
    off = off * xs[d] + i;
  }
  return off;
}

/* NumPy's broadcast shape, computed independently of the library. */
static int bcast_shape(int na, const int64_t *sa, int nb, const int64_t *sb,
                       int64_t *out) {
  int nd = na > nb ? na : nb;
  for (int d = 0; d < nd; d++) {
    int ia = d - (nd - na), ib = d - (nd - nb);
    int64_t x = ia >= 0 ? sa[ia] : 1, y = ib >= 0 ? sb[ib] : 1;
    out[d] = x == 1 ? y : x;
  }
  return nd;
}

static void assert_shape(const tg_tensor *t, int nd, const int64_t *shape) {
  ck_assert_int_eq(t->ndim, nd);
  for (int d = 0; d < nd; d++)
    ck_assert_int_eq(t->shape[d], shape[d]);
  ck_assert_int_eq(t->numel, numel_of(nd, shape));
}

/* A malloc'd row-major copy of t's values. */
static double *values_of(const tg_tensor *t) {
  double *v = malloc(sizeof(double) * (size_t)(t->numel ? t->numel : 1));
  ck_assert_ptr_nonnull(v);
  ck_assert_int_eq(tg_copy_out_f64(t, v), TG_OK);
  return v;
}

/* |got - want| <= rtol * scale, where scale is mag[i] (the sum of the
 * magnitudes that went into want[i]) or |want[i]| when mag is NULL. */
static void assert_close(const tg_tensor *t, const double *want,
                         const double *mag, double rtol, const char *what) {
  double *got = values_of(t);
  for (int64_t i = 0; i < t->numel; i++) {
    double w = want[i], g = got[i];
    if (isnan(w)) {
      ck_assert_msg(isnan(g), "%s: [%lld] got %.17g, want NaN", what,
                    (long long)i, g);
      continue;
    }
    if (isinf(w)) {
      ck_assert_msg(g == w, "%s: [%lld] got %.17g, want %g", what, (long long)i,
                    g, w);
      continue;
    }
    double scale = mag ? mag[i] : fabs(w);
    ck_assert_msg(fabs(g - w) <= rtol * scale + 1e-300,
                  "%s: [%lld] got %.17g, want %.17g (rel err %.3g)", what,
                  (long long)i, g, w, fabs(g - w) / (scale + 1e-300));
  }
  free(got);
}

/* Exact equality (masks, movement). */
static void assert_equal(const tg_tensor *t, const double *want,
                         const char *what) {
  double *got = values_of(t);
  for (int64_t i = 0; i < t->numel; i++)
    ck_assert_msg(got[i] == want[i], "%s: [%lld] got %.17g, want %.17g", what,
                  (long long)i, got[i], want[i]);
  free(got);
}

/* --- arguments with reference values -------------------------------------- */

/* A tensor and its logical values, computed by the test. */
typedef struct {
  tg_tensor *t;
  int nd;
  int64_t shape[TG_MAX_DIMS];
  double *v; /* row-major reference values */
} arg_t;

static void arg_set_shape(arg_t *a, int nd, const int64_t *shape) {
  a->nd = nd;
  for (int d = 0; d < nd; d++)
    a->shape[d] = shape[d];
  int64_t n = numel_of(nd, shape);
  a->v = calloc((size_t)(n ? n : 1), sizeof(double));
  ck_assert_ptr_nonnull(a->v);
}

/* A leaf of dtype dt with values uniform in [lo, hi); the reference keeps
 * the values as stored (rounded to float for f32). */
static arg_t arg_rand(tg_tape *tp, tg_rng *rng, tg_dtype dt, int nd,
                      const int64_t *shape, double lo, double hi) {
  arg_t a;
  arg_set_shape(&a, nd, shape);
  int64_t n = numel_of(nd, shape);
  tgt_fill_uniform(rng, a.v, n, lo, hi);
  if (dt == TG_F32)
    for (int64_t i = 0; i < n; i++)
      a.v[i] = (double)(float)a.v[i];
  a.t = tg_from_f64(tp, dt, nd, shape, a.v);
  ASSERT_OK(tp, a.t);
  return a;
}

/* Like arg_rand but with small integers lo..hi (ties for comparisons). */
static arg_t arg_ints(tg_tape *tp, tg_rng *rng, tg_dtype dt, int nd,
                      const int64_t *shape, int lo, int hi) {
  arg_t a;
  arg_set_shape(&a, nd, shape);
  int64_t n = numel_of(nd, shape);
  for (int64_t i = 0; i < n; i++)
    a.v[i] = lo + floor((hi - lo + 1) * tg_rng_uniform(rng));
  a.t = tg_from_f64(tp, dt, nd, shape, a.v);
  ASSERT_OK(tp, a.t);
  return a;
}

/* permute(src, perm) and its values: out[idx] = src[idx mapped by perm]. */
static arg_t arg_permute(tg_tape *tp, const arg_t *src, const int *perm) {
  arg_t a;
  int64_t shape[TG_MAX_DIMS];
  for (int d = 0; d < src->nd; d++)
    shape[d] = src->shape[perm[d]];
  arg_set_shape(&a, src->nd, shape);
  int64_t n = numel_of(a.nd, shape);
  for (int64_t i = 0; i < n; i++) {
    int64_t oidx[TG_MAX_DIMS], sidx[TG_MAX_DIMS];
    unravel(i, a.nd, shape, oidx);
    for (int d = 0; d < a.nd; d++)
      sidx[perm[d]] = oidx[d];
    int64_t off = 0;
    for (int d = 0; d < a.nd; d++)
      off = off * src->shape[d] + sidx[d];
    a.v[i] = src->v[off];
  }
  a.t = tg_permute(tp, src->t, perm);
  ASSERT_OK(tp, a.t);
  return a;
}

static arg_t arg_transpose(tg_tape *tp, const arg_t *src, int a0, int a1) {
  int perm[TG_MAX_DIMS];
  for (int d = 0; d < src->nd; d++)
    perm[d] = d;
  int x = a0 < 0 ? a0 + src->nd : a0, y = a1 < 0 ? a1 + src->nd : a1;
  perm[x] = y;
  perm[y] = x;
  arg_t a = arg_permute(tp, src, perm); /* reference values */
  a.t = tg_transpose(tp, src->t, a0, a1);
  ASSERT_OK(tp, a.t);
  return a;
}

static arg_t arg_expand(tg_tape *tp, const arg_t *src, int nd,
                        const int64_t *shape) {
  arg_t a;
  arg_set_shape(&a, nd, shape);
  int64_t n = numel_of(nd, shape);
  for (int64_t i = 0; i < n; i++) {
    int64_t idx[TG_MAX_DIMS];
    unravel(i, nd, shape, idx);
    a.v[i] = src->v[bcast_off(idx, nd, src->nd, src->shape)];
  }
  a.t = tg_expand(tp, src->t, nd, shape);
  ASSERT_OK(tp, a.t);
  return a;
}

static void arg_free(arg_t *a) {
  free(a->v);
  a->v = NULL;
}

/* --- binary ops ----------------------------------------------------------- */

typedef tg_tensor *(*binary_fn)(tg_tape *, tg_tensor *, tg_tensor *);

enum {
  OP_ADD,
  OP_SUB,
  OP_MUL,
  OP_DIV,
  OP_POW,
  OP_MAX,
  OP_MIN,
  OP_EQ,
  OP_NE,
  OP_LT,
  OP_LE,
  OP_GT,
  OP_GE
};

typedef struct {
  const char *name;
  binary_fn fn;
  int op;
} binary_case;

static const binary_case ARITH[] = {
    {"add", tg_add, OP_ADD},         {"sub", tg_sub, OP_SUB},
    {"mul", tg_mul, OP_MUL},         {"div", tg_div, OP_DIV},
    {"pow", tg_pow, OP_POW},         {"maximum", tg_maximum, OP_MAX},
    {"minimum", tg_minimum, OP_MIN},
};
static const binary_case COMPARE[] = {
    {"eq", tg_eq, OP_EQ}, {"ne", tg_ne, OP_NE}, {"lt", tg_lt, OP_LT},
    {"le", tg_le, OP_LE}, {"gt", tg_gt, OP_GT}, {"ge", tg_ge, OP_GE},
};
#define N_ARITH ((int)(sizeof ARITH / sizeof ARITH[0]))
#define N_COMPARE ((int)(sizeof COMPARE / sizeof COMPARE[0]))

static double ref_binary(int op, double x, double y) {
  switch (op) {
  case OP_ADD: return x + y;
  case OP_SUB: return x - y;
  case OP_MUL: return x * y;
  case OP_DIV: return x / y;
  case OP_POW: return pow(x, y);
  case OP_MAX: return x > y ? x : y;
  case OP_MIN: return x < y ? x : y;
  case OP_EQ: return x == y;
  case OP_NE: return x != y;
  case OP_LT: return x < y;
  case OP_LE: return x <= y;
  case OP_GT: return x > y;
  default: return x >= y;
  }
}

/* Runs c on a and b and checks shape and every value against the loops.
 * Arithmetic allows rtol relative to |a| + |b| (add and sub may cancel);
 * comparisons must match exactly. */
static void check_binary(tg_tape *tp, const binary_case *c, const arg_t *a,
                         const arg_t *b, tg_dtype dt, const char *where) {
  tg_tensor *out = c->fn(tp, a->t, b->t);
  ASSERT_OK(tp, out);
  ck_assert_int_eq(out->dtype, dt);
  int64_t shape[TG_MAX_DIMS] = {0};
  int nd = bcast_shape(a->nd, a->shape, b->nd, b->shape, shape);
  assert_shape(out, nd, shape);
  int64_t n = numel_of(nd, shape);
  double *want = malloc(sizeof(double) * (size_t)n);
  double *mag = malloc(sizeof(double) * (size_t)n);
  ck_assert(want && mag);
  for (int64_t i = 0; i < n; i++) {
    int64_t idx[TG_MAX_DIMS];
    unravel(i, nd, shape, idx);
    double x = a->v[bcast_off(idx, nd, a->nd, a->shape)];
    double y = b->v[bcast_off(idx, nd, b->nd, b->shape)];
    want[i] = ref_binary(c->op, x, y);
    if (dt == TG_F32 && c->op < OP_EQ) want[i] = (float)want[i];
    mag[i] =
        c->op == OP_ADD || c->op == OP_SUB ? fabs(x) + fabs(y) : fabs(want[i]);
  }
  char what[128];
  snprintf(what, sizeof what, "%s %s (%s)", c->name, where, tg_dtype_name(dt));
  if (c->op >= OP_EQ)
    assert_equal(out, want, what);
  else
    assert_close(out, want, mag, rtol_of(dt), what);
  free(want);
  free(mag);
}

/* Shape pairs that exercise each broadcasting rule. */
typedef struct {
  int na, nb;
  int64_t sa[3], sb[3];
} shape_pair;

static const shape_pair PAIRS[] = {
    {2, 1, {3, 4}, {4}},    {2, 2, {3, 1}, {1, 4}}, {3, 2, {2, 3, 4}, {3, 1}},
    {0, 2, {0}, {2, 3}},    {2, 1, {5, 1}, {1}},    {1, 2, {4}, {3, 4}},
    {2, 2, {3, 4}, {3, 4}}, {1, 1, {17}, {17}},     {2, 0, {2, 9}, {0}},
    {0, 0, {0}, {0}},
};
#define N_PAIRS ((int)(sizeof PAIRS / sizeof PAIRS[0]))

/* Input ranges per op that keep every result finite and well defined. */
static void arith_ranges(int op, double *alo, double *ahi, double *blo,
                         double *bhi) {
  *alo = -2, *ahi = 2, *blo = -2, *bhi = 2;
  if (op == OP_DIV) *blo = 0.5;
  if (op == OP_POW) *alo = 0.1, *ahi = 3;
}

START_TEST(test_binary_arith_broadcast_matches_loops) {
  tg_dtype dt = DTYPES[_i];
  tg_tape *tp = tape_new();
  tg_rng rng;
  tg_rng_seed(&rng, 11);
  for (int p = 0; p < N_PAIRS; p++) {
    const shape_pair *sp = &PAIRS[p];
    for (int o = 0; o < N_ARITH; o++) {
      double alo, ahi, blo, bhi;
      arith_ranges(ARITH[o].op, &alo, &ahi, &blo, &bhi);
      arg_t a = arg_rand(tp, &rng, dt, sp->na, sp->sa, alo, ahi);
      arg_t b = arg_rand(tp, &rng, dt, sp->nb, sp->sb, blo, bhi);
      char where[32];
      snprintf(where, sizeof where, "pair %d", p);
      check_binary(tp, &ARITH[o], &a, &b, dt, where);
      arg_free(&a);
      arg_free(&b);
    }
  }
  ck_assert_int_eq(tg_error(tp), TG_OK);
  tg_tape_free(tp);
}
END_TEST

START_TEST(test_compare_broadcast_gives_exact_zero_one) {
  tg_dtype dt = DTYPES[_i];
  tg_tape *tp = tape_new();
  tg_rng rng;
  tg_rng_seed(&rng, 12);
  for (int p = 0; p < N_PAIRS; p++) {
    const shape_pair *sp = &PAIRS[p];
    arg_t a = arg_ints(tp, &rng, dt, sp->na, sp->sa, -2, 2);
    arg_t b = arg_ints(tp, &rng, dt, sp->nb, sp->sb, -2, 2);
    for (int o = 0; o < N_COMPARE; o++)
      check_binary(tp, &COMPARE[o], &a, &b, dt, "broadcast");
    arg_free(&a);
    arg_free(&b);
  }
  tg_tape_free(tp);
}
END_TEST

START_TEST(test_compare_equal_operands_and_ties) {
  tg_dtype dt = DTYPES[_i];
  tg_tape *tp = tape_new();
  const int64_t s[1] = {5};
  const double av[5] = {-1, 0, 2.5, 3, -0.0};
  const double bv[5] = {-1, 1, 2.5, 2, 0.0};
  tg_tensor *a = tg_from_f64(tp, dt, 1, s, av);
  tg_tensor *b = tg_from_f64(tp, dt, 1, s, bv);
  ASSERT_OK(tp, b);
  for (int o = 0; o < N_COMPARE; o++) {
    tg_tensor *out = COMPARE[o].fn(tp, a, b);
    ASSERT_OK(tp, out);
    double want[5];
    for (int i = 0; i < 5; i++)
      want[i] = ref_binary(COMPARE[o].op, av[i], bv[i]);
    assert_equal(out, want, COMPARE[o].name);
  }
  tg_tape_free(tp);
}
END_TEST

/* where(mask, a, b) with the mask, a and b all broadcasting. */
static void check_where(tg_tape *tp, const arg_t *m, const arg_t *a,
                        const arg_t *b, tg_dtype dt, const char *what) {
  tg_tensor *out = tg_where(tp, m->t, a->t, b->t);
  ASSERT_OK(tp, out);
  int64_t s1[TG_MAX_DIMS] = {0}, shape[TG_MAX_DIMS] = {0};
  int nd1 = bcast_shape(a->nd, a->shape, b->nd, b->shape, s1);
  int nd = bcast_shape(m->nd, m->shape, nd1, s1, shape);
  assert_shape(out, nd, shape);
  ck_assert_int_eq(out->dtype, dt);
  int64_t n = numel_of(nd, shape);
  double *want = malloc(sizeof(double) * (size_t)n);
  ck_assert_ptr_nonnull(want);
  for (int64_t i = 0; i < n; i++) {
    int64_t idx[TG_MAX_DIMS];
    unravel(i, nd, shape, idx);
    double mv = m->v[bcast_off(idx, nd, m->nd, m->shape)];
    want[i] = mv != 0 ? a->v[bcast_off(idx, nd, a->nd, a->shape)]
                      : b->v[bcast_off(idx, nd, b->nd, b->shape)];
  }
  assert_equal(out, want, what);
  free(want);
}

START_TEST(test_where_broadcast_mask_selects) {
  tg_dtype dt = DTYPES[_i];
  tg_tape *tp = tape_new();
  tg_rng rng;
  tg_rng_seed(&rng, 13);
  const int64_t s34[2] = {3, 4}, s31[2] = {3, 1}, s4[1] = {4};
  const int64_t s14[2] = {1, 4}, s234[3] = {2, 3, 4};
  arg_t a = arg_rand(tp, &rng, dt, 2, s34, -3, 3);
  arg_t b = arg_rand(tp, &rng, dt, 2, s14, -3, 3);
  arg_t b0 = arg_rand(tp, &rng, dt, 0, NULL, -3, 3);
  arg_t m31 = arg_ints(tp, &rng, dt, 2, s31, 0, 1);
  arg_t m4 = arg_ints(tp, &rng, dt, 1, s4, 0, 1);
  arg_t m234 = arg_ints(tp, &rng, dt, 3, s234, -1, 1); /* nonzero: true */
  arg_t m0 = arg_ints(tp, &rng, dt, 0, NULL, 1, 1);
  check_where(tp, &m31, &a, &b, dt, "mask [3,1]");
  check_where(tp, &m4, &a, &b0, dt, "mask [4], b 0-d");
  check_where(tp, &m234, &a, &b, dt, "mask [2,3,4]");
  check_where(tp, &m0, &b0, &a, dt, "mask 0-d");
  /* A mask made by a comparison. */
  arg_t m;
  arg_set_shape(&m, 2, s34);
  for (int i = 0; i < 12; i++)
    m.v[i] = a.v[i] > 0;
  tg_tensor *zero = tg_scalar(tp, dt, 0);
  m.t = tg_gt(tp, a.t, zero);
  ASSERT_OK(tp, m.t);
  check_where(tp, &m, &a, &b0, dt, "mask from tg_gt");
  arg_t *all[] = {&a, &b, &b0, &m31, &m4, &m234, &m0, &m};
  for (int i = 0; i < 8; i++)
    arg_free(all[i]);
  tg_tape_free(tp);
}
END_TEST

START_TEST(test_binary_ops_accept_noncontiguous_views) {
  tg_dtype dt = DTYPES[_i];
  tg_tape *tp = tape_new();
  tg_rng rng;
  tg_rng_seed(&rng, 14);
  const int64_t s43[2] = {4, 3}, s31[2] = {3, 1}, s34[2] = {3, 4};
  const int64_t s423[3] = {4, 2, 3}, s243[3] = {2, 4, 3};
  const int64_t s234[3] = {2, 3, 4}, s4[1] = {4};
  const int perm[3] = {1, 2, 0};
  for (int o = 0; o < N_ARITH + N_COMPARE; o++) {
    const binary_case *c = o < N_ARITH ? &ARITH[o] : &COMPARE[o - N_ARITH];
    double alo = 0.1, ahi = 3, blo = 0.5, bhi = 2;
    arg_t la, lb, lc, ld, le;
    if (c->op >= OP_EQ) {
      la = arg_ints(tp, &rng, dt, 2, s43, -1, 1);
      lb = arg_ints(tp, &rng, dt, 2, s31, -1, 1);
      lc = arg_ints(tp, &rng, dt, 3, s423, -1, 1);
      ld = arg_ints(tp, &rng, dt, 3, s243, -1, 1);
      le = arg_ints(tp, &rng, dt, 1, s4, -1, 1);
    } else {
      la = arg_rand(tp, &rng, dt, 2, s43, alo, ahi);
      lb = arg_rand(tp, &rng, dt, 2, s31, blo, bhi);
      lc = arg_rand(tp, &rng, dt, 3, s423, alo, ahi);
      ld = arg_rand(tp, &rng, dt, 3, s243, blo, bhi);
      le = arg_rand(tp, &rng, dt, 1, s4, blo, bhi);
    }
    arg_t at = arg_transpose(tp, &la, 0, 1);   /* [3,4], strides (1,3) */
    arg_t bx = arg_expand(tp, &lb, 2, s34);    /* [3,4], strides (1,0) */
    arg_t cp = arg_permute(tp, &lc, perm);     /* [2,3,4] */
    arg_t tr = arg_transpose(tp, &ld, -1, -2); /* [2,3,4] */
    arg_t ex = arg_expand(tp, &le, 3, s234);   /* [2,3,4], batch 0 */
    check_binary(tp, c, &at, &bx, dt, "transpose op expand");
    check_binary(tp, c, &bx, &at, dt, "expand op transpose");
    check_binary(tp, c, &cp, &tr, dt, "permute op transpose");
    check_binary(tp, c, &cp, &at, dt, "permute op transpose, broadcast");
    check_binary(tp, c, &ex, &cp, dt, "expand op permute");
    arg_t *all[] = {&la, &lb, &lc, &ld, &le, &at, &bx, &cp, &tr, &ex};
    for (int i = 0; i < 10; i++)
      arg_free(all[i]);
  }
  /* where with every operand a view. */
  arg_t la = arg_ints(tp, &rng, dt, 2, s43, 0, 1);
  arg_t lb = arg_rand(tp, &rng, dt, 2, s31, -1, 1);
  arg_t lc = arg_rand(tp, &rng, dt, 2, s43, -1, 1);
  arg_t m = arg_transpose(tp, &la, 0, 1);
  arg_t a = arg_expand(tp, &lb, 2, s34);
  arg_t b = arg_transpose(tp, &lc, 1, 0);
  check_where(tp, &m, &a, &b, dt, "where of views");
  arg_t *all[] = {&la, &lb, &lc, &m, &a, &b};
  for (int i = 0; i < 6; i++)
    arg_free(all[i]);
  ck_assert_int_eq(tg_error(tp), TG_OK);
  tg_tape_free(tp);
}
END_TEST

/* --- unary ops ------------------------------------------------------------ */

typedef tg_tensor *(*unary_fn)(tg_tape *, tg_tensor *);
typedef tg_tensor *(*scalar_fn)(tg_tape *, tg_tensor *, double);

typedef struct {
  const char *name;
  unary_fn f1;  /* or NULL */
  scalar_fn f2; /* with parameter p */
  double p;
  double lo, hi; /* input range */
  double (*ref)(double x, double p);
} unary_case;

static double r_neg(double x, double p) {
  (void)p;
  return -x;
}
static double r_exp(double x, double p) {
  (void)p;
  return exp(x);
}
static double r_log(double x, double p) {
  (void)p;
  return log(x);
}
static double r_sqrt(double x, double p) {
  (void)p;
  return sqrt(x);
}
static double r_tanh(double x, double p) {
  (void)p;
  return tanh(x);
}
static double r_sigmoid(double x, double p) {
  (void)p;
  return 1.0 / (1.0 + exp(-x));
}
static double r_relu(double x, double p) {
  (void)p;
  return x > 0 ? x : 0;
}
static double r_abs(double x, double p) {
  (void)p;
  return fabs(x);
}
static double r_sin(double x, double p) {
  (void)p;
  return sin(x);
}
static double r_cos(double x, double p) {
  (void)p;
  return cos(x);
}
static double r_pow(double x, double p) { return pow(x, p); }
static double r_mul(double x, double p) { return p * x; }
static double r_add(double x, double p) { return x + p; }

static const unary_case UNARY[] = {
    {"neg", tg_neg, NULL, 0, -5, 5, r_neg},
    {"exp", tg_exp, NULL, 0, -20, 20, r_exp},
    {"log", tg_log, NULL, 0, 1e-3, 1e3, r_log},
    {"sqrt", tg_sqrt, NULL, 0, 0, 100, r_sqrt},
    {"tanh", tg_tanh, NULL, 0, -6, 6, r_tanh},
    {"sigmoid", tg_sigmoid, NULL, 0, -20, 20, r_sigmoid},
    {"relu", tg_relu, NULL, 0, -5, 5, r_relu},
    {"abs", tg_abs, NULL, 0, -5, 5, r_abs},
    {"sin", tg_sin, NULL, 0, -10, 10, r_sin},
    {"cos", tg_cos, NULL, 0, -10, 10, r_cos},
    {"pow_scalar 2.5", NULL, tg_pow_scalar, 2.5, 0.01, 10, r_pow},
    {"pow_scalar 2", NULL, tg_pow_scalar, 2, -10, 10, r_pow},
    {"pow_scalar 3", NULL, tg_pow_scalar, 3, -10, 10, r_pow},
    {"pow_scalar -1.5", NULL, tg_pow_scalar, -1.5, 0.01, 10, r_pow},
    {"pow_scalar 0.5", NULL, tg_pow_scalar, 0.5, 0, 10, r_pow},
    {"pow_scalar 1", NULL, tg_pow_scalar, 1, -10, 10, r_pow},
    {"mul_scalar", NULL, tg_mul_scalar, -0.3, -5, 5, r_mul},
    {"add_scalar", NULL, tg_add_scalar, 1.3, -5, 5, r_add},
};
#define N_UNARY ((int)(sizeof UNARY / sizeof UNARY[0]))

static void check_unary(tg_tape *tp, const unary_case *c, const arg_t *x,
                        tg_dtype dt, const char *where) {
  tg_tensor *out = c->f1 ? c->f1(tp, x->t) : c->f2(tp, x->t, c->p);
  ASSERT_OK(tp, out);
  ck_assert_int_eq(out->dtype, dt);
  assert_shape(out, x->nd, x->shape);
  int64_t n = numel_of(x->nd, x->shape);
  double *want = malloc(sizeof(double) * (size_t)(n ? n : 1));
  double *mag = malloc(sizeof(double) * (size_t)(n ? n : 1));
  ck_assert(want && mag);
  for (int64_t i = 0; i < n; i++) {
    want[i] = c->ref(x->v[i], c->p);
    /* x + s may cancel; the scale is then |x| + |s|. */
    mag[i] = c->ref == r_add ? fabs(x->v[i]) + fabs(c->p) : fabs(want[i]);
  }
  char what[128];
  snprintf(what, sizeof what, "%s %s (%s)", c->name, where, tg_dtype_name(dt));
  assert_close(out, want, mag, rtol_of(dt), what);
  free(want);
  free(mag);
}

START_TEST(test_unary_ops_match_libm_all_lengths) {
  tg_dtype dt = DTYPES[_i];
  tg_tape *tp = tape_new();
  tg_rng rng;
  tg_rng_seed(&rng, 21);
  static const int64_t lens[] = {1, 3, 7, 8, 9, 17, 1000};
  for (int o = 0; o < N_UNARY; o++) {
    for (size_t l = 0; l < sizeof lens / sizeof lens[0]; l++) {
      arg_t x = arg_rand(tp, &rng, dt, 1, &lens[l], UNARY[o].lo, UNARY[o].hi);
      char where[32];
      snprintf(where, sizeof where, "length %lld", (long long)lens[l]);
      check_unary(tp, &UNARY[o], &x, dt, where);
      arg_free(&x);
    }
    tg_tape_reset(tp);
  }
  tg_tape_free(tp);
}
END_TEST

START_TEST(test_unary_ops_on_noncontiguous_views) {
  tg_dtype dt = DTYPES[_i];
  tg_tape *tp = tape_new();
  tg_rng rng;
  tg_rng_seed(&rng, 22);
  const int64_t s79[2] = {7, 9}, s19[2] = {1, 9}, s59[2] = {5, 9};
  const int64_t s345[3] = {3, 4, 5};
  const int perm[3] = {2, 0, 1};
  for (int o = 0; o < N_UNARY; o++) {
    const unary_case *c = &UNARY[o];
    arg_t l1 = arg_rand(tp, &rng, dt, 2, s79, c->lo, c->hi);
    arg_t l2 = arg_rand(tp, &rng, dt, 2, s19, c->lo, c->hi);
    arg_t l3 = arg_rand(tp, &rng, dt, 3, s345, c->lo, c->hi);
    arg_t t = arg_transpose(tp, &l1, 0, 1);
    arg_t e = arg_expand(tp, &l2, 2, s59);
    arg_t p = arg_permute(tp, &l3, perm);
    ck_assert(!tg_is_contiguous(t.t) && !tg_is_contiguous(p.t));
    check_unary(tp, c, &t, dt, "transposed");
    check_unary(tp, c, &e, dt, "expanded");
    check_unary(tp, c, &p, dt, "permuted");
    arg_t *all[] = {&l1, &l2, &l3, &t, &e, &p};
    for (int i = 0; i < 6; i++)
      arg_free(all[i]);
    tg_tape_reset(tp);
  }
  tg_tape_free(tp);
}
END_TEST

START_TEST(test_unary_special_values) {
  tg_dtype dt = DTYPES[_i];
  tg_tape *tp = tape_new();
  const int64_t s[1] = {6};
  const double xv[6] = {0.0, -0.0, 1.0, -1.0, 4.0, 0.25};
  tg_tensor *x = tg_from_f64(tp, dt, 1, s, xv);
  ASSERT_OK(tp, x);
  double *r;
  r = values_of(tg_relu(tp, x));
  for (int i = 0; i < 6; i++)
    ck_assert(r[i] == (xv[i] > 0 ? xv[i] : 0));
  free(r);
  r = values_of(tg_abs(tp, x));
  for (int i = 0; i < 6; i++)
    ck_assert(r[i] == fabs(xv[i]));
  free(r);
  r = values_of(tg_exp(tp, x));
  ck_assert(r[0] == 1.0 && r[1] == 1.0);
  free(r);
  r = values_of(tg_sqrt(tp, x));
  ck_assert(r[0] == 0 && r[4] == 2.0 && r[5] == 0.5 && isnan(r[3]));
  free(r);
  r = values_of(tg_log(tp, x));
  ck_assert(isinf(r[0]) && r[0] < 0 && r[2] == 0 && isnan(r[3]));
  free(r);
  r = values_of(tg_sigmoid(tp, x));
  ck_assert(r[0] == 0.5);
  free(r);
  ck_assert_int_eq(tg_error(tp), TG_OK);
  tg_tape_free(tp);
}
END_TEST

/* sigmoid must not lose relative accuracy in its tails, nor give NaN. */
START_TEST(test_sigmoid_tails_accurate_and_finite) {
  tg_tape *tp = tape_new();
  /* Nine copies: eight go through the vector body, one through the tail. */
  const int64_t s[1] = {9};
  const double xs[] = {-30, -80, -700, 1000, -1000, 30};
  for (int k = 0; k < 2; k++) {
    tg_dtype dt = DTYPES[k];
    for (size_t j = 0; j < sizeof xs / sizeof xs[0]; j++) {
      double x = xs[j];
      if (dt == TG_F32 && x == -700) continue; /* below float range */
      tg_tensor *t = tg_full(tp, dt, 1, s, x);
      tg_tensor *y = tg_sigmoid(tp, t);
      ASSERT_OK(tp, y);
      double want = 1.0 / (1.0 + exp(-x));
      double tol = dt == TG_F32 ? 1e-5 : 1e-12;
      for (int64_t i = 0; i < 9; i++) {
        double g = tg_get_flat(y, i);
        ck_assert_msg(!isnan(g), "sigmoid(%g) is NaN (%s)", x,
                      tg_dtype_name(dt));
        ck_assert_msg(g >= 0 && g <= 1, "sigmoid(%g) = %g", x, g);
        if (want > 1e-300)
          ck_assert_msg(fabs(g - want) <= tol * want,
                        "sigmoid(%g) = %.9g, want %.9g (%s, [%lld])", x, g,
                        want, tg_dtype_name(dt), (long long)i);
        else
          ck_assert_msg(g <= 1e-300, "sigmoid(%g) = %g", x, g);
      }
    }
  }
  tg_tape_free(tp);
}
END_TEST

/* --- reductions ----------------------------------------------------------- */

enum { RED_SUM, RED_MEAN, RED_MAX };

static void check_reduce(tg_tape *tp, int kind, const arg_t *x, tg_dtype dt,
                         int n_axes, const int *axes, bool keepdim) {
  tg_tensor *out;
  if (kind == RED_SUM)
    out = tg_sum(tp, x->t, n_axes, axes, keepdim);
  else if (kind == RED_MEAN)
    out = tg_mean(tp, x->t, n_axes, axes, keepdim);
  else
    out = tg_max(tp, x->t, n_axes, axes, keepdim);
  ASSERT_OK(tp, out);
  ck_assert_int_eq(out->dtype, dt);
  bool red[TG_MAX_DIMS] = {false};
  for (int d = 0; d < x->nd; d++)
    red[d] = n_axes == 0;
  for (int i = 0; i < n_axes; i++)
    red[axes[i] < 0 ? axes[i] + x->nd : axes[i]] = true;
  int64_t kshape[TG_MAX_DIMS], oshape[TG_MAX_DIMS];
  int ond = 0;
  double count = 1;
  for (int d = 0; d < x->nd; d++) {
    kshape[d] = red[d] ? 1 : x->shape[d];
    if (red[d]) count *= (double)x->shape[d];
    if (!red[d] || keepdim) oshape[ond++] = kshape[d];
  }
  assert_shape(out, ond, oshape);
  int64_t on = numel_of(x->nd, kshape), n = numel_of(x->nd, x->shape);
  double *want = malloc(sizeof(double) * (size_t)on);
  double *mag = calloc((size_t)on, sizeof(double));
  ck_assert(want && mag);
  for (int64_t j = 0; j < on; j++)
    want[j] = kind == RED_MAX ? -INFINITY : 0;
  for (int64_t i = 0; i < n; i++) {
    int64_t idx[TG_MAX_DIMS];
    unravel(i, x->nd, x->shape, idx);
    int64_t j = 0;
    for (int d = 0; d < x->nd; d++)
      j = j * kshape[d] + (red[d] ? 0 : idx[d]);
    if (kind == RED_MAX) {
      if (x->v[i] > want[j]) want[j] = x->v[i];
    } else {
      want[j] += x->v[i];
      mag[j] += fabs(x->v[i]);
    }
  }
  for (int64_t j = 0; j < on; j++) {
    if (kind == RED_MEAN) want[j] /= count, mag[j] /= count;
    if (kind == RED_MAX) mag[j] = fabs(want[j]);
  }
  char what[160], ax[64] = "all";
  for (int i = 0, pos = 0; i < n_axes; i++)
    pos += snprintf(ax + pos, sizeof ax - (size_t)pos, "%s%d", i ? "," : "",
                    axes[i]);
  snprintf(what, sizeof what, "%s over (%s) keepdim=%d of [%lldx%lld...] (%s)",
           kind == RED_SUM    ? "sum"
           : kind == RED_MEAN ? "mean"
                              : "max",
           ax, (int)keepdim, (long long)x->shape[0],
           (long long)(x->nd > 1 ? x->shape[1] : 1), tg_dtype_name(dt));
  if (kind == RED_MAX)
    assert_equal(out, want, what);
  else
    assert_close(out, want, mag, rtol_of(dt), what);
  free(want);
  free(mag);
}

typedef struct {
  int n;
  int axes[3];
} axis_set;

static void check_reduce_all_sets(tg_tape *tp, const arg_t *x, tg_dtype dt,
                                  const axis_set *sets, int n_sets) {
  for (int kind = RED_SUM; kind <= RED_MAX; kind++)
    for (int s = 0; s < n_sets; s++)
      for (int k = 0; k < 2; k++)
        check_reduce(tp, kind, x, dt, sets[s].n, sets[s].axes, k == 1);
}

static const axis_set SETS3[] = {
    {0, {0}},    {1, {0}},       {1, {1}},        {1, {2}},
    {1, {-1}},   {1, {-3}},      {2, {0, 2}},     {2, {-1, -3}},
    {2, {2, 1}}, {3, {0, 1, 2}}, {3, {-1, 0, 1}},
};
static const axis_set SETS2[] = {
    {0, {0}},  {1, {0}},    {1, {1}},     {1, {-1}},
    {1, {-2}}, {2, {0, 1}}, {2, {-1, 0}},
};
#define N_SETS3 ((int)(sizeof SETS3 / sizeof SETS3[0]))
#define N_SETS2 ((int)(sizeof SETS2 / sizeof SETS2[0]))

START_TEST(test_reductions_over_axes_match_loops) {
  tg_dtype dt = DTYPES[_i];
  tg_tape *tp = tape_new();
  tg_rng rng;
  tg_rng_seed(&rng, 31);
  const int64_t s234[3] = {2, 3, 4}, s57[2] = {5, 7};
  arg_t a = arg_rand(tp, &rng, dt, 3, s234, -3, 3);
  arg_t b = arg_rand(tp, &rng, dt, 2, s57, -3, 3);
  check_reduce_all_sets(tp, &a, dt, SETS3, N_SETS3);
  check_reduce_all_sets(tp, &b, dt, SETS2, N_SETS2);
  /* Max of all-negative data (the initial value must not leak). */
  arg_t c = arg_rand(tp, &rng, dt, 2, s57, -9, -1);
  check_reduce_all_sets(tp, &c, dt, SETS2, N_SETS2);
  arg_free(&a);
  arg_free(&b);
  arg_free(&c);
  tg_tape_free(tp);
}
END_TEST

START_TEST(test_reductions_of_noncontiguous_views) {
  tg_dtype dt = DTYPES[_i];
  tg_tape *tp = tape_new();
  tg_rng rng;
  tg_rng_seed(&rng, 32);
  const int64_t s432[3] = {4, 3, 2}, s75[2] = {7, 5}, s17[2] = {1, 7};
  const int64_t s57[2] = {5, 7};
  const int perm[3] = {2, 1, 0};
  arg_t l1 = arg_rand(tp, &rng, dt, 3, s432, -3, 3);
  arg_t l2 = arg_rand(tp, &rng, dt, 2, s75, -3, 3);
  arg_t l3 = arg_rand(tp, &rng, dt, 2, s17, -3, 3);
  arg_t p = arg_permute(tp, &l1, perm);   /* [2,3,4] */
  arg_t t = arg_transpose(tp, &l2, 0, 1); /* [5,7] */
  arg_t e = arg_expand(tp, &l3, 2, s57);  /* [5,7], stride 0 rows */
  check_reduce_all_sets(tp, &p, dt, SETS3, N_SETS3);
  check_reduce_all_sets(tp, &t, dt, SETS2, N_SETS2);
  check_reduce_all_sets(tp, &e, dt, SETS2, N_SETS2);
  arg_t *all[] = {&l1, &l2, &l3, &p, &t, &e};
  for (int i = 0; i < 6; i++)
    arg_free(all[i]);
  tg_tape_free(tp);
}
END_TEST

START_TEST(test_sum_all_mean_all_are_0d) {
  tg_dtype dt = DTYPES[_i];
  tg_tape *tp = tape_new();
  tg_rng rng;
  tg_rng_seed(&rng, 33);
  const int64_t s[2] = {5, 7};
  arg_t a = arg_rand(tp, &rng, dt, 2, s, -1, 1);
  double sum = 0, mag = 0;
  for (int i = 0; i < 35; i++)
    sum += a.v[i], mag += fabs(a.v[i]);
  tg_tensor *ts = tg_sum_all(tp, a.t), *tm = tg_mean_all(tp, a.t);
  ASSERT_OK(tp, ts);
  ASSERT_OK(tp, tm);
  ck_assert_int_eq(ts->ndim, 0);
  ck_assert_int_eq(tm->ndim, 0);
  ck_assert(fabs(tg_item(ts) - sum) <= rtol_of(dt) * mag);
  ck_assert(fabs(tg_item(tm) - sum / 35) <= rtol_of(dt) * mag / 35);
  arg_free(&a);
  tg_tape_free(tp);
}
END_TEST

/* Accumulation: 1e6 copies of 0.1f must sum to 1e5 within 1e-4 relative,
 * over every axis at once and along either axis of a matrix. */
START_TEST(test_sum_f32_large_is_accurate) {
  tg_tape *tp = tape_new();
  const int64_t flat[1] = {1000000};
  const int64_t wide[2] = {4, 250000};
  const double v = (double)0.1f;
  tg_tensor *x = tg_full(tp, TG_F32, 1, flat, 0.1);
  tg_tensor *s = tg_sum_all(tp, x);
  ASSERT_OK(tp, s);
  double want = 1e6 * v;
  ck_assert_msg(fabs(tg_item(s) - want) <= 1e-4 * want,
                "sum of 1e6 x 0.1f = %.9g, want %.9g", tg_item(s), want);
  tg_tensor *m = tg_mean_all(tp, x);
  ASSERT_OK(tp, m);
  ck_assert_msg(fabs(tg_item(m) - v) <= 1e-4 * v, "mean = %.9g", tg_item(m));
  /* Along the long inner axis. */
  tg_tensor *w = tg_full(tp, TG_F32, 2, wide, 0.1);
  const int ax1[1] = {1};
  tg_tensor *sw = tg_sum(tp, w, 1, ax1, false);
  ASSERT_OK(tp, sw);
  for (int64_t i = 0; i < 4; i++)
    ck_assert_msg(fabs(tg_get_flat(sw, i) - 2.5e5 * v) <= 1e-4 * 2.5e5 * v,
                  "sum over axis 1 of [4,250000] of 0.1f: [%lld] = %.9g, "
                  "want %.9g",
                  (long long)i, tg_get_flat(sw, i), 2.5e5 * v);
  /* Over every axis of a transposed (non-contiguous) view. */
  const int64_t sq[2] = {1000, 1000};
  tg_tensor *q = tg_transpose(tp, tg_full(tp, TG_F32, 2, sq, 0.1), 0, 1);
  tg_tensor *sqs = tg_sum_all(tp, q);
  ASSERT_OK(tp, sqs);
  ck_assert_msg(fabs(tg_item(sqs) - want) <= 1e-4 * want,
                "sum of transposed [1000,1000] of 0.1f = %.9g, want %.9g",
                tg_item(sqs), want);
  tg_tape_free(tp);
}
END_TEST

/* The same along the long outer axis of [250000, 4]: each output element
 * gathers 250000 values that are 4 apart in memory. */
START_TEST(test_sum_f32_large_outer_axis_is_accurate) {
  tg_tape *tp = tape_new();
  const int64_t tall[2] = {250000, 4};
  const double v = (double)0.1f;
  tg_tensor *t = tg_full(tp, TG_F32, 2, tall, 0.1);
  const int ax0[1] = {0};
  tg_tensor *st = tg_sum(tp, t, 1, ax0, false);
  ASSERT_OK(tp, st);
  for (int64_t i = 0; i < 4; i++)
    ck_assert_msg(fabs(tg_get_flat(st, i) - 2.5e5 * v) <= 1e-4 * 2.5e5 * v,
                  "sum over axis 0 of [250000,4] of 0.1f: [%lld] = %.9g, "
                  "want %.9g",
                  (long long)i, tg_get_flat(st, i), 2.5e5 * v);
  tg_tape_free(tp);
}
END_TEST

/* Every element of a transposed [4, 250000] view: the innermost run of the
 * view has only 4 elements, so the total gathers 250000 partial sums. */
START_TEST(test_sum_all_f32_transposed_short_rows_is_accurate) {
  tg_tape *tp = tape_new();
  const int64_t wide[2] = {4, 250000};
  const double want = 1e6 * (double)0.1f;
  tg_tensor *t = tg_transpose(tp, tg_full(tp, TG_F32, 2, wide, 0.1), 0, 1);
  tg_tensor *s = tg_sum_all(tp, t);
  ASSERT_OK(tp, s);
  ck_assert_msg(fabs(tg_item(s) - want) <= 1e-4 * want,
                "sum of transposed [4,250000] of 0.1f = %.9g, want %.9g",
                tg_item(s), want);
  tg_tape_free(tp);
}
END_TEST

/* --- matmul --------------------------------------------------------------- */

static void check_matmul(tg_tape *tp, const arg_t *a, const arg_t *b,
                         tg_dtype dt, const char *what) {
  tg_tensor *out = tg_matmul(tp, a->t, b->t);
  ASSERT_OK(tp, out);
  ck_assert_int_eq(out->dtype, dt);
  int64_t m = a->shape[a->nd - 2], k = a->shape[a->nd - 1];
  int64_t n = b->shape[b->nd - 1];
  ck_assert_int_eq(b->shape[b->nd - 2], k);
  int64_t shape[TG_MAX_DIMS];
  int bnd = bcast_shape(a->nd - 2, a->shape, b->nd - 2, b->shape, shape);
  shape[bnd] = m;
  shape[bnd + 1] = n;
  assert_shape(out, bnd + 2, shape);
  ck_assert(tg_is_contiguous(out));
  int64_t batch = numel_of(bnd, shape);
  double *want = malloc(sizeof(double) * (size_t)(batch * m * n + 1));
  double *mag = malloc(sizeof(double) * (size_t)(batch * m * n + 1));
  ck_assert(want && mag);
  for (int64_t q = 0; q < batch; q++) {
    int64_t idx[TG_MAX_DIMS];
    unravel(q, bnd, shape, idx);
    const double *am = a->v + bcast_off(idx, bnd, a->nd - 2, a->shape) * m * k;
    const double *bm = b->v + bcast_off(idx, bnd, b->nd - 2, b->shape) * k * n;
    for (int64_t i = 0; i < m; i++)
      for (int64_t j = 0; j < n; j++) {
        double s = 0, g = 0;
        for (int64_t l = 0; l < k; l++) {
          s += am[i * k + l] * bm[l * n + j];
          g += fabs(am[i * k + l] * bm[l * n + j]);
        }
        want[(q * m + i) * n + j] = s;
        mag[(q * m + i) * n + j] = g;
      }
  }
  char msg[160];
  snprintf(msg, sizeof msg, "matmul %s (%s)", what, tg_dtype_name(dt));
  assert_close(out, want, mag, rtol_of(dt), msg);
  free(want);
  free(mag);
}

/* Plain leaves of the given shapes, multiplied. */
static void matmul_leaves(tg_tape *tp, tg_rng *rng, tg_dtype dt, int na,
                          const int64_t *sa, int nb, const int64_t *sb,
                          const char *what) {
  arg_t a = arg_rand(tp, rng, dt, na, sa, -1, 1);
  arg_t b = arg_rand(tp, rng, dt, nb, sb, -1, 1);
  check_matmul(tp, &a, &b, dt, what);
  arg_free(&a);
  arg_free(&b);
}

START_TEST(test_matmul_2d_batched_broadcast) {
  tg_dtype dt = DTYPES[_i];
  tg_tape *tp = tape_new();
  tg_rng rng;
  tg_rng_seed(&rng, 41);
  {
    const int64_t a[2] = {3, 4}, b[2] = {4, 5};
    matmul_leaves(tp, &rng, dt, 2, a, 2, b, "[3,4]@[4,5]");
  }
  {
    const int64_t a[3] = {2, 3, 4}, b[3] = {2, 4, 5};
    matmul_leaves(tp, &rng, dt, 3, a, 3, b, "[2,3,4]@[2,4,5]");
  }
  {
    const int64_t a[3] = {2, 3, 4}, b[2] = {4, 5};
    matmul_leaves(tp, &rng, dt, 3, a, 2, b, "[2,3,4]@[4,5]");
  }
  {
    const int64_t a[2] = {3, 4}, b[3] = {2, 4, 5};
    matmul_leaves(tp, &rng, dt, 2, a, 3, b, "[3,4]@[2,4,5]");
  }
  {
    const int64_t a[4] = {2, 1, 3, 4}, b[4] = {1, 3, 4, 2};
    matmul_leaves(tp, &rng, dt, 4, a, 4, b, "[2,1,3,4]@[1,3,4,2]");
  }
  {
    const int64_t a[3] = {1, 3, 4}, b[3] = {5, 4, 2};
    matmul_leaves(tp, &rng, dt, 3, a, 3, b, "[1,3,4]@[5,4,2]");
  }
  {
    const int64_t a[4] = {3, 2, 5, 6}, b[2] = {6, 7};
    matmul_leaves(tp, &rng, dt, 4, a, 2, b, "[3,2,5,6]@[6,7]");
  }
  {
    const int64_t a[2] = {33, 65}, b[2] = {65, 17};
    matmul_leaves(tp, &rng, dt, 2, a, 2, b, "[33,65]@[65,17]");
  }
  ck_assert_int_eq(tg_error(tp), TG_OK);
  tg_tape_free(tp);
}
END_TEST

START_TEST(test_matmul_unit_and_odd_sizes) {
  tg_dtype dt = DTYPES[_i];
  tg_tape *tp = tape_new();
  tg_rng rng;
  tg_rng_seed(&rng, 42);
  const int64_t s17[2] = {1, 7}, s71[2] = {7, 1}, s131[2] = {13, 1};
  const int64_t s19[2] = {1, 9}, s11[2] = {1, 1}, s13[2] = {1, 3};
  const int64_t s3x1[2] = {3, 1}, s315[3] = {3, 1, 5}, s35[3] = {3, 5, 1};
  matmul_leaves(tp, &rng, dt, 2, s17, 2, s71, "[1,7]@[7,1]");
  matmul_leaves(tp, &rng, dt, 2, s71, 2, s17, "[7,1]@[1,7]");
  matmul_leaves(tp, &rng, dt, 2, s131, 2, s19, "[13,1]@[1,9]");
  matmul_leaves(tp, &rng, dt, 2, s11, 2, s11, "[1,1]@[1,1]");
  matmul_leaves(tp, &rng, dt, 2, s13, 2, s3x1, "[1,3]@[3,1]");
  matmul_leaves(tp, &rng, dt, 3, s315, 3, s35, "[3,1,5]@[3,5,1]");
  /* Empty inner and outer sides: zeros and an empty result. */
  const int64_t s20[2] = {2, 0}, s03[2] = {0, 3}, s32[2] = {3, 2};
  matmul_leaves(tp, &rng, dt, 2, s20, 2, s03, "[2,0]@[0,3]");
  matmul_leaves(tp, &rng, dt, 2, s03, 2, s32, "[0,3]@[3,2]");
  ck_assert_int_eq(tg_error(tp), TG_OK);
  tg_tape_free(tp);
}
END_TEST

START_TEST(test_matmul_transposed_view_operands) {
  tg_dtype dt = DTYPES[_i];
  tg_tape *tp = tape_new();
  tg_rng rng;
  tg_rng_seed(&rng, 43);
  const int64_t s43[2] = {4, 3}, s45[2] = {4, 5}, s54[2] = {5, 4};
  const int64_t s34[2] = {3, 4}, s243[3] = {2, 4, 3}, s254[3] = {2, 5, 4};
  const int64_t s71[2] = {7, 1}, s17[2] = {1, 7}, s91[2] = {9, 1};
  arg_t la = arg_rand(tp, &rng, dt, 2, s43, -1, 1);
  arg_t lb = arg_rand(tp, &rng, dt, 2, s54, -1, 1);
  arg_t a = arg_rand(tp, &rng, dt, 2, s34, -1, 1);
  arg_t b = arg_rand(tp, &rng, dt, 2, s45, -1, 1);
  arg_t at = arg_transpose(tp, &la, 0, 1);   /* [3,4] */
  arg_t bt = arg_transpose(tp, &lb, -1, -2); /* [4,5] */
  check_matmul(tp, &at, &b, dt, "a^T @ b");
  check_matmul(tp, &a, &bt, dt, "a @ b^T");
  check_matmul(tp, &at, &bt, dt, "a^T @ b^T");
  /* Batched transposes. */
  arg_t l3a = arg_rand(tp, &rng, dt, 3, s243, -1, 1);
  arg_t l3b = arg_rand(tp, &rng, dt, 3, s254, -1, 1);
  arg_t a3 = arg_transpose(tp, &l3a, -1, -2); /* [2,3,4] */
  arg_t b3 = arg_transpose(tp, &l3b, 1, 2);   /* [2,4,5] */
  check_matmul(tp, &a3, &b3, dt, "batched a^T @ b^T");
  check_matmul(tp, &a3, &b, dt, "batched a^T @ shared b");
  check_matmul(tp, &a, &b3, dt, "shared a @ batched b^T");
  /* Transposed vectors: [1,7] from [7,1] and [7,1] from [1,7]. */
  arg_t lc = arg_rand(tp, &rng, dt, 2, s71, -1, 1);
  arg_t ld = arg_rand(tp, &rng, dt, 2, s17, -1, 1);
  arg_t le = arg_rand(tp, &rng, dt, 2, s91, -1, 1);
  arg_t ct = arg_transpose(tp, &lc, 0, 1);  /* [1,7] */
  arg_t dtt = arg_transpose(tp, &ld, 0, 1); /* [7,1] */
  arg_t et = arg_transpose(tp, &le, 0, 1);  /* [1,9] */
  check_matmul(tp, &ct, &dtt, dt, "[7,1]^T @ [1,7]^T");
  check_matmul(tp, &dtt, &ct, dt, "[1,7]^T @ [7,1]^T");
  check_matmul(tp, &lc, &et, dt, "[7,1] @ [9,1]^T");
  arg_t *all[] = {&la, &lb, &a,  &b,  &at, &bt, &l3a, &l3b,
                  &a3, &b3, &lc, &ld, &le, &ct, &dtt, &et};
  for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
    arg_free(all[i]);
  tg_tape_free(tp);
}
END_TEST

START_TEST(test_matmul_noncontiguous_operands_copied) {
  tg_dtype dt = DTYPES[_i];
  tg_tape *tp = tape_new();
  tg_rng rng;
  tg_rng_seed(&rng, 44);
  /* [3,5,2] permuted (2,0,1) is [2,3,5] with strides (1,10,2): its
   * matrices have neither a unit row nor a unit column stride. */
  const int64_t s352[3] = {3, 5, 2}, s54[2] = {5, 4}, s435[3] = {4, 3, 5};
  const int64_t s134[3] = {1, 3, 4}, s234[3] = {2, 3, 4};
  const int64_t s42[2] = {4, 2}, s325[3] = {3, 2, 5};
  const int64_t s432[3] = {4, 3, 2};
  const int perm[3] = {2, 0, 1}, perm2[3] = {1, 2, 0};
  arg_t l1 = arg_rand(tp, &rng, dt, 3, s352, -1, 1);
  arg_t p1 = arg_permute(tp, &l1, perm);
  ck_assert_int_ne(p1.t->strides[1], 1);
  ck_assert_int_ne(p1.t->strides[2], 1);
  arg_t b = arg_rand(tp, &rng, dt, 2, s54, -1, 1);
  check_matmul(tp, &p1, &b, dt, "permuted a [2,3,5] @ [5,4]");
  /* The same kind of operand on the right, and on both sides. */
  arg_t l2 = arg_rand(tp, &rng, dt, 3, s325, -1, 1);
  arg_t p2 = arg_permute(tp, &l2, perm); /* [5,3,2], strides (1,10,5) */
  arg_t l3 = arg_rand(tp, &rng, dt, 3, s435, -1, 1);
  arg_t p3 = arg_permute(tp, &l3, perm); /* [5,4,3], strides (1,15,5) */
  check_matmul(tp, &p3, &p2, dt, "permuted [5,4,3] @ permuted [5,3,2]");
  /* A permuted operand whose matrices are column-major: no copy needed. */
  arg_t a = arg_rand(tp, &rng, dt, 2, s42, -1, 1);
  arg_t l4 = arg_rand(tp, &rng, dt, 3, s352, -1, 1);
  arg_t p4 = arg_permute(tp, &l4, perm2); /* [5,2,3], strides (2,1,10) */
  check_matmul(tp, &a, &p4, dt, "[4,2] @ permuted [5,2,3]");
  /* An expanded batch (stride 0) on the left. */
  arg_t l5 = arg_rand(tp, &rng, dt, 3, s134, -1, 1);
  arg_t e5 = arg_expand(tp, &l5, 3, s234);
  arg_t bb = arg_rand(tp, &rng, dt, 2, s42, -1, 1);
  check_matmul(tp, &e5, &bb, dt, "expanded batch @ [4,2]");
  arg_t l6 = arg_rand(tp, &rng, dt, 3, s432, -1, 1);
  arg_t p6 = arg_permute(tp, &l6, perm); /* [2,4,3], strides (1,6,2) */
  check_matmul(tp, &e5, &p6, dt, "expanded [2,3,4] @ permuted [2,4,3]");
  /* Row and column vectors with a non-unit stride along their length:
   * [7,1,2] permuted to [2,1,7] (strides 1,2,2) and [2,7,1] (1,2,2). */
  const int64_t s712[3] = {7, 1, 2};
  const int prow[3] = {2, 1, 0}, pcol[3] = {2, 0, 1};
  arg_t l7 = arg_rand(tp, &rng, dt, 3, s712, -1, 1);
  arg_t l8 = arg_rand(tp, &rng, dt, 3, s712, -1, 1);
  arg_t row = arg_permute(tp, &l7, prow);
  arg_t col = arg_permute(tp, &l8, pcol);
  check_matmul(tp, &row, &col, dt, "strided [2,1,7] @ strided [2,7,1]");
  check_matmul(tp, &col, &row, dt, "strided [2,7,1] @ strided [2,1,7]");
  arg_t *all[] = {&l1, &p1, &b,  &l2, &p2, &l3, &p3, &a,   &l4, &p4,
                  &l5, &e5, &bb, &l6, &p6, &l7, &l8, &row, &col};
  for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
    arg_free(all[i]);
  tg_tape_free(tp);
}
END_TEST

/* --- movement ------------------------------------------------------------- */

START_TEST(test_reshape_contiguous_is_view_with_inferred_axis) {
  tg_dtype dt = DTYPES[_i];
  tg_tape *tp = tape_new();
  tg_rng rng;
  tg_rng_seed(&rng, 51);
  const int64_t s234[3] = {2, 3, 4};
  arg_t x = arg_rand(tp, &rng, dt, 3, s234, -1, 1);
  const int64_t want1[2] = {6, 4}, want2[3] = {4, 2, 3}, want3[1] = {24};
  const int64_t m1[2] = {-1, 4}, m2[3] = {4, -1, 3}, m3[1] = {-1};
  tg_tensor *r1 = tg_reshape(tp, x.t, 2, m1);
  tg_tensor *r2 = tg_reshape(tp, x.t, 3, m2);
  tg_tensor *r3 = tg_reshape(tp, x.t, 1, m3);
  tg_tensor *r4 = tg_reshape(tp, x.t, 2, want1);
  ASSERT_OK(tp, r4);
  assert_shape(r1, 2, want1);
  assert_shape(r2, 3, want2);
  assert_shape(r3, 1, want3);
  tg_tensor *rs[4] = {r1, r2, r3, r4};
  for (int i = 0; i < 4; i++) {
    ck_assert_ptr_eq(rs[i]->data, x.t->data);
    ck_assert(tg_is_contiguous(rs[i]));
    assert_equal(rs[i], x.v, "reshape keeps row-major order");
  }
  /* Reshape to 0-d and back. */
  const int64_t one[1] = {1};
  tg_tensor *s = tg_scalar(tp, dt, 2.5);
  tg_tensor *s1 = tg_reshape(tp, s, 1, one);
  tg_tensor *s0 = tg_reshape(tp, s1, 0, NULL);
  ASSERT_OK(tp, s0);
  ck_assert_int_eq(s1->ndim, 1);
  ck_assert_int_eq(s0->ndim, 0);
  ck_assert(tg_item(s0) == 2.5);
  arg_free(&x);
  tg_tape_free(tp);
}
END_TEST

START_TEST(test_reshape_of_noncontiguous_copies_logical_order) {
  tg_dtype dt = DTYPES[_i];
  tg_tape *tp = tape_new();
  tg_rng rng;
  tg_rng_seed(&rng, 52);
  const int64_t s34[2] = {3, 4}, s234[3] = {2, 3, 4};
  arg_t l = arg_rand(tp, &rng, dt, 2, s34, -1, 1);
  arg_t t = arg_transpose(tp, &l, 0, 1); /* [4,3] */
  const int64_t flat[1] = {12}, s26[2] = {2, -1}, w26[2] = {2, 6};
  tg_tensor *r = tg_reshape(tp, t.t, 1, flat);
  tg_tensor *r2 = tg_reshape(tp, t.t, 2, s26);
  ASSERT_OK(tp, r2);
  assert_shape(r, 1, flat);
  assert_shape(r2, 2, w26);
  ck_assert(tg_is_contiguous(r));
  assert_equal(r, t.v, "reshape of transposed");
  assert_equal(r2, t.v, "reshape of transposed to [2,-1]");
  /* Of a permuted 3-D view. */
  const int perm[3] = {2, 0, 1};
  arg_t l3 = arg_rand(tp, &rng, dt, 3, s234, -1, 1);
  arg_t p = arg_permute(tp, &l3, perm); /* [4,2,3] */
  const int64_t s83[2] = {8, 3};
  tg_tensor *r3 = tg_reshape(tp, p.t, 2, s83);
  ASSERT_OK(tp, r3);
  assert_shape(r3, 2, s83);
  assert_equal(r3, p.v, "reshape of permuted");
  /* Of an expanded view. */
  const int64_t s14[2] = {1, 4}, s34b[2] = {3, 4}, s12[1] = {12};
  arg_t l4 = arg_rand(tp, &rng, dt, 2, s14, -1, 1);
  arg_t e = arg_expand(tp, &l4, 2, s34b);
  tg_tensor *r4 = tg_reshape(tp, e.t, 1, s12);
  ASSERT_OK(tp, r4);
  assert_equal(r4, e.v, "reshape of expanded");
  arg_t *all[] = {&l, &t, &l3, &p, &l4, &e};
  for (int i = 0; i < 6; i++)
    arg_free(all[i]);
  tg_tape_free(tp);
}
END_TEST

START_TEST(test_permute_transpose_are_views_with_right_values) {
  tg_dtype dt = DTYPES[_i];
  tg_tape *tp = tape_new();
  tg_rng rng;
  tg_rng_seed(&rng, 53);
  const int64_t s[4] = {2, 3, 4, 5};
  arg_t x = arg_rand(tp, &rng, dt, 4, s, -1, 1);
  const int perms[4][4] = {
      {0, 1, 2, 3}, {3, 2, 1, 0}, {1, 3, 0, 2}, {2, 0, 3, 1}};
  for (int q = 0; q < 4; q++) {
    arg_t p = arg_permute(tp, &x, perms[q]);
    ck_assert_ptr_eq(p.t->data, x.t->data);
    for (int d = 0; d < 4; d++) {
      ck_assert_int_eq(p.t->shape[d], s[perms[q][d]]);
      ck_assert_int_eq(p.t->strides[d], x.t->strides[perms[q][d]]);
    }
    assert_equal(p.t, p.v, "permute");
    /* tg_get and tg_get_flat read through the strides. */
    for (int64_t i = 0; i < 120; i += 7) {
      int64_t idx[4];
      unravel(i, 4, p.shape, idx);
      ck_assert(tg_get(p.t, idx) == p.v[i]);
      ck_assert(tg_get_flat(p.t, i) == p.v[i]);
    }
    /* Made contiguous: a copy with the same values. */
    tg_tensor *c = tg_contiguous(tp, p.t);
    ASSERT_OK(tp, c);
    ck_assert(tg_is_contiguous(c));
    if (q > 0) ck_assert_ptr_ne(c->data, x.t->data);
    assert_equal(c, p.v, "contiguous of permute");
    arg_free(&p);
  }
  /* transpose with negative axes equals the matching permute. */
  arg_t t = arg_transpose(tp, &x, -1, 1);
  ck_assert_ptr_eq(t.t->data, x.t->data);
  const int64_t ts[4] = {2, 5, 4, 3};
  assert_shape(t.t, 4, ts);
  assert_equal(t.t, t.v, "transpose(-1, 1)");
  /* Transposing twice gives the original layout back. */
  tg_tensor *tt = tg_transpose(tp, t.t, 1, -1);
  ASSERT_OK(tp, tt);
  ck_assert(tg_is_contiguous(tt));
  assert_equal(tt, x.v, "transpose twice");
  arg_free(&t);
  arg_free(&x);
  tg_tape_free(tp);
}
END_TEST

START_TEST(test_expand_broadcasts_with_zero_strides) {
  tg_dtype dt = DTYPES[_i];
  tg_tape *tp = tape_new();
  tg_rng rng;
  tg_rng_seed(&rng, 54);
  const int64_t s31[2] = {3, 1}, to[3] = {2, 3, 4};
  arg_t x = arg_rand(tp, &rng, dt, 2, s31, -1, 1);
  arg_t e = arg_expand(tp, &x, 3, to);
  assert_shape(e.t, 3, to);
  ck_assert_ptr_eq(e.t->data, x.t->data);
  ck_assert_int_eq(e.t->strides[0], 0);
  ck_assert_int_eq(e.t->strides[2], 0);
  ck_assert(!tg_is_contiguous(e.t));
  assert_equal(e.t, e.v, "expand [3,1] -> [2,3,4]");
  tg_tensor *c = tg_contiguous(tp, e.t);
  ASSERT_OK(tp, c);
  ck_assert(tg_is_contiguous(c));
  assert_equal(c, e.v, "contiguous of expand");
  /* A 0-d tensor expands to any shape; expand to its own shape is a no-op
   * in values. */
  tg_tensor *s = tg_scalar(tp, dt, -1.5);
  tg_tensor *se = tg_expand(tp, s, 3, to);
  ASSERT_OK(tp, se);
  assert_shape(se, 3, to);
  for (int64_t i = 0; i < se->numel; i++)
    ck_assert(tg_get_flat(se, i) == -1.5);
  tg_tensor *same = tg_expand(tp, x.t, 2, s31);
  ASSERT_OK(tp, same);
  assert_equal(same, x.v, "expand to own shape");
  arg_free(&x);
  arg_free(&e);
  tg_tape_free(tp);
}
END_TEST

START_TEST(test_contiguous_of_contiguous_is_identity) {
  tg_dtype dt = DTYPES[_i];
  tg_tape *tp = tape_new();
  const int64_t s[2] = {3, 5};
  tg_tensor *x = tg_ones(tp, dt, 2, s);
  tg_tensor *c = tg_contiguous(tp, x);
  ASSERT_OK(tp, c);
  ck_assert_ptr_eq(c, x);
  ck_assert_int_eq(x->strides[0], 5);
  ck_assert_int_eq(x->strides[1], 1);
  tg_tape_free(tp);
}
END_TEST

/* --- creation ------------------------------------------------------------- */

START_TEST(test_zeros_ones_full_scalar_values_and_shapes) {
  tg_dtype dt = DTYPES[_i];
  tg_tape *tp = tape_new();
  const int64_t s[3] = {2, 3, 5};
  tg_tensor *z = tg_zeros(tp, dt, 3, s);
  tg_tensor *o = tg_ones(tp, dt, 3, s);
  tg_tensor *f = tg_full(tp, dt, 3, s, -2.25);
  tg_tensor *c = tg_scalar(tp, dt, 7.5);
  ASSERT_OK(tp, c);
  tg_tensor *ts[3] = {z, o, f};
  const double vals[3] = {0, 1, -2.25};
  for (int k = 0; k < 3; k++) {
    assert_shape(ts[k], 3, s);
    ck_assert_int_eq(ts[k]->dtype, dt);
    ck_assert(tg_is_contiguous(ts[k]));
    ck_assert_int_eq(ts[k]->strides[0], 15);
    ck_assert_int_eq(ts[k]->strides[1], 5);
    ck_assert_int_eq(ts[k]->strides[2], 1);
    for (int64_t i = 0; i < 30; i++)
      ck_assert(tg_get_flat(ts[k], i) == vals[k]);
  }
  ck_assert_int_eq(c->ndim, 0);
  ck_assert_int_eq(c->numel, 1);
  ck_assert(tg_item(c) == 7.5);
  /* Empty tensors. */
  const int64_t e[2] = {0, 4};
  tg_tensor *ez = tg_zeros(tp, dt, 2, e);
  ASSERT_OK(tp, ez);
  ck_assert_int_eq(ez->numel, 0);
  /* f32 stores the rounded value. */
  if (dt == TG_F32) {
    tg_tensor *t = tg_full(tp, dt, 3, s, 0.1);
    ck_assert(tg_get_flat(t, 29) == (double)0.1f);
  }
  tg_tape_free(tp);
}
END_TEST

START_TEST(test_from_buffer_copies_and_wrap_buffer_aliases) {
  tg_tape *tp = tape_new();
  const int64_t s[2] = {2, 3};
  double d[6] = {1, -2, 3.5, 4, 5, -6.25};
  float f[6] = {1.5f, -2, 3, 0.1f, 5, 6};
  tg_tensor *td = tg_from_buffer(tp, TG_F64, 2, s, d);
  tg_tensor *tf = tg_from_buffer(tp, TG_F32, 2, s, f);
  tg_tensor *wd = tg_wrap_buffer(tp, TG_F64, 2, s, d);
  tg_tensor *wf = tg_wrap_buffer(tp, TG_F32, 2, s, f);
  ASSERT_OK(tp, wf);
  assert_shape(td, 2, s);
  assert_shape(wf, 2, s);
  ck_assert_ptr_ne(td->data, d);
  ck_assert_ptr_ne(tf->data, f);
  ck_assert_ptr_eq(wd->data, d);
  ck_assert_ptr_eq(wf->data, f);
  for (int i = 0; i < 6; i++) {
    ck_assert(tg_get_flat(td, i) == d[i]);
    ck_assert(tg_get_flat(tf, i) == (double)f[i]);
    ck_assert(tg_get_flat(wd, i) == d[i]);
    ck_assert(tg_get_flat(wf, i) == (double)f[i]);
  }
  double old0 = d[0];
  float oldf = f[5];
  d[0] = 100;
  f[5] = -100;
  ck_assert(tg_get_flat(td, 0) == old0); /* a copy */
  ck_assert(tg_get_flat(tf, 5) == oldf);
  ck_assert(tg_get_flat(wd, 0) == 100); /* an alias */
  ck_assert(tg_get_flat(wf, 5) == -100);
  /* An op over a wrapped buffer reads the current values. */
  tg_tensor *y = tg_mul_scalar(tp, wd, 2);
  ASSERT_OK(tp, y);
  ck_assert(tg_get_flat(y, 0) == 200);
  tg_tape_free(tp);
}
END_TEST

START_TEST(test_from_f64_converts_to_dtype) {
  tg_tape *tp = tape_new();
  const int64_t s[1] = {5};
  const double v[5] = {0.1, 1.0 / 3, -1e-3, 1e30, 16777217.0};
  tg_tensor *a = tg_from_f64(tp, TG_F32, 1, s, v);
  tg_tensor *b = tg_from_f64(tp, TG_F64, 1, s, v);
  tg_tensor *c = tg_from_f64(tp, TG_F64, 0, NULL, v + 1);
  ASSERT_OK(tp, c);
  ck_assert_int_eq(a->dtype, TG_F32);
  for (int i = 0; i < 5; i++) {
    ck_assert(tg_get_flat(a, i) == (double)(float)v[i]);
    ck_assert(tg_get_flat(b, i) == v[i]);
  }
  ck_assert_int_eq(c->ndim, 0);
  ck_assert(tg_item(c) == v[1]);
  float raw[5];
  ck_assert_int_eq(tg_copy_out(a, raw), TG_OK);
  for (int i = 0; i < 5; i++)
    ck_assert(raw[i] == (float)v[i]);
  tg_tape_free(tp);
}
END_TEST

/* arange(start, stop, step) against the count ceil((stop-start)/step). */
static void check_arange(tg_tape *tp, tg_dtype dt, double start, double stop,
                         double step) {
  tg_tensor *t = tg_arange(tp, dt, start, stop, step);
  ASSERT_OK(tp, t);
  ck_assert_int_eq(t->ndim, 1);
  int64_t n = 0;
  if (step > 0)
    while (start + (double)n * step < stop)
      n++;
  else
    while (start + (double)n * step > stop)
      n++;
  ck_assert_msg(t->numel == n,
                "arange(%g, %g, %g) has %lld elements, "
                "want %lld",
                start, stop, step, (long long)t->numel, (long long)n);
  for (int64_t i = 0; i < n; i++) {
    double want = start + (double)i * step;
    if (dt == TG_F32) want = (float)want;
    ck_assert_msg(tg_get_flat(t, i) == want, "arange(%g, %g, %g)[%lld] = %g",
                  start, stop, step, (long long)i, tg_get_flat(t, i));
  }
}

START_TEST(test_arange_steps_negative_and_empty) {
  tg_dtype dt = DTYPES[_i];
  tg_tape *tp = tape_new();
  check_arange(tp, dt, 0, 5, 1);
  check_arange(tp, dt, 0, 1, 0.25);
  check_arange(tp, dt, -3, 4, 2);
  check_arange(tp, dt, 5, 0, -1.5);
  check_arange(tp, dt, 2, -2, -1);
  check_arange(tp, dt, 1, 2, 0.3);
  check_arange(tp, dt, 3, 3, 1);  /* empty */
  check_arange(tp, dt, 3, 0, 1);  /* empty: wrong direction */
  check_arange(tp, dt, 0, 3, -1); /* empty: wrong direction */
  tg_tensor *e = tg_arange(tp, dt, 3, 3, 1);
  ASSERT_OK(tp, e);
  ck_assert_int_eq(e->numel, 0);
  ck_assert_int_eq(e->shape[0], 0);
  tg_tape_free(tp);
}
END_TEST

START_TEST(test_rand_uniform_within_bounds_mean_centered) {
  tg_dtype dt = DTYPES[_i];
  tg_tape *tp = tape_new();
  const int64_t s[1] = {100000};
  const double lo = -2, hi = 3;
  tg_tensor *t = tg_rand_uniform(tp, dt, 1, s, lo, hi);
  ASSERT_OK(tp, t);
  assert_shape(t, 1, s);
  double *v = values_of(t), sum = 0, mn = INFINITY, mx = -INFINITY;
  for (int64_t i = 0; i < s[0]; i++) {
    ck_assert_msg(v[i] >= lo && v[i] <= hi, "draw %g out of [%g, %g)", v[i], lo,
                  hi);
    if (dt == TG_F64) ck_assert(v[i] < hi);
    sum += v[i];
    if (v[i] < mn) mn = v[i];
    if (v[i] > mx) mx = v[i];
  }
  double mean = sum / (double)s[0];
  /* Standard error is 5 / sqrt(12 * 1e5) = 0.0046. */
  ck_assert_msg(fabs(mean - 0.5) < 0.025, "mean %g", mean);
  ck_assert(mn < lo + 0.01 && mx > hi - 0.01); /* spans the range */
  free(v);
  tg_tape_free(tp);
}
END_TEST

START_TEST(test_rand_normal_mean_and_std) {
  tg_dtype dt = DTYPES[_i];
  tg_tape *tp = tape_new();
  const int64_t s[2] = {1000, 100};
  const double mus[2] = {0, 3}, sds[2] = {1, 2};
  for (int k = 0; k < 2; k++) {
    tg_tensor *t = tg_rand_normal(tp, dt, 2, s, mus[k], sds[k]);
    ASSERT_OK(tp, t);
    double *v = values_of(t), sum = 0, sq = 0;
    int64_t n = t->numel;
    for (int64_t i = 0; i < n; i++) {
      ck_assert(isfinite(v[i]));
      sum += v[i];
    }
    double mean = sum / (double)n;
    for (int64_t i = 0; i < n; i++)
      sq += (v[i] - mean) * (v[i] - mean);
    double sd = sqrt(sq / (double)(n - 1));
    /* Standard errors: sd / 316 for the mean, sd / 447 for the std. */
    ck_assert_msg(fabs(mean - mus[k]) < 0.02 * sds[k], "mean %g", mean);
    ck_assert_msg(fabs(sd - sds[k]) < 0.02 * sds[k], "std %g", sd);
    free(v);
  }
  tg_tape_free(tp);
}
END_TEST

START_TEST(test_tape_seed_reproduces_random_tensors) {
  tg_dtype dt = DTYPES[_i];
  const int64_t s[1] = {257};
  tg_tape *a = tape_new(), *b = tape_new();
  tg_tape_seed(a, 7);
  tg_tape_seed(b, 7);
  tg_tensor *ua = tg_rand_uniform(a, dt, 1, s, 0, 1);
  tg_tensor *na = tg_rand_normal(a, dt, 1, s, 0, 1);
  tg_tensor *ub = tg_rand_uniform(b, dt, 1, s, 0, 1);
  tg_tensor *nb = tg_rand_normal(b, dt, 1, s, 0, 1);
  ASSERT_OK(a, na);
  ASSERT_OK(b, nb);
  double *va = values_of(ua), *vb = values_of(ub);
  double *wa = values_of(na), *wb = values_of(nb);
  ck_assert(memcmp(va, vb, sizeof(double) * 257) == 0);
  ck_assert(memcmp(wa, wb, sizeof(double) * 257) == 0);
  /* Another seed gives other numbers. */
  tg_tape_seed(b, 8);
  tg_tensor *uc = tg_rand_uniform(b, dt, 1, s, 0, 1);
  ASSERT_OK(b, uc);
  double *vc = values_of(uc);
  int same = 0;
  for (int i = 0; i < 257; i++)
    same += va[i] == vc[i];
  ck_assert_int_lt(same, 5);
  /* Reseeding restarts the stream. */
  tg_tape_seed(a, 7);
  tg_tensor *ud = tg_rand_uniform(a, dt, 1, s, 0, 1);
  ASSERT_OK(a, ud);
  double *vd = values_of(ud);
  ck_assert(memcmp(va, vd, sizeof(double) * 257) == 0);
  /* The tape's generator is the one tg_tape_rng hands out. */
  tg_tape_seed(a, 9);
  tg_rng copy = *tg_tape_rng(a);
  tg_tensor *ue = tg_rand_uniform(a, TG_F64, 1, s, 0, 1);
  ASSERT_OK(a, ue);
  for (int64_t i = 0; i < 257; i++)
    ck_assert(tg_get_flat(ue, i) == tg_rng_uniform(&copy));
  free(va), free(vb), free(wa), free(wb), free(vc), free(vd);
  tg_tape_free(a);
  tg_tape_free(b);
}
END_TEST

/* splitmix64 and xoshiro256**, written out from the published algorithms
 * (Vigna), to check tg_rng against. */
static uint64_t ref_splitmix(uint64_t *x) {
  uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

static uint64_t ref_rotl(uint64_t x, int k) {
  return (x << k) | (x >> (64 - k));
}

static uint64_t ref_xoshiro(uint64_t s[4]) {
  uint64_t r = ref_rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
  s[2] ^= s[0];
  s[3] ^= s[1];
  s[1] ^= s[2];
  s[0] ^= s[3];
  s[2] ^= t;
  s[3] = ref_rotl(s[3], 45);
  return r;
}

START_TEST(test_rng_deterministic_xoshiro256ss) {
  tg_rng a, b, c;
  tg_rng_seed(&a, 42);
  tg_rng_seed(&b, 42);
  tg_rng_seed(&c, 43);
  uint64_t x = 42, s[4];
  for (int i = 0; i < 4; i++)
    s[i] = ref_splitmix(&x);
  int differ = 0;
  for (int i = 0; i < 16; i++) {
    uint64_t ua = tg_rng_u64(&a), ub = tg_rng_u64(&b);
    ck_assert_msg(ua == ub, "draw %d: %llx != %llx", i, (unsigned long long)ua,
                  (unsigned long long)ub);
    uint64_t want = ref_xoshiro(s);
    ck_assert_msg(ua == want, "draw %d: %llx, xoshiro256** gives %llx", i,
                  (unsigned long long)ua, (unsigned long long)want);
    differ += tg_rng_u64(&c) != ua;
  }
  ck_assert_int_ge(differ, 15);
  /* Uniform doubles: 53 bits, in [0, 1). */
  tg_rng_seed(&a, 42);
  double sum = 0;
  for (int i = 0; i < 100000; i++) {
    double u = tg_rng_uniform(&a);
    ck_assert(u >= 0 && u < 1);
    sum += u;
  }
  ck_assert(fabs(sum / 100000 - 0.5) < 0.01);
  tg_rng_seed(&a, 42);
  tg_rng_seed(&b, 42);
  for (int i = 0; i < 8; i++)
    ck_assert(tg_rng_uniform(&a) == (double)(tg_rng_u64(&b) >> 11) * 0x1.0p-53);
  /* Normal draws are finite and reproducible. */
  tg_rng_seed(&a, 5);
  tg_rng_seed(&b, 5);
  for (int i = 0; i < 1000; i++) {
    double na = tg_rng_normal(&a);
    ck_assert(isfinite(na));
    ck_assert(na == tg_rng_normal(&b));
  }
}
END_TEST

/* --- printing ------------------------------------------------------------- */

/* What tg_fprint writes for t, as a malloc'd string. */
static char *print_to_string(const tg_tensor *t) {
  FILE *f = tmpfile();
  ck_assert_ptr_nonnull(f);
  tg_fprint(f, t);
  long len = ftell(f);
  ck_assert_int_ge(len, 0);
  rewind(f);
  char *s = malloc((size_t)len + 1);
  ck_assert_ptr_nonnull(s);
  size_t got = fread(s, 1, (size_t)len, f);
  s[got] = '\0';
  fclose(f);
  return s;
}

START_TEST(test_fprint_small_tensor_numpy_like) {
  tg_tape *tp = tape_new();
  const int64_t s[2] = {2, 3};
  const double v[6] = {1, 2, 3, 4, 5, 6.5};
  tg_tensor *t = tg_from_f64(tp, TG_F64, 2, s, v);
  ASSERT_OK(tp, t);
  char *out = print_to_string(t);
  ck_assert_msg(strstr(out, "tensor(") == out, "output: %s", out);
  ck_assert_msg(strstr(out, "1.0000") != NULL, "output: %s", out);
  ck_assert_msg(strstr(out, "6.5000") != NULL, "output: %s", out);
  ck_assert_msg(strstr(out, "f64") != NULL, "output: %s", out);
  ck_assert_msg(strstr(out, "...") == NULL, "output: %s", out);
  ck_assert_msg(strstr(out, "[[") != NULL, "output: %s", out);
  /* Every value appears, in order. */
  const char *p = out;
  for (int i = 0; i < 6; i++) {
    char num[32];
    snprintf(num, sizeof num, "%.4f", v[i]);
    p = strstr(p, num);
    ck_assert_msg(p != NULL, "%s missing or out of order: %s", num, out);
  }
  free(out);
  /* f32 says so. */
  tg_tensor *f = tg_from_f64(tp, TG_F32, 2, s, v);
  ASSERT_OK(tp, f);
  out = print_to_string(f);
  ck_assert_msg(strstr(out, "f32") != NULL, "output: %s", out);
  free(out);
  tg_tape_free(tp);
}
END_TEST

START_TEST(test_fprint_large_tensor_is_summarised) {
  tg_tape *tp = tape_new();
  const int64_t s[2] = {100, 100};
  tg_tensor *t = tg_arange(tp, TG_F64, 0, 10000, 1);
  tg_tensor *r = tg_reshape(tp, t, 2, s);
  ASSERT_OK(tp, r);
  char *out = print_to_string(r);
  ck_assert_msg(strstr(out, "...") != NULL, "no ...: %.200s", out);
  ck_assert_msg(strlen(out) < 4000, "%zu characters for 10000 elements",
                strlen(out));
  ck_assert(strstr(out, "tensor(") == out);
  free(out);
  tg_tape_free(tp);
}
END_TEST

START_TEST(test_fprint_0d_tensor_prints_one_number) {
  tg_tape *tp = tape_new();
  tg_tensor *t = tg_scalar(tp, TG_F64, 3.5);
  ASSERT_OK(tp, t);
  char *out = print_to_string(t);
  ck_assert_msg(strstr(out, "tensor(") == out, "output: %s", out);
  ck_assert_msg(strstr(out, "3.5000") != NULL, "output: %s", out);
  ck_assert_msg(strchr(out, '[') == NULL, "output: %s", out);
  ck_assert_msg(strchr(out, ',') == strrchr(out, ','),
                "more than one number: %s", out);
  free(out);
  tg_tape_free(tp);
}
END_TEST

/* tg_print writes the same text to stdout. */
START_TEST(test_print_writes_stdout) {
  tg_tape *tp = tape_new();
  const int64_t s[2] = {2, 3};
  tg_tensor *t = tg_ones(tp, TG_F64, 2, s);
  ASSERT_OK(tp, t);
  FILE *f = tmpfile();
  ck_assert_ptr_nonnull(f);
  fflush(stdout);
  int saved = dup(STDOUT_FILENO);
  ck_assert_int_ge(saved, 0);
  ck_assert_int_ge(dup2(fileno(f), STDOUT_FILENO), 0);
  tg_print(t);
  fflush(stdout);
  ck_assert_int_ge(dup2(saved, STDOUT_FILENO), 0);
  close(saved);
  char buf[512] = {0};
  rewind(f);
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  char *want = print_to_string(t);
  ck_assert_int_gt(n, 0);
  ck_assert_str_eq(buf, want);
  ck_assert(strstr(buf, "1.0000") != NULL);
  free(want);
  tg_tape_free(tp);
}
END_TEST

/* --- suite ---------------------------------------------------------------- */

static Suite *forward_suite(void) {
  Suite *s = suite_create("forward");
  TCase *tc = tcase_create("binary");
  tcase_set_timeout(tc, 120);
  tcase_add_loop_test(tc, test_binary_arith_broadcast_matches_loops, 0, 2);
  tcase_add_loop_test(tc, test_compare_broadcast_gives_exact_zero_one, 0, 2);
  tcase_add_loop_test(tc, test_compare_equal_operands_and_ties, 0, 2);
  tcase_add_loop_test(tc, test_where_broadcast_mask_selects, 0, 2);
  tcase_add_loop_test(tc, test_binary_ops_accept_noncontiguous_views, 0, 2);
  suite_add_tcase(s, tc);

  tc = tcase_create("unary");
  tcase_set_timeout(tc, 120);
  tcase_add_loop_test(tc, test_unary_ops_match_libm_all_lengths, 0, 2);
  tcase_add_loop_test(tc, test_unary_ops_on_noncontiguous_views, 0, 2);
  tcase_add_loop_test(tc, test_unary_special_values, 0, 2);
  tcase_add_test(tc, test_sigmoid_tails_accurate_and_finite);
  suite_add_tcase(s, tc);

  tc = tcase_create("reduce");
  tcase_set_timeout(tc, 120);
  tcase_add_loop_test(tc, test_reductions_over_axes_match_loops, 0, 2);
  tcase_add_loop_test(tc, test_reductions_of_noncontiguous_views, 0, 2);
  tcase_add_loop_test(tc, test_sum_all_mean_all_are_0d, 0, 2);
  tcase_add_test(tc, test_sum_f32_large_is_accurate);
  tcase_add_test(tc, test_sum_f32_large_outer_axis_is_accurate);
  tcase_add_test(tc, test_sum_all_f32_transposed_short_rows_is_accurate);
  suite_add_tcase(s, tc);

  tc = tcase_create("matmul");
  tcase_set_timeout(tc, 120);
  tcase_add_loop_test(tc, test_matmul_2d_batched_broadcast, 0, 2);
  tcase_add_loop_test(tc, test_matmul_unit_and_odd_sizes, 0, 2);
  tcase_add_loop_test(tc, test_matmul_transposed_view_operands, 0, 2);
  tcase_add_loop_test(tc, test_matmul_noncontiguous_operands_copied, 0, 2);
  suite_add_tcase(s, tc);

  tc = tcase_create("movement");
  tcase_set_timeout(tc, 120);
  tcase_add_loop_test(tc, test_reshape_contiguous_is_view_with_inferred_axis, 0,
                      2);
  tcase_add_loop_test(tc, test_reshape_of_noncontiguous_copies_logical_order, 0,
                      2);
  tcase_add_loop_test(tc, test_permute_transpose_are_views_with_right_values, 0,
                      2);
  tcase_add_loop_test(tc, test_expand_broadcasts_with_zero_strides, 0, 2);
  tcase_add_loop_test(tc, test_contiguous_of_contiguous_is_identity, 0, 2);
  suite_add_tcase(s, tc);

  tc = tcase_create("creation");
  tcase_set_timeout(tc, 120);
  tcase_add_loop_test(tc, test_zeros_ones_full_scalar_values_and_shapes, 0, 2);
  tcase_add_test(tc, test_from_buffer_copies_and_wrap_buffer_aliases);
  tcase_add_test(tc, test_from_f64_converts_to_dtype);
  tcase_add_loop_test(tc, test_arange_steps_negative_and_empty, 0, 2);
  tcase_add_loop_test(tc, test_rand_uniform_within_bounds_mean_centered, 0, 2);
  tcase_add_loop_test(tc, test_rand_normal_mean_and_std, 0, 2);
  tcase_add_loop_test(tc, test_tape_seed_reproduces_random_tensors, 0, 2);
  tcase_add_test(tc, test_rng_deterministic_xoshiro256ss);
  suite_add_tcase(s, tc);

  tc = tcase_create("print");
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, test_fprint_small_tensor_numpy_like);
  tcase_add_test(tc, test_fprint_large_tensor_is_summarised);
  tcase_add_test(tc, test_fprint_0d_tensor_prints_one_number);
  tcase_add_test(tc, test_print_writes_stdout);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) { return tgt_run_suite(forward_suite()); }
