/* Higher order: backward rules are recorded with create_graph, so gradients
 * can be differentiated again. */
#include <check.h>
#include <math.h>
#include <stdlib.h>

#include "support.h"
#include "tapegrad.h"

/* f(x) = x^3 sin x and its closed-form derivatives */
static double d1_closed(double x) {
  return 3 * x * x * sin(x) + x * x * x * cos(x);
}
static double d2_closed(double x) {
  return 6 * x * sin(x) + 6 * x * x * cos(x) - x * x * x * sin(x);
}

START_TEST(test_second_derivative_of_cube_times_sine) {
  tg_tape *tp = tg_tape_new();
  const double points[] = {-3.0, -1.7, -0.5, 0.0, 0.25, 1.0, 2.2, 4.0};
  for (size_t i = 0; i < sizeof points / sizeof points[0]; i++) {
    double x0 = points[i];
    tg_tensor *x = tg_set_requires_grad(tg_scalar(tp, TG_F64, x0), true);
    tg_tensor *y = tg_mul(tp, tg_pow_scalar(tp, x, 3), tg_sin(tp, x));
    tg_tensor *dy, *d2y;
    ck_assert_int_eq(tg_grad(tp, 1, &y, NULL, 1, &x, &dy, true), TG_OK);
    ck_assert_int_eq(tg_grad(tp, 1, &dy, NULL, 1, &x, &d2y, false), TG_OK);
    double tol = 1e-12 * (1 + fabs(d2_closed(x0)));
    ck_assert_double_eq_tol(tg_item(dy), d1_closed(x0), tol);
    ck_assert_double_eq_tol(tg_item(d2y), d2_closed(x0), tol);
    tg_tape_reset(tp);
  }
  tg_tape_free(tp);
}
END_TEST

START_TEST(test_third_derivative_of_sine) {
  tg_tape *tp = tg_tape_new();
  tg_tensor *x = tg_set_requires_grad(tg_scalar(tp, TG_F64, 0.8), true);
  tg_tensor *y = tg_sin(tp, x), *d1, *d2, *d3;
  ck_assert_int_eq(tg_grad(tp, 1, &y, NULL, 1, &x, &d1, true), TG_OK);
  ck_assert_int_eq(tg_grad(tp, 1, &d1, NULL, 1, &x, &d2, true), TG_OK);
  ck_assert_int_eq(tg_grad(tp, 1, &d2, NULL, 1, &x, &d3, false), TG_OK);
  ck_assert_double_eq_tol(tg_item(d1), cos(0.8), 1e-15);
  ck_assert_double_eq_tol(tg_item(d2), -sin(0.8), 1e-15);
  ck_assert_double_eq_tol(tg_item(d3), -cos(0.8), 1e-15);
  tg_tape_free(tp);
}
END_TEST

/* A small tanh MLP: loss = mean((tanh(x W1 + b1) W2 + b2 - t)^2). */
enum { N = 6, IN = 3, HID = 5, NP = 4 };
static const int64_t param_shapes[NP][2] = {
    {IN, HID}, {1, HID}, {HID, 1}, {1, 1}};

typedef struct {
  double x[N * IN], t[N];
} mlp_data;

static tg_tensor *mlp_loss(tg_tape *tp, tg_tensor **p, const mlp_data *d) {
  int64_t sx[2] = {N, IN}, st[2] = {N, 1};
  tg_tensor *x = tg_from_f64(tp, TG_F64, 2, sx, d->x);
  tg_tensor *t = tg_from_f64(tp, TG_F64, 2, st, d->t);
  tg_tensor *h = tg_tanh(tp, tg_add(tp, tg_matmul(tp, x, p[0]), p[1]));
  tg_tensor *out = tg_add(tp, tg_matmul(tp, h, p[2]), p[3]);
  tg_tensor *r = tg_sub(tp, out, t);
  return tg_mean_all(tp, tg_mul(tp, r, r));
}

static int64_t param_numel(int i) {
  return param_shapes[i][0] * param_shapes[i][1];
}

/* Gradient of the loss at parameters vals (flat per parameter) into out. */
static void loss_grad(const mlp_data *d, double **vals, double **out) {
  tg_tape *tp = tg_tape_new();
  tg_tensor *p[NP];
  for (int i = 0; i < NP; i++)
    p[i] = tg_set_requires_grad(
        tg_from_f64(tp, TG_F64, 2, param_shapes[i], vals[i]), true);
  tg_tensor *loss = mlp_loss(tp, p, d), *g[NP];
  ck_assert_int_eq(tg_grad(tp, 1, &loss, NULL, NP, p, g, false), TG_OK);
  for (int i = 0; i < NP; i++)
    tg_copy_out_f64(g[i], out[i]);
  tg_tape_free(tp);
}

