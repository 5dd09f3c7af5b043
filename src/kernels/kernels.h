/* Kernels: plain loops and library calls over memory. They know nothing of
 * tapes, nodes or errors; callers validate shapes before calling. Strides
 * are in elements. */
#ifndef TG_KERNELS_H
#define TG_KERNELS_H

#include <stdbool.h>
#include <stdint.h>

#include "tapegrad/tensor.h"

/* --- n-d iteration ------------------------------------------------------- */

#define TG_K_MAX_OPS 4

/* Walks an n-d index space over up to four operands, handing the innermost
 * run of elements to a callback. Dimensions that are laid out back to back
 * in every operand are merged first, so contiguous data is one long run. */
typedef struct tg_k_iter {
  int ndim;
  int nops;
  int64_t shape[TG_MAX_DIMS];
  int64_t strides[TG_K_MAX_OPS][TG_MAX_DIMS]; /* bytes */
} tg_k_iter;

/* strides[k] (elements) may be NULL for a contiguous operand. */
void tg_k_iter_init(tg_k_iter *it, int ndim, const int64_t *shape, int nops,
                    const int64_t *const *strides, const size_t *elem_size);
/* inner(n, ptrs, byte_strides, ctx) is called once per innermost run. */
typedef void (*tg_k_inner_fn)(int64_t n, char **ptrs, const int64_t *strides,
                              void *ctx);
void tg_k_iter_run(const tg_k_iter *it, char *const *base, tg_k_inner_fn inner,
                   void *ctx);
/* init and run in one call, with a shortcut when the whole space is one
 * run (contiguous operands, or single elements broadcast). */
void tg_k_iter_apply(int ndim, const int64_t *shape, int nops,
                     const int64_t *const *strides, const size_t *elem_size,
                     char *const *base, tg_k_inner_fn inner, void *ctx);
/* tg_k_iter_apply for maps, whose first operand (the output) gets one
 * element per position and whose inner function keeps nothing across
 * calls: a large single run is shared out over tapegrad's threads. */
void tg_k_iter_map(int ndim, const int64_t *shape, int nops,
                   const int64_t *const *strides, const size_t *elem_size,
                   char *const *base, tg_k_inner_fn inner, void *ctx);

/* --- movement and filling ------------------------------------------------ */

void tg_k_copy(tg_dtype dt, int ndim, const int64_t *shape, void *dst,
               const int64_t *dst_strides, const void *src,
               const int64_t *src_strides);
/* Copies between dtypes (either may be f32 or f64). */
void tg_k_convert(int ndim, const int64_t *shape, tg_dtype dst_dt, void *dst,
                  const int64_t *dst_strides, tg_dtype src_dt, const void *src,
                  const int64_t *src_strides);
void tg_k_fill(tg_dtype dt, int ndim, const int64_t *shape, void *dst,
               const int64_t *strides, double value);

/* --- elementwise --------------------------------------------------------- */

typedef enum tg_k_unary_op {
  TG_K_NEG,
  TG_K_EXP,
  TG_K_LOG,
  TG_K_SQRT,
  TG_K_TANH,
  TG_K_SIGMOID,
  TG_K_RELU,
  TG_K_ABS,
  TG_K_SIN,
  TG_K_COS,
  TG_K_POWS,  /* x^p */
  TG_K_AFFINE /* p*x + q */
} tg_k_unary_op;

/* out[i] = op(in[i]) over n contiguous elements; out may equal in. */
void tg_k_unary(tg_k_unary_op op, tg_dtype dt, int64_t n, void *out,
                const void *in, double p, double q);

/* Fused backward rules of unary ops, for sweeps that record nothing:
 * out[i] from the output gradient g[i] and the saved value v[i] (the op's
 * output y for tanh and sigmoid, its input x for relu), over n contiguous
 * elements. */
typedef enum tg_k_grad_op {
  TG_K_DTANH,    /* g (1 - y^2) */
  TG_K_DSIGMOID, /* g y (1 - y) */
  TG_K_DRELU     /* g where x > 0, else 0 */
} tg_k_grad_op;
void tg_k_unary_grad(tg_k_grad_op op, tg_dtype dt, int64_t n, void *out,
                     const void *g, const void *v);

typedef enum tg_k_binary_op {
  TG_K_ADD,
  TG_K_SUB,
  TG_K_MUL,
  TG_K_DIV,
  TG_K_POW,
  TG_K_MAX,
  TG_K_MIN,
  TG_K_EQ,
  TG_K_NE,
  TG_K_LT,
  TG_K_LE,
  TG_K_GT,
  TG_K_GE
} tg_k_binary_op;

