/* tapegrad: layers (layers.h).
 *
 * For every layer:
 *   - the forward pass against a reference written here in plain C doubles
 *     (f64 layers, 1e-12 relative): convolution and pooling loops, the norms'
 *     statistics, and the textbook gate equations of RNN, LSTM and GRU
 *     (PyTorch's), step by step, from the layer's own parameter values;
 *   - gradients of the input and of every parameter against central finite
 *     differences, first order for every layer and second order for the
 *     twice-differentiable ones. Parameters are heap tensors, so the
 *     differences perturb them in place. tg_gradcheck and tg_gradgradcheck
 *     check the input(s) as well;
 *   - a wrong input shape: NULL, TG_ERR_SHAPE, and a message naming the
 *     layer's kind and name, the expected and the actual shape;
 *   - PyTorch's parameter names, shapes and initial values in the registry;
 *   - batch norm's running statistics (PyTorch's update rule) and its
 *     evaluation mode;
 *   - two small training runs that must converge: an XOR MLP and an LSTM
 *     that learns to repeat its input two steps later. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "support.h"

#define LEN(a) ((int)(sizeof(a) / sizeof((a)[0])))

/* Forward passes against the references (relative, floor 1). */
#define FWD_TOL 1e-12
/* Finite differences: the error is |analytic - numeric| / max(1, |numeric|)
 * (as tests/support.h). */
#define FD_EPS 1e-6
#define TOL1 1e-6
#define TOL2 1e-5

/* |got - want| <= tol * max(1, |want|), and got finite when want is. */
static bool close_to(double got, double want, double tol) {
  if (isfinite(want) && !isfinite(got)) return false;
  return fabs(got - want) <= tol * fmax(1.0, fabs(want));
}

static double sigm(double x) { return 1.0 / (1.0 + exp(-x)); }

static tg_tape *new_tape(void) {
  tg_tape *tp = tg_tape_new();
  ck_assert_ptr_nonnull(tp);
  return tp;
}

/* ck_assert that a result (tensor or layer) is there and the tape clean;
 * names what was being done. */
#define ASSERT_OK(tp, t, what)                                                 \
  ck_assert_msg((t) != NULL && tg_error(tp) == TG_OK, "%s failed: %s", (what), \
                tg_errmsg(tp))

/* n values uniform in [lo, hi) from a seed (malloc'd). */
static double *rand_vals(int64_t n, uint64_t seed, double lo, double hi) {
  double *v = malloc((size_t)(n > 0 ? n : 1) * sizeof *v);
  ck_assert_ptr_nonnull(v);
  tg_rng r;
  tg_rng_seed(&r, seed);
  tgt_fill_uniform(&r, v, n, lo, hi);
  return v;
}

/* n values with |v| in [gap, hi) and random signs (malloc'd). */
static double *away_vals(int64_t n, uint64_t seed, double gap, double hi) {
  double *v = malloc((size_t)(n > 0 ? n : 1) * sizeof *v);
  ck_assert_ptr_nonnull(v);
  tg_rng r;
  tg_rng_seed(&r, seed);
  tgt_fill_away(&r, v, n, gap, hi);
  return v;
}

static tg_tensor *f64_tensor(tg_tape *tp, int ndim, const int64_t *shape,
                             const double *v) {
  tg_tensor *t = tg_from_f64(tp, TG_F64, ndim, shape, v);
  ck_assert_ptr_nonnull(t);
  return t;
}

static void assert_shape(const tg_tensor *t, int ndim, const int64_t *shape,
                         const char *what) {
  char got[96];
  ck_assert_msg(t != NULL, "%s: NULL tensor", what);
  bool same = t->ndim == ndim;
  for (int d = 0; same && d < ndim; d++)
    same = t->shape[d] == shape[d];
  ck_assert_msg(same, "%s: shape %s, ndim %d expected", what,
                tg_shape_str(t, got, sizeof got), ndim);
}

/* t has the given shape and values within FWD_TOL. */
static void assert_values(const tg_tensor *t, int ndim, const int64_t *shape,
                          const double *want, const char *what) {
  assert_shape(t, ndim, shape, what);
  double *got = tgt_read(t);
  ck_assert_ptr_nonnull(got);
  for (int64_t i = 0; i < t->numel; i++)
    ck_assert_msg(close_to(got[i], want[i], FWD_TOL),
                  "%s: element %lld is %.17g, want %.17g", what, (long long)i,
                  got[i], want[i]);
  free(got);
}

/* A malloc'd copy of the values of the registry entry called name. */
static double *param_vals(const tg_params *ps, const char *name) {
  tg_tensor *p = tg_params_find(ps, name);
  ck_assert_msg(p != NULL, "no parameter '%s'", name);
  double *v = tgt_read(p);
  ck_assert_ptr_nonnull(v);
  return v;
}

/* Fills every trainable parameter of ps with uniform values in [lo, hi), so
 * that no bias is zero and no weight is one (which would hide mistakes). */
static void randomise(tg_params *ps, uint64_t seed, double lo, double hi) {
  tg_rng r;
  tg_rng_seed(&r, seed);
  for (int i = 0; i < tg_params_count(ps); i++)
    if (tg_params_trainable(ps, i))
      tg_fill_uniform(tg_params_at(ps, i), &r, lo, hi);
}

/* ========================================================================= */
/* Gradients of layers against finite differences                            */
/* ========================================================================= */

/* The checked function: the layer's output from inputs xs. */
typedef tg_tensor *(*fwd_fn)(tg_tape *tp, tg_tensor **xs, void *ctx);

#define MAX_X 4
#define MAX_P 4
#define MAX_T (MAX_X + MAX_P)

/* A layer under check: data inputs (made into f64 leaves at every
 * evaluation) and the layer's heap parameters (perturbed in place). The
 * scalar checked is L = sum(f(x) * W) with fixed random W away from 0, so
 * that errors in different elements cannot cancel. */
typedef struct lgrad {
  fwd_fn f;
  void *ctx;
  int n_x;
  tgt_input x[MAX_X];
  uint32_t x_const; /* bit i: input i holds indices, not checked */
  int n_p;
  tg_tensor *p[MAX_P];
} lgrad;

static void lg_init(lgrad *g, fwd_fn f, void *ctx) {
  memset(g, 0, sizeof *g);
  g->f = f;
  g->ctx = ctx;
}

static void lg_add_x(lgrad *g, int ndim, const int64_t *shape,
                     const double *v) {
  ck_assert_int_lt(g->n_x, MAX_X);
  tgt_input *in = &g->x[g->n_x++];
  ck_assert(tgt_input_init(in, ndim, shape));
  memcpy(in->data, v, (size_t)in->numel * sizeof(double));
}

/* Every parameter of the layer (not its buffers) is checked. */
static void lg_add_params(lgrad *g, const tg_layer *l) {
  for (int i = 0; i < tg_layer_param_count(l); i++) {
    tg_tensor *p = tg_layer_param(l, i);
    ck_assert_int_lt(g->n_p, MAX_P);
    ck_assert_int_eq(p->dtype, TG_F64);
    ck_assert(tg_is_contiguous(p));
    g->p[g->n_p++] = p;
  }
}

static void lg_free(lgrad *g) { tgt_inputs_free(g->n_x, g->x); }

/* Fixed output weights shaped like y. */
static tg_tensor *out_weights(tg_tape *tp, const tg_tensor *y) {
  tg_tensor *w = tg_empty(tp, TG_F64, y->ndim, y->shape);
  if (!w) return NULL;
  tg_rng r;
  tg_rng_seed(&r, 12345);
  double *d = w->data;
  for (int64_t i = 0; i < w->numel; i++) {
    double m = 0.5 + tg_rng_uniform(&r);
    d[i] = tg_rng_uniform(&r) < 0.5 ? -m : m;
  }
  return w;
}

static tg_tensor *lg_loss(tg_tape *tp, const lgrad *g, tg_tensor **xs) {
  for (int i = 0; i < g->n_x; i++) {
    xs[i] = tg_from_f64(tp, TG_F64, g->x[i].ndim, g->x[i].shape, g->x[i].data);
    if (xs[i] && !(g->x_const >> i & 1u)) tg_set_requires_grad(xs[i], true);
  }
  tg_tensor *y = g->f(tp, xs, g->ctx);
  if (!y) return NULL;
  return tg_sum_all(tp, tg_mul(tp, y, out_weights(tp, y)));
}

/* The checked tensors of one evaluation (inputs that are not constants,
 * then the parameters) and the storage their values come from. */
static int lg_targets(const lgrad *g, tg_tensor **xs, tg_tensor **ts,
                      double **vals, int64_t *ns) {
  int n = 0;
  for (int i = 0; i < g->n_x; i++) {
    if (g->x_const >> i & 1u) continue;
    ts[n] = xs[i];
    vals[n] = g->x[i].data;
    ns[n++] = g->x[i].numel;
  }
  for (int j = 0; j < g->n_p; j++) {
    ts[n] = g->p[j];
    vals[n] = g->p[j]->data;
    ns[n++] = g->p[j]->numel;
  }
  return n;
}

/* L at the current values, on a reset tape in no-grad mode. */
static double lg_value(tg_tape *ev, const lgrad *g) {
  tg_tensor *xs[MAX_X];
  tg_tape_reset(ev);
  tg_clear_error(ev);
  bool prev = tg_set_grad_enabled(ev, false);
  tg_tensor *l = lg_loss(ev, g, xs);
  tg_set_grad_enabled(ev, prev);
  ASSERT_OK(ev, l, "evaluating the checked loss");
  return tg_item(l);
}

/* s = sum_k <dL/dt_k, V_k> at the current values, from a first-order
 * tg_grad on a reset tape. */
static double lg_s_value(tg_tape *ev, const lgrad *g, double *const *v) {
  tg_tensor *xs[MAX_X], *ts[MAX_T], *gr[MAX_T];
  double *vals[MAX_T];
  int64_t ns[MAX_T];
  tg_tape_reset(ev);
  tg_clear_error(ev);
  tg_tensor *l = lg_loss(ev, g, xs);
  ASSERT_OK(ev, l, "evaluating the checked loss");
  int n = lg_targets(g, xs, ts, vals, ns);
  ck_assert_int_eq(tg_grad(ev, 1, &l, NULL, n, ts, gr, false), TG_OK);
  double s = 0;
  for (int k = 0; k < n; k++) {
    double *a = tgt_read(gr[k]);
    ck_assert_ptr_nonnull(a);
    for (int64_t j = 0; j < ns[k]; j++)
      s += a[j] * v[k][j];
    free(a);
  }
  return s;
}

static double rel_err(double analytic, double numeric) {
  double e = fabs(analytic - numeric) / fmax(1.0, fabs(numeric));
  return isnan(e) ? INFINITY : e;
}

/* First order: tg_grad of L with respect to every checked tensor against
 * central differences of L. Returns the largest error. */
static double lg_check1(lgrad *g) {
  tg_tape *tp = new_tape(), *ev = new_tape();
  tg_tensor *xs[MAX_X], *ts[MAX_T], *gr[MAX_T];
  double *vals[MAX_T];
  int64_t ns[MAX_T];
  tg_tensor *l = lg_loss(tp, g, xs);
  ASSERT_OK(tp, l, "the checked loss");
  int n = lg_targets(g, xs, ts, vals, ns);
  ck_assert_int_eq(tg_grad(tp, 1, &l, NULL, n, ts, gr, false), TG_OK);
  double err = 0;
  for (int k = 0; k < n; k++) {
    ck_assert_int_eq(gr[k]->numel, ns[k]);
    double *a = tgt_read(gr[k]);
    ck_assert_ptr_nonnull(a);
    for (int64_t j = 0; j < ns[k]; j++) {
      double orig = vals[k][j];
      vals[k][j] = orig + FD_EPS;
      double fp = lg_value(ev, g);
      vals[k][j] = orig - FD_EPS;
      double fm = lg_value(ev, g);
      vals[k][j] = orig;
      double e = rel_err(a[j], (fp - fm) / (2 * FD_EPS));
      if (!(e <= err)) err = e;
    }
    free(a);
  }
  tg_tape_free(ev);
  tg_tape_free(tp);
  return err;
}

