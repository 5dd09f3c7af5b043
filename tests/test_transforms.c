/* Derivative transforms (tg_vjp, tg_jvp, tg_jacobian, tg_hessian, tg_hvp)
 * against closed forms and central differences computed here in float64,
 * and their error paths. */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "support.h"
#include "tapegrad.h"

#define EPS 1e-6    /* central-difference step */
#define FD_TOL 1e-8 /* relative to max(1, |difference quotient|) */

enum { MAXN = 4 }; /* most inputs of a test function */

/* --- helpers -------------------------------------------------------------- */

static double rel_err(double got, double want) {
  return fabs(got - want) / fmax(1.0, fabs(want));
}

static void fill(tgt_input *in, int ndim, const int64_t *shape, tg_rng *rng) {
  ck_assert(tgt_input_init(in, ndim, shape));
  tgt_fill_uniform(rng, in->data, in->numel, -1, 1);
}

static double *random_values(tg_rng *rng, int64_t n) {
  double *v = malloc(sizeof(double) * (size_t)(n > 0 ? n : 1));
  ck_assert_ptr_nonnull(v);
  tgt_fill_uniform(rng, v, n, -1, 1);
  return v;
}

/* The inputs as plain tensors (the transforms make their own leaves). */
static void make_inputs(tg_tape *tp, int n, const tgt_input *in,
                        tg_tensor **x) {
  for (int i = 0; i < n; i++) {
    x[i] = tg_from_f64(tp, TG_F64, in[i].ndim, in[i].shape, in[i].data);
    ck_assert_ptr_nonnull(x[i]);
  }
}

/* f at x + step * dir (dir[i] NULL: input i unmoved), as a malloc'd array;
 * its element count into *m. */
static double *eval_at(tg_fn f, void *ud, int n, const tgt_input *in,
                       double *const *dir, double step, int64_t *m) {
  tg_tape *tp = tg_tape_new();
  tg_tensor *x[MAXN];
  for (int i = 0; i < n; i++) {
    double *v = malloc(sizeof(double) * (size_t)in[i].numel);
    for (int64_t j = 0; j < in[i].numel; j++)
      v[j] = in[i].data[j] + (dir[i] ? step * dir[i][j] : 0);
    x[i] = tg_from_f64(tp, TG_F64, in[i].ndim, in[i].shape, v);
    free(v);
  }
  tg_tensor *y = f(tp, x, ud);
  ck_assert(!tgt_failed(tp, y, "eval_at"));
  *m = y->numel;
  double *out = tgt_read(y);
  ck_assert_ptr_nonnull(out);
  tg_tape_free(tp);
  return out;
}

/* Central difference of f along dir: (f(x + EPS dir) - f(x - EPS dir)) /
 * 2 EPS. */
static double *fd_jvp(tg_fn f, void *ud, int n, const tgt_input *in,
                      double *const *dir, int64_t *m) {
  double *hi = eval_at(f, ud, n, in, dir, EPS, m);
  double *lo = eval_at(f, ud, n, in, dir, -EPS, m);
  for (int64_t k = 0; k < *m; k++)
    hi[k] = (hi[k] - lo[k]) / (2 * EPS);
  free(lo);
  return hi;
}

/* d f / d x_wrt by central differences, row-major [m, numel(x_wrt)]. */
static double *fd_jacobian(tg_fn f, void *ud, int n, const tgt_input *in,
                           int wrt, int64_t *m) {
  int64_t nx = in[wrt].numel;
  double *dir[MAXN] = {NULL}, *jac = NULL;
  dir[wrt] = calloc((size_t)nx, sizeof(double));
  for (int64_t j = 0; j < nx; j++) {
    dir[wrt][j] = 1;
    double *col = fd_jvp(f, ud, n, in, dir, m);
    dir[wrt][j] = 0;
    if (!jac) jac = malloc(sizeof(double) * (size_t)(*m * nx));
    for (int64_t k = 0; k < *m; k++)
      jac[k * nx + j] = col[k];
    free(col);
  }
  free(dir[wrt]);
  return jac;
}

/* The largest relative error of tensor t against want[0 .. numel). */
static double max_err(const tg_tensor *t, const double *want) {
  double *got = tgt_read(t), worst = 0;
  ck_assert_ptr_nonnull(got);
  for (int64_t k = 0; k < t->numel; k++)
    worst = fmax(worst, rel_err(got[k], want[k]));
  free(got);
  return worst;
}

static void assert_shape(const tg_tensor *t, int ndim, const int64_t *shape) {
  ck_assert_ptr_nonnull(t);
  ck_assert_int_eq(t->ndim, ndim);
  for (int d = 0; d < ndim; d++)
    ck_assert_int_eq(t->shape[d], shape[d]);
}

/* A result is a plain value: no graph behind it. */
static void assert_value(const tg_tensor *t) {
  ck_assert_ptr_nonnull(t);
  ck_assert(!t->requires_grad);
  ck_assert_ptr_null(t->node);
}

/* --- functions under test ------------------------------------------------- */

/* A constant matrix handed to f through ud. */
typedef struct mat {
  int64_t rows, cols;
  double *a;
} mat;

static tg_tensor *const_mat(tg_tape *tp, tg_dtype dt, const mat *m) {
  int64_t s[2] = {m->rows, m->cols};
  return tg_from_f64(tp, dt, 2, s, m->a);
}

/* A x for a 1-D x, as a 1-D result. */
static tg_tensor *matvec(tg_tape *tp, const mat *m, tg_tensor *x) {
  int64_t col[2] = {m->cols, 1}, out[1] = {m->rows};
  tg_tensor *a = const_mat(tp, x->dtype, m);
  return tg_reshape(tp, tg_matmul(tp, a, tg_reshape(tp, x, 2, col)), 1, out);
}

static tg_tensor *f_linear(tg_tape *tp, tg_tensor *const *x, void *ud) {
  return matvec(tp, ud, x[0]);
}

