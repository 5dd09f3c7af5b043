/* tapegrad tests: shared helpers (see support.h). */
#include "support.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Most inputs a checked function may take. */
#define TGT_MAX_INPUTS 8

int64_t tgt_numel(int ndim, const int64_t *shape) {
  int64_t n = 1;
  for (int i = 0; i < ndim; i++)
    n *= shape[i];
  return n;
}

bool tgt_input_init(tgt_input *in, int ndim, const int64_t *shape) {
  memset(in, 0, sizeof *in);
  if (ndim < 0 || ndim > TG_MAX_DIMS || (ndim > 0 && !shape)) return false;
  in->ndim = ndim;
  for (int i = 0; i < ndim; i++) {
    if (shape[i] < 0) return false;
    in->shape[i] = shape[i];
  }
  in->numel = tgt_numel(ndim, in->shape);
  /* calloc(0) may return NULL; always ask for at least one element. */
  in->data = calloc((size_t)(in->numel > 0 ? in->numel : 1), sizeof(double));
  return in->data != NULL;
}

void tgt_input_free(tgt_input *in) {
  if (!in) return;
  free(in->data);
  in->data = NULL;
}

void tgt_inputs_free(int n, tgt_input *in) {
  for (int i = 0; i < n; i++)
    tgt_input_free(&in[i]);
}

/* --- random data ---------------------------------------------------------- */

void tgt_fill_uniform(tg_rng *rng, double *dst, int64_t n, double lo,
                      double hi) {
  for (int64_t i = 0; i < n; i++)
    dst[i] = lo + (hi - lo) * tg_rng_uniform(rng);
}

void tgt_fill_away(tg_rng *rng, double *dst, int64_t n, double gap, double hi) {
  for (int64_t i = 0; i < n; i++) {
    double mag = gap + (hi - gap) * tg_rng_uniform(rng);
    dst[i] = tg_rng_uniform(rng) < 0.5 ? -mag : mag;
  }
}

void tgt_fill_distinct(tg_rng *rng, double *dst, int64_t n, double lo,
                       double spacing) {
  for (int64_t i = 0; i < n; i++)
    dst[i] = lo + spacing * (double)i;
  /* Fisher-Yates shuffle, then a small jitter that keeps the order gaps. */
  for (int64_t i = n - 1; i > 0; i--) {
    int64_t j = (int64_t)(tg_rng_u64(rng) % (uint64_t)(i + 1));
    double t = dst[i];
    dst[i] = dst[j];
    dst[j] = t;
  }
  for (int64_t i = 0; i < n; i++)
    dst[i] += spacing * (0.5 * tg_rng_uniform(rng) - 0.25);
}

/* --- tensors -------------------------------------------------------------- */

tg_tensor *tgt_make_leaf(tg_tape *tp, const tgt_input *in) {
  tg_tensor *t = tg_from_f64(tp, TG_F64, in->ndim, in->shape, in->data);
  return t ? tg_set_requires_grad(t, true) : NULL;
}

tg_tensor *tgt_make_const(tg_tape *tp, int ndim, const int64_t *shape,
                          const double *data) {
  static const int64_t none[1] = {1};
  return tg_from_f64(tp, TG_F64, ndim, shape ? shape : none, data);
}

bool tgt_copy_out(const tg_tensor *t, double *dst) {
  return t && tg_copy_out_f64(t, dst) == TG_OK;
}

double *tgt_read(const tg_tensor *t) {
  if (!t) return NULL;
  double *buf = malloc((size_t)(t->numel > 0 ? t->numel : 1) * sizeof *buf);
  if (buf && !tgt_copy_out(t, buf)) {
    free(buf);
    buf = NULL;
  }
  return buf;
}

bool tgt_failed(tg_tape *tp, const tg_tensor *t, const char *what) {
  if (!tp) {
    fprintf(stderr, "tgt: %s: no tape\n", what);
    return true;
  }
  if (tg_error(tp) != TG_OK) {
    fprintf(stderr, "tgt: %s: %s (%s)\n", what, tg_errmsg(tp),
            tg_strerror(tg_error(tp)));
    return true;
  }
  if (!t) {
    fprintf(stderr, "tgt: %s: NULL result without an error on the tape\n",
            what);
    return true;
  }
  return false;
}

/* --- checker internals ---------------------------------------------------- */

/* A working copy of the inputs whose values the checker perturbs. */
typedef struct tgt_work {
  int n;
  tgt_input in[TGT_MAX_INPUTS];
} tgt_work;

