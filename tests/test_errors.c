/* Every error class: the op returns NULL (or a status), the tape keeps a
 * message naming the op and the shapes, and nothing crashes. */
#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "support.h"
#include "tapegrad.h"

static tg_tape *tp;

static void setup(void) { tp = tg_tape_new(); }
static void teardown(void) { tg_tape_free(tp); }

static tg_tensor *t2(tg_dtype dt, int64_t r, int64_t c) {
  int64_t s[2] = {r, c};
  return tg_zeros(tp, dt, 2, s);
}

#define ASSERT_ERROR(code, text)                                               \
  do {                                                                         \
    ck_assert_int_eq(tg_error(tp), (code));                                    \
    ck_assert_str_eq(tg_errmsg(tp), (text));                                   \
  } while (0)

START_TEST(test_null_input_names_op_and_argument) {
  tg_tensor *x = t2(TG_F64, 2, 2);
  ck_assert_ptr_null(tg_add(tp, NULL, x));
  ASSERT_ERROR(TG_ERR_NULL, "tg_add: input #1 is NULL");
}
END_TEST

START_TEST(test_null_propagates_and_first_error_is_kept) {
  tg_tensor *a = t2(TG_F32, 2, 3), *b = t2(TG_F32, 4, 5);
  tg_tensor *bad = tg_matmul(tp, a, b);
  tg_tensor *y = tg_sum_all(tp, tg_exp(tp, tg_relu(tp, bad)));
  ck_assert_ptr_null(bad);
  ck_assert_ptr_null(y);
  ASSERT_ERROR(TG_ERR_SHAPE, "tg_matmul: inner dimensions differ: [2x3] @ "
                             "[4x5]");
}
END_TEST

START_TEST(test_clear_error_resets_the_tape_error) {
  ck_assert_ptr_null(tg_exp(tp, NULL));
  ck_assert_int_ne(tg_error(tp), TG_OK);
  tg_clear_error(tp);
  ck_assert_int_eq(tg_error(tp), TG_OK);
  ck_assert_str_eq(tg_errmsg(tp), "");
}
END_TEST

START_TEST(test_dtype_mismatch) {
  int64_t s[1] = {2};
  tg_tensor *a = tg_zeros(tp, TG_F32, 1, s), *b = tg_zeros(tp, TG_F64, 1, s);
  ck_assert_ptr_null(tg_mul(tp, a, b));
  ASSERT_ERROR(TG_ERR_DTYPE, "tg_mul: dtypes differ: f32 [2] and f64 [2]");
}
END_TEST

START_TEST(test_shapes_that_do_not_broadcast) {
  int64_t s[1] = {4};
  ck_assert_ptr_null(tg_add(tp, t2(TG_F64, 2, 3), tg_zeros(tp, TG_F64, 1, s)));
  ASSERT_ERROR(TG_ERR_SHAPE, "tg_add: shapes [2x3] and [4] do not broadcast");
}
END_TEST

START_TEST(test_matmul_inner_dimensions) {
  ck_assert_ptr_null(tg_matmul(tp, t2(TG_F32, 128, 784), t2(TG_F32, 512, 512)));
  ASSERT_ERROR(TG_ERR_SHAPE,
               "tg_matmul: inner dimensions differ: [128x784] @ [512x512]");
}
END_TEST

START_TEST(test_matmul_needs_two_dimensions) {
  int64_t s[1] = {3};
  ck_assert_ptr_null(
      tg_matmul(tp, tg_zeros(tp, TG_F64, 1, s), t2(TG_F64, 3, 2)));
  ASSERT_ERROR(TG_ERR_SHAPE,
               "tg_matmul: inputs must be at least 2-D: [3] @ [3x2]");
}
END_TEST