/* out = a op b over shape; out has out_strides (NULL: contiguous). */
void tg_k_binary(tg_k_binary_op op, tg_dtype dt, int ndim, const int64_t *shape,
                 void *out, const int64_t *out_strides, const void *a,
                 const int64_t *a_strides, const void *b,
                 const int64_t *b_strides);

/* out = mask != 0 ? a : b; out contiguous. */
void tg_k_where(tg_dtype dt, int ndim, const int64_t *shape, void *out,
                const void *mask, const int64_t *mask_strides, const void *a,
                const int64_t *a_strides, const void *b,
                const int64_t *b_strides);

/* 0 when every element is finite, 1 at the first NaN, 2 at the first Inf. */
int tg_k_find_nonfinite(tg_dtype dt, int ndim, const int64_t *shape,
                        const void *data, const int64_t *strides);

/* --- indexing ------------------------------------------------------------- */

/* 0 when every index is a whole number in [0, limit); 1 at a fraction, 2 at
 * one out of range (its value in *bad). */
int tg_k_check_index(tg_dtype dt, int ndim, const int64_t *shape,
                     const void *data, const int64_t *strides, int64_t limit,
                     double *bad);
/* out[p] = x[p with axis replaced by index[p]] over the index's shape; out
 * contiguous. Indices must have been checked. */
void tg_k_gather(tg_dtype dt, int ndim, int axis, const void *x,
                 const int64_t *x_strides, tg_dtype index_dt,
                 const int64_t *index_shape, const void *index,
                 const int64_t *index_strides, void *out);
/* out[p with axis replaced by index[p]] += src[p] over the index's shape. */
void tg_k_scatter_add(tg_dtype dt, int ndim, int axis, void *out,
                      const int64_t *out_strides, tg_dtype index_dt,
                      const int64_t *index_shape, const void *index,
                      const int64_t *index_strides, const void *src,
                      const int64_t *src_strides);

/* --- sliding windows ------------------------------------------------------ */

/* Geometry of im2col / col2im over NCHW (1-D: h = oh = kh = 1). */
typedef struct tg_k_window {
  int64_t n, c, h, w; /* input */
  int64_t oh, ow;     /* output positions */
  int64_t kh, kw, sh, sw, ph, pw, dh, dw;
} tg_k_window;

/* x [n, c, h, w] contiguous -> cols [n, c*kh*kw, oh*ow] contiguous. */
void tg_k_im2col(tg_dtype dt, const tg_k_window *win, const void *x,
                 void *cols);
/* cols -> x (overwritten), adding overlapping windows. */
void tg_k_col2im(tg_dtype dt, const tg_k_window *win, const void *cols,
                 void *x);

/* What a max-pooling kernel computes (src/kernels/pool.c). */
typedef enum tg_k_pool_mode {
  TG_K_POOL_MAX,    /* each window's maximum */
  TG_K_POOL_GATHER, /* a second tensor read at the maxima */
  TG_K_POOL_SCATTER /* a gradient sent to the maxima */
} tg_k_pool_mode;
/* The 2x2-stride-2 f32 case with AVX2 (src/kernels/pool_avx2.c; x86-64
 * only, and only where the processor has AVX2). */
void tg_k_pool2_f32_avx2(tg_k_pool_mode mode, const tg_k_window *win,
                         const float *x, const float *src, float *dst);

/* Max pooling over contiguous x [n, c, h, w] (src/kernels/pool.c); padding
 * never wins, and a window lying wholly in the padding gives the lowest
 * finite value. y [n, c, oh, ow] = each window's maximum. */
void tg_k_max_pool(tg_dtype dt, const tg_k_window *win, const void *x, void *y);
/* y [n, c, oh, ow] = h (shaped like x) at each window's maximum of x, the
 * mean over ties. */
void tg_k_max_pool_gather(tg_dtype dt, const tg_k_window *win, const void *x,
                          const void *h, void *y);
/* out (shaped like x, overwritten) = g [n, c, oh, ow] sent to each window's
 * maximum of x, shared among ties, overlapping windows adding up: the
 * adjoint of the gather. */
void tg_k_max_pool_scatter(tg_dtype dt, const tg_k_window *win, const void *x,
                           const void *g, void *out);

/* --- threads (src/kernels/parallel.c) ------------------------------------ */

