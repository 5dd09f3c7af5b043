/* What every layer shares: creation, parameters, mode, forward dispatch. */
#include <stdio.h>
#include <string.h>

#include "layer_internal.h"

tg_layer *tg__layer_new(const tg_layer_class *cls, const char *name) {
  tg_layer *l = tg__malloc(sizeof *l);
  if (!l) return NULL;
  memset(l, 0, sizeof *l);
  l->cls = cls;
  l->training = true;
  snprintf(l->name, sizeof l->name, "%s", name && name[0] ? name : cls->kind);
  return l;
}

tg_layer *tg__layer_fail(tg_layer *l) {
  if (l && l->registry) tg__params_rollback(l->registry, l->registry_mark);
  tg__free(l);
  return NULL;
}

tg_tensor *tg__layer_add(tg_layer *l, tg_params *ps, tg_tape *tp,
                         const char *suffix, tg_dtype dtype, int ndim,
                         const int64_t *shape, int buffer_slot) {
  char full[160];
  snprintf(full, sizeof full, "%s.%s", l->name, suffix);
  if (!l->registry) {
    l->registry = ps;
    l->registry_mark = tg_params_count(ps);
  }
  tg_tensor *t = buffer_slot >= 0
                     ? tg_buffer_new(ps, tp, full, dtype, ndim, shape)
                     : tg_param_new(ps, tp, full, dtype, ndim, shape);
  if (!t) return NULL;
  if (buffer_slot >= 0)
    l->buffers[buffer_slot] = t;
  else
    l->params[l->n_params++] = t;
  return t;
}

void *tg__layer_shape_error(tg_tape *tp, const tg_layer *l,
                            const char *expected, const tg_tensor *x) {
  char got[96];
  return tg__fail(tp, TG_ERR_SHAPE, "%s '%s': expected input %s, got %s",
                  l->cls->kind, l->name, expected,
                  tg_shape_str(x, got, sizeof got));
}

tg_tensor *tg_layer_forward(tg_tape *tp, tg_layer *l, tg_tensor *x) {
  if (!tp) return NULL;
  if (!l) return tg__fail(tp, TG_ERR_NULL, "tg_layer_forward: layer is NULL");
  if (!x) {
    char label[128];
    snprintf(label, sizeof label, "%s '%s'", l->cls->kind, l->name);
    tg__inputs_ok(tp, label, 1, &x);
    return NULL;
  }
  return l->cls->forward(tp, l, x);
}

void tg_layer_set_training(tg_layer *l, bool training) {
  if (l) l->training = training;
}

bool tg_layer_training(const tg_layer *l) { return l && l->training; }

const char *tg_layer_kind(const tg_layer *l) { return l ? l->cls->kind : ""; }

const char *tg_layer_name(const tg_layer *l) { return l ? l->name : ""; }

int tg_layer_param_count(const tg_layer *l) { return l ? l->n_params : 0; }

tg_tensor *tg_layer_param(const tg_layer *l, int i) {
  return l && i >= 0 && i < l->n_params ? l->params[i] : NULL;
}

void tg_layer_free(tg_layer *l) { tg__free(l); }