START_TEST(test_hessian_vector_product_of_tanh_mlp) {
  tg_rng rng;
  tg_rng_seed(&rng, 11);
  mlp_data d;
  tgt_fill_uniform(&rng, d.x, N * IN, -1, 1);
  tgt_fill_uniform(&rng, d.t, N, -1, 1);
  double *vals[NP], *v[NP], *hv[NP], *gp[NP], *gm[NP], *shifted[NP];
  for (int i = 0; i < NP; i++) {
    int64_t n = param_numel(i);
    vals[i] = malloc(sizeof(double) * n);
    v[i] = malloc(sizeof(double) * n);
    hv[i] = malloc(sizeof(double) * n);
    gp[i] = malloc(sizeof(double) * n);
    gm[i] = malloc(sizeof(double) * n);
    shifted[i] = malloc(sizeof(double) * n);
    tgt_fill_uniform(&rng, vals[i], n, -0.8, 0.8);
    tgt_fill_uniform(&rng, v[i], n, -1, 1);
  }

  /* H v by double backward: grad of <grad loss, v>. */
  tg_tape *tp = tg_tape_new();
  tg_tensor *p[NP], *g[NP], *h[NP];
  for (int i = 0; i < NP; i++)
    p[i] = tg_set_requires_grad(
        tg_from_f64(tp, TG_F64, 2, param_shapes[i], vals[i]), true);
  tg_tensor *loss = mlp_loss(tp, p, &d);
  ck_assert_int_eq(tg_grad(tp, 1, &loss, NULL, NP, p, g, true), TG_OK);
  tg_tensor *dot = NULL;
  for (int i = 0; i < NP; i++) {
    tg_tensor *vi = tg_from_f64(tp, TG_F64, 2, param_shapes[i], v[i]);
    tg_tensor *term = tg_sum_all(tp, tg_mul(tp, g[i], vi));
    dot = dot ? tg_add(tp, dot, term) : term;
  }
  ck_assert_int_eq(tg_grad(tp, 1, &dot, NULL, NP, p, h, false), TG_OK);
  for (int i = 0; i < NP; i++)
    tg_copy_out_f64(h[i], hv[i]);
  tg_tape_free(tp);

  /* Central differences of the gradient along v. */
  const double eps = 1e-5;
  for (int sign = -1; sign <= 1; sign += 2) {
    for (int i = 0; i < NP; i++)
      for (int64_t j = 0; j < param_numel(i); j++)
        shifted[i][j] = vals[i][j] + sign * eps * v[i][j];
    loss_grad(&d, shifted, sign > 0 ? gp : gm);
  }
  double worst = 0;
  for (int i = 0; i < NP; i++)
    for (int64_t j = 0; j < param_numel(i); j++) {
      double fd = (gp[i][j] - gm[i][j]) / (2 * eps);
      double err = fabs(fd - hv[i][j]) / fmax(1.0, fabs(fd));
      if (err > worst) worst = err;
    }
  printf("HVP of tanh MLP: max error against differences of gradients "
         "%.3g\n",
         worst);
  ck_assert_double_lt(worst, 1e-8);
  for (int i = 0; i < NP; i++) {
    free(vals[i]);
    free(v[i]);
    free(hv[i]);
    free(gp[i]);
    free(gm[i]);
    free(shifted[i]);
  }
}
END_TEST

START_TEST(test_hessian_of_quadratic_form_is_symmetric_part) {
  /* f(x) = x^T A x has Hessian A + A^T; rows by double backward on e_i */
  enum { D = 4 };
  tg_rng rng;
  tg_rng_seed(&rng, 5);
  double a[D * D], x0[D];
  tgt_fill_uniform(&rng, a, D * D, -1, 1);
  tgt_fill_uniform(&rng, x0, D, -1, 1);
  tg_tape *tp = tg_tape_new();
  int64_t sa[2] = {D, D}, sx[2] = {D, 1};
  tg_tensor *A = tg_from_f64(tp, TG_F64, 2, sa, a);
  tg_tensor *x = tg_set_requires_grad(tg_from_f64(tp, TG_F64, 2, sx, x0), true);
  tg_tensor *f = tg_sum_all(
      tp, tg_matmul(tp, tg_transpose(tp, x, 0, 1), tg_matmul(tp, A, x)));
  tg_tensor *g;
  ck_assert_int_eq(tg_grad(tp, 1, &f, NULL, 1, &x, &g, true), TG_OK);
  for (int i = 0; i < D; i++) {
    double e[D] = {0};
    e[i] = 1;
    tg_tensor *seed = tg_from_f64(tp, TG_F64, 2, sx, e), *row;
    ck_assert_int_eq(tg_grad(tp, 1, &g, &seed, 1, &x, &row, false), TG_OK);
    for (int j = 0; j < D; j++)
      ck_assert_double_eq_tol(tg_get_flat(row, j), a[i * D + j] + a[j * D + i],
                              1e-14);
  }
  tg_tape_free(tp);
}
END_TEST

int main(void) {
  Suite *s = suite_create("higher_order");
  TCase *tc = tcase_create("higher_order");
  tcase_set_timeout(tc, 60);
  tcase_add_test(tc, test_second_derivative_of_cube_times_sine);
  tcase_add_test(tc, test_third_derivative_of_sine);
  tcase_add_test(tc, test_hessian_vector_product_of_tanh_mlp);
  tcase_add_test(tc, test_hessian_of_quadratic_form_is_symmetric_part);
  suite_add_tcase(s, tc);
  return tgt_run_suite(s);
}
