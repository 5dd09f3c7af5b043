/* gradcheck, gradgradcheck, pinpointing, custom ops and anomaly mode. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "support.h"
#include "tapegrad.h"

/* Prints a report into a string, for assertions on the text. */
static char *report_text(const tg_gradcheck_report *r) {
  static char buf[8192];
  FILE *f = fmemopen(buf, sizeof buf, "w");
  tg_gradcheck_fprint(f, r);
  fclose(f);
  return buf;
}

static tg_tensor *input(tg_tape *tp, tg_dtype dt, int ndim,
                        const int64_t *shape, uint64_t seed) {
  tg_tape_seed(tp, seed);
  return tg_rand_uniform(tp, dt, ndim, shape, -1, 1);
}

/* --- correct functions pass ---------------------------------------------- */

/* tanh(x W + b) summed with weights: a small layer */
static tg_tensor *layer_fn(tg_tape *tp, tg_tensor *const *in, void *ud) {
  (void)ud;
  return tg_tanh(tp, tg_add(tp, tg_matmul(tp, in[0], in[1]), in[2]));
}

START_TEST(test_gradcheck_passes_a_correct_layer) {
  tg_tape *tp = tg_tape_new();
  int64_t sx[2] = {3, 4}, sw[2] = {4, 2}, sb[1] = {2};
  tg_tensor *in[3] = {input(tp, TG_F64, 2, sx, 1), input(tp, TG_F64, 2, sw, 2),
                      input(tp, TG_F64, 1, sb, 3)};
  tg_gradcheck_report r;
  ck_assert_int_eq(tg_gradcheck(layer_fn, NULL, 3, in, NULL, &r), TG_OK);
  printf("%s", report_text(&r));
  ck_assert(r.passed);
  ck_assert(r.reentrant);
  ck_assert(r.linear);
  ck_assert_int_eq(r.order, 1);
  ck_assert_double_eq(r.eps, 1e-6);
  ck_assert_double_eq(r.atol, 1e-5);
  ck_assert_double_eq(r.rtol, 1e-3);
  ck_assert_uint_eq(r.seed, 42);
  for (int i = 0; i < 3; i++) {
    ck_assert(r.inputs[i].checked && r.inputs[i].passed);
    ck_assert_int_ge(r.inputs[i].worst_index, 0);
    ck_assert_double_lt(r.inputs[i].abs_err, 1e-8);
  }
  ck_assert_ptr_nonnull(strstr(report_text(&r), "gradcheck: PASS"));
  tg_tape_free(tp);
}
END_TEST

START_TEST(test_gradgradcheck_passes_a_correct_layer) {
  tg_tape *tp = tg_tape_new();
  int64_t sx[2] = {3, 4}, sw[2] = {4, 2}, sb[1] = {2};
  tg_tensor *in[3] = {input(tp, TG_F64, 2, sx, 1), input(tp, TG_F64, 2, sw, 2),
                      input(tp, TG_F64, 1, sb, 3)};
  tg_gradcheck_report r;
  ck_assert_int_eq(tg_gradgradcheck(layer_fn, NULL, 3, in, NULL, &r), TG_OK);
  printf("%s", report_text(&r));
  ck_assert(r.passed);
  ck_assert_int_eq(r.order, 2);
  ck_assert_ptr_nonnull(strstr(report_text(&r), "gradgradcheck: PASS"));
  tg_tape_free(tp);
}
END_TEST

static tg_tensor *softplus_sum(tg_tape *tp, tg_tensor *const *in, void *ud) {
  (void)ud;
  tg_tensor *e = tg_add_scalar(tp, tg_exp(tp, in[0]), 1);
  return tg_sum_all(tp, tg_log(tp, e));
}

START_TEST(test_fast_mode_handles_thousands_of_elements) {
  tg_tape *tp = tg_tape_new();
  int64_t s[2] = {50, 60};
  tg_tensor *x = input(tp, TG_F64, 2, s, 4);
  tg_gradcheck_opts o;
  tg_gradcheck_defaults(&o);
  o.fast = true;
  tg_gradcheck_report r;
  ck_assert_int_eq(tg_gradcheck(softplus_sum, NULL, 1, &x, &o, &r), TG_OK);
  ck_assert(r.passed);
  ck_assert(r.fast);
  ck_assert_int_eq(r.inputs[0].worst_output, -1); /* a projection */
  ck_assert_ptr_nonnull(strstr(report_text(&r), "random projections"));
  tg_tape_free(tp);
}
END_TEST

