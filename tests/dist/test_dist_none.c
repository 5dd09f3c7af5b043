/* tapegrad built without MPI: the tg_dist_* calls exist, say that MPI is
 * missing, and a distributed fit is refused with that message; training
 * alone is unchanged. A Check suite (built only when MPI is not found,
 * e.g. meson setup -Dmpi=disabled). */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "tapegrad.h"

static bool says_no_mpi(tg_status st) {
  return st == TG_ERR_STATE &&
         strstr(tg_dist_errmsg(), "tapegrad was built without MPI") != NULL;
}

START_TEST(test_calls_say_mpi_is_missing) {
  int argc = 1;
  char arg0[] = "test_dist_none", *args[] = {arg0, NULL}, **argv = args;
  ck_assert(!tg_dist_available());
  ck_assert_msg(says_no_mpi(tg_dist_init(&argc, &argv)), "init: '%s'",
                tg_dist_errmsg());
  ck_assert_msg(!strncmp(tg_dist_errmsg(), "tg_dist_init", 12),
                "init does not name itself: '%s'", tg_dist_errmsg());
  ck_assert_int_eq(tg_dist_rank(), 0);
  ck_assert_int_eq(tg_dist_size(), 1);
  double v[1] = {2};
  ck_assert(says_no_mpi(tg_dist_sum(v, 1)));
  ck_assert_double_eq(v[0], 2); /* untouched */
  tg_params *ps = tg_params_new();
  int64_t s[1] = {3};
  tg_tensor *p = tg_param_new(ps, NULL, "p", TG_F64, 1, s);
  ck_assert_ptr_nonnull(p);
  ck_assert(says_no_mpi(tg_dist_broadcast_params(ps, 0)));
  ck_assert(says_no_mpi(tg_dist_average_grads(ps)));
  ck_assert_ptr_null(p->grad); /* nothing changed */
  tg_params_free(ps);
  ck_assert_int_eq(tg_dist_finalize(), TG_OK); /* a no-op */
}
END_TEST

static tg_model *small_model(void) {
  tg_model *m = tg_sequential_new(TG_F64, 1);
  ck_assert_ptr_nonnull(m);
  ck_assert_int_eq(tg_model_add_dense(m, 2, 2, TG_ACT_NONE), TG_OK);
  ck_assert_int_eq(tg_model_compile(m, TG_LOSS_CROSS_ENTROPY, NULL, 0), TG_OK);
  return m;
}

START_TEST(test_distributed_fit_refused_plain_fit_trains) {
  int64_t sx[2] = {16, 2}, sy[1] = {16};
  tg_tensor *x = tg_tensor_new(NULL, TG_F64, 2, sx);
  tg_tensor *y = tg_tensor_new(NULL, TG_F64, 1, sy);
  ck_assert(x && y);
  tg_model *m = small_model();
  tg_history *h = tg_model_fit(m, x, y, &(tg_fit_opts){.distributed = true});
  ck_assert_ptr_null(h);
  ck_assert_msg(strstr(tg_model_errmsg(m), "built without MPI") != NULL, "'%s'",
                tg_model_errmsg(m));
  tg_model_free(m);
  m = small_model();
  h = tg_model_fit(m, x, y, &(tg_fit_opts){.epochs = 2});
  ck_assert_msg(h != NULL, "%s", tg_model_errmsg(m));
  ck_assert_int_eq(h->epochs, 2);
  tg_history_free(h);
  tg_model_free(m);
  tg_tensor_free(x);
  tg_tensor_free(y);
}
END_TEST

int main(void) {
  Suite *s = suite_create("dist without MPI");
  TCase *tc = tcase_create("stubs");
  tcase_add_test(tc, test_calls_say_mpi_is_missing);
  tcase_add_test(tc, test_distributed_fit_refused_plain_fit_trains);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
