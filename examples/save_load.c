/* Weights to a safetensors file and back, and a load that is refused.
 * Usage: save_load [path] (default: xor.safetensors in the current
 * directory) */
#include <stdio.h>
#include <string.h>

#include "tapegrad.h"

static tg_model *xor_model(int64_t hidden, uint64_t seed) {
  tg_model *m = tg_sequential_new(TG_F32, seed);
  tg_model_add_dense(m, 2, hidden, TG_ACT_TANH);
  tg_model_add_dense(m, hidden, 1, TG_ACT_NONE);
  tg_model_compile(m, TG_LOSS_BCE_LOGITS,
                   tg_adam_new(tg_model_params(m), &(tg_adam_opts){.lr = 0.05}),
                   TG_METRIC_ACCURACY);
  return m;
}

/* The model's four outputs, as text. */
static void outputs(tg_model *m, tg_tensor *x, char *buf, size_t size) {
  tg_tensor *p = tg_model_predict(m, x, 0);
  snprintf(buf, size, "%.6f %.6f %.6f %.6f", tg_get_flat(p, 0),
           tg_get_flat(p, 1), tg_get_flat(p, 2), tg_get_flat(p, 3));
  tg_tensor_free(p);
}

int main(int argc, char **argv) {
  const char *path = argc > 1 ? argv[1] : "xor.safetensors";
  float xs[8] = {0, 0, 0, 1, 1, 0, 1, 1}, ys[4] = {0, 1, 1, 0};
  int64_t sx[2] = {4, 2}, sy[2] = {4, 1};
  tg_tensor *x = tg_tensor_new(NULL, TG_F32, 2, sx);
  tg_tensor *y = tg_tensor_new(NULL, TG_F32, 2, sy);
  tg_copy_in(x, xs);
  tg_copy_in(y, ys);
  tg_tape *tp = tg_tape_new();

  tg_model *trained = xor_model(8, 3);
  tg_history_free(tg_model_fit(trained, x, y,
                               &(tg_fit_opts){.epochs = 300, .batch_size = 4}));
  char before[128], after[128];
  outputs(trained, x, before, sizeof before);
  if (tg_save_safetensors(tp, tg_model_params(trained), path)) {
    fprintf(stderr, "%s\n", tg_errmsg(tp));
    return 1;
  }
  printf("saved %d tensors to %s\n", tg_params_count(tg_model_params(trained)),
         path);

  tg_model *fresh = xor_model(8, 99); /* other initial weights */
  tg_status st = tg_load_safetensors(tp, tg_model_params(fresh), path);
  outputs(fresh, x, after, sizeof after);
  printf("round trip: %s; outputs %s (trained) vs %s (loaded): %s\n",
         st == TG_OK ? "loaded" : tg_errmsg(tp), before, after,
         strcmp(before, after) ? "DIFFERENT" : "identical");

  tg_model *wider = xor_model(5, 7); /* hidden 5, not 8 */
  char untouched[128], still[128];
  outputs(wider, x, untouched, sizeof untouched);
  st = tg_load_safetensors(tp, tg_model_params(wider), path);
  outputs(wider, x, still, sizeof still);
  printf("load into a model with 5 hidden units: %s\n",
         st == TG_OK ? "accepted (wrong!)" : tg_errmsg(tp));
  printf("its outputs before and after the refused load: %s\n",
         strcmp(untouched, still) ? "CHANGED" : "unchanged");
  int ok = st != TG_OK && !strcmp(untouched, still) && !strcmp(before, after);
  tg_model_free(trained);
  tg_model_free(fresh);
  tg_model_free(wider);
  tg_tape_free(tp);
  tg_tensor_free(x);
  tg_tensor_free(y);
  return ok ? 0 : 1;
}
