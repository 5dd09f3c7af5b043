/* The tape: recording, the reverse sweep, accumulation, grad mode, reset. */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "support.h"
#include "tapegrad.h"

static tg_tensor *leaf(tg_tape *tp, double v) {
  return tg_set_requires_grad(tg_scalar(tp, TG_F64, v), true);
}

/* f(a, b) = a*b + sin(a); df/da = b + cos(a), df/db = a */
static tg_tensor *f_ab(tg_tape *tp, tg_tensor *a, tg_tensor *b) {
  return tg_add(tp, tg_mul(tp, a, b), tg_sin(tp, a));
}

START_TEST(test_backward_gives_analytic_gradients) {
  tg_tape *tp = tg_tape_new();
  tg_tensor *a = leaf(tp, 0.7), *b = leaf(tp, -1.3);
  tg_tensor *y = f_ab(tp, a, b);
  ck_assert_int_eq(tg_backward(tp, y), TG_OK);
  ck_assert_double_eq_tol(tg_item(tg_grad_of(a)), -1.3 + cos(0.7), 1e-15);
  ck_assert_double_eq_tol(tg_item(tg_grad_of(b)), 0.7, 1e-15);
  tg_tape_free(tp);
}
END_TEST

START_TEST(test_gradients_accumulate_across_backward_calls) {
  tg_tape *tp = tg_tape_new();
  tg_tensor *a = leaf(tp, 0.7), *b = leaf(tp, -1.3);
  tg_tensor *y = f_ab(tp, a, b);
  ck_assert_int_eq(tg_backward(tp, y), TG_OK);
  double once = tg_item(tg_grad_of(a));
  ck_assert_int_eq(tg_backward(tp, y), TG_OK);
  ck_assert_double_eq_tol(tg_item(tg_grad_of(a)), 2 * once, 1e-15);
  ck_assert_double_eq_tol(tg_item(tg_grad_of(b)), 2 * 0.7, 1e-15);
  tg_tape_free(tp);
}
END_TEST

START_TEST(test_backward_twice_gives_identical_gradients) {
  tg_tape *tp = tg_tape_new();
  tg_tape_seed(tp, 3);
  int64_t sx[2] = {5, 4}, sw[2] = {4, 3};
  tg_tensor *x = tg_rand_normal(tp, TG_F64, 2, sx, 0, 1);
  tg_tensor *w =
      tg_set_requires_grad(tg_rand_normal(tp, TG_F64, 2, sw, 0, 1), true);
  tg_tensor *y = tg_mean_all(tp, tg_tanh(tp, tg_matmul(tp, x, w)));
  ck_assert_int_eq(tg_backward(tp, y), TG_OK);
  double first[12], second[12];
  tg_copy_out_f64(tg_grad_of(w), first);
  tg_zero_grad(w);
  ck_assert_int_eq(tg_backward(tp, y), TG_OK);
  tg_copy_out_f64(tg_grad_of(w), second);
  ck_assert_mem_eq(first, second, sizeof first);
  tg_tape_free(tp);
}
END_TEST

START_TEST(test_tensor_used_twice_accumulates) {
  tg_tape *tp = tg_tape_new();
  tg_tensor *x = leaf(tp, 3.0);
  tg_tensor *y = tg_mul(tp, x, x); /* dy/dx = 2x */
  tg_tensor *z = tg_add(tp, y, x); /* dz/dx = 2x + 1 */
  ck_assert_int_eq(tg_backward(tp, z), TG_OK);
  ck_assert_double_eq_tol(tg_item(tg_grad_of(x)), 7.0, 1e-15);
  tg_tape_free(tp);
}
END_TEST

START_TEST(test_no_grad_scope_records_nothing) {
  tg_tape *tp = tg_tape_new();
  tg_tensor *x = leaf(tp, 0.5);
  size_t before = tg_tape_nodes(tp);
  bool prev = tg_set_grad_enabled(tp, false);
  ck_assert(prev);
  tg_tensor *y = tg_exp(tp, tg_mul(tp, x, x));
  ck_assert_ptr_nonnull(y);
  ck_assert_uint_eq(tg_tape_nodes(tp), before);
  ck_assert(!y->requires_grad);
  ck_assert_ptr_null(y->node);
  ck_assert_int_eq(tg_backward(tp, y), TG_ERR_STATE);
  tg_clear_error(tp);
  tg_set_grad_enabled(tp, prev);
  ck_assert(tg_grad_enabled(tp));
  tg_tensor *z = tg_exp(tp, x);
  ck_assert_uint_eq(tg_tape_nodes(tp), before + 1);
  ck_assert(z->requires_grad);
  tg_tape_free(tp);
}
END_TEST

