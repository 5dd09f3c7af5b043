/* Fuzzes the ops and the reverse sweep: the bytes drive a random op graph.
 *
 * A run makes 1 to 3 leaf tensors (f32 or f64, up to 4 axes of sides 0 to
 * 4, values from the bytes: finite, within [-4, 4]), then applies up to
 * MAX_STEPS random ops (unary, broadcasting binary, comparisons and where,
 * reductions over random axes, matmul and addmm, movement, slicing, concat,
 * pad, gather, scatter_add, index_select, one_hot, the softmax family,
 * unfold and fold), each on tensors made so far with arguments from the bytes
 * (mostly sensible, sometimes wrong, now and then extreme). It then sums
 * everything to a scalar and runs tg_backward, and, as the bytes say, a second
 * tg_backward and tg_grad with and without create_graph followed by a
 * second-order tg_grad.
 *
 * Properties checked:
 *   - every call either succeeds without an error on the tape or fails with
 *     an error and a non-empty message (the error is then cleared and the
 *     run goes on);
 *   - every tensor returned is well-formed and every element can be read
 *     (AddressSanitizer checks the reads against the strides);
 *   - an op that is smooth on its inputs (log and sqrt of values >= 1e-3,
 *     division by values of magnitude >= 1e-3, ...) gives no NaN from
 *     finite inputs of magnitude <= 1e4;
 *   - when every op of the graph was smooth and every value stayed within
 *     1e4, no gradient (of a leaf or, retained, of an intermediate) is NaN
 *     unless some gradient is itself huge (> 1e15) or infinite;
 *   - gradients have their tensor's shape and dtype; tg_grad agrees with
 *     tg_backward, and a second tg_backward doubles the leaves' gradients,
 *     up to the rounding of a different order of summation (tg_backward
 *     adds some gradients straight into the leaves' buffers, where tg_grad
 *     sums them apart first);
 *   - the tape, the heap tensors and their gradients are all freed
 *     (LeakSanitizer). */
#include <math.h>

#include "fuzz_common.h"

#define MAX_LEAVES 3
#define MAX_POOL 48
#define MAX_STEPS 24
#define MAX_NUMEL 4096 /* larger results are checked, then not used again */
#define MAX_HEAP (MAX_POOL + MAX_LEAVES)
#define TAME 1e4 /* values within this stay far from overflow */
#define HUGE_GRAD 1e15

/* --- the bytes ------------------------------------------------------------ */

typedef struct bytes {
  const uint8_t *p;
  size_t n, i;
} bytes;

static unsigned u8(bytes *b) { return b->i < b->n ? b->p[b->i++] : 0; }
static bool more(bytes *b) { return b->i < b->n; }
static int pick(bytes *b, int k) {
  return k > 0 ? (int)(u8(b) % (unsigned)k) : 0;
}
/* true with probability about 1/k */
static bool one_in(bytes *b, int k) { return pick(b, k) == 0; }

/* Arguments that must be refused without a large allocation: negative,
 * or large enough that any product or sum with them overflows. */
static const int64_t EXTREME[] = {
    -1, -3, INT64_MIN, INT64_MAX, (int64_t)1 << 62, -((int64_t)1 << 62)};
static const int EXTREME_INT[] = {-1, -9, 8, 100, INT32_MIN, INT32_MAX};

/* A small integer in [lo, lo + span), now and then an extreme one. */
static int64_t arg(bytes *b, int64_t lo, int span) {
  unsigned v = u8(b);
  if (v >= 250) return EXTREME[v % 6];
  return lo + (int64_t)(v % (unsigned)span);
}

/* An axis of a tensor of ndim axes: in range mostly (negative ones too),
 * sometimes just outside, now and then extreme. */
static int axis_of(bytes *b, int ndim) {
  unsigned v = u8(b);
  if (v >= 250) return EXTREME_INT[v % 6];
  return (int)(v % (unsigned)(2 * ndim + 2)) - ndim - 1;
}

/* --- the run -------------------------------------------------------------- */

typedef struct stats {
  bool nan, inf;
  double maxabs, min, minabs;
} stats;

static bool tame(const stats *s) {
  return !s->nan && !s->inf && s->maxabs <= TAME;
}

typedef struct slot {
  tg_tensor *t;
  stats st;
} slot;

typedef struct run {
  tg_tape *tp;
  bytes in;
  tg_dtype dtype;
  slot pool[MAX_POOL];
  int n;
  tg_tensor *leaves[MAX_LEAVES]; /* made at the start, requiring a gradient */
  int n_leaves;
  tg_tensor *heap[MAX_HEAP]; /* freed at the end */
  int n_heap;
  /* Every op so far was smooth on its inputs and every value tame: the
   * gradients must then be free of NaN. */
  bool smooth;
  double vals[MAX_NUMEL], buf[MAX_NUMEL]; /* scratch */
} run;

