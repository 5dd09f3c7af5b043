/* Sequential and custom models: building, compiling, the forward pass and
 * the loss. */
#include <stdio.h>
#include <string.h>

#include "../nn/layer_internal.h"
#include "model_internal.h"

static tg_model *model_alloc(uint64_t seed) {
  tg_model *m = tg__malloc(sizeof *m);
  if (!m) return NULL;
  memset(m, 0, sizeof *m);
  m->tp = tg_tape_new();
  if (!m->tp) {
    tg__free(m);
    return NULL;
  }
  m->seed = seed;
  tg_rng_seed(&m->rng, seed);
  tg_tape_seed(m->tp, seed ^ 0x5eedull);
  return m;
}

tg_model *tg_sequential_new(tg_dtype dtype, uint64_t seed) {
  tg_model *m = model_alloc(seed);
  if (!m) return NULL;
  m->dtype = dtype;
  m->ps = tg_params_new();
  m->owns_params = true;
  if (!m->ps) {
    tg_model_free(m);
    return NULL;
  }
  return m;
}

tg_model *tg_model_custom(tg_params *ps, tg_forward_fn f, void *ud,
                          uint64_t seed) {
  if (!ps || !f) return NULL;
  tg_model *m = model_alloc(seed);
  if (!m) return NULL;
  m->ps = ps;
  m->custom = f;
  m->ud = ud;
  return m;
}

void tg_model_free(tg_model *m) {
  if (!m) return;
  for (int i = 0; i < m->n_layers; i++)
    tg_layer_free(m->layers[i]);
  tg__free(m->layers);
  if (m->owns_params) tg_params_free(m->ps);
  tg_optimizer_free(m->opt);
  tg_tape_free(m->tp);
  tg__free(m);
}

tg_status tg_model_add(tg_model *m, tg_layer *layer) {
  if (!m) return TG_ERR_NULL;
  if (!layer) {
    if (!tg_error(m->tp))
      tg__fail(m->tp, TG_ERR_NULL, "tg_model_add: layer is NULL");
    return tg_error(m->tp);
  }
  if (m->custom) {
    tg__fail(m->tp, TG_ERR_STATE,
             "tg_model_add: a custom model has no "
             "layers");
    return TG_ERR_STATE;
  }
  if (m->n_layers == m->capacity) {
    int cap = m->capacity ? 2 * m->capacity : 8;
    tg_layer **grown = tg__malloc(sizeof *grown * (size_t)cap);
    if (!grown) {
      tg__fail(m->tp, TG_ERR_NOMEM, "tg_model_add: out of memory");
      return TG_ERR_NOMEM;
    }
    if (m->n_layers)
      memcpy(grown, m->layers, sizeof *grown * (size_t)m->n_layers);
    tg__free(m->layers);
    m->layers = grown;
    m->capacity = cap;
  }
  m->layers[m->n_layers++] = layer;
  return TG_OK;
}

/* The name of the next layer: its position, as nn.Sequential's keys. */
static const char *next_name(const tg_model *m, char *buf, size_t size) {
  snprintf(buf, size, "%d", m->n_layers);
  return buf;
}

/* Appends a layer a shorthand built. The shorthands check their arguments
 * first, so a NULL layer with no error on the tape means its constructor
 * ran out of memory. A layer the model could not take is freed, with the
 * parameters it registered, instead of being leaked. */
static tg_status add_built(tg_model *m, const char *fname, tg_layer *layer) {
  if (!layer) {
    if (!tg_error(m->tp))
      tg__fail(m->tp, TG_ERR_NOMEM, "%s: out of memory", fname);
    return tg_error(m->tp);
  }
  tg_status st = tg_model_add(m, layer);
  if (st != TG_OK) tg__layer_fail(layer);
  return st;
}

static bool act_ok(tg_model *m, const char *fname, int act) {
  if (act == TG_ACT_NONE || (act >= TG_ACT_RELU && act <= TG_ACT_SOFTMAX))
    return true;
  tg__fail(m->tp, TG_ERR_ARG, "%s: unknown activation %d", fname, act);
  return false;
}

static tg_status add_activation(tg_model *m, const char *fname, int act) {
  if (act == TG_ACT_NONE) return TG_OK;
  char name[16];
  return add_built(m, fname,
                   tg_activation_new(next_name(m, name, sizeof name),
                                     (tg_activation)act, 0));
}

tg_status tg_model_add_dense(tg_model *m, int64_t in, int64_t out, int act) {
  static const char fn[] = "tg_model_add_dense";
  if (!m) return TG_ERR_NULL;
  if (!act_ok(m, fn, act)) return TG_ERR_ARG;
  char name[16];
  tg_status st =
      add_built(m, fn,
                tg_dense_new(m->ps, m->tp, next_name(m, name, sizeof name), in,
                             out, m->dtype, &m->rng));
  return st ? st : add_activation(m, fn, act);
}

tg_status tg_model_add_conv2d(tg_model *m, int64_t in_c, int64_t out_c,
                              int64_t k, int64_t padding, int act) {
  static const char fn[] = "tg_model_add_conv2d";
  if (!m) return TG_ERR_NULL;
  if (!act_ok(m, fn, act)) return TG_ERR_ARG;
  char name[16];
  tg_conv_opts o = {{0}, {padding, padding}, {0}, 0};
  tg_status st =
      add_built(m, fn,
                tg_conv2d_new(m->ps, m->tp, next_name(m, name, sizeof name),
                              in_c, out_c, k, k, &o, m->dtype, &m->rng));
  return st ? st : add_activation(m, fn, act);
}

