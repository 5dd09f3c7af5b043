/* Optimizers: SGD (momentum, Nesterov), Adam, AdamW, RMSprop, Adagrad.
 *
 * One struct serves every kind: a kind tag, the hyper-parameters, and one
 * slot per trainable parameter of the registry as it was when the optimizer
 * was made. A slot holds the parameter and its state buffers (momentum, or
 * the first and second moments, or the sum of squares), plain arrays of the
 * parameter's dtype allocated and zeroed once at creation, so a step
 * allocates nothing.
 *
 * Each update rule is written once, on doubles, for one element (update());
 * the loop over a parameter's elements loads f32 or f64 values into doubles,
 * applies the rule and stores them back, one loop per kind so that the
 * compiler can vectorise it. The rules follow PyTorch's
 * (torch.optim, foreach=False, dampening 0, amsgrad/centered off), including
 * its per-parameter state: a parameter's step count, which drives the bias
 * correction of Adam, and the "first step" that initialises SGD's momentum
 * buffer to g, advance only on the steps where that parameter has a
 * gradient. */
#include <math.h>
#include <string.h>

#include "../core/internal.h"
#include "../kernels/kernels.h"
#include "tapegrad/optim.h"

typedef enum opt_kind {
  OPT_SGD,
  OPT_ADAM,
  OPT_ADAMW,
  OPT_RMSPROP,
  OPT_ADAGRAD
} opt_kind;

typedef struct slot {
  tg_tensor *p;
  void *state;   /* n_state * p->numel elements of p's dtype, or NULL */
  int64_t steps; /* steps this parameter took (it had a gradient) */
} slot;

struct tg_optimizer {
  opt_kind kind;
  double lr, weight_decay;
  double momentum;          /* SGD */
  bool nesterov;            /* SGD */
  double beta1, beta2, eps; /* Adam, AdamW; eps also RMSprop, Adagrad */
  double alpha;             /* RMSprop */
  int n_state;              /* state values per parameter element: 0..2 */
  int64_t steps;
  int n_slots;
  slot *slots;
};

/* Constants of one parameter's step: the hyper-parameters copied out of
 * the optimizer, so that the element loop holds them in registers (stores
 * into an f64 parameter could otherwise alias them). */
typedef struct step_consts {
  double lr, wd, momentum, beta1, beta2, eps, alpha;
  bool nesterov;
  bool first;       /* this parameter's first step */
  double step_size; /* Adam: lr / (1 - beta1^t) */
  double sqrt_bc2;  /* Adam: sqrt(1 - beta2^t) */
} step_consts;

/* The update of one element: parameter *p, gradient g, state *a, *b. The
 * kind is a constant in each loop below, so the switch folds away and the
 * loops vectorise. */
static inline void update(opt_kind kind, const step_consts *c, double *p,
                          double g, double *a, double *b) {
  if (kind == OPT_ADAMW)
    *p *= 1.0 - c->lr * c->wd; /* decoupled decay: p -= lr wd p */
  else if (c->wd != 0.0)
    g += c->wd * *p;
  switch (kind) {
  case OPT_SGD:
    if (c->momentum != 0.0) {
      *a = c->first ? g : c->momentum * *a + g;
      g = c->nesterov ? g + c->momentum * *a : *a;
    }
    *p -= c->lr * g;
    break;
  case OPT_ADAM:
  case OPT_ADAMW:
    *a = c->beta1 * *a + (1.0 - c->beta1) * g;
    *b = c->beta2 * *b + (1.0 - c->beta2) * g * g;
    *p -= c->step_size * (*a / (sqrt(*b) / c->sqrt_bc2 + c->eps));
    break;
  case OPT_RMSPROP:
    *a = c->alpha * *a + (1.0 - c->alpha) * g * g;
    *p -= c->lr * g / (sqrt(*a) + c->eps);
    break;
  case OPT_ADAGRAD:
    *a += g * g;
    *p -= c->lr * g / (sqrt(*a) + c->eps);
    break;
  }
}

/* Applies update() to every element of a parameter of element type T, for
 * one kind; state buffers are touched only when the kind has them. */
#define STEP_LOOP(T, KIND, NSTATE)                                             \
  do {                                                                         \
    T *restrict p_ = s->p->data;                                               \
    const T *restrict g_ = g->data;                                            \
    T *restrict a_ = (T *)s->state;                                            \
    T *restrict b_ = NSTATE >= 2 ? a_ + n : NULL;                              \
    if (KIND == OPT_SGD && c->momentum == 0.0) {                               \
      for (int64_t i = lo; i < hi; i++) {                                      \
        double pv = p_[i], av = 0, bv = 0;                                     \
        update(KIND, c, &pv, g_[i], &av, &bv);                                 \
        p_[i] = (T)pv;                                                         \
      }                                                                        \
      break;                                                                   \
    }                                                                          \
    for (int64_t i = lo; i < hi; i++) {                                        \
      double pv = p_[i], av = a_[i], bv = NSTATE >= 2 ? b_[i] : 0.0;           \
      update(KIND, c, &pv, g_[i], &av, &bv);                                   \
      p_[i] = (T)pv;                                                           \
      a_[i] = (T)av;                                                           \
      if (NSTATE >= 2) b_[i] = (T)bv;                                          \
    }                                                                          \
  } while (0)