static stats measure(run *r, const tg_tensor *t) {
  stats s = {false, false, 0, INFINITY, INFINITY};
  if (t->numel > MAX_NUMEL) fuzz_fail("measure: tensor too large");
  if (tg_copy_out_f64(t, r->vals) != TG_OK)
    fuzz_fail("tg_copy_out_f64 failed on a tensor an op returned");
  for (int64_t i = 0; i < t->numel; i++) {
    double v = r->vals[i];
    if (isnan(v)) {
      s.nan = true;
      continue;
    }
    if (isinf(v)) s.inf = true;
    if (fabs(v) > s.maxabs) s.maxabs = fabs(v);
    if (v < s.min) s.min = v;
    if (fabs(v) < s.minabs) s.minabs = fabs(v);
  }
  return s;
}

static void track_heap(run *r, tg_tensor *t) {
  if (r->n_heap == MAX_HEAP) fuzz_fail("too many heap tensors");
  r->heap[r->n_heap++] = t;
}

/* Checks the outcome of one call: NULL with an error (which is then
 * cleared), or a well-formed tensor and no error. A tensor small enough is
 * measured: smooth says the op is smooth on these inputs, in_tame that the
 * inputs were tame, and then the result must hold no NaN. Returns the
 * tensor if it is small enough to be used again, else NULL. */
static tg_tensor *checked(run *r, tg_tensor *out, const char *what, bool smooth,
                          bool in_tame, stats *st) {
  if (!out) {
    fuzz_expect_error(r->tp, what);
    tg_clear_error(r->tp);
    return NULL;
  }
  fuzz_expect_no_error(r->tp, what);
  fuzz_check_tensor(out, what);
  if (out->numel > MAX_NUMEL) return NULL;
  *st = measure(r, out);
  if (smooth && in_tame && st->nan)
    fuzz_fail("%s: NaN from finite inputs within %g", what, TAME);
  return out;
}

/* checked(), then the result joins the pool of operands. */
static tg_tensor *took(run *r, tg_tensor *out, const char *what, bool smooth,
                       bool in_tame) {
  stats st;
  if (!checked(r, out, what, smooth, in_tame, &st)) return NULL;
  if (!smooth || !tame(&st)) r->smooth = false;
  for (int i = 0; i < r->n; i++)
    if (r->pool[i].t == out) return out; /* x itself, returned again */
  if (r->n < MAX_POOL) r->pool[r->n++] = (slot){out, st};
  return out;
}

static slot *any(run *r) { return &r->pool[pick(&r->in, r->n)]; }

static stats stats_of(run *r, const tg_tensor *t) {
  for (int i = 0; i < r->n; i++)
    if (r->pool[i].t == t) return r->pool[i].st;
  return measure(r, t);
}

/* --- making tensors ------------------------------------------------------- */

static double value(bytes *b) { return ((double)u8(b) - 128.0) / 32.0; }

static int random_shape(bytes *b, int max_ndim, int64_t *shape) {
  int nd = pick(b, max_ndim + 1);
  for (int d = 0; d < nd; d++)
    shape[d] = pick(b, 5);
  return nd;
}

static int64_t count(int nd, const int64_t *shape) {
  int64_t n = 1;
  for (int d = 0; d < nd; d++)
    n *= shape[d];
  return n;
}

/* A leaf (arena, or heap like a parameter) with values from the bytes. */
static tg_tensor *make_leaf(run *r, tg_dtype dt, bool heap) {
  int64_t shape[TG_MAX_DIMS];
  int nd = random_shape(&r->in, 4, shape);
  double v[256];
  int64_t n = count(nd, shape);
  for (int64_t i = 0; i < n; i++)
    v[i] = value(&r->in);
  tg_tensor *t;
  if (heap) {
    t = tg_tensor_new(r->tp, dt, nd, shape);
    if (!t) fuzz_fail("tg_tensor_new failed: %s", tg_errmsg(r->tp));
    track_heap(r, t);
    tg_tensor *tmp = tg_from_f64(r->tp, dt, nd, shape, v);
    if (!tmp || tg_copy_out(tmp, t->data) != TG_OK)
      fuzz_fail("filling a heap leaf failed: %s", tg_errmsg(r->tp));
  } else {
    t = tg_from_f64(r->tp, dt, nd, shape, v);
    if (!t) fuzz_fail("tg_from_f64 failed: %s", tg_errmsg(r->tp));
  }
  return t;
}

/* An index tensor for gathering from x along axis a (normalised when in
 * range): x's number of axes, sides no longer than x's off the axis, whole
 * numbers in range; sometimes one of these rules is broken. */
