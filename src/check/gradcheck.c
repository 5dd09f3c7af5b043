/* gradcheck and gradgradcheck: the analytic Jacobian from backward against
 * central finite differences, with kinks told apart from failures. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "check_internal.h"

void tg_gradcheck_defaults(tg_gradcheck_opts *opts) {
  if (!opts) return;
  memset(opts, 0, sizeof *opts);
  opts->seed = 42;
}

/* Everything one check run needs. */
typedef struct checker {
  tg_fn f;
  void *ud;
  gc_point pt;
  tg_tape *tp; /* scratch tape, reset between evaluations */
  double eps, atol, rtol;
  uint32_t mask;
  int64_t out_numel;
  tg_gradcheck_report *rep;
} checker;

static void set_error(tg_gradcheck_report *rep, const char *what,
                      const tg_tape *tp) {
  snprintf(rep->error, sizeof rep->error, "%s%s%s", what, tp ? ": " : "",
           tp ? tg_errmsg(tp) : "");
}

static void warn(tg_gradcheck_report *rep, const char *text) {
  size_t len = strlen(rep->warnings);
  snprintf(rep->warnings + len, sizeof rep->warnings - len, "%s%s",
           len ? "; " : "", text);
}

/* f at the checker's current point, output copied into out (doubles). */
static bool eval(checker *c, double *out) {
  tg_tape_reset(c->tp);
  tg_tensor *leaves[TG_GRADCHECK_MAX_INPUTS];
  tg_tensor *y = gc_call(c->tp, c->f, c->ud, &c->pt, leaves);
  if (!y || y->numel != c->out_numel) return false;
  tg_copy_out_f64(y, out);
  return true;
}

/* Backward with seed values u: gradients of every input into g[i]. */
static bool vjp(checker *c, const double *u, double **g) {
  tg_tape_reset(c->tp);
  tg_tensor *leaves[TG_GRADCHECK_MAX_INPUTS], *grads[TG_GRADCHECK_MAX_INPUTS];
  tg_tensor *y = gc_call(c->tp, c->f, c->ud, &c->pt, leaves);
  if (!y) return false;
  tg_tensor *seed = tg_from_f64(c->tp, y->dtype, y->ndim, y->shape, u);
  if (!seed || tg_grad(c->tp, 1, &y, &seed, c->pt.n, leaves, grads, false))
    return false;
  for (int i = 0; i < c->pt.n; i++)
    tg_copy_out_f64(grads[i], g[i]);
  return true;
}

static bool selected(const checker *c, int i) {
  return !c->mask || (c->mask & (1u << i));
}

/* Records one comparison in the input's verdict. */
static void judge(checker *c, int i, int64_t elem, int64_t out_elem,
                  double analytic, double numeric, double left, double right,
                  bool have_sides) {
  tg_gradcheck_input *in = &c->rep->inputs[i];
  double abs_err = fabs(analytic - numeric);
  double scale = c->atol + c->rtol * fabs(numeric);
  /* A kink: the one-sided differences disagree (relu or abs at 0, a tie in
   * max). Any value between them is a valid subgradient, so the element is
   * reported as a kink, whatever the central difference says. */
  if (have_sides && !gc_close(left, right, c->atol, c->rtol)) {
    double lo = fmin(left, right), hi = fmax(left, right);
    if (analytic >= lo - scale && analytic <= hi + scale) {
      in->n_kinks++;
      return;
    }
  }
  if (!gc_close(analytic, numeric, c->atol, c->rtol)) {
    in->n_failed++;
    in->passed = false;
  }
  /* Keep the element worst relative to its tolerance. */
  double worst_scale = c->atol + c->rtol * fabs(in->numeric);
  if (in->worst_index < 0 || abs_err / scale > in->abs_err / worst_scale) {
    in->worst_index = elem;
    in->worst_output = out_elem;
    in->analytic = analytic;
    in->numeric = numeric;
    in->abs_err = abs_err;
    in->rel_err = abs_err / fmax(fabs(numeric), 1e-300);
  }
}

