/* Fashion-MNIST with a multilayer perceptron 784-256-128-10 (ReLU), Adam
 * lr 1e-3, batch 64. Usage: fashion_mlp [--epochs N] [data directory] */
#include "fashion_common.h"

int main(int argc, char **argv) {
  fashion_args args = fashion_parse(argc, argv);
  fashion f;
  if (!fashion_load(args.dir, true, &f)) return 1;
  tg_model *model = tg_sequential_new(TG_F32, 42);
  tg_model_add_dense(model, 784, 256, TG_ACT_RELU);
  tg_model_add_dense(model, 256, 128, TG_ACT_RELU);
  tg_model_add_dense(model, 128, 10, TG_ACT_NONE);
  int rc = fashion_train(model, &f, args.epochs);
  tg_model_free(model);
  fashion_free(&f);
  return rc;
}
