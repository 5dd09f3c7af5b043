/* micrograd's neuron: two inputs, two weights, a bias, tanh. Prints the
 * tape, the traced reverse sweep and every gradient, and writes the graph
 * as DOT (and as SVG/PNG when Graphviz's dot is installed).
 * Usage: scalar_neuron [output prefix] (default: neuron) */
#include <stdio.h>
#include <stdlib.h>

#include "render_graph.h"
#include "tapegrad.h"

static tg_tensor *scalar(tg_tape *tp, const char *name, double v) {
  return tg_set_name(tg_set_requires_grad(tg_scalar(tp, TG_F64, v), true),
                     name);
}

int main(int argc, char **argv) {
  const char *prefix = argc > 1 ? argv[1] : "neuron";
  tg_tape *tp = tg_tape_new();
  /* the numbers of micrograd's README example */
  tg_tensor *x1 = scalar(tp, "x1", 2.0), *x2 = scalar(tp, "x2", 0.0);
  tg_tensor *w1 = scalar(tp, "w1", -3.0), *w2 = scalar(tp, "w2", 1.0);
  tg_tensor *b = scalar(tp, "b", 6.8813735870195432);
  tg_tensor *x1w1 = tg_set_name(tg_mul(tp, x1, w1), "x1*w1");
  tg_tensor *x2w2 = tg_set_name(tg_mul(tp, x2, w2), "x2*w2");
  tg_tensor *sum = tg_set_name(tg_add(tp, x1w1, x2w2), "x1*w1 + x2*w2");
  tg_tensor *n = tg_set_name(tg_add(tp, sum, b), "n");
  tg_tensor *o = tg_set_name(tg_tanh(tp, n), "o");

  printf("the tape:\n");
  tg_print_tape(stdout, tp, true);
  printf("\n");
  tg_set_trace(tp, stdout);
  if (tg_backward(tp, o) != TG_OK) {
    fprintf(stderr, "%s\n", tg_errmsg(tp));
    return 1;
  }
  tg_set_trace(tp, NULL);
  printf("\ngradients: x1 %.4f, w1 %.4f, x2 %.4f, w2 %.4f, b %.4f\n",
         tg_item(tg_grad_of(x1)), tg_item(tg_grad_of(w1)),
         tg_item(tg_grad_of(x2)), tg_item(tg_grad_of(w2)),
         tg_item(tg_grad_of(b)));

  if (!render_graph(tp, o, prefix)) return 1;
  tg_tape_free(tp);
  return 0;
}
