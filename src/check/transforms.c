/* Derivative transforms of user functions: vjp, jvp, Jacobian, Hessian and
 * Hessian-vector product. All of them are built on tg_grad alone: forward
 * mode comes from the double-vjp trick, second derivatives from a
 * create_graph sweep that is differentiated once more. Results are plain
 * values on the tape, and the tape's grad mode is left as it was. */
#include <string.h>

#include "../core/internal.h"

/* One evaluation of f on leaf copies of the inputs. */
typedef struct call {
  tg_tape *tp;
  const char *fname;
  int n;
  tg_tensor **leaves; /* n fresh leaves holding the inputs' values */
  tg_tensor **tmp;    /* n scratch slots, in the same allocation */
  tg_tensor *y;       /* f's output */
  bool prev_mode;     /* grad mode to restore */
} call;

/* --- helpers ------------------------------------------------------------- */

/* A contiguous copy of t's values, detached from any graph. */
static tg_tensor *value_of(tg_tape *tp, const tg_tensor *t) {
  tg_tensor *c = tg_empty(tp, t->dtype, t->ndim, t->shape);
  if (c) tg_copy_out(t, c->data);
  return c;
}

/* Writes element i of a contiguous tensor made here (a one-hot seed). */
static void set_flat(tg_tensor *t, int64_t i, double v) {
  if (t->dtype == TG_F32)
    ((float *)t->data)[i] = (float)v;
  else
    ((double *)t->data)[i] = v;
}

static void clear(int n, tg_tensor **out) {
  for (int i = 0; out && i < n; i++)
    out[i] = NULL;
}

/* --- argument checks ----------------------------------------------------- */
/* Each returns false with the tape's error set when the check fails. */

/* The checks every transform shares. */
static bool inputs_ok(tg_tape *tp, const char *fname, tg_fn f, int n,
                      tg_tensor *const *x) {
  if (tg_error(tp) != TG_OK) return false; /* an earlier error stands */
  if (!f) {
    tg__fail(tp, TG_ERR_NULL, "%s: f is NULL", fname);
    return false;
  }
  if (n <= 0) {
    tg__fail(tp, TG_ERR_ARG, "%s: n is %d; f needs an input", fname, n);
    return false;
  }
  if (!x) {
    tg__fail(tp, TG_ERR_NULL, "%s: x is NULL", fname);
    return false;
  }
  for (int i = 0; i < n; i++) {
    if (!x[i]) {
      tg__fail(tp, TG_ERR_NULL, "%s: input #%d is NULL", fname, i + 1);
      return false;
    }
  }
  return true;
}

/* w[i] (tangents or vectors: the argument arg, each called item) must have
 * the dtype and shape of input i. */
static bool like_inputs(tg_tape *tp, const char *fname, const char *arg,
                        const char *item, int n, tg_tensor *const *x,
                        tg_tensor *const *w) {
  char bw[96], bx[96];
  if (!w) {
    tg__fail(tp, TG_ERR_NULL, "%s: %s is NULL", fname, arg);
    return false;
  }
  for (int i = 0; i < n; i++) {
    if (!w[i])
      tg__fail(tp, TG_ERR_NULL, "%s: %s #%d is NULL", fname, item, i + 1);
    else if (w[i]->dtype != x[i]->dtype)
      tg__fail(tp, TG_ERR_DTYPE, "%s: %s #%d is %s but input #%d is %s", fname,
               item, i + 1, tg_dtype_name(w[i]->dtype), i + 1,
               tg_dtype_name(x[i]->dtype));
    else if (!tg__same_shape(w[i], x[i]))
      tg__fail(tp, TG_ERR_SHAPE, "%s: %s #%d is %s but input #%d is %s", fname,
               item, i + 1, tg_shape_str(w[i], bw, sizeof bw), i + 1,
               tg_shape_str(x[i], bx, sizeof bx));
    else
      continue;
    return false;
  }
  return true;
}

static bool out_ok(tg_tape *tp, const char *fname, const char *arg,
                   const void *out) {
  if (!out) tg__fail(tp, TG_ERR_NULL, "%s: %s is NULL", fname, arg);
  return out != NULL;
}

static bool wrt_ok(tg_tape *tp, const char *fname, int n, int wrt) {
  bool ok = wrt >= 0 && wrt < n;
  if (!ok)
    tg__fail(tp, TG_ERR_ARG, "%s: wrt %d is out of range for %d input%s", fname,
             wrt, n, n == 1 ? "" : "s");
  return ok;
}

static bool scalar_ok(const call *c) {
  char b[96];
  bool ok = c->y->numel == 1;
  if (!ok)
    tg__fail(c->tp, TG_ERR_SHAPE, "%s: f must return one element, got %s",
             c->fname, tg_shape_str(c->y, b, sizeof b));
  return ok;
}

