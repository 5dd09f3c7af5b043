/* The functions of one vector-maths path, written once for every path:
 * vmath_avx2.c and vmath_avx512.c each define what follows and include this
 * file, and each is compiled with its own ISA flags.
 *
 *   ISA                 suffix of the functions made here (avx2, avx512)
 *   VF, WF / VD, WD     float and double vector types and their widths
 *   LOADF, STOREF, SET1F, ZEROF, ADDF, SUBF, DIVF (and the D forms)
 *                       unaligned load and store, broadcast, zero, + - /
 *   EXPF LOGF TANHF SINF COSF POWF (and the D forms)  SLEEF's functions
 *
 * Each function does the multiple-of-width prefix of its array and returns
 * how many elements it did; vmath.c does the tail with SLEEF's scalar
 * functions. */
#include "vmath_simd.h"

#define TG_VCAT_(a, b) a##b
#define TG_VCAT(a, b) TG_VCAT_(a, b)
#define TG_VNAME(fn) TG_VCAT(tg_k_##fn##_, ISA)

#define TG_VMAP(T, W, LOAD, STORE, NAME, FN)                                   \
  int64_t NAME(int64_t n, T *o, const T *x) {                                  \
    int64_t i = 0;                                                             \
    for (; i + W <= n; i += W)                                                 \
      STORE(o + i, FN(LOAD(x + i)));                                           \
    return i;                                                                  \
  }

/* sigmoid(x) = 1 / (1 + e^-x): keeps relative accuracy in both tails. */
static VF sigmoid_vf(VF x) {
  VF one = SET1F(1.0f);
  return DIVF(one, ADDF(one, EXPF(SUBF(ZEROF(), x))));
}
static VD sigmoid_vd(VD x) {
  VD one = SET1D(1.0);
  return DIVD(one, ADDD(one, EXPD(SUBD(ZEROD(), x))));
}

TG_VMAP(float, WF, LOADF, STOREF, TG_VNAME(exp_f32), EXPF)
TG_VMAP(float, WF, LOADF, STOREF, TG_VNAME(log_f32), LOGF)
TG_VMAP(float, WF, LOADF, STOREF, TG_VNAME(tanh_f32), TANHF)
TG_VMAP(float, WF, LOADF, STOREF, TG_VNAME(sin_f32), SINF)
TG_VMAP(float, WF, LOADF, STOREF, TG_VNAME(cos_f32), COSF)
TG_VMAP(float, WF, LOADF, STOREF, TG_VNAME(sigmoid_f32), sigmoid_vf)
TG_VMAP(double, WD, LOADD, STORED, TG_VNAME(exp_f64), EXPD)
TG_VMAP(double, WD, LOADD, STORED, TG_VNAME(log_f64), LOGD)
TG_VMAP(double, WD, LOADD, STORED, TG_VNAME(tanh_f64), TANHD)
TG_VMAP(double, WD, LOADD, STORED, TG_VNAME(sin_f64), SIND)
TG_VMAP(double, WD, LOADD, STORED, TG_VNAME(cos_f64), COSD)
TG_VMAP(double, WD, LOADD, STORED, TG_VNAME(sigmoid_f64), sigmoid_vd)

/* a^b elementwise, or a^b[0] when b_scalar. */
int64_t TG_VNAME(pow_f32)(int64_t n, float *o, const float *a, const float *b,
                          bool b_scalar) {
  int64_t i = 0;
  VF e = SET1F(b[0]);
  for (; i + WF <= n; i += WF)
    STOREF(o + i, POWF(LOADF(a + i), b_scalar ? e : LOADF(b + i)));
  return i;
}

int64_t TG_VNAME(pow_f64)(int64_t n, double *o, const double *a,
                          const double *b, bool b_scalar) {
  int64_t i = 0;
  VD e = SET1D(b[0]);
  for (; i + WD <= n; i += WD)
    STORED(o + i, POWD(LOADD(a + i), b_scalar ? e : LOADD(b + i)));
  return i;
}
