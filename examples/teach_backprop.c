/* Backpropagation step by step on a 2-2-1 network built by hand.
 *
 *   z1 = W1 x + b1     a1 = tanh(z1)        (hidden layer, 2 units)
 *   z2 = W2 a1 + b2    a2 = sigmoid(z2)     (output, 1 unit)
 *   loss = (a2 - y)^2 / 2
 *
 * Part 1 prints the forward pass formula by formula, the tape, the traced
 * reverse sweep, the gradients and what backward keeps; then it computes
 * the same gradients by hand in plain C (the classic exercise) and compares
 * them with the engine's. It writes the graph as DOT (and SVG/PNG when
 * Graphviz's dot is installed).
 *
 * Part 2 runs the same network on a batch of three examples with a weight
 * penalty, to show the two places where backpropagation adds gradients up:
 * a bias broadcast over the batch, and a weight used twice.
 *
 * Usage: teach_backprop [output prefix] (default: teach_backprop)
 * The companion text is docs/tutorial.md. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "render_graph.h"
#include "tapegrad.h"

/* The fixed numbers of the exercise: x [2x1], W1 [2x2], b1 [2x1],
 * W2 [1x2], b2 [1x1] and the target y. */
static const double X[2] = {0.5, -1.0};
static const double W1[2][2] = {{0.2, -0.4}, {0.7, 0.1}};
static const double B1[2] = {0.1, 0.3};
static const double W2[2] = {0.6, -0.3};
static const double B2 = 0.05;
static const double Y = 1.0;

/* Part 2: three examples as the columns of X3 [2x3], targets [1x3]. */
static const double X3[2][3] = {{0.5, -0.3, 0.8}, {-1.0, 0.2, 0.4}};
static const double Y3[3] = {1.0, 0.0, 1.0};
static const double LAMBDA = 0.1; /* weight penalty (lambda/2) sum W2^2 */

/* A named f64 leaf on the tape. */
static tg_tensor *leaf(tg_tape *tp, const char *name, int64_t rows,
                       int64_t cols, const double *values, bool trainable) {
  tg_tensor *t = tg_from_f64(tp, TG_F64, 2, (int64_t[]){rows, cols}, values);
  return tg_set_name(tg_set_requires_grad(t, trainable), name);
}

static tg_tensor *named(tg_tensor *t, const char *name) {
  return tg_set_name(t, name);
}

static void print_values(const char *label, const tg_tensor *t) {
  printf("%s[", label);
  for (int64_t i = 0; i < t->numel; i++)
    printf("%s%.4f", i ? ", " : "", tg_get_flat(t, i));
  printf("]\n");
}

static bool failed(tg_tape *tp, const char *what) {
  if (tg_error(tp) == TG_OK) return false;
  fprintf(stderr, "%s: %s\n", what, tg_errmsg(tp));
  return true;
}

/* --- part 1: one example ---------------------------------------------------
 */

static void print_forward(const tg_tensor *z1, const tg_tensor *a1,
                          const tg_tensor *z2, const tg_tensor *a2,
                          const tg_tensor *loss) {
  printf("== forward pass, formula by formula\n\n");
  printf("x  = [%.2f, %.2f]    W1 = [[%.2f, %.2f], [%.2f, %.2f]]    "
         "b1 = [%.2f, %.2f]\n",
         X[0], X[1], W1[0][0], W1[0][1], W1[1][0], W1[1][1], B1[0], B1[1]);
  printf("W2 = [[%.2f, %.2f]]    b2 = [%.2f]    target y = %.2f\n\n", W2[0],
         W2[1], B2, Y);
  printf("z1 = W1 x + b1\n");
  for (int i = 0; i < 2; i++)
    printf("   z1[%d] = (%.2f)(%.2f) + (%.2f)(%.2f) + %.2f = %.4f\n", i,
           W1[i][0], X[0], W1[i][1], X[1], B1[i], tg_get_flat(z1, i));
  printf("a1 = tanh(z1)\n");
  for (int i = 0; i < 2; i++)
    printf("   a1[%d] = tanh(%.4f) = %.4f\n", i, tg_get_flat(z1, i),
           tg_get_flat(a1, i));
  printf("z2 = W2 a1 + b2\n");
  printf("      = (%.2f)(%.4f) + (%.2f)(%.4f) + %.2f = %.4f\n", W2[0],
         tg_get_flat(a1, 0), W2[1], tg_get_flat(a1, 1), B2, tg_item(z2));
  printf("a2 = sigmoid(z2) = 1 / (1 + e^-%.4f) = %.4f\n", tg_item(z2),
         tg_item(a2));
  printf("loss = (a2 - y)^2 / 2 = (%.4f - %.2f)^2 / 2 = %.4f\n\n", tg_item(a2),
         Y, tg_item(loss));
}