static tg_tensor *make_index(run *r, const tg_tensor *x, int a, bool one_d) {
  bytes *b = &r->in;
  int64_t shape[TG_MAX_DIMS];
  int nd = one_d ? 1 : x->ndim;
  if (one_in(b, 16)) nd = pick(b, 5);
  for (int d = 0; d < nd; d++) {
    int64_t side = !one_d && d < x->ndim && d != a ? x->shape[d] : 4;
    shape[d] = pick(b, side < 255 ? (int)side + 1 : 256);
    if (one_in(b, 32)) shape[d] = side + 1;
  }
  if (count(nd, shape) > MAX_NUMEL)
    for (int d = 0; d < nd; d++)
      shape[d] = 1;
  int64_t n = count(nd, shape);
  int64_t limit = a >= 0 && a < x->ndim ? x->shape[a] : 1;
  double *v = r->buf;
  for (int64_t i = 0; i < n; i++) {
    v[i] = limit > 0 ? (double)pick(b, (int)limit) : 0;
    if (one_in(b, 64)) {
      static const double BAD[] = {-1, 0.5, 1e30, -1e30, NAN, INFINITY, 4, 7};
      v[i] = BAD[pick(b, 8)];
    }
  }
  tg_dtype dt = one_in(b, 4) ? (tg_dtype)(1 - r->dtype) : r->dtype;
  tg_tensor *idx = tg_from_f64(r->tp, dt, nd, shape, v);
  if (!idx) fuzz_fail("making an index failed: %s", tg_errmsg(r->tp));
  return idx;
}

/* A partner for a binary op with x: any tensor, x itself, a slice of x that
 * broadcasts against it, or a 0-d sum of x. */
static tg_tensor *partner(run *r, tg_tensor *x) {
  bytes *b = &r->in;
  stats sx = stats_of(r, x);
  switch (pick(b, 5)) {
  case 0:
  case 1: return any(r)->t;
  case 2: return x;
  case 3:
    if (x->ndim > 0) {
      int a = pick(b, x->ndim);
      return took(r, tg_slice(r->tp, x, a, 0, 1, 1), "tg_slice (partner)", true,
                  tame(&sx));
    }
    return x;
  default:
    return took(r, tg_sum_all(r->tp, x), "tg_sum_all (partner)", true,
                tame(&sx));
  }
}

/* Makes x positive (> 0.1) for log, sqrt, pow and division, most times. */
static tg_tensor *positive(run *r, tg_tensor *x) {
  stats sx = stats_of(r, x);
  bool t = tame(&sx);
  tg_tensor *y;
  switch (pick(&r->in, 4)) {
  case 0: return x;
  case 1:
    y = took(r, tg_abs(r->tp, x), "tg_abs", true, t);
    return y ? took(r, tg_add_scalar(r->tp, y, 0.25), "tg_add_scalar", true, t)
             : NULL;
  default:
    y = took(r, tg_sigmoid(r->tp, x), "tg_sigmoid", true, t);
    return y ? took(r, tg_add_scalar(r->tp, y, 0.1), "tg_add_scalar", true, t)
             : NULL;
  }
}

static tg_window random_window(bytes *b) {
  tg_window w;
  for (int d = 0; d < 2; d++) {
    w.kernel[d] = arg(b, 1, 3);
    w.stride[d] = arg(b, 0, 3);
    w.padding[d] = arg(b, 0, 3);
    w.dilation[d] = arg(b, 0, 3);
  }
  return w;
}

/* --- one op --------------------------------------------------------------- */

enum {
  OP_UNARY,
  OP_POW_SCALAR,
  OP_SCALAR,
  OP_BINARY,
  OP_DIV_POW,
  OP_COMPARE,
  OP_WHERE,
  OP_REDUCE,
  OP_REDUCE_ALL,
  OP_SUM_TO,
  OP_MATMUL,
  OP_RESHAPE,
  OP_PERMUTE,
  OP_TRANSPOSE,
  OP_EXPAND,
  OP_CONTIGUOUS,
  OP_SLICE,
  OP_CONCAT,
  OP_PAD,
  OP_GATHER,
  OP_SCATTER_ADD,
  OP_INDEX_SELECT,
  OP_ONE_HOT,
  OP_SOFTMAX,
  OP_UNFOLD,
  OP_FOLD,
  OP_CLONE,
  OP_COUNT
};