/* The thread count T (tg_set_num_threads). */
int tg_k_threads(void);
/* Runs fn over [0, n) in at most 4T contiguous ranges of at least grain
 * elements, on tapegrad's threads and the caller's, and returns when all
 * are done; on the caller's thread alone when T = 1, n < 2 grain, or
 * another job is running. fn must only write what its range owns. */
typedef void (*tg_k_range_fn)(void *ctx, int64_t lo, int64_t hi);
void tg_k_parallel_for(int64_t n, int64_t grain, tg_k_range_fn fn, void *ctx);

/* --- reductions ---------------------------------------------------------- */

typedef enum tg_k_reduce_op { TG_K_RSUM, TG_K_RMAX } tg_k_reduce_op;

/* Reduces in (shape, in_strides) into out, whose strides are 0 along the
 * reduced axes. out is overwritten. scratch (out_numel doubles, or NULL)
 * lets an f32 sum accumulate in double. */
void tg_k_reduce(tg_k_reduce_op op, tg_dtype dt, int ndim, const int64_t *shape,
                 const void *in, const int64_t *in_strides, void *out,
                 const int64_t *out_strides, int64_t out_numel,
                 double *scratch);

/* The gradient of a max reduction without building it from ops: out (x's
 * shape, contiguous) = g where x equals the maximum m, shared equally among
 * ties, else 0: (x == m) * g / ties, the values the op rule gives. m and g
 * are broadcast over x's shape with m_strides and g_strides (0 along the
 * reduced axes); ties is scratch for n_slots counts laid out as m. */
void tg_k_max_grad(tg_dtype dt, int ndim, const int64_t *shape, void *out,
                   const void *x, const int64_t *x_strides, const void *m,
                   const int64_t *m_strides, const void *g,
                   const int64_t *g_strides, void *ties, int64_t n_slots);

/* --- matmul -------------------------------------------------------------- */

/* One operand of a batched matmul: data, batch strides (elements, over the
 * output's batch shape, 0 where broadcast), and the matrix layout. */
typedef struct tg_k_matrix {
  const void *data;
  int64_t batch_strides[TG_MAX_DIMS];
  bool trans; /* stored transposed: element (i,j) at j*ld + i */
  int64_t ld;
} tg_k_matrix;

/* One gemm, row-major: c [m, n] (leading dimension ldc) = a @ b + beta c,
 * a [m, k] and b [k, n] stored transposed when ta, tb. */
void tg_k_gemm(tg_dtype dt, bool ta, bool tb, int64_t m, int64_t n, int64_t k,
               const void *a, int64_t lda, const void *b, int64_t ldb,
               double beta, void *c, int64_t ldc);

/* c[b] = a[b] @ b[b] + beta c[b] for every batch index (beta 0 or 1: 1
 * adds the products on top of what c holds); c contiguous [batch..., m,
 * n]. */
void tg_k_matmul(tg_dtype dt, int batch_ndim, const int64_t *batch_shape,
                 int64_t m, int64_t n, int64_t k, const tg_k_matrix *a,
                 const tg_k_matrix *b, double beta, void *c);
/* c = sum over the batch of a[b] @ b[b]; c contiguous [m, n]. */
void tg_k_matmul_sum(tg_dtype dt, int batch_ndim, const int64_t *batch_shape,
                     int64_t m, int64_t n, int64_t k, const tg_k_matrix *a,
                     const tg_k_matrix *b, void *c);

/* --- vector maths (SLEEF), contiguous ------------------------------------- */

typedef enum tg_k_vfn {
  TG_K_VEXP,
  TG_K_VLOG,
  TG_K_VTANH,
  TG_K_VSIN,
  TG_K_VCOS,
  TG_K_VSIGMOID,
  TG_K_VFN_COUNT
} tg_k_vfn;

void tg_k_vmath_f32(tg_k_vfn fn, int64_t n, float *out, const float *in);
void tg_k_vmath_f64(tg_k_vfn fn, int64_t n, double *out, const double *in);
/* out[i] = a[i]^b[i], or a[i]^b[0] when b_scalar. */
void tg_k_vpow_f32(int64_t n, float *out, const float *a, const float *b,
                   bool b_scalar);
void tg_k_vpow_f64(int64_t n, double *out, const double *a, const double *b,
                   bool b_scalar);
/* Which path the vector maths takes: "avx512", "avx2" or "scalar"
 * (src/kernels/vmath.c; TAPEGRAD_VMATH caps it). */
const char *tg_k_vmath_isa(void);

#endif
