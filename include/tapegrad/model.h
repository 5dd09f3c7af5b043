/* tapegrad: models — the Keras-style path.
 *
 *   tg_model *m = tg_sequential_new(TG_F32, 42);
 *   tg_model_add_dense(m, 1, 1, TG_ACT_NONE);
 *   tg_model_compile(m, TG_LOSS_MSE, NULL, TG_METRIC_ACCURACY);  // Adam
 *   tg_history *h = tg_model_fit(m, x, y, &(tg_fit_opts){.epochs = 1000});
 *   tg_tensor *pred = tg_model_predict(m, x, 0);
 *
 * A Sequential model owns its layers and a registry of their parameters,
 * named as PyTorch's nn.Sequential names them ("0.weight", "0.bias",
 * "2.weight"...), so its weights load into the same PyTorch model. A custom
 * model is a plain C forward function over the caller's registry; fit,
 * evaluate and predict take it just the same. */
#ifndef TAPEGRAD_MODEL_H
#define TAPEGRAD_MODEL_H

#include <stdio.h>

#include "layers.h"
#include "optim.h"

typedef struct tg_model tg_model;

/* Builds the output for a batch x; `training` says whether dropout and
 * batch statistics are in training mode. */
typedef tg_tensor *(*tg_forward_fn)(tg_tape *tp, tg_tensor *x, bool training,
                                    void *ud);

/* An empty Sequential model; dtype of its parameters, seed of its
 * initialisers and shuffling. */
tg_model *tg_sequential_new(tg_dtype dtype, uint64_t seed);
/* A model whose forward pass is f over parameters in ps (not owned). */
tg_model *tg_model_custom(tg_params *ps, tg_forward_fn f, void *ud,
                          uint64_t seed);
void tg_model_free(tg_model *m);

/* Appends a layer (the model takes ownership; its parameters must be in
 * the model's registry: build it with tg_model_params and tg_model_rng). */
tg_status tg_model_add(tg_model *m, tg_layer *layer);
/* Shorthands that build the layer, named by its position. TG_ACT_NONE adds
 * no activation; any other kind adds an activation layer after it (taking
 * the next position, as in nn.Sequential). */
#define TG_ACT_NONE (-1)
tg_status tg_model_add_dense(tg_model *m, int64_t in, int64_t out, int act);
tg_status tg_model_add_conv2d(tg_model *m, int64_t in_c, int64_t out_c,
                              int64_t k, int64_t padding, int act);
tg_status tg_model_add_max_pool2d(tg_model *m, int64_t k);
tg_status tg_model_add_flatten(tg_model *m);
tg_status tg_model_add_dropout(tg_model *m, double p);

tg_params *tg_model_params(tg_model *m);
tg_rng *tg_model_rng(tg_model *m);
/* The tape the model records on (reset after every batch). */
tg_tape *tg_model_tape(tg_model *m);
int tg_model_layer_count(const tg_model *m);
tg_layer *tg_model_layer(const tg_model *m, int i);
/* The first error of the model (or of its tape). */
const char *tg_model_errmsg(const tg_model *m);

/* --- compile -------------------------------------------------------------- */

typedef enum tg_loss_kind {
  TG_LOSS_MSE,           /* mean squared error; targets like the output */
  TG_LOSS_MAE,           /* mean absolute error */
  TG_LOSS_HUBER,         /* delta 1 */
  TG_LOSS_CROSS_ENTROPY, /* logits [N, C], targets: class indices [N] */
  TG_LOSS_BCE_LOGITS     /* logits and 0/1 targets of the same shape */
} tg_loss_kind;

enum {
  TG_METRIC_ACCURACY = 1 << 0, /* argmax (C > 1) or threshold 0.5, vs target */
  TG_METRIC_MAE = 1 << 1,
  TG_METRIC_MSE = 1 << 2
};

/* The optimizer is owned by the model from now on; NULL means Adam with
 * Keras's defaults (lr 1e-3, betas 0.9/0.999, eps 1e-7). */
tg_status tg_model_compile(tg_model *m, tg_loss_kind loss, tg_optimizer *opt,
                           unsigned metrics);

/* --- fit, evaluate, predict ------------------------------------------------
 */

typedef struct tg_fit_opts {
  int epochs;              /* 0 means 1 */
  int64_t batch_size;      /* 0 means 32 */
  bool no_shuffle;         /* shuffling is on by default */
  double validation_split; /* the last fraction of the samples, as Keras */
  const tg_tensor *val_x, *val_y; /* or explicit validation data */
  int verbose;  /* 0 silent; 1 progress bar on a terminal, else a
                   line per epoch; 2 a line per epoch */
  int patience; /* early stopping: epochs without improvement of
                   the validation loss (training loss without
                   validation data); 0 never stops early */
  double min_delta;
  FILE *out; /* NULL means stdout */
  /* Data-parallel training over MPI (tapegrad/dist.h; tg_dist_init first).
   * Every rank passes the same data and options; batch_size is per rank,
   * so a step learns from size * batch_size samples. Parameters are
   * broadcast from rank 0 first; every epoch's order is rank 0's shuffle;
   * global batch k is rows [k*G, (k+1)*G) of that order (G = size *
   * batch_size), cut into size equal contiguous slices, rank r taking slice
   * r (the epoch's last n mod size rows are left out so the slices stay
   * equal); gradients are averaged before each optimizer step; buffers
   * come from rank 0 after each epoch; validation is shared out in
   * contiguous blocks; the history holds the figures of all ranks
   * together (seconds are each rank's own), and only rank 0 prints. */
  bool distributed;
} tg_fit_opts;

/* Per-epoch figures. NaN where a figure was not computed. */
typedef struct tg_history {
  int epochs;
  double *loss, *val_loss;
  double *accuracy, *val_accuracy;
  double *mae, *val_mae;
  double *mse, *val_mse;
  double *seconds;
  bool stopped_early;
} tg_history;

/* Trains on x [N, ...] and y [N, ...] (heap tensors, or tensors on a tape
 * other than the model's own, which is reset after every batch); returns
 * the history (free with tg_history_free), NULL on error (tg_model_errmsg).
 * An empty data set is an error. */
tg_history *tg_model_fit(tg_model *m, const tg_tensor *x, const tg_tensor *y,
                         const tg_fit_opts *opts);
void tg_history_free(tg_history *h);
/* Loss and metric curves as an SVG image a browser shows. */
tg_status tg_history_write_svg(const tg_history *h, const char *path);

/* Loss and metrics over a data set (evaluation mode, no gradients). Any of
 * the outputs may be NULL. */
tg_status tg_model_evaluate(tg_model *m, const tg_tensor *x, const tg_tensor *y,
                            int64_t batch_size, double *loss, double *accuracy,
                            double *mae);
/* Outputs for x in evaluation mode, as a heap tensor (tg_tensor_free). */
tg_tensor *tg_model_predict(tg_model *m, const tg_tensor *x,
                            int64_t batch_size);

#endif
