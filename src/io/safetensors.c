/* safetensors files: save and load a parameter registry.
 *
 * The format (https://huggingface.co/docs/safetensors, and the reference
 * reader huggingface/safetensors, safetensors/src/tensor.rs):
 *
 *   8 bytes   N, an unsigned 64-bit little-endian integer: the header size
 *   N bytes   the header: UTF-8 JSON, an object starting with '{' that maps
 *             each tensor's name to
 *               {"dtype": "F32", "shape": [2, 3], "data_offsets": [b, e]}
 *             (offsets in bytes, relative to the first byte after the
 *             header), plus an optional "__metadata__" object of string to
 *             string. Writers pad it with spaces to a multiple of 8 bytes.
 *   the rest  the data: every tensor little-endian in C order. The reference
 *             reader insists that the [b, e) ranges tile the rest of the
 *             file exactly (no gap, no overlap, nothing after the last), and
 *             so does this one.
 *
 * Loading is all-or-nothing: the whole file is read and every entry checked
 * against the format and against the registry before the first byte is
 * copied into a parameter. */
#include <stdarg.h>
#include <stdlib.h>

#include "io_internal.h"

static const char *const LOAD = "tg_load_safetensors";
static const char *const SAVE = "tg_save_safetensors";

/* --- UTF-8 ---------------------------------------------------------------- */

/* Length of the well-formed UTF-8 sequence at p (at most n bytes left), or
 * 0 when it is malformed: overlong forms, surrogates and values past
 * U+10FFFF are rejected (RFC 3629). */
static size_t utf8_seq(const unsigned char *p, size_t n) {
  unsigned c = p[0];
  size_t len;
  unsigned lo = 0x80, hi = 0xBF; /* range of the second byte */
  if (c < 0x80) return 1;
  if (c >= 0xC2 && c <= 0xDF)
    len = 2;
  else if (c >= 0xE0 && c <= 0xEF) {
    len = 3;
    if (c == 0xE0) lo = 0xA0; /* overlong */
    if (c == 0xED) hi = 0x9F; /* surrogates */
  } else if (c >= 0xF0 && c <= 0xF4) {
    len = 4;
    if (c == 0xF0) lo = 0x90; /* overlong */
    if (c == 0xF4) hi = 0x8F; /* past U+10FFFF */
  } else
    return 0;
  if (n < len || p[1] < lo || p[1] > hi) return 0;
  for (size_t i = 2; i < len; i++)
    if (p[i] < 0x80 || p[i] > 0xBF) return 0;
  return len;
}

static bool utf8_valid(const char *s) {
  const unsigned char *p = (const unsigned char *)s;
  size_t n = strlen(s);
  while (n > 0) {
    size_t k = utf8_seq(p, n);
    if (!k) return false;
    p += k;
    n -= k;
  }
  return true;
}

/* --- a strict JSON reader for the header ---------------------------------- */

/* Exactly what a header needs (RFC 8259): objects, strings with every
 * escape, and arrays of non-negative integers. Anything else is an error
 * naming the byte where it was found. */
typedef struct json {
  const unsigned char *start, *p, *end;
  tg_tape *tp;
  const char *path;
  tg_status code; /* TG_OK until the first failure */
} json;

