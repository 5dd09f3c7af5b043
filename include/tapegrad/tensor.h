/* tapegrad: tensors.
 *
 * A tensor is a dtype, a shape, strides (in elements) and a pointer to its
 * first element. Tensors made by ops live in the tape's arena and vanish at
 * tg_tape_reset. Tensors made by tg_tensor_new live on the heap and persist
 * (parameters, data you keep across steps) until tg_tensor_free.
 *
 * The struct is public so that code can read shape and data directly; treat
 * its fields as read-only and use the functions below to change anything. */
#ifndef TAPEGRAD_TENSOR_H
#define TAPEGRAD_TENSOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "error.h"
#include "rng.h"

#define TG_MAX_DIMS 8

typedef enum tg_dtype { TG_F32 = 0, TG_F64 = 1 } tg_dtype;

typedef struct tg_tape tg_tape;
typedef struct tg_node tg_node;
typedef struct tg_tensor tg_tensor;

struct tg_tensor {
  tg_dtype dtype;
  int ndim; /* 0 for a scalar */
  int64_t shape[TG_MAX_DIMS];
  int64_t strides[TG_MAX_DIMS]; /* in elements; 0 on broadcast dimensions */
  int64_t numel;
  void *data; /* first element */
  bool requires_grad;
  unsigned flags;   /* internal: heap, retain-grad, ... */
  tg_tensor *grad;  /* accumulated gradient, once computed */
  tg_node *node;    /* the op that made it; NULL for a leaf */
  const char *name; /* optional, for printing */
  /* internal: gradient flowing during one backward pass */
  tg_tensor *pass_grad;
  uint64_t pass_id;
  /* internal: views point at the tensor owning the storage; the owner's
   * version counts in-place writes (tg_fill, tg_copy_in, optimizer steps,
   * loads), so backward can tell a saved tensor that changed. */
  tg_tensor *base;
  uint32_t version;
};

size_t tg_dtype_size(tg_dtype dtype);
const char *tg_dtype_name(tg_dtype dtype);

/* --- persistent tensors (heap) ------------------------------------------ */

/* A zero-filled tensor on the heap; it survives tg_tape_reset. The tape is
 * used only to report errors and may be NULL. */
tg_tensor *tg_tensor_new(tg_tape *tp, tg_dtype dtype, int ndim,
                         const int64_t *shape);
/* A heap copy of t (contiguous), detached from any graph. */
tg_tensor *tg_tensor_clone(tg_tape *tp, const tg_tensor *t);
/* Frees a heap tensor and its gradient; does nothing for arena tensors. */
void tg_tensor_free(tg_tensor *t);

/* Gives a contiguous tensor that no op made (a leaf: a loaded data set, a
 * parameter) another shape with as many elements, in place. */
tg_status tg_tensor_set_shape(tg_tensor *t, int ndim, const int64_t *shape);

/* --- tensors in the tape's arena ----------------------------------------- */

tg_tensor *tg_empty(tg_tape *tp, tg_dtype dtype, int ndim,
                    const int64_t *shape);
tg_tensor *tg_zeros(tg_tape *tp, tg_dtype dtype, int ndim,
                    const int64_t *shape);
tg_tensor *tg_ones(tg_tape *tp, tg_dtype dtype, int ndim, const int64_t *shape);
tg_tensor *tg_full(tg_tape *tp, tg_dtype dtype, int ndim, const int64_t *shape,
                   double value);
/* A 0-d tensor holding value. */
tg_tensor *tg_scalar(tg_tape *tp, tg_dtype dtype, double value);
/* Copies numel elements of dtype from a caller's buffer (row-major). */
tg_tensor *tg_from_buffer(tg_tape *tp, tg_dtype dtype, int ndim,
                          const int64_t *shape, const void *buf);
/* Copies from doubles, converting to dtype. */
tg_tensor *tg_from_f64(tg_tape *tp, tg_dtype dtype, int ndim,
                       const int64_t *shape, const double *values);
/* Wraps a caller's row-major buffer without copying; the caller keeps it
 * alive and unchanged while the tape uses it. */
tg_tensor *tg_wrap_buffer(tg_tape *tp, tg_dtype dtype, int ndim,
                          const int64_t *shape, void *buf);
/* 1-D: start, start+step, ... while < stop (> stop for a negative step). */
tg_tensor *tg_arange(tg_tape *tp, tg_dtype dtype, double start, double stop,
                     double step);
/* Random tensors drawn from the tape's generator (see tg_tape_seed). */
tg_tensor *tg_rand_uniform(tg_tape *tp, tg_dtype dtype, int ndim,
                           const int64_t *shape, double low, double high);
tg_tensor *tg_rand_normal(tg_tape *tp, tg_dtype dtype, int ndim,
                          const int64_t *shape, double mean, double std);

/* --- filling in place (any tensor, contiguous or not) -------------------- */

void tg_fill(tg_tensor *t, double value);
void tg_fill_uniform(tg_tensor *t, tg_rng *rng, double low, double high);
void tg_fill_normal(tg_tensor *t, tg_rng *rng, double mean, double std);
/* Copies numel elements of t's dtype from buf (row-major) into t. */
tg_status tg_copy_in(tg_tensor *t, const void *buf);

/* Call after writing into t->data yourself: backward then knows that any
 * op that saved t (or a view of its storage) must not use the old values. */
void tg_tensor_touch(tg_tensor *t);

/* --- reading ------------------------------------------------------------- */

bool tg_is_contiguous(const tg_tensor *t);
/* The element at a multi-index (ndim entries); NaN if t or idx is NULL. */
double tg_get(const tg_tensor *t, const int64_t *idx);
/* The element at a flat row-major position. */
double tg_get_flat(const tg_tensor *t, int64_t i);
/* The single value of a one-element tensor; NaN otherwise. */
double tg_item(const tg_tensor *t);
/* Copies all elements, row-major, converted to double. */
tg_status tg_copy_out_f64(const tg_tensor *t, double *dst);
/* Copies all elements, row-major, in t's own dtype. */
tg_status tg_copy_out(const tg_tensor *t, void *dst);

/* --- gradients ----------------------------------------------------------- */

/* Marks a leaf as needing a gradient; returns t. */
tg_tensor *tg_set_requires_grad(tg_tensor *t, bool requires_grad);
/* Keeps the gradient of an intermediate in t->grad after tg_backward. */
tg_tensor *tg_retain_grad(tg_tensor *t);
/* The accumulated gradient, or NULL before any backward reached t. */
tg_tensor *tg_grad_of(const tg_tensor *t);
/* Sets the accumulated gradient to zero (keeps the buffer). */
void tg_zero_grad(tg_tensor *t);
tg_tensor *tg_set_name(tg_tensor *t, const char *name);

/* --- printing ------------------------------------------------------------ */

/* "[2x3]" (or "[]" for a scalar) into buf; returns buf. */
char *tg_shape_str(const tg_tensor *t, char *buf, size_t size);
/* NumPy-like text: tensor([[1.0000, 2.0000], ...], f64). Large tensors are
 * summarised with "...". */
void tg_fprint(FILE *f, const tg_tensor *t);
void tg_print(const tg_tensor *t);

#endif