static void tgt_work_free(tgt_work *w) {
  for (int i = 0; i < w->n; i++)
    free(w->in[i].data);
  w->n = 0;
}

static bool tgt_work_init(tgt_work *w, int n, const tgt_input *inputs) {
  w->n = 0;
  for (int i = 0; i < n; i++) {
    const tgt_input *src = &inputs[i];
    w->in[i] = *src;
    w->in[i].numel = tgt_numel(src->ndim, src->shape);
    size_t cnt = (size_t)(w->in[i].numel > 0 ? w->in[i].numel : 1);
    w->in[i].data = malloc(cnt * sizeof(double));
    if (!w->in[i].data) {
      tgt_work_free(w);
      return false;
    }
    w->n = i + 1;
    memcpy(w->in[i].data, src->data, (size_t)w->in[i].numel * sizeof(double));
  }
  return true;
}

static bool tgt_args_ok(tgt_fn f, int n, const tgt_input *inputs) {
  if (!f || !inputs || n <= 0 || n > TGT_MAX_INPUTS) {
    fprintf(stderr, "tgt: bad checker arguments (n = %d)\n", n);
    return false;
  }
  for (int i = 0; i < n; i++) {
    if (!inputs[i].data || inputs[i].ndim < 0 || inputs[i].ndim > TG_MAX_DIMS) {
      fprintf(stderr, "tgt: input %d is not initialised\n", i);
      return false;
    }
  }
  return true;
}

/* Makes the leaves and runs f; NULL (after a message) on failure. */
static tg_tensor *tgt_forward(tg_tape *tp, tgt_fn f, void *ctx, int n,
                              const tgt_input *in, tg_tensor **x) {
  for (int i = 0; i < n; i++) {
    x[i] = tgt_make_leaf(tp, &in[i]);
    if (tgt_failed(tp, x[i], "making a leaf")) return NULL;
  }
  tg_tensor *y = f(tp, x, ctx);
  if (tgt_failed(tp, y, "the checked function")) return NULL;
  if (y->numel != 1) {
    fprintf(stderr, "tgt: the checked function gave %lld elements, not 1\n",
            (long long)y->numel);
    return NULL;
  }
  return y;
}

/* true when gradient g exists and has exactly the shape of input in. */
static bool tgt_grad_shape_ok(const tg_tensor *g, const tgt_input *in, int i) {
  if (!g) {
    fprintf(stderr, "tgt: tg_grad gave no gradient for input %d\n", i);
    return false;
  }
  bool same = g->ndim == in->ndim;
  for (int d = 0; same && d < in->ndim; d++)
    same = g->shape[d] == in->shape[d];
  if (!same) {
    char buf[64];
    fprintf(stderr,
            "tgt: gradient of input %d has shape %s, want ndim %d"
            " numel %lld\n",
            i, tg_shape_str(g, buf, sizeof buf), in->ndim,
            (long long)in->numel);
  }
  return same;
}

/* Runs tg_grad of y with respect to x into out[i] (input-shaped buffers).
 * On success with create_graph the gradient tensors are left in g. */
static bool tgt_grads(tg_tape *tp, tg_tensor *y, int n, tg_tensor **x,
                      const tgt_input *in, tg_tensor **g, bool create_graph,
                      double *const *out) {
  for (int i = 0; i < n; i++)
    g[i] = NULL;
  tg_status st = tg_grad(tp, 1, &y, NULL, n, x, g, create_graph);
  if (st != TG_OK || tg_error(tp) != TG_OK) {
    fprintf(stderr, "tgt: tg_grad (create_graph %d) failed: %s (%s)\n",
            (int)create_graph, tg_errmsg(tp),
            tg_strerror(st != TG_OK ? st : tg_error(tp)));
    return false;
  }
  for (int i = 0; i < n; i++) {
    if (!tgt_grad_shape_ok(g[i], &in[i], i)) return false;
    if (out && !tgt_copy_out(g[i], out[i])) {
      fprintf(stderr, "tgt: reading gradient %d failed\n", i);
      return false;
    }
  }
  return true;
}

/* f at the working values, on a reset evaluation tape, without recording. */
static bool tgt_eval_f(tg_tape *ev, tgt_fn f, void *ctx, const tgt_work *w,
                       double *out) {
  tg_tensor *x[TGT_MAX_INPUTS];
  tg_tape_reset(ev);
  tg_clear_error(ev);
  bool prev = tg_set_grad_enabled(ev, false);
  tg_tensor *y = tgt_forward(ev, f, ctx, w->n, w->in, x);
  tg_set_grad_enabled(ev, prev);
  if (!y) return false;
  *out = tg_item(y);
  return true;
}

