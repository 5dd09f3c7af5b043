/* Dense, convolution, pooling, flatten, embedding, dropout, activations. */
#include <string.h>

#include "layer_internal.h"

/* The generator to initialise from: the caller's, or a fixed seed. */
static tg_rng *init_rng(tg_rng *rng, tg_rng *fallback) {
  if (rng) return rng;
  tg_rng_seed(fallback, 0);
  return fallback;
}

/* --- dense ---------------------------------------------------------------- */

static tg_tensor *dense_forward(tg_tape *tp, tg_layer *l, tg_tensor *x) {
  int64_t in = l->sizes[0];
  if (x->ndim < 1 || x->shape[x->ndim - 1] != in) {
    char want[64];
    snprintf(want, sizeof want, "[*, %lld]", (long long)in);
    return tg__layer_shape_error(tp, l, want, x);
  }
  if (x->ndim == 1) { /* one sample: [in] -> [out] */
    int64_t row[2] = {1, in}, out[1] = {l->sizes[1]};
    return tg_reshape(tp, dense_forward(tp, l, tg_reshape(tp, x, 2, row)), 1,
                      out);
  }
  return tg_addmm(tp, l->params[1], x, tg_transpose(tp, l->params[0], 0, 1));
}
static const tg_layer_class DENSE = {"dense", dense_forward};

tg_layer *tg_dense_new(tg_params *ps, tg_tape *tp, const char *name, int64_t in,
                       int64_t out, tg_dtype dtype, tg_rng *rng) {
  tg_layer *l = tg__layer_new(&DENSE, name);
  if (!l) return tg__fail(tp, TG_ERR_NOMEM, "tg_dense_new: out of memory");
  l->sizes[0] = in;
  l->sizes[1] = out;
  int64_t ws[2] = {out, in}, bs[1] = {out};
  tg_rng fallback;
  tg_tensor *w = tg__layer_add(l, ps, tp, "weight", dtype, 2, ws, -1);
  if (!w || !tg__layer_add(l, ps, tp, "bias", dtype, 1, bs, -1) ||
      tg_init(w, TG_INIT_GLOROT_UNIFORM, 0, init_rng(rng, &fallback)))
    return tg__layer_fail(l);
  return l;
}

/* --- convolution ---------------------------------------------------------- */

/* x's shape for a convolution layer; false (error set) when it does not fit */
static bool conv_input_ok(tg_tape *tp, const tg_layer *l, const tg_tensor *x) {
  int nsp = l->params[0]->ndim - 2;
  int64_t in_c = l->sizes[0];
  if (x->ndim == nsp + 2 && x->shape[1] == in_c) return true;
  char want[64];
  snprintf(want, sizeof want, nsp == 2 ? "[N, %lld, H, W]" : "[N, %lld, L]",
           (long long)in_c);
  tg__layer_shape_error(tp, l, want, x);
  return false;
}

static tg_tensor *conv_forward(tg_tape *tp, tg_layer *l, tg_tensor *x) {
  if (!conv_input_ok(tp, l, x)) return NULL;
  return l->params[0]->ndim == 4
             ? tg_conv2d(tp, x, l->params[0], l->params[1], &l->conv)
             : tg_conv1d(tp, x, l->params[0], l->params[1], &l->conv);
}
static const tg_layer_class CONV1D = {"conv1d", conv_forward};
static const tg_layer_class CONV2D = {"conv2d", conv_forward};

static tg_layer *conv_new(const tg_layer_class *cls, tg_params *ps, tg_tape *tp,
                          const char *name, int64_t in_c, int64_t out_c,
                          int nsp, const int64_t *k, const tg_conv_opts *opts,
                          tg_dtype dtype, tg_rng *rng) {
  tg_layer *l = tg__layer_new(cls, name);
  if (!l) return tg__fail(tp, TG_ERR_NOMEM, "%s: out of memory", cls->kind);
  if (opts) l->conv = *opts;
  int64_t groups = l->conv.groups ? l->conv.groups : 1;
  if (groups < 1 || in_c % groups || out_c % groups) {
    tg__fail(tp, TG_ERR_ARG,
             "%s '%s': %lld groups do not divide %lld input "
             "and %lld output channels",
             cls->kind, l->name, (long long)groups, (long long)in_c,
             (long long)out_c);
    return tg__layer_fail(l);
  }
  l->sizes[0] = in_c;
  l->sizes[1] = out_c;
  int64_t ws[4] = {out_c, in_c / groups, k[0], nsp == 2 ? k[1] : 0};
  int64_t bs[1] = {out_c};
  tg_rng fallback;
  tg_tensor *w = tg__layer_add(l, ps, tp, "weight", dtype, nsp + 2, ws, -1);
  if (!w || !tg__layer_add(l, ps, tp, "bias", dtype, 1, bs, -1) ||
      tg_init(w, TG_INIT_GLOROT_UNIFORM, 0, init_rng(rng, &fallback)))
    return tg__layer_fail(l);
  return l;
}