START_TEST(test_matmul_batch_dimensions_must_broadcast) {
  int64_t sa[3] = {2, 3, 4}, sb[3] = {3, 4, 5};
  ck_assert_ptr_null(
      tg_matmul(tp, tg_zeros(tp, TG_F64, 3, sa), tg_zeros(tp, TG_F64, 3, sb)));
  ASSERT_ERROR(TG_ERR_SHAPE, "tg_matmul: batch dimensions do not broadcast: "
                             "[2x3x4] @ [3x4x5]");
}
END_TEST

/* tg_addmm names itself, counts its inputs as the caller passes them (the
 * addend first), and checks the addend against the product's shape. */
START_TEST(test_addmm_errors) {
  int64_t s5[1] = {5}, s4[1] = {4}, s235[3] = {2, 3, 5};
  tg_tensor *a = t2(TG_F64, 3, 4), *b = t2(TG_F64, 4, 5);
  ck_assert_ptr_null(tg_addmm(tp, NULL, a, b));
  ASSERT_ERROR(TG_ERR_NULL, "tg_addmm: input #1 is NULL");
  tg_clear_error(tp);
  ck_assert_ptr_null(tg_addmm(tp, tg_zeros(tp, TG_F64, 1, s5), a, NULL));
  ASSERT_ERROR(TG_ERR_NULL, "tg_addmm: input #3 is NULL");
  tg_clear_error(tp);
  ck_assert_ptr_null(tg_addmm(tp, tg_zeros(tp, TG_F64, 1, s4), a, b));
  ASSERT_ERROR(TG_ERR_SHAPE, "tg_addmm: the addend [4] does not broadcast to "
                             "the product's shape [3x5]");
  tg_clear_error(tp);
  /* an addend with more axes than the product would widen it */
  ck_assert_ptr_null(tg_addmm(tp, tg_zeros(tp, TG_F64, 3, s235), a, b));
  ASSERT_ERROR(TG_ERR_SHAPE, "tg_addmm: the addend [2x3x5] does not broadcast "
                             "to the product's shape [3x5]");
  tg_clear_error(tp);
  ck_assert_ptr_null(tg_addmm(tp, tg_zeros(tp, TG_F32, 1, s5), a, b));
  ASSERT_ERROR(TG_ERR_DTYPE, "tg_addmm: the addend is f32 [5] but the product "
                             "is f64");
  tg_clear_error(tp);
  ck_assert_ptr_null(tg_addmm(tp, tg_zeros(tp, TG_F64, 1, s5), a, a));
  ASSERT_ERROR(TG_ERR_SHAPE, "tg_addmm: inner dimensions differ: [3x4] @ "
                             "[3x4]");
}
END_TEST

START_TEST(test_axis_out_of_range) {
  int axis = 2;
  ck_assert_ptr_null(tg_sum(tp, t2(TG_F64, 2, 3), 1, &axis, false));
  ASSERT_ERROR(TG_ERR_AXIS, "tg_sum: axis 2 is out of range for shape [2x3]");
}
END_TEST

START_TEST(test_negative_axis_out_of_range) {
  int axis = -3;
  ck_assert_ptr_null(tg_max(tp, t2(TG_F64, 2, 3), 1, &axis, true));
  ASSERT_ERROR(TG_ERR_AXIS, "tg_max: axis -3 is out of range for shape [2x3]");
}
END_TEST

START_TEST(test_axis_listed_twice) {
  int axes[2] = {1, -1};
  ck_assert_ptr_null(tg_mean(tp, t2(TG_F64, 2, 3), 2, axes, false));
  ASSERT_ERROR(TG_ERR_AXIS, "tg_mean: axis -1 is listed twice");
}
END_TEST

START_TEST(test_max_over_empty_axis) {
  int axis = 0;
  ck_assert_ptr_null(tg_max(tp, t2(TG_F64, 0, 3), 1, &axis, false));
  ASSERT_ERROR(TG_ERR_SHAPE,
               "tg_max: cannot take the max over empty axis 0 of [0x3]");
}
END_TEST