#define STEP_KINDS(T)                                                          \
  switch (o->kind) {                                                           \
  case OPT_SGD: STEP_LOOP(T, OPT_SGD, 1); break;                               \
  case OPT_ADAM: STEP_LOOP(T, OPT_ADAM, 2); break;                             \
  case OPT_ADAMW: STEP_LOOP(T, OPT_ADAMW, 2); break;                           \
  case OPT_RMSPROP: STEP_LOOP(T, OPT_RMSPROP, 1); break;                       \
  case OPT_ADAGRAD: STEP_LOOP(T, OPT_ADAGRAD, 1); break;                       \
  }

typedef struct step_job {
  const tg_optimizer *o;
  const slot *s;
  const tg_tensor *g;
  step_consts c;
} step_job;

/* The update of elements [lo, hi) of one parameter (each element on its
 * own, so ranges can be shared out over threads). */
static void step_range(void *ctx, int64_t lo, int64_t hi) {
  const step_job *j = ctx;
  const tg_optimizer *o = j->o;
  const slot *s = j->s;
  const tg_tensor *g = j->g;
  const step_consts *c = &j->c;
  int64_t n = s->p->numel;
  if (s->p->dtype == TG_F32) {
    STEP_KINDS(float)
  } else {
    STEP_KINDS(double)
  }
}

static void step_slot(const tg_optimizer *o, slot *s, const tg_tensor *g) {
  s->steps++;
  step_consts c = {.lr = o->lr,
                   .wd = o->weight_decay,
                   .momentum = o->momentum,
                   .beta1 = o->beta1,
                   .beta2 = o->beta2,
                   .eps = o->eps,
                   .alpha = o->alpha,
                   .nesterov = o->nesterov,
                   .first = s->steps == 1};
  if (o->kind == OPT_ADAM || o->kind == OPT_ADAMW) {
    double t = (double)s->steps;
    c.step_size = o->lr / (1.0 - pow(o->beta1, t));
    c.sqrt_bc2 = sqrt(1.0 - pow(o->beta2, t));
  }
  step_job j = {o, s, g, c};
  tg_k_parallel_for(s->p->numel, 1 << 15, step_range, &j);
}

/* --- creation ------------------------------------------------------------ */

static bool nonneg(double x) { return x >= 0.0; } /* false for NaN too */
static bool unit(double x) { return x >= 0.0 && x < 1.0; }
static double or_default(double x, double dflt) { return x == 0.0 ? dflt : x; }

/* Makes the optimizer's slots for the registry's trainable parameters, with
 * o->n_state zeroed state values per element. Frees o and returns NULL on
 * failure. */
static tg_optimizer *finish(tg_optimizer *o, tg_params *ps) {
  int n = tg_params_count(ps), k = 0;
  for (int i = 0; i < n; i++)
    k += tg_params_trainable(ps, i);
  o->slots = tg__malloc(sizeof(slot) * (size_t)(k ? k : 1));
  if (!o->slots) {
    tg__free(o);
    return NULL;
  }
  memset(o->slots, 0, sizeof(slot) * (size_t)(k ? k : 1));
  for (int i = 0; i < n; i++) {
    if (!tg_params_trainable(ps, i)) continue;
    slot *s = &o->slots[o->n_slots++];
    s->p = tg_params_at(ps, i);
    if (o->n_state == 0) continue;
    size_t bytes =
        (size_t)o->n_state * (size_t)s->p->numel * tg_dtype_size(s->p->dtype);
    s->state = tg__malloc(bytes);
    if (!s->state) {
      tg_optimizer_free(o);
      return NULL;
    }
    memset(s->state, 0, bytes);
  }
  return o;
}

static tg_optimizer *make(opt_kind kind) {
  tg_optimizer *o = tg__malloc(sizeof *o);
  if (o) {
    memset(o, 0, sizeof *o);
    o->kind = kind;
  }
  return o;
}

tg_optimizer *tg_sgd_new(tg_params *ps, const tg_sgd_opts *opts) {
  if (!ps || !opts) return NULL;
  /* lr has no default: it must be given (and be positive). Nesterov needs a
   * momentum, as in PyTorch. */
  if (!(opts->lr > 0.0) || !nonneg(opts->momentum) ||
      !nonneg(opts->weight_decay) || (opts->nesterov && opts->momentum == 0.0))
    return NULL;
  tg_optimizer *o = make(OPT_SGD);
  if (!o) return NULL;
  o->lr = opts->lr;
  o->momentum = opts->momentum;
  o->weight_decay = opts->weight_decay;
  o->nesterov = opts->nesterov;
  o->n_state = opts->momentum != 0.0;
  return finish(o, ps);
}