static void step(run *r) {
  bytes *b = &r->in;
  tg_tape *tp = r->tp;
  int op = pick(b, OP_COUNT);
  slot *sx = any(r);
  tg_tensor *x = sx->t;
  bool xt = tame(&sx->st);
  /* Now and then an op runs in no-grad mode (its result is a constant). */
  bool prev = tg_set_grad_enabled(tp, !one_in(b, 16));
  int64_t shape[TG_MAX_DIMS];
  switch (op) {
  case OP_UNARY: {
    int k = pick(b, 10);
    static const char *const NAMES[] = {
        "tg_neg",     "tg_exp",  "tg_log", "tg_sqrt", "tg_tanh",
        "tg_sigmoid", "tg_relu", "tg_abs", "tg_sin",  "tg_cos"};
    if (k == 2 || k == 3) {
      x = positive(r, x);
      if (!x) break;
      stats s = stats_of(r, x);
      xt = tame(&s);
      bool ok = s.min >= 1e-3;
      took(r, k == 2 ? tg_log(tp, x) : tg_sqrt(tp, x), NAMES[k], ok, xt);
      break;
    }
    tg_tensor *(*const F[])(tg_tape *, tg_tensor *) = {
        tg_neg,     tg_exp,  tg_log, tg_sqrt, tg_tanh,
        tg_sigmoid, tg_relu, tg_abs, tg_sin,  tg_cos};
    took(r, F[k](tp, x), NAMES[k], true, xt);
    break;
  }
  case OP_POW_SCALAR: {
    static const double P[] = {2, 3, 1, 0, -1, 0.5, 1.5, -2};
    double p = P[pick(b, 8)];
    bool integer = p == floor(p);
    if (!integer || p < 0) x = positive(r, x);
    if (!x) break;
    stats s = stats_of(r, x);
    bool ok = integer && p >= 0 ? true
              : integer         ? s.minabs >= 1e-3
                                : s.min >= 1e-3;
    took(r, tg_pow_scalar(tp, x, p), "tg_pow_scalar", ok, tame(&s));
    break;
  }
  case OP_SCALAR: {
    double s = value(b);
    took(r, one_in(b, 2) ? tg_mul_scalar(tp, x, s) : tg_add_scalar(tp, x, s),
         "tg_mul_scalar/tg_add_scalar", true, xt);
    break;
  }
  case OP_BINARY: {
    tg_tensor *y = partner(r, x);
    if (!y) break;
    stats sy = stats_of(r, y);
    bool in_tame = xt && tame(&sy);
    int k = pick(b, 5);
    tg_tensor *(*const F[])(tg_tape *, tg_tensor *, tg_tensor *) = {
        tg_add, tg_sub, tg_mul, tg_maximum, tg_minimum};
    static const char *const NAMES[] = {"tg_add", "tg_sub", "tg_mul",
                                        "tg_maximum", "tg_minimum"};
    if (one_in(b, 2))
      took(r, F[k](tp, x, y), NAMES[k], true, in_tame);
    else
      took(r, F[k](tp, y, x), NAMES[k], true, in_tame);
    break;
  }
  case OP_DIV_POW: {
    tg_tensor *y = partner(r, x);
    if (!y) break;
    bool is_div = one_in(b, 2);
    if (is_div) {
      y = positive(r, y);
      if (!y) break;
      stats sy = stats_of(r, y);
      took(r, tg_div(tp, x, y), "tg_div", sy.minabs >= 1e-3, xt && tame(&sy));
    } else {
      x = positive(r, x);
      if (!x) break;
      stats sx2 = stats_of(r, x), sy = stats_of(r, y);
      took(r, tg_pow(tp, x, y), "tg_pow", sx2.min >= 1e-3,
           tame(&sx2) && tame(&sy));
    }
    break;
  }
  case OP_COMPARE: {
    tg_tensor *y = partner(r, x);
    if (!y) break;
    tg_tensor *(*const F[])(tg_tape *, tg_tensor *, tg_tensor *) = {
        tg_eq, tg_ne, tg_lt, tg_le, tg_gt, tg_ge};
    took(r, F[pick(b, 6)](tp, x, y), "comparison", true, true);
    break;
  }
  case OP_WHERE: {
    tg_tensor *m = any(r)->t, *y = partner(r, x);
    if (!y) break;
    stats sy = stats_of(r, y);
    took(r, tg_where(tp, m, x, y), "tg_where", true, xt && tame(&sy));
    break;
  }
  case OP_REDUCE: {
    /* A random set of axes (none: all of them), some counted from the
     * end; sometimes a random list instead. */
    int axes[TG_MAX_DIMS + 1], na = 0;
    if (one_in(b, 8)) {
      na = pick(b, x->ndim + 2);
      for (int i = 0; i < na; i++)
        axes[i] = axis_of(b, x->ndim);
    } else {
      unsigned set = u8(b);
      for (int d = 0; d < x->ndim; d++)
        if (set & (1u << d)) axes[na++] = set & 0x80 ? d - x->ndim : d;
    }
    bool keep = one_in(b, 2);
    int k = pick(b, 3);
    tg_tensor *out = k == 0   ? tg_sum(tp, x, na, axes, keep)
                     : k == 1 ? tg_mean(tp, x, na, axes, keep)
                              : tg_max(tp, x, na, axes, keep);
    /* The mean over an empty axis is 0/0: NaN by definition. */
    bool ok = !(k == 1 && out && x->numel == 0 && out->numel > 0);
    took(r, out, k == 0 ? "tg_sum" : k == 1 ? "tg_mean" : "tg_max", ok, xt);
    break;
  }
  case OP_REDUCE_ALL: {
    bool mean = one_in(b, 2);
    took(r, mean ? tg_mean_all(tp, x) : tg_sum_all(tp, x),
         mean ? "tg_mean_all" : "tg_sum_all", !(mean && x->numel == 0), xt);
    break;
  }
  case OP_SUM_TO: {
    /* x's shape without some leading axes and with some sides set to 1. */
    int lead = pick(b, x->ndim + 1), nd = x->ndim - lead;
    for (int d = 0; d < nd; d++)
      shape[d] = one_in(b, 3) ? 1 : x->shape[lead + d];
    if (one_in(b, 16)) nd = random_shape(b, 4, shape);
    took(r, tg_sum_to(tp, x, nd, shape), "tg_sum_to", true, xt);
    break;
  }
  case OP_MATMUL: {
    tg_tensor *y = any(r)->t;
    tg_tensor *xT = x->ndim >= 2 ? tg_transpose(tp, x, -1, -2) : x;
    tg_tensor *yT = y->ndim >= 2 ? tg_transpose(tp, y, -1, -2) : y;
    if (!xT || !yT) /* cannot fail on two axes or more */
      fuzz_fail("tg_transpose of the last two axes failed: %s", tg_errmsg(tp));
    tg_tensor *a = x, *c = y;
    switch (pick(b, 4)) {
    case 0: break;
    case 1: c = xT; break;
    case 2:
      a = xT;
      c = x;
      break;
    default: c = yT; break;
    }
    stats sa = stats_of(r, a), sc = stats_of(r, c);
    if (one_in(b, 3)) {
      /* addmm: any operand of the pool as the addend, most often one that
       * does not broadcast to the product */
      slot *sd = any(r);
      took(r, tg_addmm(tp, sd->t, a, c), "tg_addmm", true,
           tame(&sa) && tame(&sc) && tame(&sd->st));
    } else {
      took(r, tg_matmul(tp, a, c), "tg_matmul", true, tame(&sa) && tame(&sc));
    }
    break;
  }
  case OP_RESHAPE: {
    int nd;
    switch (pick(b, 5)) {
    case 0:
      nd = 1;
      shape[0] = -1;
      break;
    case 1: /* the sides reversed: always the same count */
      nd = x->ndim;
      for (int d = 0; d < nd; d++)
        shape[d] = x->shape[nd - 1 - d];
      break;
    case 2:
      nd = 2;
      shape[0] = arg(b, 0, 5);
      shape[1] = -1;
      break;
    case 3: /* a side of 1 added */
      nd = x->ndim < TG_MAX_DIMS ? x->ndim + 1 : x->ndim;
      for (int d = 0, k = pick(b, nd); d < nd; d++)
        shape[d] = d < k ? x->shape[d] : d == k ? 1 : x->shape[d - 1];
      break;
    default:
      nd = random_shape(b, 4, shape);
      if (nd && one_in(b, 4)) shape[pick(b, nd)] = arg(b, -1, 3);
      break;
    }
    took(r, tg_reshape(tp, x, nd, shape), "tg_reshape", true, xt);
    break;
  }
  case OP_PERMUTE: {
    int perm[TG_MAX_DIMS];
    for (int d = 0; d < x->ndim; d++)
      perm[d] = d;
    for (int d = x->ndim - 1; d > 0; d--) { /* Fisher-Yates */
      int j = pick(b, d + 1), t = perm[d];
      perm[d] = perm[j];
      perm[j] = t;
    }
    if (x->ndim > 0 && one_in(b, 16)) perm[pick(b, x->ndim)] = axis_of(b, 4);
    took(r, tg_permute(tp, x, perm), "tg_permute", true, xt);
    break;
  }
  case OP_TRANSPOSE: {
    int a0 = axis_of(b, x->ndim), a1 = axis_of(b, x->ndim);
    took(r, tg_transpose(tp, x, a0, a1), "tg_transpose", true, xt);
    break;
  }
  case OP_EXPAND: {
    /* New leading axes, and sides of 1 stretched. */
    int lead = pick(b, 3), nd = x->ndim + lead;
    if (nd > TG_MAX_DIMS) nd = TG_MAX_DIMS, lead = nd - x->ndim;
    for (int d = 0; d < nd; d++) {
      int xd = d - lead;
      shape[d] = xd < 0 || x->shape[xd] == 1 ? arg(b, 0, 4) : x->shape[xd];
      if (one_in(b, 32)) shape[d] = arg(b, -1, 6);
    }
    took(r, tg_expand(tp, x, nd, shape), "tg_expand", true, xt);
    break;
  }
  case OP_CONTIGUOUS:
    took(r, tg_contiguous(tp, x), "tg_contiguous", true, xt);
    break;
  case OP_SLICE: {
    int a = axis_of(b, x->ndim);
    int64_t start = arg(b, -5, 11), stop = arg(b, -5, 11);
    if (one_in(b, 4)) stop = INT64_MAX;
    int64_t st = one_in(b, 16) ? arg(b, -1, 3) : arg(b, 1, 3);
    took(r, tg_slice(tp, x, a, start, stop, st), "tg_slice", true, xt);
    break;
  }
  case OP_CONCAT: {
    tg_tensor *xs[3] = {x, x, x};
    int n = 1 + pick(b, 3);
    bool in_tame = xt;
    for (int i = 1; i < n; i++) {
      if (one_in(b, 2)) {
        slot *s = any(r);
        xs[i] = s->t;
        in_tame = in_tame && tame(&s->st);
      }
    }
    took(r, tg_concat(tp, n, xs, axis_of(b, x->ndim)), "tg_concat", true,
         in_tame);
    break;
  }
  case OP_PAD: {
    int64_t pads[2 * TG_MAX_DIMS];
    for (int d = 0; d < 2 * x->ndim; d++)
      pads[d] = one_in(b, 16) ? arg(b, -2, 2) : arg(b, 0, 3);
    took(r, tg_pad(tp, x, pads, value(b)), "tg_pad", true, xt);
    break;
  }
  case OP_GATHER: {
    int a = axis_of(b, x->ndim);
    int an = a < 0 ? a + x->ndim : a;
    tg_tensor *idx = make_index(r, x, an, false);
    took(r, tg_gather(tp, x, a, idx), "tg_gather", true, xt);
    break;
  }
  case OP_SCATTER_ADD: {
    int a = axis_of(b, x->ndim);
    int an = a < 0 ? a + x->ndim : a;
    tg_tensor *idx = make_index(r, x, an, false);
    /* The source: a new leaf of the index's shape, needing a gradient. */
    for (int64_t i = 0; i < idx->numel; i++)
      r->buf[i] = value(b);
    tg_dtype dt = one_in(b, 16) ? (tg_dtype)(1 - x->dtype) : x->dtype;
    tg_tensor *src = tg_from_f64(tp, dt, idx->ndim, idx->shape, r->buf);
    if (!src) fuzz_fail("making a source failed: %s", tg_errmsg(tp));
    tg_set_requires_grad(src, true);
    took(r, tg_scatter_add(tp, x, a, idx, src), "tg_scatter_add", true, xt);
    break;
  }
  case OP_INDEX_SELECT: {
    int a = axis_of(b, x->ndim);
    int an = a < 0 ? a + x->ndim : a;
    tg_tensor *idx = make_index(r, x, an, true);
    took(r, tg_index_select(tp, x, a, idx), "tg_index_select", true, xt);
    break;
  }
  case OP_ONE_HOT: {
    int64_t classes = pick(b, 6) - (one_in(b, 16) ? 2 : 0);
    tg_tensor *idx = make_index(r, x, -1, false);
    took(r, tg_one_hot(tp, idx, classes, r->dtype), "tg_one_hot", true, true);
    break;
  }
  case OP_SOFTMAX: {
    int a = axis_of(b, x->ndim), k = pick(b, 3);
    tg_tensor *out = k == 0   ? tg_softmax(tp, x, a)
                     : k == 1 ? tg_log_softmax(tp, x, a)
                              : tg_logsumexp(tp, x, a, one_in(b, 2));
    took(r, out,
         k == 0   ? "tg_softmax"
         : k == 1 ? "tg_log_softmax"
                  : "tg_logsumexp",
         true, xt);
    break;
  }
  case OP_UNFOLD: {
    /* Inputs that are not [N, C, L] or [N, C, H, W] become [1, 1, numel] or
     * [1, 1, H, W] first (most of the time). */
    if (x->ndim != 3 && x->ndim != 4 && !one_in(b, 8)) {
      int64_t s4[4] = {1, 1, x->ndim == 2 ? x->shape[0] : x->numel,
                       x->ndim == 2 ? x->shape[1] : 0};
      x = took(r, tg_reshape(tp, x, x->ndim == 2 ? 4 : 3, s4), "tg_reshape",
               true, xt);
      if (!x) break;
    }
    tg_window w = random_window(b);
    took(r, tg_unfold(tp, x, &w), "tg_unfold", true, xt);
    /* and, on images, max pooling over the same window (no bytes of its
     * own, so the inputs of the corpus keep their meaning); not smooth:
     * the inputs' few values tie often */
    if (x->ndim == 4)
      took(r, tg_max_pool2d(tp, x, &w), "tg_max_pool2d", false, xt);
    break;
  }
  case OP_FOLD: {
    tg_window w = random_window(b);
    int nsp = 1 + pick(b, 2);
    int64_t size[2] = {arg(b, 0, 6), arg(b, 0, 6)};
    took(r, tg_fold(tp, x, one_in(b, 32) ? 3 : nsp, size, &w), "tg_fold", true,
         xt);
    break;
  }
  default: { /* a detached heap copy, a constant from now on */
    tg_tensor *c = tg_tensor_clone(tp, x);
    if (c) track_heap(r, c);
    took(r, c, "tg_tensor_clone", true, xt);
    break;
  }
  }
  tg_set_grad_enabled(tp, prev);
}

