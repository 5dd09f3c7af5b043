/* Shared helpers of the libFuzzer targets in tests/fuzz (not installed).
 *
 * The loaders read files, so each target writes the fuzzer's bytes to one
 * temporary file of its own process ("$TMPDIR/tapegrad-fuzz-<target>-<pid>",
 * overwritten on every run and removed at exit) and loads that: nothing is
 * added to the library's API for fuzzing. A property that does not hold is
 * reported with fuzz_fail, which prints why and calls abort(), so libFuzzer
 * records the input as a crash. */
#ifndef TAPEGRAD_FUZZ_COMMON_H
#define TAPEGRAD_FUZZ_COMMON_H

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tapegrad.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#if defined(__GNUC__)
__attribute__((noreturn, format(printf, 1, 2)))
#endif
static void
fuzz_fail(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "\n*** tapegrad fuzz property violated: ");
  vfprintf(stderr, fmt, ap);
  fprintf(stderr, "\n");
  va_end(ap);
  fflush(stderr);
  abort();
}

/* A failing call must leave an error with a message on the tape. */
static inline void fuzz_expect_error(const tg_tape *tp, const char *what) {
  if (tg_error(tp) == TG_OK)
    fuzz_fail("%s failed without setting an error on the tape", what);
  const char *msg = tg_errmsg(tp);
  if (!msg || !msg[0])
    fuzz_fail("%s failed with status %d but an empty message", what,
              (int)tg_error(tp));
}

/* A call that succeeded must not leave an error behind. */
static inline void fuzz_expect_no_error(const tg_tape *tp, const char *what) {
  if (tg_error(tp) != TG_OK)
    fuzz_fail("%s succeeded but left the error \"%s\" (status %d)", what,
              tg_errmsg(tp), (int)tg_error(tp));
}

/* Structural sanity of a tensor a call returned. */
static inline void fuzz_check_tensor(const tg_tensor *t, const char *what) {
  if (t->dtype != TG_F32 && t->dtype != TG_F64)
    fuzz_fail("%s: bad dtype %d", what, (int)t->dtype);
  if (t->ndim < 0 || t->ndim > TG_MAX_DIMS)
    fuzz_fail("%s: bad ndim %d", what, t->ndim);
  int64_t n = 1;
  for (int d = 0; d < t->ndim; d++) {
    if (t->shape[d] < 0)
      fuzz_fail("%s: negative side %lld on axis %d", what,
                (long long)t->shape[d], d);
    n = t->shape[d] && n > INT64_MAX / t->shape[d] ? -1 : n * t->shape[d];
    if (n < 0) fuzz_fail("%s: the element count overflows", what);
  }
  if (n != t->numel)
    fuzz_fail("%s: numel %lld but the shape holds %lld", what,
              (long long)t->numel, (long long)n);
  if (n > 0 && !t->data)
    fuzz_fail("%s: %lld elements but no data", what, (long long)n);
}

/* --- temporary files ------------------------------------------------------ */

#define FUZZ_MAX_FILES 4
static char fuzz_paths[FUZZ_MAX_FILES][512];

static void fuzz_remove_files(void) {
  for (int i = 0; i < FUZZ_MAX_FILES; i++)
    if (fuzz_paths[i][0]) unlink(fuzz_paths[i]);
}

/* This process's temporary file number i (0 to FUZZ_MAX_FILES - 1),
 * "<dir>/tapegrad-fuzz-<tag>-<pid><suffix>"; the same name on every call.
 * The files are removed when the process exits normally. */
static inline const char *fuzz_tmp_path(int i, const char *tag,
                                        const char *suffix) {
  if (!fuzz_paths[i][0]) {
    static int registered;
    const char *dir = getenv("TMPDIR");
    if (!dir || !dir[0]) dir = "/tmp";
    snprintf(fuzz_paths[i], sizeof fuzz_paths[i], "%s/tapegrad-fuzz-%s-%ld%s",
             dir, tag, (long)getpid(), suffix);
    if (!registered) atexit(fuzz_remove_files);
    registered = 1;
  }
  return fuzz_paths[i];
}

/* Writes (or overwrites) path with the bytes; aborts when the file system
 * refuses, since no property could be checked then. */
static inline void fuzz_write_file(const char *path, const void *data,
                                   size_t size) {
  FILE *f = fopen(path, "wb");
  if (!f) fuzz_fail("cannot create %s", path);
  if (size && fwrite(data, 1, size, f) != size)
    fuzz_fail("cannot write %s", path);
  if (fclose(f) != 0) fuzz_fail("cannot close %s", path);
}

#endif
