/* Not a test itself, so it asserts nothing: the program that
 * dist_crash.sh (the test, meson's dist_rank_failure) runs under mpirun and
 * judges by mpirun's exit status. It is a data-parallel fit in which the
 * last rank dies at its third step:
 *
 *   mpirun -np 2 ./dist_crash exit     the rank calls exit(3)
 *   mpirun -np 2 ./dist_crash abort    the rank calls abort()
 *
 * The other ranks are then waiting in the gradient average for a rank that
 * will never come. The job must end with an error instead of hanging:
 * dist_crash.sh runs this under a timeout and checks that mpirun itself
 * ends it, with a non-zero status. Should fit ever return here, the program
 * says so and exits 0, which the script counts as a failure (as it does a
 * job still running at the timeout). Check's asserts cannot judge it: the
 * outcome under test is how the whole MPI job ends, seen from outside. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tapegrad.h"

typedef struct ctx {
  tg_tensor *w;
  int calls, die_at;
  bool use_abort;
} ctx;

static tg_tensor *forward(tg_tape *tp, tg_tensor *x, bool training, void *ud) {
  ctx *c = ud;
  if (training && ++c->calls == c->die_at) {
    fprintf(stderr, "rank %d: dying on purpose at step %d (%s)\n",
            tg_dist_rank(), c->calls, c->use_abort ? "abort" : "exit(3)");
    if (c->use_abort) abort();
    exit(3);
  }
  return tg_matmul(tp, x, c->w);
}

int main(int argc, char **argv) {
  bool use_abort = argc > 1 && !strcmp(argv[1], "abort");
  if (tg_dist_init(&argc, &argv) != TG_OK) {
    fprintf(stderr, "%s\n", tg_dist_errmsg());
    return 2;
  }
  int rank = tg_dist_rank(), size = tg_dist_size();
  int64_t sx[2] = {256, 4}, sw[2] = {4, 1};
  tg_tensor *x = tg_tensor_new(NULL, TG_F64, 2, sx);
  tg_tensor *y = tg_tensor_new(NULL, TG_F64, 2, (int64_t[]){256, 1});
  tg_rng rng;
  tg_rng_seed(&rng, 1);
  tg_fill_normal(x, &rng, 0, 1);
  tg_fill_normal(y, &rng, 0, 1);
  tg_params *ps = tg_params_new();
  ctx c = {tg_param_new(ps, NULL, "w", TG_F64, 2, sw), 0,
           rank == size - 1 && size > 1 ? 3 : 0, use_abort};
  tg_model *m = tg_model_custom(ps, forward, &c, 1);
  tg_model_compile(m, TG_LOSS_MSE, tg_sgd_new(ps, &(tg_sgd_opts){.lr = 0.01}),
                   0);
  tg_history *h = tg_model_fit(
      m, x, y,
      &(tg_fit_opts){.epochs = 1000000, .batch_size = 8, .distributed = true});
  fprintf(stderr, "rank %d: fit returned (%s) although a rank died\n", rank,
          h ? "a history" : tg_model_errmsg(m));
  tg_history_free(h);
  tg_model_free(m);
  tg_params_free(ps);
  tg_tensor_free(x);
  tg_tensor_free(y);
  tg_dist_finalize();
  return 0;
}
