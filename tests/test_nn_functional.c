/* tapegrad: activations, losses and initializers of nn.h.
 *
 * Activations and losses are compositions of primitive ops, so the checks
 * are about the composition: values against plain-C references, gradients
 * of first and second order against finite differences (tests/support.h),
 * and the tails, where a careless composition gives NaN or Inf (an exp of
 * a large number in a branch that where() discards, a log of 0). The tails
 * run in anomaly mode, which flags a NaN or an Inf in any intermediate
 * result and in any gradient. Initializers are checked for their formulas
 * (fans, bounds, spreads), reproducibility, and orthogonality. */
#include <check.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "support.h"

#define LEN(a) ((int)(sizeof(a) / sizeof((a)[0])))

/* Tolerances on the checkers' relative errors (as tests/test_ops_grad.c). */
#define TOL1 1e-6
#define TOL2 1e-5

#define SQRT_2_OVER_PI 0.79788456080286535588

/* |got - want| <= tol * max(1, |want|), and got finite when want is. */
static bool close_to(double got, double want, double tol) {
  if (isfinite(want) && !isfinite(got)) return false;
  return fabs(got - want) <= tol * fmax(1.0, fabs(want));
}

static tg_tape *new_tape(void) {
  tg_tape *tp = tg_tape_new();
  ck_assert_ptr_nonnull(tp);
  return tp;
}

static tg_tensor *vec(tg_tape *tp, tg_dtype dt, int64_t n, const double *v) {
  tg_tensor *t = tg_from_f64(tp, dt, 1, &n, v);
  ck_assert_ptr_nonnull(t);
  return t;
}

static tg_tensor *mat(tg_tape *tp, tg_dtype dt, int64_t r, int64_t c,
                      const double *v) {
  int64_t shape[2] = {r, c};
  tg_tensor *t = tg_from_f64(tp, dt, 2, shape, v);
  ck_assert_ptr_nonnull(t);
  return t;
}

/* ck_assert that the tape is clean; names what was being done. */
#define ASSERT_OK(tp, t, what)                                                 \
  ck_assert_msg(!tgt_failed((tp), (t), (what)), "%s failed: %s", (what),       \
                tg_errmsg(tp))

/* ck_assert that r is NULL with an error code and a message containing
 * each of the given fragments; clears the error. */
static void expect_error(tg_tape *tp, const tg_tensor *r, tg_status code,
                         const char *frag1, const char *frag2) {
  ck_assert_msg(r == NULL, "expected NULL (%s)", frag1);
  ck_assert_msg(tg_error(tp) == code, "expected %s, got %s: %s",
                tg_strerror(code), tg_strerror(tg_error(tp)), tg_errmsg(tp));
  ck_assert_msg(strstr(tg_errmsg(tp), frag1), "message '%s' lacks '%s'",
                tg_errmsg(tp), frag1);
  if (frag2)
    ck_assert_msg(strstr(tg_errmsg(tp), frag2), "message '%s' lacks '%s'",
                  tg_errmsg(tp), frag2);
  tg_clear_error(tp);
}

/* Output weights of the checked functions: sum(out * W) with W fixed and
 * away from 0, so that errors in different elements cannot cancel. */
#define NW 64
static const double *weights(void) {
  static double w[NW];
  static bool ready = false;
  if (!ready) {
    tg_rng rng;
    tg_rng_seed(&rng, 0x5EEDu);
    tgt_fill_away(&rng, w, NW, 0.2, 1.5);
    ready = true;
  }
  return w;
}

static tg_tensor *weigh(tg_tape *tp, tg_tensor *out) {
  if (!out) return NULL;
  ck_assert_int_le(out->numel, NW);
  tg_tensor *w = tgt_make_const(tp, out->ndim, out->shape, weights());
  return tg_sum_all(tp, tg_mul(tp, out, w));
}

/* ========================================================================= */
/* activations                                                               */
/* ========================================================================= */

typedef enum { ACT_LEAKY, ACT_ELU, ACT_GELU, ACT_SOFTPLUS, ACT_COUNT } act_id;

typedef struct act_case {
  act_id id;
  const char *name;
  double p; /* slope or alpha */
} act_case;

static const act_case ACTS[] = {
    {ACT_LEAKY, "tg_leaky_relu", 0.1}, {ACT_LEAKY, "tg_leaky_relu", 1.7},
    {ACT_ELU, "tg_elu", 1.0},          {ACT_ELU, "tg_elu", 0.6},
    {ACT_GELU, "tg_gelu", 0.0},        {ACT_SOFTPLUS, "tg_softplus", 0.0},
};

static tg_tensor *act_apply(tg_tape *tp, const act_case *a, tg_tensor *x) {
  switch (a->id) {
  case ACT_LEAKY: return tg_leaky_relu(tp, x, a->p);
  case ACT_ELU: return tg_elu(tp, x, a->p);
  case ACT_GELU: return tg_gelu(tp, x);
  default: return tg_softplus(tp, x);
  }
}

/* libm references of the value and the derivative. At the kink x = 0 the
 * derivative is the left one (as PyTorch). */
static double act_ref(const act_case *a, double x) {
  switch (a->id) {
  case ACT_LEAKY: return x > 0 ? x : a->p * x;
  case ACT_ELU: return x > 0 ? x : a->p * expm1(x);
  case ACT_GELU:
    return 0.5 * x * (1.0 + tanh(SQRT_2_OVER_PI * (x + 0.044715 * x * x * x)));
  default: return fmax(x, 0.0) + log1p(exp(-fabs(x)));
  }
}

static double act_dref(const act_case *a, double x) {
  switch (a->id) {
  case ACT_LEAKY: return x > 0 ? 1.0 : a->p;
  case ACT_ELU: return x > 0 ? 1.0 : a->p * exp(x);
  case ACT_GELU: {
    double t = tanh(SQRT_2_OVER_PI * (x + 0.044715 * x * x * x));
    double du = SQRT_2_OVER_PI * (1.0 + 3.0 * 0.044715 * x * x);
    return 0.5 * (1.0 + t) + 0.5 * x * (1.0 - t) * (1.0 + t) * du;
  }
  default: return 1.0 / (1.0 + exp(-x));
  }
}

/* A grid over [-8, 8], points near and at 0, and the tails. */
static int act_points(double *x) {
  int n = 0;
  for (int i = -64; i <= 64; i++)
    x[n++] = 0.125 * i + 0.01 * (i % 3);
  static const double extra[] = {0.0,   1e-3,  -1e-3,  1e-7,  -1e-7,
                                 30.0,  -30.0, 50.0,   -50.0, 88.0,
                                 -88.0, 100.0, -100.0, 1e4,   -1e4};
  for (int i = 0; i < LEN(extra); i++)
    x[n++] = extra[i];
  return n;
}

/* Values and first derivatives at every point, in f64 and f32, in anomaly
 * mode (no NaN or Inf in any intermediate or any gradient). */