/* Second order: with V_k fixed and random, s = sum_k <dL/dt_k, V_k> is built
 * with create_graph and differentiated again; compared with central
 * differences of s (each from a first-order tg_grad). Also checks that s
 * built with create_graph equals s without it. */
static double lg_check2(lgrad *g, uint64_t seed) {
  tg_tape *tp = new_tape(), *ev = new_tape();
  tg_tensor *xs[MAX_X], *ts[MAX_T], *gr[MAX_T], *hv[MAX_T];
  double *vals[MAX_T], *v[MAX_T];
  int64_t ns[MAX_T];
  tg_tensor *l = lg_loss(tp, g, xs);
  ASSERT_OK(tp, l, "the checked loss");
  int n = lg_targets(g, xs, ts, vals, ns);
  ck_assert_int_eq(tg_grad(tp, 1, &l, NULL, n, ts, gr, true), TG_OK);
  tg_tensor *s = NULL;
  for (int k = 0; k < n; k++) {
    v[k] = rand_vals(ns[k], seed + (uint64_t)k, -1, 1);
    tg_tensor *vt = f64_tensor(tp, ts[k]->ndim, ts[k]->shape, v[k]);
    tg_tensor *term = tg_sum_all(tp, tg_mul(tp, gr[k], vt));
    s = s ? tg_add(tp, s, term) : term;
  }
  ASSERT_OK(tp, s, "s = sum <grad, V>");
  double err = rel_err(tg_item(s), lg_s_value(ev, g, v));
  ck_assert_int_eq(tg_grad(tp, 1, &s, NULL, n, ts, hv, false), TG_OK);
  for (int k = 0; k < n; k++) {
    double *a = tgt_read(hv[k]);
    ck_assert_ptr_nonnull(a);
    for (int64_t j = 0; j < ns[k]; j++) {
      double orig = vals[k][j];
      vals[k][j] = orig + FD_EPS;
      double sp = lg_s_value(ev, g, v);
      vals[k][j] = orig - FD_EPS;
      double sm = lg_s_value(ev, g, v);
      vals[k][j] = orig;
      double e = rel_err(a[j], (sp - sm) / (2 * FD_EPS));
      if (!(e <= err)) err = e;
    }
    free(a);
  }
  for (int k = 0; k < n; k++)
    free(v[k]);
  tg_tape_free(ev);
  tg_tape_free(tp);
  return err;
}

/* tg_gradcheck (and tg_gradgradcheck) of the layer with respect to its
 * data inputs, the parameters held fixed. */
typedef struct gc_ud {
  fwd_fn f;
  void *ctx;
  int n;
} gc_ud;

static tg_tensor *gc_fn(tg_tape *tp, tg_tensor *const *in, void *ud) {
  const gc_ud *u = ud;
  tg_tensor *xs[MAX_X];
  for (int i = 0; i < u->n; i++)
    xs[i] = in[i];
  return u->f(tp, xs, u->ctx);
}

static void lg_gradchecks(const lgrad *g, bool second, const char *what) {
  uint32_t mask = 0;
  for (int i = 0; i < g->n_x; i++)
    if (!(g->x_const >> i & 1u)) mask |= 1u << i;
  if (!mask) return;
  tg_tape *tp = new_tape();
  tg_tensor *in[MAX_X];
  for (int i = 0; i < g->n_x; i++)
    in[i] = f64_tensor(tp, g->x[i].ndim, g->x[i].shape, g->x[i].data);
  gc_ud u = {g->f, g->ctx, g->n_x};
  tg_gradcheck_opts o;
  tg_gradcheck_defaults(&o);
  o.inputs = mask;
  tg_gradcheck_report r;
  ck_assert_int_eq(tg_gradcheck(gc_fn, &u, g->n_x, in, &o, &r), TG_OK);
  if (!r.passed) tg_gradcheck_fprint(stderr, &r);
  ck_assert_msg(r.passed, "%s: tg_gradcheck failed", what);
  if (second) {
    ck_assert_int_eq(tg_gradgradcheck(gc_fn, &u, g->n_x, in, &o, &r), TG_OK);
    if (!r.passed) tg_gradcheck_fprint(stderr, &r);
    ck_assert_msg(r.passed, "%s: tg_gradgradcheck failed", what);
  }
  tg_tape_free(tp);
}

/* Everything above for one layer. */
static void lg_check(lgrad *g, bool second, const char *what) {
  double e1 = lg_check1(g);
  ck_assert_msg(e1 < TOL1, "%s: first-order error %.3g", what, e1);
  double e2 = second ? lg_check2(g, 99) : 0;
  ck_assert_msg(e2 < TOL2, "%s: second-order error %.3g", what, e2);
  printf("%-28s 1st %.2e  2nd %s%.2e\n", what, e1, second ? "" : "(n/a) ", e2);
  lg_gradchecks(g, second, what);
}

static tg_tensor *layer_fwd(tg_tape *tp, tg_tensor **xs, void *ctx) {
  return tg_layer_forward(tp, ctx, xs[0]);
}

/* The check of a layer with one input x. */
static void check_layer(tg_layer *l, int ndim, const int64_t *shape,
                        const double *x, bool second, const char *what) {
  lgrad g;
  lg_init(&g, layer_fwd, l);
  lg_add_x(&g, ndim, shape, x);
  lg_add_params(&g, l);
  lg_check(&g, second, what);
  lg_free(&g);
}

/* ========================================================================= */
/* Dense                                                                     */
/* ========================================================================= */

START_TEST(test_dense_forward) {
  tg_tape *tp = new_tape();
  tg_params *ps = tg_params_new();
  tg_layer *l = tg_dense_new(ps, tp, "fc1", 4, 3, TG_F64, NULL);
  ck_assert_ptr_nonnull(l);
  randomise(ps, 2, -1, 1);
  double *w = param_vals(ps, "fc1.weight"), *b = param_vals(ps, "fc1.bias");
  /* batch axes [2, 5] in front of the features */
  int64_t xs[3] = {2, 5, 4}, ys[3] = {2, 5, 3};
  double *x = rand_vals(40, 3, -2, 2), want[30];
  for (int r = 0; r < 10; r++)
    for (int o = 0; o < 3; o++) {
      double s = b[o];
      for (int i = 0; i < 4; i++)
        s += x[r * 4 + i] * w[o * 4 + i];
      want[r * 3 + o] = s;
    }
  tg_tensor *y = tg_layer_forward(tp, l, f64_tensor(tp, 3, xs, x));
  ASSERT_OK(tp, y, "dense forward");
  assert_values(y, 3, ys, want, "dense [2x5x4]");
  /* and a plain [N, in] batch */
  y = tg_layer_forward(tp, l, f64_tensor(tp, 2, xs + 1, x));
  assert_values(y, 2, ys + 1, want, "dense [5x4]");
  free(x);
  free(w);
  free(b);
  tg_layer_free(l);
  tg_params_free(ps);
  tg_tape_free(tp);
}
END_TEST

START_TEST(test_dense_grads) {
  tg_params *ps = tg_params_new();
  tg_layer *l = tg_dense_new(ps, NULL, "fc", 3, 2, TG_F64, NULL);
  randomise(ps, 4, -1, 1);
  int64_t xs[2] = {4, 3};
  double *x = rand_vals(12, 5, -1, 1);
  check_layer(l, 2, xs, x, true, "dense");
  free(x);
  tg_layer_free(l);
  tg_params_free(ps);
}
END_TEST

/* ========================================================================= */
/* Convolution and pooling                                                   */
/* ========================================================================= */

typedef struct conv_cfg {
  int64_t n, c, h, w, o, kh, kw, sh, sw, ph, pw, dh, dw, groups;
} conv_cfg;

static int64_t conv_out(int64_t size, int64_t k, int64_t s, int64_t p,
                        int64_t d) {
  return (size + 2 * p - d * (k - 1) - 1) / s + 1;
}

/* PyTorch's conv2d (a cross-correlation) with stride, padding, dilation
 * and groups; conv1d is the case h = kh = 1. */
static void conv_ref(const conv_cfg *g, const double *x, const double *wt,
                     const double *b, double *y) {
  int64_t ho = conv_out(g->h, g->kh, g->sh, g->ph, g->dh);
  int64_t wo = conv_out(g->w, g->kw, g->sw, g->pw, g->dw);
  int64_t cg = g->c / g->groups, og = g->o / g->groups;
  for (int64_t n = 0; n < g->n; n++)
    for (int64_t o = 0; o < g->o; o++)
      for (int64_t i = 0; i < ho; i++)
        for (int64_t j = 0; j < wo; j++) {
          double s = b[o];
          int64_t grp = o / og;
          for (int64_t ci = 0; ci < cg; ci++)
            for (int64_t a = 0; a < g->kh; a++)
              for (int64_t q = 0; q < g->kw; q++) {
                int64_t r = i * g->sh - g->ph + a * g->dh;
                int64_t col = j * g->sw - g->pw + q * g->dw;
                if (r < 0 || r >= g->h || col < 0 || col >= g->w) continue;
                int64_t c = grp * cg + ci;
                s += x[((n * g->c + c) * g->h + r) * g->w + col] *
                     wt[((o * cg + ci) * g->kh + a) * g->kw + q];
              }
          y[((n * g->o + o) * ho + i) * wo + j] = s;
        }
}

static void conv2d_case(const conv_cfg *g, uint64_t seed, bool grads,
                        const char *what) {
  tg_tape *tp = new_tape();
  tg_params *ps = tg_params_new();
  tg_conv_opts o = {{g->sh, g->sw}, {g->ph, g->pw}, {g->dh, g->dw}, g->groups};
  tg_layer *l =
      tg_conv2d_new(ps, tp, "conv", g->c, g->o, g->kh, g->kw, &o, TG_F64, NULL);
  ASSERT_OK(tp, l, "tg_conv2d_new");
  randomise(ps, seed, -1, 1);
  int64_t xs[4] = {g->n, g->c, g->h, g->w};
  int64_t ys[4] = {g->n, g->o, conv_out(g->h, g->kh, g->sh, g->ph, g->dh),
                   conv_out(g->w, g->kw, g->sw, g->pw, g->dw)};
  double *x = rand_vals(tgt_numel(4, xs), seed + 1, -1, 1);
  double *w = param_vals(ps, "conv.weight"), *b = param_vals(ps, "conv.bias");
  double *want = malloc((size_t)tgt_numel(4, ys) * sizeof *want);
  conv_ref(g, x, w, b, want);
  tg_tensor *y = tg_layer_forward(tp, l, f64_tensor(tp, 4, xs, x));
  ASSERT_OK(tp, y, what);
  assert_values(y, 4, ys, want, what);
  if (grads) check_layer(l, 4, xs, x, true, what);
  free(want);
  free(x);
  free(w);
  free(b);
  tg_layer_free(l);
  tg_params_free(ps);
  tg_tape_free(tp);
}

START_TEST(test_conv2d_forward) {
  /* groups, unequal strides, padding and dilation per axis */
  conv_cfg g = {2, 4, 6, 7, 6, 3, 2, 2, 1, 1, 0, 1, 2, 2};
  conv2d_case(&g, 10, false, "conv2d forward");
  conv_cfg plain = {1, 3, 5, 5, 2, 3, 3, 1, 1, 0, 0, 1, 1, 1};
  conv2d_case(&plain, 11, false, "conv2d plain");
}
END_TEST

START_TEST(test_conv2d_grads) {
  conv_cfg g = {1, 4, 3, 4, 2, 2, 2, 1, 2, 1, 1, 1, 1, 2};
  conv2d_case(&g, 12, true, "conv2d");
}
END_TEST