tg_layer *tg_conv1d_new(tg_params *ps, tg_tape *tp, const char *name,
                        int64_t in_c, int64_t out_c, int64_t k,
                        const tg_conv_opts *opts, tg_dtype dtype, tg_rng *rng) {
  return conv_new(&CONV1D, ps, tp, name, in_c, out_c, 1, &k, opts, dtype, rng);
}

tg_layer *tg_conv2d_new(tg_params *ps, tg_tape *tp, const char *name,
                        int64_t in_c, int64_t out_c, int64_t kh, int64_t kw,
                        const tg_conv_opts *opts, tg_dtype dtype, tg_rng *rng) {
  int64_t k[2] = {kh, kw};
  return conv_new(&CONV2D, ps, tp, name, in_c, out_c, 2, k, opts, dtype, rng);
}

/* --- pooling and flatten -------------------------------------------------- */

static tg_tensor *pool_forward(tg_tape *tp, tg_layer *l, tg_tensor *x) {
  if (x->ndim != 4) return tg__layer_shape_error(tp, l, "[N, C, H, W]", x);
  return l->activation ? tg_avg_pool2d(tp, x, &l->window)
                       : tg_max_pool2d(tp, x, &l->window);
}
static const tg_layer_class MAX_POOL2D = {"max_pool2d", pool_forward};
static const tg_layer_class AVG_POOL2D = {"avg_pool2d", pool_forward};

static tg_layer *pool_new(const tg_layer_class *cls, const char *name,
                          const tg_window *w, int average) {
  if (!w) return NULL;
  tg_layer *l = tg__layer_new(cls, name);
  if (!l) return NULL;
  l->window = *w;
  l->activation = average;
  return l;
}

tg_layer *tg_max_pool2d_new(const char *name, const tg_window *w) {
  return pool_new(&MAX_POOL2D, name, w, 0);
}

tg_layer *tg_avg_pool2d_new(const char *name, const tg_window *w) {
  return pool_new(&AVG_POOL2D, name, w, 1);
}

static tg_tensor *flatten_forward(tg_tape *tp, tg_layer *l, tg_tensor *x) {
  if (x->ndim < 1) return tg__layer_shape_error(tp, l, "[N, ...]", x);
  int64_t shape[2] = {x->shape[0], -1};
  if (x->shape[0] == 0) shape[1] = 0;
  return tg_reshape(tp, x, 2, shape);
}
static const tg_layer_class FLATTEN = {"flatten", flatten_forward};

tg_layer *tg_flatten_new(const char *name) {
  return tg__layer_new(&FLATTEN, name);
}

/* --- embedding ------------------------------------------------------------ */

static tg_tensor *embedding_forward(tg_tape *tp, tg_layer *l, tg_tensor *x) {
  if (x->ndim >= TG_MAX_DIMS)
    return tg__layer_shape_error(tp, l, "indices of at most 7 axes", x);
  int64_t flat[1] = {x->numel}, shape[TG_MAX_DIMS];
  memcpy(shape, x->shape, sizeof(int64_t) * (size_t)x->ndim);
  shape[x->ndim] = l->sizes[1];
  tg_tensor *rows =
      tg_index_select(tp, l->params[0], 0, tg_reshape(tp, x, 1, flat));
  return tg_reshape(tp, rows, x->ndim + 1, shape);
}
static const tg_layer_class EMBEDDING = {"embedding", embedding_forward};

tg_layer *tg_embedding_new(tg_params *ps, tg_tape *tp, const char *name,
                           int64_t vocab, int64_t dim, tg_dtype dtype,
                           tg_rng *rng) {
  tg_layer *l = tg__layer_new(&EMBEDDING, name);
  if (!l) return tg__fail(tp, TG_ERR_NOMEM, "tg_embedding_new: out of memory");
  l->sizes[0] = vocab;
  l->sizes[1] = dim;
  int64_t ws[2] = {vocab, dim};
  tg_rng fallback;
  tg_tensor *w = tg__layer_add(l, ps, tp, "weight", dtype, 2, ws, -1);
  /* N(0, 1), as PyTorch's nn.Embedding */
  if (!w) return tg__layer_fail(l);
  tg_fill_normal(w, init_rng(rng, &fallback), 0, 1);
  return l;
}