/* v has y's dtype and shape, or is NULL for a one-element y. */
static bool seed_ok(const call *c, const tg_tensor *v) {
  char bv[96], by[96];
  const tg_tensor *y = c->y;
  if (!v && y->numel != 1)
    tg__fail(c->tp, TG_ERR_SHAPE,
             "%s: v is NULL but y is %s; give v when y has more than one "
             "element",
             c->fname, tg_shape_str(y, by, sizeof by));
  else if (v && v->dtype != y->dtype)
    tg__fail(c->tp, TG_ERR_DTYPE, "%s: v is %s but y is %s", c->fname,
             tg_dtype_name(v->dtype), tg_dtype_name(y->dtype));
  else if (v && !tg__same_shape(v, y))
    tg__fail(c->tp, TG_ERR_SHAPE, "%s: v is %s but y is %s", c->fname,
             tg_shape_str(v, bv, sizeof bv), tg_shape_str(y, by, sizeof by));
  else
    return true;
  return false;
}

/* --- evaluating f -------------------------------------------------------- */

/* Turns grad mode on, makes leaf copies of x and runs f on them. finish()
 * must follow, whatever this returns. */
static bool evaluate(call *c, tg_tape *tp, const char *fname, tg_fn f, void *ud,
                     int n, tg_tensor *const *x) {
  *c = (call){tp, fname, n, NULL, NULL, NULL, tg_set_grad_enabled(tp, true)};
  c->leaves = tg__malloc(2 * (size_t)n * sizeof *c->leaves);
  if (!c->leaves) {
    tg__fail(tp, TG_ERR_NOMEM, "%s: out of memory", fname);
    return false;
  }
  c->tmp = c->leaves + n;
  for (int i = 0; i < n; i++) {
    c->leaves[i] = tg_set_requires_grad(value_of(tp, x[i]), true);
    if (!c->leaves[i]) return false;
  }
  c->y = f(tp, c->leaves, ud);
  if (tg_error(tp) != TG_OK) return false;
  if (!c->y)
    tg__fail(tp, TG_ERR_NULL, "%s: f returned NULL without an error", fname);
  return c->y != NULL;
}

/* Restores grad mode and frees the scratch; the status of the call. */
static tg_status finish(call *c) {
  tg_set_grad_enabled(c->tp, c->prev_mode);
  tg__free(c->leaves);
  return tg_error(c->tp);
}

/* --- the transforms' cores ----------------------------------------------- */

/* tmp[i] <- sum(tmp[i] * w[i]): the terms of <g, w>, kept as separate
 * outputs for tg_grad so inputs of different dtypes need no common one. */
static bool dots(call *c, tg_tensor *const *w) {
  for (int i = 0; i < c->n; i++) {
    tg_tensor *wi = value_of(c->tp, w[i]); /* keeps w's own graph out */
    c->tmp[i] = tg_sum_all(c->tp, tg_mul(c->tp, c->tmp[i], wi));
    if (!c->tmp[i]) return false;
  }
  return true;
}

/* sum_i (dy/dx_i) t_i by the double-vjp trick: g(u) = J^T u is linear in
 * u, so the gradient of <g(u), t> with respect to u is J t. */
static tg_tensor *jvp_of(call *c, tg_tensor *const *t) {
  tg_tape *tp = c->tp;
  tg_tensor *y = c->y, *d;
  tg_tensor *u = tg_zeros(tp, y->dtype, y->ndim, y->shape);
  if (!u) return NULL;
  tg_set_requires_grad(u, true);
  if (tg_grad(tp, 1, &y, &u, c->n, c->leaves, c->tmp, true) != TG_OK)
    return NULL;
  if (!dots(c, t)) return NULL;
  if (tg_grad(tp, c->n, c->tmp, NULL, 1, &u, &d, false) != TG_OK) return NULL;
  return d;
}

/* d out / d wrt, shape out.shape ++ wrt.shape: row k is the gradient of
 * out's element k, from a one-hot seed. */
static tg_tensor *rows_of(call *c, tg_tensor *out, tg_tensor *wrt) {
  tg_tape *tp = c->tp;
  int nd = out->ndim + wrt->ndim;
  if (nd > TG_MAX_DIMS)
    return tg__fail(tp, TG_ERR_SHAPE,
                    "%s: result would have %d dimensions (at most %d)",
                    c->fname, nd, TG_MAX_DIMS);
  int64_t shape[TG_MAX_DIMS];
  memcpy(shape, out->shape, (size_t)out->ndim * sizeof *shape);
  memcpy(shape + out->ndim, wrt->shape, (size_t)wrt->ndim * sizeof *shape);
  tg_tensor *r = tg_empty(tp, wrt->dtype, nd, shape);
  tg_tensor *e = tg_zeros(tp, out->dtype, out->ndim, out->shape);
  if (!r || !e) return NULL;
  size_t row = (size_t)wrt->numel * tg_dtype_size(wrt->dtype);
  for (int64_t k = 0; k < out->numel; k++) {
    tg_tensor *g;
    set_flat(e, k, 1.0);
    tg_status st = tg_grad(tp, 1, &out, &e, 1, &wrt, &g, false);
    set_flat(e, k, 0.0); /* e is reused: copy the row out before */
    if (st != TG_OK) return NULL;
    tg_copy_out(g, (char *)r->data + (size_t)k * row);
  }
  return r;
}