static void conv1d_case(const conv_cfg *g, uint64_t seed, bool grads,
                        const char *what) {
  tg_tape *tp = new_tape();
  tg_params *ps = tg_params_new();
  tg_conv_opts o = {{g->sw, 0}, {g->pw, 0}, {g->dw, 0}, g->groups};
  tg_layer *l =
      tg_conv1d_new(ps, tp, "c1", g->c, g->o, g->kw, &o, TG_F64, NULL);
  ASSERT_OK(tp, l, "tg_conv1d_new");
  randomise(ps, seed, -1, 1);
  int64_t xs[3] = {g->n, g->c, g->w};
  int64_t ys[3] = {g->n, g->o, conv_out(g->w, g->kw, g->sw, g->pw, g->dw)};
  double *x = rand_vals(tgt_numel(3, xs), seed + 1, -1, 1);
  double *w = param_vals(ps, "c1.weight"), *b = param_vals(ps, "c1.bias");
  double *want = malloc((size_t)tgt_numel(3, ys) * sizeof *want);
  conv_cfg as2d = *g;
  as2d.h = as2d.kh = as2d.sh = as2d.dh = 1;
  as2d.ph = 0;
  conv_ref(&as2d, x, w, b, want);
  tg_tensor *y = tg_layer_forward(tp, l, f64_tensor(tp, 3, xs, x));
  ASSERT_OK(tp, y, what);
  assert_values(y, 3, ys, want, what);
  if (grads) check_layer(l, 3, xs, x, false, what);
  free(want);
  free(x);
  free(w);
  free(b);
  tg_layer_free(l);
  tg_params_free(ps);
  tg_tape_free(tp);
}

START_TEST(test_conv1d) {
  conv_cfg g = {2, 4, 1, 9, 6, 1, 3, 1, 2, 0, 1, 1, 2, 2};
  conv1d_case(&g, 20, false, "conv1d forward");
  conv_cfg small = {2, 3, 1, 5, 2, 1, 2, 1, 2, 0, 1, 1, 1, 1};
  conv1d_case(&small, 21, true, "conv1d");
}
END_TEST

/* Pooling with padding; max treats padding as -inf, average as zeros
 * (count_include_pad). A stride of 0 means the kernel size. */
static void pool_ref(bool average, const tg_window *wd, int64_t nc, int64_t h,
                     int64_t w, const double *x, double *y, int64_t *ho,
                     int64_t *wo) {
  int64_t kh = wd->kernel[0], kw = wd->kernel[1];
  int64_t sh = wd->stride[0] ? wd->stride[0] : kh;
  int64_t sw = wd->stride[1] ? wd->stride[1] : kw;
  int64_t ph = wd->padding[0], pw = wd->padding[1];
  *ho = conv_out(h, kh, sh, ph, 1);
  *wo = conv_out(w, kw, sw, pw, 1);
  for (int64_t m = 0; m < nc; m++)
    for (int64_t i = 0; i < *ho; i++)
      for (int64_t j = 0; j < *wo; j++) {
        double acc = average ? 0 : -INFINITY;
        for (int64_t a = 0; a < kh; a++)
          for (int64_t q = 0; q < kw; q++) {
            int64_t r = i * sh - ph + a, c = j * sw - pw + q;
            if (r < 0 || r >= h || c < 0 || c >= w) continue;
            double v = x[(m * h + r) * w + c];
            acc = average ? acc + v : fmax(acc, v);
          }
        y[(m * *ho + i) * *wo + j] = average ? acc / (double)(kh * kw) : acc;
      }
}

static void pool_case(bool average) {
  tg_tape *tp = new_tape();
  tg_window wd = {{3, 2}, {2, 0}, {1, 1}, {0, 0}};
  tg_layer *l =
      average ? tg_avg_pool2d_new("pool", &wd) : tg_max_pool2d_new("pool", &wd);
  ck_assert_ptr_nonnull(l);
  ck_assert_str_eq(tg_layer_kind(l), average ? "avg_pool2d" : "max_pool2d");
  ck_assert_int_eq(tg_layer_param_count(l), 0);
  int64_t xs[4] = {2, 2, 5, 6}, n = 120;
  /* distinct values (no ties in a max) below 0, so the padding's -inf,
   * not 0, has to lose */
  double *x = malloc((size_t)n * sizeof *x), want[2 * 2 * 3 * 4];
  tg_rng r;
  tg_rng_seed(&r, 30);
  tgt_fill_distinct(&r, x, n, -13.0, 0.1);
  int64_t ho, wo;
  pool_ref(average, &wd, 4, 5, 6, x, want, &ho, &wo);
  int64_t ys[4] = {2, 2, ho, wo};
  ck_assert_int_eq(ho, 3);
  ck_assert_int_eq(wo, 4);
  tg_tensor *y = tg_layer_forward(tp, l, f64_tensor(tp, 4, xs, x));
  ASSERT_OK(tp, y, "pool forward");
  assert_values(y, 4, ys, want, average ? "avg_pool2d" : "max_pool2d");
  check_layer(l, 4, xs, x, average, average ? "avg_pool2d" : "max_pool2d");
  free(x);
  tg_layer_free(l);
  tg_tape_free(tp);
}

START_TEST(test_max_pool2d) { pool_case(false); }
END_TEST

START_TEST(test_avg_pool2d) { pool_case(true); }
END_TEST

/* ========================================================================= */
/* Flatten, embedding, dropout                                               */
/* ========================================================================= */

START_TEST(test_flatten) {
  tg_tape *tp = new_tape();
  tg_layer *l = tg_flatten_new(NULL);
  ck_assert_str_eq(tg_layer_name(l), "flatten");
  int64_t xs[4] = {2, 3, 4, 2}, ys[2] = {2, 24};
  double *x = rand_vals(48, 40, -1, 1);
  tg_tensor *y = tg_layer_forward(tp, l, f64_tensor(tp, 4, xs, x));
  assert_values(y, 2, ys, x, "flatten");
  /* a permuted (non-contiguous) input flattens in its logical order */
  int perm[4] = {0, 2, 1, 3};
  tg_tensor *t = tg_permute(tp, f64_tensor(tp, 4, xs, x), perm);
  double want[48];
  for (int n = 0; n < 2; n++)
    for (int a = 0; a < 4; a++)
      for (int b = 0; b < 3; b++)
        for (int c = 0; c < 2; c++)
          want[n * 24 + (a * 3 + b) * 2 + c] = x[((n * 3 + b) * 4 + a) * 2 + c];
  y = tg_layer_forward(tp, l, t);
  assert_values(y, 2, ys, want, "flatten of a permuted view");
  /* [N] -> [N, 1] */
  int64_t s1[1] = {5}, y1[2] = {5, 1};
  y = tg_layer_forward(tp, l, f64_tensor(tp, 1, s1, x));
  assert_values(y, 2, y1, x, "flatten [5]");
  check_layer(l, 4, xs, x, false, "flatten");
  free(x);
  tg_layer_free(l);
  tg_tape_free(tp);
}
END_TEST

START_TEST(test_embedding) {
  tg_tape *tp = new_tape();
  tg_params *ps = tg_params_new();
  tg_layer *l = tg_embedding_new(ps, tp, "emb", 5, 3, TG_F64, NULL);
  ASSERT_OK(tp, l, "tg_embedding_new");
  double *w = param_vals(ps, "emb.weight");
  /* indices [2, 3], with repeats (their gradients add up) */
  double idx[6] = {0, 4, 2, 2, 1, 4};
  int64_t is[2] = {2, 3}, ys[3] = {2, 3, 3};
  double want[18];
  for (int i = 0; i < 6; i++)
    for (int d = 0; d < 3; d++)
      want[i * 3 + d] = w[(int)idx[i] * 3 + d];
  tg_tensor *y = tg_layer_forward(tp, l, f64_tensor(tp, 2, is, idx));
  ASSERT_OK(tp, y, "embedding forward");
  assert_values(y, 3, ys, want, "embedding");
  /* f32 indices index an f64 table just as well */
  tg_tensor *i32 = tg_from_f64(tp, TG_F32, 2, is, idx);
  y = tg_layer_forward(tp, l, i32);
  assert_values(y, 3, ys, want, "embedding, f32 indices");
  /* the weight's gradient: rows of repeated indices accumulate */
  lgrad g;
  lg_init(&g, layer_fwd, l);
  lg_add_x(&g, 2, is, idx);
  g.x_const = 1;
  lg_add_params(&g, l);
  lg_check(&g, true, "embedding (weight)");
  lg_free(&g);
  /* an index out of range or not whole is an error, not a wild read */
  double bad[2] = {5, 0}, frac[2] = {1.5, 0};
  int64_t bs[1] = {2};
  y = tg_layer_forward(tp, l, f64_tensor(tp, 1, bs, bad));
  ck_assert_ptr_null(y);
  ck_assert_int_ne(tg_error(tp), TG_OK);
  tg_clear_error(tp);
  y = tg_layer_forward(tp, l, f64_tensor(tp, 1, bs, frac));
  ck_assert_ptr_null(y);
  ck_assert_int_ne(tg_error(tp), TG_OK);
  tg_clear_error(tp);
  free(w);
  tg_layer_free(l);
  tg_params_free(ps);
  tg_tape_free(tp);
}
END_TEST

START_TEST(test_dropout_train) {
  tg_tape *tp = new_tape();
  double p = 0.3;
  tg_layer *l = tg_dropout_new("drop", p);
  ck_assert_ptr_nonnull(l);
  ck_assert(tg_layer_training(l));
  int64_t xs[2] = {100, 100};
  int64_t n = 10000;
  double *x = away_vals(n, 50, 0.1, 2);
  tg_tape_seed(tp, 7);
  /* the mask comes from the tape's generator: u >= p keeps, scaled */
  tg_rng r = *tg_tape_rng(tp);
  tg_tensor *y = tg_layer_forward(tp, l, f64_tensor(tp, 2, xs, x));
  ASSERT_OK(tp, y, "dropout forward");
  double *want = malloc((size_t)n * sizeof *want);
  int64_t kept = 0;
  for (int64_t i = 0; i < n; i++) {
    bool keep = tg_rng_uniform(&r) >= p;
    kept += keep;
    want[i] = keep ? x[i] / (1 - p) : 0;
  }
  assert_values(y, 2, xs, want, "dropout (train)");
  /* 4 standard deviations of a binomial(10000, 0.7) fraction: 0.018 */
  double frac = (double)kept / (double)n;
  printf("dropout p=%.1f kept %.4f\n", p, frac);
  ck_assert_double_lt(fabs(frac - (1 - p)), 0.018);
  /* the same seed gives the same mask; another seed another */
  tg_tape_seed(tp, 7);
  tg_tensor *y2 = tg_layer_forward(tp, l, f64_tensor(tp, 2, xs, x));
  assert_values(y2, 2, xs, want, "dropout, same seed");
  tg_tape_seed(tp, 8);
  tg_tensor *y3 = tg_layer_forward(tp, l, f64_tensor(tp, 2, xs, x));
  double *v3 = tgt_read(y3);
  int64_t differ = 0;
  for (int64_t i = 0; i < n; i++)
    differ += v3[i] != want[i];
  ck_assert_int_gt(differ, 1000);
  free(v3);
  /* p = 1 drops everything; p = 0 keeps everything */
  tg_layer *all = tg_dropout_new("all", 1.0), *none = tg_dropout_new(NULL, 0);
  tg_tensor *z = tg_layer_forward(tp, all, f64_tensor(tp, 2, xs, x));
  ASSERT_OK(tp, z, "dropout p=1");
  for (int64_t i = 0; i < n; i++)
    ck_assert_double_eq(tg_get_flat(z, i), 0);
  tg_tensor *id = tg_layer_forward(tp, none, f64_tensor(tp, 2, xs, x));
  assert_values(id, 2, xs, x, "dropout p=0");
  /* p outside [0, 1] is refused */
  ck_assert_ptr_null(tg_dropout_new("bad", 1.5));
  ck_assert_ptr_null(tg_dropout_new("bad", -0.1));
  ck_assert_ptr_null(tg_dropout_new("bad", NAN));
  tg_layer_free(all);
  tg_layer_free(none);
  free(want);
  free(x);
  tg_layer_free(l);
  tg_tape_free(tp);
}
END_TEST

/* Dropout with the tape reseeded before every forward pass: the same mask
 * at every evaluation, so the checked function is a fixed function. */
typedef struct drop_ctx {
  tg_layer *l;
  uint64_t seed;
} drop_ctx;

static tg_tensor *dropout_fwd(tg_tape *tp, tg_tensor **xs, void *ctx) {
  const drop_ctx *d = ctx;
  tg_tape_seed(tp, d->seed);
  return tg_layer_forward(tp, d->l, xs[0]);
}

START_TEST(test_dropout_grads) {
  tg_layer *l = tg_dropout_new("drop", 0.4);
  drop_ctx d = {l, 3};
  int64_t xs[2] = {4, 5};
  double *x = rand_vals(20, 51, -1, 1);
  lgrad g;
  lg_init(&g, dropout_fwd, &d);
  lg_add_x(&g, 2, xs, x);
  lg_check(&g, true, "dropout (train)");
  tg_layer_set_training(l, false);
  lg_check(&g, true, "dropout (eval)");
  lg_free(&g);
  free(x);
  tg_layer_free(l);
}
END_TEST

