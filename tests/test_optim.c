/* Optimizers, gradient clipping and learning-rate schedules.
 *
 * Every optimizer is run for three steps on one small problem: a parameter
 * w = [1, -2] and the loss L = sum(c * w^2) with fixed c = [0.5, 3], so that
 * dL/dw = 2 c w. Each step builds the loss on a fresh tape from the
 * parameter, runs tg_backward, tg_optimizer_step and tg_optimizer_zero_grad.
 * After each step the parameter is compared with the value computed here
 * from the published update rule, written out in plain C on doubles
 * (tolerance 1e-12 in f64, 1e-6 in f32). The rules are PyTorch's
 * (torch.optim with dampening 0, amsgrad, centered and lr_decay off). */
#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "support.h"
#include "tapegrad.h"
#include "tapegrad/optim.h"

#ifndef M_PI
#define M_PI 3.14159265358979323846
#endif

enum { N = 2 };
static const double C[N] = {0.5, 3.0};
static const double W0[N] = {1.0, -2.0};
static const int64_t SHAPE[1] = {N};

/* --- helpers ------------------------------------------------------------ */

/* Writes doubles into a heap tensor of either dtype. */
static void set_values(tg_tensor *t, const double *v) {
  if (t->dtype == TG_F64) {
    ck_assert_int_eq(tg_copy_in(t, v), TG_OK);
    return;
  }
  float f[16];
  ck_assert_int_le(t->numel, 16);
  for (int64_t i = 0; i < t->numel; i++)
    f[i] = (float)v[i];
  ck_assert_int_eq(tg_copy_in(t, f), TG_OK);
}

/* L = sum(c * w * w) on a fresh tape, then backward (gradient 2 c w). */
static void backward_loss(tg_tape *tp, tg_tensor *w) {
  tg_tape_reset(tp);
  tg_tensor *c = tg_from_f64(tp, w->dtype, 1, SHAPE, C);
  tg_tensor *loss = tg_sum_all(tp, tg_mul(tp, c, tg_mul(tp, w, w)));
  ck_assert_msg(!tgt_failed(tp, loss, "loss"), "loss failed");
  ck_assert_int_eq(tg_backward(tp, loss), TG_OK);
}

/* Hyper-parameters, all explicit (defaults already filled in). */
typedef struct hyper {
  double lr, momentum, wd, beta1, beta2, eps, alpha;
  bool nesterov;
} hyper;

/* State of a reference optimizer for one parameter of N elements. */
typedef struct ref_state {
  double a[N], b[N];
  int t; /* steps taken */
} ref_state;

typedef void (*ref_fn)(const hyper *h, double *w, ref_state *s);

/* The gradient of L at w. */
static void ref_grad(const double *w, double *g) {
  for (int i = 0; i < N; i++)
    g[i] = 2.0 * C[i] * w[i];
}

/* SGD with momentum (Polyak's heavy ball; Nesterov as in Sutskever et al.
 * 2013), in PyTorch's form with dampening 0:
 *   g <- g + wd w
 *   b <- g at the first step, else momentum b + g
 *   d <- nesterov ? g + momentum b : b      (d = g without momentum)
 *   w <- w - lr d                                                        */
static void ref_sgd(const hyper *h, double *w, ref_state *s) {
  double g[N];
  ref_grad(w, g);
  s->t++;
  for (int i = 0; i < N; i++) {
    double gi = g[i] + h->wd * w[i], d = gi;
    if (h->momentum != 0.0) {
      s->a[i] = s->t == 1 ? gi : h->momentum * s->a[i] + gi;
      d = h->nesterov ? gi + h->momentum * s->a[i] : s->a[i];
    }
    w[i] = w[i] - h->lr * d;
  }
}

/* Adam, Kingma & Ba 2015, Algorithm 1 with PyTorch's eps placement (eps
 * added to sqrt of the bias-corrected v); L2 weight decay folded into g:
 *   g <- g + wd w
 *   m <- b1 m + (1 - b1) g;   v <- b2 v + (1 - b2) g^2
 *   w <- w - lr (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps)          */
static void ref_adam(const hyper *h, double *w, ref_state *s) {
  double g[N];
  ref_grad(w, g);
  s->t++;
  for (int i = 0; i < N; i++) {
    double gi = g[i] + h->wd * w[i];
    s->a[i] = h->beta1 * s->a[i] + (1.0 - h->beta1) * gi;
    s->b[i] = h->beta2 * s->b[i] + (1.0 - h->beta2) * gi * gi;
    double mhat = s->a[i] / (1.0 - pow(h->beta1, s->t));
    double vhat = s->b[i] / (1.0 - pow(h->beta2, s->t));
    w[i] = w[i] - h->lr * mhat / (sqrt(vhat) + h->eps);
  }
}

/* AdamW, Loshchilov & Hutter 2019 (decoupled weight decay), as PyTorch:
 * g is the gradient at the current w (no decay in it), then
 *   w <- w - lr wd w
 *   followed by the Adam step above with g.                             */