/* --- public entry points ------------------------------------------------- */

tg_status tg_vjp(tg_tape *tp, tg_fn f, void *ud, int n, tg_tensor *const *x,
                 tg_tensor *v, tg_tensor **y, tg_tensor **vjp) {
  static const char fn[] = "tg_vjp";
  if (!tp) return TG_ERR_NULL;
  clear(1, y);
  clear(n, vjp);
  if (!inputs_ok(tp, fn, f, n, x) || !out_ok(tp, fn, "vjp", vjp))
    return tg_error(tp);
  call c;
  if (evaluate(&c, tp, fn, f, ud, n, x) && seed_ok(&c, v) &&
      tg_grad(tp, 1, &c.y, v ? &v : NULL, n, c.leaves, c.tmp, false) == TG_OK) {
    for (int i = 0; i < n; i++)
      vjp[i] = value_of(tp, c.tmp[i]);
    if (y) *y = value_of(tp, c.y);
  }
  tg_status st = finish(&c);
  if (st != TG_OK) {
    clear(n, vjp);
    clear(1, y);
  }
  return st;
}

tg_status tg_jvp(tg_tape *tp, tg_fn f, void *ud, int n, tg_tensor *const *x,
                 tg_tensor *const *t, tg_tensor **y, tg_tensor **jvp) {
  static const char fn[] = "tg_jvp";
  if (!tp) return TG_ERR_NULL;
  clear(1, y);
  clear(1, jvp);
  if (!inputs_ok(tp, fn, f, n, x) ||
      !like_inputs(tp, fn, "t", "tangent", n, x, t) ||
      !out_ok(tp, fn, "jvp", jvp))
    return tg_error(tp);
  call c;
  tg_tensor *d = evaluate(&c, tp, fn, f, ud, n, x) ? jvp_of(&c, t) : NULL;
  if (d) {
    *jvp = value_of(tp, d);
    if (y) *y = value_of(tp, c.y);
  }
  tg_status st = finish(&c);
  if (st != TG_OK) {
    clear(1, jvp);
    clear(1, y);
  }
  return st;
}

tg_tensor *tg_jacobian(tg_tape *tp, tg_fn f, void *ud, int n,
                       tg_tensor *const *x, int wrt) {
  static const char fn[] = "tg_jacobian";
  if (!tp) return NULL;
  if (!inputs_ok(tp, fn, f, n, x) || !wrt_ok(tp, fn, n, wrt)) return NULL;
  call c;
  tg_tensor *r = NULL;
  if (evaluate(&c, tp, fn, f, ud, n, x)) r = rows_of(&c, c.y, c.leaves[wrt]);
  return finish(&c) == TG_OK ? r : NULL;
}

tg_tensor *tg_hessian(tg_tape *tp, tg_fn f, void *ud, int n,
                      tg_tensor *const *x, int wrt) {
  static const char fn[] = "tg_hessian";
  if (!tp) return NULL;
  if (!inputs_ok(tp, fn, f, n, x) || !wrt_ok(tp, fn, n, wrt)) return NULL;
  call c;
  tg_tensor *r = NULL, *g;
  if (evaluate(&c, tp, fn, f, ud, n, x) && scalar_ok(&c) &&
      tg_grad(tp, 1, &c.y, NULL, 1, &c.leaves[wrt], &g, true) == TG_OK)
    r = rows_of(&c, g, c.leaves[wrt]);
  return finish(&c) == TG_OK ? r : NULL;
}

tg_status tg_hvp(tg_tape *tp, tg_fn f, void *ud, int n, tg_tensor *const *x,
                 tg_tensor *const *v, tg_tensor **hv) {
  static const char fn[] = "tg_hvp";
  if (!tp) return TG_ERR_NULL;
  clear(n, hv);
  if (!inputs_ok(tp, fn, f, n, x) || !like_inputs(tp, fn, "v", "v", n, x, v) ||
      !out_ok(tp, fn, "hv", hv))
    return tg_error(tp);
  call c;
  /* hv = d<g, v>/dx with g = df/dx recorded (create_graph) */
  if (evaluate(&c, tp, fn, f, ud, n, x) && scalar_ok(&c) &&
      tg_grad(tp, 1, &c.y, NULL, n, c.leaves, c.tmp, true) == TG_OK &&
      dots(&c, v) &&
      tg_grad(tp, n, c.tmp, NULL, n, c.leaves, hv, false) == TG_OK) {
    for (int i = 0; i < n; i++)
      hv[i] = value_of(tp, hv[i]);
  }
  tg_status st = finish(&c);
  if (st != TG_OK) clear(n, hv);
  return st;
}
