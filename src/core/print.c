/* Printing tensors in a NumPy-like form. */
#include <math.h>
#include <string.h>

#include "internal.h"

#define TG_PRINT_SUMMARISE 1000 /* more elements than this: show edges only */
#define TG_PRINT_EDGE 3

typedef struct {
  FILE *f;
  const tg_tensor *t;
  bool summarise;
  bool sci;  /* scientific notation */
  int width; /* of one number */
} printer;

static double at(const tg_tensor *t, const int64_t *idx) {
  return tg_get(t, idx);
}

static void print_number(const printer *p, double v) {
  if (p->sci)
    fprintf(p->f, "%*.4e", p->width, v);
  else
    fprintf(p->f, "%*.4f", p->width, v);
}

static void print_dim(const printer *p, int d, int64_t *idx, int indent) {
  const tg_tensor *t = p->t;
  fputc('[', p->f);
  int64_t n = t->shape[d];
  for (int64_t i = 0; i < n; i++) {
    if (p->summarise && n > 2 * TG_PRINT_EDGE && i == TG_PRINT_EDGE) {
      fputs(d == t->ndim - 1 ? "..., " : "...,\n", p->f);
      if (d != t->ndim - 1)
        for (int s = 0; s < indent + 1; s++)
          fputc(' ', p->f);
      i = n - TG_PRINT_EDGE;
    }
    idx[d] = i;
    if (d == t->ndim - 1) {
      print_number(p, at(t, idx));
    } else {
      print_dim(p, d + 1, idx, indent + 1);
    }
    if (i + 1 < n) {
      if (d == t->ndim - 1) {
        fputs(", ", p->f);
      } else {
        fputc(',', p->f);
        for (int b = d; b < t->ndim - 1; b++)
          fputc('\n', p->f);
        for (int s = 0; s < indent + 1; s++)
          fputc(' ', p->f);
      }
    }
  }
  fputc(']', p->f);
}

void tg_fprint(FILE *f, const tg_tensor *t) {
  if (!f) return;
  if (!t) {
    fputs("tensor(NULL)\n", f);
    return;
  }
  printer p = {f, t, t->numel > TG_PRINT_SUMMARISE, false, 0};
  /* Choose the notation from the largest and smallest magnitudes. */
  double big = 0, small = INFINITY;
  for (int64_t i = 0; i < t->numel; i++) {
    double v = fabs(tg_get_flat(t, i));
    if (!isfinite(v)) continue;
    if (v > big) big = v;
    if (v > 0 && v < small) small = v;
  }
  p.sci = big >= 1e6 || (small < 1e-4 && big > 0);
  char tmp[64];
  int w = 0;
  for (int64_t i = 0; i < t->numel; i++) {
    double v = tg_get_flat(t, i);
    int len = p.sci ? snprintf(tmp, sizeof tmp, "%.4e", v)
                    : snprintf(tmp, sizeof tmp, "%.4f", v);
    if (len > w) w = len;
  }
  p.width = w;
  fputs("tensor(", f);
  if (t->ndim == 0) {
    print_number(&p, tg_get_flat(t, 0));
  } else if (t->numel == 0) {
    char buf[96];
    fprintf(f, "[], shape=%s", tg_shape_str(t, buf, sizeof buf));
  } else {
    int64_t idx[TG_MAX_DIMS] = {0};
    print_dim(&p, 0, idx, (int)strlen("tensor("));
  }
  fprintf(f, ", %s", tg_dtype_name(t->dtype));
  if (t->requires_grad) fputs(", requires_grad", f);
  fputs(")\n", f);
}

void tg_print(const tg_tensor *t) { tg_fprint(stdout, t); }