/* Full Jacobian: one backward sweep per output element, two (plus the
 * base point) evaluations per input element. */
static bool check_full(checker *c) {
  int64_t m = c->out_numel;
  bool ok = false;
  double *u = tg__malloc(sizeof(double) * (size_t)m);
  double *f0 = tg__malloc(sizeof(double) * (size_t)m);
  double *fp = tg__malloc(sizeof(double) * (size_t)m);
  double *fm = tg__malloc(sizeof(double) * (size_t)m);
  double *jac[TG_GRADCHECK_MAX_INPUTS] = {NULL}; /* [i][k * numel + j] */
  double *row[TG_GRADCHECK_MAX_INPUTS] = {NULL};
  if (!u || !f0 || !fp || !fm) goto done;
  for (int i = 0; i < c->pt.n; i++) {
    jac[i] = tg__malloc(sizeof(double) * (size_t)(m * c->pt.numel[i] + 1));
    row[i] = tg__malloc(sizeof(double) * (size_t)(c->pt.numel[i] + 1));
    if (!jac[i] || !row[i]) goto done;
  }
  for (int64_t k = 0; k < m; k++) {
    memset(u, 0, sizeof(double) * (size_t)m);
    u[k] = 1;
    if (!vjp(c, u, row)) goto done;
    for (int i = 0; i < c->pt.n; i++)
      memcpy(jac[i] + k * c->pt.numel[i], row[i],
             sizeof(double) * (size_t)c->pt.numel[i]);
  }
  if (!eval(c, f0)) goto done;
  for (int i = 0; i < c->pt.n; i++) {
    if (!selected(c, i)) continue;
    for (int64_t j = 0; j < c->pt.numel[i]; j++) {
      double x0 = c->pt.vals[i][j];
      c->pt.vals[i][j] = x0 + c->eps;
      bool okp = eval(c, fp);
      c->pt.vals[i][j] = x0 - c->eps;
      bool okm = eval(c, fm);
      c->pt.vals[i][j] = x0;
      if (!okp || !okm) goto done;
      for (int64_t k = 0; k < m; k++) {
        double numeric = (fp[k] - fm[k]) / (2 * c->eps);
        double right = (fp[k] - f0[k]) / c->eps;
        double left = (f0[k] - fm[k]) / c->eps;
        judge(c, i, j, k, jac[i][k * c->pt.numel[i] + j], numeric, left, right,
              true);
      }
    }
  }
  ok = true;
done:
  for (int i = 0; i < c->pt.n; i++) {
    tg__free(jac[i]);
    tg__free(row[i]);
  }
  tg__free(u);
  tg__free(f0);
  tg__free(fp);
  tg__free(fm);
  return ok;
}

/* Fast mode: per input, u^T J_i v_i against the directional difference of
 * u^T f along v_i, for several random (u, v). */
