/* The one place tapegrad takes memory from the system, and the switch that
 * makes it fail on purpose so out-of-memory paths can be tested. */
#include <stdatomic.h>
#include <stdlib.h>

#include "internal.h"

/* Atomic because every allocation counts, on whatever thread it is made
 * (one tape per thread is allowed); relaxed, since nothing else is ordered
 * by them. The injection itself stays a single-threaded testing tool. */
static _Atomic uint64_t calls;   /* allocations since tg_alloc_fail_at */
static _Atomic uint64_t fail_at; /* 0: never fail */

void tg_alloc_fail_at(uint64_t k) {
  atomic_store_explicit(&calls, 0, memory_order_relaxed);
  atomic_store_explicit(&fail_at, k, memory_order_relaxed);
}

uint64_t tg_alloc_count(void) {
  return atomic_load_explicit(&calls, memory_order_relaxed);
}

static bool should_fail(void) {
  uint64_t n = atomic_fetch_add_explicit(&calls, 1, memory_order_relaxed) + 1;
  uint64_t k = atomic_load_explicit(&fail_at, memory_order_relaxed);
  return k && n >= k;
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
