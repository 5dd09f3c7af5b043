/* Reductions: walk the input once in its own order and fold each element
 * into its output slot (output strides are 0 along reduced axes). */
#include <math.h>

#include "kernels.h"

typedef struct {
  tg_k_reduce_op op;
  tg_dtype dt;
} reduce_ctx;

/* The sum of a run of n elements (f32 or f64) in double. A contiguous run
 * keeps four partial sums, so that the additions do not wait for each other
 * (one chain of dependent additions runs at a quarter of the speed); the
 * order is fixed, so the result is the same on every run. */
static double sum_run(const char *x, int64_t n, int64_t stride, bool f32) {
  double a0 = 0, a1 = 0, a2 = 0, a3 = 0;
  int64_t i = 0;
  if (stride == (f32 ? 4 : 8)) {
    if (f32) {
      const float *v = (const float *)x;
      for (; i + 4 <= n; i += 4) {
        a0 += v[i], a1 += v[i + 1];
        a2 += v[i + 2], a3 += v[i + 3];
      }
    } else {
      const double *v = (const double *)x;
      for (; i + 4 <= n; i += 4) {
        a0 += v[i], a1 += v[i + 1];
        a2 += v[i + 2], a3 += v[i + 3];
      }
    }
  }
  for (; i < n; i++)
    a0 += f32 ? (double)*(const float *)(x + i * stride)
              : *(const double *)(x + i * stride);
  return (a0 + a1) + (a2 + a3);
}

#define REDUCE_INNER(T)                                                        \
  do {                                                                         \
    T *o = (T *)p[0];                                                          \
    const char *x = p[1];                                                      \
    if (s[0] == 0) { /* the whole run folds into one slot */                   \
      if (c->op == TG_K_RSUM) {                                                \
        *o += (T)sum_run(x, n, s[1], sizeof(T) == 4);                          \
      } else {                                                                 \
        T m = *o;                                                              \
        for (int64_t i = 0; i < n; i++) {                                      \
          T v = *(const T *)(x + i * s[1]);                                    \
          if (v > m || v != v) m = v;                                          \
          if (m != m) break;                                                   \
        }                                                                      \
        *o = m;                                                                \
      }                                                                        \
    } else if (s[0] == (int64_t)sizeof(T) && s[1] == (int64_t)sizeof(T)) {     \
      /* a run of output slots over a contiguous run of input: one loop per    \
       * operator, so the compiler vectorises it */                            \
      const T *restrict xv = (const T *)x;                                     \
      T *restrict ov = o;                                                      \
      if (c->op == TG_K_RSUM)                                                  \
        for (int64_t i = 0; i < n; i++)                                        \
          ov[i] += xv[i];                                                      \
      else                                                                     \
        for (int64_t i = 0; i < n; i++) {                                      \
          T a = ov[i], v = xv[i];                                              \
          ov[i] = a != a ? a : (v > a || v != v) ? v : a;                      \
        }                                                                      \
    } else {                                                                   \
      for (int64_t i = 0; i < n; i++) {                                        \
        T v = *(const T *)(x + i * s[1]);                                      \
        T *slot = (T *)((char *)o + i * s[0]);                                 \
        if (c->op == TG_K_RSUM)                                                \
          *slot += v;                                                          \
        else if (v > *slot || v != v)                                          \
          *slot = *slot != *slot ? *slot : v;                                  \
      }                                                                        \
    }                                                                          \
  } while (0)

static void reduce_inner(int64_t n, char **p, const int64_t *s, void *ctx) {
  const reduce_ctx *c = ctx;
  if (c->dt == TG_F32)
    REDUCE_INNER(float);
  else
    REDUCE_INNER(double);
}

/* f32 sums accumulate in a double slot per output element: float slots
 * would lose digits when many elements fold into one across outer axes. */
static void sum_f32_wide_inner(int64_t n, char **p, const int64_t *s,
                               void *ctx) {
  (void)ctx;
  const char *x = p[1];
  if (s[0] == 0) {
    *(double *)p[0] += sum_run(x, n, s[1], true);
  } else if (s[0] == (int64_t)sizeof(double) &&
             s[1] == (int64_t)sizeof(float)) {
    double *restrict o = (double *)p[0];
    const float *restrict xv = (const float *)x;
    for (int64_t i = 0; i < n; i++)
      o[i] += xv[i];
  } else {
    for (int64_t i = 0; i < n; i++)
      *(double *)(p[0] + i * s[0]) += *(const float *)(x + i * s[1]);
  }
}

