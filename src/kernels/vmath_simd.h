/* Prototypes of the vector-maths paths compiled with their own ISA flags. */
#ifndef TG_VMATH_SIMD_H
#define TG_VMATH_SIMD_H

#include <stdbool.h>
#include <stdint.h>

#define TG_DECLARE_VMATH(ISA)                                                  \
  int64_t tg_k_exp_f32_##ISA(int64_t n, float *o, const float *x);             \
  int64_t tg_k_log_f32_##ISA(int64_t n, float *o, const float *x);             \
  int64_t tg_k_tanh_f32_##ISA(int64_t n, float *o, const float *x);            \
  int64_t tg_k_sin_f32_##ISA(int64_t n, float *o, const float *x);             \
  int64_t tg_k_cos_f32_##ISA(int64_t n, float *o, const float *x);             \
  int64_t tg_k_sigmoid_f32_##ISA(int64_t n, float *o, const float *x);         \
  int64_t tg_k_exp_f64_##ISA(int64_t n, double *o, const double *x);           \
  int64_t tg_k_log_f64_##ISA(int64_t n, double *o, const double *x);           \
  int64_t tg_k_tanh_f64_##ISA(int64_t n, double *o, const double *x);          \
  int64_t tg_k_sin_f64_##ISA(int64_t n, double *o, const double *x);           \
  int64_t tg_k_cos_f64_##ISA(int64_t n, double *o, const double *x);           \
  int64_t tg_k_sigmoid_f64_##ISA(int64_t n, double *o, const double *x);       \
  int64_t tg_k_pow_f32_##ISA(int64_t n, float *o, const float *a,              \
                             const float *b, bool b_scalar);                   \
  int64_t tg_k_pow_f64_##ISA(int64_t n, double *o, const double *a,            \
                             const double *b, bool b_scalar);

#if defined(__x86_64__)
TG_DECLARE_VMATH(avx2)
TG_DECLARE_VMATH(avx512)
#endif

#endif