START_TEST(test_same_seed_reproduces_the_report) {
  tg_tape *tp = tg_tape_new();
  int64_t s[1] = {30};
  tg_tensor *x = input(tp, TG_F64, 1, s, 5);
  tg_gradcheck_opts o;
  tg_gradcheck_defaults(&o);
  o.fast = true;
  o.seed = 1234;
  tg_gradcheck_report a, b;
  tg_gradcheck(softplus_sum, NULL, 1, &x, &o, &a);
  tg_gradcheck(softplus_sum, NULL, 1, &x, &o, &b);
  ck_assert_uint_eq(a.seed, 1234);
  ck_assert_double_eq(a.inputs[0].analytic, b.inputs[0].analytic);
  ck_assert_double_eq(a.inputs[0].numeric, b.inputs[0].numeric);
  tg_tape_free(tp);
}
END_TEST

START_TEST(test_f32_input_warns_instead_of_failing) {
  tg_tape *tp = tg_tape_new();
  int64_t s[1] = {5};
  tg_tensor *x = input(tp, TG_F32, 1, s, 6);
  tg_gradcheck_report r;
  ck_assert_int_eq(tg_gradcheck(softplus_sum, NULL, 1, &x, NULL, &r), TG_OK);
  ck_assert(r.passed);
  ck_assert_ptr_nonnull(strstr(r.warnings, "input #1 is f32"));
  ck_assert_double_eq(r.eps, 1e-3);
  ck_assert_ptr_nonnull(strstr(report_text(&r), "warning: input #1 is f32"));
  tg_tape_free(tp);
}
END_TEST

/* --- kinks --------------------------------------------------------------- */

static tg_tensor *relu_abs_fn(tg_tape *tp, tg_tensor *const *in, void *ud) {
  (void)ud;
  return tg_add(tp, tg_relu(tp, in[0]),
                tg_mul_scalar(tp, tg_abs(tp, in[0]), 2));
}

START_TEST(test_kinks_are_reported_not_failed) {
  tg_tape *tp = tg_tape_new();
  double v[4] = {0.0, 0.5, -0.25, 0.0}; /* two elements exactly at the kink */
  int64_t s[1] = {4};
  tg_tensor *x = tg_from_f64(tp, TG_F64, 1, s, v);
  tg_gradcheck_report r;
  ck_assert_int_eq(tg_gradcheck(relu_abs_fn, NULL, 1, &x, NULL, &r), TG_OK);
  printf("%s", report_text(&r));
  ck_assert(r.passed);
  ck_assert_int_eq(r.inputs[0].n_kinks, 2);
  ck_assert_int_eq(r.inputs[0].n_failed, 0);
  ck_assert_ptr_nonnull(strstr(report_text(&r), "2 kinks"));
  tg_tape_free(tp);
}
END_TEST

static tg_tensor *max_fn(tg_tape *tp, tg_tensor *const *in, void *ud) {
  (void)ud;
  return tg_max(tp, in[0], 0, NULL, false);
}

START_TEST(test_tie_in_max_is_a_kink) {
  tg_tape *tp = tg_tape_new();
  double v[3] = {0.7, 0.7, -1.0};
  int64_t s[1] = {3};
  tg_tensor *x = tg_from_f64(tp, TG_F64, 1, s, v);
  tg_gradcheck_report r;
  ck_assert_int_eq(tg_gradcheck(max_fn, NULL, 1, &x, NULL, &r), TG_OK);
  printf("%s", report_text(&r));
  ck_assert(r.passed);
  ck_assert_int_eq(r.inputs[0].n_kinks, 2);
  ck_assert_int_eq(r.inputs[0].n_failed, 0);
  tg_tape_free(tp);
}
END_TEST

/* --- custom ops and the three classic mistakes --------------------------- */

typedef enum { CORRECT, FLIPPED_SIGN, MISSING_SUM, TRANSPOSED } mistake;

