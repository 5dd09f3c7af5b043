/* The tape as a Graphviz graph, in the manner of micrograd's drawing:
 * tensors as records (label, shape, data, grad), ops as ellipses. */
#include <string.h>

#include "viz_internal.h"

#define LEAF_COLOUR "#cfe8ff"  /* leaves that require a gradient */
#define SAVED_COLOUR "#ffd8a8" /* tensors a backward rule will read */

/* "[0.5000, 1.0000]" or "[2x3], norm 1.2" into the record, escaped. */
static void record_values(FILE *f, const tg_tensor *t) {
  if (!t) {
    fputs("-", f);
    return;
  }
  /* viz_print_values writes brackets and commas: safe inside records once
   * the brackets are escaped, so write them ourselves. */
  if (t->numel > TG_VIZ_SMALL) {
    char shape[96];
    fprintf(f, "%s", tg_shape_str(t, shape, sizeof shape));
    return;
  }
  fputs("\\[", f);
  for (int64_t i = 0; i < t->numel; i++)
    fprintf(f, "%s%.4f", i ? ", " : "", tg_get_flat(t, i));
  fputs("\\]", f);
}

/* Writes a user-given name inside a quoted label: quotes and backslashes
 * escaped for DOT, and in a record also the characters that structure it
 * ({ } | < >), so a name like "x<0" or "a|b" shows as written. */
static void escaped(FILE *f, const char *s, bool record) {
  for (; *s; s++) {
    if (*s == '"' || *s == '\\' || (record && strchr("{}|<>", *s)))
      fputc('\\', f);
    fputc(*s == '\n' || *s == '\r' ? ' ' : *s, f);
  }
}

static bool is_saved(const tg_tape *tp, const tg_tensor *t) {
  for (const tg_node *n = tp->first; n; n = n->next) {
    if ((n->op->saves & TG_SAVES_OUTPUT) && n->out == t) return true;
    for (int i = 0; i < n->n_inputs; i++)
      if ((n->op->saves & TG_SAVES_INPUT(i)) && n->inputs[i] == t) return true;
  }
  return false;
}

static void tensor_node(FILE *f, const tg_tape *tp, const viz_names *nm,
                        const tg_tensor *t) {
  char label[96], shape[96];
  int id = viz_name_of(nm, t);
  bool leaf = !t->node && t->requires_grad, saved = is_saved(tp, t);
  fprintf(f,
          "  t%d [shape=record, style=filled, fillcolor=\"%s\"%s, "
          "label=\"{ ",
          id,
          leaf    ? LEAF_COLOUR
          : saved ? SAVED_COLOUR
                  : "white",
          leaf && saved ? ", color=\"#e8590c\", penwidth=2" : "");
  escaped(f, viz_label(nm, t, label, sizeof label), true);
  fprintf(f, " | %s %s | data ", tg_shape_str(t, shape, sizeof shape),
          tg_dtype_name(t->dtype));
  record_values(f, t);
  fputs(" | grad ", f);
  if (t->grad)
    record_values(f, t->grad);
  else
    fputs("-", f);
  fputs(" }\"];\n", f);
}

tg_status tg_write_dot(FILE *f, const tg_tape *tp, const tg_tensor *y) {
  if (!f || !tp) return TG_ERR_NULL;
  viz_names nm;
  if (!viz_names_build(&nm, tp)) return TG_ERR_NOMEM;
  size_t n_nodes = tp->n_nodes ? tp->n_nodes : 1;
  bool *needed = tg__malloc(sizeof(bool) * n_nodes);
  bool *drawn = tg__malloc(sizeof(bool) * (size_t)(nm.count + 1));
  if (!needed || !drawn) {
    tg__free(needed);
    tg__free(drawn);
    viz_names_free(&nm);
    return TG_ERR_NOMEM;
  }
  /* The nodes y depends on: walk back from its node, in reverse order. */
  memset(needed, y ? 0 : 1, sizeof(bool) * n_nodes);
  memset(drawn, 0, sizeof(bool) * (size_t)(nm.count + 1));
  if (y && y->node) needed[y->node->index] = true;
  for (const tg_node *n = tp->last; n && y; n = n->prev)
    if (needed[n->index])
      for (int i = 0; i < n->n_inputs; i++)
        if (n->inputs[i]->node) needed[n->inputs[i]->node->index] = true;

  fputs("digraph tape {\n  rankdir=LR;\n  node [fontname=\"Helvetica\", "
        "fontsize=11];\n",
        f);
  for (const tg_node *n = tp->first; n; n = n->next) {
    if (!needed[n->index]) continue;
    for (int i = 0; i <= n->n_inputs; i++) {
      const tg_tensor *t = i < n->n_inputs ? n->inputs[i] : n->out;
      int id = viz_name_of(&nm, t);
      if (id >= 0 && !drawn[id]) {
        drawn[id] = true;
        tensor_node(f, tp, &nm, t);
      }
    }
    int out = viz_name_of(&nm, n->out);
    fprintf(f, "  op%d [label=\"", out);
    escaped(f, n->op->name, false);
    fputs("\", shape=ellipse];\n", f);
    for (int i = 0; i < n->n_inputs; i++)
      fprintf(f, "  t%d -> op%d;\n", viz_name_of(&nm, n->inputs[i]), out);
    fprintf(f, "  op%d -> t%d;\n", out, out);
  }
  fputs("  subgraph cluster_legend {\n    label=\"legend\"; fontsize=10;\n"
        "    l1 [shape=box, style=filled, fillcolor=\"" LEAF_COLOUR
        "\", label=\"leaf that requires a gradient\"];\n"
        "    l2 [shape=box, style=filled, fillcolor=\"" SAVED_COLOUR
        "\", label=\"saved for backward\"];\n  }\n}\n",
        f);
  tg__free(needed);
  tg__free(drawn);
  viz_names_free(&nm);
  return TG_OK;
}
