/* Elementwise kernels: copy, convert, fill, unary, binary, where. */
#include <math.h>
#include <sleef.h>
#include <string.h>

#include "kernels.h"

static size_t esize(tg_dtype dt) { return dt == TG_F32 ? 4 : 8; }

/* --- copy, convert, fill ------------------------------------------------- */

static void copy_inner(int64_t n, char **p, const int64_t *s, void *ctx) {
  size_t es = *(const size_t *)ctx;
  if (s[0] == (int64_t)es && s[1] == (int64_t)es) {
    memcpy(p[0], p[1], (size_t)n * es);
  } else if (es == 4) {
    for (int64_t i = 0; i < n; i++)
      *(float *)(p[0] + i * s[0]) = *(const float *)(p[1] + i * s[1]);
  } else {
    for (int64_t i = 0; i < n; i++)
      *(double *)(p[0] + i * s[0]) = *(const double *)(p[1] + i * s[1]);
  }
}

void tg_k_copy(tg_dtype dt, int ndim, const int64_t *shape, void *dst,
               const int64_t *dst_strides, const void *src,
               const int64_t *src_strides) {
  size_t es = esize(dt);
  const int64_t *st[2] = {dst_strides, src_strides};
  size_t sz[2] = {es, es};
  char *base[2] = {dst, (char *)src};
  tg_k_iter_map(ndim, shape, 2, st, sz, base, copy_inner, &es);
}

typedef struct {
  tg_dtype dst, src;
} convert_ctx;

static void convert_inner(int64_t n, char **p, const int64_t *s, void *ctx) {
  const convert_ctx *c = ctx;
  for (int64_t i = 0; i < n; i++) {
    double v = c->src == TG_F32 ? (double)*(const float *)(p[1] + i * s[1])
                                : *(const double *)(p[1] + i * s[1]);
    if (c->dst == TG_F32)
      *(float *)(p[0] + i * s[0]) = (float)v;
    else
      *(double *)(p[0] + i * s[0]) = v;
  }
}

void tg_k_convert(int ndim, const int64_t *shape, tg_dtype dst_dt, void *dst,
                  const int64_t *dst_strides, tg_dtype src_dt, const void *src,
                  const int64_t *src_strides) {
  const int64_t *st[2] = {dst_strides, src_strides};
  size_t sz[2] = {esize(dst_dt), esize(src_dt)};
  char *base[2] = {dst, (char *)src};
  convert_ctx c = {dst_dt, src_dt};
  tg_k_iter_map(ndim, shape, 2, st, sz, base, convert_inner, &c);
}

typedef struct {
  tg_dtype dt;
  double value;
} fill_ctx;

static void fill_inner(int64_t n, char **p, const int64_t *s, void *ctx) {
  const fill_ctx *c = ctx;
  if (c->value == 0.0 && !signbit(c->value) && s[0] == (int64_t)esize(c->dt)) {
    memset(p[0], 0, (size_t)n * esize(c->dt)); /* all-zero bits is +0.0 */
    return;
  }
  if (c->dt == TG_F32) {
    float v = (float)c->value;
    if (s[0] == (int64_t)sizeof(float)) {
      float *o = (float *)p[0];
      for (int64_t i = 0; i < n; i++)
        o[i] = v;
      return;
    }
    for (int64_t i = 0; i < n; i++)
      *(float *)(p[0] + i * s[0]) = v;
  } else {
    for (int64_t i = 0; i < n; i++)
      *(double *)(p[0] + i * s[0]) = c->value;
  }
}

void tg_k_fill(tg_dtype dt, int ndim, const int64_t *shape, void *dst,
               const int64_t *strides, double value) {
  const int64_t *st[1] = {strides};
  size_t sz[1] = {esize(dt)};
  char *base[1] = {dst};
  fill_ctx c = {dt, value};
  tg_k_iter_map(ndim, shape, 1, st, sz, base, fill_inner, &c);
}

/* --- unary (contiguous) -------------------------------------------------- */