void tg_k_reduce(tg_k_reduce_op op, tg_dtype dt, int ndim, const int64_t *shape,
                 const void *in, const int64_t *in_strides, void *out,
                 const int64_t *out_strides, int64_t out_numel,
                 double *scratch) {
  bool wide = op == TG_K_RSUM && dt == TG_F32 && scratch;
  double init = op == TG_K_RSUM ? 0.0 : -INFINITY;
  int64_t flat[1] = {out_numel};
  tg_k_fill(wide ? TG_F64 : dt, 1, flat, wide ? (void *)scratch : out, NULL,
            init);
  const int64_t *st[2] = {out_strides, in_strides};
  size_t es = dt == TG_F32 ? 4 : 8;
  size_t sz[2] = {wide ? 8 : es, es};
  char *base[2] = {wide ? (char *)scratch : (char *)out, (char *)in};
  reduce_ctx c = {op, dt};
  tg_k_iter_apply(ndim, shape, 2, st, sz, base,
                  wide ? sum_f32_wide_inner : reduce_inner, &c);
  if (wide) tg_k_convert(1, flat, TG_F32, out, NULL, TG_F64, scratch, NULL);
}

/* --- the gradient of max, fused ------------------------------------------ */

typedef struct {
  tg_dtype dt;
  int pass; /* 0: count ties, 1: g where x is the max, 2: divide by ties */
} max_grad_ctx;

/* Each pass has a loop for the common layout, where every operand steps
 * one element (pooling windows), which the compiler vectorises without
 * branches, and a general strided one. */
#define MAX_GRAD_INNER(T)                                                      \
  do {                                                                         \
    const int64_t es = (int64_t)sizeof(T);                                     \
    bool unit = s[0] == es && s[1] == es && (c->pass == 2 || s[2] == es) &&    \
                (c->pass != 1 || s[3] == es);                                  \
    T *restrict o = (T *)p[0];                                                 \
    const T *restrict a = (const T *)p[1];                                     \
    /* (p[2] and p[3] exist only in the passes that use them) */               \
    if (c->pass == 0 && unit) { /* p: ties, x, m */                            \
      for (int64_t i = 0; i < n; i++)                                          \
        o[i] += (T)(a[i] == ((const T *)p[2])[i]);                             \
    } else if (c->pass == 0) {                                                 \
      for (int64_t i = 0; i < n; i++)                                          \
        *(T *)(p[0] + i * s[0]) += (T)(*(const T *)(p[1] + i * s[1]) ==        \
                                       *(const T *)(p[2] + i * s[2]));         \
    } else if (c->pass == 1 && unit) { /* p: out, x, m, g */                   \
      for (int64_t i = 0; i < n; i++)                                          \
        o[i] = ((const T *)p[3])[i] * (T)(a[i] == ((const T *)p[2])[i]);       \
    } else if (c->pass == 1) {                                                 \
      for (int64_t i = 0; i < n; i++)                                          \
        *(T *)(p[0] + i * s[0]) = *(const T *)(p[3] + i * s[3]) *              \
                                  (T)(*(const T *)(p[1] + i * s[1]) ==         \
                                      *(const T *)(p[2] + i * s[2]));          \
    } else if (unit) { /* p: out, ties */                                      \
      for (int64_t i = 0; i < n; i++)                                          \
        o[i] /= a[i];                                                          \
    } else {                                                                   \
      for (int64_t i = 0; i < n; i++)                                          \
        *(T *)(p[0] + i * s[0]) /= *(const T *)(p[1] + i * s[1]);              \
    }                                                                          \
  } while (0)

static void max_grad_inner(int64_t n, char **p, const int64_t *s, void *ctx) {
  const max_grad_ctx *c = ctx;
  if (c->dt == TG_F32)
    MAX_GRAD_INNER(float);
  else
    MAX_GRAD_INNER(double);
}

void tg_k_max_grad(tg_dtype dt, int ndim, const int64_t *shape, void *out,
                   const void *x, const int64_t *x_strides, const void *m,
                   const int64_t *m_strides, const void *g,
                   const int64_t *g_strides, void *ties, int64_t n_slots) {
  size_t es = dt == TG_F32 ? 4 : 8, sz[4] = {es, es, es, es};
  max_grad_ctx c = {dt, 0};
  int64_t flat[1] = {n_slots};
  tg_k_fill(dt, 1, flat, ties, NULL, 0.0);
  const int64_t *st0[3] = {m_strides, x_strides, m_strides};
  char *b0[3] = {ties, (char *)x, (char *)m};
  tg_k_iter_apply(ndim, shape, 3, st0, sz, b0, max_grad_inner, &c);
  c.pass = 1;
  const int64_t *st1[4] = {NULL, x_strides, m_strides, g_strides};
  char *b1[4] = {out, (char *)x, (char *)m, (char *)g};
  tg_k_iter_apply(ndim, shape, 4, st1, sz, b1, max_grad_inner, &c);
  /* Ties (or a NaN maximum, which no element equals) share the gradient;
   * usually every window has one maximum and the division is skipped. */
  bool all_one = true;
  for (int64_t i = 0; i < n_slots && all_one; i++)
    all_one = (dt == TG_F32 ? ((const float *)ties)[i]
                            : ((const double *)ties)[i]) == 1;
  if (all_one) return;
  c.pass = 2;
  const int64_t *st2[2] = {NULL, m_strides};
  char *b2[2] = {out, ties};
  tg_k_iter_apply(ndim, shape, 2, st2, sz, b2, max_grad_inner, &c);
}