/* scale(x, a) = a * x; backward (g a, sum(g x)) */
static tg_tensor *scale_fwd(tg_tape *tp, tg_tensor *const *in, void *ud) {
  (void)ud;
  return tg_mul(tp, in[0], in[1]);
}
static tg_status scale_bwd(tg_tape *tp, tg_tensor *const *in, tg_tensor *out,
                           tg_tensor *g, tg_tensor **gin, void *ud) {
  (void)out;
  mistake m = *(const mistake *)ud;
  gin[0] = tg_mul(tp, g, in[1]);
  if (m == FLIPPED_SIGN) gin[0] = tg_neg(tp, gin[0]);
  tg_tensor *gx = tg_mul(tp, g, in[0]);
  /* in[1] is [1, n] broadcast over the rows: its gradient is summed over
   * them. The mistake leaves the sum out. */
  int axis = 0;
  gin[1] = m == MISSING_SUM ? gx : tg_sum(tp, gx, 1, &axis, true);
  return tg_error(tp);
}

/* mm(a, b) = a @ b; backward (g b^T, a^T g) */
static tg_tensor *mm_fwd(tg_tape *tp, tg_tensor *const *in, void *ud) {
  (void)ud;
  return tg_matmul(tp, in[0], in[1]);
}
static tg_status mm_bwd(tg_tape *tp, tg_tensor *const *in, tg_tensor *out,
                        tg_tensor *g, tg_tensor **gin, void *ud) {
  (void)out;
  mistake m = *(const mistake *)ud;
  tg_tensor *bt = tg_transpose(tp, in[1], 0, 1);
  gin[0] = tg_matmul(tp, g, m == TRANSPOSED ? in[1] : bt);
  gin[1] = tg_matmul(tp, tg_transpose(tp, in[0], 0, 1), g);
  return tg_error(tp);
}

typedef struct {
  tg_custom_op *op;
} op_ctx;

static tg_tensor *call_op(tg_tape *tp, tg_tensor *const *in, void *ud) {
  return tg_custom(tp, ((op_ctx *)ud)->op, in);
}

static tg_gradcheck_report check_scale(mistake m) {
  tg_tape *tp = tg_tape_new();
  int64_t sx[2] = {3, 4}, sa[2] = {1, 4};
  tg_tensor *in[2] = {input(tp, TG_F64, 2, sx, 7), input(tp, TG_F64, 2, sa, 8)};
  op_ctx c = {tg_custom_op_new("scale", 2, scale_fwd, scale_bwd, &m)};
  tg_gradcheck_report r;
  ck_assert_int_eq(tg_gradcheck(call_op, &c, 2, in, NULL, &r), TG_OK);
  tg_custom_op_free(c.op);
  tg_tape_free(tp);
  return r;
}

START_TEST(test_custom_op_correct_backward_passes) {
  tg_gradcheck_report r = check_scale(CORRECT);
  ck_assert(r.passed);
}
END_TEST

START_TEST(test_gradcheck_catches_flipped_sign) {
  tg_gradcheck_report r = check_scale(FLIPPED_SIGN);
  printf("%s", report_text(&r));
  ck_assert(!r.passed);
  ck_assert(!r.inputs[0].passed);
  ck_assert(r.inputs[1].passed);
  ck_assert_double_eq_tol(r.inputs[0].analytic, -r.inputs[0].numeric, 1e-8);
  ck_assert(r.culprit.found);
  ck_assert_str_eq(r.culprit.op, "custom op 'scale'");
  ck_assert_int_eq(r.culprit.input, 0);
}
END_TEST

START_TEST(test_gradcheck_catches_missing_sum_over_broadcast_axis) {
  tg_gradcheck_report r = check_scale(MISSING_SUM);
  printf("%s", report_text(&r));
  ck_assert(!r.passed);
  ck_assert_str_eq(r.backward_error,
                   "backward of custom op 'scale': gradient for input #2 has "
                   "shape [3x4], input has [1x4]");
  ck_assert(r.culprit.found);
  ck_assert_str_eq(r.culprit.op, "custom op 'scale'");
  ck_assert_str_eq(r.culprit.error, r.backward_error);
}
END_TEST

