/* IDX files, the format of MNIST and Fashion-MNIST.
 *
 * The format (http://yann.lecun.com/exdb/mnist/, "THE IDX FILE FORMAT"):
 *
 *   4 bytes   the magic number: two zero bytes, the data type code
 *               0x08 unsigned byte   0x09 signed byte   0x0B short (2 bytes)
 *               0x0C int (4 bytes)   0x0D float (4)     0x0E double (8)
 *             and the number of dimensions
 *   4 * ndim  each dimension's size, a 32-bit big-endian integer
 *   the rest  the data in C order, each element big-endian
 *
 * The files are usually distributed gzipped. zlib's gzopen/gzread read a
 * gzip stream and, transparently, a plain file too, so both go through
 * them; the data is read into a buffer first (never more than the header
 * promises) and the tensor made only once it is all there. */
#include <errno.h>
#include <zlib.h>

#include "io_internal.h"

static const char *const LOAD = "tg_load_idx";

/* Element size of a type code, 0 for an unknown code. */
static size_t type_size(int code) {
  switch (code) {
  case 0x08:
  case 0x09: return 1;
  case 0x0B: return 2;
  case 0x0C:
  case 0x0D: return 4;
  case 0x0E: return 8;
  default: return 0;
  }
}

/* The big-endian element of type code at p. */
static double element(const unsigned char *p, int code) {
  switch (code) {
  case 0x08: return p[0];
  case 0x09: return (int8_t)p[0];
  case 0x0B: return (int16_t)(uint16_t)tg__get_be(p, 2);
  case 0x0C: return (int32_t)(uint32_t)tg__get_be(p, 4);
  case 0x0D: {
    uint32_t bits = (uint32_t)tg__get_be(p, 4);
    float f;
    memcpy(&f, &bits, 4);
    return f;
  }
  default: {
    double d;
    uint64_t u = tg__get_be(p, 8);
    memcpy(&d, &u, 8);
    return d;
  }
  }
}

typedef struct reader {
  gzFile f;
  tg_tape *tp;
  const char *path;
  bool failed;
} reader;

/* Up to n bytes into buf; the count read (short at the end of the file).
 * A read error sets r->failed with a message. */
static size_t read_some(reader *r, void *buf, size_t n) {
  size_t got = 0;
  while (got < n) {
    size_t chunk = n - got > (1u << 30) ? (1u << 30) : n - got;
    int k = gzread(r->f, (unsigned char *)buf + got, (unsigned)chunk);
    if (k < 0) {
      int zerr;
      const char *msg = gzerror(r->f, &zerr);
      tg__io_fail(r->tp, TG_ERR_STATE, LOAD, r->path, "cannot read: %s",
                  zerr == Z_ERRNO ? strerror(errno) : msg);
      r->failed = true;
      return got;
    }
    if (k == 0) break;
    got += (size_t)k;
  }
  return got;
}

/* " (the gzip stream is cut short)" when zlib saw a truncated stream. */
static const char *truncation_note(reader *r) {
  int zerr;
  gzerror(r->f, &zerr);
  return zerr == Z_BUF_ERROR ? " (the gzip stream is cut short)" : "";
}

/* All `need` data bytes into a new buffer, grown as data arrives so that a
 * header promising more than the file holds costs no more memory than the
 * file. NULL with an error on failure. */
static unsigned char *read_data(reader *r, uint64_t need) {
  size_t cap = need < (1u << 20) ? (size_t)need : (1u << 20), got = 0;
  unsigned char *buf = tg__malloc(cap);
  while (buf && got < need) {
    if (got == cap) {
      size_t grown = cap * 2 < need ? cap * 2 : (size_t)need;
      unsigned char *nb = tg__malloc(grown);
      if (nb) memcpy(nb, buf, got);
      tg__free(buf);
      buf = nb;
      cap = grown;
      if (!buf) break;
    }
    size_t want = cap - got, k = read_some(r, buf + got, want);
    got += k;
    if (r->failed) break;
    if (k < want) { /* the end of the file */
      tg__io_fail(r->tp, TG_ERR_ARG, LOAD, r->path,
                  "the file ends after %zu of %llu data bytes%s", got,
                  (unsigned long long)need, truncation_note(r));
      r->failed = true;
      break;
    }
  }
  if (!buf) {
    tg__io_fail(r->tp, TG_ERR_NOMEM, LOAD, r->path,
                "out of memory reading %llu bytes", (unsigned long long)need);
    return NULL;
  }
  if (r->failed) {
    tg__free(buf);
    return NULL;
  }
  return buf;
}