START_TEST(test_activation_values) {
  double xs[160];
  int n = act_points(xs);
  for (int dt = 0; dt < 2; dt++) {
    tg_dtype dtype = dt ? TG_F32 : TG_F64;
    double tol = dt ? 1e-6 : 1e-12;
    double dtol = dt ? 1e-5 : 1e-10;
    for (int k = 0; k < LEN(ACTS); k++) {
      const act_case *a = &ACTS[k];
      tg_tape *tp = new_tape();
      tg_set_anomaly_mode(tp, true);
      tg_tensor *x = tg_set_requires_grad(vec(tp, dtype, n, xs), true);
      tg_tensor *y = act_apply(tp, a, x);
      ASSERT_OK(tp, y, a->name);
      ck_assert_int_eq(y->dtype, dtype);
      ck_assert_int_eq(y->ndim, 1);
      ck_assert_int_eq(y->shape[0], n);
      tg_tensor *g = NULL;
      tg_tensor *s = tg_sum_all(tp, y);
      ck_assert_int_eq(tg_grad(tp, 1, &s, NULL, 1, &x, &g, false), TG_OK);
      ASSERT_OK(tp, g, "gradient");
      for (int i = 0; i < n; i++) {
        double xi = tg_get_flat(x, i); /* as rounded to the dtype */
        double v = tg_get_flat(y, i), want = act_ref(a, xi);
        ck_assert_msg(close_to(v, want, tol),
                      "%s(%g; p=%g) %s = %.17g, want %.17g", a->name, xi, a->p,
                      tg_dtype_name(dtype), v, want);
        double d = tg_get_flat(g, i), dwant = act_dref(a, xi);
        ck_assert_msg(close_to(d, dwant, dtol),
                      "%s'(%g; p=%g) %s = %.17g, want %.17g", a->name, xi, a->p,
                      tg_dtype_name(dtype), d, dwant);
      }
      tg_tape_free(tp);
    }
  }
}
END_TEST

/* Exact values where the formula is exact: the identity branches and 0. */
START_TEST(test_activation_exact) {
  tg_tape *tp = new_tape();
  const double xs[] = {-2.0, 0.0, 3.0};
  tg_tensor *x = vec(tp, TG_F64, 3, xs);
  tg_tensor *l = tg_leaky_relu(tp, x, 0.25);
  tg_tensor *e = tg_elu(tp, x, 2.0);
  tg_tensor *g = tg_gelu(tp, x);
  tg_tensor *s = tg_softplus(tp, x);
  ASSERT_OK(tp, s, "activations");
  ck_assert(tg_get_flat(l, 0) == -0.5 && tg_get_flat(l, 1) == 0.0 &&
            tg_get_flat(l, 2) == 3.0);
  ck_assert(tg_get_flat(e, 1) == 0.0 && tg_get_flat(e, 2) == 3.0);
  ck_assert(tg_get_flat(g, 1) == 0.0);
  ck_assert(fabs(tg_get_flat(s, 1) - log(2.0)) < 1e-15);
  tg_tape_free(tp);
}
END_TEST

typedef struct act_ctx {
  const act_case *a;
} act_ctx;

static tg_tensor *f_act(tg_tape *tp, tg_tensor **in, void *ctx) {
  const act_ctx *c = ctx;
  return weigh(tp, act_apply(tp, c->a, in[0]));
}

/* First and second order against finite differences, f64; leaky_relu and
 * elu are kept away from their kink at 0 (second order of leaky_relu is 0,
 * which the checker handles). gelu and softplus are smooth everywhere, so
 * their inputs include 0 itself. */
START_TEST(test_activation_grads) {
  tg_rng rng;
  tg_rng_seed(&rng, 2024);
  int64_t shape[2] = {3, 5};
  for (int k = 0; k < LEN(ACTS); k++) {
    const act_case *a = &ACTS[k];
    for (int trial = 0; trial < 3; trial++) {
      tgt_input in;
      ck_assert(tgt_input_init(&in, 2, shape));
      if (a->id == ACT_LEAKY || a->id == ACT_ELU) {
        tgt_fill_away(&rng, in.data, in.numel, 0.1, 3.0);
      } else {
        tgt_fill_uniform(&rng, in.data, in.numel, -4.0, 4.0);
        in.data[0] = 0.0;
      }
      act_ctx c = {a};
      double e1 = tgt_check_grad(f_act, &c, 1, &in);
      double e2 = tgt_check_grad2(f_act, &c, 1, &in, 77 + (uint64_t)trial);
      ck_assert_msg(e1 < TOL1, "%s(p=%g) first order: error %g", a->name, a->p,
                    e1);
      ck_assert_msg(e2 < TOL2, "%s(p=%g) second order: error %g", a->name, a->p,
                    e2);
      tgt_input_free(&in);
    }
  }
}
END_TEST

/* d^2/dx^2 of act at a single point, through two tg_grad sweeps. */
static double second_derivative(const act_case *a, double x0) {
  tg_tape *tp = new_tape();
  tg_tensor *x = tg_set_requires_grad(tg_scalar(tp, TG_F64, x0), true);
  tg_tensor *y = act_apply(tp, a, x);
  tg_tensor *g = NULL, *h = NULL;
  ck_assert_int_eq(tg_grad(tp, 1, &y, NULL, 1, &x, &g, true), TG_OK);
  ck_assert_int_eq(tg_grad(tp, 1, &g, NULL, 1, &x, &h, false), TG_OK);
  ASSERT_OK(tp, h, "second derivative");
  double v = tg_item(h);
  tg_tape_free(tp);
  return v;
}

/* At x = 0 exactly, where relu- and abs-based compositions would lose the
 * derivative: softplus'' = 1/4, gelu'' = sqrt(2/pi); elu'' on the left is
 * alpha (the branch taken at 0), leaky_relu'' is 0. */
START_TEST(test_activation_second_derivative_at_zero) {
  const act_case sp = {ACT_SOFTPLUS, "tg_softplus", 0};
  const act_case ge = {ACT_GELU, "tg_gelu", 0};
  const act_case el = {ACT_ELU, "tg_elu", 0.7};
  const act_case lr = {ACT_LEAKY, "tg_leaky_relu", 0.3};
  ck_assert(fabs(second_derivative(&sp, 0.0) - 0.25) < 1e-15);
  ck_assert(fabs(second_derivative(&ge, 0.0) - SQRT_2_OVER_PI) < 1e-15);
  ck_assert(fabs(second_derivative(&el, 0.0) - 0.7) < 1e-15);
  ck_assert(second_derivative(&lr, 0.0) == 0.0);
  /* and away from 0, against the closed forms */
  double x = -1.3, s = 1.0 / (1.0 + exp(-x));
  ck_assert(fabs(second_derivative(&sp, x) - s * (1 - s)) < 1e-14);
  ck_assert(fabs(second_derivative(&el, x) - 0.7 * exp(x)) < 1e-14);
}
END_TEST

START_TEST(test_activation_null_and_views) {
  tg_tape *tp = new_tape();
  for (int k = 0; k < LEN(ACTS); k++) {
    expect_error(tp, act_apply(tp, &ACTS[k], NULL), TG_ERR_NULL, ACTS[k].name,
                 "NULL");
  }
  /* a transposed (non-contiguous) input */
  double v[6] = {-1.5, 2.0, -0.25, 0.5, 3.0, -4.0};
  tg_tensor *x = mat(tp, TG_F64, 2, 3, v);
  tg_tensor *xt = tg_transpose(tp, x, 0, 1);
  for (int k = 0; k < LEN(ACTS); k++) {
    tg_tensor *y = act_apply(tp, &ACTS[k], xt);
    ASSERT_OK(tp, y, ACTS[k].name);
    ck_assert_int_eq(y->shape[0], 3);
    ck_assert_int_eq(y->shape[1], 2);
    for (int i = 0; i < 3; i++)
      for (int j = 0; j < 2; j++) {
        int64_t idx[2] = {i, j};
        ck_assert(
            close_to(tg_get(y, idx), act_ref(&ACTS[k], v[j * 3 + i]), 1e-12));
      }
  }
  tg_tape_free(tp);
}
END_TEST

