/* Initializers: fill a tensor in place from a seeded generator. Values are
 * drawn in row-major order of t's logical shape, whatever its strides, so
 * the same rng state gives the same tensor on every machine. */
#include <math.h>
#include <string.h>

#include "../core/internal.h"

/* Writes v at flat row-major position i of t (any strides). */
static void set_flat(tg_tensor *t, int64_t i, double v) {
  int64_t off = 0;
  for (int d = t->ndim - 1; d >= 0; d--) {
    int64_t n = t->shape[d];
    off += (i % n) * t->strides[d];
    i /= n;
  }
  if (t->dtype == TG_F32)
    ((float *)t->data)[off] = (float)v;
  else
    ((double *)t->data)[off] = v;
}

/* PyTorch's fans for weights stored [out, in, k...]; a 1-D (or 0-d)
 * tensor has fan_in = fan_out = its number of elements. */
static void fans(const tg_tensor *t, double *fan_in, double *fan_out) {
  if (t->ndim < 2) {
    *fan_in = *fan_out = (double)t->numel;
    return;
  }
  double receptive = 1.0;
  for (int d = 2; d < t->ndim; d++)
    receptive *= (double)t->shape[d];
  *fan_in = (double)t->shape[1] * receptive;
  *fan_out = (double)t->shape[0] * receptive;
}

/* a (2u - 1): 2u - 1 is exact for u in [0, 1) with 53 bits, so every value
 * lies in [-a, a) up to the final rounding, never beyond a. */
static void fill_uniform(tg_tensor *t, tg_rng *rng, double a) {
  for (int64_t i = 0; i < t->numel; i++)
    set_flat(t, i, a * (2.0 * tg_rng_uniform(rng) - 1.0));
}

static void fill_normal(tg_tensor *t, tg_rng *rng, double std) {
  for (int64_t i = 0; i < t->numel; i++)
    set_flat(t, i, std * tg_rng_normal(rng));
}

/* Householder QR of the column-major m x n matrix a (m >= n), in place:
 * on return column k holds the k-th Householder vector in rows k..m-1 and
 * rdiag[k] the k-th diagonal entry of R. vv[k] is v_k . v_k (0 when the
 * column was already zero, i.e. H_k = I). */
static void householder_qr(double *a, int64_t m, int64_t n, double *rdiag,
                           double *vv) {
  for (int64_t k = 0; k < n; k++) {
    double *v = a + k * m;
    double norm2 = 0.0;
    for (int64_t i = k; i < m; i++)
      norm2 += v[i] * v[i];
    double norm = sqrt(norm2);
    if (norm == 0.0) {
      rdiag[k] = 0.0;
      vv[k] = 0.0;
      continue;
    }
    /* Reflect x onto alpha e_k with alpha of the opposite sign to x_k, so
     * that v_k = x_k - alpha does not cancel. */
    double alpha = v[k] >= 0.0 ? -norm : norm;
    v[k] -= alpha;
    double vtv = 0.0;
    for (int64_t i = k; i < m; i++)
      vtv += v[i] * v[i];
    rdiag[k] = alpha;
    vv[k] = vtv;
    for (int64_t j = k + 1; j < n; j++) {
      double *col = a + j * m;
      double dot = 0.0;
      for (int64_t i = k; i < m; i++)
        dot += v[i] * col[i];
      double f = 2.0 * dot / vtv;
      for (int64_t i = k; i < m; i++)
        col[i] -= f * v[i];
    }
  }
}

/* The thin Q (m x n, column-major) of the factorisation above:
 * Q = H_0 H_1 ... H_{n-1} applied to the first n columns of I. */
static void householder_q(const double *a, int64_t m, int64_t n,
                          const double *vv, double *q) {
  memset(q, 0, sizeof(double) * (size_t)(m * n));
  for (int64_t j = 0; j < n; j++)
    q[j + j * m] = 1.0;
  for (int64_t k = n - 1; k >= 0; k--) {
    if (vv[k] == 0.0) continue;
    const double *v = a + k * m;
    for (int64_t j = 0; j < n; j++) {
      double *col = q + j * m;
      double dot = 0.0;
      for (int64_t i = k; i < m; i++)
        dot += v[i] * col[i];
      double f = 2.0 * dot / vv[k];
      for (int64_t i = k; i < m; i++)
        col[i] -= f * v[i];
    }
  }
}

