/* SLEEF's AVX-512 vector functions: 16 floats or 8 doubles at a time. This
 * file alone is compiled with -mavx512f; vmath.c calls it only after
 * checking the processor (and that the operating system saves the 512-bit
 * registers) at run time. The SLEEF functions used here, and the code
 * below, need AVX512F only: no DQ, BW or VL instructions. Each function
 * handles the multiple-of-width prefix and returns how many elements it did,
 * as in vmath_avx2.c. */
#include <immintrin.h>
#include <sleef.h>

#include "vmath_simd.h"

#define VEC_F32(NAME, FN)                                                      \
  int64_t NAME(int64_t n, float *o, const float *x) {                          \
    int64_t i = 0;                                                             \
    for (; i + 16 <= n; i += 16)                                               \
      _mm512_storeu_ps(o + i, FN(_mm512_loadu_ps(x + i)));                     \
    return i;                                                                  \
  }
#define VEC_F64(NAME, FN)                                                      \
  int64_t NAME(int64_t n, double *o, const double *x) {                        \
    int64_t i = 0;                                                             \
    for (; i + 8 <= n; i += 8)                                                 \
      _mm512_storeu_pd(o + i, FN(_mm512_loadu_pd(x + i)));                     \
    return i;                                                                  \
  }

/* sigmoid(x) = 1 / (1 + e^-x): keeps relative accuracy in both tails. */
static __m512 sigmoid_f16(__m512 x) {
  __m512 one = _mm512_set1_ps(1.0f);
  __m512 e = Sleef_expf16_u10avx512f(_mm512_sub_ps(_mm512_setzero_ps(), x));
  return _mm512_div_ps(one, _mm512_add_ps(one, e));
}
static __m512d sigmoid_d8(__m512d x) {
  __m512d one = _mm512_set1_pd(1.0);
  __m512d e = Sleef_expd8_u10avx512f(_mm512_sub_pd(_mm512_setzero_pd(), x));
  return _mm512_div_pd(one, _mm512_add_pd(one, e));
}

VEC_F32(tg_k_exp_f32_avx512, Sleef_expf16_u10avx512f)
VEC_F32(tg_k_log_f32_avx512, Sleef_logf16_u10avx512f)
VEC_F32(tg_k_tanh_f32_avx512, Sleef_tanhf16_u35avx512f)
VEC_F32(tg_k_sin_f32_avx512, Sleef_sinf16_u10avx512f)
VEC_F32(tg_k_cos_f32_avx512, Sleef_cosf16_u10avx512f)
VEC_F32(tg_k_sigmoid_f32_avx512, sigmoid_f16)
VEC_F64(tg_k_exp_f64_avx512, Sleef_expd8_u10avx512f)
VEC_F64(tg_k_log_f64_avx512, Sleef_logd8_u10avx512f)
VEC_F64(tg_k_tanh_f64_avx512, Sleef_tanhd8_u35avx512f)
VEC_F64(tg_k_sin_f64_avx512, Sleef_sind8_u10avx512f)
VEC_F64(tg_k_cos_f64_avx512, Sleef_cosd8_u10avx512f)
VEC_F64(tg_k_sigmoid_f64_avx512, sigmoid_d8)

int64_t tg_k_pow_f32_avx512(int64_t n, float *o, const float *a, const float *b,
                            bool b_scalar) {
  int64_t i = 0;
  __m512 e = _mm512_set1_ps(b[0]);
  for (; i + 16 <= n; i += 16) {
    __m512 y = b_scalar ? e : _mm512_loadu_ps(b + i);
    _mm512_storeu_ps(o + i, Sleef_powf16_u10avx512f(_mm512_loadu_ps(a + i), y));
  }
  return i;
}

int64_t tg_k_pow_f64_avx512(int64_t n, double *o, const double *a,
                            const double *b, bool b_scalar) {
  int64_t i = 0;
  __m512d e = _mm512_set1_pd(b[0]);
  for (; i + 8 <= n; i += 8) {
    __m512d y = b_scalar ? e : _mm512_loadu_pd(b + i);
    _mm512_storeu_pd(o + i, Sleef_powd8_u10avx512f(_mm512_loadu_pd(a + i), y));
  }
  return i;
}
