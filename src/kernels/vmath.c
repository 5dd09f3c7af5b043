/* Vector maths over contiguous arrays through SLEEF: the AVX2 path when the
 * processor has AVX2 and FMA (chosen once, at run time), SLEEF's scalar
 * functions for the tail and on other processors. Never -march=native: one
 * binary runs everywhere, and valgrind (which hides AVX-512) still works. */
#include <sleef.h>

#include "kernels.h"
#include "vmath_simd.h"

typedef int64_t (*vec_f32_fn)(int64_t, float *, const float *);
typedef int64_t (*vec_f64_fn)(int64_t, double *, const double *);

static float sigmoidf_scalar(float x) {
  return 1.0f / (1.0f + Sleef_expf_u10(-x));
}
static double sigmoid_scalar(double x) {
  return 1.0 / (1.0 + Sleef_exp_u10(-x));
}

/* SLEEF's prototypes return const-qualified types on some versions: call
 * them through plain wrappers rather than taking their addresses. */
static float expf_s(float x) { return Sleef_expf_u10(x); }
static float logf_s(float x) { return Sleef_logf_u10(x); }
static float tanhf_s(float x) { return Sleef_tanhf_u35(x); }
static float sinf_s(float x) { return Sleef_sinf_u10(x); }
static float cosf_s(float x) { return Sleef_cosf_u10(x); }
static double exp_s(double x) { return Sleef_exp_u10(x); }
static double log_s(double x) { return Sleef_log_u10(x); }
static double tanh_s(double x) { return Sleef_tanh_u35(x); }
static double sin_s(double x) { return Sleef_sin_u10(x); }
static double cos_s(double x) { return Sleef_cos_u10(x); }

static float (*const scalar_f32[TG_K_VFN_COUNT])(float) = {
    expf_s, logf_s, tanhf_s, sinf_s, cosf_s, sigmoidf_scalar};
static double (*const scalar_f64[TG_K_VFN_COUNT])(double) = {
    exp_s, log_s, tanh_s, sin_s, cos_s, sigmoid_scalar};

#if defined(__x86_64__)
static const vec_f32_fn avx2_f32[TG_K_VFN_COUNT] = {
    tg_k_exp_f32_avx2, tg_k_log_f32_avx2, tg_k_tanh_f32_avx2,
    tg_k_sin_f32_avx2, tg_k_cos_f32_avx2, tg_k_sigmoid_f32_avx2};
static const vec_f64_fn avx2_f64[TG_K_VFN_COUNT] = {
    tg_k_exp_f64_avx2, tg_k_log_f64_avx2, tg_k_tanh_f64_avx2,
    tg_k_sin_f64_avx2, tg_k_cos_f64_avx2, tg_k_sigmoid_f64_avx2};

static int have_avx2(void) {
  static int cached = -1; /* a benign race: every thread computes the same */
  if (cached < 0) {
    __builtin_cpu_init();
    cached = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  }
  return cached;
}
#else
static int have_avx2(void) { return 0; }
#endif

const char *tg_k_vmath_isa(void) { return have_avx2() ? "avx2" : "scalar"; }

void tg_k_vmath_f32(tg_k_vfn fn, int64_t n, float *out, const float *in) {
  int64_t i = 0;
#if defined(__x86_64__)
  if (have_avx2()) i = avx2_f32[fn](n, out, in);
#endif
  float (*f)(float) = scalar_f32[fn];
  for (; i < n; i++)
    out[i] = f(in[i]);
}

void tg_k_vmath_f64(tg_k_vfn fn, int64_t n, double *out, const double *in) {
  int64_t i = 0;
#if defined(__x86_64__)
  if (have_avx2()) i = avx2_f64[fn](n, out, in);
#endif
  double (*f)(double) = scalar_f64[fn];
  for (; i < n; i++)
    out[i] = f(in[i]);
}

void tg_k_vpow_f32(int64_t n, float *out, const float *a, const float *b,
                   bool b_scalar) {
  int64_t i = 0;
#if defined(__x86_64__)
  if (have_avx2()) i = tg_k_pow_f32_avx2(n, out, a, b, b_scalar);
#endif
  for (; i < n; i++)
    out[i] = Sleef_powf_u10(a[i], b_scalar ? b[0] : b[i]);
}

void tg_k_vpow_f64(int64_t n, double *out, const double *a, const double *b,
                   bool b_scalar) {
  int64_t i = 0;
#if defined(__x86_64__)
  if (have_avx2()) i = tg_k_pow_f64_avx2(n, out, a, b, b_scalar);
#endif
  for (; i < n; i++)
    out[i] = Sleef_pow_u10(a[i], b_scalar ? b[0] : b[i]);
}