START_TEST(test_dropout_eval) {
  tg_tape *tp = new_tape();
  tg_layer *l = tg_dropout_new("drop", 0.5);
  tg_layer_set_training(l, false);
  ck_assert(!tg_layer_training(l));
  int64_t xs[3] = {3, 4, 5};
  double *x = rand_vals(60, 52, -1, 1);
  tg_tensor *y = tg_layer_forward(tp, l, f64_tensor(tp, 3, xs, x));
  ASSERT_OK(tp, y, "dropout eval");
  assert_values(y, 3, xs, x, "dropout (eval)");
  /* back in training it drops again */
  tg_layer_set_training(l, true);
  tg_tape_seed(tp, 1);
  y = tg_layer_forward(tp, l, f64_tensor(tp, 3, xs, x));
  int zeros = 0;
  for (int64_t i = 0; i < 60; i++)
    zeros += tg_get_flat(y, i) == 0;
  ck_assert_int_gt(zeros, 10);
  free(x);
  tg_layer_free(l);
  tg_tape_free(tp);
}
END_TEST

/* ========================================================================= */
/* Layer norm                                                                */
/* ========================================================================= */

/* Normalises each run of m consecutive values; weight and bias of m. */
static void layer_norm_ref(const double *x, int64_t rows, int64_t m,
                           const double *w, const double *b, double eps,
                           double *y) {
  for (int64_t r = 0; r < rows; r++) {
    const double *v = x + r * m;
    double mean = 0, var = 0;
    for (int64_t i = 0; i < m; i++)
      mean += v[i];
    mean /= (double)m;
    for (int64_t i = 0; i < m; i++)
      var += (v[i] - mean) * (v[i] - mean);
    var /= (double)m; /* biased, as PyTorch */
    for (int64_t i = 0; i < m; i++)
      y[r * m + i] = (v[i] - mean) / sqrt(var + eps) * w[i] + b[i];
  }
}

START_TEST(test_layer_norm_forward) {
  tg_tape *tp = new_tape();
  tg_params *ps = tg_params_new();
  /* two normalised axes [3, 4] of x [2, 3, 4]; eps given */
  int64_t ns[2] = {3, 4}, xs[3] = {2, 3, 4};
  tg_layer *l = tg_layer_norm_new(ps, tp, "ln", 2, ns, 1e-3, TG_F64);
  ASSERT_OK(tp, l, "tg_layer_norm_new");
  randomise(ps, 60, -1.5, 1.5);
  double *x = rand_vals(24, 61, -3, 3), want[24];
  double *w = param_vals(ps, "ln.weight"), *b = param_vals(ps, "ln.bias");
  layer_norm_ref(x, 2, 12, w, b, 1e-3, want);
  tg_tensor *y = tg_layer_forward(tp, l, f64_tensor(tp, 3, xs, x));
  ASSERT_OK(tp, y, "layer norm");
  assert_values(y, 3, xs, want, "layer_norm [3x4]");
  free(w);
  free(b);
  /* one axis, eps 0 meaning 1e-5, default weight 1 and bias 0 */
  int64_t n1[1] = {6}, x1[2] = {5, 6};
  tg_layer *l1 = tg_layer_norm_new(ps, tp, "ln1", 1, n1, 0, TG_F64);
  double *v = rand_vals(30, 62, -2, 2), want1[30], ones[6], zeros[6];
  for (int i = 0; i < 6; i++) {
    ones[i] = 1;
    zeros[i] = 0;
  }
  layer_norm_ref(v, 5, 6, ones, zeros, 1e-5, want1);
  y = tg_layer_forward(tp, l1, f64_tensor(tp, 2, x1, v));
  assert_values(y, 2, x1, want1, "layer_norm [6], eps 1e-5");
  free(v);
  free(x);
  tg_layer_free(l1);
  tg_layer_free(l);
  tg_params_free(ps);
  tg_tape_free(tp);
}
END_TEST

START_TEST(test_layer_norm_grads) {
  tg_params *ps = tg_params_new();
  int64_t ns[2] = {2, 3}, xs[3] = {2, 2, 3};
  tg_layer *l = tg_layer_norm_new(ps, NULL, "ln", 2, ns, 1e-3, TG_F64);
  randomise(ps, 63, -1.5, 1.5);
  double *x = rand_vals(12, 64, -2, 2);
  check_layer(l, 3, xs, x, true, "layer_norm");
  free(x);
  tg_layer_free(l);
  tg_params_free(ps);
}
END_TEST

/* ========================================================================= */
/* Batch norm                                                                */
/* ========================================================================= */

/* x [N, C, S] (S = product of the spatial sides, 1 for [N, C]) */
static void batch_stats(const double *x, int64_t n, int64_t c, int64_t s,
                        double *mean, double *var) {
  double cnt = (double)(n * s);
  for (int64_t k = 0; k < c; k++) {
    double m = 0, v = 0;
    for (int64_t i = 0; i < n; i++)
      for (int64_t j = 0; j < s; j++)
        m += x[(i * c + k) * s + j];
    m /= cnt;
    for (int64_t i = 0; i < n; i++)
      for (int64_t j = 0; j < s; j++) {
        double d = x[(i * c + k) * s + j] - m;
        v += d * d;
      }
    mean[k] = m;
    var[k] = v / cnt; /* biased */
  }
}

static void batch_norm_ref(const double *x, int64_t n, int64_t c, int64_t s,
                           const double *mean, const double *var,
                           const double *w, const double *b, double eps,
                           double *y) {
  for (int64_t i = 0; i < n; i++)
    for (int64_t k = 0; k < c; k++)
      for (int64_t j = 0; j < s; j++) {
        int64_t at = (i * c + k) * s + j;
        y[at] = (x[at] - mean[k]) / sqrt(var[k] + eps) * w[k] + b[k];
      }
}

/* Two training steps (checking outputs and PyTorch's running update after
 * each: running = (1 - m) running + m batch, the variance unbiased there and
 * biased in the normalisation), then evaluation with the running
 * statistics, which must leave them alone. */
static void batch_norm_case(bool two_d, int ndim, const int64_t *xs,
                            double momentum, uint64_t seed) {
  tg_tape *tp = new_tape();
  tg_params *ps = tg_params_new();
  int64_t c = xs[1], n = xs[0], s = 1;
  for (int d = 2; d < ndim; d++)
    s *= xs[d];
  double eps = 1e-4, m = momentum > 0 ? momentum : 0.1;
  tg_layer *l =
      two_d ? tg_batch_norm2d_new(ps, tp, "bn", c, eps, momentum, TG_F64)
            : tg_batch_norm1d_new(ps, tp, "bn", c, eps, momentum, TG_F64);
  ASSERT_OK(tp, l, "batch norm constructor");
  randomise(ps, seed, -1.5, 1.5);
  double *w = param_vals(ps, "bn.weight"), *b = param_vals(ps, "bn.bias");
  double rm[8], rv[8], mean[8], var[8];
  for (int k = 0; k < c; k++) {
    rm[k] = 0;
    rv[k] = 1;
  }
  int64_t numel = tgt_numel(ndim, xs);
  double *want = malloc((size_t)numel * sizeof *want);
  char what[96];
  for (int step = 0; step < 2; step++) {
    /* the second batch is shifted and scaled so the statistics move */
    double *x =
        rand_vals(numel, seed + 1 + (uint64_t)step, -2 + step, 2 + 3 * step);
    batch_stats(x, n, c, s, mean, var);
    batch_norm_ref(x, n, c, s, mean, var, w, b, eps, want);
    tg_tensor *y = tg_layer_forward(tp, l, f64_tensor(tp, ndim, xs, x));
    snprintf(what, sizeof what, "%s rank %d, training step %d",
             tg_layer_kind(l), ndim, step + 1);
    ASSERT_OK(tp, y, what);
    assert_values(y, ndim, xs, want, what);
    double cnt = (double)(n * s);
    for (int k = 0; k < c; k++) {
      rm[k] = (1 - m) * rm[k] + m * mean[k];
      rv[k] = (1 - m) * rv[k] + m * var[k] * cnt / (cnt - 1);
    }
    int64_t cs[1] = {c};
    snprintf(what, sizeof what, "%s running_mean after step %d",
             tg_layer_kind(l), step + 1);
    assert_values(tg_params_find(ps, "bn.running_mean"), 1, cs, rm, what);
    snprintf(what, sizeof what, "%s running_var after step %d",
             tg_layer_kind(l), step + 1);
    assert_values(tg_params_find(ps, "bn.running_var"), 1, cs, rv, what);
    free(x);
  }
  /* evaluation: the running statistics, unchanged by the pass */
  tg_layer_set_training(l, false);
  double *x = rand_vals(numel, seed + 9, -3, 3);
  batch_norm_ref(x, n, c, s, rm, rv, w, b, eps, want);
  tg_tensor *y = tg_layer_forward(tp, l, f64_tensor(tp, ndim, xs, x));
  snprintf(what, sizeof what, "%s rank %d, evaluation", tg_layer_kind(l), ndim);
  ASSERT_OK(tp, y, what);
  assert_values(y, ndim, xs, want, what);
  int64_t cs[1] = {c};
  assert_values(tg_params_find(ps, "bn.running_mean"), 1, cs, rm,
                "running_mean after evaluation");
  assert_values(tg_params_find(ps, "bn.running_var"), 1, cs, rv,
                "running_var after evaluation");
  free(x);
  free(want);
  free(w);
  free(b);
  tg_layer_free(l);
  tg_params_free(ps);
  tg_tape_free(tp);
}

START_TEST(test_batch_norm1d_nc) {
  int64_t xs[2] = {6, 3};
  batch_norm_case(false, 2, xs, 0.25, 70);
}
END_TEST

START_TEST(test_batch_norm1d_ncl) {
  int64_t xs[3] = {4, 3, 5};
  batch_norm_case(false, 3, xs, 0, 71);
}
END_TEST

START_TEST(test_batch_norm2d) {
  int64_t xs[4] = {2, 3, 3, 4};
  batch_norm_case(true, 4, xs, 0, 72);
}
END_TEST

START_TEST(test_batch_norm_grads) {
  struct {
    bool two_d;
    int ndim;
    int64_t xs[4];
  } cases[3] = {{false, 2, {4, 3, 0, 0}},
                {false, 3, {3, 2, 4, 0}},
                {true, 4, {2, 2, 3, 2}}};
  for (int i = 0; i < 3; i++) {
    tg_params *ps = tg_params_new();
    int64_t c = cases[i].xs[1];
    tg_layer *l = cases[i].two_d
                      ? tg_batch_norm2d_new(ps, NULL, "bn", c, 1e-3, 0, TG_F64)
                      : tg_batch_norm1d_new(ps, NULL, "bn", c, 1e-3, 0, TG_F64);
    randomise(ps, 73 + (uint64_t)i, -1.5, 1.5);
    int64_t numel = tgt_numel(cases[i].ndim, cases[i].xs);
    double *x = rand_vals(numel, 80 + (uint64_t)i, -2, 2);
    char what[64];
    snprintf(what, sizeof what, "%s rank %d (train)", tg_layer_kind(l),
             cases[i].ndim);
    check_layer(l, cases[i].ndim, cases[i].xs, x, true, what);
    /* evaluation: an affine map of x with the running statistics */
    tg_rng r;
    tg_rng_seed(&r, 90);
    tg_fill_uniform(tg_params_find(ps, "bn.running_mean"), &r, -0.5, 0.5);
    tg_fill_uniform(tg_params_find(ps, "bn.running_var"), &r, 0.5, 2);
    tg_layer_set_training(l, false);
    snprintf(what, sizeof what, "%s rank %d (eval)", tg_layer_kind(l),
             cases[i].ndim);
    check_layer(l, cases[i].ndim, cases[i].xs, x, true, what);
    free(x);
    tg_layer_free(l);
    tg_params_free(ps);
  }
}
END_TEST

/* ========================================================================= */
/* Activation layers                                                         */
/* ========================================================================= */

