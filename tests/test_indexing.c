/* tapegrad: slicing, joining, padding, indexing and the normalised
 * exponentials (softmax, log_softmax, logsumexp).
 *
 * Forward values are compared against plain loops; gradients (first and
 * second order) go through the finite-difference checkers of support.h,
 * each op composed with a fixed random weighting so that errors in
 * different output elements cannot cancel; softmax is checked at logits of
 * +-1e4 in f32; every error returns NULL and names the function. */
#include <check.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "support.h"
#include "tapegrad.h"

#define TOL1 1e-6
#define TOL2 1e-5

/* --- helpers -------------------------------------------------------------- */

static double *alloc_d(int64_t n) {
  double *p = calloc((size_t)(n > 0 ? n : 1), sizeof(double));
  ck_assert_ptr_nonnull(p);
  return p;
}

static int64_t numel(int ndim, const int64_t *shape) {
  return tgt_numel(ndim, shape);
}

static void unravel(int64_t flat, int ndim, const int64_t *shape,
                    int64_t *idx) {
  for (int d = ndim - 1; d >= 0; d--) {
    idx[d] = shape[d] ? flat % shape[d] : 0;
    flat = shape[d] ? flat / shape[d] : 0;
  }
}

static int64_t ravel(int ndim, const int64_t *shape, const int64_t *idx) {
  int64_t f = 0;
  for (int d = 0; d < ndim; d++)
    f = f * shape[d] + idx[d];
  return f;
}

static bool shape_is(const tg_tensor *t, int ndim, const int64_t *shape) {
  if (!t || t->ndim != ndim) return false;
  for (int i = 0; i < ndim; i++)
    if (t->shape[i] != shape[i]) return false;
  return true;
}

static const char *shape_of(const tg_tensor *t) {
  static char buf[128];
  if (!t) return "(null)";
  return tg_shape_str(t, buf, sizeof buf);
}

static const char *shape_str(int ndim, const int64_t *shape) {
  static char buf[128];
  int at = snprintf(buf, sizeof buf, "[");
  for (int i = 0; i < ndim && at < (int)sizeof buf; i++)
    at += snprintf(buf + at, sizeof buf - (size_t)at, "%s%lld", i ? "x" : "",
                   (long long)shape[i]);
  if (at < (int)sizeof buf) snprintf(buf + at, sizeof buf - (size_t)at, "]");
  return buf;
}

/* Reads t (checking its shape and dtype) and compares with ref. */
static void expect_values(const char *label, tg_tape *tp, const tg_tensor *t,
                          tg_dtype dt, int ndim, const int64_t *shape,
                          const double *ref, double tol) {
  ck_assert_msg(!tgt_failed(tp, t, label), "%s: failed: %s", label,
                tg_errmsg(tp));
  ck_assert_msg(shape_is(t, ndim, shape), "%s: shape %s, expected %s", label,
                shape_of(t), shape_str(ndim, shape));
  ck_assert_msg(t->dtype == dt, "%s: dtype %s, expected %s", label,
                tg_dtype_name(t->dtype), tg_dtype_name(dt));
  int64_t n = numel(ndim, shape);
  double *got = alloc_d(n);
  ck_assert_msg(n == 0 || tgt_copy_out(t, got), "%s: cannot read", label);
  ck_assert_msg(tgt_close_all(label, got, ref, n, tol), "%s: values differ",
                label);
  free(got);
}

static double *rand_vals(uint64_t seed, int64_t n, double lo, double hi) {
  tg_rng rng;
  tg_rng_seed(&rng, seed);
  double *p = alloc_d(n);
  tgt_fill_uniform(&rng, p, n, lo, hi);
  return p;
}

/* Random whole numbers in [0, hi). */
static double *rand_index(uint64_t seed, int64_t n, int64_t hi) {
  tg_rng rng;
  tg_rng_seed(&rng, seed);
  double *p = alloc_d(n);
  for (int64_t i = 0; i < n; i++)
    p[i] = (double)(tg_rng_u64(&rng) % (uint64_t)hi);
  return p;
}

/* Python's clamping of a slice bound for step >= 1. */
static int64_t py_bound(int64_t v, int64_t n) {
  if (v < 0) {
    v += n;
    if (v < 0) v = 0;
  } else if (v > n) {
    v = n;
  }
  return v;
}

/* --- slice ---------------------------------------------------------------- */

static void check_slice(tg_tape *tp, tg_tensor *x, const double *xv, int axis,
                        int64_t start, int64_t stop, int64_t step,
                        bool check_view) {
  int nd = x->ndim;
  int64_t n = x->shape[axis];
  int64_t b = py_bound(start, n), e = py_bound(stop, n);
  int64_t len = b < e ? (e - b - 1) / step + 1 : 0;
  int64_t oshape[TG_MAX_DIMS];
  memcpy(oshape, x->shape, sizeof oshape);
  oshape[axis] = len;
  int64_t on = numel(nd, oshape);
  double *ref = alloc_d(on);
  int64_t idx[TG_MAX_DIMS];
  for (int64_t f = 0; f < on; f++) {
    unravel(f, nd, oshape, idx);
    idx[axis] = b + idx[axis] * step;
    ref[f] = xv[ravel(nd, x->shape, idx)];
  }
  char label[160];
  snprintf(label, sizeof label, "tg_slice(%s %s, axis %d, %lld, %lld, %lld)",
           shape_of(x), tg_dtype_name(x->dtype), axis, (long long)start,
           (long long)stop, (long long)step);
  tg_tensor *s = tg_slice(tp, x, axis, start, stop, step);
  expect_values(label, tp, s, x->dtype, nd, oshape, ref, 0.0);
  if (check_view && len > 0) {
    size_t es = tg_dtype_size(x->dtype);
    const char *want =
        (const char *)x->data + (size_t)(b * x->strides[axis]) * es;
    ck_assert_msg((const char *)s->data == want,
                  "%s: not a view of x's storage", label);
    ck_assert_msg(s->strides[axis] == step * x->strides[axis],
                  "%s: stride %lld, expected %lld", label,
                  (long long)s->strides[axis],
                  (long long)(step * x->strides[axis]));
  }
  free(ref);
}

static const int64_t slice_cases[][3] = {
    {0, 4, 1},  {1, 3, 1},     {-3, -1, 1},  {-100, 100, 1}, {2, 100, 2},
    {-5, 5, 3}, {0, 6, 3},     {3, 1, 1},    {1, 1, 1},      {5, 7, 2},
    {-1, 6, 1}, {1, -1, 2},    {0, -100, 1}, {100, 200, 1},  {-2, 100, 3},
    {0, 5, 2},  {-200, -2, 3},
};

START_TEST(test_slice_values_every_axis) {
  tg_tape *tp = tg_tape_new();
  int64_t s[3] = {4, 5, 6};
  int64_t n = numel(3, s);
  double *v = alloc_d(n);
  for (int64_t i = 0; i < n; i++)
    v[i] = 0.5 * (double)i - 3.0; /* exact in f32 too */
  tg_dtype dts[2] = {TG_F64, TG_F32};
  for (int k = 0; k < 2; k++) {
    tg_tensor *x = tg_from_f64(tp, dts[k], 3, s, v);
    for (int axis = 0; axis < 3; axis++)
      for (size_t c = 0; c < sizeof slice_cases / sizeof slice_cases[0]; c++)
        check_slice(tp, x, v, axis, slice_cases[c][0], slice_cases[c][1],
                    slice_cases[c][2], true);
  }
  free(v);
  tg_tape_free(tp);
}
END_TEST

/* Slicing a slice, and slicing a transposed (non-contiguous) tensor. */
START_TEST(test_slice_of_views) {
  tg_tape *tp = tg_tape_new();
  int64_t s[3] = {4, 5, 6};
  int64_t n = numel(3, s);
  double *v = rand_vals(1, n, -1, 1);
  tg_tensor *x = tg_from_f64(tp, TG_F64, 3, s, v);
  tg_tensor *xt = tg_transpose(tp, x, 0, 2); /* [6, 5, 4] */
  double *tv = tgt_read(tg_contiguous(tp, xt));
  ck_assert_ptr_nonnull(tv);
  for (int axis = 0; axis < 3; axis++)
    for (size_t c = 0; c < sizeof slice_cases / sizeof slice_cases[0]; c++)
      check_slice(tp, xt, tv, axis, slice_cases[c][0], slice_cases[c][1],
                  slice_cases[c][2], true);
  /* slice of a slice: axis 1 [1:5:2] then axis 2 [-4:] then axis 1 [1:] */
  tg_tensor *a = tg_slice(tp, x, 1, 1, 5, 2);
  tg_tensor *b = tg_slice(tp, a, 2, -4, 100, 1);
  tg_tensor *c = tg_slice(tp, b, 1, 1, 100, 1);
  int64_t want[3] = {4, 1, 4};
  double ref[16];
  for (int i = 0; i < 4; i++)
    for (int k = 0; k < 4; k++)
      ref[i * 4 + k] = v[(i * 5 + 3) * 6 + 2 + k];
  expect_values("slice of a slice", tp, c, TG_F64, 3, want, ref, 0.0);
  free(v), free(tv);
  tg_tape_free(tp);
}
END_TEST

