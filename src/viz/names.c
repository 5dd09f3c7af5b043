/* Numbering the tensors of a tape (a small pointer hash table) and printing
 * their values briefly. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "viz_internal.h"

static size_t slot_of(const viz_names *nm, const tg_tensor *t) {
  size_t h = (size_t)((uintptr_t)t >> 4) * 0x9e3779b97f4a7c15ull;
  size_t i = h & (nm->capacity - 1);
  while (nm->keys[i] && nm->keys[i] != t)
    i = (i + 1) & (nm->capacity - 1);
  return i;
}

static void name(viz_names *nm, const tg_tensor *t) {
  size_t i = slot_of(nm, t);
  if (nm->keys[i]) return;
  nm->keys[i] = t;
  nm->ids[i] = nm->count++;
}

bool viz_names_build(viz_names *nm, const tg_tape *tp) {
  size_t want = 16;
  size_t tensors = 1;
  for (const tg_node *n = tp->first; n; n = n->next)
    tensors += (size_t)n->n_inputs + 1;
  while (want < 2 * tensors)
    want *= 2;
  memset(nm, 0, sizeof *nm);
  nm->keys = tg__malloc(sizeof *nm->keys * want);
  nm->ids = tg__malloc(sizeof *nm->ids * want);
  if (!nm->keys || !nm->ids) {
    viz_names_free(nm);
    return false;
  }
  memset(nm->keys, 0, sizeof *nm->keys * want);
  nm->capacity = want;
  for (const tg_node *n = tp->first; n; n = n->next) {
    for (int i = 0; i < n->n_inputs; i++)
      name(nm, n->inputs[i]);
    name(nm, n->out);
  }
  return true;
}

void viz_names_free(viz_names *nm) {
  tg__free(nm->keys);
  tg__free(nm->ids);
  memset(nm, 0, sizeof *nm);
}

int viz_name_of(const viz_names *nm, const tg_tensor *t) {
  if (!nm->capacity || !t) return -1;
  size_t i = slot_of(nm, t);
  return nm->keys[i] ? nm->ids[i] : -1;
}

const char *viz_label(const viz_names *nm, const tg_tensor *t, char *buf,
                      size_t size) {
  int id = viz_name_of(nm, t);
  if (t && t->name)
    snprintf(buf, size, "%s", t->name);
  else if (id >= 0)
    snprintf(buf, size, "%%%d", id);
  else
    snprintf(buf, size, "?");
  return buf;
}

void viz_print_values(FILE *f, const tg_tensor *t) {
  char shape[96];
  if (!t) {
    fputs("-", f);
    return;
  }
  if (t->numel > TG_VIZ_SMALL) {
    double sq = 0;
    for (int64_t i = 0; i < t->numel; i++) {
      double v = tg_get_flat(t, i);
      sq += v * v;
    }
    fprintf(f, "%s, norm %.4g", tg_shape_str(t, shape, sizeof shape), sqrt(sq));
    return;
  }
  fputc('[', f);
  for (int64_t i = 0; i < t->numel; i++)
    fprintf(f, "%s%.4f", i ? ", " : "", tg_get_flat(t, i));
  fputc(']', f);
}