static bool jfail(json *js, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

static bool jfail(json *js, const char *fmt, ...) {
  if (js->code != TG_OK) return false;
  js->code = TG_ERR_ARG;
  char msg[300];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  tg__io_fail(js->tp, TG_ERR_ARG, LOAD, js->path,
              "bad JSON header at byte %td of %td: %s", js->p - js->start,
              js->end - js->start, msg);
  return false;
}

static bool jnomem(json *js) {
  if (js->code != TG_OK) return false;
  js->code = TG_ERR_NOMEM;
  tg__io_fail(js->tp, TG_ERR_NOMEM, LOAD, js->path,
              "out of memory reading the header");
  return false;
}

static void skip_ws(json *js) {
  while (js->p < js->end &&
         (*js->p == ' ' || *js->p == '\t' || *js->p == '\n' || *js->p == '\r'))
    js->p++;
}

/* Skips white space, then consumes c if it comes next. */
static bool accept(json *js, char c) {
  skip_ws(js);
  if (js->p < js->end && *js->p == (unsigned char)c) {
    js->p++;
    return true;
  }
  return false;
}

static bool expect(json *js, char c) {
  if (accept(js, c)) return true;
  if (js->p >= js->end) return jfail(js, "expected '%c', found the end", c);
  return jfail(js, "expected '%c', found '%c'", c, *js->p);
}

static int hex4(const unsigned char *p) {
  int v = 0;
  for (int i = 0; i < 4; i++) {
    int c = p[i], d;
    if (c >= '0' && c <= '9')
      d = c - '0';
    else if (c >= 'a' && c <= 'f')
      d = c - 'a' + 10;
    else if (c >= 'A' && c <= 'F')
      d = c - 'A' + 10;
    else
      return -1;
    v = v * 16 + d;
  }
  return v;
}

/* A "\uXXXX" escape (p after the 'u'), joining a surrogate pair; -1 when
 * malformed. Advances p. */
static long unicode_escape(json *js) {
  if (js->end - js->p < 4 || hex4(js->p) < 0) return -1;
  long cp = hex4(js->p);
  js->p += 4;
  if (cp >= 0xDC00 && cp <= 0xDFFF) return -1; /* lone low surrogate */
  if (cp >= 0xD800 && cp <= 0xDBFF) {
    if (js->end - js->p < 6 || js->p[0] != '\\' || js->p[1] != 'u') return -1;
    int lo = hex4(js->p + 2);
    if (lo < 0xDC00 || lo > 0xDFFF) return -1;
    js->p += 6;
    cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
  }
  return cp;
}

/* A string, decoded into a new NUL-terminated buffer (free with tg__free).
 * Control characters, malformed UTF-8 and "\u0000" (tapegrad's names are C
 * strings) are rejected. */
static char *parse_string(json *js) {
  if (!expect(js, '"')) return NULL;
  const unsigned char *q = js->p;
  while (q < js->end && *q != '"')
    q += *q == '\\' && q + 1 < js->end ? 2 : 1;
  if (q >= js->end) {
    jfail(js, "a string is not closed");
    return NULL;
  }
  /* Decoding never makes a string longer: an escape of 6 bytes gives at
   * most 3, a pair of 12 at most 4. */
  char *out = tg__malloc((size_t)(q - js->p) + 1);
  if (!out) {
    jnomem(js);
    return NULL;
  }
  size_t n = 0;
  while (*js->p != '"') {
    unsigned c = *js->p;
    if (c < 0x20) {
      jfail(js, "control character 0x%02x in a string", c);
      goto bad;
    }
    if (c >= 0x80) {
      size_t k = utf8_seq(js->p, (size_t)(js->end - js->p));
      if (!k) {
        jfail(js, "malformed UTF-8 in a string");
        goto bad;
      }
      memcpy(out + n, js->p, k);
      n += k;
      js->p += k;
      continue;
    }
    js->p++;
    if (c != '\\') {
      out[n++] = (char)c;
      continue;
    }
    c = *js->p++;
    switch (c) {
    case '"': out[n++] = '"'; break;
    case '\\': out[n++] = '\\'; break;
    case '/': out[n++] = '/'; break;
    case 'b': out[n++] = '\b'; break;
    case 'f': out[n++] = '\f'; break;
    case 'n': out[n++] = '\n'; break;
    case 'r': out[n++] = '\r'; break;
    case 't': out[n++] = '\t'; break;
    case 'u': {
      long cp = unicode_escape(js);
      if (cp < 0) {
        jfail(js, "malformed \\u escape");
        goto bad;
      }
      if (cp == 0) {
        jfail(js, "\\u0000 in a string");
        goto bad;
      }
      if (cp < 0x80)
        out[n++] = (char)cp;
      else if (cp < 0x800) {
        out[n++] = (char)(0xC0 | (cp >> 6));
        out[n++] = (char)(0x80 | (cp & 0x3F));
      } else if (cp < 0x10000) {
        out[n++] = (char)(0xE0 | (cp >> 12));
        out[n++] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[n++] = (char)(0x80 | (cp & 0x3F));
      } else {
        out[n++] = (char)(0xF0 | (cp >> 18));
        out[n++] = (char)(0x80 | ((cp >> 12) & 0x3F));
        out[n++] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[n++] = (char)(0x80 | (cp & 0x3F));
      }
      break;
    }
    default: jfail(js, "unknown escape '\\%c'", c); goto bad;
    }
  }
  js->p++; /* the closing quote */
  out[n] = 0;
  return out;
bad:
  tg__free(out);
  return NULL;
}

/* A non-negative integer without sign, fraction or exponent. */
static bool parse_uint(json *js, const char *what, int64_t *out) {
  skip_ws(js);
  if (js->p < js->end && *js->p == '-')
    return jfail(js, "%s has a negative entry", what);
  if (js->p >= js->end || *js->p < '0' || *js->p > '9')
    return jfail(js, "%s must hold integers", what);
  if (*js->p == '0' && js->p + 1 < js->end && js->p[1] >= '0' &&
      js->p[1] <= '9')
    return jfail(js, "a number with a leading zero in %s", what);
  int64_t v = 0;
  while (js->p < js->end && *js->p >= '0' && *js->p <= '9') {
    int d = *js->p - '0';
    if (v > (INT64_MAX - d) / 10)
      return jfail(js, "a number in %s is too large", what);
    v = v * 10 + d;
    js->p++;
  }
  if (js->p < js->end && (*js->p == '.' || *js->p == 'e' || *js->p == 'E'))
    return jfail(js, "%s must hold integers", what);
  *out = v;
  return true;
}

/* [n0, n1, ...] with at most max entries. */
static bool parse_uint_array(json *js, const char *what, int64_t *out, int max,
                             int *count) {
  if (!expect(js, '[')) return false;
  *count = 0;
  if (accept(js, ']')) return true;
  do {
    if (*count == max)
      return jfail(js, "%s has more than %d entries", what, max);
    if (!parse_uint(js, what, &out[(*count)++])) return false;
  } while (accept(js, ','));
  return expect(js, ']');
}

/* --- the header ----------------------------------------------------------- */

typedef struct entry {
  char *name;
  char *dtype; /* as written in the file */
  int ndim;
  int64_t shape[TG_MAX_DIMS];
  int64_t begin, end; /* data_offsets */
  size_t nbytes;      /* what dtype and shape need */
  tg_dtype dt;
} entry;

typedef struct header {
  entry *e;
  int n, cap;
} header;

static void header_free(header *h) {
  for (int i = 0; i < h->n; i++) {
    tg__free(h->e[i].name);
    tg__free(h->e[i].dtype);
  }
  tg__free(h->e);
}

/* "__metadata__": an object of string to string, checked and dropped. */
static bool parse_metadata(json *js) {
  if (!expect(js, '{')) return false;
  if (accept(js, '}')) return true;
  do {
    char *key = parse_string(js);
    if (!key) return false;
    bool ok = expect(js, ':');
    skip_ws(js);
    if (ok && (js->p >= js->end || *js->p != '"'))
      ok = jfail(js, "__metadata__ value of '%s' is not a string", key);
    tg__free(key);
    char *val = ok ? parse_string(js) : NULL;
    if (!val) return false;
    tg__free(val);
  } while (accept(js, ','));
  return expect(js, '}');
}

/* {"dtype": ..., "shape": [...], "data_offsets": [b, e]}, each exactly once
 * and nothing else. */
static bool parse_entry(json *js, entry *e) {
  bool have_shape = false, have_offsets = false;
  if (!expect(js, '{')) return false;
  /* "{}" has no fields: the closing brace is taken once, here or after the
   * last field. */
  if (!accept(js, '}')) {
    do {
      char *key = parse_string(js);
      if (!key) return false;
      bool ok = expect(js, ':');
      if (ok && !strcmp(key, "dtype")) {
        if (e->dtype)
          ok = jfail(js, "tensor '%s' has two dtypes", e->name);
        else
          ok = (e->dtype = parse_string(js)) != NULL;
      } else if (ok && !strcmp(key, "shape")) {
        if (have_shape)
          ok = jfail(js, "tensor '%s' has two shapes", e->name);
        else
          ok = parse_uint_array(js, "shape", e->shape, TG_MAX_DIMS, &e->ndim);
        have_shape = true;
      } else if (ok && !strcmp(key, "data_offsets")) {
        int64_t off[2] = {0, 0};
        int n = 0;
        if (have_offsets)
          ok = jfail(js, "tensor '%s' has two data_offsets", e->name);
        else
          ok = parse_uint_array(js, "data_offsets", off, 2, &n);
        if (ok && n != 2)
          ok = jfail(js, "data_offsets of '%s' must be [begin, end]", e->name);
        e->begin = off[0];
        e->end = off[1];
        have_offsets = true;
      } else if (ok)
        ok = jfail(js, "tensor '%s' has an unknown field '%s'", e->name, key);
      tg__free(key);
      if (!ok) return false;
    } while (accept(js, ','));
    if (!expect(js, '}')) return false;
  }
  if (!e->dtype) return jfail(js, "tensor '%s' has no dtype", e->name);
  if (!have_shape) return jfail(js, "tensor '%s' has no shape", e->name);
  if (!have_offsets)
    return jfail(js, "tensor '%s' has no data_offsets", e->name);
  return true;
}

/* The whole header: { name: entry, ..., "__metadata__": {...} } and then
 * nothing but white space (the writers' padding). */
static bool parse_header(json *js, header *h) {
  bool have_meta = false;
  if (js->p >= js->end || *js->p != '{')
    return jfail(js, "the header does not start with '{'");
  js->p++;
  /* "{}" (a file of no tensors, as tg_save_safetensors writes for an empty
   * registry): the closing brace is taken once, here or after the last
   * entry. */
  if (!accept(js, '}')) {
    do {
      char *name = parse_string(js);
      if (!name) return false;
      if (!expect(js, ':')) {
        tg__free(name);
        return false;
      }
      if (!strcmp(name, "__metadata__")) {
        tg__free(name);
        if (have_meta) return jfail(js, "two __metadata__ objects");
        have_meta = true;
        if (!parse_metadata(js)) return false;
        continue;
      }
      if (h->n == h->cap) {
        int cap = h->cap ? 2 * h->cap : 16;
        entry *grown = tg__malloc(sizeof(entry) * (size_t)cap);
        if (!grown) {
          tg__free(name);
          return jnomem(js);
        }
        if (h->n) memcpy(grown, h->e, sizeof(entry) * (size_t)h->n);
        tg__free(h->e);
        h->e = grown;
        h->cap = cap;
      }
      entry *e = &h->e[h->n++];
      memset(e, 0, sizeof *e);
      e->name = name;
      if (!parse_entry(js, e)) return false;
    } while (accept(js, ','));
    if (!expect(js, '}')) return false;
  }
  skip_ws(js);
  if (js->p != js->end)
    return jfail(js, "unexpected '%c' after the header object", *js->p);
  return true;
}

/* --- checks --------------------------------------------------------------- */

static int by_name(const void *a, const void *b) {
  return strcmp((*(const entry *const *)a)->name,
                (*(const entry *const *)b)->name);
}

static int by_offset(const void *a, const void *b) {
  const entry *x = *(const entry *const *)a, *y = *(const entry *const *)b;
  if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
  return (x->end > y->end) - (x->end < y->end);
}

/* Each entry's dtype, size and offsets, then the names and the ranges
 * against each other. sorted receives the entries ordered by name. */
static tg_status check_entries(tg_tape *tp, const char *path, header *h,
                               uint64_t data_len, entry **sorted) {
  char sh[96];
  for (int i = 0; i < h->n; i++) {
    entry *e = &h->e[i];
    if (!strcmp(e->dtype, "F32"))
      e->dt = TG_F32;
    else if (!strcmp(e->dtype, "F64"))
      e->dt = TG_F64;
    else {
      tg__io_fail(tp, TG_ERR_DTYPE, LOAD, path,
                  "dtype %.40s of '%s' is not supported (tapegrad reads F32 "
                  "and F64)",
                  e->dtype, e->name);
      return TG_ERR_DTYPE;
    }
    uint64_t bytes = tg_dtype_size(e->dt);
    for (int d = 0; d < e->ndim; d++) {
      uint64_t s = (uint64_t)e->shape[d];
      if (s && bytes > UINT64_MAX / s) {
        bytes = UINT64_MAX; /* larger than any file */
        break;
      }
      bytes *= s;
    }
    if (e->begin > e->end || (uint64_t)e->end > data_len) {
      tg__io_fail(tp, TG_ERR_ARG, LOAD, path,
                  "data_offsets [%lld, %lld] of '%s' do not lie within the "
                  "%llu bytes of data (is the file truncated?)",
                  (long long)e->begin, (long long)e->end, e->name,
                  (unsigned long long)data_len);
      return TG_ERR_ARG;
    }
    uint64_t len = (uint64_t)(e->end - e->begin);
    if (len != bytes) {
      tg__io_fail(tp, TG_ERR_ARG, LOAD, path,
                  "data_offsets [%lld, %lld] of '%s' hold %llu bytes but %s "
                  "%s needs %llu",
                  (long long)e->begin, (long long)e->end, e->name,
                  (unsigned long long)len, e->dtype,
                  tg__shape_fmt(e->ndim, e->shape, sh, sizeof sh),
                  (unsigned long long)bytes);
      return TG_ERR_ARG;
    }
    e->nbytes = (size_t)bytes;
  }
  /* Sorted by name, duplicates are neighbours (and lookups can bsearch). */
  for (int i = 0; i < h->n; i++)
    sorted[i] = &h->e[i];
  qsort(sorted, (size_t)h->n, sizeof *sorted, by_name);
  for (int i = 1; i < h->n; i++)
    if (!strcmp(sorted[i - 1]->name, sorted[i]->name)) {
      tg__io_fail(tp, TG_ERR_ARG, LOAD, path, "tensor '%s' appears twice",
                  sorted[i]->name);
      return TG_ERR_ARG;
    }
  /* Sorted by offset, the ranges must tile [0, data_len). */
  entry **ord = tg__malloc(sizeof *ord * (size_t)(h->n ? h->n : 1));
  if (!ord) {
    tg__io_fail(tp, TG_ERR_NOMEM, LOAD, path, "out of memory");
    return TG_ERR_NOMEM;
  }
  memcpy(ord, sorted, sizeof *ord * (size_t)h->n);
  qsort(ord, (size_t)h->n, sizeof *ord, by_offset);
  tg_status st = TG_OK;
  int64_t at = 0;
  for (int i = 0; i < h->n && st == TG_OK; i++) {
    const entry *e = ord[i];
    if (e->begin < at) {
      const entry *p = ord[i - 1];
      tg__io_fail(tp, TG_ERR_ARG, LOAD, path,
                  "data_offsets [%lld, %lld] of '%s' overlap those of '%s' "
                  "[%lld, %lld]",
                  (long long)e->begin, (long long)e->end, e->name, p->name,
                  (long long)p->begin, (long long)p->end);
      st = TG_ERR_ARG;
    } else if (e->begin > at) {
      tg__io_fail(tp, TG_ERR_ARG, LOAD, path,
                  "%lld bytes before the data of '%s' belong to no tensor",
                  (long long)(e->begin - at), e->name);
      st = TG_ERR_ARG;
    }
    at = e->end;
  }
  if (st == TG_OK && (uint64_t)at != data_len) {
    tg__io_fail(tp, TG_ERR_ARG, LOAD, path,
                "%llu bytes after the last tensor's data belong to no tensor",
                (unsigned long long)(data_len - (uint64_t)at));
    st = TG_ERR_ARG;
  }
  tg__free(ord);
  return st;
}

static const entry *lookup(entry **sorted, int n, const char *name) {
  entry key = {.name = (char *)name};
  const entry *kp = &key;
  entry **hit = bsearch(&kp, sorted, (size_t)n, sizeof *sorted, by_name);
  return hit ? *hit : NULL;
}

/* Every registry entry is in the file with its dtype and shape, and the
 * file holds nothing else. */
static tg_status check_against(tg_tape *tp, const char *path,
                               const tg_params *ps, const header *h,
                               entry **sorted) {
  char a[96], b[96];
  for (int i = 0; i < tg_params_count(ps); i++) {
    const char *name = tg_params_name(ps, i);
    const tg_tensor *t = tg_params_at(ps, i);
    const entry *e = lookup(sorted, h->n, name);
    if (!e) {
      tg__io_fail(tp, TG_ERR_ARG, LOAD, path,
                  "tensor '%s' of the model is not in the file", name);
      return TG_ERR_ARG;
    }
    if (e->dt != t->dtype) {
      tg__io_fail(tp, TG_ERR_DTYPE, LOAD, path,
                  "tensor '%s' is %s in the file but %s in the model", name,
                  e->dtype, t->dtype == TG_F32 ? "F32" : "F64");
      return TG_ERR_DTYPE;
    }
    bool same = e->ndim == t->ndim;
    for (int d = 0; same && d < t->ndim; d++)
      same = e->shape[d] == t->shape[d];
    if (!same) {
      tg__io_fail(tp, TG_ERR_SHAPE, LOAD, path,
                  "tensor '%s' has shape %s in the file but %s in the model",
                  name, tg__shape_fmt(e->ndim, e->shape, a, sizeof a),
                  tg_shape_str(t, b, sizeof b));
      return TG_ERR_SHAPE;
    }
  }
  for (int i = 0; i < h->n; i++)
    if (!tg_params_find(ps, h->e[i].name)) {
      tg__io_fail(tp, TG_ERR_ARG, LOAD, path,
                  "the file holds tensor '%s', which the model does not have",
                  h->e[i].name);
      return TG_ERR_ARG;
    }
  return TG_OK;
}

/* --- load ----------------------------------------------------------------- */

/* Copies every entry's data into its parameter; cannot fail. scratch holds
 * the largest non-contiguous parameter. */
static void copy_in(tg_params *ps, const header *h, entry **sorted,
                    const unsigned char *data, unsigned char *scratch) {
  bool swap = !tg__host_is_le();
  for (int i = 0; i < tg_params_count(ps); i++) {
    tg_tensor *t = tg_params_at(ps, i);
    const entry *e = lookup(sorted, h->n, tg_params_name(ps, i));
    size_t es = tg_dtype_size(t->dtype);
    bool direct = tg_is_contiguous(t);
    void *dst = direct ? t->data : scratch;
    if (e->nbytes) memcpy(dst, data + e->begin, e->nbytes);
    if (swap) tg__swap_bytes(dst, e->nbytes / es, es);
    if (direct)
      tg_tensor_touch(t);
    else
      tg_copy_in(t, scratch); /* touches it too */
  }
}

tg_status tg_load_safetensors(tg_tape *tp, tg_params *ps, const char *path) {
  if (!ps || !path) {
    tg__fail(tp, TG_ERR_NULL, "%s: %s is NULL", LOAD,
             !ps ? "registry" : "path");
    return TG_ERR_NULL;
  }
  unsigned char *buf, *scratch = NULL;
  size_t size;
  tg_status st = tg__read_file(tp, LOAD, path, &buf, &size);
  if (st != TG_OK) return st;
  header h = {0};
  entry **sorted = NULL;
  if (size < 8) {
    st = TG_ERR_ARG;
    tg__io_fail(tp, st, LOAD, path,
                "the file is %zu bytes long, too short for the 8-byte header "
                "size",
                size);
    goto done;
  }
  uint64_t hlen = tg__get_le(buf, 8);
  if (hlen > size - 8) {
    st = TG_ERR_ARG;
    tg__io_fail(tp, st, LOAD, path,
                "header size %llu is past the end of the file (%zu bytes)",
                (unsigned long long)hlen, size);
    goto done;
  }
  json js = {buf + 8, buf + 8, buf + 8 + hlen, tp, path, TG_OK};
  if (!parse_header(&js, &h)) {
    st = js.code != TG_OK ? js.code : TG_ERR_ARG;
    goto done;
  }
  sorted = tg__malloc(sizeof *sorted * (size_t)(h.n ? h.n : 1));
  if (!sorted) {
    st = TG_ERR_NOMEM;
    tg__io_fail(tp, st, LOAD, path, "out of memory");
    goto done;
  }
  st = check_entries(tp, path, &h, size - 8 - hlen, sorted);
  if (st == TG_OK) st = check_against(tp, path, ps, &h, sorted);
  if (st != TG_OK) goto done;
  /* Everything fits. The scratch buffer for parameters that are not
   * contiguous is taken now, so nothing can fail once the first parameter
   * has changed. */
  size_t need = 0;
  for (int i = 0; i < tg_params_count(ps); i++) {
    const tg_tensor *t = tg_params_at(ps, i);
    size_t bytes = (size_t)t->numel * tg_dtype_size(t->dtype);
    if (!tg_is_contiguous(t) && bytes > need) need = bytes;
  }
  if (need && !(scratch = tg__malloc(need))) {
    st = TG_ERR_NOMEM;
    tg__io_fail(tp, st, LOAD, path, "out of memory");
    goto done;
  }
  copy_in(ps, &h, sorted, buf + 8 + hlen, scratch);
done:
  tg__free(scratch);
  tg__free(sorted);
  header_free(&h);
  tg__free(buf);
  return st;
}

/* --- save ----------------------------------------------------------------- */

/* A growing string for the header. */
typedef struct strbuf {
  char *s;
  size_t len, cap;
  bool oom;
} strbuf;

static void sb_add(strbuf *b, const char *s, size_t n) {
  if (b->oom) return;
  if (b->len + n + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + n + 1)
      cap *= 2;
    char *grown = tg__malloc(cap);
    if (!grown) {
      b->oom = true;
      return;
    }
    if (b->len) memcpy(grown, b->s, b->len);
    tg__free(b->s);
    b->s = grown;
    b->cap = cap;
  }
  memcpy(b->s + b->len, s, n);
  b->len += n;
  b->s[b->len] = 0;
}

