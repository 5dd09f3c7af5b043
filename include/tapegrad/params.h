/* tapegrad: named parameters.
 *
 * Parameters live outside the tape, on the heap, with their gradients. A
 * registry owns them, in the order they were made, under unique names
 * ("conv1.weight", "lstm.weight_ih_l0"); save/load and the optimizers walk
 * it. Buffers (a batch norm's running statistics) live in the same registry
 * but are not trainable: they get no gradient and no optimizer step. */
#ifndef TAPEGRAD_PARAMS_H
#define TAPEGRAD_PARAMS_H

#include "tensor.h"

typedef struct tg_params tg_params;

tg_params *tg_params_new(void);
/* Frees the registry and every tensor in it. */
void tg_params_free(tg_params *ps);

/* A zero-filled trainable parameter (requires_grad set), owned by ps. The
 * name is copied; a duplicate or empty name, or a bad shape, is an error
 * reported on tp (which may be NULL). */
tg_tensor *tg_param_new(tg_params *ps, tg_tape *tp, const char *name,
                        tg_dtype dtype, int ndim, const int64_t *shape);
/* The same for a buffer: saved and loaded, never trained. */
tg_tensor *tg_buffer_new(tg_params *ps, tg_tape *tp, const char *name,
                         tg_dtype dtype, int ndim, const int64_t *shape);

/* Entries (parameters and buffers) in order of creation. */
int tg_params_count(const tg_params *ps);
tg_tensor *tg_params_at(const tg_params *ps, int i);
const char *tg_params_name(const tg_params *ps, int i);
bool tg_params_trainable(const tg_params *ps, int i);
/* NULL when no entry has that name. */
tg_tensor *tg_params_find(const tg_params *ps, const char *name);
/* Number of trainable scalars. */
int64_t tg_params_numel(const tg_params *ps);
/* Sets every trainable parameter's gradient to zero. */
void tg_params_zero_grad(tg_params *ps);

#endif