static double act_ref(tg_activation k, double p, double x) {
  switch (k) {
  case TG_ACT_RELU: return x > 0 ? x : 0;
  case TG_ACT_LEAKY_RELU: return x > 0 ? x : (p ? p : 0.01) * x;
  case TG_ACT_ELU: return x > 0 ? x : (p ? p : 1.0) * expm1(x);
  case TG_ACT_GELU: {
    double s = 0.79788456080286535588; /* sqrt(2/pi) */
    return 0.5 * x * (1 + tanh(s * (x + 0.044715 * x * x * x)));
  }
  case TG_ACT_SIGMOID: return sigm(x);
  case TG_ACT_TANH: return tanh(x);
  case TG_ACT_SOFTPLUS: return log1p(exp(x));
  case TG_ACT_SOFTMAX: break;
  }
  return NAN;
}

START_TEST(test_activation_layers) {
  static const struct {
    tg_activation kind;
    double param;
    const char *name;
  } acts[] = {
      {TG_ACT_RELU, 0, "relu"},
      {TG_ACT_LEAKY_RELU, 0, "leaky_relu"},
      {TG_ACT_LEAKY_RELU, 0.2, "leaky02"},
      {TG_ACT_ELU, 0, "elu"},
      {TG_ACT_ELU, 0.7, "elu07"},
      {TG_ACT_GELU, 0, "gelu"},
      {TG_ACT_SIGMOID, 0, "sigmoid"},
      {TG_ACT_TANH, 0, "tanh"},
      {TG_ACT_SOFTPLUS, 0, "softplus"},
      {TG_ACT_SOFTMAX, 0, "softmax"},
  };
  tg_tape *tp = new_tape();
  int64_t xs[2] = {3, 5}, big[3] = {2, 4, 6};
  /* away from 0: the kinks of relu, leaky relu and elu (second order) */
  double *x = away_vals(15, 100, 0.1, 3), *xb = away_vals(48, 101, 0.1, 4);
  for (int a = 0; a < LEN(acts); a++) {
    tg_layer *l = tg_activation_new(acts[a].name, acts[a].kind, acts[a].param);
    ck_assert_ptr_nonnull(l);
    ck_assert_str_eq(tg_layer_kind(l), "activation");
    ck_assert_str_eq(tg_layer_name(l), acts[a].name);
    ck_assert_int_eq(tg_layer_param_count(l), 0);
    double want[48];
    if (acts[a].kind == TG_ACT_SOFTMAX) {
      for (int r = 0; r < 8; r++) {
        double mx = -INFINITY, sum = 0;
        for (int j = 0; j < 6; j++)
          mx = fmax(mx, xb[r * 6 + j]);
        for (int j = 0; j < 6; j++)
          sum += exp(xb[r * 6 + j] - mx);
        for (int j = 0; j < 6; j++)
          want[r * 6 + j] = exp(xb[r * 6 + j] - mx) / sum;
      }
    } else {
      for (int i = 0; i < 48; i++)
        want[i] = act_ref(acts[a].kind, acts[a].param, xb[i]);
    }
    tg_tensor *y = tg_layer_forward(tp, l, f64_tensor(tp, 3, big, xb));
    ASSERT_OK(tp, y, acts[a].name);
    assert_values(y, 3, big, want, acts[a].name);
    check_layer(l, 2, xs, x, true, acts[a].name);
    tg_layer_free(l);
  }
  /* an unknown kind is refused */
  ck_assert_ptr_null(tg_activation_new("bad", (tg_activation)99, 0));
  ck_assert_ptr_null(tg_activation_new("bad", (tg_activation)-1, 0));
  free(x);
  free(xb);
  tg_tape_free(tp);
}
END_TEST

/* ========================================================================= */
/* Recurrent layers                                                          */
/* ========================================================================= */

typedef enum { K_RNN, K_LSTM, K_GRU } rec_kind;
static const char *const rec_names[3] = {"rnn", "lstm", "gru"};
static const int rec_gates[3] = {1, 4, 3};

static tg_layer *rec_new(rec_kind k, tg_params *ps, tg_tape *tp,
                         const char *name, int64_t in, int64_t hid, tg_dtype dt,
                         tg_rng *rng) {
  switch (k) {
  case K_RNN: return tg_rnn_new(ps, tp, name, in, hid, dt, rng);
  case K_LSTM: return tg_lstm_new(ps, tp, name, in, hid, dt, rng);
  case K_GRU: return tg_gru_new(ps, tp, name, in, hid, dt, rng);
  }
  return NULL;
}

/* The textbook equations, step by step (PyTorch's):
 *   RNN:  h' = tanh(W_ih x + b_ih + W_hh h + b_hh)
 *   LSTM: i, f, g, o = sigmoid, sigmoid, tanh, sigmoid of the gate rows of
 *         W_ih x + b_ih + W_hh h + b_hh; c' = f c + i g; h' = o tanh(c')
 *   GRU:  r = sigmoid(W_ir x + b_ir + W_hr h + b_hr), z likewise,
 *         n = tanh(W_in x + b_in + r (W_hn h + b_hn)), h' = (1 - z) n + z h
 * x [B, T, in]; out [B, T, H]; hn, cn [B, H]. */
static void rec_ref(rec_kind k, int64_t bsz, int64_t steps, int64_t in,
                    int64_t hid, const double *x, const double *h0,
                    const double *c0, const double *wih, const double *whh,
                    const double *bih, const double *bhh, double *out,
                    double *hn, double *cn) {
  int64_t g = rec_gates[k] * hid;
  double *gi = malloc((size_t)g * sizeof *gi),
         *gh = malloc((size_t)g * sizeof *gh);
  double *h = malloc((size_t)hid * sizeof *h),
         *c = malloc((size_t)hid * sizeof *c);
  double *hnew = malloc((size_t)hid * sizeof *hnew);
  for (int64_t b = 0; b < bsz; b++) {
    for (int64_t j = 0; j < hid; j++) {
      h[j] = h0 ? h0[b * hid + j] : 0;
      c[j] = c0 ? c0[b * hid + j] : 0;
    }
    for (int64_t t = 0; t < steps; t++) {
      const double *xt = x + (b * steps + t) * in;
      for (int64_t r = 0; r < g; r++) {
        double si = bih[r], sh = bhh[r];
        for (int64_t q = 0; q < in; q++)
          si += wih[r * in + q] * xt[q];
        for (int64_t q = 0; q < hid; q++)
          sh += whh[r * hid + q] * h[q];
        gi[r] = si;
        gh[r] = sh;
      }
      for (int64_t j = 0; j < hid; j++) {
        if (k == K_RNN) {
          hnew[j] = tanh(gi[j] + gh[j]);
        } else if (k == K_LSTM) {
          double ig = sigm(gi[j] + gh[j]);
          double fg = sigm(gi[hid + j] + gh[hid + j]);
          double gg = tanh(gi[2 * hid + j] + gh[2 * hid + j]);
          double og = sigm(gi[3 * hid + j] + gh[3 * hid + j]);
          c[j] = fg * c[j] + ig * gg;
          hnew[j] = og * tanh(c[j]);
        } else {
          double rg = sigm(gi[j] + gh[j]);
          double zg = sigm(gi[hid + j] + gh[hid + j]);
          double ng = tanh(gi[2 * hid + j] + rg * gh[2 * hid + j]);
          hnew[j] = (1 - zg) * ng + zg * h[j];
        }
      }
      for (int64_t j = 0; j < hid; j++) {
        h[j] = hnew[j];
        out[(b * steps + t) * hid + j] = h[j];
      }
    }
    for (int64_t j = 0; j < hid; j++) {
      hn[b * hid + j] = h[j];
      if (cn) cn[b * hid + j] = c[j];
    }
  }
  free(gi);
  free(gh);
  free(h);
  free(c);
  free(hnew);
}

static void rec_forward_case(rec_kind k) {
  enum { B = 2, T = 4, IN = 3, H = 5 };
  tg_tape *tp = new_tape();
  tg_params *ps = tg_params_new();
  const char *name = rec_names[k];
  tg_rng rng;
  tg_rng_seed(&rng, 110);
  tg_layer *l = rec_new(k, ps, tp, name, IN, H, TG_F64, &rng);
  ASSERT_OK(tp, l, name);
  ck_assert_str_eq(tg_layer_kind(l), name);
  /* random values everywhere, so that b_ih and b_hh (GRU's b_hn inside
   * r * (...)) are told apart */
  randomise(ps, 111 + (uint64_t)k, -0.7, 0.7);
  char pn[64];
  snprintf(pn, sizeof pn, "%s.weight_ih_l0", name);
  double *wih = param_vals(ps, pn);
  snprintf(pn, sizeof pn, "%s.weight_hh_l0", name);
  double *whh = param_vals(ps, pn);
  snprintf(pn, sizeof pn, "%s.bias_ih_l0", name);
  double *bih = param_vals(ps, pn);
  snprintf(pn, sizeof pn, "%s.bias_hh_l0", name);
  double *bhh = param_vals(ps, pn);
  int64_t xs[3] = {B, T, IN}, hs[2] = {B, H}, os[3] = {B, T, H};
  double *x = rand_vals(B * T * IN, 120, -1.5, 1.5);
  double *h0 = rand_vals(B * H, 121, -0.8, 0.8);
  double *c0 = rand_vals(B * H, 122, -1.5, 1.5);
  double out[B * T * H], hn[B * H], cn[B * H];
  rec_ref(k, B, T, IN, H, x, h0, k == K_LSTM ? c0 : NULL, wih, whh, bih, bhh,
          out, hn, cn);
  tg_tensor *h_n = NULL, *c_n = tg_scalar(tp, TG_F64, 0);
  tg_tensor *y = tg_recurrent_forward(
      tp, l, f64_tensor(tp, 3, xs, x), f64_tensor(tp, 2, hs, h0),
      k == K_LSTM ? f64_tensor(tp, 2, hs, c0) : NULL, &h_n, &c_n);
  ASSERT_OK(tp, y, name);
  char what[64];
  snprintf(what, sizeof what, "%s: all hidden states", name);
  assert_values(y, 3, os, out, what);
  snprintf(what, sizeof what, "%s: h_n", name);
  assert_values(h_n, 2, hs, hn, what);
  if (k == K_LSTM) {
    assert_values(c_n, 2, hs, cn, "lstm: c_n");
  } else {
    ck_assert_msg(c_n == NULL, "%s: c_n set for a layer without a cell", name);
  }
  /* tg_layer_forward: zero initial states */
  rec_ref(k, B, T, IN, H, x, NULL, NULL, wih, whh, bih, bhh, out, hn, cn);
  y = tg_layer_forward(tp, l, f64_tensor(tp, 3, xs, x));
  snprintf(what, sizeof what, "%s: tg_layer_forward (zero states)", name);
  assert_values(y, 3, os, out, what);
  /* h0 alone for an LSTM: c0 zeros */
  if (k == K_LSTM) {
    rec_ref(k, B, T, IN, H, x, h0, NULL, wih, whh, bih, bhh, out, hn, cn);
    y = tg_recurrent_forward(tp, l, f64_tensor(tp, 3, xs, x),
                             f64_tensor(tp, 2, hs, h0), NULL, &h_n, &c_n);
    assert_values(y, 3, os, out, "lstm: h0 given, c0 zeros");
    assert_values(c_n, 2, hs, cn, "lstm: c_n, c0 zeros");
  }
  /* an empty sequence: [B, 0, H], and the final state is h0 */
  int64_t es[3] = {B, 0, IN}, eo[3] = {B, 0, H};
  h_n = NULL;
  tg_tensor *h0t = f64_tensor(tp, 2, hs, h0);
  y = tg_recurrent_forward(tp, l, tg_zeros(tp, TG_F64, 3, es), h0t, NULL, &h_n,
                           NULL);
  ASSERT_OK(tp, y, "empty sequence");
  assert_shape(y, 3, eo, "empty sequence");
  assert_values(h_n, 2, hs, h0, "empty sequence: h_n = h0");
  free(x);
  free(h0);
  free(c0);
  free(wih);
  free(whh);
  free(bih);
  free(bhh);
  tg_layer_free(l);
  tg_params_free(ps);
  tg_tape_free(tp);
}