START_TEST(test_gradcheck_catches_transposed_matrix) {
  mistake m = TRANSPOSED;
  tg_tape *tp = tg_tape_new();
  int64_t s[2] = {3, 3};
  tg_tensor *in[2] = {input(tp, TG_F64, 2, s, 9), input(tp, TG_F64, 2, s, 10)};
  op_ctx c = {tg_custom_op_new("mm", 2, mm_fwd, mm_bwd, &m)};
  tg_gradcheck_report r;
  ck_assert_int_eq(tg_gradcheck(call_op, &c, 2, in, NULL, &r), TG_OK);
  printf("%s", report_text(&r));
  ck_assert(!r.passed);
  ck_assert(!r.inputs[0].passed);
  ck_assert(r.inputs[1].passed);
  m = CORRECT;
  ck_assert_int_eq(tg_gradcheck(call_op, &c, 2, in, NULL, &r), TG_OK);
  ck_assert(r.passed);
  tg_custom_op_free(c.op);
  tg_tape_free(tp);
}
END_TEST

/* square with a backward that is right to first order but cut off from the
 * graph (2x copied out of the tape): its second derivative is lost */
static tg_tensor *square_fwd(tg_tape *tp, tg_tensor *const *in, void *ud) {
  (void)ud;
  return tg_mul(tp, in[0], in[0]);
}
static tg_status square_bwd_detached(tg_tape *tp, tg_tensor *const *in,
                                     tg_tensor *out, tg_tensor *g,
                                     tg_tensor **gin, void *ud) {
  (void)out;
  (void)ud;
  tg_tensor *two_x = tg_empty(tp, in[0]->dtype, in[0]->ndim, in[0]->shape);
  tg_copy_out(in[0], two_x->data);
  gin[0] = tg_mul(tp, g, tg_mul_scalar(tp, two_x, 2));
  return tg_error(tp);
}

START_TEST(test_gradgradcheck_catches_a_detached_backward) {
  tg_tape *tp = tg_tape_new();
  int64_t s[1] = {4};
  tg_tensor *x = input(tp, TG_F64, 1, s, 11);
  op_ctx c = {
      tg_custom_op_new("square", 1, square_fwd, square_bwd_detached, NULL)};
  tg_gradcheck_report r;
  ck_assert_int_eq(tg_gradcheck(call_op, &c, 1, &x, NULL, &r), TG_OK);
  ck_assert(r.passed); /* first order is right */
  ck_assert_int_eq(tg_gradgradcheck(call_op, &c, 1, &x, NULL, &r), TG_OK);
  printf("%s", report_text(&r));
  ck_assert(!r.passed); /* the second is not */
  ck_assert(r.culprit.found);
  ck_assert_str_eq(r.culprit.op, "custom op 'square'");
  tg_custom_op_free(c.op);
  tg_tape_free(tp);
}
END_TEST

/* --- pinpointing a wrong op buried in a model ----------------------------- */

typedef struct {
  tg_custom_op *bad;
} model_ctx;

/* 9 nodes; the custom op is node 4 */
static tg_tensor *model_fn(tg_tape *tp, tg_tensor *const *in, void *ud) {
  model_ctx *m = ud;
  tg_tensor *h = tg_matmul(tp, in[0], in[1]); /* 0 */
  h = tg_tanh(tp, h);                         /* 1 */
  h = tg_mul_scalar(tp, h, 1.5);              /* 2 */
  h = tg_add(tp, h, in[2]);                   /* 3 */
  tg_tensor *args[2] = {h, in[3]};
  h = tg_custom(tp, m->bad, args); /* 4 */
  h = tg_sigmoid(tp, h);           /* 5 */
  h = tg_exp(tp, h);               /* 6 */
  h = tg_mul(tp, h, h);            /* 7 */
  return tg_mean_all(tp, h);       /* 8 */
}

