/* The traced reverse sweep: what each node receives, its rule, and what it
 * sends to its inputs, with += where a gradient adds to one already there. */
#include "viz_internal.h"

typedef struct trace_state {
  viz_names names;
} trace_state;

static void trace(tg_tape *tp, int event, const tg_node *n, const tg_tensor *g,
                  tg_tensor *const *gin, const bool *accumulates) {
  FILE *f = tp->trace;
  trace_state *st = tp->trace_state;
  if (event == 0) {
    if (st) viz_names_free(&st->names);
    tg__free(st);
    st = tp->trace_state = tg__malloc(sizeof *st);
    if (!st || !viz_names_build(&st->names, tp)) {
      tg__free(st);
      tp->trace_state = NULL;
      return;
    }
    fprintf(f, "reverse sweep, from the last node to the first:\n");
    return;
  }
  if (!st) return;
  if (event == 2) {
    fprintf(f, "end of the sweep\n");
    viz_names_free(&st->names);
    tg__free(st);
    tp->trace_state = NULL;
    return;
  }
  char out[96], label[96];
  viz_label(&st->names, n->out, out, sizeof out);
  fprintf(f, "%s = %s(", out, n->op->name);
  for (int i = 0; i < n->n_inputs; i++)
    fprintf(f, "%s%s", i ? ", " : "",
            viz_label(&st->names, n->inputs[i], label, sizeof label));
  fprintf(f, ")\n  incoming gradient dL/d%s = ", out);
  viz_print_values(f, g);
  fprintf(f, "\n  rule: %s\n", n->op->rule ? n->op->rule : "(not described)");
  for (int i = 0; i < n->n_inputs; i++) {
    viz_label(&st->names, n->inputs[i], label, sizeof label);
    if (!gin[i] || !n->inputs[i]->requires_grad) {
      fprintf(f, "  to %s: nothing (needs no gradient)\n", label);
      continue;
    }
    /* The sweep says which inputs had a gradient before this node; an
     * input that appears twice here (x*x) also adds to its own first
     * share. */
    bool adds = i < 8 && accumulates[i];
    for (int j = 0; j < i && !adds; j++)
      adds = n->inputs[j] == n->inputs[i] && gin[j];
    fprintf(f, "  to %s %s ", label, adds ? "+=" : "=");
    viz_print_values(f, gin[i]);
    if (!tg__same_shape(gin[i], n->inputs[i]))
      fputs("  (summed over broadcast axes on arrival)", f);
    if (adds) fputs("  (adds to the gradient it already had)", f);
    fputc('\n', f);
  }
}

void tg_set_trace(tg_tape *tp, FILE *f) {
  if (!tp) return;
  tp->trace = f;
  tp->trace_fn = f ? trace : NULL;
}
