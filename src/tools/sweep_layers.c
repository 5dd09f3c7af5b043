/* Sweep entries for layers, composed activations and losses.
 *
 * A sweep entry is a function of its input tensors, and a layer holds its
 * own parameters, so:
 *   - dense, layer norm and batch norm (training-mode statistics) are
 *     written here with the same primitive ops as the layers, on inputs
 *     (x, weight, bias): all three are checked;
 *   - recurrent layers run through tg_recurrent_forward itself, checked with
 *     respect to x, h0 (and c0); their parameters' gradients are checked in
 *     tests/test_layers.c;
 *   - embedding is checked with respect to its table (tg_index_select);
 *   - dropout runs through the layer, in evaluation (identity) and in
 *     training with the tape reseeded in apply (a fixed mask);
 *   - losses are checked with respect to predictions, logits or
 *     log-probabilities; targets and labels are constants drawn from the
 *     case's seed. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "sweep.h"

static void append(sweep_case *c, const char *fmt, ...) {
  size_t len = strlen(c->desc);
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(c->desc + len, sizeof c->desc - len, fmt, ap);
  va_end(ap);
}

/* A constant of uniform values in [lo, hi) from a seed. */
static tg_tensor *const_uniform(tg_tape *tp, uint64_t seed, int ndim,
                                const int64_t *shape, double lo, double hi) {
  tg_tensor *t = tg_empty(tp, TG_F64, ndim, shape);
  if (!t) return NULL;
  tg_rng rng;
  tg_rng_seed(&rng, seed);
  tg_fill_uniform(t, &rng, lo, hi);
  return t;
}

/* --- dense ---------------------------------------------------------------- */

/* x [N, in] or [B, N, in], weight [out, in], bias [out] */
static void dense_case(tg_rng *rng, sweep_case *c) {
  memset(c, 0, sizeof *c);
  c->n_inputs = 3;
  int64_t in = sweep_int(rng, 1, 4), out = sweep_int(rng, 1, 4);
  c->ndim[0] = (int)sweep_int(rng, 2, 3);
  for (int d = 0; d < c->ndim[0] - 1; d++)
    c->shape[0][d] = sweep_int(rng, 1, 3);
  c->shape[0][c->ndim[0] - 1] = in;
  c->ndim[1] = 2;
  c->shape[1][0] = out;
  c->shape[1][1] = in;
  c->ndim[2] = 1;
  c->shape[2][0] = out;
  sweep_describe(c);
}

/* y = x W^T + b, as the dense layer */
static tg_tensor *apply_dense(tg_tape *tp, tg_tensor *const *in,
                              const sweep_case *c) {
  (void)c;
  tg_tensor *y = tg_matmul(tp, in[0], tg_transpose(tp, in[1], 0, 1));
  return tg_add(tp, y, in[2]);
}

/* --- layer norm and batch norm (training-mode statistics) ----------------- */

/* (x - mean) / sqrt(var + eps) * weight + bias, with the statistics over
 * the axes listed (biased variance), as the norm layers. The weight and
 * bias are reshaped to pshape (pnd axes) to broadcast. */
static tg_tensor *norm(tg_tape *tp, tg_tensor *x, tg_tensor *w, tg_tensor *b,
                       int n_axes, const int *axes, int pnd,
                       const int64_t *pshape, double eps) {
  tg_tensor *mean = tg_mean(tp, x, n_axes, axes, true);
  tg_tensor *centred = tg_sub(tp, x, mean);
  tg_tensor *var =
      tg_mean(tp, tg_mul(tp, centred, centred), n_axes, axes, true);
  tg_tensor *inv_std = tg_pow_scalar(tp, tg_add_scalar(tp, var, eps), -0.5);
  tg_tensor *y = tg_mul(tp, centred, inv_std);
  return tg_add(tp, tg_mul(tp, y, tg_reshape(tp, w, pnd, pshape)),
                tg_reshape(tp, b, pnd, pshape));
}

/* x [lead..., norm...]; weight and bias [norm...] (1 or 2 axes of 2..4:
 * at least 2 values per row, so the variance is not identically 0) */