static void ref_adamw(const hyper *h, double *w, ref_state *s) {
  double g[N];
  ref_grad(w, g);
  s->t++;
  for (int i = 0; i < N; i++) {
    w[i] = w[i] - h->lr * h->wd * w[i];
    s->a[i] = h->beta1 * s->a[i] + (1.0 - h->beta1) * g[i];
    s->b[i] = h->beta2 * s->b[i] + (1.0 - h->beta2) * g[i] * g[i];
    double mhat = s->a[i] / (1.0 - pow(h->beta1, s->t));
    double vhat = s->b[i] / (1.0 - pow(h->beta2, s->t));
    w[i] = w[i] - h->lr * mhat / (sqrt(vhat) + h->eps);
  }
}

/* RMSprop, Hinton's lecture 6e, as PyTorch (not centred, no momentum):
 *   g <- g + wd w
 *   v <- alpha v + (1 - alpha) g^2
 *   w <- w - lr g / (sqrt(v) + eps)                                      */
static void ref_rmsprop(const hyper *h, double *w, ref_state *s) {
  double g[N];
  ref_grad(w, g);
  s->t++;
  for (int i = 0; i < N; i++) {
    double gi = g[i] + h->wd * w[i];
    s->a[i] = h->alpha * s->a[i] + (1.0 - h->alpha) * gi * gi;
    w[i] = w[i] - h->lr * gi / (sqrt(s->a[i]) + h->eps);
  }
}

/* Adagrad, Duchi, Hazan & Singer 2011 (diagonal form), as PyTorch with
 * lr_decay 0 and initial accumulator 0:
 *   g <- g + wd w
 *   s <- s + g^2
 *   w <- w - lr g / (sqrt(s) + eps)                                      */
static void ref_adagrad(const hyper *h, double *w, ref_state *s) {
  double g[N];
  ref_grad(w, g);
  s->t++;
  for (int i = 0; i < N; i++) {
    double gi = g[i] + h->wd * w[i];
    s->a[i] += gi * gi;
    w[i] = w[i] - h->lr * gi / (sqrt(s->a[i]) + h->eps);
  }
}

/* Constructors from a hyper (zeros passed through, to test defaults). */
typedef tg_optimizer *(*make_fn)(tg_params *ps, const hyper *h);

static tg_optimizer *make_sgd(tg_params *ps, const hyper *h) {
  tg_sgd_opts o = {.lr = h->lr,
                   .momentum = h->momentum,
                   .weight_decay = h->wd,
                   .nesterov = h->nesterov};
  return tg_sgd_new(ps, &o);
}

static tg_optimizer *make_adam(tg_params *ps, const hyper *h) {
  tg_adam_opts o = {h->lr, h->beta1, h->beta2, h->eps, h->wd};
  return tg_adam_new(ps, &o);
}

static tg_optimizer *make_adamw(tg_params *ps, const hyper *h) {
  tg_adam_opts o = {h->lr, h->beta1, h->beta2, h->eps, h->wd};
  return tg_adamw_new(ps, &o);
}

static tg_optimizer *make_rmsprop(tg_params *ps, const hyper *h) {
  tg_rmsprop_opts o = {h->lr, h->alpha, h->eps, h->wd};
  return tg_rmsprop_new(ps, &o);
}

static tg_optimizer *make_adagrad(tg_params *ps, const hyper *h) {
  tg_adagrad_opts o = {h->lr, h->eps, h->wd};
  return tg_adagrad_new(ps, &o);
}

/* Runs `steps` steps of the optimizer made by make(given) on w in dtype dt
 * and compares w after every step with the reference rule run with the
 * explicit hyper-parameters `rule`. */
static void run_case(tg_dtype dt, make_fn make, const hyper *given, ref_fn ref,
                     const hyper *rule, int steps, double tol) {
  tg_params *ps = tg_params_new();
  tg_tape *tp = tg_tape_new();
  ck_assert_ptr_nonnull(ps);
  ck_assert_ptr_nonnull(tp);
  tg_tensor *w = tg_param_new(ps, tp, "w", dt, 1, SHAPE);
  ck_assert_ptr_nonnull(w);
  set_values(w, W0);
  tg_optimizer *opt = make(ps, given);
  ck_assert_ptr_nonnull(opt);
  ck_assert_int_eq(tg_optimizer_steps(opt), 0);
  ck_assert_double_eq(tg_optimizer_lr(opt), rule->lr);

  double wr[N];
  memcpy(wr, W0, sizeof wr);
  ref_state rs;
  memset(&rs, 0, sizeof rs);
  for (int step = 1; step <= steps; step++) {
    backward_loss(tp, w);
    ck_assert_int_eq(tg_optimizer_step(opt), TG_OK);
    tg_optimizer_zero_grad(opt);
    ref(rule, wr, &rs);
    ck_assert_int_eq(tg_optimizer_steps(opt), step);
    for (int i = 0; i < N; i++) {
      double got = tg_get_flat(w, i);
      ck_assert_msg(fabs(got - wr[i]) <= tol,
                    "step %d, w[%d]: got %.17g, rule gives %.17g (diff %g)",
                    step, i, got, wr[i], fabs(got - wr[i]));
      ck_assert_double_eq(tg_get_flat(tg_grad_of(w), i), 0.0);
    }
  }
  /* The parameter moved: the comparison was not of w0 with itself. */
  ck_assert(wr[0] != W0[0] || wr[1] != W0[1]);
  tg_optimizer_free(opt);
  tg_tape_free(tp);
  tg_params_free(ps);
}

