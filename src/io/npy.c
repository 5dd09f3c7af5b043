/* NumPy .npy files of one tensor.
 *
 * The format (numpy.lib.format, "A Simple File Format for NumPy Arrays"):
 *
 *   6 bytes   the magic string "\x93NUMPY"
 *   2 bytes   major and minor version (1.0, 2.0 or 3.0)
 *   2 bytes   (version 1) or 4 bytes (versions 2 and 3): the header length
 *             HLEN, little-endian
 *   HLEN      the header: the text of a Python dict literal such as
 *               {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }
 *             padded with spaces and ended by '\n' so that the whole
 *             preamble is a multiple of 64 bytes (16 in older writers)
 *   the rest  the data, numel elements of 'descr' in C order (Fortran order
 *             when fortran_order is True)
 *
 * The shape is a tuple: () for a 0-d array, (n,) for one dimension.
 * Version 2.0 only widens the header length; 3.0 allows UTF-8 in it. */
#include <stdarg.h>

#include "io_internal.h"

static const char *const LOAD = "tg_load_npy";
static const char *const SAVE = "tg_save_npy";
static const char MAGIC[6] = {'\x93', 'N', 'U', 'M', 'P', 'Y'};

/* --- save ----------------------------------------------------------------- */

tg_status tg_save_npy(tg_tape *tp, const tg_tensor *t, const char *path) {
  if (!t || !path) {
    tg__fail(tp, TG_ERR_NULL, "%s: %s is NULL", SAVE, !t ? "tensor" : "path");
    return TG_ERR_NULL;
  }
  /* Version 1.0: the header length fits 2 bytes easily (8 dimensions of at
   * most 20 digits each). */
  char head[512];
  int n = snprintf(head, sizeof head,
                   "{'descr': '%s', 'fortran_order': False, "
                   "'shape': (",
                   t->dtype == TG_F64 ? "<f8" : "<f4");
  for (int d = 0; d < t->ndim; d++)
    n += snprintf(head + n, sizeof head - (size_t)n, "%s%lld", d ? ", " : "",
                  (long long)t->shape[d]);
  n += snprintf(head + n, sizeof head - (size_t)n, "%s), }",
                t->ndim == 1 ? "," : "");
  /* Pad with spaces, then '\n', to make the preamble a multiple of 64. */
  while ((10 + n + 1) % 64)
    head[n++] = ' ';
  head[n++] = '\n';
  unsigned char pre[10];
  memcpy(pre, MAGIC, 6);
  pre[6] = 1;
  pre[7] = 0;
  tg__put_le(pre + 8, (uint64_t)n, 2);

  size_t es = tg_dtype_size(t->dtype), bytes = (size_t)t->numel * es;
  void *data = tg__malloc(bytes);
  if (!data) {
    tg__io_fail(tp, TG_ERR_NOMEM, SAVE, path, "out of memory");
    return TG_ERR_NOMEM;
  }
  tg_copy_out(t, data); /* row-major, whatever t's strides */
  if (!tg__host_is_le()) tg__swap_bytes(data, (size_t)t->numel, es);
  tg__out o;
  if (!tg__out_open(&o, tp, SAVE, path)) {
    tg__free(data);
    return o.err;
  }
  tg__out_write(&o, pre, sizeof pre);
  tg__out_write(&o, head, (size_t)n);
  tg__out_write(&o, data, bytes);
  tg__free(data);
  return tg__out_close(&o);
}

/* --- the header ----------------------------------------------------------- */

typedef struct pyparse {
  const char *start, *p, *end;
  tg_tape *tp;
  const char *path;
  bool failed;
} pyparse;