START_TEST(test_constants_are_not_recorded) {
  tg_tape *tp = tg_tape_new();
  tg_tensor *c = tg_scalar(tp, TG_F64, 2.0);
  tg_tensor *y = tg_exp(tp, tg_mul(tp, c, c));
  ck_assert_uint_eq(tg_tape_nodes(tp), 0);
  ck_assert(!y->requires_grad);
  tg_tape_free(tp);
}
END_TEST

START_TEST(test_retain_grad_keeps_intermediate_gradient) {
  tg_tape *tp = tg_tape_new();
  tg_tensor *x = leaf(tp, 0.3);
  tg_tensor *h = tg_retain_grad(tg_mul_scalar(tp, x, 4.0));
  tg_tensor *other = tg_mul_scalar(tp, x, 5.0);
  tg_tensor *y = tg_add(tp, tg_sin(tp, h), other);
  ck_assert_int_eq(tg_backward(tp, y), TG_OK);
  ck_assert_double_eq_tol(tg_item(tg_grad_of(h)), cos(1.2), 1e-15);
  ck_assert_ptr_null(tg_grad_of(other)); /* not retained */
  ck_assert_double_eq_tol(tg_item(tg_grad_of(x)), 4 * cos(1.2) + 5, 1e-14);
  tg_tape_free(tp);
}
END_TEST

START_TEST(test_backward_seed_for_non_scalar_output) {
  tg_tape *tp = tg_tape_new();
  double xv[3] = {1, 2, 3}, sv[3] = {0.5, -1, 2};
  int64_t s3[1] = {3};
  tg_tensor *x = tg_set_requires_grad(tg_from_f64(tp, TG_F64, 1, s3, xv), true);
  tg_tensor *y = tg_mul(tp, x, x);
  tg_tensor *seed = tg_from_f64(tp, TG_F64, 1, s3, sv);
  ck_assert_int_eq(tg_backward_seed(tp, y, seed), TG_OK);
  for (int i = 0; i < 3; i++)
    ck_assert_double_eq_tol(tg_get_flat(tg_grad_of(x), i), 2 * xv[i] * sv[i],
                            1e-15);
  tg_tape_free(tp);
}
END_TEST

START_TEST(test_grad_of_unused_input_is_zero) {
  tg_tape *tp = tg_tape_new();
  tg_tensor *a = leaf(tp, 1.0), *b = leaf(tp, 2.0);
  tg_tensor *y = tg_exp(tp, a);
  tg_tensor *in[2] = {a, b}, *g[2];
  ck_assert_int_eq(tg_grad(tp, 1, &y, NULL, 2, in, g, false), TG_OK);
  ck_assert_double_eq_tol(tg_item(g[0]), exp(1.0), 1e-15);
  ck_assert_double_eq(tg_item(g[1]), 0.0);
  /* tg_grad leaves the accumulated gradients alone */
  ck_assert_ptr_null(tg_grad_of(a));
  tg_tape_free(tp);
}
END_TEST

START_TEST(test_grad_with_create_graph_is_differentiable) {
  tg_tape *tp = tg_tape_new();
  tg_tensor *x = leaf(tp, 0.4);
  tg_tensor *y = tg_exp(tp, tg_mul(tp, x, x));
  tg_tensor *g, *g_plain;
  ck_assert_int_eq(tg_grad(tp, 1, &y, NULL, 1, &x, &g_plain, false), TG_OK);
  ck_assert(!g_plain->requires_grad);
  ck_assert_int_eq(tg_grad(tp, 1, &y, NULL, 1, &x, &g, true), TG_OK);
  ck_assert(g->requires_grad);
  ck_assert_double_eq_tol(tg_item(g), tg_item(g_plain), 1e-15);
  tg_tape_free(tp);
}
END_TEST