static bool check_fast(checker *c, int projections) {
  int64_t m = c->out_numel;
  bool ok = false;
  tg_rng rng;
  tg_rng_seed(&rng, c->rep->seed ^ 0x9e3779b97f4a7c15ull);
  double *u = tg__malloc(sizeof(double) * (size_t)m);
  double *f0 = tg__malloc(sizeof(double) * (size_t)m);
  double *fp = tg__malloc(sizeof(double) * (size_t)m);
  double *fm = tg__malloc(sizeof(double) * (size_t)m);
  double *g[TG_GRADCHECK_MAX_INPUTS] = {NULL}, *v = NULL, *x0 = NULL;
  int64_t biggest = 1;
  for (int i = 0; i < c->pt.n; i++)
    if (c->pt.numel[i] > biggest) biggest = c->pt.numel[i];
  v = tg__malloc(sizeof(double) * (size_t)biggest);
  x0 = tg__malloc(sizeof(double) * (size_t)biggest);
  if (!u || !f0 || !fp || !fm || !v || !x0) goto done;
  for (int i = 0; i < c->pt.n; i++) {
    g[i] = tg__malloc(sizeof(double) * (size_t)(c->pt.numel[i] + 1));
    if (!g[i]) goto done;
  }
  for (int p = 0; p < projections; p++) {
    for (int64_t k = 0; k < m; k++)
      u[k] = tg_rng_normal(&rng);
    if (!vjp(c, u, g) || !eval(c, f0)) goto done;
    for (int i = 0; i < c->pt.n; i++) {
      if (!selected(c, i)) continue;
      int64_t ni = c->pt.numel[i];
      double analytic = 0;
      for (int64_t j = 0; j < ni; j++) {
        v[j] = tg_rng_normal(&rng);
        analytic += g[i][j] * v[j];
        x0[j] = c->pt.vals[i][j];
      }
      double up = 0, um = 0, u0 = 0;
      for (int sign = -1; sign <= 1; sign += 2) {
        for (int64_t j = 0; j < ni; j++)
          c->pt.vals[i][j] = x0[j] + sign * c->eps * v[j];
        if (!eval(c, sign > 0 ? fp : fm)) goto done;
      }
      memcpy(c->pt.vals[i], x0, sizeof(double) * (size_t)ni);
      for (int64_t k = 0; k < m; k++) {
        up += u[k] * fp[k];
        um += u[k] * fm[k];
        u0 += u[k] * f0[k];
      }
      judge(c, i, p, -1, analytic, (up - um) / (2 * c->eps), (u0 - um) / c->eps,
            (up - u0) / c->eps, true);
    }
  }
  ok = true;
done:
  for (int i = 0; i < c->pt.n; i++)
    tg__free(g[i]);
  tg__free(u);
  tg__free(f0);
  tg__free(fp);
  tg__free(fm);
  tg__free(v);
  tg__free(x0);
  return ok;
}

/* Reentrancy (two sweeps, bitwise equal) and linearity in the seed. */
static bool check_sweeps(checker *c) {
  int64_t m = c->out_numel;
  tg_rng rng;
  tg_rng_seed(&rng, c->rep->seed);
  double *u = tg__malloc(sizeof(double) * (size_t)m);
  double *g1[TG_GRADCHECK_MAX_INPUTS] = {NULL},
         *g2[TG_GRADCHECK_MAX_INPUTS] = {NULL};
  bool ok = false;
  if (!u) goto done;
  for (int i = 0; i < c->pt.n; i++) {
    g1[i] = tg__malloc(sizeof(double) * (size_t)(c->pt.numel[i] + 1));
    g2[i] = tg__malloc(sizeof(double) * (size_t)(c->pt.numel[i] + 1));
    if (!g1[i] || !g2[i]) goto done;
  }
  for (int64_t k = 0; k < m; k++)
    u[k] = tg_rng_normal(&rng);
  if (!vjp(c, u, g1) || !vjp(c, u, g2)) goto done;
  c->rep->reentrant = true;
  for (int i = 0; i < c->pt.n; i++)
    if (memcmp(g1[i], g2[i], sizeof(double) * (size_t)c->pt.numel[i]))
      c->rep->reentrant = false;
  for (int64_t k = 0; k < m; k++)
    u[k] *= 2;
  if (!vjp(c, u, g2)) goto done;
  c->rep->linear = true;
  for (int i = 0; i < c->pt.n; i++)
    for (int64_t j = 0; j < c->pt.numel[i]; j++)
      if (!gc_close(g2[i][j], 2 * g1[i][j], 1e-300, 1e-12))
        c->rep->linear = false;
  memset(u, 0, sizeof(double) * (size_t)m);
  if (!vjp(c, u, g2)) goto done;
  for (int i = 0; i < c->pt.n; i++)
    for (int64_t j = 0; j < c->pt.numel[i]; j++)
      if (g2[i][j] != 0) c->rep->linear = false;
  ok = true;
done:
  for (int i = 0; i < c->pt.n; i++) {
    tg__free(g1[i]);
    tg__free(g2[i]);
  }
  tg__free(u);
  return ok;
}