/* --- the backward sweeps -------------------------------------------------- */

/* g is a well-formed gradient for t. */
static void check_grad(const tg_tensor *t, const tg_tensor *g,
                       const char *what) {
  fuzz_check_tensor(g, what);
  bool same = g->dtype == t->dtype && g->ndim == t->ndim;
  for (int d = 0; same && d < t->ndim; d++)
    same = g->shape[d] == t->shape[d];
  if (!same) {
    char a[96], c[96];
    fuzz_fail("%s: a gradient %s %s for a tensor %s %s", what,
              tg_shape_str(g, a, sizeof a), tg_dtype_name(g->dtype),
              tg_shape_str(t, c, sizeof c), tg_dtype_name(t->dtype));
  }
}

/* NaN in the gradients of a smooth, tame graph is a bug, unless something
 * overflowed on the way (a huge or infinite gradient somewhere). */
static void check_nan(run *r, tg_tensor *const *grads, int n,
                      const char *what) {
  if (!r->smooth) return;
  bool nan = false, big = false;
  int where = -1;
  for (int i = 0; i < n; i++) {
    if (!grads[i] || grads[i]->numel > MAX_NUMEL) continue;
    stats s = measure(r, grads[i]);
    if (s.nan && where < 0) where = i;
    nan = nan || s.nan;
    big = big || s.inf || s.maxabs > HUGE_GRAD;
  }
  if (nan && !big)
    fuzz_fail("%s: NaN in a gradient (#%d) of a smooth graph whose values "
              "stayed within %g",
              what, where, TAME);
}

