/* XOR with a 2-layer MLP: the classic problem no linear model can solve. */
#include <math.h>
#include <stdio.h>

#include "tapegrad.h"

int main(void) {
  float xs[8] = {0, 0, 0, 1, 1, 0, 1, 1}, ys[4] = {0, 1, 1, 0};
  int64_t sx[2] = {4, 2}, sy[2] = {4, 1};
  tg_tensor *x = tg_tensor_new(NULL, TG_F32, 2, sx);
  tg_tensor *y = tg_tensor_new(NULL, TG_F32, 2, sy);
  tg_copy_in(x, xs);
  tg_copy_in(y, ys);

  tg_model *model = tg_sequential_new(TG_F32, 3);
  tg_model_add_dense(model, 2, 8, TG_ACT_TANH);
  tg_model_add_dense(model, 8, 1, TG_ACT_NONE); /* a logit */
  tg_adam_opts adam = {0.05, 0, 0, 0, 0};
  tg_model_compile(model, TG_LOSS_BCE_LOGITS,
                   tg_adam_new(tg_model_params(model), &adam),
                   TG_METRIC_ACCURACY);
  tg_history *h =
      tg_model_fit(model, x, y, &(tg_fit_opts){.epochs = 500, .batch_size = 4});
  if (!h) {
    fprintf(stderr, "fit failed: %s\n", tg_model_errmsg(model));
    return 1;
  }
  printf("after %d epochs: loss %.4f, accuracy %.2f\n", h->epochs,
         h->loss[h->epochs - 1], h->accuracy[h->epochs - 1]);
  tg_tensor *logits = tg_model_predict(model, x, 0);
  for (int i = 0; i < 4; i++) {
    double logit = tg_get_flat(logits, i);
    printf("%g xor %g -> %.3f (want %g)\n", xs[2 * i], xs[2 * i + 1],
           1 / (1 + exp(-logit)), ys[i]);
  }
  int ok = h->accuracy[h->epochs - 1] == 1.0;
  tg_history_free(h);
  tg_tensor_free(logits);
  tg_tensor_free(x);
  tg_tensor_free(y);
  tg_model_free(model);
  return ok ? 0 : 1;
}
