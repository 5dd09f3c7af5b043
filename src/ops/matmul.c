/* Matrix product, 2-D and batched with broadcast batch dimensions, through
 * cblas. A transposed view is handed to BLAS with the transpose flag instead
 * of being copied, which is what makes the backward rules (g @ b^T and
 * a^T @ g) cost no copies. */
#include "../core/internal.h"
#include "../kernels/kernels.h"

/* Describes the last two axes of x (rows x cols) as a BLAS operand, or
 * returns false if the layout needs a copy first. */
static bool blas_layout(const tg_tensor *x, tg_k_matrix *mat) {
  int nd = x->ndim;
  int64_t rows = x->shape[nd - 2], cols = x->shape[nd - 1];
  int64_t rs = x->strides[nd - 2], cs = x->strides[nd - 1];
  if (cs == 1 || cols == 1) {
    int64_t ld = rows == 1 ? cols : rs;
    if (ld >= (cols > 1 ? cols : 1)) {
      mat->trans = false;
      mat->ld = ld;
      return true;
    }
  }
  if (rs == 1 || rows == 1) {
    int64_t ld = cols == 1 ? rows : cs;
    if (ld >= (rows > 1 ? rows : 1)) {
      mat->trans = true;
      mat->ld = ld;
      return true;
    }
  }
  return false;
}

static tg_tensor *matmul_impl(tg_tape *tp, const char *fname, tg_tensor *a,
                              tg_tensor *b, tg_tensor *c, bool sum_batch);

static int64_t batch_count(const tg_tensor *x) {
  int64_t n = 1;
  for (int d = 0; d < x->ndim - 2; d++)
    n *= x->shape[d];
  return n;
}

/* The gradient of an operand: p @ q over the batch, summed over the batch
 * in the gemm itself (beta = 1) when the operand was shared by the whole
 * batch, instead of a [batch, m, n] product summed afterwards. */
static tg_tensor *operand_grad(tg_tape *tp, const tg_tensor *x,
                               const tg_tensor *out, tg_tensor *p,
                               tg_tensor *q) {
  if (batch_count(x) == 1 && batch_count(out) > 1)
    return tg_reshape(tp, matmul_impl(tp, "tg_matmul", p, q, NULL, true),
                      x->ndim, x->shape);
  return tg_matmul(tp, p, q);
}

/* Whether x is a 2-D matrix stored column by column: the transpose of a
 * row-major matrix, as a dense layer's x @ W^T passes W. */
static bool column_major_2d(const tg_tensor *x) {
  return x->ndim == 2 && x->shape[0] > 1 && x->shape[1] > 1 &&
         x->strides[0] == 1 && x->strides[1] == x->shape[0];
}

/* d(a@b) = (g @ b^T, a^T @ g); other batch broadcasting is undone by the
 * engine. For a column-major b (W^T), a^T @ g is computed as (g^T @ a)^T:
 * the same numbers, laid out as W itself, so that W's gradient arrives
 * contiguous rather than as a transposed view that every later sum would
 * read across rows. Likewise for a column-major a. */
static void matmul_backward(tg_tape *tp, tg_node *n, tg_tensor *g,
                            tg_tensor **gin) {
  tg_tensor *a = n->inputs[0], *b = n->inputs[1];
  bool batched = n->out->ndim > 2; /* a 2-D operand is summed over it */
  if (tg__needs_grad(n, 0)) {
    if (column_major_2d(a) && !batched)
      gin[0] =
          tg_transpose(tp, tg_matmul(tp, b, tg_transpose(tp, g, -1, -2)), 0, 1);
    else
      gin[0] = operand_grad(tp, a, n->out, g, tg_transpose(tp, b, -1, -2));
  }
  if (tg__needs_grad(n, 1)) {
    if (column_major_2d(b))
      gin[1] =
          tg_transpose(tp,
                       matmul_impl(tp, "tg_matmul", tg_transpose(tp, g, -1, -2),
                                   a, NULL, batched),
                       0, 1);
    else
      gin[1] = operand_grad(tp, b, n->out, tg_transpose(tp, a, -1, -2), g);
  }
}
/* dst += the gradient of input i, by one gemm with beta = 1, for 2-D
 * products whose operands BLAS can read as they are: d a = g @ b^T into a
 * row-major dst, or its transpose b @ g^T into a column-major one (a
 * transposed weight's buffer); likewise d b = a^T @ g or (g^T @ a)^T. */