START_TEST(test_rnn_forward) { rec_forward_case(K_RNN); }
END_TEST
START_TEST(test_lstm_forward) { rec_forward_case(K_LSTM); }
END_TEST
START_TEST(test_gru_forward) { rec_forward_case(K_GRU); }
END_TEST

/* Checked output: all hidden states, then h_n (and c_n), flattened. */
static tg_tensor *rec_fwd(tg_tape *tp, tg_tensor **xs, void *ctx) {
  tg_layer *l = ctx;
  bool lstm = !strcmp(tg_layer_kind(l), "lstm");
  tg_tensor *hn = NULL, *cn = NULL;
  tg_tensor *all =
      tg_recurrent_forward(tp, l, xs[0], xs[1], lstm ? xs[2] : NULL, &hn, &cn);
  if (!all) return NULL;
  int64_t flat[1] = {-1};
  tg_tensor *parts[3] = {tg_reshape(tp, all, 1, flat),
                         tg_reshape(tp, hn, 1, flat),
                         lstm ? tg_reshape(tp, cn, 1, flat) : NULL};
  return tg_concat(tp, lstm ? 3 : 2, parts, 0);
}

static void rec_grad_case(rec_kind k) {
  enum { B = 2, T = 3, IN = 2, H = 3 };
  tg_params *ps = tg_params_new();
  tg_layer *l = rec_new(k, ps, NULL, rec_names[k], IN, H, TG_F64, NULL);
  ck_assert_ptr_nonnull(l);
  randomise(ps, 130 + (uint64_t)k, -0.8, 0.8);
  int64_t xs[3] = {B, T, IN}, hs[2] = {B, H};
  double *x = rand_vals(B * T * IN, 131, -1.5, 1.5);
  double *h0 = rand_vals(B * H, 132, -0.8, 0.8);
  double *c0 = rand_vals(B * H, 133, -1.5, 1.5);
  lgrad g;
  lg_init(&g, rec_fwd, l);
  lg_add_x(&g, 3, xs, x);
  lg_add_x(&g, 2, hs, h0);
  if (k == K_LSTM) lg_add_x(&g, 2, hs, c0);
  lg_add_params(&g, l);
  ck_assert_int_eq(g.n_p, 4);
  char what[64];
  snprintf(what, sizeof what, "%s (x, h0%s, params)", rec_names[k],
           k == K_LSTM ? ", c0" : "");
  lg_check(&g, true, what);
  lg_free(&g);
  free(x);
  free(h0);
  free(c0);
  tg_layer_free(l);
  tg_params_free(ps);
}

START_TEST(test_rnn_grads) { rec_grad_case(K_RNN); }
END_TEST
START_TEST(test_lstm_grads) { rec_grad_case(K_LSTM); }
END_TEST
START_TEST(test_gru_grads) { rec_grad_case(K_GRU); }
END_TEST

/* ========================================================================= */
/* Wrong inputs                                                              */
/* ========================================================================= */

/* r is NULL, the error is code, and the message is exactly msg (or, when
 * msg is NULL, contains frag). Clears the error. */
static void expect_error(tg_tape *tp, const tg_tensor *r, tg_status code,
                         const char *msg, const char *frag) {
  ck_assert_msg(r == NULL, "expected NULL (%s)", msg ? msg : frag);
  ck_assert_msg(tg_error(tp) == code, "expected %s, got %s: %s",
                tg_strerror(code), tg_strerror(tg_error(tp)), tg_errmsg(tp));
  if (msg) ck_assert_str_eq(tg_errmsg(tp), msg);
  if (frag)
    ck_assert_msg(strstr(tg_errmsg(tp), frag), "message '%s' lacks '%s'",
                  tg_errmsg(tp), frag);
  tg_clear_error(tp);
}

static tg_tensor *zeros_of(tg_tape *tp, int ndim, const int64_t *shape) {
  tg_tensor *t = tg_zeros(tp, TG_F64, ndim, shape);
  ck_assert_ptr_nonnull(t);
  return t;
}

START_TEST(test_shape_errors) {
  tg_tape *tp = new_tape();
  tg_params *ps = tg_params_new();
  int64_t s23[2] = {2, 3}, s234[3] = {2, 3, 4}, s2345[4] = {2, 3, 4, 5};
  int64_t s245[3] = {2, 4, 5}, s34[2] = {3, 4}, s24[2] = {2, 4};

  tg_layer *fc = tg_dense_new(ps, tp, "fc1", 4, 3, TG_F64, NULL);
  expect_error(tp, tg_layer_forward(tp, fc, zeros_of(tp, 2, s23)), TG_ERR_SHAPE,
               "dense 'fc1': expected input [*, 4], got [2x3]", NULL);
  int64_t s4[1] = {4};
  /* a NULL input names the layer too */
  expect_error(tp, tg_layer_forward(tp, fc, NULL), TG_ERR_NULL, NULL,
               "dense 'fc1'");
  /* the layer's dtype and the input's differ */
  expect_error(tp, tg_layer_forward(tp, fc, tg_zeros(tp, TG_F32, 2, s24)),
               TG_ERR_DTYPE, NULL, NULL);

  tg_layer *c1 = tg_conv1d_new(ps, tp, "c1", 3, 2, 2, NULL, TG_F64, NULL);
  expect_error(tp, tg_layer_forward(tp, c1, zeros_of(tp, 3, s245)),
               TG_ERR_SHAPE,
               "conv1d 'c1': expected input [N, 3, L], got [2x4x5]", NULL);
  expect_error(tp, tg_layer_forward(tp, c1, zeros_of(tp, 4, s2345)),
               TG_ERR_SHAPE,
               "conv1d 'c1': expected input [N, 3, L], got [2x3x4x5]", NULL);

  tg_layer *c2 = tg_conv2d_new(ps, tp, "c2", 3, 2, 2, 2, NULL, TG_F64, NULL);
  expect_error(tp, tg_layer_forward(tp, c2, zeros_of(tp, 3, s234)),
               TG_ERR_SHAPE,
               "conv2d 'c2': expected input [N, 3, H, W], got [2x3x4]", NULL);
  int64_t s2445[4] = {2, 4, 4, 5};
  expect_error(tp, tg_layer_forward(tp, c2, zeros_of(tp, 4, s2445)),
               TG_ERR_SHAPE,
               "conv2d 'c2': expected input [N, 3, H, W], got [2x4x4x5]", NULL);

  tg_window wd = {{2, 2}, {0, 0}, {0, 0}, {0, 0}};
  tg_layer *mp = tg_max_pool2d_new("mp", &wd),
           *ap = tg_avg_pool2d_new(NULL, &wd);
  expect_error(
      tp, tg_layer_forward(tp, mp, zeros_of(tp, 3, s234)), TG_ERR_SHAPE,
      "max_pool2d 'mp': expected input [N, C, H, W], got [2x3x4]", NULL);
  expect_error(tp, tg_layer_forward(tp, ap, zeros_of(tp, 2, s23)), TG_ERR_SHAPE,
               "avg_pool2d 'avg_pool2d': expected input [N, C, H, W], "
               "got [2x3]",
               NULL);

  tg_layer *fl = tg_flatten_new("fl");
  expect_error(tp, tg_layer_forward(tp, fl, tg_scalar(tp, TG_F64, 1)),
               TG_ERR_SHAPE, "flatten 'fl': expected input [N, ...], got []",
               NULL);

  tg_layer *emb = tg_embedding_new(ps, tp, "emb", 5, 3, TG_F64, NULL);
  int64_t s8[8] = {1, 1, 1, 1, 1, 1, 1, 1};
  expect_error(tp, tg_layer_forward(tp, emb, zeros_of(tp, 8, s8)), TG_ERR_SHAPE,
               "embedding 'emb': expected input indices of at most 7 axes, "
               "got [1x1x1x1x1x1x1x1]",
               NULL);

  tg_layer *ln = tg_layer_norm_new(ps, tp, "ln", 2, s34, 0, TG_F64);
  int64_t s235[3] = {2, 3, 5};
  expect_error(tp, tg_layer_forward(tp, ln, zeros_of(tp, 3, s235)),
               TG_ERR_SHAPE,
               "layer_norm 'ln': expected input [*, 3x4], got [2x3x5]", NULL);
  expect_error(tp, tg_layer_forward(tp, ln, zeros_of(tp, 1, s4)), TG_ERR_SHAPE,
               "layer_norm 'ln': expected input [*, 3x4], got [4]", NULL);
  tg_layer *ln1 = tg_layer_norm_new(ps, tp, "ln1", 1, s4, 0, TG_F64);
  expect_error(tp, tg_layer_forward(tp, ln1, zeros_of(tp, 2, s23)),
               TG_ERR_SHAPE,
               "layer_norm 'ln1': expected input [*, 4], got [2x3]", NULL);

  tg_layer *bn = tg_batch_norm1d_new(ps, tp, "bn", 3, 0, 0, TG_F64);
  expect_error(tp, tg_layer_forward(tp, bn, zeros_of(tp, 2, s24)), TG_ERR_SHAPE,
               "batch_norm1d 'bn': expected input [N, 3] or [N, 3, L], "
               "got [2x4]",
               NULL);
  expect_error(tp, tg_layer_forward(tp, bn, zeros_of(tp, 4, s2345)),
               TG_ERR_SHAPE,
               "batch_norm1d 'bn': expected input [N, 3] or [N, 3, L], "
               "got [2x3x4x5]",
               NULL);
  int64_t s3[1] = {3};
  expect_error(tp, tg_layer_forward(tp, bn, zeros_of(tp, 1, s3)), TG_ERR_SHAPE,
               "batch_norm1d 'bn': expected input [N, 3] or [N, 3, L], got [3]",
               NULL);
  tg_layer *bn2 = tg_batch_norm2d_new(ps, tp, "bn2", 3, 0, 0, TG_F64);
  expect_error(
      tp, tg_layer_forward(tp, bn2, zeros_of(tp, 3, s234)), TG_ERR_SHAPE,
      "batch_norm2d 'bn2': expected input [N, 3, H, W], got [2x3x4]", NULL);
  /* in evaluation mode too */
  tg_layer_set_training(bn2, false);
  expect_error(tp, tg_layer_forward(tp, bn2, zeros_of(tp, 4, s2445)),
               TG_ERR_SHAPE,
               "batch_norm2d 'bn2': expected input [N, 3, H, W], "
               "got [2x4x4x5]",
               NULL);

  tg_layer *rnn = tg_rnn_new(ps, tp, "r", 3, 4, TG_F64, NULL);
  expect_error(tp, tg_layer_forward(tp, rnn, zeros_of(tp, 3, s245)),
               TG_ERR_SHAPE, "rnn 'r': expected input [B, T, 3], got [2x4x5]",
               NULL);
  expect_error(tp, tg_layer_forward(tp, rnn, zeros_of(tp, 2, s23)),
               TG_ERR_SHAPE, "rnn 'r': expected input [B, T, 3], got [2x3]",
               NULL);

  tg_layer *lstm = tg_lstm_new(ps, tp, "enc", 3, 4, TG_F64, NULL);
  int64_t x_s[3] = {2, 5, 3}, h_ok[2] = {2, 4}, h_bad[2] = {3, 4};
  int64_t h_bad2[2] = {2, 5}, h_3d[3] = {1, 2, 4};
  tg_tensor *x = zeros_of(tp, 3, x_s);
  expect_error(tp, tg_layer_forward(tp, lstm, zeros_of(tp, 3, s234)),
               TG_ERR_SHAPE,
               "lstm 'enc': expected input [B, T, 3], got [2x3x4]", NULL);
  expect_error(tp,
               tg_recurrent_forward(tp, lstm, x, zeros_of(tp, 2, h_bad), NULL,
                                    NULL, NULL),
               TG_ERR_SHAPE, "lstm 'enc': expected h0 [2, 4], got [3x4]", NULL);
  expect_error(tp,
               tg_recurrent_forward(tp, lstm, x, zeros_of(tp, 2, h_bad2), NULL,
                                    NULL, NULL),
               TG_ERR_SHAPE, "lstm 'enc': expected h0 [2, 4], got [2x5]", NULL);
  expect_error(tp,
               tg_recurrent_forward(tp, lstm, x, zeros_of(tp, 3, h_3d), NULL,
                                    NULL, NULL),
               TG_ERR_SHAPE, "lstm 'enc': expected h0 [2, 4], got [1x2x4]",
               NULL);
  expect_error(tp,
               tg_recurrent_forward(tp, lstm, x, zeros_of(tp, 2, h_ok),
                                    zeros_of(tp, 2, h_bad), NULL, NULL),
               TG_ERR_SHAPE, "lstm 'enc': expected c0 [2, 4], got [3x4]", NULL);
  tg_layer *gru = tg_gru_new(ps, tp, "g", 3, 4, TG_F64, NULL);
  expect_error(tp,
               tg_recurrent_forward(tp, gru, x, zeros_of(tp, 2, h_bad), NULL,
                                    NULL, NULL),
               TG_ERR_SHAPE, "gru 'g': expected h0 [2, 4], got [3x4]", NULL);
  /* tg_recurrent_forward needs a recurrent layer */
  expect_error(tp, tg_recurrent_forward(tp, fc, x, NULL, NULL, NULL, NULL),
               TG_ERR_ARG, NULL, "recurrent");
  expect_error(tp, tg_recurrent_forward(tp, lstm, NULL, NULL, NULL, NULL, NULL),
               TG_ERR_NULL, NULL, NULL);

  /* an error does not touch a good layer: the same layer still works */
  tg_tensor *ok = tg_recurrent_forward(tp, lstm, x, zeros_of(tp, 2, h_ok), NULL,
                                       NULL, NULL);
  ASSERT_OK(tp, ok, "lstm after errors");

  tg_layer *all[] = {fc, c1,  c2, mp,  ap,  fl,   emb,
                     ln, ln1, bn, bn2, rnn, lstm, gru};
  for (int i = 0; i < LEN(all); i++)
    tg_layer_free(all[i]);
  tg_params_free(ps);
  tg_tape_free(tp);
}
END_TEST