static bool same_values(run *r, const tg_tensor *a, const tg_tensor *b,
                        double factor) {
  static double va[MAX_NUMEL], vb[MAX_NUMEL];
  if (a->numel != b->numel || a->numel > MAX_NUMEL) return false;
  (void)r;
  tg_copy_out_f64(a, va);
  tg_copy_out_f64(b, vb);
  /* Sums taken in another order round differently; a missing or doubled
   * contribution is off by far more than this, relative to the largest
   * element of either tensor. */
  double scale = 1;
  for (int64_t i = 0; i < a->numel; i++) {
    if (isfinite(va[i]) && fabs(va[i] * factor) > scale)
      scale = fabs(va[i] * factor);
    if (isfinite(vb[i]) && fabs(vb[i]) > scale) scale = fabs(vb[i]);
  }
  double tol = (b->dtype == TG_F32 ? 1e-3 : 1e-9) * scale;
  for (int64_t i = 0; i < a->numel; i++) {
    /* twice a gradient, rounded (or overflowing) in its dtype */
    double x = va[i] * factor, y = vb[i];
    if (b->dtype == TG_F32) x = (float)x;
    if (x == y || (isnan(x) && isnan(y))) continue;
    if (!isfinite(x) || !isfinite(y) || fabs(x - y) > tol) return false;
  }
  return true;
}

