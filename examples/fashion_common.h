/* Shared by the Fashion-MNIST examples: loading the four IDX files and the
 * command line. */
#ifndef FASHION_COMMON_H
#define FASHION_COMMON_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tapegrad.h"

#define FASHION_DEFAULT_DIR "/usr/share/datasets/fashion-mnist"

typedef struct fashion {
  tg_tensor *train_x, *train_y, *test_x, *test_y;
} fashion;

typedef struct fashion_args {
  const char *dir;
  int epochs;
} fashion_args;

/* --epochs N and an optional directory. */
static inline fashion_args fashion_parse(int argc, char **argv) {
  fashion_args a = {FASHION_DEFAULT_DIR, 10};
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--epochs") && i + 1 < argc)
      a.epochs = atoi(argv[++i]);
    else
      a.dir = argv[i];
  }
  if (a.epochs < 1) a.epochs = 1;
  return a;
}

/* Pixels scaled to [0, 1] as [N, 1, 28, 28] (or [N, 784] when flat);
 * labels as [N]. Returns false after printing why. */
static inline bool fashion_load(const char *dir, bool flat, fashion *f) {
  static const char *names[4] = {
      "train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
      "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"};
  tg_tensor **slots[4] = {&f->train_x, &f->train_y, &f->test_x, &f->test_y};
  tg_tape *tp = tg_tape_new();
  for (int i = 0; i < 4; i++) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, names[i]);
    *slots[i] = tg_load_idx(tp, path, TG_F32, i % 2 ? 1.0 : 1.0 / 255.0);
    if (!*slots[i]) {
      fprintf(stderr,
              "%s\nInstall Debian's dataset-fashion-mnist, or give the "
              "directory holding the four files.\n",
              tg_errmsg(tp));
      tg_tape_free(tp);
      return false;
    }
  }
  tg_tape_free(tp);
  /* The images are [N, 28, 28]: view them as the model wants them. */
  for (int i = 0; i < 4; i += 2) {
    int64_t n = (*slots[i])->shape[0];
    int64_t shape[4] = {n, flat ? 784 : 1, 28, 28};
    tg_tensor_set_shape(*slots[i], flat ? 2 : 4, shape);
  }
  return true;
}

static inline void fashion_free(fashion *f) {
  tg_tensor_free(f->train_x);
  tg_tensor_free(f->train_y);
  tg_tensor_free(f->test_x);
  tg_tensor_free(f->test_y);
}

/* Fits with the test set as validation data and prints one line per epoch:
 * test accuracy and seconds. */
static inline int fashion_train(tg_model *model, fashion *f, int epochs) {
  tg_adam_opts adam = {1e-3, 0, 0, 0, 0};
  tg_model_compile(model, TG_LOSS_CROSS_ENTROPY,
                   tg_adam_new(tg_model_params(model), &adam),
                   TG_METRIC_ACCURACY);
  printf("%lld parameters; %lld training and %lld test images\n",
         (long long)tg_params_numel(tg_model_params(model)),
         (long long)f->train_x->shape[0], (long long)f->test_x->shape[0]);
  tg_history *h = tg_model_fit(model, f->train_x, f->train_y,
                               &(tg_fit_opts){.epochs = epochs,
                                              .batch_size = 64,
                                              .val_x = f->test_x,
                                              .val_y = f->test_y,
                                              .verbose = 1});
  if (!h) {
    fprintf(stderr, "fit failed: %s\n", tg_model_errmsg(model));
    return 1;
  }
  for (int e = 0; e < h->epochs; e++)
    printf("epoch %d: test accuracy %.4f, %.1f s\n", e + 1, h->val_accuracy[e],
           h->seconds[e]);
  tg_history_free(h);
  return 0;
}

#endif