/* Three steps in f64 (1e-12) and in f32 (1e-6). */
static void check_rule(make_fn make, const hyper *given, ref_fn ref,
                       const hyper *rule) {
  run_case(TG_F64, make, given, ref, rule, 3, 1e-12);
  run_case(TG_F32, make, given, ref, rule, 3, 1e-6);
}

/* --- the rules ------------------------------------------------------------ */

START_TEST(test_sgd_plain) {
  hyper h = {.lr = 0.1};
  check_rule(make_sgd, &h, ref_sgd, &h);
}
END_TEST

START_TEST(test_sgd_momentum) {
  hyper h = {.lr = 0.1, .momentum = 0.9};
  check_rule(make_sgd, &h, ref_sgd, &h);
}
END_TEST

START_TEST(test_sgd_nesterov) {
  hyper h = {.lr = 0.05, .momentum = 0.8, .nesterov = true};
  check_rule(make_sgd, &h, ref_sgd, &h);
}
END_TEST

START_TEST(test_sgd_weight_decay) {
  hyper h = {.lr = 0.1, .wd = 0.3};
  check_rule(make_sgd, &h, ref_sgd, &h);
  hyper hm = {.lr = 0.1, .momentum = 0.5, .wd = 0.3};
  check_rule(make_sgd, &hm, ref_sgd, &hm);
}
END_TEST

START_TEST(test_adam) {
  hyper h = {.lr = 0.1, .beta1 = 0.8, .beta2 = 0.95, .eps = 1e-6};
  check_rule(make_adam, &h, ref_adam, &h);
}
END_TEST

START_TEST(test_adam_weight_decay) {
  hyper h = {.lr = 0.1, .beta1 = 0.8, .beta2 = 0.95, .eps = 1e-6, .wd = 0.5};
  check_rule(make_adam, &h, ref_adam, &h);
}
END_TEST

START_TEST(test_adamw) {
  hyper h = {.lr = 0.1, .beta1 = 0.8, .beta2 = 0.95, .eps = 1e-6, .wd = 0.5};
  check_rule(make_adamw, &h, ref_adamw, &h);
}
END_TEST

START_TEST(test_rmsprop) {
  hyper h = {.lr = 0.05, .alpha = 0.9, .eps = 1e-6};
  check_rule(make_rmsprop, &h, ref_rmsprop, &h);
  hyper hw = {.lr = 0.05, .alpha = 0.9, .eps = 1e-6, .wd = 0.2};
  check_rule(make_rmsprop, &hw, ref_rmsprop, &hw);
}
END_TEST

START_TEST(test_adagrad) {
  hyper h = {.lr = 0.3, .eps = 1e-6};
  check_rule(make_adagrad, &h, ref_adagrad, &h);
  hyper hw = {.lr = 0.3, .eps = 1e-6, .wd = 0.2};
  check_rule(make_adagrad, &hw, ref_adagrad, &hw);
}
END_TEST

/* Zero fields take the defaults stated in optim.h. */
START_TEST(test_defaults) {
  hyper zero = {0};
  hyper adam = {.lr = 1e-3, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8};
  check_rule(make_adam, &zero, ref_adam, &adam);
  hyper adamw = adam;
  adamw.wd = 1e-2;
  check_rule(make_adamw, &zero, ref_adamw, &adamw);
  hyper rms = {.lr = 1e-2, .alpha = 0.99, .eps = 1e-8};
  check_rule(make_rmsprop, &zero, ref_rmsprop, &rms);
  hyper ada = {.lr = 1e-2, .eps = 1e-10};
  check_rule(make_adagrad, &zero, ref_adagrad, &ada);
}
END_TEST

/* A long run: the state carries over correctly step after step, the step
 * counter counts, and the loss reaches its minimum at w = 0. */
