/* The parameter registry: named heap tensors in order of creation. */
#include <string.h>

#include "../core/internal.h"
#include "tapegrad/params.h"

typedef struct entry {
  char *name;
  tg_tensor *t;
  bool trainable;
} entry;

struct tg_params {
  entry *entries;
  int count, capacity;
};

tg_params *tg_params_new(void) {
  tg_params *ps = tg__malloc(sizeof *ps);
  if (ps) memset(ps, 0, sizeof *ps);
  return ps;
}

void tg_params_free(tg_params *ps) {
  if (!ps) return;
  for (int i = 0; i < ps->count; i++) {
    tg__free(ps->entries[i].name);
    tg_tensor_free(ps->entries[i].t);
  }
  tg__free(ps->entries);
  tg__free(ps);
}

static int find(const tg_params *ps, const char *name) {
  for (int i = 0; i < ps->count; i++)
    if (!strcmp(ps->entries[i].name, name)) return i;
  return -1;
}

static tg_tensor *add(tg_params *ps, tg_tape *tp, const char *fname,
                      const char *name, tg_dtype dtype, int ndim,
                      const int64_t *shape, bool trainable) {
  if (!ps) return tg__fail(tp, TG_ERR_NULL, "%s: registry is NULL", fname);
  if (!name || !name[0])
    return tg__fail(tp, TG_ERR_ARG, "%s: a parameter needs a name", fname);
  if (find(ps, name) >= 0)
    return tg__fail(tp, TG_ERR_ARG,
                    "%s: a parameter named '%s' exists "
                    "already",
                    fname, name);
  if (ps->count == ps->capacity) {
    int cap = ps->capacity ? 2 * ps->capacity : 16;
    entry *grown = tg__malloc(sizeof(entry) * (size_t)cap);
    if (!grown) return tg__fail(tp, TG_ERR_NOMEM, "%s: out of memory", fname);
    if (ps->count)
      memcpy(grown, ps->entries, sizeof(entry) * (size_t)ps->count);
    tg__free(ps->entries);
    ps->entries = grown;
    ps->capacity = cap;
  }
  size_t len = strlen(name);
  char *copy = tg__malloc(len + 1);
  if (!copy) return tg__fail(tp, TG_ERR_NOMEM, "%s: out of memory", fname);
  memcpy(copy, name, len + 1);
  tg_tensor *t = tg_tensor_new(tp, dtype, ndim, shape);
  if (!t) {
    tg__free(copy);
    return NULL;
  }
  t->name = copy;
  t->requires_grad = trainable;
  ps->entries[ps->count++] = (entry){copy, t, trainable};
  return t;
}

tg_tensor *tg_param_new(tg_params *ps, tg_tape *tp, const char *name,
                        tg_dtype dtype, int ndim, const int64_t *shape) {
  return add(ps, tp, "tg_param_new", name, dtype, ndim, shape, true);
}

tg_tensor *tg_buffer_new(tg_params *ps, tg_tape *tp, const char *name,
                         tg_dtype dtype, int ndim, const int64_t *shape) {
  return add(ps, tp, "tg_buffer_new", name, dtype, ndim, shape, false);
}

int tg_params_count(const tg_params *ps) { return ps ? ps->count : 0; }

static const entry *at(const tg_params *ps, int i) {
  return ps && i >= 0 && i < ps->count ? &ps->entries[i] : NULL;
}

tg_tensor *tg_params_at(const tg_params *ps, int i) {
  const entry *e = at(ps, i);
  return e ? e->t : NULL;
}

const char *tg_params_name(const tg_params *ps, int i) {
  const entry *e = at(ps, i);
  return e ? e->name : NULL;
}

bool tg_params_trainable(const tg_params *ps, int i) {
  const entry *e = at(ps, i);
  return e && e->trainable;
}

tg_tensor *tg_params_find(const tg_params *ps, const char *name) {
  if (!ps || !name) return NULL;
  int i = find(ps, name);
  return i >= 0 ? ps->entries[i].t : NULL;
}

int64_t tg_params_numel(const tg_params *ps) {
  int64_t n = 0;
  for (int i = 0; ps && i < ps->count; i++)
    if (ps->entries[i].trainable) n += ps->entries[i].t->numel;
  return n;
}

void tg_params_zero_grad(tg_params *ps) {
  for (int i = 0; ps && i < ps->count; i++)
    if (ps->entries[i].trainable) tg_zero_grad(ps->entries[i].t);
}

void tg__params_rollback(tg_params *ps, int count) {
  if (!ps || count < 0) return;
  while (ps->count > count) {
    entry *e = &ps->entries[--ps->count];
    tg__free(e->name);
    tg_tensor_free(e->t);
  }
}