static bool matmul_add_grad_into(const tg_node *n, int i, const tg_tensor *g,
                                 tg_tensor *dst) {
  const tg_tensor *a = n->inputs[0], *b = n->inputs[1];
  tg_k_matrix ma, mb, mg;
  if (n->out->ndim != 2 || a->ndim != 2 || b->ndim != 2 || g->ndim != 2 ||
      !blas_layout(a, &ma) || !blas_layout(b, &mb) || !blas_layout(g, &mg))
    return false;
  if (!dst) return true;
  int64_t m = a->shape[0], k = a->shape[1], nn = b->shape[1];
  /* the rows and columns of dst as a row-major matrix, and its stride */
  bool col_major = column_major_2d(dst);
  if (!col_major && !tg_is_contiguous(dst)) return false;
  int64_t ldc = col_major ? dst->shape[0] : dst->shape[1];
  if (ldc < 1) ldc = 1;
  /* A stored transposed (trans) is read as its transpose: op(A) with the
   * flag flipped gives A^T without a copy. */
  if (i == 0) {     /* d a [m, k] */
    if (!col_major) /* g [m, n] @ b^T [n, k] */
      tg_k_gemm(dst->dtype, mg.trans, !mb.trans, m, k, nn, g->data, mg.ld,
                b->data, mb.ld, 1.0, dst->data, ldc);
    else /* (b [k, n] @ g^T [n, m]) into dst^T [k, m] */
      tg_k_gemm(dst->dtype, mb.trans, !mg.trans, k, m, nn, b->data, mb.ld,
                g->data, mg.ld, 1.0, dst->data, ldc);
  } else {          /* d b [k, n] */
    if (!col_major) /* a^T [k, m] @ g [m, n] */
      tg_k_gemm(dst->dtype, !ma.trans, mg.trans, k, nn, m, a->data, ma.ld,
                g->data, mg.ld, 1.0, dst->data, ldc);
    else /* (g^T [n, m] @ a [m, k]) into dst^T [n, k] */
      tg_k_gemm(dst->dtype, !mg.trans, ma.trans, nn, k, m, g->data, mg.ld,
                a->data, ma.ld, 1.0, dst->data, ldc);
  }
  return true;
}

static const tg_op_def OP_MATMUL = {
    .name = "matmul",
    .add_grad_into = matmul_add_grad_into,
    .backward = matmul_backward,
    .replay = tg__replay_plain,
    .binary = tg_matmul,
    .rule = "d(A@B)/dA = G @ B^T, d(A@B)/dB = A^T @ G",
    .saves = TG_SAVES_INPUT(0) | TG_SAVES_INPUT(1)};

/* sum over the batch of a @ b -> [m, n]; d = (g @ b^T, a^T @ g) with g
 * broadcast back over the batch. */
static void matmul_sum_backward(tg_tape *tp, tg_node *n, tg_tensor *g,
                                tg_tensor **gin) {
  tg_tensor *a = n->inputs[0], *b = n->inputs[1];
  if (tg__needs_grad(n, 0))
    gin[0] = tg_matmul(tp, g, tg_transpose(tp, b, -1, -2));
  if (tg__needs_grad(n, 1))
    gin[1] = tg_matmul(tp, tg_transpose(tp, a, -1, -2), g);
}
static tg_tensor *matmul_sum_replay(tg_tape *tp, const tg_node *n,
                                    tg_tensor *const *in) {
  (void)n;
  return matmul_impl(tp, "tg_matmul", in[0], in[1], NULL, true);
}
static const tg_op_def OP_MATMUL_SUM = {
    .name = "matmul_sum",
    .backward = matmul_sum_backward,
    .replay = matmul_sum_replay,
    .rule = "d(sum A@B)/dA = G @ B^T, d/dB = A^T @ G",
    .saves = TG_SAVES_INPUT(0) | TG_SAVES_INPUT(1)};

