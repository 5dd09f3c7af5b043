/* tapegrad internals shared by src/core and src/ops (not installed). */
#ifndef TG_INTERNAL_H
#define TG_INTERNAL_H

#include "tapegrad.h"

/* tensor flags */
enum {
  TG_FLAG_HEAP = 1u << 0,        /* struct and data on the heap (persistent) */
  TG_FLAG_RETAIN_GRAD = 1u << 1, /* keep an intermediate's gradient */
  TG_FLAG_VIEW = 1u << 2,        /* shares another tensor's storage */
  /* pass_grad is a buffer the current sweep made for this tensor alone
   * (dense: contiguous or a permutation of it), so the sweep may add into it
   * in place */
  TG_FLAG_GRAD_OWNED = 1u << 3,
  /* pass_grad lies in a heap leaf's persistent gradient buffer (it is that
   * buffer, or a transposed view of it): tg_backward added this pass's
   * gradient there directly, so there is nothing left to deposit */
  TG_FLAG_GRAD_IN_LEAF = 1u << 4
};

/* --- allocation: every heap allocation of the library goes through here -- */

void *tg__malloc(size_t size);
void *tg__aligned_alloc(size_t size); /* 64-byte aligned, free with tg__free */
void tg__free(void *p);

/* --- arena --------------------------------------------------------------- */

typedef struct tg_arena_chunk tg_arena_chunk;
typedef struct tg_arena {
  tg_arena_chunk *first, *current;
  size_t used;     /* bytes handed out since the last reset */
  size_t reserved; /* bytes held in chunks */
} tg_arena;

void *tg__arena_alloc(tg_arena *a, size_t size); /* 64-byte aligned or NULL */
void tg__arena_reset(tg_arena *a);
/* Whether p points into one of the arena's chunks. */
bool tg__arena_owns(const tg_arena *a, const void *p);
void tg__arena_release(tg_arena *a);

/* --- ops and nodes ------------------------------------------------------- */

/* Inputs kept inside the node; ops with more take an arena array. */
#define TG_NODE_INLINE_INPUTS 3

/* A backward rule: given the gradient of the node's output, set gin[i] to
 * the gradient of input i (or leave it NULL). Rules are written with public
 * ops, so with create_graph they are recorded like any forward op. Results
 * may have the broadcast (output) shape: the engine sums them back. */
typedef void (*tg_backward_fn)(tg_tape *tp, tg_node *n, tg_tensor *gout,
                               tg_tensor **gin);
/* Runs the node's op again on other inputs, with the node's arguments
 * (axes, exponent, shape...). Used to re-check a node's backward rule. */
typedef tg_tensor *(*tg_replay_fn)(tg_tape *tp, const tg_node *n,
                                   tg_tensor *const *inputs);

#define TG_SAVES_INPUT(i) (1u << (i))
#define TG_SAVES_OUTPUT (1u << 15)
#define TG_SAVES_ALL 0xffffu

typedef struct tg_op_def {
  const char *name; /* "exp"; errors and printing say "tg_exp" */
  tg_backward_fn backward;
  tg_replay_fn replay;
  /* The public function, for replaying ops whose only arguments are their
   * inputs (set one of the two, or a replay). */
  tg_tensor *(*unary)(tg_tape *, tg_tensor *);
  tg_tensor *(*binary)(tg_tape *, tg_tensor *, tg_tensor *);
  /* The local rule in words and symbols, for the traced reverse sweep. */
  const char *rule;
  /* What the rule reads (TG_SAVES_INPUT(i), TG_SAVES_OUTPUT): what backward
   * keeps alive, for the memory report. */
  unsigned saves;
  /* Custom ops must return gradients of exactly their inputs' shapes: the
   * engine does not sum broadcast gradients for them, so a forgotten sum is
   * an error rather than silently mended. */
  bool strict_grad_shapes;
  /* Optional: adds the gradient of input i for output gradient g straight
   * into dst, a dense buffer of the input's shape that the sweep owns, and
   * returns true; false (nothing done) when it cannot for this input or
   * layout. With dst NULL it only says whether it could. The sweep uses it
   * instead of the rule when no graph is recorded and the input already has a
   * gradient: a slice's gradient then costs its own size rather than its
   * input's, and a matrix product adds into the buffer inside the gemm (beta =
   * 1) instead of through a new tensor. */
  bool (*add_grad_into)(const tg_node *n, int i, const tg_tensor *g,
                        tg_tensor *dst);
  /* With add_grad_into: use it even for an input's first gradient (a
   * slice's would otherwise be its input's size of mostly zeros). */
  bool add_grad_first;
  /* The output is its input with the axes permuted (a view): its gradient
   * may live in the matching view of the input's gradient buffer. */
  bool permutes;
} tg_op_def;