static tg_tensor *f_tanh_matvec(tg_tape *tp, tg_tensor *const *x, void *ud) {
  return tg_tanh(tp, matvec(tp, ud, x[0]));
}

/* x [3], w [2,3] -> sin(w * x) + x * x, [2,3] */
static tg_tensor *f_pair(tg_tape *tp, tg_tensor *const *x, void *ud) {
  (void)ud;
  tg_tensor *s = tg_sin(tp, tg_mul(tp, x[1], x[0]));
  return tg_add(tp, s, tg_mul(tp, x[0], x[0]));
}

/* x [4] -> tanh(B x) reshaped to [2,3] (B [6,4]) */
static tg_tensor *f_grid(tg_tape *tp, tg_tensor *const *x, void *ud) {
  int64_t s[2] = {2, 3};
  return tg_reshape(tp, tg_tanh(tp, matvec(tp, ud, x[0])), 2, s);
}

static tg_tensor *f_sum_sin(tg_tape *tp, tg_tensor *const *x, void *ud) {
  (void)ud;
  return tg_sum_all(tp, tg_sin(tp, x[0]));
}

/* x^T A x */
static tg_tensor *f_quad(tg_tape *tp, tg_tensor *const *x, void *ud) {
  const mat *m = ud;
  int64_t col[2] = {m->cols, 1};
  tg_tensor *xc = tg_reshape(tp, x[0], 2, col);
  tg_tensor *ax = tg_matmul(tp, const_mat(tp, x[0]->dtype, m), xc);
  return tg_sum_all(tp, tg_matmul(tp, tg_transpose(tp, xc, 0, 1), ax));
}

/* Ignores x: the values ud points to, [3]. */
static tg_tensor *f_const(tg_tape *tp, tg_tensor *const *x, void *ud) {
  int64_t s[1] = {3};
  return tg_from_f64(tp, x[0]->dtype, 1, s, ud);
}

static tg_tensor *f_identity(tg_tape *tp, tg_tensor *const *x, void *ud) {
  (void)tp;
  (void)ud;
  return x[0];
}

/* W [3,4], b [4] -> sum(tanh(X W + b)^2) / 2 with X [5,3] from ud */
static tg_tensor *f_mlp(tg_tape *tp, tg_tensor *const *x, void *ud) {
  tg_tensor *h =
      tg_add(tp, tg_matmul(tp, const_mat(tp, TG_F64, ud), x[0]), x[1]);
  h = tg_tanh(tp, h);
  return tg_mul_scalar(tp, tg_sum_all(tp, tg_mul(tp, h, h)), 0.5);
}

static tg_tensor *f_sin(tg_tape *tp, tg_tensor *const *x, void *ud) {
  (void)ud;
  return tg_sin(tp, x[0]);
}

static tg_tensor *f_null(tg_tape *tp, tg_tensor *const *x, void *ud) {
  (void)tp;
  (void)x;
  (void)ud;
  return NULL;
}

/* A matmul whose inner dimensions differ. */
static tg_tensor *f_bad_matmul(tg_tape *tp, tg_tensor *const *x, void *ud) {
  (void)ud;
  return tg_sum_all(tp, tg_matmul(tp, x[0], x[0]));
}

static tg_tensor *f_count(tg_tape *tp, tg_tensor *const *x, void *ud) {
  ++*(int *)ud;
  return tg_sum_all(tp, x[0]);
}

/* --- vjp ------------------------------------------------------------------ */

START_TEST(test_vjp_of_tanh_matvec_matches_differences) {
  tg_rng rng;
  tg_rng_seed(&rng, 1);
  int64_t sx[1] = {3}, sy[1] = {4};
  mat A = {4, 3, random_values(&rng, 12)};
  tgt_input in;
  fill(&in, 1, sx, &rng);
  double *v = random_values(&rng, 4);
  tg_tape *tp = tg_tape_new();
  tg_tensor *x, *y, *g, *vt = tg_from_f64(tp, TG_F64, 1, sy, v);
  make_inputs(tp, 1, &in, &x);
  ck_assert_int_eq(tg_vjp(tp, f_tanh_matvec, &A, 1, &x, vt, &y, &g), TG_OK);
  assert_shape(g, 1, sx);
  assert_value(g);
  assert_value(y);

  int64_t m;
  double *jac = fd_jacobian(f_tanh_matvec, &A, 1, &in, 0, &m), want[3];
  for (int j = 0; j < 3; j++) {
    want[j] = 0;
    for (int k = 0; k < 4; k++)
      want[j] += v[k] * jac[k * 3 + j];
  }
  ck_assert_double_lt(max_err(g, want), FD_TOL);
  double *y0 = eval_at(f_tanh_matvec, &A, 1, &in, (double *[]){NULL}, 0, &m);
  ck_assert_double_lt(max_err(y, y0), 1e-15);
  tg_tape_free(tp);
  free(jac);
  free(y0);
  free(v);
  free(A.a);
  tgt_input_free(&in);
}
END_TEST

START_TEST(test_vjp_of_two_inputs_matches_differences) {
  tg_rng rng;
  tg_rng_seed(&rng, 2);
  int64_t sx[1] = {3}, sw[2] = {2, 3};
  tgt_input in[2];
  fill(&in[0], 1, sx, &rng);
  fill(&in[1], 2, sw, &rng);
  double *v = random_values(&rng, 6);
  tg_tape *tp = tg_tape_new();
  tg_tensor *x[2], *g[2], *vt = tg_from_f64(tp, TG_F64, 2, sw, v);
  make_inputs(tp, 2, in, x);
  ck_assert_int_eq(tg_vjp(tp, f_pair, NULL, 2, x, vt, NULL, g), TG_OK);
  for (int i = 0; i < 2; i++) {
    int64_t m, nx = in[i].numel;
    double *jac = fd_jacobian(f_pair, NULL, 2, in, i, &m);
    double want[6] = {0};
    for (int64_t j = 0; j < nx; j++)
      for (int64_t k = 0; k < m; k++)
        want[j] += v[k] * jac[k * nx + j];
    assert_shape(g[i], in[i].ndim, in[i].shape);
    ck_assert_double_lt(max_err(g[i], want), FD_TOL);
    free(jac);
  }
  tg_tape_free(tp);
  free(v);
  tgt_inputs_free(2, in);
}
END_TEST