/* The simple ones, for one element type T; the compiler vectorises them. */
#define UNARY_SIMPLE(T, SQRT, FABS)                                            \
  switch (op) {                                                                \
  case TG_K_NEG:                                                               \
    for (int64_t i = 0; i < n; i++)                                            \
      o[i] = -x[i];                                                            \
    return true;                                                               \
  case TG_K_SQRT:                                                              \
    for (int64_t i = 0; i < n; i++)                                            \
      o[i] = SQRT(x[i]);                                                       \
    return true;                                                               \
  case TG_K_RELU:                                                              \
    for (int64_t i = 0; i < n; i++)                                            \
      o[i] = x[i] > 0 ? x[i] : (T)0;                                           \
    return true;                                                               \
  case TG_K_ABS:                                                               \
    for (int64_t i = 0; i < n; i++)                                            \
      o[i] = FABS(x[i]);                                                       \
    return true;                                                               \
  case TG_K_AFFINE: {                                                          \
    T a = (T)p, b = (T)q;                                                      \
    for (int64_t i = 0; i < n; i++)                                            \
      o[i] = a * x[i] + b;                                                     \
    return true;                                                               \
  }                                                                            \
  case TG_K_POWS:                                                              \
    if (p == 2.0) {                                                            \
      for (int64_t i = 0; i < n; i++)                                          \
        o[i] = x[i] * x[i];                                                    \
      return true;                                                             \
    }                                                                          \
    if (p == 1.0) {                                                            \
      for (int64_t i = 0; i < n; i++)                                          \
        o[i] = x[i];                                                           \
      return true;                                                             \
    }                                                                          \
    return false;                                                              \
  default: return false;                                                       \
  }

static bool unary_simple_f32(tg_k_unary_op op, int64_t n, float *o,
                             const float *x, double p, double q) {
  UNARY_SIMPLE(float, sqrtf, fabsf)
}

static bool unary_simple_f64(tg_k_unary_op op, int64_t n, double *o,
                             const double *x, double p, double q) {
  UNARY_SIMPLE(double, sqrt, fabs)
}

static tg_k_vfn vfn_of(tg_k_unary_op op) {
  switch (op) {
  case TG_K_EXP: return TG_K_VEXP;
  case TG_K_LOG: return TG_K_VLOG;
  case TG_K_TANH: return TG_K_VTANH;
  case TG_K_SIN: return TG_K_VSIN;
  case TG_K_COS: return TG_K_VCOS;
  default: return TG_K_VSIGMOID;
  }
}

static void unary_serial(tg_k_unary_op op, tg_dtype dt, int64_t n, void *out,
                         const void *in, double p, double q) {
  if (dt == TG_F32) {
    if (unary_simple_f32(op, n, out, in, p, q)) return;
    if (op == TG_K_POWS) {
      float e = (float)p;
      tg_k_vpow_f32(n, out, in, &e, true);
    } else {
      tg_k_vmath_f32(vfn_of(op), n, out, in);
    }
  } else {
    if (unary_simple_f64(op, n, out, in, p, q)) return;
    if (op == TG_K_POWS)
      tg_k_vpow_f64(n, out, in, &p, true);
    else
      tg_k_vmath_f64(vfn_of(op), n, out, in);
  }
}

/* Elements per chunk below which a contiguous kernel stays on one thread
 * (as MAP_GRAIN in iter.c). */
#define CONTIGUOUS_GRAIN (1 << 12)

typedef struct contiguous_job {
  int op;
  tg_dtype dt;
  char *out;
  const char *a, *b;
  double p, q;
} contiguous_job;

static void unary_range(void *ctx, int64_t lo, int64_t hi) {
  const contiguous_job *j = ctx;
  size_t es = esize(j->dt);
  unary_serial((tg_k_unary_op)j->op, j->dt, hi - lo, j->out + lo * es,
               j->a + lo * es, j->p, j->q);
}

void tg_k_unary(tg_k_unary_op op, tg_dtype dt, int64_t n, void *out,
                const void *in, double p, double q) {
  if (n < 2 * CONTIGUOUS_GRAIN) { /* most calls: no job to describe */
    unary_serial(op, dt, n, out, in, p, q);
    return;
  }
  contiguous_job j = {(int)op, dt, out, in, NULL, p, q};
  tg_k_parallel_for(n, CONTIGUOUS_GRAIN, unary_range, &j);
}

/* --- fused unary backward rules (contiguous) ----------------------------- */