START_TEST(test_permutation_invalid) {
  int perm[2] = {0, 0};
  ck_assert_ptr_null(tg_permute(tp, t2(TG_F64, 2, 3), perm));
  ASSERT_ERROR(TG_ERR_AXIS, "tg_permute: entry 1 (0) does not make a "
                            "permutation of the 2 axes of [2x3]");
}
END_TEST

START_TEST(test_transpose_axis_out_of_range) {
  ck_assert_ptr_null(tg_transpose(tp, t2(TG_F64, 2, 3), 0, 5));
  ASSERT_ERROR(TG_ERR_AXIS, "tg_transpose: axes 0 and 5 are not both in "
                            "range for [2x3]");
}
END_TEST

START_TEST(test_reshape_element_count) {
  int64_t s[2] = {4, 2};
  ck_assert_ptr_null(tg_reshape(tp, t2(TG_F64, 2, 3), 2, s));
  ASSERT_ERROR(TG_ERR_SHAPE, "tg_reshape: cannot reshape [2x3] (6 elements) "
                             "to [4x2] (8 elements)");
}
END_TEST

START_TEST(test_reshape_cannot_infer) {
  int64_t s[2] = {-1, 4};
  ck_assert_ptr_null(tg_reshape(tp, t2(TG_F64, 2, 3), 2, s));
  ASSERT_ERROR(TG_ERR_SHAPE, "tg_reshape: cannot reshape [2x3] (6 elements) "
                             "to [-1x4]");
}
END_TEST

START_TEST(test_expand_incompatible) {
  int64_t s[2] = {4, 3};
  ck_assert_ptr_null(tg_expand(tp, t2(TG_F64, 2, 3), 2, s));
  ASSERT_ERROR(TG_ERR_SHAPE, "tg_expand: cannot broadcast [2x3] to [4x3]");
}
END_TEST

START_TEST(test_sum_to_incompatible) {
  int64_t s[1] = {2};
  ck_assert_ptr_null(tg_sum_to(tp, t2(TG_F64, 2, 3), 1, s));
  ASSERT_ERROR(TG_ERR_SHAPE, "tg_sum_to: cannot sum [2x3] down to [2]");
}
END_TEST

START_TEST(test_where_shapes) {
  int64_t s[1] = {5};
  tg_tensor *m = tg_zeros(tp, TG_F64, 1, s);
  ck_assert_ptr_null(tg_where(tp, m, t2(TG_F64, 2, 3), t2(TG_F64, 2, 3)));
  ASSERT_ERROR(TG_ERR_SHAPE, "tg_where: shapes [5] (mask), [2x3] and [2x3] "
                             "do not broadcast");
}
END_TEST

START_TEST(test_negative_dimension) {
  int64_t s[2] = {2, -3};
  ck_assert_ptr_null(tg_zeros(tp, TG_F64, 2, s));
  ASSERT_ERROR(TG_ERR_SHAPE, "tg_zeros: dimension 1 has negative size -3");
}
END_TEST

START_TEST(test_too_many_dimensions) {
  int64_t s[9] = {1, 1, 1, 1, 1, 1, 1, 1, 1};
  ck_assert_ptr_null(tg_empty(tp, TG_F64, 9, s));
  ASSERT_ERROR(TG_ERR_SHAPE, "tg_empty: 9 dimensions (0 to 8 supported)");
}
END_TEST

START_TEST(test_shape_product_overflows) {
  int64_t s[4] = {1 << 20, 1 << 20, 1 << 20, 1 << 20};
  ck_assert_ptr_null(tg_empty(tp, TG_F32, 4, s));
  ASSERT_ERROR(TG_ERR_SHAPE,
               "tg_empty: shape is too large (element count overflows)");
  tg_clear_error(tp);
  /* 2^62 floats: the count fits in int64 but its bytes do not fit half
   * the address space */
  int64_t big[2] = {(int64_t)1 << 31, (int64_t)1 << 31};
  ck_assert_ptr_null(tg_empty(tp, TG_F32, 2, big));
  ASSERT_ERROR(TG_ERR_SHAPE,
               "tg_empty: shape is too large (element count overflows)");
}
END_TEST