/* Validates arguments and fills the parts of the report known up front. */
static bool setup(checker *c, tg_fn f, void *ud, int n,
                  tg_tensor *const *inputs, const tg_gradcheck_opts *opts,
                  tg_gradcheck_report *rep, int order) {
  memset(c, 0, sizeof *c);
  memset(rep, 0, sizeof *rep);
  tg_gradcheck_opts defaults;
  tg_gradcheck_defaults(&defaults);
  if (!opts) opts = &defaults;
  rep->order = order;
  rep->fast = opts->fast;
  rep->seed = opts->seed;
  rep->n_inputs = n;
  const char *fname = order == 1 ? "tg_gradcheck" : "tg_gradgradcheck";
  if (!f || !inputs || n < 1 || n > TG_GRADCHECK_MAX_INPUTS) {
    snprintf(rep->error, sizeof rep->error,
             "%s: needs a function and 1 to %d inputs (got %s, %d)", fname,
             TG_GRADCHECK_MAX_INPUTS, f ? "a function" : "no function", n);
    return false;
  }
  bool any_f32 = false;
  for (int i = 0; i < n; i++) {
    if (!inputs[i]) {
      snprintf(rep->error, sizeof rep->error, "%s: input #%d is NULL", fname,
               i + 1);
      return false;
    }
    if (inputs[i]->dtype == TG_F32) {
      char text[160];
      snprintf(text, sizeof text,
               "input #%d is f32: single-precision differences are coarse, "
               "tolerances loosened; use f64 for a reliable check",
               i + 1);
      warn(rep, text);
      any_f32 = true;
    }
  }
  gc_resolve_tolerances(opts, any_f32, &c->eps, &c->atol, &c->rtol);
  rep->eps = c->eps;
  rep->atol = c->atol;
  rep->rtol = c->rtol;
  c->f = f;
  c->ud = ud;
  c->mask = opts->inputs;
  c->rep = rep;
  for (int i = 0; i < n; i++) {
    tg_gradcheck_input *in = &rep->inputs[i];
    in->checked = selected(c, i);
    in->passed = true;
    in->dtype = inputs[i]->dtype;
    in->ndim = inputs[i]->ndim;
    memcpy(in->shape, inputs[i]->shape, sizeof in->shape);
    in->worst_index = in->worst_output = -1;
  }
  c->tp = tg_tape_new();
  if (!c->tp || !gc_point_init(&c->pt, n, inputs, -1)) {
    snprintf(rep->error, sizeof rep->error, "%s: out of memory", fname);
    return false;
  }
  tg_tensor *leaves[TG_GRADCHECK_MAX_INPUTS];
  tg_tensor *y = gc_call(c->tp, f, ud, &c->pt, leaves);
  if (!y) {
    set_error(rep, "the function failed", c->tp);
    return false;
  }
  c->out_numel = y->numel;
  return true;
}

static void teardown(checker *c) {
  gc_point_free(&c->pt);
  tg_tape_free(c->tp);
}

/* Runs the comparisons and, on failure, looks for the culprit node. */
static tg_status run_checks(checker *c, const tg_gradcheck_opts *opts) {
  tg_gradcheck_report *rep = c->rep;
  int projections = opts && opts->projections > 0 ? opts->projections : 4;
  bool ran = (rep->fast ? check_fast(c, projections) : check_full(c)) &&
             check_sweeps(c);
  if (!ran) {
    /* The forward pass worked in setup; if it still works, the failure is
     * backward's, and that is a verdict, not an inability to check. */
    tg_tape_reset(c->tp);
    tg_tensor *leaves[TG_GRADCHECK_MAX_INPUTS];
    tg_status why = tg_error(c->tp);
    snprintf(rep->backward_error, sizeof rep->backward_error, "%s",
             tg_errmsg(c->tp));
    tg_clear_error(c->tp);
    if (!gc_call(c->tp, c->f, c->ud, &c->pt, leaves)) {
      rep->backward_error[0] = '\0';
      set_error(rep, "the function failed during the check", c->tp);
      return why ? why : TG_ERR_STATE;
    }
  }
  rep->passed = ran && rep->reentrant && rep->linear;
  for (int i = 0; i < rep->n_inputs; i++)
    if (rep->inputs[i].checked && !rep->inputs[i].passed) rep->passed = false;
  if (!rep->passed && !(opts && opts->no_pinpoint)) {
    tg_tape_reset(c->tp);
    tg_tensor *leaves[TG_GRADCHECK_MAX_INPUTS];
    if (gc_call(c->tp, c->f, c->ud, &c->pt, leaves))
      gc_check_nodes(c->tp, opts, rep->order, &rep->culprit);
  }
  return TG_OK;
}