static void layer_norm_case(tg_rng *rng, sweep_case *c) {
  memset(c, 0, sizeof *c);
  c->n_inputs = 3;
  int lead = (int)sweep_int(rng, 1, 2);
  c->n_axes = (int)sweep_int(rng, 1, 2);
  c->ndim[0] = lead + c->n_axes;
  for (int d = 0; d < lead; d++)
    c->shape[0][d] = sweep_int(rng, 1, 3);
  for (int d = 0; d < c->n_axes; d++) {
    int64_t side = sweep_int(rng, 2, 4);
    c->shape[0][lead + d] = c->shape[1][d] = c->shape[2][d] = side;
    c->axes[d] = lead + d;
  }
  c->ndim[1] = c->ndim[2] = c->n_axes;
  c->scalar = 1e-5;
  sweep_describe(c);
  append(c, " over %d axes", c->n_axes);
}

static tg_tensor *apply_layer_norm(tg_tape *tp, tg_tensor *const *in,
                                   const sweep_case *c) {
  return norm(tp, in[0], in[1], in[2], c->n_axes, c->axes, c->n_axes,
              in[1]->shape, c->scalar);
}

/* x [N, C], [N, C, L] or [N, C, H, W] with N >= 2; weight, bias [C] */
static void batch_norm_case(tg_rng *rng, sweep_case *c, bool two_d) {
  memset(c, 0, sizeof *c);
  c->n_inputs = 3;
  c->ndim[0] = two_d ? 4 : (int)sweep_int(rng, 2, 3);
  c->shape[0][0] = sweep_int(rng, 2, 3);
  c->shape[0][1] = sweep_int(rng, 1, 3);
  for (int d = 2; d < c->ndim[0]; d++)
    c->shape[0][d] = sweep_int(rng, 1, 3);
  c->ndim[1] = c->ndim[2] = 1;
  c->shape[1][0] = c->shape[2][0] = c->shape[0][1];
  for (int d = 0; d < c->ndim[0]; d++)
    if (d != 1) c->axes[c->n_axes++] = d;
  c->scalar = 1e-5;
  sweep_describe(c);
}
static void batch_norm1d_case(tg_rng *rng, sweep_case *c) {
  batch_norm_case(rng, c, false);
}
static void batch_norm2d_case(tg_rng *rng, sweep_case *c) {
  batch_norm_case(rng, c, true);
}

static tg_tensor *apply_batch_norm(tg_tape *tp, tg_tensor *const *in,
                                   const sweep_case *c) {
  int64_t pshape[3] = {in[0]->shape[1], 1, 1};
  return norm(tp, in[0], in[1], in[2], c->n_axes, c->axes, in[0]->ndim - 1,
              pshape, c->scalar);
}

/* --- recurrent layers ----------------------------------------------------- */

enum { REC_IN = 2, REC_HID = 3 };

/* One layer per kind (0 rnn, 1 lstm, 2 gru), made on first use with
 * parameters drawn from a fixed seed (biases too, so that no term is 0).
 * The registry is deliberately never freed: the gradcheck tapes use the
 * parameters after apply returns, and the tool exits when done. */
static tg_layer *recurrent_layer(int kind) {
  static tg_params *ps;
  static tg_layer *layers[3];
  if (layers[kind]) return layers[kind];
  if (!ps && !(ps = tg_params_new())) return NULL;
  static const char *const names[3] = {"rnn", "lstm", "gru"};
  tg_rng rng;
  tg_rng_seed(&rng, 2024 + (uint64_t)kind);
  tg_layer *l =
      kind == 0 ? tg_rnn_new(ps, NULL, names[0], REC_IN, REC_HID, TG_F64, &rng)
      : kind == 1
          ? tg_lstm_new(ps, NULL, names[1], REC_IN, REC_HID, TG_F64, &rng)
          : tg_gru_new(ps, NULL, names[2], REC_IN, REC_HID, TG_F64, &rng);
  if (!l) return NULL;
  for (int i = 0; i < tg_layer_param_count(l); i++)
    tg_fill_uniform(tg_layer_param(l, i), &rng, -0.7, 0.7);
  return layers[kind] = l;
}