START_TEST(test_vjp_without_v_is_the_gradient) {
  tg_rng rng;
  tg_rng_seed(&rng, 3);
  int64_t sx[2] = {2, 3};
  tgt_input in;
  fill(&in, 2, sx, &rng);
  tg_tape *tp = tg_tape_new();
  tg_tensor *x, *y, *g;
  make_inputs(tp, 1, &in, &x);
  ck_assert_int_eq(tg_vjp(tp, f_sum_sin, NULL, 1, &x, NULL, &y, &g), TG_OK);
  double want[6], sum = 0;
  for (int j = 0; j < 6; j++) {
    want[j] = cos(in.data[j]);
    sum += sin(in.data[j]);
  }
  assert_shape(g, 2, sx);
  ck_assert_double_lt(max_err(g, want), 1e-15);
  ck_assert_int_eq(y->ndim, 0);
  ck_assert_double_eq_tol(tg_item(y), sum, 1e-14);
  tg_tape_free(tp);
  tgt_input_free(&in);
}
END_TEST

START_TEST(test_vjp_of_identity_is_a_copy_of_v) {
  int64_t s[1] = {3};
  const double xv[3] = {1, 2, 3}, vv[3] = {-1, 0.5, 4};
  tg_tape *tp = tg_tape_new();
  tg_tensor *x = tg_from_f64(tp, TG_F64, 1, s, xv);
  tg_tensor *v = tg_from_f64(tp, TG_F64, 1, s, vv), *y, *g;
  ck_assert_int_eq(tg_vjp(tp, f_identity, NULL, 1, &x, v, &y, &g), TG_OK);
  ck_assert_ptr_ne(g, v);
  ck_assert_ptr_ne(y, x);
  ck_assert_double_eq(max_err(g, vv), 0.0);
  ck_assert_double_eq(max_err(y, xv), 0.0);
  assert_value(y);
  tg_tape_free(tp);
}
END_TEST

/* --- jvp ------------------------------------------------------------------ */

START_TEST(test_jvp_of_one_input_matches_differences) {
  tg_rng rng;
  tg_rng_seed(&rng, 4);
  int64_t sx[1] = {3};
  mat A = {4, 3, random_values(&rng, 12)};
  tgt_input in;
  fill(&in, 1, sx, &rng);
  double *t = random_values(&rng, 3);
  tg_tape *tp = tg_tape_new();
  tg_tensor *x, *y, *d, *tt = tg_from_f64(tp, TG_F64, 1, sx, t);
  make_inputs(tp, 1, &in, &x);
  ck_assert_int_eq(tg_jvp(tp, f_tanh_matvec, &A, 1, &x, &tt, &y, &d), TG_OK);
  int64_t m, sy[1] = {4};
  double *want = fd_jvp(f_tanh_matvec, &A, 1, &in, &t, &m);
  assert_shape(d, 1, sy);
  assert_value(d);
  ck_assert_double_lt(max_err(d, want), FD_TOL);
  double *y0 = eval_at(f_tanh_matvec, &A, 1, &in, (double *[]){NULL}, 0, &m);
  ck_assert_double_lt(max_err(y, y0), 1e-15);
  tg_tape_free(tp);
  free(want);
  free(y0);
  free(t);
  free(A.a);
  tgt_input_free(&in);
}
END_TEST

START_TEST(test_jvp_of_two_inputs_matches_differences) {
  tg_rng rng;
  tg_rng_seed(&rng, 5);
  int64_t sx[1] = {3}, sw[2] = {2, 3};
  tgt_input in[2];
  fill(&in[0], 1, sx, &rng);
  fill(&in[1], 2, sw, &rng);
  double *t[2] = {random_values(&rng, 3), random_values(&rng, 6)};
  tg_tape *tp = tg_tape_new();
  tg_tensor *x[2], *d, *tt[2];
  make_inputs(tp, 2, in, x);
  tt[0] = tg_from_f64(tp, TG_F64, 1, sx, t[0]);
  tt[1] = tg_from_f64(tp, TG_F64, 2, sw, t[1]);
  ck_assert_int_eq(tg_jvp(tp, f_pair, NULL, 2, x, tt, NULL, &d), TG_OK);
  int64_t m;
  double *want = fd_jvp(f_pair, NULL, 2, in, t, &m);
  assert_shape(d, 2, sw);
  ck_assert_double_lt(max_err(d, want), FD_TOL);
  tg_tape_free(tp);
  free(want);
  free(t[0]);
  free(t[1]);
  tgt_inputs_free(2, in);
}
END_TEST

START_TEST(test_jvp_of_linear_function_is_exact) {
  tg_rng rng;
  tg_rng_seed(&rng, 6);
  int64_t sx[1] = {3};
  mat A = {4, 3, random_values(&rng, 12)};
  double *xv = random_values(&rng, 3), *t = random_values(&rng, 3), want[4];
  for (int k = 0; k < 4; k++) {
    want[k] = 0;
    for (int j = 0; j < 3; j++)
      want[k] += A.a[k * 3 + j] * t[j];
  }
  tg_tape *tp = tg_tape_new();
  tg_tensor *x = tg_from_f64(tp, TG_F64, 1, sx, xv), *d;
  tg_tensor *tt = tg_from_f64(tp, TG_F64, 1, sx, t);
  ck_assert_int_eq(tg_jvp(tp, f_linear, &A, 1, &x, &tt, NULL, &d), TG_OK);
  ck_assert_double_lt(max_err(d, want), 1e-14);
  tg_tape_free(tp);
  free(A.a);
  free(xv);
  free(t);
}
END_TEST