/* c + a@b: the matmul's rules for a and b; c's gradient is G itself,
 * which the engine sums over the axes c was broadcast along. Inputs are
 * recorded as (a, b, c) so that the matmul's rule and its direct adds
 * serve inputs 0 and 1 unchanged. */
static void addmm_backward(tg_tape *tp, tg_node *n, tg_tensor *g,
                           tg_tensor **gin) {
  matmul_backward(tp, n, g, gin);
  if (tg__needs_grad(n, 2)) gin[2] = g;
}
static bool addmm_add_grad_into(const tg_node *n, int i, const tg_tensor *g,
                                tg_tensor *dst) {
  return i < 2 && matmul_add_grad_into(n, i, g, dst);
}
static tg_tensor *addmm_replay(tg_tape *tp, const tg_node *n,
                               tg_tensor *const *in) {
  (void)n;
  return tg_addmm(tp, in[2], in[0], in[1]);
}
static const tg_op_def OP_ADDMM = {
    .name = "addmm",
    .add_grad_into = addmm_add_grad_into,
    .backward = addmm_backward,
    .replay = addmm_replay,
    .rule = "d(C + A@B)/dA = G @ B^T, d/dB = A^T @ G, d/dC = G (summed over "
            "C's broadcast axes)",
    .saves = TG_SAVES_INPUT(0) | TG_SAVES_INPUT(1)};

tg_tensor *tg_matmul(tg_tape *tp, tg_tensor *a, tg_tensor *b) {
  return matmul_impl(tp, "tg_matmul", a, b, NULL, false);
}

tg_tensor *tg_addmm(tg_tape *tp, tg_tensor *c, tg_tensor *a, tg_tensor *b) {
  tg_tensor *args[3] = {c, a, b}; /* numbered as the caller passes them */
  if (!tg__inputs_ok(tp, "tg_addmm", 3, args)) return NULL;
  return matmul_impl(tp, "tg_addmm", a, b, c, false);
}

/* a @ b (summed over the batch when sum_batch), plus c broadcast to the
 * product's shape when c is given: c is copied into the output first and
 * the gemm adds onto it (beta = 1), in place of OpenBLAS's zeroing of the
 * output (beta = 0) and of a separate add over it afterwards. */