START_TEST(test_pinpoint_names_the_buried_wrong_op) {
  mistake m = FLIPPED_SIGN;
  tg_tape *tp = tg_tape_new();
  int64_t sx[2] = {3, 4}, sw[2] = {4, 5}, sb[1] = {5}, sa[2] = {1, 5};
  tg_tensor *in[4] = {
      input(tp, TG_F64, 2, sx, 12), input(tp, TG_F64, 2, sw, 13),
      input(tp, TG_F64, 1, sb, 14), input(tp, TG_F64, 2, sa, 15)};
  model_ctx c = {tg_custom_op_new("scale", 2, scale_fwd, scale_bwd, &m)};
  tg_gradcheck_report r;
  ck_assert_int_eq(tg_gradcheck(model_fn, &c, 4, in, NULL, &r), TG_OK);
  printf("%s", report_text(&r));
  ck_assert(!r.passed);
  ck_assert(r.culprit.found);
  ck_assert_int_eq(r.culprit.position, 4);
  ck_assert_str_eq(r.culprit.op, "custom op 'scale'");
  ck_assert_str_eq(r.culprit.inputs, "[3x5] f64, [1x5] f64");
  ck_assert_int_eq(r.culprit.input, 0);
  ck_assert_int_eq(r.culprit.nodes_checked, 5); /* nodes 0..4 */
  ck_assert_ptr_nonnull(strstr(report_text(&r), "culprit: node 4, custom op "
                                                "'scale'"));
  tg_custom_op_free(c.bad);
  tg_tape_free(tp);
}
END_TEST

START_TEST(test_check_nodes_on_a_recorded_tape) {
  mistake m = CORRECT;
  tg_tape *tp = tg_tape_new();
  int64_t sx[2] = {3, 4}, sw[2] = {4, 5}, sb[1] = {5}, sa[2] = {1, 5};
  tg_tensor *in[4];
  in[0] = input(tp, TG_F64, 2, sx, 12);
  in[1] = tg_set_requires_grad(input(tp, TG_F64, 2, sw, 13), true);
  in[2] = tg_set_requires_grad(input(tp, TG_F64, 1, sb, 14), true);
  in[3] = tg_set_requires_grad(input(tp, TG_F64, 2, sa, 15), true);
  model_ctx c = {tg_custom_op_new("scale", 2, scale_fwd, scale_bwd, &m)};
  TG_HERE(tp);
  ck_assert_ptr_nonnull(model_fn(tp, in, &c));
  tg_node_check res;
  ck_assert_int_eq(tg_check_nodes(tp, NULL, &res), TG_OK);
  ck_assert(!res.found);
  ck_assert_int_eq(res.nodes_checked, 9);
  m = TRANSPOSED; /* the scale op ignores this one: still correct */
  m = FLIPPED_SIGN;
  ck_assert_int_eq(tg_check_nodes(tp, NULL, &res), TG_OK);
  ck_assert(res.found);
  ck_assert_int_eq(res.position, 4);
  ck_assert_ptr_nonnull(strstr(res.location, "test_check.c:"));
  tg_custom_op_free(c.bad);
  tg_tape_free(tp);
}
END_TEST

/* A dense layer records an addmm; re-checking its node replays it (on f64
 * copies of the f32 inputs) and finds its rule right for all three inputs:
 * the input, the transposed weight and the bias. */
START_TEST(test_check_nodes_replays_addmm) {
  tg_tape *tp = tg_tape_new();
  int64_t sx[2] = {3, 4}, sw[2] = {5, 4}, sb[1] = {5};
  tg_tensor *x = tg_set_requires_grad(input(tp, TG_F32, 2, sx, 21), true);
  tg_tensor *w = tg_set_requires_grad(input(tp, TG_F32, 2, sw, 22), true);
  tg_tensor *b = tg_set_requires_grad(input(tp, TG_F32, 1, sb, 23), true);
  tg_tensor *y = tg_sum_all(
      tp, tg_tanh(tp, tg_addmm(tp, b, x, tg_transpose(tp, w, 0, 1))));
  ck_assert_ptr_nonnull(y);
  tg_node_check res;
  ck_assert_int_eq(tg_check_nodes(tp, NULL, &res), TG_OK);
  ck_assert_msg(!res.found, "node %d (%s) input %d: %g against %g",
                res.position, res.op, res.input, res.analytic, res.numeric);
  ck_assert_int_eq(res.nodes_checked, 4); /* permute, addmm, tanh, sum */
  tg_tape_free(tp);
}
END_TEST

/* --- custom ops on the tape ------------------------------------------------
 */