/* ========================================================================= */
/* losses                                                                    */
/* ========================================================================= */

typedef enum { L_MSE, L_L1, L_HUBER, L_BCE } pair_loss;

static const char *pair_name(pair_loss k) {
  switch (k) {
  case L_MSE: return "tg_mse_loss";
  case L_L1: return "tg_l1_loss";
  case L_HUBER: return "tg_huber_loss";
  default: return "tg_bce_with_logits";
  }
}

static tg_tensor *pair_apply(tg_tape *tp, pair_loss k, tg_tensor *a,
                             tg_tensor *b, double delta, tg_reduction red) {
  switch (k) {
  case L_MSE: return tg_mse_loss(tp, a, b, red);
  case L_L1: return tg_l1_loss(tp, a, b, red);
  case L_HUBER: return tg_huber_loss(tp, a, b, delta, red);
  default: return tg_bce_with_logits(tp, a, b, red);
  }
}

static double pair_elem_ref(pair_loss k, double a, double b, double delta) {
  double d = a - b;
  switch (k) {
  case L_MSE: return d * d;
  case L_L1: return fabs(d);
  case L_HUBER:
    return fabs(d) < delta ? 0.5 * d * d : delta * (fabs(d) - 0.5 * delta);
  default: return fmax(a, 0.0) - a * b + log1p(exp(-fabs(a)));
  }
}

static double pair_ref(pair_loss k, const double *a, const double *b, int64_t n,
                       double delta, tg_reduction red) {
  double s = 0.0;
  for (int64_t i = 0; i < n; i++)
    s += pair_elem_ref(k, a[i], b[i], delta);
  return red == TG_REDUCE_SUM ? s : s / (double)n;
}

/* -log_softmax(x)[n, label], reduced; in double with logsumexp. */
static double ce_ref(const double *x, const double *labels, int64_t n,
                     int64_t c, bool is_logp, tg_reduction red) {
  double s = 0.0;
  for (int64_t i = 0; i < n; i++) {
    const double *row = x + i * c;
    double lse = 0.0;
    if (!is_logp) {
      double m = row[0];
      for (int64_t j = 1; j < c; j++)
        m = fmax(m, row[j]);
      double e = 0.0;
      for (int64_t j = 0; j < c; j++)
        e += exp(row[j] - m);
      lse = m + log(e);
    }
    s += -(row[(int64_t)labels[i]] - lse);
  }
  return red == TG_REDUCE_SUM ? s : s / (double)n;
}

/* Values of the elementwise losses against plain C, both reductions, f64
 * and f32; huber's data covers both of its regimes. */
START_TEST(test_pair_loss_values) {
  tg_rng rng;
  tg_rng_seed(&rng, 11);
  enum { R = 3, C = 4, N = R * C };
  double a[N], b[N];
  const pair_loss kinds[] = {L_MSE, L_L1, L_HUBER, L_BCE};
  for (int kk = 0; kk < LEN(kinds); kk++) {
    pair_loss k = kinds[kk];
    for (int trial = 0; trial < 3; trial++) {
      double delta = trial == 0 ? 1.0 : 0.5 + trial;
      tgt_fill_uniform(&rng, b, N, -2.0, 2.0);
      for (int i = 0; i < N; i++)
        a[i] = b[i] + (tg_rng_uniform(&rng) * 8.0 - 4.0);
      if (k == L_BCE) /* targets in [0, 1] */
        tgt_fill_uniform(&rng, b, N, 0.0, 1.0);
      if (k == L_HUBER) { /* both regimes for certain */
        a[0] = b[0] + 0.5 * delta;
        a[1] = b[1] - 2.0 * delta;
      }
      for (int dt = 0; dt < 2; dt++) {
        tg_dtype dtype = dt ? TG_F32 : TG_F64;
        for (int r = 0; r < 2; r++) {
          tg_reduction red = r ? TG_REDUCE_SUM : TG_REDUCE_MEAN;
          tg_tape *tp = new_tape();
          tg_tensor *ta = mat(tp, dtype, R, C, a),
                    *tb = mat(tp, dtype, R, C, b);
          tg_tensor *l = pair_apply(tp, k, ta, tb, delta, red);
          ASSERT_OK(tp, l, pair_name(k));
          ck_assert_int_eq(l->ndim, 0);
          ck_assert_int_eq(l->dtype, dtype);
          double ra[N], rb[N]; /* the values as the dtype holds them */
          ck_assert(tgt_copy_out(ta, ra) && tgt_copy_out(tb, rb));
          double want = pair_ref(k, ra, rb, N, delta, red);
          double got = tg_item(l);
          ck_assert_msg(fabs(got - want) <= (dt ? 1e-5 : 1e-12) * fabs(want),
                        "%s %s red %d: %.17g, want %.17g", pair_name(k),
                        tg_dtype_name(dtype), r, got, want);
          tg_tape_free(tp);
        }
      }
    }
  }
}
END_TEST

typedef struct pair_ctx {
  pair_loss k;
  double delta;
  tg_reduction red;
} pair_ctx;

static tg_tensor *f_pair(tg_tape *tp, tg_tensor **in, void *ctx) {
  const pair_ctx *c = ctx;
  return pair_apply(tp, c->k, in[0], in[1], c->delta, c->red);
}

/* Gradients with respect to both inputs, first and second order, away
 * from the kinks: l1 keeps |d| >= 0.1, huber keeps |d| at least 0.1 from
 * delta. l1's second derivative is 0 (the checker expects that). */
START_TEST(test_pair_loss_grads) {
  tg_rng rng;
  tg_rng_seed(&rng, 12);
  int64_t shape[2] = {3, 4};
  const pair_loss kinds[] = {L_MSE, L_L1, L_HUBER, L_BCE};
  for (int kk = 0; kk < LEN(kinds); kk++) {
    for (int r = 0; r < 2; r++) {
      for (int trial = 0; trial < 2; trial++) {
        pair_ctx c = {kinds[kk], trial ? 0.5 : 1.0,
                      r ? TG_REDUCE_SUM : TG_REDUCE_MEAN};
        tgt_input in[2];
        ck_assert(tgt_input_init(&in[0], 2, shape));
        ck_assert(tgt_input_init(&in[1], 2, shape));
        double *a = in[0].data, *b = in[1].data;
        tgt_fill_uniform(&rng, b, 12, -2.0, 2.0);
        for (int i = 0; i < 12; i++) {
          double d;
          if (c.k == L_HUBER) {
            /* |d| in [0.1, delta - 0.1] or [delta + 0.1, delta + 2] */
            d = i % 2 ? 0.1 + (c.delta - 0.2) * tg_rng_uniform(&rng)
                      : c.delta + 0.1 + 1.9 * tg_rng_uniform(&rng);
            d = i % 3 ? d : -d;
          } else {
            tgt_fill_away(&rng, &d, 1, 0.1, 3.0);
          }
          a[i] = b[i] + d;
        }
        if (c.k == L_BCE) {
          tgt_fill_uniform(&rng, b, 12, 0.0, 1.0);
          a[0] = 0.0; /* softplus is smooth at 0: no kink to avoid */
        }
        double e1 = tgt_check_grad(f_pair, &c, 2, in);
        double e2 = tgt_check_grad2(f_pair, &c, 2, in, 99 + (uint64_t)trial);
        ck_assert_msg(e1 < TOL1, "%s red %d: first order error %g",
                      pair_name(c.k), r, e1);
        ck_assert_msg(e2 < TOL2, "%s red %d: second order error %g",
                      pair_name(c.k), r, e2);
        tgt_inputs_free(2, in);
      }
    }
  }
}
END_TEST

