/* Tensors: creation in the arena or on the heap, views, filling, reading. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "../kernels/kernels.h"
#include "internal.h"

size_t tg_dtype_size(tg_dtype dtype) { return dtype == TG_F32 ? 4 : 8; }

const char *tg_dtype_name(tg_dtype dtype) {
  return dtype == TG_F32 ? "f32" : dtype == TG_F64 ? "f64" : "?";
}

void tg__contiguous_strides(int ndim, const int64_t *shape, int64_t *strides) {
  int64_t acc = 1;
  for (int d = ndim - 1; d >= 0; d--) {
    strides[d] = acc;
    acc *= shape[d] > 0 ? shape[d] : 1;
  }
}

bool tg__same_shape(const tg_tensor *a, const tg_tensor *b) {
  if (a->ndim != b->ndim) return false;
  for (int d = 0; d < a->ndim; d++)
    if (a->shape[d] != b->shape[d]) return false;
  return true;
}

char *tg__shape_fmt(int ndim, const int64_t *shape, char *buf, size_t size) {
  size_t pos = 0;
  if (size == 0) return buf;
  buf[0] = '\0';
  pos += (size_t)snprintf(buf, size, "[");
  for (int d = 0; d < ndim && pos < size; d++)
    pos += (size_t)snprintf(buf + pos, size - pos, d ? "x%lld" : "%lld",
                            (long long)shape[d]);
  if (pos < size) snprintf(buf + pos, size - pos, "]");
  return buf;
}

char *tg_shape_str(const tg_tensor *t, char *buf, size_t size) {
  if (!t) {
    if (size) snprintf(buf, size, "(null)");
    return buf;
  }
  return tg__shape_fmt(t->ndim, t->shape, buf, size);
}

/* Checks a requested shape and counts its elements; false with an error. */
static bool shape_ok(tg_tape *tp, const char *op, tg_dtype dtype, int ndim,
                     const int64_t *shape, int64_t *numel) {
  if (dtype != TG_F32 && dtype != TG_F64) {
    tg__fail(tp, TG_ERR_DTYPE, "%s: unknown dtype %d", op, (int)dtype);
    return false;
  }
  if (ndim < 0 || ndim > TG_MAX_DIMS) {
    tg__fail(tp, TG_ERR_SHAPE, "%s: %d dimensions (0 to %d supported)", op,
             ndim, TG_MAX_DIMS);
    return false;
  }
  if (ndim > 0 && !shape) {
    tg__fail(tp, TG_ERR_NULL, "%s: shape is NULL", op);
    return false;
  }
  /* The sides other than 0 must multiply within the limit too, as in
   * NumPy: the strides of an empty [0, 2^62, 2^62] would overflow. */
  int64_t n = 1, nonzero = 1;
  int64_t limit = (int64_t)(SIZE_MAX / 2 / tg_dtype_size(dtype));
  if (limit > INT64_MAX / 2) limit = INT64_MAX / 2;
  for (int d = 0; d < ndim; d++) {
    if (shape[d] < 0) {
      tg__fail(tp, TG_ERR_SHAPE, "%s: dimension %d has negative size %lld", op,
               d, (long long)shape[d]);
      return false;
    }
    /* a multiply and a compare, not a division: every new tensor comes
     * through here */
    int64_t grown;
    if (shape[d] > 0 &&
        (__builtin_mul_overflow(nonzero, shape[d], &grown) || grown > limit)) {
      tg__fail(tp, TG_ERR_SHAPE,
               "%s: shape is too large (element count "
               "overflows)",
               op);
      return false;
    }
    n *= shape[d];
    if (shape[d] > 0) nonzero *= shape[d];
  }
  *numel = n;
  return true;
}

static void init_header(tg_tensor *t, tg_dtype dtype, int ndim,
                        const int64_t *shape, int64_t numel) {
  memset(t, 0, sizeof *t);
  t->dtype = dtype;
  t->ndim = ndim;
  for (int d = 0; d < ndim; d++)
    t->shape[d] = shape[d];
  tg__contiguous_strides(ndim, shape, t->strides);
  t->numel = numel;
}

tg_tensor *tg__new_tensor(tg_tape *tp, const char *op, tg_dtype dtype, int ndim,
                          const int64_t *shape) {
  if (!tp) return NULL;
  int64_t numel;
  if (!shape_ok(tp, op, dtype, ndim, shape, &numel)) return NULL;
  size_t bytes = (size_t)numel * tg_dtype_size(dtype);
  /* Header and data in one bump: the header size is a multiple of 64. */
  size_t head = (sizeof(tg_tensor) + 63) & ~(size_t)63;
  char *mem = tg__arena_alloc(&tp->arena, head + bytes);
  if (!mem)
    return tg__fail(tp, TG_ERR_NOMEM, "%s: out of memory allocating %zu bytes",
                    op, head + bytes);
  tg_tensor *t = (tg_tensor *)mem;
  init_header(t, dtype, ndim, shape, numel);
  t->data = mem + head;
  return t;
}