/* x [B, T, in], h0 [B, hidden] (and c0 for LSTM); the kind in axes[0] */
static void recurrent_case(tg_rng *rng, sweep_case *c, int kind) {
  memset(c, 0, sizeof *c);
  c->axes[0] = kind;
  c->n_inputs = kind == 1 ? 3 : 2;
  int64_t b = sweep_int(rng, 1, 2);
  c->ndim[0] = 3;
  c->shape[0][0] = b;
  c->shape[0][1] = sweep_int(rng, 1, 4);
  c->shape[0][2] = REC_IN;
  for (int i = 1; i < c->n_inputs; i++) {
    c->ndim[i] = 2;
    c->shape[i][0] = b;
    c->shape[i][1] = REC_HID;
  }
  sweep_describe(c);
}
static void rnn_case(tg_rng *rng, sweep_case *c) { recurrent_case(rng, c, 0); }
static void lstm_case(tg_rng *rng, sweep_case *c) { recurrent_case(rng, c, 1); }
static void gru_case(tg_rng *rng, sweep_case *c) { recurrent_case(rng, c, 2); }

/* All hidden states, then h_n (and c_n), flattened and joined. */
static tg_tensor *apply_recurrent(tg_tape *tp, tg_tensor *const *in,
                                  const sweep_case *c) {
  tg_layer *l = recurrent_layer(c->axes[0]);
  if (!l) return NULL;
  bool lstm = c->axes[0] == 1;
  tg_tensor *h_n = NULL, *c_n = NULL;
  tg_tensor *all = tg_recurrent_forward(tp, l, in[0], in[1],
                                        lstm ? in[2] : NULL, &h_n, &c_n);
  if (!all) return NULL;
  int64_t flat[1] = {-1};
  tg_tensor *parts[3] = {tg_reshape(tp, all, 1, flat),
                         tg_reshape(tp, h_n, 1, flat),
                         lstm ? tg_reshape(tp, c_n, 1, flat) : NULL};
  return tg_concat(tp, lstm ? 3 : 2, parts, 0);
}

/* --- embedding ------------------------------------------------------------ */

/* weight [vocab, dim]; indices of 1 or 2 axes (in target) from the seed */
static void embedding_case(tg_rng *rng, sweep_case *c) {
  memset(c, 0, sizeof *c);
  c->n_inputs = 1;
  c->ndim[0] = 2;
  c->shape[0][0] = sweep_int(rng, 1, 5);
  c->shape[0][1] = sweep_int(rng, 1, 3);
  c->target_ndim = (int)sweep_int(rng, 1, 2);
  for (int d = 0; d < c->target_ndim; d++)
    c->target[d] = sweep_int(rng, 1, 4);
  c->seed = tg_rng_u64(rng);
  sweep_describe(c);
  append(c, " indices [%lld%s", (long long)c->target[0],
         c->target_ndim == 2 ? "x" : "]");
  if (c->target_ndim == 2) append(c, "%lld]", (long long)c->target[1]);
}

/* weight[indices] -> [indices..., dim], as the embedding layer (indices
 * repeat, so rows of the table's gradient add up) */
static tg_tensor *apply_embedding(tg_tape *tp, tg_tensor *const *in,
                                  const sweep_case *c) {
  tg_tensor *idx = sweep_whole_numbers(tp, c->seed, c->target_ndim, c->target,
                                       in[0]->shape[0]);
  if (!idx) return NULL;
  int64_t flat[1] = {idx->numel}, shape[3] = {c->target[0], c->target[1], 0};
  shape[c->target_ndim] = in[0]->shape[1];
  tg_tensor *rows = tg_index_select(tp, in[0], 0, tg_reshape(tp, idx, 1, flat));
  return tg_reshape(tp, rows, c->target_ndim + 1, shape);
}

/* --- dropout -------------------------------------------------------------- */

static void one_input_case(tg_rng *rng, sweep_case *c) {
  memset(c, 0, sizeof *c);
  c->n_inputs = 1;
  sweep_random_shape(rng, &c->ndim[0], c->shape[0], 1);
  c->seed = tg_rng_u64(rng);
  sweep_describe(c);
}

/* Two layer objects made on first use (no parameters, never freed). */
static tg_layer *dropout_layer(bool training) {
  static tg_layer *layers[2];
  if (!layers[training]) {
    layers[training] =
        tg_dropout_new(training ? "dropout_train" : "dropout", 0.5);
    if (layers[training]) tg_layer_set_training(layers[training], training);
  }
  return layers[training];
}

