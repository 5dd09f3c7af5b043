/* A bump allocator made of chunks. Reset rewinds to the first chunk and keeps
 * every chunk, so a training loop that repeats the same step stops asking
 * the system for memory after its first step. */
#include <stdint.h>

#include "internal.h"

#define TG_ARENA_ALIGN 64
#define TG_ARENA_MIN_CHUNK ((size_t)1 << 20)

struct tg_arena_chunk {
  tg_arena_chunk *next;
  size_t size; /* usable bytes after the header */
  size_t used;
  /* data follows, aligned */
};

static size_t chunk_header(void) {
  return (sizeof(tg_arena_chunk) + TG_ARENA_ALIGN - 1) &
         ~(size_t)(TG_ARENA_ALIGN - 1);
}

static char *chunk_data(tg_arena_chunk *c) {
  return (char *)c + chunk_header();
}

static tg_arena_chunk *chunk_new(size_t size) {
  if (size > SIZE_MAX - chunk_header()) return NULL;
  tg_arena_chunk *c = tg__aligned_alloc(chunk_header() + size);
  if (!c) return NULL;
  c->next = NULL;
  c->size = size;
  c->used = 0;
  return c;
}

void *tg__arena_alloc(tg_arena *a, size_t size) {
  if (size > SIZE_MAX - TG_ARENA_ALIGN) return NULL;
  size = (size + TG_ARENA_ALIGN - 1) & ~(size_t)(TG_ARENA_ALIGN - 1);
  if (size == 0) size = TG_ARENA_ALIGN;
  tg_arena_chunk *c = a->current;
  /* Move on through the chunks kept from earlier steps. */
  while (c && c->size - c->used < size) {
    if (!c->next) break;
    c = c->next;
    c->used = 0;
  }
  if (!c || c->size - c->used < size) {
    size_t want =
        a->reserved > TG_ARENA_MIN_CHUNK ? a->reserved : TG_ARENA_MIN_CHUNK;
    if (want < size) want = size;
    tg_arena_chunk *n = chunk_new(want);
    if (!n && want > size) n = chunk_new(size);
    if (!n) return NULL;
    a->reserved += n->size;
    /* Insert after the current chunk so the order of reuse stays stable. */
    if (!c) {
      a->first = n;
    } else {
      n->next = c->next;
      c->next = n;
    }
    c = n;
  }
  a->current = c;
  void *p = chunk_data(c) + c->used;
  c->used += size;
  a->used += size;
  return p;
}

bool tg__arena_owns(const tg_arena *a, const void *p) {
  for (tg_arena_chunk *c = a->first; c; c = c->next) {
    const char *lo = chunk_data(c);
    if ((const char *)p >= lo && (const char *)p < lo + c->size) return true;
  }
  return false;
}

void tg__arena_reset(tg_arena *a) {
  a->current = a->first;
  if (a->first) a->first->used = 0;
  a->used = 0;
}

void tg__arena_release(tg_arena *a) {
  tg_arena_chunk *c = a->first;
  while (c) {
    tg_arena_chunk *next = c->next;
    tg__free(c);
    c = next;
  }
  a->first = a->current = NULL;
  a->used = a->reserved = 0;
}
