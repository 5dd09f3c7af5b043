/* The tape as text: one line per node, and what backward keeps. */
#include <string.h>

#include "viz_internal.h"

static const char *op_name(const tg_node *n) { return n->op->name; }

/* "x [2x1] f64" */
static void operand(FILE *f, const viz_names *nm, const tg_tensor *t) {
  char label[96], shape[96];
  fprintf(f, "%s %s %s", viz_label(nm, t, label, sizeof label),
          tg_shape_str(t, shape, sizeof shape), tg_dtype_name(t->dtype));
}

/* Leaves are printed where they first appear, before the node using them. */
static void print_leaf(FILE *f, const viz_names *nm, const tg_tensor *t,
                       bool values) {
  char shape[96];
  fprintf(f, "%%%d = leaf", viz_name_of(nm, t));
  if (t->name) fprintf(f, " \"%s\"", t->name);
  fprintf(f, " %s %s%s%s", tg_shape_str(t, shape, sizeof shape),
          tg_dtype_name(t->dtype), t->requires_grad ? ", requires grad" : "",
          (t->flags & TG_FLAG_HEAP) ? ", parameter (heap)" : "");
  if (values && t->numel <= TG_VIZ_SMALL) {
    fputs("  = ", f);
    viz_print_values(f, t);
  }
  fputc('\n', f);
}

void tg_print_tape(FILE *f, const tg_tape *tp, bool values) {
  if (!f || !tp) return;
  viz_names nm;
  if (!viz_names_build(&nm, tp)) {
    fputs("tg_print_tape: out of memory\n", f);
    return;
  }
  int printed = -1; /* highest tensor number printed so far */
  for (const tg_node *n = tp->first; n; n = n->next) {
    for (int i = 0; i < n->n_inputs; i++) {
      const tg_tensor *x = n->inputs[i];
      int id = viz_name_of(&nm, x);
      if (!x->node && id > printed) {
        print_leaf(f, &nm, x, values);
        printed = id;
      }
    }
    char shape[96];
    fprintf(f, "%%%d = %s(", viz_name_of(&nm, n->out), op_name(n));
    for (int i = 0; i < n->n_inputs; i++) {
      if (i) fputs(", ", f);
      operand(f, &nm, n->inputs[i]);
    }
    fprintf(f, ") -> %s", tg_shape_str(n->out, shape, sizeof shape));
    if (n->out->name) fprintf(f, " \"%s\"", n->out->name);
    if (values && n->out->numel <= TG_VIZ_SMALL) {
      fputs("  = ", f);
      viz_print_values(f, n->out);
    }
    fputc('\n', f);
    printed = viz_name_of(&nm, n->out);
  }
  viz_names_free(&nm);
}

static size_t bytes_of(const tg_tensor *t) {
  return (size_t)t->numel * tg_dtype_size(t->dtype);
}

void tg_print_saved(FILE *f, const tg_tape *tp) {
  if (!f || !tp) return;
  viz_names nm;
  if (!viz_names_build(&nm, tp)) return;
  /* A tensor counts once however many rules read it. */
  bool *seen = tg__malloc(sizeof(bool) * (size_t)(nm.count + 1));
  if (!seen) {
    viz_names_free(&nm);
    return;
  }
  memset(seen, 0, sizeof(bool) * (size_t)(nm.count + 1));
  size_t saved_total = 0, live_total = 0;
  int nodes = 0;
  fprintf(f, "what backward keeps, node by node:\n");
  for (const tg_node *n = tp->first; n; n = n->next, nodes++) {
    char label[96];
    size_t node_bytes = 0;
    fprintf(f, "  %%%d %s: ", viz_name_of(&nm, n->out), op_name(n));
    int listed = 0;
    for (int i = 0; i <= n->n_inputs; i++) {
      bool is_out = i == n->n_inputs;
      unsigned bit = is_out ? TG_SAVES_OUTPUT : TG_SAVES_INPUT(i);
      if (!(n->op->saves & bit)) continue;
      const tg_tensor *t = is_out ? n->out : n->inputs[i];
      fprintf(f, "%s%s (%s, %zu bytes)", listed++ ? ", " : "",
              viz_label(&nm, t, label, sizeof label),
              is_out ? "its output" : "input", bytes_of(t));
      node_bytes += bytes_of(t);
      int id = viz_name_of(&nm, t);
      if (id >= 0 && !seen[id]) {
        seen[id] = true;
        saved_total += bytes_of(t);
      }
    }
    if (!listed) fputs("nothing (the rule needs only shapes)", f);
    fprintf(f, " = %zu bytes\n", node_bytes);
    live_total += bytes_of(n->out);
  }
  fprintf(f,
          "totals: %d nodes, %d tensors on the tape, %zu bytes saved for "
          "backward, %zu bytes of node outputs, %zu bytes of arena in use\n",
          nodes, nm.count, saved_total, live_total, tg_tape_bytes(tp));
  tg__free(seen);
  viz_names_free(&nm);
}
