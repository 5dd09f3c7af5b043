/* Max pooling as three primitives, read straight from the input without
 * copying windows out (unfold would copy every window, and a reduction
 * over the copies would need a fold back):
 *
 *   max_pool(x)            each window's maximum
 *   max_pool_scatter(g, x) g sent to each window's maximum of x
 *   max_pool_gather(h, x)  h read at each window's maximum of x
 *
 * For a fixed x, scatter and gather are linear maps and each other's
 * adjoint, so each is the other's backward rule, and max_pool's is the
 * scatter. Which position is a window's maximum does not move under a small
 * change of x, so no gradient flows into the x that chooses. The three
 * differentiate to any order. Ties share equally (the rule of tg_max). */
#include "../core/internal.h"
#include "../kernels/kernels.h"

typedef enum { MP_MAX, MP_SCATTER, MP_GATHER } mp_kind;

static tg_tensor *max_pool_op(tg_tape *tp, mp_kind kind, tg_tensor *x,
                              tg_tensor *s, const tg_window *w);

static void max_pool_backward(tg_tape *tp, tg_node *n, tg_tensor *g,
                              tg_tensor **gin) {
  tg_window w = tg__window_of(n);
  gin[0] = max_pool_op(tp, MP_SCATTER, n->inputs[0], g, &w);
}
static tg_tensor *max_pool_replay(tg_tape *tp, const tg_node *n,
                                  tg_tensor *const *in) {
  tg_window w = tg__window_of(n);
  return max_pool_op(tp, MP_MAX, in[0], NULL, &w);
}
static const tg_op_def OP_MAX_POOL = {
    .name = "max_pool",
    .backward = max_pool_backward,
    .replay = max_pool_replay,
    .rule = "the gradient goes to each window's maximum, shared among ties",
    .saves = TG_SAVES_INPUT(0)};

/* scatter and gather: input 0 is the linear argument, input 1 the x that
 * chooses the positions (no gradient) */
static void scatter_backward(tg_tape *tp, tg_node *n, tg_tensor *g,
                             tg_tensor **gin) {
  tg_window w = tg__window_of(n);
  gin[0] = max_pool_op(tp, MP_GATHER, n->inputs[1], g, &w);
}
static tg_tensor *scatter_replay(tg_tape *tp, const tg_node *n,
                                 tg_tensor *const *in) {
  tg_window w = tg__window_of(n);
  return max_pool_op(tp, MP_SCATTER, in[1], in[0], &w);
}
static const tg_op_def OP_MAX_POOL_SCATTER = {
    .name = "max_pool_scatter",
    .backward = scatter_backward,
    .replay = scatter_replay,
    .rule = "the gradient is read back at each window's maximum",
    .saves = TG_SAVES_INPUT(1)};

static void gather_backward(tg_tape *tp, tg_node *n, tg_tensor *g,
                            tg_tensor **gin) {
  tg_window w = tg__window_of(n);
  gin[0] = max_pool_op(tp, MP_SCATTER, n->inputs[1], g, &w);
}
static tg_tensor *gather_replay(tg_tape *tp, const tg_node *n,
                                tg_tensor *const *in) {
  tg_window w = tg__window_of(n);
  return max_pool_op(tp, MP_GATHER, in[1], in[0], &w);
}
static const tg_op_def OP_MAX_POOL_GATHER = {
    .name = "max_pool_gather",
    .backward = gather_backward,
    .replay = gather_replay,
    .rule = "the gradient is sent back to each window's maximum",
    .saves = TG_SAVES_INPUT(1)};

static const char *const FNAMES[3] = {"tg_max_pool2d", "max_pool_scatter",
                                      "max_pool_gather"};

/* x [N, C, L] or [N, C, H, W]; s the scatter's g (x's pooled shape) or the
 * gather's h (x's shape). */
static tg_tensor *max_pool_op(tg_tape *tp, mp_kind kind, tg_tensor *x,
                              tg_tensor *s, const tg_window *w) {
  const char *fname = FNAMES[kind];
  tg_tensor *in[2] = {kind == MP_MAX ? x : s, x};
  int n_in = kind == MP_MAX ? 1 : 2;
  if (!tg__inputs_ok(tp, fname, n_in, in)) return NULL;
  char bx[96], bs[96];
  if (x->ndim != 3 && x->ndim != 4)
    return tg__fail(tp, TG_ERR_SHAPE,
                    "%s: input must be [N, C, L] or [N, C, H, W], got %s",
                    fname, tg_shape_str(x, bx, sizeof bx));
  int nsp = x->ndim - 2;
  tg_k_window k;
  if (!tg__window_check(tp, fname, w, nsp, x->shape[0], x->shape[1],
                        x->shape + 2, &k))
    return NULL;
  int64_t pooled[4] = {k.n, k.c, nsp == 2 ? k.oh : k.ow, k.ow};
  if (kind != MP_MAX) {
    const int64_t *want = kind == MP_SCATTER ? pooled : x->shape;
    bool ok = s->ndim == x->ndim && s->dtype == x->dtype;
    for (int d = 0; ok && d < x->ndim; d++)
      ok = s->shape[d] == want[d];
    if (!ok)
      return tg__fail(tp, TG_ERR_SHAPE,
                      "%s: %s %s %s does not match the input %s %s", fname,
                      kind == MP_SCATTER ? "gradient" : "values",
                      tg_dtype_name(s->dtype), tg_shape_str(s, bs, sizeof bs),
                      tg_dtype_name(x->dtype), tg_shape_str(x, bx, sizeof bx));
  }
  tg_tensor *xc = tg__contiguous_data(tp, fname, x);
  tg_tensor *sc = s && xc ? tg__contiguous_data(tp, fname, s) : NULL;
  if (!xc || (s && !sc)) return NULL;
  tg_tensor *out = tg__new_tensor(tp, fname, x->dtype, x->ndim,
                                  kind == MP_SCATTER ? x->shape : pooled);
  if (!out) return NULL;
  if (kind == MP_MAX)
    tg_k_max_pool(x->dtype, &k, xc->data, out->data);
  else if (kind == MP_SCATTER)
    tg_k_max_pool_scatter(x->dtype, &k, xc->data, sc->data, out->data);
  else
    tg_k_max_pool_gather(x->dtype, &k, xc->data, sc->data, out->data);
  static const tg_op_def *const OPS[3] = {&OP_MAX_POOL, &OP_MAX_POOL_SCATTER,
                                          &OP_MAX_POOL_GATHER};
  tg_node *n;
  if (!tg__record(tp, OPS[kind], n_in, in, out, &n)) return NULL;
  int64_t args[10];
  tg__window_args(w, NULL, 0, args);
  if (n && !tg__node_set_extra(tp, n, args, 10)) return NULL;
  return out;
}

tg_tensor *tg__max_pool(tg_tape *tp, tg_tensor *x, const tg_window *w) {
  return max_pool_op(tp, MP_MAX, x, NULL, w);
}