START_TEST(test_custom_op_is_recorded_and_differentiable_twice) {
  tg_tape *tp = tg_tape_new();
  mistake m = CORRECT;
  tg_custom_op *op = tg_custom_op_new("scale", 2, scale_fwd, scale_bwd, &m);
  int64_t s[2] = {1, 1};
  tg_tensor *x = tg_set_requires_grad(tg_full(tp, TG_F64, 2, s, 3.0), true);
  tg_tensor *a = tg_set_requires_grad(tg_full(tp, TG_F64, 2, s, 2.0), true);
  tg_tensor *args[2] = {x, a};
  tg_tensor *y = tg_custom(tp, op, args);
  ck_assert_uint_eq(tg_tape_nodes(tp), 1);
  ck_assert_double_eq(tg_item(y), 6.0);
  /* y = a x: d/dx = a; d/da of that = 1 */
  tg_tensor *g, *gg;
  ck_assert_int_eq(tg_grad(tp, 1, &y, NULL, 1, &x, &g, true), TG_OK);
  ck_assert_double_eq(tg_item(g), 2.0);
  ck_assert_int_eq(tg_grad(tp, 1, &g, NULL, 1, &a, &gg, false), TG_OK);
  ck_assert_double_eq(tg_item(gg), 1.0);
  tg_custom_op_free(op);
  tg_tape_free(tp);
}
END_TEST

START_TEST(test_custom_op_bad_registration_and_null_input) {
  ck_assert_ptr_null(
      tg_custom_op_new("", 1, square_fwd, square_bwd_detached, NULL));
  ck_assert_ptr_null(
      tg_custom_op_new("x", 0, square_fwd, square_bwd_detached, NULL));
  ck_assert_ptr_null(tg_custom_op_new("x", 1, NULL, square_bwd_detached, NULL));
  tg_tape *tp = tg_tape_new();
  tg_custom_op *op =
      tg_custom_op_new("square", 1, square_fwd, square_bwd_detached, NULL);
  tg_tensor *none[1] = {NULL};
  ck_assert_ptr_null(tg_custom(tp, op, none));
  ck_assert_str_eq(tg_errmsg(tp), "custom op 'square': input #1 is NULL");
  tg_custom_op_free(op);
  tg_tape_free(tp);
}
END_TEST

/* --- anomaly mode ----------------------------------------------------------
 */

START_TEST(test_anomaly_log_of_negative_in_forward) {
  tg_tape *tp = tg_tape_new();
  tg_set_anomaly_mode(tp, true);
  double v[3] = {1.0, -2.0, 3.0};
  int64_t s[1] = {3};
  tg_tensor *x = tg_set_requires_grad(tg_from_f64(tp, TG_F64, 1, s, v), true);
  tg_tensor *h = tg_exp(tp, x);
  TG_HERE(tp);
  const int line = __LINE__ - 1; /* the line of TG_HERE */
  tg_tensor *y = tg_log(tp, tg_sub(tp, h, tg_scalar(tp, TG_F64, 1.0)));
  ck_assert_ptr_null(y);
  ck_assert_int_eq(tg_error(tp), TG_ERR_NUMERIC);
  char want[256];
  snprintf(want, sizeof want,
           "anomaly: tg_log produced NaN in the forward pass (tape position "
           "2; inputs [3] f64) at %s:%d",
           __FILE__, line);
  ck_assert_str_eq(tg_errmsg(tp), want);
  tg_tape_free(tp);
}
END_TEST

START_TEST(test_anomaly_sqrt_at_zero_in_backward) {
  tg_tape *tp = tg_tape_new();
  tg_set_anomaly_mode(tp, true);
  double v[3] = {4.0, 0.0, 1.0};
  int64_t s[1] = {3};
  tg_tensor *x = tg_set_requires_grad(tg_from_f64(tp, TG_F64, 1, s, v), true);
  tg_tensor *y = tg_sum_all(tp, tg_sqrt(tp, x));
  ck_assert_ptr_nonnull(y); /* sqrt(0) = 0 is fine going forward */
  ck_assert_int_eq(tg_backward(tp, y), TG_ERR_NUMERIC);
  ck_assert_str_eq(tg_errmsg(tp),
                   "anomaly: backward of tg_sqrt produced Inf in the gradient "
                   "of input #1 (tape position 0; inputs [3] f64)");
  tg_tape_free(tp);
}
END_TEST