/* The gradient of the elementwise losses at their kinks and regime
 * boundaries: l1 at d = 0 gives 0 (as abs), huber at |d| = delta gives
 * delta sign(d) from both sides, bce at logit 0 gives 1/2 - t. */
START_TEST(test_pair_loss_kinks) {
  tg_tape *tp = new_tape();
  const double t[4] = {1.0, 1.0, 1.0, 0.3};
  const double p[4] = {1.0, 2.0, 0.0, 0.0};
  tg_tensor *tt = vec(tp, TG_F64, 4, t);
  tg_tensor *tpred = tg_set_requires_grad(vec(tp, TG_F64, 4, p), true);
  tg_tensor *g = NULL;
  tg_tensor *l1 = tg_l1_loss(tp, tpred, tt, TG_REDUCE_SUM);
  ck_assert_int_eq(tg_grad(tp, 1, &l1, NULL, 1, &tpred, &g, false), TG_OK);
  ck_assert(tg_get_flat(g, 0) == 0.0);
  tg_tensor *hu = tg_huber_loss(tp, tpred, tt, 1.0, TG_REDUCE_SUM);
  ck_assert_int_eq(tg_grad(tp, 1, &hu, NULL, 1, &tpred, &g, false), TG_OK);
  ck_assert(tg_get_flat(g, 1) == 1.0 && tg_get_flat(g, 2) == -1.0);
  ck_assert(tg_get_flat(g, 0) == 0.0);
  ck_assert(fabs(tg_get_flat(g, 3) + 0.3) < 1e-15);
  ck_assert(fabs(tg_item(hu) - 1.045) < 1e-15); /* 0 + 0.5 + 0.5 + 0.045 */
  tg_tensor *bce = tg_bce_with_logits(tp, tpred, tt, TG_REDUCE_SUM);
  ck_assert_int_eq(tg_grad(tp, 1, &bce, NULL, 1, &tpred, &g, false), TG_OK);
  ck_assert(fabs(tg_get_flat(g, 3) - (0.5 - 0.3)) < 1e-15);
  ck_assert(fabs(tg_get_flat(g, 2) - (0.5 - 1.0)) < 1e-15);
  ASSERT_OK(tp, g, "kinks");
  tg_tape_free(tp);
}
END_TEST

typedef struct class_ctx {
  bool is_logp; /* nll on the input itself, else cross_entropy */
  tg_reduction red;
  int64_t n, c;
  double labels[8];
} class_ctx;

static tg_tensor *f_class(tg_tape *tp, tg_tensor **in, void *ctx) {
  const class_ctx *c = ctx;
  tg_tensor *lab = tgt_make_const(tp, 1, &c->n, c->labels);
  return c->is_logp ? tg_nll_loss(tp, in[0], lab, c->red)
                    : tg_cross_entropy(tp, in[0], lab, c->red);
}

START_TEST(test_class_loss_values) {
  tg_rng rng;
  tg_rng_seed(&rng, 13);
  enum { N = 5, C = 4 };
  double x[N * C], labels[N] = {0, 3, 1, 3, 2};
  for (int is_logp = 0; is_logp < 2; is_logp++) {
    for (int dt = 0; dt < 2; dt++) {
      tg_dtype dtype = dt ? TG_F32 : TG_F64;
      for (int r = 0; r < 2; r++) {
        tg_reduction red = r ? TG_REDUCE_SUM : TG_REDUCE_MEAN;
        tgt_fill_uniform(&rng, x, N * C, -3.0, 3.0);
        tg_tape *tp = new_tape();
        tg_tensor *tx = mat(tp, dtype, N, C, x);
        /* labels of the other dtype: indices need not match the data */
        tg_tensor *tl = vec(tp, dt ? TG_F64 : TG_F32, N, labels);
        tg_tensor *l = is_logp ? tg_nll_loss(tp, tx, tl, red)
                               : tg_cross_entropy(tp, tx, tl, red);
        ASSERT_OK(tp, l, is_logp ? "nll" : "cross_entropy");
        ck_assert_int_eq(l->ndim, 0);
        ck_assert_int_eq(l->dtype, dtype);
        double rx[N * C];
        ck_assert(tgt_copy_out(tx, rx));
        double want = ce_ref(rx, labels, N, C, is_logp, red);
        ck_assert_msg(fabs(tg_item(l) - want) <=
                          (dt ? 1e-5 : 1e-12) * fabs(want),
                      "%s %s red %d: %.17g, want %.17g",
                      is_logp ? "nll" : "cross_entropy", tg_dtype_name(dtype),
                      r, tg_item(l), want);
        /* cross_entropy = nll(log_softmax) */
        if (!is_logp) {
          tg_tensor *l2 = tg_nll_loss(tp, tg_log_softmax(tp, tx, 1), tl, red);
          ASSERT_OK(tp, l2, "nll of log_softmax");
          ck_assert(tg_item(l2) == tg_item(l));
        }
        tg_tape_free(tp);
      }
    }
  }
  /* A strided view as labels: every other element of [0 9 2 9 1 9]. */
  tg_tape *tp = new_tape();
  const double lv[6] = {0, 9, 2, 9, 1, 9};
  tg_tensor *lab = tg_slice(tp, vec(tp, TG_F64, 6, lv), 0, 0, 6, 2);
  tgt_fill_uniform(&rng, x, 3 * C, -1.0, 1.0);
  tg_tensor *l =
      tg_cross_entropy(tp, mat(tp, TG_F64, 3, C, x), lab, TG_REDUCE_SUM);
  ASSERT_OK(tp, l, "cross_entropy with strided labels");
  const double dense[3] = {0, 2, 1};
  ck_assert(fabs(tg_item(l) - ce_ref(x, dense, 3, C, false, TG_REDUCE_SUM)) <
            1e-12);
  tg_tape_free(tp);
}
END_TEST

START_TEST(test_class_loss_grads) {
  tg_rng rng;
  tg_rng_seed(&rng, 14);
  for (int is_logp = 0; is_logp < 2; is_logp++) {
    for (int r = 0; r < 2; r++) {
      class_ctx c = {is_logp != 0,
                     r ? TG_REDUCE_SUM : TG_REDUCE_MEAN,
                     6,
                     5,
                     {4, 0, 2, 2, 1, 3, 0, 0}};
      int64_t shape[2] = {c.n, c.c};
      tgt_input in;
      ck_assert(tgt_input_init(&in, 2, shape));
      tgt_fill_uniform(&rng, in.data, in.numel, -3.0, 3.0);
      double e1 = tgt_check_grad(f_class, &c, 1, &in);
      double e2 = tgt_check_grad2(f_class, &c, 1, &in, 5 + (uint64_t)r);
      ck_assert_msg(e1 < TOL1, "%s red %d: first order error %g",
                    is_logp ? "nll" : "cross_entropy", r, e1);
      ck_assert_msg(e2 < TOL2, "%s red %d: second order error %g",
                    is_logp ? "nll" : "cross_entropy", r, e2);
      tgt_input_free(&in);
    }
  }
}
END_TEST