tg_tensor *tg__new_view(tg_tape *tp, const char *op, tg_tensor *x, int ndim,
                        const int64_t *shape, const int64_t *strides,
                        int64_t offset) {
  tg_tensor *t = tg__arena_alloc(&tp->arena, sizeof *t);
  if (!t) return tg__fail(tp, TG_ERR_NOMEM, "%s: out of memory", op);
  int64_t numel = 1;
  for (int d = 0; d < ndim; d++)
    numel *= shape[d];
  init_header(t, x->dtype, ndim, shape, numel);
  for (int d = 0; d < ndim; d++)
    t->strides[d] = strides[d];
  t->data = (char *)x->data + offset * (int64_t)tg_dtype_size(x->dtype);
  t->flags = TG_FLAG_VIEW;
  t->base = tg__storage(x);
  return t;
}

/* --- heap tensors -------------------------------------------------------- */

static tg_tensor *heap_tensor(tg_tape *tp, const char *op, tg_dtype dtype,
                              int ndim, const int64_t *shape) {
  int64_t numel;
  tg_tape scratch; /* collects the message when no tape is given */
  tg_tape *etp = tp ? tp : &scratch;
  if (!tp) scratch.err = TG_ERR_STATE; /* drop the message */
  if (!shape_ok(etp, op, dtype, ndim, shape, &numel)) return NULL;
  size_t bytes = (size_t)numel * tg_dtype_size(dtype);
  size_t head = (sizeof(tg_tensor) + 63) & ~(size_t)63;
  char *mem = tg__aligned_alloc(head + bytes);
  if (!mem)
    return tg__fail(tp, TG_ERR_NOMEM, "%s: out of memory allocating %zu bytes",
                    op, head + bytes);
  tg_tensor *t = (tg_tensor *)mem;
  init_header(t, dtype, ndim, shape, numel);
  t->data = mem + head;
  t->flags = TG_FLAG_HEAP;
  memset(t->data, 0, bytes);
  return t;
}

tg_tensor *tg_tensor_new(tg_tape *tp, tg_dtype dtype, int ndim,
                         const int64_t *shape) {
  return heap_tensor(tp, "tg_tensor_new", dtype, ndim, shape);
}

tg_tensor *tg_tensor_clone(tg_tape *tp, const tg_tensor *t) {
  if (!t) return tg__fail(tp, TG_ERR_NULL, "tg_tensor_clone: tensor is NULL");
  tg_tensor *c =
      heap_tensor(tp, "tg_tensor_clone", t->dtype, t->ndim, t->shape);
  if (!c) return NULL;
  tg_k_copy(t->dtype, t->ndim, t->shape, c->data, NULL, t->data, t->strides);
  c->name = t->name;
  return c;
}

void tg_tensor_free(tg_tensor *t) {
  if (!t || !(t->flags & TG_FLAG_HEAP)) return;
  if (t->grad && (t->grad->flags & TG_FLAG_HEAP)) tg__free(t->grad);
  tg__free(t);
}

tg_status tg_tensor_set_shape(tg_tensor *t, int ndim, const int64_t *shape) {
  if (!t || (ndim > 0 && !shape)) return TG_ERR_NULL;
  if (ndim < 0 || ndim > TG_MAX_DIMS) return TG_ERR_SHAPE;
  if (t->node || !tg_is_contiguous(t)) return TG_ERR_STATE;
  int64_t n = 1;
  for (int d = 0; d < ndim; d++) {
    if (shape[d] < 0) return TG_ERR_SHAPE;
    n *= shape[d];
  }
  if (n != t->numel) return TG_ERR_SHAPE;
  t->ndim = ndim;
  for (int d = 0; d < ndim; d++)
    t->shape[d] = shape[d];
  tg__contiguous_strides(ndim, shape, t->strides);
  return TG_OK;
}

/* --- arena creation ------------------------------------------------------ */

tg_tensor *tg_empty(tg_tape *tp, tg_dtype dtype, int ndim,
                    const int64_t *shape) {
  return tg__new_tensor(tp, "tg_empty", dtype, ndim, shape);
}

