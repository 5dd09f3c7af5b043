/* Reading whole files, and writing files atomically (shared by src/io). */
#include <errno.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io_internal.h"

void tg__io_fail(tg_tape *tp, tg_status code, const char *fn, const char *path,
                 const char *fmt, ...) {
  char msg[400];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  tg__fail(tp, code, "%s: %s: %s", fn, path, msg);
}

/* --- reading ------------------------------------------------------------- */

tg_status tg__read_file(tg_tape *tp, const char *fn, const char *path,
                        unsigned char **data, size_t *size) {
  *data = NULL;
  *size = 0;
  FILE *f = fopen(path, "rb");
  if (!f) {
    tg__io_fail(tp, TG_ERR_STATE, fn, path, "cannot open: %s", strerror(errno));
    return TG_ERR_STATE;
  }
  /* The size on disk is a hint (pipes have none); the loop reads to EOF. */
  struct stat st;
  size_t cap = 1 << 16;
  if (fstat(fileno(f), &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0 &&
      (uintmax_t)st.st_size < SIZE_MAX / 2)
    cap = (size_t)st.st_size + 1;
  tg_status status = TG_OK;
  size_t len = 0;
  unsigned char *buf = tg__malloc(cap);
  if (!buf) status = TG_ERR_NOMEM;
  while (status == TG_OK) {
    if (len + 1 >= cap) { /* keep room for the final NUL byte */
      unsigned char *grown = cap < SIZE_MAX / 2 ? tg__malloc(2 * cap) : NULL;
      if (!grown) {
        status = TG_ERR_NOMEM;
        break;
      }
      memcpy(grown, buf, len);
      tg__free(buf);
      buf = grown;
      cap *= 2;
    }
    size_t got = fread(buf + len, 1, cap - 1 - len, f);
    len += got;
    if (got == 0) {
      if (ferror(f)) {
        status = TG_ERR_STATE;
        tg__io_fail(tp, status, fn, path, "cannot read: %s", strerror(errno));
      }
      break;
    }
  }
  fclose(f);
  if (status == TG_ERR_NOMEM)
    tg__io_fail(tp, status, fn, path, "out of memory reading the file");
  if (status != TG_OK) {
    tg__free(buf);
    return status;
  }
  buf[len] = 0;
  *data = buf;
  *size = len;
  return TG_OK;
}

/* --- atomic writing ------------------------------------------------------ */

bool tg__out_open(tg__out *o, tg_tape *tp, const char *fn, const char *path) {
  memset(o, 0, sizeof *o);
  o->tp = tp;
  o->fn = fn;
  o->path = path;
  size_t n = strlen(path) + 32;
  o->tmp = tg__malloc(n);
  if (!o->tmp) {
    o->err = TG_ERR_NOMEM;
    tg__io_fail(tp, o->err, fn, path, "out of memory");
    return false;
  }
  snprintf(o->tmp, n, "%s.tmp.%ld", path, (long)getpid());
  o->f = fopen(o->tmp, "wb");
  if (!o->f) {
    o->err = TG_ERR_STATE;
    tg__io_fail(tp, o->err, fn, path, "cannot create '%s': %s", o->tmp,
                strerror(errno));
    tg__free(o->tmp);
    o->tmp = NULL;
    return false;
  }
  return true;
}

void tg__out_write(tg__out *o, const void *buf, size_t n) {
  if (o->err != TG_OK || n == 0) return;
  if (fwrite(buf, 1, n, o->f) != n) {
    o->err = TG_ERR_STATE;
    tg__io_fail(o->tp, o->err, o->fn, o->path, "cannot write: %s",
                strerror(errno));
  }
}

void tg__out_fail(tg__out *o, tg_status code) {
  if (o->err == TG_OK) o->err = code;
}

tg_status tg__out_close(tg__out *o) {
  if (!o->f) return o->err != TG_OK ? o->err : TG_ERR_STATE;
  /* fflush hands the data to the system and fsync has it put on disk, so
   * the rename below can never expose a partly written file. */
  if (o->err == TG_OK && (fflush(o->f) != 0 || fsync(fileno(o->f)) != 0)) {
    o->err = TG_ERR_STATE;
    tg__io_fail(o->tp, o->err, o->fn, o->path, "cannot flush: %s",
                strerror(errno));
  }
  if (fclose(o->f) != 0 && o->err == TG_OK) {
    o->err = TG_ERR_STATE;
    tg__io_fail(o->tp, o->err, o->fn, o->path, "cannot close: %s",
                strerror(errno));
  }
  o->f = NULL;
  if (o->err == TG_OK && rename(o->tmp, o->path) != 0) {
    o->err = TG_ERR_STATE;
    tg__io_fail(o->tp, o->err, o->fn, o->path,
                "cannot rename '%s' into place: %s", o->tmp, strerror(errno));
  }
  if (o->err != TG_OK) remove(o->tmp);
  tg__free(o->tmp);
  o->tmp = NULL;
  return o->err;
}
