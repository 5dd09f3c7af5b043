/* Custom ops: user callbacks behind an op definition. The op's tg_op_def
 * is the first member, so a node's op pointer leads back to the callbacks. */
#include <stdlib.h>
#include <string.h>

#include "../core/internal.h"
#include "tapegrad/custom.h"

struct tg_custom_op {
  tg_op_def def; /* first: nodes point here */
  char name[64];
  int n_inputs;
  tg_custom_forward_fn forward;
  tg_custom_backward_fn backward;
  void *ud;
};

static const tg_custom_op *custom_of(const tg_node *n) {
  return (const tg_custom_op *)(const void *)n->op;
}

static void custom_backward(tg_tape *tp, tg_node *n, tg_tensor *g,
                            tg_tensor **gin) {
  const tg_custom_op *op = custom_of(n);
  tg_status st = op->backward(tp, n->inputs, n->out, g, gin, op->ud);
  if (st != TG_OK)
    tg__fail(tp, st, "backward of custom op '%s' failed: %s", op->name,
             tg_strerror(st));
}

static tg_tensor *custom_replay(tg_tape *tp, const tg_node *n,
                                tg_tensor *const *inputs) {
  return tg_custom(tp, custom_of(n), inputs);
}

tg_custom_op *tg_custom_op_new(const char *name, int n_inputs,
                               tg_custom_forward_fn forward,
                               tg_custom_backward_fn backward, void *ud) {
  if (!name || !name[0] || n_inputs < 1 || !forward || !backward) return NULL;
  tg_custom_op *op = tg__malloc(sizeof *op);
  if (!op) return NULL;
  memset(op, 0, sizeof *op);
  strncpy(op->name, name, sizeof op->name - 1);
  op->def.name = op->name;
  op->def.backward = custom_backward;
  op->def.replay = custom_replay;
  op->def.strict_grad_shapes = true;
  op->def.rule = "the op's own backward callback";
  op->def.saves = TG_SAVES_ALL;
  op->n_inputs = n_inputs;
  op->forward = forward;
  op->backward = backward;
  op->ud = ud;
  return op;
}

void tg_custom_op_free(tg_custom_op *op) { tg__free(op); }

tg_tensor *tg_custom(tg_tape *tp, const tg_custom_op *op,
                     tg_tensor *const *inputs) {
  if (!tp) return NULL;
  if (!op) return tg__fail(tp, TG_ERR_NULL, "tg_custom: op is NULL");
  char label[96];
  tg__op_label(&op->def, label, sizeof label);
  if (!inputs) return tg__fail(tp, TG_ERR_NULL, "%s: inputs are NULL", label);
  if (!tg__inputs_ok(tp, label, op->n_inputs, inputs)) return NULL;
  bool prev = tg_set_grad_enabled(tp, false);
  tg_tensor *out = op->forward(tp, inputs, op->ud);
  tg_set_grad_enabled(tp, prev);
  if (!out)
    return tg__fail(tp, TG_ERR_STATE, "%s: forward returned NULL", label);
  /* The node takes ownership of the output's identity: if forward handed
   * back an input or a view of one, record a copy instead. */
  bool is_input = false;
  for (int i = 0; i < op->n_inputs; i++)
    if (out == inputs[i] || out->data == inputs[i]->data) is_input = true;
  if (is_input || out->node || out->requires_grad) {
    tg_tensor *copy =
        tg__new_tensor(tp, label, out->dtype, out->ndim, out->shape);
    if (!copy) return NULL;
    tg_copy_out(out, copy->data);
    out = copy;
  }
  if (!tg__record(tp, &op->def, op->n_inputs, inputs, out, NULL)) return NULL;
  return out;
}
