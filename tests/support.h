/* tapegrad tests: shared helpers.
 *
 * The centrepiece is a finite-difference gradient checker. A test describes
 * its inputs as plain double arrays with shapes (tgt_input) and a function
 * f that builds a one-element output from leaf tensors on a tape. The
 * checker makes f64 leaves that require a gradient, differentiates f with
 * tg_grad, and compares against central differences computed in float64.
 *
 * Every checker returns the largest error over all elements of all inputs,
 * measured as |analytic - numeric| / max(1, |numeric|). On any library
 * error (a NULL result or tg_error != TG_OK) it prints the tape's message
 * to stderr and returns INFINITY, so an assertion like `err < 1e-6` fails
 * loudly. */
#ifndef TAPEGRAD_TESTS_SUPPORT_H
#define TAPEGRAD_TESTS_SUPPORT_H

#include <stdbool.h>
#include <stdint.h>

#include <check.h>

#include "tapegrad.h"

/* Step sizes of the central differences (first and second order). */
#define TGT_EPS1 1e-6
#define TGT_EPS2 1e-6

/* Builds a one-element (scalar) output from n input tensors on tape tp.
 * It is called many times (once per perturbed input), so it must be a pure
 * function of the inputs' values and of ctx. */
typedef tg_tensor *(*tgt_fn)(tg_tape *tp, tg_tensor **inputs, void *ctx);

/* One input of a checked function: a shape and row-major values. */
typedef struct tgt_input {
  int ndim;
  int64_t shape[TG_MAX_DIMS];
  int64_t numel;
  double *data; /* numel values, owned (see tgt_input_init) */
} tgt_input;

/* Product of the shape's entries (1 for ndim == 0). */
int64_t tgt_numel(int ndim, const int64_t *shape);

/* Sets in's shape and allocates zeroed data; shape may be NULL when ndim is
 * 0. Returns false when memory is short or the shape is invalid. */
bool tgt_input_init(tgt_input *in, int ndim, const int64_t *shape);
void tgt_input_free(tgt_input *in);
void tgt_inputs_free(int n, tgt_input *in);

/* --- random data from a seeded generator ---------------------------------- */

/* Uniform in [lo, hi). */
void tgt_fill_uniform(tg_rng *rng, double *dst, int64_t n, double lo,
                      double hi);
/* Random sign times a magnitude uniform in [gap, hi): keeps every value at
 * least gap away from 0 (for kinks such as relu and abs at 0). */
void tgt_fill_away(tg_rng *rng, double *dst, int64_t n, double gap, double hi);
/* n distinct values lo, lo + spacing, ..., in random order, each moved by a
 * jitter below spacing / 4: no two values are closer than spacing / 2. */
void tgt_fill_distinct(tg_rng *rng, double *dst, int64_t n, double lo,
                       double spacing);

/* --- tensors -------------------------------------------------------------- */

/* An f64 leaf on tp holding in's values, with requires_grad set. */
tg_tensor *tgt_make_leaf(tg_tape *tp, const tgt_input *in);
/* An f64 constant (no gradient) on tp; shape may be NULL when ndim is 0. */
tg_tensor *tgt_make_const(tg_tape *tp, int ndim, const int64_t *shape,
                          const double *data);
/* Copies t's elements (row-major) into dst; false on failure. */
bool tgt_copy_out(const tg_tensor *t, double *dst);
/* A malloc'd row-major copy of t's elements (free it), NULL on failure. */
double *tgt_read(const tg_tensor *t);

/* true (after printing tg_errmsg and what to stderr) when t is NULL or the
 * tape holds an error. */
bool tgt_failed(tg_tape *tp, const tg_tensor *t, const char *what);

/* --- gradient checkers ---------------------------------------------------- */

/* First order: tg_grad of f(inputs) against central differences of f. */
double tgt_check_grad(tgt_fn f, void *ctx, int n, const tgt_input *inputs);

/* Second order: with g_i = d f / d x_i (create_graph) and fixed random V_i
 * drawn from seed, s = sum_i sum(g_i * V_i); compares tg_grad of s against
 * central differences of s, where s at a perturbed point comes from a
 * first-order tg_grad there. Works when s does not depend on the inputs
 * (f linear or piecewise linear): the expected result is then zero. */
double tgt_check_grad2(tgt_fn f, void *ctx, int n, const tgt_input *inputs,
                       uint64_t seed);

/* true when every |got - ref| <= tol * max(1, |ref|); prints the first
 * mismatch to stderr under label. */
bool tgt_close_all(const char *label, const double *got, const double *ref,
                   int64_t n, double tol);

/* Asserts r is NULL, tp's error is code (or any error when code is TG_OK),
 * and the message holds every string of the NULL-terminated list that
 * follows; then clears the error. what names the call in failures. */
void tgt_expect_err(tg_tape *tp, const char *what, const tg_tensor *r,
                    tg_status code, ...);

/* Runs a Check suite (in fork mode unless CK_FORK says otherwise), frees
 * it, and returns the process exit status: non-zero if any test failed. */
int tgt_run_suite(Suite *s);

#endif
