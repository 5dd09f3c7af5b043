/* A two-layer tanh network learns to tell the inside of a circle from the
 * outside, with plain SGD. Shows the shape of every training loop on a tape:
 * parameters on the heap, a forward pass of ops, tg_backward, an update,
 * tg_tape_reset. */
#include <stdio.h>

#include "tapegrad.h"

enum { N = 256, HIDDEN = 16, STEPS = 2000 };

/* Points in [-1, 1]^2, labelled 1 inside the circle of radius 0.6. */
static void make_data(tg_rng *rng, float *x, float *y) {
  for (int i = 0; i < N; i++) {
    float a = (float)(2 * tg_rng_uniform(rng) - 1);
    float b = (float)(2 * tg_rng_uniform(rng) - 1);
    x[2 * i] = a;
    x[2 * i + 1] = b;
    y[i] = a * a + b * b < 0.36f ? 1.0f : 0.0f;
  }
}

static void sgd_step(tg_tensor *p, float lr) {
  float *w = p->data;
  const float *g = tg_grad_of(p)->data;
  for (int64_t i = 0; i < p->numel; i++)
    w[i] -= lr * g[i];
  tg_zero_grad(p);
}

int main(void) {
  tg_tape *tp = tg_tape_new();
  if (!tp) return 1;
  tg_tape_seed(tp, 7);
  float xs[2 * N], ys[N];
  make_data(tg_tape_rng(tp), xs, ys);

  int64_t s1[2] = {2, HIDDEN}, sb1[1] = {HIDDEN}, s2[2] = {HIDDEN, 1},
          sb2[1] = {1}, sx[2] = {N, 2}, sy[2] = {N, 1};
  tg_tensor *params[4] = {
      tg_tensor_new(tp, TG_F32, 2, s1), tg_tensor_new(tp, TG_F32, 1, sb1),
      tg_tensor_new(tp, TG_F32, 2, s2), tg_tensor_new(tp, TG_F32, 1, sb2)};
  tg_fill_normal(params[0], tg_tape_rng(tp), 0, 1.0);
  tg_fill_normal(params[2], tg_tape_rng(tp), 0, 0.5);
  for (int i = 0; i < 4; i++)
    tg_set_requires_grad(params[i], true);

  for (int step = 0; step <= STEPS; step++) {
    tg_tensor *x = tg_wrap_buffer(tp, TG_F32, 2, sx, xs);
    tg_tensor *y = tg_wrap_buffer(tp, TG_F32, 2, sy, ys);
    tg_tensor *h =
        tg_tanh(tp, tg_add(tp, tg_matmul(tp, x, params[0]), params[1]));
    tg_tensor *p =
        tg_sigmoid(tp, tg_add(tp, tg_matmul(tp, h, params[2]), params[3]));
    /* binary cross-entropy: -mean(y log p + (1 - y) log(1 - p)) */
    tg_tensor *one_minus_p = tg_add_scalar(tp, tg_neg(tp, p), 1);
    tg_tensor *one_minus_y = tg_add_scalar(tp, tg_neg(tp, y), 1);
    tg_tensor *ll = tg_add(tp, tg_mul(tp, y, tg_log(tp, p)),
                           tg_mul(tp, one_minus_y, tg_log(tp, one_minus_p)));
    tg_tensor *loss = tg_neg(tp, tg_mean_all(tp, ll));
    if (tg_backward(tp, loss) != TG_OK) {
      fprintf(stderr, "error: %s\n", tg_errmsg(tp));
      return 1;
    }
    if (step % 400 == 0) {
      int correct = 0;
      for (int i = 0; i < N; i++)
        correct += (tg_get_flat(p, i) > 0.5) == (ys[i] > 0.5f);
      printf("step %4d  loss %.4f  accuracy %.3f\n", step, tg_item(loss),
             (double)correct / N);
    }
    for (int i = 0; i < 4; i++)
      sgd_step(params[i], 0.5f);
    tg_tape_reset(tp);
  }
  for (int i = 0; i < 4; i++)
    tg_tensor_free(params[i]);
  tg_tape_free(tp);
  return 0;
}
