/* tapegrad built without MPI: the tg_dist_* calls exist, say that MPI is
 * missing, and a distributed fit is refused with that message; training
 * alone is unchanged. Prints "N passed, M failed" and exits non-zero on
 * any failed check. Not a Check suite, to share the CHECK counting of
 * test_dist.c, whose MPI job cannot run under Check's forked tests. */
#include <stdio.h>
#include <string.h>

#include "tapegrad.h"

static int passed, failed;

static void check(bool ok, int line, const char *what) {
  if (ok) {
    passed++;
    return;
  }
  failed++;
  fprintf(stderr, "test_dist_none.c:%d: FAIL: %s\n", line, what);
}
#define CHECK(cond, what) check((cond), __LINE__, (what))

static bool says_no_mpi(tg_status st) {
  return st == TG_ERR_STATE &&
         strstr(tg_dist_errmsg(), "tapegrad was built without MPI") != NULL;
}

int main(int argc, char **argv) {
  CHECK(!tg_dist_available(), "not available");
  CHECK(says_no_mpi(tg_dist_init(&argc, &argv)), "init says why");
  CHECK(!strncmp(tg_dist_errmsg(), "tg_dist_init", 12), "init names itself");
  CHECK(tg_dist_rank() == 0 && tg_dist_size() == 1, "rank 0 of 1");
  double v[1] = {2};
  CHECK(says_no_mpi(tg_dist_sum(v, 1)) && v[0] == 2, "sum refused");
  tg_params *ps = tg_params_new();
  int64_t s[1] = {3};
  tg_tensor *p = tg_param_new(ps, NULL, "p", TG_F64, 1, s);
  CHECK(says_no_mpi(tg_dist_broadcast_params(ps, 0)), "broadcast refused");
  CHECK(says_no_mpi(tg_dist_average_grads(ps)), "average refused");
  CHECK(p->grad == NULL, "nothing changed");
  tg_params_free(ps);
  CHECK(tg_dist_finalize() == TG_OK, "finalize is a no-op");

  int64_t sx[2] = {16, 2}, sy[1] = {16};
  tg_tensor *x = tg_tensor_new(NULL, TG_F64, 2, sx);
  tg_tensor *y = tg_tensor_new(NULL, TG_F64, 1, sy);
  tg_model *m = tg_sequential_new(TG_F64, 1);
  tg_model_add_dense(m, 2, 2, TG_ACT_NONE);
  tg_model_compile(m, TG_LOSS_CROSS_ENTROPY, NULL, 0);
  tg_history *h = tg_model_fit(m, x, y, &(tg_fit_opts){.distributed = true});
  CHECK(!h && strstr(tg_model_errmsg(m), "built without MPI"),
        "a distributed fit is refused");
  tg_history_free(h);
  tg_model_free(m);
  m = tg_sequential_new(TG_F64, 1);
  tg_model_add_dense(m, 2, 2, TG_ACT_NONE);
  tg_model_compile(m, TG_LOSS_CROSS_ENTROPY, NULL, 0);
  h = tg_model_fit(m, x, y, &(tg_fit_opts){.epochs = 2});
  CHECK(h && h->epochs == 2, "a fit alone trains");
  tg_history_free(h);
  tg_model_free(m);
  tg_tensor_free(x);
  tg_tensor_free(y);
  printf("%d passed, %d failed\n", passed, failed);
  return failed ? 1 : 0;
}