START_TEST(test_many_steps) {
  hyper adam = {.lr = 0.01, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8};
  run_case(TG_F64, make_adam, &adam, ref_adam, &adam, 1000, 1e-10);
  hyper mom = {.lr = 0.05, .momentum = 0.9, .nesterov = true};
  run_case(TG_F64, make_sgd, &mom, ref_sgd, &mom, 1000, 1e-12);

  tg_params *ps = tg_params_new();
  tg_tape *tp = tg_tape_new();
  tg_tensor *w = tg_param_new(ps, tp, "w", TG_F32, 1, SHAPE);
  set_values(w, W0);
  tg_optimizer *opt = make_adam(ps, &adam);
  for (int step = 0; step < 1000; step++) {
    backward_loss(tp, w);
    ck_assert_int_eq(tg_optimizer_step(opt), TG_OK);
    tg_optimizer_zero_grad(opt);
  }
  ck_assert_int_eq(tg_optimizer_steps(opt), 1000);
  for (int i = 0; i < N; i++)
    ck_assert_double_lt(fabs(tg_get_flat(w, i)), 0.1);
  tg_optimizer_free(opt);
  tg_tape_free(tp);
  tg_params_free(ps);
}
END_TEST

/* set_lr changes the rate of the next steps; a negative rate is ignored. */
START_TEST(test_set_lr) {
  tg_params *ps = tg_params_new();
  tg_tape *tp = tg_tape_new();
  tg_tensor *w = tg_param_new(ps, tp, "w", TG_F64, 1, SHAPE);
  set_values(w, W0);
  tg_sgd_opts o = {.lr = 0.1};
  tg_optimizer *opt = tg_sgd_new(ps, &o);
  ck_assert_double_eq(tg_optimizer_lr(opt), 0.1);
  tg_optimizer_set_lr(opt, 0.25);
  ck_assert_double_eq(tg_optimizer_lr(opt), 0.25);
  tg_optimizer_set_lr(opt, -1.0);
  ck_assert_double_eq(tg_optimizer_lr(opt), 0.25);
  backward_loss(tp, w);
  ck_assert_int_eq(tg_optimizer_step(opt), TG_OK);
  for (int i = 0; i < N; i++)
    ck_assert_double_eq_tol(tg_get_flat(w, i),
                            W0[i] - 0.25 * 2.0 * C[i] * W0[i], 1e-15);
  tg_optimizer_free(opt);
  tg_tape_free(tp);
  tg_params_free(ps);
}
END_TEST

/* A parameter no backward reached keeps its value; when it is reached later
 * its first step is its own first step (PyTorch keeps the step count per
 * parameter): Adam's bias correction uses t = 1, SGD's momentum buffer
 * starts at g. */
START_TEST(test_no_grad_is_skipped) {
  static const double U0[N] = {5.0, -6.0};
  hyper adam = {.lr = 0.1, .beta1 = 0.8, .beta2 = 0.95, .eps = 1e-6};
  hyper mom = {.lr = 0.1, .momentum = 0.9};
  make_fn makes[2] = {make_adam, make_sgd};
  ref_fn refs[2] = {ref_adam, ref_sgd};
  const hyper *hs[2] = {&adam, &mom};
  for (int k = 0; k < 2; k++) {
    tg_params *ps = tg_params_new();
    tg_tape *tp = tg_tape_new();
    tg_tensor *w = tg_param_new(ps, tp, "w", TG_F64, 1, SHAPE);
    tg_tensor *u = tg_param_new(ps, tp, "u", TG_F64, 1, SHAPE);
    set_values(w, W0);
    set_values(u, U0);
    tg_optimizer *opt = makes[k](ps, hs[k]);
    ck_assert_ptr_nonnull(opt);
    for (int step = 0; step < 2; step++) {
      backward_loss(tp, w);
      ck_assert_int_eq(tg_optimizer_step(opt), TG_OK);
      tg_optimizer_zero_grad(opt);
    }
    ck_assert_ptr_null(tg_grad_of(u));
    ck_assert(tg_get_flat(w, 0) != W0[0]);
    for (int i = 0; i < N; i++)
      ck_assert_double_eq(tg_get_flat(u, i), U0[i]);

    /* Now u is reached, alone. */
    backward_loss(tp, u);
    ck_assert_int_eq(tg_optimizer_step(opt), TG_OK);
    double ur[N];
    memcpy(ur, U0, sizeof ur);
    ref_state rs;
    memset(&rs, 0, sizeof rs);
    refs[k](hs[k], ur, &rs);
    for (int i = 0; i < N; i++)
      ck_assert_double_eq_tol(tg_get_flat(u, i), ur[i], 1e-12);
    ck_assert_int_eq(tg_optimizer_steps(opt), 3);
    tg_optimizer_free(opt);
    tg_tape_free(tp);
    tg_params_free(ps);
  }
}
END_TEST

