/* Saved tensors stay valid: an in-place write to a tensor a backward rule
 * will read is detected by its version counter, never a silently wrong
 * gradient. */
#include <check.h>
#include <string.h>

#include "support.h"
#include "tapegrad.h"

START_TEST(test_optimizer_step_before_backward_is_detected) {
  tg_tape *tp = tg_tape_new();
  tg_params *ps = tg_params_new();
  int64_t s[1] = {3};
  tg_tensor *w = tg_param_new(ps, tp, "w", TG_F64, 1, s);
  tg_fill(w, 0.5);
  tg_optimizer *opt = tg_sgd_new(ps, &(tg_sgd_opts){.lr = 0.1});
  /* a first step gives w a gradient, so the optimizer will move it */
  tg_tensor *y = tg_sum_all(tp, tg_mul(tp, w, w));
  ck_assert_int_eq(tg_backward(tp, y), TG_OK);
  tg_tape_reset(tp);
  y = tg_sum_all(tp, tg_mul(tp, w, w)); /* mul saves w */
  ck_assert_int_eq(tg_optimizer_step(opt), TG_OK);
  ck_assert_int_eq(tg_backward(tp, y), TG_ERR_STATE);
  ck_assert_str_eq(tg_errmsg(tp),
                   "tg_backward: input #1 of tg_mul (tape position 0) was "
                   "changed in place after it was saved for backward "
                   "(version 1 when saved, 2 now)");
  tg_optimizer_free(opt);
  tg_params_free(ps);
  tg_tape_free(tp);
}
END_TEST

START_TEST(test_fill_of_a_saved_output_is_detected) {
  tg_tape *tp = tg_tape_new();
  int64_t s[1] = {2};
  tg_tensor *x = tg_set_requires_grad(tg_ones(tp, TG_F64, 1, s), true);
  tg_tensor *e = tg_exp(tp, x); /* exp's rule reads its output */
  tg_tensor *y = tg_sum_all(tp, e);
  tg_fill(e, 0.0);
  ck_assert_int_eq(tg_backward(tp, y), TG_ERR_STATE);
  ck_assert_ptr_nonnull(strstr(tg_errmsg(tp), "the output of tg_exp"));
  tg_tape_free(tp);
}
END_TEST

START_TEST(test_a_write_through_the_base_reaches_views) {
  tg_tape *tp = tg_tape_new();
  int64_t s[2] = {2, 3};
  tg_tensor *w = tg_set_requires_grad(tg_tensor_new(tp, TG_F64, 2, s), true);
  tg_tensor *wt = tg_transpose(tp, w, 0, 1); /* a view of w's storage */
  int64_t sx[2] = {4, 3};
  tg_tensor *x = tg_ones(tp, TG_F64, 2, sx);
  tg_tensor *y = tg_sum_all(tp, tg_matmul(tp, tg_sin(tp, x), tg_sin(tp, wt)));
  double *raw = w->data; /* a user writing into the data directly... */
  raw[0] = 3.0;
  tg_tensor_touch(w); /* ...and saying so */
  ck_assert_int_eq(tg_backward(tp, y), TG_ERR_STATE);
  ck_assert_ptr_nonnull(strstr(tg_errmsg(tp), "tg_sin"));
  tg_tensor_free(w);
  tg_tape_free(tp);
}
END_TEST

START_TEST(test_writes_to_tensors_no_rule_reads_are_fine) {
  tg_tape *tp = tg_tape_new();
  int64_t s[1] = {2};
  tg_tensor *a = tg_set_requires_grad(tg_ones(tp, TG_F64, 1, s), true);
  tg_tensor *b = tg_set_requires_grad(tg_ones(tp, TG_F64, 1, s), true);
  tg_tensor *y = tg_sum_all(tp, tg_add(tp, a, b)); /* add reads nothing */
  tg_fill(a, 5.0);
  ck_assert_int_eq(tg_backward(tp, y), TG_OK);
  ck_assert_double_eq(tg_get_flat(tg_grad_of(a), 0), 1.0);
  tg_tape_free(tp);
}
END_TEST

START_TEST(test_training_loop_steps_are_not_flagged) {
  /* The usual order (forward, backward, step, reset) never trips it. */
  tg_tape *tp = tg_tape_new();
  tg_params *ps = tg_params_new();
  int64_t s[2] = {3, 3};
  tg_tensor *w = tg_param_new(ps, tp, "w", TG_F64, 2, s);
  tg_fill(w, 0.1);
  tg_optimizer *opt = tg_adam_new(ps, &(tg_adam_opts){.lr = 0.01});
  for (int step = 0; step < 5; step++) {
    tg_tensor *x = tg_ones(tp, TG_F64, 2, s);
    tg_tensor *y = tg_sum_all(tp, tg_tanh(tp, tg_matmul(tp, x, w)));
    ck_assert_int_eq(tg_backward(tp, y), TG_OK);
    ck_assert_int_eq(tg_optimizer_step(opt), TG_OK);
    tg_optimizer_zero_grad(opt);
    tg_tape_reset(tp);
  }
  tg_optimizer_free(opt);
  tg_params_free(ps);
  tg_tape_free(tp);
}
END_TEST

int main(void) {
  Suite *s = suite_create("versions");
  TCase *tc = tcase_create("versions");
  tcase_add_test(tc, test_optimizer_step_before_backward_is_detected);
  tcase_add_test(tc, test_fill_of_a_saved_output_is_detected);
  tcase_add_test(tc, test_a_write_through_the_base_reaches_views);
  tcase_add_test(tc, test_writes_to_tensors_no_rule_reads_are_fine);
  tcase_add_test(tc, test_training_loop_steps_are_not_flagged);
  suite_add_tcase(s, tc);
  return tgt_run_suite(s);
}