START_TEST(test_jvp_of_constant_function_is_zero) {
  int64_t s[1] = {3};
  double c[3] = {1, -2, 3}, xv[3] = {0.1, 0.2, 0.3}, zero[3] = {0};
  tg_tape *tp = tg_tape_new();
  tg_tensor *x = tg_from_f64(tp, TG_F64, 1, s, xv), *y, *d;
  tg_tensor *t = tg_from_f64(tp, TG_F64, 1, s, xv);
  ck_assert_int_eq(tg_jvp(tp, f_const, c, 1, &x, &t, &y, &d), TG_OK);
  ck_assert_double_eq(max_err(d, zero), 0.0);
  ck_assert_double_eq(max_err(y, c), 0.0);
  tg_tape_free(tp);
}
END_TEST

START_TEST(test_jvp_of_identity_is_the_tangent) {
  int64_t s[2] = {2, 2};
  const double xv[4] = {1, 2, 3, 4}, tv[4] = {0.5, -1, 2, 0};
  tg_tape *tp = tg_tape_new();
  tg_tensor *x = tg_from_f64(tp, TG_F64, 2, s, xv), *d;
  tg_tensor *t = tg_from_f64(tp, TG_F64, 2, s, tv);
  ck_assert_int_eq(tg_jvp(tp, f_identity, NULL, 1, &x, &t, NULL, &d), TG_OK);
  ck_assert_double_eq(max_err(d, tv), 0.0);
  tg_tape_free(tp);
}
END_TEST

START_TEST(test_jvp_in_f32) {
  tg_rng rng;
  tg_rng_seed(&rng, 7);
  int64_t sx[1] = {3};
  mat A = {4, 3, random_values(&rng, 12)};
  double *xv = random_values(&rng, 3), *t = random_values(&rng, 3);
  tg_tape *tp = tg_tape_new();
  tg_tensor *d32, *d64, *x[2], *tt[2];
  for (int k = 0; k < 2; k++) {
    tg_dtype dt = k ? TG_F64 : TG_F32;
    x[k] = tg_from_f64(tp, dt, 1, sx, xv);
    tt[k] = tg_from_f64(tp, dt, 1, sx, t);
  }
  ck_assert_int_eq(tg_jvp(tp, f_tanh_matvec, &A, 1, &x[0], &tt[0], NULL, &d32),
                   TG_OK);
  ck_assert_int_eq(tg_jvp(tp, f_tanh_matvec, &A, 1, &x[1], &tt[1], NULL, &d64),
                   TG_OK);
  ck_assert_int_eq(d32->dtype, TG_F32);
  double *want = tgt_read(d64);
  ck_assert_double_lt(max_err(d32, want), 1e-5);
  tg_tape_free(tp);
  free(want);
  free(A.a);
  free(xv);
  free(t);
}
END_TEST

/* --- Jacobian ------------------------------------------------------------- */

START_TEST(test_jacobian_matches_differences_and_shape) {
  tg_rng rng;
  tg_rng_seed(&rng, 8);
  int64_t sx[1] = {4}, sj[3] = {2, 3, 4};
  mat B = {6, 4, random_values(&rng, 24)};
  tgt_input in;
  fill(&in, 1, sx, &rng);
  tg_tape *tp = tg_tape_new();
  tg_tensor *x;
  make_inputs(tp, 1, &in, &x);
  tg_tensor *J = tg_jacobian(tp, f_grid, &B, 1, &x, 0);
  assert_shape(J, 3, sj);
  assert_value(J);
  int64_t m;
  double *want = fd_jacobian(f_grid, &B, 1, &in, 0, &m);
  ck_assert_int_eq(m, 6);
  ck_assert_double_lt(max_err(J, want), FD_TOL);
  tg_tape_free(tp);
  free(want);
  free(B.a);
  tgt_input_free(&in);
}
END_TEST

START_TEST(test_jacobian_of_second_input) {
  tg_rng rng;
  tg_rng_seed(&rng, 9);
  int64_t sx[1] = {3}, sw[2] = {2, 3}, sj[4] = {2, 3, 2, 3};
  tgt_input in[2];
  fill(&in[0], 1, sx, &rng);
  fill(&in[1], 2, sw, &rng);
  tg_tape *tp = tg_tape_new();
  tg_tensor *x[2];
  make_inputs(tp, 2, in, x);
  tg_tensor *J = tg_jacobian(tp, f_pair, NULL, 2, x, 1);
  assert_shape(J, 4, sj);
  int64_t m;
  double *want = fd_jacobian(f_pair, NULL, 2, in, 1, &m);
  ck_assert_double_lt(max_err(J, want), FD_TOL);
  tg_tape_free(tp);
  free(want);
  tgt_inputs_free(2, in);
}
END_TEST

START_TEST(test_jacobian_of_matvec_is_the_matrix) {
  tg_rng rng;
  tg_rng_seed(&rng, 10);
  int64_t sx[1] = {3}, sj[2] = {4, 3};
  mat A = {4, 3, random_values(&rng, 12)};
  double *xv = random_values(&rng, 3);
  tg_tape *tp = tg_tape_new();
  tg_tensor *x = tg_from_f64(tp, TG_F64, 1, sx, xv);
  tg_tensor *J = tg_jacobian(tp, f_linear, &A, 1, &x, 0);
  assert_shape(J, 2, sj);
  ck_assert_double_eq(max_err(J, A.a), 0.0);
  tg_tape_free(tp);
  free(A.a);
  free(xv);
}
END_TEST

