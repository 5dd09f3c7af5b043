/* tapegrad: custom ops.
 *
 * Register an op by its name, a forward callback and a backward callback;
 * call it like a primitive. It is recorded on the tape under its name, and
 * gradcheck can check it. The backward callback may itself use tapegrad's
 * ops: with create_graph it is recorded, so the op supports second order. */
#ifndef TAPEGRAD_CUSTOM_H
#define TAPEGRAD_CUSTOM_H

#include "tensor.h"

typedef struct tg_custom_op tg_custom_op;

/* Computes the output from the inputs, with grad mode off (nothing it does
 * is recorded); return NULL (after setting no error, or any) on failure. */
typedef tg_tensor *(*tg_custom_forward_fn)(tg_tape *tp,
                                           tg_tensor *const *inputs, void *ud);
/* Sets grad_inputs[i] to the gradient of input i (each of exactly that
 * input's shape and dtype), given the output and its gradient. Leave an
 * entry NULL for an input that gets no gradient. */
typedef tg_status (*tg_custom_backward_fn)(tg_tape *tp,
                                           tg_tensor *const *inputs,
                                           tg_tensor *output,
                                           tg_tensor *grad_output,
                                           tg_tensor **grad_inputs, void *ud);

/* NULL on a NULL callback, an empty name or n_inputs < 1. The name is
 * copied (up to 63 characters). */
tg_custom_op *tg_custom_op_new(const char *name, int n_inputs,
                               tg_custom_forward_fn forward,
                               tg_custom_backward_fn backward, void *ud);
/* Free only once no tape holds a node of this op. */
void tg_custom_op_free(tg_custom_op *op);

/* Runs op on its n_inputs inputs and records it like a primitive. */
tg_tensor *tg_custom(tg_tape *tp, const tg_custom_op *op,
                     tg_tensor *const *inputs);

#endif
