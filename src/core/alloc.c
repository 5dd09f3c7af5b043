/* The one place tapegrad takes memory from the system. */
#include <stdlib.h>

#include "internal.h"

void *tg__malloc(size_t size) { return malloc(size ? size : 1); }

void *tg__aligned_alloc(size_t size) {
  void *p = NULL;
  if (posix_memalign(&p, 64, size ? size : 1) != 0) return NULL;
  return p;
}

void tg__free(void *p) { free(p); }