START_TEST(test_jacobian_of_scalar_output_is_the_gradient) {
  tg_rng rng;
  tg_rng_seed(&rng, 11);
  int64_t sx[2] = {2, 2};
  double *xv = random_values(&rng, 4), want[4];
  for (int j = 0; j < 4; j++)
    want[j] = cos(xv[j]);
  tg_tape *tp = tg_tape_new();
  tg_tensor *x = tg_from_f64(tp, TG_F64, 2, sx, xv);
  tg_tensor *J = tg_jacobian(tp, f_sum_sin, NULL, 1, &x, 0);
  assert_shape(J, 2, sx); /* [] ++ [2,2] */
  ck_assert_double_lt(max_err(J, want), 1e-15);
  tg_tape_free(tp);
  free(xv);
}
END_TEST

START_TEST(test_jacobian_leaves_grad_mode_off) {
  int64_t sx[1] = {3};
  double xv[3] = {0.1, 0.2, 0.3}, want[9] = {0};
  for (int j = 0; j < 3; j++)
    want[j * 3 + j] = cos(xv[j]);
  tg_tape *tp = tg_tape_new();
  tg_set_grad_enabled(tp, false);
  tg_tensor *x = tg_from_f64(tp, TG_F64, 1, sx, xv);
  tg_tensor *J = tg_jacobian(tp, f_sin, NULL, 1, &x, 0);
  ck_assert(!tg_grad_enabled(tp));
  ck_assert_double_lt(max_err(J, want), 1e-15);
  tg_tape_free(tp);
}
END_TEST

/* --- Hessian and HVP ------------------------------------------------------ */

START_TEST(test_hessian_of_quadratic_form) {
  enum { D = 4 };
  tg_rng rng;
  tg_rng_seed(&rng, 12);
  int64_t sx[1] = {D}, sh[2] = {D, D};
  mat A = {D, D, random_values(&rng, D * D)};
  double *xv = random_values(&rng, D), want[D * D];
  for (int i = 0; i < D; i++)
    for (int j = 0; j < D; j++)
      want[i * D + j] = A.a[i * D + j] + A.a[j * D + i];
  tg_tape *tp = tg_tape_new();
  tg_tensor *x = tg_from_f64(tp, TG_F64, 1, sx, xv);
  tg_tensor *H = tg_hessian(tp, f_quad, &A, 1, &x, 0);
  assert_shape(H, 2, sh);
  assert_value(H);
  ck_assert_double_lt(max_err(H, want), 1e-14);
  tg_tape_free(tp);
  free(A.a);
  free(xv);
}
END_TEST

START_TEST(test_hessian_of_sum_of_sines_is_diagonal) {
  enum { D = 5 };
  tg_rng rng;
  tg_rng_seed(&rng, 13);
  int64_t sx[1] = {D}, sh[2] = {D, D};
  double *xv = random_values(&rng, D), want[D * D] = {0};
  for (int i = 0; i < D; i++)
    want[i * D + i] = -sin(xv[i]);
  tg_tape *tp = tg_tape_new();
  tg_tensor *x = tg_from_f64(tp, TG_F64, 1, sx, xv);
  tg_tensor *H = tg_hessian(tp, f_sum_sin, NULL, 1, &x, 0);
  assert_shape(H, 2, sh);
  ck_assert_double_lt(max_err(H, want), 1e-15);
  tg_tape_free(tp);
  free(xv);
}
END_TEST

START_TEST(test_hessian_of_linear_function_is_zero) {
  int64_t sx[2] = {2, 3}, sh[4] = {2, 3, 2, 3};
  double xv[6] = {1, 2, 3, 4, 5, 6}, zero[36] = {0};
  tg_tape *tp = tg_tape_new();
  tg_tensor *x = tg_from_f64(tp, TG_F64, 2, sx, xv);
  tg_tensor *H = tg_hessian(tp, f_count, &(int){0}, 1, &x, 0);
  assert_shape(H, 4, sh);
  ck_assert_double_eq(max_err(H, zero), 0.0);
  tg_tape_free(tp);
}
END_TEST

START_TEST(test_hessian_of_scalar_input_is_scalar) {
  tg_tape *tp = tg_tape_new();
  tg_tensor *x = tg_scalar(tp, TG_F64, 0.7);
  tg_tensor *H = tg_hessian(tp, f_sin, NULL, 1, &x, 0);
  assert_shape(H, 0, NULL);
  ck_assert_double_eq_tol(tg_item(H), -sin(0.7), 1e-15);
  tg_tape_free(tp);
}
END_TEST

START_TEST(test_hvp_with_inputs_of_two_dtypes) {
  /* f uses only the f64 input; the f32 one gets a zero f32 product. */
  tg_tape *tp = tg_tape_new();
  tg_tensor *x[2] = {tg_scalar(tp, TG_F64, 0.3), tg_scalar(tp, TG_F32, 0.5)};
  tg_tensor *v[2] = {tg_scalar(tp, TG_F64, 2), tg_scalar(tp, TG_F32, 1)};
  tg_tensor *hv[2];
  ck_assert_int_eq(tg_hvp(tp, f_sum_sin, NULL, 2, x, v, hv), TG_OK);
  ck_assert_double_eq_tol(tg_item(hv[0]), -2 * sin(0.3), 1e-15);
  ck_assert_int_eq(hv[1]->dtype, TG_F32);
  ck_assert_double_eq(tg_item(hv[1]), 0.0);
  tg_tape_free(tp);
}
END_TEST

/* Data of the two-input MLP-like function and a point to take it at. */
typedef struct mlp_case {
  mat X;
  tgt_input in[2];
  double *v[2];
} mlp_case;

static void mlp_case_init(mlp_case *c, uint64_t seed) {
  tg_rng rng;
  tg_rng_seed(&rng, seed);
  int64_t sw[2] = {3, 4}, sb[1] = {4};
  c->X = (mat){5, 3, random_values(&rng, 15)};
  fill(&c->in[0], 2, sw, &rng);
  fill(&c->in[1], 1, sb, &rng);
  c->v[0] = random_values(&rng, 12);
  c->v[1] = random_values(&rng, 4);
}