START_TEST(test_gradient_of_broadcast_input_is_summed) {
  tg_tape *tp = tg_tape_new();
  int64_t s23[2] = {2, 3}, s3[1] = {3};
  tg_tensor *a = tg_ones(tp, TG_F64, 2, s23);
  tg_tensor *b = tg_set_requires_grad(tg_ones(tp, TG_F64, 1, s3), true);
  tg_tensor *y = tg_sum_all(tp, tg_mul(tp, a, b));
  ck_assert_int_eq(tg_backward(tp, y), TG_OK);
  tg_tensor *gb = tg_grad_of(b);
  ck_assert_int_eq(gb->ndim, 1);
  ck_assert_int_eq(gb->shape[0], 3);
  for (int i = 0; i < 3; i++)
    ck_assert_double_eq(tg_get_flat(gb, i), 2.0);
  tg_tape_free(tp);
}
END_TEST

START_TEST(test_reset_keeps_heap_tensors_and_their_gradients) {
  tg_tape *tp = tg_tape_new();
  int64_t s[1] = {4};
  tg_tensor *w = tg_set_requires_grad(tg_tensor_new(tp, TG_F64, 1, s), true);
  tg_fill(w, 1.5);
  tg_tensor *y = tg_sum_all(tp, tg_mul(tp, w, w));
  ck_assert_int_eq(tg_backward(tp, y), TG_OK);
  ck_assert_uint_gt(tg_tape_nodes(tp), 0);
  tg_tape_reset(tp);
  ck_assert_uint_eq(tg_tape_nodes(tp), 0);
  ck_assert_uint_eq(tg_tape_bytes(tp), 0);
  for (int i = 0; i < 4; i++) {
    ck_assert_double_eq(tg_get_flat(w, i), 1.5);
    ck_assert_double_eq(tg_get_flat(tg_grad_of(w), i), 3.0);
  }
  /* The parameter works on the next step, and gradients keep adding up. */
  y = tg_sum_all(tp, tg_mul(tp, w, w));
  ck_assert_int_eq(tg_backward(tp, y), TG_OK);
  ck_assert_double_eq(tg_get_flat(tg_grad_of(w), 0), 6.0);
  tg_tensor_free(w);
  tg_tape_free(tp);
}
END_TEST

START_TEST(test_heap_tensor_shared_by_two_tapes) {
  tg_tape *t1 = tg_tape_new(), *t2 = tg_tape_new();
  tg_tensor *w = tg_set_requires_grad(tg_tensor_new(t1, TG_F64, 0, NULL), true);
  tg_fill(w, 2.0);
  tg_tensor *y1 = tg_mul(t1, w, w);        /* d/dw = 4 */
  tg_tensor *y2 = tg_mul_scalar(t2, w, 3); /* d/dw = 3 */
  ck_assert_int_eq(tg_backward(t2, y2), TG_OK);
  ck_assert_int_eq(tg_backward(t1, y1), TG_OK);
  ck_assert_double_eq(tg_item(tg_grad_of(w)), 7.0);
  tg_tensor_free(w);
  tg_tape_free(t1);
  tg_tape_free(t2);
}
END_TEST

START_TEST(test_arena_use_is_the_same_every_step) {
  tg_tape *tp = tg_tape_new();
  int64_t s[2] = {64, 64};
  tg_tensor *w = tg_set_requires_grad(tg_tensor_new(tp, TG_F32, 2, s), true);
  size_t bytes[3];
  for (int step = 0; step < 3; step++) {
    tg_tensor *x = tg_ones(tp, TG_F32, 2, s);
    tg_tensor *y = tg_sum_all(tp, tg_relu(tp, tg_matmul(tp, x, w)));
    ck_assert_int_eq(tg_backward(tp, y), TG_OK);
    bytes[step] = tg_tape_bytes(tp);
    tg_tape_reset(tp);
  }
  ck_assert_uint_gt(bytes[0], 64 * 64 * 4);
  ck_assert_uint_eq(bytes[0], bytes[1]);
  ck_assert_uint_eq(bytes[1], bytes[2]);
  tg_tensor_free(w);
  tg_tape_free(tp);
}
END_TEST

