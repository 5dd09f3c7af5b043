/* Activations as compositions of primitive ops: no kernel and no backward
 * rule of their own, so every order of derivative comes from the tape.
 *
 * A where() sends a zero gradient into the branch it discards, but zero
 * times an infinite local derivative is still NaN. So no branch ever takes
 * exp of a large positive number: the argument of every exp below is <= 0
 * wherever its result may be discarded. */
#include "../core/internal.h"
#include "tapegrad/nn.h"

/* A 0-d constant of x's dtype. */
static tg_tensor *constant(tg_tape *tp, const tg_tensor *x, double v) {
  return tg_scalar(tp, x->dtype, v);
}

/* where(x > 0, x, slope x); the gradient at 0 is slope (as PyTorch). */
tg_tensor *tg_leaky_relu(tg_tape *tp, tg_tensor *x, double slope) {
  if (!tg__inputs_ok(tp, "tg_leaky_relu", 1, &x)) return NULL;
  tg_tensor *pos = tg_gt(tp, x, constant(tp, x, 0.0));
  return tg_where(tp, pos, x, tg_mul_scalar(tp, x, slope));
}

/* where(x > 0, x, alpha (e^min(x, 0) - 1)). The clamp is a where, not
 * tg_minimum, so that at x = 0 the whole gradient reaches the exp branch:
 * the derivative at 0 is alpha (as PyTorch), not alpha / 2. */
tg_tensor *tg_elu(tg_tape *tp, tg_tensor *x, double alpha) {
  if (!tg__inputs_ok(tp, "tg_elu", 1, &x)) return NULL;
  tg_tensor *zero = constant(tp, x, 0.0);
  tg_tensor *pos = tg_gt(tp, x, zero);
  tg_tensor *nonpos = tg_where(tp, pos, zero, x); /* min(x, 0) */
  tg_tensor *em1 = tg_add_scalar(tp, tg_exp(tp, nonpos), -1.0);
  return tg_where(tp, pos, x, tg_mul_scalar(tp, em1, alpha));
}

/* x/2 (1 + tanh(u)) with u = sqrt(2/pi) (x + 0.044715 x^3), evaluated as
 * the identical x sigmoid(2u): (1 + tanh u)/2 = sigmoid(2u). The sigmoid
 * form avoids the cancellation in 1 + tanh(u) for negative x, and in both
 * tails sigmoid saturates to exactly 0 or 1 with a finite gradient. */
tg_tensor *tg_gelu(tg_tape *tp, tg_tensor *x) {
  if (!tg__inputs_ok(tp, "tg_gelu", 1, &x)) return NULL;
  const double two_c = 2.0 * 0.79788456080286535588; /* 2 sqrt(2/pi) */
  tg_tensor *x2 = tg_mul(tp, x, x);
  tg_tensor *inner =
      tg_mul(tp, x, tg_add_scalar(tp, tg_mul_scalar(tp, x2, 0.044715), 1.0));
  tg_tensor *s = tg_sigmoid(tp, tg_mul_scalar(tp, inner, two_c));
  return tg_mul(tp, x, s);
}

/* max(x, 0) + log(1 + e^-|x|). Both pieces are written so that the
 * derivative is right at x = 0 too (where relu and abs alone would each
 * give 0): -|x| is where(x > 0, -x, x), whose slope at 0 is 1, so the
 * derivative there is sigmoid(0) = 1/2 and the second derivative 1/4. The
 * exp argument is never positive. */
tg_tensor *tg_softplus(tg_tape *tp, tg_tensor *x) {
  if (!tg__inputs_ok(tp, "tg_softplus", 1, &x)) return NULL;
  tg_tensor *pos = tg_gt(tp, x, constant(tp, x, 0.0));
  tg_tensor *negabs = tg_where(tp, pos, tg_neg(tp, x), x);
  tg_tensor *tail = tg_log(tp, tg_add_scalar(tp, tg_exp(tp, negabs), 1.0));
  return tg_add(tp, tg_relu(tp, x), tail);
}