/* Creation reports errors under the public name the caller used. */
static tg_tensor *full(tg_tape *tp, const char *fname, tg_dtype dtype, int ndim,
                       const int64_t *shape, double value) {
  tg_tensor *t = tg__new_tensor(tp, fname, dtype, ndim, shape);
  if (t) tg_fill(t, value);
  return t;
}

tg_tensor *tg_full(tg_tape *tp, tg_dtype dtype, int ndim, const int64_t *shape,
                   double value) {
  return full(tp, "tg_full", dtype, ndim, shape, value);
}

tg_tensor *tg_zeros(tg_tape *tp, tg_dtype dtype, int ndim,
                    const int64_t *shape) {
  return full(tp, "tg_zeros", dtype, ndim, shape, 0.0);
}

tg_tensor *tg_ones(tg_tape *tp, tg_dtype dtype, int ndim,
                   const int64_t *shape) {
  return full(tp, "tg_ones", dtype, ndim, shape, 1.0);
}

tg_tensor *tg_scalar(tg_tape *tp, tg_dtype dtype, double value) {
  return full(tp, "tg_scalar", dtype, 0, NULL, value);
}

tg_tensor *tg_from_buffer(tg_tape *tp, tg_dtype dtype, int ndim,
                          const int64_t *shape, const void *buf) {
  if (tp && !buf)
    return tg__fail(tp, TG_ERR_NULL, "tg_from_buffer: buffer is NULL");
  tg_tensor *t = tg__new_tensor(tp, "tg_from_buffer", dtype, ndim, shape);
  if (t) memcpy(t->data, buf, (size_t)t->numel * tg_dtype_size(dtype));
  return t;
}

tg_tensor *tg_from_f64(tg_tape *tp, tg_dtype dtype, int ndim,
                       const int64_t *shape, const double *values) {
  if (tp && !values)
    return tg__fail(tp, TG_ERR_NULL, "tg_from_f64: values is NULL");
  tg_tensor *t = tg__new_tensor(tp, "tg_from_f64", dtype, ndim, shape);
  if (t) tg_k_convert(ndim, shape, dtype, t->data, NULL, TG_F64, values, NULL);
  return t;
}

tg_tensor *tg_wrap_buffer(tg_tape *tp, tg_dtype dtype, int ndim,
                          const int64_t *shape, void *buf) {
  if (!tp) return NULL;
  if (!buf) return tg__fail(tp, TG_ERR_NULL, "tg_wrap_buffer: buffer is NULL");
  int64_t numel;
  if (!shape_ok(tp, "tg_wrap_buffer", dtype, ndim, shape, &numel)) return NULL;
  tg_tensor *t = tg__arena_alloc(&tp->arena, sizeof *t);
  if (!t) return tg__fail(tp, TG_ERR_NOMEM, "tg_wrap_buffer: out of memory");
  init_header(t, dtype, ndim, shape, numel);
  t->data = buf;
  t->flags = TG_FLAG_VIEW;
  return t;
}

tg_tensor *tg_arange(tg_tape *tp, tg_dtype dtype, double start, double stop,
                     double step) {
  if (!tp) return NULL;
  if (step == 0 || !isfinite(step) || !isfinite(start) || !isfinite(stop))
    return tg__fail(tp, TG_ERR_ARG,
                    "tg_arange: start, stop and step must be finite and step "
                    "non-zero (got %g, %g, %g)",
                    start, stop, step);
  double count = ceil((stop - start) / step);
  if (count < 0) count = 0;
  if (count > 1e15)
    return tg__fail(tp, TG_ERR_SHAPE, "tg_arange: %g elements is too many",
                    count);
  int64_t n = (int64_t)count;
  tg_tensor *t = tg__new_tensor(tp, "tg_arange", dtype, 1, &n);
  if (!t) return NULL;
  for (int64_t i = 0; i < n; i++) {
    double v = start + (double)i * step;
    if (dtype == TG_F32)
      ((float *)t->data)[i] = (float)v;
    else
      ((double *)t->data)[i] = v;
  }
  return t;
}

tg_tensor *tg_rand_uniform(tg_tape *tp, tg_dtype dtype, int ndim,
                           const int64_t *shape, double low, double high) {
  tg_tensor *t = tg__new_tensor(tp, "tg_rand_uniform", dtype, ndim, shape);
  if (t) tg_fill_uniform(t, &tp->rng, low, high);
  return t;
}

tg_tensor *tg_rand_normal(tg_tape *tp, tg_dtype dtype, int ndim,
                          const int64_t *shape, double mean, double std) {
  tg_tensor *t = tg__new_tensor(tp, "tg_rand_normal", dtype, ndim, shape);
  if (t) tg_fill_normal(t, &tp->rng, mean, std);
  return t;
}

/* --- filling ------------------------------------------------------------- */