#define UNARY_GRAD(T)                                                          \
  do {                                                                         \
    T *restrict o = out;                                                       \
    const T *restrict gv = g, *restrict vv = v;                                \
    switch (op) {                                                              \
    case TG_K_DTANH:                                                           \
      for (int64_t i = 0; i < n; i++)                                          \
        o[i] = gv[i] * ((T)1 - vv[i] * vv[i]);                                 \
      break;                                                                   \
    case TG_K_DSIGMOID:                                                        \
      for (int64_t i = 0; i < n; i++)                                          \
        o[i] = gv[i] * (vv[i] * ((T)1 - vv[i]));                               \
      break;                                                                   \
    case TG_K_DRELU:                                                           \
      for (int64_t i = 0; i < n; i++)                                          \
        o[i] = gv[i] * (T)(vv[i] > 0); /* branch-free; as the op rule */       \
      break;                                                                   \
    }                                                                          \
  } while (0)

static void unary_grad_range(void *ctx, int64_t lo, int64_t hi) {
  const contiguous_job *j = ctx;
  size_t es = esize(j->dt);
  tg_k_grad_op op = (tg_k_grad_op)j->op;
  int64_t n = hi - lo;
  void *out = j->out + lo * es;
  const void *g = j->a + lo * es, *v = j->b + lo * es;
  if (j->dt == TG_F32)
    UNARY_GRAD(float);
  else
    UNARY_GRAD(double);
}

void tg_k_unary_grad(tg_k_grad_op op, tg_dtype dt, int64_t n, void *out,
                     const void *g, const void *v) {
  contiguous_job j = {(int)op, dt, out, g, v, 0, 0};
  if (n < 2 * CONTIGUOUS_GRAIN)
    unary_grad_range(&j, 0, n);
  else
    tg_k_parallel_for(n, CONTIGUOUS_GRAIN, unary_grad_range, &j);
}

/* --- binary (strided, broadcasting) -------------------------------------- */

/* One loop per operator; pointers step by byte strides sa, sb, so. The
 * contiguous case is split out so the compiler can vectorise it. */
#define BINARY_LOOP(T, EXPR)                                                   \
  do {                                                                         \
    if (so == (int64_t)sizeof(T) && sa == so && sb == so) {                    \
      T *o = (T *)po;                                                          \
      const T *a = (const T *)pa, *b = (const T *)pb;                          \
      for (int64_t i = 0; i < n; i++) {                                        \
        T x = a[i], y = b[i];                                                  \
        o[i] = (EXPR);                                                         \
      }                                                                        \
    } else if (so == (int64_t)sizeof(T) && sa == so && sb == 0) {              \
      T *o = (T *)po;                                                          \
      const T *a = (const T *)pa;                                              \
      T y = *(const T *)pb;                                                    \
      for (int64_t i = 0; i < n; i++) {                                        \
        T x = a[i];                                                            \
        o[i] = (EXPR);                                                         \
      }                                                                        \
    } else {                                                                   \
      for (int64_t i = 0; i < n; i++) {                                        \
        T x = *(const T *)(pa + i * sa), y = *(const T *)(pb + i * sb);        \
        *(T *)(po + i * so) = (EXPR);                                          \
      }                                                                        \
    }                                                                          \
  } while (0)

#define BINARY_SWITCH(T, POWFN)                                                \
  switch (op) {                                                                \
  case TG_K_ADD: BINARY_LOOP(T, x + y); break;                                 \
  case TG_K_SUB: BINARY_LOOP(T, x - y); break;                                 \
  case TG_K_MUL: BINARY_LOOP(T, x *y); break;                                  \
  case TG_K_DIV: BINARY_LOOP(T, x / y); break;                                 \
  case TG_K_POW: BINARY_LOOP(T, POWFN(x, y)); break;                           \
  /* NaN wins in maximum and minimum, as in NumPy. */                          \
  case TG_K_MAX: BINARY_LOOP(T, (x > y || x != x) ? x : y); break;             \
  case TG_K_MIN: BINARY_LOOP(T, (x < y || x != x) ? x : y); break;             \
  case TG_K_EQ: BINARY_LOOP(T, (T)(x == y)); break;                            \
  case TG_K_NE: BINARY_LOOP(T, (T)(x != y)); break;                            \
  case TG_K_LT: BINARY_LOOP(T, (T)(x < y)); break;                             \
  case TG_K_LE: BINARY_LOOP(T, (T)(x <= y)); break;                            \
  case TG_K_GT: BINARY_LOOP(T, (T)(x > y)); break;                             \
  case TG_K_GE: BINARY_LOOP(T, (T)(x >= y)); break;                            \
  }

