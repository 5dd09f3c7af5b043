/* Gradient clipping over a registry's trainable parameters.
 *
 * Parameters without a gradient (never reached by backward) and buffers are
 * left out. Gradients are contiguous heap tensors of their parameter's
 * dtype; values are handled in double. */
#include <math.h>

#include "../core/internal.h"
#include "tapegrad/optim.h"

/* The gradient of entry i, or NULL when it has none or is a buffer. */
static tg_tensor *grad_at(const tg_params *ps, int i) {
  if (!tg_params_trainable(ps, i)) return NULL;
  tg_tensor *g = tg_grad_of(tg_params_at(ps, i));
  return g && tg_is_contiguous(g) ? g : NULL;
}

static double load(const tg_tensor *g, int64_t i) {
  return g->dtype == TG_F32 ? (double)((const float *)g->data)[i]
                            : ((const double *)g->data)[i];
}

static void store(tg_tensor *g, int64_t i, double v) {
  if (g->dtype == TG_F32)
    ((float *)g->data)[i] = (float)v;
  else
    ((double *)g->data)[i] = v;
}

/* As PyTorch's clip_grad_norm_: the factor max_norm / (norm + 1e-6) is
 * applied when it is below 1. A NULL registry has norm 0; a negative or NaN
 * max_norm clips nothing and returns NaN. */
double tg_clip_grad_norm(tg_params *ps, double max_norm) {
  if (!ps) return 0.0;
  if (!(max_norm >= 0.0)) return NAN;
  double sum = 0.0;
  for (int k = 0; k < tg_params_count(ps); k++) {
    const tg_tensor *g = grad_at(ps, k);
    for (int64_t i = 0; g && i < g->numel; i++) {
      double v = load(g, i);
      sum += v * v;
    }
  }
  double norm = sqrt(sum);
  double coef = max_norm / (norm + 1e-6);
  if (coef < 1.0)
    for (int k = 0; k < tg_params_count(ps); k++) {
      tg_tensor *g = grad_at(ps, k);
      for (int64_t i = 0; g && i < g->numel; i++)
        store(g, i, load(g, i) * coef);
    }
  return norm;
}

/* A negative or NaN clip does nothing; NaN gradient elements stay NaN. */
void tg_clip_grad_value(tg_params *ps, double clip) {
  if (!ps || !(clip >= 0.0)) return;
  for (int k = 0; k < tg_params_count(ps); k++) {
    tg_tensor *g = grad_at(ps, k);
    for (int64_t i = 0; g && i < g->numel; i++) {
      double v = load(g, i);
      if (v > clip)
        store(g, i, clip);
      else if (v < -clip)
        store(g, i, -clip);
    }
  }
}