static tg_optimizer *adam_new(opt_kind kind, tg_params *ps,
                              const tg_adam_opts *opts) {
  if (!ps || !opts) return NULL;
  double wd_default = kind == OPT_ADAMW ? 1e-2 : 0.0;
  double lr = or_default(opts->lr, 1e-3);
  double beta1 = or_default(opts->beta1, 0.9);
  double beta2 = or_default(opts->beta2, 0.999);
  double eps = or_default(opts->eps, 1e-8);
  double wd = or_default(opts->weight_decay, wd_default);
  if (!nonneg(lr) || !unit(beta1) || !unit(beta2) || !nonneg(eps) ||
      !nonneg(wd))
    return NULL;
  tg_optimizer *o = make(kind);
  if (!o) return NULL;
  o->lr = lr;
  o->beta1 = beta1;
  o->beta2 = beta2;
  o->eps = eps;
  o->weight_decay = wd;
  o->n_state = 2;
  return finish(o, ps);
}

tg_optimizer *tg_adam_new(tg_params *ps, const tg_adam_opts *opts) {
  return adam_new(OPT_ADAM, ps, opts);
}

tg_optimizer *tg_adamw_new(tg_params *ps, const tg_adam_opts *opts) {
  return adam_new(OPT_ADAMW, ps, opts);
}

tg_optimizer *tg_rmsprop_new(tg_params *ps, const tg_rmsprop_opts *opts) {
  if (!ps || !opts) return NULL;
  double lr = or_default(opts->lr, 1e-2);
  double alpha = or_default(opts->alpha, 0.99);
  double eps = or_default(opts->eps, 1e-8);
  double wd = opts->weight_decay;
  if (!nonneg(lr) || !unit(alpha) || !nonneg(eps) || !nonneg(wd)) return NULL;
  tg_optimizer *o = make(OPT_RMSPROP);
  if (!o) return NULL;
  o->lr = lr;
  o->alpha = alpha;
  o->eps = eps;
  o->weight_decay = wd;
  o->n_state = 1;
  return finish(o, ps);
}

tg_optimizer *tg_adagrad_new(tg_params *ps, const tg_adagrad_opts *opts) {
  if (!ps || !opts) return NULL;
  double lr = or_default(opts->lr, 1e-2);
  double eps = or_default(opts->eps, 1e-10);
  double wd = opts->weight_decay;
  if (!nonneg(lr) || !nonneg(eps) || !nonneg(wd)) return NULL;
  tg_optimizer *o = make(OPT_ADAGRAD);
  if (!o) return NULL;
  o->lr = lr;
  o->eps = eps;
  o->weight_decay = wd;
  o->n_state = 1;
  return finish(o, ps);
}

void tg_optimizer_free(tg_optimizer *opt) {
  if (!opt) return;
  for (int i = 0; i < opt->n_slots; i++)
    tg__free(opt->slots[i].state);
  tg__free(opt->slots);
  tg__free(opt);
}

/* --- use ----------------------------------------------------------------- */

tg_status tg_optimizer_step(tg_optimizer *opt) {
  if (!opt) return TG_ERR_NULL;
  /* Gradients made by backward are contiguous heap tensors like their
   * parameters; anything else is refused before any parameter changes. */
  for (int i = 0; i < opt->n_slots; i++) {
    const tg_tensor *p = opt->slots[i].p, *g = tg_grad_of(p);
    if (g &&
        (g->dtype != p->dtype || g->numel != p->numel || !tg_is_contiguous(g)))
      return TG_ERR_STATE;
  }
  for (int i = 0; i < opt->n_slots; i++) {
    const tg_tensor *g = tg_grad_of(opt->slots[i].p);
    if (!g) continue; /* never reached by backward */
    step_slot(opt, &opt->slots[i], g);
    tg_tensor_touch(opt->slots[i].p); /* a tape that saved it is stale */
  }
  opt->steps++;
  return TG_OK;
}

void tg_optimizer_zero_grad(tg_optimizer *opt) {
  for (int i = 0; opt && i < opt->n_slots; i++)
    tg_zero_grad(opt->slots[i].p);
}

double tg_optimizer_lr(const tg_optimizer *opt) { return opt ? opt->lr : NAN; }

/* A negative or NaN rate is ignored (the rate stays as it was). */
void tg_optimizer_set_lr(tg_optimizer *opt, double lr) {
  if (opt && nonneg(lr)) opt->lr = lr;
}

int64_t tg_optimizer_steps(const tg_optimizer *opt) {
  return opt ? opt->steps : 0;
}
