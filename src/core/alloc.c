/* The one place tapegrad takes memory from the system, and the switch that
 * makes it fail on purpose so out-of-memory paths can be tested. */
#include <stdlib.h>

#include "internal.h"

static uint64_t calls;   /* allocations since tg_alloc_fail_at */
static uint64_t fail_at; /* 0: never fail */

void tg_alloc_fail_at(uint64_t k) {
  calls = 0;
  fail_at = k;
}

uint64_t tg_alloc_count(void) { return calls; }

static bool should_fail(void) {
  calls++;
  return fail_at && calls >= fail_at;
}

void *tg__malloc(size_t size) {
  if (should_fail()) return NULL;
  return malloc(size ? size : 1);
}

void *tg__aligned_alloc(size_t size) {
  if (should_fail()) return NULL;
  void *p = NULL;
  if (posix_memalign(&p, 64, size ? size : 1) != 0) return NULL;
  return p;
}

void tg__free(void *p) { free(p); }