/* A slice is a view: writing into x afterwards shows through it. */
START_TEST(test_slice_is_a_view) {
  tg_tape *tp = tg_tape_new();
  int64_t s[3] = {3, 4, 5};
  int64_t n = numel(3, s);
  double *v = rand_vals(2, n, -1, 1), *w = rand_vals(3, n, 5, 6);
  tg_tensor *x = tg_from_f64(tp, TG_F64, 3, s, v);
  tg_tensor *sl = tg_slice(tp, x, 1, 1, 4, 2); /* rows 1 and 3 */
  ck_assert(!tgt_failed(tp, sl, "slice"));
  ck_assert_int_eq(tg_copy_in(x, w), TG_OK);
  int64_t want[3] = {3, 2, 5};
  double ref[30];
  for (int i = 0; i < 3; i++)
    for (int j = 0; j < 2; j++)
      for (int k = 0; k < 5; k++)
        ref[(i * 2 + j) * 5 + k] = w[(i * 4 + 1 + 2 * j) * 5 + k];
  expect_values("slice after writing into x", tp, sl, TG_F64, 3, want, ref,
                0.0);
  free(v), free(w);
  tg_tape_free(tp);
}
END_TEST

/* INT64_MAX as the stop means "to the end" (no overflow on the way). */
START_TEST(test_slice_to_int64_max) {
  tg_tape *tp = tg_tape_new();
  int64_t s[1] = {7};
  double v[7] = {0, 1, 2, 3, 4, 5, 6};
  tg_tensor *x = tg_from_f64(tp, TG_F64, 1, s, v);
  check_slice(tp, x, v, 0, 1, INT64_MAX, 2, true);
  check_slice(tp, x, v, 0, -3, INT64_MAX, 1, true);
  check_slice(tp, x, v, 0, INT64_MIN, 3, 1, true);
  check_slice(tp, x, v, 0, 0, 7, INT64_MAX, true);
  tg_tape_free(tp);
}
END_TEST

/* --- concat --------------------------------------------------------------- */

/* Concatenates n tensors of shapes[i] (values vals[i]) along axis and
 * compares with a loop. */
static void check_concat(tg_tape *tp, tg_dtype dt, int n, int nd,
                         const int64_t (*shapes)[TG_MAX_DIMS], int axis,
                         uint64_t seed) {
  tg_tensor *xs[4];
  double *vals[4] = {NULL};
  int64_t oshape[TG_MAX_DIMS];
  memcpy(oshape, shapes[0], sizeof oshape);
  oshape[axis] = 0;
  for (int i = 0; i < n; i++) {
    int64_t cnt = numel(nd, shapes[i]);
    vals[i] = rand_vals(seed + (uint64_t)i, cnt, -2, 2);
    if (dt == TG_F32)
      for (int64_t j = 0; j < cnt; j++)
        vals[i][j] = (double)(float)vals[i][j];
    xs[i] = tg_from_f64(tp, dt, nd, shapes[i], vals[i]);
    oshape[axis] += shapes[i][axis];
  }
  int64_t on = numel(nd, oshape);
  double *ref = alloc_d(on);
  int64_t idx[TG_MAX_DIMS];
  for (int64_t f = 0; f < on; f++) {
    unravel(f, nd, oshape, idx);
    int k = 0;
    while (idx[axis] >= shapes[k][axis]) {
      idx[axis] -= shapes[k][axis];
      k++;
    }
    ref[f] = vals[k][ravel(nd, shapes[k], idx)];
  }
  char label[160];
  snprintf(label, sizeof label, "tg_concat of %d %s tensors along axis %d", n,
           tg_dtype_name(dt), axis);
  tg_tensor *y = tg_concat(tp, n, xs, axis);
  expect_values(label, tp, y, dt, nd, oshape, ref, 0.0);
  for (int i = 0; i < n; i++)
    free(vals[i]);
  free(ref);
}

START_TEST(test_concat_values) {
  tg_tape *tp = tg_tape_new();
  tg_dtype dts[2] = {TG_F64, TG_F32};
  for (int k = 0; k < 2; k++) {
    /* 2-D */
    const int64_t a2[2][TG_MAX_DIMS] = {{2, 3}, {2, 4}};
    check_concat(tp, dts[k], 2, 2, a2, 1, 10);
    const int64_t b2[3][TG_MAX_DIMS] = {{2, 3}, {1, 3}, {3, 3}};
    check_concat(tp, dts[k], 3, 2, b2, 0, 20);
    /* 3-D, every axis, 2 and 3 inputs */
    for (int axis = 0; axis < 3; axis++) {
      int64_t s3[3][TG_MAX_DIMS] = {{2, 3, 4}, {2, 3, 4}, {2, 3, 4}};
      s3[0][axis] = 1, s3[1][axis] = 3, s3[2][axis] = 2;
      check_concat(tp, dts[k], 2, 3, (const int64_t(*)[TG_MAX_DIMS])s3, axis,
                   30 + (uint64_t)axis);
      check_concat(tp, dts[k], 3, 3, (const int64_t(*)[TG_MAX_DIMS])s3, axis,
                   40 + (uint64_t)axis);
    }
    /* one input */
    const int64_t one[1][TG_MAX_DIMS] = {{3, 2, 2}};
    check_concat(tp, dts[k], 1, 3, one, 2, 50);
  }
  tg_tape_free(tp);
}
END_TEST

START_TEST(test_concat_with_an_empty_input) {
  tg_tape *tp = tg_tape_new();
  for (int axis = 0; axis < 3; axis++) {
    int64_t s3[3][TG_MAX_DIMS] = {{2, 3, 4}, {2, 3, 4}, {2, 3, 4}};
    s3[1][axis] = 0;
    check_concat(tp, TG_F64, 3, 3, (const int64_t(*)[TG_MAX_DIMS])s3, axis,
                 60 + (uint64_t)axis);
  }
  tg_tape_free(tp);
}
END_TEST

/* A transposed (non-contiguous) input joins like its contiguous copy. */
START_TEST(test_concat_of_views) {
  tg_tape *tp = tg_tape_new();
  int64_t sa[2] = {3, 2}, sb[2] = {2, 4};
  double *va = rand_vals(70, 6, -1, 1), *vb = rand_vals(71, 8, -1, 1);
  tg_tensor *a = tg_transpose(tp, tg_from_f64(tp, TG_F64, 2, sa, va), 0, 1);
  tg_tensor *b = tg_from_f64(tp, TG_F64, 2, sb, vb);
  tg_tensor *xs[2] = {a, b};
  tg_tensor *y = tg_concat(tp, 2, xs, 1);
  int64_t want[2] = {2, 7};
  double ref[14];
  for (int i = 0; i < 2; i++) {
    for (int j = 0; j < 3; j++)
      ref[i * 7 + j] = va[j * 2 + i];
    for (int j = 0; j < 4; j++)
      ref[i * 7 + 3 + j] = vb[i * 4 + j];
  }
  expect_values("concat of a transposed input", tp, y, TG_F64, 2, want, ref,
                0.0);
  free(va), free(vb);
  tg_tape_free(tp);
}
END_TEST

/* --- pad ------------------------------------------------------------------ */

static void check_pad(tg_tape *tp, tg_dtype dt, int nd, const int64_t *shape,
                      const int64_t *pads, double value, uint64_t seed) {
  int64_t n = numel(nd, shape);
  double *v = rand_vals(seed, n, -2, 2);
  if (dt == TG_F32)
    for (int64_t i = 0; i < n; i++)
      v[i] = (double)(float)v[i];
  int64_t oshape[TG_MAX_DIMS];
  for (int d = 0; d < nd; d++)
    oshape[d] = shape[d] + pads[2 * d] + pads[2 * d + 1];
  int64_t on = numel(nd, oshape);
  double *ref = alloc_d(on);
  int64_t idx[TG_MAX_DIMS];
  for (int64_t f = 0; f < on; f++) {
    unravel(f, nd, oshape, idx);
    bool inside = true;
    for (int d = 0; d < nd; d++) {
      idx[d] -= pads[2 * d];
      inside = inside && idx[d] >= 0 && idx[d] < shape[d];
    }
    ref[f] = inside ? v[ravel(nd, shape, idx)] : value;
  }
  char label[160];
  snprintf(label, sizeof label, "tg_pad of %s %s with value %g",
           shape_str(nd, shape), tg_dtype_name(dt), value);
  tg_tensor *x = tg_from_f64(tp, dt, nd, shape, v);
  expect_values(label, tp, tg_pad(tp, x, pads, value), dt, nd, oshape, ref,
                0.0);
  free(v), free(ref);
}

START_TEST(test_pad_values) {
  tg_tape *tp = tg_tape_new();
  tg_dtype dts[2] = {TG_F64, TG_F32};
  for (int k = 0; k < 2; k++) {
    int64_t s3[3] = {2, 3, 4}, p3[6] = {1, 0, 0, 2, 3, 1};
    check_pad(tp, dts[k], 3, s3, p3, 2.5, 1);
    int64_t p3b[6] = {0, 0, 2, 2, 0, 3};
    check_pad(tp, dts[k], 3, s3, p3b, -1.0, 2);
    int64_t s1[1] = {5}, p1[2] = {2, 3};
    check_pad(tp, dts[k], 1, s1, p1, -1.0, 3);
    int64_t s2[2] = {3, 2}, p2[4] = {0, 0, 0, 0};
    check_pad(tp, dts[k], 2, s2, p2, 7.0, 4);
    int64_t p2b[4] = {4, 1, 1, 5};
    check_pad(tp, dts[k], 2, s2, p2b, 0.0, 5);
  }
  tg_tape_free(tp);
}
END_TEST