static void mlp_case_free(mlp_case *c) {
  free(c->X.a);
  free(c->v[0]);
  free(c->v[1]);
  tgt_inputs_free(2, c->in);
}

/* The gradient of f_mlp at in + step * v (by tg_vjp), into g[i]. */
static void mlp_grad_at(mlp_case *c, double step, double **g) {
  tg_tape *tp = tg_tape_new();
  tg_tensor *x[2], *gt[2];
  for (int i = 0; i < 2; i++) {
    double buf[12];
    for (int64_t j = 0; j < c->in[i].numel; j++)
      buf[j] = c->in[i].data[j] + step * c->v[i][j];
    x[i] = tg_from_f64(tp, TG_F64, c->in[i].ndim, c->in[i].shape, buf);
  }
  ck_assert_int_eq(tg_vjp(tp, f_mlp, &c->X, 2, x, NULL, NULL, gt), TG_OK);
  for (int i = 0; i < 2; i++)
    ck_assert(tgt_copy_out(gt[i], g[i]));
  tg_tape_free(tp);
}

START_TEST(test_hvp_matches_differences_of_gradients) {
  mlp_case c;
  mlp_case_init(&c, 14);
  tg_tape *tp = tg_tape_new();
  tg_tensor *x[2], *v[2], *hv[2];
  make_inputs(tp, 2, c.in, x);
  for (int i = 0; i < 2; i++)
    v[i] = tg_from_f64(tp, TG_F64, c.in[i].ndim, c.in[i].shape, c.v[i]);
  ck_assert_int_eq(tg_hvp(tp, f_mlp, &c.X, 2, x, v, hv), TG_OK);
  double gp[2][12], gm[2][12];
  mlp_grad_at(&c, EPS, (double *[]){gp[0], gp[1]});
  mlp_grad_at(&c, -EPS, (double *[]){gm[0], gm[1]});
  for (int i = 0; i < 2; i++) {
    double want[12];
    for (int64_t j = 0; j < c.in[i].numel; j++)
      want[j] = (gp[i][j] - gm[i][j]) / (2 * EPS);
    assert_shape(hv[i], c.in[i].ndim, c.in[i].shape);
    assert_value(hv[i]);
    ck_assert_double_lt(max_err(hv[i], want), FD_TOL);
  }
  tg_tape_free(tp);
  mlp_case_free(&c);
}
END_TEST

START_TEST(test_hvp_equals_hessian_times_v) {
  /* With v = (v_W, 0), hv[0] = H_WW v_W, and H_WW comes from tg_hessian. */
  mlp_case c;
  mlp_case_init(&c, 15);
  tg_tape *tp = tg_tape_new();
  tg_tensor *x[2], *v[2], *hv[2];
  make_inputs(tp, 2, c.in, x);
  v[0] = tg_from_f64(tp, TG_F64, 2, c.in[0].shape, c.v[0]);
  v[1] = tg_zeros(tp, TG_F64, 1, c.in[1].shape);
  ck_assert_int_eq(tg_hvp(tp, f_mlp, &c.X, 2, x, v, hv), TG_OK);
  tg_tensor *H = tg_hessian(tp, f_mlp, &c.X, 2, x, 0);
  int64_t sh[4] = {3, 4, 3, 4};
  assert_shape(H, 4, sh);
  double *h = tgt_read(H), want[12];
  for (int i = 0; i < 12; i++) {
    want[i] = 0;
    for (int j = 0; j < 12; j++)
      want[i] += h[i * 12 + j] * c.v[0][j];
  }
  ck_assert_double_lt(max_err(hv[0], want), 1e-13);
  tg_tape_free(tp);
  free(h);
  mlp_case_free(&c);
}
END_TEST

/* --- errors --------------------------------------------------------------- */

static tg_tape *tp;

static void setup(void) { tp = tg_tape_new(); }
static void teardown(void) { tg_tape_free(tp); }

/* The tape's error is code with a message starting with the function's
 * name; grad mode is still mode. */
#define ASSERT_FAILED(code, fname, mode)                                       \
  do {                                                                         \
    ck_assert_int_eq(tg_error(tp), (code));                                    \
    ck_assert_ptr_nonnull(strstr(tg_errmsg(tp), fname ":"));                   \
    ck_assert_int_eq(tg_grad_enabled(tp), (mode));                             \
  } while (0)

static tg_tensor *vec(int64_t n) {
  int64_t s[1] = {n};
  return tg_zeros(tp, TG_F64, 1, s);
}

START_TEST(test_hessian_of_non_scalar_function) {
  int64_t s[2] = {3, 2};
  tg_tensor *x = tg_zeros(tp, TG_F64, 2, s);
  tg_set_grad_enabled(tp, false);
  ck_assert_ptr_null(tg_hessian(tp, f_sin, NULL, 1, &x, 0));
  ASSERT_FAILED(TG_ERR_SHAPE, "tg_hessian", false);
  ck_assert_str_eq(tg_errmsg(tp),
                   "tg_hessian: f must return one element, got [3x2]");
}
END_TEST

START_TEST(test_hvp_of_non_scalar_function) {
  tg_tensor *x = vec(3), *v = vec(3), *hv = x;
  ck_assert_int_eq(tg_hvp(tp, f_sin, NULL, 1, &x, &v, &hv), TG_ERR_SHAPE);
  ASSERT_FAILED(TG_ERR_SHAPE, "tg_hvp", true);
  ck_assert_str_eq(tg_errmsg(tp), "tg_hvp: f must return one element, got [3]");
  ck_assert_ptr_null(hv);
}
END_TEST

