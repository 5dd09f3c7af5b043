/* SLEEF's AVX2 vector functions: 8 floats or 4 doubles at a time. This file
 * alone is compiled with -mavx2 -mfma; vmath.c calls it only after checking
 * the processor at run time. Each function handles the multiple-of-width
 * prefix and returns how many elements it did. */
#include <immintrin.h>
#include <sleef.h>

#include "vmath_simd.h"

#define VEC_F32(NAME, FN)                                                      \
  int64_t NAME(int64_t n, float *o, const float *x) {                          \
    int64_t i = 0;                                                             \
    for (; i + 8 <= n; i += 8)                                                 \
      _mm256_storeu_ps(o + i, FN(_mm256_loadu_ps(x + i)));                     \
    return i;                                                                  \
  }
#define VEC_F64(NAME, FN)                                                      \
  int64_t NAME(int64_t n, double *o, const double *x) {                        \
    int64_t i = 0;                                                             \
    for (; i + 4 <= n; i += 4)                                                 \
      _mm256_storeu_pd(o + i, FN(_mm256_loadu_pd(x + i)));                     \
    return i;                                                                  \
  }

/* sigmoid(x) = 1 / (1 + e^-x): keeps relative accuracy in both tails. */
static __m256 sigmoid_f8(__m256 x) {
  __m256 one = _mm256_set1_ps(1.0f);
  __m256 e = Sleef_expf8_u10avx2(_mm256_sub_ps(_mm256_setzero_ps(), x));
  return _mm256_div_ps(one, _mm256_add_ps(one, e));
}
static __m256d sigmoid_d4(__m256d x) {
  __m256d one = _mm256_set1_pd(1.0);
  __m256d e = Sleef_expd4_u10avx2(_mm256_sub_pd(_mm256_setzero_pd(), x));
  return _mm256_div_pd(one, _mm256_add_pd(one, e));
}

VEC_F32(tg_k_exp_f32_avx2, Sleef_expf8_u10avx2)
VEC_F32(tg_k_log_f32_avx2, Sleef_logf8_u10avx2)
VEC_F32(tg_k_tanh_f32_avx2, Sleef_tanhf8_u35avx2)
VEC_F32(tg_k_sin_f32_avx2, Sleef_sinf8_u10avx2)
VEC_F32(tg_k_cos_f32_avx2, Sleef_cosf8_u10avx2)
VEC_F32(tg_k_sigmoid_f32_avx2, sigmoid_f8)
VEC_F64(tg_k_exp_f64_avx2, Sleef_expd4_u10avx2)
VEC_F64(tg_k_log_f64_avx2, Sleef_logd4_u10avx2)
VEC_F64(tg_k_tanh_f64_avx2, Sleef_tanhd4_u35avx2)
VEC_F64(tg_k_sin_f64_avx2, Sleef_sind4_u10avx2)
VEC_F64(tg_k_cos_f64_avx2, Sleef_cosd4_u10avx2)
VEC_F64(tg_k_sigmoid_f64_avx2, sigmoid_d4)

int64_t tg_k_pow_f32_avx2(int64_t n, float *o, const float *a, const float *b,
                          bool b_scalar) {
  int64_t i = 0;
  __m256 e = _mm256_set1_ps(b[0]);
  for (; i + 8 <= n; i += 8) {
    __m256 y = b_scalar ? e : _mm256_loadu_ps(b + i);
    _mm256_storeu_ps(o + i, Sleef_powf8_u10avx2(_mm256_loadu_ps(a + i), y));
  }
  return i;
}

int64_t tg_k_pow_f64_avx2(int64_t n, double *o, const double *a,
                          const double *b, bool b_scalar) {
  int64_t i = 0;
  __m256d e = _mm256_set1_pd(b[0]);
  for (; i + 4 <= n; i += 4) {
    __m256d y = b_scalar ? e : _mm256_loadu_pd(b + i);
    _mm256_storeu_pd(o + i, Sleef_powd4_u10avx2(_mm256_loadu_pd(a + i), y));
  }
  return i;
}
