/* Anomaly mode: find the first NaN or Inf, in the forward pass or in the
 * backward pass, and name the op that made it. */
#include <stdio.h>

#include "../kernels/kernels.h"
#include "internal.h"

static const char *kind_name(int kind) { return kind == 1 ? "NaN" : "Inf"; }

static int nonfinite(const tg_tensor *t) {
  return tg_k_find_nonfinite(t->dtype, t->ndim, t->shape, t->data, t->strides);
}

/* "[2x3] f64, [3] f64" */
static void describe_inputs(int n, tg_tensor *const *in, char *buf,
                            size_t size) {
  size_t pos = 0;
  buf[0] = '\0';
  for (int i = 0; i < n && pos < size; i++) {
    char shape[96];
    pos += (size_t)snprintf(buf + pos, size - pos, "%s%s %s", i ? ", " : "",
                            tg_shape_str(in[i], shape, sizeof shape),
                            in[i] ? tg_dtype_name(in[i]->dtype) : "");
  }
}

static void describe_location(const char *file, int line, char *buf,
                              size_t size) {
  if (file)
    snprintf(buf, size, " at %s:%d", file, line);
  else
    buf[0] = '\0';
}

bool tg__anomaly_check_forward(tg_tape *tp, const tg_op_def *op, int n_inputs,
                               tg_tensor *const *inputs, const tg_tensor *out) {
  if (tp->sweeping) return true; /* the sweep checks gradients itself */
  int kind = nonfinite(out);
  if (!kind) return true;
  char label[96], ins[256], loc[192];
  describe_inputs(n_inputs, inputs, ins, sizeof ins);
  describe_location(tp->file, tp->line, loc, sizeof loc);
  tg__fail(tp, TG_ERR_NUMERIC,
           "anomaly: %s produced %s in the forward pass (tape position %zu; "
           "inputs %s)%s",
           tg__op_label(op, label, sizeof label), kind_name(kind), tp->n_nodes,
           ins, loc);
  return false;
}

bool tg__anomaly_check_backward(tg_tape *tp, const tg_node *n, int input,
                                const tg_tensor *grad) {
  int kind = nonfinite(grad);
  if (!kind) return true;
  char label[96], ins[256], loc[192];
  describe_inputs(n->n_inputs, n->inputs, ins, sizeof ins);
  describe_location(n->file, n->line, loc, sizeof loc);
  tg__fail(tp, TG_ERR_NUMERIC,
           "anomaly: backward of %s produced %s in the gradient of input #%d "
           "(tape position %d; inputs %s)%s",
           tg__op_label(n->op, label, sizeof label), kind_name(kind), input + 1,
           n->index, ins, loc);
  return false;
}
