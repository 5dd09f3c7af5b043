/* tapegrad internals shared by the file formats in src/io (not installed).
 *
 * Every message a loader or saver leaves starts with the public function and
 * the file: "tg_load_npy: w.npy: ...". */
#ifndef TG_IO_INTERNAL_H
#define TG_IO_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "../core/internal.h"

/* Records "fn: path: <message>" as the tape's error (if it has none yet). */
void tg__io_fail(tg_tape *tp, tg_status code, const char *fn, const char *path,
                 const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 5, 6)))
#endif
    ;

/* --- reading ------------------------------------------------------------- */

/* Reads the whole file into a new buffer (free with tg__free) with a NUL
 * byte after the last one, which text parsers may rely on. On failure the
 * error is TG_ERR_STATE (naming strerror) or TG_ERR_NOMEM. */
tg_status tg__read_file(tg_tape *tp, const char *fn, const char *path,
                        unsigned char **data, size_t *size);

/* --- atomic writing ------------------------------------------------------ */

/* A file being written beside its target as "<path>.tmp.<pid>": flushed,
 * fsync'ed and renamed over the target only when everything went well, so
 * readers see either the old file or the complete new one. */
typedef struct tg__out {
  tg_tape *tp;
  const char *fn, *path;
  FILE *f;
  char *tmp;     /* the temporary file's name */
  tg_status err; /* the first failure; TG_OK while all is well */
} tg__out;

/* Opens the temporary file; false with an error on failure. */
bool tg__out_open(tg__out *o, tg_tape *tp, const char *fn, const char *path);
/* Appends n bytes; after the first failure it does nothing. */
void tg__out_write(tg__out *o, const void *buf, size_t n);
/* Records a failure found by the caller (the temporary file will be
 * removed at close); the message is the caller's. */
void tg__out_fail(tg__out *o, tg_status code);
/* Commits (flush, fsync, close, rename) unless something failed, in which
 * case the temporary file is removed and the target left as it was.
 * Returns the outcome. */
tg_status tg__out_close(tg__out *o);

/* --- byte order ---------------------------------------------------------- */

/* The file formats store little-endian (safetensors, npy) or big-endian
 * (IDX) numbers; these helpers read and write them byte by byte, so the
 * code is the same on any host. */
static inline uint64_t tg__get_le(const unsigned char *p, int n) {
  uint64_t v = 0;
  for (int i = n - 1; i >= 0; i--)
    v = (v << 8) | p[i];
  return v;
}

static inline uint64_t tg__get_be(const unsigned char *p, int n) {
  uint64_t v = 0;
  for (int i = 0; i < n; i++)
    v = (v << 8) | p[i];
  return v;
}

static inline void tg__put_le(unsigned char *p, uint64_t v, int n) {
  for (int i = 0; i < n; i++, v >>= 8)
    p[i] = (unsigned char)(v & 0xff);
}

static inline bool tg__host_is_le(void) {
  const uint16_t one = 1;
  unsigned char b;
  memcpy(&b, &one, 1);
  return b == 1;
}

/* Reverses the bytes of each of the n elements of size es in place (to
 * turn little-endian data into a big-endian host's order and back). */
static inline void tg__swap_bytes(void *buf, size_t n, size_t es) {
  unsigned char *p = buf;
  for (size_t i = 0; i < n; i++, p += es)
    for (size_t a = 0, b = es - 1; a < b; a++, b--) {
      unsigned char c = p[a];
      p[a] = p[b];
      p[b] = c;
    }
}

#endif