static bool pfail(pyparse *ps, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

static bool pfail(pyparse *ps, const char *fmt, ...) {
  if (ps->failed) return false;
  ps->failed = true;
  char msg[300];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  tg__io_fail(ps->tp, TG_ERR_ARG, LOAD, ps->path, "bad header at byte %td: %s",
              ps->p - ps->start, msg);
  return false;
}

static void pskip(pyparse *ps) {
  while (ps->p < ps->end &&
         (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r'))
    ps->p++;
}

static bool paccept(pyparse *ps, char c) {
  pskip(ps);
  if (ps->p < ps->end && *ps->p == c) {
    ps->p++;
    return true;
  }
  return false;
}

static bool pexpect(pyparse *ps, char c) {
  if (paccept(ps, c)) return true;
  if (ps->p >= ps->end) return pfail(ps, "expected '%c', found the end", c);
  return pfail(ps, "expected '%c', found '%c'", c, *ps->p);
}

/* A quoted Python string without escapes ('<f4' or "shape") into out. */
static bool pstring(pyparse *ps, char *out, size_t size) {
  pskip(ps);
  if (ps->p >= ps->end || (*ps->p != '\'' && *ps->p != '"'))
    return pfail(ps, "expected a quoted string");
  char q = *ps->p++;
  size_t n = 0;
  while (ps->p < ps->end && *ps->p != q) {
    if (*ps->p == '\\' || *ps->p == '\n')
      return pfail(ps, "unexpected character in a string");
    if (n + 1 < size) out[n++] = *ps->p;
    ps->p++;
  }
  if (ps->p >= ps->end) return pfail(ps, "a string is not closed");
  ps->p++;
  out[n] = 0;
  return true;
}

static bool pword(pyparse *ps, const char *w) {
  size_t n = strlen(w);
  if ((size_t)(ps->end - ps->p) < n || memcmp(ps->p, w, n)) return false;
  ps->p += n;
  return true;
}

/* A tuple of non-negative integers: (), (n,), (a, b) or (a, b,); Python 2
 * writers may add an 'L' to each. */
static bool pshape(pyparse *ps, int *ndim, int64_t *shape) {
  if (!pexpect(ps, '(')) return false;
  *ndim = 0;
  bool comma = false;
  while (!paccept(ps, ')')) {
    if (*ndim > 0 && !comma) return pfail(ps, "expected ',' or ')'");
    pskip(ps);
    if (ps->p >= ps->end || *ps->p < '0' || *ps->p > '9')
      return pfail(ps, "the shape must hold non-negative integers");
    if (*ndim == TG_MAX_DIMS)
      return pfail(ps, "more than %d dimensions", TG_MAX_DIMS);
    int64_t v = 0;
    while (ps->p < ps->end && *ps->p >= '0' && *ps->p <= '9') {
      int d = *ps->p++ - '0';
      if (v > (INT64_MAX - d) / 10) return pfail(ps, "a size is too large");
      v = v * 10 + d;
    }
    if (ps->p < ps->end && *ps->p == 'L') ps->p++;
    shape[(*ndim)++] = v;
    comma = paccept(ps, ',');
  }
  /* Python: (3) is the number 3, a tuple of one needs its comma. */
  if (*ndim == 1 && !comma)
    return pfail(ps, "a shape of one dimension is written (n,)");
  return true;
}

typedef struct npy_header {
  char descr[32];
  bool fortran;
  int ndim;
  int64_t shape[TG_MAX_DIMS];
} npy_header;

/* The dict, with exactly the keys descr, fortran_order and shape (numpy
 * refuses others), then only white space. */
static bool parse_dict(pyparse *ps, npy_header *h) {
  bool seen[3] = {false, false, false};
  if (!pexpect(ps, '{')) return false;
  while (!paccept(ps, '}')) {
    char key[32];
    if (!pstring(ps, key, sizeof key) || !pexpect(ps, ':')) return false;
    pskip(ps);
    int k = !strcmp(key, "descr")           ? 0
            : !strcmp(key, "fortran_order") ? 1
            : !strcmp(key, "shape")         ? 2
                                            : -1;
    if (k < 0) return pfail(ps, "unknown key '%s'", key);
    if (seen[k]) return pfail(ps, "key '%s' appears twice", key);
    seen[k] = true;
    bool ok;
    if (k == 0) {
      if (ps->p < ps->end && *ps->p != '\'' && *ps->p != '"')
        return pfail(ps, "descr is not a plain dtype string (structured "
                         "arrays are not supported)");
      ok = pstring(ps, h->descr, sizeof h->descr);
    } else if (k == 1) {
      h->fortran = pword(ps, "True");
      ok = h->fortran || pword(ps, "False") ||
           pfail(ps, "fortran_order must be True or False");
    } else
      ok = pshape(ps, &h->ndim, h->shape);
    if (!ok) return false;
    if (!paccept(ps, ',')) {
      if (!pexpect(ps, '}')) return false;
      break;
    }
  }
  pskip(ps);
  if (ps->p != ps->end)
    return pfail(ps, "unexpected '%c' after the dict", *ps->p);
  for (int k = 0; k < 3; k++)
    if (!seen[k])
      return pfail(ps, "the key '%s' is missing",
                   k == 0   ? "descr"
                   : k == 1 ? "fortran_order"
                            : "shape");
  return true;
}

/* --- load ----------------------------------------------------------------- */

tg_tensor *tg_load_npy(tg_tape *tp, const char *path) {
  if (!path) return tg__fail(tp, TG_ERR_NULL, "%s: path is NULL", LOAD);
  unsigned char *buf;
  size_t size;
  if (tg__read_file(tp, LOAD, path, &buf, &size) != TG_OK) return NULL;
  tg_tensor *t = NULL;
  npy_header h = {.ndim = 0};
  if (size < 10 || memcmp(buf, MAGIC, 6)) {
    tg__io_fail(tp, TG_ERR_ARG, LOAD, path,
                "not a .npy file (it does not start with \\x93NUMPY)");
    goto done;
  }
  int major = buf[6], minor = buf[7];
  if (major < 1 || major > 3 || minor != 0) {
    tg__io_fail(tp, TG_ERR_ARG, LOAD, path,
                "format version %d.%d is not supported (1.0 to 3.0 are)", major,
                minor);
    goto done;
  }
  size_t lenbytes = major == 1 ? 2 : 4;
  if (size < 8 + lenbytes) {
    tg__io_fail(tp, TG_ERR_ARG, LOAD, path,
                "the file ends inside the header length");
    goto done;
  }
  uint64_t hlen = tg__get_le(buf + 8, (int)lenbytes);
  size_t pre = 8 + lenbytes;
  if (hlen > size - pre) {
    tg__io_fail(tp, TG_ERR_ARG, LOAD, path,
                "header length %llu is past the end of the file (%zu bytes)",
                (unsigned long long)hlen, size);
    goto done;
  }
  pyparse ps = {(const char *)buf + pre,
                (const char *)buf + pre,
                (const char *)buf + pre + hlen,
                tp,
                path,
                false};
  if (!parse_dict(&ps, &h)) goto done;
  tg_dtype dt;
  if (!strcmp(h.descr, "<f4"))
    dt = TG_F32;
  else if (!strcmp(h.descr, "<f8"))
    dt = TG_F64;
  else {
    tg__io_fail(tp, TG_ERR_DTYPE, LOAD, path,
                "dtype '%s' is not supported (tapegrad reads '<f4' and '<f8')",
                h.descr);
    goto done;
  }
  if (h.fortran) {
    tg__io_fail(tp, TG_ERR_ARG, LOAD, path,
                "the array is in Fortran order; only C order is supported");
    goto done;
  }
  uint64_t need = tg_dtype_size(dt);
  for (int d = 0; d < h.ndim; d++) {
    uint64_t s = (uint64_t)h.shape[d];
    need = s && need > UINT64_MAX / s ? UINT64_MAX : need * s;
  }
  size_t have = size - pre - (size_t)hlen;
  if (need != have) {
    char sh[96];
    tg__io_fail(tp, TG_ERR_ARG, LOAD, path,
                "the data is %zu bytes but shape %s of '%s' needs %llu%s", have,
                tg__shape_fmt(h.ndim, h.shape, sh, sizeof sh), h.descr,
                (unsigned long long)need,
                have < need ? " (is the file truncated?)" : "");
    goto done;
  }
  t = tg_tensor_new(tp, dt, h.ndim, h.shape);
  if (!t) goto done;
  if (have) memcpy(t->data, buf + pre + hlen, have);
  if (!tg__host_is_le())
    tg__swap_bytes(t->data, (size_t)t->numel, tg_dtype_size(dt));
done:
  tg__free(buf);
  return t;
}