/* A buffer is never stepped, even when it has a gradient. */
START_TEST(test_buffers_are_never_updated) {
  static const double B0[N] = {0.75, -1.5};
  tg_params *ps = tg_params_new();
  tg_tape *tp = tg_tape_new();
  tg_tensor *w = tg_param_new(ps, tp, "w", TG_F64, 1, SHAPE);
  tg_tensor *buf = tg_buffer_new(ps, tp, "running_mean", TG_F64, 1, SHAPE);
  set_values(w, W0);
  set_values(buf, B0);
  tg_set_requires_grad(buf, true); /* forced, so that it does get one */
  tg_sgd_opts o = {.lr = 0.1, .momentum = 0.9};
  tg_adam_opts ao = {.lr = 0.1};
  tg_optimizer *opts[2] = {tg_sgd_new(ps, &o), tg_adam_new(ps, &ao)};
  for (int k = 0; k < 2; k++) {
    ck_assert_ptr_nonnull(opts[k]);
    for (int step = 0; step < 3; step++) {
      tg_tape_reset(tp);
      tg_tensor *loss =
          tg_sum_all(tp, tg_add(tp, tg_mul(tp, w, w), tg_mul(tp, buf, buf)));
      ck_assert_int_eq(tg_backward(tp, loss), TG_OK);
      ck_assert_ptr_nonnull(tg_grad_of(buf));
      ck_assert_int_eq(tg_optimizer_step(opts[k]), TG_OK);
      tg_optimizer_zero_grad(opts[k]);
    }
    for (int i = 0; i < N; i++)
      ck_assert_double_eq(tg_get_flat(buf, i), B0[i]);
    ck_assert(tg_get_flat(w, 0) != W0[0]);
    /* zero_grad leaves the buffer's gradient alone as well. */
    ck_assert_double_ne(tg_get_flat(tg_grad_of(buf), 0), 0.0);
    tg_optimizer_free(opts[k]);
  }
  tg_tape_free(tp);
  tg_params_free(ps);
}
END_TEST

/* Parameters of both dtypes and several shapes in one registry. */
START_TEST(test_mixed_dtypes_and_shapes) {
  tg_params *ps = tg_params_new();
  tg_tape *tp = tg_tape_new();
  int64_t s2[2] = {2, 3};
  tg_tensor *a = tg_param_new(ps, tp, "a", TG_F32, 2, s2);
  tg_tensor *b = tg_param_new(ps, tp, "b", TG_F64, 0, NULL);
  double av[6] = {1, 2, 3, -1, -2, -3}, bv[1] = {4};
  set_values(a, av);
  set_values(b, bv);
  tg_adagrad_opts o = {.lr = 0.5};
  tg_optimizer *opt = tg_adagrad_new(ps, &o);
  ck_assert_ptr_nonnull(opt);
  /* L = sum(a^2) + b^2: the first Adagrad step moves every element by
   * lr * sign(g) (up to eps), since g / sqrt(g^2) = sign(g). */
  /* No op mixes dtypes: one backward per dtype, on the same tape. */
  ck_assert_int_eq(tg_backward(tp, tg_sum_all(tp, tg_mul(tp, a, a))), TG_OK);
  ck_assert_int_eq(tg_backward(tp, tg_mul(tp, b, b)), TG_OK);
  ck_assert_int_eq(tg_optimizer_step(opt), TG_OK);
  for (int i = 0; i < 6; i++)
    ck_assert_double_eq_tol(tg_get_flat(a, i),
                            av[i] - 0.5 * (av[i] > 0 ? 1 : -1), 1e-6);
  ck_assert_double_eq_tol(tg_item(b), 3.5, 1e-9);
  tg_optimizer_free(opt);
  tg_tape_free(tp);
  tg_params_free(ps);
}
END_TEST

/* --- clipping ----------------------------------------------------------- */

/* A registry with gradients: a (f64) = [3, -4], b (f32) = [0, 12, 0]
 * (global norm 13), a parameter never reached (no gradient) and a buffer
 * given a gradient of 100 (not trainable, so left out of the norm). */
typedef struct clip_setup {
  tg_params *ps;
  tg_tape *tp;
  tg_tensor *a, *b, *unused, *buf;
} clip_setup;

static const double GA[2] = {3.0, -4.0}, GB[3] = {0.0, 12.0, 0.0};

static clip_setup clip_make(void) {
  clip_setup c;
  c.ps = tg_params_new();
  c.tp = tg_tape_new();
  int64_t s2[1] = {2}, s3[1] = {3};
  c.a = tg_param_new(c.ps, c.tp, "a", TG_F64, 1, s2);
  c.b = tg_param_new(c.ps, c.tp, "b", TG_F32, 1, s3);
  c.unused = tg_param_new(c.ps, c.tp, "unused", TG_F64, 1, s2);
  c.buf = tg_buffer_new(c.ps, c.tp, "buf", TG_F64, 0, NULL);
  tg_set_requires_grad(c.buf, true);
  /* L = <a, GA> + <b, GB> + 100 buf */
  tg_tape *tp = c.tp;
  tg_tensor *la =
      tg_sum_all(tp, tg_mul(tp, c.a, tg_from_f64(tp, TG_F64, 1, s2, GA)));
  tg_tensor *lb =
      tg_sum_all(tp, tg_mul(tp, c.b, tg_from_f64(tp, TG_F32, 1, s3, GB)));
  tg_tensor *lbuf = tg_mul_scalar(tp, c.buf, 100.0);
  /* No op mixes dtypes: one backward per dtype, on the same tape. */
  tg_tensor *loss64 = tg_add(tp, la, lbuf);
  ck_assert_msg(!tgt_failed(tp, loss64, "clip loss"), "clip loss failed");
  ck_assert_msg(!tgt_failed(tp, lb, "clip loss"), "clip loss failed");
  ck_assert_int_eq(tg_backward(tp, loss64), TG_OK);
  ck_assert_int_eq(tg_backward(tp, lb), TG_OK);
  ck_assert_ptr_null(tg_grad_of(c.unused));
  return c;
}