/* s = sum_i sum(grad_i f * V_i) at the working values, from a first-order
 * tg_grad on a reset evaluation tape. */
static bool tgt_eval_s(tg_tape *ev, tgt_fn f, void *ctx, const tgt_work *w,
                       double *const *v, double *const *buf, double *out) {
  tg_tensor *x[TGT_MAX_INPUTS], *g[TGT_MAX_INPUTS];
  tg_tape_reset(ev);
  tg_clear_error(ev);
  tg_set_grad_enabled(ev, true);
  tg_tensor *y = tgt_forward(ev, f, ctx, w->n, w->in, x);
  if (!y || !tgt_grads(ev, y, w->n, x, w->in, g, false, buf)) return false;
  double s = 0.0;
  for (int i = 0; i < w->n; i++)
    for (int64_t j = 0; j < w->in[i].numel; j++)
      s += buf[i][j] * v[i][j];
  *out = s;
  return true;
}

/* Relative error as defined in support.h; NaN turns into INFINITY. */
static double tgt_rel_err(double analytic, double numeric) {
  double e = fabs(analytic - numeric) / fmax(1.0, fabs(numeric));
  return isnan(e) ? INFINITY : e;
}

/* Allocates n input-shaped buffers; false (all freed) when memory is short.
 */
static bool tgt_bufs_new(int n, const tgt_input *in, double **bufs) {
  for (int i = 0; i < n; i++)
    bufs[i] = NULL;
  for (int i = 0; i < n; i++) {
    int64_t cnt = tgt_numel(in[i].ndim, in[i].shape);
    bufs[i] = calloc((size_t)(cnt > 0 ? cnt : 1), sizeof(double));
    if (!bufs[i]) {
      for (int k = 0; k < i; k++)
        free(bufs[k]);
      return false;
    }
  }
  return true;
}

static void tgt_bufs_free(int n, double **bufs) {
  for (int i = 0; i < n; i++) {
    free(bufs[i]);
    bufs[i] = NULL;
  }
}

/* --- checkers ------------------------------------------------------------- */

double tgt_check_grad(tgt_fn f, void *ctx, int n, const tgt_input *inputs) {
  if (!tgt_args_ok(f, n, inputs)) return INFINITY;
  double err = INFINITY;
  double *ana[TGT_MAX_INPUTS];
  tgt_work w = {0};
  tg_tape *tp = tg_tape_new();
  tg_tape *ev = tg_tape_new();
  bool have_bufs = tgt_bufs_new(n, inputs, ana);
  if (!tp || !ev || !have_bufs || !tgt_work_init(&w, n, inputs)) {
    fprintf(stderr, "tgt: out of memory\n");
    goto done;
  }

  tg_tensor *x[TGT_MAX_INPUTS], *g[TGT_MAX_INPUTS];
  tg_tensor *y = tgt_forward(tp, f, ctx, n, w.in, x);
  if (!y || !tgt_grads(tp, y, n, x, w.in, g, false, ana)) goto done;

  double max_err = 0.0;
  for (int i = 0; i < n; i++) {
    for (int64_t j = 0; j < w.in[i].numel; j++) {
      double *xj = &w.in[i].data[j];
      double orig = *xj, fp, fm;
      *xj = orig + TGT_EPS1;
      bool ok = tgt_eval_f(ev, f, ctx, &w, &fp);
      *xj = orig - TGT_EPS1;
      ok = ok && tgt_eval_f(ev, f, ctx, &w, &fm);
      *xj = orig;
      if (!ok) goto done;
      double e = tgt_rel_err(ana[i][j], (fp - fm) / (2.0 * TGT_EPS1));
      if (e > max_err) max_err = e;
    }
  }
  err = max_err;

done:
  if (have_bufs) tgt_bufs_free(n, ana);
  tgt_work_free(&w);
  if (ev) tg_tape_free(ev);
  if (tp) tg_tape_free(tp);
  return err;
}