tg_status tg_model_add_max_pool2d(tg_model *m, int64_t k) {
  if (!m) return TG_ERR_NULL;
  char name[16];
  tg_window w = {{k, k}, {0}, {0}, {0}};
  return add_built(m, "tg_model_add_max_pool2d",
                   tg_max_pool2d_new(next_name(m, name, sizeof name), &w));
}

tg_status tg_model_add_flatten(tg_model *m) {
  if (!m) return TG_ERR_NULL;
  char name[16];
  return add_built(m, "tg_model_add_flatten",
                   tg_flatten_new(next_name(m, name, sizeof name)));
}

tg_status tg_model_add_dropout(tg_model *m, double p) {
  static const char fn[] = "tg_model_add_dropout";
  if (!m) return TG_ERR_NULL;
  if (!(p >= 0 && p <= 1)) {
    tg__fail(m->tp, TG_ERR_ARG, "%s: p = %g is not in [0, 1]", fn, p);
    return TG_ERR_ARG;
  }
  char name[16];
  return add_built(m, fn, tg_dropout_new(next_name(m, name, sizeof name), p));
}

tg_params *tg_model_params(tg_model *m) { return m ? m->ps : NULL; }
tg_rng *tg_model_rng(tg_model *m) { return m ? &m->rng : NULL; }
tg_tape *tg_model_tape(tg_model *m) { return m ? m->tp : NULL; }
int tg_model_layer_count(const tg_model *m) { return m ? m->n_layers : 0; }

tg_layer *tg_model_layer(const tg_model *m, int i) {
  return m && i >= 0 && i < m->n_layers ? m->layers[i] : NULL;
}

const char *tg_model_errmsg(const tg_model *m) {
  return m ? tg_errmsg(m->tp) : "tg_model_errmsg: model is NULL";
}

tg_status tg_model_compile(tg_model *m, tg_loss_kind loss, tg_optimizer *opt,
                           unsigned metrics) {
  if (!m) return TG_ERR_NULL;
  if ((int)loss < TG_LOSS_MSE || loss > TG_LOSS_BCE_LOGITS) {
    tg__fail(m->tp, TG_ERR_ARG, "tg_model_compile: unknown loss %d", (int)loss);
    return TG_ERR_ARG;
  }
  if (!opt) {
    tg_adam_opts keras = {1e-3, 0.9, 0.999, 1e-7, 0};
    opt = tg_adam_new(m->ps, &keras);
    if (!opt) {
      tg__fail(m->tp, TG_ERR_NOMEM,
               "tg_model_compile: out of memory making Adam");
      return TG_ERR_NOMEM;
    }
  }
  if (m->opt && m->opt != opt) tg_optimizer_free(m->opt);
  m->opt = opt;
  m->loss = loss;
  m->metrics = metrics;
  m->compiled = true;
  return TG_OK;
}

tg_tensor *tg__model_forward(tg_model *m, tg_tape *tp, tg_tensor *x,
                             bool training) {
  if (m->custom) return m->custom(tp, x, training, m->ud);
  for (int i = 0; i < m->n_layers && x; i++) {
    tg_layer_set_training(m->layers[i], training);
    /* convolution, ReLU, max pooling: pooled first, the same function at a
     * quarter of the cost of the bias and the ReLU */
    if (i + 2 < m->n_layers && tg__conv_relu_pool_fits(m->layers + i)) {
      tg_layer_set_training(m->layers[i + 1], training);
      tg_layer_set_training(m->layers[i + 2], training);
      x = tg__conv_relu_pool_forward(tp, m->layers + i, x);
      i += 2;
      continue;
    }
    x = tg_layer_forward(tp, m->layers[i], x);
  }
  return x;
}

/* y viewed with out's shape when they hold as many elements. */
static tg_tensor *fit_target(tg_tape *tp, tg_tensor *out, tg_tensor *y) {
  if (!out || !y || tg__same_shape(out, y) || out->numel != y->numel) return y;
  return tg_reshape(tp, y, out->ndim, out->shape);
}

tg_tensor *tg__model_loss(tg_model *m, tg_tape *tp, tg_tensor *out,
                          tg_tensor *y) {
  switch (m->loss) {
  case TG_LOSS_MSE:
    return tg_mse_loss(tp, out, fit_target(tp, out, y), TG_REDUCE_MEAN);
  case TG_LOSS_MAE:
    return tg_l1_loss(tp, out, fit_target(tp, out, y), TG_REDUCE_MEAN);
  case TG_LOSS_HUBER:
    return tg_huber_loss(tp, out, fit_target(tp, out, y), 1.0, TG_REDUCE_MEAN);
  case TG_LOSS_CROSS_ENTROPY: {
    int64_t n[1] = {y ? y->numel : 0};
    return tg_cross_entropy(tp, out, y ? tg_reshape(tp, y, 1, n) : NULL,
                            TG_REDUCE_MEAN);
  }
  case TG_LOSS_BCE_LOGITS:
    return tg_bce_with_logits(tp, out, fit_target(tp, out, y), TG_REDUCE_MEAN);
  }
  return NULL;
}