/* --- gather, scatter_add, index_select, one_hot --------------------------- */

/* gather of x [4, 5, 3] along axis with an index of shape ishape. */
static void check_gather(tg_tape *tp, int axis, const int64_t *ishape,
                         tg_dtype idt, bool transposed_x, uint64_t seed) {
  int64_t xs[3] = {4, 5, 3};
  int64_t xn = numel(3, xs), in = numel(3, ishape);
  double *xv = rand_vals(seed, xn, -2, 2);
  double *iv = rand_index(seed + 1, in, xs[axis]);
  double *ref = alloc_d(in);
  int64_t idx[3];
  for (int64_t f = 0; f < in; f++) {
    unravel(f, 3, ishape, idx);
    idx[axis] = (int64_t)iv[f];
    ref[f] = xv[ravel(3, xs, idx)];
  }
  tg_tensor *x;
  if (transposed_x) {
    /* the same values, reached through a transposed view */
    int64_t ts[3] = {3, 5, 4};
    double *tv = alloc_d(xn);
    for (int64_t f = 0; f < xn; f++) {
      unravel(f, 3, xs, idx);
      int64_t t[3] = {idx[2], idx[1], idx[0]};
      tv[ravel(3, ts, t)] = xv[f];
    }
    x = tg_transpose(tp, tg_from_f64(tp, TG_F64, 3, ts, tv), 0, 2);
    free(tv);
  } else {
    x = tg_from_f64(tp, TG_F64, 3, xs, xv);
  }
  tg_tensor *index = tg_from_f64(tp, idt, 3, ishape, iv);
  char label[160];
  snprintf(label, sizeof label, "tg_gather(x [4x5x3]%s, axis %d, %s index %s)",
           transposed_x ? " (view)" : "", axis, tg_dtype_name(idt),
           shape_str(3, ishape));
  expect_values(label, tp, tg_gather(tp, x, axis, index), TG_F64, 3, ishape,
                ref, 0.0);
  free(xv), free(iv), free(ref);
}

START_TEST(test_gather_values) {
  tg_tape *tp = tg_tape_new();
  for (int axis = 0; axis < 3; axis++) {
    int64_t full[3] = {4, 5, 3};
    full[axis] = 6; /* longer than x along axis: repeats */
    check_gather(tp, axis, full, TG_F64, false, 100 + (uint64_t)axis);
    int64_t small[3] = {3, 4, 2};
    small[axis] = 2;
    check_gather(tp, axis, small, TG_F32, false, 110 + (uint64_t)axis);
    check_gather(tp, axis, full, TG_F32, true, 120 + (uint64_t)axis);
  }
  tg_tape_free(tp);
}
END_TEST

static void check_scatter_add(tg_tape *tp, int axis, const int64_t *ishape,
                              tg_dtype idt, uint64_t seed) {
  int64_t bs[3] = {4, 5, 3};
  int64_t bn = numel(3, bs), in = numel(3, ishape);
  double *bv = rand_vals(seed, bn, -2, 2);
  double *sv = rand_vals(seed + 1, in, -2, 2);
  double *iv = rand_index(seed + 2, in, bs[axis]);
  double *ref = alloc_d(bn);
  memcpy(ref, bv, (size_t)bn * sizeof *ref);
  int64_t idx[3];
  for (int64_t f = 0; f < in; f++) {
    unravel(f, 3, ishape, idx);
    idx[axis] = (int64_t)iv[f];
    ref[ravel(3, bs, idx)] += sv[f];
  }
  tg_tensor *base = tg_from_f64(tp, TG_F64, 3, bs, bv);
  tg_tensor *src = tg_from_f64(tp, TG_F64, 3, ishape, sv);
  tg_tensor *index = tg_from_f64(tp, idt, 3, ishape, iv);
  char label[160];
  snprintf(label, sizeof label,
           "tg_scatter_add(base [4x5x3], axis %d, %s index %s)", axis,
           tg_dtype_name(idt), shape_str(3, ishape));
  expect_values(label, tp, tg_scatter_add(tp, base, axis, index, src), TG_F64,
                3, bs, ref, 1e-12);

  /* the adjoint of gather: <gather(x, i), y> == <x, scatter_add(0, i, y)> */
  tg_tensor *z = tg_zeros(tp, TG_F64, 3, bs);
  double *sc = tgt_read(tg_scatter_add(tp, z, axis, index, src));
  double *g = tgt_read(tg_gather(tp, base, axis, index));
  ck_assert_msg(sc && g, "%s: adjoint: %s", label, tg_errmsg(tp));
  double lhs = 0, rhs = 0;
  for (int64_t f = 0; f < in; f++)
    lhs += g[f] * sv[f];
  for (int64_t f = 0; f < bn; f++)
    rhs += bv[f] * sc[f];
  ck_assert_msg(fabs(lhs - rhs) <= 1e-12 * fmax(1, fabs(lhs)),
                "%s: <gather(x), y> = %.17g, <x, scatter_add(y)> = %.17g",
                label, lhs, rhs);
  free(bv), free(sv), free(iv), free(ref), free(sc), free(g);
}

START_TEST(test_scatter_add_values) {
  tg_tape *tp = tg_tape_new();
  for (int axis = 0; axis < 3; axis++) {
    int64_t full[3] = {4, 5, 3};
    full[axis] = 7; /* many duplicates along axis */
    check_scatter_add(tp, axis, full, TG_F64, 200 + 3 * (uint64_t)axis);
    int64_t small[3] = {3, 4, 2};
    small[axis] = 2;
    check_scatter_add(tp, axis, small, TG_F32, 220 + 3 * (uint64_t)axis);
  }
  tg_tape_free(tp);
}
END_TEST

START_TEST(test_index_select_values) {
  tg_tape *tp = tg_tape_new();
  int64_t xs[3] = {4, 5, 3};
  int64_t xn = numel(3, xs);
  double *xv = rand_vals(300, xn, -2, 2);
  tg_tensor *x = tg_from_f64(tp, TG_F64, 3, xs, xv);
  for (int axis = 0; axis < 3; axis++)
    for (int k = 0; k < 2; k++) {
      int64_t ni = k == 0 ? 7 : 2;
      double *iv = rand_index(310 + (uint64_t)(axis * 2 + k), ni, xs[axis]);
      tg_dtype idt = k == 0 ? TG_F64 : TG_F32;
      tg_tensor *index = tg_from_f64(tp, idt, 1, &ni, iv);
      int64_t os[3] = {4, 5, 3};
      os[axis] = ni;
      int64_t on = numel(3, os), idx[3];
      double *ref = alloc_d(on);
      for (int64_t f = 0; f < on; f++) {
        unravel(f, 3, os, idx);
        idx[axis] = (int64_t)iv[idx[axis]];
        ref[f] = xv[ravel(3, xs, idx)];
      }
      char label[128];
      snprintf(label, sizeof label,
               "tg_index_select(x [4x5x3], axis %d, %s index [%lld])", axis,
               tg_dtype_name(idt), (long long)ni);
      expect_values(label, tp, tg_index_select(tp, x, axis, index), TG_F64, 3,
                    os, ref, 0.0);
      free(iv), free(ref);
    }
  free(xv);
  tg_tape_free(tp);
}
END_TEST

START_TEST(test_one_hot_values) {
  tg_tape *tp = tg_tape_new();
  double iv[6] = {0, 3, 1, 2, 2, 0};
  int64_t is[2] = {2, 3};
  tg_dtype dts[2] = {TG_F64, TG_F32};
  for (int k = 0; k < 2; k++)
    for (int j = 0; j < 2; j++) {
      tg_tensor *index = tg_from_f64(tp, dts[j], 2, is, iv);
      int64_t os[3] = {2, 3, 4};
      double ref[24];
      for (int f = 0; f < 24; f++)
        ref[f] = (double)(f % 4) == iv[f / 4] ? 1.0 : 0.0;
      tg_tensor *y = tg_one_hot(tp, index, 4, dts[k]);
      expect_values("tg_one_hot [2x3] -> [2x3x4]", tp, y, dts[k], 3, os, ref,
                    0.0);
      ck_assert(!y->requires_grad);
    }
  /* 1-D, more classes than used */
  double iv1[5] = {4, 0, 6, 6, 1};
  int64_t n1 = 5, os1[2] = {5, 7};
  double ref1[35];
  for (int f = 0; f < 35; f++)
    ref1[f] = (double)(f % 7) == iv1[f / 7] ? 1.0 : 0.0;
  expect_values("tg_one_hot [5] -> [5x7]", tp,
                tg_one_hot(tp, tg_from_f64(tp, TG_F64, 1, &n1, iv1), 7, TG_F64),
                TG_F64, 2, os1, ref1, 0.0);
  tg_tape_free(tp);
}
END_TEST

/* Defined with the softmax tests below. */
static void ref_normexp(int nd, const int64_t *shape, int axis, const double *x,
                        int which, double *out);

/* Index, src and x tensors that are views (transposed or strided) are
 * read through their strides. */