/* As PyTorch: a normal [rows, cols] matrix (transposed when rows < cols),
 * its QR in double, the columns of Q multiplied by the signs of R's
 * diagonal (so R's diagonal is positive: the QR is unique and the result
 * does not depend on how it was computed), transposed back, times gain. */
static tg_status fill_orthogonal(tg_tensor *t, tg_rng *rng, double gain) {
  int64_t rows = t->shape[0], cols = t->numel / rows;
  bool transposed = rows < cols;
  int64_t m = transposed ? cols : rows, n = transposed ? rows : cols;
  size_t mn = (size_t)m * (size_t)n;
  double *a = tg__malloc(sizeof(double) * mn);
  double *q = tg__malloc(sizeof(double) * mn);
  double *rdiag = tg__malloc(sizeof(double) * (size_t)n);
  double *vv = tg__malloc(sizeof(double) * (size_t)n);
  if (!a || !q || !rdiag || !vv) {
    tg__free(a);
    tg__free(q);
    tg__free(rdiag);
    tg__free(vv);
    return TG_ERR_NOMEM;
  }
  /* Draws in row-major order of [rows, cols]. Column-major m x n storage
   * of that matrix puts element (r, c) at r + c m; of its transpose, at
   * c + r cols = the row-major position: the same buffer either way. */
  for (int64_t r = 0; r < rows; r++)
    for (int64_t c = 0; c < cols; c++) {
      double z = tg_rng_normal(rng);
      if (transposed)
        a[r * cols + c] = z;
      else
        a[r + c * m] = z;
    }
  householder_qr(a, m, n, rdiag, vv);
  householder_q(a, m, n, vv, q);
  for (int64_t k = 0; k < n; k++) {
    /* sign(R_kk); a zero diagonal (probability 0) counts as positive */
    double s = rdiag[k] < 0.0 ? -gain : gain;
    for (int64_t i = 0; i < m; i++)
      q[i + k * m] *= s;
  }
  /* W = Q (rows = m) or Q^T (rows = n); W[r, c] at flat r cols + c. */
  for (int64_t r = 0; r < rows; r++)
    for (int64_t c = 0; c < cols; c++)
      set_flat(t, r * cols + c, transposed ? q[c + r * m] : q[r + c * m]);
  tg__free(a);
  tg__free(q);
  tg__free(rdiag);
  tg__free(vv);
  return TG_OK;
}

tg_status tg_init(tg_tensor *t, tg_init_kind kind, double value, tg_rng *rng) {
  if (!t) return TG_ERR_NULL;
  switch (kind) {
  case TG_INIT_ZEROS: tg_fill(t, 0.0); return TG_OK;
  case TG_INIT_CONSTANT: tg_fill(t, value); return TG_OK;
  case TG_INIT_GLOROT_UNIFORM:
  case TG_INIT_GLOROT_NORMAL:
  case TG_INIT_HE_UNIFORM:
  case TG_INIT_HE_NORMAL:
  case TG_INIT_ORTHOGONAL: break;
  default: return TG_ERR_ARG;
  }
  if (!rng) return TG_ERR_NULL;
  if (kind == TG_INIT_ORTHOGONAL && t->ndim < 2) return TG_ERR_SHAPE;
  if (t->numel == 0) return TG_OK;
  double fan_in, fan_out;
  fans(t, &fan_in, &fan_out);
  switch (kind) {
  case TG_INIT_GLOROT_UNIFORM:
    fill_uniform(t, rng, sqrt(6.0 / (fan_in + fan_out)));
    break;
  case TG_INIT_GLOROT_NORMAL:
    fill_normal(t, rng, sqrt(2.0 / (fan_in + fan_out)));
    break;
  case TG_INIT_HE_UNIFORM: fill_uniform(t, rng, sqrt(6.0 / fan_in)); break;
  case TG_INIT_HE_NORMAL: fill_normal(t, rng, sqrt(2.0 / fan_in)); break;
  default: return fill_orthogonal(t, rng, value == 0.0 ? 1.0 : value);
  }
  return TG_OK;
}
