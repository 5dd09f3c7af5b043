/* Shared by the files of src/viz (not installed). */
#ifndef TG_VIZ_INTERNAL_H
#define TG_VIZ_INTERNAL_H

#include "../core/internal.h"
#include "tapegrad/viz.h"

/* Numbers for the tensors of a tape, in order of first appearance: every
 * node's inputs, then its output. */
typedef struct viz_names {
  const tg_tensor **keys;
  int *ids;
  size_t capacity;
  int count;
} viz_names;

bool viz_names_build(viz_names *nm, const tg_tape *tp);
void viz_names_free(viz_names *nm);
/* The tensor's number, or -1 if the tape never saw it. */
int viz_name_of(const viz_names *nm, const tg_tensor *t);
/* "%3" or the tensor's own name. */
const char *viz_label(const viz_names *nm, const tg_tensor *t, char *buf,
                      size_t size);

/* Values for small tensors ("[1.0000, -2.5000]"), shape and norm for large
 * ones, into f. */
void viz_print_values(FILE *f, const tg_tensor *t);

#endif