static void sb_puts(strbuf *b, const char *s) { sb_add(b, s, strlen(s)); }

/* A JSON string: quotes, backslashes and control characters escaped; the
 * rest (valid UTF-8, checked by the caller) as it is. */
static void sb_json_string(strbuf *b, const char *s) {
  sb_add(b, "\"", 1);
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    char esc[8];
    if (c == '"' || c == '\\') {
      esc[0] = '\\';
      esc[1] = (char)c;
      sb_add(b, esc, 2);
    } else if (c < 0x20) {
      snprintf(esc, sizeof esc, "\\u%04x", c);
      sb_add(b, esc, 6);
    } else
      sb_add(b, s, 1);
  }
  sb_add(b, "\"", 1);
}

/* The data is laid out f64 entries first, then f32 ones (each group in
 * registry order): with the header padded to a multiple of 8, every tensor
 * then starts at a multiple of its element size in the file, which readers
 * that map the file rely on. */
static int data_rank(const tg_tensor *t) { return t->dtype == TG_F64 ? 0 : 1; }

/* The header for ps, padded with spaces to a multiple of 8 bytes. */
static tg_status build_header(tg_tape *tp, const char *path,
                              const tg_params *ps, strbuf *b) {
  int count = tg_params_count(ps);
  for (int i = 0; i < count; i++) {
    const char *name = tg_params_name(ps, i);
    if (!utf8_valid(name) || !strcmp(name, "__metadata__")) {
      tg__io_fail(tp, TG_ERR_ARG, SAVE, path,
                  "the name '%s' cannot be stored (%s)", name,
                  utf8_valid(name) ? "the format reserves it"
                                   : "it is not valid UTF-8");
      return TG_ERR_ARG;
    }
  }
  /* The next free byte of each group: f64 data, then f32 data. */
  uint64_t next[2] = {0, 0};
  for (int i = 0; i < count; i++) {
    const tg_tensor *t = tg_params_at(ps, i);
    if (t->dtype == TG_F64) next[1] += (uint64_t)t->numel * 8;
  }
  sb_puts(b, "{");
  for (int i = 0; i < count; i++) {
    const tg_tensor *t = tg_params_at(ps, i);
    uint64_t begin = next[data_rank(t)];
    uint64_t end = begin + (uint64_t)t->numel * tg_dtype_size(t->dtype);
    next[data_rank(t)] = end;
    char num[48];
    if (i) sb_puts(b, ",");
    sb_json_string(b, tg_params_name(ps, i));
    sb_puts(b, t->dtype == TG_F64 ? ":{\"dtype\":\"F64\",\"shape\":["
                                  : ":{\"dtype\":\"F32\",\"shape\":[");
    for (int d = 0; d < t->ndim; d++) {
      snprintf(num, sizeof num, "%s%lld", d ? "," : "", (long long)t->shape[d]);
      sb_puts(b, num);
    }
    snprintf(num, sizeof num, "],\"data_offsets\":[%llu,%llu]}",
             (unsigned long long)begin, (unsigned long long)end);
    sb_puts(b, num);
  }
  sb_puts(b, "}");
  while (!b->oom && b->len % 8)
    sb_puts(b, " ");
  if (b->oom) {
    tg__io_fail(tp, TG_ERR_NOMEM, SAVE, path, "out of memory");
    return TG_ERR_NOMEM;
  }
  return TG_OK;
}