static void backward(run *r, unsigned flags) {
  tg_tape *tp = r->tp;
  /* The loss: the sum of every tensor of the run's dtype that needs a
   * gradient, so every op of the graph takes part in the sweep. (No op
   * turns one dtype into the other: a leaf of the other dtype gets no
   * gradient.) */
  tg_tensor *loss = NULL;
  stats st;
  for (int i = 0; i < r->n; i++) {
    tg_tensor *t = r->pool[i].t;
    if (!t->requires_grad || t->dtype != r->dtype) continue;
    if (t->node) tg_retain_grad(t);
    bool tm = tame(&r->pool[i].st);
    tg_tensor *s =
        checked(r, tg_sum_all(tp, t), "tg_sum_all (loss)", true, tm, &st);
    if (!s) fuzz_fail("tg_sum_all of a pool tensor failed");
    loss = loss ? checked(r, tg_add(tp, loss, s), "tg_add (loss)", true, false,
                          &st)
                : s;
    if (!loss) fuzz_fail("tg_add of two scalars failed");
  }
  if (!loss && r->pool[r->n - 1].t->requires_grad) return; /* other dtype */
  if (!loss) {
    /* Nothing needs a gradient: tg_backward must refuse cleanly. */
    loss = checked(r, tg_sum_all(tp, r->pool[r->n - 1].t), "tg_sum_all", true,
                   false, &st);
    if (!loss) fuzz_fail("tg_sum_all of a pool tensor failed");
    if (tg_backward(tp, loss) == TG_OK)
      fuzz_fail("tg_backward accepted an output needing no gradient");
    fuzz_expect_error(tp, "tg_backward (nothing to differentiate)");
    tg_clear_error(tp);
    return;
  }
  tg_set_anomaly_mode(tp, flags & 1);

  /* 1. tg_backward into the leaves' (and retained) grad buffers. */
  tg_tensor *first[MAX_POOL];
  bool backward_ok = false;
  if (tg_backward(tp, loss) == TG_OK) {
    fuzz_expect_no_error(tp, "tg_backward");
    backward_ok = true;
    tg_tensor *grads[MAX_POOL];
    int n = 0;
    for (int i = 0; i < r->n; i++) {
      tg_tensor *t = r->pool[i].t, *g = tg_grad_of(t);
      if (!g) continue;
      check_grad(t, g, "tg_backward");
      grads[n++] = g;
    }
    check_nan(r, grads, n, "tg_backward");
    for (int i = 0; i < r->n_leaves; i++) {
      first[i] = tg_grad_of(r->leaves[i]);
      if (r->leaves[i]->dtype != r->dtype) {
        if (first[i]) fuzz_fail("a leaf of the other dtype has a gradient");
        continue;
      }
      if (!first[i])
        fuzz_fail("tg_backward left leaf #%d without a gradient", i);
      first[i] = tg_tensor_clone(tp, first[i]); /* before a second sweep */
      if (!first[i]) fuzz_fail("cloning a gradient failed: %s", tg_errmsg(tp));
      track_heap(r, first[i]);
    }
    /* 2. A second sweep adds the same gradients again. */
    if (flags & 2) {
      if (tg_backward(tp, loss) == TG_OK) {
        for (int i = 0; i < r->n_leaves; i++)
          if (first[i] &&
              !same_values(r, first[i], tg_grad_of(r->leaves[i]), 2.0))
            fuzz_fail("a second tg_backward did not double leaf #%d's "
                      "gradient",
                      i);
      } else {
        fuzz_expect_error(tp, "tg_backward (again)");
        if (tg_error(tp) != TG_ERR_NUMERIC)
          fuzz_fail("the second tg_backward failed where the first did not: "
                    "%s",
                    tg_errmsg(tp));
        tg_clear_error(tp);
      }
    }
  } else {
    fuzz_expect_error(tp, "tg_backward");
    tg_clear_error(tp);
  }

  /* 3. tg_grad, with or without create_graph, then a second order. */
  if (!(flags & 4) || r->n_leaves == 0) return;
  bool create = flags & 8;
  tg_tensor *g1[MAX_LEAVES];
  if (tg_grad(tp, 1, &loss, NULL, r->n_leaves, r->leaves, g1, create) !=
      TG_OK) {
    fuzz_expect_error(tp, "tg_grad");
    if (backward_ok && tg_error(tp) != TG_ERR_NUMERIC)
      fuzz_fail("tg_grad failed where tg_backward did not: %s", tg_errmsg(tp));
    tg_clear_error(tp);
    return;
  }
  fuzz_expect_no_error(tp, "tg_grad");
  for (int i = 0; i < r->n_leaves; i++) {
    check_grad(r->leaves[i], g1[i], "tg_grad");
    if (r->leaves[i]->dtype != r->dtype) {
      stats z = measure(r, g1[i]);
      if (z.nan || z.maxabs != 0)
        fuzz_fail("tg_grad: an unused input's gradient is not zero");
      continue;
    }
    if (backward_ok && !same_values(r, first[i], g1[i], 1.0))
      fuzz_fail("tg_grad (create_graph %d) and tg_backward differ for leaf "
                "#%d",
                create, i);
  }
  check_nan(r, g1, r->n_leaves, "tg_grad");
  if (!create) return;
  /* h = sum of g_i * g_i: its gradient goes through every rule's rule. */
  tg_tensor *h = NULL;
  for (int i = 0; i < r->n_leaves; i++) {
    if (r->leaves[i]->dtype != r->dtype) continue;
    tg_tensor *s = tg_sum_all(tp, tg_mul(tp, g1[i], g1[i]));
    h = h ? tg_add(tp, h, s) : s;
    if (!h) break;
  }
  if (!h && tg_error(tp) == TG_OK) return; /* no leaf of the run's dtype */
  if (!h) {
    fuzz_expect_error(tp, "the second-order objective");
    tg_clear_error(tp);
    return;
  }
  fuzz_expect_no_error(tp, "the second-order objective");
  tg_tensor *g2[MAX_LEAVES];
  if (tg_grad(tp, 1, &h, NULL, r->n_leaves, r->leaves, g2, false) != TG_OK) {
    fuzz_expect_error(tp, "tg_grad (second order)");
    tg_clear_error(tp);
    return;
  }
  fuzz_expect_no_error(tp, "tg_grad (second order)");
  for (int i = 0; i < r->n_leaves; i++) {
    check_grad(r->leaves[i], g2[i], "tg_grad (second order)");
    if (g2[i]->numel <= MAX_NUMEL) measure(r, g2[i]); /* every element reads */
  }
}