/* Logits of +-1e4 in f32, in anomaly mode: finite losses equal to the
 * double references, and gradients equal to (softmax - onehot) / N and
 * (sigmoid - t) / n. */
START_TEST(test_loss_stability) {
  tg_tape *tp = new_tape();
  tg_set_anomaly_mode(tp, true);
  enum { N = 4, C = 3 };
  const double x[N * C] = {1e4, -1e4, 0,   -1e4, 1e4,  5,
                           0,   0,    1e4, -1e4, -1e4, -1e4};
  const double labels[N] = {1, 1, 0, 2};
  tg_tensor *tx = tg_set_requires_grad(mat(tp, TG_F32, N, C, x), true);
  tg_tensor *tl = vec(tp, TG_F32, N, labels);
  tg_tensor *ce = tg_cross_entropy(tp, tx, tl, TG_REDUCE_MEAN);
  ASSERT_OK(tp, ce, "cross_entropy at +-1e4");
  double want = ce_ref(x, labels, N, C, false, TG_REDUCE_MEAN);
  ck_assert(isfinite(tg_item(ce)));
  ck_assert_msg(fabs(tg_item(ce) - want) <= 1e-6 * want, "%.9g vs %.9g",
                tg_item(ce), want);
  tg_tensor *g = NULL;
  ck_assert_int_eq(tg_grad(tp, 1, &ce, NULL, 1, &tx, &g, false), TG_OK);
  ASSERT_OK(tp, g, "cross_entropy gradient");
  for (int i = 0; i < N; i++) {
    double m = fmax(fmax(x[i * C], x[i * C + 1]), x[i * C + 2]), z = 0;
    for (int j = 0; j < C; j++)
      z += exp(x[i * C + j] - m);
    for (int j = 0; j < C; j++) {
      double sm = exp(x[i * C + j] - m) / z;
      double gw = (sm - (j == (int)labels[i])) / N;
      double gv = tg_get_flat(g, i * C + j);
      ck_assert_msg(isfinite(gv) && fabs(gv - gw) < 1e-6,
                    "d ce / d x[%d,%d] = %g, want %g", i, j, gv, gw);
    }
  }
  /* second order stays finite too */
  tg_tensor *g2 = NULL, *h = NULL;
  ck_assert_int_eq(tg_grad(tp, 1, &ce, NULL, 1, &tx, &g2, true), TG_OK);
  tg_tensor *s = tg_sum_all(tp, tg_mul(tp, g2, g2));
  ck_assert_int_eq(tg_grad(tp, 1, &s, NULL, 1, &tx, &h, false), TG_OK);
  ASSERT_OK(tp, h, "cross_entropy second order");

  enum { M = 8 };
  const double bx[M] = {1e4, -1e4, 1e4, -1e4, 0, 30, -30, 1e4};
  const double bt[M] = {0, 1, 1, 0, 0.5, 0.25, 0.75, 0.5};
  tg_tensor *lx = tg_set_requires_grad(vec(tp, TG_F32, M, bx), true);
  tg_tensor *lt = vec(tp, TG_F32, M, bt);
  tg_tensor *bce = tg_bce_with_logits(tp, lx, lt, TG_REDUCE_SUM);
  ASSERT_OK(tp, bce, "bce_with_logits at +-1e4");
  double bwant = pair_ref(L_BCE, bx, bt, M, 0, TG_REDUCE_SUM);
  ck_assert_msg(fabs(tg_item(bce) - bwant) <= 1e-6 * bwant, "%.9g vs %.9g",
                tg_item(bce), bwant);
  ck_assert_int_eq(tg_grad(tp, 1, &bce, NULL, 1, &lx, &g, false), TG_OK);
  ASSERT_OK(tp, g, "bce_with_logits gradient");
  for (int i = 0; i < M; i++) {
    double gw = 1.0 / (1.0 + exp(-bx[i])) - bt[i];
    ck_assert_msg(fabs(tg_get_flat(g, i) - gw) < 1e-6, "d bce / d x[%d] = %g",
                  i, tg_get_flat(g, i));
  }
  ck_assert_int_eq(tg_grad(tp, 1, &bce, NULL, 1, &lx, &g2, true), TG_OK);
  s = tg_sum_all(tp, tg_mul(tp, g2, g2));
  ck_assert_int_eq(tg_grad(tp, 1, &s, NULL, 1, &lx, &h, false), TG_OK);
  ASSERT_OK(tp, h, "bce_with_logits second order");
  tg_tape_free(tp);
}
END_TEST

START_TEST(test_loss_errors) {
  tg_tape *tp = new_tape();
  const double v[12] = {0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2};
  tg_tensor *a23 = mat(tp, TG_F64, 2, 3, v), *a32 = mat(tp, TG_F64, 3, 2, v);
  tg_tensor *f23 = mat(tp, TG_F32, 2, 3, v);
  const pair_loss kinds[] = {L_MSE, L_L1, L_HUBER, L_BCE};
  for (int kk = 0; kk < LEN(kinds); kk++) {
    pair_loss k = kinds[kk];
    const char *nm = pair_name(k);
    tg_tensor *r = pair_apply(tp, k, a23, a32, 1.0, TG_REDUCE_MEAN);
    expect_error(tp, r, TG_ERR_SHAPE, nm, "[2x3]");
    r = pair_apply(tp, k, a23, f23, 1.0, TG_REDUCE_MEAN);
    expect_error(tp, r, TG_ERR_DTYPE, nm, "f32");
    r = pair_apply(tp, k, a23, NULL, 1.0, TG_REDUCE_MEAN);
    expect_error(tp, r, TG_ERR_NULL, nm, "#2");
    r = pair_apply(tp, k, a23, a23, 1.0, (tg_reduction)7);
    expect_error(tp, r, TG_ERR_ARG, nm, "reduction");
    /* no broadcasting, even where it would be possible */
    r = pair_apply(tp, k, a23, tg_scalar(tp, TG_F64, 1.0), 1.0, TG_REDUCE_MEAN);
    expect_error(tp, r, TG_ERR_SHAPE, nm, "differ in shape");
  }
  tg_tensor *r = tg_mse_loss(tp, a23, a32, TG_REDUCE_SUM);
  expect_error(tp, r, TG_ERR_SHAPE,
               "tg_mse_loss: pred [2x3] and target [3x2] differ in shape",
               NULL);
  const double bad_deltas[] = {0.0, -1.0, NAN, INFINITY};
  for (int i = 0; i < LEN(bad_deltas); i++) {
    r = tg_huber_loss(tp, a23, a23, bad_deltas[i], TG_REDUCE_MEAN);
    expect_error(tp, r, TG_ERR_ARG, "tg_huber_loss", "delta");
  }

  /* classification: shapes */
  tg_tensor *logits = mat(tp, TG_F64, 4, 3, v);
  const double lab5[5] = {0, 1, 2, 0, 1};
  r = tg_cross_entropy(tp, logits, vec(tp, TG_F64, 5, lab5), TG_REDUCE_MEAN);
  expect_error(tp, r, TG_ERR_SHAPE,
               "tg_cross_entropy: logits must be [N, C] and labels [N], got "
               "[4x3] and [5]",
               NULL);
  r = tg_nll_loss(tp, logits, vec(tp, TG_F64, 5, lab5), TG_REDUCE_MEAN);
  expect_error(tp, r, TG_ERR_SHAPE,
               "tg_nll_loss: logp must be [N, C] and labels [N]", NULL);
  r = tg_cross_entropy(tp, vec(tp, TG_F64, 4, v), vec(tp, TG_F64, 4, lab5),
                       TG_REDUCE_MEAN);
  expect_error(tp, r, TG_ERR_SHAPE, "tg_cross_entropy", "[4] and [4]");
  r = tg_cross_entropy(tp, logits, mat(tp, TG_F64, 4, 1, lab5), TG_REDUCE_MEAN);
  expect_error(tp, r, TG_ERR_SHAPE, "tg_cross_entropy", "[4x1]");
  r = tg_cross_entropy(tp, NULL, vec(tp, TG_F64, 4, lab5), TG_REDUCE_MEAN);
  expect_error(tp, r, TG_ERR_NULL, "tg_cross_entropy", "#1");
  r = tg_nll_loss(tp, logits, vec(tp, TG_F64, 4, lab5), (tg_reduction)-1);
  expect_error(tp, r, TG_ERR_ARG, "tg_nll_loss", "reduction");

  /* classification: bad labels */
  const struct {
    double labels[4];
    const char *frag;
  } bad[] = {
      {{0, 1, 3, 0}, "label 3 of sample 2 is out of range for 3 classes"},
      {{0, -1, 2, 0}, "label -1 of sample 1 is out of range"},
      {{0, 1, 2, 1.5}, "label 1.5 of sample 3 is not a whole number"},
      {{NAN, 1, 2, 1}, "of sample 0 is not a whole number"},
      {{0, 1, INFINITY, 1}, "label inf of sample 2"},
  };
  for (int i = 0; i < LEN(bad); i++) {
    for (int dt = 0; dt < 2; dt++) {
      tg_tensor *lab = vec(tp, dt ? TG_F32 : TG_F64, 4, bad[i].labels);
      r = tg_cross_entropy(tp, logits, lab, TG_REDUCE_MEAN);
      expect_error(tp, r, TG_ERR_ARG, "tg_cross_entropy", bad[i].frag);
      r = tg_nll_loss(tp, logits, lab, TG_REDUCE_SUM);
      expect_error(tp, r, TG_ERR_ARG, "tg_nll_loss", bad[i].frag);
    }
  }
  /* Nothing was left on the tape; a good call still works. */
  const double good[4] = {2, 0, 1, 2};
  r = tg_cross_entropy(tp, logits, vec(tp, TG_F64, 4, good), TG_REDUCE_MEAN);
  ASSERT_OK(tp, r, "cross_entropy after errors");
  tg_tape_free(tp);
}
END_TEST