START_TEST(test_jvp_tangent_shape_mismatch) {
  tg_tensor *x[2] = {vec(3), vec(4)}, *t[2] = {vec(3), vec(3)};
  tg_tensor *y = x[0], *d = x[0];
  ck_assert_int_eq(tg_jvp(tp, f_pair, NULL, 2, x, t, &y, &d), TG_ERR_SHAPE);
  ASSERT_FAILED(TG_ERR_SHAPE, "tg_jvp", true);
  ck_assert_str_eq(tg_errmsg(tp), "tg_jvp: tangent #2 is [3] but input #2 is "
                                  "[4]");
  ck_assert_ptr_null(y);
  ck_assert_ptr_null(d);
}
END_TEST

START_TEST(test_jvp_tangent_dtype_mismatch) {
  int64_t s[1] = {3};
  tg_tensor *x = vec(3), *t = tg_zeros(tp, TG_F32, 1, s), *d;
  tg_set_grad_enabled(tp, false);
  ck_assert_int_eq(tg_jvp(tp, f_sin, NULL, 1, &x, &t, NULL, &d), TG_ERR_DTYPE);
  ASSERT_FAILED(TG_ERR_DTYPE, "tg_jvp", false);
  ck_assert_str_eq(tg_errmsg(tp),
                   "tg_jvp: tangent #1 is f32 but input #1 is f64");
}
END_TEST

START_TEST(test_hvp_vector_mismatch) {
  tg_tensor *x = vec(3), *v = vec(2), *hv;
  ck_assert_int_eq(tg_hvp(tp, f_sum_sin, NULL, 1, &x, &v, &hv), TG_ERR_SHAPE);
  ASSERT_FAILED(TG_ERR_SHAPE, "tg_hvp", true);
}
END_TEST

START_TEST(test_jacobian_wrt_out_of_range) {
  tg_tensor *x[2] = {vec(3), vec(3)};
  ck_assert_ptr_null(tg_jacobian(tp, f_pair, NULL, 2, x, 3));
  ASSERT_FAILED(TG_ERR_ARG, "tg_jacobian", true);
  ck_assert_str_eq(tg_errmsg(tp),
                   "tg_jacobian: wrt 3 is out of range for 2 inputs");
  tg_clear_error(tp);
  ck_assert_ptr_null(tg_hessian(tp, f_pair, NULL, 2, x, -1));
  ASSERT_FAILED(TG_ERR_ARG, "tg_hessian", true);
}
END_TEST

START_TEST(test_jacobian_with_too_many_dimensions) {
  int64_t s[5] = {1, 2, 1, 1, 2};
  tg_tensor *x = tg_zeros(tp, TG_F64, 5, s);
  ck_assert_ptr_null(tg_jacobian(tp, f_sin, NULL, 1, &x, 0));
  ASSERT_FAILED(TG_ERR_SHAPE, "tg_jacobian", true);
  ck_assert_str_eq(tg_errmsg(tp),
                   "tg_jacobian: result would have 10 dimensions (at most 8)");
  tg_clear_error(tp);
  ck_assert_ptr_null(tg_hessian(tp, f_sum_sin, NULL, 1, &x, 0));
  ASSERT_FAILED(TG_ERR_SHAPE, "tg_hessian", true);
}
END_TEST

START_TEST(test_null_function_and_inputs) {
  tg_tensor *x = vec(3), *none[1] = {NULL}, *out[1], *y;
  ck_assert_int_eq(tg_vjp(tp, NULL, NULL, 1, &x, NULL, &y, out), TG_ERR_NULL);
  ASSERT_FAILED(TG_ERR_NULL, "tg_vjp", true);
  ck_assert_str_eq(tg_errmsg(tp), "tg_vjp: f is NULL");
  tg_clear_error(tp);
  ck_assert_int_eq(tg_jvp(tp, f_sin, NULL, 1, NULL, &x, &y, out), TG_ERR_NULL);
  ASSERT_FAILED(TG_ERR_NULL, "tg_jvp", true);
  tg_clear_error(tp);
  ck_assert_ptr_null(tg_jacobian(tp, f_sin, NULL, 1, none, 0));
  ASSERT_FAILED(TG_ERR_NULL, "tg_jacobian", true);
  ck_assert_str_eq(tg_errmsg(tp), "tg_jacobian: input #1 is NULL");
  tg_clear_error(tp);
  ck_assert_ptr_null(tg_hessian(tp, NULL, NULL, 1, &x, 0));
  ASSERT_FAILED(TG_ERR_NULL, "tg_hessian", true);
  tg_clear_error(tp);
  ck_assert_int_eq(tg_hvp(tp, f_sum_sin, NULL, 1, &x, NULL, out), TG_ERR_NULL);
  ASSERT_FAILED(TG_ERR_NULL, "tg_hvp", true);
  ck_assert_str_eq(tg_errmsg(tp), "tg_hvp: v is NULL");
  tg_clear_error(tp);
  ck_assert_int_eq(tg_vjp(tp, f_sin, NULL, 1, &x, NULL, &y, NULL), TG_ERR_NULL);
  ASSERT_FAILED(TG_ERR_NULL, "tg_vjp", true);
  tg_clear_error(tp);
  ck_assert_int_eq(tg_jvp(tp, f_sin, NULL, 0, &x, &x, &y, out), TG_ERR_ARG);
  ASSERT_FAILED(TG_ERR_ARG, "tg_jvp", true);
}
END_TEST

START_TEST(test_null_tape) {
  tg_tensor *x = vec(3), *out[1];
  ck_assert_int_eq(tg_vjp(NULL, f_sin, NULL, 1, &x, NULL, NULL, out),
                   TG_ERR_NULL);
  ck_assert_int_eq(tg_jvp(NULL, f_sin, NULL, 1, &x, &x, NULL, out),
                   TG_ERR_NULL);
  ck_assert_ptr_null(tg_jacobian(NULL, f_sin, NULL, 1, &x, 0));
  ck_assert_ptr_null(tg_hessian(NULL, f_sum_sin, NULL, 1, &x, 0));
  ck_assert_int_eq(tg_hvp(NULL, f_sum_sin, NULL, 1, &x, &x, out), TG_ERR_NULL);
}
END_TEST