START_TEST(test_indexing_with_non_contiguous_operands) {
  tg_tape *tp = tg_tape_new();
  int64_t xs[3] = {4, 5, 3}, idx[3];
  tg_tape_seed(tp, 800);
  tg_tensor *x = tg_rand_uniform(tp, TG_F64, 3, xs, -2, 2);
  double *xv = tgt_read(x);
  ck_assert_ptr_nonnull(xv);

  /* gather along axis 1 with a transposed index [4, 2, 3] */
  int64_t ts[3] = {3, 2, 4};
  double *tv = rand_index(801, 24, 5);
  tg_tensor *index = tg_transpose(tp, tg_from_f64(tp, TG_F64, 3, ts, tv), 0, 2);
  ck_assert(!tgt_failed(tp, index, "index") && !tg_is_contiguous(index));
  double *iv = tgt_read(index);
  int64_t is[3] = {4, 2, 3};
  double ref[60];
  for (int64_t f = 0; f < 24; f++) {
    unravel(f, 3, is, idx);
    idx[1] = (int64_t)iv[f];
    ref[f] = xv[ravel(3, xs, idx)];
  }
  expect_values("gather with a transposed index", tp,
                tg_gather(tp, x, 1, index), TG_F64, 3, is, ref, 0.0);

  /* scatter_add with that index and a transposed src */
  tg_tensor *src =
      tg_transpose(tp, tg_rand_uniform(tp, TG_F64, 3, ts, -1, 1), 0, 2);
  double *sv = tgt_read(src);
  memcpy(ref, xv, 60 * sizeof *ref);
  for (int64_t f = 0; f < 24; f++) {
    unravel(f, 3, is, idx);
    idx[1] = (int64_t)iv[f];
    ref[ravel(3, xs, idx)] += sv[f];
  }
  expect_values("scatter_add with transposed index and src", tp,
                tg_scatter_add(tp, x, 1, index, src), TG_F64, 3, xs, ref,
                1e-12);

  /* index_select with a strided 1-D index (every other entry) */
  double lv[8] = {3, 9, 0, 9, 3, 9, 1, 9};
  int64_t n8 = 8;
  tg_tensor *li = tg_slice(tp, tg_from_f64(tp, TG_F64, 1, &n8, lv), 0, 0, 8, 2);
  int64_t os[3] = {4, 4, 3};
  for (int64_t f = 0; f < 48; f++) {
    unravel(f, 3, os, idx);
    idx[1] = (int64_t)lv[2 * idx[1]];
    ref[f] = xv[ravel(3, xs, idx)];
  }
  expect_values("index_select with a strided index", tp,
                tg_index_select(tp, x, 1, li), TG_F64, 3, os, ref, 0.0);

  /* one_hot of a transposed index */
  double ov[6] = {0, 1, 2, 2, 1, 0};
  int64_t s23[2] = {2, 3};
  tg_tensor *oi = tg_transpose(tp, tg_from_f64(tp, TG_F64, 2, s23, ov), 0, 1);
  int64_t o3[3] = {3, 2, 3};
  for (int64_t f = 0; f < 18; f++) {
    int64_t r = f / 6, c = (f / 3) % 2, k = f % 3;
    ref[f] = (double)k == ov[c * 3 + r] ? 1.0 : 0.0;
  }
  expect_values("one_hot of a transposed index", tp,
                tg_one_hot(tp, oi, 3, TG_F64), TG_F64, 3, o3, ref, 0.0);

  /* pad of a transposed x */
  tg_tensor *xt = tg_transpose(tp, x, 0, 2); /* [3, 5, 4] */
  int64_t pads[6] = {1, 0, 0, 1, 2, 0}, ps[3] = {4, 6, 6};
  double pref[144];
  for (int64_t f = 0; f < 144; f++) {
    unravel(f, 3, ps, idx);
    int64_t a = idx[0] - 1, bb = idx[1], c = idx[2] - 2;
    bool in = a >= 0 && a < 3 && bb < 5 && c >= 0 && c < 4;
    int64_t src_idx[3] = {c, bb, a}; /* x[c, b, a] = xt[a, b, c] */
    pref[f] = in ? xv[ravel(3, xs, src_idx)] : -7.0;
  }
  expect_values("pad of a transposed x", tp, tg_pad(tp, xt, pads, -7.0), TG_F64,
                3, ps, pref, 0.0);

  /* softmax family of a transposed x, along each axis */
  double *xtv = tgt_read(xt);
  int64_t xts[3] = {3, 5, 4};
  for (int axis = 0; axis < 3; axis++) {
    double r[60];
    ref_normexp(3, xts, axis, xtv, 0, r);
    expect_values("softmax of a transposed x", tp, tg_softmax(tp, xt, axis),
                  TG_F64, 3, xts, r, 1e-12);
    ref_normexp(3, xts, axis, xtv, 1, r);
    expect_values("log_softmax of a transposed x", tp,
                  tg_log_softmax(tp, xt, axis), TG_F64, 3, xts, r, 1e-12);
    ref_normexp(3, xts, axis, xtv, 2, r);
    int64_t ks[3] = {3, 5, 4};
    ks[axis] = 1;
    expect_values("logsumexp of a transposed x", tp,
                  tg_logsumexp(tp, xt, axis, true), TG_F64, 3, ks, r, 1e-12);
  }
  free(xv), free(tv), free(iv), free(sv), free(xtv);
  tg_tape_free(tp);
}
END_TEST

/* --- softmax, log_softmax, logsumexp: values ------------------------------ */

/* Double-precision references along axis of a row-major [d0 x d1 x ...]
 * array, with the max-subtraction trick. which: 0 softmax, 1 log_softmax,
 * 2 logsumexp (output has the axis removed; keepdim only changes the
 * shape). */
static void ref_normexp(int nd, const int64_t *shape, int axis, const double *x,
                        int which, double *out) {
  int64_t outer = 1, inner = 1, n = shape[axis];
  for (int d = 0; d < axis; d++)
    outer *= shape[d];
  for (int d = axis + 1; d < nd; d++)
    inner *= shape[d];
  for (int64_t o = 0; o < outer; o++)
    for (int64_t i = 0; i < inner; i++) {
      const double *row = x + o * n * inner + i;
      double m = -INFINITY, s = 0;
      for (int64_t k = 0; k < n; k++)
        m = fmax(m, row[k * inner]);
      for (int64_t k = 0; k < n; k++)
        s += exp(row[k * inner] - m);
      double lse = m + log(s);
      if (which == 2) {
        out[o * inner + i] = lse;
        continue;
      }
      for (int64_t k = 0; k < n; k++) {
        double v = row[k * inner];
        out[o * n * inner + k * inner + i] =
            which == 0 ? exp(v - m) / s : v - lse;
      }
    }
}

static void check_normexp_f64(tg_tape *tp, int nd, const int64_t *shape,
                              int axis, uint64_t seed) {
  int64_t n = numel(nd, shape);
  double *v = rand_vals(seed, n, -3, 3);
  double *ref = alloc_d(n);
  tg_tensor *x = tg_from_f64(tp, TG_F64, nd, shape, v);
  char label[160];
  snprintf(label, sizeof label, "softmax of %s along axis %d",
           shape_str(nd, shape), axis);
  ref_normexp(nd, shape, axis, v, 0, ref);
  expect_values(label, tp, tg_softmax(tp, x, axis), TG_F64, nd, shape, ref,
                1e-12);
  snprintf(label, sizeof label, "log_softmax of %s along axis %d",
           shape_str(nd, shape), axis);
  ref_normexp(nd, shape, axis, v, 1, ref);
  expect_values(label, tp, tg_log_softmax(tp, x, axis), TG_F64, nd, shape, ref,
                1e-12);
  ref_normexp(nd, shape, axis, v, 2, ref);
  int64_t ks[TG_MAX_DIMS], rs[TG_MAX_DIMS];
  int rd = 0;
  for (int d = 0; d < nd; d++) {
    ks[d] = d == axis ? 1 : shape[d];
    if (d != axis) rs[rd++] = shape[d];
  }
  snprintf(label, sizeof label, "logsumexp of %s along axis %d",
           shape_str(nd, shape), axis);
  expect_values(label, tp, tg_logsumexp(tp, x, axis, true), TG_F64, nd, ks, ref,
                1e-12);
  expect_values(label, tp, tg_logsumexp(tp, x, axis, false), TG_F64, rd, rs,
                ref, 1e-12);
  free(v), free(ref);
}

START_TEST(test_softmax_values) {
  tg_tape *tp = tg_tape_new();
  int64_t s2[2] = {3, 4}, s3[3] = {2, 3, 4}, s1[1] = {6};
  for (int axis = 0; axis < 2; axis++)
    check_normexp_f64(tp, 2, s2, axis, 400 + (uint64_t)axis);
  for (int axis = 0; axis < 3; axis++)
    check_normexp_f64(tp, 3, s3, axis, 410 + (uint64_t)axis);
  check_normexp_f64(tp, 1, s1, 0, 420);
  tg_tape_free(tp);
}
END_TEST

/* f32 logits of +-1e4 (and 90, which overflows exp in f32): no Inf or NaN,
 * rows sum to 1, values match the double reference. */
static const double big_logits[3][4] = {
    {1e4, -1e4, 0, 1e4 - 1},
    {-1e4, -1e4 + 0.5, -1e4 - 3, -1e4},
    {88.5, 89, 90, -5},
};