START_TEST(test_unknown_dtype) {
  int64_t s[1] = {2};
  ck_assert_ptr_null(tg_ones(tp, (tg_dtype)7, 1, s));
  ASSERT_ERROR(TG_ERR_DTYPE, "tg_ones: unknown dtype 7");
}
END_TEST

START_TEST(test_out_of_memory_is_an_error) {
  /* 2^42 doubles (32 TiB): a valid shape that no machine here can hold. */
  int64_t s[2] = {1 << 21, 1 << 21};
  ck_assert_ptr_null(tg_empty(tp, TG_F64, 2, s));
  ck_assert_int_eq(tg_error(tp), TG_ERR_NOMEM);
  ck_assert_ptr_nonnull(strstr(tg_errmsg(tp), "tg_empty: out of memory"));
  /* The tape still works afterwards. */
  tg_clear_error(tp);
  ck_assert_ptr_nonnull(t2(TG_F64, 2, 2));
  ck_assert_ptr_null(tg_tensor_new(tp, TG_F64, 2, s));
  ck_assert_int_eq(tg_error(tp), TG_ERR_NOMEM);
}
END_TEST

START_TEST(test_arange_bad_step) {
  ck_assert_ptr_null(tg_arange(tp, TG_F64, 0, 1, 0));
  ck_assert_int_eq(tg_error(tp), TG_ERR_ARG);
  ck_assert_ptr_nonnull(strstr(tg_errmsg(tp), "tg_arange:"));
}
END_TEST

START_TEST(test_backward_of_non_scalar_needs_seed) {
  tg_tensor *x = tg_set_requires_grad(t2(TG_F64, 2, 3), true);
  tg_tensor *y = tg_exp(tp, x);
  ck_assert_int_eq(tg_backward(tp, y), TG_ERR_SHAPE);
  ck_assert_str_eq(tg_errmsg(tp), "tg_backward: output #1 has shape [2x3]; "
                                  "give a seed gradient for an output with "
                                  "more than one element");
}
END_TEST

START_TEST(test_backward_seed_shape_mismatch) {
  tg_tensor *x = tg_set_requires_grad(t2(TG_F64, 2, 3), true);
  tg_tensor *y = tg_exp(tp, x);
  ck_assert_int_eq(tg_backward_seed(tp, y, t2(TG_F64, 3, 2)), TG_ERR_SHAPE);
  ck_assert_str_eq(tg_errmsg(tp), "tg_backward_seed: seed #1 is [3x2] f64 "
                                  "but output is [2x3] f64");
}
END_TEST

START_TEST(test_backward_of_constant) {
  tg_tensor *y = tg_exp(tp, tg_scalar(tp, TG_F64, 1));
  ck_assert_int_eq(tg_backward(tp, y), TG_ERR_STATE);
  ck_assert_ptr_nonnull(strstr(tg_errmsg(tp), "tg_backward: output #1 does "
                                              "not require a gradient"));
}
END_TEST

START_TEST(test_backward_of_null) {
  ck_assert_int_eq(tg_backward(tp, NULL), TG_ERR_NULL);
  ck_assert_str_eq(tg_errmsg(tp), "tg_backward: output #1 is NULL");
  ck_assert_int_eq(tg_backward(NULL, NULL), TG_ERR_NULL);
}
END_TEST

START_TEST(test_grad_with_null_input) {
  tg_tensor *x = tg_set_requires_grad(tg_scalar(tp, TG_F64, 1), true);
  tg_tensor *y = tg_exp(tp, x), *in[2] = {x, NULL}, *g[2];
  ck_assert_int_eq(tg_grad(tp, 1, &y, NULL, 2, in, g, false), TG_ERR_NULL);
  ck_assert_str_eq(tg_errmsg(tp), "tg_grad: input #2 is NULL");
}
END_TEST