/* --- bugs found by this suite, and fixed ------------------------------------
 */

/* tg_recurrent_forward given a layer that is not recurrent must refuse it
 * (TG_ERR_ARG). A layer norm over three axes fills the slot where
 * recurrent layers keep their kind (sizes[2] = 4, the value of an LSTM), so
 * it is taken for an LSTM and fails later with a misleading
 * "tg_add: input #2 is NULL" (TG_ERR_NULL). */
START_TEST(test_recurrent_forward_refuses_other_layers) {
  tg_tape *tp = new_tape();
  tg_params *ps = tg_params_new();
  int64_t ns[3] = {2, 3, 4}, xs[3] = {1, 2, 2};
  tg_layer *ln = tg_layer_norm_new(ps, tp, "ln3", 3, ns, 0, TG_F64);
  ASSERT_OK(tp, ln, "layer norm");
  tg_tensor *y =
      tg_recurrent_forward(tp, ln, zeros_of(tp, 3, xs), NULL, NULL, NULL, NULL);
  ck_assert_ptr_null(y);
  ck_assert_msg(tg_error(tp) == TG_ERR_ARG, "expected TG_ERR_ARG, got %s: '%s'",
                tg_strerror(tg_error(tp)), tg_errmsg(tp));
  tg_layer_free(ln);
  tg_params_free(ps);
  tg_tape_free(tp);
}
END_TEST

/* A constructor that fails ("they return NULL on failure") must leave the
 * registry as it found it: the parameters it registered before the failure
 * stay behind, belong to no layer, and would be trained and saved. */
START_TEST(test_failed_constructor_leaves_registry_unchanged) {
  tg_tape *tp = new_tape();
  tg_params *ps = tg_params_new();
  int64_t s[1] = {3};
  ck_assert_ptr_nonnull(tg_param_new(ps, tp, "a.bias", TG_F64, 1, s));
  ck_assert_ptr_nonnull(tg_param_new(ps, tp, "r.bias_hh_l0", TG_F64, 1, s));
  ck_assert_ptr_null(tg_dense_new(ps, tp, "a", 4, 3, TG_F64, NULL));
  tg_clear_error(tp);
  ck_assert_ptr_null(tg_lstm_new(ps, tp, "r", 2, 3, TG_F64, NULL));
  tg_clear_error(tp);
  ck_assert_msg(tg_params_count(ps) == 2,
                "%d entries after two failed constructors, e.g. '%s'",
                tg_params_count(ps),
                tg_params_count(ps) > 2 ? tg_params_name(ps, 2) : "");
  tg_params_free(ps);
  tg_tape_free(tp);
}
END_TEST

/* ========================================================================= */
/* Parameter names, shapes and initial values                                */
/* ========================================================================= */

typedef struct pspec {
  const char *name;
  int ndim;
  int64_t shape[4];
  bool trainable;
} pspec;

/* The registry holds exactly specs (in order), and the layer's parameters
 * are its trainable entries, in that order. */
static void expect_params(const tg_params *ps, const tg_layer *l,
                          const pspec *specs, int n) {
  ck_assert_int_eq(tg_params_count(ps), n);
  int trainable = 0;
  for (int i = 0; i < n; i++) {
    ck_assert_str_eq(tg_params_name(ps, i), specs[i].name);
    tg_tensor *t = tg_params_at(ps, i);
    ck_assert_ptr_eq(tg_params_find(ps, specs[i].name), t);
    assert_shape(t, specs[i].ndim, specs[i].shape, specs[i].name);
    ck_assert_msg(tg_params_trainable(ps, i) == specs[i].trainable,
                  "%s: trainable is %d", specs[i].name,
                  (int)tg_params_trainable(ps, i));
    ck_assert_msg(t->requires_grad == specs[i].trainable,
                  "%s: requires_grad is %d", specs[i].name,
                  (int)t->requires_grad);
    if (specs[i].trainable) {
      ck_assert_ptr_eq(tg_layer_param(l, trainable), t);
      trainable++;
    }
  }
  ck_assert_int_eq(tg_layer_param_count(l), trainable);
  ck_assert_ptr_null(tg_layer_param(l, trainable));
  ck_assert_ptr_null(tg_layer_param(l, -1));
}

static bool all_equal(const tg_tensor *t, double v) {
  for (int64_t i = 0; i < t->numel; i++)
    if (tg_get_flat(t, i) != v) return false;
  return true;
}

START_TEST(test_param_names) {
  tg_tape *tp = new_tape();
  tg_conv_opts g2 = {{1, 1}, {0, 0}, {1, 1}, 2};
  {
    tg_params *ps = tg_params_new();
    tg_layer *l = tg_dense_new(ps, tp, "fc1", 4, 3, TG_F64, NULL);
    pspec s[] = {{"fc1.weight", 2, {3, 4}, true}, {"fc1.bias", 1, {3}, true}};
    expect_params(ps, l, s, LEN(s));
    ck_assert_str_eq(tg_layer_kind(l), "dense");
    ck_assert_str_eq(tg_layer_name(l), "fc1");
    ck_assert(all_equal(tg_params_find(ps, "fc1.bias"), 0));
    ck_assert(!all_equal(tg_params_find(ps, "fc1.weight"), 0));
    ck_assert_int_eq(tg_params_numel(ps), 15);
    /* a second layer of the same name is refused: the names are unique */
    ck_assert_ptr_null(tg_dense_new(ps, tp, "fc1", 4, 3, TG_F64, NULL));
    ck_assert_int_ne(tg_error(tp), TG_OK);
    tg_clear_error(tp);
    ck_assert_int_eq(tg_params_count(ps), 2);
    /* no name: the kind */
    tg_layer *d = tg_dense_new(ps, tp, NULL, 2, 2, TG_F32, NULL);
    ck_assert_str_eq(tg_layer_name(d), "dense");
    ck_assert_ptr_nonnull(tg_params_find(ps, "dense.weight"));
    ck_assert_int_eq(tg_params_find(ps, "dense.weight")->dtype, TG_F32);
    tg_layer_free(d);
    tg_layer_free(l);
    tg_params_free(ps);
  }
  {
    tg_params *ps = tg_params_new();
    tg_layer *l = tg_conv1d_new(ps, tp, "c1", 4, 6, 3, &g2, TG_F64, NULL);
    pspec s[] = {{"c1.weight", 3, {6, 2, 3}, true}, {"c1.bias", 1, {6}, true}};
    expect_params(ps, l, s, LEN(s));
    ck_assert_str_eq(tg_layer_kind(l), "conv1d");
    tg_layer_free(l);
    /* groups that do not divide the channels */
    tg_conv_opts g3 = g2;
    g3.groups = 3;
    ck_assert_ptr_null(
        tg_conv1d_new(ps, tp, "bad", 4, 6, 3, &g3, TG_F64, NULL));
    ck_assert_int_eq(tg_error(tp), TG_ERR_ARG);
    tg_clear_error(tp);
    tg_params_free(ps);
  }
  {
    tg_params *ps = tg_params_new();
    tg_layer *l = tg_conv2d_new(ps, tp, "conv1", 4, 6, 3, 2, &g2, TG_F64, NULL);
    pspec s[] = {{"conv1.weight", 4, {6, 2, 3, 2}, true},
                 {"conv1.bias", 1, {6}, true}};
    expect_params(ps, l, s, LEN(s));
    ck_assert_str_eq(tg_layer_kind(l), "conv2d");
    ck_assert(all_equal(tg_params_find(ps, "conv1.bias"), 0));
    tg_layer_free(l);
    tg_params_free(ps);
  }
  {
    tg_params *ps = tg_params_new();
    tg_layer *l = tg_embedding_new(ps, tp, "emb", 5, 3, TG_F64, NULL);
    pspec s[] = {{"emb.weight", 2, {5, 3}, true}};
    expect_params(ps, l, s, LEN(s));
    ck_assert_str_eq(tg_layer_kind(l), "embedding");
    tg_layer_free(l);
    tg_params_free(ps);
  }
  {
    tg_params *ps = tg_params_new();
    int64_t ns[2] = {3, 4};
    tg_layer *l = tg_layer_norm_new(ps, tp, "ln", 2, ns, 0, TG_F64);
    pspec s[] = {{"ln.weight", 2, {3, 4}, true}, {"ln.bias", 2, {3, 4}, true}};
    expect_params(ps, l, s, LEN(s));
    ck_assert_str_eq(tg_layer_kind(l), "layer_norm");
    ck_assert(all_equal(tg_params_find(ps, "ln.weight"), 1));
    ck_assert(all_equal(tg_params_find(ps, "ln.bias"), 0));
    tg_layer_free(l);
    tg_params_free(ps);
  }
  for (int two_d = 0; two_d < 2; two_d++) {
    tg_params *ps = tg_params_new();
    tg_layer *l = two_d ? tg_batch_norm2d_new(ps, tp, "bn", 3, 0, 0, TG_F64)
                        : tg_batch_norm1d_new(ps, tp, "bn", 3, 0, 0, TG_F64);
    pspec s[] = {{"bn.weight", 1, {3}, true},
                 {"bn.bias", 1, {3}, true},
                 {"bn.running_mean", 1, {3}, false},
                 {"bn.running_var", 1, {3}, false}};
    expect_params(ps, l, s, LEN(s));
    ck_assert_str_eq(tg_layer_kind(l), two_d ? "batch_norm2d" : "batch_norm1d");
    ck_assert(all_equal(tg_params_find(ps, "bn.weight"), 1));
    ck_assert(all_equal(tg_params_find(ps, "bn.bias"), 0));
    ck_assert(all_equal(tg_params_find(ps, "bn.running_mean"), 0));
    ck_assert(all_equal(tg_params_find(ps, "bn.running_var"), 1));
    ck_assert_int_eq(tg_params_numel(ps), 6);
    /* the buffers get no gradient from training */
    int64_t xs[2] = {4, 3};
    tg_tensor *x = tg_rand_normal(tp, TG_F64, 2, xs, 0, 1);
    if (two_d) {
      int64_t x4[4] = {4, 3, 2, 2};
      x = tg_rand_normal(tp, TG_F64, 4, x4, 0, 1);
    }
    tg_tensor *loss =
        tg_sum_all(tp, tg_pow_scalar(tp, tg_layer_forward(tp, l, x), 3));
    ck_assert_int_eq(tg_backward(tp, loss), TG_OK);
    ck_assert_ptr_nonnull(tg_grad_of(tg_params_find(ps, "bn.weight")));
    ck_assert_ptr_null(tg_grad_of(tg_params_find(ps, "bn.running_mean")));
    ck_assert_ptr_null(tg_grad_of(tg_params_find(ps, "bn.running_var")));
    tg_tape_reset(tp);
    tg_layer_free(l);
    tg_params_free(ps);
  }
  for (int k = 0; k < 3; k++) {
    tg_params *ps = tg_params_new();
    const char *nm = rec_names[k];
    int64_t gh = rec_gates[k] * 5;
    tg_layer *l = rec_new((rec_kind)k, ps, tp, nm, 3, 5, TG_F64, NULL);
    ASSERT_OK(tp, l, nm);
    char n0[64], n1[64], n2[64], n3[64];
    snprintf(n0, sizeof n0, "%s.weight_ih_l0", nm);
    snprintf(n1, sizeof n1, "%s.weight_hh_l0", nm);
    snprintf(n2, sizeof n2, "%s.bias_ih_l0", nm);
    snprintf(n3, sizeof n3, "%s.bias_hh_l0", nm);
    pspec s[] = {{n0, 2, {gh, 3}, true},
                 {n1, 2, {gh, 5}, true},
                 {n2, 1, {gh}, true},
                 {n3, 1, {gh}, true}};
    expect_params(ps, l, s, LEN(s));
    ck_assert_str_eq(tg_layer_kind(l), nm);
    /* biases zero, but an LSTM's forget gate (rows H..2H of b_ih) one */
    double *bih = param_vals(ps, n2);
    for (int64_t j = 0; j < gh; j++)
      ck_assert_double_eq(bih[j], k == K_LSTM && j >= 5 && j < 10 ? 1 : 0);
    ck_assert(all_equal(tg_params_find(ps, n3), 0));
    free(bih);
    /* each gate's block of W_hh is orthogonal: Q Q^T = I */
    double *whh = param_vals(ps, n1);
    for (int g = 0; g < rec_gates[k]; g++)
      for (int a = 0; a < 5; a++)
        for (int b = 0; b < 5; b++) {
          double dot = 0;
          for (int q = 0; q < 5; q++)
            dot += whh[(g * 5 + a) * 5 + q] * whh[(g * 5 + b) * 5 + q];
          ck_assert_msg(fabs(dot - (a == b)) < 1e-10,
                        "%s: W_hh block %d not orthogonal", nm, g);
        }
    free(whh);
    tg_layer_free(l);
    tg_params_free(ps);
  }
  /* the same generator state gives the same weights */
  {
    tg_params *a = tg_params_new(), *b = tg_params_new();
    tg_rng ra, rb;
    tg_rng_seed(&ra, 5);
    tg_rng_seed(&rb, 5);
    tg_layer *la = tg_lstm_new(a, tp, "l", 3, 4, TG_F64, &ra);
    tg_layer *lb = tg_lstm_new(b, tp, "l", 3, 4, TG_F64, &rb);
    for (int i = 0; i < 4; i++) {
      const tg_tensor *pa = tg_layer_param(la, i), *pb = tg_layer_param(lb, i);
      for (int64_t j = 0; j < pa->numel; j++)
        ck_assert_double_eq(tg_get_flat(pa, j), tg_get_flat(pb, j));
    }
    tg_layer_free(la);
    tg_layer_free(lb);
    tg_params_free(a);
    tg_params_free(b);
  }
  tg_tape_free(tp);
}
END_TEST

