/* The Keras tutorial, line for line:
 *
 *   X = np.random.rand(100, 1); y = 3 * X + np.random.rand(100, 1)
 *   model = Sequential(); model.add(Dense(1, input_dim=1))
 *   model.compile(loss='mean_squared_error', optimizer='adam',
 *                 metrics=['accuracy'])
 *   model.fit(X, y, epochs=1000, verbose=0)
 *   preds = model.predict(X)
 *
 * then the closed-form least-squares line for comparison, and a second run
 * with a learning rate that gets there. */
#include <math.h>
#include <stdio.h>

#include "tapegrad.h"

enum { N = 100 };

/* Least squares for y = w x + b. */
static void least_squares(const float *x, const float *y, double *w,
                          double *b) {
  double mx = 0, my = 0, sxy = 0, sxx = 0;
  for (int i = 0; i < N; i++) {
    mx += x[i] / N;
    my += y[i] / N;
  }
  for (int i = 0; i < N; i++) {
    sxy += (x[i] - mx) * (y[i] - my);
    sxx += (x[i] - mx) * (x[i] - mx);
  }
  *w = sxy / sxx;
  *b = my - *w * mx;
}

/* Trains Dense(1) on (x, y) with Adam at the given learning rate; returns
 * the model (caller frees) after printing nothing. */
static tg_model *train(tg_tensor *x, tg_tensor *y, double lr, int64_t batch) {
  tg_model *model = tg_sequential_new(TG_F32, 1);
  tg_model_add_dense(model, 1, 1, TG_ACT_NONE); /* Glorot-uniform, zero bias */
  /* Keras's Adam: lr, beta1 0.9, beta2 0.999, epsilon 1e-7 */
  tg_adam_opts adam = {lr, 0.9, 0.999, 1e-7, 0};
  tg_model_compile(model, TG_LOSS_MSE,
                   tg_adam_new(tg_model_params(model), &adam),
                   TG_METRIC_ACCURACY);
  tg_history *h = tg_model_fit(
      model, x, y, &(tg_fit_opts){.epochs = 1000, .batch_size = batch});
  if (!h) fprintf(stderr, "fit failed: %s\n", tg_model_errmsg(model));
  tg_history_free(h);
  return model;
}

static void weights(tg_model *model, double *w, double *b) {
  *w = tg_item(tg_params_find(tg_model_params(model), "0.weight"));
  *b = tg_item(tg_params_find(tg_model_params(model), "0.bias"));
}

int main(void) {
  /* X = rand(100, 1); y = 3 X + rand(100, 1), from a seeded generator */
  tg_rng rng;
  tg_rng_seed(&rng, 2024);
  float xs[N], ys[N];
  for (int i = 0; i < N; i++) {
    xs[i] = (float)tg_rng_uniform(&rng);
    ys[i] = 3 * xs[i] + (float)tg_rng_uniform(&rng);
  }
  int64_t shape[2] = {N, 1};
  tg_tensor *x = tg_tensor_new(NULL, TG_F32, 2, shape);
  tg_tensor *y = tg_tensor_new(NULL, TG_F32, 2, shape);
  tg_copy_in(x, xs);
  tg_copy_in(y, ys);
  double ls_w, ls_b;
  least_squares(xs, ys, &ls_w, &ls_b);

  tg_model *model = train(x, y, 1e-3, 32);
  tg_tensor *preds = tg_model_predict(model, x, 0);
  double w, b, mse;
  weights(model, &w, &b);
  tg_model_evaluate(model, x, y, 0, &mse, NULL, NULL);
  printf("tutorial run (Adam lr 0.001, 1000 epochs of batch 32): w=%.4f "
         "b=%.4f mse=%.4f, first prediction %.4f\n",
         w, b, mse, tg_get_flat(preds, 0));
  printf("least squares:                                       w=%.4f "
         "b=%.4f\n",
         ls_w, ls_b);
  printf("They differ because 4,000 Adam steps of about 0.001 each cannot "
         "carry w from near 0 to 3.\n");
  tg_tensor_free(preds);
  tg_model_free(model);

  model = train(x, y, 0.05, N);
  weights(model, &w, &b);
  tg_model_evaluate(model, x, y, 0, &mse, NULL, NULL);
  printf("with Adam lr 0.05 on the whole batch: mse=%.4f\n", mse);
  printf("w=%.4f b=%.4f least_squares_w=%.4f least_squares_b=%.4f\n", w, b,
         ls_w, ls_b);
  tg_model_free(model);
  tg_tensor_free(x);
  tg_tensor_free(y);
  return fabs(w - ls_w) < 0.01 && fabs(b - ls_b) < 0.01 ? 0 : 1;
}
