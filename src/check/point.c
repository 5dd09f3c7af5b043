/* Points in input space and evaluating a user function at them. */
#include <stdlib.h>
#include <string.h>

#include "check_internal.h"

bool gc_point_init(gc_point *p, int n, tg_tensor *const *inputs, int as) {
  memset(p, 0, sizeof *p);
  p->n = n;
  for (int i = 0; i < n; i++) {
    const tg_tensor *x = inputs[i];
    p->dtype[i] = as < 0 ? x->dtype : (tg_dtype)as;
    p->ndim[i] = x->ndim;
    memcpy(p->shape[i], x->shape, sizeof x->shape);
    p->numel[i] = x->numel;
    p->vals[i] = tg__malloc(sizeof(double) * (size_t)(x->numel ? x->numel : 1));
    if (!p->vals[i]) {
      gc_point_free(p);
      return false;
    }
    tg_copy_out_f64(x, p->vals[i]);
  }
  return true;
}

void gc_point_free(gc_point *p) {
  for (int i = 0; i < p->n; i++)
    tg__free(p->vals[i]);
  memset(p, 0, sizeof *p);
}

tg_tensor *gc_call(tg_tape *tp, tg_fn f, void *ud, const gc_point *p,
                   tg_tensor **leaves) {
  for (int i = 0; i < p->n; i++) {
    leaves[i] =
        tg_from_f64(tp, p->dtype[i], p->ndim[i], p->shape[i], p->vals[i]);
    if (!leaves[i]) return NULL;
    tg_set_requires_grad(leaves[i], true);
  }
  tg_tensor *y = f(tp, leaves, ud);
  if (!y && !tg_error(tp))
    tg__fail(tp, TG_ERR_STATE, "the checked function returned NULL");
  return tg_error(tp) ? NULL : y;
}

void gc_resolve_tolerances(const tg_gradcheck_opts *o, bool any_f32,
                           double *eps, double *atol, double *rtol) {
  *eps = o->eps > 0 ? o->eps : any_f32 ? 1e-3 : 1e-6;
  *atol = o->atol > 0 ? o->atol : any_f32 ? 1e-2 : 1e-5;
  *rtol = o->rtol > 0 ? o->rtol : any_f32 ? 1e-2 : 1e-3;
}
