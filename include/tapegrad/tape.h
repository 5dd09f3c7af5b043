/* tapegrad: the tape.
 *
 * Every op run while grad mode is on, and with an input that requires a
 * gradient, appends a node to the tape. Recording order is a topological
 * order, so backward simply walks the nodes from last to first. */
#ifndef TAPEGRAD_TAPE_H
#define TAPEGRAD_TAPE_H

#include "tensor.h"

/* A new, empty tape with grad mode on; NULL if memory is short. */
tg_tape *tg_tape_new(void);
void tg_tape_free(tg_tape *tp);
/* Drops every node and arena tensor in O(1), keeping the arena's memory for
 * the next step. Heap tensors and their gradients are untouched. */
void tg_tape_reset(tg_tape *tp);

/* Number of nodes recorded, and arena bytes in use. */
size_t tg_tape_nodes(const tg_tape *tp);
size_t tg_tape_bytes(const tg_tape *tp);

/* --- errors -------------------------------------------------------------- */

tg_status tg_error(const tg_tape *tp);
/* The first error's message ("" when there is none). */
const char *tg_errmsg(const tg_tape *tp);
void tg_clear_error(tg_tape *tp);

/* --- grad mode ----------------------------------------------------------- */

bool tg_grad_enabled(const tg_tape *tp);
/* Sets grad mode and returns the previous one, so a no-grad scope is
 *   bool prev = tg_set_grad_enabled(tp, false); ...;
 *   tg_set_grad_enabled(tp, prev);                                       */
bool tg_set_grad_enabled(tg_tape *tp, bool enabled);

/* --- anomaly mode ------------------------------------------------------- */

/* When on, every op's output in the forward pass and every gradient in the
 * backward pass is checked for NaN and Inf; the first one found becomes the
 * tape's error (TG_ERR_NUMERIC), naming the op, its position on the tape,
 * its input shapes and the source location last given by tg_set_location.
 * It costs one pass over every tensor: for debugging, not for training. */
void tg_set_anomaly_mode(tg_tape *tp, bool on);
bool tg_anomaly_mode(const tg_tape *tp);
/* Tags the ops recorded from now on with a source location. */
void tg_set_location(tg_tape *tp, const char *file, int line);
#define TG_HERE(tp) tg_set_location((tp), __FILE__, __LINE__)

/* --- threads -------------------------------------------------------------- */

/* The number of threads tapegrad computes on, T, process-wide (at most 64):
 * large matrix products, elementwise kernels, im2col and pooling are
 * shared out over T - 1 worker threads and the calling one. OpenBLAS is
 * kept to one thread, so no more than T threads compute at once; idle
 * workers sleep. 0 or less restores the default (OPENBLAS_NUM_THREADS,
 * else every core). Returns the number now used. */
int tg_set_num_threads(int n);
int tg_num_threads(void);
/* The OpenBLAS kernel set in use ("SkylakeX", "Haswell", "Prescott"...).
 * OpenBLAS 0.3.21 falls back to the slow generic "Prescott" kernels on
 * processors newer than it knows; tapegrad then picks the kernels matching
 * the processor's AVX-512 or AVX2 when it loads, unless OPENBLAS_CORETYPE is
 * set or TAPEGRAD_BLAS_CORE=keep. tg_blas_core_repaired says whether it did
 * (see docs/performance.md). */
const char *tg_blas_core(void);
bool tg_blas_core_repaired(void);

/* --- randomness ---------------------------------------------------------- */

void tg_tape_seed(tg_tape *tp, uint64_t seed);
tg_rng *tg_tape_rng(tg_tape *tp);

/* --- backward ------------------------------------------------------------ */

/* Reverse sweep from a one-element output y; accumulates gradient values
 * into t->grad of every leaf that requires a gradient (and of intermediates
 * marked with tg_retain_grad). May run more than once on one tape. Some
 * gradients are added into t->grad during the sweep, so after a sweep that
 * failed part-way (out of memory, a custom rule's error) t->grad may hold
 * part of them: zero the gradients before trying again. */
tg_status tg_backward(tg_tape *tp, tg_tensor *y);
/* The same from an output of any shape, with the output's gradient given. */
tg_status tg_backward_seed(tg_tape *tp, tg_tensor *y, const tg_tensor *seed);

/* Functional gradients: grads[i] = d(sum_j <seeds[j], outputs[j]>)/d inputs[i]
 * as tensors on the tape (zeros where an input does not influence the
 * outputs). seeds may be NULL when every output has one element. With
 * create_graph the sweep is itself recorded, so the gradients can be
 * differentiated again. Leaves' t->grad is not touched. */
tg_status tg_grad(tg_tape *tp, int n_outputs, tg_tensor *const *outputs,
                  tg_tensor *const *seeds, int n_inputs,
                  tg_tensor *const *inputs, tg_tensor **grads,
                  bool create_graph);

#endif