static void check_stability(int axis, int which) {
  tg_tape *tp = tg_tape_new();
  /* axis 1: [3x4] rows as above; axis 0: the transpose, [4x3] */
  int64_t shape[2] = {axis == 1 ? 3 : 4, axis == 1 ? 4 : 3};
  double v[12];
  for (int r = 0; r < 3; r++)
    for (int c = 0; c < 4; c++) {
      if (axis == 1)
        v[r * 4 + c] = big_logits[r][c];
      else
        v[c * 3 + r] = big_logits[r][c];
    }
  tg_tensor *x = tg_from_f64(tp, TG_F32, 2, shape, v);
  double ref[12], got[12];
  char label[96];
  static const char *names[3] = {"softmax", "log_softmax", "logsumexp"};
  snprintf(label, sizeof label, "f32 %s of big logits, axis %d", names[which],
           axis);
  tg_tensor *y = which == 0   ? tg_softmax(tp, x, axis)
                 : which == 1 ? tg_log_softmax(tp, x, axis)
                              : tg_logsumexp(tp, x, axis, false);
  ck_assert_msg(!tgt_failed(tp, y, label), "%s", tg_errmsg(tp));
  ck_assert_msg(y->dtype == TG_F32, "%s: dtype %s", label,
                tg_dtype_name(y->dtype));
  int64_t n = which == 2 ? 3 : 12;
  if (which == 2)
    ck_assert_msg(y->ndim == 1 && y->shape[0] == 3, "%s: shape %s", label,
                  shape_of(y));
  else
    ck_assert_msg(shape_is(y, 2, shape), "%s: shape %s", label, shape_of(y));
  ck_assert(tgt_copy_out(y, got));
  ref_normexp(2, shape, axis, v, which, ref);
  for (int64_t i = 0; i < n; i++)
    ck_assert_msg(isfinite(got[i]), "%s: element %lld is %g", label,
                  (long long)i, got[i]);
  if (which == 0) {
    for (int r = 0; r < 3; r++) {
      double s = 0;
      for (int c = 0; c < 4; c++)
        s += axis == 1 ? got[r * 4 + c] : got[c * 3 + r];
      ck_assert_msg(fabs(s - 1.0) <= 1e-6, "%s: row %d sums to %.9g", label, r,
                    s);
    }
  }
  /* softmax values lie in [0, 1]: absolute 1e-6; the others relative */
  ck_assert_msg(tgt_close_all(label, got, ref, n, 1e-6), "%s: values differ",
                label);
  tg_tape_free(tp);
}

START_TEST(test_softmax_stable_for_big_f32_logits) {
  check_stability(1, 0);
  check_stability(0, 0);
}
END_TEST

START_TEST(test_log_softmax_stable_for_big_f32_logits) {
  check_stability(1, 1);
  check_stability(0, 1);
}
END_TEST

START_TEST(test_logsumexp_stable_for_big_f32_logits) {
  check_stability(1, 2);
  check_stability(0, 2);
}
END_TEST

/* Gradients at big logits are finite: d/dx sum(W * log_softmax(x)) =
 * W - softmax(x) * sum(W) (per row), and likewise through softmax. */
START_TEST(test_log_softmax_gradient_finite_at_big_logits) {
  tg_tape *tp = tg_tape_new();
  int64_t shape[2] = {3, 4};
  double v[12], wv[12], sm[12];
  for (int i = 0; i < 12; i++) {
    v[i] = big_logits[i / 4][i % 4];
    wv[i] = 0.25 * (double)((i * 5) % 7) - 0.5;
  }
  tg_tensor *x =
      tg_set_requires_grad(tg_from_f64(tp, TG_F32, 2, shape, v), true);
  tg_tensor *w = tg_from_f64(tp, TG_F32, 2, shape, wv);
  tg_tensor *y = tg_sum_all(tp, tg_mul(tp, tg_log_softmax(tp, x, 1), w));
  ck_assert_msg(!tgt_failed(tp, y, "loss"), "%s", tg_errmsg(tp));
  ck_assert_int_eq(tg_backward(tp, y), TG_OK);
  tg_tensor *g = tg_grad_of(x);
  ck_assert_ptr_nonnull(g);
  double got[12], ref[12];
  ck_assert(tgt_copy_out(g, got));
  ref_normexp(2, shape, 1, v, 0, sm);
  for (int r = 0; r < 3; r++) {
    double ws = 0;
    for (int c = 0; c < 4; c++)
      ws += wv[r * 4 + c];
    for (int c = 0; c < 4; c++)
      ref[r * 4 + c] = wv[r * 4 + c] - sm[r * 4 + c] * ws;
  }
  for (int i = 0; i < 12; i++) {
    ck_assert_msg(isfinite(got[i]), "gradient element %d is %g", i, got[i]);
    ck_assert_msg(fabs(got[i] - ref[i]) <= 1e-5 * fmax(1, fabs(ref[i])),
                  "gradient element %d is %.9g, expected %.9g", i, got[i],
                  ref[i]);
  }

  tg_tape_free(tp);
}
END_TEST

/* The same through softmax and logsumexp, with tg_grad: d/dx of
 * sum(W * softmax(x)) + sum(logsumexp(x)) is s * (W - <W, s>) + s. */
START_TEST(test_softmax_gradient_finite_at_big_logits) {
  tg_tape *tp = tg_tape_new();
  int64_t shape[2] = {3, 4};
  double v[12], wv[12], sm[12], got[12], ref[12];
  for (int i = 0; i < 12; i++) {
    v[i] = big_logits[i / 4][i % 4];
    wv[i] = 0.25 * (double)((i * 5) % 7) - 0.5;
  }
  ref_normexp(2, shape, 1, v, 0, sm);
  tg_tensor *x =
      tg_set_requires_grad(tg_from_f64(tp, TG_F32, 2, shape, v), true);
  tg_tensor *w = tg_from_f64(tp, TG_F32, 2, shape, wv);
  tg_tensor *y2 =
      tg_add(tp, tg_sum_all(tp, tg_mul(tp, tg_softmax(tp, x, 1), w)),
             tg_sum_all(tp, tg_logsumexp(tp, x, 1, false)));
  tg_tensor *g2 = NULL;
  ck_assert_int_eq(tg_grad(tp, 1, &y2, NULL, 1, &x, &g2, false), TG_OK);
  ck_assert_ptr_nonnull(g2);
  ck_assert(tgt_copy_out(g2, got));
  for (int r = 0; r < 3; r++) {
    double ws = 0;
    for (int c = 0; c < 4; c++)
      ws += wv[r * 4 + c] * sm[r * 4 + c];
    for (int c = 0; c < 4; c++) {
      int i = r * 4 + c;
      ref[i] = sm[i] * (wv[i] - ws) + sm[i];
    }
  }
  for (int i = 0; i < 12; i++) {
    ck_assert_msg(isfinite(got[i]), "gradient element %d is %g", i, got[i]);
    ck_assert_msg(fabs(got[i] - ref[i]) <= 1e-5 * fmax(1, fabs(ref[i])),
                  "softmax+lse gradient element %d is %.9g, expected %.9g", i,
                  got[i], ref[i]);
  }
  tg_tape_free(tp);
}
END_TEST

/* --- gradients ------------------------------------------------------------ */

#define NW 512

static const double *weights(void) {
  static double w[NW];
  static bool ready = false;
  if (!ready) {
    tg_rng rng;
    tg_rng_seed(&rng, 0xBEEFu);
    tgt_fill_away(&rng, w, NW, 0.2, 1.5);
    ready = true;
  }
  return w;
}

/* sum(out * W) with W a fixed random constant of out's shape. */
static tg_tensor *weigh(tg_tape *tp, tg_tensor *out) {
  if (!out) return NULL;
  if (out->numel > NW) {
    fprintf(stderr, "output too large for the weights\n");
    return NULL;
  }
  tg_tensor *w = tgt_make_const(tp, out->ndim, out->shape, weights());
  return tg_sum_all(tp, tg_mul(tp, out, w));
}

typedef struct op_ctx {
  int axis, n;
  int64_t start, stop, step;
  int64_t pads[2 * TG_MAX_DIMS];
  double value;
  int index_ndim;
  int64_t index_shape[TG_MAX_DIMS];
  double index[64];
  int which; /* softmax family: 0, 1, 2 (keepdim), 3 (no keepdim) */
} op_ctx;

static tg_tensor *index_const(tg_tape *tp, const op_ctx *c) {
  return tgt_make_const(tp, c->index_ndim, c->index_shape, c->index);
}

static tg_tensor *slice_fn(tg_tape *tp, tg_tensor **in, void *ctx) {
  const op_ctx *c = ctx;
  return weigh(tp, tg_slice(tp, in[0], c->axis, c->start, c->stop, c->step));
}

static tg_tensor *concat_fn(tg_tape *tp, tg_tensor **in, void *ctx) {
  const op_ctx *c = ctx;
  /* square the joined tensor so the second order is not trivially zero */
  tg_tensor *y = tg_concat(tp, c->n, in, c->axis);
  return weigh(tp, tg_mul(tp, y, y));
}

static tg_tensor *pad_fn(tg_tape *tp, tg_tensor **in, void *ctx) {
  const op_ctx *c = ctx;
  tg_tensor *y = tg_pad(tp, in[0], c->pads, c->value);
  return weigh(tp, tg_mul(tp, y, y));
}