/* The same gradients without tapegrad: the chain rule, one layer at a time,
 * from the output back to the input. */
typedef struct by_hand {
  double dW1[4], db1[2], dW2[2], db2[1];
} by_hand;

static by_hand backprop_by_hand(void) {
  by_hand h;
  /* forward again, in plain C */
  double z1[2], a1[2];
  for (int i = 0; i < 2; i++) {
    z1[i] = W1[i][0] * X[0] + W1[i][1] * X[1] + B1[i];
    a1[i] = tanh(z1[i]);
  }
  double z2 = W2[0] * a1[0] + W2[1] * a1[1] + B2;
  double a2 = 1.0 / (1.0 + exp(-z2));

  /* output layer: dL/da2 = a2 - y, sigmoid' = a2 (1 - a2) */
  double delta2 = (a2 - Y) * a2 * (1.0 - a2); /* dL/dz2 */
  for (int j = 0; j < 2; j++)
    h.dW2[j] = delta2 * a1[j]; /* dW2 = delta2 a1^T */
  h.db2[0] = delta2;           /* db2 = delta2      */

  /* hidden layer: back through W2, then tanh' = 1 - a1^2 */
  double delta1[2]; /* dL/dz1 = (W2^T delta2) * (1 - a1^2) */
  for (int i = 0; i < 2; i++)
    delta1[i] = W2[i] * delta2 * (1.0 - a1[i] * a1[i]);
  for (int i = 0; i < 2; i++) {
    for (int j = 0; j < 2; j++)
      h.dW1[2 * i + j] = delta1[i] * X[j]; /* dW1 = delta1 x^T */
    h.db1[i] = delta1[i];                  /* db1 = delta1      */
  }

  printf("== the same gradients by hand (plain C, the chain rule)\n\n");
  printf("delta2 = dL/dz2 = (a2 - y) a2 (1 - a2) = (%.4f)(%.4f)(%.4f) = "
         "%.6f\n",
         a2 - Y, a2, 1.0 - a2, delta2);
  printf("dL/dW2 = delta2 a1^T = [[%.6f, %.6f]]\n", h.dW2[0], h.dW2[1]);
  printf("dL/db2 = delta2      = [%.6f]\n", h.db2[0]);
  printf("delta1 = dL/dz1 = (W2^T delta2) * (1 - a1^2)\n");
  for (int i = 0; i < 2; i++)
    printf("   delta1[%d] = (%.2f)(%.6f)(1 - %.4f^2) = %.6f\n", i, W2[i],
           delta2, a1[i], delta1[i]);
  printf("dL/dW1 = delta1 x^T  = [[%.6f, %.6f], [%.6f, %.6f]]\n", h.dW1[0],
         h.dW1[1], h.dW1[2], h.dW1[3]);
  printf("dL/db1 = delta1      = [%.6f, %.6f]\n\n", h.db1[0], h.db1[1]);
  return h;
}

