/* Shared by the checkers in src/check (not installed). */
#ifndef TG_CHECK_INTERNAL_H
#define TG_CHECK_INTERNAL_H

#include "../core/internal.h"
#include "tapegrad/check.h"

/* A point in input space: each input's dtype, shape and values as doubles,
 * so that finite differences can move one element at a time. */
typedef struct gc_point {
  int n;
  tg_dtype dtype[TG_GRADCHECK_MAX_INPUTS];
  int ndim[TG_GRADCHECK_MAX_INPUTS];
  int64_t shape[TG_GRADCHECK_MAX_INPUTS][TG_MAX_DIMS];
  int64_t numel[TG_GRADCHECK_MAX_INPUTS];
  double *vals[TG_GRADCHECK_MAX_INPUTS];
} gc_point;

/* Copies the inputs' values (converted to `as` unless it is -1). */
bool gc_point_init(gc_point *p, int n, tg_tensor *const *inputs, int as);
void gc_point_free(gc_point *p);

/* Leaves on tp holding p's values (requiring gradients), then f on them.
 * NULL (tape error set, or f failed) on failure. */
tg_tensor *gc_call(tg_tape *tp, tg_fn f, void *ud, const gc_point *p,
                   tg_tensor **leaves);

/* Tolerance test shared by every checker. */
static inline bool gc_close(double a, double n, double atol, double rtol) {
  double d = a - n;
  if (d < 0) d = -d;
  double m = n < 0 ? -n : n;
  return d <= atol + rtol * m;
}

/* tg_check_nodes, checking each node to first or second order. */
tg_status gc_check_nodes(tg_tape *tp, const tg_gradcheck_opts *opts, int order,
                         tg_node_check *res);

/* Fills resolved eps/atol/rtol for the dtypes present. */
void gc_resolve_tolerances(const tg_gradcheck_opts *o, bool any_f32,
                           double *eps, double *atol, double *rtol);

#endif
