/* Fashion-MNIST with a multilayer perceptron 784-256-128-10 (ReLU), Adam
 * lr 1e-3, batch 64.
 *
 * Usage: fashion_mlp [--epochs N] [--batch N] [--distributed] [data dir]
 *
 * Data-parallel over MPI, two processes, each with batch 64 (so each step
 * learns from 128 images); only rank 0 prints:
 *   mpirun -np 2 ./build/examples/fashion_mlp --distributed --epochs 1
 * (as root add --allow-run-as-root). */
#include "fashion_common.h"

int main(int argc, char **argv) {
  fashion_args args = fashion_parse(argc, argv);
  if (!fashion_dist_start(&args, &argc, &argv)) return 1;
  fashion f;
  if (!fashion_load(args.dir, true, &f)) return 1;
  tg_model *model = tg_sequential_new(TG_F32, 42);
  tg_model_add_dense(model, 784, 256, TG_ACT_RELU);
  tg_model_add_dense(model, 256, 128, TG_ACT_RELU);
  tg_model_add_dense(model, 128, 10, TG_ACT_NONE);
  int rc = fashion_train(model, &f, &args);
  tg_model_free(model);
  fashion_free(&f);
  tg_dist_finalize();
  return rc;
}
