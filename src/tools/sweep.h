/* The gradcheck sweep: one entry per op (or, later, per layer). To cover a
 * new op, add an entry to a table; the tool picks it up. */
#ifndef TG_SWEEP_H
#define TG_SWEEP_H

#include "tapegrad.h"

#define SWEEP_MAX_INPUTS 4

/* One random configuration of an entry: input shapes and op arguments. */
typedef struct sweep_case {
  int n_inputs;
  int ndim[SWEEP_MAX_INPUTS];
  int64_t shape[SWEEP_MAX_INPUTS][TG_MAX_DIMS];
  int axes[TG_MAX_DIMS]; /* reductions, permutations */
  int n_axes;
  bool keepdim;
  double scalar;                   /* exponent, factor */
  int64_t target[2 * TG_MAX_DIMS]; /* reshape / expand / sum_to target */
  int target_ndim;
  uint64_t seed;  /* for constants made inside apply (indices) */
  char desc[160]; /* shapes and arguments, for the table */
} sweep_case;

/* Input values: uniform in [lo, hi], or with |x| >= away when away > 0
 * (keeps kinks such as relu's at 0 out of reach of the differences). */
typedef struct sweep_domain {
  double lo, hi, away;
} sweep_domain;

/* The domain most entries use: anywhere in [-2, 2]. */
#define SWEEP_ANY                                                              \
  { -2, 2, 0 }

typedef struct sweep_entry {
  const char *name;
  /* Draws a random case from rng. */
  void (*make_case)(tg_rng *rng, sweep_case *c);
  /* Builds the op's output from the inputs and the case. */
  tg_tensor *(*apply)(tg_tape *tp, tg_tensor *const *in, const sweep_case *c);
  sweep_domain domain;
} sweep_entry;

/* Draws a shape of rank min_rank..3 with sides 1..4; fills c->desc. */
void sweep_random_shape(tg_rng *rng, int *ndim, int64_t *shape, int min_rank);
int64_t sweep_int(tg_rng *rng, int64_t lo, int64_t hi);
void sweep_describe(sweep_case *c);
/* An f64 constant on tp of whole numbers below limit, drawn from seed
 * (indices, class labels). */
tg_tensor *sweep_whole_numbers(tg_tape *tp, uint64_t seed, int ndim,
                               const int64_t *shape, int64_t limit);

/* The tables: primitives, then movement and indexing, then layer maths,
 * then layers, composed activations and losses. */
extern const sweep_entry sweep_ops[];
extern const int sweep_ops_count;
extern const sweep_entry sweep_indexing[];
extern const int sweep_indexing_count;
extern const sweep_entry sweep_nn[];
extern const int sweep_nn_count;
extern const sweep_entry sweep_layers[];
extern const int sweep_layers_count;

#endif