START_TEST(test_without_anomaly_mode_nan_passes_silently) {
  tg_tape *tp = tg_tape_new();
  double v[1] = {-1.0};
  int64_t s[1] = {1};
  tg_tensor *x = tg_set_requires_grad(tg_from_f64(tp, TG_F64, 1, s, v), true);
  tg_tensor *y = tg_sum_all(tp, tg_log(tp, x));
  ck_assert(isnan(tg_item(y)));
  ck_assert_int_eq(tg_backward(tp, y), TG_OK);
  ck_assert(!tg_anomaly_mode(tp));
  tg_tape_free(tp);
}
END_TEST

/* --- misuse ----------------------------------------------------------------
 */

START_TEST(test_gradcheck_bad_arguments) {
  tg_gradcheck_report r;
  ck_assert_int_eq(tg_gradcheck(NULL, NULL, 1, NULL, NULL, &r), TG_ERR_ARG);
  ck_assert_ptr_nonnull(strstr(r.error, "tg_gradcheck: needs a function"));
  ck_assert_ptr_nonnull(strstr(report_text(&r), "could not run"));
  tg_tensor *none[1] = {NULL};
  ck_assert_int_eq(tg_gradcheck(softplus_sum, NULL, 1, none, NULL, &r),
                   TG_ERR_ARG);
  ck_assert_str_eq(r.error, "tg_gradcheck: input #1 is NULL");
  ck_assert_int_eq(tg_gradcheck(softplus_sum, NULL, 1, none, NULL, NULL),
                   TG_ERR_NULL);
}
END_TEST

static tg_tensor *failing_fn(tg_tape *tp, tg_tensor *const *in, void *ud) {
  (void)ud;
  return tg_matmul(tp, in[0], in[0]); /* [2x3] @ [2x3] */
}

START_TEST(test_gradcheck_of_a_failing_function_says_why) {
  tg_tape *tp = tg_tape_new();
  int64_t s[2] = {2, 3};
  tg_tensor *x = input(tp, TG_F64, 2, s, 16);
  tg_gradcheck_report r;
  ck_assert_int_ne(tg_gradcheck(failing_fn, NULL, 1, &x, NULL, &r), TG_OK);
  ck_assert_str_eq(r.error, "the function failed: tg_matmul: inner "
                            "dimensions differ: [2x3] @ [2x3]");
  tg_tape_free(tp);
}
END_TEST

int main(void) {
  Suite *s = suite_create("check");
  TCase *tc = tcase_create("check");
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, test_gradcheck_passes_a_correct_layer);
  tcase_add_test(tc, test_gradgradcheck_passes_a_correct_layer);
  tcase_add_test(tc, test_fast_mode_handles_thousands_of_elements);
  tcase_add_test(tc, test_same_seed_reproduces_the_report);
  tcase_add_test(tc, test_f32_input_warns_instead_of_failing);
  tcase_add_test(tc, test_kinks_are_reported_not_failed);
  tcase_add_test(tc, test_tie_in_max_is_a_kink);
  tcase_add_test(tc, test_custom_op_correct_backward_passes);
  tcase_add_test(tc, test_gradcheck_catches_flipped_sign);
  tcase_add_test(tc, test_gradcheck_catches_missing_sum_over_broadcast_axis);
  tcase_add_test(tc, test_gradcheck_catches_transposed_matrix);
  tcase_add_test(tc, test_gradgradcheck_catches_a_detached_backward);
  tcase_add_test(tc, test_pinpoint_names_the_buried_wrong_op);
  tcase_add_test(tc, test_check_nodes_on_a_recorded_tape);
  tcase_add_test(tc, test_check_nodes_replays_addmm);
  tcase_add_test(tc, test_custom_op_is_recorded_and_differentiable_twice);
  tcase_add_test(tc, test_custom_op_bad_registration_and_null_input);
  tcase_add_test(tc, test_anomaly_log_of_negative_in_forward);
  tcase_add_test(tc, test_anomaly_sqrt_at_zero_in_backward);
  tcase_add_test(tc, test_without_anomaly_mode_nan_passes_silently);
  tcase_add_test(tc, test_gradcheck_bad_arguments);
  tcase_add_test(tc, test_gradcheck_of_a_failing_function_says_why);
  suite_add_tcase(s, tc);
  return tgt_run_suite(s);
}