static tg_tensor *gather_fn(tg_tape *tp, tg_tensor **in, void *ctx) {
  const op_ctx *c = ctx;
  tg_tensor *y = tg_gather(tp, in[0], c->axis, index_const(tp, c));
  return weigh(tp, tg_mul(tp, y, y));
}

static tg_tensor *scatter_fn(tg_tape *tp, tg_tensor **in, void *ctx) {
  const op_ctx *c = ctx;
  tg_tensor *y = tg_scatter_add(tp, in[0], c->axis, index_const(tp, c), in[1]);
  return weigh(tp, tg_mul(tp, y, y));
}

static tg_tensor *index_select_fn(tg_tape *tp, tg_tensor **in, void *ctx) {
  const op_ctx *c = ctx;
  tg_tensor *y = tg_index_select(tp, in[0], c->axis, index_const(tp, c));
  return weigh(tp, tg_mul(tp, y, y));
}

static tg_tensor *normexp_fn(tg_tape *tp, tg_tensor **in, void *ctx) {
  const op_ctx *c = ctx;
  switch (c->which) {
  case 0: return weigh(tp, tg_softmax(tp, in[0], c->axis));
  case 1: return weigh(tp, tg_log_softmax(tp, in[0], c->axis));
  case 2: return weigh(tp, tg_logsumexp(tp, in[0], c->axis, true));
  default: return weigh(tp, tg_logsumexp(tp, in[0], c->axis, false));
  }
}

static void init_input(tgt_input *in, int nd, const int64_t *shape,
                       uint64_t seed) {
  ck_assert(tgt_input_init(in, nd, shape));
  tg_rng rng;
  tg_rng_seed(&rng, seed);
  tgt_fill_uniform(&rng, in->data, in->numel, -2, 2);
}

static void expect_grads(const char *label, tgt_fn f, op_ctx *c, int n,
                         tgt_input *in) {
  double e1 = tgt_check_grad(f, c, n, in);
  ck_assert_msg(e1 < TOL1, "%s: first-order error %g", label, e1);
  double e2 = tgt_check_grad2(f, c, n, in, 77);
  ck_assert_msg(e2 < TOL2, "%s: second-order error %g", label, e2);
}

START_TEST(test_slice_gradients) {
  int64_t s[3] = {3, 4, 5};
  tgt_input in;
  init_input(&in, 3, s, 500);
  static const int64_t cases[][3] = {
      {1, 3, 1}, {-3, 100, 2}, {0, 5, 3}, {-100, -1, 1}};
  for (int axis = 0; axis < 3; axis++)
    for (int k = 0; k < 4; k++) {
      op_ctx c;
      memset(&c, 0, sizeof c);
      c.axis = axis;
      c.start = cases[k][0], c.stop = cases[k][1], c.step = cases[k][2];
      char label[96];
      snprintf(label, sizeof label, "slice axis %d [%lld:%lld:%lld]", axis,
               (long long)c.start, (long long)c.stop, (long long)c.step);
      double e1 = tgt_check_grad(slice_fn, &c, 1, &in);
      ck_assert_msg(e1 < TOL1, "%s: first-order error %g", label, e1);
      double e2 = tgt_check_grad2(slice_fn, &c, 1, &in, 78);
      ck_assert_msg(e2 < TOL2, "%s: second-order error %g", label, e2);
    }
  tgt_input_free(&in);
}
END_TEST

/* Several slices of one tensor, overlapping, strided, one of a view, mixed
 * with direct uses: without a recorded graph the sweep adds each slice's
 * gradient straight into one buffer of the input's shape, in any order
 * with the other contributions. */
static tg_tensor *many_slices_fn(tg_tape *tp, tg_tensor **in, void *ctx) {
  (void)ctx;
  tg_tensor *x = in[0];                       /* [3, 4, 5] */
  tg_tensor *a = tg_slice(tp, x, 1, 0, 4, 2); /* rows 0, 2 */
  tg_tensor *b = tg_slice(tp, x, 1, 1, 4, 1); /* rows 1..3, overlaps a */
  tg_tensor *c = tg_slice(tp, tg_transpose(tp, x, 0, 2), 0, 1, 5, 3);
  tg_tensor *d = tg_slice(tp, a, 2, -2, 100, 1); /* a slice of a slice */
  tg_tensor *y = tg_add(tp, tg_sum_all(tp, tg_mul(tp, a, a)),
                        tg_sum_all(tp, tg_tanh(tp, b)));
  y = tg_add(tp, y, tg_sum_all(tp, tg_mul(tp, c, tg_sin(tp, c))));
  y = tg_add(tp, y, tg_sum_all(tp, tg_exp(tp, d)));
  return tg_add(tp, y, weigh(tp, tg_mul(tp, x, x)));
}

START_TEST(test_overlapping_slice_gradients) {
  int64_t s[3] = {3, 4, 5};
  tgt_input in;
  init_input(&in, 3, s, 505);
  expect_grads("overlapping slices", many_slices_fn, NULL, 1, &in);
  /* tg_backward deposits the same gradient as tg_grad returns. */
  tg_tape *tp = tg_tape_new();
  tg_tensor *x = tgt_make_leaf(tp, &in);
  tg_tensor *y = many_slices_fn(tp, &x, NULL), *g;
  ck_assert(!tgt_failed(tp, y, "many slices"));
  ck_assert_int_eq(tg_grad(tp, 1, &y, NULL, 1, &x, &g, false), TG_OK);
  double *want = tgt_read(g);
  ck_assert_int_eq(tg_backward(tp, y), TG_OK);
  double *got = tgt_read(tg_grad_of(x));
  ck_assert(tgt_close_all("tg_backward vs tg_grad", got, want, x->numel, 0));
  free(want), free(got);
  tg_tape_free(tp);
  tgt_input_free(&in);
}
END_TEST

START_TEST(test_concat_gradients) {
  for (int axis = 0; axis < 3; axis++) {
    tgt_input in[3];
    for (int i = 0; i < 3; i++) {
      int64_t s[3] = {2, 3, 2};
      s[axis] = i + 1;
      init_input(&in[i], 3, s, 510 + (uint64_t)(axis * 3 + i));
    }
    op_ctx c;
    memset(&c, 0, sizeof c);
    c.axis = axis;
    c.n = 3;
    char label[64];
    snprintf(label, sizeof label, "concat of 3 along axis %d", axis);
    expect_grads(label, concat_fn, &c, 3, in);
    c.n = 2;
    snprintf(label, sizeof label, "concat of 2 along axis %d", axis);
    expect_grads(label, concat_fn, &c, 2, in);
    tgt_inputs_free(3, in);
  }
}
END_TEST

START_TEST(test_pad_gradients) {
  int64_t s[3] = {2, 3, 2};
  tgt_input in;
  init_input(&in, 3, s, 520);
  op_ctx c;
  memset(&c, 0, sizeof c);
  int64_t pads[6] = {1, 0, 0, 2, 2, 1};
  memcpy(c.pads, pads, sizeof pads);
  c.value = 0.75;
  expect_grads("pad 3-D", pad_fn, &c, 1, &in);
  tgt_input_free(&in);
}
END_TEST

START_TEST(test_gather_gradients) {
  int64_t xs[3] = {3, 4, 2};
  tgt_input in;
  init_input(&in, 3, xs, 530);
  for (int axis = 0; axis < 3; axis++) {
    op_ctx c;
    memset(&c, 0, sizeof c);
    c.axis = axis;
    c.index_ndim = 3;
    int64_t is[3] = {2, 3, 2};
    is[axis] = 4; /* repeats along axis; smaller elsewhere */
    memcpy(c.index_shape, is, sizeof is);
    double *iv = rand_index(540 + (uint64_t)axis, numel(3, is), xs[axis]);
    memcpy(c.index, iv, (size_t)numel(3, is) * sizeof *iv);
    free(iv);
    char label[64];
    snprintf(label, sizeof label, "gather along axis %d", axis);
    expect_grads(label, gather_fn, &c, 1, &in);
  }
  tgt_input_free(&in);
}
END_TEST

START_TEST(test_scatter_add_gradients) {
  int64_t bs[3] = {3, 4, 2};
  for (int axis = 0; axis < 3; axis++) {
    op_ctx c;
    memset(&c, 0, sizeof c);
    c.axis = axis;
    c.index_ndim = 3;
    int64_t is[3] = {2, 3, 2};
    is[axis] = 5; /* duplicates along axis */
    memcpy(c.index_shape, is, sizeof is);
    double *iv = rand_index(550 + (uint64_t)axis, numel(3, is), bs[axis]);
    memcpy(c.index, iv, (size_t)numel(3, is) * sizeof *iv);
    free(iv);
    tgt_input in[2];
    init_input(&in[0], 3, bs, 560 + (uint64_t)axis);
    init_input(&in[1], 3, is, 570 + (uint64_t)axis);
    char label[64];
    snprintf(label, sizeof label, "scatter_add along axis %d", axis);
    expect_grads(label, scatter_fn, &c, 2, in);
    tgt_inputs_free(2, in);
  }
}
END_TEST