static int part1(const char *prefix) {
  tg_tape *tp = tg_tape_new();
  if (!tp) return 1;
  /* Data (x, y) needs no gradient; the parameters do. */
  tg_tensor *x = leaf(tp, "x", 2, 1, X, false);
  tg_tensor *w1 = leaf(tp, "W1", 2, 2, &W1[0][0], true);
  tg_tensor *b1 = leaf(tp, "b1", 2, 1, B1, true);
  tg_tensor *w2 = leaf(tp, "W2", 1, 2, W2, true);
  tg_tensor *b2 = leaf(tp, "b2", 1, 1, &B2, true);
  tg_tensor *y = leaf(tp, "y", 1, 1, &Y, false);

  tg_tensor *w1x = named(tg_matmul(tp, w1, x), "W1x");
  tg_tensor *z1 = named(tg_add(tp, w1x, b1), "z1");
  tg_tensor *a1 = named(tg_tanh(tp, z1), "a1");
  tg_tensor *w2a1 = named(tg_matmul(tp, w2, a1), "W2a1");
  tg_tensor *z2 = named(tg_add(tp, w2a1, b2), "z2");
  tg_tensor *a2 = named(tg_sigmoid(tp, z2), "a2");
  tg_tensor *e = named(tg_sub(tp, a2, y), "e");
  tg_tensor *e2 = named(tg_pow_scalar(tp, e, 2.0), "e2");
  tg_tensor *loss = named(tg_mul_scalar(tp, e2, 0.5), "loss");
  if (failed(tp, "forward")) return 1;

  print_forward(z1, a1, z2, a2, loss);

  printf("== the tape (recording order; %%k numbers the tensors)\n\n");
  tg_print_tape(stdout, tp, true);
  printf("\n== the reverse sweep, traced\n\n");
  tg_set_trace(tp, stdout);
  tg_status st = tg_backward(tp, loss);
  tg_set_trace(tp, NULL);
  if (st != TG_OK) {
    fprintf(stderr, "backward: %s\n", tg_errmsg(tp));
    return 1;
  }

  printf("\n== the gradients tg_backward left in the leaves\n\n");
  print_values("dL/dW1 = ", tg_grad_of(w1));
  print_values("dL/db1 = ", tg_grad_of(b1));
  print_values("dL/dW2 = ", tg_grad_of(w2));
  print_values("dL/db2 = ", tg_grad_of(b2));
  printf("x and y need no gradient: tg_grad_of(x) is %s\n\n",
         tg_grad_of(x) ? "set" : "NULL");

  printf("== what backward keeps\n\n");
  tg_print_saved(stdout, tp);
  printf("\n");

  by_hand h = backprop_by_hand();
  printf("== yours against the engine's (tg_compare_grad)\n\n");
  bool ok = true;
  ok &= tg_compare_grad(stdout, "dL/dW2", w2, 2, (int64_t[]){1, 2}, h.dW2);
  ok &= tg_compare_grad(stdout, "dL/db2", b2, 2, (int64_t[]){1, 1}, h.db2);
  ok &= tg_compare_grad(stdout, "dL/dW1", w1, 2, (int64_t[]){2, 2}, h.dW1);
  ok &= tg_compare_grad(stdout, "dL/db1", b1, 2, (int64_t[]){2, 1}, h.db1);
  printf("%s\n\n", ok ? "all four agree" : "SOME GRADIENTS DISAGREE");

  if (!render_graph(tp, loss, prefix)) ok = false;
  tg_tape_free(tp);
  return ok ? 0 : 1;
}

/* --- part 2: a batch, and a weight used twice ------------------------------
 */

