/* Printing gradcheck reports for people. */
#include <stdio.h>

#include "check_internal.h"

/* "[1,2]" for flat index i of a tensor of the given shape. */
static void index_str(int ndim, const int64_t *shape, int64_t i, char *buf,
                      size_t size) {
  int64_t idx[TG_MAX_DIMS];
  for (int d = ndim - 1; d >= 0; d--) {
    idx[d] = shape[d] ? i % shape[d] : 0;
    i = shape[d] ? i / shape[d] : 0;
  }
  size_t pos = (size_t)snprintf(buf, size, "[");
  for (int d = 0; d < ndim && pos < size; d++)
    pos += (size_t)snprintf(buf + pos, size - pos, d ? ",%lld" : "%lld",
                            (long long)idx[d]);
  if (pos < size) snprintf(buf + pos, size - pos, "]");
}

void tg_gradcheck_fprint(FILE *f, const tg_gradcheck_report *r) {
  if (!f || !r) return;
  const char *what = r->order == 2 ? "gradgradcheck" : "gradcheck";
  if (r->error[0]) {
    fprintf(f, "%s: could not run: %s\n", what, r->error);
    return;
  }
  fprintf(f, "%s: %s (%s; eps %g, atol %g, rtol %g, seed %llu)\n", what,
          r->passed ? "PASS" : "FAIL",
          r->fast ? "random projections u^T J v" : "full Jacobian", r->eps,
          r->atol, r->rtol, (unsigned long long)r->seed);
  for (int i = 0; i < r->n_inputs; i++) {
    const tg_gradcheck_input *in = &r->inputs[i];
    char shape[96], where[96] = "";
    tg__shape_fmt(in->ndim, in->shape, shape, sizeof shape);
    fprintf(f, "  input #%d %s %s: ", i + 1, shape, tg_dtype_name(in->dtype));
    if (!in->checked) {
      fprintf(f, "not checked\n");
      continue;
    }
    fprintf(f, "%s", in->passed ? "PASS" : "FAIL");
    if (in->n_failed)
      fprintf(f, ", %lld %s out of tolerance", (long long)in->n_failed,
              r->fast ? "projections" : "elements");
    if (in->worst_index >= 0) {
      if (r->fast)
        snprintf(where, sizeof where, "projection %lld",
                 (long long)in->worst_index);
      else
        index_str(in->ndim, in->shape, in->worst_index, where, sizeof where);
      fprintf(f,
              "; worst %s%s: analytic %.10g numeric %.10g (abs %.3g, rel "
              "%.3g)",
              r->fast ? "" : "element ", where, in->analytic, in->numeric,
              in->abs_err, in->rel_err);
      if (in->worst_output >= 0)
        fprintf(f, " at output element %lld", (long long)in->worst_output);
    }
    if (in->n_kinks)
      fprintf(f,
              "; %lld kinks (one-sided differences disagree, analytic "
              "value between them: accepted)",
              (long long)in->n_kinks);
    fputc('\n', f);
  }
  if (!r->backward_error[0])
    fprintf(f,
            "  reentrant (two sweeps bitwise equal): %s; linear in the "
            "output gradient: %s\n",
            r->reentrant ? "yes" : "NO", r->linear ? "yes" : "NO");
  if (r->backward_error[0])
    fprintf(f, "  backward failed: %s\n", r->backward_error);
  if (r->warnings[0]) fprintf(f, "  warning: %s\n", r->warnings);
  const tg_node_check *c = &r->culprit;
  if (!r->passed && c->found) {
    fprintf(f, "  culprit: node %d, %s (inputs %s)%s%s: ", c->position, c->op,
            c->inputs, c->location[0] ? " at " : "", c->location);
    if (c->error[0])
      fprintf(f, "its backward rule fails: %s", c->error);
    else
      fprintf(f, "its backward rule disagrees with finite differences");
    if (c->input >= 0)
      fprintf(f, " for input #%d (analytic %.10g, numeric %.10g)", c->input + 1,
              c->analytic, c->numeric);
    fputc('\n', f);
  } else if (!r->passed && c->nodes_checked) {
    fprintf(f,
            "  every one of the %d nodes checks out on its own: look at "
            "how they are combined\n",
            c->nodes_checked);
  }
}
