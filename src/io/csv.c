/* Numeric CSV tables.
 *
 * One row per line (LF or CRLF), fields separated by commas, every field a
 * number in C's strtod syntax (so "1", "-2.5e3", "inf", "nan"), with spaces
 * or tabs allowed around it. No quoting: a table of numbers needs none. A
 * UTF-8 byte order mark before the first line and blank lines (the usual
 * empty last line, say) are skipped; with has_header the first line is
 * skipped whatever it holds. The number of columns is that of the first
 * data row, and every other row must match it.
 *
 * strtod follows the C locale's LC_NUMERIC: a program that switches to a
 * locale with a decimal comma must switch back around the call. */
#include <stdlib.h>

#include "io_internal.h"

static const char *const LOAD = "tg_load_csv";

/* A growing array of values. */
typedef struct values {
  double *v;
  size_t n, cap;
} values;

static bool push(values *vs, double x) {
  if (vs->n == vs->cap) {
    size_t cap = vs->cap ? 2 * vs->cap : 1024;
    double *grown = cap < SIZE_MAX / sizeof(double) / 2
                        ? tg__malloc(cap * sizeof(double))
                        : NULL;
    if (!grown) return false;
    if (vs->n) memcpy(grown, vs->v, vs->n * sizeof(double));
    tg__free(vs->v);
    vs->v = grown;
    vs->cap = cap;
  }
  vs->v[vs->n++] = x;
  return true;
}

static bool blank(char c) { return c == ' ' || c == '\t'; }

tg_tensor *tg_load_csv(tg_tape *tp, const char *path, tg_dtype dtype,
                       bool has_header) {
  if (!path) return tg__fail(tp, TG_ERR_NULL, "%s: path is NULL", LOAD);
  if (dtype != TG_F32 && dtype != TG_F64)
    return tg__fail(tp, TG_ERR_DTYPE, "%s: %s: unknown dtype %d", LOAD, path,
                    (int)dtype);
  unsigned char *buf;
  size_t size;
  if (tg__read_file(tp, LOAD, path, &buf, &size) != TG_OK) return NULL;
  const char *p = (const char *)buf, *end = p + size;
  if (size >= 3 && !memcmp(p, "\xEF\xBB\xBF", 3)) p += 3;
  values vs = {0};
  int64_t rows = 0, cols = 0, first_row_line = 0;
  tg_tensor *t = NULL;
  bool ok = true;
  for (int64_t line = 1; ok && p < end; line++) {
    const char *eol = memchr(p, '\n', (size_t)(end - p));
    if (!eol) eol = end;
    const char *next = eol < end ? eol + 1 : end;
    if (eol > p && eol[-1] == '\r') eol--;
    const char *q = p;
    while (q < eol && blank(*q))
      q++;
    if ((line == 1 && has_header) || q == eol) { /* header or blank line */
      p = next;
      continue;
    }
    int64_t fields = 0;
    for (const char *f = p;; f++) { /* one field per pass, f at its start */
      const char *fe = memchr(f, ',', (size_t)(eol - f));
      if (!fe) fe = eol;
      const char *a = f, *b = fe;
      while (a < b && blank(*a))
        a++;
      while (b > a && blank(b[-1]))
        b--;
      fields++;
      char *stop = NULL;
      double x = a < b ? strtod(a, &stop) : 0.0;
      if (a == b || stop != b) {
        if (a == b)
          tg__io_fail(tp, TG_ERR_ARG, LOAD, path,
                      "line %lld, column %lld: the field is empty",
                      (long long)line, (long long)fields);
        else
          tg__io_fail(tp, TG_ERR_ARG, LOAD, path,
                      "line %lld, column %lld: '%.*s' is not a number",
                      (long long)line, (long long)fields,
                      b - a > 40 ? 40 : (int)(b - a), a);
        ok = false;
        break;
      }
      if (!push(&vs, x)) {
        tg__io_fail(tp, TG_ERR_NOMEM, LOAD, path, "out of memory");
        ok = false;
        break;
      }
      if (fe == eol) break;
      f = fe;
    }
    if (ok && rows == 0) {
      cols = fields;
      first_row_line = line;
    } else if (ok && fields != cols) {
      tg__io_fail(tp, TG_ERR_ARG, LOAD, path,
                  "line %lld has %lld field%s but line %lld has %lld",
                  (long long)line, (long long)fields, fields == 1 ? "" : "s",
                  (long long)first_row_line, (long long)cols);
      ok = false;
    }
    rows++;
    p = next;
  }
  if (ok) {
    int64_t shape[2] = {rows, cols};
    t = tg_tensor_new(tp, dtype, 2, shape);
    for (size_t i = 0; t && i < vs.n; i++)
      if (dtype == TG_F32)
        ((float *)t->data)[i] = (float)vs.v[i];
      else
        ((double *)t->data)[i] = vs.v[i];
  }
  tg__free(vs.v);
  tg__free(buf);
  return t;
}
