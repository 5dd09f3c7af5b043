/* Shared by the Fashion-MNIST examples: loading the four IDX files, the
 * command line, and training (alone, or data-parallel over MPI with
 * --distributed: mpirun -np 2 ./build/examples/fashion_mlp --distributed). */
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
  int64_t batch;    /* per rank */
  bool distributed; /* data-parallel over MPI */
} fashion_args;

/* --epochs N, --batch N, --distributed and an optional directory. */
static inline fashion_args fashion_parse(int argc, char **argv) {
  fashion_args a = {FASHION_DEFAULT_DIR, 10, 64, false};
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--epochs") && i + 1 < argc)
      a.epochs = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--batch") && i + 1 < argc)
      a.batch = atoll(argv[++i]);
    else if (!strcmp(argv[i], "--distributed"))
      a.distributed = true;
    else
      a.dir = argv[i];
  }
  if (a.epochs < 1) a.epochs = 1;
  if (a.batch < 1) a.batch = 64;
  return a;
}

/* With --distributed, starts MPI; every rank then runs the same program.
 * Returns false after printing why it cannot. End with tg_dist_finalize
 * (a no-op when MPI was not started). */
static inline bool fashion_dist_start(const fashion_args *a, int *argc,
                                      char ***argv) {
  if (!a->distributed) return true;
  if (tg_dist_init(argc, argv) == TG_OK) return true;
  fprintf(stderr, "%s\n", tg_dist_errmsg());
  if (!tg_dist_available())
    fprintf(stderr, "Install libopenmpi-dev and rebuild (meson setup "
                    "--reconfigure build -Dmpi=enabled).\n");
  return false;
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
 * test accuracy, seconds (training and the test pass) and optimizer steps
 * per second. With --distributed only rank 0 prints; each rank trains on
 * its share of every batch of ranks x batch images. */
static inline int fashion_train(tg_model *model, fashion *f,
                                const fashion_args *a) {
  tg_adam_opts adam = {1e-3, 0, 0, 0, 0};
  tg_model_compile(model, TG_LOSS_CROSS_ENTROPY,
                   tg_adam_new(tg_model_params(model), &adam),
                   TG_METRIC_ACCURACY);
  bool lead = tg_dist_rank() == 0;
  int ranks = a->distributed ? tg_dist_size() : 1;
  int64_t n = f->train_x->shape[0], global = a->batch * ranks;
  int64_t steps = n / global + (n % global / ranks > 0);
  if (lead)
    printf("%lld parameters; %lld training and %lld test images; %d rank%s "
           "x batch %lld\n",
           (long long)tg_params_numel(tg_model_params(model)), (long long)n,
           (long long)f->test_x->shape[0], ranks, ranks > 1 ? "s" : "",
           (long long)a->batch);
  tg_history *h = tg_model_fit(model, f->train_x, f->train_y,
                               &(tg_fit_opts){.epochs = a->epochs,
                                              .batch_size = a->batch,
                                              .val_x = f->test_x,
                                              .val_y = f->test_y,
                                              .verbose = 1,
                                              .distributed = a->distributed});
  if (!h) {
    fprintf(stderr, "rank %d: fit failed: %s\n", tg_dist_rank(),
            tg_model_errmsg(model));
    return 1;
  }
  for (int e = 0; lead && e < h->epochs; e++)
    printf("epoch %d: test accuracy %.4f, %.1f s, %lld steps, %.1f steps/s\n",
           e + 1, h->val_accuracy[e], h->seconds[e], (long long)steps,
           (double)steps / h->seconds[e]);
  tg_history_free(h);
  return 0;
}

#endif