typedef struct {
  tg_k_binary_op op;
  tg_dtype dt;
} binary_ctx;

static void binary_inner(int64_t n, char **p, const int64_t *s, void *ctx) {
  const binary_ctx *c = ctx;
  tg_k_binary_op op = c->op;
  char *po = p[0];
  const char *pa = p[1], *pb = p[2];
  int64_t so = s[0], sa = s[1], sb = s[2];
  if (op == TG_K_POW && so == sa && (sb == so || sb == 0) &&
      so == (int64_t)(c->dt == TG_F32 ? 4 : 8)) {
    /* The vector pow of SLEEF for the common layouts. */
    if (c->dt == TG_F32)
      tg_k_vpow_f32(n, (float *)po, (const float *)pa, (const float *)pb,
                    sb == 0);
    else
      tg_k_vpow_f64(n, (double *)po, (const double *)pa, (const double *)pb,
                    sb == 0);
    return;
  }
  if (c->dt == TG_F32) {
    BINARY_SWITCH(float, Sleef_powf_u10)
  } else {
    BINARY_SWITCH(double, Sleef_pow_u10)
  }
}

void tg_k_binary(tg_k_binary_op op, tg_dtype dt, int ndim, const int64_t *shape,
                 void *out, const int64_t *out_strides, const void *a,
                 const int64_t *a_strides, const void *b,
                 const int64_t *b_strides) {
  const int64_t *st[3] = {out_strides, a_strides, b_strides};
  size_t es = esize(dt);
  size_t sz[3] = {es, es, es};
  char *base[3] = {out, (char *)a, (char *)b};
  binary_ctx c = {op, dt};
  tg_k_iter_map(ndim, shape, 3, st, sz, base, binary_inner, &c);
}

/* --- where --------------------------------------------------------------- */

static void where_inner(int64_t n, char **p, const int64_t *s, void *ctx) {
  tg_dtype dt = *(const tg_dtype *)ctx;
  if (dt == TG_F32) {
    for (int64_t i = 0; i < n; i++) {
      float m = *(const float *)(p[1] + i * s[1]);
      *(float *)(p[0] + i * s[0]) = m != 0 ? *(const float *)(p[2] + i * s[2])
                                           : *(const float *)(p[3] + i * s[3]);
    }
  } else {
    for (int64_t i = 0; i < n; i++) {
      double m = *(const double *)(p[1] + i * s[1]);
      *(double *)(p[0] + i * s[0]) = m != 0
                                         ? *(const double *)(p[2] + i * s[2])
                                         : *(const double *)(p[3] + i * s[3]);
    }
  }
}

void tg_k_where(tg_dtype dt, int ndim, const int64_t *shape, void *out,
                const void *mask, const int64_t *mask_strides, const void *a,
                const int64_t *a_strides, const void *b,
                const int64_t *b_strides) {
  const int64_t *st[4] = {NULL, mask_strides, a_strides, b_strides};
  size_t es = esize(dt);
  size_t sz[4] = {es, es, es, es};
  char *base[4] = {out, (char *)mask, (char *)a, (char *)b};
  tg_k_iter_map(ndim, shape, 4, st, sz, base, where_inner, &dt);
}

/* --- finiteness ---------------------------------------------------------- */

typedef struct {
  tg_dtype dt;
  int found; /* 0 none, 1 NaN, 2 Inf */
} finite_ctx;

static void finite_inner(int64_t n, char **p, const int64_t *s, void *ctx) {
  finite_ctx *c = ctx;
  if (c->found) return;
  for (int64_t i = 0; i < n; i++) {
    double v = c->dt == TG_F32 ? (double)*(const float *)(p[0] + i * s[0])
                               : *(const double *)(p[0] + i * s[0]);
    if (v - v != 0) { /* NaN or Inf; one test in the common case */
      c->found = v != v ? 1 : 2;
      return;
    }
  }
}

int tg_k_find_nonfinite(tg_dtype dt, int ndim, const int64_t *shape,
                        const void *data, const int64_t *strides) {
  const int64_t *st[1] = {strides};
  size_t sz[1] = {esize(dt)};
  char *base[1] = {(char *)data};
  finite_ctx c = {dt, 0};
  tg_k_iter_apply(ndim, shape, 1, st, sz, base, finite_inner, &c);
  return c.found;
}