/* evaluation: the identity */
static tg_tensor *apply_dropout_eval(tg_tape *tp, tg_tensor *const *in,
                                     const sweep_case *c) {
  (void)c;
  return tg_layer_forward(tp, dropout_layer(false), in[0]);
}

/* training: the tape reseeded first, so every evaluation draws the same
 * mask and the function is x * mask / (1 - p) */
static tg_tensor *apply_dropout_train(tg_tape *tp, tg_tensor *const *in,
                                      const sweep_case *c) {
  tg_tape_seed(tp, c->seed);
  return tg_layer_forward(tp, dropout_layer(true), in[0]);
}

/* --- composed activations ------------------------------------------------- */

/* the parameter (slope, alpha) in scalar */
static void act_case(tg_rng *rng, sweep_case *c) {
  one_input_case(rng, c);
  c->scalar = 0.01 + 1.49 * tg_rng_uniform(rng);
  append(c, " a=%.3f", c->scalar);
}

static tg_tensor *apply_leaky_relu(tg_tape *tp, tg_tensor *const *in,
                                   const sweep_case *c) {
  return tg_leaky_relu(tp, in[0], c->scalar);
}
static tg_tensor *apply_elu(tg_tape *tp, tg_tensor *const *in,
                            const sweep_case *c) {
  return tg_elu(tp, in[0], c->scalar);
}
static tg_tensor *apply_gelu(tg_tape *tp, tg_tensor *const *in,
                             const sweep_case *c) {
  (void)c;
  return tg_gelu(tp, in[0]);
}
static tg_tensor *apply_softplus(tg_tape *tp, tg_tensor *const *in,
                                 const sweep_case *c) {
  (void)c;
  return tg_softplus(tp, in[0]);
}

/* --- losses --------------------------------------------------------------- */

/* a shape for element-wise losses; the reduction (mean, sum) in axes[0] */
static void pair_case(tg_rng *rng, sweep_case *c, int n_inputs) {
  memset(c, 0, sizeof *c);
  c->n_inputs = n_inputs;
  sweep_random_shape(rng, &c->ndim[0], c->shape[0], 1);
  for (int i = 1; i < n_inputs; i++) {
    c->ndim[i] = c->ndim[0];
    memcpy(c->shape[i], c->shape[0], sizeof c->shape[0]);
  }
  c->axes[0] = (int)sweep_int(rng, 0, 1);
  c->seed = tg_rng_u64(rng);
  c->scalar = 0.8 + 0.4 * tg_rng_uniform(rng); /* huber's delta */
  sweep_describe(c);
  append(c, c->axes[0] ? " sum" : " mean");
}
static void two_inputs_case(tg_rng *rng, sweep_case *c) {
  pair_case(rng, c, 2);
}
static void one_pred_case(tg_rng *rng, sweep_case *c) { pair_case(rng, c, 1); }

static tg_reduction red_of(const sweep_case *c) {
  return c->axes[0] ? TG_REDUCE_SUM : TG_REDUCE_MEAN;
}

/* mse(pred, target), both checked */
static tg_tensor *apply_mse(tg_tape *tp, tg_tensor *const *in,
                            const sweep_case *c) {
  return tg_mse_loss(tp, in[0], in[1], red_of(c));
}

/* l1(t + d, t) with d the input (kept away from 0, the kink) and t a
 * constant */
static tg_tensor *apply_l1(tg_tape *tp, tg_tensor *const *in,
                           const sweep_case *c) {
  tg_tensor *t = const_uniform(tp, c->seed, in[0]->ndim, in[0]->shape, -1, 1);
  return tg_l1_loss(tp, tg_add(tp, t, in[0]), t, red_of(c));
}

/* huber(t + s d, t) with |d| in [0.5, 0.9] and s alternately 0.4 (the
 * quadratic part, |s d| <= 0.36) and 3 (the linear part, |s d| >= 1.5),
 * away from delta in [0.8, 1.2] where the two meet */
