/* Batched matmul straight into cblas ?gemm, one call per matrix pair, with
 * transposed operands passed as flags. When b is shared by the whole batch
 * and a's matrices lie back to back, the batch folds into one tall gemm.
 * OpenBLAS runs on one thread (src/kernels/parallel.c); large products are
 * shared out over tapegrad's threads here: by columns of c (or rows), or by
 * batch entries. */
#include <cblas.h>
#include <stdlib.h>

#include "kernels.h"

/* Products below this many multiply-adds (about 20 us on one core) run on
 * one thread: splitting costs a wake-up and smaller, less efficient gemms.
 * An LSTM's per-step products (W4: 2M each) are above it, and run faster
 * split (W4 at T=2, 8 alternated runs: median 16.1 -> 15.1 ms with the
 * smaller grains of iter.c and elementwise.c). */
#define PARALLEL_MIN_MACS (1 << 20)
/* The narrowest slice of columns or rows a thread is given. */
#define SLICE_MIN 32

static void blas_gemm(tg_dtype dt, bool ta, bool tb, int64_t m, int64_t n,
                      int64_t k, const void *a, int64_t lda, const void *b,
                      int64_t ldb, double beta, void *c, int64_t ldc) {
  enum CBLAS_TRANSPOSE fa = ta ? CblasTrans : CblasNoTrans;
  enum CBLAS_TRANSPOSE fb = tb ? CblasTrans : CblasNoTrans;
  if (dt == TG_F32)
    cblas_sgemm(CblasRowMajor, fa, fb, (blasint)m, (blasint)n, (blasint)k, 1.0f,
                a, (blasint)lda, b, (blasint)ldb, (float)beta, c, (blasint)ldc);
  else
    cblas_dgemm(CblasRowMajor, fa, fb, (blasint)m, (blasint)n, (blasint)k, 1.0,
                a, (blasint)lda, b, (blasint)ldb, beta, c, (blasint)ldc);
}

typedef struct gemm_job {
  tg_dtype dt;
  bool ta, tb, by_cols;
  int64_t m, n, k, lda, ldb, ldc;
  const char *a, *b;
  char *c;
  double beta;
} gemm_job;

/* Columns [lo, hi) of c (by_cols), or its rows [lo, hi). */
static void gemm_slice(void *ctx, int64_t lo, int64_t hi) {
  const gemm_job *j = ctx;
  size_t es = j->dt == TG_F32 ? 4 : 8;
  if (j->by_cols) /* b's columns: its rows when stored transposed */
    blas_gemm(j->dt, j->ta, j->tb, j->m, hi - lo, j->k, j->a, j->lda,
              j->b + (size_t)(j->tb ? lo * j->ldb : lo) * es, j->ldb, j->beta,
              j->c + (size_t)lo * es, j->ldc);
  else /* a's rows: its columns when stored transposed */
    blas_gemm(j->dt, j->ta, j->tb, hi - lo, j->n, j->k,
              j->a + (size_t)(j->ta ? lo : lo * j->lda) * es, j->lda, j->b,
              j->ldb, j->beta, j->c + (size_t)(lo * j->ldc) * es, j->ldc);
}

/* c = a @ b + beta c, with a and b possibly transposed; large products are
 * split along the longer side of c (at least 32 wide) over tapegrad's
 * threads. */
void tg_k_gemm(tg_dtype dt, bool ta, bool tb, int64_t m, int64_t n, int64_t k,
               const void *a, int64_t lda, const void *b, int64_t ldb,
               double beta, void *c, int64_t ldc) {
  bool big = (double)m * (double)n * (double)k >= PARALLEL_MIN_MACS;
  if (big && tg_k_threads() > 1 && (n >= 2 * SLICE_MIN || m >= 2 * SLICE_MIN)) {
    gemm_job j = {.dt = dt,
                  .ta = ta,
                  .tb = tb,
                  .by_cols = n > m || m < 2 * SLICE_MIN,
                  .m = m,
                  .n = n,
                  .k = k,
                  .lda = lda,
                  .ldb = ldb,
                  .ldc = ldc,
                  .a = a,
                  .b = b,
                  .c = c,
                  .beta = beta};
    /* one piece per thread: each piece packs the shared operand again, and
     * W2 and W8 ran faster so than with two (W8 at T=2: 0.99 of raw sgemm
     * against 0.70-0.97) */
    int64_t side = j.by_cols ? n : m, per = side / tg_k_threads();
    tg_k_parallel_for(side, per > SLICE_MIN ? per : SLICE_MIN, gemm_slice, &j);
    return;
  }
  blas_gemm(dt, ta, tb, m, n, k, a, lda, b, ldb, beta, c, ldc);
}

/* The elements from a's and b's starts to batch entry i. */
static void batch_offsets(int batch_ndim, const int64_t *batch_shape,
                          const tg_k_matrix *a, const tg_k_matrix *b, int64_t i,
                          int64_t *oa, int64_t *ob) {
  *oa = *ob = 0;
  for (int d = batch_ndim - 1; d >= 0; d--) {
    int64_t idx = i % batch_shape[d];
    i /= batch_shape[d];
    *oa += idx * a->batch_strides[d];
    *ob += idx * b->batch_strides[d];
  }
}

typedef struct batch_job {
  tg_dtype dt;
  int batch_ndim;
  const int64_t *batch_shape;
  int64_t m, n, k, batch;
  const tg_k_matrix *a, *b;
  char *c;
  double beta; /* entries: 1 adds onto c's blocks */
} batch_job;

