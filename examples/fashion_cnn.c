/* Fashion-MNIST with a small CNN (the benchmark contract's F1 network):
 * conv 3x3 to 32, ReLU, max pool 2; conv 3x3 to 64, ReLU, max pool 2;
 * dense 1600-128 ReLU; dense 128-10. Adam lr 1e-3, batch 64.
 * Usage: fashion_cnn [--epochs N] [--batch N] [--distributed] [data dir] */
#include "fashion_common.h"

int main(int argc, char **argv) {
  fashion_args args = fashion_parse(argc, argv);
  if (!fashion_dist_start(&args, &argc, &argv)) return 1;
  fashion f;
  if (!fashion_load(args.dir, false, &f)) return 1;
  tg_model *model = tg_sequential_new(TG_F32, 42);
  tg_model_add_conv2d(model, 1, 32, 3, 0, TG_ACT_RELU);  /* 26x26 */
  tg_model_add_max_pool2d(model, 2);                     /* 13x13 */
  tg_model_add_conv2d(model, 32, 64, 3, 0, TG_ACT_RELU); /* 11x11 */
  tg_model_add_max_pool2d(model, 2);                     /* 5x5 */
  tg_model_add_flatten(model);                           /* 1600 */
  tg_model_add_dense(model, 1600, 128, TG_ACT_RELU);
  tg_model_add_dense(model, 128, 10, TG_ACT_NONE);
  int rc = fashion_train(model, &f, &args);
  tg_model_free(model);
  fashion_free(&f);
  tg_dist_finalize();
  return rc;
}