START_TEST(test_index_select_gradients) {
  int64_t xs[3] = {3, 4, 2};
  tgt_input in;
  init_input(&in, 3, xs, 580);
  for (int axis = 0; axis < 3; axis++) {
    op_ctx c;
    memset(&c, 0, sizeof c);
    c.axis = axis;
    c.index_ndim = 1;
    c.index_shape[0] = 5;
    double *iv = rand_index(590 + (uint64_t)axis, 5, xs[axis]);
    memcpy(c.index, iv, 5 * sizeof *iv);
    free(iv);
    char label[64];
    snprintf(label, sizeof label, "index_select along axis %d", axis);
    expect_grads(label, index_select_fn, &c, 1, &in);
  }
  tgt_input_free(&in);
}
END_TEST

START_TEST(test_softmax_family_gradients) {
  static const char *names[4] = {"softmax", "log_softmax", "logsumexp keepdim",
                                 "logsumexp"};
  int64_t s2[2] = {3, 4}, s3[3] = {2, 3, 4};
  tgt_input in2, in3;
  init_input(&in2, 2, s2, 600);
  init_input(&in3, 3, s3, 601);
  for (int which = 0; which < 4; which++) {
    for (int axis = 0; axis < 2; axis++) {
      op_ctx c;
      memset(&c, 0, sizeof c);
      c.which = which;
      c.axis = axis;
      char label[96];
      snprintf(label, sizeof label, "%s of [3x4] along axis %d", names[which],
               axis);
      expect_grads(label, normexp_fn, &c, 1, &in2);
    }
    for (int axis = 0; axis < 3; axis++) {
      op_ctx c;
      memset(&c, 0, sizeof c);
      c.which = which;
      c.axis = axis;
      char label[96];
      snprintf(label, sizeof label, "%s of [2x3x4] along axis %d", names[which],
               axis);
      expect_grads(label, normexp_fn, &c, 1, &in3);
    }
  }
  tgt_input_free(&in2);
  tgt_input_free(&in3);
}
END_TEST

/* --- errors --------------------------------------------------------------- */

static tg_tape *etp;

static void err_setup(void) { etp = tg_tape_new(); }
static void err_teardown(void) { tg_tape_free(etp); }

static tg_tensor *zeros(tg_dtype dt, int ndim, int64_t a, int64_t b,
                        int64_t c) {
  int64_t s[3] = {a, b, c};
  return tg_zeros(etp, dt, ndim, s);
}
#define Z1(a) zeros(TG_F64, 1, a, 0, 0)
#define Z2(a, b) zeros(TG_F64, 2, a, b, 0)
#define Z3(a, b, c) zeros(TG_F64, 3, a, b, c)

/* A constant of shape [rows x cols] holding v (f64). */
static tg_tensor *vals2(int64_t rows, int64_t cols, const double *v) {
  int64_t s[2] = {rows, cols};
  return tg_from_f64(etp, TG_F64, 2, s, v);
}

static tg_tensor *vals1(int64_t n, const double *v) {
  return tg_from_f64(etp, TG_F64, 1, &n, v);
}