static tg_tensor *apply_huber(tg_tape *tp, tg_tensor *const *in,
                              const sweep_case *c) {
  tg_tensor *t = const_uniform(tp, c->seed, in[0]->ndim, in[0]->shape, -1, 1);
  tg_tensor *s = tg_empty(tp, TG_F64, in[0]->ndim, in[0]->shape);
  if (!t || !s) return NULL;
  for (int64_t i = 0; i < s->numel; i++)
    ((double *)s->data)[i] = i % 2 ? 3.0 : 0.4;
  tg_tensor *pred = tg_add(tp, t, tg_mul(tp, s, in[0]));
  return tg_huber_loss(tp, pred, t, c->scalar, red_of(c));
}

/* bce_with_logits(x, t) with targets t in [0, 1] */
static tg_tensor *apply_bce(tg_tape *tp, tg_tensor *const *in,
                            const sweep_case *c) {
  tg_tensor *t = const_uniform(tp, c->seed, in[0]->ndim, in[0]->shape, 0, 1);
  return tg_bce_with_logits(tp, in[0], t, red_of(c));
}

/* logits (or log-probabilities) [N, C]; labels [N] from the seed */
static void class_case(tg_rng *rng, sweep_case *c) {
  memset(c, 0, sizeof *c);
  c->n_inputs = 1;
  c->ndim[0] = 2;
  c->shape[0][0] = sweep_int(rng, 1, 4);
  c->shape[0][1] = sweep_int(rng, 1, 4);
  c->axes[0] = (int)sweep_int(rng, 0, 1);
  c->seed = tg_rng_u64(rng);
  sweep_describe(c);
  append(c, c->axes[0] ? " sum" : " mean");
}

static tg_tensor *apply_cross_entropy(tg_tape *tp, tg_tensor *const *in,
                                      const sweep_case *c) {
  tg_tensor *labels =
      sweep_whole_numbers(tp, c->seed, 1, in[0]->shape, in[0]->shape[1]);
  return tg_cross_entropy(tp, in[0], labels, red_of(c));
}

static tg_tensor *apply_nll(tg_tape *tp, tg_tensor *const *in,
                            const sweep_case *c) {
  tg_tensor *labels =
      sweep_whole_numbers(tp, c->seed, 1, in[0]->shape, in[0]->shape[1]);
  return tg_nll_loss(tp, in[0], labels, red_of(c));
}

#define AWAY                                                                   \
  { -3, 3, 0.1 }
#define HUBER                                                                  \
  { -0.9, 0.9, 0.5 }

const sweep_entry sweep_layers[] = {
    {"dense", dense_case, apply_dense, SWEEP_ANY},
    {"layer_norm", layer_norm_case, apply_layer_norm, SWEEP_ANY},
    {"batch_norm1d", batch_norm1d_case, apply_batch_norm, SWEEP_ANY},
    {"batch_norm2d", batch_norm2d_case, apply_batch_norm, SWEEP_ANY},
    {"rnn", rnn_case, apply_recurrent, SWEEP_ANY},
    {"lstm", lstm_case, apply_recurrent, SWEEP_ANY},
    {"gru", gru_case, apply_recurrent, SWEEP_ANY},
    {"embedding", embedding_case, apply_embedding, SWEEP_ANY},
    {"dropout_eval", one_input_case, apply_dropout_eval, SWEEP_ANY},
    {"dropout_train", one_input_case, apply_dropout_train, SWEEP_ANY},
    {"leaky_relu", act_case, apply_leaky_relu, AWAY},
    {"elu", act_case, apply_elu, AWAY},
    {"gelu", one_input_case, apply_gelu, SWEEP_ANY},
    {"softplus", one_input_case, apply_softplus, AWAY},
    {"mse_loss", two_inputs_case, apply_mse, SWEEP_ANY},
    {"l1_loss", one_pred_case, apply_l1, AWAY},
    {"huber_loss", one_pred_case, apply_huber, HUBER},
    {"cross_entropy", class_case, apply_cross_entropy, SWEEP_ANY},
    {"nll_loss", class_case, apply_nll, SWEEP_ANY},
    {"bce_logits", one_pred_case, apply_bce, AWAY},
};
const int sweep_layers_count =
    (int)(sizeof sweep_layers / sizeof sweep_layers[0]);