/* The tensor owning t's storage, and its in-place write count. */
static inline tg_tensor *tg__storage(const tg_tensor *t) {
  return t->base ? t->base : (tg_tensor *)t;
}
static inline uint32_t tg__version(const tg_tensor *t) {
  return tg__storage(t)->version;
}

struct tg_node {
  const tg_op_def *op;
  int index; /* position on the tape, from 0 */
  int n_inputs;
  tg_tensor **inputs; /* inline_inputs or an arena array */
  tg_tensor *inline_inputs[TG_NODE_INLINE_INPUTS];
  tg_tensor *out;
  /* Versions of what the rule reads, taken when recorded: inputs' (in
   * versions, or an arena array past the inline inputs) and the output's. */
  uint32_t *versions;
  uint32_t inline_versions[TG_NODE_INLINE_INPUTS];
  uint32_t out_version;
  double scalar;          /* op argument: p of pow_scalar, s of mul_scalar */
  int iargs[TG_MAX_DIMS]; /* op argument: axes, permutation */
  int n_iargs;
  bool keepdim;
  const int64_t *extra; /* longer op arguments (pads, windows), in the arena */
  int n_extra;
  /* Inputs whose gradient the sweep has already added (bit i): the rule
   * leaves them out. Set and cleared around the rule's call. */
  unsigned skip_grads;
  const char *file; /* source location set by tg_set_location, if any */
  int line;
  tg_node *prev, *next;
};

/* Copies n longer arguments into the arena for the node; false on OOM. */
bool tg__node_set_extra(tg_tape *tp, tg_node *n, const int64_t *vals,
                        int count);

/* Removes (and frees) the registry's entries from position count on. */
typedef struct tg_params tg_params;
void tg__params_rollback(tg_params *ps, int count);

/* Output sides of a sliding window over in[0..nsp) (nsp = 1 or 2); false
 * when the window does not fit even once. Strides and dilations of 0 in w
 * are taken as 1. */
bool tg__window_out(const tg_window *w, int nsp, const int64_t *in,
                    int64_t *out);
/* Validates a window for an input [n, c, in[0..nsp)] and fills the kernels'
 * geometry; false with an error naming fname otherwise (src/ops/unfold.c). */
typedef struct tg_k_window tg_k_window;
bool tg__window_check(tg_tape *tp, const char *fname, const tg_window *w,
                      int nsp, int64_t n, int64_t c, const int64_t *in,
                      tg_k_window *k);
/* A window (and a fold's output size: size[0..nsp), or NULL) as a node's
 * ten extra arguments, and the window back from a node's. */
void tg__window_args(const tg_window *w, const int64_t *size, int nsp,
                     int64_t *args);
tg_window tg__window_of(const tg_node *n);
/* Max pooling of x [N, C, L] or [N, C, H, W] over windows w (strides
 * already filled in), read without copying windows (src/ops/pool.c). */
tg_tensor *tg__max_pool(tg_tape *tp, tg_tensor *x, const tg_window *w);

/* Replays an op with no arguments besides its inputs. */
tg_tensor *tg__replay_plain(tg_tape *tp, const tg_node *n,
                            tg_tensor *const *inputs);

/* "tg_exp", or "custom op 'name'": how messages name an op. */
const char *tg__op_label(const tg_op_def *op, char *buf, size_t size);