/* Writes t's elements, row-major and little-endian. */
static void write_tensor(tg__out *o, const tg_tensor *t) {
  size_t es = tg_dtype_size(t->dtype), bytes = (size_t)t->numel * es;
  if (!bytes) return;
  if (tg_is_contiguous(t) && tg__host_is_le()) {
    tg__out_write(o, t->data, bytes);
    return;
  }
  void *tmp = tg__malloc(bytes);
  if (!tmp) {
    tg__io_fail(o->tp, TG_ERR_NOMEM, o->fn, o->path, "out of memory");
    tg__out_fail(o, TG_ERR_NOMEM);
    return;
  }
  tg_copy_out(t, tmp);
  if (!tg__host_is_le()) tg__swap_bytes(tmp, (size_t)t->numel, es);
  tg__out_write(o, tmp, bytes);
  tg__free(tmp);
}

tg_status tg_save_safetensors(tg_tape *tp, const tg_params *ps,
                              const char *path) {
  if (!ps || !path) {
    tg__fail(tp, TG_ERR_NULL, "%s: %s is NULL", SAVE,
             !ps ? "registry" : "path");
    return TG_ERR_NULL;
  }
  strbuf b = {0};
  tg_status st = build_header(tp, path, ps, &b);
  tg__out o;
  if (st == TG_OK && !tg__out_open(&o, tp, SAVE, path)) st = o.err;
  if (st != TG_OK) {
    tg__free(b.s);
    return st;
  }
  unsigned char len[8];
  tg__put_le(len, b.len, 8);
  tg__out_write(&o, len, 8);
  tg__out_write(&o, b.s, b.len);
  tg__free(b.s);
  for (int rank = 0; rank < 2; rank++)
    for (int i = 0; i < tg_params_count(ps); i++)
      if (data_rank(tg_params_at(ps, i)) == rank)
        write_tensor(&o, tg_params_at(ps, i));
  return tg__out_close(&o);
}