static int part2(void) {
  printf("\n== part 2: a batch of three examples and a weight penalty\n\n");
  printf("X = [[%.1f, %.1f, %.1f], [%.1f, %.1f, %.1f]] (one example per "
         "column), targets [%.0f, %.0f, %.0f]\n",
         X3[0][0], X3[0][1], X3[0][2], X3[1][0], X3[1][1], X3[1][2], Y3[0],
         Y3[1], Y3[2]);
  printf("loss = mean over the batch of (a2 - y)^2 / 2  +  (%.1f / 2) "
         "sum(W2^2)\n\n",
         LAMBDA);
  tg_tape *tp = tg_tape_new();
  if (!tp) return 1;
  tg_tensor *x = leaf(tp, "X", 2, 3, &X3[0][0], false);
  tg_tensor *w1 = leaf(tp, "W1", 2, 2, &W1[0][0], true);
  tg_tensor *b1 = leaf(tp, "b1", 2, 1, B1, true);
  tg_tensor *w2 = leaf(tp, "W2", 1, 2, W2, true);
  tg_tensor *b2 = leaf(tp, "b2", 1, 1, &B2, true);
  tg_tensor *y = leaf(tp, "Y", 1, 3, Y3, false);

  /* b1 [2x1] is broadcast over the three columns of W1 X [2x3]. */
  tg_tensor *z1 =
      named(tg_add(tp, named(tg_matmul(tp, w1, x), "W1X"), b1), "Z1");
  tg_tensor *a1 = named(tg_tanh(tp, z1), "A1");
  tg_tensor *z2 =
      named(tg_add(tp, named(tg_matmul(tp, w2, a1), "W2A1"), b2), "Z2");
  tg_tensor *a2 = named(tg_sigmoid(tp, z2), "A2");
  tg_tensor *e = named(tg_sub(tp, a2, y), "E");
  tg_tensor *e2 = named(tg_pow_scalar(tp, e, 2.0), "E2");
  tg_tensor *avg = named(tg_mean_all(tp, e2), "meanE2");
  tg_tensor *data = named(tg_mul_scalar(tp, avg, 0.5), "data");
  /* W2 is used a second time here. */
  tg_tensor *sq = named(tg_pow_scalar(tp, w2, 2.0), "W2sq");
  tg_tensor *ssq = named(tg_sum_all(tp, sq), "sumW2sq");
  tg_tensor *pen = named(tg_mul_scalar(tp, ssq, LAMBDA / 2), "penalty");
  tg_tensor *loss = named(tg_add(tp, data, pen), "loss");
  if (failed(tp, "forward")) return 1;
  printf("data term %.6f, penalty %.6f, loss %.6f\n\n", tg_item(data),
         tg_item(pen), tg_item(loss));

  tg_set_trace(tp, stdout);
  tg_status st = tg_backward(tp, loss);
  tg_set_trace(tp, NULL);
  if (st != TG_OK) {
    fprintf(stderr, "backward: %s\n", tg_errmsg(tp));
    return 1;
  }

  /* By hand: the per-example deltas are columns; a broadcast parameter
   * adds its columns up, and W2 adds its two uses up. */
  double d2[3], d1[2][3], a1h[2][3];
  for (int n = 0; n < 3; n++) {
    for (int i = 0; i < 2; i++)
      a1h[i][n] = tanh(W1[i][0] * X3[0][n] + W1[i][1] * X3[1][n] + B1[i]);
    double a2h =
        1.0 / (1.0 + exp(-(W2[0] * a1h[0][n] + W2[1] * a1h[1][n] + B2)));
    d2[n] = (a2h - Y3[n]) * a2h * (1.0 - a2h) / 3.0; /* mean: 1/3 each */
    for (int i = 0; i < 2; i++)
      d1[i][n] = W2[i] * d2[n] * (1.0 - a1h[i][n] * a1h[i][n]);
  }
  double dW2[2], db2[1] = {0}, dW1[4] = {0}, db1[2] = {0};
  for (int j = 0; j < 2; j++) {
    dW2[j] = LAMBDA * W2[j]; /* from the penalty */
    for (int n = 0; n < 3; n++)
      dW2[j] += d2[n] * a1h[j][n]; /* += from the network */
  }
  for (int n = 0; n < 3; n++) {
    db2[0] += d2[n]; /* b2 was broadcast over the batch: sum */
    for (int i = 0; i < 2; i++) {
      db1[i] += d1[i][n]; /* likewise b1 */
      for (int j = 0; j < 2; j++)
        dW1[2 * i + j] += d1[i][n] * X3[j][n];
    }
  }
  printf("\nby hand: db1 = row sums of delta1 = [%.6f, %.6f], dW2 = "
         "delta2 A1^T + lambda W2 = [[%.6f, %.6f]]\n\n",
         db1[0], db1[1], dW2[0], dW2[1]);
  bool ok = true;
  ok &= tg_compare_grad(stdout, "dL/dW2", w2, 2, (int64_t[]){1, 2}, dW2);
  ok &= tg_compare_grad(stdout, "dL/db2", b2, 2, (int64_t[]){1, 1}, db2);
  ok &= tg_compare_grad(stdout, "dL/dW1", w1, 2, (int64_t[]){2, 2}, dW1);
  ok &= tg_compare_grad(stdout, "dL/db1", b1, 2, (int64_t[]){2, 1}, db1);
  printf("%s\n", ok ? "all four agree" : "SOME GRADIENTS DISAGREE");
  tg_tape_free(tp);
  return ok ? 0 : 1;
}

int main(int argc, char **argv) {
  const char *prefix = argc > 1 ? argv[1] : "teach_backprop";
  int rc = part1(prefix);
  if (rc == 0) rc = part2();
  return rc;
}