#define EXPECT_ERR(call, code, ...)                                            \
  do {                                                                         \
    tg_clear_error(etp);                                                       \
    tg_tensor *r_ = (call);                                                    \
    tgt_expect_err(etp, #call, r_, code, __VA_ARGS__, (const char *)NULL);     \
  } while (0)

START_TEST(test_gather_errors) {
  tg_tensor *x = Z2(5, 3);
  double i7[3] = {7, 0, 1}, i5[3] = {5, 0, 1}, frac[3] = {1.5, 0, 1};
  double neg[3] = {-1, 0, 1}, huge[3] = {1e20, 0, 1}, nan3[3] = {NAN, 0, 1};
  EXPECT_ERR(tg_gather(etp, x, 0, vals2(1, 3, i7)), TG_OK, "tg_gather",
             "out of range");
  EXPECT_ERR(tg_gather(etp, x, 0, vals2(1, 3, i5)), TG_OK, "tg_gather",
             "out of range");
  EXPECT_ERR(tg_gather(etp, x, 0, vals2(1, 3, frac)), TG_OK, "tg_gather");
  EXPECT_ERR(tg_gather(etp, x, 0, vals2(1, 3, neg)), TG_OK, "tg_gather");
  EXPECT_ERR(tg_gather(etp, x, 0, vals2(1, 3, huge)), TG_OK, "tg_gather");
  EXPECT_ERR(tg_gather(etp, x, 0, vals2(1, 3, nan3)), TG_OK, "tg_gather");
  /* an f32 index out of range */
  int64_t is[2] = {1, 3};
  EXPECT_ERR(tg_gather(etp, x, 0, tg_from_f64(etp, TG_F32, 2, is, i7)), TG_OK,
             "tg_gather", "out of range");
  /* along axis 1, 3 is already out of range */
  double i3[2] = {0, 3};
  EXPECT_ERR(tg_gather(etp, x, 1, vals2(1, 2, i3)), TG_OK, "tg_gather",
             "out of range");
  /* index shapes: other number of axes, or a side longer than x's */
  double i01[3] = {0, 1, 2};
  EXPECT_ERR(tg_gather(etp, x, 0, vals1(3, i01)), TG_OK, "tg_gather");
  double z8[8] = {0};
  EXPECT_ERR(tg_gather(etp, x, 0, vals2(2, 4, z8)), TG_OK, "tg_gather");
  EXPECT_ERR(tg_gather(etp, x, 1, vals2(6, 1, z8)), TG_OK, "tg_gather");
  /* axis */
  EXPECT_ERR(tg_gather(etp, x, 2, vals2(1, 3, z8)), TG_ERR_AXIS, "tg_gather");
  EXPECT_ERR(tg_gather(etp, x, -3, vals2(1, 3, z8)), TG_ERR_AXIS, "tg_gather");
  /* NULL */
  EXPECT_ERR(tg_gather(etp, NULL, 0, vals2(1, 3, z8)), TG_ERR_NULL,
             "tg_gather");
  EXPECT_ERR(tg_gather(etp, x, 0, NULL), TG_ERR_NULL, "tg_gather");
}
END_TEST

START_TEST(test_scatter_add_errors) {
  tg_tensor *base = Z2(5, 3);
  double i5[3] = {5, 0, 1}, ok[3] = {4, 0, 1}, frac[3] = {0.5, 0, 1};
  double neg[3] = {0, -2, 1};
  tg_tensor *src = Z2(1, 3);
  EXPECT_ERR(tg_scatter_add(etp, base, 0, vals2(1, 3, i5), src), TG_OK,
             "tg_scatter_add", "out of range");
  EXPECT_ERR(tg_scatter_add(etp, base, 0, vals2(1, 3, frac), src), TG_OK,
             "tg_scatter_add");
  EXPECT_ERR(tg_scatter_add(etp, base, 0, vals2(1, 3, neg), src), TG_OK,
             "tg_scatter_add");
  /* src must have index's shape */
  EXPECT_ERR(tg_scatter_add(etp, base, 0, vals2(1, 3, ok), Z2(1, 2)), TG_OK,
             "tg_scatter_add");
  EXPECT_ERR(tg_scatter_add(etp, base, 0, vals2(1, 3, ok), Z2(2, 3)), TG_OK,
             "tg_scatter_add");
  /* index longer than base on a side other than axis */
  double z8[8] = {0};
  EXPECT_ERR(tg_scatter_add(etp, base, 0, vals2(2, 4, z8), Z2(2, 4)), TG_OK,
             "tg_scatter_add");
  /* dtypes of base and src */
  EXPECT_ERR(
      tg_scatter_add(etp, base, 0, vals2(1, 3, ok), zeros(TG_F32, 2, 1, 3, 0)),
      TG_OK, "tg_scatter_add");
  /* axis */
  EXPECT_ERR(tg_scatter_add(etp, base, 2, vals2(1, 3, ok), src), TG_ERR_AXIS,
             "tg_scatter_add");
  EXPECT_ERR(tg_scatter_add(etp, base, -3, vals2(1, 3, ok), src), TG_ERR_AXIS,
             "tg_scatter_add");
  /* NULL */
  EXPECT_ERR(tg_scatter_add(etp, NULL, 0, vals2(1, 3, ok), src), TG_ERR_NULL,
             "tg_scatter_add");
  EXPECT_ERR(tg_scatter_add(etp, base, 0, NULL, src), TG_ERR_NULL,
             "tg_scatter_add");
  EXPECT_ERR(tg_scatter_add(etp, base, 0, vals2(1, 3, ok), NULL), TG_ERR_NULL,
             "tg_scatter_add");
}
END_TEST

START_TEST(test_index_select_errors) {
  tg_tensor *x = Z3(4, 2, 3);
  double i4[2] = {0, 4}, neg[2] = {-1, 0}, frac[2] = {0, 2.25};
  double ok[4] = {0, 1, 2, 3};
  EXPECT_ERR(tg_index_select(etp, x, 0, vals1(2, i4)), TG_OK, "tg_index_select",
             "out of range");
  EXPECT_ERR(tg_index_select(etp, x, 1, vals1(2, ok + 1)), TG_OK,
             "tg_index_select", "out of range");
  EXPECT_ERR(tg_index_select(etp, x, 0, vals1(2, neg)), TG_OK,
             "tg_index_select");
  EXPECT_ERR(tg_index_select(etp, x, 0, vals1(2, frac)), TG_OK,
             "tg_index_select");
  /* the index must be 1-D */
  EXPECT_ERR(tg_index_select(etp, x, 0, vals2(2, 2, ok)), TG_OK,
             "tg_index_select");
  EXPECT_ERR(tg_index_select(etp, x, 3, vals1(2, ok)), TG_ERR_AXIS,
             "tg_index_select");
  EXPECT_ERR(tg_index_select(etp, x, -4, vals1(2, ok)), TG_ERR_AXIS,
             "tg_index_select");
  EXPECT_ERR(tg_index_select(etp, NULL, 0, vals1(2, ok)), TG_ERR_NULL,
             "tg_index_select");
  EXPECT_ERR(tg_index_select(etp, x, 0, NULL), TG_ERR_NULL, "tg_index_select");
}
END_TEST

START_TEST(test_one_hot_errors) {
  double big[3] = {0, 4, 1}, neg[3] = {0, -1, 1}, frac[3] = {0, 1.5, 1};
  double ok[3] = {0, 1, 2};
  EXPECT_ERR(tg_one_hot(etp, vals1(3, big), 4, TG_F64), TG_OK, "tg_one_hot");
  EXPECT_ERR(tg_one_hot(etp, vals1(3, neg), 4, TG_F64), TG_OK, "tg_one_hot");
  EXPECT_ERR(tg_one_hot(etp, vals1(3, frac), 4, TG_F32), TG_OK, "tg_one_hot");
  EXPECT_ERR(tg_one_hot(etp, vals1(3, ok), 0, TG_F64), TG_OK, "tg_one_hot");
  EXPECT_ERR(tg_one_hot(etp, vals1(3, ok), -3, TG_F64), TG_OK, "tg_one_hot");
  EXPECT_ERR(tg_one_hot(etp, NULL, 4, TG_F64), TG_ERR_NULL, "tg_one_hot");
  /* an 8-D index would need a 9-D result */
  int64_t s8[8] = {1, 1, 1, 1, 1, 1, 1, 1};
  EXPECT_ERR(tg_one_hot(etp, tg_zeros(etp, TG_F64, 8, s8), 3, TG_F64), TG_OK,
             "tg_one_hot");
}
END_TEST

START_TEST(test_slice_errors) {
  tg_tensor *x = Z3(2, 3, 4);
  EXPECT_ERR(tg_slice(etp, x, 1, 0, 3, 0), TG_OK, "tg_slice");
  EXPECT_ERR(tg_slice(etp, x, 1, 2, 0, -1), TG_OK, "tg_slice");
  EXPECT_ERR(tg_slice(etp, x, 3, 0, 1, 1), TG_ERR_AXIS, "tg_slice");
  EXPECT_ERR(tg_slice(etp, x, -4, 0, 1, 1), TG_ERR_AXIS, "tg_slice");
  EXPECT_ERR(tg_slice(etp, NULL, 0, 0, 1, 1), TG_ERR_NULL, "tg_slice");
  EXPECT_ERR(tg_slice(etp, tg_scalar(etp, TG_F64, 1), 0, 0, 1, 1), TG_OK,
             "tg_slice");
}
END_TEST

START_TEST(test_concat_errors) {
  tg_tensor *a = Z2(2, 3);
  tg_tensor *sides[2] = {a, Z2(3, 3)};
  EXPECT_ERR(tg_concat(etp, 2, sides, 1), TG_ERR_SHAPE, "tg_concat");
  tg_tensor *ndims[2] = {a, Z3(2, 3, 1)};
  EXPECT_ERR(tg_concat(etp, 2, ndims, 0), TG_OK, "tg_concat");
  tg_tensor *dts[2] = {a, zeros(TG_F32, 2, 2, 3, 0)};
  EXPECT_ERR(tg_concat(etp, 2, dts, 0), TG_ERR_DTYPE, "tg_concat");
  tg_tensor *one[1] = {a};
  EXPECT_ERR(tg_concat(etp, 0, one, 0), TG_OK, "tg_concat");
  EXPECT_ERR(tg_concat(etp, -1, one, 0), TG_OK, "tg_concat");
  EXPECT_ERR(tg_concat(etp, 1, NULL, 0), TG_OK, "tg_concat");
  tg_tensor *withnull[3] = {a, NULL, a};
  EXPECT_ERR(tg_concat(etp, 3, withnull, 0), TG_ERR_NULL, "tg_concat");
  tg_tensor *two[2] = {a, a};
  EXPECT_ERR(tg_concat(etp, 2, two, 2), TG_ERR_AXIS, "tg_concat");
  EXPECT_ERR(tg_concat(etp, 2, two, -3), TG_ERR_AXIS, "tg_concat");
  /* 0-d tensors have no axis to join along */
  tg_tensor *scalars[2] = {tg_scalar(etp, TG_F64, 1),
                           tg_scalar(etp, TG_F64, 2)};
  EXPECT_ERR(tg_concat(etp, 2, scalars, 0), TG_OK, "tg_concat");
}
END_TEST

START_TEST(test_pad_errors) {
  tg_tensor *x = Z2(2, 3);
  int64_t neg[4] = {0, -1, 1, 1};
  EXPECT_ERR(tg_pad(etp, x, neg, 0), TG_OK, "tg_pad");
  int64_t neg2[4] = {1, 1, -5, 0};
  EXPECT_ERR(tg_pad(etp, x, neg2, 0), TG_OK, "tg_pad");
  int64_t ok[4] = {1, 1, 1, 1};
  EXPECT_ERR(tg_pad(etp, NULL, ok, 0), TG_ERR_NULL, "tg_pad");
  EXPECT_ERR(tg_pad(etp, x, NULL, 0), TG_OK, "tg_pad");
}
END_TEST

START_TEST(test_softmax_family_errors) {
  tg_tensor *x = Z2(2, 3);
  EXPECT_ERR(tg_softmax(etp, x, 2), TG_ERR_AXIS, "tg_softmax");
  EXPECT_ERR(tg_softmax(etp, x, -3), TG_ERR_AXIS, "tg_softmax");
  EXPECT_ERR(tg_log_softmax(etp, x, 2), TG_ERR_AXIS, "tg_log_softmax");
  EXPECT_ERR(tg_log_softmax(etp, x, -3), TG_ERR_AXIS, "tg_log_softmax");
  EXPECT_ERR(tg_logsumexp(etp, x, 2, true), TG_ERR_AXIS, "tg_logsumexp");
  EXPECT_ERR(tg_logsumexp(etp, x, -3, false), TG_ERR_AXIS, "tg_logsumexp");
  EXPECT_ERR(tg_softmax(etp, NULL, 0), TG_ERR_NULL, "tg_softmax");
  EXPECT_ERR(tg_log_softmax(etp, NULL, 0), TG_ERR_NULL, "tg_log_softmax");
  EXPECT_ERR(tg_logsumexp(etp, NULL, 0, false), TG_ERR_NULL, "tg_logsumexp");
}
END_TEST

static Suite *indexing_suite(void) {
  Suite *s = suite_create("indexing");
  TCase *tc = tcase_create("forward");
  tcase_set_timeout(tc, 300);
  tcase_add_test(tc, test_slice_values_every_axis);
  tcase_add_test(tc, test_slice_of_views);
  tcase_add_test(tc, test_slice_is_a_view);
  tcase_add_test(tc, test_slice_to_int64_max);
  tcase_add_test(tc, test_concat_values);
  tcase_add_test(tc, test_concat_with_an_empty_input);
  tcase_add_test(tc, test_concat_of_views);
  tcase_add_test(tc, test_pad_values);
  tcase_add_test(tc, test_gather_values);
  tcase_add_test(tc, test_scatter_add_values);
  tcase_add_test(tc, test_index_select_values);
  tcase_add_test(tc, test_one_hot_values);
  tcase_add_test(tc, test_indexing_with_non_contiguous_operands);
  tcase_add_test(tc, test_softmax_values);
  tcase_add_test(tc, test_softmax_stable_for_big_f32_logits);
  tcase_add_test(tc, test_log_softmax_stable_for_big_f32_logits);
  tcase_add_test(tc, test_logsumexp_stable_for_big_f32_logits);
  tcase_add_test(tc, test_log_softmax_gradient_finite_at_big_logits);
  tcase_add_test(tc, test_softmax_gradient_finite_at_big_logits);
  suite_add_tcase(s, tc);

  TCase *tg = tcase_create("gradients");
  tcase_set_timeout(tg, 300);
  tcase_add_test(tg, test_slice_gradients);
  tcase_add_test(tg, test_overlapping_slice_gradients);
  tcase_add_test(tg, test_concat_gradients);
  tcase_add_test(tg, test_pad_gradients);
  tcase_add_test(tg, test_gather_gradients);
  tcase_add_test(tg, test_scatter_add_gradients);
  tcase_add_test(tg, test_index_select_gradients);
  tcase_add_test(tg, test_softmax_family_gradients);
  suite_add_tcase(s, tg);

  TCase *te = tcase_create("errors");
  tcase_add_checked_fixture(te, err_setup, err_teardown);
  tcase_set_timeout(te, 300);
  tcase_add_test(te, test_gather_errors);
  tcase_add_test(te, test_scatter_add_errors);
  tcase_add_test(te, test_index_select_errors);
  tcase_add_test(te, test_one_hot_errors);
  tcase_add_test(te, test_slice_errors);
  tcase_add_test(te, test_concat_errors);
  tcase_add_test(te, test_pad_errors);
  tcase_add_test(te, test_softmax_family_errors);
  suite_add_tcase(s, te);
  return s;
}

int main(void) { return tgt_run_suite(indexing_suite()); }
