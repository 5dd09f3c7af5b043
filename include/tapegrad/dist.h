/* tapegrad: data-parallel training over MPI.
 *
 *   tg_dist_init(&argc, &argv);              // every rank, before training
 *   tg_model_fit(m, x, y, &(tg_fit_opts){.distributed = true, ...});
 *   tg_dist_finalize();
 *
 * Every rank (process) holds the whole model and the whole data set; fit
 * gives each rank its own share of every global batch and averages the
 * gradients before each optimizer step, so the ranks' parameters stay
 * identical. A training loop written by hand calls tg_dist_broadcast_params
 * once and tg_dist_average_grads after every backward (docs/distributed.md).
 *
 * The collectives run on a private copy of MPI_COMM_WORLD that tg_dist_init
 * makes, so they never match a collective of the program's own. The module
 * keeps its state (that communicator, the pack buffers) in the process, as
 * MPI keeps its world: one per process, not thread-safe, used from the
 * thread that called tg_dist_init. Gradients are packed into one contiguous
 * buffer per dtype that grows to the largest registry seen and is reused by
 * every later call; tg_dist_finalize frees it.
 *
 * When tapegrad is built without MPI (meson -Dmpi=disabled, or no MPI
 * found) these functions exist all the same: rank 0 of 1, and every call
 * that would communicate returns TG_ERR_STATE ("tapegrad was built without
 * MPI"). Errors of this module are reported through tg_dist_errmsg, since
 * no tape is involved. */
#ifndef TAPEGRAD_DIST_H
#define TAPEGRAD_DIST_H

#include "params.h"

/* Whether tapegrad was built with MPI. */
bool tg_dist_available(void);
/* Initialises MPI (MPI_Init, unless the program did it already), makes
 * MPI errors return codes instead of aborting (MPI_ERRORS_RETURN on
 * MPI_COMM_WORLD) and duplicates the world for tapegrad's collectives.
 * argc and argv may be NULL. Calling it again does nothing. */
tg_status tg_dist_init(int *argc, char ***argv);
/* Frees the pack buffers and the communicator; calls MPI_Finalize when
 * tg_dist_init called MPI_Init. A no-op before tg_dist_init. */
tg_status tg_dist_finalize(void);
/* This process's rank and the number of ranks: 0 and 1 before
 * tg_dist_init, after tg_dist_finalize, and without MPI. */
int tg_dist_rank(void);
int tg_dist_size(void);

/* Every entry of the registry (parameters and buffers) is overwritten with
 * root's values. Collective: every rank calls it with a registry of the
 * same names, dtypes and shapes, in the same order; a rank whose registry
 * differs makes the call fail with TG_ERR_SHAPE on every rank. */
tg_status tg_dist_broadcast_params(tg_params *ps, int root);
/* Replaces the gradient of every trainable parameter by its mean over the
 * ranks: the gradients are packed into one buffer per dtype, summed with
 * one MPI_Allreduce per buffer and divided by the number of ranks. A
 * parameter without a gradient on a rank counts as zeros there; it gets a
 * zero-filled gradient buffer when another rank has one, and keeps none
 * when no rank has one. Collective, like tg_dist_broadcast_params. */
tg_status tg_dist_average_grads(tg_params *ps);
/* Sums n doubles over the ranks, in place (for losses and metrics).
 * Collective. */
tg_status tg_dist_sum(double *values, int n);
/* The message of the last failed call of this module ("" before any). */
const char *tg_dist_errmsg(void);

#endif
