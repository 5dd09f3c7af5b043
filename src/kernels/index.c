/* Gather and scatter along an axis, driven by an index tensor that holds
 * whole numbers (validated first, so the loops never leave the tensor). */
#include <math.h>

#include "kernels.h"

static double load(tg_dtype dt, const char *p) {
  return dt == TG_F32 ? (double)*(const float *)p : *(const double *)p;
}

/* Walks every position of shape, keeping the element offsets of up to
 * three strided operands. body(ctx, offsets, coord) per position. */
typedef void (*visit_fn)(void *ctx, const int64_t *offsets);

static void walk(int ndim, const int64_t *shape, int nops,
                 const int64_t *const *strides, visit_fn body, void *ctx) {
  int64_t total = 1;
  for (int d = 0; d < ndim; d++)
    total *= shape[d];
  if (total == 0) return;
  int64_t idx[TG_MAX_DIMS] = {0}, off[3] = {0, 0, 0};
  for (int64_t i = 0; i < total; i++) {
    body(ctx, off);
    for (int d = ndim - 1; d >= 0; d--) {
      /* A size-1 axis never moves an offset, and its stride may be huge
       * (a slice with a step past the end): leave it out, as iter does. */
      if (shape[d] == 1) continue;
      idx[d]++;
      for (int k = 0; k < nops; k++)
        off[k] += strides[k][d];
      if (idx[d] < shape[d]) break;
      for (int k = 0; k < nops; k++)
        off[k] -= strides[k][d] * shape[d];
      idx[d] = 0;
    }
  }
}

typedef struct {
  tg_dtype dt;
  const char *data;
  int64_t limit;
  int status;
  double bad;
} check_ctx;

static void check_one(void *ctx, const int64_t *off) {
  check_ctx *c = ctx;
  if (c->status) return;
  double v = load(c->dt, c->data + off[0] * (c->dt == TG_F32 ? 4 : 8));
  if (v != floor(v)) {
    c->status = 1;
    c->bad = v;
  } else if (v < 0 || v >= (double)c->limit) {
    c->status = 2;
    c->bad = v;
  }
}

int tg_k_check_index(tg_dtype dt, int ndim, const int64_t *shape,
                     const void *data, const int64_t *strides, int64_t limit,
                     double *bad) {
  check_ctx c = {dt, data, limit, 0, 0};
  const int64_t *st[1] = {strides};
  walk(ndim, shape, 1, st, check_one, &c);
  *bad = c.bad;
  return c.status;
}

/* out (contiguous over the index's shape) from x, or the reverse. */
typedef struct {
  tg_dtype dt, index_dt;
  const char *index;
  char *x;   /* gather: source; scatter: destination */
  char *out; /* gather: destination; scatter: source */
  int64_t axis_stride;
  bool scatter;
} move_ctx;

static void move_one(void *ctx, const int64_t *off) {
  const move_ctx *c = ctx;
  size_t es = c->dt == TG_F32 ? 4 : 8, is = c->index_dt == TG_F32 ? 4 : 8;
  int64_t at = (int64_t)load(c->index_dt, c->index + off[1] * (int64_t)is);
  char *xp = c->x + (off[0] + at * c->axis_stride) * (int64_t)es;
  char *op = c->out + off[2] * (int64_t)es;
  if (c->dt == TG_F32) {
    if (c->scatter)
      *(float *)xp += *(const float *)op;
    else
      *(float *)op = *(const float *)xp;
  } else {
    if (c->scatter)
      *(double *)xp += *(const double *)op;
    else
      *(double *)op = *(const double *)xp;
  }
}

/* The offsets of x walk its strides on every axis but `axis` (where the
 * index decides). */
static void run_move(move_ctx *c, int ndim, const int64_t *index_shape,
                     const int64_t *x_strides, const int64_t *index_strides,
                     const int64_t *out_strides, int axis) {
  int64_t xs[TG_MAX_DIMS];
  for (int d = 0; d < ndim; d++)
    xs[d] = d == axis ? 0 : x_strides[d];
  c->axis_stride = x_strides[axis];
  const int64_t *st[3] = {xs, index_strides, out_strides};
  walk(ndim, index_shape, 3, st, move_one, c);
}

void tg_k_gather(tg_dtype dt, int ndim, int axis, const void *x,
                 const int64_t *x_strides, tg_dtype index_dt,
                 const int64_t *index_shape, const void *index,
                 const int64_t *index_strides, void *out) {
  int64_t os[TG_MAX_DIMS], acc = 1;
  for (int d = ndim - 1; d >= 0; d--) {
    os[d] = acc;
    acc *= index_shape[d];
  }
  move_ctx c = {dt, index_dt, index, (char *)x, out, 0, false};
  run_move(&c, ndim, index_shape, x_strides, index_strides, os, axis);
}

void tg_k_scatter_add(tg_dtype dt, int ndim, int axis, void *out,
                      const int64_t *out_strides, tg_dtype index_dt,
                      const int64_t *index_shape, const void *index,
                      const int64_t *index_strides, const void *src,
                      const int64_t *src_strides) {
  move_ctx c = {dt, index_dt, index, out, (char *)src, 0, true};
  run_move(&c, ndim, index_shape, out_strides, index_strides, src_strides,
           axis);
}
