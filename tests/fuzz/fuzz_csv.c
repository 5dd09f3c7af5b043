/* Fuzzes tg_load_csv: the bytes are a CSV file.
 *
 * Properties checked:
 *   - the load returns a well-formed heap tensor [rows, columns], or NULL
 *     with an error and a message on the tape;
 *   - without a header and in f64, the outcome, the shape and every value
 *     agree with a reference reading written here from the format's
 *     description in src/io/csv.c (fields copied out and NUL-terminated
 *     before strtod sees them, so the loader's in-place parsing is checked
 *     too);
 *   - with a header and in f32, the result (when there is one) is
 *     well-formed;
 *   - nothing leaks and nothing reads out of bounds. */
#include <math.h>

#include "fuzz_common.h"

#define REF_MAX_VALUES 8192

typedef struct ref {
  bool ok;
  int64_t rows, cols;
  double *v; /* REF_MAX_VALUES */
  int64_t n;
  bool too_many; /* more values than the reference keeps */
} ref;

static bool blank(char c) { return c == ' ' || c == '\t'; }

/* The format: LF or CRLF lines, an optional UTF-8 BOM, blank lines (only
 * spaces and tabs) skipped, comma-separated fields with spaces and tabs
 * around them, each field entirely a number for strtod, every data row
 * with as many fields as the first. */
static void ref_parse(const char *p, size_t size, ref *r) {
  const char *end = p + size;
  r->ok = true;
  r->rows = r->cols = r->n = 0;
  if (size >= 3 && !memcmp(p, "\xEF\xBB\xBF", 3)) p += 3;
  while (p < end) {
    const char *eol = memchr(p, '\n', (size_t)(end - p));
    const char *next = eol ? eol + 1 : end;
    if (!eol) eol = end;
    if (eol > p && eol[-1] == '\r') eol--;
    bool is_blank = true;
    for (const char *q = p; q < eol; q++)
      if (!blank(*q)) is_blank = false;
    if (is_blank) {
      p = next;
      continue;
    }
    int64_t fields = 0;
    const char *f = p;
    for (;;) {
      const char *fe = f;
      while (fe < eol && *fe != ',')
        fe++;
      const char *a = f, *b = fe;
      while (a < b && blank(*a))
        a++;
      while (b > a && blank(b[-1]))
        b--;
      fields++;
      if (a == b) { /* an empty field */
        r->ok = false;
        return;
      }
      /* A NUL-terminated copy: a NUL byte inside stops strtod early. */
      size_t len = (size_t)(b - a);
      char *field = malloc(len + 1);
      if (!field) fuzz_fail("out of memory");
      memcpy(field, a, len);
      field[len] = 0;
      char *stop;
      double x = strtod(field, &stop);
      bool whole = stop == field + len;
      free(field);
      if (!whole) {
        r->ok = false;
        return;
      }
      if (r->n < REF_MAX_VALUES)
        r->v[r->n] = x;
      else
        r->too_many = true;
      r->n++;
      if (fe == eol) break;
      f = fe + 1;
    }
    if (r->rows == 0)
      r->cols = fields;
    else if (fields != r->cols) {
      r->ok = false;
      return;
    }
    r->rows++;
    p = next;
  }
}

static tg_tensor *load(tg_tape *tp, const char *path, tg_dtype dtype,
                       bool header, const char *what) {
  tg_clear_error(tp);
  tg_tensor *t = tg_load_csv(tp, path, dtype, header);
  if (!t) {
    fuzz_expect_error(tp, what);
    return NULL;
  }
  fuzz_expect_no_error(tp, what);
  fuzz_check_tensor(t, what);
  if (t->dtype != dtype || t->ndim != 2 ||
      (t->numel > 0 && !tg_is_contiguous(t)))
    fuzz_fail("%s: not a contiguous [rows, columns] tensor of the dtype", what);
  return t;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static double values[REF_MAX_VALUES];
  const char *path = fuzz_tmp_path(0, "csv", "");
  fuzz_write_file(path, data, size);
  tg_tape *tp = tg_tape_new();
  if (!tp) fuzz_fail("tg_tape_new failed");

  tg_tensor *t = load(tp, path, TG_F64, false, "tg_load_csv");
  ref r = {.v = values};
  ref_parse((const char *)data, size, &r);
  if (!r.too_many) {
    if (r.ok && !t)
      fuzz_fail("tg_load_csv refused a valid table: %s", tg_errmsg(tp));
    if (!r.ok && t)
      fuzz_fail("tg_load_csv accepted an invalid table ([%lld, %lld])",
                (long long)t->shape[0], (long long)t->shape[1]);
    if (t) {
      if (t->shape[0] != r.rows || t->shape[1] != r.cols)
        fuzz_fail("tg_load_csv: shape [%lld, %lld], expected [%lld, %lld]",
                  (long long)t->shape[0], (long long)t->shape[1],
                  (long long)r.rows, (long long)r.cols);
      const double *v = t->data;
      for (int64_t i = 0; i < t->numel; i++)
        if (memcmp(&v[i], &r.v[i], sizeof(double)) &&
            !(isnan(v[i]) && isnan(r.v[i])))
          fuzz_fail("tg_load_csv: value %lld is %.17g, expected %.17g",
                    (long long)i, v[i], r.v[i]);
    }
  }
  tg_tensor_free(t);

  t = load(tp, path, TG_F32, true, "tg_load_csv (header, f32)");
  tg_tensor_free(t);
  tg_tape_free(tp);
  return 0;
}