/* ========================================================================= */
/* Training                                                                  */
/* ========================================================================= */

START_TEST(test_xor_mlp_converges) {
  tg_tape *tp = new_tape();
  tg_params *ps = tg_params_new();
  tg_rng rng;
  tg_rng_seed(&rng, 1);
  tg_layer *h = tg_dense_new(ps, tp, "hidden", 2, 8, TG_F32, &rng);
  tg_layer *act = tg_activation_new("tanh", TG_ACT_TANH, 0);
  tg_layer *out = tg_dense_new(ps, tp, "out", 8, 1, TG_F32, &rng);
  ASSERT_OK(tp, out, "layers");
  tg_adam_opts ao = {0};
  ao.lr = 0.05;
  tg_optimizer *opt = tg_adam_new(ps, &ao);
  ck_assert_ptr_nonnull(opt);
  double xv[8] = {0, 0, 0, 1, 1, 0, 1, 1}, yv[4] = {0, 1, 1, 0};
  int64_t xs[2] = {4, 2}, ys[2] = {4, 1};
  double loss = INFINITY;
  int correct = 0, steps = 0;
  for (steps = 1; steps <= 3000; steps++) {
    tg_tape_reset(tp);
    tg_tensor *x = tg_from_f64(tp, TG_F32, 2, xs, xv);
    tg_tensor *y = tg_from_f64(tp, TG_F32, 2, ys, yv);
    tg_tensor *logits = tg_layer_forward(
        tp, out, tg_layer_forward(tp, act, tg_layer_forward(tp, h, x)));
    tg_tensor *l = tg_bce_with_logits(tp, logits, y, TG_REDUCE_MEAN);
    ASSERT_OK(tp, l, "xor step");
    loss = tg_item(l);
    correct = 0;
    for (int i = 0; i < 4; i++)
      correct += (tg_get_flat(logits, i) > 0) == (yv[i] > 0.5);
    if (loss < 0.01 && correct == 4) break;
    ck_assert_int_eq(tg_backward(tp, l), TG_OK);
    ck_assert_int_eq(tg_optimizer_step(opt), TG_OK);
    tg_optimizer_zero_grad(opt);
  }
  printf("xor mlp 2-8-1 (tanh, bce, adam, f32): loss %.5f after %d steps, "
         "%d/4 correct\n",
         loss, steps, correct);
  ck_assert_double_lt(loss, 0.05);
  ck_assert_int_eq(correct, 4);
  tg_optimizer_free(opt);
  tg_layer_free(h);
  tg_layer_free(act);
  tg_layer_free(out);
  tg_params_free(ps);
  tg_tape_free(tp);
}
END_TEST

/* Sequences of uniform values in [-1, 1]; the target at step t is the
 * input at step t - DELAY (0 before). */
enum { CP_T = 10, CP_DELAY = 2 };
static void copy_batch(tg_rng *rng, int b, float *x, float *y) {
  for (int i = 0; i < b; i++)
    for (int t = 0; t < CP_T; t++) {
      x[i * CP_T + t] = (float)(2 * tg_rng_uniform(rng) - 1);
      y[i * CP_T + t] = t >= CP_DELAY ? x[i * CP_T + t - CP_DELAY] : 0.0f;
    }
}

START_TEST(test_lstm_learns_delayed_copy) {
  enum { B = 32, H = 16, STEPS = 600, EB = 256 };
  tg_tape *tp = new_tape();
  tg_params *ps = tg_params_new();
  tg_rng rng;
  tg_rng_seed(&rng, 3);
  tg_layer *lstm = tg_lstm_new(ps, tp, "lstm", 1, H, TG_F32, &rng);
  tg_layer *head = tg_dense_new(ps, tp, "head", H, 1, TG_F32, &rng);
  ASSERT_OK(tp, head, "layers");
  tg_adam_opts ao = {0};
  ao.lr = 0.01;
  tg_optimizer *opt = tg_adam_new(ps, &ao);
  static float x[EB * CP_T], y[EB * CP_T];
  int64_t s[3] = {B, CP_T, 1};
  double first = 0, last = 0;
  for (int step = 0; step < STEPS; step++) {
    tg_tape_reset(tp);
    copy_batch(&rng, B, x, y);
    tg_tensor *xt = tg_from_buffer(tp, TG_F32, 3, s, x);
    tg_tensor *yt = tg_from_buffer(tp, TG_F32, 3, s, y);
    tg_tensor *pred =
        tg_layer_forward(tp, head, tg_layer_forward(tp, lstm, xt));
    tg_tensor *l = tg_mse_loss(tp, pred, yt, TG_REDUCE_MEAN);
    ASSERT_OK(tp, l, "lstm step");
    if (step == 0) first = tg_item(l);
    last = tg_item(l);
    ck_assert_int_eq(tg_backward(tp, l), TG_OK);
    tg_clip_grad_norm(ps, 1.0);
    ck_assert_int_eq(tg_optimizer_step(opt), TG_OK);
    tg_optimizer_zero_grad(opt);
  }
  /* a fresh evaluation set, and the loss of predicting its mean */
  tg_rng er;
  tg_rng_seed(&er, 99);
  copy_batch(&er, EB, x, y);
  double mean = 0, base = 0;
  for (int i = 0; i < EB * CP_T; i++)
    mean += y[i];
  mean /= EB * CP_T;
  for (int i = 0; i < EB * CP_T; i++)
    base += (y[i] - mean) * (y[i] - mean);
  base /= EB * CP_T;
  tg_tape_reset(tp);
  bool prev = tg_set_grad_enabled(tp, false);
  int64_t es[3] = {EB, CP_T, 1};
  tg_tensor *pred = tg_layer_forward(
      tp, head,
      tg_layer_forward(tp, lstm, tg_from_buffer(tp, TG_F32, 3, es, x)));
  tg_tensor *l = tg_mse_loss(tp, pred, tg_from_buffer(tp, TG_F32, 3, es, y),
                             TG_REDUCE_MEAN);
  tg_set_grad_enabled(tp, prev);
  ASSERT_OK(tp, l, "lstm evaluation");
  double final = tg_item(l);
  printf("lstm (hidden %d) delayed copy by %d: first batch loss %.5f, last "
         "%.5f; evaluation loss %.5f vs %.5f predicting the mean\n",
         H, CP_DELAY, first, last, final, base);
  ck_assert_double_lt(final, 0.1 * base);
  tg_optimizer_free(opt);
  tg_layer_free(lstm);
  tg_layer_free(head);
  tg_params_free(ps);
  tg_tape_free(tp);
}
END_TEST

/* ========================================================================= */

static Suite *layers_suite(void) {
  Suite *s = suite_create("layers");
  TCase *fwd = tcase_create("forward");
  tcase_set_timeout(fwd, 300);
  tcase_add_test(fwd, test_dense_forward);
  tcase_add_test(fwd, test_conv2d_forward);
  tcase_add_test(fwd, test_conv1d);
  tcase_add_test(fwd, test_max_pool2d);
  tcase_add_test(fwd, test_avg_pool2d);
  tcase_add_test(fwd, test_flatten);
  tcase_add_test(fwd, test_embedding);
  tcase_add_test(fwd, test_dropout_train);
  tcase_add_test(fwd, test_dropout_eval);
  tcase_add_test(fwd, test_layer_norm_forward);
  tcase_add_test(fwd, test_batch_norm1d_nc);
  tcase_add_test(fwd, test_batch_norm1d_ncl);
  tcase_add_test(fwd, test_batch_norm2d);
  tcase_add_test(fwd, test_activation_layers);
  tcase_add_test(fwd, test_rnn_forward);
  tcase_add_test(fwd, test_lstm_forward);
  tcase_add_test(fwd, test_gru_forward);
  suite_add_tcase(s, fwd);
  TCase *grad = tcase_create("gradients");
  tcase_set_timeout(grad, 300);
  tcase_add_test(grad, test_dense_grads);
  tcase_add_test(grad, test_conv2d_grads);
  tcase_add_test(grad, test_dropout_grads);
  tcase_add_test(grad, test_layer_norm_grads);
  tcase_add_test(grad, test_batch_norm_grads);
  tcase_add_test(grad, test_rnn_grads);
  tcase_add_test(grad, test_lstm_grads);
  tcase_add_test(grad, test_gru_grads);
  suite_add_tcase(s, grad);
  TCase *api = tcase_create("api");
  tcase_set_timeout(api, 300);
  tcase_add_test(api, test_shape_errors);
  tcase_add_test(api, test_param_names);
  suite_add_tcase(s, api);
  TCase *train = tcase_create("training");
  tcase_set_timeout(train, 300);
  tcase_add_test(train, test_xor_mlp_converges);
  tcase_add_test(train, test_lstm_learns_delayed_copy);
  suite_add_tcase(s, train);
  TCase *fixed = tcase_create("fixed bugs");
  tcase_add_test(fixed, test_recurrent_forward_refuses_other_layers);
  tcase_add_test(fixed, test_failed_constructor_leaves_registry_unchanged);
  suite_add_tcase(s, fixed);
  return s;
}

int main(void) { return tgt_run_suite(layers_suite()); }