START_TEST(test_vjp_seed_problems) {
  tg_tensor *x = vec(3), *g, *y;
  ck_assert_int_eq(tg_vjp(tp, f_sin, NULL, 1, &x, NULL, &y, &g), TG_ERR_SHAPE);
  ASSERT_FAILED(TG_ERR_SHAPE, "tg_vjp", true);
  ck_assert_ptr_null(g);
  ck_assert_ptr_null(y);
  tg_clear_error(tp);
  tg_tensor *v = vec(4);
  ck_assert_int_eq(tg_vjp(tp, f_sin, NULL, 1, &x, v, &y, &g), TG_ERR_SHAPE);
  ASSERT_FAILED(TG_ERR_SHAPE, "tg_vjp", true);
  ck_assert_str_eq(tg_errmsg(tp), "tg_vjp: v is [4] but y is [3]");
  tg_clear_error(tp);
  int64_t s[1] = {3};
  v = tg_zeros(tp, TG_F32, 1, s);
  ck_assert_int_eq(tg_vjp(tp, f_sin, NULL, 1, &x, v, &y, &g), TG_ERR_DTYPE);
  ASSERT_FAILED(TG_ERR_DTYPE, "tg_vjp", true);
}
END_TEST

START_TEST(test_failing_function) {
  /* An error inside f is the tape's error (naming the op that failed). */
  int64_t s[2] = {2, 3};
  tg_tensor *x = tg_zeros(tp, TG_F64, 2, s), *g;
  tg_set_grad_enabled(tp, false);
  ck_assert_int_eq(tg_vjp(tp, f_bad_matmul, NULL, 1, &x, NULL, NULL, &g),
                   TG_ERR_SHAPE);
  ASSERT_FAILED(TG_ERR_SHAPE, "tg_matmul", false);
  ck_assert_ptr_null(g);
  tg_clear_error(tp);
  tg_set_grad_enabled(tp, true);
  ck_assert_ptr_null(tg_jacobian(tp, f_null, NULL, 1, &x, 0));
  ASSERT_FAILED(TG_ERR_NULL, "tg_jacobian", true);
}
END_TEST

START_TEST(test_earlier_error_stands) {
  int calls = 0;
  tg_tensor *x = vec(3), *v = vec(3), *hv;
  ck_assert_ptr_null(tg_exp(tp, NULL));
  ck_assert_int_eq(tg_hvp(tp, f_count, &calls, 1, &x, &v, &hv), TG_ERR_NULL);
  ck_assert_int_eq(calls, 0);
  ck_assert_str_eq(tg_errmsg(tp), "tg_exp: input #1 is NULL");
  tg_clear_error(tp);
  ck_assert_int_eq(tg_hvp(tp, f_count, &calls, 1, &x, &v, &hv), TG_OK);
  ck_assert_int_eq(calls, 1);
}
END_TEST

int main(void) {
  Suite *s = suite_create("transforms");
  TCase *tc = tcase_create("values");
  tcase_set_timeout(tc, 60);
  tcase_add_test(tc, test_vjp_of_tanh_matvec_matches_differences);
  tcase_add_test(tc, test_vjp_of_two_inputs_matches_differences);
  tcase_add_test(tc, test_vjp_without_v_is_the_gradient);
  tcase_add_test(tc, test_vjp_of_identity_is_a_copy_of_v);
  tcase_add_test(tc, test_jvp_of_one_input_matches_differences);
  tcase_add_test(tc, test_jvp_of_two_inputs_matches_differences);
  tcase_add_test(tc, test_jvp_of_linear_function_is_exact);
  tcase_add_test(tc, test_jvp_of_constant_function_is_zero);
  tcase_add_test(tc, test_jvp_of_identity_is_the_tangent);
  tcase_add_test(tc, test_jvp_in_f32);
  tcase_add_test(tc, test_jacobian_matches_differences_and_shape);
  tcase_add_test(tc, test_jacobian_of_second_input);
  tcase_add_test(tc, test_jacobian_of_matvec_is_the_matrix);
  tcase_add_test(tc, test_jacobian_of_scalar_output_is_the_gradient);
  tcase_add_test(tc, test_jacobian_leaves_grad_mode_off);
  tcase_add_test(tc, test_hessian_of_quadratic_form);
  tcase_add_test(tc, test_hessian_of_sum_of_sines_is_diagonal);
  tcase_add_test(tc, test_hessian_of_linear_function_is_zero);
  tcase_add_test(tc, test_hessian_of_scalar_input_is_scalar);
  tcase_add_test(tc, test_hvp_with_inputs_of_two_dtypes);
  tcase_add_test(tc, test_hvp_matches_differences_of_gradients);
  tcase_add_test(tc, test_hvp_equals_hessian_times_v);
  suite_add_tcase(s, tc);

  TCase *te = tcase_create("errors");
  tcase_set_timeout(te, 60);
  tcase_add_checked_fixture(te, setup, teardown);
  tcase_add_test(te, test_hessian_of_non_scalar_function);
  tcase_add_test(te, test_hvp_of_non_scalar_function);
  tcase_add_test(te, test_jvp_tangent_shape_mismatch);
  tcase_add_test(te, test_jvp_tangent_dtype_mismatch);
  tcase_add_test(te, test_hvp_vector_mismatch);
  tcase_add_test(te, test_jacobian_wrt_out_of_range);
  tcase_add_test(te, test_jacobian_with_too_many_dimensions);
  tcase_add_test(te, test_null_function_and_inputs);
  tcase_add_test(te, test_null_tape);
  tcase_add_test(te, test_vjp_seed_problems);
  tcase_add_test(te, test_failing_function);
  tcase_add_test(te, test_earlier_error_stands);
  suite_add_tcase(s, te);

  return tgt_run_suite(s);
}