/* ========================================================================= */
/* initializers                                                              */
/* ========================================================================= */

static tg_tensor *heap(tg_dtype dt, int ndim, const int64_t *shape) {
  tg_tensor *t = tg_tensor_new(NULL, dt, ndim, shape);
  ck_assert_ptr_nonnull(t);
  return t;
}

static tg_tensor *init_seeded(tg_dtype dt, int ndim, const int64_t *shape,
                              tg_init_kind kind, double value, uint64_t seed) {
  tg_tensor *t = heap(dt, ndim, shape);
  tg_rng rng;
  tg_rng_seed(&rng, seed);
  ck_assert_int_eq(tg_init(t, kind, value, &rng), TG_OK);
  return t;
}

static bool same_bits(const tg_tensor *a, const tg_tensor *b) {
  return a->numel == b->numel && a->dtype == b->dtype &&
         memcmp(a->data, b->data, (size_t)a->numel * tg_dtype_size(a->dtype)) ==
             0;
}

static const tg_init_kind RANDOM_KINDS[] = {
    TG_INIT_GLOROT_UNIFORM, TG_INIT_GLOROT_NORMAL, TG_INIT_HE_UNIFORM,
    TG_INIT_HE_NORMAL, TG_INIT_ORTHOGONAL};

START_TEST(test_init_reproducible) {
  int64_t shape[3] = {7, 5, 3};
  for (int k = 0; k < LEN(RANDOM_KINDS); k++) {
    for (int dt = 0; dt < 2; dt++) {
      tg_dtype dtype = dt ? TG_F32 : TG_F64;
      tg_tensor *a = init_seeded(dtype, 3, shape, RANDOM_KINDS[k], 0, 42);
      tg_tensor *b = init_seeded(dtype, 3, shape, RANDOM_KINDS[k], 0, 42);
      tg_tensor *c = init_seeded(dtype, 3, shape, RANDOM_KINDS[k], 0, 43);
      ck_assert_msg(same_bits(a, b), "kind %d not reproducible", k);
      ck_assert_msg(!same_bits(a, c), "kind %d ignores the seed", k);
      /* f32 holds the f64 values rounded */
      tg_tensor *d = init_seeded(TG_F64, 3, shape, RANDOM_KINDS[k], 0, 42);
      for (int64_t i = 0; i < a->numel; i++)
        ck_assert(tg_get_flat(a, i) ==
                  (dt ? (double)(float)tg_get_flat(d, i) : tg_get_flat(d, i)));
      tg_tensor_free(a);
      tg_tensor_free(b);
      tg_tensor_free(c);
      tg_tensor_free(d);
    }
  }
  /* One generator used twice moves on: the second tensor differs. */
  tg_rng rng;
  tg_rng_seed(&rng, 5);
  tg_tensor *a = heap(TG_F64, 3, shape), *b = heap(TG_F64, 3, shape);
  ck_assert_int_eq(tg_init(a, TG_INIT_HE_NORMAL, 0, &rng), TG_OK);
  ck_assert_int_eq(tg_init(b, TG_INIT_HE_NORMAL, 0, &rng), TG_OK);
  ck_assert(!same_bits(a, b));
  tg_tensor_free(a);
  tg_tensor_free(b);
}
END_TEST

typedef struct stats {
  double mean, std, max_abs;
} stats;

static stats stats_of(const tg_tensor *t) {
  stats s = {0, 0, 0};
  double sum = 0, sum2 = 0;
  for (int64_t i = 0; i < t->numel; i++) {
    double v = tg_get_flat(t, i);
    sum += v;
    s.max_abs = fmax(s.max_abs, fabs(v));
  }
  s.mean = sum / (double)t->numel;
  for (int64_t i = 0; i < t->numel; i++) {
    double d = tg_get_flat(t, i) - s.mean;
    sum2 += d * d;
  }
  s.std = sqrt(sum2 / (double)(t->numel - 1));
  return s;
}

/* Checks the uniform and normal kinds on one shape with known fans:
 * uniform values within [-a, a] (a as the dtype rounds it) with the max
 * |value| within 0.1% of a and the std a / sqrt(3) within 2%; normal std
 * within 2%; means near 0. */