static tg_tensor *matmul_impl(tg_tape *tp, const char *fname, tg_tensor *a,
                              tg_tensor *b, tg_tensor *c, bool sum_batch) {
  tg_tensor *in[3] = {a, b, c};
  if (!tg__inputs_ok(tp, fname, 2, in)) return NULL;
  char ba[96], bb[96];
  if (a->ndim < 2 || b->ndim < 2)
    return tg__fail(
        tp, TG_ERR_SHAPE, "%s: inputs must be at least 2-D: %s @ %s", fname,
        tg_shape_str(a, ba, sizeof ba), tg_shape_str(b, bb, sizeof bb));
  if (a->dtype != b->dtype)
    return tg__fail(tp, TG_ERR_DTYPE, "%s: dtypes differ: %s %s @ %s %s", fname,
                    tg_dtype_name(a->dtype), tg_shape_str(a, ba, sizeof ba),
                    tg_dtype_name(b->dtype), tg_shape_str(b, bb, sizeof bb));
  int64_t m = a->shape[a->ndim - 2], k = a->shape[a->ndim - 1];
  int64_t n = b->shape[b->ndim - 1];
  if (b->shape[b->ndim - 2] != k)
    return tg__fail(tp, TG_ERR_SHAPE, "%s: inner dimensions differ: %s @ %s",
                    fname, tg_shape_str(a, ba, sizeof ba),
                    tg_shape_str(b, bb, sizeof bb));
  if (m > INT32_MAX || n > INT32_MAX || k > INT32_MAX)
    return tg__fail(tp, TG_ERR_SHAPE,
                    "%s: matrix sides above 2^31-1 are not supported: "
                    "%s @ %s",
                    fname, tg_shape_str(a, ba, sizeof ba),
                    tg_shape_str(b, bb, sizeof bb));
  int nbd;
  int64_t shape[TG_MAX_DIMS];
  if (!tg__broadcast_shape(a->ndim - 2, a->shape, b->ndim - 2, b->shape, &nbd,
                           shape))
    return tg__fail(
        tp, TG_ERR_SHAPE, "%s: batch dimensions do not broadcast: %s @ %s",
        fname, tg_shape_str(a, ba, sizeof ba), tg_shape_str(b, bb, sizeof bb));
  if (nbd + 2 > TG_MAX_DIMS)
    return tg__fail(tp, TG_ERR_SHAPE, "%s: too many dimensions", fname);
  shape[nbd] = m;
  shape[nbd + 1] = n;
  int out_nd = sum_batch ? 2 : nbd + 2;
  const int64_t *out_shape = sum_batch ? shape + nbd : shape;
  int64_t c_strides[TG_MAX_DIMS];
  if (c) {
    char bc[96], bo[96];
    int nd;
    int64_t joint[TG_MAX_DIMS];
    bool fits =
        tg__broadcast_shape(c->ndim, c->shape, out_nd, out_shape, &nd, joint) &&
        nd == out_nd;
    for (int d = 0; fits && d < nd; d++)
      fits = joint[d] == out_shape[d];
    if (c->dtype != a->dtype)
      return tg__fail(tp, TG_ERR_DTYPE,
                      "%s: the addend is %s %s but the product is %s", fname,
                      tg_dtype_name(c->dtype), tg_shape_str(c, bc, sizeof bc),
                      tg_dtype_name(a->dtype));
    if (!fits)
      return tg__fail(tp, TG_ERR_SHAPE,
                      "%s: the addend %s does not broadcast to the product's "
                      "shape %s",
                      fname, tg_shape_str(c, bc, sizeof bc),
                      tg__shape_fmt(out_nd, out_shape, bo, sizeof bo));
    tg__broadcast_strides(c, out_nd, out_shape, c_strides);
  }
  tg_tensor *out = tg__new_tensor(tp, fname, a->dtype, out_nd, out_shape);
  if (!out) return NULL;

  tg_tensor *ops[2] = {a, b};
  tg_k_matrix mats[2];
  for (int i = 0; i < 2; i++) {
    tg_tensor *x = ops[i];
    if (!blas_layout(x, &mats[i])) {
      x = tg__contiguous_data(tp, fname, x);
      if (!x) return NULL;
      blas_layout(x, &mats[i]);
    }
    mats[i].data = x->data;
    /* Batch strides of this operand over the output's batch shape. */
    int lead = nbd - (x->ndim - 2);
    for (int d = 0; d < nbd; d++) {
      int xd = d - lead;
      mats[i].batch_strides[d] =
          (xd < 0 || x->shape[xd] == 1) ? 0 : x->strides[xd];
    }
  }
  if (sum_batch)
    tg_k_matmul_sum(a->dtype, nbd, shape, m, n, k, &mats[0], &mats[1],
                    out->data);
  else if (!c)
    tg_k_matmul(a->dtype, nbd, shape, m, n, k, &mats[0], &mats[1], 0.0,
                out->data);
  else {
    tg_k_copy(a->dtype, out_nd, out_shape, out->data, NULL, c->data, c_strides);
    tg_k_matmul(a->dtype, nbd, shape, m, n, k, &mats[0], &mats[1], 1.0,
                out->data);
  }
  const tg_op_def *op = c ? &OP_ADDMM : sum_batch ? &OP_MATMUL_SUM : &OP_MATMUL;
  if (!tg__record(tp, op, c ? 3 : 2, in, out, NULL)) return NULL;
  return out;
}
