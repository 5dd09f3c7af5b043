/* Vector maths over contiguous arrays through SLEEF, on one of three paths
 * chosen once, at run time: AVX-512 (16 floats or 8 doubles per call) when
 * the processor has AVX512F, else AVX2 (8 or 4) when it has AVX2 and FMA,
 * else SLEEF's scalar functions. The vector paths do the multiple-of-width
 * prefix and the scalar functions the tail. Never -march=native: one binary
 * runs everywhere, and under valgrind (which hides AVX-512 from cpuid) the
 * AVX2 path is taken instead.
 *
 * TAPEGRAD_VMATH=avx2 or TAPEGRAD_VMATH=scalar caps the path: the first
 * vector maths call reads it, with the processor's features, and the choice
 * then holds for the life of the process. The tests use it to check every
 * path on a machine that has them all; it also serves to compare their
 * speed. Any other value, or none, leaves the choice to the processor. */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

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

typedef int64_t (*pow_f32_fn)(int64_t, float *, const float *, const float *,
                              bool);
typedef int64_t (*pow_f64_fn)(int64_t, double *, const double *, const double *,
                              bool);

/* One path's vector functions; the scalar path has none (all NULL). */
typedef struct {
  const char *name;
  vec_f32_fn f32[TG_K_VFN_COUNT];
  vec_f64_fn f64[TG_K_VFN_COUNT];
  pow_f32_fn pow_f32;
  pow_f64_fn pow_f64;
} vmath_path;

/* Indices into paths[], in order of preference from the bottom up, so a cap
 * is a maximum index. */
enum { PATH_SCALAR, PATH_AVX2, PATH_AVX512, PATH_COUNT };

#if defined(__x86_64__)
#define PATH_OF(ISA)                                                           \
  {                                                                            \
    .name = #ISA,                                                              \
    .f32 = {tg_k_exp_f32_##ISA, tg_k_log_f32_##ISA, tg_k_tanh_f32_##ISA,       \
            tg_k_sin_f32_##ISA, tg_k_cos_f32_##ISA, tg_k_sigmoid_f32_##ISA},   \
    .f64 = {tg_k_exp_f64_##ISA, tg_k_log_f64_##ISA, tg_k_tanh_f64_##ISA,       \
            tg_k_sin_f64_##ISA, tg_k_cos_f64_##ISA, tg_k_sigmoid_f64_##ISA},   \
    .pow_f32 = tg_k_pow_f32_##ISA, .pow_f64 = tg_k_pow_f64_##ISA               \
  }
static const vmath_path paths[PATH_COUNT] = {
    {.name = "scalar"}, PATH_OF(avx2), PATH_OF(avx512)};
#else
static const vmath_path paths[PATH_COUNT] = {
    {.name = "scalar"}, {.name = "avx2"}, {.name = "avx512"}};
#endif

/* The highest path TAPEGRAD_VMATH allows. */
static int env_cap(void) {
  const char *v = getenv("TAPEGRAD_VMATH");
  if (v && strcmp(v, "scalar") == 0) return PATH_SCALAR;
  if (v && strcmp(v, "avx2") == 0) return PATH_AVX2;
  return PATH_AVX512;
}

/* __builtin_cpu_supports reads cpuid and also checks that the operating
 * system saves the wider registers (XGETBV), so a feature it reports is one
 * the code may use. SLEEF's avx512f functions need AVX512F alone. */
static int choose_path(void) {
  int cap = env_cap();
#if defined(__x86_64__)
  __builtin_cpu_init();
  if (cap >= PATH_AVX512 && __builtin_cpu_supports("avx512f"))
    return PATH_AVX512;
  if (cap >= PATH_AVX2 && __builtin_cpu_supports("avx2") &&
      __builtin_cpu_supports("fma"))
    return PATH_AVX2;
#endif
  (void)cap;
  return PATH_SCALAR;
}

static const vmath_path *path(void) {
  /* Threads racing on the first call all compute the same choice; the
   * atomic only makes the race well defined. */
  static _Atomic int chosen = -1;
  int p = atomic_load_explicit(&chosen, memory_order_relaxed);
  if (p < 0) {
    p = choose_path();
    atomic_store_explicit(&chosen, p, memory_order_relaxed);
  }
  return &paths[p];
}

const char *tg_k_vmath_isa(void) { return path()->name; }

void tg_k_vmath_f32(tg_k_vfn fn, int64_t n, float *out, const float *in) {
  vec_f32_fn v = path()->f32[fn];
  int64_t i = v ? v(n, out, in) : 0;
  float (*f)(float) = scalar_f32[fn];
  for (; i < n; i++)
    out[i] = f(in[i]);
}

void tg_k_vmath_f64(tg_k_vfn fn, int64_t n, double *out, const double *in) {
  vec_f64_fn v = path()->f64[fn];
  int64_t i = v ? v(n, out, in) : 0;
  double (*f)(double) = scalar_f64[fn];
  for (; i < n; i++)
    out[i] = f(in[i]);
}

void tg_k_vpow_f32(int64_t n, float *out, const float *a, const float *b,
                   bool b_scalar) {
  pow_f32_fn v = path()->pow_f32;
  int64_t i = v ? v(n, out, a, b, b_scalar) : 0;
  for (; i < n; i++)
    out[i] = Sleef_powf_u10(a[i], b_scalar ? b[0] : b[i]);
}

void tg_k_vpow_f64(int64_t n, double *out, const double *a, const double *b,
                   bool b_scalar) {
  pow_f64_fn v = path()->pow_f64;
  int64_t i = v ? v(n, out, a, b, b_scalar) : 0;
  for (; i < n; i++)
    out[i] = Sleef_pow_u10(a[i], b_scalar ? b[0] : b[i]);
}
