/* tapegrad: layers.
 *
 * A layer is a small object holding its configuration and pointers to its
 * parameters, which live in a tg_params registry under "<name>.<param>"
 * (PyTorch's parameter names and layouts, so weights move between the two).
 * Its forward pass is a composition of ops: gradients come from the tape.
 * Layers start in training mode; tg_layer_set_training(l, false) switches
 * dropout off and makes batch norm use its running statistics. */
#ifndef TAPEGRAD_LAYERS_H
#define TAPEGRAD_LAYERS_H

#include "nn.h"
#include "params.h"

typedef struct tg_layer tg_layer;

/* Constructors register parameters in ps, initialise them from rng, and
 * report errors on tp (which may be NULL); they return NULL on failure.
 * Default initialisation (Keras's): weights Glorot-uniform, recurrent
 * weights orthogonal, biases zero (an LSTM's forget-gate bias one). */

/* y = x W^T + b; weight [out, in], bias [out]; x [..., in]. */
tg_layer *tg_dense_new(tg_params *ps, tg_tape *tp, const char *name, int64_t in,
                       int64_t out, tg_dtype dtype, tg_rng *rng);
/* weight [out_c, in_c/groups, k], bias [out_c]; x [N, in_c, L]. */
tg_layer *tg_conv1d_new(tg_params *ps, tg_tape *tp, const char *name,
                        int64_t in_c, int64_t out_c, int64_t k,
                        const tg_conv_opts *opts, tg_dtype dtype, tg_rng *rng);
/* weight [out_c, in_c/groups, kh, kw], bias [out_c]; x [N, in_c, H, W]. */
tg_layer *tg_conv2d_new(tg_params *ps, tg_tape *tp, const char *name,
                        int64_t in_c, int64_t out_c, int64_t kh, int64_t kw,
                        const tg_conv_opts *opts, tg_dtype dtype, tg_rng *rng);
tg_layer *tg_max_pool2d_new(const char *name, const tg_window *w);
tg_layer *tg_avg_pool2d_new(const char *name, const tg_window *w);
/* [N, ...] -> [N, prod(...)] */
tg_layer *tg_flatten_new(const char *name);
/* weight [vocab, dim]; x: indices [...] -> [..., dim]. */
tg_layer *tg_embedding_new(tg_params *ps, tg_tape *tp, const char *name,
                           int64_t vocab, int64_t dim, tg_dtype dtype,
                           tg_rng *rng);
/* Zeroes each element with probability p in training (scaling the rest by
 * 1/(1-p)), using the tape's generator; the identity in evaluation. */
tg_layer *tg_dropout_new(const char *name, double p);
/* Normalises over the last n_axes axes (their sides in shape); weight and
 * bias of that shape. eps 0 means 1e-5. */
tg_layer *tg_layer_norm_new(tg_params *ps, tg_tape *tp, const char *name,
                            int n_axes, const int64_t *shape, double eps,
                            tg_dtype dtype);
/* Batch norm over channel axis 1: 1-D takes [N, C] or [N, C, L], 2-D takes
 * [N, C, H, W]. weight, bias [C]; buffers running_mean, running_var [C].
 * eps 0 means 1e-5, momentum 0 means 0.1 (PyTorch's). */
tg_layer *tg_batch_norm1d_new(tg_params *ps, tg_tape *tp, const char *name,
                              int64_t c, double eps, double momentum,
                              tg_dtype dtype);
tg_layer *tg_batch_norm2d_new(tg_params *ps, tg_tape *tp, const char *name,
                              int64_t c, double eps, double momentum,
                              tg_dtype dtype);

typedef enum tg_activation {
  TG_ACT_RELU,
  TG_ACT_LEAKY_RELU, /* param: slope (0 means 0.01) */
  TG_ACT_ELU,        /* param: alpha (0 means 1) */
  TG_ACT_GELU,
  TG_ACT_SIGMOID,
  TG_ACT_TANH,
  TG_ACT_SOFTPLUS,
  TG_ACT_SOFTMAX /* over the last axis */
} tg_activation;
tg_layer *tg_activation_new(const char *name, tg_activation kind, double param);

/* Recurrent layers over a whole batch-first sequence x [B, T, in]. PyTorch's
 * layouts: weight_ih_l0 [G*hidden, in], weight_hh_l0 [G*hidden, hidden],
 * bias_ih_l0, bias_hh_l0 [G*hidden], with G = 1 (RNN), 4 (LSTM: gates
 * i, f, g, o) or 3 (GRU: r, z, n). */
tg_layer *tg_rnn_new(tg_params *ps, tg_tape *tp, const char *name, int64_t in,
                     int64_t hidden, tg_dtype dtype, tg_rng *rng);
tg_layer *tg_lstm_new(tg_params *ps, tg_tape *tp, const char *name, int64_t in,
                      int64_t hidden, tg_dtype dtype, tg_rng *rng);
tg_layer *tg_gru_new(tg_params *ps, tg_tape *tp, const char *name, int64_t in,
                     int64_t hidden, tg_dtype dtype, tg_rng *rng);

/* All hidden states [B, T, hidden]; h0 (and c0 for LSTM) [B, hidden] or
 * NULL for zeros; the final state into *h_n (and *c_n) when not NULL. */
tg_tensor *tg_recurrent_forward(tg_tape *tp, tg_layer *l, tg_tensor *x,
                                tg_tensor *h0, tg_tensor *c0, tg_tensor **h_n,
                                tg_tensor **c_n);

/* The layer's output for x (for recurrent layers: all hidden states). A
 * wrong input shape is an error naming the layer, the expected and the
 * actual shape. */
tg_tensor *tg_layer_forward(tg_tape *tp, tg_layer *l, tg_tensor *x);
void tg_layer_set_training(tg_layer *l, bool training);
bool tg_layer_training(const tg_layer *l);
/* "dense", "conv2d", "lstm", ... and the name given at creation. */
const char *tg_layer_kind(const tg_layer *l);
const char *tg_layer_name(const tg_layer *l);
/* Its parameters (not buffers), in registry order. */
int tg_layer_param_count(const tg_layer *l);
tg_tensor *tg_layer_param(const tg_layer *l, int i);
/* Frees the layer object; its parameters stay in their registry. */
void tg_layer_free(tg_layer *l);

#endif
