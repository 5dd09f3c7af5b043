/* Batched matmul straight into cblas ?gemm, one call per matrix pair, with
 * transposed operands passed as flags. When b is shared by the whole batch
 * and a's matrices lie back to back, the batch folds into one tall gemm. */
#include <cblas.h>
#include <stdlib.h>

#include "kernels.h"

int tg_set_num_threads(int n) {
  if (n <= 0) {
    const char *env = getenv("OPENBLAS_NUM_THREADS");
    n = env && atoi(env) > 0 ? atoi(env) : openblas_get_num_procs();
  }
  openblas_set_num_threads(n);
  return openblas_get_num_threads();
}

int tg_num_threads(void) { return openblas_get_num_threads(); }

/* c = a @ b + beta c, with a and b possibly transposed. */
void tg_k_gemm(tg_dtype dt, bool ta, bool tb, int64_t m, int64_t n, int64_t k,
               const void *a, int64_t lda, const void *b, int64_t ldb,
               double beta, void *c, int64_t ldc) {
  enum CBLAS_TRANSPOSE fa = ta ? CblasTrans : CblasNoTrans;
  enum CBLAS_TRANSPOSE fb = tb ? CblasTrans : CblasNoTrans;
  if (dt == TG_F32)
    cblas_sgemm(CblasRowMajor, fa, fb, (blasint)m, (blasint)n, (blasint)k, 1.0f,
                a, (blasint)lda, b, (blasint)ldb, (float)beta, c, (blasint)ldc);
  else
    cblas_dgemm(CblasRowMajor, fa, fb, (blasint)m, (blasint)n, (blasint)k, 1.0,
                a, (blasint)lda, b, (blasint)ldb, beta, c, (blasint)ldc);
}

static void gemm(tg_dtype dt, bool ta, bool tb, int64_t m, int64_t n, int64_t k,
                 const void *a, int64_t lda, const void *b, int64_t ldb,
                 void *c, int64_t ldc) {
  tg_k_gemm(dt, ta, tb, m, n, k, a, lda, b, ldb, 0.0, c, ldc);
}

/* One gemm per batch entry: into its own [m, n] block of c, or (sum) all
 * adding into the one block c. */
static void batch_gemms(tg_dtype dt, int batch_ndim, const int64_t *batch_shape,
                        int64_t m, int64_t n, int64_t k, const tg_k_matrix *a,
                        const tg_k_matrix *b, void *c, bool sum) {
  size_t es = dt == TG_F32 ? 4 : 8;
  int64_t batch = 1, idx[TG_MAX_DIMS] = {0};
  for (int d = 0; d < batch_ndim; d++)
    batch *= batch_shape[d];
  for (int64_t i = 0; i < batch; i++) {
    int64_t oa = 0, ob = 0;
    for (int d = 0; d < batch_ndim; d++) {
      oa += idx[d] * a->batch_strides[d];
      ob += idx[d] * b->batch_strides[d];
    }
    tg_k_gemm(dt, a->trans, b->trans, m, n, k, (const char *)a->data + oa * es,
              a->ld, (const char *)b->data + ob * es, b->ld, sum ? 1.0 : 0.0,
              sum ? c : (char *)c + i * m * n * es, n);
    for (int d = batch_ndim - 1; d >= 0; d--) {
      if (++idx[d] < batch_shape[d]) break;
      idx[d] = 0;
    }
  }
}

void tg_k_matmul(tg_dtype dt, int batch_ndim, const int64_t *batch_shape,
                 int64_t m, int64_t n, int64_t k, const tg_k_matrix *a,
                 const tg_k_matrix *b, void *c) {
  int64_t batch = 1;
  for (int d = 0; d < batch_ndim; d++)
    batch *= batch_shape[d];
  if (batch == 0 || m == 0 || n == 0) return;
  if (k == 0) {
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
    gemm(dt, false, b->trans, batch * m, n, k, a->data, k, b->data, b->ld, c,
         n);
    return;
  }
  batch_gemms(dt, batch_ndim, batch_shape, m, n, k, a, b, c, false);
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
  batch_gemms(dt, batch_ndim, batch_shape, m, n, k, a, b, c, true);
}