START_TEST(test_diamond_graph) {
  /* y = exp(x) * sin(x): two paths from x meet again */
  tg_tape *tp = tg_tape_new();
  tg_tensor *x = leaf(tp, 0.9);
  tg_tensor *y = tg_mul(tp, tg_exp(tp, x), tg_sin(tp, x));
  ck_assert_int_eq(tg_backward(tp, y), TG_OK);
  ck_assert_double_eq_tol(tg_item(tg_grad_of(x)),
                          exp(0.9) * (sin(0.9) + cos(0.9)), 1e-14);
  tg_tape_free(tp);
}
END_TEST

START_TEST(test_nodes_are_recorded_in_order) {
  tg_tape *tp = tg_tape_new();
  tg_tensor *x = leaf(tp, 0.9);
  tg_tensor *a = tg_exp(tp, x);
  tg_tensor *b = tg_sin(tp, a);
  ck_assert_uint_eq(tg_tape_nodes(tp), 2);
  ck_assert_ptr_nonnull(a->node);
  ck_assert_ptr_nonnull(b->node);
  ck_assert_ptr_null(x->node);
  tg_tape_free(tp);
}
END_TEST

/* tg_backward adds a heap weight's gradient straight into its gradient
 * buffer when a matrix product meets it (itself, or through W^T): the
 * buffer must end up holding exactly what tg_grad returns, summed with what
 * it held, whichever of the weight's uses the sweep reaches first. */
static tg_tensor *weight_uses(tg_tape *tp, tg_tensor *w, tg_tensor *x,
                              tg_tensor *v, int order) {
  tg_tensor *wt = tg_transpose(tp, w, 0, 1); /* [3, 4] of w [4, 3] */
  tg_tensor *terms[4] = {NULL};
  int at = 0;
  if (order == 1) terms[at++] = tg_sum_all(tp, tg_tanh(tp, w)); /* last */
  tg_tensor *xw = tg_matmul(tp, x, wt); /* [2, 4]: W through W^T */
  terms[at++] = tg_sum_all(tp, tg_mul(tp, xw, xw));
  terms[at++] = tg_sum_all(tp, tg_sin(tp, tg_matmul(tp, w, v))); /* W itself */
  terms[at++] =                                                  /* again */
      tg_sum_all(tp, tg_tanh(tp, tg_matmul(tp, tg_exp(tp, x), wt)));
  if (order == 0) terms[at++] = tg_sum_all(tp, tg_tanh(tp, w)); /* first */
  tg_tensor *y = terms[0];
  for (int k = 1; k < at; k++)
    y = tg_add(tp, y, terms[k]);
  return y;
}

START_TEST(test_backward_adds_into_weight_buffers) {
  tg_tape *tp = tg_tape_new();
  tg_tape_seed(tp, 5);
  int64_t sw[2] = {4, 3}, sx[2] = {2, 3}, sv[2] = {3, 2};
  tg_tensor *w = tg_tensor_new(tp, TG_F64, 2, sw);
  tg_fill_normal(w, tg_tape_rng(tp), 0, 1);
  tg_set_requires_grad(w, true);
  tg_tensor *x = tg_tensor_new(tp, TG_F64, 2, sx); /* heap: they outlive */
  tg_tensor *v = tg_tensor_new(tp, TG_F64, 2, sv); /* the resets below */
  for (int i = 0; i < 6; i++) {
    ((double *)x->data)[i] = 0.3 * i - 0.7;
    ((double *)v->data)[i] = 0.5 - 0.2 * i;
  }
  for (int order = 0; order < 3; order++) {
    tg_tensor *y = weight_uses(tp, w, x, v, order), *g;
    ck_assert_msg(tg_grad(tp, 1, &y, NULL, 1, &w, &g, false) == TG_OK, "%s",
                  tg_errmsg(tp));
    double want[12], got[12];
    ck_assert(tgt_copy_out(g, want));
    tg_zero_grad(w);
    for (int k = 1; k <= 2; k++) { /* a second call adds as much again */
      ck_assert_int_eq(tg_backward(tp, y), TG_OK);
      ck_assert(tgt_copy_out(tg_grad_of(w), got));
      for (int i = 0; i < 12; i++)
        ck_assert_msg(fabs(got[i] - k * want[i]) <= 1e-12 * (1 + fabs(want[i])),
                      "order %d, call %d, element %d: %.17g, want %.17g", order,
                      k, i, got[i], k * want[i]);
    }
    tg_zero_grad(w);
    tg_tape_reset(tp);
  }
  tg_tensor_free(w);
  tg_tensor_free(x);
  tg_tensor_free(v);
  tg_tape_free(tp);
}
END_TEST