tg_status tg_gradcheck(tg_fn f, void *ud, int n, tg_tensor *const *inputs,
                       const tg_gradcheck_opts *opts,
                       tg_gradcheck_report *report) {
  if (!report) return TG_ERR_NULL;
  checker c;
  tg_status st = TG_ERR_ARG;
  if (setup(&c, f, ud, n, inputs, opts, report, 1)) st = run_checks(&c, opts);
  teardown(&c);
  return st;
}

/* --- second order -------------------------------------------------------- */

/* h(x) = sum_i <d(u . f)/dx_i, w_i>, with u and w fixed per check. */
typedef struct gradgrad_ctx {
  tg_fn f;
  void *ud;
  int n;
  const double *u;
  double *w[TG_GRADCHECK_MAX_INPUTS];
} gradgrad_ctx;

static tg_tensor *gradgrad_fn(tg_tape *tp, tg_tensor *const *x, void *ud) {
  gradgrad_ctx *g = ud;
  tg_tensor *y = g->f(tp, x, g->ud);
  if (!y) return NULL;
  tg_tensor *seed = tg_from_f64(tp, y->dtype, y->ndim, y->shape, g->u);
  tg_tensor *grads[TG_GRADCHECK_MAX_INPUTS];
  if (!seed || tg_grad(tp, 1, &y, &seed, g->n, x, grads, true)) return NULL;
  tg_tensor *h = NULL;
  for (int i = 0; i < g->n; i++) {
    tg_tensor *w =
        tg_from_f64(tp, x[i]->dtype, x[i]->ndim, x[i]->shape, g->w[i]);
    tg_tensor *term = tg_sum_all(tp, tg_mul(tp, grads[i], w));
    h = h ? tg_add(tp, h, term) : term;
  }
  return h;
}

tg_status tg_gradgradcheck(tg_fn f, void *ud, int n, tg_tensor *const *inputs,
                           const tg_gradcheck_opts *opts,
                           tg_gradcheck_report *report) {
  if (!report) return TG_ERR_NULL;
  checker probe;
  tg_status st = TG_ERR_ARG;
  /* Learn the output's size (and validate) with a first-order setup. */
  if (!setup(&probe, f, ud, n, inputs, opts, report, 2)) {
    teardown(&probe);
    return st;
  }
  gradgrad_ctx g = {f, ud, n, NULL, {NULL}};
  tg_rng rng;
  tg_rng_seed(&rng, report->seed + 1);
  double *u = tg__malloc(sizeof(double) * (size_t)(probe.out_numel + 1));
  bool ok = u != NULL;
  for (int64_t k = 0; ok && k < probe.out_numel; k++)
    u[k] = tg_rng_normal(&rng);
  for (int i = 0; ok && i < n; i++) {
    g.w[i] = tg__malloc(sizeof(double) * (size_t)(probe.pt.numel[i] + 1));
    ok = g.w[i] != NULL;
    for (int64_t j = 0; ok && j < probe.pt.numel[i]; j++)
      g.w[i][j] = tg_rng_normal(&rng);
  }
  g.u = u;
  teardown(&probe);
  if (ok) {
    tg_gradcheck_report first_warnings = *report;
    checker c;
    if (setup(&c, gradgrad_fn, &g, n, inputs, opts, report, 2)) {
      memcpy(report->warnings, first_warnings.warnings,
             sizeof report->warnings);
      st = run_checks(&c, opts);
    }
    teardown(&c);
  } else {
    snprintf(report->error, sizeof report->error,
             "tg_gradgradcheck: out of memory");
  }
  for (int i = 0; i < n; i++)
    tg__free(g.w[i]);
  tg__free(u);
  return st;
}