/* The tensor of dtype holding every element times scale. */
static tg_tensor *convert(tg_tape *tp, const unsigned char *raw, int code,
                          int ndim, const int64_t *shape, tg_dtype dtype,
                          double scale) {
  tg_tensor *t = tg_tensor_new(tp, dtype, ndim, shape);
  if (!t) return NULL;
  size_t es = type_size(code);
  if (code == 0x08) { /* the common case (pixels, labels): a table */
    double lut[256];
    for (int v = 0; v < 256; v++)
      lut[v] = v * scale;
    if (dtype == TG_F32)
      for (int64_t i = 0; i < t->numel; i++)
        ((float *)t->data)[i] = (float)lut[raw[i]];
    else
      for (int64_t i = 0; i < t->numel; i++)
        ((double *)t->data)[i] = lut[raw[i]];
    return t;
  }
  for (int64_t i = 0; i < t->numel; i++) {
    double v = element(raw + (size_t)i * es, code) * scale;
    if (dtype == TG_F32)
      ((float *)t->data)[i] = (float)v;
    else
      ((double *)t->data)[i] = v;
  }
  return t;
}

tg_tensor *tg_load_idx(tg_tape *tp, const char *path, tg_dtype dtype,
                       double scale) {
  if (!path) return tg__fail(tp, TG_ERR_NULL, "%s: path is NULL", LOAD);
  if (dtype != TG_F32 && dtype != TG_F64)
    return tg__fail(tp, TG_ERR_DTYPE, "%s: %s: unknown dtype %d", LOAD, path,
                    (int)dtype);
  errno = 0;
  reader r = {gzopen(path, "rb"), tp, path, false};
  if (!r.f) {
    tg__io_fail(tp, errno ? TG_ERR_STATE : TG_ERR_NOMEM, LOAD, path,
                "cannot open: %s", errno ? strerror(errno) : "out of memory");
    return NULL;
  }
  gzbuffer(r.f, 1u << 17);
  tg_tensor *t = NULL;
  unsigned char *raw = NULL;
  unsigned char head[4 + 4 * 255];
  size_t got = read_some(&r, head, 4);
  if (r.failed) goto done;
  if (got < 4) {
    tg__io_fail(tp, TG_ERR_ARG, LOAD, path,
                "the file ends after %zu of the 4 magic bytes%s", got,
                truncation_note(&r));
    goto done;
  }
  int code = head[2], ndim = head[3];
  if (head[0] || head[1]) {
    tg__io_fail(tp, TG_ERR_ARG, LOAD, path,
                "not an IDX file: the magic number 0x%02x%02x%02x%02x does not "
                "start with two zero bytes",
                head[0], head[1], head[2], head[3]);
    goto done;
  }
  if (!type_size(code)) {
    tg__io_fail(tp, TG_ERR_ARG, LOAD, path,
                "unknown data type code 0x%02x (0x08, 0x09, 0x0B-0x0E are "
                "defined)",
                code);
    goto done;
  }
  if (ndim < 1 || ndim > TG_MAX_DIMS) {
    tg__io_fail(tp, TG_ERR_ARG, LOAD, path, "%d dimensions (1 to %d supported)",
                ndim, TG_MAX_DIMS);
    goto done;
  }
  got = read_some(&r, head + 4, 4 * (size_t)ndim);
  if (r.failed) goto done;
  if (got < 4 * (size_t)ndim) {
    tg__io_fail(tp, TG_ERR_ARG, LOAD, path,
                "the file ends after %zu of %d header bytes%s", 4 + got,
                4 + 4 * ndim, truncation_note(&r));
    goto done;
  }
  int64_t shape[TG_MAX_DIMS];
  uint64_t need = type_size(code), numel = 1;
  for (int d = 0; d < ndim; d++) {
    shape[d] = (int64_t)tg__get_be(head + 4 + 4 * d, 4);
    numel *= (uint64_t)shape[d]; /* at most 2^32 per factor */
    if (numel > ((uint64_t)1 << 48)) {
      char sh[96];
      tg__io_fail(tp, TG_ERR_ARG, LOAD, path, "the shape %s is too large",
                  tg__shape_fmt(d + 1, shape, sh, sizeof sh));
      goto done;
    }
  }
  need *= numel;
  if (need > SIZE_MAX / 4) {
    tg__io_fail(tp, TG_ERR_NOMEM, LOAD, path,
                "%llu data bytes do not fit in memory",
                (unsigned long long)need);
    goto done;
  }
  raw = read_data(&r, need);
  if (!raw) goto done;
  unsigned char extra;
  if (read_some(&r, &extra, 1) && !r.failed) {
    tg__io_fail(tp, TG_ERR_ARG, LOAD, path,
                "the file goes on after the %llu data bytes the header "
                "announces",
                (unsigned long long)need);
    goto done;
  }
  if (r.failed) goto done;
  /* zlib reports a stream that ends inside its 8-byte trailer (the CRC and
   * length that vouch for the data) only as a soft error after the last
   * read; the data cannot be trusted then. */
  if (*truncation_note(&r)) {
    tg__io_fail(tp, TG_ERR_ARG, LOAD, path,
                "the gzip stream is cut short after the %llu data bytes (its "
                "check sum is missing)",
                (unsigned long long)need);
    goto done;
  }
  t = convert(tp, raw, code, ndim, shape, dtype, scale);
done:
  tg__free(raw);
  gzclose(r.f);
  return t;
}