/* Anomaly mode: false (error set) when t holds NaN or Inf. */
bool tg__anomaly_check_forward(tg_tape *tp, const tg_op_def *op, int n_inputs,
                               tg_tensor *const *inputs, const tg_tensor *out);
bool tg__anomaly_check_backward(tg_tape *tp, const tg_node *n, int input,
                                const tg_tensor *grad);

struct tg_tape {
  tg_arena arena;
  tg_node *first, *last;
  size_t n_nodes;
  bool grad_enabled;
  tg_status err;
  char errmsg[512];
  uint64_t pass; /* id of the current or last backward pass */
  tg_rng rng;
  bool anomaly;     /* check every output and gradient for NaN and Inf */
  bool sweeping;    /* inside a backward sweep (gradients checked there) */
  const char *file; /* source location given by tg_set_location */
  int line;
  FILE *trace; /* tg_set_trace */
  /* Called by the sweep when tracing: event 0 begins a sweep, 1 reports a
   * node's rule (its gradients and which inputs already had one), 2 ends
   * it. Set by src/viz, so the core needs nothing of the printing. */
  void (*trace_fn)(tg_tape *tp, int event, const tg_node *n, const tg_tensor *g,
                   tg_tensor *const *gin, const bool *accumulates);
  void *trace_state;
};

/* Records the first error (later ones are dropped: the first is the cause)
 * and returns NULL, so callers can `return tg__fail(...)`. */
void *tg__fail(tg_tape *tp, tg_status code, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* NULL-checks an op's inputs; on a NULL sets an error naming the op. */
bool tg__inputs_ok(tg_tape *tp, const char *op, int n, tg_tensor *const *in);

/* "[2x3x4]" into buf. */
char *tg__shape_fmt(int ndim, const int64_t *shape, char *buf, size_t size);

/* A contiguous arena tensor with uninitialised data (the shape is checked:
 * ndim range, negative sizes, overflow). */
tg_tensor *tg__new_tensor(tg_tape *tp, const char *op, tg_dtype dtype, int ndim,
                          const int64_t *shape);
/* An arena view of x's storage with the given layout (no data copied). */
tg_tensor *tg__new_view(tg_tape *tp, const char *op, tg_tensor *x, int ndim,
                        const int64_t *shape, const int64_t *strides,
                        int64_t offset);

void tg__contiguous_strides(int ndim, const int64_t *shape, int64_t *strides);
bool tg__same_shape(const tg_tensor *a, const tg_tensor *b);

/* Appends a node if grad mode is on and an input requires a gradient, and
 * marks out as requiring one. *node is the node, or NULL when nothing was
 * recorded. Returns false (error set) only when memory ran out. */
bool tg__record(tg_tape *tp, const tg_op_def *op, int n_inputs,
                tg_tensor *const *inputs, tg_tensor *out, tg_node **node);
/* A forward-only contiguous copy of x (x itself when already contiguous);
 * nothing is recorded. */
tg_tensor *tg__contiguous_data(tg_tape *tp, const char *op, tg_tensor *x);
/* Whether an op with these inputs will be recorded. */
bool tg__will_record(const tg_tape *tp, int n, tg_tensor *const *in);
/* Whether the backward rule should compute the gradient of input i. */
static inline bool tg__needs_grad(const tg_node *n, int i) {
  return n->inputs[i] && n->inputs[i]->requires_grad &&
         !(i < 32 && (n->skip_grads >> i) & 1u);
}

/* Broadcast shape of two shapes (NumPy rules); false if incompatible. */
bool tg__broadcast_shape(int nda, const int64_t *sa, int ndb, const int64_t *sb,
                         int *nd_out, int64_t *out);
/* Strides of x seen through a broadcast to (ndim, shape): 0 on stretched
 * axes. The shape must be a valid broadcast target of x. */
void tg__broadcast_strides(const tg_tensor *x, int ndim, const int64_t *shape,
                           int64_t *strides);

/* Normalises an axis list into a bitmask; NULL-safe; false on a bad axis. */
bool tg__axes_mask(tg_tape *tp, const char *op, const tg_tensor *x, int n_axes,
                   const int *axes, unsigned *mask);

#endif
