/* tapegrad: checking gradients, derivative transforms, anomaly mode.
 *
 * Everything here works on user functions: a C callback that builds an
 * output from input tensors on a tape. It is called many times, on fresh
 * leaves holding the inputs' values, so it must depend on nothing but those
 * values and its user pointer. */
#ifndef TAPEGRAD_CHECK_H
#define TAPEGRAD_CHECK_H

#include <stdio.h>

#include "tensor.h"

typedef tg_tensor *(*tg_fn)(tg_tape *tp, tg_tensor *const *inputs, void *ud);

/* --- derivative transforms ---------------------------------------------- */
/* Each runs f on leaf copies of the inputs made on tp, and leaves its
 * results (values, not graphs) on tp. n is the number of inputs. */

/* y = f(x); vjp[i] = v^T dy/dx_i (v has y's shape; NULL for a one-element
 * y). y may be NULL if not wanted. */
tg_status tg_vjp(tg_tape *tp, tg_fn f, void *ud, int n, tg_tensor *const *x,
                 tg_tensor *v, tg_tensor **y, tg_tensor **vjp);
/* y = f(x); jvp = sum_i (dy/dx_i) t_i, with t_i of x_i's shape (the
 * directional derivative), computed by the double-vjp trick. */
tg_status tg_jvp(tg_tape *tp, tg_fn f, void *ud, int n, tg_tensor *const *x,
                 tg_tensor *const *t, tg_tensor **y, tg_tensor **jvp);
/* dy/dx_wrt as a tensor of shape y.shape ++ x_wrt.shape. */
tg_tensor *tg_jacobian(tg_tape *tp, tg_fn f, void *ud, int n,
                       tg_tensor *const *x, int wrt);
/* For a one-element f: d^2 f / dx_wrt^2, shape x_wrt.shape ++ x_wrt.shape. */
tg_tensor *tg_hessian(tg_tape *tp, tg_fn f, void *ud, int n,
                      tg_tensor *const *x, int wrt);
/* For a one-element f: hv[i] = sum_j (d^2 f / dx_i dx_j) v_j, by double
 * backward (never forming the Hessian). */
tg_status tg_hvp(tg_tape *tp, tg_fn f, void *ud, int n, tg_tensor *const *x,
                 tg_tensor *const *v, tg_tensor **hv);

/* --- gradcheck ----------------------------------------------------------- */

#define TG_GRADCHECK_MAX_INPUTS 16

typedef struct tg_gradcheck_opts {
  /* Step and tolerances; 0 picks the default for the inputs' dtype (f64:
   * eps 1e-6, atol 1e-5, rtol 1e-3; f32: eps 1e-3, atol 1e-2, rtol 1e-2).
   * An element passes when |analytic - numeric| <= atol + rtol |numeric|. */
  double eps, atol, rtol;
  uint64_t seed;    /* random projections and seeds; same seed, same run */
  uint32_t inputs;  /* bit i set: check input i; 0 checks every input */
  bool fast;        /* compare u^T J v for random u, v, not all of J */
  int projections;  /* fast mode: how many (u, v) pairs; 0 means 4 */
  bool no_pinpoint; /* on failure, do not search for the culprit node */
} tg_gradcheck_opts;

void tg_gradcheck_defaults(tg_gradcheck_opts *opts);

/* The verdict for one input. In fast mode the "element" is a projection. */
typedef struct tg_gradcheck_input {
  bool checked, passed;
  tg_dtype dtype;
  int ndim;
  int64_t shape[TG_MAX_DIMS];
  int64_t n_failed;     /* elements (or projections) out of tolerance */
  int64_t n_kinks;      /* where one-sided differences disagree */
  int64_t worst_index;  /* flat index in the input (-1: none) */
  int64_t worst_output; /* flat index in the output (-1: a projection) */
  double analytic, numeric, abs_err, rel_err; /* at the worst element */
} tg_gradcheck_input;

/* The first node on the tape whose backward rule disagrees with finite
 * differences on its actual inputs. */
typedef struct tg_node_check {
  bool found;
  int nodes_checked;
  int position;      /* on the tape, from 0 */
  char op[80];       /* "tg_matmul", "custom op 'scale'" */
  char inputs[256];  /* "[3x4] f64, [4] f64" */
  char location[96]; /* "model.c:42" when recorded with tg_set_location */
  int input;         /* which input's gradient disagrees, from 0 */
  double analytic, numeric;
  char error[512]; /* when the node's backward failed outright */
} tg_node_check;

typedef struct tg_gradcheck_report {
  bool passed;
  int order; /* 1: gradcheck, 2: gradgradcheck */
  bool fast;
  double eps, atol, rtol;
  uint64_t seed;
  int n_inputs;
  tg_gradcheck_input inputs[TG_GRADCHECK_MAX_INPUTS];
  bool reentrant;        /* two backward sweeps gave bitwise-equal gradients */
  bool linear;           /* 2u gave twice the gradients of u, and 0 gave 0 */
  tg_node_check culprit; /* filled when the check failed */
  char warnings[512];
  char backward_error[512]; /* backward itself failed: a FAIL, with why */
  char error[512];          /* why the check could not run, if it could not */
} tg_gradcheck_report;

/* Compares the Jacobian of f from backward with central finite differences
 * (in the inputs' dtype; f64 is the default and the reliable choice). The
 * report says pass or fail and, per input, the worst element. On failure
 * it re-checks every node of f's tape to name the first wrong rule.
 * Returns TG_OK when the check ran (whatever its verdict); an error status
 * when it could not (then report->error says why). */
tg_status tg_gradcheck(tg_fn f, void *ud, int n, tg_tensor *const *inputs,
                       const tg_gradcheck_opts *opts,
                       tg_gradcheck_report *report);
/* The same for second derivatives: checks the gradient of
 * h(x) = sum_i <d(u^T f)/dx_i, w_i> for random u and w. */
tg_status tg_gradgradcheck(tg_fn f, void *ud, int n, tg_tensor *const *inputs,
                           const tg_gradcheck_opts *opts,
                           tg_gradcheck_report *report);
/* Re-checks every node recorded on tp, in order, on its actual inputs
 * (converted to f64 where the op allows); stops at the first whose backward
 * rule disagrees with finite differences. */
tg_status tg_check_nodes(tg_tape *tp, const tg_gradcheck_opts *opts,
                         tg_node_check *result);
/* A short human-readable account of a report. */
void tg_gradcheck_fprint(FILE *f, const tg_gradcheck_report *report);

#endif