static void check_fans(tg_dtype dtype, int ndim, const int64_t *shape,
                       double fan_in, double fan_out) {
  const struct {
    tg_init_kind kind;
    bool uniform;
    double scale; /* a or std */
  } cases[] = {
      {TG_INIT_GLOROT_UNIFORM, true, sqrt(6.0 / (fan_in + fan_out))},
      {TG_INIT_GLOROT_NORMAL, false, sqrt(2.0 / (fan_in + fan_out))},
      {TG_INIT_HE_UNIFORM, true, sqrt(6.0 / fan_in)},
      {TG_INIT_HE_NORMAL, false, sqrt(2.0 / fan_in)},
  };
  for (int k = 0; k < LEN(cases); k++) {
    tg_tensor *t =
        init_seeded(dtype, ndim, shape, cases[k].kind, 0, 1000 + (uint64_t)k);
    ck_assert_int_ge(t->numel, 100000);
    stats s = stats_of(t);
    double a = cases[k].scale;
    double std = cases[k].uniform ? a / sqrt(3.0) : a;
    ck_assert_msg(fabs(s.std / std - 1.0) < 0.02,
                  "kind %d, fans %g/%g: std %g, want %g", (int)cases[k].kind,
                  fan_in, fan_out, s.std, std);
    ck_assert_msg(fabs(s.mean) < 5.0 * std / sqrt((double)t->numel),
                  "kind %d: mean %g", (int)cases[k].kind, s.mean);
    if (cases[k].uniform) {
      double bound = dtype == TG_F32 ? (double)(float)a : a;
      ck_assert_msg(s.max_abs <= bound, "kind %d: |value| %.17g > a = %.17g",
                    (int)cases[k].kind, s.max_abs, bound);
      ck_assert_msg(s.max_abs > 0.999 * a, "kind %d: max |value| %g, a = %g",
                    (int)cases[k].kind, s.max_abs, a);
    } else {
      /* 10^5 normal draws reach beyond 3.5 std but not 6 */
      ck_assert(s.max_abs > 3.5 * std && s.max_abs < 6.0 * std);
    }
    tg_tensor_free(t);
  }
}

START_TEST(test_init_fans_2d) {
  int64_t shape[2] = {250, 400}; /* [out, in] */
  check_fans(TG_F64, 2, shape, 400, 250);
  check_fans(TG_F32, 2, shape, 400, 250);
}
END_TEST

START_TEST(test_init_fans_conv) {
  int64_t s4[4] = {128, 32, 5, 5}; /* [out, in, kh, kw] */
  check_fans(TG_F64, 4, s4, 32 * 25, 128 * 25);
  check_fans(TG_F32, 4, s4, 32 * 25, 128 * 25);
  int64_t s3[3] = {64, 40, 40}; /* conv1d [out, in, k] */
  check_fans(TG_F64, 3, s3, 40 * 40, 64 * 40);
}
END_TEST

START_TEST(test_init_fans_1d) {
  int64_t s1[1] = {100000};
  check_fans(TG_F64, 1, s1, 100000, 100000);
}
END_TEST

/* Max |(W W^T or W^T W) - gain^2 I|, whichever Gram matrix is the smaller. */
static double ortho_err(const double *w, int64_t rows, int64_t cols,
                        double gain) {
  double err = 0.0;
  bool by_rows = rows <= cols;
  int64_t k = by_rows ? rows : cols, len = by_rows ? cols : rows;
  for (int64_t i = 0; i < k; i++)
    for (int64_t j = 0; j < k; j++) {
      double d = 0.0;
      for (int64_t l = 0; l < len; l++)
        d += by_rows ? w[i * cols + l] * w[j * cols + l]
                     : w[l * cols + i] * w[l * cols + j];
      err = fmax(err, fabs(d - (i == j ? gain * gain : 0.0)));
    }
  return err;
}

/* Redraws the normal matrix A [rows, cols] the initializer drew from seed
 * and checks the sign convention: with Q = W / gain (or its transpose when
 * rows < cols), R = Q^T A (or Q^T A^T) is upper triangular with a positive
 * diagonal, i.e. W is the unique QR factor, as PyTorch's sign fix gives. */
static void check_ortho_signs(const double *w, int64_t rows, int64_t cols,
                              double gain, uint64_t seed, double tol) {
  tg_rng rng;
  tg_rng_seed(&rng, seed);
  double *a = malloc(sizeof(double) * (size_t)(rows * cols));
  ck_assert_ptr_nonnull(a);
  for (int64_t i = 0; i < rows * cols; i++)
    a[i] = tg_rng_normal(&rng);
  bool tr = rows < cols;
  int64_t n = tr ? rows : cols, m = tr ? cols : rows;
  /* column j of the m x n factorised matrix M and of Q, element i */
#define M_(i, j) (tr ? a[(j)*cols + (i)] : a[(i)*cols + (j)])
#define Q_(i, j) ((tr ? w[(j)*cols + (i)] : w[(i)*cols + (j)]) / gain)
  for (int64_t i = 0; i < n; i++)
    for (int64_t j = 0; j < n; j++) {
      double r = 0.0;
      for (int64_t l = 0; l < m; l++)
        r += Q_(l, i) * M_(l, j);
      if (i > j)
        ck_assert_msg(fabs(r) < tol * sqrt((double)m), "R[%lld,%lld] = %g",
                      (long long)i, (long long)j, r);
      if (i == j)
        ck_assert_msg(r > 0.0, "R[%lld,%lld] = %g", (long long)i, (long long)j,
                      r);
    }
#undef M_
#undef Q_
  free(a);
}

START_TEST(test_init_orthogonal) {
  const struct {
    int ndim;
    int64_t shape[4];
    double value;
  } cases[] = {
      {2, {5, 8}, 0.0},        {2, {8, 5}, 0.0},    {2, {6, 6}, 0.0},
      {2, {1, 7}, 0.0},        {2, {7, 1}, 0.0},    {2, {1, 1}, 0.0},
      {2, {40, 64}, 2.5},      {2, {64, 40}, 0.5},  {4, {4, 2, 3, 3}, 0.0},
      {4, {20, 2, 3, 1}, 1.0}, {3, {3, 4, 5}, 1.5}, {2, {100, 100}, 0.0},
  };
  for (int c = 0; c < LEN(cases); c++) {
    for (int dt = 0; dt < 2; dt++) {
      tg_dtype dtype = dt ? TG_F32 : TG_F64;
      uint64_t seed = 300 + (uint64_t)c;
      tg_tensor *t = init_seeded(dtype, cases[c].ndim, cases[c].shape,
                                 TG_INIT_ORTHOGONAL, cases[c].value, seed);
      int64_t rows = t->shape[0], cols = t->numel / rows;
      double gain = cases[c].value == 0.0 ? 1.0 : cases[c].value;
      double *w = tgt_read(t);
      ck_assert_ptr_nonnull(w);
      double err = ortho_err(w, rows, cols, gain);
      double tol = (dt ? 1e-5 : 1e-10) * gain * gain;
      ck_assert_msg(err < tol, "orthogonal %lldx%lld %s gain %g: error %g",
                    (long long)rows, (long long)cols, tg_dtype_name(dtype),
                    gain, err);
      check_ortho_signs(w, rows, cols, gain, seed, dt ? 1e-5 : 1e-10);
      free(w);
      tg_tensor_free(t);
    }
  }
  /* A negative gain flips every sign. */
  int64_t shape[2] = {6, 9};
  tg_tensor *p = init_seeded(TG_F64, 2, shape, TG_INIT_ORTHOGONAL, 0, 9);
  tg_tensor *q = init_seeded(TG_F64, 2, shape, TG_INIT_ORTHOGONAL, -1.0, 9);
  for (int64_t i = 0; i < p->numel; i++)
    ck_assert(tg_get_flat(q, i) == -tg_get_flat(p, i));
  tg_tensor_free(p);
  tg_tensor_free(q);
}
END_TEST