static void clip_free(clip_setup *c) {
  tg_tape_free(c->tp);
  tg_params_free(c->ps);
}

START_TEST(test_clip_grad_norm_scales) {
  clip_setup c = clip_make();
  double max_norm = 6.5;
  double norm = tg_clip_grad_norm(c.ps, max_norm);
  ck_assert_double_eq_tol(norm, 13.0, 1e-12);
  /* Every gradient is scaled by max_norm / (norm + 1e-6), as PyTorch. */
  double coef = max_norm / (13.0 + 1e-6), sum = 0.0;
  for (int i = 0; i < 2; i++) {
    double g = tg_get_flat(tg_grad_of(c.a), i);
    ck_assert_double_eq_tol(g, GA[i] * coef, 1e-12);
    sum += g * g;
  }
  for (int i = 0; i < 3; i++) {
    double g = tg_get_flat(tg_grad_of(c.b), i);
    ck_assert_double_eq_tol(g, GB[i] * coef, 1e-6);
    sum += g * g;
  }
  /* The new norm is max_norm, short by max_norm * 1e-6 / norm (the 1e-6
   * guard of the factor): 5e-7 here. */
  ck_assert_double_le(sqrt(sum), max_norm);
  ck_assert_double_eq_tol(sqrt(sum), max_norm * 13.0 / (13.0 + 1e-6), 1e-6);
  ck_assert_double_eq(tg_item(tg_grad_of(c.buf)), 100.0);
  ck_assert_ptr_null(tg_grad_of(c.unused));
  /* Clipping again finds the clipped norm, 5e-7 below max_norm, and (as
   * PyTorch, whose factor is clamped to 1 rather than tested against
   * norm > max_norm) still scales, by max_norm / (norm2 + 1e-6) < 1. */
  double norm2 = tg_clip_grad_norm(c.ps, max_norm);
  ck_assert_double_eq_tol(norm2, sqrt(sum), 1e-6);
  ck_assert_double_lt(norm2, max_norm);
  double coef2 = max_norm / (norm2 + 1e-6);
  ck_assert_double_lt(coef2, 1.0);
  ck_assert_double_eq_tol(tg_get_flat(tg_grad_of(c.a), 1), GA[1] * coef * coef2,
                          1e-12);
  /* A clip well above the norm leaves the gradients exactly as they are. */
  double before = tg_get_flat(tg_grad_of(c.a), 1);
  tg_clip_grad_norm(c.ps, 2.0 * max_norm);
  ck_assert_double_eq(tg_get_flat(tg_grad_of(c.a), 1), before);
  clip_free(&c);
}
END_TEST

START_TEST(test_clip_grad_norm_below_untouched) {
  clip_setup c = clip_make();
  ck_assert_double_eq_tol(tg_clip_grad_norm(c.ps, 20.0), 13.0, 1e-12);
  for (int i = 0; i < 2; i++)
    ck_assert_double_eq(tg_get_flat(tg_grad_of(c.a), i), GA[i]);
  for (int i = 0; i < 3; i++)
    ck_assert_double_eq(tg_get_flat(tg_grad_of(c.b), i), GB[i]);
  clip_free(&c);
  /* Without any gradient the norm is 0. */
  tg_params *ps = tg_params_new();
  tg_param_new(ps, NULL, "w", TG_F64, 1, SHAPE);
  ck_assert_double_eq(tg_clip_grad_norm(ps, 1.0), 0.0);
  tg_params_free(ps);
}
END_TEST

START_TEST(test_clip_grad_value) {
  clip_setup c = clip_make();
  tg_clip_grad_value(c.ps, 3.5);
  double ea[2] = {3.0, -3.5}, eb[3] = {0.0, 3.5, 0.0};
  for (int i = 0; i < 2; i++)
    ck_assert_double_eq(tg_get_flat(tg_grad_of(c.a), i), ea[i]);
  for (int i = 0; i < 3; i++)
    ck_assert_double_eq(tg_get_flat(tg_grad_of(c.b), i), eb[i]);
  ck_assert_double_eq(tg_item(tg_grad_of(c.buf)), 100.0);
  ck_assert_ptr_null(tg_grad_of(c.unused));
  clip_free(&c);
}
END_TEST

/* --- schedules ------------------------------------------------------------ */