/* --- dropout -------------------------------------------------------------- */

static tg_tensor *dropout_forward(tg_tape *tp, tg_layer *l, tg_tensor *x) {
  double p = l->rate;
  if (!l->training || p <= 0) return x;
  tg_tensor *mask = tg_empty(tp, x->dtype, x->ndim, x->shape);
  if (!mask) return NULL;
  /* keep with probability 1 - p, scaled so the expectation is unchanged */
  double keep = p >= 1 ? 0 : 1 / (1 - p);
  for (int64_t i = 0; i < mask->numel; i++) {
    double v = tg_rng_uniform(tg_tape_rng(tp)) >= p ? keep : 0;
    if (x->dtype == TG_F32)
      ((float *)mask->data)[i] = (float)v;
    else
      ((double *)mask->data)[i] = v;
  }
  return tg_mul(tp, x, mask);
}
static const tg_layer_class DROPOUT = {"dropout", dropout_forward};

tg_layer *tg_dropout_new(const char *name, double p) {
  if (!(p >= 0 && p <= 1)) return NULL;
  tg_layer *l = tg__layer_new(&DROPOUT, name);
  if (l) l->rate = p;
  return l;
}

/* --- activations ---------------------------------------------------------- */

static tg_tensor *activation_forward(tg_tape *tp, tg_layer *l, tg_tensor *x) {
  switch ((tg_activation)l->activation) {
  case TG_ACT_RELU: return tg_relu(tp, x);
  case TG_ACT_LEAKY_RELU: return tg_leaky_relu(tp, x, l->rate ? l->rate : 0.01);
  case TG_ACT_ELU: return tg_elu(tp, x, l->rate ? l->rate : 1.0);
  case TG_ACT_GELU: return tg_gelu(tp, x);
  case TG_ACT_SIGMOID: return tg_sigmoid(tp, x);
  case TG_ACT_TANH: return tg_tanh(tp, x);
  case TG_ACT_SOFTPLUS: return tg_softplus(tp, x);
  case TG_ACT_SOFTMAX: return tg_softmax(tp, x, -1);
  }
  return tg__fail(tp, TG_ERR_ARG, "activation '%s': unknown kind %d", l->name,
                  l->activation);
}
static const tg_layer_class ACTIVATION = {"activation", activation_forward};

tg_layer *tg_activation_new(const char *name, tg_activation kind,
                            double param) {
  if ((int)kind < TG_ACT_RELU || kind > TG_ACT_SOFTMAX) return NULL;
  tg_layer *l = tg__layer_new(&ACTIVATION, name);
  if (!l) return NULL;
  l->activation = kind;
  l->rate = param;
  return l;
}

/* --- convolution, ReLU, max pooling in a row ------------------------------ */

/* Adding a channel's bias and ReLU are both non-decreasing maps of each
 * element, the same one over a whole pooling window, so they commute with
 * the window's max: maxpool(relu(conv + b)) = relu(maxpool(conv) + b), and
 * the right side applies the bias and ReLU to a quarter of the elements
 * (2x2 windows). The values are the same to the bit (rounding is monotone
 * too), and so are the gradients, except where adding the bias rounds two
 * different values of a window to the same number: the left side then
 * shares that window's gradient between them, the right side gives it to
 * the larger, both being gradients of the same function there. */
bool tg__conv_relu_pool_fits(tg_layer *const *ls) {
  return ls[0]->cls == &CONV2D && ls[1]->cls == &ACTIVATION &&
         ls[1]->activation == TG_ACT_RELU && ls[2]->cls == &MAX_POOL2D;
}

tg_tensor *tg__conv_relu_pool_forward(tg_tape *tp, tg_layer *const *ls,
                                      tg_tensor *x) {
  tg_layer *conv = ls[0], *pool = ls[2];
  if (!tg__inputs_ok(tp, "conv2d", 1, &x) || !conv_input_ok(tp, conv, x))
    return NULL;
  tg_tensor *y = tg_conv2d(tp, x, conv->params[0], NULL, &conv->conv);
  y = tg_max_pool2d(tp, y, &pool->window);
  int64_t bshape[3] = {conv->sizes[1], 1, 1};
  y = tg_add(tp, y, tg_reshape(tp, conv->params[1], 3, bshape));
  return tg_relu(tp, y);
}