START_TEST(test_null_tape_is_harmless) {
  ck_assert_ptr_null(tg_exp(NULL, NULL));
  ck_assert_ptr_null(tg_zeros(NULL, TG_F64, 0, NULL));
  ck_assert_int_eq(tg_error(NULL), TG_ERR_NULL);
  tg_tape_reset(NULL);
  tg_tape_free(NULL);
  tg_tensor_free(NULL);
  /* heap tensors without a tape report failure by NULL alone */
  int64_t s[1] = {-1};
  ck_assert_ptr_null(tg_tensor_new(NULL, TG_F64, 1, s));
}
END_TEST

START_TEST(test_reading_out_of_range_gives_nan) {
  tg_tensor *x = t2(TG_F64, 2, 3);
  int64_t idx[2] = {2, 0};
  ck_assert(isnan(tg_get(x, idx)));
  ck_assert(isnan(tg_get_flat(x, 6)));
  ck_assert(isnan(tg_get_flat(x, -1)));
  ck_assert(isnan(tg_item(x)));
  ck_assert_int_eq(tg_copy_out_f64(NULL, NULL), TG_ERR_NULL);
}
END_TEST

START_TEST(test_every_status_has_a_description) {
  for (int c = 0; c < TG_ERR_COUNT; c++) {
    const char *s = tg_strerror((tg_status)c);
    ck_assert_ptr_nonnull(s);
    ck_assert_uint_gt(strlen(s), 3);
  }
  ck_assert_str_eq(tg_strerror((tg_status)99), "unknown status code");
}
END_TEST

int main(void) {
  Suite *s = suite_create("errors");
  TCase *tc = tcase_create("errors");
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_set_timeout(tc, 60);
  tcase_add_test(tc, test_null_input_names_op_and_argument);
  tcase_add_test(tc, test_null_propagates_and_first_error_is_kept);
  tcase_add_test(tc, test_clear_error_resets_the_tape_error);
  tcase_add_test(tc, test_dtype_mismatch);
  tcase_add_test(tc, test_shapes_that_do_not_broadcast);
  tcase_add_test(tc, test_matmul_inner_dimensions);
  tcase_add_test(tc, test_matmul_needs_two_dimensions);
  tcase_add_test(tc, test_matmul_batch_dimensions_must_broadcast);
  tcase_add_test(tc, test_addmm_errors);
  tcase_add_test(tc, test_axis_out_of_range);
  tcase_add_test(tc, test_negative_axis_out_of_range);
  tcase_add_test(tc, test_axis_listed_twice);
  tcase_add_test(tc, test_max_over_empty_axis);
  tcase_add_test(tc, test_permutation_invalid);
  tcase_add_test(tc, test_transpose_axis_out_of_range);
  tcase_add_test(tc, test_reshape_element_count);
  tcase_add_test(tc, test_reshape_cannot_infer);
  tcase_add_test(tc, test_expand_incompatible);
  tcase_add_test(tc, test_sum_to_incompatible);
  tcase_add_test(tc, test_where_shapes);
  tcase_add_test(tc, test_negative_dimension);
  tcase_add_test(tc, test_too_many_dimensions);
  tcase_add_test(tc, test_shape_product_overflows);
  tcase_add_test(tc, test_unknown_dtype);
  tcase_add_test(tc, test_out_of_memory_is_an_error);
  tcase_add_test(tc, test_arange_bad_step);
  tcase_add_test(tc, test_backward_of_non_scalar_needs_seed);
  tcase_add_test(tc, test_backward_seed_shape_mismatch);
  tcase_add_test(tc, test_backward_of_constant);
  tcase_add_test(tc, test_backward_of_null);
  tcase_add_test(tc, test_grad_with_null_input);
  tcase_add_test(tc, test_null_tape_is_harmless);
  tcase_add_test(tc, test_reading_out_of_range_gives_nan);
  tcase_add_test(tc, test_every_status_has_a_description);
  suite_add_tcase(s, tc);
  return tgt_run_suite(s);
}