START_TEST(test_schedules) {
  tg_schedule cst = {.kind = TG_SCHEDULE_CONSTANT, .lr0 = 0.1};
  int64_t ts[] = {0, 1, 2, 3, 5, 6, 7, 10, 100};
  for (size_t k = 0; k < sizeof ts / sizeof ts[0]; k++)
    ck_assert_double_eq(tg_schedule_lr(&cst, ts[k]), 0.1);

  /* lr0 * gamma^floor(t / step_size) */
  tg_schedule step = {
      .kind = TG_SCHEDULE_STEP, .lr0 = 0.1, .gamma = 0.5, .step_size = 3};
  double step_want[] = {
      0.1, 0.1, 0.1, 0.05, 0.05, 0.025, 0.025, 0.0125, 0.1 * pow(0.5, 33)};
  for (size_t k = 0; k < sizeof ts / sizeof ts[0]; k++)
    ck_assert_double_eq_tol(tg_schedule_lr(&step, ts[k]), step_want[k], 1e-15);

  /* lr0 * gamma^t */
  tg_schedule ex = {.kind = TG_SCHEDULE_EXPONENTIAL, .lr0 = 0.2, .gamma = 0.9};
  for (size_t k = 0; k < sizeof ts / sizeof ts[0]; k++) {
    double want = 0.2;
    for (int64_t j = 0; j < ts[k]; j++)
      want *= 0.9;
    ck_assert_double_eq_tol(tg_schedule_lr(&ex, ts[k]), want, 1e-15);
  }

  /* lr_min + (lr0 - lr_min)(1 + cos(pi t / T)) / 2, t clamped to T. */
  tg_schedule cos_s = {
      .kind = TG_SCHEDULE_COSINE, .lr0 = 0.1, .lr_min = 0.001, .t_max = 10};
  ck_assert_double_eq_tol(tg_schedule_lr(&cos_s, 0), 0.1, 1e-15);
  ck_assert_double_eq_tol(tg_schedule_lr(&cos_s, 5), (0.1 + 0.001) / 2, 1e-15);
  ck_assert_double_eq_tol(tg_schedule_lr(&cos_s, 10), 0.001, 1e-15);
  ck_assert_double_eq_tol(tg_schedule_lr(&cos_s, 15), 0.001, 1e-15);
  ck_assert_double_eq_tol(tg_schedule_lr(&cos_s, 1000), 0.001, 1e-15);
  for (int64_t t = 0; t <= 10; t++) {
    double want =
        0.001 + (0.1 - 0.001) * (1.0 + cos(M_PI * (double)t / 10.0)) / 2.0;
    ck_assert_double_eq_tol(tg_schedule_lr(&cos_s, t), want, 1e-15);
  }
  /* Monotonically non-increasing over the whole run. */
  for (int64_t t = 1; t <= 20; t++)
    ck_assert_double_le(tg_schedule_lr(&cos_s, t),
                        tg_schedule_lr(&cos_s, t - 1));

  /* Invalid schedules give NaN. */
  ck_assert(isnan(tg_schedule_lr(NULL, 0)));
  tg_schedule bad_step = {.kind = TG_SCHEDULE_STEP, .lr0 = 0.1, .gamma = 0.5};
  ck_assert(isnan(tg_schedule_lr(&bad_step, 3)));
  tg_schedule bad_cos = {.kind = TG_SCHEDULE_COSINE, .lr0 = 0.1};
  ck_assert(isnan(tg_schedule_lr(&bad_cos, 3)));
}
END_TEST

/* --- errors ------------------------------------------------------------- */