START_TEST(test_one_thread_setting) {
  int before = tg_num_threads();
  ck_assert_int_ge(before, 1);
  ck_assert_int_eq(tg_set_num_threads(1), 1);
  ck_assert_int_eq(tg_num_threads(), 1);
  ck_assert_int_ge(tg_set_num_threads(0), 1); /* back to the default */
}
END_TEST

/* The BLAS core repair (src/kernels/blas_core.c) never leaves the generic
 * kernels chosen, and never leaves its OPENBLAS_CORETYPE behind for child
 * processes; a product still gives the right numbers afterwards. */
START_TEST(test_blas_core_repair) {
  const char *core = tg_blas_core();
  ck_assert_ptr_nonnull(core);
  ck_assert_int_gt((int)strlen(core), 0);
  if (tg_blas_core_repaired()) {
    ck_assert_str_ne(core, "Prescott");
    ck_assert_ptr_null(getenv("OPENBLAS_CORETYPE"));
  }
  const char *keep = getenv("TAPEGRAD_BLAS_CORE");
  if (getenv("OPENBLAS_CORETYPE") || (keep && strcmp(keep, "keep") == 0))
    ck_assert(!tg_blas_core_repaired());
  tg_tape *tp = tg_tape_new();
  int64_t sa[2] = {3, 40}, sb[2] = {40, 5};
  tg_tensor *a = tg_zeros(tp, TG_F32, 2, sa), *b = tg_zeros(tp, TG_F32, 2, sb);
  ck_assert_ptr_nonnull(a);
  ck_assert_ptr_nonnull(b);
  for (int i = 0; i < 120; i++)
    ((float *)a->data)[i] = (float)(i % 7) - 3;
  for (int i = 0; i < 200; i++)
    ((float *)b->data)[i] = (float)(i % 5) * 0.5f;
  tg_tensor *c = tg_matmul(tp, a, b);
  ck_assert_ptr_nonnull(c);
  for (int i = 0; i < 3; i++)
    for (int j = 0; j < 5; j++) {
      double want = 0;
      for (int k = 0; k < 40; k++)
        want += (double)((float *)a->data)[i * 40 + k] *
                ((float *)b->data)[k * 5 + j];
      ck_assert_double_eq_tol(tg_get_flat(c, i * 5 + j), want, 1e-4);
    }
  tg_tape_free(tp);
}
END_TEST

int main(void) {
  Suite *s = suite_create("tape");
  TCase *tc = tcase_create("tape");
  tcase_set_timeout(tc, 60);
  tcase_add_test(tc, test_backward_gives_analytic_gradients);
  tcase_add_test(tc, test_gradients_accumulate_across_backward_calls);
  tcase_add_test(tc, test_backward_twice_gives_identical_gradients);
  tcase_add_test(tc, test_tensor_used_twice_accumulates);
  tcase_add_test(tc, test_no_grad_scope_records_nothing);
  tcase_add_test(tc, test_constants_are_not_recorded);
  tcase_add_test(tc, test_retain_grad_keeps_intermediate_gradient);
  tcase_add_test(tc, test_backward_seed_for_non_scalar_output);
  tcase_add_test(tc, test_grad_of_unused_input_is_zero);
  tcase_add_test(tc, test_grad_with_create_graph_is_differentiable);
  tcase_add_test(tc, test_gradient_of_broadcast_input_is_summed);
  tcase_add_test(tc, test_reset_keeps_heap_tensors_and_their_gradients);
  tcase_add_test(tc, test_heap_tensor_shared_by_two_tapes);
  tcase_add_test(tc, test_arena_use_is_the_same_every_step);
  tcase_add_test(tc, test_diamond_graph);
  tcase_add_test(tc, test_nodes_are_recorded_in_order);
  tcase_add_test(tc, test_backward_adds_into_weight_buffers);
  tcase_add_test(tc, test_one_thread_setting);
  tcase_add_test(tc, test_blas_core_repair);
  suite_add_tcase(s, tc);
  return tgt_run_suite(s);
}