double tgt_check_grad2(tgt_fn f, void *ctx, int n, const tgt_input *inputs,
                       uint64_t seed) {
  if (!tgt_args_ok(f, n, inputs)) return INFINITY;
  double err = INFINITY;
  double *ana[TGT_MAX_INPUTS], *v[TGT_MAX_INPUTS], *tmp[TGT_MAX_INPUTS];
  tgt_work w = {0};
  tg_tape *tp = tg_tape_new();
  tg_tape *ev = tg_tape_new();
  bool have_ana = tgt_bufs_new(n, inputs, ana);
  bool have_v = tgt_bufs_new(n, inputs, v);
  bool have_tmp = tgt_bufs_new(n, inputs, tmp);
  if (!tp || !ev || !have_ana || !have_v || !have_tmp ||
      !tgt_work_init(&w, n, inputs)) {
    fprintf(stderr, "tgt: out of memory\n");
    goto done;
  }

  tg_rng rng;
  tg_rng_seed(&rng, seed);
  for (int i = 0; i < n; i++)
    tgt_fill_uniform(&rng, v[i], w.in[i].numel, -1.0, 1.0);

  /* Analytic: differentiate s, built on the tape from create_graph grads. */
  tg_tensor *x[TGT_MAX_INPUTS], *g[TGT_MAX_INPUTS], *h[TGT_MAX_INPUTS];
  tg_tensor *y = tgt_forward(tp, f, ctx, n, w.in, x);
  if (!y || !tgt_grads(tp, y, n, x, w.in, g, true, NULL)) goto done;
  tg_tensor *s = NULL;
  for (int i = 0; i < n; i++) {
    tg_tensor *vt = tgt_make_const(tp, w.in[i].ndim, w.in[i].shape, v[i]);
    tg_tensor *term = tg_sum_all(tp, tg_mul(tp, g[i], vt));
    s = s ? tg_add(tp, s, term) : term;
  }
  if (tgt_failed(tp, s, "building s = sum_i <grad_i, V_i>")) goto done;
  double s_tape = tg_item(s);
  if (!tgt_grads(tp, s, n, x, w.in, h, false, ana)) goto done;

  /* The create_graph gradients must agree with plain first-order ones. */
  double s_plain;
  if (!tgt_eval_s(ev, f, ctx, &w, v, tmp, &s_plain)) goto done;
  double max_err = tgt_rel_err(s_tape, s_plain);
  if (max_err > 1e-9)
    fprintf(stderr, "tgt: s with create_graph %.17g, without %.17g\n", s_tape,
            s_plain);

  for (int i = 0; i < n; i++) {
    for (int64_t j = 0; j < w.in[i].numel; j++) {
      double *xj = &w.in[i].data[j];
      double orig = *xj, sp, sm;
      *xj = orig + TGT_EPS2;
      bool ok = tgt_eval_s(ev, f, ctx, &w, v, tmp, &sp);
      *xj = orig - TGT_EPS2;
      ok = ok && tgt_eval_s(ev, f, ctx, &w, v, tmp, &sm);
      *xj = orig;
      if (!ok) goto done;
      double e = tgt_rel_err(ana[i][j], (sp - sm) / (2.0 * TGT_EPS2));
      if (e > max_err) max_err = e;
    }
  }
  err = max_err;

done:
  if (have_ana) tgt_bufs_free(n, ana);
  if (have_v) tgt_bufs_free(n, v);
  if (have_tmp) tgt_bufs_free(n, tmp);
  tgt_work_free(&w);
  if (ev) tg_tape_free(ev);
  if (tp) tg_tape_free(tp);
  return err;
}

int tgt_run_suite(Suite *s) {
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_ENV);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

void tgt_expect_err(tg_tape *tp, const char *what, const tg_tensor *r,
                    tg_status code, ...) {
  const char *msg = tg_errmsg(tp);
  char shape[96];
  ck_assert_msg(r == NULL, "%s: expected NULL, got a tensor %s", what,
                tg_shape_str(r, shape, sizeof shape));
  ck_assert_msg(tg_error(tp) != TG_OK, "%s: no error on the tape", what);
  if (code != TG_OK)
    ck_assert_msg(tg_error(tp) == code, "%s: error %s (\"%s\"), expected %s",
                  what, tg_strerror(tg_error(tp)), msg, tg_strerror(code));
  va_list ap;
  va_start(ap, code);
  for (const char *s = va_arg(ap, const char *); s;
       s = va_arg(ap, const char *))
    ck_assert_msg(strstr(msg, s) != NULL, "%s: message \"%s\" lacks \"%s\"",
                  what, msg, s);
  va_end(ap);
  tg_clear_error(tp);
}

bool tgt_close_all(const char *label, const double *got, const double *ref,
                   int64_t n, double tol) {
  for (int64_t i = 0; i < n; i++) {
    double d = fabs(got[i] - ref[i]);
    if (!(d <= tol * fmax(1.0, fabs(ref[i])))) {
      fprintf(stderr, "%s: element %lld is %.17g, expected %.17g\n", label,
              (long long)i, got[i], ref[i]);
      return false;
    }
  }
  return true;
}