START_TEST(test_errors) {
  tg_params *ps = tg_params_new();
  tg_param_new(ps, NULL, "w", TG_F64, 1, SHAPE);
  tg_sgd_opts sgd = {.lr = 0.1};
  tg_adam_opts adam = {0};
  tg_rmsprop_opts rms = {0};
  tg_adagrad_opts ada = {0};

  /* NULL registry or options. */
  ck_assert_ptr_null(tg_sgd_new(NULL, &sgd));
  ck_assert_ptr_null(tg_adam_new(NULL, &adam));
  ck_assert_ptr_null(tg_adamw_new(NULL, &adam));
  ck_assert_ptr_null(tg_rmsprop_new(NULL, &rms));
  ck_assert_ptr_null(tg_adagrad_new(NULL, &ada));
  ck_assert_ptr_null(tg_sgd_new(ps, NULL));
  ck_assert_ptr_null(tg_adam_new(ps, NULL));
  ck_assert_ptr_null(tg_adamw_new(ps, NULL));
  ck_assert_ptr_null(tg_rmsprop_new(ps, NULL));
  ck_assert_ptr_null(tg_adagrad_new(ps, NULL));

  /* Negative learning rates. */
  tg_sgd_opts sgd_neg = {.lr = -0.1};
  tg_adam_opts adam_neg = {.lr = -0.1};
  tg_rmsprop_opts rms_neg = {.lr = -0.1};
  tg_adagrad_opts ada_neg = {.lr = -0.1};
  ck_assert_ptr_null(tg_sgd_new(ps, &sgd_neg));
  ck_assert_ptr_null(tg_adam_new(ps, &adam_neg));
  ck_assert_ptr_null(tg_adamw_new(ps, &adam_neg));
  ck_assert_ptr_null(tg_rmsprop_new(ps, &rms_neg));
  ck_assert_ptr_null(tg_adagrad_new(ps, &ada_neg));

  /* Other invalid hyper-parameters. */
  tg_sgd_opts sgd_nolr = {.momentum = 0.9};
  tg_sgd_opts sgd_mom = {.lr = 0.1, .momentum = -0.5};
  tg_sgd_opts sgd_wd = {.lr = 0.1, .weight_decay = -1e-4};
  tg_sgd_opts sgd_nest = {.lr = 0.1, .nesterov = true}; /* no momentum */
  tg_sgd_opts sgd_nan = {.lr = NAN};
  ck_assert_ptr_null(tg_sgd_new(ps, &sgd_nolr));
  ck_assert_ptr_null(tg_sgd_new(ps, &sgd_mom));
  ck_assert_ptr_null(tg_sgd_new(ps, &sgd_wd));
  ck_assert_ptr_null(tg_sgd_new(ps, &sgd_nest));
  ck_assert_ptr_null(tg_sgd_new(ps, &sgd_nan));
  tg_adam_opts adam_b1 = {.beta1 = 1.0}, adam_b2 = {.beta2 = -0.1},
               adam_eps = {.eps = -1e-8}, adam_wd = {.weight_decay = -0.1};
  ck_assert_ptr_null(tg_adam_new(ps, &adam_b1));
  ck_assert_ptr_null(tg_adam_new(ps, &adam_b2));
  ck_assert_ptr_null(tg_adam_new(ps, &adam_eps));
  ck_assert_ptr_null(tg_adamw_new(ps, &adam_wd));
  tg_rmsprop_opts rms_alpha = {.alpha = 1.5};
  ck_assert_ptr_null(tg_rmsprop_new(ps, &rms_alpha));
  tg_adagrad_opts ada_eps = {.eps = -1.0};
  ck_assert_ptr_null(tg_adagrad_new(ps, &ada_eps));

  /* NULL optimizer. */
  ck_assert_int_eq(tg_optimizer_step(NULL), TG_ERR_NULL);
  tg_optimizer_zero_grad(NULL);
  tg_optimizer_set_lr(NULL, 0.1);
  ck_assert(isnan(tg_optimizer_lr(NULL)));
  ck_assert_int_eq(tg_optimizer_steps(NULL), 0);
  tg_optimizer_free(NULL);
  ck_assert_double_eq(tg_clip_grad_norm(NULL, 1.0), 0.0);
  tg_clip_grad_value(NULL, 1.0);

  /* Before any backward: nothing to do, and that is not an error. */
  tg_optimizer *opt = tg_adam_new(ps, &adam);
  ck_assert_ptr_nonnull(opt);
  ck_assert_int_eq(tg_optimizer_step(opt), TG_OK);
  tg_optimizer_zero_grad(opt);
  tg_optimizer_free(opt);
  tg_params_free(ps);

  /* An empty registry gives an optimizer that does nothing. */
  tg_params *empty = tg_params_new();
  opt = tg_sgd_new(empty, &sgd);
  ck_assert_ptr_nonnull(opt);
  ck_assert_int_eq(tg_optimizer_step(opt), TG_OK);
  ck_assert_int_eq(tg_optimizer_steps(opt), 1);
  tg_optimizer_free(opt);
  tg_params_free(empty);
}
END_TEST

int main(void) {
  Suite *s = suite_create("optim");
  TCase *rules = tcase_create("rules");
  tcase_add_test(rules, test_sgd_plain);
  tcase_add_test(rules, test_sgd_momentum);
  tcase_add_test(rules, test_sgd_nesterov);
  tcase_add_test(rules, test_sgd_weight_decay);
  tcase_add_test(rules, test_adam);
  tcase_add_test(rules, test_adam_weight_decay);
  tcase_add_test(rules, test_adamw);
  tcase_add_test(rules, test_rmsprop);
  tcase_add_test(rules, test_adagrad);
  tcase_add_test(rules, test_defaults);
  tcase_add_test(rules, test_many_steps);
  tcase_add_test(rules, test_set_lr);
  tcase_add_test(rules, test_no_grad_is_skipped);
  tcase_add_test(rules, test_buffers_are_never_updated);
  tcase_add_test(rules, test_mixed_dtypes_and_shapes);
  suite_add_tcase(s, rules);
  TCase *clip = tcase_create("clip");
  tcase_add_test(clip, test_clip_grad_norm_scales);
  tcase_add_test(clip, test_clip_grad_norm_below_untouched);
  tcase_add_test(clip, test_clip_grad_value);
  suite_add_tcase(s, clip);
  TCase *sched = tcase_create("schedule");
  tcase_add_test(sched, test_schedules);
  tcase_add_test(sched, test_errors);
  suite_add_tcase(s, sched);
  return tgt_run_suite(s);
}