/* Every kind writes a strided view in its logical (row-major) order. */
START_TEST(test_init_views) {
  tg_tape *tp = new_tape();
  int64_t shape[2] = {5, 8}, tshape[2] = {8, 5};
  const tg_init_kind kinds[] = {TG_INIT_GLOROT_UNIFORM, TG_INIT_HE_NORMAL,
                                TG_INIT_ORTHOGONAL, TG_INIT_CONSTANT};
  for (int k = 0; k < LEN(kinds); k++) {
    tg_tensor *base = tg_zeros(tp, TG_F32, 2, shape);
    tg_tensor *view = tg_transpose(tp, base, 0, 1); /* [8x5], strided */
    ck_assert(!tg_is_contiguous(view));
    tg_rng rng;
    tg_rng_seed(&rng, 77);
    ck_assert_int_eq(tg_init(view, kinds[k], 0.5, &rng), TG_OK);
    tg_tensor *ref = init_seeded(TG_F32, 2, tshape, kinds[k], 0.5, 77);
    for (int64_t i = 0; i < 8; i++)
      for (int64_t j = 0; j < 5; j++) {
        int64_t ij[2] = {i, j}, ji[2] = {j, i};
        ck_assert(tg_get(view, ij) == tg_get(ref, ij));
        ck_assert(tg_get(base, ji) == tg_get(ref, ij));
      }
    tg_tensor_free(ref);
  }
  tg_tape_free(tp);
}
END_TEST

START_TEST(test_init_zeros_constant) {
  int64_t shape[2] = {3, 4};
  for (int dt = 0; dt < 2; dt++) {
    tg_dtype dtype = dt ? TG_F32 : TG_F64;
    tg_tensor *t = init_seeded(dtype, 2, shape, TG_INIT_CONSTANT, 0.25, 1);
    for (int64_t i = 0; i < t->numel; i++)
      ck_assert(tg_get_flat(t, i) == 0.25);
    tg_rng rng;
    tg_rng_seed(&rng, 1);
    tg_rng before = rng;
    ck_assert_int_eq(tg_init(t, TG_INIT_ZEROS, 0.25, &rng), TG_OK);
    for (int64_t i = 0; i < t->numel; i++)
      ck_assert(tg_get_flat(t, i) == 0.0);
    /* deterministic kinds draw nothing, and need no generator */
    ck_assert(memcmp(&before, &rng, sizeof rng) == 0);
    ck_assert_int_eq(tg_init(t, TG_INIT_CONSTANT, -3.0, NULL), TG_OK);
    ck_assert(tg_get_flat(t, 11) == -3.0);
    ck_assert_int_eq(tg_init(t, TG_INIT_ZEROS, 0, NULL), TG_OK);
    ck_assert(tg_get_flat(t, 11) == 0.0);
    tg_tensor_free(t);
  }
  /* a 0-d tensor: fans of 1; every kind but orthogonal */
  tg_tensor *s = heap(TG_F64, 0, NULL);
  tg_rng rng;
  tg_rng_seed(&rng, 3);
  ck_assert_int_eq(tg_init(s, TG_INIT_HE_UNIFORM, 0, &rng), TG_OK);
  ck_assert(fabs(tg_item(s)) <= sqrt(6.0) && tg_item(s) != 0.0);
  ck_assert_int_eq(tg_init(s, TG_INIT_CONSTANT, 7, &rng), TG_OK);
  ck_assert(tg_item(s) == 7.0);
  tg_tensor_free(s);
}
END_TEST

START_TEST(test_init_errors) {
  tg_rng rng;
  tg_rng_seed(&rng, 8);
  for (int k = 0; k < LEN(RANDOM_KINDS); k++)
    ck_assert_int_eq(tg_init(NULL, RANDOM_KINDS[k], 0, &rng), TG_ERR_NULL);
  ck_assert_int_eq(tg_init(NULL, TG_INIT_ZEROS, 0, &rng), TG_ERR_NULL);
  int64_t shape[2] = {4, 4};
  tg_tensor *t = heap(TG_F64, 2, shape);
  tg_init(t, TG_INIT_CONSTANT, 5.0, NULL);
  for (int k = 0; k < LEN(RANDOM_KINDS); k++)
    ck_assert_int_eq(tg_init(t, RANDOM_KINDS[k], 0, NULL), TG_ERR_NULL);
  ck_assert_int_eq(tg_init(t, (tg_init_kind)99, 0, &rng), TG_ERR_ARG);
  ck_assert_int_eq(tg_init(t, (tg_init_kind)-1, 0, &rng), TG_ERR_ARG);
  /* a failed call leaves the tensor alone */
  ck_assert(tg_get_flat(t, 5) == 5.0);
  tg_tensor_free(t);

  /* orthogonal needs at least 2 axes (as PyTorch) */
  int64_t n5 = 5;
  tg_tensor *v = heap(TG_F64, 1, &n5), *s = heap(TG_F64, 0, NULL);
  ck_assert_int_eq(tg_init(v, TG_INIT_ORTHOGONAL, 0, &rng), TG_ERR_SHAPE);
  ck_assert_int_eq(tg_init(s, TG_INIT_ORTHOGONAL, 0, &rng), TG_ERR_SHAPE);
  tg_tensor_free(v);
  tg_tensor_free(s);

  /* tensors of 0 elements: nothing to do, nothing drawn */
  const int64_t empties[3][2] = {{0, 5}, {5, 0}, {0, 0}};
  for (int e = 0; e < 3; e++) {
    tg_tensor *z = heap(TG_F32, 2, empties[e]);
    for (int k = 0; k < LEN(RANDOM_KINDS); k++) {
      tg_rng before = rng;
      ck_assert_int_eq(tg_init(z, RANDOM_KINDS[k], 0, &rng), TG_OK);
      ck_assert(memcmp(&before, &rng, sizeof rng) == 0);
    }
    ck_assert_int_eq(tg_init(z, TG_INIT_CONSTANT, 1, &rng), TG_OK);
    tg_tensor_free(z);
  }
}
END_TEST

/* ========================================================================= */

static Suite *nn_functional_suite(void) {
  Suite *s = suite_create("nn_functional");
  TCase *act = tcase_create("activations");
  tcase_set_timeout(act, 120);
  tcase_add_test(act, test_activation_values);
  tcase_add_test(act, test_activation_exact);
  tcase_add_test(act, test_activation_grads);
  tcase_add_test(act, test_activation_second_derivative_at_zero);
  tcase_add_test(act, test_activation_null_and_views);
  suite_add_tcase(s, act);
  TCase *loss = tcase_create("losses");
  tcase_set_timeout(loss, 120);
  tcase_add_test(loss, test_pair_loss_values);
  tcase_add_test(loss, test_pair_loss_grads);
  tcase_add_test(loss, test_pair_loss_kinks);
  tcase_add_test(loss, test_class_loss_values);
  tcase_add_test(loss, test_class_loss_grads);
  tcase_add_test(loss, test_loss_stability);
  tcase_add_test(loss, test_loss_errors);
  suite_add_tcase(s, loss);
  TCase *init = tcase_create("init");
  tcase_set_timeout(init, 120);
  tcase_add_test(init, test_init_reproducible);
  tcase_add_test(init, test_init_fans_2d);
  tcase_add_test(init, test_init_fans_conv);
  tcase_add_test(init, test_init_fans_1d);
  tcase_add_test(init, test_init_orthogonal);
  tcase_add_test(init, test_init_views);
  tcase_add_test(init, test_init_zeros_constant);
  tcase_add_test(init, test_init_errors);
  suite_add_tcase(s, init);
  return s;
}

int main(void) { return tgt_run_suite(nn_functional_suite()); }