/* Address of the element at flat row-major position i. */
static char *elem_ptr(const tg_tensor *t, int64_t i) {
  int64_t off = 0;
  for (int d = t->ndim - 1; d >= 0; d--) {
    int64_t n = t->shape[d];
    off += (i % n) * t->strides[d];
    i /= n;
  }
  return (char *)t->data + off * (int64_t)tg_dtype_size(t->dtype);
}

static void set_flat(tg_tensor *t, int64_t i, double v) {
  char *p = elem_ptr(t, i);
  if (t->dtype == TG_F32)
    *(float *)p = (float)v;
  else
    *(double *)p = v;
}

void tg_tensor_touch(tg_tensor *t) {
  if (t) tg__storage(t)->version++;
}

void tg_fill(tg_tensor *t, double value) {
  if (!t) return;
  tg_k_fill(t->dtype, t->ndim, t->shape, t->data, t->strides, value);
  tg_tensor_touch(t);
}

void tg_fill_uniform(tg_tensor *t, tg_rng *rng, double low, double high) {
  if (!t || !rng) return;
  for (int64_t i = 0; i < t->numel; i++)
    set_flat(t, i, low + (high - low) * tg_rng_uniform(rng));
  tg_tensor_touch(t);
}

void tg_fill_normal(tg_tensor *t, tg_rng *rng, double mean, double std) {
  if (!t || !rng) return;
  for (int64_t i = 0; i < t->numel; i++)
    set_flat(t, i, mean + std * tg_rng_normal(rng));
  tg_tensor_touch(t);
}

tg_status tg_copy_in(tg_tensor *t, const void *buf) {
  if (!t || !buf) return TG_ERR_NULL;
  tg_k_copy(t->dtype, t->ndim, t->shape, t->data, t->strides, buf, NULL);
  tg_tensor_touch(t);
  return TG_OK;
}

/* --- reading ------------------------------------------------------------- */

bool tg_is_contiguous(const tg_tensor *t) {
  if (!t) return false;
  /* No element, nothing out of place (and the strides tg__new_tensor gives
   * [4, 0] would not pass the test below). */
  if (t->numel == 0) return true;
  int64_t acc = 1;
  for (int d = t->ndim - 1; d >= 0; d--) {
    if (t->shape[d] != 1 && t->strides[d] != acc) return false;
    acc *= t->shape[d];
  }
  return true;
}

double tg_get_flat(const tg_tensor *t, int64_t i) {
  if (!t || i < 0 || i >= t->numel) return NAN;
  const char *p = elem_ptr(t, i);
  return t->dtype == TG_F32 ? (double)*(const float *)p : *(const double *)p;
}

double tg_get(const tg_tensor *t, const int64_t *idx) {
  if (!t || (t->ndim > 0 && !idx)) return NAN;
  int64_t off = 0;
  for (int d = 0; d < t->ndim; d++) {
    if (idx[d] < 0 || idx[d] >= t->shape[d]) return NAN;
    off += idx[d] * t->strides[d];
  }
  const char *p =
      (const char *)t->data + off * (int64_t)tg_dtype_size(t->dtype);
  return t->dtype == TG_F32 ? (double)*(const float *)p : *(const double *)p;
}

double tg_item(const tg_tensor *t) {
  if (!t || t->numel != 1) return NAN;
  return tg_get_flat(t, 0);
}

tg_status tg_copy_out_f64(const tg_tensor *t, double *dst) {
  if (!t || !dst) return TG_ERR_NULL;
  tg_k_convert(t->ndim, t->shape, TG_F64, dst, NULL, t->dtype, t->data,
               t->strides);
  return TG_OK;
}

tg_status tg_copy_out(const tg_tensor *t, void *dst) {
  if (!t || !dst) return TG_ERR_NULL;
  tg_k_copy(t->dtype, t->ndim, t->shape, dst, NULL, t->data, t->strides);
  return TG_OK;
}

/* --- gradients ----------------------------------------------------------- */

tg_tensor *tg_set_requires_grad(tg_tensor *t, bool requires_grad) {
  if (t) t->requires_grad = requires_grad;
  return t;
}

tg_tensor *tg_retain_grad(tg_tensor *t) {
  if (t) t->flags |= TG_FLAG_RETAIN_GRAD;
  return t;
}

tg_tensor *tg_grad_of(const tg_tensor *t) { return t ? t->grad : NULL; }

void tg_zero_grad(tg_tensor *t) {
  if (t && t->grad) tg_fill(t->grad, 0.0);
}

tg_tensor *tg_set_name(tg_tensor *t, const char *name) {
  if (t) t->name = name;
  return t;
}
