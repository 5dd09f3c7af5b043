/* f(x) = x^3 * sin(x): its value, first and second derivative by the tape,
 * beside the closed forms. */
#include <math.h>
#include <stdio.h>

#include "tapegrad.h"

int main(void) {
  tg_tape *tp = tg_tape_new();
  if (!tp) return 1;
  for (double x0 = -2.0; x0 <= 2.0; x0 += 1.0) {
    tg_tensor *x = tg_set_requires_grad(tg_scalar(tp, TG_F64, x0), true);
    tg_tensor *y = tg_mul(tp, tg_pow_scalar(tp, x, 3), tg_sin(tp, x));
    tg_tensor *dy, *d2y;
    tg_grad(tp, 1, &y, NULL, 1, &x, &dy, true); /* dy is on the tape too */
    tg_grad(tp, 1, &dy, NULL, 1, &x, &d2y, false);
    if (tg_error(tp)) {
      fprintf(stderr, "error: %s\n", tg_errmsg(tp));
      return 1;
    }
    double s = sin(x0), c = cos(x0);
    printf("x=% .1f  f=% .6f  f'=% .6f (closed form % .6f)  f''=% .6f "
           "(closed form % .6f)\n",
           x0, tg_item(y), tg_item(dy), 3 * x0 * x0 * s + x0 * x0 * x0 * c,
           tg_item(d2y), 6 * x0 * s + 6 * x0 * x0 * c - x0 * x0 * x0 * s);
    tg_tape_reset(tp);
  }
  tg_tape_free(tp);
  return 0;
}
