/* Fuzzes tg_load_idx: the bytes are an IDX file (or a gzipped one: the
 * loader goes through zlib, which recognises gzip by its magic bytes).
 *
 * Properties checked:
 *   - the load returns a well-formed heap tensor, or NULL with an error and
 *     a message on the tape;
 *   - for plain (not gzipped) input, the outcome and every value agree with
 *     a reference reading of the format written here from its description;
 *   - the same bytes gzipped by this target load to the same result through
 *     the gzip path, and a gzip stream cut short either fails cleanly or
 *     gives what the header and the bytes before the cut hold;
 *   - nothing leaks and nothing reads out of bounds. */
#include <math.h>
#include <zlib.h>

#include "fuzz_common.h"

/* --- a reference reader --------------------------------------------------- */

static size_t elem_size(int code) {
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

static uint64_t be(const uint8_t *p, int n) {
  uint64_t v = 0;
  for (int i = 0; i < n; i++)
    v = v << 8 | p[i];
  return v;
}

static double elem(const uint8_t *p, int code) {
  switch (code) {
  case 0x08: return p[0];
  case 0x09: return (int8_t)p[0];
  case 0x0B: return (int16_t)(uint16_t)be(p, 2);
  case 0x0C: return (int32_t)(uint32_t)be(p, 4);
  case 0x0D: {
    uint32_t u = (uint32_t)be(p, 4);
    float f;
    memcpy(&f, &u, 4);
    return f;
  }
  default: {
    uint64_t u = be(p, 8);
    double d;
    memcpy(&d, &u, 8);
    return d;
  }
  }
}

/* 1 when the bytes are a valid IDX file (shape into shape), 0 when not,
 * -1 when the shape is so large that either answer is acceptable. */
static int ref_parse(const uint8_t *d, size_t n, int *code, int *ndim,
                     int64_t *shape, size_t *off) {
  if (n < 4 || d[0] || d[1] || !elem_size(d[2])) return 0;
  *code = d[2];
  *ndim = d[3];
  if (*ndim < 1 || *ndim > TG_MAX_DIMS || n < 4 + 4 * (size_t)*ndim) return 0;
  /* The element count, unless the sides other than 0 multiply past 2^40. */
  uint64_t numel = 1;
  bool huge = false, zero = false;
  for (int k = 0; k < *ndim; k++) {
    uint64_t s = be(d + 4 + 4 * k, 4);
    shape[k] = (int64_t)s;
    if (!s)
      zero = true;
    else if (numel > ((uint64_t)1 << 40) / s)
      huge = true;
    else
      numel *= s;
  }
  if (zero) numel = 0;
  *off = 4 + 4 * (size_t)*ndim;
  bool fits = (zero || !huge) && numel * elem_size(*code) == n - *off;
  /* [2^32-1, 2^32-1, 0] holds nothing, but the loader may call it too
   * large; either answer is acceptable then. */
  if (huge) return fits ? -1 : 0;
  return fits;
}

static bool same_bits(double a, double b) {
  return a == b || (isnan(a) && isnan(b));
}

/* --- the target ----------------------------------------------------------- */

/* The gzip stream of the bytes (level from the input), or NULL. */
static uint8_t *gzip(const uint8_t *data, size_t size, int level,
                     size_t *out_size) {
  z_stream z;
  memset(&z, 0, sizeof z);
  if (deflateInit2(&z, level, Z_DEFLATED, 16 + 15, 8, Z_DEFAULT_STRATEGY) !=
      Z_OK)
    return NULL;
  uLong cap = deflateBound(&z, (uLong)size);
  uint8_t *out = malloc(cap);
  if (!out) {
    deflateEnd(&z);
    return NULL;
  }
  z.next_in = (Bytef *)data;
  z.avail_in = (uInt)size;
  z.next_out = out;
  z.avail_out = (uInt)cap;
  int rc = deflate(&z, Z_FINISH);
  *out_size = z.total_out;
  deflateEnd(&z);
  if (rc != Z_STREAM_END) {
    free(out);
    return NULL;
  }
  return out;
}

/* Loads path; checks the error contract; returns the tensor or NULL. */
static tg_tensor *load(tg_tape *tp, const char *path, tg_dtype dtype,
                       double scale, const char *what) {
  tg_clear_error(tp);
  tg_tensor *t = tg_load_idx(tp, path, dtype, scale);
  if (!t) {
    fuzz_expect_error(tp, what);
    return NULL;
  }
  fuzz_expect_no_error(tp, what);
  fuzz_check_tensor(t, what);
  if (t->dtype != dtype) fuzz_fail("%s: wrong dtype", what);
  if (t->numel > 0 && !tg_is_contiguous(t))
    fuzz_fail("%s: a strided tensor", what);
  return t;
}

/* a and b hold the same shape and values (b converted as its dtype says
 * from a's values times scale). */
static void expect_same(const tg_tensor *a, const tg_tensor *b, double scale,
                        const char *what) {
  bool same = a->ndim == b->ndim;
  for (int d = 0; same && d < a->ndim; d++)
    same = a->shape[d] == b->shape[d];
  if (!same) fuzz_fail("%s: the shapes differ", what);
  for (int64_t i = 0; i < a->numel; i++) {
    double v = tg_get_flat(a, i) * scale;
    double want = b->dtype == TG_F32 ? (double)(float)v : v;
    if (!same_bits(want, tg_get_flat(b, i)))
      fuzz_fail("%s: element %lld is %g, expected %g", what, (long long)i,
                tg_get_flat(b, i), want);
  }
}

/* A loaded t holds what the header at the start of the bytes announces:
 * its shape, and the elements after it times scale (in t's dtype). A prefix
 * of the bytes may have been loaded (a cut gzip stream), but never more
 * than there is. */
static void check_bytes(const tg_tensor *t, const uint8_t *d, size_t n,
                        double scale, const char *what) {
  if (n < 4 || d[0] || d[1] || !elem_size(d[2]) || d[3] != t->ndim ||
      n < 4 + 4 * (size_t)t->ndim)
    fuzz_fail("%s: loaded from a header that is not valid", what);
  for (int k = 0; k < t->ndim; k++)
    if (t->shape[k] != (int64_t)be(d + 4 + 4 * k, 4))
      fuzz_fail("%s: the shape differs from the header", what);
  size_t es = elem_size(d[2]), off = 4 + 4 * (size_t)t->ndim;
  if ((uint64_t)t->numel > (n - off) / es)
    fuzz_fail("%s: %lld elements from %zu data bytes", what,
              (long long)t->numel, n - off);
  for (int64_t i = 0; i < t->numel; i++) {
    double v = elem(d + off + (size_t)i * es, d[2]) * scale;
    double want = t->dtype == TG_F32 ? (double)(float)v : v;
    if (!same_bits(want, tg_get_flat(t, i)))
      fuzz_fail("%s: element %lld is %g, the file holds %g", what, (long long)i,
                tg_get_flat(t, i), want);
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *plain = fuzz_tmp_path(0, "idx", "");
  const char *zipped = fuzz_tmp_path(1, "idx", ".gz");
  fuzz_write_file(plain, data, size);
  tg_tape *tp = tg_tape_new();
  if (!tp) fuzz_fail("tg_tape_new failed");

  /* The bytes as they are, in f64 with scale 1: exact values. */
  tg_tensor *t = load(tp, plain, TG_F64, 1.0, "tg_load_idx");
  bool is_gzip = size >= 2 && data[0] == 0x1f && data[1] == 0x8b;
  if (!is_gzip) {
    int code = 0, ndim = 0;
    int64_t shape[TG_MAX_DIMS];
    size_t off = 0;
    int ok = ref_parse(data, size, &code, &ndim, shape, &off);
    if (ok == 1 && !t)
      fuzz_fail("tg_load_idx refused a valid file: %s", tg_errmsg(tp));
    if (ok == 0 && t) fuzz_fail("tg_load_idx accepted an invalid file");
    if (t) check_bytes(t, data, size, 1.0, "tg_load_idx");
  }

  /* The same bytes gzipped: the same outcome through zlib's inflate. */
  if (!is_gzip && size <= 1 << 16) {
    size_t zsize = 0;
    uint8_t *z = gzip(data, size, size ? data[0] % 10 : 6, &zsize);
    if (!z) fuzz_fail("gzip compression failed");
    fuzz_write_file(zipped, z, zsize);
    tg_tensor *u = load(tp, zipped, TG_F64, 1.0, "tg_load_idx (gzip)");
    if (!t != !u)
      fuzz_fail("gzipped, the file %s", t ? "fails to load" : "loads");
    if (t) expect_same(t, u, 1.0, "tg_load_idx (gzip)");
    tg_tensor_free(u);
    /* Cut short somewhere (always losing at least the 8-byte trailer). */
    size_t cut = size ? (size_t)data[size - 1] * 131u % zsize : zsize / 2;
    if (cut > zsize - 1) cut = zsize - 1;
    fuzz_write_file(zipped, z, cut);
    u = load(tp, zipped, TG_F32, 0.5, "tg_load_idx (cut gzip)");
    if (u) check_bytes(u, data, size, 0.5, "tg_load_idx (cut gzip)");
    tg_tensor_free(u);
    free(z);
  }
  tg_tensor_free(t);
  tg_tape_free(tp);
  return 0;
}