/* --- the target ----------------------------------------------------------- */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static run r;
  memset(&r, 0, offsetof(run, vals));
  r.in = (bytes){data, size, 0};
  r.smooth = true;
  r.tp = tg_tape_new();
  if (!r.tp) fuzz_fail("tg_tape_new failed");
  tg_tape_seed(r.tp, 1);

  /* flags: bit 0 f64, bit 1 heap leaves, bits 2-3 leaves - 1 (1 to 3),
   * bits 4-7 the backward's options (anomaly mode, a second sweep,
   * tg_grad, create_graph). */
  unsigned flags = u8(&r.in);
  r.dtype = flags & 1 ? TG_F64 : TG_F32;
  int n_leaves = 1 + (int)((flags >> 2) & 3) % 3;
  for (int i = 0; i < n_leaves; i++) {
    unsigned lf = u8(&r.in);
    tg_dtype dt = (lf & 31) == 31 ? (tg_dtype)(1 - r.dtype) : r.dtype;
    tg_tensor *t = make_leaf(&r, dt, (flags & 2) && (lf & 1));
    bool grad = (lf & 6) != 0;
    if (grad) {
      tg_set_requires_grad(t, true);
      r.leaves[r.n_leaves++] = t;
    }
    r.pool[r.n++] = (slot){t, measure(&r, t)};
  }
  for (int s = 0; s < MAX_STEPS && more(&r.in); s++)
    step(&r);
  backward(&r, flags >> 4);

  tg_tape_free(r.tp);
  for (int i = 0; i < r.n_heap; i++)
    tg_tensor_free(r.heap[i]);
  return 0;
}
