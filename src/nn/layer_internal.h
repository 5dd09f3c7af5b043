/* Layers' shared insides (not installed). */
#ifndef TG_LAYER_INTERNAL_H
#define TG_LAYER_INTERNAL_H

#include "../core/internal.h"
#include "tapegrad/layers.h"

#define TG_LAYER_MAX_PARAMS 4

typedef struct tg_layer_class {
  const char *kind;
  tg_tensor *(*forward)(tg_tape *tp, tg_layer *l, tg_tensor *x);
} tg_layer_class;

struct tg_layer {
  const tg_layer_class *cls;
  char name[64];
  bool training;
  tg_tensor *params[TG_LAYER_MAX_PARAMS];
  int n_params;
  tg_tensor *buffers[2];
  int64_t sizes[TG_MAX_DIMS]; /* in, out, hidden, normalised shape... */
  int n_sizes;
  double eps, momentum, rate; /* norms; dropout p, activation parameter */
  int activation;
  tg_conv_opts conv;
  tg_window window;
  /* Where its parameters went, to take them back if construction fails. */
  tg_params *registry;
  int registry_mark;
};

/* A zeroed layer of a class; name may be NULL for parameter-free layers. */
tg_layer *tg__layer_new(const tg_layer_class *cls, const char *name);
/* Registers "<layer name>.<suffix>" in ps and appends it to the layer's
 * parameters (or buffers, when buffer_slot >= 0). */
tg_tensor *tg__layer_add(tg_layer *l, tg_params *ps, tg_tape *tp,
                         const char *suffix, tg_dtype dtype, int ndim,
                         const int64_t *shape, int buffer_slot);
/* Sets an error naming the layer: "dense 'fc1': expected input [*, 784],
 * got [64x100]" and returns NULL. */
void *tg__layer_shape_error(tg_tape *tp, const tg_layer *l,
                            const char *expected, const tg_tensor *x);
/* Constructors that fail free the layer, remove the parameters it had
 * already registered, and return NULL. */
tg_layer *tg__layer_fail(tg_layer *l);

/* Whether ls[0..3) are a conv2d layer, a ReLU and a max pooling layer, and
 * their forward with the pooling first (the same function; see
 * src/nn/layers_basic.c). The sequential model uses these. */
bool tg__conv_relu_pool_fits(tg_layer *const *ls);
tg_tensor *tg__conv_relu_pool_forward(tg_tape *tp, tg_layer *const *ls,
                                      tg_tensor *x);

#endif
