/* The model's insides, shared by the files of src/model (not installed). */
#ifndef TG_MODEL_INTERNAL_H
#define TG_MODEL_INTERNAL_H

#include "../core/internal.h"
#include "tapegrad/io.h"
#include "tapegrad/model.h"

struct tg_model {
  tg_params *ps;
  bool owns_params;
  tg_layer **layers;
  int n_layers, capacity;
  tg_forward_fn custom;
  void *ud;
  tg_dtype dtype;
  tg_rng rng;
  uint64_t seed;
  tg_tape *tp;
  tg_optimizer *opt;
  tg_loss_kind loss;
  unsigned metrics;
  bool compiled;
};

/* The model's output for a batch. */
tg_tensor *tg__model_forward(tg_model *m, tg_tape *tp, tg_tensor *x,
                             bool training);
/* The compiled loss of out against y (y reshaped to fit when it holds the
 * same number of elements, as Keras accepts [N] for [N, 1]). */
tg_tensor *tg__model_loss(tg_model *m, tg_tape *tp, tg_tensor *out,
                          tg_tensor *y);

/* Running sums of a pass over data. */
typedef struct tg_tally {
  double loss, correct, abs_err, sq_err;
  int64_t samples, elements;
} tg_tally;
/* Adds a batch's loss (a mean over its samples) and metrics. */
void tg__tally_batch(const tg_model *m, tg_tally *t, const tg_tensor *out,
                     const tg_tensor *y, double batch_loss);
/* Evaluation over rows [begin, end) of x and y. */
tg_status tg__model_eval_range(tg_model *m, const tg_tensor *x,
                               const tg_tensor *y, int64_t begin, int64_t end,
                               int64_t batch, tg_tally *out);

#endif