/* Batch entries [lo, hi), each a gemm into its own block of c (split over
 * the threads itself only when the entries are not: a gemm inside a shared
 * out job runs on its thread). */
static void batch_entries(void *ctx, int64_t lo, int64_t hi) {
  const batch_job *j = ctx;
  size_t es = j->dt == TG_F32 ? 4 : 8;
  for (int64_t i = lo; i < hi; i++) {
    int64_t oa, ob;
    batch_offsets(j->batch_ndim, j->batch_shape, j->a, j->b, i, &oa, &ob);
    tg_k_gemm(j->dt, j->a->trans, j->b->trans, j->m, j->n, j->k,
              (const char *)j->a->data + oa * es, j->a->ld,
              (const char *)j->b->data + ob * es, j->b->ld, j->beta,
              j->c + (size_t)(i * j->m * j->n) * es, j->n);
  }
}

/* Columns [lo, hi) of the one block c, every entry adding into it in
 * batch order (beta = 1), as without threads. */
static void batch_sum_cols(void *ctx, int64_t lo, int64_t hi) {
  const batch_job *j = ctx;
  size_t es = j->dt == TG_F32 ? 4 : 8;
  for (int64_t i = 0; i < j->batch; i++) {
    int64_t oa, ob;
    batch_offsets(j->batch_ndim, j->batch_shape, j->a, j->b, i, &oa, &ob);
    const char *bb = (const char *)j->b->data + ob * es;
    blas_gemm(j->dt, j->a->trans, j->b->trans, j->m, hi - lo, j->k,
              (const char *)j->a->data + oa * es, j->a->ld,
              bb + (size_t)(j->b->trans ? lo * j->b->ld : lo) * es, j->b->ld,
              1.0, j->c + (size_t)lo * es, j->n);
  }
}

/* One gemm per batch entry: into its own [m, n] block of c (beta as
 * tg_k_matmul's), or (sum) all adding into the one block c. With threads,
 * the entries are shared out, or for a sum the columns of c. */
static void batch_gemms(tg_dtype dt, int batch_ndim, const int64_t *batch_shape,
                        int64_t m, int64_t n, int64_t k, const tg_k_matrix *a,
                        const tg_k_matrix *b, double beta, void *c, bool sum) {
  int64_t batch = 1;
  for (int d = 0; d < batch_ndim; d++)
    batch *= batch_shape[d];
  batch_job j = {dt, batch_ndim, batch_shape, m, n, k, batch, a, b, c, beta};
  bool big =
      (double)batch * (double)m * (double)n * (double)k >= PARALLEL_MIN_MACS;
  int t = big ? tg_k_threads() : 1;
  if (!sum) /* entries shared out when there are enough of them */
    tg_k_parallel_for(batch, batch >= t ? 1 : batch, batch_entries, &j);
  else if (t > 1 && n >= 2 * SLICE_MIN)
    tg_k_parallel_for(n, SLICE_MIN, batch_sum_cols, &j);
  else
    batch_sum_cols(&j, 0, n);
}

void tg_k_matmul(tg_dtype dt, int batch_ndim, const int64_t *batch_shape,
                 int64_t m, int64_t n, int64_t k, const tg_k_matrix *a,
                 const tg_k_matrix *b, double beta, void *c) {
  int64_t batch = 1;
  for (int d = 0; d < batch_ndim; d++)
    batch *= batch_shape[d];
  if (batch == 0 || m == 0 || n == 0) return;
  if (k == 0) { /* empty products */
    if (beta != 0) return;
    int64_t flat[1] = {batch * m * n};
    tg_k_fill(dt, 1, flat, c, NULL, 0.0);
    return;
  }
  /* Fold: b the same for every batch entry, a row-major with ld == k and
   * its matrices contiguous one after another. */
  bool b_shared = true, a_packed = !a->trans && a->ld == k;
  int64_t expect = m * k;
  for (int d = batch_ndim - 1; d >= 0; d--) {
    if (b->batch_strides[d] != 0 && batch_shape[d] != 1) b_shared = false;
    if (batch_shape[d] != 1 && a->batch_strides[d] != expect) a_packed = false;
    expect *= batch_shape[d];
  }
  if (batch > 1 && b_shared && a_packed) {
    tg_k_gemm(dt, false, b->trans, batch * m, n, k, a->data, k, b->data, b->ld,
              beta, c, n);
    return;
  }
  batch_gemms(dt, batch_ndim, batch_shape, m, n, k, a, b, beta, c, false);
}

void tg_k_matmul_sum(tg_dtype dt, int batch_ndim, const int64_t *batch_shape,
                     int64_t m, int64_t n, int64_t k, const tg_k_matrix *a,
                     const tg_k_matrix *b, void *c) {
  int64_t batch = 1, flat[1] = {m * n};
  for (int d = 0; d < batch_ndim; d++)
    batch *= batch_shape[d];
  tg_k_fill(dt, 1, flat, c, NULL, 0.0);
  if (batch == 0 || m == 0 || n == 0 || k == 0) return;
  /* One gemm per batch entry, each adding into c (beta = 1): no [batch, m,
   * n] intermediate and no separate sum. */
  batch_gemms(dt, batch_ndim, batch_shape, m, n, k, a, b, 1.0, c, true);
}
