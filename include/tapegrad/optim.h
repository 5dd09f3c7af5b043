/* tapegrad: optimizers, gradient clipping, learning-rate schedules.
 *
 * An optimizer updates the trainable parameters of a registry in place from
 * their accumulated gradients. Its state (momenta, moment estimates) is
 * allocated once, beside the parameters, when it is made: a step allocates
 * nothing. Parameters whose gradient was never computed are skipped. */
#ifndef TAPEGRAD_OPTIM_H
#define TAPEGRAD_OPTIM_H

#include "params.h"

typedef struct tg_optimizer tg_optimizer;

typedef struct tg_sgd_opts {
  double lr, momentum, weight_decay;
  bool nesterov;
} tg_sgd_opts;

typedef struct tg_adam_opts {
  double lr, beta1, beta2, eps, weight_decay; /* 0: defaults below */
} tg_adam_opts;

typedef struct tg_rmsprop_opts {
  double lr, alpha, eps, weight_decay;
} tg_rmsprop_opts;

typedef struct tg_adagrad_opts {
  double lr, eps, weight_decay;
} tg_adagrad_opts;

/* Update rules (PyTorch's; g includes weight_decay * p where it applies):
 * SGD:      b = momentum b + g (b = g at the first step); g = nesterov ?
 *           g + momentum b : b; p -= lr g
 * Adam:     m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2;
 *           p -= lr (m / (1-b1^t)) / (sqrt(v / (1-b2^t)) + eps)
 * AdamW:    as Adam with g free of decay, and p -= lr wd p first
 * RMSprop:  v = alpha v + (1-alpha) g^2; p -= lr g / (sqrt(v) + eps)
 * Adagrad:  s += g^2; p -= lr g / (sqrt(s) + eps)
 * Defaults for zero fields: Adam/AdamW lr 1e-3, betas 0.9/0.999, eps 1e-8
 * (AdamW weight_decay 1e-2); RMSprop lr 1e-2, alpha 0.99, eps 1e-8;
 * Adagrad lr 1e-2, eps 1e-10. SGD's lr must be given. */
tg_optimizer *tg_sgd_new(tg_params *ps, const tg_sgd_opts *opts);
tg_optimizer *tg_adam_new(tg_params *ps, const tg_adam_opts *opts);
tg_optimizer *tg_adamw_new(tg_params *ps, const tg_adam_opts *opts);
tg_optimizer *tg_rmsprop_new(tg_params *ps, const tg_rmsprop_opts *opts);
tg_optimizer *tg_adagrad_new(tg_params *ps, const tg_adagrad_opts *opts);
void tg_optimizer_free(tg_optimizer *opt);

/* One update of every trainable parameter that has a gradient. */
tg_status tg_optimizer_step(tg_optimizer *opt);
/* Zeroes the gradients of the optimizer's parameters. */
void tg_optimizer_zero_grad(tg_optimizer *opt);
double tg_optimizer_lr(const tg_optimizer *opt);
void tg_optimizer_set_lr(tg_optimizer *opt, double lr);
/* Steps taken so far. */
int64_t tg_optimizer_steps(const tg_optimizer *opt);

/* Scales all gradients so their global L2 norm is at most max_norm; returns
 * the norm before clipping. */
double tg_clip_grad_norm(tg_params *ps, double max_norm);
/* Clamps every gradient element to [-clip, clip]. */
void tg_clip_grad_value(tg_params *ps, double clip);

/* Learning-rate schedules: the rate for step (or epoch) t. */
typedef enum tg_schedule_kind {
  TG_SCHEDULE_CONSTANT,
  TG_SCHEDULE_STEP,        /* lr0 * gamma^floor(t / step_size) */
  TG_SCHEDULE_EXPONENTIAL, /* lr0 * gamma^t */
  TG_SCHEDULE_COSINE       /* lr_min + (lr0 - lr_min)(1 + cos(pi t/T))/2 */
} tg_schedule_kind;

typedef struct tg_schedule {
  tg_schedule_kind kind;
  double lr0, gamma, lr_min;
  int64_t step_size, t_max;
} tg_schedule;

double tg_schedule_lr(const tg_schedule *s, int64_t t);

#endif
